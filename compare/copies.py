"""The durability scenarios: how many up-to-date copies each key has while the cluster changes.

Two designs of replication are compared here, whatever API writes the data:

* Dynamo's ring: each key on the first N nodes of its preference list;
  when nodes join or leave, the list changes and handoff moves copies; a
  node that loses its disk comes back empty and only read repair (for keys
  read) or active anti-entropy (Merkle exchanges, for all) refills it.
  Counted by the Riak front end's observation hook `GET /dsql/copies/B`
  (`kv.dynamo.dsql_routes`): per key, the nodes whose copy descends every
  other copy's clock, anywhere and on the key's preference list.
* Replica groups (DSQL's and DynamoDB's storage; DSQL's journal besides):
  each shard on a group of storage nodes; a move copies a shard to its new
  member before the old one leaves, and a lost member's shards are copied
  from the survivors (`dsql cluster drain`). Counted by `python -m
  assembly.copies --every S` (live, caught-up replicas per shard).

Scenarios:

* `scaling`: under a light load of every design, a storage node (and its
  Dynamo node) is added, then another drained; the fewest up-to-date
  copies of any key over time, per design.
* `unread-keys`: keys written once and never read; a Dynamo node loses its
  disk (`dsql cluster restart --wipe-dynamo`) while anti-entropy is off,
  then anti-entropy is switched on; then a storage node is lost for good
  and its replica groups re-replicated. How long until every key has N
  copies again, each way.

Both begin once every shard has N caught-up copies (or after
`CAUGHT_UP_WAIT_S`): the scenario before may have healed a fault whose
replicas are still catching up.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import httpx

from assembly import copies as group_copies
from checker.history import History
from compare.cluster import CompareCluster
from compare.designs import Design
from compare.phases import Context, Fleet, Phase, Schedule, run_phased
from compare.register import run_register
from compare.results import DesignResult, ScenarioResult
from compare.scenarios import DSQL, DYNAMO_322, DYNAMODB_STRONG, design_result, scenario_result

SAMPLE_S = 0.5
N = 3
REPLICA_GROUPS = "replica groups (dsql, dynamodb)"
COLD_KEYS_QUICK, COLD_KEYS_FULL = 200, 1000
AAE_INTERVAL_S = 0.2  # per node, between two Merkle exchanges, once switched on
WIPED = "storage-3"  # its Dynamo node loses its disk in unread-keys
LOST = "storage-4"  # lost for good in unread-keys
ADDED_THEN = "storage-0"  # drained in scaling, after a node is added
HTTP_TIMEOUT_S = 5.0
# How long a copy scenario waits, before it begins, for every shard to have N caught-up copies
# (what the scenario before it left may still be catching up); past it, it begins regardless
# and its samples show what it found.
CAUGHT_UP_WAIT_S = 120.0
# A replica whose watermark is further behind than this is not up to date (a cut-off node still
# answers and says it is caught up; only its watermark stops).
LAG_MS_MAX = 2000


class Sampler:
    """Samples Dynamo's copies of a bucket and the replica groups' copies every `SAMPLE_S`."""

    def __init__(self, ctx: Context, bucket: str, start_ns: int) -> None:
        self.ctx = ctx
        self.bucket = bucket
        self.start_ns = start_ns
        self.wall_offset = time.time() - time.monotonic()
        self.dynamo: list[list[float]] = []  # [t, min up-to-date anywhere]
        self.dynamo_primaries: list[list[float]] = []  # [t, min up-to-date on the preference list]
        self.dynamo_below: list[list[float]] = []  # [t, keys below N on the preference list]
        self.groups: list[list[float]] = []  # [t, fewest caught-up replicas of any shard]
        self._stop = False

    def _t(self, monotonic_s: float) -> float:
        return round(monotonic_s - self.start_ns / 1e9, 2)

    async def run(self) -> None:
        await asyncio.gather(self._dynamo(), asyncio.to_thread(self._groups))

    def stop(self) -> None:
        self._stop = True

    async def _dynamo(self) -> None:
        url = f"{self.ctx.cluster.endpoints()[0].dynamo_url}/dsql/copies/{self.bucket}"
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as http:
            while not self._stop:
                asked = time.monotonic()
                try:
                    response = await http.get(url, params={"keys": "false"})
                    totals = response.json()["totals"] if response.status_code == 200 else None
                except (httpx.HTTPError, ValueError, KeyError):
                    totals = None
                if totals is not None and totals.get("keys"):
                    t = self._t(asked)
                    self.dynamo.append([t, totals["min_up_to_date"]])
                    self.dynamo_primaries.append([t, totals["min_up_to_date_primaries"]])
                    self.dynamo_below.append([t, totals["below_n_val_primaries"]])
                await asyncio.sleep(max(0.0, SAMPLE_S - (time.monotonic() - asked)))

    def _groups(self) -> None:
        command = [sys.executable, "-m", "assembly.copies", "--dir", self.ctx.cluster.dir, "--every", str(SAMPLE_S),
                   "--lag-ms-max", str(LAG_MS_MAX)]
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as sampler:
            try:
                assert sampler.stdout is not None
                for line in sampler.stdout:
                    if self._stop:
                        break
                    try:
                        sample = json.loads(line)
                    except ValueError:
                        continue
                    self.groups.append([self._t(sample["at_s"] - self.wall_offset), sample["lowest"]])
            finally:
                sampler.kill()


def _aae(cluster: CompareCluster, enabled: bool, interval_s: float = 0.0) -> None:
    """Active anti-entropy on or off on every Dynamo node (`PUT /dsql/aae`)."""
    url = f"{cluster.endpoints()[0].dynamo_url}/dsql/aae"
    response = httpx.put(url, json={"enabled": enabled, "interval_s": interval_s}, timeout=30.0)
    response.raise_for_status()


async def _write_cold_keys(ctx: Context, bucket: str, count: int) -> None:
    """`count` keys written once with W = N = 3 (every copy made before the scenario starts)."""
    url = ctx.cluster.endpoints()[0].dynamo_url
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        response = await http.put(f"/buckets/{bucket}/props", json={"props": {"n_val": N, "allow_mult": True}})
        response.raise_for_status()
        semaphore = asyncio.Semaphore(16)

        async def put(i: int) -> None:
            async with semaphore:
                for _ in range(5):
                    try:
                        done = await http.put(f"/buckets/{bucket}/keys/k{i}", content=f"v{i}".encode(),
                                              params={"w": str(N), "dw": str(N)}, headers={"Content-Type": "text/plain"})  # fmt: skip
                        if done.status_code < 300:
                            return
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.5)
                raise RuntimeError(f"could not write cold key k{i} of {bucket}")

        await asyncio.gather(*(put(i) for i in range(count)))


async def _groups_caught_up(ctx: Context, scenario: str) -> None:
    """Wait (at most `CAUGHT_UP_WAIT_S`) until every shard has N live, caught-up copies, so a
    scenario measures what its own changes do to the copies, not a replica still catching up
    after the scenario before it healed its faults (slow on a machine that is busy besides)."""
    deadline = time.monotonic() + CAUGHT_UP_WAIT_S
    with ctx.console.status(f"{scenario}: waiting for every shard to have {N} caught-up copies"):
        while time.monotonic() < deadline:
            found = await asyncio.to_thread(group_copies.sample, str(ctx.cluster.dir), LAG_MS_MAX)
            if found.copies and found.lowest >= N:
                return
            await asyncio.sleep(SAMPLE_S)


def _settled(series: Sequence[Sequence[float]], value: float, samples: int = 4) -> bool:
    """The last `samples` samples all equal `value`."""
    return len(series) >= samples and all(v == value for _, v in series[-samples:])


def _min_after(series: Sequence[Sequence[float]], from_s: float) -> float | None:
    values = [v for t, v in series if t >= from_s]
    return min(values) if values else None


def _recovered_at(series: Sequence[Sequence[float]], from_s: float, good: Callable[[float], bool]) -> float | None:
    """Seconds after `from_s` until the series became good and stayed so (None: it never did)."""
    recovered = None
    for t, v in series:
        if t < from_s:
            continue
        if good(v):
            recovered = t if recovered is None else recovered
        else:
            recovered = None
    return None if recovered is None else round(recovered - from_s, 2)


# -- scaling ----------------------------------------------------------------------------


async def scaling(ctx: Context) -> ScenarioResult:
    s = 1.0 if ctx.quick else 2.0
    bucket = f"compare-scaling-{ctx.run_id}"
    cold = COLD_KEYS_QUICK if ctx.quick else COLD_KEYS_FULL
    with ctx.console.status(f"scaling: writing {cold} keys to Dynamo with W = 3"):
        await _write_cold_keys(ctx, bucket, cold)
    await _groups_caught_up(ctx, "scaling")
    phases = [
        Phase("before", 3 * s, ""),
        Phase("node added", 4 * s, "a storage node (and Dynamo node) added: dsql cluster add-storage",
              lambda c: c.cli("add-storage", timeout_s=300), begins_when_asked=True),
        Phase("node drained", 4 * s, f"{ADDED_THEN} (and its Dynamo node) drained: dsql cluster drain",
              lambda c: c.cli("drain", ADDED_THEN, timeout_s=300), begins_when_asked=True),
        Phase("after", 6 * s, ""),
    ]  # fmt: skip
    factories = {"dynamo (3,2,2)": DYNAMO_322, "dynamodb strong": DYNAMODB_STRONG, "dsql": DSQL}
    fleet = Fleet.of(ctx, factories, per_qp=1)
    for clients_ in fleet.designs.values():
        await clients_[0].setup()
    sampler = Sampler(ctx, bucket, time.monotonic_ns())

    async def work(name: str, clients: list[Design], history: History, stop: Callable[[], bool]) -> None:
        await run_register(clients, keys=10, ops_per_client=10**9, seed=ctx.seed, history=history, pause_s=0.1,
                           stop=stop, key_prefix=ctx.key_prefix("scaling", name))  # fmt: skip

    sampling = asyncio.ensure_future(sampler.run())
    try:
        await asyncio.sleep(1.0)
        sampler.start_ns = time.monotonic_ns()
        schedule = await fleet.run(ctx, "scaling", phases, work, then=lambda: asyncio.sleep(SAMPLE_S * 2))
    finally:
        sampler.stop()
        await asyncio.wait_for(sampling, 30)
    _rebase(sampler, schedule)
    scenario = scenario_result("scaling", "Scaling out and in under load: copies per key",
                               f"{cold} keys written once to Dynamo (W = 3) and watched; 2 clients per design read "
                               "and write 10 other keys throughout", phases, schedule)  # fmt: skip
    for name, clients_ in fleet.designs.items():
        result = design_result(name, clients_, fleet.histories[name], schedule)
        if name == "dynamo (3,2,2)":
            result.series["copies_min"] = sampler.dynamo_primaries
            result.series["copies_min_anywhere"] = sampler.dynamo
            result.series["keys_below_n"] = sampler.dynamo_below
            result.metrics.update({
                "keys": cold, "min_copies": _min_after(sampler.dynamo_primaries, 0.0),
                "min_copies_anywhere": _min_after(sampler.dynamo, 0.0),
                "keys_below_n_max": max((v for _, v in sampler.dynamo_below), default=None),
            })  # fmt: skip
        scenario.designs.append(result)
    groups = DesignResult(REPLICA_GROUPS, "dsql")
    groups.series["copies_min"] = sampler.groups
    groups.metrics["min_copies"] = _min_after(sampler.groups, 0.0)
    scenario.designs.append(groups)
    return scenario


def _rebase(sampler: Sampler, schedule: Schedule) -> None:
    """Sample times as seconds since the schedule began (the samplers began a little earlier)."""
    shift = (schedule.start_ns - sampler.start_ns) / 1e9
    for series in (sampler.dynamo, sampler.dynamo_primaries, sampler.dynamo_below, sampler.groups):
        series[:] = [[round(t - shift, 2), v] for t, v in series if t - shift >= 0.0]


# -- unread keys ------------------------------------------------------------------------


async def unread_keys(ctx: Context) -> ScenarioResult:
    s = 1.0 if ctx.quick else 2.0
    bucket = f"compare-unread-{ctx.run_id}"
    cold = COLD_KEYS_QUICK if ctx.quick else COLD_KEYS_FULL
    await asyncio.to_thread(_aae, ctx.cluster, False)
    with ctx.console.status(f"unread-keys: writing {cold} keys to Dynamo with W = 3, anti-entropy off"):
        await _write_cold_keys(ctx, bucket, cold)
    await _groups_caught_up(ctx, "unread-keys")
    watch_on_s = 40.0 if ctx.quick else 90.0  # at most: the phase ends once every key has its copies
    groups_s = 8.0 if ctx.quick else 15.0  # after the drain command, which returns once copies are made
    sampler = Sampler(ctx, bucket, time.monotonic_ns())
    phases = [
        Phase("before", 2 * s, "anti-entropy off on every Dynamo node"),
        Phase("disk lost, AAE off", 8 * s, f"{WIPED}'s Dynamo node restarted with an empty disk",
              lambda c: c.cli("restart", WIPED, "--wipe-dynamo", timeout_s=300), begins_when_asked=True),
        Phase("AAE on", watch_on_s, f"anti-entropy on (an exchange every {AAE_INTERVAL_S:g} s per node)",
              lambda c: _aae(c, True, AAE_INTERVAL_S), until=lambda: _settled(sampler.dynamo_below, 0)),
        Phase("node lost", groups_s, f"{LOST} killed for good, its shards re-replicated (dsql cluster drain)",
              lambda c: (c.kill(LOST), c.cli("drain", LOST, timeout_s=300)), begins_when_asked=True),
    ]  # fmt: skip

    async def idle(stop: Callable[[], bool]) -> None:
        while not stop():  # no client: nobody reads these keys
            await asyncio.sleep(0.2)

    sampling = asyncio.ensure_future(sampler.run())
    try:
        await asyncio.sleep(1.0)
        sampler.start_ns = time.monotonic_ns()
        schedule = await run_phased(ctx, "unread-keys", phases, idle)
        await asyncio.sleep(SAMPLE_S * 2)
    finally:
        sampler.stop()
        await asyncio.wait_for(sampling, 30)
        await asyncio.to_thread(_aae, ctx.cluster, True)
    _rebase(sampler, schedule)
    starts = dict(schedule.phase_starts_s())
    scenario = scenario_result("unread-keys", "Keys nobody reads after a copy is lost: anti-entropy and re-replication",
                               f"{cold} keys written once to Dynamo (W = 3) and never read", phases, schedule)
    # A window ends when the next fault was asked for (killing the lost node also kills its Dynamo
    # node, long before the drain that follows returns) and starts when its own was in place.
    asked = schedule.requested_s()
    lost_at, on_at, off_until, on_until = starts["disk lost, AAE off"], starts["AAE on"], asked["AAE on"], asked["node lost"]
    off_window = [[t, v] for t, v in sampler.dynamo_primaries if t < off_until]
    off = DesignResult("dynamo, anti-entropy off", "dynamo")
    off.series["copies_min"] = off_window
    off.series["keys_below_n"] = [[t, v] for t, v in sampler.dynamo_below if t < off_until]
    below_at_end = next((v for t, v in reversed(sampler.dynamo_below) if t < off_until), None)
    off.metrics.update({"keys": cold, "watched_s": round(off_until - lost_at, 1), "keys_below_n_at_end": below_at_end,
                        "min_copies": _min_after(off_window, lost_at)})  # fmt: skip
    on = DesignResult("dynamo, anti-entropy on", "dynamo")
    on_window = [[t, v] for t, v in sampler.dynamo_primaries if on_at <= t < on_until]
    on.series["copies_min"] = on_window
    on.series["keys_below_n"] = [[t, v] for t, v in sampler.dynamo_below if on_at <= t < on_until]
    on.metrics.update({"keys": cold, "seconds_to_full_copies": _recovered_at(on_window, on_at, lambda v: v >= N),
                       "min_copies": _min_after(on_window, on_at)})  # fmt: skip
    groups = DesignResult(REPLICA_GROUPS, "dsql")
    groups.series["copies_min"] = sampler.groups
    lost = starts["node lost"]  # the node is killed as the phase begins; the drain then re-replicates
    groups.metrics.update({"seconds_to_full_copies": _recovered_at(sampler.groups, lost, lambda v: v >= N),
                           "min_copies": _min_after(sampler.groups, lost)})  # fmt: skip
    scenario.designs.extend([off, on, groups])
    return scenario


SCENARIOS = {"scaling": scaling, "unread-keys": unread_keys}
