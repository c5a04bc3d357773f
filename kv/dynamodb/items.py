"""PutItem, GetItem, UpdateItem and DeleteItem.

A write is a one-key transaction (see `txn`): it reads the item strongly as
of τ_start when it must (a condition, ReturnValues, an update, or index
entries to replace), decides the new item, and commits the item key and
its index entries as write keys. A concurrent write to the same item makes
one of the two lose its commit, and the loser starts over from a new
τ_start, so a condition is always evaluated against exactly the item the
write replaces. An unconditional PutItem or DeleteItem on a table without
indexes that returns nothing reads nothing (a blind write).

A read is strong (`ConsistentRead`: as of now, on a replica that has caught
up to now) or eventual (the default: whatever one replica has applied, no
waiting, possibly stale).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kv.dynamodb import itemkeys, legacy, params, streams
from kv.dynamodb import values as av
from kv.dynamodb.errors import condition_failed, validation
from kv.dynamodb.expr_ast import Condition, Path, Update
from kv.dynamodb.expr_eval import apply_update, evaluate, project
from kv.dynamodb.expr_parser import Placeholders, parse_condition, parse_projection, parse_update
from kv.dynamodb.schema import TableSchema
from kv.dynamodb.txn import with_retries
from storage.client import EVENTUAL, LEADER

if TYPE_CHECKING:
    from kv.dynamodb.service import DynamoDBService

Item = dict[str, Any]
UNCHANGED = object()  # a decision that writes nothing


# -- shared pieces ---------------------------------------------------------------------------------------


def require_expressions(request: dict[str, Any], expression_fields: tuple[str, ...]) -> None:
    """Names and values are only allowed alongside an expression that could use them."""
    if any(request.get(f) is not None for f in expression_fields):
        return
    if request.get("ExpressionAttributeNames") is not None:
        raise validation("ExpressionAttributeNames can only be specified when using expressions")
    if request.get("ExpressionAttributeValues") is not None:
        raise validation("ExpressionAttributeValues can only be specified when using expressions")


def condition_of(request: dict[str, Any], placeholders: Placeholders) -> Condition | None:
    legacy.check_not_mixed(request, ("Expected", "ConditionalOperator"), ("ConditionExpression",))
    if request.get("ConditionExpression") is not None:
        return parse_condition(request["ConditionExpression"], placeholders)
    if request.get("Expected") is not None:
        return legacy.expected(request["Expected"], request.get("ConditionalOperator"))
    if request.get("ConditionalOperator") is not None:
        raise validation("ConditionalOperator can only be used when Filter or Expected has two or more elements")
    return None


def projection_of(request: dict[str, Any], placeholders: Placeholders) -> list[Path] | None:
    legacy.check_not_mixed(request, ("AttributesToGet",), ("ProjectionExpression",))
    if request.get("ProjectionExpression") is not None:
        return parse_projection(request["ProjectionExpression"], placeholders)
    if request.get("AttributesToGet") is not None:
        return legacy.attributes_to_get(request["AttributesToGet"])
    return None


def check_size(item: Item, update: bool = False) -> int:
    size = av.item_size(item)
    if size > av.ITEM_SIZE_MAX:
        raise validation(
            "Item size to update has exceeded the maximum allowed size"
            if update
            else "Item size has exceeded the maximum allowed size"
        )
    return size


def stored_item(stored: Any) -> Item | None:
    """The item of a stored `(table_id, index_no, item)` value."""
    return None if stored is None else stored[2]


def failed(old: Item | None, on_failure: str) -> Exception:
    return condition_failed(av.item_to_wire(old) if (old and on_failure == "ALL_OLD") else None)


async def write_one(
    service: DynamoDBService,
    table: TableSchema,
    storage_key: bytes,
    decide: Callable[[Item | None], tuple[Any, Any]],
    need_old: bool,
) -> Any:
    """Read (if needed), decide, commit: one item, retried until it wins its commit."""
    # Index entries to replace, or a stream record (INSERT or MODIFY, the old image, no record
    # for a change that changes nothing), need the item the write replaces.
    need_old = need_old or bool(table.indexes) or streams.needs_old_image(table)

    async def attempt() -> Any:
        tau_start = service.committer.begin()
        old = None
        if need_old:
            (stored,) = await service.storage.get([storage_key], tau_start)
            old = stored_item(stored)
        new, result = decide(old)
        if new is UNCHANGED:
            return result
        writes: list[tuple[bytes, Any]] = [
            (storage_key, None if new is None else (table.table_id, 0, new))
        ]
        writes += itemkeys.entry_changes(table, old, new)
        records = streams.RecordBatch()
        records.add(table, old, new)
        await service.committer.commit(tau_start, writes, [key for key, _ in writes], stamped=records.stamped)
        return result

    async with service.item_locks.hold(storage_key):
        return await with_retries(attempt, service.rng)


def _write_capacity(table: TableSchema, mode: str, old: Item | None, new: Item | None) -> params.Capacity:
    capacity = params.Capacity(table, mode)
    size = max(av.item_size(old) if old else 0, av.item_size(new) if new else 0)
    capacity.add_write(params.write_units(size))
    if mode != "NONE":
        before = itemkeys.entries(table, old)
        after = itemkeys.entries(table, new)
        for index in table.indexes:
            touched = any(v[1] == index.number for v in before.values()) or any(
                v[1] == index.number for v in after.values()
            )
            if touched:
                capacity.add_write(1.0, index.name)
    return capacity


def _write_response(
    table: TableSchema, attributes: Item | None, consumed: str, old: Item | None, new: Item | None,
    key: Item, metrics: str,
) -> dict[str, Any]:
    """The answer to a single-item write: returned attributes, consumed capacity, collection metrics."""
    response: dict[str, Any] = {}
    if attributes:
        response["Attributes"] = av.item_to_wire(attributes)
    if consumed != "NONE":
        _write_capacity(table, consumed, old, new).attach(response)
    collection = params.item_collection_metrics(table, key, metrics)
    if collection is not None:
        response["ItemCollectionMetrics"] = collection
    return response


# -- PutItem --------------------------------------------------------------------------------------------


async def put_item(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    if request.get("Item") is None:
        raise validation("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null")
    return_values = params.return_values(request, ("NONE", "ALL_OLD"))
    on_failure = params.on_condition_failure(request)
    consumed = params.enum(request, "ReturnConsumedCapacity", params.RETURN_CONSUMED, "NONE")
    metrics = params.enum(request, "ReturnItemCollectionMetrics", params.RETURN_METRICS, "NONE")
    require_expressions(request, ("ConditionExpression",))
    placeholders = Placeholders.from_request(request)
    condition = condition_of(request, placeholders)
    placeholders.check_all_used()
    table = await service.catalog.get(request.get("TableName"))
    item = av.item_from_wire(request["Item"])
    itemkeys.check_item(table, item)
    check_size(item)
    key = itemkeys.storage_key(table, item)

    def decide(old: Item | None) -> tuple[Any, Any]:
        if condition is not None and not evaluate(condition, old):
            raise failed(old, on_failure)
        return item, old

    old = await write_one(service, table, key, decide, need_old=condition is not None or return_values == "ALL_OLD" or consumed != "NONE")
    return _write_response(table, old if return_values == "ALL_OLD" else None, consumed, old, item, item, metrics)


# -- GetItem --------------------------------------------------------------------------------------------


async def get_item(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    consistent = params.boolean(request, "ConsistentRead")
    consumed = params.enum(request, "ReturnConsumedCapacity", params.RETURN_CONSUMED, "NONE")
    require_expressions(request, ("ProjectionExpression",))
    placeholders = Placeholders.from_request(request)
    projection = projection_of(request, placeholders)
    placeholders.check_all_used()
    table = await service.catalog.get(request.get("TableName"))
    if request.get("Key") is None:
        raise validation("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
    key = itemkeys.key_from_request(table, request["Key"])
    storage_key = itemkeys.storage_key(table, key)
    if consistent:
        (stored,) = await service.storage.get([storage_key], policy=LEADER)
    else:
        (stored,) = await service.storage.get([storage_key], policy=EVENTUAL)
    item = stored_item(stored)
    response: dict[str, Any] = {}
    if item is not None:
        shown = item if projection is None else project(item, projection)
        response["Item"] = av.item_to_wire(shown)
    if consumed != "NONE":
        capacity = params.Capacity(table, consumed)
        capacity.add_read(params.read_units(av.item_size(item) if item else 0, consistent))
        capacity.attach(response)
    return response


# -- UpdateItem -----------------------------------------------------------------------------------------


def update_of(request: dict[str, Any], placeholders: Placeholders, table: TableSchema | None) -> Update:
    legacy.check_not_mixed(request, ("AttributeUpdates",), ("UpdateExpression",))
    if request.get("UpdateExpression") is not None:
        return parse_update(request["UpdateExpression"], placeholders)
    if request.get("AttributeUpdates") is not None:
        return legacy.attribute_updates(request["AttributeUpdates"], table.key_names if table else ())
    return Update()


def updated_item(table: TableSchema, key: Item, update: Update, old: Item | None) -> Item:
    base = old if old is not None else dict(key)
    new = apply_update(update, base, table.key_names)
    itemkeys.check_item(table, new)
    check_size(new, update=True)
    return new


def creates_nothing(update: Update, old: Item | None) -> bool:
    """An update of a missing item that only removes things does not create it (DynamoDB's rule)."""
    return old is None and not update.sets and not update.adds and bool(update.removes or update.deletes)


def update_result(return_values: str, update: Update, old: Item | None, new: Item | None) -> Item | None:
    if return_values == "ALL_OLD":
        return old
    if return_values == "ALL_NEW":
        return new
    if return_values == "UPDATED_OLD":
        return project(old, update.paths()) if old else None
    if return_values == "UPDATED_NEW":
        return project(new, update.paths()) if new else None
    return None


async def update_item(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    return_values = params.return_values(request, params.RETURN_VALUES)
    on_failure = params.on_condition_failure(request)
    consumed = params.enum(request, "ReturnConsumedCapacity", params.RETURN_CONSUMED, "NONE")
    metrics = params.enum(request, "ReturnItemCollectionMetrics", params.RETURN_METRICS, "NONE")
    require_expressions(request, ("UpdateExpression", "ConditionExpression"))
    legacy.check_not_mixed(
        request, ("AttributeUpdates", "Expected", "ConditionalOperator"), ("UpdateExpression", "ConditionExpression")
    )
    placeholders = Placeholders.from_request(request)
    table = await service.catalog.get(request.get("TableName"))
    update = update_of(request, placeholders, table)
    condition = condition_of(request, placeholders)
    placeholders.check_all_used()
    if request.get("Key") is None:
        raise validation("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
    key = itemkeys.key_from_request(table, request["Key"])
    storage_key = itemkeys.storage_key(table, key)

    def decide(old: Item | None) -> tuple[Any, Any]:
        if condition is not None and not evaluate(condition, old):
            raise failed(old, on_failure)
        if creates_nothing(update, old):
            return UNCHANGED, (None, None)
        new = updated_item(table, key, update, old)
        return new, (old, new)

    old, new = await write_one(service, table, storage_key, decide, need_old=True)
    attributes = update_result(return_values, update, old, new)
    return _write_response(table, attributes, consumed, old, new, key, metrics)


# -- DeleteItem -----------------------------------------------------------------------------------------


async def delete_item(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    return_values = params.return_values(request, ("NONE", "ALL_OLD"))
    on_failure = params.on_condition_failure(request)
    consumed = params.enum(request, "ReturnConsumedCapacity", params.RETURN_CONSUMED, "NONE")
    metrics = params.enum(request, "ReturnItemCollectionMetrics", params.RETURN_METRICS, "NONE")
    require_expressions(request, ("ConditionExpression",))
    placeholders = Placeholders.from_request(request)
    condition = condition_of(request, placeholders)
    placeholders.check_all_used()
    table = await service.catalog.get(request.get("TableName"))
    if request.get("Key") is None:
        raise validation("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
    key = itemkeys.key_from_request(table, request["Key"])
    storage_key = itemkeys.storage_key(table, key)
    need_old = (
        condition is not None
        or return_values == "ALL_OLD"
        or consumed != "NONE"
        or bool(table.indexes)
        or streams.needs_old_image(table)
    )

    def decide(old: Item | None) -> tuple[Any, Any]:
        if condition is not None and not evaluate(condition, old):
            raise failed(old, on_failure)
        if need_old and old is None:
            return UNCHANGED, None  # nothing there: a successful no-op
        return None, old

    old = await write_one(service, table, storage_key, decide, need_old=need_old)
    return _write_response(table, old if return_values == "ALL_OLD" else None, consumed, old, None, key, metrics)
