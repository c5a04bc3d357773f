"""Multi-version key-value store of one shard replica.

Every key holds its committed versions as (τ_commit, value) in ascending τ;
a value of None is a deletion. A read as of τ returns the newest version at
or below τ. Versions arrive in τ order from each journal, and mostly in τ
order overall, so `apply` appends in the common case and inserts otherwise.

Old versions are collected as they are superseded: once a key has a version
at or below the GC horizon (the oldest τ any live transaction may still read
at, i.e. the watermark minus the maximum transaction age), every older version
is unreachable and is dropped. Transactions are capped at five minutes, which
is what makes this simple rule enough (no VACUUM, as in DSQL).

A key's versions are a tuple, replaced on every change, not a list: a store
holds millions of keys, and Python's cycle collector walks every container it
tracks on each full collection (a list always, a tuple of untracked values
not), which paused a server holding two million rows for seconds at a time.

Filters pushed down by the QP are small trees evaluated here so that rows a
query will discard never cross the transport:
  ("and", f, ...), ("or", f, ...), ("not", f),
  ("cmp", op, column_index, constant)   op in = <> < <= > >=
  ("null", column_index), ("notnull", column_index)
with SQL's three-valued logic (a row passes only when the filter is TRUE).
The QP pushes down only comparisons whose Python order equals SQL's order
for the column's type.
"""

from __future__ import annotations

import itertools
import operator
from bisect import bisect_right
from collections.abc import Callable, Iterator
from typing import Any

from sortedcontainers import SortedDict

from cluster import codec
from storage.garbage import GarbageQueue

Version = tuple[int, Any]


class VersionStore:
    def __init__(self, *, filling: bool = False, floor: int = 0) -> None:
        self._versions: SortedDict = SortedDict()
        self.gc_horizon = 0
        self.version_count = 0
        # A replica being copied from another (storage/placement.py) applies
        # newer records while older versions are still arriving: until the copy
        # is done it keeps deletions of keys it has no version of yet, since an
        # older version may come after them.
        self.filling = filling
        # Reads as of a τ below this are refused: the versions before it are not
        # here (a store loaded from a checkpoint holds each key as of the cut).
        self.floor = floor
        # False while a copied replica exists only in memory: the journal can
        # replay what came after the copy's τ, not what came before, so until a
        # checkpoint holds it a crash loses it (storage/node.py).
        self.durable = True
        # Keys with versions to collect once the horizon passes them (storage/garbage.py).
        self.garbage = GarbageQueue()

    def __len__(self) -> int:
        return len(self._versions)

    def apply_encoded(self, key: bytes, tau: int, raw: bytes) -> None:
        """`apply` of a value still in its wire encoding (as a journal record carries it)."""
        self.apply(key, tau, codec.decode(raw))

    def apply(self, key: bytes, tau: int, value: Any) -> None:
        versions = self._versions.get(key)
        if versions is None:
            if value is None and not self.filling:
                # Deleting a key with no versions here: no older version needs
                # hiding, so no tombstone is needed.
                return
            self._versions[key] = ((tau, value),)
            self.version_count += 1
            return
        self.garbage.add(tau, key)
        if tau >= versions[-1][0]:
            versions = (*versions, (tau, value))
        else:
            at = bisect_right(versions, tau, key=lambda v: v[0])
            versions = (*versions[:at], (tau, value), *versions[at:])
        self._versions[key] = versions
        self.version_count += 1
        if versions[0][0] <= self.gc_horizon and len(versions) > 1:
            self._collect(key, versions)

    def _collect(self, key: bytes, versions: tuple[Version, ...]) -> None:
        horizon = self.gc_horizon
        keep_from = 0
        for i in range(1, len(versions)):
            if versions[i][0] <= horizon:
                keep_from = i
            else:
                break
        if keep_from:
            versions = versions[keep_from:]
            self._versions[key] = versions
            self.version_count -= keep_from
        if len(versions) == 1 and versions[0][1] is None and versions[0][0] <= horizon:
            del self._versions[key]
            self.version_count -= 1

    def collect_keys(self, keys: list[bytes]) -> None:
        """Collect these keys' versions (those `GarbageQueue.ready` gave)."""
        versions_of = self._versions
        horizon = self.gc_horizon
        for key in keys:
            versions = versions_of.get(key)
            if versions is not None and versions[0][0] <= horizon and (len(versions) > 1 or versions[0][1] is None):
                self._collect(key, versions)

    def collect_all(self) -> None:
        """A full sweep (tombstones and keys that stopped changing)."""
        after = None
        while (after := self.collect_some(after, 1 << 62)) is not None:
            pass

    def collect_some(self, after: bytes | None, count: int) -> bytes | None:
        """Sweep up to `count` keys past `after` (None: from the start); returns
        where to go on, None when the sweep is done. A sweep of millions of keys
        goes in pieces, each a few ms, so the node's other work keeps running."""
        versions_of = self._versions
        start = 0 if after is None else versions_of.bisect_right(after)
        keys = versions_of.keys()[start : start + count]
        horizon = self.gc_horizon
        for key in keys:
            versions = versions_of.get(key)
            if versions is not None and versions[0][0] <= horizon:
                if len(versions) > 1 or versions[0][1] is None:
                    self._collect(key, versions)
        return keys[-1] if len(keys) == count else None

    def drop_range(self, start: bytes, end: bytes, count: int) -> bool:
        """Remove up to `count` keys of [start, end) with all their versions (a
        range no table uses any more, past every snapshot); True once none is left."""
        versions_of = self._versions
        doomed = list(itertools.islice(versions_of.irange(start, end, inclusive=(True, False)), count))
        for key in doomed:
            self.version_count -= len(versions_of.pop(key))
        return len(doomed) < count

    def get(self, key: bytes, tau: int) -> Any:
        versions = self._versions.get(key)
        if versions is None:
            return None
        version = versions[-1]  # most reads want the newest version: no loop for them
        if version[0] <= tau:
            return version[1]
        for i in range(len(versions) - 2, -1, -1):
            version = versions[i]
            if version[0] <= tau:
                return version[1]
        return None

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
        """Live (key, value) pairs in [start, end) as of τ.

        Returns at most `limit` pairs (0: no limit) and, when it stopped early,
        the key to resume from (exclusive in the direction of the scan). It also
        stops after looking at `examine` keys (0: no bound), so a filter that
        rejects nearly everything still returns (a short page) within bounded work.
        `newer`, if given, receives the returned keys that also have a version
        after τ (see `newer_than`).
        """
        out: list[tuple[bytes, Any]] = []
        versions_of = self._versions
        examined = 0
        last: bytes | None = None
        for key in versions_of.irange(start, end, inclusive=(True, False), reverse=reverse):
            if examined == examine and examine:
                return out, last  # resume after the last key looked at
            examined += 1
            last = key
            versions = versions_of[key]
            version = versions[-1]
            if version[0] <= tau:  # the newest version is the one: no loop
                value = version[1]
            else:
                value = None
                for i in range(len(versions) - 2, -1, -1):
                    version = versions[i]
                    if version[0] <= tau:
                        value = version[1]
                        break
            if value is None or (keep is not None and not keep(value)):
                continue
            if newer is not None and versions[-1][0] > tau:
                newer.append(key)
            out.append((key, value))
            if limit and len(out) >= limit:
                return out, key
        return out, None

    def newer_than(self, key: bytes, tau: int) -> bool:
        """Whether `key` has a version committed after τ (applied here so far).

        A transaction that read `key` as of τ and writes it can no longer
        commit: the adjudicator refuses a write to a key committed after the
        writer's τ_start. The QP uses this to fail such a transaction at the
        statement instead of at COMMIT.
        """
        versions = self._versions.get(key)
        return versions is not None and versions[-1][0] > tau

    def latest_items(self) -> Iterator[tuple[bytes, int, Any]]:
        """The newest version of every live key (what a checkpoint keeps)."""
        for key, versions in self._versions.items():
            tau, value = versions[-1]
            if value is not None:
                yield key, tau, value

    def items_as_of(self, tau: int, after: bytes | None, count: int) -> tuple[list[tuple[bytes, int, Any]], bytes | None]:
        """The newest version at or below τ of up to `count` keys past `after`
        (None: from the start), live ones only; and where to go on (None: done).

        A checkpoint reads the store this way a piece at a time while the node
        goes on applying records above τ: the pieces together are the store as
        it was at τ (versions at or below τ stay until the GC horizon passes τ)."""
        versions_of = self._versions
        keys = self._keys_after(after, count)
        out = []
        for key in keys:
            versions = versions_of[key]
            for i in range(len(versions) - 1, -1, -1):
                version_tau, value = versions[i]
                if version_tau <= tau:
                    if value is not None:
                        out.append((key, version_tau, value))
                    break
        return out, (keys[-1] if len(keys) == count else None)

    def _keys_after(self, after: bytes | None, count: int) -> list[bytes]:
        """Up to `count` keys past `after` (None: from the start), in order."""
        start = 0 if after is None else self._versions.bisect_right(after)
        return self._versions.keys()[start : start + count]

    def _bounds(self, lo: bytes, hi: bytes | None) -> tuple[int, int]:
        """The positions of the keys in [lo, hi) (hi None: to the end)."""
        versions_of = self._versions
        return versions_of.bisect_left(lo), (len(versions_of) if hi is None else versions_of.bisect_left(hi))

    def count_range(self, lo: bytes = b"", hi: bytes | None = None) -> int:
        """How many keys [lo, hi) holds. After a split, two shards share one store
        (storage/node.py), each counting its own range."""
        first, last = self._bounds(lo, hi)
        return max(0, last - first)

    def middle_key(self, lo: bytes = b"", hi: bytes | None = None) -> bytes | None:
        """A key of [lo, hi) with about as many keys of the range before it as after,
        if the range holds two keys or more (a shard splits there)."""
        first, last = self._bounds(lo, hi)
        return self._versions.keys()[(first + last) // 2] if last - first >= 2 else None

    def chains_as_of(
        self, tau: int, after: bytes | None, count: int, lo: bytes = b"", hi: bytes | None = None
    ) -> tuple[list[tuple[bytes, tuple[Version, ...]]], bytes | None]:
        """Every version at or below τ of up to `count` keys of [lo, hi) past `after`
        (None: from lo), and where to go on (None: done): what a new replica of this
        shard copies, so that it can serve any snapshot this one can."""
        versions_of = self._versions
        first, last = self._bounds(lo, hi)
        if after is not None:
            first = max(first, versions_of.bisect_right(after))
        keys = versions_of.keys()[first : min(last, first + count)]
        out = []
        for key in keys:
            versions = versions_of[key]
            if versions[-1][0] > tau:
                versions = tuple(v for v in versions if v[0] <= tau)
            if versions and not (len(versions) == 1 and versions[0][1] is None):
                out.append((key, versions))
        return out, (keys[-1] if len(keys) == count and first + count < last else None)

    def merge_older(self, key: bytes, older: tuple[Version, ...]) -> None:
        """Put a copied key's versions (all older than any applied here) before its own."""
        self.garbage.untracked = True
        versions = self._versions.get(key)
        if versions is None:
            self._versions[key] = older
        else:
            assert not older or older[-1][0] < versions[0][0], "copied versions must be older than applied ones"
            self._versions[key] = (*older, *versions)
        self.version_count += len(older)

    def load(self, items) -> None:
        self.garbage.untracked = True
        for key, tau, value in items:
            self._versions[key] = ((tau, value),)
        self.version_count = len(self._versions)

    def load_versions(self, versions: dict[bytes, tuple[Version, ...]]) -> None:
        """Add keys with their version lists in one go (a checkpoint's, into an empty store)."""
        self.garbage.untracked = True
        self._versions.update(versions)
        self.version_count = len(self._versions)  # as load(): one version per key


_COMPARATORS = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compile_filter(tree: Any) -> Callable[[Any], bool | None]:
    """Turn a pushed-down filter tree into a predicate over row tuples."""
    kind = tree[0]
    if kind == "cmp":
        _, op, index, constant = tree
        compare = _COMPARATORS[op]

        def cmp(row: Any) -> bool | None:
            value = row[index] if index < len(row) else None
            return None if value is None else compare(value, constant)

        return cmp
    if kind == "null":
        index = tree[1]
        return lambda row: index >= len(row) or row[index] is None
    if kind == "notnull":
        index = tree[1]
        return lambda row: index < len(row) and row[index] is not None
    if kind == "not":
        inner = compile_filter(tree[1])

        def negate(row: Any) -> bool | None:
            result = inner(row)
            return None if result is None else not result

        return negate
    if kind in ("and", "or"):
        parts = [compile_filter(t) for t in tree[1:]]
        if kind == "and":

            def conj(row: Any) -> bool | None:
                unknown = False
                for part in parts:
                    result = part(row)
                    if result is False:
                        return False
                    if result is None:
                        unknown = True
                return None if unknown else True

            return conj

        def disj(row: Any) -> bool | None:
            unknown = False
            for part in parts:
                result = part(row)
                if result is True:
                    return True
                if result is None:
                    unknown = True
            return None if unknown else False

        return disj
    raise ValueError(f"unknown filter node {kind!r}")


def project(row: tuple, projection: tuple[int, ...], width_needed: int) -> tuple:
    """Columns `projection` of a stored row. Rows written before a column was
    added are shorter than the table; the missing columns read as NULL."""
    if len(row) >= width_needed:
        return tuple([row[i] for i in projection])
    return tuple([row[i] if i < len(row) else None for i in projection])


def projector(projection: tuple[int, ...]) -> Callable[[tuple], tuple]:
    """`project` for one projection, made once: a C itemgetter for rows that hold every
    column it names, `project` itself for the short rows of before an ADD COLUMN."""
    width = max(projection) + 1 if projection else 0
    if not projection:
        return lambda row: ()
    if len(projection) == 1:
        (only,) = projection
        return lambda row: (row[only],) if len(row) > only else (None,)
    get = operator.itemgetter(*projection)
    return lambda row: get(row) if len(row) >= width else project(row, projection, width)


def keep_where_true(tree: Any) -> Callable[[Any], bool]:
    if tree[0] == "cmp":  # the usual pushed-down filter, `column op constant`: one call per row, not two
        _, op, index, constant = tree
        compare = _COMPARATORS[op]

        def keep(row: Any) -> bool:
            if index >= len(row):
                return False
            value = row[index]
            return value is not None and compare(value, constant) is True

        return keep
    predicate = compile_filter(tree)
    return lambda row: predicate(row) is True
