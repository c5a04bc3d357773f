"""Access paths: how one table's rows are read, given the conditions on it.

From the WHERE/ON conjuncts that mention only this table, choose (in order of
preference): point reads by the full primary key (several keys for an IN
list), a unique secondary index with every column bound, a primary-key range
(equality on a prefix, then a range on the next column), a secondary index
range, or a scan of the whole table. Conditions the chosen path enforces are
dropped; simple comparisons of a column with a constant or parameter are
pushed down to storage as a filter (so rows that fail them never cross the
transport); the rest stay in the QP as a residual filter.

Key values are computed when the statement runs (they may be parameters or
values of an enclosing query's row), then key-encoded in the column's type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qp.bind import expr as E
from qp.bind.index_exprs import same_shape
from qp.catalog.stored import TableDef, key_kind
from qp.exec.compile import Layout, compile_scalar, has_sublinks
from qp.exec.operators import SublinkSlots
from qp.exec.scans import IndexScan, ScanSpec, TableScan
from storage import keys

_FLIP = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_INT_FAMILY = frozenset({20, 21, 23})
_TEXT_FAMILY = frozenset({25, 1043, 19})
# Column types whose Python comparisons equal SQL's, so storage may evaluate them.
_PUSHABLE_ORDER = frozenset({16, 20, 21, 23, 26, 25, 1043, 19, 1082, 1083, 1114, 1184, 2950, 17})
_PUSHABLE_EQUALITY = _PUSHABLE_ORDER  # not numeric: PostgreSQL's NaN = NaN, Python's is not


@dataclass
class Bound:
    """One usable condition: column `position` <op> `value_expr`."""

    position: int
    op: str
    value: E.Expr
    conjunct: E.Expr


def _column_of(e: E.Expr, positions: dict[int, int]) -> int | None:
    """The table column an expression is (allowing casts within an integer or text family)."""
    if isinstance(e, E.ColumnRef):
        return positions.get(e.cid)
    if isinstance(e, E.Cast) and isinstance(e.arg, E.ColumnRef):
        src, dst = e.arg.type.oid, e.type.oid
        if (src in _INT_FAMILY and dst in _INT_FAMILY) or (src in _TEXT_FAMILY and dst in _TEXT_FAMILY):
            return positions.get(e.arg.cid)
    return None


def _independent(e: E.Expr, table_cids: set[int]) -> bool:
    for node in E.walk(e):
        if isinstance(node, E.ColumnRef) and node.cid in table_cids:
            return False
        if isinstance(node, (E.SubLink,)):
            return False
        if isinstance(node, E.Call) and node.volatility == "v":
            return False
    return True


def _comparable(column_type, value_type) -> bool:
    a, b = column_type.oid, value_type.oid
    if a in _INT_FAMILY and b in _INT_FAMILY:
        return True
    if a in _TEXT_FAMILY and b in _TEXT_FAMILY:
        return True
    return a == b


def find_bounds(table: TableDef, cids: list[int | None], conjuncts: list[E.Expr]) -> list[Bound]:
    positions = {cid: i for i, cid in enumerate(cids) if cid is not None}
    table_cids = set(positions)
    out: list[Bound] = []
    for conj in conjuncts:
        if isinstance(conj, E.Call) and conj.name in _FLIP and len(conj.args) == 2:
            left, right = conj.args
            for col_side, val_side, op in ((left, right, conj.name), (right, left, _FLIP[conj.name])):
                pos = _column_of(col_side, positions)
                if pos is None or not _independent(val_side, table_cids):
                    continue
                column_type = table.columns[pos].type
                if key_kind(column_type) is None or not _comparable(column_type, val_side.type):
                    continue
                if not _comparable(col_side.type, val_side.type):
                    continue
                out.append(Bound(pos, op, val_side, conj))
                break
        elif isinstance(conj, E.InList) and not conj.negated:
            pos = _column_of(conj.arg, positions)
            if pos is None or key_kind(table.columns[pos].type) is None:
                continue
            if all(_independent(i, table_cids) and _comparable(table.columns[pos].type, i.type) for i in conj.items):
                out.append(Bound(pos, "in", E.ArrayExpr(conj.items, conj.arg.type), conj))
    return out


@dataclass
class KeyPlan:
    """Equality values for a prefix of an index's columns, then an optional range."""

    eq: list[Bound]
    lower: Bound | None = None
    upper: Bound | None = None

    @property
    def used(self) -> list[E.Expr]:
        out = [b.conjunct for b in self.eq]
        if self.lower is not None:
            out.append(self.lower.conjunct)
        if self.upper is not None:
            out.append(self.upper.conjunct)
        return out


def match_index(columns: tuple[int, ...], bounds: list[Bound]) -> KeyPlan:
    plan = KeyPlan(eq=[])
    for position in columns:
        eq = [b for b in bounds if b.position == position and b.op == "="]
        if eq:
            plan.eq.append(eq[0])
            continue
        ins = [b for b in bounds if b.position == position and b.op == "in"]
        if ins and len(plan.eq) == len(columns) - 1:
            plan.eq.append(ins[0])
            continue
        lows = [b for b in bounds if b.position == position and b.op in (">", ">=")]
        highs = [b for b in bounds if b.position == position and b.op in ("<", "<=")]
        plan.lower = lows[0] if lows else None
        plan.upper = highs[0] if highs else None
        break
    return plan


class _KeyBuilder:
    """Turns a KeyPlan into key ranges at run time."""

    def __init__(self, prefix: bytes, encoders: list, plan: KeyPlan, layout: Layout, point: bool) -> None:
        self.prefix = prefix
        self.point = point
        self.eq_fns = [compile_scalar(b.value, layout) for b in plan.eq]
        self.eq_in = [b.op == "in" for b in plan.eq]
        self.encoders = encoders
        n = len(plan.eq)
        self.range_encoder = encoders[n] if n < len(encoders) else None
        self.lower = (compile_scalar(plan.lower.value, layout), plan.lower.op == ">=") if plan.lower else None
        self.upper = (compile_scalar(plan.upper.value, layout), plan.upper.op == "<=") if plan.upper else None

    def prefixes(self, frame) -> list[bytes]:
        prefixes = [self.prefix]
        for fn, is_in, enc in zip(self.eq_fns, self.eq_in, self.encoders, strict=False):
            value = fn((), frame)
            if value is None:
                return []
            choices = value if is_in else [value]
            choices = [c for c in choices if c is not None]
            if is_in:
                choices = list(dict.fromkeys(choices))
            prefixes = [p + enc(c) for p in prefixes for c in choices]
            if not prefixes:
                return []
        return prefixes

    def keys(self, frame) -> list[bytes]:
        return self.prefixes(frame)

    def ranges(self, frame) -> list[tuple[bytes, bytes | None]]:
        out = []
        low = high = None
        if self.lower is not None:
            value = self.lower[0]((), frame)
            if value is None:
                return []
            low = self.range_encoder(value)
            if not self.lower[1]:
                low = keys.prefix_end(low)
        if self.upper is not None:
            value = self.upper[0]((), frame)
            if value is None:
                return []
            high = self.range_encoder(value)
            if self.upper[1]:
                high = keys.prefix_end(high)
        for prefix in self.prefixes(frame):
            start = prefix + low if low is not None else prefix
            if high is not None:
                end = prefix + high
            elif low is not None:
                end = prefix + keys.NULL_KEY  # a range bound excludes NULLs, which sort last
            else:
                end = keys.prefix_end(prefix)
            if start < end:
                out.append((start, end))
        return out


def pushdown_tree(table: TableDef, cids: list[int | None], conj: E.Expr) -> Any:
    """A storage filter tree for a conjunct, or None if storage cannot evaluate it."""
    positions = {cid: i for i, cid in enumerate(cids) if cid is not None}

    def value_of(e: E.Expr) -> Any:
        if isinstance(e, E.Const):
            return ("const", e.value)
        if isinstance(e, E.Param):
            return ("param", e.index)
        return None

    def build(e: E.Expr) -> Any:
        if isinstance(e, E.Call) and e.name in _FLIP and len(e.args) == 2:
            left, right = e.args
            for col_side, val_side, op in ((left, right, e.name), (right, left, _FLIP[e.name])):
                if not isinstance(col_side, E.ColumnRef) or col_side.cid not in positions:
                    continue
                if table.columns[positions[col_side.cid]].missing is not None:
                    return None  # storage would read NULL where old rows hold the missing value
                oid = col_side.type.oid
                allowed = _PUSHABLE_EQUALITY if op == "=" else _PUSHABLE_ORDER
                if oid not in allowed or val_side.type.oid != oid:
                    continue
                value = value_of(val_side)
                if value is None:
                    continue
                operand = value[1] if value[0] == "const" else ("$param", value[1])
                if value[0] == "const" and operand is None:
                    return ("and", ("null", positions[col_side.cid]), ("notnull", positions[col_side.cid]))
                return ("cmp", "=" if op == "=" else op, positions[col_side.cid], operand)
            return None
        if (isinstance(e, E.IsNull) and isinstance(e.arg, E.ColumnRef) and e.arg.cid in positions
                and table.columns[positions[e.arg.cid]].missing is None):  # fmt: skip
            return ("notnull" if e.negated else "null", positions[e.arg.cid])
        if isinstance(e, E.BoolOp):
            parts = [build(a) for a in e.args]
            if any(p is None for p in parts):
                return None
            return (e.op, *parts)
        if isinstance(e, E.Not):
            inner = build(e.arg)
            return None if inner is None else ("not", inner)
        return None

    return build(conj)


def plan_table(
    table: TableDef,
    cids: list[int | None],
    conjuncts: list[E.Expr],
    needed: set[int],
    *,
    for_update: bool,
    outer_positions: dict[int, int] | None,
    with_key: bool = False,
    all_columns: bool = False,
    index_exprs: dict | None = None,
):
    """The operator that reads `table` under `conjuncts`, and the conjuncts it left
    for the caller (those with subqueries, which need a per-row filter above).

    `needed` is what the rest of the query reads of this table (not counting
    `conjuncts`); the operator outputs those columns plus what its own
    residual filter reads, so columns used only to find rows are not fetched.
    """

    later = [c for c in conjuncts if has_sublinks([c])]
    conjuncts = [c for c in conjuncts if not has_sublinks([c])]
    empty_layout = Layout([], outer_positions)
    bounds = find_bounds(table, cids, conjuncts)
    remaining = list(conjuncts)
    dependent = any(not isinstance(b.value, E.Const) for b in bounds)

    def columns(residual: E.Expr | None) -> tuple[tuple[int, ...], list[int]]:
        if all_columns:
            wanted = {c for c in cids if c is not None}
        else:
            wanted = set(needed)
            for extra in ([residual] if residual is not None else []) + later:
                wanted |= {n.cid for n in E.walk(extra) if isinstance(n, E.ColumnRef)}
                wanted |= {c for n in E.walk(extra) if isinstance(n, E.SubLink) for c in n.query.outer_refs}
        projection = tuple(i for i, cid in enumerate(cids) if cid is not None and cid in wanted)
        out_cids = [cids[i] for i in projection]
        if with_key:
            out_cids.append(-table.oid)  # the row key travels as a pseudo-column
        return projection, out_cids

    def scan(spec: ScanSpec, rest: list[E.Expr], access: str, is_dependent: bool) -> TableScan:
        residual = E.and_all(rest)
        projection, out_cids = columns(residual)
        return TableScan(table, projection, out_cids, spec, residual, with_key=with_key, lock=for_update,
                         sublinks=SublinkSlots([]), outer_positions=outer_positions, access=access,
                         dependent=is_dependent)

    # 1. The primary key, fully bound: point reads.
    if table.pk is not None:
        plan = match_index(table.pk, bounds)
        if len(plan.eq) == len(table.pk) and all(b.op in ("=", "in") for b in plan.eq):
            builder = _KeyBuilder(table.primary_prefix, list(table.pk_encoders), plan, empty_layout, True)
            for used in plan.used:
                remaining.remove(used)
            spec, rest = _with_pushdown(table, cids, remaining, ScanSpec(keys_fn=builder.keys))
            return scan(spec, rest, "Point Get", True), later
    # 2. A unique secondary index fully bound, or the best index by bound columns.
    best_index = None
    for index in table.secondary_indexes:
        if index.state != "public":
            continue
        if index.plain:
            plan = match_index(index.columns, bounds)
        else:
            plan = match_special_index(index, (index_exprs or {}).get(index.oid), table, cids, conjuncts, bounds)
            if plan is None:
                continue
        if not plan.eq and plan.lower is None and plan.upper is None:
            continue
        score = (index.unique and len(plan.eq) == len(index.columns), len(plan.eq),
                 plan.lower is not None or plan.upper is not None)
        if best_index is None or score > best_index[2]:
            best_index = (index, plan, score)
    pk_plan = match_index(table.pk, bounds) if table.pk is not None else KeyPlan(eq=[])
    pk_score = (False, len(pk_plan.eq), pk_plan.lower is not None or pk_plan.upper is not None)
    if best_index is not None and (best_index[2][0] or best_index[2] > pk_score):
        index, plan, _ = best_index
        builder = _KeyBuilder(table.index_prefix(index), list(table.index_encoders(index)), plan, empty_layout, False)
        for used in plan.used:
            remaining.remove(used)
        residual = E.and_all(remaining)
        projection, out_cids = columns(residual)
        return IndexScan(table, index, projection, out_cids, builder.ranges, residual, with_key=with_key,
                         lock=for_update, outer_positions=outer_positions), later
    # 3. A primary-key range.
    if pk_plan.eq or pk_plan.lower is not None or pk_plan.upper is not None:
        builder = _KeyBuilder(table.primary_prefix, list(table.pk_encoders), pk_plan, empty_layout, False)
        for used in pk_plan.used:
            remaining.remove(used)
        spec, rest = _with_pushdown(table, cids, remaining, ScanSpec(range_fn=builder.ranges))
        return scan(spec, rest, "Range Scan", dependent), later
    # 4. Everything.
    spec, rest = _with_pushdown(table, cids, remaining, ScanSpec(ranges=[(table.primary_prefix, table.primary_end)]))
    uses_params = spec.filter_template is not None and "$param" in repr(spec.filter_template)
    return scan(spec, rest, "Full Scan", uses_params), later


def _with_pushdown(table: TableDef, cids, conjuncts: list[E.Expr], spec: ScanSpec):
    trees, rest = [], []
    for conj in conjuncts:
        tree = pushdown_tree(table, cids, conj)
        if tree is None:
            rest.append(conj)
        else:
            trees.append(tree)
    if trees:
        spec.filter_template = trees[0] if len(trees) == 1 else ("and", *trees)
    return spec, rest


def match_special_index(index, bound, table: TableDef, cids, conjuncts: list[E.Expr],
                        bounds: list[Bound]) -> KeyPlan | None:  # fmt: skip
    """How a partial or expression index serves `conjuncts`, or None if it cannot.

    A partial index holds only the rows its predicate accepts, so it is usable
    only when every conjunct of the predicate is one of the query's conjuncts
    (the simple case of "the WHERE implies the predicate"). An expression key
    is bound by a comparison of the same expression with a value.
    """
    if bound is None:
        return None
    if bound.predicate is not None and not all(
        any(same_shape(part, conj) for conj in conjuncts) for part in bound.predicate
    ):
        return None
    table_cids = {cid for cid in cids if cid is not None}
    key_positions = []
    key_bounds = list(bounds)
    for k, position in enumerate(index.columns):
        key = bound.keys[k] if k < len(bound.keys) else None
        if key is None:
            key_positions.append(position)
            continue
        synthetic = -1000 - k  # never a column position
        key_positions.append(synthetic)
        for conj in conjuncts:
            if not (isinstance(conj, E.Call) and conj.name in _FLIP and len(conj.args) == 2):
                continue
            left, right = conj.args
            for side, value, op in ((left, right, conj.name), (right, left, _FLIP[conj.name])):
                if same_shape(side, key) and _independent(value, table_cids) and _comparable(key.type, value.type):
                    key_bounds.append(Bound(synthetic, op, value, conj))
                    break
    return match_index(tuple(key_positions), key_bounds)
