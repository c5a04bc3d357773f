"""sys.cluster_nodes and sys.shards on the embedded server (an extension: DSQL hides its parts)."""

from __future__ import annotations

import psycopg


def test_sys_cluster_nodes_lists_every_part_and_one_journal_leader(dsql_server) -> None:
    with psycopg.connect(dsql_server.dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT node_name, role, state, is_leader, watermark_lag_ms, ballot, chosen_upto, commits, conflicts,"
            " sessions FROM sys.cluster_nodes ORDER BY node_name"
        ).fetchall()
    names = [r[0] for r in rows]
    assert {"journal-0", "journal-1", "journal-2", "storage-0", "storage-1", "qp-0"} <= set(names), names
    assert any(n.startswith("adjudicator-") for n in names)
    assert all(r[2] == "up" for r in rows), rows
    journals = [r for r in rows if r[1] == "journal"]
    assert sum(1 for r in journals if r[3]) == 1, journals
    storage = [r for r in rows if r[1] == "storage"]
    assert all(r[4] is not None and r[4] >= 0 for r in storage), storage
    # Each kind's own columns come from its typed status, the others' are NULL.
    assert all(r[5] >= 1 and r[6] >= 0 and r[7] is None for r in journals), journals
    adjudicators = [r for r in rows if r[1] == "adjudicator"]
    assert all(r[7] >= 0 and r[8] >= 0 and r[5] is None and r[9] is None for r in adjudicators), adjudicators
    (qp,) = [r for r in rows if r[1] == "qp"]
    assert qp[9] >= 1 and qp[7] is None, qp  # this session at least


def test_sys_shards_covers_the_key_space_once(dsql_server) -> None:
    with psycopg.connect(dsql_server.dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT shard_id, start_key, end_key, replica_count, replicas_up FROM sys.shards ORDER BY shard_id"
        ).fetchall()
    assert rows[0][1] == b"" and rows[-1][2] is None
    for before, after in zip(rows, rows[1:], strict=False):
        assert before[2] == after[1], (before, after)  # each range ends where the next begins
    assert all(r[3] == r[4] >= 1 for r in rows), rows
