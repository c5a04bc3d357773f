"""CREATE, ALTER and DROP SEQUENCE (the values themselves are qp/ddl/sequences.py's)."""

from __future__ import annotations

from dataclasses import replace

from qp.bind.context import BindContext
from qp.bind.ddl.names import check_name, creation_schema_of, relation_display, schema_of, search_schema
from qp.catalog.stored import (
    NEXT_OID_KEY,
    VERSION_KEY,
    CatalogSnapshot,
)
from qp.ddl.common import DdlResult, catalog_counters
from qp.ddl.sequences import sequence_options, with_owner
from qp.ddl.temp_objects import name_taken
from qp.errors import SqlError
from qp.parse.parser import string_list
from qp.pgcatalog.search_path import USER_SCHEMA, schema_oids


async def create_sequence(
    body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None
) -> DdlResult:
    relation = body["sequence"]
    name = check_name(relation["relname"])
    schema = USER_SCHEMA if relation.get("relpersistence") == "t" else creation_schema_of(relation, bc)
    if name_taken(catalog, name, schema, txn):  # a TEMP one runs in temp_mode (qp/ddl/temp_objects.py)
        if body.get("if_not_exists"):
            return DdlResult("CREATE SEQUENCE", [f'relation "{name}" already exists, skipping'])
        raise SqlError("42P07", f'relation "{name}" already exists')
    version, next_oid = await catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    definition, _, owned = sequence_options(body.get("options", []), name=name, oid=oid)
    definition = replace(definition, schema=schema)
    if owned and owned != ["none"]:
        definition = _owner(definition, owned, catalog, bc)
    txn.put(definition.descriptor_key, definition.to_record())
    txn.put(VERSION_KEY, version + 1)
    txn.put(NEXT_OID_KEY, oid + 1)
    txn.catalog_version_written = version + 1
    txn.ddl_count += 1
    return DdlResult("CREATE SEQUENCE")


def _owner(definition, owned: list[str], catalog: CatalogSnapshot, bc: BindContext | None):
    if len(owned) < 2:
        raise SqlError(
            "42601", "invalid OWNED BY option", hint="Specify OWNED BY table.column or OWNED BY NONE."
        )
    where = search_schema(owned[-3] if len(owned) > 2 else None, bc, owned[-2])
    table = catalog.find_table(owned[-2], where) if where else None
    if table is None:
        raise SqlError("42P01", f'relation "{".".join(owned[:-1])}" does not exist')
    column = table.column_index(owned[-1])
    if column is None:
        raise SqlError("42703", f'column "{owned[-1]}" of relation "{table.name}" does not exist')
    return with_owner(definition, table.oid, column)


async def alter_sequence(
    body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None
) -> DdlResult:
    relation = body["sequence"]
    where = search_schema(schema_of(relation), bc, relation["relname"], missing_ok=body.get("missing_ok", False))
    sequence = catalog.find_sequence(relation["relname"], where) if where else None
    if sequence is None:
        if body.get("missing_ok"):
            return DdlResult("ALTER SEQUENCE", [f'relation "{relation_display(relation)}" does not exist, skipping'])
        raise SqlError("42P01", f'relation "{relation_display(relation)}" does not exist')
    definition, restart, owned = sequence_options(
        body.get("options", []), name=sequence.name, oid=sequence.oid, base=sequence
    )
    definition = replace(definition, schema=sequence.schema)
    if owned is not None:
        definition = (
            replace(definition, owned_by=None)
            if owned == ["none"]
            else _owner(definition, owned, catalog, bc)
        )
    version, _ = await catalog_counters(txn)
    txn.put(definition.descriptor_key, definition.to_record())
    if restart is not None:
        txn.put(definition.state_key, definition.start if restart == -1 else restart)
    txn.put(VERSION_KEY, version + 1)
    txn.catalog_version_written = version + 1
    txn.ddl_count += 1
    result = DdlResult("ALTER SEQUENCE")
    result.sequence_oid = sequence.oid
    return result


async def drop_sequences(
    body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None
) -> DdlResult:
    notices = []
    dropping = []
    for obj in body.get("objects", ()):
        names = string_list(obj["List"]["items"]) if "List" in obj else string_list([obj])
        missing_ok = body.get("missing_ok", False)
        if len(names) > 1 and missing_ok and names[-2] not in schema_oids(catalog):
            notices.append(f'schema "{names[-2]}" does not exist, skipping')
            continue
        where = search_schema(names[-2] if len(names) > 1 else None, bc, names[-1])
        sequence = catalog.find_sequence(names[-1], where) if where else None
        if sequence is None:
            if missing_ok:
                notices.append(f'sequence "{".".join(names[-2:])}" does not exist, skipping')
                continue
            raise SqlError("42P01", f'sequence "{".".join(names[-2:])}" does not exist')
        for table in catalog.tables.values():
            for column in table.columns:
                if column.sequence_oid == sequence.oid and not column.dropped:
                    raise SqlError(
                        "2BP01",
                        f"cannot drop sequence {sequence.name} because other objects depend on it",
                        detail=f"default value for column {column.name} of table {table.name} depends on sequence "
                        f"{sequence.name}",
                        hint="Use DROP ... CASCADE to drop the dependent objects too.",
                    )
        dropping.append(sequence)
    if dropping:
        version, _ = await catalog_counters(txn)
        for sequence in dropping:
            txn.put(sequence.descriptor_key, None)
            txn.put(sequence.state_key, None)
        txn.put(VERSION_KEY, version + 1)
        txn.catalog_version_written = version + 1
        txn.ddl_count += 1
    return DdlResult("DROP SEQUENCE", notices)
