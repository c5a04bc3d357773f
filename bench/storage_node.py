"""`storage`: storage nodes on LMDB beside the in-memory engine with checkpoints (issue 14, item 6).

The same durable `dsql serve` twice, once per storage engine
(`--storage-engine checkpoints` keeps replicas in Python dicts and writes
checkpoints; `lmdb`, the default, keeps them on disk, committed with the
journal positions), and PostgreSQL 15 for reference, each on a fresh data
directory, in one run:

- pgbench's tables and rows at SCALE (`load`: `pgbench -i -I dt`, its rows by
  COPY statements of 100,000 rows in autocommit, dsql committing every 1,000,
  then `pgbench -i -I vp`: pgbench's default steps), timed, with the server's peak RSS and anonymous
  memory sampled while it loads;
- pgbench select-only, prepared, 8 clients (a primary-key point read each);
- a restart (SIGINT, then start again) timed to the first answered query,
  and the server's RSS after it;
- the data directory's size.

`python -m bench --only storage [--storage-scale N]`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.pgbench import DSQL_INIT_OPTIONS, benchmark, initialize, run_pgbench
from bench.servers import DsqlServer, PostgresServer

WORKLOADS = ("storage",)
ENGINES = {"memory + checkpoints": "checkpoints", "LMDB": "lmdb"}


@dataclass
class Figures:
    load_s: float = 0.0
    load_peak_rss_mb: float = 0.0
    load_peak_anon_mb: float = 0.0
    select_only_tps: float = 0.0
    restart_s: float = 0.0
    rss_after_restart_mb: float = 0.0
    disk_mb: float = 0.0
    # Under a memory limit (--storage-memory-limit-mb): the cgroup's peak usage (the
    # server's memory and its files' page cache) and how often it reached the limit.
    limit_peak_mb: float = 0.0
    limit_hits: int = 0


def _memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, RssAnon) of a process in MB, from /proc (0 once it is gone)."""
    rss = anon = 0.0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024
                elif line.startswith("RssAnon:"):
                    anon = int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss, anon


class _PeakMemory:
    """Samples a process's memory every 0.2 s in a thread; keeps the peaks."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss = self.anon = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            rss, anon = _memory_mb(self.pid)
            self.rss, self.anon = max(self.rss, rss), max(self.anon, anon)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class MemoryLimit:
    """A cgroup (v1 memory controller) that holds the server to `limit_mb`: its own
    memory and the page cache of its files count against the limit, and the kernel
    takes cached pages back at the limit, so a server whose data outgrows the limit
    keeps working while its anonymous memory fits, and is killed (OOM) if not."""

    ROOT = Path("/sys/fs/cgroup/memory")

    def __init__(self, limit_mb: int) -> None:
        self.limit_mb = limit_mb
        # Made inside this process's own memory cgroup, which it goes back to after a start.
        own = next(line.split(":", 2)[2].strip() for line in Path("/proc/self/cgroup").read_text().splitlines()
                   if line.split(":", 2)[1] == "memory")  # fmt: skip
        self.home = self.ROOT / own.lstrip("/")
        self.path = self.home / f"dsql-bench-{os.getpid()}"

    @classmethod
    def available(cls) -> bool:
        return (cls.ROOT / "cgroup.procs").exists() and os.access(cls.ROOT, os.W_OK)

    def __enter__(self) -> MemoryLimit:
        self.path.mkdir(exist_ok=True)
        (self.path / "memory.limit_in_bytes").write_text(str(self.limit_mb << 20))
        return self

    @contextlib.contextmanager
    def starting(self):
        """Inside, this process is in the cgroup, so a server it starts is born in it
        (all its memory counts, from its first allocation), and leaves it after."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))
        try:
            yield
        finally:
            (self.home / "cgroup.procs").write_text(str(os.getpid()))

    def peak_mb(self) -> float:
        return int((self.path / "memory.max_usage_in_bytes").read_text()) / (1 << 20)

    def hits(self) -> int:
        """How often usage reached the limit (and the kernel reclaimed pages)."""
        return int((self.path / "memory.failcnt").read_text())

    def __exit__(self, *exc) -> None:
        for pid in (self.path / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                (self.home / "cgroup.procs").write_text(pid)
        with contextlib.suppress(OSError):
            self.path.rmdir()


def _disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


# The rows pgbench -i generates are loaded by COPY statements of this many rows, each
# in autocommit: `pgbench -i` COPYs inside one block (BEGIN; TRUNCATE; COPY ...; COMMIT),
# and at scale 100 that block outlives DSQL's 300 s transaction age limit (dsql's COPY
# commits every 3,000 rows with dsql.copy_batch_rows, but the block's own TRUNCATE still
# commits at its end, and is refused: 54000).
COPY_ROWS = 100_000


def _copy(conn, table: str, rows) -> None:
    with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
        for row in rows:
            copy.write(row)


def load(server, scale: int, *, dsql: bool, progress=None) -> None:
    """pgbench -i's tables and rows (`-I dt`, the same rows as its client-side
    generation, then `-I vp`), the rows COPYed `COPY_ROWS` at a time in autocommit."""
    import psycopg

    done = initialize(server, scale=scale, steps="dt")
    if done.returncode != 0:
        raise RuntimeError(f"pgbench -i -I dt failed:\n{done.stderr}")
    options = {"options": f"{DSQL_INIT_OPTIONS}"} if dsql else {}
    with psycopg.connect(server.dsn, autocommit=True, **options) as conn:
        _copy(conn, "pgbench_branches", (f"{b}\t0\t\n" for b in range(1, scale + 1)))
        _copy(conn, "pgbench_tellers", (f"{t}\t{(t - 1) // 10 + 1}\t0\t\n" for t in range(1, 10 * scale + 1)))
        accounts = 100_000 * scale
        for first in range(0, accounts, COPY_ROWS):
            lines = "".join(f"{a}\t{(a - 1) // 100_000 + 1}\t0\t\n"
                            for a in range(first + 1, min(first + COPY_ROWS, accounts) + 1))  # fmt: skip
            _copy(conn, "pgbench_accounts", [lines])
            if progress is not None:
                progress(min(first + COPY_ROWS, accounts), accounts)
    # pgbench's default steps (no foreign keys): at scale 100 the primary key's build alone
    # takes minutes on dsql.
    done = run_pgbench(server, ["-i", "-s", str(scale), "-I", "vp"], pgoptions=DSQL_INIT_OPTIONS if dsql else "",
                       timeout_s=max(600.0, 60.0 * scale))  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"pgbench -i -I vp failed:\n{done.stderr}")


def _first_answer_s(server, started: float) -> float:
    """Seconds from `started` until the server answers a read of the loaded data."""
    argv = ["psql", *server.psql_args(), "-Atc", "SELECT abalance FROM pgbench_accounts WHERE aid = 1"]
    while True:
        done = subprocess.run(argv, capture_output=True, text=True, env={"PGSSLMODE": "disable", "PATH": "/usr/bin"})
        if done.returncode == 0 and done.stdout.strip() == "0":
            return time.perf_counter() - started
        if time.perf_counter() - started > 300:
            raise RuntimeError(f"no answer 300 s after the restart: {done.stderr}")
        time.sleep(0.05)


def _measure_dsql(root: Path, engine: str, scale: int, clients: int, seconds: float, console: Console,
                  limit: MemoryLimit | None = None) -> Figures:
    figures = Figures()
    data_dir = root / f"dsql-{engine}"
    server = DsqlServer(data_dir, extra_args=["--storage-engine", engine])
    with console.status(f"starting dsql ({engine})"), limit.starting() if limit else contextlib.nullcontext():
        server.start()
    try:
        assert server.pid is not None
        with console.status(f"loading pgbench scale {scale} into dsql ({engine})") as status, \
                _PeakMemory(server.pid) as peak:
            started = time.perf_counter()

            def progress(done: int, total: int) -> None:
                status.update(f"loading pgbench scale {scale} into dsql ({engine}): {done:,} of {total:,} accounts, "
                              f"{time.perf_counter() - started:.0f} s, RSS {peak.rss:,.0f} MB")  # fmt: skip

            try:
                load(server, scale, dsql=True, progress=progress)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n{server.log_tail()}") from None
            figures.load_s = time.perf_counter() - started
        figures.load_peak_rss_mb, figures.load_peak_anon_mb = peak.rss, peak.anon
        with console.status(f"select-only on dsql ({engine})"):
            report, _ = benchmark(server, builtin="select-only", mode="prepared", clients=clients, seconds=seconds)
            figures.select_only_tps = report.tps
        with console.status(f"restarting dsql ({engine})"):
            server.stop()
            started = time.perf_counter()
            with limit.starting() if limit else contextlib.nullcontext():
                server.start()
            assert server.pid is not None
            figures.restart_s = _first_answer_s(server, started)
            figures.rss_after_restart_mb = _memory_mb(server.pid)[0]
    finally:
        server.stop()
    figures.disk_mb = _disk_mb(data_dir)
    if limit is not None:
        figures.limit_peak_mb, figures.limit_hits = limit.peak_mb(), limit.hits()
    console.print(f"dsql ({engine}): {figures}")
    return figures


def _measure_postgres(scale: int, clients: int, seconds: float, console: Console) -> Figures:
    figures = Figures()
    server = PostgresServer(durable=True)
    with console.status("starting PostgreSQL"):
        server.start()
    try:
        with console.status(f"loading pgbench scale {scale} into PostgreSQL"):
            started = time.perf_counter()
            load(server, scale, dsql=False)
            figures.load_s = time.perf_counter() - started
        with console.status("select-only on PostgreSQL"):
            report, _ = benchmark(server, builtin="select-only", mode="prepared", clients=clients, seconds=seconds)
            figures.select_only_tps = report.tps
        figures.disk_mb = _disk_mb(server.data_dir)
    finally:
        server.stop()
    console.print(f"PostgreSQL: {figures}")
    return figures


def run(*, scale: int, clients: int, seconds: float, console: Console,
        engines: list[str] | None = None, memory_limit_mb: int = 0) -> dict[str, Figures]:
    results: dict[str, Figures] = {}
    if memory_limit_mb and not MemoryLimit.available():
        raise RuntimeError(f"no writable cgroup v1 memory controller at {MemoryLimit.ROOT} for the memory limit")
    with tempfile.TemporaryDirectory(prefix="dsql-bench-storage-") as root:
        for label, engine in ENGINES.items():
            if engines is None or engine in engines:
                with MemoryLimit(memory_limit_mb) if memory_limit_mb else contextlib.nullcontext() as limit:
                    results[label] = _measure_dsql(Path(root), engine, scale, clients, seconds, console, limit)
    results["PostgreSQL 15"] = _measure_postgres(scale, clients, seconds, console)
    return results


def print_table(console: Console, results: dict[str, Figures], scale: int, clients: int, seconds: float) -> None:
    table = Table(title=f"storage engines: pgbench scale {scale} ({scale * 100_000:,} accounts), "
                        f"select-only with {clients} clients for {seconds:g} s")
    limited = any(f.limit_peak_mb for f in results.values())
    columns = ["server", "load s", "peak RSS / anon MB while loading", "select-only tps",
               "restart to first answer s", "RSS after restart MB", "data dir MB"]
    if limited:
        columns.append("memory limit: peak MB (times reached)")
    for column in columns:
        table.add_column(column, justify="left" if column == "server" else "right")
    postgres = results.get("PostgreSQL 15")
    for label, f in results.items():
        is_postgres = label == "PostgreSQL 15"
        load = f"{f.load_s:.1f}"
        tps = f"{f.select_only_tps:,.0f}"
        if postgres and not is_postgres and postgres.load_s and postgres.select_only_tps:
            load += f" ({f.load_s / postgres.load_s:.1f}×)"
            tps += f" ({f.select_only_tps / postgres.select_only_tps:.2f}×)"
        table.add_row(
            label, load,
            "" if is_postgres else f"{f.load_peak_rss_mb:,.0f} / {f.load_peak_anon_mb:,.0f}",
            tps,
            "" if is_postgres else f"{f.restart_s:.2f}",
            "" if is_postgres else f"{f.rss_after_restart_mb:,.0f}",
            f"{f.disk_mb:,.0f}",
            *([f"{f.limit_peak_mb:,.0f} ({f.limit_hits:,})" if f.limit_peak_mb else ""] if limited else []),
        )  # fmt: skip
    console.print(table)
