"""Values of expressions that await something, outside an operator: an INSERT's defaults.

An operator evaluates its per-row async calls (a SQL function's body, nextval)
through its SublinkSlots. A column default has no operator around it, so a
default that calls a SQL function the binder could not inline
(qp/bind/routines.py) is evaluated here, per row: its async calls innermost
first, each awaited with the values of its arguments, then the rest of the
expression with those results in their places.
"""

from __future__ import annotations

from typing import Any

from qp.bind import expr as E
from qp.exec.compile import Layout, compile_scalar
from qp.exec.runtime import RunContext


def _async_calls(expr: E.Expr) -> list[E.AsyncCall]:
    """The async calls of `expr`, each after those in its arguments."""
    out: list[E.AsyncCall] = []

    def visit(e: E.Expr) -> None:
        for child in e.children():
            visit(child)
        if isinstance(e, E.AsyncCall):
            out.append(e)

    visit(expr)
    return out


async def evaluate(expr: E.Expr, rc: RunContext) -> Any:
    """The value of `expr` (no columns: a default) for one row."""
    values: dict[int, Any] = {}

    def known(e: E.Expr) -> E.Expr:
        if isinstance(e, E.AsyncCall) and id(e) in values:
            return E.Const(values[id(e)], e.type)
        return E.map_children(e, known)

    for call in _async_calls(expr):
        args = [compile_scalar(known(a), Layout([]))((), rc.frame) for a in call.args]
        values[id(call)] = await call.fn(rc, *args)
    return compile_scalar(known(expr), Layout([]))((), rc.frame)
