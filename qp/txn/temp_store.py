"""Temporary tables' home: a session-local ordered store, and which keys belong in it.

Temporary tables, views and sequences (an extension: Aurora DSQL has none) live only in
the session that creates them. They use the same descriptors, key encodings, binder,
planner and executor as every other relation; what differs is where their keys go:

- Their object ids come from a range of their own, `TEMP_OID_BASE` and up, counted per
  session. A table's keys live at `keys.table_key_id_for(oid)` (the oid's bits reversed),
  so a temporary table's key id ends in the byte 0xFF: no permanent table's does, since
  that would take an oid of at least 0xFF000000. Descriptors (`relation_key(oid)`) and
  sequence states are keyed by the oid, so they too are told apart by their first byte.
- A transaction buffers writes of temporary keys like any other (read-your-writes,
  savepoints and ROLLBACK work unchanged), reads them from this store instead of storage,
  and at COMMIT applies them here and sends only the rest to the adjudicators; a
  transaction that wrote only temporary keys commits without a journal round trip.
- DDL on temporary objects bumps this store's own catalog version and oid counter
  (`TEMP_VERSION_KEY`, `TEMP_NEXT_OID_KEY`), never the shared ones, so no other session
  sees a new catalog version or gets OC001 because of it.

The store is an attribute of the session and goes away with it (a closed or killed
connection frees its temporary tables); DISCARD TEMP clears it.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Any

from qp.catalog.stored import RELATION_PREFIX, SEQUENCE_STATE_PREFIX, relation_key
from qp.errors import SqlError
from storage import keys

# The store lives in the QP's memory: past this many keys (rows, index entries and
# descriptors together; a few hundred MB of typical rows), a commit that would add more is
# refused before anything of it is committed (53400, as PostgreSQL's temp_file_limit).
TEMP_KEYS_MAX = 1_000_000


class TempStore:
    """One session's committed temporary keys, in key order."""

    __slots__ = ("values", "_sorted", "generation", "overlay_cache", "on_commit")

    def __init__(self) -> None:
        self.values: dict[bytes, Any] = {}
        self._sorted: list[bytes] = []
        # Bumped by every change of a temporary descriptor (not of rows), so that catalog
        # overlays, and the plans made with them, are built again only when one changes.
        self.generation = 0
        self.overlay_cache: Any = None  # (base, generation, snapshot): qp/catalog/temp_overlay.py
        # ON COMMIT DELETE ROWS / DROP of temporary tables, by oid (PRESERVE ROWS is not kept).
        self.on_commit: dict[int, str] = {}

    def __bool__(self) -> bool:
        return bool(self.values)

    def get(self, key: bytes) -> Any:
        return self.values.get(key)

    def items_in(self, start: bytes, end: bytes | None) -> list[tuple[bytes, Any]]:
        lo = bisect_left(self._sorted, start)
        hi = len(self._sorted) if end is None else bisect_left(self._sorted, end)
        return [(k, self.values[k]) for k in self._sorted[lo:hi]]

    def check_room(self, writes: list[tuple[bytes, Any]]) -> None:
        """Refuse writes that would take the store past `TEMP_KEYS_MAX` keys."""
        added = sum(1 for key, value in writes if value is not None and key not in self.values)
        if len(self.values) + added > TEMP_KEYS_MAX:
            raise SqlError(
                "53400",
                f"temporary tables of this session would hold more than {TEMP_KEYS_MAX} keys",
                hint="Drop or truncate temporary tables no longer needed.",
            )

    def apply(self, writes: list[tuple[bytes, Any]], dropped: list[tuple[bytes, bytes]]) -> None:
        """A committed transaction's temporary writes (None deletes) and abandoned ranges."""
        for start, end in dropped:
            self.delete_range(start, end)
        for key, value in writes:
            if value is None:
                if self.values.pop(key, None) is not None:
                    del self._sorted[bisect_left(self._sorted, key)]
            else:
                if key not in self.values:
                    insort(self._sorted, key)
                self.values[key] = value
        if any(key.startswith(RELATION_PREFIX) for key, _ in writes):
            self.generation += 1
        self._on_commit()

    def _on_commit(self) -> None:
        """ON COMMIT DELETE ROWS empties its table at every commit; ON COMMIT DROP drops
        its table at the end of the transaction that created it."""
        for oid, action in list(self.on_commit.items()):
            descriptor = relation_key(oid)
            if descriptor not in self.values:  # dropped, or its CREATE rolled back
                del self.on_commit[oid]
                continue
            start, end = keys.table_range(keys.table_key_id_for(oid))
            stamp = keys.table_prefix(keys.table_key_id_for(oid), keys.SCHEMA_STAMP_INDEX_ID)
            stamp_value = self.values.get(stamp)
            self.delete_range(start, end)
            if action == "delete":
                if stamp_value is not None:
                    self.values[stamp] = stamp_value
                    insort(self._sorted, stamp)
                continue
            del self.on_commit[oid]
            self.generation += 1
            self.delete_range(descriptor, keys.prefix_end(descriptor))  # with its comments
            for key, record in self.items_in(RELATION_PREFIX, keys.prefix_end(RELATION_PREFIX)):
                if not isinstance(record, dict) or record.get("kind") != "sequence":
                    continue
                owner = record.get("owned_by")
                if owner and owner[0] == oid:
                    self.delete_range(key, keys.prefix_end(key))
                    self.values.pop(SEQUENCE_STATE_PREFIX + key[len(RELATION_PREFIX) :], None)
                    self._sorted = sorted(self.values)

    def delete_range(self, start: bytes, end: bytes) -> None:
        lo = bisect_left(self._sorted, start)
        hi = bisect_left(self._sorted, end)
        for key in self._sorted[lo:hi]:
            del self.values[key]
        del self._sorted[lo:hi]

    def clear(self) -> None:
        """DISCARD TEMP: every temporary object of the session is gone."""
        self.values.clear()
        self._sorted.clear()
        self.on_commit.clear()
        self.generation += 1
