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
from typing import Any

from qp.context import EvalContext
from qp.errors import SqlError
from qp.functions import regex as RX
from qp.functions.registry import register_function, register_operator
from qp.functions.util import ascii_lower, ascii_upper, text_of
from qp.types import core as C
from qp.types.casts import find_cast
from qp.types.core import ANYNONARRAY, BOOL, BPCHAR, BYTEA, INT4, INT8, NAME, TEXT, SqlType, array_of

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
                    else:
                        k = argi
                        argi += 1
                    if k >= len(vals):
                        raise SqlError("22023", "too few arguments for format()")
                    wv = vals[k]
                    w = int(wv) if wv is not None else 0
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
        from qp.types.text_io import parse_bytea
        if s.startswith("\\x"):
            return s.encode()
        return parse_bytea(s)
    raise SqlError("22023", f'unrecognized encoding: "{fmt}"')


_reg("encode", [BYTEA, TEXT], TEXT, _encode)
_reg("decode", [TEXT, TEXT], BYTEA, _decode)

# --- operators --------------------------------------------------------------------------

register_operator("||", TEXT, TEXT, TEXT, str.__add__)
register_operator("||", BYTEA, BYTEA, BYTEA, bytes.__add__)


def _textanycat(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    out = _to_text_cast(args[1])
    return lambda ctx, a, b: a + out(ctx, b)


def _anytextcat(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    out = _to_text_cast(args[0])
    return lambda ctx, a, b: out(ctx, a) + b


register_operator("||", TEXT, ANYNONARRAY, TEXT, factory=_textanycat, ctx=True, volatility="s")
register_operator("||", ANYNONARRAY, TEXT, TEXT, factory=_anytextcat, ctx=True, volatility="s")

for _t in (TEXT, NAME, BPCHAR):
    register_operator("~~", _t, TEXT, BOOL, RX.like)
    register_operator("!~~", _t, TEXT, BOOL, lambda s, p: not RX.like(s, p))
    register_operator("~~*", _t, TEXT, BOOL, RX.ilike)
    register_operator("!~~*", _t, TEXT, BOOL, lambda s, p: not RX.ilike(s, p))
    register_operator("~", _t, TEXT, BOOL, lambda s, p: RX.regex_match(s, p))
    register_operator("!~", _t, TEXT, BOOL, lambda s, p: not RX.regex_match(s, p))
    register_operator("~*", _t, TEXT, BOOL, lambda s, p: RX.regex_match(s, p, True))
    register_operator("!~*", _t, TEXT, BOOL, lambda s, p: not RX.regex_match(s, p, True))
register_operator("~~", BYTEA, BYTEA, BOOL, RX.like_bytes)
register_operator("!~~", BYTEA, BYTEA, BOOL, lambda s, p: not RX.like_bytes(s, p))
register_operator("^@", TEXT, TEXT, BOOL, str.startswith)
for _n, _f in (("~<~", str.__lt__), ("~<=~", str.__le__), ("~>~", str.__gt__), ("~>=~", str.__ge__)):
    register_operator(_n, TEXT, TEXT, BOOL, _f)
    register_operator(_n, BPCHAR, BPCHAR, BOOL, (lambda g: lambda a, b: g(a.rstrip(" "), b.rstrip(" ")))(_f))
_reg("like_escape", [TEXT, TEXT], TEXT, RX.like_escape)
_reg("similar_to_escape", [TEXT], TEXT, RX.similar_to_escape)
_reg("similar_to_escape", [TEXT, TEXT], TEXT, RX.similar_to_escape)
_reg("similar_escape", [TEXT, TEXT], TEXT, RX.similar_to_escape, strict=False)

# --- regular expressions -----------------------------------------------------------------


def _rx(pat: str, flags: str = "") -> tuple[re.Pattern, bool]:
    f, glob = RX.parse_flags(flags)
    return RX.compile_regex(pat, f, "q" in flags), glob


_REPL_RE = re.compile(r"\\(\d|&|\\)?")


def _expand_repl(repl: str) -> Callable[[re.Match], str]:
    if "\\" not in repl:
        return lambda m: repl
    pieces: list[Any] = []
    pos = 0
    for m in _REPL_RE.finditer(repl):
        pieces.append(repl[pos:m.start()])
        g = m.group(1)
        if g is None:
            pieces.append("\\")
        elif g == "\\":
            pieces.append("\\")
        elif g == "&":
            pieces.append(0)
        else:
            pieces.append(int(g))
        pos = m.end()
    pieces.append(repl[pos:])

    def sub(m: re.Match) -> str:
        out = []
        for p in pieces:
            if isinstance(p, int):
                if p <= (m.re.groups if p else 0) or p == 0:
                    out.append(m.group(p) or "")
            else:
                out.append(p)
        return "".join(out)
    return sub


def regexp_replace(s: str, pat: str, repl: str, *rest: Any) -> str:
    start, n, flags = 1, None, ""
    if len(rest) == 1 and isinstance(rest[0], str):
        flags = rest[0]
    else:
        if len(rest) >= 1:
            start = rest[0]
        if len(rest) >= 2:
            n = rest[1]
        if len(rest) >= 3:
            flags = rest[2]
    if start < 1:
        raise SqlError("22023", f'invalid value for parameter "start": {start}')
    if n is not None and n < 0:
        raise SqlError("22023", f'invalid value for parameter "n": {n}')
    rx, glob = _rx(pat, flags or "")
    sub = _expand_repl(repl)
    if n is None:
        n = 0 if glob else 1
    count = 0
    out = [s[:start - 1]]
    pos = start - 1
    for m in rx.finditer(s, start - 1):
        count += 1
        if n and count < n:
            continue
        out.append(s[pos:m.start()])
        out.append(sub(m))
        pos = m.end()
        if n:
            break
    out.append(s[pos:])
    return "".join(out)


for _sig in ([TEXT, TEXT, TEXT], [TEXT, TEXT, TEXT, TEXT], [TEXT, TEXT, TEXT, INT4],
             [TEXT, TEXT, TEXT, INT4, INT4], [TEXT, TEXT, TEXT, INT4, INT4, TEXT]):
    _reg("regexp_replace", _sig, TEXT, regexp_replace)


def _match_groups(m: re.Match) -> list[str | None]:
    if m.re.groups == 0:
        return [m.group(0)]
    return list(m.groups())


def regexp_match(s: str, pat: str, flags: str = "") -> list | None:
    rx, glob = _rx(pat, flags)
    if glob:
        raise SqlError("22023", 'regexp_match() does not support the "global" option',
                       hint="Use the regexp_matches function instead.")
    m = rx.search(s)
    return _match_groups(m) if m else None


def regexp_matches(s: str, pat: str, flags: str = "") -> Iterator[list]:
    rx, glob = _rx(pat, flags)
    if not glob:
        m = rx.search(s)
        if m:
            yield _match_groups(m)
        return
    for m in rx.finditer(s):
        yield _match_groups(m)


_reg("regexp_match", [TEXT, TEXT], TEXT_ARRAY, regexp_match)
_reg("regexp_match", [TEXT, TEXT, TEXT], TEXT_ARRAY, regexp_match)
_reg("regexp_matches", [TEXT, TEXT], TEXT_ARRAY, regexp_matches, srf=True)
_reg("regexp_matches", [TEXT, TEXT, TEXT], TEXT_ARRAY, regexp_matches, srf=True)


def regexp_split(s: str, pat: str, flags: str = "") -> list[str]:
    """regexp_split_to_array: zero-length matches at the start, at the end or
    right after a previous match are ignored (PG's ignore_degenerate)."""
    rx, glob = _rx(pat, flags)
    if glob:
        raise SqlError("22023", 'regexp_split_to_array() does not support the "global" option')
    out = []
    n = len(s)
    prev_end = 0
    search = 0
    while True:
        m = rx.search(s, search)
        if m is None:
            break
        so, eo = m.span()
        if so < n and eo > prev_end:
            out.append(s[prev_end:so])
            prev_end = eo
        search = eo + 1 if so == eo else eo
        if search > n:
            break
    out.append(s[prev_end:])
    return out


_reg("regexp_split_to_array", [TEXT, TEXT], TEXT_ARRAY, regexp_split)
_reg("regexp_split_to_array", [TEXT, TEXT, TEXT], TEXT_ARRAY, regexp_split)
_reg("regexp_split_to_table", [TEXT, TEXT], TEXT, lambda *a: iter(regexp_split(*a)), srf=True)
_reg("regexp_split_to_table", [TEXT, TEXT, TEXT], TEXT, lambda *a: iter(regexp_split(*a)), srf=True)


def regexp_count(s: str, pat: str, start: int = 1, flags: str = "") -> int:
    if start < 1:
        raise SqlError("22023", f'invalid value for parameter "start": {start}')
    rx, _ = _rx(pat, flags)
    return sum(1 for _ in rx.finditer(s, start - 1))


_reg("regexp_count", [TEXT, TEXT], INT4, regexp_count)
_reg("regexp_count", [TEXT, TEXT, INT4], INT4, regexp_count)
_reg("regexp_count", [TEXT, TEXT, INT4, TEXT], INT4, regexp_count)


def regexp_like(s: str, pat: str, flags: str = "") -> bool:
    rx, glob = _rx(pat, flags)
    if glob:
        raise SqlError("22023", 'regexp_like() does not support the "global" option')
    return rx.search(s) is not None


_reg("regexp_like", [TEXT, TEXT], BOOL, regexp_like)
_reg("regexp_like", [TEXT, TEXT, TEXT], BOOL, regexp_like)


def substring_regex(s: str, pat: str) -> str | None:
    """substring(s from pattern): the first group if any, else the match."""
    m = RX.compile_regex(pat).search(s)
    if m is None:
        return None
    if m.re.groups:
        return m.group(1)
    return m.group(0)


def substring_similar(s: str, pat: str, esc: str) -> str | None:
    """substring(s similar pattern escape esc): the part between the #" markers."""
    rx_src = RX.similar_to_escape(pat, esc)
    m = RX.compile_regex(rx_src).search(s)
    if m is None:
        return None
    return m.group(0)


_reg("substring", [TEXT, TEXT], TEXT, substring_regex)
_reg("substring", [TEXT, TEXT, TEXT], TEXT, substring_similar)

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
