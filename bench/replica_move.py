"""Moving a shard replica and splitting a shard: how long each takes, by shard size.

    python -m bench.replica_move [--rows 50000,200000]
    python -m bench --only replica_move          (the same, from `make bench`)

An embedded cluster in this process (three storage nodes, two replicas per
shard, journals and storage in memory) gets one table's shard filled with
`rows` rows of about 60 bytes; then the placement driver (assembly/placement.py)
moves one of the shard's replicas to the third node, which copies every
version from a replica that has it while the journal goes on (`CopyShard`,
2,048 keys a page) and serves once done, and finally the shard is split in
two, in place on both replicas. There is no peer to compare with: PostgreSQL
has no shards; the figures say what a move costs a cluster that is scaling.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import trio
from rich.console import Console
from rich.table import Table

from adjudicator.client import AdjudicatorClient
from assembly.embedded import ClusterConfig, EmbeddedCluster
from assembly.placement import PlacementDriver
from cluster.topology import Topology, spread_replicas
from journal.interface import CommitRecord
from storage import keys

WORKLOADS = ("replica_move",)
ROWS = (50_000, 200_000)
BATCH = 2_000  # rows per loading commit


@dataclass
class MoveResult:
    rows: int
    move_s: float
    split_s: float

    @property
    def keys_per_s(self) -> float:
        return self.rows / self.move_s if self.move_s else 0.0


async def _measure(rows: int) -> MoveResult:
    base = Topology()
    topology = Topology(storage_node_count=3, shard_hosts=spread_replicas(len(base.shard_ranges), 3, 2))
    async with trio.open_nursery() as nursery:
        cluster = await nursery.start(EmbeddedCluster(ClusterConfig(topology=topology)).run)
        adjudicators = AdjudicatorClient(topology, cluster.transport)
        prefix = keys.table_prefix(keys.table_key_id_for(16390), keys.PRIMARY_INDEX_ID)
        for start in range(0, rows, BATCH):
            batch = [(prefix + i.to_bytes(4, "big"), (i, "x" * 50)) for i in range(start, min(rows, start + BATCH))]
            await adjudicators.commit(cluster.clock.now().latest, CommitRecord(batch).encode(), [batch[0][0]])
        driver = PlacementDriver(topology, cluster.transport, cluster.clock, adjudicators=adjudicators,
                                 progress=lambda message: None)  # fmt: skip
        shard = topology.shard_ranges.owner(prefix)
        placement, _ = await driver.current()
        hosts = placement.hosts(shard)
        target = next(n for n in range(3) if n not in hosts)
        started = time.perf_counter()
        await driver.move(shard, hosts[0], target)
        move_s = time.perf_counter() - started
        started = time.perf_counter()
        split = await driver.split_large(rows // 2)
        split_s = time.perf_counter() - started
        assert split, "the shard did not split"
        nursery.cancel_scope.cancel()
    return MoveResult(rows, move_s, split_s)


def run(rows: tuple[int, ...] = ROWS, console: Console | None = None) -> list[MoveResult]:
    results = []
    for count in rows:
        if console is not None:
            console.print(f"replica_move: a shard of {count:,} rows ...")
        results.append(trio.run(_measure, count))
    return results


def print_table(console: Console, results: list[MoveResult]) -> None:
    table = Table(title="replica move and shard split (one process, memory only; bench/replica_move.py)")
    for column in ("rows in the shard", "move (copy, then drop)", "keys/s copied", "split in place"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(f"{r.rows:,}", f"{r.move_s:.2f} s", f"{r.keys_per_s:,.0f}", f"{r.split_s * 1000:.0f} ms")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replica_move", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(map(str, ROWS)), help="comma-separated shard sizes")
    args = parser.parse_args(argv)
    console = Console()
    print_table(console, run(tuple(int(n) for n in args.rows.split(",")), console))
    return 0


if __name__ == "__main__":
    sys.exit(main())
