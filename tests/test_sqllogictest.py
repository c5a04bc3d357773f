"""SQLite's sqllogictest select1-3 corpus, on PostgreSQL and on dsql.

The three files (5,413 records of portable SQL: joins, correlated subqueries,
CASE, aggregates, ORDER BY over a few small tables) are an engine-correctness
corpus with known answers. Our own runner (``support/slt.py``) plays them over
the simple query protocol as engine ``postgresql``.

Against PostgreSQL every record must pass: that proves the runner renders,
sorts and hashes exactly as the corpus expects. Against dsql the pass rate must
reach ``DSQL_PASS_RATE_MIN``, a floor the lead raises as the engine improves;
the per-file and overall rates and the first failures are printed either way.

The files live in ``tests/sqllogictest/`` (SQLite's public-domain corpus, see the
README there); ``$DSQL_SLT_DIR`` points the test at another copy.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import report
from support.slt import FileResult, run_file

from bench.servers import REPO_ROOT

DSQL_PASS_RATE_MIN = 1.0  # records passed / records run, over all three files (every record passes today)
SLT_FILES = ("select1.test", "select2.test", "select3.test")
FAILURES_SHOWN = 5


def slt_dir() -> Path:
    configured = os.environ.get("DSQL_SLT_DIR")
    return Path(configured) if configured else REPO_ROOT / "tests" / "sqllogictest"


def slt_path(name: str) -> Path:
    path = slt_dir() / name
    if not path.exists():
        pytest.fail(
            f"sqllogictest file {path} not found; set DSQL_SLT_DIR to the folder holding {', '.join(SLT_FILES)}",
            pytrace=False,
        )
    return path


def _failures(result: FileResult) -> str:
    return "\n".join(result.failures[:FAILURES_SHOWN])


@pytest.mark.parametrize("name", SLT_FILES)
def test_every_record_passes_on_postgres(name: str, pg_server) -> None:
    result = run_file(slt_path(name), pg_server.dsn)
    report.add(f"sqllogictest on PostgreSQL: {result.summary()}")
    assert result.run > 0, f"{name}: no records ran"
    assert result.passed == result.run, f"the runner disagrees with PostgreSQL:\n{_failures(result)}"


# Not marked slow: the 5,413 records take about 17 s on dsql (mark it slow if that passes ~60 s).
def test_dsql_pass_rate(dsql_server) -> None:
    results = [run_file(slt_path(name), dsql_server.dsn) for name in SLT_FILES]
    passed = sum(r.passed for r in results)
    run = sum(r.run for r in results)
    rate = passed / run if run else 0.0
    for result in results:
        report.add(f"sqllogictest on dsql: {result.summary()}")
    seconds = sum(r.seconds for r in results)
    report.add(f"sqllogictest on dsql overall: {passed}/{run} records passed ({rate:.1%}), {seconds:.1f} s")
    details = "\n\n".join(f"{r.path.name}:\n{_failures(r)}" for r in results if r.failures)
    assert rate >= DSQL_PASS_RATE_MIN, (
        f"dsql passes {rate:.1%} of sqllogictest records, below the floor of {DSQL_PASS_RATE_MIN:.0%}.\n"
        f"First failures:\n{details}"
    )
    if details:
        print(f"first failures (rate above the floor):\n{details}")


def test_a_file_stops_when_its_time_budget_is_spent(pg_server, tmp_path: Path) -> None:
    path = tmp_path / "budget.test"
    path.write_text(
        "statement ok\nCREATE TABLE budget_t (a INTEGER)\n\n"
        "statement ok\nINSERT INTO budget_t VALUES (1)\n\n"
        "query I nosort\nSELECT a FROM budget_t\n----\n1\n"
    )
    whole = run_file(path, pg_server.dsn)
    assert (whole.run, whole.passed, whole.not_run) == (3, 3, 0), whole.failures
    spent = run_file(path, pg_server.dsn, budget_s=0.0)
    assert (spent.run, spent.passed, spent.failed, spent.not_run) == (3, 0, 3, 3)
    assert "time budget" in spent.failures[0] and "time budget spent" in spent.summary()

