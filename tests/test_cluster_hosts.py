"""A cluster on three network-namespace hosts (`dsql cluster up --hosts 3`), partitioned for real.

Roles are spread over hosts h0, h1, h2 (journal-i and storage-i on host i; adjudicators and QPs on
h0 and h1). Partitions drop packets between hosts, so a cut-off part sees timeouts, not refusals.
The workloads are checked by `checker/`: every history must be free of the anomalies strong
snapshot isolation forbids, whatever the partition did to availability.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import time
from pathlib import Path

import asyncpg
import psycopg
import pytest
from support import report
from support.list_append import ListAppendRun, create_table, run_workload
from test_cluster import LocalCluster

from assembly import hosts as host_network
from assembly.config import ClusterSpec
from checker import list_append
from checker.history import OpType

pytestmark = pytest.mark.slow

if host_network.available() is not None:  # CI runs as root with the packages .ci/run installs
    pytest.fail(f"network namespaces are needed: {host_network.available()}", pytrace=False)


@pytest.fixture
def three_hosts(tmp_path: Path):
    cluster = LocalCluster(tmp_path / "cluster")
    try:
        cluster.up("--hosts", "3")
        yield cluster
    finally:
        if Path(cluster.dir, "cluster.toml").exists():
            cluster.cli("down", check=False)


def _dsn(spec: ClusterSpec, qp: str) -> str:
    return f"postgresql://postgres@{spec.host_of(spec.role(qp)).address}:{spec.port}/postgres"


def _status(cluster: LocalCluster) -> list[dict]:
    return json.loads(cluster.cli("status", "--json").stdout)


def _journal_leader(cluster: LocalCluster) -> dict:
    deadline = time.monotonic() + 20
    while True:
        leaders = [r for r in _status(cluster) if r["kind"] == "journal" and r.get("journal_role") == "leader"]
        if leaders:
            return leaders[0]
        assert time.monotonic() < deadline, "no journal leader"
        time.sleep(0.5)


def _ok_between(run, start_ns: int, end_ns: int) -> int:
    return sum(1 for op in run.history.ops if op.type is OpType.OK and start_ns <= op.time_ns <= end_ns)


def test_a_minority_host_cut_off_changes_nothing_the_majority_sees(three_hosts: LocalCluster) -> None:
    spec = three_hosts.spec
    assert spec is not None
    dsn = _dsn(spec, "qp-0")
    asyncio.run(create_table(dsn, "hosts_la_minority"))
    marks: dict[str, int] = {}

    def faults() -> None:
        time.sleep(3)
        three_hosts.cli("partition", "h2")  # journal-2 and storage-2
        marks["cut"] = time.monotonic_ns()
        time.sleep(8)
        marks["heal"] = time.monotonic_ns()
        three_hosts.cli("heal")
        time.sleep(3)

    run = asyncio.run(run_workload(dsn, "hosts_la_minority", clients=8, seconds=14, seed=random.randrange(1 << 30),
                                   faults=faults))  # fmt: skip
    result = list_append.check(run.history.ops, strict=True)
    report.add(f"hosts: h2 cut off for 8 s: {run.summary()}")
    assert result.valid, result.render()
    assert _ok_between(run, marks["cut"] + 2_000_000_000, marks["heal"]) > 0, "no commit while h2 was cut off"
    # After the heal, storage-2 catches up.
    deadline = time.monotonic() + 30
    while True:
        row = next(r for r in _status(three_hosts) if r["name"] == "storage-2")
        if row.get("watermark_lag_ms") is not None and row["watermark_lag_ms"] < 5000:
            break
        assert time.monotonic() < deadline, f"storage-2 did not catch up after the heal: {row}"
        time.sleep(0.5)


def test_the_journal_leaders_host_cut_off_the_majority_goes_on(three_hosts: LocalCluster) -> None:
    spec = three_hosts.spec
    assert spec is not None
    # The leader's host should also run an adjudicator process, so that cutting it off makes
    # the other process take its key ranges over: move the leadership off h2 if it is there.
    adjudicator_hosts = {spec.hosts[a.host].name for a in spec.of_kind("adjudicator")}
    for _ in range(5):
        leader = _journal_leader(three_hosts)
        if leader["host"] in adjudicator_hosts:
            break
        three_hosts.cli("restart", leader["name"])
        time.sleep(2)
    cut_host = leader["host"]
    assert cut_host in adjudicator_hosts, f"the journal leader stayed on {cut_host}"
    majority_qp = next(q.name for q in spec.of_kind("qp") if spec.hosts[q.host].name != cut_host)
    minority_qp = next((q.name for q in spec.of_kind("qp") if spec.hosts[q.host].name == cut_host), None)
    dsn = _dsn(spec, majority_qp)
    table = "hosts_la_leader"
    asyncio.run(create_table(dsn, table))
    marks: dict[str, int] = {}
    minority_outcomes: list[str] = []

    async def minority_client(run: ListAppendRun, stop: asyncio.Event) -> None:
        """A client of the cut-off QP, recorded in the same history: while the cut lasts its
        appends to key 0 must fail or stay unknown; one that waited out the cut may commit after
        the heal, and then the workers' reads must agree with it like any other append."""
        if minority_qp is None:
            return
        conn = await asyncpg.connect(_dsn(spec, minority_qp), timeout=5)
        await conn.execute("SET statement_timeout = '6s'")
        process, element = 1000, 0
        try:
            while "heal" not in marks and not stop.is_set():
                if "cut" not in marks:
                    await asyncio.sleep(0.2)
                    continue
                element -= 1  # negative: no worker appends it
                handle = run.history.invoke(process, "txn", (("append", 0, element),))
                try:
                    # The statement timeout does not cut a commit short (PostgreSQL holds
                    # interrupts while it commits too): a commit the journal cannot take answers
                    # when its RPCs give up, ~10 s on.
                    await asyncio.wait_for(conn.execute(f"UPDATE {table} SET v = v || $1 WHERE k = 0",
                                                        f",{element}"), 30)  # fmt: skip
                    handle.ok()
                    minority_outcomes.append("committed" if "heal" not in marks else "committed after the heal")
                except asyncpg.PostgresError as exc:
                    # One statement in autocommit: an error may come after the commit was sent
                    # (a statement timeout while it waits for the journal), so it is unknown.
                    handle.info(f"{exc.sqlstate}: {exc}")
                    minority_outcomes.append(exc.sqlstate or "")
                    process += 1
                except (TimeoutError, OSError, asyncpg.InterfaceError) as exc:
                    handle.info(repr(exc))
                    minority_outcomes.append(type(exc).__name__)
                    return
                await asyncio.sleep(0.5)
        finally:
            conn.terminate()

    def faults() -> None:
        time.sleep(3)
        three_hosts.cli("partition", cut_host)
        marks["cut"] = time.monotonic_ns()
        time.sleep(15)
        marks["heal"] = time.monotonic_ns()
        three_hosts.cli("heal")
        time.sleep(4)

    run = asyncio.run(run_workload(dsn, table, clients=8, seconds=22, seed=random.randrange(1 << 30), faults=faults,
                                   also=[minority_client]))  # fmt: skip
    result = list_append.check(run.history.ops, strict=True)
    report.add(f"hosts: the journal leader's host {cut_host} cut off for 15 s: {run.summary()}; "
               f"minority client saw {sorted(set(minority_outcomes))}")  # fmt: skip
    assert result.valid, result.render()
    assert not [e for e in run.errors if e.startswith("a client raised")], run.errors
    # The adjudicator process on the majority side took the cut-off one's key ranges over.
    takeovers = sum(r.get("takeovers", 0) for r in _status(three_hosts) if r["kind"] == "adjudicator")
    assert takeovers >= 1, _status(three_hosts)
    # The majority side commits again within the cut (a new journal leader, ranges taken over).
    assert _ok_between(run, marks["cut"] + 8_000_000_000, marks["heal"]) > 0, "no commit on the majority side"
    # The cut-off side refused or waited; it never acknowledged a write it could not make durable.
    assert "committed" not in minority_outcomes, minority_outcomes
    # After the heal every QP answers again and sees the same table.
    deadline = time.monotonic() + 40
    contents: set = set()
    while time.monotonic() < deadline:
        try:
            contents = {_table_text(_dsn(spec, q.name), table) for q in spec.of_kind("qp")}
            if len(contents) == 1:
                break
        except psycopg.Error:
            pass
        time.sleep(1)
    assert len(contents) == 1, f"the QPs disagree or do not answer after the heal: {contents}"


def _table_text(dsn: str, table: str) -> str:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(f"SELECT string_agg(v, '|' ORDER BY k) FROM {table}").fetchone()[0]


def test_a_cluster_on_hosts_comes_back_up_with_its_data(three_hosts: LocalCluster) -> None:
    """`down` removes the hosts; `up` on the same directory makes them again and keeps the data."""
    spec = three_hosts.spec
    assert spec is not None
    with psycopg.connect(_dsn(spec, "qp-0"), autocommit=True, connect_timeout=5) as conn:
        conn.execute("CREATE TABLE hosts_keep (id int PRIMARY KEY)")
        conn.execute("INSERT INTO hosts_keep SELECT generate_series(1, 50)")
    three_hosts.cli("down")
    assert not [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                if n.startswith(f"dsql-{spec.name}-")], "down left namespaces behind"  # fmt: skip
    three_hosts.cli("up", "--detach")
    again = ClusterSpec.load(three_hosts.dir)
    with psycopg.connect(_dsn(again, "qp-1"), autocommit=True, connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM hosts_keep").fetchone() == (50,)
