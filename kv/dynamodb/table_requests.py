"""Checking CreateTable and UpdateTable requests, and building the tables they describe.

The checks and their messages follow DynamoDB's (see
/work/shared/research/dynamodb.md §2.2): names of 3 to 255 characters from
[a-zA-Z0-9_.-], a HASH key and an optional RANGE key, attribute definitions
covering exactly the key attributes of the table and its indexes, billing
mode and throughput that agree, at most 5 LSIs (which need the table's
range key and share its hash key) and 20 GSIs, whose partition and sort
keys may each be made of up to 4 attributes (multi-attribute keys: all HASH
elements first, then the RANGE ones, no attribute twice).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from kv.dynamodb.errors import in_use, invalid_params, validation
from kv.dynamodb.schema import IndexSchema, TableSchema

TABLE_NAME_PATTERN = re.compile(r"[a-zA-Z0-9_.-]+")
NAME_LENGTH_MIN = 3
NAME_LENGTH_MAX = 255
KEY_ATTRIBUTE_NAME_MAX = 255  # key attribute names, of tables and indexes alike
LSI_MAX = 5
GSI_MAX = 20
# A GSI's partition key and its sort key may each be made of up to 4 attributes
# (DynamoDB's multi-attribute keys, Developer Guide "GSI.MultiAttributeKeys").
GSI_KEY_ATTRIBUTES_MAX = 4
NON_KEY_ATTRIBUTES_MAX = 100  # across all of a table's indexes
KEY_TYPES = ("S", "N", "B")
PROJECTION_TYPES = ("ALL", "KEYS_ONLY", "INCLUDE")
BILLING_MODES = ("PROVISIONED", "PAY_PER_REQUEST")
TABLE_CLASSES = ("STANDARD", "STANDARD_INFREQUENT_ACCESS")
STREAM_VIEW_TYPES = ("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")


def check_table_name(name: Any, field_name: str = "tableName") -> str:
    if not isinstance(name, str):
        raise validation(f"1 validation error detected: Value null at '{field_name}' failed to satisfy constraint: Member must not be null")
    if len(name) < NAME_LENGTH_MIN:
        raise validation(
            f"1 validation error detected: Value '{name}' at '{field_name}' failed to satisfy constraint: "
            f"Member must have length greater than or equal to {NAME_LENGTH_MIN}"
        )
    if len(name) > NAME_LENGTH_MAX:
        raise validation(
            f"1 validation error detected: Value '{name}' at '{field_name}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {NAME_LENGTH_MAX}"
        )
    if not TABLE_NAME_PATTERN.fullmatch(name):
        raise validation(
            f"1 validation error detected: Value '{name}' at '{field_name}' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        )
    return name


def check_key_attribute_name(name: str, where: str) -> str:
    """Key attribute names (and so attribute definitions) are at most 255 characters:
    DynamoDB refuses 256, for tables and indexes alike (the Alternator suite's
    test_limits.py, run against DynamoDB)."""
    if len(name) > KEY_ATTRIBUTE_NAME_MAX:
        raise validation(
            f"1 validation error detected: Value '{name}' at '{where}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {KEY_ATTRIBUTE_NAME_MAX}"
        )
    return name


def _key_schema(raw: Any, where: str) -> tuple[str, str | None]:
    if not isinstance(raw, list) or not raw:
        raise validation(
            f"1 validation error detected: Value null at '{where}' failed to satisfy constraint: Member must not be null"
        )
    if len(raw) > 2:
        raise validation(
            f"1 validation error detected: Value '{raw}' at '{where}' failed to satisfy constraint: "
            "Member must have length less than or equal to 2"
        )
    names = []
    for i, element in enumerate(raw, 1):
        if not isinstance(element, dict) or not isinstance(element.get("AttributeName"), str):
            raise validation(f"1 validation error detected: Value null at '{where}.{i}.member.attributeName' failed to satisfy constraint: Member must not be null")
        key_type = element.get("KeyType")
        if key_type not in ("HASH", "RANGE"):
            raise validation(
                f"1 validation error detected: Value '{key_type}' at '{where}.{i}.member.keyType' failed to "
                "satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]"
            )
        names.append((check_key_attribute_name(element["AttributeName"], f"{where}.{i}.member.attributeName"), key_type))
    if names[0][1] != "HASH":
        raise validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    if len(names) == 2:
        if names[1][1] != "RANGE":
            raise validation("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
        if names[0][0] == names[1][0]:
            raise validation("Both the Hash Key and the Range Key element in the KeySchema have the same name")
        return names[0][0], names[1][0]
    return names[0][0], None


def _gsi_key_schema(raw: Any, where: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A GSI's KeySchema: 1 to 4 HASH elements, then 0 to 4 RANGE elements, all distinct.

    With one element of each kind this is `_key_schema`, messages included."""
    two_hashes = isinstance(raw, list) and len(raw) == 2 and all(
        isinstance(e, dict) and e.get("KeyType") == "HASH" for e in raw
    )
    if not isinstance(raw, list) or (len(raw) <= 2 and not two_hashes):
        hash_key, range_key = _key_schema(raw, where)
        return (hash_key,), (() if range_key is None else (range_key,))
    elements = []
    for i, element in enumerate(raw, 1):
        if not isinstance(element, dict) or not isinstance(element.get("AttributeName"), str):
            raise validation(
                f"1 validation error detected: Value null at '{where}.{i}.member.attributeName' failed to satisfy "
                "constraint: Member must not be null"
            )
        key_type = element.get("KeyType")
        if key_type not in ("HASH", "RANGE"):
            raise validation(
                f"1 validation error detected: Value '{key_type}' at '{where}.{i}.member.keyType' failed to "
                "satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]"
            )
        elements.append((check_key_attribute_name(element["AttributeName"], f"{where}.{i}.member.attributeName"), key_type))
    if elements[0][1] != "HASH":
        raise validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    hashes = tuple(name for name, kind in elements if kind == "HASH")
    ranges = tuple(name for name, kind in elements if kind == "RANGE")
    if [kind for _, kind in elements] != ["HASH"] * len(hashes) + ["RANGE"] * len(ranges):
        raise validation("Invalid KeySchema: All HASH KeySchemaElements must come before all RANGE KeySchemaElements")
    if len(hashes) > GSI_KEY_ATTRIBUTES_MAX:
        raise validation(
            f"Invalid KeySchema: The number of HASH KeySchemaElements exceeds the limit of {GSI_KEY_ATTRIBUTES_MAX}"
        )
    if len(ranges) > GSI_KEY_ATTRIBUTES_MAX:
        raise validation(
            f"Invalid KeySchema: The number of RANGE KeySchemaElements exceeds the limit of {GSI_KEY_ATTRIBUTES_MAX}"
        )
    seen: set[str] = set()
    for name, _ in elements:
        if name in seen:
            raise validation(f"Invalid KeySchema: Duplicate attribute name in KeySchema: {name}")
        seen.add(name)
    return hashes, ranges


def _projection(raw: Any) -> tuple[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise validation(
            "1 validation error detected: Value null at 'projection' failed to satisfy constraint: Member must not be null"
        )
    kind = raw.get("ProjectionType", "ALL")
    if kind not in PROJECTION_TYPES:
        raise validation(
            f"1 validation error detected: Value '{kind}' at 'projection.projectionType' failed to satisfy "
            "constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]"
        )
    non_key = raw.get("NonKeyAttributes")
    if kind == "INCLUDE":
        if not non_key:
            raise invalid_params(
                "ProjectionType is INCLUDE, but NonKeyAttributes is not specified"
            )
        return kind, tuple(non_key)
    if non_key:
        raise invalid_params(
            f"ProjectionType is {kind}, but NonKeyAttributes is specified"
        )
    return kind, ()


def _throughput(raw: Any, required: bool) -> tuple[int, int] | None:
    if raw is None:
        if required:
            raise invalid_params("ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
        return None
    rcu, wcu = raw.get("ReadCapacityUnits"), raw.get("WriteCapacityUnits")
    if not isinstance(rcu, int) or not isinstance(wcu, int):
        raise invalid_params("ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
    if rcu < 1 or wcu < 1:
        bad = "readCapacityUnits" if rcu < 1 else "writeCapacityUnits"
        value = rcu if rcu < 1 else wcu
        raise validation(
            f"1 validation error detected: Value '{value}' at 'provisionedThroughput.{bad}' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1"
        )
    return rcu, wcu


def index_from_request(
    raw: Any, kind: str, number: int, billing_mode: str, table_hash: str, table_range: str | None
) -> IndexSchema:
    if not isinstance(raw, dict):
        raise validation("Invalid index definition")
    name = check_table_name(raw.get("IndexName"), "indexName")
    if kind == "GSI":
        hash_keys, range_keys = _gsi_key_schema(raw.get("KeySchema"), "keySchema")
    else:
        hash_key, range_key = _key_schema(raw.get("KeySchema"), "keySchema")
        hash_keys, range_keys = (hash_key,), (() if range_key is None else (range_key,))
    hash_key, range_key = hash_keys[0], (range_keys[0] if range_keys else None)
    projection_type, non_key = _projection(raw.get("Projection"))
    provisioned = None
    if kind == "GSI":
        if billing_mode == "PROVISIONED":
            throughput = raw.get("ProvisionedThroughput")
            if throughput is None:
                raise invalid_params(
                    f"ProvisionedThroughput must be specified for index: {name}"
                )
            provisioned = _throughput(throughput, True)
        elif raw.get("ProvisionedThroughput") is not None:
            raise invalid_params(
                "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: "
                f"{name} when BillingMode is PAY_PER_REQUEST"
            )
    else:
        if table_range is None:
            raise invalid_params(
                "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex"
            )
        if range_key is None:
            raise invalid_params(f"Index KeySchema does not have a range key for index: {name}")
        if hash_key != table_hash:
            raise invalid_params(
                f"Index KeySchema does not have the same leading hash key as table KeySchema for index: {name}. "
                f"index hash key: {hash_key}, table hash key: {table_hash}"
            )
    return IndexSchema(
        name=name,
        number=number,
        kind=kind,
        hash_key=hash_key,
        range_key=range_key,
        projection_type=projection_type,
        non_key_attributes=non_key,
        provisioned=provisioned,
        hash_keys=hash_keys,
        range_keys=range_keys,
    )


def table_from_request(
    request: dict[str, Any], table_id: int, now: float, region: str, account: str
) -> TableSchema:
    """Check a CreateTable request and build the table it describes."""
    name = check_table_name(request.get("TableName"))
    hash_key, range_key = _key_schema(request.get("KeySchema"), "keySchema")
    definitions = request.get("AttributeDefinitions")
    if not isinstance(definitions, list):
        raise validation(
            "1 validation error detected: Value null at 'attributeDefinitions' failed to satisfy constraint: Member must not be null"
        )
    types: dict[str, str] = {}
    for i, definition in enumerate(definitions, 1):
        if not isinstance(definition, dict) or not isinstance(definition.get("AttributeName"), str):
            raise validation("Invalid AttributeDefinitions")
        kind = definition.get("AttributeType")
        if kind not in KEY_TYPES:
            raise validation(
                f"1 validation error detected: Value '{kind}' at 'attributeDefinitions.{i}.member.attributeType' "
                "failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"
            )
        if definition["AttributeName"] in types:
            raise invalid_params(f"Duplicate AttributeName in AttributeDefinitions: {definition['AttributeName']}")
        types[check_key_attribute_name(definition["AttributeName"], f"attributeDefinitions.{i}.member.attributeName")] = kind
    billing = request.get("BillingMode", "PROVISIONED")
    if billing not in BILLING_MODES:
        raise validation(
            f"1 validation error detected: Value '{billing}' at 'billingMode' failed to satisfy constraint: "
            "Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
        )
    if billing == "PAY_PER_REQUEST":
        if request.get("ProvisionedThroughput") is not None:
            raise invalid_params(
                "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"
            )
        provisioned: tuple[int, int] = (0, 0)
    else:
        provisioned = _throughput(request.get("ProvisionedThroughput"), True) or (0, 0)

    indexes: list[IndexSchema] = []
    number = 1
    lsis = request.get("LocalSecondaryIndexes")
    gsis = request.get("GlobalSecondaryIndexes")
    if lsis is not None:
        if not isinstance(lsis, list) or not lsis:
            raise invalid_params("List of LocalSecondaryIndexes is empty")
        if len(lsis) > LSI_MAX:
            raise invalid_params(
                f"Number of LocalSecondaryIndexes exceeds per-table limit of {LSI_MAX}"
            )
        for raw in lsis:
            indexes.append(index_from_request(raw, "LSI", number, billing, hash_key, range_key))
            number += 1
    if gsis is not None:
        if not isinstance(gsis, list) or not gsis:
            raise invalid_params("List of GlobalSecondaryIndexes is empty")
        if len(gsis) > GSI_MAX:
            raise validation(
                f"One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of {GSI_MAX}"
            )
        for raw in gsis:
            indexes.append(index_from_request(raw, "GSI", number, billing, hash_key, range_key))
            number += 1
    seen: set[str] = set()
    for index in indexes:
        if index.name in seen:
            raise invalid_params(f"Duplicate index name: {index.name}")
        seen.add(index.name)
    check_projected_count(indexes)

    key_attributes = [hash_key] + ([range_key] if range_key else [])
    for index in indexes:
        for attr in index.key_names:
            if attr not in key_attributes:
                key_attributes.append(attr)
    missing = [a for a in key_attributes if a not in types]
    if missing:
        if not indexes:
            raise invalid_params(
                "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions"
            )
        raise invalid_params(
            "Some index key attributes are not defined in AttributeDefinitions. "
            f"Keys: [{', '.join(missing)}], AttributeDefinitions: [{', '.join(types)}]"
        )
    unused = [a for a in types if a not in key_attributes]
    if unused:
        if not indexes:
            raise invalid_params(
                "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions"
            )
        raise invalid_params(
            f"Some AttributeDefinitions are not used. AttributeDefinitions: [{', '.join(types)}], "
            f"keys used: [{', '.join(key_attributes)}]"
        )

    stream = request.get("StreamSpecification")
    if stream is not None:
        stream = check_stream(stream)
    table_class = request.get("TableClass", "STANDARD")
    if table_class not in TABLE_CLASSES:
        raise validation(
            f"1 validation error detected: Value '{table_class}' at 'tableClass' failed to satisfy constraint: "
            "Member must satisfy enum value set: [STANDARD, STANDARD_INFREQUENT_ACCESS]"
        )
    tags = check_tags(request.get("Tags") or [])
    return TableSchema(
        name=name,
        table_id=table_id,
        uuid=str(uuid.uuid4()),
        hash_key=hash_key,
        range_key=range_key,
        attribute_types=types,
        billing_mode=billing,
        provisioned=provisioned,
        created=now,
        indexes=tuple(indexes),
        next_index_number=number,
        stream=stream,
        tags=tags,
        table_class=table_class,
        deletion_protection=bool(request.get("DeletionProtectionEnabled", False)),
        billing_updated=now if billing == "PAY_PER_REQUEST" else 0.0,
        region=region,
        account=account,
    )


def check_projected_count(indexes: list[IndexSchema] | tuple[IndexSchema, ...]) -> None:
    total = sum(len(i.non_key_attributes) for i in indexes)
    if total > NON_KEY_ATTRIBUTES_MAX:
        raise invalid_params(
            f"The number of projected attributes in all indexes exceeds the limit of {NON_KEY_ATTRIBUTES_MAX}"
        )


def check_stream(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        raise validation("Invalid StreamSpecification")
    enabled = raw.get("StreamEnabled")
    if not isinstance(enabled, bool):
        raise validation("1 validation error detected: Value null at 'streamSpecification.streamEnabled' failed to satisfy constraint: Member must not be null")
    if not enabled:
        if raw.get("StreamViewType") is not None:
            raise validation("One or more parameter values were invalid: StreamViewType cannot be specified when StreamEnabled is false")
        return None
    view = raw.get("StreamViewType")
    if view not in STREAM_VIEW_TYPES:
        raise validation(
            "One or more parameter values were invalid: StreamViewType is required when StreamEnabled is true"
            if view is None
            else f"1 validation error detected: Value '{view}' at 'streamSpecification.streamViewType' failed to satisfy constraint: Member must satisfy enum value set: [NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY]"
        )
    return {"StreamEnabled": True, "StreamViewType": view}


# Tag limits (Developer Guide, "Tagging restrictions in DynamoDB"; API reference, Tag).
TAGS_MAX = 50
TAG_KEY_CHARS_MAX = 128
TAG_VALUE_CHARS_MAX = 256
TAG_RESERVED_PREFIX = "aws:"  # AWS-assigned tags; users cannot set them (in any case)
_TAG_PUNCTUATION = frozenset("+-=._:/")  # besides letters, digits and white space


def _tag_text_ok(text: str) -> bool:
    return all(ch.isalnum() or ch.isspace() or ch in _TAG_PUNCTUATION for ch in text)


def check_tag_key(key: Any, where: str) -> str:
    if not isinstance(key, str):
        raise validation(f"1 validation error detected: Value null at '{where}' failed to satisfy constraint: Member must not be null")
    if not 1 <= len(key) <= TAG_KEY_CHARS_MAX:
        bound = "greater than or equal to 1" if not key else f"less than or equal to {TAG_KEY_CHARS_MAX}"
        raise validation(
            f"1 validation error detected: Value '{key}' at '{where}' failed to satisfy constraint: "
            f"Member must have length {bound}"
        )
    if key.lower().startswith(TAG_RESERVED_PREFIX):
        raise validation(f"One or more parameter values were invalid: Tag keys starting with '{TAG_RESERVED_PREFIX}' are reserved for AWS use: {key}")
    if not _tag_text_ok(key):
        raise validation(f"One or more parameter values were invalid: Invalid characters in tag key: {key}")
    return key


def check_tags(raw: Any, where: str = "tags") -> tuple[tuple[str, str], ...]:
    """A `Tags` list: each key and value within its limits; a key given twice keeps its last value."""
    if not isinstance(raw, list):
        raise validation(f"1 validation error detected: Value null at '{where}' failed to satisfy constraint: Member must not be null")
    tags: dict[str, str] = {}
    for i, tag in enumerate(raw, 1):
        if not isinstance(tag, dict):
            raise validation(f"1 validation error detected: Value null at '{where}.{i}.member' failed to satisfy constraint: Member must not be null")
        key = check_tag_key(tag.get("Key"), f"{where}.{i}.member.key")
        value = tag.get("Value")
        if not isinstance(value, str):
            raise validation(
                f"1 validation error detected: Value null at '{where}.{i}.member.value' failed to satisfy constraint: Member must not be null"
            )
        if len(value) > TAG_VALUE_CHARS_MAX:
            raise validation(
                f"1 validation error detected: Value '{value}' at '{where}.{i}.member.value' failed to satisfy constraint: "
                f"Member must have length less than or equal to {TAG_VALUE_CHARS_MAX}"
            )
        if not _tag_text_ok(value):
            raise validation(f"One or more parameter values were invalid: Invalid characters in tag value: {value}")
        tags[key] = value
    check_tag_count(len(tags))
    return tuple(tags.items())


def check_tag_count(count: int) -> None:
    if count > TAGS_MAX:
        raise validation(f"One or more parameter values were invalid: The number of tags exceeds the limit of {TAGS_MAX}")


def already_exists(name: str) -> Exception:
    return in_use(f"Table already exists: {name}")
