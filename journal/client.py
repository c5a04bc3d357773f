"""How the other parts reach a journal: find the leader, fail over, never guess.

A journal is 2f+1 replicas at known addresses. Appends and closes go to the
leader (remembered from the last answer, or from a `NotLeader` hint); reads
go to any replica, the leader first, and move to another when one fails.

What an append's caller may conclude is exact (see `journal.errors`):
the client retries only answers that prove nothing was appended (a
`NotLeader` reply, a call that never reached a handler) and turns everything
else (a timeout, a lost reply, a failed handler) into `AppendUncertain`,
because sending the append again could append it twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import trio

from cluster import metrics
from cluster.transport import NOT_NOW, InProcessTransport, RemoteError, Unreachable
from journal.errors import AppendUncertain, JournalUnavailable, NotLeader, batch_outcome
from journal.interface import Append, AppendBatch, Checkpointed, Close, JournalStatus, Read, size_allowance_s

log = logging.getLogger(__name__)

# An append is given this long in all (leader changes included) before the
# caller hears "uncertain": longer than the replica's own append wait, so
# that the replica's exact answer usually arrives first.
APPEND_TIMEOUT_S = 12.0
# One attempt at one replica gets this long (over a network, where a peer cut
# off by a partition answers nothing at all). An append attempt that runs out
# is uncertain, but the next append goes to another replica, so a leader cut
# off from its clients costs one uncertain commit per client, not a stall:
# the next replica answers with the new leader's name within a lease.
APPEND_ATTEMPT_S = 2.0
CLOSE_TIMEOUT_S = 2.0
# A close changes nothing, so an attempt that runs out is retried elsewhere.
CLOSE_ATTEMPT_S = 0.5
# While no replica knows a leader (an election), wait this long between tries.
NO_LEADER_BACKOFF_S = 0.02
# A read long poll gets this much longer than it asked for before the call is
# abandoned and another replica is tried.
READ_MARGIN_S = 2.0


class _NoDeadline:
    """Stands in for a cancel scope that never fires."""

    cancelled_caught = False

    def __enter__(self) -> _NoDeadline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


_NO_DEADLINE = _NoDeadline()


class JournalClient:
    def __init__(self, transport: Any, addresses: list[str], *, append_timeout_s: float = APPEND_TIMEOUT_S) -> None:
        assert addresses
        self.addresses = list(addresses)
        self._replicas = [transport.connect(a) for a in addresses]
        self.leader = 0  # the replica to try first
        self.reader = 0
        self.append_timeout_s = append_timeout_s
        # In one process a call cannot be lost, and every replica bounds its
        # own waits, so calls need no deadline of their own (a cancel scope
        # per call costs as much as the rest of an append). Across a network
        # a peer can hang, so there they get one.
        self._deadlines = not isinstance(transport, InProcessTransport)
        self.failovers = 0

    def _scope(self, seconds: float) -> trio.CancelScope | _NoDeadline:
        if self._deadlines:
            return trio.move_on_after(seconds)
        return _NO_DEADLINE

    def _next(self, index: int) -> int:
        return (index + 1) % len(self._replicas)

    async def append(self, payload: bytes, tau_min: int, tau_max: int = 0) -> tuple[int, int]:
        """Append one record; (position, τ) once it is chosen.

        Raises JournalUnavailable (certainly not appended) or AppendUncertain.
        """
        started = time.perf_counter()
        result = await self._append(payload, tau_min, tau_max)
        metrics.JOURNAL_APPEND_SECONDS.observe(time.perf_counter() - started)
        return result

    async def _append(self, payload: bytes, tau_min: int, tau_max: int) -> tuple[int, int]:
        allowance = size_allowance_s(len(payload))
        deadline = trio.current_time() + self.append_timeout_s + allowance
        target = self.leader
        tries = 0
        while True:
            remaining = deadline - trio.current_time()
            if remaining <= 0:
                raise JournalUnavailable(f"no journal leader within {self.append_timeout_s:g} s")
            with self._scope(min(remaining, APPEND_ATTEMPT_S + allowance)) as scope:
                try:
                    result = await self._replicas[target].call("append", Append(payload, tau_min, tau_max))
                except trio.Cancelled:
                    # The caller gave up first (its own deadline, shorter than ours): the
                    # next append asks another replica, or a silent leader would be asked forever.
                    self.leader = self._next(target)
                    raise
                except NotLeader as exc:
                    tries += 1
                    if 0 <= exc.leader < len(self._replicas) and exc.leader != target:
                        target = exc.leader
                    else:
                        target = self._next(target)
                        if tries % len(self._replicas) == 0:
                            await trio.sleep(NO_LEADER_BACKOFF_S)
                    continue
                except AppendUncertain:
                    raise
                except JournalUnavailable:
                    raise
                except Unreachable as exc:
                    if type(exc) is not Unreachable:
                        # A subclass that is not a journal error: the
                        # transport lost the reply, not the request.
                        raise AppendUncertain(tau_max, f"reply lost: {exc}") from None
                    tries += 1
                    target = self._next(target)
                    if tries % len(self._replicas) == 0:
                        await trio.sleep(NO_LEADER_BACKOFF_S)
                    continue
                except RemoteError as exc:
                    raise AppendUncertain(tau_max, f"replica failed: {exc}") from None
                self.leader = target
                return result.position, result.tau
            if scope.cancelled_caught:
                self.leader = self._next(target)  # the next append asks another replica who leads
                raise AppendUncertain(tau_max, f"append to {self.addresses[target]} timed out")

    async def append_batch(
        self, appends: Sequence[tuple[bytes, int, int]], *, deadline: float | None = None
    ) -> list[tuple[int, int] | JournalUnavailable]:
        """Append several records in one request, each as `append` would: (payload,
        tau_min, tau_max) each; one answer each, in order: (position, τ) once chosen,
        or the error `append` would have raised for it (JournalUnavailable: certainly
        not appended; AppendUncertain). Never raises those itself.

        The appends the leader did not take (NotLeader: a leader change) go again to
        the leader it names, as a lone append would; every other answer is final.
        `deadline` (trio time) replaces the append timeout's (for appends that waited
        to be sent: their time counts from when they were made).
        """
        started = time.perf_counter()
        results: list[tuple[int, int] | JournalUnavailable | None] = [None] * len(appends)
        pending = list(range(len(appends)))
        allowance = size_allowance_s(sum(len(payload) for payload, _, _ in appends))
        if deadline is None:
            deadline = trio.current_time() + self.append_timeout_s + allowance
        target = self.leader
        tries = 0
        while pending:
            remaining = deadline - trio.current_time()
            if remaining <= 0:
                for i in pending:
                    results[i] = JournalUnavailable(f"no journal leader within {self.append_timeout_s:g} s")
                break
            batch = AppendBatch(tuple(appends[i] for i in pending))
            retry: list[int] = []
            hint = -1
            with self._scope(min(remaining, APPEND_ATTEMPT_S + allowance)) as scope:
                try:
                    reply = await self._replicas[target].call("append_batch", batch)
                except trio.Cancelled:
                    self.leader = self._next(target)
                    raise
                except NotLeader as exc:  # refused whole (it was recovering): nothing appended
                    retry, hint = pending, exc.leader
                except AppendUncertain as exc:
                    for i in pending:
                        results[i] = AppendUncertain(appends[i][2], exc.detail)
                    break
                except JournalUnavailable as exc:
                    for i in pending:
                        results[i] = exc
                    break
                except Unreachable as exc:
                    if type(exc) is not Unreachable:  # the reply was lost, not the request
                        for i in pending:
                            results[i] = AppendUncertain(appends[i][2], f"reply lost: {exc}")
                        break
                    retry = pending
                except RemoteError as exc:
                    for i in pending:
                        results[i] = AppendUncertain(appends[i][2], f"replica failed: {exc}")
                    break
                else:
                    if len(reply.results) != len(pending):
                        for i in pending:
                            results[i] = AppendUncertain(appends[i][2], "malformed batch reply")
                        break
                    for i, result in zip(pending, reply.results, strict=True):
                        outcome = batch_outcome(result, appends[i][2])
                        if isinstance(outcome, NotLeader):
                            retry.append(i)
                            hint = outcome.leader
                        else:
                            results[i] = outcome
                    if len(retry) < len(pending):
                        self.leader = target
            if scope.cancelled_caught:
                self.leader = self._next(target)  # the next append asks another replica who leads
                for i in pending:
                    results[i] = AppendUncertain(appends[i][2], f"append to {self.addresses[target]} timed out")
                break
            pending = retry
            if pending:
                tries += 1
                if 0 <= hint < len(self._replicas) and hint != target:
                    target = hint
                else:
                    target = self._next(target)
                    if tries % len(self._replicas) == 0:
                        await trio.sleep(NO_LEADER_BACKOFF_S)
        elapsed = time.perf_counter() - started
        for _ in appends:
            metrics.JOURNAL_APPEND_SECONDS.observe(elapsed)
        return results  # type: ignore[return-value]

    async def close(self, tau: int) -> tuple[int, int]:
        """(closed τ, position) from the leader; raises JournalUnavailable if none answers."""
        deadline = trio.current_time() + CLOSE_TIMEOUT_S
        target = self.leader
        tries = 0
        last_error: Exception | None = None
        while trio.current_time() < deadline:
            with self._scope(min(deadline - trio.current_time(), CLOSE_ATTEMPT_S)) as scope:
                try:
                    result = await self._replicas[target].call("close", Close(tau))
                except NotLeader as exc:
                    last_error = exc
                    tries += 1
                    if 0 <= exc.leader < len(self._replicas) and exc.leader != target:
                        target = exc.leader
                    else:
                        target = self._next(target)
                        if tries % len(self._replicas) == 0:
                            await trio.sleep(NO_LEADER_BACKOFF_S)
                    continue
                except (Unreachable, RemoteError) as exc:
                    last_error = exc
                    tries += 1
                    target = self._next(target)
                    if tries % len(self._replicas) == 0:
                        await trio.sleep(NO_LEADER_BACKOFF_S)
                    continue
                # Read from the leader too: it learns chosen slots first.
                self.leader = self.reader = target
                return result.tau, result.position
            if scope.cancelled_caught:
                last_error = TimeoutError(f"close at {self.addresses[target]} timed out")
                target = self._next(target)
        raise JournalUnavailable(f"close({tau}) not answered: {last_error}")

    def close_now(self, tau: int) -> tuple[int, int] | None:
        """`close` answered at once by the leader in this process (cluster/transport.py's
        `call_now`), or None: then `close`."""
        try:
            result = self._replicas[self.leader].call_now("close", Close(tau))
        except NotLeader as exc:
            # A follower: later reads ask the leader it names. (Nothing else would teach this
            # client: its reads of records learn no leader, and its `close`s are rare once
            # most reads close at once.)
            if 0 <= exc.leader < len(self._replicas):
                self.leader = exc.leader
            return None
        except (Unreachable, RemoteError):
            return None
        if result is NOT_NOW:
            return None
        self.reader = self.leader
        return result.tau, result.position

    async def read(
        self, subscriber: str, from_position: int, max_records: int, wait_s: float
    ) -> tuple[list[tuple[int, int, bytes]], int, int]:
        """One poll of the chosen log from some replica; raises JournalUnavailable if none answers."""
        last_error: Exception | None = None
        target = self.reader
        for _ in range(len(self._replicas)):
            with self._scope(wait_s + READ_MARGIN_S):
                try:
                    reply = await self._replicas[target].call(
                        "read", Read(subscriber, from_position, max_records, wait_s)
                    )
                except (Unreachable, RemoteError) as exc:
                    last_error = exc
                    target = self._next(target)
                    self.failovers += 1
                    continue
                self.reader = target
                return list(reply.records), reply.closed, reply.tail
            last_error = TimeoutError(f"read from {self.addresses[target]} timed out")
            target = self._next(target)
        raise JournalUnavailable(f"no journal replica answered a read: {last_error}")

    async def checkpointed(self, subscriber: str, position: int) -> None:
        """Tell every replica (each compacts its own files); unreachable ones hear next time."""
        for replica in self._replicas:
            try:
                await replica.call("checkpointed", Checkpointed(subscriber, position))
            except (Unreachable, RemoteError) as exc:
                log.debug("checkpointed(%s, %d) not delivered: %s", subscriber, position, exc)

    async def status(self) -> list[JournalStatus | None]:
        out: list[JournalStatus | None] = []
        for replica in self._replicas:
            try:
                out.append(await replica.call("status"))
            except (Unreachable, RemoteError):
                out.append(None)
        return out
