"""What a `dsql compare` run found, as data: the one shape `results.json` and the report share.

A run is a list of scenarios; each scenario ran every design under the same
fault schedule and holds one `DesignResult` per design. The claims of the
comparison (`compare.claims`) are judged from these results, and the report
(`compare.report`) draws them; neither re-runs anything, so a report can be
rebuilt from a saved `results.json` alone (`dsql compare --report-only DIR`).

Times inside a scenario are seconds since that scenario's start; phases name
the stretches of its fault schedule ("before", "partition", "after", ...).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

VERDICTS = ("holds", "contradicted", "partly", "not measured")
FAMILIES = ("dynamo", "dynamodb", "dsql")


@dataclass
class Percentiles:
    """Latency of the operations that succeeded, in milliseconds."""

    n: int
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class DesignResult:
    """What one design did in one scenario."""

    design: str  # "dynamo (3,2,2)", "dynamodb strong", "dsql", ...
    family: str  # one of FAMILIES
    # phase -> "f type" -> count, e.g. {"partition": {"read ok": 120, "write info": 3}}
    ops: dict[str, dict[str, int]] = field(default_factory=dict)
    # phase -> f -> percentiles of the ok operations
    latency: dict[str, dict[str, Percentiles]] = field(default_factory=dict)
    # scenario-specific figures: "stale_reads", "sibling_reads", "linearizable" (True/False/"unknown"),
    # "wrong_totals", "final_total", "anomalies" ({name: count}), "lost_writes", "acked_writes",
    # "min_copies", "seconds_to_full_copies", ...
    metrics: dict[str, Any] = field(default_factory=dict)
    # named time series for plots: name -> [[t_s, value], ...]
    # ("ok_per_s", "fail_per_s", "copies_min", "total", ...)
    series: dict[str, list[list[float]]] = field(default_factory=dict)
    # what the workload expressed with this design, as it ran: feature -> how
    # (e.g. "multi-key atomicity": "TransactWriteItems"; "no" when it could not)
    expresses: dict[str, str] = field(default_factory=dict)
    failure: str | None = None  # the checker's account of the first anomaly, if any
    error: str | None = None  # the run itself failed (the design's figures are then partial)


@dataclass
class ScenarioResult:
    name: str  # "register", "bank", ...
    title: str  # one line for people
    workload: str  # what the clients did
    fault: str  # what was done to the cluster
    phases: list[tuple[str, float]] = field(default_factory=list)  # (phase, start s), in order
    duration_s: float = 0.0
    designs: list[DesignResult] = field(default_factory=list)
    concurrent: bool = True  # all designs ran at once under the one schedule (else one after another)


@dataclass
class Claim:
    id: str  # "consistency-dynamo-sloppy"
    topic: str  # "durability", "consistency", "programming model", "availability and latency"
    quote: str  # the claim as the comparison states it
    measured: str  # what the run measured, in a sentence or two
    verdict: str  # one of VERDICTS
    evidence: list[str] = field(default_factory=list)  # "scenario/design" it rests on
    plots: list[str] = field(default_factory=list)  # PNG file names in the output directory


@dataclass
class Results:
    seed: int
    quick: bool
    started_at: str  # ISO 8601, UTC
    seconds: float = 0.0
    cluster: dict[str, Any] = field(default_factory=dict)  # hosts, AZs, roles per host
    scenarios: list[ScenarioResult] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    # one row per design family: feature -> how it was expressed in this run (from DesignResult.expresses)
    programming_model: list[dict[str, str]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # scenario -> why it did not finish

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Results:
        scenarios = []
        for s in data.get("scenarios", []):
            designs = []
            for d in s.get("designs", []):
                latency = {phase: {f: Percentiles(**p) for f, p in by_f.items()}
                           for phase, by_f in d.get("latency", {}).items()}  # fmt: skip
                designs.append(DesignResult(**{**d, "latency": latency}))
            phases = [tuple(p) for p in s.get("phases", [])]
            scenarios.append(ScenarioResult(**{**s, "designs": designs, "phases": phases}))
        claims = [Claim(**c) for c in data.get("claims", [])]
        return cls(**{**data, "scenarios": scenarios, "claims": claims})

    @classmethod
    def load(cls, path: str | Path) -> Results:
        return cls.from_dict(json.loads(Path(path).read_text()))


def percentiles(latencies_ms: list[float]) -> Percentiles:
    """p50/p99/max by nearest rank (no interpolation: every figure is a latency that happened)."""
    if not latencies_ms:
        return Percentiles(0, 0.0, 0.0, 0.0)
    ordered = sorted(latencies_ms)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))], 3)

    return Percentiles(len(ordered), rank(0.50), rank(0.99), round(ordered[-1], 3))
