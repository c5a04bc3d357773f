"""String and bytea functions, the text operators (||, LIKE, regex,
^@, ~<~...), and the pattern functions (regexp_*, substring ... from).

Case mapping is the C locale's (ASCII letters only), as in a database
created with LC_CTYPE=C. Lengths and positions count characters, octet
lengths count UTF-8 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from qp.errors import SqlError
from qp.functions.registry import register_function
from qp.functions.util import ascii_lower, ascii_upper, text_of
from qp.types import core as C
from qp.types.casts import find_cast
from qp.types.context import EvalContext
from qp.types.core import BOOL, BPCHAR, BYTEA, INT4, INT8, NAME, TEXT, SqlType, array_of
from qp.types.text_io import parse_bytea

TEXT_ARRAY = array_of(TEXT)


def _reg(name: str, args: list[SqlType], ret: SqlType, impl: Callable[..., Any], **kw: Any) -> None:
    register_function(name, args, ret, impl, **kw)


# --- lengths and case -------------------------------------------------------------

def _octet_length(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode())


for _n in ("length", "char_length", "character_length"):
    _reg(_n, [TEXT], INT4, len)
    _reg(_n, [BPCHAR], INT4, lambda s: len(s.rstrip(" ")))
_reg("length", [BYTEA], INT4, len)
_reg("octet_length", [TEXT], INT4, _octet_length)
_reg("octet_length", [BPCHAR], INT4, _octet_length)
_reg("octet_length", [BYTEA], INT4, len)
_reg("bit_length", [TEXT], INT4, lambda s: 8 * _octet_length(s))
_reg("bit_length", [BYTEA], INT4, lambda b: 8 * len(b))
_reg("lower", [TEXT], TEXT, ascii_lower)
_reg("upper", [TEXT], TEXT, ascii_upper)

_WORD_RE = re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9]+")


def initcap(s: str) -> str:
    out = []
    for m in _WORD_RE.finditer(s):
        w = m.group(0)
        if w[0].isascii() and w[0].isalnum():
            out.append(ascii_upper(w[0]) + ascii_lower(w[1:]))
        else:
            out.append(w)
    return "".join(out)


_reg("initcap", [TEXT], TEXT, initcap)

# --- substrings ---------------------------------------------------------------------


def _substr(s: Any, start: int, count: int | None = None) -> Any:
    """SQL substring: positions from 1; a start before 1 eats into the count."""
    if count is None:
        return s[max(start - 1, 0):]
    if count < 0:
        raise SqlError("22011", "negative substring length not allowed")
    end = start + count  # exclusive, 1-based
    if end <= 1:
        return s[:0]
    return s[max(start - 1, 0):end - 1]


for _n in ("substr", "substring"):
    for _t in (TEXT, BYTEA):
        _reg(_n, [_t, INT4], _t, _substr)
        _reg(_n, [_t, INT4, INT4], _t, _substr)


def _strpos(s: str, sub: str) -> int:
    return s.find(sub) + 1


_reg("strpos", [TEXT, TEXT], INT4, _strpos)
_reg("position", [TEXT, TEXT], INT4, _strpos)
_reg("position", [BYTEA, BYTEA], INT4, _strpos)


def _left(s: str, n: int) -> str:
    return s[:n] if n >= 0 else s[:max(len(s) + n, 0)]


def _right(s: str, n: int) -> str:
    if n >= 0:
        return s[len(s) - n:] if n <= len(s) else s
    return s[min(-n, len(s)):]


_reg("left", [TEXT, INT4], TEXT, _left)
_reg("right", [TEXT, INT4], TEXT, _right)


def _overlay(s: Any, repl: Any, start: int, count: int | None = None) -> Any:
    if count is None:
        count = len(repl)
    if start < 1:
        raise SqlError("22011", "negative substring length not allowed")
    if count < 0:
        raise SqlError("22011", "negative substring length not allowed")
    return s[:start - 1] + repl + s[start - 1 + count:]


for _t in (TEXT, BYTEA):
    _reg("overlay", [_t, _t, INT4], _t, _overlay)
    _reg("overlay", [_t, _t, INT4, INT4], _t, _overlay)

# --- trimming and padding -----------------------------------------------------------

_reg("btrim", [TEXT], TEXT, lambda s: s.strip(" "))
_reg("btrim", [TEXT, TEXT], TEXT, lambda s, c: s.strip(c) if c else s)
_reg("ltrim", [TEXT], TEXT, lambda s: s.lstrip(" "))
_reg("ltrim", [TEXT, TEXT], TEXT, lambda s, c: s.lstrip(c) if c else s)
_reg("rtrim", [TEXT], TEXT, lambda s: s.rstrip(" "))
_reg("rtrim", [TEXT, TEXT], TEXT, lambda s, c: s.rstrip(c) if c else s)
_reg("btrim", [BYTEA, BYTEA], BYTEA, lambda s, c: s.strip(c) if c else s)
_reg("ltrim", [BYTEA, BYTEA], BYTEA, lambda s, c: s.lstrip(c) if c else s)
_reg("rtrim", [BYTEA, BYTEA], BYTEA, lambda s, c: s.rstrip(c) if c else s)

_MAX_ALLOC = 1073741823


def _pad(s: str, n: int, fill: str, left: bool) -> str:
    if n <= 0:
        return ""
    if n > _MAX_ALLOC // 4:
        raise SqlError("54000", "requested length too large")
    if len(s) >= n:
        return s[:n]
    if not fill:
        return s
    need = n - len(s)
    pad = (fill * (need // len(fill) + 1))[:need]
    return pad + s if left else s + pad


_reg("lpad", [TEXT, INT4], TEXT, lambda s, n: _pad(s, n, " ", True))
_reg("lpad", [TEXT, INT4, TEXT], TEXT, lambda s, n, f: _pad(s, n, f, True))
_reg("rpad", [TEXT, INT4], TEXT, lambda s, n: _pad(s, n, " ", False))
_reg("rpad", [TEXT, INT4, TEXT], TEXT, lambda s, n, f: _pad(s, n, f, False))


def _repeat(s: str, n: int) -> str:
    if n <= 0:
        return ""
    if len(s) * n > _MAX_ALLOC:
        raise SqlError("54000", "requested length too large")
    return s * n


_reg("repeat", [TEXT, INT4], TEXT, _repeat)
_reg("reverse", [TEXT], TEXT, lambda s: s[::-1])
_reg("replace", [TEXT, TEXT, TEXT], TEXT, lambda s, a, b: s.replace(a, b) if a else s)


def _translate(s: str, frm: str, to: str) -> str:
    table: dict[int, int | None] = {}
    for i, ch in enumerate(frm):
        if ord(ch) in table:
            continue
        table[ord(ch)] = ord(to[i]) if i < len(to) else None
    return s.translate(table)


_reg("translate", [TEXT, TEXT, TEXT], TEXT, _translate)


def _split_part(s: str, delim: str, n: int) -> str:
    if n == 0:
        raise SqlError("22023", "field position must not be zero")
    if not delim:
        return s if n in (1, -1) else ""
    parts = s.split(delim) if s else [""]
    if not s:
        return ""
    idx = n - 1 if n > 0 else len(parts) + n
    return parts[idx] if 0 <= idx < len(parts) else ""


_reg("split_part", [TEXT, TEXT, INT4], TEXT, _split_part)
_reg("starts_with", [TEXT, TEXT], BOOL, str.startswith)
_reg("md5", [TEXT], TEXT, lambda s: hashlib.md5(s.encode()).hexdigest())
_reg("md5", [BYTEA], TEXT, lambda b: hashlib.md5(b).hexdigest())
for _h in ("sha224", "sha256", "sha384", "sha512"):
    _reg(_h, [BYTEA], BYTEA, (lambda name: lambda b: hashlib.new(name, b).digest())(_h))
_reg("ascii", [TEXT], INT4, lambda s: ord(s[0]) if s else 0)


def _chr(n: int) -> str:
    if n < 0:
        raise SqlError("22023", "character number must be positive")
    if n == 0:
        raise SqlError("54000", "null character not permitted")
    if n > 0x10FFFF:
        raise SqlError("54000", f"requested character too large for encoding: {n}")
    if 0xD800 <= n <= 0xDFFF:
        raise SqlError("54000", f"requested character not valid for encoding: {n}")
    return chr(n)


_reg("chr", [INT4], TEXT, _chr)

# unistr's escapes, tried in varlena.c's order: \XXXX, \uXXXX, \+XXXXXX, \UXXXXXXXX.
_UNISTR_ESCAPES = tuple(re.compile(p) for p in (r"\\([0-9A-Fa-f]{4})", r"\\u([0-9A-Fa-f]{4})",
                                                r"\\\+([0-9A-Fa-f]{6})", r"\\U([0-9A-Fa-f]{8})"))


def unistr(s: str) -> str:
    """unistr(): Unicode escapes (\\XXXX, \\+XXXXXX, \\uXXXX, \\UXXXXXXXX, \\\\ for a
    backslash) decoded, UTF-16 surrogate pairs joined, with varlena.c's errors."""
    out: list[str] = []
    pair_first = 0
    i, n = 0, len(s)
    bad_pair = SqlError("42601", "invalid Unicode surrogate pair")
    while i < n:
        if s[i] != "\\":
            if pair_first:
                raise bad_pair
            out.append(s[i])
            i += 1
            continue
        if s.startswith("\\\\", i):
            if pair_first:
                raise bad_pair
            out.append("\\")
            i += 2
            continue
        for pattern in _UNISTR_ESCAPES:
            m = pattern.match(s, i)
            if m is not None:
                break
        else:
            raise SqlError("42601", "invalid Unicode escape",
                           hint="Unicode escapes must be \\XXXX, \\+XXXXXX, \\uXXXX, or \\UXXXXXXXX.")
        code = int(m.group(1), 16)
        if not 0 < code <= 0x10FFFF:
            raise SqlError("22023", f"invalid Unicode code point: {code:04X}")
        if pair_first:
            if not 0xDC00 <= code <= 0xDFFF:
                raise bad_pair
            code = 0x10000 + ((pair_first - 0xD800) << 10) + (code - 0xDC00)
            pair_first = 0
        elif 0xDC00 <= code <= 0xDFFF:
            raise bad_pair
        if 0xD800 <= code <= 0xDBFF:
            pair_first = code
        else:
            out.append(chr(code))
        i = m.end()
    if pair_first:
        raise bad_pair
    return "".join(out)


_reg("unistr", [TEXT], TEXT, unistr)
_reg("to_hex", [INT4], TEXT, lambda v: "%x" % (v & 0xFFFFFFFF))
_reg("to_hex", [INT8], TEXT, lambda v: "%x" % (v & 0xFFFFFFFFFFFFFFFF))

# --- quoting ------------------------------------------------------------------------

_KEYWORDS = frozenset(
    "all analyse analyze and any array as asc asymmetric authorization between bigint binary bit "
    "boolean both case cast char character check coalesce collate collation column concurrently "
    "constraint create cross current_catalog current_date current_role current_schema current_time "
    "current_timestamp current_user dec decimal default deferrable desc distinct do else end except "
    "exists extract false fetch float for foreign freeze from full grant greatest group grouping "
    "having ilike in initially inner inout int integer intersect interval into is isnull join "
    "lateral leading least left like limit localtime localtimestamp national natural nchar none "
    "normalize not notnull null nullif numeric offset on only or order out outer overlaps overlay "
    "placing position precision primary real references returning right row select session_user "
    "setof similar smallint some substring symmetric table tablesample then time timestamp to "
    "trailing treat trim true union unique user using values varchar variadic verbose when where "
    "window with xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi "
    "xmlroot xmlserialize xmltable".split())
_SAFE_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")


def quote_ident(s: str) -> str:
    if _SAFE_IDENT.fullmatch(s) and s not in _KEYWORDS:
        return s
    return '"' + s.replace('"', '""') + '"'


def quote_literal(s: str) -> str:
    body = s.replace("'", "''")
    if "\\" in s:
        return "E'" + body.replace("\\", "\\\\") + "'"
    return "'" + body + "'"


def _to_text_cast(t: SqlType) -> Callable[[EvalContext, Any], str]:
    """textanycat is `$1 || $2::text`: the cast to text (true -> 'true'),
    which differs from the output function only for bool."""
    c = find_cast(t, TEXT, "explicit")
    assert c is not None
    fn = c.fn
    return lambda ctx, v: fn(v, ctx)


def _quote_literal_any(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    out = _to_text_cast(args[0])
    return lambda ctx, v: quote_literal(out(ctx, v))


def _quote_nullable_any(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    out = _to_text_cast(args[0])
    return lambda ctx, v: "NULL" if v is None else quote_literal(out(ctx, v))


_reg("quote_ident", [TEXT], TEXT, quote_ident)
_reg("quote_literal", [TEXT], TEXT, quote_literal)
register_function("quote_literal", [C.ANYELEMENT], TEXT, factory=_quote_literal_any, ctx=True, volatility="s")
_reg("quote_nullable", [TEXT], TEXT, lambda s: "NULL" if s is None else quote_literal(s), strict=False)
register_function("quote_nullable", [C.ANYELEMENT], TEXT, factory=_quote_nullable_any, ctx=True,
                  volatility="s", strict=False)

# --- concat and format ------------------------------------------------------------------


def _concat_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    outs = [text_of(t) for t in args]

    def concat(ctx: EvalContext, *vals: Any) -> str:
        return "".join(f(ctx, v) for f, v in zip(outs, vals, strict=False) if v is not None)
    return concat


def _concat_ws_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    outs = [text_of(t) for t in args[1:]]

    def concat_ws(ctx: EvalContext, sep: str | None, *vals: Any) -> str | None:
        if sep is None:
            return None
        return sep.join(f(ctx, v) for f, v in zip(outs, vals, strict=False) if v is not None)
    return concat_ws


register_function("concat", [C.ANY], TEXT, factory=_concat_factory, strict=False, volatility="s",
                  ctx=True, variadic=True)
register_function("concat_ws", [TEXT, C.ANY], TEXT, factory=_concat_ws_factory, strict=False,
                  volatility="s", ctx=True, variadic=True)

_FMT_RE = re.compile(r"%(?:(\d+)\$)?(-)?(\*(?:(\d+)\$)?|\d+)?([a-zA-Z%])?")


def _format_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    outs = [text_of(t) for t in args[1:]]

    def fmt(ctx: EvalContext, f: str | None, *vals: Any) -> str | None:
        if f is None:
            return None
        out: list[str] = []
        argi = 0
        i = 0
        n = len(f)
        while i < n:
            c = f[i]
            if c != "%":
                j = f.find("%", i)
                j = n if j < 0 else j
                out.append(f[i:j])
                i = j
                continue
            if i + 1 >= n:
                raise SqlError("22023", "unterminated format() type specifier",
                               hint='For a single "%" use "%%".')
            if f[i + 1] == "%":
                out.append("%")
                i += 2
                continue
            m = _FMT_RE.match(f, i)
            assert m is not None
            argpos, minus, width, wpos, conv = m.groups()
            if conv is None:
                raise SqlError("22023", "unterminated format() type specifier",
                               hint='For a single "%" use "%%".')
            if conv not in "sIL":
                raise SqlError("22023", f'unrecognized format() type specifier "{conv}"',
                               hint='For a single "%" use "%%".')
            w = 0
            left = bool(minus)
            if width:
                if width.startswith("*"):
                    if wpos:
                        k = int(wpos) - 1
                        if k < 0:
                            raise SqlError("22023", "format specifies argument 0, but arguments are numbered from 1")
                    else:
                        k = argi
                    argi = k + 1  # the value comes from the argument after the width's
                    if k >= len(vals):
                        raise SqlError("22023", "too few arguments for format()")
                    wv = vals[k]
                    w = _format_width(wv) if wv is not None else 0
                    if w < 0:
                        left, w = True, -w
                else:
                    w = int(width)
            if argpos:
                k = int(argpos) - 1
                if k < 0:
                    raise SqlError("22023", "format specifies argument 0, but arguments are numbered from 1")
                argi = k + 1
            else:
                k = argi
                argi += 1
            if k >= len(vals):
                raise SqlError("22023", "too few arguments for format()")
            v = vals[k]
            if conv == "s":
                s = "" if v is None else outs[k](ctx, v)
            elif conv == "I":
                if v is None:
                    raise SqlError("22004", "null values cannot be formatted as an SQL identifier")
                s = quote_ident(outs[k](ctx, v))
            else:
                s = "NULL" if v is None else quote_literal(outs[k](ctx, v))
            if w:
                s = s.ljust(w) if left else s.rjust(w)
            out.append(s)
            i = m.end()
        return "".join(out)
    return fmt


def _format_width(value: Any) -> int:
    """A '*' width argument, as int4 (PostgreSQL casts it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise SqlError("22P02", f'invalid input syntax for type integer: "{value}"')
    try:
        w = int(value) if not isinstance(value, str) else int(value.strip())
    except (ValueError, OverflowError):
        raise SqlError("22P02", f'invalid input syntax for type integer: "{value}"') from None
    if not -(2**31) <= w < 2**31:
        raise SqlError("22003", "integer out of range")
    return w


register_function("format", [TEXT], TEXT, factory=_format_factory, strict=False, volatility="s", ctx=True)
register_function("format", [TEXT, C.ANY], TEXT, factory=_format_factory, strict=False, volatility="s",
                  ctx=True, variadic=True)

# --- encode/decode ------------------------------------------------------------------------


def _encode(b: bytes, fmt: str) -> str:
    f = fmt.lower()
    if f == "hex":
        return b.hex()
    if f == "base64":
        s = base64.b64encode(b).decode()
        return "\n".join(s[i:i + 76] for i in range(0, len(s), 76))
    if f == "escape":
        out = []
        for byte in b:
            if byte == 0x5C:
                out.append("\\\\")
            elif byte == 0 or byte >= 0x80:
                out.append(f"\\{byte:03o}")
            else:
                out.append(chr(byte))
        return "".join(out)
    raise SqlError("22023", f'unrecognized encoding: "{fmt}"')


def _decode(s: str, fmt: str) -> bytes:
    f = fmt.lower()
    if f == "hex":
        t = "".join(s.split())
        if len(t) % 2:
            raise SqlError("22023", "invalid hexadecimal data: odd number of digits")
        try:
            return bytes.fromhex(t)
        except ValueError:
            bad = next((c for c in t if c not in "0123456789abcdefABCDEF"), "?")
            raise SqlError("22023", f'invalid hexadecimal digit: "{bad}"') from None
    if f == "base64":
        t = "".join(s.split())
        try:
            return base64.b64decode(t, validate=True)
        except ValueError:
            raise SqlError("22023", "invalid base64 end sequence",
                           hint="Input data is missing padding, is truncated, or is otherwise corrupted.") \
                from None
    if f == "escape":
        if s.startswith("\\x"):
            return s.encode()
        return parse_bytea(s)
    raise SqlError("22023", f'unrecognized encoding: "{fmt}"')


_reg("encode", [BYTEA, TEXT], TEXT, _encode)
_reg("decode", [TEXT, TEXT], BYTEA, _decode)


def _byte_index(b: bytes, n: int) -> int:
    if n < 0 or n >= len(b):
        raise SqlError("2202E", f"index {n} out of valid range, 0..{len(b) - 1}")
    return n


def _bit_index(b: bytes, n: int) -> int:
    if n < 0 or n >= len(b) * 8:
        raise SqlError("2202E", f"index {n} out of valid range, 0..{len(b) * 8 - 1}")
    return n


def _set_byte(b: bytes, n: int, v: int) -> bytes:
    out = bytearray(b)
    out[_byte_index(b, n)] = v & 0xFF
    return bytes(out)


def _set_bit(b: bytes, n: int, v: int) -> bytes:
    if v not in (0, 1):
        raise SqlError("22023", "new bit must be 0 or 1")
    out = bytearray(b)
    i = _bit_index(b, n)
    if v:
        out[i // 8] |= 1 << (i % 8)
    else:
        out[i // 8] &= ~(1 << (i % 8)) & 0xFF
    return bytes(out)


_ENCODINGS = {"utf8": "utf-8", "utf-8": "utf-8", "unicode": "utf-8", "latin1": "latin-1", "iso88591": "latin-1",
              "sql_ascii": "latin-1", "win1252": "cp1252", "latin9": "iso8859-15"}


def _py_encoding(name: str) -> str:
    enc = _ENCODINGS.get(name.lower().replace("_", "").replace("-", "") if name.lower() != "sql_ascii"
                         else "sql_ascii")
    if enc is None:
        raise SqlError("22023", f'invalid source encoding name "{name}"')
    return enc


def _convert_from(b: bytes, enc: str) -> str:
    try:
        return b.decode(_py_encoding(enc))
    except UnicodeDecodeError:
        raise SqlError("22021", f'invalid byte sequence for encoding "{enc.upper()}"') from None


def _convert_to(s: str, enc: str) -> bytes:
    try:
        return s.encode(_py_encoding(enc))
    except UnicodeEncodeError:
        raise SqlError("22P05", f'character with byte sequence in encoding "UTF8" has no equivalent in '
                                f'encoding "{enc.upper()}"') from None


_reg("get_byte", [BYTEA, INT4], INT4, lambda b, n: b[_byte_index(b, n)])
_reg("set_byte", [BYTEA, INT4, INT4], BYTEA, _set_byte)
_reg("get_bit", [BYTEA, INT8], INT4, lambda b, n: (b[_bit_index(b, n) // 8] >> (n % 8)) & 1)
_reg("set_bit", [BYTEA, INT8, INT4], BYTEA, _set_bit)
_reg("convert_from", [BYTEA, NAME], TEXT, _convert_from, volatility="s")
_reg("convert_to", [TEXT, NAME], BYTEA, _convert_to, volatility="s")
_reg("bit_count", [BYTEA], INT8, lambda b: sum(bin(x).count("1") for x in b))

# --- arrays of strings ------------------------------------------------------------------


def string_to_array(s: str | None, delim: str | None, null_str: str | None = None) -> list | None:
    if s is None:
        return None
    if s == "":
        return []
    if delim is None:
        parts = list(s)
    elif delim == "":
        parts = [s]
    else:
        parts = s.split(delim)
    if null_str is not None:
        return [None if p == null_str else p for p in parts]
    return parts


_reg("string_to_array", [TEXT, TEXT], TEXT_ARRAY, string_to_array, strict=False)
_reg("string_to_array", [TEXT, TEXT, TEXT], TEXT_ARRAY, string_to_array, strict=False)


def _array_to_string_factory(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    assert args[0].elem is not None
    out = text_of(args[0].elem)

    def flat(v: list) -> Iterator[Any]:
        for x in v:
            if type(x) is list:
                yield from flat(x)
            else:
                yield x

    def a2s(ctx: EvalContext, arr: list | None, delim: str | None, null_str: str | None = None
            ) -> str | None:
        if arr is None or delim is None:
            return None
        parts = []
        for x in flat(arr):
            if x is None:
                if null_str is not None:
                    parts.append(null_str)
            else:
                parts.append(out(ctx, x))
        return delim.join(parts)
    return a2s


register_function("array_to_string", [C.ANYARRAY, TEXT], TEXT, factory=_array_to_string_factory,
                  ctx=True, volatility="s")
register_function("array_to_string", [C.ANYARRAY, TEXT, TEXT], TEXT, factory=_array_to_string_factory,
                  ctx=True, volatility="s", strict=False)
