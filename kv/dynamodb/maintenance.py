"""Background work: TTL expiry, reaping dropped tables and indexes, GSI backfill, item counts.

All of it goes through the same transaction path as client writes, so it is
as safe under concurrency as they are:

- TTL: every `ttl_interval_s`, each table with TTL enabled is scanned
  (eventually); an item whose TTL attribute is a Number of epoch seconds in
  the past (but not more than five years past, DynamoDB's guard against
  bad values) is deleted with its index entries by a transaction that
  re-reads it strongly and deletes it only if it is still expired, so a
  concurrent update that extends it wins.
- Reaping: a dropped table's or index's keys are deleted in batches once
  `catalog.DROP_GRACE_S` has passed, then its marker goes.
- Backfill: a GSI added by UpdateTable is CREATING; after the grace period
  (every writer now maintains it) each page of items gets its entries in a
  transaction that also locks the items (as write keys without new values),
  so a concurrent writer that started before the backfill's read loses and
  retries with the index in view. Then the index becomes ACTIVE.
- Counts: DescribeTable's ItemCount/TableSizeBytes come from a bounded scan;
  DynamoDB refreshes them only every six hours, so they may lag here too
  when a table is large.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import trio

from cluster.timeslice import checkpoint_if_due
from kv.dynamodb import catalog as cat
from kv.dynamodb import itemkeys, keycodec, streams, streams_api
from kv.dynamodb import values as av
from kv.dynamodb.control import modify_table
from kv.dynamodb.errors import DynamoError
from kv.dynamodb.schema import TableSchema
from kv.dynamodb.transact import TOKEN_WINDOW_S
from kv.dynamodb.txn import with_retries
from storage.client import EVENTUAL

if TYPE_CHECKING:
    from kv.dynamodb.service import DynamoDBService

log = logging.getLogger(__name__)

TTL_PAST_LIMIT_S = 5 * 365 * 24 * 3600  # TTL values older than five years are ignored
DELETE_BATCH_KEYS = 200  # keys per reaping or expiry transaction: bounded commits
BACKFILL_BATCH_ITEMS = 100
# Item counts: a count that took longer than this is reused for COUNTS_REUSE_S
# rather than recomputed on every DescribeTable.
COUNT_CHEAP_S = 0.05
COUNTS_REUSE_S = 60.0
COUNT_BUDGET_S = 1.0
# Background passes are spaced at least this many times their own duration
# apart (a 5% share of the process).
BACKGROUND_SHARE_INVERSE = 20


class Maintenance:
    def __init__(self, service: DynamoDBService, *, ttl_interval_s: float, reaper_interval_s: float) -> None:
        self.service = service
        self.ttl_interval_s = ttl_interval_s
        self.reaper_interval_s = reaper_interval_s
        self._nursery: trio.Nursery | None = None
        self._backfilling: set[tuple[int, int]] = set()
        self._counts: dict[int, tuple[dict[int, tuple[int, int]], float, float]] = {}
        self.expired = 0
        self.reaped = 0
        self.trimmed = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._loop, self.ttl_interval_s, self.expire_once)
            nursery.start_soon(self._loop, self.reaper_interval_s, self.reap_once)
            nursery.start_soon(self._loop, self.reaper_interval_s, self.resume_backfills)
            nursery.start_soon(self._loop, self.reaper_interval_s, self.trim_streams)
            task_status.started()

    async def _loop(self, interval_s: float, work) -> None:
        pause_s = interval_s
        while True:
            await trio.sleep(pause_s)
            started = time.monotonic()
            try:
                await work()
            except (DynamoError, Exception):
                # Background work retries at its next round; the log says why.
                log.exception("dynamodb maintenance: %s failed", work.__name__)
            # A pass over a large key space waits proportionally longer for the
            # next, so background work stays a small share of the process.
            pause_s = max(interval_s, (time.monotonic() - started) * BACKGROUND_SHARE_INVERSE)

    # -- TTL ---------------------------------------------------------------------------------------

    async def expire_once(self) -> int:
        """Delete every expired item of every TTL table; returns how many."""
        deleted = 0
        for table in await self.service.catalog.list_tables(eventual=True):
            if table.ttl_attribute is not None:
                deleted += await self._expire_table(table)
        self.expired += deleted
        return deleted

    async def _expire_table(self, table: TableSchema) -> int:
        now = time.time()
        candidates: list[bytes] = []
        scan_filter = ("and", ("cmp", "=", 0, table.table_id), ("cmp", "=", 1, 0))
        pages = self.service.storage.scan(keycodec.NS, keycodec.NS_END, policy=EVENTUAL, filter_tree=scan_filter)
        async with contextlib.aclosing(pages):
            async for page in pages:
                await checkpoint_if_due()
                candidates += [key for key, stored in page if _expired(stored[2], table.ttl_attribute, now)]
        deleted = 0
        for i in range(0, len(candidates), DELETE_BATCH_KEYS):
            deleted += await self._expire_batch(table, candidates[i : i + DELETE_BATCH_KEYS])
        return deleted

    async def _expire_batch(self, table: TableSchema, keys: list[bytes]) -> int:
        service = self.service

        async def attempt() -> int:
            tau_start = service.committer.begin()
            stored = await service.storage.get(keys, tau_start)
            now = time.time()
            writes: list[tuple[bytes, Any]] = []
            records = streams.RecordBatch()
            count = 0
            for key, value in zip(keys, stored, strict=True):
                item = value[2] if value is not None else None
                if item is None or not _expired(item, table.ttl_attribute, now):
                    continue
                count += 1
                writes.append((key, None))
                writes += itemkeys.entry_changes(table, item, None)
                # A TTL deletion is the service's, not a user's: its REMOVE record says so.
                records.add(table, item, None, by_service=True)
            if writes:
                await service.committer.commit(tau_start, writes, [k for k, _ in writes], stamped=records.stamped)
            return count

        return await with_retries(attempt, service.rng)

    # -- stream retention -----------------------------------------------------------------------------

    async def trim_streams(self) -> int:
        """Delete stream records past the retention period (see streams_api); returns how many."""
        trimmed = await streams_api.trim_once(self.service)
        self.trimmed += trimmed
        return trimmed

    # -- reaping dropped tables and indexes -------------------------------------------------------

    async def reap_once(self) -> int:
        """Delete the keys of dropped tables/indexes past their grace period; returns how many."""
        service = self.service
        removed = 0
        for marker_key, marker in await service.catalog.dropped():
            if time.time() - marker["at"] < cat.DROP_GRACE_S:
                continue
            table_id, index_no = marker["table_id"], marker["index"]
            scan_filter: Any = ("cmp", "=", 0, table_id)
            if index_no != cat.WHOLE_TABLE:
                scan_filter = ("and", scan_filter, ("cmp", "=", 1, index_no))
            doomed: list[bytes] = []
            pages = service.storage.scan(keycodec.NS, keycodec.NS_END, service.committer.begin(), filter_tree=scan_filter)
            async with contextlib.aclosing(pages):
                async for page in pages:
                    await checkpoint_if_due()
                    doomed += [key for key, _ in page]
            for i in range(0, len(doomed), DELETE_BATCH_KEYS):
                batch = doomed[i : i + DELETE_BATCH_KEYS]
                await self._blind_delete(batch)
            await self._blind_delete([marker_key])
            removed += len(doomed)
        # ClientRequestTokens are remembered for ten minutes after their call.
        stale = [key for key, record in await service.catalog.tokens() if time.time() - record["at"] > TOKEN_WINDOW_S]
        for i in range(0, len(stale), DELETE_BATCH_KEYS):
            await self._blind_delete(stale[i : i + DELETE_BATCH_KEYS])
        self.reaped += removed
        return removed

    async def _blind_delete(self, keys: list[bytes]) -> None:
        service = self.service

        async def attempt() -> None:
            tau_start = service.committer.begin()
            await service.committer.commit(tau_start, [(k, None) for k in keys], keys)

        await with_retries(attempt, service.rng)

    # -- GSI backfill --------------------------------------------------------------------------------

    def schedule_backfill(self, table_name: str, table_id: int, index_no: int) -> None:
        if (table_id, index_no) in self._backfilling or self._nursery is None:
            return
        self._backfilling.add((table_id, index_no))
        self._nursery.start_soon(self._backfill, table_name, table_id, index_no)

    async def resume_backfills(self) -> None:
        """Pick up CREATING indexes (after a restart, or another process's UpdateTable)."""
        for table in await self.service.catalog.list_tables(eventual=True):
            for index in table.indexes:
                if index.status == "CREATING":
                    self.schedule_backfill(table.name, table.table_id, index.number)

    async def _backfill(self, table_name: str, table_id: int, index_no: int) -> None:
        try:
            await trio.sleep(cat.DROP_GRACE_S)
            await self._backfill_items(table_name, table_id, index_no)
        except Exception:
            log.exception("dynamodb: backfill of index %d of %s failed; it will be retried", index_no, table_name)
        finally:
            self._backfilling.discard((table_id, index_no))

    async def _backfill_items(self, table_name: str, table_id: int, index_no: int) -> None:
        service = self.service
        table = await service.catalog.get(table_name)
        if table.table_id != table_id or all(i.number != index_no for i in table.indexes):
            return
        scan_filter = ("and", ("cmp", "=", 0, table_id), ("cmp", "=", 1, 0))
        item_keys: list[bytes] = []
        pages = service.storage.scan(keycodec.NS, keycodec.NS_END, service.committer.begin(), filter_tree=scan_filter)
        async with contextlib.aclosing(pages):
            async for page in pages:
                await checkpoint_if_due()
                item_keys += [key for key, _ in page]
        for i in range(0, len(item_keys), BACKFILL_BATCH_ITEMS):
            await self._backfill_batch(table, index_no, item_keys[i : i + BACKFILL_BATCH_ITEMS])

        def activate(current: TableSchema) -> tuple[TableSchema | None, list[tuple[bytes, Any]]]:
            indexes = tuple(i if i.number != index_no else replace(i, status="ACTIVE") for i in current.indexes)
            return current.changed(indexes=indexes), []

        current = await service.catalog.get(table_name)
        if current.table_id == table_id and any(i.number == index_no for i in current.indexes):
            await modify_table(service, table_name, activate)
        log.info("dynamodb: index %d of %s backfilled (%d items)", index_no, table_name, len(item_keys))

    async def _backfill_batch(self, table: TableSchema, index_no: int, keys: list[bytes]) -> None:
        service = self.service
        index = next(i for i in table.indexes if i.number == index_no)

        async def attempt() -> None:
            tau_start = service.committer.begin()
            stored = await service.storage.get(keys, tau_start)
            writes: list[tuple[bytes, Any]] = []
            for value in stored:
                if value is None:
                    continue
                item = value[2]
                key = itemkeys.entry_key(table, index, item)
                if key is not None:
                    writes.append((key, (table.table_id, index_no, itemkeys.projected(table, index, item))))
            # Lock the items too: a writer that read them before this commit
            # (and might not know the index) must lose and retry.
            write_keys = [k for k, _ in writes] + keys
            await service.committer.commit(tau_start, writes, write_keys)

        await with_retries(attempt, service.rng)

    # -- item counts ----------------------------------------------------------------------------------

    async def counts(self, table: TableSchema) -> dict[int, tuple[int, int]]:
        """(items, bytes) per index number (0: the table), possibly a little stale."""
        cached = self._counts.get(table.table_id)
        now = time.monotonic()
        if cached is not None:
            counts, computed_at, took = cached
            if took > COUNT_CHEAP_S and now - computed_at < COUNTS_REUSE_S:
                return counts
        started = time.monotonic()
        tally: dict[int, list[int]] = {}
        with trio.move_on_after(COUNT_BUDGET_S) as scope:
            pages = self.service.storage.scan(
                keycodec.NS, keycodec.NS_END, policy=EVENTUAL, filter_tree=("cmp", "=", 0, table.table_id)
            )
            async with contextlib.aclosing(pages):
                async for page in pages:
                    await checkpoint_if_due()
                    for _, stored in page:
                        entry = tally.setdefault(stored[1], [0, 0])
                        entry[0] += 1
                        entry[1] += av.item_size(stored[2])
        if scope.cancelled_caught:
            return cached[0] if cached is not None else {}
        counts = {number: (c[0], c[1]) for number, c in tally.items()}
        self._counts[table.table_id] = (counts, time.monotonic(), time.monotonic() - started)
        return counts

    def forget_counts(self, table_id: int) -> None:
        self._counts.pop(table_id, None)


def _expired(item: dict[str, Any], attribute: str | None, now: float) -> bool:
    if attribute is None:
        return False
    value = item.get(attribute)
    if value is None or "N" not in value:
        return False
    try:
        when = Decimal(value["N"])
    except InvalidOperation:
        return False
    return now - TTL_PAST_LIMIT_S <= when <= Decimal(now)
