"""Query and Scan: reading many items, a page at a time.

A Query is one prefix scan: everything with one partition key shares a
storage-key prefix (see `keycodec`), in sort-key order, and a sort-key
condition narrows it to one contiguous range. A Scan walks the whole
DynamoDB key space (or one hash slice of it per parallel-scan segment) with
a filter on (table id, index number) pushed down to the storage nodes.

Paging follows DynamoDB: `Limit` counts items *read*, before the
FilterExpression; a page also stops once the items read pass 1 MB; whenever
a page stops early it carries `LastEvaluatedKey` (the table key, plus the
index key on an index), even if the filter left the page empty, and that
key fed back as `ExclusiveStartKey` resumes just after it. `Count` is
after the filter, `ScannedCount` before it.

Reads are eventual by default (a replica's latest applied state, no
waiting) or strong with `ConsistentRead` (as of now); GSIs refuse strong
reads, as DynamoDB's do.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from cluster.timeslice import checkpoint_if_due
from kv.dynamodb import itemkeys, keycodec, legacy, params
from kv.dynamodb import values as av
from kv.dynamodb.errors import invalid_expression, invalid_params, validation
from kv.dynamodb.expr_ast import And, Between, Compare, Condition, Function, Not, Or, Path, PathRef, Value
from kv.dynamodb.expr_eval import evaluate, project
from kv.dynamodb.expr_parser import Placeholders, parse_condition
from kv.dynamodb.items import projection_of, require_expressions
from kv.dynamodb.schema import IndexSchema, TableSchema
from storage import keys
from storage.client import EVENTUAL, LEADER

if TYPE_CHECKING:
    from kv.dynamodb.service import DynamoDBService

PAGE_BYTES_MAX = 1024 * 1024  # items read per Query/Scan call, before filtering
PAGE_ROWS_MAX = 200  # rows per storage round trip: bounded reply, few round trips
TOTAL_SEGMENTS_MAX = 1_000_000
SELECTS = ("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT")
_FLIP = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

Item = dict[str, Any]


class Target:
    """What a Query or Scan reads: the table, or one of its indexes."""

    def __init__(self, table: TableSchema, index: IndexSchema | None) -> None:
        self.table = table
        self.index = index
        self.number = 0 if index is None else index.number
        self.hash_key = table.hash_key if index is None else index.hash_key
        self.range_key = table.range_key if index is None else index.range_key
        # A GSI's keys may be made of several attributes each (multi-attribute keys).
        if index is not None:
            self.hash_keys, self.range_keys = index.hash_keys, index.range_keys
        else:
            self.hash_keys = (table.hash_key,)
            self.range_keys = () if table.range_key is None else (table.range_key,)

    @property
    def key_names(self) -> tuple[str, ...]:
        names = list(self.table.key_names)
        if self.index is not None:
            names += [n for n in self.index.key_names if n not in names]
        return tuple(names)

    def storage_key(self, item: Item) -> bytes:
        if self.index is None:
            return itemkeys.storage_key(self.table, item)
        key = itemkeys.entry_key(self.table, self.index, item)
        if key is None:
            raise validation("The provided starting key is invalid: The provided key element does not match the schema")
        return key

    def last_key(self, item: Item) -> Item:
        return {name: item[name] for name in self.key_names if name in item}


def _target(table: TableSchema, request: dict[str, Any], consistent: bool) -> Target:
    index_name = request.get("IndexName")
    if index_name is None:
        return Target(table, None)
    if not isinstance(index_name, str):
        raise validation("IndexName must be a string")
    index = table.index(index_name)
    if index is None:
        raise validation(f"The table does not have the specified index: {index_name}")
    if index.kind == "GSI":
        if consistent:
            raise validation("Consistent reads are not supported on global secondary indexes")
        if index.status != "ACTIVE":
            raise validation(
                f"Cannot read from backfilling global secondary index: {index_name}"
            )
    return Target(table, index)


def _select(request: dict[str, Any], target: Target, projection: list[Path] | None) -> str:
    select = params.enum(request, "Select", SELECTS, "")
    if not select:
        if projection is not None:
            return "SPECIFIC_ATTRIBUTES"
        return "ALL_ATTRIBUTES" if target.index is None else "ALL_PROJECTED_ATTRIBUTES"
    if select == "ALL_PROJECTED_ATTRIBUTES" and target.index is None:
        raise validation("1 validation error detected: ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
    if select == "SPECIFIC_ATTRIBUTES" and projection is None:
        raise validation(
            "1 validation error detected: SPECIFIC_ATTRIBUTES can be used only with AttributesToGet or ProjectionExpression"
        )
    if select != "SPECIFIC_ATTRIBUTES" and projection is not None:
        which = "ProjectionExpression" if request.get("ProjectionExpression") is not None else "AttributesToGet"
        raise validation(f"Cannot specify the {which} when choosing to get {select}")
    if select == "ALL_ATTRIBUTES" and target.index is not None and target.index.kind == "GSI":
        if target.index.projection_type != "ALL":
            raise invalid_params(
                f"Select type ALL_ATTRIBUTES is not supported for global secondary index {target.index.name} "
                "because its projection type is not ALL"
            )
    return select


# -- key conditions -----------------------------------------------------------------------------------


def _flatten(condition: Condition) -> list[Condition]:
    if isinstance(condition, And):
        return _flatten(condition.left) + _flatten(condition.right)
    if isinstance(condition, (Or, Not)):
        raise invalid_expression(
            "KeyConditionExpression", f"Invalid operator used in KeyConditionExpression: {'OR' if isinstance(condition, Or) else 'NOT'}"
        )
    return [condition]


def _key_attribute(operand: Any) -> str | None:
    if isinstance(operand, PathRef):
        if len(operand.path) != 1:
            raise invalid_expression("KeyConditionExpression", "KeyConditionExpressions cannot have conditions on nested attributes")
        return operand.path[0]  # type: ignore[return-value]
    return None


def _key_conditions(target: Target, condition: Condition) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Each key attribute's condition (operator, operands), checked one by one."""
    conditions: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    types = target.table.attribute_types
    for part in _flatten(condition):
        if isinstance(part, Compare):
            left, right = _key_attribute(part.left), _key_attribute(part.right)
            if left is not None and right is not None:
                raise invalid_expression(
                    "KeyConditionExpression",
                    "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
                )
            if left is None and right is None:
                raise invalid_expression(
                    "KeyConditionExpression", "Invalid condition in KeyConditionExpression: No key attribute specified"
                )
            if part.op == "<>":
                raise invalid_expression("KeyConditionExpression", "Unsupported operator in KeyConditionExpression: <>")
            name, other, op = (left, part.right, part.op) if left is not None else (right, part.left, _FLIP[part.op])
            if not isinstance(other, Value):
                raise invalid_expression("KeyConditionExpression", "KeyConditionExpressions cannot contain size")
            operands = [other.value]
        elif isinstance(part, Between):
            name = _key_attribute(part.operand)
            if name is None or not isinstance(part.low, Value) or not isinstance(part.high, Value):
                raise validation("Query key condition not supported")
            op, operands = "BETWEEN", [part.low.value, part.high.value]
        elif isinstance(part, Function) and part.name == "begins_with":
            name = _key_attribute(part.args[0])
            if name is None or not isinstance(part.args[1], Value):
                raise validation("Query key condition not supported")
            op, operands = "begins_with", [part.args[1].value]
        else:
            operator = part.name if isinstance(part, Function) else type(part).__name__.upper()
            raise invalid_expression(
                "KeyConditionExpression", f"Invalid operator used in KeyConditionExpression: {operator}"
            )
        if name in conditions:
            raise validation("KeyConditionExpressions must only contain one condition per key")
        if name not in target.hash_keys and name not in target.range_keys:
            missing = [h for h in target.hash_keys if h not in conditions]
            raise validation(
                f"Query condition missed key schema element: {missing[0]}" if missing else "Query key condition not supported"
            )
        for value in operands:
            if av.kind_of(value) != types[name]:
                raise invalid_params("Condition parameter type does not match schema type")
        if name in target.hash_keys and op != "=":
            raise validation("Query key condition not supported")
        conditions[name] = (op, operands)
    return conditions


def key_range(target: Target, condition: Condition) -> tuple[dict[str, dict[str, Any]], tuple[bytes, bytes]]:
    """The partition key values (by attribute) and the [start, end) storage range a key condition selects.

    Every partition key attribute needs an equality. Sort key attributes are
    used left to right without gaps (DynamoDB's rule for multi-attribute keys,
    which a single sort key meets trivially): equalities on a prefix of them,
    and any other comparison only on the last one used. The equalities extend
    the storage prefix, and the last comparison bounds the range within it."""
    conditions = _key_conditions(target, condition)
    for name in target.hash_keys:
        if name not in conditions:
            raise validation(f"Query condition missed key schema element: {name}")
    used = [name for name in target.range_keys if name in conditions]
    if used != list(target.range_keys[: len(used)]):
        skipped = next(name for name in target.range_keys if name not in conditions)
        raise validation(f"Query condition missed key schema element: {skipped}")
    if any(conditions[name][0] != "=" for name in used[:-1]):
        raise validation("Query key condition not supported")
    hash_values = {name: conditions[name][1][0] for name in target.hash_keys}
    encode = keycodec.encode_key_value
    partition = b"".join(encode(hash_values[name]) for name in target.hash_keys)
    prefix = keycodec.partition_prefix(target.table.table_id, target.number, partition)
    sort = conditions[used[-1]] if used else None
    prefix += b"".join(encode(conditions[name][1][0]) for name in used[:-1])
    start, end = prefix, keys.prefix_end(prefix)
    if sort is not None:
        op, operands = sort
        if op == "begins_with":
            bound = prefix + keycodec.encode_prefix_value(operands[0])
            start, end = bound, keys.prefix_end(bound)
        else:
            first = prefix + encode(operands[0])
            if op == "=":
                start, end = first, keys.prefix_end(first)
            elif op == "<":
                end = first
            elif op == "<=":
                end = keys.prefix_end(first)
            elif op == ">":
                start = keys.prefix_end(first)
            elif op == ">=":
                start = first
            else:  # BETWEEN
                if av.compare(operands[0], operands[1]) > 0:  # type: ignore[operator]
                    raise invalid_expression(
                        "KeyConditionExpression",
                        "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
                        f"lower bound operand: AttributeValue: {av.describe(operands[0])}, "
                        f"upper bound operand: AttributeValue: {av.describe(operands[1])}",
                    )
                start = first
                end = keys.prefix_end(prefix + encode(operands[1]))
    return hash_values, (start, end)


# -- the page loop ------------------------------------------------------------------------------------


def _exclusive_start(target: Target, raw: Any, hash_values: dict[str, dict[str, Any]] | None) -> bytes | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        raise validation("The provided starting key is invalid")
    start = av.item_from_wire(raw, "ExclusiveStartKey")
    names = target.key_names
    if set(start) != set(names):
        raise validation("The provided starting key is invalid: The provided key element does not match the schema")
    for name in names:
        if av.kind_of(start[name]) != target.table.attribute_types[name]:
            raise validation("The provided starting key is invalid: The provided key element does not match the schema")
    if hash_values is not None and not all(av.equal(start[n], v) for n, v in hash_values.items()):
        raise validation("The provided starting key is outside query boundaries based on provided conditions")
    return target.storage_key(start)


async def read_page(
    service: DynamoDBService,
    target: Target,
    start: bytes,
    end: bytes,
    *,
    consistent: bool,
    forward: bool,
    limit: int | None,
    after: bytes | None,
    filter_condition: Condition | None,
    projection: list[Path] | None,
    select: str,
    scan_filter: Any,
) -> dict[str, Any]:
    if after is not None:
        if forward:
            start = max(start, after + b"\x00")
        else:
            end = min(end, after)
    items: list[Item] = []
    scanned = 0
    read_bytes = 0
    last: Item | None = None
    stopped = False
    tau = service.committer.begin() if consistent else None
    fetch_base = (
        target.index is not None
        and target.index.kind == "LSI"
        and target.index.projection_type != "ALL"
        and (select == "ALL_ATTRIBUTES" or projection is not None or filter_condition is not None)
    )
    if start < end:
        # Ask storage for no more rows than the page can use.
        page_rows = min(limit, PAGE_ROWS_MAX) if limit is not None else PAGE_ROWS_MAX
        pages = service.storage.scan(
            start, end, tau, policy=LEADER if consistent else EVENTUAL, reverse=not forward, filter_tree=scan_filter,
            page_rows=page_rows,
        )
        async with contextlib.aclosing(pages):
            async for page in pages:
                await checkpoint_if_due()  # (cluster/timeslice.py) a 1 MB page is work to cut
                for _, stored in page:
                    item = stored[2]
                    scanned += 1
                    read_bytes += av.item_size(item)
                    if fetch_base:
                        item = await _base_item(service, target, item, tau)
                    if filter_condition is None or evaluate(filter_condition, item):
                        items.append(item if projection is None else project(item, projection))
                    if (limit is not None and scanned >= limit) or read_bytes >= PAGE_BYTES_MAX:
                        last = stored[2]
                        stopped = True
                        break
                if stopped:
                    break
    response: dict[str, Any] = {"Count": len(items), "ScannedCount": scanned}
    if select != "COUNT":
        response["Items"] = [av.item_to_wire(item) for item in items]
    if stopped and last is not None:
        response["LastEvaluatedKey"] = av.item_to_wire(target.last_key(last))
    response["_read_bytes"] = read_bytes
    return response


async def _base_item(service: DynamoDBService, target: Target, entry: Item, tau: int | None) -> Item:
    """An LSI entry with the table's attributes it does not project (fetched from the item)."""
    key = itemkeys.storage_key(target.table, entry)
    (stored,) = await service.storage.get([key], tau, policy=EVENTUAL if tau is None else LEADER)
    return entry if stored is None else stored[2]


def _filter_and_projection(
    request: dict[str, Any], placeholders: Placeholders, filter_legacy: str
) -> tuple[Condition | None, list[Path] | None]:
    """The FilterExpression (or legacy QueryFilter/ScanFilter) and the projection of a Query or Scan."""
    filter_condition: Condition | None = None
    if request.get("FilterExpression") is not None:
        filter_condition = parse_condition(request["FilterExpression"], placeholders, "FilterExpression")
    elif request.get(filter_legacy) is not None:
        filter_condition = legacy.filter_condition(request[filter_legacy], request.get("ConditionalOperator"))
    projection = projection_of(request, placeholders)
    return filter_condition, projection


def _paths_in(condition: Condition | None) -> set[str]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, PathRef):
            names.add(node.path[0])  # type: ignore[arg-type]
        elif hasattr(node, "__slots__"):
            for slot in node.__slots__:
                child = getattr(node, slot)
                if isinstance(child, tuple):
                    for c in child:
                        walk(c)
                else:
                    walk(child)

    walk(condition)
    return names


async def query(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    consistent = params.boolean(request, "ConsistentRead")
    forward = params.boolean(request, "ScanIndexForward", True)
    limit = params.integer(request, "Limit", 1)
    consumed = params.enum(request, "ReturnConsumedCapacity", params.RETURN_CONSUMED, "NONE")
    require_expressions(request, ("KeyConditionExpression", "FilterExpression", "ProjectionExpression"))
    placeholders = Placeholders.from_request(request)
    legacy.check_not_mixed(
        request,
        ("KeyConditions", "QueryFilter", "AttributesToGet", "ConditionalOperator"),
        ("KeyConditionExpression", "FilterExpression", "ProjectionExpression"),
    )
    if request.get("KeyConditionExpression") is not None:
        key_condition = parse_condition(request["KeyConditionExpression"], placeholders, "KeyConditionExpression")
    elif request.get("KeyConditions") is not None:
        key_condition = legacy.key_conditions(request["KeyConditions"])
    else:
        raise validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
    filter_condition, projection = _filter_and_projection(request, placeholders, "QueryFilter")
    placeholders.check_all_used()
    table = await service.catalog.get(request.get("TableName"))
    target = _target(table, request, consistent)
    select = _select(request, target, projection)
    hash_values, (start, end) = key_range(target, key_condition)
    if filter_condition is not None:
        key_attrs = set(target.hash_keys) | set(target.range_keys)
        used = _paths_in(filter_condition) & key_attrs
        if used:
            raise validation(
                f"Filter Expression can only contain non-primary key attributes: Primary key attribute: {sorted(used)[0]}"
            )
    after = _exclusive_start(target, request.get("ExclusiveStartKey"), hash_values)
    scan_filter = None  # a Query's prefix holds only this table's keys
    response = await read_page(
        service, target, start, end,
        consistent=consistent, forward=forward, limit=limit, after=after,
        filter_condition=filter_condition, projection=projection, select=select, scan_filter=scan_filter,
    )  # fmt: skip
    return _finish(response, table, target, consumed, consistent)


def _finish(response: dict[str, Any], table: TableSchema, target: Target, consumed: str, consistent: bool) -> dict[str, Any]:
    read_bytes = response.pop("_read_bytes")
    if consumed != "NONE":
        capacity = params.Capacity(table, consumed)
        capacity.add_read(params.read_units(read_bytes, consistent), None if target.index is None else target.index.name)
        capacity.attach(response)
    return response


async def scan(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    consistent = params.boolean(request, "ConsistentRead")
    limit = params.integer(request, "Limit", 1)
    consumed = params.enum(request, "ReturnConsumedCapacity", params.RETURN_CONSUMED, "NONE")
    segment = params.integer(request, "Segment", 0, TOTAL_SEGMENTS_MAX - 1)
    total = params.integer(request, "TotalSegments", 1, TOTAL_SEGMENTS_MAX)
    if segment is not None and total is None:
        raise validation(
            "The TotalSegments parameter is required but was not present in the request when Segment parameter is present"
        )
    if total is not None and segment is None:
        raise validation(
            "The Segment parameter is required but was not present in the request when parameter TotalSegments is present"
        )
    if segment is not None and total is not None and segment >= total:
        raise validation(
            "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
            f"Segment: {segment} is out of bounds for TotalSegments: {total}"
        )
    require_expressions(request, ("FilterExpression", "ProjectionExpression"))
    placeholders = Placeholders.from_request(request)
    legacy.check_not_mixed(
        request, ("ScanFilter", "AttributesToGet", "ConditionalOperator"), ("FilterExpression", "ProjectionExpression")
    )
    filter_condition, projection = _filter_and_projection(request, placeholders, "ScanFilter")
    placeholders.check_all_used()
    table = await service.catalog.get(request.get("TableName"))
    target = _target(table, request, consistent)
    select = _select(request, target, projection)
    if segment is not None and total is not None:
        start, end = keycodec.segment_bounds(segment, total)
    else:
        start, end = keycodec.NS, keycodec.NS_END
    after = _exclusive_start(target, request.get("ExclusiveStartKey"), None)
    if after is not None and not start <= after < end:
        raise validation(
            "The provided Exclusive start key does not map to the provided Segment and TotalSegments values."
        )
    scan_filter = ("and", ("cmp", "=", 0, table.table_id), ("cmp", "=", 1, target.number))
    response = await read_page(
        service, target, start, end,
        consistent=consistent, forward=True, limit=limit, after=after,
        filter_condition=filter_condition, projection=projection, select=select, scan_filter=scan_filter,
    )  # fmt: skip
    return _finish(response, table, target, consumed, consistent)
