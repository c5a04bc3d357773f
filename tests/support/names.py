"""Unique, valid table names for tests that share one server.

dsql has one database (``postgres``) and one schema (``public``), so tests keep
out of each other's way by naming their tables after themselves.
"""

from __future__ import annotations

import hashlib
import itertools
import re

_COUNTER = itertools.count(1)
_IDENTIFIER_LENGTH_MAX = 63  # PostgreSQL's NAMEDATALEN - 1


def unique_name(hint: str, prefix: str = "t") -> str:
    """A lower-case identifier built from ``hint`` (e.g. a test's name), unique in this process."""
    base = re.sub(r"[^a-z0-9_]+", "_", hint.lower()).strip("_") or "x"
    serial = next(_COUNTER)
    digest = hashlib.sha1(f"{hint}/{serial}".encode()).hexdigest()[:6]
    suffix = f"_{serial}_{digest}"
    room = _IDENTIFIER_LENGTH_MAX - len(prefix) - 1 - len(suffix)
    return f"{prefix}_{base[:room]}{suffix}"
