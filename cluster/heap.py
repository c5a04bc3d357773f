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
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


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
        if was_enabled:
            gc.enable()
