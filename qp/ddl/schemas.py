"""CREATE SCHEMA (with its nested elements), DROP SCHEMA and ALTER SCHEMA.

A schema is a catalog record (`SchemaDef`) like a table's; the objects in it
name it by name. The system's schemas and `public` are not stored and always
exist (qp/pgcatalog/search_path.py's `schema_oids`).

CREATE SCHEMA runs its nested elements in the same transaction, in the order
PostgreSQL's transformCreateSchemaStmt gives them (sequences, tables, views,
indexes, grants), each against the catalog as the elements before it left it
in the transaction's buffer, and with the new schema first on the search path
(PostgreSQL pushes it for the elements). Each element goes through the same
dispatch as the statement would on its own (`run_element`), so what an element
supports is what the statement supports.

DROP SCHEMA ... CASCADE drops what the schema holds through the statements that
drop each kind (DROP TABLE's path removes the rows' key ranges), one kind after
the other against the catalog as the previous step left it. RESTRICT refuses a
schema that holds anything, listing it as PostgreSQL's dependency report does.

Every step bumps the catalog version, so a concurrent DDL (say, a CREATE TABLE
in the schema being dropped) conflicts with it at commit (OC001).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from qp.api import Notice
from qp.bind.context import BindContext
from qp.bind.ddl.names import relation_display, search_schema
from qp.bind.ddl.schemas import (
    MOVABLE,
    SCHEMAS_MAX,
    SYSTEM_SCHEMAS,
    authorization_role,
    check_schema_name,
    ordered_elements,
    schema_contents,
    schema_exists,
    user_schema,
)
from qp.bind.ddl.sequences import bind_drop_sequences
from qp.catalog.stored import (
    NEXT_OID_KEY,
    RELATION_PREFIX,
    VERSION_KEY,
    CatalogSnapshot,
    SchemaDef,
    comment_key,
)
from qp.catalog.temp_keys import TEMP_RELATIONS_START
from qp.ddl.common import DdlResult, bump_version, catalog_counters, write_catalog
from qp.ddl.domains import drop_domains
from qp.ddl.sequence_statements import apply_drop_sequences
from qp.ddl.statistics import drop_statistics
from qp.ddl.tables import drop
from qp.errors import SqlError
from qp.frontend.settings import DEFAULTS
from qp.functions.strings import quote_ident
from qp.pgcatalog.search_path import USER_SCHEMA

# (kind, element's parse tree, catalog, bind context, element's text) -> its result
RunElement = Callable[[str, dict, CatalogSnapshot, BindContext, str], Awaitable[DdlResult]]


async def read_catalog(txn) -> CatalogSnapshot:
    """The catalog as this transaction's buffer has it (its own DDL included).
    Never cached: what it holds is not committed."""
    version, next_oid = await txn.get([VERSION_KEY, NEXT_OID_KEY], catalog_check=False)
    rows: list = []
    # Up to the temporary descriptors, as qp/catalog/cache.py reads it: those are the session's.
    async for page in txn.scan(RELATION_PREFIX, TEMP_RELATIONS_START, catalog_check=False):
        rows += page
    return CatalogSnapshot.from_rows(version or 0, rows, next_oid or 0)


async def create_schema(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext, user: str,
                        run_element: RunElement, source: str = "", end: int = 0,
                        created: Callable[[], None] | None = None) -> DdlResult:  # fmt: skip
    """CREATE SCHEMA [IF NOT EXISTS] name [AUTHORIZATION role] [elements...]; `source` is the
    query string the statement came in, which ends at byte `end` of it; `created` runs once
    the schema's record is written, before the elements."""
    owner_spec = body.get("authrole")
    if owner_spec is not None:
        role_name, owner = authorization_role(owner_spec, catalog, user)
    else:
        role_name, owner = authorization_role({"roletype": "ROLESPEC_CURRENT_USER"}, catalog, user)
    name = check_schema_name(body.get("schemaname") or role_name)  # reserved names first, as PostgreSQL
    if schema_exists(catalog, name):
        if body.get("if_not_exists"):
            return DdlResult("CREATE SCHEMA", [f'schema "{name}" already exists, skipping'])
        raise SqlError("42P06", f'schema "{name}" already exists')
    if len(catalog.schemas) + 1 >= SCHEMAS_MAX:  # + 1: public
        raise SqlError("54000", f"more than {SCHEMAS_MAX} schemas not allowed")
    elements = ordered_elements(body.get("schemaElts", ()), name, source.encode(), end)
    version, next_oid = await catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    schema = SchemaDef(oid, name, owner)
    txn.put(schema.descriptor_key, schema.to_record())
    bump_version(txn, version, oid + 1)
    if created is not None:
        created()
    result = DdlResult("CREATE SCHEMA")
    if not elements:
        return result
    settings = bc.eval_ctx.settings
    saved = settings.get("search_path")
    # The elements see the new schema first, then the session's path (PostgreSQL
    # pushes an override path for them).
    settings["search_path"] = f"{quote_ident(name)}, {saved if saved is not None else _default_path()}"
    try:
        for kind, element, text in elements:
            current = await read_catalog(txn)
            element_bc = BindContext(
                current, bc.eval_ctx, resolve_special_relation=bc.resolve_special_relation
            )
            done = await run_element(kind, element, current, element_bc, text)
            result.notices += done.notices
            result.followups += done.followups
    finally:
        if saved is None:
            settings.pop("search_path", None)
        else:
            settings["search_path"] = saved
    return result


def _default_path() -> str:
    return DEFAULTS["search_path"]


# -- DROP SCHEMA ------------------------------------------------------------------------------------


async def drop_schemas(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext) -> DdlResult:
    """DROP SCHEMA [IF EXISTS] name [, ...] [CASCADE | RESTRICT]."""
    notices: list[Any] = []
    names = []
    for node in body.get("objects", ()):
        name = node["String"]["sval"]
        if name in SYSTEM_SCHEMAS:
            raise SqlError(
                "2BP01", f"cannot drop schema {name} because it is required by the database system"
            )
        if name == USER_SCHEMA:
            raise SqlError("0A000", "DROP SCHEMA public is not supported: dsql keeps schema public always")
        if name not in catalog.schemas:
            if body.get("missing_ok"):
                notices.append(f'schema "{name}" does not exist, skipping')
                continue
            raise SqlError("3F000", f'schema "{name}" does not exist')
        if name not in names:
            names.append(name)
    if not names:
        return DdlResult("DROP SCHEMA", notices)
    contents = [(oid, kind, f"{quote_ident(schema)}.{quote_ident(obj)}", schema)
                for schema in names for oid, kind, obj in schema_contents(catalog, schema)]  # fmt: skip
    cascade = body.get("behavior") == "DROP_CASCADE"
    if contents and not cascade:
        lines = [f"{kind} {shown} depends on schema {schema}" for _, kind, shown, schema in contents]
        raise SqlError(
            "2BP01",
            f"cannot drop schema {names[0]} because other objects depend on it",
            detail="\n".join(lines),
            hint="Use DROP ... CASCADE to drop the dependent objects too.",
        )
    if contents:
        lines = [f"drop cascades to {kind} {shown}" for _, kind, shown, _ in contents]
        if len(lines) == 1:
            notices.append(lines[0])
        else:
            notices.append(Notice(f"drop cascades to {len(lines)} other objects", detail="\n".join(lines)))
        current = catalog
        for step in ("table", "view", "sequence", "statistics object", "type"):
            targets = [(schema, obj) for schema in names for oid, kind, obj in schema_contents(current, schema)
                       if kind == step]  # fmt: skip
            if targets:
                await _drop_kind(step, targets, txn, current, bc)
                current = await read_catalog(txn)
    version, _ = await catalog_counters(txn)
    for name in names:
        schema = catalog.schemas[name]
        txn.put(schema.descriptor_key, None)
        txn.put(comment_key(schema.oid, 0), None)
    bump_version(txn, version, None)
    return DdlResult("DROP SCHEMA", notices)


_DROP_TYPES = {"table": "OBJECT_TABLE", "view": "OBJECT_VIEW", "sequence": "OBJECT_SEQUENCE",
               "statistics object": "OBJECT_STATISTIC_EXT", "type": "OBJECT_DOMAIN"}  # fmt: skip


async def _drop_kind(kind: str, targets: list[tuple[str, str]], txn, catalog: CatalogSnapshot,
                     bc: BindContext) -> None:  # fmt: skip
    """Drop `targets` (schema, name) of one kind through that kind's own DROP, with CASCADE."""
    step_bc = BindContext(catalog, bc.eval_ctx, resolve_special_relation=bc.resolve_special_relation)
    lists = [{"List": {"items": [{"String": {"sval": s}}, {"String": {"sval": n}}]}} for s, n in targets]
    if kind == "type":
        # Domains are dropped by DROP DOMAIN (qp/ddl/domains.py), which refuses a
        # domain still in use by a column of a table in another schema.
        objects = [
            {"TypeName": {"names": [{"String": {"sval": s}}, {"String": {"sval": n}}]}} for s, n in targets
        ]
        drop_body = {"objects": objects, "removeType": _DROP_TYPES[kind], "behavior": "DROP_CASCADE"}
        await drop_domains(drop_body, txn, catalog, step_bc)
        return
    drop_body = {"objects": lists, "removeType": _DROP_TYPES[kind], "behavior": "DROP_CASCADE"}
    if kind == "statistics object":
        await drop_statistics(drop_body, txn, catalog, step_bc)
    elif kind == "sequence":
        await apply_drop_sequences(bind_drop_sequences(drop_body, catalog, step_bc), txn)
    else:
        await drop(drop_body, txn, catalog, step_bc)


# -- ALTER SCHEMA -----------------------------------------------------------------------------------


async def rename_schema(body: dict, txn, catalog: CatalogSnapshot) -> DdlResult:
    """ALTER SCHEMA name RENAME TO new: the schema's record and those of every object in it."""
    name, new_name = body["subname"], body["newname"]
    schema = user_schema(catalog, name)
    if schema_exists(catalog, new_name):
        raise SqlError("42P06", f'schema "{new_name}" already exists')
    check_schema_name(new_name)
    version, _ = await catalog_counters(txn)
    txn.put(schema.descriptor_key, replace(schema, name=new_name).to_record())
    for group in (catalog.tables, catalog.views, catalog.sequences, catalog.domains, catalog.statistics):
        for obj in group.values():
            if obj.schema == name:
                txn.put(obj.descriptor_key, replace(obj, schema=new_name).to_record())
    for table in catalog.tables.values():
        if table.schema == name:
            txn.put(table.schema_key, version + 1)  # its writers planned against the old name
    for view in catalog.views.values():
        if view.search_path and name in view.search_path:
            path = tuple(new_name if s == name else s for s in view.search_path)
            txn.put(
                view.descriptor_key,
                replace(
                    view, search_path=path, schema=new_name if view.schema == name else view.schema
                ).to_record(),
            )
    bump_version(txn, version, None)
    return DdlResult("ALTER SCHEMA")


# -- ALTER TABLE / VIEW / SEQUENCE ... SET SCHEMA --------------------------------------------------

async def set_schema(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext) -> DdlResult:
    """ALTER TABLE | VIEW | SEQUENCE [IF EXISTS] name SET SCHEMA new: the object moves, a
    table with its indexes and the sequences its columns own (PostgreSQL's
    AlterTableNamespace). dsql's views name what they read, so an object a view reads
    stays where it is (0A000), as it does for RENAME."""
    kind = MOVABLE.get(body.get("objectType", ""))
    tag = f"ALTER {(kind or 'table').upper()}"
    if kind is None:
        what = body.get("objectType", "OBJECT_UNKNOWN").removeprefix("OBJECT_").replace("_", " ")
        raise SqlError("0A000", f"ALTER {what} ... SET SCHEMA is not supported")
    relation = body["relation"]
    name, new_schema = relation["relname"], body["newschema"]
    missing_ok = body.get("missing_ok", False)
    where = search_schema(relation.get("schemaname"), bc, name, missing_ok=missing_ok)
    found = {"table": catalog.find_table, "view": catalog.find_view, "sequence": catalog.find_sequence}[kind](
        name, where) if where else None  # fmt: skip
    shown = relation_display(relation)
    if found is None:
        if missing_ok:
            return DdlResult(tag, [f'relation "{shown}" does not exist, skipping'])
        raise SqlError("42P01", f'relation "{shown}" does not exist')
    if new_schema in SYSTEM_SCHEMAS:
        raise SqlError("0A000", "cannot move objects into or out of system schemas")
    if new_schema not in catalog.schemas and new_schema != USER_SCHEMA:
        raise SqlError("3F000", f'schema "{new_schema}" does not exist')
    if found.schema == new_schema:
        raise SqlError("42710", f'{kind} "{name}" is already in schema "{new_schema}"')
    views = catalog.dependent_views(found.oid)
    if views:
        raise SqlError("0A000", f"cannot move {kind} {name} while view {views[0].name} depends on it",
                       hint="Drop the view first (DROP VIEW), then recreate it.")  # fmt: skip
    if kind == "sequence" and found.owned_by is not None:
        owner = catalog.by_oid.get(found.owned_by[0])
        raise SqlError("0A000", "cannot move an owned sequence into another schema",
                       detail=f'Sequence "{name}" is linked to table "{owner.name if owner else "?"}".')  # fmt: skip
    moving = [found]
    if kind == "table":
        moving += [ix for ix in found.indexes]
        moving += [q for q in catalog.sequences.values() if q.owned_by and q.owned_by[0] == found.oid]
    for obj in moving:
        if catalog.relation_name_taken(obj.name, new_schema):
            raise SqlError("42P07", f'relation "{obj.name}" already exists in schema "{new_schema}"')
    version, _ = await catalog_counters(txn)
    if kind == "table":
        moved = replace(found, schema=new_schema)
        write_catalog(txn, version, None, [(moved, moved.to_record())], catalog)
        for sequence in moving[1 + len(found.indexes) :]:
            txn.put(sequence.descriptor_key, replace(sequence, schema=new_schema).to_record())
    else:
        txn.put(found.descriptor_key, replace(found, schema=new_schema).to_record())
        bump_version(txn, version, None)
    return DdlResult(tag)
