"""COPY's options and output formats, and what its readers share (see qp/frontend/copy_parse.py).

This module and qp/frontend/copy_parse.py are pure (no session, storage or trio), so
every rule can be tested by feeding bytes; `qp/frontend/copy.py` runs COPY statements
on top of them.

- Options (`parse_options`) follow ProcessCopyOptions in PostgreSQL's copy.c,
  with its SQLSTATEs and messages; FREEZE is accepted and ignored (there is
  no heap to freeze), ENCODING accepts only UTF8.
- Output (`row_encoder`, `header_line`, `binary_header`, `binary_row`):
  CopyAttributeOutText's escaping and CopyAttributeOutCSV's quoting, and the
  binary format's `PGCOPY\\n\\377\\r\\n\\0` header and tuples, byte for byte.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from qp.errors import SqlError
from qp.types.text_io import utf8_char_length

# A line (or CSV record) may not grow past this while it waits for its end:
# a DSQL row is at most 2 MiB, and text escaping can at most quadruple it.
PENDING_LINE_BYTES_MAX = 4 * 2 * 1024 * 1024 + 1024
# PostgreSQL shows at most this many bytes of a line or value in CONTEXT (MAX_COPY_DATA_DISPLAY).
DISPLAY_BYTES_MAX = 100

BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
BINARY_TRAILER = b"\xff\xff"

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")


class Default:
    """The value of a field that matched the DEFAULT string: the column's default is used."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = Default()


def copy_data_error(message: str, *, hint: str | None = None, context: str | None = None) -> SqlError:
    """22P04 bad_copy_file_format."""
    return SqlError("22P04", message, hint=hint, context=context)


def display(text: str) -> str:
    """A line or value as PostgreSQL quotes it in CONTEXT (clipped to 100 bytes at a character)."""
    raw = text.encode()
    if len(raw) <= DISPLAY_BYTES_MAX:
        return text
    return raw[:DISPLAY_BYTES_MAX].decode(errors="ignore") + "..."


def invalid_utf8(data: bytes, start: int, context: str | None = None) -> SqlError:
    """22021 worded as PostgreSQL's report_invalid_encoding (up to one character's bytes)."""
    length = min(utf8_char_length(data[start]), len(data) - start)
    shown = " ".join(f"0x{b:02x}" for b in data[start : start + length])
    return SqlError("22021", f'invalid byte sequence for encoding "UTF8": {shown}', context=context)


def decode_utf8(data: bytes, context: str | None = None) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_utf8(data, exc.start, context) from None
    if "\x00" in text:  # PostgreSQL's text values are C strings: a NUL byte is invalid input
        raise invalid_utf8(data, data.index(0), context)
    return text


# -- options ------------------------------------------------------------------------------


@dataclass
class CopyOptions:
    format: str = "text"  # text | csv | binary
    delimiter: str | None = None
    null: str | None = None
    default: str | None = None
    header: bool = False
    header_match: bool = False
    quote: str | None = None
    escape: str | None = None
    force_quote: list[str] | None = None  # column names; None: none
    force_quote_all: bool = False
    force_not_null: list[str] = field(default_factory=list)
    force_null: list[str] = field(default_factory=list)
    freeze: bool = False

    @property
    def csv(self) -> bool:
        return self.format == "csv"

    @property
    def binary(self) -> bool:
        return self.format == "binary"


def _option_value(elem: dict) -> object:
    """A DefElem's argument: str, bool, int, list of names, "*", or None (no argument)."""
    arg = elem.get("arg")
    if arg is None:
        return None
    kind = next(iter(arg))
    body = arg[kind]
    if kind == "String":
        return body.get("sval", "")
    if kind == "Boolean":
        return bool(body.get("boolval"))
    if kind == "Integer":
        return int(body.get("ival", 0))
    if kind == "Float":
        return body.get("fval", "0")
    if kind == "A_Star":
        return "*"
    if kind == "List":
        return [item.get("String", {}).get("sval", "") for item in body.get("items", ())]
    return str(body)


def _bool_option(name: str, value: object, *, allow_match: bool = False) -> bool | str:
    """PostgreSQL's defGetBoolean (and defGetCopyHeaderChoice's "match")."""
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value in (0, 1):
            return bool(value)
    else:
        text = str(value).lower()
        if text in ("true", "on"):
            return True
        if text in ("false", "off"):
            return False
        if allow_match and text == "match":
            return "match"
    if allow_match:
        raise SqlError("22023", f"{name} requires a Boolean value or \"match\"")
    raise SqlError("22023", f"{name} requires a Boolean value")


def _string_option(name: str, value: object) -> str:
    if not isinstance(value, str) or value == "*":
        raise SqlError("22023", f"{name} requires a string value" if value is not None else f"{name} requires a parameter")
    return value


def parse_options(option_nodes: list, *, is_from: bool) -> CopyOptions:
    """The WITH (...) list of a COPY statement, checked as PostgreSQL 16 checks it."""
    opts = CopyOptions()
    seen: set[str] = set()
    for node in option_nodes or ():
        elem = node["DefElem"]
        name = elem.get("defname", "")
        value = _option_value(elem)
        if name in seen:
            raise SqlError("42601", "conflicting or redundant options")
        seen.add(name)
        if name == "format":
            fmt = _string_option(name, value).lower()
            if fmt not in ("text", "csv", "binary"):
                raise SqlError("22023", f'COPY format "{value}" not recognized')
            opts.format = fmt
        elif name == "freeze":
            opts.freeze = bool(_bool_option(name, value))  # accepted and ignored: no heap to freeze
        elif name == "delimiter":
            opts.delimiter = _string_option(name, value)
        elif name == "null":
            opts.null = _string_option(name, value)
        elif name == "default":
            opts.default = _string_option(name, value)
        elif name == "header":
            choice = _bool_option(name, value, allow_match=True)
            opts.header = bool(choice)
            opts.header_match = choice == "match"
        elif name == "quote":
            opts.quote = _string_option(name, value)
        elif name == "escape":
            opts.escape = _string_option(name, value)
        elif name == "force_quote":
            if value == "*":
                opts.force_quote_all = True
                opts.force_quote = []
            elif isinstance(value, list):
                opts.force_quote = value
            else:
                raise SqlError("22023", f'argument to option "{name}" must be a list of column names')
        elif name in ("force_not_null", "force_null"):
            if not isinstance(value, list):
                raise SqlError("22023", f'argument to option "{name}" must be a list of column names')
            setattr(opts, name, value)
        elif name == "encoding":
            text = _string_option(name, value).upper().replace("-", "").replace("_", "")
            if text not in ("UTF8", "UNICODE"):
                raise SqlError("0A000", f'COPY encoding "{value}" is not supported; dsql speaks UTF8 only')
        else:
            raise SqlError("42601", f'option "{name}" not recognized')
    _check_options(opts, is_from)
    return opts


def _check_options(opts: CopyOptions, is_from: bool) -> None:
    binary, csv = opts.binary, opts.csv
    if binary and opts.delimiter is not None:
        raise SqlError("42601", "cannot specify DELIMITER in BINARY mode")
    if binary and opts.null is not None:
        raise SqlError("42601", "cannot specify NULL in BINARY mode")
    if binary and opts.default is not None:
        raise SqlError("42601", "cannot specify DEFAULT in BINARY mode")
    if opts.delimiter is None:
        opts.delimiter = "," if csv else "\t"
    if opts.null is None:
        opts.null = "" if csv else "\\N"
    if csv:
        if opts.quote is None:
            opts.quote = '"'
        if opts.escape is None:
            opts.escape = opts.quote
    delimiter = opts.delimiter
    if len(delimiter) != 1 or len(delimiter.encode()) != 1:
        raise SqlError("0A000", "COPY delimiter must be a single one-byte character")
    if delimiter in "\r\n":
        raise SqlError("22023", "COPY delimiter cannot be newline or carriage return")
    if "\r" in opts.null or "\n" in opts.null:
        raise SqlError("22023", "COPY null representation cannot use newline or carriage return")
    if opts.default is not None and ("\r" in opts.default or "\n" in opts.default):
        raise SqlError("22023", "COPY default representation cannot use newline or carriage return")
    if not csv and delimiter in "\\.abcdefghijklmnopqrstuvwxyz0123456789":
        raise SqlError("22023", f'COPY delimiter cannot be "{delimiter}"')
    if binary and opts.header:
        raise SqlError("0A000", "cannot specify HEADER in BINARY mode")
    if opts.header_match and not is_from:
        raise SqlError("0A000", 'cannot use "match" with HEADER in COPY TO')
    if not csv and opts.quote is not None:
        raise SqlError("0A000", "COPY quote available only in CSV mode")
    if csv and (len(opts.quote) != 1 or len(opts.quote.encode()) != 1):
        raise SqlError("0A000", "COPY quote must be a single one-byte character")
    if csv and delimiter == opts.quote:
        raise SqlError("22023", "COPY delimiter and quote must be different")
    if not csv and opts.escape is not None:
        raise SqlError("0A000", "COPY escape available only in CSV mode")
    if csv and (len(opts.escape) != 1 or len(opts.escape.encode()) != 1):
        raise SqlError("0A000", "COPY escape must be a single one-byte character")
    if not csv and opts.force_quote is not None:
        raise SqlError("0A000", "COPY force quote available only in CSV mode")
    if opts.force_quote is not None and is_from:
        raise SqlError("0A000", "COPY force quote only available using COPY TO")
    if not csv and opts.force_not_null:
        raise SqlError("0A000", "COPY force not null available only in CSV mode")
    if opts.force_not_null and not is_from:
        raise SqlError("0A000", "COPY force not null only available using COPY FROM")
    if not csv and opts.force_null:
        raise SqlError("0A000", "COPY force null available only in CSV mode")
    if opts.force_null and not is_from:
        raise SqlError("0A000", "COPY force null only available using COPY FROM")
    if delimiter in opts.null:
        raise SqlError("0A000", "COPY delimiter must not appear in the NULL specification")
    if csv and opts.quote in opts.null:
        raise SqlError("0A000", "CSV quote character must not appear in the NULL specification")
    if opts.default is not None:
        if not is_from:
            raise SqlError("0A000", "COPY DEFAULT only available using COPY FROM")
        if delimiter in opts.default:
            raise SqlError("0A000", "COPY delimiter must not appear in the DEFAULT specification")
        if csv and opts.quote in opts.default:
            raise SqlError("0A000", "CSV quote character must not appear in the DEFAULT specification")
        if opts.default == opts.null:
            raise SqlError("22023", "NULL specification and DEFAULT specification cannot be the same")


# -- writing -------------------------------------------------------------------------------------


def _text_escaper(delimiter: bytes) -> Callable[[bytes], bytes]:
    """CopyAttributeOutText: backslash, the C escapes for control characters, and the delimiter."""
    table = {b"\\": b"\\\\", b"\x08": b"\\b", b"\x0c": b"\\f", b"\n": b"\\n", b"\r": b"\\r", b"\t": b"\\t",
             b"\x0b": b"\\v"}
    if delimiter not in table:
        table[delimiter] = b"\\" + delimiter
    pattern = re.compile(b"[" + b"".join(re.escape(k) for k in table) + b"]")
    lookup = table.__getitem__

    def escape(value: bytes) -> bytes:
        if pattern.search(value) is None:
            return value
        return pattern.sub(lambda m: lookup(m.group(0)), value)

    return escape


def _csv_quoter(opts: CopyOptions, single_column: bool) -> Callable[[bytes, bool], bytes]:
    """CopyAttributeOutCSV: quote when forced, when equal to the NULL string, when it holds the
    delimiter, the quote or a newline, or (one column) when it is `\\.`; double quote and escape inside."""
    quote, escape = opts.quote.encode(), opts.escape.encode()
    null = opts.null.encode()
    needs = re.compile(b"[" + re.escape(opts.delimiter.encode() + quote) + b"\r\n]")
    inner = re.compile(b"[" + re.escape(quote + escape) + b"]")

    def out(value: bytes, force: bool) -> bytes:
        if not force:
            force = value == null or (single_column and value == b"\\.") or needs.search(value) is not None
        if not force:
            return value
        return quote + inner.sub(lambda m: escape + m.group(0), value) + quote

    return out


def row_encoder(opts: CopyOptions, columns: list[str]) -> Callable[[list], bytes]:
    """Text-format values (the type output functions' bytes, None for NULL) -> one text or CSV line."""
    delimiter = opts.delimiter.encode()
    null = opts.null.encode()
    if not opts.csv:
        escape = _text_escaper(delimiter)
        return lambda values: delimiter.join([null if v is None else escape(v) for v in values]) + b"\n"
    quoter = _csv_quoter(opts, len(columns) == 1)
    force = [opts.force_quote_all or name in (opts.force_quote or ()) for name in columns]
    return lambda values: delimiter.join(
        [null if v is None else quoter(v, f) for v, f in zip(values, force, strict=True)]
    ) + b"\n"


def header_line(opts: CopyOptions, columns: list[str]) -> bytes:
    """The HEADER line of COPY TO: column names through the same escaping as values."""
    delimiter = opts.delimiter.encode()
    if opts.csv:
        quoter = _csv_quoter(opts, len(columns) == 1)
        return delimiter.join([quoter(name.encode(), False) for name in columns]) + b"\n"
    escape = _text_escaper(delimiter)
    return delimiter.join([escape(name.encode()) for name in columns]) + b"\n"


def binary_header() -> bytes:
    """Signature, flags (0) and header extension length (0)."""
    return BINARY_SIGNATURE + _I32.pack(0) + _I32.pack(0)


def binary_row(values: list) -> bytes:
    """One tuple: int16 field count, then int32 length (-1 for NULL) and the send-format bytes."""
    parts = [_I16.pack(len(values))]
    for v in values:
        if v is None:
            parts.append(b"\xff\xff\xff\xff")
        else:
            parts.append(_I32.pack(len(v)))
            parts.append(v)
    return b"".join(parts)
