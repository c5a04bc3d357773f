"""Roles as analysis sees them: who a session is, the role a name or role spec names, and
CREATE/ALTER/DROP ROLE (and USER) and ALTER ROLE ... RENAME bound: names, options and
passwords checked, who may manage whom decided; qp/ddl/role_statements.py writes the result.

Roles are catalog records (`qp.catalog.stored.RoleDef`), written by DDL
transactions like every other descriptor, so they are transactional,
versioned and seen by the next connection once committed. `admin` is DSQL's
predefined superuser (oid 10, as PostgreSQL's bootstrap role): it always
exists, may only have its password changed, and cannot be dropped or renamed.

Passwords are stored only as SCRAM-SHA-256 verifiers (`qp.frontend.scram`): a
plain password is hashed here, a verifier made elsewhere (psql's
``\\password``, a PostgreSQL dump) is stored as given, and MD5 hashes are
refused rather than stored in a form nothing here could check.

Role attributes follow PostgreSQL 16's rules for who may change what
(superusers anything; CREATEROLE roles other non-superusers; everyone their
own password). Owners, object privileges and role membership are
qp/catalog/acl.py's, qp/bind/ddl/grants.py's and qp/bind/ddl/ownership.py's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from qp.catalog.acl import Membership
from qp.catalog.stored import BOOTSTRAP_SUPERUSER, BOOTSTRAP_SUPERUSER_OID, CatalogSnapshot, RoleDef
from qp.errors import SqlError
from qp.frontend import scram
from qp.types import TIMESTAMPTZ, TS_POS_INF
from qp.types.text_io import text_decoder

NAME_BYTES_MAX = 63
_RESERVED = ("public", "none")


def bootstrap_role(catalog: CatalogSnapshot) -> RoleDef:
    """`admin`: its catalog record if its password was ever set, else the built-in default."""
    for role in catalog.roles.values():
        if role.oid == BOOTSTRAP_SUPERUSER_OID:
            return role
    return RoleDef(BOOTSTRAP_SUPERUSER_OID, BOOTSTRAP_SUPERUSER, login=True, superuser=True, createdb=True,
                   createrole=True, replication=True, bypassrls=True)


def find_role(catalog: CatalogSnapshot, name: str) -> RoleDef | None:
    if name == BOOTSTRAP_SUPERUSER:
        return bootstrap_role(catalog)
    return catalog.roles.get(name)


def session_role(catalog: CatalogSnapshot, user: str) -> RoleDef:
    """The role a session acts as. Under trust authentication a user name that is
    no role acts as the bootstrap superuser (documented in pgwire.server)."""
    role = find_role(catalog, user)
    if role is None:
        return replace(bootstrap_role(catalog), name=user)
    return role


# -- the rules ----------------------------------------------------------------------------------------------


def check_role_name(name: str) -> str:
    if len(name.encode()) > NAME_BYTES_MAX:
        raise SqlError("42622", f'role name "{name}" is too long')
    if name in _RESERVED or name.startswith("pg_"):
        raise SqlError("42939", f'role name "{name}" is reserved',
                       detail='Role names starting with "pg_" are reserved.' if name.startswith("pg_") else None)
    return name


def role_spec_name(spec: dict, user: str) -> str:
    kind = spec.get("roletype")
    if kind == "ROLESPEC_CSTRING":
        return spec["rolename"]
    if kind in ("ROLESPEC_CURRENT_USER", "ROLESPEC_SESSION_USER", "ROLESPEC_CURRENT_ROLE"):
        return user
    raise SqlError("0A000", "ALTER ROLE on PUBLIC or ALL is not supported")


def _password(value: str | None, notices: list[str], iterations: int = scram.ITERATIONS_DEFAULT) -> str | None:
    if value is None:
        return None
    if value == "":
        notices.append("empty string is not a valid password, clearing password")
        return None
    if value.startswith(scram.MECHANISM + "$"):
        if scram.parse_verifier(value) is None:
            raise SqlError("22023", "invalid SCRAM-SHA-256 password verifier")
        return value
    if len(value) == 35 and value.startswith("md5") and all(c in "0123456789abcdef" for c in value[3:]):
        raise SqlError("0A000", "MD5 password hashes are not supported",
                       hint="Give the password in clear text or as a SCRAM-SHA-256 verifier.")
    return scram.make_verifier(value, iterations=iterations)


def _with_options(role: RoleDef, options: list, ctx, notices: list[str], *, creating: bool) -> RoleDef:
    changes: dict = {}
    seen: set[str] = set()
    flags = {"canlogin": "login", "superuser": "superuser", "createdb": "createdb", "createrole": "createrole",
             "inherit": "inherit", "isreplication": "replication", "bypassrls": "bypassrls"}
    for option in options:
        element = option["DefElem"]
        name = element["defname"]
        arg = element.get("arg")
        if name in seen:
            raise SqlError("42601", "conflicting or redundant options")
        seen.add(name)
        if name in flags:
            changes[flags[name]] = arg["Boolean"].get("boolval", False)
        elif name == "password":
            iterations = int(ctx.settings.get("scram_iterations", scram.ITERATIONS_DEFAULT))  # the session's
            changes["password"] = _password(arg["String"]["sval"] if arg else None, notices, iterations)
        elif name == "connectionlimit":
            limit = arg["Integer"].get("ival", 0)
            if limit < -1:
                raise SqlError("22023", f"invalid connection limit: {limit}")
            changes["connection_limit"] = limit
        elif name == "validUntil":

            value = text_decoder(TIMESTAMPTZ, ctx)(arg["String"]["sval"])
            changes["valid_until"] = None if value == TS_POS_INF else value
        elif name == "sysid" and creating:
            notices.append("SYSID can no longer be specified")
        elif name in ("addroleto", "rolemembers", "adminmembers") and creating:
            continue  # memberships, written by create_role
        elif name in ("addroleto", "rolemembers", "adminmembers"):
            raise SqlError("0A000", "role membership (IN ROLE, ROLE, ADMIN) is not supported")
        else:
            raise SqlError("0A000", f'role option "{name}" is not supported')
    return replace(role, **changes)


def _may_manage(actor: RoleDef, target: RoleDef | None, changes_superuser: bool, verb: str, name: str) -> None:
    if actor.superuser:
        return
    if changes_superuser or (target is not None and target.superuser):
        raise SqlError("42501", f'permission denied to {verb} role "{name}"',
                       detail='Only roles with the SUPERUSER attribute may '
                       f'{verb} roles with the SUPERUSER attribute.')
    if not actor.createrole:
        raise SqlError("42501", f'permission denied to {verb} role "{name}"' if verb != "create"
                       else "permission denied to create role",
                       detail=f"Only roles with the CREATEROLE attribute may {verb} roles.")


# -- the statements --------------------------------------------------------------------------------------

NEW_ROLE = 0  # in BoundCreateRole.memberships: the role being created, whose oid is allocated on apply


@dataclass(frozen=True, slots=True)
class BoundCreateRole:
    """CREATE ROLE / USER: the role to store (oid 0 until applied), the memberships its IN ROLE,
    ROLE and ADMIN options and its creator's ADMIN OPTION write (NEW_ROLE: the new role)."""

    role: RoleDef
    memberships: tuple[Membership, ...]
    notices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BoundAlterRole:
    """ALTER ROLE: the role as it becomes."""

    role: RoleDef
    notices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BoundDropRoles:
    """DROP ROLE: the roles found, and a notice for each IF EXISTS that found none."""

    roles: tuple[RoleDef, ...]
    notices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BoundRenameRole:
    """ALTER ROLE ... RENAME TO: the role under its new name."""

    role: RoleDef


def bind_create_role(body: dict, catalog: CatalogSnapshot, user: str, ctx) -> BoundCreateRole:
    """CREATE ROLE / USER as `user`; `ctx` (the session's EvalContext) reads VALID UNTIL and
    has the session's scram_iterations."""
    name = check_role_name(body["role"])
    if find_role(catalog, name) is not None:
        raise SqlError("42710", f'role "{name}" already exists')
    notices: list[str] = []
    role = RoleDef(NEW_ROLE, name, login=body.get("stmt_type") == "ROLESTMT_USER")
    role = _with_options(role, body.get("options", []), ctx, notices, creating=True)
    actor = session_role(catalog, user)
    _may_manage(actor, None, role.superuser, "create", name)
    memberships = _memberships(body.get("options", []), role, actor, catalog)
    return BoundCreateRole(role, memberships, tuple(notices))


def _memberships(options: list, role: RoleDef, actor: RoleDef, catalog: CatalogSnapshot) -> tuple[Membership, ...]:
    """CREATE ROLE's IN ROLE, ROLE and ADMIN, as GRANT role TO role would write them; and as
    PostgreSQL 16 does, a creator that is no superuser gets ADMIN OPTION on the new role."""
    grantor = BOOTSTRAP_SUPERUSER_OID if actor.superuser else actor.oid
    out: list[Membership] = []
    for option in options:
        element = option["DefElem"]
        kind = element["defname"]
        if kind not in ("addroleto", "rolemembers", "adminmembers"):
            continue
        for item in element["arg"]["List"]["items"]:
            other_name = role_spec_name(item["RoleSpec"], actor.name)
            other = find_role(catalog, other_name)
            if other is None:
                raise SqlError("42704", f'role "{other_name}" does not exist')
            if kind == "addroleto":
                if not actor.superuser and not catalog.privileges.admin_of(actor.oid, other.oid):
                    raise SqlError("42501", f'permission denied to grant role "{other_name}"')
                out.append(Membership(other.oid, role.oid, grantor))
            else:
                out.append(Membership(role.oid, other.oid, grantor, admin=kind == "adminmembers"))
    if not actor.superuser:
        out.append(Membership(role.oid, actor.oid, BOOTSTRAP_SUPERUSER_OID, admin=True, inherit=False, set=False))
    return tuple(out)


def bind_alter_role(body: dict, catalog: CatalogSnapshot, user: str, ctx) -> BoundAlterRole:
    name = role_spec_name(body["role"], user)
    role = find_role(catalog, name)
    if role is None:
        raise SqlError("42704", f'role "{name}" does not exist')
    notices: list[str] = []
    changed = _with_options(role, body.get("options", []), ctx, notices, creating=False)
    actor = session_role(catalog, user)
    only_password = all(o["DefElem"]["defname"] == "password" for o in body.get("options", []))
    if not (only_password and actor.name == role.name):
        _may_manage(actor, role, changed.superuser != role.superuser, "alter", name)
    if role.oid == BOOTSTRAP_SUPERUSER_OID and not only_password:
        raise SqlError("0A000", f'role "{name}" is predefined; only its password can be changed')
    return BoundAlterRole(changed, tuple(notices))


def bind_drop_roles(body: dict, catalog: CatalogSnapshot, user: str) -> BoundDropRoles:
    notices: list[str] = []
    actor = session_role(catalog, user)
    if not (actor.superuser or actor.createrole):
        raise SqlError("42501", "permission denied to drop role",
                       detail="Only roles with the CREATEROLE attribute may drop roles.")
    dropping: list[RoleDef] = []
    for spec in body.get("roles", ()):
        name = role_spec_name(spec["RoleSpec"], user)
        role = find_role(catalog, name)
        if role is None:
            if body.get("missing_ok"):
                notices.append(f'role "{name}" does not exist, skipping')
                continue
            raise SqlError("42704", f'role "{name}" does not exist')
        if name == user:
            raise SqlError("55006", "current user cannot be dropped")
        if role.oid == BOOTSTRAP_SUPERUSER_OID:
            raise SqlError("55006", f"cannot drop role {name} because it is required by the database system")
        _may_manage(actor, role, False, "drop", name)
        dropping.append(role)
    return BoundDropRoles(tuple(dropping), tuple(notices))


def bind_rename_role(body: dict, catalog: CatalogSnapshot, user: str) -> BoundRenameRole:
    old = body["subname"]
    new = check_role_name(body["newname"])
    role = find_role(catalog, old)
    if role is None:
        raise SqlError("42704", f'role "{old}" does not exist')
    if old == user:
        raise SqlError("0A000", "session user cannot be renamed")
    if role.oid == BOOTSTRAP_SUPERUSER_OID:
        raise SqlError("0A000", f'role "{old}" is predefined and cannot be renamed')
    if find_role(catalog, new) is not None:
        raise SqlError("42710", f'role "{new}" already exists')
    _may_manage(session_role(catalog, user), role, False, "rename", old)
    return BoundRenameRole(replace(role, name=new))


def visible_roles(catalog: CatalogSnapshot, user: str) -> list[RoleDef]:
    """The roles pg_roles lists: `admin` (shown under a trust-mode session's own name
    when that name is no role, as that session acts as it) and every created role."""
    admin = bootstrap_role(catalog)
    if find_role(catalog, user) is None:
        admin = replace(admin, name=user)
    return [admin] + [r for r in catalog.roles.values() if r.oid != BOOTSTRAP_SUPERUSER_OID]
