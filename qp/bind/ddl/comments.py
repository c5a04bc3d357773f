"""COMMENT ON bound: the object a comment is on (a relation, a column, a schema or a function),
found and checked; qp/ddl/comments.py writes the comment.
"""

from __future__ import annotations

from dataclasses import dataclass

from qp.bind.context import BindContext
from qp.bind.ddl.functions import find_function
from qp.bind.ddl.names import search_schema
from qp.catalog.stored import CatalogSnapshot
from qp.errors import SqlError
from qp.parse.parser import string_list
from qp.pgcatalog.search_path import schema_oids

_KINDS = {
    "OBJECT_TABLE": "table",
    "OBJECT_VIEW": "view",
    "OBJECT_SEQUENCE": "sequence",
    "OBJECT_INDEX": "index",
}


@dataclass(frozen=True, slots=True)
class BoundComment:
    """COMMENT ON: the object (its oid, and a column's number or 0) and the text (None or
    '': the comment is removed)."""

    oid: int
    subid: int
    text: str | None


def bind_comment(body: dict, catalog: CatalogSnapshot, bc: BindContext) -> BoundComment:
    objtype = body.get("objtype")
    names = string_list(body["object"]["List"]["items"]) if "List" in body.get("object", {}) else []
    if objtype == "OBJECT_COLUMN":
        if len(names) < 2:
            raise SqlError("42601", "column name must be qualified")
        *relation, column = names
        oid, kind, table = _relation(relation, catalog, bc)
        if kind == "index" or table is None and kind != "view":
            raise SqlError("42809", f'"{relation[-1]}" is not a table, view or composite type')
        subid = _column_number(catalog, oid, column, relation[-1])
    elif objtype == "OBJECT_SCHEMA":
        name = body["object"]["String"]["sval"]
        schema = catalog.schemas.get(name)
        if schema is None:
            if name in schema_oids(catalog):
                raise SqlError("0A000", f"COMMENT ON SCHEMA {name} is not supported: dsql's built-in schemas are fixed")
            raise SqlError("3F000", f'schema "{name}" does not exist')
        oid, subid = schema.oid, 0
    elif objtype in ("OBJECT_FUNCTION", "OBJECT_ROUTINE"):
        oid, subid = find_function(catalog, body["object"]["ObjectWithArgs"], "function", bc=bc).oid, 0
    elif objtype in _KINDS:
        oid, kind, _ = _relation(names, catalog, bc)
        if kind != _KINDS[objtype]:
            raise SqlError("42809", f'"{names[-1]}" is not {_article(_KINDS[objtype])}')
        subid = 0
    else:
        what = objtype.removeprefix("OBJECT_").replace("_", " ") if objtype else "this object"
        raise SqlError("0A000", f"COMMENT ON {what} is not supported")
    return BoundComment(oid, subid, body.get("comment"))


def _relation(names: list[str], catalog: CatalogSnapshot, bc: BindContext):
    """(oid, kind, table or None) of the relation `names` names."""
    if len(names) > 2:
        raise SqlError("42601", "improper relation name (too many dotted names)")
    name = names[-1]
    schema = search_schema(names[0] if len(names) == 2 else None, bc, name)
    if schema is not None:
        if (schema, name) in catalog.tables:
            table = catalog.tables[(schema, name)]
            return table.oid, "table", table
        if (schema, name) in catalog.views:
            return catalog.views[(schema, name)].oid, "view", None
        if (schema, name) in catalog.sequences:
            return catalog.sequences[(schema, name)].oid, "sequence", None
        if (schema, name) in catalog.indexes_by_name:
            return catalog.indexes_by_name[(schema, name)][1].oid, "index", None
    raise SqlError("42P01", f'relation "{".".join(names)}" does not exist')


def _column_number(catalog: CatalogSnapshot, oid: int, column: str, relation: str) -> int:
    table = catalog.by_oid.get(oid)
    if table is not None:
        position = table.column_index(column)
        if position is not None:
            return position + 1
    else:
        view = next((v for v in catalog.views.values() if v.oid == oid), None)
        if view is not None and column in view.column_names:
            return view.column_names.index(column) + 1
    raise SqlError("42703", f'column "{column}" of relation "{relation}" does not exist')


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
