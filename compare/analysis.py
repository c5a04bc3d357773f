"""From a design's history to its figures: operations and latency per phase, rates over time.

A scenario's phases are the stretches of its fault schedule; an operation
belongs to the phase in which it was invoked. Availability is measured by
what clients got, not by what the cluster said about itself: per phase,
how many operations succeeded, failed or ended unknown, the latency of the
ones that succeeded, and the seconds clients spent waiting on operations
that did not succeed ("blocked"), as a client sees a partition: not as an
error, but as a wait. Rates over time (`ok_per_s`, `fail_per_s`) feed the
timeline plots.
"""

from __future__ import annotations

from collections.abc import Sequence

from checker.history import Completed, OpType
from compare.results import DesignResult, Percentiles, percentiles

BUCKET_S = 0.5  # the timelines' resolution


def phase_of(at_ns: int, phases: Sequence[tuple[str, int]]) -> str:
    """The phase (name, start ns) in force at `at_ns`."""
    current = phases[0][0]
    for name, start in phases:
        if at_ns >= start:
            current = name
    return current


def fill(result: DesignResult, done: Sequence[Completed], phases: Sequence[tuple[str, int]], start_ns: int,
         end_ns: int) -> None:  # fmt: skip
    """Counts, latencies, blocked time and rates of `done` into `result`."""
    latencies: dict[str, dict[str, list[float]]] = {}
    blocked: dict[str, float] = {}
    buckets = max(1, int((end_ns - start_ns) / 1e9 / BUCKET_S) + 1)
    ok_rate = [0] * buckets
    fail_rate = [0] * buckets
    for op in done:
        at = op.invoke.time_ns
        phase = phase_of(at, phases)
        counts = result.ops.setdefault(phase, {})
        name = f"{op.f} {op.type.value}"
        counts[name] = counts.get(name, 0) + 1
        ended = op.completion.time_ns if op.completion is not None else end_ns
        elapsed_ms = (ended - at) / 1e6
        bucket = min(buckets - 1, max(0, int((ended - start_ns) / 1e9 / BUCKET_S)))
        if op.type is OpType.OK:
            latencies.setdefault(phase, {}).setdefault(op.f, []).append(elapsed_ms)
            ok_rate[bucket] += 1
        else:
            blocked[phase] = blocked.get(phase, 0.0) + elapsed_ms / 1000
            fail_rate[bucket] += 1
    result.latency = {phase: {f: percentiles(values) for f, values in by_f.items()}
                      for phase, by_f in latencies.items()}  # fmt: skip
    result.metrics["blocked_s"] = {phase: round(seconds, 2) for phase, seconds in blocked.items()}
    # Throughput per phase and the longest any operation invoked in it waited: a design that
    # answers every operation, but only after the fault is over, shows here and not in its
    # success rate.
    bounds = [*(start for _, start in phases[1:]), end_ns]
    throughput, longest = {}, {}
    for (phase, start), stop in zip(phases, bounds, strict=True):
        seconds = max(1e-9, (stop - start) / 1e9)
        throughput[phase] = round(sum(n for k, n in result.ops.get(phase, {}).items() if k.endswith(" ok")) / seconds, 1)
    for op in done:
        phase = phase_of(op.invoke.time_ns, phases)
        ended = op.completion.time_ns if op.completion is not None else end_ns
        longest[phase] = max(longest.get(phase, 0.0), round((ended - op.invoke.time_ns) / 1e9, 2))
    result.metrics["ok_per_s"] = throughput
    result.metrics["longest_wait_s"] = longest
    result.series["ok_per_s"] = [[round(i * BUCKET_S, 2), n / BUCKET_S] for i, n in enumerate(ok_rate)]
    result.series["fail_per_s"] = [[round(i * BUCKET_S, 2), n / BUCKET_S] for i, n in enumerate(fail_rate)]


def success_rate(result: DesignResult, phase: str) -> float | None:
    """Of the operations invoked in `phase`, the fraction that succeeded (None: there were none)."""
    counts = result.ops.get(phase, {})
    total = sum(counts.values())
    if not total:
        return None
    return sum(n for name, n in counts.items() if name.endswith(" ok")) / total


def throughput_kept(result: DesignResult, phase: str, baseline: str) -> float | None:
    """Successful operations per second in `phase` as a share of those in `baseline`."""
    rates = result.metrics.get("ok_per_s", {})
    if not rates.get(baseline):
        return None
    return rates.get(phase, 0.0) / rates[baseline]


def merged_latency(result: DesignResult, phase: str) -> Percentiles | None:
    """The latency of the phase's slowest operation kind (by p99), or None."""
    by_f = result.latency.get(phase, {})
    return max(by_f.values(), key=lambda p: p.p99_ms) if by_f else None
