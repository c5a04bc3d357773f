"""The adjudicator's conflict rule as a pure table (adjudicator/conflicts.py).

Each test states one clause of first-committer-wins snapshot isolation and
DSQL's KEY SHARE, and would fail if the table dropped it.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from adjudicator.conflicts import ConflictKind, ConflictTable

K, L = b"k", b"l"


def committed(table: ConflictTable, txn: int, tau_start: int, tau_commit: int, writes=(), checks=(), shares=()):
    assert table.prepare(txn, tau_start, tuple(writes), tuple(checks), tuple(shares)) is None
    table.commit(txn, tau_commit)


def test_write_after_a_later_commit_conflicts():
    table = ConflictTable(floor=0)
    committed(table, 1, tau_start=10, tau_commit=20, writes=[K])
    conflict = table.prepare(2, 15, (K,), ())
    assert conflict is not None and conflict.kind is ConflictKind.COMMITTED
    assert table.prepare(3, 20, (K,), ()) is None  # started at the commit: it saw it


def test_disjoint_keys_do_not_conflict():
    table = ConflictTable(floor=0)
    committed(table, 1, 10, 20, writes=[K])
    assert table.prepare(2, 15, (L,), ()) is None


def test_pending_writer_blocks_nobody_but_refuses_a_second_writer():
    table = ConflictTable(floor=0)
    assert table.prepare(1, 10, (K,), ()) is None
    conflict = table.prepare(2, 10, (K,), ())
    assert conflict is not None and conflict.kind is ConflictKind.PENDING
    table.abort(1)
    assert table.prepare(3, 10, (K,), ()) is None


def test_check_key_sees_writes_but_records_nothing():
    table = ConflictTable(floor=0)
    committed(table, 1, 10, 20, writes=[K])
    assert table.prepare(2, 15, (), (K,)) is not None  # written after my snapshot
    committed(table, 3, 25, 30, checks=[K])
    assert table.prepare(4, 26, (K,), ()) is None  # a check leaves no mark


def test_share_conflicts_with_an_earlier_started_writer_in_either_order():
    # Child insert (share on the parent) commits first; a parent delete that
    # started before it must then conflict.
    table = ConflictTable(floor=0)
    committed(table, 1, 10, 20, shares=[K])
    assert table.prepare(2, 15, (K,), ()) is not None
    assert table.prepare(3, 20, (K,), ()) is None  # started after the share: it saw the child
    # Parent delete commits first; the child's share conflicts like a check.
    table2 = ConflictTable(floor=0)
    committed(table2, 1, 10, 20, writes=[K])
    assert table2.prepare(2, 15, (), (), (K,)) is not None


def test_shares_do_not_conflict_with_each_other():
    table = ConflictTable(floor=0)
    assert table.prepare(1, 10, (), (), (K,)) is None
    assert table.prepare(2, 10, (), (), (K,)) is None  # two children of one parent
    table.commit(1, 20)
    table.commit(2, 21)


def test_a_pending_share_refuses_a_writer():
    table = ConflictTable(floor=0)
    assert table.prepare(1, 10, (), (), (K,)) is None
    assert table.prepare(2, 10, (K,), ()) is not None


def test_floor_makes_old_snapshots_conflict_everywhere():
    table = ConflictTable(floor=100)
    assert table.prepare(1, 50, (K,), ()) is not None
    assert table.prepare(2, 100, (K,), ()) is None


def test_forgetting_history_raises_the_floor():
    table = ConflictTable(floor=0)
    committed(table, 1, 10, 20, writes=[K], shares=[L])
    assert table.forget_before(25) == 1
    assert len(table) == 0
    assert table.prepare(2, 24, (L,), ()) is not None  # older than the floor
    assert table.prepare(3, 25, (K, L), ()) is None


def test_writer_blocked_only_by_readers_can_claim_and_then_proceed():
    table = ConflictTable(floor=0)
    assert table.prepare(1, 10, (), (K,)) is None  # a DML's schema check, in flight
    conflict = table.prepare(2, 10, (K,), ())  # a DDL writing the stamp
    assert conflict is not None and conflict.kind is ConflictKind.READERS
    table.intend(2, (K,))
    assert table.prepare(3, 10, (), (K,)) is not None  # new readers are turned away
    assert table.readers_of((K,), 2)
    table.commit(1, 20)
    assert not table.readers_of((K,), 2)
    assert table.prepare(2, 10, (K,), ()) is None
    table.drop_intents(2, (K,))
    table.commit(2, 30)
    assert table.prepare(4, 25, (), (K,)) is not None  # the DDL committed after its snapshot


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(1, 40)), max_size=40),
    st.integers(0, 45), st.integers(1, 5),
)
def test_forgetting_in_pieces_keeps_every_answer_for_young_snapshots(commits, horizon, piece) -> None:
    """Commits recorded in any τ order (an uncertain commit is held at a far τ),
    then history forgotten a few entries at a time: every transaction that started
    at or after the horizon sees exactly the conflicts it saw before."""
    table = ConflictTable(floor=0)
    model: dict[bytes, int] = {}
    for txn, (key_no, tau) in enumerate(commits, start=1):
        key = b"k%d" % key_no
        if model.get(key, 0) >= tau:
            continue  # τ_commit always exceeds the key's last commit
        assert table.prepare(txn, tau - 1, (key,), ()) is None
        table.commit(txn, tau)
        model[key] = tau
    while table.forget_some(horizon, piece)[1]:
        pass
    assert table.floor == horizon
    for key_no in range(6):
        key = b"k%d" % key_no
        for tau_start in range(horizon, 46):
            assert (table.last_commit(key) > tau_start) == (model.get(key, 0) > tau_start), (key, tau_start)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(1, 40), st.booleans()), max_size=40),
    st.integers(0, 12), st.integers(1, 5),
)
def test_history_bounded_in_size_never_lets_a_conflict_pass(commits, keep, piece) -> None:
    """Commits and shares recorded in any τ order, then the oldest dropped until `keep`
    remain: a writer conflicts whenever it would have with the whole history (dropping
    may only add conflicts, for writers older than the risen floor), and one that
    started at or after the floor sees exactly the conflicts it saw before."""
    table = ConflictTable(floor=0)
    writes: dict[bytes, int] = {}
    shares: dict[bytes, int] = {}
    for txn, (key_no, tau, share) in enumerate(commits, start=1):
        key = b"k%d" % key_no
        if max(writes.get(key, 0), shares.get(key, 0)) >= tau:
            continue  # τ_commit always exceeds the key's last commit and share
        if share:
            assert table.prepare(txn, tau - 1, (), (), (key,)) is None
            shares[key] = tau
        else:
            assert table.prepare(txn, tau - 1, (key,), ()) is None
            writes[key] = tau
        table.commit(txn, tau)
    while table.forget_oldest(keep, piece):
        pass
    assert table.recorded <= keep
    for key_no in range(6):
        key = b"k%d" % key_no
        for tau_start in range(0, 46):
            truth = max(writes.get(key, 0), shares.get(key, 0)) > tau_start
            conflict = table.check(tau_start, (key,), ()) is not None
            assert conflict or not truth, (key, tau_start)  # never a missed conflict
            if tau_start >= table.group_floor(key):
                assert conflict == truth, (key, tau_start)


def test_a_capped_history_refuses_only_old_writers_of_the_groups_it_forgot() -> None:
    rows = [b"\x02TTTT\x00\x01" + bytes([i]) for i in range(4)]  # one table's rows: one group
    stamp = b"\x02TTTT\x00\x00"  # its schema stamp: another group
    table = ConflictTable(floor=0)
    committed(table, 1, 5, 10, writes=[stamp])
    committed(table, 2, 15, 20, writes=rows[:2])
    committed(table, 3, 25, 30, writes=[rows[0]])  # supersedes its commit at 20
    committed(table, 4, 35, 40, writes=rows[2:])
    assert not table.forget_oldest(3, 10)  # forgets the stamp's 10, rows[0]'s 20 (superseded), rows[1]'s 20
    assert table.recorded == 3
    assert table.group_floor(rows[3]) == 20 and table.group_floor(stamp) == 10
    assert table.prepare(5, 19, (rows[3],), ()) is not None  # older than its group's history
    assert table.prepare(6, 20, (rows[1],), ()) is None  # rows[1]'s commit at 20 was seen
    assert table.prepare(7, 12, (stamp,), ()) is None  # an old block writing the stamp: still exact
    assert table.prepare(8, 35, (rows[2],), ()) is not None  # rows[2]'s commit at 40 is still known


_KEYS = st.sampled_from([b"g1-----a", b"g1-----b", b"g2-----a", b"g2-----b", b"g3-----c"])
_KEY_SETS = st.lists(_KEYS, max_size=3, unique=True).map(tuple)
_STEPS = st.lists(
    st.tuples(st.sampled_from(["prepare", "commit", "abort", "intend", "forget"]), _KEY_SETS, _KEY_SETS, _KEY_SETS,
              st.integers(1, 30)),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(_STEPS, st.lists(st.tuples(st.integers(0, 31), _KEY_SETS, _KEY_SETS, st.integers(0, 12)), min_size=1,
                        max_size=10))
def test_the_whole_key_set_check_answers_as_the_key_by_key_one(steps, queries) -> None:
    """`check` first looks every key up at once and takes the key-by-key way only when
    something may conflict: over any history of prepares, commits, aborts, intents and
    forgotten history, its answer (which key, what kind) is the key-by-key one's."""
    table = ConflictTable(floor=0)
    tau = 0
    held: list[int] = []
    for txn, (op, writes, checks, shares, tau_start) in enumerate(steps, start=1):
        if op == "prepare":
            if table.prepare(txn, tau_start, writes, checks, shares) is None:
                held.append(txn)
        elif op == "commit" and held:
            tau = max(tau + 1, 31, *(table.last_commit(k) + 1 for k in table._held[held[0]][1]))
            table.commit(held.pop(0), tau)
        elif op == "abort" and held:
            table.abort(held.pop())
        elif op == "intend":
            table.intend(txn, writes)
        elif op == "forget":
            table.forget_oldest(tau_start % 4, 2)
    for tau_start, writes, checks, txn_id in queries:
        assert table.check(tau_start, writes, checks, txn_id) == table._first_conflict(tau_start, writes, checks, txn_id)
