"""One journal replica as its own process, over TCP.

    python -m journal.replica_main --index 0 \\
        --peers 127.0.0.1:7100,127.0.0.1:7101,127.0.0.1:7102 --data-dir /var/dsql/j0r0
    python -m journal.replica_main --config replica.toml

The config file, if given, is TOML with the same names:

    journal_id = 0
    index = 0
    peers = ["127.0.0.1:7100", "127.0.0.1:7101", "127.0.0.1:7102"]
    data_dir = "/var/dsql/j0r0"
    lease_ms = 500
    subscribers = []

Flags override the file. Replica i serves `journal/<journal_id>/<i>` on the
port of peers[i] and reaches the others at theirs. It prints one line,
`journal replica <address> listening on <host>:<port>`, once it accepts calls;
SIGINT or SIGTERM stop it (files are synced at every batch, so SIGKILL loses
nothing acknowledged either). Its directory is locked while it runs
(`cluster.dirlock`): a second process on the same --data-dir, or one on a
directory `dsql serve` is using, stops at once with one line naming the
holder's PID and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tomllib

import trio

from cluster.clock import Clock
from cluster.dirlock import DirectoryInUse
from cluster.disk import OsDisk
from cluster.tcp import TcpTransport
from journal.paxos import PaxosConfig
from journal.replica import JournalReplica, ReplicaConfig


def _endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m journal.replica_main", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML file with any of the settings below")
    parser.add_argument("--journal-id", type=int)
    parser.add_argument("--index", type=int, help="this replica's index in --peers")
    parser.add_argument("--peers", help="host:port of every replica, comma-separated, in index order")
    parser.add_argument("--data-dir")
    parser.add_argument("--lease-ms", type=int)
    parser.add_argument("--clock-error-ns", type=int)
    parser.add_argument("--log-level", default="INFO")
    return parser


def settings(argv: list[str] | None = None) -> dict:
    args = _parser().parse_args(argv)
    values: dict = {"journal_id": 0, "lease_ms": 500, "clock_error_ns": 0, "subscribers": []}
    if args.config:
        with open(args.config, "rb") as f:
            values.update(tomllib.load(f))
    for name in ("journal_id", "index", "data_dir", "lease_ms", "clock_error_ns"):
        value = getattr(args, name)
        if value is not None:
            values[name] = value
    if args.peers:
        values["peers"] = args.peers.split(",")
    missing = [n for n in ("index", "peers", "data_dir") if n not in values]
    if missing:
        raise SystemExit(f"missing settings: {', '.join(missing)}")
    values["log_level"] = args.log_level
    return values


async def serve(values: dict) -> None:
    disk = OsDisk(values["data_dir"])  # locks the directory before anything else is opened
    journal_id = int(values["journal_id"])
    index = int(values["index"])
    endpoints = [_endpoint(p) for p in values["peers"]]
    addresses = [f"journal/{journal_id}/{i}" for i in range(len(endpoints))]
    transport = TcpTransport(dict(zip(addresses, endpoints, strict=True)))
    lease_ns = int(values["lease_ms"]) * 1_000_000
    config = ReplicaConfig(
        paxos=PaxosConfig(
            replica_count=len(endpoints), lease_ns=lease_ns, election_timeout_ns=lease_ns + lease_ns // 10
        )
    )
    replica = JournalReplica(
        journal_id, index, addresses, transport, Clock(int(values["clock_error_ns"])),
        disk, config=config, subscribers=tuple(values["subscribers"]),
    )  # fmt: skip
    transport.serve(addresses[index], replica)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(transport.run)
            await nursery.start(replica.run)
            host, port = endpoints[index]
            bound = await nursery.start(transport.listen, host, port)
            print(f"journal replica {addresses[index]} listening on {host}:{bound}", flush=True)
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    break
            nursery.cancel_scope.cancel()
    finally:
        replica.close_files()


def main(argv: list[str] | None = None) -> int:
    values = settings(argv)
    logging.basicConfig(
        level=values["log_level"].upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        trio.run(serve, values)
    except DirectoryInUse as exc:
        print(f"journal.replica_main: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
