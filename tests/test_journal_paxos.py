"""The Multi-Paxos core without trio: messages in, effects out.

A small harness plays the shell: it keeps each replica's persisted records,
delivers messages (replies that depend on a record only after the record is
"synced", which here is at once), and moves time by hand. The simulator
(`tests/test_sim_journal.py`) runs the real shell under faults; these tests
pin down the rules one at a time.
"""

from __future__ import annotations

from collections import deque

import pytest

from journal import wal
from journal.errors import AppendRefused, NotLeader
from journal.messages import (
    Accept,
    Accepted,
    Learn,
    LearnRequest,
    Nack,
    Prepare,
    PreVote,
    PreVoteReply,
    Promise,
    effective_records,
    make_ballot,
)
from journal.paxos import Bug, Now, PaxosConfig, PaxosCore, Role
from journal.segments import Location

MS = 1_000_000
EPOCH = 1_750_000_000 * 1_000_000_000
CONFIG = PaxosConfig(replica_count=3, lease_ns=200 * MS, election_timeout_ns=220 * MS, heartbeat_ns=20 * MS)


class Harness:
    def __init__(self, n: int = 3, config: PaxosConfig = CONFIG, recovered: list[wal.Recovered] | None = None) -> None:
        self.mono = 10 * MS
        self.config = config
        self.disks: list[list[bytes]] = [[] for _ in range(n)]
        self.queue: deque = deque()
        self.down: set[int] = set()
        self.cut: set[tuple[int, int]] = set()
        self.learned: list[list[tuple[int, int, bytes]]] = [[] for _ in range(n)]
        self.results: dict[int, object] = {}
        self.sent_before_sync: list = []
        self.sent: list[tuple[int, int, object, int]] = []  # (sender, to, message, mono ns)
        self.drop = lambda sender, to, message: False  # messages lost on the way
        recovered = recovered or [wal.Recovered() for _ in range(n)]
        self.cores = [PaxosCore(i, config, recovered[i], self.now()) for i in range(n)]
        for i in range(n):
            self._drain(i)
        self._ids = 0

    def now(self) -> Now:
        tau = EPOCH + self.mono
        return Now(self.mono, tau, tau)

    def _drain(self, i: int) -> None:
        out = self.cores[i].take_output()
        self.disks[i] += out.persist + out.persist_lazy
        self.sent += [(i, to, message, self.mono) for to, message in out.send + out.send_after]
        for to, message in out.send:
            if isinstance(message, (Accepted, Promise)):
                self.sent_before_sync.append(message)
            self.queue.append((i, to, message))
        for to, message in out.send_after:
            self.queue.append((i, to, message))
        for _, _, _, effective, _ in out.learned:
            self.learned[i].extend(effective)
        for request, result, error in out.resolved:
            self.results[request] = error if error is not None else result
        for peer, from_slot, base in out.serve_from_disk:
            self._serve_from_disk(i, peer, from_slot, base)

    def _serve_from_disk(self, i: int, peer: int, from_slot: int, base) -> None:
        """What the shell does: read chosen values back from the replica's records."""
        state = wal.recover([(Location(1, k, 0), body) for k, body in enumerate(self.disks[i])])
        slots = tuple((s, v) for s, v, _ in state.chosen if s >= from_slot)
        self.queue.append((i, peer, Learn(base, slots, self.cores[i].chosen_upto)))

    def deliver(self, steps: int = 100_000) -> None:
        for _ in range(steps):
            if not self.queue:
                return
            sender, to, message = self.queue.popleft()
            if to in self.down or sender in self.down or (sender, to) in self.cut or self.drop(sender, to, message):
                continue
            self.cores[to].on_message(sender, message, self.now())
            self._drain(to)

    def run(self, ms: int) -> None:
        for _ in range(ms):
            self.mono += MS
            for i, core in enumerate(self.cores):
                if i not in self.down:
                    core.on_tick(self.now())
                    self._drain(i)
            self.deliver()

    def leader(self) -> int:
        leaders = [i for i, c in enumerate(self.cores) if c.role is Role.LEADER and i not in self.down]
        assert len(leaders) == 1, leaders
        return leaders[0]

    def append(self, payload: bytes, tau_min: int = 0, tau_max: int = 0, at: int | None = None) -> int:
        self._ids += 1
        target = self.leader() if at is None else at
        self.cores[target].submit(self._ids, payload, tau_min, tau_max, self.now())
        self.cores[target].flush(self.now())
        self._drain(target)
        return self._ids

    def restart(self, i: int) -> None:
        """kill -9 and back: the core is rebuilt from what it persisted."""
        frames = [(Location(1, k, 0), body) for k, body in enumerate(self.disks[i])]
        self.cores[i] = PaxosCore(i, self.config, wal.recover(frames), self.now())
        self.learned[i] = []
        self._drain(i)


def test_a_leader_is_elected_and_appends_get_dense_positions_and_rising_tau():
    h = Harness()
    h.run(5)
    assert h.leader() == 0, "a fresh replica 0 campaigns at once"
    requests = [h.append(b"r%d" % i) for i in range(10)]
    h.run(5)
    positions = [h.results[r][0] for r in requests]
    assert sorted(positions) == list(range(1, 11))
    taus = [h.results[r][1] for r in sorted(requests, key=lambda r: h.results[r][0])]
    assert taus == sorted(taus) and len(set(taus)) == 10
    h.run(30)
    for i in range(3):
        assert [p for p, _, _ in h.learned[i]] == list(range(1, 11)), f"replica {i} learns every slot"


def test_a_core_is_idle_only_with_nothing_queued_in_flight_or_owed():
    """`idle()` lets the shell tick less often: never while an append waits or is in flight,
    while a commit notice is owed, or while a candidate campaigns."""
    h = Harness()
    h.run(30)
    leader = h.leader()
    assert all(core.idle() for core in h.cores), "a leader with nothing to do, and its followers"
    core = h.cores[leader]
    core.submit(1, b"queued", 0, 0, h.now())
    assert not core.idle(), "queued"
    core.flush(h.now())
    h._drain(leader)
    assert core.inflight and not core.idle(), "in flight"
    h.deliver()
    assert not core.inflight
    assert core.idle() == (core.chosen_upto <= core.commit_sent)
    h.run(1)
    assert core.idle(), "chosen, and the followers told"
    h.down.add(leader)
    campaigned = False
    for _ in range(600):  # a tick, then one message at a time: a campaign lasts a few messages
        h.mono += MS
        for i, other in enumerate(h.cores):
            if i != leader:
                other.on_tick(h.now())
                h._drain(i)
        while h.queue:
            h.deliver(steps=1)
            for i, other in enumerate(h.cores):
                if i != leader and other.role is Role.CANDIDATE:
                    campaigned = True
                    assert not other.idle(), "a candidate's prepares are resent at the tick"
    assert campaigned
    assert h.leader() != leader


def test_tau_respects_tau_min_and_tau_max():
    h = Harness()
    h.run(5)
    far = EPOCH + 10**12
    ok = h.append(b"a", tau_min=far)
    refused = h.append(b"b", tau_min=0, tau_max=EPOCH)  # τ would have to exceed it
    h.run(5)
    assert h.results[ok][1] == far
    assert isinstance(h.results[refused], AppendRefused)
    later = h.append(b"c")
    h.run(5)
    assert h.results[later][1] > far, "τ rises with position, whatever the clock says"


def test_replies_wait_for_the_sync_of_what_they_reveal():
    h = Harness()
    h.run(20)
    h.append(b"x")
    h.run(5)
    assert h.sent_before_sync == [], "Accepted and Promise go out only after their records are synced"


def test_reply_before_sync_bug_is_visible_to_the_harness():
    h = Harness(config=PaxosConfig(**{**CONFIG.__dict__, "bug": Bug.REPLY_BEFORE_SYNC}))
    h.run(20)
    h.append(b"x")
    h.run(5)
    assert h.sent_before_sync, "the broken variant answers before syncing"


def test_not_leader_points_at_the_leader():
    h = Harness()
    h.run(50)
    request = h.append(b"x", at=1)
    assert isinstance(h.results[request], NotLeader) and h.results[request].leader == 0


def test_failover_keeps_chosen_records_and_tau_rises_across_leaders():
    h = Harness()
    h.run(5)
    first = [h.append(b"a%d" % i) for i in range(5)]
    h.run(5)
    old_tau = max(h.results[r][1] for r in first)
    h.down.add(0)
    h.run(100)
    assert all(c.role is not Role.LEADER for c in h.cores[1:]), "followers honour the old leader's lease"
    h.run(400)
    new_leader = h.leader()
    assert new_leader in (1, 2)
    second = [h.append(b"b%d" % i) for i in range(5)]
    h.run(10)
    assert sorted(h.results[r][0] for r in second) == list(range(6, 11))
    assert min(h.results[r][1] for r in second) > old_tau


def test_an_acknowledged_append_survives_losing_the_leader_and_its_disk_state():
    h = Harness()
    h.run(5)
    request = h.append(b"kept")
    h.run(3)
    position, tau = h.results[request]
    # The leader dies before telling anyone the slot is chosen; the others
    # must find it in phase 1 and re-propose it.
    h.down.add(0)
    h.run(600)
    h.append(b"next")
    h.run(10)
    survivor = h.leader()
    assert (position, tau, b"kept") in h.learned[survivor]


def test_a_follower_refuses_other_candidates_while_it_grants_a_lease():
    h = Harness()
    h.run(30)
    follower = h.cores[1]
    ballot = make_ballot(50, 2)
    follower.on_message(2, Prepare(ballot, 1), h.now())
    out = follower.take_output()
    assert any(isinstance(m, Nack) for _, m in out.send), "bound by the lease granted to the leader"
    assert follower.promised < ballot
    h.down.add(0)
    h.run(250)  # the leader is silent for longer than the lease
    follower.on_message(2, Prepare(make_ballot(99, 2), 1), h.now())
    out = follower.take_output()
    assert any(isinstance(m, Promise) for _, m in out.send_after)


def test_a_restarted_replica_promises_nothing_for_a_lease():
    h = Harness()
    h.run(30)
    h.append(b"x")
    h.run(5)
    h.restart(1)
    core = h.cores[1]
    core.on_message(2, Prepare(make_ballot(99, 2), 1), h.now())
    out = core.take_output()
    assert any(isinstance(m, Nack) for _, m in out.send), "grants it made before the crash may still run"
    h.mono += CONFIG.lease_ns + MS
    core.on_message(2, Prepare(make_ballot(100, 2), 1), h.now())
    assert any(isinstance(m, Promise) for _, m in core.take_output().send_after)


def test_recovery_restores_promises_accepts_and_the_chosen_prefix():
    h = Harness()
    h.run(5)
    for i in range(4):
        h.append(b"v%d" % i)
    h.run(50)
    before = h.cores[1]
    h.restart(1)
    after = h.cores[1]
    assert after.promised == before.promised
    assert after.chosen_upto == before.chosen_upto
    assert after.next_position == before.next_position
    assert [p for p, _, _ in h.learned[1]] == [1, 2, 3, 4], "the recovered prefix is published again"


def test_close_needs_the_lease_and_new_leaders_start_above_it():
    h = Harness()
    h.run(30)
    # Cut off from its followers, the leader's lease runs out and it stops closing.
    h.cut.update({(1, 0), (2, 0)})
    h.run(CONFIG.lease_ns // MS + 5)
    assert h.cores[0].close_at_once(EPOCH, h.now()) is None
    h.cores[0].close(900, EPOCH, h.now())
    h._drain(0)
    assert isinstance(h.results[900], NotLeader), "without a lease a leader closes nothing"
    h.cut.clear()
    h.run(30)
    assert h.cores[1].close_at_once(EPOCH, h.now()) is None, "a follower closes nothing"
    # At once or through a request, a close answers the same (and moves the same state).
    at_once = h.cores[0].close_at_once(EPOCH + h.mono + 40 * MS, h.now())
    assert not h.cores[0].take_output(), "an immediate close leaves nothing for the shell"
    h.cores[0].close(901, EPOCH + h.mono + 40 * MS, h.now())
    h._drain(0)
    assert h.results[901] == at_once
    assert (h.cores[0].closed_tau, h.cores[0].closed_position) == at_once
    h.cores[0].close(902, EPOCH + h.mono + 50 * MS, h.now())
    h._drain(0)
    closed, position = h.results[902]
    assert closed >= EPOCH + h.mono
    h.down.add(0)
    h.run(700)
    request = h.append(b"after")
    h.run(10)
    new_position, new_tau = h.results[request]
    assert new_position == position + 1 and new_tau > closed


def test_close_answers_only_after_records_in_flight_are_chosen():
    h = Harness()
    h.run(30)
    h.append(b"x")  # in flight: nothing delivered yet
    last_tau = h.cores[0].last_tau
    assert h.cores[0].close_at_once(EPOCH + h.mono + 5 * MS, h.now()) is None
    assert h.cores[0].last_tau == last_tau, "a close refused at once changes nothing"
    h.cores[0].close(77, EPOCH, h.now())
    h._drain(0)
    assert 77 not in h.results
    h.deliver()
    closed, position = h.results[77]
    assert position == 1


def test_drop_rule_discards_values_that_can_never_be_chosen():
    """Slot 12 holds an old value on A only, beyond what the leader of ballot b2
    found; B followed b2 (max_found 10) and accepted its slot 11. A new leader
    must re-propose slot 11 and drop slot 12 (else it would put τ 120 after τ 200)."""
    b1, b2 = make_ballot(1, 0), make_ballot(2, 1)
    old = (b1, ((EPOCH + 120, b"old"),))
    new = (b2, ((EPOCH + 200, b"new"),))
    chosen = [(s, (b1, ((EPOCH + s, b"c%d" % s),)), Location(1, 0, 0)) for s in range(1, 11)]
    a = wal.Recovered(promised=b2, chosen=list(chosen), accepted={12: (b1, old)}, records=1)
    b = wal.Recovered(promised=b2, chosen=list(chosen), accepted={11: (b2, new)}, leaders={b2: 10}, records=1)
    c = wal.Recovered(promised=b2, chosen=list(chosen), records=1)
    h = Harness(recovered=[a, b, c])
    h.run(800)
    h.run(50)
    for i in range(3):
        positions = [(p, payload) for p, _, payload in h.learned[i]]
        assert (11, b"new") in positions
        assert b"old" not in [payload for _, payload in positions]


def test_void_rule_keeps_tau_rising():
    value = (1, ((10, b"a"), (5, b"late"), (11, b"b")))
    effective, where, last = effective_records(value, 7, 9)
    assert effective == [(7, 10, b"a"), (8, 11, b"b")]
    assert where == [7, None, 8] and last == 11


def test_a_lagging_replica_catches_up_and_jumps_a_compaction_point():
    h = Harness(config=PaxosConfig(**{**CONFIG.__dict__, "chosen_window_slots": 4}))
    h.run(5)
    h.down.add(2)
    for i in range(12):
        h.append(b"x%d" % i)
        h.run(2)
    leader = h.cores[0]
    # Beyond the in-memory window the core asks its shell to read the disk.
    leader.on_message(2, LearnRequest(1), h.now())
    out = leader.take_output()
    assert out.serve_from_disk and out.serve_from_disk[0][:2] == (2, 1)
    leader.compact(6, 6, EPOCH, h.now())
    h._drain(0)
    leader.on_message(2, LearnRequest(1), h.now())
    out = leader.take_output()
    learn = [m for _, m in out.send if isinstance(m, Learn)] or [None]
    base = learn[0].base if learn[0] is not None else out.serve_from_disk[0][2]
    assert base is not None and base[0] == 6, "a replica behind the compaction point is sent the base"
    h.down.clear()
    h.run(100)
    assert h.cores[2].chosen_upto == leader.chosen_upto


def test_a_chosen_value_never_changes_is_asserted():
    h = Harness()
    h.run(5)
    h.append(b"x")
    h.run(5)
    core = h.cores[1]
    slot = core.chosen_upto
    assert slot >= 1
    with pytest.raises(AssertionError, match="two values"):
        core._mark_chosen(slot, (make_ballot(77, 2), ((EPOCH, b"other"),)))


def test_accept_at_a_lower_ballot_is_refused():
    h = Harness()
    h.run(30)
    follower = h.cores[1]
    follower.on_message(2, Accept(1, 0, 5, 0, ((1, (1, ((EPOCH, b"stale"),))),), 0, 0), h.now())
    out = follower.take_output()
    assert any(isinstance(m, Nack) for _, m in out.send_after)
    assert 1 not in follower.accepted or follower.accepted[1][0] != 1


def test_the_append_queue_bound_at_the_limit_and_one_past():
    h = Harness(config=PaxosConfig(**{**CONFIG.__dict__, "queue_records_max": 3}))
    h.run(30)
    leader = h.cores[h.leader()]
    accepted = [leader.submit(100 + i, b"q", 0, 0, h.now()) for i in range(3)]
    refused = leader.submit(200, b"q", 0, 0, h.now())
    h._drain(h.leader())
    assert accepted == [True, True, True] and refused is False
    assert isinstance(h.results[200], AppendRefused), "past the bound: shed with a clear error"
    leader.flush(h.now())
    h._drain(h.leader())
    h.run(5)
    assert all(isinstance(h.results[100 + i], tuple) for i in range(3))


def test_a_slot_holds_at_most_its_record_bound():
    h = Harness(config=PaxosConfig(**{**CONFIG.__dict__, "slot_records_max": 4, "pipeline_slots_max": 1}))
    h.run(30)
    leader = h.cores[h.leader()]
    first_slot = leader.next_slot
    for i in range(9):
        leader.submit(300 + i, b"r", 0, 0, h.now())
    leader.flush(h.now())
    h._drain(h.leader())
    assert leader.next_slot == first_slot + 1 and len(leader.queue) == 5, "one slot of 4 in flight"
    h.run(10)
    assert leader.next_slot == first_slot + 3 and not leader.queue
    assert sorted(h.results[300 + i][0] for i in range(9)) == list(range(1, 10))


# -- pre-vote and check quorum: liveness only, the rules above are untouched --------------


def _isolate(h: Harness, i: int) -> None:
    h.cut |= {(i, j) for j in range(len(h.cores)) if j != i} | {(j, i) for j in range(len(h.cores)) if j != i}


def test_a_pre_vote_changes_nothing_and_is_refused_while_a_leader_is_heard():
    h = Harness()
    h.run(30)
    follower = h.cores[1]
    promised = follower.promised
    follower.on_message(2, PreVote(make_ballot(50, 2)), h.now())
    replies = [m for _, m in follower.take_output().send if isinstance(m, PreVoteReply)]
    assert replies == [PreVoteReply(make_ballot(50, 2), False, promised, 0)], "a live leader: no, and who it is"
    assert follower.promised == promised and follower.role is Role.FOLLOWER
    h.down.add(0)
    h.run(CONFIG.election_timeout_ns // MS + 1)  # the leader silent for an election timeout
    follower.on_message(2, PreVote(make_ballot(50, 2)), h.now())
    replies = [m for _, m in follower.take_output().send if isinstance(m, PreVoteReply)]
    assert replies and replies[0].granted
    assert follower.promised == promised, "granting a pre-vote promises nothing"


def test_a_prepare_is_refused_for_an_election_timeout_after_hearing_the_leader():
    h = Harness()
    h.run(30)
    h.down.add(0)
    h.run((CONFIG.lease_ns + CONFIG.election_timeout_ns) // 2 // MS)  # past the lease, short of the timeout
    follower = h.cores[1]
    promised = follower.promised
    follower.on_message(2, Prepare(make_ballot(50, 2), 1), h.now())
    out = follower.take_output()
    assert any(isinstance(m, Nack) for _, m in out.send) and follower.promised == promised
    h.mono += CONFIG.election_timeout_ns  # (no ticks: nobody campaigns meanwhile)
    follower.on_message(2, Prepare(make_ballot(51, 2), 1), h.now())
    assert any(isinstance(m, Promise) for _, m in follower.take_output().send_after)


def test_a_cut_off_replica_keeps_its_ballot_and_rejoins_under_the_same_leader():
    h = Harness()
    h.run(30)
    leader = h.leader()
    ballot = h.cores[leader].ballot
    _isolate(h, 2)
    h.run(20 * CONFIG.election_timeout_ns // MS)
    assert h.cores[2].promised == ballot, "it asked, nobody answered, so it never raised its ballot"
    assert h.cores[2].role is Role.FOLLOWER
    during = [h.append(b"during%d" % i) for i in range(3)]
    h.cut.clear()
    h.run(5)
    assert h.leader() == leader and h.cores[leader].ballot == ballot, "the leader kept its ballot"
    after = [h.append(b"after%d" % i) for i in range(3)]
    h.run(100)
    assert h.leader() == leader and h.cores[leader].ballot == ballot
    assert all(isinstance(h.results[r], tuple) for r in during + after)
    assert [p for p, _, _ in h.learned[2]] == list(range(1, 7)), "the cut-off replica caught up"


def test_a_leader_that_hears_no_majority_steps_down_within_an_election_timeout():
    h = Harness()
    h.run(30)
    assert h.leader() == 0
    ballot = h.cores[0].ballot
    _isolate(h, 0)
    h.run(CONFIG.election_timeout_ns // MS - 10)
    assert h.cores[0].role is Role.LEADER
    h.run(20)
    assert h.cores[0].role is Role.FOLLOWER, "check quorum: no majority heard for an election timeout"
    request = h.append(b"x", at=0)
    assert isinstance(h.results[request], NotLeader)
    h.run(CONFIG.election_timeout_ns // MS + CONFIG.election_jitter_ns // MS + 10)
    successor = h.leader()
    assert successor != 0
    new_ballot = h.cores[successor].ballot
    h.run(10 * CONFIG.election_timeout_ns // MS)
    assert h.cores[0].promised == ballot, "the old leader, cut off, never raised its ballot"
    h.cut.clear()
    h.run(100)
    assert h.leader() == successor and h.cores[successor].ballot == new_ballot, "and does not depose its successor"


def test_a_leader_nacked_by_a_stray_higher_ballot_campaigns_above_it_at_once():
    h = Harness()
    h.run(30)
    assert h.leader() == 0
    _isolate(h, 2)
    h.cores[2]._start_campaign(h.now())  # its pre-vote was won just before the cut
    h._drain(2)
    stray = h.cores[2].ballot
    assert stray > h.cores[0].ballot
    h.run(3 * CONFIG.election_timeout_ns // MS)
    h.cut.clear()
    leaderless = 0
    for _ in range(CONFIG.election_timeout_ns // MS):
        h.run(1)
        leaderless += not any(c.role is Role.LEADER for c in h.cores)
    assert h.leader() == 0 and h.cores[0].ballot > stray, "the leader re-took its place above the stray ballot"
    assert leaderless <= 5, f"{leaderless} ms without a leader"
    request = h.append(b"after")
    h.run(50)
    assert isinstance(h.results[request], tuple)
    assert h.cores[2].role is Role.FOLLOWER and h.cores[2].promised == h.cores[0].ballot


@pytest.mark.parametrize("payload_bytes", [100, 2 << 20])
def test_an_unacknowledged_accept_is_sent_again_ever_less_often_and_later_for_a_larger_value(payload_bytes):
    """A follower still syncing a large slot gets no copy every retransmit interval: the first
    comes after the time to write it at a slow disk's pace, and each next one twice as late."""
    config = PaxosConfig(
        replica_count=3, lease_ns=2_000 * MS, election_timeout_ns=2_200 * MS, heartbeat_ns=20 * MS,
        slot_bytes_max=4 << 20, message_bytes_max=4 << 20,
    )  # fmt: skip
    h = Harness(config=config)
    h.run(30)
    assert h.leader() == 0
    h.cut |= {(1, 0), (2, 0)}  # the followers get every Accept, the leader hears no answer
    h.append(b"x" * payload_bytes)
    slot = h.cores[0].next_slot - 1
    started = h.mono
    h.run(2_000)
    sends = [at - started for sender, to, m, at in h.sent
             if sender == 0 and to == 1 and isinstance(m, Accept) and any(s == slot for s, _ in m.slots)]  # fmt: skip
    assert sends[0] == 0
    gaps = [later - earlier for earlier, later in zip(sends, sends[1:], strict=False)]
    wait = config.retransmit_ns + payload_bytes * config.retransmit_ns_per_mib // (1 << 20)
    waits = []
    for _ in gaps:
        waits.append(wait)
        wait = min(2 * wait, config.retransmit_max_ns)
    # (Ticks are 1 ms apart, and a value is a few bytes more than its payload.)
    assert all(0 <= gap - wait <= 2 * MS for gap, wait in zip(gaps, waits, strict=True)), (gaps, waits)
    assert 2_000 * MS - sends[-1] < wait, "and no copy that was due is missing"
    assert len(sends) == (6 if payload_bytes == 100 else 4)
    h.cut.clear()
    h.run(config.retransmit_max_ns // MS + 10)
    assert h.cores[0].chosen_upto >= slot, "the next copy after the cut heals is acknowledged"


def test_a_lagging_replica_asks_to_learn_ever_less_often_while_nothing_comes():
    """A replica behind the chosen prefix asks the leader for what it missed; while no answer comes
    (each is up to a 4 MB chunk, and a slow peer may still be busy with the last) it asks again
    after 50, 100, 200 ... ms up to a second, not every 50 ms; and catches up once answers arrive."""
    h = Harness()
    h.run(30)
    assert h.leader() == 0
    h.down.add(2)
    for i in range(5):
        h.append(b"while 2 was down %d" % i)
    h.run(30)
    assert h.cores[0].chosen_upto > h.cores[2].chosen_upto
    h.down.discard(2)
    h.drop = lambda sender, to, message: isinstance(message, Learn)
    started = len(h.sent)
    h.run(2_000)
    asked = [at for sender, to, m, at in h.sent[started:] if sender == 2 and isinstance(m, LearnRequest)]
    gaps = [later - earlier for earlier, later in zip(asked, asked[1:], strict=False)]
    waits = [min(CONFIG.retransmit_ns << k, CONFIG.retransmit_max_ns) for k in range(len(gaps))]
    assert len(asked) == 6, asked
    assert all(0 <= gap - wait <= 25 * MS for gap, wait in zip(gaps, waits, strict=True)), (gaps, waits)
    h.drop = lambda sender, to, message: False
    h.run(CONFIG.retransmit_max_ns // MS + 50)
    assert h.cores[2].chosen_upto == h.cores[0].chosen_upto, "answers came: it caught up"
