"""Which DDL statement runs which catalog change: the dispatch from a parse tree to qp/ddl.

The runner (qp/frontend/runner.py) checks the transaction rules first (one DDL
per transaction, no DDL with DML, not in a read-only transaction) and runs what
a result asks for afterwards (online follow-ups, background jobs).
"""

from __future__ import annotations

from qp.bind.context import BindContext
from qp.bind.ddl.alter_table import BoundAlterTable
from qp.bind.ddl.comments import BoundComment
from qp.bind.ddl.create_table import BoundCreateTable
from qp.bind.ddl.dispatch import bind_ddl
from qp.bind.ddl.domain_alter import BoundAlterDomain
from qp.bind.ddl.domains import BoundCreateDomain, BoundDropDomains
from qp.bind.ddl.functions import (
    ROUTINE_OBJECTS,
    BoundAlterFunction,
    BoundCreateFunction,
    BoundDropFunctions,
    names_routine,
)
from qp.bind.ddl.grants import (
    BoundAlterDefaultPrivileges,
    BoundChangeOwner,
    BoundGrantRevoke,
    BoundGrantRole,
)
from qp.bind.ddl.indexes import BoundCreateIndex
from qp.bind.ddl.ownership import check_ownership
from qp.bind.ddl.roles import BoundAlterRole, BoundCreateRole, BoundDropRoles, BoundRenameRole
from qp.bind.ddl.schemas import BoundCreateSchema, BoundDropSchemas, BoundRenameSchema, BoundSetSchema
from qp.bind.ddl.sequences import BoundAlterSequence, BoundCreateSequence, BoundDropSequences
from qp.bind.ddl.skip import SkipDdl
from qp.bind.ddl.statistics import BoundAlterStatistics, BoundCreateStatistics, BoundDropStatistics
from qp.bind.ddl.tables import (
    BoundDropRelations,
    BoundRenameDescriptor,
    BoundRenameTable,
    BoundTruncate,
    unsupported_drop,
    unsupported_rename,
)
from qp.bind.ddl.views import BoundCreateView, BoundDropViews
from qp.catalog.stored import CatalogSnapshot
from qp.ddl.comments import apply_comment
from qp.ddl.common import DdlResult
from qp.ddl.domain_alter import apply_alter_domain
from qp.ddl.domains import apply_create_domain, apply_drop_domains
from qp.ddl.functions import apply_alter_function, apply_create_function, apply_drop_functions
from qp.ddl.grants import (
    apply_alter_default_privileges,
    apply_change_owner,
    apply_grant_revoke,
    apply_grant_role,
)
from qp.ddl.indexes import apply_create_index
from qp.ddl.ownership import after_ddl
from qp.ddl.role_statements import (
    apply_alter_role,
    apply_create_role,
    apply_drop_roles,
    apply_rename_role,
    role_tag,
)
from qp.ddl.schemas import apply_create_schema, apply_drop_schemas, apply_rename_schema, apply_set_schema
from qp.ddl.sequence_statements import apply_alter_sequence, apply_create_sequence, apply_drop_sequences
from qp.ddl.statistics import apply_alter_statistics, apply_create_statistics, apply_drop_statistics
from qp.ddl.tables import (
    apply_alter_table,
    apply_create_table,
    apply_drop_relations,
    apply_rename,
    apply_truncate,
)
from qp.ddl.temp_objects import name_taken
from qp.ddl.views import apply_create_view, apply_drop_views
from qp.parse.parser import Statement
from qp.parse.unsupported import unsupported_statement
from qp.txn.transaction import Transaction


async def run_ddl(statement: Statement, txn: Transaction, catalog: CatalogSnapshot, bc: BindContext,
                  user: str) -> DdlResult:  # fmt: skip
    """Apply one DDL statement to `txn`, against `catalog`, as `user` (the current user)."""
    check_ownership(statement, catalog, bc, user)  # 42501 unless the user owns what it changes
    bound = bind_ddl(statement, catalog, bc, user, lambda name, schema: name_taken(catalog, name, schema, txn))
    if bound is None:  # a kind still analysed here, from its parse tree
        result = await _run(statement, txn, catalog, bc, user)
    else:
        result = await apply_ddl(bound, txn, catalog, bc)
    if statement.kind != "CreateSchemaStmt":  # the schema and each of its elements had theirs
        after_ddl(txn, catalog, user)  # owners of what it created (qp/ddl/ownership.py)
    return result


async def apply_ddl(bound: object, txn: Transaction, catalog: CatalogSnapshot, bc: BindContext) -> DdlResult:
    """Write what a bound DDL statement decided into `txn` (`bc`: for the statements a
    statement runs in turn, CREATE SCHEMA's elements and DROP SCHEMA CASCADE's drops)."""
    match bound:
        case SkipDdl():
            return DdlResult(bound.tag, list(bound.notices))
        # -- sequences
        case BoundCreateSequence():
            return await apply_create_sequence(bound, txn, catalog)
        case BoundAlterSequence():
            return await apply_alter_sequence(bound, txn)
        case BoundDropSequences():
            return await apply_drop_sequences(bound, txn)

        # -- tables, constraints, indexes, views
        case BoundDropRelations():
            return await apply_drop_relations(bound, txn, catalog)
        case BoundDropViews():
            return await apply_drop_views(bound, txn)
        case BoundRenameTable() | BoundRenameDescriptor():
            return await apply_rename(bound, txn, catalog)
        case BoundTruncate():
            return await apply_truncate(bound, txn, catalog)
        case BoundCreateIndex():
            return await apply_create_index(bound, txn, catalog)
        case BoundCreateTable():
            return await apply_create_table(bound, txn, catalog)
        case BoundAlterTable():
            return await apply_alter_table(bound, txn, catalog)
        case BoundCreateView():
            return await apply_create_view(bound, txn, catalog)

        # (tables group: end)

        # -- privileges, owners, roles, schemas
        case BoundGrantRevoke():
            return await apply_grant_revoke(bound, txn)
        case BoundGrantRole():
            return await apply_grant_role(bound, txn)
        case BoundAlterDefaultPrivileges():
            return await apply_alter_default_privileges(bound, txn, catalog)
        case BoundChangeOwner():
            return await apply_change_owner(bound, txn)
        case BoundCreateRole():
            return await apply_create_role(bound, txn, catalog)
        case BoundAlterRole():
            return await apply_alter_role(bound, txn)
        case BoundDropRoles():
            return await apply_drop_roles(bound, txn)
        case BoundRenameRole():
            return await apply_rename_role(bound, txn)
        case BoundRenameSchema():
            return await apply_rename_schema(bound, txn, catalog)
        case BoundSetSchema():
            return await apply_set_schema(bound, txn, catalog)
        case BoundCreateSchema():
            return await _apply_create_schema(bound, txn, catalog, bc)
        case BoundDropSchemas():
            return await apply_drop_schemas(bound, txn, catalog, bc)

        # (privileges group: end)

        # -- functions, domains, comments, statistics
        case BoundComment():
            return await apply_comment(bound, txn)
        case BoundCreateStatistics():
            return await apply_create_statistics(bound, txn, catalog)
        case BoundAlterStatistics():
            return await apply_alter_statistics(bound, txn)
        case BoundDropStatistics():
            return await apply_drop_statistics(bound, txn)
        case BoundCreateDomain():
            return await apply_create_domain(bound, txn, catalog)
        case BoundDropDomains():
            return await apply_drop_domains(bound, txn)
        case BoundAlterDomain():
            return await apply_alter_domain(bound, txn)
        case BoundCreateFunction():
            return await apply_create_function(bound, txn, catalog)
        case BoundDropFunctions():
            return await apply_drop_functions(bound, txn)
        case BoundAlterFunction():
            return await apply_alter_function(bound, txn)

        # (functions group: end)
    raise AssertionError(f"no way to apply {type(bound).__name__}")


async def _run(statement: Statement, txn: Transaction, catalog: CatalogSnapshot, bc: BindContext,
               user: str) -> DdlResult:  # fmt: skip
    """What no binder took: DROP and RENAME of kinds dsql does not have, and other statements
    it does not support, each refused in PostgreSQL's words."""
    kind = statement.kind
    body = statement.body
    if kind == "DropStmt":
        raise unsupported_drop(body)
    if kind == "RenameStmt":
        raise unsupported_rename(body, catalog, bc)
    raise unsupported_statement(kind)


async def _apply_create_schema(bound: BoundCreateSchema, txn: Transaction, catalog: CatalogSnapshot,
                               bc: BindContext) -> DdlResult:  # fmt: skip
    """CREATE SCHEMA: its record, then each element as a statement of its own (run_ddl)."""

    async def run_element(element_kind: str, element: dict, current: CatalogSnapshot, element_bc: BindContext,
                          text: str) -> DdlResult:  # fmt: skip
        nested = Statement({element_kind: element}, text, bound.location, source=bound.source)
        return await run_ddl(nested, txn, current, element_bc, bound.user)

    def schema_created() -> None:  # its owner, before its elements run (each then has its own)
        after_ddl(txn, catalog, bound.user)

    return await apply_create_schema(bound, txn, catalog, bc, run_element, schema_created)


def ddl_tag(statement: Statement) -> str:
    """The command tag a DDL statement's errors name (PostgreSQL's CreateCommandTag)."""
    body = statement.body
    kind = statement.kind
    if kind == "CreateStmt":
        return "CREATE TABLE"
    if kind in ("GrantStmt", "GrantRoleStmt"):
        return ("GRANT" if body.get("is_grant") else "REVOKE") + (" ROLE" if kind == "GrantRoleStmt" else "")
    if kind == "AlterDefaultPrivilegesStmt":
        return "ALTER DEFAULT PRIVILEGES"
    if kind == "AlterOwnerStmt":
        return "ALTER " + body.get("objectType", "OBJECT_").removeprefix("OBJECT_").replace("_", " ")
    if kind == "CreateTableAsStmt":
        return "CREATE TABLE AS"
    if kind == "SelectStmt":
        return "SELECT INTO"
    if kind == "IndexStmt":
        return "CREATE INDEX"
    if kind == "CreateDomainStmt":
        return "CREATE DOMAIN"
    if kind == "CommentStmt":
        return "COMMENT"
    if kind == "AlterDomainStmt" or body.get("renameType") in ("OBJECT_DOMAIN", "OBJECT_DOMCONSTRAINT") or (
        kind == "AlterOwnerStmt" and body.get("objectType") == "OBJECT_DOMAIN"
    ):
        return "ALTER DOMAIN"
    if kind == "CreateFunctionStmt":
        return "CREATE PROCEDURE" if body.get("is_procedure") else "CREATE FUNCTION"
    if kind == "DropStmt" and body.get("removeType") in ROUTINE_OBJECTS:
        return "DROP " + body["removeType"].removeprefix("OBJECT_")
    if names_routine(kind, body):
        objtype = body.get("objtype") or body.get("renameType") or body.get("objectType") or ""
        return "ALTER ROUTINE" if objtype == "OBJECT_ROUTINE" else "ALTER FUNCTION"
    if kind == "CreateStatsStmt":
        return "CREATE STATISTICS"
    if kind == "DropStmt" and body.get("removeType") == "OBJECT_STATISTIC_EXT":
        return "DROP STATISTICS"
    if kind == "DropStmt":
        return "DROP " + body.get("removeType", "OBJECT_TABLE").removeprefix("OBJECT_")
    if kind == "CreateSchemaStmt":
        return "CREATE SCHEMA"
    if kind == "AlterObjectSchemaStmt":
        return "ALTER " + body.get("objectType", "OBJECT_TABLE").removeprefix("OBJECT_")
    if (kind == "RenameStmt" and body.get("renameType") == "OBJECT_SCHEMA") or kind == "AlterOwnerStmt":
        return "ALTER " + body.get("objectType", "OBJECT_SCHEMA").removeprefix("OBJECT_")
    if kind == "RenameStmt" and body.get("renameType") == "OBJECT_ROLE":
        return "ALTER ROLE"
    if kind == "AlterStatsStmt" or (kind == "RenameStmt" and body.get("renameType") == "OBJECT_STATISTIC_EXT"):
        return "ALTER STATISTICS"
    if kind in ("AlterTableStmt", "RenameStmt"):
        return "ALTER TABLE"
    if kind == "CreateSeqStmt":
        return "CREATE SEQUENCE"
    if kind == "ViewStmt":
        return "CREATE VIEW"
    if kind == "AlterSeqStmt":
        return "ALTER SEQUENCE"
    if kind in ("CreateRoleStmt", "AlterRoleStmt", "DropRoleStmt"):
        return role_tag(statement)
    return kind.removesuffix("Stmt").upper()
