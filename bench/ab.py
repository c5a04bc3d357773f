"""Alternating A/B runs of commits: which commit made a workload slower?

    python -m bench.ab [--workload update_txn|point_select|index_select] [--rounds 3] [--seconds 8] REV [REV ...]

A revision written REV+pure runs REV with DSQL_PURE_PYTHON=1: its Python sources
where `make` would compile modules (build_native.py, which runs once per exported
tree that has it, as `make` does).

Each revision is exported (`git archive`) to a directory of its own and its
`dsql serve` started from there with this checkout's virtualenv (so only
revisions whose packages and dependencies match today's run). The revisions
run one after another, round after round, so that the machine's changing
state falls on all of them alike; each run is a fresh server on an empty
data directory, 10,000 rows, 8 asyncpg connections (bench/workloads.py's
statements), 2 s of warm-up, then `--seconds` measured.

Reported per run: operations per second and the server's CPU time per
operation (user + system of `dsql serve` over the measured window). On this
shared 2-core VM a pure-Python loop's time moves by ±25 % from one second to
the next, so one pair says little: compare the medians over several rounds.
At the end a table gives each revision's median and its runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
from rich.console import Console
from rich.table import Table

from bench.servers import REPO_ROOT, free_port, process_cpu_seconds
from bench.workloads import WORKLOADS, prepare, setup

CONNECTIONS = 8
WARMUP_S = 2.0
START_TIMEOUT_S = 60.0


def export(rev: str, root: Path) -> Path:
    """The tree of `rev`, exported once under `root` (and its modules compiled, if it compiles any)."""
    commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", rev], check=True,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    tree = root / commit
    if not tree.exists():
        tree.mkdir(parents=True)
        archive = subprocess.Popen(["git", "-C", str(REPO_ROOT), "archive", commit], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(tree)], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            raise RuntimeError(f"git archive {commit} failed")
        if (tree / "build_native.py").exists():
            subprocess.run([sys.executable, "build_native.py"], cwd=tree, check=True)
    return tree


async def _measure(dsn: str, workload: str, seconds: float, pid: int) -> tuple[int, float, float]:
    await setup(dsn, workload)
    operation = WORKLOADS[workload]
    conns = [await asyncpg.connect(dsn) for _ in range(CONNECTIONS)]
    state = {"ops": 0, "measuring": False, "stop": False}

    async def worker(conn: asyncpg.Connection, seed: int) -> None:
        rng = random.Random(seed)
        statements = await prepare(conn, workload)
        while not state["stop"]:
            await operation(conn, statements, rng)
            if state["measuring"]:
                state["ops"] += 1

    tasks = [asyncio.create_task(worker(c, i)) for i, c in enumerate(conns)]
    try:
        await asyncio.sleep(WARMUP_S)
        cpu0, t0 = process_cpu_seconds(pid), time.perf_counter()
        state["measuring"] = True
        await asyncio.sleep(seconds)
        state["measuring"] = False
        cpu1, t1 = process_cpu_seconds(pid), time.perf_counter()
    finally:
        state["stop"] = True
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in conns:
            await conn.close()
    return state["ops"], t1 - t0, cpu1 - cpu0


async def _answers(dsn: str) -> None:
    conn = await asyncio.wait_for(asyncpg.connect(dsn), 2)
    await conn.close()


def run_once(tree: Path, workload: str, seconds: float, scratch: Path, *, pure: bool = False) -> tuple[float, float]:
    """(operations per second, server CPU ms per operation) of one fresh server from `tree`
    (`pure`: its Python sources, not its compiled modules)."""
    data = scratch / "data"
    shutil.rmtree(data, ignore_errors=True)
    port = free_port()
    argv = [sys.executable, "-m", "assembly.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(data), "--dynamodb-port", "0", "--dynamo-port", "0"]  # fmt: skip
    with open(scratch / "server.log", "ab") as log:
        proc = subprocess.Popen(argv, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree), "DSQL_PURE_PYTHON": "1" if pure else "0"}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                asyncio.run(_answers(dsn))
                break
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server of {tree.name} did not start: {exc!r} "
                                       f"(log: {scratch / 'server.log'})") from None  # fmt: skip
                time.sleep(0.1)
        ops, wall, cpu = asyncio.run(_measure(dsn, workload, seconds, proc.pid))
        return ops / wall, 1000 * cpu / max(ops, 1)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("revs", nargs="+", help="commits to compare (anything git rev-parse takes)")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="update_txn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    console = Console()
    runs: dict[str, list[tuple[float, float]]] = {rev: [] for rev in args.revs}
    with tempfile.TemporaryDirectory(prefix="dsql-ab-") as tmp:
        root = Path(tmp)
        trees = {rev: export(rev.removesuffix("+pure"), root / "trees") for rev in args.revs}
        for round_no in range(1, args.rounds + 1):
            for rev, tree in trees.items():
                ops_s, cpu_ms = run_once(tree, args.workload, args.seconds, root, pure=rev.endswith("+pure"))
                runs[rev].append((ops_s, cpu_ms))
                console.print(f"round {round_no} {rev} ({tree.name}): {ops_s:,.0f} ops/s, "
                              f"{cpu_ms:.3f} ms server CPU per operation")  # fmt: skip
    table = Table(title=f"{args.workload}, {CONNECTIONS} connections, {args.seconds:g} s a run")
    for column in ("revision", "median ops/s", "median CPU ms/op", "each run's CPU ms/op"):
        table.add_column(column, justify="left" if column == "revision" else "right")
    for rev, results in runs.items():
        table.add_row(rev, f"{statistics.median(r[0] for r in results):,.0f}",
                      f"{statistics.median(r[1] for r in results):.3f}",
                      ", ".join(f"{r[1]:.2f}" for r in results))  # fmt: skip
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
