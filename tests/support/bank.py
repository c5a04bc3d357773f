"""The bank workload: concurrent transfers, a checking reader, and a ledger.

Workers move random amounts between accounts, each transfer one transaction
(``BEGIN; SELECT balances; UPDATE; UPDATE; COMMIT``) retried on SQLSTATE 40001.
A reader keeps summing every balance in its own snapshot: the total must never
change. Each worker records the transfers whose COMMIT was acknowledged, and
the ones whose COMMIT was sent but never answered (the server died under it):
those may or may not have happened.

After the run (and a restart of the server), ``explain_final_state`` checks the
stored balances equal the initial ones plus every acknowledged transfer plus
some subset of the uncertain ones.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

ACCOUNTS = 100
INITIAL_BALANCE = 1000
AMOUNT_MAX = 50
RETRY_BACKOFF_MAX_S = 0.02  # jitter between retries so conflicting workers drift apart
COMMAND_TIMEOUT_S = 30.0
CONNECTION_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.CannotConnectNowError,
)
UNCERTAIN_MAX = 20  # subsets of more uncertain transfers than this are too many to enumerate
# With `tolerate_faults` (a cluster whose parts are killed and restarted under
# the workload), these errors mean "try again": a part was unreachable. Only
# 08007 (and a connection lost during COMMIT) leave a transfer's fate unknown.
RETRYABLE_STATES = {"XX000", "57P01", "08006", "08001", "08000", "53300", "40P01"}
RECONNECT_TRIES = 200
RECONNECT_PAUSE_S = 0.1


@dataclass(frozen=True)
class Transfer:
    source: int
    target: int
    amount: int


@dataclass
class BankRun:
    """Everything the workload observed; the test asserts on it."""

    acknowledged: list[Transfer] = field(default_factory=list)
    uncertain: list[Transfer] = field(default_factory=list)
    commits: int = 0
    conflicts: int = 0
    skipped_insufficient: int = 0
    reads: int = 0
    connection_losses: int = 0
    unavailable: int = 0  # errors that said a part was unreachable (tolerate_faults)
    violations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.commits} transfers committed, {self.conflicts} conflicts (40001) retried, "
            f"{self.reads} consistent reads, {len(self.uncertain)} commits without an answer, "
            f"{self.connection_losses} connections lost, {self.unavailable} unavailable errors"
        )


async def create_accounts(dsn: str, table: str) -> None:
    conn = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, balance bigint NOT NULL)")
        values = ", ".join(f"({n}, {INITIAL_BALANCE})" for n in range(ACCOUNTS))
        await conn.execute(f"INSERT INTO {table} (id, balance) VALUES {values}")
    finally:
        await conn.close()


async def read_balances(dsn: str, table: str) -> dict[int, int]:
    conn = await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
    try:
        rows = await conn.fetch(f"SELECT id, balance FROM {table}")
    finally:
        await conn.close()
    return {row["id"]: row["balance"] for row in rows}


async def _rollback_quietly(conn: asyncpg.Connection) -> None:
    try:
        await conn.execute("ROLLBACK")
    except CONNECTION_ERRORS:
        raise
    except asyncpg.PostgresError:
        pass


async def connect(dsn: str, *, tolerate_faults: bool = False) -> asyncpg.Connection:
    """A connection; with `tolerate_faults`, retried while the cluster's parts restart."""
    for attempt in range(RECONNECT_TRIES if tolerate_faults else 1):
        try:
            return await asyncpg.connect(dsn, command_timeout=COMMAND_TIMEOUT_S)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError):
            if not tolerate_faults or attempt == RECONNECT_TRIES - 1:
                raise
            await asyncio.sleep(RECONNECT_PAUSE_S)
    raise AssertionError("unreachable")


async def transfer_worker(
    dsn: str, table: str, seed: int, stop: asyncio.Event, run: BankRun, *, expect_crash: bool,
    tolerate_faults: bool = False,
) -> None:
    rng = random.Random(seed)
    conn = await connect(dsn, tolerate_faults=tolerate_faults)
    try:
        while not stop.is_set():
            source, target = rng.sample(range(ACCOUNTS), 2)
            rollback_first = False  # after a conflict; done inside `try` so a lost connection is handled
            while not stop.is_set():  # one transfer, retried until it commits or is skipped
                committing = False
                transfer: Transfer | None = None
                try:
                    if rollback_first:
                        rollback_first = False
                        await _rollback_quietly(conn)
                    await conn.execute("BEGIN")
                    rows = await conn.fetch(
                        f"SELECT id, balance FROM {table} WHERE id = $1 OR id = $2", source, target
                    )
                    balances = {row["id"]: row["balance"] for row in rows}
                    if len(balances) != 2:
                        run.violations.append(f"accounts {source}, {target} missing: read {balances}")
                        await _rollback_quietly(conn)
                        return
                    amount = rng.randint(1, AMOUNT_MAX)
                    if balances[source] < amount:
                        run.skipped_insufficient += 1
                        await _rollback_quietly(conn)
                        break
                    transfer = Transfer(source, target, amount)
                    await conn.execute(
                        f"UPDATE {table} SET balance = balance - $1 WHERE id = $2", amount, source
                    )
                    await conn.execute(
                        f"UPDATE {table} SET balance = balance + $1 WHERE id = $2", amount, target
                    )
                    committing = True
                    await conn.execute("COMMIT")
                    run.acknowledged.append(transfer)
                    run.commits += 1
                    break
                except asyncpg.exceptions.SerializationError:
                    run.conflicts += 1
                    rollback_first = True
                    await asyncio.sleep(rng.uniform(0, RETRY_BACKOFF_MAX_S))
                except CONNECTION_ERRORS as exc:
                    run.connection_losses += 1
                    if committing and transfer is not None:
                        run.uncertain.append(transfer)
                    if tolerate_faults:
                        conn.terminate()
                        conn = await connect(dsn, tolerate_faults=True)
                        break  # a new transfer: this one is done or uncertain
                    if not expect_crash:
                        run.violations.append(f"transfer worker lost its connection: {exc!r}")
                    return
                except asyncpg.PostgresError as exc:
                    state = getattr(exc, "sqlstate", "")
                    if tolerate_faults and committing and transfer is not None and (
                        state == "08007" or state in RETRYABLE_STATES
                    ):
                        # Its fate is unknown (08007), or the error may have come after the
                        # commit point: count it as uncertain, which the final check allows.
                        run.uncertain.append(transfer)
                        run.unavailable += 1
                        conn = await _recover(conn, dsn)
                        break
                    if tolerate_faults and state in RETRYABLE_STATES and not committing:
                        run.unavailable += 1
                        conn = await _recover(conn, dsn)
                        await asyncio.sleep(RECONNECT_PAUSE_S)
                        continue
                    run.violations.append(f"transfer failed with an unexpected error: {exc!r}")
                    return
    finally:
        if not conn.is_closed():
            conn.terminate()


async def _recover(conn: asyncpg.Connection, dsn: str) -> asyncpg.Connection:
    """After an error: the same connection rolled back, or a new one if it is gone."""
    try:
        await _rollback_quietly(conn)
        return conn
    except CONNECTION_ERRORS:
        conn.terminate()
        return await connect(dsn, tolerate_faults=True)


async def checking_reader(
    dsn: str, table: str, stop: asyncio.Event, run: BankRun, *, expect_crash: bool,
    tolerate_faults: bool = False,
) -> None:
    """Sums all balances, alone and inside read-only transactions; the total must never move."""
    expected = ACCOUNTS * INITIAL_BALANCE
    conn = await connect(dsn, tolerate_faults=tolerate_faults)
    try:
        while not stop.is_set():
            try:
                total = await conn.fetchval(f"SELECT sum(balance) FROM {table}")
                await conn.execute("BEGIN")
                rows = await conn.fetch(f"SELECT balance FROM {table}")
                again = await conn.fetchval(f"SELECT sum(balance) FROM {table}")
                await conn.execute("COMMIT")
            except CONNECTION_ERRORS as exc:
                run.connection_losses += 1
                if tolerate_faults:
                    conn.terminate()
                    conn = await connect(dsn, tolerate_faults=True)
                    continue
                if not expect_crash:
                    run.violations.append(f"reader lost its connection: {exc!r}")
                return
            except asyncpg.PostgresError as exc:
                if tolerate_faults and getattr(exc, "sqlstate", "") in RETRYABLE_STATES:
                    run.unavailable += 1
                    conn = await _recover(conn, dsn)
                    await asyncio.sleep(RECONNECT_PAUSE_S)
                    continue
                run.violations.append(f"a read-only transaction failed: {exc!r}")
                return
            run.reads += 1
            row_total = sum(row["balance"] for row in rows)
            if total != expected or row_total != expected or again != expected or len(rows) != ACCOUNTS:
                run.violations.append(
                    f"inconsistent read: sum={total}, rows={len(rows)} summing to {row_total}, "
                    f"sum again in the same snapshot={again}; expected {expected}"
                )
            await asyncio.sleep(0)
    finally:
        if not conn.is_closed():
            conn.terminate()


async def run_workload(
    dsn: str, table: str, *, workers: int, seconds: float, seed: int,
    crash_after_s: float | None = None, crash: Callable[[], object] | None = None,
    faults: Callable[[], object] | None = None,
) -> BankRun:  # fmt: skip
    """Run the transfers and the reader for ``seconds``, optionally calling ``crash`` part-way.

    With ``faults`` (a blocking function, run in a thread from the start), the
    workers ride through parts of a cluster being killed and restarted: they
    reconnect and retry, and the run lasts until both ``seconds`` have passed
    and ``faults`` has returned."""
    run = BankRun()
    stop = asyncio.Event()
    expect_crash = crash is not None
    tolerate = faults is not None
    tasks = [
        asyncio.create_task(
            transfer_worker(dsn, table, seed * 1000 + n, stop, run, expect_crash=expect_crash,
                            tolerate_faults=tolerate)
        )
        for n in range(workers)
    ]
    tasks.append(asyncio.create_task(
        checking_reader(dsn, table, stop, run, expect_crash=expect_crash, tolerate_faults=tolerate)
    ))  # fmt: skip
    if faults is not None:
        await asyncio.gather(asyncio.to_thread(faults), asyncio.sleep(seconds))
    elif crash is not None and crash_after_s is not None:
        await asyncio.sleep(crash_after_s)
        await asyncio.get_running_loop().run_in_executor(None, crash)
        await asyncio.sleep(max(0.0, seconds - crash_after_s))
    else:
        await asyncio.sleep(seconds)
    stop.set()
    results = await asyncio.wait_for(
        asyncio.gather(*tasks, return_exceptions=True), timeout=COMMAND_TIMEOUT_S * 2
    )
    for result in results:
        if isinstance(result, BaseException):
            if expect_crash and isinstance(result, CONNECTION_ERRORS):
                continue  # a worker that could not even connect after the crash
            run.violations.append(f"a worker raised {result!r}")
    return run


def expected_balances(transfers: list[Transfer]) -> dict[int, int]:
    balances = dict.fromkeys(range(ACCOUNTS), INITIAL_BALANCE)
    for t in transfers:
        balances[t.source] -= t.amount
        balances[t.target] += t.amount
    return balances


def explain_final_state(final: dict[int, int], run: BankRun) -> tuple[bool, str]:
    """Whether ``final`` = initial + acknowledged + some subset of the uncertain transfers."""
    base = expected_balances(run.acknowledged)
    delta = {account: final.get(account, 0) - base[account] for account in base}
    if set(final) != set(base):
        return (
            False,
            f"accounts differ: missing {sorted(set(base) - set(final))}, extra {sorted(set(final) - set(base))}",
        )
    target = {account: d for account, d in delta.items() if d}
    if not target:
        return True, "final balances equal the acknowledged ledger exactly"
    if len(run.uncertain) > UNCERTAIN_MAX:
        return False, f"{len(run.uncertain)} uncertain transfers: too many to search"
    for size in range(1, len(run.uncertain) + 1):
        for subset in itertools.combinations(run.uncertain, size):
            effect: dict[int, int] = {}
            for t in subset:
                effect[t.source] = effect.get(t.source, 0) - t.amount
                effect[t.target] = effect.get(t.target, 0) + t.amount
            if {a: d for a, d in effect.items() if d} == target:
                return (
                    True,
                    f"final balances = acknowledged ledger + {size} of {len(run.uncertain)} uncertain transfers",
                )
    differing = dict(list(target.items())[:10])
    return False, (
        f"final balances are not the acknowledged ledger plus any subset of the {len(run.uncertain)} "
        f"uncertain transfers; differences from the ledger (account: delta): {differing}"
    )
