"""A storage node: replicas of range shards, fed by the journals.

A node subscribes to every journal, merges their streams by τ_commit, and
applies each committed post-image to the replica of the shard that owns its
key (the crossbar's job in DSQL). Each journal is a set of replicas; the node
reads from any of them (the leader first) and moves to another when one
fails, resuming from the position it has received. Records of one journal
arrive in τ order; across journals a record is applied only once every
journal has shown (by a later record or a closed timestamp) that nothing at
or below its τ can still come, and then in τ order. It serves reads as of a
τ:

- A strong read at τ first waits until the node's watermark reaches τ. The
  watermark is the minimum over journals of each journal's closed timestamp,
  so once it is ≥ τ every commit with τ_commit ≤ τ has been applied here and
  none can still arrive. If the watermark is behind, the node asks each
  lagging journal to close τ (`close`), which costs one round trip when the
  journal is idle instead of a wait for the next heartbeat. A journal leader
  in this process with nothing in flight answers the close in the reader's
  own task (`close_now`), and when the node has received every record up to
  the promised position the read answers at once, without a task switch.
- An eventual read (DynamoDB's default) takes whatever the node has applied,
  without waiting; a lagging node really returns stale data.

Each read also carries the catalog version the QP planned with. The node
knows the catalog version as of every τ (DDL records carry it), and refuses a
read whose version differs (`CatalogChanged`): that is how a QP discovers,
reactively, that its cached catalog is stale (DSQL does the same).

Key ranges no table uses any more (a dropped table's or index's, a truncated
table's old range) arrive in commit records as dropped ranges. Snapshots
older than the drop may still read them, so their keys are removed only once
the GC horizon passes the drop's τ, a piece at a time; a checkpoint cut after
the drop leaves them out at once.

Which shards a node holds is the placement (storage/placement.py), itself a
commit the node applies in τ order. A shard it is given at τ is copied from a
replica that has it (every version at or below τ, `CopyShard`) while the
records above τ are applied here; until the copy is done the replica refuses
reads, and until a checkpoint holds it, it is not durable (the journal can
replay only what came after τ), which the placement driver waits for before
it removes the old replica. A shard it loses is dropped; a shard that splits
keeps one store for both halves. A node added to a running cluster, or one
the journal has left behind (compacted past its position), starts from a
peer's positions and copies its shards.

Durability belongs to the journal; what a node keeps only spares it
replaying the journal from the beginning. Two engines:

- LMDB (storage/lmdb_engine.py; a server with a data dir): every replica is a
  database of one environment, written through one open transaction that is
  committed every fraction of a second with the journal positions it
  reflects. A start reads those positions and goes on: nothing is loaded,
  every version is still there, and what was applied after the last commit is
  replayed. Nothing is ever written twice (no checkpoints).
- Memory (the simulator, `--memory`, `--storage-engine checkpoints`): the
  replicas are `VersionStore`s, and with a `Disk` the node writes checkpoints
  (written whole and then swapped in by `Disk.replace`, so a crash leaves the
  old one or the new one); a start loads the newest versions and replays the
  journal from the positions the checkpoint records.

Once positions are durable the node tells each journal, which may then drop
older segments.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable

import trio

from cluster import codec, metrics
from cluster.clock import Clock
from cluster.disk import Disk
from cluster.timeslice import checkpoint_if_due
from cluster.topology import RangeMap, Topology
from cluster.transport import NOT_NOW, InProcessTransport, Peer, RemoteError, Unreachable
from journal.client import JournalClient
from journal.errors import JournalUnavailable, PositionCompacted
from journal.interface import decode_encoded, stamped_key
from storage.garbage import share_room
from storage.interface import (
    CatalogChanged,
    CatchingUp,
    CopyShard,
    Get,
    GetLatest,
    HistoryGone,
    NodeState,
    NodeStateQuery,
    NodeStatus,
    Placement,
    PlacementQuery,
    Scan,
    ScanPage,
    ShardPiece,
    SplitPoint,
    SplitPointReply,
    Status,
    StorageUnavailable,
    Values,
    Watermark,
    WatermarkReply,
    WrongShard,
)
from storage.lease_record import LeaseClaim, LeaseState, lease_key, next_lease_state
from storage.lmdb_engine import LmdbEngine
from storage.lmdb_store import LmdbVersionStore
from storage.mvcc import VersionStore, keep_where_true, projector
from storage.placement import decode_placement, encode_placement, initial_placement, shard_map

log = logging.getLogger(__name__)

# A shard replica's versions: in memory (`--memory`, the simulator) or in LMDB.
Store = VersionStore | LmdbVersionStore

# Bounds and their reasons:
# A read waits this long for the watermark before failing: far longer than any
# healthy apply lag, short enough that a stuck replica surfaces as an error.
READ_WAIT_TIMEOUT_S = 15.0
# Records per subscription poll: one poll's apply work stays a few ms.
POLL_RECORDS_MAX = 2_000
POLL_WAIT_S = 1.0
# After a failed poll (no journal replica answered), wait this long before the next.
POLL_RETRY_S = 0.05
# Records of one journal held back by the merge (waiting for the other
# journals to pass their τ); past this the node stops reading that journal
# until the others catch up, so a lagging journal cannot fill memory.
PENDING_RECORDS_MAX = 50_000
# A scan page: bounded so one reply is bounded in memory and transport time,
# and so that producing it (scan, encode, decode: ~10 ms for 4,096 rows) never
# holds the thread long. A page also ends after looking at this many keys, so
# a filter that rejects almost every row still answers within bounded work.
SCAN_PAGE_ROWS_MAX = 4096
SCAN_EXAMINE_MAX = 4096
# Keys per piece of a checkpoint or a GC sweep (a few ms each), between which
# the node's other work runs (cluster/timeslice.py).
SWEEP_KEYS = 4096
# Entries a split point's walk skips in one call, between yields (~5 ms of C).
SKIP_ENTRIES = 65536
# A checkpoint is written and read this many bytes at a time (the disk's own
# thread does the I/O).
CHECKPOINT_WRITE_BYTES = 4 * 1024 * 1024
# Versions are kept this long behind the watermark (the transaction age
# limit plus a margin), then collected.
RETENTION_NS = 310 * 1_000_000_000
GC_INTERVAL_S = 1.0
# At most one full sweep of a node's stores this often (only for what no garbage queue
# holds: storage/garbage.py).
FULL_SWEEP_INTERVAL_S = 60.0
# Checkpoint after this many applied records or this long with changes.
CHECKPOINT_RECORDS = 100_000
CHECKPOINT_INTERVAL_S = 30.0
# A checkpoint writes the whole store, so on a large store it is a lot of work:
# the next one waits at least this many times as long as the last one took
# (from its start), which keeps checkpoints to a sixth of the node's time.
CHECKPOINT_SPACING = 6.0
# The checkpoint's file on the node's disk, and the one a new checkpoint is
# written to before it replaces it.
CHECKPOINT_FILE = "checkpoint.msgpack"
CHECKPOINT_TMP = "checkpoint.msgpack.tmp"
# A new replica copies its shard this many keys per request (each key with its
# versions): a page of a few hundred kB, a few ms to produce and apply.
COPY_KEYS = 2048
# A copy (or a join) whose source fails waits this long before trying again,
# from another replica; every failure is logged.
COPY_RETRY_S = 0.2
# What a peer may answer a copy or a join with, after which another is asked.
_PEER_FAILURES = (StorageUnavailable, Unreachable, RemoteError, WrongShard)
# The floor of a replica still being copied: above every τ, so that every read
# of it is refused (`CatchingUp`) until the copy is done.
_FILLING_FLOOR = 1 << 64
# A node on LMDB (storage/lmdb_engine.py) commits what it applied, with its
# journal positions, this often when anything changed (one fdatasync each,
# ~0.5 ms here): a crash replays at most this much of the journal.
COMMIT_INTERVAL_S = 0.2
# ... and at once past this many versions written since the last commit, so an
# open transaction's dirty pages (kept in memory until it commits) stay bounded
# during a bulk load.
COMMIT_VERSIONS = 20_000
# The journals are told what is committed (and may drop older segments) at most this often.
RELEASE_INTERVAL_S = 5.0


class StorageNode:
    def __init__(
        self,
        node_id: int,
        topology: Topology,
        transport: InProcessTransport,
        clock: Clock,
        disk: Disk | None,
        *,
        join: bool = False,
        copy_keys_per_s: float = 0.0,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        checkpoint_records: int = CHECKPOINT_RECORDS,
        checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S,
        engine: LmdbEngine | None = None,
    ) -> None:
        """`engine`: the node keeps its replicas and its journal positions in LMDB
        (storage/lmdb_engine.py), committed together, and resumes from them when it
        starts; `disk` then only holds an older version's checkpoint, read once into
        the engine. Without an engine the replicas are in memory and `disk` holds
        the node's checkpoints (None: the node keeps none, as with journals in
        memory; the simulator gives a simulated disk). The clock, the monotonic time
        source and the disk are the caller's, so the simulator can run the node on
        its own.

        `join`: the node was added to a running cluster; with no checkpoint of
        its own it starts from a peer's journal positions (`NodeStateQuery`)
        instead of from the journals' beginning, which may be compacted away.
        `copy_keys_per_s`: a bound on how fast this node copies a shard it is
        given (0: as fast as it goes), so that moves leave room for the
        foreground work of the nodes they copy from."""
        self.node_id = node_id
        # Reads this replica served (Prometheus, cluster/metrics.py), by kind.
        reads = metrics.STORAGE_READS
        self._reads_get = reads.labels(node=f"storage-{node_id}", kind="get")
        self._reads_latest = reads.labels(node=f"storage-{node_id}", kind="get_latest")
        self._reads_scan = reads.labels(node=f"storage-{node_id}", kind="scan_page")
        self._closes_asked = metrics.STORAGE_CLOSES.labels(node=f"storage-{node_id}")
        self._closes_at_once = metrics.STORAGE_CLOSES_AT_ONCE.labels(node=f"storage-{node_id}")
        self.name = topology.storage_address(node_id)
        self.topology = topology
        self.clock = clock
        self.disk = disk
        self.engine = engine
        # On LMDB every value a read returns is decoded from disk for that read and held by
        # nothing here: the transport may hand such replies over uncopied (cluster/transport.py).
        # The in-memory engine's values are the stored objects themselves, so they are copied.
        self.hands_over: frozenset[str] = frozenset({"get", "get_latest", "scan"}) if engine is not None \
            else frozenset()
        self._monotonic_ns = monotonic_ns
        self._checkpoint_records = checkpoint_records
        self._checkpoint_interval_s = checkpoint_interval_s
        self._transport = transport
        self._join = join
        self._copy_keys_per_s = copy_keys_per_s
        # The placement of shard replicas as of the last applied record (storage/placement.py).
        self.placement: Placement = initial_placement(topology)
        hosted = self.placement.shards_of(node_id)
        self.ranges = shard_map(self.placement)  # the shard map as of the last applied record
        # Key ranges to remove, a piece at a time, from stores still serving other
        # shards: a shard split in two shares its store, and one half may move away.
        self._to_clear: list[tuple[Store, bytes, bytes | None]] = []
        self.shards: list[Store | None] = [None] * len(self.ranges)
        restored = None if engine is None else engine.read_state()
        if restored is None:
            self.shards = [self._new_store() if i in hosted else None for i in range(len(self.ranges))]
        self._peers: dict[int, Peer] = {}
        # Shards being copied from a peer: the task doing it, by shard.
        self._fills: dict[int, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None
        self._rebuild = False  # the journal dropped records this node still needs: start over from a peer
        self._checkpoint_soon = False  # a copied replica waits for a checkpoint to be durable
        self._journals = [
            JournalClient(transport, topology.journal_addresses(j)) for j in range(topology.journal_count)
        ]
        count = topology.journal_count
        self.applied = [0] * count  # last position applied, per journal
        self._received = [0] * count  # last position read, per journal (>= applied)
        # Records read but not yet applied: they wait for the other journals
        # to pass their τ (only ever non-empty with more than one journal).
        self._pending: list[deque[tuple[int, int, bytes]]] = [deque() for _ in range(count)]
        self.closed = [0] * count  # closed timestamp, per journal
        self._closes_waiting: list[list[tuple[int, int]]] = [[] for _ in range(count)]
        # Strong reads ahead of the watermark ask each lagging journal to close
        # their τ through one closer task per journal (`_closer`): the largest τ
        # wanted, the last τ asked for, and the closer's wake-up.
        self._close_wanted = [0] * count
        self._close_asked = [0] * count
        self._close_requested = [trio.Event() for _ in range(count)]
        self.watermark = 0
        # False from a start until a poll of every journal has come back short
        # (the backlog that piled up while the node was down is read): until
        # then eventual reads are refused (a restarted replica would answer with
        # its checkpoint's old state), so clients read another replica. Strong
        # reads wait for their τ either way.
        self.caught_up = False
        self._drained = [False] * topology.journal_count
        self.applied_tau = 0  # τ of the last record applied: everything at or below it is applied
        self.dropped_ranges: list[tuple[int, bytes, bytes]] = []  # (τ of the drop, start, end) still to reclaim
        self._checkpointing = False
        self._advanced = trio.Event()
        # (τ, version) for each catalog change, ascending; version 0 before any DDL.
        self.catalog_versions: list[tuple[int, int]] = [(0, 0)]
        self._since_checkpoint = 0
        self._last_checkpoint_s = self._monotonic_s()
        self._checkpoint_took_s = 0.0
        self.paused = False  # tests hold a replica back to show stale eventual reads
        self._unpaused = trio.Event()
        self._unpaused.set()
        # On LMDB: versions written since the last commit, and the positions last committed.
        self._unsaved_versions = 0
        self._committed = list(self.applied)
        self.restored = False
        if restored is not None:
            self._restore(restored)

    def _monotonic_s(self) -> float:
        return self._monotonic_ns() / 1e9

    # -- stores ------------------------------------------------------------

    def _new_store(self, *, filling: bool = False, floor: int = 0) -> Store:
        if self.engine is not None:
            return self.engine.new_store(filling=filling, floor=floor)
        return VersionStore(filling=filling, floor=floor)

    def _filling_store(self) -> Store:
        return self._new_store(filling=True, floor=_FILLING_FLOOR)

    def _discard_unused(self, *stores: Store | None) -> None:
        """Drop the stores no shard uses any more, with their pending range clears
        (on LMDB their databases go in the open transaction; in memory they are garbage)."""
        if self.engine is None:
            return
        for store in {id(s): s for s in stores if s is not None}.values():
            if not self._in_use(store):
                self._to_clear = [c for c in self._to_clear if c[0] is not store]
                self.engine.discard(store)  # type: ignore[arg-type]
                self._unsaved_versions += 1

    def _in_use(self, store: Store) -> bool:
        """Whether a shard still has the store (a sweep that yielded checks before going on)."""
        return any(s is store for s in self.shards)

    # -- the node's state in LMDB -------------------------------------------

    def _engine_state(self) -> dict:
        """What a restart resumes from, committed with the data it describes."""
        shards: list[list | None] = []
        for store in self.shards:
            if store is None:
                shards.append(None)
            else:
                assert isinstance(store, LmdbVersionStore)
                shards.append([store.name, 0 if store.filling else store.floor, store.filling, store.key_count,
                               store.bucket_extra])
        return {
            "applied": list(self.applied),
            "applied_tau": self.applied_tau,
            "catalog_versions": [list(v) for v in self.catalog_versions],
            "placement": encode_placement(self.placement),
            "dropped_ranges": [list(d) for d in self.dropped_ranges],
            "to_clear": [[store.name, start, end] for store, start, end in self._to_clear],  # type: ignore[union-attr]
            "shards": shards,
            "cuts": [[store.name, *store.cuts()] for store in self._lmdb_stores() if store.cuts()[0]],
        }

    def _lmdb_stores(self) -> list[LmdbVersionStore]:
        stores = {id(s): s for s in [*self.shards, *(c[0] for c in self._to_clear)] if s is not None}
        return [s for s in stores.values() if isinstance(s, LmdbVersionStore)]

    def _cut_shared(self, opened: dict[bytes, LmdbVersionStore], shards: list[Store | None]) -> None:
        """Cut each store used by more than one range at the bounds between them, with
        each piece counted by a walk (once, for state recorded without the cuts)."""
        users: dict[bytes, list[tuple[bytes, bytes | None]]] = {}
        for shard, store in enumerate(shards):
            if isinstance(store, LmdbVersionStore):
                users.setdefault(store.name, []).append(self.ranges.bounds(shard))
        for store, start, end in self._to_clear:
            assert isinstance(store, LmdbVersionStore)
            users.setdefault(store.name, []).append((start, end))
        for name, ranges in users.items():
            if len(ranges) < 2:
                continue
            store = opened[name]
            lowest = min(start for start, _ in ranges)
            bounds = sorted({b for r in ranges for b in r if b is not None and b != lowest})
            counts, lo = [], lowest
            for key in bounds:
                counts.append(store.count_range(lo, key))
                lo = key
            counts.append(store.count_range(lo, None))
            store.key_count = sum(counts)
            store.restore_cuts(bounds, counts)

    def _restore(self, state: dict) -> None:
        """Resume from the state the engine last committed: nothing is loaded, the
        stores are the environment's databases. A replica that was still being copied
        is copied again from the start (its database is dropped)."""
        assert self.engine is not None
        if len(state["applied"]) != len(self.applied):
            raise RuntimeError("this storage node's data was written for a different number of journals")
        self.applied = list(state["applied"])
        self._received = list(self.applied)
        self._committed = list(self.applied)
        self.applied_tau = state["applied_tau"]
        self.catalog_versions = [tuple(v) for v in state["catalog_versions"]]  # type: ignore[misc]
        self.placement = decode_placement(state["placement"])
        self.ranges = shard_map(self.placement)
        self._learn_endpoints(self.placement)
        self.dropped_ranges = [tuple(d) for d in state["dropped_ranges"]]  # type: ignore[misc]
        opened: dict[bytes, LmdbVersionStore] = {}
        shards: list[Store | None] = []
        for entry in state["shards"]:
            if entry is None:
                shards.append(None)
                continue
            name, floor, filling, keys, extra = entry
            store = opened.get(name)
            if store is None:
                store = opened[name] = self.engine.open_store(name, floor=floor, filling=filling, key_count=keys,
                                                              bucket_extra=extra)
            shards.append(store)
        self._to_clear = [(opened[name], start, end) for name, start, end in state["to_clear"] if name in opened]
        cuts = state.get("cuts")
        if cuts is None:  # recorded before counts were kept per piece: counted once now
            self._cut_shared(opened, shards)
        else:
            for name, keys, counts in cuts:
                if name in opened:
                    opened[name].restore_cuts(keys, counts)
        for store in opened.values():
            if store.filling:
                self.engine.discard(store)
        self.shards = [self._filling_store() if s is not None and s.filling else s for s in shards]
        self.restored = True
        log.info("storage node %d resumes from its store at positions %s", self.node_id, self.applied)

    def _commit(self) -> None:
        """Commit what was applied, with the positions it reflects (LMDB only)."""
        assert self.engine is not None
        self.engine.commit(self._engine_state())
        self._since_checkpoint = 0
        self._unsaved_versions = 0
        self._committed = list(self.applied)
        self._last_checkpoint_s = self._monotonic_s()
        for store in self.shards:
            if store is not None and not store.filling:
                store.durable = True

    def _commit_if_large(self) -> None:
        if self.engine is not None and self._unsaved_versions >= COMMIT_VERSIONS:
            self._commit()

    async def _commit_loop(self) -> None:
        """Commit often (each commit is cheap), and tell the journals what is
        committed now and then, after which they may drop what is older."""
        released = list(self._committed)
        last_release = self._monotonic_s()
        while True:
            await trio.sleep(COMMIT_INTERVAL_S)
            if self._since_checkpoint or self._unsaved_versions or self._checkpoint_soon:
                self._checkpoint_soon = False
                self._commit()
            if self._committed != released and self._monotonic_s() - last_release >= RELEASE_INTERVAL_S:
                released = list(self._committed)
                last_release = self._monotonic_s()
                for j, journal in enumerate(self._journals):
                    await journal.checkpointed(self.name, released[j])

    # -- lifecycle ---------------------------------------------------------

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        loaded = self.restored
        if self.disk is not None and not loaded:
            loaded = await self._load_checkpoint()
            if loaded and self.engine is not None:
                # An older version's checkpoint, now in the engine: the file goes.
                self._commit()
                await self.disk.remove(CHECKPOINT_FILE)
                log.info("storage node %d moved its checkpoint into LMDB", self.node_id)
        if self._join and not loaded:
            await self._start_from_peer()
        started = False
        while True:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for j in range(len(self._journals)):
                    nursery.start_soon(self._subscribe, j)
                    nursery.start_soon(self._closer, j)
                nursery.start_soon(self._gc_loop)
                nursery.start_soon(self._checkpoint_loop if self.engine is None else self._commit_loop)
                for shard, store in enumerate(self.shards):
                    if store is not None and store.filling:
                        self._start_fill(shard)
                if not started:
                    started = True
                    task_status.started()
            # Only a rebuild ends the nursery without an error or a cancel from outside:
            # the journal has dropped records this node has not applied, so it starts
            # again from a peer's positions and copies its shards.
            self._nursery = None
            assert self._rebuild
            self._rebuild = False
            await self._start_from_peer()

    def pause(self) -> None:
        self.paused = True
        self._unpaused = trio.Event()

    def resume(self) -> None:
        self.paused = False
        self._unpaused.set()

    # -- RPC interface -----------------------------------------------------

    async def rpc_get(self, request: Get) -> Values:
        """Values as of τ; with `newer`, also the keys that have a version after τ."""
        self._reads_get.inc()
        await self._ready_for(request.tau, request.catalog_version)
        return self._values(request)

    def now_get(self, request: Get) -> Values:
        """`rpc_get` when τ is already applied here (cluster/transport.py's `call_now`),
        else NOT_NOW."""
        tau = request.tau
        if self.watermark < tau and not self._close_now(tau):
            return NOT_NOW
        self._reads_get.inc()
        if request.catalog_version is not None:
            self._check_catalog(tau, request.catalog_version)
        return self._values(request)

    def _values(self, request: Get) -> Values:
        tau = request.tau
        owner = self.ranges.owner
        shards = self.shards
        out = []
        stale: list[bytes] = []
        newer = request.newer
        for key in request.keys:
            store = shards[owner(key)]
            if store is None:
                raise WrongShard(key.hex())
            if tau < store.floor:
                raise self._unreadable(store, tau)
            out.append(store.get(key, tau))
            if newer and store.newer_than(key, tau):
                stale.append(key)
        if request.follow and len(out) == 1 and type(out[0]) is bytes:
            # The value is a key (the row a unique index entry points at): read it too
            # when its shard is here and readable at τ; else the caller reads it.
            key = out[0]
            store = shards[owner(key)]
            if store is not None and tau >= store.floor:
                out.append(store.get(key, tau))
                if newer and store.newer_than(key, tau):
                    stale.append(key)
        return Values(tuple(out), tuple(stale))

    async def rpc_get_latest(self, request: GetLatest) -> Values:
        """Eventual read: the newest applied version, no waiting."""
        self._reads_latest.inc()
        self._check_caught_up()
        owner = self.ranges.owner
        out = []
        for key in request.keys:
            store = self.shards[owner(key)]
            if store is None:
                raise WrongShard(key.hex())
            if store.filling:
                raise self._unreadable(store, 1 << 63)
            out.append(store.get(key, 1 << 63))
        return Values(tuple(out))

    def _store_within(self, start: bytes, end: bytes | None, *, exact: bool = False) -> Store:
        """The store of the shard [start, end) lies in (`exact`: that is), or
        `WrongShard` if it crosses a shard's end here or is not held here: the
        caller knows another shard map or placement."""
        shard = self.ranges.owner(start)
        lo, hi = self.ranges.bounds(shard)
        inside = hi is None or (end is not None and end <= hi)
        if exact:
            inside = lo == start and hi == end
        store = self.shards[shard] if inside else None
        if store is None:
            raise WrongShard(f"[{start.hex()}, {'end' if end is None else end.hex()}) is not a shard held by "
                             f"storage node {self.node_id} (placement {self.placement.version})")
        return store

    def _check_caught_up(self) -> None:
        if not self.caught_up:
            raise CatchingUp(f"storage node {self.node_id} is catching up with the journals")

    def _unreadable(self, store: Store, tau: int) -> StorageUnavailable:
        if store.filling:
            return CatchingUp(f"storage node {self.node_id} is still copying this shard from another replica")
        return HistoryGone(f"storage node {self.node_id} holds this shard's versions from τ {store.floor}, not {tau}")

    async def rpc_scan(self, request: Scan) -> ScanPage:
        """A page of live pairs; with `newer`, also the returned keys that have a version after τ."""
        self._reads_scan.inc()
        tau = request.tau
        if tau is not None:
            await self._ready_for(tau, request.catalog_version)
        else:
            self._check_caught_up()
            tau = 1 << 63  # eventual scan
        store = self._store_within(request.start, request.end)
        if tau < store.floor or store.filling:
            raise self._unreadable(store, tau)
        limit = request.limit
        limit = SCAN_PAGE_ROWS_MAX if limit <= 0 else min(limit, SCAN_PAGE_ROWS_MAX)
        keep = keep_where_true(request.filter) if request.filter is not None else None
        stale: list[bytes] | None = [] if request.newer else None
        pairs, resume = store.scan(request.start, request.end, tau, limit=limit, reverse=request.reverse, keep=keep,
                                   newer=stale, examine=SCAN_EXAMINE_MAX)
        projection = request.projection
        if projection is not None:
            take = projector(projection)
            pairs = [(key, take(row)) for key, row in pairs]
        return ScanPage(pairs, resume, stale or ())

    async def rpc_status(self, request: Status) -> NodeStatus:
        shard_keys = []
        for i, s in enumerate(self.shards):
            if s is not None:
                shard_keys.append(await self._shard_keys(i, s))
        return NodeStatus(
            node=self.node_id,
            watermark=self.watermark,
            applied=tuple(self.applied),
            keys=sum(len(s) for s in self._stores()),
            versions=sum(s.version_count for s in self._stores()),
            placement_version=self.placement.version,
            shards=tuple(i for i, s in enumerate(self.shards) if s is not None),
            filling=tuple(i for i, s in enumerate(self.shards) if s is not None and s.filling),
            caught_up=self.caught_up,
            unsaved=tuple(i for i, s in enumerate(self.shards) if s is not None and not s.filling and not s.durable),
            splits=self.ranges.splits,
            shard_keys=tuple(shard_keys),
        )

    async def _shard_keys(self, shard: int, store: Store) -> int:
        """The keys of one shard: in memory a bisection; on LMDB the count the store
        keeps as keys come and go, per piece between the split keys of the shards
        sharing it (`LmdbVersionStore.cut`), else a walk a piece at a time."""
        if isinstance(store, VersionStore):
            return store.count_range(*self.ranges.bounds(shard))
        assert isinstance(store, LmdbVersionStore)
        counted = store.count_between(*self.ranges.bounds(shard))
        if counted is not None:
            return counted
        count = 0
        async for keys in self._walk_keys(store, *self.ranges.bounds(shard)):
            count += len(keys)
        return count

    async def _walk_keys(self, store: Store, lo: bytes, hi: bytes | None):
        """The keys of [lo, hi) of an LMDB store, `SWEEP_KEYS` at a time, yielding the thread between pieces."""
        start = lo
        while True:
            keys = store._keys_in(start, hi, SWEEP_KEYS)  # type: ignore[union-attr,arg-type]
            if keys:
                yield keys
            if len(keys) < SWEEP_KEYS:
                return
            start = keys[-1] + b"\x00"
            await checkpoint_if_due()

    def _stores(self) -> list[Store]:
        """Each store once (the halves of a split shard share one)."""
        return list({id(s): s for s in self.shards if s is not None}.values())

    async def rpc_split_point(self, request: SplitPoint) -> SplitPointReply:
        """A key near the middle of a shard held here (a served replica's)."""
        store = self._store_within(request.start, request.end, exact=True)
        if store.filling:
            raise self._unreadable(store, 1 << 63)
        if isinstance(store, VersionStore):
            return SplitPointReply(store.middle_key(request.start, request.end))
        # LMDB has no positions by rank: count, then walk to the middle, a piece at a time
        # (a shard of a million keys took the thread for seconds in one call).
        total = store.count_between(request.start, request.end)
        if total is None:
            total = 0
            async for keys in self._walk_keys(store, request.start, request.end):
                total += len(keys)
        if total < 2:
            return SplitPointReply(None)
        key = await self._key_near_rank(store, request.start, request.end, total // 2)
        if key is not None:
            return SplitPointReply(key)
        seen = 0  # a long key's bucket, or versions piled on the first key: walk key by key
        async for keys in self._walk_keys(store, request.start, request.end):
            if seen + len(keys) > total // 2:
                return SplitPointReply(keys[total // 2 - seen])
            seen += len(keys)
        return SplitPointReply(None)  # the range shrank meanwhile: no split this time

    async def _key_near_rank(self, store: LmdbVersionStore, lo: bytes, hi: bytes | None, rank: int) -> bytes | None:
        """A key of [lo, hi) at `rank` or a little below (by as many versions as the keys before
        it hold beyond their first), found by skipping entries in C a piece at a time; None when
        that lands on the range's first key, outside the range or on a long key's bucket.
        (Decoding every key on the way to the middle took ~5 % of an index build's time, for a
        split point that need not be exact.)"""
        entry, key = None, None
        while True:
            step = min(rank, SKIP_ENTRIES)
            entry, key = store.entry_past(entry, lo, step)
            rank -= step
            if entry is None or rank == 0:
                break
            await checkpoint_if_due()
        if key is None or key <= lo or (hi is not None and key >= hi) or key == store.entry_past(None, lo, 0)[1]:
            return None  # (a split at the first key would leave the lower half empty)
        return key

    async def rpc_placement(self, request: PlacementQuery) -> Placement:
        return self.placement

    async def rpc_node_state(self, request: NodeStateQuery) -> NodeState:
        """Where this node is: a node joining the cluster goes on from here."""
        return NodeState(
            applied=tuple(self.applied),
            applied_tau=self.applied_tau,
            catalog_versions=tuple(self.catalog_versions),
            placement=self.placement,
            dropped_ranges=tuple(self.dropped_ranges),
        )

    async def rpc_copy_shard(self, request: CopyShard) -> ShardPiece:
        """A page of a shard's versions as of τ, for a replica being made elsewhere."""
        tau = request.tau
        await self._ready_for(tau, None)
        store = self._store_within(request.start, request.end, exact=True)
        if tau < store.floor or store.filling:
            raise self._unreadable(store, tau)
        count = max(1, min(request.count, COPY_KEYS))
        chains, resume = store.chains_as_of(tau, request.after, count, request.start, request.end)
        return ShardPiece(chains, resume, store.floor)

    async def rpc_watermark(self, request: Watermark) -> WatermarkReply:
        return WatermarkReply(self.watermark)

    # -- reading as of τ ---------------------------------------------------

    def catalog_version_at(self, tau: int) -> int:
        versions = self.catalog_versions
        for i in range(len(versions) - 1, -1, -1):
            if versions[i][0] <= tau:
                return versions[i][1]
        return 0

    async def _ready_for(self, tau: int, catalog_version: int | None) -> None:
        if self.watermark < tau:
            await self._wait_watermark(tau)
        if catalog_version is not None:
            self._check_catalog(tau, catalog_version)

    def _check_catalog(self, tau: int, catalog_version: int) -> None:
        current = self.catalog_version_at(tau)
        if current != catalog_version:
            raise CatalogChanged(current)

    async def _wait_watermark(self, tau: int) -> None:
        if not self.paused:
            # Usually enough: an idle journal closes τ at once (one round trip).
            for j, closed in enumerate(self.closed):
                if closed < tau and tau > self._close_wanted[j]:
                    self._close_wanted[j] = tau
                    self._close_requested[j].set()
        with trio.move_on_after(READ_WAIT_TIMEOUT_S):
            while self.watermark < tau:
                await self._advanced.wait()
            return
        raise StorageUnavailable(f"storage node {self.node_id} did not reach τ {tau} in time")

    def _close_now(self, tau: int) -> bool:
        """Whether the watermark reached τ through closes the journals answered at once (a
        leader in this process with nothing in flight, and every record up to its promise
        received here): a read then needs no task switch at all."""
        if self.paused:
            return False
        for j, closed in enumerate(self.closed):
            if closed >= tau:
                continue
            answer = self._journals[j].close_now(tau)
            if answer is None:
                return False
            self._closes_at_once.inc()
            closed_tau, position = answer
            if self._received[j] < position:
                # The subscription brings the records; the promise waits for them. Reads keep
                # coming meanwhile, so one entry per position: the list stays as short as the
                # records in transit, however many reads ask.
                waiting = self._closes_waiting[j]
                if waiting and waiting[-1][0] == position:
                    waiting[-1] = (position, max(closed_tau, waiting[-1][1]))
                else:
                    waiting.append((position, closed_tau))
                return False
            self._advance(j, closed_tau)
        return self.watermark >= tau

    async def _closer(self, j: int) -> None:
        """Ask journal j to close the largest τ strong reads wait for.

        One close is in flight per journal, and the journals are asked in
        parallel: reads that arrive while a close is out ride the next one,
        which asks for the largest τ any of them wants, so a burst of reads
        costs a round trip or two per journal, not one per read. A close
        that fails (no leader during an election) is not retried until a
        read wants a later τ: reads then wait for the subscription, as they
        would for a journal that answered with a smaller closed τ.
        """
        while True:
            tau = self._close_wanted[j]
            if tau <= max(self.closed[j], self._close_asked[j]):
                await self._close_requested[j].wait()
                self._close_requested[j] = trio.Event()
                continue
            self._close_asked[j] = tau
            await self._request_close(j, tau)

    async def _request_close(self, j: int, tau: int) -> None:
        try:
            closed_tau, position = await self._journals[j].close(tau)
        except JournalUnavailable as exc:
            # No leader right now (an election): the read waits for the
            # subscription instead, and fails only past its own timeout.
            log.info("storage node %d: close(%d) on journal %d failed: %s", self.node_id, tau, j, exc)
            return
        self._closes_asked.inc()
        if self._received[j] >= position:
            self._advance(j, closed_tau)
        else:
            self._closes_waiting[j].append((position, closed_tau))

    def _advance(self, j: int, closed_tau: int) -> None:
        if closed_tau <= self.closed[j]:
            return
        self.closed[j] = closed_tau
        watermark = min(self.closed)
        if watermark > self.watermark:
            if len(self._pending) > 1:
                self._apply_merged(watermark)
            self.watermark = watermark
            self._advanced.set()
            self._advanced = trio.Event()

    def _apply_merged(self, frontier: int) -> None:
        """Apply, in τ order, every record read from any journal with τ <= frontier
        (every journal has shown that nothing more at or below it can come)."""
        pending = self._pending
        while True:
            best = -1
            best_tau = frontier + 1
            for j, queue in enumerate(pending):
                if queue and queue[0][1] < best_tau:
                    best, best_tau = j, queue[0][1]
            if best < 0:
                return
            position, tau, payload = pending[best].popleft()
            self._apply(tau, payload)
            self.applied[best] = position
            self._since_checkpoint += 1
            self._commit_if_large()

    # -- applying the journals ---------------------------------------------

    async def _subscribe(self, j: int) -> None:
        journal = self._journals[j]
        merged = len(self._journals) > 1
        while True:
            if self.paused:
                await self._unpaused.wait()
            if merged and len(self._pending[j]) > PENDING_RECORDS_MAX:
                await self._advanced.wait()
                continue
            try:
                records, closed_tau, tail = await journal.read(
                    self.name, self._received[j] + 1, POLL_RECORDS_MAX, POLL_WAIT_S
                )
            except PositionCompacted as exc:
                log.error("storage node %d: journal %d no longer holds position %d (%s): starting again from a peer",
                          self.node_id, j, self._received[j] + 1, exc)
                self._rebuild = True
                assert self._nursery is not None
                self._nursery.cancel_scope.cancel()
                return
            except JournalUnavailable as exc:
                log.warning("storage node %d: journal %d read failed: %s", self.node_id, j, exc)
                await trio.sleep(POLL_RETRY_S)
                continue
            if self.paused:
                # Drop what arrived while pausing; it is read again on resume.
                continue
            last_tau = 0
            for record in records:
                await checkpoint_if_due()  # a poll may bring 2,000 records of 3,000 rows
                position, tau, payload = record
                assert position == self._received[j] + 1, "journal records must arrive in order"
                assert tau > last_tau, "τ rises along a journal"
                self._received[j] = position
                last_tau = tau
                if merged:
                    self._pending[j].append(record)
                else:
                    self._apply(tau, payload)
                    self.applied[j] = position
                    self._commit_if_large()
            if not merged:
                self._since_checkpoint += len(records)
            if not self.caught_up and len(records) < POLL_RECORDS_MAX:
                self._drained[j] = True
                if all(self._drained):
                    self.caught_up = True
                    log.info("storage node %d: caught up with the journals", self.node_id)
            if tail > self._received[j]:
                self._received[j] = tail
                if not merged:
                    self.applied[j] = tail
            # A record at τ means no later record of this journal is at or
            # below τ, so τ is closed too.
            self._advance(j, max(last_tau, closed_tau))
            waiting = self._closes_waiting[j]
            if waiting:
                ready = [c for p, c in waiting if p <= self._received[j]]
                if ready:
                    self._closes_waiting[j] = [(p, c) for p, c in waiting if p > self._received[j]]
                    self._advance(j, max(ready))

    def _apply(self, tau: int, payload: bytes) -> None:
        self.applied_tau = tau  # records are applied in τ order (one journal, or merged)
        # Values stay in the encoding the query processor gave them: stored as they are.
        record = decode_encoded(payload)
        owner = self.ranges.owner
        shards = self.shards
        self._unsaved_versions += len(record.w) + len(record.st)
        for key, value in record.w:
            store = shards[owner(key)]
            if store is not None:
                store.apply_encoded(key, tau, bytes(value))
        for prefix, suffix, value in record.st:
            key = stamped_key(prefix, tau, suffix)
            store = shards[owner(key)]
            if store is not None:
                store.apply_encoded(key, tau, bytes(value))
        for start, end in record.rd:
            self.dropped_ranges.append((tau, start, end))
        version = record.cv
        if version is not None:
            assert tau >= self.catalog_versions[-1][0]
            self.catalog_versions.append((tau, version))
        if record.lz is not None:
            self._apply_lease(tau, LeaseClaim(*record.lz))
        if record.pl is not None:
            self._set_placement(decode_placement(record.pl))

    # -- placement: replicas that come and go --------------------------------

    def _set_placement(self, placement: Placement) -> None:
        """Take the shards `placement` gives this node (copied from a peer, while
        newer records are applied here) and drop those it takes away."""
        if placement.version <= self.placement.version:
            return
        if placement.splits != self.ranges.splits:
            self._split(placement.splits)
        self.placement = placement
        self._learn_endpoints(placement)
        mine = set(placement.shards_of(self.node_id))
        for shard, store in enumerate(self.shards):
            if shard in mine and store is None:
                log.info("storage node %d: takes a replica of shard %d (placement %d)", self.node_id, shard,
                         placement.version)
                self.shards[shard] = self._filling_store()
                if self._nursery is not None:
                    self._start_fill(shard)
            elif shard not in mine and store is not None:
                log.info("storage node %d: drops its replica of shard %d (placement %d)", self.node_id, shard,
                         placement.version)
                self.shards[shard] = None
                if any(other is store for other in self.shards):
                    # The other half of a split still uses the store: this half's keys
                    # go in the background (nothing reads them any more).
                    self._to_clear.append((store, *self.ranges.bounds(shard)))
                fill = self._fills.pop(shard, None)
                if fill is not None:
                    fill.cancel()
                self._discard_unused(store)

    def _split(self, splits: tuple[bytes, ...]) -> None:
        """Split shards in place at each new split key (shards only ever split).

        The two halves share the store of the whole: a split costs no copying and
        no time (moving a million keys to a new store would hold the thread for a
        second), and every read or copy of a shard is bounded by its range
        anyway. A half that moves away later leaves its keys to be removed in the
        background; a checkpoint's loader gives each half its own store.
        Shard indexes after a split shift, so copies in progress start again."""
        new = sorted(set(splits) - set(self.ranges.splits))
        assert set(self.ranges.splits) <= set(splits), "shards split, they never merge"
        for key in new:
            shard = self.ranges.owner(key)
            store = self.shards[shard]
            if isinstance(store, LmdbVersionStore):
                store.cut(key)  # the halves' sizes, kept from here on without walking
            self.shards.insert(shard + 1, store)
            self.ranges = RangeMap(tuple(sorted((*self.ranges.splits, key))))
            log.info("storage node %d: shard %d split at %s", self.node_id, shard, key.hex())
        for scope in self._fills.values():
            scope.cancel()
        self._fills.clear()
        if self._nursery is not None:
            for shard, store in enumerate(self.shards):
                if store is not None and store.filling:
                    self._start_fill(shard)

    def _learn_endpoints(self, placement: Placement) -> None:
        for node, host, port in placement.endpoints:
            self._transport.learn_address(self.topology.storage_address(node), (host, port))

    def _peer(self, node: int) -> Peer:
        peer = self._peers.get(node)
        if peer is None:
            peer = self._peers[node] = self._transport.connect(self.topology.storage_address(node))
        return peer

    def _start_fill(self, shard: int) -> None:
        assert self._nursery is not None
        if shard in self._fills:
            return
        scope = trio.CancelScope()
        self._fills[shard] = scope
        self._nursery.start_soon(self._fill, shard, scope)

    async def _fill(self, shard: int, scope: trio.CancelScope) -> None:
        """Copy `shard` from its other replicas: every version at or below τ, the
        τ of the last record applied here when the copy starts; the records after
        it are applied here as they come. Until it is done the replica refuses
        reads; a copy that fails starts again, as of a later τ."""
        with scope:
            try:
                while True:
                    store = self._filling_store()
                    replaced, self.shards[shard] = self.shards[shard], store  # records from here on go to it
                    self._discard_unused(replaced)
                    tau = self.applied_tau
                    started = self._monotonic_s()
                    floor = await self._copy_shard(shard, tau, store)
                    if floor is not None:
                        store.floor = floor
                        store.filling = False
                        store.garbage.untracked = True  # copied versions: one full sweep finds their garbage
                        # Durable once a checkpoint (on LMDB: a commit) holds it: one comes at once.
                        store.durable = self.disk is None and self.engine is None
                        self._checkpoint_soon = True
                        log.info("storage node %d: shard %d copied as of τ %d (%d keys) in %.1f s", self.node_id,
                                 shard, tau, len(store), self._monotonic_s() - started)
                        return
                    await trio.sleep(COPY_RETRY_S)
            finally:
                if self._fills.get(shard) is scope:
                    del self._fills[shard]

    async def _copy_shard(self, shard: int, tau: int, store: Store) -> int | None:
        """Copy the versions at or below τ into `store`; returns the lowest τ it can
        serve reads at, or None if no replica could give the whole copy."""
        sources = [n for n in self.placement.hosts(shard) if n != self.node_id]
        if not sources:
            log.error("storage node %d: shard %d has no other replica to copy from", self.node_id, shard)
            return None
        after: bytes | None = None
        floor = 0
        failures = 0
        turn = self.node_id
        rate = self._copy_keys_per_s
        page = COPY_KEYS if rate <= 0 else max(1, min(COPY_KEYS, int(rate / 10)))
        while True:
            source = sources[turn % len(sources)]
            try:
                start, end = self.ranges.bounds(shard)
                piece: ShardPiece = await self._peer(source).call("copy_shard", CopyShard(start, end, tau, after, page))
            except _PEER_FAILURES as exc:
                failures += 1
                log.warning("storage node %d: copying shard %d from storage node %d: %s", self.node_id, shard,
                            source, exc)
                if failures >= 3 * len(sources):
                    return None
                turn += 1
                await trio.sleep(COPY_RETRY_S)
                continue
            for key, versions in piece.chains:
                store.merge_older(key, tuple(map(tuple, versions)))
            self._unsaved_versions += len(piece.chains)
            self._commit_if_large()
            floor = max(floor, piece.floor)
            if piece.resume is None:
                return floor
            after = piece.resume
            if rate > 0:
                await trio.sleep(len(piece.chains) / rate)
            else:
                await checkpoint_if_due()

    async def _start_from_peer(self) -> None:
        """Go on from a peer's journal positions, catalog versions and placement
        (a node added to a running cluster, or one the journal has left behind);
        every shard the placement gives this node is then copied."""
        while True:
            for node in self.placement.nodes():
                if node == self.node_id:
                    continue
                try:
                    state: NodeState = await self._peer(node).call("node_state", NodeStateQuery())
                except _PEER_FAILURES as exc:
                    log.warning("storage node %d: asking storage node %d where it is: %s", self.node_id, node, exc)
                    continue
                if len(state.applied) != len(self.applied):
                    raise RuntimeError(f"storage node {node} reads {len(state.applied)} journals, not "
                                       f"{len(self.applied)}")
                self._go_on_from(state)
                log.info("storage node %d: starts from storage node %d's positions %s (placement %d)", self.node_id,
                         node, list(state.applied), state.placement.version)
                return
            await trio.sleep(COPY_RETRY_S)

    def _go_on_from(self, state: NodeState) -> None:
        count = len(self.applied)
        self.applied = list(state.applied)
        self._received = list(state.applied)
        self._pending = [deque() for _ in range(count)]
        self._closes_waiting = [[] for _ in range(count)]
        self.applied_tau = state.applied_tau
        # The peer had applied every record at or below applied_tau, and none
        # after its positions is at or below it: it is closed on every journal.
        self.closed = [state.applied_tau] * count
        self.watermark = max(self.watermark, state.applied_tau)
        self.catalog_versions = [tuple(v) for v in state.catalog_versions]  # type: ignore[misc]
        self.dropped_ranges = [tuple(d) for d in state.dropped_ranges]  # type: ignore[misc]
        self.placement = state.placement
        self.ranges = shard_map(state.placement)
        self._learn_endpoints(state.placement)
        mine = set(state.placement.shards_of(self.node_id))
        old = [*self.shards, *(c[0] for c in self._to_clear)]
        self.shards, self._to_clear = [None] * len(self.ranges), []
        self._discard_unused(*old)
        self.shards = [self._filling_store() if s in mine else None for s in range(len(self.ranges))]
        self.caught_up = False
        self._drained = [False] * count
        self._since_checkpoint += 1

    def _apply_lease(self, tau: int, claim: LeaseClaim) -> None:
        """An adjudicator range's lease, as a compare-and-set on its system key
        (storage/lease_record.py): every replica applies the same log in the
        same order, so all agree on who won."""
        key = lease_key(claim.index)
        store = self.shards[self.ranges.owner(key)]
        if store is None:
            return
        new = next_lease_state(LeaseState.from_value(store.get(key, 1 << 63)), tau, claim)
        if new is not None:
            store.apply(key, tau, tuple(new))

    async def _gc_loop(self) -> None:
        """Collect the versions no snapshot reads any more: the keys each store queued as
        it applied writes (storage/garbage.py), and a full sweep only for what a queue
        could not hold (at most one a `FULL_SWEEP_INTERVAL_S`)."""
        last_sweep = -FULL_SWEEP_INTERVAL_S
        while True:
            await trio.sleep(GC_INTERVAL_S)
            horizon = self.watermark - RETENTION_NS
            sweep_allowed = self._monotonic_s() - last_sweep > FULL_SWEEP_INTERVAL_S
            stores = self._stores()
            share_room([store.garbage for store in stores])
            for store in stores:
                # A replica being copied keeps everything until the copy is done: a
                # deletion it holds may hide a version still on its way.
                if store.filling:
                    continue
                garbage = store.garbage
                if garbage.untracked:  # what it held before its queue: applied up to here
                    garbage.untracked = False
                    garbage.owe(max(self.watermark, self.applied_tau))
                if horizon <= store.gc_horizon or not self._in_use(store):
                    continue
                store.gc_horizon = horizon
                while keys := garbage.ready(horizon, SWEEP_KEYS):
                    store.collect_keys(keys)
                    self._unsaved_versions += 1
                    await checkpoint_if_due()
                    if not self._in_use(store):
                        break  # its shard went meanwhile (on LMDB: its database too)
                if sweep_allowed and garbage.sweep_due(horizon) and self._in_use(store):
                    last_sweep = self._monotonic_s()
                    garbage.sweep_started(horizon)
                    after = None
                    while (after := store.collect_some(after, SWEEP_KEYS)) is not None:
                        self._unsaved_versions += 1
                        await checkpoint_if_due()
                        if not self._in_use(store):
                            break
            versions = self.catalog_versions
            while len(versions) > 1 and versions[1][0] <= horizon:
                del versions[0]
            await self._reclaim_dropped(horizon)
            while self._to_clear:
                entry = self._to_clear[0]
                store, start, end = entry
                while not store.drop_range(start, end, SWEEP_KEYS):  # type: ignore[arg-type]
                    self._unsaved_versions += 1
                    await checkpoint_if_due()
                    if not self._to_clear or self._to_clear[0] is not entry:
                        break  # the store went meanwhile, with its clears
                else:
                    self._to_clear.pop(0)
                    self._unsaved_versions += 1

    async def _reclaim_dropped(self, horizon: int) -> None:
        """Remove the keys of ranges dropped at or below the horizon (no snapshot reads them)."""
        if any(store is not None and store.filling for store in self.shards):
            return  # a copy in progress may still bring keys of a dropped range: after it
        for drop in [d for d in self.dropped_ranges if d[0] <= horizon]:
            _, start, end = drop
            for store in self._stores():
                while self._in_use(store) and not store.drop_range(start, end, SWEEP_KEYS):
                    self._unsaved_versions += 1
                    await checkpoint_if_due()
            self.dropped_ranges.remove(drop)
            self._unsaved_versions += 1

    # -- checkpoints -------------------------------------------------------

    async def _checkpoint_loop(self) -> None:
        while True:
            await trio.sleep(1.0)
            since_last = self._monotonic_s() - self._last_checkpoint_s
            due = self._since_checkpoint >= self._checkpoint_records or (
                self._since_checkpoint and since_last > self._checkpoint_interval_s
            )
            # A copied replica is not durable until a checkpoint holds it, and a
            # move waits for that: its checkpoint does not wait for the spacing.
            soon = self._checkpoint_soon
            if soon or (due and since_last >= CHECKPOINT_SPACING * self._checkpoint_took_s):
                self._checkpoint_soon = False
                await self.checkpoint()

    async def checkpoint(self) -> None:
        """Write every shard's versions as of the last applied record, and the
        journal positions they reflect; then the journals may drop what is older.

        The store is read a piece at a time as of that record's τ, encoded and
        written (by a worker thread) as it goes, while the node keeps applying
        newer records: versions at or below the cut stay until the GC horizon
        passes it, so the pieces add up to the store as it was at the cut.

        On LMDB a checkpoint is a commit (what `_commit_loop` does every fraction
        of a second), after which the journals are told at once."""
        if self.engine is not None:
            self._commit()
            for j, journal in enumerate(self._journals):
                await journal.checkpointed(self.name, self._committed[j])
            return
        if self.disk is None:
            # Nothing to write, and nothing to replay after a restart (the
            # journals are in memory too): the journals may forget what has
            # been applied here.
            self._since_checkpoint = 0
            self._last_checkpoint_s = self._monotonic_s()
            for j, journal in enumerate(self._journals):
                await journal.checkpointed(self.name, self.applied[j])
            return
        if self._checkpointing:
            self._checkpoint_soon = self._checkpoint_soon or self._has_unsaved()  # the next one, then
            return  # one at a time (the periodic one and the one at shutdown may meet)
        self._checkpointing = True
        try:
            cut = self.applied_tau
            header = {
                "applied": list(self.applied),
                "catalog_version": self.catalog_versions[-1][1],
                "catalog_tau": self.catalog_versions[-1][0],
                "cut": cut,
                "placement": encode_placement(self.placement),
            }
            self._since_checkpoint = 0
            self._last_checkpoint_s = started = self._monotonic_s()
            written = await self._write_checkpoint_as_of(self.disk, header, cut)
            self._checkpoint_took_s = self._monotonic_s() - started
            log.info("storage node %d: checkpoint at %s written in %.1f s", self.node_id, header["applied"],
                     self._checkpoint_took_s)
            if not written:
                self._checkpoint_soon = self._has_unsaved()  # a copied replica still waits for one
                return
        finally:
            self._checkpointing = False
        self._checkpoint_soon = self._checkpoint_soon or self._has_unsaved()
        for j, journal in enumerate(self._journals):
            await journal.checkpointed(self.name, header["applied"][j])

    def _has_unsaved(self) -> bool:
        return any(store is not None and not store.filling and not store.durable for store in self.shards)

    async def _write_checkpoint_as_of(self, disk: Disk, header: dict, cut: int) -> bool:
        """Stream the checkpoint into a new file (unsynced, a piece at a time),
        then replace the old one with it: `Disk.replace` syncs it first, so a
        crash leaves the old checkpoint or all of the new one."""
        if CHECKPOINT_TMP in await disk.names():
            await disk.remove(CHECKPOINT_TMP)  # a checkpoint cut short by a crash or a cancel
        replaced = False
        try:
            pending = [codec.encode({"format": 2, "header": header})]
            size = len(pending[0])
            rows = 0
            # Ranges dropped at or below the cut are gone as of the cut: left out.
            dropped = sorted((start, end) for tau, start, end in self.dropped_ranges if tau <= cut)
            # A replica still being copied is left out (a restart copies it again);
            # the end marker names the shards written, so an empty one counts too.
            # The halves of a split shard share a store, written once; the loader puts
            # each key in its shard's store by the header's placement.
            complete = [(shard, store) for shard, store in enumerate(self.shards)
                        if store is not None and not store.filling]
            distinct = {id(store): (shard, store) for shard, store in reversed(complete)}.values()
            for shard, store in distinct:
                after = None
                while True:
                    items, after = store.items_as_of(cut, after, SWEEP_KEYS)
                    if dropped:
                        items = [item for item in items if not _in_ranges(item[0], dropped)]
                    if items:
                        pending.append(codec.encode((shard, items)))
                        size += len(pending[-1])
                        rows += len(items)
                    if size >= CHECKPOINT_WRITE_BYTES:
                        await disk.append(CHECKPOINT_TMP, b"".join(pending), sync=False)
                        pending, size = [], 0
                    if after is None:
                        break
                    if store.gc_horizon >= cut:
                        log.warning("storage node %d: checkpoint outlived the retention of its cut; dropped",
                                    self.node_id)
                        return False
                    await checkpoint_if_due()
            pending.append(codec.encode({"end": rows, "shards": [shard for shard, _ in complete]}))
            await disk.append(CHECKPOINT_TMP, b"".join(pending), sync=False)
            await disk.replace(CHECKPOINT_TMP, CHECKPOINT_FILE)
            replaced = True
            for _, store in complete:
                store.durable = True  # a restart loads it (and replays the journal after the cut)
            return True
        finally:
            if not replaced:
                with trio.CancelScope(shield=True):
                    try:
                        if CHECKPOINT_TMP in await disk.names():
                            await disk.remove(CHECKPOINT_TMP)
                    except (OSError, trio.ClosedResourceError):
                        pass  # the disk is closing: the next checkpoint removes it

    async def _load_checkpoint(self) -> bool:
        """Load the newest checkpoint a piece at a time (read by a worker thread,
        decoded and inserted here between scheduler turns), so that a large one
        does not hold the thread while the journal replicas elect a leader.
        False if there is none.

        Each key is loaded as of the cut, so reads below the cut are refused
        (`HistoryGone`: another replica may serve them). Shards the placement
        gives this node that the checkpoint lacks (still being copied when it
        was cut) are copied again once the node runs."""
        disk = self.disk
        assert disk is not None
        if CHECKPOINT_FILE not in await disk.names():
            return False
        header, shards = await _read_checkpoint_pieces(disk, CHECKPOINT_FILE)
        if len(header["applied"]) != len(self.applied):
            raise RuntimeError("checkpoint was written for a different number of journals")
        self.applied = list(header["applied"])
        self._received = list(self.applied)
        self.catalog_versions = [(header["catalog_tau"], header["catalog_version"])]
        if "placement" in header:
            self.placement = decode_placement(header["placement"])
            self.ranges = shard_map(self.placement)
            self._learn_endpoints(self.placement)
        mine = set(self.placement.shards_of(self.node_id))
        complete = set(header.get("complete", mine))
        cut = header.get("cut") or 0
        old, self.shards = self.shards, [None] * len(self.ranges)
        self._discard_unused(*old)  # on LMDB: the empty stores a new node begins with
        self.shards = [
            None if s not in mine else self._new_store(floor=cut) if s in complete else self._filling_store()
            for s in range(len(self.ranges))
        ]
        newest = 0
        # Each key goes to its shard's store by the checkpoint's shard map (the halves
        # of a split shard were written from one shared store; here each gets its own),
        # and keys of shards not held here (a half that moved away) are left out.
        owner = self.ranges.owner
        by_shard: dict[int, dict[bytes, tuple]] = {}
        for pieces in shards.values():
            for items in pieces:
                for key, tau, value in items:
                    shard = owner(key)
                    store = self.shards[shard]
                    if store is not None and not store.filling:
                        by_shard.setdefault(shard, {})[key] = ((tau, value),)
                newest = max(newest, max((tau for _, tau, _ in items), default=0))
                await checkpoint_if_due()
        for shard, versions in by_shard.items():
            self.shards[shard].load_versions(versions)  # type: ignore[union-attr]  # one sorted insert (~0.1 s per million)
            await checkpoint_if_due()
        # A checkpoint of the first format did not record its cut: its newest version is it.
        self.applied_tau = header.get("cut") or newest
        log.info("storage node %d loaded checkpoint at %s", self.node_id, self.applied)
        return True


async def _read_checkpoint_pieces(disk: Disk, name: str) -> tuple[dict, dict[int, list]]:
    """(header, {shard: [pieces of (key, τ, value)]}) from either checkpoint format:
    format 2 is a stream of pieces ended by a marker; the first was one map."""
    stream = codec.unpacker()
    header: dict | None = None
    shards: dict[int, list] = {}
    rows = 0
    offset = 0
    while data := await disk.read_at(name, offset, CHECKPOINT_WRITE_BYTES):
        offset += len(data)
        stream.feed(data)
        for piece in stream:
            await checkpoint_if_due()
            if header is None:
                if "shards" in piece:  # the first format: everything in one map
                    return piece["header"], {shard: [items] for shard, items in piece["shards"].items()}
                header = piece["header"]
            elif isinstance(piece, dict):
                if rows != piece["end"]:
                    raise RuntimeError(f"checkpoint {name} is inconsistent: {piece['end']} rows announced")
                if "shards" in piece:
                    header = {**header, "complete": piece["shards"]}
                return header, shards
            else:
                shard, items = piece
                shards.setdefault(shard, []).append(items)
                rows += len(items)
    raise RuntimeError(f"checkpoint {name} is truncated (no end marker)")


_AFTER_ANY_END = b"\xff" * 64  # sorts after the end of any range (ends are a few bytes)


def _in_ranges(key: bytes, ranges: list[tuple[bytes, bytes]]) -> bool:
    """Whether `key` falls in one of the sorted [start, end) ranges."""
    i = bisect_right(ranges, (key, _AFTER_ANY_END)) - 1
    return i >= 0 and ranges[i][0] <= key < ranges[i][1]
