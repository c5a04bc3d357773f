"""Text I/O: each type's output and input function, as factories that
return one specialised closure per column.

`text_out(t, ctx)` returns value -> str (used by casts to text, arrays,
records, format()); `text_encoder` returns value -> bytes for the wire, with
the trivial types (ints, bool, text) mapped straight to a C-level callable so
the per-value cost is one call. `text_decoder(t, ctx)` is the input function
including the typmod (varchar(n) length, numeric(p,s) rounding, timestamp(p)
precision, interval ranges), as PostgreSQL applies atttypmod on input.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from qp.errors import SqlError
from qp.types import core as C
from qp.types.context import EvalContext
from qp.types.core import SqlType, format_type, resolve_type_name
from qp.types.datetime import (
    date_out,
    interval_out,
    make_interval_typmod,
    make_time_typmod,
    make_timestamp_typmod,
    make_timestamptz_out,
    time_out,
    timestamp_out,
)
from qp.types.dt_input import parse_date, parse_time, parse_timestamp
from qp.types.dt_interval import parse_interval
from qp.types.json import Jsonb, jsonb_out, parse_jsonb, validate_json
from qp.types.jsonpath import jsonpath_in
from qp.types.numeric import (
    make_float_out,
    make_numeric_typmod_applier,
    numeric_out,
    parse_float4,
    parse_float8,
    parse_int2,
    parse_int4,
    parse_int8,
    parse_numeric,
)

_DEFAULT_CTX = EvalContext()

# --- output -------------------------------------------------------------------------


def _bool_out(v: bool) -> str:
    return "t" if v else "f"


def _bytea_out(v: bytes) -> str:
    return "\\x" + v.hex()


# byteaout's escape format: printable ASCII as itself, a backslash doubled,
# every other byte as \ooo (octal).
_BYTEA_ESCAPES = tuple(
    "\\\\" if b == 0x5C else chr(b) if 0x20 <= b <= 0x7E else f"\\{b:03o}" for b in range(256)
)


def bytea_escape_out(v: bytes) -> str:
    """bytea output when bytea_output = escape."""
    return "".join([_BYTEA_ESCAPES[b] for b in v])


def _make_bytea_out(ctx: EvalContext) -> Callable[[bytes], str]:
    """bytea output in the session's bytea_output format, read when each value is
    printed (as _reg_out reads the catalog): a plan bound under one setting can
    run under another, and PostgreSQL's byteaout reads the setting at call time."""

    def out(v: bytes) -> str:
        if ctx.settings.get("bytea_output") == "escape":
            return bytea_escape_out(v)
        return "\\x" + v.hex()
    return out


def char_out(v: str) -> str:
    """"char" output: one byte; high bytes as \\ooo."""
    if not v:
        return ""
    o = ord(v)
    return v if o < 128 else f"\\{o:03o}"


def _uuid_out(v: uuid.UUID) -> str:
    return str(v)


def _void_out(v: Any) -> str:
    return ""


_NEEDS_QUOTE = re.compile(r'[{}",\\ \t\n\r\v\f]')
_RECORD_NEEDS_QUOTE = re.compile(r'[()",\\ \t\n\r\v\f]')


def _array_elem_quote(s: str) -> str:
    if not s or s.upper() == "NULL" or _NEEDS_QUOTE.search(s):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return s


def make_array_out(elem_out: Callable[[Any], str], plain: bool = False) -> Callable[[list], str]:
    """array_out; `plain` when element text never needs quoting (numbers, bool)."""

    def out(v: list) -> str:
        parts = []
        for x in v:
            if x is None:
                parts.append("NULL")
            elif type(x) is list:
                parts.append(out(x))
            else:
                parts.append(elem_out(x) if plain else _array_elem_quote(elem_out(x)))
        return "{" + ",".join(parts) + "}"

    return out


def make_record_out(fields: list[Callable[[Any], str]] | None, ctx: EvalContext) -> Callable[[tuple], str]:
    """record_out: (a,b) with PG's quoting; fields given by type when known."""

    def out(v: tuple) -> str:
        parts = []
        for i, x in enumerate(v):
            if x is None:
                parts.append("")
                continue
            if fields is not None:
                s = fields[i](x)
            else:
                s = _guess_out(x, ctx)
            if not s or _RECORD_NEEDS_QUOTE.search(s):
                s = '"' + s.replace("\\", "\\\\").replace('"', '""') + '"'
            parts.append(s)
        return "(" + ",".join(parts) + ")"

    return out


def _guess_out(x: Any, ctx: EvalContext) -> str:
    """Output of a value in a record whose field types are unknown."""
    if isinstance(x, bool):
        return _bool_out(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, Decimal):
        return numeric_out(x)
    if isinstance(x, float):
        return make_float_out(False, ctx.extra_float_digits)(x)
    if isinstance(x, bytes):
        return bytea_escape_out(x) if ctx.settings.get("bytea_output") == "escape" else _bytea_out(x)
    if isinstance(x, Jsonb):
        return jsonb_out(x.value)
    if isinstance(x, C.Interval):
        return interval_out(x)
    if isinstance(x, tuple):
        return make_record_out(None, ctx)(x)
    return str(x)


def text_out(t: SqlType, ctx: EvalContext | None = None) -> Callable[[Any], str]:
    """The output function of `t` as value -> str."""
    ctx = ctx or _DEFAULT_CTX
    oid = t.oid
    if t.is_array:
        assert t.elem is not None
        if oid in (22, 30):
            return lambda v: " ".join(str(x) for x in v)
        elem = t.elem
        plain = elem.oid in (16, 20, 21, 23, 26, 700, 701, 1700, 24, 2202, 2205, 2206, 4089, 4096, 1082, 2950)
        return make_array_out(text_out(elem, ctx), plain)
    if oid in _REG_OIDS:
        return _reg_out(oid, ctx)
    if oid == 17 and ctx is not _DEFAULT_CTX:
        return _make_bytea_out(ctx)
    f = _OUT.get(oid)
    if f is not None:
        return f
    if oid in (700, 701):
        return make_float_out(oid == 700, ctx.extra_float_digits)
    if oid == 1184:
        return make_timestamptz_out(ctx.tzinfo)
    if oid == 2249:
        if t.fields is not None:
            return make_record_out([text_out(ft, ctx) for _, ft in t.fields], ctx)
        return make_record_out(None, ctx)
    raise SqlError("0A000", f"output of type {format_type(t)} is not supported")


# The reg* types print names, which needs the catalog; without one we can
# name the built-in types and schemas (what pg_typeof() returns), print '-'
# for 0, and fall back to the number (the engine may override these).
_NAMESPACES = {11: "pg_catalog", 2200: "public", 99: "pg_toast", 13207: "information_schema"}
_REG_OIDS = frozenset({24, 2202, 2205, 2206, 4089, 4096})


def regtype_name(oid: int) -> str | None:
    t = C._BASE_BY_OID.get(oid)
    if t is None:
        return None
    if oid == 1042:
        return "character"
    if oid == 1014:
        return "character[]"
    return format_type(t)


def _regtype_out(v: int) -> str:
    return "-" if v == 0 else (regtype_name(v) or str(v))


def _regoid_out(v: int) -> str:
    return "-" if v == 0 else str(v)


def _regnamespace_out(v: int) -> str:
    return "-" if v == 0 else _NAMESPACES.get(v, str(v))


def _reg_out(oid: int, ctx: EvalContext) -> Callable[[Any], str]:
    """reg* output: names from the statement's catalog snapshot when it has
    one (`ctx.catalog`, read at call time: the closure outlives binding),
    else what the library can name without one."""
    static = _OUT[oid]

    def out(v: int) -> str:
        catalog = ctx.catalog
        if catalog is None or v == 0 or ctx.reg_output is None:
            return static(v)
        name = ctx.reg_output(oid, catalog, v, ctx)
        return static(v) if name is None else name
    return out


def _reg_in(oid: int, ctx: EvalContext) -> Callable[[str], int]:
    """reg* input: names looked up in `ctx.catalog` (42P01 and friends when
    missing); numbers, '-' and built-in type names need no catalog."""
    static = _IN[oid]

    def parse(s: str) -> int:
        t = s.strip()
        catalog = ctx.catalog
        if catalog is None or t.isdigit() or t == "-" or oid == 2206 or ctx.reg_input is None:
            return static(s)
        found = ctx.reg_input(oid, catalog, t, ctx)
        return static(s) if found is None else found
    return parse


_OUT: dict[int, Callable[[Any], str]] = {
    16: _bool_out, 17: _bytea_out, 18: char_out, 19: str, 20: str, 21: str, 23: str, 24: _regoid_out,
    25: str, 26: str, 114: str, 705: str, 1042: str, 1043: str, 1700: numeric_out,
    1082: date_out, 1083: time_out, 1114: timestamp_out, 1186: interval_out, 2202: _regoid_out, 2205: _regoid_out,
    2206: _regtype_out, 4089: _regnamespace_out, 4096: _regoid_out, 2950: _uuid_out, 3802: lambda j: jsonb_out(j.value),
    2278: _void_out, 2275: str, 194: str, 4072: str,
}

_INT_ENC = b"%d".__mod__
_BOOL_ENC = {True: b"t", False: b"f"}.__getitem__


def text_encoder(t: SqlType, ctx: EvalContext | None = None) -> Callable[[Any], bytes]:
    """Value -> bytes in PG's text format (one closure per column)."""
    oid = t.oid
    if oid in (20, 21, 23, 26):
        return _INT_ENC
    if oid == 16:
        return _BOOL_ENC
    if oid in (25, 1043, 19, 1042, 705, 114, 2275, 194):
        return str.encode
    f = text_out(t, ctx)
    return lambda v: f(v).encode()


def to_text(t: SqlType, value: Any, ctx: EvalContext | None = None) -> str:
    """PG's output function applied to one value (for casts to text)."""
    return text_out(t, ctx)(value)


# --- input ---------------------------------------------------------------------------

_TRUE_WORDS = ("true", "yes", "on")
_FALSE_WORDS = ("false", "no", "off")


def parse_bool(s: str) -> bool:
    """boolin: true/false/yes/no/on/off (any unique prefix), 1/0; case-insensitive."""
    v = s.strip(" \t\n\r\v\f").lower()
    n = len(v)
    if n:
        c = v[0]
        if c == "t" and "true".startswith(v):
            return True
        if c == "f" and "false".startswith(v):
            return False
        if c == "y" and "yes".startswith(v):
            return True
        if c == "n" and "no".startswith(v):
            return False
        if c == "o" and n >= 2:
            if "on".startswith(v):
                return True
            if "off".startswith(v):
                return False
        if v == "1":
            return True
        if v == "0":
            return False
    raise SqlError("22P02", f'invalid input syntax for type boolean: "{s}"')


def parse_bytea(s: str) -> bytes:
    if s.startswith("\\x"):
        out = bytearray()
        i, n = 2, len(s)
        while i < n:
            c = s[i]
            if c in " \t\n\r":
                i += 1
                continue
            hi = _hexval(c)
            if i + 1 >= n:
                raise SqlError("22023", "invalid hexadecimal data: odd number of digits")
            lo = _hexval(s[i + 1])
            out.append(hi * 16 + lo)
            i += 2
        return bytes(out)
    out = bytearray()
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c != "\\":
            out += c.encode()
            i += 1
        elif i + 1 < n and s[i + 1] == "\\":
            out.append(0x5C)
            i += 2
        elif i + 3 < n and all("0" <= x <= "7" for x in s[i + 1:i + 4]) and s[i + 1] <= "3":
            out.append(int(s[i + 1:i + 4], 8))
            i += 4
        else:
            raise SqlError("22P02", 'invalid input syntax for type bytea')
    return bytes(out)


def _hexval(c: str) -> int:
    if "0" <= c <= "9":
        return ord(c) - 48
    if "a" <= c <= "f":
        return ord(c) - 87
    if "A" <= c <= "F":
        return ord(c) - 55
    raise SqlError("22023", f'invalid hexadecimal digit: "{c}"')


_UUID_RE = re.compile(r"[0-9a-fA-F]{4}(?:-?[0-9a-fA-F]{4}){7}")


def parse_uuid(s: str) -> uuid.UUID:
    body = s[1:-1] if s.startswith("{") and s.endswith("}") else s
    if _UUID_RE.fullmatch(body) is None:
        raise SqlError("22P02", f'invalid input syntax for type uuid: "{s}"')
    return uuid.UUID(hex=body.replace("-", ""))


def parse_char(s: str) -> str:
    """charin: '\\ooo' or the first byte of the string."""
    if len(s) == 4 and s[0] == "\\" and all("0" <= c <= "7" for c in s[1:]):
        return chr(int(s[1:], 8) & 0xFF)
    if not s:
        return ""
    c = s[0]
    if ord(c) < 128:
        return c
    return chr(c.encode()[0])


def truncate_name(s: str) -> str:
    """name: at most 63 bytes, cut on a character boundary."""
    if len(s) <= 63 // 4 or len(s.encode()) <= 63:
        return s
    b = s.encode()[:63]
    return b.decode(errors="ignore")


def parse_oid(s: str) -> int:
    t = s.strip(" \t\n\r\v\f")
    m = re.fullmatch(r"[+-]?\d+", t)
    if m is None:
        raise SqlError("22P02", f'invalid input syntax for type oid: "{s}"')
    v = int(t)
    if v < -(2**31) or v > 2**32 - 1:
        raise SqlError("22003", f'value "{s}" is out of range for type oid')
    return v & 0xFFFFFFFF


def _parse_regnum(typename: str) -> Callable[[str], int]:
    def parse(s: str) -> int:
        t = s.strip()
        if t.isdigit():
            return parse_oid(t)
        if t == "-":
            return 0
        if typename == "regtype":
            return parse_regtype(t)
        if typename == "regnamespace":
            name = t[1:-1].replace('""', '"') if t.startswith('"') and t.endswith('"') else t.lower()
            for oid, n in _NAMESPACES.items():
                if n == name:
                    return oid
            raise SqlError("3F000", f'schema "{name}" does not exist')
        raise SqlError("0A000", f"{typename} input from a name is not supported here")
    return parse


def parse_regtype(s: str) -> int:
    """regtypein for the built-in types: 'integer', 'character varying(10)',
    'pg_catalog.int4', 'text[]', '"char"' (typmods are ignored, as in PG)."""
    text = s.strip()
    dims = 0
    while text.endswith("[]"):
        text, dims = text[:-2].rstrip(), dims + 1
    if text.endswith(")") and "(" in text:
        # a typmod does not change the type's oid; it only has to be well formed
        text, _, inner = text[:-1].partition("(")
        text = text.rstrip()
        if not all(x.strip().lstrip("-").isdigit() for x in inner.split(",")):
            raise SqlError("42601", f'invalid type name "{s}"')
    parts = [p.strip() for p in text.split(".")] if not text.startswith('"') else [text]
    names = [p[1:-1] if p.startswith('"') and p != '"char"' else p.lower() for p in parts]
    try:
        t = resolve_type_name(names, [], dims)
    except SqlError:
        raise SqlError("42704", f'type "{s}" does not exist') from None
    return t.oid


def _node_tree_in(s: str) -> str:
    raise SqlError("0A000", "cannot accept a value of type pg_node_tree")


def make_varchar_in(typmod: int, bpchar: bool, explicit: bool = False) -> Callable[[str], str]:
    """varchar(n)/char(n) input and length coercion. Too-long input is an
    error (22001) unless the excess is spaces or the cast is explicit."""
    n = typmod - 4
    tname = "character" if bpchar else "character varying"

    def coerce(s: str) -> str:
        if len(s) > n:
            if not explicit and s[n:].strip(" "):
                raise SqlError("22001", f"value too long for type {tname}({n})")
            s = s[:n]
        if bpchar and len(s) < n:
            s = s + " " * (n - len(s))
        return s

    return coerce


def text_decoder(t: SqlType, ctx: EvalContext | None = None) -> Callable[[str], Any]:
    """The input function of `t` (with its typmod) as str -> value."""
    ctx = ctx or _DEFAULT_CTX
    oid, mod = t.oid, t.typmod
    if t.is_array:
        assert t.elem is not None
        elem_in = text_decoder(t.elem, ctx)
        if oid in (22, 30):
            return lambda s: [elem_in(x) for x in s.split()]
        typename = format_type(t)
        return lambda s: parse_array(s, elem_in, typename)
    if oid == 1700:
        if mod >= 0:
            apply = make_numeric_typmod_applier(mod)
            return lambda s: apply(parse_numeric(s))
        return parse_numeric
    if oid in (1043, 1042):
        if mod >= 0:
            coerce = make_varchar_in(mod, oid == 1042)
            return coerce
        return str
    if oid == 1114 or oid == 1184:
        with_tz = oid == 1184

        def ts_in(s: str) -> int:
            # 'now' in input is the transaction's start time, like now()
            return parse_timestamp(s, ctx.transaction_timestamp_us, ctx.tzinfo, with_tz)
        if mod >= 0:
            adj = make_timestamp_typmod(mod)
            return lambda s: adj(ts_in(s))
        return ts_in
    if oid == 1082:
        return lambda s: parse_date(s, ctx.transaction_timestamp_us, ctx.tzinfo)
    if oid == 1083:
        def time_in(s: str) -> int:
            return parse_time(s, ctx.transaction_timestamp_us, ctx.tzinfo)
        if mod >= 0:
            tadj = make_time_typmod(mod)
            return lambda s: tadj(time_in(s))
        return time_in
    if oid == 1186:
        if mod >= 0:
            iadj = make_interval_typmod(mod)
            return lambda s: iadj(parse_interval(s, mod))
        return parse_interval
    if oid in _REG_OIDS:
        return _reg_in(oid, ctx)
    f = _IN.get(oid)
    if f is not None:
        return f
    if oid == 2249:
        def rec_in(s: str) -> tuple:
            raise SqlError("0A000", "input of anonymous composite types is not implemented")
        return rec_in
    raise SqlError("0A000", f"input of type {format_type(t)} is not supported")


_IN: dict[int, Callable[[str], Any]] = {
    16: parse_bool, 17: parse_bytea, 18: parse_char, 19: truncate_name, 20: parse_int8,
    21: parse_int2, 23: parse_int4, 25: str, 26: parse_oid, 114: validate_json,
    700: parse_float4, 701: parse_float8, 705: str, 2950: parse_uuid, 3802: parse_jsonb,
    24: _parse_regnum("regproc"), 2202: _parse_regnum("regprocedure"), 2205: _parse_regnum("regclass"), 2206: _parse_regnum("regtype"),
    4089: _parse_regnum("regnamespace"), 4096: _parse_regnum("regrole"), 2278: lambda s: None, 2275: str, 194: _node_tree_in,
    4072: jsonpath_in,
}


# --- arrays -------------------------------------------------------------------------

_WS = " \t\n\r\v\f"


class _ArrayParser:
    def __init__(self, s: str, typename: str) -> None:
        self.s = s
        self.i = 0
        self.typename = typename

    def fail(self, detail: str) -> SqlError:
        return SqlError("22P02", f'malformed array literal: "{self.s}"', detail=detail)

    def skip_ws(self) -> None:
        s, i = self.s, self.i
        while i < len(s) and s[i] in _WS:
            i += 1
        self.i = i

    def parse_level(self) -> list:
        """Parse '{...}' at self.i; returns list of (is_quoted, text) / sublists."""
        s = self.s
        assert s[self.i] == "{"
        self.i += 1
        items: list = []
        self.skip_ws()
        if self.i < len(s) and s[self.i] == "}":
            self.i += 1
            return items
        while True:
            self.skip_ws()
            if self.i >= len(s):
                raise self.fail("Unexpected end of input.")
            c = s[self.i]
            if c == "{":
                items.append(self.parse_level())
            elif c == '"':
                self.i += 1
                buf = []
                while True:
                    if self.i >= len(s):
                        raise self.fail("Unexpected end of input.")
                    c = s[self.i]
                    if c == "\\":
                        if self.i + 1 >= len(s):
                            raise self.fail("Unexpected end of input.")
                        buf.append(s[self.i + 1])
                        self.i += 2
                    elif c == '"':
                        self.i += 1
                        break
                    else:
                        buf.append(c)
                        self.i += 1
                items.append((True, "".join(buf)))
            elif c in ",}":
                raise self.fail(f'Unexpected "{c}" character.')
            else:
                buf = []
                last_nonspace = 0
                while self.i < len(s):
                    c = s[self.i]
                    if c == "\\":
                        if self.i + 1 >= len(s):
                            raise self.fail("Unexpected end of input.")
                        buf.append(s[self.i + 1])
                        self.i += 2
                        last_nonspace = len(buf)
                    elif c in ",}":
                        break
                    elif c in '{"':
                        raise self.fail(f'Unexpected "{c}" character.')
                    else:
                        buf.append(c)
                        self.i += 1
                        if c not in _WS:
                            last_nonspace = len(buf)
                items.append((False, "".join(buf[:last_nonspace])))
            self.skip_ws()
            if self.i >= len(s):
                raise self.fail("Unexpected end of input.")
            c = s[self.i]
            self.i += 1
            if c == "}":
                return items
            if c != ",":
                raise self.fail(f'Unexpected "{c}" character.')


def _shape(items: list) -> tuple:
    if not items or not isinstance(items[0], list):
        return (len(items),)
    return (len(items),) + _shape(items[0])


def parse_array(s: str, elem_in: Callable[[str], Any], typename: str = "") -> list:
    """array_in: '{1,2,NULL,"a b"}', nested '{{1,2},{3,4}}', '[1:2]={1,2}'."""
    p = _ArrayParser(s, typename)
    p.skip_ws()
    lower_bounds: list[int] = []
    if p.i < len(s) and s[p.i] == "[":
        m = re.compile(r"(\[\s*([+-]?\d+)\s*(?::\s*([+-]?\d+)\s*)?\])+", re.ASCII).match(s, p.i)
        dims = re.findall(r"\[\s*([+-]?\d+)\s*(?::\s*([+-]?\d+)\s*)?\]", m.group(0), re.ASCII) if m else []
        if m is None:
            raise p.fail('"[" must introduce explicitly-specified array dimensions.')
        p.i = m.end()
        p.skip_ws()
        if p.i >= len(s) or s[p.i] != "=":
            raise p.fail('Missing "=" after array dimensions.')
        p.i += 1
        p.skip_ws()
        for lo, hi in dims:
            lower_bounds.append(int(lo) if hi else 1)
    if p.i >= len(s) or s[p.i] != "{":
        raise p.fail('Array value must start with "{" or dimension information.')
    items = p.parse_level()
    p.skip_ws()
    if p.i != len(s):
        raise p.fail("Junk after closing right brace.")
    if any(lb != 1 for lb in lower_bounds):
        raise SqlError("0A000", "arrays with lower bounds other than 1 are not supported")

    def check(level: list, shape: tuple) -> list:
        if len(level) != shape[0]:
            raise p.fail("Multidimensional arrays must have sub-arrays with matching dimensions.")
        out = []
        for it in level:
            if isinstance(it, list):
                if len(shape) == 1:
                    raise p.fail("Multidimensional arrays must have sub-arrays with matching dimensions.")
                out.append(check(it, shape[1:]))
            else:
                if len(shape) > 1:
                    raise p.fail("Multidimensional arrays must have sub-arrays with matching dimensions.")
                quoted, text = it
                if not quoted and text.upper() == "NULL":
                    out.append(None)
                else:
                    out.append(elem_in(text))
        return out

    result = check(items, _shape(items))
    if result and isinstance(result[0], list) and not result[0]:
        return []
    return result


def utf8_char_length(first_byte: int) -> int:
    """PostgreSQL's pg_utf_mblen: how many bytes the UTF-8 sequence starting with this byte claims."""
    if first_byte < 0x80:
        return 1
    if first_byte & 0xE0 == 0xC0:
        return 2
    if first_byte & 0xF0 == 0xE0:
        return 3
    if first_byte & 0xF8 == 0xF0:
        return 4
    return 1
