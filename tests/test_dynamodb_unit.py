"""The DynamoDB API's pure parts, without a server: numbers, values, keys, expressions, SigV4, PartiQL parsing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from kv.dynamodb import keycodec, numbers
from kv.dynamodb import values as av
from kv.dynamodb.errors import DynamoError
from kv.dynamodb.expr_ast import And, Compare, Not, Or
from kv.dynamodb.expr_eval import apply_update, evaluate, project
from kv.dynamodb.expr_parser import Placeholders, parse_condition, parse_projection, parse_update
from kv.dynamodb.partiql_parse import Statement
from kv.dynamodb.sigv4 import SigV4Verifier
from kv.dynamodb.table_requests import table_from_request


def fails(code: str, fn, *args, match: str = "", **kwargs) -> DynamoError:
    with pytest.raises(DynamoError) as info:
        fn(*args, **kwargs)
    assert info.value.type_name == code
    assert match in (info.value.message or ""), info.value.message
    return info.value


# -- numbers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("1", "1"), ("1.50", "1.5"), ("-0", "0"), ("0.000", "0"), ("1e2", "100"), ("1E+2", "100"), ("+7", "7"),
     (".5", "0.5"), ("5.", "5"), ("-12.3400", "-12.34"), ("1E-130", "0." + "0" * 129 + "1"), ("9" * 38, "9" * 38),
     ("123456789012345678901234567890123456780000", "123456789012345678901234567890123456780000")],
)  # fmt: skip
def test_number_canonical_forms(text, canonical):
    assert numbers.normalize(text) == canonical


@pytest.mark.parametrize(
    ("text", "match"),
    [("1" * 39, "38 significant digits"), ("1E126", "overflow"), ("-1E126", "overflow"), ("1E-131", "underflow"),
     ("NaN", "numeric"), ("Infinity", "numeric"), ("", "numeric"), (" 1", "numeric"), ("1,000", "numeric"), ("0x10", "numeric")],
)  # fmt: skip
def test_number_limits(text, match):
    fails("ValidationException", numbers.normalize, text, match=match)


def test_number_arithmetic_is_exact():
    assert numbers.add("0.1", "0.2") == "0.3"
    assert numbers.add("9" * 37, "1") == "1" + "0" * 37
    assert numbers.subtract("1E-130", "1E-130") == "0"
    assert numbers.add("9" * 38, "1") == "1" + "0" * 38  # one significant digit
    fails("ValidationException", numbers.add, "9" * 38, "0.1", match="38 significant digits")
    fails("ValidationException", numbers.add, "9.9E125", "9.9E125", match="overflow")


# -- values -------------------------------------------------------------------------------------------


def test_item_size_follows_the_developer_guide():
    assert av.item_size({"shirt-color": {"S": "R"}, "shirt-size": {"S": "M"}}) == 23
    assert av.size({"BOOL": True}) == 1 and av.size({"NULL": True}) == 1
    assert av.size({"N": "12345"}) == 4  # 3 bytes for 5 digits, plus 1
    assert av.size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (2 + 1) + (2 + 1)
    assert av.size({"M": {"k": {"S": "v"}}}) == 3 + (1 + 1 + 1)


def test_wire_values_in_and_out():
    value = av.from_wire({"M": {"b": {"B": "AAEC"}, "n": {"NS": ["1.0", "2"]}, "l": {"L": [{"NULL": True}]}}})
    assert value == {"M": {"b": {"B": b"\x00\x01\x02"}, "n": {"NS": ["1", "2"]}, "l": {"L": [{"NULL": True}]}}}
    assert av.to_wire(value) == {"M": {"b": {"B": "AAEC"}, "n": {"NS": ["1", "2"]}, "l": {"L": [{"NULL": True}]}}}
    fails("SerializationException", av.from_wire, {"B": "***"})
    fails("SerializationException", av.from_wire, {"S": 1})
    fails("ValidationException", av.from_wire, {"NULL": False}, match="Null attribute value types must have the value of true")
    fails("ValidationException", av.from_wire, {"SS": []}, match="may not be empty")
    fails("ValidationException", av.from_wire, {"NS": ["1", "1.00"]}, match="duplicates")
    fails("ValidationException", av.from_wire, {}, match="exactly one of the supported datatypes")
    fails("ValidationException", av.from_wire, {"S": "a", "N": "1"}, match="more than one datatypes")


def test_value_comparison():
    assert av.equal({"SS": ["a", "b"]}, {"SS": ["b", "a"]})
    assert not av.equal({"N": "1"}, {"S": "1"})
    assert av.compare({"N": "10"}, {"N": "9"}) == 1
    assert av.compare({"S": "é"}, {"S": "z"}) == 1  # UTF-8 bytes: 0xC3 > 0x7A
    assert av.compare({"B": b"\x00"}, {"B": b""}) == 1
    assert av.compare({"N": "1"}, {"S": "1"}) is None
    assert av.compare({"BOOL": True}, {"BOOL": False}) is None


# -- key encoding ---------------------------------------------------------------------------------------------

decimal_numbers = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda d: d == 0 or (-130 <= d.adjusted() <= 125 and len(d.normalize().as_tuple().digits) <= 38)
)


@settings(max_examples=300, deadline=None)
@given(decimal_numbers, decimal_numbers)
def test_number_keys_sort_by_value(a, b):
    ka = keycodec.encode_key_value({"N": numbers.canonical(a)})
    kb = keycodec.encode_key_value({"N": numbers.canonical(b)})
    assert (ka < kb) == (a < b) and (ka == kb) == (a == b)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_string_keys_sort_bytewise_and_prefix_scans_find_prefixes(a, b):
    ka, kb = keycodec.encode_key_value({"S": a}), keycodec.encode_key_value({"S": b})
    assert (ka < kb) == (a.encode() < b.encode())
    assert kb.startswith(keycodec.encode_prefix_value({"S": a})) == b.encode().startswith(a.encode())


def test_item_keys_spread_over_the_hash_space_and_segments_cover_it():
    prefixes = {keycodec.item_key(7, {"S": f"user{i}"}, None)[1:2] for i in range(2000)}
    assert len(prefixes) > 200  # the first hash byte varies: partitions spread over the shards
    bounds = [keycodec.segment_bounds(s, 7) for s in range(7)]
    assert bounds[0][0] == keycodec.NS + bytes(4) and bounds[-1][1] == keycodec.NS_END
    assert all(bounds[i][1] == bounds[i + 1][0] for i in range(6))
    key = keycodec.item_key(7, {"S": "x"}, {"N": "1"})
    assert keycodec.owner_ids(key) == (7, 0)


# -- expressions -----------------------------------------------------------------------------------------------


def placeholders(**values) -> Placeholders:
    return Placeholders(values={f":{k}": v for k, v in values.items()})


def test_condition_precedence_and_keywords():
    ph = placeholders(a={"N": "1"})
    tree = parse_condition("x = :a OR y = :a and NOT z = :a", ph)
    assert isinstance(tree, Or) and isinstance(tree.right, And) and isinstance(tree.right.right, Not)
    assert isinstance(parse_condition("(x = :a)", ph), Compare)
    fails("ValidationException", parse_condition, "BEGINS_WITH(x, :a)", ph, match="Invalid function name")
    fails("ValidationException", parse_condition, "x = :a AND", ph, match='token: "<EOF>"')
    fails("ValidationException", parse_condition, "x === :a", ph, match="Syntax error")
    fails("ValidationException", parse_condition, "size = :a", ph, match="reserved keyword: size")
    fails("ValidationException", parse_condition, "x < :b", Placeholders(values={":b": {"BOOL": True}}), match="operand type: BOOLEAN")
    fails("ValidationException", parse_condition, "x BETWEEN :h AND :l", Placeholders(values={":h": {"N": "2"}, ":l": {"N": "1"}}),
          match="upper bound to be greater than or equal to lower bound")  # fmt: skip
    fails("ValidationException", parse_condition, "x IN (" + ", ".join([":a"] * 101) + ")", ph, match="too many operands")
    fails("ValidationException", parse_condition, "a" * 4097 + " = :a", ph, match="Expression size has exceeded")
    fails("ValidationException", parse_condition, "   ", ph, match="can not be empty")


def test_condition_evaluation():
    item = {"n": {"N": "5"}, "s": {"S": "hello"}, "l": {"L": [{"N": "1"}, {"M": {"k": {"S": "v"}}}]}, "ss": {"SS": ["a"]}}
    ph = Placeholders(
        names={"#k": "k"},
        values={":5": {"N": "5"}, ":9": {"N": "9"}, ":v": {"S": "v"}, ":he": {"S": "he"}, ":a": {"S": "a"}, ":L": {"S": "L"}},
    )
    cases = {
        "n = :5": True, "n <> :9": True, "n BETWEEN :5 AND :9": True, "l[1].#k = :v": True, "l[2] = :v": False,
        "begins_with(s, :he)": True, "contains(ss, :a)": True, "size(l) < :5": True, "attribute_type(l, :L)": True,
        "absent <> :5": True, "absent = :5": False, "NOT absent = :5": True, "s > :5": False, "n IN (:9, :5)": True,
    }  # fmt: skip
    for expression, expected in cases.items():
        used = Placeholders(names=ph.names, values=ph.values)
        assert evaluate(parse_condition(expression, used), item) is expected, expression
    assert evaluate(parse_condition("attribute_not_exists(n)", ph), None) is True
    fails("ValidationException", evaluate, parse_condition("size(n) > :5", ph), item, match="operand type: NUMBER")


def test_update_semantics():
    ph = Placeholders(values={":one": {"N": "1"}, ":x": {"S": "x"}, ":l": {"L": [{"S": "z"}]}, ":ss": {"SS": ["a", "b"]}})
    item = {"pk": {"S": "k"}, "l": {"L": [{"N": "0"}, {"N": "1"}, {"N": "2"}, {"N": "3"}]}, "ss": {"SS": ["a", "b"]}}
    new = apply_update(parse_update("SET l[10] = :x, extra = if_not_exists(extra, :one) REMOVE l[0], l[2] DELETE ss :ss", ph), item, ("pk",))
    assert new["l"] == {"L": [{"N": "1"}, {"N": "3"}, {"S": "x"}]}  # removals by original index, SET past the end appends
    assert new["extra"] == {"N": "1"} and "ss" not in new
    assert item["l"]["L"][0] == {"N": "0"}  # the input is untouched
    added = apply_update(parse_update("ADD n :one, fresh :ss SET q = list_append(:l, :l)", ph), {"n": {"N": "41"}}, ("pk",))
    assert added == {"n": {"N": "42"}, "fresh": {"SS": ["a", "b"]}, "q": {"L": [{"S": "z"}, {"S": "z"}]}}
    fails("ValidationException", apply_update, parse_update("SET pk = :x", ph), item, ("pk",), match="part of the key")
    fails("ValidationException", apply_update, parse_update("SET a.b = :x", ph), item, ("pk",), match="invalid for update")
    fails("ValidationException", apply_update, parse_update("ADD ss :one", ph), item, ("pk",), match="incorrect data type")
    fails("ValidationException", parse_update, "SET a = :x REMOVE a", ph, match="overlap")
    fails("ValidationException", parse_update, "REMOVE a SET b = :x REMOVE c", ph, match='"REMOVE" section')
    fails("ValidationException", parse_update, "DELETE a :x", ph, match="operator: DELETE, operand type: STRING")


def test_projection():
    item = {"a": {"M": {"b": {"N": "1"}, "c": {"L": [{"N": "7"}, {"N": "8"}]}}}, "z": {"S": "q"}}
    paths = parse_projection("a.c[1], a.b, absent, #z", Placeholders(names={"#z": "z"}))
    assert project(item, paths) == {"a": {"M": {"c": {"L": [{"N": "8"}]}, "b": {"N": "1"}}}, "z": {"S": "q"}}


def test_unused_placeholders_are_refused():
    ph = Placeholders.from_request({"ExpressionAttributeNames": {"#a": "a", "#b": "b"}, "ExpressionAttributeValues": {":v": {"N": "1"}}})
    parse_condition("#a = :v", ph)
    fails("ValidationException", ph.check_all_used, match="keys: {#b}")
    fails("ValidationException", Placeholders.from_request, {"ExpressionAttributeValues": {}}, match="must not be empty")


# -- tables ------------------------------------------------------------------------------------------------


def test_create_table_checks():
    base = {
        "TableName": "Things",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    table = table_from_request(base, 3, 1.0, "us-east-1", "000000000000")
    assert table.key_names == ("id",) and table.describe()["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    fails("ValidationException", table_from_request, {**base, "TableName": "ab"}, 1, 1.0, "r", "a", match="length greater than or equal to 3")
    fails("ValidationException", table_from_request, {**base, "TableName": "a b c"}, 1, 1.0, "r", "a", match="regular expression")
    fails("ValidationException", table_from_request, {**base, "KeySchema": [{"AttributeName": "id", "KeyType": "SORT"}]}, 1, 1.0, "r", "a",
          match="[HASH, RANGE]")  # fmt: skip
    with_gsi = {**base, "GlobalSecondaryIndexes": [{"IndexName": "byX", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}],
                                                    "Projection": {"ProjectionType": "ALL"}}]}  # fmt: skip
    fails("ValidationException", table_from_request, with_gsi, 1, 1.0, "r", "a", match="Keys: [x], AttributeDefinitions: [id]")


# -- SigV4 ------------------------------------------------------------------------------------------------


def _signed(body: bytes, key="AKID", secret="SECRET", when=None, extra_headers=None):
    request = AWSRequest(method="POST", url="http://localhost:8000/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables",
                                  **(extra_headers or {})})  # fmt: skip
    when = when or dt.datetime.now(dt.UTC)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
        SigV4Auth(Credentials(key, secret), "dynamodb", "eu-central-1").add_auth(request)
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    headers.setdefault("host", ["localhost:8000"])
    return headers


def test_sigv4_matches_botocore():
    verifier = SigV4Verifier({"AKID": "SECRET"})
    headers = _signed(b"{}", extra_headers={"X-Amz-Meta": "  spaced   value "})
    assert verifier.verify("POST", "/", "", headers, b"{}") == "AKID"
    fails("InvalidSignatureException", verifier.verify, "POST", "/", "", headers, b"{ }", match="does not match")
    fails("UnrecognizedClientException", SigV4Verifier({"OTHER": "x"}).verify, "POST", "/", "", headers, b"{}")
    fails("MissingAuthenticationTokenException", verifier.verify, "POST", "/", "", {}, b"{}")
    old = _signed(b"{}", when=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    fails("InvalidSignatureException", verifier.verify, "POST", "/", "", old, b"{}", match="Signature expired")
    future = _signed(b"{}", when=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16))
    fails("InvalidSignatureException", verifier.verify, "POST", "/", "", future, b"{}", match="Signature not yet current")
    broken = dict(headers, authorization=["AWS4-HMAC-SHA256 Credential=AKID/20260101/r/dynamodb/aws4_request"])
    fails("IncompleteSignatureException", verifier.verify, "POST", "/", "", broken, b"{}")


# -- PartiQL parsing -----------------------------------------------------------------------------------------


def test_partiql_parsing():
    select = Statement('SELECT a.b, c[1] FROM "T"."idx" WHERE pk = ? AND x IS NOT MISSING ORDER BY sk DESC', [{"S": "k"}])
    assert (select.table_name, select.index_name, select.projection, select.descending) == ("T", "idx", [("a", "b"), ("c", 1)], True)
    insert = Statement("INSERT INTO T VALUE {'pk': 'a', 'n': 1.50, 's': <<'x', 'y'>>, 'q': 'it''s'}", None)
    assert insert.item == {"pk": {"S": "a"}, "n": {"N": "1.5"}, "s": {"SS": ["x", "y"]}, "q": {"S": "it's"}}
    update = Statement("UPDATE T SET a = a + 1 SET b = 'WHERE' REMOVE c, d WHERE pk = 'k' RETURNING MODIFIED NEW *", None)
    assert len(update.update.sets) == 2 and len(update.update.removes) == 2 and update.returning == "UPDATED_NEW"
    fails("ValidationException", Statement, "SELECT * FROM T WHERE pk = ?", None, match="parameters")
    fails("ValidationException", Statement, "DROP TABLE T", None, match="well formed")
    assert Decimal(insert.item["n"]["N"]) == Decimal("1.5")
