"""A sqllogictest runner over the PostgreSQL wire protocol.

The format (SQLite's sqllogictest, see tests/sqllogictest/README.md):
records separated by blank lines, ``#`` comments, and

- ``statement ok`` / ``statement error`` followed by SQL;
- ``query <types> [nosort|rowsort|valuesort] [label]`` followed by SQL, a
  ``----`` line and either the expected values one per line or
  ``N values hashing to <md5>``;
- ``hash-threshold N`` and ``halt``;
- ``skipif <engine>`` / ``onlyif <engine>`` lines guarding the next record
  (this runner is engine ``postgresql``).

Values are rendered as the reference runner does: ``NULL`` for null; ``I``
columns as integers (booleans as 1/0, fractions truncated toward zero); ``R``
columns with ``%.3f``; ``T`` columns as text with ``(empty)`` for the empty
string and ``@`` for unprintable characters. ``rowsort`` sorts rows and
``valuesort`` sorts single values (both as strings) before comparing or
hashing; the hash is the MD5 of every value followed by a newline.

Statements go through psycopg's libpq layer with the simple query protocol in
autocommit, one connection per file (reopened if a statement kills it).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .pgsession import ConnectionLost, Result, Session, SqlError, StatementTimeout

ENGINE = "postgresql"
BOOL_OID = 16
FAILURES_KEPT = 5
STATEMENT_TIMEOUT_S = 30.0
# A file that takes longer than this stops: its remaining records count as failed
# ("not run"), so one slow file (a 13-table join planned badly) cannot stall a run.
FILE_BUDGET_S = 600.0

_HASH_LINE = re.compile(r"^(\d+) values hashing to ([0-9a-f]{32})$")
_CREATE_TABLE = re.compile(
    r"\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE
)
_CREATE_VIEW = re.compile(
    r"\bCREATE\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE
)


class SltFormatError(ValueError):
    pass


@dataclass
class Record:
    kind: str  # "statement", "query", "hash-threshold", "halt"
    line: int
    sql: str = ""
    expect_error: bool = False
    types: str = ""
    sort: str = "nosort"
    label: str | None = None
    expected_values: list[str] | None = None
    expected_hash: tuple[int, str] | None = None
    conditions: list[tuple[str, str]] = field(default_factory=list)
    threshold: int = 0

    def applies_to(self, engine: str) -> bool:
        for kind, name in self.conditions:
            if kind == "skipif" and name == engine:
                return False
            if kind == "onlyif" and name != engine:
                return False
        return True


def parse(text: str, name: str = "<slt>") -> list[Record]:
    lines = text.split("\n")
    records: list[Record] = []
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i].rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        conditions: list[tuple[str, str]] = []
        while line.startswith(("skipif ", "onlyif ")):
            kind, _, engine = line.partition(" ")
            conditions.append((kind, engine.strip().split()[0]))
            i += 1
            line = lines[i].rstrip("\r") if i < n else ""
        start = i + 1
        words = line.split()
        if not words:
            raise SltFormatError(f"{name}:{start}: condition without a record")
        head = words[0]
        if head == "halt":
            records.append(Record("halt", start, conditions=conditions))
            i += 1
            continue
        if head == "hash-threshold":
            records.append(Record("hash-threshold", start, threshold=int(words[1]), conditions=conditions))
            i += 1
            continue
        if head not in ("statement", "query"):
            raise SltFormatError(f"{name}:{start}: unknown record {line!r}")
        i += 1
        sql_lines = []
        while i < n and lines[i].strip() and lines[i].rstrip("\r") != "----":
            sql_lines.append(lines[i].rstrip("\r"))
            i += 1
        record = Record(head, start, sql="\n".join(sql_lines), conditions=conditions)
        if head == "statement":
            if len(words) < 2 or words[1] not in ("ok", "error"):
                raise SltFormatError(f"{name}:{start}: bad statement record {line!r}")
            record.expect_error = words[1] == "error"
        else:
            record.types = words[1] if len(words) > 1 else ""
            record.sort = words[2] if len(words) > 2 else "nosort"
            record.label = words[3] if len(words) > 3 else None
            if record.sort not in ("nosort", "rowsort", "valuesort"):
                raise SltFormatError(f"{name}:{start}: unknown sort mode {record.sort!r}")
            values: list[str] = []
            if i < n and lines[i].rstrip("\r") == "----":
                i += 1
                while i < n and lines[i].strip():
                    values.append(lines[i].rstrip("\r"))
                    i += 1
            hashed = _HASH_LINE.match(values[0]) if len(values) == 1 else None
            if hashed:
                record.expected_hash = (int(hashed.group(1)), hashed.group(2))
            else:
                record.expected_values = [v.strip() for v in values]
        records.append(record)
    return records


def _render(value: str | None, kind: str, type_oid: int) -> str:
    if value is None:
        return "NULL"
    if kind == "I":
        if type_oid == BOOL_OID:
            return "1" if value == "t" else "0"
        try:
            return str(int(value))
        except ValueError:
            pass
        try:
            return str(int(Decimal(value)))  # truncates toward zero, like a C integer conversion
        except (InvalidOperation, ValueError):
            return "0"  # text that is no number converts to 0, as in SQLite's reference runner
    if kind == "R":
        try:
            return f"{float(value):.3f}"
        except ValueError:
            return "0.000"
    if value == "":
        return "(empty)"
    return "".join(ch if " " <= ch <= "~" else "@" for ch in value)


def render_result(record: Record, result: Result) -> list[str]:
    """The values of a query result, rendered and sorted as the record asks."""
    kinds = record.types
    rows = [
        [_render(v, kinds[c] if c < len(kinds) else "T", result.type_oids[c]) for c, v in enumerate(row)]
        for row in result.rows
    ]
    if record.sort == "rowsort":
        rows.sort()
    values = [v for row in rows for v in row]
    if record.sort == "valuesort":
        values.sort()
    return values


def hash_values(values: list[str]) -> str:
    digest = hashlib.md5()
    for value in values:
        digest.update(value.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def tables_created(records: list[Record]) -> tuple[list[str], list[str]]:
    """Tables and views a file creates (so they can be dropped before and after it runs)."""
    tables: list[str] = []
    views: list[str] = []
    for record in records:
        for match in _CREATE_TABLE.finditer(record.sql):
            if match.group(1).lower() not in tables:
                tables.append(match.group(1).lower())
        for match in _CREATE_VIEW.finditer(record.sql):
            if match.group(1).lower() not in views:
                views.append(match.group(1).lower())
    return tables, views


@dataclass
class FileResult:
    path: Path
    run: int = 0
    passed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)  # the first few, for debugging
    failed: int = 0
    not_run: int = 0  # records left when the file's time budget was spent

    @property
    def rate(self) -> float:
        return self.passed / self.run if self.run else 0.0

    def summary(self) -> str:
        return (
            f"{self.path.name}: {self.passed}/{self.run} records passed ({self.rate:.1%}), "
            f"{self.skipped} skipped, {self.seconds:.1f} s"
            + (f", {self.not_run} not run (time budget spent)" if self.not_run else "")
        )


class _Connection:
    """One session per file, reopened after a statement breaks it."""

    def __init__(self, dsn: str, timeout_s: float):
        self.dsn = dsn
        self.timeout_s = timeout_s
        self.session: Session | None = None

    def get(self) -> Session:
        if self.session is None or self.session.closed:
            self.session = Session(self.dsn, timeout_s=self.timeout_s, protocol="simple")
        return self.session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


def _drop_all(connection: _Connection, tables: list[str], views: list[str]) -> None:
    session = connection.get()
    for view in views:
        session.run(f"DROP VIEW IF EXISTS {view}")
    for table in tables:
        session.run(f"DROP TABLE IF EXISTS {table}")


def _check_query(record: Record, result: Result, labels: dict[str, str]) -> str | None:
    if record.types and len(result.columns) != len(record.types):
        return f"expected {len(record.types)} columns, got {len(result.columns)}"
    values = render_result(record, result)
    digest = hash_values(values)
    if record.label:
        seen = labels.setdefault(record.label, digest)
        if seen != digest:
            return f"label {record.label}: hash {digest} differs from an earlier query's {seen}"
    if record.expected_hash is not None:
        count, expected = record.expected_hash
        if count != len(values) or expected != digest:
            return (
                f"expected {count} values hashing to {expected}, got {len(values)} values hashing to {digest}"
            )
        return None
    expected_values = record.expected_values or []
    if values != expected_values:
        shown = values[:20]
        return f"expected {expected_values[:20]}, got {shown}{' ...' if len(values) > 20 else ''}"
    return None


def runnable(records: list[Record], engine: str = ENGINE) -> list[Record]:
    """The statement and query records an engine runs, up to a ``halt``."""
    chosen = []
    for record in records:
        if not record.applies_to(engine):
            continue
        if record.kind == "halt":
            break
        if record.kind in ("statement", "query"):
            chosen.append(record)
    return chosen


CONNECT_FAILURES_MAX = 3  # after this many failed reconnects in a row the server is gone: stop trying


def run_file(
    path: Path, dsn: str, *, engine: str = ENGINE, timeout_s: float = STATEMENT_TIMEOUT_S,
    failures_kept: int = FAILURES_KEPT, budget_s: float = FILE_BUDGET_S,
) -> FileResult:  # fmt: skip
    """Run every record of one file; records that could not run (server gone, or the
    file's time budget of `budget_s` spent) count as failed."""
    records = parse(path.read_text(encoding="utf-8"), path.name)
    tables, views = tables_created(records)
    to_run = runnable(records, engine)
    outcome = FileResult(path, run=len(to_run))
    outcome.skipped = sum(1 for r in records if r.kind in ("statement", "query")) - len(to_run)
    labels: dict[str, str] = {}
    started = time.monotonic()
    connection = _Connection(dsn, timeout_s)
    connect_failures = 0

    def fail(record: Record, why: str) -> None:
        outcome.failed += 1
        if len(outcome.failures) < failures_kept:
            sql = record.sql if len(record.sql) < 400 else record.sql[:400] + "..."
            outcome.failures.append(
                f"{path.name}:{record.line}: {why}\n    {sql.replace(chr(10), chr(10) + '    ')}"
            )

    try:
        try:
            _drop_all(connection, tables, views)
        except ConnectionLost:
            pass  # reported by the first record
        for record in to_run:
            if time.monotonic() - started > budget_s:
                outcome.not_run += 1
                fail(record, f"not run: the file's time budget of {budget_s:g} s is spent")
                continue
            if connect_failures >= CONNECT_FAILURES_MAX:
                fail(record, "not run: the server does not accept connections")
                continue
            try:
                session = connection.get()
                connect_failures = 0
            except ConnectionLost as exc:
                connect_failures += 1
                fail(record, f"cannot connect: {exc}")
                continue
            try:
                result: Result | None = session.execute(record.sql)
                error: SqlError | None = None
            except SqlError as exc:
                result, error = None, exc
            except StatementTimeout as exc:
                result, error = None, SqlError(None, str(exc), "TIMEOUT")
            if record.kind == "statement":
                if record.expect_error and error is None:
                    fail(record, "expected an error, statement succeeded")
                elif not record.expect_error and error is not None:
                    fail(record, f"statement failed: {error}")
                else:
                    outcome.passed += 1
                continue
            if error is not None:
                fail(record, f"query failed: {error}")
                continue
            assert result is not None
            why = _check_query(record, result, labels)
            if why is None:
                outcome.passed += 1
            else:
                fail(record, why)
    finally:
        try:
            _drop_all(connection, tables, views)
        except SqlError:
            pass
        connection.close()
        outcome.seconds = time.monotonic() - started
    return outcome
