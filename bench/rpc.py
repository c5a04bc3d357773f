"""What a remote call costs: `cluster.tcp` between two processes on loopback.

    python -m bench.rpc [--callers 1,8,32] [--seconds 5]     (or: python -m bench --only rpc)

A server process serves a storage-like handler (a `Get` in, a one-row
`Values` out); this process makes calls to it from N concurrent callers for
`--seconds`. Reported per N: calls a second and the CPU time per call on
each side (`getrusage` of each process over the measured window, the
server's asked for over the same connection before and after). The CPU per
call is what decides whether parts in separate processes (a cluster, query
processors beside a server) can pay on a machine with few cores.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

import trio
from rich.console import Console
from rich.table import Table

from cluster.tcp import TcpTransport
from storage.interface import Get, Values

WORKLOADS = ("rpc",)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Service:
    async def rpc_cpu(self) -> float:
        return _cpu_seconds()

    async def rpc_get(self, request: Get) -> Values:
        return Values(((1, "x" * 20),), ())


async def _serve() -> None:
    transport = TcpTransport()
    transport.serve("svc", _Service())
    async with trio.open_nursery() as nursery:
        await nursery.start(transport.run)
        port = await nursery.start(transport.listen, "127.0.0.1", 0)
        print(port, flush=True)
        await trio.to_thread.run_sync(sys.stdin.read)  # until the driver closes our stdin
        nursery.cancel_scope.cancel()


async def _drive(port: int, callers: int, seconds: float) -> tuple[int, float, float, float]:
    transport = TcpTransport({"svc": ("127.0.0.1", port)})
    count = 0
    request = Get((b"key",), 1, None, False)
    async with trio.open_nursery() as nursery:
        await nursery.start(transport.run)
        peer = transport.connect("svc")
        await peer.call("get", request)  # connected
        server_cpu0, cpu0, t0 = await peer.call("cpu"), _cpu_seconds(), time.perf_counter()
        stop = trio.current_time() + seconds

        async def caller() -> None:
            nonlocal count
            while trio.current_time() < stop:
                await peer.call("get", request)
                count += 1

        async with trio.open_nursery() as calls:
            for _ in range(callers):
                calls.start_soon(caller)
        wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
        server_cpu = await peer.call("cpu") - server_cpu0
        nursery.cancel_scope.cancel()
    return count, wall, cpu, server_cpu


def measure(callers: int, seconds: float) -> tuple[float, float, float]:
    """(calls a second, client CPU µs a call, server CPU µs a call) with `callers` at once."""
    server = subprocess.Popen([sys.executable, "-m", "bench.rpc", "--serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        count, wall, cpu, server_cpu = trio.run(_drive, port, callers, seconds)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(10)
    return count / wall, 1e6 * cpu / max(count, 1), 1e6 * server_cpu / max(count, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rpc", description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", default="1,8,32", help="concurrent callers, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        trio.run(_serve)
        return 0
    table = Table(title=f"cluster.tcp: a Get and its reply between two processes, {args.seconds:g} s a row")
    for column in ("callers", "calls/s", "client CPU µs/call", "server CPU µs/call"):
        table.add_column(column, justify="right")
    console = Console()
    for callers in (int(c) for c in args.callers.split(",")):
        with console.status(f"{callers} callers"):
            rate, client, server = measure(callers, args.seconds)
        table.add_row(str(callers), f"{rate:,.0f}", f"{client:.1f}", f"{server:.1f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
