"""Dynamo's quorum state machines without I/O (kv/dynamo/quorum.py), against Riak's get and put cores.

The reference is basho/riak_kv: `riak_kv_get_core.erl` (r/pr counting,
notfound_ok, the fail threshold and basic_quorum, the response order) with
`riak_kv_get_fsm.erl` (validate: impossible quorums fail before anything is
sent), and `riak_kv_put_core.erl` / `riak_kv_put_fsm.erl` (w/dw/pw, the
fail thresholds, coordinator retry). Where our machines choose differently
from Riak on purpose (a W-unsatisfied error where Riak would wait for its
timeout, PR checked before "not found"), the test says so.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kv.dynamo.interface import QuorumUnsatisfied
from kv.dynamo.objects import NewContent, StoredObject, apply_delete, apply_put, reconcile
from kv.dynamo.quorum import ReadDone, ReadQuorum, WriteDone, WriteQuorum
from kv.dynamo.ring import Target

S = 1_000_000_000


def primaries(*nodes: str) -> list[Target]:
    return [Target(i, node, None) for i, node in enumerate(nodes)]


def fallback(node: str, hint: str, partition: int = 0) -> Target:
    return Target(partition, node, hint)


ABC = primaries("a", "b", "c")


def put(value: bytes, stored: StoredObject | None = None, actor: str = "a", t: int = 1) -> StoredObject:
    """A client's put with the stored object's clock as context (a causal successor)."""
    context = None if stored is None else stored.clock
    return apply_put(stored, context, NewContent(value), actor, t * S, True)


def values(obj: StoredObject | None) -> set[bytes]:
    assert obj is not None
    return {s.value for s in obj.live_siblings}


def unsatisfied(outcome: object, kind: str, got: int, needed: int) -> None:
    assert isinstance(outcome, QuorumUnsatisfied), outcome
    assert (outcome.kind, outcome.got, outcome.needed) == (kind, got, needed)
    assert str(outcome) == f"{kind}-value unsatisfied: {got}/{needed}"


# --- reads: r, notfound_ok, pr ----------------------------------------------------------------------


def test_read_decides_at_r_replies_with_their_reconciliation():
    v1 = put(b"v1")
    v2 = put(b"v2", v1, t=2)
    read = ReadQuorum(ABC, r=2)
    read.reply("a", v1)
    assert read.outcome is None, "one reply is not r=2"
    read.reply("b", v2)
    assert isinstance(read.outcome, ReadDone)
    assert read.outcome.object == v2, "the newer copy wins the syntactic reconciliation"
    read.reply("c", v1)
    assert read.outcome.object == v2, "a late reply does not change a decided outcome"
    assert read.complete


def test_read_of_concurrent_copies_answers_siblings():
    base = put(b"base")
    left = apply_put(base, base.clock, NewContent(b"left"), "a", 2 * S, True)
    right = apply_put(base, base.clock, NewContent(b"right"), "b", 2 * S, True)
    read = ReadQuorum(ABC, r=2)
    read.reply("a", left)
    read.reply("b", right)
    assert isinstance(read.outcome, ReadDone)
    assert values(read.outcome.object) == {b"left", b"right"}


def test_notfound_ok_counts_a_not_found_toward_r():
    v1 = put(b"v1")
    read = ReadQuorum(ABC, r=2, notfound_ok=True)
    read.reply("a", None)
    read.reply("b", v1)
    assert isinstance(read.outcome, ReadDone) and read.outcome.object == v1
    read = ReadQuorum(ABC, r=2, notfound_ok=True)
    read.reply("a", None)
    read.reply("b", None)
    assert read.outcome == ReadDone(None), "two not founds are an answer: not found"


def test_without_notfound_ok_a_not_found_does_not_count():
    v1 = put(b"v1")
    read = ReadQuorum(ABC, r=2, notfound_ok=False)
    read.reply("a", None)
    read.reply("b", v1)
    assert read.outcome is None, "one found and one not found is not r=2 without notfound_ok"
    read.reply("c", v1)
    assert isinstance(read.outcome, ReadDone) and read.outcome.object == v1


def test_without_notfound_ok_every_not_found_answers_not_found():
    # Riak: NumNotFound + NumFail >= FailThreshold (N - R + 1) ends the read,
    # and with only not founds (no failure) the response is notfound.
    read = ReadQuorum(ABC, r=2, notfound_ok=False)
    read.reply("a", None)
    assert read.outcome is None
    read.reply("b", None)
    assert read.outcome == ReadDone(None), "the remaining reply cannot make r=2: decided early"


def test_read_fails_early_when_the_rest_cannot_make_r():
    read = ReadQuorum(ABC, r=2)
    read.failed("a")
    assert read.outcome is None
    read.failed("b")
    unsatisfied(read.outcome, "R", 0, 2)
    assert not read.complete, "decided without waiting for c"


def test_read_with_r_all_fails_at_the_first_failure():
    read = ReadQuorum(ABC, r=3)
    read.reply("a", put(b"v"))
    read.failed("b")
    unsatisfied(read.outcome, "R", 1, 3)


def test_pr_counts_only_primaries():
    targets = [*primaries("a", "b"), fallback("d", hint="c")]
    v1 = put(b"v1")
    read = ReadQuorum(targets, r=2, pr=2)
    read.reply("a", v1)
    read.reply("d", v1)
    assert read.outcome is None, "r=2 is met, but the fallback's reply is not a primary's"
    read.reply("b", v1)
    assert isinstance(read.outcome, ReadDone)


def test_pr_unsatisfied_early_when_a_primary_fails():
    targets = [*primaries("a", "b"), fallback("d", hint="c")]
    read = ReadQuorum(targets, r=1, pr=2)
    read.failed("a")
    unsatisfied(read.outcome, "PR", 0, 2)


def test_pr_is_reported_when_r_is_met_but_pr_is_not():
    # Riak: "We've satisfied R, but not PR" -> pr_val_unsatisfied.
    targets = [*primaries("a", "b"), fallback("d", hint="c")]
    v1 = put(b"v1")
    read = ReadQuorum(targets, r=2, pr=2)
    read.reply("d", v1)
    read.reply("a", v1)
    read.failed("b")
    unsatisfied(read.outcome, "PR", 1, 2)


def test_impossible_reads_fail_before_anything_is_sent():
    # Riak's validate: PR > NumPrimaries -> pr_val_unsatisfied; R > NumVnodes -> insufficient_vnodes.
    targets = [primaries("a")[0], fallback("d", hint="b"), fallback("e", hint="c")]
    unsatisfied(ReadQuorum(targets, r=2, pr=2, n_val=3).outcome, "PR", 1, 2)
    unsatisfied(ReadQuorum(primaries("a"), r=2, n_val=3).outcome, "R", 1, 2)
    assert ReadQuorum(primaries("a", "b"), r=2, n_val=3).outcome is None


def test_read_quorum_values_are_checked():
    with pytest.raises(ValueError):
        ReadQuorum(ABC, r=0)
    with pytest.raises(ValueError):
        ReadQuorum(ABC, r=4)
    with pytest.raises(ValueError):
        ReadQuorum(ABC, r=1, pr=4)
    with pytest.raises(ValueError):
        ReadQuorum([*ABC, Target(9, "a", None)], r=1)
    read = ReadQuorum(ABC, r=1)
    read.reply("a", None)
    with pytest.raises(ValueError):
        read.reply("a", None)
    with pytest.raises(ValueError):
        read.failed("a")
    with pytest.raises(ValueError):
        read.reply("z", None)


# --- reads: basic_quorum and the answer of a short read -------------------------------------------


def test_basic_quorum_answers_not_found_once_a_majority_said_so():
    # N=3, r=1, notfound_ok=false: without basic_quorum the read waits for the
    # third reply (it could still find the key); with it, a majority of not
    # founds ends the read (Riak: FailThreshold = min(N div 2 + 1, N - R + 1)).
    v1 = put(b"v1")
    plain = ReadQuorum(ABC, r=1, notfound_ok=False)
    plain.reply("a", None)
    plain.reply("b", None)
    assert plain.outcome is None
    plain.reply("c", v1)
    assert isinstance(plain.outcome, ReadDone) and plain.outcome.object == v1

    basic = ReadQuorum(ABC, r=1, notfound_ok=False, basic_quorum=True)
    basic.reply("a", None)
    assert basic.outcome is None
    basic.reply("b", None)
    assert basic.outcome == ReadDone(None)


def test_basic_quorum_fails_a_read_after_a_majority_of_errors():
    # Riak's documented example of basic_quorum (riak_kv_get_fsm.erl): "when
    # r=1 and you get 2 errors and a success basic_quorum=true would return
    # an error". Failures count toward the fail threshold whatever notfound_ok
    # says (num_notfound is 0 with notfound_ok, num_fail is not).
    read = ReadQuorum(ABC, r=1, notfound_ok=True, basic_quorum=True)
    read.failed("a")
    assert read.outcome is None
    read.failed("b")
    unsatisfied(read.outcome, "R", 0, 1)


def test_a_short_read_with_a_failure_is_not_not_found():
    # Riak answers notfound only when every reply was a not found or a
    # tombstone AND nothing failed (NumFail == 0); a replica that did not
    # answer may hold the only copy, so that read is r_val_unsatisfied.
    read = ReadQuorum(ABC, r=2, notfound_ok=False)
    read.reply("a", None)
    read.failed("b")
    unsatisfied(read.outcome, "R", 0, 2)


def test_a_short_read_of_tombstones_and_not_founds_answers_deleted():
    # Riak: NumNotFound + NumDel > 0, NumOK - NumDel == 0, NumFail == 0 -> notfound.
    # Here that is a decided read whose object is the tombstone (or None).
    tomb = apply_delete(put(b"v1"), put(b"v1").clock, "a", 2 * S, True)
    assert tomb.deleted
    read = ReadQuorum(ABC, r=3, notfound_ok=False)
    read.reply("a", tomb)
    read.reply("b", None)
    assert isinstance(read.outcome, ReadDone), read.outcome
    assert read.outcome.object is None or read.outcome.object.deleted


def test_a_short_read_that_found_a_live_value_is_r_unsatisfied():
    read = ReadQuorum(ABC, r=3, notfound_ok=False)
    read.reply("a", put(b"v1"))
    read.reply("b", None)
    unsatisfied(read.outcome, "R", 1, 3)


# --- read repair ----------------------------------------------------------------------------------


def test_repairs_name_stale_and_missing_replicas_with_the_reconciled_object():
    v1 = put(b"v1")
    v2 = put(b"v2", v1, t=2)
    targets = [*primaries("a", "b"), fallback("d", hint="c")]
    read = ReadQuorum(targets, r=2)
    read.reply("a", v2)
    read.reply("b", v1)
    read.reply("d", None)
    assert read.complete
    assert read.repairs() == {"b": v2, "d": v2}, "stale b and missing (hinted) d get v2; a is up to date"


def test_repairs_of_siblings_go_to_every_replica_that_lacks_one():
    base = put(b"base")
    left = apply_put(base, base.clock, NewContent(b"left"), "a", 2 * S, True)
    right = apply_put(base, base.clock, NewContent(b"right"), "b", 2 * S, True)
    read = ReadQuorum(ABC, r=2)
    read.reply("a", left)
    read.reply("b", right)
    read.reply("c", base)
    merged = reconcile([left, right], True)
    assert read.repairs() == {"a": merged, "b": merged, "c": merged}


def test_repairs_skip_failures_and_agreeing_replicas():
    v1 = put(b"v1")
    read = ReadQuorum(ABC, r=2)
    read.reply("a", v1)
    read.reply("b", v1)
    read.failed("c")
    assert read.repairs() == {}, "nobody answered stale; c did not answer at all"
    nobody = ReadQuorum(ABC, r=2)
    for node in "abc":
        nobody.reply(node, None)
    assert nobody.repairs() == {}, "nothing to write back when nobody has the key"


def test_repairs_spread_a_tombstone():
    v1 = put(b"v1")
    tomb = apply_delete(v1, v1.clock, "b", 2 * S, True)
    read = ReadQuorum(ABC, r=2)
    read.reply("a", v1)
    read.reply("b", tomb)
    read.reply("c", None)
    assert read.outcome == ReadDone(tomb)
    assert read.repairs() == {"a": tomb, "c": tomb}


# --- writes ---------------------------------------------------------------------------------------


def coordinate(write: WriteQuorum, obj: StoredObject, *, durable: bool = False) -> list[str]:
    target = write.next_coordinator()
    assert target is not None
    return [t.node for t in write.coordinated(target.node, obj, durable)]


def test_first_target_coordinates_and_the_rest_replicate():
    write = WriteQuorum(ABC, w=2)
    target = write.next_coordinator()
    assert target == ABC[0]
    v1 = put(b"v1")
    assert [t.node for t in write.coordinated("a", v1, False)] == ["b", "c"]
    assert write.outcome is None, "the coordinator's own store is one of w=2"
    write.reply("c", False)
    assert write.outcome == WriteDone(v1)
    write.failed("b")
    assert write.outcome == WriteDone(v1), "a late failure does not undo a decided write"
    assert write.complete


def test_w_one_is_done_at_the_coordinator():
    write = WriteQuorum(ABC, w=1)
    coordinate(write, put(b"v1"))
    assert isinstance(write.outcome, WriteDone)


def test_coordinator_failover_tries_each_target_at_most_once():
    write = WriteQuorum(ABC, w=1)
    assert write.next_coordinator().node == "a"
    assert write.coordinate_failed("a").node == "b"
    assert write.coordinate_failed("b").node == "c"
    assert write.coordinate_failed("c") is None
    unsatisfied(write.outcome, "W", 0, 1)
    assert write.next_coordinator() is None


def test_after_failover_the_failed_coordinator_gets_no_replica():
    write = WriteQuorum(ABC, w=2)
    write.next_coordinator()
    nxt = write.coordinate_failed("a")
    assert nxt.node == "b" and write.outcome is None
    v1 = put(b"v1", actor="b")
    assert [t.node for t in write.coordinated("b", v1, False)] == ["c"]
    write.reply("c", False)
    assert write.outcome == WriteDone(v1)
    assert write.next_coordinator() is None, "a coordinated write has no more coordinators"


def test_failover_stops_early_when_w_can_no_longer_be_met():
    write = WriteQuorum(ABC, w=3)
    write.next_coordinator()
    assert write.coordinate_failed("a") is None, "w=3 is out of reach once one of three failed"
    unsatisfied(write.outcome, "W", 0, 3)


def test_coordinator_calls_are_checked():
    write = WriteQuorum(ABC, w=2)
    with pytest.raises(ValueError):
        write.coordinated("a", put(b"v"), False)  # nobody was asked to coordinate yet
    write.next_coordinator()
    with pytest.raises(ValueError):
        write.coordinated("b", put(b"v"), False)
    with pytest.raises(ValueError):
        write.reply("b", False)  # nothing was coordinated
    write.coordinated("a", put(b"v"), False)
    with pytest.raises(ValueError):
        write.reply("a", False)  # the coordinator is not its own replica
    write.reply("b", False)
    with pytest.raises(ValueError):
        write.reply("b", False)
    with pytest.raises(ValueError):
        write.failed("b")


def test_w_is_raised_to_dw():
    write = WriteQuorum(ABC, w=1, dw=2)
    assert write.w == 2 and write.durable_wanted
    coordinate(write, put(b"v1"), durable=True)
    assert write.outcome is None, "w=1 would be met, but a durable reply is a reply: w is 2"
    write.reply("b", True)
    assert isinstance(write.outcome, WriteDone)


def test_dw_counts_durable_replies_only():
    write = WriteQuorum(ABC, w=2, dw=2)
    coordinate(write, put(b"v1"), durable=True)
    write.reply("b", False)
    assert write.outcome is None, "w=2 stored, but only one durably"
    write.reply("c", True)
    assert isinstance(write.outcome, WriteDone)


def test_dw_unsatisfied_when_the_durable_replies_cannot_come():
    write = WriteQuorum(ABC, w=2, dw=2)
    coordinate(write, put(b"v1"), durable=True)
    write.reply("b", False)
    write.failed("c")
    unsatisfied(write.outcome, "DW", 1, 2)


def test_w_unsatisfied_early():
    # Riak's put core has no W error of its own (it waits for its timeout when
    # W > DW cannot be met); ours says W-value unsatisfied as soon as it knows.
    write = WriteQuorum(ABC, w=3)
    coordinate(write, put(b"v1"))
    write.failed("b")
    unsatisfied(write.outcome, "W", 1, 3)
    assert not write.complete


def test_pw_counts_primaries_only():
    targets = [*primaries("a", "b"), fallback("d", hint="c")]
    write = WriteQuorum(targets, w=2, pw=2)
    coordinate(write, put(b"v1"))
    write.reply("d", False)
    assert write.outcome is None, "w=2 stored, but the fallback is not a primary"
    write.reply("b", False)
    assert isinstance(write.outcome, WriteDone)


def test_pw_unsatisfied_early_and_from_the_start():
    targets = [*primaries("a", "b"), fallback("d", hint="c")]
    write = WriteQuorum(targets, w=1, pw=2)
    coordinate(write, put(b"v1"))
    write.failed("b")
    unsatisfied(write.outcome, "PW", 1, 2)
    # Riak's put fsm validate: PW > NumPrimaries -> pw_val_unsatisfied; fewer
    # vnodes than max(W, DW, PW) -> insufficient_vnodes (our W).
    unsatisfied(WriteQuorum(targets, w=1, pw=3).outcome, "PW", 2, 3)
    unsatisfied(WriteQuorum(primaries("a", "b"), w=3, n_val=3).outcome, "W", 2, 3)
    unsatisfied(WriteQuorum(primaries("a", "b"), w=1, dw=3, n_val=3).outcome, "W", 2, 3)
    assert WriteQuorum(targets, w=1, pw=3).next_coordinator() is None, "nothing is sent"


def test_write_quorum_values_are_checked():
    with pytest.raises(ValueError):
        WriteQuorum(ABC, w=0)
    with pytest.raises(ValueError):
        WriteQuorum(ABC, w=4)
    with pytest.raises(ValueError):
        WriteQuorum(ABC, w=1, dw=4)
    with pytest.raises(ValueError):
        WriteQuorum(ABC, w=1, pw=-1)
    with pytest.raises(ValueError):
        WriteQuorum([*ABC, Target(5, "b", "c")], w=1)


# --- properties over every order of replies -------------------------------------------------------

NODES = ("a", "b", "c", "d", "e")


@st.composite
def read_runs(draw):
    n = draw(st.integers(1, 5))
    hinted = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    targets = [Target(i, NODES[i], "x" + NODES[i] if h else None) for i, h in enumerate(hinted)]
    r = draw(st.integers(1, n))
    pr = draw(st.integers(0, n))
    order = draw(st.permutations(range(n)))
    # Each answer: a failure, a not found, or one of three causally ordered versions.
    answers = draw(st.lists(st.sampled_from(["fail", "none", 0, 1, 2]), min_size=n, max_size=n))
    flags = draw(st.tuples(st.booleans(), st.booleans()))
    return targets, r, pr, order, answers, flags


def _versions(count: int) -> list[StoredObject]:
    out: list[StoredObject] = []
    for i in range(count):
        out.append(put(b"v%d" % i, out[-1] if out else None, t=i + 1))
    return out


VERSIONS = _versions(3)  # each a causal successor of the one before


@settings(max_examples=400)
@given(read_runs())
def test_reads_never_succeed_short_of_r_and_always_decide(run):
    targets, r, pr, order, answers, (notfound_ok, basic_quorum) = run
    read = ReadQuorum(targets, r=r, pr=pr, notfound_ok=notfound_ok, basic_quorum=basic_quorum)
    counting = primary_counting = 0
    for i in order:
        node, answer = targets[i].node, answers[i]
        before = read.outcome
        if answer == "fail":
            read.failed(node)
        else:
            obj = None if answer == "none" else VERSIONS[answer]
            read.reply(node, obj)
            if obj is not None or notfound_ok:
                counting += 1
                primary_counting += targets[i].hint is None
        if before is None and isinstance(read.outcome, ReadDone):
            found = read.outcome.object is not None and not read.outcome.object.deleted
            if found:
                assert counting >= r and primary_counting >= pr, ((counting, primary_counting), r, pr)
        if before is not None:
            assert read.outcome is before, "a decided outcome never changes"
    assert read.complete
    assert read.outcome is not None, "every target answered: the read is decided"
    if isinstance(read.outcome, ReadDone) and read.outcome.object is not None:
        seen = [VERSIONS[a] for a in answers if a not in ("fail", "none")]
        assert read.outcome.object in seen, "the answer is one of the copies (they are ordered)"


@st.composite
def write_runs(draw):
    n = draw(st.integers(1, 5))
    hinted = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    targets = [Target(i, NODES[i], "x" + NODES[i] if h else None) for i, h in enumerate(hinted)]
    w = draw(st.integers(1, n))
    dw = draw(st.integers(0, n))
    pw = draw(st.integers(0, n))
    # Per target: fails as coordinator / replica, and whether its store is durable.
    fails = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    durable = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    order = draw(st.permutations(range(n)))
    return targets, w, dw, pw, fails, durable, order


@settings(max_examples=400)
@given(write_runs())
def test_writes_never_succeed_short_of_w_and_always_decide(run):
    targets, w, dw, pw, fails, durable, order = run
    write = WriteQuorum(targets, w=w, dw=dw, pw=pw)
    by_node = {t.node: i for i, t in enumerate(targets)}
    coordinators = []
    replicas: list[str] = []
    target = write.next_coordinator()
    while target is not None:
        coordinators.append(target.node)
        i = by_node[target.node]
        if fails[i]:
            target = write.coordinate_failed(target.node)
        else:
            # As the service does: the coordinator appends unsynced and syncs while the replicas store.
            replicas = [t.node for t in write.coordinated(target.node, VERSIONS[0], False)]
            if target.node in write.syncing:
                replicas.append(target.node)
            break
    assert len(coordinators) == len(set(coordinators)), "each target coordinates at most once"
    for i in order:
        node = targets[i].node
        if node not in replicas:
            continue
        before = write.outcome
        if node in write.syncing:
            write.synced(node) if durable[i] else write.sync_failed(node)
        elif fails[i]:
            write.failed(node)
        else:
            write.reply(node, durable[i])
        if before is not None:
            assert write.outcome is before
    stored = [t for t in targets if t.node in write.stored]
    if isinstance(write.outcome, WriteDone):
        assert len(write.stored) >= max(w, dw)
        assert len(write.durable) >= dw
        assert sum(1 for t in stored if t.hint is None) >= pw
    if write.outcome is None:
        # Undecided only while replies are outstanding, and never once all targets answered.
        assert not write.complete
    assert write.complete or write.outcome is not None
    if write.complete:
        assert write.outcome is not None, "every target answered: the write is decided"


def test_the_coordinators_sync_runs_beside_the_replicas_and_counts_toward_dw():
    targets = [Target(0, "a", None), Target(1, "b", None), Target(2, "c", None)]
    write = WriteQuorum(targets, w=2, dw=2)
    coordinator = write.next_coordinator()
    assert coordinator is not None and coordinator.node == "a"
    replicas = write.coordinated("a", VERSIONS[0], False)  # appended, not yet synced
    assert [t.node for t in replicas] == ["b", "c"] and write.syncing == {"a"}
    write.reply("b", True)
    assert write.outcome is None, "w is met, but only one durable copy"
    write.synced("a")
    assert isinstance(write.outcome, WriteDone)
    assert not write.complete, "c has not answered yet"


def test_a_failed_coordinator_sync_can_leave_dw_unsatisfied():
    targets = [Target(0, "a", None), Target(1, "b", None), Target(2, "c", None)]
    write = WriteQuorum(targets, w=2, dw=2)
    write.next_coordinator()
    write.coordinated("a", VERSIONS[0], False)
    write.reply("b", True)
    write.failed("c")
    assert write.outcome is None, "the coordinator's sync may still make dw"
    write.sync_failed("a")
    assert isinstance(write.outcome, QuorumUnsatisfied) and str(write.outcome) == "DW-value unsatisfied: 1/2"
    with pytest.raises(ValueError):
        write.synced("a")
