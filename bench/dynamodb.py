"""DynamoDB API benchmark: boto3 against dsql's endpoint and moto's server, side by side.

    python -m bench --only ddb_put_item,ddb_get_item,ddb_query [--seconds 10] [--ddb-clients 4] [--ddb-memory]

Both servers get the same table (partition key S, sort key N, on-demand) and
the same preloaded items, then each workload runs the same boto3 client code
in `--ddb-clients` processes (one client each, its own connection pool)
against one server, then the other. Throughput is counted after a warm-up;
latencies are per call, client-side. Each server's CPU time during the
measurement is read from /proc, so the table also shows what one operation
costs the server, which on a small machine is the fairer figure: boto3
itself costs about a millisecond of CPU per call (the client CPU column
shows it), and client and server share the cores.

dsql runs durable by default (every commit fsynced by its journal), moto
keeps everything in memory; `--ddb-memory` runs `dsql serve --memory` for a
like-for-like comparison.

- ddb_put_item: PutItem of a new ~200-byte item (random partition, fresh sort key);
- ddb_get_item: GetItem (eventually consistent, the default) of a random preloaded item;
- ddb_query:    Query of one random preloaded partition (20 items, one page).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.servers import ServerError, free_port, port_answers_http, process_cpu_seconds

WORKLOADS = ("ddb_put_item", "ddb_get_item", "ddb_query")
TABLE = "bench_items"
PARTITIONS = 200
ITEMS_PER_PARTITION = 20
MOTO_STARTUP_TIMEOUT_S = 60.0
CLIENT_KWARGS = {"region_name": "us-east-1", "aws_access_key_id": "bench", "aws_secret_access_key": "bench"}


class MotoServer:
    """moto's standalone server (`moto_server`), started on a free port for a benchmark or test."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, log_path: Path | None = None) -> None:
        self.host = host
        self.port = port or 0
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> MotoServer:
        if not self.port:
            self.port = free_port(self.host)
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        env = {**os.environ, "MOTO_CALL_RESET_API": "true"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + MOTO_STARTUP_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"moto_server exited with code {self.proc.returncode} during startup")
            why = port_answers_http(self.host, self.port, timeout_s=2.0)
            if why is None or "answered" in why:  # moto answers GET / with its own page
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"moto_server did not answer on {self.url} within {MOTO_STARTUP_TIMEOUT_S:.0f} s: {why}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def boto3_client(url: str, **config: Any):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb", endpoint_url=url, config=Config(retries={"mode": "standard"}, **config), **CLIENT_KWARGS
    )


def prepare(url: str) -> None:
    """Create the benchmark table and preload its partitions (the same on every server)."""
    client = boto3_client(url)
    try:
        client.delete_table(TableName=TABLE)
    except client.exceptions.ResourceNotFoundException:
        pass
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    requests = []
    for p in range(PARTITIONS):
        for s in range(ITEMS_PER_PARTITION):
            requests.append({"PutRequest": {"Item": _item(f"p{p}", s)}})
    for i in range(0, len(requests), 25):
        pending = {TABLE: requests[i : i + 25]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending)["UnprocessedItems"]


def _item(pk: str, sk: int) -> dict[str, Any]:
    return {
        "pk": {"S": pk},
        "sk": {"N": str(sk)},
        "payload": {"S": "x" * 150},
        "count": {"N": str(sk * 7)},
        "tags": {"SS": ["a", "b"]},
    }


def timed_loop(operation: Any, seconds: float, warmup: float, queue: Any) -> None:
    """Call `operation()` back to back for `warmup` + `seconds`; put (ops, latencies, CPU seconds
    of this client process) of the measured part on `queue`."""
    ops = 0
    latencies: list[float] = []
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + seconds
    cpu_from = None
    while True:
        now = time.perf_counter()
        if now >= stop:
            break
        if cpu_from is None and now >= measure_from:
            cpu_from = time.process_time()
        operation()
        done = time.perf_counter()
        if now >= measure_from:
            ops += 1
            latencies.append(done - now)
    queue.put((ops, latencies, time.process_time() - (cpu_from or time.process_time())))


def boto3_worker(workload: str, url: str, seconds: float, warmup: float, seed: int, queue: Any) -> None:
    client = boto3_client(url)
    rng = random.Random(seed)
    sequence = 0

    def operation() -> None:
        nonlocal sequence
        if workload == "ddb_put_item":
            sequence += 1
            client.put_item(TableName=TABLE, Item=_item(f"w{seed}-{rng.randrange(PARTITIONS)}", 1_000_000 + sequence))
        elif workload in ("ddb_get_item", "ddb_get_item_strong"):
            key = {"pk": {"S": f"p{rng.randrange(PARTITIONS)}"}, "sk": {"N": str(rng.randrange(ITEMS_PER_PARTITION))}}
            client.get_item(TableName=TABLE, Key=key, ConsistentRead=workload == "ddb_get_item_strong")
        else:
            client.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": f"p{rng.randrange(PARTITIONS)}"}},
            )

    timed_loop(operation, seconds, warmup, queue)


@dataclass
class Result:
    ops: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0  # of every client process together

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000

    @property
    def cpu_ms_per_op(self) -> float:
        return self.server_cpu_s * 1000 / self.ops if self.ops else float("nan")

    @property
    def client_cpu_ms_per_op(self) -> float:
        return self.client_cpu_s * 1000 / self.ops if self.ops else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "ops": self.ops,
            "seconds": self.seconds,
            "ops_per_s": self.ops_per_s,
            "p50_ms": self.percentile_ms(0.5),
            "p99_ms": self.percentile_ms(0.99),
            "server_cpu_ms_per_op": self.cpu_ms_per_op,
            "client_cpu_ms_per_op": self.client_cpu_ms_per_op,
        }


def run_workload(
    workload: str, url: str, server_pid: int | None, clients: int, seconds: float, warmup: float,
    worker: Any = boto3_worker,
) -> Result:  # fmt: skip
    """`clients` processes each running `worker(workload, url, seconds, warmup, seed, queue)`;
    their operations and latencies, and the server's CPU time meanwhile."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [
        context.Process(target=worker, args=(workload, url, seconds, warmup, 1000 + i, queue)) for i in range(clients)
    ]
    for process in processes:
        process.start()
    time.sleep(warmup)
    cpu_before = process_cpu_seconds(server_pid)
    time.sleep(seconds)
    cpu_after = process_cpu_seconds(server_pid)
    result = Result(seconds=seconds, server_cpu_s=cpu_after - cpu_before)
    for _ in processes:
        ops, latencies, client_cpu_s = queue.get(timeout=seconds + warmup + 120)
        result.ops += ops
        result.latencies += latencies
        result.client_cpu_s += client_cpu_s
    for process in processes:
        process.join(timeout=30)
    return result


def _dsql_server(base: Path, memory: bool):
    from bench.servers import DsqlServer

    class MemoryDsqlServer(DsqlServer):
        """`dsql serve --memory`: nothing on disk, like moto (the durable default fsyncs every commit)."""

        @property
        def argv(self) -> list[str]:
            argv = super().argv
            at = argv.index("--data-dir")
            return [*argv[:at], "--memory", *argv[at + 2 :]]

    return (MemoryDsqlServer if memory else DsqlServer)(base / "dsql", dynamodb_port=0)


def run(
    names: list[str], *, seconds: float, warmup: float, clients: int, console: Any, memory: bool = False
) -> dict[str, dict[str, Result]]:
    """Start dsql (DynamoDB endpoint) and moto's server, run `names` on both, return results."""
    results: dict[str, dict[str, Result]] = {name: {} for name in names}
    with tempfile.TemporaryDirectory(prefix="dsql-bench-ddb-") as base:
        dsql = _dsql_server(Path(base), memory)
        moto = MotoServer(log_path=Path(base) / "moto.log")
        with console.status("starting dsql and moto"):
            dsql.start()
            moto.start()
        servers = (("dsql", dsql.dynamodb_url, dsql.pid), ("moto", moto.url, moto.pid))
        durability = "memory only (--memory)" if memory else "durable (journal fsync per commit)"
        console.print(
            f"dsql DynamoDB endpoint {dsql.dynamodb_url}, {durability}; moto {moto.url} (memory only); "
            f"{clients} boto3 client processes"
        )
        try:
            for label, url, _ in servers:
                with console.status(f"loading {PARTITIONS * ITEMS_PER_PARTITION} items into {label}"):
                    prepare(url)
            for name in names:
                for label, url, pid in servers:
                    with console.status(f"{name} on {label} ({warmup:g} s warm-up, {seconds:g} s measured)"):
                        results[name][label] = run_workload(name, url, pid, clients, seconds, warmup)
        finally:
            dsql.stop()
            moto.stop()
    return results


def print_table(
    console: Any, results: dict[str, dict[str, Result]], seconds: float, clients: int, memory: bool = False
) -> None:
    from rich.table import Table

    mode = "dsql --memory" if memory else "dsql (durable)"
    table = Table(title=f"DynamoDB API: {mode} vs moto server (boto3, {clients} client processes, {seconds:g} s each)")
    table.add_column("workload")
    table.add_column("dsql ops/s", justify="right")
    table.add_column("moto ops/s", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("dsql p50 / p99 ms", justify="right")
    table.add_column("moto p50 / p99 ms", justify="right")
    table.add_column("server CPU ms/op dsql / moto", justify="right")
    table.add_column("client CPU ms/op dsql / moto", justify="right")
    for name, by_server in results.items():
        d, m = by_server["dsql"], by_server["moto"]
        ratio = d.ops_per_s / m.ops_per_s if m.ops_per_s else float("nan")
        table.add_row(
            name,
            f"{d.ops_per_s:,.0f}",
            f"{m.ops_per_s:,.0f}",
            f"{ratio:.2f}×",
            f"{d.percentile_ms(0.5):.2f} / {d.percentile_ms(0.99):.2f}",
            f"{m.percentile_ms(0.5):.2f} / {m.percentile_ms(0.99):.2f}",
            f"{d.cpu_ms_per_op:.2f} / {m.cpu_ms_per_op:.2f}",
            f"{d.client_cpu_ms_per_op:.2f} / {m.client_cpu_ms_per_op:.2f}",
        )
    console.print(table)
