"""Bound expressions: typed trees the binder produces and the compiler consumes.

A column reference names a column by identity (`cid`, an integer the binder
hands out for every column of every FROM item and every computed output),
not by position. Positions are decided only when an operator is compiled
against its input, so the planner can move filters and prune columns without
rebinding anything.

Nodes are small frozen dataclasses; the binder builds them and nothing
mutates them afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from qp.types import BOOL, SqlType


class Expr:
    __slots__ = ()
    type: SqlType

    def children(self) -> tuple[Expr, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class Const(Expr):
    value: Any
    type: SqlType


@dataclass(frozen=True, slots=True)
class Param(Expr):
    index: int  # 0-based: $1 is 0
    type: SqlType


@dataclass(frozen=True, slots=True)
class ColumnRef(Expr):
    cid: int
    type: SqlType
    name: str = ""


@dataclass(frozen=True, slots=True)
class OuterRef(Expr):
    """A column of an enclosing query, read inside a correlated subquery."""

    cid: int
    type: SqlType
    name: str = ""


@dataclass(frozen=True, slots=True)
class Call(Expr):
    """A resolved function or operator call."""

    name: str
    impl: Any
    args: tuple[Expr, ...]
    type: SqlType
    strict: bool = True
    needs_context: bool = False
    volatility: str = "i"

    def children(self) -> tuple[Expr, ...]:
        return self.args


@dataclass(frozen=True, slots=True)
class Cast(Expr):
    arg: Expr
    fn: Any  # fn(value, ctx) -> value
    type: SqlType

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


@dataclass(frozen=True, slots=True)
class BoolOp(Expr):
    op: str  # "and" | "or"
    args: tuple[Expr, ...]
    type: SqlType = BOOL

    def children(self) -> tuple[Expr, ...]:
        return self.args


@dataclass(frozen=True, slots=True)
class Not(Expr):
    arg: Expr
    type: SqlType = BOOL

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


@dataclass(frozen=True, slots=True)
class IsNull(Expr):
    arg: Expr
    negated: bool = False
    type: SqlType = BOOL

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


@dataclass(frozen=True, slots=True)
class BoolTest(Expr):
    """IS [NOT] TRUE / FALSE / UNKNOWN."""

    arg: Expr
    test: str  # "true" | "false" | "unknown"
    negated: bool = False
    type: SqlType = BOOL

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


@dataclass(frozen=True, slots=True)
class DistinctFrom(Expr):
    """a IS [NOT] DISTINCT FROM b, with `eq` the resolved = operator."""

    left: Expr
    right: Expr
    eq: Any
    negated: bool = False
    type: SqlType = BOOL

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, slots=True)
class Case(Expr):
    whens: tuple[tuple[Expr, Expr], ...]  # (condition, result); operand forms are rewritten to conditions
    default: Expr | None
    type: SqlType

    def children(self) -> tuple[Expr, ...]:
        out: list[Expr] = []
        for cond, result in self.whens:
            out += [cond, result]
        if self.default is not None:
            out.append(self.default)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Coalesce(Expr):
    args: tuple[Expr, ...]
    type: SqlType

    def children(self) -> tuple[Expr, ...]:
        return self.args


@dataclass(frozen=True, slots=True)
class NullIf(Expr):
    left: Expr
    right: Expr
    eq: Any
    type: SqlType

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, slots=True)
class MinMax(Expr):
    """GREATEST / LEAST: NULLs are ignored; NULL only if every argument is."""

    op: str  # "greatest" | "least"
    args: tuple[Expr, ...]
    key: Any  # sort key function or None
    type: SqlType

    def children(self) -> tuple[Expr, ...]:
        return self.args


@dataclass(frozen=True, slots=True)
class InList(Expr):
    """x [NOT] IN (a, b, ...). Constant lists of hashable values use a set."""

    arg: Expr
    items: tuple[Expr, ...]
    eq: Any
    negated: bool = False
    type: SqlType = BOOL

    def children(self) -> tuple[Expr, ...]:
        return (self.arg, *self.items)


@dataclass(frozen=True, slots=True)
class ArrayExpr(Expr):
    items: tuple[Expr, ...]
    type: SqlType

    def children(self) -> tuple[Expr, ...]:
        return self.items


@dataclass(frozen=True, slots=True)
class RowExpr(Expr):
    """ROW(a, b), (a, b) or a whole-row reference: a record value (a tuple) of
    a type whose fields say each item's name and type."""

    items: tuple[Expr, ...]
    type: SqlType

    def children(self) -> tuple[Expr, ...]:
        return self.items


@dataclass(frozen=True, slots=True)
class AnyAll(Expr):
    """x op ANY/ALL (array)."""

    arg: Expr
    array: Expr
    op: Any  # the element comparison impl
    all: bool
    type: SqlType = BOOL

    def children(self) -> tuple[Expr, ...]:
        return (self.arg, self.array)


@dataclass(frozen=True, slots=True)
class SubLink(Expr):
    """A subquery inside an expression.

    kind: "scalar" (one value), "exists", "any" (x op ANY (subquery), which
    covers IN), "all", or "array" (ARRAY(subquery)). The plan is built by the
    planner; `outer_cids` are the enclosing query's columns the subquery reads.
    """

    kind: str
    query: Any  # the bound subquery (qp.bind.BoundQuery)
    type: SqlType
    test: Expr | None = None  # left side for any/all
    op: Any = None  # comparison impl for any/all
    correlated: bool = False
    row: bool = False  # test and subquery rows are tuples (row IN (subquery))
    slot: int = field(default=-1, compare=False)

    def children(self) -> tuple[Expr, ...]:
        return (self.test,) if self.test is not None else ()


@dataclass(frozen=True, slots=True)
class AsyncCall(Expr):
    """A function that needs the session and storage (nextval, setval):
    evaluated per row before the row's expressions, like a subquery."""

    name: str
    fn: Any  # async fn(rc, *args)
    args: tuple[Expr, ...]
    type: SqlType
    slot: int = field(default=-1, compare=False)

    def children(self) -> tuple[Expr, ...]:
        return self.args


@dataclass(frozen=True, slots=True)
class AggRef(Expr):
    """The result of the i-th aggregate of the enclosing SELECT."""

    index: int
    type: SqlType


@dataclass(frozen=True, slots=True)
class WindowRef(Expr):
    index: int
    type: SqlType


@dataclass(frozen=True, slots=True)
class ContextValue(Expr):
    """A value read from the session when the statement runs (current_user…)."""

    name: str
    type: SqlType


class SetReturning(Expr):
    """A set-returning call in a select list; the planner turns it into a ProjectSet column."""

    __slots__ = ("call", "type")

    def __init__(self, call: Call) -> None:
        self.call = call
        self.type = call.type

    def children(self) -> tuple[Expr, ...]:
        return self.call.args


def walk(expr: Expr):
    """Every node of an expression tree (not descending into subqueries)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.children())


def column_refs(expr: Expr) -> set[int]:
    return {n.cid for n in walk(expr) if isinstance(n, ColumnRef)}


def is_constant(expr: Expr) -> bool:
    """No columns, no parameters, no subqueries, nothing volatile."""
    for node in walk(expr):
        if isinstance(node, (ColumnRef, OuterRef, Param, SubLink, AggRef, WindowRef, ContextValue, SetReturning,
                             AsyncCall)):
            return False
        if isinstance(node, Call) and (node.volatility != "i" or node.needs_context):
            return False
    return True


def conjuncts(expr: Expr | None) -> list[Expr]:
    if expr is None:
        return []
    if isinstance(expr, BoolOp) and expr.op == "and":
        out: list[Expr] = []
        for arg in expr.args:
            out += conjuncts(arg)
        return out
    return [expr]


def and_all(parts: list[Expr]) -> Expr | None:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return BoolOp("and", tuple(parts))


def map_children(e: Expr, fn) -> Expr:
    """A copy of `e` with `fn` applied to each direct child (same node if nothing changed)."""

    if isinstance(e, (Call,)):
        args = tuple(fn(a) for a in e.args)
        # Identity, not equality: a SubLink given its slot compares equal to the
        # one without (the slot is not part of its value) but must replace it.
        return e if all(a is b for a, b in zip(args, e.args, strict=True)) else replace(e, args=args)
    if isinstance(e, (Cast, Not, IsNull, BoolTest)):
        arg = fn(e.arg)
        return e if arg is e.arg else replace(e, arg=arg)
    if isinstance(e, (BoolOp, Coalesce, MinMax)):
        args = tuple(fn(a) for a in e.args)
        return replace(e, args=args)
    if isinstance(e, (DistinctFrom, NullIf)):
        return replace(e, left=fn(e.left), right=fn(e.right))
    if isinstance(e, Case):
        whens = tuple((fn(c), fn(r)) for c, r in e.whens)
        default = fn(e.default) if e.default is not None else None
        return replace(e, whens=whens, default=default)
    if isinstance(e, InList):
        return replace(e, arg=fn(e.arg), items=tuple(fn(i) for i in e.items))
    if isinstance(e, (ArrayExpr, RowExpr)):
        return replace(e, items=tuple(fn(i) for i in e.items))
    if isinstance(e, AnyAll):
        return replace(e, arg=fn(e.arg), array=fn(e.array))
    if isinstance(e, SubLink):
        return e if e.test is None else replace(e, test=fn(e.test))
    if isinstance(e, AsyncCall):
        args = tuple(fn(a) for a in e.args)
        return e if all(a is b for a, b in zip(args, e.args, strict=True)) else replace(e, args=args)
    if isinstance(e, SetReturning):
        call = fn(e.call)
        return e if call is e.call else SetReturning(call)
    return e
