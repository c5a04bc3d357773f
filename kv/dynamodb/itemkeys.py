"""Item keys and index entries: checking key attributes, and the storage keys they give.

`Key` parameters (GetItem, UpdateItem, DeleteItem, batch and transaction
actions) must name exactly the table's key attributes with the declared
types; a PutItem `Item` must contain them. Index key attributes are
optional (an item without them is simply not in the index: indexes are
sparse) but, when present, must have the declared type and must not be
empty. The messages are DynamoDB's.

An index entry is a copy of the item's projection (the table key, the index
key and the projected attributes), stored under the index's key (see
`keycodec`), so a Query on an index reads entries only. Entries are written
in the same commit as the item, so indexes are always consistent with their
table: DynamoDB allows GSIs to lag, and lagging less is allowed.
"""

from __future__ import annotations

from typing import Any

from kv.dynamodb import keycodec
from kv.dynamodb import values as av
from kv.dynamodb.errors import invalid_params, validation
from kv.dynamodb.schema import IndexSchema, TableSchema

PARTITION_KEY_BYTES_MAX = 2048
SORT_KEY_BYTES_MAX = 1024

Item = dict[str, Any]


def _schema_mismatch() -> Exception:
    return validation("The provided key element does not match the schema")


def _key_bytes(value: dict[str, Any]) -> int:
    return av.size(value)


def _check_key_sizes(table: TableSchema, key: Item) -> None:
    if _key_bytes(key[table.hash_key]) > PARTITION_KEY_BYTES_MAX:
        raise invalid_params("Size of hashkey has exceeded the maximum size limit of2048 bytes")
    if table.range_key is not None and _key_bytes(key[table.range_key]) > SORT_KEY_BYTES_MAX:
        raise invalid_params("Aggregated size of all range keys has exceeded the size limit of 1024 bytes")


def _empty_key(value: dict[str, Any]) -> bool:
    ((kind, body),) = value.items()
    return kind in ("S", "B") and len(body) == 0


def key_from_request(table: TableSchema, raw: Any) -> Item:
    """A `Key` parameter, checked against the table's key schema."""
    if not isinstance(raw, dict):
        raise _schema_mismatch()
    key = av.item_from_wire(raw, "Key")
    names = table.key_names
    if len(key) != len(names) or any(name not in key for name in names):
        raise _schema_mismatch()
    for name in names:
        if av.kind_of(key[name]) != table.attribute_types[name]:
            raise _schema_mismatch()
        if _empty_key(key[name]):
            raise validation(
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain "
                f"an empty {'string' if av.kind_of(key[name]) == 'S' else 'binary'} value. Key: {name}"
            )
    _check_key_sizes(table, key)
    return key


def check_item(table: TableSchema, item: Item) -> None:
    """A whole item (PutItem, or UpdateItem's result): key and index key attributes."""
    for name in table.key_names:
        value = item.get(name)
        if value is None:
            raise invalid_params(f"Missing the key {name} in the item")
        kind = av.kind_of(value)
        expected = table.attribute_types[name]
        if kind != expected:
            raise invalid_params(f"Type mismatch for key {name} expected: {expected} actual: {kind}")
        if _empty_key(value):
            raise validation(
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain "
                f"an empty {'string' if kind == 'S' else 'binary'} value. Key: {name}"
            )
    _check_key_sizes(table, item)
    for index in table.indexes:
        for name in index.key_names:
            value = item.get(name)
            if value is None:
                continue
            kind = av.kind_of(value)
            expected = table.attribute_types[name]
            if kind != expected:
                raise invalid_params(
                    f"Type mismatch for Index Key {name} Expected: {expected} Actual: {kind} IndexName: {index.name}"
                )
            if _empty_key(value):
                raise validation(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not "
                    "supported. The AttributeValue for a key attribute cannot contain an empty string value. "
                    f"IndexName: {index.name}, IndexKey: {name}"
                )


def key_of(table: TableSchema, item: Item) -> Item:
    return {name: item[name] for name in table.key_names}


def storage_key(table: TableSchema, item_or_key: Item) -> bytes:
    sort = item_or_key[table.range_key] if table.range_key is not None else None
    return keycodec.item_key(table.table_id, item_or_key[table.hash_key], sort)


# -- index entries ------------------------------------------------------------------------------------


def projected(table: TableSchema, index: IndexSchema, item: Item) -> Item:
    """What an index entry keeps of `item`."""
    if index.projection_type == "ALL":
        return item
    names = set(table.key_names) | set(index.key_names)
    if index.projection_type == "INCLUDE":
        names.update(index.non_key_attributes)
    return {name: value for name, value in item.items() if name in names}


def entry_key(table: TableSchema, index: IndexSchema, item: Item) -> bytes | None:
    """The storage key of `item`'s entry in `index`, or None if the item is not in it.

    A multi-attribute partition key is the concatenation of its attributes'
    encodings (each self-delimiting, so the parts cannot run together), and so
    is a multi-attribute sort key, which therefore orders entries by its first
    attribute, then its second, and so on, each by its own type. With one
    attribute each this is the single-attribute layout, unchanged."""
    names = index.key_names
    values = [item.get(name) for name in names]
    if any(value is None for value in values):
        return None  # sparse: an item lacking any index key attribute is not in the index
    # A value of the wrong type never reaches here for new writes (check_item);
    # entries are skipped rather than mis-keyed if older data disagrees.
    types = table.attribute_types
    if any(av.kind_of(value) != types[name] for name, value in zip(names, values, strict=True)):
        return None
    encode = keycodec.encode_key_value
    hash_count = len(index.hash_keys)
    partition = b"".join(encode(value) for value in values[:hash_count])
    key = keycodec.partition_prefix(table.table_id, index.number, partition)
    key += b"".join(encode(value) for value in values[hash_count:])
    if index.kind == "GSI":
        key += encode(item[table.hash_key])
    if table.range_key is not None:
        key += encode(item[table.range_key])
    return key


def entries(table: TableSchema, item: Item | None) -> dict[bytes, tuple[int, int, Item]]:
    if not item or not table.indexes:
        return {}
    out = {}
    for index in table.indexes:
        key = entry_key(table, index, item)
        if key is not None:
            out[key] = (table.table_id, index.number, projected(table, index, item))
    return out


def entry_changes(table: TableSchema, old: Item | None, new: Item | None) -> list[tuple[bytes, Any]]:
    """The index writes that take `old`'s entries to `new`'s (deletes as None)."""
    if not table.indexes:
        return []
    before = entries(table, old)
    after = entries(table, new)
    changes: list[tuple[bytes, Any]] = [(key, None) for key in before if key not in after]
    for key, value in after.items():
        previous = before.get(key)
        if previous is None or not _same_item(previous[2], value[2]):
            changes.append((key, value))
    return changes


def _same_item(a: Item, b: Item) -> bool:
    return a.keys() == b.keys() and all(av.equal(a[k], b[k]) for k in a)
