"""A libpq session that shows exactly what the server sent and never hangs.

The differential and isolation tests need three things ordinary client APIs
hide: the exact text of every value (no type adaptation), the SQLSTATE of every
error, and a hard limit on how long a statement may take (dsql must never block
on another transaction, so a statement that does not answer within a few
seconds is a failure, not a hang). psycopg's ``pq`` layer is libpq itself, so
this wrapper sends a statement, waits on the socket with a deadline and reads
the raw results.

``protocol="simple"`` sends a Query message (as psql does); ``"extended"``
sends Parse/Bind/Describe/Execute/Sync with no parameters and text results (as
psycopg 3 and asyncpg do).
"""

from __future__ import annotations

import select
import time
from dataclasses import dataclass, field

from psycopg import pq
from psycopg.conninfo import make_conninfo

STATEMENT_TIMEOUT_S = 30.0  # a statement slower than this is reported as blocked
CONNECT_TIMEOUT_S = 10


class SqlError(Exception):
    """The server answered a statement with an ErrorResponse."""

    def __init__(self, sqlstate: str | None, message: str, severity: str = "ERROR", detail: str = ""):
        super().__init__(f"{severity} {sqlstate}: {message}")
        self.sqlstate = sqlstate
        self.message = message
        self.severity = severity
        self.detail = detail


class ConnectionLost(SqlError):
    """The connection broke while a statement ran (server died or closed it)."""

    def __init__(self, message: str):
        super().__init__(None, message, severity="FATAL")


class StatementTimeout(AssertionError):
    """A statement did not answer in time; for dsql this means it blocked."""


@dataclass
class Result:
    """One statement's outcome when it succeeded, as the server sent it."""

    tag: str
    columns: list[str] = field(default_factory=list)
    type_oids: list[int] = field(default_factory=list)
    rows: list[tuple[str | None, ...]] = field(default_factory=list)

    def scalar(self) -> str | None:
        assert len(self.rows) == 1 and len(self.rows[0]) == 1, f"expected one value, got {self.rows!r}"
        return self.rows[0][0]


def _decode(value: bytes | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", errors="backslashreplace")


def _field(res: pq.PGresult, code: pq.DiagnosticField) -> str:
    value = res.error_field(code)
    return value.decode("utf-8", errors="replace") if value else ""


class Session:
    """One connection, in autocommit unless the statements say BEGIN."""

    def __init__(self, dsn: str, *, timeout_s: float = STATEMENT_TIMEOUT_S, protocol: str = "simple"):
        assert protocol in ("simple", "extended"), protocol
        self.dsn = dsn
        self.timeout_s = timeout_s
        self.protocol = protocol
        self.notices: list[str] = []
        self._finished = False
        conninfo = make_conninfo(dsn, connect_timeout=CONNECT_TIMEOUT_S)
        self.pgconn = pq.PGconn.connect(conninfo.encode())
        if self.pgconn.status != pq.ConnStatus.OK:
            message = self.pgconn.get_error_message()
            self.pgconn.finish()
            raise ConnectionLost(f"cannot connect to {dsn}: {message}")
        self.pgconn.notice_handler = self._on_notice

    def _on_notice(self, res: pq.PGresult) -> None:
        self.notices.append(_field(res, pq.DiagnosticField.MESSAGE_PRIMARY))

    # -- lifecycle ---------------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._finished or self.pgconn.status != pq.ConnStatus.OK

    def close(self) -> None:
        if not self._finished:
            self._finished = True
            self.pgconn.finish()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def transaction_status(self) -> pq.TransactionStatus:
        return self.pgconn.transaction_status

    # -- statements --------------------------------------------------------------------------------------

    def run(
        self, sql: str, *, protocol: str | None = None, timeout_s: float | None = None
    ) -> Result | SqlError:
        """Run one statement; return its Result or the SqlError (never raises SqlError)."""
        try:
            return self.execute(sql, protocol=protocol, timeout_s=timeout_s)
        except SqlError as error:
            return error

    def execute(self, sql: str, *, protocol: str | None = None, timeout_s: float | None = None) -> Result:
        """Run one statement (or, with the simple protocol, several) and return the last Result.

        Raises SqlError for an ErrorResponse, ConnectionLost if the connection broke and
        StatementTimeout if the server did not answer within the timeout.
        """
        protocol = protocol or self.protocol
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        if self.closed:
            raise ConnectionLost("connection is closed")
        query = sql.encode("utf-8", errors="surrogateescape")
        try:
            if protocol == "simple":
                self.pgconn.send_query(query)
            else:
                self.pgconn.send_query_params(query, None, result_format=pq.Format.TEXT)
        except Exception as exc:  # psycopg.OperationalError: the connection is gone
            raise ConnectionLost(f"could not send: {exc}") from exc
        results = self._collect(timeout_s, sql)
        error: SqlError | None = None
        last: Result | None = None
        for res in results:
            status = res.status
            if status in (pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.NONFATAL_ERROR):
                sqlstate = _field(res, pq.DiagnosticField.SQLSTATE) or None
                message = _field(res, pq.DiagnosticField.MESSAGE_PRIMARY) or res.get_error_message()
                severity = _field(res, pq.DiagnosticField.SEVERITY_NONLOCALIZED) or "ERROR"
                if sqlstate is None and self.pgconn.status != pq.ConnStatus.OK:
                    error = error or ConnectionLost(message.strip())
                else:
                    detail = _field(res, pq.DiagnosticField.MESSAGE_DETAIL)
                    error = error or SqlError(sqlstate, message, severity, detail)
            elif status in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK, pq.ExecStatus.EMPTY_QUERY):
                last = self._to_result(res)
            else:
                error = error or SqlError(None, f"unexpected result status {status.name}")
        if error is not None:
            raise error
        if last is None:
            if self.pgconn.status != pq.ConnStatus.OK:
                raise ConnectionLost(self.pgconn.get_error_message().strip() or "connection lost")
            raise SqlError(None, "server sent no result")
        return last

    def query(self, sql: str, **kwargs: object) -> list[tuple[str | None, ...]]:
        """Rows of a statement that must succeed."""
        return self.execute(sql, **kwargs).rows  # type: ignore[arg-type]

    def scalar(self, sql: str, **kwargs: object) -> str | None:
        return self.execute(sql, **kwargs).scalar()  # type: ignore[arg-type]

    # -- internals ---------------------------------------------------------------------------------------

    def _collect(self, timeout_s: float, sql: str) -> list[pq.PGresult]:
        pgconn = self.pgconn
        deadline = time.monotonic() + timeout_s
        results: list[pq.PGresult] = []
        while True:
            while pgconn.is_busy():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._abandon()
                    raise StatementTimeout(
                        f"statement did not complete within {timeout_s:.1f} s (blocked?): {sql[:200]}"
                    )
                readable, _, _ = select.select([pgconn.socket], [], [], min(remaining, 1.0))
                if readable:
                    try:
                        pgconn.consume_input()
                    except Exception as exc:  # psycopg.OperationalError: server went away
                        raise ConnectionLost(str(exc).strip()) from exc
            res = pgconn.get_result()
            if res is None:
                return results
            results.append(res)
            if pgconn.status != pq.ConnStatus.OK:
                return results

    def _abandon(self) -> None:
        """After a timeout the connection's state is unknown: close it.

        No CancelRequest: libpq waits for the server to close the cancel connection, and a
        server under test that mishandles it would turn a failed test into a hung one.
        """
        self.close()

    @staticmethod
    def _to_result(res: pq.PGresult) -> Result:
        columns = [_decode(res.fname(i)) or "" for i in range(res.nfields)]
        type_oids = [res.ftype(i) for i in range(res.nfields)]
        rows = [tuple(_decode(res.get_value(r, c)) for c in range(res.nfields)) for r in range(res.ntuples)]
        tag = _decode(res.command_status) or ""
        return Result(tag=tag, columns=columns, type_oids=type_oids, rows=rows)


def connect(dsn: str, **kwargs: object) -> Session:
    return Session(dsn, **kwargs)  # type: ignore[arg-type]
