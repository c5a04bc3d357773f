"""Prometheus metrics of a dsql process (`prometheus_client`).

Every process keeps its own metrics (one role per process in a cluster,
every role in the embedded server) and serves them at
`http://HOST:PORT/metrics` when given a metrics port (`dsql serve
--metrics-port`, or the `metrics_port` of a role in cluster.toml, which
`dsql cluster up` picks). The parts record into the module-level metrics
below; what is cheaper to read than to count (a storage replica's lag) is
read when scraped.

Names follow Prometheus' conventions: seconds for durations, `_total` for
counters, a `role` label where more than one role shares a process.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)

# Buckets from 250 µs to 10 s: a commit on an idle local cluster takes about a
# millisecond, one that waits out a journal election a second or more.
_LATENCY_BUCKETS = (0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512,
                    1.0, 2.0, 5.0, 10.0)  # fmt: skip

COMMIT_SECONDS = Histogram(
    "dsql_commit_seconds", "Commit latency at the query processor: adjudication, journal append and commit wait",
    ["api"], buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
CONFLICTS = Counter(
    "dsql_conflicts_total", "Transactions an adjudicator refused, by the kind of conflict",
    ["kind"], registry=REGISTRY,
)  # fmt: skip
JOURNAL_APPEND_SECONDS = Histogram(
    "dsql_journal_append_seconds", "Journal append latency seen by an adjudicator (chosen by a majority)",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
HOT_ROW_WAITS = Counter(
    "dsql_hot_row_waits_total", "Writers that queued behind an older transaction's intent on a row "
    "(qp/txn/intents.py), and those whose wait ran out", ["outcome"], registry=REGISTRY,
)  # fmt: skip
HOT_ROW_REFRESHES = Counter(
    "dsql_hot_row_refreshes_total", "Read refreshes (a transaction's snapshot moved forward, qp/txn/transaction.py), "
    "by outcome: ok, or the 40001 it gave instead", ["outcome"], registry=REGISTRY,
)  # fmt: skip
STORAGE_READS = Counter(
    "dsql_storage_reads_total", "Reads served by a storage replica, by kind (get, get_latest, scan page)",
    ["node", "kind"], registry=REGISTRY,
)  # fmt: skip
STORAGE_CLOSES = Counter(
    "dsql_storage_journal_closes_total", "Closes a storage replica asked of a journal for strong reads ahead of it",
    ["node"], registry=REGISTRY,
)  # fmt: skip
STORAGE_CLOSES_AT_ONCE = Counter(
    "dsql_storage_journal_closes_at_once_total",
    "Closes a journal leader in the same process answered in a strong read's own task (no call)",
    ["node"], registry=REGISTRY,
)  # fmt: skip
REPLICA_LAG_SECONDS = Gauge(
    "dsql_replica_lag_seconds", "How far a storage replica's watermark is behind now",
    ["node"], registry=REGISTRY,
)  # fmt: skip


JOURNAL_SYNCS = Gauge(
    "dsql_journal_syncs", "Batches a journal replica has written and synced (one fsync each) since it started",
    ["replica"], registry=REGISTRY,
)  # fmt: skip
JOURNAL_LEADER = Gauge(
    "dsql_journal_leader", "1 while this journal replica leads its journal, else 0",
    ["replica"], registry=REGISTRY,
)  # fmt: skip


ADJUDICATOR_APPEND_BATCHES = Gauge(
    "dsql_adjudicator_append_batches", "Journal append requests an adjudicator made for commits (each one or more)",
    ["adjudicator"], registry=REGISTRY,
)  # fmt: skip


def watch_adjudicator(adjudicator: str, append_batches: Callable[[], int]) -> None:
    """Report an adjudicator's journal append requests (read when scraped): commits per request."""
    ADJUDICATOR_APPEND_BATCHES.labels(adjudicator=adjudicator).set_function(append_batches)


def watch_journal_replica(replica: str, syncs: Callable[[], int], leads: Callable[[], bool]) -> None:
    """Report a journal replica's syncs and whether it leads (read when scraped): syncs per
    commit, leader and followers apart, is what group commit is judged by."""
    JOURNAL_SYNCS.labels(replica=replica).set_function(syncs)
    JOURNAL_LEADER.labels(replica=replica).set_function(lambda: 1.0 if leads() else 0.0)


def watch_replica_lag(node: str, watermark_ns: Callable[[], int]) -> None:
    """Report a storage replica's lag (read from its watermark when scraped)."""

    def lag() -> float:
        watermark = watermark_ns()
        return max(0.0, (time.time_ns() - watermark) / 1e9) if watermark else float("nan")

    REPLICA_LAG_SECONDS.labels(node=node).set_function(lag)


def serve(host: str, port: int) -> int:
    """Serve /metrics on host:port in a background thread (0: any free port); returns the port."""
    server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
    return server.server_address[1]
