"""History checkers in the manner of Jepsen and Elle, for dsql's cluster tests and comparisons.

This package stands alone: it imports no other dsql package, so the multi-process tests, the
whole-cluster simulator and ``dsql compare`` can all use it, and a saved history can be
re-checked anywhere.

- ``checker.history``: the operation history (invoke / ok / fail / info), its recording by
  concurrent trio tasks, and JSON lines;
- ``checker.bank``: bank totals and overdrafts;
- ``checker.durability``: acknowledged writes present after recovery;
- ``checker.list_append``: Elle's list-append checker for (strong) snapshot isolation;
- ``checker.linearizable``: Wing & Gong / Porcupine-style linearizability of register
  histories (register, cas-register, sibling-register), with per-key budgets and stale reads;
- ``checker.report``: the result every checker returns, and its rendering;
- ``checker.testing``: an in-memory transactional store with switchable bugs, to prove each
  check can fail.

``python -m checker list-append run.jsonl --strict`` re-checks a saved history.

A workload records with ``History``: ``handle = history.invoke(process, "txn", mops)`` before
sending, then ``handle.ok(mops_with_reads)``, ``handle.fail(error)`` when the transaction
certainly did not commit (SQLSTATE 40001, a rollback), or ``handle.info(error)`` when the
outcome is unknown (a timeout, a lost connection during COMMIT); after ``info`` the client
continues under a new process id (e.g. ``process + clients``).
"""

from checker.history import (
    Completed,
    History,
    HistoryError,
    Invocation,
    Op,
    OpType,
    pair,
    read_jsonl,
    write_jsonl,
)
from checker.report import Anomaly, Result

__all__ = [
    "Anomaly",
    "Completed",
    "History",
    "HistoryError",
    "Invocation",
    "Op",
    "OpType",
    "Result",
    "pair",
    "read_jsonl",
    "write_jsonl",
]
