"""Storage in pieces: bounded scan pages, sweeps, and checkpoints taken while writes go on.

A storage node shares its thread with every other part of an embedded server,
so its long loops (a scan whose filter rejects nearly everything, a GC sweep,
a checkpoint of every key) run a bounded piece at a time. These tests check
that cutting the work into pieces changes no answer: paged scans return what
one unbounded scan returns, a piecewise checkpoint is the store as of its cut
even while newer records are applied between the pieces, and a restart from
it (or from a checkpoint in the first, single-map format) loses nothing.

Checkpoints are what a node keeps with its replicas in memory (the simulator,
`--storage-engine checkpoints`); tests/test_storage_lmdb.py covers nodes on LMDB.
"""

from __future__ import annotations

import os

import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from adjudicator.client import AdjudicatorClient
from adjudicator.role import encode_commit_payload
from assembly.embedded import ClusterConfig, EmbeddedCluster
from cluster import codec, timeslice
from cluster.disk import OsDisk
from storage import node as storage_node
from storage.mvcc import VersionStore, compile_filter, keep_where_true, project, projector
from tests.test_kernel import commit, sql_key


async def start(nursery, data_dir=None):
    """An embedded cluster whose storage nodes keep their replicas in memory, with checkpoints."""
    config = ClusterConfig(data_dir=data_dir, storage_engine="checkpoints")
    return await nursery.start(EmbeddedCluster(config).run)


def _store(versions: dict[int, list[tuple[int, int | None]]]) -> VersionStore:
    store = VersionStore()
    for tau in sorted({t for history in versions.values() for t, _ in history}):
        for key, history in versions.items():
            for t, value in history:
                if t == tau:
                    store.apply(b"k%05d" % key, t, None if value is None else (key, value))
    return store


_histories = st.dictionaries(
    st.integers(0, 300),
    st.lists(st.tuples(st.integers(1, 6), st.one_of(st.none(), st.integers(0, 9))), min_size=1, max_size=4),
    max_size=120,
)


def _paged(store: VersionStore, tau: int, *, limit: int, examine: int, reverse: bool, keep) -> list:
    out: list = []
    start, end = b"k", b"l"
    while True:
        pairs, resume = store.scan(start, end, tau, limit=limit, reverse=reverse, keep=keep, examine=examine)
        out += pairs
        if resume is None:
            return out
        # Each page must move on (a store that resumes behind itself would loop here).
        assert (resume < end) if reverse else (resume >= start), (start, end, resume)
        if reverse:
            end = resume
        else:
            start = resume + b"\x00"


@settings(max_examples=150, deadline=None)
@given(_histories, st.integers(0, 7), st.integers(1, 9), st.integers(1, 9), st.booleans(), st.integers(0, 9))
def test_paged_scans_equal_one_scan(histories, tau, limit, examine, reverse, threshold) -> None:
    store = _store(histories)
    keep = keep_where_true(("cmp", ">=", 1, threshold))
    whole, resume = store.scan(b"k", b"l", tau, reverse=reverse, keep=keep)
    assert resume is None
    assert _paged(store, tau, limit=limit, examine=examine, reverse=reverse, keep=keep) == whole


def test_a_filter_that_rejects_everything_still_answers_in_bounded_pages() -> None:
    store = VersionStore()
    for i in range(1000):
        store.apply(b"k%05d" % i, 1, (i,))
    pairs, resume = store.scan(b"k", b"l", 5, keep=keep_where_true(("cmp", "<", 0, 0)), examine=100)
    assert pairs == [] and resume == b"k00099"


@settings(max_examples=100, deadline=None)
@given(_histories, st.integers(0, 7), st.integers(1, 9))
def test_items_as_of_in_pieces_is_the_store_at_the_cut(histories, cut, piece) -> None:
    store = _store(histories)
    expected = [
        (key, tau, value)
        for key, value in store.scan(b"k", b"l", cut)[0]
        for tau in [max(t for t, _ in histories[int(key[1:])] if t <= cut)]
    ]
    got, after = [], None
    while True:
        items, after = store.items_as_of(cut, after, piece)
        got += items
        if after is None:
            break
    assert got == expected


@settings(max_examples=100, deadline=None)
@given(_histories, st.integers(0, 7), st.integers(1, 9))
def test_a_sweep_in_pieces_collects_what_one_sweep_does(histories, horizon, piece) -> None:
    whole, pieces = _store(histories), _store(histories)
    whole.gc_horizon = pieces.gc_horizon = horizon
    whole.collect_all()
    after = None
    while (after := pieces.collect_some(after, piece)) is not None:
        pass
    assert list(whole._versions.items()) == list(pieces._versions.items())
    assert whole.version_count == pieces.version_count


async def test_checkpoint_taken_while_writes_go_on_restarts_to_the_last_commit(tmp_path, monkeypatch) -> None:
    """A checkpoint read a few keys at a time while a writer keeps committing: each
    piece is as of the cut, and replay from the checkpoint's positions brings
    every key to its last committed value."""
    monkeypatch.setattr(storage_node, "SWEEP_KEYS", 7)
    monkeypatch.setattr(storage_node, "checkpoint_if_due", timeslice.checkpoint)  # yield after every piece
    data_dir = str(tmp_path)
    count = 400
    last: dict[int, int] = {}
    commits: list[int] = []
    async with trio.open_nursery() as nursery:
        cluster = await start(nursery, data_dir)
        await commit(cluster, cluster.clock.latest(), [(sql_key(16385, i), (i, 0)) for i in range(count)])
        for i in range(count):
            last[i] = 0
        done = trio.Event()

        async def writer() -> None:
            round_ = 0
            while not done.is_set():
                round_ += 1
                batch = [(i, round_) for i in range(round_ % 13, count, 13)]
                await commit(cluster, cluster.clock.latest(), [(sql_key(16385, i), (i, v)) for i, v in batch])
                last.update(batch)
                commits.append(round_)

        nursery.start_soon(writer)
        await trio.sleep(0.05)
        before = len(commits)
        await cluster.checkpoint()
        assert len(commits) > before, "the writer committed nothing while the checkpoint ran"
        done.set()
        await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    checkpoints = [os.path.join(root, name) for root, _, names in os.walk(data_dir) for name in names
                   if name == "checkpoint.msgpack"]
    assert checkpoints
    with open(checkpoints[0], "rb") as f:
        first = next(codec.decode_stream(f))
    assert first["format"] == 2 and first["header"]["cut"] > 0
    async with trio.open_nursery() as nursery:
        cluster = await start(nursery, data_dir)
        values = await cluster.storage_client().get([sql_key(16385, i) for i in range(count)],
                                                    cluster.clock.latest(), None)
        assert values == [(i, last[i]) for i in range(count)]
        nursery.cancel_scope.cancel()


async def test_a_checkpoint_of_the_first_format_still_loads(tmp_path) -> None:
    data_dir = str(tmp_path)
    async with trio.open_nursery() as nursery:
        cluster = await start(nursery, data_dir)
        await commit(cluster, cluster.clock.latest(), [(sql_key(16385, i), (i,)) for i in range(50)])
        await cluster.checkpoint()
        nursery.cancel_scope.cancel()
    for root, _, names in os.walk(data_dir):
        if "checkpoint.msgpack" in names:
            path = os.path.join(root, "checkpoint.msgpack")
            disk = OsDisk(root)
            try:
                header, pieces = await storage_node._read_checkpoint_pieces(disk, "checkpoint.msgpack")
            finally:
                disk.close()
            shards = {shard: [item for piece in items for item in piece] for shard, items in pieces.items()}
            del header["cut"]
            with open(path, "wb") as f:  # the single map the first format wrote
                f.write(codec.encode({"header": header, "shards": shards}))
    async with trio.open_nursery() as nursery:
        cluster = await start(nursery, data_dir)
        client = cluster.storage_client()
        assert await client.get([sql_key(16385, i) for i in range(50)], cluster.clock.latest(), None) == [
            (i,) for i in range(50)
        ]
        # and the next checkpoint, cut at the loaded state, keeps it
        await cluster.checkpoint()
        nursery.cancel_scope.cancel()
    async with trio.open_nursery() as nursery:
        cluster = await start(nursery, data_dir)
        assert await cluster.storage_client().get([sql_key(16385, 7)], cluster.clock.latest(), None) == [(7,)]
        nursery.cancel_scope.cancel()


# -- dropped ranges ---------------------------------------------------------------------------------


async def _commit_record(cluster, writes, dropped=()) -> int:
    write_keys = tuple(k for k, _ in writes)
    adjudicators = AdjudicatorClient(cluster.topology, cluster.transport)
    tau = await adjudicators.commit(cluster.clock.latest(),
                                    encode_commit_payload(list(writes), None, list(dropped)), write_keys)
    await cluster.clock.wait_until_past(tau)
    return tau


def _keys_of(cluster) -> int:
    return sum(len(store) for node in cluster.storage_nodes for store in node.shards if store is not None)


async def test_a_dropped_range_stays_readable_until_the_horizon_then_is_reclaimed(monkeypatch) -> None:
    """Snapshots older than the drop still read the range; once the GC horizon
    passes the drop, every node removes its keys (and only those)."""
    from storage import keys as storage_keys

    monkeypatch.setattr(storage_node, "GC_INTERVAL_S", 0.05)
    monkeypatch.setattr(storage_node, "SWEEP_KEYS", 5)
    async with trio.open_nursery() as nursery:
        cluster = await start(nursery)
        doomed_id, kept_id = storage_keys.table_key_id_for(16390), storage_keys.table_key_id_for(16391)
        doomed = [storage_keys.table_prefix(doomed_id, ix) + storage_keys.encode_int(i) for ix in (0, 1, 2)
                  for i in range(30)]
        kept = [storage_keys.table_prefix(kept_id, 1) + storage_keys.encode_int(i) for i in range(30)]
        await commit(cluster, cluster.clock.latest(), [(k, (1,)) for k in doomed + kept])
        before_drop = cluster.clock.latest()
        base = len(doomed + kept) * len(cluster.storage_nodes)
        with trio.fail_after(20):  # storage applies the journal asynchronously
            while _keys_of(cluster) != base:
                await trio.sleep(0.01)
        await _commit_record(cluster, [(kept[0], (2,))], [storage_keys.table_range(doomed_id)])
        client = cluster.storage_client()
        # Retention still covers the snapshot before the drop: nothing is reclaimed yet.
        await trio.sleep(0.3)
        assert _keys_of(cluster) == base
        assert await client.get(doomed[:3], before_drop, None) == [(1,), (1,), (1,)]
        monkeypatch.setattr(storage_node, "RETENTION_NS", 0)
        with trio.fail_after(20):
            while _keys_of(cluster) != base - len(doomed) * len(cluster.storage_nodes):
                await trio.sleep(0.05)
        assert await client.get(kept[:2], cluster.clock.latest(), None) == [(2,), (1,)]
        assert all(not node.dropped_ranges for node in cluster.storage_nodes)
        nursery.cancel_scope.cancel()


async def test_a_checkpoint_after_a_drop_leaves_the_range_out(tmp_path) -> None:
    from storage import keys as storage_keys

    data_dir = str(tmp_path)
    table_id = storage_keys.table_key_id_for(16392)
    rows = [(storage_keys.table_prefix(table_id, 1) + storage_keys.encode_int(i), (i,)) for i in range(200)]
    async with trio.open_nursery() as nursery:
        cluster = await start(nursery, data_dir)
        await commit(cluster, cluster.clock.latest(), rows)
        dropped_at = await _commit_record(cluster, [(sql_key(16385, 1), (1,))], [storage_keys.table_range(table_id)])
        with trio.fail_after(20):
            while any(node.applied_tau < dropped_at for node in cluster.storage_nodes):
                await trio.sleep(0.01)
        await cluster.checkpoint()
        nursery.cancel_scope.cancel()
    async with trio.open_nursery() as nursery:
        cluster = await start(nursery, data_dir)
        assert await cluster.storage_client().get([k for k, _ in rows[:5]], cluster.clock.latest(), None) == [None] * 5
        assert _keys_of(cluster) == len(cluster.storage_nodes)  # only the one row of table 16385, on each node
        nursery.cancel_scope.cancel()


@given(
    row=st.lists(st.integers(), max_size=6).map(tuple),
    projection=st.lists(st.integers(min_value=0, max_value=7), max_size=5).map(tuple),
)
def test_a_projector_takes_what_project_takes(row: tuple, projection: tuple) -> None:
    """`projector` (an itemgetter for full rows) answers as `project` does, short rows included."""
    width = max(projection) + 1 if projection else 0
    assert projector(projection)(row) == project(row, projection, width)


@given(
    op=st.sampled_from(["=", "<>", "<", "<=", ">", ">="]),
    index=st.integers(min_value=0, max_value=4),
    constant=st.integers(-3, 3),
    row=st.lists(st.one_of(st.none(), st.integers(-3, 3)), max_size=5).map(tuple),
)
def test_a_comparison_filter_keeps_what_the_general_filter_calls_true(op, index, constant, row) -> None:
    """keep_where_true's one-call form for `column op constant` answers as compile_filter does."""
    tree = ("cmp", op, index, constant)
    assert keep_where_true(tree)(row) == (compile_filter(tree)(row) is True)


# -- immediate reads (cluster/transport.py's call_now) ----------------------------------------------


async def _outcome(fn, request):
    try:
        result = fn(request)
        if hasattr(result, "__await__"):
            result = await result
        return ("ok", result)
    except Exception as exc:  # noqa: BLE001 - the errors are what is compared
        return (type(exc).__name__, exc.args)


async def test_an_immediate_read_answers_as_the_read_it_replaces(nursery) -> None:
    """`now_get` (a strong read answered in the caller's task once τ is applied) gives what
    `rpc_get` gives: the same values, the same newer keys, the same errors; ahead of the
    watermark it says NOT_NOW, and the read it stands for waits and answers."""
    from cluster.transport import NOT_NOW
    from storage.interface import Get

    cluster = await start(nursery)
    keys_ = [sql_key(16385, i) for i in range(6)]
    taus = [cluster.clock.latest()]
    taus.append(await commit(cluster, cluster.clock.latest(), [(k, (1,)) for k in keys_]))
    taus.append(await commit(cluster, cluster.clock.latest(), [(keys_[0], (2,)), (keys_[1], None)]))
    taus += [taus[1] - 1, taus[2] + 1]
    node = cluster.storage_nodes[0]
    with trio.fail_after(20):
        while node.watermark < max(taus):
            await trio.sleep(0.01)
    catalog = node.catalog_version_at(taus[2])
    compared = 0
    for tau in taus:
        for chosen in (keys_[:1], keys_[:3], keys_, [sql_key(16385, 99)]):
            for version in (None, catalog, catalog + 7):
                for newer in (False, True):
                    request = Get(tuple(chosen), tau, version, newer)
                    now = await _outcome(node.now_get, request)
                    assert now != ("ok", NOT_NOW)
                    assert now == await _outcome(node.rpc_get, request), request
                    compared += 1
    assert compared == 5 * 4 * 3 * 2
    ahead = Get((keys_[0],), cluster.clock.latest() + 10**9)
    assert node.now_get(ahead) is NOT_NOW
    with trio.fail_after(20):
        assert (await node.rpc_get(ahead)).values == ((2,),)


async def test_a_read_past_the_watermark_closes_its_tau_in_the_callers_task(nursery) -> None:
    """An idle journal whose leader runs in this process closes a read's τ at once
    (`JournalClient.close_now`), so `now_get` answers a τ the node had not reached: the values
    `rpc_get` gives, the watermark past τ, and later commits above it. A paused node (or a τ the
    leader's lease cannot cover) still says NOT_NOW."""
    from cluster.transport import NOT_NOW
    from storage.interface import Get

    cluster = await start(nursery)
    keys_ = [sql_key(16385, i) for i in range(4)]
    last = await commit(cluster, cluster.clock.latest(), [(k, (i,)) for i, k in enumerate(keys_)])
    node = cluster.storage_nodes[0]
    answered = 0
    for round_ in range(20):
        # Nothing in flight: the journal is idle between the awaited commits. The last commit's
        # record has reached the node (else the read waits for it: the next test's case).
        with trio.fail_after(10):
            while node.applied_tau < last:
                await trio.sleep(0.001)
        tau = cluster.clock.latest()
        assert node.watermark < tau
        request = Get(tuple(keys_), tau, None, True)
        now = await _outcome(node.now_get, request)
        if now == ("ok", NOT_NOW):
            # The last commit's record had not reached this node yet: the usual read waits.
            now = await _outcome(node.rpc_get, request)
        else:
            answered += 1
            assert node.watermark >= tau
            assert now == await _outcome(node.rpc_get, request)
        assert now[1].values == ((round_,), (1,), (2,), (3,))
        last = await commit(cluster, cluster.clock.latest(), [(keys_[0], (round_ + 1,))])
        assert last > tau, "a commit after the close takes a τ above it"
    # (A record in flight meanwhile, an adjudicator's lease renewal, makes a read wait.)
    assert answered >= 15, f"only {answered} of 20 reads closed their τ at once"
    node.pause()
    try:
        assert node.now_get(Get((keys_[0],), cluster.clock.latest())) is NOT_NOW
    finally:
        node.resume()
    assert node.now_get(Get((keys_[0],), cluster.clock.latest() + 10**10)) is NOT_NOW, "ten seconds ahead"


async def test_reads_waiting_for_records_in_transit_keep_one_promise_per_position(nursery) -> None:
    """Reads that arrive, one after another, while the record a close promises is still on its
    way keep one waiting promise for its position (the latest), not one each; once the record
    arrives they are answered."""
    from cluster.transport import NOT_NOW
    from storage.interface import Get, Values

    cluster = await start(nursery)
    key = sql_key(16385, 1)
    node = cluster.storage_nodes[0]
    in_transit = 0
    for attempt in range(40):
        await commit(cluster, cluster.clock.latest(), [(key, (attempt,))])
        # No turn for the node's subscription between these reads. Whether it ran before the
        # commit returned is up to trio's scheduler (its order within a batch is random), so
        # about half the attempts find the commit's record still on its way.
        answers = [node.now_get(Get((key,), cluster.clock.latest())) for _ in range(30)]
        if answers.count(NOT_NOW) == 0:
            assert answers == [Values(((attempt,),), ())] * 30
            continue
        in_transit += 1
        assert answers.count(NOT_NOW) == 30
        assert [len(w) for w in node._closes_waiting] == [1], "one promise per position"
        with trio.fail_after(20):
            assert (await node.rpc_get(Get((key,), cluster.clock.latest()))).values == ((attempt,),)
        assert node._closes_waiting == [[]]
    assert in_transit > 0, "no read ever found the record on its way"


async def test_an_index_lookup_is_one_request_where_a_replica_holds_entry_and_row(nursery) -> None:
    """`Get.follow`: a key whose value is another key (a unique index entry and its row) is
    read with that key in one request when the node asked holds both shards, and the caller
    reads the row where it lives otherwise. `StorageClient.get_through` gives what two gets
    give, newer keys included, for every pair of shards, on nodes that hold alternate shards."""
    from cluster.topology import Topology
    from storage.client import StorageClient
    from storage.interface import Get

    shards = len(Topology().shard_ranges)
    topology = Topology(shard_hosts=tuple((s % 2,) for s in range(shards)))
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig(topology=topology, storage_engine="checkpoints")).run)
    owner = topology.shard_ranges.owner
    oids = {}
    for oid in range(16385, 16385 + 64):
        oids.setdefault(owner(sql_key(oid, 1)), oid)
    assert len(oids) >= 4, oids  # SQL tables fall in four shards, on both nodes
    pairs = [(a, b) for a in oids.values() for b in oids.values()]
    writes = []
    for n, (a, b) in enumerate(pairs):
        writes += [(sql_key(a, n), sql_key(b, 10000 + n)), (sql_key(b, 10000 + n), (n, "row"))]
        writes.append((sql_key(a, 1000 + n), sql_key(b, 20000 + n)))  # an entry whose row is absent
    writes.append((sql_key(pairs[0][0], 2000), (7,)))  # a value that is not a key
    tau = await commit(cluster, cluster.clock.latest(), writes)
    # Newer versions of some rows after τ: both ways report them.
    await commit(cluster, cluster.clock.latest(),
                 [(sql_key(b, 10000 + n), (n, "new")) for n, (_, b) in enumerate(pairs) if n % 3 == 0])
    client = StorageClient(cluster.topology, cluster.transport, clock=cluster.clock)
    followed = 0
    for n, (a, b) in enumerate(pairs):
        for entry in (sql_key(a, n), sql_key(a, 1000 + n), sql_key(a, 3000 + n)):
            newer_two: list[bytes] = []
            (first,) = await client.get([entry], tau, newer=newer_two)
            second = None
            if type(first) is bytes:
                (second,) = await client.get([first], tau, newer=newer_two)
            newer_one: list[bytes] = []
            assert await client.get_through(entry, tau, newer=newer_one) == (first, second)
            assert sorted(newer_one) == sorted(newer_two)
        node = cluster.storage_nodes[owner(sql_key(a, n)) % 2]
        reply = await node.rpc_get(Get((sql_key(a, n),), tau, None, True, True))
        row = sql_key(b, 10000 + n)
        together = owner(sql_key(a, n)) % 2 == owner(row) % 2
        assert len(reply.values) == (2 if together else 1)
        assert reply.values[0] == row and (not together or reply.values[1] == (n, "row"))
        assert (row in reply.newer) == (together and n % 3 == 0)
        followed += together
    assert 0 < followed < len(pairs)
    assert await client.get_through(sql_key(pairs[0][0], 2000), tau) == ((7,), None)
    # `follow` means something with one key only: with none or two it changes nothing.
    a, b = pairs[0]
    node = cluster.storage_nodes[owner(sql_key(a, 0)) % 2]
    assert (await node.rpc_get(Get((), tau, None, True, True))).values == ()
    both = (sql_key(a, 0), sql_key(a, 1000))
    assert (await node.rpc_get(Get(both, tau, None, False, True))).values == (sql_key(b, 10000), sql_key(b, 20000))
