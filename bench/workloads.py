"""Benchmark workloads: the same asyncpg client code against any PostgreSQL-speaking server.

Each workload has a setup (tables and rows, done once per server) and an
operation that one connection repeats. Operations that fail with 40001 are
retried from the start (DSQL's contract), and the retries are counted.

- point_select: a prepared `SELECT v FROM bench_kv WHERE id = $1` on a random
  key of 10,000 rows.
- update_txn: `BEGIN; UPDATE bench_kv SET v = v + 1 WHERE id = $1; COMMIT`
  on a random key (a single-row read-write transaction).
- index_select: `point_select` on `bench_kv_added`, whose primary key is added by
  ALTER TABLE after the rows, as `pgbench -i` adds its keys: in dsql a unique index
  over rows keyed by hidden row ids, so a read finds the index entry, then the row.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

ROWS = 10_000


@dataclass
class Result:
    ops: int
    seconds: float
    p50_ms: float
    p99_ms: float
    retries: int

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "ops_per_s": self.ops_per_s}


async def setup(dsn: str, name: str) -> None:
    """The tables workload `name` reads (dropped and made anew)."""
    conn = await asyncpg.connect(dsn)
    try:
        added = name == "index_select"
        table = "bench_kv_added" if added else "bench_kv"
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.execute(f"CREATE TABLE {table} (id int {'NOT NULL' if added else 'PRIMARY KEY'}, v int NOT NULL)")
        # Batches stay under DSQL's 3,000-rows-per-transaction limit.
        for start in range(0, ROWS, 1000):
            await conn.executemany(
                f"INSERT INTO {table} VALUES ($1, $2)", [(i, 0) for i in range(start, min(start + 1000, ROWS))]
            )
        if added:
            await conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
    finally:
        await conn.close()


async def _point_select(conn: asyncpg.Connection, statements: dict, rng: random.Random) -> int:
    await statements["select"].fetchval(rng.randrange(ROWS))
    return 0


async def _update_txn(conn: asyncpg.Connection, statements: dict, rng: random.Random) -> int:
    key = rng.randrange(ROWS)
    retries = 0
    while True:
        try:
            async with conn.transaction():
                await statements["update"].fetch(key)
            return retries
        except asyncpg.SerializationError:
            retries += 1


WORKLOADS = {"point_select": _point_select, "update_txn": _update_txn, "index_select": _point_select}


async def prepare(conn: asyncpg.Connection, name: str) -> dict:
    """The prepared statements workload `name`'s operation runs on `conn`."""
    if name == "index_select":
        return {"select": await conn.prepare("SELECT v FROM bench_kv_added WHERE id = $1")}
    return {
        "select": await conn.prepare("SELECT v FROM bench_kv WHERE id = $1"),
        "update": await conn.prepare("UPDATE bench_kv SET v = v + 1 WHERE id = $1"),
    }


async def run_workload(name: str, dsn: str, connections: int, seconds: float, warmup: float,
                       console: Console, label: str) -> Result:
    await setup(dsn, name)
    operation = WORKLOADS[name]
    conns = [await asyncpg.connect(dsn) for _ in range(connections)]
    latencies: list[float] = []
    counters = {"ops": 0, "retries": 0}
    measuring = False
    start = time.perf_counter()
    stop_at = start + warmup + seconds

    async def worker(conn: asyncpg.Connection, seed: int) -> None:
        nonlocal measuring
        statements = await prepare(conn, name)
        rng = random.Random(seed)
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            retries = await operation(conn, statements, rng)
            if measuring:
                latencies.append(time.perf_counter() - t0)
                counters["ops"] += 1
                counters["retries"] += retries

    async def clock(progress: Progress, task) -> None:
        nonlocal measuring
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                progress.update(task, completed=warmup + seconds)
                return
            if now - start >= warmup:
                measuring = True
            progress.update(task, completed=now - start)
            await asyncio.sleep(0.2)

    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"{name} on {label}", total=warmup + seconds)
        try:
            await asyncio.gather(clock(progress, task), *(worker(c, i) for i, c in enumerate(conns)))
        finally:
            for conn in conns:
                await conn.close()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    result = Result(counters["ops"], seconds, pct(0.50), pct(0.99), counters["retries"])
    console.print(f"{name} on {label}: {result.ops_per_s:,.0f} ops/s, p50 {result.p50_ms:.2f} ms")
    return result
