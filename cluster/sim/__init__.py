"""Deterministic simulation of dsql's parts under faults (FoundationDB / VOPR style).

    from cluster import sim
    result = sim.run(seed, body)     # body(sim: Simulation) -> awaitable

The pieces (`Simulation`, `SimNode`, `NodeEnv`, `SimNetwork`, `SimDisk`) are
general: any part that takes its transport, disk, clock and time source as
arguments runs here unchanged. `journal.sim` is the first scenario built on
it; adjudicators and storage nodes can be hosted the same way.
"""

from cluster.sim.disk import DiskFaults, SimDisk
from cluster.sim.network import NetworkFaults, SimNetwork, SimTransport
from cluster.sim.simulation import EPOCH_NS, NodeEnv, SimNode, Simulation, deterministic_trio, run

__all__ = [
    "EPOCH_NS",
    "DiskFaults",
    "NetworkFaults",
    "NodeEnv",
    "SimDisk",
    "SimNetwork",
    "SimNode",
    "SimTransport",
    "Simulation",
    "deterministic_trio",
    "run",
]
