"""Functions that wait: pg_sleep, pg_sleep_for, pg_sleep_until.

Every session shares the server's one trio thread, so a wait must be an
await, never `time.sleep`: the binder turns calls to these functions into
`AsyncCall`s (evaluated per row, like a subquery), and the wait ends early,
with 57014, when the statement is cancelled or its statement_timeout passes.
Their arguments and results follow PostgreSQL's: void results (an empty
value), NULL in gives NULL out, and a negative or NaN wait does not wait.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from qp.types.core import FLOAT8, INTERVAL, TIMESTAMPTZ, VOID, Interval, SqlType

# PostgreSQL's `interval` to seconds as pg_sleep_for computes it (epoch of
# now() + interval, minus epoch of now()): a month is 30 days here.
_SECONDS_PER_DAY = 86_400
_UNIX_EPOCH_US = 946_684_800_000_000  # timestamptz values count µs from 2000-01-01


async def _sleep(seconds: float) -> str:
    if math.isnan(seconds) or seconds <= 0:
        return ""
    if math.isinf(seconds):
        await trio.sleep_forever()
    await trio.sleep(seconds)
    return ""  # void


async def _pg_sleep(rc: Any, seconds: float | None) -> str | None:
    return None if seconds is None else await _sleep(seconds)


async def _pg_sleep_for(rc: Any, interval: Interval | None) -> str | None:
    if interval is None:
        return None
    months, days, micros = interval
    return await _sleep((months * 30 + days) * _SECONDS_PER_DAY + micros / 1e6)


async def _pg_sleep_until(rc: Any, until_us: int | None) -> str | None:
    if until_us is None:
        return None
    now_us = time.time() * 1e6 - _UNIX_EPOCH_US  # clock_timestamp(), as PostgreSQL compares with
    return await _sleep((until_us - now_us) / 1e6)


# name -> (argument types, result type, async fn(rc, *args))
ASYNC_FUNCTIONS: dict[str, tuple[tuple[SqlType, ...], SqlType, Callable[..., Awaitable[Any]]]] = {
    "pg_sleep": ((FLOAT8,), VOID, _pg_sleep),
    "pg_sleep_for": ((INTERVAL,), VOID, _pg_sleep_for),
    "pg_sleep_until": ((TIMESTAMPTZ,), VOID, _pg_sleep_until),
}
