"""Finding what holds the thread: a trio instrument that reports long task steps.

Everything in an embedded server shares one trio thread (cluster/timeslice.py
says why that makes long uncut work a bug). When a step of some task runs
longer than a threshold, this instrument logs a warning naming the task, how
long the step ran, and the code between where the task resumed and where it
next suspended: the stretch of code that should have checked in. It costs a
clock read and a stack walk per task step, so it is off unless asked for
(`dsql serve --log-stalls-ms N`, or the DSQL_LOG_STALLS_MS environment
variable, for tests and benchmarks).
"""

from __future__ import annotations

import gc
import inspect
import logging
import os
from time import perf_counter

import trio

log = logging.getLogger("dsql.stalls")

ENV = "DSQL_LOG_STALLS_MS"


def _where(frames: list[tuple[str, int, str]]) -> str:
    """The await chain as `file:line function`, innermost first, trio's own frames left out."""
    ours = [f"{path.rsplit('/', 1)[-1]}:{line} {name}" for path, line, name in frames if "/trio/" not in path]
    return " < ".join(reversed(ours[-6:])) if ours else "(trio internals)"


def _chain(task: trio.lowlevel.Task) -> list[tuple[str, int, str]]:
    """Where a task is suspended: every coroutine frame of its await chain, outermost first."""
    out = []
    coro = task.coro
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            out.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        awaited = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
        if awaited is not None and not hasattr(awaited, "cr_frame") and not hasattr(awaited, "ag_frame"):
            # `async for` awaits an asend object, which only links to its
            # generator internally: find the generator among its referents.
            awaited = next((r for r in gc.get_referents(awaited) if inspect.isasyncgen(r)), awaited)
        coro = awaited
    return out


class StallWatch(trio.abc.Instrument):
    def __init__(self, threshold_s: float) -> None:
        self.threshold_s = threshold_s
        self.stalls = 0
        self.longest_s = 0.0
        self._gc_started = 0.0
        self._started = perf_counter()
        self._resumed: list[tuple[str, int, str]] = []

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._started = perf_counter()
        self._resumed = _chain(task)

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        took = perf_counter() - self._started
        if took < self.threshold_s:
            return
        self.stalls += 1
        self.longest_s = max(self.longest_s, took)
        log.warning("task %r held the thread for %.0f ms: resumed at %s; suspended at %s",
                    task.name, took * 1000, _where(self._resumed), _where(_chain(task)))

    def on_gc(self, phase: str, info: dict) -> None:
        """gc.callbacks: a cycle collection that holds the thread is reported too."""
        if phase == "start":
            self._gc_started = perf_counter()
            return
        took = perf_counter() - self._gc_started
        if took >= self.threshold_s / 4:
            log.warning("cycle collection of generation %d held the thread for %.0f ms (%d objects freed)",
                        info["generation"], took * 1000, info["collected"])


def install_from(threshold_ms: float | None = None) -> StallWatch | None:
    """Add a StallWatch to the running trio loop if a threshold is given (or set in the environment)."""
    if threshold_ms is None:
        raw = os.environ.get(ENV, "")
        threshold_ms = float(raw) if raw else 0.0
    if threshold_ms <= 0:
        return None
    watch = StallWatch(threshold_ms / 1000)
    trio.lowlevel.add_instrument(watch)
    gc.callbacks.append(watch.on_gc)
    log.info("reporting task steps longer than %g ms", threshold_ms)
    return watch
