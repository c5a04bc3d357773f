"""DynamoDB Streams with boto3 (`dynamodbstreams` client), over real HTTP against `dsql serve`.

The expected behaviour is DynamoDB's, from the Streams API reference and the
Developer Guide (developerguide/Streams.html, HowItWorks on shards and
retention); moto implements little of it (no shard lineage, no retention,
no iterator expiry), so these tests cite the documentation instead. Records
are visible to GetRecords as soon as the write is acknowledged (a strong
read), so the tests read them at once, without polling.

The shard and retention tests shorten both for new streams through
`--dynamodb-test-hooks` (`/_dsql/test/streams/config`) and put them back.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from dynamodb_support import CREDENTIALS, client, create_table, error_code, eventually, start_dsql

from bench.servers import free_port, port_answers_http
from kv.dynamodb.streams_api import encode_iterator

pytest_plugins = ["dynamodb_servers"]

VIEWS = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")


def streams_client(url: str):
    # No client-side checks, so the server's answers to bad input are what the error tests see.
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        read_timeout=30,
        connect_timeout=5,
        parameter_validation=False,
    )
    return boto3.client("dynamodbstreams", endpoint_url=url, config=config, **CREDENTIALS)


@pytest.fixture
def ddbs(ddb_server):
    return streams_client(ddb_server.dynamodb_url)


def expect_error(code: str, call, *args, message: str | None = None, **kwargs):
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    assert error_code(info.value) == code, info.value.response
    if message is not None:
        assert message in info.value.response["Error"]["Message"], info.value.response["Error"]["Message"]
    return info.value


def stream_table(ddb, name: str, view: str = "NEW_AND_OLD_IMAGES", **kwargs: Any) -> str:
    """A table (pk S, sk N) with a stream; returns the stream ARN."""
    created = create_table(
        ddb,
        name,
        range_key=("sk", "N"),
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
        **kwargs,
    )
    return created["TableDescription"]["LatestStreamArn"]


def hook(server, path: str) -> dict[str, Any]:
    request = urllib.request.Request(
        server.dynamodb_url + "/_dsql/test/streams/" + path, method="POST", data=b""
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def stream_settings(server, **settings: float) -> Iterator[None]:
    """Shorter shards or retention for streams created inside the block (the settings before, after)."""
    before = hook(server, "config")
    hook(server, "config?" + "&".join(f"{k}={v}" for k, v in settings.items()))
    try:
        yield
    finally:
        hook(
            server,
            f"config?shard_seconds={before['shard_ns'] / 1e9}&retention_seconds={before['retention_ns'] / 1e9}",
        )


def shards(ddbs, arn: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    start = None
    while True:
        kwargs = {"StreamArn": arn, "Limit": 100}
        if start:
            kwargs["ExclusiveStartShardId"] = start
        description = ddbs.describe_stream(**kwargs)["StreamDescription"]
        out += description["Shards"]
        start = description.get("LastEvaluatedShardId")
        if not start:
            return out


def read_shard(ddbs, iterator: str, limit: int | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Every record from `iterator` up to now (or the shard's end); returns (records, next iterator)."""
    records: list[dict[str, Any]] = []
    while iterator:
        page = ddbs.get_records(ShardIterator=iterator, **({"Limit": limit} if limit else {}))
        records += page["Records"]
        iterator = page.get("NextShardIterator")
        if not page["Records"]:
            break
    return records, iterator


def read_stream(ddbs, arn: str) -> list[dict[str, Any]]:
    """Every record of the stream, shard after shard (a closed shard read to its end, then its child)."""
    records: list[dict[str, Any]] = []
    for shard in shards(ddbs, arn):
        it = ddbs.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )
        got, _ = read_shard(ddbs, it["ShardIterator"])
        records += got
    return records


def seq(record: dict[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


def item(pk: str, sk: int, **attrs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"pk": {"S": pk}, "sk": {"N": str(sk)}}
    for name, value in attrs.items():
        out[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    return out


# -- the table side: StreamSpecification, LatestStreamArn ------------------------------------------------------


def test_create_table_with_stream_describes_it(ddb, ddbs, ddb_table_name):
    arn = stream_table(ddb, ddb_table_name, "NEW_IMAGE")
    table = ddb.describe_table(TableName=ddb_table_name)["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert table["LatestStreamArn"] == arn == f"{table['TableArn']}/stream/{table['LatestStreamLabel']}"
    description = ddbs.describe_stream(StreamArn=arn)["StreamDescription"]
    assert description["StreamStatus"] == "ENABLED"
    assert description["StreamViewType"] == "NEW_IMAGE"
    assert description["TableName"] == ddb_table_name
    assert description["StreamLabel"] == table["LatestStreamLabel"]
    assert description["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    (shard,) = description["Shards"]
    assert "ParentShardId" not in shard
    assert "EndingSequenceNumber" not in shard["SequenceNumberRange"]  # open
    assert 28 <= len(shard["ShardId"]) <= 65


def test_table_without_stream_has_none(ddb, ddbs, ddb_table_name):
    create_table(ddb, ddb_table_name)
    table = ddb.describe_table(TableName=ddb_table_name)["Table"]
    assert "LatestStreamArn" not in table and "StreamSpecification" not in table
    assert ddbs.list_streams(TableName=ddb_table_name)["Streams"] == []
    ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "a"}, "sk": {"S": "b"}})


def test_disable_and_reenable_gives_a_new_stream(ddb, ddbs, ddb_table_name):
    first = stream_table(ddb, ddb_table_name, "KEYS_ONLY")
    ddb.put_item(TableName=ddb_table_name, Item=item("a", 1))
    # Changing the view type needs a disable first (DynamoDB: ValidationException).
    expect_error(
        "ValidationException",
        ddb.update_table,
        TableName=ddb_table_name,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    before_disable = read_stream(ddbs, first)
    ddb.update_table(TableName=ddb_table_name, StreamSpecification={"StreamEnabled": False})
    # The stream ends at the disabling commit: what a reader saw before is still there, inside the last shard.
    assert read_stream(ddbs, first) == before_disable
    (closed,) = ddbs.describe_stream(StreamArn=first)["StreamDescription"]["Shards"]
    assert all(seq(r) <= int(closed["SequenceNumberRange"]["EndingSequenceNumber"]) for r in before_disable)
    table = ddb.describe_table(TableName=ddb_table_name)["Table"]
    assert "StreamSpecification" not in table
    assert table["LatestStreamArn"] == first  # the latest stream, now disabled, is still readable
    expect_error(
        "ValidationException",
        ddb.update_table,
        TableName=ddb_table_name,
        StreamSpecification={"StreamEnabled": False},
    )
    ddb.put_item(TableName=ddb_table_name, Item=item("b", 2))  # not in any stream
    time.sleep(0.01)  # labels are milliseconds: make sure the new one differs even on a fast machine
    second = ddb.update_table(
        TableName=ddb_table_name, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    )["TableDescription"]["LatestStreamArn"]
    assert second != first and second.rsplit("/", 1)[1] > first.rsplit("/", 1)[1]
    ddb.put_item(TableName=ddb_table_name, Item=item("c", 3))

    old = ddbs.describe_stream(StreamArn=first)["StreamDescription"]
    assert old["StreamStatus"] == "DISABLED"
    assert all("EndingSequenceNumber" in s["SequenceNumberRange"] for s in old["Shards"])  # closed
    # ENABLING until every process knows of the stream (DynamoDB, too, shows ENABLING for a while).
    assert ddbs.describe_stream(StreamArn=second)["StreamDescription"]["StreamStatus"] in (
        "ENABLING",
        "ENABLED",
    )
    status = eventually(
        lambda: ddbs.describe_stream(StreamArn=second)["StreamDescription"]["StreamStatus"],
        lambda got: got == "ENABLED",
    )
    assert status == "ENABLED"
    listed = ddbs.list_streams(TableName=ddb_table_name)["Streams"]
    assert [s["StreamArn"] for s in listed] == [first, second]
    assert all(s["TableName"] == ddb_table_name for s in listed)

    old_records = read_stream(ddbs, first)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in old_records] == [("INSERT", "a")]
    assert "NewImage" not in old_records[0]["dynamodb"]  # KEYS_ONLY
    new_records = read_stream(ddbs, second)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in new_records] == [("INSERT", "c")]
    assert new_records[0]["dynamodb"]["NewImage"] == item("c", 3)
    # The closed shard of the disabled stream, read to its end, has no next iterator.
    (shard,) = ddbs.describe_stream(StreamArn=first)["StreamDescription"]["Shards"]
    it = ddbs.get_shard_iterator(StreamArn=first, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    page = ddbs.get_records(ShardIterator=it["ShardIterator"])
    assert len(page["Records"]) == 1 and "NextShardIterator" not in page


def test_delete_table_disables_its_stream(ddb, ddbs, ddb_table_name):
    arn = stream_table(ddb, ddb_table_name)
    ddb.put_item(TableName=ddb_table_name, Item=item("a", 1))
    ddb.delete_table(TableName=ddb_table_name)
    description = ddbs.describe_stream(StreamArn=arn)["StreamDescription"]
    assert description["StreamStatus"] == "DISABLED"
    # Still readable for 24 hours after the table is gone.
    assert [r["eventName"] for r in read_stream(ddbs, arn)] == ["INSERT"]


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"StreamEnabled": True}, "StreamViewType is required"),
        ({"StreamEnabled": True, "StreamViewType": "ALL"}, "streamSpecification.streamViewType"),
        (
            {"StreamEnabled": False, "StreamViewType": "NEW_IMAGE"},
            "cannot be specified when StreamEnabled is false",
        ),
    ],
)
def test_bad_stream_specification(ddb, ddb_table_name, spec, message):
    expect_error("ValidationException", stream_table_raw, ddb, ddb_table_name, spec, message=message)
    expect_error("ResourceNotFoundException", ddb.describe_table, TableName=ddb_table_name)  # nothing created


def stream_table_raw(ddb, name: str, spec: dict[str, Any]) -> Any:
    return create_table(ddb, name, StreamSpecification=spec)


# -- records -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("view", VIEWS)
def test_record_shapes(ddb, ddbs, ddb_table_name, view):
    arn = stream_table(ddb, ddb_table_name, view)
    t = ddb_table_name
    ddb.put_item(TableName=t, Item=item("a", 1, v=1))
    ddb.put_item(TableName=t, Item=item("a", 1, v=1))  # identical: changes nothing, so no record
    ddb.update_item(
        TableName=t,
        Key=item("a", 1),
        UpdateExpression="SET v = v + :d",
        ExpressionAttributeValues={":d": {"N": "1"}},
    )
    ddb.update_item(
        TableName=t,
        Key=item("a", 1),
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )  # no-op
    ddb.delete_item(TableName=t, Key=item("a", 1))
    ddb.delete_item(TableName=t, Key=item("zz", 9))  # nothing to delete: no record
    records = read_stream(ddbs, arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    numbers = [seq(r) for r in records]
    assert numbers == sorted(set(numbers))
    for r in records:
        assert (
            r["eventVersion"] == "1.1"
            and r["eventSource"] == "aws:dynamodb"
            and r["awsRegion"] == "us-east-1"
        )
        assert len(r["eventID"]) >= 1 and "userIdentity" not in r
        body = r["dynamodb"]
        assert 21 <= len(body["SequenceNumber"]) <= 40 and body["SequenceNumber"].isdigit()
        assert body["Keys"] == item("a", 1) and body["StreamViewType"] == view and body["SizeBytes"] >= 1
        assert abs(body["ApproximateCreationDateTime"].timestamp() - time.time()) < 600
    assert len({r["eventID"] for r in records}) == 3
    new = [r["dynamodb"].get("NewImage") for r in records]
    old = [r["dynamodb"].get("OldImage") for r in records]
    wants_new = view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
    wants_old = view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")
    assert new == ([item("a", 1, v=1), item("a", 1, v=2), None] if wants_new else [None] * 3)
    assert old == ([None, item("a", 1, v=1), item("a", 1, v=2)] if wants_old else [None] * 3)


def test_batch_and_transaction_records(ddb, ddbs, ddb_names):
    t1, t2 = ddb_names("one"), ddb_names("two")
    arn1, arn2 = stream_table(ddb, t1), stream_table(ddb, t2, "KEYS_ONLY")
    ddb.put_item(TableName=t1, Item=item("x", 0, v=0))
    ddb.put_item(TableName=t2, Item=item("y", 0))
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": t1, "Item": item("a", 1)}},
            {"Update": {"TableName": t1, "Key": item("x", 0), "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"N": "5"}}}},
            {"Put": {"TableName": t2, "Item": item("b", 2)}},
            {"Put": {"TableName": t1, "Item": item("c", 3)}},
            {"ConditionCheck": {"TableName": t2, "Key": item("y", 0), "ConditionExpression": "attribute_exists(pk)"}},
        ]
    )  # fmt: skip
    ddb.batch_write_item(
        RequestItems={
            t1: [{"DeleteRequest": {"Key": item("a", 1)}}, {"PutRequest": {"Item": item("d", 4)}}],
            t2: [{"PutRequest": {"Item": item("e", 5)}}],
        }
    )
    one = read_stream(ddbs, arn1)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in one] == [
        ("INSERT", "x"), ("INSERT", "a"), ("MODIFY", "x"), ("INSERT", "c"), ("REMOVE", "a"), ("INSERT", "d"),
    ]  # fmt: skip
    # One transaction: the same commit, so the same commit time in the sequence number, in request order.
    txn = [seq(r) for r in one[1:4]]
    assert txn == sorted(txn) and len({n // 10**18 for n in txn}) == 1
    assert one[0]["dynamodb"]["Keys"] == item("x", 0)
    two = read_stream(ddbs, arn2)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in two] == [
        ("INSERT", "y"),
        ("INSERT", "b"),
        ("INSERT", "e"),
    ]
    assert seq(two[1]) // 10**18 == txn[0] // 10**18  # the same commit as t1's part of the transaction
    # A cancelled transaction writes no record.
    with pytest.raises(ClientError):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": t1, "Item": item("f", 6)}},
                {"ConditionCheck": {"TableName": t1, "Key": item("nope", 0), "ConditionExpression": "attribute_exists(pk)"}},
            ]
        )  # fmt: skip
    with pytest.raises(ClientError):
        ddb.put_item(TableName=t1, Item=item("x", 0), ConditionExpression="attribute_not_exists(pk)")
    assert len(read_stream(ddbs, arn1)) == len(one)


def test_partiql_writes_have_records(ddb, ddbs, ddb_table_name):
    arn = stream_table(ddb, ddb_table_name, "NEW_IMAGE")
    ddb.execute_statement(Statement=f"INSERT INTO \"{ddb_table_name}\" VALUE {{'pk': 'p', 'sk': 1, 'v': 1}}")
    ddb.execute_statement(Statement=f"UPDATE \"{ddb_table_name}\" SET v = 2 WHERE pk = 'p' AND sk = 1")
    ddb.execute_statement(Statement=f"DELETE FROM \"{ddb_table_name}\" WHERE pk = 'p' AND sk = 1")
    assert [r["eventName"] for r in read_stream(ddbs, arn)] == ["INSERT", "MODIFY", "REMOVE"]


def raw_records(server, ddbs, arn: str) -> list[dict[str, Any]]:
    """GetRecords' JSON as sent, every shard (the server does not check signatures unless told to)."""
    out: list[dict[str, Any]] = []
    for shard in shards(ddbs, arn):
        iterator = ddbs.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )
        request = urllib.request.Request(
            server.dynamodb_url,
            data=json.dumps({"ShardIterator": iterator["ShardIterator"]}).encode(),
            method="POST",
            headers={
                "X-Amz-Target": "DynamoDBStreams_20120810.GetRecords",
                "Content-Type": "application/x-amz-json-1.0",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            out += json.loads(response.read())["Records"]
    return out


def test_ttl_deletion_is_a_service_remove(ddb_server, ddb, ddbs, ddb_table_name):
    arn = stream_table(ddb, ddb_table_name, "OLD_IMAGE")
    ddb.update_time_to_live(
        TableName=ddb_table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
    )
    past = int(time.time()) - 60
    ddb.put_item(TableName=ddb_table_name, Item=item("ttl", 1, exp=past))
    ddb.put_item(TableName=ddb_table_name, Item=item("user", 2))
    ddb.delete_item(TableName=ddb_table_name, Key=item("user", 2))
    deadline = time.monotonic() + 30  # the TTL pass runs every second
    records: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        records = read_stream(ddbs, arn)
        if len(records) >= 4:
            break
        time.sleep(0.2)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records] in (
        [("INSERT", "ttl"), ("INSERT", "user"), ("REMOVE", "user"), ("REMOVE", "ttl")],
        [("INSERT", "ttl"), ("INSERT", "user"), ("REMOVE", "ttl"), ("REMOVE", "user")],
        [("INSERT", "ttl"), ("REMOVE", "ttl"), ("INSERT", "user"), ("REMOVE", "user")],
    )
    by_key = {(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]): r for r in records}
    # API_streams_Record and developerguide/time-to-live-ttl-streams.html: items deleted by TTL have
    # userIdentity {"type": "Service", "principalId": "dynamodb.amazonaws.com"}, camelCase on the wire
    # (botocore's model names the members PrincipalId/Type, so boto3 shows {}: read the raw JSON).
    assert by_key[("REMOVE", "ttl")]["userIdentity"] == {}
    raw = raw_records(ddb_server, ddbs, arn)
    by_key = {(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]): r for r in raw}
    assert by_key[("REMOVE", "ttl")]["userIdentity"] == {
        "type": "Service",
        "principalId": "dynamodb.amazonaws.com",
    }
    assert by_key[("REMOVE", "ttl")]["dynamodb"]["OldImage"] == item("ttl", 1, exp=past)
    assert "userIdentity" not in by_key[("REMOVE", "user")]


# -- ListStreams ----------------------------------------------------------------------------------------------


def test_list_streams_filter_and_paging(ddb, ddbs, ddb_names):
    names = [ddb_names(f"t{n}") for n in range(3)]
    arns = [stream_table(ddb, name) for name in names]
    mine = [s for s in ddbs.list_streams()["Streams"] if s["StreamArn"] in arns]
    assert sorted(s["StreamArn"] for s in mine) == sorted(arns)
    for name, arn in zip(names, arns, strict=True):
        assert ddbs.list_streams(TableName=name)["Streams"] == [
            {"StreamArn": arn, "TableName": name, "StreamLabel": arn.rsplit("/", 1)[1]}
        ]
    seen: list[str] = []
    start = None
    for _ in range(100):
        kwargs: dict[str, Any] = {"Limit": 1}
        if start:
            kwargs["ExclusiveStartStreamArn"] = start
        page = ddbs.list_streams(**kwargs)
        assert len(page["Streams"]) <= 1
        seen += [s["StreamArn"] for s in page["Streams"]]
        start = page.get("LastEvaluatedStreamArn")
        if not start:
            break
    assert set(arns) <= set(seen) and len(seen) == len(set(seen))
    assert ddbs.list_streams(TableName=ddb_names("missing"))["Streams"] == []


@pytest.mark.parametrize("limit", [0, 101])
def test_list_streams_limit(ddbs, limit):
    expect_error("ValidationException", ddbs.list_streams, Limit=limit)


# -- DescribeStream ---------------------------------------------------------------------------------------------


def test_describe_stream_errors(ddb, ddbs, ddb_table_name):
    arn = stream_table(ddb, ddb_table_name)
    expect_error(
        "ResourceNotFoundException",
        ddbs.describe_stream,
        StreamArn=arn[:-1] + ("0" if arn[-1] != "0" else "1"),
    )
    expect_error("ValidationException", ddbs.describe_stream, StreamArn="short")
    expect_error("ValidationException", ddbs.describe_stream, StreamArn=arn, Limit=0)
    expect_error("ValidationException", ddbs.describe_stream, StreamArn=arn, Limit=101)
    assert ddbs.describe_stream(StreamArn=arn)["StreamDescription"]["StreamArn"] == arn


@pytest.mark.slow
def test_shard_lineage(ddb_server, ddb, ddbs, ddb_table_name):
    """Shards close and children open (DynamoDB does so every few hours; here every second)."""
    with stream_settings(ddb_server, shard_seconds=1):
        arn = stream_table(ddb, ddb_table_name, "NEW_IMAGE")
    written = []
    for n in range(12):
        ddb.put_item(TableName=ddb_table_name, Item=item("k", n))
        written.append(n)
        time.sleep(0.3)
    listed = shards(ddbs, arn)
    assert len(listed) >= 3
    for parent, child in zip(listed, listed[1:], strict=False):
        assert child["ParentShardId"] == parent["ShardId"]
        start, end = (
            int(parent["SequenceNumberRange"][k]) for k in ("StartingSequenceNumber", "EndingSequenceNumber")
        )
        assert start < end < int(child["SequenceNumberRange"]["StartingSequenceNumber"])
    assert "ParentShardId" not in listed[0]
    # ShardFilter CHILD_SHARDS: the child of a closed shard; of the last one, none or (if it has
    # closed since, shards lasting a second here) the one child it has now.
    children = ddbs.describe_stream(
        StreamArn=arn, ShardFilter={"Type": "CHILD_SHARDS", "ShardId": listed[0]["ShardId"]}
    )
    assert [c["ShardId"] for c in children["StreamDescription"]["Shards"]] == [listed[1]["ShardId"]]
    open_shard = {"Type": "CHILD_SHARDS", "ShardId": listed[-1]["ShardId"]}
    later = ddbs.describe_stream(StreamArn=arn, ShardFilter=open_shard)["StreamDescription"]["Shards"]
    assert len(later) <= 1 and all(c["ParentShardId"] == listed[-1]["ShardId"] for c in later)
    # Paging through the shards, two at a time.
    paged: list[str] = []
    start_id = None
    while True:
        kwargs: dict[str, Any] = {"StreamArn": arn, "Limit": 2}
        if start_id:
            kwargs["ExclusiveStartShardId"] = start_id
        description = ddbs.describe_stream(**kwargs)["StreamDescription"]
        assert len(description["Shards"]) <= 2
        paged += [s["ShardId"] for s in description["Shards"]]
        start_id = description.get("LastEvaluatedShardId")
        if not start_id:
            break
    assert paged[: len(listed)] == [s["ShardId"] for s in listed]
    # Every record once, in order, each inside its shard's range; a closed shard ends without a next iterator.
    records = []
    for shard in listed:
        if "EndingSequenceNumber" not in shard["SequenceNumberRange"]:
            continue
        it = ddbs.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )
        got, next_iterator = read_shard(ddbs, it["ShardIterator"])
        assert next_iterator is None
        low = int(shard["SequenceNumberRange"]["StartingSequenceNumber"])
        high = int(shard["SequenceNumberRange"]["EndingSequenceNumber"])
        assert all(low <= seq(r) <= high for r in got)
        records += got
    closed = [s for s in listed if "EndingSequenceNumber" in s["SequenceNumberRange"]]
    assert len(closed) == len(listed) - 1  # only the last is open
    records += read_shard(ddbs, ddbs.get_shard_iterator(StreamArn=arn, ShardId=listed[-1]["ShardId"],
                                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"])[0]  # fmt: skip
    assert [int(r["dynamodb"]["Keys"]["sk"]["N"]) for r in records] == written
    assert [seq(r) for r in records] == sorted(seq(r) for r in records)


# -- GetShardIterator -------------------------------------------------------------------------------------------


def test_iterator_types(ddb, ddbs, ddb_table_name):
    arn = stream_table(ddb, ddb_table_name, "KEYS_ONLY")
    for n in range(5):
        ddb.put_item(TableName=ddb_table_name, Item=item("k", n))
        if n == 2:
            # A moment between the third and fourth writes (a second apart, should a client
            # send whole seconds): commit wait puts every acknowledged write before it.
            time.sleep(1.1)
            between = time.time()
    (shard,) = shards(ddbs, arn)
    shard_id = shard["ShardId"]

    def iterator(kind: str, number: str | None = None, at: float | None = None) -> str:
        kwargs: dict[str, Any] = {"SequenceNumber": number} if number else {}
        if at is not None:
            kwargs["Timestamp"] = at
        return ddbs.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType=kind, **kwargs)[
            "ShardIterator"
        ]

    everything, _ = read_shard(ddbs, iterator("TRIM_HORIZON"))
    assert [int(r["dynamodb"]["Keys"]["sk"]["N"]) for r in everything] == [0, 1, 2, 3, 4]
    third = everything[2]["dynamodb"]["SequenceNumber"]
    at, _ = read_shard(ddbs, iterator("AT_SEQUENCE_NUMBER", third))
    after, _ = read_shard(ddbs, iterator("AFTER_SEQUENCE_NUMBER", third))
    assert [seq(r) for r in at] == [seq(r) for r in everything[2:]]
    assert [seq(r) for r in after] == [seq(r) for r in everything[3:]]
    # AT_TIMESTAMP: the first record at or after the time (API_streams_GetShardIterator); before the
    # stream's first record it is TRIM_HORIZON; a time in the future is refused.
    at_time, _ = read_shard(ddbs, iterator("AT_TIMESTAMP", at=between))
    assert [int(r["dynamodb"]["Keys"]["sk"]["N"]) for r in at_time] == [3, 4]
    early, _ = read_shard(ddbs, iterator("AT_TIMESTAMP", at=between - 3600))
    assert [seq(r) for r in early] == [seq(r) for r in everything]
    expect_error("ValidationException", iterator, "AT_TIMESTAMP", at=time.time() + 3600)
    expect_error("ValidationException", iterator, "AT_TIMESTAMP")
    latest = iterator("LATEST")
    assert ddbs.get_records(ShardIterator=latest)["Records"] == []
    ddb.put_item(TableName=ddb_table_name, Item=item("k", 5))
    page = ddbs.get_records(ShardIterator=latest)
    assert [int(r["dynamodb"]["Keys"]["sk"]["N"]) for r in page["Records"]] == [5]
    # Limit pages through the records, each NextShardIterator going on where the last stopped.
    paged, _ = read_shard(ddbs, iterator("TRIM_HORIZON"), limit=2)
    assert [seq(r) for r in paged] == [seq(r) for r in everything] + [seq(page["Records"][0])]
    # An open shard always has a next iterator, even with nothing new.
    assert "NextShardIterator" in ddbs.get_records(ShardIterator=page["NextShardIterator"])


def test_get_shard_iterator_errors(ddb, ddbs, ddb_table_name):
    arn = stream_table(ddb, ddb_table_name)
    ddb.put_item(TableName=ddb_table_name, Item=item("k", 1))
    (shard,) = shards(ddbs, arn)
    shard_id = shard["ShardId"]
    number = read_stream(ddbs, arn)[0]["dynamodb"]["SequenceNumber"]
    call = ddbs.get_shard_iterator
    expect_error(
        "ValidationException", call, StreamArn=arn, ShardId=shard_id, ShardIteratorType="AT_SEQUENCE_NUMBER"
    )
    expect_error("ValidationException", call, StreamArn=arn, ShardId=shard_id, ShardIteratorType="SIDEWAYS")
    expect_error("ValidationException", call, StreamArn=arn, ShardId=shard_id,
                 ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber="12x45678901234567890123")  # fmt: skip
    # A sequence number of another shard (here: one before this shard began).
    expect_error("ValidationException", call, StreamArn=arn, ShardId=shard_id,
                 ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=str(int(shard["SequenceNumberRange"]["StartingSequenceNumber"]) - 1))  # fmt: skip
    wrong_shard = shard_id[:-1] + ("0" if shard_id[-1] != "0" else "1")
    expect_error(
        "ResourceNotFoundException", call, StreamArn=arn, ShardId=wrong_shard, ShardIteratorType="LATEST"
    )
    expect_error(
        "ResourceNotFoundException", call, StreamArn=arn + "x", ShardId=shard_id, ShardIteratorType="LATEST"
    )
    # The stream is untouched by all that.
    it = call(StreamArn=arn, ShardId=shard_id, ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=number)
    assert [
        r["dynamodb"]["SequenceNumber"]
        for r in ddbs.get_records(ShardIterator=it["ShardIterator"])["Records"]
    ] == [number]


# -- GetRecords -------------------------------------------------------------------------------------------------


def test_get_records_errors(ddb, ddbs, ddb_table_name):
    arn = stream_table(ddb, ddb_table_name)
    ddb.put_item(TableName=ddb_table_name, Item=item("k", 1))
    (shard,) = shards(ddbs, arn)
    good = ddbs.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    expect_error("ValidationException", ddbs.get_records, ShardIterator="garbage")
    expect_error("ValidationException", ddbs.get_records, ShardIterator=good[:-4] + "AAAA")  # checksum fails
    expect_error("ValidationException", ddbs.get_records, ShardIterator=good, Limit=0)
    expect_error("ValidationException", ddbs.get_records, ShardIterator=good, Limit=1001)
    # "A shard iterator expires 15 minutes after it is retrieved" (API_streams_GetShardIterator):
    # an iterator issued 16 minutes ago, in the server's own encoding.
    k_position = good  # a well-formed one for this shard, re-issued in the past below
    _, _, token = k_position.rsplit("|", 2)
    raw = base64.urlsafe_b64decode(token)
    k, after, _issued = struct.unpack(">I16sQ", raw[:28])
    stale = encode_iterator(arn, k, int.from_bytes(after, "big"), time.time_ns() - 16 * 60 * 10**9)
    expect_error("ExpiredIteratorException", ddbs.get_records, ShardIterator=stale)
    fresh = encode_iterator(arn, k, int.from_bytes(after, "big"), time.time_ns())
    assert len(ddbs.get_records(ShardIterator=fresh)["Records"]) == 1
    missing = encode_iterator(arn + "0", k, int.from_bytes(after, "big"), time.time_ns())
    expect_error("ResourceNotFoundException", ddbs.get_records, ShardIterator=missing)
    assert len(ddbs.get_records(ShardIterator=good)["Records"]) == 1


def test_streams_operations_only_on_their_target(ddb_server):
    """GetRecords is a Streams operation: under DynamoDB's own target prefix it is unknown."""
    request = urllib.request.Request(
        ddb_server.dynamodb_url,
        data=b"{}",
        method="POST",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.GetRecords",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 400
    assert b"UnknownOperationException" in info.value.read()


@pytest.mark.slow
def test_retention_trims_old_records(ddb_server, ddb, ddbs, ddb_table_name):
    """Records older than the retention period are trimmed: an iterator into them gets
    TrimmedDataAccessException (API_streams_GetRecords), never a silent gap."""
    arn = stream_table(ddb, ddb_table_name, "KEYS_ONLY")
    for n in range(3):
        ddb.put_item(TableName=ddb_table_name, Item=item("old", n))
    (shard,) = shards(ddbs, arn)
    old_records = read_stream(ddbs, arn)
    old_iterator = ddbs.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    time.sleep(2.0)
    with stream_settings(ddb_server, retention_seconds=1.5):
        ddb.put_item(TableName=ddb_table_name, Item=item("new", 9))
        assert hook(ddb_server, "trim")["trimmed"] >= 3
        expect_error("TrimmedDataAccessException", ddbs.get_records, ShardIterator=old_iterator)
        expect_error("TrimmedDataAccessException", ddbs.get_shard_iterator, StreamArn=arn, ShardId=shard["ShardId"],
                     ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=old_records[0]["dynamodb"]["SequenceNumber"])  # fmt: skip
        remaining = read_stream(ddbs, arn)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in remaining] == ["new"]


# -- durability ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_records_survive_kill_and_restart(tmp_path):
    server = start_dsql(tmp_path)
    try:
        ddb = client(server.dynamodb_url)
        ddbs = streams_client(server.dynamodb_url)
        arn = stream_table(ddb, "Restarted", "NEW_AND_OLD_IMAGES")
        for n in range(20):
            ddb.put_item(TableName="Restarted", Item=item("k", n % 5, n=n))
        before = read_stream(ddbs, arn)
        assert len(before) == 20
        saved = before[9]["dynamodb"]["SequenceNumber"]  # a consumer's checkpoint
        server.kill()
        server.start()
        ddb = client(server.dynamodb_url)
        ddbs = streams_client(server.dynamodb_url)
        after = read_stream(ddbs, arn)
        assert after == before  # the same records, sequence numbers and ids
        for n in range(20, 25):
            ddb.put_item(TableName="Restarted", Item=item("k", n % 5, n=n))
        (shard,) = shards(ddbs, arn)
        it = ddbs.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                     SequenceNumber=saved)["ShardIterator"]  # fmt: skip
        resumed, _ = read_shard(ddbs, it)
        assert [int(r["dynamodb"]["NewImage"]["n"]["N"]) for r in resumed] == list(range(10, 25))
    finally:
        server.stop()


# -- a consumer of a concurrent workload ---------------------------------------------------------------------------


class Workload:
    """Writers on a few hot items, each write tagged with a unique `w`, recording what was acknowledged."""

    def __init__(self, url: str, table: str, ttl_table: str) -> None:
        self.url = url
        self.table = table
        self.ttl_table = ttl_table
        self.lock = threading.Lock()
        # (tag, pk, kind, new image or None, old image as returned or None)
        self.acknowledged: list[tuple[str, str, str, dict[str, Any] | None, dict[str, Any] | None]] = []
        self.failed_tags: set[str] = set()
        self.ambiguous_tags: set[str] = set()
        self.ttl_keys: list[str] = []
        self.per_thread: dict[int, list[tuple[str, str]]] = defaultdict(
            list
        )  # thread -> [(pk, tag)] in ack order
        self.errors: list[BaseException] = []

    def run(self, thread: int, operations: int) -> None:
        rng = random.Random(thread)
        ddb = client(self.url, retries={"mode": "standard", "total_max_attempts": 1})
        try:
            for n in range(operations):
                self._one(ddb, rng, thread, n)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)

    def _one(self, ddb: Any, rng: random.Random, thread: int, n: int) -> None:
        tag = f"{thread}-{n}"
        pk = f"item{rng.randrange(4)}"
        key = {"pk": {"S": pk}, "sk": {"N": "0"}}
        choice = rng.random()
        try:
            if choice < 0.3:
                new = {**key, "w": {"S": tag}}
                out = ddb.put_item(TableName=self.table, Item=new, ReturnValues="ALL_OLD")
                self._ack(thread, tag, pk, "put", new, out.get("Attributes"))
            elif choice < 0.55:
                out = ddb.update_item(
                    TableName=self.table, Key=key, UpdateExpression="SET w = :w ADD c :one",
                    ExpressionAttributeValues={":w": {"S": tag}, ":one": {"N": "1"}}, ReturnValues="ALL_NEW",
                )  # fmt: skip
                self._ack(thread, tag, pk, "update", out["Attributes"], None)
            elif choice < 0.7:
                out = ddb.delete_item(TableName=self.table, Key=key, ReturnValues="ALL_OLD")
                self._ack(thread, tag, pk, "delete", None, out.get("Attributes"))
            elif choice < 0.8:
                # A conditional put that often fails: a failed one must leave no record.
                new = {**key, "w": {"S": tag}}
                try:
                    ddb.put_item(
                        TableName=self.table, Item=new, ConditionExpression="attribute_not_exists(pk)"
                    )
                except ClientError as exc:
                    if error_code(exc) != "ConditionalCheckFailedException":
                        raise
                    with self.lock:
                        self.failed_tags.add(tag)
                    return
                self._ack(thread, tag, pk, "put", new, None)
            elif choice < 0.95:
                other = f"item{rng.randrange(4)}"
                if other == pk:
                    other = f"item{(int(pk[-1]) + 1) % 4}"
                items = [
                    {**key, "w": {"S": tag}},
                    {"pk": {"S": other}, "sk": {"N": "0"}, "w": {"S": tag + "b"}},
                ]
                try:
                    ddb.transact_write_items(
                        TransactItems=[{"Put": {"TableName": self.table, "Item": i}} for i in items]
                    )
                except ClientError as exc:
                    if error_code(exc) != "TransactionCanceledException":
                        raise
                    with self.lock:
                        self.failed_tags.update({tag, tag + "b"})
                    return
                self._ack(thread, tag, pk, "put", items[0], None)
                self._ack(thread, tag + "b", other, "put", items[1], None)
            else:
                ttl_pk = f"ttl-{tag}"
                ddb.put_item(TableName=self.ttl_table, Item={"pk": {"S": ttl_pk}, "sk": {"N": "0"},
                                                             "exp": {"N": str(int(time.time()) - 30)}})  # fmt: skip
                with self.lock:
                    self.ttl_keys.append(ttl_pk)
        except ClientError as exc:
            if exc.response["ResponseMetadata"].get("HTTPStatusCode", 400) >= 500:
                with self.lock:
                    self.ambiguous_tags.add(tag)  # may or may not have been applied: checked loosely
                return
            raise

    def _ack(self, thread: int, tag: str, pk: str, kind: str, new: Any, old: Any) -> None:
        with self.lock:
            self.acknowledged.append((tag, pk, kind, new, old))
            self.per_thread[thread].append((pk, tag))


class Consumer:
    """Reads a stream to the end as it grows, following shard lineage; restarts itself from a
    saved sequence number (AFTER_SEQUENCE_NUMBER) every so often, as a crashed consumer would."""

    def __init__(self, url: str, arn: str) -> None:
        self.ddbs = streams_client(url)
        self.arn = arn
        self.records: list[dict[str, Any]] = []
        self.done_shards: list[str] = []
        self.restarts = 0

    def _next_shard(self) -> dict[str, Any] | None:
        listed = shards(self.ddbs, self.arn)
        if not self.done_shards:
            return listed[0]
        return next((s for s in listed if s.get("ParentShardId") == self.done_shards[-1]), None)

    def poll_until(self, stop: threading.Event, idle_rounds_after_stop: int = 3) -> None:
        shard = None
        iterator = None
        idle = 0
        polls = 0
        while True:
            if shard is None:
                shard = self._next_shard()
                if shard is None:  # the child has not opened yet
                    time.sleep(0.05)
                    continue
                iterator = self.ddbs.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            page = self.ddbs.get_records(ShardIterator=iterator, Limit=7)
            self.records += page["Records"]
            iterator = page.get("NextShardIterator")
            polls += 1
            if iterator is None:
                self.done_shards.append(shard["ShardId"])
                shard = None
                continue
            if polls % 10 == 0 and self.records:
                # A consumer restart: only the last sequence number survives.
                self.restarts += 1
                saved = self.records[-1]["dynamodb"]["SequenceNumber"]
                if int(saved) >= int(shard["SequenceNumberRange"]["StartingSequenceNumber"]):
                    iterator = self.ddbs.get_shard_iterator(
                        StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                        SequenceNumber=saved,
                    )["ShardIterator"]  # fmt: skip
            if not page["Records"]:
                if stop.is_set():
                    idle += 1
                    if idle >= idle_rounds_after_stop:
                        return
                time.sleep(0.02)


@pytest.mark.slow
def test_consumer_sees_every_acknowledged_change_once_in_order(ddb_server, ddb, ddb_names):
    table, ttl_table = ddb_names("hot"), ddb_names("ttl")
    with stream_settings(ddb_server, shard_seconds=0.5):  # several shards during the run
        arn = stream_table(ddb, table, "NEW_AND_OLD_IMAGES")
        ttl_arn = stream_table(ddb, ttl_table, "KEYS_ONLY")
    ddb.update_time_to_live(
        TableName=ttl_table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
    )
    workload = Workload(ddb_server.dynamodb_url, table, ttl_table)
    consumer = Consumer(ddb_server.dynamodb_url, arn)
    stop = threading.Event()
    reader = threading.Thread(target=consumer.poll_until, args=(stop,))
    reader.start()
    writers = [threading.Thread(target=workload.run, args=(t, 100)) for t in range(6)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join(timeout=120)
    assert not reader.is_alive()
    assert not workload.errors, workload.errors
    assert consumer.restarts > 0 and len(consumer.done_shards) >= 1

    records = consumer.records
    numbers = [seq(r) for r in records]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), "out of order or repeated"
    # Every acknowledged write appears exactly once; no failed one appears.
    tags_seen = defaultdict(int)
    for r in records:
        image = r["dynamodb"].get("NewImage")
        if image is not None:
            tags_seen[image["w"]["S"]] += 1
    for tag, _, kind, _, _ in workload.acknowledged:
        if kind != "delete":
            assert tags_seen[tag] == 1, (tag, tags_seen[tag])
    assert not (workload.failed_tags & set(tags_seen)), workload.failed_tags & set(tags_seen)
    acked_tags = {a[0] for a in workload.acknowledged} | workload.ambiguous_tags
    assert set(tags_seen) <= acked_tags
    # Per item: each record's old image is the previous record's new image (a gapless chain in
    # commit order), and a delete that removed something shows exactly what it returned.
    last: dict[str, Any] = {}
    for r in records:
        pk = r["dynamodb"]["Keys"]["pk"]["S"]
        assert r["dynamodb"].get("OldImage") == last.get(pk), (pk, r)
        assert r["eventName"] == (
            "INSERT" if pk not in last else "REMOVE" if "NewImage" not in r["dynamodb"] else "MODIFY"
        )
        new = r["dynamodb"].get("NewImage")
        if new is None:
            last.pop(pk, None)
        else:
            last[pk] = new
    removes = [r["dynamodb"]["OldImage"] for r in records if r["eventName"] == "REMOVE"]
    deleted = [old for _, _, kind, _, old in workload.acknowledged if kind == "delete" and old]
    assert sorted(i["w"]["S"] for i in removes) == sorted(i["w"]["S"] for i in deleted)
    # A thread's own writes to an item appear in the order it made them.
    position = {image_tag: n for n, image_tag in enumerate(
        r["dynamodb"]["NewImage"]["w"]["S"] for r in records if "NewImage" in r["dynamodb"])}  # fmt: skip
    for acked in workload.per_thread.values():
        by_item: dict[str, list[int]] = defaultdict(list)
        for pk, tag in acked:
            if tag in position:
                by_item[pk].append(position[tag])
        for order in by_item.values():
            assert order == sorted(order)
    # TTL deletions: each expired item is removed by the service, with a REMOVE naming it so.
    deadline = time.monotonic() + 60
    ttl_ddbs = streams_client(ddb_server.dynamodb_url)
    while True:
        ttl_records = read_stream(ttl_ddbs, ttl_arn)
        removed = {r["dynamodb"]["Keys"]["pk"]["S"] for r in ttl_records if r["eventName"] == "REMOVE"}
        if removed >= set(workload.ttl_keys) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert removed == set(workload.ttl_keys)
    raw = raw_records(ddb_server, ttl_ddbs, ttl_arn)
    assert len(raw) == len(ttl_records)
    for r in raw:
        assert ("userIdentity" in r) == (r["eventName"] == "REMOVE")
        if r["eventName"] == "REMOVE":
            assert r["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    inserts = [r["dynamodb"]["Keys"]["pk"]["S"] for r in ttl_records if r["eventName"] == "INSERT"]
    assert sorted(inserts) == sorted(workload.ttl_keys)


# -- the same in a cluster of processes -----------------------------------------------------------------------------

DSQL = [sys.executable, "-m", "assembly.cli"]


@pytest.mark.slow
def test_streams_in_a_cluster(tmp_path):
    """`dsql cluster`: several QP processes share the DynamoDB port, so a stream's writes, iterators
    and reads land on different processes; the records are the same as in the embedded server."""
    port = free_port()
    directory = str(tmp_path / "cluster")
    up = [
        *DSQL,
        "cluster",
        "up",
        "--port",
        "0",
        "--dynamodb-port",
        str(port),
        "--dynamo-port",
        "0",
        "--detach",
    ]
    subprocess.run([*up, "--dir", directory], check=True, capture_output=True, timeout=180)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while port_answers_http("127.0.0.1", port) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        ddb, ddbs = client(url), streams_client(url)
        arn = stream_table(ddb, "ClusterStream", "NEW_AND_OLD_IMAGES")
        expected: dict[str, list[int]] = defaultdict(list)
        for n in range(40):
            pk = f"k{n % 4}"
            # A fresh client (a new connection, often to another QP process) for every write.
            client(url).put_item(TableName="ClusterStream", Item=item(pk, 0, n=n))
            expected[pk].append(n)
        records = []
        (shard,) = shards(ddbs, arn)
        iterator = ddbs.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams_client(url).get_records(
                ShardIterator=iterator, Limit=3
            )  # iterators move between processes
            records += page["Records"]
            iterator = page.get("NextShardIterator") if page["Records"] else None
        assert [seq(r) for r in records] == sorted(seq(r) for r in records)
        seen: dict[str, list[int]] = defaultdict(list)
        for r in records:
            seen[r["dynamodb"]["Keys"]["pk"]["S"]].append(int(r["dynamodb"]["NewImage"]["n"]["N"]))
        assert seen == expected
        assert [r["eventName"] for r in records[:4]] == ["INSERT"] * 4
        assert all(r["eventName"] == "MODIFY" for r in records[4:])
    finally:
        subprocess.run([*DSQL, "cluster", "down", "--dir", directory], capture_output=True, timeout=120)
