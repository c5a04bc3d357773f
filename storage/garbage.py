"""Which keys of a store hold versions to collect, so that collection does not walk every key.

A write to a key that already has a version leaves the older one behind; it can go once the
GC horizon passes the write's τ (no snapshot reads below the horizon). A store queues each
such (τ, key) as it applies it, and the storage node collects the keys whose τ the horizon has
passed, a piece at a time. A node used to find them by walking every key of every store once
a minute: under TPC-B at scale 8 (1.6 million keys per replica) that was ~13 % of the server's
CPU, and each walk stalled every client for up to a second.

What the queue cannot know is owed to a full sweep (`Store.collect_some`) instead:
- versions that were there before the queue (a store reopened, loaded from a checkpoint, or
  copied from a peer): the node bounds their τ when it first sees the store ready (`untracked`);
- writes past the queue's bound, which keeps its memory bounded whatever the write rate:
  their τs are owed, and a sweep is due once the horizon reaches the first of them. A storage
  node shares `NODE_QUEUE_MAX` entries among its stores (`share_room`), so that its memory does
  not grow with the number of shards it holds.
"""

from __future__ import annotations

from collections import deque

# Entries a storage node's stores may hold in all (each ~150 bytes: the τ, the key and the
# pair: ~40 MB), and one store until its node first shares the room out. Past its bound a
# store's writes are owed to a full sweep rather than remembered.
NODE_QUEUE_MAX = 262_144
QUEUE_MAX = 65_536


class GarbageQueue:
    __slots__ = ("_entries", "_owed_first", "_owed_last", "limit", "untracked")

    def __init__(self, *, untracked: bool = False) -> None:
        self._entries: deque[tuple[int, bytes]] = deque()
        self.limit = QUEUE_MAX
        # True while the store may hold versions older than the queue whose τ nobody has
        # bounded yet; the node then owes them a sweep (`owe`) as of what it has applied.
        self.untracked = untracked
        self._owed_first: int | None = None  # τs of versions a sweep must find: the smallest,
        self._owed_last: int | None = None  # and the largest

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, tau: int, key: bytes) -> None:
        """`key` got a version at `tau` over an older one: collect it once the horizon passes `tau`."""
        if len(self._entries) < self.limit:
            self._entries.append((tau, key))
        else:
            self.owe(tau)

    def owe(self, tau: int) -> None:
        """Versions up to `tau` that the queue does not hold: a full sweep is to find them."""
        if self._owed_first is None or tau < self._owed_first:
            self._owed_first = tau
        if self._owed_last is None or tau > self._owed_last:
            self._owed_last = tau

    def ready(self, horizon: int, count: int) -> list[bytes]:
        """Up to `count` keys (each once) whose queued τ is at or below `horizon`, taken off
        the queue. Writes arrive in τ order per journal, so the queue is nearly sorted: a
        key queued behind a slightly later τ waits for that one's turn."""
        entries = self._entries
        keys: dict[bytes, None] = {}
        while entries and len(keys) < count and entries[0][0] <= horizon:
            keys[entries.popleft()[1]] = None
        return list(keys)

    def sweep_due(self, horizon: int) -> bool:
        return self._owed_first is not None and self._owed_first <= horizon

    def sweep_started(self, horizon: int) -> None:
        """A full sweep at `horizon` begins: it finds what was owed up to there."""
        if self._owed_last is not None and self._owed_last <= horizon:
            self._owed_first = self._owed_last = None
        elif self._owed_first is not None:
            self._owed_first = horizon + 1


def share_room(queues: list[GarbageQueue], total: int | None = None) -> None:
    """Set each queue's bound to what it holds plus an equal share of the room the node has
    left (`total` entries in all, NODE_QUEUE_MAX by default); called on every GC pass, so a
    store that keeps being written gets most of the room over a few passes, and the node's
    queues never hold much more than `total` together (one pass's writes at most)."""
    if not queues:
        return
    total = NODE_QUEUE_MAX if total is None else total
    room = max(0, total - sum(len(q) for q in queues))
    share = room // len(queues)
    for queue in queues:
        queue.limit = len(queue) + share
