"""The DynamoDB API with boto3 (client and resource), over real HTTP against `dsql serve`.

One server per module; every test makes its own tables. The expected values
are DynamoDB's documented behaviour (see /work/shared/research/dynamodb.md),
spelled out so each test can fail on its own.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError
from dynamodb_support import client, create_table, error_code, eventually, resource

# Fixtures: ddb_server, ddb, ddb_table_name, ddb_names (tests/dynamodb_servers.py).
pytest_plugins = ["dynamodb_servers"]


def expect_error(code: str, call, *args, message: str | None = None, **kwargs):
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    assert error_code(info.value) == code, info.value.response
    if message is not None:
        assert message in info.value.response["Error"]["Message"], info.value.response["Error"]["Message"]
    return info.value


# -- tables ---------------------------------------------------------------------------------------------


def test_create_describe_list_delete(ddb, ddb_names):
    first, second = ddb_names("a"), ddb_names("b")
    created = create_table(ddb, first)["TableDescription"]
    assert created["TableName"] == first
    assert created["TableStatus"] == "ACTIVE"
    assert created["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    create_table(ddb, second, range_key=None)
    ddb.get_waiter("table_exists").wait(TableName=first, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    table = ddb.describe_table(TableName=first)["Table"]
    for field in ("AttributeDefinitions", "CreationDateTime", "ProvisionedThroughput", "TableSizeBytes", "ItemCount",
                  "TableArn", "TableId", "BillingModeSummary"):  # fmt: skip
        assert field in table, field
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TableArn"].endswith(f":table/{first}")
    names_listed = ddb.list_tables()["TableNames"]
    assert first in names_listed and second in names_listed
    assert names_listed == sorted(names_listed)
    # Table names are case-sensitive.
    expect_error("ResourceNotFoundException", ddb.describe_table, TableName=first.lower())
    expect_error("ResourceInUseException", create_table, ddb, first)
    deleted = ddb.delete_table(TableName=first)["TableDescription"]
    assert deleted["TableStatus"] == "DELETING"
    err = expect_error("ResourceNotFoundException", ddb.describe_table, TableName=first)
    assert first in err.response["Error"]["Message"]
    ddb.get_waiter("table_not_exists").wait(TableName=first, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    ddb.delete_table(TableName=second)


def test_list_tables_pages(ddb, ddb_names):
    made = sorted(ddb_names(f"p{i}") for i in range(5))
    for name in made:
        create_table(ddb, name, range_key=None)
    seen = []
    for page in ddb.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 2}):
        assert len(page["TableNames"]) <= 2
        seen += page["TableNames"]
    assert seen == sorted(seen)
    assert set(made) <= set(seen)
    first = ddb.list_tables(Limit=2)
    assert len(first["TableNames"]) == 2 and first["LastEvaluatedTableName"] == first["TableNames"][-1]
    rest = ddb.list_tables(ExclusiveStartTableName=first["LastEvaluatedTableName"])
    assert first["TableNames"][-1] not in rest["TableNames"]
    for name in made:
        ddb.delete_table(TableName=name)


def test_recreated_table_is_empty(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "a"}, "sk": {"S": "1"}})
    ddb.delete_table(TableName=ddb_table_name)
    create_table(ddb, ddb_table_name)
    assert "Item" not in ddb.get_item(TableName=ddb_table_name, Key={"pk": {"S": "a"}, "sk": {"S": "1"}}, ConsistentRead=True)
    assert ddb.scan(TableName=ddb_table_name, ConsistentRead=True)["Count"] == 0


def test_create_table_validation(ddb, ddb_table_name):
    expect_error(
        "ValidationException", ddb.create_table, TableName=ddb_table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "x", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        message="does not exactly match",
    )  # fmt: skip
    expect_error(
        "ValidationException", ddb.create_table, TableName=ddb_table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        message="ReadCapacityUnits and WriteCapacityUnits must both be specified",
    )  # fmt: skip
    expect_error(
        "ValidationException", ddb.create_table, TableName=ddb_table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
        LocalSecondaryIndexes=[{"IndexName": "lsi", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "g", "KeyType": "RANGE"}], "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    # Nothing was created by the refused requests.
    assert ddb_table_name not in ddb.list_tables()["TableNames"]


def test_provisioned_table(ddb, ddb_table_name):
    ddb.create_table(
        TableName=ddb_table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 7},
    )
    table = ddb.describe_table(TableName=ddb_table_name)["Table"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
    ddb.update_table(TableName=ddb_table_name, BillingMode="PAY_PER_REQUEST")
    assert ddb.describe_table(TableName=ddb_table_name)["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


# -- items ------------------------------------------------------------------------------------------------


EVERY_TYPE = {
    "pk": {"S": "key"},
    "sk": {"S": "sort"},
    "s": {"S": "héllo"},
    "empty": {"S": ""},
    "n": {"N": "-12.5"},
    "b": {"B": b"\x00\x01binary"},
    "t": {"BOOL": True},
    "f": {"BOOL": False},
    "null": {"NULL": True},
    "m": {"M": {"inner": {"L": [{"N": "1"}, {"S": "two"}, {"M": {}}]}}},
    "l": {"L": []},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"x", b"y"]},
}


def test_every_attribute_type_round_trips(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    ddb.put_item(TableName=ddb_table_name, Item=EVERY_TYPE)
    item = ddb.get_item(TableName=ddb_table_name, Key={"pk": {"S": "key"}, "sk": {"S": "sort"}}, ConsistentRead=True)["Item"]
    for name, value in EVERY_TYPE.items():
        ((kind, body),) = value.items()
        if kind in ("SS", "NS", "BS"):
            assert sorted(item[name][kind]) == sorted(body), name
        else:
            assert item[name] == value, name


def test_numbers_are_exact_and_canonical(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name, range_key=("sk", "N"))
    big = "9" * 38
    ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "n"}, "sk": {"N": "1.50"}, "big": {"N": big}, "tiny": {"N": "1E-130"},
                                              "e": {"N": "1e2"}, "neg": {"N": "-0.000100"}})  # fmt: skip
    item = ddb.get_item(TableName=ddb_table_name, Key={"pk": {"S": "n"}, "sk": {"N": "1.5"}}, ConsistentRead=True)["Item"]
    assert item["sk"] == {"N": "1.5"}
    assert item["big"] == {"N": big}
    assert item["e"] == {"N": "100"}
    assert item["neg"] == {"N": "-0.0001"}
    assert Decimal(item["tiny"]["N"]) == Decimal("1E-130")
    for bad, message in (
        ("1" * 39, "38 significant digits"),
        ("1E+126", "overflow"),
        ("1E-131", "underflow"),
        ("NaN", "numeric"),
        ("12abc", "numeric"),
    ):
        expect_error(
            "ValidationException", ddb.put_item, TableName=ddb_table_name,
            Item={"pk": {"S": "n"}, "sk": {"N": "2"}, "x": {"N": bad}}, message=message,
        )  # fmt: skip
    # Arithmetic stays exact.
    ddb.update_item(TableName=ddb_table_name, Key={"pk": {"S": "n"}, "sk": {"N": "1.5"}}, UpdateExpression="SET big = big - :a",
                    ExpressionAttributeValues={":a": {"N": "9"}})  # fmt: skip
    item = ddb.get_item(TableName=ddb_table_name, Key={"pk": {"S": "n"}, "sk": {"N": "1.5"}}, ConsistentRead=True)["Item"]
    assert item["big"] == {"N": "9" * 37 + "0"}


def test_resource_api_and_decimals(ddb_server, ddb_table_name):
    ddb_resource = resource(ddb_server.dynamodb_url)
    table = ddb_resource.create_table(
        TableName=ddb_table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    table.put_item(Item={"pk": "a", "sk": 1, "price": Decimal("19.99"), "tags": {"x", "y"}, "doc": {"k": [1, "v"]}})
    item = table.get_item(Key={"pk": "a", "sk": 1}, ConsistentRead=True)["Item"]
    assert item == {"pk": "a", "sk": Decimal(1), "price": Decimal("19.99"), "tags": {"x", "y"}, "doc": {"k": [Decimal(1), "v"]}}
    table.update_item(Key={"pk": "a", "sk": 1}, UpdateExpression="SET price = price + :d", ExpressionAttributeValues={":d": Decimal("0.01")})
    assert table.get_item(Key={"pk": "a", "sk": 1}, ConsistentRead=True)["Item"]["price"] == Decimal("20")
    with table.batch_writer() as writer:
        for i in range(2, 60):
            writer.put_item(Item={"pk": "a", "sk": i, "v": i})
    result = table.query(KeyConditionExpression=Key("pk").eq("a") & Key("sk").between(10, 19), ConsistentRead=True)
    assert [i["sk"] for i in result["Items"]] == list(range(10, 20))
    result = table.scan(FilterExpression=Attr("v").gt(50), ConsistentRead=True)
    assert sorted(i["sk"] for i in result["Items"]) == list(range(51, 60))
    with table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as writer:
        for i in range(2, 60):
            writer.delete_item(Key={"pk": "a", "sk": i})
    assert table.scan(ConsistentRead=True)["Count"] == 1


def test_conditional_put_and_return_values(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    key = {"pk": {"S": "c"}, "sk": {"S": "1"}}
    ddb.put_item(TableName=ddb_table_name, Item={**key, "v": {"N": "1"}}, ConditionExpression="attribute_not_exists(pk)")
    err = expect_error(
        "ConditionalCheckFailedException", ddb.put_item, TableName=ddb_table_name, Item={**key, "v": {"N": "2"}},
        ConditionExpression="attribute_not_exists(pk)", ReturnValuesOnConditionCheckFailure="ALL_OLD",
        message="The conditional request failed",
    )  # fmt: skip
    assert err.response["Item"] == {**key, "v": {"N": "1"}}
    old = ddb.put_item(TableName=ddb_table_name, Item={**key, "v": {"N": "3"}}, ReturnValues="ALL_OLD",
                       ConditionExpression="v = :one", ExpressionAttributeValues={":one": {"N": "1"}})  # fmt: skip
    assert old["Attributes"]["v"] == {"N": "1"}
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item=key, ReturnValues="ALL_NEW")
    gone = ddb.delete_item(TableName=ddb_table_name, Key=key, ReturnValues="ALL_OLD")
    assert gone["Attributes"]["v"] == {"N": "3"}
    assert "Attributes" not in ddb.delete_item(TableName=ddb_table_name, Key=key, ReturnValues="ALL_OLD")
    expect_error("ConditionalCheckFailedException", ddb.delete_item, TableName=ddb_table_name, Key=key,
                 ConditionExpression="attribute_exists(pk)")  # fmt: skip


def test_condition_expression_operators(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    key = {"pk": {"S": "x"}, "sk": {"S": "y"}}
    ddb.put_item(TableName=ddb_table_name, Item={**key, "n": {"N": "5"}, "s": {"S": "hello"}, "ss": {"SS": ["a", "b"]},
                                              "l": {"L": [{"S": "q"}]}, "m": {"M": {"in": {"N": "1"}}}})  # fmt: skip
    values = {":5": {"N": "5"}, ":1": {"N": "1"}, ":9": {"N": "9"}, ":he": {"S": "he"}, ":a": {"S": "a"}, ":q": {"S": "q"},
              ":S": {"S": "S"}, ":z": {"S": "zzz"}}  # fmt: skip
    holds = [
        "n = :5", "n <> :1", "n > :1", "n >= :5", "n < :9", "n <= :5", "n BETWEEN :1 AND :9", "n IN (:1, :5)",
        "begins_with(s, :he)", "contains(s, :he)", "contains(ss, :a)", "contains(l, :q)", "size(s) = :5",
        "attribute_exists(m.#in)", "attribute_not_exists(nope)", "attribute_type(s, :S)", "NOT n = :1",
        "n = :1 OR s = :he OR n = :5", "(n = :5 AND s <> :z) AND size(ss) > :1", "absent <> :5",
    ]  # fmt: skip
    fails = ["n = :1", "n < :5", "absent = :5", "absent < :9", "s > :9", "begins_with(s, :a)", "contains(ss, :q)"]
    for expression in holds + fails:
        used = {k: v for k, v in values.items() if k in expression}
        kwargs = {"ExpressionAttributeNames": {"#in": "in"}} if "#in" in expression else {}
        if used:
            kwargs["ExpressionAttributeValues"] = used
        try:
            ddb.put_item(TableName=ddb_table_name, Item={**key, "n": {"N": "5"}, "s": {"S": "hello"}, "ss": {"SS": ["a", "b"]},
                                                      "l": {"L": [{"S": "q"}]}, "m": {"M": {"in": {"N": "1"}}}},
                         ConditionExpression=expression, **kwargs)  # fmt: skip
            held = True
        except ClientError as exc:
            assert error_code(exc) == "ConditionalCheckFailedException", (expression, exc.response)
            held = False
        assert held == (expression in holds), expression


def test_update_expressions(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    key = {"pk": {"S": "u"}, "sk": {"S": "1"}}
    ddb.put_item(TableName=ddb_table_name, Item={**key, "n": {"N": "10"}, "l": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}]},
                                              "ss": {"SS": ["a", "b", "c"]}, "m": {"M": {"x": {"N": "1"}}}, "gone": {"S": "bye"}})  # fmt: skip
    ddb.update_item(
        TableName=ddb_table_name, Key=key,
        UpdateExpression="SET n = n + :two, l = list_append(l, :more), fresh = if_not_exists(fresh, :zero), "
                         "m.y = :two REMOVE gone ADD hits :two, ss :d",
        ExpressionAttributeValues={":two": {"N": "2"}, ":more": {"L": [{"N": "4"}]}, ":zero": {"N": "0"}, ":d": {"SS": ["d"]}},
    )  # fmt: skip
    result = ddb.update_item(
        TableName=ddb_table_name, Key=key, UpdateExpression="SET l[0] = :nine REMOVE l[1] DELETE ss :del",
        ExpressionAttributeValues={":nine": {"N": "9"}, ":del": {"SS": ["a", "zz"]}}, ReturnValues="ALL_NEW",
    )["Attributes"]  # fmt: skip
    assert result["n"] == {"N": "12"}
    assert result["l"] == {"L": [{"N": "9"}, {"N": "3"}, {"N": "4"}]}
    assert result["fresh"] == {"N": "0"}
    assert result["m"] == {"M": {"x": {"N": "1"}, "y": {"N": "2"}}}
    assert "gone" not in result
    assert result["hits"] == {"N": "2"}
    assert sorted(result["ss"]["SS"]) == ["b", "c", "d"]
    updated_old = ddb.update_item(TableName=ddb_table_name, Key=key, UpdateExpression="SET n = :one",
                                  ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="UPDATED_OLD")  # fmt: skip
    assert updated_old["Attributes"] == {"n": {"N": "12"}}
    updated_new = ddb.update_item(TableName=ddb_table_name, Key=key, UpdateExpression="SET m.x = :one",
                                  ExpressionAttributeValues={":one": {"N": "7"}}, ReturnValues="UPDATED_NEW")  # fmt: skip
    assert updated_new["Attributes"] == {"m": {"M": {"x": {"N": "7"}}}}
    # Emptying a set removes the attribute.
    ddb.update_item(TableName=ddb_table_name, Key=key, UpdateExpression="DELETE ss :all",
                    ExpressionAttributeValues={":all": {"SS": ["b", "c", "d"]}})  # fmt: skip
    item = ddb.get_item(TableName=ddb_table_name, Key=key, ConsistentRead=True)["Item"]
    assert "ss" not in item
    # An update that only removes things does not create a missing item.
    ghost = {"pk": {"S": "u"}, "sk": {"S": "ghost"}}
    response = ddb.update_item(TableName=ddb_table_name, Key=ghost, UpdateExpression="REMOVE x", ReturnValues="ALL_NEW")
    assert "Attributes" not in response
    assert "Item" not in ddb.get_item(TableName=ddb_table_name, Key=ghost, ConsistentRead=True)
    # UpdateItem creates a missing item (upsert).
    new_key = {"pk": {"S": "u"}, "sk": {"S": "2"}}
    ddb.update_item(TableName=ddb_table_name, Key=new_key, UpdateExpression="ADD hits :one", ExpressionAttributeValues={":one": {"N": "1"}})
    assert ddb.get_item(TableName=ddb_table_name, Key=new_key, ConsistentRead=True)["Item"] == {**new_key, "hits": {"N": "1"}}


def test_update_expression_errors(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    key = {"pk": {"S": "e"}, "sk": {"S": "1"}}
    ddb.put_item(TableName=ddb_table_name, Item={**key, "s": {"S": "text"}, "n": {"N": "1"}})
    cases = [
        ("SET pk = :v", {":v": {"S": "x"}}, "Cannot update attribute pk"),
        ("SET s = s + :v", {":v": {"N": "1"}}, "incorrect data type"),
        ("SET q = nope + :v", {":v": {"N": "1"}}, "does not exist in the item"),
        ("SET a = :v, a.b = :v", {":v": {"N": "1"}}, "Two document paths overlap"),
        ("SET a = :v SET b = :v", {":v": {"N": "1"}}, 'The "SET" section can only be used once'),
        ("ADD s :v", {":v": {"S": "x"}}, "Incorrect operand type"),
        ("DELETE n :v", {":v": {"N": "1"}}, "Incorrect operand type"),
        ("SET x.y = :v", {":v": {"N": "1"}}, "document path provided in the update expression is invalid"),
        ("SET a = ", {":v": {"N": "1"}}, "Syntax error"),
        ("SET status = :v", {":v": {"N": "1"}}, "reserved keyword"),
    ]
    for expression, values, message in cases:
        expect_error("ValidationException", ddb.update_item, TableName=ddb_table_name, Key=key, UpdateExpression=expression,
                     ExpressionAttributeValues=values, message=message)  # fmt: skip
    # None of the refused updates changed the item.
    assert ddb.get_item(TableName=ddb_table_name, Key=key, ConsistentRead=True)["Item"] == {**key, "s": {"S": "text"}, "n": {"N": "1"}}


def test_projection_expression(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    key = {"pk": {"S": "p"}, "sk": {"S": "1"}}
    ddb.put_item(TableName=ddb_table_name, Item={**key, "a": {"M": {"b": {"N": "1"}, "c": {"N": "2"}}},
                                              "l": {"L": [{"S": "x"}, {"S": "y"}, {"S": "z"}]}, "name": {"S": "n"}})  # fmt: skip
    item = ddb.get_item(TableName=ddb_table_name, Key=key, ProjectionExpression="a.b, l[2], l[0], #n",
                        ExpressionAttributeNames={"#n": "name"}, ConsistentRead=True)["Item"]  # fmt: skip
    assert item == {"a": {"M": {"b": {"N": "1"}}}, "l": {"L": [{"S": "x"}, {"S": "z"}]}, "name": {"S": "n"}}
    expect_error("ValidationException", ddb.get_item, TableName=ddb_table_name, Key=key, ProjectionExpression="a, a.b",
                 message="overlap")  # fmt: skip
    assert ddb.get_item(TableName=ddb_table_name, Key=key, AttributesToGet=["name"], ConsistentRead=True)["Item"] == {"name": {"S": "n"}}


def test_expression_placeholder_validation(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    key = {"pk": {"S": "v"}, "sk": {"S": "1"}}
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item=key, ConditionExpression="a = :a",
                 ExpressionAttributeValues={":a": {"S": "x"}, ":unused": {"S": "y"}}, message="unused in expressions: keys: {:unused}")  # fmt: skip
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item=key, ConditionExpression="#a = :a",
                 ExpressionAttributeNames={"#a": "a", "#b": "b"}, ExpressionAttributeValues={":a": {"S": "x"}},
                 message="ExpressionAttributeNames unused")  # fmt: skip
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item=key, ConditionExpression="a = :nope",
                 ExpressionAttributeValues={":a": {"S": "x"}}, message="attribute value: :nope")  # fmt: skip
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item=key, ConditionExpression="#nope = :a",
                 ExpressionAttributeValues={":a": {"S": "x"}}, message="attribute name: #nope")  # fmt: skip
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item=key,
                 ExpressionAttributeValues={":a": {"S": "x"}}, message="can only be specified when using expressions")  # fmt: skip
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item=key, ConditionExpression="a = :a AND",
                 ExpressionAttributeValues={":a": {"S": "x"}}, message="Syntax error")  # fmt: skip
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item=key, ConditionExpression="((a = :a))",
                 ExpressionAttributeValues={":a": {"S": "x"}}, message="redundant parentheses")  # fmt: skip
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item=key, ConditionExpression="a = :a",
                 Expected={"a": {"Exists": False}}, ExpressionAttributeValues={":a": {"S": "x"}},
                 message="Can not use both expression and non-expression parameters")  # fmt: skip
    assert "Item" not in ddb.get_item(TableName=ddb_table_name, Key=key, ConsistentRead=True)


def test_key_validation(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name, range_key=("sk", "N"))
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item={"pk": {"S": "a"}}, message="Missing the key sk")
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item={"pk": {"S": "a"}, "sk": {"S": "1"}},
                 message="Type mismatch for key sk expected: N actual: S")  # fmt: skip
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item={"pk": {"S": ""}, "sk": {"N": "1"}},
                 message="cannot contain an empty string value")  # fmt: skip
    expect_error("ValidationException", ddb.get_item, TableName=ddb_table_name, Key={"pk": {"S": "a"}},
                 message="The provided key element does not match the schema")  # fmt: skip
    expect_error("ValidationException", ddb.get_item, TableName=ddb_table_name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "y"}},
                 message="The provided key element does not match the schema")  # fmt: skip
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item={"pk": {"S": "k" * 2049}, "sk": {"N": "1"}},
                 message="Size of hashkey has exceeded")  # fmt: skip
    expect_error("ResourceNotFoundException", ddb.get_item, TableName=ddb_table_name + "X", Key={"pk": {"S": "a"}, "sk": {"N": "1"}})
    assert ddb.scan(TableName=ddb_table_name, ConsistentRead=True)["Count"] == 0


def test_item_size_limit(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    # 400 KB counts attribute names and values: this item is exactly at the limit.
    key = {"pk": {"S": "big"}, "sk": {"S": "1"}}
    overhead = len("pk") + len("big") + len("sk") + len("1") + len("data")
    ddb.put_item(TableName=ddb_table_name, Item={**key, "data": {"S": "x" * (400 * 1024 - overhead)}})
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item={**key, "data": {"S": "x" * (400 * 1024 - overhead + 1)}},
                 message="Item size has exceeded the maximum allowed size")  # fmt: skip
    expect_error("ValidationException", ddb.update_item, TableName=ddb_table_name, Key=key, UpdateExpression="SET more = :x",
                 ExpressionAttributeValues={":x": {"S": "yy"}}, message="Item size to update has exceeded")  # fmt: skip
    item = ddb.get_item(TableName=ddb_table_name, Key=key, ConsistentRead=True)["Item"]
    assert len(item["data"]["S"]) == 400 * 1024 - overhead and "more" not in item


def test_sets_and_nesting_validation(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    key = {"pk": {"S": "s"}, "sk": {"S": "1"}}
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item={**key, "e": {"SS": []}}, message="may not be empty")
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item={**key, "d": {"SS": ["a", "a"]}}, message="duplicates")
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item={**key, "d": {"NS": ["1", "1.0"]}}, message="duplicates")
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item={**key, "z": {"NULL": False}})
    deep: dict = {"S": "leaf"}
    for _ in range(31):
        deep = {"L": [deep]}
    ddb.put_item(TableName=ddb_table_name, Item={**key, "deep": deep})
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item={**key, "deep": {"L": [deep]}}, message="Nesting")


# -- query and scan -------------------------------------------------------------------------------------------


def _fill(ddb, table, partitions=("a", "b"), count=20, extra=None):
    for p in partitions:
        for i in range(count):
            item = {"pk": {"S": p}, "sk": {"N": str(i)}, "even": {"BOOL": i % 2 == 0}, "word": {"S": f"w{i:02d}"}}
            item.update(extra(p, i) if extra else {})
            ddb.put_item(TableName=table, Item=item)


def test_query_key_conditions_and_order(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name, range_key=("sk", "N"))
    _fill(ddb, ddb_table_name, count=12)

    def sks(condition, values, **kwargs):
        result = ddb.query(TableName=ddb_table_name, KeyConditionExpression=condition, ExpressionAttributeValues=values,
                           ConsistentRead=True, **kwargs)  # fmt: skip
        return [int(i["sk"]["N"]) for i in result["Items"]]

    a = {":p": {"S": "a"}}
    assert sks("pk = :p", a) == list(range(12))  # numeric order, not string order (10 after 9)
    assert sks("pk = :p AND sk = :v", {**a, ":v": {"N": "3"}}) == [3]
    assert sks("pk = :p AND sk < :v", {**a, ":v": {"N": "3"}}) == [0, 1, 2]
    assert sks("pk = :p AND sk <= :v", {**a, ":v": {"N": "3"}}) == [0, 1, 2, 3]
    assert sks("pk = :p AND sk > :v", {**a, ":v": {"N": "9"}}) == [10, 11]
    assert sks("pk = :p AND sk >= :v", {**a, ":v": {"N": "10.0"}}) == [10, 11]
    assert sks("pk = :p AND sk BETWEEN :lo AND :hi", {**a, ":lo": {"N": "4"}, ":hi": {"N": "6"}}) == [4, 5, 6]
    assert sks(":p = pk", a, ScanIndexForward=False) == list(range(11, -1, -1))
    assert sks("pk = :p", {":p": {"S": "nobody"}}) == []
    expect_error("ValidationException", ddb.query, TableName=ddb_table_name, KeyConditionExpression="sk = :v",
                 ExpressionAttributeValues={":v": {"N": "1"}}, message="Query condition missed key schema element: pk")  # fmt: skip
    expect_error("ValidationException", ddb.query, TableName=ddb_table_name, KeyConditionExpression="pk = :p OR sk = :v",
                 ExpressionAttributeValues={**a, ":v": {"N": "1"}}, message="OR")  # fmt: skip
    expect_error("ValidationException", ddb.query, TableName=ddb_table_name, KeyConditionExpression="pk = :p AND word = :v",
                 ExpressionAttributeValues={**a, ":v": {"S": "x"}})  # fmt: skip
    expect_error("ValidationException", ddb.query, TableName=ddb_table_name, KeyConditionExpression="pk = :p",
                 ExpressionAttributeValues={":p": {"N": "1"}}, message="Condition parameter type does not match schema type")  # fmt: skip


def test_query_begins_with_on_strings(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    for sk in ("apple", "apricot", "banana", "ap", "a", "b\x00", "appl"):
        ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "f"}, "sk": {"S": sk}})
    result = ddb.query(TableName=ddb_table_name, KeyConditionExpression="pk = :p AND begins_with(sk, :b)",
                       ExpressionAttributeValues={":p": {"S": "f"}, ":b": {"S": "ap"}}, ConsistentRead=True)  # fmt: skip
    assert [i["sk"]["S"] for i in result["Items"]] == ["ap", "appl", "apple", "apricot"]


def test_query_paging_limit_filter_select(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name, range_key=("sk", "N"))
    _fill(ddb, ddb_table_name, partitions=("a",), count=25)
    base = {"TableName": ddb_table_name, "KeyConditionExpression": "pk = :p", "ConsistentRead": True}
    # Limit counts items read before the filter, and the page says where to resume.
    page = ddb.query(**base, ExpressionAttributeValues={":p": {"S": "a"}, ":t": {"BOOL": True}},
                     FilterExpression="even = :t", Limit=5)  # fmt: skip
    assert page["ScannedCount"] == 5 and page["Count"] == 3
    assert page["LastEvaluatedKey"] == {"pk": {"S": "a"}, "sk": {"N": "4"}}
    # A page whose items were all filtered out is still a page with a LastEvaluatedKey.
    page = ddb.query(**base, ExpressionAttributeValues={":p": {"S": "a"}, ":w": {"S": "w24"}},
                     FilterExpression="word = :w", Limit=3)  # fmt: skip
    assert page["Items"] == [] and page["Count"] == 0 and "LastEvaluatedKey" in page
    # Paging through everything with the paginator sees every item once, in order.
    seen = []
    for p in ddb.get_paginator("query").paginate(**base, ExpressionAttributeValues={":p": {"S": "a"}},
                                                 PaginationConfig={"PageSize": 7}):  # fmt: skip
        seen += [int(i["sk"]["N"]) for i in p["Items"]]
    assert seen == list(range(25))
    counted = ddb.query(**base, ExpressionAttributeValues={":p": {"S": "a"}}, Select="COUNT")
    assert counted["Count"] == 25 and "Items" not in counted
    expect_error("ValidationException", ddb.query, **base, ExpressionAttributeValues={":p": {"S": "a"}, ":x": {"N": "1"}},
                 FilterExpression="sk > :x", message="Primary key attribute: sk")  # fmt: skip
    start = ddb.query(**base, ExpressionAttributeValues={":p": {"S": "a"}}, ExclusiveStartKey={"pk": {"S": "a"}, "sk": {"N": "20.0"}})
    assert [int(i["sk"]["N"]) for i in start["Items"]] == [21, 22, 23, 24]


def test_query_one_megabyte_pages(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name, range_key=("sk", "N"))
    blob = "x" * (100 * 1024)
    for i in range(25):
        ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "big"}, "sk": {"N": str(i)}, "blob": {"S": blob}})
    page = ddb.query(TableName=ddb_table_name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "big"}},
                     ConsistentRead=True, Select="COUNT")  # fmt: skip
    # About 1 MB of items read: 10 or 11 items of 100 KB, then a LastEvaluatedKey.
    assert 10 <= page["ScannedCount"] <= 11 and "LastEvaluatedKey" in page
    total = 0
    for p in ddb.get_paginator("query").paginate(TableName=ddb_table_name, KeyConditionExpression="pk = :p", ConsistentRead=True,
                                                 ExpressionAttributeValues={":p": {"S": "big"}}, Select="COUNT"):  # fmt: skip
        total += p["Count"]
    assert total == 25


def test_scan_segments_and_filters(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name, range_key=("sk", "N"))
    _fill(ddb, ddb_table_name, partitions=tuple(f"p{i}" for i in range(10)), count=5)
    everything = set()
    for segment in range(4):
        for page in ddb.get_paginator("scan").paginate(TableName=ddb_table_name, Segment=segment, TotalSegments=4,
                                                       ConsistentRead=True, PaginationConfig={"PageSize": 7}):  # fmt: skip
            for item in page["Items"]:
                key = (item["pk"]["S"], item["sk"]["N"])
                assert key not in everything  # segments are disjoint
                everything.add(key)
    assert len(everything) == 50
    filtered = ddb.scan(TableName=ddb_table_name, FilterExpression="pk = :p AND sk >= :n", ConsistentRead=True,
                        ExpressionAttributeValues={":p": {"S": "p3"}, ":n": {"N": "3"}})  # fmt: skip
    assert filtered["Count"] == 2 and filtered["ScannedCount"] == 50
    expect_error("ValidationException", ddb.scan, TableName=ddb_table_name, Segment=4, TotalSegments=4, message="Segment")
    expect_error("ValidationException", ddb.scan, TableName=ddb_table_name, Segment=1, message="TotalSegments")


def test_secondary_indexes(ddb, ddb_table_name):
    create_table(
        ddb, ddb_table_name, range_key=("sk", "N"), extra_attributes=(("g", "S"), ("rank", "N")),
        GlobalSecondaryIndexes=[
            {"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
        ],
        LocalSecondaryIndexes=[
            {"IndexName": "by_rank", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "rank", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["word"]}},
        ],
    )  # fmt: skip
    description = ddb.describe_table(TableName=ddb_table_name)["Table"]
    assert description["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
    assert description["LocalSecondaryIndexes"][0]["Projection"]["NonKeyAttributes"] == ["word"]
    for i in range(10):
        item = {"pk": {"S": "a"}, "sk": {"N": str(i)}, "rank": {"N": str(100 - i)}, "word": {"S": f"w{i}"}, "other": {"S": "o"}}
        if i % 3:
            item["g"] = {"S": "x" if i % 2 else "y"}  # sparse: items without g are not in by_g
        ddb.put_item(TableName=ddb_table_name, Item=item)
    def by_g(value: str) -> dict:
        return ddb.query(TableName=ddb_table_name, IndexName="by_g", KeyConditionExpression="g = :g",
                         ExpressionAttributeValues={":g": {"S": value}})  # fmt: skip

    def sks(result: dict) -> list[int]:
        return [int(i["sk"]["N"]) for i in result["Items"]]

    # A GSI is read eventually (DynamoDB refuses strong reads on one), so reads retry until they converge.
    gsi = eventually(lambda: by_g("x"), lambda r: sks(r) == [1, 5, 7])
    assert sks(gsi) == [1, 5, 7]
    assert set(gsi["Items"][0]) == {"pk", "sk", "g"}  # KEYS_ONLY
    assert "LastEvaluatedKey" not in gsi
    first_of_x = {"pk": {"S": "a"}, "sk": {"N": "1"}, "g": {"S": "x"}}
    limited = eventually(
        lambda: ddb.query(TableName=ddb_table_name, IndexName="by_g", KeyConditionExpression="g = :g", Limit=1,
                          ExpressionAttributeValues={":g": {"S": "x"}}),
        lambda r: r.get("LastEvaluatedKey") == first_of_x,
    )  # fmt: skip
    assert limited["LastEvaluatedKey"] == first_of_x
    lsi = ddb.query(TableName=ddb_table_name, IndexName="by_rank", KeyConditionExpression="pk = :p AND #r > :r",
                    ExpressionAttributeNames={"#r": "rank"}, ExpressionAttributeValues={":p": {"S": "a"}, ":r": {"N": "95"}},
                    ConsistentRead=True)  # fmt: skip
    assert [int(i["rank"]["N"]) for i in lsi["Items"]] == [96, 97, 98, 99, 100]
    assert set(lsi["Items"][0]) == {"pk", "sk", "rank", "word"}
    # An LSI fetches what it does not project when asked for everything.
    full = ddb.query(TableName=ddb_table_name, IndexName="by_rank", KeyConditionExpression="pk = :p", Select="ALL_ATTRIBUTES",
                     ExpressionAttributeValues={":p": {"S": "a"}}, Limit=1, ConsistentRead=True)  # fmt: skip
    assert full["Items"][0]["other"] == {"S": "o"}
    # Updating an item moves its index entries; deleting it removes them.
    ddb.update_item(TableName=ddb_table_name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}}, UpdateExpression="SET g = :y",
                    ExpressionAttributeValues={":y": {"S": "y"}})  # fmt: skip
    ddb.delete_item(TableName=ddb_table_name, Key={"pk": {"S": "a"}, "sk": {"N": "5"}})
    gsi = eventually(lambda: by_g("x"), lambda r: sks(r) == [7])
    assert sks(gsi) == [7]
    expect_error("ValidationException", ddb.query, TableName=ddb_table_name, IndexName="by_g", KeyConditionExpression="g = :g",
                 ExpressionAttributeValues={":g": {"S": "x"}}, ConsistentRead=True,
                 message="Consistent reads are not supported on global secondary indexes")  # fmt: skip
    expect_error("ValidationException", ddb.query, TableName=ddb_table_name, IndexName="nope", KeyConditionExpression="g = :g",
                 ExpressionAttributeValues={":g": {"S": "x"}}, message="does not have the specified index")  # fmt: skip
    expect_error("ValidationException", ddb.put_item, TableName=ddb_table_name, Item={"pk": {"S": "a"}, "sk": {"N": "99"}, "g": {"N": "1"}},
                 message="Type mismatch for Index Key g")  # fmt: skip
    scanned = eventually(lambda: ddb.scan(TableName=ddb_table_name, IndexName="by_g"), lambda r: r["Count"] == 5)
    assert scanned["Count"] == 5


def test_update_table_adds_and_removes_a_gsi(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    for i in range(30):
        ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": f"p{i}"}, "sk": {"S": "x"}, "color": {"S": "red" if i % 3 else "blue"}})
    ddb.update_table(
        TableName=ddb_table_name,
        AttributeDefinitions=[{"AttributeName": "color", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "by_color", "KeySchema": [{"AttributeName": "color", "KeyType": "HASH"}],
                                                 "Projection": {"ProjectionType": "ALL"}}}],
    )  # fmt: skip
    # Writes during the backfill are indexed too.
    ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "late"}, "sk": {"S": "x"}, "color": {"S": "blue"}})
    deadline = time.monotonic() + 30
    while True:
        status = ddb.describe_table(TableName=ddb_table_name)["Table"]["GlobalSecondaryIndexes"][0]["IndexStatus"]
        if status == "ACTIVE":
            break
        assert status == "CREATING"
        assert time.monotonic() < deadline, "backfill did not finish"
        time.sleep(0.5)
    expected = sorted([f"p{i}" for i in range(0, 30, 3)] + ["late"])
    blue = eventually(
        lambda: ddb.query(TableName=ddb_table_name, IndexName="by_color", KeyConditionExpression="color = :c",
                          ExpressionAttributeValues={":c": {"S": "blue"}}),
        lambda r: sorted(i["pk"]["S"] for i in r["Items"]) == expected,
    )  # fmt: skip
    assert sorted(i["pk"]["S"] for i in blue["Items"]) == expected
    ddb.update_table(TableName=ddb_table_name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_color"}}])
    assert "GlobalSecondaryIndexes" not in ddb.describe_table(TableName=ddb_table_name)["Table"]
    expect_error("ValidationException", ddb.query, TableName=ddb_table_name, IndexName="by_color", KeyConditionExpression="color = :c",
                 ExpressionAttributeValues={":c": {"S": "blue"}})  # fmt: skip


# -- batches -------------------------------------------------------------------------------------------------


def test_batch_get_and_write(ddb, ddb_names):
    first, second = ddb_names("one"), ddb_names("two")
    create_table(ddb, first)
    create_table(ddb, second, range_key=None)
    response = ddb.batch_write_item(RequestItems={
        first: [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "sk": {"S": "s"}, "v": {"N": str(i)}}}} for i in range(15)],
        second: [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "w": {"S": "x"}}}} for i in range(10)],
    })  # fmt: skip
    assert response["UnprocessedItems"] == {}
    got = ddb.batch_get_item(RequestItems={
        first: {"Keys": [{"pk": {"S": f"k{i}"}, "sk": {"S": "s"}} for i in range(0, 15, 2)] + [{"pk": {"S": "none"}, "sk": {"S": "s"}}],
                "ProjectionExpression": "v", "ConsistentRead": True},
        second: {"Keys": [{"pk": {"S": "k1"}}], "ConsistentRead": True},
    })  # fmt: skip
    assert got["UnprocessedKeys"] == {}
    assert sorted(int(i["v"]["N"]) for i in got["Responses"][first]) == list(range(0, 15, 2))
    assert got["Responses"][second] == [{"pk": {"S": "k1"}, "w": {"S": "x"}}]
    ddb.batch_write_item(RequestItems={second: [{"DeleteRequest": {"Key": {"pk": {"S": f"k{i}"}}}} for i in range(10)]})
    assert ddb.scan(TableName=second, ConsistentRead=True)["Count"] == 0
    expect_error("ValidationException", ddb.batch_write_item, RequestItems={first: [
        {"PutRequest": {"Item": {"pk": {"S": "d"}, "sk": {"S": "s"}}}}, {"DeleteRequest": {"Key": {"pk": {"S": "d"}, "sk": {"S": "s"}}}}]},
        message="duplicates")  # fmt: skip
    expect_error("ValidationException", ddb.batch_get_item, RequestItems={first: {"Keys": [{"pk": {"S": "d"}, "sk": {"S": "s"}}] * 2}},
                 message="duplicates")  # fmt: skip
    expect_error("ValidationException", ddb.batch_get_item,
                 RequestItems={first: {"Keys": [{"pk": {"S": f"k{i}"}, "sk": {"S": "s"}} for i in range(101)]}},
                 message="Too many items requested")  # fmt: skip
    # One bad element: the whole batch is refused and nothing is written.
    expect_error("ValidationException", ddb.batch_write_item, RequestItems={first: [
        {"PutRequest": {"Item": {"pk": {"S": "fine"}, "sk": {"S": "s"}}}}, {"PutRequest": {"Item": {"pk": {"S": "bad"}}}}]})  # fmt: skip
    assert "Item" not in ddb.get_item(TableName=first, Key={"pk": {"S": "fine"}, "sk": {"S": "s"}}, ConsistentRead=True)


def test_batch_write_limit(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name, range_key=None)
    raw = client(ddb.meta.endpoint_url, parameter_validation=False)  # botocore would refuse 26 itself
    expect_error("ValidationException", raw.batch_write_item,
                 RequestItems={ddb_table_name: [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}}}} for i in range(26)]},
                 message="less than or equal to 25")  # fmt: skip
    assert ddb.scan(TableName=ddb_table_name, ConsistentRead=True)["Count"] == 0


# -- transactions --------------------------------------------------------------------------------------------


def test_transact_write_and_get(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "acct1"}, "sk": {"S": "x"}, "bal": {"N": "100"}})
    ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "acct2"}, "sk": {"S": "x"}, "bal": {"N": "0"}})
    ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "bank"}, "sk": {"S": "x"}})
    ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": ddb_table_name, "Key": {"pk": {"S": "acct1"}, "sk": {"S": "x"}}, "UpdateExpression": "SET bal = bal - :a",
                    "ConditionExpression": "bal >= :a", "ExpressionAttributeValues": {":a": {"N": "30"}}}},
        {"Update": {"TableName": ddb_table_name, "Key": {"pk": {"S": "acct2"}, "sk": {"S": "x"}}, "UpdateExpression": "SET bal = bal + :a",
                    "ExpressionAttributeValues": {":a": {"N": "30"}}}},
        {"Put": {"TableName": ddb_table_name, "Item": {"pk": {"S": "log"}, "sk": {"S": "1"}}}},
        {"ConditionCheck": {"TableName": ddb_table_name, "Key": {"pk": {"S": "bank"}, "sk": {"S": "x"}}, "ConditionExpression": "attribute_exists(pk)"}},
    ])  # fmt: skip
    got = ddb.transact_get_items(TransactItems=[
        {"Get": {"TableName": ddb_table_name, "Key": {"pk": {"S": "acct1"}, "sk": {"S": "x"}}}},
        {"Get": {"TableName": ddb_table_name, "Key": {"pk": {"S": "nobody"}, "sk": {"S": "x"}}}},
        {"Get": {"TableName": ddb_table_name, "Key": {"pk": {"S": "acct2"}, "sk": {"S": "x"}}, "ProjectionExpression": "bal"}},
    ])["Responses"]  # fmt: skip
    assert got[0]["Item"]["bal"] == {"N": "70"}
    assert got[1] == {}
    assert got[2]["Item"] == {"bal": {"N": "30"}}
    err = expect_error("TransactionCanceledException", ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": ddb_table_name, "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
        {"Update": {"TableName": ddb_table_name, "Key": {"pk": {"S": "acct1"}, "sk": {"S": "x"}}, "UpdateExpression": "SET bal = bal - :a",
                    "ConditionExpression": "bal >= :a", "ExpressionAttributeValues": {":a": {"N": "1000"}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        {"ConditionCheck": {"TableName": ddb_table_name, "Key": {"pk": {"S": "ghost"}, "sk": {"S": "x"}}, "ConditionExpression": "attribute_exists(pk)"}},
    ], message="[None, ConditionalCheckFailed, ConditionalCheckFailed]")  # fmt: skip
    reasons = err.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed", "ConditionalCheckFailed"]
    assert reasons[1]["Item"]["bal"] == {"N": "70"}
    assert "Message" not in reasons[0]
    assert "Item" not in ddb.get_item(TableName=ddb_table_name, Key={"pk": {"S": "new"}, "sk": {"S": "1"}}, ConsistentRead=True)
    expect_error("ValidationException", ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": ddb_table_name, "Item": {"pk": {"S": "d"}, "sk": {"S": "1"}}}},
        {"Delete": {"TableName": ddb_table_name, "Key": {"pk": {"S": "d"}, "sk": {"S": "1"}}}},
    ], message="multiple operations on one item")  # fmt: skip


def test_transact_client_request_token(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    items = [{"Update": {"TableName": ddb_table_name, "Key": {"pk": {"S": "c"}, "sk": {"S": "1"}}, "UpdateExpression": "ADD n :one",
                         "ExpressionAttributeValues": {":one": {"N": "1"}}}}]  # fmt: skip
    ddb.transact_write_items(TransactItems=items, ClientRequestToken="token-1")
    ddb.transact_write_items(TransactItems=items, ClientRequestToken="token-1")  # a replay: applied once
    item = ddb.get_item(TableName=ddb_table_name, Key={"pk": {"S": "c"}, "sk": {"S": "1"}}, ConsistentRead=True)["Item"]
    assert item["n"] == {"N": "1"}
    other = [{"Put": {"TableName": ddb_table_name, "Item": {"pk": {"S": "c"}, "sk": {"S": "2"}}}}]
    expect_error("IdempotentParameterMismatchException", ddb.transact_write_items, TransactItems=other, ClientRequestToken="token-1")
    ddb.transact_write_items(TransactItems=items, ClientRequestToken="token-2")
    item = ddb.get_item(TableName=ddb_table_name, Key={"pk": {"S": "c"}, "sk": {"S": "1"}}, ConsistentRead=True)["Item"]
    assert item["n"] == {"N": "2"}


# -- PartiQL ----------------------------------------------------------------------------------------------------


def test_partiql_statements(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name, range_key=("sk", "N"))
    ddb.execute_statement(Statement=f"INSERT INTO \"{ddb_table_name}\" VALUE {{'pk': 'a', 'sk': 1, 'n': 0, 'tags': <<'x', 'y'>>, 'doc': {{'k': [1, 'two']}}}}")
    ddb.execute_statement(Statement=f'INSERT INTO "{ddb_table_name}" VALUE {{\'pk\': ?, \'sk\': ?, \'n\': 5}}',
                          Parameters=[{"S": "a"}, {"N": "2"}])  # fmt: skip
    expect_error("DuplicateItemException", ddb.execute_statement,
                 Statement=f"INSERT INTO \"{ddb_table_name}\" VALUE {{'pk': 'a', 'sk': 1}}")  # fmt: skip
    rows = ddb.execute_statement(Statement=f'SELECT * FROM "{ddb_table_name}" WHERE pk = ? ORDER BY sk DESC', Parameters=[{"S": "a"}],
                                 ConsistentRead=True)["Items"]  # fmt: skip
    assert [r["sk"]["N"] for r in rows] == ["2", "1"]
    assert sorted(rows[1]["tags"]["SS"]) == ["x", "y"]
    assert rows[1]["doc"] == {"M": {"k": {"L": [{"N": "1"}, {"S": "two"}]}}}
    rows = ddb.execute_statement(Statement=f'SELECT sk, n FROM "{ddb_table_name}" WHERE n > 1', ConsistentRead=True)["Items"]
    assert rows == [{"sk": {"N": "2"}, "n": {"N": "5"}}]
    updated = ddb.execute_statement(
        Statement=f"UPDATE \"{ddb_table_name}\" SET n = n + 1 SET tags = set_add(tags, <<'z'>>) REMOVE doc WHERE pk = 'a' AND sk = 1 RETURNING ALL NEW *"
    )["Items"][0]  # fmt: skip
    assert "doc" not in updated and sorted(updated["tags"]["SS"]) == ["x", "y", "z"]
    assert updated["n"] == {"N": "1"}
    expect_error("ValidationException", ddb.execute_statement,
                 Statement=f"UPDATE \"{ddb_table_name}\" SET n = nope + 1 WHERE pk = 'a' AND sk = 1")  # fmt: skip
    expect_error("ConditionalCheckFailedException", ddb.execute_statement,
                 Statement=f"UPDATE \"{ddb_table_name}\" SET n = 1 WHERE pk = 'zz' AND sk = 1")  # fmt: skip
    ddb.execute_statement(Statement=f"DELETE FROM \"{ddb_table_name}\" WHERE pk = 'a' AND sk = 2")
    ddb.execute_statement(Statement=f"DELETE FROM \"{ddb_table_name}\" WHERE pk = 'a' AND sk = 2")  # missing: still a success
    assert ddb.scan(TableName=ddb_table_name, ConsistentRead=True)["Count"] == 1
    batch = ddb.batch_execute_statement(Statements=[
        {"Statement": f"INSERT INTO \"{ddb_table_name}\" VALUE {{'pk': 'b', 'sk': 1}}"},
        {"Statement": f"INSERT INTO \"{ddb_table_name}\" VALUE {{'pk': 'a', 'sk': 1}}"},
    ])["Responses"]  # fmt: skip
    assert "Error" not in batch[0] and batch[1]["Error"]["Code"] == "DuplicateItem"
    expect_error("ValidationException", ddb.execute_statement, Statement=f'SELEC * FROM "{ddb_table_name}"')
    ddb.execute_transaction(TransactStatements=[
        {"Statement": f"INSERT INTO \"{ddb_table_name}\" VALUE {{'pk': 'c', 'sk': 1}}"},
        {"Statement": f"UPDATE \"{ddb_table_name}\" SET n = 100 WHERE pk = 'b' AND sk = 1"},
    ])  # fmt: skip
    assert ddb.get_item(TableName=ddb_table_name, Key={"pk": {"S": "b"}, "sk": {"N": "1"}}, ConsistentRead=True)["Item"]["n"] == {"N": "100"}


# -- TTL and tags ---------------------------------------------------------------------------------------------


def test_time_to_live_deletes_expired_items(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    assert ddb.describe_time_to_live(TableName=ddb_table_name)["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
    ddb.update_time_to_live(TableName=ddb_table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    described = ddb.describe_time_to_live(TableName=ddb_table_name)["TimeToLiveDescription"]
    assert described == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    now = int(time.time())
    ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "old"}, "sk": {"S": "1"}, "expires": {"N": str(now - 10)}})
    ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "future"}, "sk": {"S": "1"}, "expires": {"N": str(now + 3600)}})
    ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "ancient"}, "sk": {"S": "1"}, "expires": {"N": str(now - 6 * 365 * 86400)}})
    ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "text"}, "sk": {"S": "1"}, "expires": {"S": "0"}})
    deadline = time.monotonic() + 20
    while "Item" in ddb.get_item(TableName=ddb_table_name, Key={"pk": {"S": "old"}, "sk": {"S": "1"}}, ConsistentRead=True):
        assert time.monotonic() < deadline, "expired item was not deleted"
        time.sleep(0.5)
    left = {i["pk"]["S"] for i in ddb.scan(TableName=ddb_table_name, ConsistentRead=True)["Items"]}
    assert left == {"future", "ancient", "text"}
    expect_error("ValidationException", ddb.update_time_to_live, TableName=ddb_table_name,
                 TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})  # fmt: skip


def test_tags(ddb, ddb_table_name):
    arn = create_table(ddb, ddb_table_name)["TableDescription"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "db"}, {"Key": "env", "Value": "test"}])
    tags = ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "test"), ("team", "db")]
    ddb.untag_resource(ResourceArn=arn, TagKeys=["env"])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "db"}]
    expect_error("ResourceNotFoundException", ddb.list_tags_of_resource, ResourceArn=arn + "nope")


def test_consumed_capacity(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    put = ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "d": {"S": "x" * 1500}}, ReturnConsumedCapacity="TOTAL")
    assert put["ConsumedCapacity"] == {"TableName": ddb_table_name, "CapacityUnits": 2.0, "WriteCapacityUnits": 2.0}
    get = ddb.get_item(TableName=ddb_table_name, Key={"pk": {"S": "a"}, "sk": {"S": "1"}}, ReturnConsumedCapacity="TOTAL")
    assert get["ConsumedCapacity"]["CapacityUnits"] == 0.5  # eventually consistent: half a unit per 4 KB
    get = ddb.get_item(TableName=ddb_table_name, Key={"pk": {"S": "a"}, "sk": {"S": "1"}}, ReturnConsumedCapacity="TOTAL", ConsistentRead=True)
    assert get["ConsumedCapacity"]["CapacityUnits"] == 1.0


def test_legacy_parameters(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name, range_key=("sk", "N"))
    key = {"pk": {"S": "old"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=ddb_table_name, Item={**key, "v": {"N": "1"}, "s": {"SS": ["a", "b"]}},
                 Expected={"pk": {"Exists": False}})  # fmt: skip
    expect_error("ConditionalCheckFailedException", ddb.put_item, TableName=ddb_table_name, Item=key,
                 Expected={"v": {"Value": {"N": "2"}}})  # fmt: skip
    ddb.update_item(TableName=ddb_table_name, Key=key, AttributeUpdates={
        "v": {"Action": "ADD", "Value": {"N": "4"}}, "s": {"Action": "DELETE", "Value": {"SS": ["a"]}},
        "w": {"Action": "PUT", "Value": {"S": "new"}}}, Expected={"v": {"ComparisonOperator": "LE", "AttributeValueList": [{"N": "1"}]}})  # fmt: skip
    item = ddb.get_item(TableName=ddb_table_name, Key=key, AttributesToGet=["v", "s", "w"], ConsistentRead=True)["Item"]
    assert item == {"v": {"N": "5"}, "s": {"SS": ["b"]}, "w": {"S": "new"}}
    for i in range(2, 8):
        ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": "old"}, "sk": {"N": str(i)}, "v": {"N": str(i)}})
    result = ddb.query(TableName=ddb_table_name, ConsistentRead=True, KeyConditions={
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "old"}]},
        "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "2"}, {"N": "6"}]}},
        QueryFilter={"v": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "3"}]}})  # fmt: skip
    assert [int(i["sk"]["N"]) for i in result["Items"]] == [4, 5, 6] and result["ScannedCount"] == 5
    scanned = ddb.scan(TableName=ddb_table_name, ConsistentRead=True, ConditionalOperator="OR", ScanFilter={
        "v": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "2"}, {"N": "7"}]},
        "w": {"ComparisonOperator": "NOT_NULL"}})  # fmt: skip
    assert sorted(int(i["sk"]["N"]) for i in scanned["Items"]) == [1, 2, 7]
    expect_error("ValidationException", ddb.query, TableName=ddb_table_name,
                 KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "old"}]}},
                 KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "old"}},
                 message="Can not use both expression and non-expression parameters")  # fmt: skip


def test_describe_table_counts_items(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    for i in range(7):
        ddb.put_item(TableName=ddb_table_name, Item={"pk": {"S": f"p{i}"}, "sk": {"S": "x"}, "pad": {"S": "y" * 100}})
    table = ddb.describe_table(TableName=ddb_table_name)["Table"]
    # DynamoDB refreshes these about every six hours; dsql counts small tables at once.
    assert table["ItemCount"] == 7
    assert table["TableSizeBytes"] == 7 * (len("pk") + 2 + len("sk") + 1 + len("pad") + 100)


def test_transaction_limits(ddb, ddb_table_name):
    create_table(ddb, ddb_table_name, range_key=None)
    raw = client(ddb.meta.endpoint_url, parameter_validation=False)  # botocore would refuse these itself
    puts = [{"Put": {"TableName": ddb_table_name, "Item": {"pk": {"S": f"k{i}"}}}} for i in range(101)]
    expect_error("ValidationException", raw.transact_write_items, TransactItems=puts, message="less than or equal to 100")
    ddb.transact_write_items(TransactItems=puts[:100])  # exactly at the limit
    assert ddb.scan(TableName=ddb_table_name, ConsistentRead=True, Select="COUNT")["Count"] == 100
    gets = [{"Get": {"TableName": ddb_table_name, "Key": {"pk": {"S": f"k{i}"}}}} for i in range(101)]
    expect_error("ValidationException", raw.transact_get_items, TransactItems=gets, message="less than or equal to 100")
    assert len(ddb.transact_get_items(TransactItems=gets[:100])["Responses"]) == 100
    expect_error("ValidationException", ddb.transact_get_items, TransactItems=gets[:1] * 2, message="multiple operations on one item")
    expect_error("ValidationException", raw.transact_write_items, ClientRequestToken="x" * 37,
                 TransactItems=[{"Put": {"TableName": ddb_table_name, "Item": {"pk": {"S": "t"}}}}])  # fmt: skip
