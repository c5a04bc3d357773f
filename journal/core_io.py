"""What goes into the Paxos core and what comes out: its configuration, the
clock readings the shell hands it (`Now`), and the `Output` the shell must
carry out. Kept apart from the protocol so that the shell, the simulator and
the tests can name these without the protocol's insides.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import msgspec

from journal.messages import Message, Value

NO_LEADER = -1


class Role(enum.Enum):
    FOLLOWER = "follower"
    CANDIDATE = "candidate"
    LEADER = "leader"


class Bug(enum.Enum):
    """Deliberately broken variants, for proving that the simulator's checks can fail."""

    NONE = "none"
    SKIP_PHASE1 = "skip_phase1"  # a candidate leads without asking anyone
    ACK_WITHOUT_MAJORITY = "ack_without_majority"  # a slot counts as chosen on one ack
    REPLY_BEFORE_SYNC = "reply_before_sync"  # acceptors answer before their record is durable
    CLOSE_WITHOUT_LEASE = "close_without_lease"  # close ignores the lease


@dataclass(frozen=True)
class PaxosConfig:
    replica_count: int = 3
    # Why 500 ms: long enough that a busy event loop, a GC pause or an fsync
    # stall does not cost the leader its lease; short enough that failover
    # (which waits out the lease) is quick, and a restart with a non-empty
    # log is held back only this long.
    lease_ns: int = 500_000_000
    # Followers wait at least the lease before campaigning (their own grant
    # must have expired), plus up to the jitter so that they rarely collide.
    election_timeout_ns: int = 550_000_000
    election_jitter_ns: int = 200_000_000
    # How soon a fresh replica campaigns, per replica index: replica 0 at once.
    first_election_stagger_ns: int = 60_000_000
    # Heartbeats renew the lease and carry the closed timestamp while idle;
    # this is the staleness bound of an idle storage watermark.
    heartbeat_ns: int = 10_000_000
    # Unacknowledged Accepts, Prepares and Learn requests are sent again
    # after this long (messages may be lost; in one process they never are).
    retransmit_ns: int = 50_000_000
    # An Accept is first sent again only after the time its followers may need to write
    # and sync it at a slow disk's pace (this many ns per MiB on top of `retransmit_ns`),
    # and each further time after twice the wait before, up to `retransmit_max_ns`: an
    # 11 MB slot (a 100,000-row COPY) was sent again every 50 ms while the followers were
    # still syncing it, and under a loaded disk those copies were most of the leader's work.
    # A lagging replica's Learn requests that bring nothing back slow down the same way.
    retransmit_ns_per_mib: int = 50_000_000
    retransmit_max_ns: int = 1_000_000_000
    # Slots in flight at once. Two keep the disks busy (one slot syncing,
    # the next filling); more only cost messages in one process.
    pipeline_slots_max: int = 2
    # One slot's batch: bounded so one Accept and one sync stay bounded.
    slot_records_max: int = 4096
    slot_bytes_max: int = 1 << 20
    # Promise, Learn and retransmitted Accept messages are cut into chunks.
    message_bytes_max: int = 4 << 20
    # Appends waiting for a slot; past this the leader refuses (back-pressure).
    queue_records_max: int = 100_000
    # Chosen values kept in memory for catch-up; older ones are read from disk.
    chosen_window_slots: int = 4096
    # Leaders whose (ballot, max_found) an acceptor remembers and reports.
    leaders_remembered_max: int = 16
    clock_rate_error: float = 1e-3
    bug: Bug = Bug.NONE

    def __post_init__(self) -> None:
        assert 1 <= self.replica_count <= 255
        assert self.election_timeout_ns >= self.lease_ns, "a follower must outwait its own lease grant"
        assert self.heartbeat_ns * 4 <= self.lease_ns, "heartbeats must renew the lease well before it ends"


class Now(msgspec.Struct, frozen=True):
    """What the shell's clocks say: monotonic time for leases, the bounded clock for τ.
    (A msgspec Struct: made on every event the core handles, see cluster/clock.py.)"""

    mono_ns: int
    earliest: int
    latest: int


class Output:
    """What the shell must do after one call into the core, in this order:

    1. write `persist` (records; `slots[i]` is the slot record i carries a value
       for, or 0) and sync it;
    2. only then send `send_after` (replies that reveal that state);
    `send` may go at once. `learned` are chosen slots extending the prefix, in
    order; `resolved` are answers to appends and closes.
    """

    __slots__ = (
        "persist", "persist_slots", "persist_lazy", "accepts", "send", "send_after", "learned",
        "resolved", "events", "serve_from_disk", "rebase", "closed_changed",
    )  # fmt: skip

    def __init__(self) -> None:
        self.persist: list[bytes] = []
        self.persist_slots: list[int] = []
        # Hints (chosen marks) that ride with the next synced batch but never
        # cause a sync of their own; losing one costs only a re-learn.
        self.persist_lazy: list[bytes] = []
        self.accepts: list[tuple[int, int, Value]] = []  # (slot, ballot, value) accepted, for observers
        self.send: list[tuple[int, Message]] = []
        self.send_after: list[tuple[int, Message]] = []
        # (slot, value, first position, effective records, τ before the slot)
        self.learned: list[tuple[int, Value, int, list[tuple[int, int, bytes]], int]] = []
        self.resolved: list[tuple[int, object, Exception | None]] = []
        self.events: list[str] = []
        # (replica, from slot, compaction base to send along)
        self.serve_from_disk: list[tuple[int, int, tuple[int, int, int] | None]] = []
        self.rebase: tuple[int, int, int] | None = None
        self.closed_changed = False

    def __bool__(self) -> bool:
        return bool(
            self.persist or self.persist_lazy or self.send or self.send_after or self.learned or self.resolved
            or self.serve_from_disk or self.rebase or self.closed_changed or self.events
        )  # fmt: skip
