"""Row values in expressions: ROW(...) constructors, comparisons of rows,
IN lists of rows, IS [NOT] NULL of rows and field selection.

A row value is a tuple at run time; its type is a record type whose fields
give each item's name and type (`f1`, `f2`... for a constructor, the columns'
names for a whole-row reference), which is what record output, row_to_json
and field selection read.

Comparisons follow PostgreSQL's make_row_comparison_op, pair by pair with
the ordinary operator rules (so coercions and errors are the scalar ones):
`=` is the AND of the pairs, `<>` their OR, and `<`, `<=`, `>`, `>=` compare
lexicographically: the first pair that is not equal decides, and a NULL in a
pair reached first makes the result NULL. A row compared with a subquery
reads the subquery's one row (NULL if none, 21000 if several). IN lists and
IS [NOT] DISTINCT FROM are rewritten into the pairwise parse nodes and bound
as such. Two record values that are not both row constructors (whole rows,
say) compare as PostgreSQL's record_eq/record_cmp do instead: NULL fields
equal each other and sort above any value. `RowBinding` is a mixin of the expression binder: it calls only the
binder's own `bind` and `operator`.
"""

from __future__ import annotations

from typing import Any

from qp.bind import expr as E
from qp.errors import SqlError
from qp.parse.parser import node_body, node_kind, string_list
from qp.types import BOOL, RECORD, SqlType, format_type, record_type, sort_key

_ORDERING_OPERATORS = ("<", "<=", ">", ">=")


def row_type(items: list[E.Expr], names: list[str] | None = None) -> SqlType:
    """The record type of a row of `items` (fields f1, f2... unless named)."""
    names = names or [f"f{i + 1}" for i in range(len(items))]
    return record_type([(name, item.type) for name, item in zip(names, items, strict=True)])


def is_row_node(node: dict | None) -> bool:
    return node is not None and node_kind(node) == "RowExpr"


def _row_items(node: dict) -> list[dict]:
    return list(node_body(node).get("args", ()))


def _pairs(left: dict, right: dict) -> list[tuple[dict, dict]]:
    left_items, right_items = _row_items(left), _row_items(right)
    if len(left_items) != len(right_items):
        raise SqlError("42601", "unequal number of entries in row expressions")
    if not left_items:
        raise SqlError("0A000", "comparisons of empty rows are not supported")
    return list(zip(left_items, right_items, strict=True))


def _op_node(op: str, left: dict, right: dict, kind: str = "AEXPR_OP") -> dict:
    return {"A_Expr": {"kind": kind, "name": [{"String": {"sval": op}}], "lexpr": left, "rexpr": right}}


def _bool_node(op: str, args: list[dict]) -> dict:
    return args[0] if len(args) == 1 else {"BoolExpr": {"boolop": op, "args": args}}


def _lexicographic(op: str):
    """(eq_1..eq_n, cmp_1..cmp_n) -> the row comparison's result (PostgreSQL's RowCompareExpr)."""
    inclusive = op in ("<=", ">=")

    def compare(*results: Any) -> bool | None:
        half = len(results) // 2
        for equal, ordered in zip(results[:half], results[half:], strict=True):
            if equal is None:
                return None
            if not equal:
                return ordered
        return inclusive

    return compare


def _row_is_null(negated: bool):
    def test(value: tuple | None) -> bool:
        if value is None:
            return not negated
        if negated:
            return all(v is not None for v in value)
        return all(v is None for v in value)

    return test


def _field(position: int):
    def select(value: tuple) -> Any:
        return value[position]

    return select


class RowBinding:
    """Row-valued expressions for the expression binder (qp/bind/expressions.py)."""

    def bind(self, node: dict) -> E.Expr:  # provided by the binder
        raise NotImplementedError

    def b_RowExpr(self, n: dict) -> E.Expr:
        items = [self.bind(a) for a in n.get("args", ())]
        items = [self.row_item(i) for i in items]
        return E.RowExpr(tuple(items), row_type(items))

    def row_item(self, item: E.Expr) -> E.Expr:
        raise NotImplementedError  # the binder resolves unknown literals to text

    def operator(self, name: str, left: E.Expr | None, right: E.Expr) -> E.Expr:  # provided by the binder
        raise NotImplementedError

    def row_operator(self, op: str, left: dict | None, right: dict) -> E.Expr | None:
        """`left op right` when both are row constructors, or a row and a
        subquery (None otherwise)."""
        if not is_row_node(left):
            return None
        assert left is not None
        if (
            node_kind(right) == "SubLink"
            and node_body(right).get("subLinkType", "EXPR_SUBLINK") == "EXPR_SUBLINK"
        ):
            # (a, b) = (SELECT x, y ...): PostgreSQL's ROWCOMPARE_SUBLINK.
            sublink = dict(
                node_body(right),
                subLinkType="ROWCOMPARE_SUBLINK",
                testexpr=left,
                operName=[{"String": {"sval": op}}],
            )
            return self.bind({"SubLink": sublink})
        if not is_row_node(right):
            return None
        pairs = _pairs(left, right)
        return self.compare_rows(op, [self.bind(a) for a, _ in pairs], [self.bind(b) for _, b in pairs])

    def compare_rows(self, op: str, left: list[E.Expr], right: list[E.Expr]) -> E.Expr:
        """Row `op` row over bound items, pairwise (make_row_comparison_op)."""
        if op in ("=", "<>"):
            parts = tuple(self.operator(op, a, b) for a, b in zip(left, right, strict=True))
            return parts[0] if len(parts) == 1 else E.BoolOp("and" if op == "=" else "or", parts)
        if op in _ORDERING_OPERATORS:
            equal = [self.operator("=", a, b) for a, b in zip(left, right, strict=True)]
            # Every pair but the last is compared strictly; the last with the operator itself.
            ordered = [self.operator(op[0], a, b) for a, b in zip(left[:-1], right[:-1], strict=True)]
            ordered.append(self.operator(op, left[-1], right[-1]))
            return E.Call(f"row {op}", _lexicographic(op), tuple(equal + ordered), BOOL, strict=False)
        raise SqlError("42883", f"operator {op} is not supported for row expressions")

    def compare_records(self, op: str, left: E.Expr, right: E.Expr) -> E.Expr | None:
        """record op record when both shapes are known (whole rows, row values), as
        PostgreSQL's record_eq/record_cmp: field by field in each type's order, where,
        unlike between two row constructors, NULL fields are equal to each other and
        above any value (None: not two such records)."""
        if op not in ("=", "<>", *_ORDERING_OPERATORS):
            return None
        if (
            left.type.oid != RECORD.oid
            or right.type.oid != RECORD.oid
            or not left.type.fields
            or not right.type.fields
        ):
            return None
        if len(left.type.fields) != len(right.type.fields):
            raise SqlError("42804", "cannot compare record types with different numbers of columns")
        keys = []
        for position, ((_, a), (_, b)) in enumerate(
            zip(left.type.fields, right.type.fields, strict=True), start=1
        ):
            if a.base != b.base:
                raise SqlError(
                    "42804",
                    f"cannot compare dissimilar column types {format_type(a)} and "
                    f"{format_type(b)} at record column {position}",
                )
            keys.append(sort_key(a))
        return E.Call(f"record {op}", _record_comparison(op, keys), (left, right), BOOL)

    def row_compare_sublink(self, n: dict, query: Any, correlated: bool) -> E.Expr:
        """(a, b) op (SELECT x, y ...): the subquery's one row (NULL if none) compared pairwise."""
        left = [self.bind(a) for a in _row_items(n["testexpr"])]
        columns = query.output_types()
        if len(left) != len(columns):
            raise SqlError(
                "42601",
                "subquery has too many columns"
                if len(columns) > len(left)
                else "subquery has too few columns",
            )
        names = [f"f{i + 1}" for i in range(len(columns))]
        value = E.SubLink(
            "scalar",
            query,
            record_type(list(zip(names, columns, strict=True))),
            correlated=correlated,
            row=True,
        )
        right: list[E.Expr] = [E.Call(f".f{i + 1}", _field(i), (value,), t) for i, t in enumerate(columns)]
        op = (string_list(n.get("operName")) or ["="])[-1]
        return self.compare_rows(op, left, right)

    def row_distinct(self, left: dict, right: dict, negated: bool) -> E.Expr | None:
        """Row IS [NOT] DISTINCT FROM row: pairwise."""
        if not (is_row_node(left) and is_row_node(right)):
            return None
        kind = "AEXPR_NOT_DISTINCT" if negated else "AEXPR_DISTINCT"
        parts = [_op_node("=", a, b, kind) for a, b in _pairs(left, right)]
        return self.bind(_bool_node("AND_EXPR" if negated else "OR_EXPR", parts))

    def row_in_list(self, left: dict, items: list[dict], negated: bool) -> E.Expr | None:
        """Row [NOT] IN (row, ...): the OR of row equalities (AND of row <> for NOT IN)."""
        if not is_row_node(left):
            return None
        if not all(is_row_node(i) for i in items):
            raise SqlError("0A000", "IN lists mixing rows and other values are not supported")
        op, combine = ("<>", "AND_EXPR") if negated else ("=", "OR_EXPR")
        parts = []
        for item in items:
            pairs = _pairs(left, item)
            parts.append(
                _bool_node("OR_EXPR" if negated else "AND_EXPR", [_op_node(op, a, b) for a, b in pairs])
            )
        return self.bind(_bool_node(combine, parts))

    def row_null_test(self, arg: E.Expr, negated: bool) -> E.Expr | None:
        """IS [NOT] NULL of a row: whether every field is (is not) NULL."""
        if arg.type.oid != RECORD.oid:
            return None
        if isinstance(arg, E.RowExpr) and arg.items:
            return E.BoolOp("and", tuple(E.IsNull(i, negated) for i in arg.items))
        return E.Call("row is null", _row_is_null(negated), (arg,), BOOL, strict=False)

    def row_field(self, arg: E.Expr, name: str) -> E.Expr:
        """(row).name"""
        fields = arg.type.fields if arg.type.oid == RECORD.oid else None
        if not fields:
            raise SqlError("0A000", "field selection from this value is not supported")
        for position, (field_name, field_type) in enumerate(fields):
            if field_name == name:
                if isinstance(arg, E.RowExpr):
                    return arg.items[position]
                return E.Call(f".{name}", _field(position), (arg,), field_type)
        raise SqlError("42703", f'column "{name}" not found in data type record')


def _record_comparison(op: str, keys: list):
    def key(value: tuple) -> tuple:
        return tuple(
            (1,) if x is None else (0, x if k is None else k(x)) for k, x in zip(keys, value, strict=True)
        )

    compare = {
        "=": lambda a, b: a == b,
        "<>": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }[op]
    return lambda left, right: compare(key(left), key(right))
