"""COPY's formats without a server: options and encoders (qp/frontend/copy_format.py), the
text/CSV/binary parsers (qp/frontend/copy_parse.py).

Every parser case is also fed one byte at a time, because CopyData messages may
split a line anywhere (pgbench sends one message per line, psql and psycopg
send large chunks). What PostgreSQL does for the same input is checked against
a real server in tests/test_copy.py; here the rules are pinned down one by one.
"""

from __future__ import annotations

import struct

import pytest

from qp.errors import SqlError
from qp.frontend.copy_format import (
    DEFAULT,
    CopyOptions,
    binary_header,
    binary_row,
    header_line,
    parse_options,
    row_encoder,
)
from qp.frontend.copy_parse import BinaryParser, CsvParser, TextParser
from qp.parse.parser import parse


def options(sql_options: str = "", *, is_from: bool = True) -> CopyOptions:
    direction = "FROM STDIN" if is_from else "TO STDOUT"
    body = parse(f"COPY t {direction} {sql_options}")[0].body
    return parse_options(body.get("options", ()), is_from=is_from)


def read(data: bytes, columns: int = 2, sql_options: str = "", *, chunk: int | None = None) -> list:
    opts = options(sql_options)
    names = [f"c{i}" for i in range(columns)]
    parser = BinaryParser(names) if opts.binary else (CsvParser if opts.csv else TextParser)(opts, names)
    records = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        records += parser.feed(piece)
    records += parser.finish()
    if opts.binary:
        return [(n, f) for n, f in records]
    return [(r.line_no, r.fields) for r in records]


def read_both_ways(data: bytes, columns: int = 2, sql_options: str = "") -> list:
    """The records, after checking that byte-at-a-time feeding gives the same answer."""
    whole = read(data, columns, sql_options)
    assert read(data, columns, sql_options, chunk=1) == whole
    return whole


def error(data: bytes, columns: int = 2, sql_options: str = "") -> tuple[str, str, str | None, str | None]:
    outcomes = []
    for chunk in (None, 1):
        with pytest.raises(SqlError) as info:
            read(data, columns, sql_options, chunk=chunk)
        exc = info.value
        outcomes.append((exc.sqlstate, exc.message, exc.context, exc.hint))
    assert outcomes[0] == outcomes[1]
    return outcomes[0]


# -- text -------------------------------------------------------------------------------------------------


def test_text_fields_nulls_and_line_numbers():
    assert read_both_ways(b"1\tx\n2\t\\N\n") == [(1, ["1", "x"]), (2, ["2", None])]


def test_text_escapes():
    data = b"\\x41\\101\\n\\\\z\\t\\b\\f\\v\\r\tq\\\tr\n"
    assert read_both_ways(data) == [(1, ["AA\n\\z\t\b\f\v\r", "q\tr"])]


def test_text_escaped_newline_is_data_and_last_line_needs_no_newline():
    assert read_both_ways(b"ab\\\ncd\tx\n1\t2") == [(1, ["ab\ncd", "x"]), (2, ["1", "2"])]


def test_text_end_of_data_marker_ends_and_keeps_data_before_it():
    assert read_both_ways(b"1\t2\n\\.\n3\t4\n") == [(1, ["1", "2"])]
    assert read_both_ways(b"5\tq\\.\n6\tw\n") == [(1, ["5", "q"])]  # \. after data on its line


def test_text_end_of_data_marker_errors():
    assert error(b"7\tq\n\\.") == ("22P04", "end-of-copy marker corrupt", "line 2", None)
    assert error(b"8\tq\n\\.x\n") == ("22P04", "end-of-copy marker corrupt", "line 2", None)
    assert error(b"1\t2\r\n\\.\n")[:3] == (
        "22P04", "end-of-copy marker does not match previous newline style", "line 2",
    )


def test_text_newline_styles():
    assert read_both_ways(b"1\t2\r\n3\t4\r\n") == [(1, ["1", "2"]), (2, ["3", "4"])]
    assert read_both_ways(b"1\t2\r3\t4\r") == [(1, ["1", "2"]), (2, ["3", "4"])]
    assert error(b"1\t2\r\n3\t4\n") == ("22P04", "literal newline found in data", "line 2",
                                         'Use "\\n" to represent newline.')
    assert error(b"1\t2\n3\t4\r\n") == ("22P04", "literal carriage return found in data", "line 2",
                                         'Use "\\r" to represent carriage return.')


def test_text_field_count_errors():
    assert error(b"1\t2\t3\n") == ("22P04", "extra data after last expected column", 'line 1: "1\t2\t3"', None)
    # Too few fields parse; the loader reports the first missing column after decoding the others.
    assert read_both_ways(b"1\n") == [(1, ["1"])]


def test_text_invalid_utf8():
    assert error(b"1\t\xff\n") == ("22021", 'invalid byte sequence for encoding "UTF8": 0xff', "line 1", None)
    assert error(b"1\t\\xff\n")[:2] == ("22021", 'invalid byte sequence for encoding "UTF8": 0xff')
    assert error(b"1\t\\000\n")[:2] == ("22021", 'invalid byte sequence for encoding "UTF8": 0x00')


def test_text_custom_delimiter_null_default_and_header():
    data = b"a|b\n1|NULL\n\\|x|DEF\n"
    assert read_both_ways(data, 2, "(DELIMITER '|', NULL 'NULL', DEFAULT 'DEF', HEADER)") == [
        (2, ["1", None]), (3, ["|x", DEFAULT]),
    ]


def test_long_line_context_is_clipped_like_postgres():
    line = b"x" * 150 + b"\ty\tz\n"
    state, message, context, _ = error(line)
    assert (state, message) == ("22P04", "extra data after last expected column")
    assert context == 'line 1: "' + "x" * 100 + '..."'


# -- CSV --------------------------------------------------------------------------------------------------


def test_csv_quotes_nulls_and_header():
    data = b'a,b\n12,"x,y"\n13,\n14,""\n15,"a""b"\n'
    assert read_both_ways(data, 2, "(FORMAT csv, HEADER)") == [
        (2, ["12", "x,y"]), (3, ["13", None]), (4, ["14", ""]), (5, ["15", 'a"b']),
    ]


def test_csv_quoted_newlines_and_partial_quotes():
    assert read_both_ways(b'1,"a\nb"\n2,a"b,c"d\n', 2, "(FORMAT csv)") == [(1, ["1", "a\nb"]), (2, ["2", "ab,cd"])]


def test_csv_escape_other_than_quote():
    assert read_both_ways(b'1,"a\\"b\\\\"\n', 2, "(FORMAT csv, ESCAPE '\\')") == [(1, ["1", 'a"b\\'])]


def test_csv_end_marker_only_alone_on_a_line():
    assert read_both_ways(b'"\\.",x\n\\.\n3,4\n', 2, "(FORMAT csv)") == [(1, ["\\.", "x"])]


def test_csv_force_null_and_force_not_null():
    data = b'1,"",\n'
    opts = "(FORMAT csv, FORCE_NULL (c1), FORCE_NOT_NULL (c2))"
    assert read_both_ways(data, 3, opts) == [(1, ["1", None, ""])]


def test_csv_errors():
    assert error(b'16,"unterminated\n', 2, "(FORMAT csv)") == (
        "22P04", "unterminated CSV quoted field", 'line 1: "16,"unterminated\n"', None,
    )
    assert error(b"a,c\n1,2\n", 2, "(FORMAT csv, HEADER match)")[:2] == (
        "22P04", 'column name mismatch in header line field 1: got "a", expected "c0"',
    )
    assert error(b"c0\n", 2, "(FORMAT csv, HEADER match)")[:2] == (
        "22P04", "wrong number of fields in header line: got 1, expected 2",
    )


# -- binary -----------------------------------------------------------------------------------------------


def binary(*rows: list[bytes | None], trailer: bool = True) -> bytes:
    return binary_header() + b"".join(binary_row(list(r)) for r in rows) + (b"\xff\xff" if trailer else b"")


def test_binary_rows_with_and_without_trailer():
    data = binary([b"\x00\x00\x00\x01", None], [b"\x00\x00\x00\x02", b"x"])
    assert read_both_ways(data, 2, "(FORMAT binary)") == [(1, [b"\x00\x00\x00\x01", None]), (2, [b"\x00\x00\x00\x02", b"x"])]
    assert read(binary([b"a", b"b"], trailer=False), 2, "(FORMAT binary)") == [(1, [b"a", b"b"])]


def test_binary_header_extension_is_skipped():
    data = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 3) + b"abc" + binary_row([b"1", b"2"]) + b"\xff\xff"
    assert read_both_ways(data, 2, "(FORMAT binary)") == [(1, [b"1", b"2"])]


@pytest.mark.parametrize(("data", "message"), [
    (b"garbage", "COPY file signature not recognized"),
    (b"PGCOPY\n\xff\r\n\x00", "invalid COPY file header (missing flags)"),
    (b"PGCOPY\n\xff\r\n\x00" + struct.pack("!i", 1 << 16), "invalid COPY file header (WITH OIDS)"),
    (b"PGCOPY\n\xff\r\n\x00" + struct.pack("!i", 1 << 17), "unrecognized critical flags in COPY file header"),
    (b"PGCOPY\n\xff\r\n\x00" + struct.pack("!i", 0), "invalid COPY file header (missing length)"),
    (binary([b"1"]), "row field count is 1, expected 2"),
    (binary_header() + struct.pack("!hi", 2, 5) + b"ab", "unexpected EOF in COPY data"),
    (binary_header() + struct.pack("!hi", 2, -2), "invalid field size"),
    (binary([b"1", b"2"]) + b"x", "received copy data after EOF marker"),
])
def test_binary_errors(data, message):
    state, got, _, _ = error(data, 2, "(FORMAT binary)")
    assert (state, got) == ("22P04", message)


# -- options ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sql_options", "is_from", "expected"), [
    ("(FORMAT bogus)", True, ("22023", 'COPY format "bogus" not recognized')),
    ("(FORMAT csv, FORMAT text)", True, ("42601", "conflicting or redundant options")),
    ("(on_error ignore)", True, ("42601", 'option "on_error" not recognized')),
    ("(DELIMITER '||')", True, ("0A000", "COPY delimiter must be a single one-byte character")),
    ("(DELIMITER 'a')", True, ("22023", 'COPY delimiter cannot be "a"')),
    ("(FORMAT binary, DELIMITER ',')", True, ("42601", "cannot specify DELIMITER in BINARY mode")),
    ("(FORMAT binary, HEADER)", True, ("0A000", "cannot specify HEADER in BINARY mode")),
    ("(QUOTE '''')", True, ("0A000", "COPY quote available only in CSV mode")),
    ("(FORMAT csv, DELIMITER '\"')", True, ("22023", "COPY delimiter and quote must be different")),
    ("(FORMAT csv, FORCE_QUOTE *)", True, ("0A000", "COPY force quote only available using COPY TO")),
    ("(FORMAT csv, FORCE_NULL (a))", False, ("0A000", "COPY force null only available using COPY FROM")),
    ("(HEADER match)", False, ("0A000", 'cannot use "match" with HEADER in COPY TO')),
    ("(NULL 'a\tb')", True, ("0A000", "COPY delimiter must not appear in the NULL specification")),
    ("(HEADER 'maybe')", True, ("22023", 'header requires a Boolean value or "match"')),
])
def test_option_errors(sql_options, is_from, expected):
    with pytest.raises(SqlError) as info:
        options(sql_options, is_from=is_from)
    assert (info.value.sqlstate, info.value.message) == expected


def test_old_style_options_and_freeze():
    opts = options("WITH CSV HEADER DELIMITER ';' NULL 'n'")
    assert (opts.format, opts.header, opts.delimiter, opts.null, opts.quote, opts.escape) == ("csv", True, ";", "n", '"', '"')
    assert options("WITH (FREEZE on)").freeze


# -- writing ----------------------------------------------------------------------------------------------


def test_text_row_encoding():
    encode = row_encoder(options(is_from=False), ["a", "b"])
    assert encode([b'tab\there\nnl\\bs\x01\x0b', None]) == b"tab\\there\\nnl\\\\bs\x01\\v\t\\N\n"
    encode = row_encoder(options("(DELIMITER '|', NULL 'NUL')", is_from=False), ["a", "b"])
    assert encode([b"a|b", None]) == b"a\\|b|NUL\n"


def test_csv_row_encoding_and_header():
    opts = options("(FORMAT csv, HEADER)", is_from=False)
    encode = row_encoder(opts, ["a", "b"])
    assert encode([b'say "hi", now', b""]) == b'"say ""hi"", now",""\n'
    assert encode([None, b"\r"]) == b',"\r"\n'
    assert header_line(opts, ["a", "b c"]) == b"a,b c\n"
    single = row_encoder(options("(FORMAT csv)", is_from=False), ["a"])
    assert single([b"\\."]) == b'"\\."\n'  # would otherwise read back as the end of the data
    forced = row_encoder(options("(FORMAT csv, FORCE_QUOTE (b), ESCAPE '\\')", is_from=False), ["a", "b"])
    assert forced([b"x", b'y\\"']) == b'x,"y\\\\\\""\n'


def test_binary_encoding():
    assert binary_header() == b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
    assert binary_row([b"\x00\x01", None]) == struct.pack("!hi", 2, 2) + b"\x00\x01" + struct.pack("!i", -1)
