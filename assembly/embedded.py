"""Every part in one trio process: the embedded default of `dsql serve`.

The parts are the same objects that will run as separate processes; here
they are served on an in-process transport that still encodes every message,
so nothing here may hand one part an object of another, and runs every
handler in a task of its own (its nursery starts first), never the caller's,
so cancellation and deadlines cross a seam as they would over TCP. The
nursery owns every part's tasks, and cancelling it stops them all.

A data directory belongs to one process: the cluster locks it
(`cluster.dirlock`) before it reads or writes anything there, and each
journal replica's `OsDisk` locks the replica's own directory, so neither a
second server nor a stray `journal.replica_main` can write these files.
`close()` (which `run` ends with) closes the journal files, then unlocks.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from dataclasses import dataclass, field

import trio

from adjudicator.role import Adjudicator
from cluster.clock import Clock
from cluster.dirlock import DirectoryLock, lock_directory
from cluster.disk import Disk, MemoryDisk, OsDisk
from cluster.topology import Topology
from cluster.transport import InProcessTransport
from journal.paxos import PaxosConfig
from journal.replica import JournalReplica, ReplicaConfig
from kv.dynamo.interface import Join
from kv.dynamo.node import DynamoNode, NodeConfig
from kv.dynamo.store import DynamoStore
from storage.client import StorageClient
from storage.lmdb_engine import ENGINE_DIR as STORAGE_ENGINE_DIR
from storage.lmdb_engine import LmdbEngine
from storage.node import StorageNode

log = logging.getLogger(__name__)


@dataclass
class ClusterConfig:
    data_dir: str | None = None  # None: memory only (--memory)
    topology: Topology = field(default_factory=Topology)
    clock_error_ns: int = 0
    # An idle journal leader's heartbeats: they renew its lease (ten times a lease) and
    # carry the closed timestamp to storage, so they bound an idle storage watermark's lag,
    # which only reads that do not wait for a close see (DynamoDB's eventually consistent
    # ones). Strong reads close what they need (journal `close`, at once at an idle
    # leader). Each heartbeat wakes both followers and every storage subscription: an idle
    # server took 14 % of a core at 10 ms, 10 % at 50 ms (5 % with idle journal ticks).
    heartbeat_interval_s: float = 0.05
    encode_messages: bool = True
    # Handlers may answer in the caller's task (cluster/transport.py's `call_now`); off, every
    # call goes through the transport's workers, as between processes.
    immediate_calls: bool = True
    # A journal leader's lease. It must outlast twice the clock error bound
    # (a leader closes τ only within its lease, and τ runs up to `latest`),
    # so the configured value is raised to 2ε + 250 ms when needed.
    journal_lease_s: float = 0.5
    # Dynamo's nodes (one per storage node in a cluster; here at least N+2 = 5
    # so that sloppy quorum has nodes to fall back on) and their ring's size.
    dynamo_nodes: int = 5
    dynamo: NodeConfig = field(default_factory=NodeConfig)
    # With a data dir, where storage nodes keep their replicas: "lmdb" (on disk,
    # committed with the journal positions; storage/lmdb_engine.py) or
    # "checkpoints" (in memory, with checkpoints written now and then and loaded
    # whole at a start: what the simulator runs, kept to compare against).
    storage_engine: str = "lmdb"


def journal_replica_config(config: ClusterConfig, replicas: int) -> ReplicaConfig:
    lease_ns = max(int(config.journal_lease_s * 1e9), 2 * config.clock_error_ns + 250_000_000)
    paxos = PaxosConfig(
        replica_count=replicas,
        lease_ns=lease_ns,
        election_timeout_ns=lease_ns + lease_ns // 10,
        heartbeat_ns=min(int(config.heartbeat_interval_s * 1e9), lease_ns // 4),
    )
    if config.data_dir is None:
        # The "disk" is memory too: smaller segments, so compaction frees
        # memory in smaller steps, and a small tail, since reading the disk
        # back costs no I/O.
        return ReplicaConfig(paxos=paxos, segment_bytes_max=8 << 20, memory_records_max=20_000,
                             memory_bytes_max=16 << 20)
    return ReplicaConfig(paxos=paxos)


def journal_replica_directory(data_dir: str, journal_id: int, replica: int) -> str:
    """Each replica's write-ahead files live in their own directory (in DSQL, their own AZ)."""
    journal_dir = os.path.join(data_dir, f"journal-{journal_id}")
    if os.path.isdir(journal_dir) and any(n.startswith("segment-") for n in os.listdir(journal_dir)):
        raise RuntimeError(
            f"{journal_dir} holds a single-log journal from an older dsql; "
            "this version runs a replicated journal and cannot read it (start on a new --data-dir)"
        )
    path = os.path.join(journal_dir, f"replica-{replica}")
    os.makedirs(path, exist_ok=True)
    return path


def dynamo_address(n: int) -> str:
    """The address of Dynamo node n, served beside storage node n."""
    return f"dynamo/{n}"


class LayoutMismatch(RuntimeError):
    """A data dir written with another number of journals or journal replicas."""


def check_layout(data_dir: str, topo: Topology) -> None:
    """Refuse a data dir made with another journal layout; record the layout on first use.

    Fewer journals would leave commits stranded in the ones dropped, and
    another replica count would change what a majority is under the promises
    the replicas already hold, so neither may change under existing data.
    """
    path = os.path.join(data_dir, "layout.json")
    layout = {"journals": topo.journal_count, "journal_replicas": topo.journal_replica_count}
    try:
        with open(path) as f:
            recorded = json.load(f)
    except FileNotFoundError:
        if any(name.startswith("journal-") for name in os.listdir(data_dir)):
            recorded = {"journals": 1, "journal_replicas": 3}  # made before the layout was recorded
        else:
            recorded = None
    if recorded is not None and recorded != layout:
        raise LayoutMismatch(
            f"{data_dir} was made with {recorded['journals']} journal(s) of {recorded['journal_replicas']} "
            f"replicas; start with --journals {recorded['journals']} "
            f"--journal-replicas {recorded['journal_replicas']} (or use a new --data-dir)"
        )
    if recorded is None:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(layout, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


class EmbeddedCluster:
    """Journals, adjudicators and storage nodes, wired on one transport."""

    def __init__(self, config: ClusterConfig) -> None:
        if config.storage_engine not in ("lmdb", "checkpoints"):
            raise ValueError(f"storage_engine {config.storage_engine!r}: lmdb or checkpoints")
        self.config = config
        self.topology = config.topology
        self.clock = Clock(config.clock_error_ns)
        self.transport = InProcessTransport(encode_messages=config.encode_messages, immediate=config.immediate_calls)
        topo = self.topology
        self.journal_replicas: list[list[JournalReplica]] = []
        self._dynamo_memory: dict[int, MemoryDisk] = {}
        self._disks: list[Disk] = []
        # Before anything in the data dir is read or written: DirectoryInUse if a process has it.
        self._dir_lock: DirectoryLock | None = None
        if config.data_dir is not None:
            self._dir_lock = lock_directory(config.data_dir)
        try:
            if config.data_dir is not None:
                check_layout(config.data_dir, topo)
            self._make_journals(config)
            self._engines: list[LmdbEngine] = []
            self.storage_nodes = [
                StorageNode(n, topo, self.transport, self.clock, self._storage_disk(config, n),
                            engine=self._storage_engine(config, n))
                for n in range(topo.storage_node_count)
            ]
        except BaseException:
            self.close()
            raise
        for replicas in self.journal_replicas:
            for replica in replicas:
                self.transport.serve(replica.name, replica)
        for n, node in enumerate(self.storage_nodes):
            self.transport.serve(topo.storage_address(n), node)
        self._replica_scopes: dict[str, trio.CancelScope] = {}
        # Dynamo's nodes: index -> the running node, its cancel scope and its end.
        self.dynamo_nodes: dict[int, DynamoNode] = {}
        self._dynamo_running: dict[int, tuple[trio.CancelScope, trio.Event, Disk]] = {}
        self._dynamo_members = tuple(dynamo_address(n) for n in range(config.dynamo_nodes))
        self._nursery: trio.Nursery | None = None
        # Adjudicators start after journal recovery, so their floor (the time
        # before which they know nothing) is above every recovered commit.
        self.adjudicators: list[Adjudicator] = []

    def _make_journals(self, config: ClusterConfig) -> None:
        topo = self.topology
        # Every journal runs 2f+1 replicas in this process, each with its own
        # write-ahead files; they still talk only through the transport.
        replica_config = journal_replica_config(config, topo.journal_replica_count)
        for j in range(topo.journal_count):
            addresses = topo.journal_addresses(j)
            replicas = []
            for r in range(topo.journal_replica_count):
                disk: Disk
                if config.data_dir is None:
                    disk = MemoryDisk()
                else:
                    disk = OsDisk(journal_replica_directory(config.data_dir, j, r))
                self._disks.append(disk)
                replicas.append(
                    JournalReplica(
                        j, r, addresses, self.transport, self.clock, disk,
                        config=replica_config, subscribers=topo.storage_subscribers(),
                    )  # fmt: skip
                )
            self.journal_replicas.append(replicas)

    def _storage_engine(self, config: ClusterConfig, node: int) -> LmdbEngine | None:
        """A storage node's replicas on disk: LMDB in `<data dir>/storage-N/versions`
        (None in memory mode, where the journals forget everything at exit too)."""
        if config.data_dir is None or config.storage_engine == "checkpoints":
            return None
        engine = LmdbEngine(os.path.join(config.data_dir, f"storage-{node}", STORAGE_ENGINE_DIR))
        self._engines.append(engine)
        return engine

    def _storage_disk(self, config: ClusterConfig, node: int) -> Disk | None:
        """A storage node's directory, `<data dir>/storage-N`, locked while the node
        runs; it holds the node's LMDB environment and, from an older version, a
        checkpoint the node moves into it (None in memory mode)."""
        if config.data_dir is None:
            return None
        directory = os.path.join(config.data_dir, f"storage-{node}")
        os.makedirs(directory, exist_ok=True)
        disk = OsDisk(directory)
        self._disks.append(disk)
        return disk

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                # First: every handler runs in a task of the transport's nursery.
                await nursery.start(self.transport.run)
                for replicas in self.journal_replicas:
                    for replica in replicas:
                        await nursery.start(self._run_replica, replica)
                for node in self.storage_nodes:
                    await nursery.start(node.run)
                self._nursery = nursery
                for n in range(self.config.dynamo_nodes):
                    await self.start_dynamo_node(n)
                topo = self.topology
                self.adjudicators = [
                    Adjudicator(i, topo, self.transport, self.clock) for i in range(topo.adjudicator_count)
                ]
                for i, adjudicator in enumerate(self.adjudicators):
                    self.transport.serve(topo.adjudicator_address(i), adjudicator)
                    await nursery.start(adjudicator.run)
                task_status.started(self)
        finally:
            self.close()

    def close(self) -> None:
        """Close every journal file, then give the data directory up (a no-op once closed).

        `run` ends with it; a caller that made a cluster and never ran it calls it.
        """
        for engine in getattr(self, "_engines", ()):
            engine.close()  # what was not committed is replayed from the journals
        for disk in self._disks:
            disk.close()
        for _scope, _ended, disk in getattr(self, "_dynamo_running", {}).values():
            disk.close()
        if self._dir_lock is not None:
            self._dir_lock.release()
            self._dir_lock = None

    async def _run_replica(self, replica: JournalReplica, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        # Each replica in its own cancel scope, so that one can be killed alone.
        with trio.CancelScope() as scope:
            self._replica_scopes[replica.name] = scope
            await replica.run(task_status=task_status)

    def kill_journal_replica(self, journal_id: int, replica: int) -> None:
        """Stop one journal replica as a crash would (its synced files stay); for tests."""
        target = self.journal_replicas[journal_id][replica]
        self.transport.unserve(target.name)
        self._replica_scopes[target.name].cancel()
        target.crash()
        target.close_files()

    # -- Dynamo's nodes ---------------------------------------------------------------

    def _dynamo_disk(self, n: int) -> Disk:
        if self.config.data_dir is None:
            disk = self._dynamo_memory.setdefault(n, MemoryDisk())
        else:
            directory = os.path.join(self.config.data_dir, f"dynamo-{n}")
            os.makedirs(directory, exist_ok=True)
            disk = OsDisk(directory)
        return disk

    async def start_dynamo_node(self, n: int) -> DynamoNode:
        """Start (or restart, from what its disk kept) Dynamo node n."""
        if n in self._dynamo_running:
            raise ValueError(f"Dynamo node {n} is running")
        assert self._nursery is not None, "the cluster is not running"
        disk = self._dynamo_disk(n)
        config = dataclasses.replace(self.config.dynamo, members=self._dynamo_members)
        node = DynamoNode(dynamo_address(n), self.transport, self.clock, DynamoStore(disk), config)
        scope = trio.CancelScope()
        ended = trio.Event()
        self._dynamo_running[n] = (scope, ended, disk)

        async def run_node(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
            try:
                with scope:
                    await node.run(task_status=task_status)
            finally:
                ended.set()

        await self._nursery.start(run_node)
        self.transport.serve(node.name, node)
        self.dynamo_nodes[n] = node
        return node

    async def stop_dynamo_node(self, n: int) -> None:
        """Stop Dynamo node n as a crash of its process would (what it synced stays)."""
        scope, ended, disk = self._dynamo_running.pop(n)
        self.transport.unserve(dynamo_address(n))
        scope.cancel()
        await ended.wait()
        if self.config.data_dir is not None:
            disk.close()
        del self.dynamo_nodes[n]

    def wipe_dynamo_node(self, n: int) -> None:
        """Lose stopped Dynamo node n's disk, as a host whose disk is replaced: started again,
        it has the same name and no copies, ring or settings (gossip brings those back)."""
        if n in self._dynamo_running:
            raise ValueError(f"Dynamo node {n} is running: stop it before wiping its disk")
        if self.config.data_dir is None:
            self._dynamo_memory.pop(n, None)
        else:
            shutil.rmtree(os.path.join(self.config.data_dir, f"dynamo-{n}"), ignore_errors=True)

    async def add_dynamo_node(self) -> int:
        """Start a new Dynamo node and join it to the ring through a running member."""
        n = max([*self._dynamo_running, len(self._dynamo_members) - 1]) + 1
        node = await self.start_dynamo_node(n)
        member = next(name for name in (m.name for m in self.dynamo_nodes.values()) if name != node.name)
        await self.transport.connect(member).call("join", Join(node.name))
        return n

    def storage_client(self) -> StorageClient:
        return StorageClient(self.topology, self.transport, clock=self.clock)

    async def checkpoint(self) -> None:
        for node in self.storage_nodes:
            await node.checkpoint()
