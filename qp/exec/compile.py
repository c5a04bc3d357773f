"""Expression compiler: bound expressions become Python functions.

Interpreting a tree per row costs a Python call per node; generating Python
source for a whole expression (or a whole projection with its filter, as one
list comprehension over a batch) and compiling it once lets CPython run the
row loop in bytecode. This is where most of the executor's speed comes from.

Generated functions take the row and an `ExecFrame` (`X`): statement
parameters, the enclosing query's column values (for correlated subqueries),
the values of this row's subqueries, and the EvalContext. SQL's NULL rules are
written out inline: a strict function is called only when no argument is
NULL; AND/OR follow three-valued logic.

Comparisons between values of one type whose Python order is SQL's order
(integers, text, dates, ...) are inlined as Python operators instead of
calling the operator's implementation.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from qp.bind import expr as E
from qp.errors import SqlError
from qp.stack import stack_depth_exceeded
from qp.types.context import EvalContext


class ExecFrame:
    """Per-execution state that compiled expressions read."""

    __slots__ = ("params", "outer", "subs", "ctx")

    def __init__(self, params: tuple = (), outer: tuple = (), ctx: EvalContext | None = None) -> None:
        self.params = params
        self.outer = outer
        self.subs: list = []
        self.ctx = ctx


class DeferredError:
    """A subquery error kept until the value is used (so an untaken CASE
    branch does not fail the row, as in PostgreSQL's lazy evaluation)."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _sub(value: Any) -> Any:
    if type(value) is DeferredError:
        raise value.error
    return value


# Types whose Python comparison operators implement SQL's ordering exactly
# when both sides have the same type (floats are excluded: NaN).
# (Not numeric: Decimal NaN cannot be ordered, and PostgreSQL's NaN equals itself.)
_NATURAL_ORDER_OIDS = frozenset({16, 20, 21, 23, 26, 25, 1043, 19, 1082, 1083, 1114, 1184, 2950, 17})
_INLINE_COMPARISONS = {"=": "==", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_INT_OIDS = frozenset({20, 21, 23})


class Layout:
    """Where each column identity sits in the rows an operator receives."""

    __slots__ = ("positions", "outer_positions")

    def __init__(self, cids: list[int] | tuple[int, ...], outer: dict[int, int] | None = None) -> None:
        self.positions = {cid: i for i, cid in enumerate(cids)}
        self.outer_positions = outer or {}


class _Codegen:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.namespace: dict[str, Any] = {"_sub": _sub, "SqlError": SqlError}
        self._names = itertools.count()
        self.uses: set[str] = set()

    def name(self, prefix: str) -> str:
        return f"{prefix}{next(self._names)}"

    def constant(self, value: Any) -> str:
        if value is None or value is True or value is False:
            return repr(value)
        # Every other constant is a name, so the source (and its compiled code,
        # see _build) is the same whatever the literal.
        n = self.name("k")
        self.namespace[n] = value
        return n

    def func(self, fn: Any) -> str:
        n = self.name("f")
        self.namespace[n] = fn
        return n

    def temp(self) -> str:
        return self.name("_t")

    def gen(self, e: E.Expr) -> str:
        method = getattr(self, "gen_" + type(e).__name__, None)
        if method is None:
            raise SqlError("0A000", f"expression {type(e).__name__} is not supported here")
        return method(e)

    # -- leaves --------------------------------------------------------------

    def gen_Const(self, e: E.Const) -> str:
        return self.constant(e.value)

    def gen_Param(self, e: E.Param) -> str:
        self.uses.add("P")
        return f"P[{e.index}]"

    def gen_ColumnRef(self, e: E.ColumnRef) -> str:
        position = self.layout.positions.get(e.cid)
        if position is None:
            raise AssertionError(f"column {e.name or e.cid} is not in the operator's input")
        return f"row[{position}]"

    def gen_OuterRef(self, e: E.OuterRef) -> str:
        position = self.layout.outer_positions.get(e.cid)
        if position is None:
            raise AssertionError(f"outer column {e.name or e.cid} was not passed to the subquery")
        self.uses.add("O")
        return f"O[{position}]"

    def gen_SubLink(self, e: E.SubLink) -> str:
        if e.slot < 0:
            raise SqlError("0A000", "subqueries are not supported in this position")
        self.uses.add("S")
        return f"_sub(S[{e.slot}])"

    def gen_AsyncCall(self, e: E.AsyncCall) -> str:
        if e.slot < 0:
            raise SqlError("0A000", f"{e.name}() is not supported in this position")
        self.uses.add("S")
        return f"_sub(S[{e.slot}])"

    def gen_ContextValue(self, e: E.ContextValue) -> str:
        self.uses.add("C")
        return f"C.{e.name}"

    # -- calls -----------------------------------------------------------------

    def gen_Call(self, e: E.Call) -> str:
        if len(e.args) == 2 and e.name in _INLINE_COMPARISONS:
            left, right = e.args
            if (
                left.type.oid == right.type.oid
                and left.type.oid in _NATURAL_ORDER_OIDS
                and left.type.oid != 1042
            ):
                a, b = self.temp(), self.temp()
                return (
                    f"(None if ({a} := {self.gen(left)}) is None or ({b} := {self.gen(right)}) is None "
                    f"else {a} {_INLINE_COMPARISONS[e.name]} {b})"
                )
        fn = self.func(e.impl)
        args = [self.gen(a) for a in e.args]
        call_args = list(args)
        if e.needs_context:
            self.uses.add("C")
            call_args.insert(0, "C")
        if not e.strict or not args:
            return f"{fn}({', '.join(call_args)})"
        temps = [self.temp() for _ in args]
        checks = " or ".join(f"({t} := {a}) is None" for t, a in zip(temps, args, strict=True))
        inner_args = list(temps)
        if e.needs_context:
            inner_args.insert(0, "C")
        return f"(None if {checks} else {fn}({', '.join(inner_args)}))"

    def gen_Cast(self, e: E.Cast) -> str:
        fn = self.func(e.fn)
        self.uses.add("C")
        t = self.temp()
        return f"(None if ({t} := {self.gen(e.arg)}) is None else {fn}({t}, C))"

    # -- logic -------------------------------------------------------------------

    def gen_BoolOp(self, e: E.BoolOp) -> str:
        temps = [self.temp() for _ in e.args]
        decisive = "False" if e.op == "and" else "True"
        result = f"(None if {' or '.join(f'{t} is None' for t in temps)} else {'True' if e.op == 'and' else 'False'})"
        for t, arg in reversed(list(zip(temps, e.args, strict=True))):
            result = f"({decisive} if ({t} := {self.gen(arg)}) is {decisive} else {result})"
        return result

    def gen_Not(self, e: E.Not) -> str:
        t = self.temp()
        return f"(None if ({t} := {self.gen(e.arg)}) is None else not {t})"

    def gen_IsNull(self, e: E.IsNull) -> str:
        return f"({self.gen(e.arg)} is {'not ' if e.negated else ''}None)"

    def gen_BoolTest(self, e: E.BoolTest) -> str:
        target = {"true": "True", "false": "False", "unknown": "None"}[e.test]
        return f"({self.gen(e.arg)} is {'not ' if e.negated else ''}{target})"

    def gen_DistinctFrom(self, e: E.DistinctFrom) -> str:
        fn = self.func(_distinct_from(e.eq))
        expr = f"{fn}({self.gen(e.left)}, {self.gen(e.right)})"
        return f"(not {expr})" if e.negated else expr

    def gen_Case(self, e: E.Case) -> str:
        result = self.gen(e.default) if e.default is not None else "None"
        for cond, value in reversed(e.whens):
            result = f"({self.gen(value)} if {self.gen(cond)} is True else {result})"
        return result

    def gen_Coalesce(self, e: E.Coalesce) -> str:
        result = "None"
        for arg in reversed(e.args):
            t = self.temp()
            result = f"({t} if ({t} := {self.gen(arg)}) is not None else {result})"
        return result

    def gen_NullIf(self, e: E.NullIf) -> str:
        left, right = self.temp(), self.temp()
        eq = self.func(e.eq)
        return (
            f"(None if ({left} := {self.gen(e.left)}) is not None and ({right} := {self.gen(e.right)}) is not None "
            f"and {eq}({left}, {right}) else {left})"
        )

    def gen_MinMax(self, e: E.MinMax) -> str:
        fn = self.func(_min_max(e.op, e.key))
        return f"{fn}({', '.join(self.gen(a) for a in e.args)})"

    def gen_InList(self, e: E.InList) -> str:
        arg = self.temp()
        values = [i.value for i in e.items if isinstance(i, E.Const)]
        if len(values) == len(e.items) and e.eq is None:
            # Constant list of a type with Python equality: one set lookup.
            has_null = any(v is None for v in values)
            members = self.constant(frozenset(v for v in values if v is not None))
            miss = "None" if has_null else "False"
            found, absent = ("False", "True" if miss == "False" else "None") if e.negated else ("True", miss)
            return f"(None if ({arg} := {self.gen(e.arg)}) is None else ({found} if {arg} in {members} else {absent}))"
        fn = self.func(_in_list(e.eq, e.negated))
        items = ", ".join(self.gen(i) for i in e.items)
        return f"{fn}({self.gen(e.arg)}, ({items},))"

    def gen_ArrayExpr(self, e: E.ArrayExpr) -> str:
        return f"[{', '.join(self.gen(i) for i in e.items)}]"

    def gen_RowExpr(self, e: E.RowExpr) -> str:
        return f"({''.join(self.gen(i) + ', ' for i in e.items)})"

    def gen_AnyAll(self, e: E.AnyAll) -> str:
        fn = self.func(_any_all(e.op, e.all))
        return f"{fn}({self.gen(e.arg)}, {self.gen(e.array)})"


def _distinct_from(eq: Callable) -> Callable:
    def distinct(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return not (a is None and b is None)
        return not eq(a, b)

    return distinct


def _min_max(op: str, key: Callable | None) -> Callable:
    def pick(*values: Any) -> Any:
        present = [v for v in values if v is not None]
        if not present:
            return None
        if op == "greatest":
            return max(present, key=key) if key else max(present)
        return min(present, key=key) if key else min(present)

    return pick


def _in_list(eq: Callable | None, negated: bool) -> Callable:
    def in_list(value: Any, items: tuple) -> bool | None:
        if value is None:
            return None
        unknown = False
        for item in items:
            if item is None:
                unknown = True
                continue
            if (eq(value, item) if eq is not None else value == item) is True:
                return not negated
        if unknown:
            return None
        return negated

    return in_list


def _any_all(op: Callable, is_all: bool) -> Callable:
    def any_all(value: Any, array: list | None) -> bool | None:
        if array is None:
            return None
        if not array:
            return is_all
        if value is None:
            return None
        unknown = False
        for item in _flatten(array):
            result = None if item is None else op(value, item)
            if result is None:
                unknown = True
            elif is_all and result is False:
                return False
            elif not is_all and result is True:
                return True
        if unknown:
            return None
        return is_all

    return any_all


def _flatten(array: list) -> list:
    if array and isinstance(array[0], list):
        out: list = []
        for part in array:
            out += _flatten(part)
        return out
    return array


# -- entry points -------------------------------------------------------------

_PROLOGUE = {
    "P": "P = X.params",
    "O": "O = X.outer",
    "S": "S = X.subs",
    "C": "C = X.ctx",
}


# Compiled code by source text. Constants live in each function's namespace,
# not in its source, so statements that differ only in their literals (as
# simple-protocol clients send them) share code objects; compiling costs far
# more than running the code for one row.
_CODE_CACHE: dict[str, Any] = {}
CODE_CACHE_ENTRIES_MAX = 4096


def _build(source_body: str, gen: _Codegen, signature: str, name: str) -> Callable:
    prologue = "".join(f"    {_PROLOGUE[u]}\n" for u in sorted(gen.uses))
    source = f"def {name}({signature}):\n{prologue}{source_body}"
    code = _CODE_CACHE.get(source)
    if code is None:
        try:
            code = compile(source, f"<sql {name}>", "exec")
        except SyntaxError as exc:  # "too many nested parentheses": CPython's tokenizer stops at 200
            if "nested" not in str(exc.msg):
                raise
            raise stack_depth_exceeded() from None
        except (RecursionError, MemoryError):  # the compiler's own depth limits ("too complex to parse")
            raise stack_depth_exceeded() from None
        if len(_CODE_CACHE) >= CODE_CACHE_ENTRIES_MAX:
            del _CODE_CACHE[next(iter(_CODE_CACHE))]
        _CODE_CACHE[source] = code
    exec(code, gen.namespace)
    fn = gen.namespace[name]
    fn.__source__ = source  # for EXPLAIN VERBOSE and debugging
    return fn


def compile_scalar(e: E.Expr, layout: Layout) -> Callable[[tuple, ExecFrame], Any]:
    gen = _Codegen(layout)
    body = gen.gen(e)
    return _build(f"    return {body}\n", gen, "row, X", "scalar")


def compile_row(exprs: list[E.Expr], layout: Layout) -> Callable[[tuple, ExecFrame], tuple]:
    gen = _Codegen(layout)
    parts = [gen.gen(e) for e in exprs]
    tup = f"({', '.join(parts)},)" if parts else "()"
    return _build(f"    return {tup}\n", gen, "row, X", "project_row")


def compile_predicate(e: E.Expr, layout: Layout) -> Callable[[tuple, ExecFrame], bool]:
    gen = _Codegen(layout)
    body = gen.gen(e)
    return _build(f"    return {body} is True\n", gen, "row, X", "predicate")


def compile_batch(
    exprs: list[E.Expr] | None, predicate: E.Expr | None, layout: Layout
) -> Callable[[list, ExecFrame], list]:
    """One function that filters and projects a whole batch of rows.

    `exprs` None keeps the rows as they are (filter only).
    """
    gen = _Codegen(layout)
    if exprs is None:
        out = "row"
    else:
        parts = [gen.gen(e) for e in exprs]
        out = f"({', '.join(parts)},)" if parts else "()"
    where = f" if {gen.gen(predicate)} is True" if predicate is not None else ""
    return _build(f"    return [{out} for row in rows{where}]\n", gen, "rows, X", "batch")


def has_sublinks(exprs: list[E.Expr | None]) -> bool:
    """Whether evaluating `exprs` needs per-row async work (subqueries, nextval)."""
    return any(isinstance(n, (E.SubLink, E.AsyncCall)) for e in exprs if e is not None for n in E.walk(e))
