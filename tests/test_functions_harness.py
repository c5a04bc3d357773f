"""Test harness for the type/function library: a throwaway PostgreSQL and a
tiny expression evaluator.

`pg` (session fixture) starts a real PostgreSQL (the one installed under
/usr/lib/postgresql) in a temporary directory; tests run the same SQL
expression there and through the library and compare the text PostgreSQL
prints. If PostgreSQL cannot be started the tests fail (they never skip).

`evaluate(sql_expr)` parses `SELECT <expr>` with pglast and evaluates the
expression with only the public library API (resolve_type_name, find_cast,
resolve_operator, resolve_function, common_type, text_encoder), the way the
engine is expected to: literals are `unknown` strings / int4 / int8 /
numeric, unknown arguments are cast with find_cast, strict functions give
NULL on a NULL argument. It is test code, not an engine: it supports just
the expression forms the tests use.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any

import psycopg
import pytest
from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind, BoolExprType, NullTestType, SQLValueFunctionOp
from psycopg import pq

from qp.errors import SqlError
from qp.frontend.settings import zoneinfo_for
from qp.functions import resolve_function, resolve_operator
from qp.types import (
    BOOL,
    INT4,
    INT8,
    NUMERIC,
    TEXT,
    UNKNOWN,
    SqlType,
    array_of,
    common_type,
    find_cast,
    record_type,
    resolve_type_name,
    text_encoder,
)
from qp.types.context import EvalContext

PG_BIN = "/usr/lib/postgresql/15/bin"


class PG:
    """A running PostgreSQL and one autocommit connection to it."""

    def __init__(self) -> None:
        if not os.path.exists(os.path.join(PG_BIN, "initdb")):
            raise RuntimeError(f"PostgreSQL binaries not found in {PG_BIN}")
        self.dir = tempfile.mkdtemp(prefix="dsql_types_pg_")
        shutil.chown(self.dir, "postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        data = os.path.join(self.dir, "data")
        self._run([f"{PG_BIN}/initdb", "-D", data, "--locale=C", "-E", "UTF8", "-A", "trust"])
        self._run([f"{PG_BIN}/pg_ctl", "-D", data, "-w", "-o", f"-p {self.port} -k {self.dir} -c fsync=off",
                   "-l", os.path.join(self.dir, "log"), "start"])
        deadline = time.time() + 30
        while True:
            try:
                self.conn = psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                                            dbname="postgres", autocommit=True)
                break
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.data = data

    def _run(self, cmd: list[str]) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--"] + cmd, check=True, capture_output=True)

    def stop(self) -> None:
        try:
            self.conn.close()
        finally:
            self._run([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate", "stop"])
            shutil.rmtree(self.dir, ignore_errors=True)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of text values (None for NULL), or ('ERROR', sqlstate, message)."""
        res = self.conn.pgconn.exec_(sql.encode())
        if res.status == pq.ExecStatus.FATAL_ERROR:
            return [("ERROR", res.error_field(pq.DiagnosticField.SQLSTATE).decode(),
                     res.error_field(pq.DiagnosticField.MESSAGE_PRIMARY).decode())]
        rows = []
        for r in range(res.ntuples):
            rows.append(tuple(None if (v := res.get_value(r, c)) is None else v.decode()
                              for c in range(res.nfields)))
        return rows

    def binary(self, expr: str) -> bytes | None:
        """The value of SELECT expr in PG's binary format."""
        res = self.conn.pgconn.exec_params(f"SELECT {expr}".encode(), [], result_format=1)
        assert res.status == pq.ExecStatus.TUPLES_OK, res.error_message
        return res.get_value(0, 0)

    def value(self, expr: str, setup: str = "") -> Any:
        if setup:
            self.query(setup)
        rows = self.query(f"SELECT {expr}")
        if len(rows) == 1 and rows[0] and rows[0][0] == "ERROR" and len(rows[0]) == 3:
            return rows[0]
        return rows[0][0] if len(rows) == 1 else [r[0] for r in rows]


@pytest.fixture(scope="session", name="pg")
def pg_fixture() -> Any:
    server = PG()
    try:
        yield server
    finally:
        server.stop()


# --- the evaluator ---------------------------------------------------------------------------

class Value:
    __slots__ = ("t", "v")

    def __init__(self, t: SqlType, v: Any) -> None:
        self.t = t
        self.v = v


def make_ctx(timezone: str = "UTC") -> EvalContext:
    # 2024-01-31 12:34:56.789012 UTC, a fixed "now" for now()/'today'
    now = 760019696789012
    return EvalContext(timezone=timezone, tzinfo=zoneinfo_for(timezone), transaction_timestamp_us=now,
                       statement_timestamp_us=now)


def _cast(val: Value, target: SqlType, ctx: EvalContext, context: str = "implicit") -> Value:
    if val.t == target:
        return val
    c = find_cast(val.t, target, context)
    if c is None:
        raise SqlError("42846", f"cannot cast type {val.t.name} to {target.name}")
    return Value(target, None if val.v is None else c.fn(val.v, ctx))


def _type_name(tn: ast.TypeName) -> SqlType:
    names = [n.sval for n in tn.names]
    mods = [m.val.ival for m in (tn.typmods or ())]
    dims = len(tn.arrayBounds or ())
    return resolve_type_name(names, mods, dims)


class Evaluator:
    def __init__(self, ctx: EvalContext) -> None:
        self.ctx = ctx

    def call(self, resolved: Any, args: list[Value]) -> Value:
        cast_args = [_cast(a, t, self.ctx) for a, t in zip(args, resolved.arg_types, strict=False)]
        vals = [a.v for a in cast_args]
        if resolved.strict and any(v is None for v in vals):
            return Value(resolved.return_type, None)
        if resolved.needs_context:
            r = resolved.impl(self.ctx, *vals)
        else:
            r = resolved.impl(*vals)
        if resolved.returns_set:
            r = list(r)
        return Value(resolved.return_type, r)

    def eval(self, node: Any) -> Value:
        m = getattr(self, "e_" + type(node).__name__, None)
        if m is None:
            raise NotImplementedError(type(node).__name__)
        return m(node)

    def e_A_Const(self, n: ast.A_Const) -> Value:
        if n.isnull:
            return Value(UNKNOWN, None)
        v = n.val
        if isinstance(v, ast.Integer):
            return Value(INT4, v.ival)
        if isinstance(v, ast.Float):
            s = v.fval
            try:
                i = int(s)
                if -(2**31) <= i < 2**31:
                    return Value(INT4, i)
                if -(2**63) <= i < 2**63:
                    return Value(INT8, i)
            except ValueError:
                pass
            from qp.types.numeric import parse_numeric
            return Value(NUMERIC, parse_numeric(s))
        if isinstance(v, ast.Boolean):
            return Value(BOOL, v.boolval)
        if isinstance(v, ast.String):
            return Value(UNKNOWN, v.sval)
        raise NotImplementedError(repr(v))

    def e_TypeCast(self, n: ast.TypeCast) -> Value:
        target = _type_name(n.typeName)
        arg = self.eval(n.arg)
        return _cast(arg, target, self.ctx, "explicit")

    def e_A_Expr(self, n: ast.A_Expr) -> Value:
        kind = n.kind
        name = n.name[-1].sval
        if kind in (A_Expr_Kind.AEXPR_LIKE, A_Expr_Kind.AEXPR_ILIKE, A_Expr_Kind.AEXPR_SIMILAR):
            if kind == A_Expr_Kind.AEXPR_SIMILAR:
                # the grammar already wrapped the pattern in similar_to_escape()
                left, pat = self.eval(n.lexpr), self.eval(n.rexpr)
                return self.call(resolve_operator(name, left.t, pat.t), [left, pat])
            left, right = self.eval(n.lexpr), self.eval(n.rexpr)
            return self.call(resolve_operator(name, left.t, right.t), [left, right])
        if kind == A_Expr_Kind.AEXPR_OP:
            right = self.eval(n.rexpr)
            if n.lexpr is None:
                return self.call(resolve_operator(name, None, right.t), [right])
            left = self.eval(n.lexpr)
            return self.call(resolve_operator(name, left.t, right.t), [left, right])
        if kind in (A_Expr_Kind.AEXPR_OP_ANY, A_Expr_Kind.AEXPR_OP_ALL):
            left, right = self.eval(n.lexpr), self.eval(n.rexpr)
            if right.t.oid == UNKNOWN.oid:
                right = _cast(right, array_of(left.t if left.t.oid != UNKNOWN.oid else TEXT), self.ctx)
            assert right.t.elem is not None
            op = resolve_operator(name, left.t, right.t.elem)
            if left.v is None or right.v is None:
                return Value(BOOL, None)
            results = [self.call(op, [left, Value(right.t.elem, x)]).v for x in right.v]
            if kind == A_Expr_Kind.AEXPR_OP_ANY:
                return Value(BOOL, True if True in results else (None if None in results else False))
            return Value(BOOL, False if False in results else (None if None in results else True))
        if kind == A_Expr_Kind.AEXPR_DISTINCT or kind == A_Expr_Kind.AEXPR_NOT_DISTINCT:
            left, right = self.eval(n.lexpr), self.eval(n.rexpr)
            if left.v is None or right.v is None:
                same = left.v is None and right.v is None
            else:
                same = bool(self.call(resolve_operator("=", left.t, right.t), [left, right]).v)
            return Value(BOOL, not same if kind == A_Expr_Kind.AEXPR_DISTINCT else same)
        if kind == A_Expr_Kind.AEXPR_BETWEEN:
            x = self.eval(n.lexpr)
            lo, hi = (self.eval(e) for e in n.rexpr)
            a = self.call(resolve_operator(">=", x.t, lo.t), [x, lo]).v
            b = self.call(resolve_operator("<=", x.t, hi.t), [x, hi]).v
            return Value(BOOL, None if None in (a, b) and False not in (a, b) else (a and b))
        raise NotImplementedError(str(kind))

    def e_BoolExpr(self, n: ast.BoolExpr) -> Value:
        vals = [_cast(self.eval(a), BOOL, self.ctx).v for a in n.args]
        if n.boolop == BoolExprType.NOT_EXPR:
            return Value(BOOL, None if vals[0] is None else not vals[0])
        if n.boolop == BoolExprType.AND_EXPR:
            return Value(BOOL, False if False in vals else (None if None in vals else True))
        return Value(BOOL, True if True in vals else (None if None in vals else False))

    def e_NullTest(self, n: ast.NullTest) -> Value:
        v = self.eval(n.arg).v
        isnull = v is None
        return Value(BOOL, isnull if n.nulltesttype == NullTestType.IS_NULL else not isnull)

    def _func(self, name: str, args: list[Value]) -> Value:
        return self.call(resolve_function(name, [a.t for a in args]), args)

    def e_FuncCall(self, n: ast.FuncCall) -> Value:
        name = n.funcname[-1].sval
        args = [self.eval(a) for a in (n.args or ())]
        return self._func(name, args)

    def e_SQLValueFunction(self, n: ast.SQLValueFunction) -> Value:
        names = {SQLValueFunctionOp.SVFOP_CURRENT_DATE: "current_date",
                 SQLValueFunctionOp.SVFOP_CURRENT_TIMESTAMP: "current_timestamp",
                 SQLValueFunctionOp.SVFOP_LOCALTIMESTAMP: "localtimestamp",
                 SQLValueFunctionOp.SVFOP_LOCALTIME: "localtime"}
        return self._func(names[n.op], [])

    def e_A_ArrayExpr(self, n: ast.A_ArrayExpr) -> Value:
        elems = [self.eval(e) for e in (n.elements or ())]
        if not elems:
            raise SqlError("42P18", "cannot determine type of empty array")
        sub = [e for e in elems if e.t.is_array]
        if sub:
            t = common_type([e.t for e in elems], "ARRAY")
            return Value(t, [_cast(e, t, self.ctx).v for e in elems])
        t = common_type([e.t for e in elems], "ARRAY")
        return Value(array_of(t), [_cast(e, t, self.ctx).v for e in elems])

    def e_CaseExpr(self, n: ast.CaseExpr) -> Value:
        results = [self.eval(w.result) for w in n.args]
        default = self.eval(n.defresult) if n.defresult is not None else Value(UNKNOWN, None)
        # PG considers the ELSE result first, and coerces every branch at parse time
        t = common_type([default.t] + [r.t for r in results], "CASE")
        results = [_cast(r, t, self.ctx) for r in results]
        default = _cast(default, t, self.ctx)
        for w, r in zip(n.args, results, strict=False):
            if n.arg is not None:
                a = self.eval(n.arg)
                c = self.eval(w.expr)
                test = self.call(resolve_operator("=", a.t, c.t), [a, c]).v
            else:
                test = _cast(self.eval(w.expr), BOOL, self.ctx).v
            if test:
                return _cast(r, t, self.ctx)
        return _cast(default, t, self.ctx)

    def e_CoalesceExpr(self, n: ast.CoalesceExpr) -> Value:
        vals = [self.eval(a) for a in n.args]
        t = common_type([v.t for v in vals], "COALESCE")
        vals = [_cast(v, t, self.ctx) for v in vals]
        for v in vals:
            if v.v is not None:
                return _cast(v, t, self.ctx)
        return Value(t, None)

    def e_RowExpr(self, n: ast.RowExpr) -> Value:
        vals = [self.eval(a) for a in n.args]
        vals = [_cast(v, TEXT, self.ctx) if v.t.oid == UNKNOWN.oid else v for v in vals]
        t = record_type([(f"f{i + 1}", v.t) for i, v in enumerate(vals)])
        return Value(t, tuple(v.v for v in vals))


def evaluate(expr: str, ctx: EvalContext | None = None) -> Any:
    """PG's text output of `SELECT expr` computed by the library (None for
    NULL, a list for set-returning functions, ('ERROR', sqlstate, message))."""
    ctx = ctx or make_ctx()
    try:
        stmt = parse_sql(f"SELECT {expr}")[0].stmt
        node = stmt.targetList[0].val
        val = Evaluator(ctx).eval(node)
        t = TEXT if val.t.oid == UNKNOWN.oid else val.t
        enc = text_encoder(t, ctx)
        if _is_srf(node) and isinstance(val.v, list):
            rows = [None if x is None else enc(x).decode() for x in val.v]
            return rows[0] if len(rows) == 1 else rows
        return None if val.v is None else enc(val.v).decode()
    except SqlError as e:
        return ("ERROR", e.sqlstate, e.message)


def evaluate_value(expr: str, ctx: EvalContext | None = None) -> Value:
    """The library's (type, Python value) for SELECT expr (errors raise)."""
    stmt = parse_sql(f"SELECT {expr}")[0].stmt
    val = Evaluator(ctx or make_ctx()).eval(stmt.targetList[0].val)
    return Value(TEXT, val.v) if val.t.oid == UNKNOWN.oid else val


def _is_srf(node: Any) -> bool:
    if isinstance(node, ast.FuncCall):
        name = node.funcname[-1].sval
        try:
            from qp.functions.registry import FUNCTIONS
            return any(fd.returns_set for fd in FUNCTIONS.get(name, []))
        except Exception:
            return False
    return False


def result_type(expr: str) -> SqlType:
    stmt = parse_sql(f"SELECT {expr}")[0].stmt
    return Evaluator(make_ctx()).eval(stmt.targetList[0].val).t


def check_against_pg(pg: PG, cases: list[str], timezone: str = "UTC") -> list[str]:
    """Evaluate each expression here and in PostgreSQL; return mismatch reports."""
    pg.query(f"SET TimeZone = '{timezone}'")
    ctx = make_ctx(timezone)
    bad = []
    for expr in cases:
        want = pg.value(expr)
        got = evaluate(expr, ctx)
        if isinstance(want, tuple) and isinstance(got, tuple):
            if want[1] != got[1] or want[2] != got[2]:
                bad.append(f"{expr}: PG {want} != ours {got}")
        elif want != got:
            bad.append(f"{expr}: PG {want!r} != ours {got!r}")
    return bad


def test_harness_evaluates_basic_expressions() -> None:
    assert evaluate("1 + 2") == "3"
    assert evaluate("'a' || 'b'") == "ab"
    assert evaluate("NULL::int + 1") is None
    assert evaluate("1/0") == ("ERROR", "22012", "division by zero")
    assert evaluate("generate_series(1, 3)") == ["1", "2", "3"]


def test_harness_talks_to_postgres(pg: PG) -> None:
    assert pg.value("1 + 2") == "3"
    assert pg.value("1/0") == ("ERROR", "22012", "division by zero")
    assert check_against_pg(pg, ["1.5 * 2", "'x' || 1"]) == []





def aggregate(call: str, rows: list[str], ctx: EvalContext | None = None) -> Any:
    """Run an aggregate over rows given as SQL expressions, e.g.
    aggregate("sum(x)", ["1", "2"]) or aggregate("string_agg(x, ',')", ...):
    the library's result as PG's text (or an ERROR tuple)."""
    from qp.functions import resolve_aggregate
    ctx = ctx or make_ctx()
    try:
        ev = Evaluator(ctx)
        vals = [ev.eval(parse_sql(f"SELECT {r}")[0].stmt.targetList[0].val) for r in rows]
        fc = parse_sql(f"SELECT {call}")[0].stmt.targetList[0].val
        name = fc.funcname[-1].sval
        if fc.agg_star:
            ra = resolve_aggregate(name, [], True)
            acc = ra.make(ctx)
            for _ in vals:
                acc.step()
        else:
            extra = [ev.eval(a) for a in fc.args[1:]]
            xt = vals[0].t if vals else TEXT
            xt = common_type([v.t for v in vals], "VALUES") if vals else xt
            ra = resolve_aggregate(name, [xt] + [e.t for e in extra], False)
            acc = ra.make(ctx)
            for v in vals:
                args = [_cast(Value(xt, v.v) if v.t == xt else _cast(v, xt, ctx), ra.arg_types[0], ctx)]
                args += [_cast(e, t, ctx) for e, t in zip(extra, ra.arg_types[1:], strict=False)]
                raw = [a.v for a in args]
                if ra.strict and any(x is None for x in raw):
                    continue
                acc.step(*raw)
        out = acc.final()
        t = ra.return_type
        return None if out is None else text_encoder(t, ctx)(out).decode()
    except SqlError as e:
        return ("ERROR", e.sqlstate, e.message)


def pg_aggregate(pg: PG, call: str, rows: list[str]) -> Any:
    values = ", ".join(f"({r})" for r in rows)
    rows_ = pg.query(f"SELECT {call} FROM (VALUES {values}) t(x)")
    r = rows_[0]
    return r if r[0] == "ERROR" and len(r) == 3 else r[0]


def assert_same(pg: PG, expr: str, timezone: str = "UTC") -> None:
    """The library prints exactly what PostgreSQL prints for SELECT expr
    (value, NULL, rows of a set-returning function, or SQLSTATE+message)."""
    bad = check_against_pg(pg, [expr], timezone)
    assert not bad, bad[0]


__all__ = ["pg_fixture", "PG", "evaluate", "evaluate_value", "check_against_pg", "make_ctx", "result_type", "aggregate",
           "pg_aggregate", "assert_same"]
