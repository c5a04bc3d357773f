"""json and jsonb values: parsing, validation, jsonb's canonical form, output
and ordering.

json keeps the text as given (after validation), as PostgreSQL does. jsonb
is held as plain Python JSON inside `Jsonb`: numbers are Decimal (jsonb
numbers are numerics), objects are dicts whose keys are kept in jsonb's
storage order (shorter keys first, then bytewise) with duplicates resolved
to the last value. Keeping that order in the dict makes output, iteration
(jsonb_each, jsonb_object_keys) and comparison follow PG without sorting
again. Comparison follows compareJsonbContainers.
"""

from __future__ import annotations

import json as _json
from decimal import Decimal
from json.decoder import JSONDecodeError
from typing import Any

from qp.errors import SqlError
from qp.stack import check_json_text, stack_depth_exceeded
from qp.types.numeric import normalize_scale, numeric_out

try:  # the C-accelerated string escaper (same escapes as PG's escape_json)
    from _json import encode_basestring as _enc_str  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    from json.encoder import py_encode_basestring as _enc_str  # type: ignore[attr-defined]

encode_json_string = _enc_str


def _key_order(k: str) -> tuple[int, str]:
    return (len(k.encode()), k) if not k.isascii() else (len(k), k)


def make_object(pairs: Any) -> dict:
    """A jsonb object from (key, value) pairs: last duplicate wins, keys in
    jsonb order."""
    d = dict(pairs)
    if len(d) > 1:
        keys = sorted(d, key=_key_order)
        if keys != list(d):
            d = {k: d[k] for k in keys}
    return d


def _bad_constant(s: str) -> Any:
    raise ValueError(s)


def _float(s: str) -> Decimal:
    d = Decimal(s)
    if d.is_finite() and d and abs(d.adjusted()) > 140000:
        raise SqlError("22003", "value overflows numeric format")
    return normalize_scale(d)


_JSONB_DECODER = _json.JSONDecoder(parse_float=_float, parse_int=Decimal, parse_constant=_bad_constant,
                                   object_pairs_hook=make_object)
_JSON_DECODER = _json.JSONDecoder(parse_float=_float, parse_int=Decimal, parse_constant=_bad_constant)


def _syntax_error(s: str, e: Exception | None, typename: str) -> SqlError:
    detail = None
    if isinstance(e, JSONDecodeError):
        if e.pos >= len(s.rstrip()):
            detail = "The input string ended unexpectedly."
        else:
            tok = s[e.pos:].split(None, 1)[0] if s[e.pos:].strip() else s[e.pos:]
            for stop in ",:]}":
                tok = tok.split(stop)[0] or tok[:1]
            if e.msg.startswith("Invalid control character"):
                detail = f"Character with value 0x{ord(s[e.pos]):02x} must be escaped."
            else:
                detail = f'Token "{tok}" is invalid.'
    elif isinstance(e, ValueError) and str(e) in ("NaN", "Infinity", "-Infinity"):
        detail = f'Token "{e}" is invalid.'
    return SqlError("22P02", f"invalid input syntax for type {typename}", detail=detail)


def _check_surrogates(v: Any) -> None:
    if isinstance(v, str):
        try:
            v.encode()
        except UnicodeEncodeError:
            raise SqlError("22P02", "invalid input syntax for type json",
                           detail="Unicode low surrogate must follow a high surrogate.") from None
    elif isinstance(v, dict):
        for k, x in v.items():
            _check_surrogates(k)
            _check_surrogates(x)
    elif isinstance(v, list):
        for x in v:
            _check_surrogates(x)


def _parse(s: str, decoder: _json.JSONDecoder, typename: str) -> Any:
    check_json_text(s)  # 54001 for values nested deeper than dsql can keep (qp/stack.py)
    try:
        v = decoder.decode(s)
    except SqlError:
        raise
    except RecursionError:
        raise stack_depth_exceeded() from None
    except ValueError as e:
        raise _syntax_error(s, e, "json") from None  # PG says "json" for jsonb input too
    if "\\u" in s or "\\U" in s:
        low = s.lower()
        if "\\ud" in low:
            _check_surrogates(v)
        if typename == "jsonb" and "\\u0000" in low:
            raise SqlError("22P05", "unsupported Unicode escape sequence",
                           detail="\\u0000 cannot be converted to text.")
    return v


def parse_jsonb(s: str) -> Jsonb:
    return Jsonb(_parse(s, _JSONB_DECODER, "jsonb"))


def validate_json(s: str) -> str:
    _parse(s, _JSON_DECODER, "json")
    return s


def json_to_python(s: str, as_jsonb: bool = True) -> Any:
    """Parse json text into jsonb's Python form (used by json functions)."""
    return _parse(s, _JSONB_DECODER if as_jsonb else _JSON_DECODER, "json")


def json_ordered_pairs(s: str) -> Any:
    """Parse json text keeping object key order and duplicates (json_each, ->)."""
    dec = _json.JSONDecoder(parse_float=_float, parse_int=Decimal, parse_constant=_bad_constant,
                            object_pairs_hook=_Pairs)
    return _parse(s, dec, "json")


class _Pairs(list):
    """A json object as parsed from json text: ordered pairs, duplicates kept."""


def jsonb_out(v: Any) -> str:
    """jsonb's text form: ', ' and ': ' separators, numbers as numerics."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    t = type(v)
    if t is str:
        return _enc_str(v)
    if t is Decimal:
        return numeric_out(v)
    if t is dict:
        return "{" + ", ".join(_enc_str(k) + ": " + jsonb_out(x) for k, x in v.items()) + "}"
    if t is list:
        return "[" + ", ".join(jsonb_out(x) for x in v) + "]"
    if isinstance(v, Jsonb):
        return jsonb_out(v.value)
    if isinstance(v, (int, float)):
        return jsonb_out(Decimal(v))
    raise TypeError(f"not a jsonb value: {v!r}")


def jsonb_pretty(v: Any, indent: int = 0) -> str:
    pad = "    " * (indent + 1)
    end = "    " * indent
    if isinstance(v, dict):
        if not v:
            return "{\n" + end + "}"
        items = [pad + _enc_str(k) + ": " + jsonb_pretty(x, indent + 1) for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(v, list):
        if not v:
            return "[\n" + end + "]"
        items = [pad + jsonb_pretty(x, indent + 1) for x in v]
        return "[\n" + ",\n".join(items) + "\n" + end + "]"
    return jsonb_out(v)


# --- ordering ---------------------------------------------------------------------

def _rank(v: Any) -> int:
    # jbvNull < jbvString < jbvNumeric < jbvBool < jbvArray < jbvObject
    if v is None:
        return 0
    if v is True or v is False:
        return 3
    t = type(v)
    if t is str:
        return 1
    if t is list:
        return 16
    if t is dict:
        return 17
    return 2


def _cmp_scalar(a: Any, b: Any) -> int:
    if a is None:
        return 0
    return (a > b) - (a < b)


def _cmp_value(a: Any, b: Any) -> int:
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra == 16:
        if len(a) != len(b):
            return -1 if len(a) < len(b) else 1
        for x, y in zip(a, b, strict=False):
            c = _cmp_value(x, y)
            if c:
                return c
        return 0
    if ra == 17:
        if len(a) != len(b):
            return -1 if len(a) < len(b) else 1
        for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=False):
            if ka != kb:
                return -1 if ka < kb else 1
            c = _cmp_value(va, vb)
            if c:
                return c
        return 0
    return _cmp_scalar(a, b)


def jsonb_cmp(a: Any, b: Any) -> int:
    """compareJsonbContainers on two top-level values (scalars are raw
    one-element pseudo arrays there, which is why an empty array sorts
    below null)."""
    da, db = type(a) is dict, type(b) is dict
    if da or db:
        if da and db:
            return _cmp_value(a, b)
        return 1 if da else -1
    la = a if type(a) is list else None
    lb = b if type(b) is list else None
    if la is None and lb is None:
        return _cmp_value(a, b)
    res = 0
    na = len(la) if la is not None else 1
    nb = len(lb) if lb is not None else 1
    if (la is None) != (lb is None):
        res = -1 if la is None else 1
    if na != nb:
        res = 1 if na > nb else -1
    if res:
        return res
    return _cmp_value(la if la is not None else [a], lb if lb is not None else [b])


def jsonb_hash_key(v: Any) -> Any:
    """A hashable key equal for jsonb-equal values (true and 1 differ)."""
    if v is None:
        return ("n",)
    if v is True or v is False:
        return ("b", v)
    t = type(v)
    if t is dict:
        return ("o",) + tuple((k, jsonb_hash_key(x)) for k, x in v.items())
    if t is list:
        return ("a",) + tuple(jsonb_hash_key(x) for x in v)
    if t is str:
        return ("s", v)
    return ("d", v)


class JsonbSortKey:
    """sort_key wrapper ordering Jsonb values as PG's jsonb btree does."""

    __slots__ = ("v",)

    def __init__(self, j: Jsonb) -> None:
        self.v = j.value

    def __lt__(self, other: JsonbSortKey) -> bool:
        return jsonb_cmp(self.v, other.v) < 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonbSortKey) and jsonb_cmp(self.v, other.v) == 0

    def __hash__(self) -> int:
        return hash(jsonb_hash_key(self.v))


def jsonb_typeof(v: Any) -> str:
    if v is None:
        return "null"
    if v is True or v is False:
        return "boolean"
    t = type(v)
    if t is str:
        return "string"
    if t is dict:
        return "object"
    if t is list:
        return "array"
    return "number"


def to_jsonb_value(v: Any) -> Any:
    """Python value (already JSON-shaped) to jsonb form: dict keys ordered."""
    if isinstance(v, Jsonb):
        return v.value
    if isinstance(v, dict):
        return make_object((k, to_jsonb_value(x)) for k, x in v.items())
    if isinstance(v, list):
        return [to_jsonb_value(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, (str, Decimal)):
        return v
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))
    return v


class Jsonb:
    """A jsonb value: plain Python JSON (dict, list, str, bool, None for JSON
    null, Decimal for numbers). Objects keep jsonb's key order (shorter keys
    first, then bytewise) and have no duplicate keys; equality and hashing
    are jsonb's (1.0 = 1, true is not 1)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Jsonb):
            return NotImplemented
        return jsonb_cmp(self.value, other.value) == 0

    def __ne__(self, other: object) -> bool:
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __lt__(self, other: Jsonb) -> bool:
        return jsonb_cmp(self.value, other.value) < 0

    def __le__(self, other: Jsonb) -> bool:
        return jsonb_cmp(self.value, other.value) <= 0

    def __gt__(self, other: Jsonb) -> bool:
        return jsonb_cmp(self.value, other.value) > 0

    def __ge__(self, other: Jsonb) -> bool:
        return jsonb_cmp(self.value, other.value) >= 0

    def __hash__(self) -> int:
        return hash(jsonb_hash_key(self.value))

    def __repr__(self) -> str:
        return f"Jsonb({jsonb_out(self.value)!r})"
