"""The proposer's half of the Paxos core: campaigns, leadership, leases.

`Proposer` is a mixin of `journal.paxos.PaxosCore`, which holds the state
both halves share (the acceptor's promises and accepted values, the chosen
prefix, the output being built) and owns the arguments written in its
module docstring. This half decides when to campaign (after a pre-vote),
runs phase 1 over every slot not known chosen (applying the drop rule),
re-proposes what it found and fills holes with no-ops, batches queued
appends into pipelined slots, counts acknowledgements, keeps the lease,
closes timestamps and steps down when a higher ballot appears or its
majority stays silent (check quorum).
"""

from __future__ import annotations

from journal import wal
from journal.core_io import NO_LEADER, Bug, Now, Role
from journal.errors import AppendRefused, NotLeader
from journal.messages import (
    Accept,
    Accepted,
    Nack,
    Prepare,
    PreVote,
    PreVoteReply,
    Promise,
    Value,
    ballot_round,
    make_ballot,
    noop,
    value_bytes,
)


class Inflight:
    __slots__ = ("value", "acks", "sent_ns", "wait_ns")

    def __init__(self, value: Value, sent_ns: int) -> None:
        self.value = value
        self.acks = 0  # bitmask of replicas
        self.sent_ns = sent_ns
        self.wait_ns = 0  # before the next retransmission; 0 until first sent (`_send_accepts`)


def _jitter(round_: int, replica: int, spread_ns: int) -> int:
    """A deterministic spread of election timeouts (no randomness in the core)."""
    mixed = (round_ * 2654435761 + (replica + 1) * 40503) % 1009
    return spread_ns * mixed // 1009


class Proposer:
    """Candidate and leader behaviour; the state lives in `PaxosCore`."""


    def _may_campaign(self, now: Now) -> bool:
        return now.mono_ns >= self.quiet_until_ns and now.mono_ns >= self.grant_until_ns

    def _reset_election_deadline(self, now: Now) -> None:
        round_ = ballot_round(max(self.promised, self.ballot))
        self.election_deadline_ns = (
            now.mono_ns + self.config.election_timeout_ns + _jitter(round_, self.me, self.config.election_jitter_ns)
        )

    def _start_prevote(self, now: Now) -> None:
        """Ask the peers whether they would promise, before raising the ballot (Raft's PreVote).

        A peer says yes only if it sees no live leader (`_would_support`);
        with a majority of yeses (this replica's own among them) the campaign
        starts. A replica cut off from the majority therefore never raises
        its ballot, and one that comes back cannot depose a leader with it.
        The asking repeats every election timeout, and is re-sent to peers
        that have not said yes every `retransmit_ns` meanwhile.
        """
        self.prevote_ballot = make_ballot(ballot_round(max(self.promised, self.ballot)) + 1, self.me)
        self.prevote_yes = {self.me}
        self.prevote_promised = self.promised
        self._reset_election_deadline(now)
        if len(self.prevote_yes) >= self.majority:
            self._prevote_won(now)
            return
        self.out.events.append(f"pre-vote for ballot {self.prevote_ballot}")
        self.prevote_sent_ns = now.mono_ns
        for peer in self.peers:
            self._send(peer, PreVote(self.prevote_ballot))

    def _resend_prevotes(self, now: Now) -> None:
        if now.mono_ns - self.prevote_sent_ns < self.config.retransmit_ns:
            return
        self.prevote_sent_ns = now.mono_ns
        for peer in self.peers:
            if peer not in self.prevote_yes:
                self._send(peer, PreVote(self.prevote_ballot))

    def _on_prevote_reply(self, sender: int, message: PreVoteReply, now: Now) -> None:
        if self.role is not Role.FOLLOWER or not self.prevote_ballot or message.ballot != self.prevote_ballot:
            return  # an answer to an earlier round
        self.prevote_promised = max(self.prevote_promised, message.promised)
        if not message.granted:
            if message.leader != NO_LEADER and message.leader != self.me:
                self.leader_hint = message.leader  # whom clients should try
            return
        self.prevote_yes.add(sender)
        if len(self.prevote_yes) >= self.majority and self._may_campaign(now):
            self._prevote_won(now)

    def _prevote_won(self, now: Now) -> None:
        above = self.prevote_promised
        self.prevote_ballot = 0
        self._start_campaign(now, above)

    def _start_campaign(self, now: Now, above: int = 0) -> None:
        """Phase 1 at a ballot above every one this replica knows of (`above`: a peer's promise)."""
        round_ = ballot_round(max(self.promised, self.ballot, above)) + 1
        self.prevote_ballot = 0
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
        self.peer_heard_ns = [0] * self.n
        self.lease_until_ns = 0
        self.inflight = {}
        slots = []
        for slot in range(self.chosen_upto + 1, max_found + 1):
            value = survivors.get(slot) or noop(self.ballot)
            self.inflight[slot] = Inflight(value, now.mono_ns)
            slots.append(slot)
        # One more no-op after everything found: it settles the chosen prefix
        # at once, and a deposed leader waiting on a slot it had proposed
        # there learns its append is void instead of waiting out a timeout.
        barrier = max_found + 1
        self.inflight[barrier] = Inflight(noop(self.ballot), now.mono_ns)
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
        self.inflight[slot] = Inflight(value, now.mono_ns)
        self.waiting[slot] = (value, requests)
        return slot

    def _send_accepts(self, slots: list[int], now: Now, peers: list[int], *, own: bool = True) -> None:
        """Accept messages for `slots` to `peers` (and, if `own`, to this replica's own acceptor)."""
        stamp = now.mono_ns
        chunks: list[list[tuple[int, Value]]] = [[]]
        budget = self.config.message_bytes_max
        config = self.config
        for slot in slots:
            inflight = self.inflight[slot]
            inflight.sent_ns = now.mono_ns
            size = value_bytes(inflight.value)
            if not inflight.wait_ns:  # the first send; `_retransmit` doubles it for each next
                inflight.wait_ns = min(
                    config.retransmit_ns + (size * config.retransmit_ns_per_mib >> 20), config.retransmit_max_ns
                )
            if chunks[-1] and size > budget:
                chunks.append([])
                budget = self.config.message_bytes_max
            chunks[-1].append((slot, inflight.value))
            budget -= size
        self.commit_sent = self.chosen_upto
        self._grant_self(stamp)
        if peers == self.peers:
            # Every follower gets a stamped message: acknowledgements renew the
            # lease as a heartbeat's would, so under load no heartbeat is due.
            self.last_heartbeat_ns = now.mono_ns
        for chunk in chunks:
            message = Accept(
                self.ballot, self.max_found, stamp, self.chosen_upto, tuple(chunk),
                self.closed_tau, self.closed_position,
            )  # fmt: skip
            for peer in peers:
                self._send(peer, message)
            if chunk and own:
                self._on_accept(self.me, message, now)

    def _commit_notice(self) -> None:
        """Tell the followers the chosen prefix (an Accept of no slots that asks no answer)."""
        self.commit_sent = self.chosen_upto
        message = Accept(self.ballot, self.max_found, 0, self.chosen_upto, (), self.closed_tau, self.closed_position)
        for peer in self.peers:
            self._send(peer, message)

    def _grant_self(self, stamp: int) -> None:
        self.grant_ballot = self.ballot
        self.grant_until_ns = max(self.grant_until_ns, stamp + self.config.lease_ns)

    def _on_accepted(self, sender: int, message: Accepted, now: Now) -> None:
        if self.role is not Role.LEADER or message.ballot != self.ballot:
            return
        if sender != self.me:
            self.peer_heard_ns[sender] = now.mono_ns
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

    def _quorum_silent(self, now: Now) -> bool:
        """No majority has acknowledged this leader for an election timeout (Raft's CheckQuorum).

        Such a leader steps down: it is cut off on a minority side (clients
        then move on, and it stops claiming to lead), or its followers have
        moved on. Nothing that safety rests on: the lease alone guards closes.
        """
        if self.config.bug is Bug.CLOSE_WITHOUT_LEASE:
            # The variant also keeps the step-down rule from before check
            # quorum (an election timeout after the lease lapsed): check quorum
            # nearly closes the window in which a stale leader lives beside its
            # successor, and the simulator needs that window to show what
            # closing without the lease does. Timing is no proof; the lease is.
            return self._lease_lapsed(now) and now.mono_ns - self.lease_until_ns > self.config.election_timeout_ns
        if self.n == 1 or now.mono_ns - self.leader_since_ns <= self.config.election_timeout_ns:
            return False
        heard = sorted((self.peer_heard_ns[p] for p in self.peers), reverse=True)[self.majority - 2]
        return now.mono_ns - heard > self.config.election_timeout_ns

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
        before = self.closed_tau
        position = self._record_closed(closed)
        if self.closed_tau > before:
            # A close asked by a call (another process, or records in flight) tells every
            # subscriber at once, as it always has: replicas that did not ask keep their
            # watermarks fresh by it while records are in flight and heartbeats close nothing.
            self.out.closed_changed = True
        self.out.resolved.append((request, (closed, position), None))

    def _record_closed(self, closed: int) -> int:
        """The position a close of `closed` promises (the log's end), kept as the closed
        timestamp if it is the largest yet. (An immediate close, `close_at_once`, wakes no
        subscriber: one per strong read would cost each of them a read per read; they learn
        it with the next record or heartbeat.)"""
        position = self.next_position - 1
        if closed > self.closed_tau:
            self.closed_tau, self.closed_position = closed, position
        return position

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
        by_peer: dict[int, list[int]] = {}
        longest = self.config.retransmit_max_ns
        for slot, inflight in self.inflight.items():
            if now.mono_ns - inflight.sent_ns < inflight.wait_ns:
                continue
            inflight.wait_ns = min(inflight.wait_ns * 2, longest)
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
        if self.role is Role.LEADER and message.promised > self.ballot and now.mono_ns < self.lease_until_ns:
            # A majority is bound by this leader's lease, so whoever promised
            # the higher ballot got no majority for it: a stray, such as a
            # replica whose campaign began just before a partition cut it off.
            # Take a ballot above it at once (the followers, bound to this
            # leader, promise it) rather than leave the journal leaderless for
            # an election timeout.
            self.out.events.append(f"nack: ballot {message.promised} promised by {sender}; campaign above it")
            self._start_campaign(now, message.promised)
            return
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
