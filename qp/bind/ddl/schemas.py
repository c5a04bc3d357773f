"""Schemas as analysis sees them: which names a schema may take, which exist, what a schema
holds, and how CREATE SCHEMA's nested elements are ordered and placed in it.

A schema is a catalog record (`SchemaDef`) like a table's; the objects in it
name it by name. The system's schemas and `public` are not stored and always
exist (qp/pgcatalog/search_path.py's `schema_oids`). qp/ddl/schemas.py writes
what CREATE, DROP and ALTER SCHEMA change.
"""

from __future__ import annotations

import re
from typing import Any

from qp.bind.ddl.names import NAME_BYTES_MAX
from qp.bind.ddl.roles import find_role, session_role
from qp.catalog.stored import BOOTSTRAP_SUPERUSER, CatalogSnapshot, SchemaDef
from qp.errors import SqlError
from qp.pgcatalog import oids

# DSQL: "more than 10 schemas not allowed". dsql counts the schemas objects can
# be created in: public and CREATE SCHEMA's (the system's, pg_catalog,
# information_schema and pg_toast, are not the user's and do not count).
SCHEMAS_MAX = 10

# PostgreSQL's transformCreateSchemaStmt: the elements run grouped by kind, in this order.
ELEMENT_ORDER = ("CreateSeqStmt", "CreateStmt", "ViewStmt", "IndexStmt", "CreateTrigStmt", "GrantStmt")
# Where each element names the object it creates (the schema it may qualify it with).
_ELEMENT_RELATION = {"CreateSeqStmt": "sequence", "CreateStmt": "relation", "ViewStmt": "view",
                     "IndexStmt": None, "CreateTrigStmt": None, "GrantStmt": None}  # fmt: skip
SYSTEM_SCHEMAS = ("pg_catalog", "pg_toast", "information_schema")

# What ALTER ... SET SCHEMA moves.
MOVABLE = {"OBJECT_TABLE": "table", "OBJECT_VIEW": "view", "OBJECT_SEQUENCE": "sequence"}


def authorization_role(spec: dict, catalog: CatalogSnapshot, user: str) -> tuple[str, str]:
    """(the name the role goes by, the role recorded as owner) of an AUTHORIZATION role spec."""
    kind = spec.get("roletype", "ROLESPEC_CSTRING")
    if kind == "ROLESPEC_CSTRING":
        role = find_role(catalog, spec["rolename"])
        if role is None:
            raise SqlError("42704", f'role "{spec["rolename"]}" does not exist')
        return role.name, role.name
    if kind == "ROLESPEC_PUBLIC":
        raise SqlError("42704", 'role "public" does not exist')
    role = session_role(catalog, user)  # CURRENT_USER, CURRENT_ROLE, SESSION_USER
    # A trust-mode session whose name is no role acts as the bootstrap superuser:
    # the schema is named after the session's user and owned by that role.
    return role.name, (role.name if find_role(catalog, user) is not None else BOOTSTRAP_SUPERUSER)


def check_schema_name(name: str) -> str:
    if len(name.encode()) > NAME_BYTES_MAX:
        raise SqlError("42622", f'schema name "{name}" is too long')
    if name.startswith("pg_"):
        raise SqlError("42939", f'unacceptable schema name "{name}"',
                       detail='The prefix "pg_" is reserved for system schemas.')  # fmt: skip
    return name


def schema_exists(catalog: CatalogSnapshot, name: str) -> bool:
    return name in catalog.schemas or name in oids.NAMESPACE_OIDS


def ordered_elements(nodes: Any, schema: str, source: bytes, end: int) -> list[tuple[str, dict, str]]:
    """The elements as (kind, body, text) in PostgreSQL's order, each object placed in
    `schema` (42P15 when an element names another schema). `text` is the element's own
    source (a view keeps it), cut from `source` (the query string, of which the statement
    ends at byte `end`) between the keyword that starts it and the next element's."""
    nodes = list(nodes)
    starts = [_element_start(node, source) for node in nodes]
    texts = [source[start:stop].decode(errors="replace").strip()
             for start, stop in zip(starts, [*starts[1:], end][: len(starts)], strict=True)]  # fmt: skip
    grouped: dict[str, list[tuple[dict, str]]] = {kind: [] for kind in ELEMENT_ORDER}
    for node, text in zip(nodes, texts, strict=True):
        ((kind, element),) = node.items()
        if kind not in grouped:
            raise SqlError("42601", "unrecognized node type in CREATE SCHEMA")
        field = _ELEMENT_RELATION[kind]
        if kind == "IndexStmt":
            field = "relation"  # an index goes in its table's schema
        if field is not None:
            relation = dict(element[field])
            named = relation.get("schemaname")
            if named is not None and named != schema:
                raise SqlError("42P15", f"CREATE specifies a schema ({named}) different from the one being "
                                        f"created ({schema})")  # fmt: skip
            relation["schemaname"] = schema
            element = {**element, field: relation}
        grouped[kind].append((element, text))
    return [(kind, element, text) for kind in ELEMENT_ORDER for element, text in grouped[kind]]


_ELEMENT_KEYWORD = re.compile(rb"(?i)\b(create|grant)\b")


def _element_start(node: Any, source: bytes) -> int:
    """Where an element starts: its CREATE or GRANT, the last before its first location."""
    first = _first_location(node)
    if first is None:
        return 0
    found = [m.start() for m in _ELEMENT_KEYWORD.finditer(source, 0, first)]
    return found[-1] if found else 0


def _first_location(node: Any) -> int | None:
    found: list[int] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            location = value.get("location")
            if isinstance(location, int) and location >= 0:
                found.append(location)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(node)
    return min(found) if found else None


def schema_contents(catalog: CatalogSnapshot, schema: str) -> list[tuple[int, str, str]]:
    """What `schema` holds, as (oid, kind, name) in creation (oid) order: what PostgreSQL's
    dependency report lists (indexes and owned sequences go with their tables)."""
    tables = {t.oid for t in catalog.tables.values()}
    out = [(t.oid, "table", t.name) for t in catalog.tables.values() if t.schema == schema]
    out += [(v.oid, "view", v.name) for v in catalog.views.values() if v.schema == schema]
    out += [(q.oid, "sequence", q.name) for q in catalog.sequences.values()
            if q.schema == schema and not (q.owned_by and q.owned_by[0] in tables)]  # fmt: skip
    out += [(d.oid, "type", d.name) for d in catalog.domains.values() if d.schema == schema]
    out += [(s.oid, "statistics object", s.name) for s, _ in catalog.live_statistics() if s.schema == schema]
    return sorted(out)


def user_schema(catalog: CatalogSnapshot, name: str) -> SchemaDef:
    schema = catalog.schemas.get(name)
    if schema is None:
        if name in oids.NAMESPACE_OIDS:
            raise SqlError(
                "0A000", f"ALTER SCHEMA {name} is not supported: dsql's built-in schemas are fixed"
            )
        raise SqlError("3F000", f'schema "{name}" does not exist')
    return schema
