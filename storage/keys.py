"""Order-preserving key encoding: byte strings whose order is SQL's order.

Storage is one sorted key space (as in CockroachDB and FoundationDB), so a
range of SQL values must be a range of bytes. Each value is a tag byte and a
self-delimiting body, so a composite key is the concatenation of its parts
and a prefix of encoded parts selects exactly the keys that start with those
values. NULL has the highest tag: PostgreSQL's btree puts NULLs last in
ascending order.

Key space layout (first byte):
  0x01  catalog and system keys
  0x02  SQL tables:  0x02 | table key id (u32) | index id (u16) | encoded columns
  0x03  DynamoDB tables (a later issue)

Index id 1 is a table's primary index (the row itself, keyed by its primary
key); other ids are secondary indexes whose entries point at primary keys;
index id 0 is the table's schema stamp (a single key).
"""

from __future__ import annotations

import struct
import uuid
from decimal import Decimal

from cluster.keyspace import NS_DYNAMODB, NS_SQL, NS_SYSTEM  # noqa: F401 - parts name them storage.keys.NS_*

PRIMARY_INDEX_ID = 1
# Index id 0 of a table holds one key: its schema stamp, rewritten by every DDL
# on the table. Writers of the table depend on it (see qp/catalog/stored.py).
SCHEMA_STAMP_INDEX_ID = 0

TAG_FALSE = 0x10
TAG_TRUE = 0x11
TAG_INT = 0x20
TAG_FLOAT = 0x30
TAG_NUM_NEG_INF = 0x40
TAG_NUM_NEG = 0x41
TAG_NUM_ZERO = 0x42
TAG_NUM_POS = 0x43
TAG_NUM_POS_INF = 0x44
TAG_NUM_NAN = 0x45
TAG_BYTES = 0x50
TAG_UUID = 0x60
TAG_NULL = 0xF0

NULL_KEY = bytes([TAG_NULL])

_u64 = struct.Struct(">Q")
_d64 = struct.Struct(">d")
_table_prefix = struct.Struct(">cIH")
_INT_BIAS = 1 << 63


def encode_int(v: int) -> bytes:
    return b"\x20" + _u64.pack(v + _INT_BIAS)


def encode_float(v: float) -> bytes:
    if v != v:  # NaN sorts above every number, as in PostgreSQL
        return b"\x30" + b"\xff" * 8
    if v == 0.0:
        v = 0.0  # -0.0 equals 0.0
    (bits,) = _u64.unpack(_d64.pack(v))
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return b"\x30" + _u64.pack(bits)


def encode_decimal(v: Decimal) -> bytes:
    if v.is_nan():
        return bytes([TAG_NUM_NAN])
    if v.is_infinite():
        return bytes([TAG_NUM_NEG_INF if v < 0 else TAG_NUM_POS_INF])
    if v == 0:
        return bytes([TAG_NUM_ZERO])
    # v = 0.d1d2d3... × 10^exponent with d1 != 0 and no trailing zeros, so
    # 1.0 and 1.00 (equal in SQL) get one key.
    sign, digits, exp = v.normalize().as_tuple()
    exponent = len(digits) + exp
    body = struct.pack(">I", exponent + (1 << 31)) + bytes(48 + d for d in digits) + b"\x00"
    if sign:
        return bytes([TAG_NUM_NEG]) + bytes(255 - b for b in body)
    return bytes([TAG_NUM_POS]) + body


def encode_bytes(v: bytes) -> bytes:
    # 0x00 is escaped as 0x00 0xFF and the end is 0x00 0x01, so a shorter
    # string sorts before any string it prefixes and the encoding self-delimits.
    return b"\x50" + v.replace(b"\x00", b"\x00\xff") + b"\x00\x01"


def encode_text(v: str) -> bytes:
    # UTF-8 byte order equals code point order: the "C" collation DSQL uses.
    return encode_bytes(v.encode())


def encode_bpchar(v: str) -> bytes:
    # char(n) compares without trailing spaces.
    return encode_bytes(v.rstrip(" ").encode())


def encode_bool(v: bool) -> bytes:
    return b"\x11" if v else b"\x10"


def encode_uuid(v: uuid.UUID) -> bytes:
    return b"\x60" + v.bytes


def encoder_for(kind: str):
    """The key encoder for a column kind (see `KEY_KINDS`)."""
    return KEY_KINDS[kind]


# Column kinds that may appear in a key, by the name the catalog records.
KEY_KINDS = {
    "int": encode_int,
    "float": encode_float,
    "numeric": encode_decimal,
    "text": encode_text,
    "bpchar": encode_bpchar,
    "bytes": encode_bytes,
    "bool": encode_bool,
    "uuid": encode_uuid,
}


def encode_values(encoders, values) -> bytes:
    """Concatenate the key encodings of `values` (None encodes as NULL)."""
    if len(encoders) == 1 and len(values) == 1:  # most keys: one column, no generator
        v = values[0]
        return NULL_KEY if v is None else encoders[0](v)
    return b"".join(NULL_KEY if v is None else enc(v) for enc, v in zip(encoders, values, strict=False))


def table_prefix(table_key_id: int, index_id: int) -> bytes:
    return _table_prefix.pack(NS_SQL, table_key_id, index_id)


def table_range(table_key_id: int) -> tuple[bytes, bytes]:
    """[start, end) of every key of a table: rows, index entries and its schema stamp."""
    start = table_prefix(table_key_id, 0)[:5]
    return start, prefix_end(start)


def index_range(table_key_id: int, index_id: int) -> tuple[bytes, bytes]:
    """[start, end) of one index's entries (index id 1: the rows themselves)."""
    start = table_prefix(table_key_id, index_id)
    return start, prefix_end(start)


CATALOG_PREFIX = NS_SYSTEM + b"cat/"


def is_schema_key(key: bytes) -> bool:
    """Catalog keys and tables' schema stamps: a conflict on one is a schema conflict."""
    return key.startswith(CATALOG_PREFIX) or (key[:1] == NS_SQL and key[5:7] == b"\x00\x00")


def prefix_end(prefix: bytes) -> bytes:
    """The first key after every key that starts with `prefix`."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\xff" * (len(prefix) + 1)
    return stripped[:-1] + bytes([stripped[-1] + 1])


def table_key_id_for(oid: int) -> int:
    """Where a table's keys live: its oid with the 32 bits reversed.

    Consecutive oids land far apart in the key space, so the tables of even a
    small schema fall into different range shards and adjudicator ranges, and
    cross-shard commits are the normal case rather than a corner.
    """
    return int(f"{oid:032b}"[::-1], 2)

