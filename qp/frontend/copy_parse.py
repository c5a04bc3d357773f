"""Reading COPY FROM data, as PostgreSQL 16 does: text, CSV and binary.

- Text (`TextParser`): one row per line; the newline style (LF, CRLF or CR)
  is fixed by the first line, and a different one later is an error, as in
  PostgreSQL. A backslash escapes the next byte (an escaped newline is data),
  fields are split at unescaped delimiters, `\\N` (the NULL string) is compared
  before de-escaping, and `\\.` ends the data: whatever precedes it on its line
  is a last row, and everything after it is ignored (pgbench sends one as
  data before CopyDone).
- CSV (`CsvParser`): quotes may span lines; NULL is an unquoted field equal
  to the NULL string; `\\.` alone on a line ends the data.
- Binary (`BinaryParser`): the `PGCOPY\\n\\377\\r\\n\\0` signature, flags and
  header extension, then per tuple an int16 field count and per field an
  int32 length (-1 for NULL) and the bytes of the type's send format; an
  int16 -1 trailer, after which nothing may follow.

Each parser's `feed(bytes)` returns the rows complete so far (CopyData may
split a line anywhere) and `finish()` the rest. They find whole logical
lines with `re` searches rather than a loop over every byte, which is where
speed comes from in Python; the per-byte rules only run on lines that hold
a backslash or a quote. Errors carry PostgreSQL's CONTEXT (`line 3: "..."`),
which the caller completes with `COPY <table>, `.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from qp.errors import SqlError
from qp.frontend.copy_format import (
    BINARY_SIGNATURE,
    DEFAULT,
    PENDING_LINE_BYTES_MAX,
    CopyOptions,
    copy_data_error,
    decode_utf8,
    display,
    invalid_utf8,
)

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")

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
        out: list[tuple[int, bytes]] = self._plain_lines()
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

    def plain_chunk(self) -> tuple[int, bytes] | None:
        """Text format, newline-terminated lines without a backslash or a carriage return (what
        pgbench and most loaders send), taken at once: (the first one's number, the lines
        joined by their newlines, the last one's left off); the same lines `_next_line` finds
        one at a time. Anything else (CSV, an escape, the end marker, CR) goes the byte-rule way."""
        buf = self.buf
        if self.csv or self.ended or self.eol not in (None, _EOL_LF):
            return None
        end = buf.rfind(b"\n")
        if end < 0 or buf.find(b"\\", 0, end) >= 0 or buf.find(b"\r", 0, end) >= 0:
            return None
        chunk = bytes(buf[:end])
        del buf[: end + 1]
        # (In text, a partial line's scan state is only where to resume: bytes without a
        # special one before it; the line now ends inside the chunk taken.)
        self._scan = 0
        self.eol = _EOL_LF
        first = self.line_no + 1
        self.line_no += chunk.count(b"\n") + 1
        return first, chunk

    def _plain_lines(self) -> list[tuple[int, bytes]]:
        plain = self.plain_chunk()
        if plain is None:
            return []
        first, chunk = plain
        parts = chunk.split(b"\n")
        return list(zip(range(first, first + len(parts)), parts, strict=True))

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


@dataclass(slots=True)
class PlainRows:
    """Lines of text-format data that hold no backslash, so no escape, no NULL (whose
    string has one) and no end marker, each with exactly the COPY's number of fields:
    what `TextParser.feed` returns when that is all it read, for the caller to decode a
    column at a time. `records()` gives the same rows as `Record`s, for the caller's
    row-at-a-time path (which finds and reports the first bad value)."""

    first_line_no: int
    texts: list[str]
    fields: list[list[str]]

    @property
    def last_line_no(self) -> int:
        return self.first_line_no + len(self.texts) - 1

    def __iter__(self):  # what a caller that takes a list of records sees
        return iter(self.records())

    def records(self) -> list[Record]:
        first = self.first_line_no
        return [Record(first + i, f, t) for i, (f, t) in enumerate(zip(self.fields, self.texts, strict=True))]


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

    def feed(self, data: bytes) -> list[Record] | PlainRows:  # type: ignore[override]
        reader = self.reader
        reader.feed(data)
        plain = reader.plain_chunk() if self._plain_rows_possible and not self.header_pending else None
        if plain is None:
            return self._records(reader.lines(final=False))
        first, chunk = plain
        rows = self._plain_rows(first, chunk)
        rest = reader.lines(final=False)
        if rows is not None and not rest:
            return rows
        if rows is not None:
            return rows.records() + self._records(rest)
        lines = chunk.split(b"\n")
        return self._records(list(zip(range(first, first + len(lines)), lines, strict=True)) + rest)

    @property
    def _plain_rows_possible(self) -> bool:
        """Lines without a backslash hold no NULL and no DEFAULT when their strings have one."""
        return "\\" in self.null and (self.default is None or "\\" in self.default) and bool(self.columns)

    def _plain_rows(self, first: int, chunk: bytes) -> PlainRows | None:
        try:
            texts = chunk.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            return None  # the row-at-a-time path reports the line
        delimiter, ncols = self.delimiter, len(self.columns)
        fields = [text.split(delimiter) for text in texts]
        if len(fields[0]) != ncols or len(set(map(len, fields))) != 1:
            return None
        return PlainRows(first, texts, fields)

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
