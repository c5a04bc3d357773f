"""Many concurrent committers on a real server: commits batched into shared journal appends
(adjudicator/batching.py) are each acknowledged, visible and conflict-checked as before.

24 asyncpg connections at once, each a mix of single-row inserts of its own
keys and increments of four hot counters (read-modify-write, 40001 retried).
Afterwards every acknowledged insert is there and nothing else is, each
counter equals the increments acknowledged on it (a lost update would show
as less: first committer wins still refuses the overlapping ones), conflicts
did happen, and the server's metrics show fewer journal append requests than
commits: the commits did travel in batches. Then a restart: all of it again
from the journal.
"""

from __future__ import annotations

import asyncio
import random
import re
import urllib.request

import asyncpg
import pytest

from bench.servers import free_port

CONNECTIONS = 24
INSERTS = 30
INCREMENTS = 15
COUNTERS = 4

pytestmark = pytest.mark.slow


def _metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.MULTILINE))


async def _worker(dsn: str, n: int, inserted: set[int], increments: list[int], conflicts: list[int]) -> None:
    conn = await asyncpg.connect(dsn)
    rng = random.Random(n)
    try:
        steps = ["insert"] * INSERTS + ["increment"] * INCREMENTS
        rng.shuffle(steps)
        for i, step in enumerate(steps):
            if step == "insert":
                key = n * 1000 + i
                await conn.execute("INSERT INTO batch_rows VALUES ($1, $2)", key, n)
                inserted.add(key)  # acknowledged
                continue
            counter = rng.randrange(COUNTERS)
            while True:
                try:
                    async with conn.transaction():
                        value = await conn.fetchval("SELECT v FROM batch_counters WHERE id = $1", counter)
                        await conn.execute("UPDATE batch_counters SET v = $2 WHERE id = $1", counter, value + 1)
                    increments[counter] += 1
                    break
                except asyncpg.SerializationError:
                    conflicts[0] += 1
    finally:
        await conn.close()


async def _run(dsn: str) -> tuple[set[int], list[int], int]:
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE batch_rows (id int PRIMARY KEY, worker int NOT NULL)")
    await conn.execute("CREATE TABLE batch_counters (id int PRIMARY KEY, v int NOT NULL)")
    await conn.executemany("INSERT INTO batch_counters VALUES ($1, 0)", [(i,) for i in range(COUNTERS)])
    await conn.close()
    inserted: set[int] = set()
    increments = [0] * COUNTERS
    conflicts = [0]
    await asyncio.gather(*(_worker(dsn, n, inserted, increments, conflicts) for n in range(CONNECTIONS)))
    return inserted, increments, conflicts[0]


async def _read(dsn: str) -> tuple[set[int], list[int]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = {r["id"] for r in await conn.fetch("SELECT id FROM batch_rows")}
        counters = [r["v"] for r in await conn.fetch("SELECT v FROM batch_counters ORDER BY id")]
    finally:
        await conn.close()
    return rows, counters


def test_concurrent_commits_in_batches_are_each_acknowledged_visible_and_checked(start_dsql) -> None:
    metrics_port = free_port()
    server = start_dsql(extra_args=("--metrics-port", str(metrics_port)))
    requests_before = _metric(metrics_port, "dsql_adjudicator_append_batches")
    commits_before = _metric(metrics_port, "dsql_commit_seconds_count")
    inserted, increments, conflicts = asyncio.run(_run(server.dsn))
    requests = _metric(metrics_port, "dsql_adjudicator_append_batches") - requests_before
    commits = _metric(metrics_port, "dsql_commit_seconds_count") - commits_before
    assert len(inserted) == CONNECTIONS * INSERTS
    rows, counters = asyncio.run(_read(server.dsn))
    assert rows == inserted, "every acknowledged insert, and nothing else"
    assert counters == increments, f"counters {counters}, acknowledged increments {increments}"
    assert conflicts > 0, "the hot counters never conflicted: the test lost its point"
    assert commits >= CONNECTIONS * (INSERTS + INCREMENTS)
    assert requests < commits, f"{requests:.0f} append requests for {commits:.0f} commits: no batching"
    server.stop()
    server.restart()
    assert asyncio.run(_read(server.dsn)) == (inserted, increments), "after a restart, from the journal"
