"""Appending the rows of several inputs in order (UNION ALL of many parts).

The planner uses it for a multi-row VALUES list whose rows hold subqueries:
each row is its own one-row VALUES operator, so it evaluates only its own
subqueries, and one flat operator keeps any number of rows off the stack
(a chain of binary UNION ALLs would nest one generator per row).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from qp.exec.operators import Operator
from qp.exec.runtime import RunContext


class Append(Operator):
    def __init__(self, parts: list[Operator], cids: list[int]) -> None:
        assert all(len(p.cids) == len(cids) for p in parts)
        self.parts = parts
        self.cids = cids

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        for part in self.parts:
            async for batch in part.run(rc):
                yield batch

    def children(self) -> list[Operator]:
        return list(self.parts)

    def title(self) -> str:
        return "Append"
