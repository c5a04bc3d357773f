"""GRANT, REVOKE, ALTER ... OWNER TO, GRANT role TO role and ALTER DEFAULT PRIVILEGES as
analysis sees them: the objects and roles a statement names, the privilege letters it asks
for, and who grants (PostgreSQL's select_best_grantor) or may give an object away.

The records and the ACL algebra are qp/catalog/acl.py's; who may do what is
qp/catalog/privcheck.py's; qp/ddl/grants.py writes what the statements change.
"""

from __future__ import annotations

from qp.bind.context import BindContext
from qp.bind.ddl.functions import find_function
from qp.bind.ddl.names import search_schema
from qp.bind.ddl.ownership import find_relation, rangevar_names
from qp.catalog.acl import (
    KIND_ALL,
    KIND_WORD,
    LETTER_NAMES,
    PRIVILEGE_LETTERS,
    PUBLIC_OID,
    ObjectPrivs,
    ordered,
)
from qp.catalog.privcheck import (
    is_superuser,
    object_privs,
    require,
    require_owner,
    role_name_of,
    role_named,
    roles_of,
    schema_oid,
)
from qp.catalog.stored import CatalogSnapshot
from qp.errors import SqlError
from qp.parse.parser import string_list

_OBJTYPES = {"OBJECT_TABLE": "table", "OBJECT_SEQUENCE": "sequence", "OBJECT_SCHEMA": "schema",
             "OBJECT_DOMAIN": "domain", "OBJECT_TYPE": "type"}  # fmt: skip


def _letters(privileges: list | None, kind: str) -> tuple[str, bool]:
    """The letters a privilege list asks for (ALL: every one of the kind), and whether it said ALL."""
    if not privileges:
        return KIND_ALL[kind], True
    out = set()
    for node in privileges:
        access = node["AccessPriv"]
        if access.get("cols"):
            raise SqlError("0A000", "column privileges are not supported")
        name = (access.get("priv_name") or "").upper()
        letter = PRIVILEGE_LETTERS.get(name)
        if letter is None:
            raise SqlError("42601", f'unrecognized privilege type "{name.lower()}"')
        if letter not in KIND_ALL[kind]:
            what = "sequence" if kind == "sequence" else KIND_WORD[kind]
            raise SqlError("0LP01", f"invalid privilege type {LETTER_NAMES[letter]} for {what}")
        out.add(letter)
    return ordered(out), False


def _grantees(catalog: CatalogSnapshot, specs: list, user: str) -> list[int]:
    out = []
    for node in specs:
        spec = node["RoleSpec"]
        kind = spec.get("roletype")
        if kind == "ROLESPEC_PUBLIC":
            out.append(PUBLIC_OID)
            continue
        name = spec.get("rolename") if kind == "ROLESPEC_CSTRING" else user
        role = role_named(catalog, name)
        if role is None:
            raise SqlError("42704", f'role "{name}" does not exist')
        out.append(role.oid)
    return out


def _function_targets(body: dict, catalog: CatalogSnapshot) -> list[tuple[int, str, str]]:
    """(oid, "function", name) of each function a GRANT names (or every one of a schema's)."""
    if body.get("targtype") == "ACL_TARGET_ALL_IN_SCHEMA":
        out = []
        for schema in string_list(body.get("objects")):
            schema_oid(catalog, schema)
            out += [(f.oid, "function", f.name) for (s, _), fs in sorted(catalog.functions_by_name.items())
                    if s == schema for f in fs]  # fmt: skip
        return out
    out = []
    for node in body.get("objects", ()):
        function = find_function(catalog, node["ObjectWithArgs"], "function")
        assert function is not None
        out.append((function.oid, "function", function.name))
    return out


def _targets(body: dict, catalog: CatalogSnapshot, bc: BindContext) -> list[tuple[int, str, str]]:
    """(oid, ACL kind, name) of each object a GRANT names."""
    objtype = body.get("objtype")
    if objtype == "OBJECT_PROCEDURE":
        raise SqlError("0A000", "GRANT and REVOKE on procedures are not supported")
    if objtype in ("OBJECT_FUNCTION", "OBJECT_ROUTINE"):
        return _function_targets(body, catalog)
    if objtype not in _OBJTYPES:
        what = (objtype or "").removeprefix("OBJECT_").lower().replace("_", " ")
        raise SqlError("0A000", f"GRANT and REVOKE on {what} objects are not supported")
    kind = _OBJTYPES[objtype]
    out = []
    if body.get("targtype") == "ACL_TARGET_ALL_IN_SCHEMA":
        for schema in string_list(body.get("objects")):
            schema_oid(catalog, schema)
            if kind == "table":
                out += [
                    (t.oid, "table", t.name) for (s, _), t in sorted(catalog.tables.items()) if s == schema
                ]
                out += [(v.oid, "view", v.name) for (s, _), v in sorted(catalog.views.items()) if s == schema]
            elif kind == "sequence":
                out += [
                    (q.oid, "sequence", q.name)
                    for (s, _), q in sorted(catalog.sequences.items())
                    if s == schema
                ]
            else:
                raise SqlError(
                    "0A000", "GRANT ... ON ALL ... IN SCHEMA is supported for tables and sequences"
                )
        return out
    for node in body.get("objects", ()):
        if kind == "schema":
            name = node["String"]["sval"]
            out.append((schema_oid(catalog, name), "schema", name))
        elif kind in ("domain", "type"):
            names = string_list(node["List"]["items"]) if "List" in node else string_list(node.get("names"))
            if "TypeName" in node:
                names = string_list(node["TypeName"]["names"])
            domain = catalog.domains.get(
                (search_schema(names[-2] if len(names) > 1 else None, bc), names[-1])
            )
            if domain is None:
                if kind == "type":
                    raise SqlError("0A000", "GRANT and REVOKE on built-in types are not supported")
                raise SqlError("42704", f'type "{".".join(names)}" does not exist')
            out.append((domain.oid, "domain", names[-1]))
        else:
            names = rangevar_names(node)
            found = find_relation(catalog, names, bc)
            special = bc.resolve_special_relation if found is None else None
            if (
                special is not None
                and special(names[-2] if len(names) > 1 else "pg_catalog", names[-1]) is not None
            ):
                raise SqlError("0A000", "GRANT and REVOKE on system catalogs are not supported")
            if found is None or found[1] == "index":
                qualified = ".".join(names)
                if found is not None:
                    raise SqlError("42809", f'"{names[-1]}" is an index')
                raise SqlError("42P01", f'relation "{qualified}" does not exist')
            if kind == "sequence" and found[1] != "sequence":
                raise SqlError("42809", f'"{names[-1]}" is not a sequence')
            out.append((found[0], found[1], names[-1]))
    return out


def _grantor(catalog: CatalogSnapshot, role: int, privs: ObjectPrivs) -> tuple[int, set[str]]:
    """PostgreSQL's select_best_grantor: the owner for its members and superusers,
    else the held role with the most grant options; with the options it holds."""
    if is_superuser(catalog, role) or privs.owner in roles_of(catalog, role):
        return privs.owner, set(KIND_ALL[privs.kind])
    best, best_options = role, set()
    for candidate in sorted(roles_of(catalog, role), key=lambda r: r != role):
        _, options = held_by_exactly(catalog, candidate, privs)
        if len(options) > len(best_options):
            best, best_options = candidate, options
    return best, best_options


def held_by_exactly(catalog: CatalogSnapshot, role: int, privs: ObjectPrivs) -> tuple[set[str], set[str]]:
    have, options = set(), set()
    for item in privs.effective_acl:
        if item.grantee == role:
            have |= set(item.privileges)
            options |= set(item.grant_options)
    return have, options


def _may_give_away(catalog: CatalogSnapshot, role: int, privs: ObjectPrivs, name: str, new_owner: int,
                   schema: str | None) -> None:  # fmt: skip
    """PostgreSQL's rules for OWNER TO: a superuser may; otherwise the owner, able to
    SET ROLE to the new owner, which must be able to create in the object's schema."""
    if is_superuser(catalog, role):
        return
    require_owner(catalog, role, privs, name)
    if new_owner not in catalog.privileges.member_of(role):
        raise SqlError("42501", f'must be able to SET ROLE "{role_name_of(catalog, new_owner)}"')
    if schema is not None:
        require(catalog, new_owner, object_privs(catalog, schema_oid(catalog, schema), "schema"), "C", schema)


def is_owner_change(body: dict) -> bool:
    cmds = body.get("cmds", ())
    return bool(cmds) and all(c["AlterTableCmd"].get("subtype") == "AT_ChangeOwner" for c in cmds)
