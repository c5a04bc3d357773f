"""What the journal carries: the commit record, defined once.

The journal itself treats a record's payload as opaque bytes (it orders and
replicates them; journal/replica.py). What those bytes mean is agreed between
the writers of commits (the QP and the DynamoDB front end, through an
adjudicator) and the readers (storage nodes applying the log), and this is
the one place that says it.

The encoding is a msgpack map, `{"w": writes, "cv": catalog_version}` plus
`"rd": dropped_ranges` when there are any, because records of that shape are
already in journals on disk: a data directory written before this module
replays unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cluster import codec


class CommitRecord(msgspec.Struct, frozen=True):
    """One committed transaction.

    `writes`: its post-images, (key, value) with value None for a delete.
    `catalog_version`: the catalog version it installs (DDL), else None.
    `dropped_ranges`: key ranges [start, end) it abandons (a dropped table's or
    index's), for storage to reclaim once no snapshot can read them."""

    writes: list[tuple[bytes, Any]] | tuple[tuple[bytes, Any], ...]
    catalog_version: int | None = None
    dropped_ranges: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...] = ()

    def encode(self) -> bytes:
        record: dict[str, Any] = {"w": self.writes, "cv": self.catalog_version}
        if self.dropped_ranges:
            record["rd"] = list(self.dropped_ranges)
        return codec.encode(record)

    @classmethod
    def decode(cls, payload: bytes) -> CommitRecord:
        record = codec.decode(payload)
        return cls(record["w"], record.get("cv"), record.get("rd", ()))
