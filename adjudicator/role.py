"""The adjudicator as a service: conflict checks and commits for a key range.

A commit moves through named stages:

  checking    the coordinator (the adjudicator the QP asked) checks and holds
              its own keys, and fixes `tau_max`, the highest τ the journal
              may give the append (recovery.py); the owners of the other keys
              are asked to `prepare` theirs, in parallel, with tau_max. Any
              conflict aborts everyone.
  journaling  the whole transaction is appended to one journal as one
              record (the coordinator spreads its commits over the journals;
              the commits that reach this stage together travel as one
              append request, each still its own record: batching.py).
              That append is the commit point: the journal's leader picks
              τ_commit > τ_start (above every earlier commit of these keys,
              which the checks guarantee were ≤ τ_start) and ≤ tau_max, and
              answers once the record is chosen by a majority of the
              journal's replicas. An append whose fate the journal cannot
              tell (a timeout, a lost leader) may still be chosen later, so
              its keys are recorded as committed at the highest τ it could
              have, which makes every transaction that overlapped it lose,
              exactly as if it had committed; the client hears "server
              unavailable".
  deciding    every participant learns τ_commit, records it as the last
              commit of its keys and releases them.
  acknowledged the QP gets τ_commit (and then commit-waits).

Only one journal is written, so a cross-range transaction is one record and
becomes visible atomically on every shard at τ_commit.
(This follows DSQL's published description: every adjudicator owning a key
votes, one journal append commits. The exact protocol AWS runs is not
public; this is our reading of it.)

Failures (the arguments are in the modules named):
- A participant that hears no decide holds its keys only for a lease, then
  asks the coordinator (`outcome`) and, failing an exact answer, records
  them as committed at tau_max (leases.py).
- A restarted adjudicator counts its incarnation on its `Disk` and starts
  with a floor above every τ its dead incarnation could have had a hand in
  (recovery.py).
- In a cluster whose ranges are leased, so that another process can take
  the ranges of one that is cut off (ownership.py), an adjudicator is given
  its `RangeLease`: its epoch is its incarnation, its floor comes from the
  lease, every τ it lets a commit or a prepare have is within the lease
  (within the participants' too), a deposed one answers NotOwner, and it
  reaches its peers through the process's `OwnerMap` (routing.py).
"""

from __future__ import annotations

import itertools
import logging
import math

import trio

from adjudicator.batching import DEPTH as BATCH_DEPTH
from adjudicator.batching import CommitBatcher
from adjudicator.conflicts import Conflict, ConflictKind, ConflictTable
from adjudicator.interface import (
    ADJUDICATORS_MAX,
    AdjudicatorStarting,
    AdjudicatorStatus,
    Commit,
    CommitConflict,
    Committed,
    Decide,
    LeaseExpiring,
    NotOwner,
    Outcome,
    OutcomeQuery,
    OutcomeReply,
    OutcomeState,
    Prepare,
    TransactionTooOld,
    checked,
    make_txn_id,
    same_incarnation,
)
from adjudicator.leases import Leases, Outcomes
from adjudicator.recovery import APPEND_TAU_SLACK_NS, next_incarnation, recovered_floor, tau_max
from adjudicator.routing import OwnerMap, RangeLease
from cluster import codec, metrics
from cluster.clock import Clock
from cluster.disk import Disk
from cluster.timeslice import checkpoint_if_due
from cluster.topology import Topology
from cluster.transport import InProcessTransport, RemoteError, ReplyLost, Unreachable
from journal.client import APPEND_TIMEOUT_S, JournalClient
from journal.errors import AppendUncertain
from storage import keys

# Re-exported: callers imported these from here before interface.py existed.
__all__ = [
    "APPEND_TAU_SLACK_NS", "Adjudicator", "CommitConflict", "TransactionTooOld", "encode_commit_payload",
]  # fmt: skip

log = logging.getLogger(__name__)

# Transactions are capped at five minutes (DSQL); history is kept a little
# longer so that the age check, not a missing entry, decides.
TRANSACTION_AGE_MAX_NS = 300 * 1_000_000_000
HISTORY_MARGIN_NS = 10 * 1_000_000_000
FORGET_INTERVAL_S = 5.0
FORGET_PIECE = 4096  # keys forgotten between scheduler turns (cluster/timeslice.py)
# Commits remembered at most (conflicts.py `forget_oldest`): ~200 bytes each, so about
# 200 MB; a bulk load passes it in under a minute, and only writers older than what is
# kept then conflict for it.
HISTORY_ENTRIES_MAX = 1_000_000
# How long a writer of dependency keys waits for in-flight readers of them
# (commits already past their check; they finish within a journal append).
READERS_WAIT_MAX_S = 2.0
READERS_POLL_S = 0.0005
# A participant's hold lasts this long without a decide before it asks the
# coordinator: longer than a live coordinator takes from prepare to decide
# (other participants' readers wait, then the journal client's append
# timeout), so that it is normally heard from first. Safety does not depend
# on it (leases.py).
PREPARE_LEASE_S = READERS_WAIT_MAX_S + APPEND_TIMEOUT_S + 1.0
# A coordinator that says "still in flight" gets this many more leases, then
# the hold ends anyway (at tau_max, which is always safe).
LEASE_RENEWALS_MAX = 3
# An `outcome` question gets this long before the coordinator counts as gone.
OUTCOME_TIMEOUT_S = 2.0
# How long a coordinator answers for a decision some participant may not
# have heard: past every lease and renewal of that participant's hold.
OUTCOME_RETENTION_S = PREPARE_LEASE_S * (LEASE_RENEWALS_MAX + 2)


def _conflict_error(conflict: Conflict) -> CommitConflict:
    metrics.CONFLICTS.labels(kind=conflict.kind.value).inc()
    schema = keys.is_schema_key(conflict.key)
    return CommitConflict(schema, f"{conflict.kind.value} key {conflict.key.hex()}")


class Adjudicator:
    def __init__(
        self,
        index: int,
        topology: Topology,
        transport: InProcessTransport,
        clock: Clock,
        *,
        disk: Disk | None = None,
        incarnation: int | None = None,
        lease_s: float | None = None,
        range_lease: RangeLease | None = None,
        routes: OwnerMap | None = None,
        append_depth: int = BATCH_DEPTH,
    ) -> None:
        """`incarnation` counts this adjudicator's starts (1: the first ever); if None it
        is counted on `disk` when `run` starts (before that, calls are refused), or is
        1 without a disk (the embedded server, see recovery.py).

        With `range_lease` (a leased cluster, ownership.py) the lease's epoch is the
        incarnation and its floor the conflict floor; `routes` then finds the peers.
        `append_depth`: journal append requests in flight per journal (batching.py)."""
        assert topology.adjudicator_count <= ADJUDICATORS_MAX
        self.index = index
        self.topology = topology
        self.clock = clock
        self.disk = disk
        self.incarnation = 0  # 0 until known
        self.table = ConflictTable(floor=clock.latest())
        self._journals = [
            JournalClient(transport, topology.journal_addresses(j)) for j in range(topology.journal_count)
        ]
        # The commits that arrive together reach each journal as one request (batching.py).
        self._batchers = [CommitBatcher(journal, depth=append_depth) for journal in self._journals]
        self._next_journal = topology.journal_for_adjudicator(index)
        self._peers = [transport.connect(topology.adjudicator_address(i)) for i in range(topology.adjudicator_count)]
        self._counter = itertools.count(1)
        # As participant: holds for other coordinators, each with a lease.
        self.leases = Leases(PREPARE_LEASE_S if lease_s is None else lease_s, LEASE_RENEWALS_MAX)
        # As coordinator: what a participant whose lease ran out may ask about.
        self.outcomes = Outcomes(OUTCOME_RETENTION_S)
        self._crashed = False
        self.commits = 0
        self.conflicts = 0
        self.uncertain = 0
        self.leases_expired = 0  # holds released at tau_max
        self.range_lease = range_lease
        self.routes = routes
        self.lease_refusals = 0  # commits and prepares refused for want of lease
        if range_lease is not None:
            assert range_lease.index == index and routes is not None
            self.incarnation = range_lease.epoch
            self.table.floor = max(self.table.floor, range_lease.floor)
        elif incarnation is not None or disk is None:
            self._start(incarnation or 1)

    def _start(self, incarnation: int) -> None:
        self.incarnation = incarnation
        self.table.floor = recovered_floor(self.clock, incarnation)
        if incarnation > 1:
            log.info("adjudicator %d: incarnation %d starts with floor %d", self.index, incarnation, self.table.floor)

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        if not self.incarnation:
            assert self.disk is not None
            self._start(await next_incarnation(self.disk, self.index))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._forget_loop)
            nursery.start_soon(self._lease_loop)
            task_status.started()

    def crash(self) -> None:
        """Stop as a crash would, for tests: no more calls leave this adjudicator
        (decides, outcome questions), and commits in progress end without an answer.
        (The caller also stops serving its address.)"""
        self._crashed = True

    async def _forget_loop(self) -> None:
        self._capped_logged = -math.inf
        while True:
            await trio.sleep(FORGET_INTERVAL_S)
            horizon = self.clock.latest() - TRANSACTION_AGE_MAX_NS - HISTORY_MARGIN_NS
            # In pieces: a bulk load leaves millions of keys to forget at once.
            while self.table.forget_some(horizon, FORGET_PIECE)[1]:
                await checkpoint_if_due()
            if self.table.recorded > HISTORY_ENTRIES_MAX:
                while self.table.forget_oldest(HISTORY_ENTRIES_MAX, FORGET_PIECE):
                    await checkpoint_if_due()
                if trio.current_time() - self._capped_logged < 60:
                    continue  # a bulk load caps it every few seconds: said once a minute
                self._capped_logged = trio.current_time()
                log.info("adjudicator %d: conflict history capped at %d commits; writers that started "
                         "%.1f s ago or earlier conflict", self.index, HISTORY_ENTRIES_MAX,
                         (self.clock.latest() - self.table.floor) / 1e9)  # fmt: skip

    def _require_started(self) -> None:
        if not self.incarnation or self._crashed:
            raise AdjudicatorStarting(f"adjudicator {self.index} is not serving yet")

    # -- RPC interface (adjudicator/interface.py) ----------------------------

    async def rpc_commit(self, request: Commit) -> Committed:
        """Commit a transaction whose post-images are `request.payload`; returns τ_commit.

        `write_keys` are the keys written or locked FOR UPDATE; `check_keys`
        must merely be unchanged since τ_start; `share_keys` are held KEY SHARE
        (see conflicts.py).
        """
        request = checked(request, Commit)
        tau_start, payload = request.tau_start, request.payload
        self._require_started()
        age = self.clock.latest() - tau_start
        if age > TRANSACTION_AGE_MAX_NS:
            raise TransactionTooOld(age)
        txn_id = make_txn_id(self.incarnation, next(self._counter), self.index)
        by_owner = self._partition(request.write_keys, request.check_keys, request.share_keys)
        local = by_owner.pop(self.index, ((), (), ()))
        lease_bound = 0 if self.range_lease is None else self._lease_bound(tau_start, by_owner)

        # Stage: checking.
        conflict = await self._prepare_local(txn_id, tau_start, *local)
        if conflict is not None:
            self.conflicts += 1
            raise _conflict_error(conflict)
        # Fixed before anyone else holds a key for it: a participant's hold
        # may end at this τ (leases.py), and a successor's floor is above it
        # (recovery.py).
        bound = tau_max(self.clock, tau_start, bool(by_owner))
        if lease_bound:
            bound = min(bound, lease_bound)
        to_decide: list[int] = []  # participants that hold (or may hold) keys
        unsure = [False]  # some prepare's fate is unknown: remember the decision
        # What the keys are held at if the append's fate is unknown: 0 while
        # nothing may have been appended, then the highest τ it could carry.
        uncertain_tau = 0
        if by_owner:
            self.outcomes.begin(txn_id)
        try:
            if by_owner:
                await self._prepare_participants(txn_id, tau_start, bound, by_owner, to_decide, unsure)
            # Stage: journaling (the commit point).
            batcher = self._batchers[self._next_journal]
            self._next_journal = (self._next_journal + 1) % len(self._batchers)
            uncertain_tau = bound
            try:
                _, tau_commit = await batcher.append(payload, tau_start + 1, bound)
            except AppendUncertain as exc:
                uncertain_tau = exc.tau_bound or bound
                raise
            except Exception:
                uncertain_tau = 0  # the journal's error says nothing was appended
                raise
        except BaseException:
            with trio.CancelScope(shield=True):
                if uncertain_tau:
                    # It may yet be chosen: hold every key as committed at the
                    # highest τ it could have, so nothing that overlaps it commits.
                    self.uncertain += 1
                    log.warning("adjudicator %d: commit %d uncertain; keys held at τ %d", self.index, txn_id, uncertain_tau)
                    self.table.commit(txn_id, uncertain_tau)
                else:
                    self.table.abort(txn_id)
                if by_owner:
                    await self._decide_all(to_decide, txn_id, uncertain_tau, unsure[0])
            raise
        assert tau_start < tau_commit <= bound, (tau_start, tau_commit, bound)
        # Stage: deciding.
        self.table.commit(txn_id, tau_commit)
        if by_owner:
            with trio.CancelScope(shield=True):
                await self._decide_all(to_decide, txn_id, tau_commit, unsure[0])
        if self._crashed:
            raise ReplyLost(f"adjudicator {self.index} crashed")
        self.commits += 1
        return Committed(tau_commit)

    async def rpc_prepare(self, request: Prepare) -> None:
        """Check and hold this adjudicator's keys of another coordinator's
        transaction, whose append will carry τ ≤ `tau_max`."""
        request = checked(request, Prepare)
        txn_id, tau_max = request.txn_id, request.tau_max
        self._require_started()
        lease = self.range_lease
        if lease is not None:
            if lease.deposed:
                raise lease.not_owner()
            if tau_max > lease.expiry:
                # A record of it could outlive the lease, and a successor's floor.
                self.lease_refusals += 1
                raise LeaseExpiring(f"range {self.index}: tau_max {tau_max} is past the lease's end {lease.expiry}")
        conflict = await self._prepare_local(txn_id, request.tau_start, request.write_keys, request.check_keys,
                                             request.share_keys)  # fmt: skip
        if conflict is not None:
            self.conflicts += 1
            raise _conflict_error(conflict)
        self.leases.grant(txn_id, tau_max, trio.current_time())

    async def rpc_decide(self, request: Decide) -> None:
        """τ_commit of a prepared transaction, or 0 if it aborted."""
        request = checked(request, Decide)
        txn_id, tau_commit = request.txn_id, request.tau_commit
        self.leases.drop(txn_id)
        if not self.table.is_held(txn_id):
            return  # never held here, or its lease already ended
        if tau_commit:
            self.table.commit(txn_id, tau_commit)
        else:
            self.table.abort(txn_id)

    async def rpc_outcome(self, request: OutcomeQuery) -> OutcomeReply:
        """What this coordinator knows of each transaction (see leases.py)."""
        request = checked(request, OutcomeQuery)
        now = trio.current_time()
        return OutcomeReply(tuple(
            self.outcomes.outcome(t, now) if same_incarnation(t, self.incarnation) else Outcome(OutcomeState.UNKNOWN)
            for t in request.txn_ids
        ))  # fmt: skip

    async def rpc_status(self) -> AdjudicatorStatus:
        return AdjudicatorStatus(
            index=self.index, incarnation=self.incarnation, floor=self.table.floor,
            commits=self.commits, conflicts=self.conflicts, uncertain=self.uncertain,
            keys=len(self.table), held_for_others=len(self.leases),
            leases_expired=self.leases_expired, lease_refusals=self.lease_refusals,
            epoch=self.range_lease.epoch if self.range_lease else 0,
            deposed=bool(self.range_lease and self.range_lease.deposed),
            append_batches=self.append_batches(),
        )  # fmt: skip

    def append_batches(self) -> int:
        """Journal append requests made for commits so far (each carried one or more)."""
        return sum(b.batches for b in self._batchers)

    # -- internals ---------------------------------------------------------

    def _lease_bound(self, tau_start: int, by_owner: dict) -> int:
        """The highest τ this commit may get under the leases of its ranges: this
        range's, and each participant's as last seen (it refuses a higher tau_max)."""
        lease = self.range_lease
        assert lease is not None and self.routes is not None
        if lease.deposed:
            raise lease.not_owner()
        bound = lease.expiry
        for participant in by_owner:
            known = self.routes.expiry(participant)
            if known:
                bound = min(bound, known)
        if bound <= max(tau_start, self.clock.latest()):
            self.lease_refusals += 1
            raise LeaseExpiring(f"range {self.index}: the leases end at τ {bound}, too soon for this commit")
        return bound

    async def _prepare_local(self, txn_id: int, tau_start: int, writes: tuple[bytes, ...],
                             checks: tuple[bytes, ...], shares: tuple[bytes, ...] = ()):
        """Prepare on this adjudicator's table; a write blocked only by in-flight
        readers claims the keys and waits for them (see conflicts.py)."""
        conflict = self.table.prepare(txn_id, tau_start, writes, checks, shares)
        if conflict is None or conflict.kind is not ConflictKind.READERS:
            return conflict
        claimed = self.table.intend(txn_id, writes)
        try:
            with trio.move_on_after(READERS_WAIT_MAX_S):
                while self.table.readers_of(writes, txn_id):
                    await trio.sleep(READERS_POLL_S)
            return self.table.prepare(txn_id, tau_start, writes, checks, shares)
        finally:
            self.table.drop_intents(txn_id, claimed)

    async def _call(self, owner: int, method: str, request: Prepare | Decide | OutcomeQuery) -> object:
        if self._crashed:
            raise Unreachable(f"adjudicator {self.index} crashed")
        routes = self.routes
        if routes is None:
            return await self._peers[owner].call(method, request)
        try:
            return await routes.peer(owner).call(method, request)
        except (NotOwner, Unreachable) as exc:
            # Only answers that prove the call did nothing go elsewhere.
            if not (isinstance(exc, NotOwner) or type(exc) is Unreachable) or not await routes.reroute(owner, exc):
                raise
        return await routes.peer(owner).call(method, request)

    async def _decide_all(self, owners: list[int], txn_id: int, tau: int, unsure: bool) -> None:
        """Tell every participant the decision (τ, or 0: aborted). A participant
        that does not hear it asks after its lease, so the decision is kept
        for it (leases.py)."""
        self.outcomes.decide(txn_id, tau)
        failed = [False]

        async def decide_one(owner: int) -> None:
            try:
                await self._call(owner, "decide", Decide(txn_id, tau))
            except Exception as exc:  # noqa: BLE001 - any failure leaves the hold to its lease
                failed[0] = True
                log.warning("adjudicator %d: decide(%d) to %d failed: %s", self.index, txn_id, owner, exc)

        if len(owners) == 1:  # the common cross-range case; a nursery costs more than the call
            await decide_one(owners[0])
        elif owners:
            async with trio.open_nursery() as nursery:
                for owner in owners:
                    nursery.start_soon(decide_one, owner)
        if failed[0] or unsure:
            self.outcomes.keep(txn_id, trio.current_time())
        else:
            self.outcomes.delivered(txn_id)

    def _partition(
        self, *key_classes: tuple[bytes, ...]
    ) -> dict[int, tuple[tuple[bytes, ...], ...]]:
        """Each owner's share of the keys: (writes, checks, shares) per adjudicator."""
        owner = self.topology.adjudicator_ranges.owner
        by_class: list[dict[int, list[bytes]]] = [{} for _ in key_classes]
        for keys_of_class, grouped in zip(key_classes, by_class, strict=True):
            for key in keys_of_class:
                grouped.setdefault(owner(key), []).append(key)
        owners = set().union(*by_class)
        return {o: tuple(tuple(grouped.get(o, ())) for grouped in by_class) for o in owners}

    async def _prepare_participants(
        self,
        txn_id: int,
        tau_start: int,
        bound: int,
        by_owner: dict[int, tuple[tuple[bytes, ...], ...]],
        to_decide: list[int],
        unsure: list[bool],
    ) -> None:
        failure: list[BaseException] = []

        async def prepare_one(owner: int, writes: tuple[bytes, ...], checks: tuple[bytes, ...],
                              shares: tuple[bytes, ...]) -> None:
            # Failures are collected rather than raised so the caller sees the
            # participant's own error, not a nursery's exception group.
            try:
                await self._call(owner, "prepare", Prepare(txn_id, tau_start, bound, writes, checks, shares))
                to_decide.append(owner)
            except (CommitConflict, NotOwner, LeaseExpiring) as exc:
                failure.append(exc)  # it holds nothing
            except Exception as exc:
                # It may hold the keys (a lost reply): tell it the decision
                # too, and keep the decision for its lease's question.
                to_decide.append(owner)
                unsure[0] = True
                failure.append(exc)

        if len(by_owner) == 1:  # the common cross-range case; a nursery costs more than the call
            ((owner, keys_of_owner),) = by_owner.items()
            await prepare_one(owner, *keys_of_owner)
        else:
            async with trio.open_nursery() as nursery:
                for owner, keys_of_owner in by_owner.items():
                    nursery.start_soon(prepare_one, owner, *keys_of_owner)
        if failure:
            if isinstance(failure[0], CommitConflict):
                self.conflicts += 1
            raise failure[0]

    # -- leases (participant side) -----------------------------------------

    async def _lease_loop(self) -> None:
        while True:
            await trio.sleep(self.leases.lease_s / 4)
            if self._crashed:
                return
            await self.expire_leases()

    async def expire_leases(self) -> None:
        """End the holds whose lease ran out: as their coordinator says, else at tau_max."""
        for coordinator, txn_ids in self.leases.expired(trio.current_time()).items():
            answers: list[Outcome] = []
            with trio.move_on_after(OUTCOME_TIMEOUT_S):
                try:
                    reply = await self._call(coordinator, "outcome", OutcomeQuery(tuple(txn_ids)))
                    if isinstance(reply, OutcomeReply) and len(reply.answers) == len(txn_ids):
                        answers = reply.outcomes()
                except (Unreachable, RemoteError) as exc:
                    log.info("adjudicator %d: coordinator %d gone (%s)", self.index, coordinator, exc)
            now = trio.current_time()
            for i, txn_id in enumerate(txn_ids):
                self._end_hold(txn_id, answers[i] if answers else Outcome(OutcomeState.UNKNOWN), now)

    def _end_hold(self, txn_id: int, outcome: Outcome, now: float) -> None:
        lease = self.leases.get(txn_id)
        if lease is None or not self.table.is_held(txn_id):
            self.leases.drop(txn_id)  # decided while we asked
            return
        if outcome.state is OutcomeState.PENDING and self.leases.renew(txn_id, now):
            return
        self.leases.drop(txn_id)
        if outcome.state is OutcomeState.COMMITTED:
            self.table.commit(txn_id, outcome.tau)
        elif outcome.state is OutcomeState.ABORTED:
            self.table.abort(txn_id)
        else:
            # Committed or not, its τ is at most tau_max (leases.py).
            self.leases_expired += 1
            log.warning("adjudicator %d: hold of %d expired (%s); keys released as committed at τ %d",
                        self.index, txn_id, outcome.state.name.lower(), lease.tau_max)
            self.table.commit(txn_id, lease.tau_max)


def encode_commit_payload(writes: list[tuple[bytes, object]], catalog_version: int | None,
                          dropped_ranges: list[tuple[bytes, bytes]] = ()) -> bytes:
    """The journal record of a transaction: its post-images (None deletes), the
    catalog version it writes, and the key ranges it abandons ([start, end): a
    dropped table's, for storage to reclaim)."""
    record: dict = {"w": writes, "cv": catalog_version}
    if dropped_ranges:
        record["rd"] = list(dropped_ranges)
    return codec.encode(record)
