"""A Dynamo node: the replicas of Dynamo's objects that one storage node keeps, and their upkeep.

One `DynamoNode` runs beside each storage node (in the same process, on the
same host, at the address `dynamo/N`), so a host that is killed or cut off
takes both with it. Its objects live in its own `DynamoStore` (a Bitcask-
style log on its own `Disk`), outside the adjudicators and the journal:
Dynamo's durability is each node's own fsync, as a request's `dw` asks
(`interface.Coordinate.durable`).

What it serves (interface.py lists the messages):

* Reads and writes of its copies. `Coordinate` applies a client's put or
  delete with this node as the vector clock's actor [DYN §4.4] and stores
  the result; `Store` merges an object coordinated elsewhere into the local
  copy by syntactic reconciliation, so replica writes, read repairs and
  handoffs are all the same idempotent, commutative merge.
* Membership [§4.8]. The ring (`ring.Ring`) and the bucket properties are
  gossiped: every `gossip_interval_s` the node exchanges its view with one
  random member, and `merge` makes every node converge on the same ring
  whatever order views arrive in. `Join`/`Leave` make the next ring here
  and let gossip spread it. Failure detection is local, as in §4.8.3: a
  coordinator that cannot reach a node stops sending to it for a while.
* Handoff [§4.6]. Every `handoff_interval_s` the node looks at the keys it
  holds whose preference list (under their bucket's n_val, in the current
  ring) does not include it: hinted copies it took as a fallback, or copies
  of partitions it no longer owns after a membership change. It pushes
  them to every node of their preference list and drops its own copy once
  all of them have it. Hinted handoff and ownership handoff are therefore
  one mechanism (Riak's fallback vnodes do the same), and until it has run,
  the nodes a key's list names may really hold fewer copies than N: the
  node does not hide that; `Holdings` lets a test or `dsql compare` count.
* Anti-entropy [§4.7]. Every `aae_interval_s` the node takes the next
  partition it is a primary of, compares its Merkle tree with the next
  other primary's (`merkle.Exchange`, answered by `merkle.respond`), and
  repairs each differing key on both sides by reconciling the two copies.
  A token bucket bounds the keys repaired per second, so anti-entropy stays
  in the background; it is what fixes keys that nobody reads (read repair
  only fixes what is read). It can be switched off, or made more frequent,
  cluster-wide (`AaeSwitch`, a dsql hook for `dsql compare`, not Riak's
  API): the `AaeSetting` travels with gossip (newest version wins) and is
  saved with the ring, so a node that restarts, joins or lost its disk
  follows the cluster's setting; a node starts no exchange before its first
  gossip round with a peer, so one that lost its disk (and with it the
  saved setting) does not repair against a switch it has not heard of.

Every background loop is bounded (one exchange or one handoff batch at a
time, with deadlines on every call) and runs in the node's nursery, so
stopping the node cancels them.
"""

from __future__ import annotations

import bisect
import logging
import random
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import trio

from cluster import codec
from cluster.clock import Clock
from cluster.transport import RemoteError, Unreachable
from kv.dynamo import merkle
from kv.dynamo.interface import (
    HOLDINGS_BYTES_MAX,
    HOLDINGS_ITEMS_MAX,
    AaeMessage,
    AaeReply,
    AaeSetting,
    AaeSwitch,
    BucketProps,
    Coordinate,
    Fetch,
    Fetched,
    Gossip,
    GossipState,
    Holdings,
    HoldingsReply,
    Join,
    Keys,
    Leave,
    ListKeys,
    NodeBadRequest,
    NodeSiblingLimit,
    NodeStats,
    NodeStatsReply,
    SetProps,
    Store,
    Stored,
    StoreMany,
    Sync,
    check_aae_setting,
)
from kv.dynamo.objects import (
    NewContent,
    StoredObject,
    TooManySiblings,
    apply_delete,
    apply_put,
    decode_object,
    encode_object,
    reconcile,
)
from kv.dynamo.ring import Ring, RingDecodeError, hash_key
from kv.dynamo.ring import merge as merge_rings
from kv.dynamo.store import DynamoStore, split_merkle_key
from kv.dynamo.vclock import VClock

log = logging.getLogger(__name__)

# Riak's default ring size.
PARTITIONS_DEFAULT = 64
HANDOFF_BATCH_KEYS = 500
KEY_LOCK_STRIPES = 256
BUCKET_PROPS_MAX = 10_000


@dataclass
class NodeConfig:
    partitions: int = PARTITIONS_DEFAULT
    gossip_interval_s: float = 1.0
    handoff_interval_s: float = 1.0
    aae_interval_s: float = 2.0
    # Keys repaired per second by anti-entropy (and its burst): a bound on
    # the background work, not a target.
    aae_keys_per_s: float = 1_000.0
    aae_burst: int = 2_000
    call_timeout_s: float = 2.0
    compaction_check_s: float = 10.0
    rng_seed: int | None = None
    members: tuple[str, ...] = field(default_factory=tuple)  # the ring's first members (config)
    endpoint: tuple[str, int] | None = None  # where this node is served (a cluster's storage process)


def _check_name(what: str, value: object, limit: int) -> bytes:
    if not isinstance(value, bytes) or not 1 <= len(value) <= limit:
        raise NodeBadRequest(f"{what} must be 1 to {limit} bytes")
    return value


def _aae_order(setting: AaeSetting) -> tuple[int, bool, float]:
    return setting.version, setting.enabled, setting.interval_s


def _props_version(entry: tuple[int, BucketProps]) -> tuple[int, bytes]:
    return entry[0], codec.encode(entry[1])


class DynamoNode:
    """The Dynamo replicas of one storage node, served at `name` on `transport`."""

    def __init__(
        self, name: str, transport, clock: Clock, store: DynamoStore, config: NodeConfig | None = None,
    ) -> None:  # fmt: skip
        self.name = name
        self.transport = transport
        self.clock = clock
        self.store = store
        self.config = config or NodeConfig()
        members = self.config.members or (name,)
        self.ring = Ring(self.config.partitions, members)
        self.bucket_props: dict[bytes, tuple[int, BucketProps]] = {}
        self.endpoints: dict[str, tuple[str, int]] = {}
        if self.config.endpoint is not None:
            self.endpoints[name] = self.config.endpoint
        self.rng = random.Random(self.config.rng_seed)
        self.counters: dict[str, int] = {
            "vnode_gets": 0, "vnode_puts": 0, "coordinated_puts": 0, "hinted_puts": 0,
            "handoff_keys_sent": 0, "handoff_keys_dropped": 0,
            "aae_exchanges": 0, "aae_keys_repaired": 0, "gossip_rounds": 0, "key_epochs": 0,
        }  # fmt: skip
        self._aae_next = 0
        self._was_member = False
        # A write reads the local copy, reconciles and stores: two writes of one key must not
        # interleave (the second would store over the first without seeing it). One lock per
        # stripe of keys (crc32, not hash(): the simulator's schedules must not depend on
        # PYTHONHASHSEED) bounds the locks without a lock per key.
        self._stripes = [trio.Lock() for _ in range(KEY_LOCK_STRIPES)]
        self._positions_cache: dict[int, int] = {}
        self._positions_of: Ring | None = None
        self._aae_bucket: merkle.TokenBucket | None = None
        self._meta_dirty = trio.Event()
        self.aae = AaeSetting()
        self._aae_changed = trio.Event()
        self._heard_peer = trio.Event()

    # -- lifecycle -----------------------------------------------------------------

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        await self.store.load()
        meta = await self.store.load_meta()
        if meta is not None:
            self._apply_meta(meta)
        self._aae_bucket = merkle.TokenBucket(self.config.aae_keys_per_s, self.config.aae_burst, self.clock.latest())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._gossip_loop)
            nursery.start_soon(self._handoff_loop)
            nursery.start_soon(self._aae_loop)
            nursery.start_soon(self._meta_loop)
            nursery.start_soon(self._compaction_loop)
            task_status.started(self)

    def _apply_meta(self, meta: bytes) -> None:
        try:
            ring_bytes, buckets, was_member, *rest = codec.decode(meta)
            self._was_member = bool(was_member)
            self.ring = merge_rings(self.ring, Ring.decode(ring_bytes))
            for bucket, version, props in buckets:
                self.bucket_props[bucket] = (version, props)
            if rest:  # meta saved before the anti-entropy setting existed has three items
                self.aae = check_aae_setting(AaeSetting(*rest[0]))
        except (ValueError, TypeError) as exc:
            log.warning("%s: the saved ring and bucket properties do not decode (%s); starting from the configuration", self.name, exc)

    async def _compaction_loop(self) -> None:
        """Rewrite the store's log once it holds more than twice the live bytes
        (puts go on meanwhile: the store rolls to a new file first)."""
        while True:
            await trio.sleep(self.config.compaction_check_s)
            if self.store.compaction_due():
                await self.store.compact()

    async def _meta_loop(self) -> None:
        """Persist the ring and bucket properties when they change (one write at a time)."""
        while True:
            await self._meta_dirty.wait()
            self._meta_dirty = trio.Event()
            buckets = tuple((b, v, p) for b, (v, p) in sorted(self.bucket_props.items()))
            self._was_member = self._was_member or self.name in self.ring.members
            aae = (self.aae.version, self.aae.enabled, self.aae.interval_s)
            await self.store.save_meta(codec.encode((self.ring.encode(), buckets, self._was_member, aae)))

    # -- helpers -----------------------------------------------------------------------

    def props(self, bucket: bytes) -> BucketProps:
        entry = self.bucket_props.get(bucket)
        return entry[1] if entry is not None else BucketProps()

    def partition(self, bucket: bytes, key: bytes) -> int:
        return self.ring.partition_of(hash_key(bucket, key))

    def _local(self, bucket: bytes, key: bytes) -> StoredObject | None:
        data = self.store.get(bucket, key)
        return None if data is None else decode_object(data)

    def _lock(self, bucket: bytes, key: bytes) -> trio.Lock:
        return self._stripes[zlib.crc32(key, zlib.crc32(bucket)) % KEY_LOCK_STRIPES]

    def _now_ns(self) -> int:
        return self.clock.latest()

    def _gossip_state(self) -> GossipState:
        buckets = tuple((b, v, p) for b, (v, p) in sorted(self.bucket_props.items()))
        endpoints = tuple((node, host, port) for node, (host, port) in sorted(self.endpoints.items()))
        return GossipState(self.ring.encode(), buckets, endpoints, self.aae)

    def _learn_endpoints(self, endpoints: Iterable[tuple[str, str, int]]) -> None:
        for item in endpoints:
            if (
                not isinstance(item, tuple) or len(item) != 3 or not isinstance(item[0], str)
                or not isinstance(item[1], str) or not isinstance(item[2], int)
            ):  # fmt: skip
                raise NodeBadRequest("endpoints are (name, host, port)")
            node, host, port = item
            if node != self.name and self.endpoints.get(node) != (host, port):
                self.endpoints[node] = (host, port)
                self.transport.learn_address(node, (host, port))

    def _merge_gossip(
        self, ring_bytes: bytes | None, buckets: Iterable[tuple[bytes, int, BucketProps]],
        aae: AaeSetting | None = None,
    ) -> None:  # fmt: skip
        changed = False
        if aae is not None:
            try:
                check_aae_setting(aae)
            except ValueError as exc:
                raise NodeBadRequest(f"gossiped anti-entropy setting: {exc}") from None
        if ring_bytes is not None:
            try:
                theirs = Ring.decode(ring_bytes)
            except RingDecodeError as exc:
                raise NodeBadRequest(f"gossiped ring does not decode: {exc}") from None
            if theirs.partitions != self.ring.partitions:
                raise NodeBadRequest(
                    f"gossiped ring has {theirs.partitions} partitions, this cluster's has {self.ring.partitions}"
                )
            merged = merge_rings(self.ring, theirs)
            if merged is not self.ring and merged != self.ring:
                log.info("%s: ring version %d -> %d (%d members)", self.name, self.ring.version, merged.version, len(merged.members))
                self.ring = merged
                changed = True
        for bucket, version, props in buckets:
            if not isinstance(bucket, bytes) or not isinstance(version, int) or not isinstance(props, BucketProps):
                raise NodeBadRequest("gossiped bucket properties are malformed")
            current = self.bucket_props.get(bucket)
            if current is None or _props_version((version, props)) > _props_version(current):
                if current is None and len(self.bucket_props) >= BUCKET_PROPS_MAX:
                    continue
                self.bucket_props[bucket] = (version, props)
                changed = True
        if aae is not None and self._adopt_aae(aae):
            changed = True
        if changed:
            self._meta_dirty.set()

    async def _call(self, node: str, method: str, request):
        with trio.fail_after(self.config.call_timeout_s):
            return await self.transport.connect(node).call(method, request)

    # -- reads and writes --------------------------------------------------------------

    async def rpc_fetch(self, request: Fetch) -> Fetched:
        _check_name("bucket", request.bucket, 255)
        _check_name("key", request.key, 1024)
        self.counters["vnode_gets"] += 1
        return Fetched(self.store.get(request.bucket, request.key))

    async def rpc_coordinate(self, request: Coordinate) -> Stored:
        bucket = _check_name("bucket", request.bucket, 255)
        key = _check_name("key", request.key, 1024)
        if not isinstance(request.value, bytes) or not isinstance(request.content_type, str):
            raise NodeBadRequest("value must be bytes and content_type text")
        context: VClock | None = None
        if request.context is not None:
            try:
                context = VClock.decode(request.context)
            except ValueError as exc:
                raise NodeBadRequest(str(exc)) from None
        async with self._lock(bucket, key):
            stored = self._local(bucket, key)
            now = self._now_ns()
            actor = self._actor_for(stored, context)
            try:
                if request.delete:
                    obj = apply_delete(stored, context, actor, now, request.allow_mult)
                else:
                    meta = tuple((str(k), str(v)) for k, v in request.user_meta)
                    content = NewContent(request.value, request.content_type, meta)
                    obj = apply_put(stored, context, content, actor, now, request.allow_mult)
            except TooManySiblings as exc:
                raise NodeSiblingLimit(str(exc)) from None
            data = encode_object(obj)
            self.counters["coordinated_puts"] += 1
            if request.hint is not None:
                self.counters["hinted_puts"] += 1
            await self.store.put(self.partition(bucket, key), bucket, key, data, sync=request.durable)
        return Stored(data, request.durable)

    def _actor_for(self, stored: StoredObject | None, context: VClock | None) -> str:
        """The clock actor this node writes a key's next version as: a key epoch.

        A node's counter for a key lives in its copy of the key, so a node without
        its copy (never had it, handed it off, lost its disk) must not count on: it
        would reissue a (actor, counter) it issued before, and the new version would
        look like, or descend, an acknowledged write it never saw, which
        reconciliation would then drop. So, as Riak's key epochs do
        (riak_kv_vnode:maybe_new_key_epoch), the node writes as `name#epoch`, and
        starts a new epoch whenever its copy does not hold the newest counter of
        any of its epochs: no copy, or a client context that has seen more of this
        node's writes than its copy has (a copy older than one it lost)."""
        mine = self.name + "#"
        local = {e.actor: e for e in stored.clock if e.actor.startswith(mine)} if stored is not None else {}
        if local and all(
            entry.counter <= local[entry.actor].counter if entry.actor in local else False
            for entry in (context or VClock()) if entry.actor.startswith(mine)
        ):  # fmt: skip
            return max(local.values(), key=lambda e: (e.timestamp_ns, e.counter)).actor
        self.counters["key_epochs"] += 1
        return f"{mine}{self.rng.getrandbits(64):016x}"

    async def rpc_store(self, request: Store) -> Stored:
        bucket = _check_name("bucket", request.bucket, 255)
        key = _check_name("key", request.key, 1024)
        try:
            incoming = decode_object(request.object)
        except ValueError as exc:
            raise NodeBadRequest(str(exc)) from None
        if request.hint is not None:
            self.counters["hinted_puts"] += 1
        data = await self._merge(bucket, key, incoming, request.allow_mult, sync=request.durable)
        return Stored(data, request.durable)

    async def _merge(self, bucket: bytes, key: bytes, incoming: StoredObject, allow_mult: bool, *, sync: bool) -> bytes:
        """Reconcile `incoming` into the local copy; store only when it changes anything."""
        self.counters["vnode_puts"] += 1
        async with self._lock(bucket, key):
            stored = self._local(bucket, key)
            merged = reconcile([stored, incoming], allow_mult)
            assert merged is not None
            data = encode_object(merged)
            if stored is None or data != self.store.get(bucket, key):
                await self.store.put(self.partition(bucket, key), bucket, key, data, sync=sync)
        return data

    async def rpc_store_many(self, request: StoreMany) -> Stored:
        for item in request.items:
            if not isinstance(item, tuple) or len(item) != 3:
                raise NodeBadRequest("StoreMany items are (bucket, key, object)")
            bucket, key, data = item
            _check_name("bucket", bucket, 255)
            _check_name("key", key, 1024)
            try:
                incoming = decode_object(data)
            except ValueError as exc:
                raise NodeBadRequest(str(exc)) from None
            await self._merge(bucket, key, incoming, self.props(bucket).allow_mult, sync=False)
        if request.durable and request.items:
            await self.store.sync()  # one sync covers every record appended before it
        return Stored(None, request.durable)

    async def rpc_sync(self, request: Sync) -> Stored:
        await self.store.sync()
        return Stored(None, True)

    async def rpc_list_keys(self, request: ListKeys) -> Keys:
        """The live keys of a bucket held here; ListKeys(b"") lists the buckets instead."""
        if not isinstance(request.bucket, bytes):
            raise NodeBadRequest("bucket must be bytes")
        if request.bucket == b"":
            return Keys(tuple(self.store.buckets()))
        keys = []
        for key in self.store.bucket_keys(request.bucket):
            obj = self._local(request.bucket, key)
            if obj is not None and not obj.deleted:
                keys.append(key)
            await trio.lowlevel.checkpoint_if_cancelled()
        return Keys(tuple(sorted(keys)))

    async def rpc_holdings(self, request: Holdings) -> HoldingsReply:
        """One page of the copies held, in (bucket, key) order (see `Holdings`)."""
        if request.bucket is not None:
            _check_name("bucket", request.bucket, 255)
        after = request.after
        if after is not None and not (
            isinstance(after, tuple) and len(after) == 2 and all(isinstance(part, bytes) for part in after)
        ):  # fmt: skip
            raise NodeBadRequest("after is the (bucket, key) a page ended with")
        if isinstance(request.limit, bool) or not isinstance(request.limit, int) or not 0 <= request.limit:
            raise NodeBadRequest("limit must be a non-negative integer")
        limit = min(request.limit or HOLDINGS_ITEMS_MAX, HOLDINGS_ITEMS_MAX)
        items: list[tuple[bytes, bytes, bytes]] = []
        size = 0
        buckets = [request.bucket] if request.bucket is not None else self.store.buckets()
        for bucket in buckets:
            if after is not None and bucket < after[0]:
                continue
            keys = self.store.bucket_keys(bucket)  # sorted
            start = bisect.bisect_right(keys, after[1]) if after is not None and bucket == after[0] else 0
            for key in keys[start:]:
                data = self.store.get(bucket, key)
                if data is None:
                    continue
                if len(items) >= limit or (items and size + len(data) > HOLDINGS_BYTES_MAX):
                    return HoldingsReply(tuple(items), more=True)
                items.append((bucket, key, data))
                size += len(data)
            await trio.lowlevel.checkpoint_if_cancelled()
        return HoldingsReply(tuple(items))

    async def rpc_node_stats(self, request: NodeStats) -> NodeStatsReply:
        counters = dict(self.counters)
        for name, value in self.store.stats().items():
            counters[f"store_{name}"] = int(value)
        counters["ring_version"] = self.ring.version
        counters["ring_members"] = len(self.ring.members)
        counters["ring_partitions"] = self.ring.partitions
        counters["partitions_owned"] = self.ring.partition_counts().get(self.name, 0)
        # Copies held here that the ring does not place here (hinted, or left by a
        # membership change): until handed off, their keys may have fewer than N in place.
        counters["handoff_pending_keys"] = sum(len(keys) for keys in self._misplaced().values())
        return NodeStatsReply(counters)

    # -- membership ----------------------------------------------------------------------

    async def rpc_gossip(self, request: Gossip) -> GossipState:
        if request.ring is not None and not isinstance(request.ring, bytes):
            raise NodeBadRequest("ring must be bytes")
        if not isinstance(request.buckets, tuple) or not isinstance(request.endpoints, tuple):
            raise NodeBadRequest("buckets and endpoints must be lists")
        self._learn_endpoints(request.endpoints)
        self._merge_gossip(request.ring, request.buckets, request.aae)
        if request.aae is not None:  # a peer's gossip, with its setting (a coordinator only asks)
            self._heard_peer.set()
        return self._gossip_state()

    async def rpc_join(self, request: Join) -> GossipState:
        if not isinstance(request.node, str) or not request.node:
            raise NodeBadRequest("node must be a name")
        if request.endpoint is not None:
            if not isinstance(request.endpoint, tuple) or len(request.endpoint) != 2:
                raise NodeBadRequest("endpoint is (host, port)")
            self._learn_endpoints([(request.node, *request.endpoint)])
        if request.node not in self.ring.members:
            try:
                self.ring = self.ring.with_node(request.node)
            except ValueError as exc:
                raise NodeBadRequest(str(exc)) from None
            log.info("%s: %s joins the ring (version %d)", self.name, request.node, self.ring.version)
            self._meta_dirty.set()
        return self._gossip_state()

    async def join_through(self, members: Iterable[str], retry_s: float = 1.0) -> None:
        """Ask members, in turn, to add this node to the ring until one does and gossip brings it here."""
        while self.name not in self.ring.members:
            for member in members:
                try:
                    state = await self._call(member, "join", Join(self.name, self.config.endpoint))
                except (Unreachable, trio.TooSlowError, RemoteError, NodeBadRequest) as exc:
                    log.info("%s: joining the ring through %s failed: %r", self.name, member, exc)
                    continue
                self._learn_endpoints(state.endpoints)
                self._merge_gossip(state.ring, state.buckets, state.aae)
                self._heard_peer.set()
                break
            else:
                await trio.sleep(retry_s)

    async def rpc_leave(self, request: Leave) -> GossipState:
        if not isinstance(request.node, str) or not request.node:
            raise NodeBadRequest("node must be a name")
        if request.node in self.ring.members:
            try:
                self.ring = self.ring.without_node(request.node)
            except ValueError as exc:
                raise NodeBadRequest(str(exc)) from None
            log.info("%s: %s leaves the ring (version %d)", self.name, request.node, self.ring.version)
            self._meta_dirty.set()
        return self._gossip_state()

    async def rpc_set_props(self, request: SetProps) -> GossipState:
        _check_name("bucket", request.bucket, 255)
        if not isinstance(request.props, BucketProps):
            raise NodeBadRequest("props must be bucket properties")
        current = self.bucket_props.get(request.bucket)
        version = max(self._now_ns(), current[0] + 1 if current else 0)
        self._merge_gossip(None, [(request.bucket, version, request.props)])
        return self._gossip_state()

    async def _gossip_loop(self) -> None:
        while True:
            await trio.sleep(self.config.gossip_interval_s * (0.5 + self.rng.random()))
            peers = [m for m in self.ring.members if m != self.name]
            if not peers:
                continue
            peer = self.rng.choice(peers)
            state = self._gossip_state()
            try:
                gossip = Gossip(state.ring, state.buckets, state.endpoints, state.aae)
                reply = await self._call(peer, "gossip", gossip)
                self._merge_gossip(reply.ring, reply.buckets, reply.aae)
                self._learn_endpoints(reply.endpoints)
                self.counters["gossip_rounds"] += 1
                self._heard_peer.set()
            except (Unreachable, trio.TooSlowError, RemoteError, NodeBadRequest) as exc:
                log.debug("%s: gossip with %s failed: %r", self.name, peer, exc)

    # -- handoff -------------------------------------------------------------------------

    def _positions(self) -> dict[int, int]:
        """Per partition, this node's place in the partition's walk (0: first
        of its preference list; members: absent), for the current ring."""
        if self._positions_of is not self.ring:
            places: dict[int, int] = {}
            for partition in range(self.ring.partitions):
                places[partition] = len(self.ring.members)
                for place, (_index, node) in enumerate(self.ring.walk(partition)):
                    if node == self.name:
                        places[partition] = place
                        break
            self._positions_cache, self._positions_of = places, self.ring
        return self._positions_cache

    def _misplaced(self) -> dict[tuple[int, int], list[tuple[bytes, bytes]]]:
        """Keys held here whose preference list does not name this node, by (partition, n_val).

        A key of bucket n_val n is at home here when this node is among the
        first n nodes of its partition's walk, so partitions where this node
        comes before every bucket's n_val are skipped without looking at keys."""
        out: dict[tuple[int, int], list[tuple[bytes, bytes]]] = {}
        members = len(self.ring.members)
        places = self._positions()
        n_min = min([BucketProps().n_val, *(props.n_val for _v, props in self.bucket_props.values())])
        for partition in sorted(self.store.partitions()):
            if places[partition] < min(n_min, members):
                continue
            for bucket, key in self.store.keys_in(partition):
                n_val = min(self.props(bucket).n_val, members)
                if places[partition] >= n_val:
                    out.setdefault((partition, n_val), []).append((bucket, key))
        return out

    async def _handoff_loop(self) -> None:
        while True:
            await trio.sleep(self.config.handoff_interval_s)
            try:
                await self.handoff_once()
            except (Unreachable, trio.TooSlowError, RemoteError) as exc:
                log.debug("%s: handoff round stopped: %r", self.name, exc)

    async def handoff_once(self) -> int:
        """Push every misplaced key to its preference list; drop the copies all N nodes took.
        Returns the number of keys dropped.

        A node that has never seen itself in the ring hands nothing off: it is
        joining, and copies pushed to it belong to it in the ring it has not
        heard of yet (a node that left, on the other hand, hands everything off)."""
        if self.name in self.ring.members:
            self._was_member = True
        if not self._was_member:
            return 0
        dropped = 0
        for (partition, n_val), keys in self._misplaced().items():
            nodes = [node for _i, node in self.ring.preference_list(self.ring.partition_start(partition), n_val)]
            for start in range(0, len(keys), HANDOFF_BATCH_KEYS):
                batch = []
                for bucket, key in keys[start : start + HANDOFF_BATCH_KEYS]:
                    data = self.store.get(bucket, key)
                    if data is not None:
                        batch.append((bucket, key, data))
                if not batch:
                    continue
                delivered = True
                for node in nodes:
                    try:
                        await self._call(node, "store_many", StoreMany(tuple(batch), True))
                        self.counters["handoff_keys_sent"] += len(batch)
                    except (Unreachable, trio.TooSlowError, RemoteError, NodeBadRequest) as exc:
                        log.debug("%s: handoff of partition %d to %s failed: %r", self.name, partition, node, exc)
                        delivered = False
                if not delivered:
                    continue
                # Drop only the copies that did not change while they were sent (the store
                # checks when it writes the removal: a write may be queued before it).
                gone = await self.store.remove(batch, sync=True)
                dropped += gone
                self.counters["handoff_keys_dropped"] += gone
        return dropped

    # -- anti-entropy -------------------------------------------------------------------

    async def rpc_aae(self, request: AaeMessage) -> AaeReply:
        if not isinstance(request.partition, int) or not 0 <= request.partition < self.ring.partitions:
            raise NodeBadRequest("no such partition")
        try:
            message = merkle.decode_message(request.message)
            reply = merkle.respond(self.store.tree(request.partition), message)
        except (merkle.MerkleError, ValueError, TypeError) as exc:
            raise NodeBadRequest(f"bad anti-entropy message: {exc}") from None
        return AaeReply(merkle.encode_message(reply))

    def _primary_partitions(self) -> list[int]:
        """Partitions whose preference list (default n_val) names this node."""
        n_val = min(BucketProps().n_val, len(self.ring.members))
        return [
            p for p in range(self.ring.partitions)
            if self.name in (node for _i, node in self.ring.preference_list(self.ring.partition_start(p), n_val))
        ]  # fmt: skip

    def _adopt_aae(self, setting: AaeSetting) -> bool:
        """Take `setting` if it is newer than this node's (ties: the larger, the same on every
        node); True when it changed anything."""
        mine = self.aae
        if _aae_order(setting) <= _aae_order(mine):
            return False
        if (setting.enabled, setting.interval_s) != (mine.enabled, mine.interval_s):
            log.info("%s: anti-entropy %s (interval %s)", self.name, "on" if setting.enabled else "off",
                     f"{setting.interval_s:g} s" if setting.interval_s else "configured")  # fmt: skip
        self.aae = setting
        self._aae_changed.set()
        return True

    async def rpc_aae_switch(self, request: AaeSwitch) -> AaeSetting:
        if request.setting is not None:
            try:
                check_aae_setting(request.setting)
            except ValueError as exc:
                raise NodeBadRequest(str(exc)) from None
            if self._adopt_aae(request.setting):
                self._meta_dirty.set()
        return self.aae

    async def _aae_loop(self) -> None:
        await self._heard_peer.wait()
        while True:
            interval_s = self.aae.interval_s or self.config.aae_interval_s
            with trio.move_on_after(interval_s):
                await self._aae_changed.wait()
            if self._aae_changed.is_set():  # a new setting: wait its interval from now
                self._aae_changed = trio.Event()
                continue
            if not self.aae.enabled:
                continue
            try:
                await self.aae_once()
            except (Unreachable, trio.TooSlowError, RemoteError, NodeBadRequest) as exc:
                log.debug("%s: anti-entropy exchange stopped: %r", self.name, exc)

    async def aae_once(self) -> int:
        """One exchange: the next partition this node is a primary of, with one
        other primary of it. Returns the keys repaired."""
        partitions = self._primary_partitions()
        if not partitions or len(self.ring.members) < 2:
            return 0
        partition = partitions[self._aae_next % len(partitions)]
        self._aae_next += 1
        n_val = min(BucketProps().n_val, len(self.ring.members))
        others = [
            node for _i, node in self.ring.preference_list(self.ring.partition_start(partition), n_val)
            if node != self.name
        ]  # fmt: skip
        peer = others[(self._aae_next // max(1, len(partitions))) % len(others)]
        return await self.exchange(partition, peer)

    async def exchange(self, partition: int, peer: str) -> int:
        exchange = merkle.Exchange(self.store.tree(partition), partition)
        request = exchange.start()
        while request is not None:
            reply = await self._call(peer, "aae", AaeMessage(partition, merkle.encode_message(request)))
            request = exchange.on_reply(merkle.decode_message(reply.message))
        self.counters["aae_exchanges"] += 1
        repaired = 0
        for difference in exchange.differences:
            bucket, key = split_merkle_key(difference.key)
            n_val = min(self.props(bucket).n_val, len(self.ring.members))
            home = self.ring.partition_of(hash_key(bucket, key))
            nodes = [node for _i, node in self.ring.preference_list(self.ring.partition_start(home), n_val)]
            if self.name not in nodes or peer not in nodes:
                continue  # a copy that handoff, not anti-entropy, puts right
            assert self._aae_bucket is not None
            while not self._aae_bucket.try_take(self._now_ns()):
                await trio.sleep(self._aae_bucket.wait_ns(self._now_ns()) / 1e9)
            theirs_reply = await self._call(peer, "fetch", Fetch(bucket, key))
            mine = self._local(bucket, key)
            theirs = None if theirs_reply.object is None else decode_object(theirs_reply.object)
            allow_mult = self.props(bucket).allow_mult
            merged = reconcile([mine, theirs], allow_mult)
            if merged is None:
                continue
            data = encode_object(merged)
            if mine is None or encode_object(mine) != data:
                await self._merge(bucket, key, merged, allow_mult, sync=False)
            if theirs is None or theirs_reply.object != data:
                await self._call(peer, "store", Store(bucket, key, data, allow_mult, False, None))
            repaired += 1
        self.counters["aae_keys_repaired"] += repaired
        return repaired
