"""The commit record a transaction sends (journal/interface.py) with its rows encoded once.

A row is encoded when the writer measures it (the 54000 row-size limit and the
transaction's byte count); the write buffer keeps that encoding beside the row
and `encode_commit` splices it into the record instead of encoding the row a
second time (issue 14, item 3). The record must be byte for byte what
`CommitRecord.encode` makes, and the buffer must never keep an encoding of a
value it no longer holds (a later put, ROLLBACK TO SAVEPOINT).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.names import unique_name

from cluster import codec
from journal.interface import CommitRecord, decode_encoded, encode_commit
from qp.txn.transaction import WriteBuffer

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False), st.text(max_size=40),
    st.binary(max_size=40), st.decimals(allow_nan=False, allow_infinity=False, places=3),
)
_values = st.one_of(st.none(), st.tuples(_scalars), st.lists(_scalars, max_size=6).map(tuple), _scalars)
_keys = st.one_of(st.binary(min_size=0, max_size=20), st.binary(min_size=250, max_size=300))


@settings(max_examples=300, deadline=None)
@given(
    writes=st.dictionaries(_keys, _values, max_size=40),
    spliced=st.data(),
    catalog_version=st.one_of(st.none(), st.integers(0, 2**40)),
    dropped=st.lists(st.tuples(st.binary(max_size=8), st.binary(max_size=8)), max_size=3),
)
def test_spliced_encodings_make_the_record_commit_record_makes(writes, spliced, catalog_version, dropped) -> None:
    pairs = list(writes.items())
    chosen = spliced.draw(st.sets(st.sampled_from([k for k, _ in pairs])) if pairs else st.just(set()))
    encoded = {k: codec.encode(writes[k]) for k in chosen}
    expected = CommitRecord(pairs, catalog_version, dropped).encode()
    assert encode_commit(pairs, encoded, catalog_version, dropped) == expected
    record = decode_encoded(expected)
    assert [(k, codec.decode(bytes(v))) for k, v in record.w] == [(k, codec.decode(codec.encode(v))) for k, v in pairs]


@pytest.mark.parametrize("count, key_size", [(15, 10), (16, 255), (65535, 256), (65536, 70_000)])
def test_array_and_key_lengths_at_msgpacks_boundaries(count, key_size) -> None:
    long_key = b"k" * key_size
    pairs = [(long_key, ("long", decimal.Decimal("1.5")))] + [(i.to_bytes(4, "big"), (i,)) for i in range(count - 1)]
    encoded = {k: codec.encode(v) for k, v in pairs[::2]}
    assert encode_commit(pairs, encoded) == CommitRecord(pairs).encode()


def test_the_buffer_keeps_an_encoding_only_of_the_value_it_holds() -> None:
    buffer = WriteBuffer()
    buffer.put(b"a", (1,), codec.encode((1,)))
    buffer.put(b"b", (2,), codec.encode((2,)))
    buffer.put(b"b", (3,))  # a put without an encoding: the old one is not this value's
    assert buffer.encoded == {b"a": codec.encode((1,))}
    buffer.undo = []
    mark = len(buffer.undo)
    buffer.put(b"a", (4,), codec.encode((4,)))
    buffer.put(b"c", (5,), codec.encode((5,)))
    buffer.undo_to(mark)
    assert buffer.values == {b"a": (1,), b"b": (3,)}
    assert buffer.encoded == {}  # the undone encodings went, and (1,) is encoded afresh at commit
    assert encode_commit(list(buffer.values.items()), buffer.encoded) == CommitRecord(list(buffer.values.items())).encode()


@pytest.fixture
def conn(dsql_server) -> Iterator[psycopg.Connection]:
    with psycopg.connect(dsql_server.dsn, autocommit=True) as connection:
        yield connection


def test_rows_written_undone_and_rewritten_in_one_transaction_commit_as_last_written(conn) -> None:
    table = unique_name("rec")
    conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text, n numeric)")
    try:
        with conn.transaction():
            conn.execute(f"INSERT INTO {table} VALUES (1, 'one', 1.5), (2, 'two', 2.5), (3, 'three', 3.5)")
            conn.execute(f"UPDATE {table} SET v = 'uno' WHERE id = 1")
            conn.execute("SAVEPOINT s")
            conn.execute(f"UPDATE {table} SET v = 'dos', n = n * 10 WHERE id = 2")
            conn.execute(f"DELETE FROM {table} WHERE id = 3")
            conn.execute(f"INSERT INTO {table} VALUES (4, 'four', 4.5)")
            with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                copy.write_row((5, "five", "5.5"))
            conn.execute("ROLLBACK TO SAVEPOINT s")
            conn.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 3")
            with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                copy.write_row((6, "six", "6.5"))
            conn.execute(f"UPDATE {table} SET v = 'seis' WHERE id = 6")
        rows = conn.execute(f"SELECT id, v, n FROM {table} ORDER BY id").fetchall()
        assert rows == [(1, "uno", decimal.Decimal("1.5")), (2, "two", decimal.Decimal("2.5")),
                        (3, "three", decimal.Decimal("4.5")), (6, "seis", decimal.Decimal("6.5"))]  # fmt: skip
    finally:
        conn.execute(f"DROP TABLE {table}")
