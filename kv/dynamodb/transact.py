"""TransactWriteItems and TransactGetItems.

TransactWriteItems is one multi-key transaction on the adjudicator/journal
path: every action's item is read strongly as of τ_start, every condition
is evaluated (all of them: DynamoDB does not stop at the first failure and
reports a reason per action, in request order), and if all hold, the Puts,
Updates and Deletes (with their index entries) commit together as write
keys while the ConditionCheck items go along as check keys, so a concurrent
change to any of them after τ_start makes the commit lose. A lost race
cancels the transaction with a `TransactionConflict` reason on the action
whose key was contested, as DynamoDB cancels transactions that meet one
another; it is not retried (clients decide).

A `ClientRequestToken` makes the call idempotent for ten minutes: the token
is written in the same commit as the items (`catalog.token_key`), with a
hash of the request. A replay with the same request succeeds without
writing; with a different request it is IdempotentParameterMismatch; while
the first call is still committing, the replay loses the race on the token
key and answers TransactionInProgress (which SDKs retry).

TransactGetItems is one strong read of every key at one τ: a snapshot, with
no second round (storage's watermark makes τ final).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from kv.dynamodb import catalog as cat
from kv.dynamodb import itemkeys, params, streams
from kv.dynamodb import values as av
from kv.dynamodb.errors import DynamoError, validation
from kv.dynamodb.expr_ast import Condition, Path, Update
from kv.dynamodb.expr_eval import evaluate, project
from kv.dynamodb.expr_parser import Placeholders, parse_condition, parse_projection, parse_update
from kv.dynamodb.items import check_size, creates_nothing, require_expressions, stored_item, updated_item
from kv.dynamodb.schema import TableSchema
from kv.dynamodb.txn import Conflict

if TYPE_CHECKING:
    from kv.dynamodb.service import DynamoDBService

TRANSACT_ITEMS_MAX = 100
TOKEN_LENGTH_MAX = 36
TOKEN_WINDOW_S = 600.0  # a ClientRequestToken is remembered for 10 minutes
REQUEST_BYTES_MAX = 4 * 1024 * 1024
ACTIONS = ("ConditionCheck", "Put", "Delete", "Update")


@dataclass
class Action:
    kind: str
    table: TableSchema
    key: dict[str, Any]
    storage_key: bytes
    condition: Condition | None
    on_failure: str
    item: dict[str, Any] | None = None  # Put
    update: Update | None = None  # Update


def _parse_action(raw: Any, table: TableSchema) -> Action:
    ((kind, spec),) = raw.items()
    if not isinstance(spec, dict):
        raise validation(f"Invalid {kind} action")
    require_expressions(spec, ("ConditionExpression", "UpdateExpression"))
    placeholders = Placeholders.from_request(spec)
    condition = None
    update = None
    if kind == "Update":
        if spec.get("UpdateExpression") is None:
            raise validation("1 validation error detected: Value null at 'transactItems.update.updateExpression' failed to satisfy constraint: Member must not be null")
        update = parse_update(spec["UpdateExpression"], placeholders)
    if spec.get("ConditionExpression") is not None:
        condition = parse_condition(spec["ConditionExpression"], placeholders)
    elif kind == "ConditionCheck":
        raise validation("1 validation error detected: Value null at 'transactItems.conditionCheck.conditionExpression' failed to satisfy constraint: Member must not be null")
    placeholders.check_all_used()
    on_failure = params.on_condition_failure(spec)
    if kind == "Put":
        if spec.get("Item") is None:
            raise validation("1 validation error detected: Value null at 'transactItems.put.item' failed to satisfy constraint: Member must not be null")
        item = av.item_from_wire(spec["Item"])
        itemkeys.check_item(table, item)
        check_size(item)
        key = itemkeys.key_of(table, item)
        return Action(kind, table, key, itemkeys.storage_key(table, key), condition, on_failure, item=item)
    key = itemkeys.key_from_request(table, spec.get("Key"))
    return Action(kind, table, key, itemkeys.storage_key(table, key), condition, on_failure, update=update)


def hash_request(request: dict[str, Any]) -> str:
    # Order-insensitive in map keys (LocalStack got this wrong), order-sensitive in lists.
    canonical = {k: v for k, v in request.items() if k not in ("ClientRequestToken", "ReturnConsumedCapacity")}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _cancelled(reasons: list[dict[str, Any]]) -> DynamoError:
    codes = ", ".join(r["Code"] for r in reasons)
    return DynamoError(
        "TransactionCanceledException",
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        CancellationReasons=reasons,
    )


async def transact_write_items(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    raw_items = request.get("TransactItems")
    if not isinstance(raw_items, list) or not raw_items:
        raise validation(
            "1 validation error detected: Value null at 'transactItems' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    if len(raw_items) > TRANSACT_ITEMS_MAX:
        raise validation(
            f"1 validation error detected: Value '[{len(raw_items)} items]' at 'transactItems' failed to satisfy "
            f"constraint: Member must have length less than or equal to {TRANSACT_ITEMS_MAX}"
        )
    token = request.get("ClientRequestToken")
    if token is not None and (not isinstance(token, str) or not 1 <= len(token) <= TOKEN_LENGTH_MAX):
        raise validation(
            f"1 validation error detected: Value '{token}' at 'clientRequestToken' failed to satisfy constraint: "
            f"Member must have length less than or equal to {TOKEN_LENGTH_MAX}"
        )
    consumed = params.enum(request, "ReturnConsumedCapacity", params.RETURN_CONSUMED, "NONE")
    metrics = params.enum(request, "ReturnItemCollectionMetrics", params.RETURN_METRICS, "NONE")
    actions: list[Action] = []
    for raw in raw_items:
        if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ACTIONS:
            raise validation(
                "TransactItems can only contain one of Check, Put, Update or Delete"
            )
        spec = next(iter(raw.values()))
        table = await service.catalog.get((spec or {}).get("TableName"))
        actions.append(_parse_action(raw, table))
    request_hash = hash_request(request) if token else ""
    replay = await run_write_transaction(service, actions, token, request_hash)
    response: dict[str, Any] = {}
    if consumed != "NONE":
        by_table: dict[str, params.Capacity] = {}
        for action in actions:
            capacity = by_table.setdefault(action.table.name, params.Capacity(action.table, consumed))
            size = av.item_size(action.item) if action.item else 0
            if replay is not None:
                capacity.add_read(params.read_units(size, True))
            else:
                capacity.add_write(2 * params.write_units(size))
        response["ConsumedCapacity"] = [c.report() for c in by_table.values()]
    if metrics == "SIZE":
        collections: dict[str, list[Any]] = {}
        for action in actions:
            if action.kind == "ConditionCheck":
                continue
            entry = params.item_collection_metrics(action.table, action.key, metrics)
            if entry is not None:
                collections.setdefault(action.table.name, []).append(entry)
        response["ItemCollectionMetrics"] = collections
    return response


async def run_write_transaction(
    service: DynamoDBService, actions: list[Action], token: str | None, request_hash: str
) -> dict[str, Any] | None:
    """Commit `actions` as one transaction; returns {} when `token` replays an earlier call, else None."""
    keys = [a.storage_key for a in actions]
    if len(set(keys)) != len(keys):
        raise validation("Transaction request cannot include multiple operations on one item")
    token_key = cat.token_key(token) if token else None

    async def attempt() -> dict[str, Any] | None:
        """None: committed; a dict: the answer to a replayed token."""
        tau_start = service.committer.begin()
        read_keys = keys + ([token_key] if token_key else [])
        stored = await service.storage.get(read_keys, tau_start)
        if token_key is not None:
            record = stored[-1]
            if record is not None and time.time() - record["at"] < TOKEN_WINDOW_S:
                if record["hash"] != request_hash:
                    raise DynamoError(
                        "IdempotentParameterMismatchException",
                        "The request uses the same client token as a previous, but non-identical request.",
                    )
                return {}
        olds = [stored_item(s) for s in stored[: len(actions)]]
        reasons: list[dict[str, Any]] = []
        news: list[Any] = []
        failed = False
        for action, old in zip(actions, olds, strict=True):
            reason: dict[str, Any] = {"Code": "None"}
            new: Any = None
            try:
                if action.condition is not None and not evaluate(action.condition, old):
                    reason = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
                    if action.on_failure == "ALL_OLD" and old:
                        reason["Item"] = av.item_to_wire(old)
                elif action.kind == "Put":
                    new = action.item
                elif action.kind == "Update":
                    assert action.update is not None
                    if not creates_nothing(action.update, old):
                        new = updated_item(action.table, action.key, action.update, old)
            except DynamoError as exc:
                if exc.type_name != "ValidationException":
                    raise
                reason = {"Code": "ValidationError", "Message": exc.message}
            if reason["Code"] != "None":
                failed = True
            reasons.append(reason)
            news.append(new)
        if failed:
            raise _cancelled(reasons)
        writes: list[tuple[bytes, Any]] = []
        owner: dict[bytes, int] = {}
        checks: list[bytes] = []
        records = streams.RecordBatch()  # the items' stream records, in request order
        for n, (action, old, new) in enumerate(zip(actions, olds, news, strict=True)):
            if action.kind == "ConditionCheck":
                checks.append(action.storage_key)
                owner[action.storage_key] = n
                continue
            if (action.kind == "Delete" or (action.kind == "Update" and new is None)) and old is None:
                # Deleting nothing writes nothing, but the key must still not
                # change under us: it was part of what this transaction saw.
                checks.append(action.storage_key)
                owner[action.storage_key] = n
                continue
            item_write = (action.storage_key, None if new is None else (action.table.table_id, 0, new))
            changes = [item_write, *itemkeys.entry_changes(action.table, old, new)]
            records.add(action.table, old, new)
            for key, _ in changes:
                owner[key] = n
            writes += changes
        if token_key is not None:
            writes.append((token_key, {"hash": request_hash, "at": time.time()}))
        if not writes:
            return None  # only checks, all of which held at τ_start: nothing to commit
        try:
            await service.committer.commit(tau_start, writes, [k for k, _ in writes], checks, records.stamped)
        except Conflict as exc:
            if token_key is not None and exc.key == token_key:
                raise _TokenBusy() from None
            contested = owner.get(exc.key) if exc.key is not None else None
            raise _cancelled(
                [
                    {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
                    if contested is None or contested == n
                    else {"Code": "None"}
                    for n in range(len(actions))
                ]
            ) from None
        return None

    replay: dict[str, Any] | None = None
    for retry in range(3):
        try:
            replay = await attempt()
            break
        except _TokenBusy:
            # Another call with this token is committing: give it a moment, then
            # answer as DynamoDB does if it is still in flight.
            if retry == 2:
                raise DynamoError(
                    "TransactionInProgressException", "Transaction is in progress for the given client request token"
                ) from None
            await trio.sleep(0.05)
    return replay


class _TokenBusy(Exception):
    pass


async def transact_get_items(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    raw_items = request.get("TransactItems")
    if not isinstance(raw_items, list) or not raw_items:
        raise validation(
            "1 validation error detected: Value null at 'transactItems' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    if len(raw_items) > TRANSACT_ITEMS_MAX:
        raise validation(
            f"1 validation error detected: Value '[{len(raw_items)} items]' at 'transactItems' failed to satisfy "
            f"constraint: Member must have length less than or equal to {TRANSACT_ITEMS_MAX}"
        )
    consumed = params.enum(request, "ReturnConsumedCapacity", params.RETURN_CONSUMED, "NONE")
    gets: list[tuple[TableSchema, bytes, list[Path] | None]] = []
    for raw in raw_items:
        if not isinstance(raw, dict) or list(raw) != ["Get"] or not isinstance(raw["Get"], dict):
            raise validation("TransactItems can only contain Get actions")
        spec = raw["Get"]
        table = await service.catalog.get(spec.get("TableName"))
        require_expressions(spec, ("ProjectionExpression",))
        placeholders = Placeholders.from_request(spec)
        projection = (
            parse_projection(spec["ProjectionExpression"], placeholders)
            if spec.get("ProjectionExpression") is not None
            else None
        )
        placeholders.check_all_used()
        key = itemkeys.key_from_request(table, spec.get("Key"))
        gets.append((table, itemkeys.storage_key(table, key), projection))
    keys = [g[1] for g in gets]
    if len(set(keys)) != len(keys):
        raise validation("Transaction request cannot include multiple operations on one item")
    stored = await service.storage.get(keys, service.committer.begin())
    responses = []
    by_table: dict[str, params.Capacity] = {}
    for (table, _, projection), value in zip(gets, stored, strict=True):
        item = stored_item(value)
        capacity = by_table.setdefault(table.name, params.Capacity(table, consumed))
        capacity.add_read(2 * params.read_units(av.item_size(item) if item else 0, True))
        if item is None:
            responses.append({})
        else:
            responses.append({"Item": av.item_to_wire(item if projection is None else project(item, projection))})
    response: dict[str, Any] = {"Responses": responses}
    if consumed != "NONE":
        response["ConsumedCapacity"] = [c.report() for c in by_table.values()]
    return response
