"""Statements a session ran, kept by their text, so a repeated one is not parsed, bound
and planned again.

PostgreSQL parses and plans every simple query and every unnamed extended-protocol
statement again; dsql's parsing goes through a JSON parse tree and its binding and
planning are Python, which costs milliseconds for a many-table join. So a session keeps
the last `STATEMENTS_MAX` statements it ran, by their text (and, for Parse, the
parameter types the client declared).

An entry is reused only under the settings it was made with: the session counts its
setting changes (`Session.settings_generation`; the transaction's own characteristics,
which BEGIN sets, do not count), because settings change how a statement's literals are
read (TimeZone, DateStyle, standard_conforming_strings...) and how it is planned. Whether
a plan still fits the catalog, the search path, the role, the temporary objects and the
statistics is decided at every run, as for named prepared statements
(`Prepared.planned_for`, qp/frontend/runner.py).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

STATEMENTS_MAX = 128  # per session; a plan of a big join holds a few hundred objects
_CACHED_KINDS = frozenset({"query", "insert", "update", "delete"})


class StatementCache:
    """A bounded LRU map from (text, declared types, settings generation) to what it made."""

    def __init__(self, capacity: int = STATEMENTS_MAX) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> Any:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return found

    def put(self, key: tuple, value: Any) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def cacheable(prepared: Any) -> bool:
    """Plans of queries and DML are worth keeping (DDL and utility statements have none)."""
    return prepared.kind in _CACHED_KINDS and prepared.plan is not None
