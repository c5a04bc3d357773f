"""A background job (CREATE INDEX ASYNC) outlives the process that started it.

The job's record holds its steps and a lease the running QP renews; a QP that
finds the lease stale (its owner died) claims the job and runs it again from
the start (qp/ddl/jobs.py).
"""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.slow

ROWS = 30_000


def test_an_index_build_cut_off_by_kill_9_completes_after_the_restart(start_dsql) -> None:
    server = start_dsql()
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE jobs_resume (id int PRIMARY KEY, v int)")
        conn.execute("SET dsql.transaction_rows_max = 100000")
        for start in range(0, ROWS, 3000):
            conn.execute("INSERT INTO jobs_resume SELECT g, g %% 977 FROM generate_series(%s::int, %s::int) AS g",
                         (start, start + 2999))  # fmt: skip
        job_id = conn.execute("CREATE INDEX ASYNC jobs_resume_v ON jobs_resume (v)").fetchone()[0]
    server.kill()  # at once: the build has only just begun
    server.restart()
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        status = conn.execute("SELECT status FROM sys.jobs WHERE job_id = %s", (job_id,)).fetchone()[0]
        assert status in ("submitted", "processing"), f"the build finished before the kill ({status})"
        conn.execute("SET statement_timeout = '90s'")  # a job nobody resumes would wait forever
        assert conn.execute("CALL sys.wait_for_job(%s)", (job_id,)).fetchone()[0] is True
        assert conn.execute("SELECT status FROM sys.jobs WHERE job_id = %s", (job_id,)).fetchone()[0] == "completed"
        # The index is there and answers like the table does.
        by_index = conn.execute("SELECT count(*) FROM jobs_resume WHERE v = 5").fetchone()[0]
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT count(*) FROM jobs_resume WHERE v = 5"))
        assert "jobs_resume_v" in plan, plan
        assert by_index == sum(1 for g in range(ROWS) if g % 977 == 5)
