"""Which object ids and keys are temporary objects' (see qp/txn/temp_store.py).

Here, below both the catalog cache and transactions, because both must tell a
temporary descriptor or row key from a permanent one: a temporary object's oid is
`TEMP_OID_BASE` or more, so its descriptor key and sequence state key (keyed by the
oid) begin with the byte 0xFF after their prefix, and its table key id (the oid's
bits reversed, `storage.keys.table_key_id_for`) ends in that byte.
"""

from __future__ import annotations

from qp.catalog.stored import NEXT_OID_KEY, RELATION_PREFIX, SEQUENCE_STATE_PREFIX, VERSION_KEY
from storage import keys

# 16M oids per session; a permanent object never gets one this high (oids only grow,
# by one per object, from 16384).
TEMP_OID_BASE = 0xFF000000
_TEMP_BYTE = 0xFF
_TEMP_COUNTERS_PREFIX = keys.NS_SYSTEM + b"tmp/"
TEMP_VERSION_KEY = _TEMP_COUNTERS_PREFIX + b"ver"
TEMP_NEXT_OID_KEY = _TEMP_COUNTERS_PREFIX + b"oid"
# The shared catalog counters and their session-local stand-ins, used while a
# statement works on temporary objects (Transaction.temp_mode).
COUNTER_KEYS = {VERSION_KEY: TEMP_VERSION_KEY, NEXT_OID_KEY: TEMP_NEXT_OID_KEY}
# Where temporary descriptors start in the catalog's key range (relation_key(TEMP_OID_BASE)).
TEMP_RELATIONS_START = RELATION_PREFIX + bytes([_TEMP_BYTE])
TEMP_RELATIONS_END = keys.prefix_end(RELATION_PREFIX)


# The session's temporary schema as the catalogs show it (PostgreSQL's pg_temp_N, one per
# backend; here every session has its own under the same name, since none sees another's).
TEMP_NAMESPACE_OID = TEMP_OID_BASE - 2
TEMP_TOAST_NAMESPACE_OID = TEMP_OID_BASE - 1
TEMP_SCHEMA_NAME = "pg_temp_3"
TEMP_TOAST_SCHEMA_NAME = "pg_toast_temp_3"
TEMP_SCHEMA_ALIASES = frozenset({"pg_temp", TEMP_SCHEMA_NAME})
TEMP_NAMESPACE_NAMES = {
    TEMP_NAMESPACE_OID: TEMP_SCHEMA_NAME,
    TEMP_TOAST_NAMESPACE_OID: TEMP_TOAST_SCHEMA_NAME,
}


def is_temp_oid(oid: int | None) -> bool:
    return oid is not None and oid >= TEMP_OID_BASE


def is_temp_key(key: bytes) -> bool:
    """Whether `key` belongs to a temporary object (and so to this session's store)."""
    if key[:1] == keys.NS_SQL:
        return len(key) >= 5 and key[4] == _TEMP_BYTE
    if key.startswith(RELATION_PREFIX):
        return len(key) > len(RELATION_PREFIX) and key[len(RELATION_PREFIX)] == _TEMP_BYTE
    if key.startswith(SEQUENCE_STATE_PREFIX):
        return len(key) > len(SEQUENCE_STATE_PREFIX) and key[len(SEQUENCE_STATE_PREFIX)] == _TEMP_BYTE
    return key.startswith(_TEMP_COUNTERS_PREFIX)
