"""The history checkers (checker/): hand-written histories for each anomaly, and runs of an
in-memory store with each bug switched on, to show that every check can fail and that a
correct snapshot-isolation store passes (write skew allowed).

No server is involved: the checkers judge histories, and ``checker.testing`` is the system
under test here. The cluster tests run the same checkers on histories of real clients.
"""

from __future__ import annotations

import ast
import itertools
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import bank, durability, list_append, testing
from checker.graph import RW, WR, WW, Graph, nonadjacent_cycle, strongly_connected
from checker.history import History, HistoryError, OpType, op_from_json, op_to_json, pair, read_jsonl
from checker.testing import BankWorkload, Bug, ListAppendWorkload, Store

# ---------------------------------------------------------------------------------------------
# Writing histories by hand


def A(key, element) -> tuple:  # noqa: N802 (Elle's notation: [:append k v])
    return ("append", key, element)


def R(key, elements=None) -> tuple:  # noqa: N802 (Elle's notation: [:r k v])
    return ("r", key, None if elements is None else tuple(elements))


def _invocation(mops: Iterable[tuple]) -> tuple:
    return tuple(("r", m[1], None) if m[0] == "r" else m for m in mops)


def _clock():
    counter = itertools.count()
    return lambda: next(counter)


def concurrent(*txns: tuple[list[tuple], str]) -> History:
    """All transactions invoked, then all completed in order: all mutually concurrent."""
    history = History(_clock())
    handles = [history.invoke(process, "txn", _invocation(mops)) for process, (mops, _) in enumerate(txns)]
    for handle, (mops, outcome) in zip(handles, txns, strict=True):
        if outcome == "ok":
            handle.ok(tuple(mops))
        elif outcome == "fail":
            handle.fail("aborted")
        else:
            handle.info("timeout")
    return history


def serial(*txns: tuple[list[tuple], str]) -> History:
    """Each transaction invoked and completed before the next is invoked."""
    history = History(_clock())
    for process, (mops, outcome) in enumerate(txns):
        handle = history.invoke(process, "txn", _invocation(mops))
        if outcome == "ok":
            handle.ok(tuple(mops))
        elif outcome == "fail":
            handle.fail("aborted")
        else:
            handle.info("timeout")
    return history


def base_kinds(kinds: Iterable[str]) -> set[str]:
    """Anomaly names without the -realtime / -process suffix."""
    return {kind.removesuffix("-realtime").removesuffix("-process") for kind in kinds}


# ---------------------------------------------------------------------------------------------
# History


async def test_history_records_concurrent_trio_tasks() -> None:
    history = History()

    async def client(process: int) -> None:
        for n in range(3):
            handle = history.invoke(process, "txn", (A("x", process * 10 + n),))
            await trio.sleep(0.001 * (process + 1))
            handle.ok()

    async with trio.open_nursery() as nursery:
        for process in range(4):
            nursery.start_soon(client, process)
    assert [op.index for op in history.ops] == list(range(24))
    times = [op.time_ns for op in history.ops]
    assert times == sorted(times)
    pairs = history.completed()
    assert len(pairs) == 12
    assert all(p.invoke.process == p.completion.process and p.type is OpType.OK for p in pairs)
    # Invocations interleave: some process invoked while another's op was in flight.
    assert any(history.ops[i].type is OpType.INVOKE and history.ops[i + 1].type is OpType.INVOKE
               for i in range(23))


def test_history_enforces_one_op_per_process_and_no_reuse_after_info() -> None:
    history = History(_clock())
    handle = history.invoke(1, "read", None)
    with pytest.raises(HistoryError, match="already has an operation in flight"):
        history.invoke(1, "read", None)
    handle.info("timeout")
    with pytest.raises(HistoryError, match="already complete"):
        handle.ok({})
    with pytest.raises(HistoryError, match="use a new process id"):
        history.invoke(1, "read", None)
    history.invoke(2, "read", None)


def test_unfinished_operations_pair_with_info() -> None:
    history = History(_clock())
    history.invoke(0, "txn", (A("x", 1),))
    history.invoke(1, "txn", (A("x", 2),)).ok()
    pairs = pair(history.ops)
    assert [p.type for p in pairs] == [OpType.INFO, OpType.OK]
    history.close_pending("stopped")
    assert history.ops[-1].type is OpType.INFO and history.ops[-1].error == "stopped"
    assert [p.type for p in history.completed()] == [OpType.INFO, OpType.OK]


def test_pair_rejects_a_completion_without_invocation() -> None:
    history = History(_clock())
    history.invoke(0, "txn", ()).ok()
    with pytest.raises(HistoryError, match="has no invocation"):
        pair([history.ops[1]])


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.text(max_size=5))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4).map(tuple),
    st.dictionaries(st.integers(0, 50), inner, max_size=4)), max_leaves=12)


@given(value=_values, process=st.integers(0, 1000), error=st.one_of(st.none(), st.text(max_size=8)),
       op_type=st.sampled_from(list(OpType)))
def test_json_lines_round_trip(value, process, error, op_type) -> None:
    history = History(_clock())
    handle = history.invoke(process, "f", value)
    {OpType.OK: lambda: handle.ok(value), OpType.FAIL: lambda: handle.fail(error),
     OpType.INFO: lambda: handle.info(error), OpType.INVOKE: lambda: None}[op_type]()
    for op in history.ops:
        assert op_from_json(op_to_json(op)) == op


# ---------------------------------------------------------------------------------------------
# List-append: hand-written histories, one per anomaly (mostly from Elle's paper and README)

HAND_WRITTEN = {
    # T1 and T2 append to x and y in opposite orders: a write cycle.
    "G0": (concurrent(([A("x", 1), A("y", 1)], "ok"), ([A("x", 2), A("y", 2)], "ok"),
                      ([R("x", [1, 2]), R("y", [2, 1])], "ok")), {"G0"}),
    # A committed read sees an element appended by a transaction that failed.
    "G1a": (concurrent(([A("x", 1)], "fail"), ([R("x", [1])], "ok")), {"G1a"}),
    # A read ends in T1's first append to y, which T1 followed by another (and so T2 also
    # misses T1's last append while seeing its first: the cycle Elle reports with it).
    "G1b": (concurrent(([A("y", 1), A("y", 2)], "ok"), ([R("y", [1])], "ok")), {"G1b", "G-single"}),
    # Elle's README: each transaction sees the other's append.
    "G1c": (concurrent(([A("x", 1), R("y", [1])], "ok"), ([A("y", 1), R("x", [1])], "ok")), {"G1c"}),
    # Read skew: T1 sees T2's append to y but not its append to x.
    "G-single": (concurrent(([R("x", []), R("y", [1])], "ok"), ([A("x", 1), A("y", 1)], "ok")),
                 {"G-single"}),
    # A long fork: T3 sees x's append but not y's, T4 the opposite.
    "G-nonadjacent": (concurrent(([A("x", 1)], "ok"), ([A("y", 1)], "ok"),
                                 ([R("x", [1]), R("y", [])], "ok"), ([R("x", []), R("y", [1])], "ok")),
                      {"G-nonadjacent"}),
    # Both read the empty list and appended: one update is based on a state the other changed.
    "lost-update": (concurrent(([R("x", []), A("x", 1)], "ok"), ([R("x", []), A("x", 2)], "ok"),
                               ([R("x", [1, 2])], "ok")), {"lost-update", "G-single"}),
    # A transaction does not see its own append.
    "internal": (concurrent(([A("x", 1), R("x", [])], "ok"),), {"internal"}),
    "duplicate-elements": (concurrent(([A("x", 1)], "ok"), ([R("x", [1, 1])], "ok")), {"duplicate-elements"}),
    "incompatible-order": (concurrent(([A("x", 1)], "ok"), ([A("x", 2)], "ok"), ([R("x", [1, 2])], "ok"),
                                      ([R("x", [2, 1])], "ok")), {"incompatible-order"}),
    "garbage-read": (concurrent(([R("x", [9])], "ok"),), {"garbage-read"}),
}


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_hand_written_anomaly_is_named(name: str) -> None:
    history, expected = HAND_WRITTEN[name]
    result = list_append.check(history.ops)
    assert not result.valid
    assert result.anomaly_kinds == expected, result.render()
    assert set(json.loads(result.to_json())["anomalies"]) == expected
    # These transactions are all concurrent: real-time order changes nothing.
    assert list_append.check(history.ops, strict=True).anomaly_kinds == expected


def test_write_skew_is_allowed_and_reported_apart() -> None:
    history = concurrent(([R("x", []), R("y", []), A("x", 1)], "ok"), ([R("x", []), R("y", []), A("y", 1)], "ok"),
                         ([R("x", [1]), R("y", [1])], "ok"))
    for strict in (False, True):
        result = list_append.check(history.ops, strict=strict)
        assert result.valid, result.render()
        assert set(result.allowed) == {"G2-item"}
        [case] = result.allowed["G2-item"]
        assert case.data["edges"] == ["rw", "rw"]


def test_cycle_explanation_names_each_edge() -> None:
    history, _ = HAND_WRITTEN["G-single"]
    [case] = list_append.check(history.ops).anomalies["G-single"]
    text = case.explanation
    assert "T1 < T2, because T1 observed the initial (empty) state of 'x', which T2 changed by appending 1" in text
    assert "T2 < T1, because T1 observed T2's append of 1 to 'y'" in text
    assert text.endswith("However, T1 < T1: a cycle.")
    assert "G-single" in list_append.check(history.ops).render()


def test_strict_mode_catches_a_stale_read() -> None:
    # T2 starts after T1 was acknowledged and does not see it: fine for plain snapshot
    # isolation (T2's snapshot may be older), not for strong snapshot isolation.
    history = serial(([A("x", 1)], "ok"), ([R("x", [])], "ok"))
    assert list_append.check(history.ops).valid
    strict = list_append.check(history.ops, strict=True)
    assert strict.anomaly_kinds == {"G-single-realtime"}
    assert "completed (op 1) before T1 began (op 2)" in strict.anomalies["G-single-realtime"][0].explanation


def test_strict_mode_allows_concurrent_transactions_to_miss_each_other() -> None:
    history = concurrent(([A("x", 1)], "ok"), ([R("x", [])], "ok"))
    assert list_append.check(history.ops, strict=True).valid


def test_process_order_catches_a_session_going_back_in_time() -> None:
    # Process 0 commits an append, then its next transaction does not see it.
    history = History(_clock())
    first = history.invoke(0, "txn", (A("x", 1),))
    other = history.invoke(1, "txn", (A("y", 1),))
    first.ok()
    second = history.invoke(0, "txn", _invocation([R("x", [])]))
    other.ok()
    second.ok((R("x", []),))
    assert list_append.check(history.ops).valid
    assert list_append.check(history.ops, process=True).anomaly_kinds == {"G-single-process"}


def test_info_transactions_may_or_may_not_have_committed() -> None:
    # An info append that was read committed; one never read may not have; neither is G1a.
    history = concurrent(([A("x", 1)], "info"), ([A("x", 2)], "info"), ([R("x", [1])], "ok"))
    for strict in (False, True):
        assert list_append.check(history.ops, strict=strict).valid
    # But a failed one must never be read.
    history = concurrent(([A("x", 1)], "fail"), ([A("x", 2)], "info"), ([R("x", [2, 1])], "ok"))
    assert list_append.check(history.ops).anomaly_kinds == {"G1a"}


def test_reported_cycle_is_a_shortest_one() -> None:
    # Six transactions in a ring of ww edges (T_i appends to key i before T_i+1), plus key
    # "z" where T1 appends before T0: the component has a 6-cycle and a 2-cycle.
    count = 6
    mops: list[list[tuple]] = [[] for _ in range(count)]
    reads = []
    for i in range(count):
        j = (i + 1) % count
        mops[i].append(A(i, f"{i}-first"))
        mops[j].append(A(i, f"{i}-second"))
        reads.append(R(i, [f"{i}-first", f"{i}-second"]))
    mops[1].append(A("z", "z1"))
    mops[0].append(A("z", "z0"))
    reads.append(R("z", ["z1", "z0"]))
    history = concurrent(*[(m, "ok") for m in mops], (reads, "ok"))
    result = list_append.check(history.ops)
    assert result.anomaly_kinds == {"G0"}
    [case] = result.anomalies["G0"]
    assert sorted(case.data["cycle"]) == [0, 1], case.explanation


def test_malformed_histories_are_refused() -> None:
    with pytest.raises(HistoryError, match="more than once"):
        list_append.check(concurrent(([A("x", 1)], "ok"), ([A("x", 1)], "ok")).ops)
    with pytest.raises(HistoryError, match="unexpected micro-op"):
        list_append.check(concurrent(([("w", "x", 1)], "ok"),).ops)


def test_graph_helpers() -> None:
    graph = Graph(5)
    for a, b, relation in [(0, 1, WW), (1, 2, WR), (2, 0, RW), (3, 4, WW)]:
        graph.link(a, b, relation)
    components = strongly_connected(range(5), graph.neighbours(range(5), WW | WR | RW))
    assert sorted(sorted(c) for c in components) == [[0, 1, 2], [3], [4]]
    # Two rw edges in a row are no nonadjacent cycle; split by a wr edge they are.
    graph = Graph(3)
    graph.link(0, 1, RW)
    graph.link(1, 2, RW)
    graph.link(2, 0, WR)
    assert nonadjacent_cycle(graph, {0, 1, 2}, WW | WR) is None
    graph = Graph(4)
    for a, b, relation in [(0, 1, RW), (1, 2, WR), (2, 3, RW), (3, 0, WR)]:
        graph.link(a, b, relation)
    walk = nonadjacent_cycle(graph, {0, 1, 2, 3}, WW | WR)
    assert walk is not None and [node for node, _ in walk][0] == walk[-1][0] and len(walk) == 5


# ---------------------------------------------------------------------------------------------
# List-append: the in-memory store, correct and with each bug

# For each bug: the anomaly that names it, and the others it may also cause (base names).
BUG_ANOMALIES = {
    # Two transactions read one version and both append; the second's append follows the
    # first's, which it did not see: the same pair is a G-single cycle (or longer ones).
    Bug.LOST_UPDATE: ("lost-update", {"G-single", "G-nonadjacent"}),
    Bug.READ_SKEW: ("G-single", {"G-nonadjacent"}),
    Bug.ABORTED_READ: ("G1a", set()),
    # A reader of the state between the two steps misses the writer's last append.
    Bug.INTERMEDIATE_READ: ("G1b", {"G-single"}),
    # Commits installed one key at a time are not atomic: readers see parts of them, so
    # every kind of cycle can follow.
    Bug.WRITE_CYCLE: ("G0", {"G1c", "G-single", "G-nonadjacent"}),
}


def _list_append_run(bugs: Iterable[Bug], seed: int, **options) -> History:
    rng = random.Random(seed)
    store = Store(bugs, rng)
    workload = ListAppendWorkload(**{"txns": 500, "keys": 6, "clients": 10, "mops_max": 5, **options})
    return testing.run(lambda history: testing.run_list_append(store, history, workload, rng))


@pytest.mark.parametrize("seed", [1, 2])
def test_correct_store_is_valid_with_write_skew_allowed(seed: int) -> None:
    history = _list_append_run((), seed, info_probability=0.03)
    assert any(p.type is OpType.INFO for p in history.completed())
    for strict in (False, True):
        result = list_append.check(history.ops, strict=strict)
        assert result.valid, result.render()
        assert result.counts["ok"] > 100
    assert "G2-item" in base_kinds(result.allowed), result.render()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32), keys=st.integers(1, 6), clients=st.integers(1, 8),
       info_probability=st.sampled_from([0.0, 0.1]))
def test_correct_store_is_always_valid(seed: int, keys: int, clients: int, info_probability: float) -> None:
    history = _list_append_run((), seed, txns=120, keys=keys, clients=clients, info_probability=info_probability)
    result = list_append.check(history.ops, strict=True)
    assert result.valid, result.render()


@pytest.mark.parametrize("bug", list(BUG_ANOMALIES), ids=lambda bug: bug.value)
def test_each_injected_bug_is_named(bug: Bug) -> None:
    named, also = BUG_ANOMALIES[bug]
    options = {"blind": bug is Bug.WRITE_CYCLE, "reads_first": bug is Bug.LOST_UPDATE}
    # The store's interleavings are random (trio breaks ties at random): a run shows the bug
    # more than nine times in ten, so five runs all but surely.
    for seed in range(5):
        history = _list_append_run((bug,), seed, **options)
        for strict in (False, True):
            result = list_append.check(history.ops, strict=strict)
            assert base_kinds(result.anomalies) <= {named} | also, result.render()
        if named in base_kinds(result.anomalies):
            break
    assert named in base_kinds(result.anomalies), result.render()
    assert not result.valid


def test_saved_history_checks_the_same(tmp_path) -> None:
    history = _list_append_run((Bug.READ_SKEW,), 7, txns=300)
    path = tmp_path / "history.jsonl"
    history.dump(path)
    again = read_jsonl(path)
    assert again == history.ops
    first, second = list_append.check(history.ops, strict=True), list_append.check(again, strict=True)
    assert first.anomaly_kinds == second.anomaly_kinds and first.counts == second.counts


@pytest.mark.slow
def test_ten_thousand_txns_check_quickly() -> None:
    history = _list_append_run((), 1, txns=10_000, keys=20, clients=10, mops_max=4)
    for strict in (False, True):
        started = time.monotonic()
        result = list_append.check(history.ops, strict=strict)
        elapsed = time.monotonic() - started
        assert result.valid and result.counts["txns"] == 10_000
        # About 1 s here; the bound leaves room for a busy machine, not for a quadratic search.
        assert elapsed < 10, f"checking 10,000 transactions took {elapsed:.1f} s"


# ---------------------------------------------------------------------------------------------
# Bank


def _bank_history(reads: list[dict], transfers: int = 1) -> History:
    history = History(_clock())
    for n in range(transfers):
        history.invoke(n, "transfer", {"from": 0, "to": 1, "amount": 1}).ok()
    for n, balances in enumerate(reads):
        history.invoke(100 + n, "read", None).ok(balances)
    return history


def test_bank_hand_written() -> None:
    good = _bank_history([{0: 50, 1: 50}, {0: 49, 1: 51}])
    assert bank.check(good.ops, total=100, accounts=[0, 1]).valid
    bad = _bank_history([{0: 50, 1: 49}, {0: -1, 1: 101}, {0: 100}, {0: 50, 1: 50, 2: 0}, {0: None, 1: 100}])
    result = bank.check(bad.ops, total=100, accounts=[0, 1])
    assert {kind: len(cases) for kind, cases in result.anomalies.items()} == {
        "wrong-total": 1, "negative-balance": 1, "missing-account": 1, "unexpected-account": 1, "nil-balance": 1}
    assert "sums to 99, not 100" in result.render()
    assert bank.check(_bank_history([{0: -1, 1: 101}]).ops, total=100, negative_allowed=True).valid
    # Failed and unknown reads observed nothing.
    history = History(_clock())
    history.invoke(0, "read", None).info("timeout")
    assert bank.check(history.ops, total=100).valid


def _bank_run(bugs: Iterable[Bug], seed: int) -> History:
    rng = random.Random(seed)
    store = Store(bugs, rng)
    workload = BankWorkload(txns=400, clients=8, accounts=5, total=100)
    return testing.run(lambda history: testing.run_bank(store, history, workload, rng))


@pytest.mark.parametrize("bug", [None, Bug.READ_SKEW, Bug.LOST_UPDATE], ids=str)
def test_bank_store(bug: Bug | None) -> None:
    history = _bank_run(() if bug is None else (bug,), seed=3)
    result = bank.check(history.ops, total=100, accounts=range(5))
    assert result.counts["reads"] > 50 and result.counts["transfers-ok"] > 50
    if bug is None:
        assert result.valid, result.render()
    else:
        assert result.anomaly_kinds == {"wrong-total"}, result.render()


# ---------------------------------------------------------------------------------------------
# Durability


def test_durability_hand_written() -> None:
    history = concurrent(([A("x", 1)], "ok"), ([A("x", 2)], "info"), ([A("x", 3)], "fail"), ([A("y", 4)], "ok"))
    assert durability.check_list_append(history.ops, {"x": [1], "y": [4]}).valid
    assert durability.check_list_append(history.ops, {"x": [1, 2], "y": [4]}).valid
    result = durability.check_list_append(history.ops, {"x": [2, 3, 7], "y": None})
    assert {kind: len(cases) for kind, cases in result.anomalies.items()} == {
        "lost-write": 2, "aborted-write-present": 1, "garbage": 1}
    assert "acknowledged append of 1 to key 'x' is missing" in result.render()
    assert durability.check_registers({"a": 1, "b": 5}, {"a": 1, "b": 2}, {"b": [5]}).valid
    assert durability.check_registers({"a": 1, "b": 3}, {"a": 1, "b": 2}).anomaly_kinds == {"lost-write"}


@pytest.mark.parametrize("bug", [None, Bug.LOST_WRITE], ids=str)
def test_durability_after_a_crash(bug: Bug | None) -> None:
    rng = random.Random(5)
    store = Store(() if bug is None else (bug,), rng)
    workload = ListAppendWorkload(txns=300, keys=6, clients=8, info_probability=0.05)
    history = testing.run(lambda history: testing.run_list_append(store, history, workload, rng))
    store.crash()
    final = store.read_all(range(workload.keys))
    result = durability.check_list_append(history.ops, final)
    assert result.counts["acknowledged"] > 100
    if bug is None:
        assert result.valid, result.render()
    else:
        assert result.anomaly_kinds == {"lost-write"}, result.render()


# ---------------------------------------------------------------------------------------------
# The package itself


def test_saved_history_is_rechecked_from_the_command_line(tmp_path) -> None:
    path = tmp_path / "stale.jsonl"
    serial(([A("x", 1)], "ok"), ([R("x", [])], "ok")).dump(path)
    command = [sys.executable, "-m", "checker", "list-append", str(path)]
    relaxed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert relaxed.returncode == 0 and "list-append: valid" in relaxed.stdout
    strict = subprocess.run([*command, "--strict"], capture_output=True, text=True, timeout=60)
    assert strict.returncode == 1, strict.stderr
    assert "G-single-realtime x1" in strict.stdout
    path.write_text('{"index": 0, "process": 0, "type": "ok", "value": []}\n')
    broken = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 2 and "has no invocation" in broken.stderr


def test_checker_imports_no_other_dsql_package() -> None:
    allowed = {"checker", "trio", "__future__"} | set(sys.stdlib_module_names)
    package = Path(list_append.__file__).parent
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{source.name} imports {name}"


def test_stale_snapshots_are_snapshot_isolation_but_not_strong() -> None:
    # A run shows it almost surely; five runs all but surely.
    for seed in range(5):
        history = _list_append_run((Bug.STALE_READ,), seed)
        relaxed = list_append.check(history.ops)
        assert relaxed.valid, relaxed.render()
        strict = list_append.check(history.ops, strict=True)
        assert strict.anomaly_kinds <= {"G-single-realtime", "G-nonadjacent-realtime"}, strict.render()
        if "G-single-realtime" in strict.anomaly_kinds:
            break
    assert "G-single-realtime" in strict.anomaly_kinds, strict.render()
