"""kv.dynamo.client against the real HTTP endpoint: the sync client (in a
worker thread) and the async one (on trio), over a `DynamoService` on the
embedded cluster's Dynamo nodes."""

from __future__ import annotations

import json

import pytest
import trio

from assembly.embedded import ClusterConfig, EmbeddedCluster, dynamo_address
from kv.dynamo.client import (
    AsyncDynamoClient,
    DynamoClient,
    DynamoHTTPError,
    Sibling,
    SiblingsError,
    parse_multipart,
)
from kv.dynamo.http import DynamoApp, multipart_body
from kv.dynamo.objects import Sibling as StoredSibling
from kv.dynamo.server import serve
from kv.dynamo.service import DynamoService


@pytest.fixture
async def url(nursery) -> str:
    cluster = EmbeddedCluster(ClusterConfig(data_dir=None))
    await nursery.start(cluster.run)
    service = DynamoService(cluster.transport, [dynamo_address(n) for n in range(cluster.config.dynamo_nodes)])
    await nursery.start(service.run)
    port = await nursery.start(serve, DynamoApp(service), "127.0.0.1", 0)
    return f"http://127.0.0.1:{port}"


def union(siblings: list[Sibling]) -> bytes:
    """A cart's semantic reconciliation (the paper's §4.4 example): the union of the items."""
    items = set()
    for sibling in siblings:
        items.update(json.loads(sibling.value))
    return json.dumps(sorted(items)).encode()


def add(item: str):
    def change(value: bytes | None) -> bytes:
        return json.dumps(sorted({*json.loads(value or b"[]"), item})).encode()

    return change


def sync_session(url: str) -> None:
    """The whole surface through the blocking client (run in a thread: the server is on this trio loop)."""
    with DynamoClient(url) as riak:
        assert riak.ping() is True
        missing = riak.get("carts", "alice")
        assert (missing.found, missing.siblings, missing.context, missing.value) == (False, [], None, None)

        assert riak.put("carts", "alice", b'["book"]', content_type="application/json", user_meta={"owner": "alice"}) is None
        fetched = riak.get("carts", "alice")
        assert fetched.found and fetched.value == b'["book"]' and fetched.context
        (sibling,) = fetched.siblings
        value, content_type, vtag, last_modified, user_meta = sibling
        assert (content_type, user_meta) == ("application/json", {"owner": "alice"})
        assert vtag and last_modified is not None

        # Two writers with the same context: siblings, returned together with one context.
        riak.put("carts", "alice", b'["book","pen"]', context=fetched.context, content_type="application/json")
        both = riak.put(
            "carts", "alice", b'["book","ink"]', context=fetched.context, content_type="application/json", returnbody=True
        )
        assert sorted(s.value for s in both.siblings) == [b'["book","ink"]', b'["book","pen"]']
        with pytest.raises(ValueError, match="2 siblings"):
            _ = both.value

        # update() refuses to guess without a resolver, and with one writes a single merged value.
        with pytest.raises(SiblingsError):
            riak.update("carts", "alice", add("cup"))
        assert len(riak.get("carts", "alice").siblings) == 2  # nothing was written
        stored = riak.update("carts", "alice", add("cup"), resolve=union)
        assert [s.value for s in stored.siblings] == [b'["book", "cup", "ink", "pen"]']
        assert stored.siblings[0].content_type == "application/json"
        assert riak.get("carts", "alice").value == b'["book", "cup", "ink", "pen"]'

        # update() of a new key starts from None.
        riak.update("carts", "bob", add("hat"))
        assert riak.get("carts", "bob").value == b'["hat"]'

        key = riak.create("carts", b"[]")
        assert riak.get("carts", key).value == b"[]"
        assert sorted(riak.list_keys("carts")) == sorted(["alice", "bob", key])
        assert "carts" in riak.list_buckets()

        assert riak.delete("carts", "bob") is True
        gone = riak.get("carts", "bob")
        assert (gone.found, gone.deleted) == (False, True) and gone.context
        assert riak.delete("carts", "bob") is False

        assert riak.bucket_props("carts")["n_val"] == 3
        riak.set_bucket_props("carts", n_val=2, allow_mult=False)
        assert riak.bucket_props("carts")["allow_mult"] is False
        riak.reset_bucket_props("carts")
        assert riak.bucket_props("carts")["allow_mult"] is True
        assert riak.stats()["node_puts"] >= 5

        with pytest.raises(DynamoHTTPError) as refused:
            riak.get("carts", "alice", r="most")
        assert refused.value.status == 400 and refused.value.message.startswith("r query parameter must be")
        with pytest.raises(DynamoHTTPError) as refused:
            riak.set_bucket_props("carts", n_val=0)
        assert refused.value.status == 400
        with pytest.raises(DynamoHTTPError) as refused:
            riak.put("carts", "alice", b"x", context="bm90IGEgY2xvY2s=")
        assert refused.value.status == 400 and "X-Riak-Vclock" in refused.value.message


async def test_sync_client_end_to_end(url):
    await trio.to_thread.run_sync(sync_session, url)


async def test_async_client_on_trio_resolves_concurrent_updates(url):
    async with AsyncDynamoClient(url) as riak:
        assert await riak.ping()
        await riak.put("carts", "dana", b"[]", content_type="application/json")
        start = await riak.get("carts", "dana")

        # Ten writers, all from the same read: ten siblings, none lost.
        async def write(i: int) -> None:
            await riak.put("carts", "dana", json.dumps([f"item{i}"]).encode(), context=start.context,
                           content_type="application/json")  # fmt: skip

        async with trio.open_nursery() as nursery:
            for i in range(10):
                nursery.start_soon(write, i)
        fetched = await riak.get("carts", "dana")
        assert len(fetched.siblings) == 10

        stored = await riak.update("carts", "dana", add("final"), resolve=union)
        assert len(stored.siblings) == 1
        assert json.loads(stored.siblings[0].value) == sorted([*(f"item{i}" for i in range(10)), "final"])
        assert (await riak.get("carts", "dana", r="all")).value == stored.siblings[0].value

        with pytest.raises(DynamoHTTPError) as refused:
            await riak.delete("carts", "dana", w=9)
        assert refused.value.status == 400
        assert await riak.delete("carts", "dana", context=stored.context)
        assert not (await riak.get("carts", "dana")).found


async def test_binary_values_and_odd_keys_survive_multipart(url):
    nasty = [b"\r\n--boundary\r\n\r\n", b"", b"\x00\xff\r", bytes(range(256))]
    key = "a/b c?&=%"
    async with AsyncDynamoClient(url) as riak:
        for value in nasty:
            await riak.put(b"bin\x00", key, value)  # blind writes: four siblings
        fetched = await riak.get(b"bin\x00", key)
        assert sorted(s.value for s in fetched.siblings) == sorted(nasty)
        assert await riak.list_keys(b"bin\x00") == [key]


def test_parse_multipart_reads_what_the_server_writes():
    siblings = [
        StoredSibling(b"one\r\n", "text/plain", 1_700_000_000_000_000_000, "A1", user_meta=(("k", "v"),)),
        StoredSibling(b"--two--", "application/json", 1_700_000_001_000_000_000, "B2"),
    ]
    body = multipart_body(b"bucket", siblings, "XyZ")
    parts = parse_multipart(body, "XyZ")
    assert [value for _, value in parts] == [b"one\r\n", b"--two--"]
    assert parts[0][0]["etag"] == "A1" and parts[0][0]["x-riak-meta-k"] == "v"
    assert parts[1][0]["content-type"] == "application/json"
    # A body without the leading CRLF before its first delimiter (RFC 2046 allows it).
    assert parse_multipart(body[2:], "XyZ") == parts
