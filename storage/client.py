"""The one way to read storage: routing by key range, a read policy per call.

The QP, the DynamoDB front end and the tests all read through `StorageClient`.
It knows the shard map and, per shard, the storage nodes hosting a replica of
it (`hosts`: the configuration's placement at first). Replicas move while the
cluster runs (storage/placement.py); a node that no longer holds a shard
answers `WrongShard`, and the client then asks the storage nodes for the
newest placement (`refresh_placement`) and goes on with it, so it learns of
every change the first time one costs it a read. A batch of point reads is split by shard and sent
as one request per group of shards with the same hosts; a range scan walks
the shards it overlaps in key order (reverse order for a descending scan),
page by page. Requests and replies are the typed messages of
`storage.interface`.

Each call names its read policy:

- `STRONG` (the default): as of the caller's τ. Any replica that reaches τ
  gives the same answer (the snapshot invariant), so any host serves it, in
  turn. A replica waits until its watermark reaches τ, so a held-back one
  (paused, partitioned, slow to apply) would keep the read waiting for the
  node's own 15 s limit: each replica but the last gets
  `STRONG_READ_FAILOVER_S` to answer, then the next is asked, and the slow one
  is remembered as suspect for `SUSPECT_FOR_S` so that the following reads go
  elsewhere first. Failing over never changes a result. A replica that answers
  `CatalogChanged` has answered (the catalog differs as of τ): that is raised
  at once.
- `EVENTUAL`: whatever some replica has applied, no waiting, possibly stale
  (DynamoDB's default reads). Replicas are asked in turn, moving on only when
  one fails; an eventual scan stays on one replica where it can, so its pages
  come from one replica's history, which only moves forward.
- `LEADER`: DynamoDB's ConsistentRead, which DynamoDB serves from the
  item's leader replica only. A shard's leader is the first storage node of
  its placement (placement is data, so every process agrees on it); the read
  is as of the given τ, or as of now (the client's clock) when τ is None,
  which sees every write acknowledged before the call. When the leader does
  not answer within `LEADER_READ_S`, the read fails with `LeaderUnavailable`
  (naming the shard and the node) and does not try another replica: the
  caller waits for a new leader (`storage.placement.with_leader_moved`,
  which the DynamoDB front end commits after a failover delay), as DynamoDB
  is unavailable for strong reads until its replica group elects one.

When every host of a shard fails, the client raises `StorageUnavailable`
(the last replica's own, or one naming the last failure), which each caller
maps to its own "unavailable" error.
"""

from __future__ import annotations

import enum
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import trio

from cluster.clock import Clock
from cluster.timeslice import checkpoint_if_due
from cluster.topology import Topology
from cluster.transport import NOT_NOW, InProcessTransport, Peer, RemoteError, Unreachable
from storage.interface import (
    CatchingUp,
    Get,
    GetLatest,
    NodeStatus,
    Placement,
    PlacementQuery,
    Scan,
    ScanPage,
    Status,
    StorageUnavailable,
    Values,
    WrongShard,
)
from storage.placement import shard_map

# How long one replica gets to reach a strong read's τ before the read asks
# another: far above a healthy replica's apply lag (milliseconds), short
# enough that a held-back replica costs a client well under a second.
STRONG_READ_FAILOVER_S = 0.25
# The same for an eventual read (which does not wait for any τ: a healthy replica
# answers in milliseconds).
EVENTUAL_READ_FAILOVER_S = 0.25
# A replica that missed that deadline (or failed) is asked last for this long.
SUSPECT_FOR_S = 5.0

# What a failed replica may answer, after which another may be asked.
# How long eventual reads wait for replicas that are all catching up, and how often they ask.
CATCH_UP_WAIT_S = 10.0
CATCH_UP_POLL_S = 0.02
_REPLICA_FAILURES = (StorageUnavailable, Unreachable, RemoteError, WrongShard)
# Asking a storage node for the placement: bounded, so a read that triggers a
# refresh is never held long by a node that does not answer.
PLACEMENT_QUERY_S = 0.5
# How long a LEADER read waits for the shard's leader replica before it reports it unavailable.
LEADER_READ_S = 2.0


class LeaderUnavailable(StorageUnavailable):
    """A LEADER read's shard leader did not answer (local to this process, never sent):
    `start` names the shard by the key it begins at, `node` is the leader asked."""

    def __init__(self, message: str, start: bytes = b"", node: int = -1) -> None:
        super().__init__(message, start, node)
        self.start, self.node = start, node

    def __str__(self) -> str:
        return str(self.args[0])


class _PlacementStale(Exception):
    """Every host this client knows for a shard answered `WrongShard`, or none answered at all
    (`unavailable`: the error to raise if no newer placement names other hosts)."""

    def __init__(self, unavailable: StorageUnavailable | None = None) -> None:
        super().__init__()
        self.unavailable = unavailable


class ReadPolicy(enum.Enum):
    STRONG = "strong"
    EVENTUAL = "eventual"
    LEADER = "leader"


STRONG = ReadPolicy.STRONG
EVENTUAL = ReadPolicy.EVENTUAL
LEADER = ReadPolicy.LEADER


class StorageClient:
    def __init__(
        self,
        topology: Topology,
        transport: InProcessTransport,
        *,
        clock: Clock | None = None,
        hosts: Sequence[Sequence[int]] | None = None,
        page_rows: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`hosts[s]`: the storage nodes hosting shard s (default: every node
        hosts every shard). `page_rows`: rows per scan page unless a call says
        (0: the node's own page size). `clock` is needed only by `LEADER`
        reads without a τ."""
        self.topology = topology
        self.ranges = topology.shard_ranges
        self.clock = clock
        self.page_rows = page_rows
        self._monotonic = monotonic
        self._transport = transport
        self._nodes: dict[int, Peer] = {}
        self._suspect_until: dict[int, float] = {}
        self._turn = itertools.count()
        self._hosts: list[tuple[int, ...]] = []
        self.placement = Placement(0, ())  # set below from `hosts`
        self._stale = False
        self._refreshing = trio.Lock()
        if hosts is None:
            hosts = [topology.hosts_of_shard(s) for s in range(len(self.ranges))]
        self.set_placement(hosts)
        self.placement = Placement(0, tuple(self._hosts), splits=self.ranges.splits)

    def set_placement(self, hosts: Sequence[Sequence[int]]) -> None:
        """Which storage nodes host each shard (by shard index)."""
        assert len(hosts) == len(self.ranges), "one host list per shard"
        placement = [tuple(h) for h in hosts]
        for shard, nodes in enumerate(placement):
            if not nodes or not all(n >= 0 for n in nodes):
                raise ValueError(f"shard {shard}: hosts {nodes} are not storage nodes")
        self._hosts = placement

    @property
    def placement_version(self) -> int:
        return self.placement.version

    def apply_placement(self, placement: Placement) -> bool:
        """Take `placement` if it is newer than the one this client reads by."""
        if placement.version <= self.placement.version:
            return False
        for node, host, port in placement.endpoints:
            self._transport.learn_address(self.topology.storage_address(node), (host, port))
        self.ranges = shard_map(placement)
        self.set_placement(placement.shard_hosts)
        self.placement = placement
        return True

    async def refresh_placement(self, *, force: bool = False) -> None:
        """Ask the storage nodes this client knows for the newest placement
        (after a `WrongShard`, or when `force`d)."""
        if force:
            self._stale = True
        async with self._refreshing:
            if not self._stale:
                return  # another task refreshed meanwhile
            known = sorted({n for hosts in self._hosts for n in hosts} | set(self._nodes))
            newest: Placement | None = None
            for node in known:
                with trio.move_on_after(PLACEMENT_QUERY_S):
                    try:
                        placement = await self._node(node).call("placement", PlacementQuery())
                    except _REPLICA_FAILURES:
                        continue
                    if newest is None or placement.version > newest.version:
                        newest = placement
            if newest is not None:
                self.apply_placement(newest)
            self._stale = False

    def _node(self, node: int) -> Peer:
        peer = self._nodes.get(node)
        if peer is None:
            peer = self._nodes[node] = self._transport.connect(self.topology.storage_address(node))
        return peer

    def hosts(self, shard: int) -> tuple[int, ...]:
        return self._hosts[shard]

    def suspects(self) -> set[int]:
        """Storage nodes asked last for now (they missed a strong read's deadline or failed)."""
        now = self._monotonic()
        return {n for n, until in self._suspect_until.items() if until > now}

    # -- choosing replicas -------------------------------------------------------------

    def _order(self, hosts: tuple[int, ...]) -> Sequence[int]:
        """Hosts to ask, starting at the next in turn; suspects last."""
        count = len(hosts)
        if count == 1:
            return hosts
        first = next(self._turn) % count
        order = hosts[first:] + hosts[:first]
        suspect_until = self._suspect_until
        if not suspect_until:
            return order
        now = self._monotonic()
        if all(suspect_until.get(n, 0.0) <= now for n in order):
            return order
        return [n for n in order if suspect_until.get(n, 0.0) <= now] + [
            n for n in order if suspect_until.get(n, 0.0) > now
        ]

    async def _strong(self, hosts: tuple[int, ...], method: str, request: Any) -> Any:
        order = self._order(hosts)
        # The first host may answer at once, in this task (a replica in this process
        # that has applied τ: cluster/transport.py's `call_now`). Anything else, a
        # failure included, goes the usual way, which handles it.
        try:
            value = self._node(order[0]).call_now(method, request)
        except _REPLICA_FAILURES:
            value = NOT_NOW
        if value is not NOT_NOW:
            return value
        last = len(order) - 1
        for attempt, node in enumerate(order):
            if attempt == last:  # the last one is waited for as long as the node itself allows
                try:
                    return await self._node(node).call(method, request)
                except WrongShard:
                    self._stale = True
                    raise _PlacementStale() from None
                except _REPLICA_FAILURES as exc:
                    # No host this client knows answered: the shard may have moved to other
                    # nodes while nobody asked these (a drain, then these lost). The caller
                    # asks for the newest placement once before giving up.
                    raise _PlacementStale(_unavailable(exc)) from None
            try:
                with trio.move_on_after(STRONG_READ_FAILOVER_S):
                    return await self._node(node).call(method, request)
            except WrongShard:
                self._stale = True  # the replica moved away: learn where to, after this read
                continue
            except _REPLICA_FAILURES:
                pass
            self._suspect_until[node] = self._monotonic() + SUSPECT_FOR_S
        raise AssertionError("unreachable: the last host's answer is returned or raised")

    async def _strong_key(self, key: bytes, method: str, request: Any, *, leader: bool = False) -> Any:
        """`_strong` over the hosts of the shard holding `key` (only its leader
        if `leader`), asked again with the newest placement if every host it
        knew has given the shard away."""
        while True:
            version = self.placement.version
            shard = self.ranges.owner(key)
            try:
                if leader:
                    return await self._leader(shard, method, request)
                return await self._strong(self._hosts[shard], method, request)
            except _PlacementStale as stale:
                await self._learn_newer(version, stale.unavailable)

    async def _leader(self, shard: int, method: str, request: Any) -> Any:
        """A strong read of the shard's leader replica alone (LEADER)."""
        node = self._hosts[shard][0]
        try:
            with trio.fail_after(LEADER_READ_S):
                return await self._node(node).call(method, request)
        except WrongShard:
            self._stale = True
            raise _PlacementStale() from None
        except (*_REPLICA_FAILURES, trio.TooSlowError) as exc:
            start = self.ranges.bounds(shard)[0]
            raise LeaderUnavailable(
                f"the leader of shard [{start.hex() or '-'}...), storage node {node}, did not answer: "
                f"{type(exc).__name__}", start, node,
            ) from None

    async def _learn_newer(self, version: int, unavailable: StorageUnavailable | None = None) -> None:
        """Refresh the placement after every host of a shard refused it (or none
        answered: `unavailable`); if no node knows a placement newer than `version`,
        no replica can serve the read."""
        await self.refresh_placement(force=True)
        if self.placement.version <= version:
            if unavailable is not None:
                raise unavailable
            raise StorageUnavailable(f"no storage node holds the shard any more (placement {version}), as they say")

    async def _eventual(self, order: Sequence[int], method: str, request: Any) -> Any:
        # Replicas that are all still catching up (a cluster just started, or every
        # replica of a shard restarted) are asked again shortly, within a bound.
        # A replica that does not answer at once (cut off, paused) is given
        # EVENTUAL_READ_FAILOVER_S before the next is asked, and then asked last for a
        # while: an eventual read is what stays cheap and available when a host is lost.
        deadline = self._monotonic() + CATCH_UP_WAIT_S
        last = len(order) - 1
        last_error: Exception = StorageUnavailable("no storage node holds the shard")
        while True:
            catching_up = wrong_shard = 0
            for attempt, node in enumerate(order):
                try:
                    if attempt == last:  # the last one is waited for as long as the node itself allows
                        return await self._node(node).call(method, request)
                    with trio.move_on_after(EVENTUAL_READ_FAILOVER_S):
                        return await self._node(node).call(method, request)
                    self._suspect_until[node] = self._monotonic() + SUSPECT_FOR_S
                    last_error = StorageUnavailable(f"storage node {node} did not answer within "
                                                    f"{EVENTUAL_READ_FAILOVER_S:g} s")  # fmt: skip
                except CatchingUp as exc:
                    catching_up += 1
                    last_error = exc
                except WrongShard as exc:
                    self._stale = True
                    wrong_shard += 1
                    last_error = exc
                except _REPLICA_FAILURES as exc:
                    last_error = exc
            if wrong_shard == len(order):
                raise _PlacementStale()
            if catching_up < len(order) or self._monotonic() > deadline:
                raise _unavailable(last_error) from None
            await trio.sleep(CATCH_UP_POLL_S)

    def _tau(self, tau: int | None, policy: ReadPolicy) -> int:
        if tau is None:
            if policy is not LEADER or self.clock is None:
                raise ValueError(f"a {policy.value} read needs a τ")
            return self.clock.now().latest
        if tau < 0:  # once the spelling of an eventual read: refused, not read as of the beginning of time
            raise ValueError(f"a {policy.value} read at τ {tau}: use policy=EVENTUAL")
        return tau

    # -- point reads ---------------------------------------------------------------------

    async def get(
        self,
        keys: Sequence[bytes],
        tau: int | None = None,
        catalog_version: int | None = None,
        *,
        policy: ReadPolicy = STRONG,
        newer: list[bytes] | None = None,
    ) -> list[Any]:
        """Values of `keys` (None where absent), in the order asked: as of τ
        (STRONG, LEADER) or each replica's newest (EVENTUAL).

        `newer`, if given, receives the keys that have a version committed after τ."""
        if not keys:
            return []
        if policy is EVENTUAL:
            return await self._get_groups(keys, lambda group: GetLatest(group), eventual=True)
        now = tau is None
        tau = self._tau(tau, policy)
        want_newer = newer is not None
        if self._stale:
            await self.refresh_placement()
        leader = policy is LEADER
        if len(keys) == 1:  # the common case: no grouping
            key = keys[0]
            reply: Values = await self._strong_key(key, "get", Get((key,), tau, catalog_version, want_newer),
                                                   leader=leader)  # fmt: skip
            if want_newer and reply.newer:
                newer.extend(reply.newer)
            values = list(reply.values)
        else:
            values = await self._get_groups(keys, lambda group: Get(group, tau, catalog_version, want_newer),
                                            newer=newer, leader=leader)  # fmt: skip
        if now:
            await self._until_past(tau)
        return values

    async def get_through(
        self, key: bytes, tau: int, catalog_version: int | None = None, *, newer: list[bytes] | None = None,
    ) -> tuple[Any, Any]:
        """(value of `key`, value of the key that value is) as of τ, a strong read; the
        second is None when the first is absent or not a key. A unique index entry's
        value is its row's key: this is an index lookup, in one request when a replica
        of the entry's shard holds the row's shard too (`Get.follow`), else in two.

        `newer`, if given, receives those of the two keys that have a version after τ."""
        if self._stale:
            await self.refresh_placement()
        reply: Values = await self._strong_key(key, "get", Get((key,), tau, catalog_version, newer is not None, True))
        if newer is not None and reply.newer:
            newer.extend(reply.newer)
        values = reply.values
        entry = values[0]
        if len(values) == 2:
            return entry, values[1]
        if type(entry) is not bytes:
            return entry, None
        (row,) = await self.get([entry], tau, catalog_version, newer=newer)
        return entry, row

    async def _until_past(self, tau: int) -> None:
        """A read "as of now" answers only once its τ is past in true time. Its τ is
        the clock's `latest`, up to twice the error bound ahead of true time, and
        storage may show a commit at or below it before that commit's own wait has
        ended: a reader that answered at once could be followed by a reader whose
        `latest` is below the commit and miss what the first one saw (a real-time
        order violation). Free when the clock's error bound is 0."""
        assert self.clock is not None
        if not self.clock.is_past(tau):
            await self.clock.wait_until_past(tau)

    async def get_latest(self, keys: Sequence[bytes]) -> list[Any]:
        """`get(keys, policy=EVENTUAL)`."""
        return await self.get(keys, policy=EVENTUAL)

    async def _get_groups(
        self, keys: Sequence[bytes], request: Callable[[tuple[bytes, ...]], Any], *, eventual: bool = False,
        newer: list[bytes] | None = None, leader: bool = False,
    ) -> list[Any]:
        """One request per set of hosts (shards hosted alike share it; with
        `leader`, per shard, to its leader)."""
        if self._stale:
            await self.refresh_placement()
        groups: dict[tuple[int, ...], list[int]] = {}
        owner = self.ranges.owner
        hosts_of = self._hosts
        for i, key in enumerate(keys):
            groups.setdefault((owner(key),) if leader else hosts_of[owner(key)], []).append(i)
        out: list[Any] = [None] * len(keys)
        version = self.placement.version
        for hosts, indexes in groups.items():
            message = request(tuple(keys[i] for i in indexes))
            try:
                if eventual:
                    reply = await self._eventual(self._order(hosts), "get_latest", message)
                elif leader:
                    reply = await self._leader(hosts[0], "get", message)  # `hosts` is (shard,) here
                else:
                    reply = await self._strong(hosts, "get", message)
            except _PlacementStale as stale:
                # The placement moved under this group: read its keys anew, by the newest placement.
                await self._learn_newer(version, stale.unavailable)
                values = await self._get_groups(message.keys, request, eventual=eventual, newer=newer, leader=leader)
                for i, value in zip(indexes, values, strict=True):
                    out[i] = value
                continue
            if newer is not None:
                newer.extend(reply.newer)
            for i, value in zip(indexes, reply.values, strict=True):
                out[i] = value
        return out

    # -- range scans ----------------------------------------------------------------------

    async def scan(
        self,
        start: bytes,
        end: bytes | None,
        tau: int | None = None,
        catalog_version: int | None = None,
        *,
        policy: ReadPolicy = STRONG,
        limit: int = 0,
        reverse: bool = False,
        filter_tree: Any = None,
        projection: tuple[int, ...] | None = None,
        page_rows: int | None = None,
        newer: list[bytes] | None = None,
    ) -> AsyncIterator[list[tuple[bytes, Any]]]:
        """Pages of (key, value) in [start, end), in key order (or reversed):
        as of τ (STRONG, LEADER) or as some replica has applied (EVENTUAL).

        At most `limit` rows in all (0: no limit); `filter_tree` and
        `projection` are applied by storage. `newer`, if given, receives the
        returned keys that have a version after τ."""
        eventual = policy is EVENTUAL
        read_tau = None if eventual else self._tau(tau, policy)
        until_past = read_tau if tau is None and not eventual else None  # see `_until_past`
        rows_per_page = self.page_rows if page_rows is None else page_rows
        want_newer = newer is not None
        remaining = limit
        if self._stale:
            await self.refresh_placement()
        # An eventual scan keeps to one replica where the shards' hosts allow.
        preference = self._order(tuple(sorted({n for h in self._hosts for n in h}))) if eventual else ()
        # [lo_bound, hi_bound) is what is left to scan. Each page is asked of the shard
        # at its near end as the client's shard map has it now; when a node says the
        # map has changed (a shard split or moved), the next page is planned anew.
        lo_bound, hi_bound = start, end
        while True:
            pieces = self.ranges.overlapping(lo_bound, hi_bound)
            if not pieces:
                return
            shard, lo, hi = pieces[-1] if reverse else pieces[0]
            hosts = self._hosts[shard]
            want = remaining if remaining and (not rows_per_page or remaining < rows_per_page) else rows_per_page
            request = Scan(shard, lo, hi, read_tau, catalog_version, want, reverse, filter_tree, projection,
                           want_newer)  # fmt: skip
            version = self.placement.version
            try:
                if eventual:
                    order = [n for n in preference if n in hosts] or list(self._order(hosts))
                    page: ScanPage = await self._eventual(order, "scan", request)
                elif policy is LEADER:
                    page = await self._leader(shard, "scan", request)
                else:
                    page = await self._strong(hosts, "scan", request)
            except _PlacementStale as stale:
                await self._learn_newer(version, stale.unavailable)
                continue
            if want_newer and page.newer:
                newer.extend(page.newer)
            await checkpoint_if_due()  # an in-process page is served in this task (cluster/timeslice.py)
            if until_past is not None:  # an empty page is an answer too
                await self._until_past(until_past)
                until_past = None
            pairs = page.pairs
            if pairs:
                yield list(pairs)
                if remaining:
                    remaining -= len(pairs)
                    if remaining <= 0:
                        return
            resume = page.resume
            if resume is not None:
                if reverse:
                    hi_bound = resume
                else:
                    lo_bound = resume + b"\x00"
            elif reverse:  # this shard's part is done: on to the one before it
                if lo <= lo_bound:
                    return
                hi_bound = lo
            else:  # on to the next shard
                if hi is None:
                    return
                lo_bound = hi

    # -- node state ------------------------------------------------------------------------

    async def status(self, node: int) -> NodeStatus:
        """One storage node's counters (watermark, applied positions, sizes)."""
        return await self._node(node).call("status", Status())


def _unavailable(exc: Exception) -> StorageUnavailable:
    if isinstance(exc, StorageUnavailable):
        return exc
    return StorageUnavailable(f"no replica answered: {type(exc).__name__}: {exc}")
