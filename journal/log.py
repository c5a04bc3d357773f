"""The chosen log as subscribers see it: records by position.

The Paxos core decides which value each slot holds; this module turns the
chosen prefix into what `read` serves: records `(position, τ, payload)` with
dense positions. Recent records stay in memory (`memory_records_max`, and
`memory_bytes_max` of payload: a bulk load's records carry a thousand rows each);
older ones are read back from the write-ahead files, so the module also
keeps, per chosen slot, the position its records start at, the τ before it
(to recompute which records are void) and where the frame holding its value
lives.

Compaction moves `first_position` forward; a read below it is refused
rather than answered with a gap.
"""

from __future__ import annotations

from bisect import bisect_right

from journal.messages import Value, effective_records
from journal.segments import Location


class ChosenLog:
    def __init__(self, first_position: int, last_tau: int, memory_records_max: int,
                 memory_bytes_max: int = 1 << 62) -> None:
        assert memory_records_max > 0 and memory_bytes_max > 0
        self.memory_records_max = memory_records_max
        self.memory_bytes_max = memory_bytes_max
        self._memory_bytes = 0  # payload bytes of `_records`
        self.first_position = first_position  # lowest position still readable
        self.end = first_position - 1  # last position (0: none yet)
        self.last_tau = last_tau  # τ of the record at `end` (or before the base)
        self._records: list[tuple[int, int, bytes]] = []
        self._memory_base = first_position  # position of _records[0]
        # Per chosen slot, ascending: the slot, its first position, the τ before it.
        self._slots: list[int] = []
        self._slot_first: list[int] = []
        self._slot_tau_before: list[int] = []
        self._locations: dict[int, Location] = {}

    @property
    def count(self) -> int:
        """Records still readable (a log compacted to its end holds none, yet exists)."""
        return self.end - self.first_position + 1

    @property
    def last_slot(self) -> int:
        return self._slots[-1] if self._slots else 0

    def append_slot(
        self,
        slot: int,
        first_position: int,
        effective: list[tuple[int, int, bytes]],
        tau_before: int,
        location: Location | None,
    ) -> None:
        assert not self._slots or slot == self._slots[-1] + 1, "slots are published in order"
        assert first_position == self.end + 1, "positions are dense"
        self._slots.append(slot)
        self._slot_first.append(first_position)
        self._slot_tau_before.append(tau_before)
        if location is not None:
            self._locations[slot] = location
        if effective:
            assert effective[0][1] > self.last_tau, "τ rises with position"
            if not self._records:
                self._memory_base = effective[0][0]
            self._records.extend(effective)
            self._memory_bytes += sum(len(r[2]) for r in effective)
            self.end = effective[-1][0]
            self.last_tau = effective[-1][1]
            # Trimmed in steps of an eighth, so that the list is not cut at every slot.
            excess = len(self._records) - self.memory_records_max
            if excess > self.memory_records_max // 8 or self._memory_bytes > self.memory_bytes_max * 9 // 8:
                records, cut = self._records, max(excess, 0)
                left = self._memory_bytes - sum(len(r[2]) for r in records[:cut])
                while left > self.memory_bytes_max and cut < len(records) - 1:
                    left -= len(records[cut][2])
                    cut += 1
                del records[:cut]
                self._memory_base += cut
                self._memory_bytes = left

    def set_location(self, slot: int, location: Location) -> None:
        if self._slots and self._slots[0] <= slot <= self._slots[-1]:
            self._locations[slot] = location

    def has_slot(self, slot: int) -> bool:
        return bool(self._slots) and self._slots[0] <= slot <= self._slots[-1]

    def memory_range(self, from_position: int, max_records: int) -> list[tuple[int, int, bytes]] | None:
        """Records from `from_position` if memory holds them (or there are none yet), else None."""
        if from_position > self.end:
            return []
        if from_position < self._memory_base or not self._records:
            return None
        start = from_position - self._memory_base
        return self._records[start : start + max_records]

    def slots_from(self, position: int, count_max: int) -> list[tuple[int, int, int, Location | None]]:
        """(slot, first position, τ before, location) from the slot holding `position`."""
        index = max(bisect_right(self._slot_first, position) - 1, 0)
        out = []
        for i in range(index, min(index + count_max, len(self._slots))):
            slot = self._slots[i]
            out.append((slot, self._slot_first[i], self._slot_tau_before[i], self._locations.get(slot)))
        return out

    def slots_from_slot(self, slot: int, count_max: int) -> list[tuple[int, int, int, Location | None]]:
        """(slot, first position, τ before, location) from `slot` on (slots are contiguous)."""
        if not self._slots or slot > self._slots[-1]:
            return []
        index = max(slot - self._slots[0], 0)
        out = []
        for i in range(index, min(index + count_max, len(self._slots))):
            s = self._slots[i]
            out.append((s, self._slot_first[i], self._slot_tau_before[i], self._locations.get(s)))
        return out

    @staticmethod
    def records_of(value: Value, first_position: int, tau_before: int) -> list[tuple[int, int, bytes]]:
        return effective_records(value, first_position, tau_before)[0]

    def compaction_point(self, position: int) -> tuple[int, int, int] | None:
        """(slot, first position, τ before) of the slot holding position + 1: everything
        before that slot holds only records at or below `position`."""
        if not self._slots:
            return None
        index = bisect_right(self._slot_first, position + 1) - 1
        if index <= 0:
            return None
        # Never compact the last slot away: it anchors `end` and `last_tau`.
        index = min(index, len(self._slots) - 1)
        return self._slots[index], self._slot_first[index], self._slot_tau_before[index]

    def drop_before(self, slot: int) -> None:
        """Forget slots below `slot` (compaction)."""
        if not self._slots or slot <= self._slots[0]:
            return
        index = bisect_right(self._slots, slot - 1)
        for s in self._slots[:index]:
            self._locations.pop(s, None)
        self.first_position = self._slot_first[index] if index < len(self._slots) else self.end + 1
        del self._slots[:index]
        del self._slot_first[:index]
        del self._slot_tau_before[:index]
        if self._memory_base < self.first_position and self._records:
            cut = min(self.first_position - self._memory_base, len(self._records))
            self._memory_bytes -= sum(len(r[2]) for r in self._records[:cut])
            del self._records[:cut]
            self._memory_base += cut

    def rebase(self, position: int, tau: int) -> None:
        """Start again at a peer's compaction point (everything before is gone)."""
        self._records = []
        self._memory_bytes = 0
        self._slots, self._slot_first, self._slot_tau_before = [], [], []
        self._locations = {}
        self.first_position = self._memory_base = position
        self.end = position - 1
        self.last_tau = max(self.last_tau, tau)
