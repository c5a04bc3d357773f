"""The linearizability checker (checker/linearizable.py): hand-made histories, the published
vectors of Porcupine and Knossos, a property test over runs of a real sequential register, and
the search budget.

No server is involved: the checker judges histories. ``dsql compare`` runs it on histories of
real clients of the three designs.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import linearizable
from checker.__main__ import main
from checker.history import History, HistoryError, Op, OpType, read_jsonl, write_jsonl
from checker.linearizable import UNKNOWN, cas_register, check, register, sibling_register

DATA = Path(__file__).parent / "data" / "linearizable"

# ---------------------------------------------------------------------------------------------
# Writing histories by hand


def build(*events: tuple) -> list[Op]:
    """A history from ``("invoke", process, f, value)``, ``("ok", process[, value])``,
    ``("fail", process)`` and ``("info", process)``, in real-time order (the clock ticks once
    per event, so ``order="time"`` sees the same order)."""
    clock = itertools.count()
    history = History(lambda: next(clock))
    handles = {}
    for kind, process, *rest in events:
        if kind == "invoke":
            handles[process] = history.invoke(process, rest[0], rest[1] if len(rest) > 1 else None)
        elif kind == "ok":
            handles.pop(process).ok(*rest)
        else:
            getattr(handles.pop(process), kind)()
    return history.ops


def write(p: int, v: Any) -> tuple:
    return ("invoke", p, "write", v)


def read(p: int) -> tuple:
    return ("invoke", p, "read")


def cas(p: int, old: Any, new: Any) -> tuple:
    return ("invoke", p, "cas", (old, new))


def ok(p: int, *value: Any) -> tuple:
    return ("ok", p, *value)


def verdict(ops: list[Op], model: linearizable.Model | None = None, **kw: Any) -> Any:
    return check(ops, model or cas_register(0), **kw).valid


# ---------------------------------------------------------------------------------------------
# Hand-made histories


def test_sequential_history_is_linearizable() -> None:
    ops = build(write(1, 1), ok(1), read(2), ok(2, 1), write(1, 2), ok(1), read(2), ok(2, 2))
    result = check(ops, cas_register(0))
    assert result.valid is True, result.render()
    assert result.keys[None].valid is True


def test_read_of_a_value_never_written_is_not_linearizable() -> None:
    ops = build(write(1, 1), ok(1), read(2), ok(2, 7))
    result = check(ops, cas_register(0))
    assert result.valid is False
    failure = result.keys[None].failure
    assert failure.op.invoke.index == 2 and failure.op.value == 7
    assert failure.previous_ok.invoke.index == 0
    assert failure.states == (1,)
    assert [c.invoke.index for c in failure.linearized] == [0]
    text = result.render()
    assert "NOT LINEARIZABLE" in text and "read 7" in text and "could only hold 1" in text


def test_a_failure_names_the_writes_of_what_the_read_saw() -> None:
    # A write reported failed whose value is read later: the explanation shows where the
    # value came from (the refused write), the first clue to a server that acknowledged a
    # refusal and applied the write anyway.
    ops = build(write(1, 5), ("fail", 1), write(2, 1), ok(2), read(3), ok(3, 5))
    result = check(ops, cas_register(0))
    assert result.valid is False
    assert [c.invoke.index for c in result.keys[None].failure.sources] == [0]
    assert "what it read was written by: {process 1, fail, op 0: write 5}" in result.render()


def test_a_write_of_unknown_outcome_may_take_effect_after_later_writes() -> None:
    # The shape of a register history from `dsql compare`: a write times out (info), its
    # client goes on as a new process, and the old value surfaces after two newer writes.
    # Linearizable: the info write may take effect at any time after its invocation.
    ops = build(write(1, 269), ("info", 1), write(2, 284), ok(2), read(2), ok(2, 284),
                write(3, 311), ok(3), read(3), ok(3, 311), read(3), ok(3, 269))  # fmt: skip
    assert verdict(ops) is True
    # Refused instead of unknown, the same value cannot appear.
    refused = build(write(1, 269), ("fail", 1), write(2, 284), ok(2), read(2), ok(2, 284),
                    write(3, 311), ok(3), read(3), ok(3, 311), read(3), ok(3, 269))  # fmt: skip
    assert verdict(refused) is False


def test_concurrent_writes_must_take_one_order_for_every_reader() -> None:
    # Writes of 1 and 2 overlap; later reads may see either order, but not both.
    writes = [write(1, 1), write(2, 2), ok(1), ok(2)]
    assert verdict(build(*writes, read(3), ok(3, 1), read(3), ok(3, 1))) is True
    assert verdict(build(*writes, read(3), ok(3, 2), read(4), ok(4, 2))) is True
    # 2 then 1: the register would have to change back with no write in between.
    assert verdict(build(*writes, read(3), ok(3, 2), read(3), ok(3, 1))) is False


def test_read_concurrent_with_a_write_may_see_either_value_but_not_go_back() -> None:
    # Reads 3 and 4 overlap the write; 4 begins after 3 saw the new value, so 4 cannot see
    # the old one (the new-old inversion linearizability forbids).
    base = [write(1, 0), ok(1), write(2, 5), read(3)]
    assert verdict(build(*base, ok(3, 5), read(4), ok(4, 5), ok(2))) is True
    assert verdict(build(*base, ok(3, 0), read(4), ok(4, 5), ok(2))) is True
    assert verdict(build(*base, ok(3, 5), read(4), ok(4, 0), ok(2))) is False


def test_cas_chains() -> None:
    chain = [write(1, 0), ok(1), cas(1, 0, 1), ok(1), cas(1, 1, 2), ok(1)]
    assert verdict(build(*chain, read(2), ok(2, 2))) is True
    assert verdict(build(*chain, read(2), ok(2, 1))) is False
    # A cas that swapped from a value the register did not hold.
    assert verdict(build(*chain, cas(1, 1, 3), ok(1))) is False
    # ok(False): the comparison failed, which is legal only if the register did not hold 1.
    failed_compare = check(build(*chain, cas(1, 2, 3), ok(1, False), read(2), ok(2, 2)), cas_register(0))
    assert failed_compare.valid is False
    assert "cas 2 -> 3 (compare failed)} cannot be linearized" in failed_compare.render()
    assert verdict(build(*chain, cas(1, 1, 3), ok(1, False), read(2), ok(2, 2))) is True
    # Two concurrent cas(0, x) cannot both succeed.
    racing = [write(1, 0), ok(1), cas(2, 0, 1), cas(3, 0, 2), ok(2), ok(3)]
    assert verdict(build(*racing)) is False
    assert verdict(build(write(1, 0), ok(1), cas(2, 0, 1), cas(3, 1, 2), ok(2), ok(3), read(4), ok(4, 2))) is True


def test_register_model_rejects_cas() -> None:
    with pytest.raises(HistoryError, match="no operation 'cas'"):
        check(build(cas(1, 0, 1), ok(1)), register(0))


def test_info_write_may_take_effect_after_its_invocation() -> None:
    # Process 1 timed out writing 3; a read long after sees 3: it took effect late.
    late = build(write(1, 3), ("info", 1), read(2), ok(2, 0), read(2), ok(2, 3))
    assert verdict(late) is True
    # ... or never: nobody need see it.
    assert verdict(build(write(1, 3), ("info", 1), read(2), ok(2, 0))) is True
    # But not before it was invoked.
    early = build(read(2), ok(2, 3), write(1, 3), ("info", 1))
    assert verdict(early) is False
    # And once seen it cannot be unseen, unless something else was written.
    assert verdict(build(write(1, 3), ("info", 1), read(2), ok(2, 3), read(2), ok(2, 0))) is False


def test_info_cas_takes_effect_only_where_it_would_succeed() -> None:
    ops = [write(1, 0), ok(1), cas(2, 0, 1), ("info", 2)]
    assert verdict(build(*ops, read(3), ok(3, 1))) is True
    assert verdict(build(*ops, write(1, 5), ok(1), read(3), ok(3, 1))) is False


def test_failed_write_never_happened() -> None:
    assert verdict(build(write(1, 3), ("fail", 1), read(2), ok(2, 3))) is False
    assert verdict(build(write(1, 3), ("fail", 1), read(2), ok(2, 0))) is True


def test_info_read_constrains_nothing() -> None:
    ops = build(write(1, 1), ok(1), read(2), ("info", 2), read(3), ok(3, 1))
    result = check(ops, cas_register(0))
    assert result.valid is True
    assert result.keys[None].ops == 2  # the info read was dropped


def test_unfinished_operations_are_info() -> None:
    # The run stopped with the write in flight: it may have happened.
    ops = build(write(1, 4), read(2), ok(2, 4))
    assert verdict(ops) is True


def test_keys_are_checked_separately() -> None:
    ops = build(("invoke", 1, "write", ("x", 1)), ("ok", 1), ("invoke", 2, "read", ("x", None)),
                ("ok", 2, ("x", 1)), ("invoke", 1, "write", ("y", 1)), ("ok", 1),
                ("invoke", 2, "read", ("y", None)), ("ok", 2, ("y", 9)))
    result = check(ops, cas_register(0), keyed=True)
    assert result.valid is False
    assert result.keys["x"].valid is True and result.keys["y"].valid is False
    assert result.keys["y"].failure.op.value == 9  # reported without its key
    assert "key 'y'" in result.render()
    # P-compositionality: each key is a register of its own. One register with the same
    # operations (keys ignored) would see x's 1 and y's 1 as one value.
    with pytest.raises(HistoryError, match=r"\(key, value\)"):
        check(build(write(1, 1), ok(1)), keyed=True)


def test_time_order_has_closed_intervals() -> None:
    # The write completes at the instant the read is invoked: with index order it precedes
    # the read; with closed time intervals they are concurrent and the read may see 0.
    ops = [Op(1, OpType.INVOKE, "write", 1, 0, 0), Op(1, OpType.OK, "write", 1, 10, 1),
           Op(2, OpType.INVOKE, "read", None, 10, 2), Op(2, OpType.OK, "read", 0, 20, 3)]
    assert verdict(ops) is False
    assert verdict(ops, order="time") is True
    later = [*ops[:2], Op(2, OpType.INVOKE, "read", None, 11, 2), Op(2, OpType.OK, "read", 0, 20, 3)]
    assert verdict(later, order="time") is False


def test_sibling_reads_are_legal_if_the_value_is_among_them() -> None:
    writes = [write(1, 1), write(2, 2), ok(1), ok(2)]
    model = sibling_register(None)
    result = check(build(*writes, read(3), ok(3, (1, 2)), read(3), ok(3, (2,))), model)
    assert result.valid is True
    assert result.counts["sibling-reads"] == 1
    # Siblings {1, 2}, then only 1: legal (the register was 1 all along, 2 first).
    assert verdict(build(*writes, read(3), ok(3, (1, 2)), read(3), ok(3, (1,))), model) is True
    # Siblings must include the register's value: 2 then {1, 3}, 3 never written.
    assert verdict(build(*writes, read(3), ok(3, (2,)), read(3), ok(3, (1, 3))), model) is False
    # An empty read (not found) is legal only before any write took effect.
    assert verdict(build(read(3), ok(3, ()), *writes), model) is True
    assert verdict(build(*writes, read(3), ok(3, ())), model) is False


def test_stale_reads_are_counted() -> None:
    ops = build(write(1, 1), ok(1), write(1, 2), ok(1), read(2), ok(2, 1),   # stale
                write(1, 3), read(3), ok(3, 2), ok(1),                       # concurrent: not stale
                read(4), ok(4, 0))                                           # initial: stale
    result = check(ops, cas_register(0))
    assert result.valid is False
    stale = [(s.read.invoke.index, s.value, s.newer.invoke.value) for s in result.stale_reads]
    assert stale == [(4, 1, 2), (10, 0, 3)]
    assert "stale-reads 2" in result.render() and "stale read:" in result.render()
    # The newest completed write (3, overlapping 1) is not newer than 1; the one before is.
    overlapping = build(write(1, 1), write(5, 3), ok(1), write(1, 2), ok(1), ok(5), read(2), ok(2, 1))
    assert [s.newer.invoke.value for s in check(overlapping, cas_register(0)).stale_reads] == [2]
    # Linearizable histories have none, and a value an info write wrote is never called stale.
    assert check(build(write(1, 1), ok(1), read(2), ok(2, 1)), cas_register(0)).stale_reads == []
    maybe = build(write(1, 1), ("info", 1), write(5, 2), ok(5), read(2), ok(2, 1))
    assert check(maybe, cas_register(0)).stale_reads == []


def test_stale_sibling_reads_need_every_sibling_superseded() -> None:
    model = sibling_register(None)
    base = [write(1, 1), ok(1), write(1, 2), ok(1), write(1, 3), ok(1)]
    assert len(check(build(*base, read(2), ok(2, (1, 2))), model).stale_reads) == 1
    assert check(build(*base, read(2), ok(2, (1, 3))), model).stale_reads == []


def test_result_to_dict() -> None:
    result = check(build(write(1, 1), ok(1), read(2), ok(2, 7)), cas_register(0))
    data = result.to_dict()
    assert data["valid"] is False and data["keys"][0]["op"] == 2
    assert data["keys"][0]["previous_ok"] == 0 and data["stale_reads"] == 0


# ---------------------------------------------------------------------------------------------
# Published vectors (see tests/data/linearizable/README.md for origin and licences)

# Porcupine's porcupine_test.go: checkJepsen(t, N, verdict).
PORCUPINE = {0: False, 1: False, 2: True, 3: False, 4: False, 5: True, 6: False, 7: True,
             8: False, 9: False, 18: True, 25: True, 31: True, 38: True}
PORCUPINE_SLOW = {7}  # about two million search steps: a few seconds in Python

# Knossos's data/cas-register/{good,bad}; for bad ones, the completion index of the :op and
# :previous-ok that wgl_test.clj asserts (None where it asserts none).
KNOSSOS = {"bad-bad-analysis": (False, 14, 11), "bad-immediate-failure": (False, 3, None),
           "bad-rethink-fail-minimal": (False, 4, None), "bad-cas-failure": (False, 491, 478),
           "bad-rethink-fail-smaller": (False, 217, None), "good-cas-register-bug": (True, None, None),
           "good-memstress3-33": (True, None, None), "good-memstress3-35": (True, None, None),
           "good-memstress3-99": (True, None, None)}


def test_vectors_are_all_listed() -> None:
    files = {p.stem for p in DATA.glob("*.jsonl")}
    listed = {f"porcupine-etcd_{n:03d}" for n in PORCUPINE} | {f"knossos-{name}" for name in KNOSSOS}
    assert files == listed


@pytest.mark.parametrize("n", [pytest.param(n, marks=pytest.mark.slow) if n in PORCUPINE_SLOW else n
                               for n in sorted(PORCUPINE)])
def test_porcupine_etcd_vectors(n: int) -> None:
    ops = read_jsonl(DATA / f"porcupine-etcd_{n:03d}.jsonl")
    result = check(ops, cas_register(None))  # etcd keys start absent: reads return nil
    assert result.valid is PORCUPINE[n], result.render()


@pytest.mark.parametrize("name", sorted(KNOSSOS))
def test_knossos_cas_register_vectors(name: str) -> None:
    valid, op_index, previous_ok_index = KNOSSOS[name]
    ops = read_jsonl(DATA / f"knossos-{name}.jsonl")
    result = check(ops, cas_register(0))  # test-examples checks every file with (cas-register 0)
    assert result.valid is valid, result.render()
    if not valid:
        failure = result.keys[None].failure
        assert failure.op.completion.index == op_index
        if name in ("bad-bad-analysis", "bad-cas-failure", "bad-immediate-failure"):
            got = failure.previous_ok.completion.index if failure.previous_ok else None
            assert got == previous_ok_index


def test_rethink_minimal_with_a_nil_register() -> None:
    # wgl_test.clj's rethink-fail-minimal-test uses (cas-register nil): same verdict and op.
    result = check(read_jsonl(DATA / "knossos-bad-rethink-fail-minimal.jsonl"), cas_register(None))
    assert result.valid is False
    assert result.keys[None].failure.op.completion.index == 4
    assert set(result.keys[None].failure.states) == {0, 4}  # 3 appears out of nowhere


def test_porcupine_vector_encoding() -> None:
    # The re-encoding kept every event of the log, and failed cas as ok(False) (Porcupine's
    # etcd model: a cas that etcd answered "compare failed").
    ops = read_jsonl(DATA / "porcupine-etcd_000.jsonl")
    assert len(ops) == 170
    assert sum(1 for op in ops if op.f == "cas" and op.type is OpType.OK and op.value is False) == 20
    assert sum(1 for op in ops if op.type is OpType.INFO) == 16  # the log's ":info" timeouts


# ---------------------------------------------------------------------------------------------
# Property: runs of a real sequential register with random overlaps


@st.composite
def register_runs(draw: st.DrawFn) -> list[Op]:
    """A history made by running a real register: each operation takes effect at its own
    instant 10 * i, and its invocation and completion are drawn around that instant, so the
    operations overlap at random but the run is linearizable by construction. Some writes
    time out (info, completion or not), and some fail without taking effect."""
    n = draw(st.integers(1, 30))
    state = 0
    events: list[tuple[int, int, str, Any, str]] = []  # (time, process, type, value, f)
    next_value = itertools.count(1)
    for i in range(n):
        at = 10 * (i + 1)
        start = at - draw(st.integers(1, 25))
        end = at + draw(st.integers(1, 25))
        kind = draw(st.sampled_from(["read", "write", "cas", "cas", "fail-write"]))
        if kind == "read":
            events += [(start, i, "invoke", None, "read"), (end, i, "ok", state, "read")]
        elif kind == "write":
            value = next(next_value)
            state = value
            outcome = draw(st.sampled_from(["ok", "ok", "info", "open"]))
            events.append((start, i, "invoke", value, "write"))
            if outcome != "open":
                events.append((end, i, outcome, value, "write"))
        elif kind == "cas":
            expected = draw(st.sampled_from([state, state, 0, 1]))
            new = next(next_value)
            swapped = state == expected
            state = new if swapped else state
            events += [(start, i, "invoke", (expected, new), "cas"),
                       (end, i, "ok", (expected, new) if swapped else False, "cas")]
        else:  # a write that failed: it never took effect
            value = next(next_value)
            events += [(start, i, "invoke", value, "write"), (end, i, "fail", value, "write")]
    events.sort(key=lambda e: (e[0], e[2] != "invoke"))
    return [Op(process, OpType(kind), f, value, t, index)
            for index, (t, process, kind, value, f) in enumerate(events)]


@settings(max_examples=150, deadline=None)
@given(register_runs(), st.data())
def test_runs_of_a_real_register_are_linearizable(ops: list[Op], data: st.DataObject) -> None:
    result = check(ops, cas_register(0))
    assert result.valid is True, result.render()
    assert result.stale_reads == []
    assert check(ops, cas_register(0), order="time").valid is True
    reads = [i for i, op in enumerate(ops) if op.f == "read" and op.type is OpType.OK]
    if reads:
        # A read that returns a value nobody wrote cannot be linearized anywhere.
        i = data.draw(st.sampled_from(reads))
        flipped = [*ops[:i], Op(ops[i].process, OpType.OK, "read", -1, ops[i].time_ns, ops[i].index),
                   *ops[i + 1:]]
        bad = check(flipped, cas_register(0))
        assert bad.valid is False
        assert bad.keys[None].failure.op.completion.index == ops[i].index


# ---------------------------------------------------------------------------------------------
# The budget


def adversarial(n: int) -> list[Op]:
    """``n`` overlapping writes of distinct values, and overlapping them a read of a value
    nobody wrote: not linearizable, but the search must try every subset of the writes in
    every state before it can say so (n * 2^n configurations)."""
    ops: list[Op] = []
    for p in range(n + 1):
        f, value = ("read", None) if p == n else ("write", p + 1)
        ops.append(Op(p, OpType.INVOKE, f, value, 0, len(ops)))
    for p in range(n + 1):
        f, value = ("read", -1) if p == n else ("write", p + 1)
        ops.append(Op(p, OpType.OK, f, value, 0, len(ops)))
    return ops


def test_budget_gives_unknown_not_a_guess() -> None:
    # Small enough to finish: the true verdict is False.
    small = check(adversarial(8), cas_register(0))
    assert small.valid is False
    assert small.keys[None].steps > 1000
    # The same history with a budget it cannot finish in: unknown, and why.
    budgeted = check(adversarial(8), cas_register(0), max_steps=1000)
    assert budgeted.valid == UNKNOWN
    assert "1000 steps" in budgeted.keys[None].reason
    assert "UNKNOWN" in budgeted.render() and "unknown-keys 1" in budgeted.render()
    # Out of reach entirely (22 * 2^22 configurations): a time limit returns in time.
    started = time.monotonic()
    timed = check(adversarial(22), cas_register(0), max_steps=None, time_limit_s=0.5)
    assert timed.valid == UNKNOWN and "time limit" in timed.keys[None].reason
    assert time.monotonic() - started < 5


def test_unknown_key_makes_overall_unknown_and_false_wins() -> None:
    ops = [Op(op.process, op.type, op.f, ("hard", op.value), op.time_ns, op.index) for op in adversarial(8)]
    good = build(("invoke", 100, "write", ("easy", 1)), ("ok", 100), ("invoke", 101, "read", ("easy", None)),
                 ("ok", 101, ("easy", 1)))
    shifted = [Op(op.process, op.type, op.f, op.value, op.time_ns, op.index + len(ops)) for op in good]
    result = check(ops + shifted, cas_register(0), keyed=True, max_steps=1000)
    assert result.keys["easy"].valid is True and result.keys["hard"].valid == UNKNOWN
    assert result.valid == UNKNOWN
    bad = build(("invoke", 100, "read", ("easy", None)), ("ok", 100, ("easy", 5)))
    shifted = [Op(op.process, op.type, op.f, op.value, op.time_ns, op.index + len(ops)) for op in bad]
    assert check(ops + shifted, cas_register(0), keyed=True, max_steps=1000).valid is False


# ---------------------------------------------------------------------------------------------
# Re-checking a saved history from the command line


def test_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["linearizable", str(DATA / "knossos-bad-bad-analysis.jsonl"), "--initial", "0"]) == 1
    assert "NOT LINEARIZABLE" in capsys.readouterr().out
    assert main(["linearizable", str(DATA / "porcupine-etcd_002.jsonl")]) == 0
    assert "linearizable (cas-register): linearizable" in capsys.readouterr().out
    saved = tmp_path / "hard.jsonl"
    write_jsonl(adversarial(22), saved)
    assert main(["linearizable", str(saved), "--time-limit", "0.3"]) == 3
    assert "UNKNOWN" in capsys.readouterr().out
