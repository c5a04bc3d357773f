"""pg_stat_activity as PostgreSQL fills it: the same sessions on both servers, the same rows.

A watcher looks at three other sessions: one idle in a transaction block, one
idle after an autocommit statement, one in a block that failed. Every column
PostgreSQL fills deterministically is compared as is; timestamps (which
differ by nature) by which are NULL and by their order. backend_xmin is left
out: PostgreSQL's is a transaction id, which dsql does not have.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest

COMPARED = ("pid, datname, usename, usesysid, application_name, client_addr, client_hostname, client_port, "
            "wait_event_type, wait_event, state, backend_xid, query_id, query, backend_type, leader_pid")
TIMES = "backend_start, xact_start, query_start, state_change"


def local_port(conn: psycopg.Connection) -> int:
    with socket.socket(fileno=os.dup(conn.fileno())) as sock:
        return sock.getsockname()[1]


@contextmanager
def sessions(dsn: str) -> Iterator[dict[str, psycopg.Connection]]:
    with psycopg.connect(dsn, autocommit=True, application_name="watcher") as watcher, \
            psycopg.connect(dsn, autocommit=True, application_name="in block") as in_block, \
            psycopg.connect(dsn, autocommit=True) as idle, \
            psycopg.connect(dsn, autocommit=True) as failed:
        conns = {"watcher": watcher, "in_block": in_block, "idle": idle, "failed": failed}
        for conn in conns.values():  # the pid of each row below is pg_backend_pid() of its session
            assert conn.execute("SELECT pg_backend_pid()").fetchone() == (conn.info.backend_pid,)
        in_block.execute("BEGIN")
        in_block.execute("SELECT 1 AS in_block")
        idle.execute("SELECT 2 AS idle")
        failed.execute("BEGIN")
        with pytest.raises(psycopg.errors.DivisionByZero):
            failed.execute("SELECT 1 / 0 AS failed")
        yield conns


def observe(dsn: str) -> dict[str, tuple[dict, dict]]:
    """Each session's row as the watcher sees it: (compared columns, timestamps)."""
    with sessions(dsn) as conns:
        pids = {name: conn.info.backend_pid for name, conn in conns.items()}
        query = f"SELECT {COMPARED}, {TIMES} FROM pg_stat_activity WHERE pid IN (%s, %s, %s, %s) ORDER BY pid"
        for _ in range(50):
            cursor = conns["watcher"].execute(query, tuple(pids.values()))
            names = [d.name for d in cursor.description]
            rows = {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
            # A backend that has just answered is back waiting for its client a moment later
            # (PostgreSQL shows no wait event until then; under load the moment grows).
            if all(rows[pids[n]]["wait_event"] is not None for n in conns if n != "watcher"):
                break
            time.sleep(0.1)
        assert sorted(rows) == sorted(pids.values())
        out = {}
        for name, conn in conns.items():
            row = rows[pids[name]]
            assert row["client_port"] == local_port(conn), name
            assert str(row["client_addr"]) == "127.0.0.1", name
            times = {k: row.pop(k) for k in TIMES.split(", ")}
            row["pid"] = name  # pids differ between servers; each matched its connection's above
            row["client_addr"] = str(row["client_addr"])
            row["client_port"] = "the client's"
            out[name] = (row, times)
        return out


def check_times(name: str, times: dict) -> None:
    present = [v for v in times.values() if v is not None]
    assert present == sorted(present), f"{name}: backend_start <= xact_start <= query_start <= state_change: {times}"


def test_activity_of_sessions_idle_in_a_block_idle_and_failed(pg_server, dsql_server) -> None:
    ours, theirs = observe(dsql_server.dsn), observe(pg_server.dsn)
    for name in ("watcher", "in_block", "idle", "failed"):
        assert ours[name][0] == theirs[name][0], name
        nulls = {k: v is None for k, v in ours[name][1].items()}
        assert nulls == {k: v is None for k, v in theirs[name][1].items()}, (name, ours[name][1], theirs[name][1])
        check_times(name, ours[name][1])
    # What the comparison covered, spelled out:
    assert ours["watcher"][0]["state"] == "active" and ours["watcher"][0]["query"].startswith("SELECT pid, datname")
    assert (ours["in_block"][0]["state"], ours["in_block"][0]["query"]) == ("idle in transaction",
                                                                            "SELECT 1 AS in_block")
    assert (ours["idle"][0]["state"], ours["idle"][0]["query"]) == ("idle", "SELECT 2 AS idle")
    assert ours["failed"][0]["state"] == "idle in transaction (aborted)"
    assert ours["idle"][1]["xact_start"] is None and ours["in_block"][1]["xact_start"] is not None


@pytest.fixture
def plain_role(pg_server, dsql_server, names: Callable[[str], str]) -> Iterator[str]:
    role = names("plain")
    for dsn in (pg_server.dsn, dsql_server.dsn):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN")
    yield role
    for dsn in (pg_server.dsn, dsql_server.dsn):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")


def test_a_role_sees_only_who_of_other_roles_sessions(pg_server, dsql_server, plain_role: str) -> None:
    """PostgreSQL shows another role's session to a role that is not a superuser
    without its state, times, address or query (`<insufficient privilege>`)."""
    seen = []
    for server in (dsql_server, pg_server):
        with psycopg.connect(server.dsn, autocommit=True) as other, \
                psycopg.connect(server.dsn, user=plain_role, autocommit=True) as plain:
            other.execute("SELECT 3 AS secret")
            cursor = plain.execute(f"SELECT {COMPARED}, {TIMES} FROM pg_stat_activity WHERE pid IN (%s, %s)",
                                   (other.info.backend_pid, plain.info.backend_pid))
            names = [d.name for d in cursor.description]
            rows = {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
            theirs, mine = rows[other.info.backend_pid], rows[plain.info.backend_pid]
            assert (mine["usename"], mine["state"], mine["backend_type"]) == (plain_role, "active", "client backend")
            assert theirs["usename"] != plain_role
            # Role oids differ between the servers; the rest must not.
            seen.append({k: v for k, v in theirs.items() if k not in ("pid", "usesysid")})
    assert seen[0] == seen[1]
    assert seen[0]["query"] == "<insufficient privilege>" and seen[0]["state"] is None


def test_a_long_query_is_cut_as_postgresql_cuts_it(pg_server, dsql_server) -> None:
    """track_activity_query_size: 1023 bytes are kept, cut before a character that does not fit."""
    text = "SELECT '" + "é" * 600 + "' AS long_query"  # the 1023rd byte is the first half of an é
    seen = []
    for server in (dsql_server, pg_server):
        with psycopg.connect(server.dsn, autocommit=True) as watcher, \
                psycopg.connect(server.dsn, autocommit=True) as long:
            long.execute(text)
            row = watcher.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (long.info.backend_pid,))
            seen.append(row.fetchone()[0])
    assert seen[0] == seen[1]
    assert len(seen[0].encode()) == 1022 and text.startswith(seen[0])
