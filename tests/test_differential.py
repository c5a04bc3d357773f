"""Differential tests: every script in tests/sql runs on dsql and on PostgreSQL.

dsql promises PostgreSQL's behaviour everywhere except its transaction model, so
the real PostgreSQL started by the tests is the oracle. Each script runs
statement by statement in its own autocommit connection on both servers, with
the simple protocol (as psql) and with the extended protocol (as psycopg 3 and
asyncpg); per statement the command tag, column names and types, the exact text
of every value (rows as multisets unless the statement has a top-level ORDER BY)
and error SQLSTATEs must agree. See ``support/sqlscript.py`` for the rules and
the ``-- @dsql-error`` / ``-- @skip-pg`` annotations.

``test_scripts_are_sound_on_postgres`` runs every script against PostgreSQL on
both sides: it proves the scripts are deterministic, clean up after themselves
and that the runner compares what it should, so a failure of the dsql tests
points at dsql.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from support import report
from support.sqlscript import compare_runs, load_script, public_relations, run_statements

from qp.plan.rule_names import ALL_RULE_NAMES

SQL_DIR = Path(__file__).resolve().parent / "sql"
SCRIPTS = sorted(SQL_DIR.glob("*.sql"))
STATEMENTS_MIN = 400  # the suite's coverage floor; scripts only grow
MISMATCHES_SHOWN_MAX = 5  # later mismatches are often echoes of the first
# Scripts not run with a rule off: 30_join_order's dozen-table joins are cross
# products in written order or without their join conditions pushed down.
_TOO_SLOW_WITHOUT = {"30_join_order.sql": {"join_order", "pushdown"}}


def _failure_text(script: str, mismatches: list[str], statements: int) -> str:
    shown = "\n\n".join(mismatches[:MISMATCHES_SHOWN_MAX])
    more = len(mismatches) - MISMATCHES_SHOWN_MAX
    tail = f"\n\n... and {more} more mismatching statements" if more > 0 else ""
    return f"{script}: {len(mismatches)} of {statements} statements differ from PostgreSQL\n\n{shown}{tail}"


@pytest.mark.parametrize("protocol", ["simple", "extended"])
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_script_matches_postgres(script: Path, protocol: str, pg_server, dsql_server) -> None:
    statements = load_script(script)
    reference = run_statements(pg_server.dsn, statements, is_postgres=True, protocol=protocol)
    if protocol == "simple":  # the planner-rule-off runs compare with the same answers
        _REFERENCE_RUNS[(script.name, ())] = reference
    candidate = run_statements(dsql_server.dsn, statements, is_postgres=False, protocol=protocol)
    comparison = compare_runs(script.name, statements, reference, candidate)
    report.add(
        f"differential {script.name} [{protocol}]: {comparison.compared} statements compared, "
        f"{len(comparison.mismatches)} mismatches"
    )
    if comparison.mismatches:
        pytest.fail(_failure_text(script.name, comparison.mismatches, comparison.statements), pytrace=False)


_REFERENCE_RUNS: dict[tuple[str, tuple[int, ...]], object] = {}

_RULE_OFF_CASES = [
    (script, rule)
    for script in SCRIPTS
    for rule in sorted(ALL_RULE_NAMES)
    if rule not in _TOO_SLOW_WITHOUT.get(script.name, ())
]


@pytest.mark.slow
@pytest.mark.parametrize(("script", "rule"), _RULE_OFF_CASES, ids=[f"{s.name}-{r}" for s, r in _RULE_OFF_CASES])
def test_script_matches_postgres_with_a_planner_rule_off(script: Path, rule: str, pg_server, dsql_server) -> None:
    """Every planner rule is an optimisation: switched off, the answers stay PostgreSQL's
    (but for the statements marked `@needs-rule`, whose answer PostgreSQL gets from
    the same rewrite)."""
    statements = [s for s in load_script(script) if rule not in s.needs_rules]
    # PostgreSQL's answers do not depend on dsql's rule: one run per script (and per set of
    # statements left out), shared by the six rules, halves this test's time.
    key = (script.name, tuple(i for i, s in enumerate(load_script(script)) if rule in s.needs_rules))
    reference = _REFERENCE_RUNS.get(key)
    if reference is None:
        reference = _REFERENCE_RUNS[key] = run_statements(pg_server.dsn, statements, is_postgres=True,
                                                          protocol="simple")  # fmt: skip
    dsn = f"{dsql_server.dsn}&options={quote(f'-c dsql.planner_rules_off={rule}')}"
    candidate = run_statements(dsn, statements, is_postgres=False, protocol="simple")
    comparison = compare_runs(script.name, statements, reference, candidate)
    if comparison.mismatches:
        pytest.fail(f"[{rule} off] " + _failure_text(script.name, comparison.mismatches, comparison.statements),
                    pytrace=False)


def test_scripts_are_sound_on_postgres(pg_server) -> None:
    """PostgreSQL against itself: deterministic results, no leftovers, enough statements."""
    assert SCRIPTS, f"no scripts in {SQL_DIR}"
    total = 0
    failures = []
    for script in SCRIPTS:
        statements = load_script(script)
        total += len(statements)
        before = public_relations(pg_server.dsn)
        first = run_statements(pg_server.dsn, statements, is_postgres=True, protocol="simple")
        leftovers = public_relations(pg_server.dsn) - before
        if leftovers:
            failures.append(f"{script.name} leaves relations behind: {sorted(leftovers)}")
        second = run_statements(pg_server.dsn, statements, is_postgres=True, protocol="extended")
        comparison = compare_runs(
            script.name, statements, first, second, reference_label="PostgreSQL (simple)",
            candidate_label="PostgreSQL (extended)",
        )  # fmt: skip
        if comparison.mismatches:
            failures.append(_failure_text(script.name, comparison.mismatches, comparison.statements))
    report.add(f"differential scripts: {len(SCRIPTS)} files, {total} statements (PostgreSQL self-check)")
    assert not failures, "\n\n".join(failures)
    assert total >= STATEMENTS_MIN, f"only {total} statements in {SQL_DIR}; keep at least {STATEMENTS_MIN}"
