"""CREATE SCHEMA (with its nested elements), DROP SCHEMA, ALTER SCHEMA ... RENAME and ALTER
... SET SCHEMA applied: what qp/bind/ddl/schemas.py bound, written to the transaction.

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

from qp.bind.context import BindContext
from qp.bind.ddl.domains import bind_drop_domains
from qp.bind.ddl.functions import BoundDropFunctions
from qp.bind.ddl.schemas import (
    BoundCreateSchema,
    BoundDropSchemas,
    BoundRenameSchema,
    BoundSetSchema,
    schema_contents,
)
from qp.bind.ddl.sequences import bind_drop_sequences
from qp.bind.ddl.statistics import bind_drop_statistics
from qp.bind.ddl.tables import bind_drop_relations
from qp.bind.ddl.views import bind_drop_views
from qp.catalog.stored import (
    NEXT_OID_KEY,
    RELATION_PREFIX,
    VERSION_KEY,
    CatalogSnapshot,
    SchemaDef,
    ViewDef,
    comment_key,
)
from qp.catalog.temp_keys import TEMP_RELATIONS_START
from qp.ddl.common import DdlResult, bump_version, catalog_counters, write_catalog
from qp.ddl.domains import apply_drop_domains
from qp.ddl.functions import apply_drop_functions
from qp.ddl.sequence_statements import apply_drop_sequences
from qp.ddl.statistics import apply_drop_statistics
from qp.ddl.tables import apply_drop_relations
from qp.ddl.views import apply_drop_views
from qp.frontend.settings import DEFAULTS
from qp.functions.strings import quote_ident

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


async def apply_create_schema(bound: BoundCreateSchema, txn, catalog: CatalogSnapshot, bc: BindContext,
                              run_element: RunElement,
                              created: Callable[[], None] | None = None) -> DdlResult:  # fmt: skip
    """Write the schema's record, then run its elements (each through `run_element`, against
    the catalog the ones before it left, with the schema first on the search path); `created`
    runs once the schema's record is written, before the elements."""
    version, next_oid = await catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    schema = SchemaDef(oid, bound.name, bound.owner)
    txn.put(schema.descriptor_key, schema.to_record())
    bump_version(txn, version, oid + 1)
    if created is not None:
        created()
    result = DdlResult("CREATE SCHEMA")
    if not bound.elements:
        return result
    settings = bc.eval_ctx.settings
    saved = settings.get("search_path")
    # The elements see the new schema first, then the session's path (PostgreSQL
    # pushes an override path for them).
    settings["search_path"] = f"{quote_ident(bound.name)}, {saved if saved is not None else _default_path()}"
    try:
        for kind, element, text in bound.elements:
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


async def apply_drop_schemas(bound: BoundDropSchemas, txn, catalog: CatalogSnapshot, bc: BindContext) -> DdlResult:
    """Drop what the schemas hold (CASCADE), kind after kind, then the schemas."""
    names = [schema.name for schema in bound.schemas]
    if bound.cascade:
        current = catalog
        for step in ("table", "view", "function", "sequence", "statistics object", "type"):
            if step == "function":  # by oid: a function's name alone does not say which it is
                await _drop_functions(names, txn, current)
                current = await read_catalog(txn)
                continue
            targets = [(schema, obj) for schema in names for oid, kind, obj in schema_contents(current, schema)
                       if kind == step]  # fmt: skip
            if targets:
                await _drop_kind(step, targets, txn, current, bc)
                current = await read_catalog(txn)
    version, _ = await catalog_counters(txn)
    for schema in bound.schemas:
        txn.put(schema.descriptor_key, None)
        txn.put(comment_key(schema.oid, 0), None)
    bump_version(txn, version, None)
    return DdlResult("DROP SCHEMA", list(bound.notices))


_DROP_TYPES = {"table": "OBJECT_TABLE", "view": "OBJECT_VIEW", "sequence": "OBJECT_SEQUENCE",
               "statistics object": "OBJECT_STATISTIC_EXT", "type": "OBJECT_DOMAIN"}  # fmt: skip


async def _drop_functions(names: list[str], txn, catalog: CatalogSnapshot) -> None:
    """The schemas' functions, with the views elsewhere that call them (CASCADE)."""
    functions = tuple(f for f in sorted(catalog.functions.values(), key=lambda f: f.oid) if f.schema in names)
    if not functions:
        return
    views: list[ViewDef] = []
    for function in functions:
        views += [v for v in catalog.dependent_views(function.oid) if v not in views]
    await apply_drop_functions(BoundDropFunctions("DROP FUNCTION", functions, tuple(views), ()), txn)


async def _drop_kind(kind: str, targets: list[tuple[str, str]], txn, catalog: CatalogSnapshot,
                     bc: BindContext) -> None:  # fmt: skip
    """Drop `targets` (schema, name) of one kind through that kind's own DROP, with CASCADE."""
    step_bc = BindContext(catalog, bc.eval_ctx, resolve_special_relation=bc.resolve_special_relation)
    lists = [{"List": {"items": [{"String": {"sval": s}}, {"String": {"sval": n}}]}} for s, n in targets]
    if kind == "type":
        # Domains are dropped by DROP DOMAIN (qp/bind/ddl/domains.py), which refuses a
        # domain still in use by a column of a table in another schema.
        objects = [
            {"TypeName": {"names": [{"String": {"sval": s}}, {"String": {"sval": n}}]}} for s, n in targets
        ]
        drop_body = {"objects": objects, "removeType": _DROP_TYPES[kind], "behavior": "DROP_CASCADE"}
        await apply_drop_domains(bind_drop_domains(drop_body, catalog, step_bc), txn)
        return
    drop_body = {"objects": lists, "removeType": _DROP_TYPES[kind], "behavior": "DROP_CASCADE"}
    if kind == "statistics object":
        await apply_drop_statistics(bind_drop_statistics(drop_body, catalog, step_bc), txn)
    elif kind == "sequence":
        await apply_drop_sequences(bind_drop_sequences(drop_body, catalog, step_bc), txn)
    elif kind == "view":
        await apply_drop_views(bind_drop_views(drop_body, catalog, step_bc), txn)
    else:
        await apply_drop_relations(bind_drop_relations(drop_body, catalog, step_bc), txn, catalog)


# -- ALTER SCHEMA -----------------------------------------------------------------------------------


async def apply_rename_schema(bound: BoundRenameSchema, txn, catalog: CatalogSnapshot) -> DdlResult:
    """The schema's record and those of every object in it (and of views whose search path names it)."""
    schema, name, new_name = bound.schema, bound.schema.name, bound.new_name
    version, _ = await catalog_counters(txn)
    txn.put(schema.descriptor_key, replace(schema, name=new_name).to_record())
    for group in (catalog.tables, catalog.views, catalog.sequences, catalog.domains, catalog.statistics,
                  catalog.functions):  # fmt: skip
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

async def apply_set_schema(bound: BoundSetSchema, txn, catalog: CatalogSnapshot) -> DdlResult:
    """The object moves: a table with its indexes (in its descriptor) and the sequences its columns own."""
    kind, found, new_schema = bound.kind, bound.found, bound.new_schema
    version, _ = await catalog_counters(txn)
    if kind == "table":
        moved = replace(found, schema=new_schema)
        write_catalog(txn, version, None, [(moved, moved.to_record())], catalog)
        for sequence in bound.owned_sequences:
            txn.put(sequence.descriptor_key, replace(sequence, schema=new_schema).to_record())
    else:
        txn.put(found.descriptor_key, replace(found, schema=new_schema).to_record())
        bump_version(txn, version, None)
    return DdlResult(f"ALTER {kind.upper()}")
