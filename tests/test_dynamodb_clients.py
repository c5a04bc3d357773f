"""The AWS CLI and PynamoDB against dsql's DynamoDB endpoint, unchanged but for the endpoint URL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dynamodb_support import eventually
from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection, LocalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

pytest_plugins = ["dynamodb_servers"]

CLI_TIMEOUT_S = 60


def aws_cli() -> list[str]:
    # The CLI installed in this environment (awscli is a test dependency).
    script = Path(sys.executable).parent / "aws"
    if script.exists():
        return [str(script)]
    found = shutil.which("aws")
    assert found, "the AWS CLI (awscli) is not installed"
    return [found]


def aws(server, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PAGER": "",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    result = subprocess.run(
        [*aws_cli(), "dynamodb", *args, "--endpoint-url", server.dynamodb_url, "--output", "json"],
        capture_output=True, text=True, env=env, timeout=CLI_TIMEOUT_S,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, result.stderr
    return result


def out(result: subprocess.CompletedProcess[str]):
    return json.loads(result.stdout) if result.stdout.strip() else {}


@pytest.mark.slow  # some twenty CLI processes, a second or two each
def test_aws_cli_end_to_end(ddb_server, ddb_table_name, tmp_path):
    t = ddb_table_name
    created = out(aws(ddb_server, "create-table", "--table-name", t,
                      "--attribute-definitions", "AttributeName=pk,AttributeType=S", "AttributeName=sk,AttributeType=N",
                      "--key-schema", "AttributeName=pk,KeyType=HASH", "AttributeName=sk,KeyType=RANGE",
                      "--billing-mode", "PAY_PER_REQUEST"))  # fmt: skip
    assert created["TableDescription"]["TableName"] == t
    aws(ddb_server, "wait", "table-exists", "--table-name", t)
    assert t in out(aws(ddb_server, "list-tables"))["TableNames"]
    aws(ddb_server, "put-item", "--table-name", t, "--item", json.dumps({"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "one"}}))
    got = out(aws(ddb_server, "get-item", "--table-name", t, "--consistent-read",
                  "--key", json.dumps({"pk": {"S": "a"}, "sk": {"N": "1"}})))  # fmt: skip
    assert got["Item"]["v"] == {"S": "one"}
    requests = {t: [{"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": str(i)}}}} for i in range(2, 22)]}
    (tmp_path / "batch.json").write_text(json.dumps(requests))
    assert out(aws(ddb_server, "batch-write-item", "--request-items", f"file://{tmp_path / 'batch.json'}"))["UnprocessedItems"] == {}
    # The CLI pages by itself (LastEvaluatedKey → ExclusiveStartKey) and merges the pages.
    queried = out(aws(ddb_server, "query", "--table-name", t, "--key-condition-expression", "pk = :p",
                      "--expression-attribute-values", json.dumps({":p": {"S": "a"}}), "--page-size", "3", "--consistent-read"))  # fmt: skip
    assert [int(i["sk"]["N"]) for i in queried["Items"]] == list(range(1, 22))
    counted = out(aws(ddb_server, "scan", "--table-name", t, "--select", "COUNT", "--page-size", "4", "--consistent-read"))
    assert counted["Count"] == 21
    updated = out(aws(ddb_server, "update-item", "--table-name", t, "--key", json.dumps({"pk": {"S": "a"}, "sk": {"N": "1"}}),
                      "--update-expression", "SET hits = if_not_exists(hits, :z) + :one",
                      "--expression-attribute-values", json.dumps({":z": {"N": "0"}, ":one": {"N": "1"}}),
                      "--return-values", "ALL_NEW"))  # fmt: skip
    assert updated["Attributes"]["hits"] == {"N": "1"}
    failed = aws(ddb_server, "put-item", "--table-name", t, "--item", json.dumps({"pk": {"S": "a"}, "sk": {"N": "1"}}),
                 "--condition-expression", "attribute_not_exists(pk)", check=False)  # fmt: skip
    assert failed.returncode != 0 and "ConditionalCheckFailedException" in failed.stderr
    transact = [{"Put": {"TableName": t, "Item": {"pk": {"S": "b"}, "sk": {"N": "1"}}}},
                {"Delete": {"TableName": t, "Key": {"pk": {"S": "a"}, "sk": {"N": "2"}}}}]  # fmt: skip
    aws(ddb_server, "transact-write-items", "--transact-items", json.dumps(transact))
    rows = out(aws(ddb_server, "execute-statement", "--statement", f"SELECT * FROM \"{t}\" WHERE pk = 'b'", "--consistent-read"))["Items"]
    assert rows == [{"pk": {"S": "b"}, "sk": {"N": "1"}}]
    described = out(aws(ddb_server, "describe-table", "--table-name", t))["Table"]
    assert described["KeySchema"][1] == {"AttributeName": "sk", "KeyType": "RANGE"}
    aws(ddb_server, "update-time-to-live", "--table-name", t, "--time-to-live-specification", "Enabled=true,AttributeName=ttl")
    assert out(aws(ddb_server, "describe-time-to-live", "--table-name", t))["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    aws(ddb_server, "delete-table", "--table-name", t)
    aws(ddb_server, "wait", "table-not-exists", "--table-name", t)
    missing = aws(ddb_server, "describe-table", "--table-name", t, check=False)
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr


# -- PynamoDB ----------------------------------------------------------------------------------------------


def models(url: str, suffix: str):
    class BaseMeta:
        host = url
        region = "us-east-1"
        aws_access_key_id = "testing"
        aws_secret_access_key = "testing"
        billing_mode = "PAY_PER_REQUEST"

    class Address(MapAttribute):
        city = UnicodeAttribute()
        zip = UnicodeAttribute(null=True)

    class ByEmail(GlobalSecondaryIndex):
        class Meta:
            index_name = "by_email"
            projection = KeysOnlyProjection()

        email = UnicodeAttribute(hash_key=True)

    class ByScore(LocalSecondaryIndex):
        class Meta:
            index_name = "by_score"
            projection = AllProjection()

        user_id = UnicodeAttribute(hash_key=True)
        score = NumberAttribute(range_key=True)

    class Post(Model):
        Meta = type("Meta", (BaseMeta,), {"table_name": f"Posts_{suffix}"})
        user_id = UnicodeAttribute(hash_key=True)
        post_id = NumberAttribute(range_key=True)
        email = UnicodeAttribute(null=True)
        score = NumberAttribute(default=0)
        tags = UnicodeSetAttribute(null=True)
        ratings = NumberSetAttribute(null=True)
        history = ListAttribute(null=True)
        address = Address(null=True)
        by_email = ByEmail()
        by_score = ByScore()

    return Post


def test_pynamodb_models(ddb_server, ddb_table_name):
    Post = models(ddb_server.dynamodb_url, ddb_table_name.split("_", 1)[1][-40:])
    Post.create_table(wait=True)
    assert Post.exists()
    for i in range(12):
        Post(user_id="u1", post_id=i, email=f"e{i % 3}@x", score=100 - i, tags={"a", f"t{i}"}).save()
    post = Post.get("u1", 3, consistent_read=True)
    assert post.email == "e0@x" and post.tags == {"a", "t3"}
    with pytest.raises(DoesNotExist):
        Post.get("u1", 99)
    assert [p.post_id for p in Post.query("u1", Post.post_id.between(4, 6), consistent_read=True)] == [4, 5, 6]
    assert [p.post_id for p in Post.query("u1", Post.post_id < 3, scan_index_forward=False, consistent_read=True)] == [2, 1, 0]
    filtered = list(Post.query("u1", filter_condition=Post.score >= 95, consistent_read=True))
    assert sorted(p.post_id for p in filtered) == [0, 1, 2, 3, 4, 5]
    paged = Post.query("u1", limit=5, page_size=2, consistent_read=True)
    assert len(list(paged)) == 5
    # A GSI is read eventually (DynamoDB refuses strong reads on one): retry until it converges.
    by_email = eventually(lambda: sorted(p.post_id for p in Post.by_email.query("e1@x")), lambda r: r == [1, 4, 7, 10])
    assert by_email == [1, 4, 7, 10]
    assert [p.score for p in Post.by_score.query("u1", Post.score > 96, consistent_read=True)] == [97, 98, 99, 100]
    post.update(actions=[Post.score.add(5), Post.tags.delete({"a"}), Post.history.set([1]),
                         Post.address.set({"city": "Oslo"}), Post.email.remove()])  # fmt: skip
    post.refresh(consistent_read=True)
    assert post.score == 102 and post.tags == {"t3"} and post.history == [1] and post.address.city == "Oslo" and post.email is None
    post.update(actions=[Post.history.set(Post.history.append([2, 3]))])
    assert Post.get("u1", 3, consistent_read=True).history == [1, 2, 3]
    with pytest.raises(PutError):
        Post(user_id="u1", post_id=3).save(condition=Post.user_id.does_not_exist())
    with pytest.raises(UpdateError):
        post.update(actions=[Post.score.set(0)], condition=Post.score < 10)
    with Post.batch_write() as batch:
        for i in range(100, 140):
            batch.save(Post(user_id="u2", post_id=i))
    assert Post.count("u2", consistent_read=True) == 40
    assert len(list(Post.batch_get([("u2", i) for i in range(100, 110)], consistent_read=True))) == 10
    connection = Connection(host=ddb_server.dynamodb_url, region="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with TransactWrite(connection=connection) as transaction:
        transaction.update(Post(user_id="u2", post_id=100), actions=[Post.score.set(7)])
        transaction.delete(Post(user_id="u2", post_id=101))
        transaction.condition_check(Post, "u1", 0, condition=Post.user_id.exists())
    assert Post.get("u2", 100, consistent_read=True).score == 7
    with pytest.raises(TransactWriteError) as info:
        with TransactWrite(connection=connection) as transaction:
            transaction.save(Post(user_id="u2", post_id=102), condition=Post.user_id.does_not_exist())
    assert info.value.cause_response_code == "TransactionCanceledException"
    assert sum(1 for _ in Post.scan(Post.user_id == "u2", consistent_read=True)) == 39
    Post.delete_table()
    assert not Post.exists()
