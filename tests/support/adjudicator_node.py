"""One adjudicator process over TCP, for tests: `python -m tests.support.adjudicator_node ARGS`.

It runs an `AdjudicatorProcess` (adjudicator/ownership.py) on a TCP transport
whose address book (JSON on the command line: address -> [host, port]) names
the journals, the storage nodes and every process's `owned_address`es, with
the default `Topology`. It prints `adjudicator process P ready` once its
default ranges have owners, then runs until killed. (A cluster's own
adjudicator role is `dsql node --role adjudicator`; this is the least a test
of leases over real sockets and real processes needs.)
"""

from __future__ import annotations

import argparse
import json
import logging

import trio

from adjudicator.ownership import AdjudicatorProcess
from cluster.clock import Clock
from cluster.tcp import TcpTransport
from cluster.topology import Topology


async def main(args: argparse.Namespace) -> None:
    book = {address: (host, port) for address, (host, port) in json.loads(args.book).items()}
    transport = TcpTransport(book)
    process = AdjudicatorProcess(args.process, args.processes, Topology(), transport, Clock(),
                                 lease_s=args.lease_s, margin_s=0.05, stagger_s=0.2)
    async with trio.open_nursery() as nursery:
        await nursery.start(transport.run)
        await nursery.start(transport.listen, "127.0.0.1", args.port)
        await nursery.start(process.run)
        print(f"adjudicator process {args.process} ready", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--process", type=int, required=True)
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--book", required=True)
    parser.add_argument("--lease-s", type=float, default=1.0)
    logging.basicConfig(level=logging.WARNING)
    trio.run(main, parser.parse_args())
