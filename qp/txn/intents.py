"""Hot rows: QP-local write intents, so that writers of one row queue instead of colliding.

Under optimistic concurrency every writer of a hot row (TPC-B's branch row)
runs to its COMMIT and all but one lose there (40001), having spent a whole
transaction's work; the retries collide again. This module lets the writers
of a row *on one QP process* take turns: a transaction that buffers a write
or a FOR UPDATE lock on a key holds an *intent* on it, and a later writer of
that key waits (bounded) for the holder to end, then reads the key after the
holder's commit (qp/txn/transaction.py's read refresh moves its snapshot
there) instead of losing at COMMIT.

What it owns: the table key -> holder (the in-flight `Transaction` that
claimed the key) and the waiters queued on each key. Nothing here decides a
conflict: the adjudicators still check every commit (first committer wins),
so an intent that is missed, released early or held by a transaction on
another QP only costs a conflict, never a wrong answer. Intents are a hint
that makes the winner likely, not a lock that makes it certain.

Rules:

- No deadlock, by looking: a transaction waits for one key at a time, so the
  waits of this QP form chains (waiter -> holder -> the holder it waits for
  ...). A writer that would close a cycle does not wait: it proceeds
  optimistically, as without intents (and most likely loses, early, at its
  refresh or at COMMIT). A handoff cannot close a cycle: the new holder is
  running, not waiting. `WAIT_S_MAX` stays as the backstop. (The first design
  was wait-die, waiting only for an older holder; measured on TPC-B at scale 1
  it left the older writers that found a younger holder of the branch row to
  lose at COMMIT, 0.1-0.15 retries per commit, each a whole transaction's work
  on a CPU-bound server; bench/README.md has the figures.)
- Age (a transaction's *first* τ_start, which a refresh does not change, so a
  transaction never gets younger) orders the queue on a key: the oldest
  waiter gets it first.
- Every wait is bounded (`WAIT_S_MAX`) and runs in the statement's cancel
  scope (a cancel request or statement_timeout ends it with 57014). At the
  bound the writer stops waiting and proceeds optimistically.
- When a holder ends (commit, abort, rollback, an error that fails its block,
  its session closing: `release`, called from `finally`s), each of its keys
  passes to the oldest waiter, which becomes the holder at once (no await
  between), so the waiters woken together do not all read the row; the
  others keep waiting for the new holder, who is older than them. The
  waiter learns the τ_commit of the holders that committed the key while it
  queued (`Claim.tau_committed`), which is what its refresh must pass.
- The table is bounded by what is in flight: a transaction holds at most its
  write set (3,000 rows by DSQL's limit, plus index entries), and
  `release` removes all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio

from cluster import metrics

# How long a writer waits for an older holder of its row before proceeding
# optimistically. A TPC-B transaction takes a few milliseconds; a holder that
# takes seconds is idle in its transaction, and waiting longer for it only
# delays the conflict the adjudicator would report anyway.
WAIT_S_MAX = 2.0
# The longest chain of waits followed to look for a cycle: one QP's sessions, more
# than enough (a chain longer than this is treated as a cycle).
WAIT_CHAIN_MAX = 1000


def age_of(txn: Any) -> tuple[int, int]:
    """Wait-die order: older first (the first τ_start, then a per-process number)."""
    return txn.intent_age


@dataclass(slots=True, eq=False)
class _Waiter:
    txn: Any
    event: trio.Event = field(default_factory=trio.Event)


@dataclass(slots=True)
class _Entry:
    holder: Any | None
    waiters: list[_Waiter] = field(default_factory=list)
    tau_committed: int | None = None  # the latest τ_commit of a holder that wrote the key


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of `IntentTable.claim`."""

    held: bool  # the caller holds the key now (False: a wait would close a cycle, or the bound ran out)
    waited: bool  # the caller queued behind a holder
    tau_committed: int | None  # a holder that ended while the caller queued committed the key at this τ


class IntentTable:
    """key -> the in-flight transaction of this QP that claimed it (see the module docstring)."""

    def __init__(self, wait_s_max: float = WAIT_S_MAX) -> None:
        self.wait_s_max = wait_s_max
        self._entries: dict[bytes, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def holder(self, key: bytes) -> Any | None:
        entry = self._entries.get(key)
        return entry.holder if entry is not None else None

    def hold(self, key: bytes, txn: Any) -> None:
        """`txn` buffered a write or lock on `key`: claim it if nobody holds it (no waiting)."""
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = _Entry(txn)
            txn.intent_keys.append(key)
        elif entry.holder is None:
            entry.holder = txn
            txn.intent_keys.append(key)

    async def claim(self, key: bytes, txn: Any) -> Claim:
        """Before `txn` reads `key` to write it: wait for an older holder to end, then hold it."""
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = _Entry(txn)
            txn.intent_keys.append(key)
            return Claim(True, False, None)
        holder = entry.holder
        if holder is txn:
            return Claim(True, False, None)
        if holder is None:
            entry.holder = txn
            txn.intent_keys.append(key)
            return Claim(True, False, None)
        if self._closes_cycle(txn, holder):
            metrics.HOT_ROW_WAITS.labels(outcome="cycle").inc()
            return Claim(False, False, None)  # proceed optimistically
        return await self._wait(key, entry, txn)

    def _closes_cycle(self, txn: Any, holder: Any) -> bool:
        """Whether `txn` waiting for `holder` would close a cycle of waits."""
        for _ in range(WAIT_CHAIN_MAX):
            if holder is txn:
                return True
            entry = holder.intent_waiting
            if entry is None or entry.holder is None or entry.holder is holder:
                return False  # the end of the chain: a holder that is running
            holder = entry.holder
        return True  # a chain this long: do not add to it

    async def _wait(self, key: bytes, entry: _Entry, txn: Any) -> Claim:
        waiter = _Waiter(txn)
        entry.waiters.append(waiter)
        metrics.HOT_ROW_WAITS.labels(outcome="queued").inc()
        txn.intent_waiting = entry
        with trio.move_on_after(self.wait_s_max):
            try:
                await waiter.event.wait()
            finally:
                txn.intent_waiting = None
                if not waiter.event.is_set():  # timed out or cancelled: leave the queue
                    entry.waiters.remove(waiter)
        if waiter.event.is_set():
            return Claim(True, True, entry.tau_committed)
        metrics.HOT_ROW_WAITS.labels(outcome="timeout").inc()
        return Claim(False, True, entry.tau_committed)

    def release(self, txn: Any, tau_commit: int | None) -> None:
        """`txn` ended (committed at `tau_commit`, or not: None): pass its keys on."""
        keys = txn.intent_keys
        if not keys:
            return
        txn.intent_keys = []
        entries = self._entries
        for key in keys:
            entry = entries.get(key)
            if entry is None or entry.holder is not txn:
                continue
            if tau_commit is not None:
                entry.tau_committed = max(entry.tau_committed or 0, tau_commit)
            if not entry.waiters:
                del entries[key]
                continue
            oldest = min(entry.waiters, key=lambda w: age_of(w.txn))
            entry.waiters.remove(oldest)
            entry.holder = oldest.txn
            oldest.txn.intent_keys.append(key)
            # It waits no more, though its task runs later: a writer of the key that comes
            # before then must see a holder that is running, not one waiting for itself
            # (which `_closes_cycle` would take for a cycle).
            oldest.txn.intent_waiting = None
            oldest.event.set()
