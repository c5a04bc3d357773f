"""The commit path: update transactions and TPC-B at scale 8, with the journal's syncs per commit.

    python -m bench --only commit_path [--seconds 10] [--connections 8]

Runs, on a durable `dsql serve` and a durable PostgreSQL 15 side by side:

  update_txn   8 asyncpg connections, `BEGIN; UPDATE … WHERE id = $1; COMMIT`
               (bench/workloads.py);
  tpcb_s8      pgbench TPC-B-like at scale 8, prepared mode, 8 clients,
               40001 retried (bench/pgbench.py).

and, for dsql, how many batches each journal replica wrote and synced during
each run (one fdatasync each; scraped from the server's Prometheus metrics,
`dsql_journal_syncs`) divided by the transactions committed meanwhile
(`dsql_commit_seconds_count`): syncs per commit on the leader and on each
follower, which is what group commit and the adjudicator's batching are
judged by (issue 14, item 4). Below 1 means commits share a sync. Commits per
append request is how many commits the adjudicators' batches carried
(`dsql_adjudicator_append_batches`; "-" before they batched).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.pgbench import DSQL_INIT_OPTIONS, benchmark, initialize
from bench.servers import DsqlServer, PostgresServer, free_port, scrape_metrics
from bench.workloads import run_workload

WORKLOADS = ("commit_path",)
SCALE = 8


@dataclass
class Figures:
    dsql_tps: float = 0.0
    postgres_tps: float = 0.0
    commits: int = 0
    retries: int = 0
    append_requests: int = 0  # journal append requests the adjudicators made (batches)
    # replica name -> (syncs during the run, leader at the end)
    syncs: dict[str, tuple[int, bool]] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.dsql_tps / self.postgres_tps if self.postgres_tps else float("nan")

    def per_commit(self, leader: bool) -> list[float]:
        return [s / self.commits if self.commits else float("nan")
                for s, leads in self.syncs.values() if leads is leader]  # fmt: skip


def _delta(before: dict, after: dict, figures: Figures) -> None:
    figures.commits = int(after.get(("dsql_commit_seconds_count", 'api="sql"'), 0)
                          - before.get(("dsql_commit_seconds_count", 'api="sql"'), 0))  # fmt: skip
    for (name, labels), value in after.items():
        if name == "dsql_adjudicator_append_batches":
            figures.append_requests += int(value - before.get((name, labels), 0))
        if name == "dsql_journal_syncs":
            replica = labels.split('"')[1]
            leads = after.get(("dsql_journal_leader", labels), 0) == 1
            figures.syncs[replica] = (int(value - before.get((name, labels), 0)), leads)


def run(*, seconds: float, warmup: float, clients: int, console: Console) -> dict[str, Figures]:
    results = {"update_txn": Figures(), f"tpcb_s{SCALE}": Figures()}
    with tempfile.TemporaryDirectory(prefix="dsql-bench-commit-") as root:
        metrics_port = free_port()
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        postgres = PostgresServer(durable=True)
        dsql = DsqlServer(data_dir=Path(root) / "dsql", extra_args=("--metrics-port", str(metrics_port)))
        with console.status("starting PostgreSQL and dsql"):
            postgres.start()
            dsql.start()
        try:
            for label, server in (("dsql", dsql), ("postgres", postgres)):
                figures = results["update_txn"]
                before = scrape_metrics(metrics_url) if label == "dsql" else {}
                result = asyncio.run(run_workload("update_txn", server.dsn, clients, seconds, warmup, console, label))
                if label == "dsql":
                    _delta(before, scrape_metrics(metrics_url), figures)
                    figures.dsql_tps, figures.retries = result.ops_per_s, result.retries
                else:
                    figures.postgres_tps = result.ops_per_s
            for label, server in (("dsql", dsql), ("postgres", postgres)):
                figures = results[f"tpcb_s{SCALE}"]
                with console.status(f"pgbench -i -s {SCALE} on {label}"):
                    started = time.perf_counter()
                    done = initialize(server, scale=SCALE, pgoptions=DSQL_INIT_OPTIONS if label == "dsql" else "")
                if done.returncode != 0:
                    raise RuntimeError(f"pgbench -i failed on {label}:\n{done.stderr}")
                console.print(f"pgbench -i -s {SCALE} on {label}: {time.perf_counter() - started:.1f} s")
                before = scrape_metrics(metrics_url) if label == "dsql" else {}
                with console.status(f"TPC-B on {label}"):
                    report, _ = benchmark(server, builtin="tpcb-like", mode="prepared", clients=clients,
                                          seconds=seconds)  # fmt: skip
                console.print(f"TPC-B scale {SCALE} on {label}: {report.tps:,.0f} tps, {report.retries:,} retries")
                if label == "dsql":
                    _delta(before, scrape_metrics(metrics_url), figures)
                    figures.dsql_tps, figures.retries = report.tps, report.retries
                else:
                    figures.postgres_tps = report.tps
        finally:
            dsql.stop()
            postgres.stop()
    return results


def print_table(console: Console, results: dict[str, Figures], clients: int, seconds: float) -> None:
    table = Table(title=f"the commit path ({clients} connections, {seconds:g} s each)")
    for column in ("workload", "dsql tps", "PostgreSQL tps", "ratio", "dsql commits", "40001 retries",
                   "commits/append request", "syncs/commit leader", "syncs/commit followers"):  # fmt: skip
        table.add_column(column, justify="left" if column == "workload" else "right")
    for name, f in results.items():
        table.add_row(
            name, f"{f.dsql_tps:,.0f}", f"{f.postgres_tps:,.0f}", f"{f.ratio:.2f}×", f"{f.commits:,}",
            f"{f.retries:,}", f"{f.commits / f.append_requests:.2f}" if f.append_requests else "-",
            " ".join(f"{x:.3f}" for x in f.per_commit(True)),
            " ".join(f"{x:.3f}" for x in f.per_commit(False)),
        )  # fmt: skip
    console.print(table)
