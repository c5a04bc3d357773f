"""EXPLAIN: an operator tree as PostgreSQL prints one, plus what only dsql has.

Each operator gives a title ("Hash Join", "Index Scan using t_v_idx on t") and
detail lines; the tree is drawn with PostgreSQL's indentation ("->  " before
each child). Detail lines say what matters here: the key a point read or
range scan uses, the filter pushed down to storage (evaluated next to the
data, so filtered-out rows never cross the transport), the columns storage
projects, and the filters the QP applies itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qp.bind import expr as E

_OPERATORS = {"=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "^", "||", "~~", "!~~", "~~*", "!~~*",
              "~", "!~", "~*", "!~*", "@>", "<@", "&&", "->", "->>", "#>", "#>>", "?", "&", "|", "#", "<<", ">>"}


def render(op: Any, suffix: Callable[[Any], str] | None = None) -> list[str]:
    """The tree's lines; `suffix(node)` is appended to each title (estimates, actual figures)."""
    lines: list[str] = []

    def visit(node: Any, indent: int, child: bool) -> None:
        title = node.title() + (suffix(node) if suffix is not None else "")
        lines.append((" " * (indent - 4) + "->  " if child else " " * indent) + title)
        for detail in node.details():
            lines.append(" " * (indent + 2) + detail)
        for sub in node.children():
            visit(sub, indent + 6, True)

    visit(op, 0, False)
    return lines


def expr_text(e: E.Expr | None, names: dict[int, str] | None = None) -> str:
    """A bound expression as SQL-ish text, for EXPLAIN only."""
    if e is None:
        return ""
    names = names or {}
    if isinstance(e, E.ColumnRef | E.OuterRef):
        return e.name or names.get(e.cid, f"${e.cid}")
    if isinstance(e, E.Const):
        if e.value is None:
            return "NULL"
        if isinstance(e.value, str):
            return "'" + e.value.replace("'", "''") + "'"
        return str(e.value)
    if isinstance(e, E.Param):
        return f"${e.index + 1}"
    if isinstance(e, E.AsyncCall):  # nextval(), a SQL function's body run per row
        return f"{e.name}({', '.join(expr_text(a, names) for a in e.args)})"
    if isinstance(e, E.Call):
        args = [expr_text(a, names) for a in e.args]
        if e.name in _OPERATORS and len(args) == 2:
            return f"({args[0]} {e.name} {args[1]})"
        if e.name in _OPERATORS and len(args) == 1:
            return f"({e.name}{args[0]})"
        return f"{e.name}({', '.join(args)})"
    if isinstance(e, E.Cast):
        return f"({expr_text(e.arg, names)})::{e.type.name}"
    if isinstance(e, E.BoolOp):
        return "(" + f" {e.op.upper()} ".join(expr_text(a, names) for a in e.args) + ")"
    if isinstance(e, E.Not):
        return f"(NOT {expr_text(e.arg, names)})"
    if isinstance(e, E.IsNull):
        return f"({expr_text(e.arg, names)} IS {'NOT ' if e.negated else ''}NULL)"
    if isinstance(e, E.InList):
        items = ", ".join(expr_text(i, names) for i in e.items)
        return f"({expr_text(e.arg, names)} {'NOT ' if e.negated else ''}IN ({items}))"
    if isinstance(e, E.SubLink):
        return f"({e.kind.upper()} subquery)" if e.kind != "scalar" else "(subquery)"
    return type(e).__name__


def filter_text(tree: Any, column_names: list[str]) -> str:
    """A storage filter tree (storage/mvcc.py) as text."""
    kind = tree[0]
    if kind == "cmp":
        _, op, index, value = tree
        shown = f"${value[1] + 1}" if isinstance(value, tuple) and value and value[0] == "$param" else repr(value)
        return f"({column_names[index]} {op} {shown})"
    if kind in ("null", "notnull"):
        return f"({column_names[tree[1]]} IS {'NOT ' if kind == 'notnull' else ''}NULL)"
    if kind == "not":
        return f"(NOT {filter_text(tree[1], column_names)})"
    return "(" + f" {kind.upper()} ".join(filter_text(t, column_names) for t in tree[1:]) + ")"
