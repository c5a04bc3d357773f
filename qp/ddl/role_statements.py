"""CREATE/ALTER/DROP ROLE and ALTER ROLE ... RENAME applied: what qp/bind/ddl/roles.py bound,
written to the transaction; and the bootstrap password of the predefined admin role.
"""

from __future__ import annotations

from dataclasses import replace

from qp.bind.ddl.roles import (
    NEW_ROLE,
    BoundAlterRole,
    BoundCreateRole,
    BoundDropRoles,
    BoundRenameRole,
    bootstrap_role,
)
from qp.catalog.acl import membership_key
from qp.catalog.stored import CatalogSnapshot, relation_key
from qp.ddl.common import DdlResult, bump_version, catalog_counters
from qp.frontend import scram

_ROLE_TAGS = {
    "CreateRoleStmt": "CREATE ROLE",
    "AlterRoleStmt": "ALTER ROLE",
    "DropRoleStmt": "DROP ROLE",
    "RenameStmt": "ALTER ROLE",
}


def role_tag(statement) -> str:
    if statement.kind == "CreateRoleStmt" and statement.body.get("stmt_type") == "ROLESTMT_USER":
        return "CREATE ROLE"  # PostgreSQL tags CREATE USER as CREATE ROLE too
    return _ROLE_TAGS[statement.kind]


async def apply_create_role(bound: BoundCreateRole, txn, catalog: CatalogSnapshot) -> DdlResult:
    version, next_oid = await catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    role = replace(bound.role, oid=oid)
    txn.put(role.descriptor_key, role.to_record())
    for m in bound.memberships:
        m = replace(m, role=oid if m.role == NEW_ROLE else m.role, member=oid if m.member == NEW_ROLE else m.member)
        txn.put(membership_key(relation_key(m.role), m.member), m.to_record())
    bump_version(txn, version, oid + 1)
    return DdlResult("CREATE ROLE", list(bound.notices))


async def apply_alter_role(bound: BoundAlterRole, txn) -> DdlResult:
    version, _ = await catalog_counters(txn)
    txn.put(bound.role.descriptor_key, bound.role.to_record())
    bump_version(txn, version, None)
    return DdlResult("ALTER ROLE", list(bound.notices))


async def apply_drop_roles(bound: BoundDropRoles, txn) -> DdlResult:
    if bound.roles:
        version, _ = await catalog_counters(txn)
        for role in bound.roles:
            txn.put(role.descriptor_key, None)
        bump_version(txn, version, None)
    return DdlResult("DROP ROLE", list(bound.notices))


async def apply_rename_role(bound: BoundRenameRole, txn) -> DdlResult:
    version, _ = await catalog_counters(txn)
    txn.put(bound.role.descriptor_key, bound.role.to_record())
    bump_version(txn, version, None)
    return DdlResult("ALTER ROLE")


async def set_bootstrap_password(txn, catalog: CatalogSnapshot, password: str) -> bool:
    """Give `admin` this password (from `dsql serve`'s configuration) in `txn`; False if it
    already has it (nothing written)."""
    version, _ = await catalog_counters(txn)
    role = bootstrap_role(catalog)
    current = scram.parse_verifier(role.password) if role.password else None
    if current is not None:
        again = scram.make_verifier(password, iterations=current.iterations, salt=current.salt)
        if again == role.password:
            return txn.catalog_version_written is not None
    txn.put(role.descriptor_key, replace(role, password=scram.make_verifier(password)).to_record())
    bump_version(txn, version, None)
    return txn.catalog_version_written is not None
