"""What crosses the seams of Dynamo: node messages, bucket properties, request options and errors.

Two seams meet here.

* Between a coordinator (`kv.dynamo.service`, run by whichever process
  serves the Riak HTTP endpoint) and the Dynamo nodes (`kv.dynamo.node`,
  one beside each storage node): the typed messages below, each with a
  stable number in `cluster.wire_ids` (800..899), carried by any transport.

      Fetch        one key's local copy                                -> Fetched
      Coordinate   apply a client's put or delete to the local copy,
                   as the actor that increments the vector clock        -> Stored
      Store        merge a coordinated object into the local copy
                   (a replica write, a read repair, a handoff)          -> Stored
      StoreMany    Store for many keys of one partition (handoff, AAE)  -> Stored
      Sync         make every write the node took so far durable        -> Stored
      ListKeys     the live keys of a bucket held here                  -> Keys
      Gossip       exchange ring and bucket properties (§4.8)           -> GossipState
      Join/Leave   change the ring's membership through this node       -> GossipState
      AaeMessage   one step of a Merkle exchange of a partition (§4.7)  -> AaeReply
      Holdings     the copies this node holds (encoded objects), a page
                   of at most HOLDINGS_ITEMS_MAX / HOLDINGS_BYTES_MAX at
                   a time (tests and `dsql compare` count copies with
                   it: `DynamoService.copies`)                          -> HoldingsReply
      AaeSwitch    anti-entropy on or off (and its interval), cluster-
                   wide: a dsql observation hook, not Riak's API        -> AaeSetting
      NodeStats    this node's counters                                 -> NodeStatsReply

  Objects travel as `objects.encode_object` bytes, vector clocks as their
  msgpack-free entry tuples; nothing here is a Python object of either side.

* Between the HTTP front end and the coordinator: `BucketProps`,
  `GetOptions`/`PutOptions`/`DeleteOptions` and the `DynamoRequestError`
  family, which the front end maps to Riak's status codes.

Quorum values follow Riak: an integer, or "one", "quorum" (n_val // 2 + 1),
"all", or "default" (the bucket's value). `resolve_quorum` turns them into
numbers against an n_val.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cluster import wire_ids
from cluster.codec import message
from cluster.transport import wire_error

Quorum = int | str  # an integer, or "one" | "quorum" | "all" | "default"
QUORUM_NAMES = ("one", "quorum", "all", "default")

# Riak's limits: n_val is small (preference lists are walked per request).
N_VAL_MAX = 16
BUCKET_BYTES_MAX = 255
KEY_BYTES_MAX = 1024
VALUE_BYTES_MAX = 50 * 1024 * 1024  # Riak warns at 5 MB and refuses at 50 MB


# -- bucket properties -----------------------------------------------------------------


@message(wire_ids.DYNAMO_BUCKET_PROPS)
class BucketProps(msgspec.Struct, frozen=True):
    """A bucket's properties, with Riak's defaults for a typed bucket (and
    the paper's (N, R, W) = (3, 2, 2)). `allow_mult=True` keeps concurrent
    writes as siblings (Dynamo's behaviour); `last_write_wins=True` (with
    allow_mult false) keeps only the newest by timestamp."""

    n_val: int = 3
    allow_mult: bool = True
    last_write_wins: bool = False
    r: Quorum = "quorum"
    w: Quorum = "quorum"
    dw: Quorum = "quorum"
    rw: Quorum = "quorum"
    pr: Quorum = 0
    pw: Quorum = 0
    notfound_ok: bool = True
    basic_quorum: bool = False


PROP_NAMES = tuple(BucketProps.__struct_fields__)
QUORUM_PROPS = ("r", "w", "dw", "rw", "pr", "pw")
BOOL_PROPS = ("allow_mult", "last_write_wins", "notfound_ok", "basic_quorum")


class InvalidRequest(ValueError):
    """A request or property the server refuses (HTTP 400), with Riak's wording where it has one."""


def check_quorum(name: str, value: Any, n_val: int, *, allow_default: bool = True) -> Quorum:
    """A quorum value as Riak accepts it, or InvalidRequest."""
    if isinstance(value, bool):
        raise InvalidRequest(f"{name} must be an integer or one of one, quorum, all, default")
    if isinstance(value, int):
        if not 0 <= value <= n_val:
            raise InvalidRequest(f"{name} = {value}: must be between 0 and n_val ({n_val})")
        return value
    if isinstance(value, str):
        if value.isdigit():
            return check_quorum(name, int(value), n_val, allow_default=allow_default)
        if value in QUORUM_NAMES and (allow_default or value != "default"):
            return value
    raise InvalidRequest(f"{name} must be an integer or one of one, quorum, all, default; got {value!r}")


def resolve_quorum(value: Quorum, n_val: int, bucket_value: Quorum | None = None) -> int:
    """The number a quorum value stands for against n_val ("default": the bucket's)."""
    if value == "default":
        if bucket_value is None or bucket_value == "default":
            raise InvalidRequest("quorum 'default' has nothing to default to")
        return resolve_quorum(bucket_value, n_val)
    if value == "one":
        return 1
    if value == "quorum":
        return n_val // 2 + 1
    if value == "all":
        return n_val
    assert isinstance(value, int), value
    return value


def props_with(props: BucketProps, changes: dict[str, Any]) -> BucketProps:
    """`props` with Riak-style JSON changes applied, checked; InvalidRequest names the first bad one."""
    fields = {name: getattr(props, name) for name in PROP_NAMES}
    for name, value in changes.items():
        if name not in fields:
            continue  # Riak ignores properties it does not act on (name, chash_keyfun, ...)
        fields[name] = value
    n_val = fields["n_val"]
    if isinstance(n_val, bool) or not isinstance(n_val, int) or not 1 <= n_val <= N_VAL_MAX:
        raise InvalidRequest(f"n_val must be an integer between 1 and {N_VAL_MAX}; got {n_val!r}")
    for name in BOOL_PROPS:
        if not isinstance(fields[name], bool):
            raise InvalidRequest(f"{name} must be true or false; got {fields[name]!r}")
    for name in QUORUM_PROPS:
        fields[name] = check_quorum(name, fields[name], n_val, allow_default=False)
    return BucketProps(**fields)


# -- request options (front end -> coordinator) ----------------------------------------


class GetOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Per-request overrides of the bucket's read properties (None: the bucket's)."""

    r: Quorum | None = None
    pr: Quorum | None = None
    notfound_ok: bool | None = None
    basic_quorum: bool | None = None
    timeout_s: float | None = None


class PutOptions(msgspec.Struct, frozen=True, kw_only=True):
    w: Quorum | None = None
    dw: Quorum | None = None
    pw: Quorum | None = None
    timeout_s: float | None = None


class DeleteOptions(msgspec.Struct, frozen=True, kw_only=True):
    rw: Quorum | None = None
    w: Quorum | None = None
    dw: Quorum | None = None
    pw: Quorum | None = None
    timeout_s: float | None = None


# -- errors of a request (coordinator -> front end) -------------------------------------


class DynamoRequestError(Exception):
    """A request that could not be done; `status` is Riak's HTTP status for it."""

    status = 500


class QuorumUnsatisfied(DynamoRequestError):
    """Fewer replicas answered than the request asked for (Riak's insufficient_vnodes).

    `kind` is "R", "W", "DW", "PR" or "PW"; the message is Riak's
    "R-value unsatisfied: 1/2"."""

    status = 503

    def __init__(self, kind: str, got: int, needed: int) -> None:
        super().__init__(f"{kind}-value unsatisfied: {got}/{needed}")
        self.kind, self.got, self.needed = kind, got, needed


class RequestTimeout(DynamoRequestError):
    status = 503

    def __init__(self, what: str = "request") -> None:
        super().__init__(f"{what} timed out")


class SiblingLimit(DynamoRequestError):
    """A put that would leave more siblings than objects.SIBLINGS_MAX (Riak refuses it)."""

    status = 413


# -- node messages -------------------------------------------------------------------------


@message(wire_ids.DYNAMO_FETCH)
class Fetch(msgspec.Struct, frozen=True):
    bucket: bytes
    key: bytes


@message(wire_ids.DYNAMO_FETCHED)
class Fetched(msgspec.Struct, frozen=True):
    """`object` is None when the node has no copy (not found)."""

    object: bytes | None


@message(wire_ids.DYNAMO_COORDINATE)
class Coordinate(msgspec.Struct, frozen=True):
    """A client's write, applied to the node's own copy with the node as the
    clock's actor (Riak's coordinating vnode, vnode_vclocks). `context` is
    the client's vector clock (`VClock.encode()` header form; None: blind
    write). `delete` makes it a tombstone. `durable`: fsync before replying.
    `hint`: the node this copy is kept for, when this node is a fallback."""

    bucket: bytes
    key: bytes
    value: bytes = b""
    content_type: str = "application/octet-stream"
    user_meta: tuple[tuple[str, str], ...] = ()
    context: str | None = None
    delete: bool = False
    allow_mult: bool = True
    durable: bool = False
    hint: str | None = None


@message(wire_ids.DYNAMO_STORE)
class Store(msgspec.Struct, frozen=True):
    """Merge `object` (encode_object bytes) into the local copy (reconcile)."""

    bucket: bytes
    key: bytes
    object: bytes
    allow_mult: bool = True
    durable: bool = False
    hint: str | None = None


@message(wire_ids.DYNAMO_STORE_MANY)
class StoreMany(msgspec.Struct, frozen=True):
    """Store for many (bucket, key, object) of one partition at once."""

    items: tuple[tuple[bytes, bytes, bytes], ...]
    durable: bool = False


@message(wire_ids.DYNAMO_STORED)
class Stored(msgspec.Struct, frozen=True):
    """The node's copy after the write (None for StoreMany); `durable`: fsynced."""

    object: bytes | None
    durable: bool


@message(wire_ids.DYNAMO_SYNC)
class Sync(msgspec.Struct, frozen=True):
    """Sync the node's store: a coordinator's write is appended unsynced and made durable by
    this while the other replicas store it (one sync's latency for `dw`, not two in a row)."""


@message(wire_ids.DYNAMO_LIST_KEYS)
class ListKeys(msgspec.Struct, frozen=True):
    bucket: bytes


@message(wire_ids.DYNAMO_KEYS)
class Keys(msgspec.Struct, frozen=True):
    keys: tuple[bytes, ...]


@message(wire_ids.DYNAMO_AAE_SETTING)
class AaeSetting(msgspec.Struct, frozen=True):
    """Whether active anti-entropy runs, cluster-wide, and how often a node starts an exchange.

    Gossiped with the ring (the highest `version` wins, as bucket properties), so a node that
    restarts, loses its disk or joins takes the cluster's setting from its first gossip round.
    `version` 0 is a node's own default (enabled, its configured interval), which any set
    setting overrides. `interval_s` 0 means the node's configured `aae_interval_s`."""

    version: int = 0
    enabled: bool = True
    interval_s: float = 0.0


AAE_INTERVAL_S_MAX = 3600.0  # an hour between exchanges is as good as off; past it is a typo


def check_aae_setting(setting: object) -> AaeSetting:
    """`setting` if it is a well-formed AaeSetting, else ValueError (a node answers NodeBadRequest)."""
    if not isinstance(setting, AaeSetting):
        raise ValueError("an anti-entropy setting is (version, enabled, interval_s)")
    if isinstance(setting.version, bool) or not isinstance(setting.version, int) or setting.version < 0:
        raise ValueError("the setting's version must be a non-negative integer")
    if not isinstance(setting.enabled, bool):
        raise ValueError("enabled must be true or false")
    interval = setting.interval_s
    if isinstance(interval, bool) or not isinstance(interval, (int, float)):
        raise ValueError("interval_s must be a number of seconds")
    if not 0 <= interval <= AAE_INTERVAL_S_MAX:
        raise ValueError(f"interval_s must be a number of seconds from 0 to {AAE_INTERVAL_S_MAX:g}")
    return setting


@message(wire_ids.DYNAMO_AAE_SWITCH)
class AaeSwitch(msgspec.Struct, frozen=True):
    """Adopt `setting` if it is newer than the node's (None: just asking); the reply is the
    node's setting afterwards."""

    setting: AaeSetting | None = None


@message(wire_ids.DYNAMO_GOSSIP)
class Gossip(msgspec.Struct, frozen=True):
    """The sender's ring (`Ring.encode()`) and bucket properties; the reply
    is the receiver's state after merging them (None: just asking)."""

    ring: bytes | None
    buckets: tuple[tuple[bytes, int, BucketProps], ...] = ()  # (bucket, version ns, props)
    # Where members are served, (name, host, port): a node added to a running cluster is in
    # nobody's address book until gossip brings its endpoint.
    endpoints: tuple[tuple[str, str, int], ...] = ()
    aae: AaeSetting | None = None  # None: a sender that does not gossip it (a coordinator asking)


@message(wire_ids.DYNAMO_GOSSIP_STATE)
class GossipState(msgspec.Struct, frozen=True):
    ring: bytes
    buckets: tuple[tuple[bytes, int, BucketProps], ...]
    endpoints: tuple[tuple[str, str, int], ...] = ()
    aae: AaeSetting | None = None


@message(wire_ids.DYNAMO_JOIN)
class Join(msgspec.Struct, frozen=True):
    node: str
    endpoint: tuple[str, int] | None = None  # where the joiner is served (None: in this process)


@message(wire_ids.DYNAMO_LEAVE)
class Leave(msgspec.Struct, frozen=True):
    node: str


@message(wire_ids.DYNAMO_SET_PROPS)
class SetProps(msgspec.Struct, frozen=True):
    bucket: bytes
    props: BucketProps


@message(wire_ids.DYNAMO_AAE_MESSAGE)
class AaeMessage(msgspec.Struct, frozen=True):
    """One request of a Merkle exchange (`merkle.encode_message` bytes) about `partition`."""

    partition: int
    message: bytes


@message(wire_ids.DYNAMO_AAE_REPLY)
class AaeReply(msgspec.Struct, frozen=True):
    message: bytes


# A page of holdings: one reply carries at most this many copies, and stops adding copies
# once it holds HOLDINGS_BYTES_MAX of objects (at least one copy, so a page always moves on).
# 5000 copies of small objects is a fraction of a second of the node's time; 8 MiB keeps one
# reply well under the transport's frame limit.
HOLDINGS_ITEMS_MAX = 5000
HOLDINGS_BYTES_MAX = 8 * 1024 * 1024


@message(wire_ids.DYNAMO_HOLDINGS)
class Holdings(msgspec.Struct, frozen=True):
    """The copies held of `bucket` (None: of every bucket), in (bucket, key) order, starting
    after `after` (a previous page's last (bucket, key)); `limit` 0 means HOLDINGS_ITEMS_MAX."""

    bucket: bytes | None = None
    after: tuple[bytes, bytes] | None = None
    limit: int = 0


@message(wire_ids.DYNAMO_HOLDINGS_REPLY)
class HoldingsReply(msgspec.Struct, frozen=True):
    """(bucket, key, encoded object) of the copies held, primary or hinted; `more`: the page
    stopped at a limit and the next starts after the last item."""

    items: tuple[tuple[bytes, bytes, bytes], ...]
    more: bool = False


@message(wire_ids.DYNAMO_NODE_STATS)
class NodeStats(msgspec.Struct, frozen=True):
    pass


@message(wire_ids.DYNAMO_NODE_STATS_REPLY)
class NodeStatsReply(msgspec.Struct, frozen=True):
    counters: dict[str, int]


@wire_error(wire_ids.DYNAMO_SIBLING_LIMIT)
class NodeSiblingLimit(Exception):
    """The node refused a write that would leave too many siblings."""


@wire_error(wire_ids.DYNAMO_BAD_REQUEST)
class NodeBadRequest(Exception):
    """The node refused a malformed message (bad object bytes, a bad clock)."""
