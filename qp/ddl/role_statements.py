"""CREATE/ALTER/DROP ROLE as DDL transactions (the rules are qp/ddl/roles.py's), and the
bootstrap password of the predefined admin role.
"""

from __future__ import annotations

from qp.catalog.stored import (
    CatalogSnapshot,
)
from qp.ddl import roles
from qp.ddl.common import DdlResult, bump_version, catalog_counters

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


async def role_ddl(statement, txn, catalog: CatalogSnapshot, user: str, ctx) -> DdlResult:
    """CREATE/ALTER/DROP ROLE and ALTER ROLE ... RENAME (see qp/ddl/roles.py)."""

    kind, body = statement.kind, statement.body
    if kind == "CreateRoleStmt":
        notices = await roles.create_role(body, txn, catalog, user, ctx, catalog_counters, bump_version)
    elif kind == "AlterRoleStmt":
        notices = await roles.alter_role(body, txn, catalog, user, ctx, catalog_counters, bump_version)
    elif kind == "DropRoleStmt":
        notices = await roles.drop_roles(body, txn, catalog, user, catalog_counters, bump_version)
    else:
        notices = await roles.rename_role(body, txn, catalog, user, catalog_counters, bump_version)
    return DdlResult(role_tag(statement), notices)


async def set_bootstrap_password(txn, catalog: CatalogSnapshot, password: str) -> bool:
    """Write `admin`'s password into `txn`; False if it already has this one (nothing written)."""

    roles.set_bootstrap_password(catalog, txn, password, await catalog_counters(txn), bump_version)
    return txn.catalog_version_written is not None
