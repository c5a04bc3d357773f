"""The typed seam into storage, and the one StorageClient's read policies.

- Every storage message round-trips through `cluster.codec` as itself, under
  its number in `cluster.wire_ids` (never a module path); an unknown number is
  a clear error; every id in use is in the table, once.
- Storage errors cross the transport by number; a number taken twice is refused.
- The commit record (journal/interface.py) keeps the bytes journals on disk hold.
- Against a real embedded cluster with one storage replica held back: eventual
  reads see it stale, strong reads never do and fail over from it (marking it
  suspect), LEADER reads as of now see the last acknowledged commit, the
  per-shard host list is obeyed, and a shard with no answering host is
  `StorageUnavailable`.
"""

from __future__ import annotations

import decimal
import uuid

import msgpack
import msgspec
import pytest
import trio

from adjudicator.interface import Commit
from assembly.embedded import ClusterConfig, EmbeddedCluster
from cluster import codec, transport, wire_ids
from cluster.tcp import TcpTransport
from cluster.transport import NOT_NOW, RemoteError, decode_error, encode_error, wire_error
from journal import interface as journal_interface
from journal.interface import (
    Append,
    AppendBatch,
    Appended,
    AppendedBatch,
    Checkpointed,
    Close,
    Closed,
    CommitRecord,
    JournalStatus,
    Read,
    Records,
)
from storage import interface, keys
from storage import node as storage_node
from storage.client import EVENTUAL, LEADER, STRONG, LeaderUnavailable, StorageClient
from storage.interface import (
    CatalogChanged,
    CopyShard,
    Get,
    GetLatest,
    NodeState,
    NodeStateQuery,
    NodeStatus,
    Placement,
    PlacementQuery,
    Scan,
    ScanPage,
    ShardPiece,
    SplitPoint,
    SplitPointReply,
    Status,
    StorageUnavailable,
    Values,
    Watermark,
    WatermarkReply,
    WrongShard,
)

KEY = b"\x01\x00\x00@\x01\x80\x00\x00\x00\x00\x00\x00\x07"
ROW = (7, "seven", decimal.Decimal("12.50"), None, uuid.UUID(int=7), b"\x00\xff", 1.5, True)

MESSAGES = [
    Get((KEY,), 1_700_000_000_000_000_000, 3, True),
    Get((KEY, KEY + b"\x01"), 5),
    GetLatest((KEY,)),
    Scan(2, KEY, None, 9, None, 200, True, ("cmp", "=", 0, 16385), (0, 2), True),
    Scan(0, b"", KEY, None),
    Status(),
    Watermark(),
    Values([ROW, None], [KEY]),
    Values([]),
    ScanPage([(KEY, ROW)] * 200, KEY, [KEY]),
    ScanPage([], None),
    NodeStatus(1, 99, (4, 5), 10, 12),
    NodeStatus(3, 99, (4,), 10, 12, 7, (0, 2), (2,), False, (KEY,), (10, 0)),
    WatermarkReply(99),
    CopyShard(b"", KEY, 1_700_000_000_000_000_000, None, 2048),
    CopyShard(KEY, None, 5, KEY, 16),
    SplitPoint(KEY, None),
    SplitPointReply(KEY),
    SplitPointReply(None),
    NodeStateQuery(),
    PlacementQuery(),
    Placement(0, ((0, 1, 2), (1, 2, 0))),
    Placement(4, ((0, 3), (1, 2)), ((3, "10.0.0.4", 7105),), (KEY,)),
    ShardPiece([(KEY, ((5, ROW), (9, None)))], KEY, 3),
    ShardPiece([], None),
    NodeState((4, 5), 99, ((0, 0), (50, 3)), Placement(1, ((0,),)), ((60, KEY, KEY + b"\xff"),)),
]

JOURNAL_MESSAGES = [
    Append(b"payload", 5, 9),
    Append(CommitRecord([(KEY, ROW)]).encode(), 5),
    Appended(3, 1_700_000_000_000_000_000),
    AppendBatch([(b"one", 5, 9), (CommitRecord([(KEY, ROW)]).encode(), 6, 1 << 62)]),
    AppendBatch([]),
    AppendedBatch([(0, 3, 1_700_000_000_000_000_000, ""), (1, 0, 0, "τ would exceed tau_max")]),
    Close(7),
    Closed(7, 3),
    Read("storage-0", 1, 2000, 1.0),
    Records([(1, 5, b"a"), (2, 6, b"b")], 6, 2),
    Records([], 0, 0),
    Checkpointed("storage-1", 42),
    JournalStatus("journal/0/1", 0, 1, "leader", 7, 1, 99, 100, 1_700_000_000_000_000_000, 0, 12, 100, 2),
    JournalStatus("journal/0/2", 0, 2, "recovering"),
]


def _plain(message: msgspec.Struct) -> tuple:
    """Fields with sequences as tuples (msgpack arrays decode as tuples)."""

    def norm(value):
        if isinstance(value, (list, tuple)):
            return tuple(norm(v) for v in value)
        return value

    return tuple(norm(v) for v in msgspec.structs.astuple(message))


@pytest.mark.parametrize("message", MESSAGES + JOURNAL_MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_through_the_codec(message):
    data = codec.encode(message)
    back = codec.decode(data)
    assert type(back) is type(message)
    assert _plain(back) == _plain(message)
    # Inside a request's arguments too, as the transport sends them.
    (inner,) = codec.decode(codec.encode((message,)))
    assert _plain(inner) == _plain(message)
    # The type travels as its number, not as a Python path.
    assert type(message).__module__.encode() not in data and type(message).__name__.encode() not in data


@pytest.mark.parametrize(("module", "cases"), [(interface, MESSAGES), (journal_interface, JOURNAL_MESSAGES)],
                         ids=["storage", "journal"])  # fmt: skip
def test_every_message_is_registered_under_its_table_id(module, cases):
    structs = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, msgspec.Struct)
               and v.__module__ == module.__name__ and v not in (CommitRecord, journal_interface.EncodedRecord)]  # fmt: skip
    assert {type(m) for m in cases} == set(structs), "a message without a round-trip case above"
    table = set(wire_ids.table().values())
    for cls in structs:
        ids = [i for i, c in codec._message_classes.items() if c is cls]
        assert len(ids) == 1 and ids[0] in table, cls


@pytest.mark.parametrize("record", [
    CommitRecord([(KEY, ROW), (b"gone", None), (b"d", (decimal.Decimal("1.50"), uuid.UUID(int=7), "é", 2**64 - 1))]),
    CommitRecord([(KEY, ROW)], 7, [(b"a", b"b")]),
    CommitRecord((), lease=(1, 2, 3)),
    CommitRecord([(b"p", b"v")], placement=b"v"),
    CommitRecord([], stamped=[(b"s/", b"/x", (1, "row"))]),
    CommitRecord([(KEY, msgpack.ExtType(40, b"opaque"))]),
], ids=["values", "ddl", "lease", "placement", "stamped", "opaque-extension"])  # fmt: skip
def test_storage_reads_a_record_with_its_values_still_encoded(record):
    # Storage stores each value as the record carries it (encoded once, by the
    # query processor): what it reads must be what CommitRecord.decode reads.
    payload = record.encode()
    full, raw = CommitRecord.decode(payload), journal_interface.decode_encoded(payload)
    assert [(k, codec.decode(v)) for k, v in raw.w] == [tuple(w) for w in full.writes]
    assert [(p, s, codec.decode(v)) for p, s, v in raw.st] == [tuple(w) for w in full.stamped]
    assert [tuple(r) for r in raw.rd] == [tuple(r) for r in full.dropped_ranges]
    assert (raw.cv, raw.pl) == (full.catalog_version, full.placement)
    assert (None if raw.lz is None else tuple(raw.lz)) == (None if full.lease is None else tuple(full.lease))
    # The bytes stored are the bytes a value encodes to: a read decodes them as before.
    assert [bytes(v) for _, v in raw.w] == [codec.encode(v) for _, v in full.writes]


def test_an_unknown_message_id_is_a_clear_error():
    data = msgpack.packb(msgpack.ExtType(codec.EXT_MESSAGE, codec.encode((9999, 1, 2))))
    with pytest.raises(codec.UnknownMessage, match="unknown message type id 9999"):
        codec.decode(data)


def test_a_message_id_cannot_name_two_classes():
    class Other(msgspec.Struct, frozen=True):
        x: int

    with pytest.raises(ValueError, match="already Get"):
        codec.register_message(wire_ids.STORAGE_GET, Other)


def test_frozen_dataclasses_register_too():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Probe:
        a: int
        b: tuple

    codec.register_message(99_999, Probe)
    try:
        assert codec.decode(codec.encode(Probe(1, (b"x",)))) == Probe(1, (b"x",))
    finally:
        del codec._message_classes[99_999], codec._message_fields[Probe]


def test_the_id_table_refuses_a_repeated_id(monkeypatch):
    wire_ids._check_unique()
    monkeypatch.setattr(wire_ids, "STORAGE_SCAN", wire_ids.STORAGE_GET)
    with pytest.raises(AssertionError, match=f"wire id {wire_ids.STORAGE_GET} is used twice"):
        wire_ids._check_unique()


def test_numbered_errors_are_in_the_table_once():
    table = wire_ids.table()
    numbered = {key: cls for key, cls in transport._error_classes.items() if isinstance(key, int)}
    assert set(numbered) <= set(table.values())
    assert {CatalogChanged, StorageUnavailable, WrongShard} <= set(numbered.values())


@pytest.mark.parametrize("error", [CatalogChanged(4), StorageUnavailable("node 1 did not reach τ 5"), WrongShard("3")])
def test_storage_errors_cross_by_number(error):
    key, args = encode_error(error)
    assert isinstance(key, int) and transport._error_classes[key] is type(error)
    crossed = decode_error(key, args)
    assert type(crossed) is type(error) and crossed.args == error.args


def test_a_wire_error_id_cannot_name_two_classes_and_an_unknown_one_is_a_remote_error():
    with pytest.raises(ValueError, match="already StorageUnavailable"):

        @wire_error(wire_ids.STORAGE_UNAVAILABLE)
        class Impostor(Exception):
            pass

    crossed = decode_error(99_998, codec.encode(("x",)))
    assert isinstance(crossed, RemoteError) and "unknown wire id 99998" in str(crossed)


def test_name_registered_errors_still_cross():
    @wire_error
    class Named(Exception):
        pass

    key, args = encode_error(Named("a"))
    assert key == f"{Named.__module__}.{Named.__qualname__}"
    assert type(decode_error(key, args)) is Named


def test_the_commit_record_keeps_the_journal_format():
    writes = [(KEY, ROW), (KEY + b"\x01", None)]
    record = CommitRecord(writes, 7, [(b"a", b"b")])
    # The map journals on disk already hold (so an old data directory replays).
    assert record.encode() == codec.encode({"w": writes, "cv": 7, "rd": [(b"a", b"b")]})
    assert CommitRecord(writes).encode() == codec.encode({"w": writes, "cv": None})
    back = CommitRecord.decode(record.encode())
    assert list(back.writes) == [(KEY, ROW), (KEY + b"\x01", None)]
    assert back.catalog_version == 7 and list(back.dropped_ranges) == [(b"a", b"b")]
    assert CommitRecord.decode(CommitRecord(writes).encode()).dropped_ranges == ()


# -- read policies against a real cluster ------------------------------------------------


def sql_key(oid: int, pk: int) -> bytes:
    return keys.table_prefix(keys.table_key_id_for(oid), keys.PRIMARY_INDEX_ID) + keys.encode_int(pk)


async def commit(cluster: EmbeddedCluster, writes: list[tuple[bytes, object]]) -> int:
    write_keys = tuple(k for k, _ in writes)
    ranges = cluster.topology.adjudicator_ranges
    coordinator = cluster.transport.connect(cluster.topology.adjudicator_address(ranges.owner(write_keys[0])))
    payload = CommitRecord(list(writes)).encode()
    tau = (await coordinator.call("commit", Commit(cluster.clock.latest(), payload, write_keys))).tau_commit
    await cluster.clock.wait_until_past(tau)
    return tau


async def caught_up(client: StorageClient, key: bytes, value) -> None:
    """Until every replica's eventual read shows `value`."""
    with trio.fail_after(10):
        while set(map(repr, [(await client.get([key], policy=EVENTUAL))[0] for _ in range(6)])) != {repr(value)}:
            await trio.sleep(0.02)


@pytest.fixture
async def cluster(nursery) -> EmbeddedCluster:
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    assert len(cluster.storage_nodes) == 2
    return cluster


async def test_eventual_reads_can_be_stale_strong_reads_never_and_fail_over(cluster):
    client = cluster.storage_client()
    key = sql_key(16385, 1)
    await commit(cluster, [(key, (1,))])
    await caught_up(client, key, (1,))
    cluster.storage_nodes[0].pause()
    try:
        tau = await commit(cluster, [(key, (2,))])
        with trio.fail_after(10):  # the replica not held back has applied it
            while (await client.status(1)).watermark < tau:
                await trio.sleep(0.01)
        eventual = [(await client.get([key], policy=EVENTUAL))[0] for _ in range(10)]
        scanned = [[v for _, v in page] async for page in client.scan(key, key + b"\x00", policy=EVENTUAL)]
        scanned += [[v for _, v in page] async for page in client.scan(key, key + b"\x00", policy=EVENTUAL)]
        assert client.suspects() == set()
        with trio.fail_after(5):  # without failover a read would wait out the node's 15 s
            strong = [(await client.get([key], tau))[0] for _ in range(10)]
            strong_scans = [[v for _, v in page] async for page in client.scan(key, key + b"\x00", tau)]
        assert client.suspects() == {0}, "the held-back replica is asked last for a while"
        # A LEADER read (DynamoDB's ConsistentRead) asks the shard's leader, its first host, alone.
        with pytest.raises(LeaderUnavailable) as refused:
            await client.get([key], policy=LEADER)
        assert refused.value.node == 0 and client.ranges.owner(refused.value.start) == client.ranges.owner(key)
    finally:
        cluster.storage_nodes[0].resume()
    assert (1,) in eventual and (2,) in eventual
    assert [[(1,)], [(2,)]] == sorted(scanned)
    assert set(strong) == {(2,)}
    assert strong_scans == [[(2,)]]
    await caught_up(client, key, (2,))
    assert await client.get([key], policy=LEADER) == [(2,)]


class _Silent:
    """A peer that never answers: a host cut off by a partition (not refused, not slow: silent)."""

    async def call(self, method, request):
        await trio.sleep_forever()

    def call_now(self, method, request):
        return NOT_NOW


class _CutOff:
    """The cluster's own transport, but storage node `node` is cut off from this client."""

    def __init__(self, transport, address: str) -> None:
        self.transport, self.address = transport, address

    def connect(self, address: str):
        return _Silent() if address == self.address else self.transport.connect(address)


async def test_eventual_reads_do_not_wait_on_a_replica_that_is_cut_off(cluster):
    key = sql_key(16385, 1)
    await commit(cluster, [(key, (1,))])
    await caught_up(cluster.storage_client(), key, (1,))
    client = StorageClient(cluster.topology, _CutOff(cluster.transport, cluster.topology.storage_address(0)),
                           clock=cluster.clock)  # fmt: skip
    with trio.fail_after(5):  # without a bound per replica, a read that asks node 0 first waits forever
        eventual = [(await client.get([key], policy=EVENTUAL))[0] for _ in range(6)]
    assert eventual == [(1,)] * 6
    assert client.suspects() == {0}, "the silent replica is asked last for a while"


async def test_hosts_per_shard_are_obeyed(cluster, monkeypatch):
    monkeypatch.setattr(storage_node, "READ_WAIT_TIMEOUT_S", 0.5)
    client = cluster.storage_client()
    a, b = sql_key(16385, 1), sql_key(16386, 1)
    shard_a, shard_b = client.ranges.owner(a), client.ranges.owner(b)
    assert shard_a != shard_b
    tau = await commit(cluster, [(a, ("a",)), (b, ("b",))])
    placement = [(0, 1)] * len(client.ranges)
    placement[shard_a] = (1,)
    placement[shard_b] = (0,)
    client.set_placement(placement)
    with trio.fail_after(10):  # node 0 has the first commit before it is held back
        while (await client.status(0)).watermark < tau:
            await trio.sleep(0.01)
    cluster.storage_nodes[0].pause()
    try:
        # Shard a lives only on node 1: a strong read never waits on node 0.
        with trio.fail_after(5):
            assert await client.get([a], tau) == [("a",)]
        assert client.suspects() == set()
        # Shard b lives only on node 0, held back: no host can serve it.
        tau_later = await commit(cluster, [(b, ("b2",))])
        with pytest.raises(StorageUnavailable, match="did not reach"):
            await client.get([a, b], tau_later)
        assert await client.get([a, b], policy=EVENTUAL) == [("a",), ("b",)]
    finally:
        cluster.storage_nodes[0].resume()
    assert await client.get([b, a], tau_later) == [("b2",), ("a",)]
    with pytest.raises(ValueError, match="not storage nodes"):
        client.set_placement([(-1,)] * len(client.ranges))
    with pytest.raises(ValueError, match="not storage nodes"):
        client.set_placement([()] * len(client.ranges))


async def test_reads_need_a_proper_tau_and_status_is_typed(cluster):
    client = cluster.storage_client()
    key = sql_key(16385, 3)
    with pytest.raises(ValueError, match="use policy=EVENTUAL"):
        await client.get([key], -1)
    with pytest.raises(ValueError, match="needs a τ"):
        await client.get([key], policy=STRONG)
    tau = await commit(cluster, [(key, (3,))])
    status = await client.status(1)
    assert isinstance(status, NodeStatus) and status.node == 1
    await client.get([key], tau)
    assert (await client.status(0)).watermark >= tau or (await client.status(1)).watermark >= tau


class Echo:
    """Answers a storage request with a reply built from it, over a real socket."""

    async def rpc_get(self, request: Get) -> Values:
        if not request.keys:
            raise StorageUnavailable("no keys")
        return Values([(len(k),) for k in request.keys], list(request.keys) if request.newer else [])


async def test_messages_and_numbered_errors_cross_tcp(nursery):
    server = TcpTransport()
    server.serve("storage-echo", Echo())
    await nursery.start(server.run)
    port = await nursery.start(server.listen, "127.0.0.1", 0)
    client = TcpTransport({"storage-echo": ("127.0.0.1", port)})
    await nursery.start(client.run)
    peer = client.connect("storage-echo")
    reply = await peer.call("get", Get((KEY, b"ab"), 5, None, True))
    assert type(reply) is Values and tuple(reply.values) == ((len(KEY),), (2,)) and tuple(reply.newer) == (KEY, b"ab")
    with pytest.raises(StorageUnavailable, match="no keys"):
        await peer.call("get", Get((), 5))


def test_a_failed_encode_inside_a_message_leaves_the_codec_usable():
    with pytest.raises(TypeError, match="cannot encode object"):
        codec.encode((Values([(object(),)]),))
    # The packers of both depths were reset: the next messages encode whole.
    nested = Values([(Values([(1,)]), Get((KEY,), 3))])
    back = codec.decode(codec.encode((nested,)))[0]
    assert type(back.values[0][0]) is Values and back.values[0][0].values == ((1,),)
    assert back.values[0][1] == Get((KEY,), 3)
    assert codec._local.depth == 0
