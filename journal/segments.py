"""Write-ahead files of a journal: framed, checksummed records in segments.

A record on disk is `u32 length | u32 crc32c(body) | body`, where the body is
the msgpack of (position, τ, payload). Segments are files named after the
first position they hold; a new one starts past `segment_bytes_max`.

Recovery reads every segment in order and stops at the first frame that is
short or whose checksum fails: that is a torn write from a crash (the bytes
after the last fsync), so the file is cut there and the frame is never
applied. A bad frame followed by good ones would be corruption of
acknowledged data, which the caller reports rather than hides.

Everything here is synchronous file I/O; the journal runs it in a worker
thread so fsync never stalls the event loop.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import crc32c

from cluster import codec

_frame_header = struct.Struct(">II")
FRAME_HEADER_BYTES = _frame_header.size
# Why 64 MiB: big enough that rotation is rare at full speed, small enough that
# compaction frees space in useful steps.
SEGMENT_BYTES_MAX = 64 * 1024 * 1024
# A frame longer than this is garbage, not a record (records are bounded by
# the 10 MiB transaction size limit plus framing).
FRAME_BYTES_MAX = 64 * 1024 * 1024


class CorruptJournal(Exception):
    """A damaged record in the middle of the log: acknowledged data is at risk."""


@dataclass(frozen=True, slots=True)
class Record:
    position: int
    tau: int
    payload: bytes


def encode_frame(record: Record) -> bytes:
    body = codec.encode((record.position, record.tau, record.payload))
    return _frame_header.pack(len(body), crc32c.crc32c(body)) + body


def _segment_name(first_position: int) -> str:
    return f"segment-{first_position:020d}.log"


def list_segments(directory: str) -> list[tuple[int, str]]:
    out = []
    for name in os.listdir(directory):
        if name.startswith("segment-") and name.endswith(".log"):
            out.append((int(name[8:-4]), os.path.join(directory, name)))
    out.sort()
    return out


def read_frames(path: str) -> Iterator[tuple[int, Record]]:
    """(offset after the frame, record) for each good frame, stopping at the first bad one."""
    with open(path, "rb") as f:
        data = f.read()
    offset = 0
    while offset + FRAME_HEADER_BYTES <= len(data):
        length, checksum = _frame_header.unpack_from(data, offset)
        start = offset + FRAME_HEADER_BYTES
        end = start + length
        if length > FRAME_BYTES_MAX or end > len(data):
            return
        body = data[start:end]
        if crc32c.crc32c(body) != checksum:
            return
        position, tau, payload = codec.decode(body)
        yield end, Record(position, tau, payload)
        offset = end


class SegmentWriter:
    """Appends frames to the current segment and fsyncs them."""

    def __init__(self, directory: str, next_position: int) -> None:
        self.directory = directory
        self._file = None
        self._file_bytes = 0
        self._next_position = next_position
        existing = list_segments(directory)
        if existing:
            path = existing[-1][1]
            self._file = open(path, "ab")  # noqa: SIM115 - kept open for the journal's life
            self._file_bytes = self._file.tell()

    def write_and_sync(self, frames: bytes, first_position: int, last_position: int) -> None:
        if self._file is None or self._file_bytes >= SEGMENT_BYTES_MAX:
            self._rotate(first_position)
        self._file.write(frames)
        self._file.flush()
        os.fdatasync(self._file.fileno())
        self._file_bytes += len(frames)
        self._next_position = last_position + 1

    def _rotate(self, first_position: int) -> None:
        if self._file is not None:
            self._file.close()
        path = os.path.join(self.directory, _segment_name(first_position))
        self._file = open(path, "ab")  # noqa: SIM115
        self._file_bytes = self._file.tell()
        _fsync_directory(self.directory)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def recover(directory: str) -> list[Record]:
    """Every intact record, in order; torn tails are cut off the files."""
    os.makedirs(directory, exist_ok=True)
    records: list[Record] = []
    segments = list_segments(directory)
    for index, (_, path) in enumerate(segments):
        good_end = 0
        for good_end, record in read_frames(path):  # noqa: B007 - good_end is used after the loop
            if records and record.position != records[-1].position + 1:
                raise CorruptJournal(f"{path}: position {record.position} after {records[-1].position}")
            records.append(record)
        size = os.path.getsize(path)
        if good_end < size:
            if index != len(segments) - 1:
                raise CorruptJournal(f"{path}: damaged record at byte {good_end} before later segments")
            with open(path, "r+b") as f:
                f.truncate(good_end)
                f.flush()
                os.fsync(f.fileno())
    return records


def read_range(directory: str, from_position: int, max_records: int) -> list[Record]:
    """Records at positions ≥ from_position from disk (the slow path for lagging readers)."""
    out: list[Record] = []
    segments = list_segments(directory)
    for i, (_, path) in enumerate(segments):
        following_first = segments[i + 1][0] if i + 1 < len(segments) else None
        if following_first is not None and following_first <= from_position:
            continue
        for _, record in read_frames(path):
            if record.position >= from_position:
                out.append(record)
                if len(out) >= max_records:
                    return out
    return out


def delete_segments_below(directory: str, position: int) -> int:
    """Remove segments whose every record is below `position`; returns how many."""
    segments = list_segments(directory)
    removed = 0
    for i, (_, path) in enumerate(segments[:-1]):
        following_first = segments[i + 1][0]
        if following_first <= position:
            os.remove(path)
            removed += 1
    if removed:
        _fsync_directory(directory)
    return removed


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
