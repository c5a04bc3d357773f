"""The Dynamo coordinator: a client's get, put and delete, carried out over the nodes of the ring.

`DynamoService` is what the Riak HTTP front end (`kv.dynamo.http`) calls.
It runs in whichever process serves that endpoint (the embedded server, or
each query processor of a cluster) and talks to the Dynamo nodes only
through the transport. For each request it:

1. takes the bucket's properties and the request's overrides, and resolves
   the quorums against the bucket's n_val (`interface.resolve_quorum`);
2. picks the key's targets: the first n_val healthy nodes of its sloppy
   preference list (`Ring.sloppy_preference_list`), where "healthy" is this
   coordinator's own view (§4.8.3: a node that did not answer is left out
   until a probe reaches it again);
3. sends the request to all of them at once and feeds every answer into the
   request's state machine (`kv.dynamo.quorum`), answering the client as
   soon as it decides;
4. after a read, lets the other replies come in (bounded by the node call
   timeout) and writes the reconciled object back to every replica that
   answered with an older or missing copy: read repair.

The ring and the bucket properties come from the nodes' gossip: the
service asks one node for them when it starts and every
`refresh_interval_s` after (the paper's clients and request coordinators
learn membership the same way). Bucket property changes go to one node,
which gossips them on.

Writes are coordinated by the first target (`Coordinate`), which increments
the vector clock as its own actor; its stored object is then sent to the
other targets (`Store`). Deletes are tombstone writes; a delete without a
causal context first reads the key (quorum `rw`) to take its clock, and
answers "not found" without writing when nobody has it, as Riak's does.

Two observation hooks of dsql's own, not Riak's, serve `dsql compare`:
`copies` counts each key's up-to-date copies from every node's holdings
(kv/dynamo/copies.py says what is counted), and `aae_settings`/`set_aae`
read and switch active anti-entropy on every ring member (`AaeSwitch`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from typing import Any

import trio

from cluster.transport import RemoteError, Unreachable
from kv.dynamo.copies import CopiesReport, build_report
from kv.dynamo.interface import (
    BUCKET_BYTES_MAX,
    KEY_BYTES_MAX,
    AaeSetting,
    AaeSwitch,
    BucketProps,
    Coordinate,
    DeleteOptions,
    DynamoRequestError,
    Fetch,
    GetOptions,
    Gossip,
    Holdings,
    InvalidRequest,
    Join,
    ListKeys,
    NodeBadRequest,
    NodeSiblingLimit,
    NodeStats,
    PutOptions,
    RequestTimeout,
    SetProps,
    SiblingLimit,
    Store,
    Sync,
    check_aae_setting,
    check_quorum,
    props_with,
    resolve_quorum,
)
from kv.dynamo.objects import NewContent, StoredObject, decode_object, encode_object
from kv.dynamo.quorum import ReadDone, ReadQuorum, WriteQuorum
from kv.dynamo.ring import Ring, Target, hash_key
from kv.dynamo.ring import merge as merge_rings
from kv.dynamo.vclock import VClock

log = logging.getLogger(__name__)

NODE_ERRORS = (Unreachable, trio.TooSlowError, RemoteError, NodeBadRequest)
REQUEST_TIMEOUT_S = 10.0  # Riak's default is 60 s; a request that cannot finish in 10 is reported
LATENCY_SAMPLES = 2048
# Copies one node may contribute to one copies report (pages of interface.HOLDINGS_ITEMS_MAX):
# past it the report says "truncated" rather than holding a whole large bucket in memory.
COPIES_PER_NODE_MAX = 200_000
# A holdings page reads up to HOLDINGS_BYTES_MAX of objects: more than a quorum call's timeout.
HOLDINGS_CALL_TIMEOUT_S = 10.0
# Each member's anti-entropy setting, and the members that did not answer.
AaeSettings = tuple[dict[str, AaeSetting], list[str]]


class _Latencies:
    """The last LATENCY_SAMPLES request times, for /stats percentiles."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.count = 0

    def add(self, seconds: float) -> None:
        if len(self.samples) < LATENCY_SAMPLES:
            self.samples.append(seconds)
        else:
            self.samples[self.count % LATENCY_SAMPLES] = seconds
        self.count += 1

    def percentile(self, p: float) -> int:
        if not self.samples:
            return 0
        ordered = sorted(self.samples)
        return int(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1e6)  # µs, as Riak's stats


class DynamoService:
    """Coordinates Dynamo requests for one front end; `run` must be started before the first."""

    def __init__(
        self,
        transport,
        seeds: Sequence[str],
        *,
        call_timeout_s: float = 2.0,
        refresh_interval_s: float = 1.0,
        probe_interval_s: float = 1.0,
        rng: random.Random | None = None,
        name: str = "dynamo-service",
    ) -> None:
        if not seeds:
            raise ValueError("a Dynamo service needs at least one node to learn the ring from")
        self.transport = transport
        self.seeds = tuple(seeds)
        self.call_timeout_s = call_timeout_s
        self.refresh_interval_s = refresh_interval_s
        self.probe_interval_s = probe_interval_s
        self.rng = rng or random.Random()
        self.name = name
        self.ring: Ring | None = None
        self.props: dict[bytes, tuple[int, BucketProps]] = {}
        self.down: set[str] = set()
        self._endpoints: dict[str, tuple[str, int]] = {}
        self.counters: dict[str, int] = {
            "node_gets": 0, "node_puts": 0, "node_deletes": 0, "read_repairs": 0,
            "get_failures": 0, "put_failures": 0, "coordinator_retries": 0, "sloppy_targets": 0,
        }  # fmt: skip
        self.get_latency = _Latencies()
        self.put_latency = _Latencies()
        self._nursery: trio.Nursery | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            while self.ring is None:
                await self.refresh()
                if self.ring is None:
                    await trio.sleep(0.05)
            nursery.start_soon(self._refresh_loop)
            nursery.start_soon(self._probe_loop)
            task_status.started(self)

    async def refresh(self) -> bool:
        """Take the ring and bucket properties from one reachable node (a seed first)."""
        candidates = list(self.ring.members) if self.ring is not None else list(self.seeds)
        self.rng.shuffle(candidates)
        candidates.sort(key=lambda node: node in self.down)
        for node in candidates:
            try:
                state = await self._call(node, "gossip", Gossip(None, ()))
                self._learn(state.ring, state.buckets, state.endpoints)
            except NODE_ERRORS:
                self.down.add(node)
                continue
            except (ValueError, TypeError) as exc:  # a view this build cannot read: ask another
                log.warning("dynamo: %s sent a ring or properties that do not decode: %s", node, exc)
                continue
            return True
        return False

    def _learn(self, ring_bytes: bytes, buckets, endpoints=()) -> None:
        for node, host, port in endpoints:
            if self._endpoints.get(node) != (host, port):
                self._endpoints[node] = (host, port)
                self.transport.learn_address(node, (host, port))
        ring = Ring.decode(ring_bytes)
        self.ring = ring if self.ring is None else merge_rings(self.ring, ring)
        for bucket, version, props in buckets:
            current = self.props.get(bucket)
            if current is None or version >= current[0]:
                self.props[bucket] = (version, props)

    async def _refresh_loop(self) -> None:
        while True:
            await trio.sleep(self.refresh_interval_s)
            await self.refresh()

    async def _probe_loop(self) -> None:
        """Try the nodes believed down again (§4.8.3: periodic retries)."""
        while True:
            await trio.sleep(self.probe_interval_s)
            await self.check_nodes(sorted(self.down))

    async def check_nodes(self, nodes: Sequence[str] | None = None) -> set[str]:
        """Ask `nodes` (default: every member) whether they answer, now, and
        update which are down; returns the nodes down afterwards."""
        nodes = list(self._ring().members) if nodes is None else list(nodes)

        async def probe(node: str) -> None:
            try:
                await self._call(node, "gossip", Gossip(None, ()))
            except NODE_ERRORS:
                self.down.add(node)
            else:
                self.down.discard(node)

        async with trio.open_nursery() as nursery:
            for node in nodes:
                nursery.start_soon(probe, node)
        return set(self.down)

    async def _call(self, node: str, method: str, request, timeout_s: float | None = None):
        with trio.fail_after(timeout_s or self.call_timeout_s):
            return await self.transport.connect(node).call(method, request)

    def _mark(self, node: str, exc: BaseException) -> None:
        if isinstance(exc, (Unreachable, trio.TooSlowError)):
            self.down.add(node)

    # -- properties ---------------------------------------------------------------------

    async def bucket_props(self, bucket: bytes) -> BucketProps:
        _check_bucket(bucket)
        entry = self.props.get(bucket)
        return entry[1] if entry is not None else BucketProps()

    async def set_bucket_props(self, bucket: bytes, changes: dict[str, Any]) -> BucketProps:
        _check_bucket(bucket)
        props = props_with(await self.bucket_props(bucket), changes)
        if props.n_val > len(self._ring().members):
            raise InvalidRequest(f"n_val = {props.n_val}: the ring has only {len(self._ring().members)} nodes")
        await self._set_props(bucket, props)
        return props

    async def reset_bucket_props(self, bucket: bytes) -> None:
        _check_bucket(bucket)
        await self._set_props(bucket, BucketProps())

    async def _set_props(self, bucket: bytes, props: BucketProps) -> None:
        for node in self._healthy_members():
            try:
                state = await self._call(node, "set_props", SetProps(bucket, props))
            except NODE_ERRORS as exc:
                self._mark(node, exc)
                continue
            self._learn(state.ring, state.buckets, state.endpoints)
            return
        raise RequestTimeout("setting bucket properties (no node reachable)")

    def _ring(self) -> Ring:
        if self.ring is None:
            raise RequestTimeout("learning the ring")
        return self.ring

    def _healthy_members(self) -> list[str]:
        members = list(self._ring().members)
        self.rng.shuffle(members)
        members.sort(key=lambda node: node in self.down)
        return members

    def _targets(self, bucket: bytes, key: bytes, n_val: int) -> list[Target]:
        ring = self._ring()
        n = min(n_val, len(ring.members))
        targets = ring.sloppy_preference_list(hash_key(bucket, key), n, self.down)
        self.counters["sloppy_targets"] += sum(1 for t in targets if t.hint is not None)
        return targets

    # -- get -----------------------------------------------------------------------------

    async def get(self, bucket: bytes, key: bytes, options: GetOptions = GetOptions()) -> StoredObject | None:
        """The reconciled object (None: no replica has it; `.deleted`: a tombstone)."""
        _check_key(bucket, key)
        props = await self.bucket_props(bucket)
        n_val = props.n_val
        r = _quorum("r", options.r, props.r, n_val)
        pr = _quorum("pr", options.pr, props.pr, n_val)
        if r < 1:
            raise InvalidRequest("r must be at least 1")
        notfound_ok = props.notfound_ok if options.notfound_ok is None else options.notfound_ok
        basic_quorum = props.basic_quorum if options.basic_quorum is None else options.basic_quorum
        started = time.perf_counter()
        try:
            result = await self._read(bucket, key, props, r=r, pr=pr, notfound_ok=notfound_ok,
                                      basic_quorum=basic_quorum, timeout_s=options.timeout_s)  # fmt: skip
        except DynamoRequestError:
            self.counters["get_failures"] += 1
            raise
        self.counters["node_gets"] += 1
        self.get_latency.add(time.perf_counter() - started)
        return result

    async def _read(
        self, bucket: bytes, key: bytes, props: BucketProps, *, r: int, pr: int, notfound_ok: bool,
        basic_quorum: bool, timeout_s: float | None,
    ) -> StoredObject | None:  # fmt: skip
        targets = self._targets(bucket, key, props.n_val)
        read = ReadQuorum(
            targets, r=r, pr=pr, notfound_ok=notfound_ok,
            basic_quorum=basic_quorum, allow_mult=props.allow_mult, n_val=props.n_val,
        )  # fmt: skip
        if read.outcome is None:
            decided = trio.Event()
            finished = trio.Event()

            async def ask(target: Target) -> None:
                try:
                    reply = await self._call(target.node, "fetch", Fetch(bucket, key))
                    obj = None if reply.object is None else decode_object(reply.object)
                except (*NODE_ERRORS, ValueError) as exc:
                    self._mark(target.node, exc)
                    read.failed(target.node)
                else:
                    read.reply(target.node, obj)
                if read.outcome is not None:
                    decided.set()
                if read.complete:
                    finished.set()

            nursery = self._background()
            for target in targets:
                nursery.start_soon(ask, target)
            nursery.start_soon(self._read_repair, bucket, key, read, finished, props)
            await self._wait(decided, timeout_s, "read")
        if isinstance(read.outcome, DynamoRequestError):
            raise read.outcome
        assert isinstance(read.outcome, ReadDone)
        return read.outcome.object

    async def _read_repair(self, bucket: bytes, key: bytes, read: ReadQuorum, finished: trio.Event, props: BucketProps) -> None:
        """Once every target answered (or the call timeout passed), write the
        reconciled object to each replica that answered with an older or no copy."""
        with trio.move_on_after(self.call_timeout_s + 0.5):
            await finished.wait()
        repairs = read.repairs()
        if not repairs:
            return
        from_targets = {t.node: t.hint for t in read.targets}
        for node, obj in repairs.items():
            data = encode_object(obj)
            try:
                await self._call(node, "store", Store(bucket, key, data, props.allow_mult, False, from_targets.get(node)))
                self.counters["read_repairs"] += 1
            except NODE_ERRORS as exc:
                self._mark(node, exc)

    # -- put / delete ------------------------------------------------------------------------

    async def put(
        self, bucket: bytes, key: bytes, content: NewContent, context: VClock | None,
        options: PutOptions = PutOptions(),
    ) -> StoredObject:  # fmt: skip
        """Store a client's value; returns the object its coordinator stored."""
        _check_key(bucket, key)
        props = await self.bucket_props(bucket)
        started = time.perf_counter()
        try:
            obj = await self._write(bucket, key, props, content, context, delete=False,
                                    w=options.w, dw=options.dw, pw=options.pw, timeout_s=options.timeout_s)  # fmt: skip
        except DynamoRequestError:
            self.counters["put_failures"] += 1
            raise
        self.counters["node_puts"] += 1
        self.put_latency.add(time.perf_counter() - started)
        return obj

    async def delete(
        self, bucket: bytes, key: bytes, context: VClock | None, options: DeleteOptions = DeleteOptions(),
    ) -> bool:  # fmt: skip
        """Write a tombstone; False (and nothing written) when no context was given and nobody has the key."""
        _check_key(bucket, key)
        props = await self.bucket_props(bucket)
        if context is None:
            rw = _quorum("rw", options.rw, props.rw, props.n_val)
            current = await self._read(bucket, key, props, r=max(1, rw), pr=0, notfound_ok=props.notfound_ok,
                                       basic_quorum=props.basic_quorum, timeout_s=options.timeout_s)  # fmt: skip
            if current is None or current.deleted:
                return False
            context = current.clock
        await self._write(bucket, key, props, NewContent(b""), context, delete=True,
                          w=options.w, dw=options.dw, pw=options.pw, timeout_s=options.timeout_s)  # fmt: skip
        self.counters["node_deletes"] += 1
        return True

    async def _write(
        self, bucket: bytes, key: bytes, props: BucketProps, content: NewContent, context: VClock | None, *,
        delete: bool, w: Any, dw: Any, pw: Any, timeout_s: float | None,
    ) -> StoredObject:  # fmt: skip
        n_val = props.n_val
        write = WriteQuorum(
            self._targets(bucket, key, n_val),
            w=max(1, _quorum("w", w, props.w, n_val)), dw=_quorum("dw", dw, props.dw, n_val),
            pw=_quorum("pw", pw, props.pw, n_val), n_val=n_val,
        )  # fmt: skip
        if write.outcome is None:
            decided = trio.Event()
            async def replicate(target: Target, data: bytes) -> None:
                try:
                    reply = await self._call(
                        target.node, "store", Store(bucket, key, data, props.allow_mult, write.durable_wanted, target.hint)
                    )
                except NODE_ERRORS as exc:
                    self._mark(target.node, exc)
                    write.failed(target.node)
                else:
                    write.reply(target.node, reply.durable)
                if write.outcome is not None:
                    decided.set()

            async def sync(node: str) -> None:
                try:
                    await self._call(node, "sync", Sync())
                except NODE_ERRORS as exc:
                    self._mark(node, exc)
                    write.sync_failed(node)
                else:
                    write.synced(node)
                if write.outcome is not None:
                    decided.set()

            async def coordinate() -> None:
                target = write.next_coordinator()
                while target is not None:
                    # Appended, not synced: the coordinator syncs (`Sync`) while the replicas store.
                    request = Coordinate(
                        bucket, key, content.value, content.content_type, content.user_meta,
                        None if context is None else context.encode(), delete, props.allow_mult,
                        False, target.hint,
                    )  # fmt: skip
                    try:
                        reply = await self._call(target.node, "coordinate", request)
                        obj = decode_object(reply.object)
                    except NodeSiblingLimit as exc:
                        write.outcome = SiblingLimit(str(exc))
                        break
                    except (*NODE_ERRORS, ValueError) as exc:
                        self._mark(target.node, exc)
                        self.counters["coordinator_retries"] += 1
                        target = write.coordinate_failed(target.node)
                        continue
                    for replica in write.coordinated(target.node, obj, reply.durable):
                        nursery.start_soon(replicate, replica, reply.object)
                    if target.node in write.syncing:
                        nursery.start_soon(sync, target.node)
                    break
                if write.outcome is not None:
                    decided.set()

            nursery = self._background()
            nursery.start_soon(coordinate)
            await self._wait(decided, timeout_s, "write")
        if isinstance(write.outcome, DynamoRequestError):
            raise write.outcome
        assert write.outcome is not None
        return write.outcome.object

    def _background(self) -> trio.Nursery:
        if self._nursery is None:
            raise RuntimeError("DynamoService.run must be started before requests")
        return self._nursery

    async def _wait(self, decided: trio.Event, timeout_s: float | None, what: str) -> None:
        with trio.move_on_after(timeout_s or REQUEST_TIMEOUT_S):
            await decided.wait()
            return
        raise RequestTimeout(what)

    # -- listing, stats ---------------------------------------------------------------------

    async def list_keys(self, bucket: bytes) -> list[bytes]:
        """The live keys of a bucket: the union of every reachable node's (a full scan, as Riak's)."""
        _check_bucket(bucket)
        return await self._union(ListKeys(bucket))

    async def list_buckets(self) -> list[bytes]:
        return await self._union(ListKeys(b""))

    async def _union(self, request: ListKeys) -> list[bytes]:
        found: set[bytes] = set()
        reached = 0

        async def ask(node: str) -> None:
            nonlocal reached
            try:
                reply = await self._call(node, "list_keys", request, timeout_s=max(self.call_timeout_s, 10.0))
            except NODE_ERRORS as exc:
                self._mark(node, exc)
                return
            reached += 1
            found.update(reply.keys)

        async with trio.open_nursery() as nursery:
            for node in self._ring().members:
                if node not in self.down:
                    nursery.start_soon(ask, node)
        if reached == 0:
            raise RequestTimeout("listing (no node reachable)")
        return sorted(found)

    async def ping(self) -> bool:
        return self.ring is not None

    async def stats(self) -> dict[str, int | float | str]:
        ring = self._ring()
        out: dict[str, int | float | str] = dict(self.counters)
        out.update(
            ring_members=len(ring.members), ring_num_partitions=ring.partitions, ring_version=ring.version,
            ring_ownership=str({node: count for node, count in sorted(ring.partition_counts().items())}),
            nodes_down=len(self.down),
            node_get_fsm_time_median=self.get_latency.percentile(0.5),
            node_get_fsm_time_99=self.get_latency.percentile(0.99),
            node_put_fsm_time_median=self.put_latency.percentile(0.5),
            node_put_fsm_time_99=self.put_latency.percentile(0.99),
        )  # fmt: skip
        totals: dict[str, int] = {}

        async def ask(node: str) -> None:
            try:
                reply = await self._call(node, "node_stats", NodeStats())
            except NODE_ERRORS as exc:
                self._mark(node, exc)
                return
            for name, value in reply.counters.items():
                if name.startswith(("ring_", "partitions_")):
                    continue
                totals[name] = totals.get(name, 0) + value

        async with trio.open_nursery() as nursery:
            for node in ring.members:
                if node not in self.down:
                    nursery.start_soon(ask, node)
        out.update(totals)
        return out

    # -- observation hooks (dsql's, not Riak's) -----------------------------------------------

    async def _ask_members(self, method: str, request) -> tuple[dict[str, Any], list[str]]:
        """`request` to every ring member at once: the replies by node, and the nodes that gave none."""
        replies: dict[str, Any] = {}
        unreachable: list[str] = []

        async def ask(node: str) -> None:
            try:
                replies[node] = await self._call(node, method, request)
            except NODE_ERRORS as exc:
                self._mark(node, exc)
                unreachable.append(node)

        async with trio.open_nursery() as nursery:
            for node in self._ring().members:
                nursery.start_soon(ask, node)
        return replies, sorted(unreachable)

    async def copies(self, bucket: bytes, *, copies_per_node_max: int = COPIES_PER_NODE_MAX) -> CopiesReport:
        """Every ring member's copies of `bucket`, counted per key (kv/dynamo/copies.py)."""
        _check_bucket(bucket)
        await self.refresh()  # the ring as the nodes have it now: primaries are judged by it
        ring = self._ring()
        props = await self.bucket_props(bucket)
        holdings: dict[str, list[tuple[bytes, bytes]]] = {}
        unreachable: list[str] = []
        truncated = False

        async def gather(node: str) -> None:
            nonlocal truncated
            items: list[tuple[bytes, bytes]] = []
            after = None
            try:
                while True:
                    timeout_s = max(self.call_timeout_s, HOLDINGS_CALL_TIMEOUT_S)
                    reply = await self._call(node, "holdings", Holdings(bucket, after), timeout_s=timeout_s)
                    items.extend((key, data) for _bucket, key, data in reply.items)
                    if len(items) >= copies_per_node_max and (reply.more or len(items) > copies_per_node_max):
                        del items[copies_per_node_max:]
                        truncated = True
                        break
                    if not reply.more or not reply.items:
                        break
                    after = (bucket, reply.items[-1][1])
            except NODE_ERRORS as exc:  # a node that stops answering midway holds nothing we can count
                self._mark(node, exc)
                unreachable.append(node)
                return
            holdings[node] = items

        async with trio.open_nursery() as nursery:
            for node in ring.members:
                nursery.start_soon(gather, node)
        return build_report(bucket, props.n_val, ring, holdings, unreachable, truncated)

    async def aae_settings(self) -> AaeSettings:
        """Each member's anti-entropy setting, and the members that did not answer."""
        return await self._ask_members("aae_switch", AaeSwitch(None))

    async def set_aae(self, enabled: bool, interval_s: float = 0.0) -> AaeSettings:
        """Switch active anti-entropy on or off on every member (interval 0: each node's configured one).

        The setting's version is above every member's, so it wins wherever gossip meets an
        older one; a member that did not answer takes it from gossip."""
        try:
            check_aae_setting(AaeSetting(0, enabled, interval_s))
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        current, _ = await self.aae_settings()
        version = max([time.time_ns(), *(setting.version + 1 for setting in current.values())])
        setting = AaeSetting(version, enabled, interval_s)
        replies, unreachable = await self._ask_members("aae_switch", AaeSwitch(setting))
        if not replies:
            raise RequestTimeout("switching anti-entropy (no node reachable)")
        return replies, unreachable

    # -- membership (admin) ------------------------------------------------------------------

    async def join(self, node: str) -> None:
        """Add `node` (already serving) to the ring, through one member; gossip spreads it."""
        for member in self._healthy_members():
            try:
                state = await self._call(member, "join", Join(node))
            except NODE_ERRORS as exc:
                self._mark(member, exc)
                continue
            self._learn(state.ring, state.buckets, state.endpoints)
            return
        raise RequestTimeout("joining (no member reachable)")


def _check_bucket(bucket: bytes) -> None:
    if not isinstance(bucket, bytes) or not 1 <= len(bucket) <= BUCKET_BYTES_MAX:
        raise InvalidRequest(f"bucket names are 1 to {BUCKET_BYTES_MAX} bytes")


def _check_key(bucket: bytes, key: bytes) -> None:
    _check_bucket(bucket)
    if not isinstance(key, bytes) or not 1 <= len(key) <= KEY_BYTES_MAX:
        raise InvalidRequest(f"keys are 1 to {KEY_BYTES_MAX} bytes")


def _quorum(name: str, requested: Any, bucket_value: Any, n_val: int) -> int:
    value = bucket_value if requested is None else check_quorum(name, requested, n_val)
    number = resolve_quorum(value, n_val, bucket_value)
    if not 0 <= number <= n_val:
        raise InvalidRequest(f"{name} = {number} is more than n_val ({n_val})")
    return number

