"""The DynamoDB endpoint's HTTP protocol, byte by byte: what botocore and other clients rely on.

Raw HTTP (http.client) for what boto3 would hide: headers, CRC32, error
bodies and status codes, the health check, body limits and encodings; and
SigV4 enforcement against a second server started with `--dynamodb-auth
enforce`, signed by botocore itself.
"""

from __future__ import annotations

import datetime as dt
import gzip
import http.client
import json
import zlib
from unittest import mock

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from dynamodb_support import create_table, error_code, start_dsql

pytest_plugins = ["dynamodb_servers"]

TARGET = "DynamoDB_20120810."
JSON_TYPE = "application/x-amz-json-1.0"


def post(server, operation: str | None, body: bytes | str, headers: dict[str, str] | None = None):
    connection = http.client.HTTPConnection(server.host, server.dynamodb_port, timeout=30)
    try:
        all_headers = {"Content-Type": JSON_TYPE}
        if operation is not None:
            all_headers["X-Amz-Target"] = TARGET + operation
        all_headers.update(headers or {})
        connection.request("POST", "/", body=body if isinstance(body, bytes) else body.encode(), headers=all_headers)
        response = connection.getresponse()
        return response.status, dict((k.lower(), v) for k, v in response.getheaders()), response.read()
    finally:
        connection.close()


def get(server, path: str):
    connection = http.client.HTTPConnection(server.host, server.dynamodb_port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict((k.lower(), v) for k, v in response.getheaders()), response.read()
    finally:
        connection.close()


def test_health_check(ddb_server):
    status, headers, body = get(ddb_server, "/")
    assert status == 200
    assert body.decode().startswith("healthy: ")
    status, _, _ = get(ddb_server, "/some/other/path")
    assert status == 404


def test_success_headers_and_crc32(ddb_server):
    status, headers, body = post(ddb_server, "ListTables", "{}")
    assert status == 200
    assert headers["content-type"] == JSON_TYPE
    assert "x-amzn-requestid" in headers
    assert int(headers["x-amz-crc32"]) == zlib.crc32(body)
    assert "server" not in headers
    assert "TableNames" in json.loads(body)


def test_error_shapes(ddb_server):
    status, headers, body = post(ddb_server, "NoSuchOperation", "{}")
    assert status == 400
    assert json.loads(body)["__type"] == "com.amazonaws.dynamodb.v20120810#UnknownOperationException"
    assert int(headers["x-amz-crc32"]) == zlib.crc32(body)
    status, _, body = post(ddb_server, None, "{}")
    assert status == 400 and json.loads(body)["__type"].endswith("#UnknownOperationException")
    status, _, body = post(ddb_server, "ListTables", "{not json")
    assert status == 400 and json.loads(body)["__type"].endswith("#SerializationException")
    status, _, body = post(ddb_server, "ListTables", "[1, 2]")
    assert status == 400 and json.loads(body)["__type"].endswith("#SerializationException")
    status, _, body = post(ddb_server, "DescribeTable", json.dumps({"TableName": "NoSuchTableHere"}))
    error = json.loads(body)
    assert status == 400
    assert error == {
        "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
        "message": "Requested resource not found: Table: NoSuchTableHere not found",
    }
    # Bad input never breaks the connection's server: a normal call still works.
    assert post(ddb_server, "ListTables", "{}")[0] == 200


def test_transaction_cancelled_body(ddb_server, ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    request = {"TransactItems": [{"ConditionCheck": {"TableName": ddb_table_name, "Key": {"pk": {"S": "a"}, "sk": {"S": "b"}},
                                                     "ConditionExpression": "attribute_exists(pk)"}}]}  # fmt: skip
    status, _, body = post(ddb_server, "TransactWriteItems", json.dumps(request))
    error = json.loads(body)
    assert status == 400
    assert error["__type"].endswith("#TransactionCanceledException")
    assert error["Message"].startswith("Transaction cancelled, please refer cancellation reasons")  # capital M (API model)
    assert error["CancellationReasons"] == [{"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}]


def test_wire_type_errors(ddb_server, ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    item = {"pk": {"S": "a"}, "sk": {"S": "b"}}
    cases = [
        ({**item, "x": {"B": "not base64!"}}, "SerializationException"),
        ({**item, "x": {"S": 5}}, "SerializationException"),
        ({**item, "x": {}}, "ValidationException"),
        ({**item, "x": {"S": "a", "N": "1"}}, "ValidationException"),
        ({**item, "x": {"N": "Infinity"}}, "ValidationException"),
    ]
    for bad, expected in cases:
        status, _, body = post(ddb_server, "PutItem", json.dumps({"TableName": ddb_table_name, "Item": bad}))
        assert status == 400 and json.loads(body)["__type"].endswith("#" + expected), (bad, body)
    assert ddb.scan(TableName=ddb_table_name, ConsistentRead=True)["Count"] == 0


def test_compressed_request_bodies(ddb_server, ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    request = json.dumps({"TableName": ddb_table_name, "Item": {"pk": {"S": "gz"}, "sk": {"S": "1"}}}).encode()
    status, _, body = post(ddb_server, "PutItem", gzip.compress(request), {"Content-Encoding": "gzip"})
    assert status == 200, body
    status, _, body = post(ddb_server, "PutItem", zlib.compress(request), {"Content-Encoding": "deflate"})
    assert status == 200, body
    status, _, _ = post(ddb_server, "PutItem", request, {"Content-Encoding": "br"})
    assert status == 500  # DynamoDB's answer to an encoding it does not know
    assert ddb.get_item(TableName=ddb_table_name, Key={"pk": {"S": "gz"}, "sk": {"S": "1"}}, ConsistentRead=True)["Item"]


def test_request_size_limit(ddb_server):
    limit = 16 * 1024 * 1024
    body = b'{"TableName": "x", "pad": "' + b"y" * (limit) + b'"}'
    status, headers, reply = post(ddb_server, "ListTables", body)
    assert status == 413
    assert json.loads(reply)["__type"].endswith("#PayloadTooLarge")
    assert post(ddb_server, "ListTables", "{}")[0] == 200


def test_unknown_request_shapes_are_client_errors(ddb_server):
    for request in ({"TableName": 5}, {"TableName": "abc", "Key": "nope"}, {"TableName": "abc", "Key": [1]}):
        status, _, body = post(ddb_server, "GetItem", json.dumps(request))
        assert status == 400, body


# -- SigV4 -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory):
    server = start_dsql(
        tmp_path_factory.mktemp("dsql-sigv4"),
        extra_args=("--dynamodb-auth", "enforce", "--dynamodb-credentials", "AKIDGOOD:goodsecret,other:second"),
    )
    try:
        yield server
    finally:
        server.stop()


def test_sigv4_enforced(signed_server):
    url = signed_server.dynamodb_url

    def make(key, secret, region="us-east-1"):
        return boto3.client("dynamodb", endpoint_url=url, region_name=region, aws_access_key_id=key,
                            aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}))  # fmt: skip

    assert "TableNames" in make("AKIDGOOD", "goodsecret").list_tables()
    assert "TableNames" in make("other", "second", region="eu-west-1").list_tables()
    for key, secret, expected in (
        ("AKIDGOOD", "wrong", "InvalidSignatureException"),
        ("nobody", "goodsecret", "UnrecognizedClientException"),
    ):
        with pytest.raises(ClientError) as info:
            make(key, secret).list_tables()
        assert error_code(info.value) == expected
    status, _, body = post(signed_server, "ListTables", "{}")
    assert status == 400 and json.loads(body)["__type"].endswith("#MissingAuthenticationTokenException")


def test_sigv4_expired_and_tampered(signed_server):
    def signed(body: bytes, when: dt.datetime) -> dict[str, str]:
        request = AWSRequest(method="POST", url=signed_server.dynamodb_url + "/", data=body,
                             headers={"Content-Type": JSON_TYPE, "X-Amz-Target": TARGET + "ListTables"})  # fmt: skip
        auth = SigV4Auth(Credentials("AKIDGOOD", "goodsecret"), "dynamodb", "us-east-1")
        with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
            auth.add_auth(request)  # signed as of `when`
        return dict(request.headers.items())

    now = dt.datetime.now(dt.UTC)
    headers = signed(b"{}", now)
    assert post(signed_server, None, b"{}", headers)[0] == 200
    status, _, body = post(signed_server, None, b'{"Limit": 1}', headers)  # body changed after signing
    assert status == 400 and json.loads(body)["__type"].endswith("#InvalidSignatureException")
    old = signed(b"{}", now - dt.timedelta(minutes=20))
    status, _, body = post(signed_server, None, b"{}", old)
    error = json.loads(body)
    assert error["__type"].endswith("#InvalidSignatureException") and "Signature expired" in error["message"]
