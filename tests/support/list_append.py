"""Elle's list-append workload over SQL, recorded as a `checker` history.

Each key is a row `(k, v)` whose `v` is a comma-separated list of integers.
A transaction is 1–4 micro-operations on a few hot keys: an append
(`UPDATE t SET v = v || ',e' WHERE k = $1`, elements unique per key) or a
read (`SELECT v`). Clients record each transaction in a
`checker.history.History`: `ok` with what it read when COMMIT answered,
`fail` when the transaction certainly did not commit (40001, or an error
before COMMIT was sent), `info` when COMMIT got no clear answer (a lost
connection, 08007, a part unreachable) — after which the client continues as
a new process, as Jepsen requires. `checker.list_append.check(...,
strict=True)` then looks for every anomaly strong snapshot isolation forbids.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from checker.history import History
from support.bank import CONNECTION_ERRORS, RETRYABLE_STATES, connect

KEYS = 8
COMMAND_TIMEOUT_S = 30.0


@dataclass
class ListAppendRun:
    history: History = field(default_factory=History)
    ok: int = 0
    failed: int = 0
    unknown: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.ok} transactions ok, {self.failed} failed (certainly not committed), {self.unknown} unknown"


async def create_table(dsn: str, table: str) -> None:
    conn = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.execute(f"CREATE TABLE {table} (k int PRIMARY KEY, v text NOT NULL)")
        await conn.execute(f"INSERT INTO {table} SELECT k, '' FROM generate_series(0, {KEYS - 1}) AS k")
    finally:
        await conn.close()


def _parse(v: str | None) -> tuple[int, ...] | None:
    if v is None:
        return None
    return tuple(int(x) for x in v.split(",") if x)


async def _worker(dsn: str, table: str, client: int, clients: int, seed: int, stop: asyncio.Event,
                  run: ListAppendRun, counters: dict[int, itertools.count], tolerate_faults: bool) -> None:
    rng = random.Random(seed)
    process = client
    conn = await connect(dsn, tolerate_faults=tolerate_faults)
    try:
        while not stop.is_set():
            mops = []
            for _ in range(rng.randint(1, 4)):
                key = rng.randrange(KEYS)
                if rng.random() < 0.5:
                    mops.append(("append", key, next(counters[key])))
                else:
                    mops.append(("r", key, None))
            handle = run.history.invoke(process, "txn", tuple(mops))
            committing = False
            try:
                await conn.execute("BEGIN")
                done = []
                for f, key, element in mops:
                    if f == "append":
                        await conn.execute(f"UPDATE {table} SET v = v || $2 WHERE k = $1", key, f",{element}")
                        done.append((f, key, element))
                    else:
                        v = await conn.fetchval(f"SELECT v FROM {table} WHERE k = $1", key)
                        done.append((f, key, _parse(v)))
                committing = True
                await conn.execute("COMMIT")
                handle.ok(tuple(done))
                run.ok += 1
            except asyncpg.exceptions.SerializationError as exc:
                handle.fail(exc.sqlstate)  # 40001: first committer won, this one did not commit
                run.failed += 1
                recovered = await _rollback_or_reconnect(conn, dsn, client, run, tolerate_faults)
                if recovered is None:
                    return
                conn = recovered
            except CONNECTION_ERRORS as exc:
                if committing:
                    handle.info(repr(exc))
                    run.unknown += 1
                    process += clients  # a new process: the old one may still be running
                else:
                    handle.fail(repr(exc))
                    run.failed += 1
                if not tolerate_faults:
                    run.errors.append(f"client {client}: {exc!r}")
                    return
                conn.terminate()
                conn = await connect(dsn, tolerate_faults=True)
            except asyncpg.PostgresError as exc:
                state = getattr(exc, "sqlstate", "")
                if committing and (state == "08007" or state in RETRYABLE_STATES):
                    handle.info(f"{state}: {exc}")
                    run.unknown += 1
                    process += clients
                else:
                    handle.fail(f"{state}: {exc}")
                    run.failed += 1
                if not tolerate_faults or (state not in RETRYABLE_STATES and state != "08007"):
                    run.errors.append(f"client {client}: {state} {exc}")
                    if not tolerate_faults:
                        return
                recovered = await _rollback_or_reconnect(conn, dsn, client, run, tolerate_faults)
                if recovered is None:
                    return
                conn = recovered
                await asyncio.sleep(0.01)
    finally:
        if not conn.is_closed():
            conn.terminate()


async def _rollback_or_reconnect(conn: asyncpg.Connection, dsn: str, client: int, run: ListAppendRun,
                                 tolerate_faults: bool) -> asyncpg.Connection | None:
    """After an error: the same connection rolled back, a new one if it was lost (with
    `tolerate_faults`), or None (the loss recorded) when the worker should stop."""
    try:
        await conn.execute("ROLLBACK")
        return conn
    except CONNECTION_ERRORS as exc:
        conn.terminate()
        if not tolerate_faults:
            run.errors.append(f"client {client}: lost its connection rolling back: {exc!r}")
            return None
        return await connect(dsn, tolerate_faults=True)
    except asyncpg.PostgresError:
        return conn


async def run_workload(dsn: str, table: str, *, clients: int, seconds: float, seed: int,
                       faults: Callable[[], object] | None = None,
                       also: Sequence[Callable[[ListAppendRun, asyncio.Event], Coroutine[Any, Any, None]]] = ()) -> ListAppendRun:
    """`clients` connections for `seconds` (and until `faults`, run in a thread, returns).

    `also` are more clients of the same history (a test's own, e.g. on another QP), run as tasks
    beside the workers until the stop event is set; they record their transactions in
    `run.history` themselves, with process numbers of their own and elements no worker appends
    (the workers' are positive)."""
    run = ListAppendRun()
    stop = asyncio.Event()
    counters = {k: itertools.count(1) for k in range(KEYS)}
    tasks = [
        asyncio.create_task(_worker(dsn, table, c, clients, seed * 1000 + c, stop, run, counters, faults is not None))
        for c in range(clients)
    ]
    tasks += [asyncio.create_task(client(run, stop)) for client in also]
    if faults is not None:
        await asyncio.gather(asyncio.to_thread(faults), asyncio.sleep(seconds))
    else:
        await asyncio.sleep(seconds)
    stop.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            run.errors.append(f"a client raised {result!r}")
    run.history.close_pending("the run ended")
    return run
