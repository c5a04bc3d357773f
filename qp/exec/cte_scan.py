"""Reading a materialized WITH query: computed once, read by every reference.

PostgreSQL evaluates a WITH query that is referenced more than once (or
declared MATERIALIZED, or volatile) once per execution of the query that
defines it, so `WITH r AS (SELECT random() v) SELECT a.v = b.v FROM r a, r b`
is true. A `CteScan` per reference reads the rows from the statement's caches;
the first one to run computes them. A WITH query inside a correlated subquery
may read the enclosing rows' values: its rows are kept together with those
values and computed again only when they change, as PostgreSQL recomputes a
CTE whose parameters changed and reuses it otherwise; one inside the
recursive term of a WITH RECURSIVE query is computed again for every
iteration (every new set of work-table rows it reads).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from qp.exec.operators import BATCH_ROWS, Operator, collect
from qp.exec.runtime import RunContext


class CteScan(Operator):
    def __init__(self, cte: Any, plan: Operator, cids: list[int], outer_picks: list[int],
                 work_tables: list | None = None) -> None:
        """`cte`: the WITH query's definition (its identity is the cache key, and this
        scan keeps it alive); `plan`: its plan, which reads its outer values in the
        order of `outer_picks` (positions in this level's outer values);
        `work_tables`: those of enclosing recursive queries it reads."""
        assert len(plan.cids) == len(cids)
        self.cte = cte
        self.plan = plan
        self.cids = cids
        self._picks = outer_picks
        self._work_keys = [id(w) for w in work_tables or ()]

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        outer_values = rc.frame.outer
        outer = tuple(outer_values[p] for p in self._picks)
        # The work tables' current rows, compared by identity (the entry keeps them alive).
        iteration = tuple(rc.caches.worktables.get(k) for k in self._work_keys)
        key = id(self.cte)
        found = rc.caches.ctes.get(key)
        if found is None or found[0] != outer or any(a is not b for a, b in zip(found[1], iteration, strict=True)):
            found = (outer, iteration, await collect(self.plan, rc.child(outer)))
            rc.caches.ctes[key] = found
        rows = found[2]
        for i in range(0, len(rows), BATCH_ROWS):
            yield rows[i : i + BATCH_ROWS]

    def children(self) -> list[Operator]:
        return [self.plan]

    def title(self) -> str:
        return f"CTE Scan on {self.cte.name}"
