"""Where each adjudicator range is served now: one process's owner map.

When ranges are leased (adjudicator/ownership.py), the process that owns a
range can change, so nobody may assume the config's placement. Every
adjudicator process serves range i at `owned_address(i, process)`, and
whoever calls an adjudicator (`AdjudicatorClient` in QPs and the DynamoDB
front end, coordinators preparing and deciding at participants, participants
asking coordinators for outcomes) goes through an `OwnerMap`: the lease of
each range as last read from storage (`lease_record.lease_key`), refreshed
periodically, when an owner answers `NotOwner` (its hint is learned at once
if it names a newer epoch), and when an owner is unreachable. A stale map
costs a retry, never a wrong answer: only the current owner accepts a commit
or a prepare for its range.

Before anything is known, range i is looked for at its default owner (i mod
the number of adjudicator processes), which is who claims it first.

Over TCP the address book maps every `owned_address` to its process's
endpoint (`address_book`). A process installs its map for its transport
(`install`), and `AdjudicatorClient`s made on that transport use it; the
embedded server installs none, so its clients and adjudicators keep their
fixed `adjudicator/<i>` peers and pay nothing for routing.

`RangeLease` is the owner's own side: the lease it holds on one range, as
the `Adjudicator` of that range sees it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import trio

from adjudicator.interface import NotOwner
from cluster.clock import Clock
from cluster.topology import Topology
from cluster.transport import Peer, RemoteError, Unreachable
from storage.client import StorageClient
from storage.interface import StorageUnavailable
from storage.lease_record import LeaseState, lease_key

log = logging.getLogger(__name__)

# Refreshes closer together than this share one read (a burst of NotOwner or
# Unreachable answers after a takeover must not become a burst of reads).
REFRESH_MIN_INTERVAL_S = 0.05
# A refresh that takes longer (storage cut off with its caller) gives up; the map stays as it was.
REFRESH_TIMEOUT_S = 2.0
# How often a map's `run` loop refreshes it.
REFRESH_INTERVAL_S = 1.0


def owned_address(index: int, process: int) -> str:
    """The transport address at which adjudicator process `process` serves range `index`."""
    return f"adjudicator/{index}@{process}"


def address_book(range_count: int, endpoints: list[tuple[str, int]]) -> dict[str, tuple[str, int]]:
    """Every `owned_address` -> its process's endpoint (`endpoints[p]`: process p's host and port)."""
    return {owned_address(i, p): endpoint for i in range(range_count) for p, endpoint in enumerate(endpoints)}


@dataclass
class RangeLease:
    """The lease an adjudicator process holds on one range, as far as it knows:
    `expiry` is the highest it has seen applied (so every τ it lets a commit of
    the range have is at most that), and `floor` is where its conflict history
    starts (ownership.py)."""

    index: int
    epoch: int
    process: int
    expiry: int
    floor: int
    successor: int = -1  # once deposed: the process that took the range (-1 unknown)
    successor_epoch: int = 0

    @property
    def deposed(self) -> bool:
        return self.successor_epoch > 0

    def not_owner(self) -> NotOwner:
        return NotOwner(self.index, self.successor, self.successor_epoch)


async def read_leases(storage: StorageClient, tau: int, indexes: list[int]) -> list[LeaseState]:
    """The leases of `indexes` as of τ (a strong read: every lease record at or below τ is applied)."""
    values = await storage.get([lease_key(i) for i in indexes], tau, None)
    return [LeaseState.from_value(v) for v in values]


class OwnerMap:
    def __init__(self, topology: Topology, transport: object, clock: Clock, processes: int, *,
                 storage: StorageClient | None = None) -> None:
        assert processes >= 1
        self.topology = topology
        self.processes = processes
        self.clock = clock
        self.states: list[LeaseState] = [LeaseState() for _ in range(topology.adjudicator_count)]
        self._transport = transport
        self._storage = storage if storage is not None else StorageClient(topology, transport)  # type: ignore[arg-type]
        self._peers: dict[int, Peer] = {}
        self._refreshing: trio.Event | None = None
        self._refreshed_at = -math.inf
        self.refreshes = 0

    def default_owner(self, index: int) -> int:
        return index % self.processes

    def owner(self, index: int) -> int:
        state = self.states[index]
        return state.owner if state.epoch else self.default_owner(index)

    def expiry(self, index: int) -> int:
        """The range's lease expiry as last seen (0: unknown); its owner's is at least this."""
        return self.states[index].expiry

    def peer(self, index: int) -> Peer:
        peer = self._peers.get(index)
        if peer is None:
            peer = self._peers[index] = self._transport.connect(owned_address(index, self.owner(index)))  # type: ignore[attr-defined]
        return peer

    def learn(self, index: int, state: LeaseState) -> bool:
        """Take a newer view of one range's lease; True if its owner changed."""
        old = self.states[index]
        if state.epoch < old.epoch or (state.epoch == old.epoch and state.expiry <= old.expiry):
            return False
        before = self.owner(index)
        self.states[index] = state
        if self.owner(index) == before:
            return False
        self._peers.pop(index, None)
        return True

    def learn_hint(self, exc: NotOwner) -> bool:
        """What a `NotOwner` answer says; True if it names another owner to try."""
        if exc.owner < 0:
            return False
        return self.learn(exc.index, LeaseState(exc.epoch, exc.owner, 0, 0))

    async def refresh(self) -> bool:
        """Read every range's lease from storage; False if storage did not answer in time.
        Concurrent callers share one read."""
        if self._refreshing is not None:
            await self._refreshing.wait()
            return True
        if trio.current_time() - self._refreshed_at < REFRESH_MIN_INTERVAL_S:
            return True
        done = self._refreshing = trio.Event()
        try:
            with trio.move_on_after(REFRESH_TIMEOUT_S):
                try:
                    states = await read_leases(self._storage, self.clock.latest(), list(range(len(self.states))))
                except (Unreachable, RemoteError, StorageUnavailable) as exc:
                    log.info("owner map: reading the leases failed: %s", exc)
                    return False
                for index, state in enumerate(states):
                    self.learn(index, state)
                self._refreshed_at = trio.current_time()
                self.refreshes += 1
                return True
            return False
        finally:
            self._refreshing = None
            done.set()

    async def reroute(self, index: int, exc: Exception) -> bool:
        """After a call to range `index`'s owner failed with `exc`: whether another
        owner is now known to try (from a NotOwner hint, or a fresh read)."""
        if isinstance(exc, NotOwner) and self.learn_hint(exc):
            return True
        before = self.owner(index)
        await self.refresh()
        return self.owner(index) != before

    async def run(self, interval_s: float = REFRESH_INTERVAL_S, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Refresh the map every `interval_s` (a QP's or front end's background task)."""
        task_status.started()
        while True:
            await self.refresh()
            await trio.sleep(interval_s)


_installed: WeakKeyDictionary[object, OwnerMap] = WeakKeyDictionary()


def install(transport: object, owner_map: OwnerMap) -> None:
    """Make `owner_map` the routes of every `AdjudicatorClient` made on `transport`."""
    _installed[transport] = owner_map


def installed(transport: object) -> OwnerMap | None:
    return _installed.get(transport)
