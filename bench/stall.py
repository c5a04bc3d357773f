"""`stall`: how long a `SELECT 1` waits while another connection runs a CPU-bound query.

One connection runs `SELECT count(*) FROM generate_series(1, N)` back to back
(N sized so one run takes about ten seconds on dsql); a second connection
sends `SELECT 1` every `PROBE_INTERVAL_S` and times each. PostgreSQL runs a
process per connection, so its probe only competes for a CPU; dsql runs every
session, and the journal's leases and storage apply, in one thread, so the
probe measures how often the busy query gives the scheduler a turn
(cluster/timeslice.py). ops/s is the probe rate; p50/p99 are the probe's
latencies. For dsql the bench also counts journal elections in the server's
log during the run: a stalled thread costs the journal its leader.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import asyncpg
from rich.console import Console

from bench.workloads import Result

BUSY_QUERY = "SELECT count(*) FROM generate_series(1, 20000000)"  # ~10 s on dsql, ~2 s on PostgreSQL
PROBE_INTERVAL_S = 0.01
ELECTION = re.compile(r"campaign ballot")


def elections(log_path: Path | None) -> int:
    if log_path is None or not log_path.exists():
        return 0
    return len(ELECTION.findall(log_path.read_text(errors="replace")))


async def run_stall(dsn: str, seconds: float, warmup: float, console: Console, label: str) -> Result:
    busy = await asyncpg.connect(dsn)
    probe = await asyncpg.connect(dsn)
    latencies: list[float] = []
    stop_at = time.perf_counter() + warmup + seconds
    busy_runs = 0

    async def keep_busy() -> None:
        nonlocal busy_runs
        while time.perf_counter() < stop_at:
            await busy.fetchval(BUSY_QUERY)
            busy_runs += 1

    try:
        worker = asyncio.create_task(keep_busy())
        await asyncio.sleep(warmup)
        with console.status(f"stall on {label}: SELECT 1 beside `{BUSY_QUERY}`"):
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                await probe.fetchval("SELECT 1")
                latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(PROBE_INTERVAL_S)
            await worker
    finally:
        await busy.close()
        await probe.close()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    result = Result(len(latencies), seconds, pct(0.50), pct(0.99), 0)
    console.print(f"stall on {label}: {len(latencies)} probes, p50 {result.p50_ms:.2f} ms, "
                  f"p99 {result.p99_ms:.2f} ms, max {latencies[-1] * 1000 if latencies else 0:.1f} ms; "
                  f"{busy_runs} busy queries finished")
    return result
