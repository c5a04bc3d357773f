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
  timeout (plus a deterministic per-replica jitter) asks first (pre-vote,
  below); with a majority of yeses it becomes a candidate with a higher
  ballot and sends Prepare(b, from_slot) for every slot it does not know to
  be chosen. Acceptors promise (durably) and report, in chunks, what
  they accepted there, their chosen prefix, and the leaders they have
  followed. With a majority of complete reports, the candidate first learns
  the longest chosen prefix any of them knows (catch-up), then becomes leader:
  in each slot after its prefix it re-proposes the value accepted at the
  highest ballot (after the drop rule below), fills holes with no-ops, adds
  one more no-op (so the prefix settles at once, and a deposed leader waiting
  on a slot there learns its append is void), and proposes new batches only
  after that (`max_found` is the last slot anything was found in).
* Pre-vote, stickiness, check quorum (Raft's, Ongaro's thesis §9.6; liveness
  only: phase 1 and the lease below are what safety rests on). Before raising
  its ballot a replica sends PreVote, which changes nothing; a peer says yes
  only if it is bound by no lease and has heard from no live leader for an
  election timeout, and reports its promise so the campaign goes above it. A
  candidate that does not win within the timeout asks again before its next
  ballot. So a replica cut off from the majority never raises its ballot,
  and when it comes back it cannot depose the leader the majority follows;
  an acceptor also refuses a higher ballot for an election timeout after
  hearing a leader. (Raft's log check on the vote does not apply: a candidate
  learns the chosen prefix in phase 1.) A leader that no majority has
  acknowledged for an election timeout steps down, so one cut off on a
  minority side stops claiming to lead. A leader that meets a higher promise
  (a Nack) while its lease holds campaigns above it at once: the lease means
  the promise's owner has no majority.
* Phase 2 is pipelined: up to `pipeline_slots_max` slots in flight. A slot
  is chosen when a majority (the leader's own acceptor included, once its
  record is synced) acknowledges it. Acceptors ack only after their record is
  synced. Stamped Accepts renew the lease like heartbeats, so heartbeats go
  out only when no Accept has for `heartbeat_ns`.
* Learning. The leader tells followers its chosen prefix in every Accept and
  heartbeat, and in a commit notice when it moves with nothing in flight (or
  at the next tick). A
  follower marks a slot chosen when it accepted that slot at the leader's
  ballot (a leader proposes one value
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

Durability
----------
An acceptor's promise and accepted values are written to its own
write-ahead files and synced before any reply that reveals them goes out
(`Output.send_after`), so what a majority acknowledged is on a majority of
disks. Recovery replays those files (checksummed; a torn tail is bytes
after the last sync, never acknowledged, and is cut), so a replica restarted
after `kill -9` promises and accepts exactly as before the crash; if every
replica is killed at once, the next leader's phase 1 still meets a majority
that durably accepted every chosen value. Chosen marks are only hints.

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
   later era and are void. The closing leader's own records come before the
   position (made before the close) or above the closed τ (made after it).

So `close` needs a valid lease (NotLeader otherwise), and a leader that loses
its lease stops closing: it cannot know whether a successor exists.
"""

from __future__ import annotations

from collections import deque

from journal import wal
from journal.core_io import NO_LEADER, Bug, Now, Output, PaxosConfig, Role
from journal.errors import AppendRefused, AppendVoid, NotLeader
from journal.messages import (
    Accept,
    Accepted,
    Learn,
    LearnRequest,
    Message,
    Nack,
    Prepare,
    PreVote,
    PreVoteReply,
    Promise,
    Value,
    ballot_owner,
    effective_records,
    value_bytes,
)
from journal.proposer import Inflight, Proposer

__all__ = ["NO_LEADER", "Bug", "Now", "Output", "PaxosConfig", "PaxosCore", "Role"]


class PaxosCore(Proposer):
    """One replica's protocol state: acceptor and learner here, proposer in `Proposer`."""

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
        # The last Accept (or heartbeat) from a leader, and its ballot: while
        # it is recent this replica supports no other candidate (pre-vote and
        # prepare alike). Never, at start: a restart is covered by the quiet time.
        self.leader_heard_ns = -(1 << 62)
        self.leader_heard_ballot = 0
        # -- pre-vote (a follower asking whether it could win, before campaigning) --
        self.prevote_ballot = 0  # the ballot it would campaign with; 0: not asking
        self.prevote_yes: set[int] = set()
        self.prevote_promised = 0  # the highest promise the replies reported
        self.prevote_sent_ns = 0
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
        self.inflight: dict[int, Inflight] = {}
        self.queue: deque[tuple[int, bytes, int, int]] = deque()
        self.waiting: dict[int, tuple[Value, list[tuple[int, int]]]] = {}
        self.sequenced: dict[int, int] = {}  # request id -> τ given
        self.last_tau = self.last_tau_chosen  # last τ given or closed
        self.last_record_tau = self.last_tau_chosen
        self.acked_stamp = [0] * self.n
        self.peer_heard_ns = [0] * self.n  # when each follower last acknowledged this leader
        self.lease_until_ns = 0
        self.leader_since_ns = 0
        self.closes: list[tuple[int, int, int]] = []  # (request id, closed τ, slot to wait for)
        self.commit_sent = 0
        self.last_heartbeat_ns = 0
        # -- catch-up --
        self.learn_requested_ns = -(1 << 62)
        # Between requests that brought nothing: doubled each time, up to `retransmit_max_ns`
        # (an answer is up to `message_bytes_max`; asked again every 50 ms, a peer busy with
        # the first would be sent the same chunk over and over), back to `retransmit_ns` on progress.
        self.learn_wait_ns = config.retransmit_ns
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
        elif isinstance(message, PreVote):
            self._on_prevote(sender, message, now)
        elif isinstance(message, PreVoteReply):
            self._on_prevote_reply(sender, message, now)
        else:
            raise TypeError(f"not a journal message: {message!r}")
        self._finish(now)

    def on_tick(self, now: Now) -> None:
        if self.role is Role.FOLLOWER:
            if now.mono_ns >= self.election_deadline_ns and self._may_campaign(now):
                self._start_prevote(now)
            elif self.prevote_ballot:
                self._resend_prevotes(now)
        elif self.role is Role.CANDIDATE:
            if now.mono_ns - self.campaign_started_ns > self.config.election_timeout_ns:
                # A new round asks first, like the first: a candidate cut off
                # mid-campaign must not go on raising its ballot.
                self._step_down(now, "campaign timed out")
                self._start_prevote(now)
            else:
                self._resend_prepares(now)
                if self.peer_chosen_upto > self.chosen_upto:
                    self._request_learn(self.peer_chosen_from, now)
        else:
            if self.n == 1:
                self.lease_until_ns = now.mono_ns + self._leader_lease_ns()
            if self._quorum_silent(now):
                self._step_down(now, "no majority heard for an election timeout")
                self.on_tick(now)
                return
            if now.mono_ns - self.last_heartbeat_ns >= self.config.heartbeat_ns:
                self._heartbeat(now)
            elif self.chosen_upto > self.commit_sent:
                self._commit_notice()  # what the slots in flight have not carried yet
            self._retransmit(now)
        self._finish(now)

    def idle(self) -> bool:
        """Nothing for a tick to do soon but count down to an election or a heartbeat: a
        follower, or a leader with nothing queued, in flight or owed to its followers (the
        shell may tick it less often)."""
        if self.role is Role.FOLLOWER:
            return True
        return (self.role is Role.LEADER and not self.queue and not self.inflight
                and self.chosen_upto <= self.commit_sent)  # fmt: skip

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

    def close_at_once(self, tau: int, now: Now) -> tuple[int, int] | None:
        """What `close` would answer, when it answers at once (a leader with its lease and
        nothing in flight), without a request or any output; else None and nothing changed.
        (With nothing in flight nothing is queued either, and `_finish` has nothing to do.)"""
        if self.role is not Role.LEADER or self.inflight:
            return None
        bound = self._close_bound(now)
        if bound is None:
            return None
        closed = min(max(tau, self.last_tau), bound)
        self.last_tau = max(self.last_tau, closed)
        return closed, self._record_closed(closed)

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

    def _leader_alive(self, candidate: int, now: Now) -> bool:
        """Heard from a leader other than `candidate` within an election timeout.

        Liveness only (the lease above is what safety rests on): such a
        replica neither supports a pre-vote nor promises a higher ballot, so a
        replica that comes back from a partition cannot depose a leader that
        a majority still follows.
        """
        return (
            now.mono_ns - self.leader_heard_ns < self.config.election_timeout_ns
            and ballot_owner(self.leader_heard_ballot) != candidate
        )

    def _would_support(self, candidate: int, now: Now) -> bool:
        """Whether a pre-vote from `candidate` is granted: no live leader in sight."""
        if self.role is Role.LEADER:
            return False
        return not self._lease_binds(candidate, now) and not self._leader_alive(candidate, now)

    def _on_prevote(self, sender: int, message: PreVote, now: Now) -> None:
        granted = self._would_support(sender, now)
        self._send(sender, PreVoteReply(message.ballot, granted, self.promised, self.leader_hint))

    def _on_prepare(self, sender: int, message: Prepare, now: Now) -> None:
        ballot = message.ballot
        if ballot < self.promised:
            self._reply_after(sender, Nack(self.promised, self.leader_hint))
            return
        if ballot > self.promised:
            candidate = ballot_owner(ballot)
            if self._lease_binds(candidate, now) or self._leader_alive(candidate, now):
                self._send(sender, Nack(self.promised, self.leader_hint))
                return
            self._promise(ballot, now)
            if sender != self.me:
                self.prevote_ballot = 0
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
            self.leader_heard_ns = now.mono_ns
            self.leader_heard_ballot = ballot
            self.prevote_ballot = 0  # a live leader: no campaign
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
        if self.chosen_upto > before:
            self.learn_requested_ns = -(1 << 62)  # progress: the next request may go at once
            self.learn_wait_ns = self.config.retransmit_ns
            if message.chosen_upto > self.chosen_upto:
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
        if now.mono_ns - self.learn_requested_ns < self.learn_wait_ns:
            return
        if self.learn_requested_ns > -(1 << 62):  # asked before, and nothing came of it
            self.learn_wait_ns = min(self.learn_wait_ns * 2, self.config.retransmit_max_ns)
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

    # -------------------------------------------------------------- finish

    def _finish(self, now: Now) -> None:
        if self.chosen_upto > self._chosen_marked:
            self._chosen_marked = self.chosen_upto
            self.out.persist_lazy.append(wal.chosen_record(self.chosen_upto))
        if self.role is Role.LEADER and self.chosen_upto > self.commit_sent and not self.inflight:
            # Nothing in flight, so no Accept will carry the news soon: tell
            # the followers now (their subscribers see the records at once).
            # Under load a slot is always in flight and this sends nothing.
            self._commit_notice()
