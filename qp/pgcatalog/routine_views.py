"""information_schema's views of routines and of USAGE: routines, routine_privileges and
usage_privileges, computed as PostgreSQL's definitions (information_schema.sql) compute them.

- `routines`: every function the current user may see (it holds the owner's role, or EXECUTE),
  the built-in ones (pg_catalog, EXECUTE granted to PUBLIC) and the user's (LANGUAGE sql);
- `routine_privileges`: one row per EXECUTE grant in a function's ACL (its default when it has
  none: the owner's and PUBLIC's) that the user is the grantor or grantee of, or PUBLIC holds;
- `usage_privileges`: USAGE on collations (each owned one, to PUBLIC), domains and sequences,
  by the same rule. dsql has no foreign data wrappers or servers, so those parts are empty.

Columns PostgreSQL types with information_schema's domains carry their base types, as in
qp/pgcatalog/information_schema.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from qp.catalog.acl import PUBLIC_OID
from qp.catalog.privcheck import is_superuser, object_privs, role_name_of, role_oid, roles_of
from qp.catalog.stored import CatalogSnapshot
from qp.pgcatalog import builtins, oids, routines
from qp.pgcatalog.relation import Lifetime, Source, system_relation
from qp.pgcatalog.search_path import schema_oids
from qp.types import format_type, type_by_oid

SCHEMA = "information_schema"
DB = oids.DATABASE_NAME
NAME_BYTES_MAX = 63
_LANGUAGES = {oids.INTERNAL_LANGUAGE: "internal", routines.SQL_LANGUAGE_OID: "sql"}
_KINDS = {"f": "FUNCTION", "p": "PROCEDURE"}
# pg_proc's columns, by position (qp/pgcatalog/builtin_tables.py).
_OID, _NAME, _NAMESPACE, _OWNER, _LANG, _KIND, _SECDEF, _STRICT, _VOLATILE, _RETTYPE, _SRC = (
    0, 1, 2, 3, 4, 9, 10, 12, 14, 18, 25)  # fmt: skip


def _me(src: Source) -> tuple[CatalogSnapshot, int, frozenset[int] | None]:
    """The catalog, the current user's oid, and the roles it holds (None: a superuser holds all)."""
    catalog = src.model.snapshot
    user = src.ctx.user if src.ctx is not None else getattr(getattr(src.session, "ctx", None), "user", "admin")
    me = role_oid(catalog, user)
    return catalog, me, None if is_superuser(catalog, me) else roles_of(catalog, me)


def _specific_name(name: str, oid: int) -> str:
    """PostgreSQL's nameconcatoid: name_oid, the name cut so the whole fits in a name."""
    suffix = f"_{oid}"
    head = name.encode()[: NAME_BYTES_MAX - len(suffix)].decode(errors="ignore")
    return head + suffix


def _procs(catalog: CatalogSnapshot) -> Iterable[tuple]:
    return [*builtins.proc_rows(), *routines.proc_rows(catalog)]


def _namespace_names(catalog: CatalogSnapshot) -> dict[int, str]:
    return {oid: name for name, oid in schema_oids(catalog).items()}


def _executes(catalog: CatalogSnapshot, proc: tuple, mine: frozenset[int] | None) -> bool:
    """pg_has_role(proowner, 'USAGE') OR has_function_privilege(oid, 'EXECUTE')."""
    if mine is None or proc[_OWNER] in mine:
        return True
    if proc[_NAMESPACE] == oids.PG_CATALOG_NAMESPACE:
        return True  # built-ins: EXECUTE granted to PUBLIC
    privs = object_privs(catalog, proc[_OID], "function")
    return any((item.grantee == PUBLIC_OID or item.grantee in mine) and "X" in item.privileges
               for item in privs.effective_acl)  # fmt: skip


def _return_type(catalog: CatalogSnapshot, oid: int) -> tuple[str, str | None, str | None]:
    """data_type, type_udt_schema, type_udt_name of a function's result type."""
    domain = catalog.domains_by_oid.get(oid)
    if domain is not None:
        return "USER-DEFINED", domain.schema, domain.name
    t = type_by_oid(oid)
    if t.is_array or oid in (22, 30):  # int2vector and oidvector have elements and no fixed length
        return "ARRAY", "pg_catalog", t.name
    return format_type(t), "pg_catalog", t.name


_ROUTINE_COLUMNS = """
    specific_catalog:name specific_schema:name specific_name:name routine_catalog:name routine_schema:name
    routine_name:name routine_type:varchar module_catalog:name module_schema:name module_name:name
    udt_catalog:name udt_schema:name udt_name:name data_type:varchar character_maximum_length:int4
    character_octet_length:int4 character_set_catalog:name character_set_schema:name character_set_name:name
    collation_catalog:name collation_schema:name collation_name:name numeric_precision:int4
    numeric_precision_radix:int4 numeric_scale:int4 datetime_precision:int4 interval_type:varchar
    interval_precision:int4 type_udt_catalog:name type_udt_schema:name type_udt_name:name scope_catalog:name
    scope_schema:name scope_name:name maximum_cardinality:int4 dtd_identifier:name routine_body:varchar
    routine_definition:varchar external_name:varchar external_language:varchar parameter_style:varchar
    is_deterministic:varchar sql_data_access:varchar is_null_call:varchar sql_path:varchar
    schema_level_routine:varchar max_dynamic_result_sets:int4 is_user_defined_cast:varchar
    is_implicitly_invocable:varchar security_type:varchar to_sql_specific_catalog:name
    to_sql_specific_schema:name to_sql_specific_name:name as_locator:varchar created:timestamptz
    last_altered:timestamptz new_savepoint_level:varchar is_udt_dependent:varchar
    result_cast_from_data_type:varchar result_cast_as_locator:varchar result_cast_char_max_length:int4
    result_cast_char_octet_length:int4 result_cast_char_set_catalog:name result_cast_char_set_schema:name
    result_cast_char_set_name:name result_cast_collation_catalog:name result_cast_collation_schema:name
    result_cast_collation_name:name result_cast_numeric_precision:int4 result_cast_numeric_precision_radix:int4
    result_cast_numeric_scale:int4 result_cast_datetime_precision:int4 result_cast_interval_type:varchar
    result_cast_interval_precision:int4 result_cast_type_udt_catalog:name result_cast_type_udt_schema:name
    result_cast_type_udt_name:name result_cast_scope_catalog:name result_cast_scope_schema:name
    result_cast_scope_name:name result_cast_maximum_cardinality:int4 result_cast_dtd_identifier:name"""


@system_relation(SCHEMA, "routines", 13377, _ROUTINE_COLUMNS, lifetime=Lifetime.SESSION)
def routines_view(src: Source) -> list[tuple]:
    catalog, _, mine = _me(src)
    namespaces = _namespace_names(catalog)
    out = []
    for p in _procs(catalog):
        if not _executes(catalog, p, mine):
            continue
        schema = namespaces.get(p[_NAMESPACE])
        procedure = p[_KIND] == "p"
        language = _LANGUAGES.get(p[_LANG], "internal")
        if procedure:
            data_type = udt_schema = udt_name = None
        else:
            data_type, udt_schema, udt_name = _return_type(catalog, p[_RETTYPE])
        owner_usage = mine is None or p[_OWNER] in mine
        out.append((
            DB, schema, _specific_name(p[_NAME], p[_OID]), DB, schema, p[_NAME], _KINDS.get(p[_KIND]),
            None, None, None, None, None, None, data_type, None,
            None, None, None, None,
            None, None, None, None,
            None, None, None, None,
            None, DB if udt_schema is not None else None, udt_schema, udt_name, None,
            None, None, None, None if procedure else "0", "SQL" if language == "sql" else "EXTERNAL",
            p[_SRC] if owner_usage else None, p[_SRC] if language == "c" else None, language.upper(), "GENERAL",
            "YES" if p[_VOLATILE] == "i" else "NO", "MODIFIES", None if procedure else ("YES" if p[_STRICT] else "NO"),
            None, "YES", 0, None,
            None, "DEFINER" if p[_SECDEF] else "INVOKER", None,
            None, None, "NO", None,
            None, None, "NO",
            None, None, None,
            None, None, None,
            None, None, None,
            None, None, None,
            None, None, None,
            None, None, None,
            None, None, None,
            None, None, None,
        ))  # fmt: skip
    return out


def _grants(catalog: CatalogSnapshot, mine: frozenset[int] | None, privs: Any, letter: str) -> Iterable[tuple]:
    """(grantor, grantee, is_grantable) of each `letter` grant in an object's ACL the user may see:
    pg_has_role(grantor) OR pg_has_role(grantee) OR the grantee is PUBLIC."""
    for item in privs.effective_acl:
        if letter not in item.privileges:
            continue
        if mine is not None and not (item.grantor in mine or item.grantee in mine or item.grantee == PUBLIC_OID):
            continue
        public = item.grantee == PUBLIC_OID
        grantee = "PUBLIC" if public else role_name_of(catalog, item.grantee)
        owns = not public and privs.owner in roles_of(catalog, item.grantee)
        yield role_name_of(catalog, item.grantor), grantee, "YES" if owns or letter in item.grant_options else "NO"


@system_relation(SCHEMA, "routine_privileges", 13353, """
    grantor:name grantee:name specific_catalog:name specific_schema:name specific_name:name routine_catalog:name
    routine_schema:name routine_name:name privilege_type:varchar is_grantable:varchar""",
                 lifetime=Lifetime.SESSION)  # fmt: skip
def routine_privileges(src: Source) -> list[tuple]:
    catalog, _, mine = _me(src)
    out = []
    for f in sorted(catalog.functions.values(), key=lambda f: f.oid):  # the built-ins' are the bootstrap user's
        schema = f.schema
        for grantor, grantee, grantable in _grants(catalog, mine, object_privs(catalog, f.oid, "function"), "X"):
            out.append((grantor, grantee, DB, schema, _specific_name(f.name, f.oid), DB, schema, f.name, "EXECUTE",
                        grantable))  # fmt: skip
    return out


@system_relation(SCHEMA, "usage_privileges", 13454, """
    grantor:name grantee:name object_catalog:name object_schema:name object_name:name object_type:varchar
    privilege_type:varchar is_grantable:varchar""", lifetime=Lifetime.SESSION)
def usage_privileges(src: Source) -> list[tuple]:
    catalog, _, mine = _me(src)
    out = []
    owner = role_name_of(catalog, oids.BOOTSTRAP_SUPERUSER)
    for _, name, _, encoding, _, _ in oids.COLLATIONS:  # pg_collation's: usable by everyone
        if encoding in (-1, oids.ENCODING_UTF8):
            out.append((owner, "PUBLIC", DB, "pg_catalog", name, "COLLATION", "USAGE", "NO"))
    for domain in sorted(catalog.domains_by_oid.values(), key=lambda d: d.oid):
        for grantor, grantee, grantable in _grants(catalog, mine, object_privs(catalog, domain.oid, "domain"), "U"):
            out.append((grantor, grantee, DB, domain.schema, domain.name, "DOMAIN", "USAGE", grantable))
    for sequence in sorted(catalog.sequences.values(), key=lambda s: s.oid):
        privs = object_privs(catalog, sequence.oid, "sequence")
        for grantor, grantee, grantable in _grants(catalog, mine, privs, "U"):
            out.append((grantor, grantee, DB, sequence.schema, sequence.name, "SEQUENCE", "USAGE", grantable))
    return out
