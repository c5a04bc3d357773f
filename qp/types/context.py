"""What an expression may read from its session while it runs.

Most functions are pure. A few read the session: `now()` (the transaction's
start time), text output and input of `timestamptz` (the session TimeZone),
`current_setting()`, `current_user`. They receive an `EvalContext`, built by
the session for each statement, instead of reaching into the session, so the
function library stays free of QP state and is testable on its own.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from qp.types.timezones import UTC, Zone


@dataclass(slots=True)
class EvalContext:
    timezone: str = "UTC"  # the TimeZone setting, as the user wrote it
    tzinfo: Zone = UTC  # the session zone (qp.types.timezones; zones are immutable)
    # Microseconds since 2000-01-01 00:00:00 UTC (PostgreSQL's epoch).
    transaction_timestamp_us: int = 0
    statement_timestamp_us: int = 0
    database: str = "postgres"
    user: str = "postgres"
    session_user: str = "postgres"
    search_path: tuple[str, ...] = ("public",)
    settings: dict[str, str] = field(default_factory=dict)  # lower-cased GUC name -> value
    rng: random.Random = field(default_factory=random.Random)
    extra_float_digits: int = 1
    # Set by the session: how to read a GUC that is not in `settings` (defaults,
    # read-only server settings such as server_version).
    setting_default: dict[str, str] = field(default_factory=dict)
    # The catalog snapshot of the running statement (qp.catalog.stored.CatalogSnapshot),
    # for functions that name relations (regclass output, pg_get_indexdef, ...).
    catalog: object = None
    # reg* values named from `catalog` (qp.pgcatalog.names.reg_output / reg_input, set by
    # the session: this library sits below the catalogs): (type oid, catalog, value, ctx)
    # -> text or oid, None to let the library print or parse it.
    reg_output: Callable[[int, object, int, EvalContext], str | None] | None = None
    reg_input: Callable[[int, object, str, EvalContext], int | None] | None = None
    # The session's process id (pg_backend_pid) and its set_config(name, value,
    # is_local) -> value, which changes a setting as SET does.
    backend_pid: int = 0
    set_config: Callable[[str, str, bool], str] | None = None
    # pg_cancel_backend / pg_terminate_backend: signal_backend(pid, terminate) -> found.
    signal_backend: Callable[[int, bool], bool] | None = None
    # WARNINGs and NOTICEs a function raises while the statement runs, as
    # (severity, sqlstate, message); the session sends them before its result.
    notices: list[tuple[str, str, str]] = field(default_factory=list)

    def get_setting(self, name: str) -> str | None:
        key = name.lower()
        if key in self.settings:
            return self.settings[key]
        return self.setting_default.get(key)
