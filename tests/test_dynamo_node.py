"""A Dynamo node's seam: malformed messages are refused and touch nothing; copies outlive a kill -9.

The node is reached the way coordinators reach it, through the transport (which encodes every
message), so what arrives is what any peer could send: wrong types, objects that do not decode,
clocks that do not parse, rings of another cluster, anti-entropy messages that are not ones.
Durability is checked on a real `dsql serve` process, killed with SIGKILL.
"""

from __future__ import annotations

import pytest

from assembly.embedded import ClusterConfig, EmbeddedCluster, dynamo_address
from kv.dynamo.client import DynamoClient
from kv.dynamo.interface import (
    AaeMessage,
    BucketProps,
    Coordinate,
    Fetch,
    Gossip,
    InvalidRequest,
    Join,
    NodeBadRequest,
    SetProps,
    Store,
    StoreMany,
)
from kv.dynamo.objects import NewContent
from kv.dynamo.ring import Ring
from kv.dynamo.service import DynamoService

BUCKET = b"node-seam"


@pytest.fixture
async def cluster(nursery):
    cluster = EmbeddedCluster(ClusterConfig(data_dir=None))
    await nursery.start(cluster.run)
    service = DynamoService(cluster.transport, [dynamo_address(n) for n in range(5)])
    await nursery.start(service.run)
    await service.put(BUCKET, b"kept", NewContent(b"value"), None)
    cluster.service = service
    return cluster


BAD = [
    ("fetch", Fetch(b"", b"k")),
    ("fetch", Fetch("text", b"k")),
    ("fetch", Fetch(BUCKET, b"k" * 2000)),
    ("coordinate", Coordinate(BUCKET, b"kept", b"v", "text/plain", (), "not-a-vclock")),
    ("coordinate", Coordinate(BUCKET, b"kept", "text value", "text/plain")),
    ("store", Store(BUCKET, b"kept", b"\x93not an object")),
    ("store", Store(BUCKET, b"kept", 12)),
    ("store_many", StoreMany(((BUCKET, b"kept", b"garbage"),))),
    ("store_many", StoreMany(((BUCKET, b"kept"),))),
    ("gossip", Gossip(b"not a ring")),
    ("gossip", Gossip(Ring(16, ["dynamo/0"]).encode())),  # another cluster's partition count
    ("gossip", Gossip(None, ((BUCKET, "v1", "props"),))),
    ("gossip", Gossip(None, (), (("dynamo/9", "127.0.0.1", "port"),))),
    ("join", Join("")),
    ("set_props", SetProps(BUCKET, {"n_val": 1})),
    ("aae", AaeMessage(10_000, b"")),
    ("aae", AaeMessage(0, b"\x00\x01garbage")),
]


@pytest.mark.parametrize("method, request_", BAD, ids=[f"{m}-{i}" for i, (m, _) in enumerate(BAD)])
async def test_malformed_messages_are_refused_and_touch_nothing(cluster, method, request_):
    node = cluster.dynamo_nodes[0]
    before = {n: dict(sorted((k, v) for k, v in d.counters.items() if "gossip" not in k))
              for n, d in cluster.dynamo_nodes.items()}  # fmt: skip
    ring_before, props_before = node.ring, dict(node.bucket_props)
    with pytest.raises(NodeBadRequest):
        await cluster.transport.connect(node.name).call(method, request_)
    assert node.ring == ring_before and node.bucket_props == props_before
    after = {n: dict(sorted((k, v) for k, v in d.counters.items() if "gossip" not in k))
             for n, d in cluster.dynamo_nodes.items()}  # fmt: skip
    assert after == before, "a refused message changed no counter of any node"
    # The stored copy is untouched and the node still serves.
    found = await cluster.service.get(BUCKET, b"kept")
    assert [s.value for s in found.live_siblings] == [b"value"]
    assert await cluster.service.check_nodes() == set()


async def test_bucket_props_that_are_not_valid_are_refused_at_the_coordinator(cluster):
    for changes in ({"n_val": 0}, {"n_val": 99}, {"r": 4}, {"w": "most"}, {"allow_mult": "yes"}, {"n_val": 6}):
        with pytest.raises(InvalidRequest):
            await cluster.service.set_bucket_props(BUCKET, changes)
    assert await cluster.service.bucket_props(BUCKET) == BucketProps()


@pytest.mark.slow
def test_durable_writes_survive_kill_9_of_the_server(start_dsql):
    server = start_dsql(dynamo_port=0)
    client = DynamoClient(server.dynamo_url)
    for i in range(50):
        client.put("durable", f"k{i}", f"v{i}".encode(), dw="all")
    server.kill()
    server.restart()
    client = DynamoClient(server.dynamo_url)
    for i in range(50):
        fetched = client.get("durable", f"k{i}", r="all")
        assert fetched.found and [s.value for s in fetched.siblings] == [f"v{i}".encode()]
    assert sorted(client.list_keys("durable")) == sorted(f"k{i}" for i in range(50))
