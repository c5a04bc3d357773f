"""Another adjudicator process takes the ranges of one that is cut off (adjudicator/ownership.py).

The journals and storage nodes are the embedded cluster's (real replicas on
the in-process transport). Two adjudicator processes, each an
`AdjudicatorProcess` with its own clock, reach that transport through a
`Host`: cutting a host off makes every call it sends fail and every address
it serves unreachable, as a network partition would, while its objects stay
alive and keep running (so its lease cannot be renewed: the journal is on
the other side). The embedded cluster's own adjudicators are not used; the
processes serve their ranges at their own addresses (adjudicator/routing.py).

The last test runs the two adjudicator processes as OS processes over TCP
(tests/support/adjudicator_node.py) and cuts one off by SIGSTOP: alive, its
sockets open, but silent, as behind a partition.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from adjudicator.client import AdjudicatorClient
from adjudicator.interface import Commit, CommitConflict, CommitTimeout, LeaseExpiring, NotOwner, Prepare
from adjudicator.ownership import AdjudicatorProcess
from adjudicator.role import encode_commit_payload
from adjudicator.routing import OwnerMap, address_book, install, owned_address, read_leases
from assembly.embedded import ClusterConfig, EmbeddedCluster
from bench.servers import free_port
from cluster.clock import Clock
from cluster.tcp import TcpTransport
from cluster.transport import NOT_NOW, InProcessTransport, Peer, Unreachable
from journal.client import JournalClient
from storage import keys
from storage.lease_record import LeaseClaim, LeaseState, encode_lease_payload, next_lease_state

REPO = Path(__file__).resolve().parents[1]
LEASE_S = 2.0
SECOND_NS = 1_000_000_000


class Host:
    """One machine's view of the shared in-process transport, which a partition can cut off."""

    def __init__(self, inner: InProcessTransport) -> None:
        self.inner = inner
        self.cut = False
        self.blocked: tuple[str, ...] = ()  # address prefixes its calls cannot reach (a one-way cut)
        self._served: dict[str, object] = {}

    def serve(self, address: str, handler: object) -> None:
        self._served[address] = handler
        if not self.cut:
            self.inner.serve(address, handler)

    def unserve(self, address: str) -> None:
        self._served.pop(address, None)
        self.inner.unserve(address)

    def connect(self, address: str) -> Peer:
        return Peer(self, address)  # type: ignore[arg-type]

    async def call(self, address: str, method: str, args: tuple) -> object:
        if self.cut or address.startswith(self.blocked):
            raise Unreachable(f"{address}: this host is cut off")
        return await self.inner.call(address, method, args)

    def call_now(self, address: str, method: str, args: tuple) -> object:
        if self.cut or address.startswith(self.blocked):
            return NOT_NOW  # the call it stands for is refused
        return self.inner.call_now(address, method, args)

    def partition(self) -> None:
        self.cut = True
        for address in self._served:
            self.inner.unserve(address)

    def heal(self) -> None:
        self.cut = False
        for address, handler in self._served.items():
            self.inner.serve(address, handler)


def sql_key(oid: int, pk: int) -> bytes:
    return keys.table_prefix(keys.table_key_id_for(oid), keys.PRIMARY_INDEX_ID) + keys.encode_int(pk)


def key_in_range(cluster: EmbeddedCluster, index: int, pk: int) -> bytes:
    for oid in range(16384, 17000):
        key = sql_key(oid, pk)
        if cluster.topology.adjudicator_ranges.owner(key) == index:
            return key
    raise AssertionError(f"no table key in range {index}")


def payload(*writes: tuple[bytes, object]) -> bytes:
    return encode_commit_payload(list(writes), None)


async def until(predicate, timeout_s: float = 15.0) -> None:
    with trio.fail_after(timeout_s):
        while not predicate():
            await trio.sleep(0.01)


async def start(nursery: trio.Nursery):
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    hosts = [Host(cluster.transport), Host(cluster.transport)]
    processes = [
        AdjudicatorProcess(p, 2, cluster.topology, hosts[p], Clock(), lease_s=LEASE_S, margin_s=0.05, stagger_s=0.2)
        for p in range(2)
    ]
    for process in processes:
        await nursery.start(process.run)
    # Each owns its default ranges (i mod 2 == p) once started.
    for process in processes:
        await until(lambda process=process: all(process.owns(i) for i in process.default_ranges()))
        assert process.default_ranges() and not process.takeovers
    # The clients' side (a QP process, say): its owner map, installed for its
    # transport, so that every AdjudicatorClient made on it routes by it.
    routes = OwnerMap(cluster.topology, cluster.transport, cluster.clock, 2)
    install(cluster.transport, routes)
    client = AdjudicatorClient(cluster.topology, cluster.transport)
    assert client.routes is routes
    return cluster, hosts, processes, client


def test_lease_records_are_compare_and_set():
    none = LeaseState()
    first = next_lease_state(none, 10, LeaseClaim(3, 1, 0, 100, 0))
    assert first == LeaseState(1, 0, 100, 0)
    # A renewal extends (never shortens) the expiry of the same epoch and owner only.
    assert next_lease_state(first, 50, LeaseClaim(3, 1, 0, 200, 1)) == LeaseState(1, 0, 200, 0)
    assert next_lease_state(first, 50, LeaseClaim(3, 1, 0, 90, 1)) == first
    assert next_lease_state(first, 50, LeaseClaim(3, 1, 1, 200, 1)) is None
    # Another process's claim applies only once the lease has run out in the log's time.
    assert next_lease_state(first, 100, LeaseClaim(3, 2, 1, 300, 1)) is None
    assert next_lease_state(first, 101, LeaseClaim(3, 2, 1, 300, 1)) == LeaseState(2, 1, 300, 100)
    # A stale expectation fails, whoever asks.
    assert next_lease_state(LeaseState(2, 1, 300, 100), 400, LeaseClaim(3, 2, 0, 500, 1)) is None
    # The owner itself (a restarted process) may claim the next epoch at once; the
    # fence keeps the highest expiry of every earlier epoch.
    assert next_lease_state(LeaseState(2, 1, 300, 100), 150, LeaseClaim(3, 3, 1, 250, 2)) == LeaseState(3, 1, 250, 300)


async def test_a_claim_before_the_lease_ends_fails_in_storage(nursery):
    cluster, hosts, processes, client = await start(nursery)
    index = processes[0].default_ranges()[1]
    (held,) = await read_leases(cluster.storage_client(), cluster.clock.latest(), [index])
    assert held.owner == 0 and held.epoch >= 1
    journal = JournalClient(cluster.transport, cluster.topology.journal_addresses(0))
    claim = LeaseClaim(index, held.epoch + 1, 1, cluster.clock.latest() + 60 * SECOND_NS, held.epoch)
    _, tau = await journal.append(encode_lease_payload(claim), cluster.clock.latest())
    assert tau <= held.expiry  # the journal's τ falls inside the running lease
    (after,) = await read_leases(cluster.storage_client(), tau, [index])
    assert (after.epoch, after.owner) == (held.epoch, 0)
    assert processes[0].owns(index)


async def test_a_cut_off_owner_is_replaced_and_commits_continue_without_lost_updates(nursery):
    cluster, hosts, processes, client = await start(nursery)
    old, new = processes
    index = old.default_ranges()[1]  # a range of SQL table keys
    key = key_in_range(cluster, index, 1)
    clock = cluster.clock
    await client.commit(clock.latest(), payload((key, ("v1",))), [key])
    assert old.adjudicators[index].commits == 1

    # A transaction starts, then another commits the key through the old owner:
    # the first overlapped that commit, so it must never commit the key.
    tau_overlapping = clock.latest()
    tau_b = await client.commit(clock.latest(), payload((key, ("v2",))), [key])
    assert tau_b > tau_overlapping

    hosts[0].partition()
    # After the old owner's lease (it cannot renew: the journal is out of its
    # reach), the other process claims the range.
    await until(lambda: new.owns(index))
    assert new.takeovers >= 1
    lease = new.leases[index]
    assert lease.epoch > old.leases[index].epoch
    # Its floor is above every τ the old owner could have let a commit have.
    assert lease.floor > old.leases[index].expiry >= tau_b

    # Commits continue: the client's routes still name the old owner; it re-routes.
    assert client.routes.owner(index) == 0
    tau_c = await client.commit(clock.latest(), payload((key, ("v3",))), [key])
    assert client.routes.owner(index) == 1
    assert new.adjudicators[index].commits == 1
    # No lost update: the new owner never saw v2's commit, yet the overlapping
    # transaction loses.
    with pytest.raises(CommitConflict):
        await client.commit(tau_overlapping, payload((key, ("lost update",))), [key])
    await clock.wait_until_past(tau_c)
    storage = cluster.storage_client()
    assert await storage.get([key], tau_b, None) == [("v2",)]
    assert await storage.get([key], tau_c, None) == [("v3",)]

    # The old owner's partition heals: it learns it was deposed and refuses the range.
    hosts[0].heal()
    await until(lambda: old.leases[index].deposed)
    stale = cluster.transport.connect(owned_address(index, 0))
    with pytest.raises(NotOwner) as refused:
        await stale.call("commit", Commit(clock.latest(), payload((key, ("stale",))), (key,)))
    assert refused.value.owner == 1 and refused.value.epoch == lease.epoch
    # A client whose routes still name the old owner is sent on by its answer.
    late = AdjudicatorClient(cluster.topology, cluster.transport,
                             routes=OwnerMap(cluster.topology, cluster.transport, clock, 2))
    assert late.routes.owner(index) == 0
    tau_d = await late.commit(clock.latest(), payload((key, ("v4",))), [key])
    assert late.routes.owner(index) == 1
    await clock.wait_until_past(tau_d)
    assert await storage.get([key], tau_d, None) == [("v4",)]
    # It took all of the old owner's ranges, and keeps them: its renewals
    # land, so the healed process claims nothing back.
    await trio.sleep(2 * LEASE_S)
    assert all(new.owns(i) for i in range(cluster.topology.adjudicator_count))
    assert not any(old.owns(i) for i in range(cluster.topology.adjudicator_count))
    assert old.takeovers == 0


async def test_cross_range_commits_continue_after_a_takeover(nursery):
    cluster, hosts, processes, client = await start(nursery)
    old, new = processes
    index = old.default_ranges()[1]
    mine = key_in_range(cluster, index, 2)
    theirs = key_in_range(cluster, new.default_ranges()[0], 2)
    clock = cluster.clock
    # The old owner coordinates, the other process prepares.
    tau_overlapping = clock.latest()
    tau_a = await client.commit(clock.latest(), payload((mine, ("a",)), (theirs, ("a",))), [mine, theirs])
    assert old.adjudicators[index].commits == 1

    hosts[0].partition()
    await until(lambda: all(new.owns(i) for i in old.default_ranges()))
    # Every range is now in one process; a cross-range commit in the other order works.
    tau_b = await client.commit(clock.latest(), payload((theirs, ("b",)), (mine, ("b",))), [theirs, mine])
    assert tau_b > tau_a
    with pytest.raises(CommitConflict):
        await client.commit(tau_overlapping, payload((mine, ("lost",)),), [mine])
    await clock.wait_until_past(tau_b)
    assert await cluster.storage_client().get([mine, theirs], tau_b, None) == [("b",), ("b",)]


async def test_a_participant_refuses_a_bound_past_its_lease(nursery):
    cluster, hosts, processes, client = await start(nursery)
    index = processes[1].default_ranges()[0]
    key = key_in_range(cluster, index, 3)
    participant = processes[1].adjudicators[index]
    expiry = processes[1].leases[index].expiry
    peer = cluster.transport.connect(owned_address(index, 1))
    with pytest.raises(LeaseExpiring):
        await peer.call("prepare", Prepare(12345, cluster.clock.latest(), expiry + 1, (key,)))
    assert participant.lease_refusals == 1 and not len(participant.leases)


async def test_a_restarted_process_reclaims_its_ranges_at_once_with_a_floor_above_its_predecessors_lease(nursery):
    cluster, hosts, processes, client = await start(nursery)
    dead = processes[0]
    index = dead.default_ranges()[1]
    key = key_in_range(cluster, index, 4)
    clock = cluster.clock
    tau_overlapping = clock.latest()
    await client.commit(clock.latest(), payload((key, ("before",))), [key])
    # kill -9: nothing leaves it or reaches it any more.
    hosts[0].partition()
    dead._nursery.cancel_scope.cancel()
    last_expiry = {i: dead.leases[i].expiry for i in dead.default_ranges()}
    epochs = {i: dead.leases[i].epoch for i in dead.default_ranges()}

    host = Host(cluster.transport)
    restarted = AdjudicatorProcess(0, 2, cluster.topology, host, Clock(), lease_s=LEASE_S, margin_s=0.05,
                                   stagger_s=0.2)
    await nursery.start(restarted.run)
    await until(lambda: all(restarted.owns(i) for i in restarted.default_ranges()))
    taken_at = clock.latest()
    for i in restarted.default_ranges():
        lease = restarted.leases[i]
        assert lease.epoch == epochs[i] + 1
        # Its predecessor's appends may carry any τ up to its lease's end: the
        # floor covers them (through the lease key's fence).
        assert lease.floor >= last_expiry[i]
    # It did not wait for the old leases to run out (the other process took nothing).
    assert taken_at < max(last_expiry.values())
    assert processes[1].takeovers == 0
    with pytest.raises(CommitConflict):
        await client.commit(tau_overlapping, payload((key, ("lost",))), [key])
    # A transaction that starts above the floor commits.
    floor = restarted.leases[index].floor
    await clock.wait_until_past(floor)
    tau = await client.commit(clock.latest(), payload((key, ("after",))), [key])
    assert tau > floor


async def test_an_owner_that_cannot_confirm_a_renewal_stops_committing_when_its_lease_ends(nursery):
    cluster, hosts, processes, client = await start(nursery)
    owner = processes[0]
    index = owner.default_ranges()[1]
    key = key_in_range(cluster, index, 5)
    clock = cluster.clock
    await client.commit(clock.latest(), payload((key, ("v1",))), [key])
    # Its renewals still reach the journal (so nobody else may claim the range),
    # but it cannot read them back from storage: it never learns its lease was extended.
    hosts[0].blocked = ("storage/",)
    lease = owner.leases[index]
    known = lease.expiry
    await until(lambda: clock.now().earliest > known)
    assert lease.expiry == known and not lease.deposed
    with pytest.raises(LeaseExpiring):
        await client.commit(clock.latest(), payload((key, ("v2",))), [key])
    assert owner.adjudicators[index].lease_refusals >= 1
    (stored,) = await read_leases(cluster.storage_client(), clock.latest(), [index])
    assert (stored.epoch, stored.owner) == (lease.epoch, 0) and stored.expiry > known
    # Once it reads again, its next renewal is confirmed and it commits again.
    hosts[0].blocked = ()
    await until(lambda: lease.expiry > clock.latest())
    await client.commit(clock.latest(), payload((key, ("v3",))), [key])
    assert processes[1].takeovers == 0


@pytest.mark.slow
async def test_over_tcp_a_paused_process_is_replaced_and_refuses_the_range_when_it_resumes(nursery):
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    topo, clock = cluster.topology, cluster.clock
    # This process serves the journals and storage nodes over TCP too.
    backend = ("127.0.0.1", free_port())
    ports = [free_port(), free_port()]
    book = {address: backend for j in range(topo.journal_count) for address in topo.journal_addresses(j)}
    book.update({address: backend for address in topo.storage_subscribers()})
    book.update(address_book(topo.adjudicator_count, [("127.0.0.1", port) for port in ports]))
    tcp = TcpTransport(book)
    for replicas in cluster.journal_replicas:
        for replica in replicas:
            tcp.serve(replica.name, replica)
    for n, node in enumerate(cluster.storage_nodes):
        tcp.serve(topo.storage_address(n), node)
    await nursery.start(tcp.run)
    await nursery.start(tcp.listen, *backend)

    wire_book = json.dumps({address: list(endpoint) for address, endpoint in book.items()})
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.adjudicator_node", "--process", str(p), "--processes", "2",
             "--port", str(port), "--book", wire_book, "--lease-s", str(LEASE_S)],
            stdout=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip
        for p, port in enumerate(ports)
    ]
    try:
        for p, proc in enumerate(procs):
            with trio.fail_after(30):
                line = await trio.to_thread.run_sync(proc.stdout.readline)
            assert f"adjudicator process {p} ready" in line, line
        client = AdjudicatorClient(topo, tcp, routes=OwnerMap(topo, tcp, clock, 2), timeout_s=3.0)
        storage = cluster.storage_client()
        index = 2  # an SQL range; process 0 claims it first (2 mod 2)
        key = key_in_range(cluster, index, 6)
        await client.commit(clock.latest(), payload((key, ("v1",))), [key])
        tau_overlapping = clock.latest()
        tau_b = await client.commit(clock.latest(), payload((key, ("v2",))), [key])
        (before,) = await read_leases(storage, clock.latest(), [index])
        assert before.owner == 0

        procs[0].send_signal(signal.SIGSTOP)
        with trio.fail_after(20):
            while (await read_leases(storage, clock.latest(), [index]))[0].owner != 1:
                await trio.sleep(0.05)
        # Commits continue: a call already sent into the silent process times
        # out (its outcome unknown to the client), and the client's next try
        # goes to the new owner.
        for _ in range(3):
            try:
                tau_c = await client.commit(clock.latest(), payload((key, ("v3",))), [key])
                break
            except CommitTimeout:
                continue
        else:
            raise AssertionError("no commit reached the new owner")
        assert client.routes.owner(index) == 1
        with pytest.raises(CommitConflict):
            await client.commit(tau_overlapping, payload((key, ("lost update",))), [key])

        # It resumes: whatever it had not yet noticed, it refuses the range.
        procs[0].send_signal(signal.SIGCONT)
        stale = tcp.connect(owned_address(index, 0))
        with trio.fail_after(10):
            while True:
                try:
                    await stale.call("commit", Commit(clock.latest(), payload((key, ("stale",))), (key,)))
                except LeaseExpiring:
                    await trio.sleep(0.05)  # its lease ran out; it has not yet read who took it
                    continue
                except NotOwner as exc:
                    assert exc.owner == 1
                    break
                raise AssertionError("the deposed process committed")
        await clock.wait_until_past(tau_c)
        assert await storage.get([key], tau_b, None) == [("v2",)]
        assert await storage.get([key], tau_c, None) == [("v3",)]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait()
