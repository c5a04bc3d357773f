"""GRANT, REVOKE, ALTER ... OWNER TO, GRANT role TO role and ALTER DEFAULT PRIVILEGES.

Each is a catalog change like any DDL (DSQL: "catalog changes, including
GRANT and REVOKE, bump the catalog version"), so privileges are transactional,
versioned, and a prepared statement bound before a GRANT is bound and checked
again after it. The records and the ACL algebra are qp/catalog/acl.py's; who
may do what is qp/catalog/privcheck.py's; the ownership hooks around every DDL
statement are qp/ddl/ownership.py's.
"""

from __future__ import annotations

from dataclasses import replace

from qp.api import Notice
from qp.bind.context import BindContext
from qp.bind.ddl.functions import find_function
from qp.bind.ddl.grants import _grantees, _grantor, _letters, _may_give_away, _targets
from qp.bind.ddl.names import search_schema
from qp.bind.ddl.ownership import find_relation, rangevar_names, relation_privs
from qp.catalog.acl import (
    DEFAULT_ACL_KINDS,
    KIND_ALL,
    KIND_WORD,
    PUBLIC_OID,
    DefaultAcl,
    DependentPrivileges,
    Membership,
    ObjectPrivs,
    change_owner,
    default_acl,
    grant,
    membership_key,
    ordered,
    privs_key,
    revoke,
    revoke_cascade,
    sorted_acl,
)
from qp.catalog.privcheck import (
    held,
    is_superuser,
    object_privs,
    role_name_of,
    role_named,
    role_oid,
    roles_of,
    schema_oid,
)
from qp.catalog.stored import CatalogSnapshot, relation_key
from qp.ddl.common import DdlResult, bump_version, catalog_counters
from qp.errors import SqlError
from qp.parse.parser import string_list

# -- GRANT / REVOKE on objects --------------------------------------------------------------------------

async def grant_revoke(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext, user: str) -> DdlResult:
    is_grant = bool(body.get("is_grant"))
    tag = "GRANT" if is_grant else "REVOKE"
    if body.get("grantor"):
        raise SqlError("0A000", "GRANTED BY is not supported")
    role = role_oid(catalog, user)
    grantees = _grantees(catalog, body.get("grantees", ()), user)
    with_option = bool(body.get("grant_option"))
    if is_grant and with_option and PUBLIC_OID in grantees:
        raise SqlError("0LP01", "grant options can only be granted to roles")
    cascade = body.get("behavior") == "DROP_CASCADE"
    notices: list = []
    version, _ = await catalog_counters(txn)
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
        txn.put(privs_key(relation_key(oid)), ObjectPrivs(oid, kind, privs.owner, acl).to_record())
    bump_version(txn, version, None)
    return DdlResult(tag, notices)


# -- ALTER ... OWNER TO ------------------------------------------------------------------------------


async def change_owner_of(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext, user: str) -> DdlResult:
    """ALTER TABLE / VIEW / SEQUENCE ... OWNER TO role (an index follows its table)."""
    names = rangevar_names(body["relation"])
    found = find_relation(catalog, names, bc)
    objtype = body.get("objtype", "OBJECT_TABLE")
    if found is None:
        if body.get("missing_ok"):
            return DdlResult("ALTER " + objtype.removeprefix("OBJECT_"),
                             [f'relation "{names[-1]}" does not exist, skipping'])  # fmt: skip
        raise SqlError("42P01", f'relation "{".".join(names)}" does not exist')
    if found[1] == "index":
        raise SqlError(
            "0A000", "ALTER INDEX ... OWNER TO is not supported: an index belongs to its table's owner"
        )
    spec = body["cmds"][-1]["AlterTableCmd"]["newowner"]
    new_owner = _grantees(catalog, [{"RoleSpec": spec}], user)[0]
    role = role_oid(catalog, user)
    privs = relation_privs(catalog, found)
    version, _ = await catalog_counters(txn)
    if new_owner != privs.owner:
        _may_give_away(catalog, role, privs, names[-1], new_owner, names[-2] if len(names) > 1 else "public")
        changed = [(found[0], privs)]
        if found[1] == "table":  # sequences owned by its columns follow the table (PostgreSQL)
            for sequence in catalog.sequences.values():
                if sequence.owned_by and sequence.owned_by[0] == found[0]:
                    changed.append((sequence.oid, object_privs(catalog, sequence.oid, "sequence")))
        for oid, each in changed:
            moved = ObjectPrivs(oid, each.kind, new_owner, change_owner(each.acl, each.owner, new_owner))
            txn.put(privs_key(relation_key(oid)), moved.to_record())
    bump_version(txn, version, None)
    return DdlResult("ALTER " + {"OBJECT_VIEW": "VIEW", "OBJECT_SEQUENCE": "SEQUENCE"}.get(objtype, "TABLE"))


async def alter_owner(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext, user: str) -> DdlResult:
    """ALTER DOMAIN / TYPE / SCHEMA ... OWNER TO role."""
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
        function = find_function(catalog, body["object"]["ObjectWithArgs"], "function")
        assert function is not None
        name, schema = function.name, function.schema
        privs = object_privs(catalog, function.oid, "function")
    else:
        raise SqlError("0A000", f"ALTER {word.replace('_', ' ')} ... OWNER TO is not supported")
    new_owner = _grantees(catalog, [{"RoleSpec": body["newowner"]}], user)[0]
    version, _ = await catalog_counters(txn)
    if new_owner != privs.owner:
        _may_give_away(catalog, role_oid(catalog, user), privs, name, new_owner, schema)
        moved = ObjectPrivs(privs.oid, privs.kind, new_owner, change_owner(privs.acl, privs.owner, new_owner))
        txn.put(privs_key(relation_key(privs.oid)), moved.to_record())
        if privs.kind == "function":  # pg_proc.proowner reads the descriptor's owner
            renamed = replace(function, owner=role_name_of(catalog, new_owner))
            txn.put(renamed.descriptor_key, renamed.to_record())
    bump_version(txn, version, None)
    return DdlResult("ALTER " + word)


# -- GRANT role TO role ------------------------------------------------------------------------------


async def grant_role(body: dict, txn, catalog: CatalogSnapshot, user: str) -> DdlResult:
    is_grant = bool(body.get("is_grant"))
    tag = "GRANT ROLE" if is_grant else "REVOKE ROLE"
    if body.get("grantor"):
        raise SqlError("0A000", "GRANTED BY is not supported")
    options = {}
    for node in body.get("opt", ()):
        element = node["DefElem"]
        arg = element.get("arg")
        value = True if arg is None else arg.get("Boolean", {}).get("boolval", False) or \
            (arg.get("String", {}).get("sval", "").lower() in ("true", "on"))  # fmt: skip
        options[element["defname"]] = value
    actor = role_oid(catalog, user)
    superuser = is_superuser(catalog, actor)
    grantor = 10 if superuser else actor
    notices: list = []
    version, _ = await catalog_counters(txn)
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
            key = membership_key(relation_key(granted.oid), member)
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
                txn.put(key, changed.to_record())
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
                    txn.put(key, changed.to_record())
                else:
                    txn.put(key, None)
    bump_version(txn, version, None)
    return DdlResult(tag, notices)


# -- ALTER DEFAULT PRIVILEGES ------------------------------------------------------------------------


async def alter_default_privileges(body: dict, txn, catalog: CatalogSnapshot, user: str) -> DdlResult:
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
    version, next_oid = await catalog_counters(txn)
    next_oid = max(next_oid, catalog.next_oid)
    allocated = False
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
            if entry is None:
                oid = next_oid
                next_oid += 1
                allocated = True
            else:
                oid = entry.oid
            key = relation_key(oid)
            acl = sorted_acl(acl)
            if acl == sorted_acl(start):
                txn.put(key, None)  # back to the defaults: no entry (as PostgreSQL removes it)
            else:
                txn.put(key, DefaultAcl(oid, role, namespace, letter, acl).to_record())
    bump_version(txn, version, next_oid if allocated else None)
    return DdlResult("ALTER DEFAULT PRIVILEGES")
