"""Where items and index entries live in the storage key space.

    item        0x03 | h | table_id u32 | 0        | pk | sk
    LSI entry   0x03 | h | table_id u32 | index_no | pk | lsi_sk | sk
    GSI entry   0x03 | h' | table_id u32 | index_no | gsi_pk | gsi_sk | pk | sk

`h` is a 4-byte hash of (table id, encoded partition key) and `h'` the same
of the GSI's partition key. A GSI key made of several attributes (DynamoDB's
multi-attribute keys) is the concatenation of their encodings, in KeySchema
order, for gsi_pk and for gsi_sk alike (see `itemkeys.entry_key`). The hash comes first so that a table's
partitions spread evenly over the range shards that split the 0x03 space by
its next four bytes (hash partitioning riding on range sharding, as
DynamoDB's own partitions are hash ranges). Everything with one partition key
shares a prefix, so a Query is one prefix scan in sort-key order, and an LSI
entry sits beside its item (same hash), on the same shard and usually the
same adjudicator range, so keeping it consistent costs nothing extra. A GSI
entry's key ends with the table key, which makes entries of items that share
a GSI key distinct and orders them deterministically.

Key attribute values are encoded with `storage.keys` (order-preserving,
self-delimiting): S as UTF-8 bytes (DynamoDB sorts strings bytewise), N as
an exact decimal (numeric order, so 100 and 100.0 are one key), B as bytes.

The stored value is `(table_id, index_no, item)`: carrying the ids in the
value lets a whole-table scan push a filter on them down to the storage
node, so other tables' items never cross the transport.
"""

from __future__ import annotations

import hashlib
import struct
from decimal import Decimal
from typing import Any

from storage import keys

HASH_BYTES = 4
TABLE_INDEX = 0  # index number of the table's items
_ids = struct.Struct(">IB")
_u32 = struct.Struct(">I")
NS = keys.NS_DYNAMODB
NS_END = keys.prefix_end(NS)


def encode_key_value(value: dict[str, Any]) -> bytes:
    """The order-preserving encoding of one S, N or B key attribute value."""
    ((kind, body),) = value.items()
    if kind == "S":
        return keys.encode_bytes(body.encode())
    if kind == "N":
        return keys.encode_decimal(Decimal(body))
    return keys.encode_bytes(bytes(body))


def encode_prefix_value(value: dict[str, Any]) -> bytes:
    """The bytes every encoding of an S or B value beginning with `value` starts with."""
    ((kind, body),) = value.items()
    raw = body.encode() if kind == "S" else bytes(body)
    return b"\x50" + raw.replace(b"\x00", b"\x00\xff")


def hash_of(table_id: int, encoded_partition: bytes) -> bytes:
    return hashlib.blake2b(_u32.pack(table_id) + encoded_partition, digest_size=HASH_BYTES).digest()


def partition_prefix(table_id: int, index_no: int, encoded_partition: bytes) -> bytes:
    """Every key of one partition (of the table or of one index) starts with this."""
    return NS + hash_of(table_id, encoded_partition) + _ids.pack(table_id, index_no) + encoded_partition


def item_key(table_id: int, partition: dict[str, Any], sort: dict[str, Any] | None) -> bytes:
    encoded = encode_key_value(partition)
    key = partition_prefix(table_id, TABLE_INDEX, encoded)
    return key if sort is None else key + encode_key_value(sort)


def segment_bounds(segment: int, total: int) -> tuple[bytes, bytes]:
    """The key range of parallel-scan segment `segment` of `total`: a slice of the hash space."""
    low = (segment << 32) // total
    high = ((segment + 1) << 32) // total
    start = NS + _u32.pack(low)
    end = NS_END if high >= 1 << 32 else NS + _u32.pack(high)
    return start, end


def owner_ids(key: bytes) -> tuple[int, int]:
    """(table_id, index_no) of a key in the DynamoDB space."""
    return _ids.unpack_from(key, 1 + HASH_BYTES)
