"""Python's cycle collector in a server that keeps millions of objects.

CPython frees almost everything by reference counting; its cycle collector
exists for reference cycles, and a full collection walks every container it
tracks. A storage node's data (a dict of millions of keys, version tuples,
row tuples) has no cycles, yet while it was tracked each full collection held
the server's one thread for up to seconds (storage/mvcc.py keeps versions in
tuples, which the collector stops tracking, for the same reason). So the
embedded server loads its checkpoints with the collector off, then moves
everything alive at that point into the permanent generation (`gc.freeze`),
which later collections skip: the long-lived structures are never walked
again, and reference counting still frees whatever becomes garbage in them.

What is added later (the sorted key lists of new rows, mostly) is walked by
every full collection: about 45 ms per million keys. By default CPython runs
one every ~70,000 allocations once nearly everything is frozen, which under a
bulk load meant a 90 ms pause every 0.6 s. `loading` therefore also raises the
thresholds so that a full collection comes every few million allocations:
young garbage is still collected as often as before (a larger youngest
generation costs nothing per object), and the rare full collection finds
the long-lived cycles.

A full collection that still takes longer than `FREEZE_AFTER_S` (the heap
grew by millions of containers: a bulk load) is followed by another freeze,
so the next one walks only what is added after it. The price: objects alive
at that moment that later die in a reference cycle (a session that closes,
say) are never collected, a bounded loss that occurs only after a large
load, against a pause that grows with every row loaded (550 ms at two
million rows, past the journal's election timeout).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager

# Allocations between young collections, young collections per middle one, middle
# ones per full one: a full collection every 10,000 * 10 * 50 = 5 million allocations.
THRESHOLDS = (10_000, 10, 50)
FREEZE_AFTER_S = 0.1


@contextmanager
def loading() -> Iterator[None]:
    """Around the start of a server: no cycle collection while data is loaded,
    then everything loaded is frozen out of later collections."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)
        if _refreeze not in gc.callbacks:
            gc.callbacks.append(_refreeze)
        if was_enabled:
            gc.enable()


_full_started = 0.0


def _refreeze(phase: str, info: dict) -> None:
    """gc callback: freeze again after a full collection that took too long."""
    global _full_started
    if info["generation"] != 2:
        return
    if phase == "start":
        _full_started = time.perf_counter()
    elif time.perf_counter() - _full_started > FREEZE_AFTER_S:
        gc.freeze()
