"""Which binder analyses which DDL statement: a parse tree to its typed bound statement.

`bind_ddl` resolves what a statement names against the catalog snapshot and the session's
search path, checks everything the user can get wrong (raising the SQLSTATE PostgreSQL
raises), and returns a frozen bound statement that qp/ddl/dispatch.py applies to the
transaction. Nothing here reads storage or writes the transaction.

Statement kinds whose analysis has not moved here yet return None, and qp/ddl runs them
from their parse trees as before.
"""

from __future__ import annotations

from collections.abc import Callable

from qp.bind.context import BindContext
from qp.bind.ddl.grants import (
    bind_alter_default_privileges,
    bind_alter_owner,
    bind_change_owner_of,
    bind_grant_revoke,
    bind_grant_role,
    is_owner_change,
)
from qp.bind.ddl.roles import bind_alter_role, bind_create_role, bind_drop_roles, bind_rename_role
from qp.bind.ddl.schemas import bind_create_schema, bind_drop_schemas, bind_rename_schema, bind_set_schema
from qp.bind.ddl.sequences import bind_alter_sequence, bind_create_sequence, bind_drop_sequences
from qp.catalog.stored import CatalogSnapshot
from qp.parse.parser import Statement

NameTaken = Callable[[str, str], bool]  # (name, schema) -> a relation of that name is in the way


def bind_ddl(statement: Statement, catalog: CatalogSnapshot, bc: BindContext, user: str,
             name_taken: NameTaken) -> object | None:  # fmt: skip
    """The bound form of DDL `statement` run by `user` (the current user), or None while its
    kind is still analysed in qp/ddl. What applying it needs of the statement (its text,
    ASYNC, the user) the bound statement carries."""
    kind = statement.kind
    body = statement.body
    # -- sequences
    if kind == "CreateSeqStmt":
        return bind_create_sequence(body, catalog, bc, name_taken)
    if kind == "AlterSeqStmt":
        return bind_alter_sequence(body, catalog, bc)
    if kind == "DropStmt" and body.get("removeType") == "OBJECT_SEQUENCE":
        return bind_drop_sequences(body, catalog, bc)

    # -- tables, constraints, indexes, views

    # (tables group: end)

    # -- privileges, owners, roles, schemas
    if kind == "GrantStmt":
        return bind_grant_revoke(body, catalog, bc, user)
    if kind == "GrantRoleStmt":
        return bind_grant_role(body, catalog, user)
    if kind == "AlterDefaultPrivilegesStmt":
        return bind_alter_default_privileges(body, catalog, user)
    if kind == "AlterOwnerStmt":
        return bind_alter_owner(body, catalog, bc, user)
    if kind == "AlterTableStmt" and is_owner_change(body):
        return bind_change_owner_of(body, catalog, bc, user)
    if kind == "CreateRoleStmt":
        return bind_create_role(body, catalog, user, bc.eval_ctx)
    if kind == "AlterRoleStmt":
        return bind_alter_role(body, catalog, user, bc.eval_ctx)
    if kind == "DropRoleStmt":
        return bind_drop_roles(body, catalog, user)
    if kind == "RenameStmt" and body.get("renameType") == "OBJECT_ROLE":
        return bind_rename_role(body, catalog, user)
    if kind == "RenameStmt" and body.get("renameType") == "OBJECT_SCHEMA":
        return bind_rename_schema(body, catalog)
    if kind == "AlterObjectSchemaStmt" and body.get("objectType") not in ("OBJECT_FUNCTION", "OBJECT_ROUTINE",
                                                                         "OBJECT_PROCEDURE"):  # fmt: skip
        return bind_set_schema(body, catalog, bc)
    if kind == "CreateSchemaStmt":
        return bind_create_schema(statement, catalog, user)
    if kind == "DropStmt" and body.get("removeType") == "OBJECT_SCHEMA":
        return bind_drop_schemas(body, catalog)

    # (privileges group: end)

    # -- functions, domains, comments, statistics

    # (functions group: end)
    return None
