"""Who a session is: SET ROLE, RESET ROLE and SET SESSION AUTHORIZATION, as PostgreSQL 16.

A session has three names: the role it authenticated as (`Session.user`,
fixed), its session user (`session_authorization`, which a superuser may
change) and its current user (`role`, or the session user when `role` is
`none`). current_user and every privilege check follow the current user;
session_user follows the session user. Both are settings, so a SET inside
a transaction that rolls back is undone with it, as in PostgreSQL.

The checks are PostgreSQL's (variable.c): only a login role that is a
superuser may change the session authorization; SET ROLE needs the session
user to be a superuser or a member of the role; a role that does not exist
is 22023.
"""

from __future__ import annotations

from typing import Any

from qp.catalog.privcheck import is_superuser, role_named, role_oid
from qp.errors import SqlError

IDENTITY_SETTINGS = frozenset({"role", "session_authorization"})


def set_identity(session: Any, name: str, kind: str, value: str) -> str:
    """Check SET ROLE / SET SESSION AUTHORIZATION (and their RESET and DEFAULT forms);
    returns the value to store."""
    catalog = session.qp.catalog_guess()
    if name == "role":
        if kind in ("VAR_RESET", "VAR_SET_DEFAULT") or value.lower() == "none":
            return "none"
        target = role_named(catalog, value)
        if target is None:
            raise SqlError("22023", f'role "{value}" does not exist')
        session_role = role_oid(catalog, session.settings.get("session_authorization", session.user))
        if not is_superuser(catalog, session_role) and target.oid not in _settable(catalog, session_role):
            raise SqlError("42501", f'permission denied to set role "{value}"')
        return target.name
    # SET SESSION AUTHORIZATION: decided by the role that logged in.
    if kind in ("VAR_RESET", "VAR_SET_DEFAULT"):
        value = session.user
    elif role_named(catalog, value) is None:
        raise SqlError("22023", f'role "{value}" does not exist')
    if value != session.user and not is_superuser(catalog, role_oid(catalog, session.user)):
        raise SqlError("42501", f'permission denied to set session authorization "{value}"')
    session.change_setting("role", "none")
    return value


def _settable(catalog, role: int) -> frozenset[int]:
    """The roles `role` may SET ROLE to: itself and those it is a member of with SET."""
    seen = {role}
    todo = [role]
    while todo:
        current = todo.pop()
        for m in catalog.privileges.memberships:
            if m.member == current and m.set and m.role not in seen:
                seen.add(m.role)
                todo.append(m.role)
    return frozenset(seen)


def superuser_setting(catalog, user: str) -> str:
    """The reported `is_superuser`: whether the current user is one (psql's `=#` prompt)."""
    return "on" if is_superuser(catalog, role_oid(catalog, user)) else "off"


def current_user(session: Any) -> str:
    role = session.settings.get("role", "none")
    return session.settings.get("session_authorization", session.user) if role == "none" else role
