"""Column defaults and check constraints printed as PostgreSQL prints them.

dsql stores a default or a check as the parse tree the user wrote (pglast's
JSON). PostgreSQL stores the *analysed* tree, and `pg_get_expr` /
`pg_get_constraintdef` print that tree with ruleutils.c, which shows what
analysis added: the types literals took (`'x'::text`), implicit casts inside
operators and function calls (`price > 0::numeric`, `lower(note::text)`),
IN lists as `= ANY (ARRAY[...])`, BETWEEN as two comparisons, LIKE as `~~`.
Clients show this text (psql's `\\d`, SQLAlchemy's reflected defaults), so
this module does the same two steps on the stored tree:

1. `_Analyzer` types the raw tree with dsql's own operator and function
   resolution (which follows PostgreSQL's) and inserts the coercions
   PostgreSQL's parser would: a literal becomes a constant of the type it
   is coerced to; anything else gets an implicit cast node.
2. `_Printer` prints the result with ruleutils' rules: parentheses
   everywhere unless "pretty", where only precedence decides
   (`isSimpleNode`); implicit casts hidden at the top and shown inside
   operators and calls; constants labelled unless their type is implied
   (`get_const_expr`); CASE laid out on its own lines.

Expressions outside what dsql accepts in defaults and checks are printed
from the raw tree as written (`_raw_text`), so the functions never fail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from qp.catalog import TableDef
from qp.errors import SqlError
from qp.functions import resolve_function, resolve_operator
from qp.functions.strings import quote_ident
from qp.parse import node_body, node_kind, string_list
from qp.types import (
    BOOL,
    DATE,
    INT4,
    INT8,
    NAME,
    NUMERIC,
    REGCLASS,
    TEXT,
    TIMESTAMP,
    TIMESTAMPTZ,
    UNKNOWN,
    SqlType,
    common_type,
    format_type,
    resolve_type_name,
    text_decoder,
    text_out,
)

PRETTYINDENT_VAR = 4
# Casts PostgreSQL performs as RelabelType (binary coercible) rather than a
# function call; only the parenthesisation of their argument differs.
_BINARY_CASTS = {(1043, 25), (25, 1043)}


class _Unsupported(Exception):
    """A construct the analyser does not model; the raw text is used instead."""


# -- analysed nodes (the parts of PostgreSQL's expression nodes that printing needs) ----------------


@dataclass
class _Node:
    type: SqlType


@dataclass
class _Const(_Node):
    text: str | None  # the output function's text; None for NULL


@dataclass
class _Var(_Node):
    name: str


@dataclass
class _Op(_Node):
    op: str
    args: list[_Node]


@dataclass
class _Func(_Node):
    name: str
    args: list[_Node]
    syntax: str = ""  # "extract": printed as EXTRACT(field FROM x)


@dataclass
class _Cast(_Node):
    arg: _Node
    implicit: bool
    binary: bool = False


@dataclass
class _Bool(_Node):
    op: str  # AND | OR | NOT
    args: list[_Node]


@dataclass
class _Test(_Node):
    """NullTest / BooleanTest: `arg IS [NOT] NULL|TRUE|FALSE|UNKNOWN`."""

    arg: _Node
    suffix: str
    kind: str  # "nulltest" | "booltest"


@dataclass
class _Distinct(_Node):
    left: _Node
    right: _Node


@dataclass
class _ArrayOp(_Node):
    op: str
    left: _Node
    right: _Node
    use_or: bool


@dataclass
class _Array(_Node):
    elements: list[_Node]


@dataclass
class _Named(_Node):
    """COALESCE / GREATEST / LEAST / NULLIF: a keyword and its arguments."""

    keyword: str
    args: list[_Node]


@dataclass
class _Case(_Node):
    arg: _Node | None
    whens: list[tuple[_Node, _Node]]
    default: _Node


@dataclass
class _Keyword(_Node):
    """SQLValueFunction: CURRENT_TIMESTAMP, CURRENT_USER, ..."""

    text: str


@dataclass
class _Raw(_Node):
    text: str = ""


# -- step 1: analysis -------------------------------------------------------------------------------

_SVF = {
    "SVFOP_CURRENT_DATE": ("CURRENT_DATE", DATE),
    "SVFOP_CURRENT_TIME": ("CURRENT_TIME", TIMESTAMPTZ),
    "SVFOP_CURRENT_TIME_N": ("CURRENT_TIME", TIMESTAMPTZ),
    "SVFOP_CURRENT_TIMESTAMP": ("CURRENT_TIMESTAMP", TIMESTAMPTZ),
    "SVFOP_CURRENT_TIMESTAMP_N": ("CURRENT_TIMESTAMP", TIMESTAMPTZ),
    "SVFOP_LOCALTIME": ("LOCALTIME", TIMESTAMP),
    "SVFOP_LOCALTIME_N": ("LOCALTIME", TIMESTAMP),
    "SVFOP_LOCALTIMESTAMP": ("LOCALTIMESTAMP", TIMESTAMP),
    "SVFOP_LOCALTIMESTAMP_N": ("LOCALTIMESTAMP", TIMESTAMP),
    "SVFOP_CURRENT_ROLE": ("CURRENT_ROLE", NAME),
    "SVFOP_CURRENT_USER": ("CURRENT_USER", NAME),
    "SVFOP_USER": ("USER", NAME),
    "SVFOP_SESSION_USER": ("SESSION_USER", NAME),
    "SVFOP_CURRENT_CATALOG": ("CURRENT_CATALOG", NAME),
    "SVFOP_CURRENT_SCHEMA": ("CURRENT_SCHEMA", NAME),
}

_SEQUENCE_FUNCTIONS = {"nextval": (REGCLASS,), "currval": (REGCLASS,), "setval": (REGCLASS, INT8, BOOL)}

_BOOLTESTS = {
    "IS_TRUE": " IS TRUE", "IS_NOT_TRUE": " IS NOT TRUE", "IS_FALSE": " IS FALSE",
    "IS_NOT_FALSE": " IS NOT FALSE", "IS_UNKNOWN": " IS UNKNOWN", "IS_NOT_UNKNOWN": " IS NOT UNKNOWN",
}


class _Analyzer:
    def __init__(self, table: TableDef | None, ctx: Any, columns: dict[str, SqlType] | None = None) -> None:
        if columns is None:
            columns = {c.name: c.type for c in table.columns if not c.dropped} if table is not None else {}
        self.columns = columns
        self.ctx = ctx

    def analyze(self, node: dict) -> _Node:
        kind = node_kind(node)
        method = getattr(self, "_" + kind, None)
        if method is None:
            raise _Unsupported(kind)
        return method(node_body(node))

    # -- leaves

    def _A_Const(self, n: dict) -> _Node:
        if n.get("isnull"):
            return _Const(UNKNOWN, None)
        if "ival" in n:
            return _Const(INT4, str(n["ival"].get("ival", 0)))
        if "fval" in n:
            text = n["fval"].get("fval", "0")
            try:
                value = int(text)
            except ValueError:
                return _Const(NUMERIC, self._output(NUMERIC, text))
            if -(2**63) <= value < 2**63:
                return _Const(INT8, str(value))
            return _Const(NUMERIC, text)
        if "boolval" in n:
            return _Const(BOOL, "t" if n["boolval"].get("boolval") else "f")
        if "sval" in n:
            return _Const(UNKNOWN, n["sval"].get("sval", ""))
        raise _Unsupported("A_Const")

    def _ColumnRef(self, n: dict) -> _Node:
        names = string_list(n.get("fields"))
        name = names[-1] if names else ""
        if name not in self.columns:
            raise _Unsupported("ColumnRef")
        return _Var(self.columns[name], name)

    def _SQLValueFunction(self, n: dict) -> _Node:
        op = n.get("op", "")
        if op not in _SVF:
            raise _Unsupported(op)
        text, t = _SVF[op]
        if op.endswith("_N"):
            text += f"({n.get('typmod', 0)})"
        return _Keyword(t, text)

    # -- operators

    def _A_Expr(self, n: dict) -> _Node:
        kind = n.get("kind", "AEXPR_OP")
        op = string_list(n.get("name"))[-1] if n.get("name") else ""
        if kind in ("AEXPR_OP", "AEXPR_LIKE", "AEXPR_ILIKE", "AEXPR_SIMILAR"):
            left = self.analyze(n["lexpr"]) if "lexpr" in n else None
            return self._operator(op, left, self.analyze(n["rexpr"]))
        if kind in ("AEXPR_DISTINCT", "AEXPR_NOT_DISTINCT"):
            compared = self._operator("=", self.analyze(n["lexpr"]), self.analyze(n["rexpr"]))
            assert isinstance(compared, _Op)
            node: _Node = _Distinct(BOOL, compared.args[0], compared.args[1])
            return _Bool(BOOL, "NOT", [node]) if kind == "AEXPR_NOT_DISTINCT" else node
        if kind == "AEXPR_NULLIF":
            compared = self._operator("=", self.analyze(n["lexpr"]), self.analyze(n["rexpr"]))
            assert isinstance(compared, _Op)
            return _Named(compared.args[0].type, "NULLIF", compared.args)
        if kind in ("AEXPR_OP_ANY", "AEXPR_OP_ALL"):
            return self._array_op(op, self.analyze(n["lexpr"]), self.analyze(n["rexpr"]), kind == "AEXPR_OP_ANY")
        if kind == "AEXPR_IN":
            return self._in(op, n)
        if kind in ("AEXPR_BETWEEN", "AEXPR_NOT_BETWEEN"):
            bounds = _list_items(n["rexpr"])
            if len(bounds) != 2:
                raise _Unsupported("BETWEEN")
            value = n["lexpr"]
            if kind == "AEXPR_BETWEEN":
                parts = [self._operator(">=", self.analyze(value), self.analyze(bounds[0])),
                         self._operator("<=", self.analyze(value), self.analyze(bounds[1]))]
                return _Bool(BOOL, "AND", parts)
            parts = [self._operator("<", self.analyze(value), self.analyze(bounds[0])),
                     self._operator(">", self.analyze(value), self.analyze(bounds[1]))]
            return _Bool(BOOL, "OR", parts)
        raise _Unsupported(kind)

    def _operator(self, op: str, left: _Node | None, right: _Node) -> _Node:
        try:
            resolved = resolve_operator(op, left.type if left is not None else None, right.type)
        except SqlError as exc:
            raise _Unsupported(op) from exc
        if left is None:
            return _Op(resolved.return_type, resolved.name or op, [self.coerce(right, resolved.arg_types[0])])
        args = [self.coerce(left, resolved.arg_types[0]), self.coerce(right, resolved.arg_types[1])]
        return _Op(resolved.return_type, resolved.name or op, args)

    def _array_op(self, op: str, left: _Node, right: _Node, use_or: bool) -> _Node:
        if not right.type.is_array or right.type.elem is None:
            raise _Unsupported("ANY")
        compared = self._operator(op, left, _Const(right.type.elem, None))
        assert isinstance(compared, _Op)
        return _ArrayOp(BOOL, compared.op, compared.args[0], right, use_or)

    def _in(self, op: str, n: dict) -> _Node:
        left = self.analyze(n["lexpr"])
        items = [self.analyze(item) for item in _list_items(n["rexpr"])]
        if len(items) == 1:
            return self._operator(op, left, items[0])
        try:
            common = common_type([left.type] + [i.type for i in items], "IN")
        except SqlError as exc:
            raise _Unsupported("IN") from exc
        if common == UNKNOWN:
            common = TEXT
        elements = [self.coerce(i, common) for i in items]
        from qp.types import array_of

        array = _Array(array_of(common), elements)
        return self._array_op(op, left, array, op != "<>")

    def _BoolExpr(self, n: dict) -> _Node:
        op = {"AND_EXPR": "AND", "OR_EXPR": "OR", "NOT_EXPR": "NOT"}[n.get("boolop", "AND_EXPR")]
        return _Bool(BOOL, op, [self.coerce(self.analyze(a), BOOL) for a in n.get("args", ())])

    def _NullTest(self, n: dict) -> _Node:
        suffix = " IS NOT NULL" if n.get("nulltesttype") == "IS_NOT_NULL" else " IS NULL"
        arg = self.analyze(n["arg"])
        if arg.type == UNKNOWN:
            arg = self.coerce(arg, TEXT)
        return _Test(BOOL, arg, suffix, "nulltest")

    def _BooleanTest(self, n: dict) -> _Node:
        arg = self.coerce(self.analyze(n["arg"]), BOOL)
        return _Test(BOOL, arg, _BOOLTESTS[n.get("booltesttype", "IS_TRUE")], "booltest")

    # -- calls and casts

    def _FuncCall(self, n: dict) -> _Node:
        names = string_list(n.get("funcname"))
        name = names[-1].lower() if names else ""
        if n.get("agg_star") or n.get("agg_distinct") or n.get("over") or n.get("agg_order"):
            raise _Unsupported("aggregate")
        raw_args = list(n.get("args", ()))
        if n.get("funcformat") == "COERCE_SQL_SYNTAX" and name == "extract" and len(raw_args) == 2:
            field_node = self.analyze(raw_args[0])
            source = self.analyze(raw_args[1])
            resolved = self._resolve(name, [TEXT, source.type])
            field_text = field_node.text if isinstance(field_node, _Const) and field_node.text else "?"
            return _Func(resolved.return_type, name, [_Raw(TEXT, field_text), self.coerce(source, resolved.arg_types[1])],
                         "extract")
        args = [self.analyze(a) for a in raw_args]
        if name in _SEQUENCE_FUNCTIONS:
            # nextval & co. are not in the function library (the binder runs them).
            declared = _SEQUENCE_FUNCTIONS[name]
            if len(args) not in (len(declared), len(declared) - 1) or name != "setval" and len(args) != len(declared):
                raise _Unsupported(name)
            return _Func(INT8, name, [self.coerce(a, t) for a, t in zip(args, declared, strict=False)])
        resolved = self._resolve(name, [a.type for a in args])
        coerced = [self.coerce(a, t) for a, t in zip(args, resolved.arg_types, strict=False)]
        return _Func(resolved.return_type, resolved.name or name, coerced)

    def _resolve(self, name: str, types: list[SqlType]):
        try:
            return resolve_function(name, types)
        except SqlError as exc:
            raise _Unsupported(name) from exc

    def _TypeCast(self, n: dict) -> _Node:
        target = _type_of(n["typeName"])
        arg = self.analyze(n["arg"])
        if isinstance(arg, _Const) and arg.type == UNKNOWN:
            const = _Const(target.base, self._output(target.base, arg.text))
            if target.typmod >= 0:
                return _Cast(target, const, implicit=False)
            return const
        if arg.type.oid == target.oid and arg.type.typmod == target.typmod:
            return arg
        return _Cast(target, arg, implicit=False, binary=(arg.type.oid, target.oid) in _BINARY_CASTS)

    # -- conditional expressions

    def _CoalesceExpr(self, n: dict) -> _Node:
        args = [self.analyze(a) for a in n.get("args", ())]
        common = self._common(args, "COALESCE")
        return _Named(common, "COALESCE", [self.coerce(a, common) for a in args])

    def _MinMaxExpr(self, n: dict) -> _Node:
        args = [self.analyze(a) for a in n.get("args", ())]
        keyword = "GREATEST" if n.get("op") == "IS_GREATEST" else "LEAST"
        common = self._common(args, keyword)
        return _Named(common, keyword, [self.coerce(a, common) for a in args])

    def _CaseExpr(self, n: dict) -> _Node:
        arg = self.analyze(n["arg"]) if "arg" in n else None
        whens = []
        for when in n.get("args", ()):
            w = when["CaseWhen"]
            condition = self.analyze(w["expr"])
            if arg is not None:
                compared = self._operator("=", arg, condition)
                assert isinstance(compared, _Op)
                condition = compared.args[1]
            else:
                condition = self.coerce(condition, BOOL)
            whens.append((condition, self.analyze(w["result"])))
        default = self.analyze(n["defresult"]) if "defresult" in n else _Const(UNKNOWN, None)
        results = [r for _, r in whens] + [default]
        common = self._common(results, "CASE")
        whens = [(c, self.coerce(r, common)) for c, r in whens]
        return _Case(common, arg, whens, self.coerce(default, common))

    def _A_ArrayExpr(self, n: dict) -> _Node:
        from qp.types import array_of

        elements = [self.analyze(e) for e in n.get("elements", ())]
        common = self._common(elements, "ARRAY")
        return _Array(array_of(common), [self.coerce(e, common) for e in elements])

    def _common(self, nodes: list[_Node], what: str) -> SqlType:
        try:
            common = common_type([x.type for x in nodes], what)
        except SqlError as exc:
            raise _Unsupported(what) from exc
        return TEXT if common == UNKNOWN else common

    # -- coercion

    def coerce(self, node: _Node, target: SqlType, implicit: bool = True) -> _Node:
        """PostgreSQL's coerce_type: literals become constants of the target type,
        other values get a cast node; a typmod difference alone is no cast."""
        if node.type.oid == target.oid or target.category == "P" and not target.is_array:
            return node
        if isinstance(node, _Const) and node.type == UNKNOWN:
            return _Const(target.base, None if node.text is None else self._output(target.base, node.text))
        if isinstance(node, _Const) and node.text is None:
            return _Const(target.base, None)
        return _Cast(target.base, node, implicit=implicit, binary=(node.type.oid, target.oid) in _BINARY_CASTS)

    def _output(self, t: SqlType, text: str | None) -> str | None:
        """The constant's text as PostgreSQL keeps it: input, then output function."""
        if text is None:
            return None
        try:
            return text_out(t, self.ctx)(text_decoder(t, self.ctx)(text))
        except Exception:
            return text


def _type_of(type_name: dict) -> SqlType:
    names = string_list(type_name.get("names"))
    typmods = []
    for mod in type_name.get("typmods", ()):
        const = mod.get("A_Const", {})
        if "ival" not in const:
            raise _Unsupported("typmod")
        typmods.append(const["ival"].get("ival", 0))
    try:
        return resolve_type_name(names, typmods, len(type_name.get("arrayBounds", ())))
    except SqlError as exc:
        raise _Unsupported("type") from exc


def _list_items(node: Any) -> list:
    if isinstance(node, list):
        return node
    if isinstance(node, dict) and "List" in node:
        return list(node["List"].get("items", ()))
    return [node]


# -- step 2: printing -------------------------------------------------------------------------------


@dataclass
class _Printer:
    pretty: bool
    parts: list[str] = field(default_factory=list)
    indent_level: int = 0

    def text(self) -> str:
        return "".join(self.parts)

    def write(self, s: str) -> None:
        self.parts.append(s)

    def keyword(self, s: str, indent_before: int, indent_after: int, indent_plus: int = 0) -> None:
        """appendContextKeyword with PRETTYFLAG_INDENT, which both modes use."""
        self.indent_level += indent_before
        text = "".join(self.parts).rstrip(" ")
        self.parts = [text, "\n", " " * (max(self.indent_level, 0) + indent_plus), s]
        self.indent_level = max(self.indent_level + indent_after, 0)

    # -- get_rule_expr_paren / isSimpleNode

    def paren(self, node: _Node, show_implicit: bool, parent: _Node) -> None:
        need = self.pretty and not self.is_simple(node, parent)
        if need:
            self.write("(")
        self.expr(node, show_implicit)
        if need:
            self.write(")")

    def is_simple(self, node: _Node, parent: _Node) -> bool:
        if isinstance(node, (_Var, _Const, _Keyword, _Raw, _Func, _Array, _Named, _Case)):
            return True
        if isinstance(node, _Cast):
            return self.is_simple(node.arg, node) if node.binary else True
        if isinstance(node, _Op) and isinstance(parent, _Op):
            op, parent_op = _simple_binary(node), _simple_binary(parent)
            if op is None or parent_op is None:
                return False
            low, high = op in "+-", op in "*/%"
            parent_low, parent_high = parent_op in "+-", parent_op in "*/%"
            if not (low or high) or not (parent_low or parent_high):
                return False
            if high and parent_low:
                return True
            if low and parent_high:
                return False
            return node is parent.args[0]
        if isinstance(node, (_Op, _Test, _Distinct)):
            return _simple_under(parent)
        if isinstance(node, _Bool):
            if isinstance(parent, _Bool):
                if node.op in ("NOT", "AND"):
                    return parent.op in ("AND", "OR")
                return parent.op == "OR"
            return _simple_under(parent)
        return False

    # -- get_rule_expr

    def expr(self, node: _Node, show_implicit: bool = False) -> None:
        if isinstance(node, _Var):
            self.write(quote_ident(node.name))
        elif isinstance(node, _Const):
            self.const(node, 0)
        elif isinstance(node, _Keyword):
            self.write(node.text)
        elif isinstance(node, _Raw):
            self.write(node.text)
        elif isinstance(node, _Op):
            self.op(node)
        elif isinstance(node, _Func):
            self.func(node)
        elif isinstance(node, _Cast):
            if node.implicit and not show_implicit:
                self.paren(node.arg, False, node)
            else:
                self.coercion(node)
        elif isinstance(node, _Bool):
            self.bool_expr(node)
        elif isinstance(node, _Test):
            self.open()
            self.paren(node.arg, True, node)
            self.write(node.suffix)
            self.close()
        elif isinstance(node, _Distinct):
            self.open()
            self.paren(node.left, True, node)
            self.write(" IS DISTINCT FROM ")
            self.paren(node.right, True, node)
            self.close()
        elif isinstance(node, _ArrayOp):
            self.open()
            self.paren(node.left, True, node)
            self.write(f" {node.op} {'ANY' if node.use_or else 'ALL'} (")
            self.paren(node.right, True, node)
            self.write(")")
            self.close()
        elif isinstance(node, _Array):
            self.write("ARRAY[")
            self.join(node.elements)
            self.write("]")
        elif isinstance(node, _Named):
            self.write(node.keyword + "(")
            self.join(node.args)
            self.write(")")
        elif isinstance(node, _Case):
            self.case(node)
        else:  # pragma: no cover - every analysed node is handled above
            raise AssertionError(node)

    def open(self) -> None:
        if not self.pretty:
            self.write("(")

    def close(self) -> None:
        if not self.pretty:
            self.write(")")

    def join(self, nodes: list[_Node]) -> None:
        for i, node in enumerate(nodes):
            if i:
                self.write(", ")
            self.expr(node, True)

    def op(self, node: _Op) -> None:
        self.open()
        if len(node.args) == 2:
            self.paren(node.args[0], True, node)
            self.write(f" {node.op} ")
            self.paren(node.args[1], True, node)
        else:
            self.write(f"{node.op} ")
            self.paren(node.args[0], True, node)
        self.close()

    def func(self, node: _Func) -> None:
        if node.syntax == "extract":
            self.write(f"EXTRACT({node.args[0].text if isinstance(node.args[0], _Raw) else '?'} FROM ")
            self.expr(node.args[1], True)
            self.write(")")
            return
        self.write(quote_ident(node.name) + "(")
        self.join(node.args)
        self.write(")")

    def coercion(self, node: _Cast) -> None:
        """get_coercion_expr: `arg::type`, with the constant special case."""
        arg = node.arg
        if isinstance(arg, _Const) and arg.type.oid == node.type.oid and arg.type.typmod == -1:
            self.const(arg, -1)
        else:
            if not self.pretty:
                self.write("(")
            self.paren(arg, False, node)
            if not self.pretty:
                self.write(")")
        self.write("::" + format_type(node.type))

    def bool_expr(self, node: _Bool) -> None:
        if node.op == "NOT":
            self.open()
            self.write("NOT ")
            self.paren(node.args[0], False, node)
            self.close()
            return
        self.open()
        for i, arg in enumerate(node.args):
            if i:
                self.write(f" {node.op} ")
            self.paren(arg, False, node)
        self.close()

    def case(self, node: _Case) -> None:
        self.keyword("CASE", 0, PRETTYINDENT_VAR)
        if node.arg is not None:
            self.write(" ")
            self.expr(node.arg)
        for condition, result in node.whens:
            self.keyword("WHEN ", 0, 0)
            self.expr(condition)
            self.write(" THEN ")
            self.expr(result, True)
        self.keyword("ELSE ", 0, 0)
        self.expr(node.default, True)
        self.keyword("END", -PRETTYINDENT_VAR, 0)

    def const(self, node: _Const, showtype: int) -> None:
        """get_const_expr: which constants need a ::type label."""
        t = node.type
        if node.text is None:
            self.write("NULL")
            if showtype >= 0 and t != UNKNOWN:
                self.write("::" + format_type(t))
            return
        text = node.text
        need_label = False
        if t.oid == 23:
            if text.startswith("-"):
                self.write(_quote(text))
                need_label = True
            else:
                self.write(text)
        elif t.oid == 1700:
            if text[:1].isdigit() and any(c in text for c in "eE."):
                self.write(text)
            else:
                self.write(_quote(text))
                need_label = True
        elif t.oid == 16:
            self.write("true" if text == "t" else "false")
        else:
            self.write(_quote(text))
        if showtype < 0:
            return
        if t.oid in (16, 705):
            need_label = False
        elif t.oid == 1700:
            need_label |= t.typmod >= 0
        elif t.oid != 23:
            need_label = True
        if need_label or showtype > 0:
            self.write("::" + format_type(t))


def _simple_binary(node: _Node) -> str | None:
    if isinstance(node, _Op) and len(node.args) == 2 and len(node.op) == 1:
        return node.op
    return None


def _simple_under(parent: _Node) -> bool:
    """isSimpleNode's rule for operators, tests and sublinks: simple when the
    parent brings its own parentheses or separators."""
    if isinstance(parent, _Func):
        return True
    if isinstance(parent, _Cast):
        return False
    return isinstance(parent, (_Bool, _Array, _Named, _Case))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- raw fallback -----------------------------------------------------------------------------------


def _raw_text(node: Any) -> str:
    """The expression as written, for constructs the analyser does not model."""
    if not isinstance(node, dict) or not node:
        return ""
    kind, body = node_kind(node), node_body(node)
    if kind == "ColumnRef":
        return ".".join(quote_ident(n) for n in string_list(body.get("fields")))
    if kind == "A_Const":
        if body.get("isnull"):
            return "NULL"
        for key in ("ival", "fval", "boolval"):
            if key in body:
                value = body[key].get(key, 0 if key != "boolval" else False)
                return ("true" if value else "false") if key == "boolval" else str(value)
        return _quote(body.get("sval", {}).get("sval", ""))
    if kind == "A_Expr":
        op = string_list(body.get("name"))[-1] if body.get("name") else "?"
        left = _raw_text(body.get("lexpr")) + " " if body.get("lexpr") else ""
        right = body.get("rexpr")
        right_text = ", ".join(_raw_text(x) for x in _list_items(right)) if isinstance(right, (list, dict)) else ""
        return f"({left}{op} {right_text})"
    if kind == "FuncCall":
        args = ", ".join(_raw_text(a) for a in body.get("args", ()))
        return f"{string_list(body.get('funcname'))[-1]}({'*' if body.get('agg_star') else args})"
    if kind == "TypeCast":
        names = string_list(body["typeName"].get("names"))
        return f"{_raw_text(body.get('arg'))}::{names[-1] if names else '?'}"
    if kind == "BoolExpr":
        op = {"AND_EXPR": " AND ", "OR_EXPR": " OR "}.get(body.get("boolop", ""), "NOT ")
        args = [_raw_text(a) for a in body.get("args", ())]
        return f"(NOT {args[0]})" if op == "NOT " else "(" + op.join(args) + ")"
    if kind == "NullTest":
        return f"({_raw_text(body.get('arg'))} IS {'NOT ' if body.get('nulltesttype') == 'IS_NOT_NULL' else ''}NULL)"
    return kind


# -- entry points -----------------------------------------------------------------------------------


def expression_text(table: TableDef | None, tree_json: str, pretty: bool, ctx: Any,
                    target: SqlType | None = None) -> str:
    """pg_get_expr of a stored default (coerced to `target`, its column's type)
    or check expression (target None; checks are already boolean)."""
    tree = json.loads(tree_json)
    try:
        analyzer = _Analyzer(table, ctx)
        node = analyzer.analyze(tree)
        if target is not None:
            node = analyzer.coerce(node, target)
        elif node.type == UNKNOWN:
            node = analyzer.coerce(node, BOOL)
    except _Unsupported:
        return _raw_text(tree)
    printer = _Printer(pretty)
    printer.expr(node, False)
    return printer.text()


# -- views ------------------------------------------------------------------------------------------

PRETTYINDENT_STD = 8


def view_query_text(query_json: str, relation_columns: Any, view_columns: list[str], ctx: Any,
                    pretty: bool = True) -> str | None:
    """pg_get_viewdef's pretty layout for a view over one relation (PostgreSQL
    16 prints such columns unqualified; without `pretty`, operators keep
    their parentheses but the layout is the same):

         SELECT id,
            name
           FROM items
          WHERE id > 0;

    `relation_columns(schema, name)` gives the named relation's columns
    ({name: type}) or None. Returns None for queries this does not model
    (joins, subqueries, set operations, grouping): the caller falls back to
    the query as written."""
    select = json.loads(query_json).get("SelectStmt", {})
    unsupported = ("op", "withClause", "groupClause", "havingClause", "windowClause", "valuesLists",
                   "lockingClause", "distinctClause", "limitOffset")
    if any(select.get(k) not in (None, "SETOP_NONE") for k in unsupported):
        return None
    from_list = select.get("fromClause", ())
    if len(from_list) != 1 or "RangeVar" not in from_list[0]:
        return None
    range_var = from_list[0]["RangeVar"]
    columns = relation_columns(range_var.get("schemaname"), range_var["relname"])
    if columns is None:
        return None
    analyzer = _Analyzer(None, ctx, columns)
    printer = _Printer(pretty, indent_level=PRETTYINDENT_STD)
    printer.write(" SELECT")
    targets: list[tuple[_Node, str | None]] = []
    try:
        for target in select.get("targetList", ()):
            res = target["ResTarget"]
            value = res.get("val", {})
            if "ColumnRef" in value and "A_Star" in value["ColumnRef"]["fields"][-1]:
                targets += [(_Var(t, name), None) for name, t in columns.items()]
                continue
            node = analyzer.analyze(value)
            if node.type == UNKNOWN:
                node = analyzer.coerce(node, TEXT)
            targets.append((node, res.get("name")))
        where = analyzer.coerce(analyzer.analyze(select["whereClause"]), BOOL) if "whereClause" in select else None
        order = [(analyzer.analyze(s["SortBy"]["node"]), s["SortBy"].get("sortby_dir", ""))
                 for s in select.get("sortClause", ())]
        limit = analyzer.analyze(select["limitCount"]) if "limitCount" in select else None
    except _Unsupported:
        return None
    if len(targets) != len(view_columns):
        return None
    for i, ((node, _), column) in enumerate(zip(targets, view_columns, strict=True)):
        if i:
            printer.write(",")
            printer.keyword("", -PRETTYINDENT_STD, PRETTYINDENT_STD, PRETTYINDENT_VAR)
        else:
            printer.write(" ")
        printer.expr(node, False)
        if not (isinstance(node, _Var) and node.name == column):
            printer.write(f" AS {quote_ident(column)}")
    printer.keyword(" FROM ", -PRETTYINDENT_STD, PRETTYINDENT_STD, 2)
    relation_name = quote_ident(range_var["relname"])
    if range_var.get("schemaname"):
        relation_name = f"{quote_ident(range_var['schemaname'])}.{relation_name}"
    printer.write(relation_name)
    alias = range_var.get("alias", {}).get("aliasname")
    if alias and alias != range_var["relname"]:
        printer.write(f" {quote_ident(alias)}")
    if where is not None:
        printer.keyword(" WHERE ", -PRETTYINDENT_STD, PRETTYINDENT_STD, 1)
        printer.expr(where, False)
    if order:
        printer.keyword(" ORDER BY ", -PRETTYINDENT_STD, PRETTYINDENT_STD, 1)
        for i, (node, direction) in enumerate(order):
            if i:
                printer.write(", ")
            printer.expr(node, False)
            printer.write(" DESC" if direction == "SORTBY_DESC" else "")
    if limit is not None:
        printer.keyword(" LIMIT ", -PRETTYINDENT_STD, PRETTYINDENT_STD, 0)
        printer.expr(limit, False)
    return printer.text() + ";"
