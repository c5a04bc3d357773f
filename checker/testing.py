"""An in-memory transactional store, correct snapshot isolation by default, with switchable bugs.

The checkers are only worth something if each of them can fail. This module gives them a
tiny multi-version store that trio tasks use concurrently: a transaction reads the snapshot
of its start (and its own writes), buffers appends and puts, and commits atomically if no
transaction that committed after its start wrote a key it writes (first committer wins), as
Aurora DSQL does; otherwise it fails. A commit is durable before it is acknowledged. Each
``Bug`` breaks one of these rules, the way a real database can:

- ``LOST_UPDATE``: no first-committer-wins check, so two transactions that read the same
  version both write it;
- ``READ_SKEW``: each key is read from the newest state at the time of the read, not the
  snapshot of the start, so one transaction sees two snapshots;
- ``ABORTED_READ``: an aborted transaction's writes are installed anyway (G1a);
- ``INTERMEDIATE_READ``: a commit installs a transaction's earlier appends to a key first
  and its last one a moment later, so readers can see the state between (G1b);
- ``WRITE_CYCLE``: no first-committer-wins check, and a commit installs one key at a time,
  so two transactions writing the same keys can be ordered differently on each (G0);
- ``LOST_WRITE``: commits are acknowledged before they are durable, and syncing runs
  ``UNSYNCED_COMMITS`` commits behind; ``crash()`` loses those not yet synced;
- ``STALE_READ``: a transaction may start from a snapshot up to ``STALE_LAG_MAX`` commits
  old, as if read from a lagging replica. That is still snapshot isolation, but not *strong*
  snapshot isolation: a transaction can miss one acknowledged before it began.

``run_list_append`` and ``run_bank`` drive the store with concurrent clients and record the
history; ``run`` runs one in trio with a ``MockClock`` that jumps, so a run of thousands of
transactions with random pauses between operations takes little real time.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import trio
import trio.testing

from checker.history import History

# With LOST_WRITE, how many of the latest acknowledged commits are not yet durable: a crash
# loses them. Several, so that a crash surely loses an acknowledged one.
UNSYNCED_COMMITS = 4
# With STALE_READ, how many commits old a snapshot can be.
STALE_LAG_MAX = 3
# With INTERMEDIATE_READ, how long the state between a commit's two steps is visible:
# several pauses, so that other clients begin transactions in it.
INTERMEDIATE_GAP_S = 0.01
# Pauses between a client's operations, in (virtual) seconds: long enough for other clients
# to interleave, short enough for many transactions per virtual second.
PAUSE_MAX_S = 0.002


class Bug(enum.Enum):
    LOST_UPDATE = "lost-update"
    READ_SKEW = "read-skew"
    ABORTED_READ = "aborted-read"
    INTERMEDIATE_READ = "intermediate-read"
    WRITE_CYCLE = "write-cycle"
    LOST_WRITE = "lost-write"
    STALE_READ = "stale-read"


class Aborted(Exception):
    """The transaction did not commit (a conflict, or the client gave up)."""


@dataclass
class _Version:
    tau: int
    value: Any


class Store:
    """Multi-version keys: each a list of (commit timestamp, value), oldest first."""

    def __init__(self, bugs: Iterable[Bug] = (), rng: random.Random | None = None) -> None:
        self.bugs = frozenset(bugs)
        self.rng = rng or random.Random(0)
        self.versions: dict[Any, list[_Version]] = {}
        self.tau = 0  # the last commit timestamp handed out
        self.durable_tau = 0
        # With INTERMEDIATE_READ, the keys of commits between their two steps: other commits
        # to them fail, as if they were locked (readers still see the state between).
        self.in_flight: set[Any] = set()

    def begin(self) -> Txn:
        if Bug.STALE_READ in self.bugs:
            return Txn(self, max(0, self.tau - self.rng.randint(0, STALE_LAG_MAX)))
        return Txn(self, self.tau)

    def value_at(self, key: Any, tau: int) -> Any:
        for version in reversed(self.versions.get(key, ())):
            if version.tau <= tau:
                return version.value
        return None

    def last_commit(self, key: Any) -> int:
        versions = self.versions.get(key)
        return versions[-1].tau if versions else 0

    def _install(self, writes: dict[Any, list[tuple[str, Any]]]) -> None:
        """Apply buffered writes on top of the newest state, as one new version."""
        self.tau += 1
        for key, ops in writes.items():
            value = self.value_at(key, self.tau)
            for kind, argument in ops:
                value = (*(value or ()), argument) if kind == "append" else argument
            self.versions.setdefault(key, []).append(_Version(self.tau, value))
        lag = UNSYNCED_COMMITS if Bug.LOST_WRITE in self.bugs else 0
        self.durable_tau = max(self.durable_tau, self.tau - lag)

    def crash(self) -> None:
        """Lose what was not durable, as a restart would."""
        for key, versions in self.versions.items():
            self.versions[key] = [v for v in versions if v.tau <= self.durable_tau]
        self.tau = self.durable_tau

    def read_all(self, keys: Iterable[Any]) -> dict[Any, Any]:
        return {key: self.value_at(key, self.tau) for key in keys}


@dataclass
class Txn:
    """A transaction: reads its snapshot and its own buffered writes; writes at commit."""

    store: Store
    start_tau: int
    writes: dict[Any, list[tuple[str, Any]]] = field(default_factory=dict)
    seen: dict[Any, Any] = field(default_factory=dict)  # key -> value read (before own writes)

    def read(self, key: Any) -> Any:
        if key not in self.seen:
            tau = self.store.tau if Bug.READ_SKEW in self.store.bugs else self.start_tau
            self.seen[key] = self.store.value_at(key, tau)
        value = self.seen[key]
        for kind, argument in self.writes.get(key, ()):
            value = (*(value or ()), argument) if kind == "append" else argument
        return value

    def append(self, key: Any, element: Any) -> None:
        self.writes.setdefault(key, []).append(("append", element))

    def put(self, key: Any, value: Any) -> None:
        self.writes.setdefault(key, []).append(("put", value))

    def abort(self) -> None:
        if Bug.ABORTED_READ in self.store.bugs and self.writes:
            self.store._install(self.writes)

    async def commit(self) -> None:
        """Commit, or raise ``Aborted`` (after which the transaction is over)."""
        store = self.store
        bugs = store.bugs
        if not self.writes:
            return
        if Bug.WRITE_CYCLE in bugs:
            keys = list(self.writes)
            store.rng.shuffle(keys)
            for key in keys:
                store._install({key: self.writes[key]})
                await trio.sleep(store.rng.random() * PAUSE_MAX_S)
            return
        conflicts = store.in_flight.intersection(self.writes)
        if Bug.LOST_UPDATE not in bugs:
            conflicts.update(key for key in self.writes if store.last_commit(key) > self.start_tau)
        if conflicts:
            self.abort()
            raise Aborted("change conflicts with another transaction")
        split = {key: ops[:-1] for key, ops in self.writes.items() if len(ops) > 1}
        if Bug.INTERMEDIATE_READ in bugs and split:
            store._install({key: split.get(key, ops) for key, ops in self.writes.items()})
            store.in_flight.update(split)
            await trio.sleep(INTERMEDIATE_GAP_S)
            store._install({key: ops[-1:] for key, ops in self.writes.items() if key in split})
            store.in_flight.difference_update(split)
        else:
            store._install(self.writes)


# ---------------------------------------------------------------------------------------------
# Workloads


async def _pause(rng: random.Random) -> None:
    await trio.sleep(rng.random() * PAUSE_MAX_S)


@dataclass
class ListAppendWorkload:
    clients: int = 8
    txns: int = 300
    keys: int = 4
    mops_max: int = 4
    blind: bool = False  # transactions either only append or only read (no read-modify-write)
    # Reads before appends in each transaction, so no transaction reads its own appends.
    reads_first: bool = False
    abort_probability: float = 0.05
    info_probability: float = 0.0


async def run_list_append(store: Store, history: History, workload: ListAppendWorkload,
                          rng: random.Random) -> None:
    """Clients run random list-append transactions until ``workload.txns`` have been issued."""
    remaining = [workload.txns]
    next_element = [0]

    def random_txn() -> tuple:
        count = rng.randint(1, workload.mops_max)
        only = rng.choice(("append", "r")) if workload.blind else None
        mops = []
        for _ in range(count):
            kind = only or rng.choice(("append", "r"))
            key = rng.randrange(workload.keys)
            if kind == "append":
                next_element[0] += 1
                mops.append(("append", key, next_element[0]))
            else:
                mops.append(("r", key, None))
        if workload.reads_first:
            mops.sort(key=lambda mop: mop[0] != "r")
        return tuple(mops)

    async def client(worker: int) -> None:
        process = worker
        while remaining[0] > 0:
            remaining[0] -= 1
            mops = random_txn()
            handle = history.invoke(process, "txn", mops)
            txn = store.begin()
            done = []
            for kind, key, element in mops:
                await _pause(rng)
                if kind == "append":
                    txn.append(key, element)
                    done.append((kind, key, element))
                else:
                    done.append((kind, key, tuple(txn.read(key) or ())))
            await _pause(rng)
            if rng.random() < workload.abort_probability:
                txn.abort()
                handle.fail("client abort")
                continue
            if rng.random() < workload.info_probability:
                # The client loses the reply: the commit may or may not have happened.
                if rng.random() < 0.5:
                    try:
                        await txn.commit()
                    except Aborted:
                        pass
                handle.info("connection lost")
                process += workload.clients
                continue
            try:
                await txn.commit()
            except Aborted as exc:
                handle.fail(str(exc))
                continue
            handle.ok(tuple(done))

    async with trio.open_nursery() as nursery:
        for worker in range(workload.clients):
            nursery.start_soon(client, worker)


@dataclass
class BankWorkload:
    clients: int = 8
    txns: int = 300
    accounts: int = 5
    total: int = 100
    amount_max: int = 5
    read_probability: float = 0.3


async def run_bank(store: Store, history: History, workload: BankWorkload, rng: random.Random) -> None:
    """Transfers between random accounts and reads of every account, by concurrent clients."""
    accounts = list(range(workload.accounts))
    txn = store.begin()
    for account in accounts:
        txn.put(account, workload.total // workload.accounts + (account < workload.total % workload.accounts))
    await txn.commit()
    remaining = [workload.txns]

    async def client(worker: int) -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            txn = store.begin()
            if rng.random() < workload.read_probability:
                handle = history.invoke(worker, "read", None)
                balances = {}
                for account in accounts:
                    await _pause(rng)
                    balances[account] = txn.read(account)
                handle.ok(balances)
                continue
            source, target = rng.sample(accounts, 2)
            amount = rng.randint(1, workload.amount_max)
            handle = history.invoke(worker, "transfer", {"from": source, "to": target, "amount": amount})
            source_balance = txn.read(source)
            await _pause(rng)
            target_balance = txn.read(target)
            if source_balance < amount:
                txn.abort()
                handle.fail("insufficient funds")
                continue
            txn.put(source, source_balance - amount)
            txn.put(target, target_balance + amount)
            await _pause(rng)
            try:
                await txn.commit()
            except Aborted as exc:
                handle.fail(str(exc))
                continue
            handle.ok()

    async with trio.open_nursery() as nursery:
        for worker in range(workload.clients):
            nursery.start_soon(client, worker)


def run(workload: Callable[[History], Awaitable[None]]) -> History:
    """Run ``workload(history)`` in trio on a jumping mock clock; return the history."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    history = History(clock_ns=lambda: int(trio.current_time() * 1e9))

    async def main() -> None:
        await workload(history)
        history.close_pending()

    trio.run(main, clock=clock)
    return history
