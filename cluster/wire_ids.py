"""Every numeric id that names a type on the wire, in one table.

Messages (`codec.register_message`) and errors (`transport.wire_error(N)`)
travel as a number rather than a Python module path, so that a class can move
between modules, and processes of different builds agree on what they send,
as long as this table only grows: an id, once used, is never reused for
another type, even after its type is gone (mark it retired here instead).

Messages and errors are separate name spaces on the wire, but the ids are kept
distinct across both so that a number in a trace names one thing. Ranges:

    1..99       transport errors
    100..199    storage messages        200..249 storage errors
    300..399    journal messages        400..449 journal errors
    500..599    adjudicator messages    600..649 adjudicator errors
    700..799    query processor messages
    800..849    Dynamo messages         850..899 Dynamo errors

The check at the bottom refuses to import a table in which an id repeats.
"""

from __future__ import annotations

# -- transport errors (cluster/transport.py) --------------------------------------
UNREACHABLE = 1
REPLY_LOST = 2

# -- storage messages (storage/interface.py) --------------------------------------
STORAGE_GET = 100
STORAGE_GET_LATEST = 101
STORAGE_SCAN = 102
STORAGE_STATUS = 103
STORAGE_WATERMARK = 104
STORAGE_COPY_SHARD = 105
STORAGE_NODE_STATE_QUERY = 106
STORAGE_PLACEMENT_QUERY = 107
STORAGE_SPLIT_POINT = 108
STORAGE_VALUES = 110
STORAGE_SCAN_PAGE = 111
STORAGE_NODE_STATUS = 112
STORAGE_WATERMARK_REPLY = 113
STORAGE_SHARD_PIECE = 114
STORAGE_NODE_STATE = 115
STORAGE_PLACEMENT = 116
STORAGE_SPLIT_POINT_REPLY = 117

# -- storage errors (storage/interface.py) ----------------------------------------
STORAGE_CATALOG_CHANGED = 200
STORAGE_UNAVAILABLE = 201
STORAGE_WRONG_SHARD = 202
STORAGE_CATCHING_UP = 203
STORAGE_HISTORY_GONE = 204

# -- journal messages (journal/interface.py) --------------------------------------
JOURNAL_APPEND = 300
JOURNAL_CLOSE = 301
JOURNAL_READ = 302
JOURNAL_CHECKPOINTED = 303
JOURNAL_APPEND_BATCH = 304
JOURNAL_APPENDED = 310
JOURNAL_CLOSED = 311
JOURNAL_RECORDS = 312
JOURNAL_STATUS = 313
JOURNAL_APPENDED_BATCH = 314

# -- journal errors (journal/errors.py) -------------------------------------------
JOURNAL_UNAVAILABLE = 400
JOURNAL_NOT_LEADER = 401
JOURNAL_APPEND_REFUSED = 402
JOURNAL_APPEND_VOID = 403
JOURNAL_APPEND_UNCERTAIN = 404
JOURNAL_POSITION_COMPACTED = 405

# -- adjudicator messages (adjudicator/interface.py) ------------------------------
ADJUDICATOR_COMMIT = 500
ADJUDICATOR_PREPARE = 501
ADJUDICATOR_DECIDE = 502
ADJUDICATOR_OUTCOME_QUERY = 503
ADJUDICATOR_COMMITTED = 510
ADJUDICATOR_OUTCOMES = 511
ADJUDICATOR_STATUS = 512
ADJUDICATOR_PROCESS_STATUS = 513

# -- adjudicator errors (adjudicator/interface.py) ---------------------------------
ADJUDICATOR_COMMIT_CONFLICT = 600
ADJUDICATOR_TRANSACTION_TOO_OLD = 601
ADJUDICATOR_STARTING = 602
ADJUDICATOR_NOT_OWNER = 603
ADJUDICATOR_LEASE_EXPIRING = 604

# -- query processor messages (qp/interface.py) -----------------------------------
QP_STATUS = 700

# -- Dynamo messages (kv/dynamo/interface.py) ---------------------------------------
DYNAMO_FETCH = 800
DYNAMO_COORDINATE = 801
DYNAMO_STORE = 802
DYNAMO_STORE_MANY = 803
DYNAMO_LIST_KEYS = 804
DYNAMO_GOSSIP = 805
DYNAMO_JOIN = 806
DYNAMO_LEAVE = 807
DYNAMO_SET_PROPS = 808
DYNAMO_AAE_MESSAGE = 809
DYNAMO_HOLDINGS = 810
DYNAMO_NODE_STATS = 811
DYNAMO_BUCKET_PROPS = 812
DYNAMO_SYNC = 813
DYNAMO_AAE_SWITCH = 814
DYNAMO_AAE_SETTING = 815
DYNAMO_FETCHED = 820
DYNAMO_STORED = 821
DYNAMO_KEYS = 822
DYNAMO_GOSSIP_STATE = 823
DYNAMO_AAE_REPLY = 824
DYNAMO_HOLDINGS_REPLY = 825
DYNAMO_NODE_STATS_REPLY = 826

# -- Dynamo errors (kv/dynamo/interface.py) ----------------------------------------
DYNAMO_SIBLING_LIMIT = 850
DYNAMO_BAD_REQUEST = 851


def table() -> dict[str, int]:
    """Every id of this module by its name."""
    return {name: value for name, value in globals().items() if name.isupper() and isinstance(value, int)}


def _check_unique() -> None:
    seen: dict[int, str] = {}
    for name, value in table().items():
        if value in seen:
            raise AssertionError(f"wire id {value} is used twice: {seen[value]} and {name}")
        seen[value] = name


_check_unique()
