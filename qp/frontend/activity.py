"""What a session is doing, as PostgreSQL's backend status entry records it for pg_stat_activity.

A PostgreSQL backend reports its activity (pgstat_report_activity) when a
message that runs SQL arrives (Query, Parse, Bind, Execute: state `active`,
the message's text becomes `query`, `query_start` is its arrival) and just
before ReadyForQuery (`idle`, `idle in transaction` or `idle in transaction
(aborted)`; `query` keeps the last text). `xact_start` is set while a
transaction is open and cleared when it commits or aborts, so an aborted
block shows none.

A `Session` owns one `Activity` and calls it at those moments (a few lines
in qp/frontend/session.py); the pgwire server hands the client's address to the QP
when the session opens. pg_stat_activity (qp/pgcatalog/cluster_tables.py)
reads the records of every session the `QueryProcessor` has open. Times are
timestamptz values: µs since 2000-01-01 UTC, from the QP's clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cluster.clock import Clock
from qp import api
from qp.parse.parser import Statement

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC in µs since the Unix epoch
# PostgreSQL keeps track_activity_query_size (1024) bytes of a query, its
# terminating NUL included, and cuts at a character boundary.
QUERY_BYTES_MAX = 1023


class State(enum.Enum):
    IDLE = "idle"
    ACTIVE = "active"
    IDLE_IN_TRANSACTION = "idle in transaction"
    IDLE_IN_FAILED_TRANSACTION = "idle in transaction (aborted)"


_WAITING = {
    api.TransactionStatus.IDLE: State.IDLE,
    api.TransactionStatus.IN_BLOCK: State.IDLE_IN_TRANSACTION,
    api.TransactionStatus.FAILED: State.IDLE_IN_FAILED_TRANSACTION,
}


def clip_query(text: str) -> str:
    if len(text) * 4 <= QUERY_BYTES_MAX:  # UTF-8 takes at most 4 bytes a character: nothing to cut
        return text
    return text.encode()[:QUERY_BYTES_MAX].decode("utf-8", "ignore")


@dataclass
class Activity:
    clock: Clock
    client: api.ClientAddress | None = None  # None: not known (a session the QP runs itself)
    state: State = State.IDLE
    query: str = ""  # the current or last statement text (clipped)
    query_start_us: int | None = None
    xact_start_us: int | None = None
    backend_start_us: int = field(init=False)
    state_change_us: int = field(init=False)

    def __post_init__(self) -> None:
        self.backend_start_us = self.state_change_us = self.now_us()

    def now_us(self) -> int:
        return self.clock.now().latest // 1000 - PG_EPOCH_US

    def running(self, text: str) -> None:
        """A message that runs `text` arrived."""
        self.state = State.ACTIVE
        self.query = clip_query(text)
        self.query_start_us = self.state_change_us = self.now_us()

    def running_statement(self, statement: Statement | None) -> None:
        """An Execute of a statement parsed earlier (the text is the one Parse sent)."""
        self.running(statement.source or statement.text if statement is not None else "")

    def waiting(self, status: api.TransactionStatus) -> None:
        """ReadyForQuery is about to go out: the session waits for its client."""
        self.state = _WAITING[status]
        self.state_change_us = self.now_us()  # at every report, as PostgreSQL's
        if self.state is State.IDLE_IN_FAILED_TRANSACTION:
            self.xact_start_us = None  # PostgreSQL's AbortTransaction clears it at once

    def transaction_started(self, now_us: int) -> None:
        # PostgreSQL starts a transaction when the message that begins it
        # arrives, so xact_start is never after that message's query_start.
        arrived = self.query_start_us if self.state is State.ACTIVE else None
        self.xact_start_us = min(now_us, arrived) if arrived is not None else now_us

    def transaction_ended(self) -> None:
        self.xact_start_us = None
