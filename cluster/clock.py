"""Time: a bounded-uncertainty clock in the style of EC2's ClockBound.

Timestamps (τ) are integers of nanoseconds since the Unix epoch. `now()`
returns an interval (earliest, latest) that contains true time, given the
configured error bound. The clock is also a hybrid logical clock: `latest`
never goes backwards and never falls behind a timestamp the component has
seen (`observe`), so a component never hands out a τ below one it has seen.

How the parts use it (the argument for strong consistency):
- A transaction starts at τ_start = now().latest, which is ≥ true time.
- A commit gets τ_commit from the journal, then the QP waits until
  now().earliest > τ_commit before acknowledging ("commit wait"), so true time
  has passed τ_commit when the client hears COMMIT.
- Any transaction that begins after that acknowledgement therefore has
  τ_start ≥ true time > τ_commit, and its reads (which wait for the storage
  watermark to reach τ_start) include the commit.

The physical source and the sleep are parameters so that a simulator can run
the clock on trio's MockClock.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import msgspec
import trio


class TimeInterval(msgspec.Struct, frozen=True):
    """(earliest, latest): true time is within. (A frozen msgspec Struct, not a frozen
    dataclass: one is made per `now()`, several per statement, and a frozen dataclass's
    `__init__` costs ten times as much.)"""

    earliest: int
    latest: int


def _wall_ns() -> int:
    return time.time_ns()


class Clock:
    def __init__(
        self,
        error_bound_ns: int = 0,
        source_ns: Callable[[], int] = _wall_ns,
        sleep: Callable[[float], Awaitable[None]] = trio.sleep,
    ) -> None:
        assert error_bound_ns >= 0
        self.error_bound_ns = error_bound_ns
        self._source_ns = source_ns
        self._sleep = sleep
        self._last_latest = 0

    def now(self) -> TimeInterval:
        physical = self._source_ns()
        latest = physical + self.error_bound_ns
        if latest <= self._last_latest:
            # Logical tick: never repeat or go back, even if the source stalls
            # or a peer's timestamp was ahead of ours.
            latest = self._last_latest + 1
        self._last_latest = latest
        return TimeInterval(physical - self.error_bound_ns, latest)

    def latest(self) -> int:
        return self.now().latest

    def observe(self, tau: int) -> None:
        """Make every later `now().latest` exceed `tau` (a timestamp seen from elsewhere)."""
        if tau > self._last_latest:
            self._last_latest = tau

    def is_past(self, tau: int) -> bool:
        return self._source_ns() - self.error_bound_ns > tau

    async def wait_until_past(self, tau: int) -> None:
        """Commit wait: return once true time is certainly after `tau`."""
        while True:
            ahead_ns = tau - (self._source_ns() - self.error_bound_ns)
            if ahead_ns < 0:
                return
            await self._sleep((ahead_ns + 1) / 1e9)
