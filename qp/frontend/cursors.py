"""Server-side cursors: DECLARE, FETCH, MOVE, CLOSE, and what pg_cursors shows.

A cursor runs its query when it is declared and keeps the rows (as values,
not bytes), so FETCH can encode them in whatever format it is asked for: text
from a simple Query, binary from a BINARY cursor, or the result formats of
an extended-protocol Bind (psycopg 3's binary named cursors). Materializing
at DECLARE gives the semantics PostgreSQL's cursors have: the rows are those
of the transaction's snapshot plus its own writes before the DECLARE. It also
makes every cursor able to scroll; only NO SCROLL refuses to move backwards
(55000, as PostgreSQL does), and WITH HOLD needs nothing more at commit.

Lifetime, as in PostgreSQL:
- WITHOUT HOLD (the default): only inside a transaction block (25P01
  outside one) and gone when the transaction ends.
- WITH HOLD: survives the commit of its transaction and lives until CLOSE or
  the end of the session; gone if its transaction rolls back. One declared
  outside a block (its own implicit transaction) is held at once.
A cursor remembers the transaction that declared it; it is alive while that
transaction is the session's open one, and (WITH HOLD) once it committed.
Checking this when cursors are looked up, rather than at every place a
session ends a transaction, keeps the session's code free of cursor hooks.

Cursors share PostgreSQL's namespace with protocol-level portals, so
psycopg 3 can Describe a cursor as a portal (`Session.describe_portal`).

`Session.cursors` is a `Cursors`: iterate it for the live cursors, each with
pg_cursors' columns (`name`, `statement`, `is_holdable`, `is_binary`,
`is_scrollable`, `creation_time` in µs since 2000-01-01 UTC), or call
`pg_cursors_rows()` for those tuples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from qp import api
from qp.api import Column, CommandComplete, DataRows, RowDescription
from qp.errors import SqlError, schema_conflict
from qp.exec.compile import ExecFrame
from qp.exec.operators import collect
from qp.exec.runtime import RunContext, StatementCaches
from qp.frontend.prepare import Prepared, declared_types
from qp.frontend.results import ResultRows
from qp.parse.parser import Statement
from qp.txn.transaction import StaleCatalog
from qp.types import TEXT, SqlType, binary_encoder, text_encoder

# DeclareCursorStmt.options bits (PostgreSQL's CURSOR_OPT_*).
CURSOR_OPT_BINARY = 0x0001
CURSOR_OPT_SCROLL = 0x0002
CURSOR_OPT_NO_SCROLL = 0x0004
CURSOR_OPT_HOLD = 0x0020

FETCH_ALL = 2**63 - 1  # how the parser spells ALL (LONG_MAX)


@dataclass(eq=False)
class Cursor:
    name: str
    statement: str  # the DECLARE's text, as pg_cursors shows it
    columns: list[Column]  # as DECLARE would describe them (text format)
    result_types: list[SqlType]
    rows: list[tuple]
    is_binary: bool
    is_scrollable: bool
    is_holdable: bool
    creation_time: int  # timestamptz: µs since 2000-01-01 UTC
    txn: Any  # the declaring transaction while it may still end; None once held past its commit
    # Where the rows are read from (a tuplestore's read pointer): 0 before the
    # first row, k on row k, len(rows) + 1 after the last.
    position: int = 0
    # PostgreSQL's portal state over it (Portal.atStart, atEnd, portalPos),
    # which decides what a FETCH or MOVE at either end does and counts.
    at_start: bool = True
    at_end: bool = False
    portal_pos: int = 0
    failed: bool = False  # a FETCH or MOVE failed: the cursor can only be closed (MarkPortalFailed)

    def fetch(self, direction: str, count: int, *, move: bool = False) -> tuple[list[tuple], int]:
        """FETCH (or MOVE) `direction` `count`: the rows FETCH returns and the count
        its command tag shows, moving as PostgreSQL's PortalRunFetch does."""
        if self.failed:
            raise SqlError("55000", f'portal "{self.name}" cannot be run')
        out: list[tuple] | None = None if move else []
        try:
            processed = self._run_fetch(direction, count, out)
        except SqlError:
            self.failed = True
            raise
        return out or [], processed

    # -- pquery.c's DoPortalRunFetch, PortalRunSelect and DoPortalRewind, over `rows` --------

    def _run_fetch(self, direction: str, count: int, out: list[tuple] | None) -> int:
        if direction == "FETCH_FORWARD" and count < 0:
            direction, count = "FETCH_BACKWARD", -count
        elif direction == "FETCH_BACKWARD" and count < 0:
            direction, count = "FETCH_FORWARD", -count
        elif direction == "FETCH_ABSOLUTE":
            if count > 0:
                # Rewind and advance count - 1 rows, or get there from where we are.
                if count - 1 <= self.portal_pos // 2:
                    self._rewind()
                    if count > 1:
                        self._select(True, count - 1, None)
                else:
                    pos = self.portal_pos + (1 if self.at_end else 0)
                    if count <= pos:
                        self._select(False, pos - count + 1, None)
                    elif count > pos + 1:
                        self._select(True, count - pos - 1, None)
                return self._select(True, 1, out)
            if count < 0:
                # To the end, back abs(count) - 1 rows, return the one before.
                self._select(True, FETCH_ALL, None)
                if count < -1:
                    self._select(False, -count - 1, None)
                return self._select(False, 1, out)
            self._rewind()
            return self._select(True, 0, out)
        elif direction == "FETCH_RELATIVE":
            if count > 0:
                if count > 1:
                    self._select(True, count - 1, None)
                return self._select(True, 1, out)
            if count < 0:
                if count < -1:
                    self._select(False, -count - 1, None)
                return self._select(False, 1, out)
            direction = "FETCH_FORWARD"  # RELATIVE 0 is FORWARD 0
        forward = direction == "FETCH_FORWARD"
        if count == 0:
            # The current row again, if the cursor is on one.
            on_row = not self.at_start and not self.at_end
            if out is None:
                return 1 if on_row else 0  # MOVE 0 counts what FETCH 0 would return
            if on_row:
                self._select(False, 1, None)
                count, forward = 1, True
        if not forward and count == FETCH_ALL and out is None:
            # MOVE BACKWARD ALL is a rewind.
            moved = self.portal_pos
            if moved > 0 and not self.at_end:
                moved -= 1
            self._rewind()
            return moved
        return self._select(forward, count, out)

    def _select(self, forward: bool, count: int, out: list[tuple] | None) -> int:
        """PortalRunSelect: up to `count` rows (FETCH_ALL: all) in one direction."""
        if not forward:
            self._check_scroll()
        blocked = self.at_end if forward else self.at_start
        if blocked or count <= 0:
            return 0
        processed = self._read(forward, 0 if count == FETCH_ALL else count, out)
        wanted = 0 if count == FETCH_ALL else count
        if forward:
            if processed > 0:
                self.at_start = False
            if wanted == 0 or processed < wanted:
                self.at_end = True
            self.portal_pos += processed
        else:
            if processed > 0 and self.at_end:
                self.at_end = False
                self.portal_pos += 1  # the endpoint case
            if wanted == 0 or processed < wanted:
                self.at_start = True
                self.portal_pos = 0
            else:
                self.portal_pos -= processed
        return processed

    def _read(self, forward: bool, count: int, out: list[tuple] | None) -> int:
        """RunFromStore: read rows one by one (count 0: until there are none)."""
        rows, n = self.rows, len(self.rows)
        processed = 0
        while count == 0 or processed < count:
            if forward:
                if self.position > n:
                    break
                self.position += 1
                if self.position > n:
                    break
            else:
                if self.position > n:
                    self.position = n  # just past the end: the last row comes back first
                elif self.position > 0:
                    self.position -= 1
                if self.position == 0:
                    break
            if out is not None:
                out.append(rows[self.position - 1])
            processed += 1
        return processed

    def _rewind(self) -> None:
        """DoPortalRewind: back before the first row (a NO SCROLL cursor only if it never moved)."""
        if self.at_start and not self.at_end:
            return
        self._check_scroll()
        self.position, self.at_start, self.at_end, self.portal_pos = 0, True, False, 0

    def _check_scroll(self) -> None:
        if not self.is_scrollable:
            raise SqlError("55000", "cursor can only scan forward",
                           hint="Declare it with SCROLL option to enable backward scan.")


class Cursors:
    """A session's cursors; iterating gives the live ones (see the module docstring)."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._by_name: dict[str, Cursor] = {}

    def _alive(self, cursor: Cursor) -> bool:
        txn = cursor.txn
        if txn is None:
            return True
        if txn is self._session.txn:
            return True
        if cursor.is_holdable and txn.committed:
            cursor.txn = None  # held: it no longer depends on any transaction
            return True
        return False

    def _prune(self) -> None:
        dead = [name for name, cursor in self._by_name.items() if not self._alive(cursor)]
        for name in dead:
            del self._by_name[name]

    def __iter__(self) -> Iterator[Cursor]:
        self._prune()
        return iter(list(self._by_name.values()))

    def __len__(self) -> int:
        self._prune()
        return len(self._by_name)

    def find(self, name: str) -> Cursor | None:
        cursor = self._by_name.get(name)
        if cursor is not None and not self._alive(cursor):
            del self._by_name[name]
            return None
        return cursor

    def get(self, name: str) -> Cursor:
        cursor = self.find(name)
        if cursor is None:
            raise SqlError("34000", f'cursor "{name}" does not exist')
        return cursor

    def add(self, cursor: Cursor) -> None:
        self._by_name[cursor.name] = cursor

    def close(self, name: str) -> None:
        self.get(name)
        del self._by_name[name]

    def clear(self) -> None:
        self._by_name.clear()

    def open_cursors(self) -> list[Cursor]:
        """The cursors open now (a savepoint keeps this list)."""
        return list(self._by_name.values())

    def close_opened_since(self, before: list[Cursor]) -> None:
        """ROLLBACK TO SAVEPOINT: close cursors declared after `before` was taken
        (PostgreSQL closes them; closing and fetching are not undone)."""
        kept = {id(cursor) for cursor in before}
        for name in [name for name, cursor in self._by_name.items() if id(cursor) not in kept]:
            del self._by_name[name]

    def pg_cursors_rows(self) -> list[tuple[str, str, bool, bool, bool, int]]:
        """(name, statement, is_holdable, is_binary, is_scrollable, creation_time) per live cursor."""
        return [(c.name, c.statement, c.is_holdable, c.is_binary, c.is_scrollable, c.creation_time) for c in self]


# -- preparing (extended protocol) -------------------------------------------------------------------


async def prepare_cursor_statement(session: Any, statement: Statement, param_oids: list[int]) -> Prepared:
    """Parse-time description of DECLARE (its parameters are its query's) and FETCH (the cursor's columns)."""
    prepared = Prepared(statement, "utility", declared_oids=list(param_oids))
    if statement.kind == "DeclareCursorStmt":
        query = Statement(statement.body["query"], statement.text, statement.location, source=statement.source)
        bound = await session.runner.bind_checked(query, param_oids)
        prepared.param_types = bound.param_types
        return prepared

    prepared.param_types = [t or TEXT for t in declared_types(param_oids)]
    body = statement.body
    if statement.kind == "FetchStmt" and not body.get("ismove"):
        cursor = session.cursors.find(body.get("portalname", ""))
        if cursor is not None:  # as PostgreSQL: an unknown cursor describes as NoData here, fails at Execute
            prepared.columns = list(cursor.columns)
            prepared.result_types = list(cursor.result_types)
    return prepared


# -- running -------------------------------------------------------------------------------------------


async def run_cursor_statement(session: Any, statement: Statement, portal: Any) -> list[api.Event]:
    """DECLARE, FETCH/MOVE or CLOSE; `portal` is the extended-protocol portal running it, if any."""
    kind = statement.kind
    body = statement.body
    if kind == "DeclareCursorStmt":
        return await _declare(session, statement, portal)
    name = body.get("portalname")
    if name is not None and session.cursors.find(name) is None and name in session.portals:
        return await _protocol_portal(session, body, name, kind)
    if kind == "FetchStmt":
        return _fetch(session, body, portal)
    if name is None:
        session.cursors.clear()
        return [CommandComplete("CLOSE CURSOR ALL")]
    session.cursors.close(name)
    return [CommandComplete("CLOSE CURSOR")]


async def _protocol_portal(session: Any, body: dict, name: str, kind: str) -> list[api.Event]:
    """FETCH, MOVE or CLOSE naming a portal made by Bind (asyncpg's Cursor.forward sends
    `MOVE FORWARD n <portal>`). Such portals only go forward, as in PostgreSQL."""
    portal = session.portals[name]
    if kind == "ClosePortalStmt":
        del session.portals[name]
        return [CommandComplete("CLOSE CURSOR")]
    if portal.rows is None:  # bound but not executed yet: run it now, as Execute would
        await session.runner.run(portal.prepared, portal.params, portal.formats, portal)
    rows = portal.rows or []
    direction, count = body.get("direction", "FETCH_FORWARD"), body.get("howMany", 0)
    if direction == "FETCH_FORWARD" and count < 0:
        direction, count = "FETCH_BACKWARD", -count
    if direction != "FETCH_FORWARD" or count == 0:
        raise SqlError("55000", "cursor can only scan forward",
                       hint="Declare it with SCROLL option to enable backward scan.")
    start = portal.position
    stop = len(rows) if count >= FETCH_ALL else min(len(rows), start + count)
    portal.position = stop
    if body.get("ismove"):
        return [CommandComplete(f"MOVE {stop - start}")]
    if any(portal.formats):
        # Its rows are held already encoded in the Bind's formats.
        raise SqlError("0A000", f'FETCH from portal "{name}" with binary results is not supported; use Execute')
    columns = [Column(c.name, c.type_oid, c.type_len, c.type_mod, c.table_oid, c.column_number)
               for c in portal.columns or ()]
    fetched = rows.encode(start, stop) if isinstance(rows, ResultRows) else rows[start:stop]
    return [RowDescription(columns), DataRows(fetched), CommandComplete(f"FETCH {stop - start}")]


async def _declare(session: Any, statement: Statement, portal: Any) -> list[api.Event]:
    body = statement.body
    name = body.get("portalname", "")
    options = body.get("options", 0)
    hold = bool(options & CURSOR_OPT_HOLD)
    if not hold and not session.block:
        raise SqlError("25P01", "DECLARE CURSOR can only be used in transaction blocks")
    if not name:
        raise SqlError("34000", "invalid cursor name: must not be empty")
    if session.cursors.find(name) is not None or name in session.portals:
        raise SqlError("42P03", f'cursor "{name}" already exists')
    params: tuple = portal.params if portal is not None else ()
    param_oids = portal.prepared.param_oids if portal is not None else []
    query = Prepared(Statement(body["query"], statement.text, statement.location, source=statement.source), "query",
                     declared_oids=list(param_oids))
    txn = session.current_txn()
    txn.check_age()
    if txn.read_only and query.statement.body.get("lockingClause"):
        raise SqlError("25006", "cannot execute SELECT FOR UPDATE in a read-only transaction")
    bound, rows = await _materialize(session, query, params, txn)
    columns = [Column(c.name, c.type_oid, c.type_len, c.type_mod, c.table_oid, c.column_number)
               for c in bound.columns or ()]
    cursor = Cursor(
        name=name, statement=statement.text, columns=columns, result_types=list(bound.result_types), rows=rows,
        is_binary=bool(options & CURSOR_OPT_BINARY), is_scrollable=not options & CURSOR_OPT_NO_SCROLL,
        is_holdable=hold, creation_time=session.ctx.statement_timestamp_us,
        # Outside a block the cursor's own implicit transaction is over when the
        # statement is: hold it now (nothing it read can be undone).
        txn=txn if session.block else None,
    )
    session.cursors.add(cursor)
    return [CommandComplete("DECLARE CURSOR")]


async def _materialize(session: Any, prepared: Prepared, params: tuple, txn: Any) -> tuple[Prepared, list[tuple]]:
    """Run the cursor's query in the session's transaction and keep its rows as values.

    This is the session's own query path (`_dml_or_query`) minus the encoding
    of the rows, which FETCH does later in the format it is asked for.
    """
    txn.begin_snapshot()
    for _ in range(3):
        bound = await session.runner.bound_for(prepared, txn, False)
        session.ctx.catalog = txn.catalog
        rc = RunContext(txn, ExecFrame(params, (), session.ctx), StatementCaches(), session)
        try:
            return bound, await collect(bound.plan, rc)
        except StaleCatalog:
            if txn.catalog_validated:
                raise schema_conflict() from None
            txn.catalog = await session.qp.load_catalog(txn)
            txn.catalog_validated = True
    raise schema_conflict()


def _fetch(session: Any, body: dict, portal: Any) -> list[api.Event]:
    cursor = session.cursors.get(body.get("portalname", ""))
    direction = body.get("direction", "FETCH_FORWARD")
    count = body.get("howMany", 0)
    if body.get("ismove"):
        _, moved = cursor.fetch(direction, count, move=True)
        return [CommandComplete(f"MOVE {moved}")]
    rows, _ = cursor.fetch(direction, count)
    ncols = len(cursor.columns)
    if portal is not None and len(portal.formats) == ncols:
        formats = list(portal.formats)  # the extended protocol: the Bind's result formats
    else:
        formats = [1 if cursor.is_binary else 0] * ncols  # a simple Query: text unless a BINARY cursor
    ctx = session.ctx
    encoders = [binary_encoder(t) if f else text_encoder(t, ctx) for t, f in zip(cursor.result_types, formats, strict=True)]
    encoded = [[None if v is None else enc(v) for enc, v in zip(encoders, row, strict=True)] for row in rows]
    columns = [Column(c.name, c.type_oid, c.type_len, c.type_mod, c.table_oid, c.column_number, f)
               for c, f in zip(cursor.columns, formats, strict=True)]
    return [RowDescription(columns), DataRows(encoded), CommandComplete(f"FETCH {len(rows)}")]
