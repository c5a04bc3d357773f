"""DynamoDB Streams, the write side: which stream a table writes to, and its records.

A stream record is an ordinary storage row, written in the same commit as
the item change it describes, under a key whose order is the commit order:

    ddb/stream-rec/<stream id 16B> | τ_commit u64 | tie u48 | index u16

The writer cannot know τ_commit, so the record is a *stamped* write
(journal.interface.CommitRecord.stamped): storage puts τ_commit into the key
when it applies the commit, as FoundationDB fills a versionstamp. `tie` is
random per commit, so two commits that happen to get the same τ (possible
across adjudicator ranges) never share a key, and `index` orders the
records of one commit (a TransactWriteItems' items, in request order).
Hence, per stream:

- every record is written exactly once, atomically with its change, and is
  as durable as the change (the journal holds both);
- records are in commit order, so per item in modification order;
- the old image is the item the write read at τ_start, and the write's
  commit conflicts with any other commit of the item after τ_start, so it
  is exactly the image the change replaced;
- a strong read at τ sees every record with τ_commit ≤ τ and no later commit
  can add one below τ (commit wait and closed timestamps), which is what
  lets a reader (streams_api) move past τ without ever missing a record.

Sequence numbers are the decimal form of that key order:
10^38 + τ·10^18 + tie·10^3 + index, always 39 digits (DynamoDB's are 21 to
40), increasing with the key.

Writes that change nothing (a PutItem of an identical item, an update that
sets what is there, a delete of a missing item) write no record, as the
Developer Guide says ("If you perform a PutItem or UpdateItem operation that
does not change any data in an item, DynamoDB Streams does not write a
stream record for that operation": developerguide/Streams.html).

The stream a table writes to is in its schema (`TableSchema.stream`: the
view type, the stream's id and label); each stream also has a description
record (`ddb/stream-info/<stream ARN>`), which outlives the table's use of
it: disabling a stream, re-enabling it (a new stream, a new ARN) or
deleting the table leaves the old one readable for the retention period.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
from typing import Any

from kv.dynamodb import values as av
from kv.dynamodb.catalog import PREFIX
from kv.dynamodb.schema import TableSchema
from storage import keys

RECORD_PREFIX = PREFIX + b"stream-rec/"
INFO_PREFIX = PREFIX + b"stream-info/"
TRIM_PREFIX = PREFIX + b"stream-trim/"
END_PREFIX = PREFIX + b"stream-end/"

STREAM_ID_BYTES = 16
TIE_MAX = (1 << 48) - 1
# A commit writes at most 100 (TransactWriteItems) or 25 (BatchWriteItem) items,
# far below the three decimal digits the index has in a sequence number.
INDEX_MAX = 999
_SUFFIX = struct.Struct(">HI")  # tie: high 16 bits, low 32 bits
_INDEX = struct.Struct(">H")
_TAU = struct.Struct(">Q")
SEQUENCE_BASE = 10**38

# What the API calls the changes.
INSERT, MODIFY, REMOVE = "INSERT", "MODIFY", "REMOVE"
VIEW_TYPES = ("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")


# -- keys and sequence numbers -----------------------------------------------------------------------


def record_prefix(stream_id: bytes) -> bytes:
    return RECORD_PREFIX + stream_id


def record_key(stream_id: bytes, position: tuple[int, int, int]) -> bytes:
    tau, tie, index = position
    return record_prefix(stream_id) + _TAU.pack(tau) + _tie_bytes(tie) + _INDEX.pack(index)


def _tie_bytes(tie: int) -> bytes:
    return _SUFFIX.pack(tie >> 32, tie & 0xFFFFFFFF)


def position_of(key: bytes) -> tuple[int, int, int]:
    """(τ_commit, tie, index) of a record key."""
    body = key[len(RECORD_PREFIX) + STREAM_ID_BYTES :]
    (tau,) = _TAU.unpack_from(body, 0)
    high, low = _SUFFIX.unpack_from(body, 8)
    (index,) = _INDEX.unpack_from(body, 14)
    return tau, (high << 32) | low, index


def sequence(position: tuple[int, int, int]) -> int:
    tau, tie, index = position
    assert 0 <= tau < 10**20 and 0 <= tie <= TIE_MAX and 0 <= index <= INDEX_MAX
    return SEQUENCE_BASE + tau * 10**18 + tie * 1000 + index


def position(seq: int) -> tuple[int, int, int]:
    """The inverse of `sequence` (for numbers in range: see `valid_sequence`)."""
    rest = seq - SEQUENCE_BASE
    tau, rest = divmod(rest, 10**18)
    tie, index = divmod(rest, 1000)
    return tau, tie, index


def valid_sequence(seq: int) -> bool:
    if not SEQUENCE_BASE <= seq < 2 * SEQUENCE_BASE:
        return False
    _, tie, _ = position(seq)
    return tie <= TIE_MAX


def first_sequence_at(tau: int) -> int:
    return sequence((tau, 0, 0))


def last_sequence_at(tau: int) -> int:
    return sequence((tau, TIE_MAX, INDEX_MAX))


def key_after(stream_id: bytes, seq: int) -> bytes:
    """The first record key whose sequence number is above `seq` (for a scan's start)."""
    tau, tie, index = position(seq)
    if tie > TIE_MAX:
        # Between two τs (e.g. just before a shard's first number): the next τ's first key.
        return key_at_tau(stream_id, tau + 1)
    return record_key(stream_id, (tau, tie, index)) + b"\x00"


def key_at_tau(stream_id: bytes, tau: int) -> bytes:
    """The first key of records committed at `tau` (for a scan's exclusive end)."""
    return record_prefix(stream_id) + _TAU.pack(tau)


def info_key(stream_arn: str) -> bytes:
    return INFO_PREFIX + stream_arn.encode()


def table_info_prefix(table_arn: str) -> bytes:
    return INFO_PREFIX + (table_arn + "/stream/").encode()


def trim_key(stream_id: bytes) -> bytes:
    return TRIM_PREFIX + stream_id


def end_mark(stream_id: bytes) -> tuple[bytes, bytes, Any]:
    """The stamped write that ends a stream at the τ of the commit that disables it.

    The end must be that commit's τ exactly: a reader that read before the disable
    committed may already have returned records up to its own τ_read < τ_commit, and
    every later reader must agree that those records are in the stream (and that a
    stale writer's records after τ_commit are not)."""
    return (END_PREFIX + stream_id, b"", True)


def end_range(stream_id: bytes) -> tuple[bytes, bytes]:
    prefix = END_PREFIX + stream_id
    return prefix, keys.prefix_end(prefix)


def end_of(key: bytes) -> int:
    """The τ an end mark was stamped with."""
    (tau,) = _TAU.unpack_from(key, len(key) - _TAU.size)
    return tau


def info_range() -> tuple[bytes, bytes]:
    return INFO_PREFIX, keys.prefix_end(INFO_PREFIX)


# -- the streams of a table ----------------------------------------------------------------------------


def label_at(epoch_s: float) -> str:
    """DynamoDB's stream label: the stream's creation time, to the millisecond."""
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def stream_arn(table_arn: str, label: str) -> str:
    return f"{table_arn}/stream/{label}"


def new_stream(view: str, created_ns: int, shard_ns: int, previous_label: str | None) -> dict[str, Any]:
    """A new stream: its part of the table schema (`TableSchema.stream`).

    `created_ns` is where its first shard starts (rounded down to the
    millisecond: a shard id carries it in milliseconds); `shard_ns` how long
    each shard stays open before a child replaces it.
    """
    assert view in VIEW_TYPES and shard_ns % 1_000_000 == 0 and shard_ns > 0
    created_ns -= created_ns % 1_000_000
    label = label_at(created_ns / 1e9)
    if previous_label is not None and label <= previous_label:
        # Re-enabled within the same millisecond (or a clock behind the last label):
        # every stream of a table needs its own label, and later ones sort later.
        created_ns = _label_ns(previous_label) + 1_000_000
        label = label_at(created_ns / 1e9)
    return {
        "StreamEnabled": True,
        "StreamViewType": view,
        "id": os.urandom(STREAM_ID_BYTES).hex(),
        "label": label,
        "created_ns": created_ns,
        "shard_ns": shard_ns,
    }


def _label_ns(label: str) -> int:
    parsed = dt.datetime.strptime(label, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=dt.UTC)
    return round(parsed.timestamp() * 1000) * 1_000_000


def info_record(
    table: TableSchema, spec: dict[str, Any], disabled_ns: int | None = None, ready_ns: int | None = None
) -> dict[str, Any]:
    """A stream's description record (`info_key`), which outlives the table's use of the stream.

    `ready_ns`: until then the stream is ENABLING. A stream enabled on an existing table gets
    records from every writer only once every process has re-read the table's metadata
    (catalog.CACHE_TTL_S); DynamoDB likewise shows ENABLING for a while."""
    return {
        "ready_ns": spec["created_ns"] if ready_ns is None else ready_ns,
        "arn": stream_arn(table.arn, spec["label"]),
        "id": spec["id"],
        "label": spec["label"],
        "table": table.name,
        "view": spec["StreamViewType"],
        "key_schema": table.key_schema(),
        "created_ns": spec["created_ns"],
        "shard_ns": spec["shard_ns"],
        "disabled_ns": disabled_ns,
    }


def enabled_stream(table: TableSchema) -> dict[str, Any] | None:
    """The table's stream if it is enabled and has records (its schema part), else None."""
    spec = table.stream
    if spec and spec.get("StreamEnabled") and spec.get("id"):
        return spec
    return None


def needs_old_image(table: TableSchema) -> bool:
    """A table with a stream must read the old item: INSERT or MODIFY, no-op or not, old image."""
    return enabled_stream(table) is not None


# -- records -------------------------------------------------------------------------------------------

Item = dict[str, Any]


class RecordBatch:
    """The stream records of one commit, in the order their changes are added."""

    def __init__(self) -> None:
        self.tie = int.from_bytes(os.urandom(6), "big")
        self.stamped: list[tuple[bytes, bytes, Any]] = []

    def add(
        self, table: TableSchema, old: Item | None, new: Item | None, *, by_service: bool = False
    ) -> None:
        """The record of one item change (nothing if the table has no stream or nothing changed)."""
        spec = enabled_stream(table)
        if spec is None:
            return
        record = make_record(table, spec["StreamViewType"], old, new, by_service=by_service)
        if record is None:
            return
        index = len(self.stamped)
        assert index <= INDEX_MAX, "more stream records in one commit than a sequence number can order"
        suffix = _tie_bytes(self.tie) + _INDEX.pack(index)
        self.stamped.append((record_prefix(bytes.fromhex(spec["id"])), suffix, record))


def make_record(
    table: TableSchema, view: str, old: Item | None, new: Item | None, *, by_service: bool = False
) -> dict[str, Any] | None:
    """What a stream row stores for one change, or None for a change that changes nothing."""
    if old is None and new is None:
        return None
    if old is not None and new is not None and _same(old, new):
        return None
    event = INSERT if old is None else REMOVE if new is None else MODIFY
    either = new if new is not None else old
    assert either is not None
    record: dict[str, Any] = {"e": event, "k": {name: either[name] for name in table.key_names}, "v": view}
    if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") and new is not None:
        record["n"] = new
    if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") and old is not None:
        record["o"] = old
    # SizeBytes: what the record carries (keys and images), at least 1 as the API requires.
    record["s"] = max(1, sum(av.item_size(record[part]) for part in ("k", "n", "o") if part in record))
    if by_service:
        record["svc"] = True
    return record


def _same(a: Item, b: Item) -> bool:
    return a.keys() == b.keys() and all(av.equal(a[name], b[name]) for name in a)
