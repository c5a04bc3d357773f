"""pgbench against any PostgreSQL-speaking server: initialize, run, and read its report.

Used by `make bench` (the `pgbench_*` workloads: TPC-B-like transactions in
simple and prepared query modes, dsql beside a durable PostgreSQL) and by
tests/test_pgbench.py. pgbench comes with PostgreSQL's client binaries
(`find_postgres_bin_dir()`).

dsql needs one thing pgbench does not do by itself: `pgbench -i` loads
100,000 accounts per scale unit with COPY in a single transaction, past
DSQL's 3,000-row limit. `DSQL_INIT_OPTIONS` is the PGOPTIONS that makes the
load commit every 3,000 rows (`dsql.copy_batch_rows`: DSQL's row limit, the fewest commits); server-side generation
(`-I G`, one INSERT ... SELECT) needs raised limits instead
(`DSQL_RAISED_LIMITS`).

Conflicts: tpcb-like updates one branch row per scale unit in every
transaction, so under optimistic concurrency most concurrent transactions
conflict (40001) and pgbench retries them (`--max-tries=0`: for as long as
`-T` lasts, so nothing fails but what the end of the run cuts off). The
results count those retries; pgbench's `failed` transactions would be ones
still conflicting when time ran out (reported as serialization failures).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.servers import find_postgres_bin_dir

# PGOPTIONS for `pgbench -i` on dsql: COPY commits every 3,000 rows, as many as DSQL's
# transaction_rows_max lets one transaction write (1,000 until 2026-12-07: 20 % slower).
DSQL_INIT_OPTIONS = "-c dsql.copy_batch_rows=3000"
# PGOPTIONS that let one transaction hold a whole scale-1 load (server-side generation, -I G).
DSQL_RAISED_LIMITS = "-c dsql.transaction_rows_max=1000000 -c dsql.transaction_bytes_max=1GB"
# A pgbench run may not take longer than its duration plus this (startup, vacuum, connections).
RUN_OVERHEAD_S = 120
INIT_TIMEOUT_S = 600


def pgbench_path() -> Path:
    return find_postgres_bin_dir() / "pgbench"


def run_pgbench(server, args: list[str], *, pgoptions: str = "", timeout_s: float = INIT_TIMEOUT_S
                ) -> subprocess.CompletedProcess[str]:
    """pgbench `args` against `server` (anything with host, port, user, dbname), output captured."""
    env = {**os.environ, "PGOPTIONS": pgoptions, "PGCONNECT_TIMEOUT": "10", "PGSSLMODE": "disable"}
    argv = [str(pgbench_path()), "-h", server.host, "-p", str(server.port), "-U", server.user, *args, server.dbname]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env)


def initialize(server, *, scale: int = 1, steps: str = "dtgvpf", pgoptions: str = "") -> subprocess.CompletedProcess[str]:
    return run_pgbench(server, ["-i", "-s", str(scale), "-I", steps], pgoptions=pgoptions)


@dataclass
class PgbenchReport:
    """pgbench's summary, plus per-transaction latencies when it wrote a log."""

    processed: int
    failed: int
    serialization_failures: int
    deadlock_failures: int
    retried: int
    retries: int
    tps: float
    latencies_ms: list[float]
    output: str

    def percentile_ms(self, fraction: float) -> float:
        values = sorted(self.latencies_ms)
        if not values:
            return 0.0
        return values[min(len(values) - 1, int(fraction * len(values)))]


def _number(pattern: str, text: str, default: float = 0) -> float:
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else default


def parse_report(text: str, latencies_ms: list[float] | None = None) -> PgbenchReport:
    return PgbenchReport(
        processed=int(_number(r"number of transactions actually processed: (\d+)", text)),
        failed=int(_number(r"number of failed transactions: (\d+)", text)),
        serialization_failures=int(_number(r"number of serialization failures: (\d+)", text)),
        deadlock_failures=int(_number(r"number of deadlock failures: (\d+)", text)),
        retried=int(_number(r"number of transactions retried: (\d+)", text)),
        retries=int(_number(r"total number of retries: (\d+)", text)),
        tps=_number(r"^tps = ([\d.]+)", text),
        latencies_ms=latencies_ms or [],
        output=text,
    )


def benchmark(server, *, builtin: str = "tpcb-like", mode: str = "simple", clients: int = 8, seconds: float = 10,
              max_tries: int = 0, extra: list[str] | None = None, pgoptions: str = "",
              ) -> tuple[PgbenchReport, subprocess.CompletedProcess[str]]:
    """One timed run (`-T seconds`) with a per-transaction log for latency percentiles."""
    with tempfile.TemporaryDirectory(prefix="dsql-pgbench-") as log_dir:
        args = [
            "-b", builtin, "-M", mode, "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(max(1, round(seconds))),
            f"--max-tries={max_tries}", "--failures-detailed", "-l", f"--log-prefix={log_dir}/tx", *(extra or []),
        ]
        done = run_pgbench(server, args, pgoptions=pgoptions, timeout_s=seconds + RUN_OVERHEAD_S)
        latencies = []
        for path in Path(log_dir).glob("tx.*"):
            for line in path.read_text().splitlines():
                fields = line.split()
                # client_id transaction_no time script_no time_epoch time_us [retries]; time is
                # "failed"/"serialization" for a transaction that gave up.
                if len(fields) >= 3 and fields[2].isdigit():
                    latencies.append(int(fields[2]) / 1000)
    return parse_report(done.stdout + done.stderr, latencies), done


# -- make bench ------------------------------------------------------------------------------------------

# name -> (built-in script, query mode)
PGBENCH_WORKLOADS = {
    "pgbench_tpcb_simple": ("tpcb-like", "simple"),
    "pgbench_tpcb_prepared": ("tpcb-like", "prepared"),
    "pgbench_select_prepared": ("select-only", "prepared"),
}


def run_pgbench_workload(name: str, server, label: str, clients: int, seconds: float, console, ready: set[str]):
    """One `make bench` row: load scale 1 once per server, then a timed run."""
    from bench.workloads import Result

    builtin, mode = PGBENCH_WORKLOADS[name]
    if label not in ready:
        with console.status(f"pgbench -i -s 1 on {label}"):
            done = initialize(server, steps="dtgvpf", pgoptions=DSQL_INIT_OPTIONS if label == "dsql" else "")
        if done.returncode != 0:
            raise RuntimeError(f"pgbench -i failed on {label}:\n{done.stderr}")
        ready.add(label)
    with console.status(f"{name} on {label} ({clients} clients, {seconds:g} s)"):
        report, done = benchmark(server, builtin=builtin, mode=mode, clients=clients, seconds=seconds)
    if done.returncode != 0 or report.processed == 0:
        raise RuntimeError(f"pgbench failed on {label}:\n{report.output}")
    # ops / seconds is pgbench's own tps (which leaves out connection time).
    measured_s = report.processed / report.tps if report.tps else max(1, round(seconds))
    result = Result(report.processed, measured_s, report.percentile_ms(0.50), report.percentile_ms(0.99), report.retries)
    console.print(
        f"{name} on {label}: {report.tps:,.0f} tps, p50 {result.p50_ms:.2f} ms, {report.retries:,} retries, "
        f"{report.failed:,} failed (still 40001 when the run ended)"
    )
    return result
