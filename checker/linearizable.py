"""Linearizability of register histories: Wing & Gong's search with Lowe's memoisation.

A history of reads, writes and compare-and-sets on registers is *linearizable* when every
operation can be given one instant between its invocation and its completion such that, in
the order of those instants, each operation is a legal step of a sequential register. This is
the check Knossos (``knossos.wgl``) and Porcupine (``checkSingle``) make; ``dsql compare``
uses it to show which of its three designs keep registers linearizable under faults.

Models are pure step functions, as Porcupine's are: ``Model.step(state, f, input, output)``
returns ``(legal, next_state)``, and states are hashable (equal states compare equal), so the
search can memoise them. Three models are provided:

- ``register(initial)``: ``read`` (its ``ok`` value is the value read) and ``write``;
- ``cas_register(initial)``: those and ``cas`` with input ``(expected, new)``. An ``ok`` cas
  swapped (its completion value is the invocation's, or ``True``); a workload that learns the
  comparison *failed* may record ``ok(False)``, which asserts the register did not hold
  ``expected`` at that instant (Porcupine's etcd model does the same). A cas recorded ``fail``
  certainly did not happen and is dropped, as every ``fail`` is;
- ``sibling_register(initial)``: for Dynamo, whose reads may return several concurrent values
  (siblings). A read's ``ok`` value is a collection of values, and the read is legal iff the
  register's value is one of them: the other siblings are writes the store has not yet
  reconciled, which a linearizable store would have ordered. This is the most lenient reading
  that is still a check; an empty collection means "not found" and matches only the initial
  value. Sibling counts are reported beside the verdict, since leniency here hides them.

The algorithm (Lowe, *Testing for linearizability*, 2017; Horn & Kroening, 2015) walks an
entry list of invocations and completions in real-time order. At an invocation it tries to
linearize that operation now (the model accepts it and the pair (linearized set, state) was
not seen before); at a completion whose operation is not yet linearized it backtracks. The
memo of (bitset, state) pairs is what makes it practical. Real-time order is the history's
list order by default (``History`` records events in the order they happened); with
``order="time"`` events are sorted by ``time_ns`` and intervals are closed, so events at the
same instant count as concurrent (Porcupine's rule, for histories merged from several clocks).

Completions follow Jepsen: ``ok`` operations linearize within [invoke, complete]; ``fail``
operations never happened and are dropped; ``info`` operations (unknown outcome) may
linearize at any point after their invocation or not at all, so the search succeeds once every
``ok`` operation is placed; an ``info`` read constrains nothing and is dropped.

P-compositionality: linearizability is local, so with ``keyed=True`` (operation values are
Jepsen ``independent`` tuples ``(key, value)``) each key is checked on its own. Checking is
NP-complete; each key gets a budget of search steps (and optionally seconds), and a key that
exhausts it is ``"unknown"``, never a guess. The overall verdict is ``False`` if any key is
not linearizable, else ``"unknown"`` if any key is unknown, else ``True``. A failure names the
operation that could not be linearized, the last ``ok`` operation before it and the longest
linearizable prefix found, as Knossos reports (``:op``, ``:previous-ok``).

Stale reads are counted separately, as a cheaper measure that needs no search: a read is
stale when every write of each value it returned was followed, in real time, by another write
that completed before the read began (or it returned the initial value after some write had
completed). A stale read is a linearizability violation too, but the count says how often.

Speed, on one core of the development machine: all 102 of Porcupine's etcd histories (about
100 operations each, one register, heavy timeouts) in 3.7 s, the slowest (etcd_007, two
million steps) in 2.2 s; a simulated register run of 10,000 operations by 10 clients over 20
keys in 0.1 s, and 5,000 operations by 10 clients on one key in 1 s (1.5 million steps). The
search grows with the number of clients overlapping on one key: 20 clients on one key
exhausted the default budget (10 million steps, about 4 s) after 2,000 operations. So, as
Jepsen does, spread clients over many keys and keep each key's history short.
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from checker.history import Completed, HistoryError, Op, OpType, pair

Verdict = bool | Literal["unknown"]
UNKNOWN: Literal["unknown"] = "unknown"

# Search steps (entries visited) per key before the verdict is "unknown". Porcupine's etcd
# histories need up to two million (etcd_007); real register runs keep keys short.
DEFAULT_MAX_STEPS = 10_000_000
RENDER_CASES_MAX = 3
# How many of the model states seen at the failing operation a failure keeps, for its report.
FAILURE_STATES_MAX = 5
# Every this many steps the search looks at the clock (reading it every step is slow).
_CLOCK_EVERY = 4096


class _Unknown:
    """The output of an ``info`` operation: whether and how it took effect is unknown."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "unknown"


INFO_OUTPUT: Any = _Unknown()


# ---------------------------------------------------------------------------------------------
# Models


@dataclass(frozen=True)
class Model:
    """A sequential object as a pure step function (Porcupine's ``Model``).

    ``step(state, f, input, output)`` says whether operation ``f`` with ``input`` returning
    ``output`` is legal in ``state``, and the state after it; ``output`` is ``INFO_OUTPUT``
    for an operation whose outcome is unknown (the step should then assume it took effect).
    ``fs`` lists the operations the model knows; ``reads`` those with no effect, which an
    ``info`` outcome makes meaningless.
    """

    name: str
    init: Hashable
    step: Callable[[Any, str, Any, Any], tuple[bool, Any]]
    fs: frozenset[str]
    reads: frozenset[str] = frozenset({"read"})


def _register_step(state: Any, f: str, value: Any, output: Any) -> tuple[bool, Any]:
    if f == "read":
        return output == state, state
    return True, value  # write


def _cas_register_step(state: Any, f: str, value: Any, output: Any) -> tuple[bool, Any]:
    if f == "cas":
        expected, new = value
        if output is False:  # the comparison failed: nothing changed
            return state != expected, state
        return state == expected, new
    return _register_step(state, f, value, output)


def _sibling_register_step(initial: Any) -> Callable[[Any, str, Any, Any], tuple[bool, Any]]:
    def step(state: Any, f: str, value: Any, output: Any) -> tuple[bool, Any]:
        if f == "read":
            if isinstance(output, tuple | list | set | frozenset):
                return (state in output) if output else state == initial, state
            return output == state, state
        return True, value

    return step


def register(initial: Hashable = None) -> Model:
    """A read/write register holding ``initial`` before any write."""
    return Model("register", initial, _register_step, frozenset({"read", "write"}))


def cas_register(initial: Hashable = None) -> Model:
    """A read/write/compare-and-set register (Knossos's ``cas-register``)."""
    return Model("cas-register", initial, _cas_register_step, frozenset({"read", "write", "cas"}))


def sibling_register(initial: Hashable = None) -> Model:
    """A register whose reads may return siblings: legal iff its value is among them."""
    return Model("sibling-register", initial, _sibling_register_step(initial),
                 frozenset({"read", "write"}))


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a key is not linearizable, in Knossos's terms.

    ``op`` could not be linearized in any order of what came before it; ``previous_ok`` is
    the last ``ok`` operation completed before it; ``linearized`` is the longest linearizable
    prefix the search found (operations in their linearization order) and ``states`` a few
    of the states the register could have held when ``op`` had to take effect.
    """

    op: Completed
    previous_ok: Completed | None
    linearized: tuple[Completed, ...]
    states: tuple[Any, ...]
    # The writes (whatever their outcome, ``fail`` included) of the values ``op`` returned:
    # where what it saw came from, the first thing to look at in a failure.
    sources: tuple[Completed, ...] = ()


@dataclass(slots=True)
class KeyVerdict:
    """The verdict for one key (one register) and what the search spent on it."""

    key: Any
    valid: Verdict
    ops: int
    steps: int = 0
    configurations: int = 0
    failure: Failure | None = None
    reason: str | None = None  # why the verdict is "unknown"


@dataclass(frozen=True, slots=True)
class StaleRead:
    """A read that returned ``value`` although ``newer`` completed before the read began."""

    key: Any
    read: Completed
    value: Any
    newer: Completed


@dataclass
class LinearizableResult:
    """What the linearizability check found: overall and per-key verdicts, stale reads."""

    model: str
    keys: dict[Any, KeyVerdict] = field(default_factory=dict)
    stale_reads: list[StaleRead] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def valid(self) -> Verdict:
        verdicts = [k.valid for k in self.keys.values()]
        if any(v is False for v in verdicts):
            return False
        if any(v == UNKNOWN for v in verdicts):
            return UNKNOWN
        return True

    @property
    def failures(self) -> list[KeyVerdict]:
        return [k for k in self.keys.values() if k.valid is False]

    @property
    def unknown(self) -> list[KeyVerdict]:
        return [k for k in self.keys.values() if k.valid == UNKNOWN]

    def render(self, cases_max: int = RENDER_CASES_MAX) -> str:
        """A short summary: the verdict, counts, then a few failures and stale reads."""
        verdict = {True: "linearizable", False: "NOT LINEARIZABLE"}.get(self.valid, "UNKNOWN")
        lines = [f"linearizable ({self.model}): {verdict}"]
        counts = {"keys": len(self.keys), "ok-keys": sum(k.valid is True for k in self.keys.values()),
                  "failed-keys": len(self.failures), "unknown-keys": len(self.unknown),
                  "stale-reads": len(self.stale_reads), **self.counts}
        lines.append("  " + ", ".join(f"{name} {count}" for name, count in counts.items()))
        for verdict_key in self.failures[:cases_max]:
            lines.append("    " + _explain_failure(verdict_key).replace("\n", "\n      "))
        if len(self.failures) > cases_max:
            lines.append(f"    ... and {len(self.failures) - cases_max} more keys not linearizable")
        for verdict_key in self.unknown[:cases_max]:
            lines.append(f"    key {verdict_key.key!r}: unknown ({verdict_key.reason})")
        if len(self.unknown) > cases_max:
            lines.append(f"    ... and {len(self.unknown) - cases_max} more unknown keys")
        for stale in self.stale_reads[:cases_max]:
            lines.append(f"    stale read: key {stale.key!r}: {_op_text(stale.read)} returned "
                         f"{stale.value!r}, but {_op_text(stale.newer)} had completed before it began")
        if len(self.stale_reads) > cases_max:
            lines.append(f"    stale read: ... and {len(self.stale_reads) - cases_max} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (for a JSON report beside the saved history)."""
        def key_dict(k: KeyVerdict) -> dict[str, Any]:
            out: dict[str, Any] = {"key": repr(k.key), "valid": k.valid, "ops": k.ops, "steps": k.steps,
                                   "configurations": k.configurations}
            if k.reason:
                out["reason"] = k.reason
            if k.failure:
                out["op"] = k.failure.op.invoke.index
                out["previous_ok"] = k.failure.previous_ok.invoke.index if k.failure.previous_ok else None
                out["linearized"] = [c.invoke.index for c in k.failure.linearized]
                out["explanation"] = _explain_failure(k)
            return out

        return {"checker": "linearizable", "model": self.model, "valid": self.valid,
                "keys": [key_dict(k) for k in self.keys.values()],
                "stale_reads": len(self.stale_reads), "counts": dict(self.counts)}


def _op_text(c: Completed) -> str:
    if c.f == "read":
        what = f"read {c.value!r}" if c.type is OpType.OK else "read"
    elif c.f == "cas":
        expected, new = c.invoke.value
        failed = " (compare failed)" if c.type is OpType.OK and c.value is False else ""
        what = f"cas {expected!r} -> {new!r}{failed}"
    else:
        what = f"{c.f} {c.invoke.value!r}"
    return f"{{process {c.process}, {c.type}, op {c.invoke.index}: {what}}}"


def _explain_failure(k: KeyVerdict) -> str:
    failure = k.failure
    assert failure is not None
    could = " or ".join(repr(s) for s in failure.states)
    could = f"hold {could}, among others," if len(failure.states) >= FAILURE_STATES_MAX else f"only hold {could}"
    lines = [f"key {k.key!r}: {_op_text(failure.op)} cannot be linearized: the register could {could} then"]
    if failure.previous_ok is not None:
        lines.append(f"last ok before it: {_op_text(failure.previous_ok)}")
    prefix = failure.linearized[-RENDER_CASES_MAX:]
    shown = " -> ".join(_op_text(c) for c in prefix)
    more = f"({len(failure.linearized) - len(prefix)} earlier) ... " if len(failure.linearized) > len(prefix) else ""
    lines.append(f"longest linearizable prefix ({len(failure.linearized)} ops): {more}{shown or 'empty'}")
    for source in failure.sources:
        error = f" ({source.completion.error})" if source.completion.error else ""
        lines.append(f"what it read was written by: {_op_text(source)}{error}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The check


def check(history: Iterable[Op] | Iterable[Completed], model: Model | None = None, *,
          keyed: bool = False, order: Literal["index", "time"] = "index",
          max_steps: int | None = DEFAULT_MAX_STEPS, time_limit_s: float | None = None) -> LinearizableResult:
    """Check a register history for linearizability, key by key.

    ``model`` defaults to ``cas_register()``. With ``keyed``, every operation's value is a
    ``(key, value)`` tuple and each key is a separate register. ``max_steps`` and
    ``time_limit_s`` bound the search of each key; past them the key is ``"unknown"``.
    """
    model = model or cas_register()
    completed = _completed(history)
    by_key: dict[Any, list[Completed]] = {}
    for c in completed:
        if c.f not in model.fs:
            raise HistoryError(f"operation {c.invoke.index}: {model.name} has no operation {c.f!r}")
        key = None
        if keyed:
            for value in (c.invoke.value, c.completion.value):
                if not (isinstance(value, tuple) and len(value) == 2):
                    raise HistoryError(f"operation {c.invoke.index}: a keyed operation's value must be "
                                       f"(key, value), not {value!r}")
            key = c.invoke.value[0]
        by_key.setdefault(key, []).append(c)
    result = LinearizableResult(model.name)
    for key, ops in by_key.items():
        ops = [_unkey(c) for c in ops] if keyed else ops
        result.keys[key] = _check_key(key, ops, model, order, max_steps, time_limit_s)
        result.stale_reads.extend(_stale_reads(key, ops, model, order))
    reads = [c for c in completed if c.f == "read" and c.type is OpType.OK]
    result.counts["ops"] = len(completed)
    result.counts["ok-reads"] = len(reads)
    if model.name == "sibling-register":
        result.counts["sibling-reads"] = sum(
            1 for c in (_unkey(r) if keyed else r for r in reads)
            if isinstance(c.value, tuple | list | set | frozenset) and len(c.value) > 1)
    return result


def _completed(history: Iterable[Op] | Iterable[Completed]) -> list[Completed]:
    items = list(history)
    if items and isinstance(items[0], Op):
        return pair(items)
    return items  # type: ignore[return-value]


def _unkey(c: Completed) -> Completed:
    """The same operation with the key stripped from its values."""
    return Completed(dataclasses.replace(c.invoke, value=c.invoke.value[1]),
                     dataclasses.replace(c.completion, value=c.completion.value[1]))


def _entries(ops: list[Completed], order: str) -> list[tuple[Any, int, int]]:
    """(position, is_return, op) for each invocation and each ``ok`` completion, sorted.

    ``info`` operations have no completion entry: they may take effect at any later time.
    With ``order="time"`` an invocation sorts before a completion at the same instant, so
    the intervals are closed and such operations are concurrent.
    """
    events = []
    for i, c in enumerate(ops):
        if order == "time":
            events.append(((c.invoke.time_ns, 0, c.invoke.index), 0, i))
            if c.type is OpType.OK:
                events.append(((c.completion.time_ns, 1, c.completion.index), 1, i))
        else:
            events.append((c.invoke.index, 0, i))
            if c.type is OpType.OK:
                events.append((c.completion.index, 1, i))
    events.sort()
    return events


def _check_key(key: Any, all_ops: list[Completed], model: Model, order: str,
               max_steps: int | None, time_limit_s: float | None) -> KeyVerdict:
    # fail: never happened. info read: observed nothing.
    ops = [c for c in all_ops if c.type is OpType.OK
           or (c.type is OpType.INFO and c.f not in model.reads)]
    verdict = KeyVerdict(key, True, len(ops))
    events = _entries(ops, order)
    n_nodes = len(events) + 2
    # A doubly linked entry list over node ids: 0 is the head, n_nodes - 1 the tail.
    nxt = list(range(1, n_nodes)) + [-1]
    prv = [-1] + list(range(n_nodes - 1))
    node_op = [-1] * n_nodes
    is_return = [False] * n_nodes
    return_node = [-1] * n_nodes  # an invocation's completion entry, -1 for info ops
    call_node: dict[int, int] = {}
    for node, (_, ret, i) in enumerate(events, start=1):
        node_op[node] = i
        is_return[node] = bool(ret)
        if ret:
            return_node[call_node[i]] = node
        else:
            call_node[i] = node
    inputs = [c.invoke.value for c in ops]
    outputs = [c.completion.value if c.type is OpType.OK else INFO_OUTPUT for c in ops]
    fs = [c.f for c in ops]
    step = model.step

    remaining_ok = sum(1 for c in ops if c.type is OpType.OK)
    state = model.init
    linearized = 0
    seen: set[tuple[int, Any]] = set()
    stack: list[tuple[int, Any]] = []  # (invocation node, state before it)
    deepest = -1  # the furthest completion entry the search was stuck at
    deepest_stack: list[int] = []
    deepest_states: list[Any] = []
    steps = 0
    deadline = time.monotonic() + time_limit_s if time_limit_s is not None else None
    node = nxt[0]
    while remaining_ok:
        steps += 1
        if max_steps is not None and steps > max_steps:
            return _unknown(verdict, steps, seen, f"search budget of {max_steps} steps exhausted")
        if deadline is not None and steps % _CLOCK_EVERY == 0 and time.monotonic() > deadline:
            return _unknown(verdict, steps, seen, f"time limit of {time_limit_s} s exhausted")
        if node != n_nodes - 1 and not is_return[node]:
            i = node_op[node]
            legal, new_state = step(state, fs[i], inputs[i], outputs[i])
            if legal:
                config = (linearized | (1 << i), new_state)
                if config not in seen:
                    seen.add(config)
                    stack.append((node, state))
                    state, linearized = new_state, config[0]
                    _lift(nxt, prv, node, return_node[node])
                    if return_node[node] != -1:
                        remaining_ok -= 1
                    node = nxt[0]
                    continue
            node = nxt[node]
            continue
        # A completion entry (or the end) whose operation is not linearized: backtrack.
        if node > deepest or (node == deepest and len(deepest_states) < FAILURE_STATES_MAX):
            if node > deepest:
                deepest, deepest_stack, deepest_states = node, [n for n, _ in stack], []
            if state not in deepest_states:
                deepest_states.append(state)
        if not stack:
            verdict.valid = False
            verdict.failure = _failure(ops, events, node_op, deepest, deepest_stack, deepest_states)
            verdict.failure = dataclasses.replace(verdict.failure, sources=_sources(verdict.failure.op, all_ops, model))
            break
        top, state = stack.pop()
        linearized &= ~(1 << node_op[top])
        _unlift(nxt, prv, top, return_node[top])
        if return_node[top] != -1:
            remaining_ok += 1
        node = nxt[top]
    verdict.steps = steps
    verdict.configurations = len(seen)
    return verdict


def _lift(nxt: list[int], prv: list[int], call: int, ret: int) -> None:
    """Unlink an invocation and its completion entry: the operation is linearized."""
    nxt[prv[call]] = nxt[call]
    prv[nxt[call]] = prv[call]
    if ret != -1:
        nxt[prv[ret]] = nxt[ret]
        prv[nxt[ret]] = prv[ret]


def _unlift(nxt: list[int], prv: list[int], call: int, ret: int) -> None:
    """Relink what ``_lift`` unlinked (in reverse order, so the neighbours are right)."""
    if ret != -1:
        nxt[prv[ret]] = ret
        prv[nxt[ret]] = ret
    nxt[prv[call]] = call
    prv[nxt[call]] = call


def _unknown(verdict: KeyVerdict, steps: int, seen: set, reason: str) -> KeyVerdict:
    verdict.valid = UNKNOWN
    verdict.steps = steps
    verdict.configurations = len(seen)
    verdict.reason = reason
    return verdict


def _failure(ops: list[Completed], events: list[tuple[Any, int, int]], node_op: list[int],
             deepest: int, stack: list[int], states: list[Any]) -> Failure:
    failing = ops[node_op[deepest]]
    # Entries before the failing completion, in order: the last ok completion among them.
    previous_ok = None
    for _, ret, i in events[:deepest - 1]:
        if ret:
            previous_ok = ops[i]
    return Failure(failing, previous_ok, tuple(ops[node_op[n]] for n in stack), tuple(states))


def _sources(op: Completed, all_ops: list[Completed], model: Model) -> tuple[Completed, ...]:
    """The writes, of any outcome, of the values the read `op` returned."""
    if op.f not in model.reads or op.type is not OpType.OK:
        return ()
    seen = op.value
    values = list(seen) if isinstance(seen, tuple | list | set | frozenset) else [seen]
    found = []
    for c in all_ops:
        if c.f == "write" and c.invoke.value in values:
            found.append(c)
        elif c.f == "cas" and c.invoke.value[1] in values:
            found.append(c)
    return tuple(found)


# ---------------------------------------------------------------------------------------------
# Stale reads


def _written(c: Completed) -> tuple[bool, Any]:
    """Whether ``c`` (ok) changed the register, and to what."""
    if c.f == "write":
        return True, c.invoke.value
    if c.f == "cas" and c.completion.value is not False:
        return True, c.invoke.value[1]
    return False, None


def _stale_reads(key: Any, ops: list[Completed], model: Model, order: str) -> list[StaleRead]:
    """Reads whose every returned value was provably overwritten before the read began.

    A write W' supersedes a value v when every write of v completed before W' was invoked,
    and W' completed before the read was invoked. Writes with unknown outcome never count
    as superseding, and a value some ``info`` write wrote is never called stale.
    """
    def start(c: Completed) -> Any:
        return (c.invoke.time_ns, 0, c.invoke.index) if order == "time" else c.invoke.index

    def end(c: Completed) -> Any:
        return (c.completion.time_ns, 1, c.completion.index) if order == "time" else c.completion.index

    writes: list[Completed] = []
    last_end: dict[Any, Any] = {}  # value -> latest completion of a write of it (None: unknown)
    for c in ops:
        if c.type is OpType.FAIL or c.f == "read":
            continue
        if c.type is OpType.INFO:
            last_end[c.invoke.value if c.f == "write" else c.invoke.value[1]] = None
            continue
        wrote, value = _written(c)
        if not wrote:
            continue
        writes.append(c)
        if value in last_end and last_end[value] is None:
            continue
        last_end[value] = max(last_end[value], end(c)) if value in last_end else end(c)
    writes.sort(key=end)
    ends = [end(w) for w in writes]
    stale = []
    for read in ops:
        if read.f != "read" or read.type is not OpType.OK:
            continue
        values = read.value
        if model.name == "sibling-register" and isinstance(values, tuple | list | set | frozenset):
            values = list(values) or [model.init]
        else:
            values = [values]
        done_before = bisect.bisect_left(ends, start(read))  # writes[:done_before] completed before
        newest: Completed | None = None
        for value in values:
            if value == model.init and value not in last_end:
                after = None  # the initial value: any completed write supersedes it
            elif value in last_end and last_end[value] is not None:
                after = last_end[value]
            else:
                newest = None  # garbage, or perhaps an info write's: not provably stale
                break
            # The latest-completed write invoked after every write of the value completed.
            superseding = next((w for w in reversed(writes[:done_before])
                                if after is None or start(w) > after), None)
            if superseding is None:
                newest = None
                break
            if newest is None or end(superseding) > end(newest):
                newest = superseding
        if newest is not None:
            stale.append(StaleRead(key, read, read.value, newest))
    return stale
