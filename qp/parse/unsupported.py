"""What a statement dsql does not run is called, in PostgreSQL's words.

An unsupported statement is refused with 0A000 naming it as PostgreSQL's
command tags do (`CREATE TRIGGER is not supported`), never by its parse node.
Aurora DSQL names it by the node (`unsupported statement: CreateTrigger`);
that form stays in the error's DETAIL, so either can be searched for.
"""

from __future__ import annotations

import re

from qp.errors import SqlError

# Parse nodes whose command words are not their name split at capitals
# (PostgreSQL's CreateCommandTag).
_WORDS = {
    "CreatedbStmt": "CREATE DATABASE",
    "DropdbStmt": "DROP DATABASE",
    "AlterDatabaseStmt": "ALTER DATABASE",
    "AlterDatabaseSetStmt": "ALTER DATABASE",
    "CreateEnumStmt": "CREATE TYPE",
    "CompositeTypeStmt": "CREATE TYPE",
    "CreateRangeStmt": "CREATE TYPE",
    "AlterEnumStmt": "ALTER TYPE",
    "CreateTrigStmt": "CREATE TRIGGER",
    "CreateEventTrigStmt": "CREATE EVENT TRIGGER",
    "AlterEventTrigStmt": "ALTER EVENT TRIGGER",
    "DoStmt": "DO",
    "AlterRoleSetStmt": "ALTER ROLE",
    "LockStmt": "LOCK TABLE",
    "RefreshMatViewStmt": "REFRESH MATERIALIZED VIEW",
    "CreateFdwStmt": "CREATE FOREIGN DATA WRAPPER",
    "AlterFdwStmt": "ALTER FOREIGN DATA WRAPPER",
    "CreateForeignServerStmt": "CREATE SERVER",
    "AlterForeignServerStmt": "ALTER SERVER",
    "CreateForeignTableStmt": "CREATE FOREIGN TABLE",
    "CreateUserMappingStmt": "CREATE USER MAPPING",
    "ImportForeignSchemaStmt": "IMPORT FOREIGN SCHEMA",
    "CreateTableSpaceStmt": "CREATE TABLESPACE",
    "DropTableSpaceStmt": "DROP TABLESPACE",
    "CreatePLangStmt": "CREATE LANGUAGE",
    "CreateAmStmt": "CREATE ACCESS METHOD",
    "CreateOpClassStmt": "CREATE OPERATOR CLASS",
    "CreateOpFamilyStmt": "CREATE OPERATOR FAMILY",
    "CreateConversionStmt": "CREATE CONVERSION",
    "CreateCastStmt": "CREATE CAST",
    "CreateTransformStmt": "CREATE TRANSFORM",
    "DefineStmt": "CREATE AGGREGATE, OPERATOR, TYPE or TEXT SEARCH object",
    "RuleStmt": "CREATE RULE",
    "CreatePublicationStmt": "CREATE PUBLICATION",
    "CreateSubscriptionStmt": "CREATE SUBSCRIPTION",
    "AlterTSDictionaryStmt": "ALTER TEXT SEARCH DICTIONARY",
    "AlterTSConfigurationStmt": "ALTER TEXT SEARCH CONFIGURATION",
    "SecLabelStmt": "SECURITY LABEL",
    "ReassignOwnedStmt": "REASSIGN OWNED",
    "DropOwnedStmt": "DROP OWNED",
    "AlterSystemStmt": "ALTER SYSTEM",
    "LoadStmt": "LOAD",
    "CreateProcStmt": "CREATE PROCEDURE",
}
# The parse node's own name as DSQL prints it, where it is not the node minus "Stmt".
_DSQL_NAMES = {
    "CreatedbStmt": "CreateDatabase", "DropdbStmt": "DropDatabase", "CreateTrigStmt": "CreateTrigger",
    "CreateTableAsStmt": "CreateTableAs", "RefreshMatViewStmt": "RefreshMatView",
}  # fmt: skip


# Parse nodes inside a statement (FROM items, expressions, operator forms, table
# elements) in the words of PostgreSQL's grammar.
_SYNTAX = {
    "RangeTableSample": "TABLESAMPLE", "RangeTableFunc": "XMLTABLE", "JsonTable": "JSON_TABLE",
    "XmlExpr": "XML functions", "XmlSerialize": "XMLSERIALIZE", "JsonObjectConstructor": "JSON_OBJECT",
    "JsonArrayConstructor": "JSON_ARRAY", "JsonArrayQueryConstructor": "JSON_ARRAY", "JsonObjectAgg": "JSON_OBJECTAGG",
    "JsonArrayAgg": "JSON_ARRAYAGG", "JsonIsPredicate": "IS JSON", "JsonParseExpr": "JSON()",
    "JsonScalarExpr": "JSON_SCALAR()", "JsonSerializeExpr": "JSON_SERIALIZE()", "JsonFuncExpr": "SQL/JSON query functions",
    "CollateClause": "COLLATE", "AEXPR_DISTINCT": "IS DISTINCT FROM", "AEXPR_NOT_DISTINCT": "IS NOT DISTINCT FROM",
    "AEXPR_LIKE": "LIKE", "AEXPR_ILIKE": "ILIKE", "AEXPR_SIMILAR": "SIMILAR TO", "AEXPR_OP": "operator",
    "TableLikeClause": "LIKE", "MultiAssignRef": "multiple-column assignment",
}  # fmt: skip


def syntax_words(kind: str) -> str:
    """A parse node inside a statement, as PostgreSQL's grammar spells it."""
    found = _SYNTAX.get(kind)
    if found is not None:
        return found
    return " ".join(re.findall(r"[A-Z][a-z]*", kind.removeprefix("AEXPR_"))).upper()


def command_words(kind: str) -> str:
    """`CreateTrigStmt` -> `CREATE TRIGGER` (PostgreSQL's words for the statement)."""
    words = _WORDS.get(kind)
    if words is not None:
        return words
    return " ".join(re.findall(r"[A-Z][a-z]*", kind.removesuffix("Stmt"))).upper()


def unsupported_statement(kind: str) -> SqlError:
    """0A000 for a statement dsql does not run, in PostgreSQL's words (DSQL's in the DETAIL)."""
    dsql_name = _DSQL_NAMES.get(kind, kind.removesuffix("Stmt"))
    return SqlError("0A000", f"{command_words(kind)} is not supported",
                    detail=f"Aurora DSQL reports it as: unsupported statement: {dsql_name}")  # fmt: skip
