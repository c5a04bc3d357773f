"""Asking a running cluster how it is: every role's status over its RPC endpoint.

`dsql cluster status` and the tests use it. Each role is asked once, with a
short deadline, in parallel; a role that does not answer (killed, paused,
partitioned away) is reported as such rather than waited for.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

import trio

from adjudicator.interface import AdjudicatorProcessStatus
from assembly import hosts, runfiles
from assembly.config import ClusterSpec, RoleSpec
from cluster.tcp import TcpTransport
from cluster.topology import RangeMap
from journal.interface import JournalStatus
from qp.interface import QpStatus
from qp.pgcatalog.cluster_views import PartStatus, part_status
from storage.interface import NodeStatus

STATUS_TIMEOUT_S = 1.5


async def _ask_all(spec: ClusterSpec, kinds: Collection[str] | None = None) -> dict[str, list[PartStatus | None]]:
    """role name -> the status of each logical address it serves (None: no answer), for
    the roles of `kinds` (default: every role)."""
    transport = TcpTransport(spec.address_book())
    answers: dict[str, list[PartStatus | None]] = {}

    async def ask(role: RoleSpec, address: str, slot: list, i: int) -> None:
        with trio.move_on_after(STATUS_TIMEOUT_S):
            try:
                slot[i] = await part_status(transport, role.kind, address)
            except Exception:  # noqa: BLE001 - any failure means "no answer" here
                slot[i] = None

    async with trio.open_nursery() as outer:
        await outer.start(transport.run)
        async with trio.open_nursery() as nursery:
            for role in _roles(spec, kinds):
                addresses = [spec.status_address(role)]
                slot: list[PartStatus | None] = [None] * len(addresses)
                answers[role.name] = slot
                for i, address in enumerate(addresses):
                    nursery.start_soon(ask, role, address, slot, i)
        outer.cancel_scope.cancel()
    return answers


def status(spec: ClusterSpec, kinds: Collection[str] | None = None) -> list[dict[str, Any]]:
    """One row per role (of `kinds`, default every role): name, kind, host, pid, state,
    and what the role says of itself. Asking the storage nodes only is what
    assembly/copies.py does to count shard copies often."""
    answers = trio.run(_ask_all, spec, kinds)
    now_ns = time.time_ns()
    rows = []
    for role in _roles(spec, kinds):
        replies = answers.get(role.name, [])
        answered = [r for r in replies if r is not None]
        row: dict[str, Any] = {
            "name": role.name, "kind": role.kind, "host": spec.host_of(role).name,
            "address": f"{spec.host_of(role).address}:{role.port}", "pid": runfiles.pid_of(spec, role),
            "state": runfiles.state_of(spec, role), "answers": bool(answered) and len(answered) == len(replies),
            "restarts": runfiles.restarts_of(spec, role),
        }  # fmt: skip
        if answered:
            row.update(_detail(role, answered, now_ns))
        rows.append(row)
    return rows


def _roles(spec: ClusterSpec, kinds: Collection[str] | None) -> list[RoleSpec]:
    return list(spec.roles) if kinds is None else [role for role in spec.roles if role.kind in kinds]


def _detail(role: RoleSpec, replies: list[Any], now_ns: int) -> dict[str, Any]:
    # Each reply is the type its kind answers (qp.pgcatalog.cluster_views.part_status checks);
    # an adjudicator role's status address is its process's.
    if role.kind == "journal":
        reply: JournalStatus = replies[0]
        return {
            "journal_role": reply.role, "ballot": reply.ballot, "leader": reply.leader,
            "chosen_upto": reply.chosen_upto,
        }  # fmt: skip
    if role.kind == "storage":
        node: NodeStatus = replies[0]
        watermark = node.watermark
        return {"watermark_lag_ms": max(0.0, (now_ns - watermark) / 1e6) if watermark else None,
                "keys": node.keys, "shards": list(node.shards), "copying": list(node.filling),
                "caught_up": node.caught_up, "placement_version": node.placement_version,
                "splits": [key.hex() for key in node.splits], "shard_keys": list(node.shard_keys)}  # fmt: skip
    if role.kind == "adjudicator":
        process: AdjudicatorProcessStatus = replies[0]
        return {
            "ranges": list(process.owned), "commits": process.commits,
            "conflicts": process.conflicts, "takeovers": process.takeovers,
        }  # fmt: skip
    qp: QpStatus = replies[0]
    return {"sessions": qp.sessions}


def shard_map(spec: ClusterSpec, rows: list[dict[str, Any]]) -> RangeMap:
    """The newest shard map a storage node reports (shards split as they grow)."""
    answering = [r for r in rows if r["kind"] == "storage" and r["answers"] and "splits" in r]
    if not answering:
        return spec.topology().shard_ranges
    newest = max(answering, key=lambda r: r["placement_version"])
    return RangeMap(tuple(bytes.fromhex(key) for key in newest["splits"]))


def shard_replicas(spec: ClusterSpec, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per shard of the newest shard map, as the storage nodes say now: its
    bounds, the nodes that serve it (copied and caught up) and the ones still
    copying it. A node that has not applied the newest splits yet holds the
    whole it was split from, which serves each half. A node that does not
    answer counts for neither."""
    ranges = shard_map(spec, rows)
    shards: list[dict[str, Any]] = []
    for shard in range(len(ranges)):
        start, end = ranges.bounds(shard)
        shards.append({"start": start, "end": end, "serving": [], "copying": []})
    for row in rows:
        if row["kind"] != "storage" or not row["answers"]:
            continue
        own = RangeMap(tuple(bytes.fromhex(key) for key in row.get("splits", ()))) if "splits" in row else ranges
        held, copying = set(row.get("shards", ())), set(row.get("copying", ()))
        for entry in shards:
            mine = own.owner(entry["start"])
            if mine in held:
                busy = mine in copying or not row.get("caught_up", True)
                entry["copying" if busy else "serving"].append(row["name"])
    return shards


def journal_leader(spec: ClusterSpec) -> RoleSpec | None:
    """The journal replica that says it leads now (of journal 0), if any answers so."""
    for row in status(spec):
        if row["kind"] == "journal" and row.get("journal_role") == "leader":
            role = spec.role(row["name"])
            if spec.journal_of(role)[0] == 0:
                return role
    return None


def render(spec: ClusterSpec, rows: list[dict[str, Any]]) -> str:
    """The status as a table (rich), with the shard placement under it."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dsql cluster {spec.name} ({spec.dir})")
    for column in ("role", "host", "address", "pid", "state", "restarts", "detail"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"], row["host"], row["address"], str(row["pid"] or "-"), row["state"],
            str(row["restarts"]), _detail_text(row),
        )  # fmt: skip
    out = StringIO()
    console = Console(file=out, width=140, force_terminal=False)
    console.print(table)
    if any(h.namespace for h in spec.hosts):
        for row in hosts.HostNetwork.load(spec.run_dir()).describe():
            faults = []
            if row.cut_from:
                faults.append("cut off from " + ", ".join(spec.hosts[h].name for h in row.cut_from))
            if row.delay_ms:
                faults.append(f"delayed {row.delay_ms:g} ms ({row.delay_mechanism})")
            if row.loss_percent:
                faults.append(f"{row.loss_percent:g} % loss")
            console.print(f"host {spec.hosts[row.host].name} {row.address} ({row.namespace}): "
                          + ("; ".join(faults) or "no faults"))  # fmt: skip
    versions = sorted({row["placement_version"] for row in rows if row.get("placement_version") is not None})
    placement = Table(title=f"shards: {len(shard_map(spec, rows))} key ranges, {spec.replicas} replicas each "
                      f"(placement {', '.join(map(str, versions)) or '?'}, as the storage nodes say)")  # fmt: skip
    for column in ("shard", "start", "end", "serving", "copying"):
        placement.add_column(column)
    for shard, replicas in enumerate(shard_replicas(spec, rows)):
        start, end = replicas["start"], replicas["end"]
        placement.add_row(str(shard), start.hex() or "-", "-" if end is None else end.hex(),
                          ", ".join(replicas["serving"]) or "none", ", ".join(replicas["copying"]))  # fmt: skip
    console.print(placement)
    return out.getvalue()


def _detail_text(row: dict[str, Any]) -> str:
    if not row["answers"]:
        return "no answer"
    kind = row["kind"]
    if kind == "journal":
        return f"{row['journal_role']} ballot {row['ballot']} chosen {row['chosen_upto']}"
    if kind == "storage":
        lag = row.get("watermark_lag_ms")
        shards = f", {len(row.get('shards', ()))} shards" + (
            f" ({len(row['copying'])} copying)" if row.get("copying") else "")
        return f"watermark lag {lag:.0f} ms, {row['keys']} keys{shards}" if lag is not None else "no watermark yet"
    if kind == "adjudicator":
        taken = f", {row['takeovers']} taken over" if row.get("takeovers") else ""
        return f"ranges {row['ranges']}{taken}, {row['commits']} commits, {row['conflicts']} conflicts"
    return f"{row['sessions']} sessions"
