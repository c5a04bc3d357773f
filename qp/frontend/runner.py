"""The statement runner: one session's statements, from a parse tree to events.

Every way a statement arrives — a simple query, an extended-protocol
Execute, a cursor's FETCH, a COPY — goes through here: classify it, bind it
against the right catalog, execute it in the session's transaction, and
encode its result. The session (qp/frontend/session.py) keeps the state; this
owns the loop around it:

- Binding is against the newest catalog this process knows; when a name is
  missing, the catalog as of the transaction's τ_start is loaded and the
  statement bound again (`bind_checked`).
- Storage refuses a read whose catalog version differs from the one as of
  τ_start (StaleCatalog). Before the transaction has read anything the
  statement is bound again against the right catalog and run again (a few
  times at most); afterwards it is a conflict with a concurrent DDL (OC001).
- DDL runs through qp/ddl/dispatch.py; online changes then commit their
  first step and run their follow-ups here or as background jobs.
- Utility statements (transaction control, SET/SHOW, EXPLAIN, CALL, ...) are
  qp/frontend/utility.py's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from qp import api
from qp.api import Column, CommandComplete, DataRows, EmptyQuery, Notice, RowDescription
from qp.bind.context import BindContext
from qp.catalog.temp_overlay import committed_overlay
from qp.ddl import jobs, online
from qp.ddl.create_table_as import create_table_as
from qp.ddl.dispatch import ddl_tag, run_ddl
from qp.ddl.jobs import JobsRelation
from qp.ddl.ownership import after_ddl
from qp.ddl.temp_objects import SameTransaction, on_commit_action, targets_temp, writes_only_temp
from qp.errors import SqlError, cached_plan_changed, in_failed_transaction, schema_conflict
from qp.exec.compile import ExecFrame
from qp.exec.dml import run_insert, run_modify, run_truncate
from qp.exec.fast_path import fast_plan
from qp.exec.operators import collect
from qp.exec.runtime import RunContext, StatementCaches
from qp.frontend.copy import run_copy
from qp.frontend.cursors import prepare_cursor_statement
from qp.frontend.prepare import Prepared, classify, prepare
from qp.frontend.results import ResultRows
from qp.frontend.routines import run_routine
from qp.frontend.utility import run_utility
from qp.parse.parser import Statement
from qp.pgcatalog import resolve_relation
from qp.pgcatalog.cluster_views import SYS_RELATIONS as SYS_CLUSTER_RELATIONS
from qp.plan.planner import DEFAULT_RULES
from qp.txn.transaction import StaleCatalog, Transaction
from qp.types import binary_encoder, text_encoder

# Codes that may mean "the catalog this statement was bound with is stale".
_UNDEFINED = {"42P01", "42703", "42704", "42883", "42P07", "42710", "42501"}  # 42501: a GRANT it has not seen
STALE_CATALOG_ATTEMPTS = 3
NO_BATCHED_JOINS = DEFAULT_RULES - {"index_join"}  # SET dsql.enable_batched_nestloop = off
_UNSET = object()


class StatementRunner:
    def __init__(self, session) -> None:
        self.session = session
        self.qp = session.qp

    def planner_rules(self) -> frozenset[str]:
        """The planner rules this session leaves on (dsql.enable_batched_nestloop, dsql.planner_rules_off)."""
        settings = self.session.settings
        rules = DEFAULT_RULES if settings.get("dsql.enable_batched_nestloop") != "off" else NO_BATCHED_JOINS
        off = settings.get("dsql.planner_rules_off")
        return rules - frozenset(off.split(",")) if off else rules

    def prepare_unbound(self, statement: Statement) -> Prepared:
        return Prepared(statement, classify(statement))

    async def prepare_for_describe(self, statement: Statement | None, param_oids: list[int]) -> Prepared:
        """Bind a statement for Parse: its parameter and result types are needed now."""
        kind = classify(statement)
        if kind in ("query", "insert", "update", "delete"):
            return await self.bind_checked(statement, param_oids)
        if statement.kind in ("DeclareCursorStmt", "FetchStmt"):
            return await prepare_cursor_statement(self.session, statement, param_oids)
        return prepare(statement, self.catalog_guess(), self.session.ctx, param_oids)

    async def bind_checked(
        self, statement: Statement, param_oids: list[int], txn: Transaction | None = None
    ) -> Prepared:
        """Bind against the newest catalog; if a name is missing, make sure the catalog is current."""
        catalog = txn.catalog if txn is not None and txn.catalog is not None else self.catalog_guess()
        stats = self.qp.table_stats  # kept fresh by the QP's background task
        rules = self.planner_rules()
        try:
            return prepare(
                statement, catalog, self.session.ctx, param_oids, special_relations=self.special_relation,
                stats=stats, rules=rules,
            )
        except SqlError as exc:
            if exc.sqlstate not in _UNDEFINED or (txn is not None and txn.catalog_validated):
                raise
            probe = txn or self.session.new_txn(read_only=True)
            fresh = await self.qp.load_catalog(probe)
            if fresh.version == catalog.version and fresh.overlay == catalog.overlay:
                raise
            if txn is not None:
                txn.catalog = fresh
                txn.catalog_validated = True
            return prepare(
                statement, fresh, self.session.ctx, param_oids, special_relations=self.special_relation,
                stats=stats, rules=rules,
            )

    def catalog_guess(self):
        """The newest catalog this process knows, with the session's temporary objects
        (those the open transaction created too: a Parse in a block must find them)."""
        txn = self.session.txn
        if txn is not None and txn.catalog is not None and txn.catalog.overlay:
            return txn.catalog
        return committed_overlay(self.qp.catalog_guess(), self.session.temp_store)

    def special_relation(self, schema: str | None, name: str):
        if schema == "sys" and name == "jobs":
            return JobsRelation()
        if schema == "sys" and name in SYS_CLUSTER_RELATIONS:
            return SYS_CLUSTER_RELATIONS[name]()
        return resolve_relation(schema, name)

    async def catalog_for(self, txn: Transaction):
        """The catalog as of the transaction's snapshot, confirmed by storage
        (a statement that reads only system views still sees committed DDL)."""
        if txn.catalog is None or not txn.catalog_validated:
            txn.begin_snapshot()
            txn.catalog = await self.qp.load_catalog(txn)
            txn.catalog_validated = True
        return txn.catalog

    async def run_routine(self, rc: RunContext, function, catalog, values: tuple, rows: bool):
        """A SQL function's body, run within the calling statement (qp/frontend/routines.py)."""
        return await run_routine(self.session, rc, function, catalog, values, rows)

    def copy(self, prepared: Prepared, tail: list) -> AsyncIterator[api.Event]:
        """COPY (qp/frontend/copy.py): its streamed events; its CommandComplete goes to `tail`."""
        return run_copy(self.session, prepared.statement, tail)

    async def run(
        self, prepared: Prepared, params: tuple, formats: list[int] | None, portal=None
    ) -> list[api.Event]:
        """Run one statement. Without a portal, returns all its events; with one,
        leaves rows and the command tag on the portal and returns the rest."""
        self.refresh_statement_time()
        kind = prepared.kind
        if self.session.failed and not ends_block(prepared):
            raise in_failed_transaction()
        if kind == "empty":
            events: list[api.Event] = [EmptyQuery()]
        elif kind == "utility":
            events = await run_utility(self.session, prepared.statement, portal, params)
        else:
            txn = self.session.current_txn()
            txn.check_age()
            if kind == "ddl":
                events = await self._ddl(prepared.statement, txn)
            else:
                events = await self._dml_or_query(prepared, params, formats, txn, portal is not None)
        if portal is None:
            return events
        portal.tag = _take_tag(events)
        portal.rows = _take_rows(events)
        return [
            e
            for e in events
            if not isinstance(e, (CommandComplete, DataRows, ResultRows, RowDescription, EmptyQuery))
        ]

    async def _dml_or_query(
        self, prepared: Prepared, params: tuple, formats: list[int] | None, txn: Transaction, described: bool
    ) -> list[api.Event]:
        kind = prepared.kind
        if txn.read_only and kind == "query" and prepared.statement.body.get("lockingClause"):
            raise SqlError("25006", "cannot execute SELECT FOR UPDATE in a read-only transaction")
        if kind in ("insert", "update", "delete", "truncate"):
            if txn.read_only and not writes_only_temp(prepared.statement, txn.catalog or self.catalog_guess()):
                raise SqlError("25006", f"cannot execute {kind.upper()} in a read-only transaction")
            if kind == "truncate" and not (
                self.session.block or self.session.implicit_block or txn.dml_count or txn.ddl_count
            ):
                # Outside a block TRUNCATE is PostgreSQL's catalog swap (instant,
                # any size); inside one, a transactional delete (see qp/bind/dml.py).
                return await self._ddl(prepared.statement, txn)
            if txn.ddl_count:
                raise SqlError("0A000", "ddl and dml are not supported in the same transaction")
        txn.begin_snapshot()
        if prepared.kind == "query" and not (self.session.block or self.session.implicit_block):
            txn.track_newer = False  # a lone query writes nothing after its reads
        for _ in range(STALE_CATALOG_ATTEMPTS):
            bound = await self.bound_for(prepared, txn, described)
            try:
                fast = self.fast_plan(bound)
                if fast is not None:
                    return await self.execute_fast(bound, fast, params, formats, txn)
                return await self.execute_bound(bound, params, formats, txn)
            except StaleCatalog:
                if txn.catalog_validated:
                    raise schema_conflict() from None
                txn.catalog = await self.qp.load_catalog(txn)
                txn.catalog_validated = True
        raise schema_conflict()

    async def bound_for(self, prepared: Prepared, txn: Transaction, described: bool) -> Prepared:
        """`prepared`, bound and planned against the transaction's catalog."""
        if txn.temp_catalog_stale:  # ROLLBACK TO may have taken back temporary DDL
            txn.temp_catalog_stale = False
            txn.catalog = await self.qp.load_catalog(txn)
        catalog = txn.catalog or self.catalog_guess()
        if not prepared.planned_for(catalog, self.session.ctx):
            bound = await self.bind_checked(prepared.statement, prepared.declared_oids, txn)
            if (
                described
                and prepared.columns is not None
                and (
                    bound.columns is None
                    or [(c.name, c.type_oid) for c in bound.columns]
                    != [(c.name, c.type_oid) for c in prepared.columns]
                )
            ):
                raise cached_plan_changed()
            prepared.plan, prepared.catalog_version = bound.plan, bound.catalog_version
            prepared.memo.clear()  # what was derived from the old plan
            prepared.result_types, prepared.catalog = bound.result_types, bound.catalog
            prepared.search_path, prepared.role = bound.search_path, bound.role
            prepared.stats, prepared.stats_version = bound.stats, bound.stats_version
            if prepared.columns is None or not described:
                prepared.columns = bound.columns
        if txn.catalog is None:
            txn.catalog = prepared.catalog
        return prepared

    async def execute_bound(
        self, prepared: Prepared, params: tuple, formats: list[int] | None, txn: Transaction
    ) -> list[api.Event]:
        frame = ExecFrame(params, (), self.session.ctx)
        self.session.ctx.catalog = txn.catalog
        rc = RunContext(txn, frame, StatementCaches(), self.session)
        kind = prepared.kind
        if kind == "query":
            rows = await collect(prepared.plan, rc)
            tag = f"SELECT {len(rows)}"
        elif kind == "insert":
            count, rows = await run_insert(prepared.plan, rc)
            tag = f"INSERT 0 {count}"
            txn.dml_count += 1
        elif kind == "truncate":
            await run_truncate(BindContext(txn.catalog, self.session.ctx), prepared.plan, rc)
            rows, tag = [], "TRUNCATE TABLE"
            txn.dml_count += 1
        else:
            count, rows = await run_modify(prepared.plan, rc)
            tag = f"{kind.upper()} {count}"
            txn.dml_count += 1
        return self._result_events(prepared, rows, tag, formats, txn)

    def fast_plan(self, prepared: Prepared):
        """The statement's fast plan (qp/exec/fast_path.py), made once per plan; None
        when the general path runs it (or `SET dsql.fast_path = off`)."""
        if not self.session.fast_path:
            return None
        memo = prepared.memo
        found = memo.get("fast", _UNSET)
        if found is _UNSET:
            found = memo["fast"] = fast_plan(prepared.kind, prepared.plan)
        return found

    async def execute_fast(
        self, prepared: Prepared, fast, params: tuple, formats: list[int] | None, txn: Transaction
    ) -> list[api.Event]:
        """`execute_bound` for a statement with a fast plan: the same events, no operator tree."""
        ctx = self.session.ctx
        frame = ExecFrame(params, (), ctx)
        ctx.catalog = txn.catalog
        kind = prepared.kind
        if kind == "query":
            rows = await fast.rows(txn, frame)
            tag = f"SELECT {len(rows)}"
        else:
            count, rows = await fast.run(txn, frame, self.session)
            tag = f"{kind.upper()} {count}"
            txn.dml_count += 1
        return self._result_events(prepared, rows, tag, formats, txn)

    def _result_events(
        self, prepared: Prepared, rows: list, tag: str, formats: list[int] | None, txn: Transaction
    ) -> list[api.Event]:
        ctx = self.session.ctx
        # What functions warned about (pg_cancel_backend of an unknown PID...) goes first.
        notices: list[api.Event] = [Notice(message, code, severity) for severity, code, message in ctx.notices]
        ctx.notices.clear()
        columns = prepared.columns
        if columns is None:
            return [*notices, CommandComplete(tag)]
        # The encoders depend on the result types, the formats and the session's settings
        # (DateStyle, TimeZone, extra_float_digits...); reg* output reads ctx.catalog when called.
        key = (None if formats is None else tuple(formats), self.session.settings_generation)
        memo = prepared.memo
        cached = memo.get("encoders")
        if cached is not None and cached[0] == key:
            encoders = cached[1]
        else:
            fmts = formats if formats is not None else [0] * len(columns)
            encoders = [
                binary_encoder(t) if f == 1 else text_encoder(t, ctx)
                for t, f in zip(prepared.result_types, expand_formats(fmts, len(columns)), strict=True)
            ]
            memo["encoders"] = (key, encoders)
        return [*notices, RowDescription(columns), ResultRows(rows, encoders), CommandComplete(tag)]

    def _check_ddl_allowed(self, txn: Transaction, ddl_count: int | None = None) -> None:
        """DSQL's rules: one DDL statement per transaction, and no DDL with DML."""
        if txn.dml_count:
            raise SqlError("0A000", "ddl and dml are not supported in the same transaction")
        if (txn.ddl_count if ddl_count is None else ddl_count):
            raise SqlError("0A000", "multiple ddl statements are not supported in a transaction")

    def refresh_statement_time(self) -> None:
        now_us = (self.qp.clock.now().latest // 1000) - 946_684_800_000_000
        self.session.ctx.statement_timestamp_us = now_us
        if not self.session.xact_open:
            # now() is the start of the transaction: BEGIN's time in a block
            # (PostgreSQL's rule; DSQL documents nothing else), else the first
            # statement of the implicit transaction.
            self.session.xact_open = True
            self.session.ctx.transaction_timestamp_us = now_us
            self.session.activity.transaction_started(now_us)

    async def _ddl(self, statement: Statement, txn: Transaction) -> list[api.Event]:
        if txn.read_only:
            raise SqlError("25006", f"cannot execute {ddl_tag(statement)} in a read-only transaction")
        txn.begin_snapshot()
        catalog = await self.qp.load_catalog(txn)
        # DDL on temporary objects touches nothing another session sees: DSQL's
        # one-DDL and no-DDL-with-DML rules do not apply (qp/ddl/temp_objects.py).
        temp = targets_temp(statement, catalog)
        if not temp and statement.kind != "ViewStmt":  # a view over a temporary table is one too
            self._check_ddl_allowed(txn)
        txn.catalog = catalog
        txn.catalog_validated = True
        # Views may read the system catalogs (CREATE VIEW ... FROM pg_class).
        bc = BindContext(catalog, self.session.ctx, resolve_special_relation=self.special_relation)
        counted = (txn.ddl_count, txn.catalog_version_written)
        txn.temp_mode = temp
        try:
            if statement.kind in ("CreateTableAsStmt", "SelectStmt"):  # SELECT ... INTO: CREATE TABLE AS
                result = await create_table_as(statement, txn, catalog, bc, self.session)
                after_ddl(txn, catalog, self.session.ctx.user)  # its owner (qp/ddl/ownership.py)
            else:
                # As the current user (SET ROLE), who owns what it creates.
                result = await run_ddl(statement, txn, catalog, bc, self.session.ctx.user)
            temp = txn.temp_mode  # CREATE VIEW sets it for a view over a temporary relation
        finally:
            txn.temp_mode = False
        if temp:
            txn.ddl_count, txn.catalog_version_written = counted
            txn.catalog = await self.qp.load_catalog(txn)  # later statements see the change
            action = on_commit_action(statement)
            if action is not None:
                into = statement.body.get("relation") or _into_relation(statement)
                table = txn.catalog.find_table(into["relname"])
                if table is not None:
                    self.session.temp_store.on_commit[table.oid] = action
            if result.followups:
                if statement.asynchronous:
                    raise SqlError("0A000", "ASYNC is not supported for temporary tables")
                await online.run_followups(SameTransaction(txn, self.qp.load_catalog), self.session.ctx,
                                           result.followups)  # fmt: skip
                txn.ddl_count, txn.catalog_version_written = counted
                txn.catalog = await self.qp.load_catalog(txn)
                result.followups = []
        elif statement.kind == "ViewStmt":
            self._check_ddl_allowed(txn, counted[0])
        if statement.kind == "AlterSeqStmt":
            self.session.sequences.forget(result.sequence_oid)  # this session's cached block is stale now
        events: list[api.Event] = [n if isinstance(n, Notice) else Notice(n) for n in result.notices]
        if result.followups:
            # Online changes commit their first step now, then run the rest in
            # transactions of their own (see qp/ddl/online.py) — here, or as a
            # background job for DSQL's ASYNC forms.
            if self.session.block:
                raise SqlError(
                    "0A000", f"{ddl_tag(statement)} of this kind cannot run inside a transaction block"
                )
            self.session.txn = None
            await self.session.commit(txn)
            if statement.asynchronous:
                step, table_oid, name = result.followups[0]
                job_type = "INDEX_BUILD" if step == "build_index" else "VALIDATE_CONSTRAINT"
                if step == "revalidate":
                    self.session.txn = None  # nothing to commit: the statement only started a job
                object_id = result.object_id or table_oid
                job_id = await jobs.submit(self.session.qp, job_type, object_id, name, result.followups)
                events += [RowDescription([Column("job_id", 25, -1)]), DataRows([[job_id.encode()]])]
            else:
                await online.run_followups(self.qp.txns, self.session.ctx, result.followups)
        elif statement.asynchronous:
            raise SqlError(
                "0A000", "ASYNC is supported for CREATE INDEX and ALTER TABLE ... VALIDATE CONSTRAINT"
            )
        events.append(CommandComplete(result.tag))
        return events


def _into_relation(statement: Statement) -> dict:
    body = statement.body
    return (body["into"] if statement.kind == "CreateTableAsStmt" else body["intoClause"])["rel"]


def expand_formats(formats: list[int], n: int) -> list[int]:
    """Bind's result formats for `n` columns: none (all text), one for all, or one each."""
    if not formats:
        return [0] * n
    if len(formats) == 1:
        return [formats[0]] * n
    return list(formats)


def ends_block(prepared: Prepared) -> bool:
    """COMMIT, ROLLBACK and ROLLBACK TO: what a failed block still accepts."""
    statement = prepared.statement
    if statement is None or statement.kind != "TransactionStmt":
        return False
    return statement.body.get("kind") in (
        "TRANS_STMT_COMMIT",
        "TRANS_STMT_ROLLBACK",
        "TRANS_STMT_ROLLBACK_TO",
    )


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
