"""A simulated disk that forgets what was not synced when its machine crashes.

Files are byte arrays. `append(..., sync=True)` takes a simulated write and
sync latency, and the bytes become durable only when the sync completes; a
crash in between (or of bytes appended without sync) leaves a random prefix
of the unsynced bytes, and sometimes garbles the end of that prefix, which is
what a torn write looks like to recovery. A file that was never synced
vanishes in a crash, as a new file's name does on a real file system until
its directory is synced. `replace` (write a file, then rename it over
another) is atomic: a crash leaves either the old file or all of the new.

Nothing here is random by itself: the simulation's seeded generator decides.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import trio


@dataclass(frozen=True)
class DiskFaults:
    write_latency_s: float = 0.00005
    # A write of n bytes takes n / this longer (0: no bandwidth limit).
    write_bytes_per_s: float = 0.0
    sync_latency_min_s: float = 0.0001
    sync_latency_max_s: float = 0.002
    # On a crash, how often the kept unsynced prefix ends in garbage.
    torn_garble: float = 0.5


class SimDisk:
    def __init__(self, rng: random.Random, faults: DiskFaults | None = None) -> None:
        self._rng = rng
        self.faults = faults or DiskFaults()
        self.files: dict[str, bytearray] = {}
        self._durable: dict[str, int] = {}  # name -> synced length (absent: never synced)
        self.syncs = 0
        self.crashes = 0

    async def names(self) -> list[str]:
        return sorted(self.files)

    async def read(self, name: str) -> bytes:
        return bytes(self.files[name])

    async def read_at(self, name: str, offset: int, length: int) -> bytes:
        return bytes(self.files[name][offset : offset + length])

    async def append(self, name: str, data: bytes, *, sync: bool = True) -> int:
        buffer = self.files.setdefault(name, bytearray())
        offset = len(buffer)
        buffer += data
        faults = self.faults
        await trio.sleep(faults.write_latency_s + (len(data) / faults.write_bytes_per_s if faults.write_bytes_per_s else 0))
        if sync:
            await trio.sleep(self._rng.uniform(self.faults.sync_latency_min_s, self.faults.sync_latency_max_s))
            # The file may have been truncated or removed meanwhile; sync what is there.
            if name in self.files:
                self._durable[name] = len(self.files[name])
                self.syncs += 1
        return offset

    async def truncate(self, name: str, size: int) -> None:
        del self.files[name][size:]
        self._durable[name] = size  # a truncate is synced before it returns

    async def remove(self, name: str) -> None:
        del self.files[name]
        self._durable.pop(name, None)

    async def replace(self, source: str, target: str) -> None:
        """fsync `source`, rename it over `target`, fsync the directory: a
        crash before it returns leaves `target` as it was (and `source` as
        unsynced as it was); after, `target` is `source`'s bytes, durable."""
        await trio.sleep(self._rng.uniform(self.faults.sync_latency_min_s, self.faults.sync_latency_max_s))
        if source not in self.files:
            return  # the machine crashed under the call (its task is being cancelled)
        self.files[target] = self.files.pop(source)
        self._durable.pop(source, None)
        self._durable[target] = len(self.files[target])
        self.syncs += 1

    def close(self) -> None:
        pass

    def crash(self) -> int:
        """Lose what was not synced; returns how many unsynced bytes were at risk."""
        self.crashes += 1
        at_risk = 0
        for name in sorted(self.files):
            buffer = self.files[name]
            durable = self._durable.get(name)
            if durable is None:
                at_risk += len(buffer)
                del self.files[name]
                continue
            pending = len(buffer) - durable
            if pending <= 0:
                continue
            at_risk += pending
            kept = self._rng.randrange(pending + 1)
            del buffer[durable + kept :]
            if kept and self._rng.random() < self.faults.torn_garble:
                garbled = self._rng.randrange(1, min(kept, 16) + 1)
                for i in range(len(buffer) - garbled, len(buffer)):
                    buffer[i] = self._rng.randrange(256)
        return at_risk
