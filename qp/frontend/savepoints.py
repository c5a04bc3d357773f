"""SAVEPOINT, RELEASE SAVEPOINT and ROLLBACK TO SAVEPOINT inside a block.

Aurora DSQL refuses SAVEPOINT; dsql implements it because drivers and ORMs
issue it on their own (psycopg 3 wraps `TypeInfo.fetch` in one when a
transaction is open; SQLAlchemy's `begin_nested()`), and because a
transaction's writes never leave the QP before COMMIT it costs little:

- A savepoint records the transaction's state (`Transaction.savepoint`: a
  position in the write buffer's undo log, the row and byte counts, the DDL
  and DML counts), the cursors open, and opens a new level of setting
  changes (qp/frontend/setting_stack.py).
- ROLLBACK TO puts all of that back, closes cursors declared since, undoes
  SETs made since, and makes a failed block usable again; the savepoint
  stays. Keys read or locked (FOR UPDATE, KEY SHARE) since the savepoint
  stay in the transaction's sets: that can only make COMMIT's conflict check
  stricter. DSQL's rule that DDL and DML do not mix holds for what the
  transaction finally commits, since their counts are rolled back with the
  writes that go with them.
- RELEASE forgets the savepoint and those inside it, keeping their work.

Names follow PostgreSQL: the same name may be used again (the newest one
wins until it is released), and an unknown name is 3B001.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qp import api
from qp.api import CommandComplete
from qp.errors import SqlError
from qp.txn.transaction import SavepointState

# Open savepoints per block; each one keeps an entry per later write in the
# undo log, so this bounds bookkeeping, not the writes themselves.
SAVEPOINTS_MAX = 10_000


@dataclass
class Savepoint:
    name: str
    state: SavepointState
    cursors: list  # the cursors open when it was taken (identity matters)


_STATEMENT_NAMES = {
    "TRANS_STMT_SAVEPOINT": "SAVEPOINT",
    "TRANS_STMT_RELEASE": "RELEASE SAVEPOINT",
    "TRANS_STMT_ROLLBACK_TO": "ROLLBACK TO SAVEPOINT",
}


def run_savepoint_statement(session: Any, kind: str, name: str) -> list[api.Event]:
    """Run SAVEPOINT / RELEASE / ROLLBACK TO for `session` (a qp.frontend.session.Session)."""
    if not session.block or session.txn is None:
        raise SqlError("25P01", f"{_STATEMENT_NAMES[kind]} can only be used in transaction blocks")
    txn = session.txn
    savepoints: list[Savepoint] = session.savepoints
    if kind == "TRANS_STMT_SAVEPOINT":
        if len(savepoints) >= SAVEPOINTS_MAX:
            raise SqlError("54000", f"too many savepoints in one transaction (at most {SAVEPOINTS_MAX})")
        savepoints.append(Savepoint(name, txn.savepoint(), session.cursors.open_cursors()))
        return [CommandComplete("SAVEPOINT")]
    index = _find(savepoints, name)
    level = index + 2  # the setting level the savepoint opened (the transaction is 1)
    if kind == "TRANS_STMT_RELEASE":
        session.end_setting_levels(level, commit=True)
        del savepoints[index:]
        if not savepoints:
            txn.savepoints_closed()
        return [CommandComplete("RELEASE")]
    # ROLLBACK TO: undo everything since, keep the savepoint itself.
    session.end_setting_levels(level, commit=False)
    savepoint = savepoints[index]
    del savepoints[index + 1 :]
    txn.rollback_to(savepoint.state)
    session.cursors.close_opened_since(savepoint.cursors)
    session.failed = False
    return [CommandComplete("ROLLBACK")]


def _find(savepoints: list[Savepoint], name: str) -> int:
    for index in range(len(savepoints) - 1, -1, -1):
        if savepoints[index].name == name:
            return index
    raise SqlError("3B001", f'savepoint "{name}" does not exist')
