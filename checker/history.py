"""Histories of operations, in Jepsen's shape: what the checkers read.

A history is the ordered list of everything clients did: each operation appears once as an
``invoke`` (before the client sends it) and once as a completion: ``ok`` (it happened),
``fail`` (it certainly did not happen) or ``info`` (the outcome is unknown: a timeout, a
dropped connection, a crashed server). An ``info`` operation may or may not have taken
effect, and the process that issued it is never used again (as in Jepsen: it may still be
running somewhere), so a client starts a new process id after one.

``History`` records operations issued by concurrent trio tasks. ``invoke()`` appends the
invocation and returns a handle whose ``ok(value)`` / ``fail(error)`` / ``info(error)``
appends the completion; recording is plain list appends with no awaits, so the order of the
list is the real-time order in which the events happened in the one trio thread.

List-append transactions (``f="txn"``) carry a tuple of micro-operations as their value:
``("append", key, element)`` and ``("r", key, elements_or_None)``. The invocation's reads
are ``None``; the ``ok`` completion carries what was read. ``fail`` and ``info`` completions
carry the invocation's value, since what the transaction wrote is known but what it read is
not.

Histories serialise to JSON lines close to elle-cli's JSON (``index``, ``process``,
``type``, ``f``, ``value``, ``time`` in nanoseconds, ``error``), so a failing run can be
saved, attached to a bug and re-checked. JSON has no tuples and only string map keys, so
lists read back as tuples and maps are written as ``{"map": [[key, value], ...]}``.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class OpType(enum.StrEnum):
    """The four kinds of history event (Jepsen's ``:type``)."""

    INVOKE = "invoke"
    OK = "ok"
    FAIL = "fail"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Op:
    """One history event. ``index`` is its position in the history."""

    process: int
    type: OpType
    f: str
    value: Any
    time_ns: int
    index: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Completed:
    """An invocation and its completion; ``completion`` is an ``info`` if none was recorded."""

    invoke: Op
    completion: Op

    @property
    def type(self) -> OpType:
        return self.completion.type

    @property
    def value(self) -> Any:
        return self.completion.value

    @property
    def process(self) -> int:
        return self.invoke.process

    @property
    def f(self) -> str:
        return self.invoke.f


# ``Invocation.ok()`` without a value completes with the invocation's value (a write's result).
_SAME: Any = object()


class HistoryError(ValueError):
    """A history that breaks the recording rules (two open operations on one process, ...)."""


class Invocation:
    """The handle ``History.invoke`` returns: complete it exactly once."""

    __slots__ = ("_history", "op", "completion")

    def __init__(self, history: History, op: Op) -> None:
        self._history = history
        self.op = op
        self.completion: Op | None = None

    def ok(self, value: Any = _SAME) -> Op:
        """The operation happened; ``value`` is what it returned (default: the invocation's value)."""
        return self._history._complete(self, OpType.OK, self.op.value if value is _SAME else value, None)

    def fail(self, error: str | None = None) -> Op:
        """The operation certainly did not take effect (an abort, a rejected request)."""
        return self._history._complete(self, OpType.FAIL, self.op.value, error)

    def info(self, error: str | None = None) -> Op:
        """The outcome is unknown: it may or may not have taken effect."""
        return self._history._complete(self, OpType.INFO, self.op.value, error)


class History:
    """An append-only history recorded by concurrent tasks of one trio thread.

    ``clock_ns`` gives the ``time_ns`` of each event; it must be monotonic. Pass
    ``lambda: int(trio.current_time() * 1e9)`` to record in a trio ``MockClock``'s time.
    """

    def __init__(self, clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self._clock_ns = clock_ns
        self.ops: list[Op] = []
        self._open: dict[int, Invocation] = {}
        # Processes whose last operation ended in ``info``: they may still be running, so
        # they are never reused (Jepsen's rule), or their operations could overlap.
        self._crashed: set[int] = set()

    def invoke(self, process: int, f: str, value: Any) -> Invocation:
        """Record that ``process`` starts operation ``f`` with ``value``."""
        if process in self._open:
            raise HistoryError(f"process {process} already has an operation in flight")
        if process in self._crashed:
            raise HistoryError(f"process {process} ended with an info operation; use a new process id")
        op = Op(process, OpType.INVOKE, f, value, self._clock_ns(), len(self.ops))
        self.ops.append(op)
        handle = Invocation(self, op)
        self._open[process] = handle
        return handle

    def _complete(self, handle: Invocation, op_type: OpType, value: Any, error: str | None) -> Op:
        if handle.completion is not None:
            raise HistoryError(f"operation {handle.op.index} is already complete")
        invoke = handle.op
        op = Op(invoke.process, op_type, invoke.f, value, self._clock_ns(), len(self.ops), error)
        self.ops.append(op)
        handle.completion = op
        del self._open[invoke.process]
        if op_type is OpType.INFO:
            self._crashed.add(invoke.process)
        return op

    def close_pending(self, error: str = "no completion recorded") -> None:
        """Complete every operation still in flight as ``info`` (call when a run stops)."""
        for handle in list(self._open.values()):
            handle.info(error)

    def completed(self) -> list[Completed]:
        return pair(self.ops)

    def dump(self, path: str | Path) -> None:
        write_jsonl(self.ops, path)


def pair(ops: Iterable[Op]) -> list[Completed]:
    """Pair each invocation with its completion, in invocation order.

    An invocation without a completion (the run stopped, or the client crashed) is paired
    with a synthetic ``info`` placed at the end of the history, since it may yet take effect.
    """
    ops = list(ops)
    open_by_process: dict[int, Op] = {}
    pairs: dict[int, Completed] = {}
    for op in ops:
        if op.type is OpType.INVOKE:
            if op.process in open_by_process:
                raise HistoryError(f"process {op.process} invoked op {op.index} with op "
                                   f"{open_by_process[op.process].index} still in flight")
            open_by_process[op.process] = op
        else:
            invoke = open_by_process.pop(op.process, None)
            if invoke is None:
                raise HistoryError(f"completion {op.index} of process {op.process} has no invocation")
            if op.f != invoke.f:
                raise HistoryError(f"completion {op.index} ({op.f}) does not match invocation "
                                   f"{invoke.index} ({invoke.f})")
            pairs[invoke.index] = Completed(invoke, op)
    end_index = len(ops)
    end_time = ops[-1].time_ns if ops else 0
    for invoke in open_by_process.values():
        info = Op(invoke.process, OpType.INFO, invoke.f, invoke.value, end_time, end_index,
                  "no completion recorded")
        end_index += 1
        pairs[invoke.index] = Completed(invoke, info)
    return [pairs[i] for i in sorted(pairs)]


# ---------------------------------------------------------------------------------------------
# JSON lines


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {"map": [[_to_json(k), _to_json(v)] for k, v in value.items()]}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    if isinstance(value, dict):
        if set(value) != {"map"}:
            raise HistoryError(f"unexpected JSON object in a value: {value!r}")
        return {_from_json(k): _from_json(v) for k, v in value["map"]}
    return value


def op_to_json(op: Op) -> str:
    record = {"index": op.index, "process": op.process, "type": str(op.type), "f": op.f,
              "value": _to_json(op.value), "time": op.time_ns}
    if op.error is not None:
        record["error"] = op.error
    return json.dumps(record, separators=(",", ":"))


def op_from_json(line: str) -> Op:
    record = json.loads(line)
    # elle-cli's histories have no "f" (or a null one): they are all transactions.
    return Op(process=record["process"], type=OpType(record["type"]), f=record.get("f") or "txn",
              value=_from_json(record.get("value")), time_ns=record.get("time", 0),
              index=record["index"], error=record.get("error"))


def write_jsonl(ops: Iterable[Op], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for op in ops:
            out.write(op_to_json(op))
            out.write("\n")


def iter_jsonl(lines: Iterable[str]) -> Iterator[Op]:
    for line in lines:
        if line.strip():
            yield op_from_json(line)


def read_jsonl(path: str | Path) -> list[Op]:
    with open(path, encoding="utf-8") as source:
        return list(iter_jsonl(source))
