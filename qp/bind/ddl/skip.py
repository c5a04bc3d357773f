"""A DDL statement that binding found has nothing to do (IF [NOT] EXISTS answered it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SkipDdl:
    """Nothing to apply: the statement completes with `tag` and its `notices` (PostgreSQL's
    "relation "x" already exists, skipping") and writes nothing."""

    tag: str
    notices: tuple[str, ...] = ()
