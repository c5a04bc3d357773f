"""sys.cluster_nodes and sys.shards: the cluster's parts as SQL sees them (an extension).

Aurora DSQL hides its parts; dsql exists to show them, so a session can ask
which journal replica leads, how far each storage replica lags, and where
each shard lives, with the same facts `dsql cluster status` prints. Each
query asks every part for its status over the transport (in parallel, with a
short deadline), so a part that is down shows as `unreachable` rather than
stalling the query.

The parts are the QP's `members`: (name, kind, host, transport address)
rows, given by whoever assembled the QP (the embedded server or a cluster
node); one adjudicator process serves several key ranges, so it appears once
per range address.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import trio

from adjudicator.interface import AdjudicatorProcessStatus, AdjudicatorStatus
from cluster.topology import RangeMap
from journal.interface import JournalStatus
from qp.interface import QpStatus
from qp.types import BOOL, BYTEA, FLOAT8, INT4, INT8, TEXT
from storage.interface import NodeStatus, Status

STATUS_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Member:
    name: str  # journal-2, storage-0, adjudicator-1, qp-0
    kind: str  # journal | storage | adjudicator | qp
    host: str
    address: str  # the transport address of the part


def embedded_members(topology: Any) -> list[Member]:
    """Every part of an embedded server (one process, host `local`)."""
    members = []
    for j in range(topology.journal_count):
        for r in range(topology.journal_replica_count):
            members.append(Member(f"journal-{j * topology.journal_replica_count + r}", "journal", "local",
                                  topology.journal_address(j, r)))  # fmt: skip
    for n in range(topology.storage_node_count):
        members.append(Member(f"storage-{n}", "storage", "local", topology.storage_address(n)))
    for i in range(topology.adjudicator_count):
        members.append(Member(f"adjudicator-{i}", "adjudicator", "local", topology.adjudicator_address(i)))
    return members


# What each kind of part answers `status` with (an adjudicator: one range's
# adjudicator in the embedded server, an adjudicator process in a cluster).
PartStatus = NodeStatus | JournalStatus | AdjudicatorStatus | AdjudicatorProcessStatus | QpStatus
STATUS_TYPES: dict[str, tuple[type, ...]] = {
    "storage": (NodeStatus,), "journal": (JournalStatus,),
    "adjudicator": (AdjudicatorStatus, AdjudicatorProcessStatus), "qp": (QpStatus,),
}  # fmt: skip


async def part_status(transport: Any, kind: str, address: str) -> PartStatus:
    """One part's typed status (storage answers a typed `Status` request; the others take none).
    A reply of another type (a part of another build) is a TypeError, as no answer."""
    if kind == "storage":
        reply = await transport.connect(address).call("status", Status())
    else:
        reply = await transport.connect(address).call("status")
    if not isinstance(reply, STATUS_TYPES[kind]):
        raise TypeError(f"{address} answered status with a {type(reply).__name__}")
    return reply


async def _statuses(qp: Any) -> list[tuple[Member, PartStatus | None]]:
    members: list[Member] = qp.members
    answers: list[PartStatus | None] = [None] * len(members)

    async def ask(i: int, member: Member) -> None:
        with trio.move_on_after(STATUS_TIMEOUT_S):
            try:
                answers[i] = await part_status(qp.transport, member.kind, member.address)
            except Exception:  # noqa: BLE001 - any failure shows as unreachable
                answers[i] = None

    async with trio.open_nursery() as nursery:
        for i, member in enumerate(members):
            if member.kind == "qp" and member.address == qp.address:
                answers[i] = QpStatus(member.name, qp.index, len(qp.sessions))  # this QP answers for itself
                continue
            nursery.start_soon(ask, i, member)
    return list(zip(members, answers, strict=True))


class ClusterNodesRelation:
    """sys.cluster_nodes: one row per part of the cluster."""

    name = "cluster_nodes"
    columns = [
        ("node_name", TEXT), ("role", TEXT), ("host", TEXT), ("address", TEXT), ("state", TEXT),
        ("is_leader", BOOL), ("ballot", INT8), ("chosen_upto", INT8), ("watermark_lag_ms", FLOAT8),
        ("commits", INT8), ("conflicts", INT8), ("sessions", INT4),
    ]  # fmt: skip

    async def rows(self, rc: Any) -> list[tuple]:
        now_ns = time.time_ns()
        out = []
        for member, status in await _statuses(rc.session.qp):
            journal = status if isinstance(status, JournalStatus) else None
            adjudicator = status if isinstance(status, (AdjudicatorStatus, AdjudicatorProcessStatus)) else None
            watermark = status.watermark if isinstance(status, NodeStatus) else None
            out.append((
                member.name, member.kind, member.host, member.address,
                "up" if status is not None else "unreachable",
                journal.role == "leader" if journal else None,
                journal.ballot if journal else None,
                journal.chosen_upto if journal else None,
                max(0.0, (now_ns - watermark) / 1e6) if watermark else None,
                adjudicator.commits if adjudicator else None,
                adjudicator.conflicts if adjudicator else None,
                status.sessions if isinstance(status, QpStatus) else None,
            ))  # fmt: skip
        return out


class ShardsRelation:
    """sys.shards: one row per shard (key range), the storage nodes the current
    placement gives it, how many of them answer, and how many serve it (hold it
    copied and caught up; a replica being moved in copies first)."""

    name = "shards"
    columns = [
        ("shard_id", INT4), ("start_key", BYTEA), ("end_key", BYTEA), ("replicas", TEXT),
        ("replica_count", INT4), ("replicas_up", INT4), ("replicas_serving", INT4), ("placement_version", INT8),
    ]  # fmt: skip

    async def rows(self, rc: Any) -> list[tuple]:
        qp = rc.session.qp
        await qp.storage.refresh_placement(force=True)
        placement = qp.storage.placement
        statuses: dict[int, NodeStatus | None] = {}

        async def ask(node: int) -> None:
            statuses[node] = None
            with trio.move_on_after(STATUS_TIMEOUT_S):
                try:
                    statuses[node] = await part_status(qp.transport, "storage", qp.topology.storage_address(node))
                except Exception:  # noqa: BLE001 - any failure shows as not up
                    pass

        async with trio.open_nursery() as nursery:
            for node in placement.nodes():
                nursery.start_soon(ask, node)
        ranges = qp.storage.ranges
        out = []
        for shard in range(len(ranges)):
            start, end = ranges.bounds(shard)
            hosts = placement.hosts(shard)
            answers = [statuses.get(n) for n in hosts]
            up = sum(1 for s in answers if s is not None)
            serving = sum(1 for s in answers if s is not None and _serves(s, start))
            names = ",".join(f"storage-{n}" for n in hosts)
            out.append((shard, start, end, names, len(hosts), up, serving, placement.version))
        return out


def _serves(status: NodeStatus, start: bytes) -> bool:
    """Whether a node serves the shard starting at `start` (by its own shard map,
    which is coarser when it has not applied the newest split yet)."""
    shard = RangeMap(tuple(status.splits)).owner(start)
    return status.caught_up and shard in status.shards and shard not in status.filling


SYS_RELATIONS = {"cluster_nodes": ClusterNodesRelation, "shards": ShardsRelation}
