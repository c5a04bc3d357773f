"""The whole cluster in the simulator: every role on its own simulated host, under faults.

    python -m assembly.sim.cluster --seed 1234          # replay one run, print its trace tail
    python -m assembly.sim.cluster --seeds 200          # run seeds 0..199
    python -m assembly.sim.cluster --seed 7 --bug skip_apply

One run (`run_seed(seed)`) builds a topology of real roles, each on its own
`SimNode` (so a crash or a partition hits exactly one role): three journal
replicas (`JournalReplica` on a `SimDisk`), two adjudicators, storage nodes
(`StorageNode`, checkpointing often to its `SimDisk`) and query processors
(`QueryProcessor`). The adjudicator ranges and the shards split the bank
table between its accounts, so transfers are often cross-range commits.

The clients (`assembly.sim.workload`) run a bank and a list-append workload
through sessions of the QPs; a client's transaction runs as a task of its QP
host, so a QP crash breaks it as a lost connection would. For a fault phase
a nemesis crashes and restarts roles (their disks keep only what was
synced), partitions the network and cuts links, turns message loss,
duplication and reordering up and down, and moves hosts' clocks within the
error bound (a quarter of the seeds with a 50 ms bound); now and then it
kills every role at once. In one seed of eight, each shard has two replicas
on three storage nodes and the nemesis also changes the placement under the
load: it moves a shard's replica to another node or splits the shards that
have grown (assembly/placement.py, run from a QP host). Then it heals everything and restarts every role,
and the run must settle: the clients' last operations finish, a transfer commits, and
the final read of every balance and list succeeds.

Checks: every bank read sees the total; the final balances are the
acknowledged transfers plus some of those in doubt; every acknowledged
append is in the final lists, no failed one is, no value is there twice,
every committed read is a prefix of its key's final list, and a
transaction that began after an append was acknowledged reads it (strong
consistency); no role died of an exception and no session raised anything
but an SQL error; and the healed cluster makes progress. The histories are
returned in the shape a history checker takes (see `workload.py`).

Bugs can be switched on (`Bug`) to prove the checks fail: a storage node
that skips applying a commit, an adjudicator that skips the conflict check,
a QP that acknowledges a commit without its commit wait.

Decisions about determinism: every role's clock, monotonic time, disk,
transport and random generator come from its host; the time slice
(`cluster.timeslice`) is measured on simulated time during a run; τ and
every timeout run on trio's MockClock. A run is therefore a function of its
seed, and the same seed gives the same trace.
"""

from __future__ import annotations

import argparse
import enum
import itertools
import logging
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from adjudicator.batching import DEPTH as BATCH_DEPTH
from adjudicator.client import AdjudicatorClient
from adjudicator.conflicts import Conflict, ConflictKind, ConflictTable
from adjudicator.interface import CommitConflict, TransactionTooOld
from adjudicator.role import Adjudicator
from assembly.placement import PlacementDriver
from assembly.sim.workload import HostDown, HostRefused, WorkloadOptions, Workloads, check_bank, check_lists
from checker import bank, list_append
from checker.history import Op, OpType
from cluster import sim as simulator
from cluster import timeslice
from cluster.clock import Clock
from cluster.sim import DiskFaults, NetworkFaults, NodeEnv, SimNode, Simulation
from cluster.topology import RangeMap, Topology, spread_replicas
from cluster.transport import RemoteError, Unreachable
from journal.paxos import Bug as PaxosBug
from journal.replica import JournalReplica
from journal.sim import replica_config
from qp.errors import SqlError
from qp.frontend.server import QueryProcessor
from storage import keys
from storage.interface import StorageUnavailable
from storage.node import StorageNode
from storage.placement import PlacementInvalid

# The workload's tables get these oids (the first two tables of a fresh
# catalog); the topology splits their key ranges, so setup checks them.
BANK_OID = 16384
LISTS_OID = 16386
STARTUP = {"user": "postgres", "database": "postgres"}
# The clock error bound of a quarter of the seeds: within what the simulated
# journal's leases allow (a lease must outlast 2ε).
WIDE_CLOCK_ERROR_NS = 50_000_000
# How often a nemesis step kills every role at once (each loses what it had
# not synced), which is when durability is tested hardest.
CRASH_ALL = 0.03
# In seeds with placement changes: how often a nemesis step is one; how long one
# may take before it is given up (a move cut short leaves an extra replica);
# shards split past this many keys, up to this many shards.
PLACEMENT_CHANGE = 0.35
PLACEMENT_CHANGE_S = 3.0
PLACEMENT_SPLIT_KEYS = 2
PLACEMENT_SHARDS_MAX = 10
# What a placement change may fail with under faults (anything else is a bug).
PLACEMENT_FAILURES = (StorageUnavailable, Unreachable, RemoteError, CommitConflict, TransactionTooOld,
                      PlacementInvalid, RuntimeError)  # fmt: skip


class Bug(enum.Enum):
    NONE = "none"
    SKIP_APPLY = "skip_apply"  # storage nodes skip applying some commits
    NO_CONFLICT_CHECK = "no_conflict_check"  # adjudicators let write-write conflicts commit
    NO_COMMIT_WAIT = "no_commit_wait"  # QPs acknowledge a commit before its τ is certainly past


@dataclass(frozen=True)
class RunOptions:
    storage_nodes: int = 2
    qps: int = 2
    fault_phase_s: float = 2.0
    settle_timeout_s: float = 40.0
    clock_error_ns: int = 2_000_000
    bug: Bug = Bug.NONE
    workload: WorkloadOptions = field(default_factory=WorkloadOptions)
    faults: bool = True
    keep_trace: bool = False
    trace_lines: int = 200
    # Storage checkpoints: often, so restarts load them and journals compact.
    checkpoint_records: int = 20
    checkpoint_interval_s: float = 0.5
    # Replicas of each shard (0: every storage node holds every shard), and whether
    # the nemesis moves replicas and splits shards.
    replicas: int = 0
    placement_changes: bool = False
    # Journal append requests an adjudicator keeps in flight (adjudicator/batching.py):
    # the production default, or one, with which the commits that arrive meanwhile
    # always gather into batches.
    append_depth: int = BATCH_DEPTH


@dataclass
class Result:
    seed: int
    violations: list[str]
    stats: dict[str, Any]
    bank_history: list[dict]
    list_history: list[dict]
    trace: str = ""

    @property
    def ok(self) -> bool:
        return not self.violations

    def report(self) -> str:
        lines = [f"seed {self.seed}: {'ok' if self.ok else 'FAILED'} {self.stats}"]
        lines += [f"  violation: {v}" for v in self.violations[:20]]
        if not self.ok:
            bug = self.stats.get("bug", "none")
            lines.append(f"  replay: python -m assembly.sim.cluster --seed {self.seed}"
                         + (f" --bug {bug}" if bug != "none" else ""))  # fmt: skip
            lines.append("  trace (tail):")
            lines.append(self.trace)
        return "\n".join(lines)


def sim_topology(options: RunOptions) -> Topology:
    """One journal of three replicas; two adjudicators and three shards whose
    boundaries fall inside the workload's tables (the bank between its accounts)."""
    bank = keys.table_prefix(keys.table_key_id_for(BANK_OID), keys.PRIMARY_INDEX_ID)
    lists = keys.table_prefix(keys.table_key_id_for(LISTS_OID), keys.PRIMARY_INDEX_ID)
    bank_middle = bank + keys.encode_int(options.workload.accounts // 2)
    lists_middle = lists + keys.encode_int(options.workload.list_keys // 2)
    return Topology(
        journal_count=1,
        adjudicator_ranges=RangeMap((bank_middle,)),
        shard_ranges=RangeMap(tuple(sorted((bank_middle, lists_middle)))),
        storage_node_count=options.storage_nodes,
        journal_replica_count=3,
        shard_hosts=spread_replicas(3, options.storage_nodes, options.replicas) if options.replicas else None,
    )


# -- bugs ---------------------------------------------------------------------------------


class _SkippingStorageNode(StorageNode):
    """Bug.SKIP_APPLY: drops every seventh commit record it applies."""

    def _apply(self, tau: int, payload: bytes) -> None:
        if tau % 7 == 0:
            self.applied_tau = tau
            return
        super()._apply(tau, payload)


class _BlindConflictTable(ConflictTable):
    """Bug.NO_CONFLICT_CHECK: a key committed after τ_start goes unnoticed (and `commit`
    then records the key's commit below its last one, overwriting it, as the bug would)."""

    def check(self, *args: Any, **kwargs: Any) -> Conflict | None:
        conflict = super().check(*args, **kwargs)
        if conflict is not None and conflict.kind is ConflictKind.COMMITTED:
            return None
        return conflict


class _ImpatientClock(Clock):
    """Bug.NO_COMMIT_WAIT: the QP's clock says every τ is already past."""

    async def wait_until_past(self, tau: int) -> None:
        return


# -- the run ------------------------------------------------------------------------------


class SimCluster:
    """The hosts of one run, the roles they run now, and the clients' sessions."""

    def __init__(self, sim: Simulation, options: RunOptions) -> None:
        self.sim = sim
        self.options = options
        self.topology = topo = sim_topology(options)
        self.journal_config = replica_config(topo.journal_replica_count, PaxosBug.NONE)
        self.journal_hosts = [f"journal-{r}" for r in range(topo.journal_replica_count)]
        self.adjudicator_hosts = [f"adjudicator-{i}" for i in range(topo.adjudicator_count)]
        self.storage_hosts = [f"storage-{n}" for n in range(topo.storage_node_count)]
        self.qp_hosts = [f"qp-{q}" for q in range(options.qps)]
        self.qps: dict[str, QueryProcessor] = {}
        self.qp_envs: dict[str, NodeEnv] = {}  # each QP host's current incarnation
        self.placement_changes = 0
        self.checkpoint_loads = 0  # storage restarts that resumed from a checkpoint
        self.adjudicators: list[Adjudicator] = []  # every incarnation, for the batching stats
        self.journals: dict[str, JournalReplica] = {}
        for r, name in enumerate(self.journal_hosts):
            sim.add_node(name, self._journal_main(r))
        for i, name in enumerate(self.adjudicator_hosts):
            sim.add_node(name, self._adjudicator_main(i))
        for n, name in enumerate(self.storage_hosts):
            sim.add_node(name, self._storage_main(n))
        for name in self.qp_hosts:
            sim.add_node(name, self._qp_main(name))

    @property
    def role_hosts(self) -> list[str]:
        return self.journal_hosts + self.adjudicator_hosts + self.storage_hosts + self.qp_hosts

    def _journal_main(self, replica: int) -> Callable[[NodeEnv], Awaitable[None]]:
        topo = self.topology

        async def main(env: NodeEnv) -> None:
            journal = JournalReplica(
                0, replica, topo.journal_addresses(0), env.transport, env.clock, env.disk,
                config=self.journal_config, subscribers=topo.storage_subscribers(),
                monotonic_ns=env.monotonic_ns, trace=env.trace,
            )  # fmt: skip
            self.journals[env.name] = journal
            env.serve(topo.journal_address(0, replica), journal)
            await journal.run()

        return main

    def _adjudicator_main(self, index: int) -> Callable[[NodeEnv], Awaitable[None]]:
        topo = self.topology

        async def main(env: NodeEnv) -> None:
            adjudicator = Adjudicator(index, topo, env.transport, env.clock, disk=env.disk,
                                      append_depth=self.options.append_depth)  # fmt: skip
            self.adjudicators.append(adjudicator)
            if self.options.bug is Bug.NO_CONFLICT_CHECK:
                adjudicator.table = _BlindConflictTable(floor=adjudicator.table.floor)
            env.serve(topo.adjudicator_address(index), adjudicator)
            await adjudicator.run()

        return main

    def _storage_main(self, node: int) -> Callable[[NodeEnv], Awaitable[None]]:
        topo = self.topology
        options = self.options
        cls = _SkippingStorageNode if options.bug is Bug.SKIP_APPLY else StorageNode

        async def main(env: NodeEnv) -> None:
            storage = cls(
                node, topo, env.transport, env.clock, env.disk, monotonic_ns=env.monotonic_ns,
                checkpoint_records=options.checkpoint_records, checkpoint_interval_s=options.checkpoint_interval_s,
            )  # fmt: skip
            env.serve(topo.storage_address(node), storage)
            async with trio.open_nursery() as nursery:
                await nursery.start(storage.run)
                if any(storage.applied):
                    self.checkpoint_loads += 1
                    env.trace(f"resumed from its checkpoint at positions {storage.applied}")

        return main

    def _qp_main(self, name: str) -> Callable[[NodeEnv], Awaitable[None]]:
        async def main(env: NodeEnv) -> None:
            clock = env.clock
            if self.options.bug is Bug.NO_COMMIT_WAIT:
                clock = _ImpatientClock(clock.error_bound_ns, source_ns=clock._source_ns)
            self.qps[name] = QueryProcessor(clock, self.topology, env.transport, rng=env.rng)
            self.qp_envs[name] = env
            await trio.sleep_forever()

        return main

    async def start(self) -> None:
        for name in self.role_hosts:
            await self.sim.nodes[name].start()

    # -- clients -----------------------------------------------------------------------

    def client(self, qp_host: str) -> Callable[[Callable[[Any], Awaitable[Any]]], Awaitable[Any]]:
        """`on_host(fn)`: run `await fn(session)` as a task of `qp_host` on this
        client's session there (opened anew after the host restarts). Raises
        HostDown if the host is down or crashes meanwhile."""
        node = self.sim.nodes[qp_host]
        state: dict[str, Any] = {"session": None, "incarnation": -1}

        async def on_host(fn: Callable[[Any], Awaitable[Any]]) -> Any:
            if not node.alive:
                await trio.sleep(0.05)  # a refused connection takes a moment
                raise HostRefused(qp_host)
            box: dict[str, Any] = {}
            done = trio.Event()
            incarnation = node.incarnation

            async def task() -> None:
                try:
                    if state["incarnation"] != incarnation or state["session"] is None:
                        state["session"] = None
                        state["session"] = await self.qps[qp_host].open_session(dict(STARTUP))
                        state["incarnation"] = incarnation
                    box["value"] = await fn(state["session"])
                except Exception as exc:  # noqa: BLE001 - handed to the client as the server's answer
                    box["error"] = exc
                finally:
                    done.set()

            node.spawn(task)
            await done.wait()
            error = box.get("error")
            if error is not None:
                if not isinstance(error, SqlError):
                    # Not an answer a client could get: a bug in the QP. The
                    # connection would break, and the run fails.
                    self.sim.failures.append(f"{qp_host}: session raised {type(error).__name__}: {error}")
                    self.sim.trace(f"{qp_host}: session raised {type(error).__name__}: {error}")
                    raise HostDown(qp_host) from error
                raise error
            if "value" not in box:
                raise HostDown(qp_host)
            return box["value"]

        return on_host


class _TraceHandler(logging.Handler):
    """The roles' log lines (warnings and up) go into the trace, not to stderr."""

    def __init__(self, sim: Simulation) -> None:
        super().__init__(logging.WARNING)
        self.sim = sim

    def emit(self, record: logging.LogRecord) -> None:
        self.sim.trace(f"log {record.name}: {record.getMessage()}")


async def _run(sim: Simulation, options: RunOptions) -> Result:
    timeslice.use_time_source(trio.current_time)
    handler = _TraceHandler(sim)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        return await _run_cluster(sim, options)
    finally:
        root.removeHandler(handler)


async def _run_cluster(sim: Simulation, options: RunOptions) -> Result:
    cluster = SimCluster(sim, options)
    work = Workloads(options.workload, sim.trace)
    await cluster.start()
    violations: list[str] = []

    # -- setup: the tables, before any fault --------------------------------------------
    setup_host = cluster.qp_hosts[0]
    on_setup = cluster.client(setup_host)
    for statement in work.setup_statements():
        for _attempt in range(50):
            try:
                await on_setup(lambda session, sql=statement: _one(session, sql))
                break
            except Exception as exc:  # noqa: BLE001 - the cluster may still be electing a leader
                sim.trace(f"setup: {statement[:40]!r} failed: {exc!r}")
                await trio.sleep(0.2)
        else:
            return _result(sim, cluster, work, options, [f"setup: {statement[:40]!r} never succeeded"])
    catalog = cluster.qps[setup_host].latest_catalog
    for name, oid in (("bank", BANK_OID), ("lists", LISTS_OID)):
        table = catalog.find_table(name) if catalog is not None else None
        if table is None or table.oid != oid:
            raise RuntimeError(f"table {name} did not get oid {oid}: the simulated topology must be updated")
    sim.trace("setup: done")

    # -- clients and the fault phase ----------------------------------------------------
    clients_started = itertools.count()  # each client keeps to one QP (its connection's)
    async with trio.open_nursery() as clients:
        for _ in range(options.workload.bank_processes):
            qp_host = cluster.qp_hosts[next(clients_started) % options.qps]
            clients.start_soon(work.bank_client, cluster.client(qp_host), random.Random(sim.rng.getrandbits(64)))
        for _ in range(options.workload.list_processes):
            qp_host = cluster.qp_hosts[next(clients_started) % options.qps]
            clients.start_soon(work.list_client, cluster.client(qp_host), random.Random(sim.rng.getrandbits(64)))
        end = sim.now + options.fault_phase_s
        while sim.now < end:
            await trio.sleep(sim.rng.uniform(0.05, 0.3))
            if options.faults:
                await _inject_fault(sim, cluster)
        # -- settle: heal, bring every role back, let the clients finish ----------------
        work.stop = True
        await _heal(sim, cluster)
        with trio.move_on_after(options.settle_timeout_s) as scope:
            await _wait_clients(clients)
        if scope.cancelled_caught:
            violations.append(f"liveness: client operations still pending {options.settle_timeout_s:g} s after healing")
            clients.cancel_scope.cancel()

    # -- after healing: progress, then the final reads -----------------------------------
    on_final = cluster.client(cluster.qp_hosts[-1])
    final_process = work.new_process()
    deadline = sim.now + options.settle_timeout_s
    committed = False
    while not committed and sim.now < deadline:
        outcome = await work.transfer(final_process, on_final, 0, options.workload.accounts - 1, 1)
        committed = outcome == "ok"
        if outcome == "info":
            final_process = work.new_process()
        if not committed:
            await trio.sleep(0.1)
    if not committed:
        violations.append(f"liveness: no transfer committed after healing (last: {work.bank.last_error})")
    # The final reads get their own time: they need no adjudicator, so they
    # tell a stuck commit path from a stuck cluster.
    deadline = sim.now + options.settle_timeout_s
    final_balances = None
    while final_balances is None and sim.now < deadline:
        final_balances = await work.bank_read(final_process, on_final)
        if final_balances is None:
            await trio.sleep(0.1)
    final_lists = None
    while final_lists is None and sim.now < deadline:
        final_lists = await work.read_all_lists(final_process, on_final)
        if final_lists is None:
            await trio.sleep(0.1)
    if final_balances is None or final_lists is None:
        last = work.bank.last_error if final_balances is None else work.lists.last_error
        violations.append(f"liveness: no final read succeeded after healing (last: {last})")
    violations += check_bank(work.bank, options.workload, final_balances)
    violations += check_lists(work.lists, final_lists)
    violations += _checker_verdicts(work, options)
    violations += sim.failures
    return _result(sim, cluster, work, options, violations)


def as_ops(history: list[dict]) -> list[Op]:
    """A sim history in the checker package's types."""
    return [Op(op["process"], OpType(op["type"]), op["f"], op["value"], op["time_ns"], i)
            for i, op in enumerate(history)]  # fmt: skip


def _checker_verdicts(work: Workloads, options: RunOptions) -> list[str]:
    """The histories through `checker/`: strong SI on list-append (Elle), totals on every bank read."""
    out = []
    result = list_append.check(as_ops(work.lists.ops), strict=True)
    if not result.valid:
        out.append("list-append (checker): " + result.render())
    total = options.workload.accounts * options.workload.initial_balance
    # The workload moves money without checking balances, so they may go below zero.
    bank_result = bank.check(as_ops(work.bank.ops), total, negative_allowed=True)
    if not bank_result.valid:
        out.append("bank (checker): " + bank_result.render())
    return out


async def _one(session: Any, sql: str) -> None:
    async for _ in session.simple_query(sql):
        pass


async def _wait_clients(clients: trio.Nursery) -> None:
    while clients.child_tasks:
        await trio.sleep(0.05)


def _result(sim: Simulation, cluster: SimCluster, work: Workloads, options: RunOptions,
            violations: list[str]) -> Result:  # fmt: skip
    def count(history: Any, type_: str) -> int:
        return sum(1 for op in history.ops if op["type"] == type_)

    stats = {
        "transfers_ok": sum(1 for op in work.bank.ops if op["type"] == "ok" and op["f"] == "transfer"),
        "list_txns_ok": count(work.lists, "ok"),
        "fail": count(work.bank, "fail") + count(work.lists, "fail"),
        "info": count(work.bank, "info") + count(work.lists, "info"),
        "transfers_in_doubt": sum(1 for op in work.bank.ops if op["type"] == "info" and op["f"] == "transfer"),
        "crashes": sum(node.disk.crashes for node in sim.nodes.values()),
        "checkpoint_loads": cluster.checkpoint_loads,
        "placement_changes": cluster.placement_changes,
        # Commit appends that shared a journal request with another commit (adjudicator/batching.py).
        "batched": sum(b.appends - b.batches for a in cluster.adjudicators for b in a._batchers),
        "messages": sim.network.messages,
        "dropped": sim.network.dropped,
        "sim_s": round(sim.now, 2),
        "bug": options.bug.value,
    }
    trace = sim.trace_tail(options.trace_lines) if violations or options.keep_trace else ""
    return Result(sim.seed, violations, stats, list(work.bank.ops), list(work.lists.ops), trace)


# -- the nemesis --------------------------------------------------------------------------


async def _inject_fault(sim: Simulation, cluster: SimCluster) -> None:
    rng = sim.rng
    nodes = [sim.nodes[name] for name in cluster.role_hosts]
    alive = [node for node in nodes if node.alive]
    down = [node for node in nodes if not node.alive]
    if rng.random() < CRASH_ALL:
        sim.trace("nemesis: kill -9 of every role at once")
        for node in nodes:
            node.crash()
        for node in nodes:
            await node.start()
        return
    if cluster.options.placement_changes and rng.random() < PLACEMENT_CHANGE:
        _change_placement(sim, cluster)
        return
    roll = rng.random()
    if roll < 0.18 and alive:
        rng.choice(alive).crash()
    elif roll < 0.40 and down:
        await rng.choice(down).start()
    elif roll < 0.50:
        node = rng.choice(nodes)
        node.crash()
        await node.start()  # kill -9 and straight back
    elif roll < 0.60:
        hosts = list(cluster.role_hosts)
        rng.shuffle(hosts)
        cut = rng.randrange(1, len(hosts))
        sim.network.partition(hosts[:cut], hosts[cut:])
    elif roll < 0.66:
        a, b = rng.sample(cluster.role_hosts, 2)
        sim.network.cut(a, b)
    elif roll < 0.78:
        sim.network.heal()
    elif roll < 0.88:
        _move_clock(sim, rng.choice(nodes))
    else:
        faults = sim.network.faults
        faults.drop = rng.choice([0.0, 0.0, 0.02, 0.1])
        faults.duplicate = rng.choice([0.0, 0.05, 0.2])
        faults.reorder = rng.choice([0.0, 0.1, 0.4])
        sim.trace(f"nemesis: drop {faults.drop} duplicate {faults.duplicate} reorder {faults.reorder}")


def _change_placement(sim: Simulation, cluster: SimCluster) -> None:
    """From a live QP host, in the background: move one shard's replica to a node
    that lacks it, or split the shards that have grown (a few times a run)."""
    rng = sim.rng
    qps = [name for name in cluster.qp_hosts if sim.nodes[name].alive and name in cluster.qp_envs]
    if not qps:
        return
    host = rng.choice(qps)
    env = cluster.qp_envs[host]
    split = rng.random() < 0.3
    pick, source_pick, target_pick = rng.random(), rng.random(), rng.random()
    topo = cluster.topology
    cluster.placement_changes += 1

    async def change() -> None:
        driver = PlacementDriver(topo, env.transport, env.clock, adjudicators=AdjudicatorClient(topo, env.transport),
                                 progress=lambda message: sim.trace(f"{host}: placement: {message}"))  # fmt: skip
        with trio.move_on_after(PLACEMENT_CHANGE_S):
            try:
                placement, _ = await driver.current()
                if split:
                    if len(placement.shard_hosts) < PLACEMENT_SHARDS_MAX:
                        await driver.split_large(PLACEMENT_SPLIT_KEYS)
                    return
                shard = int(pick * len(placement.shard_hosts))
                hosts = placement.hosts(shard)
                targets = [n for n in range(topo.storage_node_count) if n not in hosts]
                if targets:
                    source = hosts[int(source_pick * len(hosts))]
                    await driver.move(shard, source, targets[int(target_pick * len(targets))])
            except PLACEMENT_FAILURES as exc:
                sim.trace(f"{host}: placement change failed: {type(exc).__name__}: {exc}")

    sim.nodes[host].spawn(change)


def _move_clock(sim: Simulation, node: SimNode) -> None:
    """A host's clock moves to another error within the bound (ClockBound's
    promise: true time stays within [earliest, latest])."""
    bound = sim.clock_error_ns
    node.clock_offset_ns = sim.rng.randint(-bound, bound) if bound else 0
    sim.trace(f"nemesis: {node.name} clock offset {node.clock_offset_ns} ns")


async def _heal(sim: Simulation, cluster: SimCluster) -> None:
    sim.network.heal()
    sim.network.faults = NetworkFaults()
    sim.trace("nemesis: settle (healed, every role up)")
    for name in cluster.role_hosts:
        if not sim.nodes[name].alive:
            await sim.nodes[name].start()


# -- entry points -------------------------------------------------------------------------


def options_for(seed: int, **overrides: Any) -> RunOptions:
    """Seeds vary the shape: odd seeds run three storage nodes, seeds 2 mod 3 a
    single QP, seeds 1 mod 4 clocks with a 50 ms error bound (commit waits
    of 100 ms, and clocks far enough apart that a missing wait shows), and
    seeds 3 mod 8 two replicas per shard that the nemesis moves and splits, and
    even seeds adjudicators with one journal append request in flight, so that
    the commits that arrive meanwhile go as batches."""
    shape: dict[str, Any] = {
        "storage_nodes": 3 if seed % 2 else 2,
        "replicas": 2 if seed % 8 == 3 else 0,
        "placement_changes": seed % 8 == 3,
        "qps": 1 if seed % 3 == 2 else 2,
        "clock_error_ns": WIDE_CLOCK_ERROR_NS if seed % 4 == 1 else RunOptions.clock_error_ns,
        "append_depth": 1 if seed % 2 == 0 else RunOptions.append_depth,
    }
    shape.update(overrides)
    return RunOptions(**shape)


def run_seed(seed: int, options: RunOptions | None = None) -> Result:
    """One seeded run of the whole cluster under faults; the same seed gives the same result and trace."""
    options = options or options_for(seed)
    try:
        return simulator.run(
            seed,
            lambda sim: _run(sim, options),
            network_faults=NetworkFaults(),
            disk_faults=DiskFaults(sync_latency_min_s=0.0002, sync_latency_max_s=0.004),
            clock_error_ns=options.clock_error_ns,
            clock_rate_error=0.5e-3,
        )
    finally:
        timeslice.use_time_source(None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assembly.sim.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, help="run (replay) this one seed and print its trace")
    parser.add_argument("--seeds", type=int, default=20, help="run seeds first..first+seeds-1")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--bug", default="none", choices=[b.value for b in Bug])
    parser.add_argument("--trace", action="store_true", help="print the whole trace of --seed")
    args = parser.parse_args(argv)
    bug = Bug(args.bug)
    if args.seed is not None:
        lines = 10**9 if args.trace else 200
        result = run_seed(args.seed, options_for(args.seed, bug=bug, keep_trace=True, trace_lines=lines))
        print(result.report())
        if result.ok:
            print(result.trace)
        return 0 if result.ok else 1
    failures = 0
    started = time.perf_counter()
    for seed in range(args.first, args.first + args.seeds):
        result = run_seed(seed, options_for(seed, bug=bug))
        if not result.ok:
            failures += 1
            print(result.report())
        else:
            print(f"seed {seed}: ok {result.stats}", flush=True)
    print(f"{args.seeds} seeds, {failures} failed, {time.perf_counter() - started:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
