"""The tables `dsql compare` prints as it goes: one per scenario, and the claims at the end."""

from __future__ import annotations

from rich.table import Table

from compare.results import Claim, ScenarioResult


def _headline(metrics: dict) -> str:
    """The figures of a design's metrics worth a table cell."""
    parts = []
    for key in ("linearizable", "valid"):
        if key in metrics:
            value = metrics[key]
            parts.append(f"{key} {'yes' if value is True else 'NO' if value is False else value}")
    for key in ("stale_reads", "sibling_reads", "wrong_totals", "lost_writes", "min_copies",
                "seconds_to_full_copies"):  # fmt: skip
        if key in metrics and metrics[key] is not None:
            parts.append(f"{key.replace('_', ' ')} {metrics[key]}")
    if metrics.get("final_total") is not None:
        parts.append(f"final total {metrics['final_total']} of {metrics['expected_total']}")
    anomalies = metrics.get("anomalies")
    if anomalies:
        parts.append("anomalies " + ", ".join(f"{k} {v}" for k, v in anomalies.items()))
    return "; ".join(parts)


def scenario_table(scenario: ScenarioResult) -> Table:
    phases = [name for name, _ in scenario.phases]
    table = Table(title=f"{scenario.name}: {scenario.title}", title_justify="left")
    table.add_column("design")
    for phase in phases:
        table.add_column(f"{phase}\nok/fail/unknown, p99", justify="right")
    table.add_column("found")
    for d in scenario.designs:
        cells = []
        for phase in phases if d.ops else ():
            counts = d.ops.get(phase, {})
            ok = sum(n for k, n in counts.items() if k.endswith(" ok"))
            fail = sum(n for k, n in counts.items() if k.endswith(" fail"))
            info = sum(n for k, n in counts.items() if k.endswith(" info"))
            p99 = max((p.p99_ms for p in d.latency.get(phase, {}).values()), default=None)
            cells.append(f"{ok}/{fail}/{info}" + (f", {p99:.0f} ms" if p99 is not None else ""))
        if not d.ops:  # a design observed, not driven (copies per shard): no operations to count
            cells = ["-"] * len(phases)
        table.add_row(d.design, *cells, _headline(d.metrics) or (d.error or ""))
    return table


def claims_table(claims: list[Claim]) -> Table:
    table = Table(title="dsql compare: the claims and what was measured", title_justify="left", show_lines=True)
    table.add_column("topic")
    table.add_column("claim", ratio=3)
    table.add_column("measured", ratio=3)
    table.add_column("verdict")
    colours = {"holds": "green", "contradicted": "red", "partly": "yellow", "not measured": "dim"}
    for c in claims:
        table.add_row(c.topic, c.quote, c.measured, f"[{colours[c.verdict]}]{c.verdict}[/]")
    return table
