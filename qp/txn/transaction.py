"""A transaction in the QP: its snapshot, its buffered writes, its commit.

- Snapshot: τ_start is taken at the first statement that needs one; every
  storage read is as of τ_start (storage waits for its watermark), so the
  transaction sees exactly the commits with τ_commit ≤ τ_start.
- Writes never leave the QP before COMMIT. They sit in `WriteBuffer`
  (key → post-image, None for a delete), and every read merges them over
  what storage returns, so a transaction reads its own writes. Savepoints
  are positions in the buffer's undo log (kept only while one is open).
- COMMIT of a transaction that wrote nothing and locked nothing does
  nothing. Otherwise the write set (plus keys locked FOR UPDATE, plus the
  schema keys of the tables written, as check-only keys) goes to the
  adjudicator that owns the first key; it commits through the journal and
  returns τ_commit; the QP then waits until τ_commit is certainly in the past
  before acknowledging (commit wait; see cluster/clock.py for why).

Keys of temporary objects (qp/txn/temp_store.py) are buffered like any
other but read from, and committed to, the session's `temp` store: they
never reach storage, the adjudicators or the journal.

Hot rows (`dsql.hot_row_wait`, on unless a session turns it off; qp/txn/intents.py holds the intents):
a writer of a row held by an older in-flight transaction of this QP waits for it,
then *refreshes* — moves τ_start forward past the holder's commit — instead of
losing at COMMIT; a write of a row storage reports committed after τ_start is
refreshed past likewise (`before_write`, `after_newer`, `refresh`). Why that is
correct, and what it rests on:

- What it read. `reads` keeps every key read from storage and the value storage
  gave (before the buffer is laid over it); `scans` keeps each range scan's
  arguments and storage's whole answer. A refresh to τ_new reads every such key
  at τ_new and runs every scan again at τ_new; if all answers are equal, a
  transaction that began at τ_new and ran the same statements would have seen
  exactly what this one saw, so its results, its buffered writes and everything
  the client was told stay valid: the transaction *is* that one. Any difference,
  a scan abandoned before its end (its unseen part is unknown), or more than
  `REFRESH_KEYS_MAX` keys and rows to check: 40001 at once (cheap and early).
- What it wrote. Keys written, locked, shared or depended on without being read
  (blind writes, schema keys, key stamps) are read at the old and the new τ and
  must be equal too. The adjudicator then checks the write set from τ_new: a
  commit of those keys in (τ_old, τ_new] is no conflict, which is right because
  the transaction is now one that started after it (first committer wins holds
  with the new τ_start). The buffer itself is untouched.
- `newer` held keys committed after τ_old; it is replaced by what the refresh's
  reads report after τ_new. A key taken back by `after_newer` (read for the
  first time by the statement that writes it, not yet used) leaves `reads` and is
  read again at τ_new; a key the client saw earlier is compared like any other.
- The catalog. The re-reads carry the catalog version the transaction planned
  with (storage refuses them if the version as of τ_new differs: OC001), and the
  catalog's version key is compared like a read key; catalog rows scanned by a
  catalog load change only with that key, so they are not kept as scans.
  `catalog_validated` stays true: the version is confirmed as of τ_new.
  A transaction that ran DDL (or drops ranges) is never refreshed.
- Savepoints. ROLLBACK TO takes writes back but leaves reads and scans in place
  (as locks stay): the refresh checks a superset of what matters, never less.
- Age. `tau_first` keeps the first τ_start: the 300 s limit counts from it, and
  it orders the queue on a row (oldest first), so a refresh never makes a
  transaction younger.
  now() and transaction_timestamp() are the session's, taken at the first
  statement, and do not move.
- Temporary tables live in the session, outside τ: their keys are neither
  recorded nor compared, and never claimed.
- Read-only transactions and lone queries never write, so they keep nothing; if a
  lone query's transaction does go on to write (statements pipelined before one
  Sync), or a transaction reads more than `REFRESH_KEYS_MAX` keys, its refresh is
  refused (`refresh_refused`): 40001 rather than an unchecked read.
- τ_new is the waited-for holder's τ_commit (every commit acknowledged before
  this transaction began is at or below it, so strong consistency holds, and
  storage has it applied or nearly), or the clock's latest after a commit
  storage reported. Nothing here weakens a check: the adjudicator still decides.

DSQL's limits are enforced here: 3,000 modified rows and 10 MiB of
modified data (at the statement that crosses them, and the commit payload
again at COMMIT) and 300 s of age. The row and byte limits are per
transaction (`rows_max`, `bytes_max`); sessions set them from their
`dsql.transaction_rows_max` / `dsql.transaction_bytes_max` settings.
"""

from __future__ import annotations

import itertools
import time
from bisect import bisect_left
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import trio

from adjudicator.client import AdjudicatorClient
from adjudicator.interface import CommitConflict, TransactionTooOld
from cluster import codec, metrics
from cluster.clock import Clock
from cluster.topology import Topology
from cluster.transport import InProcessTransport, RemoteError, ReplyLost, Unreachable
from journal.errors import AppendUncertain
from journal.interface import encode_commit
from qp.catalog.stored import CATALOG_PREFIX, VERSION_KEY, CatalogSnapshot
from qp.catalog.temp_keys import COUNTER_KEYS, TEMP_NEXT_OID_KEY, TEMP_OID_BASE, is_temp_key
from qp.errors import (
    SqlError,
    change_conflict,
    schema_conflict,
    transaction_bytes_exceeded,
    transaction_rows_exceeded,
)
from qp.txn.intents import IntentTable
from qp.txn.temp_store import TempStore
from qp.types import wire  # noqa: F401 (registers jsonb and interval for the wire)
from storage import keys as storage_keys
from storage.client import StorageClient
from storage.interface import CatalogChanged, HistoryGone, StorageUnavailable
from storage.mvcc import keep_where_true, project

ROWS_PER_TRANSACTION_MAX = 3000
BYTES_PER_TRANSACTION_MAX = 10 * 1024 * 1024
AGE_MAX_NS = 300 * 1_000_000_000
# A read refresh re-reads every key the transaction read or wrote: past this many it
# costs more than the retry it saves, and the transaction fails with 40001 instead.
REFRESH_KEYS_MAX = 1000
_CATALOG_END = storage_keys.prefix_end(CATALOG_PREFIX)
_sequence = itertools.count()  # queue order between transactions with one τ_start


def outcome_unknown(detail: str) -> SqlError:
    """A COMMIT that may or may not have taken effect (PostgreSQL's 08007): never
    reported as a failure, which a client would retry, nor as a success."""
    return SqlError(
        "08007", "transaction resolution unknown: the commit may or may not have been applied",
        detail=detail, hint="Read the rows the transaction wrote to learn whether it committed.",
    )


class StaleCatalog(Exception):
    """Storage reports another catalog version as of τ_start than the one planned with."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


_ABSENT = object()  # undo log: the key was not in the buffer before


class WriteBuffer:
    """Post-images by key, with the keys kept sorted for merging into scans.

    While a savepoint is open (`undo` is a list), every put first logs what
    it replaces, so ROLLBACK TO SAVEPOINT can put the buffer back as it was;
    without savepoints the log is None and a put costs one extra test.
    """

    __slots__ = ("values", "encoded", "_sorted", "_dirty", "undo")

    def __init__(self) -> None:
        self.values: dict[bytes, Any] = {}
        # A value's `codec.encode`, where the writer made it already (to measure a row):
        # the commit record splices it in rather than encoding the row a second time.
        # Only ever the encoding of the value `values` holds now: a put without one, or
        # an undo, drops it.
        self.encoded: dict[bytes, bytes] = {}
        self._sorted: list[bytes] = []
        self._dirty = False
        self.undo: list[tuple[bytes, Any]] | None = None

    def __len__(self) -> int:
        return len(self.values)

    def put(self, key: bytes, value: Any, encoded: bytes | None = None) -> None:
        if self.undo is not None:
            self.undo.append((key, self.values.get(key, _ABSENT)))
        if encoded is not None:
            self.encoded[key] = encoded
        elif self.encoded:
            self.encoded.pop(key, None)
        if key not in self.values:
            if self._dirty or (self._sorted and key < self._sorted[-1]):
                self._dirty = True
            else:
                self._sorted.append(key)
        self.values[key] = value

    def undo_to(self, mark: int) -> None:
        """Take back every put logged after position `mark` of the undo log."""
        undo = self.undo
        assert undo is not None and 0 <= mark <= len(undo), (mark, undo is None)
        values = self.values
        encoded = self.encoded
        removed = False
        for key, before in reversed(undo[mark:]):
            encoded.pop(key, None)  # what it held was the undone value's
            if before is _ABSENT:
                values.pop(key, None)
                removed = True
            else:
                values[key] = before
        del undo[mark:]
        if removed:
            self._dirty = True  # _sorted may name removed keys: rebuilt from `values` on next use

    def keys_in(self, start: bytes, end: bytes | None) -> list[bytes]:
        if self._dirty:
            self._sorted = sorted(self.values)
            self._dirty = False
        keys = self._sorted
        lo = bisect_left(keys, start)
        hi = len(keys) if end is None else bisect_left(keys, end)
        return keys[lo:hi]

    def has_keys_in(self, start: bytes, end: bytes | None) -> bool:
        if not self.values:
            return False
        return bool(self.keys_in(start, end))


@dataclass(slots=True, eq=False)
class ScanRecord:
    """A range scan storage answered, for a read refresh to run again and compare."""

    start: bytes
    end: bytes | None
    catalog_version: int | None
    limit: int
    reverse: bool
    filter_tree: Any
    projection: tuple[int, ...] | None
    rows: list[tuple[bytes, Any]] = field(default_factory=list)
    complete: bool = False  # read to its end (an abandoned scan saw an unknown part)


@dataclass(frozen=True, slots=True)
class SavepointState:
    """What a transaction had written when a savepoint was taken."""

    undo_mark: int  # length of the buffer's undo log
    rows_modified: int
    bytes_modified: int
    ddl_count: int
    dml_count: int
    catalog_version_written: int | None
    dropped_ranges: int  # how many key ranges the transaction had dropped


class Transaction:
    def __init__(
        self,
        clock: Clock,
        storage: StorageClient,
        topology: Topology,
        transport: InProcessTransport,
        *,
        read_only: bool = False,
        explicit: bool = False,
        adjudicators: AdjudicatorClient | None = None,
    ) -> None:
        self.clock = clock
        self.storage = storage
        self.topology = topology
        self.transport = transport
        self.adjudicators = adjudicators  # made at COMMIT if not given
        self.read_only = read_only
        self.explicit = explicit
        self.tau_start: int | None = None
        self._start_past = False  # τ_start known past in true time (`_until_start_past`)
        self.catalog: CatalogSnapshot | None = None
        self.buffer = WriteBuffer()
        self.locks: set[bytes] = set()
        self.checks: set[bytes] = set()
        self.shares: set[bytes] = set()  # KEY SHARE: foreign keys' parent rows
        self.rows_modified = 0
        self.bytes_modified = 0
        self.catalog_version_written: int | None = None
        # Key ranges this transaction's DDL abandons (qp/ddl/common.py); they travel in
        # the commit record and storage reclaims them (storage/node.py).
        self.dropped_ranges: list[tuple[bytes, bytes]] = []
        self.rows_max = ROWS_PER_TRANSACTION_MAX
        self.bytes_max = BYTES_PER_TRANSACTION_MAX
        self.committed = False  # set by a successful commit() (read-only ones included)
        self.ddl_count = 0
        self.dml_count = 0
        # True once storage has confirmed `catalog` is the version as of τ_start.
        self.catalog_validated = False
        # Keys read here that storage says have a version committed after
        # τ_start. Writing, locking or depending on one of them dooms the
        # transaction (the adjudicator would refuse it), so that is refused
        # at the statement: conflicts surface "by COMMIT at the latest", and
        # a doomed transaction stops spending work.
        self.newer: set[bytes] = set()
        # Whether reads collect `newer` (keys committed after τ_start): only a writer
        # uses them, to fail at the statement instead of at COMMIT. Read-only
        # transactions, and a lone query outside a block, skip that work.
        self.track_newer = not read_only
        # The session's temporary objects (None: a system transaction, which has none).
        self.temp: TempStore | None = None
        # Set while a DDL statement works on temporary objects: the catalog's version and
        # oid counter it reads and writes are the session's own (COUNTER_KEYS).
        self.temp_mode = False
        # Set by ROLLBACK TO when `catalog` may show temporary objects the rollback took
        # back: the statement runner builds it again from the buffer before binding.
        self.temp_catalog_stale = False
        # Hot rows (qp/txn/intents.py; `dsql.hot_row_wait`): the QP's intent table, or None
        # (off: pure optimistic concurrency, nothing below is kept). `reads` is what a read
        # refresh compares: every key read from storage -> the value storage gave.
        self.intents: IntentTable | None = None
        self.intent_keys: list[bytes] = []  # the keys this transaction holds in `intents`
        self.intent_waiting: Any = None  # the intent entry it is queued on, while it waits
        self.intent_age: tuple[int, int] = (1 << 62, next(_sequence))  # first τ_start: never changes
        self.reads: dict[bytes, Any] | None = None
        self.refresh_refused: str | None = None  # why a refresh cannot be done, if it cannot
        self.scans: list[ScanRecord] = []  # storage's answers to this transaction's range scans
        self.scanned: dict[tuple, ScanRecord] = {}  # the unfiltered ones by their arguments
        self.scanned_rows = 0
        self.catalog_scanned = False  # read the catalog's rows: the version key must not change
        self.tau_first: int | None = None  # the first τ_start: the age limit counts from it

    def use_intents(self, intents: IntentTable) -> None:
        """Take part in hot-row waits and read refresh (a writing transaction only)."""
        self.intents = intents
        self.reads = {}

    # -- snapshot ---------------------------------------------------------------

    def begin_snapshot(self) -> int:
        if self.tau_start is None:
            self.tau_start = self.tau_first = self.clock.now().latest
            self.intent_age = (self.tau_start, self.intent_age[1])
        return self.tau_start

    async def _until_start_past(self, tau: int) -> None:
        """No read answers before τ_start is past in true time.

        τ_start is the clock's `latest`, up to twice the error bound ahead of true
        time, and storage applies a commit before that commit's own wait has ended.
        A transaction that saw such a commit and finished at once could be followed
        (in real time) by one whose τ_start, from another clock, is below the commit
        and that misses it: a real-time order violation (the cluster simulator's
        seed 2001 with a 50 ms clock error showed it as G-single-realtime). Waiting
        once, as Spanner's reads wait for their timestamp, closes it; every later read
        of the transaction is at the same τ. Free when the clock's error bound is 0
        (the embedded server's): τ_start is already past when the read returns."""
        if not self.clock.is_past(tau):
            await self.clock.wait_until_past(tau)
        self._start_past = True  # (not before: a cancelled wait is waited again)

    @property
    def catalog_version(self) -> int | None:
        return self.catalog.version if self.catalog is not None else None

    def check_age(self) -> None:
        if self.tau_first is not None:
            age = self.clock.latest() - self.tau_first
            if age > AGE_MAX_NS:
                raise SqlError(
                    "54000",
                    "transaction age limit of 300s exceeded",
                    detail=f"Current transaction age {age // 1_000_000_000}s exceeds 300s",
                )

    # -- reads (storage merged with the buffer) ---------------------------------------

    async def get(self, keys: list[bytes], catalog_check: bool = True) -> list[Any]:
        tau = self.begin_snapshot()
        if self.temp_mode:
            keys = [COUNTER_KEYS.get(k, k) for k in keys]
        buffered = self.buffer.values
        missing = [k for k in keys if k not in buffered] if buffered else keys
        fetched: dict[bytes, Any] = {}
        if self.temp is not None and any(is_temp_key(k) for k in missing):
            fetched = {k: self.temp.get(k) for k in missing if is_temp_key(k)}
            if fetched.get(TEMP_NEXT_OID_KEY, 0) is None:
                fetched[TEMP_NEXT_OID_KEY] = TEMP_OID_BASE
            missing = [k for k in missing if not is_temp_key(k)]
        if missing:
            version = self._check_version(catalog_check)
            newer: list[bytes] | None = [] if self.track_newer else None
            values = await self._storage_call(self.storage.get(missing, tau, version, newer=newer))
            if not self._start_past:
                await self._until_start_past(tau)
            self._answered(version, newer, missing, values)
            if missing is keys:  # nothing buffered, nothing temporary: storage answered every key
                return list(values)
            fetched.update(zip(missing, values, strict=True))
        return [buffered[k] if k in buffered else fetched.get(k) for k in keys]

    async def get_through(self, key: bytes) -> tuple[bytes, Any] | None:
        """(row key, row) of the unique index entry `key` (whose value is its row's key),
        or None when either is absent: `get([key])` then `get([row key])`, with storage
        asked once when the entry's replica holds the row too (`StorageClient.get_through`).
        Reads, newer keys and the catalog check are kept as the two gets keep them."""
        found = await self._get_through(key)
        if found is None:
            return await self._get_then_get(key)
        row_key, value, _ = found
        return None if row_key is None or value is None else (row_key, value)

    async def get_through_to_write(self, key: bytes) -> tuple[bytes, Any] | None:
        """`get_through` for a row about to be written (an UPDATE or DELETE through a unique
        index, hot rows on): the entry and the row in one request, then the row is claimed
        (`before_write`). A row read for the first time by this statement is read again only
        if the claim moved the snapshot past an older writer's commit (its first read is taken
        back before the refresh, as `after_newer` takes one back) or storage reports a commit
        of it after the snapshot; the claim-first order read the entry, then the row."""
        found = await self._get_through(key) if self.intents is not None else None
        if found is None:
            (row_key,) = await self.get([key])
            if row_key is None:
                return None
            (value,) = await self.get_to_write([row_key])
            return None if value is None else (row_key, value)
        row_key, value, fresh = found
        if row_key is None:
            return None
        if await self.before_write(row_key, take_back=fresh):
            if fresh:
                (value,) = await self.get([row_key])
        elif fresh and row_key in self.newer and await self.after_newer([row_key]):
            (value,) = await self.get([row_key])
        return None if value is None else (row_key, value)

    async def get_to_write(self, keys: list[bytes]) -> list[Any]:
        """`get(keys)` of rows an UPDATE or DELETE will write: each claimed first
        (`before_write`: waiting for an older writer of this QP, refreshing past its
        commit), read again after a refresh if storage reports a commit of one after the
        snapshot (`after_newer`)."""
        for key in keys:
            await self.before_write(key)
        reads = self.reads
        fresh = [k for k in keys if k not in reads] if reads is not None else []
        values = await self.get(keys)
        stale = [k for k in fresh if k in self.newer]
        if stale and await self.after_newer(stale):
            values = await self.get(keys)
        return values

    async def _get_then_get(self, key: bytes) -> tuple[bytes, Any] | None:
        (row_key,) = await self.get([key])
        if row_key is None:
            return None
        (value,) = await self.get([row_key])
        return None if value is None else (row_key, value)

    async def _get_through(self, key: bytes) -> tuple[bytes | None, Any, bool] | None:
        """(row key, row, whether this read the row from storage for the first time) through
        the unique index entry `key` in one storage request, the row as this transaction sees
        it (its own write of it, if any); None when the two gets must answer instead: the
        entry is written by this transaction, or the keys are the session's temporary ones."""
        buffered = self.buffer.values
        if key in buffered or self.temp_mode or (self.temp is not None and is_temp_key(key)):
            return None
        tau = self.begin_snapshot()
        version = self.catalog_version
        newer: list[bytes] | None = [] if self.track_newer else None
        row_key, value = await self._storage_call(self.storage.get_through(key, tau, version, newer=newer))
        if not self._start_past:
            await self._until_start_past(tau)
        if row_key is None:
            self._answered(version, newer, [key], [None])
            return None, None, False
        if row_key in buffered:
            # Written by this transaction: the buffer answers for the row, as `get` has it.
            if newer:
                newer = [k for k in newer if k != row_key]
            self._answered(version, newer, [key], [row_key])
            return row_key, buffered[row_key], False
        reads = self.reads
        fresh = reads is not None and row_key not in reads
        self._answered(version, newer, [key, row_key], [row_key, value])
        return row_key, value, fresh

    async def scan(
        self,
        start: bytes,
        end: bytes | None,
        *,
        filter_tree: Any = None,
        projection: tuple[int, ...] | None = None,
        reverse: bool = False,
        limit: int = 0,
        catalog_check: bool = True,
    ) -> AsyncIterator[list[tuple[bytes, Any]]]:
        """Pages of (key, value) in key order, the transaction's writes included."""
        tau = self.begin_snapshot()
        if self.temp is not None and is_temp_key(start):
            # A temporary table's range (or the temporary descriptors): all in the session.
            for page in self._scan_temp(start, end, filter_tree, projection, reverse, limit):
                yield page
            return
        version = self._check_version(catalog_check)
        storage_limit = 0 if self.buffer.has_keys_in(start, end) else limit
        record: ScanRecord | None = None
        if self.reads is not None and self.refresh_refused is None and not self.track_newer:
            # A lone query keeps nothing; should its transaction go on to write (statements
            # pipelined before one Sync), what it read cannot be checked.
            self.refresh_refused = "a read was not kept"
        if self.reads is not None and self.refresh_refused is None:
            if start.startswith(CATALOG_PREFIX) and end is not None and end <= _CATALOG_END:
                self.catalog_scanned = True  # its rows change only with the version key
            elif filter_tree is not None or (start, end, version, storage_limit, reverse, projection) not in self.scanned:
                record = ScanRecord(start, end, version, storage_limit, reverse, filter_tree, projection)
                self.scans.append(record)
                if filter_tree is None:
                    # The same scan again (an UPDATE's and a SELECT's index lookup of one key)
                    # answers the same at this τ: it is checked once.
                    self.scanned[(start, end, version, storage_limit, reverse, projection)] = record
        newer: list[bytes] | None = [] if self.track_newer else None
        pages = self.storage.scan(
            start, end, tau, version, limit=storage_limit,
            reverse=reverse, filter_tree=filter_tree, projection=projection, newer=newer,
        )
        if not self.buffer.has_keys_in(start, end):
            try:
                async for page in pages:
                    if version is not None:
                        self.catalog_validated = True
                    if newer:
                        self.newer.update(newer)
                        newer.clear()
                    if record is not None:
                        self._record(record, page)
                    if not self._start_past:
                        await self._until_start_past(tau)
                    yield page
            except (CatalogChanged, StorageUnavailable, Unreachable, RemoteError) as exc:
                raise self._map_storage_error(exc) from None
            if version is not None:
                self.catalog_validated = True
            if record is not None:
                record.complete = True
            if not self._start_past:  # nothing found is an answer too
                await self._until_start_past(tau)
            return
        # Some keys of this range were written here: take storage's answer
        # whole, then lay the buffer over it.
        rows: dict[bytes, Any] = {}
        try:
            async for page in pages:
                rows.update(page)
                if record is not None:
                    self._record(record, page)
        except (CatalogChanged, StorageUnavailable, Unreachable, RemoteError) as exc:
            raise self._map_storage_error(exc) from None
        if record is not None:
            record.complete = True
        if newer:
            self.newer.update(newer)
        if version is not None:
            self.catalog_validated = True
        if not self._start_past:
            await self._until_start_past(tau)
        keep = keep_where_true(filter_tree) if filter_tree is not None else None
        for key in self.buffer.keys_in(start, end):
            value = self.buffer.values[key]
            if value is None or (keep is not None and not keep(value)):
                rows.pop(key, None)
            else:
                rows[key] = value if projection is None else project(value, projection, max(projection, default=-1) + 1)
        ordered = sorted(rows.items(), reverse=reverse)
        if limit:
            ordered = ordered[:limit]
        for i in range(0, len(ordered), 10_000):
            yield ordered[i : i + 10_000]

    def _answered(self, version: int | None, newer: list[bytes] | None, keys: list[bytes], values: list[Any]) -> None:
        """What a get keeps once storage answered `keys`: the keys with a version after the
        snapshot, that the catalog was checked, and the values for a refresh."""
        if newer:
            self.newer.update(newer)
        if version is not None:
            self.catalog_validated = True
        if self.reads is not None and self.refresh_refused is None:
            self._keep_reads(keys, values)

    def _keep_reads(self, keys: list[bytes], values: list[Any]) -> None:
        """Keep what storage answered to a get, for a refresh to compare (up to a bound)."""
        assert self.reads is not None
        if not self.track_newer:
            # A lone query keeps nothing; should its transaction go on to write (statements
            # pipelined before one Sync), what it read cannot be checked.
            self.refresh_refused = "a read was not kept"
            return
        self.reads.update(zip(keys, values, strict=True))
        if len(self.reads) > REFRESH_KEYS_MAX:
            self.refresh_refused = f"more than {REFRESH_KEYS_MAX} keys read"

    def _record(self, record: ScanRecord, page: list[tuple[bytes, Any]]) -> None:
        """Keep what storage answered to a scan, for a refresh to compare (up to a bound)."""
        if self.refresh_refused is not None:
            return  # past the bound: nothing is kept any more
        self.scanned_rows += len(page)
        if self.scanned_rows > REFRESH_KEYS_MAX:
            self.refresh_refused = f"more than {REFRESH_KEYS_MAX} rows scanned"
            self.scans.clear()
            self.scanned.clear()
            return
        record.rows += page

    def _scan_temp(self, start: bytes, end: bytes | None, filter_tree: Any, projection: tuple[int, ...] | None,
                   reverse: bool, limit: int) -> list[list[tuple[bytes, Any]]]:  # fmt: skip
        assert self.temp is not None
        rows = dict(self.temp.items_in(start, end))
        for key in self.buffer.keys_in(start, end):
            rows[key] = self.buffer.values[key]
        keep = keep_where_true(filter_tree) if filter_tree is not None else None
        width = max(projection, default=-1) + 1 if projection is not None else 0
        ordered = [
            (key, value if projection is None else project(value, projection, width))
            for key, value in sorted(rows.items(), reverse=reverse)
            if value is not None and (keep is None or keep(value))
        ]
        if limit:
            ordered = ordered[:limit]
        return [ordered[i : i + 10_000] for i in range(0, len(ordered), 10_000)]

    def _check_version(self, catalog_check: bool) -> int | None:
        return self.catalog_version if catalog_check else None

    async def _storage_call(self, awaitable):
        try:
            return await awaitable
        except (CatalogChanged, StorageUnavailable, Unreachable, RemoteError) as exc:
            raise self._map_storage_error(exc) from None

    def _map_storage_error(self, exc: Exception) -> Exception:
        if isinstance(exc, CatalogChanged):
            return StaleCatalog(exc.version)
        if isinstance(exc, HistoryGone):
            # Every replica asked holds the data only from a later τ (restarted from
            # checkpoints cut after this snapshot): PostgreSQL's error for a snapshot
            # whose old versions are gone. A new transaction reads fine.
            return SqlError("72000", "snapshot too old", detail=str(exc))
        return SqlError("XX000", "server unavailable", detail=str(exc))

    # -- writes ----------------------------------------------------------------------

    def put(self, key: bytes, value: Any, encoded: bytes | None = None) -> None:
        """Buffer `value` under `key`; `encoded` is `codec.encode(value)` if the caller has it."""
        if self.temp_mode:
            key = COUNTER_KEYS.get(key, key)
        if key in self.newer:
            raise self._doomed(key)
        self.buffer.put(key, value, encoded)
        if self.intents is not None and (self.temp is None or not is_temp_key(key)):
            self.intents.hold(key, self)

    def count_rows(self, rows: int, nbytes: int) -> None:
        self.rows_modified += rows
        self.bytes_modified += nbytes
        if self.rows_modified > self.rows_max:
            raise transaction_rows_exceeded(self.rows_max)
        if self.bytes_modified > self.bytes_max:
            # Refused at the statement rather than only at COMMIT, so that a
            # bulk load (COPY, INSERT ... SELECT) stops before it buffers more.
            raise self._size_error(self.bytes_modified)

    def lock(self, key: bytes) -> None:
        if self.temp is not None and is_temp_key(key):
            return  # no other session can touch a temporary row
        if key in self.newer:
            raise self._doomed(key)
        self.locks.add(key)
        if self.intents is not None:
            self.intents.hold(key, self)

    def depend_on(self, key: bytes) -> None:
        if self.temp is not None and is_temp_key(key):
            return
        if key in self.newer:
            raise self._doomed(key)
        self.checks.add(key)

    def drop_ranges(self, ranges: list[tuple[bytes, bytes]]) -> None:
        """Key ranges no table uses any more once this commits (a dropped table or index)."""
        self.dropped_ranges += ranges

    def share(self, key: bytes) -> None:
        if self.temp is not None and is_temp_key(key):
            return
        if key in self.newer:
            raise self._doomed(key)
        self.shares.add(key)

    def _doomed(self, key: bytes) -> SqlError:
        """The error COMMIT would give: `key` was committed after τ_start by someone else."""
        return schema_conflict() if storage_keys.is_schema_key(key) else change_conflict()

    # -- savepoints -------------------------------------------------------------------
    #
    # Nothing leaves the QP before COMMIT, so a savepoint is a position in the
    # buffer's undo log plus the counters that go with the buffer. Keys locked
    # FOR UPDATE or KEY SHARE and keys read stay in their sets after ROLLBACK
    # TO SAVEPOINT: that can only make the conflict check stricter.

    def savepoint(self) -> SavepointState:
        """The state ROLLBACK TO SAVEPOINT goes back to; starts the undo log if needed."""
        if self.buffer.undo is None:
            self.buffer.undo = []
        return SavepointState(len(self.buffer.undo), self.rows_modified, self.bytes_modified,
                              self.ddl_count, self.dml_count, self.catalog_version_written,
                              len(self.dropped_ranges))

    def rollback_to(self, state: SavepointState) -> None:
        """Forget every write (and DDL or DML statement) since `state` was taken."""
        self.buffer.undo_to(state.undo_mark)
        self.rows_modified, self.bytes_modified = state.rows_modified, state.bytes_modified
        self.ddl_count, self.dml_count = state.ddl_count, state.dml_count
        self.catalog_version_written = state.catalog_version_written
        del self.dropped_ranges[state.dropped_ranges:]
        if self.catalog is not None and self.catalog.overlay:
            self.temp_catalog_stale = True

    def savepoints_closed(self) -> None:
        """No savepoint is open any more: puts stop logging."""
        self.buffer.undo = None

    @property
    def has_writes(self) -> bool:
        """Whether COMMIT must go to the adjudicators: writes, or keys locked
        FOR UPDATE or shared FOR KEY SHARE (which bind only if adjudicated)."""
        return bool(self.buffer.values or self.locks or self.shares)

    # -- hot rows: intents and read refresh (see the module docstring) ----------------

    async def before_write(self, key: bytes, *, take_back: bool = False) -> bool:
        """About to read `key` in order to write it (an UPDATE or DELETE by primary key):
        queue behind an older writer of it on this QP, and if that writer committed
        after our snapshot, move the snapshot past its commit (or fail now, 40001).
        True if it moved. `take_back`: `key` was just read for the first time, by the
        statement that writes it and before the claim; a refresh takes that read back
        (the caller reads the key again) rather than compare it."""
        intents = self.intents
        if intents is None or key in self.buffer.values:
            return False
        self.begin_snapshot()
        claim = await intents.claim(key, self)
        assert self.tau_start is not None
        if claim.tau_committed is not None and claim.tau_committed > self.tau_start:
            if take_back and self.reads is not None:
                self.reads.pop(key, None)
                self.newer.discard(key)
            await self.refresh(claim.tau_committed)
            return True
        return False

    async def after_newer(self, keys: list[bytes]) -> bool:
        """`keys` were just read (for the first time) for a write and storage says they have
        a commit after our snapshot: refresh past it (those reads are taken back, and the
        caller reads the keys again). False if hot rows are off (the write then fails as
        before)."""
        if self.intents is None or self.reads is None:
            return False
        for key in keys:
            self.reads.pop(key, None)
            self.newer.discard(key)
        await self.refresh(0)
        return True

    def refresh_refusal(self) -> str | None:
        """Why this transaction's snapshot cannot be moved, or None if it can."""
        if self.reads is None:
            return "hot rows are off"
        if self.refresh_refused is not None:
            return self.refresh_refused
        if self.ddl_count or self.catalog_version_written is not None or self.dropped_ranges:
            return "the transaction changed the schema"
        if self.catalog_scanned and VERSION_KEY not in self.reads:
            return "the catalog was read without its version"
        if any(not record.complete for record in self.scans):
            return "a scan was not read to its end"
        return None

    async def refresh(self, tau_min: int) -> None:
        """Move τ_start to a new τ ≥ `tau_min`, or raise 40001 (OC001 if the catalog changed).

        Allowed only if everything this transaction has seen is the same at the new τ:
        every key it read from storage has the same value there (re-read and compared),
        every range it scanned gives the same rows (scanned again and compared), every
        key it wrote, locked, shared or depends on without reading it has the same value
        at the new τ as at the old one (read at both), and the catalog version as of the
        new τ is the one it planned with (storage checks it on the re-reads). The
        transaction is then exactly one that did all its reads at the new τ, so snapshot
        isolation holds, and the adjudicator checks its keys from there.
        """
        refusal = self.refresh_refusal()
        reads = self.reads
        assert self.tau_start is not None
        temp = self.temp
        blind = [
            k for k in {*self.buffer.values, *self.locks, *self.checks, *self.shares}
            if k not in reads and (temp is None or not is_temp_key(k))
        ] if refusal is None else []  # fmt: skip
        version = self.catalog_version
        if version is not None and self.catalog_validated:
            # Catalog keys and schema stamps change only in DDL, which bumps the catalog's
            # version: confirmed as of τ_old (catalog_validated) and checked by storage as
            # of τ_new on the reads below, the same version means none of them changed.
            blind = [k for k in blind if not storage_keys.is_schema_key(k)]
        elif refusal is None and self.catalog is not None and VERSION_KEY not in reads:
            blind.append(VERSION_KEY)  # the catalog it planned with, whatever else it read
        if refusal is None and len(reads) + len(blind) + self.scanned_rows > REFRESH_KEYS_MAX:
            refusal = f"more than {REFRESH_KEYS_MAX} keys to check"
        if refusal is not None:
            metrics.HOT_ROW_REFRESHES.labels(outcome="refused").inc()
            raise change_conflict()
        tau_old = self.tau_start
        # After a wait, the holder's τ_commit: every commit acknowledged before this
        # transaction began is at or below it (strong consistency holds), the holder's is
        # included, and storage has it applied or nearly so. Otherwise (a commit storage
        # reported, of unknown τ) the clock's latest, as a new transaction would take.
        tau_new = tau_min if tau_min > tau_old else self.clock.now().latest
        read_keys = list(reads)
        keys = read_keys + blind
        probe = not keys and version is not None
        if probe:  # nothing else to read: the version key alone carries the catalog check
            keys = [VERSION_KEY]
        newer: list[bytes] = []
        results: dict[Any, Any] = {}

        async def read(name: str, keys: list[bytes], tau: int, version: int | None, newer: list | None) -> None:
            try:
                results[name] = await self.storage.get(keys, tau, version, newer=newer)
            except (CatalogChanged, StorageUnavailable, Unreachable, RemoteError) as exc:
                results[name] = exc  # raised below, outside the nursery (no exception group)

        async def rescan(record: ScanRecord) -> None:
            rows: list[tuple[bytes, Any]] = []
            try:
                async for page in self.storage.scan(
                    record.start, record.end, tau_new, record.catalog_version, limit=record.limit,
                    reverse=record.reverse, filter_tree=record.filter_tree, projection=record.projection,
                    newer=newer,
                ):
                    rows += page
            except (CatalogChanged, StorageUnavailable, Unreachable, RemoteError) as exc:
                results[record] = exc
                return
            results[record] = rows

        async with trio.open_nursery() as nursery:  # every read at once: one round trip
            if keys:
                nursery.start_soon(read, "new", keys, tau_new, version, newer)
            if blind:
                nursery.start_soon(read, "old", blind, tau_old, None, None)
            for record in self.scans:
                nursery.start_soon(rescan, record)
        for exc in results.values():
            if isinstance(exc, CatalogChanged):
                metrics.HOT_ROW_REFRESHES.labels(outcome="catalog").inc()
                raise schema_conflict()
            if isinstance(exc, Exception):
                raise self._map_storage_error(exc)
        new = results.get("new", []) if not probe else []
        old = [reads[k] for k in read_keys] + results.get("old", [])
        for key, before, after in zip(keys if not probe else [], old, new, strict=True):
            if before != after:
                metrics.HOT_ROW_REFRESHES.labels(outcome="changed").inc()
                raise self._doomed(key)
        for record in self.scans:
            if results[record] != record.rows:
                metrics.HOT_ROW_REFRESHES.labels(outcome="changed").inc()
                raise change_conflict()
        # Now as if begun at τ_new: what storage reports newer is relative to it, and,
        # as for any τ_start, nothing read at it answers before it is past in true time
        # (a holder's τ_commit is, after its commit wait; the clock's latest may not be).
        self._start_past = False
        await self._until_start_past(tau_new)
        self.tau_start = tau_new
        self.newer = set(newer)
        if self.catalog is not None:
            self.catalog_validated = True  # checked as of τ_new with the reads above
        metrics.HOT_ROW_REFRESHES.labels(outcome="ok").inc()

    def end_intents(self, tau_commit: int | None) -> None:
        """The transaction is over (committed at `tau_commit`, or not), or its block
        failed: waiters go on, and it takes no part in intents from now on (a block
        that failed can go on after ROLLBACK TO SAVEPOINT; what it writes then must not
        claim keys that nothing would release)."""
        intents, self.intents, self.reads = self.intents, None, None
        if self.intent_keys and intents is not None:
            intents.release(self, tau_commit)

    # -- commit ------------------------------------------------------------------------

    async def commit(self) -> int | None:
        """Make the writes durable and visible; returns τ_commit (None if read-only).
        Whatever happens, the transaction's intents are released (qp/txn/intents.py)."""
        tau_commit = None
        try:
            tau_commit = await self._commit()
            return tau_commit
        finally:
            self.end_intents(tau_commit)

    async def _commit(self) -> int | None:
        if not self.has_writes:
            self.committed = True
            return None
        assert self.tau_start is not None
        self.check_age()
        writes = list(self.buffer.values.items())
        dropped = self.dropped_ranges
        temp_writes: list[tuple[bytes, Any]] = []
        temp_dropped: list[tuple[bytes, bytes]] = []
        # A temporary key must never reach storage: only a session's transactions write them.
        assert self.temp is not None or not any(is_temp_key(k) for k in self.buffer.values), "temp key outside a session"
        if self.temp is not None:
            temp_writes = [(k, v) for k, v in writes if is_temp_key(k)]
            temp_dropped = [r for r in dropped if is_temp_key(r[0])]
            if temp_writes or temp_dropped:
                self.temp.check_room(temp_writes)  # before anything commits, permanent writes included
                writes = [(k, v) for k, v in writes if not is_temp_key(k)]
                dropped = [r for r in dropped if not is_temp_key(r[0])]
                if not writes and not self.locks and not self.shares:
                    # Only temporary keys: nothing for the adjudicators or the journal.
                    self.temp.apply(temp_writes, temp_dropped)
                    self.committed = True
                    return None
        payload = encode_commit(writes, self.buffer.encoded, self.catalog_version_written, dropped)
        if len(payload) > self.bytes_max:
            raise self._size_error(len(payload))
        written = dict(writes) if temp_writes else self.buffer.values
        write_keys = tuple(written) + tuple(k for k in self.locks if k not in written)
        checks = tuple(k for k in self.checks if k not in written and k not in self.locks)
        shares = tuple(k for k in self.shares if k not in written and k not in self.locks)
        adjudicators = self.adjudicators or AdjudicatorClient(self.topology, self.transport)
        started = time.perf_counter()
        try:
            tau_commit = await adjudicators.commit(self.tau_start, payload, write_keys, checks, shares)
        except CommitConflict as exc:
            raise (schema_conflict() if exc.schema else change_conflict()) from None
        except TransactionTooOld as exc:
            raise SqlError(
                "54000",
                "transaction age limit of 300s exceeded",
                detail=f"Current transaction age {exc.age_ns // 1_000_000_000}s exceeds 300s",
            ) from None
        except (AppendUncertain, ReplyLost) as exc:
            raise outcome_unknown(str(exc)) from None
        except (Unreachable, RemoteError) as exc:
            raise SqlError("XX000", "server unavailable", detail=str(exc)) from None
        # Commit wait: acknowledge only once τ_commit is certainly past, so
        # any transaction that starts after this returns sees the commit.
        self.clock.observe(tau_commit)
        await self.clock.wait_until_past(tau_commit)
        if temp_writes or temp_dropped:
            assert self.temp is not None
            self.temp.apply(temp_writes, temp_dropped)
        self.committed = True
        metrics.COMMIT_SECONDS.labels(api="sql").observe(time.perf_counter() - started)
        return tau_commit

    def _size_error(self, nbytes: int) -> SqlError:
        # DSQL's wording names the limit in (binary) megabytes: "10mb" for 10 MiB.
        limit_kb = self.bytes_max // 1024
        limit = f"{self.bytes_max // (1024 * 1024)}mb" if self.bytes_max % (1024 * 1024) == 0 else f"{limit_kb}kb"
        return transaction_bytes_exceeded(
            limit, f"Current transaction size {nbytes // 1024}kb exceeds {limit_kb}kb", self.bytes_max
        )


def encoded(value: Any) -> bytes:
    """`value` as a commit record carries it: measure it with len(), then hand it to `put`."""
    return codec.encode(value)

