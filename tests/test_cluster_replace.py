"""Replacing a lost storage node: `dsql cluster drain storage-N` on a node killed for good.

The claim (issue 12): DSQL and DynamoDB keep each shard in a replica group and
restore a lost member's copies by copying from the surviving replicas, so the
number of up-to-date copies of a shard never drops below what the loss left.
The cluster tests start a real cluster (4 storage nodes, 3 replicas), write
rows with asyncpg, `kill` a storage node, drain it, and sample the copies of
every shard with `assembly.copies.sample` (what `dsql compare` samples) the
whole time; copies are throttled (`--copy-keys-per-s`) so that re-copying the
table's shard spans several samples. The planning and counting rules are
tested first without a cluster, and the driver's refusal (no surviving
replica to copy from) and replacement on an embedded cluster in one process.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import trio
from support import report

from adjudicator.client import AdjudicatorClient
from assembly import copies, launcher, probe
from assembly.config import ClusterSpec
from assembly.embedded import ClusterConfig, EmbeddedCluster
from assembly.placement import PlacementDriver
from cluster.topology import Topology, spread_replicas
from journal.interface import CommitRecord
from storage import keys
from storage.interface import Get, Placement, Status
from storage.placement import PlacementInvalid, plan_drain, with_replica, without_replica, without_source

DSQL = [sys.executable, "-m", "assembly.cli"]
UP_TIMEOUT_S = 120
DRAIN_TIMEOUT_S = 120
ROWS = 2000
# The table's shard (all ROWS keys) takes ROWS / COPY_KEYS_PER_S = 4 s to copy:
# many samples see the lost node's shards at 2 copies before they are back to 3.
COPY_KEYS_PER_S = 500
SAMPLE_EVERY_S = 0.25


# -- the rules, without a cluster ------------------------------------------------------


def test_a_lost_nodes_shards_go_only_to_live_nodes_that_lack_them() -> None:
    # Node 1 is lost and node 4 is down too: only 0, 2 and 3 may take replicas.
    placement = Placement(0, ((0, 1, 2), (1, 2, 3), (1, 3, 4)))
    moves = plan_drain(placement, 1, [0, 2, 3], replicas=3)
    assert [(shard, source) for shard, source, _ in moves] == [(0, 1), (1, 1), (2, 1)]
    targets = {shard: target for shard, _, target in moves}
    assert targets[0] == 3 and targets[1] == 0 and targets[2] in (0, 2), targets
    for shard, source, target in moves:
        placement = without_replica(with_replica(placement, shard, target), shard, source)
    assert placement.shards_of(1) == () and placement.shards_of(4) == (2,)
    assert all(len(set(hosts)) == 3 for hosts in placement.shard_hosts)


def test_a_drain_run_again_finishes_the_move_it_began_instead_of_adding_another() -> None:
    # A drain of node 1 was cut short after giving shard 0 a replica on node 0:
    # 4 hosts, and no fourth live node free. Run again, it waits for node 0's
    # copy and takes node 1 out; shard 1 (not begun) gets a new replica as before.
    placement = Placement(5, ((1, 2, 3, 0), (1, 2, 3)))
    assert plan_drain(placement, 1, [0, 2, 3], replicas=3) == [(0, 1, 0), (1, 1, 0)]
    # Without the replica count the planner cannot tell a move begun from a shard with no free node.
    with pytest.raises(PlacementInvalid, match="add a storage node"):
        plan_drain(placement, 1, [0, 2, 3])
    # A replica added by the cut-short drain on a node that is lost since does not count.
    assert plan_drain(Placement(5, ((1, 2, 3, 0),)), 1, [2, 3, 4], replicas=3) == [(0, 1, 4)]


def test_a_lost_node_with_no_live_node_free_or_no_surviving_replica_is_refused() -> None:
    placement = Placement(0, ((0, 1, 2), (1, 2, 3)))
    with pytest.raises(PlacementInvalid, match=r"every other live storage node .*add a storage node"):
        plan_drain(placement, 1, [2, 3], replicas=3)  # shard 0 has 2 live copies, no live node lacks it
    assert without_source(placement, 1, [0, 3]) == []
    assert without_source(placement, 1, [0]) == [1], "shard 1 survives on 2 and 3 only, both lost"
    assert without_source(placement, 1, []) == [0, 1]


def test_shard_copies_counts_only_live_caught_up_replicas(tmp_path: Path) -> None:
    spec = launcher.make_spec(
        str(tmp_path), launcher.Shape(storage_nodes=4, port=1, dynamodb_port=0, dynamo_port=0)
    )
    splits = ["02", "03"]  # three shards: [-, 02), [02, 03), [03, -)

    def storage(n: int, **detail: object) -> dict[str, object]:
        row: dict[str, object] = {"name": f"storage-{n}", "kind": "storage", "answers": bool(detail)}
        return row | ({"splits": splits, "caught_up": True, "copying": [], "placement_version": 7} | detail
                      if detail else {})  # fmt: skip

    rows = [
        storage(0, shards=[0, 1, 2]),
        storage(1),  # lost: counts for nothing
        storage(2, shards=[0, 1, 2], copying=[1]),  # still copying shard 1
        storage(3, shards=[0, 2], caught_up=False),  # behind the journal: serves nothing yet
        {"name": "qp-0", "kind": "qp", "answers": True, "sessions": 0},  # other roles are ignored
    ]
    assert copies.shard_copies(spec, rows) == {b"": 2, b"\x02": 1, b"\x03": 2}
    # A node whose watermark stopped (cut off from the journal) counts only without a lag bound.
    rows[0] = rows[0] | {"watermark_lag_ms": 5000.0}
    rows[2] = rows[2] | {"watermark_lag_ms": 20.0}
    assert copies.shard_copies(spec, rows) == {b"": 2, b"\x02": 1, b"\x03": 2}
    assert copies.shard_copies(spec, rows, lag_ms_max=1000) == {b"": 1, b"\x02": 0, b"\x03": 1}
    rows[0] = rows[0] | {"watermark_lag_ms": 5.0}
    # A node that has not applied the newest split holds the whole, which serves both halves.
    rows[3] = storage(3, shards=[0], splits=[], placement_version=6)
    assert copies.shard_copies(spec, rows) == {b"": 3, b"\x02": 2, b"\x03": 3}


async def test_the_driver_replaces_a_lost_node_only_while_a_replica_of_each_shard_survives(nursery) -> None:
    # One process: 4 storage nodes, 3 replicas each; a node is "lost" by no longer
    # answering on the transport (as a killed process or a host cut off).
    shards = len(Topology().shard_ranges)
    topo = Topology(storage_node_count=4, shard_hosts=spread_replicas(shards, 4, 3))
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig(topology=topo)).run)
    adjudicators = AdjudicatorClient(topo, cluster.transport)
    rows = [(keys.table_prefix(7, 1) + i.to_bytes(2, "big"), (f"v{i}",)) for i in range(100)]
    tau = await adjudicators.commit(
        cluster.clock.now().latest, CommitRecord(rows).encode(), [k for k, _ in rows]
    )
    driver = PlacementDriver(topo, cluster.transport, cluster.clock, adjudicators=adjudicators)
    before, _ = await driver.current()
    nodes = dict(enumerate(cluster.storage_nodes))
    for n in (1, 2, 3):
        cluster.transport.unserve(topo.storage_address(n))
    # Shards held by 1, 2 and 3 only have nothing left to copy from: refused, the placement untouched.
    with pytest.raises(PlacementInvalid, match="nothing to copy them from"), trio.fail_after(10):
        await driver.drain(1, [0, 1, 2, 3], replicas=3, moves_at_once=4)
    assert (await driver.current())[0] == before
    for n in (2, 3):  # back: now every shard of node 1 has a live replica to copy from
        cluster.transport.serve(topo.storage_address(n), nodes[n])
    with trio.fail_after(30):
        moves = await driver.drain(1, [0, 1, 2, 3], replicas=3, moves_at_once=4)
    after, _ = await driver.current()
    assert len(moves) == len(before.shards_of(1)) and after.shards_of(1) == ()
    assert all(sorted(hosts) == [0, 2, 3] for hosts in after.shard_hosts), after.shard_hosts
    # Every shard's new replica serves, and holds the rows committed before the loss.
    for n in (0, 2, 3):
        status = await nodes[n].rpc_status(Status())
        assert status.caught_up and not status.filling and len(status.shards) == shards, status
        values = await nodes[n].rpc_get(Get(tuple(k for k, _ in rows), tau))
        assert list(values.values) == [v for _, v in rows], n


# -- a real cluster ----------------------------------------------------------------------


class Cluster:
    def __init__(self, directory: Path) -> None:
        self.dir = str(directory)
        self.spec: ClusterSpec | None = None

    def cli(
        self, *args: str, check: bool = True, timeout: float = DRAIN_TIMEOUT_S
    ) -> subprocess.CompletedProcess:
        result = subprocess.run([*DSQL, "cluster", *args, "--dir", self.dir], capture_output=True, text=True,
                                timeout=timeout)  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"dsql cluster {' '.join(args)} failed ({result.returncode}): "
                                 f"{result.stdout}\n{result.stderr}\n{self.logs()}")  # fmt: skip
        return result

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([*DSQL, "cluster", *args, "--dir", self.dir], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip

    def up(self) -> None:
        self.cli("up", "--port", "0", "--dynamodb-port", "0", "--dynamo-port", "0", "--detach",
                 "--storage-nodes", "4", "--replicas", "3", "--copy-keys-per-s", str(COPY_KEYS_PER_S),
                 timeout=UP_TIMEOUT_S)  # fmt: skip
        self.spec = ClusterSpec.load(self.dir)

    @property
    def dsn(self) -> str:
        assert self.spec is not None
        return f"postgresql://postgres@127.0.0.1:{self.spec.port}/postgres"

    def logs(self, lines: int = 15) -> str:
        out = []
        for path in sorted(Path(self.dir, "logs").glob("storage-*.log")):
            out.append(
                f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            )
        return "\n".join(out)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(tmp_path / "cluster")
    try:
        yield running
    finally:
        if Path(running.dir, "cluster.toml").exists():
            running.cli("down", check=False)


class Sampler:
    """`copies.sample` every SAMPLE_EVERY_S in a thread, as `dsql compare` would, until stopped."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.samples: list[copies.CopiesSample] = []
        self.took_s: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.samples.append(copies.sample(self.directory))
            self.took_s.append(time.monotonic() - started)
            self._stop.wait(SAMPLE_EVERY_S)

    def lowest(self) -> list[int]:
        return [s.lowest for s in self.samples]


async def _write_rows(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE rerep (id int PRIMARY KEY, v text)")
        await conn.execute(
            "INSERT INTO rerep SELECT g, 'row ' || g FROM generate_series(0, $1 - 1) AS g", ROWS
        )
    finally:
        await conn.close()


async def _read_rows(dsn: str) -> dict[int, str]:
    """Every row, read in one snapshot (every DSQL read is strongly consistent)."""
    conn = await asyncpg.connect(dsn)
    try:
        return {r["id"]: r["v"] for r in await conn.fetch("SELECT id, v FROM rerep")}
    finally:
        await conn.close()


async def _shards(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch("SELECT start_key, replicas, replica_count, replicas_serving FROM sys.shards")
    finally:
        await conn.close()


def _start(cluster: Cluster) -> tuple[str, str, str]:
    """Up, rows written; the names of the storage node holding the most keys (one of
    the table's shard's replicas: losing it makes that shard re-copy real data), of
    the one holding the fewest (the only one without the table's shard, so the one
    that gets its new copy), and of the table's shard as a drain's output names it."""
    cluster.up()
    asyncio.run(_write_rows(cluster.dsn))
    assert cluster.spec is not None
    rows = [r for r in probe.status(cluster.spec, kinds=("storage",)) if r["answers"]]
    assert len(rows) == 4, rows
    by_keys = sorted(rows, key=lambda r: (r["keys"], r["name"]))
    lost, fresh = by_keys[-1], by_keys[0]
    assert fresh["keys"] < ROWS <= lost["keys"], by_keys
    keys, shard = max(zip(lost["shard_keys"], lost["shards"], strict=True))
    assert keys >= ROWS, lost
    start = "" if shard == 0 else lost["splits"][shard - 1]
    return lost["name"], fresh["name"], f"shard [{start or '-'}...)"


def _expect_replaced(cluster: Cluster, lost: str) -> None:
    """Every shard: 3 hosts, none of them `lost`, all 3 serving; and every row readable."""
    final = copies.sample(cluster.dir)
    assert set(final.copies.values()) == {3}, final
    for shard in asyncio.run(_shards(cluster.dsn)):
        assert shard["replica_count"] == 3 == shard["replicas_serving"], shard
        assert lost not in shard["replicas"].split(","), shard
    assert asyncio.run(_read_rows(cluster.dsn)) == {i: f"row {i}" for i in range(ROWS)}


@pytest.mark.slow
def test_a_lost_storage_node_is_replaced_from_the_surviving_replicas_never_below_two_copies(
    cluster: Cluster,
) -> None:
    lost, fresh, _ = _start(cluster)
    assert copies.sample(cluster.dir).lowest == 3
    with Sampler(cluster.dir) as sampler:
        cluster.cli("kill", lost)
        started = time.monotonic()
        out = cluster.cli("drain", lost).stdout
        drain_s = time.monotonic() - started
        time.sleep(2 * SAMPLE_EVERY_S)  # a sample or two after: all back to 3
    lowest = sampler.lowest()
    report.add(f"replace a lost {lost}: drain {drain_s:.1f} s, {len(lowest)} copy samples, lowest {min(lowest)}, "
               f"a sample took {min(sampler.took_s) * 1e3:.0f}-{max(sampler.took_s) * 1e3:.0f} ms")  # fmt: skip
    assert f"{lost} does not answer" in out and f"{lost} (lost) replaced" in out, out
    assert min(lowest) == 2, f"a shard fell below the 2 copies the loss left: {lowest}"
    # The sampler saw the loss (it can fail), and the copies come back once the copy is done.
    assert lowest.count(2) >= 3 and lowest[-1] == 3, lowest
    assert all(s.unanswered == (lost,) for s in sampler.samples[-2:]), sampler.samples[-1]
    _expect_replaced(cluster, lost)

    # The new copy holds the whole table: with both original survivors lost as well,
    # every row is still read, from `fresh` alone (it held none of them before).
    others = [f"storage-{n}" for n in range(4) if f"storage-{n}" not in (lost, fresh)]
    for name in others:
        cluster.cli("kill", name)
    assert asyncio.run(_read_rows(cluster.dsn)) == {i: f"row {i}" for i in range(ROWS)}
    # One live node left for 3 replicas: draining another lost node is refused, honestly and at once.
    refused = cluster.cli("drain", others[0], check=False, timeout=30)
    assert refused.returncode == 2 and "add a storage node" in refused.stderr, (
        refused.stdout,
        refused.stderr,
    )


@pytest.mark.slow
def test_a_drain_of_a_lost_node_cut_short_and_run_again_ends_with_three_copies_each(cluster: Cluster) -> None:
    lost, _, table_shard = _start(cluster)
    cluster.cli("kill", lost)
    with Sampler(cluster.dir) as sampler:
        drain = cluster.popen("drain", lost)
        assert drain.stdout is not None
        seen = []
        # Cut short while the table's shard copies (ROWS / COPY_KEYS_PER_S = 4 s).
        for line in drain.stdout:
            seen.append(line)
            if f"{table_shard}: copying to" in line:
                break
        drain.kill()
        drain.wait(timeout=10)
        assert any(f"{table_shard}: copying to" in line for line in seen), "".join(seen)
        # The table's shard has its new replica added (4 hosts, the lost one among them), still copying.
        begun = [s for s in asyncio.run(_shards(cluster.dsn)) if s["replica_count"] == 4]
        assert any(f"shard [{s['start_key'].hex() or '-'}...)" == table_shard for s in begun), begun
        assert all(lost in s["replicas"].split(",") for s in begun), begun
        again = cluster.cli("drain", lost).stdout
        time.sleep(2 * SAMPLE_EVERY_S)
    # Run again, it finished that move (no second new replica: there was no free node
    # for one) and made the rest.
    assert f"{table_shard}: copying to" not in again and f"{table_shard}: moved from {lost}" in again, again
    lowest = sampler.lowest()
    report.add(f"lost {lost}, drain cut short with {len(begun)} moves begun, run again: "
               f"{len(lowest)} copy samples, lowest {min(lowest)}")  # fmt: skip
    assert f"{lost} (lost) replaced" in again, again
    assert min(lowest) >= 2 and lowest[-1] == 3, lowest
    _expect_replaced(cluster, lost)
