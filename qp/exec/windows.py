"""Window functions: the WindowAgg operator and the functions it computes.

Each window call has a partition (PARTITION BY), an order (ORDER BY) and a
frame. The operator reads all its input (windows need whole partitions),
evaluates the partition and order keys and the arguments of every call once
per row, and for each call sorts the rows of each partition and computes one
value per row, appended to the row. Rows keep their input order; the query's
own ORDER BY sorts them afterwards.

Frames: ROWS and RANGE with UNBOUNDED PRECEDING / n PRECEDING / CURRENT ROW /
n FOLLOWING / UNBOUNDED FOLLOWING (RANGE only with UNBOUNDED and CURRENT ROW;
offsets in RANGE mode, GROUPS and EXCLUDE raise 0A000). Peers (rows with equal
ORDER BY keys) share the value of RANGE frames, as in PostgreSQL. Aggregates
over frames that only grow (the default with ORDER BY, and whole partitions)
are computed incrementally; other frames are recomputed per row.

Every loop over a partition's rows gives the scheduler a turn every
`_SLICE_ROWS` rows (cluster/timeslice.py): a window over millions of rows
must not hold the thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from cluster.timeslice import checkpoint_if_due
from qp.bind import expr as E
from qp.errors import SqlError
from qp.exec.compile import Layout, compile_row
from qp.exec.operators import BATCH_ROWS, Operator, collect
from qp.exec.runtime import RunContext
from qp.exec.sort import sort_rows_async
from qp.types import group_key, sort_key

# frameOptions bits (PostgreSQL's parsenodes.h)
FRAME_RANGE = 0x2
FRAME_ROWS = 0x4
FRAME_GROUPS = 0x8
START_UNBOUNDED_PRECEDING = 0x20
START_UNBOUNDED_FOLLOWING = 0x80
END_UNBOUNDED_PRECEDING = 0x40
END_UNBOUNDED_FOLLOWING = 0x100
START_CURRENT_ROW = 0x200
END_CURRENT_ROW = 0x400
START_OFFSET_PRECEDING = 0x800
END_OFFSET_PRECEDING = 0x1000
START_OFFSET_FOLLOWING = 0x2000
END_OFFSET_FOLLOWING = 0x4000
EXCLUDE_ANY = 0x8000 | 0x10000 | 0x20000
DEFAULT_FRAME = FRAME_RANGE | START_UNBOUNDED_PRECEDING | END_CURRENT_ROW

# Aggregates whose final() may be read and then stepped again (running frames).
_INCREMENTAL = {"count", "sum", "avg", "min", "max", "bool_and", "bool_or", "every", "bit_and", "bit_or", "bit_xor",
                "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop"}

RANKING = {"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile"}
VALUE = {"lag", "lead", "first_value", "last_value", "nth_value"}
WINDOW_ONLY = RANKING | VALUE

_SLICE_ROWS = 1024  # rows between checkpoint_if_due() calls in the loops below


@dataclass
class Frame:
    options: int
    start_offset: E.Expr | None = None
    end_offset: E.Expr | None = None

    @property
    def rows(self) -> bool:
        return bool(self.options & FRAME_ROWS)


def check_frame(frame: Frame) -> None:
    options = frame.options
    if options & FRAME_GROUPS:
        raise SqlError("0A000", "GROUPS frames are not supported")
    if options & EXCLUDE_ANY:
        raise SqlError("0A000", "frame EXCLUDE options are not supported")
    if options & FRAME_RANGE and options & (START_OFFSET_PRECEDING | START_OFFSET_FOLLOWING | END_OFFSET_PRECEDING
                                            | END_OFFSET_FOLLOWING):
        raise SqlError("0A000", "RANGE frames with offsets are not supported (use ROWS)")
    if options & START_UNBOUNDED_FOLLOWING:
        raise SqlError("42P20", "frame start cannot be UNBOUNDED FOLLOWING")
    if options & END_UNBOUNDED_PRECEDING:
        raise SqlError("42P20", "frame end cannot be UNBOUNDED PRECEDING")


class WindowAgg(Operator):
    """Input rows, each followed by the value of every window call."""

    def __init__(self, child: Operator, calls: list, outer_positions=None) -> None:
        self.child = child
        self.calls = calls
        self.cids = child.cids + [c.cid for c in calls]
        layout = Layout(child.cids, outer_positions)
        self._plans = []
        for call in calls:
            exprs = [*call.partition, *[o[0] for o in call.order], *call.args]
            if call.filter is not None:
                exprs.append(call.filter)
            offsets = [e for e in (call.frame.start_offset, call.frame.end_offset) if e is not None]

            self._plans.append((
                compile_row(exprs, layout),
                compile_row(offsets, Layout([], outer_positions)) if offsets else None,
                [group_key(p.type) for p in call.partition],
                [(len(call.partition) + i, sort_key(o[0].type), o[1], o[2]) for i, o in enumerate(call.order)],
                [group_key(o[0].type) for o in call.order],
            ))

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        rows = await collect(self.child, rc)
        columns = [await self._compute(call, plan, rows, rc)
                   for call, plan in zip(self.calls, self._plans, strict=True)]
        for i in range(0, len(rows), BATCH_ROWS):
            await checkpoint_if_due()
            yield [row + tuple(col[j] for col in columns) for j, row in enumerate(rows[i : i + BATCH_ROWS], i)]

    async def _compute(self, call, plan, rows: list[tuple], rc: RunContext) -> list:
        values_fn, offsets_fn, partition_keys, order_keys, peer_keys = plan
        frame = rc.frame
        nparts = len(call.partition)
        norder = len(call.order)
        evaluated = []
        for i in range(0, len(rows), _SLICE_ROWS):
            await checkpoint_if_due()
            evaluated += [values_fn(row, frame) for row in rows[i : i + _SLICE_ROWS]]
        partitions: dict[tuple, list[int]] = {}
        for i, values in enumerate(evaluated):
            if not i % _SLICE_ROWS:
                await checkpoint_if_due()
            key = tuple(
                fn(v) if fn is not None and v is not None else v
                for fn, v in zip(partition_keys, values[:nparts], strict=True)
            )
            partitions.setdefault(key, []).append(i)
        offsets = list(offsets_fn((), frame)) if offsets_fn is not None else []
        for value in offsets:
            if value is None:
                raise SqlError("22004", "frame starting offset must not be null")
            if value < 0:
                raise SqlError("22013", "frame starting offset must not be negative")
        result: list[Any] = [None] * len(rows)
        args_at = nparts + norder
        for members in partitions.values():
            ordered = [(evaluated[i], i) for i in members]
            await checkpoint_if_due()
            if order_keys:
                keyed = [(*vals, i) for vals, i in ordered]
                await sort_rows_async(keyed, order_keys)
                ordered = [(tuple(k[:-1]), k[-1]) for k in keyed]
            peers = await _peer_groups([vals[nparts:args_at] for vals, _ in ordered], peer_keys)
            args = [vals[args_at:] for vals, _ in ordered]
            values = await _window_values(call, args, peers, offsets)
            for (_, index), value in zip(ordered, values, strict=True):
                result[index] = value
        return result

    def title(self) -> str:
        return "WindowAgg"

    def details(self) -> list[str]:
        return [f"Window Functions: {', '.join(c.name for c in self.calls)}"]

    def children(self) -> list[Operator]:
        return [self.child]


async def _peer_groups(order_values: list[tuple], key_fns: list) -> list[tuple[int, int]]:
    """For each row (in window order), the first and last index of its peers."""
    n = len(order_values)
    if not key_fns:
        return [(0, n - 1)] * n
    normalized = [
        tuple(fn(v) if fn is not None and v is not None else v for fn, v in zip(key_fns, vals, strict=True))
        for vals in order_values
    ]
    out: list[tuple[int, int]] = [(0, 0)] * n
    start = 0
    for i in range(1, n + 1):
        if not i % _SLICE_ROWS:
            await checkpoint_if_due()
        if i == n or normalized[i] != normalized[start]:
            for j in range(start, i):
                out[j] = (start, i - 1)
            start = i
    return out


def _frame_bounds(call, i: int, n: int, peers: list[tuple[int, int]], offsets: list) -> tuple[int, int]:
    options = call.frame.options
    rows_mode = bool(options & FRAME_ROWS)
    it = iter(offsets)
    start_n = next(it) if options & (START_OFFSET_PRECEDING | START_OFFSET_FOLLOWING) else 0
    end_n = next(it) if options & (END_OFFSET_PRECEDING | END_OFFSET_FOLLOWING) else 0
    if options & START_UNBOUNDED_PRECEDING:
        lo = 0
    elif options & START_CURRENT_ROW:
        lo = i if rows_mode else peers[i][0]
    elif options & START_OFFSET_PRECEDING:
        lo = i - start_n
    else:  # START_OFFSET_FOLLOWING
        lo = i + start_n
    if options & END_UNBOUNDED_FOLLOWING:
        hi = n - 1
    elif options & END_OFFSET_FOLLOWING:
        hi = i + end_n
    elif options & END_OFFSET_PRECEDING:
        hi = i - end_n
    else:  # END_CURRENT_ROW (also the default)
        hi = i if rows_mode else peers[i][1]
    return max(lo, 0), min(hi, n - 1)


async def _window_values(call, args: list[tuple], peers: list[tuple[int, int]], offsets: list) -> list:
    n = len(args)
    name = call.name
    if name == "row_number":
        return list(range(1, n + 1))
    if name == "rank":
        return [peers[i][0] + 1 for i in range(n)]
    if name == "dense_rank":
        out, rank, last = [], 0, None
        for i in range(n):
            if peers[i][0] != last:
                rank += 1
                last = peers[i][0]
            out.append(rank)
        return out
    if name == "percent_rank":
        return [0.0 if n == 1 else peers[i][0] / (n - 1) for i in range(n)]
    if name == "cume_dist":
        return [(peers[i][1] + 1) / n for i in range(n)]
    if name == "ntile":
        buckets = args[0][0] if n else None
        if buckets is None:
            return [None] * n
        if buckets <= 0:
            raise SqlError("22014", "argument of ntile must be greater than zero")
        out = []
        per, extra = divmod(n, buckets) if buckets <= n else (1, 0)
        bucket, left = 1, per + (1 if extra else 0)
        for _ in range(n):
            out.append(bucket)
            left -= 1
            if left == 0:
                bucket += 1
                left = per + (1 if bucket <= extra else 0)
        return out
    if name in ("lag", "lead"):
        out = []
        for i in range(n):
            a = args[i]
            offset = a[1] if len(a) > 1 else 1
            if offset is None:
                out.append(None)
                continue
            j = i - offset if name == "lag" else i + offset
            if 0 <= j < n:
                out.append(args[j][0])
            else:
                out.append(a[2] if len(a) > 2 else None)
        return out
    if name in ("first_value", "last_value", "nth_value"):
        out = []
        for i in range(n):
            if not i % _SLICE_ROWS:
                await checkpoint_if_due()
            lo, hi = _frame_bounds(call, i, n, peers, offsets)
            if lo > hi:
                out.append(None)
            elif name == "first_value":
                out.append(args[lo][0])
            elif name == "last_value":
                out.append(args[hi][0])
            else:
                k = args[i][1]
                if k is None:
                    out.append(None)
                    continue
                if k <= 0:
                    raise SqlError("22016", "argument of nth_value must be greater than zero")
                out.append(args[lo + k - 1][0] if lo + k - 1 <= hi else None)
        return out
    return await _aggregate_values(call, args, peers, offsets)


async def _aggregate_values(call, args: list[tuple], peers: list[tuple[int, int]], offsets: list) -> list:
    n = len(args)
    resolved = call.resolved
    strict = getattr(resolved, "strict", True)
    has_filter = call.filter is not None

    def feed(acc, a: tuple) -> None:
        if has_filter:
            if a[-1] is not True:
                return
            a = a[:-1]
        if not call.star and strict and None in a:
            return
        acc.step(*a)

    bounds = [_frame_bounds(call, i, n, peers, offsets) for i in range(n)]
    if call.distinct:
        raise SqlError("0A000", "DISTINCT is not implemented for window functions")
    if all(lo == 0 for lo, _ in bounds) and call.name in _INCREMENTAL:
        # Frames that only grow: step through the rows once.
        acc = resolved.make()
        out, fed = [], 0
        for i, (_, hi) in enumerate(bounds):
            if not i % _SLICE_ROWS:
                await checkpoint_if_due()
            while fed <= hi:
                feed(acc, args[fed])
                fed += 1
            out.append(acc.final())
        return out
    out = []
    cache: dict[tuple[int, int], Any] = {}
    fed = 0
    for lo, hi in bounds:
        if (lo, hi) not in cache:
            acc = resolved.make()
            for j in range(lo, hi + 1):
                feed(acc, args[j])
            fed += hi - lo + 1
            if fed >= _SLICE_ROWS:  # sliding frames cost O(rows × frame): count rows fed
                fed = 0
                await checkpoint_if_due()
            cache[(lo, hi)] = acc.final()
        out.append(cache[(lo, hi)])
    return out
