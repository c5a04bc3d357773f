"""A cluster of processes: `dsql cluster up`, every role its own process, faults injected.

Each test starts its own cluster with the real command (`dsql cluster up
--detach`, free ports), talks to it with real clients, breaks it with the
real commands (`dsql cluster kill|restart|pause|resume`), and stops it with
`dsql cluster down`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import report
from support.bank import create_accounts, explain_final_state, read_balances, run_workload
from support.list_append import create_table as la_create_table
from support.list_append import run_workload as la_run_workload

from assembly.config import ClusterSpec
from assembly.runfiles import pid_of
from checker import list_append
from qp.server import PID_QP_SHIFT

pytestmark = pytest.mark.slow

DSQL = [sys.executable, "-m", "assembly.cli"]


def pid_owner(pid: int) -> int:
    """The index of the QP that holds a backend PID."""
    return pid >> PID_QP_SHIFT
UP_TIMEOUT_S = 120


class LocalCluster:
    def __init__(self, directory: Path) -> None:
        self.dir = str(directory)
        self.spec: ClusterSpec | None = None

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([*DSQL, "cluster", *args, "--dir", self.dir], capture_output=True, text=True,
                                timeout=timeout)  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"dsql cluster {' '.join(args)} failed ({result.returncode}): "
                                 f"{result.stdout}\n{result.stderr}\n{self.logs()}")  # fmt: skip
        return result

    def up(self, *args: str) -> None:
        self.cli("up", "--port", "0", "--dynamodb-port", "0", "--detach", *args, timeout=UP_TIMEOUT_S)
        self.spec = ClusterSpec.load(self.dir)

    @property
    def dsn(self) -> str:
        assert self.spec is not None
        return f"postgresql://postgres@127.0.0.1:{self.spec.port}/postgres"

    def logs(self, lines: int = 15) -> str:
        out = []
        log_dir = Path(self.dir, "logs")
        for path in sorted(log_dir.glob("*.log")) if log_dir.exists() else []:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(out)


@pytest.fixture
def local_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path / "cluster")
    try:
        yield cluster
    finally:
        if Path(cluster.dir, "cluster.toml").exists():
            cluster.cli("down", check=False)


def test_cluster_up_serves_sql_from_every_qp_and_status_names_every_role(local_cluster: LocalCluster) -> None:
    local_cluster.up()
    spec = local_cluster.spec
    assert spec is not None
    # Every role is its own live process.
    pids = {role.name: pid_of(spec, role) for role in spec.roles}
    assert len(set(pids.values())) == len(spec.roles) == 10, pids
    for name, pid in pids.items():
        assert Path(f"/proc/{pid}").exists(), f"{name} (pid {pid}) is not running"

    async def sessions() -> set[int]:
        owners = set()
        conns = [await asyncpg.connect(local_cluster.dsn) for _ in range(16)]
        try:
            await conns[0].execute("CREATE TABLE cl_t (id int PRIMARY KEY, v text)")
            for i, conn in enumerate(conns):
                await conn.execute("INSERT INTO cl_t VALUES ($1, $2)", i, f"row {i}")
                owners.add(pid_owner(await conn.fetchval("SELECT pg_backend_pid()")))
            # Every QP sees every other QP's commits at once (strong snapshot isolation).
            for conn in conns:
                assert await conn.fetchval("SELECT count(*) FROM cl_t") == len(conns)
            # Hidden row ids (no primary key) and sequence values made by both QPs at once never collide.
            await conns[0].execute("CREATE TABLE cl_nopk (n bigserial, who int)")
            await asyncio.gather(*(
                conn.executemany("INSERT INTO cl_nopk (who) VALUES ($1)", [(i,)] * 50)
                for i, conn in enumerate(conns)
            ))  # fmt: skip
            assert await conns[0].fetchval("SELECT count(*) FROM cl_nopk") == 50 * len(conns)
            assert await conns[0].fetchval("SELECT count(DISTINCT n) FROM cl_nopk") == 50 * len(conns)
        finally:
            for conn in conns:
                await conn.close()
        return owners

    owners = asyncio.run(sessions())
    # SO_REUSEPORT spread 16 connections over both QPs (a 2^-15 chance to miss one).
    assert owners == {0, 1}, owners

    status = local_cluster.cli("status").stdout
    for role in spec.roles:
        assert role.name in status
    assert "leader" in status and "watermark lag" in status, status

    # Every process serves its Prometheus metrics: the QPs time commits, storage reports its lag.
    commits = 0.0
    for qp in spec.of_kind("qp"):
        text = urllib.request.urlopen(f"http://127.0.0.1:{qp.metrics_port}/metrics", timeout=5).read().decode()
        commits += sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                       if s.name == "dsql_commit_seconds_count")  # fmt: skip
    assert commits >= 17, commits  # CREATE TABLE and 16 inserts
    storage = spec.role("storage-0")
    text = urllib.request.urlopen(f"http://127.0.0.1:{storage.metrics_port}/metrics", timeout=5).read().decode()
    assert 'dsql_replica_lag_seconds{node="storage-0"}' in text, text[:500]

    # The same facts in SQL; a killed storage node shows as unreachable and one replica fewer.
    with psycopg.connect(local_cluster.dsn, autocommit=True) as conn:
        nodes = conn.execute("SELECT node_name, role, state, is_leader FROM sys.cluster_nodes").fetchall()
        assert {n[0] for n in nodes} == {role.name for role in spec.roles}, nodes
        assert all(n[2] == "up" for n in nodes), nodes
        assert sum(1 for n in nodes if n[3]) == 1, nodes
        assert conn.execute("SELECT min(replicas_up), max(replicas_up) FROM sys.shards").fetchone() == (3, 3)
        local_cluster.cli("kill", "storage-2")
        nodes = dict(conn.execute("SELECT node_name, state FROM sys.cluster_nodes").fetchall())
        assert nodes["storage-2"] == "unreachable" and nodes["storage-1"] == "up", nodes
        assert conn.execute("SELECT min(replicas_up), max(replicas_up) FROM sys.shards").fetchone() == (2, 2)


def test_a_cancel_request_reaches_the_qp_that_holds_the_session(local_cluster: LocalCluster) -> None:
    """A CancelRequest arrives on a new connection, which SO_REUSEPORT may hand to the other QP."""
    local_cluster.up()

    # psycopg (sync) makes the cancel explicit: conn.cancel() sends the CancelRequest.
    conns = [psycopg.connect(local_cluster.dsn, autocommit=True) for _ in range(8)]
    try:
        owners = {pid_owner(c.info.backend_pid) for c in conns}
        assert owners == {0, 1}, f"8 connections all on one QP: {owners}"
        errors: list[BaseException | None] = [None] * len(conns)

        def sleep(i: int) -> None:
            try:
                conns[i].execute("SELECT pg_sleep(30)")
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
                errors[i] = exc

        threads = [threading.Thread(target=sleep, args=(i,)) for i in range(len(conns))]
        for t in threads:
            t.start()
        time.sleep(1.0)
        started = time.monotonic()
        for c in conns:
            c.cancel()
        for t in threads:
            t.join(20)
        assert all(not t.is_alive() for t in threads), "a pg_sleep was not cancelled"
        assert time.monotonic() - started < 20
        for exc in errors:
            assert isinstance(exc, psycopg.errors.QueryCanceled), exc
    finally:
        for c in conns:
            c.close()


FAULT_ROLES = ("qp-0", "adjudicator-0", "journal-leader", "journal-follower", "storage-0")


def _faults(cluster: LocalCluster, log: list[str]) -> None:
    """kill -9 each role type in turn, let the workload run without it, restart it."""
    assert cluster.spec is not None
    for target in FAULT_ROLES:
        time.sleep(2.0)
        if target == "journal-follower":
            rows = json.loads(cluster.cli("status", "--json").stdout)
            target = next(r["name"] for r in rows if r["kind"] == "journal" and r.get("journal_role") == "follower")
        killed = cluster.cli("kill", target).stdout.strip()
        log.append(killed)
        time.sleep(2.0)
        name = killed.split()[3]
        log.append(cluster.cli("restart", name).stdout.strip())


def test_bank_on_a_cluster_survives_kill_9_of_each_role(local_cluster: LocalCluster) -> None:
    local_cluster.up()
    table = "cluster_bank"
    seed = int(os.environ.get("DSQL_BANK_SEED", random.randrange(1 << 30)))
    print(f"bank seed {seed}")
    asyncio.run(create_accounts(local_cluster.dsn, table))
    fault_log: list[str] = []
    run = asyncio.run(run_workload(
        local_cluster.dsn, table, workers=16, seconds=10, seed=seed,
        faults=lambda: _faults(local_cluster, fault_log),
    ))  # fmt: skip
    report.add(f"cluster bank, kill -9 of {', '.join(FAULT_ROLES)}: {run.summary()}")
    assert not run.violations, "\n".join(run.violations[:10]) + "\n" + local_cluster.logs()
    assert run.commits > 0 and run.reads > 0, run.summary()
    assert len(fault_log) == 2 * len(FAULT_ROLES), fault_log
    final = asyncio.run(read_balances(local_cluster.dsn, table))
    explained, how = explain_final_state(final, run)
    report.add(f"cluster bank after the faults: {how}")
    assert explained, how


def test_cluster_down_stops_every_process_and_up_again_keeps_the_data(local_cluster: LocalCluster) -> None:
    local_cluster.up()
    spec = local_cluster.spec
    assert spec is not None

    async def write() -> None:
        conn = await asyncpg.connect(local_cluster.dsn)
        await conn.execute("CREATE TABLE cl_keep (id int PRIMARY KEY)")
        await conn.execute("INSERT INTO cl_keep SELECT generate_series(1, 100)")
        await conn.close()

    asyncio.run(write())
    pids = [pid_of(spec, role) for role in spec.roles]
    local_cluster.cli("down")
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    # up again: the same cluster.toml, the same data
    local_cluster.cli("up", "--detach", timeout=UP_TIMEOUT_S)

    async def count() -> int:
        conn = await asyncpg.connect(local_cluster.dsn)
        try:
            return await conn.fetchval("SELECT count(*) FROM cl_keep")
        finally:
            await conn.close()

    assert asyncio.run(count()) == 100


def test_cluster_commands_refuse_what_cannot_work(local_cluster: LocalCluster, tmp_path: Path) -> None:
    missing = subprocess.run([*DSQL, "cluster", "status", "--dir", str(tmp_path / "nothing")],
                             capture_output=True, text=True)  # fmt: skip
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
    local_cluster.up()
    again = local_cluster.cli("up", "--detach", check=False)
    assert again.returncode == 2 and "already running" in again.stderr
    unknown = local_cluster.cli("kill", "qp-7", check=False)
    assert unknown.returncode == 2 and "no role 'qp-7'" in unknown.stderr
    partition = local_cluster.cli("partition", "h0", check=False)
    assert partition.returncode == 2 and "--hosts" in partition.stderr
    # pause: the process holds its sockets but answers nothing; resume brings it back
    local_cluster.cli("pause", "storage-1")
    assert "paused" in local_cluster.cli("status").stdout
    local_cluster.cli("resume", "storage-1")
    spec = local_cluster.spec
    assert spec is not None
    pid = pid_of(spec, spec.role("storage-1"))
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    assert state != "T", "storage-1 is still stopped after resume"
    assert "paused" not in local_cluster.cli("status").stdout


def test_list_append_on_a_cluster_through_kill_9_has_no_anomaly(local_cluster: LocalCluster, tmp_path: Path) -> None:
    """Elle's list-append through both QPs while each role type is killed and restarted:
    no anomaly strong snapshot isolation forbids, in a history with uncertain commits."""
    local_cluster.up()
    table = "cluster_la"
    seed = random.randrange(1 << 30)
    asyncio.run(la_create_table(local_cluster.dsn, table))
    fault_log: list[str] = []
    run = asyncio.run(la_run_workload(
        local_cluster.dsn, table, clients=12, seconds=10, seed=seed,
        faults=lambda: _faults(local_cluster, fault_log),
    ))  # fmt: skip
    run.history.dump(tmp_path / "history.jsonl")  # kept with the test's tmp dir for `python -m checker`
    result = list_append.check(run.history.ops, strict=True)
    report.add(f"cluster list-append (seed {seed}), kill -9 of each role: {run.summary()}")
    unexpected = [e for e in run.errors if not any(s in e for s in ("XX000", "08007", "57P01"))]
    assert not unexpected, unexpected[:5]
    assert run.ok > 100, run.summary()
    assert result.valid, result.render()


def test_an_index_build_survives_the_qp_that_started_it(local_cluster: LocalCluster) -> None:
    local_cluster.up()
    with psycopg.connect(local_cluster.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE cl_jobs (id int PRIMARY KEY, v int)")
        conn.execute("SET dsql.transaction_rows_max = 100000")
        conn.execute("INSERT INTO cl_jobs SELECT g, g % 101 FROM generate_series(1, 20000) AS g")
        job_id = conn.execute("CREATE INDEX ASYNC cl_jobs_v ON cl_jobs (v)").fetchone()[0]
        owner = pid_owner(conn.info.backend_pid)
        local_cluster.cli("kill", f"qp-{owner}")  # the QP running the build
    with psycopg.connect(local_cluster.dsn, autocommit=True) as conn:
        assert pid_owner(conn.info.backend_pid) != owner
        conn.execute("SET statement_timeout = '90s'")
        assert conn.execute("CALL sys.wait_for_job(%s)", (job_id,)).fetchone()[0] is True
        assert conn.execute("SELECT count(*) FROM cl_jobs WHERE v = 7").fetchone()[0] == 198


def test_shards_have_r_replicas_on_distinct_nodes_and_reads_fail_over(local_cluster: LocalCluster) -> None:
    """4 storage nodes, 3 replicas per shard: a killed node leaves every shard 2 copies to read."""
    local_cluster.up("--storage-nodes", "4", "--replicas", "3")
    spec = local_cluster.spec
    assert spec is not None
    with psycopg.connect(local_cluster.dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT shard_id, replicas, replica_count, replicas_up FROM sys.shards").fetchall()
        assert all(r[2] == 3 == r[3] for r in rows), rows
        assert all(len(set(r[1].split(","))) == 3 for r in rows), rows
        used = {name for r in rows for name in r[1].split(",")}
        assert used == {f"storage-{n}" for n in range(4)}, used  # spread over every node
        conn.execute("CREATE TABLE cl_r3 (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO cl_r3 SELECT g, 'v' || g FROM generate_series(1, 500) AS g")
        local_cluster.cli("kill", "storage-1")
        assert conn.execute("SELECT count(*), min(v) FROM cl_r3").fetchone() == (500, "v1")
        up = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT shard_id, replicas, replicas_up FROM sys.shards")}
        for shard, (replicas, count) in up.items():
            assert count == (2 if "storage-1" in replicas.split(",") else 3), (shard, replicas, count)
        conn.execute("INSERT INTO cl_r3 VALUES (501, 'after')")
        local_cluster.cli("restart", "storage-1")
        local_cluster.cli("kill", "storage-0")
        local_cluster.cli("kill", "storage-2")
        # Shards held by storage-1 and storage-3 only now: the restarted replica caught up (with
        # the row written while it was down) before it answered.
        assert conn.execute("SELECT v FROM cl_r3 WHERE id = 501").fetchone() == ("after",)
