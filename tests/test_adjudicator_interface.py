"""The typed seam into an adjudicator (adjudicator/interface.py), and the typed
status replies of the parts that are not storage.

- Every adjudicator request and reply, and every status reply, round-trips
  through `cluster.codec` as itself under its number in `cluster.wire_ids`
  (never a module path), and every message class of these modules has a case.
- A message of an unknown number is refused: by the codec, and by a real
  adjudicator served over TCP, which then goes on serving.
- A malformed request (a field of the wrong type, a commit that writes no key,
  another request type, the old positional arguments), sent to a real
  adjudicator in process and over TCP, is answered with an error that names
  the request and the field, and nothing is held, counted or appended: the
  adjudicator's status is as before, the journal holds none of it, and the
  next well-formed commit goes through (and a conflicting one still gets the
  typed CommitConflict).
"""

from __future__ import annotations

import msgpack
import msgspec
import pytest
import trio

from adjudicator import interface
from adjudicator.interface import (
    AdjudicatorProcessStatus,
    AdjudicatorStatus,
    Commit,
    CommitConflict,
    Committed,
    Decide,
    OutcomeQuery,
    OutcomeReply,
    OutcomeState,
    Prepare,
    checked,
    make_txn_id,
)
from assembly.embedded import ClusterConfig, EmbeddedCluster
from cluster import codec, wire_ids
from cluster.tcp import TcpTransport
from cluster.transport import RemoteError, Unreachable
from journal.client import JournalClient
from journal.interface import CommitRecord
from qp import interface as qp_interface
from qp.interface import QpStatus
from storage import keys

TAU = 1_700_000_000_000_000_000
KEY = keys.table_prefix(keys.table_key_id_for(16390), keys.PRIMARY_INDEX_ID) + keys.encode_int(1)
PAYLOAD = CommitRecord([(KEY, (1, "one"))]).encode()
TXN = make_txn_id(3, 41, 1)

MESSAGES = [
    Commit(TAU, PAYLOAD, (KEY, KEY + b"\x01"), (KEY + b"\x02",), (KEY + b"\x03",)),
    Commit(TAU, PAYLOAD, (KEY,)),
    Prepare(TXN, TAU, TAU + 5_000_000_000, (KEY,), (KEY + b"\x02",), (KEY + b"\x03",)),
    Prepare(TXN, TAU, TAU + 1, (), (KEY,)),
    Decide(TXN, TAU + 7),
    Decide(TXN, 0),
    OutcomeQuery((TXN, make_txn_id(2, 1, 1))),
    Committed(TAU + 7),
    OutcomeReply(((OutcomeState.COMMITTED, TAU + 7), (OutcomeState.UNKNOWN, 0))),
    AdjudicatorStatus(1, 3, TAU, 10, 2, 0, 12, 1, 0, 0),
    AdjudicatorStatus(1, 4, TAU, 10, 2, 1, 12, 1, 1, 3, epoch=4, deposed=True),
    AdjudicatorProcessStatus(0, 3, 1, {0: (2, TAU, False), 2: (1, TAU - 1, True)}, (0,), 10, 1),
    QpStatus("qp-0", 0, 8),
]


def _plain(value: object) -> object:
    """A message's fields with sequences as tuples (msgpack arrays decode as tuples)."""
    if isinstance(value, msgspec.Struct):
        return (type(value), *(_plain(v) for v in msgspec.structs.astuple(value)))
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_through_the_codec(message):
    data = codec.encode(message)
    assert _plain(codec.decode(data)) == _plain(message)
    (inner,) = codec.decode(codec.encode((message,)))  # as the transport sends a request
    assert _plain(inner) == _plain(message)
    assert type(message).__module__.encode() not in data and type(message).__name__.encode() not in data


def test_outcomes_read_back_by_name():
    (reply,) = codec.decode(codec.encode((MESSAGES[8],)))
    assert reply.outcomes() == [(OutcomeState.COMMITTED, TAU + 7), (OutcomeState.UNKNOWN, 0)]
    assert reply.outcomes()[0].state is OutcomeState.COMMITTED


@pytest.mark.parametrize("module", [interface, qp_interface], ids=["adjudicator", "qp"])
def test_every_message_is_registered_under_its_table_id(module):
    structs = {v for v in vars(module).values() if isinstance(v, type) and issubclass(v, msgspec.Struct)
               and v.__module__ == module.__name__}  # fmt: skip
    assert structs <= {type(m) for m in MESSAGES}, "a message without a round-trip case above"
    table = set(wire_ids.table().values())
    for cls in structs:
        ids = [i for i, c in codec._message_classes.items() if c is cls]
        assert len(ids) == 1 and ids[0] in table, cls


def test_an_unknown_adjudicator_message_id_is_refused_by_the_codec():
    data = msgpack.packb(msgpack.ExtType(codec.EXT_MESSAGE, codec.encode((599, TAU, PAYLOAD))))
    with pytest.raises(codec.UnknownMessage, match="unknown message type id 599"):
        codec.decode(data)


@pytest.mark.parametrize(
    ("request_", "cls", "match"),
    [
        (Commit("1700", PAYLOAD, (KEY,)), Commit, r"malformed Commit request: Expected `int`, got `str` - at `\$.tau_start`"),
        (Commit(-1, PAYLOAD, (KEY,)), Commit, r"Expected `int` >= 0 - at `\$.tau_start`"),
        (Commit(True, PAYLOAD, (KEY,)), Commit, r"Expected `int`, got `bool` - at `\$.tau_start`"),
        (Commit(TAU, "text", (KEY,)), Commit, r"Expected `bytes`, got `str` - at `\$.payload`"),
        (Commit(TAU, PAYLOAD, ()), Commit, r"no key to write, lock or share - at `\$.write_keys`"),
        (Commit(TAU, PAYLOAD, (KEY, 7)), Commit, r"Expected `bytes`, got `int` - at `\$.write_keys\[1\]`"),
        (Commit(TAU, PAYLOAD, [KEY]), Commit, None),  # a list is a sequence of keys too
        (Commit(TAU, PAYLOAD, (KEY,), share_keys=(None,)), Commit, r"at `\$.share_keys\[0\]`"),
        (Prepare(TXN, TAU, "later", (KEY,)), Prepare, r"malformed Prepare request: .* at `\$.tau_max`"),
        (Decide(TXN, 1.5), Decide, r"malformed Decide request: Expected `int`, got `float` - at `\$.tau_commit`"),
        (OutcomeQuery(("a",)), OutcomeQuery, r"at `\$.txn_ids\[0\]`"),
        (Decide(TXN, 0), Commit, "expected a Commit request, got Decide"),
        ((TAU, PAYLOAD, (KEY,)), Commit, "expected a Commit request, got tuple"),
    ],
)  # fmt: skip
def test_checked_names_what_is_wrong(request_, cls, match):
    if match is None:
        assert checked(request_, cls) == Commit(TAU, PAYLOAD, (KEY,))
        return
    with pytest.raises(ValueError, match=match):
        checked(request_, cls)


# -- against real adjudicators --------------------------------------------------------


def _malformed(tau: int, key: bytes) -> list[tuple[str, tuple, str]]:
    """(method, arguments, what the error says) of requests an adjudicator must refuse."""
    return [
        ("commit", (Commit(str(tau), PAYLOAD, (key,)),), r"malformed Commit request: .*\$.tau_start"),
        ("commit", (Commit(tau, "a payload that is no record", (key,)),), r"malformed Commit request: .*\$.payload"),
        ("commit", (Commit(tau, PAYLOAD, ()),), r"malformed Commit request: .*\$.write_keys"),
        ("commit", (Commit(tau, PAYLOAD, (key,), (key, 3)),), r"malformed Commit request: .*\$.check_keys\[1\]"),
        ("commit", (Decide(TXN, tau),), "expected a Commit request, got Decide"),
        ("commit", (tau, PAYLOAD, (key,), ()), "positional argument"),  # the seam before it was typed
        ("prepare", (Prepare(TXN, tau, b"later", (key,)),), r"malformed Prepare request: .*\$.tau_max"),
        ("decide", (Decide(TXN, "now"),), r"malformed Decide request: .*\$.tau_commit"),
        ("outcome", (OutcomeQuery((str(TXN),)),), r"malformed OutcomeQuery request: .*\$.txn_ids\[0\]"),
    ]


async def _journal_payloads(cluster: EmbeddedCluster) -> list[object]:
    payloads = []
    for j in range(cluster.topology.journal_count):
        client = JournalClient(cluster.transport, cluster.topology.journal_addresses(j))
        records, _, _ = await client.read("test-adjudicator-interface", 1, 10_000, 0.0)
        payloads += [payload for _, _, payload in records]
    return payloads


@pytest.fixture
async def cluster(nursery) -> EmbeddedCluster:
    return await nursery.start(EmbeddedCluster(ClusterConfig()).run)


async def test_malformed_requests_are_refused_and_leave_the_adjudicator_untouched(cluster, nursery):
    topology = cluster.topology
    index = topology.adjudicator_ranges.owner(KEY)
    adjudicator = cluster.adjudicators[index]
    address = topology.adjudicator_address(index)
    server = TcpTransport()
    server.serve(address, adjudicator)
    await nursery.start(server.run)
    port = await nursery.start(server.listen, "127.0.0.1", 0)
    client = TcpTransport({address: ("127.0.0.1", port)})
    await nursery.start(client.run)
    peers = {"in process": cluster.transport.connect(address), "tcp": client.connect(address)}

    before = await adjudicator.rpc_status()
    appended_before = await _journal_payloads(cluster)
    for name, peer in peers.items():
        for method, args, match in _malformed(cluster.clock.latest(), KEY):
            with pytest.raises(RemoteError, match=match):
                await peer.call(method, *args)
            assert await adjudicator.rpc_status() == before, (name, method, args)
    assert len(adjudicator.table) == 0 and not len(adjudicator.leases)
    assert await _journal_payloads(cluster) == appended_before, "a refused request reached the journal"

    # The same peers go on: a well-formed commit goes through, a conflicting one
    # gets the typed error.
    tau_start = cluster.clock.latest()
    committed = await peers["tcp"].call("commit", Commit(tau_start, PAYLOAD, (KEY,)))
    assert type(committed) is Committed and committed.tau_commit > tau_start
    with pytest.raises(CommitConflict):
        await peers["in process"].call("commit", Commit(tau_start, PAYLOAD, (KEY,)))
    status = await peers["tcp"].call("status")
    assert type(status) is AdjudicatorStatus and (status.commits, status.conflicts) == (1, 1)
    assert (await _journal_payloads(cluster))[len(appended_before):] == [PAYLOAD]


async def test_an_unknown_message_id_is_refused_over_tcp_and_the_adjudicator_serves_on(cluster, nursery):
    index = cluster.topology.adjudicator_ranges.owner(KEY)
    adjudicator = cluster.adjudicators[index]
    address = cluster.topology.adjudicator_address(index)
    server = TcpTransport()
    server.serve(address, adjudicator)
    await nursery.start(server.run)
    port = await nursery.start(server.listen, "127.0.0.1", 0)
    client = TcpTransport({address: ("127.0.0.1", port)})
    await nursery.start(client.run)
    peer = client.connect(address)

    before = await adjudicator.rpc_status()
    unknown = msgpack.ExtType(codec.EXT_MESSAGE, codec.encode((599, cluster.clock.latest(), PAYLOAD, (KEY,))))
    with trio.fail_after(5), pytest.raises(Unreachable):
        await peer.call("commit", unknown)
    assert await adjudicator.rpc_status() == before
    tau_start = cluster.clock.latest()
    with trio.fail_after(10):
        assert (await peer.call("commit", Commit(tau_start, PAYLOAD, (KEY,)))).tau_commit > tau_start
