"""Dynamo's put and get at (N, R, W) = (3, 2, 2) and (3, 1, 1), beside DynamoDB's on the same server.

    python -m bench --only dynamo [--seconds 10] [--ddb-clients 4]

One durable `dsql serve` (a data directory: the journal fsyncs every
DynamoDB commit; each Dynamo node fsyncs its own copy when a write's `dw`
asks) serves both endpoints over the same storage nodes. The same number of
client processes (`--ddb-clients`) then run, one workload after another:

- dynamo_put_322 / dynamo_get_322: `kv.dynamo.client` PUT (blind, a new key
  each time) and GET of a preloaded key in a bucket with n_val 3, r 2, w 2,
  dw 2 (the paper's configuration; every write waits for two fsyncs);
- dynamo_put_311 / dynamo_get_311: the same with r 1, w 1, dw 1 (one fsync);
- ddb_put_item / ddb_get_item: boto3 PutItem and GetItem (eventually
  consistent) against the DynamoDB endpoint (bench/dynamodb.py's items);
- ddb_get_item_strong: GetItem with ConsistentRead.

Latencies are per call, client-side; the server's CPU time per operation
(from /proc) is the fairer figure between the two APIs, because the
clients differ: boto3 spends about a millisecond of CPU per call, the
httpx-based Dynamo client a fraction of that, and clients and server share
the machine's cores.
"""

from __future__ import annotations

import multiprocessing
import random
import tempfile
from pathlib import Path
from typing import Any

from rich.table import Table

from bench import dynamodb as ddb_bench
from bench.dynamodb import Result
from bench.servers import DsqlServer
from kv.dynamo.client import DynamoClient

WORKLOADS = ("dynamo",)
DYNAMO_WORKLOADS = ("dynamo_put_322", "dynamo_get_322", "dynamo_put_311", "dynamo_get_311")
DDB_WORKLOADS = ("ddb_put_item", "ddb_get_item", "ddb_get_item_strong")
BUCKETS = {"322": {"n_val": 3, "r": 2, "w": 2, "dw": 2}, "311": {"n_val": 3, "r": 1, "w": 1, "dw": 1}}
PRELOAD_KEYS = 2_000
VALUE = b"x" * 200


def _bucket(workload: str) -> str:
    return "bench" + workload.rsplit("_", 1)[1]


def _preload(url: str, bucket: str, first: int, count: int) -> None:
    client = DynamoClient(url)
    for i in range(first, first + count):
        client.put(bucket, f"k{i}", VALUE, content_type="application/octet-stream")
    client.close()


def prepare(url: str, clients: int) -> None:
    client = DynamoClient(url)
    for suffix, props in BUCKETS.items():
        client.set_bucket_props(f"bench{suffix}", props)
    client.close()
    context = multiprocessing.get_context("fork")
    per = PRELOAD_KEYS // clients
    processes = [
        context.Process(target=_preload, args=(url, f"bench{suffix}", i * per, per))
        for suffix in BUCKETS
        for i in range(clients)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)


def _dynamo_worker(workload: str, url: str, seconds: float, warmup: float, seed: int, queue: Any) -> None:
    client = DynamoClient(url)
    rng = random.Random(seed)
    bucket = _bucket(workload)
    sequence = 0

    def operation() -> None:
        nonlocal sequence
        if workload.startswith("dynamo_put"):
            sequence += 1
            client.put(bucket, f"w{seed}-{sequence}", VALUE, content_type="application/octet-stream")
        else:
            client.get(bucket, f"k{rng.randrange(PRELOAD_KEYS)}")

    ddb_bench.timed_loop(operation, seconds, warmup, queue)
    client.close()


def run(*, seconds: float, warmup: float, clients: int, console: Any) -> dict[str, Result]:
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="dsql-bench-dynamo-") as base:
        server = DsqlServer(Path(base) / "dsql", dynamodb_port=0, dynamo_port=0)
        with console.status("starting dsql (DynamoDB and Dynamo endpoints)"):
            server.start()
        console.print(f"dsql: DynamoDB {server.dynamodb_url}, Dynamo {server.dynamo_url}, durable; "
                      f"{clients} client processes")  # fmt: skip
        try:
            with console.status(f"loading {PRELOAD_KEYS} keys per Dynamo bucket and "
                                f"{ddb_bench.PARTITIONS * ddb_bench.ITEMS_PER_PARTITION} DynamoDB items"):  # fmt: skip
                prepare(server.dynamo_url, clients)
                ddb_bench.prepare(server.dynamodb_url)
            for name in (*DYNAMO_WORKLOADS, *DDB_WORKLOADS):
                dynamo = name.startswith("dynamo")
                url = server.dynamo_url if dynamo else server.dynamodb_url
                with console.status(f"{name} ({warmup:g} s warm-up, {seconds:g} s measured)"):
                    results[name] = ddb_bench.run_workload(
                        name, url, server.pid, clients, seconds, warmup, worker=_dynamo_worker if dynamo else ddb_bench.boto3_worker
                    )
        finally:
            server.stop()
    return results


def print_table(console: Any, results: dict[str, Result], clients: int, seconds: float) -> None:
    table = Table(title=f"Dynamo vs DynamoDB on one durable dsql server ({clients} client processes, {seconds:g} s each)")
    for column in ("workload", "ops/s", "vs DynamoDB", "p50 / p99 ms", "server CPU ms/op"):
        table.add_column(column, justify="left" if column == "workload" else "right")
    peer = {"put": results.get("ddb_put_item"), "get": results.get("ddb_get_item")}
    for name, result in results.items():
        ratio = ""
        if name.startswith("dynamo"):
            other = peer["put" if "_put_" in name else "get"]
            if other is not None and other.ops_per_s:
                ratio = f"{result.ops_per_s / other.ops_per_s:.2f}×"
        table.add_row(name, f"{result.ops_per_s:,.0f}", ratio,
                      f"{result.percentile_ms(0.5):.2f} / {result.percentile_ms(0.99):.2f}",
                      f"{result.cpu_ms_per_op:.2f}")  # fmt: skip
    console.print(table)
