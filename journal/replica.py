"""One journal replica: the trio shell around the Multi-Paxos core.

The core (`journal.paxos`) decides; this module does the I/O it asks for:

* Disk. Records the core asks to persist join the open batch; one writer
  task writes a batch to the write-ahead segments with one sync, and only
  then releases the replies that depend on it. While one batch syncs the next
  fills, so each replica syncs once per batch, not per transaction (group
  commit), and the sync runs in a worker thread (`OsDisk`).
* Network. Each peer has an outbox and a sender task that ships everything
  queued as one `deliver` call; the protocol tolerates loss, so a full outbox
  drops its oldest messages. Messages to this replica itself go straight back
  into the core.
* Time. A ticker drives elections, heartbeats and retransmissions; `Now`
  carries the monotonic clock (leases) and the bounded clock (τ).
* Service. `append`, `close`, `read`, `checkpointed` and `status` are the
  journal's RPC interface (see `journal/__init__.py`); `deliver` carries
  replica-to-replica messages. A close an idle leader answers at once is also
  offered to callers in this process as `now_close` (cluster/transport.py's
  `call_now`), so a storage node's read needs no task switch for it.

Clock, transport, disk and the monotonic time source are arguments, so the
simulator runs this same shell on trio's MockClock with a faulty network
and a disk that forgets unsynced writes.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from cluster.clock import Clock
from cluster.disk import Disk, MemoryDisk
from cluster.transport import NOT_NOW, ReplyLost
from journal import wal
from journal.errors import AppendUncertain, JournalUnavailable, NotLeader, PositionCompacted, batch_result
from journal.interface import (
    Append,
    AppendBatch,
    Appended,
    AppendedBatch,
    Checkpointed,
    Close,
    Closed,
    JournalStatus,
    Read,
    Records,
    size_allowance_s,
)
from journal.log import ChosenLog
from journal.messages import Learn, Message, Value, from_wire, value_bytes
from journal.paxos import Now, Output, PaxosConfig, PaxosCore, Role
from journal.segments import SEGMENT_BYTES_MAX, Location, SegmentFiles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplicaConfig:
    paxos: PaxosConfig = field(default_factory=PaxosConfig)
    # The core's timers are multiples of this; 5 ms keeps heartbeats within
    # 5 ms of due at 200 wake-ups a second per replica.
    tick_s: float = 0.005
    # While the core is idle (a follower, or a leader with nothing queued, in flight or
    # owed to its followers) its timers are an election deadline half a second away, pre-vote
    # resends and heartbeats: a coarser tick serves them at a fifth of the wake-ups.
    idle_tick_s: float = 0.025
    # An append waits this long for its slot to be chosen, then the caller
    # hears "uncertain" (with the τ it was given) rather than waiting forever
    # on a leader that lost its majority.
    append_wait_s: float = 10.0
    close_wait_s: float = 5.0
    # How often waits past their deadline are looked for: the resolution of
    # the two waits above.
    sweep_interval_s: float = 0.1
    # Records kept in memory for subscribers; older ones come from disk.
    # (Each replica keeps its own; subscribers mostly read from the leader.)
    memory_records_max: int = 100_000
    # And at most this much payload (a bulk load's records are ~50 KB each).
    memory_bytes_max: int = 32 << 20
    # A read returns at most this many records, and past the first record at
    # most this many bytes of payload, so one reply stays bounded: encoding and
    # decoding it is work done in one go (2,000 records of 1,000-row COPY
    # batches made a 200 MB reply that held the server's thread for 2 s).
    read_records_max: int = 10_000
    read_bytes_max: int = 4 << 20
    # Messages queued for one peer; past this the oldest are dropped (the
    # protocol retransmits what matters).
    outbox_messages_max: int = 20_000
    # After a failed delivery, wait this long before trying that peer again.
    peer_retry_s: float = 0.02
    segment_bytes_max: int = SEGMENT_BYTES_MAX


class Observer(Protocol):
    """Hooks for the simulator's checkers (production passes none)."""

    def durable_accept(self, replica: str, slot: int, ballot: int, value: Value) -> None: ...

    def learned(self, replica: str, slot: int, value: Value) -> None: ...


class _Group:
    """The appends of one `AppendBatch`: its caller wakes once, when the last is answered."""

    __slots__ = ("event", "unanswered")

    def __init__(self, size: int) -> None:
        self.event = trio.Event()
        self.unanswered = size


class _Waiter:
    __slots__ = ("event", "group", "answered", "result", "error", "deadline", "kind", "tau_max")

    def __init__(self, deadline: float, kind: str, tau_max: int = 0, group: _Group | None = None) -> None:
        # A lone request has its own event; one of a batch shares its group's.
        self.event = trio.Event() if group is None else group.event
        self.group = group
        self.answered = False
        self.result: Any = None
        self.error: Exception | None = None
        self.deadline = deadline  # trio time after which the sweeper answers for the core
        self.kind = kind  # "append" or "close"
        self.tau_max = tau_max

    def answer(self, result: Any, error: Exception | None) -> None:
        if self.answered:
            return
        self.answered = True
        self.result, self.error = result, error
        group = self.group
        if group is None:
            self.event.set()
        else:
            group.unanswered -= 1
            if not group.unanswered:
                group.event.set()


class _DiskBatch:
    __slots__ = ("frames", "slots", "accepts", "after", "must_sync")

    def __init__(self) -> None:
        self.must_sync = False  # holds more than hints (which never cause a sync alone)
        self.frames: list[bytes] = []
        self.slots: list[int] = []
        self.accepts: list[tuple[int, int, Value]] = []
        self.after: list[tuple[int, Message]] = []


class _Outbox:
    __slots__ = ("messages", "ready")

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.ready = trio.Event()


def _monotonic_ns() -> int:
    return int(trio.current_time() * 1e9)


class JournalReplica:
    def __init__(
        self,
        journal_id: int,
        index: int,
        addresses: list[str],
        transport: Any,
        clock: Clock,
        disk: Disk | None,
        *,
        config: ReplicaConfig | None = None,
        subscribers: tuple[str, ...] = (),
        monotonic_ns: Callable[[], int] = _monotonic_ns,
        observer: Observer | None = None,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config or ReplicaConfig()
        assert len(addresses) == self.config.paxos.replica_count
        self.journal_id = journal_id
        self.index = index
        self.name = addresses[index]
        self.clock = clock
        self.disk: Disk = disk if disk is not None else MemoryDisk()
        self.subscribers = subscribers
        self._monotonic_ns = monotonic_ns
        self._observer = observer
        self._trace = trace
        self._peers = {i: transport.connect(a) for i, a in enumerate(addresses) if i != index}
        self._outboxes = {i: _Outbox() for i in self._peers}
        self.segments = SegmentFiles(self.disk, segment_bytes_max=self.config.segment_bytes_max)
        self.core: PaxosCore | None = None
        self.log: ChosenLog | None = None
        self._batch = _DiskBatch()
        self._batch_ready = trio.Event()
        self._writing = False
        self._flush_needed = trio.Event()
        self._published = trio.Event()
        self._written = trio.Event()  # set after each batch reaches the disk
        self._crashed = False
        self._waiters: dict[int, _Waiter] = {}
        self._requests = itertools.count(1)
        self._locations: dict[int, Location] = {}  # slot -> latest frame, for slots not yet chosen
        self._segment_max_slot: dict[int, int] = {}
        self._checkpoints: dict[str, int] = {}
        self._nursery: trio.Nursery | None = None
        self.fsyncs = 0
        self.records_written = 0

    # -- lifecycle ---------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        frames = await self.segments.recover()
        recovered = wal.recover(frames)
        self._segment_max_slot = dict(recovered.segment_max_slot)
        self._locations = dict(recovered.locations)
        chosen_locations = {slot: location for slot, _, location in recovered.chosen}
        self.log = ChosenLog(recovered.base_position, recovered.base_tau, self.config.memory_records_max,
                             self.config.memory_bytes_max)
        self.core = PaxosCore(self.index, self.config.paxos, recovered, self._now())
        self._locations.update(chosen_locations)
        # Values accepted but not yet known chosen may be chosen later with
        # the τ they carry; nothing in this process may hand out a τ below them.
        for _, value in [*recovered.accepted.values(), *((0, v) for v in recovered.learned.values())]:
            if value[1]:
                self.clock.observe(value[1][-1][0])
        if self.segments.torn_bytes_cut:
            self._note(f"cut a torn tail of {self.segments.torn_bytes_cut} bytes")
        self._note(
            f"recovered {recovered.records} records: promised {recovered.promised}, "
            f"chosen through slot {self.core.chosen_upto}, {len(recovered.accepted)} slots accepted beyond"
        )
        self._dispatch()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._disk_loop)
            nursery.start_soon(self._tick_loop)
            nursery.start_soon(self._flush_loop)
            nursery.start_soon(self._sweep_loop)
            for peer in self._peers:
                nursery.start_soon(self._send_loop, peer)
            task_status.started()

    def close_files(self) -> None:
        self.disk.close()

    def crash(self) -> None:
        """Stop answering, as a crash would: callers waiting in this replica hear
        that their connection broke (in one process their tasks outlive it)."""
        self._crashed = True
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            if waiter.kind == "append":
                waiter.answer(None, AppendUncertain(waiter.tau_max, "replica crashed"))
            else:
                waiter.answer(None, NotLeader(-1, "replica crashed"))
        self._wake_readers()
        self._written.set()

    def _now(self) -> Now:
        interval = self.clock.now()
        return Now(self._monotonic_ns(), interval.earliest, interval.latest)

    def _note(self, text: str) -> None:
        if self._trace is not None:
            self._trace(f"{self.name}: {text}")
        else:
            log.info("journal %d replica %d: %s", self.journal_id, self.index, text)

    # -- RPC interface -----------------------------------------------------

    async def rpc_deliver(self, sender: int, messages: Sequence) -> None:
        core = self.core
        if core is None:
            return  # still recovering; the sender retransmits
        now = self._now()
        for item in messages:
            core.on_message(sender, from_wire(item), now)
        self._dispatch()

    async def rpc_append(self, append: Append) -> Appended:
        payload, tau_min, tau_max = append.payload, append.tau_min, append.tau_max
        core = self._ready_core()
        request = next(self._requests)
        # No cancel scope per call (they cost as much as the rest of an
        # append): the sweeper task answers waiters whose deadline passed.
        waiter = self._waiters[request] = _Waiter(
            trio.current_time() + self.config.append_wait_s + size_allowance_s(len(payload)), "append", tau_max
        )
        if core.submit(request, payload, tau_min, tau_max, self._now()):
            self._flush_needed.set()
        else:
            self._dispatch()
        try:
            await waiter.event.wait()
        finally:
            if not waiter.event.is_set():  # the caller was cancelled
                self._expire(request, waiter)
        if waiter.error is not None:
            raise waiter.error
        position, tau = waiter.result
        self.clock.observe(tau)
        return Appended(position, tau)

    async def rpc_append_batch(self, batch: AppendBatch) -> AppendedBatch:
        """Each append of `batch` exactly as `rpc_append` takes one (queued in order,
        so consecutive ones share a slot), answered together once all are settled."""
        appends = batch.appends
        core = self._ready_core()
        if not appends:
            return AppendedBatch(())
        group = _Group(len(appends))
        deadline = (trio.current_time() + self.config.append_wait_s
                    + size_allowance_s(sum(len(payload) for payload, _, _ in appends)))  # fmt: skip
        now = self._now()
        waiters: list[tuple[int, _Waiter]] = []
        queued = False
        for payload, tau_min, tau_max in appends:
            request = next(self._requests)
            waiter = self._waiters[request] = _Waiter(deadline, "append", tau_max, group)
            waiters.append((request, waiter))
            queued = core.submit(request, payload, tau_min, tau_max, now) or queued
        if queued:
            self._flush_needed.set()
        self._dispatch()  # answers what the core refused at once
        try:
            await group.event.wait()
        finally:
            if not group.event.is_set():  # the caller was cancelled
                for request, waiter in waiters:
                    if not waiter.answered:
                        self._expire(request, waiter)
        results = []
        for _, waiter in waiters:
            if waiter.error is None:
                self.clock.observe(waiter.result[1])
            results.append(batch_result(waiter.result, waiter.error, waiter.tau_max))
        return AppendedBatch(tuple(results))

    async def rpc_close(self, close: Close) -> Closed:
        tau = close.tau
        core = self._ready_core()
        request = next(self._requests)
        waiter = self._waiters[request] = _Waiter(trio.current_time() + self.config.close_wait_s, "close")
        core.close(request, tau, self._now())
        self._dispatch()
        try:
            await waiter.event.wait()
        finally:
            self._waiters.pop(request, None)
        if waiter.error is not None:
            raise waiter.error
        closed, position = waiter.result
        self.clock.observe(closed)
        return Closed(closed, position)

    def now_close(self, close: Close) -> Closed | object:
        """`rpc_close` in the caller's task (cluster/transport.py's `call_now`) when the core
        answers at once: a leader with nothing in flight. A follower refuses as `close` does
        (NotLeader with its hint: a caller that asked the wrong replica learns the leader);
        anything else is `NOT_NOW`, and the caller's `close` handles it as before."""
        core = self.core
        if core is None or self._crashed:
            return NOT_NOW
        answer = core.close_at_once(close.tau, self._now())
        if answer is None:
            if core.role is not Role.LEADER:
                raise NotLeader(core.leader_hint, "not the leader")
            return NOT_NOW
        self.clock.observe(answer[0])
        return Closed(*answer)

    def _expire(self, request: int, waiter: _Waiter) -> None:
        """Answer a waiter the core has not answered in time, with what is certain."""
        self._waiters.pop(request, None)
        if waiter.kind == "close":
            waiter.answer(None, NotLeader(-1, "close not answered in time"))
            return
        assert self.core is not None
        state, tau = self.core.abandon(request)
        if state == "queued":
            waiter.answer(None, JournalUnavailable("append not sequenced in time"))
        else:
            waiter.answer(None, AppendUncertain(tau or waiter.tau_max, "append not chosen in time"))

    async def _sweep_loop(self) -> None:
        while True:
            await trio.sleep(self.config.sweep_interval_s)
            now = trio.current_time()
            expired = [(r, w) for r, w in self._waiters.items() if w.deadline <= now]
            for request, waiter in expired:
                self._expire(request, waiter)
            self._wake_readers()

    async def rpc_read(self, read: Read) -> Records:
        from_position, max_records, wait_s = read.from_position, read.max_records, read.wait_s
        core = self._ready_core()
        chosen = self.log
        assert chosen is not None
        if from_position > chosen.end and wait_s > 0:
            # Long poll: return on the next record or closed-timestamp change
            # (heartbeats change it every few ms), or when the sweeper wakes
            # every reader; a long poll may always end early.
            await self._published.wait()
        if self._crashed:
            raise ReplyLost(f"{self.name} crashed")
        if from_position < chosen.first_position:
            raise PositionCompacted(chosen.first_position)
        max_records = max(1, min(max_records, self.config.read_records_max))
        records = chosen.memory_range(from_position, max_records)
        if records is None:
            records = await self._read_from_disk(from_position, max_records)
        records = _within_bytes(records, self.config.read_bytes_max)
        tail = records[-1][0] if records else min(from_position - 1, chosen.end)
        # The closed timestamp speaks for the whole chosen log, so it is only
        # given to a subscriber that this reply brings up to the end.
        closed = 0
        if tail >= chosen.end:
            closed = chosen.last_tau
            if core.closed_position <= tail and core.closed_tau > closed:
                closed = core.closed_tau
        return Records(tuple(records), closed, tail)

    async def rpc_checkpointed(self, checkpointed: Checkpointed) -> None:
        subscriber, position = checkpointed.subscriber, checkpointed.position
        self._checkpoints[subscriber] = max(position, self._checkpoints.get(subscriber, 0))
        if not self.subscribers or any(s not in self._checkpoints for s in self.subscribers):
            return
        safe = min(self._checkpoints[s] for s in self.subscribers)
        core, chosen = self.core, self.log
        if core is None or chosen is None:
            return
        point = chosen.compaction_point(safe)
        if point is None or point[0] <= core.base_slot:
            return
        core.compact(*point, self._now())
        chosen.drop_before(point[0])
        self._dispatch()
        # The BASE record is in the open batch; old segments go once it is on disk.
        self._batch_ready.set()

    async def rpc_status(self) -> JournalStatus:
        core = self.core
        if core is None:
            return JournalStatus(self.name, self.journal_id, self.index, "recovering")
        assert self.log is not None
        return JournalStatus(
            name=self.name,
            journal_id=self.journal_id,
            index=self.index,
            role=core.role.value,
            ballot=core.ballot if core.role is not Role.FOLLOWER else core.promised,
            leader=core.leader_hint,
            chosen_upto=core.chosen_upto,
            end_position=self.log.end,
            closed_tau=core.closed_tau,
            voids=core.voids,
            fsyncs=self.fsyncs,
            records_written=self.records_written,
            segments=len(self.segments.segments),
        )

    def leads(self) -> bool:
        """Whether this replica is its journal's leader now (for metrics)."""
        return self.core is not None and self.core.role is Role.LEADER

    def _ready_core(self) -> PaxosCore:
        if self.core is None:
            raise NotLeader(-1, "replica is recovering")
        return self.core

    # -- carrying out the core's output ------------------------------------

    def _dispatch(self) -> None:
        """Do what the core asked; messages to this replica go back in at once."""
        core = self.core
        assert core is not None
        while True:
            out = core.take_output()
            if not out:
                return
            self._carry_out(out)

    def _carry_out(self, out: Output) -> None:
        for event in out.events:
            self._note(event)
        if out.rebase is not None:
            assert self.log is not None
            self.log.rebase(out.rebase[1], out.rebase[2])
        if out.learned:
            self._publish(out)
        if out.persist:
            batch = self._batch
            batch.frames.extend(out.persist)
            batch.slots.extend(out.persist_slots)
            batch.accepts.extend(out.accepts)
            batch.must_sync = True
            self._batch_ready.set()
        if out.persist_lazy:
            # After the values they cover (in this batch or an earlier one),
            # but no reason to sync.
            batch = self._batch
            batch.frames.extend(out.persist_lazy)
            batch.slots.extend(0 for _ in out.persist_lazy)
        if out.send_after:
            if self._batch.must_sync or self._writing:
                self._batch.after.extend(out.send_after)
                self._batch_ready.set()
            else:
                self._route(out.send_after)
        if out.send:
            self._route(out.send)
        for request, result, error in out.resolved:
            waiter = self._waiters.pop(request, None)
            if waiter is not None:
                waiter.answer(result, error)
        for peer, from_slot, base in out.serve_from_disk:
            if self._nursery is not None:
                self._nursery.start_soon(self._serve_from_disk, peer, from_slot, base)
        if out.closed_changed and not out.learned:
            self._wake_readers()
        if self.core is not None and self.core.last_tau:
            self.clock.observe(self.core.last_tau)

    def _route(self, messages: list[tuple[int, Message]]) -> None:
        core = self.core
        assert core is not None
        own = []
        for to, message in messages:
            if to == self.index:
                own.append(message)
                continue
            box = self._outboxes[to]
            box.messages.append(message)
            if len(box.messages) > self.config.outbox_messages_max:
                del box.messages[: len(box.messages) // 2]
            box.ready.set()
        if own:
            now = self._now()
            for message in own:
                core.on_message(self.index, message, now)
            # The caller's loop (`_dispatch`) takes the core's new output.

    def _publish(self, out: Output) -> None:
        chosen = self.log
        assert chosen is not None
        for slot, value, first_position, effective, tau_before in out.learned:
            location = self._locations.pop(slot, None)
            chosen.append_slot(slot, first_position, effective, tau_before, location)
            if self._observer is not None:
                self._observer.learned(self.name, slot, value)
        self._wake_readers()

    def _wake_readers(self) -> None:
        self._published.set()
        self._published = trio.Event()

    # -- tasks -------------------------------------------------------------

    async def _disk_loop(self) -> None:
        core = self.core
        assert core is not None
        while True:
            await self._batch_ready.wait()
            self._batch_ready = trio.Event()
            batch = self._batch
            if batch.must_sync:
                self._batch = _DiskBatch()
                self._writing = True
                try:
                    locations = await self.segments.write(batch.frames, self._segment_header)
                finally:
                    self._writing = False
                self.fsyncs += 1
                self.records_written += len(batch.frames)
                self._note_locations(batch, locations)
                self._written.set()
                self._written = trio.Event()
                if self._observer is not None:
                    for slot, ballot, value in batch.accepts:
                        self._observer.durable_accept(self.name, slot, ballot, value)
                await self._delete_compacted_segments()
            elif batch.after:
                # Replies that waited for the batch that was being written;
                # any hints stay for the next batch.
                after, batch.after = batch.after, []
                self._route(after)
                self._dispatch()
                continue
            else:
                continue
            if batch.after:
                self._route(batch.after)
                self._dispatch()

    def _segment_header(self) -> list[bytes]:
        core = self.core
        assert core is not None
        bodies = core.durable_summary()
        # The chosen mark restates what older segments hold; if the values it
        # covers were cut by a torn write, recovery stops at the gap.
        bodies.append(wal.chosen_record(core.chosen_marked))
        return bodies

    def _note_locations(self, batch: _DiskBatch, locations: list[Location]) -> None:
        chosen = self.log
        assert chosen is not None
        for slot, location in zip(batch.slots, locations, strict=True):
            if not slot:
                continue
            previous = self._segment_max_slot.get(location.segment, 0)
            if slot > previous:
                self._segment_max_slot[location.segment] = slot
            if chosen.has_slot(slot):
                chosen.set_location(slot, location)
            elif slot > chosen.last_slot:
                self._locations[slot] = location

    async def _delete_compacted_segments(self) -> None:
        core = self.core
        assert core is not None
        segments = self.segments.segments
        for sequence in segments[:-1]:
            if self._segment_max_slot.get(sequence, 0) < core.base_slot:
                await self.segments.remove(sequence)
                self._segment_max_slot.pop(sequence, None)
            else:
                break  # keep segments in order: recovery replays them in sequence

    async def _tick_loop(self) -> None:
        core = self.core
        assert core is not None
        tick_s, idle_tick_s = self.config.tick_s, self.config.idle_tick_s
        while True:
            await trio.sleep(idle_tick_s if core.idle() else tick_s)
            core.on_tick(self._now())
            self._dispatch()

    async def _flush_loop(self) -> None:
        core = self.core
        assert core is not None
        while True:
            await self._flush_needed.wait()
            self._flush_needed = trio.Event()
            core.flush(self._now())
            self._dispatch()

    async def _send_loop(self, peer: int) -> None:
        box = self._outboxes[peer]
        target = self._peers[peer]
        while True:
            await box.ready.wait()
            box.ready = trio.Event()
            while box.messages:
                messages, box.messages = box.messages, []
                try:
                    await target.call("deliver", self.index, tuple([m.wire() for m in messages]))
                except Exception as exc:  # noqa: BLE001 - any failure is a lost message
                    if self._trace is not None:
                        self._trace(f"{self.name}: to {peer} lost {len(messages)} ({type(exc).__name__})")
                    await trio.sleep(self.config.peer_retry_s)

    async def _serve_from_disk(self, peer: int, from_slot: int, base: tuple[int, int, int] | None) -> None:
        """Chosen values older than the core keeps in memory, for a lagging peer."""
        core, chosen = self.core, self.log
        assert core is not None and chosen is not None
        slots = []
        budget = self.config.paxos.message_bytes_max
        for slot, _, _, location in chosen.slots_from_slot(from_slot, 4096):
            if location is None:
                break
            _, value = wal.value_of(await self.segments.read_frame(location))
            size = value_bytes(value)
            if slots and size > budget:
                break
            slots.append((slot, value))
            budget -= size
        if slots or base is not None:
            self._outboxes[peer].messages.append(Learn(base, tuple(slots), core.chosen_upto))
            self._outboxes[peer].ready.set()

    async def _read_from_disk(self, from_position: int, max_records: int) -> list[tuple[int, int, bytes]]:
        chosen = self.log
        assert chosen is not None
        out: list[tuple[int, int, bytes]] = []
        for _, first_position, tau_before, location in chosen.slots_from(from_position, 4096):
            if location is None:
                # Learned (say, from a peer in one big catch-up) but its frame
                # is still in the batch being written: wait for that write.
                if not out:
                    await self._written.wait()
                    return await self._read_from_disk(from_position, max_records)
                break
            _, value = wal.value_of(await self.segments.read_frame(location))
            for record in ChosenLog.records_of(value, first_position, tau_before):
                if record[0] >= from_position:
                    out.append(record)
            if len(out) >= max_records:
                break
        return out[:max_records]


def _within_bytes(records: list[tuple[int, int, bytes]], bytes_max: int) -> list[tuple[int, int, bytes]]:
    """The longest prefix of `records` whose payloads fit in `bytes_max` (at least one record)."""
    total = 0
    for i, (_, _, payload) in enumerate(records):
        total += len(payload)
        if total > bytes_max and i:
            return records[:i]
    return records
