"""Ordered-set and hypothetical-set aggregates: `f(direct args) WITHIN GROUP (ORDER BY sorted args)`.

percentile_cont, percentile_disc and mode (PostgreSQL's orderedsetaggs.c) and
the hypothetical-set rank, dense_rank, percent_rank and cume_dist. The binder
passes each row's direct arguments followed by its sorted arguments, and the
aggregation feeds the rows in the WITHIN GROUP order (as for any aggregate
with ORDER BY), so an accumulator only collects and reads positions. The
direct arguments are the same for every row of a group (they may use only
grouped columns), so the last row's are the group's.

They are resolved here rather than registered with the plain aggregates:
their argument rules (a fraction or an array of them; one sorted argument per
direct one for the hypothetical kind) are not pg_proc signatures, and a
plain call of them must fail as PostgreSQL's does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from qp.errors import SqlError
from qp.functions.dt_ops import interval_mi, interval_mul, interval_pl
from qp.functions.registry import ResolvedAggregate
from qp.types import can_coerce, common_type, format_type
from qp.types import core as C
from qp.types.keys import group_key, sort_key
from qp.types.numeric import float8_out

ORDERED_SET_AGGREGATES = frozenset({"percentile_cont", "percentile_disc", "mode"})
HYPOTHETICAL_SET_AGGREGATES = frozenset({"rank", "dense_rank", "percent_rank", "cume_dist"})


def is_ordered_set_aggregate(name: str) -> bool:
    return name in ORDERED_SET_AGGREGATES


def _not_found(name: str, direct: list[C.SqlType], ordered: list[C.SqlType]) -> SqlError:
    types = ", ".join(format_type(t) for t in [*direct, *ordered])
    return SqlError(
        "42883",
        f"function {name}({types}) does not exist",
        hint="No function matches the given name and argument types. You might need to add explicit type casts.",
    )


def resolve_within_group(
    name: str, direct: list[C.SqlType], ordered: list[C.SqlType], order_spec: list[tuple[bool, bool]]
) -> tuple[ResolvedAggregate, list[C.SqlType]]:
    """The aggregate for `name(direct) WITHIN GROUP (ORDER BY ordered)` and the
    types its direct then sorted arguments are coerced to. `order_spec` is each
    sort key's (descending, nulls first), which hypothetical rows are placed by."""
    if name == "mode" and not direct and len(ordered) == 1:
        value_type = ordered[0]
        return _aggregate(name, value_type, [value_type], lambda: _Mode(value_type)), [value_type]
    if name in ("percentile_cont", "percentile_disc") and len(direct) == 1 and len(ordered) == 1:
        many = direct[0].is_array
        fraction_type = C.array_of(C.FLOAT8) if many else C.FLOAT8
        if not can_coerce(direct[0], fraction_type):
            raise _not_found(name, direct, ordered)
        value_type = ordered[0]
        if name == "percentile_cont":
            if value_type.oid != C.INTERVAL.oid:
                if not can_coerce(value_type, C.FLOAT8):
                    raise _not_found(name, direct, ordered)
                value_type = C.FLOAT8
            result = C.array_of(value_type) if many else value_type
            interval = value_type.oid == C.INTERVAL.oid
            return _aggregate(
                name, result, [fraction_type, value_type], lambda: _PercentileCont(many, interval)
            ), [fraction_type, value_type]
        result = C.array_of(value_type) if many else value_type
        return _aggregate(name, result, [fraction_type, value_type], lambda: _PercentileDisc(many)), [
            fraction_type,
            value_type,
        ]
    if name in HYPOTHETICAL_SET_AGGREGATES and direct and len(direct) == len(ordered):
        types = [common_type([d, o], "WITHIN GROUP") for d, o in zip(direct, ordered, strict=True)]
        keys = [
            (sort_key(t), desc, nulls_first) for t, (desc, nulls_first) in zip(types, order_spec, strict=True)
        ]
        result = C.INT8 if name in ("rank", "dense_rank") else C.FLOAT8
        return _aggregate(name, result, types + types, lambda: _Hypothetical(name, keys)), types + types
    raise _not_found(name, direct, ordered)


def _aggregate(
    name: str, result: C.SqlType, arg_types: list[C.SqlType], make: Callable[[], Any]
) -> ResolvedAggregate:
    # Not strict: NULL sorted values are skipped by the accumulators (or, for
    # the hypothetical kind, sorted like any value), and a NULL fraction gives NULL.
    return ResolvedAggregate(result, arg_types, lambda ctx=None: make(), strict=False, name=name)


def _check_fraction(fraction: float) -> None:
    if not 0 <= fraction <= 1:  # NaN fails both comparisons
        raise SqlError("22003", f"percentile value {float8_out(fraction)} is not between 0 and 1")


class _Collect:
    """Keeps the group's direct argument and its non-NULL sorted values, in order."""

    def __init__(self) -> None:
        self.fraction: Any = None
        self.values: list[Any] = []

    def step(self, fraction: Any, value: Any) -> None:
        self.fraction = fraction
        if value is not None:
            self.values.append(value)

    def final(self) -> Any:
        if self.fraction is None or not self.values:
            return None
        if isinstance(self.fraction, list):
            for fraction in _flat(self.fraction):
                if fraction is not None:
                    _check_fraction(fraction)
            return _map_nested(self.fraction, lambda f: None if f is None else self.pick(f))
        _check_fraction(self.fraction)
        return self.pick(self.fraction)

    def pick(self, fraction: float) -> Any:
        raise NotImplementedError


class _PercentileDisc(_Collect):
    def __init__(self, many: bool) -> None:
        super().__init__()

    def pick(self, fraction: float) -> Any:
        row = math.ceil(fraction * len(self.values))  # the first value whose position reaches the fraction
        return self.values[max(row, 1) - 1]


class _PercentileCont(_Collect):
    def __init__(self, many: bool, interval: bool) -> None:
        super().__init__()
        self.interval = interval

    def pick(self, fraction: float) -> Any:
        position = fraction * (len(self.values) - 1)
        first, second = math.floor(position), math.ceil(position)
        low = self.values[first]
        if first == second:
            return low
        high, proportion = self.values[second], position - first
        if self.interval:
            return interval_pl(low, interval_mul(interval_mi(high, low), proportion))
        return low + (high - low) * proportion


class _Mode:
    """The most frequent non-NULL value; of equally frequent ones, the first in sort order."""

    def __init__(self, value_type: C.SqlType) -> None:
        self.key = group_key(value_type) or (lambda v: v)
        self.best: Any = None
        self.best_count = 0
        self.current: Any = None
        self.current_key: Any = None
        self.current_count = 0

    def step(self, value: Any) -> None:
        if value is None:
            return
        key = self.key(value)
        if self.current_count and key == self.current_key:
            self.current_count += 1
        else:
            self.current, self.current_key, self.current_count = value, key, 1
        if self.current_count > self.best_count:
            self.best, self.best_count = self.current, self.current_count

    def final(self) -> Any:
        return self.best


class _Hypothetical:
    """rank and its kin for a hypothetical row (the direct arguments) among the group's rows."""

    def __init__(self, name: str, keys: list[tuple[Callable | None, bool, bool]]) -> None:
        self.name = name
        self.keys = keys
        self.width = len(keys)
        self.hypothetical: tuple | None = None
        self.rows = 0
        self.before = 0  # rows sorting before the hypothetical row
        self.peers = 0  # rows equal to it
        self.distinct_before = 0
        self.last_before: tuple | None = None

    def step(self, *args: Any) -> None:
        self.hypothetical = args[: self.width]
        row = args[self.width :]
        self.rows += 1
        order = self._compare(row, self.hypothetical)
        if order < 0:
            self.before += 1
            if self.last_before is None or self._compare(row, self.last_before) != 0:
                self.distinct_before += 1
            self.last_before = row
        elif order == 0:
            self.peers += 1

    def _compare(self, left: tuple, right: tuple) -> int:
        for (key, desc, nulls_first), a, b in zip(self.keys, left, right, strict=True):
            if a is None or b is None:
                if a is None and b is None:
                    continue
                # NULL sorts last unless NULLS FIRST, whatever the direction.
                return (-1 if nulls_first else 1) if a is None else (1 if nulls_first else -1)
            ka, kb = (key(a), key(b)) if key is not None else (a, b)
            if ka == kb:
                continue
            less = ka < kb
            return (-1 if less else 1) * (-1 if desc else 1)
        return 0

    def final(self) -> Any:
        if self.name == "rank":
            return self.before + 1
        if self.name == "dense_rank":
            return self.distinct_before + 1
        if self.name == "percent_rank":
            return self.before / self.rows if self.rows else 0.0
        return (self.before + self.peers + 1) / (self.rows + 1)


def _flat(values: list) -> list:
    return [x for v in values for x in (_flat(v) if isinstance(v, list) else [v])]


def _map_nested(values: list, fn: Callable[[Any], Any]) -> list:
    return [_map_nested(v, fn) if isinstance(v, list) else fn(v) for v in values]
