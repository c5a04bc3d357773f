"""BatchGetItem and BatchWriteItem.

Each element of a batch behaves as its own GetItem, PutItem or DeleteItem
would. dsql reads a batch's strong keys at one τ (one snapshot) and its
eventual keys from one replica, and commits a write batch as one
transaction (retried as a whole if it loses a race): both are stronger than
DynamoDB promises, which is allowed. The whole request is checked before
anything is written, so a bad element changes nothing.

Responses always carry `UnprocessedKeys` / `UnprocessedItems` (empty when
everything was done): boto3's `batch_writer` indexes them unconditionally.
A BatchGetItem whose items would pass 16 MB returns the rest unprocessed,
as DynamoDB does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kv.dynamodb import itemkeys, params, streams
from kv.dynamodb import values as av
from kv.dynamodb.errors import validation
from kv.dynamodb.expr_eval import project
from kv.dynamodb.expr_parser import Placeholders
from kv.dynamodb.items import check_size, projection_of, require_expressions, stored_item
from kv.dynamodb.txn import with_retries
from storage.client import EVENTUAL, LEADER

if TYPE_CHECKING:
    from kv.dynamodb.service import DynamoDBService

BATCH_GET_KEYS_MAX = 100
BATCH_WRITE_REQUESTS_MAX = 25
RESPONSE_BYTES_MAX = 16 * 1024 * 1024


def _request_items(request: dict[str, Any]) -> dict[str, Any]:
    items = request.get("RequestItems")
    if not isinstance(items, dict) or not items:
        raise validation(
            "1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    return items


def _duplicates() -> Exception:
    return validation("Provided list of item keys contains duplicates")


async def batch_get_item(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    consumed = params.enum(request, "ReturnConsumedCapacity", params.RETURN_CONSUMED, "NONE")
    request_items = _request_items(request)
    total = sum(len(spec.get("Keys") or []) for spec in request_items.values() if isinstance(spec, dict))
    if total > BATCH_GET_KEYS_MAX:
        raise validation("Too many items requested for the BatchGetItem call")
    plans = []
    for name, spec in request_items.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("Keys"), list) or not spec["Keys"]:
            raise validation(
                "1 validation error detected: Value null at 'requestItems.keys' failed to satisfy constraint: "
                "Member must have length greater than or equal to 1"
            )
        require_expressions(spec, ("ProjectionExpression",))
        placeholders = Placeholders.from_request(spec)
        projection = projection_of(spec, placeholders)
        placeholders.check_all_used()
        consistent = params.boolean(spec, "ConsistentRead")
        table = await service.catalog.get(name)
        keys = [itemkeys.key_from_request(table, raw) for raw in spec["Keys"]]
        storage_keys = [itemkeys.storage_key(table, key) for key in keys]
        if len(set(storage_keys)) != len(storage_keys):
            raise _duplicates()
        plans.append((name, spec, table, keys, storage_keys, projection, consistent))

    strong = [k for plan in plans if plan[6] for k in plan[4]]
    eventual = [k for plan in plans if not plan[6] for k in plan[4]]
    found: dict[bytes, Any] = {}
    if strong:
        found.update(zip(strong, await service.storage.get(strong, policy=LEADER), strict=True))
    if eventual:
        found.update(zip(eventual, await service.storage.get(eventual, policy=EVENTUAL), strict=True))

    responses: dict[str, list[Any]] = {}
    unprocessed: dict[str, Any] = {}
    capacities = []
    size = 0
    for name, spec, table, _keys, storage_keys, projection, consistent in plans:
        out = responses.setdefault(name, [])
        capacity = params.Capacity(table, consumed)
        for raw, key in zip(spec["Keys"], storage_keys, strict=True):
            item = stored_item(found.get(key))
            if item is None:
                capacity.add_read(params.read_units(0, consistent))
                continue
            item_bytes = av.item_size(item)
            if size + item_bytes > RESPONSE_BYTES_MAX:
                rest = unprocessed.setdefault(name, {k: v for k, v in spec.items() if k != "Keys"})
                rest.setdefault("Keys", []).append(raw)
                continue
            size += item_bytes
            capacity.add_read(params.read_units(item_bytes, consistent))
            out.append(av.item_to_wire(item if projection is None else project(item, projection)))
        report = capacity.report()
        if report is not None:
            capacities.append(report)
    response: dict[str, Any] = {"Responses": responses, "UnprocessedKeys": unprocessed}
    if consumed != "NONE":
        response["ConsumedCapacity"] = capacities
    return response


async def batch_write_item(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    consumed = params.enum(request, "ReturnConsumedCapacity", params.RETURN_CONSUMED, "NONE")
    metrics = params.enum(request, "ReturnItemCollectionMetrics", params.RETURN_METRICS, "NONE")
    request_items = _request_items(request)
    count = sum(len(v) if isinstance(v, list) else 0 for v in request_items.values())
    if count > BATCH_WRITE_REQUESTS_MAX or any(not isinstance(v, list) or not v for v in request_items.values()):
        raise validation(
            "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must "
            "satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater "
            "than or equal to 1]"
        )
    # Check everything first: a bad element must change nothing.
    operations = []  # (table, storage key, new item or None, key)
    seen: set[bytes] = set()
    for name, requests in request_items.items():
        table = await service.catalog.get(name)
        for element in requests:
            if not isinstance(element, dict) or len(element) != 1:
                raise validation("Supplied WriteRequest must contain exactly one of PutRequest or DeleteRequest")
            if "PutRequest" in element:
                raw = (element["PutRequest"] or {}).get("Item")
                if raw is None:
                    raise validation("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null")
                item = av.item_from_wire(raw)
                itemkeys.check_item(table, item)
                check_size(item)
                key = itemkeys.storage_key(table, item)
                operations.append((table, key, item, itemkeys.key_of(table, item)))
            elif "DeleteRequest" in element:
                key_item = itemkeys.key_from_request(table, (element["DeleteRequest"] or {}).get("Key"))
                key = itemkeys.storage_key(table, key_item)
                operations.append((table, key, None, key_item))
            else:
                raise validation("Supplied WriteRequest must contain exactly one of PutRequest or DeleteRequest")
            if key in seen:
                raise _duplicates()
            seen.add(key)

    need_old = [
        op[1] for op in operations if op[0].indexes or consumed != "NONE" or streams.needs_old_image(op[0])
    ]

    async def attempt() -> dict[bytes, Any]:
        tau_start = service.committer.begin()
        old: dict[bytes, Any] = {}
        if need_old:
            old = dict(zip(need_old, await service.storage.get(need_old, tau_start), strict=True))
        writes: list[tuple[bytes, Any]] = []
        records = streams.RecordBatch()
        for table, key, item, _ in operations:
            writes.append((key, None if item is None else (table.table_id, 0, item)))
            writes += itemkeys.entry_changes(table, stored_item(old.get(key)), item)
            records.add(table, stored_item(old.get(key)), item)
        await service.committer.commit(tau_start, writes, [k for k, _ in writes], stamped=records.stamped)
        return old

    old = await with_retries(attempt, service.rng)
    response: dict[str, Any] = {"UnprocessedItems": {}}
    if consumed != "NONE":
        by_table: dict[str, params.Capacity] = {}
        for table, key, item, _ in operations:
            capacity = by_table.setdefault(table.name, params.Capacity(table, consumed))
            previous = stored_item(old.get(key))
            size = max(av.item_size(previous) if previous else 0, av.item_size(item) if item else 0)
            capacity.add_write(params.write_units(size))
        response["ConsumedCapacity"] = [c.report() for c in by_table.values()]
    if metrics == "SIZE":
        collections: dict[str, list[Any]] = {}
        for table, _, _, key_item in operations:
            entry = params.item_collection_metrics(table, key_item, metrics)
            if entry is not None:
                collections.setdefault(table.name, []).append(entry)
        response["ItemCollectionMetrics"] = collections
    return response
