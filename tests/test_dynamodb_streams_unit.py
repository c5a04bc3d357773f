"""The pure parts of DynamoDB Streams: sequence numbers, record keys, shards and iterators (no server)."""

from __future__ import annotations

import random

import pytest

from kv.dynamodb import streams
from kv.dynamodb.errors import DynamoError
from kv.dynamodb.streams_api import Stream, decode_iterator, encode_iterator

STREAM_ID = bytes(range(16))


def test_sequence_numbers_order_as_keys_and_round_trip():
    rng = random.Random(7)
    base = 1_796_500_000_000_000_000
    positions = [
        (
            base + rng.randrange(10**12),
            rng.randrange(streams.TIE_MAX + 1),
            rng.randrange(streams.INDEX_MAX + 1),
        )
        for _ in range(500)
    ] + [(base, 0, 0), (base, streams.TIE_MAX, streams.INDEX_MAX), (base + 1, 0, 0)]
    for position in positions:
        seq = streams.sequence(position)
        assert streams.position(seq) == position
        assert len(str(seq)) == 39  # DynamoDB's are 21 to 40 digits
        assert streams.valid_sequence(seq)
        assert streams.position_of(streams.record_key(STREAM_ID, position)) == position
    by_key = sorted(positions, key=lambda p: streams.record_key(STREAM_ID, p))
    assert by_key == sorted(positions, key=streams.sequence)


def test_key_after_skips_exactly_what_was_read():
    tau = 1_796_500_000_000_000_000
    read = (tau, 12345, 7)
    later = [(tau, 12345, 8), (tau, 12346, 0), (tau + 1, 0, 0)]
    start = streams.key_after(STREAM_ID, streams.sequence(read))
    assert streams.record_key(STREAM_ID, read) < start
    assert all(start <= streams.record_key(STREAM_ID, p) for p in later)
    # Just below a shard's first number (no record can have it): the next τ's first key.
    before_shard = streams.first_sequence_at(tau) - 1
    assert streams.key_after(STREAM_ID, before_shard) == streams.key_at_tau(STREAM_ID, tau)
    assert not streams.valid_sequence(before_shard)


def test_no_record_for_a_change_that_changes_nothing():
    class Table:
        key_names = ("pk",)

    item = {"pk": {"S": "a"}, "v": {"N": "1"}}
    assert streams.make_record(Table, "NEW_AND_OLD_IMAGES", item, dict(item)) is None
    assert streams.make_record(Table, "KEYS_ONLY", None, None) is None
    assert streams.make_record(Table, "KEYS_ONLY", None, item)["e"] == "INSERT"
    assert streams.make_record(Table, "KEYS_ONLY", item, None)["e"] == "REMOVE"
    modified = streams.make_record(Table, "OLD_IMAGE", item, {**item, "v": {"N": "2"}})
    assert modified["e"] == "MODIFY" and modified["o"] == item and "n" not in modified
    assert streams.make_record(Table, "KEYS_ONLY", item, None, by_service=True)["svc"] is True


def stream(disabled_ns: int | None = None) -> Stream:
    return Stream(
        arn="arn:aws:dynamodb:us-east-1:000000000000:table/T/stream/2026-12-05T00:00:00.000",
        stream_id=STREAM_ID,
        label="2026-12-05T00:00:00.000",
        table="T",
        view="KEYS_ONLY",
        key_schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        created_ns=1_000_000_000_000,
        shard_ns=4_000_000_000,
        disabled_ns=disabled_ns,
    )


def test_shards_open_close_and_name_their_parents():
    s = stream()
    now = s.created_ns + 3 * s.shard_ns + 1
    assert list(s.shard_range(now, retention_ns=10**15)) == [0, 1, 2, 3]
    shards = [s.describe_shard(k, now) for k in range(4)]
    assert [("EndingSequenceNumber" in x["SequenceNumberRange"]) for x in shards] == [True, True, True, False]
    assert "ParentShardId" not in shards[0]
    assert [x["ParentShardId"] for x in shards[1:]] == [x["ShardId"] for x in shards[:3]]
    assert all(s.shard_number(x["ShardId"]) == k for k, x in enumerate(shards))
    assert s.shard_number(shards[1]["ShardId"][:-1] + "z") is None
    # Retention drops shards whose every record is past it.
    assert list(s.shard_range(now, retention_ns=s.shard_ns + 2)) == [1, 2, 3]
    assert list(s.shard_range(now, retention_ns=s.shard_ns - 2)) == [2, 3]
    # Disabling closes the last shard at that moment; no shard opens after it.
    d = stream(disabled_ns=s.created_ns + s.shard_ns + 5)
    assert list(d.shard_range(now, retention_ns=10**15)) == [0, 1]
    assert d.shard_end(1) == d.disabled_ns
    assert d.expired(d.disabled_ns + 10, retention_ns=10) and not d.expired(
        d.disabled_ns + 9, retention_ns=10
    )


def test_iterators_round_trip_and_reject_tampering():
    arn = stream().arn
    iterator = encode_iterator(arn, 3, streams.sequence((1_796_500_000_000_000_000, 5, 6)), 42)
    assert decode_iterator(iterator) == (arn, 3, streams.sequence((1_796_500_000_000_000_000, 5, 6)), 42)
    other_arn = arn.replace("table/T", "table/U")
    for bad in (
        "",
        "x|1|y",
        iterator.replace(arn, other_arn),
        iterator[:-2] + "AA",
        iterator.replace("|1|", "|2|"),
    ):
        with pytest.raises(DynamoError) as info:
            decode_iterator(bad)
        assert info.value.type_name == "ValidationException"
