"""A Dynamo node's local store (`kv.dynamo.store`): round trips, reload after
a restart, torn and damaged logs, durability under a simulated crash, group
commit, Merkle trees, compaction (with puts running and crashes at each
step), removal, limits, the metadata slot, and a model test against a dict."""

from __future__ import annotations

import logging
import random
import struct

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster import codec
from cluster.disk import MemoryDisk, OsDisk
from cluster.sim.disk import DiskFaults, SimDisk
from kv.dynamo import store_log
from kv.dynamo.interface import BUCKET_BYTES_MAX, KEY_BYTES_MAX
from kv.dynamo.merkle import MerkleTree
from kv.dynamo.store import (
    META_BYTES_MAX,
    CorruptStore,
    DynamoStore,
    merkle_key,
    object_digest,
    split_merkle_key,
)
from kv.dynamo.store_log import META_NAME, OBJECT_BYTES_MAX, log_name

Contents = dict[tuple[bytes, bytes], tuple[int, bytes]]


async def opened(disk, **options) -> DynamoStore:
    store = DynamoStore(disk, **options)
    await store.load()
    return store


def contents(store: DynamoStore) -> Contents:
    """Everything the store holds, read through its public reading methods."""
    out: Contents = {}
    for bucket in store.buckets():
        for key in store.bucket_keys(bucket):
            partition = store.partition_of_key(bucket, key)
            obj = store.get(bucket, key)
            assert partition is not None and obj is not None
            assert (bucket, key) in store.keys_in(partition)
            out[(bucket, key)] = (partition, obj)
    assert sum(len(store.keys_in(p)) for p in store.partitions()) == len(out)
    return out


def expected_roots(model: Contents, store: DynamoStore) -> dict[int, bytes]:
    trees: dict[int, MerkleTree] = {}
    for (bucket, key), (partition, obj) in model.items():
        tree = trees.setdefault(partition, MerkleTree(fanout=store.merkle_fanout, levels=store.merkle_levels))
        tree.insert(merkle_key(bucket, key), object_digest(obj))
    return {p: t.root() for p, t in trees.items()}


def roots(store: DynamoStore) -> dict[int, bytes]:
    return {p: store.tree(p).root() for p in store.partitions()}


def frames_of(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each frame in a log file's bytes."""
    out, offset = [], 0
    while offset + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        out.append((offset, 8 + length))
        offset += 8 + length
    return out


async def test_round_trip_and_the_indexes() -> None:
    store = await opened(MemoryDisk())
    assert store.get(b"b", b"k") is None and store.partitions() == set() and store.buckets() == []
    await store.put(3, b"b", b"k1", b"one", sync=True)
    await store.put(3, b"b", b"k2", b"two", sync=False)
    await store.put(5, b"c", b"k1", b"three", sync=False)
    await store.put(3, b"b", b"k1", b"one again", sync=False)  # replaces the copy
    assert store.get(b"b", b"k1") == b"one again"
    assert store.get(b"c", b"k1") == b"three"
    assert store.get(b"c", b"k2") is None
    assert store.partition_of_key(b"c", b"k1") == 5 and store.partition_of_key(b"x", b"k1") is None
    assert store.partitions() == {3, 5}
    assert store.keys_in(3) == [(b"b", b"k1"), (b"b", b"k2")] and store.keys_in(4) == []
    assert store.bucket_keys(b"b") == [b"k1", b"k2"] and store.buckets() == [b"b", b"c"]
    stats = store.stats()
    assert stats["keys"] == 3 and stats["puts"] == 4 and stats["bytes_live"] < stats["bytes_log"]
    # The tree is keyed and digested as documented, so a node can map differences back.
    assert store.tree(3).get(merkle_key(b"b", b"k1")) == object_digest(b"one again")
    assert split_merkle_key(merkle_key(b"b", b"k1")) == (b"b", b"k1")
    assert split_merkle_key(merkle_key(b"", b"\x00\x01")) == (b"", b"\x00\x01")
    assert len(store.tree(9)) == 0


async def _fill(store: DynamoStore) -> None:
    await store.put(1, b"b", b"k1", b"v1", sync=False)
    await store.put_many(
        [(1, b"b", b"k2", b"v2"), (2, b"b", b"k3", b"v3"), (2, b"c", b"k1", b"\x00" * 1000)], sync=True
    )
    await store.put(1, b"b", b"k1", b"v1 again", sync=True)
    assert await store.remove([(b"b", b"k3")], sync=True) == 1


@pytest.mark.parametrize("kind", ["os", "memory"])
async def test_a_restarted_store_holds_what_it_held(tmp_path, kind: str) -> None:
    disk = OsDisk(str(tmp_path)) if kind == "os" else MemoryDisk()
    store = await opened(disk)
    await _fill(store)
    before, before_roots, before_stats = contents(store), roots(store), store.stats()
    assert before == {
        (b"b", b"k1"): (1, b"v1 again"),
        (b"b", b"k2"): (1, b"v2"),
        (b"c", b"k1"): (2, b"\x00" * 1000),
    }
    if kind == "os":
        disk.close()
        disk = OsDisk(str(tmp_path))
    try:
        again = await opened(disk)
        assert contents(again) == before and roots(again) == before_roots
        for name in ("keys", "bytes_live", "bytes_log", "files"):
            assert again.stats()[name] == before_stats[name], name
        # And it goes on appending where it left off.
        await again.put(1, b"b", b"k4", b"v4", sync=True)
        if kind == "os":
            disk.close()
            disk = OsDisk(str(tmp_path))
        assert contents(await opened(disk)) == {**before, (b"b", b"k4"): (1, b"v4")}
    finally:
        disk.close()


@pytest.mark.parametrize("tail", ["garbage", "half a record"])
async def test_a_torn_tail_is_cut_and_what_came_before_kept(tail: str) -> None:
    disk = MemoryDisk()
    store = await opened(disk)
    await _fill(store)
    before = contents(store)
    name = log_name(1)
    good = bytes(disk.files[name])
    if tail == "garbage":
        torn = b"\x00\x00\x01\x00garbage"
    else:
        record = store_log.put_record(1, b"b", b"k9", b"v9" * 50)[1]
        torn = record[: len(record) // 2]
    disk.files[name] += torn
    again = await opened(disk)
    assert contents(again) == before
    assert again.stats()["torn_bytes_cut"] == len(torn)
    assert bytes(disk.files[name]) == good  # cut, so appends follow good records
    await again.put(1, b"b", b"k9", b"v9", sync=True)
    assert contents(await opened(disk)) == {**before, (b"b", b"k9"): (1, b"v9")}


async def test_a_damaged_record_mid_file_stops_the_replay_of_that_file(caplog) -> None:
    """In the newest file everything from the damaged record on is cut (the
    frames after it cannot be found reliably); in an older file the rest of
    that file is skipped and the later files are still replayed."""
    disk = MemoryDisk()
    store = await opened(disk)
    for n in range(5):
        await store.put(0, b"b", b"k%d" % n, b"v%d" % n, sync=True)
    data = bytearray(disk.files[log_name(1)])
    frames = frames_of(bytes(data))
    assert len(frames) == 6  # the header and five records
    offset, length = frames[3]  # the record of k2
    data[offset + length - 1] ^= 0xFF
    disk.files[log_name(1)] = data
    with caplog.at_level(logging.WARNING, logger="kv.dynamo.store"):
        again = await opened(disk)
    assert contents(again) == {(b"b", b"k0"): (0, b"v0"), (b"b", b"k1"): (0, b"v1")}
    assert any("cutting" in r.getMessage() for r in caplog.records)
    assert len(disk.files[log_name(1)]) == offset

    # An older file: records go to three files, one damaged in the middle one.
    disk = MemoryDisk()
    store = await opened(disk, file_bytes_max=100)
    for n in range(9):
        await store.put(0, b"b", b"k%d" % n, b"value %d" % n + b"." * 30, sync=True)
    await store.put(0, b"b", b"k0", b"k0 in the newest file", sync=True)
    assert store.stats()["files"] >= 3
    victim = log_name(2)
    frames = frames_of(bytes(disk.files[victim]))
    assert len(frames) >= 3
    offset, length = frames[1]  # the first record after the header
    disk.files[victim][offset + 9] ^= 0xFF
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kv.dynamo.store"):
        again = await opened(disk, file_bytes_max=100)
    lost = {codec.decode(bytes(disk.files[victim][o + 8 : o + n]))[3] for o, n in frames[1:]}
    expected = {k: v for k, v in contents(store).items() if k[1] not in lost}
    assert contents(again) == expected and len(expected) < len(contents(store))
    assert again.get(b"b", b"k0") == b"k0 in the newest file"  # the later files were replayed
    assert again.stats()["damaged_files"] == 1
    assert any("damaged record" in r.getMessage() for r in caplog.records)


async def test_a_file_without_a_valid_header() -> None:
    """The newest file's header is synced before anything follows it, so a
    newest file holding no more than a torn header goes. Any other file
    without a valid header is damage: skipped with its records (and kept),
    while the files after it are still read and appends go to a new file."""
    disk = MemoryDisk()
    store = await opened(disk, file_bytes_max=60)
    for n in range(6):
        await store.put(0, b"b", b"k%d" % n, b"value %d" % n + b"." * 20, sync=True)
    held = contents(store)
    names = sorted(disk.files)
    assert len(names) == 3
    torn = log_name(len(names) + 1)
    disk.files[torn] = bytearray(b"\x00\x00\x00\x05\x01")  # the start of a header, torn by a crash
    again = await opened(disk, file_bytes_max=60)
    assert contents(again) == held and torn not in disk.files

    def keys_of(name: str) -> set[bytes]:
        frames = frames_of(bytes(disk.files[name]))[1:]
        return {codec.decode(bytes(disk.files[name][o + 8 : o + n]))[3] for o, n in frames}

    in_middle, in_newest = keys_of(names[1]), keys_of(names[2])
    disk.files[names[1]][5] ^= 0xFF  # an older file's header
    disk.files[names[2]][5] ^= 0xFF  # the newest file's, with records after it
    third = await opened(disk, file_bytes_max=60)
    assert contents(third) == {k: v for k, v in held.items() if k[1] not in in_middle | in_newest}
    assert third.stats()["damaged_files"] == 2 and names[2] in disk.files
    await third.put(0, b"b", b"after", b"v", sync=True)
    assert len(disk.files) == 4  # a new active file
    assert (await opened(disk)).get(b"b", b"after") == b"v"


class _DiskThatFailsAppends(MemoryDisk):
    """A disk that, once armed, writes half of an append and then fails (a full disk)."""

    armed = False

    async def append(self, name: str, data: bytes, *, sync: bool = True) -> int:
        if self.armed and data:
            await super().append(name, data[: len(data) // 2], sync=False)
            raise OSError(28, "No space left on device")
        return await super().append(name, data, sync=sync)


async def test_a_failed_append_is_cut_and_stops_writing() -> None:
    disk = _DiskThatFailsAppends()
    store = await opened(disk)
    await store.put(0, b"b", b"k", b"v", sync=True)
    files = {n: bytes(d) for n, d in disk.files.items()}
    disk.armed = True
    with pytest.raises(OSError):
        await store.put(0, b"b", b"k2", b"v2" * 100, sync=True)
    assert {n: bytes(d) for n, d in disk.files.items()} == files  # the half record is cut
    assert store.get(b"b", b"k2") is None
    disk.armed = False
    with pytest.raises(RuntimeError, match="stopped writing"):
        await store.put(0, b"b", b"k3", b"v3", sync=True)
    assert contents(await opened(disk)) == {(b"b", b"k"): (0, b"v")}


def _snapshot(disk: SimDisk) -> dict[str, bytes]:
    return {name: bytes(data) for name, data in disk.files.items()}


async def _crash_under_load(seed: int) -> int:
    """Four tasks put, half of them synced, until the machine crashes; after
    the restart every key holds its last put acknowledged as synced or a
    later one. Returns how many keys lost their last put."""
    rng = random.Random(seed)
    disk = SimDisk(random.Random(seed), DiskFaults(torn_garble=0.5))
    store = await opened(disk, file_bytes_max=2000)  # several files, so rolls happen under load
    history: dict[bytes, list[bytes]] = {}
    durable: dict[bytes, int] = {}  # key -> index in history of its last put acknowledged as synced
    crashed = False

    async def writer(task: int) -> None:
        for n in range(40):
            key = b"t%d-%d" % (task, n % 5)
            value = b"%d/%d:" % (task, n) + bytes(rng.randrange(60))
            history.setdefault(key, []).append(value)  # before the put: it may land although it never returns
            index = len(history[key]) - 1
            sync = rng.random() < 0.5
            await store.put(task, b"b", key, value, sync=sync)
            if sync and not crashed:
                durable[key] = index

    async with trio.open_nursery() as nursery:
        for task in range(4):
            nursery.start_soon(writer, task)
        await trio.sleep(rng.uniform(0.002, 0.03))
        disk.crash()
        crashed = True
        at_crash = _snapshot(disk)
        nursery.cancel_scope.cancel()  # kill -9: every task stops where it is
    assert _snapshot(disk) == at_crash  # a dead node writes nothing
    assert durable, "the crash came before any synced put"
    again = await opened(disk)
    vanished = 0
    for key, values in history.items():
        got = again.get(b"b", key)
        if key in durable:
            assert got in values[durable[key] :], (seed, key, got)
        else:
            assert got is None or got in values, (seed, key, got)
        vanished += got != values[-1]
    assert roots(again) == expected_roots(contents(again), again)
    return vanished


async def test_synced_puts_survive_a_crash_and_unsynced_ones_may_not(autojump_clock) -> None:
    vanished = [await _crash_under_load(seed) for seed in range(8)]
    assert sum(vanished) > 0, "no crash lost anything: the test would not see a missing sync"


@pytest.mark.parametrize("kind", ["sim", "os"])
async def test_concurrent_synced_puts_share_syncs(tmp_path, kind: str, autojump_clock) -> None:
    disk = SimDisk(random.Random(4)) if kind == "sim" else OsDisk(str(tmp_path))
    try:
        store = await opened(disk)
        await store.put(0, b"b", b"first", b"x", sync=True)  # the log file exists
        syncs_before = store.stats()["syncs"]
        puts = 32

        async def put(n: int) -> None:
            await store.put(n % 4, b"b", b"k%d" % n, b"v%d" % n * 100, sync=True)

        async with trio.open_nursery() as nursery:
            for n in range(puts):
                nursery.start_soon(put, n)
        syncs = store.stats()["syncs"] - syncs_before
        assert 1 <= syncs < puts // 4, syncs
        if kind == "sim":
            disk.crash()  # every one was acknowledged as synced: none may go
            again = await opened(disk)
            assert contents(again) == contents(store)
    finally:
        disk.close()


@pytest.mark.parametrize("seed", range(6))
async def test_cancelled_writes_leave_the_store_agreeing_with_its_log(seed: int, autojump_clock) -> None:
    """A put cancelled part-way (a request that timed out) may or may not be
    in the log, but the store says what its log says, and goes on working."""
    rng = random.Random(seed)
    disk = SimDisk(random.Random(seed))
    store = await opened(disk, file_bytes_max=1000)

    async def writer(task: int) -> None:
        for n in range(1000):
            key = b"%d-%d" % (task, n % 3)
            if n % 5 == 4:
                await store.remove([(b"b", key)], sync=rng.random() < 0.5)
            else:
                await store.put(task, b"b", key, b"v%d" % n, sync=rng.random() < 0.5)

    async with trio.open_nursery() as nursery:
        for task in range(4):
            nursery.start_soon(writer, task)
        await trio.sleep(rng.uniform(0.001, 0.02))
        nursery.cancel_scope.cancel()
    assert store.stats()["puts"] > 0
    assert contents(store) == contents(await opened(disk, file_bytes_max=1000))
    await store.put(9, b"b", b"after", b"still works", sync=True)
    again = await opened(disk)
    assert contents(again) == contents(store) and again.get(b"b", b"after") == b"still works"


async def test_waiting_writes_complete_when_their_leader_is_cancelled(autojump_clock) -> None:
    disk = SimDisk(random.Random(5), DiskFaults(torn_garble=1.0))
    store = await opened(disk)
    await store.put(0, b"b", b"first", b"x", sync=True)
    done: list[bytes] = []

    async def put(key: bytes, task_status=trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            task_status.started(scope)
            await store.put(0, b"b", key, b"value of " + key, sync=True)
            done.append(key)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            leader = await nursery.start(put, b"leader")  # its append is under way: it leads
            for n in range(10):
                nursery.start_soon(put, b"k%d" % n)
            await trio.sleep(0.00001)  # they queue behind the leader's append
            assert len(done) == 0
            leader.cancel()
    assert sorted(done) == sorted(b"k%d" % n for n in range(10))
    disk.crash()  # each was acknowledged as synced
    again = await opened(disk)
    for key in done:
        assert again.get(b"b", key) == b"value of " + key


class _GatedDisk(MemoryDisk):
    """A disk whose appends, once written, wait for the test to let them
    return while `hold` is set (a slow disk under the test's control)."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.waiting: trio.lowlevel.Task | None = None  # the task of the append held now
        self._released = trio.Event()

    async def append(self, name: str, data: bytes, *, sync: bool = True) -> int:
        offset = await super().append(name, data, sync=sync)
        if self.hold:
            self.waiting = trio.lowlevel.current_task()
            await self._released.wait()
        return offset

    def release(self) -> None:
        """Let the append held now return; later ones wait again while `hold`."""
        self._released.set()
        self._released = trio.Event()


@pytest.mark.parametrize("stage", ["roll", "sync"])
async def test_a_cancelled_leader_hands_its_batch_on(stage: str) -> None:
    """A leader takes the queued writes of others, then is cancelled: before
    it appends them (while its roll syncs the full file), or after, while it
    syncs them. The next leader writes, or syncs, them."""
    disk = _GatedDisk()
    store = await opened(disk, file_bytes_max=1)  # every batch starts a new file
    await store.put(0, b"b", b"first", b"x", sync=True)
    done: list[bytes] = []
    scopes: dict[trio.lowlevel.Task, tuple[bytes, trio.CancelScope]] = {}

    async def put(key: bytes) -> None:
        with trio.CancelScope() as scope:
            scopes[trio.lowlevel.current_task()] = (key, scope)
            await store.put(0, b"b", key, b"value of " + key, sync=key != b"busy")
            done.append(key)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            disk.hold = True
            nursery.start_soon(put, b"busy")  # leads; its roll waits on the disk
            await trio.testing.wait_all_tasks_blocked()
            for n in range(6):
                nursery.start_soon(put, b"k%d" % n)  # they queue behind it
            await trio.testing.wait_all_tasks_blocked()
            while b"busy" not in done:  # "busy" finishes, and one of the others leads with all the rest
                disk.release()
                await trio.testing.wait_all_tasks_blocked()
            # The new leader is held in its roll's sync; past the roll's header
            # and its own append, it is held in the batch's sync.
            for _ in range(3 if stage == "sync" else 0):
                disk.release()
                await trio.testing.wait_all_tasks_blocked()
            assert done == [b"busy"]
            assert disk.waiting is not None
            cancelled, scope = scopes[disk.waiting]
            scope.cancel()
            await trio.testing.wait_all_tasks_blocked()
            disk.hold = False
            disk.release()
    assert sorted(done) == sorted([b"busy"] + [b"k%d" % n for n in range(6) if b"k%d" % n != cancelled])
    assert contents(store) == contents(await opened(disk))
    assert store.get(b"b", cancelled) == (b"value of " + cancelled if stage == "sync" else None)


async def test_merkle_trees_depend_on_contents_not_on_order() -> None:
    rng = random.Random(7)
    final = {(b"b%d" % (n % 3), b"k%d" % n): (n % 4, b"object %d" % n) for n in range(60)}
    stores = []
    for _ in range(2):
        store = await opened(MemoryDisk(), merkle_fanout=4, merkle_levels=2)
        items = list(final.items())
        rng.shuffle(items)
        for (bucket, key), (partition, obj) in items:
            if rng.random() < 0.3:  # an older copy first, then the final one
                await store.put(partition, bucket, key, b"older " + obj, sync=False)
            if rng.random() < 0.2:  # a copy that comes and goes
                await store.put(partition, bucket, b"gone " + key, obj, sync=False)
                await store.remove([(bucket, b"gone " + key)], sync=False)
            await store.put(partition, bucket, key, obj, sync=False)
        stores.append(store)
    a, b = stores
    assert contents(a) == contents(b) == final
    assert roots(a) == roots(b) == expected_roots(final, a)
    # One differing copy changes that partition's root and only that one.
    await b.put(2, b"b2", b"k2", b"a newer object", sync=False)
    assert a.tree(2).root() != b.tree(2).root()
    assert {p: r for p, r in roots(a).items() if p != 2} == {p: r for p, r in roots(b).items() if p != 2}


async def test_compaction_keeps_every_copy_and_shrinks_the_log() -> None:
    disk = MemoryDisk()
    store = await opened(disk, file_bytes_max=4000, compact_log_bytes_min=10_000)
    for round_ in range(20):
        for n in range(20):
            await store.put(n % 3, b"b", b"k%d" % n, b"round %d " % round_ + b"." * 50, sync=False)
    await store.remove([(b"b", b"k%d" % n) for n in range(5)], sync=True)
    before, before_roots = contents(store), roots(store)
    log_before = store.stats()["bytes_log"]
    assert store.compaction_due() and store.stats()["files"] > 3
    assert await store.compact()
    stats = store.stats()
    assert contents(store) == before and roots(store) == before_roots
    assert stats["bytes_log"] < log_before / 4 and stats["files"] == 2 and stats["compactions"] == 1
    assert stats["bytes_log"] <= 2 * stats["bytes_live"] and not store.compaction_due()
    assert not await store.compact()  # not due: nothing happens
    assert len(disk.files) == 2 and all(name.endswith(".log") for name in disk.files)
    again = await opened(disk)
    assert contents(again) == before and roots(again) == before_roots
    assert again.stats()["bytes_log"] == stats["bytes_log"]


async def test_puts_during_compaction_survive(autojump_clock) -> None:
    disk = SimDisk(random.Random(11), DiskFaults(torn_garble=0.0))
    store = await opened(disk, compact_log_bytes_min=0)
    model: Contents = {}
    for n in range(300):
        model[(b"b", b"k%d" % (n % 50))] = (0, b"old %d" % n)
        await store.put(0, b"b", b"k%d" % (n % 50), b"old %d" % n, sync=False)
    compacting = True
    during = 0

    async def writer() -> None:
        nonlocal during
        n = 0
        while compacting:
            key = b"k%d" % (n % 70)
            if n % 7 == 3 and (b"b", key) in model:
                await store.remove([(b"b", key)], sync=False)
                del model[(b"b", key)]
            else:
                await store.put(0, b"b", key, b"new %d" % n, sync=n % 10 == 0)
                model[(b"b", key)] = (0, b"new %d" % n)
            during += 1
            n += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.sleep(0)
        assert await store.compact()
        compacting = False
    assert during >= 5, during  # the writer really ran while the compaction did
    assert contents(store) == model
    await store.put(0, b"b", b"last", b"synced", sync=True)
    model[(b"b", b"last")] = (0, b"synced")
    disk.crash()  # everything before the last synced put is durable with it
    again = await opened(disk)
    assert contents(again) == model and roots(again) == expected_roots(model, again)


@pytest.mark.parametrize("seed", range(12))
async def test_a_crash_at_any_moment_of_a_compaction_loses_nothing(seed: int, autojump_clock) -> None:
    rng = random.Random(seed)
    disk = SimDisk(random.Random(seed), DiskFaults(torn_garble=1.0))
    store = await opened(disk, file_bytes_max=1500, compact_log_bytes_min=0)
    model: Contents = {}
    for n in range(120):
        key = b"k%d" % (n % 30)
        if n % 9 == 0 and (b"b", key) in model:
            await store.remove([(b"b", key)], sync=True)
            del model[(b"b", key)]
        else:
            await store.put(1, b"b", key, b"v%d" % n, sync=True)
            model[(b"b", key)] = (1, b"v%d" % n)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.compact)
        await trio.sleep(rng.uniform(0, 0.004))
        disk.crash()
        nursery.cancel_scope.cancel()
    again = await opened(disk, file_bytes_max=1500)
    assert contents(again) == model
    assert not [n for n in disk.files if n.endswith(".compacting")]
    # And the store still compacts and works after it.
    await again.compact(force=True)
    assert contents(await opened(disk)) == model


class _DiskThatDiesOnRemove(MemoryDisk):
    """A machine that crashes right after compaction's replace, before it
    removes the old files (a MemoryDisk keeps everything it was given, as a
    SimDisk does once every write is synced)."""

    armed = False

    async def remove(self, name: str) -> None:
        if self.armed:
            raise OSError("the machine died")
        await super().remove(name)


async def test_a_compaction_cut_short_after_its_replace_voids_the_older_files() -> None:
    disk = _DiskThatDiesOnRemove()
    store = await opened(disk, file_bytes_max=300)
    for n in range(20):
        await store.put(0, b"b", b"k%d" % n, b"value %d" % n + b"." * 40, sync=True)
    # Removed copies live on in the older files: replaying those would bring them back.
    await store.remove([(b"b", b"k%d" % n) for n in range(0, 20, 2)], sync=True)
    model = contents(store)
    files_before = len(disk.files)
    disk.armed = True
    with pytest.raises(OSError):
        await store.compact(force=True)
    assert len(disk.files) == files_before + 1  # the new active file; old ones all still there
    disk.armed = False
    again = await opened(disk)
    assert contents(again) == model
    assert len(disk.files) == 2  # the base file and the one after it


async def test_remove() -> None:
    disk = MemoryDisk()
    store = await opened(disk)
    await store.put(1, b"b", b"k1", b"v1", sync=False)
    await store.put(1, b"b", b"k2", b"v2", sync=False)
    await store.put(2, b"c", b"k1", b"v3", sync=False)
    empty_root = MerkleTree().root()
    removed = await store.remove(
        [
            (b"b", b"k1"),
            (b"b", b"k1"),  # twice: one removal
            (b"b", b"missing"),
            (b"b", b"k2", b"not v2"),  # the copy changed since: kept
        ],
        sync=True,
    )
    assert removed == 1
    assert contents(store) == {(b"b", b"k2"): (1, b"v2"), (b"c", b"k1"): (2, b"v3")}
    assert await store.remove([(b"b", b"k2", b"v2"), (b"c", b"k1")], sync=True) == 2
    assert store.partitions() == set() and store.buckets() == [] and store.stats()["bytes_live"] == 0
    assert store.tree(1).root() == empty_root
    assert contents(await opened(disk)) == {}
    for bad in [(b"b",), (b"b", "k"), (1, b"b", b"k")]:
        with pytest.raises(ValueError):
            await store.remove([bad], sync=True)  # type: ignore[list-item]


async def test_oversize_and_malformed_writes_leave_the_store_untouched() -> None:
    disk = MemoryDisk()
    store = await opened(disk)
    await store.put(0, b"b", b"k", b"v", sync=True)
    files, stats, held = {n: bytes(d) for n, d in disk.files.items()}, store.stats(), contents(store)
    bad_items = [
        (0, b"b", b"big", bytes(OBJECT_BYTES_MAX + 1)),
        (0, b"x" * (BUCKET_BYTES_MAX + 1), b"k", b"v"),
        (0, b"b", b"k" * (KEY_BYTES_MAX + 1), b"v"),
        (-1, b"b", b"k", b"v"),
    ]
    for bad in bad_items:
        with pytest.raises(ValueError):
            await store.put(*bad, sync=True)
        with pytest.raises(ValueError):  # a batch with one bad item writes none of it
            await store.put_many([(0, b"b", b"k2", b"v2"), bad], sync=True)
    with pytest.raises(TypeError):
        await store.put(0, b"b", "k", b"v", sync=True)  # type: ignore[arg-type]
    assert {n: bytes(d) for n, d in disk.files.items()} == files
    assert store.stats() == stats and contents(store) == held
    # At the limits, exactly: stored and read back (the load reads the object in several chunks).
    biggest = bytes(range(256)) * (OBJECT_BYTES_MAX // 256) + b"!" * (OBJECT_BYTES_MAX % 256)
    assert len(biggest) == OBJECT_BYTES_MAX
    await store.put(0, b"x" * BUCKET_BYTES_MAX, b"k" * KEY_BYTES_MAX, biggest, sync=True)
    again = await opened(disk)
    assert again.get(b"x" * BUCKET_BYTES_MAX, b"k" * KEY_BYTES_MAX) == biggest


async def test_writing_before_load_is_an_error() -> None:
    store = DynamoStore(MemoryDisk())
    with pytest.raises(RuntimeError):
        await store.put(0, b"b", b"k", b"v", sync=False)
    await store.load()
    with pytest.raises(RuntimeError):
        await store.load()


async def test_the_metadata_slot(autojump_clock) -> None:
    disk = SimDisk(random.Random(3), DiskFaults(torn_garble=1.0))
    store = await opened(disk)
    assert await store.load_meta() is None
    await store.save_meta(b"ring v1")
    await store.save_meta(b"ring v2")
    assert await store.load_meta() == b"ring v2"
    disk.crash()  # durable on return, and the log's files are not disturbed by it
    again = await opened(disk)
    assert await again.load_meta() == b"ring v2" and contents(again) == {}
    # A save cut short by a crash leaves the old slot.
    async with trio.open_nursery() as nursery:
        nursery.start_soon(again.save_meta, b"ring v3")
        await trio.sleep(0)
        disk.crash()
        nursery.cancel_scope.cancel()
    third = await opened(disk)
    assert await third.load_meta() in (b"ring v2", b"ring v3")
    assert "dynamo-meta.tmp" not in disk.files
    disk.files[META_NAME][-1] ^= 0xFF
    with pytest.raises(CorruptStore):
        await third.load_meta()
    with pytest.raises(ValueError):
        await third.save_meta(bytes(META_BYTES_MAX + 1))


# -- a model test ------------------------------------------------------------------------

buckets = st.sampled_from([b"a", b"b", b""])
keys = st.sampled_from([b"k1", b"k2", b"k3", b"\x00", b"long key " * 3])
values = st.binary(max_size=80)
partitions = st.integers(0, 3)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), partitions, buckets, keys, values, st.booleans()),
        st.tuples(st.just("put_many"), st.lists(st.tuples(partitions, buckets, keys, values), max_size=5)),
        st.tuples(st.just("remove"), buckets, keys, st.sampled_from(["any", "if unchanged", "if stale"])),
        st.tuples(st.just("compact")),
        st.tuples(st.just("restart")),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(operations)
def test_the_store_behaves_like_a_dict(ops: list[tuple]) -> None:
    async def run() -> None:
        disk = MemoryDisk()
        options = {"file_bytes_max": 400, "merkle_fanout": 4, "merkle_levels": 2}
        store = await opened(disk, **options)
        model: Contents = {}
        for op in ops:
            kind = op[0]
            if kind == "put":
                _, partition, bucket, key, value, sync = op
                model[(bucket, key)] = (partition, value)
                await store.put(partition, bucket, key, value, sync=sync)
            elif kind == "put_many":
                for partition, bucket, key, value in op[1]:
                    model[(bucket, key)] = (partition, value)
                await store.put_many(op[1], sync=True)
            elif kind == "remove":
                _, bucket, key, condition = op
                held = model.get((bucket, key))
                if condition == "any":
                    item: tuple = (bucket, key)
                else:
                    item = (bucket, key, held[1] if held and condition == "if unchanged" else b"stale")
                removed = await store.remove([item], sync=True)
                assert removed == (held is not None and (condition != "if stale" or held[1] == b"stale"))
                if removed:
                    del model[(bucket, key)]
            elif kind == "compact":
                await store.compact(force=True)
            else:
                store = await opened(disk, **options)
            assert contents(store) == model
        assert roots(store) == expected_roots(model, store)
        again = await opened(disk, **options)
        assert contents(again) == model and roots(again) == expected_roots(model, again)
        assert again.stats()["bytes_live"] == store.stats()["bytes_live"]

    trio.run(run)


async def test_sync_makes_earlier_unsynced_puts_durable(autojump_clock) -> None:
    disk = SimDisk(random.Random(11))
    store = await opened(disk)
    await store.sync()  # nothing written yet: nothing to do
    for n in range(20):
        await store.put(n % 4, b"b", b"k%d" % n, b"v%d" % n, sync=False)
    syncs_before = store.stats()["syncs"]
    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(store.sync)
    assert 1 <= store.stats()["syncs"] - syncs_before < 8, "concurrent syncs share one"
    disk.crash()
    again = await opened(disk)
    assert contents(again) == contents(store), "every put before the sync survives the crash"
