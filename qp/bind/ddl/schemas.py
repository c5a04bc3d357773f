"""Schemas as analysis sees them: which names a schema may take, which exist, what a schema
holds, and how CREATE SCHEMA's nested elements are ordered and placed in it; and CREATE
SCHEMA, DROP SCHEMA, ALTER SCHEMA ... RENAME and ALTER TABLE | VIEW | SEQUENCE ... SET SCHEMA
bound to typed statements.

A schema is a catalog record (`SchemaDef`) like a table's; the objects in it
name it by name. The system's schemas and `public` are not stored and always
exist (qp/pgcatalog/search_path.py's `schema_oids`). qp/ddl/schemas.py writes
what CREATE, DROP and ALTER SCHEMA change.

Two parts stay with the transaction (qp/ddl/schemas.py): CREATE SCHEMA's elements are
each bound and applied in turn against the catalog the elements before them left in
the transaction's buffer, and DROP SCHEMA ... CASCADE drops what the schema holds one
kind after the other, each step against the catalog the step before it left.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from qp.api import Notice
from qp.bind.context import BindContext
from qp.bind.ddl.functions import default_users
from qp.bind.ddl.names import NAME_BYTES_MAX, relation_display, search_schema
from qp.bind.ddl.roles import find_role, session_role
from qp.bind.ddl.skip import SkipDdl
from qp.catalog.stored import BOOTSTRAP_SUPERUSER, CatalogSnapshot, SchemaDef, SequenceDef, TableDef, ViewDef
from qp.errors import SqlError
from qp.functions.strings import quote_ident
from qp.parse.parser import Statement
from qp.pgcatalog import oids
from qp.pgcatalog.search_path import USER_SCHEMA
from qp.types import format_type, type_by_oid

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
    # A function by its signature, its name quoted already, as getObjectDescription prints it
    # (format_procedure: "function s.f(integer,text)", no spaces).
    out += [(f.oid, "function", f"{quote_ident(f.name)}({','.join(format_type(type_by_oid(o)) for o in f.input_oids)})")
            for f in catalog.functions.values() if f.schema == schema]  # fmt: skip
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


# -- the statements ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoundCreateSchema:
    """CREATE SCHEMA: the schema's name and owner (its oid is allocated when applied), and its
    elements as (kind, parse tree, text) in the order they run, each placed in the schema; they
    run as `user` (the current user) and are located in the statement's `source` at `location`."""

    name: str
    owner: str
    elements: tuple[tuple[str, dict, str], ...]
    user: str
    location: int
    source: str


@dataclass(frozen=True, slots=True)
class BoundDropSchemas:
    """DROP SCHEMA: the schemas found (each once, in the order named), whether CASCADE drops
    what they hold, and the notices (IF EXISTS skips, what the cascade drops)."""

    schemas: tuple[SchemaDef, ...]
    cascade: bool
    notices: tuple[str | Notice, ...]


@dataclass(frozen=True, slots=True)
class BoundRenameSchema:
    """ALTER SCHEMA ... RENAME TO: the schema and its new name."""

    schema: SchemaDef
    new_name: str


@dataclass(frozen=True, slots=True)
class BoundSetSchema:
    """ALTER TABLE | VIEW | SEQUENCE ... SET SCHEMA: the object (of `kind`), where it goes, and
    the sequences its columns own, which go with a table (its indexes are in its descriptor)."""

    kind: str
    found: TableDef | ViewDef | SequenceDef
    new_schema: str
    owned_sequences: tuple[SequenceDef, ...]


def bind_create_schema(statement: Statement, catalog: CatalogSnapshot, user: str) -> BoundCreateSchema | SkipDdl:
    """CREATE SCHEMA [IF NOT EXISTS] name [AUTHORIZATION role] [elements...] as `user`."""
    body = statement.body
    source = statement.source or statement.text  # the query string the statement came in
    end = (statement.location if statement.source else 0) + len(statement.text.encode())  # its end, in bytes
    owner_spec = body.get("authrole")
    if owner_spec is not None:
        role_name, owner = authorization_role(owner_spec, catalog, user)
    else:
        role_name, owner = authorization_role({"roletype": "ROLESPEC_CURRENT_USER"}, catalog, user)
    name = check_schema_name(body.get("schemaname") or role_name)  # reserved names first, as PostgreSQL
    if schema_exists(catalog, name):
        if body.get("if_not_exists"):
            return SkipDdl("CREATE SCHEMA", (f'schema "{name}" already exists, skipping',))
        raise SqlError("42P06", f'schema "{name}" already exists')
    if len(catalog.schemas) + 1 >= SCHEMAS_MAX:  # + 1: public
        raise SqlError("54000", f"more than {SCHEMAS_MAX} schemas not allowed")
    elements = ordered_elements(body.get("schemaElts", ()), name, source.encode(), end)
    return BoundCreateSchema(name, owner, tuple(elements), user, statement.location, statement.source)


def bind_drop_schemas(body: dict, catalog: CatalogSnapshot) -> BoundDropSchemas | SkipDdl:
    """DROP SCHEMA [IF EXISTS] name [, ...] [CASCADE | RESTRICT]."""
    notices: list[str | Notice] = []
    names: list[str] = []
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
        return SkipDdl("DROP SCHEMA", tuple(str(notice) for notice in notices))  # IF EXISTS skips only
    contents: list[tuple[int, str, str, str]] = []  # (oid, kind, shown, what it depends on)
    for schema in names:
        for oid, kind, obj in schema_contents(catalog, schema):
            shown = f"{quote_ident(schema)}.{obj if kind == 'function' else quote_ident(obj)}"
            contents.append((oid, kind, shown, f"schema {schema}"))
            if kind == "function":  # a view elsewhere that calls it goes with it (pg_depend)
                function = catalog.functions[oid]
                for what in default_users(catalog, function):
                    if body.get("behavior") == "DROP_CASCADE":
                        raise SqlError("0A000", "DROP SCHEMA ... CASCADE of a function that column defaults use "
                                                "is not supported")  # fmt: skip
                    contents.append((0, what, "", f"function {shown}"))
                for view in catalog.dependent_views(oid):
                    if view.schema not in names:
                        # getObjectDescription qualifies a view its name alone would not find;
                        # public is on every default path.
                        name = view.name if view.schema == USER_SCHEMA else f"{view.schema}.{view.name}"
                        contents.append((view.oid, "view", name, f"function {shown}"))
    cascade = body.get("behavior") == "DROP_CASCADE"
    if contents and not cascade:
        lines = [f"{kind} {shown}".rstrip() + f" depends on {on}" for _, kind, shown, on in contents]
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
    return BoundDropSchemas(tuple(catalog.schemas[name] for name in names), bool(contents), tuple(notices))


def bind_rename_schema(body: dict, catalog: CatalogSnapshot) -> BoundRenameSchema:
    """ALTER SCHEMA name RENAME TO new."""
    name, new_name = body["subname"], body["newname"]
    schema = user_schema(catalog, name)
    if schema_exists(catalog, new_name):
        raise SqlError("42P06", f'schema "{new_name}" already exists')
    check_schema_name(new_name)
    return BoundRenameSchema(schema, new_name)


def bind_set_schema(body: dict, catalog: CatalogSnapshot, bc: BindContext | None) -> BoundSetSchema | SkipDdl:
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
            return SkipDdl(tag, (f'relation "{shown}" does not exist, skipping',))
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
    owned: list[SequenceDef] = []
    moving: list[Any] = [found]
    if kind == "table":
        owned = [q for q in catalog.sequences.values() if q.owned_by and q.owned_by[0] == found.oid]
        moving += [*found.indexes, *owned]
    for obj in moving:
        if catalog.relation_name_taken(obj.name, new_schema):
            raise SqlError("42P07", f'relation "{obj.name}" already exists in schema "{new_schema}"')
    return BoundSetSchema(kind, found, new_schema, tuple(owned))
