"""Views: CREATE [OR REPLACE] VIEW, and DROP VIEW applied (qp/bind/ddl/views.py binds it, with
the dependencies that keep a view's tables and the views built on it from disappearing under it).
"""

from __future__ import annotations

import json

from qp.bind.context import BindContext
from qp.bind.ddl.names import check_name, creation_schema_of
from qp.bind.ddl.views import BoundDropViews
from qp.bind.query import QueryBinder
from qp.catalog.stored import (
    CatalogSnapshot,
    ViewDef,
)
from qp.catalog.temp_keys import is_temp_oid
from qp.ddl.common import DdlResult, bump_version, catalog_counters
from qp.ddl.temp_objects import name_taken
from qp.errors import SqlError
from qp.parse.parser import string_list
from qp.pgcatalog.search_path import USER_SCHEMA, session_search_path


async def create_view(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext, sql: str) -> DdlResult:
    relation = body["view"]
    name = check_name(relation["relname"])
    schema = USER_SCHEMA if relation.get("relpersistence") == "t" else creation_schema_of(relation, bc)
    if body.get("withCheckOption", "NO_CHECK_OPTION") != "NO_CHECK_OPTION":
        raise SqlError("0A000", "WITH CHECK OPTION is not supported: views are read-only")
    query_node = body["query"]
    query = QueryBinder(bc).bind_query(query_node)
    names = list(query.names)
    aliases = string_list(body.get("aliases"))
    if len(aliases) > len(names):
        raise SqlError("42601", "CREATE VIEW specifies more column names than columns")
    names[: len(aliases)] = aliases
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise SqlError("42701", f'column "{duplicate}" specified more than once')
    types = query.output_types()
    columns = tuple((n, t.oid, t.typmod) for n, t in zip(names, types, strict=True))
    notices = []
    if not txn.temp_mode and any(is_temp_oid(oid) for oid in bc.tables_read):
        # PostgreSQL makes a view over a temporary relation temporary itself.
        txn.temp_mode = True
        notices.append(f'view "{name}" will be a temporary view')
    existing = catalog.find_view(name, schema)
    if existing is not None and txn.temp_mode and not is_temp_oid(existing.oid):
        existing = None  # a temporary view hides a permanent one of the same name
    if existing is not None and not body.get("replace"):
        raise SqlError("42P07", f'relation "{name}" already exists')
    if existing is None and name_taken(catalog, name, schema, txn):
        raise SqlError(
            "42P07" if not body.get("replace") else "42809",
            f'relation "{name}" already exists' if not body.get("replace") else f'"{name}" is not a view',
        )
    version, next_oid = await catalog_counters(txn)
    if existing is not None:
        for (old_name, old_type, _), (new_name, new_type, _) in zip(existing.columns, columns, strict=False):
            if old_name != new_name:
                raise SqlError("42P16", f'cannot change name of view column "{old_name}" to "{new_name}"')
            if old_type != new_type:
                raise SqlError("42P16", f'cannot change data type of view column "{old_name}"')
        if len(columns) < len(existing.columns):
            raise SqlError("42P16", "cannot drop columns from view")
        oid = existing.oid
    else:
        oid = max(next_oid, catalog.next_oid)
    depends = tuple(sorted(o for o in bc.tables_read if o != oid))
    # The query's unqualified names are bound again wherever the view is used,
    # along the path they were found on now (PostgreSQL binds them once, here).
    path = session_search_path(bc.eval_ctx, catalog).explicit
    view = ViewDef(oid, name, json.dumps(query_node), sql, columns, depends, schema, search_path=path)
    txn.put(view.descriptor_key, view.to_record())
    bump_version(txn, version, None if existing else oid + 1)
    return DdlResult("CREATE VIEW", notices)


async def apply_drop_views(bound: BoundDropViews, txn) -> DdlResult:
    if bound.views:
        version, _ = await catalog_counters(txn)
        for view in bound.views:
            txn.put(view.descriptor_key, None)
        bump_version(txn, version, None)
    return DdlResult("DROP VIEW", list(bound.notices))
