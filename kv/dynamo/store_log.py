"""The on-disk form of a Dynamo node's store (`kv.dynamo.store`): its files,
its records, and reading a log file back.

Files (all on one `cluster.disk.Disk`, which may hold other parts' files)
--------------------------------------------------------------------------
`dynamo-<seq>.log`  the log, in numbered files read in order. Each starts
                    with a header record (written and synced when the file
                    is made, so no record ever follows an unsynced header);
                    the newest is the active file that puts append to.
`dynamo-<seq>.compacting`  a compaction's output while it is being written.
`dynamo-meta`       the node's metadata slot (ring, bucket props), one
                    frame, replaced whole through `dynamo-meta.tmp`.

A record is a frame `u32 length | u32 crc32c(body) | body`, the body msgpack
(`cluster.codec`):

    (HEADER, seq, base)                   first in every file; `base`: the file is
                                          a compaction's output and holds the whole
                                          state as of its end (earlier files are void)
    (PUT, partition, bucket, key, object) the copy of (bucket, key) is now `object`
    (REMOVE, bucket, key)                 no copy of (bucket, key) any more

The partition is the caller's (the ring's) number for the key, kept with the
record so that a reload rebuilds the per-partition indexes and Merkle trees.
A record is bounded (`OBJECT_BYTES_MAX`, Riak's 50 MB object plus room for
clocks and metadata; the bucket and key bounds of `interface`): `put_record`
refuses a bigger one with ValueError, and `scan_file` takes a frame that
claims more for garbage. A frame's checksum is computed when it is written
and checked when it is read back.

`scan_file` reads a file in chunks and returns its header and records up to
the first frame that is short, fails its checksum, does not decode or is not
the record expected there; what the store does with the rest is its own
business (see its docstring).
"""

from __future__ import annotations

import struct

import crc32c

from cluster import codec
from cluster.disk import Disk
from kv.dynamo.interface import BUCKET_BYTES_MAX, KEY_BYTES_MAX, VALUE_BYTES_MAX

_frame_header = struct.Struct(">II")
FRAME_HEADER_BYTES = _frame_header.size
# An object is Riak's 50 MB value limit plus its clock, siblings' metadata
# and vtags: 1 MiB of room is far more than those take (clocks are pruned).
OBJECT_BYTES_MAX = VALUE_BYTES_MAX + 1024 * 1024
# A PUT body's msgpack overhead beyond the three byte strings: the tuple,
# the record type, the partition and three bin headers fit in 32 bytes.
_PUT_OVERHEAD_BYTES = 32
RECORD_BYTES_MAX = OBJECT_BYTES_MAX + BUCKET_BYTES_MAX + KEY_BYTES_MAX + _PUT_OVERHEAD_BYTES
# How much `load()` reads at a time (a frame may be bigger; it is read whole).
LOAD_CHUNK_BYTES = 8 * 1024 * 1024

HEADER = 0
PUT = 1
REMOVE = 2

_LOG_PREFIX = "dynamo-"
LOG_SUFFIX = ".log"
COMPACTING_SUFFIX = ".compacting"
META_NAME = "dynamo-meta"
META_TMP_NAME = "dynamo-meta.tmp"


def log_name(seq: int) -> str:
    return f"{_LOG_PREFIX}{seq:010d}{LOG_SUFFIX}"


def compacting_name(seq: int) -> str:
    return f"{_LOG_PREFIX}{seq:010d}{COMPACTING_SUFFIX}"


def seq_of(name: str, suffix: str = LOG_SUFFIX) -> int | None:
    """The sequence number in a log file's name (with `COMPACTING_SUFFIX`: a
    compaction output's), or None for any other name."""
    if name.startswith(_LOG_PREFIX) and name.endswith(suffix):
        digits = name[len(_LOG_PREFIX) : -len(suffix)]
        if digits.isdigit():
            return int(digits)
    return None


def frame(body: bytes) -> bytes:
    return _frame_header.pack(len(body), crc32c.crc32c(body)) + body


def unframe(data: bytes) -> bytes | None:
    """The body of `data` if it is exactly one good frame, else None."""
    if len(data) < FRAME_HEADER_BYTES:
        return None
    length, checksum = _frame_header.unpack_from(data)
    body = data[FRAME_HEADER_BYTES:]
    if length != len(body) or crc32c.crc32c(body) != checksum:
        return None
    return body


def check_bytes(name: str, value: object, bytes_max: int) -> None:
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    if len(value) > bytes_max:
        raise ValueError(f"{name} of {len(value)} bytes exceeds the store's limit of {bytes_max}")


def put_record(partition: int, bucket: bytes, key: bytes, obj: bytes) -> tuple[tuple, bytes]:
    """The PUT record of a copy and its frame; ValueError or TypeError if it is not one."""
    if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
        raise ValueError(f"partition must be a non-negative integer, not {partition!r}")
    check_bytes("bucket", bucket, BUCKET_BYTES_MAX)
    check_bytes("key", key, KEY_BYTES_MAX)
    check_bytes("object", obj, OBJECT_BYTES_MAX)
    record = (PUT, partition, bucket, key, obj)
    body = codec.encode(record)
    assert len(body) <= RECORD_BYTES_MAX, len(body)
    return record, frame(body)


def well_formed(record: object, *, header: bool) -> bool:
    """Whether a decoded body is a record of the kind expected next (the
    header first, key records after it)."""
    if not isinstance(record, tuple) or not record:
        return False
    if header:
        return len(record) == 3 and record[0] == HEADER and isinstance(record[1], int)
    if record[0] == PUT:
        return (
            len(record) == 5
            and isinstance(record[1], int)
            and all(isinstance(field, bytes) for field in record[2:])
        )
    if record[0] == REMOVE:
        return len(record) == 3 and isinstance(record[1], bytes) and isinstance(record[2], bytes)
    return False


class FileScan:
    """What `scan_file` found in one log file."""

    def __init__(self) -> None:
        self.records: list[tuple[tuple, int]] = []  # (record, its frame's bytes)
        self.good_bytes = 0  # where the good frames end
        self.file_bytes = 0
        self.header: tuple | None = None


async def scan_file(disk: Disk, name: str, *, header_only: bool = False) -> FileScan:
    """The records of one log file up to its first bad frame, read in chunks."""
    scan = FileScan()
    buffer = bytearray()
    base = 0  # file offset of buffer[0]
    position = 0  # parse position in buffer
    eof = False
    while True:
        if len(buffer) - position >= FRAME_HEADER_BYTES:
            length, checksum = _frame_header.unpack_from(buffer, position)
            if length > RECORD_BYTES_MAX:
                break  # garbage where a length should be
            end = position + FRAME_HEADER_BYTES + length
            if end <= len(buffer):
                body = bytes(buffer[position + FRAME_HEADER_BYTES : end])
                if crc32c.crc32c(body) != checksum:
                    break
                try:
                    record = codec.decode(body)
                except Exception:
                    break  # a checksummed body that is not a record: written by a bug, never torn
                if not well_formed(record, header=scan.header is None):
                    break
                if scan.header is None:
                    scan.header = record
                    if header_only:
                        scan.good_bytes = base + end
                        return scan
                else:
                    scan.records.append((record, end - position))
                position = end
                scan.good_bytes = base + end
                continue
        if eof:
            break
        # Drop what was parsed and read on.
        del buffer[:position]
        base += position
        position = 0
        chunk = await disk.read_at(name, base + len(buffer), LOAD_CHUNK_BYTES)
        if not chunk:
            eof = True
        buffer += chunk
    scan.file_bytes = base + len(buffer)
    if not eof:
        # Stopped early: find where the file ends without reading it all.
        while chunk := await disk.read_at(name, scan.file_bytes, LOAD_CHUNK_BYTES):
            scan.file_bytes += len(chunk)
    return scan
