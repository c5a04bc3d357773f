"""DROP VIEW bound, and the views a DROP takes with it: the views named found, and those
built on what is dropped (transitively), refused unless CASCADE; qp/ddl/views.py removes
what binding chose.
"""

from __future__ import annotations

from dataclasses import dataclass

from qp.bind.context import BindContext
from qp.bind.ddl.names import search_schema
from qp.catalog.stored import CatalogSnapshot, ViewDef
from qp.errors import SqlError
from qp.parse.parser import string_list
from qp.pgcatalog.search_path import schema_oids


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
