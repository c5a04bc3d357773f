"""Journal replicas in one process on real files: the shell, recovery, catch-up, compaction.

Three `JournalReplica`s on an `InProcessTransport`, each on its own data
directory, as `dsql serve` runs them. A replica is "killed" by cancelling its
tasks and unserving its address (what it synced stays, nothing else), and
restarted by building a new one on the same directory. Small segments and a
small memory tail make the disk paths run.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import pytest
import trio

from cluster.clock import Clock
from cluster.disk import Disk, OsDisk
from cluster.sim.disk import DiskFaults, SimDisk
from cluster.transport import InProcessTransport
from journal.client import JournalClient
from journal.errors import AppendUncertain, NotLeader, PositionCompacted
from journal.interface import Read, size_allowance_s
from journal.log import ChosenLog
from journal.paxos import PaxosConfig
from journal.replica import JournalReplica, ReplicaConfig

MS = 1_000_000
CONFIG = ReplicaConfig(
    paxos=PaxosConfig(
        replica_count=3, lease_ns=150 * MS, election_timeout_ns=170 * MS, election_jitter_ns=50 * MS,
        heartbeat_ns=10 * MS, chosen_window_slots=4, slot_records_max=8,
    ),
    memory_records_max=40,
    segment_bytes_max=4096,
)  # fmt: skip
ADDRESSES = [f"journal/0/{i}" for i in range(3)]


class Replicas:
    def __init__(
        self, nursery: trio.Nursery, root: str, subscribers: tuple[str, ...] = (), *,
        config: ReplicaConfig = CONFIG, disks: Callable[[int], Disk] | None = None,
    ) -> None:  # fmt: skip
        self.nursery = nursery
        self.root = root
        self.config = config
        self.disks = disks or (lambda i: OsDisk(self.directory(i)))
        self.clock = Clock()
        self.transport = InProcessTransport()
        self.transport_running = False
        self.subscribers = subscribers
        self.replicas: list[JournalReplica | None] = [None, None, None]
        self.scopes: list[trio.CancelScope | None] = [None, None, None]
        self.client = JournalClient(self.transport, ADDRESSES, append_timeout_s=5.0)

    def directory(self, i: int) -> str:
        return os.path.join(self.root, f"replica-{i}")

    async def start(self, i: int) -> JournalReplica:
        replica = JournalReplica(
            0, i, ADDRESSES, self.transport, self.clock, self.disks(i),
            config=self.config, subscribers=self.subscribers,
        )  # fmt: skip
        if not self.transport_running:  # the tasks the replicas' handlers run in
            await self.nursery.start(self.transport.run)
            self.transport_running = True
        self.transport.serve(ADDRESSES[i], replica)
        scope = trio.CancelScope()

        async def run(task_status=trio.TASK_STATUS_IGNORED):
            with scope:
                await replica.run(task_status=task_status)

        await self.nursery.start(run)
        self.replicas[i], self.scopes[i] = replica, scope
        return replica

    def kill(self, i: int) -> None:
        self.transport.unserve(ADDRESSES[i])
        self.scopes[i].cancel()
        self.replicas[i].crash()
        self.replicas[i].close_files()
        self.replicas[i] = None

    async def start_all(self) -> None:
        for i in range(3):
            await self.start(i)

    def leader(self) -> int:
        for i, replica in enumerate(self.replicas):
            if replica is not None and replica.core.role.value == "leader":
                return i
        return -1

    async def wait_until(self, condition, timeout_s: float = 10.0) -> None:
        with trio.fail_after(timeout_s):
            while not condition():
                await trio.sleep(0.01)


async def read_all(replica: JournalReplica, start: int = 1) -> list[tuple[int, int, bytes]]:
    out = []
    position = start
    while position <= replica.log.end:
        records = (await replica.rpc_read(Read("test", position, 1000, 0))).records
        out += records
        position = records[-1][0] + 1
    return out


async def test_appends_reads_and_closes(nursery, tmp_path):
    r = Replicas(nursery, str(tmp_path))
    await r.start_all()
    results = [await r.client.append(b"p%d" % i, r.clock.latest()) for i in range(30)]
    assert [p for p, _ in results] == list(range(1, 31))
    assert [t for _, t in results] == sorted(t for _, t in results)
    await r.wait_until(lambda: all(x.log.end == 30 for x in r.replicas))
    logs = [await read_all(x) for x in r.replicas]
    assert logs[0] == logs[1] == logs[2]
    assert [payload for _, _, payload in logs[0]] == [b"p%d" % i for i in range(30)], "older records come from disk"
    closed, position = await r.client.close(r.clock.latest())
    assert position == 30 and closed >= results[-1][1]
    # A read that reaches the end carries the closed timestamp; one that does not, none.
    reply = await r.replicas[1].rpc_read(Read("test", 31, 10, 0))
    closed_at_end, tail = reply.closed, reply.tail
    assert tail == 30 and closed_at_end >= results[-1][1]
    reply = await r.replicas[1].rpc_read(Read("test", 1, 5, 0))
    closed_midway, tail = reply.closed, reply.tail
    assert tail == 5 and closed_midway == 0


async def test_a_killed_follower_catches_up_from_disk_and_memory(nursery, tmp_path):
    r = Replicas(nursery, str(tmp_path))
    await r.start_all()
    for i in range(5):
        await r.client.append(b"a%d" % i, 0)
    follower = (r.leader() + 1) % 3
    r.kill(follower)
    for i in range(100):  # far past the other replicas' in-memory window
        await r.client.append(b"b%d" % i, 0)
    restarted = await r.start(follower)
    await r.wait_until(lambda: restarted.log.end == 105)
    assert await read_all(restarted) == await read_all(r.replicas[r.leader()])


async def test_leader_failover_keeps_every_acknowledged_append(nursery, tmp_path):
    r = Replicas(nursery, str(tmp_path))
    await r.start_all()
    acked = [await r.client.append(b"x%d" % i, 0) for i in range(20)]
    old = r.leader()
    r.kill(old)
    with trio.fail_after(10):
        acked += [await r.client.append(b"y%d" % i, 0) for i in range(20)]
    assert r.leader() not in (old, -1)
    log = await read_all(r.replicas[r.leader()])
    assert [(p, t) for p, t, _ in log] == acked
    # The old leader comes back as a follower and learns what it missed.
    back = await r.start(old)
    await r.wait_until(lambda: back.log.end == 40)
    assert await read_all(back) == log


async def test_every_replica_restarts_from_its_files(nursery, tmp_path):
    r = Replicas(nursery, str(tmp_path))
    await r.start_all()
    acked = [await r.client.append(b"z%d" % i, 0) for i in range(25)]
    for i in range(3):  # kill -9 of everything
        r.kill(i)
    await r.start_all()
    with trio.fail_after(10):
        more = await r.client.append(b"after", 0)
    assert more[0] == 26 and more[1] > acked[-1][1]
    log = await read_all(r.replicas[r.leader()])
    assert [(p, t) for p, t, _ in log[:25]] == acked


async def test_a_torn_tail_on_disk_is_cut_at_restart(nursery, tmp_path):
    r = Replicas(nursery, str(tmp_path))
    await r.start_all()
    for i in range(10):
        await r.client.append(b"t%d" % i, 0)
    victim = (r.leader() + 1) % 3
    r.kill(victim)
    directory = r.directory(victim)
    newest = sorted(os.listdir(directory))[-1]
    with open(os.path.join(directory, newest), "ab") as f:
        f.write(b"\x00\x00\x01\x00garbage-of-a-torn-write")
    replica = await r.start(victim)
    assert replica.segments.torn_bytes_cut > 0
    await r.client.append(b"more", 0)
    await r.wait_until(lambda: replica.log.end == 11)


async def test_compaction_after_every_subscriber_checkpointed(nursery, tmp_path):
    r = Replicas(nursery, str(tmp_path), subscribers=("s1", "s2"))
    await r.start_all()
    for i in range(200):
        await r.client.append(b"c%d" % i + b"." * 100, 0)
    await r.wait_until(lambda: all(x.log.end == 200 for x in r.replicas))
    before = [len(x.segments.segments) for x in r.replicas]
    await r.client.checkpointed("s1", 150)
    assert [len(x.segments.segments) for x in r.replicas] == before, "s2 has not checkpointed yet"
    await r.client.checkpointed("s2", 150)
    await r.client.append(b"next", 0)  # the BASE record rides with a batch; then old segments go
    await r.wait_until(lambda: all(len(x.segments.segments) < b for x, b in zip(r.replicas, before, strict=True)))
    leader = r.replicas[r.leader()]
    with pytest.raises(PositionCompacted):
        await leader.rpc_read(Read("s1", 1, 10, 0))
    records = (await leader.rpc_read(Read("s1", 151, 10, 0))).records
    assert records[0][0] == 151
    # A restart recovers from the remaining segments.
    i = r.leader()
    r.kill(i)
    replica = await r.start(i)
    assert replica.log.first_position > 1
    assert (await replica.rpc_read(Read("s1", 151, 1, 0))).records[0][2] == b"c150" + b"." * 100


def test_the_chosen_log_keeps_a_bounded_payload_in_memory() -> None:
    # A bulk load's records carry a thousand rows each: memory is bounded by bytes too.
    log = ChosenLog(1, 0, memory_records_max=1000, memory_bytes_max=10_000)
    for slot in range(1, 101):
        log.append_slot(slot, slot, [(slot, slot, b"x" * 1000)], slot - 1, None)
    in_memory = [p for p in range(1, 101) if log.memory_range(p, 1) is not None]
    assert 10 <= len(in_memory) <= 11 and in_memory[-1] == 100  # the newest, ~10 KB of them
    assert log.memory_range(100, 5) == [(100, 100, b"x" * 1000)]
    log.drop_before(95)  # compaction drops what memory held below it too
    assert [p for p in range(1, 101) if log.memory_range(p, 1) is not None] == list(range(95, 101))
    for slot in range(101, 106):
        log.append_slot(slot, slot, [(slot, slot, b"x" * 1000)], slot - 1, None)
    assert [p for p in range(1, 106) if log.memory_range(p, 1) is not None] == list(range(95, 106))


async def test_an_immediate_close_promises_what_a_close_promises(nursery, tmp_path):
    """`close_now`, a close an idle leader in this process answers in the caller's task, gives
    what `close` gives, and the promise holds: the next append takes the next position and a τ
    above the closed one. A follower, a leader with records in flight and a killed leader say
    NOT_NOW (the client's None), and the caller's `close` takes over; a follower refuses with
    the leader's name, which the client then asks."""
    from cluster.transport import NOT_NOW
    from journal.interface import Close

    r = Replicas(nursery, str(tmp_path))
    await r.start_all()
    for i in range(5):
        await r.client.append(b"a%d" % i, 0)
    leader = r.leader()
    assert leader >= 0 and r.client.leader == leader
    tau = r.clock.latest()
    answer = r.client.close_now(tau)
    assert answer is not None
    closed, position = answer
    assert closed >= tau and position == 5
    assert await r.client.close(tau) == (closed, position)
    after = await r.client.append(b"b", 0)
    assert after[0] == 6 and after[1] > closed
    for i, replica in enumerate(r.replicas):
        if i != leader:
            with pytest.raises(NotLeader) as refused:
                replica.now_close(Close(r.clock.latest()))
            assert refused.value.leader == leader, "a follower names the leader"
    # A client that thinks a follower leads learns the leader from its first immediate close.
    r.client.leader = (leader + 1) % len(r.replicas)
    assert r.client.close_now(r.clock.latest()) is None
    assert r.client.leader == leader
    assert r.client.close_now(r.clock.latest()) is not None

    # Records in flight: the promise would have to wait for them.
    done = trio.Event()

    async def append() -> None:
        await r.client.append(b"c", 0)
        done.set()

    nursery.start_soon(append)
    seen = 0
    while not done.is_set():
        if r.replicas[leader].core.inflight:
            assert r.replicas[leader].now_close(Close(r.clock.latest())) is NOT_NOW
            seen += 1
        await trio.sleep(0)
    assert seen, "the append was never seen in flight"
    r.kill(leader)
    assert r.client.close_now(r.clock.latest()) is None
    closed, position = await r.client.close(r.clock.latest())  # a new leader answers
    assert position == 7


@pytest.mark.parametrize("follower_bytes_per_s, chosen", [(2 << 20, True), (1 << 19, False)])
async def test_a_large_append_has_time_to_be_synced_in_proportion_to_its_size(
    nursery, tmp_path, follower_bytes_per_s, chosen
):
    """Followers that write at 2 MiB/s take half a second over a 1 MiB record: longer than the
    replica's append wait (0.3 s here), which bounds a lost majority, but within what a record of
    that size is given on top (`size_allowance_s`), so the append is chosen. At 0.5 MiB/s (2 s)
    it is past that too, and the caller hears "uncertain" as before."""
    config = ReplicaConfig(
        paxos=PaxosConfig(
            replica_count=3, lease_ns=2_800 * MS, election_timeout_ns=3_000 * MS, election_jitter_ns=50 * MS,
            heartbeat_ns=10 * MS,
        ),
        append_wait_s=0.3,
    )  # fmt: skip
    rng = random.Random(14)
    fast = DiskFaults(sync_latency_min_s=0.0001, sync_latency_max_s=0.0002)
    slow = DiskFaults(sync_latency_min_s=0.0001, sync_latency_max_s=0.0002, write_bytes_per_s=follower_bytes_per_s)
    r = Replicas(nursery, str(tmp_path), config=config, disks=lambda i: SimDisk(rng, fast if i == 0 else slow))
    await r.start_all()
    await r.wait_until(lambda: r.leader() == 0)
    await r.client.append(b"small", r.clock.latest())
    payload = b"x" * (1 << 20)
    assert config.append_wait_s < (1 << 20) / follower_bytes_per_s
    started = trio.current_time()
    if chosen:
        position, _ = await r.client.append(payload, r.clock.latest())
        assert position == 2
        assert trio.current_time() - started < config.append_wait_s + size_allowance_s(len(payload))
    else:
        with pytest.raises(AppendUncertain, match="not chosen in time"):
            await r.client.append(payload, r.clock.latest())
