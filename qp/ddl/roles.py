"""CREATE/ALTER/DROP ROLE (and USER) written to the transaction; the rules they follow are
qp/bind/ddl/roles.py's.
"""

from __future__ import annotations

from dataclasses import replace

from qp.bind.ddl.roles import (
    _apply_options,
    _may_manage,
    _name,
    _spec_name,
    bootstrap_role,
    find_role,
    session_role,
)
from qp.catalog.acl import Membership, membership_key
from qp.catalog.stored import BOOTSTRAP_SUPERUSER_OID, CatalogSnapshot, RoleDef, relation_key
from qp.errors import SqlError
from qp.frontend import scram


async def create_role(body: dict, txn, catalog: CatalogSnapshot, user: str, ctx, counters, bump) -> list[str]:
    name = _name(body["role"])
    if find_role(catalog, name) is not None:
        raise SqlError("42710", f'role "{name}" already exists')
    notices: list[str] = []
    version, next_oid = await counters(txn)
    oid = max(next_oid, catalog.next_oid)
    role = RoleDef(oid, name, login=body.get("stmt_type") == "ROLESTMT_USER")
    role = _apply_options(role, body.get("options", []), ctx, notices, creating=True)
    actor = session_role(catalog, user)
    _may_manage(actor, None, role.superuser, "create", name)
    txn.put(role.descriptor_key, role.to_record())
    _memberships(body.get("options", []), role, actor, catalog, txn)
    bump(txn, version, oid + 1)
    return notices


def _memberships(options: list, role: RoleDef, actor: RoleDef, catalog: CatalogSnapshot, txn) -> None:
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
            other_name = _spec_name(item["RoleSpec"], actor.name)
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
    for m in out:
        txn.put(membership_key(relation_key(m.role), m.member), m.to_record())


async def alter_role(body: dict, txn, catalog: CatalogSnapshot, user: str, ctx, counters, bump) -> list[str]:
    name = _spec_name(body["role"], user)
    role = find_role(catalog, name)
    if role is None:
        raise SqlError("42704", f'role "{name}" does not exist')
    notices: list[str] = []
    changed = _apply_options(role, body.get("options", []), ctx, notices, creating=False)
    actor = session_role(catalog, user)
    only_password = all(o["DefElem"]["defname"] == "password" for o in body.get("options", []))
    if not (only_password and actor.name == role.name):
        _may_manage(actor, role, changed.superuser != role.superuser, "alter", name)
    if role.oid == BOOTSTRAP_SUPERUSER_OID and not only_password:
        raise SqlError("0A000", f'role "{name}" is predefined; only its password can be changed')
    version, _ = await counters(txn)
    txn.put(changed.descriptor_key, changed.to_record())
    bump(txn, version, None)
    return notices


async def drop_roles(body: dict, txn, catalog: CatalogSnapshot, user: str, counters, bump) -> list[str]:
    notices: list[str] = []
    actor = session_role(catalog, user)
    if not (actor.superuser or actor.createrole):
        raise SqlError("42501", "permission denied to drop role",
                       detail="Only roles with the CREATEROLE attribute may drop roles.")
    dropping: list[RoleDef] = []
    for spec in body.get("roles", ()):
        name = _spec_name(spec["RoleSpec"], user)
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
    if dropping:
        version, _ = await counters(txn)
        for role in dropping:
            txn.put(role.descriptor_key, None)
        bump(txn, version, None)
    return notices


async def rename_role(body: dict, txn, catalog: CatalogSnapshot, user: str, counters, bump) -> list[str]:
    old = body["subname"]
    new = _name(body["newname"])
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
    version, _ = await counters(txn)
    txn.put(role.descriptor_key, replace(role, name=new).to_record())
    bump(txn, version, None)
    return []


def set_bootstrap_password(catalog: CatalogSnapshot, txn, password: str, counters_value: tuple[int, int], bump) -> None:
    """Give `admin` a password (from `dsql serve`'s configuration), unless it already has this one."""
    role = bootstrap_role(catalog)
    current = scram.parse_verifier(role.password) if role.password else None
    if current is not None:
        again = scram.make_verifier(password, iterations=current.iterations, salt=current.salt)
        if again == role.password:
            return
    version, _ = counters_value
    txn.put(role.descriptor_key, replace(role, password=scram.make_verifier(password)).to_record())
    bump(txn, version, None)
