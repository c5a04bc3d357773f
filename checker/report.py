"""The result every checker returns, and its short human-readable rendering.

A ``Result`` says whether the history is valid, lists the anomalies found by kind (each with
a sentence or a few lines that explain it, in the manner of Elle's explanations), lists
separately what was found but is *allowed* by the model checked (write skew under snapshot
isolation), and carries counts (operations seen, committed, ...). ``render()`` prints a
summary that fits on a screen: a failing test shows it as its assertion message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# How many cases of each kind ``render`` prints by default: enough to see the pattern.
RENDER_CASES_MAX = 3


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One instance of an anomaly: its kind, an explanation and the facts behind it."""

    kind: str
    explanation: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    """What a checker found. ``valid`` is false exactly when ``anomalies`` is not empty."""

    checker: str
    anomalies: dict[str, list[Anomaly]] = field(default_factory=dict)
    allowed: dict[str, list[Anomaly]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.anomalies

    @property
    def anomaly_kinds(self) -> set[str]:
        return set(self.anomalies)

    def add(self, anomaly: Anomaly) -> None:
        self.anomalies.setdefault(anomaly.kind, []).append(anomaly)

    def allow(self, anomaly: Anomaly) -> None:
        self.allowed.setdefault(anomaly.kind, []).append(anomaly)

    def render(self, cases_max: int = RENDER_CASES_MAX) -> str:
        """A short summary: the verdict, counts, then a few explained cases of each kind."""
        verdict = "valid" if self.valid else "INVALID"
        lines = [f"{self.checker}: {verdict}"]
        if self.counts:
            lines.append("  " + ", ".join(f"{name} {count}" for name, count in self.counts.items()))
        for title, found in (("anomalies", self.anomalies), ("allowed", self.allowed)):
            if not found:
                continue
            summary = ", ".join(f"{kind} x{len(cases)}" for kind, cases in sorted(found.items()))
            lines.append(f"  {title}: {summary}")
            for kind, cases in sorted(found.items()):
                for case in cases[:cases_max]:
                    text = case.explanation.replace("\n", "\n      ")
                    lines.append(f"    {kind}: {text}")
                if len(cases) > cases_max:
                    lines.append(f"    {kind}: ... and {len(cases) - cases_max} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (for a JSON report beside the saved history)."""
        def cases(found: dict[str, list[Anomaly]]) -> dict[str, list[dict[str, Any]]]:
            return {kind: [{"explanation": c.explanation, **c.data} for c in found_cases]
                    for kind, found_cases in sorted(found.items())}

        return {"checker": self.checker, "valid": self.valid, "anomalies": cases(self.anomalies),
                "allowed": cases(self.allowed), "counts": dict(self.counts)}

    def to_json(self) -> str:
        # Values in the data that JSON lacks (sets, the initial-state marker) print as repr.
        return json.dumps(self.to_dict(), default=repr, indent=1)


def merge(checker: str, *results: Result) -> Result:
    """One result from several (e.g. bank totals and durability of the same run)."""
    merged = Result(checker)
    for result in results:
        for kind, cases in result.anomalies.items():
            merged.anomalies.setdefault(kind, []).extend(cases)
        for kind, cases in result.allowed.items():
            merged.allowed.setdefault(kind, []).extend(cases)
        for name, count in result.counts.items():
            merged.counts[f"{result.checker}.{name}"] = count
    return merged
