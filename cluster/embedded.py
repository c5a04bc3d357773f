"""Every part in one trio process: the embedded default of `dsql serve`.

The parts are the same objects that will run as separate processes; here
they are served on an in-process transport that still encodes every message,
so nothing here may hand one part an object of another. The nursery owns
every part's tasks, and cancelling it stops them all.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import trio

from adjudicator.role import Adjudicator
from cluster.clock import Clock
from cluster.topology import Topology
from cluster.transport import InProcessTransport
from journal.role import Journal, journal_directory
from storage.client import StorageClient
from storage.node import StorageNode

log = logging.getLogger(__name__)


@dataclass
class ClusterConfig:
    data_dir: str | None = None  # None: memory only (--memory)
    topology: Topology = field(default_factory=Topology)
    clock_error_ns: int = 0
    heartbeat_interval_s: float = 0.01
    encode_messages: bool = True


class EmbeddedCluster:
    """Journals, adjudicators and storage nodes, wired on one transport."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.topology = config.topology
        self.clock = Clock(config.clock_error_ns)
        self.transport = InProcessTransport(encode_messages=config.encode_messages)
        topo = self.topology
        if config.data_dir is not None:
            os.makedirs(config.data_dir, exist_ok=True)
        self.journals = [
            Journal(
                j,
                journal_directory(config.data_dir, j) if config.data_dir else None,
                self.clock,
                subscribers=topo.storage_subscribers(),
                heartbeat_interval_s=config.heartbeat_interval_s,
            )
            for j in range(topo.journal_count)
        ]
        self.storage_nodes = [
            StorageNode(n, topo, self.transport, self.clock, config.data_dir)
            for n in range(topo.storage_node_count)
        ]
        for j, journal in enumerate(self.journals):
            self.transport.serve(topo.journal_address(j), journal)
        for n, node in enumerate(self.storage_nodes):
            self.transport.serve(topo.storage_address(n), node)
        # Adjudicators start after journal recovery, so their floor (the time
        # before which they know nothing) is above every recovered commit.
        self.adjudicators: list[Adjudicator] = []

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                for journal in self.journals:
                    await nursery.start(journal.run)
                for node in self.storage_nodes:
                    await nursery.start(node.run)
                topo = self.topology
                self.adjudicators = [
                    Adjudicator(i, topo, self.transport, self.clock) for i in range(topo.adjudicator_count)
                ]
                for i, adjudicator in enumerate(self.adjudicators):
                    self.transport.serve(topo.adjudicator_address(i), adjudicator)
                    await nursery.start(adjudicator.run)
                task_status.started(self)
        finally:
            for journal in self.journals:
                journal.close_files()

    def storage_client(self) -> StorageClient:
        return StorageClient(self.topology, self.transport)

    async def checkpoint(self) -> None:
        for node in self.storage_nodes:
            await node.checkpoint()
