"""Differential suite: the same boto3 call sequences against dsql and moto's server, compared field by field.

Each scenario is a list of steps (operation, parameters) run in order on a
fresh table of the same name on both servers. Every step's outcome, the
response or the error code (and the message where `messages=True`), is
normalised (volatile fields such as creation times, ids and account numbers
dropped; sets and unordered results sorted) and must be equal.

Where moto is known to differ from DynamoDB, the step says so (`MotoGap`)
and carries DynamoDB's documented outcome, which dsql must give instead;
`KNOWN_MOTO_GAPS` lists them with their sources.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from dynamodb_support import CREDENTIALS, client

pytest_plugins = ["dynamodb_servers"]


# How long an eventually consistent read on dsql (a GSI) may take to show what moto, which is
# always consistent, already shows.
EVENTUAL_CONVERGENCE_S = 10.0


@dataclass(frozen=True)
class MotoGap:
    """moto (5.2.x) answers this step differently from DynamoDB; dsql must give `expected`."""

    why: str
    expected: Any  # the normalised outcome DynamoDB documents


@dataclass
class Step:
    operation: str
    params: dict[str, Any]
    messages: bool = False  # compare error messages too, not only codes
    gap: MotoGap | None = None
    keep: tuple[str, ...] = ()  # compare only these response fields (when the rest is volatile)
    eventual: bool = False  # an eventually consistent read (a GSI): dsql's answer may take a moment to converge


@dataclass
class Scenario:
    name: str
    steps: list[Step]
    tables: list[dict[str, Any]] = field(default_factory=list)  # CreateTable parameters ("{T}" is the table name)


KNOWN_MOTO_GAPS = {
    "numbers": "moto returns Number strings as sent ('1.50', '1e2'); DynamoDB stores exact decimals and returns them "
    "canonical ('1.5', '100') — Developer Guide, Data types: Number, 'Leading and trailing zeroes are trimmed'.",
    "ns_duplicates": "moto accepts a number set whose members are equal numbers written differently ('1', '1.0'); "
    "DynamoDB refuses duplicates in a set — Developer Guide, Data types: sets 'must be unique'.",
    "unused_names_on_get": "moto accepts unused ExpressionAttributeNames on GetItem; DynamoDB refuses unused "
    "names and values in every operation ('Value provided in ExpressionAttributeNames unused in expressions').",
    "index_key_type": "moto stores an item whose secondary-index key attribute has the wrong type; DynamoDB "
    "checks index key types on every write ('Type mismatch for Index Key', Developer Guide: GSI).",
    "digits": "moto stores numbers of more than 38 significant digits; DynamoDB refuses them ('Attempting to store "
    "more than 38 significant digits in a Number', Developer Guide: quotas).",
    "size_of_missing": "moto answers 500 to size() of an attribute the item lacks; in DynamoDB the comparison is "
    "simply false, so the condition fails (ConditionalCheckFailedException).",
    "query_key_filter": "moto accepts a Query FilterExpression on a key attribute; DynamoDB refuses it ('Filter "
    "Expression can only contain non-primary key attributes', Developer Guide: Query).",
    "query_key_type": "moto returns an empty page for a key condition value of the wrong type; DynamoDB refuses it "
    "('Condition parameter type does not match schema type').",
    "begins_with_number": "moto answers 500 to begins_with on a Number sort key; DynamoDB refuses it with a "
    "ValidationException (begins_with takes S or B).",
    "batch_duplicates": "moto accepts a BatchWriteItem that names one key twice; DynamoDB refuses it ('Provided list "
    "of item keys contains duplicates').",
    "unused_values": "moto evaluates a condition with an unused ExpressionAttributeValues entry; DynamoDB refuses "
    "the request ('Value provided in ExpressionAttributeValues unused in expressions').",
    "undefined_placeholder": "moto answers 500 to an expression that uses an undefined :value or #name; DynamoDB "
    "refuses it with a ValidationException naming the placeholder.",
    "ss_duplicates": "moto stores a string set with duplicate members; DynamoDB refuses it ('Input collection ... "
    "contains duplicates').",
    "key_message": "moto's message for a Key that does not match the schema is 'Validation Exception'; DynamoDB's is "
    "'The provided key element does not match the schema'.",
    "partiql_writes": "moto's experimental PartiQL answers 500 to UPDATE and DELETE and accepts a duplicate INSERT; "
    "DynamoDB updates/deletes the item and refuses the INSERT with DuplicateItemException (Developer Guide: PartiQL).",
    "empty_collections": "moto adds empty 'ItemCollectionMetrics' to BatchWriteItem/TransactWriteItems responses and "
    "empty index lists to DescribeTable; DynamoDB leaves them out (ignored by the comparison).",
    "updated_nested": "for UPDATED_OLD/UPDATED_NEW after a nested update (m.k, l[0]) moto returns the whole top-level "
    "attributes; DynamoDB returns only the updated document paths, nested as in the item (Alternator's "
    "test_update_item_returnvalues_nested, run against DynamoDB).",
    "tag_overwrite": "moto keeps a second tag with the same key when a key is tagged again; DynamoDB replaces the "
    "value ('If you try to add an existing tag (same key), the existing tag value will be updated', API reference: Tag).",
    "overlap_prefix": "moto prefixes the overlapping-paths message with '1 validation error detected: '; DynamoDB's "
    "message starts 'Invalid UpdateExpression:' (codes compared only).",
}


def base_table(**extra: Any) -> dict[str, Any]:
    table = {
        "TableName": "{T}",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    table.update(extra)
    return table


def key(pk: str, sk: int) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}}


def put(pk: str, sk: int, **attrs: Any) -> Step:
    return Step("PutItem", {"TableName": "{T}", "Item": {**key(pk, sk), **attrs}})


def get(pk: str, sk: int, **params: Any) -> Step:
    return Step("GetItem", {"TableName": "{T}", "Key": key(pk, sk), "ConsistentRead": True, **params})


def query(**params: Any) -> Step:
    return Step("Query", {"TableName": "{T}", "ConsistentRead": True, **params})


def items_of(n: int, pk: str = "a") -> list[Step]:
    return [put(pk, i, v={"N": str(i * 10)}, word={"S": f"w{i % 3}"}, flag={"BOOL": i % 2 == 0}) for i in range(n)]


SCENARIOS = [
    Scenario("every_type", [
        put("a", 1, s={"S": "text"}, e={"S": ""}, b={"B": b"\x00\xff"}, t={"BOOL": True}, z={"NULL": True},
            m={"M": {"x": {"L": [{"N": "1"}, {"S": "y"}]}}}, ss={"SS": ["b", "a"]}, bs={"BS": [b"1", b"2"]}, l={"L": []}),
        get("a", 1), get("a", 2),
        get("a", 1, ProjectionExpression="m.x[1], s, #t", ExpressionAttributeNames={"#t": "t"}),
        Step("DeleteItem", {"TableName": "{T}", "Key": key("a", 1), "ReturnValues": "ALL_OLD"}),
        get("a", 1),
    ], tables=[base_table()]),
    Scenario("numbers", [
        put("n", 1, x={"N": "1.50"}, y={"N": "1e2"}, big={"N": "9" * 38}),
        Step("GetItem", {"TableName": "{T}", "Key": key("n", 1), "ConsistentRead": True, "ProjectionExpression": "x, y"},
             gap=MotoGap(KNOWN_MOTO_GAPS["numbers"], {"Item": {"x": {"N": "1.5"}, "y": {"N": "100"}}})),
        Step("UpdateItem", {"TableName": "{T}", "Key": key("n", 1), "UpdateExpression": "SET big = big + :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}, "ReturnValues": "UPDATED_NEW"}),
        Step("PutItem", {"TableName": "{T}", "Item": {**key("n", 2), "x": {"NS": ["1", "1.0"]}}},
             gap=MotoGap(KNOWN_MOTO_GAPS["ns_duplicates"], ("error", "ValidationException"))),
        Step("PutItem", {"TableName": "{T}", "Item": {**key("n", 3), "x": {"N": "1" * 39}}},
             gap=MotoGap(KNOWN_MOTO_GAPS["digits"], ("error", "ValidationException"))),
        Step("PutItem", {"TableName": "{T}", "Item": {**key("n", 3), "x": {"N": "abc"}}}),
    ], tables=[base_table()]),
    Scenario("conditions", [
        put("c", 1, v={"N": "1"}, s={"S": "hello"}, l={"L": [{"S": "x"}]}),
        Step("PutItem", {"TableName": "{T}", "Item": key("c", 1), "ConditionExpression": "attribute_not_exists(pk)",
                         "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}, messages=True),
        Step("PutItem", {"TableName": "{T}", "Item": {**key("c", 1), "v": {"N": "2"}}, "ConditionExpression": "v = :one AND begins_with(s, :h)",
                         "ExpressionAttributeValues": {":one": {"N": "1"}, ":h": {"S": "he"}}, "ReturnValues": "ALL_OLD"}),
        Step("DeleteItem", {"TableName": "{T}", "Key": key("c", 1), "ConditionExpression": "size(s) > :n OR contains(l, :x)",
                            "ExpressionAttributeValues": {":n": {"N": "10"}, ":x": {"S": "x"}}},
             gap=MotoGap(KNOWN_MOTO_GAPS["size_of_missing"], ("error", "ConditionalCheckFailedException"))),
        Step("DeleteItem", {"TableName": "{T}", "Key": key("c", 1), "ConditionExpression": "attribute_exists(v)"}),
        Step("DeleteItem", {"TableName": "{T}", "Key": key("c", 1), "ConditionExpression": "attribute_exists(v)"}, messages=True),
        Step("UpdateItem", {"TableName": "{T}", "Key": key("c", 2), "UpdateExpression": "SET v = :one",
                            "ConditionExpression": "v IN (:one, :two)",
                            "ExpressionAttributeValues": {":one": {"N": "1"}, ":two": {"N": "2"}}}),
        get("c", 2),
    ], tables=[base_table()]),
    Scenario("updates", [
        put("u", 1, n={"N": "5"}, l={"L": [{"N": "1"}, {"N": "2"}]}, ss={"SS": ["a", "b"]}, m={"M": {"k": {"S": "v"}}}),
        Step("UpdateItem", {"TableName": "{T}", "Key": key("u", 1),
                            "UpdateExpression": "SET n = n + :d, l = list_append(l, :l), m.k2 = :s, fresh = if_not_exists(fresh, :d) ADD cnt :d, ss :ss",
                            "ExpressionAttributeValues": {":d": {"N": "3"}, ":l": {"L": [{"N": "9"}]}, ":s": {"S": "w"}, ":ss": {"SS": ["c"]}},
                            "ReturnValues": "ALL_NEW"}),
        Step("UpdateItem", {"TableName": "{T}", "Key": key("u", 1), "UpdateExpression": "REMOVE l[0], m.k DELETE ss :a",
                            "ExpressionAttributeValues": {":a": {"SS": ["a"]}}, "ReturnValues": "UPDATED_OLD"},
             gap=MotoGap(KNOWN_MOTO_GAPS["updated_nested"], {"Attributes": {"l": {"L": [{"N": "1"}]}, "m": {"M": {"k": {"S": "v"}}},
                                                                           "ss": {"SS": ["a", "b", "c"]}}})),
        Step("UpdateItem", {"TableName": "{T}", "Key": key("u", 1), "UpdateExpression": "SET n = n - :d",
                            "ExpressionAttributeValues": {":d": {"N": "1"}}, "ReturnValues": "UPDATED_NEW"}),
        Step("UpdateItem", {"TableName": "{T}", "Key": key("u", 2), "UpdateExpression": "SET a = :v",
                            "ExpressionAttributeValues": {":v": {"S": "new"}}, "ReturnValues": "ALL_OLD"}),
        get("u", 1), get("u", 2),
        Step("UpdateItem", {"TableName": "{T}", "Key": key("u", 1), "UpdateExpression": "SET pk = :v",
                            "ExpressionAttributeValues": {":v": {"S": "x"}}}, messages=True),
        Step("UpdateItem", {"TableName": "{T}", "Key": key("u", 1), "UpdateExpression": "SET a = :v, a.b = :v",
                            "ExpressionAttributeValues": {":v": {"S": "x"}}}),  # messages differ: overlap_prefix
        Step("UpdateItem", {"TableName": "{T}", "Key": key("u", 1), "UpdateExpression": "SET n = nope + :v",
                            "ExpressionAttributeValues": {":v": {"N": "1"}}}, messages=True),
        Step("UpdateItem", {"TableName": "{T}", "Key": key("u", 1), "UpdateExpression": "ADD m :v",
                            "ExpressionAttributeValues": {":v": {"N": "1"}}}),
    ], tables=[base_table()]),
    Scenario("query", [
        *items_of(12),
        *items_of(3, pk="b"),
        query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}}),
        query(KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi", ExpressionAttributeValues={":p": {"S": "a"}, ":lo": {"N": "3"}, ":hi": {"N": "7"}}),
        query(KeyConditionExpression="pk = :p AND sk > :lo", ExpressionAttributeValues={":p": {"S": "a"}, ":lo": {"N": "8"}}, ScanIndexForward=False),
        query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}}, Limit=4),
        query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}}, Limit=4, ExclusiveStartKey=key("a", 3)),
        query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}, ":w": {"S": "w1"}}, FilterExpression="word = :w"),
        query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}, ":w": {"S": "w1"}}, FilterExpression="word = :w", Limit=5),
        query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}}, Select="COUNT"),
        query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}}, ProjectionExpression="sk, #w",
              ExpressionAttributeNames={"#w": "word"}),
        query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "zz"}}),
        Step("Query", {"TableName": "{T}", "KeyConditionExpression": "sk = :s", "ExpressionAttributeValues": {":s": {"N": "1"}}}, messages=True),
        Step("Query", {"TableName": "{T}", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}, ":x": {"N": "1"}},
                       "FilterExpression": "sk > :x"}, gap=MotoGap(KNOWN_MOTO_GAPS["query_key_filter"], ("error", "ValidationException"))),
        Step("Query", {"TableName": "{T}", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"N": "1"}}},
             gap=MotoGap(KNOWN_MOTO_GAPS["query_key_type"], ("error", "ValidationException"))),
        Step("Query", {"TableName": "{T}", "KeyConditionExpression": "pk = :p AND begins_with(sk, :x)",
                       "ExpressionAttributeValues": {":p": {"S": "a"}, ":x": {"N": "1"}}},
             gap=MotoGap(KNOWN_MOTO_GAPS["begins_with_number"], ("error", "ValidationException"))),
    ], tables=[base_table()]),
    Scenario("scan", [
        *items_of(8),
        Step("Scan", {"TableName": "{T}", "ConsistentRead": True}),
        Step("Scan", {"TableName": "{T}", "FilterExpression": "v >= :x", "ExpressionAttributeValues": {":x": {"N": "50"}},
                      "ConsistentRead": True}),
        Step("Scan", {"TableName": "{T}", "Select": "COUNT", "ConsistentRead": True}),
        Step("Scan", {"TableName": "{T}", "Segment": 3, "TotalSegments": 2}),
    ], tables=[base_table()]),
    Scenario("batches", [
        Step("BatchWriteItem", {"RequestItems": {"{T}": [{"PutRequest": {"Item": {**key("k", i), "v": {"S": "x"}}}} for i in range(10)]}}),
        Step("BatchGetItem", {"RequestItems": {"{T}": {"Keys": [key("k", i) for i in (1, 3, 99)], "ConsistentRead": True}}}),
        Step("BatchWriteItem", {"RequestItems": {"{T}": [{"DeleteRequest": {"Key": key("k", i)}} for i in range(5)]}}),
        Step("Scan", {"TableName": "{T}", "Select": "COUNT", "ConsistentRead": True}),
        Step("BatchWriteItem", {"RequestItems": {"{T}": [{"PutRequest": {"Item": key("k", 1)}}, {"DeleteRequest": {"Key": key("k", 1)}}]}},
             gap=MotoGap(KNOWN_MOTO_GAPS["batch_duplicates"], ("error", "ValidationException"))),
        Step("BatchGetItem", {"RequestItems": {"{T}": {"Keys": [key("k", 1), key("k", 1)]}}}, messages=True),
    ], tables=[base_table()]),
    Scenario("transactions", [
        put("t", 1, bal={"N": "10"}),
        Step("TransactWriteItems", {"TransactItems": [
            {"Update": {"TableName": "{T}", "Key": key("t", 1), "UpdateExpression": "SET bal = bal - :x", "ConditionExpression": "bal >= :x",
                        "ExpressionAttributeValues": {":x": {"N": "4"}}}},
            {"Put": {"TableName": "{T}", "Item": {**key("t", 2), "bal": {"N": "4"}}}},
        ]}),
        Step("TransactWriteItems", {"TransactItems": [
            {"Put": {"TableName": "{T}", "Item": key("t", 3)}},
            {"Update": {"TableName": "{T}", "Key": key("t", 1), "UpdateExpression": "SET bal = bal - :x", "ConditionExpression": "bal >= :x",
                        "ExpressionAttributeValues": {":x": {"N": "400"}}, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"ConditionCheck": {"TableName": "{T}", "Key": key("t", 9), "ConditionExpression": "attribute_exists(pk)"}},
        ]}, messages=True),
        Step("TransactGetItems", {"TransactItems": [{"Get": {"TableName": "{T}", "Key": key("t", i)}} for i in (1, 2, 3)]}),
        Step("TransactWriteItems", {"TransactItems": [
            {"Put": {"TableName": "{T}", "Item": key("t", 5)}}, {"Delete": {"TableName": "{T}", "Key": key("t", 5)}}]}, messages=True),
    ], tables=[base_table()]),
    Scenario("validation", [
        Step("PutItem", {"TableName": "{T}", "Item": {"pk": {"S": "a"}}}, messages=True),
        Step("PutItem", {"TableName": "{T}", "Item": {"pk": {"S": "a"}, "sk": {"S": "1"}}}, messages=True),
        Step("PutItem", {"TableName": "{T}", "Item": {"pk": {"S": ""}, "sk": {"N": "1"}}}),
        Step("GetItem", {"TableName": "{T}", "Key": {"pk": {"S": "a"}}},
             gap=MotoGap(KNOWN_MOTO_GAPS["key_message"],
                         ("error", "ValidationException", "The provided key element does not match the schema"))),
        Step("GetItem", {"TableName": "{T}", "Key": key("a", 1), "ProjectionExpression": "x", "ExpressionAttributeNames": {"#u": "u"}},
             gap=MotoGap(KNOWN_MOTO_GAPS["unused_names_on_get"], ("error", "ValidationException"))),
        Step("PutItem", {"TableName": "{T}", "Item": key("a", 1), "ConditionExpression": "a = :a",
                         "ExpressionAttributeValues": {":a": {"S": "x"}, ":b": {"S": "y"}}},
             gap=MotoGap(KNOWN_MOTO_GAPS["unused_values"], ("error", "ValidationException",
                         "Value provided in ExpressionAttributeValues unused in expressions: keys: {:b}"))),
        Step("PutItem", {"TableName": "{T}", "Item": key("a", 1), "ConditionExpression": "a = :zz",
                         "ExpressionAttributeValues": {":a": {"S": "x"}}},
             gap=MotoGap(KNOWN_MOTO_GAPS["undefined_placeholder"], ("error", "ValidationException",
                         "Invalid ConditionExpression: An expression attribute value used in expression is not defined; "
                         "attribute value: :zz"))),
        Step("PutItem", {"TableName": "{T}", "Item": key("a", 1), "ConditionExpression": "#zz = :a",
                         "ExpressionAttributeValues": {":a": {"S": "x"}}},
             gap=MotoGap(KNOWN_MOTO_GAPS["undefined_placeholder"], ("error", "ValidationException",
                         "Invalid ConditionExpression: An expression attribute name used in the document path is not "
                         "defined; attribute name: #zz"))),
        Step("PutItem", {"TableName": "{T}", "Item": key("a", 1), "ConditionExpression": "status = :a",
                         "ExpressionAttributeValues": {":a": {"S": "x"}}}, messages=True),
        Step("PutItem", {"TableName": "{T}", "Item": {**key("a", 1), "x": {"SS": ["a", "a"]}}},
             gap=MotoGap(KNOWN_MOTO_GAPS["ss_duplicates"], ("error", "ValidationException"))),
        Step("PutItem", {"TableName": "{T}", "Item": {**key("a", 1), "x": {"S": "y" * 410000}}}, messages=True),
        Step("PutItem", {"TableName": "{T}", "Item": key("a", 1), "ReturnValues": "ALL_NEW"}),
        Step("GetItem", {"TableName": "NoSuchTableAnywhere", "Key": key("a", 1)}),
    ], tables=[base_table()]),
    Scenario("indexes", [
        *[put("a", i, g={"S": "x" if i % 2 else "y"}, r={"N": str(100 - i)}, extra={"S": "e"}) for i in range(6)],
        put("a", 9, extra={"S": "no index keys"}),
        Step("Query", {"TableName": "{T}", "IndexName": "gsi", "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": "x"}}},
             eventual=True),
        Step("Query", {"TableName": "{T}", "IndexName": "gsi", "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": "x"}},
                       "Limit": 2}, eventual=True),
        Step("Query", {"TableName": "{T}", "IndexName": "lsi", "KeyConditionExpression": "pk = :p AND r < :r",
                       "ExpressionAttributeValues": {":p": {"S": "a"}, ":r": {"N": "98"}}, "ConsistentRead": True}),
        Step("Query", {"TableName": "{T}", "IndexName": "gsi", "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": "x"}},
                       "ConsistentRead": True}, messages=True),
        Step("Scan", {"TableName": "{T}", "IndexName": "gsi", "Select": "COUNT"}, eventual=True),
        Step("PutItem", {"TableName": "{T}", "Item": {**key("a", 7), "g": {"N": "5"}}},
             gap=MotoGap(KNOWN_MOTO_GAPS["index_key_type"], ("error", "ValidationException"))),
    ], tables=[base_table(
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
                              {"AttributeName": "g", "AttributeType": "S"}, {"AttributeName": "r", "AttributeType": "N"}],
        GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        LocalSecondaryIndexes=[{"IndexName": "lsi", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
                                "Projection": {"ProjectionType": "ALL"}}],
    )]),
    Scenario("describe", [
        Step("DescribeTable", {"TableName": "{T}"}, keep=("Table",)),
        Step("DescribeTimeToLive", {"TableName": "{T}"}),
        Step("UpdateTimeToLive", {"TableName": "{T}", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "exp"}}),
        Step("DescribeTimeToLive", {"TableName": "{T}"}),
        Step("DescribeTable", {"TableName": "NoSuchTableAnywhere"}, messages=True),
        Step("CreateTable", base_table(), messages=False),
    ], tables=[base_table()]),
    Scenario("tags", [
        # "{ARN}" is the table's ARN on each server (their account numbers differ).
        Step("TagResource", {"ResourceArn": "{ARN}", "Tags": [{"Key": f"k{i:02d}", "Value": f"v{i}"} for i in range(12)]}),
        Step("ListTagsOfResource", {"ResourceArn": "{ARN}"}),  # a first page of 10, NextToken to go on
        Step("ListTagsOfResource", {"ResourceArn": "{ARN}", "NextToken": "k09"}),
        Step("UntagResource", {"ResourceArn": "{ARN}", "TagKeys": ["k01", "k05", "absent"]}),
        Step("ListTagsOfResource", {"ResourceArn": "{ARN}"}),
        Step("TagResource", {"ResourceArn": "{ARN}", "Tags": [{"Key": "k02", "Value": "changed"}]}),
        Step("ListTagsOfResource", {"ResourceArn": "{ARN}"}, gap=MotoGap(KNOWN_MOTO_GAPS["tag_overwrite"], {"Tags": [
            {"Key": "k00", "Value": "v0"}, {"Key": "k02", "Value": "changed"}, *[{"Key": f"k{i:02d}", "Value": f"v{i}"} for i in (3, 4, 6, 7, 8, 9, 10, 11)],
        ]})),
    ], tables=[base_table()]),
    Scenario("partiql", [
        Step("ExecuteStatement", {"Statement": "INSERT INTO \"{T}\" VALUE {'pk': 'p', 'sk': 1, 'v': 'one'}"}),
        Step("ExecuteStatement", {"Statement": "INSERT INTO \"{T}\" VALUE {'pk': 'p', 'sk': 2, 'v': 'two'}"}),
        Step("ExecuteStatement", {"Statement": "SELECT * FROM \"{T}\" WHERE pk = ? AND sk = ?", "Parameters": [{"S": "p"}, {"N": "2"}],
                                  "ConsistentRead": True}),
        Step("ExecuteStatement", {"Statement": "UPDATE \"{T}\" SET v = 'uno' WHERE pk = 'p' AND sk = 1"},
             gap=MotoGap(KNOWN_MOTO_GAPS["partiql_writes"], {"Items": []})),
        Step("ExecuteStatement", {"Statement": "DELETE FROM \"{T}\" WHERE pk = 'p' AND sk = 2"},
             gap=MotoGap(KNOWN_MOTO_GAPS["partiql_writes"], {"Items": []})),
        Step("ExecuteStatement", {"Statement": "SELECT v FROM \"{T}\" WHERE pk = 'p'", "ConsistentRead": True},
             gap=MotoGap(KNOWN_MOTO_GAPS["partiql_writes"], {"Items": [{"v": {"S": "uno"}}]})),
        Step("ExecuteStatement", {"Statement": "INSERT INTO \"{T}\" VALUE {'pk': 'p', 'sk': 1}"},
             gap=MotoGap(KNOWN_MOTO_GAPS["partiql_writes"], ("error", "DuplicateItemException"))),
    ], tables=[base_table()]),
]


# -- running and comparing ----------------------------------------------------------------------------


def _substitute(value: Any, table: str, arn: str = "") -> Any:
    if isinstance(value, str):
        return value.replace("{ARN}", arn).replace("{T}", table)
    if isinstance(value, dict):
        return {_substitute(k, table, arn): _substitute(v, table, arn) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, table, arn) for v in value]
    return value


_VOLATILE = {"CreationDateTime", "TableArn", "TableId", "LatestStreamArn", "LatestStreamLabel", "IndexArn",
             "LastUpdateToPayPerRequestDateTime", "ItemCount", "TableSizeBytes", "IndexSizeBytes", "WarmThroughput",
             "DeletionProtectionEnabled", "TableClassSummary", "ConsumedCapacity", "LastIncreaseDateTime", "LastDecreaseDateTime"}  # fmt: skip


def normalise(value: Any) -> Any:
    """Comparable form: volatile fields out, sets sorted, item lists in key order."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in _VOLATILE or k == "ResponseMetadata":
                continue
            if k in ("ItemCollectionMetrics", "LocalSecondaryIndexes", "GlobalSecondaryIndexes") and not v:
                continue  # KNOWN_MOTO_GAPS["empty_collections"]
            if k in ("SS", "NS", "BS") and isinstance(v, list):
                out[k] = sorted(v)
            else:
                out[k] = normalise(v)
        return out
    if isinstance(value, list):
        items = [normalise(v) for v in value]
        return items
    return value


def _sort_items(response: dict[str, Any], ordered: bool) -> dict[str, Any]:
    # Scan results and BatchGetItem responses come in no defined order.
    if not ordered and isinstance(response.get("Items"), list):
        response["Items"] = sorted(response["Items"], key=repr)
    if "Responses" in response and isinstance(response["Responses"], dict):
        response["Responses"] = {t: sorted(v, key=repr) for t, v in response["Responses"].items()}
    return response


def outcome(c: Any, step: Step, table: str, arn: str = "") -> Any:
    params = _substitute(copy.deepcopy(step.params), table, arn)
    method = getattr(c, "".join("_" + ch.lower() if ch.isupper() else ch for ch in step.operation).lstrip("_"))
    try:
        response = method(**params)
    except ClientError as exc:
        error = ("error", exc.response["Error"]["Code"])
        wants_message = step.gap is not None and isinstance(step.gap.expected, tuple) and len(step.gap.expected) > 2
        if step.messages or wants_message:
            error += (exc.response["Error"]["Message"].replace(table, "{T}"),)
        return error
    response = normalise(response)
    if step.keep:
        response = {k: v for k, v in response.items() if k in step.keep}
    ordered = step.operation == "Query"
    response = _sort_items(response, ordered)
    return _substitute_back(response, table)


def _substitute_back(value: Any, table: str) -> Any:
    if isinstance(value, str):
        return value.replace(table, "{T}")
    if isinstance(value, dict):
        return {_substitute_back(k, table): _substitute_back(v, table) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_back(v, table) for v in value]
    return value


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_same_answers_as_moto(scenario: Scenario, ddb_server, moto, ddb_table_name):
    dsql_client = client(ddb_server.dynamodb_url, parameter_validation=False, retries={"total_max_attempts": 1})
    moto_client = client(moto.url, parameter_validation=False, retries={"total_max_attempts": 1})
    arns = {}
    for spec in scenario.tables:
        for c in (dsql_client, moto_client):
            arns[c] = c.create_table(**_substitute(spec, ddb_table_name))["TableDescription"]["TableArn"]
    differences = []
    for n, step in enumerate(scenario.steps):
        theirs = outcome(moto_client, step, ddb_table_name, arns.get(moto_client, ""))
        ours = outcome(dsql_client, step, ddb_table_name, arns.get(dsql_client, ""))
        deadline = time.monotonic() + EVENTUAL_CONVERGENCE_S
        while step.eventual and ours != theirs and time.monotonic() < deadline:
            time.sleep(0.05)
            ours = outcome(dsql_client, step, ddb_table_name, arns.get(dsql_client, ""))
        if step.gap is not None:
            expected = step.gap.expected
            got = ours if not (isinstance(expected, tuple) and isinstance(ours, tuple)) else ours[: len(expected)]
            if got != expected:
                differences.append(f"step {n} {step.operation}: dsql {ours!r}, DynamoDB documents {expected!r} ({step.gap.why})")
            continue
        if ours != theirs:
            differences.append(f"step {n} {step.operation}:\n  dsql: {ours!r}\n  moto: {theirs!r}")
    for c in (dsql_client, moto_client):
        if scenario.tables:
            try:
                c.delete_table(TableName=ddb_table_name)
            except ClientError:
                pass
    assert not differences, "\n".join(differences)


# -- DynamoDB Streams ---------------------------------------------------------------------------------

# moto implements the Streams API in part (one shard, no retention, no iterator expiry, 500s for bad
# iterators and unknown shards), so only what both do is compared: the records of changing writes and the
# stream's description. Where moto differs from DynamoDB's documentation the test says so.
_STREAM_VOLATILE = {"eventID", "ApproximateCreationDateTime", "SequenceNumber", "SizeBytes", "StreamArn",
                    "StreamLabel", "CreationRequestDateTime", "Shards", "LastEvaluatedShardId"}  # fmt: skip
MOTO_STREAM_GAPS = {
    "no_op_put": "moto writes a MODIFY record for a PutItem of an identical item; DynamoDB writes none ('If you "
    "perform a PutItem or UpdateItem operation that does not change any data in an item, DynamoDB Streams does "
    "not write a stream record for that operation' — Developer Guide, Change data capture for DynamoDB Streams).",
    "event_version": "moto's records have eventVersion '1.0'; DynamoDB's current record format is '1.1' (the "
    "Lambda and GetRecords examples in the Developer Guide).",
}


def _stream_shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stream_shape(v) for k, v in value.items() if k not in _STREAM_VOLATILE and k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_stream_shape(v) for v in value]
    return value


def _stream_records(streams_client: Any, arn: str) -> list[dict[str, Any]]:
    shard = streams_client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams_client.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return streams_client.get_records(ShardIterator=iterator)["Records"]


@pytest.mark.parametrize("view", ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"])
def test_streams_same_records_as_moto(view, ddb_server, moto, ddb_table_name):
    answers = {}
    for name, url in (("dsql", ddb_server.dynamodb_url), ("moto", moto.url)):
        c = client(url, retries={"total_max_attempts": 1})
        s = boto3.client("dynamodbstreams", endpoint_url=url, config=Config(retries={"total_max_attempts": 1}), **CREDENTIALS)
        table = {**_substitute(base_table(), ddb_table_name),
                 "StreamSpecification": {"StreamEnabled": True, "StreamViewType": view}}  # fmt: skip
        arn = c.create_table(**table)["TableDescription"]["LatestStreamArn"]
        t = ddb_table_name
        c.put_item(TableName=t, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"N": "1"}})
        c.update_item(TableName=t, Key={"pk": {"S": "a"}, "sk": {"N": "1"}}, UpdateExpression="SET v = :v",
                      ExpressionAttributeValues={":v": {"N": "2"}})  # fmt: skip
        c.put_item(TableName=t, Item={"pk": {"S": "b"}, "sk": {"N": "2"}, "m": {"M": {"x": {"L": [{"S": "y"}]}}}})
        c.batch_write_item(RequestItems={t: [{"DeleteRequest": {"Key": {"pk": {"S": "b"}, "sk": {"N": "2"}}}}]})
        c.delete_item(TableName=t, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})
        records = _stream_records(s, arn)
        # What moto gets wrong (MOTO_STREAM_GAPS["event_version"]) is checked against the documentation.
        versions = {r.pop("eventVersion") for r in records}
        answers[name] = {
            "records": _stream_shape(records),
            "versions": versions,
            "describe": _stream_shape(s.describe_stream(StreamArn=arn)["StreamDescription"]),
            "listed": [_stream_shape(x) for x in s.list_streams(TableName=t)["Streams"]],
            "unknown_table": s.list_streams(TableName=t + "Missing")["Streams"],
        }
        # An identical PutItem: no record in DynamoDB (MOTO_STREAM_GAPS["no_op_put"]).
        c.put_item(TableName=t, Item={"pk": {"S": "c"}, "sk": {"N": "3"}})
        c.put_item(TableName=t, Item={"pk": {"S": "c"}, "sk": {"N": "3"}})
        answers[name]["after_no_op"] = [r["eventName"] for r in _stream_records(s, arn)][len(records) :]
        c.delete_table(TableName=t)
    ours, theirs = answers["dsql"], answers["moto"]
    assert ours["versions"] == {"1.1"}, MOTO_STREAM_GAPS["event_version"]
    assert ours["after_no_op"] == ["INSERT"], MOTO_STREAM_GAPS["no_op_put"]
    for field_name in ("records", "describe", "listed", "unknown_table"):
        assert ours[field_name] == theirs[field_name], field_name
    assert [r["eventName"] for r in ours["records"]] == ["INSERT", "MODIFY", "INSERT", "REMOVE", "REMOVE"]
