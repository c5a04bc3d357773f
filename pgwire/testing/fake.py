"""A scripted fake QP: a `qp.api.SessionFactory` for protocol tests and demos.

`FakeSessionFactory` understands a dozen fixed statements (`SELECT 1`,
`SELECT $1::int`, `generate_series`, BEGIN / COMMIT / ROLLBACK, a division by
zero, `pg_sleep` that a CancelRequest interrupts, a crash, a FATAL error) with
PostgreSQL's transaction and portal rules. It pins down what the protocol
layer must do with real clients before the real QP exists, and lets anyone
run `pgwire.serve` with something behind it. Every session records the calls
pgwire made to it, in order, in `calls`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field

import trio

from qp import api
from qp.api import Column, TransactionStatus
from qp.errors import SqlError

# --- a scripted fake QP --------------------------------------------------------------

INT2, INT4, INT8, TEXT, VOID, UNKNOWN = 21, 23, 20, 25, 2278, 0
_TYPE_LEN = {INT4: 4, TEXT: -1, VOID: 4}

STARTUP_PARAMETERS = {
    "server_version": "16.4",
    "server_encoding": "UTF8",
    "client_encoding": "UTF8",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "TimeZone": "UTC",
    "integer_datetimes": "on",
    "standard_conforming_strings": "on",
    "application_name": "",
    "is_superuser": "on",
    "session_authorization": "tester",
    "default_transaction_read_only": "off",
    "in_hot_standby": "off",
}


@dataclass
class _Plan:
    """What the fake knows about one statement: its parameters, columns and how to run it."""

    kind: str
    param_oids: list[int]
    columns: list[tuple[str, int]] | None
    argument: int | float | str | None = None


_SERIES = re.compile(r"select generate_series\(1,\s*(\d+)\)")
_SLEEP = re.compile(r"select pg_sleep\(([\d.]+)\)")
_INSERT = re.compile(r"insert into t values \((\$1|-?\d+)\)")
_SET = re.compile(r"set (\w+)\s*(?:=|to)\s*'?([^']*)'?")


def _plan(sql: str) -> _Plan:
    s = " ".join(sql.strip().rstrip(";").split()).lower()
    if s == "":
        return _Plan("empty", [], None)
    if re.fullmatch(r"select -?\d+", s):
        return _Plan("constant", [], [("?column?", INT4)], int(s.split()[1]))
    if s in ("select $1::int", "select $1::int4", "select $1::integer"):
        return _Plan("echo", [INT4], [("int4", INT4)])
    if s in ("select $1", "select $1::text"):
        return _Plan("echo", [TEXT], [("?column?" if s == "select $1" else "text", TEXT)])
    if match := _SERIES.fullmatch(s):
        return _Plan("series", [], [("generate_series", INT4)], int(match[1]))
    if match := _SLEEP.fullmatch(s):
        return _Plan("sleep", [], [("pg_sleep", VOID)], float(match[1]))
    if match := _INSERT.fullmatch(s):
        return _Plan("insert", [INT4] if match[1] == "$1" else [], None, match[1])
    if s == "select * from t":
        return _Plan("scan", [], [("x", INT4)])
    if s in ("begin", "start transaction", "commit", "end", "rollback", "abort"):
        return _Plan(s, [], None)
    if s == "select 1/0":
        return _Plan("divide_by_zero", [], [("?column?", INT4)])
    if s == "select crash()":
        return _Plan("crash", [], [("crash", INT4)])
    if s == "select fatal()":
        return _Plan("fatal", [], None)
    if s == "select notice()":
        return _Plan("notice", [], [("notice", TEXT)])
    if match := _SET.fullmatch(s):
        return _Plan("set", [], None, f"{match[1]}={match[2]}")
    word = s.split()[0]
    raise SqlError("42601", f'syntax error at or near "{word}"', position=sql.lower().find(word) + 1)


def _encode(value: object, oid: int, fmt: int) -> bytes | None:
    if value is None:
        return None
    if fmt == api.FORMAT_BINARY:
        if oid == INT4:
            return struct.pack("!i", value)
        if oid == VOID:
            return b""
        return str(value).encode()
    return str(value).encode()


def _decode(data: bytes | None, oid: int, fmt: int) -> object:
    if data is None:
        return None
    if fmt == api.FORMAT_BINARY:
        if oid in (INT2, INT4, INT8):
            return int.from_bytes(data, "big", signed=True)
        return data.decode()
    text = data.decode()
    return int(text) if oid in (INT2, INT4, INT8) else text


def _formats(codes: list[int], count: int) -> list[int]:
    """Expand Bind format codes: none means all text, one applies to all, else one each."""
    if not codes:
        return [api.FORMAT_TEXT] * count
    if len(codes) == 1:
        return codes * count
    return codes


@dataclass
class _Statement:
    plan: _Plan
    param_oids: list[int]


@dataclass
class _Portal:
    statement: _Statement
    params: list[object]
    formats: list[int]
    items: list[object] | None = None  # rows and events, from the first Execute
    position: int = 0


@dataclass
class FakeSessionFactory:
    """Sessions for protocol tests; `table` is shared by all of them (INSERT / SELECT * FROM t)."""

    sessions: dict[int, FakeSession] = field(default_factory=dict)  # open ones, by process id
    history: list[FakeSession] = field(default_factory=list)  # every session ever opened, in order
    table: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    startups: list[dict[str, str]] = field(default_factory=list)
    refuse: SqlError | None = None  # raised by open_session
    close_delay_s: float = 0.0  # how long session.close() takes
    idle_limit: tuple[float, SqlError] | None = None  # what every session's idle_limit() answers
    roles: dict[str, api.LoginRole] = field(default_factory=dict)  # what find_role knows
    _next_pid: int = 1000

    async def find_role(self, user: str) -> api.LoginRole | None:
        return self.roles.get(user)

    async def open_session(self, startup: dict[str, str], client: api.ClientAddress | None = None) -> FakeSession:
        if self.refuse is not None:
            raise self.refuse
        self.startups.append(startup)
        self._next_pid += 1
        session = FakeSession(self, self._next_pid, 0xDEAD0000 + self._next_pid)
        self.sessions[session.process_id] = session
        self.history.append(session)
        return session

    def cancel(self, process_id: int, secret_key: int) -> None:
        session = self.sessions.get(process_id)
        if session is not None and session.secret_key == secret_key:
            session.cancel()


class FakeSession:
    def __init__(self, factory: FakeSessionFactory, process_id: int, secret_key: int) -> None:
        self.factory = factory
        self.process_id = process_id
        self.secret_key = secret_key
        self.status = TransactionStatus.IDLE
        self.implicit_failed = False  # an error in an extended batch outside a block, until Sync
        self.statements: dict[str, _Statement] = {}
        self.portals: dict[str, _Portal] = {}
        self.sleeping = trio.Event()  # set when a pg_sleep starts (tests wait for it before cancelling)
        self.calls: list[tuple[object, ...]] = []  # (method, arguments...) in the order pgwire called them
        self.sync_error: SqlError | None = None  # raised by the next sync() (e.g. a commit conflict)
        self._cancel_scope: trio.CancelScope | None = None
        self._cancel_requested = False
        self.terminate: Callable[[], None] | None = None  # set by pgwire (on_terminate)

    def startup_parameters(self) -> dict[str, str]:
        return dict(STARTUP_PARAMETERS)

    @property
    def transaction_status(self) -> TransactionStatus:
        return self.status

    def parameter_changes(self) -> list[api.ParameterStatus]:
        return []  # this fake reports its changes as events instead

    def _fail(self) -> None:
        if self.status is TransactionStatus.IN_BLOCK:
            self.status = TransactionStatus.FAILED
        else:
            self.implicit_failed = True

    # -- running one statement --

    async def _run(self, plan: _Plan, params: list[object], formats: list[int]) -> AsyncIterator[object]:
        """Yields ("tag", str), ("notice", Notice), ("status", ParameterStatus), ("empty", None) or rows."""
        if self.status is TransactionStatus.FAILED and plan.kind not in ("commit", "end", "rollback", "abort"):
            raise SqlError("25P02", "current transaction is aborted, commands ignored until end of transaction block")
        kind = plan.kind
        if kind == "empty":
            yield ("empty", None)
        elif kind == "constant":
            yield [plan.argument]
            yield ("tag", "SELECT 1")
        elif kind == "echo":
            yield [params[0]]
            yield ("tag", "SELECT 1")
        elif kind == "series":
            for i in range(1, int(plan.argument) + 1):
                yield [i]
            yield ("tag", f"SELECT {plan.argument}")
        elif kind == "scan":
            for value in list(self.factory.table):
                yield [value]
            yield ("tag", f"SELECT {len(self.factory.table)}")
        elif kind == "sleep":
            await self._sleep(float(plan.argument))
            yield [""]
            yield ("tag", "SELECT 1")
        elif kind == "insert":
            self.factory.table.append(int(params[0] if plan.argument == "$1" else plan.argument))
            yield ("tag", "INSERT 0 1")
        elif kind in ("begin", "start transaction"):
            if self.status is TransactionStatus.IN_BLOCK:
                yield ("notice", api.Notice("there is already a transaction in progress", "25001", "WARNING"))
            self.status = TransactionStatus.IN_BLOCK
            yield ("tag", "BEGIN")
        elif kind in ("commit", "end"):
            failed = self.status is TransactionStatus.FAILED
            self._end_transaction()
            yield ("tag", "ROLLBACK" if failed else "COMMIT")
        elif kind in ("rollback", "abort"):
            self._end_transaction()
            yield ("tag", "ROLLBACK")
        elif kind == "divide_by_zero":
            raise SqlError("22012", "division by zero")
        elif kind == "crash":
            raise RuntimeError("the fake QP crashed")
        elif kind == "fatal":
            raise SqlError("57P01", "terminating connection due to administrator command", severity="FATAL")
        elif kind == "notice":
            yield ("notice", api.Notice("hello from the fake", "00000", "NOTICE", detail="a detail"))
            yield ("status", api.ParameterStatus("application_name", "noticed"))
            yield ["noticed"]
            yield ("tag", "SELECT 1")
        elif kind == "set":
            name, value = str(plan.argument).split("=", 1)
            if name == "application_name":
                yield ("status", api.ParameterStatus(name, value))
            yield ("tag", "SET")
        else:  # pragma: no cover - _plan only makes the kinds above
            raise AssertionError(kind)

    async def _sleep(self, seconds: float) -> None:
        with trio.CancelScope() as scope:
            self._cancel_scope = scope
            if self._cancel_requested:
                scope.cancel()
            self.sleeping.set()
            await trio.sleep(seconds)
        self._cancel_scope = None
        self._cancel_requested = False
        if scope.cancelled_caught:
            raise SqlError("57014", "canceling statement due to user request")

    def _end_transaction(self) -> None:
        self.status = TransactionStatus.IDLE
        self.implicit_failed = False
        self.portals.clear()

    def _events(self, columns: list[tuple[str, int]] | None, formats: list[int]) -> list[Column]:
        return [
            Column(name, oid, _TYPE_LEN[oid], format=fmt)
            for (name, oid), fmt in zip(columns or [], formats, strict=False)
        ]

    # -- simple query --

    async def simple_query(self, sql: str) -> AsyncIterator[api.Event]:
        self.calls.append(("simple_query", sql))
        statements = [s for s in sql.split(";") if s.strip()] or [""]
        for text in statements:
            try:
                plan = _plan(text)
                if self.status is TransactionStatus.FAILED and plan.kind not in ("commit", "end", "rollback", "abort"):
                    self._check_failed_block()
                if plan.kind == "divide_by_zero":  # PostgreSQL folds 1/0 while planning, before any row
                    raise SqlError("22012", "division by zero")
                formats = [api.FORMAT_TEXT] * len(plan.columns or [])
                if plan.columns is not None:
                    yield api.RowDescription(self._events(plan.columns, formats))
                rows: list[list[bytes | None]] = []
                async with aclosing(self._run(plan, [], formats)) as run:
                    async for item in run:
                        if isinstance(item, list):
                            rows.append(
                                [_encode(v, oid, f) for v, (_, oid), f in zip(item, plan.columns, formats, strict=True)]
                            )
                            continue
                        if rows:
                            yield api.DataRows(rows)
                            rows = []
                        yield self._event(item)
            except Exception:
                self._fail()
                if self.status is not TransactionStatus.FAILED:
                    self._end_transaction()
                raise

    def _event(self, item: tuple[str, object]) -> api.Event:
        what, value = item
        if what == "tag":
            return api.CommandComplete(str(value))
        if what == "empty":
            return api.EmptyQuery()
        assert isinstance(value, api.Notice | api.ParameterStatus)
        return value

    # -- extended query --

    def _check_failed_block(self) -> None:
        if self.status is TransactionStatus.FAILED:
            raise SqlError("25P02", "current transaction is aborted, commands ignored until end of transaction block")

    async def parse(self, name: str, sql: str, param_oids: list[int]) -> None:
        self.calls.append(("parse", name, sql, param_oids))
        try:
            if ";" in sql.strip().rstrip(";"):
                raise SqlError("42601", "cannot insert multiple commands into a prepared statement")
            plan = _plan(sql)
            if plan.kind not in ("commit", "end", "rollback", "abort"):
                self._check_failed_block()
        except SqlError:
            self._fail()
            raise
        oids = list(plan.param_oids)
        for i, oid in enumerate(param_oids[: len(oids)]):
            if oid != UNKNOWN:
                oids[i] = oid
        self.statements[name] = _Statement(plan, oids)

    def describe_statement(self, name: str) -> api.StatementDescription:
        self.calls.append(("describe_statement", name))
        statement = self._statement(name)
        columns = statement.plan.columns
        return api.StatementDescription(
            statement.param_oids, None if columns is None else self._events(columns, [0] * len(columns))
        )

    def _statement(self, name: str) -> _Statement:
        if name not in self.statements:
            self._fail()
            raise SqlError("26000", f'prepared statement "{name}" does not exist')
        return self.statements[name]

    async def bind(
        self, portal: str, statement: str, param_formats: list[int], params: list[bytes | None],
        result_formats: list[int],
    ) -> None:
        self.calls.append(("bind", portal, statement, param_formats, params, result_formats))
        stmt = self._statement(statement)
        try:
            if len(params) != len(stmt.param_oids):
                raise SqlError(
                    "08P01",
                    f'bind message supplies {len(params)} parameters, but prepared statement "{statement}" '
                    f"requires {len(stmt.param_oids)}",
                )
            ncolumns = len(stmt.plan.columns or [])
            if len(result_formats) > 1 and len(result_formats) != ncolumns:
                raise SqlError(
                    "08P01", f"bind message has {len(result_formats)} result formats but query has {ncolumns} columns"
                )
            pformats = _formats(param_formats, len(params))
            values = [_decode(p, oid, f) for p, oid, f in zip(params, stmt.param_oids, pformats, strict=True)]
        except (SqlError, ValueError, UnicodeDecodeError) as exc:
            self._fail()
            if isinstance(exc, SqlError):
                raise
            raise SqlError("22P02", f"invalid input syntax: {exc}") from None
        self.portals[portal] = _Portal(stmt, values, _formats(result_formats, ncolumns))

    def describe_portal(self, portal: str) -> list[Column] | None:
        self.calls.append(("describe_portal", portal))
        p = self._portal(portal)
        columns = p.statement.plan.columns
        return None if columns is None else self._events(columns, p.formats)

    def _portal(self, name: str) -> _Portal:
        if name not in self.portals:
            self._fail()
            raise SqlError("34000", f'portal "{name}" does not exist')
        return self.portals[name]

    async def execute(self, portal: str, max_rows: int) -> AsyncIterator[api.Event]:
        self.calls.append(("execute", portal, max_rows))
        p = self._portal(portal)
        plan = p.statement.plan
        try:
            if p.items is None:  # the first Execute runs the statement; later ones page through it
                items: list[object] = []
                async with aclosing(self._run(plan, p.params, p.formats)) as run:
                    async for item in run:
                        items.append(item)
                p.items = items
        except Exception:
            self._fail()
            raise
        batch: list[list[bytes | None]] = []
        count = 0  # rows sent by this Execute: what PostgreSQL's tag counts
        while p.position < len(p.items):
            if max_rows and count == max_rows:
                yield api.DataRows(batch)
                yield api.PortalSuspended()
                return
            item = p.items[p.position]
            p.position += 1
            if isinstance(item, list):
                batch.append([_encode(v, oid, f) for v, (_, oid), f in zip(item, plan.columns, p.formats, strict=True)])
                count += 1
                continue
            if batch:
                yield api.DataRows(batch)
                batch = []
            if item[0] == "tag" and plan.columns is not None:
                item = ("tag", f"SELECT {count}")
            yield self._event(item)
            if item[0] in ("tag", "empty"):
                return
        yield api.CommandComplete(f"SELECT {count}")  # run to the end by an earlier Execute

    def close_statement(self, name: str) -> None:
        self.calls.append(("close_statement", name))
        self.statements.pop(name, None)

    def close_portal(self, name: str) -> None:
        self.calls.append(("close_portal", name))
        self.portals.pop(name, None)

    async def sync(self) -> None:
        self.calls.append(("sync",))
        if self.sync_error is not None:
            error, self.sync_error = self.sync_error, None
            self.status = TransactionStatus.IDLE
            self.portals.clear()
            raise error
        if self.status is TransactionStatus.IDLE:
            self.implicit_failed = False
            self.portals.clear()  # the implicit transaction ends, and its portals with it

    def mark_failed(self) -> None:
        self.calls.append(("mark_failed",))
        self._fail()

    # -- lifecycle --

    def cancel(self) -> None:
        self.calls.append(("cancel",))
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()
        else:
            self._cancel_requested = True

    def on_terminate(self, callback: Callable[[], None]) -> None:
        self.terminate = callback  # tests end the connection as pg_terminate_backend() would

    def idle_limit(self) -> tuple[float, SqlError] | None:
        return self.factory.idle_limit

    async def close(self) -> None:
        self.calls.append(("close",))
        await trio.sleep(self.factory.close_delay_s)
        self.factory.closed.append(self.process_id)
        self.factory.sessions.pop(self.process_id, None)
