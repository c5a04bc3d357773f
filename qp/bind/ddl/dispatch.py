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
from qp.bind.ddl.alter_table import bind_alter_table, changes_owner_only
from qp.bind.ddl.comments import bind_comment
from qp.bind.ddl.create_table import bind_create_table
from qp.bind.ddl.domain_alter import bind_alter_domain, bind_rename_domain
from qp.bind.ddl.domains import bind_create_domain, bind_drop_domains
from qp.bind.ddl.functions import (
    ROUTINE_OBJECTS,
    bind_alter_function,
    bind_create_function,
    bind_drop_functions,
    names_routine,
)
from qp.bind.ddl.grants import (
    bind_alter_default_privileges,
    bind_alter_owner,
    bind_change_owner_of,
    bind_grant_revoke,
    bind_grant_role,
    is_owner_change,
)
from qp.bind.ddl.indexes import bind_create_index
from qp.bind.ddl.roles import bind_alter_role, bind_create_role, bind_drop_roles, bind_rename_role
from qp.bind.ddl.schemas import bind_create_schema, bind_drop_schemas, bind_rename_schema, bind_set_schema
from qp.bind.ddl.sequences import bind_alter_sequence, bind_create_sequence, bind_drop_sequences
from qp.bind.ddl.statistics import bind_alter_statistics, bind_create_statistics, bind_drop_statistics
from qp.bind.ddl.tables import RENAMED_OBJECTS, bind_drop_relations, bind_rename, bind_truncate
from qp.bind.ddl.views import bind_create_view, bind_drop_views
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
    if kind == "DropStmt" and body.get("removeType") in ("OBJECT_TABLE", "OBJECT_INDEX"):
        return bind_drop_relations(body, catalog, bc)
    if kind == "DropStmt" and body.get("removeType") == "OBJECT_VIEW":
        return bind_drop_views(body, catalog, bc)
    if kind == "RenameStmt" and body.get("renameType") in RENAMED_OBJECTS:
        return bind_rename(body, catalog, bc)
    if kind == "TruncateStmt":
        return bind_truncate(body, bc)
    if kind == "IndexStmt":
        return bind_create_index(body, catalog, bc)
    if kind == "CreateStmt":
        return bind_create_table(body, catalog, bc, name_taken)
    if kind == "ViewStmt":
        return bind_create_view(body, catalog, bc, statement.text)
    if kind == "AlterTableStmt" and not changes_owner_only(body):  # OWNER TO: the privileges group's
        return bind_alter_table(body, catalog, bc, statement.asynchronous)

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
    if kind == "CommentStmt":
        return bind_comment(body, catalog, bc)
    if kind == "CreateStatsStmt":
        return bind_create_statistics(body, catalog, bc)
    if kind == "DropStmt" and body.get("removeType") == "OBJECT_STATISTIC_EXT":
        return bind_drop_statistics(body, catalog, bc)
    if kind == "AlterStatsStmt" or (kind == "RenameStmt" and body.get("renameType") == "OBJECT_STATISTIC_EXT"):
        return bind_alter_statistics(body, catalog, bc)
    if kind == "CreateDomainStmt":
        return bind_create_domain(body, catalog, bc)
    if kind == "DropStmt" and body.get("removeType") == "OBJECT_DOMAIN":
        return bind_drop_domains(body, catalog, bc)
    if kind == "AlterDomainStmt":
        return bind_alter_domain(body, catalog, bc)
    if kind == "RenameStmt" and body.get("renameType") in ("OBJECT_DOMAIN", "OBJECT_DOMCONSTRAINT"):
        return bind_rename_domain(body, catalog)
    if kind == "CreateFunctionStmt":
        return bind_create_function(body, catalog, bc, user)
    if kind == "DropStmt" and body.get("removeType") in ROUTINE_OBJECTS:
        return bind_drop_functions(body, catalog, bc)  # DROP PROCEDURE: 0A000
    if names_routine(kind, body) and kind != "AlterOwnerStmt":  # OWNER TO: alter_owner (qp/ddl/grants.py)
        return bind_alter_function(kind, body, catalog, bc)

    # (functions group: end)
    return None
