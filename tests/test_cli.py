"""`dsql serve`'s command line: settings' server-wide defaults and refusing bad ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parent.parent


def test_dash_c_sets_server_wide_defaults_of_dsql_limits(start_dsql, table_name: str) -> None:
    server = start_dsql(extra_args=["-c", "dsql.transaction_rows_max=5", "-c", "bytea_output=escape"])
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        assert conn.execute("show dsql.transaction_rows_max").fetchone() == ("5",)
        assert conn.execute("show bytea_output").fetchone() == ("escape",)
        conn.execute(f"create table {table_name} (id int primary key)")
        with pytest.raises(psycopg.Error) as refused:
            conn.execute(f"insert into {table_name} select generate_series(1, 6)")
        assert refused.value.sqlstate == "54000"
        conn.execute(f"insert into {table_name} select generate_series(1, 5)")
        conn.execute("set dsql.transaction_rows_max = 100")  # a session may still raise its own
        conn.execute(f"insert into {table_name} select generate_series(6, 20)")
        conn.execute("reset dsql.transaction_rows_max")  # and RESET goes back to the server's default
        assert conn.execute("show dsql.transaction_rows_max").fetchone() == ("5",)


@pytest.mark.parametrize("args, message", [
    (["-c", "no_such_setting=1"], 'unrecognized configuration parameter "no_such_setting"'),
    (["-c", "dsql.transaction_rows_max=lots"], "dsql.transaction_rows_max"),
    (["-c", "server_version=17"], 'unrecognized configuration parameter "server_version"'),
    (["-c", "noequals"], "expected NAME=VALUE"),
])
def test_bad_settings_stop_serve_with_a_message(args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "cluster.cli", "serve", "--memory", "--port", "0",
                           "--dynamodb-port", "0", *args], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_two_journals_carry_commits_and_keep_them_across_a_restart(start_dsql, table_name: str, tmp_path: Path) -> None:
    data = tmp_path / "two-journals"
    server = start_dsql(data_dir=data, extra_args=["--journals", "2"])
    tables = [f"j{t}_{table_name[-6:]}" for t in range(4)]
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        # Consecutive tables fall in different adjudicator ranges, so their
        # commits go to both journals, and a restart merges them by τ.
        for table in tables:
            conn.execute(f"create table {table} (id int primary key, v text)")
            for i in range(10):
                conn.execute(f"insert into {table} values (%s, %s)", (i, f"v{i}"))
    server.kill()
    # Both journals carried commits: each one's replicas wrote accepted values.
    wal_bytes = {j: sum(f.stat().st_size for f in (data / f"journal-{j}").rglob("wal-*")) for j in (0, 1)}
    assert all(size > 4096 for size in wal_bytes.values()), wal_bytes
    server.restart()
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        for table in tables:
            assert conn.execute(f"select count(*), min(id), max(id) from {table}").fetchone() == (10, 0, 9)
    server.stop()
    # Dropping a journal under existing data would strand its commits: refused.
    done = subprocess.run([sys.executable, "-m", "cluster.cli", "serve", "--data-dir", str(data), "--port", "0",
                           "--dynamodb-port", "0"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2 and "--journals 2" in done.stderr, done.stderr


@pytest.mark.parametrize("args, message", [
    (["--journal-replicas", "2"], "must be odd"),
    (["--journals", "0"], "at least 1"),
])
def test_bad_journal_layouts_stop_serve_with_a_message(args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "cluster.cli", "serve", "--memory", "--port", "0",
                           "--dynamodb-port", "0", *args], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2 and message in done.stderr, done.stderr
