"""Acknowledged commits are present after recovery.

After a run (and its crashes and restarts), a final read of every key is compared with the
writes clients saw acknowledged. An acknowledged write (an ``ok`` completion) must be in
the final state; a write whose outcome is unknown (``info``) may be there or not; a write
that certainly failed (``fail``) must not be there, and neither may a value nobody wrote.

Two shapes of write are understood:

- *appends* (``("append", key, element)`` micro-operations of list-append transactions, or
  ``acked_appends``): every acknowledged element must be in the key's final list;
- *registers* (``acked_values``: key -> the last acknowledged value): the key's final value
  must be that value, or one written by an ``info`` write (which may have landed after it).

Anomaly kinds: ``lost-write`` (an acknowledged write is missing), ``aborted-write-present``
(a failed write is there), ``garbage`` (an element nobody tried to write).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from checker.history import Op, OpType, pair
from checker.report import Anomaly, Result


def appends_by_outcome(ops: Iterable[Op]) -> dict[OpType, dict[Any, set[Any]]]:
    """From a list-append history: outcome -> key -> elements appended by such transactions."""
    found: dict[OpType, dict[Any, set[Any]]] = {OpType.OK: {}, OpType.FAIL: {}, OpType.INFO: {}}
    for txn in pair(ops):
        if txn.f != "txn":
            continue
        for mop in txn.invoke.value:
            if mop[0] == "append":
                found[txn.type].setdefault(mop[1], set()).add(mop[2])
    return found


def check_appends(final: Mapping[Any, Iterable[Any] | None],
                  acked: Mapping[Any, Iterable[Any]],
                  failed: Mapping[Any, Iterable[Any]] | None = None,
                  uncertain: Mapping[Any, Iterable[Any]] | None = None) -> Result:
    """Compare a final read (key -> elements) with acknowledged, failed and uncertain appends."""
    result = Result("durability")
    failed = failed or {}
    uncertain = uncertain or {}
    acked_count = lost = 0
    for key in sorted(set(acked) | set(final) | set(failed), key=repr):
        present = set(final.get(key) or ())
        acked_elements = set(acked.get(key, ()))
        acked_count += len(acked_elements)
        for element in sorted(acked_elements - present, key=repr):
            lost += 1
            result.add(Anomaly("lost-write", f"acknowledged append of {element!r} to key {key!r} is "
                                             f"missing from the final read", {"key": key, "element": element}))
        failed_elements = set(failed.get(key, ()))
        for element in sorted(present & failed_elements, key=repr):
            result.add(Anomaly("aborted-write-present", f"failed append of {element!r} to key {key!r} "
                                                        f"is in the final read", {"key": key, "element": element}))
        known = acked_elements | failed_elements | set(uncertain.get(key, ()))
        for element in sorted(present - known, key=repr):
            result.add(Anomaly("garbage", f"final read of key {key!r} has {element!r}, which nobody appended",
                               {"key": key, "element": element}))
    result.counts.update({"acknowledged": acked_count, "lost": lost, "keys": len(final)})
    return result


def check_list_append(ops: Iterable[Op], final: Mapping[Any, Iterable[Any] | None]) -> Result:
    """``check_appends`` with the outcomes taken from a list-append history."""
    by_outcome = appends_by_outcome(ops)
    return check_appends(final, by_outcome[OpType.OK], by_outcome[OpType.FAIL], by_outcome[OpType.INFO])


def check_registers(final: Mapping[Any, Any], acked_values: Mapping[Any, Any],
                    uncertain: Mapping[Any, Iterable[Any]] | None = None) -> Result:
    """Each key's final value must be its last acknowledged value or an uncertain one."""
    result = Result("durability")
    uncertain = uncertain or {}
    for key in sorted(acked_values, key=repr):
        expected = acked_values[key]
        value = final.get(key)
        if value != expected and value not in set(uncertain.get(key, ())):
            result.add(Anomaly("lost-write", f"key {key!r} reads {value!r} after recovery; the last "
                                             f"acknowledged write was {expected!r}",
                               {"key": key, "value": value, "expected": expected}))
    result.counts.update({"acknowledged": len(acked_values), "keys": len(final)})
    return result
