"""Aggregation over grouping sets (GROUP BY ROLLUP / CUBE / GROUPING SETS).

One pass over the input feeds every grouping set: each row updates one group
per set, keyed by the set and the values of the columns that set groups by.
The output has HashAggregate's columns, the group columns a set leaves out
reading NULL, followed by one column per GROUPING() call, whose value (a bit
mask of the arguments the row's set does not group by) depends only on the
set. Reading the input once (rather than once per set, as a union of
aggregations would) keeps volatile expressions and subqueries consistent
between the sets' rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from cluster.timeslice import checkpoint_if_due
from qp.bind import expr as E
from qp.bind.grouping_sets import grouping_mask
from qp.exec.aggregate import HashAggregate
from qp.exec.operators import BATCH_ROWS, SublinkSlots
from qp.exec.runtime import RunContext


class GroupingSetsAggregate(HashAggregate):
    """Output: group columns (NULL where the row's set does not group by them),
    aggregate results, then GROUPING() results."""

    def __init__(
        self,
        child,
        group_exprs: list[E.Expr],
        group_cids: list[int],
        aggregates: list,
        group_fns: list[Callable | None],
        grouping_sets: list[tuple[int, ...]],
        groupings: list[tuple[int, tuple[int, ...]]],
        outer_positions=None,
        sublinks: SublinkSlots | None = None,
    ) -> None:
        super().__init__(child, group_exprs, group_cids, aggregates, group_fns, outer_positions, sublinks)
        self.grouping_sets = [tuple(dict.fromkeys(s)) for s in grouping_sets]
        self.cids += [cid for cid, _ in groupings]
        # Per set: its GROUPING() values and which group columns it keeps.
        members = [frozenset(s) for s in self.grouping_sets]
        self._masks = [tuple(grouping_mask(positions, m) for _, positions in groupings) for m in members]
        self._kept = [tuple(i in m for i in range(len(group_exprs))) for m in members]

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        groups: dict[tuple, list] = {}
        originals: dict[tuple, tuple] = {}
        group_fns, aggs = self._group_fns, self.aggregates
        sets = list(enumerate(self.grouping_sets))
        async for values_batch in self._input_values(rc):
            for values in values_batch:
                for set_index, columns in sets:
                    key = (
                        set_index,
                        *(
                            group_fns[c](values[c])
                            if group_fns[c] is not None and values[c] is not None
                            else values[c]
                            for c in columns
                        ),
                    )
                    state = groups.get(key)
                    if state is None:
                        state = groups[key] = [self._new_state(a) for a in aggs]
                        originals[key] = values
                    self._accumulate(state, values)
        # The empty set's one group exists whatever the input, as in PostgreSQL.
        for set_index, columns in sets:
            if not columns and (set_index,) not in groups:
                groups[(set_index,)] = [self._new_state(a) for a in aggs]
                originals[(set_index,)] = ()
        out = []
        ngroup = self._ngroup
        for key, state in groups.items():
            set_index = key[0]
            first, kept = originals[key], self._kept[set_index]
            group_values = tuple(first[i] if kept[i] else None for i in range(ngroup))
            out.append(group_values + await self._results(state) + self._masks[set_index])
            if len(out) >= BATCH_ROWS:
                yield out
                out = []
                await checkpoint_if_due()
        if out:
            yield out

    def title(self) -> str:
        return "MixedAggregate"

    def details(self) -> list[str]:
        return [f"Grouping Sets: {len(self.grouping_sets)}", *super().details()]
