"""COPY's data formats, as PostgreSQL 16 reads and writes them: options, parsers, encoders.

This module is pure (no session, storage or trio), so every rule can be
tested by feeding bytes. `qp/copy.py` runs COPY statements on top of it.

- Options (`parse_options`) follow ProcessCopyOptions in PostgreSQL's copy.c,
  with its SQLSTATEs and messages; FREEZE is accepted and ignored (there is
  no heap to freeze), ENCODING accepts only UTF8.
- Text format (`TextParser`): one row per line; the newline style (LF, CRLF
  or CR) is fixed by the first line, and a different one later is an error,
  as in PostgreSQL. A backslash escapes the next byte (an escaped newline is
  data), fields are split at unescaped delimiters, `\\N` (the NULL string) is
  compared before de-escaping, and `\\.` ends the data: whatever precedes it on
  its line is a last row, and everything after it is ignored (pgbench sends
  one as data before CopyDone).
- CSV (`CsvParser`): quotes may span lines; NULL is an unquoted field equal
  to the NULL string; `\\.` alone on a line ends the data.
- Binary (`BinaryParser`): the `PGCOPY\\n\\377\\r\\n\\0` signature, flags and
  header extension, then per tuple an int16 field count and per field an
  int32 length (-1 for NULL) and the bytes of the type's send format; an
  int16 -1 trailer, after which nothing may follow.
- Output (`row_encoder`, `binary_header`...): CopyAttributeOutText and
  CopyAttributeOutCSV's escaping and quoting, byte for byte.

Parsers work on whole logical lines found with `re` searches rather than a
loop over every byte, which is where speed comes from in Python; the
per-byte rules only run on the lines that contain a backslash or a quote.
Errors carry PostgreSQL's CONTEXT (`COPY t, line 3: "..."`), which the
caller completes with the table name.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from qp.errors import SqlError

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


def _utf8_char_length(first_byte: int) -> int:
    if first_byte < 0x80:
        return 1
    if first_byte & 0xE0 == 0xC0:
        return 2
    if first_byte & 0xF0 == 0xE0:
        return 3
    if first_byte & 0xF8 == 0xF0:
        return 4
    return 1


def invalid_utf8(data: bytes, start: int, context: str | None = None) -> SqlError:
    """22021 worded as PostgreSQL's report_invalid_encoding (up to one character's bytes)."""
    length = min(_utf8_char_length(data[start]), len(data) - start)
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


# -- reading: lines ------------------------------------------------------------------------

_LF, _CR, _BACKSLASH, _DOT = 0x0A, 0x0D, 0x5C, 0x2E
_EOL_LF, _EOL_CRLF, _EOL_CR = "\n", "\r\n", "\r"


class _Need(Exception):
    """More input is needed before the current line can be read."""


@dataclass(slots=True)
class Record:
    """One row's fields as read (str, None for NULL, DEFAULT), with its line number and text."""

    line_no: int
    fields: list
    line: str | None  # for CONTEXT; None when the line is not valid UTF-8


class _LineReader:
    """Splits text-like COPY input into logical lines, as PostgreSQL's CopyReadLineText does.

    `lines()` returns (line number, bytes) pairs; line numbers are PostgreSQL's
    cur_lineno: one per line, plus (CSV) the newlines inside quoted fields.
    """

    def __init__(self, opts: CopyOptions) -> None:
        self.csv = opts.csv
        self.quote = ord(opts.quote) if opts.csv else -1
        # As in PostgreSQL, an escape equal to the quote gets no special treatment
        # here: the quote alone toggles the quoted state.
        self.escape = ord(opts.escape) if opts.csv and opts.escape != opts.quote else -1
        specials = b"\\\r\n" + (opts.quote.encode() + opts.escape.encode() if opts.csv else b"")
        self._special = re.compile(b"[" + re.escape(specials) + b"]")
        self.buf = bytearray()
        self.eol: str | None = None
        self.ended = False  # the end-of-data marker was read: the rest is ignored
        self.line_no = 0  # cur_lineno of the last line returned
        # The scan state of the line being read, kept across feeds: where the
        # scan resumes and (CSV) the quote state at that point.
        self._scan = 0
        self._in_quote = False
        self._last_was_esc = False
        self._inner_lines = 0

    def context(self) -> str:
        return f"line {self.line_no + 1 + self._inner_lines}"

    def feed(self, data: bytes) -> None:
        if not self.ended:
            self.buf += data

    def lines(self, final: bool) -> list[tuple[int, bytes]]:
        """The complete logical lines buffered so far; with `final`, the unterminated rest too."""
        out: list[tuple[int, bytes]] = []
        while not self.ended:
            try:
                line = self._next_line(final)
            except _Need:
                if len(self.buf) > PENDING_LINE_BYTES_MAX:
                    raise SqlError("54000", "maximum row size exceeded") from None
                break
            if line is None:
                break
            out.append((self.line_no, line))
        if self.ended:
            self.buf.clear()
        return out

    def _error(self, message: str, hint: str | None = None) -> SqlError:
        return copy_data_error(message, hint=hint, context=self.context())

    def _newline_error(self, char: int) -> SqlError:
        if char == _CR:
            if self.csv:
                return self._error("unquoted carriage return found in data",
                                   "Use quoted CSV field to represent carriage return.")
            return self._error("literal carriage return found in data", 'Use "\\r" to represent carriage return.')
        if self.csv:
            return self._error("unquoted newline found in data", "Use quoted CSV field to represent newline.")
        return self._error("literal newline found in data", 'Use "\\n" to represent newline.')

    def _take(self, end: int, resume: int) -> bytes:
        """Cut buf[:end] as a line and drop the bytes up to `resume` (past its terminator)."""
        line = bytes(self.buf[:end])
        del self.buf[:resume]
        self._scan = 0
        self._in_quote = False
        self._last_was_esc = False
        self.line_no += 1 + self._inner_lines
        self._inner_lines = 0
        return line

    def _wait(self, at: int, state: tuple[bool, bool]) -> _Need:
        """Stop before buf[at] (scanned again on the next feed) with the quote state from before it."""
        self._scan = at
        self._in_quote, self._last_was_esc = state
        return _Need()

    def _next_line(self, final: bool) -> bytes | None:
        buf = self.buf
        search = self._special.search
        csv = self.csv
        pos = self._scan
        last = pos - 1  # the last byte whose effect on the quote state is accounted for
        while True:
            match = search(buf, pos)
            if match is None:
                break
            i = match.start()
            c = buf[i]
            state = (self._in_quote, self._last_was_esc)
            if csv:
                # CopyReadLineText's quote tracking; an escape counts only inside quotes.
                if i > last + 1:
                    self._last_was_esc = False  # ordinary bytes came in between
                last = i
                if c == self.escape and self._in_quote:
                    self._last_was_esc = not self._last_was_esc
                if c == self.quote and not self._last_was_esc:
                    self._in_quote = not self._in_quote
                if c != self.escape:
                    self._last_was_esc = False
                if c in (_CR, _LF) and self._in_quote:
                    if c == (_LF if self.eol == _EOL_LF else _CR):
                        self._inner_lines += 1
                    pos = i + 1
                    continue
                if c != _BACKSLASH and c in (self.quote, self.escape):
                    pos = i + 1
                    continue
            if c == _BACKSLASH:
                if csv and (i != 0 or self._in_quote):
                    pos = i + 1  # in CSV a backslash matters only first on a line (\.)
                    continue
                if i + 1 >= len(buf):
                    if not final:
                        raise self._wait(i, state)
                    pos = i + 1  # a lone backslash at the very end is data
                    continue
                if buf[i + 1] == _DOT:
                    ended, line = self._end_marker(i, final, state)
                    if ended:
                        return line
                    pos = i + 2
                    continue
                pos = i + 1 if csv else i + 2  # text: the escaped byte is data, even a newline
                continue
            # CR or LF outside quotes: the end of the line, in the style the first line set
            if c == _CR:
                if i + 1 >= len(buf) and not final and self.eol in (None, _EOL_CRLF):
                    raise self._wait(i, state)
                if self.eol is None:
                    self.eol = _EOL_CRLF if i + 1 < len(buf) and buf[i + 1] == _LF else _EOL_CR
                if self.eol == _EOL_LF:
                    raise self._newline_error(_CR)
                if self.eol == _EOL_CRLF:
                    if i + 1 >= len(buf) or buf[i + 1] != _LF:
                        raise self._newline_error(_CR)
                    return self._take(i, i + 2)
                return self._take(i, i + 1)
            if self.eol is None:
                self.eol = _EOL_LF
            if self.eol != _EOL_LF:
                raise self._newline_error(_LF)
            return self._take(i, i + 1)
        if not final:
            if csv and len(buf) > last + 1:
                self._last_was_esc = False
            self._scan = len(buf)
            raise _Need()
        if not buf:
            return None
        return self._take(len(buf), len(buf))  # the last line needs no newline

    def _end_marker(self, i: int, final: bool, state: tuple[bool, bool]) -> tuple[bool, bytes | None]:
        """A backslash-dot at buf[i]: (True, data before it or None) at the end of the data,
        (False, None) when (CSV) it is just data."""
        buf = self.buf
        csv = self.csv
        j = i + 2

        def byte_at(k: int) -> int:
            if k < len(buf):
                return buf[k]
            if not final:
                raise self._wait(i, state)
            return 0  # the end of the input: PostgreSQL reads a NUL here

        if self.eol == _EOL_CRLF:
            c2 = byte_at(j)
            j += 1
            if c2 == _LF:
                if csv:
                    return False, None
                raise self._error("end-of-copy marker does not match previous newline style")
            if c2 != _CR:
                if csv:
                    return False, None
                raise self._error("end-of-copy marker corrupt")
        c2 = byte_at(j)
        if c2 not in (_CR, _LF):
            if csv:
                return False, None
            raise self._error("end-of-copy marker corrupt")
        if (self.eol in (_EOL_LF, _EOL_CRLF) and c2 != _LF) or (self.eol == _EOL_CR and c2 != _CR):
            raise self._error("end-of-copy marker does not match previous newline style")
        self.ended = True
        if i == 0:
            return True, None
        self.line_no += 1  # the data before \. on its line is a last row
        return True, bytes(buf[:i])


# -- reading: fields -------------------------------------------------------------------------

_TEXT_TOKEN_CACHE: dict[bytes, re.Pattern] = {}
_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|([\s\S])|\Z)")
_SIMPLE_ESCAPES = {b"b": b"\x08", b"f": b"\x0c", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\x0b"}


def _unescape_one(m: re.Match) -> bytes:
    octal, hexa, char = m.group(1), m.group(2), m.group(3)
    if octal is not None:
        return bytes([int(octal, 8) & 0xFF])
    if hexa is not None:
        return bytes([int(hexa, 16)])
    if char is None:
        return b""  # a backslash at the end of the line ends the field
    return _SIMPLE_ESCAPES.get(char, char)


def _text_tokens(delimiter: bytes) -> re.Pattern:
    pattern = _TEXT_TOKEN_CACHE.get(delimiter)
    if pattern is None:
        pattern = re.compile(rb"\\(?:[0-7]{1,3}|x[0-9a-fA-F]{1,2}|[\s\S]|\Z)|" + re.escape(delimiter))
        _TEXT_TOKEN_CACHE[delimiter] = pattern
    return pattern


class _FieldReader:
    """Shared by the text and CSV parsers: header handling and field-count checks."""

    def __init__(self, opts: CopyOptions, columns: list[str]) -> None:
        self.opts = opts
        self.columns = columns
        self.reader = _LineReader(opts)
        self.header_pending = opts.header

    def feed(self, data: bytes) -> list[Record]:
        self.reader.feed(data)
        return self._records(self.reader.lines(final=False))

    def finish(self) -> list[Record]:
        return self._records(self.reader.lines(final=True))

    @property
    def line_no(self) -> int:
        return self.reader.line_no

    def _records(self, lines: list[tuple[int, bytes]]) -> list[Record]:
        out = []
        for line_no, line in lines:
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise invalid_utf8(line, exc.start, f"line {line_no}") from None
            fields = self._split(line, text, line_no)
            if self.header_pending:
                self.header_pending = False
                if self.opts.header_match:
                    self._match_header(fields, text, line_no)
                continue
            ncols = len(self.columns)
            if len(fields) > ncols and ncols > 0:
                raise copy_data_error("extra data after last expected column", context=_line_context(line_no, text))
            # Too few fields is reported by missing_column_error, after the fields there
            # are have been decoded, because PostgreSQL reports the first bad column first.
            out.append(Record(line_no, fields, text))
        return out

    def _match_header(self, fields: list, text: str, line_no: int) -> None:
        context = _line_context(line_no, text)
        if len(fields) != len(self.columns):
            raise copy_data_error(
                f"wrong number of fields in header line: got {len(fields)}, expected {len(self.columns)}",
                context=context,
            )
        for i, (got, expected) in enumerate(zip(fields, self.columns, strict=True), start=1):
            if got is None:
                raise copy_data_error(
                    f'column name mismatch in header line field {i}: got null value ("{self.opts.null}"), '
                    f'expected "{expected}"', context=context,
                )
            if got != expected:
                raise copy_data_error(
                    f'column name mismatch in header line field {i}: got "{got}", expected "{expected}"',
                    context=context,
                )

    def _split(self, line: bytes, text: str, line_no: int) -> list:
        raise NotImplementedError


def missing_column_error(record: Record, columns: list[str]) -> SqlError:
    return copy_data_error(
        f'missing data for column "{columns[len(record.fields)]}"', context=_line_context(record.line_no, record.line)
    )


def _line_context(line_no: int, text: str | None) -> str:
    if text is None:
        return f"line {line_no}"
    return f'line {line_no}: "{display(text)}"'


class TextParser(_FieldReader):
    """FORMAT text: `feed(bytes)` and `finish()` return the complete `Record`s."""

    def __init__(self, opts: CopyOptions, columns: list[str]) -> None:
        super().__init__(opts, columns)
        self.delimiter = opts.delimiter
        self.null = opts.null
        self.default = opts.default
        self._tokens = _text_tokens(opts.delimiter.encode())
        self._null_bytes = opts.null.encode()
        self._default_bytes = opts.default.encode() if opts.default is not None else None

    def _split(self, line: bytes, text: str, line_no: int) -> list:
        null, default = self.null, self.default
        if "\\" not in text:
            return [
                None if f == null else DEFAULT if f == default else f for f in text.split(self.delimiter)
            ]
        raw_fields = []
        start = 0
        for m in self._tokens.finditer(line):
            if m.group(0)[:1] != b"\\":
                raw_fields.append(line[start : m.start()])
                start = m.end()
        raw_fields.append(line[start:])
        out: list = []
        null_bytes, default_bytes = self._null_bytes, self._default_bytes
        for raw in raw_fields:
            if raw == null_bytes:
                out.append(None)
            elif raw == default_bytes:
                out.append(DEFAULT)
            elif b"\\" in raw:
                out.append(decode_utf8(_ESCAPE.sub(_unescape_one, raw), _line_context(line_no, text)))
            else:
                out.append(raw.decode())
        return out


class CsvParser(_FieldReader):
    """FORMAT csv: `feed(bytes)` and `finish()` return the complete `Record`s."""

    def __init__(self, opts: CopyOptions, columns: list[str]) -> None:
        super().__init__(opts, columns)
        self.not_null = {columns.index(c) for c in opts.force_not_null if c in columns}
        self.force_null = {columns.index(c) for c in opts.force_null if c in columns}

    def _split(self, line: bytes, text: str, line_no: int) -> list:
        opts = self.opts
        delimiter, quote, null, default = opts.delimiter, opts.quote, opts.null, opts.default
        if quote not in text:
            fields: list = [None if f == null else DEFAULT if f == default else f for f in text.split(delimiter)]
            quoted = None
        else:
            fields, quoted = self._split_quoted(text, line_no)
        if self.not_null or self.force_null:
            for i in range(len(fields)):
                if i in self.not_null and fields[i] is None:
                    fields[i] = null
                elif i in self.force_null and fields[i] == null and (quoted is None or quoted[i]):
                    fields[i] = None
        return fields

    def _split_quoted(self, text: str, line_no: int) -> tuple[list, list[bool]]:
        """CopyReadAttributesCSV: quoted sections may sit anywhere in a field (`a"b,c"d` is `ab,cd`);
        inside them the escape character makes the next quote or escape literal."""
        opts = self.opts
        delimiter, quote, escape, null, default = opts.delimiter, opts.quote, opts.escape, opts.null, opts.default
        fields: list = []
        quoted: list[bool] = []
        i, n = 0, len(text)
        while True:
            start = i
            saw_quote = False
            found_delimiter = False
            out: list[str] = []
            while True:
                # outside quotes: up to a delimiter, a quote, or the end of the line
                while i < n:
                    c = text[i]
                    i += 1
                    if c == delimiter:
                        found_delimiter = True
                        break
                    if c == quote:
                        saw_quote = True
                        break
                    out.append(c)
                else:
                    break
                if found_delimiter:
                    break
                # inside quotes: up to the closing quote
                while True:
                    if i >= n:
                        raise copy_data_error("unterminated CSV quoted field", context=_line_context(line_no, text))
                    c = text[i]
                    i += 1
                    if c == escape and i < n and text[i] in (escape, quote):
                        out.append(text[i])
                        i += 1
                        continue
                    if c == quote:
                        break
                    out.append(c)
            raw = text[start : i - 1 if found_delimiter else i]
            if not saw_quote and raw == null:
                fields.append(None)
            elif not saw_quote and raw == default:
                fields.append(DEFAULT)
            else:
                fields.append("".join(out))
            quoted.append(saw_quote)
            if not found_delimiter:
                return fields, quoted


# -- reading: binary --------------------------------------------------------------------------


class BinaryParser:
    """FORMAT binary: `feed(bytes)` and `finish()` return (tuple number, fields as bytes or None)."""

    def __init__(self, columns: list[str]) -> None:
        self.ncols = len(columns)
        self.buf = bytearray()
        self.header_done = False
        self.ended = False  # the -1 trailer was read
        self.line_no = 0  # tuples read (PostgreSQL counts them as lines)

    def feed(self, data: bytes) -> list[tuple[int, list]]:
        if self.ended:
            if data:
                raise copy_data_error("received copy data after EOF marker", context=f"line {self.line_no + 1}")
            return []
        self.buf += data
        return self._tuples(final=False)

    def finish(self) -> list[tuple[int, list]]:
        if self.ended:
            return []
        return self._tuples(final=True)

    def _header(self, final: bool) -> bool:
        buf = self.buf
        if len(buf) < len(BINARY_SIGNATURE):
            if final:
                raise copy_data_error("COPY file signature not recognized")
            return False
        if bytes(buf[: len(BINARY_SIGNATURE)]) != BINARY_SIGNATURE:
            raise copy_data_error("COPY file signature not recognized")
        pos = len(BINARY_SIGNATURE)
        if len(buf) < pos + 4:
            if final:
                raise copy_data_error("invalid COPY file header (missing flags)")
            return False
        (flags,) = _I32.unpack_from(buf, pos)
        if flags & (1 << 16):
            raise copy_data_error("invalid COPY file header (WITH OIDS)")
        if (flags & ~(1 << 16)) >> 16:
            raise copy_data_error("unrecognized critical flags in COPY file header")
        pos += 4
        if len(buf) < pos + 4:
            if final:
                raise copy_data_error("invalid COPY file header (missing length)")
            return False
        (extension,) = _I32.unpack_from(buf, pos)
        if extension < 0:
            raise copy_data_error("invalid COPY file header (missing length)")
        pos += 4
        if len(buf) < pos + extension:
            if final:
                raise copy_data_error("invalid COPY file header (wrong length)")
            return False
        del buf[: pos + extension]
        self.header_done = True
        return True

    def _tuples(self, final: bool) -> list[tuple[int, list]]:
        if not self.header_done and not self._header(final):
            return []
        out = []
        buf = self.buf
        pos = 0
        size = len(buf)
        unpack16, unpack32 = _I16.unpack_from, _I32.unpack_from
        ncols = self.ncols
        while True:
            if size - pos < 2:
                if final and size - pos == 1:
                    raise copy_data_error("unexpected EOF in COPY data", context=f"line {self.line_no + 1}")
                break
            (count,) = unpack16(buf, pos)
            if count == -1:
                self.ended = True
                if size - pos > 2:
                    raise copy_data_error("received copy data after EOF marker", context=f"line {self.line_no + 1}")
                pos = size
                break
            line_no = self.line_no + 1
            if count != ncols:
                raise copy_data_error(f"row field count is {count}, expected {ncols}", context=f"line {line_no}")
            fields: list = []
            p = pos + 2
            complete = True
            for _ in range(count):
                if size - p < 4:
                    complete = False
                    break
                (length,) = unpack32(buf, p)
                p += 4
                if length == -1:
                    fields.append(None)
                    continue
                if length < -1:
                    raise copy_data_error("invalid field size", context=f"line {line_no}")
                if size - p < length:
                    complete = False
                    break
                fields.append(bytes(buf[p : p + length]))
                p += length
            if not complete:
                if final:
                    error = copy_data_error("unexpected EOF in COPY data", context=f"line {line_no}")
                    # PostgreSQL decodes each field as it reads it, so a bad field before the
                    # end is reported first: the loader decodes these, then raises the error.
                    error.partial_fields = fields  # type: ignore[attr-defined]
                    raise error
                if size - pos > PENDING_LINE_BYTES_MAX:
                    raise SqlError("54000", "maximum row size exceeded")
                break
            self.line_no = line_no
            out.append((line_no, fields))
            pos = p
        del buf[:pos]
        return out


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
