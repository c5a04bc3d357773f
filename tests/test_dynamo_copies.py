"""Counting Dynamo's copies, switching its anti-entropy, losing a node's disk (dsql's hooks, not Riak's).

`GET /dsql/copies/B` counts each key's up-to-date copies from every node's own holdings
(kv/dynamo/copies.py), `PUT /dsql/aae` switches active anti-entropy on every node
(kv/dynamo/dsql_routes.py). The fast tests run the Riak front end over the embedded server's
five Dynamo nodes, served on a real socket and asked with httpx; the pure counting is tested on
objects made by hand. The slow test loses a storage node's Dynamo disk in a real `dsql cluster`
(`restart --wipe-dynamo`) and watches the copies come back only once anti-entropy runs.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from pathlib import Path

import httpx
import pytest
import trio
from test_cluster import LocalCluster

from assembly.embedded import ClusterConfig, EmbeddedCluster, dynamo_address
from cluster import codec
from kv.dynamo import node as node_module
from kv.dynamo.copies import build_report
from kv.dynamo.http import DynamoApp
from kv.dynamo.interface import (
    HOLDINGS_ITEMS_MAX,
    AaeSetting,
    AaeSwitch,
    Holdings,
    NodeBadRequest,
    PutOptions,
)
from kv.dynamo.node import NodeConfig
from kv.dynamo.objects import NewContent, apply_put, encode_object
from kv.dynamo.ring import Ring, hash_key
from kv.dynamo.server import serve
from kv.dynamo.service import DynamoService
from kv.dynamo.vclock import merge

BUCKET = b"copies"
WAIT_S = 30.0
# Background upkeep off but for gossip (fast, so a restarted node hears the cluster at once);
# the AAE tests give anti-entropy a short interval of its own.
QUIET = NodeConfig(handoff_interval_s=3600, aae_interval_s=3600, gossip_interval_s=0.05)
AAE_INTERVAL_S = 0.05


@dataclasses.dataclass
class Riak:
    cluster: EmbeddedCluster
    service: DynamoService
    http: httpx.AsyncClient

    def node(self, n: int):
        return self.cluster.dynamo_nodes[n]

    def counters(self, name: str) -> dict[int, int]:
        return {n: node.counters[name] for n, node in self.cluster.dynamo_nodes.items()}


async def start(nursery: trio.Nursery, config: NodeConfig = QUIET) -> Riak:
    cluster = EmbeddedCluster(ClusterConfig(data_dir=None, dynamo=config))
    await nursery.start(cluster.run)
    service = DynamoService(cluster.transport, [dynamo_address(n) for n in range(5)], probe_interval_s=0.1)
    await nursery.start(service.run)
    port = await nursery.start(serve, DynamoApp(service), "127.0.0.1", 0)
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
    return Riak(cluster, service, http)


@pytest.fixture
async def riak(nursery):
    riak = await start(nursery)
    yield riak
    await riak.http.aclose()


def primaries(service: DynamoService, key: bytes, n: int = 3) -> list[str]:
    assert service.ring is not None
    return [node for _p, node in service.ring.preference_list(hash_key(BUCKET, key), n)]


def index(address: str) -> int:
    return int(address.rsplit("/", 1)[1])


async def copies(riak: Riak) -> dict:
    reply = await riak.http.get(f"/dsql/copies/{BUCKET.decode()}")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    return reply.json()


def by_key(report: dict) -> dict[str, dict]:
    return {entry["key"]: entry for entry in report["keys"]}


async def eventually(check, what: str) -> None:
    with trio.move_on_after(WAIT_S):
        while not await check():
            await trio.sleep(0.05)
        return
    pytest.fail(f"not within {WAIT_S} s: {what}")


# -- counting --------------------------------------------------------------------------------------


async def test_keys_written_with_n3_have_three_up_to_date_copies_on_their_primaries(riak):
    keys = [b"k%d" % i for i in range(30)]
    for key in keys:
        await riak.service.put(BUCKET, key, NewContent(b"v"), None, PutOptions(w=3))
    report = await copies(riak)
    assert report["totals"] == {
        "keys": 30, "min_up_to_date": 3, "mean_up_to_date": 3.0, "below_n_val": 0,
        "min_up_to_date_primaries": 3, "below_n_val_primaries": 0, "stale_copies": 0,
        "hinted_copies": 0, "multiple_versions": 0,
    }  # fmt: skip
    assert (report["n_val"], report["unreachable"], report["truncated"]) == (3, [], False)
    assert sum(report["held"].values()) == 90 and len(report["nodes"]) == 5
    for key in keys:
        entry = by_key(report)[key.decode()]
        assert entry["primaries"] == primaries(riak.service, key)
        assert (
            sorted(entry["up_to_date"]) == sorted(entry["primaries"]) and entry["up_to_date_primaries"] == 3
        )
    # ?keys=false: the totals alone, for a plot that polls.
    small = (await riak.http.get(f"/dsql/copies/{BUCKET.decode()}?keys=false")).json()
    assert "keys" not in small and small["totals"] == report["totals"]
    # A bucket nobody wrote: nothing to count.
    empty = (await riak.http.get("/dsql/copies/never-written")).json()
    assert empty["totals"]["keys"] == 0 and empty["keys"] == []


async def test_copies_taken_by_a_fallback_are_hinted_not_primary_and_the_down_node_unreachable(riak):
    key = b"hinted"
    home = primaries(riak.service, key)
    await riak.cluster.stop_dynamo_node(index(home[0]))
    await riak.service.check_nodes()
    await riak.service.put(BUCKET, key, NewContent(b"v"), None, PutOptions(w=3))
    report = await copies(riak)
    entry = by_key(report)["hinted"]
    assert report["unreachable"] == [home[0]]
    assert len(entry["up_to_date"]) == 3, "three copies, all of the newest version"
    assert entry["up_to_date_primaries"] == 2, "but one of them is not on the key's preference list"
    assert len(entry["hinted"]) == 1 and entry["hinted"][0] not in home
    assert report["totals"]["below_n_val"] == 0 and report["totals"]["below_n_val_primaries"] == 1


async def test_a_replica_that_missed_a_write_is_counted_stale(riak):
    key = b"stale"
    home = primaries(riak.service, key)
    old = await riak.service.put(BUCKET, key, NewContent(b"old"), None, PutOptions(w=3))
    await riak.cluster.stop_dynamo_node(index(home[2]))
    await riak.service.check_nodes()
    await riak.service.put(BUCKET, key, NewContent(b"new"), old.clock, PutOptions(w=3))
    await riak.cluster.start_dynamo_node(index(home[2]))
    await riak.service.check_nodes()
    entry = by_key(await copies(riak))["stale"]
    assert entry["stale"] == [home[2]] and home[2] not in entry["up_to_date"]
    assert entry["up_to_date_primaries"] == 2 and entry["versions"] == 1


def _object(value: bytes, actor: str):
    return apply_put(None, None, NewContent(value), actor, 1_000, True)


def test_concurrent_copies_leave_no_copy_up_to_date_until_merged():
    ring = Ring(8, ["a", "b", "c", "d"])
    key = b"k"
    base = _object(b"base", "a#1")
    left = apply_put(base, base.clock, NewContent(b"left"), "a#1", 2_000, True)
    right = apply_put(base, base.clock, NewContent(b"right"), "b#1", 2_000, True)
    report = build_report(BUCKET, 3, ring, {"a": [(key, encode_object(left))], "b": [(key, encode_object(right))],
                                            "c": [(key, encode_object(base))]})  # fmt: skip
    (entry,) = report.keys
    assert entry.up_to_date == () and entry.versions == 2, "neither branch has seen the other"
    assert sorted(entry.stale) == ["a", "b", "c"]
    assert report.min_up_to_date == 0 and report.below_n_val == 1
    merged = apply_put(left, merge(left.clock, right.clock), NewContent(b"both"), "a#1", 3_000, True)
    report = build_report(
        BUCKET, 3, ring, {"a": [(key, encode_object(merged))], "b": [(key, encode_object(right))]}
    )
    (entry,) = report.keys
    assert entry.up_to_date == ("a",) and entry.stale == ("b",) and entry.versions == 1


def test_the_report_counts_undecodable_copies_apart_and_keeps_unreachable_and_truncated():
    ring = Ring(8, ["a", "b", "c"])
    good = encode_object(_object(b"v", "a#1"))
    report = build_report(BUCKET, 5, ring, {"a": [(b"k", good), (b"bad", b"\x00junk")], "b": []}, ["c"], True)
    assert report.n_val == 3, "n_val is capped at the ring's size"
    assert (report.undecodable, report.unreachable, report.truncated) == (1, ("c",), True)
    assert report.held == {"a": 1, "b": 0}
    assert [k.key for k in report.keys] == [b"k"]


# -- bounded holdings --------------------------------------------------------------------------------


async def test_holdings_come_in_pages_that_end_at_the_limit(riak, monkeypatch):
    keys = sorted(b"page-%02d" % i for i in range(25))
    for key in keys:
        await riak.service.put(BUCKET, key, NewContent(b"v"), None, PutOptions(w=3))
    node = dynamo_address(0)
    conn = riak.cluster.transport.connect(node)
    held = [key for _b, key, _d in (await conn.call("holdings", Holdings(BUCKET))).items]
    assert held and held == sorted(held)
    # At the limit: one page, nothing more; one past it: a page and the rest after it.
    exact = await conn.call("holdings", Holdings(BUCKET, None, len(held)))
    assert [k for _b, k, _d in exact.items] == held and not exact.more
    short = await conn.call("holdings", Holdings(BUCKET, None, len(held) - 1))
    assert [k for _b, k, _d in short.items] == held[:-1] and short.more
    pages, after = [], None
    while True:
        reply = await conn.call("holdings", Holdings(BUCKET, after, 4))
        pages.append([k for _b, k, _d in reply.items])
        if not reply.more:
            break
        after = (BUCKET, reply.items[-1][1])
    assert [k for page in pages for k in page] == held and all(len(p) <= 4 for p in pages)
    # A limit above the maximum is the maximum; bad paging is refused.
    assert not (await conn.call("holdings", Holdings(BUCKET, None, HOLDINGS_ITEMS_MAX + 1))).more
    # A page also ends at HOLDINGS_BYTES_MAX of objects (here: the first two objects' worth:
    # objects differ in size by a byte or two, with their clocks), never empty.
    sizes = [len(data) for _b, _k, data in exact.items]
    monkeypatch.setattr(node_module, "HOLDINGS_BYTES_MAX", sizes[0] + sizes[1])
    two = await conn.call("holdings", Holdings(BUCKET))
    assert [k for _b, k, _d in two.items] == held[:2] and two.more
    monkeypatch.setattr(node_module, "HOLDINGS_BYTES_MAX", 1)
    one = await conn.call("holdings", Holdings(BUCKET))
    assert [k for _b, k, _d in one.items] == held[:1] and one.more
    monkeypatch.undo()
    for bad in (Holdings(BUCKET, (BUCKET,), 1), Holdings(BUCKET, None, -1), Holdings(b"", None, 1)):
        with pytest.raises(NodeBadRequest):
            await conn.call("holdings", bad)
    # A report that may take fewer copies per node than a node holds says it is truncated.
    partial = await riak.service.copies(BUCKET, copies_per_node_max=3)
    assert partial.truncated and all(count <= 3 for count in partial.held.values())
    assert not (await riak.service.copies(BUCKET)).truncated


# -- switching anti-entropy ----------------------------------------------------------------------


async def aae(riak: Riak, body: object | None = None, raw: bytes | None = None) -> httpx.Response:
    if body is None and raw is None:
        return await riak.http.get("/dsql/aae")
    return await riak.http.put("/dsql/aae", content=raw if raw is not None else json.dumps(body).encode())


async def test_with_anti_entropy_off_a_wiped_node_stays_short_of_its_copies_until_it_is_on(nursery):
    riak = await start(nursery, dataclasses.replace(QUIET, aae_interval_s=AAE_INTERVAL_S))
    keys = [b"unread-%d" % i for i in range(40)]
    for key in keys:
        await riak.service.put(BUCKET, key, NewContent(b"v"), None, PutOptions(w=3))
    off = await aae(riak, {"enabled": False})
    assert off.status_code == 200, off.text
    assert off.json()["enabled"] == {dynamo_address(n): False for n in range(5)}
    # Node 0 loses its disk: it comes back empty, under the same name.
    lost = dynamo_address(0)
    behind = [key for key in keys if lost in primaries(riak.service, key)]
    assert behind
    await riak.cluster.stop_dynamo_node(0)
    riak.cluster.wipe_dynamo_node(0)
    await riak.cluster.start_dynamo_node(0)
    assert riak.node(0).aae.enabled, "its disk held the setting: it starts from the default"

    async def heard_the_cluster() -> bool:
        return (await aae(riak)).json()["enabled"] == {dynamo_address(n): False for n in range(5)}

    await eventually(heard_the_cluster, "gossip brings the wiped node the cluster's setting (off)")
    await riak.service.check_nodes()
    report = by_key(await copies(riak))
    assert all(lost not in report[key.decode()]["up_to_date"] for key in behind)
    assert all(report[key.decode()]["up_to_date_primaries"] == 2 for key in behind)
    exchanges, repaired = riak.counters("aae_exchanges"), riak.counters("aae_keys_repaired")
    await trio.sleep(10 * AAE_INTERVAL_S)
    assert riak.counters("aae_exchanges") == exchanges and riak.counters("aae_keys_repaired") == repaired
    assert riak.node(0).counters["aae_exchanges"] == 0
    gets = riak.service.counters["node_gets"]

    on = await aae(riak, {"enabled": True})
    assert on.json()["enabled"] == {dynamo_address(n): True for n in range(5)}

    async def repaired_by_aae() -> bool:
        totals = (await riak.http.get(f"/dsql/copies/{BUCKET.decode()}?keys=false")).json()["totals"]
        return totals["below_n_val_primaries"] == 0 and totals["keys"] == len(keys)

    await eventually(repaired_by_aae, "anti-entropy gives every key its three primaries again")
    assert riak.service.counters["node_gets"] == gets, "nothing read the keys: anti-entropy repaired them"
    assert sum(riak.counters("aae_keys_repaired").values()) > sum(repaired.values())


async def test_the_setting_survives_a_restart_and_its_interval_can_be_set(nursery):
    riak = await start(nursery)
    reply = await aae(riak, {"enabled": True, "interval_s": 0.02})
    assert reply.json()["interval_s"] == {dynamo_address(n): 0.02 for n in range(5)}
    await aae(riak, {"enabled": False})  # a newer setting: interval back to each node's own
    version = riak.node(1).aae.version

    async def saved() -> bool:  # the node saves its ring and settings in the background
        meta = await riak.node(1).store.load_meta()
        return meta is not None and len(codec.decode(meta)) == 4 and codec.decode(meta)[3][0] == version

    await eventually(saved, "node 1 saves the setting with its ring")
    await riak.cluster.stop_dynamo_node(1)
    await riak.cluster.start_dynamo_node(1)
    assert riak.node(1).aae == riak.node(2).aae and not riak.node(1).aae.enabled, "read back from its disk"
    body = (await aae(riak)).json()
    assert set(body["version"].values()) == {riak.node(2).aae.version} and body["unreachable"] == []


BAD_BODIES = [
    b"", b"not json", b"[true]", b"{}", b'{"enabled": "no"}', b'{"enabled": 1}',
    b'{"enabled": true, "interval_s": -1}', b'{"enabled": true, "interval_s": 3601}',
    b'{"enabled": true, "interval_s": "1"}', b'{"enabled": true, "interval_s": true}',
    b'{"enabled": false, "also": 1}',
]  # fmt: skip


async def test_bad_requests_are_400_and_change_nothing(riak):
    await riak.service.put(BUCKET, b"kept", NewContent(b"v"), None, PutOptions(w=3))
    before = {n: node.aae for n, node in riak.cluster.dynamo_nodes.items()}
    for raw in BAD_BODIES:
        reply = await aae(riak, raw=raw)
        assert reply.status_code == 400, (raw, reply.status_code, reply.text)
    assert (await riak.http.get(f"/dsql/copies/{BUCKET.decode()}?keys=maybe")).status_code == 400
    assert (await riak.http.get("/dsql/copies/" + "b" * 300)).status_code == 400
    assert (await riak.http.delete("/dsql/aae")).status_code == 405
    assert (await riak.http.get("/dsql/copies")).status_code == 404
    too_big = await riak.http.put("/dsql/aae", content=b'{"enabled": false, "x": "' + b"x" * 70_000 + b'"}')
    assert too_big.status_code == 413
    assert {n: node.aae for n, node in riak.cluster.dynamo_nodes.items()} == before
    assert (await copies(riak))["totals"]["min_up_to_date"] == 3
    # The node refuses malformed settings too, whoever sends them.
    conn = riak.cluster.transport.connect(dynamo_address(0))
    for bad in (AaeSwitch(AaeSetting(-1, True, 0.0)), AaeSwitch(AaeSetting(1, "yes", 0.0)),
                AaeSwitch(AaeSetting(1, True, 1e9)), AaeSwitch("off")):  # fmt: skip
        with pytest.raises(NodeBadRequest):
            await conn.call("aae_switch", bad)
    assert riak.node(0).aae == before[0]


# -- a real cluster: a storage node's Dynamo disk lost ----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_restart_wipe_dynamo_loses_the_copies_and_anti_entropy_brings_them_back(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "cluster")
    cluster_dir = Path(cluster.dir)
    port = _free_port()
    cluster.cli("up", "--qps", "1", "--port", "0", "--dynamodb-port", "0", "--dynamo-port", str(port),
                "--detach", timeout=180)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            # The QP's coordinator may have started before the storage nodes' Dynamo nodes and
            # believe one down until its next probe (a second): w=3 waits for all three.
            deadline = time.monotonic() + 30
            while (stats := http.get("/stats").json())["nodes_down"] or stats["ring_members"] != 3:
                assert time.monotonic() < deadline, stats
                time.sleep(0.2)
            keys = [f"k{i}" for i in range(30)]
            for key in keys:
                reply = http.put(f"/buckets/unread/keys/{key}?w=3", content=key.encode(),
                                 headers={"content-type": "text/plain"})  # fmt: skip
                assert reply.status_code == 204, reply.text
            assert http.put("/dsql/aae", json={"enabled": False}).status_code == 200
            assert http.get("/dsql/copies/unread?keys=false").json()["totals"]["min_up_to_date"] == 3

            refused = cluster.cli("restart", "qp-0", "--wipe-dynamo", check=False)
            assert refused.returncode == 2 and "needs a storage node" in refused.stderr
            storage_data = cluster_dir / "data" / "storage-2"
            kept = sorted(p.name for p in storage_data.iterdir())
            cluster.cli("restart", "storage-2", "--wipe-dynamo")
            assert sorted(p.name for p in storage_data.iterdir()) == kept, "the DSQL storage data stays"

            def totals() -> dict:
                return http.get("/dsql/copies/unread?keys=false").json()

            deadline = time.monotonic() + 30
            while True:  # the restarted node answers again, empty, and has heard the setting
                report, settings = totals(), http.get("/dsql/aae").json()
                if not report["unreachable"] and set(settings["enabled"].values()) == {False}:
                    break
                assert time.monotonic() < deadline, (report, settings)
                time.sleep(0.5)
            lost = report["held"]["dynamo/2"]
            assert lost == 0, "the node came back without its copies"
            assert report["totals"]["keys"] == 30 and report["totals"]["min_up_to_date"] == 2
            assert report["totals"]["below_n_val"] == 30, (
                "with three nodes, node 2 was a primary of every key"
            )
            time.sleep(2)
            assert totals()["totals"]["below_n_val"] == 30, "nothing repairs them while anti-entropy is off"

            assert http.put("/dsql/aae", json={"enabled": True, "interval_s": 0.05}).status_code == 200
            deadline = time.monotonic() + 40
            while totals()["totals"]["below_n_val"] > 0:
                assert time.monotonic() < deadline, totals()
                time.sleep(0.5)
            assert totals()["held"]["dynamo/2"] == 30
    finally:
        if (cluster_dir / "cluster.toml").exists():
            cluster.cli("down", check=False)
