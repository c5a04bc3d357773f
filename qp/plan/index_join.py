"""When a join can look its inner side up by key: the planning half of the
batched index nested-loop join (the operator is qp/exec/index_join.py).

An inner table qualifies when the join's equality predicates bind a prefix of
its primary key or of a public secondary index to expressions of the outer
side alone, with key types that encode alike on both sides (integers with
integers, otherwise the same type among those whose key encoding is SQL's
equality: text, bool, dates and times, uuid, bytea; floats and numeric are
left to hash joins, since 0 = -0 and 1.0 = 1.00 encode differently). The
longest bound prefix wins, a full primary key (point reads) first. Locking
reads (FOR UPDATE) and UPDATE … FROM targets keep their scans.
"""

from __future__ import annotations

from typing import Any

from qp.bind import expr as E
from qp.bind.query import FromTable
from qp.catalog.stored import IndexState
from qp.exec.compile import has_sublinks
from qp.exec.explain import expr_text
from qp.exec.index_join import IndexNestedLoopJoin
from qp.exec.operators import Operator

_INT_FAMILY = frozenset({20, 21, 23})
_EXACT_KEY_TYPES = frozenset({16, 25, 1043, 19, 1082, 1083, 1114, 1184, 2950, 17})


def _indexable(oid: int) -> bool:
    return oid in _INT_FAMILY or oid in _EXACT_KEY_TYPES


def _key_compatible(column_oid: int, value_oid: int) -> bool:
    if column_oid in _INT_FAMILY:
        return value_oid in _INT_FAMILY
    return column_oid == value_oid and column_oid in _EXACT_KEY_TYPES


def _volatile(e: E.Expr) -> bool:
    return any(
        isinstance(n, E.AsyncCall) or (isinstance(n, E.Call) and n.volatility == "v") for n in E.walk(e)
    )


def _access_paths(table: Any) -> list[tuple[Any, tuple[int, ...]]]:
    """(index or None for the primary key, its columns), the primary key first."""
    paths: list[tuple[Any, tuple[int, ...]]] = []
    if table.pk is not None:
        paths.append((None, tuple(table.pk)))
    # Partial and expression indexes do not hold every row by its columns' values.
    paths += [
        (ix, tuple(ix.columns)) for ix in table.secondary_indexes if ix.state == IndexState.PUBLIC and ix.plain
    ]
    return paths


def lookup_columns(tree: Any) -> dict[int, bool]:
    """The columns of a FROM table an index join could bind first, each with
    whether binding it alone makes a point read (a one-column primary key)
    rather than a range scan per key (for the orderer's costs)."""
    if not isinstance(tree, FromTable) or tree.for_update or tree.with_key:
        return {}
    out: dict[int, bool] = {}
    for index, columns in _access_paths(tree.table):
        cid = tree.cids[columns[0]] if columns[0] < len(tree.cids) else None
        if cid is not None and _indexable(tree.table.columns[columns[0]].type.oid):
            out[cid] = out.get(cid, False) or (index is None and len(columns) == 1)
    return out


def plan_index_join(
    outer: Operator,
    tree: FromTable,
    local: list[E.Expr],
    conds: list[E.Expr],
    outer_positions: dict[int, int],
    keep: set[int] | None = None,
) -> Operator | None:
    """A batched index nested-loop join of `outer` with the table `tree`, or None. Of the
    inner table's columns it gives those in `keep` (None: every referenced one) and those
    its residual filter reads."""
    if tree.for_update or tree.with_key or has_sublinks(local + conds):
        return None
    table = tree.table
    positions = {cid: i for i, cid in enumerate(tree.cids) if cid is not None}
    outer_cids = set(outer.cids)
    bound: dict[int, tuple[E.Expr, E.Expr]] = {}  # column position -> (value from the outer side, conjunct)
    for c in conds:
        if not (isinstance(c, E.Call) and c.name == "=" and len(c.args) == 2) or _volatile(c):
            continue
        for column, value in ((c.args[0], c.args[1]), (c.args[1], c.args[0])):
            if not isinstance(column, E.ColumnRef) or column.cid not in positions:
                continue
            reads = E.column_refs(value)
            if not reads or not reads <= outer_cids:
                continue
            position = positions[column.cid]
            if _key_compatible(table.columns[position].type.oid, value.type.oid) and position not in bound:
                bound[position] = (value, c)
            break
    best = None
    for index, columns in _access_paths(table):
        prefix = 0
        while prefix < len(columns) and columns[prefix] in bound:
            prefix += 1
        if prefix == 0:
            continue
        score = (index is None and prefix == len(columns), prefix)
        if best is None or score > best[0]:
            best = (score, index, columns[:prefix])
    if best is None:
        return None
    _, index, used = best
    key_exprs = [bound[p][0] for p in used]
    used_conjuncts = [bound[p][1] for p in used]
    residual = E.and_all(local + [c for c in conds if not any(c is u for u in used_conjuncts)])
    wanted = None if keep is None else keep | (E.column_refs(residual) if residual is not None else set())
    projection = tuple(
        i for i, cid in enumerate(tree.cids) if cid is not None and (wanted is None or cid in wanted)
    )
    inner_cids = [tree.cids[i] for i in projection]
    return IndexNestedLoopJoin(
        outer,
        table,
        index,
        key_exprs,
        projection,
        inner_cids,
        residual,
        outer_positions,
        [expr_text(e) for e in key_exprs],
    )
