"""The journal as a service: an ordered, durable log of committed transactions.

Interface (RPC methods):
  append(payload, tau_min) -> (position, τ)      durable when it returns
  close(tau) -> (closed_tau, position)            "no record at or below τ will follow"
  read(subscriber, from_position, max, wait_s) -> (records, closed_tau, tail)
  checkpointed(subscriber, position)              subscribers may now lose older records

Ordering and time. The journal is the single sequencer of its log: it gives
each appended record its τ_commit = max(tau_min, clock.latest, last τ + 1), so
τ increases with position. The adjudicator passes tau_min = τ_start + 1 (and
has already ruled out conflicts), so τ_commit > τ_start and above every
earlier commit of the same keys.

Closed timestamps. A subscriber may treat its view of the log as complete up
to `closed_tau`: every record with τ ≤ closed_tau is at or below the returned
position, and no later record will have τ ≤ closed_tau. Records make it move
(their τ), heartbeats make it move while idle, and `close(τ)` moves it on
demand, which is how a storage replica serves a read at a fresh τ_start
without waiting for a heartbeat: close bumps the last τ (so later records are
above it) and answers once every record sequenced before it is durable.

Group commit. Appends join the open batch; one writer task writes a batch,
fsyncs once, then publishes it and wakes the appenders. While one batch is
being synced the next one fills, so the fsync rate bounds batches, not
transactions.

This is the single-replica log of the transaction-path issue; the Multi-Paxos
journal replaces what is behind this interface.
"""

from __future__ import annotations

import logging
import os

import trio

from cluster.clock import Clock
from journal import segments
from journal.segments import Record

log = logging.getLogger(__name__)

# Bounds, each with its reason. (Pending appends need no bound of their own:
# each comes from a connection waiting on its COMMIT, and connections and
# transaction sizes are bounded upstream.)
# How many published records are kept in memory for subscribers; older ones
# are read back from the segment files (the slow path for a lagging replica).
MEMORY_TAIL_RECORDS_MAX = 200_000
# A read returns at most this many records so one reply stays bounded.
READ_RECORDS_MAX = 10_000


class _Batch:
    __slots__ = ("records", "frames", "durable", "closes")

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.frames: list[bytes] = []
        self.durable = trio.Event()
        self.closes: list[int] = []  # close() values waiting for this batch


class Journal:
    def __init__(
        self,
        journal_id: int,
        directory: str | None,
        clock: Clock,
        *,
        subscribers: tuple[str, ...] = (),
        heartbeat_interval_s: float = 0.01,
    ) -> None:
        self.journal_id = journal_id
        self.directory = directory  # None: memory only (tests of other parts, --memory)
        self.clock = clock
        self.subscribers = subscribers
        self.heartbeat_interval_s = heartbeat_interval_s
        self._records: list[Record] = []  # in-memory tail, contiguous positions
        self._tail_base = 1  # position of _records[0]
        self._last_position = 0  # last position sequenced (maybe not durable yet)
        self._durable_position = 0
        self._last_tau = 0  # last τ handed out or closed
        self._published_closed = 0
        self._open = _Batch()  # appends join this one
        self._in_flight: _Batch | None = None  # being written and synced
        self._batch_ready = trio.Event()
        self._published = trio.Event()
        self._writer: segments.SegmentWriter | None = None
        self._checkpoints: dict[str, int] = {}
        self._read_positions: dict[str, int] = {}
        self.fsyncs = 0
        self.appended = 0

    # -- lifecycle ---------------------------------------------------------

    def recover(self) -> None:
        if self.directory is None:
            return
        records = segments.recover(self.directory)
        if records:
            self._records = records[-MEMORY_TAIL_RECORDS_MAX:]
            self._tail_base = self._records[0].position
            self._last_position = self._durable_position = records[-1].position
            self._last_tau = max(r.tau for r in records[-1000:])
            self._published_closed = self._last_tau
            self.clock.observe(self._last_tau)
        self._writer = segments.SegmentWriter(self.directory, self._last_position + 1)
        log.info("journal %d recovered %d records", self.journal_id, len(records))

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self.recover()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._write_loop)
            nursery.start_soon(self._heartbeat_loop)
            task_status.started()

    def close_files(self) -> None:
        if self._writer is not None:
            self._writer.close()

    # -- RPC interface -----------------------------------------------------

    async def rpc_append(self, payload: bytes, tau_min: int) -> tuple[int, int]:
        record, batch = self._sequence(payload, tau_min)
        await batch.durable.wait()
        return record.position, record.tau

    async def rpc_close(self, tau: int) -> tuple[int, int]:
        closed = max(self._last_tau, tau)
        self._last_tau = closed
        self.clock.observe(closed)
        batch = self._open if self._open.records else self._in_flight
        if batch is None:
            # The caller learns the new closed timestamp from the reply; other
            # subscribers learn it with the next record or heartbeat, so they
            # are not woken for every fresh read.
            self._published_closed = max(self._published_closed, closed)
            return self._published_closed, self._durable_position
        batch.closes.append(closed)
        await batch.durable.wait()
        return max(self._published_closed, closed), self._durable_position

    async def rpc_read(
        self, subscriber: str, from_position: int, max_records: int, wait_s: float
    ) -> tuple[list[tuple[int, int, bytes]], int, int]:
        self._read_positions[subscriber] = from_position
        if from_position > self._durable_position and wait_s > 0:
            # Long poll: return on the next record or closed-timestamp change.
            with trio.move_on_after(wait_s):
                await self._published.wait()
        max_records = min(max_records, READ_RECORDS_MAX)
        if from_position < self._tail_base and self.directory is not None:
            records = await trio.to_thread.run_sync(
                segments.read_range, self.directory, from_position, max_records
            )
            records = [r for r in records if r.position <= self._durable_position]
        else:
            start = max(from_position - self._tail_base, 0)
            stop = min(start + max_records, self._durable_position - self._tail_base + 1)
            records = self._records[start:stop]
        out = [(r.position, r.tau, r.payload) for r in records]
        tail = out[-1][0] if out else min(from_position - 1, self._durable_position)
        # The closed timestamp speaks for the whole durable log, so it is only
        # given to a subscriber that this reply brings up to the durable tail.
        closed = self._published_closed if tail >= self._durable_position else 0
        return out, closed, tail

    async def rpc_checkpointed(self, subscriber: str, position: int) -> None:
        self._checkpoints[subscriber] = max(position, self._checkpoints.get(subscriber, 0))
        if self.directory is None or not self.subscribers:
            return
        if any(s not in self._checkpoints for s in self.subscribers):
            return
        safe = min(self._checkpoints[s] for s in self.subscribers)
        await trio.to_thread.run_sync(segments.delete_segments_below, self.directory, safe + 1)

    async def rpc_status(self) -> dict:
        return {
            "journal_id": self.journal_id,
            "durable_position": self._durable_position,
            "closed_tau": self._published_closed,
            "fsyncs": self.fsyncs,
            "appended": self.appended,
        }

    # -- internals ---------------------------------------------------------

    def _sequence(self, payload: bytes, tau_min: int) -> tuple[Record, _Batch]:
        tau = max(tau_min, self.clock.latest(), self._last_tau + 1)
        self._last_tau = tau
        self._last_position += 1
        record = Record(self._last_position, tau, payload)
        batch = self._open
        batch.records.append(record)
        if self.directory is not None:
            batch.frames.append(segments.encode_frame(record))
        self._batch_ready.set()
        return record, batch

    async def _write_loop(self) -> None:
        while True:
            await self._batch_ready.wait()
            self._batch_ready = trio.Event()
            if not self._open.records:
                continue
            batch = self._open
            self._open = _Batch()
            self._in_flight = batch
            if self._writer is not None:
                frames = b"".join(batch.frames)
                first, last = batch.records[0].position, batch.records[-1].position
                await trio.to_thread.run_sync(self._writer.write_and_sync, frames, first, last)
                self.fsyncs += 1
            self._publish(batch)
            self._in_flight = None

    def _publish(self, batch: _Batch) -> None:
        records = batch.records
        if self._records and records[0].position != self._records[-1].position + 1:
            raise AssertionError("journal positions must be contiguous")
        if not self._records:
            self._tail_base = records[0].position
        self._records.extend(records)
        self._durable_position = records[-1].position
        self.appended += len(records)
        assert records[-1].tau > self._published_closed, "τ must rise along the log"
        closed = max([records[-1].tau, *batch.closes])
        self._published_closed = max(self._published_closed, closed)
        self._trim_memory()
        batch.durable.set()
        self._wake_readers()

    def _trim_memory(self) -> None:
        excess = len(self._records) - MEMORY_TAIL_RECORDS_MAX
        if self._read_positions:
            lowest_needed = min(self._read_positions.values())
            excess = max(excess, lowest_needed - self._tail_base - 1000)
        if excess > 1000:
            del self._records[:excess]
            self._tail_base += excess

    def _wake_readers(self) -> None:
        self._published.set()
        self._published = trio.Event()

    async def _heartbeat_loop(self) -> None:
        while True:
            await trio.sleep(self.heartbeat_interval_s)
            if not self._open.records and self._in_flight is None:
                now = self.clock.latest()
                if now > self._last_tau:
                    self._last_tau = now
                    self._published_closed = now
                    self._wake_readers()


def journal_directory(data_dir: str, journal_id: int) -> str:
    path = os.path.join(data_dir, f"journal-{journal_id}")
    os.makedirs(path, exist_ok=True)
    return path
