"""The Riak-style HTTP API of Dynamo (kv.dynamo.http), driven with curl over a real socket.

Each test serves the app with `kv.dynamo.server.serve` on a free port, in
front of a real `DynamoService` over the embedded cluster's five Dynamo
nodes, and checks status codes, headers and bodies as Riak KV 2.x sends
them (riak_kv_wm_object.erl, riak_kv_wm_props.erl, riak_kv_wm_keylist.erl).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest
import trio

from assembly.embedded import ClusterConfig, EmbeddedCluster, dynamo_address
from kv.dynamo.client import parse_multipart
from kv.dynamo.http import DynamoApp
from kv.dynamo.ring import hash_key
from kv.dynamo.server import serve
from kv.dynamo.service import DynamoService
from kv.dynamo.vclock import VClock

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


@dataclasses.dataclass
class Endpoint:
    url: str
    cluster: EmbeddedCluster
    service: DynamoService


async def start_endpoint(nursery: trio.Nursery, **app_options) -> Endpoint:
    cluster = EmbeddedCluster(ClusterConfig(data_dir=None))
    await nursery.start(cluster.run)
    service = DynamoService(cluster.transport, [dynamo_address(n) for n in range(cluster.config.dynamo_nodes)])
    await nursery.start(service.run)
    port = await nursery.start(serve, DynamoApp(service, **app_options), "127.0.0.1", 0)
    return Endpoint(f"http://127.0.0.1:{port}", cluster, service)


@pytest.fixture
async def riak(nursery) -> Endpoint:
    return await start_endpoint(nursery)


@dataclasses.dataclass
class Reply:
    status: int
    headers: dict[str, list[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    @property
    def text(self) -> str:
        return self.body.decode()


async def curl(url: str, *args: str, data: bytes | None = None, tmp: Path | None = None) -> Reply:
    """One request with curl; the last header block it received (after any 100 Continue) and the body."""
    dump = [] if "-I" in args else ["-D", "-"]  # -I (HEAD) prints the headers itself
    command = ["curl", "-sS", *dump, "-o", "/dev/stdout", "--max-time", "30", *args]
    if data is not None:
        command += ["--data-binary", "@-"]
    result = await trio.run_process([*command, url], stdin=data, capture_stdout=True, capture_stderr=True)
    raw = result.stdout
    while True:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, raw
        status = int(head.split(b" ", 2)[1])
        if status == 100:
            raw = rest
            continue
        break
    headers: dict[str, list[str]] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return Reply(status, headers, rest)


def key_url(riak: Endpoint, bucket: str, key: str, query: str = "") -> str:
    return f"{riak.url}/buckets/{bucket}/keys/{key}" + (f"?{query}" if query else "")


async def put(riak: Endpoint, bucket: str, key: str, value: bytes, *headers: str, query: str = "") -> Reply:
    args = ["-X", "PUT", "-H", "Content-Type: text/plain"]
    for header in headers:
        args += ["-H", header]
    return await curl(key_url(riak, bucket, key, query), *args, data=value)


# -- objects ---------------------------------------------------------------------------


async def test_put_then_get_returns_the_value_with_riaks_headers(riak):
    reply = await put(riak, "fruit", "apple", b"red and round", "X-Riak-Meta-Colour: red")
    assert reply.status == 204 and reply.body == b""

    got = await curl(key_url(riak, "fruit", "apple"))
    assert got.status == 200
    assert got.body == b"red and round"
    assert got.header("content-type") == "text/plain"
    assert got.header("link") == '</buckets/fruit>; rel="up"'
    assert got.header("x-riak-meta-colour") == "red"
    assert re.fullmatch(r'"[0-9A-Za-z]+"', got.header("etag"))
    assert got.header("last-modified").endswith(" GMT")
    clock = VClock.decode(got.header("x-riak-vclock"))  # a real clock, one write
    assert sum(e.counter for e in clock.entries) == 1

    # A conditional GET with the ETag it has: 304, no body.
    etag = got.header("etag")
    unchanged = await curl(key_url(riak, "fruit", "apple"), "-H", f"If-None-Match: {etag}")
    assert unchanged.status == 304 and unchanged.body == b"" and unchanged.header("etag") == etag
    assert (await curl(key_url(riak, "fruit", "apple"), "-H", 'If-None-Match: "other"')).status == 200

    # HEAD: the same headers, no body.
    head = await curl(key_url(riak, "fruit", "apple"), "-I")
    assert head.status == 200 and head.body == b""
    assert head.header("etag") == got.header("etag") and head.header("content-length") == str(len(got.body))


async def test_missing_key_is_404_not_found(riak):
    reply = await curl(key_url(riak, "fruit", "durian"))
    assert reply.status == 404
    assert reply.body == b"not found\n"
    assert reply.header("x-riak-vclock") is None


async def test_concurrent_writes_are_siblings_300_and_a_write_with_the_context_resolves_them(riak):
    assert (await put(riak, "cart", "alice", b"book")).status == 204
    assert (await put(riak, "cart", "alice", b"pen")).status == 204  # blind: a sibling

    plain = await curl(key_url(riak, "cart", "alice"))
    assert plain.status == 300
    assert plain.header("content-type") == "text/plain"
    lines = plain.text.split("\n")
    assert lines[0] == "Siblings:" and lines[-1] == "" and len(lines) == 4
    vtags = lines[1:3]
    assert vtags == sorted(vtags)
    context = plain.header("x-riak-vclock")
    assert context is not None

    multi = await curl(key_url(riak, "cart", "alice"), "-H", "Accept: multipart/mixed")
    assert multi.status == 300
    content_type = multi.header("content-type")
    assert content_type.startswith("multipart/mixed; boundary=")
    assert multi.header("x-riak-vclock") == context
    parts = parse_multipart(multi.body, content_type.split("boundary=")[1])
    assert sorted(value for _, value in parts) == [b"book", b"pen"]
    for headers, _ in parts:
        assert headers["content-type"] == "text/plain"
        assert headers["link"] == '</buckets/cart>; rel="up"'
        assert headers["etag"] in vtags
        assert headers["last-modified"].endswith(" GMT")

    # ?vtag= picks one sibling, with the object's clock; an unknown vtag is 404.
    by_vtag = {headers["etag"]: value for headers, value in parts}
    one = await curl(key_url(riak, "cart", "alice", f"vtag={vtags[1]}"))
    assert one.status == 200 and one.body == by_vtag[vtags[1]]
    assert one.header("x-riak-vclock") == context
    assert (await curl(key_url(riak, "cart", "alice", "vtag=nosuchvtag"))).status == 404

    # Writing back with the context supersedes both siblings.
    assert (await put(riak, "cart", "alice", b"book,pen", f"X-Riak-Vclock: {context}")).status == 204
    resolved = await curl(key_url(riak, "cart", "alice"))
    assert resolved.status == 200 and resolved.body == b"book,pen"


async def test_returnbody_answers_the_stored_object(riak):
    first = await put(riak, "cart", "bob", b"one", query="returnbody=true")
    assert first.status == 200 and first.body == b"one"
    assert first.header("x-riak-vclock") and first.header("etag")
    second = await put(riak, "cart", "bob", b"two", "Accept: multipart/mixed", query="returnbody=true")
    assert second.status == 300  # the blind write made a sibling
    parts = parse_multipart(second.body, second.header("content-type").split("boundary=")[1])
    assert sorted(v for _, v in parts) == [b"one", b"two"]


async def test_post_to_a_bucket_creates_a_key_201_with_location(riak):
    reply = await curl(f"{riak.url}/buckets/notes/keys", "-X", "POST", "-H", "Content-Type: text/plain", data=b"hi")
    assert reply.status == 201
    location = reply.header("location")
    assert re.fullmatch(r"/buckets/notes/keys/[0-9A-Za-z]{20,}", location), location
    got = await curl(riak.url + location)
    assert got.status == 200 and got.body == b"hi"
    # POST to a key is a PUT.
    post = await curl(key_url(riak, "notes", "k"), "-X", "POST", "-H", "Content-Type: text/plain", data=b"x")
    assert post.status == 204
    assert (await curl(key_url(riak, "notes", "k"))).body == b"x"


async def test_delete_then_get_is_404_with_the_tombstone_clock(riak):
    await put(riak, "fruit", "pear", b"green")
    deleted = await curl(key_url(riak, "fruit", "pear"), "-X", "DELETE")
    assert deleted.status == 204 and deleted.body == b""
    got = await curl(key_url(riak, "fruit", "pear"))
    assert got.status == 404 and got.body == b"not found\n"
    assert got.header("x-riak-deleted") == "true"
    assert VClock.decode(got.header("x-riak-vclock")).entries  # the tombstone's clock
    without = await curl(key_url(riak, "fruit", "pear", "deletedvclock=false"))
    assert without.status == 404 and without.header("x-riak-vclock") is None
    # Nothing left to delete.
    again = await curl(key_url(riak, "fruit", "pear"), "-X", "DELETE")
    assert again.status == 404
    never = await curl(key_url(riak, "fruit", "quince"), "-X", "DELETE")
    assert never.status == 404


async def test_keys_are_percent_decoded_bytes(riak):
    assert (await put(riak, "odd%20bucket", "a%2Fb%20c%3F", b"v")).status == 204
    assert (await curl(key_url(riak, "odd%20bucket", "a%2Fb%20c%3F"))).body == b"v"
    assert await riak.service.get(b"odd bucket", b"a/b c?") is not None
    listed = await curl(f"{riak.url}/buckets/odd%20bucket/keys?keys=true")
    assert json.loads(listed.body) == {"keys": ["a/b c?"]}


async def test_a_value_of_another_type_than_accept_is_406(riak):
    await curl(key_url(riak, "docs", "j"), "-X", "PUT", "-H", "Content-Type: application/json", data=b"{}")
    assert (await curl(key_url(riak, "docs", "j"), "-H", "Accept: text/html")).status == 406
    ok = await curl(key_url(riak, "docs", "j"), "-H", "Accept: application/json")
    assert ok.status == 200 and ok.header("content-type") == "application/json"


async def test_conditional_put_if_none_match_is_412_when_the_key_exists(riak):
    assert (await put(riak, "locks", "l", b"mine", "If-None-Match: *")).status == 204
    assert (await put(riak, "locks", "l", b"yours", "If-None-Match: *")).status == 412
    etag = (await curl(key_url(riak, "locks", "l"))).header("etag")
    assert (await put(riak, "locks", "l", b"x", 'If-Match: "nope"')).status == 412
    context = (await curl(key_url(riak, "locks", "l"))).header("x-riak-vclock")
    assert (await put(riak, "locks", "l", b"ours", f"If-Match: {etag}", f"X-Riak-Vclock: {context}")).status == 204
    assert (await curl(key_url(riak, "locks", "l"))).body == b"ours"


# -- bad requests: Riak's status and text, and nothing stored --------------------------------


@pytest.mark.parametrize(
    ("query", "headers", "status", "message"),
    [
        ("w=lots", (), 400, "w query parameter must be an integer or one of the following words: 'one', 'quorum' or 'all'\n"),
        ("dw=-1", (), 400, "dw query parameter must be an integer or one of the following words: 'one', 'quorum' or 'all'\n"),
        ("w=4", (), 400, "Specified w/dw/pw/node_confirms values invalid for bucket n value of 3\n"),
        ("pw=9", (), 400, "Specified w/dw/pw/node_confirms values invalid for bucket n value of 3\n"),
        ("timeout=soon", (), 400, 'Bad timeout value "soon"\n'),
        ("", ("X-Riak-Vclock: bm90IGEgY2xvY2s=",), 400, "Invalid X-Riak-Vclock header: "),
        ("", ("X-Riak-Vclock: %%%",), 400, "Invalid X-Riak-Vclock header: vclock header is not valid base64\n"),
        ("", ("Content-Type:",), 400, "Missing Content-Type request header"),  # curl drops the header
        ("", ("Content-Type: plain",), 415, '"plain" is not a valid media type for the Content-type header.\n'),
    ],
)
async def test_bad_writes_are_refused_before_the_service(riak, query, headers, status, message):
    args = ["-X", "PUT"]
    if not any(h.lower().startswith("content-type:") for h in headers):
        args += ["-H", "Content-Type: text/plain"]
    for header in headers:
        args += ["-H", header]
    reply = await curl(key_url(riak, "strict", "k", query), *args, data=b"value")
    assert reply.status == status
    assert reply.text.startswith(message), reply.text
    assert (await curl(key_url(riak, "strict", "k"))).status == 404
    assert riak.service.counters["node_puts"] == 0


async def test_bad_reads_and_deletes_are_400(riak):
    await put(riak, "strict", "k", b"v")
    for query, message in [
        ("r=most", "r query parameter must be an integer or one of the following words: 'one', 'quorum' or 'all'\n"),
        ("r=4", "Specified w/dw/pw/node_confirms values invalid for bucket n value of 3\n"),
        ("pr=all&basic_quorum=maybe", "basic_quorum query parameter must be true or false\n"),
        ("notfound_ok=yes", "notfound_ok query parameter must be true or false\n"),
    ]:
        reply = await curl(key_url(riak, "strict", "k", query))
        assert (reply.status, reply.text) == (400, message), query
    gets = riak.service.counters["node_gets"]
    reply = await curl(key_url(riak, "strict", "k", "rw=every"), "-X", "DELETE")
    assert reply.status == 400 and reply.text.startswith("rw query parameter must be")
    reply = await curl(key_url(riak, "strict", "k"), "-X", "DELETE", "-H", "X-Riak-Vclock: garbage")
    assert reply.status == 400 and reply.text.startswith("Invalid X-Riak-Vclock header")
    assert riak.service.counters["node_gets"] == gets and riak.service.counters["node_deletes"] == 0
    assert (await curl(key_url(riak, "strict", "k"))).body == b"v"


async def test_bucket_and_key_lengths_are_checked(riak):
    long_key = "k" * 1025
    reply = await put(riak, "b", long_key, b"v")
    assert reply.status == 400 and reply.text == "key must be 1 to 1024 bytes, got 1025\n"
    assert (await put(riak, "b", "k" * 1024, b"v")).status == 204
    reply = await curl(key_url(riak, "b" * 256, "k"))
    assert reply.status == 400 and reply.text == "bucket name must be 1 to 255 bytes, got 256\n"
    assert (await curl(f"{riak.url}/buckets//keys/k")).status == 400


async def test_a_value_over_the_limit_is_413(nursery):
    riak = await start_endpoint(nursery, value_bytes_max=1000)
    assert (await put(riak, "big", "k", b"x" * 1000)).status == 204
    reply = await put(riak, "big", "k2", b"x" * 1001)
    assert reply.status == 413 and reply.text == "Object too large: the limit is 1000 bytes\n"
    assert (await curl(key_url(riak, "big", "k2"))).status == 404


async def test_only_the_default_bucket_type_exists(riak):
    url = f"{riak.url}/types/default/buckets/typed/keys/k"
    assert (await curl(url, "-X", "PUT", "-H", "Content-Type: text/plain", data=b"v")).status == 204
    assert (await curl(key_url(riak, "typed", "k"))).body == b"v"  # the same bucket
    created = await curl(f"{riak.url}/types/default/buckets/typed/keys", "-X", "POST", "-H", "Content-Type: text/plain", data=b"w")
    assert created.status == 201 and created.header("location").startswith("/types/default/buckets/typed/keys/")
    other = await curl(f"{riak.url}/types/maps/buckets/typed/keys/k")
    assert other.status == 404 and other.text == "Unknown bucket type: maps"
    assert (await curl(f"{riak.url}/types/maps/buckets/typed/props")).status == 404


async def test_unknown_paths_and_methods(riak):
    assert (await curl(f"{riak.url}/riak/b/k")).status == 404
    reply = await curl(f"{riak.url}/ping", "-X", "DELETE")
    assert reply.status == 405 and reply.header("allow") == "HEAD, GET"


async def test_a_missed_quorum_is_503_with_riaks_message(riak):
    ring = riak.service.ring
    key = next(
        f"k{i}" for i in range(1000)
        if dynamo_address(0) in [t.node for t in ring.sloppy_preference_list(hash_key(b"q", f"k{i}".encode()), 3, ())]
    )  # fmt: skip
    await put(riak, "q", key, b"v")
    await riak.cluster.stop_dynamo_node(0)
    await riak.service.check_nodes()
    reply = await curl(key_url(riak, "q", key, "pr=all"))
    assert reply.status == 503 and reply.text == "PR-value unsatisfied: 2/3\n"
    assert (await curl(key_url(riak, "q", key))).body == b"v"  # a sloppy read still answers


# -- buckets, keys, props, ping, stats ----------------------------------------------------


async def test_bucket_props_get_put_delete(riak):
    got = await curl(f"{riak.url}/buckets/settings/props")
    assert got.status == 200 and got.header("content-type") == "application/json"
    props = json.loads(got.body)["props"]
    assert props["name"] == "settings"
    assert (props["n_val"], props["allow_mult"], props["r"], props["w"]) == (3, True, "quorum", "quorum")

    url = f"{riak.url}/buckets/settings/props"
    json_header = ("-H", "Content-Type: application/json")
    assert (await curl(url, "-X", "PUT", *json_header, data=b'{"props":{"n_val":2,"allow_mult":false}}')).status == 204
    props = json.loads((await curl(url)).body)["props"]
    assert (props["n_val"], props["allow_mult"]) == (2, False)
    # The new n_val bounds the quorums of requests.
    reply = await put(riak, "settings", "k", b"v", query="w=3")
    assert reply.status == 400 and reply.text.endswith("bucket n value of 2\n")

    bad = await curl(url, "-X", "PUT", *json_header, data=b'{"n_val":2}')
    assert bad.status == 400 and bad.text == 'bucket PUT must be a JSON object of the form:\n{"props":{...bucket properties...}}'
    bad = await curl(url, "-X", "PUT", *json_header, data=b"{not json")
    assert bad.status == 400
    bad = await curl(url, "-X", "PUT", *json_header, data=b'{"props":{"n_val":0}}')
    assert bad.status == 400 and "n_val" in bad.text
    bad = await curl(url, "-X", "PUT", "-H", "Content-Type: text/plain", data=b'{"props":{}}')
    assert bad.status == 415
    assert json.loads((await curl(url)).body)["props"]["n_val"] == 2

    assert (await curl(url, "-X", "DELETE")).status == 204
    assert json.loads((await curl(url)).body)["props"]["n_val"] == 3


async def test_list_keys_and_buckets_plain_and_streamed(riak):
    for key in ("a", "b", "c"):
        await put(riak, "listed", key, b"v")
    await put(riak, "other", "x", b"v")
    reply = await curl(f"{riak.url}/buckets/listed/keys?keys=true")
    assert reply.status == 200 and reply.header("content-type") == "application/json"
    assert sorted(json.loads(reply.body)["keys"]) == ["a", "b", "c"]

    streamed = await curl(f"{riak.url}/buckets/listed/keys?keys=stream")
    assert streamed.status == 200 and streamed.header("transfer-encoding") == "chunked"
    objects = [json.loads(chunk) for chunk in re.findall(rb"\{[^{}]*\}", streamed.body)]
    assert objects[-1] == {"keys": []}
    assert sorted(k for o in objects for k in o["keys"]) == ["a", "b", "c"]

    assert json.loads((await curl(f"{riak.url}/buckets/listed/keys")).body) == {}
    buckets = await curl(f"{riak.url}/buckets?buckets=true")
    assert sorted(json.loads(buckets.body)["buckets"]) == ["listed", "other"]
    assert (await curl(f"{riak.url}/buckets")).status == 400


async def test_ping_and_stats(riak):
    ping = await curl(f"{riak.url}/ping")
    assert (ping.status, ping.body) == (200, b"OK")
    await put(riak, "s", "k", b"v")
    await curl(key_url(riak, "s", "k"))
    stats = await curl(f"{riak.url}/stats")
    assert stats.status == 200 and stats.header("content-type") == "application/json"
    counters = json.loads(stats.body)
    assert counters["node_puts"] == 1 and counters["node_gets"] == 1
    assert counters["ring_members"] == 5
