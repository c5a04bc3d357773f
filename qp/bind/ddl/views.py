"""CREATE [OR REPLACE] VIEW and DROP VIEW bound, and the views a DROP takes with it.

CREATE VIEW binds its query, names its columns, decides whether the view is temporary
(written so, or PostgreSQL's rule: a view over a temporary relation is one) and which view
OR REPLACE replaces; DROP VIEW finds the views named and those built on what is dropped
(transitively), refused unless CASCADE. qp/ddl/views.py writes or removes what binding chose.

Whether the statement starts out on temporary objects is read from it (CREATE TEMP VIEW), as
the statement runner decides the transaction's temp mode (qp/ddl/temp_objects.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from qp.bind.context import BindContext
from qp.bind.ddl.names import check_name, creation_schema_of, relation_name_taken, search_schema
from qp.bind.query import QueryBinder
from qp.catalog.stored import CatalogSnapshot, ViewDef
from qp.catalog.temp_keys import is_temp_oid
from qp.errors import SqlError
from qp.parse.parser import string_list
from qp.pgcatalog.search_path import USER_SCHEMA, schema_oids, session_search_path


@dataclass(frozen=True, slots=True)
class BoundCreateView:
    """CREATE [OR REPLACE] VIEW: the view to store (a new one's oid is 0 until applied),
    whether it replaces one (keeping its oid), whether reading a temporary relation made it
    temporary (the statement then works on the session's objects), and the notice saying so."""

    view: ViewDef
    replaces: bool
    made_temporary: bool
    notices: tuple[str, ...]


def bind_create_view(body: dict, catalog: CatalogSnapshot, bc: BindContext, sql: str) -> BoundCreateView:
    """CREATE VIEW, whose text is `sql` (kept as the view's definition)."""
    relation = body["view"]
    temporary = relation.get("relpersistence") == "t"
    name = check_name(relation["relname"])
    schema = USER_SCHEMA if temporary else creation_schema_of(relation, bc)
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
    made_temporary = not temporary and any(is_temp_oid(oid) for oid in bc.tables_read)
    if made_temporary:
        # PostgreSQL makes a view over a temporary relation temporary itself.
        temporary = True
        notices.append(f'view "{name}" will be a temporary view')
    existing = catalog.find_view(name, schema)
    if existing is not None and temporary and not is_temp_oid(existing.oid):
        existing = None  # a temporary view hides a permanent one of the same name
    if existing is not None and not body.get("replace"):
        raise SqlError("42P07", f'relation "{name}" already exists')
    if existing is None and relation_name_taken(catalog, name, schema, temporary):
        raise SqlError(
            "42P07" if not body.get("replace") else "42809",
            f'relation "{name}" already exists' if not body.get("replace") else f'"{name}" is not a view',
        )
    if existing is not None:
        for (old_name, old_type, _), (new_name, new_type, _) in zip(existing.columns, columns, strict=False):
            if old_name != new_name:
                raise SqlError("42P16", f'cannot change name of view column "{old_name}" to "{new_name}"')
            if old_type != new_type:
                raise SqlError("42P16", f'cannot change data type of view column "{old_name}"')
        if len(columns) < len(existing.columns):
            raise SqlError("42P16", "cannot drop columns from view")
    oid = existing.oid if existing is not None else 0
    depends = tuple(sorted(o for o in bc.tables_read if o != oid))
    # The query's unqualified names are bound again wherever the view is used,
    # along the path they were found on now (PostgreSQL binds them once, here).
    path = session_search_path(bc.eval_ctx, catalog).explicit
    view = ViewDef(oid, name, json.dumps(query_node), sql, columns, depends, schema, search_path=path)
    return BoundCreateView(view, existing is not None, made_temporary, tuple(notices))


@dataclass(frozen=True, slots=True)
class BoundDropViews:
    """DROP VIEW: the views named and those depending on them, and the statement's notices
    (IF EXISTS skips, "drop cascades to view ...")."""

    views: tuple[ViewDef, ...]
    notices: tuple[str, ...]


def views_to_drop(
    catalog: CatalogSnapshot, oids: set[int], cascade: bool, what: dict[int, str], notices: list[str]
) -> list[ViewDef]:
    """Views that depend on `oids` (transitively): refused unless CASCADE."""
    out: list[ViewDef] = []
    pending = list(oids)
    seen = set(oids)
    while pending:
        oid = pending.pop()
        for view in catalog.dependent_views(oid):
            if view.oid in seen:
                continue
            if not cascade:
                raise SqlError(
                    "2BP01",
                    f"cannot drop {what[oid]} because other objects depend on it",
                    detail=f"view {view.name} depends on {what[oid]}",
                    hint="Use DROP ... CASCADE to drop the dependent objects too.",
                )
            notices.append(f"drop cascades to view {view.name}")
            seen.add(view.oid)
            what[view.oid] = f"view {view.name}"
            out.append(view)
            pending.append(view.oid)
    return out


def bind_drop_views(body: dict, catalog: CatalogSnapshot, bc: BindContext | None) -> BoundDropViews:
    notices: list[str] = []
    chosen: list[ViewDef] = []
    for obj in body.get("objects", ()):
        names = string_list(obj["List"]["items"]) if "List" in obj else string_list([obj])
        missing_ok = body.get("missing_ok", False)
        if len(names) > 1 and missing_ok and names[-2] not in schema_oids(catalog):
            notices.append(f'schema "{names[-2]}" does not exist, skipping')
            continue
        where = search_schema(names[-2] if len(names) > 1 else None, bc, names[-1])
        shown = ".".join(names[-2:])
        view = catalog.find_view(names[-1], where) if where else None
        if view is None:
            if where and catalog.find_table(names[-1], where) is not None:
                raise SqlError(
                    "42809", f'"{names[-1]}" is not a view', hint="Use DROP TABLE to remove a table."
                )
            if missing_ok:
                notices.append(f'view "{shown}" does not exist, skipping')
                continue
            raise SqlError("42P01", f'view "{shown}" does not exist')
        chosen.append(view)
    what = {v.oid: f"view {v.name}" for v in chosen}
    chosen += views_to_drop(
        catalog, {v.oid for v in chosen}, body.get("behavior") == "DROP_CASCADE", what, notices
    )
    return BoundDropViews(tuple(chosen), tuple(notices))
