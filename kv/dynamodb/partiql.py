"""PartiQL operations: ExecuteStatement, BatchExecuteStatement and ExecuteTransaction.

Parsed statements (`partiql_parse`) run on the JSON API's own code:

- `SELECT` with an equality (or IN) on the partition key is a Query of
  those partitions, otherwise a Scan; the whole WHERE is the filter; `ORDER
  BY` the sort key may reverse it; paging is by `NextToken`.
- `INSERT INTO t VALUE {...}` is a conditional PutItem that fails with
  DuplicateItemException if the key exists.
- `UPDATE t SET ... REMOVE ... WHERE <key> [AND cond]` is an UpdateItem of
  an existing item (ConditionalCheckFailed otherwise).
- `DELETE FROM t WHERE <key> [AND cond]` deletes one item; a missing item
  is a success (DynamoDB's documented behaviour).
- ExecuteTransaction is TransactGetItems (all reads) or TransactWriteItems
  (all writes) of the statements' items.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from kv.dynamodb import itemkeys, keycodec, params
from kv.dynamodb import values as av
from kv.dynamodb.errors import DynamoError, condition_failed, not_found, validation
from kv.dynamodb.expr_ast import And, Compare, Condition, Function, In, PathRef, Value
from kv.dynamodb.expr_eval import evaluate
from kv.dynamodb.items import UNCHANGED, check_size, update_result, updated_item, write_one
from kv.dynamodb.partiql_parse import Statement, conjuncts, key_and_rest
from kv.dynamodb.query import Target, read_page
from kv.dynamodb.schema import TableSchema
from kv.dynamodb.transact import Action, hash_request, run_write_transaction, transact_get_items
from storage import keys as storage_keys

if TYPE_CHECKING:
    from kv.dynamodb.service import DynamoDBService

BATCH_STATEMENTS_MAX = 25
TRANSACTION_STATEMENTS_MAX = 100

Item = dict[str, Any]


async def _run(service: DynamoDBService, statement: Statement, request: dict[str, Any]) -> dict[str, Any]:
    table = await service.catalog.find(statement.table_name)
    if table is None:
        raise not_found()
    if statement.kind == "SELECT":
        return await _select(service, statement, table, request)
    if statement.index_name is not None:
        raise validation("Index can only be used in a SELECT statement")
    on_failure = params.on_condition_failure(request)
    if statement.kind == "INSERT":
        return await _insert(service, statement, table)
    key, rest = key_and_rest(table, statement.condition)
    storage_key = itemkeys.storage_key(table, key)
    if statement.kind == "UPDATE":

        def decide_update(old: Item | None) -> tuple[Any, Any]:
            if old is None or (rest is not None and not evaluate(rest, old)):
                raise condition_failed(av.item_to_wire(old) if old and on_failure == "ALL_OLD" else None)
            new = updated_item(table, key, statement.update, old)
            return new, (old, new)

        old, new = await write_one(service, table, storage_key, decide_update, need_old=True)
        attributes = update_result(statement.returning, statement.update, old, new)
        return {"Items": [av.item_to_wire(attributes)] if attributes else []}

    def decide_delete(old: Item | None) -> tuple[Any, Any]:
        if old is None:
            return UNCHANGED, None
        if rest is not None and not evaluate(rest, old):
            raise condition_failed(av.item_to_wire(old) if on_failure == "ALL_OLD" else None)
        return None, old

    old = await write_one(service, table, storage_key, decide_delete, need_old=True)
    if statement.returning == "ALL_OLD" and old:
        return {"Items": [av.item_to_wire(old)]}
    return {"Items": []}


async def _insert(service: DynamoDBService, statement: Statement, table: TableSchema) -> dict[str, Any]:
    item = statement.item
    itemkeys.check_item(table, item)
    check_size(item)

    def decide(old: Item | None) -> tuple[Any, Any]:
        if old is not None:
            raise DynamoError("DuplicateItemException", "Duplicate primary key exists in table")
        return item, None

    await write_one(service, table, itemkeys.storage_key(table, item), decide, need_old=True)
    return {"Items": []}


def _encode_token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def _decode_token(token: Any) -> dict[str, Any]:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, AttributeError):
        raise validation("Invalid NextToken") from None


async def _select(
    service: DynamoDBService, statement: Statement, table: TableSchema, request: dict[str, Any]
) -> dict[str, Any]:
    consistent = params.boolean(request, "ConsistentRead")
    limit = params.integer(request, "Limit", 1)
    index = None
    if statement.index_name is not None:
        index = table.index(statement.index_name)
        if index is None:
            raise validation(f"The table does not have the specified index: {statement.index_name}")
        if consistent and index.kind == "GSI":
            raise validation("Consistent reads are not supported on global secondary indexes")
    target = Target(table, index)
    # Partitions named by an equality or IN on the partition key make a Query.
    partitions: list[dict[str, Any]] | None = None
    # (An index whose partition key has several attributes is scanned: the
    # statement's filter still selects the right items.)
    for part in conjuncts(statement.condition) if len(target.hash_keys) == 1 else ():
        if isinstance(part, Compare) and part.op == "=" and isinstance(part.left, PathRef) and part.left.path == (
            target.hash_key,
        ) and isinstance(part.right, Value):
            partitions = [part.right.value]
            break
        if isinstance(part, In) and isinstance(part.operand, PathRef) and part.operand.path == (target.hash_key,):
            if all(isinstance(c, Value) for c in part.choices):
                partitions = [c.value for c in part.choices]  # type: ignore[union-attr]
                break
    state = _decode_token(request["NextToken"]) if request.get("NextToken") else {"p": 0, "k": None}
    ranges: list[tuple[bytes, bytes, Any]] = []
    if partitions is not None:
        for value in partitions:
            if av.kind_of(value) != table.attribute_types[target.hash_key]:
                continue
            prefix = keycodec.partition_prefix(table.table_id, target.number, keycodec.encode_key_value(value))
            ranges.append((prefix, storage_keys.prefix_end(prefix), None))
    else:
        scan_filter = ("and", ("cmp", "=", 0, table.table_id), ("cmp", "=", 1, target.number))
        ranges.append((keycodec.NS, keycodec.NS_END, scan_filter))
    items: list[Any] = []
    position = state["p"]
    after_item = state["k"]
    remaining = limit
    next_token = None
    while position < len(ranges):
        start, end, scan_filter = ranges[position]
        after = target.storage_key(av.item_from_wire(after_item)) if after_item else None
        page = await read_page(
            service, target, start, end,
            consistent=consistent, forward=not statement.descending, limit=remaining, after=after,
            filter_condition=statement.condition, projection=statement.projection, select="ALL_ATTRIBUTES",
            scan_filter=scan_filter,
        )  # fmt: skip
        items += page["Items"]
        if remaining is not None:
            remaining -= page["ScannedCount"]
        if "LastEvaluatedKey" in page:
            next_token = _encode_token({"p": position, "k": page["LastEvaluatedKey"]})
            break
        position += 1
        after_item = None
        if remaining is not None and remaining <= 0 and position < len(ranges):
            next_token = _encode_token({"p": position, "k": None})
            break
    response: dict[str, Any] = {"Items": items}
    if next_token is not None:
        response["NextToken"] = next_token
    return response


async def execute_statement(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    statement = Statement(request.get("Statement"), request.get("Parameters"))
    return await _run(service, statement, request)


async def batch_execute_statement(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    raw = request.get("Statements")
    if not isinstance(raw, list) or not raw:
        raise validation("1 validation error detected: Value null at 'statements' failed to satisfy constraint: Member must have length greater than or equal to 1")
    if len(raw) > BATCH_STATEMENTS_MAX:
        raise validation(
            "1 validation error detected: Value at 'statements' failed to satisfy constraint: "
            f"Member must have length less than or equal to {BATCH_STATEMENTS_MAX}"
        )
    parsed = [Statement(s.get("Statement"), s.get("Parameters")) for s in raw]
    if len({s.is_read for s in parsed}) > 1:
        raise validation("Batch must contain either all reads or all writes")
    responses = []
    for spec, statement in zip(raw, parsed, strict=True):
        try:
            if statement.is_read:
                table = await service.catalog.find(statement.table_name)
                if table is None:
                    raise not_found()
                key, rest = key_and_rest(table, statement.condition)
                result = await _select(service, statement, table, spec)
                entry: dict[str, Any] = {"TableName": table.name}
                if result["Items"]:
                    entry["Item"] = result["Items"][0]
                responses.append(entry)
            else:
                await _run(service, statement, spec)
                responses.append({"TableName": statement.table_name})
        except DynamoError as exc:
            code = exc.type_name.removesuffix("Exception")
            error: dict[str, Any] = {"Code": code, "Message": exc.message}
            if "Item" in exc.extra:
                error["Item"] = exc.extra["Item"]
            responses.append({"Error": error, "TableName": statement.table_name})
    return {"Responses": responses}


async def execute_transaction(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    """ExecuteTransaction: all reads (a snapshot) or all writes (one transaction)."""

    raw = request.get("TransactStatements")
    if not isinstance(raw, list) or not raw:
        raise validation("1 validation error detected: Value null at 'transactStatements' failed to satisfy constraint: Member must have length greater than or equal to 1")
    if len(raw) > TRANSACTION_STATEMENTS_MAX:
        raise validation(
            "1 validation error detected: Value at 'transactStatements' failed to satisfy constraint: "
            f"Member must have length less than or equal to {TRANSACTION_STATEMENTS_MAX}"
        )
    parsed = [Statement(s.get("Statement"), s.get("Parameters")) for s in raw]
    if len({s.is_read for s in parsed}) > 1:
        raise validation("Transaction must contain either all reads or all writes")
    tables = {}
    for statement in parsed:
        table = await service.catalog.find(statement.table_name)
        if table is None:
            raise not_found()
        tables[statement.table_name] = table
    if parsed[0].is_read:
        gets = []
        for statement in parsed:
            table = tables[statement.table_name]
            key, _ = key_and_rest(table, statement.condition)
            gets.append({"Get": {"TableName": table.name, "Key": av.item_to_wire(key)}})
        result = await transact_get_items(service, {"TransactItems": gets})
        return {"Responses": result["Responses"]}
    actions = [_as_action(statement, tables[statement.table_name]) for statement in parsed]
    token = request.get("ClientRequestToken")
    request_hash = hash_request(request) if token else ""
    await run_write_transaction(service, actions, token, request_hash)
    return {}


def _as_action(statement: Statement, table: TableSchema) -> Action:
    """A write statement as a TransactWriteItems action."""
    if statement.kind == "INSERT":
        item = statement.item
        itemkeys.check_item(table, item)
        check_size(item)
        key = itemkeys.key_of(table, item)
        return Action("Put", table, key, itemkeys.storage_key(table, key), _not_exists(table), "NONE", item=item)
    key, rest = key_and_rest(table, statement.condition)
    storage_key = itemkeys.storage_key(table, key)
    if statement.kind == "UPDATE":
        condition = _exists(table) if rest is None else And(_exists(table), rest)
        return Action("Update", table, key, storage_key, condition, "NONE", update=statement.update)
    return Action("Delete", table, key, storage_key, rest, "NONE")


def _exists(table: TableSchema) -> Condition:
    return Function("attribute_exists", (PathRef((table.hash_key,)),))


def _not_exists(table: TableSchema) -> Condition:
    return Function("attribute_not_exists", (PathRef((table.hash_key,)),))

