"""The DynamoDB endpoint's documented limits and HTTP details, over real HTTP.

boto3 where it can send the request, raw http.client where it cannot (bad
bodies, odd headers, preflights). Each expectation names its source:
the Developer Guide's quotas page ("Constraints"/"Limits" in
/work/shared/research/dynamodb.md §2.12), its tagging restrictions, the API
reference, or, for behaviour the documentation leaves open (compressed and
corrupt bodies, CORS, Accept-Encoding choices), what the Alternator suite
recorded running against DynamoDB itself (scylladb test/alternator/:
test_compressed_request.py, test_compressed_response.py, test_cors.py,
test_tag.py, test_limits.py). Where moto implements a feature (tags), the
same calls are compared with moto in test_dynamodb_differential.py.
"""

from __future__ import annotations

import gzip
import http
import http.client
import json
import time
import zlib
from typing import Any

import pytest
from botocore.exceptions import ClientError
from dynamodb_support import client, create_table, error_code, eventually

from kv.dynamodb import codings, cors
from kv.dynamodb.errors import DynamoError

pytest_plugins = ["dynamodb_servers"]

TARGET = "DynamoDB_20120810."
JSON_TYPE = "application/x-amz-json-1.0"


def expect_error(code: str, call, *args, message: str | None = None, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    assert error_code(info.value) == code, info.value.response
    if message is not None:
        assert message in info.value.response["Error"]["Message"], info.value.response["Error"]["Message"]
    return info.value


def raw_request(
    server, method: str, operation: str | None, body: bytes | str = b"", headers: dict[str, str] | None = None
) -> tuple[http.client.HTTPResponse, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(server.host, server.dynamodb_port, timeout=30)
    try:
        all_headers = {"Content-Type": JSON_TYPE}
        if operation is not None:
            all_headers["X-Amz-Target"] = TARGET + operation
        all_headers.update(headers or {})
        data = body if isinstance(body, bytes) else body.encode()
        connection.request(method, "/", body=data if method != "GET" else None, headers=all_headers)
        response = connection.getresponse()
        return response, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


# -- HTTP: reason phrases, CORS, compression, DescribeEndpoints ------------------------------------


def test_every_status_has_its_reason_phrase(ddb_server):
    cases = [
        ("POST", "ListTables", b"{}", {}, 200),
        ("POST", "DescribeTable", b'{"TableName": "NoSuchTable"}', {}, 400),
        ("POST", "ListTables", b"{not json", {}, 400),
        ("GET", None, b"", {}, 200),
        ("POST", "ListTables", b"{}", {"Content-Encoding": "br"}, 500),
        ("POST", "ListTables", b'{"x": "' + b"y" * (16 * 1024 * 1024) + b'"}', {}, 413),
    ]
    for method, operation, body, headers, status in cases:
        response, _, _ = raw_request(ddb_server, method, operation, body, headers)
        assert response.status == status, (operation, response.status)
        assert response.reason == http.HTTPStatus(status).phrase, (status, response.reason)
    connection = http.client.HTTPConnection(ddb_server.host, ddb_server.dynamodb_port, timeout=30)
    connection.request("GET", "/no/such/path")
    response = connection.getresponse()
    assert (response.status, response.reason) == (404, "Not Found")
    connection.close()


def test_cors_preflight_and_cors_headers(ddb_server):
    # Without an Origin, no CORS headers, on any method.
    for method, operation in (("OPTIONS", None), ("GET", None), ("POST", "ListTables")):
        response, headers, _ = raw_request(ddb_server, method, operation, b"{}")
        assert not [h for h in headers if h.startswith("access-control-")], (method, headers)
    # A browser's preflight: 200, any origin, the asked-for method and headers allowed, cacheable.
    asked = {
        "Origin": "http://example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-amz-target,x-amz-date,authorization",
    }
    response, headers, body = raw_request(ddb_server, "OPTIONS", None, b"", asked)
    assert (response.status, response.reason, body) == (200, "OK", b"")
    assert headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-methods"] == "POST"
    assert headers["access-control-allow-headers"] == asked["Access-Control-Request-Headers"]
    assert int(headers["access-control-max-age"]) > 0
    assert "x-amzn-requestid" in headers["access-control-expose-headers"].lower()
    # The request itself, successful or not, carries Allow-Origin and Expose-Headers (no preflight-only headers).
    for operation, body, status in (
        ("ListTables", b"{}", 200),
        ("DescribeTable", b'{"TableName": "Nope"}', 400),
    ):
        response, headers, _ = raw_request(ddb_server, "POST", operation, body, asked)
        assert response.status == status
        assert headers["access-control-allow-origin"] == "*"
        assert "access-control-expose-headers" in headers
        assert "access-control-max-age" not in headers and "access-control-allow-methods" not in headers


def _big_item_table(ddb, name: str) -> dict[str, Any]:
    create_table(ddb, name, range_key=None)
    item = {"pk": {"S": "big"}, "data": {"S": "x" * 6000}, "small": {"S": "tiny"}}
    ddb.put_item(TableName=name, Item=item)
    return item


def test_responses_are_compressed_when_accepted(ddb_server, ddb, ddb_table_name):
    item = _big_item_table(ddb, ddb_table_name)
    get = json.dumps({"TableName": ddb_table_name, "Key": {"pk": {"S": "big"}}, "ConsistentRead": True})
    small = json.dumps(
        {"TableName": ddb_table_name, "Key": {"pk": {"S": "big"}}, "ProjectionExpression": "small"}
    )
    for coding, decompress in (("gzip", gzip.decompress), ("deflate", zlib.decompress)):
        response, headers, body = raw_request(ddb_server, "POST", "GetItem", get, {"Accept-Encoding": coding})
        assert response.status == 200 and headers.get("content-encoding") == coding
        assert len(body) < 1000  # 6000 x's compress well
        # The CRC is of the bytes sent, as DynamoDB's is (what SDKs that accept gzip check).
        assert int(headers["x-amz-crc32"]) == zlib.crc32(body)
        assert json.loads(decompress(body))["Item"] == item
        # Under 4 KB, DynamoDB's threshold, a response goes as it is.
        response, headers, body = raw_request(
            ddb_server, "POST", "GetItem", small, {"Accept-Encoding": coding}
        )
        assert "content-encoding" not in headers and json.loads(body)["Item"] == {"small": {"S": "tiny"}}
    # Not asked, not compressed (http.client sends Accept-Encoding: identity, as botocore does).
    response, headers, body = raw_request(ddb_server, "POST", "GetItem", get)
    assert "content-encoding" not in headers and int(headers["x-amz-crc32"]) == zlib.crc32(body)
    # boto3 asking for gzip (a before-parse hook decompresses) gets the item, CRC checked, no retries.
    c = client(ddb_server.dynamodb_url, retries={"mode": "standard", "total_max_attempts": 1})
    seen: list[str | None] = []
    c.meta.events.register(
        "before-call", lambda params, **_: params["headers"].update({"Accept-Encoding": "gzip"})
    )

    def decompress(response_dict, **_):
        seen.append(response_dict["headers"].get("Content-Encoding"))
        if seen[-1] == "gzip":
            response_dict["body"] = gzip.decompress(response_dict["body"])

    c.meta.events.register("before-parse", decompress)
    assert c.get_item(TableName=ddb_table_name, Key={"pk": {"S": "big"}}, ConsistentRead=True)["Item"] == item
    assert seen == ["gzip"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("identity", None),
        ("", None),
        ("br", None),
        ("x-gzip", None),
        ("gzip, deflate", "gzip"),
        ("br, identity, deflate, gzip", "deflate"),  # the first acceptable one
        ("GZIP, identity", "gzip"),
        ("dog, gzip ,, cat", "gzip"),
        ("gzip;q=0.8, deflate;q=0.5", "gzip"),
        ("br, gzip;q=0, deflate; q = 0.5 , identity;q=0", "deflate"),
        ("*", "gzip"),
        ("*, deflate", "deflate"),
        ("*, gzip;q=0.5", "deflate"),
        ("gzip ;q=0", None),
        ("*;q=0", None),
        ('"gzip"', None),
        ("gzip br", None),
        ("deflate;q=0.5, gzip;q=31", "gzip"),  # q above 1 counts as 1
        ("deflate;q=-0.5,gzip;q=0.2", "gzip"),
        ("gzip;q=0, gzip;q=1, gzip;q=0", "gzip"),
    ],
)
def test_accept_encoding_choices(ddb_server, ddb, ddb_table_name, accept, expected):
    # As DynamoDB chose for these headers (scylladb test_compressed_response.py, run against DynamoDB).
    _big_item_table(ddb, ddb_table_name)
    get = json.dumps({"TableName": ddb_table_name, "Key": {"pk": {"S": "big"}}, "ConsistentRead": True})
    _, headers, _ = raw_request(ddb_server, "POST", "GetItem", get, {"Accept-Encoding": accept})
    assert headers.get("content-encoding") == expected


def test_compressed_request_bodies_good_and_bad(ddb_server, ddb, ddb_table_name):
    create_table(ddb, ddb_table_name, range_key=None)

    def put(pk: str) -> bytes:
        return json.dumps(
            {"TableName": ddb_table_name, "Item": {"pk": {"S": pk}, "v": {"S": "x" * 100}}}
        ).encode()

    # Several gzip members one after the other are one body (RFC 1952; DynamoDB accepts them).
    body = put("members")
    response, _, reply = raw_request(
        ddb_server,
        "POST",
        "PutItem",
        gzip.compress(body[:20]) + gzip.compress(body[20:]),
        {"Content-Encoding": "gzip"},
    )
    assert response.status == 200, reply
    # DynamoDB answers a body that does not decompress with a 500 InternalServerError.
    bad = {
        "not gzip": (put("plain"), "gzip"),
        "truncated": (gzip.compress(put("cut"))[:-1], "gzip"),
        "empty": (b"", "gzip"),
        "junk after": (gzip.compress(put("junk")) + b"junk", "gzip"),
        "bad deflate": (zlib.compress(put("defl"))[:-3], "deflate"),
    }
    for case, (payload, coding) in bad.items():
        response, _, reply = raw_request(ddb_server, "POST", "PutItem", payload, {"Content-Encoding": coding})
        assert response.status == 500, (case, reply)
        assert json.loads(reply)["__type"].endswith("#InternalServerError"), case
    # A tiny body that inflates past 16 MB is refused as too large.
    huge = b'{"TableName": "' + ddb_table_name.encode() + b'", "pad": "' + b" " * (17 * 1024 * 1024) + b'"}'
    response, _, _ = raw_request(
        ddb_server, "POST", "PutItem", gzip.compress(huge), {"Content-Encoding": "gzip"}
    )
    assert response.status == 413
    # Only the well-formed body was written.
    items = ddb.scan(TableName=ddb_table_name, ConsistentRead=True)["Items"]
    assert [i["pk"]["S"] for i in items] == ["members"]


def test_describe_endpoints_names_a_usable_address(ddb_server, ddb):
    (endpoint,) = ddb.describe_endpoints()["Endpoints"]
    assert endpoint["CachePeriodInMinutes"] == 1440
    assert endpoint["Address"] == f"{ddb_server.host}:{ddb_server.dynamodb_port}"
    # A client doing endpoint discovery sends its next requests there.
    assert "TableNames" in client("http://" + endpoint["Address"]).list_tables()


# -- tags ------------------------------------------------------------------------------------------------


def _tags(c, arn: str) -> list[tuple[str, str]]:
    out, token = [], None
    while True:
        page = c.list_tags_of_resource(ResourceArn=arn, **({"NextToken": token} if token else {}))
        out += [(t["Key"], t["Value"]) for t in page["Tags"]]
        token = page.get("NextToken")
        if token is None:
            return sorted(out)


def test_tag_limits(ddb_server, ddb, ddb_table_name):
    arn = create_table(ddb, ddb_table_name)["TableDescription"]["TableArn"]
    raw = client(ddb_server.dynamodb_url, parameter_validation=False)  # botocore refuses some of these itself
    # Up to 50 tags; a key given again takes its new value and does not count twice.
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": f"k{i:02d}", "Value": str(i)} for i in range(30)])
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": f"k{i:02d}", "Value": f"v{i}"} for i in range(20, 50)])
    expected = [(f"k{i:02d}", str(i) if i < 20 else f"v{i}") for i in range(50)]
    assert _tags(ddb, arn) == expected
    page = ddb.list_tags_of_resource(ResourceArn=arn)
    assert len(page["Tags"]) < 50 and "NextToken" in page  # paged
    expect_error("ValidationException", ddb.tag_resource, ResourceArn=arn, Tags=[{"Key": "one-more", "Value": "x"}],
                 message="exceeds the limit of 50")  # fmt: skip
    # Key ≤ 128 and value ≤ 256 characters (Unicode characters, not bytes); an empty value is fine.
    ddb.untag_resource(ResourceArn=arn, TagKeys=[k for k, _ in expected])
    ddb.tag_resource(
        ResourceArn=arn, Tags=[{"Key": "é" * 128, "Value": "ü" * 256}, {"Key": "empty", "Value": ""}]
    )
    bad_tags = [
        [{"Key": "k" * 129, "Value": "v"}],
        [{"Key": "k", "Value": "v" * 257}],
        [{"Key": "", "Value": "v"}],
        [{"Key": "aws:owner", "Value": "me"}],  # reserved for AWS-assigned tags
        [{"Key": "AWS:owner", "Value": "me"}],
        [{"Key": "ok", "Value": "#!%^&"}],  # letters, digits, white space and + - = . _ : / only
        [{"Key": "->>;-)", "Value": "ok"}],
        [],
    ]
    for tags in bad_tags:
        expect_error("ValidationException", raw.tag_resource, ResourceArn=arn, Tags=tags)
    expect_error("ValidationException", raw.tag_resource, ResourceArn=arn)
    expect_error("ValidationException", raw.untag_resource, ResourceArn=arn, TagKeys=["k" * 129])
    # Nothing refused changed the tags; removing keys that are not there is fine.
    ddb.untag_resource(ResourceArn=arn, TagKeys=["not-there"])
    assert _tags(ddb, arn) == [("empty", ""), ("é" * 128, "ü" * 256)]


def test_tag_resource_arns(ddb_server, ddb, ddb_names):
    name = ddb_names("t")
    table = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gix",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],  # fmt: skip
        Tags=[{"Key": "made", "Value": "at-create"}],
    )["TableDescription"]
    arn, index_arn = table["TableArn"], table["GlobalSecondaryIndexes"][0]["IndexArn"]
    assert _tags(ddb, arn) == [("made", "at-create")]
    # An index's ARN is not taggable: DynamoDB says it is no table ARN.
    for call in (ddb.list_tags_of_resource, ddb.untag_resource, ddb.tag_resource):
        extra = {"Tags": [{"Key": "a", "Value": "b"}]} if call == ddb.tag_resource else {}
        extra = {"TagKeys": ["a"]} if call == ddb.untag_resource else extra
        expect_error("ValidationException", call, ResourceArn=index_arn, message="Invalid TableArn", **extra)
    expect_error(
        "AccessDeniedException",
        ddb.tag_resource,
        ResourceArn="I_do_not_exist",
        Tags=[{"Key": "a", "Value": "b"}],
    )
    expect_error(
        "ResourceNotFoundException", ddb.list_tags_of_resource, ResourceArn=arn.replace(name, name + "Gone")
    )
    # CreateTable with too many tags creates nothing.
    other = ddb_names("many")
    expect_error(
        "ValidationException", ddb.create_table, TableName=other, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)],
    )  # fmt: skip
    expect_error("ResourceNotFoundException", ddb.describe_table, TableName=other)


# -- key and item limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["S", "B"])
def test_key_size_limits(ddb, ddb_table_name, kind):
    # Partition key 1..2048 bytes, sort key 1..1024 bytes (Developer Guide, quotas);
    # for B the raw bytes count, not their base64.
    create_table(ddb, ddb_table_name, hash_key=("pk", kind), range_key=("sk", kind))

    def value(n: int) -> dict[str, Any]:
        return {"S": "k" * n} if kind == "S" else {"B": b"\x01" * n}

    ddb.put_item(TableName=ddb_table_name, Item={"pk": value(2048), "sk": value(1024)})
    assert "Item" in ddb.get_item(
        TableName=ddb_table_name, Key={"pk": value(2048), "sk": value(1024)}, ConsistentRead=True
    )
    for key, message in (
        (
            {"pk": value(2049), "sk": value(1)},
            "Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ),
        (
            {"pk": value(1), "sk": value(1025)},
            "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        ),
    ):
        expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item=key, message=message)
        expect_error("ValidationException", ddb.get_item, TableName=ddb_table_name, Key=key, message=message)
        expect_error(
            "ValidationException", ddb.delete_item, TableName=ddb_table_name, Key=key, message=message
        )
    assert ddb.scan(TableName=ddb_table_name, ConsistentRead=True)["Count"] == 1


def test_attribute_name_limits(ddb, ddb_names):
    # Key attribute names are at most 255 characters (DynamoDB refuses 256, test_limits.py);
    # other attribute names up to 64 KB: 65535 bytes is the last accepted size.
    long_key = "K" * 255
    name = ddb_names("names")
    create_table(ddb, name, hash_key=(long_key, "S"), range_key=None)
    ddb.put_item(TableName=name, Item={long_key: {"S": "a"}, "n" * 65535: {"S": "v"}})
    item = ddb.get_item(TableName=name, Key={long_key: {"S": "a"}}, ConsistentRead=True)["Item"]
    assert set(item) == {long_key, "n" * 65535}
    expect_error("ValidationException", ddb.put_item, TableName=name, Item={long_key: {"S": "b"}, "n" * 65536: {"S": "v"}},
                 message="65535")  # fmt: skip
    other = ddb_names("long")
    expect_error(
        "ValidationException",
        create_table,
        ddb,
        other,
        hash_key=("K" * 256, "S"),
        range_key=None,
        message="255",
    )
    expect_error("ResourceNotFoundException", ddb.describe_table, TableName=other)
    assert ddb.scan(TableName=name, ConsistentRead=True)["Count"] == 1


def test_nesting_depth_limit(ddb, ddb_table_name):
    # Up to 32 levels of nested lists and maps (Developer Guide, quotas), by PutItem or UpdateItem.
    create_table(ddb, ddb_table_name, range_key=None)
    deep: dict[str, Any] = {"S": "leaf"}
    for level in range(31):
        deep = {"M": {"m": deep}} if level % 2 else {"L": [deep]}
    key = {"pk": {"S": "deep"}}
    ddb.put_item(TableName=ddb_table_name, Item={**key, "d": deep})
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item={**key, "d": {"L": [deep]}},
                 message="Nesting Levels have exceeded supported limits")  # fmt: skip
    expect_error("ValidationException", ddb.update_item, TableName=ddb_table_name, Key=key, UpdateExpression="SET e = :v",
                 ExpressionAttributeValues={":v": {"M": {"x": deep}}}, message="Nesting")  # fmt: skip
    item = ddb.get_item(TableName=ddb_table_name, Key=key, ConsistentRead=True)["Item"]
    assert item["d"] == deep and "e" not in item


# -- expression limits -----------------------------------------------------------------------------------


def test_expression_length_limit(ddb, ddb_table_name):
    # Each expression string at most 4 KB (Developer Guide, quotas, "Expression parameters").
    create_table(ddb, ddb_table_name, range_key=None)
    key = {"pk": {"S": "e"}}
    ddb.put_item(TableName=ddb_table_name, Item={**key, "a": {"N": "1"}})
    values = {":v": {"N": "2"}}

    def padded(head: str, tail: str, size: int) -> str:
        text = head + " " * (size - len(head) - len(tail)) + tail
        assert len(text) == size
        return text

    ddb.update_item(
        TableName=ddb_table_name, Key=key, UpdateExpression=padded("SET", "a = :v", 4096),
        ConditionExpression=padded("a", "= a", 4096), ExpressionAttributeValues=values,
    )  # fmt: skip
    for parameter, kwargs in (
        ("UpdateExpression", {"UpdateExpression": padded("SET", "a = :v", 4097)}),
        (
            "ConditionExpression",
            {"UpdateExpression": "SET a = :v", "ConditionExpression": padded("a", "= a", 4097)},
        ),
    ):
        expect_error(
            "ValidationException", ddb.update_item, TableName=ddb_table_name, Key=key, ExpressionAttributeValues=values,
            message=f"Invalid {parameter}: Expression size has exceeded the maximum allowed size; expression size: 4097",
            **kwargs,
        )  # fmt: skip
    ddb.get_item(TableName=ddb_table_name, Key=key, ProjectionExpression=padded("a", "", 4096))
    expect_error("ValidationException", ddb.get_item, TableName=ddb_table_name, Key=key,
                 ProjectionExpression=padded("a", "", 4097), message="Invalid ProjectionExpression")  # fmt: skip
    page = ddb.query(TableName=ddb_table_name, KeyConditionExpression=padded("pk", "= :p", 4096),
                     ExpressionAttributeValues={":p": key["pk"]})  # fmt: skip
    assert page["Count"] == 1
    expect_error("ValidationException", ddb.query, TableName=ddb_table_name, KeyConditionExpression=padded("pk", "= :p", 4097),
                 ExpressionAttributeValues={":p": key["pk"]}, message="Invalid KeyConditionExpression")  # fmt: skip
    assert ddb.get_item(TableName=ddb_table_name, Key=key, ConsistentRead=True)["Item"]["a"] == {"N": "2"}


def test_expression_operator_limit(ddb, ddb_table_name):
    # At most 300 operators in an expression: DynamoDB answers "The expression contains
    # too many operators; operator count: 301" (recorded by scylladb test_limits.py).
    create_table(ddb, ddb_table_name, range_key=None)
    key = {"pk": {"S": "o"}}
    ddb.put_item(TableName=ddb_table_name, Item={**key, "a": {"N": "1"}, "b": {"N": "2"}})
    values = {":v": {"N": "1"}}
    ok = "a<b " + "or (a<b " * 149 + ")" * 149  # 150 '<' and 149 OR: 299 operators
    ddb.update_item(TableName=ddb_table_name, Key=key, UpdateExpression="SET z = :v", ConditionExpression=ok,
                    ExpressionAttributeValues=values)  # fmt: skip
    too_many = "a<b" + " or a<b" * 150  # 151 '<' and 150 OR: 301 operators, well under 4 KB
    expect_error("ValidationException", ddb.update_item, TableName=ddb_table_name, Key=key, UpdateExpression="SET y = :v",
                 ConditionExpression=too_many, ExpressionAttributeValues=values,
                 message="The expression contains too many operators; operator count: 301")  # fmt: skip
    assert "y" not in ddb.get_item(TableName=ddb_table_name, Key=key, ConsistentRead=True)["Item"]


@pytest.mark.parametrize(
    "condition",
    [
        "(" * 2046 + "a<b" + ")" * 2046,  # deep parentheses, under 4 KB
        "not " * 1000 + "a<b",
        "a < " + "size(" * 680 + "b" + ")" * 680,
        "(" * 4096,
        "a<b " + "or (a<b " * 454 + ")" * 454,
    ],
    ids=["parentheses", "nots", "functions", "open-parens", "nested-ors"],
)
def test_deep_expressions_are_refused_cleanly(ddb, ddb_table_name, condition):
    # Expressions under 4 KB but nested deeply: a ValidationException naming the
    # expression, never an internal error.
    assert len(condition) <= 4096
    create_table(ddb, ddb_table_name, range_key=None)
    key = {"pk": {"S": "n"}}
    ddb.put_item(TableName=ddb_table_name, Item={**key, "a": {"N": "1"}, "b": {"N": "2"}})
    expect_error("ValidationException", ddb.update_item, TableName=ddb_table_name, Key=key, UpdateExpression="SET z = :v",
                 ConditionExpression=condition, ExpressionAttributeValues={":v": {"N": "1"}},
                 message="ConditionExpression")  # fmt: skip
    assert "z" not in ddb.get_item(TableName=ddb_table_name, Key=key, ConsistentRead=True)["Item"]


def test_placeholder_and_substitution_limits(ddb, ddb_table_name):
    # A #name or :value token is at most 255 bytes, its # or : included; all the
    # substitutions of a request together at most 2 MB (Developer Guide, quotas).
    create_table(ddb, ddb_table_name, range_key=None)
    key = {"pk": {"S": "p"}}
    name_ok, value_ok = "#" + "n" * 254, ":" + "v" * 254
    ddb.put_item(TableName=ddb_table_name, Item={**key, "a": {"N": "1"}})
    ddb.update_item(TableName=ddb_table_name, Key=key, UpdateExpression=f"SET {name_ok} = {value_ok}",
                    ExpressionAttributeNames={name_ok: "a"}, ExpressionAttributeValues={value_ok: {"N": "5"}})  # fmt: skip
    for names, values, expression in (
        ({name_ok + "n": "a"}, {":v": {"N": "6"}}, f"SET {name_ok}n = :v"),
        ({"#a": "a"}, {value_ok + "v": {"N": "6"}}, f"SET #a = {value_ok}v"),
    ):
        expect_error("ValidationException", ddb.update_item, TableName=ddb_table_name, Key=key, UpdateExpression=expression,
                     ExpressionAttributeNames=names, ExpressionAttributeValues=values, message="255")  # fmt: skip
    # Values summing past 2 MB (each within the 400 KB item limit's reach is not the point: the sum is).
    big = {f":v{i}": {"S": "x" * (300 * 1024)} for i in range(7)}
    condition = " OR ".join(f"a = :v{i}" for i in range(7))
    expect_error("ValidationException", ddb.update_item, TableName=ddb_table_name, Key=key, UpdateExpression="SET b = :v0",
                 ConditionExpression=condition, ExpressionAttributeValues=big, message="2 MB")  # fmt: skip
    item = ddb.get_item(TableName=ddb_table_name, Key=key, ConsistentRead=True)["Item"]
    assert item == {**key, "a": {"N": "5"}}


# -- TTL -------------------------------------------------------------------------------------------------


def test_ttl_expiry_takes_index_entries_and_settings_are_checked(ddb, ddb_table_name):
    # An expired item goes with its GSI entries (Developer Guide, TTL: deletions
    # update indexes); one not expired, or expiring too far in the past, stays.
    ddb.create_table(
        TableName=ddb_table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "g1", "g2")],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byG",
                "Projection": {"ProjectionType": "ALL"},
                "KeySchema": [
                    {"AttributeName": "g1", "KeyType": "HASH"},
                    {"AttributeName": "g2", "KeyType": "HASH"},
                ],
            }
        ],  # fmt: skip
    )
    expect_error("ValidationException", ddb.update_time_to_live, TableName=ddb_table_name,
                 TimeToLiveSpecification={"Enabled": True, "AttributeName": "t" * 256})  # fmt: skip
    expect_error("ResourceNotFoundException", ddb.update_time_to_live, TableName=ddb_table_name + "Gone",
                 TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})  # fmt: skip
    expect_error("ResourceNotFoundException", ddb.describe_time_to_live, TableName=ddb_table_name + "Gone")
    ddb.update_time_to_live(
        TableName=ddb_table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
    )
    now = int(time.time())
    for pk, exp in (("gone", now - 5), ("stays", now + 3600), ("ancient", now - 6 * 365 * 86400)):
        ddb.put_item(
            TableName=ddb_table_name,
            Item={"pk": {"S": pk}, "g1": {"S": "a"}, "g2": {"S": "b"}, "exp": {"N": str(exp)}},
        )

    def indexed() -> list[str]:
        page = ddb.query(TableName=ddb_table_name, IndexName="byG", KeyConditionExpression="g1 = :a AND g2 = :b",
                         ExpressionAttributeValues={":a": {"S": "a"}, ":b": {"S": "b"}})  # fmt: skip
        return sorted(i["pk"]["S"] for i in page["Items"])

    assert eventually(indexed, lambda ids: ids == ["ancient", "stays"], timeout_s=30) == ["ancient", "stays"]
    assert sorted(i["pk"]["S"] for i in ddb.scan(TableName=ddb_table_name, ConsistentRead=True)["Items"]) == [
        "ancient",
        "stays",
    ]


# -- the pure parts, without a server ----------------------------------------------------------------


def test_decode_request_members_and_limits():
    body = b'{"TableName": "t"}' * 10
    assert codings.decode_request(gzip.compress(body[:7]) + gzip.compress(body[7:]), "gzip", 1000) == body
    assert codings.decode_request(zlib.compress(body), " Deflate ", 1000) == body
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert codings.decode_request(raw_deflate.compress(body) + raw_deflate.flush(), "deflate", 1000) == body
    assert codings.decode_request(body, "identity", 1000) == body
    with pytest.raises(codings.PayloadTooLarge):
        codings.decode_request(gzip.compress(body), "gzip", len(body) - 1)
    codings.decode_request(gzip.compress(body), "gzip", len(body))  # exactly at the limit
    for payload, coding in ((b"", "gzip"), (gzip.compress(body)[:-2], "gzip"), (zlib.compress(body) + b"x", "deflate"),
                            (body, "br")):  # fmt: skip
        with pytest.raises(DynamoError) as info:
            codings.decode_request(payload, coding, 1000)
        assert info.value.status == 500


def test_encode_response_threshold():
    small, large = (
        b"x" * (codings.RESPONSE_COMPRESSION_BYTES_MIN - 1),
        b"x" * codings.RESPONSE_COMPRESSION_BYTES_MIN,
    )
    assert codings.encode_response(small, "gzip") == (small, None)
    assert codings.encode_response(large, None) == (large, None)
    sent, coding = codings.encode_response(large, "gzip")
    assert coding == "gzip" and gzip.decompress(sent) == large
    sent, coding = codings.encode_response(large, "deflate")
    assert coding == "deflate" and zlib.decompress(sent) == large


def test_cors_headers_only_with_an_origin():
    assert cors.response_headers("OPTIONS", [(b"access-control-request-method", b"POST")]) == []
    simple = dict(cors.response_headers("POST", [(b"origin", b"http://a")]))
    assert simple[b"access-control-allow-origin"] == b"*" and b"access-control-max-age" not in simple
    preflight = dict(
        cors.response_headers(
            "OPTIONS", [(b"origin", b"http://a"), (b"access-control-request-headers", b"x")]
        )
    )
    assert (
        preflight[b"access-control-allow-headers"] == b"x"
        and b"access-control-allow-methods" not in preflight
    )
