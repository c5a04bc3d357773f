"""Dynamo's coordinator and nodes under message loss, partitions and crashes, in the deterministic simulator.

Five `DynamoNode`s (kv/dynamo/node.py), each on its own simulated host with
its own disk, and one `DynamoService` (kv/dynamo/service.py) on a client
host run a workload of gets and read-modify-write puts on a few keys while
the network drops, delays and reorders messages, partitions hosts and
crashes one. Every operation goes into a history (op, key, value, outcome,
start and end time, the object's clock), and the checks are about the
history and about what the nodes hold afterwards:

(a) with no faults and R + W > N, a read that starts after a put was
    acknowledged returns an object whose clock descends the put's: the
    put's value, or siblings including it, or something causally newer;
(b) under faults, no read returns a value that no put wrote; and once the
    network heals and handoff and anti-entropy have had time, the N nodes
    of every key's preference list hold the same object, no other node
    keeps a copy, and that object's clock descends every acknowledged put's
    (each acknowledged write is visible or superseded by a causally newer one);
(c) sloppy quorum is not strong consistency: with the preference list cut
    off from the client, a (3, 2, 2) put is acknowledged by fallbacks, and a
    later read from the primaries returns the older value. The test shows
    it happening on a fixed schedule and asserts that it did;
(d) the same seed gives the same trace and history.

Crashes here may lose everything a node held (the store on main is a
memory-only stand-in, and a wiped disk is a fault of its own), so the
random runs crash one node at a time.

Two tests pin a bug this simulator found (Riak's KV679, basho/riak_kv#679):
a node that coordinated a write without a local copy of the key restarted
its actor's counter, so that a later write's clock dominated an
acknowledged write nobody saw and erased it: after its disk was lost, and
as a fallback that handed the key home and dropped its copy (no data loss
needed; seeds 657 and 814 of the random runs found it by themselves, with
the memory-only store of the time). The node now writes as a key epoch
(`DynamoNode._actor_for`); the two deterministic tests fail without it.

A failing seed replays from its number: `_run_faulty(seed)`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
import trio

from cluster import sim
from cluster.sim import NetworkFaults, NodeEnv, SimDisk, Simulation
from kv.dynamo.interface import DynamoRequestError, GetOptions, Holdings, PutOptions
from kv.dynamo.node import DynamoNode, NodeConfig
from kv.dynamo.objects import NewContent, StoredObject, decode_object
from kv.dynamo.ring import Ring, hash_key
from kv.dynamo.service import DynamoService
from kv.dynamo.store import DynamoStore
from kv.dynamo.vclock import VClock, descends

NODES = 5
N_VAL = 3
PARTITIONS = 16  # small, so anti-entropy sweeps every partition within seconds
MEMBERS = tuple(f"dynamo/{i}" for i in range(NODES))
HOSTS = tuple(f"n{i}" for i in range(NODES))
CLIENT = "client"
BUCKET = b"sim"
KEYS = tuple(b"k%d" % i for i in range(4))
RING = Ring(PARTITIONS, MEMBERS)  # what every node starts from (no joins or leaves here)


def preference(key: bytes) -> list[str]:
    return [node for _i, node in RING.preference_list(hash_key(BUCKET, key), N_VAL)]


def host_of(node: str) -> str:
    return HOSTS[MEMBERS.index(node)]


@dataclass
class Op:
    client: int
    op: str  # "get" | "put"
    key: bytes
    value: bytes | None  # the put's value
    start: float
    end: float = 0.0
    ok: bool = False
    result: frozenset[bytes] | None = None  # a get's live sibling values (None: not found)
    clock: VClock | None = None  # the object a put stored / a get returned
    # A put's: the live values of the read whose clock was its context.
    context_values: frozenset[bytes] = frozenset()
    error: str = ""

    def line(self) -> str:
        what = self.value if self.op == "put" else (sorted(self.result) if self.result is not None else None)
        outcome = "ok" if self.ok else f"fail {self.error}"
        return f"{self.start:9.4f}-{self.end:9.4f} c{self.client} {self.op} {self.key!r} {what} {outcome}"


@dataclass
class World:
    sim: Simulation
    service: DynamoService
    nodes: dict[str, DynamoNode] = field(default_factory=dict)
    history: list[Op] = field(default_factory=list)

    async def get(self, client: int, key: bytes, **options) -> Op:
        op = Op(client, "get", key, None, trio.current_time())
        self.history.append(op)
        try:
            obj = await self.service.get(BUCKET, key, GetOptions(**options))
        except DynamoRequestError as exc:
            op.error = str(exc)
        else:
            op.ok = True
            if obj is not None and not obj.deleted:
                op.result = frozenset(s.value for s in obj.live_siblings)
                op.clock = obj.clock
        op.end = trio.current_time()
        return op

    async def put(self, client: int, key: bytes, value: bytes, context: Op | None, **options) -> Op:
        """A put whose context is the clock of the read `context` (None: a blind put)."""
        op = Op(client, "put", key, value, trio.current_time())
        if context is not None:
            op.context_values = context.result or frozenset()
        self.history.append(op)
        try:
            clock = None if context is None else context.clock
            obj = await self.service.put(BUCKET, key, NewContent(value), clock, PutOptions(**options))
        except DynamoRequestError as exc:
            op.error = str(exc)
        else:
            op.ok = True
            op.clock = obj.clock
        op.end = trio.current_time()
        return op

    async def holdings(self) -> dict[str, dict[bytes, StoredObject]]:
        """Every node's copies of the bucket's keys, asked over the network from the client host."""
        out: dict[str, dict[bytes, StoredObject]] = {}
        for node in MEMBERS:
            reply = await self.service.transport.connect(node).call("holdings", Holdings(BUCKET))
            out[node] = {key: decode_object(data) for _bucket, key, data in reply.items}
        return out

    def report(self) -> str:
        return (
            "\n".join(op.line() for op in self.history[-60:]) + "\n--- trace ---\n" + self.sim.trace_tail(80)
        )


async def start_world(s: Simulation, *, call_timeout_s: float = 1.0) -> World:
    """Five Dynamo nodes and a service on the client host, the ring learned."""
    nodes: dict[str, DynamoNode] = {}

    def node_main(i: int):
        async def main(env: NodeEnv) -> None:
            config = NodeConfig(
                partitions=PARTITIONS, members=MEMBERS, rng_seed=env.rng.getrandbits(32),
                gossip_interval_s=1.0, handoff_interval_s=0.5, aae_interval_s=0.25, call_timeout_s=call_timeout_s,
            )  # fmt: skip
            node = DynamoNode(MEMBERS[i], env.transport, env.clock, DynamoStore(env.disk), config)
            async with trio.open_nursery() as nursery:
                await nursery.start(node.run)
                env.serve(node.name, node)
                nodes[node.name] = node

        return main

    for i in range(NODES):
        s.add_node(HOSTS[i], node_main(i))
    services: list[DynamoService] = []

    async def client_main(env: NodeEnv) -> None:
        service = DynamoService(
            env.transport, MEMBERS, call_timeout_s=call_timeout_s, refresh_interval_s=1.0, probe_interval_s=0.5,
            rng=random.Random(env.rng.getrandbits(64)),
        )  # fmt: skip
        services.append(service)
        await service.run()

    s.add_node(CLIENT, client_main)
    for host in (*HOSTS, CLIENT):
        await s.nodes[host].start()
    while not services or services[0].ring is None:
        await trio.sleep(0.01)
    return World(s, services[0], nodes)


# --- (a) no faults: R + W > N reads see every acknowledged write ------------------------------------


def check_reads_see_acknowledged_writes(history: list[Op]) -> list[str]:
    """Every successful read that started after a put was acknowledged returns
    an object whose clock descends that put's (its value, a sibling set with
    it, or a causal successor); and every read answers."""
    problems = []
    puts = [op for op in history if op.op == "put" and op.ok]
    for read in history:
        if read.op != "get":
            continue
        if not read.ok:
            problems.append(f"a read failed without faults: {read.line()}")
            continue
        for put in puts:
            if put.key != read.key or put.end >= read.start:
                continue
            assert put.clock is not None
            if read.clock is None or not descends(read.clock, put.clock):
                problems.append(f"stale read: {read.line()} misses the acknowledged {put.line()}")
    return problems


async def workload(world: World, rng: random.Random, *, clients: int, ops: int, **quorum) -> None:
    """`clients` concurrent clients, each doing `ops` gets and read-modify-write puts on KEYS."""

    async def client(c: int) -> None:
        contexts: dict[bytes, Op] = {}  # the last successful read of each key
        for i in range(ops):
            key = rng.choice(KEYS)
            if rng.random() < 0.5:
                op = await world.get(c, key, **{k: v for k, v in quorum.items() if k == "r"})
                if op.ok:
                    contexts[key] = op
            else:
                await world.put(c, key, b"c%d-%d" % (c, i), contexts.get(key),
                                **{k: v for k, v in quorum.items() if k in ("w", "dw")})  # fmt: skip
            await trio.sleep(rng.uniform(0, 0.05))

    async with trio.open_nursery() as nursery:
        for c in range(clients):
            nursery.start_soon(client, c)


def _run_clean(seed: int) -> tuple[list[Op], list[str]]:
    async def body(s: Simulation):
        world = await start_world(s)
        await workload(world, random.Random(seed), clients=3, ops=12, r=2, w=2)
        return world.history, check_reads_see_acknowledged_writes(world.history)

    return sim.run(seed, body)


@pytest.mark.parametrize("seed", range(20))
def test_without_faults_reads_see_every_acknowledged_write(seed: int) -> None:
    history, problems = _run_clean(seed)
    assert not problems, "\n".join(problems[:5])
    reads = [op for op in history if op.op == "get"]
    stale_candidates = [
        r for r in reads for p in history
        if p.op == "put" and p.ok and p.key == r.key and p.end < r.start
    ]  # fmt: skip
    assert stale_candidates, "the workload must have reads after acknowledged puts of their key"
    assert all(op.ok for op in history), [op.line() for op in history if not op.ok]


def test_the_staleness_check_catches_r_plus_w_at_most_n() -> None:
    # The check of (a) can fail: with R = W = 1 a read may miss a write that
    # was acknowledged by one replica before the others stored it.

    def run(seed: int) -> list[str]:
        async def body(s: Simulation):
            world = await start_world(s)
            await workload(world, random.Random(seed), clients=4, ops=30, r=1, w=1, dw=0)
            return check_reads_see_acknowledged_writes(world.history)

        return sim.run(seed, body)

    stale = []
    for seed in range(40):
        stale += [p for p in run(seed) if p.startswith("stale read")]
        if stale:
            break
    assert stale, "R = W = 1 never read stale in 40 seeds: the check of (a) may be blind"


# --- (b) faults: nothing invented, nothing acknowledged lost, replicas converge ---------------------

FAULTS = NetworkFaults(drop=0.03, reorder=0.1, reorder_max_s=0.05)
SETTLE_S = 30.0  # after healing: handoff every 0.5 s, an anti-entropy exchange every 0.25 s per node


async def nemesis(world: World, rng: random.Random, duration_s: float) -> None:
    """Partitions that come and go, and one node crashed and later restarted
    (only one: the store may keep nothing of what it held, as a wiped disk);
    everything healed and running when it returns."""
    s = world.sim
    started = trio.current_time()
    crash_at = rng.uniform(0.2, duration_s * 0.6)
    restart_at = crash_at + rng.uniform(0.5, 2.0)
    crashed: str | None = None
    while trio.current_time() - started < duration_s:
        await trio.sleep(rng.uniform(0.2, 0.8))
        now = trio.current_time() - started
        if crashed is None and now >= crash_at:
            crashed = rng.choice(HOSTS)
            s.nodes[crashed].crash()
        elif crashed is not None and not s.nodes[crashed].alive and now >= restart_at:
            await s.nodes[crashed].start()
        elif rng.random() < 0.5:
            hosts = [*HOSTS, CLIENT]
            rng.shuffle(hosts)
            cut = rng.randint(1, len(hosts) - 1)
            s.network.partition(hosts[:cut], hosts[cut:])
        else:
            s.network.heal()
    s.network.heal()
    if crashed is not None and not s.nodes[crashed].alive:
        await s.nodes[crashed].start()


def check_nothing_invented(history: list[Op]) -> list[str]:
    """Every value a read returned was written by a put invoked before the read ended."""
    problems = []
    for read in history:
        if read.op == "get" and read.result:
            written = {
                p.value for p in history if p.op == "put" and p.key == read.key and p.start <= read.end
            }
            for value in read.result - written:
                problems.append(f"read invented {value!r}: {read.line()}")
    return problems


def check_converged(world: World, holdings: dict[str, dict[bytes, StoredObject]]) -> list[str]:
    """Every key written is held, identically, by the N nodes of its preference list and by nobody else."""
    problems = []
    written = {op.key for op in world.history if op.op == "put"}
    for key in sorted(written):
        home = preference(key)
        copies = {node: held.get(key) for node, held in holdings.items()}
        strays = [node for node, obj in copies.items() if obj is not None and node not in home]
        if strays:
            problems.append(
                f"{key!r}: held off its preference list {home} by {strays} (handoff did not finish)"
            )
        at_home = {node: copies[node] for node in home}
        if any(obj is None for obj in at_home.values()) and any(obj is not None for obj in at_home.values()):
            problems.append(f"{key!r}: missing on {[n for n, o in at_home.items() if o is None]} of {home}")
        present = [obj for obj in at_home.values() if obj is not None]
        if present and any(obj != present[0] for obj in present):
            problems.append(f"{key!r}: replicas of {home} differ: {at_home}")
    return problems


def check_acknowledged_writes_survive(history: list[Op], final: dict[bytes, Op]) -> list[str]:
    """Each acknowledged put is visible in the final read of its key, or was
    superseded: some put that took effect was written with a context (the
    writer's last read of the key) that contained its value. And the final
    object's clock descends every acknowledged put's."""
    problems = []
    # A put took effect if it was acknowledged or any read saw its value (a
    # failed put may have been applied by a coordinator whose reply was lost).
    took_effect = {op.value for op in history if op.op == "put" and op.ok}
    for read in [*history, *final.values()]:
        if read.op == "get":
            took_effect |= read.result or set()
    covered: dict[bytes, set[bytes]] = {}
    for op in history:
        if op.op == "put" and op.value in took_effect and op.context_values:
            covered.setdefault(op.key, set()).update(op.context_values)
    for put in history:
        if put.op != "put" or not put.ok:
            continue
        read = final[put.key]
        assert read.clock is not None and put.clock is not None
        if not descends(read.clock, put.clock):
            problems.append(f"final read of {put.key!r} does not descend the acknowledged {put.line()}")
        if put.value not in (read.result or set()) and put.value not in covered.get(put.key, set()):
            problems.append(f"acknowledged write lost: {put.line()}; final {sorted(read.result or ())}")
    return problems


def _run_faulty(seed: int, *, ops: int = 20) -> tuple[World, dict[bytes, Op], list[str]]:
    """One seeded run under faults; returns the world, the final reads and the problems found."""

    async def body(s: Simulation):
        world = await start_world(s)
        rng = random.Random(seed)
        s.network.faults = FAULTS
        async with trio.open_nursery() as nursery:
            nursery.start_soon(nemesis, world, random.Random(rng.getrandbits(64)), 4.0)
            await workload(world, rng, clients=3, ops=ops)
        s.network.faults = NetworkFaults()
        await trio.sleep(SETTLE_S)
        problems = check_nothing_invented(world.history)
        # Every call has a 1 s deadline and the quorum machines decide once the
        # replies that are left cannot help: no request waits out its timeout.
        problems += [f"request timed out: {op.line()}" for op in world.history if "timed out" in op.error]
        problems += check_converged(world, await world.holdings())
        final = {
            key: await world.get(-1, key)
            for key in sorted({op.key for op in world.history if op.op == "put"})
        }
        problems += [f"final read failed: {op.line()}" for op in final.values() if not op.ok]
        if all(op.ok for op in final.values()):
            problems += check_acknowledged_writes_survive(world.history, final)
        problems += s.failures
        return world, final, problems

    return sim.run(seed, body)


@pytest.mark.parametrize("first", range(0, 40, 10))
def test_under_faults_nothing_is_invented_or_lost_and_replicas_converge(first: int) -> None:
    for seed in range(first, first + 10):
        world, _final, problems = _run_faulty(seed)
        assert not problems, f"seed {seed}:\n" + "\n".join(problems[:8]) + "\n" + world.report()


@pytest.mark.slow
@pytest.mark.parametrize("first", range(40, 640, 100))
def test_under_faults_many_seeds(first: int) -> None:
    for seed in range(first, first + 100):
        world, _final, problems = _run_faulty(seed)
        assert not problems, f"seed {seed}:\n" + "\n".join(problems[:8]) + "\n" + world.report()


# --- (c) sloppy quorum: an acknowledged write that a later quorum read does not see -----------------


async def retry(attempt, tries: int = 20):
    """The first successful op of up to `tries` attempts, 0.25 s apart (the service learns who is down)."""
    for _ in range(tries):
        op = await attempt()
        if op.ok:
            return op
        await trio.sleep(0.25)
    return op


def _run_sloppy(seed: int) -> dict[str, object]:
    async def body(s: Simulation):
        world = await start_world(s)
        key = KEYS[0]
        home = preference(key)
        others = [m for m in MEMBERS if m not in home]
        old = await world.put(0, key, b"old", None)
        await trio.sleep(1.0)
        seen = await world.get(0, key)
        # The preference list on one side, the client and the two other nodes on the other.
        s.network.partition([CLIENT, *map(host_of, others)], [*map(host_of, home)])
        new = await retry(lambda: world.put(0, key, b"new", seen))
        sloppy = world.service.counters["sloppy_targets"]
        # Now the fallbacks are cut off, before they could hand the write to its home.
        s.network.partition([CLIENT, *map(host_of, home)], [*map(host_of, others)])
        stale = await retry(lambda: world.get(0, key))
        s.network.heal()
        await trio.sleep(SETTLE_S)
        final = await world.get(0, key)
        holdings = await world.holdings()
        return {
            "old": old, "seen": seen, "new": new, "stale": stale, "final": final, "sloppy": sloppy,
            "fallbacks_held": [node for node in others if key in holdings[node]],
            "lines": list(s.lines), "history": [op.line() for op in world.history],
        }  # fmt: skip

    return sim.run(seed, body)


def test_sloppy_quorum_lets_a_quorum_read_miss_an_acknowledged_write() -> None:
    out = _run_sloppy(7)
    old, seen, new, stale, final = (out[k] for k in ("old", "seen", "new", "stale", "final"))
    assert old.ok and seen.ok and seen.result == {b"old"}
    assert new.ok, "the put is acknowledged by the two fallbacks (w=2 of a sloppy list of two)"
    assert out["sloppy"] > 0, "its targets were fallbacks standing in for the cut-off preference list"
    assert stale.ok and stale.start > new.end, "a (3,2,2) read that starts after the put was acknowledged"
    assert stale.result == {b"old"}, f"the read returns the older value: {stale.line()}"
    assert not descends(stale.clock, new.clock), "and its clock does not descend the acknowledged write's"
    # Healed, the hinted copies go home and the write is visible again.
    assert final.ok and final.result == {b"new"} and descends(final.clock, new.clock), final.line()
    assert out["fallbacks_held"] == [], "handoff moved the hinted copies home and dropped them"


# --- (d) determinism --------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_trace() -> None:
    first, _final, _ = _run_faulty(5, ops=8)
    again, _final, _ = _run_faulty(5, ops=8)
    other, _final, _ = _run_faulty(6, ops=8)
    assert list(first.sim.lines) == list(again.sim.lines)
    assert [op.line() for op in first.history] == [op.line() for op in again.history]
    assert list(first.sim.lines) != list(other.sim.lines), "another seed takes another course"
    sloppy = _run_sloppy(7)
    assert sloppy["lines"] == _run_sloppy(7)["lines"] and sloppy["history"] == _run_sloppy(7)["history"]


# --- a coordinator that lost its data reuses its vector clock counters (Riak's KV679) ------------------


def _run_wiped_coordinator(seed: int) -> tuple[World, dict[bytes, Op], list[str]]:
    """x is acknowledged by all three replicas; its coordinator's disk is then
    replaced (the data is gone) and, reached alone, it coordinates two more
    writes of the key: a blind one (counter 1 again) and one with that
    write's context (counter 2), which dominates x's clock without anybody
    having seen x."""

    async def body(s: Simulation):
        world = await start_world(s)
        key = KEYS[1]
        coordinator = preference(key)[0]
        x = await world.put(0, key, b"x", None)
        await trio.sleep(1.0)
        host = s.nodes[host_of(coordinator)]
        host.crash()
        host.disk = SimDisk(random.Random(seed), s.disk_faults)  # a new, empty disk
        await host.start()
        s.network.partition([CLIENT, host_of(coordinator)], [h for h in HOSTS if h != host_of(coordinator)])
        missing = await retry(lambda: world.get(1, key, r=1))
        await retry(lambda: world.put(1, key, b"z", missing, w=1, dw=0))
        seen = await retry(lambda: world.get(1, key, r=1))
        await retry(lambda: world.put(1, key, b"w", seen, w=1, dw=0))
        s.network.heal()
        await trio.sleep(SETTLE_S)
        final = {key: await world.get(0, key)}
        assert x.ok and x.clock is not None and len(x.clock.entries) == 1, "x had one coordinator"
        return world, final, check_acknowledged_writes_survive(world.history, final)

    return sim.run(seed, body)


def test_a_coordinator_that_lost_its_data_does_not_erase_acknowledged_writes() -> None:
    world, final, problems = _run_wiped_coordinator(3)
    assert not problems, "\n".join(problems) + "\n" + world.report()


def _run_fallback_reuses_its_counter(seed: int) -> tuple[World, dict[bytes, Op], dict[str, VClock | None]]:
    """A fallback coordinates p1, hands it home and drops its copy; the home
    coordinates p1' on top of it; then, the home cut off again, the same
    fallback coordinates a blind put p2 with no local copy, so its clock
    starts again at the counter it already used: {F: 1}, which p1''s clock
    {F: 1, A: 1} dominates, and p2 is dropped wherever the two meet."""

    async def body(s: Simulation):
        world = await start_world(s)
        key = KEYS[2]
        home = [host_of(node) for node in preference(key)]
        others = [host for host in HOSTS if host not in home]
        s.network.partition([CLIENT, *others], home)
        p1 = await retry(lambda: world.put(0, key, b"p1", None))
        s.network.heal()
        await trio.sleep(SETTLE_S)  # handoff: the hinted copies go home and the fallbacks drop theirs
        seen = await world.get(0, key)
        p1_ = await world.put(0, key, b"p1'", seen)
        s.network.partition([CLIENT, *others], home)
        p2 = await retry(lambda: world.put(1, key, b"p2", None))
        s.network.heal()
        await trio.sleep(SETTLE_S)
        final = {key: await world.get(0, key)}
        return world, final, {"p1": p1.clock, "p1'": p1_.clock, "p2": p2.clock}

    return sim.run(seed, body)


def test_a_fallback_that_handed_a_key_off_does_not_erase_a_later_write() -> None:
    world, final, clocks = _run_fallback_reuses_its_counter(1)
    # The premise: p1 and p2 had the same fallback coordinator, and p1' was written on top of p1.
    p1, p1_, p2 = clocks["p1"], clocks["p1'"], clocks["p2"]
    assert p1 is not None and p1_ is not None and p2 is not None
    assert len(p1.entries) == 1 and descends(p1_, p1) and p1_ != p1
    problems = check_acknowledged_writes_survive(world.history, final)
    assert not problems, "\n".join(problems) + f"\nclocks {clocks}\n" + world.report()
