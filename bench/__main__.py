"""`make bench`: dsql and a local PostgreSQL, side by side, in one run.

    python -m bench [--seconds 10] [--connections 8] [--only point_select,update_txn,pgbench_tpcb_simple]

Starts a durable PostgreSQL (initdb into a temporary directory, fsync on) and
`dsql serve` on a data directory, runs every workload against both with the
same client code, and prints a table with the ratio dsql / PostgreSQL. The
client runs in this process (asyncio + asyncpg), so on a small machine the
client's own CPU use is part of what is measured, for both servers alike.
The `pgbench_*` workloads run PostgreSQL's pgbench instead (TPC-B-like
transactions at scale 1, in simple and prepared query modes, 40001 retried
with --max-tries=0; see bench/pgbench.py): ops/s is its TPS, and the retries
column counts its retries. Results are also written as JSON under bench/results/.

The `ddb_*` workloads (bench/dynamodb.py) run boto3 against dsql's DynamoDB
endpoint and moto's server instead, side by side (`--ddb-clients` processes).

`journal_append` (bench/journal.py) measures the replicated journal alone:
append throughput and p50/p99 on 3 replicas, beside the disk's fsync rate.

`cluster` (bench/cluster.py): pgbench select-only and TPC-B at scale 8 and
commit latency on the embedded server and on local clusters of processes
with 1 and 2 query processors: the cost of the split.

`replica_move` (bench/replica_move.py): how long moving a shard replica
to another storage node (copy, then drop) and splitting a shard take, by size.

`dynamo` (bench/dynamo.py): Dynamo's put and get at (3,2,2) and (3,1,1) through
its Riak HTTP API, beside DynamoDB PutItem/GetItem on the same durable server.

`joins` (bench/joins.py): a 10-table join over a few thousand rows per table,
after ANALYZE, on dsql and PostgreSQL, and the ratio of their times.

`storage` (bench/storage_node.py): storage nodes on LMDB beside the in-memory
engine with checkpoints: `pgbench -i -s N` (`--storage-scale`), memory while
loading, select-only, restart to the first answer, data on disk.

`commit_path` (bench/commit.py): update transactions and TPC-B at scale 8
beside PostgreSQL, with the journal replicas' syncs per commit.

`hot_rows` (bench/hot_rows.py): TPC-B at scale 1 (one hot branch row), 1 and
`--connections` clients, goodput and retries per commit with dsql.hot_row_wait
off and on, beside PostgreSQL.

`rpc` (bench/rpc.py): what a remote call costs over `cluster.tcp` between
two processes, CPU per call on each side, at 1, 8 and 32 concurrent callers.

`stall` (bench/stall.py): `SELECT 1` latency while another connection runs a
CPU-bound query, and the journal elections dsql logged meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import cluster as cluster_bench
from bench import commit as commit_bench
from bench import dynamo as dynamo_bench
from bench import dynamodb as ddb_bench
from bench import hot_rows as hot_bench
from bench import joins as joins_bench
from bench import journal as journal_bench
from bench import replica_move as move_bench
from bench import rpc as rpc_bench
from bench import storage_node as storage_bench
from bench.pgbench import PGBENCH_WORKLOADS, run_pgbench_workload
from bench.servers import DsqlServer, PostgresServer
from bench.stall import elections, run_stall
from bench.workloads import WORKLOADS, Result, run_workload

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per workload and server")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured time before each measurement")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--ddb-clients", type=int, default=4, help="boto3 client processes for the ddb_* workloads")
    parser.add_argument("--storage-scale", type=int, default=8,
                        help="storage: the pgbench scale loaded into each storage engine (100: 10 million rows)")
    parser.add_argument("--hot-row-modes", default="off,on",
                        help="hot_rows: the dsql.hot_row_wait values to run (default: none sent)")
    parser.add_argument("--storage-engines", default="checkpoints,lmdb",
                        help="storage: which engines to load (lmdb alone for scales that do not fit in memory)")
    parser.add_argument("--storage-memory-limit-mb", type=int, default=0,
                        help="storage: hold each dsql server to this much memory, page cache included (a cgroup)")
    parser.add_argument("--ddb-memory", action="store_true", help="ddb_* workloads: dsql serve --memory, as moto keeps no files")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(width=max(Console().width, 130))
    known = [*WORKLOADS, *PGBENCH_WORKLOADS, "stall"]
    every = [*known, *ddb_bench.WORKLOADS, *journal_bench.WORKLOADS, *cluster_bench.WORKLOADS,
             *move_bench.WORKLOADS, *rpc_bench.WORKLOADS, *dynamo_bench.WORKLOADS, *joins_bench.WORKLOADS,
             *storage_bench.WORKLOADS, *commit_bench.WORKLOADS, *hot_bench.WORKLOADS]
    requested = [n for n in args.only.split(",") if n] or every
    unknown = [n for n in requested if n not in every]
    if unknown:
        console.print(f"unknown workloads: {', '.join(unknown)}; known: {', '.join(every)}")
        return 2
    names = [n for n in requested if n in known]
    ddb_names = [n for n in requested if n in ddb_bench.WORKLOADS]
    if names:
        results = _run_postgres_side(names, args, console)
        _print(console, results, args)
        _save(results, args)
    if ddb_names:
        # The DynamoDB workloads compare with moto's server, not PostgreSQL (bench/dynamodb.py).
        ddb_results = ddb_bench.run(
            ddb_names, seconds=args.seconds, warmup=args.warmup, clients=args.ddb_clients, console=console,
            memory=args.ddb_memory,
        )  # fmt: skip
        ddb_bench.print_table(console, ddb_results, args.seconds, args.ddb_clients, args.ddb_memory)
        _save_dynamodb(ddb_results, args)
    if any(n in journal_bench.WORKLOADS for n in requested):
        rate, journal_results = journal_bench.run(seconds=args.seconds, warmup=args.warmup, console=console)
        journal_bench.print_table(console, rate, journal_results)
        journal_bench.save(rate, journal_results, RESULTS_DIR)
    if any(n in dynamo_bench.WORKLOADS for n in requested):
        dynamo_results = dynamo_bench.run(seconds=args.seconds, warmup=args.warmup, clients=args.ddb_clients,
                                          console=console)  # fmt: skip
        dynamo_bench.print_table(console, dynamo_results, args.ddb_clients, args.seconds)
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / f"bench-dynamo-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps({k: v.as_dict() for k, v in dynamo_results.items()}, indent=2))
    if any(n in joins_bench.WORKLOADS for n in requested):
        joins_result = joins_bench.run(console)
        joins_bench.print_table(console, joins_result)
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / f"bench-joins-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps({"dsql_s": joins_result.dsql_s, "postgres_s": joins_result.postgres_s,
                                    "ratio": joins_result.ratio, "answer": list(joins_result.answer)}, indent=2))
    if any(n in storage_bench.WORKLOADS for n in requested):
        storage_results = storage_bench.run(scale=args.storage_scale, clients=args.connections, seconds=args.seconds,
                                            console=console, engines=args.storage_engines.split(","),
                                            memory_limit_mb=args.storage_memory_limit_mb)  # fmt: skip
        storage_bench.print_table(console, storage_results, args.storage_scale, args.connections, args.seconds)
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / f"bench-storage-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps({k: vars(v) for k, v in storage_results.items()}, indent=2))
    if any(n in move_bench.WORKLOADS for n in requested):
        move_bench.print_table(console, move_bench.run(console=console))
    if any(n in rpc_bench.WORKLOADS for n in requested):
        rpc_bench.main([])
    if any(n in commit_bench.WORKLOADS for n in requested):
        commit_results = commit_bench.run(seconds=args.seconds, warmup=args.warmup, clients=args.connections,
                                          console=console)  # fmt: skip
        commit_bench.print_table(console, commit_results, args.connections, args.seconds)
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / f"bench-commit-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps({k: {**vars(v), "ratio": v.ratio} for k, v in commit_results.items()}, indent=2))
    if any(n in hot_bench.WORKLOADS for n in requested):
        hot_runs = hot_bench.run(seconds=args.seconds, clients=args.connections,
                                 modes=[m for m in args.hot_row_modes.split(",") if m], console=console)  # fmt: skip
        hot_bench.print_table(console, hot_runs, args.seconds)
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / f"bench-hot-rows-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps([{**vars(r), "retries_per_commit": r.retries_per_commit} for r in hot_runs],
                                   indent=2))  # fmt: skip
    if any(n in cluster_bench.WORKLOADS for n in requested):
        cluster_results = cluster_bench.run(
            seconds=args.seconds, warmup=args.warmup, clients=args.connections, console=console
        )
        cluster_bench.print_table(console, cluster_results, args.connections, args.seconds)
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / f"bench-cluster-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps({k: vars(v) for k, v in cluster_results.items()}, indent=2))
    return 0


def _run_postgres_side(names: list[str], args: argparse.Namespace, console: Console) -> dict[str, dict[str, Result]]:
    results: dict[str, dict[str, Result]] = {n: {} for n in names}
    with tempfile.TemporaryDirectory(prefix="dsql-bench-") as data_dir:
        postgres = PostgresServer(durable=True)
        dsql = DsqlServer(data_dir=Path(data_dir) / "dsql")
        with console.status("starting PostgreSQL and dsql"):
            postgres.start()
            dsql.start()
        console.print(f"PostgreSQL: {postgres.version} on port {postgres.port}; dsql on port {dsql.port}")
        try:
            pgbench_ready: set[str] = set()  # servers whose pgbench tables are loaded
            for name in names:
                for label, server in (("dsql", dsql), ("postgres", postgres)):
                    if name == "stall":
                        before = elections(dsql.log_path)
                        results[name][label] = asyncio.run(
                            run_stall(server.dsn, args.seconds, args.warmup, console, label)
                        )
                        if label == "dsql":
                            console.print(f"stall: journal elections during the run: {elections(dsql.log_path) - before}")
                        continue
                    if name in PGBENCH_WORKLOADS:
                        results[name][label] = run_pgbench_workload(
                            name, server, label, args.connections, args.seconds, console, pgbench_ready
                        )
                        continue
                    results[name][label] = asyncio.run(
                        run_workload(name, server.dsn, args.connections, args.seconds, args.warmup, console, label)
                    )
        finally:
            dsql.stop()
            postgres.stop()
    return results


def _print(console: Console, results: dict[str, dict[str, Result]], args: argparse.Namespace) -> None:
    table = Table(title=f"dsql vs PostgreSQL ({args.connections} connections, {args.seconds:g} s each)")
    table.add_column("workload")
    table.add_column("dsql ops/s", justify="right")
    table.add_column("PostgreSQL ops/s", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("dsql p50 / p99 ms", justify="right")
    table.add_column("PG p50 / p99 ms", justify="right")
    table.add_column("dsql retries (40001)", justify="right")
    for name, by_server in results.items():
        d, p = by_server["dsql"], by_server["postgres"]
        ratio = d.ops_per_s / p.ops_per_s if p.ops_per_s else float("nan")
        table.add_row(
            name,
            f"{d.ops_per_s:,.0f}",
            f"{p.ops_per_s:,.0f}",
            f"{ratio:.2f}×",
            f"{d.p50_ms:.2f} / {d.p99_ms:.2f}",
            f"{p.p50_ms:.2f} / {p.p99_ms:.2f}",
            f"{d.retries:,}",
        )
    console.print(table)


def _save(results: dict[str, dict[str, Result]], args: argparse.Namespace) -> None:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {
        "connections": args.connections,
        "seconds": args.seconds,
        "results": {n: {s: r.as_dict() for s, r in by.items()} for n, by in results.items()},
    }
    path.write_text(json.dumps(payload, indent=2))


def _save_dynamodb(results: dict[str, dict[str, ddb_bench.Result]], args: argparse.Namespace) -> None:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"bench-dynamodb-{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {
        "clients": args.ddb_clients,
        "dsql_memory_only": args.ddb_memory,
        "seconds": args.seconds,
        "results": {n: {s: r.as_dict() for s, r in by.items()} for n, by in results.items()},
    }
    path.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    sys.exit(main())
