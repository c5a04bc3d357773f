"""The trio server around `ServerConnection`: sockets, buffering, and calls into the QP.

One task per client connection reads bytes, feeds the sans-IO
`ServerConnection`, calls the `Session`'s methods in the order messages arrive
and writes back what the session's events become. Everything the protocol
decides (framing, phases, skip-until-Sync) lives in `pgwire.connection`; this
module only decides *when* bytes move and what happens when things fail:

- Output is buffered and written at ReadyForQuery, at Flush, after an error,
  and whenever the buffer passes `output_high_water_bytes`; see `_write`.
- A `SqlError` from a session method becomes an ErrorResponse. Any other
  exception is logged and becomes ErrorResponse XX000 "internal error: ...",
  after `session.mark_failed()`, and the connection stays usable; a
  RecursionError (a statement nested too deeply) becomes 54001 instead.
- An error in the client's bytes (`ProtocolViolation`) is reported the same
  way; a FATAL one ends that connection only. No exception from one
  connection reaches the listener or another connection.
- Cancelling the nursery that runs `serve` tells every client FATAL 57P01
  "terminating connection due to administrator command", closes each
  session and then the socket, each bounded by `shutdown_grace_s`. So does
  `pg_terminate_backend()` for one connection: the session calls back
  (`Session.on_terminate`) and the connection's command loop is cancelled.
- While waiting for a command after ReadyForQuery, the session's
  `idle_limit()` (idle_in_transaction_session_timeout, idle_session_timeout)
  bounds the wait; past it the connection ends with the session's FATAL error.

Security (`Security`): with a certificate, an SSLRequest is answered ``S``
and the rest of the connection runs inside TLS; `require_tls` refuses
clients that do not ask for it, as a ``hostssl``-only pg_hba.conf would.
Authentication is ``trust`` (any user name; a name that is not a role acts
as the bootstrap superuser, for local development) or ``scram-sha-256``
(`qp.frontend.scram`, with channel binding over TLS). Either way a role that may
not log in is refused with 28000, after authentication, as in PostgreSQL.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import trio

from qp import api, stack
from qp.errors import SqlError
from qp.frontend import scram

from . import messages as m
from .connection import (
    MESSAGE_BYTES_MAX_DEFAULT,
    NEED_DATA,
    ConnectionClosed,
    Phase,
    ProtocolViolation,
    ServerConnection,
    protocol_negotiation,
)

log = logging.getLogger("dsql.pgwire")

AUTH_METHODS = ("trust", "scram-sha-256")


@dataclass(frozen=True)
class Security:
    """How clients prove who they are, and whether their bytes are encrypted."""

    auth: str = "trust"  # one of AUTH_METHODS
    tls: Any = None  # a pgwire.tls.TlsConfig: answer SSLRequest with S
    require_tls: bool = False  # refuse sessions that did not start TLS (28000)

    def __post_init__(self) -> None:
        if self.auth not in AUTH_METHODS:
            raise ValueError(f"unknown authentication method {self.auth!r}; use one of {AUTH_METHODS}")
        if self.require_tls and self.tls is None:
            raise ValueError("require_tls needs a TLS certificate")


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Every bound the server keeps, with why it has its value."""

    # Sessions at once; past it a new client gets FATAL 53300 as from PostgreSQL's
    # max_connections. Each session holds buffers and QP state; 1000 is well within
    # what one trio process can serve while keeping memory bounded.
    connections_max: int = 1000
    # The largest message a client may send: PostgreSQL's limit unless lowered
    # (see MESSAGE_BYTES_MAX_DEFAULT in pgwire/connection.py).
    message_bytes_max: int = MESSAGE_BYTES_MAX_DEFAULT
    # From accepting a socket to the first ReadyForQuery, as PostgreSQL's
    # authentication_timeout (60 s): a client that connects and says nothing is dropped.
    startup_timeout_s: float = 60.0
    # Output is written when this much is buffered even without a Sync or Flush.
    # 64 KiB batches many small DataRows into one send (one syscall instead of
    # one per row) while bounding the memory a large result holds per connection;
    # it also lets the client start reading a long result before it is complete.
    output_high_water_bytes: int = 64 * 1024
    # How much to read from the socket at once; a pipelined batch usually fits.
    receive_chunk_bytes: int = 64 * 1024
    # After a FATAL error: how long, and how much input, to read and drop before
    # closing, so that unread input does not make the kernel answer with a TCP reset
    # that can destroy the error message before the client reads it.
    linger_s: float = 0.5
    linger_bytes_max: int = 1024 * 1024
    # On shutdown, how long to spend telling a client and closing its session.
    shutdown_grace_s: float = 2.0


async def serve(
    factory: api.SessionFactory,
    host: str | None = "127.0.0.1",
    port: int = 5432,
    *,
    limits: ServerLimits | None = None,
    security: Security | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve PostgreSQL clients on `host:port` until cancelled.

    With `await nursery.start(serve, factory, host, 0)` the result is the bound
    port (with port 0 and a host that resolves to several addresses, each
    listener gets its own port and this is the first one's).
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    await serve_listeners(factory, listeners, limits=limits, security=security, task_status=task_status)


async def serve_listeners(
    factory: api.SessionFactory,
    listeners: Sequence[trio.SocketListener],
    *,
    limits: ServerLimits | None = None,
    security: Security | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve clients from already-open listeners (TCP or Unix sockets); announces the first's port."""
    stack.install()  # the recursion a deep statement needs, within the C stack (qp/stack.py)
    server = _ServerState(factory, limits or ServerLimits(), security or Security())
    address = listeners[0].socket.getsockname()
    port = address[1] if isinstance(address, tuple) else 0
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, server.handle, list(listeners))
        log.info("pgwire listening on %s", [listener.socket.getsockname() for listener in listeners])
        task_status.started(port)


class _ServerState:
    def __init__(self, factory: api.SessionFactory, limits: ServerLimits, security: Security) -> None:
        self.factory = factory
        self.limits = limits
        self.security = security
        # Salts for users with no password are derived from this, so repeated tries
        # see the same salt and cannot tell a missing role from a wrong password.
        self.mock_secret = secrets.token_bytes(32)
        self.sessions = 0  # sessions past startup, bounded by limits.connections_max
        self._ids = itertools.count(1)

    async def handle(self, stream: trio.abc.Stream) -> None:
        """One connection, start to end; nothing it raises may reach the listener."""
        client = _Client(stream, self, next(self._ids))
        try:
            await client.run()
        except Exception:  # a bug in pgwire itself: lose this connection, keep the server
            log.exception("connection %d: unexpected failure", client.id)


class _ClientGone(Exception):
    """The socket broke or closed under us; nothing more can be said to this client."""


def _event_converters() -> dict[type, Callable[[Any], m.BackendMessage]]:
    return {
        api.DataRows: lambda e: m.DataRows(e.rows),
        api.RowDescription: lambda e: m.RowDescription(e.columns),
        api.CommandComplete: lambda e: m.CommandComplete(e.tag),
        api.EmptyQuery: lambda e: m.EmptyQueryResponse(),
        api.PortalSuspended: lambda e: m.PortalSuspended(),
        api.Notice: lambda e: m.NoticeResponse(e.severity, e.sqlstate, e.message, e.detail, e.hint),
        api.ParameterStatus: lambda e: m.ParameterStatus(e.name, e.value),
        api.CopyOutResponse: lambda e: m.CopyOutResponse(e.overall_format, e.column_formats),
        api.CopyData: lambda e: m.CopyDataMessages(e.chunks),
        api.CopyDone: lambda e: m.CopyDoneMessage(),
    }


_EVENT_TO_MESSAGE = _event_converters()
_ANSWER_OWED = (Phase.SIMPLE_QUERY, Phase.SYNCING)  # phases that end with our ReadyForQuery


class _Client:
    def __init__(self, stream: trio.abc.Stream, server: _ServerState, client_id: int) -> None:
        self.stream = stream
        self.server = server
        self.limits = server.limits
        self.id = client_id
        self.conn = ServerConnection(message_bytes_max=self.limits.message_bytes_max)
        self.session: api.Session | None = None
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._sending = False  # True while send_all runs; if it is interrupted the framing is lost
        self._counted = False
        self._shutting_down = False
        self.tls = False  # the stream is a TLS stream now
        self._commands: trio.CancelScope | None = None  # cancelled by pg_terminate_backend()
        self._handlers: dict[type, Callable[[Any], Any]] = {
            m.Query: self._on_query,
            m.Parse: self._on_parse,
            m.Bind: self._on_bind,
            m.Describe: self._on_describe,
            m.Execute: self._on_execute,
            m.Close: self._on_close,
            m.Sync: self._on_sync,
            m.Flush: self._on_flush,
            m.FunctionCall: self._on_function_call,
        }

    # --- lifecycle ----------------------------------------------------------------

    async def run(self) -> None:
        try:
            if await self._start():
                with trio.CancelScope() as self._commands:
                    self.session.on_terminate(self._commands.cancel)
                    await self._serve_commands()
                if self._commands.cancelled_caught:
                    raise SqlError("57P01", "terminating connection due to administrator command", severity="FATAL")
        except SqlError as exc:  # FATAL: from the client's bytes, the startup, or a session
            await self._say_fatal_and_linger(exc)
        except _ClientGone:
            log.debug("connection %d: client went away", self.id)
        except trio.Cancelled:
            self._shutting_down = True
            raise
        finally:
            await self._finish()

    async def _finish(self) -> None:
        with trio.move_on_after(self.limits.shutdown_grace_s) as scope:
            scope.shield = True
            if (
                self._shutting_down and self.session is not None and not self._sending
                and self.conn.phase is not Phase.CLOSED
            ):
                try:
                    self._write(m.ErrorResponse("FATAL", "57P01", "terminating connection due to administrator command"))
                    await self._flush()
                except (_ClientGone, SqlError):
                    pass
            if self.session is not None:
                try:
                    await self.session.close()
                except Exception:
                    log.exception("connection %d: session.close() failed", self.id)
            try:
                await self.stream.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # a TLS stream whose peer went away without close_notify
        if scope.cancelled_caught:
            # the socket is still closed: trio.serve_listeners closes each stream after its handler
            log.warning("connection %d: cleanup took over %.1f s; abandoned", self.id, self.limits.shutdown_grace_s)
        if self._counted:
            self.server.sessions -= 1

    async def _say_fatal_and_linger(self, error: SqlError) -> None:
        if error.severity not in ("FATAL", "PANIC"):
            error = SqlError(error.sqlstate, error.message, detail=error.detail, hint=error.hint, severity="FATAL")
        log.info("connection %d: FATAL %s %s", self.id, error.sqlstate, error.message)
        if self._sending:
            return
        try:
            self._write(m.ErrorResponse.from_error(error))
            await self._flush()
            with trio.move_on_after(self.limits.linger_s):
                if isinstance(self.stream, trio.abc.HalfCloseableStream):
                    await self.stream.send_eof()
                drained = 0
                while drained < self.limits.linger_bytes_max:
                    data = await self.stream.receive_some(self.limits.receive_chunk_bytes)
                    if not data:
                        break
                    drained += len(data)
        except (_ClientGone, trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    # --- startup --------------------------------------------------------------------

    async def _start(self) -> bool:
        """From the first byte to the first ReadyForQuery; False if the connection is done."""
        with trio.move_on_after(self.limits.startup_timeout_s) as scope:
            return await self._startup()
        if scope.cancelled_caught:  # PostgreSQL says nothing to a client that timed out here
            log.info("connection %d: no startup within %.0f s", self.id, self.limits.startup_timeout_s)
        return False

    async def _startup(self) -> bool:
        while True:
            event = await self._receive()
            if isinstance(event, m.SSLRequest | m.GSSENCRequest):
                await self._on_encryption_request(event)
            elif isinstance(event, m.CancelRequest):
                self._cancel(event)
                return False
            elif isinstance(event, m.StartupMessage):
                break
            else:
                assert isinstance(event, ConnectionClosed), event
                return False
        startup = event
        negotiation = protocol_negotiation(startup)
        if negotiation is not None:
            self._write(negotiation)
        if self.server.sessions >= self.limits.connections_max:
            raise SqlError("53300", "sorry, too many clients already", severity="FATAL")
        self.server.sessions += 1
        self._counted = True
        await self._authenticate(startup)
        parameters = dict(startup.parameters)
        if not parameters.get("database"):
            parameters["database"] = parameters["user"]  # PostgreSQL's default, applied before the QP sees it
        try:
            client = _client_address(self.stream)  # for pg_stat_activity
            self.session = session = await self.server.factory.open_session(parameters, client)
            for name, value in session.startup_parameters().items():
                self._write(m.ParameterStatus(name, value))
            self._write(m.BackendKeyData(session.process_id, session.secret_key))
            self._write(m.ReadyForQuery(session.transaction_status))
        except SqlError:
            raise
        except Exception as exc:
            log.exception("connection %d: opening the session failed", self.id)
            raise SqlError("XX000", f"internal error: {exc!r}", severity="FATAL") from exc
        await self._flush()
        return True

    async def _on_encryption_request(self, request: m.SSLRequest | m.GSSENCRequest) -> None:
        tls = self.server.security.tls
        if not isinstance(request, m.SSLRequest) or tls is None:
            self._write(m.EncryptionResponse(b"N"))
            await self._flush()
            return
        self._write(m.EncryptionResponse(b"S"))
        await self._flush()
        if self.conn.buffered_bytes:
            return  # plaintext sent before our answer: the connection refuses it at the next read
        stream = trio.SSLStream(self.stream, tls.context, server_side=True)
        try:
            await stream.do_handshake()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            log.info("connection %d: TLS handshake failed: %s", self.id, exc.__cause__ or exc)
            raise _ClientGone() from exc
        self.stream = stream
        self.tls = True

    async def _authenticate(self, startup: m.StartupMessage) -> None:
        security = self.server.security
        user = startup.parameters["user"]
        if security.require_tls and not self.tls:
            database = startup.parameters.get("database") or user
            raise SqlError(
                "28000", f'no pg_hba.conf entry for host "{self._peer_host()}", user "{user}", '
                f'database "{database}", no encryption', severity="FATAL",
            )  # fmt: skip
        role = await self.server.factory.find_role(user)
        if security.auth == "scram-sha-256":
            await self._scram(user, role)
        if role is not None and not role.can_login:
            raise SqlError("28000", f'role "{user}" is not permitted to log in', severity="FATAL")
        self._write(m.AuthenticationOk())

    async def _scram(self, user: str, role: api.LoginRole | None) -> None:
        verifier = None
        if role is not None and role.password is not None:
            expired = role.valid_until_us is not None and role.valid_until_us < time.time() * 1e6
            verifier = None if expired else scram.parse_verifier(role.password)
        tls = self.server.security.tls
        exchange = scram.ScramExchange(
            user, verifier, mock_secret=self.server.mock_secret,
            channel_binding=tls.channel_binding if self.tls else None,
        )  # fmt: skip
        try:
            self._write(m.AuthenticationSASL(exchange.mechanisms()))
            await self._flush()
            first = await self._receive()
            if not isinstance(first, m.SASLInitialResponse):
                raise _ClientGone()  # psql hangs up here to ask for a password, then reconnects
            self._write(m.AuthenticationSASLContinue(exchange.client_first(first.mechanism, first.data)))
            await self._flush()
            final = await self._receive()
            if not isinstance(final, m.SASLResponse):
                raise _ClientGone()
            self._write(m.AuthenticationSASLFinal(exchange.client_final(final.data)))
        except scram.ScramError as exc:
            log.info("connection %d: authentication of %r failed: %s", self.id, user, exc.message)
            raise SqlError(exc.sqlstate, exc.message, detail=exc.detail, severity="FATAL") from None

    def _peer_host(self) -> str:
        stream = self.stream.transport_stream if isinstance(self.stream, trio.SSLStream) else self.stream
        try:
            address = stream.socket.getpeername()
        except (AttributeError, OSError):
            return "[local]"
        return address[0] if isinstance(address, tuple) else "[local]"

    def _cancel(self, request: m.CancelRequest) -> None:
        try:
            self.server.factory.cancel(request.process_id, request.secret_key)
        except Exception:
            log.exception("connection %d: factory.cancel failed", self.id)

    # --- commands -------------------------------------------------------------------

    async def _serve_commands(self) -> None:
        conn = self.conn
        handlers = self._handlers
        while True:
            try:
                event = await self._receive_command()
            except ProtocolViolation as exc:
                if exc.severity != "ERROR":
                    raise
                await self._report_error(exc, from_session=False)
                if conn.phase in _ANSWER_OWED:
                    await self._ready_for_query()
                continue
            handler = handlers.get(type(event))
            if handler is None:
                assert isinstance(event, m.Terminate | ConnectionClosed), event
                return
            try:
                await handler(event)
            except _ClientGone:
                raise
            except ProtocolViolation as exc:  # raised by our own checks below, not by the session
                await self._report_error(exc, from_session=False)
            except SqlError as exc:
                await self._report_error(exc, from_session=True)
            except RecursionError:  # a recursion qp/stack.py's checks did not foresee
                log.info("connection %d: %s nests too deeply", self.id, type(event).__name__)
                await self._report_error(stack.stack_depth_exceeded(), from_session=False)
            except Exception as exc:
                log.exception("connection %d: internal error in %s", self.id, type(event).__name__)
                await self._report_error(SqlError("XX000", f"internal error: {exc!r}"), from_session=False)
            if conn.phase in _ANSWER_OWED:
                await self._ready_for_query()

    async def _report_error(self, error: SqlError, *, from_session: bool) -> None:
        """Send `error` now (as PostgreSQL flushes errors at once); a FATAL one ends the connection."""
        if error.severity in ("FATAL", "PANIC"):
            raise error
        if not from_session:
            # The session did not see this error, so its transaction is not marked
            # failed yet; if even that fails the session is beyond repair.
            try:
                self.session.mark_failed()
            except Exception as exc:
                log.exception("connection %d: mark_failed failed", self.id)
                raise SqlError("XX000", f"internal error: {exc!r}", severity="FATAL") from exc
        self._write(m.ErrorResponse.from_error(error))
        await self._flush()

    async def _ready_for_query(self) -> None:
        try:
            status = self.session.transaction_status
            # Reported settings that changed, however they changed, go out just
            # before ReadyForQuery (PostgreSQL's ReportChangedGUCOptions).
            changes = self.session.parameter_changes()
        except Exception as exc:
            log.exception("connection %d: transaction_status failed", self.id)
            raise SqlError("XX000", f"internal error: {exc!r}", severity="FATAL") from exc
        for change in changes:
            self._write(m.ParameterStatus(change.name, change.value))
        self._write(m.ReadyForQuery(status))
        await self._flush()

    async def _write_events(self, events: Any) -> None:
        convert = _EVENT_TO_MESSAGE
        high_water = self.limits.output_high_water_bytes
        async with aclosing(events) as stream:
            async for event in stream:
                if type(event) is api.CopyInResponse:
                    await self._copy_in(event)  # the session's stream resumes after the copy data
                    continue
                self._write(convert[type(event)](event))
                if self._out_bytes >= high_water:
                    await self._flush()

    async def _copy_in(self, event: api.CopyInResponse) -> None:
        """COPY FROM STDIN: hand the client's copy data to the session's sink until CopyDone/CopyFail.

        A SqlError from the sink propagates to `_serve_commands`, which sends it
        (the connection then leaves COPY_IN and drops the rest of the client's copy
        data); the `aclosing` in `_write_events` closes the session's event stream.
        """
        self._write(m.CopyInResponse(event.overall_format, event.column_formats))
        await self._flush()
        sink = event.sink
        while True:
            message = await self._receive()
            if isinstance(message, m.CopyData):
                await sink.data(message.data)
            elif isinstance(message, m.CopyDone):
                await sink.done()
                return
            elif isinstance(message, m.CopyFail):
                await sink.fail(message.message)
                raise SqlError("57014", f"COPY from stdin failed: {message.message}")  # a sink must raise
            else:  # Terminate, or the socket closed in the middle of the COPY
                raise _ClientGone()

    async def _on_query(self, message: m.Query) -> None:
        await self._write_events(self.session.simple_query(message.sql))

    async def _on_parse(self, message: m.Parse) -> None:
        await self.session.parse(message.name, message.query, list(message.param_oids))
        self._write(m.ParseComplete())

    async def _on_bind(self, message: m.Bind) -> None:
        formats = message.param_formats
        if len(formats) > 1 and len(formats) != len(message.params):
            raise ProtocolViolation(
                "08P01", f"bind message has {len(formats)} parameter formats but {len(message.params)} parameters"
            )
        for code in (*formats, *message.result_formats):
            if code not in (api.FORMAT_TEXT, api.FORMAT_BINARY):
                raise ProtocolViolation("22023", f"unsupported format code: {code}")
        await self.session.bind(
            message.portal, message.statement, list(formats), list(message.params), list(message.result_formats)
        )
        self._write(m.BindComplete())

    async def _on_describe(self, message: m.Describe) -> None:
        if message.kind == "S":
            description = self.session.describe_statement(message.name)
            self._write(m.ParameterDescription(description.param_oids))
            columns = description.columns
        else:
            columns = self.session.describe_portal(message.name)
        self._write(m.NoData() if columns is None else m.RowDescription(columns))

    async def _on_execute(self, message: m.Execute) -> None:
        # PostgreSQL reads a row limit of zero or less as "all rows".
        await self._write_events(self.session.execute(message.portal, max(message.max_rows, 0)))

    async def _on_close(self, message: m.Close) -> None:
        if message.kind == "S":
            self.session.close_statement(message.name)
        else:
            self.session.close_portal(message.name)
        self._write(m.CloseComplete())

    async def _on_sync(self, message: m.Sync) -> None:
        await self.session.sync()  # then _serve_commands sends ReadyForQuery

    async def _on_flush(self, message: m.Flush) -> None:
        await self._flush()

    async def _on_function_call(self, message: m.FunctionCall) -> None:
        raise ProtocolViolation("0A000", "fast-path function calls are not supported")

    async def _receive_command(self) -> m.FrontendMessage | ConnectionClosed:
        """The next message; after ReadyForQuery, within the session's idle limit if it has one."""
        limit = self.session.idle_limit() if self.conn.phase is Phase.READY else None
        if limit is None:
            return await self._receive()
        seconds, error = limit
        with trio.move_on_after(seconds):
            return await self._receive()
        log.info("connection %d: %s", self.id, error.message)
        raise error

    # --- bytes ----------------------------------------------------------------------

    async def _receive(self) -> m.FrontendMessage | ConnectionClosed:
        conn = self.conn
        while True:
            event = conn.next_event()
            if event is not NEED_DATA:
                return event
            try:
                data = await self.stream.receive_some(self.limits.receive_chunk_bytes)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise _ClientGone() from exc
            conn.receive_data(data)

    def _write(self, message: m.BackendMessage) -> None:
        """Buffer a message; it goes out at the next _flush (see output_high_water_bytes)."""
        data = self.conn.send(message)
        self._out.append(data)
        self._out_bytes += len(data)

    async def _flush(self) -> None:
        if not self._out:
            return
        data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        self._out.clear()
        self._out_bytes = 0
        self._sending = True
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise _ClientGone() from exc
        self._sending = False


def _client_address(stream: trio.abc.Stream) -> api.ClientAddress | None:
    """Where a connection comes from; None if its stream has no socket (tests' memory streams)."""
    if isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    try:
        address = stream.socket.getpeername()
    except (AttributeError, OSError):
        return None
    if isinstance(address, tuple):
        return api.ClientAddress(address[0], address[1])
    return api.ClientAddress(None, -1)  # a Unix-domain socket
