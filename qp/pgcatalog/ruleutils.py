"""Column defaults, check constraints and view queries printed as PostgreSQL prints them.

dsql stores a default or a check as the parse tree the user wrote (pglast's
JSON). PostgreSQL stores the *analysed* tree, and `pg_get_expr` /
`pg_get_constraintdef` print that tree with ruleutils.c, which shows what
analysis added: the types literals took (`'x'::text`), implicit casts inside
operators and function calls (`price > 0::numeric`, `lower(note::text)`),
IN lists as `= ANY (ARRAY[...])`, BETWEEN as two comparisons, LIKE as `~~`.
Clients show this text (psql's `\\d`, SQLAlchemy's reflected defaults), so
this module does the same two steps on the stored tree:

1. `analyze.Analyzer` types the raw tree with dsql's own operator and function
   resolution (which follows PostgreSQL's) and inserts the coercions
   PostgreSQL's parser would: a literal becomes a constant of the type it
   is coerced to; anything else gets an implicit cast node.
2. `_Printer` (here) prints the result with ruleutils' rules: parentheses
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

from qp.catalog.stored import TableDef
from qp.functions.strings import quote_ident
from qp.parse.parser import node_body, node_kind, string_list
from qp.pgcatalog.analyze import (
    Analyzer,
    Array,
    ArrayOp,
    Bool,
    Case,
    Cast,
    Const,
    Distinct,
    Func,
    Keyword,
    Named,
    Node,
    Op,
    Raw,
    Test,
    Unsupported,
    Var,
    list_items,
)
from qp.types import BOOL, TEXT, UNKNOWN, SqlType, format_type

PRETTYINDENT_VAR = 4

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

    def paren(self, node: Node, show_implicit: bool, parent: Node) -> None:
        need = self.pretty and not self.is_simple(node, parent)
        if need:
            self.write("(")
        self.expr(node, show_implicit)
        if need:
            self.write(")")

    def is_simple(self, node: Node, parent: Node) -> bool:
        if isinstance(node, (Var, Const, Keyword, Raw, Func, Array, Named, Case)):
            return True
        if isinstance(node, Cast):
            return self.is_simple(node.arg, node) if node.binary else True
        if isinstance(node, Op) and isinstance(parent, Op):
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
        if isinstance(node, (Op, Test, Distinct)):
            return _simple_under(parent)
        if isinstance(node, Bool):
            if isinstance(parent, Bool):
                if node.op in ("NOT", "AND"):
                    return parent.op in ("AND", "OR")
                return parent.op == "OR"
            return _simple_under(parent)
        return False

    # -- get_rule_expr

    def expr(self, node: Node, show_implicit: bool = False) -> None:
        if isinstance(node, Var):
            self.write(quote_ident(node.name))
        elif isinstance(node, Const):
            self.const(node, 0)
        elif isinstance(node, Keyword):
            self.write(node.text)
        elif isinstance(node, Raw):
            self.write(node.text)
        elif isinstance(node, Op):
            self.op(node)
        elif isinstance(node, Func):
            self.func(node)
        elif isinstance(node, Cast):
            if node.implicit and not show_implicit:
                self.paren(node.arg, False, node)
            else:
                self.coercion(node)
        elif isinstance(node, Bool):
            self.bool_expr(node)
        elif isinstance(node, Test):
            self.open()
            self.paren(node.arg, True, node)
            self.write(node.suffix)
            self.close()
        elif isinstance(node, Distinct):
            self.open()
            self.paren(node.left, True, node)
            self.write(" IS DISTINCT FROM ")
            self.paren(node.right, True, node)
            self.close()
        elif isinstance(node, ArrayOp):
            self.open()
            self.paren(node.left, True, node)
            self.write(f" {node.op} {'ANY' if node.use_or else 'ALL'} (")
            self.paren(node.right, True, node)
            self.write(")")
            self.close()
        elif isinstance(node, Array):
            self.write("ARRAY[")
            self.join(node.elements)
            self.write("]")
        elif isinstance(node, Named):
            self.write(node.keyword + "(")
            self.join(node.args)
            self.write(")")
        elif isinstance(node, Case):
            self.case(node)
        else:  # pragma: no cover - every analysed node is handled above
            raise AssertionError(node)

    def open(self) -> None:
        if not self.pretty:
            self.write("(")

    def close(self) -> None:
        if not self.pretty:
            self.write(")")

    def join(self, nodes: list[Node]) -> None:
        for i, node in enumerate(nodes):
            if i:
                self.write(", ")
            self.expr(node, True)

    def op(self, node: Op) -> None:
        self.open()
        if len(node.args) == 2:
            self.paren(node.args[0], True, node)
            self.write(f" {node.op} ")
            self.paren(node.args[1], True, node)
        else:
            self.write(f"{node.op} ")
            self.paren(node.args[0], True, node)
        self.close()

    def func(self, node: Func) -> None:
        if node.syntax == "extract":
            self.write(f"EXTRACT({node.args[0].text if isinstance(node.args[0], Raw) else '?'} FROM ")
            self.expr(node.args[1], True)
            self.write(")")
            return
        self.write(quote_ident(node.name) + "(")
        self.join(node.args)
        self.write(")")

    def coercion(self, node: Cast) -> None:
        """get_coercion_expr: `arg::type`, with the constant special case."""
        arg = node.arg
        if isinstance(arg, Const) and arg.type.oid == node.type.oid and arg.type.typmod == -1:
            self.const(arg, -1)
        else:
            if not self.pretty:
                self.write("(")
            self.paren(arg, False, node)
            if not self.pretty:
                self.write(")")
        self.write("::" + format_type(node.type))

    def bool_expr(self, node: Bool) -> None:
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

    def case(self, node: Case) -> None:
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

    def const(self, node: Const, showtype: int) -> None:
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


def _simple_binary(node: Node) -> str | None:
    if isinstance(node, Op) and len(node.args) == 2 and len(node.op) == 1:
        return node.op
    return None


def _simple_under(parent: Node) -> bool:
    """isSimpleNode's rule for operators, tests and sublinks: simple when the
    parent brings its own parentheses or separators."""
    if isinstance(parent, Func):
        return True
    if isinstance(parent, Cast):
        return False
    return isinstance(parent, (Bool, Array, Named, Case))


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
        right_text = ", ".join(_raw_text(x) for x in list_items(right)) if isinstance(right, (list, dict)) else ""
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
        analyzer = Analyzer(table, ctx)
        node = analyzer.analyze(tree)
        if target is not None:
            node = analyzer.coerce(node, target)
        elif node.type == UNKNOWN:
            node = analyzer.coerce(node, BOOL)
    except Unsupported:
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
    analyzer = Analyzer(None, ctx, columns)
    printer = _Printer(pretty, indent_level=PRETTYINDENT_STD)
    printer.write(" SELECT")
    targets: list[tuple[Node, str | None]] = []
    try:
        for target in select.get("targetList", ()):
            res = target["ResTarget"]
            value = res.get("val", {})
            if "ColumnRef" in value and "A_Star" in value["ColumnRef"]["fields"][-1]:
                targets += [(Var(t, name), None) for name, t in columns.items()]
                continue
            node = analyzer.analyze(value)
            if node.type == UNKNOWN:
                node = analyzer.coerce(node, TEXT)
            targets.append((node, res.get("name")))
        where = analyzer.coerce(analyzer.analyze(select["whereClause"]), BOOL) if "whereClause" in select else None
        order = [(analyzer.analyze(s["SortBy"]["node"]), s["SortBy"].get("sortby_dir", ""))
                 for s in select.get("sortClause", ())]
        limit = analyzer.analyze(select["limitCount"]) if "limitCount" in select else None
    except Unsupported:
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
        if not (isinstance(node, Var) and node.name == column):
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
