"""Roles as analysis sees them: who a session is, the role a name or role spec names, and
the rules of CREATE/ALTER/DROP ROLE (names, options, passwords, who may manage whom).

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
qp/catalog/acl.py's, qp/ddl/grants.py's and qp/ddl/ownership.py's.
"""

from __future__ import annotations

from dataclasses import replace

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


# -- statements -----------------------------------------------------------------------------------------


def _name(name: str) -> str:
    if len(name.encode()) > NAME_BYTES_MAX:
        raise SqlError("42622", f'role name "{name}" is too long')
    if name in _RESERVED or name.startswith("pg_"):
        raise SqlError("42939", f'role name "{name}" is reserved',
                       detail='Role names starting with "pg_" are reserved.' if name.startswith("pg_") else None)
    return name


def _spec_name(spec: dict, user: str) -> str:
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


def _apply_options(role: RoleDef, options: list, ctx, notices: list[str], *, creating: bool) -> RoleDef:
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


def visible_roles(catalog: CatalogSnapshot, user: str) -> list[RoleDef]:
    """The roles pg_roles lists: `admin` (shown under a trust-mode session's own name
    when that name is no role, as that session acts as it) and every created role."""
    admin = bootstrap_role(catalog)
    if find_role(catalog, user) is None:
        admin = replace(admin, name=user)
    return [admin] + [r for r in catalog.roles.values() if r.oid != BOOTSTRAP_SUPERUSER_OID]
