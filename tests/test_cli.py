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
