"""A client session: transaction state, statements, portals, settings.

The session holds the state and answers pgwire's calls (`api.Session`); how a
statement runs is the statement runner's (qp/frontend/runner.py), utility
statements are qp/frontend/utility.py's, and transactions are opened and
committed by the QP's transaction service (qp/txn/service.py).

Transaction states follow PostgreSQL (what ReadyForQuery reports):
- IDLE: no transaction. A statement runs in an implicit transaction, which
  commits when the statement (simple protocol: the whole query string;
  extended protocol: everything up to Sync) completes.
- IN_BLOCK: after BEGIN, until COMMIT or ROLLBACK.
- FAILED: an error inside a block; everything is refused (25P02) until
  ROLLBACK (COMMIT then also rolls back and reports ROLLBACK).

Semantics are DSQL's: one isolation level (REPEATABLE READ: snapshot
isolation), optimistic commits that may fail with 40001, READ ONLY blocks,
one DDL per transaction and no DDL with DML. Savepoints (qp/frontend/savepoints.py)
are PostgreSQL's, which DSQL lacks; settings changed by SET are undone with
the transaction or savepoint that changed them (qp/frontend/setting_stack.py), and
`_transaction_ended` is where every transaction, block or implicit, ends.

Interrupts (PostgreSQL's): a CancelRequest or pg_cancel_backend() cancels the
running statement (57014), as does its statement_timeout; the executor gives
the scheduler a turn every few ms (cluster/timeslice.py), which is where a
cancel lands, and result rows are encoded and streamed in chunks that check
for it too. pg_terminate_backend() ends the connection (FATAL 57P01) through
the callback pgwire registers. COMMIT is never interrupted halfway: its
adjudication and journal append run shielded, bounded by
`qp.txn.service.COMMIT_OUTCOME_WAIT_S`, and a commit whose outcome cannot be known is
reported as such (08007), never as cancelled.

Catalog staleness (qp/frontend/runner.py): a statement is bound against the
newest catalog this process knows. Storage refuses a read whose catalog
version differs from the one as of τ_start; if that happens before the
transaction has read anything, the runner loads the catalog as of τ_start
and runs the statement again; afterwards it is a conflict with a concurrent
DDL (OC001).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import trio

from cluster.timeslice import checkpoint_if_due
from qp import api
from qp.api import Column, CommandComplete, DataRows, EmptyQuery, ParameterStatus
from qp.ddl.sequences import SessionSequences
from qp.ddl.temp_objects import without_pg_temp
from qp.errors import SqlError, in_failed_transaction, position_in
from qp.frontend.activity import Activity
from qp.frontend.cursors import Cursors
from qp.frontend.identity import IDENTITY_SETTINGS, current_user, set_identity, superuser_setting
from qp.frontend.prepare import Prepared
from qp.frontend.results import CHUNK_ROWS, ResultRows
from qp.frontend.runner import StatementRunner, ends_block, expand_formats
from qp.frontend.savepoints import Savepoint
from qp.frontend.setting_stack import SettingStack
from qp.frontend.settings import (
    DEFAULTS,
    READ_ONLY,
    REPORTED,
    VERSION_STRING,
    canonical_name,
    duration_s,
    normalize,
    transaction_limits,
    zoneinfo_for,
)
from qp.frontend.statement_cache import StatementCache, cacheable
from qp.parse.parser import Statement, parse
from qp.pgcatalog.names import reg_input, reg_output
from qp.txn.temp_store import TempStore
from qp.txn.transaction import Transaction
from qp.types import binary_decoder, text_decoder
from qp.types.context import EvalContext

PREPARED_STATEMENTS_MAX = 10_000
# Settings that describe the open transaction: any SET of them is undone at its end.
_TRANSACTION_SETTINGS = frozenset({"transaction_read_only", "transaction_isolation", "transaction_deferrable"})
_LIMIT_SETTINGS = frozenset({"dsql.transaction_rows_max", "dsql.transaction_bytes_max"})
# RESET ALL leaves these alone (PostgreSQL's GUC_NO_RESET_ALL).
_NOT_RESET_BY_ALL = _TRANSACTION_SETTINGS | {"session_authorization", "role"}


@dataclass
class Portal:
    prepared: Prepared
    params: tuple
    formats: list[int]
    columns: list[Column] | None
    encoders: list | None = None  # set when `rows` are values still to encode
    rows: list | None = None  # materialized on first Execute
    position: int = 0
    tag: str | None = None
    done: bool = False
    notices: list = field(default_factory=list)


class Session:
    def __init__(self, qp, process_id: int, secret_key: int, startup: dict[str, str]) -> None:
        self.qp = qp
        self.process_id = process_id
        self.secret_key = secret_key
        self.settings: dict[str, str] = dict(DEFAULTS)
        user = startup.get("user", "postgres")
        self.user = user
        self.settings["session_authorization"] = user
        self.settings["application_name"] = startup.get("application_name", "")
        for name, value in startup.items():
            if name in ("user", "database", "application_name", "replication", "client_encoding", "options"):
                continue
            self._startup_setting(name, value)
        if "client_encoding" in startup:
            self.settings["client_encoding"] = normalize("client_encoding", startup["client_encoding"])
        for name, value in _parse_options(startup.get("options", "")):
            self._startup_setting(name, value)
        # RESET goes back to the values the session started with (the startup
        # packet's count, as PostgreSQL's PGC_S_CLIENT source does).
        self.reset_values: dict[str, str] = dict(self.settings)
        self.setting_stack = SettingStack(self.settings)  # what the open transaction must undo
        self._settings_touched = False  # REPORTED values may differ from the last ParameterStatus sent
        self._reported: dict[str, str] = {}
        self.savepoints: list[Savepoint] = []  # open savepoints of the block, oldest first
        self.xact_open = False  # a transaction (block or implicit) has started and not ended
        self.implicit_block = False  # a simple query of several statements (PostgreSQL's implicit block)
        self.txn: Transaction | None = None
        # The last transaction that took part in hot-row intents: whatever ends the
        # transaction (commit, rollback, an error, the connection closing) releases them.
        self.intent_txn: Transaction | None = None
        self.temp_store = TempStore()  # temporary tables, views and sequences: gone with the session
        self.block = False  # explicit BEGIN
        self.failed = False
        self.block_read_only = False
        self.statements: dict[str, Prepared] = {}
        # Statements run before, by their text (qp/frontend/statement_cache.py), and the
        # count of setting changes that keeps them apart.
        self.statement_cache = StatementCache()
        self.settings_generation = 0
        self.portals: dict[str, Portal] = {}
        # Interrupts (see the module docstring): the running statement's cancel
        # scope and deadline, whether a statement is running (a cancel outside one
        # is ignored, as in PostgreSQL), and what interrupted it.
        self._cancel_scope: trio.CancelScope | None = None
        self._deadline = math.inf
        self._active = False
        self._interrupt: str | None = None  # "cancel" | "terminate"
        self._on_terminate: Callable[[], None] | None = None
        self.ctx = EvalContext()
        self.activity = Activity(qp.clock)  # what pg_stat_activity shows (qp/frontend/activity.py)
        self.sequences = SessionSequences()
        self.cursors = Cursors(self)  # DECLARE'd cursors (qp/frontend/cursors.py); pg_cursors reads them
        self.runner = StatementRunner(self)  # how its statements run (qp/frontend/runner.py)
        self._refresh_ctx()

    def _startup_setting(self, name: str, value: str) -> None:
        canonical = canonical_name(name)
        if canonical is None:
            raise SqlError("42704", f'unrecognized configuration parameter "{name}"', severity="FATAL")
        if canonical == "default_transaction_read_only" and normalize(canonical, value) == "on":
            raise SqlError("0A000", f'setting configuration parameter "{name}" not supported', severity="FATAL")
        if canonical == "session_authorization" and value != self.user:
            raise SqlError("0A000", f'setting configuration parameter "{name}" not supported', severity="FATAL")
        if canonical == "role":  # checked like SET ROLE: no way around the rules at startup
            try:
                self.settings[canonical] = set_identity(self, canonical, "VAR_SET_VALUE", value)
            except SqlError as exc:
                raise SqlError(exc.sqlstate, exc.message, severity="FATAL") from None
            return
        self.settings[canonical] = normalize(canonical, value)

    def _refresh_ctx(self) -> None:
        ctx = self.ctx
        ctx.timezone = self.settings["TimeZone"]
        ctx.tzinfo = zoneinfo_for(ctx.timezone)
        ctx.database = "postgres"
        ctx.user = current_user(self)  # SET ROLE's, else the session user (qp/frontend/identity.py)
        ctx.session_user = self.settings.get("session_authorization", self.user)
        self.settings["is_superuser"] = superuser_setting(self.qp.catalog_guess(), ctx.user)  # reported
        ctx.extra_float_digits = int(self.settings.get("extra_float_digits", "1"))
        ctx.settings = {k.lower(): v for k, v in self.settings.items()}
        ctx.setting_default = {"server_version": DEFAULTS["server_version"], "server_version_full": VERSION_STRING}
        ctx.backend_pid = self.process_id
        ctx.set_config = self._set_config
        ctx.reg_output, ctx.reg_input = reg_output, reg_input
        ctx.signal_backend = self._signal_backend
        self.fast_path = self.settings.get("dsql.fast_path") != "off"  # qp/exec/fast_path.py
        self.bulk_path = self.settings.get("dsql.bulk_path") != "off"  # qp/exec/dml.py
        self.hot_row_wait = self.settings.get("dsql.hot_row_wait") != "off"  # qp/txn/intents.py

    def _signal_backend(self, pid: int, terminate: bool) -> bool:
        """pg_cancel_backend / pg_terminate_backend from this session (False: no such backend)."""
        return self.qp.signal_backend(pid, terminate, self.user)

    def _set_config(self, name: str, value: str, is_local: bool) -> str:
        """set_config(name, value, is_local): SET, or SET LOCAL, from an expression."""
        canonical = canonical_name(name)
        if canonical is None:
            raise SqlError("42704", f'unrecognized configuration parameter "{name}"')
        if canonical in IDENTITY_SETTINGS:  # set_config('role', ...) is SET ROLE, with its checks
            value = set_identity(self, canonical, "VAR_SET_VALUE", value)
        else:
            value = normalize(canonical, value)
        self.change_setting(canonical, value, local=is_local)
        return value

    # -- settings, transactionally (qp/frontend/setting_stack.py) --------------------------------

    def change_setting(self, name: str, value: str, *, local: bool = False) -> None:
        """SET (or SET LOCAL) one setting in the open transaction, which may undo it."""
        if name in _TRANSACTION_SETTINGS:
            local = True  # they describe the transaction: its end puts them back
        self.setting_stack.change(name, value, len(self.savepoints) + 1, local=local)
        self._settings_changed({name})

    def _settings_changed(self, names: set[str]) -> None:
        if not names:
            return
        self._settings_touched = True
        if names - _TRANSACTION_SETTINGS - _LIMIT_SETTINGS:
            self.settings_generation += 1  # statements read under other settings are not reused
        txn = self.txn
        if txn is not None:
            if "transaction_read_only" in names:
                txn.read_only = self.settings.get("transaction_read_only") == "on"
            if names & _LIMIT_SETTINGS:
                txn.rows_max, txn.bytes_max = transaction_limits(self.settings)  # the open one too
        self._refresh_ctx()

    def end_setting_levels(self, level: int, commit: bool) -> None:
        """End the setting levels from the innermost down to `level` (1: the whole transaction)."""
        if not self.setting_stack:
            return
        changed: set[str] = set()
        for each in range(len(self.savepoints) + 1, level - 1, -1):
            changed |= self.setting_stack.end(each, commit)
        self._settings_changed(changed)

    def release_intents(self) -> None:
        """Hand on the hot-row intents of the session's transaction (qp/txn/intents.py);
        a committed one has released them already, with its τ_commit."""
        txn = self.intent_txn
        if txn is not None:
            self.intent_txn = None
            txn.end_intents(None)

    def transaction_ended(self, commit: bool) -> None:
        """The transaction (a block or an implicit one) is over: keep or undo what it SET."""
        self.release_intents()
        self.xact_open = False
        self.activity.transaction_ended()
        self.end_setting_levels(1, commit)
        if self.savepoints:
            self.savepoints.clear()

    # -- api.Session ----------------------------------------------------------------

    def startup_parameters(self) -> dict[str, str]:
        self._reported = {name: self.settings[name] for name in REPORTED}
        return dict(self._reported)

    def parameter_changes(self) -> list[ParameterStatus]:
        """Reported settings whose value differs from the last one sent (PostgreSQL's
        ReportChangedGUCOptions, run before each ReadyForQuery)."""
        self.activity.waiting(self.transaction_status)  # where PostgreSQL reports the idle states too
        if not self._settings_touched:
            return []
        self._settings_touched = False
        changes = []
        for name in REPORTED:
            value = self.settings.get(name, "")
            if self._reported.get(name) != value:
                self._reported[name] = value
                changes.append(ParameterStatus(name, value))
        return changes

    @property
    def transaction_status(self) -> api.TransactionStatus:
        if self.failed:
            return api.TransactionStatus.FAILED
        if self.block:
            return api.TransactionStatus.IN_BLOCK
        return api.TransactionStatus.IDLE

    async def simple_query(self, sql: str) -> AsyncIterator[api.Event]:
        self.activity.running(sql)
        generation = self.settings_generation
        statements = self.statement_cache.get(("text", sql, generation))
        if statements is None:
            statements = await self._parsed(sql)
        if not statements:
            yield EmptyQuery()
            return
        self.implicit_block = len(statements) > 1
        try:
            for i, statement in enumerate(statements):
                # statement_timeout applies to each statement of the string (PostgreSQL 13+).
                self._statement_started()
                try:
                    key = ("simple", sql, i, generation)
                    prepared = self.statement_cache.get(key) or self.runner.prepare_unbound(statement)
                    if prepared.kind == "copy":  # streams: CopyIn/OutResponse now, CommandComplete in events
                        events = []
                        async for event in self.runner.copy(prepared, events):
                            yield event
                    else:
                        events = await self.guarded(self.runner.run(prepared, (), None))
                        if cacheable(prepared) and generation == self.settings_generation:
                            self.statement_cache.put(("text", sql, generation), statements)
                            self.statement_cache.put(key, prepared)
                    if i == len(statements) - 1 and not self.block and self.txn is not None:
                        # The implicit transaction of a query string commits before
                        # the last CommandComplete, so a failed commit is reported
                        # instead of it (as PostgreSQL does).
                        txn, self.txn = self.txn, None
                        await self.guarded(self.commit(txn))
                    if i == len(statements) - 1 and not self.block:
                        self.transaction_ended(commit=True)
                    for event in events:
                        if type(event) is not ResultRows:
                            yield event
                        elif len(event) <= CHUNK_ROWS:  # one chunk: no stream needed
                            self.check_interrupts()
                            yield DataRows(event.encode())
                        else:
                            async for chunk in self._stream_rows(event, 0, len(event)):
                                yield chunk
                finally:
                    self._statement_ended()
        except BaseException as exc:
            _give_position(exc, statement)
            await self._after_error()
            raise

    async def parse(self, name: str, sql: str, param_oids: list[int]) -> None:
        self.activity.running(sql)
        statements = await self._parsed(sql)
        if len(statements) > 1:
            raise SqlError("42601", "cannot insert multiple commands into a prepared statement")
        statement = statements[0] if statements else None
        if self.failed and not ends_block(Prepared(statement, "utility")):
            raise in_failed_transaction()
        try:
            if name and name in self.statements:
                raise SqlError("42P05", f'prepared statement "{name}" already exists')
            if len(self.statements) >= PREPARED_STATEMENTS_MAX:
                raise SqlError("54000", "too many prepared statements")
            self._statement_started()
            key = ("parse", sql, tuple(param_oids), self.settings_generation)
            prepared = self.statement_cache.get(key) if not name else None
            if prepared is None or not prepared.planned_for(self.runner.catalog_guess(), self.ctx):
                prepared = await self.guarded(self.runner.prepare_for_describe(statement, param_oids))
                if not name and cacheable(prepared):
                    self.statement_cache.put(key, prepared)
        except BaseException as exc:
            _give_position(exc, statement)
            await self._after_error()
            raise
        finally:
            self._statement_ended()
        self.statements[name] = prepared

    async def _parsed(self, sql: str) -> list[Statement]:
        try:
            statements = parse(sql)
        except BaseException:  # a statement that does not parse (42601, 54001) fails the block too
            await self._after_error()
            raise
        if "pg_temp" in sql.lower():
            statements = without_pg_temp(statements)  # temporary objects (qp/ddl/temp_objects.py)
        return statements

    def describe_statement(self, name: str) -> api.StatementDescription:
        prepared = self._statement(name)
        return api.StatementDescription(prepared.param_oids, prepared.columns)

    async def bind(self, portal: str, statement: str, param_formats: list[int], params: list[bytes | None],
                   result_formats: list[int]) -> None:
        try:
            self._bind(portal, statement, param_formats, params, result_formats)
        except BaseException:
            await self._after_error()
            raise

    def _bind(self, portal: str, statement: str, param_formats: list[int], params: list[bytes | None],
              result_formats: list[int]) -> None:
        prepared = self._statement(statement)
        if self.failed and not ends_block(prepared):
            raise in_failed_transaction()
        if len(params) != len(prepared.param_types):
            raise SqlError(
                "08P01",
                f'bind message supplies {len(params)} parameters, but prepared statement "{statement}" '
                f"requires {len(prepared.param_types)}",
            )
        if len(param_formats) not in (0, 1, len(params)):
            raise SqlError("08P01", f"bind message has {len(param_formats)} parameter formats but {len(params)} parameters")
        values = []
        # Decoders are made as a parameter of each format first arrives, and kept with the
        # statement under the settings they were made with (text input reads DateStyle...).
        memo = prepared.memo
        kept = memo.get("decoders")
        if kept is None or kept[0] != self.settings_generation:
            kept = memo["decoders"] = (self.settings_generation, {})
        decoders = kept[1]
        for i, (raw, t) in enumerate(zip(params, prepared.param_types, strict=True)):
            if raw is None:
                values.append(None)
                continue
            fmt = param_formats[0] if len(param_formats) == 1 else (param_formats[i] if param_formats else 0)
            try:
                decode = decoders.get((i, fmt))
                if decode is None:
                    decode = decoders[(i, fmt)] = binary_decoder(t) if fmt == 1 else text_decoder(t, self.ctx)
                values.append(decode(raw) if fmt == 1 else decode(raw.decode("utf-8")))
            except UnicodeDecodeError:
                raise SqlError("22021", "invalid byte sequence for encoding \"UTF8\"") from None
            except SqlError:
                raise
            except Exception as exc:
                raise SqlError("22P03", f"incorrect binary data format in bind parameter {i + 1}") from exc
        columns = prepared.columns
        if columns is not None and len(result_formats) not in (0, 1, len(columns)):
            raise SqlError("08P01", f"bind message has {len(result_formats)} result formats but query has {len(columns)} columns")
        formats = expand_formats(result_formats, len(columns) if columns else 0)
        kept = memo.get("described")
        if kept is not None and kept[0] is columns and kept[1] == formats:
            described = kept[2]
        else:
            described = [Column(c.name, c.type_oid, c.type_len, c.type_mod, c.table_oid, c.column_number, f)
                         for c, f in zip(columns, formats, strict=True)] if columns is not None else None
            memo["described"] = (columns, formats, described)
        self.portals[portal] = Portal(prepared, tuple(values), formats, described)

    def describe_portal(self, portal: str) -> list[Column] | None:
        if portal not in self.portals and (cursor := self.cursors.find(portal)) is not None:
            return cursor.columns  # a DECLAREd cursor is a portal too (psycopg 3 describes it)
        return self._portal(portal).columns

    async def execute(self, portal_name: str, max_rows: int) -> AsyncIterator[api.Event]:
        portal = self._portal(portal_name)
        self._statement_started()
        self.activity.running_statement(portal.prepared.statement)
        try:
            if portal.prepared.kind == "copy" and portal.rows is None:
                portal.rows, tail = [], []
                async for event in self.runner.copy(portal.prepared, tail):
                    yield event
                portal.tag = tail[-1].tag if tail else None
            if portal.rows is None:
                if self.failed and not ends_block(portal.prepared):
                    raise in_failed_transaction()
                events = await self.guarded(self.runner.run(portal.prepared, portal.params, portal.formats, portal))
                for event in events:
                    yield event
            rows = portal.rows or []
            if portal.prepared.kind == "empty":
                yield EmptyQuery()
                return
            start = portal.position
            stop = len(rows) if max_rows <= 0 else min(len(rows), start + max_rows)
            if stop > start:
                if type(rows) is not ResultRows:
                    yield DataRows(rows[start:stop])
                elif stop - start <= CHUNK_ROWS:
                    self.check_interrupts()
                    yield DataRows(rows.encode(start, stop))
                else:
                    async for event in self._stream_rows(rows, start, stop):
                        yield event
            portal.position = stop
            if max_rows > 0 and stop < len(rows):
                yield api.PortalSuspended()
                return
            portal.done = True
            yield CommandComplete(portal.tag or "SELECT 0")
        except BaseException as exc:
            _give_position(exc, portal.prepared.statement)
            await self._after_error()
            raise
        finally:
            self._statement_ended()

    def close_statement(self, name: str) -> None:
        self.statements.pop(name, None)

    def close_portal(self, name: str) -> None:
        self.portals.pop(name, None)

    async def sync(self) -> None:
        # The implicit transaction of an extended-protocol batch ends here.
        if self.txn is not None and not self.block and not self.failed:
            txn = self.txn
            self.txn = None
            self.drop_portals()
            if txn.has_writes:
                try:
                    await self.guarded(self.commit(txn))
                except BaseException:
                    self.transaction_ended(commit=False)
                    raise
        elif not self.block:
            self.txn = None
            self.drop_portals()
        if not self.block:
            self.transaction_ended(commit=True)

    def mark_failed(self) -> None:
        if self.block:
            self.block_failed()
        else:
            self.txn = None
            self.transaction_ended(commit=False)

    def cancel(self) -> None:
        """A CancelRequest or pg_cancel_backend(): stop the running statement, if any (57014)."""
        if not self._active:
            return  # nothing running: PostgreSQL ignores it too
        if self._interrupt is None:
            self._interrupt = "cancel"
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    def on_terminate(self, callback: Callable[[], None]) -> None:
        """What ends this session's connection (pgwire's; used by pg_terminate_backend)."""
        self._on_terminate = callback

    def terminate(self) -> None:
        """pg_terminate_backend(): end the connection (FATAL 57P01), whatever it is doing."""
        self._interrupt = "terminate"
        if self._on_terminate is not None:
            self._on_terminate()
        elif self._cancel_scope is not None:
            self._cancel_scope.cancel()

    def idle_limit(self) -> tuple[float, SqlError] | None:
        """How long pgwire may wait for the next command in this state, and the FATAL error then."""
        # Asked before every message: the error is made only when there is a limit.
        if self.transaction_status is api.TransactionStatus.IDLE:
            seconds = duration_s(self.settings, "idle_session_timeout")
            if seconds <= 0:
                return None
            error = SqlError("57P05", "terminating connection due to idle-session timeout", severity="FATAL")
        else:
            seconds = duration_s(self.settings, "idle_in_transaction_session_timeout")
            if seconds <= 0:
                return None
            error = SqlError("25P03", "terminating connection due to idle-in-transaction timeout", severity="FATAL")
        return seconds, error

    async def close(self) -> None:
        self.release_intents()
        self.txn = None
        self.qp.session_closed(self)

    # -- errors and interrupts ------------------------------------------------------

    def _statement_started(self) -> None:
        """A statement begins: cancels now reach it, and its statement_timeout starts."""
        self._active = True
        self.ctx.notices.clear()
        timeout = duration_s(self.settings, "statement_timeout")
        self._deadline = trio.current_time() + timeout if timeout > 0 else math.inf

    def _statement_ended(self) -> None:
        self._active = False
        self._deadline = math.inf
        if self._interrupt == "cancel":
            self._interrupt = None  # a cancel is for one statement only

    def _interrupted(self) -> SqlError:
        """The error for a statement stopped by a cancel, a terminate or its timeout."""
        if self._interrupt == "terminate":
            return SqlError("57P01", "terminating connection due to administrator command", severity="FATAL")
        if self._interrupt == "cancel":
            return SqlError("57014", "canceling statement due to user request")
        return SqlError("57014", "canceling statement due to statement timeout")

    def check_interrupts(self) -> None:
        """Between chunks of output, where no cancel scope runs."""
        if self._interrupt is not None or trio.current_time() >= self._deadline:
            raise self._interrupted()

    async def guarded(self, awaitable):
        """Run one unit of work so that a cancel or the statement's timeout interrupts it (57014)."""
        if self._interrupt is not None:
            awaitable.close()
            raise self._interrupted()
        with trio.CancelScope(deadline=self._deadline) as scope:
            self._cancel_scope = scope
            try:
                return await awaitable
            finally:
                self._cancel_scope = None
        raise self._interrupted()

    async def _stream_rows(self, rows: ResultRows, start: int, stop: int) -> AsyncIterator[DataRows]:
        """Result rows start..stop for pgwire, encoded a chunk at a time."""
        for encoded in rows.chunks(start, stop):
            self.check_interrupts()
            yield DataRows(encoded)
            await checkpoint_if_due()

    async def _after_error(self) -> None:
        if self.block:
            self.block_failed()
        else:
            self.txn = None
            self.drop_portals()
            self.transaction_ended(commit=False)

    def block_failed(self) -> None:
        """An error inside a block: PostgreSQL aborts the innermost (sub)transaction
        at once, so what it SET is undone now, before ROLLBACK [TO SAVEPOINT]."""
        self.failed = True
        self.release_intents()  # it cannot commit now; ROLLBACK TO may go on, without them
        self.end_setting_levels(len(self.savepoints) + 1, commit=False)

    def drop_portals(self) -> None:
        self.portals = {name: p for name, p in self.portals.items() if p.rows is None and not p.done}

    def _statement(self, name: str) -> Prepared:
        prepared = self.statements.get(name)
        if prepared is None:
            raise SqlError("26000", f'prepared statement "{name}" does not exist')
        return prepared

    def _portal(self, name: str) -> Portal:
        portal = self.portals.get(name)
        if portal is None:
            raise SqlError("34000", f'portal "{name}" does not exist')
        return portal

    # -- the transaction -------------------------------------------------------------------

    async def catalog_for(self, txn: Transaction):
        """The catalog as of the transaction's snapshot, confirmed by storage (qp/frontend/runner.py)."""
        return await self.runner.catalog_for(txn)

    def new_txn(self, *, read_only: bool = False, explicit: bool = False, hot: bool = False) -> Transaction:
        """A transaction with this session's limits (dsql.transaction_rows_max / _bytes_max);
        `hot`: the session's own transaction, which takes part in hot-row intents if
        dsql.hot_row_wait is on (not a side transaction of a temporary object)."""
        txn = self.qp.txns.begin(read_only=read_only, explicit=explicit, limits=transaction_limits(self.settings))
        txn.temp = self.temp_store
        if hot and self.hot_row_wait and not read_only:
            self.release_intents()  # a transaction left without an end (none should be)
            txn.use_intents(self.qp.txns.intents)
            self.intent_txn = txn
        return txn

    def current_txn(self) -> Transaction:
        """The open transaction, or a new implicit one."""
        if self.txn is None:
            read_only = self.settings.get("default_transaction_read_only") == "on"
            self.txn = self.new_txn(read_only=read_only, hot=True)
        return self.txn

    async def commit(self, txn: Transaction) -> None:
        """Commit, shielded from cancels and timeouts (qp/txn/service.py)."""
        await self.qp.txns.commit(txn)

    def reset_all(self) -> None:
        """RESET ALL (and DISCARD ALL): every changeable setting back to its value at startup."""
        for key, value in self.reset_values.items():
            if key in READ_ONLY or key in _NOT_RESET_BY_ALL or self.settings.get(key) == value:
                continue
            self.change_setting(key, value)


def _give_position(error: BaseException, statement: Statement | None) -> None:
    """The ErrorResponse position of an error the binder located (a byte offset
    into the query string): 1-based characters, as PostgreSQL reports it."""
    if not isinstance(error, SqlError) or error.position is not None or statement is None:
        return
    location = error.location
    if location is not None and location >= 0 and statement.source:
        error.position = position_in(statement.source, location)


def _parse_options(options: str) -> list[tuple[str, str]]:
    """The `options` startup parameter: -c name=value and --name=value pairs."""
    out = []
    parts = options.split()
    i = 0
    while i < len(parts):
        part = parts[i]
        if part == "-c" and i + 1 < len(parts):
            part = parts[i + 1]
            i += 1
        elif part.startswith("-c"):
            part = part[2:]
        elif part.startswith("--"):
            part = part[2:]
        if "=" in part:
            name, value = part.split("=", 1)
            out.append((name.replace("-", "_"), value))
        i += 1
    return out
