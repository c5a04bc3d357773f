"""COPY statements: FROM STDIN through INSERT's machinery, TO STDOUT from a table or query.

COPY FROM STDIN binds its target as an INSERT without a source (the same
`RowWriter`: NOT NULL and CHECK constraints, defaults, identity columns,
unique and foreign-key checks, index entries) and feeds it the decoded rows
in chunks of `FLUSH_ROWS`, so its rows meet exactly the rules INSERT's do.
The data arrives through an `api.CopySink` (`CopyFrom`), which pgwire feeds
with the client's CopyData messages; the formats live in `qp/frontend/copy_format.py`
(options, output) and `qp/frontend/copy_parse.py` (input).

Transactions follow DSQL:
- By default a COPY is one transaction, or part of the enclosing block, so it
  is bound by the transaction limits (`dsql.transaction_rows_max`, default
  3,000 rows: 54000 "transaction row limit exceeded"; and
  `dsql.transaction_bytes_max`, 10 MiB), and an error leaves the table as it
  was.
- With `dsql.copy_batch_rows` = N > 0, COPY commits every N rows as a
  transaction of its own and reports the total in `COPY n`. Each batch is
  bound by the limits on its own. Batches commit independently of any
  enclosing transaction block: a later ROLLBACK does not undo them, and the
  block's snapshot (taken at its first statement) does not see them. If a
  batch fails, the batches before it stay committed and the error is
  reported; a batch that meets a conflict (40001) is retried whole, up to
  `BATCH_ATTEMPTS` times.

COPY TO STDOUT runs `SELECT <columns> FROM <table>` or the given query
through the session like any other query and writes each row as one CopyData
message, as PostgreSQL does (psycopg parses each message as one row).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from cluster.timeslice import checkpoint_if_due
from qp import api
from qp.bind.context import BindContext
from qp.bind.dml import DEFAULT_MARK, bind_defaults, target_context  # DEFAULT, INSERT's defaults
from qp.bind.privileges import check_statement
from qp.catalog.stored import CatalogSnapshot, TableDef
from qp.catalog.temp_keys import is_temp_oid
from qp.errors import (
    TRANSACTION_ROWS_EXCEEDED,
    SqlError,
    copy_rows_hint,
    in_failed_transaction,
    schema_conflict,
)
from qp.exec.compile import ExecFrame
from qp.exec.dml import InsertPlan, RowWriter, run_insert
from qp.exec.operators import Operator
from qp.exec.runtime import RunContext, StatementCaches
from qp.frontend.copy_format import (
    DEFAULT,
    CopyOptions,
    binary_header,
    binary_row,
    display,
    header_line,
    parse_options,
    row_encoder,
)
from qp.frontend.copy_parse import (
    BinaryParser,
    CsvParser,
    PlainRows,
    Record,
    TextParser,
    missing_column_error,
)
from qp.frontend.results import ResultRows
from qp.frontend.settings import transaction_limits
from qp.parse.parser import Statement, parse
from qp.pgcatalog.search_path import relation_schema
from qp.plan.dml import plan_defaults
from qp.types import binary_decoder, text_decoder

log = logging.getLogger(__name__)

# Decoded rows are handed to INSERT's machinery this many at a time: it bounds
# the memory a COPY holds outside the transaction's write buffer, and each
# chunk reads the existing keys it needs from storage in one round trip.
FLUSH_ROWS = 1000
# COPY TO: rows per CopyData event (each row is still its own message).
OUT_ROWS_PER_EVENT = 1000
# A batch (dsql.copy_batch_rows) that fails with 40001 is retried this often.
BATCH_ATTEMPTS = 3


# -- the statement -------------------------------------------------------------------------------


async def run_copy(session: Any, statement: Statement, tail: list[api.Event]) -> AsyncIterator[api.Event]:
    """Run a COPY statement: yields CopyInResponse (or CopyOutResponse and the data), and
    appends its CommandComplete to `tail`, which the caller sends once the implicit
    transaction (if any) has committed."""
    if session.failed:
        raise in_failed_transaction()
    session.runner.refresh_statement_time()
    body = statement.body
    if body.get("filename") is not None or body.get("is_program"):
        direction = "from" if body.get("is_from") else "to"
        raise SqlError(
            "0A000", f"COPY {direction} a file or program is not supported",
            hint="Anyone can COPY to stdout or from stdin. psql's \\copy command also works for anyone.",
        )
    is_from = bool(body.get("is_from"))
    opts = parse_options(body.get("options", ()), is_from=is_from)
    if is_from:
        copy = await _start_copy_from(session, body, opts)
        fmt = api.FORMAT_BINARY if opts.binary else api.FORMAT_TEXT
        yield api.CopyInResponse(fmt, [fmt] * len(copy.target.names), copy)
        if not copy.finished:  # pgwire resumes us only after the sink's done() returned
            raise SqlError("XX000", "internal error: COPY FROM resumed before its data ended")
        tail.append(api.CommandComplete(f"COPY {copy.count}"))
        return
    async for event in _copy_to(session, statement, body, opts, tail):
        yield event


# -- COPY FROM -------------------------------------------------------------------------------------


class _RowsSource(Operator):
    """An INSERT source that yields rows COPY has already decoded."""

    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows
        self.cids = []

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        if self.rows:
            yield self.rows


@dataclass
class _Target:
    """A COPY FROM target bound against one catalog version."""

    table: TableDef
    names: list[str]  # the COPY's columns, in order
    types: list  # their SqlTypes
    plan: InsertPlan
    catalog_version: int


def _bind_target(session: Any, catalog: CatalogSnapshot, body: dict) -> _Target:
    relation = body["relation"]
    schema = relation_schema(catalog, session.ctx, relation.get("schemaname"), relation["relname"])
    if schema is not None and catalog.find_view(relation["relname"], schema) is not None:
        raise SqlError(
            "42809", f'cannot copy to view "{relation["relname"]}"',
            hint="To enable copying to a view, provide an INSTEAD OF INSERT trigger.",
        )
    bc = BindContext(catalog, session.ctx)
    tc = target_context(bc, relation)
    table = tc.table
    check_statement(bc, "insert", {}, table)  # COPY FROM needs INSERT (42501)
    names = [n.get("String", {}).get("sval", "") for n in body.get("attlist", ())]
    if names:
        positions = []
        for name in names:
            index = table.column_index(name)
            if index is None:
                raise SqlError("42703", f'column "{name}" of relation "{table.name}" does not exist')
            if index in positions:
                raise SqlError("42701", f'column "{name}" specified more than once')
            _refuse_generated(table, index)
            positions.append(index)
    else:  # generated columns are computed, never copied (PostgreSQL's CopyGetAttnums)
        positions = [i for i in table.live_columns if table.columns[i].generated is None]
    columns = [table.columns[i] for i in positions]
    plan = InsertPlan(
        tc=tc, writer=RowWriter(bc, tc), target_positions=positions, source=_RowsSource([]),
        defaults=plan_defaults(bind_defaults(bc, tc)), on_conflict=None, arbiter=(), update_set=[],
        update_where=None, returning=None, returning_fn=None,
    )
    return _Target(table, [c.name for c in columns], [c.type for c in columns], plan, catalog.version)


def _refuse_generated(table: Any, index: int) -> None:
    column = table.columns[index]
    if column.generated is not None:
        raise SqlError("42P10", f'column "{column.name}" is a generated column',
                       detail="Generated columns cannot be used in COPY.")  # fmt: skip


async def _start_copy_from(session: Any, body: dict, opts: CopyOptions) -> CopyFrom:
    if body.get("whereClause") is not None:
        raise SqlError("0A000", "COPY FROM ... WHERE is not supported")
    batch_rows = int(session.settings.get("dsql.copy_batch_rows", "0"))
    txn = session.txn
    read_only = txn.read_only if txn is not None else session.settings.get("default_transaction_read_only") == "on"
    if read_only:
        raise SqlError("25006", "cannot execute COPY FROM in a read-only transaction")
    if batch_rows:
        # Batches are transactions of their own; the session's transaction is left alone.
        probe = session.new_txn(read_only=True)
        catalog = await session.catalog_for(probe)
        txn = None
    else:
        txn = session.current_txn()
        txn.check_age()
        if txn.ddl_count:
            raise SqlError("0A000", "ddl and dml are not supported in the same transaction")
        catalog = await session.catalog_for(txn)
    target = _bind_target(session, catalog, body)
    for name in (*opts.force_not_null, *opts.force_null):
        if name not in target.names:
            if target.table.column_index(name) is None:
                raise SqlError("42703", f'column "{name}" of relation "{target.table.name}" does not exist')
            option = "FORCE_NOT_NULL" if name in opts.force_not_null else "FORCE_NULL"
            raise SqlError("42P10", f'{option} column "{name}" not referenced by COPY')
    return CopyFrom(session, body, target, opts, txn, batch_rows)


def _column_decoder(decode: Any) -> Any:
    """A column's values (str, none NULL) -> their decoded list: the decoder's own `column`
    form when it has one (a check over the whole column), else one call per value. Either
    raises on a bad value; which one, and where, the row-at-a-time path then finds."""
    column = getattr(decode, "column", None)
    if column is not None:
        return column
    return lambda values: list(map(decode, values))


class CopyFrom:
    """The `api.CopySink` of one COPY FROM STDIN: parses, decodes and loads rows as they arrive."""

    def __init__(self, session: Any, body: dict, target: _Target, opts: CopyOptions, txn: Any,
                 batch_rows: int) -> None:
        self.session = session
        self.body = body
        self.target = target
        self.opts = opts
        self.txn = txn  # None: batched, every batch in a transaction of its own
        self.batch_rows = batch_rows
        self.count = 0
        self.finished = False
        self.pending: list[tuple] = []
        self.pending_last_line = 0
        if opts.binary:
            self.parser: Any = BinaryParser(target.names)
            self.decoders = [binary_decoder(t) for t in target.types]
        else:
            self.parser = (CsvParser if opts.csv else TextParser)(opts, target.names)
            self.decoders = [text_decoder(t, session.ctx) for t in target.types]
            self.column_decoders = [_column_decoder(decode) for decode in self.decoders]
        if txn is not None:
            txn.dml_count += 1  # a COPY is DML for DSQL's "no DDL with DML" rule

    @property
    def flush_rows(self) -> int:
        return self.batch_rows or FLUSH_ROWS

    # -- api.CopySink --

    async def data(self, data: bytes) -> None:
        self.session.check_interrupts()  # a cancel or timeout while the client was sending
        self._take(self._parse(self.parser.feed, data))
        while len(self.pending) >= self.flush_rows:
            await self._flush(self.flush_rows)

    async def done(self) -> None:
        self.session.check_interrupts()
        self._take(self._parse(self.parser.finish))
        while self.pending:
            await self._flush(self.flush_rows)
        self.finished = True

    async def fail(self, message: str) -> None:
        raise SqlError("57014", f"COPY from stdin failed: {message}", context=self._context(self.parser.line_no + 1))

    # -- parsing and decoding --

    def _context(self, line: int | str) -> str:
        return f"COPY {self.target.table.name}, line {line}" if isinstance(line, int) else \
            f"COPY {self.target.table.name}, {line}"

    def _parse(self, step: Any, *args: Any) -> list:
        try:
            return step(*args)
        except SqlError as exc:
            partial = getattr(exc, "partial_fields", None)
            if partial:  # binary: the fields read before the data ended are decoded first
                line_no = self.parser.line_no + 1
                n = len(partial)
                self._decode_binary(line_no, partial, self.target.names[:n], self.decoders[:n])
            if exc.context is not None:
                exc.context = self._context(exc.context)
            raise

    def _take(self, records: list | PlainRows) -> None:
        if type(records) is PlainRows:
            try:
                columns = zip(*records.fields, strict=True)
                decoded = [decode(values) for decode, values in zip(self.column_decoders, columns, strict=True)]
            except Exception:  # noqa: BLE001 (the row-at-a-time path below raises it with its row's context)
                records = records.records()
            else:
                self.pending.extend(zip(*decoded, strict=True))
                self.pending_last_line = records.last_line_no
                return
        if not records:
            return
        names, decoders, pending = self.target.names, self.decoders, self.pending
        if self.opts.binary:
            for line_no, fields in records:
                pending.append(self._decode_binary(line_no, fields, names, decoders))
                self.pending_last_line = line_no
            return
        ncols = len(names)
        for record in records:
            try:
                row = tuple([
                    None if v is None else DEFAULT_MARK if v is DEFAULT else decode(v)
                    for v, decode in zip(record.fields, decoders, strict=False)
                ])
            except SqlError as exc:
                self._column_error(exc, record)
                raise
            if len(row) < ncols:
                error = missing_column_error(record, names)
                error.context = self._context(error.context)
                raise error
            pending.append(row)
            self.pending_last_line = record.line_no

    def _column_error(self, exc: SqlError, record: Record) -> None:
        """Name the column whose text failed to decode, as PostgreSQL's CONTEXT does."""
        for value, decode, name in zip(record.fields, self.decoders, self.target.names, strict=False):
            if value is None or value is DEFAULT:
                continue
            try:
                decode(value)
            except SqlError:
                exc.context = self._context(f'line {record.line_no}, column {name}: "{display(value)}"')
                return

    def _decode_binary(self, line_no: int, fields: list, names: list[str], decoders: list) -> tuple:
        row = []
        for value, decode, name in zip(fields, decoders, names, strict=True):
            if value is None:
                row.append(None)
                continue
            try:
                row.append(decode(value))
            except SqlError as exc:
                exc.context = self._context(f"line {line_no}, column {name}")
                raise
            except Exception as exc:  # struct, UnicodeDecodeError...: the bytes are not the type's send format
                raise SqlError(
                    "22P03", "incorrect binary data format", context=self._context(f"line {line_no}, column {name}")
                ) from exc
        return tuple(row)

    # -- loading --

    async def _flush(self, limit: int) -> None:
        rows, self.pending = self.pending[:limit], self.pending[limit:]
        line = self.pending_last_line if not self.pending else None
        try:
            if self.txn is not None:
                await self.session.guarded(self._insert(self.txn, rows))
            else:
                await self.session.guarded(self._insert_batch(rows))
        except SqlError as exc:
            if exc.context is None:
                exc.context = self._context(line if line is not None else self.parser.line_no)
            if exc.sqlstate == "54000" and exc.message == TRANSACTION_ROWS_EXCEEDED:
                # Say how to load more rows: COPY has a way that other DML lacks.
                exc.hint = copy_rows_hint(transaction_limits(self.session.settings)[0], self.batch_rows)
            raise
        self.count += len(rows)
        await checkpoint_if_due()  # a long COPY must not starve the other connections

    async def _insert(self, txn: Any, rows: list[tuple]) -> None:
        session = self.session
        plan = self.target.plan
        plan.source = _RowsSource(rows)
        session.ctx.catalog = txn.catalog
        rc = RunContext(txn, ExecFrame((), (), session.ctx), StatementCaches(), session)
        await run_insert(plan, rc)

    async def _insert_batch(self, rows: list[tuple]) -> None:
        session = self.session

        async def insert(txn: Any) -> None:
            if txn.catalog.version != self.target.catalog_version:
                self._rebind(txn.catalog)
            await self._insert(txn, rows)

        if is_temp_oid(self.target.table.oid):
            # A temporary table's rows stay in the session: a transaction of its own that
            # commits without leaving it (qp/txn/temp_store.py), and nothing to retry.
            txn = session.new_txn()
            txn.begin_snapshot()
            txn.catalog = await session.qp.load_catalog(txn)
            await insert(txn)
            await session.commit(txn)
            return
        await session.qp.txns.run(insert, attempts=BATCH_ATTEMPTS, with_catalog=True,
                                  limits=transaction_limits(session.settings))  # fmt: skip

    def _rebind(self, catalog: CatalogSnapshot) -> None:
        """The table changed between batches: go on only if the COPY's columns did not."""
        target = _bind_target(self.session, catalog, self.body)
        if target.table.oid != self.target.table.oid or target.types != self.target.types:
            raise schema_conflict()
        self.target = target


# -- COPY TO ---------------------------------------------------------------------------------------


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _copy_to(session: Any, statement: Statement, body: dict, opts: CopyOptions,
                   tail: list[api.Event]) -> AsyncIterator[api.Event]:
    if body.get("query") is not None:
        query = Statement(body["query"], statement.text, statement.location, source=statement.source)
    else:
        query = await _table_query(session, body)
    prepared = session.runner.prepare_unbound(query)
    if prepared.kind not in ("query", "insert", "update", "delete"):
        raise SqlError("0A000", "COPY query must be a SELECT, VALUES or a DML statement with RETURNING")
    if prepared.kind != "query" and not query.body.get("returningList") and not query.body.get("returningClause"):
        raise SqlError("0A000", "COPY query must have a RETURNING clause")
    fmt = api.FORMAT_BINARY if opts.binary else api.FORMAT_TEXT
    events = await session.guarded(session.runner.run(prepared, (), [fmt]))
    names: list[str] = []
    results: ResultRows | None = None
    for event in events:
        if isinstance(event, api.RowDescription):
            names = [c.name for c in event.columns]
        elif isinstance(event, ResultRows):
            results = event
    yield api.CopyOutResponse(fmt, [fmt] * len(names))
    count = len(results) if results is not None else 0
    # Encoded and sent a chunk at a time: a large COPY TO streams, and a cancel
    # or statement_timeout can stop it between chunks.
    encode = binary_row if opts.binary else row_encoder(opts, names)
    first: list[bytes] = []
    if opts.binary:
        first.append(binary_header())  # PostgreSQL sends the header with the first row
    elif opts.header:
        first.append(header_line(opts, names))
    for start in range(0, count, OUT_ROWS_PER_EVENT):
        session.check_interrupts()
        chunk = [encode(r) for r in results.encode(start, start + OUT_ROWS_PER_EVENT)]
        if first and opts.binary:
            chunk[0], first = first[0] + chunk[0], []
        elif first:
            chunk, first = first + chunk, []
        yield api.CopyData(chunk)
        await checkpoint_if_due()
    if opts.binary:
        yield api.CopyData([(first[0] if first else b"") + b"\xff\xff"])
    elif first:
        yield api.CopyData(first)
    yield api.CopyDone()
    tail.append(api.CommandComplete(f"COPY {count}"))


async def _table_query(session: Any, body: dict) -> Statement:
    """`SELECT <columns> FROM <table>` for COPY <table> [(columns)] TO STDOUT."""
    relation = body["relation"]
    name, schema = relation["relname"], relation.get("schemaname")
    txn = session.current_txn()
    catalog = await session.catalog_for(txn)
    schema = relation_schema(catalog, session.ctx, schema, name) or schema
    if schema is not None and catalog.find_view(name, schema) is not None:
        raise SqlError("42809", f'cannot copy from view "{name}"', hint="Try the COPY (SELECT ...) TO variant.")
    table = catalog.find_table(name, schema)
    names = [n.get("String", {}).get("sval", "") for n in body.get("attlist", ())]
    if table is not None:
        seen = set()
        for column in names:
            if table.column_index(column) is None:
                raise SqlError("42703", f'column "{column}" of relation "{table.name}" does not exist')
            if column in seen:
                raise SqlError("42701", f'column "{column}" specified more than once')
            _refuse_generated(table, table.column_index(column))
            seen.add(column)
        names = names or [table.columns[i].name for i in table.live_columns if table.columns[i].generated is None]
    source = (_quote_identifier(schema) + "." if schema else "") + _quote_identifier(name)
    columns = ", ".join(_quote_identifier(n) for n in names) if names else "*"
    return parse(f"SELECT {columns} FROM {source}")[0]
