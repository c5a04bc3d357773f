"""Hot rows: TPC-B at scale 1 (one branch row every transaction updates), 1 and 8 clients.

    python -m bench --only hot_rows [--seconds 10] [--connections 8] [--hot-row-modes off,on]

Runs pgbench's tpcb-like script in prepared mode with `--max-tries=0` (a
40001 is retried for as long as the run lasts) on a durable `dsql serve` and
a durable PostgreSQL 15 side by side, with 1 client and with `--connections`
clients, and on dsql once per `dsql.hot_row_wait` mode (sent as PGOPTIONS;
`default` sends nothing, which is how a server without the setting is
measured). Issue 14, item 7: under optimistic concurrency 8 clients on one
branch row committed far less than one client alone.

Reported per run: goodput (pgbench's tps: committed transactions per second),
retries per commit (pgbench's retries / transactions processed: the 40001s a
commit cost), the ratio of the many-client goodput to the one-client goodput,
and for dsql the server's CPU time per committed transaction (user + system
time of the `dsql serve` process from /proc over the run: steadier than tps
on a machine shared with other work) and the hot-row counters scraped from
its Prometheus metrics (`dsql_hot_row_waits_total`,
`dsql_hot_row_refreshes_total`, see qp/txn/intents.py) over the run.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.pgbench import DSQL_INIT_OPTIONS, benchmark, initialize
from bench.servers import DsqlServer, PostgresServer, free_port, process_cpu_seconds, scrape_metrics

WORKLOADS = ("hot_rows",)
SCALE = 1


@dataclass
class Run:
    server: str  # "dsql off", "dsql on", "postgres"
    clients: int
    tps: float
    processed: int
    retries: int
    failed: int
    counters: dict[str, float] = field(default_factory=dict)
    cpu_ms_per_commit: float = float("nan")  # dsql only

    @property
    def retries_per_commit(self) -> float:
        return self.retries / self.processed if self.processed else float("nan")


def _hot_counters(before: dict, after: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for (name, labels), value in after.items():
        if name.startswith("dsql_hot_row_") and name.endswith("_total"):
            label = labels.split('"')[1] if '"' in labels else ""
            out[f"{name.removeprefix('dsql_hot_row_').removesuffix('_total')}:{label}"] = (
                value - before.get((name, labels), 0)
            )
    return out


def run(*, seconds: float, clients: int, modes: list[str], console: Console) -> list[Run]:
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="dsql-bench-hot-") as root:
        metrics_port = free_port()
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        postgres = PostgresServer(durable=True)
        dsql = DsqlServer(data_dir=Path(root) / "dsql", extra_args=("--metrics-port", str(metrics_port)))
        with console.status("starting PostgreSQL and dsql"):
            postgres.start()
            dsql.start()
        try:
            for label, server in (("dsql", dsql), ("postgres", postgres)):
                with console.status(f"pgbench -i -s {SCALE} on {label}"):
                    done = initialize(server, scale=SCALE, pgoptions=DSQL_INIT_OPTIONS if label == "dsql" else "")
                if done.returncode != 0:
                    raise RuntimeError(f"pgbench -i failed on {label}:\n{done.stderr}")
            plan = [(f"dsql {mode}", dsql, mode) for mode in modes] + [("postgres", postgres, None)]
            for name, server, mode in plan:
                options = f"-c dsql.hot_row_wait={mode}" if mode not in (None, "default") else ""
                for n in (1, clients):
                    before = scrape_metrics(metrics_url) if server is dsql else {}
                    cpu_before = process_cpu_seconds(dsql.pid) if server is dsql else 0.0
                    with console.status(f"TPC-B scale {SCALE} on {name}, {n} clients"):
                        report, done = benchmark(server, builtin="tpcb-like", mode="prepared", clients=n,
                                                 seconds=seconds, pgoptions=options)  # fmt: skip
                    if report.processed == 0:
                        raise RuntimeError(f"pgbench failed on {name}:\n{report.output}")
                    counters = _hot_counters(before, scrape_metrics(metrics_url)) if server is dsql else {}
                    result = Run(name, n, report.tps, report.processed, report.retries, report.failed, counters)
                    if server is dsql:
                        result.cpu_ms_per_commit = (process_cpu_seconds(dsql.pid) - cpu_before) * 1000 / report.processed
                    runs.append(result)
                    console.print(
                        f"{name}, {n} clients: {report.tps:,.0f} tps, {result.retries_per_commit:.2f} retries/commit, "
                        f"{result.cpu_ms_per_commit:.2f} server CPU ms/commit, "
                        f"{report.failed} failed {counters or ''}"
                    )
        finally:
            dsql.stop()
            postgres.stop()
    return runs


def print_table(console: Console, runs: list[Run], seconds: float) -> None:
    table = Table(title=f"hot rows: TPC-B scale {SCALE}, prepared, --max-tries=0, {seconds:g} s each")
    for column in ("server", "clients", "goodput tps", "retries/commit", "ratio N/1", "CPU ms/commit",
                   "hot-row counters"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("server", "hot-row counters") else "right")
    single = {r.server: r.tps for r in runs if r.clients == 1}
    for r in runs:
        ratio = r.tps / single[r.server] if r.clients != 1 and single.get(r.server) else None
        counters = " ".join(f"{k}={v:,.0f}" for k, v in sorted(r.counters.items()) if v)
        table.add_row(r.server, str(r.clients), f"{r.tps:,.0f}", f"{r.retries_per_commit:.2f}",
                      f"{ratio:.2f}" if ratio is not None else "",
                      f"{r.cpu_ms_per_commit:.2f}" if r.cpu_ms_per_commit == r.cpu_ms_per_commit else "",
                      counters)  # fmt: skip
    console.print(table)
