"""First committer wins: the conflict rule of snapshot isolation, as a pure table.

For every key an adjudicator owns it remembers the τ of the last commit that
wrote (or locked FOR UPDATE) it. A transaction that started at τ_start may
commit only if none of the keys it writes or locks was committed after
τ_start: otherwise a concurrent transaction got there first. Keys read with
a dependency ("check" keys: the schema of each table a transaction writes)
must not have been written after τ_start either, but checking them records
nothing. "Share" keys are DSQL's KEY SHARE (a foreign key's parent row): they
are checked like check keys and also recorded, so that a later writer of the
key that started before the share committed conflicts too — a child insert
and a concurrent delete of its parent never both commit, whichever is first.

Between the check and the journal's answer a transaction's keys are
*pending*. A second transaction touching a pending key must not commit
(if the first commits, the second overlapped it), so it is refused rather than
made to wait. The price is a rare abort of the second when the first then
fails. One exception keeps writers of dependency keys (DDL writing a table's
schema stamp, the delete of a foreign key's parent) from starving behind a
stream of readers: a write that finds only in-flight check/share holders
(READERS) may declare an *intent* on those keys, which makes every new check
or share of them conflict, and retry once the holders already in flight have
finished (the role waits a few milliseconds for that). No SQL statement ever
waits; only such a commit, for commits already in progress.

History is bounded: entries older than the maximum transaction age are
dropped (a bounded number per call, oldest first: commits are also kept in
the order they were recorded, so forgetting never walks the whole table)
and remembered only as `floor`, the τ at or below which every dropped
commit happened. A transaction older than the floor conflicts on every key;
such a transaction has outlived the age limit anyway. History is bounded in
size too (`forget_oldest`): a bulk load writes tens of thousands of keys a
second, and five minutes of them would hold gigabytes, so past a number of
entries the oldest go. What they said is kept per *group* of keys (the first
`GROUP_BYTES` bytes: for SQL a table's rows, one of its indexes, or its schema
stamp): the group's floor rises to the τ of each key forgotten in it, and a
writer older than the floor of the group of a key it writes or checks fails
with a conflict (40001) though within the age limit. That is safe (a conflict
is always a correct answer) and narrow: it takes a transaction older than the
history kept, writing where a bulk load wrote (a load's enclosing block, whose
own keys are its tables' schema stamps, keeps its answer). A new adjudicator (a
restart, later a failover) knows nothing of earlier commits, so it starts
with a floor at or above every τ they can have (role.py and recovery.py
choose it).

No I/O, no clock, no trio: the role module feeds it.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter

# Keys are grouped by this many leading bytes for the floors of forgotten history:
# namespace, table key id and index id for SQL keys (storage/keys.py).
GROUP_BYTES = 7
_GROUP_OF = itemgetter(slice(0, GROUP_BYTES))


class ConflictKind(enum.Enum):
    COMMITTED = "committed"  # a key was committed after τ_start
    PENDING = "pending"  # a key is held by a transaction in flight
    READERS = "readers"  # a write found only in-flight check/share holders on a key


@dataclass(frozen=True, slots=True)
class Conflict:
    key: bytes
    kind: ConflictKind


class ConflictTable:
    def __init__(self, floor: int) -> None:
        self.floor = floor
        self._last_commit: dict[bytes, int] = {}
        self._last_share: dict[bytes, int] = {}
        self._writer: dict[bytes, int] = {}  # pending writes and locks: key -> txn id
        self._readers: dict[bytes, set[int]] = {}  # pending checks and shares: key -> txn ids
        self._intents: dict[bytes, int] = {}  # writers waiting for readers to drain: key -> txn id
        # txn id -> (τ_start, writes, checks, shares) of a prepared transaction
        self._held: dict[int, tuple[int, tuple[bytes, ...], tuple[bytes, ...], tuple[bytes, ...]]] = {}
        # (τ, key) of every recorded commit and share, in the order recorded (τ
        # mostly rising): what forget_before walks instead of the whole table.
        self._recorded: deque[tuple[int, bytes, bool]] = deque()
        # Per key group (GROUP_BYTES), the highest τ of a commit or share `forget_oldest`
        # forgot there: a writer older than it conflicts on the group's keys.
        self._group_floors: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._last_commit)

    def last_commit(self, key: bytes) -> int:
        return self._last_commit.get(key, self.floor)

    def check(
        self, tau_start: int, writes: Iterable[bytes], checks: Iterable[bytes], txn_id: int = -1
    ) -> Conflict | None:
        writes = tuple(writes)
        checks = tuple(checks)
        if self._clear(tau_start, writes, checks):
            return None
        return self._first_conflict(tau_start, writes, checks, txn_id)

    def _clear(self, tau_start: int, writes: tuple[bytes, ...], checks: tuple[bytes, ...]) -> bool:
        """True when no key can conflict: each table looked up for all keys at once, in C
        (a bulk load's commits carry thousands of keys). False says only "look closer":
        `_first_conflict` finds the conflict, the first in the keys' order, if there is one."""
        floor = self.floor
        keys = writes + checks
        if not keys:
            return True
        if self._group_floors and max(map(self._group_floors.get, map(_GROUP_OF, keys), repeat(0))) > tau_start:
            return False
        if max(map(self._last_commit.get, keys, repeat(floor))) > tau_start:
            return False
        if writes and self._last_share and max(map(self._last_share.get, writes, repeat(0))) > tau_start:
            return False
        # Any holder at all (even the transaction itself) sends it the long way.
        if self._writer and any(map(self._writer.__contains__, keys)):
            return False
        if self._intents and any(map(self._intents.__contains__, keys)):
            return False
        return not (writes and self._readers and any(map(self._readers.__contains__, writes)))

    def _first_conflict(
        self, tau_start: int, writes: tuple[bytes, ...], checks: tuple[bytes, ...], txn_id: int
    ) -> Conflict | None:
        last = self._last_commit
        shared = self._last_share
        floor = self.floor
        groups = self._group_floors
        if groups:
            # Older than the history kept for a key's group: what it would conflict with
            # may be forgotten (a share after it, on a key whose last commit is still known).
            for key in (*writes, *checks):
                if groups.get(key[:GROUP_BYTES], 0) > tau_start:
                    return Conflict(key, ConflictKind.COMMITTED)
        for key in writes:
            if last.get(key, floor) > tau_start or shared.get(key, 0) > tau_start:
                return Conflict(key, ConflictKind.COMMITTED)
            holder = self._writer.get(key)
            if holder is not None and holder != txn_id:
                return Conflict(key, ConflictKind.PENDING)
            intent = self._intents.get(key)
            if intent is not None and intent != txn_id:
                return Conflict(key, ConflictKind.PENDING)
            readers = self._readers.get(key)
            if readers and (len(readers) > 1 or txn_id not in readers):
                return Conflict(key, ConflictKind.READERS)
        for key in checks:
            if last.get(key, floor) > tau_start:
                return Conflict(key, ConflictKind.COMMITTED)
            holder = self._writer.get(key)
            if holder is not None and holder != txn_id:
                return Conflict(key, ConflictKind.PENDING)
            intent = self._intents.get(key)
            if intent is not None and intent != txn_id:
                return Conflict(key, ConflictKind.PENDING)
        return None

    def readers_of(self, keys: Iterable[bytes], txn_id: int) -> bool:
        """Whether any other transaction holds a check or share on `keys`."""
        return any(self._readers.get(k, set()) - {txn_id} for k in keys)

    def intend(self, txn_id: int, keys: Iterable[bytes]) -> list[bytes]:
        """Claim `keys` for a waiting writer; returns the keys it newly claimed."""
        claimed = []
        for key in keys:
            if key not in self._intents:
                self._intents[key] = txn_id
                claimed.append(key)
        return claimed

    def drop_intents(self, txn_id: int, keys: Iterable[bytes]) -> None:
        for key in keys:
            if self._intents.get(key) == txn_id:
                del self._intents[key]

    def prepare(
        self,
        txn_id: int,
        tau_start: int,
        writes: tuple[bytes, ...],
        checks: tuple[bytes, ...],
        shares: tuple[bytes, ...] = (),
    ) -> Conflict | None:
        """Check, and if clear hold the keys until `commit` or `abort`."""
        assert txn_id not in self._held, txn_id
        conflict = self.check(tau_start, writes, checks + shares, txn_id)
        if conflict is not None:
            return conflict
        self._writer.update(zip(writes, repeat(txn_id)))
        for key in checks + shares:
            self._readers.setdefault(key, set()).add(txn_id)
        self._held[txn_id] = (tau_start, writes, checks, shares)
        return None

    def commit(self, txn_id: int, tau_commit: int) -> None:
        tau_start, writes, _, shares = self._held[txn_id]
        # τ_commit exceeds every written key's last commit: `prepare` found none after
        # τ_start, and no other transaction can commit a key while this one holds it. So one
        # comparison stands for a lookup per key (a bulk load commits thousands of keys).
        assert tau_commit > tau_start, (tau_start, tau_commit)
        last = self._last_commit
        recorded = self._recorded
        if writes:
            last.update(zip(writes, repeat(tau_commit)))
            recorded.extend(zip(repeat(tau_commit), writes, repeat(False)))
        shared = self._last_share
        for key in shares:
            if shared.get(key, 0) < tau_commit:
                shared[key] = tau_commit
                recorded.append((tau_commit, key, True))
        self._release(txn_id)

    def abort(self, txn_id: int) -> None:
        if txn_id in self._held:
            self._release(txn_id)

    def is_held(self, txn_id: int) -> bool:
        return txn_id in self._held

    def _release(self, txn_id: int) -> None:
        _, writes, checks, shares = self._held.pop(txn_id)
        for key in writes:
            if self._writer.get(key) == txn_id:
                del self._writer[key]
        for key in checks + shares:
            readers = self._readers.get(key)
            if readers is not None:
                readers.discard(txn_id)
                if not readers:
                    del self._readers[key]

    def forget_before(self, horizon: int) -> int:
        """Drop history at or below `horizon`; returns how many keys' commits were dropped."""
        dropped = 0
        while True:
            count, more = self.forget_some(horizon, 1 << 62)
            dropped += count
            if not more:
                return dropped

    def forget_oldest(self, keep: int, limit: int) -> bool:
        """Drop the oldest recorded commits and shares until at most `keep` remain,
        looking at no more than `limit`; a key's last commit (or share) forgotten raises
        its group's floor to it (one already superseded forgets nothing). Returns
        whether more remain to drop."""
        recorded, last, shared, groups = self._recorded, self._last_commit, self._last_share, self._group_floors
        looked = 0
        while len(recorded) > keep:
            if looked == limit:
                return True
            tau, key, share = recorded.popleft()
            looked += 1
            table = shared if share else last
            if table.get(key) == tau:
                del table[key]
                group = key[:GROUP_BYTES]
                if groups.get(group, 0) < tau:
                    groups[group] = tau
        return False

    def group_floor(self, key: bytes) -> int:
        """The floor of `key`'s group: a writer of it older than this conflicts (0: none)."""
        return self._group_floors.get(key[:GROUP_BYTES], 0)

    def group_floor_max(self) -> int:
        """The highest floor of a key group (0: none; `forget_oldest`)."""
        return max(self._group_floors.values(), default=0)

    @property
    def recorded(self) -> int:
        """Commits and shares remembered (superseded ones included): what `forget_oldest` bounds."""
        return len(self._recorded)

    def forget_some(self, horizon: int, limit: int) -> tuple[int, bool]:
        """forget_before, looking at no more than `limit` recorded commits, oldest
        first: (commits dropped, whether more remain to look at)."""
        if horizon <= self.floor:
            return 0, False
        recorded, last, shared = self._recorded, self._last_commit, self._last_share
        looked = dropped = 0
        while recorded and recorded[0][0] <= horizon:
            if looked == limit:
                return dropped, True
            tau, key, share = recorded.popleft()
            looked += 1
            table = shared if share else last
            if table.get(key) == tau:  # not committed (or shared) again since
                del table[key]
                dropped += not share
        # A share at or below the horizon can only conflict with transactions
        # older than the floor, which conflict on every key anyway. (A commit
        # recorded out of τ order may outlive the horizon a little: harmless,
        # as such old transactions conflict on every key.)
        self.floor = horizon
        if self._group_floors:  # those at or below the floor say nothing more than it
            self._group_floors = {g: t for g, t in self._group_floors.items() if t > horizon}
        return dropped, False
