"""Write-ahead files: checksummed frames in numbered segment files on a `Disk`.

A frame on disk is `u32 length | u32 crc32c(body) | body`; what a body means
is the caller's business (`journal.wal`). Frames are appended to the newest
segment, `wal-<sequence>.log`; a new segment starts once the newest passes
`segment_bytes_max`, and it begins with header frames the caller supplies
(its durable state in brief), so that older segments can be deleted without
losing anything still needed.

Recovery reads every segment in order and stops at the first frame that is
short or fails its checksum. In the newest segment that is a torn write from
a crash (bytes after the last sync, which nobody was told about), so the file
is cut there and nothing after it is applied. A bad frame in an older segment
would be damage to data that was synced and acknowledged: that is reported
(`CorruptJournal`), never silently cut.

A frame's checksum is computed when it is written and checked again whenever
it is read back.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import crc32c

from cluster.disk import Disk

_frame_header = struct.Struct(">II")
FRAME_HEADER_BYTES = _frame_header.size
# Why 64 MiB: big enough that rotation is rare at full speed, small enough that
# compaction frees space in useful steps.
SEGMENT_BYTES_MAX = 64 * 1024 * 1024
# A frame longer than this is garbage, not a record: a frame holds at most one
# slot, and a slot at most one 10 MiB transaction beyond its byte budget.
FRAME_BYTES_MAX = 64 * 1024 * 1024
_PREFIX = "wal-"
_SUFFIX = ".log"


class CorruptJournal(Exception):
    """A damaged frame where no torn write can be: acknowledged data is at risk."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where a frame lives: enough to read it back without scanning."""

    segment: int
    offset: int
    length: int  # of the whole frame, header included


def encode_frame(body: bytes) -> bytes:
    return _frame_header.pack(len(body), crc32c.crc32c(body)) + body


def parse_frames(data: bytes) -> tuple[list[tuple[int, int, bytes]], int]:
    """(offset, frame length, body) of each good frame, and where the good frames end."""
    frames = []
    offset = 0
    while offset + FRAME_HEADER_BYTES <= len(data):
        length, checksum = _frame_header.unpack_from(data, offset)
        start = offset + FRAME_HEADER_BYTES
        end = start + length
        if length > FRAME_BYTES_MAX or end > len(data):
            break
        body = data[start:end]
        if crc32c.crc32c(body) != checksum:
            break
        frames.append((offset, end - offset, body))
        offset = end
    return frames, offset


def segment_name(sequence: int) -> str:
    return f"{_PREFIX}{sequence:010d}{_SUFFIX}"


def _sequence_of(name: str) -> int | None:
    if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
        digits = name[len(_PREFIX) : -len(_SUFFIX)]
        if digits.isdigit():
            return int(digits)
    return None


class SegmentFiles:
    """The segments of one write-ahead log."""

    def __init__(self, disk: Disk, *, segment_bytes_max: int = SEGMENT_BYTES_MAX) -> None:
        self.disk = disk
        self.segment_bytes_max = segment_bytes_max
        self._segments: list[int] = []  # sequences, ascending
        self._current_bytes = 0
        self.torn_bytes_cut = 0  # how much recovery cut off (tests and logs)

    @property
    def segments(self) -> list[int]:
        return list(self._segments)

    async def recover(self) -> list[tuple[Location, bytes]]:
        """Every intact frame in order; a torn tail of the newest segment is cut off."""
        sequences = sorted(s for s in map(_sequence_of, await self.disk.names()) if s is not None)
        out: list[tuple[Location, bytes]] = []
        for index, sequence in enumerate(sequences):
            name = segment_name(sequence)
            data = await self.disk.read(name)
            frames, good_end = parse_frames(data)
            for offset, length, body in frames:
                out.append((Location(sequence, offset, length), body))
            if good_end < len(data):
                if index != len(sequences) - 1:
                    raise CorruptJournal(f"{name}: damaged frame at byte {good_end} before later segments")
                self.torn_bytes_cut += len(data) - good_end
                await self.disk.truncate(name, good_end)
            self._current_bytes = good_end
        self._segments = sequences
        return out

    async def write(self, bodies: list[bytes], header: Callable[[], list[bytes]]) -> list[Location]:
        """Append frames and sync once; their locations, in order.

        `header()` gives the frames a new segment must start with; it is
        called only when this write starts one.
        """
        frames: list[bytes] = []
        if not self._segments or self._current_bytes >= self.segment_bytes_max:
            sequence = self._segments[-1] + 1 if self._segments else 1
            self._segments.append(sequence)
            self._current_bytes = 0
            frames.extend(encode_frame(b) for b in header())
        first_own = len(frames)
        frames.extend(encode_frame(b) for b in bodies)
        data = b"".join(frames)
        sequence = self._segments[-1]
        start = await self.disk.append(segment_name(sequence), data, sync=True)
        assert start == self._current_bytes, (start, self._current_bytes)
        locations = []
        offset = start
        for i, frame in enumerate(frames):
            if i >= first_own:
                locations.append(Location(sequence, offset, len(frame)))
            offset += len(frame)
        self._current_bytes = offset
        return locations

    async def read_frame(self, location: Location) -> bytes:
        data = await self.disk.read_at(segment_name(location.segment), location.offset, location.length)
        frames, _ = parse_frames(data)
        if len(frames) != 1 or frames[0][1] != location.length:
            raise CorruptJournal(f"{segment_name(location.segment)}: bad frame at byte {location.offset}")
        return frames[0][2]

    async def remove(self, sequence: int) -> None:
        assert sequence != self._segments[-1], "the newest segment is never removed"
        self._segments.remove(sequence)
        await self.disk.remove(segment_name(sequence))
