"""The one way to commit: `AdjudicatorClient`, used by the QP, the DynamoDB front end and tests.

A commit goes to one adjudicator, the coordinator, which prepares the keys
other adjudicators own and appends the transaction to a journal
(adjudicator/role.py). Any adjudicator could coordinate; the owner of the
first written key does, so a single-range transaction (the common case)
costs no prepare at all.

The client bounds the call with a deadline, longer than the waits inside a
commit (the journal client's append timeout, a participant's wait for
in-flight readers), so that the coordinator's exact answer normally arrives
first. If the deadline passes, `CommitTimeout` (a `ReplyLost`: the outcome
is unknown) is raised. Errors are passed through as they came (see
adjudicator/interface.py); what a caller tells its own client about each is
the caller's business (SQLSTATEs in the QP, DynamoDB error types in
kv/dynamodb).
"""

from __future__ import annotations

from typing import Any

import trio

from adjudicator.interface import (
    AdjudicatorStarting,
    AdjudicatorStatus,
    Commit,
    Committed,
    CommitTimeout,
    LeaseExpiring,
    NotOwner,
)
from adjudicator.routing import OwnerMap, installed
from cluster.topology import Topology
from cluster.transport import Peer, Unreachable
from journal.client import APPEND_TIMEOUT_S
from journal.interface import size_allowance_s

# Longer than the longest a healthy coordinator takes to answer: the journal
# append's own timeout, a participant's wait for in-flight readers (2 s) and
# the prepare and decide round trips.
COMMIT_TIMEOUT_S = APPEND_TIMEOUT_S + 8.0
# Tries of a commit whose owner answered "not here / not now" (routed clients only).
ROUTE_ATTEMPTS = 4
# How often a routed commit waiting on its owner looks whether the range changed owner.
OWNER_WATCH_S = 0.25
# After LeaseExpiring: the owner's next renewal is normally this close.
LEASE_RETRY_S = 0.05


def _nothing_done(exc: Exception) -> bool:
    """Whether an error proves the commit did nothing (so it may go elsewhere)."""
    return isinstance(exc, (NotOwner, LeaseExpiring, AdjudicatorStarting)) or type(exc) is Unreachable


class AdjudicatorClient:
    def __init__(self, topology: Topology, transport: Any, *, timeout_s: float = COMMIT_TIMEOUT_S,
                 routes: OwnerMap | None = None) -> None:
        self.ranges = topology.adjudicator_ranges
        self.timeout_s = timeout_s
        self._topology = topology
        self._transport = transport
        self.routes = routes if routes is not None else installed(transport)
        # Connected on first use: a client is cheap to make per transaction.
        self._peers: dict[int, Peer] = {}

    def coordinator_for(self, write_keys: tuple[bytes, ...] | list[bytes]) -> int:
        """The adjudicator that coordinates a commit writing `write_keys`."""
        assert write_keys, "a commit must write or lock at least one key"
        return self.ranges.owner(write_keys[0])

    def peer(self, index: int) -> Peer:
        if self.routes is not None:
            return self.routes.peer(index)
        peer = self._peers.get(index)
        if peer is None:
            peer = self._peers[index] = self._transport.connect(self._topology.adjudicator_address(index))
        return peer

    async def commit(
        self,
        tau_start: int,
        payload: bytes,
        write_keys: tuple[bytes, ...] | list[bytes],
        check_keys: tuple[bytes, ...] | list[bytes] = (),
        share_keys: tuple[bytes, ...] | list[bytes] = (),
        *,
        timeout_s: float | None = None,
        shield: bool = False,
    ) -> int:
        """Commit the post-images in `payload` (see `encode_commit_payload`); returns τ_commit.

        `write_keys` are written or locked FOR UPDATE, `check_keys` must be
        unchanged since τ_start, `share_keys` are held KEY SHARE. With
        `shield`, cancelling the caller does not cancel the commit (only the
        deadline ends it): a caller whose client hung up still finishes a
        write it started. The caller still commit-waits on the result.
        """
        index = self.coordinator_for(write_keys or share_keys)
        request = Commit(tau_start, payload, tuple(write_keys), tuple(check_keys), tuple(share_keys))
        coordinator = self.peer(index)
        with trio.CancelScope(shield=shield) as scope:
            if timeout_s is None:
                timeout_s = self.timeout_s + size_allowance_s(len(payload))
            scope.deadline = trio.current_time() + timeout_s
            if self.routes is None:
                committed = await coordinator.call("commit", request)
            else:
                committed = await self._commit_routed(self.routes, index, request)
        if scope.cancelled_caught:
            if self.routes is not None:
                await self.routes.refresh()  # the owner may be cut off: let the next commit go elsewhere
            raise CommitTimeout(f"no answer from {coordinator.address} within the commit deadline")
        tau_commit = committed.tau_commit
        assert tau_commit > tau_start, (tau_commit, tau_start)
        return tau_commit

    async def _commit_routed(self, routes: OwnerMap, index: int, request: Commit) -> Committed:
        for attempt in range(ROUTE_ATTEMPTS):
            try:
                return await self._call_owner(routes, index, request)
            except Exception as exc:
                if not _nothing_done(exc) or attempt == ROUTE_ATTEMPTS - 1:
                    raise
                if not await routes.reroute(index, exc):
                    await trio.sleep(LEASE_RETRY_S * (attempt + 1))
        raise AssertionError("unreachable")

    async def _call_owner(self, routes: OwnerMap, index: int, request: Commit) -> Committed:
        """The commit at the range's owner, given up once the range has a new owner.

        An owner cut off by a partition answers nothing, and its lease runs out; once
        another process has taken the range (a new epoch in the owner map), whatever
        the old owner does with this commit gets a τ at or below its lease's end, so
        the outcome is unknown but bounded: CommitTimeout now, rather than at the
        commit deadline, and the next commit goes to the new owner."""
        epoch = routes.states[index].epoch
        box: dict[str, Any] = {}
        done = trio.Event()

        async def call() -> None:
            try:
                box["value"] = await routes.peer(index).call("commit", request)
            except Exception as exc:  # noqa: BLE001 - handed to the caller below
                box["error"] = exc
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(call)
            while not done.is_set():
                with trio.move_on_after(OWNER_WATCH_S):
                    await done.wait()
                if not done.is_set() and routes.states[index].epoch != epoch:
                    nursery.cancel_scope.cancel()
                    break
        if "error" in box:
            raise box["error"]
        if "value" in box:
            return box["value"]
        raise CommitTimeout(f"range {index} changed owner while the commit was in flight")

    async def status(self, index: int) -> AdjudicatorStatus:
        return await self.peer(index).call("status")
