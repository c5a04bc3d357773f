"""`dsql serve`'s command line: settings' server-wide defaults and refusing bad ones,
one server per data directory, ports in use, --help, --version and the connect banner."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from assembly import cli
from cluster.dirlock import lock_directory

REPO = Path(__file__).resolve().parent.parent


def dsql(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assembly.cli", *args], capture_output=True, text=True,
                          timeout=timeout_s, cwd=REPO)


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
    done = subprocess.run([sys.executable, "-m", "assembly.cli", "serve", "--memory", "--port", "0",
                           "--dynamodb-port", "0", "--dynamo-port", "0", *args], capture_output=True, text=True, timeout=60, cwd=REPO)
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
    done = subprocess.run([sys.executable, "-m", "assembly.cli", "serve", "--data-dir", str(data), "--port", "0",
                           "--dynamodb-port", "0", "--dynamo-port", "0"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2 and "--journals 2" in done.stderr, done.stderr


@pytest.mark.parametrize("args, message", [
    (["--journal-replicas", "2"], "must be odd"),
    (["--journals", "0"], "at least 1"),
])
def test_bad_journal_layouts_stop_serve_with_a_message(args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "assembly.cli", "serve", "--memory", "--port", "0",
                           "--dynamodb-port", "0", "--dynamo-port", "0", *args], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2 and message in done.stderr, done.stderr


# -- one server per data directory ------------------------------------------------------------------


def test_a_second_server_on_a_held_data_dir_is_refused_and_the_first_keeps_serving(
        start_dsql, table_name: str, tmp_path: Path) -> None:
    data = tmp_path / "held"
    first = start_dsql(data_dir=data)
    with psycopg.connect(first.dsn, autocommit=True) as conn:
        conn.execute(f"create table {table_name} (id int primary key, v text)")
        conn.execute(f"insert into {table_name} values (1, 'before')")
    # Refused before it opens anything: one line naming the holder, and nothing on stdout.
    second = dsql("serve", "--data-dir", str(data), "--port", "0", "--dynamodb-port", "0", "--dynamo-port", "0")
    assert second.returncode != 0
    assert second.stderr.splitlines() == [
        f"dsql: data directory {data} is in use by process {first.pid}; stop it or choose another --data-dir"
    ], second.stderr
    assert second.stdout == ""
    # A journal replica run on its own may not open one of the server's replica directories either.
    replica_dir = data / "journal-0" / "replica-0"
    replica = subprocess.run(
        [sys.executable, "-m", "journal.replica_main", "--index", "0", "--data-dir", str(replica_dir),
         "--peers", "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert replica.returncode == 2
    assert replica.stderr.splitlines() == [
        f"journal.replica_main: data directory {replica_dir} is in use by process {first.pid}; "
        "stop it or choose another --data-dir"
    ], replica.stderr
    # The first server never noticed: it still commits and reads, its data intact.
    assert first.running
    with psycopg.connect(first.dsn, autocommit=True) as conn:
        conn.execute(f"insert into {table_name} values (2, 'after')")
        assert conn.execute(f"select id, v from {table_name} order by id").fetchall() == [(1, "before"), (2, "after")]
    # kill -9 leaves the lock file, with the dead PID in it; it does not block a restart.
    killed_pid = first.pid
    first.kill()
    assert (data / ".dsql.lock").read_text().strip() == str(killed_pid)
    first.restart()
    with psycopg.connect(first.dsn, autocommit=True) as conn:
        assert conn.execute(f"select id, v from {table_name} order by id").fetchall() == [(1, "before"), (2, "after")]
        conn.execute(f"drop table {table_name}")


def test_a_second_journal_replica_on_one_directory_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "replica"
    argv = [sys.executable, "-m", "journal.replica_main", "--index", "0", "--data-dir", str(directory),
            "--peers", "127.0.0.1:0,127.0.0.1:1,127.0.0.1:2"]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    try:
        assert "listening on" in first.stdout.readline()
        second = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
        assert second.returncode == 2
        assert second.stderr.splitlines() == [
            f"journal.replica_main: data directory {directory} is in use by process {first.pid}; "
            "stop it or choose another --data-dir"
        ], second.stderr
        assert first.poll() is None
    finally:
        first.kill()
        first.wait(timeout=30)


# -- ports in use --------------------------------------------------------------------------------------


def _listening_socket() -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


@pytest.mark.parametrize("flag", ["--port", "--dynamodb-port", "--dynamo-port"])
def test_a_port_in_use_stops_serve_with_one_line(flag: str, tmp_path: Path) -> None:
    ports = {"--port": "0", "--dynamodb-port": "0", "--dynamo-port": "0"}
    with _listening_socket() as holder:
        busy = holder.getsockname()[1]
        ports[flag] = str(busy)
        done = dsql("serve", "--data-dir", str(tmp_path / "data"), "--log-level", "WARNING",
                    *(item for pair in ports.items() for item in pair))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"dsql: port {busy} on 127.0.0.1 is in use; choose another with {flag}"], \
        done.stderr


def test_a_port_in_use_leaves_nothing_half_started(tmp_path: Path) -> None:
    """In this process, so that what the failed start left open can be seen: the
    DynamoDB port fails after the journals and the PostgreSQL endpoint have started."""
    data = tmp_path / "data"
    with _listening_socket() as holder:
        argv = ["serve", "--data-dir", str(data), "--port", "0", "--dynamodb-port", str(holder.getsockname()[1]),
                "--dynamo-port", "0", "--log-level", "WARNING"]
        assert cli.main(argv) == 2
    assert (data / "journal-0" / "replica-0").is_dir(), "the journals had started"
    still_open = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the descriptor of the listing itself
        if target.startswith(str(data)):
            still_open.append(target)
    assert still_open == [], "journal files and lock files are closed"
    with lock_directory(str(data)), lock_directory(str(data / "journal-0" / "replica-0")):
        pass  # the data directory and the replicas' directories are free again


# -- help, version, banner -----------------------------------------------------------------------------


def test_serve_help_shows_every_default() -> None:
    done = dsql("serve", "--help")
    assert done.returncode == 0
    options = done.stdout.split("options:", 1)[1]
    blocks = [" ".join(block.split()) for block in re.split(r"\n(?=  -)", options) if block.strip()]
    assert len(blocks) > 15
    for block in blocks:
        if not block.startswith("-h, --help"):
            assert "(default: " in block, block
    flat = " ".join(blocks)
    for expected in ("--port PORT port of the PostgreSQL endpoint (0: any free port) (default: 5432)",
                     "(default: 8000)", "(default: ./data)", "(default: 127.0.0.1)", "(default: trust)"):
        assert expected in flat, expected


def test_version_comes_from_the_package_metadata() -> None:
    done = dsql("--version")
    assert done.returncode == 0
    assert done.stdout == f"dsql {importlib.metadata.version('dsql')}\n"


def test_serve_prints_how_to_connect(start_dsql) -> None:
    server = start_dsql(dynamodb_port=0)
    deadline = time.monotonic() + 30
    while "boto3.client(" not in (log := server.log_path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    banner = log[log.rindex("dsql: ready"):].splitlines()
    psql = next(line.strip() for line in banner if line.strip().startswith("psql "))
    assert psql == f"psql -h 127.0.0.1 -p {server.port} -U postgres -d postgres"
    # The lines work as printed: psql connects, and the boto3 client reaches the DynamoDB endpoint.
    done = subprocess.run([*shlex.split(psql), "-At", "-c", "select current_database()"],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "postgres\n"), done.stderr
    snippet = next(line.strip() for line in banner if "boto3.client(" in line)
    assert f'endpoint_url="http://127.0.0.1:{server.dynamodb_port}"' in snippet
    pasted: dict = {}
    exec(snippet, pasted)  # the line a user would paste into Python
    assert "TableNames" in pasted["ddb"].list_tables()


def test_a_data_dir_that_cannot_be_used_stops_serve_with_one_line(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    done = dsql("serve", "--data-dir", str(not_a_dir), "--port", "0", "--dynamodb-port", "0", "--dynamo-port", "0")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"dsql: cannot use --data-dir {not_a_dir}: File exists"], done.stderr
