"""The control plane: tables, indexes, TTL settings and tags.

Every change is a transaction on the table's metadata record (see
`catalog`), so concurrent changes to one table serialise through the
adjudicator: one wins, the other retries against the new record (or finds
the table gone, or already there). Tables are ACTIVE as soon as CreateTable
returns, as in DynamoDB Local; a GSI added by UpdateTable is CREATING until
its background backfill is done, as in DynamoDB.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kv.dynamodb import catalog as cat
from kv.dynamodb import params, streams
from kv.dynamodb.errors import DynamoError, in_use, invalid_params, not_found, table_not_found, validation
from kv.dynamodb.schema import TableSchema
from kv.dynamodb.table_requests import (
    GSI_MAX,
    KEY_TYPES,
    TABLE_NAME_PATTERN,
    already_exists,
    check_key_attribute_name,
    check_projected_count,
    check_stream,
    check_table_name,
    check_tag_count,
    check_tag_key,
    check_tags,
    index_from_request,
    table_from_request,
)
from kv.dynamodb.txn import with_retries

if TYPE_CHECKING:
    from collections.abc import Callable

    from kv.dynamodb.service import DynamoDBService

TABLES_MAX = 2500  # DynamoDB's default per-account, per-Region table quota
LIST_TABLES_LIMIT_MAX = 100


async def create_table(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    # Check the whole request before touching storage (a bad request changes nothing).
    proposed = table_from_request(request, 0, time.time(), service.region, service.account)
    name = proposed.name
    key = cat.table_key(name)

    async def attempt() -> TableSchema:
        tau_start = service.committer.begin()
        existing, next_id = await service.storage.get([key, cat.NEXT_TABLE_ID_KEY], tau_start)
        if existing is not None:
            raise already_exists(name)
        table_id = next_id or 1
        schema = replace(proposed, table_id=table_id)
        writes = [(key, schema.to_record()), (cat.NEXT_TABLE_ID_KEY, table_id + 1)]
        if proposed.stream is not None:
            spec = streams.new_stream(proposed.stream["StreamViewType"], tau_start, service.stream_shard_ns, None)
            schema = replace(schema, stream=spec)
            info_key = streams.info_key(streams.stream_arn(schema.arn, spec["label"]))
            writes = [(key, schema.to_record()), writes[1], (info_key, streams.info_record(schema, spec))]
        await service.committer.commit(tau_start, writes, [k for k, _ in writes])
        return schema

    if len(await service.catalog.list_tables(eventual=True)) >= TABLES_MAX:
        raise DynamoError("LimitExceededException", f"Subscriber limit exceeded: tables per account ({TABLES_MAX})")
    schema = await with_retries(attempt, service.rng)
    service.catalog.remember(schema, name)
    return {"TableDescription": schema.describe()}


async def describe_table(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    name = check_table_name(request.get("TableName"))
    table = await service.catalog.get(name, describe_style=True)
    counts = await service.maintenance.counts(table)
    return {"Table": table.describe(counts=counts)}


async def list_tables(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    limit = params.integer(request, "Limit", 1, LIST_TABLES_LIMIT_MAX) or LIST_TABLES_LIMIT_MAX
    start = request.get("ExclusiveStartTableName")
    if start is not None:
        check_table_name(start, "exclusiveStartTableName")
    names = [t.name for t in await service.catalog.list_tables()]
    if start is not None:
        names = [n for n in names if n > start]
    response: dict[str, Any] = {"TableNames": names[:limit]}
    if len(names) > limit:
        response["LastEvaluatedTableName"] = names[limit - 1]
    return response


async def modify_table(
    service: DynamoDBService,
    name: str,
    change: Callable[[TableSchema], tuple[TableSchema | None, list[tuple[bytes, Any]]]],
) -> tuple[TableSchema, TableSchema | None]:
    """Apply `change` to the table's current record in one transaction; returns (before, after).

    A change that ends the table's stream also marks the stream's end at the commit's own τ
    (see streams.end_mark)."""
    key = cat.table_key(name)

    async def attempt() -> tuple[TableSchema, TableSchema | None]:
        tau_start = service.committer.begin()
        (record,) = await service.storage.get([key], tau_start)
        if record is None:
            raise table_not_found(name)
        before = TableSchema.from_record(record)
        after, extra = change(before)
        writes = [(key, None if after is None else after.to_record()), *extra]
        ending = streams.enabled_stream(before)
        stamped = []
        if ending is not None and (after is None or after.stream is None or after.stream.get("id") != ending["id"]
                                   or not after.stream.get("StreamEnabled")):  # fmt: skip
            stamped.append(streams.end_mark(bytes.fromhex(ending["id"])))
        await service.committer.commit(tau_start, writes, [k for k, _ in writes], stamped=stamped)
        return before, after

    before, after = await with_retries(attempt, service.rng)
    service.catalog.remember(after, name)
    return before, after


def _disable_stream(service: DynamoDBService, table: TableSchema) -> list[tuple[bytes, Any]]:
    """The write that ends the table's enabled stream now (none if it has none)."""
    spec = streams.enabled_stream(table)
    if spec is None:
        return []
    arn = streams.stream_arn(table.arn, spec["label"])
    return [(streams.info_key(arn), streams.info_record(table, spec, disabled_ns=service.clock.now().latest))]


async def delete_table(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    name = check_table_name(request.get("TableName"))

    def change(table: TableSchema) -> tuple[TableSchema | None, list[tuple[bytes, Any]]]:
        if table.deletion_protection:
            raise in_use(
                "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first."
            )
        marker = {"table_id": table.table_id, "index": cat.WHOLE_TABLE, "at": time.time(), "name": table.name}
        extra: list[tuple[bytes, Any]] = [(cat.dropped_key(table.table_id, cat.WHOLE_TABLE), marker)]
        # The table's stream ends with it, and stays readable for the retention period.
        extra += _disable_stream(service, table)
        return None, extra

    before, _ = await modify_table(service, name, change)
    service.maintenance.forget_counts(before.table_id)
    return {"TableDescription": before.describe(status="DELETING")}


async def update_table(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    name = check_table_name(request.get("TableName"))
    updates = request.get("GlobalSecondaryIndexUpdates")
    billing = request.get("BillingMode")
    throughput = request.get("ProvisionedThroughput")
    stream = request.get("StreamSpecification")
    table_class = request.get("TableClass")
    protection = request.get("DeletionProtectionEnabled")
    definitions = request.get("AttributeDefinitions")
    if all(
        v is None
        for v in (updates, billing, throughput, stream, table_class, protection, request.get("SSESpecification"))
    ):
        raise validation(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates "
            "or SSESpecification or ReplicaUpdates is required"
        )
    if billing is not None and billing not in ("PROVISIONED", "PAY_PER_REQUEST"):
        raise validation(
            f"1 validation error detected: Value '{billing}' at 'billingMode' failed to satisfy constraint: "
            "Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
        )
    if updates is not None and (not isinstance(updates, list) or not updates):
        raise validation("GlobalSecondaryIndexUpdates must not be empty")
    new_types: dict[str, str] = {}
    for definition in definitions or []:
        kind = definition.get("AttributeType")
        if kind not in KEY_TYPES:
            raise validation(
                f"1 validation error detected: Value '{kind}' at 'attributeDefinitions.member.attributeType' "
                "failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"
            )
        new_types[check_key_attribute_name(definition["AttributeName"], "attributeDefinitions.member.attributeName")] = kind
    creates = [u["Create"] for u in updates or [] if isinstance(u, dict) and "Create" in u]
    deletes = [u["Delete"] for u in updates or [] if isinstance(u, dict) and "Delete" in u]
    changes = [u["Update"] for u in updates or [] if isinstance(u, dict) and "Update" in u]
    if len(creates) + len(deletes) > 1:
        raise DynamoError(
            "LimitExceededException",
            "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table",
        )
    now = time.time()
    created_index: list[int] = []

    def change(table: TableSchema) -> tuple[TableSchema | None, list[tuple[bytes, Any]]]:
        extra: list[tuple[bytes, Any]] = []
        indexes = list(table.indexes)
        types = dict(table.attribute_types)
        for attr, kind in new_types.items():
            if attr in types and types[attr] != kind and any(attr in i.key_names for i in indexes) | (
                attr in table.key_names
            ):
                raise invalid_params(f"Cannot change the type of attribute {attr}: it is a key attribute")
            types[attr] = kind
        mode = billing or table.billing_mode
        provisioned = table.provisioned
        if billing == "PAY_PER_REQUEST":
            if throughput is not None:
                raise invalid_params(
                    "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"
                )
            provisioned = (0, 0)
        elif throughput is not None:
            if mode == "PAY_PER_REQUEST":
                raise validation(
                    "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be "
                    "specified when BillingMode is PAY_PER_REQUEST"
                )
            provisioned = (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"])
        elif billing == "PROVISIONED" and table.billing_mode != "PROVISIONED":
            raise invalid_params(
                "ProvisionedThroughput must be specified when BillingMode is PROVISIONED"
            )
        next_number = table.next_index_number
        for raw in creates:
            if sum(1 for i in indexes if i.kind == "GSI") >= GSI_MAX:
                raise DynamoError("LimitExceededException", f"GSI count exceeds the limit of {GSI_MAX}")
            if next_number > 254:
                raise DynamoError("LimitExceededException", "Too many indexes have been created on this table")
            index = index_from_request(raw, "GSI", next_number, mode, table.hash_key, table.range_key)
            if any(i.name == index.name for i in indexes):
                raise invalid_params(f"Index with name {index.name} already exists")  # DynamoDB wording differs slightly
            for attr in index.key_names:
                if attr not in types:
                    raise invalid_params(
                        "Some index key attributes are not defined in AttributeDefinitions. "
                        f"Keys: [{', '.join(index.key_names)}], AttributeDefinitions: [{', '.join(types)}]"
                    )
            index = replace(index, status="CREATING")
            indexes.append(index)
            check_projected_count(indexes)
            next_number += 1
            created_index.append(index.number)
        for raw in deletes:
            index_name = raw.get("IndexName") if isinstance(raw, dict) else None
            victim = next((i for i in indexes if i.name == index_name and i.kind == "GSI"), None)
            if victim is None:
                raise not_found(f"Requested resource not found: Index: {index_name} not found")
            indexes.remove(victim)
            marker = {"table_id": table.table_id, "index": victim.number, "at": now, "name": table.name}
            extra.append((cat.dropped_key(table.table_id, victim.number), marker))
        for raw in changes:
            index_name = raw.get("IndexName") if isinstance(raw, dict) else None
            position = next((n for n, i in enumerate(indexes) if i.name == index_name and i.kind == "GSI"), None)
            if position is None:
                raise not_found(f"Requested resource not found: Index: {index_name} not found")
            raw_throughput = raw.get("ProvisionedThroughput") or {}
            indexes[position] = replace(
                indexes[position],
                provisioned=(raw_throughput.get("ReadCapacityUnits", 0), raw_throughput.get("WriteCapacityUnits", 0)),
            )
        used = set(table.key_names)
        for index in indexes:
            used.update(index.key_names)
        types = {attr: kind for attr, kind in types.items() if attr in used}
        new_stream = table.stream
        if stream is not None:
            checked = check_stream(stream)
            enabled = bool(table.stream and table.stream.get("StreamEnabled"))
            if checked is not None and enabled:
                raise validation(f"Table already has an enabled stream: {table.arn}")
            if checked is None and not enabled:
                raise validation("Table already has no stream enabled")  # DynamoDB: "Stream already disabled"
            if checked is None:
                assert table.stream is not None
                extra += _disable_stream(service, table)
                new_stream = {**table.stream, "StreamEnabled": False}
            else:
                # Enabling (again) makes a new stream, with its own label and ARN.
                previous = table.stream.get("label") if table.stream else None
                new_stream = streams.new_stream(
                    checked["StreamViewType"], service.clock.now().latest, service.stream_shard_ns, previous
                )
                arn = streams.stream_arn(table.arn, new_stream["label"])
                # Processes that cached the table without its stream write no records until
                # they re-read it, within catalog.CACHE_TTL_S: the stream is ENABLING until then.
                ready_ns = new_stream["created_ns"] + round((cat.CACHE_TTL_S + 0.5) * 1e9)
                extra.append((streams.info_key(arn), streams.info_record(table, new_stream, ready_ns=ready_ns)))
        return (
            table.changed(
                indexes=tuple(indexes),
                attribute_types=types,
                billing_mode=mode,
                provisioned=provisioned,
                next_index_number=next_number,
                stream=new_stream,
                table_class=table_class or table.table_class,
                deletion_protection=table.deletion_protection if protection is None else bool(protection),
                billing_updated=now if billing and billing != table.billing_mode else table.billing_updated,
            ),
            extra,
        )

    _, after = await modify_table(service, name, change)
    assert after is not None
    for number in created_index:
        service.maintenance.schedule_backfill(after.name, after.table_id, number)
    return {"TableDescription": after.describe(counts=await service.maintenance.counts(after))}


# -- TTL ---------------------------------------------------------------------------------------------


async def update_time_to_live(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    name = check_table_name(request.get("TableName"))
    spec = request.get("TimeToLiveSpecification")
    if not isinstance(spec, dict) or not isinstance(spec.get("Enabled"), bool) or not isinstance(
        spec.get("AttributeName"), str
    ):
        raise validation(
            "1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null"
        )
    enabled, attribute = spec["Enabled"], spec["AttributeName"]
    if not attribute or len(attribute) > 255:
        raise validation("TimeToLiveSpecification AttributeName must be between 1 and 255 characters")

    def change(table: TableSchema) -> tuple[TableSchema | None, list[tuple[bytes, Any]]]:
        if enabled and table.ttl_attribute is not None:
            raise validation("TimeToLive is already enabled")
        if not enabled and table.ttl_attribute is None:
            raise validation("TimeToLive is already disabled")
        if not enabled and table.ttl_attribute != attribute:
            raise validation(
                f"TimeToLive is active on a different AttributeName: current AttributeName is {table.ttl_attribute}"
            )
        return table.changed(ttl_attribute=attribute if enabled else None, ttl_updated=time.time()), []

    await modify_table(service, name, change)
    return {"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute}}


async def describe_time_to_live(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    name = check_table_name(request.get("TableName"))
    table = await service.catalog.get(name, describe_style=True)
    if table.ttl_attribute is None:
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
    return {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": table.ttl_attribute}}


# -- tags -------------------------------------------------------------------------------------------

TAGS_PAGE_MAX = 10  # ListTagsOfResource pages this many (DynamoDB documents paging but no size)


def _table_of_arn(arn: Any, operation: str) -> str:
    """The table name in a table ARN. Something that is no ARN at all is refused as
    DynamoDB's IAM check refuses it; the ARN of an index (or anything but a table)
    with DynamoDB's ValidationException (both as recorded by the Alternator suite's
    test_tag.py, run against DynamoDB)."""
    if not isinstance(arn, str) or not arn:
        raise validation(
            "1 validation error detected: Value null at 'resourceArn' failed to satisfy constraint: Member must not be null"
        )
    if not arn.startswith("arn:"):
        raise DynamoError("AccessDeniedException", f"User is not authorized to perform: dynamodb:{operation} on resource: {arn}")
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "dynamodb" or not parts[5].startswith("table/") or "/" in parts[5][6:]:
        raise validation(f"Invalid TableArn: Invalid ResourceArn provided as input {arn}")
    return parts[5][6:]


async def _tagged_table(service: DynamoDBService, arn: Any, operation: str) -> TableSchema:
    name = _table_of_arn(arn, operation)
    table = await service.catalog.find(name) if TABLE_NAME_PATTERN.fullmatch(name) else None
    if table is None or table.arn != arn:
        raise not_found(f"Requested resource not found: ResourcArn: {arn} not found")
    return table


async def tag_resource(service: DynamoDBService, request: dict[str, Any]) -> None:
    raw = request.get("Tags")
    if not isinstance(raw, list) or not raw:
        raise validation("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null"
                         if raw is None else "One or more parameter values were invalid: Tags cannot be empty")  # fmt: skip
    new_tags = check_tags(raw)
    table = await _tagged_table(service, request.get("ResourceArn"), "TagResource")

    def change(current: TableSchema) -> tuple[TableSchema | None, list[tuple[bytes, Any]]]:
        tags = dict(current.tags)
        tags.update(new_tags)  # a key already there takes the new value
        check_tag_count(len(tags))
        return current.changed(tags=tuple(tags.items())), []

    await modify_table(service, table.name, change)
    return None


async def untag_resource(service: DynamoDBService, request: dict[str, Any]) -> None:
    keys = request.get("TagKeys")
    if not isinstance(keys, list):
        raise validation("1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
    removing = {check_tag_key(key, f"tagKeys.{i}.member") for i, key in enumerate(keys, 1)}
    table = await _tagged_table(service, request.get("ResourceArn"), "UntagResource")

    def change(current: TableSchema) -> tuple[TableSchema | None, list[tuple[bytes, Any]]]:
        # Keys the table does not have are no error (DynamoDB, per test_tag.py).
        return current.changed(tags=tuple((k, v) for k, v in current.tags if k not in removing)), []

    await modify_table(service, table.name, change)
    return None


async def list_tags_of_resource(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    """The table's tags in key order, TAGS_PAGE_MAX a page; NextToken is the last key given."""
    table = await _tagged_table(service, request.get("ResourceArn"), "ListTagsOfResource")
    after = request.get("NextToken")
    if after is not None and (not isinstance(after, str) or not after):
        raise validation("Invalid NextToken")
    tags = sorted(table.tags)
    if after is not None:
        tags = [(k, v) for k, v in tags if k > after]
    out: dict[str, Any] = {"Tags": [{"Key": k, "Value": v} for k, v in tags[:TAGS_PAGE_MAX]]}
    if len(tags) > TAGS_PAGE_MAX:
        out["NextToken"] = tags[TAGS_PAGE_MAX - 1][0]
    return out


# -- the rest of the control plane clients ask for ---------------------------------------------------


async def describe_limits(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    return {
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000,
    }


async def describe_endpoints(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    return {"Endpoints": [{"Address": f"dynamodb.{service.region}.amazonaws.com", "CachePeriodInMinutes": 1440}]}


async def describe_continuous_backups(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    name = check_table_name(request.get("TableName"))
    if await service.catalog.find(name) is None:
        raise DynamoError("TableNotFoundException", f"Table not found: {name}")
    return {
        "ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
        }
    }
