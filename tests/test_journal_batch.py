"""Appends in batches (`AppendBatch`) and how the replicas' syncs line up, on trio's MockClock.

Three `JournalReplica`s on an `InProcessTransport`, each on a memory disk whose
sync takes a fixed simulated time, so that the timing of a commit can be read
exactly: the leader sends its Accept to the followers before (not after) its
own write is synced, so the three syncs of a slot overlap and an append costs
about one sync, not two (issue 14, item 4); a batch of appends is one request
whose records each get their own position, τ and answer.
"""

from __future__ import annotations

import trio

from cluster.clock import Clock
from cluster.disk import MemoryDisk
from cluster.transport import InProcessTransport
from journal.client import JournalClient
from journal.errors import AppendRefused
from journal.interface import APPENDED, NOT_LEADER, AppendBatch
from journal.paxos import PaxosConfig
from journal.replica import JournalReplica, ReplicaConfig

MS = 1_000_000
SYNC_S = 0.004
ADDRESSES = [f"journal/0/{i}" for i in range(3)]
CONFIG = ReplicaConfig(
    paxos=PaxosConfig(replica_count=3, lease_ns=150 * MS, election_timeout_ns=170 * MS, election_jitter_ns=50 * MS,
                      heartbeat_ns=10 * MS),  # fmt: skip
)


class SlowSyncDisk(MemoryDisk):
    """A memory disk whose every sync takes SYNC_S of trio time; it records when each ran."""

    def __init__(self) -> None:
        super().__init__()
        self.sync_spans: list[tuple[float, float]] = []

    async def append(self, name: str, data: bytes, *, sync: bool = True) -> int:
        offset = await super().append(name, data, sync=sync)
        if sync:
            started = trio.current_time()
            await trio.sleep(SYNC_S)
            self.sync_spans.append((started, trio.current_time()))
        return offset


async def _replicas(nursery: trio.Nursery) -> tuple[list[JournalReplica], list[SlowSyncDisk], JournalClient, Clock]:
    clock = Clock()
    transport = InProcessTransport()
    await nursery.start(transport.run)
    disks = [SlowSyncDisk() for _ in ADDRESSES]
    replicas = [JournalReplica(0, i, ADDRESSES, transport, clock, disks[i], config=CONFIG) for i in range(3)]
    for address, replica in zip(ADDRESSES, replicas, strict=True):
        transport.serve(address, replica)
        await nursery.start(replica.run)
    client = JournalClient(transport, ADDRESSES, append_timeout_s=5.0)
    await client.append(b"first", 0)  # waits out the election
    return replicas, disks, client, clock


async def test_the_replicas_sync_a_slot_at_the_same_time(nursery, autojump_clock):
    replicas, disks, client, clock = await _replicas(nursery)
    await trio.sleep(1.0)  # quiet: heartbeats only (they sync nothing)
    for disk in disks:
        disk.sync_spans.clear()
    started = trio.current_time()
    await client.append(b"timed", clock.latest())
    took = trio.current_time() - started
    spans = [disk.sync_spans for disk in disks]
    assert all(len(s) == 1 for s in spans), spans
    # Every replica's sync began at once (the leader did not wait for its own before sending).
    assert max(s[0][0] for s in spans) - min(s[0][0] for s in spans) < SYNC_S / 4, spans
    assert SYNC_S <= took < 1.5 * SYNC_S, f"an append took {took * 1000:.1f} ms with {SYNC_S * 1000:g} ms syncs"
    assert sum(r.fsyncs for r in replicas) >= 3


async def test_a_batch_gives_each_append_its_own_record_and_answer(nursery, autojump_clock):
    replicas, _, client, clock = await _replicas(nursery)
    tau_min = clock.latest()
    appends = [(b"a", tau_min, 0), (b"b", tau_min, 0), (b"too late", tau_min, 1), (b"c", tau_min, 0)]
    results = await client.append_batch(appends)
    assert isinstance(results[2], AppendRefused), results
    chosen = [results[i] for i in (0, 1, 3)]
    assert all(isinstance(r, tuple) for r in chosen), results
    assert [p for p, _ in chosen] == [2, 3, 4]
    assert chosen[0][1] < chosen[1][1] < chosen[2][1] and chosen[0][1] >= tau_min
    leader = next(r for r in replicas if r.leads())
    records = leader.log.memory_range(2, 10)
    assert [payload for _, _, payload in records] == [b"a", b"b", b"c"]
    assert await client.append_batch([]) == []


async def test_a_batch_sent_to_a_follower_goes_to_the_leader(nursery, autojump_clock):
    replicas, disks, client, clock = await _replicas(nursery)
    follower = next(i for i, r in enumerate(replicas) if not r.leads())
    reply = await replicas[follower].rpc_append_batch(AppendBatch(((b"x", 0, 0), (b"y", 0, 0))))
    assert [r[0] for r in reply.results] == [NOT_LEADER, NOT_LEADER]
    client.leader = follower
    before = [d.syncs for d in disks]
    results = await client.append_batch([(b"x%d" % i, clock.latest(), 0) for i in range(50)])
    assert all(isinstance(r, tuple) for r in results), results
    assert [p for p, _ in results] == list(range(2, 52))
    assert client.leader != follower
    # Fifty records in one request share the leader's syncs (group commit): far fewer than fifty.
    assert all(d.syncs - b <= 5 for d, b in zip(disks, before, strict=True)), [d.syncs for d in disks]
    reply = await replicas[client.leader].rpc_append_batch(AppendBatch(((b"z", 0, 0),)))
    assert reply.results[0][0] == APPENDED
    (only,) = await client.append_batch([(b"w", 0, 0)])
    assert only == (53, only[1]), only
