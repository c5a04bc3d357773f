"""DynamoDB writes as one-shot transactions on the adjudicator/journal path.

Every write, from one PutItem to a 100-action TransactWriteItems, is the
same shape as a SQL transaction (see qp/txn/transaction.py), compressed into one
request:

  1. τ_start = now().latest;
  2. read what the write depends on, strongly, as of τ_start (the item, for
     a condition, ReturnValues or its old index entries);
  3. decide the post-images (or fail a condition: nothing is written);
  4. commit through the adjudicator that owns the first written key, with
     every written key (item and index entries) as a write key and every key
     only checked (ConditionCheck) as a check key, so that any commit to
     those keys after τ_start makes this one lose (first committer wins):
     the condition was evaluated on exactly the state the write replaces;
  5. commit wait: acknowledge only once τ_commit is certainly past, so any
     read that starts after the client hears back sees the write.

A lost commit race raises `Conflict`. Single-item and batch writes retry on
it (`with_retries`), so clients see DynamoDB's behaviour: a conditional
write is atomic and a contended item just takes a little longer.
TransactWriteItems does not retry: DynamoDB cancels a transaction that
meets a concurrent one (TransactionConflict).
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

from adjudicator.client import AdjudicatorClient
from adjudicator.interface import CommitConflict, CommitTimeout, TransactionTooOld
from cluster import metrics
from cluster.clock import Clock
from cluster.topology import Topology
from cluster.transport import InProcessTransport, RemoteError, Unreachable
from journal.interface import CommitRecord
from kv.dynamodb.errors import internal, transaction_conflict, validation

# One journal record stays well under the journal's 64 MiB frame limit.
PAYLOAD_BYTES_MAX = 32 * 1024 * 1024
# A single-item or batch write that loses a commit race tries again until
# this much time has passed: each round of a race has a winner, so a hot item
# under heavy contention still gets through, and a pathological case ends in
# an error rather than a hang. (Writes to one item from this process queue on
# a lock first, see `KeyLocks`, so races here are mostly between processes.)
RETRY_BUDGET_S = 10.0
BACKOFF_BASE_S = 0.001
BACKOFF_CAP_S = 0.05
# Longer than any healthy commit (milliseconds), short enough not to hold up a shutdown.
COMMIT_TIMEOUT_S = 5.0

T = TypeVar("T")

# The commit-time histogram's child for this API, looked up once rather than on every commit.
_COMMIT_SECONDS = metrics.COMMIT_SECONDS.labels(api="dynamodb")


class Conflict(Exception):
    """The commit lost to another transaction on `key` (None if unknown)."""

    def __init__(self, key: bytes | None) -> None:
        super().__init__(key.hex() if key else "unknown key")
        self.key = key


def _conflict_key(detail: str) -> bytes | None:
    # CommitConflict's detail reads "<kind> key <hex>".
    try:
        return bytes.fromhex(detail.rsplit(" ", 1)[-1])
    except ValueError:
        return None


class Committer:
    def __init__(self, clock: Clock, topology: Topology, transport: InProcessTransport) -> None:
        self.clock = clock
        self.adjudicators = AdjudicatorClient(topology, transport, timeout_s=COMMIT_TIMEOUT_S)
        self.commits = 0
        self.conflicts = 0

    def begin(self) -> int:
        """τ_start of a new transaction: at or after true time, so it sees every acknowledged write."""
        return self.clock.now().latest

    async def commit(
        self,
        tau_start: int,
        writes: list[tuple[bytes, Any]],
        write_keys: list[bytes],
        check_keys: list[bytes] | tuple[bytes, ...] = (),
        stamped: list[tuple[bytes, bytes, Any]] | tuple[tuple[bytes, bytes, Any], ...] = (),
    ) -> int:
        """Commit post-images `writes` (value None deletes) and `stamped` writes (stream
        records, keyed by τ_commit: see journal.interface.CommitRecord); returns τ_commit
        after commit wait."""
        assert write_keys, "a commit must write or lock at least one key"
        payload = CommitRecord(writes, stamped=stamped).encode()
        if len(payload) > PAYLOAD_BYTES_MAX:
            raise validation("Transaction request size exceeded the maximum allowed size")
        started = time.perf_counter()
        try:
            # Shielded: a client that hangs up mid-commit must not leave the
            # outcome to chance (DynamoDB finishes a write it has started).
            # Bounded, so a stuck journal cannot hold a shutdown forever.
            tau_commit = await self.adjudicators.commit(tau_start, payload, write_keys, check_keys, shield=True)
        except CommitTimeout:
            raise internal("commit timed out; the write may or may not have been applied") from None
        except CommitConflict as exc:
            self.conflicts += 1
            raise Conflict(_conflict_key(exc.detail)) from None
        except TransactionTooOld:
            self.conflicts += 1
            raise Conflict(None) from None
        except (Unreachable, RemoteError) as exc:
            raise internal(f"commit failed: {exc}") from None
        assert tau_commit > tau_start
        self.commits += 1
        # Commit wait (cluster/clock.py): the write is acknowledged only once
        # τ_commit is certainly in the past.
        self.clock.observe(tau_commit)
        await self.clock.wait_until_past(tau_commit)
        _COMMIT_SECONDS.observe(time.perf_counter() - started)
        return tau_commit


async def with_retries(
    attempt: Callable[[], Awaitable[T]], rng: random.Random, budget_s: float = RETRY_BUDGET_S
) -> T:
    """Run `attempt` until it commits, backing off with jitter after each lost race."""
    deadline = trio.current_time() + budget_s
    n = 0
    while True:
        try:
            return await attempt()
        except Conflict:
            if trio.current_time() >= deadline:
                raise transaction_conflict() from None
            await trio.sleep(rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2 ** min(n, 16)))))
            n += 1


class KeyLocks:
    """Per-key locks, so that this process's writes to one item take turns instead of racing.

    DynamoDB serialises the writes to an item at its partition's leader; here
    any of them may commit, and concurrent ones would mostly lose to each other
    at the adjudicator and retry. Queuing them locally first turns a hot item's
    contention inside one process into a line, which is both faster and fair.
    A lock lives only while someone holds or waits for it.
    """

    def __init__(self) -> None:
        self._locks: dict[bytes, tuple[trio.Lock, int]] = {}

    def hold(self, key: bytes) -> _KeyLock:
        """`async with locks.hold(key):` runs its body holding `key`'s lock."""
        return _KeyLock(self._locks, key)

    def __len__(self) -> int:
        return len(self._locks)


class _KeyLock:
    """One hold of a key's lock (a plain class rather than an @asynccontextmanager: this runs
    on every single-item write, and a generator-based context manager costs a few times more)."""

    __slots__ = ("_locks", "_key", "_lock")

    def __init__(self, locks: dict[bytes, tuple[trio.Lock, int]], key: bytes) -> None:
        self._locks = locks
        self._key = key

    async def __aenter__(self) -> None:
        lock, users = self._locks.get(self._key, (None, 0))
        if lock is None:
            lock = trio.Lock()
        self._locks[self._key] = (lock, users + 1)
        self._lock = lock
        try:
            await lock.acquire()
        except BaseException:
            self._release_user()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._lock.release()
        self._release_user()

    def _release_user(self) -> None:
        lock, users = self._locks[self._key]
        if users == 1:
            del self._locks[self._key]
        else:
            self._locks[self._key] = (lock, users - 1)
