"""Cardinality estimates: how many rows a scan, a filter or a join yields.

The join orderer (joins.py) compares orders by these numbers and EXPLAIN
prints them as `rows=N`. The rules are PostgreSQL's, simplified to what
dsql's statistics hold (row counts, null fractions, distinct values):

- `col = constant`: (1 - null_frac) / n_distinct;
- `a.x = b.y` across relations: 1 / max(n_distinct(a.x), n_distinct(b.y)),
  each count clamped to its relation's estimated rows (eqjoinsel without
  most-common values);
- `<`, `<=`, `>`, `>=` against a constant: the histogram's fraction (ANALYZE's
  100 buckets, interpolated), a lower and an upper bound on one column
  combined as one range; 1/3 (DEFAULT_INEQ_SEL) without a histogram;
  `<>`: 1 minus equality;
  `IN (…)`: the sum of its equalities; `IS NULL`: null_frac;
  LIKE and other matches 0.005 (DEFAULT_MATCH_SEL); anything else 1/3;
- AND multiplies, OR adds minus the product, NOT complements.

Costs count rows touched, in the units a Python operator pays per row: a
hash join reads both sides and emits its output, a nested loop pays for
every pair it tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qp.bind import expr as E
from qp.plan.stats import DEFAULT_NUM_DISTINCT, DEFAULT_TABLE_ROWS, ColumnStats, StatsCache

DEFAULT_EQ_SEL = 0.005  # PostgreSQL's DEFAULT_EQ_SEL
DEFAULT_INEQ_SEL = 1.0 / 3.0  # DEFAULT_INEQ_SEL
DEFAULT_MATCH_SEL = 0.005  # DEFAULT_MATCH_SEL (LIKE, regular expressions)
DEFAULT_OTHER_ROWS = 1000.0  # a function or subquery in FROM (PostgreSQL assumes 1,000 rows of a function)

_INEQUALITIES = frozenset({"<", "<=", ">", ">="})
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
DEFAULT_RANGE_INEQ_SEL = 0.005  # PostgreSQL's DEFAULT_RANGE_INEQ_SEL
RANGE_SEL_MIN = 1e-4  # an empty-looking range still keeps a few rows' worth
_MATCHES = frozenset({"~~", "!~~", "~~*", "!~~*", "~", "!~", "~*", "!~*"})


@dataclass
class ColumnInfo:
    """What the estimates know of one column: its relation's rows and its statistics."""

    relation: int  # which relation (leaf) it belongs to
    n_distinct: float
    null_frac: float
    stats: ColumnStats | None = None  # what ANALYZE found (its histogram), if anything


def table_rows(table: Any, stats: StatsCache) -> float:
    found = stats.get(table.oid)
    return max(found.reltuples, 1.0) if found is not None else DEFAULT_TABLE_ROWS


def table_columns(
    table: Any, cids: list[int | None], relation: int, stats: StatsCache
) -> dict[int, ColumnInfo]:
    """Statistics of a table's columns by column identity."""
    found = stats.get(table.oid)
    rows = table_rows(table, stats)
    unique = {
        index.columns[0]
        for index in table.indexes
        if getattr(index, "unique", False) and len(index.columns) == 1
    }
    if table.pk is not None and len(table.pk) == 1:
        unique.add(table.pk[0])
    out: dict[int, ColumnInfo] = {}
    for position, cid in enumerate(cids):
        if cid is None or position >= len(table.columns):
            continue
        column = found.columns.get(table.columns[position].name) if found is not None else None
        if column is not None:
            out[cid] = ColumnInfo(relation, max(column.distinct_count(rows), 1.0), column.null_frac, column)
        elif position in unique:
            out[cid] = ColumnInfo(relation, rows, 0.0)
        else:
            out[cid] = ColumnInfo(relation, min(DEFAULT_NUM_DISTINCT, rows), 0.0)
    return out


def scan_rows(table: Any, cids: list[int | None], conjuncts: list[E.Expr], stats: StatsCache) -> float:
    """Rows of `table` that pass `conjuncts` (its own filters)."""
    columns = table_columns(table, cids, 0, stats)
    return max(table_rows(table, stats) * conjunction_selectivity(conjuncts, columns), 1.0)


def conjunction_selectivity(
    conjuncts: list[E.Expr], columns: dict[int, ColumnInfo], rows_of: dict[int, float] | None = None
) -> float:
    """The fraction of rows for which every conjunct is true.

    Independent conjuncts multiply; a lower and an upper bound on one column
    (`x > a AND x < b`, BETWEEN) are one range, hi + lo - 1 of it, as
    PostgreSQL's clauselist_selectivity combines them (DEFAULT_RANGE_INEQ_SEL
    when either side has no histogram to go by).
    """
    out = 1.0
    ranges: dict[int, dict[bool, float | None]] = {}  # cid -> {is upper bound: fraction inside}
    for c in conjuncts:
        bound = _range_bound(c, columns)
        if bound is None:
            out *= selectivity(c, columns, rows_of)
            continue
        cid, is_upper, fraction = bound
        sides = ranges.setdefault(cid, {})
        if is_upper in sides:  # two bounds on one side: the tighter one
            earlier = sides[is_upper]
            sides[is_upper] = None if earlier is None or fraction is None else min(earlier, fraction)
        else:
            sides[is_upper] = fraction
    for cid, sides in ranges.items():
        null_frac = columns[cid].null_frac
        if len(sides) == 1:
            (one,) = sides.values()
            out *= DEFAULT_INEQ_SEL if one is None else one * (1.0 - null_frac)
            continue
        lower, upper = sides[False], sides[True]
        if lower is None or upper is None:
            out *= DEFAULT_RANGE_INEQ_SEL
        else:
            out *= max(lower + upper - 1.0, RANGE_SEL_MIN) * (1.0 - null_frac)
    return out


def _range_bound(c: E.Expr, columns: dict[int, ColumnInfo]) -> tuple[int, bool, float | None] | None:
    """For `column <op> constant`: the column, whether it bounds from above, and the
    fraction of non-null values inside the bound (None: no histogram to tell)."""
    if not (isinstance(c, E.Call) and c.name in _INEQUALITIES and len(c.args) == 2):
        return None
    op = c.name
    column, value = c.args
    if not isinstance(column, E.ColumnRef):
        column, value, op = value, column, _FLIPPED[op]
    if not isinstance(column, E.ColumnRef) or column.cid not in columns or not isinstance(value, E.Const):
        return None
    if value.value is None:
        return None
    stats = columns[column.cid].stats
    below = stats.fraction_below(value.value, inclusive=op in ("<=", ">")) if stats is not None else None
    if op in ("<", "<="):
        return column.cid, True, below
    return column.cid, False, None if below is None else 1.0 - below


def _column(e: E.Expr, columns: dict[int, ColumnInfo]) -> ColumnInfo | None:
    while isinstance(e, E.Cast):
        e = e.arg
    if isinstance(e, E.ColumnRef):
        return columns.get(e.cid)
    return None


def _free_of_columns(e: E.Expr, columns: dict[int, ColumnInfo]) -> bool:
    return not any(isinstance(n, E.ColumnRef) and n.cid in columns for n in E.walk(e))


def _equality(a: E.Expr, b: E.Expr, columns: dict[int, ColumnInfo], rows_of: dict[int, float]) -> float:
    ca, cb = _column(a, columns), _column(b, columns)
    if ca is not None and cb is not None and ca.relation != cb.relation:
        nd_a = min(ca.n_distinct, rows_of.get(ca.relation, ca.n_distinct))
        nd_b = min(cb.n_distinct, rows_of.get(cb.relation, cb.n_distinct))
        return (1.0 - ca.null_frac) * (1.0 - cb.null_frac) / max(nd_a, nd_b, 1.0)
    for col, other in ((ca, b), (cb, a)):
        if col is not None and _free_of_columns(other, columns):
            return (1.0 - col.null_frac) / max(col.n_distinct, 1.0)
    return DEFAULT_EQ_SEL


def selectivity(e: E.Expr, columns: dict[int, ColumnInfo], rows_of: dict[int, float] | None = None) -> float:
    """The fraction of rows for which `e` is true."""
    rows_of = rows_of or {}
    if isinstance(e, E.Const):
        return 1.0 if e.value is True else 0.0
    if isinstance(e, E.BoolOp):
        if e.op == "and":
            return conjunction_selectivity(list(e.args), columns, rows_of)
        parts = [selectivity(a, columns, rows_of) for a in e.args]
        out = 0.0
        for s in parts:
            out = out + s - out * s
        return out
    if isinstance(e, E.Not):
        return 1.0 - selectivity(e.arg, columns, rows_of)
    if isinstance(e, E.IsNull):
        col = _column(e.arg, columns)
        frac = col.null_frac if col is not None else DEFAULT_EQ_SEL
        return 1.0 - frac if e.negated else frac
    if isinstance(e, E.InList):
        col = _column(e.arg, columns)
        one = (1.0 - col.null_frac) / max(col.n_distinct, 1.0) if col is not None else DEFAULT_EQ_SEL
        s = min(1.0, one * len(e.items))
        return 1.0 - s if e.negated else s
    if isinstance(e, E.Call) and len(e.args) == 2:
        if e.name == "=":
            return _equality(e.args[0], e.args[1], columns, rows_of)
        if e.name == "<>":
            return 1.0 - _equality(e.args[0], e.args[1], columns, rows_of)
        if e.name in _INEQUALITIES:
            if _range_bound(e, columns) is None:
                return DEFAULT_INEQ_SEL
            return conjunction_selectivity([e], columns, rows_of)
        if e.name in _MATCHES:
            return DEFAULT_MATCH_SEL
    return DEFAULT_INEQ_SEL


def estimate_operator(op: Any) -> float:
    """Rows an operator is expected to yield, from what its planner recorded.

    The join orderer and the table planner record `plan_rows` on what they
    build; operators above them (filters, aggregates, limits) are estimated
    from their inputs here, so EXPLAIN can show a figure on every line.
    """
    known = getattr(op, "plan_rows", None)
    if known is not None:
        return known
    name = type(op).__name__
    children = op.children()
    if name in ("OneRow", "ValuesOp"):
        rows = float(len(getattr(op, "rows", [()]) or [()]))
    elif name == "Empty":
        rows = 0.0
    elif name in ("TableScan", "IndexScan"):
        rows = DEFAULT_TABLE_ROWS
    elif name in ("HashJoin", "NestedLoopJoin", "LateralJoin", "IndexNestedLoopJoin"):
        left, right = (estimate_operator(c) for c in children[:2])
        rows = max(left, right)
    elif name == "FilterProject":
        rows = estimate_operator(children[0]) * (DEFAULT_INEQ_SEL if op.predicate_expr is not None else 1.0)
    elif name == "HashAggregate":
        rows = 1.0 if not op._group_fns else min(estimate_operator(children[0]), DEFAULT_NUM_DISTINCT)
    elif name == "Distinct":
        rows = min(estimate_operator(children[0]), DEFAULT_NUM_DISTINCT)
    elif children:
        rows = sum(estimate_operator(c) for c in children)
    else:
        rows = DEFAULT_OTHER_ROWS
    op.plan_rows = max(1.0, rows) if name != "Empty" else 0.0
    return op.plan_rows
