"""Hot rows (qp/txn/intents.py, the read refresh in qp/txn/transaction.py), over real sockets.

Writers of one row on one QP take turns: a younger writer waits for an older one
to end, then moves its snapshot past the older one's commit if nothing it has
read changed (else 40001 at once). Each test drives two or more psycopg
connections to one `dsql serve` from threads, in an order the test fixes:

- a waiting writer reads the committed write after the refresh, and N concurrent
  increments of one row (40001 retried) end at exactly N;
- a refresh is refused when a key or a scanned range it read changed (40001 at the
  statement), and when the catalog changed (OC001);
- two transactions writing two rows in opposite orders both end (a wait that would
  close a cycle is not taken);
- ROLLBACK, an error in a block and a killed connection release their intents (the
  next writer does not wait out the bound, `WAIT_S_MAX`);
- `dsql.hot_row_wait = off` is today's optimistic behaviour: no wait, 40001 at COMMIT.

Statements run prepared on tables with a primary key and on tables whose primary
key was added after they were created (a unique index, as pgbench's), each through
the fast path (qp/exec/fast_path.py) and through the general path (qp/exec/scans.py).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import quote

import psycopg
import pytest
import trio
import trio.testing
from support.names import unique_name

from qp.txn.intents import WAIT_S_MAX, IntentTable

pytestmark = pytest.mark.timeout(300)

# A writer released by its holder goes on at once; one that waits out the bound takes
# WAIT_S_MAX. Half of it tells the two apart with room for a slow machine.
RELEASED_WITHIN_S = WAIT_S_MAX / 2
# How long a test lets a waiting writer wait before it checks that it is still waiting.
STILL_WAITING_S = 0.3


def _connect(server, hot: bool, general: bool) -> psycopg.Connection:
    options = f" -c dsql.hot_row_wait={'on' if hot else 'off'}" + (" -c dsql.fast_path=off" if general else "")
    dsn = f"{server.dsn}&options={quote(options)}" if options else server.dsn
    return psycopg.connect(dsn, autocommit=True)


@pytest.fixture(params=["pk", "pk-general", "index", "index-general"])
def variant(request) -> str:
    """`pk`: a table keyed by id, the fast path; `pk-general`: the same through the
    general path (a point get in the operator tree); `index`: a table keyed by a hidden
    row id with a primary-key index added later, as pgbench's are (the fast path's
    unique-index point get); `index-general`: the same through an index scan."""
    return request.param


@pytest.fixture
def conns(dsql_server, variant) -> Iterator[Callable[..., psycopg.Connection]]:
    made: list[psycopg.Connection] = []

    def connect(hot: bool = True) -> psycopg.Connection:
        conn = _connect(dsql_server, hot, variant.endswith("-general"))
        made.append(conn)
        return conn

    yield connect
    for conn in made:
        conn.close()


@pytest.fixture
def table(variant, dsql_server) -> Iterator[str]:
    """A table (id, n) with rows 1..4 at 0 (see `variant`)."""
    name = unique_name("hot")
    with psycopg.connect(dsql_server.dsn, autocommit=True) as admin:
        if not variant.startswith("index"):
            admin.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, n int)")
        else:
            admin.execute(f"CREATE TABLE {name} (id int NOT NULL, n int)")
            admin.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (id)")
        admin.execute(f"INSERT INTO {name} VALUES (1, 0), (2, 0), (3, 0), (4, 0)")
        yield name
        admin.execute(f"DROP TABLE IF EXISTS {name}")


class Background:
    """Statements run on one connection in a thread: `run(...)` returns at once; `result()` waits."""

    def __init__(self, conn: psycopg.Connection, steps: Callable[[psycopg.Connection], object]) -> None:
        self.outcome: list = []
        self.elapsed_s = 0.0

        def body() -> None:
            started = time.monotonic()
            try:
                self.outcome.append(("ok", steps(conn)))
            except psycopg.Error as exc:
                self.outcome.append(("error", exc.sqlstate, str(exc)))
            self.elapsed_s = time.monotonic() - started

        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()

    def waiting(self) -> bool:
        self.thread.join(STILL_WAITING_S)
        return self.thread.is_alive()

    def result(self, timeout_s: float = 30) -> tuple:
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "still running"
        return self.outcome[0]


def _increment(table: str, row: int) -> Callable[[psycopg.Connection], object]:
    def steps(conn: psycopg.Connection) -> object:
        conn.execute(f"UPDATE {table} SET n = n + 1 WHERE id = %s", (row,), prepare=True)
        conn.execute("COMMIT")
        return None

    return steps


def _value(conn: psycopg.Connection, table: str, row: int) -> int:
    return conn.execute(f"SELECT n FROM {table} WHERE id = %s", (row,)).fetchone()[0]


def _begin_with_read(conn: psycopg.Connection, table: str, row: int) -> None:
    conn.execute("BEGIN")
    conn.execute(f"SELECT n FROM {table} WHERE id = %s", (row,), prepare=True)


def _refused_after_the_wait(older: psycopg.Connection, younger: psycopg.Connection, table: str) -> tuple:
    """`younger` updates row 1, which `older` holds: it waits, `older` commits, and the
    waiter's refresh fails (40001 at the statement, not at COMMIT); its outcome."""
    waiter = Background(younger, lambda c: c.execute(f"UPDATE {table} SET n = n + 1 WHERE id = %s", (1,),
                                                     prepare=True))  # fmt: skip
    assert waiter.waiting()
    older.execute("COMMIT")
    outcome = waiter.result()
    assert outcome[:2] == ("error", "40001"), outcome
    younger.execute("ROLLBACK")
    return outcome


def test_waiting_writer_sees_the_committed_write(conns, table) -> None:
    older, younger = conns(), conns()
    older.execute("BEGIN")
    older.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 1", prepare=True)
    _begin_with_read(younger, table, 2)
    waiter = Background(younger, _increment(table, 1))
    assert waiter.waiting(), "the younger writer should wait for the older one"
    older.execute("COMMIT")
    assert waiter.result() == ("ok", None)
    assert _value(older, table, 1) == 2  # no lost update: the waiter read the commit


def test_a_waiting_writer_that_wrote_before_sees_the_committed_write(conns, table) -> None:
    """The waiter's own earlier write is in its buffer: the row it waits for is still read
    (again, after the wait) from storage, and its own write stays."""
    older, younger = conns(), conns()
    older.execute("BEGIN")
    older.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 1", prepare=True)
    younger.execute("BEGIN")
    younger.execute(f"UPDATE {table} SET n = n + 5 WHERE id = %s", (2,), prepare=True)
    waiter = Background(younger, _increment(table, 1))
    assert waiter.waiting()
    older.execute("COMMIT")
    assert waiter.result() == ("ok", None)
    assert (_value(older, table, 1), _value(older, table, 2)) == (2, 5)


def test_refresh_refused_when_the_row_to_write_was_read_before(conns, table) -> None:
    """The waiter read the row (its old value) in an earlier statement: that read cannot be
    taken back, so the older writer's commit makes the refresh fail (first committer wins)."""
    older, younger = conns(), conns()
    older.execute("BEGIN")
    older.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 1", prepare=True)
    _begin_with_read(younger, table, 1)
    _refused_after_the_wait(older, younger, table)
    assert _value(older, table, 1) == 1


def test_concurrent_increments_end_at_n(conns, table) -> None:
    clients, each = 6, 8
    retries = [0] * clients

    def worker(i: int, conn: psycopg.Connection) -> None:
        done = 0
        while done < each:
            try:
                conn.execute("BEGIN")
                conn.execute(f"SELECT n FROM {table} WHERE id = %s", (2 + i % 3,), prepare=True)
                conn.execute(f"UPDATE {table} SET n = n + 1 WHERE id = %s", (1,), prepare=True)
                conn.execute("COMMIT")
                done += 1
            except psycopg.errors.SerializationFailure:
                conn.execute("ROLLBACK")
                retries[i] += 1

    connections = [conns() for _ in range(clients)]
    threads = [threading.Thread(target=worker, args=(i, c), daemon=True) for i, c in enumerate(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive()
    assert _value(connections[0], table, 1) == clients * each


def test_refresh_refused_when_a_read_row_changed(conns, table) -> None:
    older, younger, other = conns(), conns(), conns()
    older.execute("BEGIN")
    older.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 1", prepare=True)
    _begin_with_read(younger, table, 2)
    other.execute(f"UPDATE {table} SET n = 100 WHERE id = 2")  # what the younger one read changes
    _refused_after_the_wait(older, younger, table)
    assert _value(older, table, 1) == 1


def test_refresh_refused_when_a_scanned_range_changed(conns, table) -> None:
    older, younger, other = conns(), conns(), conns()
    older.execute("BEGIN")
    older.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 1", prepare=True)
    younger.execute("BEGIN")
    assert younger.execute(f"SELECT count(*) FROM {table} WHERE id >= 3").fetchone() == (2,)
    other.execute(f"INSERT INTO {table} VALUES (5, 0)")  # a new row in the range it scanned
    _refused_after_the_wait(older, younger, table)


def test_refresh_after_an_unchanged_scan_commits(conns, table) -> None:
    older, younger = conns(), conns()
    older.execute("BEGIN")
    older.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 1", prepare=True)
    younger.execute("BEGIN")
    assert younger.execute(f"SELECT count(*) FROM {table} WHERE id >= 3").fetchone() == (2,)
    waiter = Background(younger, _increment(table, 1))
    assert waiter.waiting()
    older.execute("COMMIT")
    assert waiter.result() == ("ok", None)
    assert _value(older, table, 1) == 2


def test_refresh_refused_when_the_catalog_changed(conns, table) -> None:
    older, younger, other = conns(), conns(), conns()
    older.execute("BEGIN")
    older.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 1", prepare=True)
    _begin_with_read(younger, table, 2)
    ddl_table = unique_name("hot_ddl")
    other.execute(f"CREATE TABLE {ddl_table} (id int PRIMARY KEY)")  # a new catalog version
    try:
        outcome = _refused_after_the_wait(older, younger, table)
        assert "OC001" in outcome[2], outcome  # DSQL's schema conflict
    finally:
        other.execute(f"DROP TABLE {ddl_table}")


def test_opposite_orders_end_without_deadlock(conns, table) -> None:
    first, second = conns(), conns()
    first.execute("BEGIN")
    first.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 1", prepare=True)  # holds row 1
    second.execute("BEGIN")
    second.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 2", prepare=True)  # holds row 2
    # The first waits for the second's row 2...
    first_writes = Background(first, _increment(table, 2))
    assert first_writes.waiting()
    # ...so the second waiting for the first's row 1 would close a cycle: it goes on at once.
    second_writes = Background(second, _increment(table, 1))
    second_outcome = second_writes.result(RELEASED_WITHIN_S)
    first_outcome = first_writes.result()
    outcomes = [first_outcome[:2], second_outcome[:2]]
    assert outcomes.count(("ok", None)) >= 1 and all(o in (("ok", None), ("error", "40001")) for o in outcomes)
    for conn, outcome in ((first, first_outcome), (second, second_outcome)):
        if outcome[0] == "error":
            conn.execute("ROLLBACK")
    committed = outcomes.count(("ok", None))
    assert _value(first, table, 1) + _value(first, table, 2) == 2 * committed


@pytest.mark.parametrize("end", ["rollback", "error", "kill", "close"])
def test_an_ended_transaction_releases_its_intents(conns, table, end: str) -> None:
    holder, waiting = conns(), conns()
    holder.execute("BEGIN")
    holder.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 1", prepare=True)
    _begin_with_read(waiting, table, 2)
    waiter = Background(waiting, _increment(table, 1))
    assert waiter.waiting()
    if end == "rollback":
        holder.execute("ROLLBACK")
    elif end == "error":
        with pytest.raises(psycopg.errors.DivisionByZero):
            holder.execute("SELECT 1 / 0")  # the block fails: it can never commit
    elif end == "kill":
        # The client vanishes: the server sees the socket close, without a Terminate.
        socket.socket(fileno=holder.fileno()).shutdown(socket.SHUT_RDWR)
    else:
        holder.close()
    assert waiter.result() == ("ok", None)
    assert waiter.elapsed_s < STILL_WAITING_S + RELEASED_WITHIN_S, "the waiter waited out the bound"
    # And nothing is left behind: a new writer of the row does not wait either.
    later = conns()
    later.execute("BEGIN")
    started = time.monotonic()
    later.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 1", prepare=True)
    assert time.monotonic() - started < RELEASED_WITHIN_S
    later.execute("COMMIT")
    assert _value(later, table, 1) == 2


def test_a_block_that_goes_on_after_rollback_to_leaves_no_intent(conns, table) -> None:
    # An error releases the block's intents (it cannot commit as it stands), but ROLLBACK TO
    # SAVEPOINT lets it go on writing: those writes must not claim keys that nothing would
    # release (found as each later writer of the rows waiting out the bound).
    holder, later = conns(), conns()
    holder.execute("BEGIN")
    holder.execute("SAVEPOINT step")
    with pytest.raises(psycopg.errors.DivisionByZero):
        holder.execute("SELECT 1 / 0")
    holder.execute("ROLLBACK TO SAVEPOINT step")
    holder.execute(f"UPDATE {table} SET n = n + 1 WHERE id = %s", (3,), prepare=True)
    holder.execute("ROLLBACK")
    later.execute("BEGIN")
    started = time.monotonic()
    later.execute(f"UPDATE {table} SET n = n + 1 WHERE id = %s", (3,), prepare=True)
    assert time.monotonic() - started < RELEASED_WITHIN_S, "a rolled-back block's intent was left behind"
    later.execute("COMMIT")
    assert _value(later, table, 3) == 1


def test_hot_row_wait_off_is_optimistic(conns, table) -> None:
    older, younger = conns(hot=False), conns(hot=False)
    assert younger.execute("SHOW dsql.hot_row_wait").fetchone() == ("off",)
    older.execute("BEGIN")
    older.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 1", prepare=True)
    _begin_with_read(younger, table, 2)
    # No wait: the statement runs at once, on the row as of its snapshot.
    younger.execute(f"UPDATE {table} SET n = n + 1 WHERE id = %s", (1,), prepare=True)
    older.execute("COMMIT")
    with pytest.raises(psycopg.errors.SerializationFailure) as failure:
        younger.execute("COMMIT")
    assert "OC000" in str(failure.value)
    assert _value(older, table, 1) == 1


def test_hot_row_wait_is_on_unless_turned_off(dsql_server) -> None:
    # Writers of a row take turns by default (as PostgreSQL's do); off is DSQL's pure
    # optimistic concurrency.
    with psycopg.connect(dsql_server.dsn, autocommit=True) as conn:
        assert conn.execute("SHOW dsql.hot_row_wait").fetchone() == ("on",)


def test_hot_row_wait_setting(conns) -> None:
    conn = conns()
    assert conn.execute("SHOW dsql.hot_row_wait").fetchone() == ("on",)  # as connected (-c)
    conn.execute("SET dsql.hot_row_wait = off")
    assert conn.execute("SHOW dsql.hot_row_wait").fetchone() == ("off",)
    conn.execute("RESET dsql.hot_row_wait")
    assert conn.execute("SHOW dsql.hot_row_wait").fetchone() == ("on",)  # the connection's own default
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SET dsql.hot_row_wait = maybe")


# -- the intent table alone (qp/txn/intents.py), with fake transactions under trio -----------------


class _Txn:
    def __init__(self, age: int) -> None:
        self.intent_age = (age, 0)
        self.intent_keys: list[bytes] = []
        self.intent_waiting = None


async def _claim_into(claims: dict[str, object], name: str, table: IntentTable, key: bytes, txn: _Txn) -> None:
    """`txn` claims `key` (in a task of its own: it may wait); the outcome lands in `claims[name]`."""
    claims[name] = await table.claim(key, txn)


async def test_intent_table_hands_a_key_to_the_oldest_waiter() -> None:
    table = IntentTable()
    holder, young, old = _Txn(1), _Txn(30), _Txn(20)
    assert (await table.claim(b"k", holder)).held
    claims: dict[str, object] = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_claim_into, claims, "young", table, b"k", young)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(_claim_into, claims, "old", table, b"k", old)
        await trio.testing.wait_all_tasks_blocked()
        table.release(holder, 123)  # committed at 123: the oldest waiter gets the key
        await trio.testing.wait_all_tasks_blocked()
        assert table.holder(b"k") is old and "young" not in claims
        table.release(old, None)
    assert claims["old"].held and claims["old"].tau_committed == 123
    assert claims["young"].held and table.holder(b"k") is young
    table.release(young, None)
    assert len(table) == 0 and young.intent_keys == []


async def test_intent_table_refuses_a_wait_that_closes_a_cycle_and_bounds_every_wait() -> None:
    table = IntentTable(wait_s_max=0.05)
    a, b = _Txn(1), _Txn(2)
    assert (await table.claim(b"x", a)).held and (await table.claim(b"y", b)).held
    async with trio.open_nursery() as nursery:
        outcome: list = []

        async def a_wants_y() -> None:
            outcome.append(await table.claim(b"y", a))

        nursery.start_soon(a_wants_y)
        await trio.testing.wait_all_tasks_blocked()
        cycle = await table.claim(b"x", b)  # b waits for a, which waits for b: refused at once
        assert not cycle.held and not cycle.waited
    timed_out = outcome[0]  # nobody released y: a's wait ran out at the bound
    assert not timed_out.held and timed_out.waited
    assert table.holder(b"y") is b and a.intent_waiting is None


async def test_a_key_handed_over_is_not_a_cycle_before_its_new_holder_runs() -> None:
    # The bug TPC-B at scale 8 found: `release` hands the key to the oldest waiter, which
    # runs later; until then the new holder still looked like a waiter on that very key,
    # so the next writer of it followed holder -> its wait -> itself round and round, took
    # the loop for a cycle, went on without waiting, and lost at COMMIT (OC000, "pending").
    table = IntentTable()
    holder, waiter, newcomer = _Txn(1), _Txn(2), _Txn(3)
    assert (await table.claim(b"branch", holder)).held
    claims: dict[str, object] = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_claim_into, claims, "waiter", table, b"branch", waiter)
        await trio.testing.wait_all_tasks_blocked()
        table.release(holder, 7)  # the waiter holds the key now, though its task has not run
        assert table.holder(b"branch") is waiter and waiter.intent_waiting is None
        nursery.start_soon(_claim_into, claims, "newcomer", table, b"branch", newcomer)  # queues behind it
        await trio.testing.wait_all_tasks_blocked()
        assert "newcomer" not in claims and claims["waiter"].held
        table.release(waiter, 9)
    assert claims["newcomer"].held and claims["newcomer"].waited and claims["newcomer"].tau_committed == 9
    table.release(newcomer, None)
    assert len(table) == 0
