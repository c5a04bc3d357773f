"""A shard replica's versions in LMDB: the on-disk engine behind `VersionStore`'s interface.

Issue 14 moves storage nodes' versions out of Python dicts into an embedded
ordered key-value engine, so a node holds more than memory and restarts
without loading anything. bench/storage_engines.py chose LMDB (reads 3x
faster from Python than RocksDB, reopen in no time). This module is the
engine: the same operations as `storage.mvcc.VersionStore`, with the same
answers (tests/test_storage_engines.py runs one suite over both). A storage
node keeps all its stores in one environment and writes through one long
write transaction that storage/lmdb_engine.py commits with the node's
journal positions (`engine=`); standing alone, a store writes in its own
transactions.

Layout, one LMDB database per store:

  escaped(key) 0x00 0x01  (2^64 - 1 - τ) big-endian  ->  codec.encode(value)

`escaped` doubles every 0x00 as 0x00 0xFF, so with its terminator it keeps
keys' byte order and no key's entries interleave with another's; the
inverted τ puts a key's newest version first, so "the newest version at or
below τ" is one cursor seek. A value of None (encoded as msgpack nil) is a
deletion, as in VersionStore.

LMDB keys are at most 511 bytes, and DynamoDB's keys reach 3 KB (PostgreSQL's
a few KB). A key whose escaped form is longer than `_LONG` bytes lives in a
bucket instead: one entry at `P 0x00 0x02`, P being the key's first `_LONG`
escaped bytes (one fewer if that would split an escaped 0x00), whose value
holds every long key of that prefix with its versions, sorted. The bucket
sits where its keys sort: after the entries of a key whose escaped form is P
itself, before those of any key whose escaped form is P followed by a byte
(0x00 only ever starts an escape or a terminator, so the marker's 0x02 never
meets a real one). Long keys are rare and buckets small; every operation
that meets a bucket reads or rewrites it whole.

Standing alone, writes go in the caller's batch (`with store.batch():`, one
LMDB write transaction) or one transaction each; reads see the open batch's
writes. With an engine, every read and write goes through the engine's open
transaction, and the engine decides when it commits.
"""

from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any, Protocol

import lmdb

from cluster import codec
from storage.garbage import GarbageQueue

Version = tuple[int, Any]

_TERMINATOR = b"\x00\x01"
_TAU = struct.Struct(">Q")
_TAU_MAX = (1 << 64) - 1
_OLDEST = b"\xff" * 8  # the inverted τ of τ 0: after every entry of a key
_NIL = codec.encode(None)
# Escaped keys longer than this go in buckets (an entry is escaped key + 2 + 8 bytes ≤ 511).
_LONG = 400
_BUCKET = b"\x00\x02"


def encode_key(key: bytes) -> bytes:
    """The key's prefix of every version entry (order-preserving)."""
    return key.replace(b"\x00", b"\x00\xff") + _TERMINATOR


def decode_key(prefix: bytes) -> bytes:
    return prefix[:-2].replace(b"\x00\xff", b"\x00")


def _entry(key_prefix: bytes, tau: int) -> bytes:
    return key_prefix + _TAU.pack(_TAU_MAX - tau)


def _split(entry: bytes) -> tuple[bytes, int]:
    """(encoded key prefix, τ) of an entry key."""
    return entry[:-8], _TAU_MAX - _TAU.unpack_from(entry, len(entry) - 8)[0]


def _value(raw: bytes) -> Any:
    return None if raw == _NIL else codec.decode(raw)


def _bucket_key(escaped: bytes) -> bytes:
    """The bucket entry of a key whose escaped form is longer than `_LONG` bytes."""
    cut = _LONG - 1 if escaped[_LONG - 1] == 0 else _LONG  # never split an escaped 0x00
    return escaped[:cut] + _BUCKET


def _is_bucket(entry: bytes) -> bool:
    """A version entry ends in terminator + 8 bytes of τ; a bucket's never does (its
    prefix holds 0x00 only before 0xFF)."""
    return entry[-10:-8] != _TERMINATOR


def _bucket_items(raw: bytes | None) -> list[tuple[bytes, list[tuple[int, bytes]]]]:
    """A bucket's (key, [(τ, raw value), ...] newest first), sorted by key."""
    if raw is None:
        return []
    return [(key, [tuple(v) for v in chain]) for key, chain in codec.decode(raw)]  # type: ignore[misc]


class TransactionSource(Protocol):
    """What owns the write transaction every store of a node goes through."""

    @property
    def txn(self) -> lmdb.Transaction: ...


class LmdbVersionStore:
    """One shard replica's versions in one database of an LMDB environment."""

    def __init__(
        self,
        env: lmdb.Environment,
        name: bytes,
        *,
        filling: bool = False,
        floor: int = 0,
        engine: TransactionSource | None = None,
        key_count: int | None = None,
        bucket_extra: int | None = None,
    ) -> None:
        """`key_count`, `bucket_extra`: how many keys the store holds and how many more
        versions than entries its buckets hold, as last recorded (None: counted now)."""
        self.env = env
        self.name = name
        self._engine = engine
        self.db = env.open_db(name, txn=engine.txn if engine is not None else None)
        self.gc_horizon = 0
        self.filling = filling  # as VersionStore's (a replica being copied keeps deletions)
        self.floor = floor
        self.durable = True
        self._txn: lmdb.Transaction | None = None
        self._cursor_txn: lmdb.Transaction | None = None
        self._cached_cursor: lmdb.Cursor | None = None
        # Kept as keys come and go, so that a node's status does not walk millions of keys.
        self.key_count = 0
        self.bucket_extra = 0
        if key_count is None or bucket_extra is None:
            self._recount()
        else:
            self.key_count, self.bucket_extra = key_count, bucket_extra
        # Keys with versions to collect once the horizon passes them (storage/garbage.py);
        # what the store held when opened is owed to one full sweep.
        self.garbage = GarbageQueue(untracked=self.key_count > 0)
        # The halves of split shards share their store: the count is kept per piece
        # between these cuts too (`cut`, `count_between`), so a half's size is known
        # without walking it. Empty: one piece, `key_count`.
        self._cuts: list[bytes] = []
        self._cut_counts: list[int] = []

    # -- counts per piece (split shards sharing the store) ----------------------------------

    def cut(self, key: bytes, below: int | None = None) -> None:
        """Keep the count of keys below and from `key` apart from here on. `below`:
        the keys of the piece being cut that are below `key`, if known; else half
        the piece's (a split point is its shard's middle key, `middle_key`)."""
        if not self._cuts:
            self._cut_counts = [self.key_count]
        i = bisect_right(self._cuts, key)
        if i and self._cuts[i - 1] == key:
            return
        whole = self._cut_counts[i]
        lower = whole // 2 if below is None else max(0, min(whole, below))
        self._cuts.insert(i, key)
        self._cut_counts[i : i + 1] = [lower, whole - lower]

    def cuts(self) -> tuple[list[bytes], list[int]]:
        """The cuts and the count of each piece, to be recorded with the node's state."""
        return list(self._cuts), list(self._cut_counts)

    def restore_cuts(self, cuts: list[bytes], counts: list[int]) -> None:
        assert len(counts) == len(cuts) + 1 and sum(counts) == self.key_count, "cut counts must add up"
        self._cuts, self._cut_counts = list(cuts), list(counts)

    def count_between(self, lo: bytes, hi: bytes | None) -> int | None:
        """The keys of [lo, hi) from the counts kept, or None if `lo` or `hi` falls
        inside a piece (the count would need a walk). The store is taken to hold no
        key below its first cut's piece other than [lo, ...) when `lo` is below every
        cut: the caller's range is the lowest user of the store."""
        cuts = self._cuts
        if not cuts:
            return self.key_count
        first = bisect_right(cuts, lo)
        if first and cuts[first - 1] != lo:
            return None
        last = len(cuts) if hi is None else bisect_left(cuts, hi)
        if hi is not None and last < len(cuts) and cuts[last] != hi:
            return None
        return sum(self._cut_counts[first : last + 1])

    def _recount(self) -> None:
        with self._read() as txn:
            self.key_count = sum(1 for _ in self._chains(txn, b"", None, False))
            self.bucket_extra = sum(
                len(chain) for entry, raw in txn.cursor(db=self.db) if _is_bucket(entry)
                for _, chain in _bucket_items(raw)
            ) - sum(1 for entry in txn.cursor(db=self.db).iternext(values=False) if _is_bucket(entry))

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Every write inside is one LMDB write transaction, committed at the end
        (with an engine: its transaction, committed when the engine commits)."""
        if self._txn is not None or self._engine is not None:
            yield
            return
        self._txn = self.env.begin(db=self.db, write=True)
        try:
            yield
        except BaseException:
            self._txn.abort()
            self._txn = None
            self._recount()  # as it was before the batch
            raise
        else:
            self._txn.commit()
        finally:
            self._txn = None

    def _open_txn(self) -> lmdb.Transaction | None:
        """The transaction every call goes through, if one is open (the engine's or a batch's)."""
        if self._engine is not None:
            return self._engine.txn
        return self._txn

    @contextmanager
    def _write(self) -> Iterator[lmdb.Transaction]:
        txn = self._open_txn()
        if txn is not None:
            yield txn
            return
        with self.env.begin(db=self.db, write=True) as txn:
            yield txn

    @contextmanager
    def _read(self) -> Iterator[lmdb.Transaction]:
        txn = self._open_txn()
        if txn is not None:
            yield txn
            return
        with self.env.begin(db=self.db) as txn:
            yield txn

    def _cursor(self) -> lmdb.Cursor | None:
        """With an engine, this store's cursor in the engine's transaction, made once per
        transaction (LMDB keeps a write transaction's cursors valid through its writes)."""
        engine = self._engine
        if engine is None:
            return None
        txn = engine._txn  # the engine's open transaction, without the property's call
        if txn is None or txn is not self._cursor_txn:
            txn = self._cursor_txn = engine.txn
            self._cached_cursor = txn.cursor(db=self.db)
        return self._cached_cursor

    def destroy(self) -> None:
        """Remove the store's database with everything in it (a replica no shard uses any more)."""
        with self._write() as txn:
            txn.drop(self.db, delete=True)

    # -- sizes ------------------------------------------------------------------------------

    @property
    def version_count(self) -> int:
        with self._read() as txn:
            return txn.stat(self.db)["entries"] + self.bucket_extra

    def __len__(self) -> int:
        return self.key_count

    # -- one key's versions -------------------------------------------------------------------

    def _chain(self, txn: lmdb.Transaction, key: bytes) -> list[tuple[int, bytes]]:
        """A key's versions (τ, raw value), newest first."""
        escaped = key.replace(b"\x00", b"\x00\xff")
        if len(escaped) > _LONG:
            return self._long_chain(txn, escaped, key)
        prefix = escaped + _TERMINATOR
        cursor = txn.cursor(db=self.db)
        chain = []
        if cursor.set_range(prefix):
            for entry, raw in cursor:
                if not entry.startswith(prefix):
                    break
                chain.append((_TAU_MAX - _TAU.unpack_from(entry, len(prefix))[0], raw))
        return chain

    def _set_chain(self, txn: lmdb.Transaction, key: bytes, old: list[tuple[int, bytes]],
                   new: list[tuple[int, bytes]]) -> None:
        """Replace a key's versions `old` by `new` (newest first; none: the key goes)."""
        escaped = key.replace(b"\x00", b"\x00\xff")
        if len(escaped) > _LONG:
            self._set_long_chain(txn, escaped, key, new)
        else:
            prefix = escaped + _TERMINATOR
            kept = set(new)
            for version in old:
                if version not in kept:
                    txn.delete(_entry(prefix, version[0]), db=self.db)
            present = set(old)
            for version in new:
                if version not in present:
                    txn.put(_entry(prefix, version[0]), version[1], db=self.db)
        delta = (1 if new else 0) - (1 if old else 0)
        if delta:
            self.key_count += delta
            if self._cuts:
                self._cut_counts[bisect_right(self._cuts, key)] += delta

    def _long_chain(self, txn: lmdb.Transaction, escaped: bytes, key: bytes) -> list[tuple[int, bytes]]:
        for other, chain in _bucket_items(txn.get(_bucket_key(escaped), db=self.db)):
            if other == key:
                return chain
        return []

    def _set_long_chain(self, txn: lmdb.Transaction, escaped: bytes, key: bytes,
                        chain: list[tuple[int, bytes]]) -> None:
        bucket = _bucket_key(escaped)
        items = _bucket_items(txn.get(bucket, db=self.db))
        before = sum(len(c) for _, c in items) - 1 if items else 0
        items = [(other, c) for other, c in items if other != key]
        if chain:
            items.append((key, chain))
            items.sort(key=lambda item: item[0])
        self.bucket_extra += (sum(len(c) for _, c in items) - 1 if items else 0) - before
        if items:
            txn.put(bucket, codec.encode(items), db=self.db)
        else:
            txn.delete(bucket, db=self.db)

    def _survivors(self, chain: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """What collection keeps of a key's versions (newest first): nothing older than
        its newest version at or below the GC horizon, and not that one either if it is
        a deletion with nothing newer (as VersionStore does)."""
        horizon = self.gc_horizon
        below = next((i for i, (tau, _) in enumerate(chain) if tau <= horizon), None)
        if below is None:
            return chain
        if below == 0 and chain[0][1] == _NIL:
            return []
        return chain[: below + 1]

    # -- writes ---------------------------------------------------------------------------

    def apply(self, key: bytes, tau: int, value: Any) -> None:
        self.apply_encoded(key, tau, codec.encode(value))

    def apply_encoded(self, key: bytes, tau: int, raw: bytes) -> None:
        """`apply` of a value still in its wire encoding (as a journal record
        carries it): stored as it is, never decoded here."""
        escaped = key.replace(b"\x00", b"\x00\xff")
        cursor = self._cursor()
        if cursor is not None and len(escaped) <= _LONG:  # a storage node's writes: C calls on one cursor
            prefix = escaped + _TERMINATOR
            if not (cursor.set_range(prefix) and cursor.key().startswith(prefix)):
                if raw == _NIL and not self.filling:
                    return  # nothing older to hide: no tombstone needed
                cursor.put(prefix + _TAU.pack(_TAU_MAX - tau), raw)
                self.key_count += 1
                if self._cuts:
                    self._cut_counts[bisect_right(self._cuts, key)] += 1
                return
            cursor.put(prefix + _TAU.pack(_TAU_MAX - tau), raw)
            self.garbage.add(tau, key)
            # As VersionStore: collect once the key's oldest version is at or below the
            # horizon. Its oldest entry is the last one (τ inverted): just before where
            # the entry of τ 0 would go.
            positioned = cursor.prev() if cursor.set_range(prefix + _OLDEST) else cursor.last()
            if positioned and _TAU_MAX - _TAU.unpack_from(cursor.key(), len(prefix))[0] <= self.gc_horizon:
                self._collect(self._engine.txn, key)  # type: ignore[union-attr]
            return
        with self._write() as txn:
            old = self._chain(txn, key)
            if not old and raw == _NIL and not self.filling:
                return  # nothing older to hide: no tombstone needed
            if old:
                self.garbage.add(tau, key)
            new = sorted([*old, (tau, raw)], reverse=True)
            if len(new) > 1 and new[-1][0] <= self.gc_horizon:
                new = self._survivors(new)
            self._set_chain(txn, key, old, new)

    def _collect(self, txn: lmdb.Transaction, key: bytes) -> None:
        """Drop the versions of one key that no snapshot at or above the GC horizon reads."""
        chain = self._chain(txn, key)
        kept = self._survivors(chain)
        if len(kept) != len(chain):
            self._set_chain(txn, key, chain, kept)

    def collect_keys(self, keys: list[bytes]) -> None:
        """Collect these keys' versions (those `GarbageQueue.ready` gave)."""
        with self._write() as txn:
            for key in keys:
                self._collect(txn, key)

    def collect_all(self) -> None:
        after = None
        while (after := self.collect_some(after, 1 << 62)) is not None:
            pass

    def collect_some(self, after: bytes | None, count: int) -> bytes | None:
        """Sweep up to `count` keys past `after`. The walk reads only entry keys (and a
        lone version's value, to see a deletion): most keys hold one live version and
        cost a slice and a compare; only those with something to drop are collected."""
        horizon = self.gc_horizon
        doomed: list[bytes] = []  # keys with versions to drop
        seen = 0
        last_encoded = b""  # the last key counted: its encoded prefix, or
        last_long: bytes | None = None  # itself, if it was a bucket's
        with self._write() as txn:
            cursor = txn.cursor(db=self.db)
            if cursor.set_range(b"" if after is None else _position(after)):
                current = b""  # the encoded key being walked
                entries = 0
                oldest = 0
                lone_deletion = False
                for entry in cursor.iternext(values=False):
                    if _is_bucket(entry):
                        for key, chain in _bucket_items(cursor.value()):
                            if after is not None and key <= after:
                                continue
                            if current:
                                if entries and oldest <= horizon and (entries > 1 or lone_deletion):
                                    doomed.append(decode_key(current))
                                current, entries = b"", 0
                            if seen == count:
                                break
                            seen += 1
                            last_encoded, last_long = b"", key
                            if self._survivors(chain) != chain:
                                doomed.append(key)
                        if seen == count:
                            break
                        continue
                    cut = len(entry) - 8
                    if entry[:cut] != current:
                        if current and entries and oldest <= horizon and (entries > 1 or lone_deletion):
                            doomed.append(decode_key(current))
                        key_prefix = entry[:cut]
                        if after is not None and decode_key(key_prefix) == after:
                            current, entries = b"", 0
                            continue
                        if seen == count:
                            current, entries = b"", 0
                            break
                        seen += 1
                        current, entries = key_prefix, 0
                        last_encoded, last_long = key_prefix, None
                        lone_deletion = cursor.value() == _NIL
                    elif not current:
                        continue  # more entries of `after` itself
                    entries += 1
                    oldest = _TAU_MAX - _TAU.unpack_from(entry, cut)[0]
                    if entries > 1:
                        lone_deletion = False
                if current and entries and oldest <= horizon and (entries > 1 or lone_deletion):
                    doomed.append(decode_key(current))
            for key in doomed:
                self._collect(txn, key)
        if seen < count:
            return None
        return last_long if last_long is not None else decode_key(last_encoded)

    def drop_range(self, start: bytes, end: bytes, count: int) -> bool:
        keys = self._keys_in(start, end, count)
        with self._write() as txn:
            for key in keys:
                self._set_chain(txn, key, self._chain(txn, key), [])
        return len(keys) < count

    def merge_older(self, key: bytes, older: tuple[Version, ...]) -> None:
        self.garbage.untracked = True
        self._put_chain(key, older)

    def load(self, items) -> None:
        self.garbage.untracked = True
        for key, tau, value in items:
            self._put_chain(key, ((tau, value),))

    def load_versions(self, versions: dict[bytes, tuple[Version, ...]]) -> None:
        self.garbage.untracked = True
        for key, chain in versions.items():
            self._put_chain(key, chain)

    def _put_chain(self, key: bytes, versions: tuple[Version, ...]) -> None:
        if not versions:
            return
        with self._write() as txn:
            old = self._chain(txn, key)
            new = sorted({*old, *((tau, codec.encode(value)) for tau, value in versions)}, reverse=True)
            self._set_chain(txn, key, old, new)

    # -- reads ----------------------------------------------------------------------------

    def get(self, key: bytes, tau: int) -> Any:
        escaped = key.replace(b"\x00", b"\x00\xff")
        cursor = self._cursor()
        if cursor is None or len(escaped) > _LONG:
            with self._read() as txn:
                for version_tau, raw in self._chain(txn, key):
                    if version_tau <= tau:
                        return _value(raw)
                return None
        # A storage node's reads, inlined: the newest version at or below τ is one seek.
        prefix = escaped + _TERMINATOR
        if cursor.set_range(prefix + _TAU.pack(_TAU_MAX - tau)) and cursor.key().startswith(prefix):
            raw = cursor.value()
            return None if raw == _NIL else codec.decode(raw)
        return None

    def newer_than(self, key: bytes, tau: int) -> bool:
        escaped = key.replace(b"\x00", b"\x00\xff")
        cursor = self._cursor()
        if cursor is not None and len(escaped) <= _LONG:
            return _has_newer(cursor, escaped + _TERMINATOR, tau)
        with self._read() as txn:
            chain = self._chain(txn, key)
            return bool(chain) and chain[0][0] > tau

    def scan(
        self,
        start: bytes,
        end: bytes | None,
        tau: int,
        *,
        limit: int = 0,
        reverse: bool = False,
        keep: Callable[[Any], bool] | None = None,
        newer: list[bytes] | None = None,
        examine: int = 0,
    ) -> tuple[list[tuple[bytes, Any]], bytes | None]:
        """As VersionStore.scan: live pairs of [start, end) as of τ, paged."""
        if not reverse:
            cursor = self._cursor()
            if cursor is not None:
                return self._scan_forward(cursor, start, end, tau, limit, keep, newer, examine)
            with self._read() as txn:
                return self._scan_forward(txn.cursor(db=self.db), start, end, tau, limit, keep, newer, examine)
        out: list[tuple[bytes, Any]] = []
        examined = 0
        last: bytes | None = None
        with self._read() as txn:
            for key, chain in self._chains(txn, start, end, reverse):
                if examined == examine and examine:
                    return out, last
                examined += 1
                last = key
                value = None
                for version_tau, raw in chain:  # newest first
                    if version_tau <= tau:
                        value = _value(raw)
                        break
                if value is None or (keep is not None and not keep(value)):
                    continue
                if newer is not None and chain[0][0] > tau:
                    newer.append(key)
                out.append((key, value))
                if limit and len(out) >= limit:
                    return out, key
        return out, None

    def _scan_forward(
        self,
        cursor: lmdb.Cursor,
        start: bytes,
        end: bytes | None,
        tau: int,
        limit: int,
        keep: Callable[[Any], bool] | None,
        newer: list[bytes] | None,
        examine: int,
    ) -> tuple[list[tuple[bytes, Any]], bytes | None]:
        """`scan` forwards, entry by entry on one cursor (the scan of every table read and
        index build): a key's versions come newest first, so its version as of τ is the
        first entry whose inverted τ is at or above τ's; the rest of its entries are passed.
        A bucket's long keys are taken as they come, each whole."""
        out: list[tuple[bytes, Any]] = []
        if not cursor.set_range(_position(start)):
            return out, None
        end_prefix = None if end is None else encode_key(end)
        inverted = _TAU_MAX - tau
        unpack = _TAU.unpack_from
        decode = codec.decode
        examined = 0
        current = b""  # the encoded key being walked ("" before the first: no key encodes to it)
        last_long: bytes | None = None  # the last key looked at, when it was a bucket's
        taken = False  # its version as of τ is found (or passed)
        newest_after = False  # its newest version is after τ
        for entry, raw in cursor.iternext():
            cut = len(entry) - 8
            if entry[cut - 2 : cut] != _TERMINATOR:  # a bucket of long keys
                for key, chain in _bucket_items(raw):
                    if key < start:
                        continue
                    if end is not None and key >= end:
                        return out, None
                    if examined == examine and examine:
                        return out, (decode_key(current) if last_long is None else last_long)
                    examined += 1
                    last_long = key
                    version = next((v for v in chain if v[0] <= tau), None)
                    if version is None or version[1] == _NIL:
                        continue
                    value = decode(version[1])
                    if keep is not None and not keep(value):
                        continue
                    if newer is not None and chain[0][0] > tau:
                        newer.append(key)
                    out.append((key, value))
                    if limit and len(out) >= limit:
                        return out, key
                current = b""
                continue
            if entry[:cut] != current:
                if end_prefix is not None and entry[:cut] >= end_prefix:
                    break
                if examined == examine and examine:
                    return out, (decode_key(current) if last_long is None else last_long)
                examined += 1
                current = entry[:cut]
                last_long = None
                taken = False
                newest_after = unpack(entry, cut)[0] < inverted
            if taken or unpack(entry, cut)[0] < inverted:
                continue
            taken = True
            if raw == _NIL:
                continue
            value = decode(raw)
            if keep is not None and not keep(value):
                continue
            key = decode_key(current)
            if newer is not None and newest_after:
                newer.append(key)
            out.append((key, value))
            if limit and len(out) >= limit:
                return out, key
        return out, None

    def latest_items(self) -> Iterator[tuple[bytes, int, Any]]:
        with self._read() as txn:
            for key, chain in self._chains(txn, b"", None, False):
                tau, raw = chain[0]
                if raw != _NIL:
                    yield key, tau, _value(raw)

    def items_as_of(
        self, tau: int, after: bytes | None, count: int
    ) -> tuple[list[tuple[bytes, int, Any]], bytes | None]:
        out = []
        seen = 0
        with self._read() as txn:
            for key, chain in self._chains(txn, b"" if after is None else after, None, False):
                if after is not None and key == after:
                    continue
                seen += 1
                for version_tau, raw in chain:
                    if version_tau <= tau:
                        if raw != _NIL:
                            out.append((key, version_tau, _value(raw)))
                        break
                if seen == count:
                    return out, key
        return out, None

    def count_range(self, lo: bytes = b"", hi: bytes | None = None) -> int:
        with self._read() as txn:
            return sum(1 for _ in self._chains(txn, lo, hi, False))

    def middle_key(self, lo: bytes = b"", hi: bytes | None = None) -> bytes | None:
        total = self.count_range(lo, hi)
        if total < 2:
            return None
        with self._read() as txn:
            for i, (key, _) in enumerate(self._chains(txn, lo, hi, False)):
                if i == total // 2:
                    return key
        return None

    def chains_as_of(
        self, tau: int, after: bytes | None, count: int, lo: bytes = b"", hi: bytes | None = None
    ) -> tuple[list[tuple[bytes, tuple[Version, ...]]], bytes | None]:
        out = []
        seen = 0
        start = lo if after is None else max(lo, after)
        with self._read() as txn:
            chains = self._chains(txn, start, hi, False)
            for key, chain in chains:
                if after is not None and key <= after:
                    continue
                seen += 1
                versions = tuple((t, _value(raw)) for t, raw in reversed(chain) if t <= tau)
                if versions and not (len(versions) == 1 and versions[0][1] is None):
                    out.append((key, versions))
                if seen == count:
                    more = next(chains, None) is not None
                    return out, (key if more else None)
        return out, None

    # -- walking keys ---------------------------------------------------------------------

    def _keys_after(self, after: bytes | None, count: int) -> list[bytes]:
        keys = []
        with self._read() as txn:
            for key, _ in self._chains(txn, b"" if after is None else after, None, False):
                if after is not None and key == after:
                    continue
                keys.append(key)
                if len(keys) == count:
                    break
        return keys

    def entry_past(self, position: bytes | None, lo: bytes, skip: int) -> tuple[bytes | None, bytes | None]:
        """(entry, key) of the version entry `skip` entries past the first at or after `position`
        (an entry key; None: `lo`'s first), all in C: no key is decoded on the way. The key is
        None where the entry is a bucket's (long keys), and both are None past the last entry.

        With one version a key, the entry `n` past `lo`'s first is the key of rank `n`; with
        more, it is a key of lower rank (a split point's walk takes it as near enough)."""
        with self._read() as txn:
            cursor = txn.cursor(db=self.db)
            if not cursor.set_range(_position(lo) if position is None else position):
                return None, None
            entry = next(islice(cursor.iternext(keys=True, values=False), skip, None), None)
        if entry is None:
            return None, None
        return entry, (None if _is_bucket(entry) else decode_key(_split(entry)[0]))

    def _keys_in(self, start: bytes, end: bytes, count: int) -> list[bytes]:
        keys = []
        with self._read() as txn:
            for key, _ in self._chains(txn, start, end, False):
                keys.append(key)
                if len(keys) == count:
                    break
        return keys

    def _chains(
        self, txn: lmdb.Transaction, start: bytes, end: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, list[tuple[int, bytes]]]]:
        """Each key of [start, end) with its versions (τ, raw value), newest first."""
        cursor = txn.cursor(db=self.db)
        start_prefix = encode_key(start)
        end_prefix = None if end is None else encode_key(end)
        current: bytes | None = None
        chain: list[tuple[int, bytes]] = []
        if not reverse:
            if not cursor.set_range(_position(start)):
                return
            for entry, raw in cursor:
                if _is_bucket(entry):
                    if current is not None:
                        yield decode_key(current), chain
                        current, chain = None, []
                    for key, long_chain in _bucket_items(raw):
                        if end is not None and key >= end:
                            return
                        if key >= start:
                            yield key, long_chain
                    continue
                prefix, tau = _split(entry)
                if end_prefix is not None and prefix >= end_prefix:
                    break
                if prefix != current:
                    if current is not None:
                        yield decode_key(current), chain
                    current, chain = prefix, []
                chain.append((tau, raw))
            if current is not None:
                yield decode_key(current), chain
            return
        # Backwards: entries of a key come oldest first; a key is whole when the prefix
        # changes. The walk starts at the last entry before `end`'s place, or at its
        # bucket when `end` is a long key (the bucket may hold keys before it).
        if end is None:
            positioned = cursor.last()
        else:
            position = _position(end)
            if cursor.set_range(position):
                positioned = True if cursor.key() == position and _is_bucket(position) else cursor.prev()
            else:
                positioned = cursor.last()
        while positioned:
            entry = cursor.key()
            if _is_bucket(entry):
                if current is not None:
                    yield decode_key(current), chain
                    current, chain = None, []
                for key, long_chain in reversed(_bucket_items(cursor.value())):
                    if key < start:
                        return
                    if end is None or key < end:
                        yield key, long_chain
            else:
                prefix, tau = _split(entry)
                if prefix < start_prefix:
                    break
                if prefix != current:
                    if current is not None:
                        yield decode_key(current), chain
                    current, chain = prefix, []
                chain.insert(0, (tau, cursor.value()))
            positioned = cursor.prev()
        if current is not None:
            yield decode_key(current), chain


def _position(key: bytes) -> bytes:
    """Where a cursor goes to find `key` or what follows it: its entries' prefix, or its
    bucket if it is a long key."""
    escaped = key.replace(b"\x00", b"\x00\xff")
    return _bucket_key(escaped) if len(escaped) > _LONG else escaped + _TERMINATOR



def _has_newer(cursor: lmdb.Cursor, prefix: bytes, tau: int) -> bool:
    """Whether the key has a version after τ (its newest entry comes first)."""
    if not cursor.set_range(prefix):
        return False
    entry = cursor.key()
    if not (entry.startswith(prefix) and len(entry) == len(prefix) + 8):
        return False
    return _split(entry)[1] > tau


def open_environment(
    path: str, *, map_size: int = 1 << 40, max_stores: int = 1024, sync: bool = True
) -> lmdb.Environment:
    """An LMDB environment for a node's stores. `metasync=False`: the journal makes
    commits durable, the engine only needs to stay consistent through a crash."""
    return lmdb.open(path, map_size=map_size, max_dbs=max_stores, sync=sync, metasync=False, readahead=False)
