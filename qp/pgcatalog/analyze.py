"""Stored expressions typed as PostgreSQL's parser would type them.

dsql stores a column default or a check as the parse tree the user wrote
(pglast's JSON); PostgreSQL stores the tree after parse analysis. To print
what PostgreSQL prints (see ruleutils.py), `Analyzer` redoes that analysis:
it types the raw tree with dsql's own operator and function resolution
(which follows PostgreSQL's) and inserts the coercions PostgreSQL's parser
would: a literal becomes a constant of the type it is coerced to (its text
is what the type's output function prints), anything else of another type
gets a cast node, implicit or explicit. The nodes keep only what printing
needs. Constructs it does not model raise `Unsupported`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qp.catalog.stored import TableDef
from qp.errors import SqlError
from qp.functions import resolve_function, resolve_operator
from qp.parse.parser import node_body, node_kind, string_list
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
    array_of,
    common_type,
    resolve_type_name,
    text_decoder,
    text_out,
)

# Casts PostgreSQL performs as RelabelType (binary coercible) rather than a
# function call; only the parenthesisation of their argument differs.
_BINARY_CASTS = {(1043, 25), (25, 1043)}


class Unsupported(Exception):
    """A construct the analyser does not model; the raw text is used instead."""


# -- analysed nodes (the parts of PostgreSQL's expression nodes that printing needs) ----------------


@dataclass
class Node:
    type: SqlType


@dataclass
class Const(Node):
    text: str | None  # the output function's text; None for NULL


@dataclass
class Var(Node):
    name: str


@dataclass
class Op(Node):
    op: str
    args: list[Node]


@dataclass
class Func(Node):
    name: str
    args: list[Node]
    syntax: str = ""  # "extract": printed as EXTRACT(field FROM x)


@dataclass
class Cast(Node):
    arg: Node
    implicit: bool
    binary: bool = False


@dataclass
class Bool(Node):
    op: str  # AND | OR | NOT
    args: list[Node]


@dataclass
class Test(Node):
    """NullTest / BooleanTest: `arg IS [NOT] NULL|TRUE|FALSE|UNKNOWN`."""

    arg: Node
    suffix: str
    kind: str  # "nulltest" | "booltest"


@dataclass
class Distinct(Node):
    left: Node
    right: Node


@dataclass
class ArrayOp(Node):
    op: str
    left: Node
    right: Node
    use_or: bool


@dataclass
class Array(Node):
    elements: list[Node]


@dataclass
class Named(Node):
    """COALESCE / GREATEST / LEAST / NULLIF: a keyword and its arguments."""

    keyword: str
    args: list[Node]


@dataclass
class Case(Node):
    arg: Node | None
    whens: list[tuple[Node, Node]]
    default: Node


@dataclass
class Keyword(Node):
    """SQLValueFunction: CURRENT_TIMESTAMP, CURRENT_USER, ..."""

    text: str


@dataclass
class Raw(Node):
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


class Analyzer:
    def __init__(self, table: TableDef | None, ctx: Any, columns: dict[str, SqlType] | None = None) -> None:
        if columns is None:
            columns = {c.name: c.type for c in table.columns if not c.dropped} if table is not None else {}
        self.columns = columns
        self.ctx = ctx

    def analyze(self, node: dict) -> Node:
        kind = node_kind(node)
        method = getattr(self, "_" + kind, None)
        if method is None:
            raise Unsupported(kind)
        return method(node_body(node))

    # -- leaves

    def _A_Const(self, n: dict) -> Node:
        if n.get("isnull"):
            return Const(UNKNOWN, None)
        if "ival" in n:
            return Const(INT4, str(n["ival"].get("ival", 0)))
        if "fval" in n:
            text = n["fval"].get("fval", "0")
            try:
                value = int(text)
            except ValueError:
                return Const(NUMERIC, self._output(NUMERIC, text))
            if -(2**63) <= value < 2**63:
                return Const(INT8, str(value))
            return Const(NUMERIC, text)
        if "boolval" in n:
            return Const(BOOL, "t" if n["boolval"].get("boolval") else "f")
        if "sval" in n:
            return Const(UNKNOWN, n["sval"].get("sval", ""))
        raise Unsupported("A_Const")

    def _ColumnRef(self, n: dict) -> Node:
        names = string_list(n.get("fields"))
        name = names[-1] if names else ""
        if name not in self.columns:
            raise Unsupported("ColumnRef")
        return Var(self.columns[name], name)

    def _SQLValueFunction(self, n: dict) -> Node:
        op = n.get("op", "")
        if op not in _SVF:
            raise Unsupported(op)
        text, t = _SVF[op]
        if op.endswith("_N"):
            text += f"({n.get('typmod', 0)})"
        return Keyword(t, text)

    # -- operators

    def _A_Expr(self, n: dict) -> Node:
        kind = n.get("kind", "AEXPR_OP")
        op = string_list(n.get("name"))[-1] if n.get("name") else ""
        if kind in ("AEXPR_OP", "AEXPR_LIKE", "AEXPR_ILIKE", "AEXPR_SIMILAR"):
            left = self.analyze(n["lexpr"]) if "lexpr" in n else None
            return self._operator(op, left, self.analyze(n["rexpr"]))
        if kind in ("AEXPR_DISTINCT", "AEXPR_NOT_DISTINCT"):
            compared = self._operator("=", self.analyze(n["lexpr"]), self.analyze(n["rexpr"]))
            assert isinstance(compared, Op)
            node: Node = Distinct(BOOL, compared.args[0], compared.args[1])
            return Bool(BOOL, "NOT", [node]) if kind == "AEXPR_NOT_DISTINCT" else node
        if kind == "AEXPR_NULLIF":
            compared = self._operator("=", self.analyze(n["lexpr"]), self.analyze(n["rexpr"]))
            assert isinstance(compared, Op)
            return Named(compared.args[0].type, "NULLIF", compared.args)
        if kind in ("AEXPR_OP_ANY", "AEXPR_OP_ALL"):
            return self._array_op(op, self.analyze(n["lexpr"]), self.analyze(n["rexpr"]), kind == "AEXPR_OP_ANY")
        if kind == "AEXPR_IN":
            return self._in(op, n)
        if kind in ("AEXPR_BETWEEN", "AEXPR_NOT_BETWEEN"):
            bounds = list_items(n["rexpr"])
            if len(bounds) != 2:
                raise Unsupported("BETWEEN")
            value = n["lexpr"]
            if kind == "AEXPR_BETWEEN":
                parts = [self._operator(">=", self.analyze(value), self.analyze(bounds[0])),
                         self._operator("<=", self.analyze(value), self.analyze(bounds[1]))]
                return Bool(BOOL, "AND", parts)
            parts = [self._operator("<", self.analyze(value), self.analyze(bounds[0])),
                     self._operator(">", self.analyze(value), self.analyze(bounds[1]))]
            return Bool(BOOL, "OR", parts)
        raise Unsupported(kind)

    def _operator(self, op: str, left: Node | None, right: Node) -> Node:
        try:
            resolved = resolve_operator(op, left.type if left is not None else None, right.type)
        except SqlError as exc:
            raise Unsupported(op) from exc
        if left is None:
            return Op(resolved.return_type, resolved.name or op, [self.coerce(right, resolved.arg_types[0])])
        args = [self.coerce(left, resolved.arg_types[0]), self.coerce(right, resolved.arg_types[1])]
        return Op(resolved.return_type, resolved.name or op, args)

    def _array_op(self, op: str, left: Node, right: Node, use_or: bool) -> Node:
        if not right.type.is_array or right.type.elem is None:
            raise Unsupported("ANY")
        compared = self._operator(op, left, Const(right.type.elem, None))
        assert isinstance(compared, Op)
        return ArrayOp(BOOL, compared.op, compared.args[0], right, use_or)

    def _in(self, op: str, n: dict) -> Node:
        left = self.analyze(n["lexpr"])
        items = [self.analyze(item) for item in list_items(n["rexpr"])]
        if len(items) == 1:
            return self._operator(op, left, items[0])
        try:
            common = common_type([left.type] + [i.type for i in items], "IN")
        except SqlError as exc:
            raise Unsupported("IN") from exc
        if common == UNKNOWN:
            common = TEXT
        elements = [self.coerce(i, common) for i in items]

        array = Array(array_of(common), elements)
        return self._array_op(op, left, array, op != "<>")

    def _BoolExpr(self, n: dict) -> Node:
        op = {"AND_EXPR": "AND", "OR_EXPR": "OR", "NOT_EXPR": "NOT"}[n.get("boolop", "AND_EXPR")]
        return Bool(BOOL, op, [self.coerce(self.analyze(a), BOOL) for a in n.get("args", ())])

    def _NullTest(self, n: dict) -> Node:
        suffix = " IS NOT NULL" if n.get("nulltesttype") == "IS_NOT_NULL" else " IS NULL"
        arg = self.analyze(n["arg"])
        if arg.type == UNKNOWN:
            arg = self.coerce(arg, TEXT)
        return Test(BOOL, arg, suffix, "nulltest")

    def _BooleanTest(self, n: dict) -> Node:
        arg = self.coerce(self.analyze(n["arg"]), BOOL)
        return Test(BOOL, arg, _BOOLTESTS[n.get("booltesttype", "IS_TRUE")], "booltest")

    # -- calls and casts

    def _FuncCall(self, n: dict) -> Node:
        names = string_list(n.get("funcname"))
        name = names[-1].lower() if names else ""
        if n.get("agg_star") or n.get("agg_distinct") or n.get("over") or n.get("agg_order"):
            raise Unsupported("aggregate")
        raw_args = list(n.get("args", ()))
        if n.get("funcformat") == "COERCE_SQL_SYNTAX" and name == "extract" and len(raw_args) == 2:
            field_node = self.analyze(raw_args[0])
            source = self.analyze(raw_args[1])
            resolved = self._resolve(name, [TEXT, source.type])
            field_text = field_node.text if isinstance(field_node, Const) and field_node.text else "?"
            return Func(resolved.return_type, name, [Raw(TEXT, field_text), self.coerce(source, resolved.arg_types[1])],
                         "extract")
        args = [self.analyze(a) for a in raw_args]
        if name in _SEQUENCE_FUNCTIONS:
            # nextval & co. are not in the function library (the binder runs them).
            declared = _SEQUENCE_FUNCTIONS[name]
            if len(args) not in (len(declared), len(declared) - 1) or name != "setval" and len(args) != len(declared):
                raise Unsupported(name)
            return Func(INT8, name, [self.coerce(a, t) for a, t in zip(args, declared, strict=False)])
        resolved = self._resolve(name, [a.type for a in args])
        coerced = [self.coerce(a, t) for a, t in zip(args, resolved.arg_types, strict=False)]
        return Func(resolved.return_type, resolved.name or name, coerced)

    def _resolve(self, name: str, types: list[SqlType]):
        try:
            return resolve_function(name, types)
        except SqlError as exc:
            raise Unsupported(name) from exc

    def _TypeCast(self, n: dict) -> Node:
        target = type_of(n["typeName"])
        arg = self.analyze(n["arg"])
        if isinstance(arg, Const) and arg.type == UNKNOWN:
            const = Const(target.base, self._output(target.base, arg.text))
            if target.typmod >= 0:
                return Cast(target, const, implicit=False)
            return const
        if arg.type.oid == target.oid and arg.type.typmod == target.typmod:
            return arg
        return Cast(target, arg, implicit=False, binary=(arg.type.oid, target.oid) in _BINARY_CASTS)

    # -- conditional expressions

    def _CoalesceExpr(self, n: dict) -> Node:
        args = [self.analyze(a) for a in n.get("args", ())]
        common = self._common(args, "COALESCE")
        return Named(common, "COALESCE", [self.coerce(a, common) for a in args])

    def _MinMaxExpr(self, n: dict) -> Node:
        args = [self.analyze(a) for a in n.get("args", ())]
        keyword = "GREATEST" if n.get("op") == "IS_GREATEST" else "LEAST"
        common = self._common(args, keyword)
        return Named(common, keyword, [self.coerce(a, common) for a in args])

    def _CaseExpr(self, n: dict) -> Node:
        arg = self.analyze(n["arg"]) if "arg" in n else None
        whens = []
        for when in n.get("args", ()):
            w = when["CaseWhen"]
            condition = self.analyze(w["expr"])
            if arg is not None:
                compared = self._operator("=", arg, condition)
                assert isinstance(compared, Op)
                condition = compared.args[1]
            else:
                condition = self.coerce(condition, BOOL)
            whens.append((condition, self.analyze(w["result"])))
        default = self.analyze(n["defresult"]) if "defresult" in n else Const(UNKNOWN, None)
        results = [r for _, r in whens] + [default]
        common = self._common(results, "CASE")
        whens = [(c, self.coerce(r, common)) for c, r in whens]
        return Case(common, arg, whens, self.coerce(default, common))

    def _A_ArrayExpr(self, n: dict) -> Node:
        elements = [self.analyze(e) for e in n.get("elements", ())]
        common = self._common(elements, "ARRAY")
        return Array(array_of(common), [self.coerce(e, common) for e in elements])

    def _common(self, nodes: list[Node], what: str) -> SqlType:
        try:
            common = common_type([x.type for x in nodes], what)
        except SqlError as exc:
            raise Unsupported(what) from exc
        return TEXT if common == UNKNOWN else common

    # -- coercion

    def coerce(self, node: Node, target: SqlType, implicit: bool = True) -> Node:
        """PostgreSQL's coerce_type: literals become constants of the target type,
        other values get a cast node; a typmod difference alone is no cast."""
        if node.type.oid == target.oid or target.category == "P" and not target.is_array:
            return node
        if isinstance(node, Const) and node.type == UNKNOWN:
            return Const(target.base, None if node.text is None else self._output(target.base, node.text))
        if isinstance(node, Const) and node.text is None:
            return Const(target.base, None)
        return Cast(target.base, node, implicit=implicit, binary=(node.type.oid, target.oid) in _BINARY_CASTS)

    def _output(self, t: SqlType, text: str | None) -> str | None:
        """The constant's text as PostgreSQL keeps it: input, then output function."""
        if text is None:
            return None
        try:
            return text_out(t, self.ctx)(text_decoder(t, self.ctx)(text))
        except Exception:
            return text


def type_of(type_name: dict) -> SqlType:
    names = string_list(type_name.get("names"))
    typmods = []
    for mod in type_name.get("typmods", ()):
        const = mod.get("A_Const", {})
        if "ival" not in const:
            raise Unsupported("typmod")
        typmods.append(const["ival"].get("ival", 0))
    try:
        return resolve_type_name(names, typmods, len(type_name.get("arrayBounds", ())))
    except SqlError as exc:
        raise Unsupported("type") from exc


def list_items(node: Any) -> list:
    if isinstance(node, list):
        return node
    if isinstance(node, dict) and "List" in node:
        return list(node["List"].get("items", ()))
    return [node]

