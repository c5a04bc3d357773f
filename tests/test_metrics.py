"""Prometheus metrics: `dsql serve --metrics-port` serves what the parts record."""

from __future__ import annotations

import socket
import urllib.request

import psycopg
from prometheus_client.parser import text_string_to_metric_families


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scrape(port: int) -> dict[str, list]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def _value(samples: list, name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_commits_conflicts_appends_and_lag_are_measured(start_dsql) -> None:
    port = _free_port()
    server = start_dsql(extra_args=("--metrics-port", str(port)))
    before = _scrape(port)
    assert _value(before["dsql_commit_seconds"], "dsql_commit_seconds_count", api="sql") == 0
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE metrics_t (id int PRIMARY KEY, n int)")
        conn.execute("INSERT INTO metrics_t VALUES (1, 0)")
        for _ in range(5):
            conn.execute("UPDATE metrics_t SET n = n + 1 WHERE id = 1")
        # A write-write conflict: two transactions update the same row; the second to commit loses.
        with psycopg.connect(server.dsn) as other:
            conn.execute("BEGIN")
            conn.execute("UPDATE metrics_t SET n = n + 1 WHERE id = 1")
            other.execute("UPDATE metrics_t SET n = n + 10 WHERE id = 1")
            other.commit()
            try:
                conn.execute("COMMIT")
                raise AssertionError("the second commit of one row should have lost")
            except psycopg.errors.SerializationFailure:
                pass
    after = _scrape(port)
    commits = _value(after["dsql_commit_seconds"], "dsql_commit_seconds_count", api="sql")
    assert commits >= 8, commits  # DDL, insert, 5 updates, the winner
    assert _value(after["dsql_journal_append_seconds"], "dsql_journal_append_seconds_count") >= commits
    assert _value(after["dsql_conflicts"], "dsql_conflicts_total") >= 1, after["dsql_conflicts"]
    lags = [s for s in after["dsql_replica_lag_seconds"] if s.name == "dsql_replica_lag_seconds"]
    assert {s.labels["node"] for s in lags} == {"storage-0", "storage-1"}
    assert all(0 <= s.value < 60 for s in lags), lags
