"""pg_get_functiondef(oid) for built-in functions.

The text of each built-in that dsql has under PostgreSQL's oid is PostgreSQL's
own (functiondef_data.py, generated from the reference server), because it
shows pg_proc facts dsql does not model (the C symbol, PARALLEL, SUPPORT,
argument names and defaults). As in PostgreSQL, an aggregate is an error
(42809) and an oid that names no function gives NULL. A built-in that exists
only in dsql (numbered by builtins.py) has no PostgreSQL text to show, so it
is refused with 0A000 rather than given an invented one.
"""

from __future__ import annotations

from qp.errors import SqlError
from qp.functions.registry import register_function
from qp.pgcatalog.builtins import proc_by_oid
from qp.pgcatalog.functiondef_data import FUNCTION_DEFINITIONS
from qp.pgcatalog.routines import find_function, functiondef
from qp.types import OID, TEXT
from qp.types.context import EvalContext


def pg_get_functiondef(ctx: EvalContext, oid: int) -> str | None:
    user = find_function(ctx.catalog, oid)
    if user is not None:  # a CREATE FUNCTION's (qp/pgcatalog/routines.py)
        return functiondef(user, ctx)
    text = FUNCTION_DEFINITIONS.get(oid)
    if text is not None:
        return text
    proc = proc_by_oid().get(oid)
    if proc is None:
        return None
    if proc.kind == "a":
        raise SqlError("42809", f'"{proc.name}" is an aggregate function')
    raise SqlError("0A000", f"pg_get_functiondef() of dsql's own built-in {proc.name}() is not supported")


def pg_get_function_sqlbody(ctx: EvalContext, oid: int) -> str | None:
    """A SQL-standard body's text (psql's \\df+ and \\sf read it); NULL for `AS '...'` bodies."""
    user = find_function(ctx.catalog, oid)
    if user is not None and user.sql_body is not None:
        raise SqlError("0A000", "pg_get_function_sqlbody() of a function with a SQL-standard body is not supported")
    return None


register_function("pg_get_functiondef", [OID], TEXT, pg_get_functiondef, volatility="s", ctx=True)
register_function("pg_get_function_sqlbody", [OID], TEXT, pg_get_function_sqlbody, volatility="s", ctx=True)
