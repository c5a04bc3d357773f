"""Privileges as the catalogs show them: owners and ACLs in pg_class and pg_namespace,
pg_default_acl, and the functions that ask (has_table_privilege, pg_has_role, aclexplode...).

The answers come from the statement's catalog snapshot through the same code
that enforces privileges (qp/catalog/privcheck.py), so what has_table_privilege
says is what a SELECT would meet. aclitem is shown as its text form in a text[]
(dsql's stand-in for aclitem[], qp/pgcatalog/relation.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from qp.catalog.acl import KIND_ALL, LETTER_NAMES, PRIVILEGE_LETTERS, PUBLIC_OID, default_acl
from qp.catalog.privcheck import (
    PUBLIC_NAMESPACE,
    held,
    is_superuser,
    object_privs,
    role_name_of,
    role_named,
    role_oid,
    roles_of,
)
from qp.catalog.stored import CatalogSnapshot
from qp.errors import SqlError
from qp.functions.registry import AGGREGATES, FUNCTIONS, register_function
from qp.pgcatalog import oids
from qp.pgcatalog.model import RelationInfo, model_for, search_path_of
from qp.pgcatalog.names import regclass_oid
from qp.pgcatalog.relation import Lifetime, Source, system_relation
from qp.pgcatalog.search_path import SearchPath, schema_oids, session_search_path
from qp.types import BOOL, NAME, OID, TEXT, format_type, resolve_type_name, type_by_oid
from qp.types.context import EvalContext
from qp.types.core import CHAR, INT2, array_of, record_type

_RELOWNER, _RELACL = 5, 30  # positions in a pg_class row (qp/pgcatalog/objects.py)


def acl_text(catalog: CatalogSnapshot, acl) -> list[str] | None:
    if acl is None:
        return None
    return [item.text(lambda oid: role_name_of(catalog, oid)) for item in acl]


def _relation_privs(catalog: CatalogSnapshot, r: RelationInfo):
    """(ACL kind, its ObjectPrivs) of a user relation, None for a system one."""
    if r.system is not None:
        return None
    if r.relkind == "i" and r.table is not None:
        return object_privs(catalog, r.table.oid, "table")
    kind = {"r": "table", "v": "view", "S": "sequence"}.get(r.relkind)
    return object_privs(catalog, r.oid, kind) if kind else None


def with_owner(row: tuple, catalog: CatalogSnapshot, r: RelationInfo) -> tuple:
    """A pg_class row with its relation's owner and ACL (an index: its table's owner, no ACL)."""
    privs = _relation_privs(catalog, r)
    if privs is None:
        return row
    acl = None if r.relkind == "i" else acl_text(catalog, privs.acl)
    return row[:_RELOWNER] + (privs.owner,) + row[_RELOWNER + 1 : _RELACL] + (acl,) + row[_RELACL + 1 :]


def with_type_owner(row: tuple, catalog: CatalogSnapshot) -> tuple:
    """A domain's pg_type row with its owner (typowner, 4th) and ACL (typacl, last)."""
    privs = object_privs(catalog, row[0], "domain")
    return row[:3] + (privs.owner,) + row[4:-1] + (acl_text(catalog, privs.acl),)


def namespace_row(catalog: CatalogSnapshot, oid: int) -> tuple[int, list[str] | None]:
    """(nspowner, nspacl) of a schema dsql keeps privileges for."""
    privs = object_privs(catalog, oid, "schema")
    return privs.owner, acl_text(catalog, privs.acl)


@system_relation(
    "pg_catalog",
    "pg_default_acl",
    826,
    """
    oid:oid defaclrole:oid defaclnamespace:oid defaclobjtype:char defaclacl:aclitem[]""",
    relkind="r",
)
def pg_default_acl(src: Source) -> list[tuple]:
    catalog = src.model.snapshot
    return [(d.oid, d.role, d.namespace, d.objtype, acl_text(catalog, d.acl))
            for d in sorted(catalog.privileges.default_acls, key=lambda d: d.oid)]  # fmt: skip


# -- has_*_privilege -------------------------------------------------------------------------------------


def _wanted(text: str, kind: str) -> list[tuple[str, bool]]:
    """The (letter, with grant option) pairs a privilege string asks about, any of which answers true."""
    out = []
    for part in text.split(","):
        words = part.strip().upper().split()
        grant_option = words[1:] == ["WITH", "GRANT", "OPTION"]
        if not words or (len(words) > 1 and not grant_option):
            raise SqlError("22023", f'unrecognized privilege type: "{part.strip()}"')
        letter = PRIVILEGE_LETTERS.get(words[0])
        allowed = KIND_ALL["table" if kind == "view" else kind]
        if letter is None or (letter not in allowed and kind != "sequence"):
            raise SqlError("22023", f'unrecognized privilege type: "{part.strip()}"')
        out.append((letter, grant_option))
    return out


def _user(ctx: EvalContext, who: Any) -> int:
    catalog = ctx.catalog
    if who is None:
        return role_oid(catalog, ctx.user)
    if isinstance(who, int):
        return who
    role = role_named(catalog, who)
    if role is None:
        if who in (ctx.user, ctx.session_user):  # a trust-mode session's own name: the bootstrap role
            return role_oid(catalog, who)
        raise SqlError("42704", f'role "{who}" does not exist')
    return role.oid


def _answer(ctx: EvalContext, role: int, privs, wanted: list[tuple[str, bool]]) -> bool:
    have, options = held(ctx.catalog, role, privs)
    return any((letter in options) if option else (letter in have) for letter, option in wanted)


def _relation(ctx: EvalContext, table: Any) -> RelationInfo | None:
    model = model_for(ctx.catalog)
    oid = (
        table if isinstance(table, int) else regclass_oid(model, table, search_path_of(ctx), missing_ok=False)
    )
    return model.relation(oid)


def _table_privilege(
    ctx: EvalContext, who: Any, table: Any, text: str, *, sequence: bool = False
) -> bool | None:
    r = _relation(ctx, table)
    if r is None:
        return None
    role = _user(ctx, who)
    if sequence and r.relkind != "S":
        raise SqlError("42809", f'"{r.name}" is not a sequence')
    privs = _relation_privs(ctx.catalog, r)
    wanted = _wanted(text, "sequence" if r.relkind == "S" else "table")
    if privs is None:  # a system catalog: readable by everyone, as PostgreSQL grants SELECT to PUBLIC
        return is_superuser(ctx.catalog, role) or any(letter == "r" and not o for letter, o in wanted)
    return _answer(ctx, role, privs, wanted)


def _schema_privilege(ctx: EvalContext, who: Any, schema: Any, text: str) -> bool | None:
    namespaces = schema_oids(ctx.catalog)  # the system's and CREATE SCHEMA's
    if isinstance(schema, int):
        oid = schema
        if oid not in namespaces.values():
            return None
    else:
        oid = namespaces.get(schema)
        if oid is None:
            raise SqlError("3F000", f'schema "{schema}" does not exist')
    role = _user(ctx, who)
    wanted = _wanted(text, "schema")
    if oid in oids.NAMESPACE_NAMES and oid != PUBLIC_NAMESPACE:  # the system schemas: USAGE for everyone, CREATE for superusers
        return is_superuser(ctx.catalog, role) or any(letter == "U" and not o for letter, o in wanted)
    return _answer(ctx, role, object_privs(ctx.catalog, oid, "schema"), wanted)


def _function_privilege(ctx: EvalContext, who: Any, function: Any, text: str) -> bool | None:
    """EXECUTE on a user function (by oid, or by its signature as text: `f(integer, text)`);
    built-in functions are everyone's, as PostgreSQL grants them to PUBLIC."""
    catalog = ctx.catalog
    wanted = _wanted(text, "function")
    role = _user(ctx, who)
    found = catalog.functions.get(function) if isinstance(function, int) else _function_named(catalog, function, session_search_path(ctx))
    if found is None:
        if isinstance(function, str) and function.partition("(")[0].split(".")[-1].strip().lower() not in FUNCTIONS | AGGREGATES:
            raise SqlError("42883", f'function "{function}" does not exist')
        return True  # a built-in: PUBLIC may execute it
    return _answer(ctx, role, object_privs(catalog, found.oid, "function"), wanted)


def _function_named(catalog: CatalogSnapshot, signature: str, path: SearchPath) -> Any:
    """The user function `signature` names (PostgreSQL's regprocedure input): in the schema
    it names, else the first along the path with those argument types; or None."""
    name, _, rest = signature.partition("(")
    names = [n.strip().strip('"') for n in name.split(".")]
    if len(names) > 1:
        if names[0] not in schema_oids(catalog):
            raise SqlError("3F000", f'schema "{names[0]}" does not exist')
        candidates = catalog.functions_by_name.get((names[0], names[-1]), ())
    else:
        candidates = [f for schema in path.searched for f in catalog.functions_by_name.get((schema, names[-1]), ())]
    wanted = [a.strip() for a in rest.rstrip().removesuffix(")").split(",") if a.strip()]
    for candidate in candidates:
        shown = [format_type(type_by_oid(oid)) for oid in candidate.input_oids]
        if [_canonical_type(a) for a in wanted] == shown:
            return candidate
    if candidates:
        raise SqlError("42883", f'function "{signature}" does not exist')
    return None


def _canonical_type(text: str) -> str:
    try:
        return format_type(resolve_type_name([text.lower()], [], 0))
    except SqlError:
        return text


def _register_three(name: str, impl, objects=(TEXT, OID)) -> None:
    """name(object, privs), name(user name, object, privs), name(user oid, object, privs)."""
    for obj in objects:
        register_function(name, [obj, TEXT], BOOL, lambda ctx, o, p: impl(ctx, None, o, p), ctx=True,
                          volatility="s")  # fmt: skip
        register_function(name, [NAME, obj, TEXT], BOOL, impl, ctx=True, volatility="s")
        register_function(name, [OID, obj, TEXT], BOOL, impl, ctx=True, volatility="s")


_register_three("has_table_privilege", _table_privilege)
_register_three("has_sequence_privilege",
                lambda ctx, w, t, p: _table_privilege(ctx, w, t, p, sequence=True))  # fmt: skip
_register_three("has_schema_privilege", _schema_privilege)
_register_three("has_function_privilege", _function_privilege)
_register_three("has_any_column_privilege", _table_privilege)


def _column_privilege(ctx: EvalContext, who: Any, table: Any, column: Any, text: str) -> bool | None:
    """Column privileges are those of the table (dsql grants on tables only)."""
    r = _relation(ctx, table)
    if r is None:
        return None
    names = [a.name for a in r.attributes]
    if isinstance(column, str) and column not in names:
        raise SqlError("42703", f'column "{column}" of relation "{r.name}" does not exist')
    return _table_privilege(ctx, who, r.oid, text)


for _obj in (TEXT, OID):
    for _col in (TEXT, INT2):
        register_function("has_column_privilege", [_obj, _col, TEXT], BOOL,
                          lambda ctx, t, c, p: _column_privilege(ctx, None, t, c, p), ctx=True,
                          volatility="s")  # fmt: skip
        register_function("has_column_privilege", [NAME, _obj, _col, TEXT], BOOL, _column_privilege, ctx=True,
                          volatility="s")  # fmt: skip
        register_function("has_column_privilege", [OID, _obj, _col, TEXT], BOOL, _column_privilege, ctx=True,
                          volatility="s")  # fmt: skip


# -- pg_has_role -----------------------------------------------------------------------------------------


def _has_role(ctx: EvalContext, who: Any, target: Any, mode: str) -> bool:
    catalog = ctx.catalog
    role = _user(ctx, who)
    wanted = _user(ctx, target)
    words = mode.strip().upper().split()
    option = words[1:] in (["WITH", "ADMIN", "OPTION"], ["WITH", "GRANT", "OPTION"])
    if not words or words[0] not in ("MEMBER", "USAGE", "SET") or (len(words) > 1 and not option):
        raise SqlError("22023", f'unrecognized privilege type: "{mode}"')
    if option:
        return is_superuser(catalog, role) or catalog.privileges.admin_of(role, wanted)
    if is_superuser(catalog, role) or role == wanted:
        return True
    if words[0] == "USAGE":
        return wanted in roles_of(catalog, role)
    return wanted in catalog.privileges.member_of(role)


for _target in (NAME, OID):
    register_function("pg_has_role", [_target, TEXT], BOOL, lambda ctx, t, m: _has_role(ctx, None, t, m), ctx=True,
                      volatility="s")  # fmt: skip
    register_function("pg_has_role", [NAME, _target, TEXT], BOOL, _has_role, ctx=True, volatility="s")
    register_function("pg_has_role", [OID, _target, TEXT], BOOL, _has_role, ctx=True, volatility="s")


# -- aclexplode, acldefault ----------------------------------------------------------------------------

_ACL_ROW = record_type([("grantor", OID), ("grantee", OID), ("privilege_type", TEXT), ("is_grantable", BOOL)])


def _role_by_text(catalog: CatalogSnapshot, name: str) -> int:
    if name == "":
        return PUBLIC_OID
    if name.startswith('"'):
        name = name[1:-1].replace('""', '"')
    role = role_named(catalog, name)
    return role.oid if role is not None else (oids.PG_DATABASE_OWNER if name == "pg_database_owner" else 0)


def _aclexplode(ctx: EvalContext, acl: list[str] | None) -> Iterator[tuple]:
    rows = []
    for text in acl or ():
        grantee_text, _, rest = text.rpartition("=") if '"' not in text else text.partition("=")
        body, _, grantor_text = rest.partition("/")
        grantee = _role_by_text(ctx.catalog, grantee_text)
        grantor = _role_by_text(ctx.catalog, grantor_text)
        for i, letter in enumerate(body):
            if letter == "*":
                continue
            grantable = i + 1 < len(body) and body[i + 1] == "*"
            rows.append((grantor, grantee, LETTER_NAMES[letter], grantable))
    return iter(rows)


register_function("aclexplode", [array_of(TEXT)], _ACL_ROW, _aclexplode, ctx=True, srf=True, volatility="s")

_ACLDEFAULT_KINDS = {"r": "table", "s": "sequence", "n": "schema", "f": "function", "T": "type"}


def _acldefault(ctx: EvalContext, kind: str, owner: int) -> list[str]:
    if kind not in _ACLDEFAULT_KINDS:
        raise SqlError("22023", f"unrecognized object type abbreviation: {kind}")
    return acl_text(ctx.catalog, default_acl(_ACLDEFAULT_KINDS[kind], owner))


register_function("acldefault", [CHAR, OID], array_of(TEXT), _acldefault, ctx=True, volatility="i")


# -- information_schema.table_privileges, role_table_grants ------------------------------------------------

_TABLE_PRIVILEGE_ORDER = "arwdDxt"


def _table_grants(src: Source, *, public_too: bool) -> list[tuple]:
    """One row per (grantor, grantee, table, privilege) the current user may see: where it
    holds the grantor's or the grantee's privileges (or, for table_privileges, PUBLIC is the grantee)."""
    catalog = src.model.snapshot
    user = (
        src.ctx.user if src.ctx is not None else getattr(getattr(src.session, "ctx", None), "user", "admin")
    )
    me = role_oid(catalog, user)
    mine = None if is_superuser(catalog, me) else roles_of(catalog, me)
    out = []
    for r in src.model.relations:
        if r.system is not None or r.relkind not in ("r", "v"):
            continue
        privs = _relation_privs(catalog, r)
        owner_roles = privs.owner
        for item in privs.effective_acl:
            visible = (
                mine is None
                or item.grantor in mine
                or item.grantee in mine
                or (public_too and item.grantee == PUBLIC_OID)
            )
            if not visible:
                continue
            grantee = "PUBLIC" if item.grantee == PUBLIC_OID else role_name_of(catalog, item.grantee)
            owns = item.grantee != PUBLIC_OID and owner_roles in roles_of(catalog, item.grantee)
            for letter in _TABLE_PRIVILEGE_ORDER:
                if letter not in item.privileges:
                    continue
                grantable = "YES" if letter in item.grant_options or owns else "NO"
                out.append(
                    (
                        role_name_of(catalog, item.grantor),
                        grantee,
                        oids.DATABASE_NAME,
                        r.schema,
                        r.name,
                        LETTER_NAMES[letter],
                        grantable,
                        "YES" if letter == "r" else "NO",
                    )
                )
    return out


@system_relation(
    "information_schema",
    "table_privileges",
    13520,
    """
    grantor:name grantee:name table_catalog:name table_schema:name table_name:name privilege_type:varchar
    is_grantable:varchar with_hierarchy:varchar""",
    lifetime=Lifetime.SESSION,
)
def table_privileges(src: Source) -> list[tuple]:
    return _table_grants(src, public_too=True)


@system_relation(
    "information_schema",
    "role_table_grants",
    13521,
    """
    grantor:name grantee:name table_catalog:name table_schema:name table_name:name privilege_type:varchar
    is_grantable:varchar with_hierarchy:varchar""",
    lifetime=Lifetime.SESSION,
)
def role_table_grants(src: Source) -> list[tuple]:
    return _table_grants(src, public_too=False)
