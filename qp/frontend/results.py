"""Result rows on their way to the client: values, and one encoder per column.

A statement's rows stay Python values until they are sent, and are encoded a
chunk at a time as pgwire takes them (`chunks`), so a large result streams:
encoding a million rows in one loop would hold the thread (see
cluster/timeslice.py) and double the memory the result takes. An
extended-protocol portal keeps its `ResultRows` and encodes only the rows
each Execute asks for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Encoder = Callable[[Any], bytes]
CHUNK_ROWS = 1024


@dataclass(slots=True)
class ResultRows:
    rows: list[tuple]
    encoders: list[Encoder]

    def __len__(self) -> int:
        return len(self.rows)

    def encode(self, start: int = 0, stop: int | None = None) -> list[list[bytes | None]]:
        return encode_rows(self.rows[start:stop], self.encoders)

    def chunks(self, start: int = 0, stop: int | None = None) -> Iterator[list[list[bytes | None]]]:
        """Rows start..stop, encoded, CHUNK_ROWS at a time."""
        stop = len(self.rows) if stop is None else stop
        for i in range(start, stop, CHUNK_ROWS):
            yield self.encode(i, min(i + CHUNK_ROWS, stop))


def encode_rows(rows: list[tuple], encoders: list[Encoder]) -> list[list[bytes | None]]:
    if len(encoders) == 1:
        enc = encoders[0]
        return [[None if r[0] is None else enc(r[0])] for r in rows]
    return [[None if v is None else enc(v) for enc, v in zip(encoders, row, strict=True)] for row in rows]
