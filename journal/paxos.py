"""Multi-Paxos for one journal, sans I/O.

`PaxosCore` is one replica's protocol state. It never touches a socket, a
file, a clock or a random generator: the shell (`journal.replica`) feeds it
messages, appends, closes and clock readings (`Now`), and carries out the
`Output` it returns: durable records to write, messages to send (some only
after those records are synced), chosen slots to publish, and answers to
give. The simulator runs the same core under faults.

Protocol
--------
Slots hold batches of records (group commit: a leader proposes everything
queued since its last proposal as one slot, and each replica syncs all it
accepted since its last sync with one fsync). Ballots are `round << 8 |
replica`.

* Election. A follower that has not heard from a leader for the election
  timeout (plus a deterministic per-replica jitter) becomes a candidate with a
  higher ballot and sends Prepare(b, from_slot) for every slot it does not
  know to be chosen. Acceptors promise (durably) and report, in chunks, what
  they accepted there, their chosen prefix, and the leaders they have
  followed. With a majority of complete reports, the candidate first learns
  the longest chosen prefix any of them knows (catch-up), then becomes leader:
  in each slot after its prefix it re-proposes the value accepted at the
  highest ballot (after the drop rule below), fills holes with no-ops, and
  proposes new batches only after the last slot anything was found in
  (`max_found`).
* Phase 2 is pipelined: up to `pipeline_slots_max` slots in flight. A slot
  is chosen when a majority (the leader's own acceptor included, once its
  record is synced) acknowledges it. Acceptors ack only after their record is
  synced.
* Learning. The leader tells followers its chosen prefix in every Accept and
  heartbeat, and in a commit notice at the next tick after it moves. A follower marks a slot chosen when
  it accepted that slot at the leader's ballot (a leader proposes one value
  per slot, and every ballot above the one a value was chosen at carries the
  same value); for anything else it asks for the chosen values (Learn), from
  memory or, further back, from the sender's disk. A replica behind a peer's
  compaction point jumps to it.
* Positions. Records take positions in chosen order, and τ must rise with
  position. A leader gives τ = max(tau_min, clock.latest, last τ + 1), above
  everything it found. The one way a chosen log could still step back in τ
  is a value re-proposed after a leader change landing after records of a
  later era; `messages.effective_records` makes such a record void (no
  position, never acknowledged), identically on every replica, so τ rises
  with position by construction. Voids are counted; the simulator reports
  them.
* Drop rule. An acceptor durably records (b, max_found) of each leader
  before acknowledging anything from it, and reports these in promises. A
  value accepted at ballot x < b in a slot s > max_found(b) can never be
  chosen: b's phase 1 found nothing there, so nothing was chosen there below
  b before it, and after it a majority refuses ballots below b. A new leader
  drops such values instead of re-proposing them. This is what keeps an old
  value from surfacing after a closed timestamp (below).

A deposed leader never acknowledges an append that is not chosen: it
acknowledges only when it learns the slot chosen (with its own value; a
different value makes the append void), and chosen is forever. So a deposed
leader can at worst be late, never wrong. Acknowledgement is of a chosen
value, so it survives the loss of any minority of replicas: a majority
holds it durably, and any later leader's phase 1 meets one of them.

Leases and closed timestamps
----------------------------
`close(τ)` answers (closed, position): no record with τ' ≤ closed will take
a position after `position`. Heartbeats publish the same promise while idle.
The argument, with ε the clock error bound (`earliest ≤ true time ≤ latest`)
and ρ the bound on monotonic-clock rate error:

1. A follower that receives a message from the leader of ballot b at its
   ballot grants a lease: for `lease_ns` of its own monotonic clock it
   refuses to promise any other candidate. The leader counts the lease from
   the moment it *sent* the acknowledged message (stamp) and for only
   `lease_ns * (1 - 2ρ)` of its clock, which ends no later in true time than
   the followers' grants. It grants itself the same. A restarted replica has
   forgotten its grants, so it promises nothing for `lease_ns` after a
   restart with a non-empty log.
2. So while a leader's lease holds, no other candidate can collect a majority
   of promises: any majority contains a replica bound by the lease. A new
   leader's phase 1 completes at a true time after every lease of its
   predecessors has ended.
3. A leader closes only τ ≤ earliest + (lease_until - now)/(1 + ρ), which is
   before its lease ends in true time (or up to τ of records it sequenced,
   which the void rule protects), and raises its own next τ above it.
4. A new leader gives τ ≥ its clock's `latest` ≥ true time > the end of every
   earlier lease > everything closed under it. Records re-proposed from
   earlier eras either sit at or before the closing leader's chosen position
   (a close waits for the leader's in-flight slots to be chosen), or were
   accepted below the closing leader's ballot after its max_found and are
   dropped (the drop rule; a lease holder's (b, max_found) is on a majority
   of disks, so every later leader learns it), or come after a record of a
   later era and are void.

So `close` needs a valid lease (NotLeader otherwise), and a leader that loses
its lease stops closing: it cannot know whether a successor exists.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from journal import wal
from journal.errors import AppendRefused, AppendVoid, NotLeader
from journal.messages import (
    Accept,
    Accepted,
    Learn,
    LearnRequest,
    Message,
    Nack,
    Prepare,
    Promise,
    Value,
    ballot_owner,
    ballot_round,
    effective_records,
    make_ballot,
    noop,
    value_bytes,
)

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


@dataclass(frozen=True, slots=True)
class Now:
    """What the shell's clocks say: monotonic time for leases, the bounded clock for τ."""

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


class _Inflight:
    __slots__ = ("value", "acks", "sent_ns")

    def __init__(self, value: Value, sent_ns: int) -> None:
        self.value = value
        self.acks = 0  # bitmask of replicas
        self.sent_ns = sent_ns


def _jitter(round_: int, replica: int, spread_ns: int) -> int:
    """A deterministic spread of election timeouts (no randomness in the core)."""
    mixed = (round_ * 2654435761 + (replica + 1) * 40503) % 1009
    return spread_ns * mixed // 1009


class PaxosCore:
    def __init__(self, me: int, config: PaxosConfig, recovered: wal.Recovered, now: Now) -> None:
        assert 0 <= me < config.replica_count
        self.me = me
        self.config = config
        self.n = config.replica_count
        self.majority = self.n // 2 + 1
        self.peers = [i for i in range(self.n) if i != me]
        self.out = Output()
        # -- acceptor (durable) --
        self.promised = recovered.promised
        self.accepted: dict[int, tuple[int, Value]] = dict(recovered.accepted)
        self.leaders: dict[int, int] = {}
        for ballot, max_found in sorted(recovered.leaders.items()):
            self._remember_leader(ballot, max_found)
        # -- learner --
        self.base_slot = recovered.base_slot
        self.base_position = recovered.base_position
        self.base_tau = recovered.base_tau
        self.chosen_upto = self.base_slot - 1
        self.next_position = self.base_position  # position the next effective record takes
        self.last_tau_chosen = self.base_tau
        self.window: dict[int, Value] = {}  # recent chosen values, for catch-up
        self.pending_chosen: dict[int, Value] = {}  # chosen, beyond the prefix
        self.voids = 0
        self._chosen_marked = 0
        self.closed_tau = 0
        self.closed_position = 0
        # -- roles and timers --
        self.role = Role.FOLLOWER
        self.ballot = 0  # own ballot while candidate or leader
        self.leader_hint = NO_LEADER
        self.quiet_until_ns = 0 if recovered.empty else now.mono_ns + config.lease_ns
        self.grant_ballot = 0
        self.grant_until_ns = 0
        first = max(self.quiet_until_ns, now.mono_ns) + me * config.first_election_stagger_ns
        self.election_deadline_ns = first
        self.last_heard_ns = now.mono_ns
        # -- candidate --
        self.campaign_started_ns = 0
        self.promise_done: dict[int, bool] = {}
        self.prepare_sent_ns: dict[int, int] = {}
        self.found: dict[int, tuple[int, Value]] = {}
        self.found_leaders: dict[int, int] = {}
        self.peer_chosen_upto = 0
        self.peer_chosen_from = NO_LEADER
        # -- leader --
        self.max_found = 0
        self.next_slot = 0
        self.inflight: dict[int, _Inflight] = {}
        self.queue: deque[tuple[int, bytes, int, int]] = deque()
        self.waiting: dict[int, tuple[Value, list[tuple[int, int]]]] = {}
        self.sequenced: dict[int, int] = {}  # request id -> τ given
        self.last_tau = self.last_tau_chosen  # last τ given or closed
        self.last_record_tau = self.last_tau_chosen
        self.acked_stamp = [0] * self.n
        self.lease_until_ns = 0
        self.leader_since_ns = 0
        self.closes: list[tuple[int, int, int]] = []  # (request id, closed τ, slot to wait for)
        self.commit_sent = 0
        self.last_heartbeat_ns = 0
        # -- catch-up --
        self.learn_requested_ns = -(1 << 62)
        # Replay the recovered chosen prefix (the shell publishes it from the
        # output like any other learned slots), then what was learned beyond it.
        for slot, value, _ in recovered.chosen:
            self.pending_chosen[slot] = value
        self._advance()
        self._chosen_marked = self.chosen_upto
        for slot, value in recovered.learned.items():
            self.pending_chosen.setdefault(slot, value)
        self._advance()
        self.last_tau = self.last_record_tau = self.last_tau_chosen
        self.closed_tau = self.last_tau_chosen
        self.closed_position = self.next_position - 1

    # ------------------------------------------------------------------ API

    def take_output(self) -> Output:
        out = self.out
        self.out = Output()
        return out

    def on_message(self, sender: int, message: Message, now: Now) -> None:
        assert 0 <= sender < self.n
        if isinstance(message, Accept):
            self._on_accept(sender, message, now)
        elif isinstance(message, Accepted):
            self._on_accepted(sender, message, now)
        elif isinstance(message, Prepare):
            self._on_prepare(sender, message, now)
        elif isinstance(message, Promise):
            self._on_promise(sender, message, now)
        elif isinstance(message, Nack):
            self._on_nack(sender, message, now)
        elif isinstance(message, LearnRequest):
            self._on_learn_request(sender, message)
        elif isinstance(message, Learn):
            self._on_learn(sender, message, now)
        else:
            raise TypeError(f"not a journal message: {message!r}")
        self._finish(now)

    def on_tick(self, now: Now) -> None:
        if self.role is Role.FOLLOWER:
            if now.mono_ns >= self.election_deadline_ns and self._may_campaign(now):
                self._start_campaign(now)
        elif self.role is Role.CANDIDATE:
            if now.mono_ns - self.campaign_started_ns > self.config.election_timeout_ns:
                self._start_campaign(now)
            else:
                self._resend_prepares(now)
                if self.peer_chosen_upto > self.chosen_upto:
                    self._request_learn(self.peer_chosen_from, now)
        else:
            if self.n == 1:
                self.lease_until_ns = now.mono_ns + self._leader_lease_ns()
            if self._lease_lapsed(now) and now.mono_ns - self.lease_until_ns > self.config.election_timeout_ns:
                self._step_down(now, "no majority for an election timeout")
                self.on_tick(now)
                return
            if now.mono_ns - self.last_heartbeat_ns >= self.config.heartbeat_ns:
                self._heartbeat(now)
            elif self.chosen_upto > self.commit_sent:
                # A commit notice: followers (and their subscribers) learn
                # within a tick. Accepts carry the chosen prefix too, so under
                # load this rarely sends anything, and it never sends one
                # message per slot.
                self.commit_sent = self.chosen_upto
                message = Accept(
                    self.ballot, self.max_found, 0, self.chosen_upto, (), self.closed_tau, self.closed_position
                )
                for peer in self.peers:
                    self._send(peer, message)
            self._retransmit(now)
        self._finish(now)

    def submit(self, request: int, payload: bytes, tau_min: int, tau_max: int, now: Now) -> bool:
        """Queue an append; False (with the error in the output) if this replica cannot take it."""
        if self.role is not Role.LEADER:
            self.out.resolved.append((request, None, NotLeader(self.leader_hint, "not the leader")))
            return False
        if self._lease_lapsed(now):
            # No majority has answered for a lease: the append could not be
            # chosen here, and a successor may exist. Send the client elsewhere.
            self.out.resolved.append((request, None, NotLeader(NO_LEADER, "leader without a majority")))
            return False
        if len(self.queue) >= self.config.queue_records_max:
            self.out.resolved.append((request, None, AppendRefused("journal append queue is full")))
            return False
        self.queue.append((request, payload, tau_min, tau_max))
        return True

    def flush(self, now: Now) -> None:
        """Propose what is queued, as many slots as the pipeline allows."""
        if self.role is Role.LEADER:
            new_slots = []
            while self.queue and len(self.inflight) < self.config.pipeline_slots_max:
                slot = self._propose_batch(now)
                if slot:
                    new_slots.append(slot)
            if new_slots:
                self._send_accepts(new_slots, now, self.peers)
        self._finish(now)

    def close(self, request: int, tau: int, now: Now) -> None:
        """Promise that no record at or below a τ ≥ `tau` (if the lease allows) follows; see the module docstring."""
        if self.role is not Role.LEADER:
            self.out.resolved.append((request, None, NotLeader(self.leader_hint, "not the leader")))
            return
        bound = self._close_bound(now)
        if bound is None:
            self.out.resolved.append((request, None, NotLeader(NO_LEADER, "the leader's lease has lapsed")))
            return
        closed = min(max(tau, self.last_tau), bound)
        self.last_tau = max(self.last_tau, closed)
        if self.inflight:
            # Records already sequenced must be in place before the promise
            # can name a position.
            self.closes.append((request, closed, self.next_slot - 1))
        else:
            self._answer_close(request, closed)
        self._finish(now)

    def abandon(self, request: int) -> tuple[str, int]:
        """The caller gave up waiting: ("queued", 0) if withdrawn, ("sequenced", τ) or ("unknown", 0)."""
        for i, item in enumerate(self.queue):
            if item[0] == request:
                del self.queue[i]
                return "queued", 0
        tau = self.sequenced.pop(request, None)
        if tau is not None:
            return "sequenced", tau
        return "unknown", 0

    def compact(self, slot: int, position: int, tau: int, now: Now) -> None:
        """Forget chosen slots below `slot` (every subscriber is past them)."""
        if slot <= self.base_slot:
            return
        assert slot <= self.chosen_upto + 1, "only chosen slots are compacted"
        self.base_slot, self.base_position, self.base_tau = slot, position, tau
        self._persist(wal.base_record(slot, position, tau))
        for s in [s for s in self.window if s < slot]:
            del self.window[s]
        self._finish(now)

    def durable_summary(self) -> list[bytes]:
        """Records that restate what must survive, to head a new segment."""
        bodies = [wal.promise_record(self.promised)]
        bodies += [wal.leader_record(b, m) for b, m in sorted(self.leaders.items())]
        bodies.append(wal.base_record(self.base_slot, self.base_position, self.base_tau))
        return bodies

    @property
    def chosen_marked(self) -> int:
        """The chosen prefix as far as this replica has written it down."""
        return self._chosen_marked

    @property
    def lease_valid_until_ns(self) -> int:
        return self.lease_until_ns if self.role is Role.LEADER else 0

    # ------------------------------------------------------------ acceptor

    def _persist(self, body: bytes, slot: int = 0) -> None:
        self.out.persist.append(body)
        self.out.persist_slots.append(slot)

    def _reply_after(self, to: int, message: Message) -> None:
        if self.config.bug is Bug.REPLY_BEFORE_SYNC:
            self.out.send.append((to, message))
        else:
            self.out.send_after.append((to, message))

    def _send(self, to: int, message: Message) -> None:
        self.out.send.append((to, message))

    def _promise(self, ballot: int, now: Now) -> None:
        assert ballot > self.promised
        self.promised = ballot
        self._persist(wal.promise_record(ballot))
        if self.role is not Role.FOLLOWER and ballot != self.ballot:
            self._step_down(now, f"promised ballot {ballot}")

    def _lease_binds(self, candidate: int, now: Now) -> bool:
        if now.mono_ns < self.quiet_until_ns:
            return True  # restarted: grants made before the crash may still run
        return self.grant_until_ns > now.mono_ns and ballot_owner(self.grant_ballot) != candidate

    def _on_prepare(self, sender: int, message: Prepare, now: Now) -> None:
        ballot = message.ballot
        if ballot < self.promised:
            self._reply_after(sender, Nack(self.promised, self.leader_hint))
            return
        if ballot > self.promised:
            if self._lease_binds(ballot_owner(ballot), now):
                self._send(sender, Nack(self.promised, self.leader_hint))
                return
            self._promise(ballot, now)
            if sender != self.me:
                self.leader_hint = NO_LEADER
                self.last_heard_ns = now.mono_ns
                self._reset_election_deadline(now)
        entries, next_slot = self._entries_from(max(message.from_slot, self.chosen_upto + 1))
        leaders = tuple(sorted(self.leaders.items()))
        self._reply_after(sender, Promise(ballot, self.chosen_upto, entries, leaders, next_slot))

    def _entries_from(self, start: int) -> tuple[tuple[tuple[int, int, Value], ...], int]:
        slots = sorted(s for s in self.accepted if s >= start)
        entries = []
        budget = self.config.message_bytes_max
        for i, slot in enumerate(slots):
            ballot, value = self.accepted[slot]
            size = value_bytes(value)
            if entries and size > budget:
                return tuple(entries), slots[i]
            entries.append((slot, ballot, value))
            budget -= size
        return tuple(entries), 0

    def _remember_leader(self, ballot: int, max_found: int) -> None:
        self.leaders[ballot] = max_found
        while len(self.leaders) > self.config.leaders_remembered_max:
            del self.leaders[min(self.leaders)]

    def _on_accept(self, sender: int, message: Accept, now: Now) -> None:
        ballot = message.ballot
        if ballot < self.promised:
            self._reply_after(sender, Nack(self.promised, self.leader_hint))
            return
        if ballot > self.promised:
            self._promise(ballot, now)
        if sender != self.me:
            self.leader_hint = ballot_owner(ballot)
            self.last_heard_ns = now.mono_ns
            self._reset_election_deadline(now)
            # The lease: no other candidate gets a promise from us for a while.
            self.grant_ballot = ballot
            self.grant_until_ns = max(self.grant_until_ns, now.mono_ns + self.config.lease_ns)
        if ballot not in self.leaders:
            # Durable before any acknowledgement to this leader: the drop rule
            # (module docstring) depends on a majority knowing it.
            self._remember_leader(ballot, message.max_found)
            self._persist(wal.leader_record(ballot, message.max_found))
        acked = []
        for slot, value in message.slots:
            acked.append(slot)
            if slot <= self.chosen_upto:
                continue  # chosen already, and a chosen slot's value never changes
            current = self.accepted.get(slot)
            if current is not None and current[0] == ballot:
                continue  # a retransmission; the first copy is (being) written
            self.accepted[slot] = (ballot, value)
            self._persist(wal.accept_record(slot, ballot, value), slot)
            self.out.accepts.append((slot, ballot, value))
        if acked or message.stamp:
            self._reply_after(sender, Accepted(ballot, message.stamp, tuple(acked)))
        if message.closed_tau > self.closed_tau:
            self.closed_tau, self.closed_position = message.closed_tau, message.closed_position
            self.out.closed_changed = True
        if message.chosen_upto > self.chosen_upto and sender != self.me:
            self._learn_upto(sender, ballot, message.chosen_upto, now)

    def _learn_upto(self, sender: int, ballot: int, upto: int, now: Now) -> None:
        for slot in sorted(s for s in self.accepted if self.chosen_upto < s <= upto):
            accepted_ballot, value = self.accepted[slot]
            if accepted_ballot == ballot:
                self._mark_chosen(slot, value)
        self._advance()
        if self.chosen_upto < upto:
            self._request_learn(sender, now)

    def _on_learn_request(self, sender: int, message: LearnRequest) -> None:
        base = None
        start = message.from_slot
        if start < self.base_slot:
            base = (self.base_slot, self.base_position, self.base_tau)
            start = self.base_slot
        if start <= self.chosen_upto and start not in self.window:
            self.out.serve_from_disk.append((sender, start, base))
            return
        slots = []
        budget = self.config.message_bytes_max
        slot = start
        while slot <= self.chosen_upto:
            value = self.window.get(slot)
            if value is None:
                break
            size = value_bytes(value)
            if slots and size > budget:
                break
            slots.append((slot, value))
            budget -= size
            slot += 1
        self._send(sender, Learn(base, tuple(slots), self.chosen_upto))

    def _on_learn(self, sender: int, message: Learn, now: Now) -> None:
        if message.base is not None and message.base[0] > self.chosen_upto + 1:
            self._rebase(*message.base)
        before = self.chosen_upto
        for slot, value in message.slots:
            if slot <= self.chosen_upto or slot in self.pending_chosen:
                continue
            current = self.accepted.get(slot)
            if current is None or current[1][0] != value[0]:
                self._persist(wal.learned_record(slot, value), slot)
            self._mark_chosen(slot, value)
        self._advance()
        if self.chosen_upto > before and message.chosen_upto > self.chosen_upto:
            self.learn_requested_ns = -(1 << 62)  # progress: ask for the next chunk at once
            self._request_learn(sender, now)
        if self.role is Role.CANDIDATE:
            self._maybe_lead(now)

    def _rebase(self, slot: int, position: int, tau: int) -> None:
        """Jump past a peer's compaction point: what lies before it is needed by no one."""
        self.out.events.append(f"rebase to slot {slot} position {position}")
        self.base_slot, self.base_position, self.base_tau = slot, position, tau
        self.chosen_upto = slot - 1
        self.next_position = position
        self.last_tau_chosen = max(self.last_tau_chosen, tau)
        self.window.clear()
        for s in [s for s in self.accepted if s < slot]:
            del self.accepted[s]
        for s in [s for s in self.pending_chosen if s < slot]:
            del self.pending_chosen[s]
        self._persist(wal.base_record(slot, position, tau))
        self.out.rebase = (slot, position, tau)

    def _request_learn(self, target: int, now: Now) -> None:
        if target == NO_LEADER or target == self.me:
            return
        if now.mono_ns - self.learn_requested_ns < self.config.retransmit_ns:
            return
        self.learn_requested_ns = now.mono_ns
        self._send(target, LearnRequest(self.chosen_upto + 1))

    # ------------------------------------------------------------- learner

    def _mark_chosen(self, slot: int, value: Value) -> None:
        if slot <= self.chosen_upto:
            known = self.window.get(slot)
            assert known is None or known[0] == value[0], f"slot {slot} was chosen with two values"
            return
        known = self.pending_chosen.get(slot)
        if known is not None:
            assert known[0] == value[0], f"slot {slot} was chosen with two values"
            return
        self.pending_chosen[slot] = value

    def _advance(self) -> None:
        """Extend the chosen prefix over every contiguous chosen slot."""
        while self.chosen_upto + 1 in self.pending_chosen:
            slot = self.chosen_upto + 1
            value = self.pending_chosen.pop(slot)
            self.accepted.pop(slot, None)
            tau_before = self.last_tau_chosen
            effective, where, last_tau = effective_records(value, self.next_position, tau_before)
            assert last_tau >= tau_before, "τ never steps back along the log"
            self.out.learned.append((slot, value, self.next_position, effective, tau_before))
            self.next_position += len(effective)
            self.last_tau_chosen = last_tau
            self.voids += len(where) - len(effective)
            self.window[slot] = value
            if len(self.window) > self.config.chosen_window_slots:
                del self.window[next(iter(self.window))]
            self.chosen_upto = slot
            inflight = self.inflight.pop(slot, None)
            if inflight is not None:
                assert inflight.value[0] == value[0], f"slot {slot} was chosen with a value its leader did not propose"
            self._resolve_slot(slot, value, where, effective)
        if self.last_tau_chosen > self.last_tau:
            self.last_tau = self.last_tau_chosen
        if self.closes:
            ready = [c for c in self.closes if c[2] <= self.chosen_upto]
            if ready:
                self.closes = [c for c in self.closes if c[2] > self.chosen_upto]
                for request, closed, _ in ready:
                    self._answer_close(request, closed)

    def _resolve_slot(
        self, slot: int, value: Value, where: list[int | None], effective: list[tuple[int, int, bytes]]
    ) -> None:
        waiting = self.waiting.pop(slot, None)
        if waiting is None:
            return
        proposed, requests = waiting
        resolved = self.out.resolved
        if proposed[0] != value[0]:
            for request, _ in requests:
                self.sequenced.pop(request, None)
                resolved.append((request, None, AppendVoid(f"slot {slot} was chosen with another leader's value")))
            return
        records = value[1]
        for request, index in requests:
            self.sequenced.pop(request, None)
            position = where[index]
            if position is None:
                resolved.append((request, None, AppendVoid(f"record in slot {slot} is void")))
            else:
                resolved.append((request, (position, records[index][0]), None))

    # ------------------------------------------------------------ proposer

    def _may_campaign(self, now: Now) -> bool:
        return now.mono_ns >= self.quiet_until_ns and now.mono_ns >= self.grant_until_ns

    def _reset_election_deadline(self, now: Now) -> None:
        round_ = ballot_round(max(self.promised, self.ballot))
        self.election_deadline_ns = (
            now.mono_ns + self.config.election_timeout_ns + _jitter(round_, self.me, self.config.election_jitter_ns)
        )

    def _start_campaign(self, now: Now) -> None:
        round_ = ballot_round(max(self.promised, self.ballot)) + 1
        self.ballot = make_ballot(round_, self.me)
        if self.role is Role.LEADER:
            self._step_down(now, "new campaign")
        self.role = Role.CANDIDATE
        self.leader_hint = NO_LEADER
        self.campaign_started_ns = now.mono_ns + _jitter(round_, self.me, self.config.election_jitter_ns)
        self.promise_done = {}
        self.prepare_sent_ns = {}
        self.found = {}
        self.found_leaders = {}
        self.peer_chosen_upto = 0
        self.peer_chosen_from = NO_LEADER
        self._promise(self.ballot, now)
        self.out.events.append(f"campaign ballot {self.ballot}")
        if self.config.bug is Bug.SKIP_PHASE1:
            self._become_leader(now)
            return
        prepare = Prepare(self.ballot, self.chosen_upto + 1)
        for peer in self.peers:
            self._send(peer, prepare)
            self.prepare_sent_ns[peer] = now.mono_ns
        self._on_prepare(self.me, prepare, now)

    def _resend_prepares(self, now: Now) -> None:
        for peer in self.peers:
            if peer in self.promise_done:
                continue
            if now.mono_ns - self.prepare_sent_ns.get(peer, 0) >= self.config.retransmit_ns:
                self.prepare_sent_ns[peer] = now.mono_ns
                self._send(peer, Prepare(self.ballot, self.chosen_upto + 1))

    def _on_promise(self, sender: int, message: Promise, now: Now) -> None:
        if self.role is not Role.CANDIDATE or message.ballot != self.ballot:
            return
        if self.promise_done.get(sender):
            return  # a duplicate of a finished report
        found = self.found
        for slot, ballot, value in message.entries:
            current = found.get(slot)
            if current is None or ballot > current[0]:
                found[slot] = (ballot, value)
        for ballot, max_found in message.leaders:
            self.found_leaders[ballot] = max_found
        if message.chosen_upto > self.peer_chosen_upto:
            self.peer_chosen_upto = message.chosen_upto
            self.peer_chosen_from = sender
        if message.next_slot:
            self.promise_done[sender] = False
            prepare = Prepare(self.ballot, message.next_slot)
            if sender == self.me:
                self._on_prepare(self.me, prepare, now)
            else:
                self._send(sender, prepare)
                self.prepare_sent_ns[sender] = now.mono_ns
            return
        self.promise_done[sender] = True
        self._maybe_lead(now)

    def _maybe_lead(self, now: Now) -> None:
        if sum(self.promise_done.values()) < self.majority:
            return
        if self.peer_chosen_upto > self.chosen_upto:
            # Learn the chosen prefix first: new positions and τ follow it.
            self._request_learn(self.peer_chosen_from, now)
            return
        self._become_leader(now)

    def _become_leader(self, now: Now) -> None:
        known = dict(self.leaders)
        known.update(self.found_leaders)
        survivors: dict[int, Value] = {}
        dropped = 0
        for slot, (ballot, value) in self.found.items():
            if slot <= self.chosen_upto:
                continue
            if any(b > ballot and slot > m for b, m in known.items()):
                dropped += 1  # the drop rule: this value can never be chosen
                continue
            survivors[slot] = value
        for slot, value in self.pending_chosen.items():
            survivors[slot] = value  # known chosen: re-propose exactly that
        max_found = max(survivors, default=self.chosen_upto)
        max_found = max(max_found, self.chosen_upto)
        self.role = Role.LEADER
        self.leader_since_ns = now.mono_ns
        self.leader_hint = self.me
        self.max_found = max_found
        self._remember_leader(self.ballot, max_found)
        self._persist(wal.leader_record(self.ballot, max_found))
        last_tau = self.last_tau_chosen
        for value in survivors.values():
            for tau, _ in value[1]:
                if tau > last_tau:
                    last_tau = tau
        self.last_tau = max(self.last_tau, last_tau)
        self.last_record_tau = self.last_tau
        self.acked_stamp = [0] * self.n
        self.lease_until_ns = 0
        self.inflight = {}
        slots = []
        for slot in range(self.chosen_upto + 1, max_found + 1):
            value = survivors.get(slot) or noop(self.ballot)
            self.inflight[slot] = _Inflight(value, now.mono_ns)
            slots.append(slot)
        # One more no-op after everything found: it settles the chosen prefix
        # at once, and a deposed leader waiting on a slot it had proposed
        # there learns its append is void instead of waiting out a timeout.
        barrier = max_found + 1
        self.inflight[barrier] = _Inflight(noop(self.ballot), now.mono_ns)
        slots.append(barrier)
        self.next_slot = barrier + 1
        self.commit_sent = self.chosen_upto
        self.found = {}
        self.out.events.append(
            f"leader ballot {self.ballot}: slots {self.chosen_upto + 1}..{max_found} re-proposed, {dropped} dropped"
        )
        self._send_accepts(slots, now, self.peers)

    def _propose_batch(self, now: Now) -> int:
        records: list[tuple[int, bytes]] = []
        requests: list[tuple[int, int]] = []
        size = 0
        queue = self.queue
        config = self.config
        while queue and len(records) < config.slot_records_max and (size < config.slot_bytes_max or not records):
            request, payload, tau_min, tau_max = queue.popleft()
            tau = max(tau_min, now.latest, self.last_tau + 1)
            if tau_max and tau > tau_max:
                self.out.resolved.append((request, None, AppendRefused(f"τ {tau} would exceed tau_max {tau_max}")))
                continue
            assert tau > self.last_tau, "τ rises with every record a leader makes"
            self.last_tau = tau
            self.last_record_tau = tau
            requests.append((request, len(records)))
            records.append((tau, payload))
            self.sequenced[request] = tau
            size += len(payload) + 12
        if not records:
            return 0
        slot = self.next_slot
        self.next_slot += 1
        value: Value = (self.ballot, tuple(records))
        self.inflight[slot] = _Inflight(value, now.mono_ns)
        self.waiting[slot] = (value, requests)
        return slot

    def _send_accepts(self, slots: list[int], now: Now, peers: list[int], *, own: bool = True) -> None:
        """Accept messages for `slots` to `peers` (and, if `own`, to this replica's own acceptor)."""
        stamp = now.mono_ns
        chunks: list[list[tuple[int, Value]]] = [[]]
        budget = self.config.message_bytes_max
        for slot in slots:
            inflight = self.inflight[slot]
            inflight.sent_ns = now.mono_ns
            size = value_bytes(inflight.value)
            if chunks[-1] and size > budget:
                chunks.append([])
                budget = self.config.message_bytes_max
            chunks[-1].append((slot, inflight.value))
            budget -= size
        self.commit_sent = self.chosen_upto
        self._grant_self(stamp)
        for chunk in chunks:
            message = Accept(
                self.ballot, self.max_found, stamp, self.chosen_upto, tuple(chunk),
                self.closed_tau, self.closed_position,
            )  # fmt: skip
            for peer in peers:
                self._send(peer, message)
            if chunk and own:
                self._on_accept(self.me, message, now)

    def _grant_self(self, stamp: int) -> None:
        self.grant_ballot = self.ballot
        self.grant_until_ns = max(self.grant_until_ns, stamp + self.config.lease_ns)

    def _on_accepted(self, sender: int, message: Accepted, now: Now) -> None:
        if self.role is not Role.LEADER or message.ballot != self.ballot:
            return
        if sender != self.me and message.stamp > self.acked_stamp[sender]:
            self.acked_stamp[sender] = message.stamp
            self._update_lease()
        needed = 1 if self.config.bug is Bug.ACK_WITHOUT_MAJORITY else self.majority
        bit = 1 << sender
        for slot in message.slots:
            inflight = self.inflight.get(slot)
            if inflight is None:
                continue
            inflight.acks |= bit
            if inflight.acks.bit_count() >= needed:
                del self.inflight[slot]
                self._mark_chosen(slot, inflight.value)
        self._advance()
        if self.queue and len(self.inflight) < self.config.pipeline_slots_max:
            # A slot finished: the next batch goes now rather than at the next flush.
            self.flush(now)

    def _lease_lapsed(self, now: Now) -> bool:
        """Leader long enough to have a lease, and has none."""
        return now.mono_ns >= self.lease_until_ns and now.mono_ns - self.leader_since_ns > self.config.lease_ns

    def _leader_lease_ns(self) -> int:
        return int(self.config.lease_ns * (1 - 2 * self.config.clock_rate_error))

    def _update_lease(self) -> None:
        needed = self.majority - 1  # the leader's own grant counts as one
        if needed <= 0:
            return
        stamps = sorted((self.acked_stamp[p] for p in self.peers), reverse=True)
        stamp = stamps[needed - 1]
        if stamp:
            self.lease_until_ns = max(self.lease_until_ns, stamp + self._leader_lease_ns())

    def _close_bound(self, now: Now) -> int | None:
        """The highest τ this leader may close now, or None without a lease."""
        if self.config.bug is Bug.CLOSE_WITHOUT_LEASE:
            return 1 << 62
        remaining = self.lease_until_ns - now.mono_ns
        if remaining <= 0:
            return None
        bound = now.earliest + int(remaining / (1 + self.config.clock_rate_error))
        return max(bound, self.last_record_tau)

    def _answer_close(self, request: int, closed: int) -> None:
        position = self.next_position - 1
        if closed > self.closed_tau:
            self.closed_tau, self.closed_position = closed, position
            self.out.closed_changed = True
        self.out.resolved.append((request, (closed, position), None))

    def _heartbeat(self, now: Now) -> None:
        self.last_heartbeat_ns = now.mono_ns
        if not self.inflight and not self.queue:
            bound = self._close_bound(now)
            if bound is not None:
                closed = min(max(self.last_tau, now.latest), bound)
                if closed > self.last_tau:
                    self.last_tau = closed
                if closed > self.closed_tau:
                    self.closed_tau, self.closed_position = closed, self.next_position - 1
                    self.out.closed_changed = True
        stamp = now.mono_ns
        self._grant_self(stamp)
        message = Accept(
            self.ballot, self.max_found, stamp, self.chosen_upto, (), self.closed_tau, self.closed_position
        )
        self.commit_sent = self.chosen_upto
        for peer in self.peers:
            self._send(peer, message)

    def _retransmit(self, now: Now) -> None:
        if not self.inflight:
            return
        horizon = now.mono_ns - self.config.retransmit_ns
        by_peer: dict[int, list[int]] = {}
        for slot, inflight in self.inflight.items():
            if inflight.sent_ns > horizon:
                continue
            for peer in self.peers:
                if not inflight.acks & (1 << peer):
                    by_peer.setdefault(peer, []).append(slot)
        # (Our own acceptor needs no retransmission: its record is being
        # written, and it acknowledges when synced.)
        for peer, slots in by_peer.items():
            self._send_accepts(slots, now, [peer], own=False)

    def _on_nack(self, sender: int, message: Nack, now: Now) -> None:
        if message.leader != NO_LEADER and message.leader != self.me:
            self.leader_hint = message.leader
        if self.role is not Role.FOLLOWER and message.promised > self.ballot:
            self._step_down(now, f"nack: ballot {message.promised} promised")
            self.last_heard_ns = now.mono_ns
            self._reset_election_deadline(now)

    def _step_down(self, now: Now, why: str) -> None:
        was = self.role
        self.role = Role.FOLLOWER
        self.lease_until_ns = 0
        self.inflight = {}
        self.found = {}
        if self.leader_hint == self.me:
            self.leader_hint = NO_LEADER
        for request, *_ in self.queue:
            self.out.resolved.append((request, None, NotLeader(self.leader_hint, "leadership lost")))
        self.queue.clear()
        for request, _, _ in self.closes:
            self.out.resolved.append((request, None, NotLeader(self.leader_hint, "leadership lost")))
        self.closes = []
        self._reset_election_deadline(now)
        self.out.events.append(f"{was.value} steps down ({why})")

    # -------------------------------------------------------------- finish

    def _finish(self, now: Now) -> None:
        if self.chosen_upto > self._chosen_marked:
            self._chosen_marked = self.chosen_upto
            self.out.persist_lazy.append(wal.chosen_record(self.chosen_upto))
