"""Multi-attribute (composite) GSI keys, with boto3 over real HTTP against `dsql serve`.

DynamoDB (Nov 2025) lets a global secondary index's partition key be made of
up to 4 attributes and its sort key of up to 4 more. The rules tested here
are the Developer Guide's ("Multi-attribute key schema" in GSI.html, and
GSI.DesignPattern.MultiAttributeKeys.html); moto does not implement the
feature, so there is no differential comparison:

- KeySchema lists every HASH element, then every RANGE element, in order;
  only GSIs may have more than one of either (tables and LSIs keep 1 + 1);
- an item lacking any of the index's key attributes is not in the index;
  key attributes of the wrong type are refused at write time, as for any GSI;
- a Query names every partition key attribute with `=`; sort key attributes
  are used left to right without gaps, with equalities on a prefix and any
  other comparison (<, <=, >, >=, BETWEEN, begins_with) only on the last one;
  a FilterExpression may not name the index's key attributes;
- results are sorted by the first sort attribute, then the second, ..., each
  by its own type (numbers numerically).

The exact wording of DynamoDB's messages for the new KeySchema checks is not
in the documentation, so those tests check the error type and the subject of
the message, not its text.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from botocore.exceptions import ClientError
from dynamodb_support import eventually

# Fixtures: ddb_server, ddb, ddb_table_name, ddb_names (tests/dynamodb_servers.py).
pytest_plugins = ["dynamodb_servers"]

INDEX = "byPlace"


def expect_error(code: str, call, *args, message: str | None = None, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    error = info.value.response["Error"]
    assert error["Code"] == code, info.value.response
    if message is not None:
        assert message in error["Message"], error["Message"]
    return info.value


def gsi(name: str, hashes: list[str], ranges: list[str], projection: str = "ALL") -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": a, "KeyType": "HASH"} for a in hashes]
        + [{"AttributeName": a, "KeyType": "RANGE"} for a in ranges],
        "Projection": {"ProjectionType": projection},
    }


def create(
    ddb, name: str, types: dict[str, str], indexes: list[dict[str, Any]], **kwargs: Any
) -> dict[str, Any]:
    """An on-demand table keyed by `id` (S) with the given GSIs; `types` defines their attributes."""
    definitions = [{"AttributeName": "id", "AttributeType": "S"}]
    definitions += [{"AttributeName": a, "AttributeType": t} for a, t in types.items()]
    return ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=definitions,
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=indexes,
        **kwargs,
    )


# The table most tests use: partition key (region S, year N), sort key (city S, rank N).
PLACE_TYPES = {"region": "S", "year": "N", "city": "S", "rank": "N"}


@pytest.fixture
def places(ddb, ddb_table_name) -> str:
    create(ddb, ddb_table_name, PLACE_TYPES, [gsi(INDEX, ["region", "year"], ["city", "rank"])])
    return ddb_table_name


def put(ddb, table: str, **attrs: Any) -> None:
    item = {}
    for name, value in attrs.items():
        item[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    ddb.put_item(TableName=table, Item=item)


def query_ids(ddb, table: str, expression: str, values: dict[str, Any], **kwargs: Any) -> list[str]:
    wire = {k: ({"N": str(v)} if isinstance(v, int) else {"S": v}) for k, v in values.items()}
    items: list[str] = []
    start = None
    while True:
        extra = dict(kwargs)
        if start is not None:
            extra["ExclusiveStartKey"] = start
        page = ddb.query(
            TableName=table,
            IndexName=INDEX,
            KeyConditionExpression=expression,
            ExpressionAttributeValues=wire,
            **extra,
        )
        items += [i["id"]["S"] for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if start is None:
            return items


# -- CreateTable, DescribeTable, UpdateTable --------------------------------------------------------


def test_create_and_describe_composite_keys(ddb, ddb_table_name):
    types = (
        {f"h{i}": "S" for i in range(1, 5)}
        | {"r1": "N", "r2": "S", "r3": "B", "r4": "S"}
        | {"x": "S", "y": "N"}
    )
    created = create(
        ddb,
        ddb_table_name,
        types,
        [
            gsi("wide", ["h1", "h2", "h3", "h4"], ["r1", "r2", "r3", "r4"]),
            gsi("twoHash", ["x", "y"], [], projection="KEYS_ONLY"),
            gsi("plain", ["x"], ["y"]),
        ],
    )["TableDescription"]
    for description in (created, ddb.describe_table(TableName=ddb_table_name)["Table"]):
        indexes = {i["IndexName"]: i for i in description["GlobalSecondaryIndexes"]}
        assert indexes["wide"]["KeySchema"] == [
            {"AttributeName": f"h{i}", "KeyType": "HASH"} for i in range(1, 5)
        ] + [{"AttributeName": f"r{i}", "KeyType": "RANGE"} for i in range(1, 5)]
        assert indexes["twoHash"]["KeySchema"] == [
            {"AttributeName": "x", "KeyType": "HASH"},
            {"AttributeName": "y", "KeyType": "HASH"},
        ]
        assert indexes["twoHash"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
        assert indexes["plain"]["KeySchema"] == [
            {"AttributeName": "x", "KeyType": "HASH"},
            {"AttributeName": "y", "KeyType": "RANGE"},
        ]
        defined = {d["AttributeName"]: d["AttributeType"] for d in description["AttributeDefinitions"]}
        assert defined == {"id": "S"} | types


def _bad_schemas() -> list[tuple[str, dict[str, str], list[dict[str, str]], str]]:
    def ks(*pairs: str) -> list[dict[str, str]]:
        return [{"AttributeName": p.split(":")[0], "KeyType": p.split(":")[1]} for p in pairs]

    letters = "abcde"
    s = dict.fromkeys(letters, "S")
    return [
        ("five hash", s, ks(*(f"{a}:HASH" for a in letters)), "HASH"),
        ("five range", s | {"h": "S"}, ks("h:HASH", *(f"{a}:RANGE" for a in letters)), "RANGE"),
        ("range first", s, ks("a:RANGE", "b:HASH", "c:HASH"), "HASH"),
        ("interleaved", s, ks("a:HASH", "b:RANGE", "c:HASH"), "RANGE"),
        ("duplicate hash", s, ks("a:HASH", "a:HASH"), "a"),
        ("hash and range", s, ks("a:HASH", "b:HASH", "a:RANGE"), "a"),
        ("undefined", {"a": "S"}, ks("a:HASH", "b:HASH"), "AttributeDefinitions"),
    ]


@pytest.mark.parametrize("case", _bad_schemas(), ids=lambda c: c[0])
def test_create_refuses_bad_composite_key_schemas(ddb, ddb_table_name, case):
    _, types, key_schema, subject = case
    used = {e["AttributeName"] for e in key_schema}
    index = {"IndexName": "bad", "KeySchema": key_schema, "Projection": {"ProjectionType": "ALL"}}
    err = expect_error(
        "ValidationException",
        create,
        ddb,
        ddb_table_name,
        {a: t for a, t in types.items() if a in used},
        [index],
    )
    assert subject in err.response["Error"]["Message"]
    # Nothing was created.
    expect_error("ResourceNotFoundException", ddb.describe_table, TableName=ddb_table_name)


def test_tables_and_lsis_keep_single_attribute_keys(ddb, ddb_table_name):
    # Multi-attribute keys are for GSIs only (Developer Guide, GSI.MultiAttributeKeys).
    definitions = [{"AttributeName": a, "AttributeType": "S"} for a in ("p", "q", "s", "l")]
    expect_error(
        "ValidationException",
        ddb.create_table,
        TableName=ddb_table_name,
        KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "q", "KeyType": "HASH"}],
        AttributeDefinitions=definitions[:2],
        BillingMode="PAY_PER_REQUEST",
    )
    expect_error(
        "ValidationException",
        ddb.create_table,
        TableName=ddb_table_name,
        KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}],
        AttributeDefinitions=[definitions[0], definitions[2], definitions[3]],
        BillingMode="PAY_PER_REQUEST",
        LocalSecondaryIndexes=[
            {
                "IndexName": "lsi",
                "KeySchema": [
                    {"AttributeName": "p", "KeyType": "HASH"},
                    {"AttributeName": "s", "KeyType": "RANGE"},
                    {"AttributeName": "l", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    expect_error("ResourceNotFoundException", ddb.describe_table, TableName=ddb_table_name)


def test_update_table_adds_composite_gsi_and_backfills(ddb, ddb_table_name):
    ddb.create_table(
        TableName=ddb_table_name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    put(ddb, ddb_table_name, id="a", region="eu", year=2024, city="Oslo", rank=1)
    put(ddb, ddb_table_name, id="b", region="eu", year=2024, city="Bergen", rank=2)
    put(ddb, ddb_table_name, id="c", region="eu", year=2024, city="Oslo")  # no rank: not indexed
    put(ddb, ddb_table_name, id="d", region="eu", year="2024", city="Oslo", rank=3)  # year is S: not indexed
    definitions = [{"AttributeName": a, "AttributeType": t} for a, t in PLACE_TYPES.items()]
    # Refused first (5 HASH attributes), which must leave the table as it was.
    five = [{"AttributeName": f"x{i}", "AttributeType": "S"} for i in range(5)]
    expect_error(
        "ValidationException",
        ddb.update_table,
        TableName=ddb_table_name,
        AttributeDefinitions=five,
        GlobalSecondaryIndexUpdates=[{"Create": gsi("bad", [f"x{i}" for i in range(5)], [])}],
    )
    assert "GlobalSecondaryIndexes" not in ddb.describe_table(TableName=ddb_table_name)["Table"]
    described = ddb.update_table(
        TableName=ddb_table_name,
        AttributeDefinitions=definitions,
        GlobalSecondaryIndexUpdates=[{"Create": gsi(INDEX, ["region", "year"], ["city", "rank"])}],
    )["TableDescription"]
    (index,) = described["GlobalSecondaryIndexes"]
    assert [e["KeyType"] for e in index["KeySchema"]] == ["HASH", "HASH", "RANGE", "RANGE"]
    status = eventually(
        lambda: ddb.describe_table(TableName=ddb_table_name)["Table"]["GlobalSecondaryIndexes"][0][
            "IndexStatus"
        ],
        lambda s: s == "ACTIVE",
        timeout_s=30,
    )
    assert status == "ACTIVE"
    found = eventually(
        lambda: query_ids(
            ddb,
            ddb_table_name,
            "#r = :r AND #y = :y",
            {":r": "eu", ":y": 2024},
            ExpressionAttributeNames={"#r": "region", "#y": "year"},
        ),  # fmt: skip
        lambda ids: len(ids) >= 2,
    )
    assert found == ["b", "a"]  # Bergen < Oslo


# -- writes: sparse entries and type checks ------------------------------------------------------------


def test_items_missing_any_key_attribute_are_not_indexed(ddb, places):
    put(ddb, places, id="full", region="na", year=2025, city="Austin", rank=7)
    put(ddb, places, id="noYear", region="na", city="Austin", rank=7)
    put(ddb, places, id="noRank", region="na", year=2025, city="Austin")
    scanned = eventually(
        lambda: [i["id"]["S"] for i in ddb.scan(TableName=places, IndexName=INDEX)["Items"]],
        lambda ids: "full" in ids,
    )
    assert scanned == ["full"]
    q = "#r = :r AND #y = :y"
    names = {"#r": "region", "#y": "year"}
    # Adding the missing attribute puts the item in the index; removing one takes it out.
    ddb.update_item(
        TableName=places, Key={"id": {"S": "noRank"}}, UpdateExpression="SET #k = :k",
        ExpressionAttributeNames={"#k": "rank"}, ExpressionAttributeValues={":k": {"N": "1"}},
    )  # fmt: skip
    found = eventually(
        lambda: query_ids(ddb, places, q, {":r": "na", ":y": 2025}, ExpressionAttributeNames=names),
        lambda ids: len(ids) == 2,
    )
    assert found == ["noRank", "full"]  # same city: rank 1 before rank 7
    ddb.update_item(
        TableName=places,
        Key={"id": {"S": "full"}},
        UpdateExpression="REMOVE #y",
        ExpressionAttributeNames={"#y": "year"},
    )
    found = eventually(
        lambda: query_ids(ddb, places, q, {":r": "na", ":y": 2025}, ExpressionAttributeNames=names),
        lambda ids: ids == ["noRank"],
    )
    assert found == ["noRank"]


def test_wrong_key_attribute_types_are_refused(ddb, places):
    put(ddb, places, id="x", region="eu", year=2020, city="Rome", rank=1)
    before = ddb.get_item(TableName=places, Key={"id": {"S": "x"}}, ConsistentRead=True)["Item"]
    # A later attribute of either key with the wrong type, as DynamoDB refuses any GSI key of the wrong type.
    for attr, value in (("year", {"S": "2020"}), ("rank", {"S": "first"})):
        item = {
            "id": {"S": "x"},
            "region": {"S": "eu"},
            "year": {"N": "2021"},
            "city": {"S": "Rome"},
            "rank": {"N": "2"},
        }
        item[attr] = value
        expect_error(
            "ValidationException", ddb.put_item, TableName=places, Item=item,
            message=f"Type mismatch for Index Key {attr} Expected: N Actual: S IndexName: {INDEX}",
        )  # fmt: skip
    expect_error(
        "ValidationException", ddb.update_item, TableName=places, Key={"id": {"S": "x"}},
        UpdateExpression="SET city = :c", ExpressionAttributeValues={":c": {"N": "5"}},
        message=f"Type mismatch for Index Key city Expected: S Actual: N IndexName: {INDEX}",
    )  # fmt: skip
    expect_error(
        "ValidationException", ddb.put_item, TableName=places,
        Item={"id": {"S": "x"}, "region": {"S": "eu"}, "year": {"N": "1"}, "city": {"S": ""}, "rank": {"N": "1"}},
        message="empty string value",
    )  # fmt: skip
    # The refused writes changed nothing.
    assert ddb.get_item(TableName=places, Key={"id": {"S": "x"}}, ConsistentRead=True)["Item"] == before


# -- Query rules ------------------------------------------------------------------------------------------


def _load_city_ranks(ddb, table: str) -> None:
    rows = [("a", "Oslo", 10), ("b", "Oslo", 9), ("c", "Oslo", 100), ("d", "Bergen", 5), ("e", "Trondheim", 1),
            ("f", "Oslomarka", 2)]  # fmt: skip
    for ident, city, rank in rows:
        put(ddb, table, id=ident, region="no", year=2024, city=city, rank=rank)
    put(ddb, table, id="other", region="no", year=2023, city="Oslo", rank=1)
    eventually(
        lambda: query_ids(
            ddb,
            table,
            "#r = :r AND #y = :y",
            {":r": "no", ":y": 2024},
            ExpressionAttributeNames={"#r": "region", "#y": "year"},
        ),  # fmt: skip
        lambda ids: len(ids) == 6,
    )


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        (
            "",
            {},
            ["d", "b", "a", "c", "f", "e"],
        ),  # Bergen, Oslo 9 < 10 < 100 numerically, Oslomarka, Trondheim
        (" AND city = :c", {":c": "Oslo"}, ["b", "a", "c"]),
        (" AND city = :c AND #k = :k", {":c": "Oslo", ":k": 10}, ["a"]),
        (" AND city = :c AND #k > :k", {":c": "Oslo", ":k": 9}, ["a", "c"]),
        (" AND city = :c AND #k <= :k", {":c": "Oslo", ":k": 10}, ["b", "a"]),
        (" AND city = :c AND #k BETWEEN :lo AND :hi", {":c": "Oslo", ":lo": 10, ":hi": 100}, ["a", "c"]),
        (" AND city < :c", {":c": "Oslo"}, ["d"]),
        (" AND city > :c", {":c": "Oslo"}, ["f", "e"]),
        (" AND city >= :c", {":c": "Oslo"}, ["b", "a", "c", "f", "e"]),
        (" AND city <= :c", {":c": "Oslo"}, ["d", "b", "a", "c"]),
        (" AND begins_with(city, :c)", {":c": "Oslo"}, ["b", "a", "c", "f"]),
        (" AND city BETWEEN :lo AND :hi", {":lo": "C", ":hi": "Oslo"}, ["b", "a", "c"]),
    ],
)
def test_query_sort_conditions_left_to_right(ddb, places, condition, values, expected):
    _load_city_ranks(ddb, places)
    names = {"#r": "region", "#y": "year"} | ({"#k": "rank"} if "#k" in condition else {})
    all_values = {":r": "no", ":y": 2024} | values
    q = "#r = :r AND #y = :y" + condition
    assert query_ids(ddb, places, q, all_values, ExpressionAttributeNames=names) == expected
    assert (
        query_ids(ddb, places, q, all_values, ExpressionAttributeNames=names, ScanIndexForward=False)
        == expected[::-1]
    )
    # Paging one item at a time gives the same items, and each LastEvaluatedKey names every key attribute.
    assert query_ids(ddb, places, q, all_values, ExpressionAttributeNames=names, Limit=1) == expected
    if expected:
        page = ddb.query(
            TableName=places, IndexName=INDEX, KeyConditionExpression=q, ExpressionAttributeNames=names, Limit=1,
            ExpressionAttributeValues={k: ({"N": str(v)} if isinstance(v, int) else {"S": v}) for k, v in all_values.items()},
        )  # fmt: skip
        assert set(page["LastEvaluatedKey"]) == {"id", "region", "year", "city", "rank"}


@pytest.mark.parametrize(
    ("condition", "values", "message"),
    [
        ("#r = :r", {":r": "no"}, "Query condition missed key schema element: year"),
        ("#y = :y", {":y": 2024}, "Query condition missed key schema element: region"),
        ("#r = :r AND #y > :y", {":r": "no", ":y": 2024}, "Query key condition not supported"),
        (
            "#r = :r AND #y = :y AND #k = :k",
            {":r": "no", ":y": 2024, ":k": 1},
            "missed key schema element: city",
        ),
        (
            "#r = :r AND #y = :y AND city > :c AND #k = :k",
            {":r": "no", ":y": 2024, ":c": "A", ":k": 1},
            "Query key condition not supported",
        ),  # fmt: skip
        (
            "#r = :r AND #y = :y AND begins_with(city, :c) AND #k = :k",
            {":r": "no", ":y": 2024, ":c": "A", ":k": 1},
            "Query key condition not supported",
        ),  # fmt: skip
        (
            "#r = :r AND #y = :y AND colour = :c",
            {":r": "no", ":y": 2024, ":c": "red"},
            "Query key condition not supported",
        ),  # fmt: skip
        (
            "#r = :r AND #y = :y",
            {":r": "no", ":y": "2024"},
            "Condition parameter type does not match schema type",
        ),
        ("#r = :r AND #y = :y AND #y = :y", {":r": "no", ":y": 2024}, "only contain one condition per key"),
    ],
)
def test_query_refuses_conditions_outside_the_rules(ddb, places, condition, values, message):
    names = {k: v for k, v in {"#r": "region", "#y": "year", "#k": "rank"}.items() if k in condition}
    wire = {k: ({"N": str(v)} if isinstance(v, int) else {"S": v}) for k, v in values.items()}
    expect_error(
        "ValidationException", ddb.query, TableName=places, IndexName=INDEX, KeyConditionExpression=condition,
        ExpressionAttributeNames=names, ExpressionAttributeValues=wire, message=message,
    )  # fmt: skip


def test_query_filter_start_key_and_consistency_rules(ddb, places):
    _load_city_ranks(ddb, places)
    base = {
        "TableName": places, "IndexName": INDEX, "KeyConditionExpression": "#r = :r AND #y = :y",
        "ExpressionAttributeNames": {"#r": "region", "#y": "year"},
    }  # fmt: skip
    values = {":r": {"S": "no"}, ":y": {"N": "2024"}}
    # A filter may not name any of the index's key attributes, sort attributes included ...
    for attr in ("city", "#r"):
        expect_error(
            "ValidationException", ddb.query, **base, FilterExpression=f"{attr} = :f",
            ExpressionAttributeValues=values | {":f": {"S": "Oslo"}},
            message="Filter Expression can only contain non-primary key attributes",
        )  # fmt: skip
    # ... but it may name the table's key.
    page = ddb.query(
        **base, FilterExpression="id = :f", ExpressionAttributeValues=values | {":f": {"S": "c"}}
    )
    assert [i["id"]["S"] for i in page["Items"]] == ["c"]
    # ExclusiveStartKey needs every key attribute, and the queried partition.
    start = {
        "id": {"S": "b"},
        "region": {"S": "no"},
        "year": {"N": "2024"},
        "city": {"S": "Oslo"},
        "rank": {"N": "9"},
    }
    page = ddb.query(**base, ExpressionAttributeValues=values, ExclusiveStartKey=start)
    assert [i["id"]["S"] for i in page["Items"]] == ["a", "c", "f", "e"]
    expect_error(
        "ValidationException", ddb.query, **base, ExpressionAttributeValues=values,
        ExclusiveStartKey={k: v for k, v in start.items() if k != "rank"}, message="The provided starting key is invalid",
    )  # fmt: skip
    expect_error(
        "ValidationException", ddb.query, **base, ExpressionAttributeValues=values,
        ExclusiveStartKey=start | {"year": {"N": "2023"}}, message="outside query boundaries",
    )  # fmt: skip
    expect_error(
        "ValidationException", ddb.query, **base, ExpressionAttributeValues=values, ConsistentRead=True,
        message="Consistent reads are not supported on global secondary indexes",
    )  # fmt: skip


def test_legacy_key_conditions_and_partiql_on_composite_index(ddb, places):
    # DynamoDB accepts the legacy KeyConditions on a multi-attribute GSI as on any
    # GSI (scylladb/scylladb#31393 records the behaviour observed on DynamoDB).
    _load_city_ranks(ddb, places)
    page = ddb.query(
        TableName=places,
        IndexName=INDEX,
        KeyConditions={
            "region": {"AttributeValueList": [{"S": "no"}], "ComparisonOperator": "EQ"},
            "year": {"AttributeValueList": [{"N": "2024"}], "ComparisonOperator": "EQ"},
            "city": {"AttributeValueList": [{"S": "Oslo"}], "ComparisonOperator": "EQ"},
        },
    )
    assert [i["id"]["S"] for i in page["Items"]] == ["b", "a", "c"]
    result = ddb.execute_statement(
        Statement=f'SELECT id FROM "{places}"."{INDEX}" WHERE region = ? AND "year" = ? AND city = ?',
        Parameters=[{"S": "no"}, {"N": "2024"}, {"S": "Oslo"}],
    )
    assert sorted(i["id"]["S"] for i in result["Items"]) == ["a", "b", "c"]


# -- against a model: random items, every valid query shape --------------------------------------------


def _sort_value(value: Any) -> Any:
    return value.encode() if isinstance(value, str) else value  # S sorts by UTF-8 bytes, N numerically


def test_random_items_match_a_model(ddb, ddb_table_name):
    """Random items over 2 HASH (S, N) + 3 RANGE (N, S, N) attributes, some missing
    attributes; every query shape the rules allow, compared with a model."""
    types = {"h1": "S", "h2": "N", "r1": "N", "r2": "S", "r3": "N"}
    create(ddb, ddb_table_name, types, [gsi(INDEX, ["h1", "h2"], ["r1", "r2", "r3"])])
    rng = random.Random(15)
    items: list[dict[str, Any]] = []
    for n in range(120):
        item: dict[str, Any] = {"id": f"i{n:03d}", "h1": rng.choice(["a", "b"]), "h2": rng.choice([1, 2])}
        item |= {
            "r1": rng.choice([-5, 0, 3, 20]),
            "r2": rng.choice(["x", "xy", "y", "é"]),
            "r3": rng.randint(0, 3),
        }
        if rng.random() < 0.15:
            del item[rng.choice(list(types))]
        items.append(item)
        ddb.put_item(
            TableName=ddb_table_name,
            Item={k: {"N": str(v)} if isinstance(v, int) else {"S": v} for k, v in item.items()},
        )
    indexed = [i for i in items if all(a in i for a in types)]
    eventually(
        lambda: ddb.scan(TableName=ddb_table_name, IndexName=INDEX, Select="COUNT")["Count"],
        lambda count: count == len(indexed),
    )
    # A Scan of the index, paged, gives every indexed item once.
    scanned, start = [], None
    while True:
        page = ddb.scan(
            TableName=ddb_table_name,
            IndexName=INDEX,
            Limit=9,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        scanned += [i["id"]["S"] for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
    assert sorted(scanned) == sorted(i["id"] for i in indexed)
    ops = ["=", "<", "<=", ">", ">=", "BETWEEN", "begins_with"]
    for _ in range(60):
        h1, h2 = rng.choice(["a", "b"]), rng.choice([1, 2])
        depth = rng.randint(0, 3)
        names = ["r1", "r2", "r3"][:depth]
        parts = ["h1 = :h1", "h2 = :h2"]
        values: dict[str, Any] = {":h1": h1, ":h2": h2}
        checks = []
        for position, name in enumerate(names):
            last = position == depth - 1
            op = rng.choice([o for o in ops if o != "begins_with" or name == "r2"]) if last else "="
            sample = rng.choice([i[name] for i in indexed])
            if op == "BETWEEN":
                other = rng.choice([i[name] for i in indexed])
                low, high = sorted([sample, other], key=_sort_value)
                parts.append(f"{name} BETWEEN :{name}lo AND :{name}hi")
                values |= {f":{name}lo": low, f":{name}hi": high}
                checks.append(
                    lambda i, n=name, lo=low, hi=high: _sort_value(lo) <= _sort_value(i[n]) <= _sort_value(hi)
                )
            elif op == "begins_with":
                prefix = sample[:1]
                parts.append(f"begins_with({name}, :{name})")
                values[f":{name}"] = prefix
                checks.append(lambda i, n=name, p=prefix: i[n].startswith(p))
            else:
                parts.append(f"{name} {op} :{name}")
                values[f":{name}"] = sample
                compare = {"=": "__eq__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}[op]
                checks.append(
                    lambda i, n=name, v=sample, c=compare: getattr(_sort_value(i[n]), c)(_sort_value(v))
                )
        expected = [
            i for i in indexed if i["h1"] == h1 and i["h2"] == h2 and all(check(i) for check in checks)
        ]
        expected.sort(key=lambda i: (i["r1"], i["r2"].encode(), i["r3"]))
        expression = " AND ".join(parts)
        pages = []
        start = None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            page = ddb.query(
                TableName=ddb_table_name, IndexName=INDEX, KeyConditionExpression=expression, Limit=7,
                ExpressionAttributeValues={k: {"N": str(v)} if isinstance(v, int) else {"S": v} for k, v in values.items()},
                **extra,
            )  # fmt: skip
            pages += page["Items"]
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        got = [(i["r1"]["N"], i["r2"]["S"], i["r3"]["N"], i["id"]["S"]) for i in pages]
        # Items with equal sort keys may come in any order: compare the sort keys in
        # order, and the items as a set.
        assert [g[:3] for g in got] == [(str(i["r1"]), i["r2"], str(i["r3"])) for i in expected], expression
        assert sorted(g[3] for g in got) == sorted(i["id"] for i in expected), expression
