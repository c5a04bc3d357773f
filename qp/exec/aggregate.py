"""GROUP BY and aggregates: one hash table of groups, filled a batch at a time
(GROUPING SETS reuse it: qp/exec/grouping_sets.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from cluster.timeslice import checkpoint_if_due
from qp.bind import expr as E
from qp.exec.compile import (
    Layout,
    compile_batch,
    compile_row,
)
from qp.exec.operators import BATCH_ROWS, Operator, SublinkSlots
from qp.exec.runtime import RunContext
from qp.exec.sort import sort_rows_async
from qp.types import group_key, sort_key


class HashAggregate(Operator):
    """GROUP BY and aggregates. Output: group columns then aggregate results."""

    def __init__(
        self,
        child: Operator,
        group_exprs: list[E.Expr],
        group_cids: list[int],
        aggregates: list,
        group_fns: list[Callable | None],
        outer_positions=None,
        sublinks: SublinkSlots | None = None,
    ) -> None:
        self.child = child
        self.cids = list(group_cids) + [a.cid for a in aggregates]
        self.aggregates = aggregates
        self._group_fns = group_fns
        layout = Layout(child.cids, outer_positions)
        self.sublinks = sublinks or SublinkSlots([])
        # One projection computes every input the aggregation needs:
        # group values, then each aggregate's arguments and FILTER.
        inputs: list[E.Expr] = list(group_exprs)
        self._arg_slices: list[tuple[int, int, int | None, list[tuple[int, Any, bool, bool]]]] = []

        for agg in aggregates:
            start = len(inputs)
            inputs += list(agg.args)
            filter_pos = None
            if agg.filter is not None:
                filter_pos = len(inputs)
                inputs.append(agg.filter)
            order_keys = []
            for expr, desc, nulls_first in agg.order:
                order_keys.append((len(inputs), sort_key(expr.type), desc, nulls_first))
                inputs.append(expr)
            self._arg_slices.append((start, start + len(agg.args), filter_pos, order_keys))
        self._ngroup = len(group_exprs)
        self._inputs = compile_row(inputs, layout) if self.sublinks else compile_batch(inputs, None, layout)
        # DISTINCT compares argument values as PostgreSQL's equality does (arrays, numerics, floats).
        self._distinct_keys = [
            _distinct_key_fn([a.type for a in agg.args]) if agg.distinct else None for agg in aggregates
        ]

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        groups: dict[tuple, list] = {}
        originals: dict[tuple, tuple] = {}
        ngroup, aggs = self._ngroup, self.aggregates
        group_fns = self._group_fns
        async for values_batch in self._input_values(rc):
            for values in values_batch:
                raw_key = values[:ngroup]
                key = (
                    tuple(
                        fn(v) if fn is not None and v is not None else v
                        for fn, v in zip(group_fns, raw_key, strict=True)
                    )
                    if ngroup
                    else ()
                )
                state = groups.get(key)
                if state is None:
                    state = groups[key] = [self._new_state(a) for a in aggs]
                    originals[key] = raw_key
                self._accumulate(state, values)
        if not groups and ngroup == 0:
            groups[()] = [self._new_state(a) for a in aggs]
            originals[()] = ()
        out = []
        for key, state in groups.items():
            out.append(tuple(originals[key]) + await self._results(state))
            if len(out) >= BATCH_ROWS:
                yield out
                out = []
                await checkpoint_if_due()
        if out:
            yield out

    async def _input_values(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        """Per input batch, each row's group values then aggregate inputs."""
        frame = rc.frame
        async for batch in self.child.run(rc):
            if self.sublinks:
                values_batch = []
                for row in batch:
                    await checkpoint_if_due()
                    frame.subs = await self.sublinks.evaluate(row, rc)
                    values_batch.append(self._inputs(row, frame))
                yield values_batch
            else:
                yield self._inputs(batch, frame)

    def _accumulate(self, state: list, values: tuple) -> None:
        """Feed one input row (its computed inputs) to a group's aggregate states."""
        slices = self._arg_slices
        for i, agg in enumerate(self.aggregates):
            start, stop, filter_pos, order_keys = slices[i]
            if filter_pos is not None and values[filter_pos] is not True:
                continue
            args = values[start:stop]
            if not agg.star and None in args and getattr(agg.resolved, "strict", True):
                continue
            if agg.distinct or agg.order:
                acc, seen, pending = state[i]
                if agg.distinct:
                    key_fn = self._distinct_keys[i]
                    dkey = args if key_fn is None else key_fn(args)
                    if dkey in seen:
                        continue
                    seen.add(dkey)
                if agg.order:
                    pending.append((tuple(values[p] for p, _, _, _ in order_keys), args))
                    continue
                acc.step(*args)
            else:
                state[i].step(*args)

    async def _results(self, state: list) -> tuple:
        """A group's aggregate results."""
        results = []
        for i, agg in enumerate(self.aggregates):
            acc = state[i]
            if agg.distinct or agg.order:
                acc, _, pending = acc
                if agg.order:
                    # Feed the aggregate in its ORDER BY order.
                    keys = [(j, fn, desc, nf) for j, (_, fn, desc, nf) in enumerate(self._arg_slices[i][3])]
                    ordered = [(*order_values, args) for order_values, args in pending]
                    await sort_rows_async(ordered, keys)
                    for entry in ordered:
                        acc.step(*entry[-1])
            results.append(acc.final())
        return tuple(results)

    def _new_state(self, agg) -> Any:
        acc = agg.resolved.make()
        if agg.distinct or agg.order:
            return (acc, set(), [])
        return acc

    def children(self) -> list[Operator]:
        return [self.child]

    def title(self) -> str:
        return "HashAggregate" if self._ngroup else "Aggregate"

    def details(self) -> list[str]:
        return [f"Aggregates: {', '.join(a.name for a in self.aggregates)}"] if self.aggregates else []


def _distinct_key_fn(types: list) -> Callable[[tuple], tuple] | None:
    fns = [group_key(t) for t in types]
    if not any(fns):
        return None
    return lambda args: tuple(
        fn(v) if fn is not None and v is not None else v for fn, v in zip(fns, args, strict=True)
    )
