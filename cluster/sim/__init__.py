"""Deterministic simulation of dsql's parts under faults (FoundationDB / VOPR style).

    from cluster import sim
    result = sim.run(seed, body)     # body(sim: Simulation) -> awaitable

The pieces (`Simulation`, `SimNode`, `NodeEnv`, `SimNetwork`, `SimDisk`) are
general: any part that takes its transport, disk, clock and time source as
arguments runs here unchanged. `journal.sim` runs the journal alone on it;
`assembly.sim.cluster` runs every role of a cluster, each on its own host,
with SQL workloads through real QP sessions (`python -m assembly.sim.cluster`).
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
