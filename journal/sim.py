"""The journal in the simulator: seeded fault schedules, and the checks after each.

    python -m journal.sim --seed 1234            # replay one schedule, print its trace
    python -m journal.sim --schedules 1000       # run seeds 0..999
    python -m journal.sim --seed 7 --bug skip_phase1

One schedule (`run_schedule(seed)`): three replicas (real `JournalReplica`s
on a `SimDisk`, talking over the `SimNetwork`) and a client host that never
crashes. The client appends unique payloads from a few concurrent appenders
(one of them sends several at a time in one request, `append_batch`, as an
adjudicator batches the commits that arrive together), asks the leader to close timestamps, and follows the log as a subscriber
that checkpoints (so replicas compact). Meanwhile a nemesis, for a few
simulated seconds, crashes replicas (any number at once; their disks keep
only what was synced, sometimes with a torn tail), restarts them, partitions
and heals the network, and turns message loss, duplication and reordering up
and down. Seeds 3 mod 4 run a harsh profile (`HARSH`: every replica killed
at once at a third of the nemesis steps, syncs up to 30 ms, so crashes land
mid-sync), seeds 1 mod 4 one that often cuts the leader off from its
followers while appends come in sparse bursts (`LEADER_ISOLATION`). Then the
network heals and every replica comes back, and the schedule must settle.

Checks, after every schedule:
  agreement    no slot has two chosen values: derived independently from the
               durable accepts of every replica (a value is chosen when a
               majority has durably accepted it at one ballot), and no two
               replicas learn different values for a slot
  validity     every record in a chosen value was proposed by the client
  durability   every acknowledged append is in the final log at the position
               and τ it was acknowledged with; no append the client was told
               failed definitely is there; no payload is there twice
  order        positions are dense and τ rises with position, the same on
               every replica and as the subscriber saw it
  closed τ     no record after a closed timestamp's position is at or below it
               (from `close` answers and from `read` answers)
  liveness     with the network healed and every replica up, every pending
               append completes, a new append succeeds, and all replicas reach
               the same end, within bounded simulated time

A failing schedule reports its violations and the tail of its trace; the seed
alone replays it exactly.

`run_availability(seed, scenario)` is not a fault schedule but a measurement
on a clean network: one replica (a follower, or the leader) is cut off for
many election timeouts and the network heals; it reports how long the
journal went without a leader and without commits, and when an isolated
leader stepped down (`python -m journal.sim --availability`).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import trio

from cluster import sim as simulator
from cluster.sim import DiskFaults, NetworkFaults, NodeEnv, Simulation
from journal.client import JournalClient
from journal.errors import AppendUncertain, JournalUnavailable
from journal.interface import Read
from journal.messages import Value
from journal.paxos import Bug, PaxosConfig
from journal.replica import JournalReplica, ReplicaConfig

JOURNAL = 0
SUBSCRIBER = "sim-reader"


@dataclass(frozen=True)
class ScheduleOptions:
    replicas: int = 3
    appenders: int = 3
    # Appenders that send 1-4 appends at a time as one `append_batch` request
    # (beside the `appenders`, which send one at a time).
    batch_appenders: int = 1
    appends_per_appender: int = 5  # at least; appenders keep going through the fault phase
    fault_phase_s: float = 3.0
    settle_timeout_s: float = 40.0
    bug: Bug = Bug.NONE
    trace_lines: int = 200  # of the trace kept in a failing outcome
    keep_trace: bool = False
    # Probability that a nemesis step kills every replica at once (kill -9 of
    # everything): the schedule where unsynced state is lost everywhere.
    crash_all: float = 0.04
    # Simulated sync latency: the longer, the more crashes land mid-sync.
    sync_latency_max_s: float = 0.006
    # Each appender waits up to this long between appends; longer gaps leave
    # a leader idle, which is when it closes timestamps on its own.
    append_gap_max_s: float = 0.1
    # Probability that a nemesis step cuts the leader off from its followers
    # (not from the client).
    isolate_leader: float = 0.03


@dataclass
class Outcome:
    seed: int
    violations: list[str]
    stats: dict[str, Any]
    trace: str = ""

    @property
    def ok(self) -> bool:
        return not self.violations

    def report(self) -> str:
        lines = [f"seed {self.seed}: {'ok' if self.ok else 'FAILED'} {self.stats}"]
        lines += [f"  violation: {v}" for v in self.violations[:20]]
        if not self.ok:
            lines.append(f"  replay: python -m journal.sim --seed {self.seed}" + (
                f" --bug {self.stats.get('bug')}" if self.stats.get("bug", "none") != "none" else ""
            ))  # fmt: skip
            lines.append("  trace (tail):")
            lines.append(self.trace)
        return "\n".join(lines)


def replica_config(replicas: int, bug: Bug) -> ReplicaConfig:
    """Protocol timings scaled for simulation: the same ratios, fewer events per simulated second."""
    paxos = PaxosConfig(
        replica_count=replicas,
        lease_ns=200_000_000,
        election_timeout_ns=220_000_000,
        election_jitter_ns=100_000_000,
        first_election_stagger_ns=30_000_000,
        heartbeat_ns=50_000_000,
        retransmit_ns=40_000_000,
        pipeline_slots_max=3,
        slot_records_max=8,  # small slots: more slots, more interleavings
        chosen_window_slots=16,  # so catch-up also reads chosen values back from disk
        clock_rate_error=1e-3,
        bug=bug,
    )
    return ReplicaConfig(
        paxos=paxos,
        tick_s=0.01,
        idle_tick_s=0.01,
        append_wait_s=3.0,
        close_wait_s=1.0,
        memory_records_max=32,  # so subscribers also read from disk
        segment_bytes_max=4096,  # so segments rotate and compaction deletes them
    )


class Checker:
    """Watches every replica's durable accepts and learned slots (the `Observer` hooks)."""

    def __init__(self, replicas: int) -> None:
        self.majority = replicas // 2 + 1
        self.accepts: dict[tuple[int, int], tuple[Value, set[str]]] = {}
        self.chosen: dict[int, Value] = {}
        self.learned: dict[int, Value] = {}
        self.violations: list[str] = []

    def durable_accept(self, replica: str, slot: int, ballot: int, value: Value) -> None:
        key = (slot, ballot)
        entry = self.accepts.get(key)
        if entry is None:
            entry = self.accepts[key] = (value, set())
        elif entry[0] != value:
            self.violations.append(f"slot {slot} ballot {ballot}: two different values accepted")
        entry[1].add(replica)
        if len(entry[1]) >= self.majority:
            chosen = self.chosen.get(slot)
            if chosen is None:
                self.chosen[slot] = value
            elif chosen != value:
                self.violations.append(f"agreement: slot {slot} chosen with two values (ballot {ballot})")

    def learned_slot(self, replica: str, slot: int, value: Value) -> None:
        known = self.learned.get(slot)
        if known is None:
            self.learned[slot] = value
        elif known != value:
            self.violations.append(f"agreement: {replica} learned another value for slot {slot}")
        chosen = self.chosen.get(slot)
        if chosen is not None and chosen != value:
            self.violations.append(f"agreement: {replica} learned slot {slot} unlike the value a majority accepted")

    def as_observer(self) -> Any:
        checker = self

        class _Observer:
            def durable_accept(self, replica: str, slot: int, ballot: int, value: Value) -> None:
                checker.durable_accept(replica, slot, ballot, value)

            def learned(self, replica: str, slot: int, value: Value) -> None:
                checker.learned_slot(replica, slot, value)

        return _Observer()


@dataclass
class Workload:
    proposed: set[bytes] = field(default_factory=set)
    acked: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    failed: set[bytes] = field(default_factory=set)
    uncertain: set[bytes] = field(default_factory=set)
    closes: list[tuple[int, int]] = field(default_factory=list)  # (closed τ, position)
    read_closes: list[tuple[int, int]] = field(default_factory=list)  # (closed τ, tail)
    seen: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # position -> (τ, payload)
    reader_next: int = 1
    appenders_done: int = 0
    stop: bool = False  # set when the fault phase ends: appenders finish what they started
    violations: list[str] = field(default_factory=list)


async def _schedule(sim: Simulation, options: ScheduleOptions) -> Outcome:
    n = options.replicas
    addresses = [f"journal/{JOURNAL}/{i}" for i in range(n)]
    names = [f"r{i}" for i in range(n)]
    config = replica_config(n, options.bug)
    checker = Checker(n)
    observer = checker.as_observer()
    replicas: dict[str, JournalReplica] = {}
    work = Workload()

    def replica_main(index: int):
        async def main(env: NodeEnv) -> None:
            replica = JournalReplica(
                JOURNAL, index, addresses, env.transport, env.clock, env.disk,
                config=config, subscribers=(SUBSCRIBER,), monotonic_ns=env.monotonic_ns,
                observer=observer, trace=env.trace,
            )  # fmt: skip
            replicas[env.name] = replica
            env.serve(addresses[index], replica)
            await replica.run()

        return main

    for i in range(n):
        sim.add_node(names[i], replica_main(i))
    client_node = sim.add_node("client", lambda env: _client(env, addresses, options, work, sim))
    for name in names:
        await sim.nodes[name].start()
    await client_node.start()

    # -- the fault phase ------------------------------------------------------------
    end = sim.now + options.fault_phase_s
    rng = sim.rng
    while sim.now < end:
        await trio.sleep(rng.uniform(0.02, 0.4))
        await _inject_fault(sim, names, rng, options, replicas)

    # -- settle: heal everything, bring every replica back ---------------------------
    work.stop = True
    sim.network.heal()
    sim.network.faults = NetworkFaults()
    sim.trace("nemesis: settle (healed, all replicas up)")
    for name in names:
        if not sim.nodes[name].alive:
            await sim.nodes[name].start()
    violations: list[str] = []
    deadline = sim.now + options.settle_timeout_s
    with trio.move_on_after(options.settle_timeout_s) as scope:
        while work.appenders_done < options.appenders + options.batch_appenders:
            await trio.sleep(0.05)
    if scope.cancelled_caught:
        violations.append(f"liveness: appends still pending {options.settle_timeout_s:g} s after healing")
    # A fresh append must succeed. One that meets a leader change right after
    # the healing may fail or end uncertain, so a few are allowed, each a new
    # payload (never a retry of the same one, which could append it twice).
    jc = JournalClient(client_node.env.transport, addresses, append_timeout_s=max(1.0, deadline - sim.now))
    final_position = 0
    for attempt in range(5):
        payload = f"final-{sim.seed}-{attempt}".encode()
        work.proposed.add(payload)
        try:
            final_position, tau = await jc.append(payload, client_node.env.clock.latest())
        except AppendUncertain:
            work.uncertain.add(payload)
        except JournalUnavailable:
            work.failed.add(payload)
        else:
            work.acked[payload] = (final_position, tau)
            break
        if sim.now > deadline:
            break
    if not final_position:
        violations.append("liveness: no append succeeded after healing")
    with trio.move_on_after(max(0.1, deadline - sim.now)) as scope:
        while True:
            ends = [replicas[name].log.end if replicas[name].log is not None else -1 for name in names]
            if min(ends) >= final_position and len(set(ends)) == 1 and work.reader_next > max(ends):
                break
            await trio.sleep(0.05)
    if scope.cancelled_caught:
        ends = [replicas[name].log.end if replicas[name].log is not None else -1 for name in names]
        violations.append(f"liveness: replicas did not converge (ends {ends}, reader at {work.reader_next - 1})")

    # -- checks ----------------------------------------------------------------------
    violations += checker.violations
    violations += work.violations
    violations += sim.failures
    logs = {}
    for name in names:
        logs[name] = await _read_all(replicas[name])
    violations += _check_logs(logs, work)
    for slot, value in {**checker.chosen, **checker.learned}.items():
        for _, payload in value[1]:
            if payload not in work.proposed:
                violations.append(f"validity: slot {slot} holds a record nobody proposed: {payload[:40]!r}")
                break
    stats = {
        "appends": len(work.proposed),
        "acked": len(work.acked),
        "uncertain": len(work.uncertain),
        "failed": len(work.failed),
        "closes": len(work.closes),
        "log": work.reader_next - 1,
        "voids": sum(r.core.voids for r in replicas.values() if r.core is not None),
        "messages": sim.network.messages,
        "dropped": sim.network.dropped,
        "sim_s": round(sim.now, 2),
        "bug": options.bug.value,
    }
    trace = sim.trace_tail(options.trace_lines) if violations or options.keep_trace else ""
    return Outcome(sim.seed, violations, stats, trace)


async def _inject_fault(
    sim: Simulation, names: list[str], rng: Any, options: ScheduleOptions, replicas: dict[str, JournalReplica]
) -> None:
    nodes = [sim.nodes[name] for name in names]
    alive = [node for node in nodes if node.alive]
    down = [node for node in nodes if not node.alive]
    if rng.random() < options.crash_all:
        for node in nodes:  # kill -9 of everything at once
            node.crash()
        for node in nodes:
            await node.start()
        return
    if rng.random() < options.isolate_leader:
        # The leader loses its followers but not its clients: once its lease
        # is gone it must stop closing timestamps, as a successor may exist.
        leaders = [n for n in names if sim.nodes[n].alive and replicas.get(n) is not None
                   and replicas[n].core is not None and replicas[n].core.role.value == "leader"]  # fmt: skip
        if leaders:
            sim.network.partition(leaders[:1], [n for n in names if n != leaders[0]])
            return
    roll = rng.random()
    if roll < 0.22 and alive:
        rng.choice(alive).crash()
    elif roll < 0.40 and down:
        await rng.choice(down).start()
    elif roll < 0.48:
        node = rng.choice(nodes)
        node.crash()
        await node.start()  # kill -9 and straight back
    elif roll < 0.58:
        hosts = names + ["client"]
        rng.shuffle(hosts)
        cut = rng.randrange(1, len(hosts))
        sim.network.partition(hosts[:cut], hosts[cut:])
    elif roll < 0.64:
        # The replicas split, and the client still reaches every one of them.
        hosts = list(names)
        rng.shuffle(hosts)
        cut = rng.randrange(1, len(hosts))
        sim.network.partition(hosts[:cut], hosts[cut:])
    elif roll < 0.70:
        a, b = rng.sample(names, 2)
        sim.network.cut(a, b)
    elif roll < 0.82:
        sim.network.heal()
    else:
        faults = sim.network.faults
        faults.drop = rng.choice([0.0, 0.0, 0.02, 0.1, 0.3])
        faults.duplicate = rng.choice([0.0, 0.05, 0.2])
        faults.reorder = rng.choice([0.0, 0.1, 0.4])
        sim.trace(f"nemesis: drop {faults.drop} duplicate {faults.duplicate} reorder {faults.reorder}")


async def _client(env: NodeEnv, addresses: list[str], options: ScheduleOptions, work: Workload, sim: Simulation) -> None:
    async with trio.open_nursery() as nursery:
        for a in range(options.appenders):
            nursery.start_soon(_appender, env, addresses, options, work, a)
        for a in range(options.batch_appenders):
            nursery.start_soon(_batch_appender, env, addresses, options, work, options.appenders + a)
        nursery.start_soon(_closer, env, addresses, work)
        nursery.start_soon(_reader, env, addresses, work)


async def _appender(env: NodeEnv, addresses: list[str], options: ScheduleOptions, work: Workload, a: int) -> None:
    jc = JournalClient(env.transport, addresses, append_timeout_s=4.0)
    i = -1
    while not work.stop or i + 1 < options.appends_per_appender:
        i += 1
        payload = f"{env.sim.seed}:{a}:{i}".encode()
        work.proposed.add(payload)
        tau_min = env.clock.latest()
        tau_max = tau_min + 5_000_000_000
        try:
            position, tau = await jc.append(payload, tau_min, tau_max)
        except AppendUncertain as exc:
            work.uncertain.add(payload)
            env.trace(f"append {payload!r} uncertain: {exc}")
            if exc.tau_bound and exc.tau_bound > tau_max:
                work.violations.append(f"uncertain bound {exc.tau_bound} above tau_max {tau_max}")
        except JournalUnavailable as exc:
            work.failed.add(payload)
            env.trace(f"append {payload!r} failed: {exc!r}")
        else:
            work.acked[payload] = (position, tau)
            env.trace(f"append {payload!r} -> position {position} τ {tau}")
            if tau < tau_min:
                work.violations.append(f"append {payload!r}: τ {tau} below tau_min {tau_min}")
        await trio.sleep(env.rng.uniform(0, options.append_gap_max_s))
    work.appenders_done += 1


async def _batch_appender(env: NodeEnv, addresses: list[str], options: ScheduleOptions, work: Workload,
                          a: int) -> None:  # fmt: skip
    """Like `_appender`, several appends at a time in one request; now and then one of
    them with a tau_max it may well not get (refused, while the others go on)."""
    jc = JournalClient(env.transport, addresses, append_timeout_s=4.0)
    i = -1
    while not work.stop or i + 1 < options.appends_per_appender:
        i += 1
        tau_min = env.clock.latest()
        appends = []
        for k in range(env.rng.randint(1, 4)):
            payload = f"{env.sim.seed}:{a}:{i}.{k}".encode()
            work.proposed.add(payload)
            tight = env.rng.random() < 0.1
            appends.append((payload, tau_min, tau_min + (1 if tight else 5_000_000_000)))
        results = await jc.append_batch(appends)
        if len(results) != len(appends):
            work.violations.append(f"append_batch of {len(appends)} answered {len(results)} times")
        for (payload, _, tau_max), result in zip(appends, results, strict=False):
            if isinstance(result, AppendUncertain):
                work.uncertain.add(payload)
                env.trace(f"append {payload!r} uncertain: {result}")
                if result.tau_bound and result.tau_bound > tau_max:
                    work.violations.append(f"uncertain bound {result.tau_bound} above tau_max {tau_max}")
            elif isinstance(result, JournalUnavailable):
                work.failed.add(payload)
                env.trace(f"append {payload!r} failed: {result!r}")
            else:
                position, tau = result
                work.acked[payload] = (position, tau)
                env.trace(f"append {payload!r} -> position {position} τ {tau}")
                if not tau_min <= tau <= tau_max:
                    work.violations.append(f"append {payload!r}: τ {tau} outside [{tau_min}, {tau_max}]")
        await trio.sleep(env.rng.uniform(0, options.append_gap_max_s))
    work.appenders_done += 1


async def _closer(env: NodeEnv, addresses: list[str], work: Workload) -> None:
    jc = JournalClient(env.transport, addresses)
    while True:
        await trio.sleep(env.rng.uniform(0.02, 0.3))
        try:
            closed, position = await jc.close(env.clock.latest())
        except JournalUnavailable:
            continue
        work.closes.append((closed, position))
        env.trace(f"close -> ({closed}, {position})")


async def _reader(env: NodeEnv, addresses: list[str], work: Workload) -> None:
    jc = JournalClient(env.transport, addresses)
    since_checkpoint = 0
    while True:
        try:
            records, closed, tail = await jc.read(SUBSCRIBER, work.reader_next, 20, 0.2)
        except JournalUnavailable:
            await trio.sleep(0.05)
            continue
        last_tau = work.seen[work.reader_next - 1][0] if work.reader_next > 1 else 0
        for position, tau, payload in records:
            if position != work.reader_next:
                work.violations.append(f"reader: position {position} where {work.reader_next} was due")
                return
            if tau <= last_tau:
                work.violations.append(f"reader: τ steps back at position {position}")
            work.seen[position] = (tau, payload)
            work.reader_next = position + 1
            last_tau = tau
            since_checkpoint += 1
        if tail >= work.reader_next:
            work.violations.append(f"reader: tail {tail} beyond the records returned")
        if closed:
            work.read_closes.append((closed, tail))
        if since_checkpoint >= 10:
            since_checkpoint = 0
            await jc.checkpointed(SUBSCRIBER, work.reader_next - 1)


async def _read_all(replica: JournalReplica) -> dict[int, tuple[int, bytes]]:
    out: dict[int, tuple[int, bytes]] = {}
    if replica.log is None:
        return out
    position = replica.log.first_position
    while position <= replica.log.end:
        records = (await replica.rpc_read(Read("checker", position, 10_000, 0))).records
        if not records:
            break
        for pos, tau, payload in records:
            out[pos] = (tau, payload)
        position = records[-1][0] + 1
    return out


def _check_logs(logs: dict[str, dict[int, tuple[int, bytes]]], work: Workload) -> list[str]:
    violations = []
    # The subscriber saw everything from position 1 (replicas compacted what it checkpointed).
    final = dict(work.seen)
    for name, entries in logs.items():
        for position, entry in entries.items():
            known = final.get(position)
            if known is None:
                final[position] = entry
            elif known != entry:
                violations.append(f"order: {name} holds another record at position {position}")
    positions = sorted(final)
    if positions and positions != list(range(1, positions[-1] + 1)):
        violations.append("order: positions are not dense from 1")
    taus = [final[p][0] for p in positions]
    if any(b <= a for a, b in zip(taus, taus[1:], strict=False)):
        violations.append("order: τ does not rise with position")
    where: dict[bytes, int] = {}
    for position in positions:
        payload = final[position][1]
        if payload in where:
            violations.append(f"durability: {payload!r} appears twice (positions {where[payload]} and {position})")
        where[payload] = position
    for payload, (position, tau) in work.acked.items():
        if final.get(position) != (tau, payload):
            violations.append(f"durability: acknowledged {payload!r} at {position} (τ {tau}) is not there")
    for payload in work.failed:
        if payload in where:
            violations.append(f"durability: {payload!r} was refused, yet it is at position {where[payload]}")
    for closed, position in work.closes + work.read_closes:
        after = final.get(position + 1)
        if after is not None and after[0] <= closed:
            violations.append(f"closed τ: record at {position + 1} has τ {after[0]} <= closed {closed} at {position}")
    return violations


# Kill -9 of every replica at a third of the nemesis steps, syncs up to 30 ms:
# crashes land mid-sync everywhere.
HARSH = {"crash_all": 0.3, "sync_latency_max_s": 0.03}
# The leader is cut off from its followers (not from the client) at a third
# of the steps, and appends come in sparse bursts, so an isolated leader is
# often idle: when only its lease stops it from closing timestamps.
LEADER_ISOLATION = {"isolate_leader": 0.3, "append_gap_max_s": 1.0}


def options_for(seed: int, **overrides: Any) -> ScheduleOptions:
    """The schedule profile a seed runs: seeds 3 mod 4 are harsh, 1 mod 4 isolate
    the leader, the rest mixed."""
    profile = dict(HARSH) if seed % 4 == 3 else dict(LEADER_ISOLATION) if seed % 4 == 1 else {}
    profile.update(overrides)
    return ScheduleOptions(**profile)


def run_schedule(seed: int, options: ScheduleOptions | None = None) -> Outcome:
    options = options or options_for(seed)
    return simulator.run(
        seed,
        lambda sim: _schedule(sim, options),
        network_faults=NetworkFaults(),
        # Syncs slow enough that crashes often land while one is in flight.
        disk_faults=DiskFaults(sync_latency_min_s=0.0002, sync_latency_max_s=options.sync_latency_max_s),
        clock_error_ns=2_000_000,
        clock_rate_error=0.5e-3,
    )


# -- availability scenarios -------------------------------------------------------------
#
# Not fault schedules: one partition, held for many election timeouts, then
# healed, on an otherwise clean network, with a steady appender. They measure
# what the schedules above only bound: how long the journal goes without a
# leader, and without commits, when nothing is wrong on the majority side.


@dataclass
class Availability:
    """What one partition-and-heal scenario saw; times in simulated seconds."""

    scenario: str
    seed: int
    leader_before: tuple[str, int]  # (replica, ballot) leading when the partition began
    leader_after: tuple[str, int] | None  # leading at the end
    # The cut-off replica's highest promised ballot when the partition healed.
    cut_off_ballot: int
    leaderless_after_heal_s: float  # time with no replica leading, from the heal on
    commit_gap_after_heal_s: float  # longest time without an acknowledged append, from the heal on
    leaders_after_heal: list[tuple[str, int]]  # every (replica, ballot) seen leading after the heal
    # Leader isolation only: when the isolated leader stopped leading, and
    # when another replica led, after the partition began.
    stepped_down_after_s: float | None
    successor_after_s: float | None
    caught_up: bool  # every replica holds the whole log at the end
    violations: list[str]

    def report(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in self.__dict__.items() if k != "violations")
        return f"{fields}; violations: {self.violations}"


SAMPLE_S = 0.005


async def _availability(sim: Simulation, scenario: str, cut_s: float, after_s: float) -> Availability:
    n = 3
    addresses = [f"journal/{JOURNAL}/{i}" for i in range(n)]
    names = [f"r{i}" for i in range(n)]
    config = replica_config(n, Bug.NONE)
    checker = Checker(n)
    observer = checker.as_observer()
    replicas: dict[str, JournalReplica] = {}
    acks: list[float] = []
    violations: list[str] = []
    samples: list[tuple[float, list[tuple[str, int]]]] = []
    stop = trio.Event()

    def replica_main(index: int):
        async def main(env: NodeEnv) -> None:
            replica = JournalReplica(
                JOURNAL, index, addresses, env.transport, env.clock, env.disk,
                config=config, monotonic_ns=env.monotonic_ns, observer=observer, trace=env.trace,
            )  # fmt: skip
            replicas[env.name] = replica
            env.serve(addresses[index], replica)
            await replica.run()

        return main

    def leading() -> list[tuple[str, int]]:
        out = []
        for name in names:
            replica = replicas.get(name)
            core = replica.core if replica is not None else None
            if core is not None and core.role.value == "leader":
                out.append((name, core.ballot))
        return out

    async def appender(env: NodeEnv) -> None:
        jc = JournalClient(env.transport, addresses, append_timeout_s=2.0)
        i = 0
        while not stop.is_set():
            i += 1
            try:
                await jc.append(f"{sim.seed}:{i}".encode(), env.clock.latest())
            except (AppendUncertain, JournalUnavailable) as exc:
                env.trace(f"append {i} failed: {exc!r}")
            else:
                acks.append(sim.now)
            await trio.sleep(0.02)

    for i in range(n):
        sim.add_node(names[i], replica_main(i))
    client = sim.add_node("client", appender)
    for name in names:
        await sim.nodes[name].start()
    await client.start()

    async def sampler() -> None:
        while True:
            samples.append((sim.now, leading()))
            await trio.sleep(SAMPLE_S)

    sim.spawn(sampler)
    with trio.move_on_after(10):
        while len(acks) < 10 or len(leading()) != 1:
            await trio.sleep(0.01)
    before = leading()
    if len(before) != 1:
        violations.append(f"no single leader before the partition: {before}")
        return Availability(scenario, sim.seed, ("", 0), None, 0, 0, 0, [], None, None, False, violations)
    leader = before[0][0]
    cut_at = sim.now
    if scenario == "follower":
        cut_off = next(name for name in names if name != leader)
        sim.network.partition([cut_off], [name for name in names if name != cut_off] + ["client"])
    else:
        cut_off = leader  # cut off from its followers, not from the client
        sim.network.partition([leader], [name for name in names if name != leader])
    await trio.sleep(cut_s)
    core = replicas[cut_off].core
    cut_off_ballot = max(core.promised, core.ballot) if core is not None else 0
    heal_at = sim.now
    sim.network.heal()
    await trio.sleep(after_s)
    stop.set()
    end_at = sim.now
    after = leading()

    stepped_down = successor = None
    for at, who in samples:
        if at < cut_at:
            continue
        if stepped_down is None and all(name != leader for name, _ in who):
            stepped_down = round(at - cut_at, 3)
        if successor is None and any(name != leader for name, _ in who):
            successor = round(at - cut_at, 3)
    leaderless = 0.0
    seen: list[tuple[str, int]] = []
    for (at, who), (next_at, _) in zip(samples, samples[1:], strict=False):
        if at < heal_at or at >= end_at:
            continue
        if not who:
            leaderless += next_at - at
        for item in who:
            if item not in seen:
                seen.append(item)
    times = [heal_at] + [t for t in acks if heal_at <= t <= end_at] + [end_at]
    gap = max(b - a for a, b in zip(times, times[1:], strict=False))

    # Let the cut-off replica finish catching up, then compare the logs.
    caught_up = False
    with trio.move_on_after(5):
        while not caught_up:
            await trio.sleep(0.05)
            ends = [replicas[name].log.end if replicas[name].log is not None else -1 for name in names]
            caught_up = len(set(ends)) == 1 and ends[0] >= len(acks)
    violations += checker.violations + sim.failures
    return Availability(
        scenario, sim.seed, before[0], after[0] if len(after) == 1 else None, cut_off_ballot,
        round(leaderless, 3), round(gap, 3), seen, stepped_down, successor, caught_up, violations,
    )  # fmt: skip


def run_availability(seed: int, scenario: str, cut_s: float = 4.0, after_s: float = 3.0) -> Availability:
    """Cut one replica off for `cut_s` (scenario "follower": a follower, from
    everyone; "leader": the leader, from its followers only), heal, and watch
    for `after_s`."""
    assert scenario in ("follower", "leader"), scenario
    return simulator.run(
        seed,
        lambda sim: _availability(sim, scenario, cut_s, after_s),
        network_faults=NetworkFaults(),
        disk_faults=DiskFaults(sync_latency_min_s=0.0002, sync_latency_max_s=0.002),
        clock_error_ns=2_000_000,
        clock_rate_error=0.5e-3,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m journal.sim", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, help="run (replay) this one schedule and print its trace")
    parser.add_argument("--schedules", type=int, default=100, help="run seeds first..first+schedules-1")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--bug", default="none", choices=[b.value for b in Bug])
    parser.add_argument("--trace", action="store_true", help="print the whole trace of --seed")
    parser.add_argument(
        "--availability", action="store_true",
        help="run the partition-and-heal scenarios for seeds first..first+schedules-1 and print what they saw",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.availability:
        failures = 0
        for seed in range(args.first, args.first + args.schedules):
            for scenario in ("follower", "leader"):
                seen = run_availability(seed, scenario)
                failures += bool(seen.violations)
                print(seen.report())
        return 1 if failures else 0
    if args.seed is not None:
        options = options_for(args.seed, bug=Bug(args.bug))
        if args.trace:
            options = options_for(args.seed, bug=Bug(args.bug), keep_trace=True, trace_lines=10**9)
        outcome = run_schedule(args.seed, options)
        print(outcome.report())
        if args.trace and outcome.ok:
            print(outcome.trace)
        return 0 if outcome.ok else 1
    failures = 0
    started = time.perf_counter()
    for seed in range(args.first, args.first + args.schedules):
        outcome = run_schedule(seed, options_for(seed, bug=Bug(args.bug)))
        if not outcome.ok:
            failures += 1
            print(outcome.report())
    elapsed = time.perf_counter() - started
    print(f"{args.schedules} schedules, {failures} failed, {elapsed:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
