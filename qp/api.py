"""The seam between the PostgreSQL protocol (`pgwire/`) and the query processor.

`pgwire` owns bytes, framing and the protocol's phases; the QP owns SQL,
sessions, transactions and the encoding of values. Across this seam pass only
the objects below: the protocol server calls a `Session`'s methods in the order
messages arrive and turns the `Event`s it gets back into backend messages.

Why the QP encodes result values (rather than pgwire): the encoding of a value
depends on its SQL type and on the format the client bound, and the QP already
has both when it builds a portal; it can pick one encoder per column once, so
the per-row work is a list of calls. pgwire only frames the bytes.

Errors: every method may raise `qp.errors.SqlError`. After an error the
session has already put its transaction in the right state (aborted implicit
transaction, or FAILED inside a block); pgwire sends the ErrorResponse and, in
the extended protocol, skips messages until Sync.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class TransactionStatus(enum.Enum):
    """The status byte of ReadyForQuery."""

    IDLE = b"I"
    IN_BLOCK = b"T"
    FAILED = b"E"


FORMAT_TEXT = 0
FORMAT_BINARY = 1


@dataclass(frozen=True, slots=True)
class Column:
    """One field of a RowDescription."""

    name: str
    type_oid: int
    type_len: int  # pg_type.typlen: -1 for variable length, -2 for cstring
    type_mod: int = -1
    table_oid: int = 0
    column_number: int = 0
    format: int = FORMAT_TEXT


# --- events a statement produces, in the order the client must see them -----

@dataclass(slots=True)
class RowDescription:
    columns: list[Column]


@dataclass(slots=True)
class DataRows:
    """Rows already encoded in the formats of their columns (None is SQL NULL)."""

    rows: list[list[bytes | None]]


@dataclass(slots=True)
class CommandComplete:
    tag: str  # exact PostgreSQL command tag, e.g. "INSERT 0 3", "SELECT 1", "BEGIN"


@dataclass(slots=True)
class EmptyQuery:
    pass


@dataclass(slots=True)
class PortalSuspended:
    pass


@dataclass(slots=True)
class Notice:
    message: str
    sqlstate: str = "00000"
    severity: str = "NOTICE"
    detail: str | None = None
    hint: str | None = None


@dataclass(slots=True)
class ParameterStatus:
    """A reported setting changed (SET TimeZone, SET application_name, ...)."""

    name: str
    value: str


# --- COPY ---------------------------------------------------------------------
#
# COPY FROM STDIN: the statement's events include one `CopyInResponse`. pgwire
# sends it, then feeds the client's CopyData, CopyDone or CopyFail into its
# `sink` (in order, awaiting each call) before it takes the next event. A
# method that raises SqlError ends the COPY with that error (pgwire sends it and
# drops whatever copy data the client still sends, as PostgreSQL does); the
# event stream is then closed, which is how the session learns of it.
#
# COPY TO STDOUT: `CopyOutResponse`, then `CopyData` events (each chunk is one
# CopyData message: PostgreSQL sends one per row, and psycopg parses each
# message as one row), then `CopyDone`, then CommandComplete "COPY n".


class CopySink(Protocol):
    """Where pgwire delivers the client's COPY data (see above)."""

    async def data(self, data: bytes) -> None:
        """One CopyData message's payload (rows may be split across messages anywhere)."""

    async def done(self) -> None:
        """CopyDone: the data is complete; load what is left (errors are raised here)."""

    async def fail(self, message: str) -> None:
        """CopyFail: always raises SqlError 57014 "COPY from stdin failed: <message>"."""


@dataclass(slots=True)
class CopyInResponse:
    overall_format: int  # FORMAT_TEXT (text and csv) or FORMAT_BINARY
    column_formats: list[int]
    sink: CopySink


@dataclass(slots=True)
class CopyOutResponse:
    overall_format: int
    column_formats: list[int]


@dataclass(slots=True)
class CopyData:
    chunks: list[bytes]  # each one is sent as one CopyData message


@dataclass(slots=True)
class CopyDone:
    pass


Event = (
    RowDescription | DataRows | CommandComplete | EmptyQuery | PortalSuspended | Notice | ParameterStatus
    | CopyInResponse | CopyOutResponse | CopyData | CopyDone
)


@dataclass(slots=True)
class StatementDescription:
    """What Describe of a prepared statement answers."""

    param_oids: list[int]
    columns: list[Column] | None  # None means NoData
    extra: dict = field(default_factory=dict)


class Session(Protocol):
    """One client connection's view of the database."""

    process_id: int  # sent in BackendKeyData as 32 bits: keep both in 0 <= x < 2**32,
    secret_key: int  # which is how a CancelRequest brings them back to SessionFactory.cancel

    def startup_parameters(self) -> dict[str, str]:
        """The ParameterStatus messages to send after authentication."""

    @property
    def transaction_status(self) -> TransactionStatus: ...

    def parameter_changes(self) -> list[ParameterStatus]:
        """Reported settings changed since they were last sent; pgwire sends them
        before each ReadyForQuery (each change once)."""

    # -- simple query protocol --
    def simple_query(self, sql: str) -> AsyncIterator[Event]:
        """Run every statement of `sql` in order; raising ends the query string."""

    # -- extended query protocol --
    async def parse(self, name: str, sql: str, param_oids: list[int]) -> None: ...

    def describe_statement(self, name: str) -> StatementDescription: ...

    async def bind(
        self,
        portal: str,
        statement: str,
        param_formats: list[int],
        params: list[bytes | None],
        result_formats: list[int],
    ) -> None:
        """Create `portal` from `statement`; the format lists are as in the Bind message.

        Zero codes mean all text, one code applies to every value, otherwise one per
        value. pgwire has already checked that every code is 0 or 1 and that a list of
        more than one parameter format matches len(params); the statement's parameter
        count and the result format count against the columns are the session's to check.
        """

    def describe_portal(self, portal: str) -> list[Column] | None: ...

    def execute(self, portal: str, max_rows: int) -> AsyncIterator[Event]:
        """DataRows*, then CommandComplete, PortalSuspended or EmptyQuery.

        `max_rows` 0 means all rows (pgwire passes a negative limit as 0, as PostgreSQL
        reads it); after `max_rows` rows end with PortalSuspended and keep the portal.
        """

    def close_statement(self, name: str) -> None: ...

    def close_portal(self, name: str) -> None: ...

    async def sync(self) -> None:
        """End of an extended-protocol batch: commit an implicit transaction."""

    def mark_failed(self) -> None:
        """An error happened outside the session (e.g. a malformed Bind)."""

    # -- lifecycle --
    def cancel(self) -> None:
        """Interrupt the running statement (CancelRequest); it fails with 57014."""

    def on_terminate(self, callback: Callable[[], None]) -> None:
        """Register what ends the connection when the session is terminated from
        elsewhere (pg_terminate_backend): pgwire sends FATAL 57P01 and closes."""

    def idle_limit(self) -> tuple[float, Any] | None:
        """While pgwire waits for the next command after ReadyForQuery: how many
        seconds it may wait in the session's current state, and the FATAL
        SqlError to end the connection with then; None for no limit."""

    async def close(self) -> None:
        """The connection is gone: roll back whatever is open."""


@dataclass(frozen=True, slots=True)
class LoginRole:
    """What authentication needs to know about a role (from the catalog, as of now)."""

    name: str
    can_login: bool
    password: str | None  # a SCRAM-SHA-256 verifier, or None: no password login
    valid_until_us: int | None = None  # the password's expiry, µs since the Unix epoch


@dataclass(frozen=True, slots=True)
class ClientAddress:
    """Where a connection comes from (pg_stat_activity's client_addr and client_port)."""

    host: str | None  # None for a Unix-domain socket
    port: int  # -1 for a Unix-domain socket, as PostgreSQL shows it


class SessionFactory(Protocol):
    async def find_role(self, user: str) -> LoginRole | None:
        """The role a client names in its startup packet; None if there is no such role."""

    async def open_session(self, startup: dict[str, str], client: ClientAddress | None = None) -> Session:
        """Start a session for a StartupMessage's parameters (user, database, options, GUCs),
        from `client` (None when pgwire cannot tell).

        Raises SqlError with severity FATAL to refuse the connection. pgwire guarantees
        `user` is present and non-empty, fills an absent `database` with the user name
        (as PostgreSQL does) and removes `_pq_.` protocol options. Values are passed as
        the client sent them (asyncpg sends client_encoding `'utf-8'`, quotes included);
        pgwire decodes all text as UTF-8, so refuse any other client_encoding.
        """

    def cancel(self, process_id: int, secret_key: int) -> None:
        """A CancelRequest arrived; cancel that session's statement if the key matches."""
