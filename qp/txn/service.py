"""The query processor's transactions: opening them, committing them, and running
the system transactions that must succeed despite concurrent writers.

Sessions open their transactions here (`begin`) and commit them here
(`commit`); the process's table of write intents on hot rows (qp/txn/intents.py)
is kept here too, one per QP process: a COMMIT runs shielded from cancels and timeouts (PostgreSQL holds
interrupts there too), so once adjudication starts the client hears the real
outcome; it is bounded by `COMMIT_OUTCOME_WAIT_S`, past which the outcome is
unknown (08007), never "cancelled". A transaction that changed the catalog
reloads it, so later statements of this process bind against the change.

System transactions — a job's status record, a sequence's next cache block,
an online DDL's batch or its final publication, the bootstrap password — are
short read-modify-writes that lose to concurrent writers now and then (40001)
and must simply be tried again: `run` does that, a bounded number of times,
with an optional randomized backoff so that sessions which collide keep
from colliding again.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from cluster.clock import Clock
from cluster.topology import Topology
from cluster.transport import InProcessTransport
from qp.catalog.cache import CatalogCache
from qp.errors import SqlError
from qp.txn.intents import IntentTable
from qp.txn.transaction import Transaction, outcome_unknown
from storage.client import StorageClient

log = logging.getLogger(__name__)

T = TypeVar("T")

# The journal gives up on an append well before this (12 s): reaching it means
# something is badly wrong, and the outcome is unknown.
COMMIT_OUTCOME_WAIT_S = 30.0
SYSTEM_ATTEMPTS_MAX = 100


class TransactionService:
    def __init__(self, clock: Clock, storage: StorageClient, topology: Topology, transport: InProcessTransport,
                 catalogs: CatalogCache) -> None:  # fmt: skip
        self.clock = clock
        self.storage = storage
        self.topology = topology
        self.transport = transport
        self.catalogs = catalogs
        # This QP's write intents on hot rows (qp/txn/intents.py): sessions with
        # dsql.hot_row_wait on take part; system transactions never do.
        self.intents = IntentTable()

    def begin(self, *, read_only: bool = False, explicit: bool = False,
              limits: tuple[int, int] | None = None) -> Transaction:  # fmt: skip
        """A new transaction; `limits` are its (rows, bytes) maxima (DSQL's by default)."""
        txn = Transaction(self.clock, self.storage, self.topology, self.transport, read_only=read_only,
                          explicit=explicit)  # fmt: skip
        if limits is not None:
            txn.rows_max, txn.bytes_max = limits
        return txn

    async def commit(self, txn: Transaction) -> None:
        """Commit, shielded and bounded (see the module docstring)."""
        with trio.move_on_after(COMMIT_OUTCOME_WAIT_S) as scope:
            scope.shield = True
            await txn.commit()
            if txn.catalog_version_written is not None:
                # Our own DDL: later transactions of this process bind against it.
                fresh = self.begin(read_only=True)
                try:
                    await self.catalogs.load(fresh)
                except SqlError:
                    log.warning("catalog reload after DDL failed; the next statement reloads it")
            return
        if txn.committed:
            return  # only the catalog reload ran out of time
        raise outcome_unknown(f"COMMIT did not finish within {COMMIT_OUTCOME_WAIT_S:g} s")

    async def run(
        self,
        body: Callable[[Transaction], Awaitable[T]],
        *,
        attempts: int = SYSTEM_ATTEMPTS_MAX,
        backoff_s: float = 0.0,
        read_only: bool = False,
        with_catalog: bool = False,
        limits: tuple[int, int] | None = None,
        exhausted: Callable[[], SqlError] | None = None,
    ) -> T:
        """Run `body` in a transaction of its own and commit what it wrote; on a
        conflict (40001) run it again in a new one, up to `attempts` times, then
        raise `exhausted()` (by default the last conflict). `with_catalog` gives
        the body the catalog as of its snapshot, validated; `limits` are the
        transaction's (rows, bytes) maxima. Any other error ends the attempts."""
        assert attempts >= 1
        for attempt in range(attempts):
            txn = self.begin(read_only=read_only, limits=limits)
            txn.begin_snapshot()
            try:
                if with_catalog:
                    txn.catalog = await self.catalogs.load(txn)
                    txn.catalog_validated = True
                result = await body(txn)
                if txn.has_writes:
                    await self.commit(txn)
                return result
            except SqlError as exc:
                if exc.sqlstate != "40001":
                    raise
                if attempt + 1 == attempts:
                    if exhausted is None:
                        raise
                    raise exhausted() from exc
                log.debug("system transaction conflicted (%s); retrying", exc.message)
            if backoff_s > 0:
                await trio.sleep(random.uniform(0, backoff_s * (attempt + 1)))
        raise AssertionError("unreachable: the last attempt returns or raises")
