"""The commits that arrive together go to the journal as one append request.

FoundationDB's commit proxies batch the commits that reach them while a batch
is in flight; an adjudicator does the same for its journal appends, on top of
the journal's own group commit (a leader proposes everything queued as one
slot, each replica syncs a slot once: journal/replica.py). What the batch
saves is per-commit work, not syncs: one request, one handler task and one
reply for the whole batch instead of one per commit.

`CommitBatcher.append` is `JournalClient.append` for one journal, batched:
at most `depth` requests are in flight; a commit that finds one free sends at
once (a batch of itself plus whatever is queued), one that does not queues,
and when a request comes back its sender hands the turn to the oldest queued
commit, which sends everything queued then (up to `records_max` records and
`bytes_max` bytes of payload) as the next batch. No task of its own: the
committers take turns, so a commit alone costs no extra scheduling.

Nothing about a commit changes but how it travels. It has passed its conflict
checks before it queues (role.py: its keys are held meanwhile, so a later
commit in the same batch that touches them was refused as it is today), and
each record of a batch is its own journal record (a `CommitRecord`; readers
see nothing new) with its own τ in its own [tau_min, tau_max] and its own
answer: one can be refused or void while the others are chosen. A batch
whose fate is unknown (a timeout, a lost reply) is uncertain for each of its
commits at that commit's own tau_max, as a lone append would be.

Time: a commit's time in the queue counts against its journal append's
timeout (a request goes with the earliest deadline of its commits), so a
commit takes no longer to be answered, one way or the other, than a lone
append would: the participants' holds (leases.py) are sized by that.

Cancellation: a queued commit whose caller is cancelled leaves the queue (it
was never sent; its caller treats it as uncertain anyway, role.py). Once sent
it cannot be recalled: the request runs shielded, because its other commits
wait on it, and every journal wait is bounded (the journal client's append
timeout, the replica's append wait).
"""

from __future__ import annotations

import trio

from journal.client import JournalClient
from journal.errors import AppendUncertain, JournalUnavailable
from journal.interface import size_allowance_s

# Requests in flight per journal. Batching is for more committers than this:
# below it every commit goes at once, and the journal leader's own group commit
# packs what reaches it into slots. Two (the journal's own pipeline depth) was
# measured costlier: a queued commit waits for a reply to travel back to the
# adjudicator before it is sent, so the journal's slots held fewer records (1.6
# against 2.7 a slot at 8 committers, syncs per commit 0.60 against 0.37) and the
# per-slot work (accepts, disk writes, storage's reads of the log) grew, ~25 %
# more server CPU per update transaction (bench/README.md, "update transaction:
# where 0.19× went").
DEPTH = 8
# One batch at most: the journal cuts its slots at 4,096 records and 1 MB;
# a batch past that is still correct, only it no longer shares one slot.
RECORDS_MAX = 1024
BYTES_MAX = 1 << 20

_QUEUED, _TURN, _SENT, _DONE = range(4)


class _Commit:
    """One commit's append, queued or in flight."""

    __slots__ = ("append", "deadline", "state", "outcome", "event")

    def __init__(self, payload: bytes, tau_min: int, tau_max: int, deadline: float) -> None:
        self.append = (payload, tau_min, tau_max)
        self.deadline = deadline  # as a lone append's: its time in the queue counts
        self.state = _QUEUED
        self.outcome: tuple[int, int] | JournalUnavailable | None = None
        self.event = trio.Event()  # set once: its turn to send, or its answer


class CommitBatcher:
    def __init__(self, journal: JournalClient, *, depth: int = DEPTH, records_max: int = RECORDS_MAX,
                 bytes_max: int = BYTES_MAX) -> None:  # fmt: skip
        assert depth >= 1 and records_max >= 1
        self.journal = journal
        self.depth = depth
        self.records_max = records_max
        self.bytes_max = bytes_max
        self._queue: list[_Commit] = []
        # Requests in flight, plus turns handed to queued commits not yet running.
        self._sending = 0
        self.batches = 0
        self.appends = 0

    async def append(self, payload: bytes, tau_min: int, tau_max: int = 0) -> tuple[int, int]:
        """(position, τ) once the record is chosen; raises as `JournalClient.append` does."""
        deadline = trio.current_time() + self.journal.append_timeout_s + size_allowance_s(len(payload))
        commit = _Commit(payload, tau_min, tau_max, deadline)
        self._queue.append(commit)
        if self._sending < self.depth:
            self._sending += 1
            commit.state = _TURN
        else:
            try:
                await commit.event.wait()
            except BaseException:
                self._withdraw(commit)
                raise
        if commit.state == _TURN:
            await self._send(commit)
        outcome = commit.outcome
        assert commit.state == _DONE and outcome is not None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _withdraw(self, commit: _Commit) -> None:
        """A waiting commit's caller was cancelled."""
        if commit.state == _QUEUED:
            self._queue.remove(commit)
        elif commit.state == _TURN:
            self._queue.remove(commit)
            self._pass_turn()
        # _SENT: its request is in flight and cannot be recalled; _DONE: answered.

    def _take(self, sender: _Commit) -> list[_Commit]:
        """The sender's commit and the queued ones after it that fit, oldest first."""
        batch = [sender]
        sender.state = _SENT
        size = len(sender.append[0])
        keep: list[_Commit] = []
        full = False
        for commit in self._queue:
            if commit is sender:
                continue
            if commit.state != _QUEUED or full:
                keep.append(commit)  # another turn holder sends its own
                continue
            if len(batch) >= self.records_max or size + len(commit.append[0]) > self.bytes_max:
                full = True
                keep.append(commit)
                continue
            commit.state = _SENT
            batch.append(commit)
            size += len(commit.append[0])
        self._queue = keep
        return batch

    async def _send(self, sender: _Commit) -> None:
        batch = self._take(sender)
        self.batches += 1
        self.appends += len(batch)
        try:
            with trio.CancelScope(shield=True):  # the other commits of the batch wait on it
                outcomes: list = await self.journal.append_batch(
                    [c.append for c in batch], deadline=min(c.deadline for c in batch)
                )
        except Exception as exc:  # noqa: BLE001 - append_batch answers per append; anything else is a bug
            outcomes = [AppendUncertain(c.append[2], f"batch append failed: {exc!r}") for c in batch]
        for commit, outcome in zip(batch, outcomes, strict=True):
            commit.outcome = outcome
            commit.state = _DONE
            if commit is not sender:
                commit.event.set()
        self._pass_turn()

    def _pass_turn(self) -> None:
        """A request slot is free: the oldest queued commit sends next (everything
        queued then, as one batch), or the slot idles. One turn waits to be taken at
        most: a second would only split what the first takes whole."""
        oldest = None
        for commit in self._queue:
            if commit.state == _TURN:
                oldest = None
                break
            if oldest is None and commit.state == _QUEUED:
                oldest = commit
        if oldest is None:
            self._sending -= 1
            return
        oldest.state = _TURN
        oldest.event.set()
