"""What an executing plan carries: the transaction, the frame, and caches.

A `RunContext` is made per statement execution. Subqueries run with a child
context that shares the transaction and caches but has its own frame (the
enclosing row's values as `outer`).

The scan cache serves repeated identical scans within one statement, which
is what correlated subqueries without a usable key do (one scan per outer
row); the memo serves repeated subquery evaluations for equal outer values,
except for a correlated subquery that calls a volatile function, which
PostgreSQL runs again for every row (the planner marks its slot). The scan
cache holds table pages before any filter that is not storage's, so a
volatile filter is still evaluated on every scan. Both live only for the
statement, and DML statements read everything they need before they write,
so neither can return stale data.
"""

from __future__ import annotations

from typing import Any

from qp.exec.compile import ExecFrame
from qp.types.context import EvalContext

# A statement's scan cache is dropped (not grown) past this many rows.
SCAN_CACHE_ROWS_MAX = 200_000


class StatementCaches:
    __slots__ = ("scans", "scan_rows", "sublinks", "worktables", "ctes")

    def __init__(self) -> None:
        self.scans: dict[Any, list] = {}
        self.scan_rows = 0
        self.sublinks: dict[Any, Any] = {}
        self.worktables: dict[int, list] = {}  # WITH RECURSIVE: the last iteration's rows
        # Materialized WITH queries: (the outer values and work-table rows they were
        # computed for, their rows).
        self.ctes: dict[int, tuple[tuple, tuple, list]] = {}


class RunContext:
    __slots__ = ("txn", "frame", "caches", "session", "in_subquery", "write_target")

    def __init__(self, txn: Any, frame: ExecFrame, caches: StatementCaches, session: Any = None,
                 in_subquery: bool = False) -> None:
        self.txn = txn
        self.frame = frame
        self.caches = caches
        self.session = session
        self.in_subquery = in_subquery
        # The scan whose rows an UPDATE or DELETE writes (qp/exec/dml.py run_modify): with
        # hot rows on, it claims a row before reading it (qp/txn/intents.py).
        self.write_target: Any = None

    @property
    def ctx(self) -> EvalContext:
        return self.frame.ctx

    def child(self, outer: tuple) -> RunContext:
        frame = ExecFrame(self.frame.params, outer, self.frame.ctx)
        return RunContext(self.txn, frame, self.caches, self.session, True)
