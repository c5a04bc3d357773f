"""Binding the statements of a SQL function's body (CREATE FUNCTION ... LANGUAGE sql).

The same binding serves CREATE FUNCTION, which checks the body as PostgreSQL
does with check_function_bodies on (an unknown table or column fails the
CREATE), and the call that runs it (qp/frontend/routines.py plans what is bound
here). Each statement is bound with the function's parameters as the
statement's own parameters ($n, or the parameter's name: qp/bind/routines.py),
along the path stored definitions use, as a view's query is.

A body holds queries and INSERT/UPDATE/DELETE; anything else (DDL, transaction
control) is refused with 0A000, since DSQL runs DDL in transactions of its own.
The last statement gives the result, checked against the declared return type
as PostgreSQL's check_sql_fn_retval does (42P13).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qp.bind import expr as E
from qp.bind.context import BindContext
from qp.bind.dml import bind_insert, bind_modify
from qp.bind.query import QueryBinder
from qp.bind.routines import RoutineFrame, result_type
from qp.catalog.stored import FunctionDef
from qp.errors import SqlError
from qp.parse.parser import node_body, node_kind
from qp.types import RECORD, VOID, SqlType, can_coerce, format_type, type_by_oid

_DML = {"InsertStmt": "insert", "UpdateStmt": "update", "DeleteStmt": "delete"}
_TAGS = {"InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE"}


@dataclass
class BoundBodyStatement:
    kind: str  # query | insert | update | delete
    bound: Any  # BoundQuery, BoundInsert or BoundModify
    output_types: list[SqlType]  # what it returns (a query's columns, RETURNING's)


def body_context(bc: BindContext, function: FunctionDef) -> None:
    """Make `bc` bind a body of `function`: its parameters are the statement's."""
    types = [type_by_oid(oid) for oid in function.input_oids]
    bc.param_types = list(types)
    bc.routine_frames.append(RoutineFrame(function, [E.Param(i, t) for i, t in enumerate(types)]))
    bc.view_depth += 1  # locations are in the body's text, not the caller's


def bind_body_statement(bc: BindContext, function: FunctionDef, node: dict, executing: bool = False
                        ) -> BoundBodyStatement:  # fmt: skip
    """One statement of the body; `executing` when it is about to run (PostgreSQL refuses
    DML in a function that is not VOLATILE when it runs, not when it is created)."""
    kind = node_kind(node)
    body = node_body(node)
    if kind == "SelectStmt":
        if body.get("intoClause") is not None:
            raise SqlError("0A000", "SELECT INTO is not supported in SQL functions")
        query = QueryBinder(bc).bind_query(node)
        return BoundBodyStatement("query", query, query.output_types())
    if kind in _DML:
        if executing and function.volatility != "v":
            raise SqlError("0A000", f"{_TAGS[kind]} is not allowed in a non-volatile function")
        if kind == "InsertStmt":
            bound = bind_insert(bc, body)
        else:
            bound = bind_modify(bc, body, _DML[kind])
        returning = getattr(bound, "returning", None)
        return BoundBodyStatement(_DML[kind], bound, [e.type for e in returning.exprs] if returning else [])
    name = kind.removesuffix("Stmt")
    raise SqlError("0A000", f"{name} statements are not supported in SQL functions")


def check_result(function: FunctionDef, last: BoundBodyStatement | None, returns_rows: bool) -> None:
    """PostgreSQL's check_sql_fn_retval: the last statement yields what the function declares."""
    rtype = result_type(function)
    if rtype.oid == VOID.oid:
        return
    shown = format_type(type_by_oid(function.return_oid))
    if last is None or not returns_rows:
        raise SqlError(
            "42P13",
            f"return type mismatch in function declared to return {shown}",
            detail="Function's final statement must be SELECT or INSERT/UPDATE/DELETE RETURNING.",
        )
    types = last.output_types
    if rtype.oid == RECORD.oid and rtype.fields:
        wanted = [t for _, t in rtype.fields]
        if len(types) != len(wanted):
            detail = (
                "Final statement returns too many columns."
                if len(types) > len(wanted)
                else "Final statement returns too few columns."
            )
            raise SqlError(
                "42P13", f"return type mismatch in function declared to return {shown}", detail=detail
            )
        for got, want in zip(types, wanted, strict=True):
            if got.oid != want.oid and not can_coerce(got, want, "assignment"):
                raise SqlError("42P13", f"return type mismatch in function declared to return {shown}",
                               detail=f"Final statement returns {format_type(got)} instead of "
                                      f"{format_type(want)} at column {wanted.index(want) + 1}.")  # fmt: skip
        return
    if len(types) != 1:
        detail = "Final statement must return exactly one column."
        raise SqlError("42P13", f"return type mismatch in function declared to return {shown}", detail=detail)
    got = types[0]
    if got.oid != rtype.oid and got.oid != 705 and not can_coerce(got, rtype, "assignment"):
        raise SqlError(
            "42P13",
            f"return type mismatch in function declared to return {shown}",
            detail=f"Actual return type is {format_type(got)}.",
        )
