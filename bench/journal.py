"""The journal alone: append throughput and latency on 3 replicas, beside the disk's fsync rate.

    python -m bench.journal [--seconds 5] [--loads 1,16,256] [--payload-bytes 200]
    python -m bench --only journal_append          (the same, from `make bench`)

Three `JournalReplica`s run in this process on the in-process transport (as
`dsql serve` runs them), each on its own data directory under one temporary
directory, so all three sync to the same disk. For each load (number of
concurrent appenders, each appending one record and waiting for it to be
chosen before the next), the table shows appends per second, p50 and p99
latency, and how many syncs each replica did per second and how many records
rode in each (group commit). Before that, the same disk's raw rate of
write + fdatasync is measured in the same run, since every number above is
bounded by it (in one process, three replicas share one disk and one core).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import trio
from rich.console import Console
from rich.table import Table

from cluster.clock import Clock
from cluster.disk import OsDisk
from cluster.transport import InProcessTransport
from journal.client import JournalClient
from journal.replica import JournalReplica, ReplicaConfig

WORKLOADS = ("journal_append",)
LOADS = (1, 16, 256)
PAYLOAD_BYTES = 200  # about one single-row update transaction's record
REPLICAS = 3
FSYNC_PROBE_BYTES = 512


@dataclass
class JournalResult:
    appenders: int
    appends: int
    seconds: float
    p50_ms: float
    p99_ms: float
    syncs_per_s: float  # per replica, mean
    records_per_sync: float

    @property
    def appends_per_s(self) -> float:
        return self.appends / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "appends_per_s": self.appends_per_s}


def fsync_rate(directory: str, seconds: float) -> float:
    """Raw write(512 B) + fdatasync per second in `directory` (one writer)."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    block = b"x" * FSYNC_PROBE_BYTES
    count = 0
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            os.write(fd, block)
            os.fdatasync(fd)
            count += 1
    finally:
        os.close(fd)
        os.remove(path)
    return count / (time.perf_counter() - started)


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


class _Load:
    def __init__(self) -> None:
        self.stop = False
        self.measuring = False
        self.latencies: list[float] = []


async def _appender(client: JournalClient, clock: Clock, payload: bytes, state: _Load) -> None:
    while not state.stop:
        started = time.perf_counter()
        await client.append(payload, clock.latest())
        if state.measuring:
            state.latencies.append(time.perf_counter() - started)


async def _run_loads(root: str, loads: tuple[int, ...], seconds: float, warmup: float, payload_bytes: int) -> list[JournalResult]:
    clock = Clock()
    transport = InProcessTransport()
    addresses = [f"journal/0/{i}" for i in range(REPLICAS)]
    replicas = [
        JournalReplica(0, i, addresses, transport, clock, OsDisk(os.path.join(root, f"replica-{i}")), config=ReplicaConfig())
        for i in range(REPLICAS)
    ]
    for address, replica in zip(addresses, replicas, strict=True):
        transport.serve(address, replica)
    results = []
    async with trio.open_nursery() as nursery:
        await nursery.start(transport.run)
        for replica in replicas:
            await nursery.start(replica.run)
        client = JournalClient(transport, addresses)
        await client.append(b"warm", clock.latest())  # waits out the first election
        payload = b"p" * payload_bytes
        for load in loads:
            state = _Load()
            async with trio.open_nursery() as appenders:
                for _ in range(load):
                    appenders.start_soon(_appender, client, clock, payload, state)
                await trio.sleep(warmup)
                syncs_before = [r.fsyncs for r in replicas]
                written_before = replicas[0].log.end
                state.measuring = True
                started = time.perf_counter()
                await trio.sleep(seconds)
                state.measuring = False
                elapsed = time.perf_counter() - started
                syncs = [r.fsyncs - b for r, b in zip(replicas, syncs_before, strict=True)]
                records = replicas[0].log.end - written_before
                state.stop = True
            latencies = state.latencies
            latencies.sort()
            mean_syncs = sum(syncs) / len(syncs)
            results.append(
                JournalResult(
                    appenders=load,
                    appends=len(latencies),
                    seconds=elapsed,
                    p50_ms=_percentile(latencies, 0.50) * 1000,
                    p99_ms=_percentile(latencies, 0.99) * 1000,
                    syncs_per_s=mean_syncs / elapsed,
                    records_per_sync=records / mean_syncs if mean_syncs else 0.0,
                )
            )
        nursery.cancel_scope.cancel()
    for replica in replicas:
        replica.close_files()
    return results


def run(
    *, seconds: float = 5.0, warmup: float = 1.0, loads: tuple[int, ...] = LOADS,
    payload_bytes: int = PAYLOAD_BYTES, console: Console | None = None,
) -> tuple[float, list[JournalResult]]:  # fmt: skip
    """(raw fsync rate of the disk, one result per load)."""
    console = console or Console()
    with tempfile.TemporaryDirectory(prefix="dsql-bench-journal-") as root:
        with console.status("measuring the disk's fsync rate"):
            rate = fsync_rate(root, min(seconds, 3.0))
        with console.status(f"appending to {REPLICAS} replicas at loads {', '.join(map(str, loads))}"):
            results = trio.run(_run_loads, root, loads, seconds, warmup, payload_bytes)
    return rate, results


def print_table(console: Console, rate: float, results: list[JournalResult], payload_bytes: int = PAYLOAD_BYTES) -> None:
    table = Table(
        title=f"journal: {REPLICAS} replicas in one process, separate data dirs on one disk; "
        f"{payload_bytes}-byte records; raw write+fdatasync on that disk: {rate:,.0f}/s"
    )
    table.add_column("appenders", justify="right")
    table.add_column("appends/s", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("syncs/s per replica", justify="right")
    table.add_column("records per sync", justify="right")
    for r in results:
        table.add_row(
            str(r.appenders),
            f"{r.appends_per_s:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.syncs_per_s:,.0f}",
            f"{r.records_per_sync:.1f}",
        )
    console.print(table)


def save(rate: float, results: list[JournalResult], directory: Path) -> Path:
    import json

    directory.mkdir(exist_ok=True)
    path = directory / f"bench-journal-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"fsync_per_s": rate, "results": [r.as_dict() for r in results]}, indent=2))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.journal", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--loads", default=",".join(map(str, LOADS)), help="concurrent appenders, comma-separated")
    parser.add_argument("--payload-bytes", type=int, default=PAYLOAD_BYTES)
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 120))
    loads = tuple(int(x) for x in args.loads.split(",") if x)
    rate, results = run(
        seconds=args.seconds, warmup=args.warmup, loads=loads, payload_bytes=args.payload_bytes, console=console
    )
    print_table(console, rate, results, args.payload_bytes)
    save(rate, results, Path(__file__).resolve().parent / "results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
