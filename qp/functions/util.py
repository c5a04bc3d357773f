"""Small helpers shared by the function modules: converting a value of a
known type to its text form (for concat, format, ||, array_to_string, json)
without re-dispatching on the type for every value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qp.types.context import EvalContext
from qp.types.core import SqlType
from qp.types.text_io import text_out

# Types whose text form depends on the session (float digits, time zone, bytea_output).
_CTX_OIDS = frozenset({17, 700, 701, 1184, 2249})


def needs_ctx_for_text(t: SqlType) -> bool:
    if t.oid in _CTX_OIDS:
        return True
    if t.is_array and t.elem is not None:
        return needs_ctx_for_text(t.elem)
    return False


def text_of(t: SqlType) -> Callable[[EvalContext, Any], str]:
    """(ctx, value) -> PG's text output of a value of type t."""
    if t.oid in (25, 1043, 705, 19, 1042, 114):
        return lambda ctx, v: v
    if needs_ctx_for_text(t):
        return lambda ctx, v: text_out(t, ctx)(v)
    f = text_out(t)
    return lambda ctx, v: f(v)


ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def ascii_lower(s: str) -> str:
    """lower() in the C locale: only ASCII letters change."""
    return s.lower() if s.isascii() else s.translate(ASCII_LOWER)


def ascii_upper(s: str) -> str:
    return s.upper() if s.isascii() else s.translate(ASCII_UPPER)
