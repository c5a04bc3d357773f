"""GRANT, REVOKE, ALTER ... OWNER TO, GRANT role TO role and ALTER DEFAULT PRIVILEGES bound:
the objects and roles a statement names, the privilege letters it asks for, and who grants
(PostgreSQL's select_best_grantor) or may give an object away.

The records and the ACL algebra are qp/catalog/acl.py's; who may do what is
qp/catalog/privcheck.py's; qp/ddl/grants.py writes what the statements change.
Each statement binds to the records it writes (the privileges, memberships and default
privileges as they become), computed from the catalog; applying them allocates the oids
of new default-privilege entries and bumps the catalog version.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from qp.api import Notice
from qp.bind.context import BindContext
from qp.bind.ddl.functions import find_function
from qp.bind.ddl.names import search_schema
from qp.bind.ddl.ownership import find_relation, rangevar_names, relation_privs
from qp.bind.ddl.skip import SkipDdl
from qp.catalog.acl import (
    DEFAULT_ACL_KINDS,
    KIND_ALL,
    KIND_WORD,
    LETTER_NAMES,
    PRIVILEGE_LETTERS,
    PUBLIC_OID,
    DefaultAcl,
    DependentPrivileges,
    Membership,
    ObjectPrivs,
    change_owner,
    default_acl,
    grant,
    ordered,
    revoke,
    revoke_cascade,
    sorted_acl,
)
from qp.catalog.privcheck import (
    held,
    is_superuser,
    object_privs,
    require,
    require_owner,
    role_name_of,
    role_named,
    role_oid,
    roles_of,
    schema_oid,
)
from qp.catalog.stored import CatalogSnapshot, FunctionDef
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


def _granted_by(catalog: CatalogSnapshot, body: dict, user: str) -> int | None:
    """The role GRANTED BY names (42704 when there is none such), or None without the clause."""
    spec = body.get("grantor")
    if not spec:
        return None
    return _grantees(catalog, [spec if "RoleSpec" in spec else {"RoleSpec": spec}], user)[0]


def _function_targets(body: dict, catalog: CatalogSnapshot, bc: BindContext) -> list[tuple[int, str, str]]:
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
        function = find_function(catalog, node["ObjectWithArgs"], "function", bc=bc)
        assert function is not None
        out.append((function.oid, "function", function.name))
    return out


def _targets(body: dict, catalog: CatalogSnapshot, bc: BindContext) -> list[tuple[int, str, str]]:
    """(oid, ACL kind, name) of each object a GRANT names."""
    objtype = body.get("objtype")
    if objtype == "OBJECT_PROCEDURE":
        raise SqlError("0A000", "GRANT and REVOKE on procedures are not supported")
    if objtype in ("OBJECT_FUNCTION", "OBJECT_ROUTINE"):
        return _function_targets(body, catalog, bc)
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


# -- the statements ------------------------------------------------------------------------------

NEW_DEFAULT_ACL = 0  # a DefaultAcl's oid in BoundAlterDefaultPrivileges: a new entry, its oid allocated on apply


@dataclass(frozen=True, slots=True)
class BoundGrantRevoke:
    """GRANT / REVOKE on objects: each object's privileges as they become (in the order named)."""

    tag: str
    privileges: tuple[ObjectPrivs, ...]
    notices: tuple[Notice, ...]


@dataclass(frozen=True, slots=True)
class BoundChangeOwner:
    """ALTER ... OWNER TO: the privileges records with their new owner (a table's with those of
    the sequences its columns own); a function's descriptor with its new owner, if one moves."""

    tag: str
    privileges: tuple[ObjectPrivs, ...]
    function: FunctionDef | None


@dataclass(frozen=True, slots=True)
class BoundGrantRole:
    """GRANT / REVOKE role TO role: (role, member, membership as it becomes or None when it
    goes), in the order the statement names them."""

    tag: str
    memberships: tuple[tuple[int, int, Membership | None], ...]
    notices: tuple[Notice, ...]


@dataclass(frozen=True, slots=True)
class BoundAlterDefaultPrivileges:
    """ALTER DEFAULT PRIVILEGES: each entry as it becomes (oid NEW_DEFAULT_ACL: a new one), and
    whether it goes (back to the defaults)."""

    changes: tuple[tuple[DefaultAcl, bool], ...]


def bind_grant_revoke(body: dict, catalog: CatalogSnapshot, bc: BindContext, user: str) -> BoundGrantRevoke:
    """GRANT / REVOKE privileges ON objects, as `user`."""
    is_grant = bool(body.get("is_grant"))
    tag = "GRANT" if is_grant else "REVOKE"
    role = role_oid(catalog, user)
    granted_by = _granted_by(catalog, body, user)
    if granted_by is not None and granted_by != role:  # PostgreSQL 15 takes GRANTED BY as the standard's syntax only
        raise SqlError("0A000", "grantor must be current user")
    grantees = _grantees(catalog, body.get("grantees", ()), user)
    with_option = bool(body.get("grant_option"))
    if is_grant and with_option and PUBLIC_OID in grantees:
        raise SqlError("0LP01", "grant options can only be granted to roles")
    cascade = body.get("behavior") == "DROP_CASCADE"
    notices: list[Notice] = []
    written: list[ObjectPrivs] = []
    for oid, kind, name in _targets(body, catalog, bc):
        privs = object_privs(catalog, oid, kind)
        if kind == "sequence" and body.get("objtype") == "OBJECT_TABLE":
            # GRANT ... ON [TABLE] a sequence: table privileges, of which it keeps its own, with a warning.
            letters, said_all = _letters(body.get("privileges"), "table")
            letters = KIND_ALL["sequence"] if said_all else letters
            if set(letters) - set(KIND_ALL["sequence"]):
                notices.append(Notice(f'sequence "{name}" only supports USAGE, SELECT, and UPDATE privileges',
                                      "01007", "WARNING"))  # fmt: skip
                letters = ordered(set(letters) & set(KIND_ALL["sequence"]))
                if not letters:
                    continue
        else:
            letters, said_all = _letters(body.get("privileges"), "table" if kind == "view" else kind)
        grantor, available = _grantor(catalog, role, privs)
        if not available & set(letters):
            have, options = held(catalog, role, privs)
            if not have and not options:
                # GRANT ON [TABLE] names every relation a table, as PostgreSQL's message does.
                word = "table" if kind == "view" else KIND_WORD[kind]
                raise SqlError("42501", f"permission denied for {word} {name}")
        this = ordered(set(letters) & available)
        if is_grant and not this:
            notices.append(Notice(f'no privileges were granted for "{name}"', "01007", "WARNING"))
        elif is_grant and not said_all and this != letters:
            notices.append(Notice(f'not all privileges were granted for "{name}"', "01007", "WARNING"))
        elif not is_grant and not this:
            notices.append(Notice(f'no privileges could be revoked for "{name}"', "01006", "WARNING"))
        elif not is_grant and not said_all and this != letters:
            notices.append(Notice(f'not all privileges could be revoked for "{name}"', "01006", "WARNING"))
        acl = privs.effective_acl
        for grantee in grantees:
            if is_grant:
                if this:
                    acl = grant(acl, grantee, grantor, this, with_option)
                continue
            acl, lost = revoke(acl, grantee, grantor, this, options_only=with_option)
            try:
                acl = revoke_cascade(acl, grantee, lost, privs.owner, cascade)
            except DependentPrivileges:
                raise SqlError("2BP01", "dependent privileges exist",
                               hint="Use CASCADE to revoke them too.") from None  # fmt: skip
        written.append(ObjectPrivs(oid, kind, privs.owner, acl))
    return BoundGrantRevoke(tag, tuple(written), tuple(notices))


def bind_change_owner_of(body: dict, catalog: CatalogSnapshot, bc: BindContext,
                         user: str) -> BoundChangeOwner | SkipDdl:  # fmt: skip
    """ALTER TABLE / VIEW / SEQUENCE ... OWNER TO role (an index follows its table)."""
    names = rangevar_names(body["relation"])
    found = find_relation(catalog, names, bc)
    objtype = body.get("objtype", "OBJECT_TABLE")
    if found is None:
        if body.get("missing_ok"):
            return SkipDdl("ALTER " + objtype.removeprefix("OBJECT_"),
                           (f'relation "{names[-1]}" does not exist, skipping',))  # fmt: skip
        raise SqlError("42P01", f'relation "{".".join(names)}" does not exist')
    if found[1] == "index":
        raise SqlError(
            "0A000", "ALTER INDEX ... OWNER TO is not supported: an index belongs to its table's owner"
        )
    spec = body["cmds"][-1]["AlterTableCmd"]["newowner"]
    new_owner = _grantees(catalog, [{"RoleSpec": spec}], user)[0]
    role = role_oid(catalog, user)
    privs = relation_privs(catalog, found)
    tag = "ALTER " + {"OBJECT_VIEW": "VIEW", "OBJECT_SEQUENCE": "SEQUENCE"}.get(objtype, "TABLE")
    moved: list[ObjectPrivs] = []
    if new_owner != privs.owner:
        _may_give_away(catalog, role, privs, names[-1], new_owner, names[-2] if len(names) > 1 else "public")
        changed = [(found[0], privs)]
        if found[1] == "table":  # sequences owned by its columns follow the table (PostgreSQL)
            for sequence in catalog.sequences.values():
                if sequence.owned_by and sequence.owned_by[0] == found[0]:
                    changed.append((sequence.oid, object_privs(catalog, sequence.oid, "sequence")))
        for oid, each in changed:
            moved.append(ObjectPrivs(oid, each.kind, new_owner, change_owner(each.acl, each.owner, new_owner)))
    return BoundChangeOwner(tag, tuple(moved), None)


def bind_alter_owner(body: dict, catalog: CatalogSnapshot, bc: BindContext, user: str) -> BoundChangeOwner:
    """ALTER DOMAIN / TYPE / SCHEMA / FUNCTION / ROUTINE ... OWNER TO role."""
    objtype = body.get("objectType", "")
    word = objtype.removeprefix("OBJECT_")
    if objtype == "OBJECT_SCHEMA":
        name = body["object"]["String"]["sval"]
        privs, schema = object_privs(catalog, schema_oid(catalog, name), "schema"), None
    elif objtype in ("OBJECT_DOMAIN", "OBJECT_TYPE"):
        names = string_list(body["object"]["List"]["items"])
        name = names[-1]
        schema = search_schema(names[-2] if len(names) > 1 else None, bc)
        domain = catalog.domains.get((schema, name))
        if domain is None:
            raise SqlError("42704", f'type "{".".join(names)}" does not exist')
        privs = object_privs(catalog, domain.oid, "domain")
    elif objtype in ("OBJECT_FUNCTION", "OBJECT_ROUTINE"):
        function = find_function(catalog, body["object"]["ObjectWithArgs"], "function", bc=bc)
        assert function is not None
        name, schema = function.name, function.schema
        privs = object_privs(catalog, function.oid, "function")
    else:
        raise SqlError("0A000", f"ALTER {word.replace('_', ' ')} ... OWNER TO is not supported")
    new_owner = _grantees(catalog, [{"RoleSpec": body["newowner"]}], user)[0]
    if new_owner == privs.owner:
        return BoundChangeOwner("ALTER " + word, (), None)
    _may_give_away(catalog, role_oid(catalog, user), privs, name, new_owner, schema)
    moved = ObjectPrivs(privs.oid, privs.kind, new_owner, change_owner(privs.acl, privs.owner, new_owner))
    owned_function = None
    if privs.kind == "function":  # pg_proc.proowner reads the descriptor's owner
        owned_function = replace(function, owner=role_name_of(catalog, new_owner))
    return BoundChangeOwner("ALTER " + word, (moved,), owned_function)


def bind_grant_role(body: dict, catalog: CatalogSnapshot, user: str) -> BoundGrantRole:
    """GRANT / REVOKE role TO role, as `user`."""
    is_grant = bool(body.get("is_grant"))
    tag = "GRANT ROLE" if is_grant else "REVOKE ROLE"
    granted_by = _granted_by(catalog, body, user)  # recorded by GRANT (any role, as PostgreSQL 15); REVOKE ignores it
    options = {}
    for node in body.get("opt", ()):
        element = node["DefElem"]
        arg = element.get("arg")
        value = True if arg is None else arg.get("Boolean", {}).get("boolval", False) or \
            (arg.get("String", {}).get("sval", "").lower() in ("true", "on"))  # fmt: skip
        options[element["defname"]] = value
    actor = role_oid(catalog, user)
    superuser = is_superuser(catalog, actor)
    grantor = granted_by if granted_by is not None else 10 if superuser else actor
    notices: list[Notice] = []
    writes: list[tuple[int, int, Membership | None]] = []
    members = _grantees(catalog, body.get("grantee_roles", ()), user)
    if PUBLIC_OID in members:
        raise SqlError("0LP01", 'role "public" cannot have explicit members')
    memberships = {(m.role, m.member): m for m in catalog.privileges.memberships}
    for node in body.get("granted_roles", ()):
        name = node["AccessPriv"]["priv_name"]
        granted = role_named(catalog, name)
        if granted is None:
            raise SqlError("42704", f'role "{name}" does not exist')
        if not superuser and not catalog.privileges.admin_of(actor, granted.oid):
            verb = "grant" if is_grant else "revoke"
            raise SqlError(
                "42501",
                f'permission denied to {verb} role "{name}"',
                detail=f'Only roles with the ADMIN option on role "{name}" may {verb} this role.',
            )
        if granted.oid == 10 and is_grant:
            raise SqlError("0LP01", f'role "{name}" cannot be granted to other roles')  # DSQL: admin is fixed
        for member in members:
            member_name = role_name_of(catalog, member)
            existing = memberships.get((granted.oid, member))
            if is_grant:
                if member == granted.oid or member in catalog.privileges.member_of(granted.oid):
                    raise SqlError("0LP01", f'role "{name}" is a member of role "{member_name}"')
                if existing is not None and not options:
                    notices.append(
                        Notice(
                            f'role "{member_name}" has already been granted membership in role '
                            f'"{name}" by role "{role_name_of(catalog, existing.grantor)}"'
                        )
                    )
                    continue
                base = existing or Membership(granted.oid, member, grantor)
                changed = Membership(
                    base.role,
                    base.member,
                    base.grantor,
                    options.get("admin", base.admin),
                    options.get("inherit", base.inherit),
                    options.get("set", base.set),
                )
                writes.append((granted.oid, member, changed))
            else:
                if existing is None:
                    notices.append(Notice(f'role "{member_name}" has not been granted membership in role '
                                          f'"{name}" by role "{role_name_of(catalog, grantor)}"', "01006",
                                          "WARNING"))  # fmt: skip
                    continue
                if options:  # REVOKE ADMIN/INHERIT/SET OPTION FOR: only that option goes
                    changed = Membership(
                        existing.role,
                        existing.member,
                        existing.grantor,
                        existing.admin and "admin" not in options,
                        existing.inherit and "inherit" not in options,
                        existing.set and "set" not in options,
                    )
                    writes.append((granted.oid, member, changed))
                else:
                    writes.append((granted.oid, member, None))
    return BoundGrantRole(tag, tuple(writes), tuple(notices))


def bind_alter_default_privileges(body: dict, catalog: CatalogSnapshot,
                                  user: str) -> BoundAlterDefaultPrivileges:  # fmt: skip
    """ALTER DEFAULT PRIVILEGES [FOR ROLE ...] [IN SCHEMA ...] GRANT | REVOKE ..., as `user`."""
    actor = role_oid(catalog, user)
    roles, schemas = [actor], [0]
    for node in body.get("options", ()):
        element = node["DefElem"]
        items = element["arg"]["List"]["items"]
        if element["defname"] == "roles":
            roles = _grantees(catalog, items, user)
        elif element["defname"] == "schemas":
            schemas = [schema_oid(catalog, n["String"]["sval"]) for n in items]
    action = body["action"]
    objtype = action.get("objtype")
    if objtype not in DEFAULT_ACL_KINDS:
        raise SqlError("0A000", "ALTER DEFAULT PRIVILEGES on these objects is not supported")
    letter, kind = DEFAULT_ACL_KINDS[objtype]
    if letter == "n" and schemas != [0]:
        raise SqlError("0LP01", "cannot use IN SCHEMA clause when using GRANT/REVOKE ON SCHEMAS")
    letters, _ = _letters(action.get("privileges"), kind)
    grantees = _grantees(catalog, action.get("grantees", ()), user)
    is_grant = bool(action.get("is_grant"))
    with_option = bool(action.get("grant_option"))
    if is_grant and with_option and PUBLIC_OID in grantees:
        raise SqlError("0LP01", "grant options can only be granted to roles")
    changes: list[tuple[DefaultAcl, bool]] = []
    for role in roles:
        if not is_superuser(catalog, actor) and role not in roles_of(catalog, actor):
            raise SqlError("42501", "permission denied to change default privileges")
        for namespace in schemas:
            entry = next((d for d in catalog.privileges.default_acls
                          if d.role == role and d.namespace == namespace and d.objtype == letter), None)  # fmt: skip
            start = default_acl(kind, role) if namespace == 0 else ()
            acl = entry.acl if entry is not None else start
            for grantee in grantees:
                if is_grant:
                    acl = grant(acl, grantee, role, letters, with_option)
                else:
                    acl, _ = revoke(acl, grantee, role, letters, options_only=with_option)
            if entry is None and sorted_acl(acl) == sorted_acl(start):
                continue
            oid = NEW_DEFAULT_ACL if entry is None else entry.oid
            acl = sorted_acl(acl)
            # Back to the defaults: no entry (as PostgreSQL removes it).
            changes.append((DefaultAcl(oid, role, namespace, letter, acl), acl == sorted_acl(start)))
    return BoundAlterDefaultPrivileges(tuple(changes))
