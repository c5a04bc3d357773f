"""Differential SQL scripts: split, run on two servers, compare.

A script (``tests/sql/*.sql``) is plain SQL run statement by statement in one
autocommit connection. PostgreSQL's lexer (pglast's ``scan``) splits it at
top-level semicolons, so strings, dollar quotes and comments never confuse the
split and statements with syntax errors (which the parser would reject) are
kept. pglast's parser then tells whether a statement has a top-level ORDER BY:
only then is row order compared; otherwise rows are compared as multisets.

For each statement the comparison covers success or failure, the command tag
(``INSERT 0 3``, ``SELECT 2``...), column names, column type OIDs and the exact
text of every value. Errors are compared by SQLSTATE class, and by the full
SQLSTATE for the codes in ``EXACT_SQLSTATES``, where the code is the point of
the statement (unique violation, undefined table...).

Annotations, in ``--`` comment lines just before a statement, mark the rare
legitimate differences; each should carry a comment saying why:

``-- @dsql-error [SQLSTATE]``
    Not run on PostgreSQL; dsql must fail (with that SQLSTATE or, if two
    characters, that class).
``-- @skip-pg``
    Not run on PostgreSQL; dsql must succeed.
``-- @needs-rule NAME[,NAME]``
    The answer depends on a planner rewrite PostgreSQL also makes (an unread
    subquery output never evaluated, a filter applied before a select list):
    left out when that planner rule is switched off.

Both kinds are skipped on both sides when the "server under test" is itself
PostgreSQL (the self-check that proves scripts and runner sound).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

from pglast import parser as pg_parser

from .pgsession import ConnectionLost, Result, Session, SqlError, StatementTimeout

EXACT_SQLSTATES = frozenset(
    {
        "23502",  # not_null_violation
        "23505",  # unique_violation
        "23514",  # check_violation
        "22001",  # string_data_right_truncation
        "22003",  # numeric_value_out_of_range
        "22012",  # division_by_zero
        "22P02",  # invalid_text_representation
        "22007",  # invalid_datetime_format
        "22008",  # datetime_field_overflow
        "25P02",  # in_failed_sql_transaction
        "25006",  # read_only_sql_transaction
        "42601",  # syntax_error
        "42P01",  # undefined_table
        "42P07",  # duplicate_table
        "42703",  # undefined_column
        "42701",  # duplicate_column
        "42704",  # undefined_object
        "42702",  # ambiguous_column
        "42803",  # grouping_error
        "21000",  # cardinality_violation
        "22023",  # invalid_parameter_value
        "25001",  # active_sql_transaction
        "3F000",  # invalid_schema_name
        "42501",  # insufficient_privilege
        "55000",  # object_not_in_prerequisite_state
    }
)

TYPE_NAMES = {
    16: "bool", 17: "bytea", 18: "char", 19: "name", 20: "int8", 21: "int2", 23: "int4", 25: "text",
    26: "oid", 114: "json", 700: "float4", 701: "float8", 705: "unknown", 1042: "bpchar",
    1043: "varchar", 1082: "date", 1083: "time", 1114: "timestamp", 1184: "timestamptz",
    1186: "interval", 1266: "timetz", 1700: "numeric", 2249: "record", 2950: "uuid", 3802: "jsonb",
    1000: "bool[]", 1005: "int2[]", 1007: "int4[]", 1009: "text[]", 1016: "int8[]", 1231: "numeric[]",
}  # fmt: skip

ANNOTATIONS = ("dsql-error", "skip-pg", "needs-rule")
DIFF_LINES_MAX = 40


class ScriptError(ValueError):
    """The script itself is malformed (unknown annotation, nothing to run...)."""


@dataclass
class Statement:
    sql: str
    line: int
    ordered: bool
    dsql_error: str | None = None  # "" = any error; else a SQLSTATE or a two-character class
    skip_pg: bool = False
    needs_rules: frozenset[str] = frozenset()  # planner rules this statement's answer depends on

    @property
    def pg_only_skip(self) -> bool:
        """True when PostgreSQL does not run this statement."""
        return self.dsql_error is not None or self.skip_pg


@dataclass
class Outcome:
    """What one statement did on one server."""

    result: Result | None = None
    error: SqlError | None = None
    skipped: bool = False
    not_run: str = ""  # why it was never sent (connection lost, earlier timeout)

    def describe(self) -> str:
        if self.skipped:
            return "skipped"
        if self.not_run:
            return f"not run ({self.not_run})"
        if self.error is not None:
            return f"error {self.error.sqlstate}: {self.error.message}"
        assert self.result is not None
        return f"ok, tag {self.result.tag!r}"


@dataclass
class ScriptRun:
    statements: list[Statement]
    outcomes: list[Outcome] = field(default_factory=list)


def has_top_level_order_by(sql: str) -> bool:
    """Whether the statement is a query whose outermost level has ORDER BY."""
    try:
        tree = json.loads(pg_parser.parse_sql_json(sql))
    except pg_parser.ParseError:
        return False
    stmts = tree.get("stmts", [])
    if len(stmts) != 1:
        return False
    node = stmts[0].get("stmt", {})
    select = node.get("SelectStmt")
    return bool(select and select.get("sortClause"))


def _annotations(gap: str, where: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw in gap.splitlines():
        line = raw.strip()
        if not line.startswith("--"):
            continue
        body = line[2:].strip()
        if not body.startswith("@"):
            continue
        name, _, argument = body[1:].partition(" ")
        if name not in ANNOTATIONS:
            raise ScriptError(f"{where}: unknown annotation @{name} (known: {', '.join(ANNOTATIONS)})")
        found[name] = argument.strip().split(" ")[0] if argument.strip() else ""
    return found


def parse_script(text: str, name: str = "<script>") -> list[Statement]:
    """Split a script into statements with their line numbers, ordering and annotations."""
    tokens = pg_parser.scan(text)
    statements: list[Statement] = []
    gap_start = 0  # where the text between the previous statement and this one begins
    first: int | None = None  # first non-comment token of the current statement
    last_end = 0
    for token in tokens:
        is_comment = token.name in ("SQL_COMMENT", "C_COMMENT")
        if token.name == "ASCII_59":  # ';'
            if first is not None:
                statements.append(_make_statement(text, gap_start, first, last_end, name))
            first = None
            gap_start = token.end + 1
            continue
        if is_comment:
            continue
        if first is None:
            first = token.start
        last_end = token.end + 1
    if first is not None:
        statements.append(_make_statement(text, gap_start, first, last_end, name))
    if not statements:
        raise ScriptError(f"{name}: no statements")
    return statements


def _make_statement(text: str, gap_start: int, start: int, end: int, name: str) -> Statement:
    sql = text[start:end]
    line = text.count("\n", 0, start) + 1
    notes = _annotations(text[gap_start:start], f"{name}:{line}")
    return Statement(
        sql=sql,
        line=line,
        ordered=has_top_level_order_by(sql),
        dsql_error=notes.get("dsql-error"),
        skip_pg="skip-pg" in notes,
        needs_rules=frozenset(n for n in notes.get("needs-rule", "").split(",") if n),
    )


def load_script(path: Path) -> list[Statement]:
    return parse_script(path.read_text(encoding="utf-8"), path.name)


def run_statements(
    dsn: str, statements: list[Statement], *, is_postgres: bool, protocol: str = "simple"
) -> list[Outcome]:
    """Run every statement in one fresh connection; stop sending after the connection is lost."""
    outcomes: list[Outcome] = []
    stopped = ""
    with Session(dsn, protocol=protocol) as session:
        for statement in statements:
            if is_postgres and statement.pg_only_skip:
                outcomes.append(Outcome(skipped=True))
                continue
            if stopped:
                outcomes.append(Outcome(not_run=stopped))
                continue
            try:
                outcomes.append(Outcome(result=session.execute(statement.sql)))
            except ConnectionLost as exc:
                outcomes.append(Outcome(error=exc))
                stopped = f"connection lost at line {statement.line}"
            except SqlError as exc:
                outcomes.append(Outcome(error=exc))
            except StatementTimeout as exc:
                outcomes.append(Outcome(error=SqlError(None, str(exc), "TIMEOUT")))
                stopped = f"timeout at line {statement.line}"
    return outcomes


def _type_name(oid: int) -> str:
    return TYPE_NAMES.get(oid, f"oid {oid}")


def _row_text(row: tuple[str | None, ...]) -> str:
    return "(" + ", ".join("NULL" if v is None else repr(v) for v in row) + ")"


def _sorted_rows(rows: list[tuple[str | None, ...]]) -> list[tuple[str | None, ...]]:
    return sorted(rows, key=lambda row: tuple((v is None, v or "") for v in row))


def _sqlstate_matches(expected: str | None, actual: str | None) -> bool:
    if expected is None or actual is None:
        return expected == actual
    if expected in EXACT_SQLSTATES:
        return expected == actual
    return expected[:2] == actual[:2]


def compare(statement: Statement, reference: Outcome, candidate: Outcome) -> str | None:
    """None if the candidate's outcome matches the reference's, else an explanation."""
    if statement.dsql_error is not None:
        if candidate.skipped:
            return None
        wanted = statement.dsql_error
        if candidate.error is None or candidate.not_run:
            return f"expected dsql to fail{f' with {wanted}' if wanted else ''}; got {candidate.describe()}"
        code = candidate.error.sqlstate or ""
        if wanted and not code.startswith(wanted):
            return f"expected SQLSTATE {wanted}; got {candidate.describe()}"
        return None
    if statement.skip_pg:
        if candidate.skipped or (candidate.result is not None):
            return None
        return f"expected success (@skip-pg); got {candidate.describe()}"
    if candidate.not_run or reference.not_run:
        return f"reference: {reference.describe()}; candidate: {candidate.describe()}"
    if reference.error is not None or candidate.error is not None:
        if reference.error is None or candidate.error is None:
            return "reference and candidate disagree on success"
        if not _sqlstate_matches(reference.error.sqlstate, candidate.error.sqlstate):
            exact = reference.error.sqlstate in EXACT_SQLSTATES
            return f"SQLSTATE differs ({'exact' if exact else 'class'} comparison)"
        return None
    ref, got = reference.result, candidate.result
    assert ref is not None and got is not None
    problems = []
    if ref.tag != got.tag:
        problems.append(f"command tag differs: {ref.tag!r} vs {got.tag!r}")
    if ref.columns != got.columns:
        problems.append(f"column names differ: {ref.columns} vs {got.columns}")
    if ref.type_oids != got.type_oids:
        problems.append(
            "column types differ: "
            f"{[_type_name(o) for o in ref.type_oids]} vs {[_type_name(o) for o in got.type_oids]}"
        )
    ref_rows, got_rows = ref.rows, got.rows
    if not statement.ordered:
        ref_rows, got_rows = _sorted_rows(ref_rows), _sorted_rows(got_rows)
    if ref_rows != got_rows:
        kind = "in order (top-level ORDER BY)" if statement.ordered else "as multisets"
        problems.append(f"rows differ, compared {kind}")
    return "; ".join(problems) or None


def _describe_side(label: str, outcome: Outcome) -> list[str]:
    lines = [f"  {label}: {outcome.describe()}"]
    if outcome.result is not None and outcome.result.columns:
        cols = ", ".join(
            f"{c} {_type_name(o)}"
            for c, o in zip(outcome.result.columns, outcome.result.type_oids, strict=False)
        )
        lines.append(f"    columns: {cols}")
    return lines


def render_mismatch(
    script: str, index: int, statement: Statement, reference: Outcome, candidate: Outcome, why: str,
    reference_label: str = "PostgreSQL", candidate_label: str = "dsql",
) -> str:  # fmt: skip
    lines = [f"{script}:{statement.line} (statement #{index + 1}): {why}"]
    lines += ["    " + text for text in statement.sql.splitlines()]
    lines += _describe_side(reference_label, reference)
    lines += _describe_side(candidate_label, candidate)
    if reference.result is not None and candidate.result is not None:
        ref_rows, got_rows = reference.result.rows, candidate.result.rows
        if not statement.ordered:
            ref_rows, got_rows = _sorted_rows(ref_rows), _sorted_rows(got_rows)
        if ref_rows != got_rows:
            diff = list(
                difflib.unified_diff(
                    [_row_text(r) for r in ref_rows],
                    [_row_text(r) for r in got_rows],
                    fromfile=reference_label,
                    tofile=candidate_label,
                    lineterm="",
                    n=2,
                )
            )
            if len(diff) > DIFF_LINES_MAX:
                diff = diff[:DIFF_LINES_MAX] + [f"... ({len(diff) - DIFF_LINES_MAX} more diff lines)"]
            lines += ["    " + d for d in diff]
    return "\n".join(lines)


@dataclass
class Comparison:
    statements: int  # statements in the script
    compared: int  # statements whose outcomes were compared (or checked against an annotation)
    mismatches: list[str]


def compare_runs(
    script: str, statements: list[Statement], reference: list[Outcome], candidate: list[Outcome],
    *, reference_label: str = "PostgreSQL", candidate_label: str = "dsql",
) -> Comparison:  # fmt: skip
    mismatches = []
    compared = 0
    for index, (statement, ref, got) in enumerate(zip(statements, reference, candidate, strict=True)):
        if got.skipped and ref.skipped:
            continue
        compared += 1
        why = compare(statement, ref, got)
        if why is not None:
            mismatches.append(
                render_mismatch(script, index, statement, ref, got, why, reference_label, candidate_label)
            )
    return Comparison(statements=len(statements), compared=compared, mismatches=mismatches)


def public_relations(dsn: str) -> set[str]:
    """Tables, indexes and views in schema public (PostgreSQL's catalog), to check scripts clean up."""
    with Session(dsn) as session:
        rows = session.query(
            "SELECT c.relkind::text || ' ' || c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        )
    return {row[0] or "" for row in rows}
