"""The cost of the split: the embedded server beside a cluster of processes.

    python -m bench --only cluster [--seconds 10] [--connections 8]

Runs the same workloads against `dsql serve` (every part in one process) and
against local clusters (`dsql cluster up`: 3 journal replicas, 3 storage
nodes, 2 adjudicators, each its own process) with 1 and with 2 query
processors sharing the port:

  pgbench select-only and TPC-B-like at scale 8 (8 clients, prepared mode,
  40001 retried), and single-row UPDATE transactions on one connection
  (`update_txn`), whose p50/p99 is the commit latency a client sees.

The table shows each figure and its ratio to the embedded server's, and the
speed-up from 1 to 2 QPs (the issue's aim: at least 1.6× on select-only).
On a 2-core machine the processes, pgbench and the client share both cores.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from assembly.config import ClusterSpec
from bench.pgbench import DSQL_INIT_OPTIONS, benchmark, initialize
from bench.servers import DsqlServer, _Endpoint
from bench.workloads import run_workload

WORKLOADS = ("cluster",)
SCALE = 8
UP_TIMEOUT_S = 180


class LocalClusterServer(_Endpoint):
    """`dsql cluster up --detach` in a directory; `stop()` runs `dsql cluster down`."""

    def __init__(self, directory: Path, qps: int) -> None:
        self.directory = directory
        self.qps = qps
        self.host = "127.0.0.1"
        self.port = 0

    def _cli(self, *args: str, timeout: float = UP_TIMEOUT_S) -> None:
        done = subprocess.run([sys.executable, "-m", "assembly.cli", "cluster", *args, "--dir", str(self.directory)],
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"dsql cluster {args[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> LocalClusterServer:
        self._cli("up", "--qps", str(self.qps), "--port", "0", "--dynamodb-port", "0", "--dynamo-port", "0", "--detach")
        self.port = ClusterSpec.load(str(self.directory)).port
        return self

    def stop(self) -> None:
        self._cli("down")


@dataclass
class Figures:
    select_only_tps: float = 0.0
    tpcb_tps: float = 0.0
    tpcb_retries: int = 0
    commit_p50_ms: float = 0.0
    commit_p99_ms: float = 0.0
    load_s: float = 0.0


def _measure(server, label: str, clients: int, seconds: float, warmup: float, console: Console) -> Figures:
    figures = Figures()
    with console.status(f"pgbench -i -s {SCALE} on {label}"):
        started = time.perf_counter()
        done = initialize(server, scale=SCALE, pgoptions=DSQL_INIT_OPTIONS)
        figures.load_s = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"pgbench -i failed on {label}:\n{done.stderr}")
    with console.status(f"select-only on {label}"):
        report, _ = benchmark(server, builtin="select-only", mode="prepared", clients=clients, seconds=seconds)
        figures.select_only_tps = report.tps
    with console.status(f"TPC-B on {label}"):
        report, _ = benchmark(server, builtin="tpcb-like", mode="prepared", clients=clients, seconds=seconds)
        figures.tpcb_tps, figures.tpcb_retries = report.tps, report.retries
    result = asyncio.run(run_workload("update_txn", server.dsn, 1, seconds, warmup, console, label))
    figures.commit_p50_ms, figures.commit_p99_ms = result.p50_ms, result.p99_ms
    console.print(f"{label}: {figures}")
    return figures


def run(*, seconds: float, warmup: float, clients: int, console: Console) -> dict[str, Figures]:
    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory(prefix="dsql-bench-cluster-") as root:
        servers = [
            ("embedded", lambda: DsqlServer(data_dir=Path(root) / "embedded")),
            ("cluster, 1 QP", lambda: LocalClusterServer(Path(root) / "c1", 1)),
            ("cluster, 2 QPs", lambda: LocalClusterServer(Path(root) / "c2", 2)),
        ]
        for label, make in servers:
            server = make()
            with console.status(f"starting {label}"):
                server.start()
            try:
                results[label] = _measure(server, label, clients, seconds, warmup, console)
            finally:
                server.stop()
    return results


def print_table(console: Console, results: dict[str, Figures], clients: int, seconds: float) -> None:
    base = results["embedded"]
    table = Table(title=f"embedded vs cluster of processes (pgbench scale {SCALE}, {clients} clients, {seconds:g} s)")
    for column in ("server", "select-only tps", "TPC-B tps", "commit p50 / p99 ms", "pgbench -i s"):
        table.add_column(column, justify="right" if column != "server" else "left")
    for label, f in results.items():
        table.add_row(
            label,
            f"{f.select_only_tps:,.0f} ({f.select_only_tps / base.select_only_tps:.2f}×)",
            f"{f.tpcb_tps:,.0f} ({f.tpcb_tps / base.tpcb_tps:.2f}×)",
            f"{f.commit_p50_ms:.2f} / {f.commit_p99_ms:.2f}",
            f"{f.load_s:.1f}",
        )
    console.print(table)
    one, two = results.get("cluster, 1 QP"), results.get("cluster, 2 QPs")
    if one and two and one.select_only_tps:
        console.print(f"select-only from 1 to 2 QPs: {two.select_only_tps / one.select_only_tps:.2f}× (aim ≥ 1.6×)")
