"""Table metadata in storage, and the cache every request reads it through.

Layout, under the system key space (0x01, beside the SQL catalog's `cat/`):

    ddb/table/<name>        the table's `TableSchema` record
    ddb/next-table-id       the next table id to hand out
    ddb/dropped/<id>/<ino>  a dropped table (ino 255) or index, whose keys the
                            reaper deletes in the background
    ddb/token/<token>       a TransactWriteItems ClientRequestToken (see transact)

Metadata changes are transactions through the adjudicators like any other
write, so two concurrent CreateTable of one name write the same key and one
of them loses; its retry then finds the table and answers
ResourceInUseException.

Requests read tables through a cache. An entry is trusted for
`CACHE_TTL_S` and then re-read strongly; this process's own changes update
it at once. Item writes do not re-validate the table on every request (that
would make every write a cross-range commit with the system range); what
keeps them correct when metadata changes:
- a new table gets a new id, and ids are never reused, so a write with stale
  metadata can only ever touch a dropped table's keys, which the reaper
  removes after `DROP_GRACE_S` (longer than any cache lifetime);
- a new GSI is backfilled only after `DROP_GRACE_S` too, by which time every
  writer knows it; the backfill locks each item it indexes (see `indexes`).
"""

from __future__ import annotations

import struct
import time
from typing import Any

from kv.dynamodb.errors import DynamoError, table_not_found
from kv.dynamodb.schema import TableSchema
from kv.dynamodb.table_requests import check_table_name
from kv.dynamodb.txn import Committer
from storage import keys
from storage.client import EVENTUAL, STRONG, StorageClient

PREFIX = keys.NS_SYSTEM + b"ddb/"
TABLE_PREFIX = PREFIX + b"table/"
NEXT_TABLE_ID_KEY = PREFIX + b"next-table-id"
DROPPED_PREFIX = PREFIX + b"dropped/"
TOKEN_PREFIX = PREFIX + b"token/"

# How long a cached table is trusted before it is read again. Short enough
# that another process's CreateTable/UpdateTable is seen within a second or so.
CACHE_TTL_S = 1.0
# A dropped table's keys and a new GSI's backfill wait this long, so that no
# request still working from older metadata can write after them.
DROP_GRACE_S = 3.0
WHOLE_TABLE = 255  # index number meaning "the whole table" in a dropped marker


def table_key(name: str) -> bytes:
    return TABLE_PREFIX + name.encode()


def dropped_key(table_id: int, index_no: int) -> bytes:
    return DROPPED_PREFIX + struct.pack(">IB", table_id, index_no)


def token_key(token: str) -> bytes:
    return TOKEN_PREFIX + token.encode()


class Catalog:
    def __init__(self, storage: StorageClient, committer: Committer) -> None:
        self.storage = storage
        self.committer = committer
        self._cache: dict[str, tuple[TableSchema, float]] = {}

    async def find(self, name: str) -> TableSchema | None:
        """The table named `name`, or None."""
        entry = self._cache.get(name)
        if entry is not None and time.monotonic() - entry[1] < CACHE_TTL_S:
            return entry[0]
        (record,) = await self.storage.get([table_key(name)], self.committer.begin())
        if record is None:
            self._cache.pop(name, None)
            return None
        schema = TableSchema.from_record(record)
        self._cache[name] = (schema, time.monotonic())
        return schema

    async def get(self, name: Any, *, describe_style: bool = False) -> TableSchema:
        """The table, or ResourceNotFoundException (ValidationException for a malformed name)."""
        check_table_name(name)
        schema = await self.find(name)
        if schema is None:
            raise table_not_found(name) if describe_style else DynamoError("ResourceNotFoundException", "Requested resource not found")
        return schema

    def remember(self, schema: TableSchema | None, name: str) -> None:
        """Update the cache after this process committed a metadata change."""
        if schema is None:
            self._cache.pop(name, None)
        else:
            self._cache[name] = (schema, time.monotonic())

    def forget(self, name: str) -> None:
        self._cache.pop(name, None)

    async def list_tables(self, *, eventual: bool = False) -> list[TableSchema]:
        """Every table, in name order (a strong scan of the metadata, unless `eventual`)."""
        tau = None if eventual else self.committer.begin()
        policy = EVENTUAL if eventual else STRONG
        out: list[TableSchema] = []
        async for page in self.storage.scan(TABLE_PREFIX, keys.prefix_end(TABLE_PREFIX), tau, policy=policy):
            out.extend(TableSchema.from_record(record) for _, record in page)
        return out

    async def tokens(self) -> list[tuple[bytes, dict[str, Any]]]:
        """Every remembered ClientRequestToken (key, record)."""
        tau = self.committer.begin()
        out: list[tuple[bytes, dict[str, Any]]] = []
        async for page in self.storage.scan(TOKEN_PREFIX, keys.prefix_end(TOKEN_PREFIX), tau):
            out.extend(page)
        return out

    async def dropped(self) -> list[tuple[bytes, dict[str, Any]]]:
        tau = self.committer.begin()
        out: list[tuple[bytes, dict[str, Any]]] = []
        async for page in self.storage.scan(DROPPED_PREFIX, keys.prefix_end(DROPPED_PREFIX), tau):
            out.extend(page)
        return out
