"""Leased ranges: another adjudicator process takes the ranges of one that is cut off.

A restart (recovery.py) replaces an adjudicator that is known to be dead. A
process whose host is partitioned away is alive: it may still hold keys,
answer the clients on its side, or append what it has in flight once the
partition heals. Commits on the majority side must continue anyway, so
another process must take its ranges without being able to stop it. The
journal is not changed for this; ownership rides on what it already has.

**Leases bound every τ an owner can produce.** The owner of range i holds a
lease: (epoch e, owner process, expiry T). It lets a commit it coordinates
have a τ bound (`tau_max`, which the journal enforces when it sequences the
append, and which is fixed before anyone prepares) no higher than T, nor
than any participant's expiry as it last saw it; and, as a participant, it
accepts a prepare only if the coordinator's tau_max ≤ its own T (else
`LeaseExpiring`, nothing done, retried by the client). So every record of a
transaction that touched range i under epoch e — coordinated there, or
prepared there — has τ ≤ T, whatever becomes of the owner later: a paused
owner that wakes up, or a partition that heals, can only produce appends the
journal refuses (their τ would exceed tau_max) or that carry τ ≤ T.

**Leases live in the journal's log and are applied by storage as a
compare-and-set** (lease_record.py). A claim or renewal is a record appended
to journal 0; storage writes it to the range's system key only if the stored
epoch is the expected one, and a claim of a new epoch only if its τ is past
the stored expiry (or the claimant is the stored owner: a restarted process,
whose old incarnation is dead). Every storage replica applies the same log
in the same τ order, so all agree on the winner. A claimant learns whether it
won by a strong read of the key at its record's τ: storage answers only once
every record at or below that τ is applied. The τ > T rule makes the clocks
matter only for liveness: a claim made too early (a fast clock) simply fails.
An owner's known expiry is the stored expiry it read back after a renewal,
never more, so it is at most the final expiry of its epoch.

**The successor's floor.** Epoch e+1's claim is applied at τ_c > T_e (the
final expiry of epoch e: a renewal applied after the claim fails the CAS,
one applied before it has τ < τ_c and must have raised T_e below τ_c, or the
claim would have failed). Storage keeps `fence` = the highest expiry of all
earlier epochs, so the new owner's conflict floor is max(τ_c, fence, its
clock's latest): every record of any earlier owner has τ ≤ fence, so a
transaction with τ_start below the floor loses on every key of the range
(it overlapped, or may have overlapped, a commit the new owner never saw),
and one with τ_start ≥ floor reads as of a τ at which storage has applied
every such record, so first-committer-wins holds across the change (no lost
update). A self-claim by a restarted process is covered the same way:
fence includes its dead incarnation's last expiry; and since that
incarnation is dead, recovery.py's bound (`recovered_floor`) covers its
appends too, so the floor is the lower of the two (a restart then costs no
more than it did before leases, however long the lease). Holds a deposed owner
kept for other coordinators need nothing: its successor's floor is above
their tau_max. Transaction ids carry the epoch as their incarnation, so an
outcome question about an old epoch's transaction gets UNKNOWN from the
successor and the asker releases at tau_max, as after a restart (leases.py).

**The deposed owner** notices when a renewal's read-back (or its owner map)
shows a later epoch, and from then on answers commit and prepare for the
range with `NotOwner(successor)`; its lease ending makes it refuse with
LeaseExpiring even before it notices. Clients re-route (routing.py).

**Who takes over.** Any adjudicator process may claim any range. A range
nobody has claimed is claimed by its default owner (i mod processes) at
once, by others only after a lease's length. An expired lease (the
claimant's clock's `earliest` past T plus a margin) is claimed by the
process after the old owner first, each further one a `stagger` later, so
that one process normally wins. Each tick tries each range at most once.

**Lengths.** A lease lasts `lease_s` (LEASE_S) and is renewed once less than
three quarters of it remains, so its end is normally well beyond the
`tau_max` a commit asks for (recovery.TAU_MAX_SLACK_NS): the bound seldom
bites. An owner cut off from the journal stops committing when its lease
ends; its ranges are taken about `lease_s` + `margin` after its last renewal.

The embedded server runs no `AdjudicatorProcess`: its adjudicators, all in
one process, have no lease and keep their fixed addresses.
"""

from __future__ import annotations

import logging

import trio

from adjudicator.interface import AdjudicatorProcessStatus
from adjudicator.recovery import recovered_floor
from adjudicator.role import Adjudicator
from adjudicator.routing import OwnerMap, RangeLease, owned_address, read_leases
from cluster.clock import Clock
from cluster.topology import Topology
from cluster.transport import RemoteError, Unreachable
from journal.client import JournalClient
from storage.client import StorageClient
from storage.interface import StorageUnavailable
from storage.lease_record import LeaseClaim, LeaseState, encode_lease_payload

log = logging.getLogger(__name__)

LEASE_S = 12.0
# Renew once less than this share of the lease remains.
RENEW_WHEN_LEFT = 0.75
# How long past an expiry (by the claimant's clock's earliest) before a claim.
TAKEOVER_MARGIN_S = 0.5
# Between the claims of successive candidates for one range.
STAGGER_S = 1.0
# The journal that carries lease records (any one would do; all must agree).
LEASE_JOURNAL = 0


class AdjudicatorProcess:
    """The ranges one adjudicator process owns, their leases, and its claims on others'."""

    def __init__(self, process: int, processes: int, topology: Topology, transport: object, clock: Clock, *,
                 lease_s: float = LEASE_S, margin_s: float = TAKEOVER_MARGIN_S, stagger_s: float = STAGGER_S,
                 routes: OwnerMap | None = None) -> None:
        assert 0 <= process < processes
        self.process = process
        self.processes = processes
        self.topology = topology
        self.transport = transport
        self.clock = clock
        self.lease_ns = int(lease_s * 1e9)
        self.lease_s = lease_s
        self.margin_ns = int(margin_s * 1e9)
        self.stagger_s = stagger_s
        self.tick_s = lease_s / 8
        self.routes = routes if routes is not None else OwnerMap(topology, transport, clock, processes)
        self._storage = StorageClient(topology, transport)  # type: ignore[arg-type]
        self._journal = JournalClient(transport, topology.journal_addresses(LEASE_JOURNAL))
        self.leases: dict[int, RangeLease] = {}
        self.adjudicators: dict[int, Adjudicator] = {}
        self._scopes: dict[int, trio.CancelScope] = {}
        self._unclaimed_since: dict[int, tuple[LeaseState, float]] = {}
        self._nursery: trio.Nursery | None = None
        self.claims = 0
        self.takeovers = 0  # ranges won from another process

    def default_ranges(self) -> list[int]:
        return [i for i in range(self.topology.adjudicator_count) if i % self.processes == self.process]

    def owns(self, index: int) -> bool:
        lease = self.leases.get(index)
        return lease is not None and not lease.deposed

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Claim and renew; started once each default range has an owner (this process, or one
        whose lease still runs)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            started = False
            while True:
                refreshed = await self._tick()
                if not started and refreshed and all(self.routes.states[i].epoch for i in self.default_ranges()):
                    started = True
                    task_status.started()
                await trio.sleep(self.tick_s)

    # -- one round -------------------------------------------------------------

    async def _tick(self) -> bool:
        refreshed = await self.routes.refresh()
        now = trio.current_time()
        async with trio.open_nursery() as nursery:
            for index in range(self.topology.adjudicator_count):
                lease = self.leases.get(index)
                seen = self.routes.states[index]
                if lease is not None and not lease.deposed:
                    if seen.epoch > lease.epoch:
                        self._depose(lease, seen)
                    elif lease.expiry - self.clock.latest() < self.lease_ns * RENEW_WHEN_LEFT:
                        nursery.start_soon(self._renew, lease)
                    continue
                if refreshed and self._should_claim(index, seen, now):
                    nursery.start_soon(self._claim, index, seen)
        return refreshed

    def _should_claim(self, index: int, seen: LeaseState, now: float) -> bool:
        if seen.epoch and seen.owner == self.process:
            return True  # ours, but not held by this incarnation (a restart, a claim we lost track of)
        if seen.epoch and self.clock.now().earliest <= seen.expiry + self.margin_ns:
            self._unclaimed_since.pop(index, None)
            return False
        last_owner = seen.owner if seen.epoch else self.routes.default_owner(index)
        rank = (self.process - last_owner) % self.processes  # 0: the default owner of a never-claimed range
        if rank == 0 and not seen.epoch:
            return True
        since = self._unclaimed_since.get(index)
        if since is None or since[0] != seen:
            since = self._unclaimed_since[index] = (seen, now)
        wait = (rank - 1) * self.stagger_s + (0 if seen.epoch else self.lease_s)
        return now - since[1] >= wait

    # -- the journal's side ------------------------------------------------------

    async def _record(self, claim: LeaseClaim) -> LeaseState | None:
        """Append a lease record and read back what storage made of it (None: no answer)."""
        with trio.move_on_after(self.lease_s / 2):
            try:
                _, tau = await self._journal.append(encode_lease_payload(claim), self.clock.latest())
                self.clock.observe(tau)
                (state,) = await read_leases(self._storage, tau, [claim.index])
            except (Unreachable, RemoteError, StorageUnavailable) as exc:
                log.info("adjudicator process %d: lease record for range %d failed: %s", self.process,
                         claim.index, exc)
                return None
            self.routes.learn(claim.index, state)
            return state
        return None

    async def _claim(self, index: int, seen: LeaseState) -> None:
        self.claims += 1
        claim = LeaseClaim(index, seen.epoch + 1, self.process, self.clock.latest() + self.lease_ns, seen.epoch)
        state = await self._record(claim)
        if state is None or state.epoch != claim.epoch or state.owner != self.process:
            return
        # Our record is the one applied: its τ is at most the read's, and
        # every earlier epoch's records are at or below `fence` (module docstring).
        bound = state.fence
        if seen.owner == self.process:
            # Its dead incarnation (a restart, the directory lock says) could
            # append nothing above recovery.py's bound either.
            bound = min(bound, recovered_floor(self.clock, 2))
        floor = max(self.clock.latest(), bound)
        lease = RangeLease(index, state.epoch, self.process, state.expiry, floor)
        if seen.epoch and seen.owner != self.process:
            self.takeovers += 1
            log.warning("adjudicator process %d takes range %d from process %d (epoch %d, floor %d)",
                        self.process, index, seen.owner, state.epoch, floor)
        await self._serve(lease)

    async def _renew(self, lease: RangeLease) -> None:
        claim = LeaseClaim(lease.index, lease.epoch, self.process, self.clock.latest() + self.lease_ns, lease.epoch)
        state = await self._record(claim)
        if state is None:
            return  # the lease runs out unless a later renewal lands
        if state.epoch == lease.epoch and state.owner == self.process:
            lease.expiry = max(lease.expiry, state.expiry)
        else:
            self._depose(lease, state)

    def _depose(self, lease: RangeLease, state: LeaseState) -> None:
        if lease.deposed:
            return
        lease.successor, lease.successor_epoch = state.owner, state.epoch
        log.warning("adjudicator process %d: range %d (epoch %d) now belongs to process %d (epoch %d)",
                    self.process, lease.index, lease.epoch, state.owner, state.epoch)

    # -- serving -----------------------------------------------------------------

    async def _serve(self, lease: RangeLease) -> None:
        index = lease.index
        address = owned_address(index, self.process)
        old = self._scopes.pop(index, None)
        if old is not None:
            self.transport.unserve(address)  # type: ignore[attr-defined]
            old.cancel()
        adjudicator = Adjudicator(index, self.topology, self.transport, self.clock,  # type: ignore[arg-type]
                                  range_lease=lease, routes=self.routes)
        assert self._nursery is not None
        self._scopes[index] = await self._nursery.start(self._run_adjudicator, adjudicator)
        self.leases[index] = lease
        self.adjudicators[index] = adjudicator
        self.transport.serve(address, adjudicator)  # type: ignore[attr-defined]

    async def _run_adjudicator(self, adjudicator: Adjudicator, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:  # cancelled when the range is claimed again
            async with trio.open_nursery() as nursery:
                await nursery.start(adjudicator.run)
                task_status.started(scope)

    async def rpc_status(self) -> AdjudicatorProcessStatus:
        owned = tuple(sorted(i for i in self.leases if self.owns(i)))
        return AdjudicatorProcessStatus(
            process=self.process, claims=self.claims, takeovers=self.takeovers,
            ranges={i: (lease.epoch, lease.expiry, lease.deposed) for i, lease in self.leases.items()},
            owned=owned,
            commits=sum(self.adjudicators[i].commits for i in owned if i in self.adjudicators),
            conflicts=sum(self.adjudicators[i].conflicts for i in owned if i in self.adjudicators),
        )  # fmt: skip
