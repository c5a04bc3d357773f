"""The adjudicator as a service: conflict checks and commits for a key range.

A commit moves through named stages:

  checking    the coordinator (the adjudicator the QP asked) checks and holds
              its own keys; the owners of the other keys are asked to
              `prepare` theirs, in parallel. Any conflict aborts everyone.
  journaling  the whole transaction is appended to one journal as one
              record (the coordinator spreads its commits over the journals).
              That append is the commit point: the journal's leader picks
              τ_commit > τ_start (above every earlier commit of these keys,
              which the checks guarantee were ≤ τ_start), and answers once
              the record is chosen by a majority of the journal's replicas.
              An append whose fate the journal cannot tell (a timeout, a lost
              leader) may still be chosen later, so its keys are recorded as
              committed at the highest τ it could have (`tau_max`), which
              makes every transaction that overlapped it lose, exactly as if
              it had committed; the client hears "server unavailable".
  deciding    every participant learns τ_commit, records it as the last
              commit of its keys and releases them.
  acknowledged the QP gets τ_commit (and then commit-waits).

Only one journal is written, so a cross-range transaction is one record and
becomes visible atomically on every shard at τ_commit.
(This follows DSQL's published description: every adjudicator owning a key
votes, one journal append commits. The exact protocol AWS runs is not
public; this is our reading of it.)

Participants hold prepared keys until they hear the decision. In one process
the coordinator always decides; the multi-process cluster issue adds a lease
after which a participant asks the coordinator's journal.
"""

from __future__ import annotations

import itertools
import logging

import trio

from adjudicator.conflicts import Conflict, ConflictKind, ConflictTable
from cluster import codec
from cluster.clock import Clock
from cluster.timeslice import checkpoint_if_due
from cluster.topology import Topology
from cluster.transport import InProcessTransport, wire_error
from journal.client import JournalClient
from journal.errors import AppendUncertain
from storage import keys

log = logging.getLogger(__name__)

# Transactions are capped at five minutes (DSQL); history is kept a little
# longer so that the age check, not a missing entry, decides.
TRANSACTION_AGE_MAX_NS = 300 * 1_000_000_000
HISTORY_MARGIN_NS = 10 * 1_000_000_000
FORGET_INTERVAL_S = 5.0
FORGET_PIECE = 4096  # keys forgotten between scheduler turns (cluster/timeslice.py)
# A journal may give an append any τ up to this far past our clock (its
# leader's clock may be ahead by the error bound, and τ never repeats). Past
# it the leader refuses, so an append we lost track of is known to carry a
# τ at or below clock + this: the τ its keys are held at (see "journaling").
APPEND_TAU_SLACK_NS = 2 * 1_000_000_000
# How long a writer of dependency keys waits for in-flight readers of them
# (commits already past their check; they finish within a journal append).
READERS_WAIT_MAX_S = 2.0
READERS_POLL_S = 0.0005


@wire_error
class CommitConflict(Exception):
    """First committer wins: this transaction lost. `schema` is True when the
    contested key is a catalog key (DSQL's OC001 rather than OC000)."""

    def __init__(self, schema: bool, detail: str = "") -> None:
        super().__init__(schema, detail)
        self.schema = schema
        self.detail = detail


@wire_error
class TransactionTooOld(Exception):
    def __init__(self, age_ns: int) -> None:
        super().__init__(age_ns)
        self.age_ns = age_ns


def _conflict_error(conflict: Conflict) -> CommitConflict:
    schema = keys.is_schema_key(conflict.key)
    return CommitConflict(schema, f"{conflict.kind.value} key {conflict.key.hex()}")


class Adjudicator:
    def __init__(self, index: int, topology: Topology, transport: InProcessTransport, clock: Clock) -> None:
        self.index = index
        self.topology = topology
        self.clock = clock
        self.table = ConflictTable(floor=clock.latest())
        self._journals = [
            JournalClient(transport, topology.journal_addresses(j)) for j in range(topology.journal_count)
        ]
        self._next_journal = topology.journal_for_adjudicator(index)
        self._peers = [transport.connect(topology.adjudicator_address(i)) for i in range(topology.adjudicator_count)]
        # Transaction ids are unique per coordinator; participants key their
        # holds by (coordinator, id) folded into one int.
        self._ids = itertools.count(1)
        self.commits = 0
        self.conflicts = 0
        self.uncertain = 0

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await trio.sleep(FORGET_INTERVAL_S)
            horizon = self.clock.latest() - TRANSACTION_AGE_MAX_NS - HISTORY_MARGIN_NS
            # In pieces: a bulk load leaves millions of keys to forget at once.
            while self.table.forget_some(horizon, FORGET_PIECE)[1]:
                await checkpoint_if_due()

    # -- RPC interface -----------------------------------------------------

    async def rpc_commit(
        self,
        tau_start: int,
        payload: bytes,
        write_keys: tuple[bytes, ...],
        check_keys: tuple[bytes, ...],
        share_keys: tuple[bytes, ...] = (),
    ) -> int:
        """Commit a transaction whose post-images are `payload`; returns τ_commit.

        `write_keys` are the keys written or locked FOR UPDATE; `check_keys`
        must merely be unchanged since τ_start; `share_keys` are held KEY SHARE
        (see conflicts.py).
        """
        age = self.clock.latest() - tau_start
        if age > TRANSACTION_AGE_MAX_NS:
            raise TransactionTooOld(age)
        txn_id = (next(self._ids) << 8) | self.index
        by_owner = self._partition(write_keys, check_keys, share_keys)
        local = by_owner.pop(self.index, ((), (), ()))

        # Stage: checking.
        conflict = await self._prepare_local(txn_id, tau_start, *local)
        if conflict is not None:
            self.conflicts += 1
            raise _conflict_error(conflict)
        prepared: list[int] = []
        # What the keys are held at if the append's fate is unknown: 0 while
        # nothing may have been appended, then the highest τ it could carry.
        uncertain_tau = 0
        try:
            if by_owner:
                await self._prepare_participants(txn_id, tau_start, by_owner, prepared)
            # Stage: journaling (the commit point).
            journal = self._journals[self._next_journal]
            self._next_journal = (self._next_journal + 1) % len(self._journals)
            tau_max = max(self.clock.latest(), tau_start) + APPEND_TAU_SLACK_NS + 2 * self.clock.error_bound_ns
            uncertain_tau = tau_max
            try:
                _, tau_commit = await journal.append(payload, tau_start + 1, tau_max)
            except AppendUncertain as exc:
                uncertain_tau = exc.tau_bound or tau_max
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
                for owner in prepared:
                    await self._decide(owner, txn_id, uncertain_tau)
            raise
        assert tau_commit > tau_start
        # Stage: deciding.
        self.table.commit(txn_id, tau_commit)
        if prepared:
            with trio.CancelScope(shield=True):
                if len(prepared) == 1:
                    await self._decide(prepared[0], txn_id, tau_commit)
                else:
                    async with trio.open_nursery() as nursery:
                        for owner in prepared:
                            nursery.start_soon(self._decide, owner, txn_id, tau_commit)
        self.commits += 1
        return tau_commit

    async def rpc_prepare(
        self,
        txn_id: int,
        tau_start: int,
        write_keys: tuple[bytes, ...],
        check_keys: tuple[bytes, ...],
        share_keys: tuple[bytes, ...] = (),
    ) -> None:
        conflict = await self._prepare_local(txn_id, tau_start, write_keys, check_keys, share_keys)
        if conflict is not None:
            self.conflicts += 1
            raise _conflict_error(conflict)

    async def rpc_decide(self, txn_id: int, tau_commit: int) -> None:
        """τ_commit of a prepared transaction, or 0 if it aborted."""
        if not self.table.is_held(txn_id):
            return
        if tau_commit:
            self.table.commit(txn_id, tau_commit)
        else:
            self.table.abort(txn_id)

    async def rpc_status(self) -> dict:
        return {
            "index": self.index, "commits": self.commits, "conflicts": self.conflicts,
            "uncertain": self.uncertain, "keys": len(self.table),
        }  # fmt: skip

    # -- internals ---------------------------------------------------------

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

    async def _decide(self, owner: int, txn_id: int, tau_commit: int) -> None:
        try:
            await self._peers[owner].call("decide", txn_id, tau_commit)
        except Exception:
            # The participant's hold stays until it learns the outcome another
            # way; in one process this cannot happen, so it is worth a log line.
            log.exception("adjudicator %d: decide(%d) to %d failed", self.index, txn_id, owner)

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
        by_owner: dict[int, tuple[tuple[bytes, ...], ...]],
        prepared: list[int],
    ) -> None:
        failure: list[BaseException] = []

        async def prepare_one(owner: int, writes: tuple[bytes, ...], checks: tuple[bytes, ...],
                              shares: tuple[bytes, ...]) -> None:
            # Failures are collected rather than raised so the caller sees the
            # participant's own error, not a nursery's exception group.
            try:
                await self._peers[owner].call("prepare", txn_id, tau_start, writes, checks, shares)
                prepared.append(owner)
            except Exception as exc:
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


def encode_commit_payload(writes: list[tuple[bytes, object]], catalog_version: int | None,
                          dropped_ranges: list[tuple[bytes, bytes]] = ()) -> bytes:
    """The journal record of a transaction: its post-images (None deletes), the
    catalog version it writes, and the key ranges it abandons ([start, end): a
    dropped table's, for storage to reclaim)."""
    record: dict = {"w": writes, "cv": catalog_version}
    if dropped_ranges:
        record["rd"] = list(dropped_ranges)
    return codec.encode(record)
