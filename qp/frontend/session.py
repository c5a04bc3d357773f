"""A client session: transaction state, statements, portals, settings.

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
`COMMIT_OUTCOME_WAIT_S`, and a commit whose outcome cannot be known is
reported as such (08007), never as cancelled.

Catalog staleness: a statement is bound against the newest catalog this
process knows. Storage refuses a read whose catalog version differs from the
one as of τ_start; if that happens before the transaction has read anything,
the session loads the catalog as of τ_start and runs the statement again;
afterwards it is a conflict with a concurrent DDL (OC001).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import trio

from cluster.timeslice import checkpoint_if_due
from qp import api
from qp.api import Column, CommandComplete, DataRows, EmptyQuery, Notice, ParameterStatus, RowDescription
from qp.bind.dml import run_insert, run_modify, run_truncate
from qp.ddl.analyze import analyze as analyze_tables
from qp.ddl.statements import (
    alter_sequence,
    alter_table,
    backfill_batch,
    create_index,
    create_sequence,
    create_table,
    create_view,
    drop,
    rename,
    role_ddl,
    role_tag,
    truncate_swap,
)
from qp.errors import SqlError, cached_plan_changed, in_failed_transaction, position_in, schema_conflict
from qp.exec.compile import ExecFrame
from qp.exec.operators import collect
from qp.exec.runtime import RunContext, StatementCaches
from qp.frontend.activity import Activity
from qp.frontend.explain import run_explain
from qp.frontend.prepare import Prepared, prepare
from qp.frontend.results import CHUNK_ROWS, ResultRows
from qp.frontend.savepoints import Savepoint
from qp.frontend.session_settings import (
    refuse_characteristics,
    run_set,
    run_show,
    set_characteristics,
    transaction_characteristics,
)
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
from qp.parse.parser import Statement, parse
from qp.pgcatalog.cluster_views import SYS_RELATIONS as SYS_CLUSTER_RELATIONS
from qp.plan.planner import DEFAULT_RULES
from qp.txn.transaction import StaleCatalog, Transaction, outcome_unknown
from qp.types import binary_decoder, binary_encoder, text_decoder, text_encoder
from qp.types.context import EvalContext

log = logging.getLogger(__name__)

NO_BATCHED_JOINS = DEFAULT_RULES - {"index_join"}  # SET dsql.enable_batched_nestloop = off
# Codes that may mean "the catalog this statement was bound with is stale".
_UNDEFINED = {"42P01", "42703", "42704", "42883", "42P07", "42710"}
PREPARED_STATEMENTS_MAX = 10_000
INDEX_BACKFILL_BATCH_ROWS = 1000
# Rows validated per read-only snapshot (a few seconds of work at most, far
# inside storage's five-minute retention of old versions).
VALIDATE_BATCH_ROWS = 100_000
FINISH_ATTEMPTS_MAX = 100  # publishing an online change, against concurrent DDL
# A COMMIT runs shielded from cancels and timeouts (see the module docstring);
# this bounds it. The journal gives up on an append well before (12 s), so
# reaching it means something is badly wrong, and the outcome is unknown.
COMMIT_OUTCOME_WAIT_S = 30.0
# Settings that describe the open transaction: any SET of them is undone at its end.
_TRANSACTION_SETTINGS = frozenset({"transaction_read_only", "transaction_isolation", "transaction_deferrable"})
_LIMIT_SETTINGS = frozenset({"dsql.transaction_rows_max", "dsql.transaction_bytes_max"})
# RESET ALL leaves these alone (PostgreSQL's GUC_NO_RESET_ALL).
_NOT_RESET_BY_ALL = _TRANSACTION_SETTINGS | {"session_authorization"}


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
        self._xact_open = False  # a transaction (block or implicit) has started and not ended
        self._implicit_block = False  # a simple query of several statements (PostgreSQL's implicit block)
        self.txn: Transaction | None = None
        self.block = False  # explicit BEGIN
        self.failed = False
        self.block_read_only = False
        self.statements: dict[str, Prepared] = {}
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
        from qp.ddl.sequences import SessionSequences

        self.sequences = SessionSequences()
        from qp.frontend.cursors import Cursors

        self.cursors = Cursors(self)  # DECLARE'd cursors (qp/frontend/cursors.py); pg_cursors reads them
        self._refresh_ctx()

    def _startup_setting(self, name: str, value: str) -> None:
        canonical = canonical_name(name)
        if canonical is None:
            raise SqlError("42704", f'unrecognized configuration parameter "{name}"', severity="FATAL")
        if canonical == "default_transaction_read_only" and normalize(canonical, value) == "on":
            raise SqlError("0A000", f'setting configuration parameter "{name}" not supported', severity="FATAL")
        self.settings[canonical] = normalize(canonical, value)

    def _refresh_ctx(self) -> None:
        ctx = self.ctx
        ctx.timezone = self.settings["TimeZone"]
        ctx.tzinfo = zoneinfo_for(ctx.timezone)
        ctx.database = "postgres"
        ctx.user = self.user
        ctx.session_user = self.user
        ctx.extra_float_digits = int(self.settings.get("extra_float_digits", "1"))
        ctx.settings = {k.lower(): v for k, v in self.settings.items()}
        ctx.setting_default = {"server_version": DEFAULTS["server_version"], "server_version_full": VERSION_STRING}
        ctx.backend_pid = self.process_id
        ctx.set_config = self._set_config
        ctx.signal_backend = self._signal_backend

    def _signal_backend(self, pid: int, terminate: bool) -> bool:
        """pg_cancel_backend / pg_terminate_backend from this session (False: no such backend)."""
        return self.qp.signal_backend(pid, terminate, self.user)

    def _set_config(self, name: str, value: str, is_local: bool) -> str:
        """set_config(name, value, is_local): SET, or SET LOCAL, from an expression."""
        canonical = canonical_name(name)
        if canonical is None:
            raise SqlError("42704", f'unrecognized configuration parameter "{name}"')
        value = normalize(canonical, value)
        self._change_setting(canonical, value, local=is_local)
        return value

    # -- settings, transactionally (qp/frontend/setting_stack.py) --------------------------------

    def _change_setting(self, name: str, value: str, *, local: bool = False) -> None:
        """SET (or SET LOCAL) one setting in the open transaction, which may undo it."""
        if name in _TRANSACTION_SETTINGS:
            local = True  # they describe the transaction: its end puts them back
        self.setting_stack.change(name, value, len(self.savepoints) + 1, local=local)
        self._settings_changed({name})

    def _settings_changed(self, names: set[str]) -> None:
        if not names:
            return
        self._settings_touched = True
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

    def _transaction_ended(self, commit: bool) -> None:
        """The transaction (a block or an implicit one) is over: keep or undo what it SET."""
        self._xact_open = False
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
        statements = await self._parsed(sql)
        if not statements:
            yield EmptyQuery()
            return
        self._implicit_block = len(statements) > 1
        try:
            for i, statement in enumerate(statements):
                # statement_timeout applies to each statement of the string (PostgreSQL 13+).
                self._statement_started()
                try:
                    prepared = self._prepare_unbound(statement)
                    if prepared.kind == "copy":  # streams: CopyIn/OutResponse now, CommandComplete in events
                        events = []
                        async for event in self._copy(prepared, events):
                            yield event
                    else:
                        events = await self._guarded(self._run(prepared, (), None))
                    if i == len(statements) - 1 and not self.block and self.txn is not None:
                        # The implicit transaction of a query string commits before
                        # the last CommandComplete, so a failed commit is reported
                        # instead of it (as PostgreSQL does).
                        txn, self.txn = self.txn, None
                        await self._guarded(self._commit(txn))
                    if i == len(statements) - 1 and not self.block:
                        self._transaction_ended(commit=True)
                    for event in events:
                        if type(event) is not ResultRows:
                            yield event
                        elif len(event) <= CHUNK_ROWS:  # one chunk: no stream needed
                            self._check_interrupts()
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
        if self.failed and not _ends_block(Prepared(statement, "utility")):
            raise in_failed_transaction()
        try:
            if name and name in self.statements:
                raise SqlError("42P05", f'prepared statement "{name}" already exists')
            if len(self.statements) >= PREPARED_STATEMENTS_MAX:
                raise SqlError("54000", "too many prepared statements")
            self._statement_started()
            prepared = await self._guarded(self._prepare_for_describe(statement, param_oids))
        except BaseException as exc:
            _give_position(exc, statement)
            await self._after_error()
            raise
        finally:
            self._statement_ended()
        self.statements[name] = prepared

    async def _parsed(self, sql: str) -> list[Statement]:
        try:
            return parse(sql)
        except BaseException:  # a statement that does not parse (42601, 54001) fails the block too
            await self._after_error()
            raise

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
        if self.failed and not _ends_block(prepared):
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
        for i, (raw, t) in enumerate(zip(params, prepared.param_types, strict=True)):
            if raw is None:
                values.append(None)
                continue
            fmt = param_formats[0] if len(param_formats) == 1 else (param_formats[i] if param_formats else 0)
            try:
                if fmt == 1:
                    values.append(binary_decoder(t)(raw))
                else:
                    values.append(text_decoder(t, self.ctx)(raw.decode("utf-8")))
            except UnicodeDecodeError:
                raise SqlError("22021", "invalid byte sequence for encoding \"UTF8\"") from None
            except SqlError:
                raise
            except Exception as exc:
                raise SqlError("22P03", f"incorrect binary data format in bind parameter {i + 1}") from exc
        columns = prepared.columns
        if columns is not None and len(result_formats) not in (0, 1, len(columns)):
            raise SqlError("08P01", f"bind message has {len(result_formats)} result formats but query has {len(columns)} columns")
        formats = _expand_formats(result_formats, len(columns) if columns else 0)
        described = [Column(c.name, c.type_oid, c.type_len, c.type_mod, c.table_oid, c.column_number, f)
                     for c, f in zip(columns, formats, strict=True)] if columns is not None else None
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
                async for event in self._copy(portal.prepared, tail):
                    yield event
                portal.tag = tail[-1].tag if tail else None
            if portal.rows is None:
                if self.failed and not _ends_block(portal.prepared):
                    raise in_failed_transaction()
                events = await self._guarded(self._run(portal.prepared, portal.params, portal.formats, portal))
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
                    self._check_interrupts()
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
            self._drop_portals()
            if txn.has_writes:
                try:
                    await self._guarded(self._commit(txn))
                except BaseException:
                    self._transaction_ended(commit=False)
                    raise
        elif not self.block:
            self.txn = None
            self._drop_portals()
        if not self.block:
            self._transaction_ended(commit=True)

    def mark_failed(self) -> None:
        if self.block:
            self._block_failed()
        else:
            self.txn = None
            self._transaction_ended(commit=False)

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
        if self.transaction_status is api.TransactionStatus.IDLE:
            seconds = duration_s(self.settings, "idle_session_timeout")
            error = SqlError("57P05", "terminating connection due to idle-session timeout", severity="FATAL")
        else:
            seconds = duration_s(self.settings, "idle_in_transaction_session_timeout")
            error = SqlError("25P03", "terminating connection due to idle-in-transaction timeout", severity="FATAL")
        return (seconds, error) if seconds > 0 else None

    async def close(self) -> None:
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

    def _check_interrupts(self) -> None:
        """Between chunks of output, where no cancel scope runs."""
        if self._interrupt is not None or trio.current_time() >= self._deadline:
            raise self._interrupted()

    async def _guarded(self, awaitable):
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
            self._check_interrupts()
            yield DataRows(encoded)
            await checkpoint_if_due()

    async def _after_error(self) -> None:
        if self.block:
            self._block_failed()
        else:
            self.txn = None
            self._drop_portals()
            self._transaction_ended(commit=False)

    def _block_failed(self) -> None:
        """An error inside a block: PostgreSQL aborts the innermost (sub)transaction
        at once, so what it SET is undone now, before ROLLBACK [TO SAVEPOINT]."""
        self.failed = True
        self.end_setting_levels(len(self.savepoints) + 1, commit=False)

    def _drop_portals(self) -> None:
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

    # -- preparing ---------------------------------------------------------------------

    def _prepare_unbound(self, statement: Statement) -> Prepared:
        from qp.frontend.prepare import classify

        return Prepared(statement, classify(statement))

    async def _prepare_for_describe(self, statement: Statement | None, param_oids: list[int]) -> Prepared:
        """Bind a statement for Parse: its parameter and result types are needed now."""
        from qp.frontend.prepare import classify

        kind = classify(statement)
        if kind in ("query", "insert", "update", "delete"):
            return await self._bind_checked(statement, param_oids)
        if statement.kind in ("DeclareCursorStmt", "FetchStmt"):
            from qp.frontend.cursors import prepare_cursor_statement

            return await prepare_cursor_statement(self, statement, param_oids)
        return prepare(statement, self.qp.catalog_guess(), self.ctx, param_oids)

    async def _bind_checked(self, statement: Statement, param_oids: list[int],
                            txn: Transaction | None = None) -> Prepared:
        """Bind against the newest catalog; if a name is missing, make sure the catalog is current."""
        catalog = txn.catalog if txn is not None and txn.catalog is not None else self.qp.catalog_guess()
        stats = self.qp.table_stats  # kept fresh by the QP's background task
        rules = DEFAULT_RULES if self.settings.get("dsql.enable_batched_nestloop") != "off" else NO_BATCHED_JOINS
        try:
            return prepare(statement, catalog, self.ctx, param_oids, special_relations=self._special_relation,
                           stats=stats, rules=rules)
        except SqlError as exc:
            if exc.sqlstate not in _UNDEFINED or (txn is not None and txn.catalog_validated):
                raise
            probe = txn or self._new_txn(read_only=True)
            fresh = await self.qp.load_catalog(probe)
            if fresh.version == catalog.version:
                raise
            if txn is not None:
                txn.catalog = fresh
                txn.catalog_validated = True
            return prepare(statement, fresh, self.ctx, param_oids, special_relations=self._special_relation,
                           stats=stats, rules=rules)

    def _special_relation(self, schema: str | None, name: str):
        if schema == "sys" and name == "jobs":
            from qp.ddl.jobs import JobsRelation

            return JobsRelation()
        if schema == "sys" and name in SYS_CLUSTER_RELATIONS:
            return SYS_CLUSTER_RELATIONS[name]()
        from qp.pgcatalog import resolve_relation

        return resolve_relation(schema, name)

    async def catalog_for(self, txn: Transaction):
        """The catalog as of the transaction's snapshot, confirmed by storage
        (a statement that reads only system views still sees committed DDL)."""
        if txn.catalog is None or not txn.catalog_validated:
            txn.begin_snapshot()
            txn.catalog = await self.qp.load_catalog(txn)
            txn.catalog_validated = True
        return txn.catalog

    # -- running statements ----------------------------------------------------------------

    def _new_txn(self, *, read_only: bool = False, explicit: bool = False) -> Transaction:
        qp = self.qp
        txn = Transaction(qp.clock, qp.storage, qp.topology, qp.transport, read_only=read_only, explicit=explicit)
        txn.rows_max, txn.bytes_max = transaction_limits(self.settings)  # dsql.transaction_*_max
        return txn

    def _copy(self, prepared: Prepared, tail: list) -> AsyncIterator[api.Event]:
        """COPY (qp/frontend/copy.py): its streamed events; its CommandComplete goes to `tail`."""
        from qp.frontend.copy import run_copy

        return run_copy(self, prepared.statement, tail)

    def _current_txn(self) -> Transaction:
        if self.txn is None:
            read_only = self.settings.get("default_transaction_read_only") == "on"
            self.txn = self._new_txn(read_only=read_only)
        return self.txn

    async def _run(self, prepared: Prepared, params: tuple, formats: list[int] | None,
                   portal: Portal | None = None) -> list[api.Event]:
        """Run one statement. Without a portal, returns all its events; with one,
        leaves rows and the command tag on the portal and returns the rest."""
        self._refresh_statement_time()
        kind = prepared.kind
        if self.failed and not _ends_block(prepared):
            raise in_failed_transaction()
        if kind == "empty":
            events: list[api.Event] = [EmptyQuery()]
        elif kind == "utility":
            events = await self._utility(prepared.statement, portal, params)
        else:
            txn = self._current_txn()
            txn.check_age()
            if kind == "ddl":
                events = await self._ddl(prepared.statement, txn)
            else:
                events = await self._dml_or_query(prepared, params, formats, txn, portal is not None)
        if portal is None:
            return events
        portal.tag = _take_tag(events)
        portal.rows = _take_rows(events)
        return [e for e in events
                if not isinstance(e, (CommandComplete, DataRows, ResultRows, RowDescription, EmptyQuery))]

    async def _dml_or_query(self, prepared: Prepared, params: tuple, formats: list[int] | None,
                            txn: Transaction, described: bool) -> list[api.Event]:
        kind = prepared.kind
        if txn.read_only and kind == "query" and prepared.statement.body.get("lockingClause"):
            raise SqlError("25006", "cannot execute SELECT FOR UPDATE in a read-only transaction")
        if kind in ("insert", "update", "delete", "truncate"):
            if txn.read_only:
                raise SqlError("25006", f"cannot execute {kind.upper()} in a read-only transaction")
            if kind == "truncate" and not (self.block or self._implicit_block or txn.dml_count or txn.ddl_count):
                # Outside a block TRUNCATE is PostgreSQL's catalog swap (instant,
                # any size); inside one, a transactional delete (see qp/bind/dml.py).
                return await self._ddl(prepared.statement, txn)
            if txn.ddl_count:
                raise SqlError("0A000", "ddl and dml are not supported in the same transaction")
        txn.begin_snapshot()
        for _ in range(3):
            bound = await self._bound_for(prepared, txn, described)
            try:
                return await self._execute_bound(bound, params, formats, txn)
            except StaleCatalog:
                if txn.catalog_validated:
                    raise schema_conflict() from None
                txn.catalog = await self.qp.load_catalog(txn)
                txn.catalog_validated = True
        raise schema_conflict()

    async def _bound_for(self, prepared: Prepared, txn: Transaction, described: bool) -> Prepared:
        """`prepared`, bound and planned against the transaction's catalog."""
        catalog = txn.catalog or self.qp.catalog_guess()
        if not prepared.planned_for(catalog, self.ctx):
            bound = await self._bind_checked(prepared.statement, prepared.declared_oids, txn)
            if described and prepared.columns is not None and (
                bound.columns is None
                or [(c.name, c.type_oid) for c in bound.columns] != [(c.name, c.type_oid) for c in prepared.columns]
            ):
                raise cached_plan_changed()
            prepared.plan, prepared.catalog_version = bound.plan, bound.catalog_version
            prepared.result_types, prepared.catalog = bound.result_types, bound.catalog
            prepared.search_path = bound.search_path
            prepared.stats, prepared.stats_version = bound.stats, bound.stats_version
            if prepared.columns is None or not described:
                prepared.columns = bound.columns
        if txn.catalog is None:
            txn.catalog = prepared.catalog
        return prepared

    async def _execute_bound(self, prepared: Prepared, params: tuple, formats: list[int] | None,
                             txn: Transaction) -> list[api.Event]:
        frame = ExecFrame(params, (), self.ctx)
        self.ctx.catalog = txn.catalog
        rc = RunContext(txn, frame, StatementCaches(), self)
        kind = prepared.kind
        if kind == "query":
            rows = await collect(prepared.plan, rc)
            tag = f"SELECT {len(rows)}"
        elif kind == "insert":
            count, rows = await run_insert(prepared.plan, rc)
            tag = f"INSERT 0 {count}"
            txn.dml_count += 1
        elif kind == "truncate":
            from qp.bind.context import BindContext

            await run_truncate(BindContext(txn.catalog, self.ctx), prepared.plan, rc)
            rows, tag = [], "TRUNCATE TABLE"
            txn.dml_count += 1
        else:
            count, rows = await run_modify(prepared.plan, rc)
            tag = f"{kind.upper()} {count}"
            txn.dml_count += 1
        # What functions warned about (pg_cancel_backend of an unknown PID...) goes first.
        notices: list[api.Event] = [Notice(message, code, severity) for severity, code, message in self.ctx.notices]
        self.ctx.notices.clear()
        columns = prepared.columns
        if columns is None:
            return [*notices, CommandComplete(tag)]
        fmts = formats if formats is not None else [0] * len(columns)
        encoders = [
            binary_encoder(t) if f == 1 else text_encoder(t, self.ctx)
            for t, f in zip(prepared.result_types, _expand_formats(fmts, len(columns)), strict=True)
        ]
        return [*notices, RowDescription(columns), ResultRows(rows, encoders), CommandComplete(tag)]

    def _refresh_statement_time(self) -> None:
        now_us = (self.qp.clock.now().latest // 1000) - 946_684_800_000_000
        self.ctx.statement_timestamp_us = now_us
        if not self._xact_open:
            # now() is the start of the transaction: BEGIN's time in a block
            # (PostgreSQL's rule; DSQL documents nothing else), else the first
            # statement of the implicit transaction.
            self._xact_open = True
            self.ctx.transaction_timestamp_us = now_us
            self.activity.transaction_started(now_us)

    async def _commit(self, txn: Transaction) -> None:
        """Commit, shielded from cancels and timeouts (PostgreSQL holds interrupts
        here too): once adjudication starts, the client hears the real outcome."""
        with trio.move_on_after(COMMIT_OUTCOME_WAIT_S) as scope:
            scope.shield = True
            await txn.commit()
            if txn.catalog_version_written is not None:
                # Our own DDL: later transactions of this process bind against it.
                fresh = self._new_txn(read_only=True)
                try:
                    await self.qp.load_catalog(fresh)
                except SqlError:
                    log.warning("catalog reload after DDL failed; the next statement reloads it")
            return
        if txn.committed:
            return  # only the catalog reload ran out of time
        raise outcome_unknown(f"COMMIT did not finish within {COMMIT_OUTCOME_WAIT_S:g} s")

    # -- DDL ------------------------------------------------------------------------------------

    async def _ddl(self, statement: Statement, txn: Transaction) -> list[api.Event]:
        if txn.read_only:
            raise SqlError("25006", f"cannot execute {_ddl_tag(statement)} in a read-only transaction")
        if txn.dml_count:
            raise SqlError("0A000", "ddl and dml are not supported in the same transaction")
        if txn.ddl_count:
            raise SqlError("0A000", "multiple ddl statements are not supported in a transaction")
        txn.begin_snapshot()
        catalog = await self.qp.load_catalog(txn)
        txn.catalog = catalog
        txn.catalog_validated = True
        from qp.bind.context import BindContext

        # Views may read the system catalogs (CREATE VIEW ... FROM pg_class).
        bc = BindContext(catalog, self.ctx, resolve_special_relation=self._special_relation)
        kind = statement.kind
        body = statement.body
        if kind == "CreateStmt":
            result = await create_table(body, txn, catalog, bc)
        elif kind == "DropStmt":
            result = await drop(body, txn, catalog, bc)
        elif kind == "IndexStmt":
            # CONCURRENTLY changes nothing: every index is built online.
            result = await create_index(body, txn, catalog, bc)
        elif kind == "AlterTableStmt":
            result = await alter_table(body, txn, catalog, bc, asynchronous=statement.asynchronous)
        elif kind == "RenameStmt" and body.get("renameType") == "OBJECT_ROLE":
            result = await role_ddl(statement, txn, catalog, self.user, self.ctx)
        elif kind == "RenameStmt":
            result = await rename(body, txn, catalog, bc)
        elif kind == "CreateSeqStmt":
            result = await create_sequence(body, txn, catalog, bc)
        elif kind == "ViewStmt":
            result = await create_view(body, txn, catalog, bc, statement.text)
        elif kind == "AlterSeqStmt":
            result = await alter_sequence(body, txn, catalog, bc)
            self.sequences.forget(result.sequence_oid)  # this session's cached block is stale now
        elif kind in ("CreateRoleStmt", "AlterRoleStmt", "DropRoleStmt"):
            result = await role_ddl(statement, txn, catalog, self.user, self.ctx)
        elif kind == "TruncateStmt":
            result = await truncate_swap(body, txn, catalog, bc)
        else:
            raise SqlError("0A000", f"unsupported statement: {kind.removesuffix('Stmt')}")
        events: list[api.Event] = [Notice(n) for n in result.notices]
        if result.followups:
            # Online changes commit their first step now, then run the rest in
            # transactions of their own (see qp/ddl/statements.py) — here, or as a
            # background job for DSQL's ASYNC forms.
            if self.block:
                raise SqlError("0A000", f"{_ddl_tag(statement)} of this kind cannot run inside a transaction block")
            self.txn = None
            await self._commit(txn)
            if statement.asynchronous:
                from qp.ddl import jobs

                step, table_oid, name = result.followups[0]
                job_type = "INDEX_BUILD" if step == "build_index" else "VALIDATE_CONSTRAINT"
                if step == "revalidate":
                    self.txn = None  # nothing to commit: the statement only started a job
                object_id = result.object_id or table_oid
                job_id = await jobs.submit(self, job_type, object_id, name, result.followups)
                events += [RowDescription([Column("job_id", 25, -1)]), DataRows([[job_id.encode()]])]
            else:
                await self._run_followups(result.followups)
        elif statement.asynchronous:
            raise SqlError("0A000", "ASYNC is supported for CREATE INDEX and ALTER TABLE ... VALIDATE CONSTRAINT")
        events.append(CommandComplete(result.tag))
        return events

    async def _run_followups(self, followups: list[tuple]) -> None:
        """Validate and build what an online DDL added; publish it, or take it back."""
        from qp.ddl.statements import finish_constraint

        table_oid, name = followups[0][1], followups[0][2]
        failure: SqlError | None = None
        for step in followups:
            try:
                if step[0] == "build_index":
                    await self._build_index(step[1], step[2])
                elif step[0] in ("validate", "revalidate"):
                    await self._validate(step[1], step[2])
            except SqlError as exc:
                failure = exc
                break
        if failure is not None and followups[0][0] == "revalidate":
            raise failure  # VALIDATE CONSTRAINT failed: the constraint stays as it was (NOT VALID)
        for attempt in range(FINISH_ATTEMPTS_MAX):  # retried on conflicts with concurrent DDL
            txn = self._new_txn()
            txn.begin_snapshot()
            catalog = await self.qp.load_catalog(txn)
            if catalog.by_oid.get(table_oid) is None:
                break
            try:
                await finish_constraint(txn, catalog, table_oid, name, failed=failure is not None)
                await self._commit(txn)
                break
            except SqlError as exc:
                if exc.sqlstate != "40001" or attempt == FINISH_ATTEMPTS_MAX - 1:
                    raise
                await trio.sleep(0.001 * (attempt + 1))
        if failure is not None:
            raise failure

    async def _validate(self, table_oid: int, name: str) -> None:
        """Check existing rows against a constraint writers already enforce, in
        batches of `VALIDATE_BATCH_ROWS`, each at a snapshot of its own."""
        from qp.bind.context import BindContext
        from qp.catalog.stored import IndexDef
        from qp.ddl.constraints import validate_rows

        start: bytes | None = None
        while True:
            txn = self._new_txn(read_only=True)
            txn.begin_snapshot()
            catalog = await self.qp.load_catalog(txn)
            txn.catalog, txn.catalog_validated = catalog, True
            table = catalog.by_oid.get(table_oid)
            constraint = table.constraint_named(name) if table is not None else None
            if constraint is None:
                raise SqlError("40001", "schema has been updated by another transaction (OC001)")
            if isinstance(constraint, IndexDef):
                constraint = constraint.columns  # a new primary key: its columns must hold no NULLs
            start = await validate_rows(txn, catalog, table, constraint, self.ctx, BindContext(catalog, self.ctx),
                                        start=start, limit=VALIDATE_BATCH_ROWS)
            if start is None:
                return

    async def _build_index(self, table_oid: int, index_name: str) -> None:
        start: bytes | None = None
        while True:
            txn = self._new_txn()
            txn.begin_snapshot()
            catalog = await self.qp.load_catalog(txn)
            txn.catalog = catalog
            table = catalog.by_oid.get(table_oid)
            index = table.index_named(index_name) if table is not None else None
            if index is None:
                raise SqlError("40001", "schema has been updated by another transaction (OC001)")
            try:
                resume = await backfill_batch(txn, table, index, start or table.primary_prefix,
                                              INDEX_BACKFILL_BATCH_ROWS, self.ctx)
                await txn.commit()
            except SqlError as exc:
                if exc.sqlstate == "40001":
                    continue  # a row changed under the batch: read it again
                raise
            if resume is None:
                return
            start = resume

    # -- utility statements --------------------------------------------------------------------

    async def _utility(self, statement: Statement, portal: Portal | None, params: tuple = ()) -> list[api.Event]:
        kind = statement.kind
        body = statement.body
        if kind == "TransactionStmt":
            return await self._transaction_statement(body)
        if self.failed:
            raise in_failed_transaction()
        if kind == "VariableSetStmt":
            return self._set(body)
        if kind == "VariableShowStmt":
            return self._show(body.get("name", ""))
        if kind == "DiscardStmt":
            if self.block:
                raise SqlError("25001", "DISCARD ALL cannot run inside a transaction block")
            self.statements.clear()
            self.portals.clear()
            self.cursors.clear()
            self._reset_all()
            return [CommandComplete("DISCARD ALL")]
        if kind == "DeallocateStmt":
            name = body.get("name")
            if name is None or body.get("isall"):
                self.statements = {k: v for k, v in self.statements.items() if k == ""}
                return [CommandComplete("DEALLOCATE ALL")]
            if name not in self.statements:
                raise SqlError("26000", f'prepared statement "{name}" does not exist')
            del self.statements[name]
            return [CommandComplete("DEALLOCATE")]
        if kind == "UnlistenStmt":
            return [CommandComplete("UNLISTEN")]
        if kind == "VacuumStmt":
            # VACUUM has nothing to do: old versions are collected continuously (DSQL has
            # no VACUUM either); accepted so that tools such as pgbench run.
            if not body.get("is_vacuumcmd") or any(o["DefElem"].get("defname") == "analyze"
                                                   for o in body.get("options", ())):
                await analyze_tables(self, body)
            return [CommandComplete("VACUUM" if body.get("is_vacuumcmd") else "ANALYZE")]
        if kind == "CheckPointStmt":
            return [CommandComplete("CHECKPOINT")]
        if kind in ("DeclareCursorStmt", "FetchStmt", "ClosePortalStmt"):
            from qp.frontend.cursors import run_cursor_statement

            return await run_cursor_statement(self, statement, portal)
        if kind == "ExplainStmt":
            return await self._explain(body)
        if kind == "CallStmt":
            return await self._call(body, params)
        raise SqlError("0A000", f"unsupported statement: {kind.removesuffix('Stmt')}")

    async def _transaction_statement(self, body: dict) -> list[api.Event]:
        kind = body.get("kind")
        if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
            tag = "BEGIN" if kind == "TRANS_STMT_BEGIN" else "START TRANSACTION"
            if self.failed:
                raise in_failed_transaction()
            options = transaction_characteristics(body.get("options", ()))
            events: list[api.Event] = []
            if self.block:
                events.append(Notice("there is already a transaction in progress", "25001", "WARNING"))
            else:
                refuse_characteristics(options)  # before the block exists: a refused BEGIN starts none
                self.block = True
                if self.txn is None:
                    read_only = self.settings.get("transaction_read_only") == "on"  # default_transaction_read_only
                    self.txn = self._new_txn(read_only=read_only, explicit=True)
                self.txn.explicit = True
            self._transaction_options(options)  # PostgreSQL applies them even to a block already open
            return [*events, CommandComplete(tag)]
        if kind == "TRANS_STMT_COMMIT":
            if body.get("chain"):
                raise SqlError("0A000", "COMMIT AND CHAIN is not supported")
            txn, failed, was_block = self.txn, self.failed, self.block
            self.txn, self.block, self.failed = None, False, False
            self._drop_portals()
            if failed or txn is None:
                self._transaction_ended(commit=not failed)
                events = [] if was_block else [Notice("there is no transaction in progress", "25P01", "WARNING")]
                return [*events, CommandComplete("ROLLBACK" if failed else "COMMIT")]
            # Outside a block this commits the implicit transaction (what came
            # before it in the same query string), as PostgreSQL does.
            try:
                await self._commit(txn)
            except BaseException:
                self._transaction_ended(commit=False)
                raise
            self._transaction_ended(commit=True)
            if not was_block:
                return [Notice("there is no transaction in progress", "25P01", "WARNING"), CommandComplete("COMMIT")]
            return [CommandComplete("COMMIT")]
        if kind == "TRANS_STMT_ROLLBACK":
            if body.get("chain"):
                raise SqlError("0A000", "ROLLBACK AND CHAIN is not supported")
            was_block = self.block
            self.txn, self.block, self.failed = None, False, False
            self._drop_portals()
            self._transaction_ended(commit=False)
            if not was_block:
                return [Notice("there is no transaction in progress", "25P01", "WARNING"), CommandComplete("ROLLBACK")]
            return [CommandComplete("ROLLBACK")]
        if kind in ("TRANS_STMT_SAVEPOINT", "TRANS_STMT_RELEASE", "TRANS_STMT_ROLLBACK_TO"):
            from qp.frontend.savepoints import run_savepoint_statement

            return run_savepoint_statement(self, kind, body.get("savepoint_name", ""))
        raise SqlError("0A000", "two-phase commit is not supported")

    def _transaction_options(self, options: list[tuple[str, str]]) -> None:
        """BEGIN's options, applied to the open transaction (qp/frontend/session_settings.py)."""
        set_characteristics(self, options)

    def _set(self, body: dict) -> list[api.Event]:
        return run_set(self, body)  # qp/frontend/session_settings.py

    def _reset_all(self) -> None:
        """RESET ALL (and DISCARD ALL): every changeable setting back to its value at startup."""
        for key, value in self.reset_values.items():
            if key in READ_ONLY or key in _NOT_RESET_BY_ALL or self.settings.get(key) == value:
                continue
            self._change_setting(key, value)

    def _show(self, name: str) -> list[api.Event]:
        return run_show(self, name)  # qp/frontend/session_settings.py

    async def _call(self, body: dict, params: tuple) -> list[api.Event]:
        from qp.ddl import jobs
        from qp.parse.parser import string_list

        call = body["funccall"]
        names = string_list(call.get("funcname"))
        if names != ["sys", "wait_for_job"]:
            raise SqlError("42883", f"procedure {'.'.join(names)} does not exist")
        args = call.get("args", ())
        arg = args[0] if len(args) == 1 else {}
        if "A_Const" in arg and "sval" in arg["A_Const"]:
            job_id = arg["A_Const"]["sval"].get("sval", "")
        elif "ParamRef" in arg and 0 < arg["ParamRef"].get("number", 0) <= len(params):
            job_id = params[arg["ParamRef"]["number"] - 1]
        else:
            raise SqlError("42883", "procedure sys.wait_for_job takes one job id (text)")
        done = await jobs.wait_for_job(self, str(job_id))
        return [RowDescription([Column("wait_for_job", 16, 1)]), DataRows([[b"t" if done else b"f"]]),
                CommandComplete("CALL")]

    async def _explain(self, body: dict) -> list[api.Event]:
        return await run_explain(self, body)


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


def _expand_formats(formats: list[int], n: int) -> list[int]:
    if not formats:
        return [0] * n
    if len(formats) == 1:
        return [formats[0]] * n
    return list(formats)


def _ends_block(prepared: Prepared) -> bool:
    statement = prepared.statement
    if statement is None or statement.kind != "TransactionStmt":
        return False
    return statement.body.get("kind") in ("TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK", "TRANS_STMT_ROLLBACK_TO")


def _take_tag(events: list) -> str | None:
    for event in events:
        if isinstance(event, CommandComplete):
            return event.tag
    return None


def _take_rows(events: list) -> list | ResultRows:
    """A portal's rows: encoded already, or values still to encode (ResultRows)."""
    rows: list = []
    for event in events:
        if isinstance(event, ResultRows):
            return event
        if isinstance(event, DataRows):
            rows += event.rows
    return rows


def _ddl_tag(statement: Statement) -> str:
    body = statement.body
    kind = statement.kind
    if kind == "CreateStmt":
        return "CREATE TABLE"
    if kind == "IndexStmt":
        return "CREATE INDEX"
    if kind == "DropStmt":
        return "DROP " + body.get("removeType", "OBJECT_TABLE").removeprefix("OBJECT_")
    if kind == "RenameStmt" and body.get("renameType") == "OBJECT_ROLE":
        return "ALTER ROLE"
    if kind in ("AlterTableStmt", "RenameStmt"):
        return "ALTER TABLE"
    if kind == "CreateSeqStmt":
        return "CREATE SEQUENCE"
    if kind == "ViewStmt":
        return "CREATE VIEW"
    if kind == "AlterSeqStmt":
        return "ALTER SEQUENCE"
    if kind in ("CreateRoleStmt", "AlterRoleStmt", "DropRoleStmt"):
        return role_tag(statement)
    return kind.removesuffix("Stmt").upper()

