"""Cooperative time slices: long work gives the scheduler a turn every few ms.

Every part of an embedded server runs in one trio thread: the sessions, the
journal's replicas with their leases and heartbeats, storage's apply loop and
the DynamoDB endpoint. trio switches tasks only at checkpoints, so a loop that
computes for a second without awaiting anything stalls all of them: another
session's `SELECT 1` waits, the journal leader misses its lease renewal and an
election follows. Loops whose length depends on data (scans, sorts, joins,
aggregates, COPY, index builds, checkpoints, garbage collection) therefore
call `checkpoint_if_due()` once per unit of work (a batch, a page, a row of
an outer loop). It costs one clock read, and only when the current slice has
run `SLICE_S` does it await a real trio checkpoint, which also delivers
cancellation (a CancelRequest, a statement timeout) to the task.

The slice is global to the thread rather than per task: a task that resumes
right after another task's long slice may yield early, which only makes it
more polite. Work that cannot be cut this way (one huge sort, one giant
value) is split or bounded where it happens.

The slice is measured on a real clock (`perf_counter`), so where a long loop
yields depends on how fast the machine runs. That changes no outcome, but it
changes the order in which tasks interleave, which the deterministic
simulator (`cluster.sim`) must not allow: a simulation sets the source to
its simulated time (`use_time_source`), on which computing takes no time, so
a loop yields once at the start of each slice and then only when a task
sleeps, the same on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

import trio

# Long enough that the checkpoint (~10-20 µs) costs under 1 % of a busy
# loop; short enough that other tasks, and the journal's 50 ms heartbeats,
# are never kept waiting long.
SLICE_S = 0.002

_due = 0.0
_now: Callable[[], float] = perf_counter


def use_time_source(now: Callable[[], float] | None) -> None:
    """Measure slices on `now` (seconds) from here on; None goes back to `perf_counter`."""
    global _now, _due
    _now = now or perf_counter
    _due = 0.0


async def checkpoint_if_due() -> None:
    """Yield to the scheduler (and let cancellation in) if this slice is used up."""
    global _due
    if _now() >= _due:
        await trio.lowlevel.checkpoint()
        _due = _now() + SLICE_S


def due() -> bool:
    """Whether the current slice is used up (for loops that batch their own awaits)."""
    return _now() >= _due


async def checkpoint() -> None:
    """Yield to the scheduler now and start a new slice."""
    global _due
    await trio.lowlevel.checkpoint()
    _due = _now() + SLICE_S
