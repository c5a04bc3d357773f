"""A Dynamo node's own copies of objects: a Bitcask-style log on a `Disk`.

Dynamo keeps each node's replicas in a pluggable local engine [DYN §4.1];
Riak's default is Bitcask, an append-only log plus an in-memory key
directory, and this is that shape. The copies live outside the journal, so
their durability is Dynamo's own: a put is synced only when the request's
`dw` asks (`sync=True`), and concurrent synced puts share one sync (group
commit, as `journal/` does).

The log's files and records are `kv.dynamo.store_log`'s: numbered log
files, each opened by a header record, holding framed, checksummed PUT and
REMOVE records that carry the key's partition (the ring's number for it),
so that `load()` rebuilds `keys_in(partition)` and the per-partition Merkle
trees. A copy bigger than `store_log.OBJECT_BYTES_MAX` is refused with
ValueError before anything is written.

Memory
------
The key directory holds the objects themselves, not file offsets (Bitcask
keeps offsets and reads values from the files): the whole live data set is
in memory, and `load()` replays the log rather than reading hint files. Data
larger than memory is issue 14's business.

Recovery
--------
`load()` starts from the newest file whose header says `base` (removing the
files before it, which a compaction that crashed before its clean-up left),
and replays the records of that file and every later one in order. In each
file it stops at the first frame that is short, fails its checksum or does
not decode:

* in the newest file that is the torn tail of an append that a crash cut
  short (nothing after the last sync was acknowledged as durable); the file
  is truncated there so that appends continue after good records. A
  damaged record in the middle of the newest file is handled the same way:
  the frames after it cannot be found reliably (its length may be the
  damaged part), so they are cut, with a warning naming the bytes lost.
* in an older file it is damage to records that were synced. The records
  before it are kept, the rest of that file is skipped with a warning, and
  replay goes on with the later files, whose records are newer. The copies
  it held may therefore be older than they were; Dynamo's read repair and
  anti-entropy bring them up to date from the other replicas, and vector
  clocks make sure an older copy never wins. The file is left as it is
  (evidence) until a compaction replaces it.

Compaction
----------
`compact()` rolls the log to a new active file (so puts go on while it
runs), writes the key directory as it was at the roll into
`dynamo-<N>.compacting` behind a base header, where N is the file it rolled
away from, and swaps that in over `dynamo-<N>.log` with `Disk.replace`; then
it removes the files before N. A crash while writing leaves the old files
whole (the `.compacting` file is removed by `load()`); after the replace,
file N's base header voids whatever older files a crash kept. Removals need
no record in the output: nothing before it is read any more. The store runs
no task of its own: `compaction_due()` says when the log holds more than
twice the live bytes, and the node calls `compact()` from one of its tasks.

Concurrency
-----------
All methods may be called from several trio tasks at once. Writes queue up,
and whichever caller finds nobody writing leads: it builds the records of
everything queued (a conditional removal checks the copy as the records
before it leave it), appends them in one write under the append lock (so a
record is never interleaved with another, and the key directory changes in
the order of the log), and then, if any of them asked, syncs once for all of
them (group commit). Callers queued meanwhile wait; the leader stops once
its own writes are done and the next waiter leads. A leader cancelled before
it appends puts its batch back at the head of the queue; one cancelled while
it syncs leaves the appended writes to be synced by the next leader.

A cancelled append has still written its bytes (every `Disk` writes them
before its first checkpoint, or cannot be cancelled), so the key directory
takes the records too; a task that is already cancelled never starts an
append (the simulator's crash cancels a node's tasks, and a dead node must
not write). A failed append or sync (an OSError) stops all writing: after a
failed fsync what the file holds is unknown, as PostgreSQL assumes too; a
restart reloads from the log.
"""

from __future__ import annotations

import enum
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence

import trio

from cluster import codec
from cluster.disk import Disk
from kv.dynamo import merkle
from kv.dynamo.store_log import (
    COMPACTING_SUFFIX,
    HEADER,
    META_NAME,
    META_TMP_NAME,
    PUT,
    REMOVE,
    check_bytes,
    compacting_name,
    frame,
    log_name,
    put_record,
    scan_file,
    seq_of,
    unframe,
)

log = logging.getLogger(__name__)

# The metadata slot holds a ring and bucket properties: 16 MiB is thousands
# of buckets; a bigger slot is a bug, not metadata.
META_BYTES_MAX = 16 * 1024 * 1024
# Why 128 MiB per log file: rolling to a new file costs a sync and a header,
# so it should be rare; compaction rewrites the whole log anyway, so smaller
# files would buy nothing.
FILE_BYTES_MAX = 128 * 1024 * 1024
# Compaction waits until the log is past this size (and more than twice the
# live bytes): rewriting a small log saves nothing worth a rewrite.
COMPACT_LOG_BYTES_MIN = 4 * 1024 * 1024
# One append of a batch or of compaction output: bounded so that puts wait
# for at most one such write while a big batch or a compaction runs.
WRITE_CHUNK_BYTES = 4 * 1024 * 1024
# The object digest in the Merkle trees: 128 bits, as merkle.HASH_BYTES.
DIGEST_BYTES = 16

# (bucket, key) -> (partition, object bytes, frame bytes of its PUT record)
_Entry = tuple[int, bytes, int]
# A record to write and how to apply it: (record tuple, its frame).
_Op = tuple[tuple, bytes]
_Lookup = Callable[[bytes, bytes], "_Entry | None"]


class _State(enum.Enum):
    QUEUED = "queued"
    APPENDED = "appended"  # in the log, waiting for the sync it asked for
    DONE = "done"


class _Write:
    """One caller's records on their way to the log. `build` makes them when
    the leader writes the batch, from the key directory as it will be by then
    (a conditional removal checks the copy there); `size` is how many bytes
    they take, known beforehand (removals are small: 0)."""

    __slots__ = ("build", "sync", "size", "ops", "state", "barrier")

    def __init__(
        self, build: Callable[[_Lookup], list[_Op]], sync: bool, size: int, *, barrier: bool = False
    ) -> None:
        self.build = build
        self.sync = sync
        self.size = size
        self.ops: list[_Op] = []
        self.state = _State.QUEUED
        # A barrier writes nothing and waits for a sync that covers every write before it.
        self.barrier = barrier


class CorruptStore(Exception):
    """Stored bytes that are damaged where no torn write can be (the metadata slot)."""


def merkle_key(bucket: bytes, key: bytes) -> bytes:
    """The key of (bucket, key) in a partition's Merkle tree: the bucket
    length-prefixed, so that no two (bucket, key) pairs share one."""
    return len(bucket).to_bytes(2, "big") + bucket + key


def split_merkle_key(tree_key: bytes) -> tuple[bytes, bytes]:
    """(bucket, key) back from `merkle_key`."""
    length = int.from_bytes(tree_key[:2], "big")
    if len(tree_key) < 2 + length:
        raise ValueError(f"not a Merkle key of this store: {tree_key[:20]!r}")
    return tree_key[2 : 2 + length], tree_key[2 + length :]


def object_digest(obj: bytes) -> bytes:
    """The digest of a copy in the Merkle trees: equal objects, equal digests."""
    return hashlib.blake2b(obj, digest_size=DIGEST_BYTES, person=b"dynamo-object").digest()


class DynamoStore:
    """One node's copies: a key directory in memory over a log on `disk`.

    Call `load()` once before anything else (on an empty disk it finds
    nothing). `tree(partition)` returns the store's own tree, kept current
    as copies change: read it, never change it."""

    def __init__(
        self,
        disk: Disk,
        *,
        merkle_fanout: int = merkle.FANOUT_DEFAULT,
        merkle_levels: int = merkle.LEVELS_DEFAULT,
        file_bytes_max: int = FILE_BYTES_MAX,
        compact_log_bytes_min: int = COMPACT_LOG_BYTES_MIN,
    ) -> None:
        self.disk = disk
        self.merkle_fanout = merkle_fanout
        self.merkle_levels = merkle_levels
        self.file_bytes_max = file_bytes_max
        self.compact_log_bytes_min = compact_log_bytes_min
        merkle.MerkleTree(fanout=merkle_fanout, levels=merkle_levels)  # a bad shape fails here, not later
        self._loaded = False
        self._broken: BaseException | None = None
        self._keys: dict[tuple[bytes, bytes], _Entry] = {}
        self._by_partition: dict[int, set[tuple[bytes, bytes]]] = {}
        self._by_bucket: dict[bytes, set[bytes]] = {}
        self._trees: dict[int, merkle.MerkleTree] = {}
        self._bytes_live = 0
        self._file_bytes: dict[int, int] = {}  # seq -> bytes, every log file read or written
        self._active: int | None = None  # the seq appended to; None until the first write
        self._next_seq = 1
        # Group commit: writes wait in the queue for a leader (see `_commit`).
        self._queue: list[_Write] = []
        self._need_sync: list[_Write] = []  # appended, waiting for a sync
        self._leading = False
        self._progress = trio.Event()  # set and replaced whenever writes move on
        self._written = False
        self._append_lock = trio.Lock()
        self._sync_lock = trio.Lock()
        self._compact_lock = trio.Lock()
        self._meta_lock = trio.Lock()
        self._counters = dict.fromkeys(
            (
                "puts",
                "removes",
                "appends",
                "syncs",
                "compactions",
                "torn_bytes_cut",
                "damaged_files",
                "records_loaded",
            ),
            0,
        )

    # -- reading ---------------------------------------------------------------------------

    def get(self, bucket: bytes, key: bytes) -> bytes | None:
        """The copy held of (bucket, key) (`encode_object` bytes), or None."""
        entry = self._keys.get((bucket, key))
        return None if entry is None else entry[1]

    def partition_of_key(self, bucket: bytes, key: bytes) -> int | None:
        entry = self._keys.get((bucket, key))
        return None if entry is None else entry[0]

    def partitions(self) -> set[int]:
        """The partitions with at least one copy here."""
        return set(self._by_partition)

    def keys_in(self, partition: int) -> list[tuple[bytes, bytes]]:
        """The (bucket, key) of every copy of `partition` held here, sorted."""
        return sorted(self._by_partition.get(partition, ()))

    def bucket_keys(self, bucket: bytes) -> list[bytes]:
        return sorted(self._by_bucket.get(bucket, ()))

    def buckets(self) -> list[bytes]:
        return sorted(self._by_bucket)

    def tree(self, partition: int) -> merkle.MerkleTree:
        """The Merkle tree of this node's copies of `partition` (keys from
        `merkle_key`, digests from `object_digest`); empty if it holds none."""
        tree = self._trees.get(partition)
        if tree is None:
            return merkle.MerkleTree(fanout=self.merkle_fanout, levels=self.merkle_levels)
        return tree

    def compaction_due(self) -> bool:
        """Whether the log holds more than twice the live bytes (and is big enough to bother)."""
        log_bytes = sum(self._file_bytes.values())
        return log_bytes >= self.compact_log_bytes_min and log_bytes > 2 * self._bytes_live

    def stats(self) -> dict[str, int]:
        return {
            "keys": len(self._keys),
            "partitions": len(self._by_partition),
            "bytes_live": self._bytes_live,
            "bytes_log": sum(self._file_bytes.values()),
            "files": len(self._file_bytes),
            **self._counters,
        }

    # -- the key directory -----------------------------------------------------------------

    def _apply(self, record: tuple, frame_bytes: int) -> None:
        """Make the key directory say what `record` says (at load and after an append)."""
        kind = record[0]
        if kind == PUT:
            # frame_bytes: the record's size in the log, counted as live while it is the copy.
            _, partition, bucket, key, obj = record
            self._drop(bucket, key)
            self._keys[(bucket, key)] = (partition, obj, frame_bytes)
            self._bytes_live += frame_bytes
            self._by_partition.setdefault(partition, set()).add((bucket, key))
            self._by_bucket.setdefault(bucket, set()).add(key)
            if self._loaded:  # at load, trees are built once at the end
                self._tree_for(partition).insert(merkle_key(bucket, key), object_digest(obj))
        elif kind == REMOVE:
            _, bucket, key = record
            self._drop(bucket, key)
        else:
            raise AssertionError(f"not a key record: {record[:1]!r}")

    def _drop(self, bucket: bytes, key: bytes) -> None:
        entry = self._keys.pop((bucket, key), None)
        if entry is None:
            return
        partition, _, frame_bytes = entry
        self._bytes_live -= frame_bytes
        members = self._by_partition[partition]
        members.discard((bucket, key))
        if not members:
            del self._by_partition[partition]
            self._trees.pop(partition, None)
        elif self._loaded:
            self._trees[partition].delete(merkle_key(bucket, key))
        keys = self._by_bucket[bucket]
        keys.discard(key)
        if not keys:
            del self._by_bucket[bucket]
        assert self._bytes_live >= 0

    def _tree_for(self, partition: int) -> merkle.MerkleTree:
        tree = self._trees.get(partition)
        if tree is None:
            tree = self._trees[partition] = merkle.MerkleTree(
                fanout=self.merkle_fanout, levels=self.merkle_levels
            )
        return tree

    # -- load ------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the log back (see the module docstring for what a damaged one gives)."""
        if self._loaded:
            raise RuntimeError("the store is loaded already")
        names = await self.disk.names()
        for name in names:
            if seq_of(name, COMPACTING_SUFFIX) is not None or name == META_TMP_NAME:
                await self.disk.remove(name)  # an unfinished compaction or metadata save
        seqs = sorted(s for s in (seq_of(n) for n in names) if s is not None)
        if seqs:
            self._next_seq = seqs[-1] + 1
        # The newest base file voids every file before it.
        start = 0
        for index in range(len(seqs) - 1, -1, -1):
            head = await scan_file(self.disk, log_name(seqs[index]), header_only=True)
            if head.header is not None and head.header[2]:
                start = index
                break
        for seq in seqs[:start]:
            await self.disk.remove(log_name(seq))  # a compaction's clean-up, cut short by a crash
        seqs = seqs[start:]
        for index, seq in enumerate(seqs):
            name = log_name(seq)
            newest = index == len(seqs) - 1
            scan = await scan_file(self.disk, name)
            for record, frame_bytes in scan.records:
                self._apply(record, frame_bytes)
            self._counters["records_loaded"] += len(scan.records)
            lost = scan.file_bytes - scan.good_bytes
            if scan.header is None or scan.header[1] != seq:
                if newest and scan.file_bytes <= len(_header_frame(seq)):
                    # A crash while the file was made: nothing follows a header until it is synced.
                    log.warning("%s: a torn header; removing the file (%d bytes)", name, scan.file_bytes)
                    self._counters["torn_bytes_cut"] += scan.file_bytes
                    await self.disk.remove(name)
                else:
                    # Damage, not a torn write: kept as evidence; appends go to a new file.
                    log.warning("%s: no valid header; skipping the file (%d bytes)", name, scan.file_bytes)
                    self._counters["damaged_files"] += 1
                    self._file_bytes[seq] = scan.file_bytes
                continue
            if lost and newest:
                log.warning("%s: cutting %d bytes after the last good record at byte %d (torn or damaged tail)",
                            name, lost, scan.good_bytes)  # fmt: skip
                self._counters["torn_bytes_cut"] += lost
                await self.disk.truncate(name, scan.good_bytes)
                scan.file_bytes = scan.good_bytes
            elif lost:
                log.warning("%s: damaged record at byte %d; skipping the %d bytes after it and going on with "
                            "the later files", name, scan.good_bytes, lost)  # fmt: skip
                self._counters["damaged_files"] += 1
            self._file_bytes[seq] = scan.file_bytes
            if newest:
                self._active = seq
        for (bucket, key), (partition, obj, _) in self._keys.items():
            self._tree_for(partition).insert(merkle_key(bucket, key), object_digest(obj))
        self._loaded = True

    # -- writing ---------------------------------------------------------------------------

    async def put(self, partition: int, bucket: bytes, key: bytes, obj: bytes, *, sync: bool) -> None:
        """Replace the copy of (bucket, key), which the ring places in
        `partition`; with sync=True it is durable when this returns."""
        op = put_record(partition, bucket, key, obj)
        await self._commit([_Write(lambda _: [op], sync, len(op[1]))])

    async def put_many(self, items: Iterable[tuple[int, bytes, bytes, bytes]], *, sync: bool) -> None:
        """`put` for each (partition, bucket, key, object), all checked before
        any is written; with sync=True all are durable when this returns."""
        ops = [put_record(*item) for item in items]
        writes = [
            _Write(lambda _, chunk=chunk: chunk, sync, sum(len(f) for _, f in chunk))
            for chunk in _chunks(ops)
        ]
        await self._commit(writes)

    async def sync(self) -> None:
        """Make every write appended before this call durable, sharing the
        sync with concurrent synced writes (group commit). A coordinator's
        write is appended unsynced and made durable by this while the other
        replicas store it, so that a `dw` write waits for one sync in parallel,
        not two in a row."""
        self._check_writable()
        if self._active is None and not self._queue:
            return  # nothing was ever written
        await self._commit([_Write(lambda _: [], True, 0, barrier=True)])

    async def remove(
        self, items: Iterable[tuple[bytes, bytes] | tuple[bytes, bytes, bytes]], *, sync: bool = True
    ) -> int:
        """Drop copies (after a handoff): each item is (bucket, key), or
        (bucket, key, object) to drop the copy only if it is still `object`,
        checked when the removal is written (a handoff that sent a copy must
        not drop a newer write that arrived meanwhile). Returns how many
        were dropped; with sync=True their removal is durable on return."""
        wanted = [tuple(item) for item in items]
        for item in wanted:
            if len(item) not in (2, 3) or not all(isinstance(part, bytes) for part in item):
                raise ValueError(f"a removal is (bucket, key[, object]) of bytes, not {item!r}")

        def build(lookup: _Lookup) -> list[_Op]:
            ops: list[_Op] = []
            dropped: set[tuple[bytes, bytes]] = set()
            for item in wanted:
                bucket, key = item[:2]
                entry = lookup(bucket, key)
                if entry is None or (len(item) == 3 and entry[1] != item[2]) or (bucket, key) in dropped:
                    continue  # not held, changed since, or named twice
                dropped.add((bucket, key))
                record = (REMOVE, bucket, key)
                ops.append((record, frame(codec.encode(record))))
            return ops

        return await self._commit([_Write(build, sync, 0)])

    def _check_writable(self) -> None:
        if not self._loaded:
            raise RuntimeError("load() the store before writing to it")
        if self._broken is not None:
            raise RuntimeError(f"the store stopped writing after a failed write: {self._broken!r}")

    async def _commit(self, writes: list[_Write]) -> int:
        """Queue `writes` and return once they are done: appended, and synced
        if they asked. Whichever caller finds no leader leads: it appends
        everything queued in one write and syncs once for all of it, while
        the others wait (group commit)."""
        self._check_writable()
        self._queue.extend(writes)
        try:
            while any(w.state is not _State.DONE for w in writes):
                self._check_writable()  # a leader's write failed
                if self._leading:
                    await self._progress.wait()
                else:
                    await self._lead(writes)
        except BaseException:
            # Cancelled (or failed) while waiting: what is still queued is not written.
            self._queue = [w for w in self._queue if w not in writes]
            raise
        return sum(len(w.ops) for w in writes)

    async def _lead(self, own: list[_Write]) -> None:
        """Write batches from the queue until the caller's own writes are done."""
        self._leading = True
        batch: list[_Write] = []
        try:
            while any(w.state is not _State.DONE for w in own):
                batch = self._take_batch()
                # A write not done is queued, or appended and awaiting a sync:
                # the leader before this one put back what it did not write.
                assert batch or self._need_sync, "a write is neither queued nor written"
                if batch:
                    async with self._append_lock:  # compaction's roll and snapshot hold it too
                        self._check_writable()
                        await self._write_batch(batch)
                    batch = []
                    self._notify()
                if self._need_sync:
                    waiting, self._need_sync = self._need_sync, []
                    try:
                        await self._sync_active()
                    except BaseException:
                        self._need_sync = waiting + self._need_sync
                        raise
                    for w in waiting:
                        w.state = _State.DONE
                    self._notify()
        finally:
            # A batch never written goes back to the front of the queue for the next leader.
            self._queue[:0] = [w for w in batch if w.state is _State.QUEUED]
            self._leading = False
            self._notify()

    def _take_batch(self) -> list[_Write]:
        """The writes at the head of the queue, up to WRITE_CHUNK_BYTES (at least one)."""
        size = 0
        taken = 0
        for w in self._queue:
            if taken and size + w.size > WRITE_CHUNK_BYTES:
                break
            size += w.size
            taken += 1
        batch, self._queue = self._queue[:taken], self._queue[taken:]
        return batch

    async def _write_batch(self, batch: list[_Write]) -> None:
        """Build the batch's records (each seeing the ones before it), append
        them in one write and apply them; the caller holds the append lock."""
        pending: dict[tuple[bytes, bytes], _Entry | None] = {}

        def lookup(bucket: bytes, key: bytes) -> _Entry | None:
            if (bucket, key) in pending:
                return pending[(bucket, key)]
            return self._keys.get((bucket, key))

        ops: list[_Op] = []
        for w in batch:
            w.ops = w.build(lookup)
            for record, f in w.ops:
                if record[0] == PUT:
                    pending[(record[2], record[3])] = (record[1], record[4], len(f))
                else:
                    pending[(record[1], record[2])] = None
            ops.extend(w.ops)
        if ops:
            try:
                await self._append(b"".join(f for _, f in ops), ops)
            except trio.Cancelled:
                if self._written:
                    self._appended_batch(batch)
                raise
        self._appended_batch(batch)

    def _appended_batch(self, batch: list[_Write]) -> None:
        for w in batch:
            if w.sync and (w.ops or w.barrier):
                w.state = _State.APPENDED
                self._need_sync.append(w)
            else:
                w.state = _State.DONE

    def _notify(self) -> None:
        self._progress.set()
        self._progress = trio.Event()

    async def _append(self, data: bytes, ops: Sequence[_Op]) -> None:
        """Append `data` (the frames of `ops`) to the active file and apply
        `ops` (the caller holds the append lock). `_written` says, when this
        raises Cancelled, whether the bytes went in."""
        self._written = False
        if self._active is None or self._file_bytes[self._active] >= self.file_bytes_max:
            await self._roll()
        await trio.lowlevel.checkpoint_if_cancelled()  # a cancelled (crashed) task writes nothing
        seq = self._active
        assert seq is not None
        try:
            offset = await self.disk.append(log_name(seq), data, sync=False)
        except trio.Cancelled:
            # The bytes are written (see the module docstring), so the key directory takes them.
            self._appended(seq, len(data), ops)
            raise
        except BaseException as exc:
            await self._undo_append(seq, exc)
            raise
        assert offset == self._file_bytes[seq], (offset, self._file_bytes[seq])  # nobody else appends
        self._appended(seq, len(data), ops)

    def _appended(self, seq: int, size: int, ops: Sequence[_Op]) -> None:
        self._written = True
        self._file_bytes[seq] += size
        for record, f in ops:
            self._apply(record, len(f))
            self._counters["puts" if record[0] == PUT else "removes"] += 1
        self._counters["appends"] += 1

    async def _undo_append(self, seq: int, exc: BaseException) -> None:
        """Cut what a failed append may have left half-written; the store
        stops writing either way (what the caller was told is unclear)."""
        self._broken = exc
        await self.disk.truncate(log_name(seq), self._file_bytes[seq])

    async def _roll(self) -> None:
        """Start a new active file (the caller holds the append lock): sync the
        old one, then create the new one with its header, synced, so that no
        record ever sits behind a header that a crash could take away."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._active is not None:
            await self._sync_file(self._active)
        seq = self._next_seq
        header = _header_frame(seq)
        await trio.lowlevel.checkpoint_if_cancelled()
        # Counted before the append: a cancelled append has still written the header.
        self._next_seq += 1
        self._file_bytes[seq] = len(header)
        self._active = seq
        try:
            await self.disk.append(log_name(seq), header, sync=True)
        except trio.Cancelled:
            raise
        except BaseException as exc:
            self._broken = exc  # a file of unknown contents that later appends would follow
            raise
        self._counters["syncs"] += 1

    async def _sync_active(self) -> None:
        """Make everything appended so far durable: the active file is synced
        here, and every earlier one was synced by the roll that left it."""
        async with self._sync_lock:  # compaction replaces and removes files under it
            assert self._active is not None
            await self._sync_file(self._active)

    async def _sync_file(self, seq: int) -> None:
        try:
            await self.disk.append(log_name(seq), b"", sync=True)
        except trio.Cancelled:
            raise
        except BaseException as exc:
            # After a failed fsync the kernel may have dropped the dirty pages:
            # what the log holds is unknown, so nothing more is written (as
            # PostgreSQL panics on one).
            self._broken = exc
            raise
        self._counters["syncs"] += 1

    # -- compaction ------------------------------------------------------------------------

    async def compact(self, *, force: bool = False) -> bool:
        """Rewrite the live copies into one file and drop the old files, if
        `compaction_due()` (or `force`); puts go on meanwhile. True if it ran."""
        self._check_writable()
        if not force and not self.compaction_due():
            return False
        async with self._compact_lock:
            async with self._append_lock:
                self._check_writable()
                if self._active is None:
                    return False  # nothing was ever written
                base_seq = self._active
                await self._roll()
                # The state as of file base_seq's end; later writes go to later files.
                snapshot = [(p, b, k, o) for (b, k), (p, o, _) in self._keys.items()]
            for name in await self.disk.names():
                if seq_of(name, COMPACTING_SUFFIX) is not None:
                    await self.disk.remove(name)  # an earlier attempt that failed part-way
            tmp = compacting_name(base_seq)
            pending = [frame(codec.encode((HEADER, base_seq, True)))]
            pending_bytes = len(pending[0])
            written = 0
            for partition, bucket, key, obj in snapshot:
                f = frame(codec.encode((PUT, partition, bucket, key, obj)))
                pending.append(f)
                pending_bytes += len(f)
                if pending_bytes >= WRITE_CHUNK_BYTES:
                    await trio.lowlevel.checkpoint_if_cancelled()  # as in _append: a dead node writes nothing
                    await self.disk.append(tmp, b"".join(pending), sync=False)
                    await trio.sleep(0)  # puts go on between chunks, even on a disk that never waits
                    written += pending_bytes
                    pending, pending_bytes = [], 0
            if pending:
                await trio.lowlevel.checkpoint_if_cancelled()
                await self.disk.append(tmp, b"".join(pending), sync=False)
                written += pending_bytes
            # No sync may run on a file while it is replaced or removed (it
            # would bring a removed name back on an OsDisk).
            async with self._sync_lock:
                await trio.lowlevel.checkpoint_if_cancelled()
                await self.disk.replace(tmp, log_name(base_seq))
                self._file_bytes[base_seq] = written
                for seq in sorted(self._file_bytes):
                    if seq < base_seq:
                        await self.disk.remove(log_name(seq))
                        del self._file_bytes[seq]
            self._counters["compactions"] += 1
            return True

    # -- metadata --------------------------------------------------------------------------

    async def save_meta(self, data: bytes) -> None:
        """Replace the metadata slot with `data`, durably and atomically."""
        check_bytes("metadata", data, META_BYTES_MAX)
        async with self._meta_lock:
            if META_TMP_NAME in await self.disk.names():
                await self.disk.remove(META_TMP_NAME)
            await self.disk.append(META_TMP_NAME, frame(data), sync=False)
            await self.disk.replace(META_TMP_NAME, META_NAME)

    async def load_meta(self) -> bytes | None:
        """The metadata last saved, or None if none ever was; CorruptStore if damaged."""
        if META_NAME not in await self.disk.names():
            return None
        raw = await self.disk.read(META_NAME)
        body = unframe(raw)
        if body is not None:
            return body
        raise CorruptStore(f"{META_NAME}: the metadata slot is damaged ({len(raw)} bytes)")


def _header_frame(seq: int) -> bytes:
    return frame(codec.encode((HEADER, seq, False)))


def _chunks(ops: list[_Op]) -> Iterable[list[_Op]]:
    """`ops` in runs of about WRITE_CHUNK_BYTES (a bigger op alone)."""
    chunk: list[_Op] = []
    size = 0
    for op in ops:
        if chunk and size + len(op[1]) > WRITE_CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(op)
        size += len(op[1])
    if chunk:
        yield chunk
