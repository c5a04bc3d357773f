"""The HTML report of a `dsql compare` run: one page that puts each claim beside what was measured.

`write_report(results, out)` draws the plots (`compare.plots`) into `out`
and writes `out/index.html` next to them. The page stands alone apart from
those PNGs: inline CSS, no script, nothing fetched from the network, so it
opens from a CI artifact or a laptop offline, and a browser's "save as"
keeps it whole. It is built from a `Results` only, never from a live run,
so `python -m compare.report DIR` redraws a saved run's report from
`DIR/results.json` (after a change to the plots, say) without re-running it.

Reading order follows what a reader wants first: when and on what it ran,
a summary table (scenario by design), then the claims with their verdicts
and plots, then each scenario in detail, then what each design let the
workloads express. Every text that came from the run (design names, checker
failures, quotes) passes through `html.escape`: a checker's account of an
anomaly quotes values the workload wrote, and those must not become markup.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any

from compare.plots import design_colour, phase_spans, plot_all, slug
from compare.results import FAMILIES, DesignResult, Results, ScenarioResult

# verdict -> CSS class of its badge
VERDICT_CLASSES = {
    "holds": "holds",
    "contradicted": "contradicted",
    "partly": "partly",
    "not measured": "unmeasured",
}
# Metrics where any count above zero is something the design let go wrong; shown in red.
BAD_WHEN_POSITIVE = frozenset({"stale_reads", "lost_writes", "wrong_totals", "anomalies"})
# Metrics that only qualify another (the bank's expected total is the same for every design).
NOT_HEADLINE = frozenset({"expected_total"})
UNIT_SUFFIXES = {"_ms": "ms", "_s": "s"}
# Jepsen's operation types as the report names them.
OP_TYPES = {"ok": "ok", "fail": "fail", "info": "unknown"}

CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-alt: #f6f8fa;
        --holds: #1a7f37; --contradicted: #cf222e; --partly: #bf8700; --unmeasured: #6e7781; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; color: var(--ink);
       max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 21px; margin: 40px 0 12px; padding-bottom: 6px;
border-bottom: 1px solid var(--line); } h3 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: var(--muted); margin: 0 0 10px; } .meta b { color: var(--ink); font-weight: 600; }
nav { margin: 12px 0 0; font-size: 14px; } nav a { margin-right: 14px; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13.5px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
td.lat { white-space: nowrap; font-variant-numeric: tabular-nums; }
th { background: var(--bg-alt); font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) td.design-row { background: #fbfcfd; }
.cell-lines { list-style: none; margin: 0; padding: 0; } .cell-lines li { white-space: nowrap; }
.cell-lines li .dim { white-space: normal; } .ops { white-space: nowrap; font-weight: 600; }
table.summary { font-size: 13px; } th.design { white-space: nowrap; }
.bad { color: var(--contradicted); font-weight: 600; } .good { color: var(--holds); } .dim { color: var(--muted); }
.badge { display: inline-block; padding: 1px 10px; border-radius: 12px; color: #fff; font-size: 13px;
         font-weight: 600; letter-spacing: .02em; vertical-align: 2px; white-space: nowrap; }
.badge.holds { background: var(--holds); } .badge.contradicted { background: var(--contradicted); }
.badge.partly { background: var(--partly); } .badge.unmeasured { background: var(--unmeasured); }
.claim { border: 1px solid var(--line); border-left: 6px solid var(--unmeasured); border-radius: 6px;
         padding: 10px 16px 12px; margin: 14px 0; }
.claim.holds { border-left-color: var(--holds); } .claim.contradicted { border-left-color: var(--contradicted); }
.claim.partly { border-left-color: var(--partly); }
.claim h3 { margin: 2px 0 6px; font-size: 15px; } .topic { color: var(--muted); font-weight: 400; }
blockquote { margin: 6px 0 8px; padding: 2px 14px; border-left: 3px solid var(--line); color: #3d444d;
             font-style: italic; }
.evidence { font-size: 13px; color: var(--muted); }
figure { margin: 10px 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
.plots { display: flex; flex-wrap: wrap; gap: 8px 16px; }
.missing { color: var(--contradicted); font-size: 13px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 4px 0 10px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
details { margin: 4px 0; font-size: 13.5px; } summary { cursor: pointer; }
details pre { white-space: pre-wrap; background: var(--bg-alt); padding: 8px 10px; border-radius: 4px;
              margin: 4px 0 8px; font-size: 12.5px; }
.glance { margin: 12px 0 0; display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; font-size: 13.5px; }
.chip { color: var(--ink); white-space: nowrap; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
"""


def _e(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return escape(str(value), quote=True)


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _label(name: str) -> str:
    return name.replace("_", " ")


def design_anchor(scenario: str, design: str) -> str:
    return f"{slug(scenario)}--{slug(design)}"


def op_totals(counts: dict[str, int]) -> Counter[str]:
    """Counts by "f type" folded into "ok" / "fail" / "unknown" totals."""
    totals: Counter[str] = Counter({"ok": 0, "fail": 0, "unknown": 0})
    for name, count in counts.items():
        kind = name.rsplit(" ", 1)[-1]
        totals[OP_TYPES.get(kind, kind)] += count
    return totals


def _metric_html(name: str, value: Any) -> str:
    """One metric as `name: value`, red where it shows something going wrong, green where it shows none."""
    if name == "anomalies" and isinstance(value, dict):
        found = {k: v for k, v in value.items() if v}
        if not found:
            return 'anomalies: <span class="good">none</span>'
        listed = ", ".join(f"{_e(k)} {_e(_number(v))}" for k, v in found.items())
        return f'anomalies: <span class="bad">{_e(_number(sum(found.values())))}</span> <span class="dim">({listed})</span>'
    shown = _e(_number(value))
    if name == "linearizable":
        css = {True: "good", False: "bad"}.get(value, "dim") if isinstance(value, bool) else "dim"
        return f'linearizable: <span class="{css}">{shown}</span>'
    if name in BAD_WHEN_POSITIVE and isinstance(value, int | float) and not isinstance(value, bool):
        return f'{_e(_label(name))}: <span class="{"bad" if value > 0 else "good"}">{shown}</span>'
    if isinstance(value, dict | list):
        shown = _e(", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value) or "none"
    # A unit in the name ("unavailable_s") reads better after the value ("unavailable: 3.4 s").
    for suffix, unit in UNIT_SUFFIXES.items():
        if name.endswith(suffix) and isinstance(value, int | float) and not isinstance(value, bool):
            return f"{_e(_label(name.removesuffix(suffix)))}: {shown} {unit}"
    return f"{_e(_label(name))}: {shown}"


def headline(design: DesignResult, link: str = "") -> list[str]:
    """The lines of a design's summary cell (HTML): ok / fail / unknown operations, then each metric.

    The operations line links to `link` (the design's rows in its scenario's section) when given.
    """
    totals: Counter[str] = Counter()
    for counts in design.ops.values():
        totals.update(op_totals(counts))
    lines = []
    if design.error:
        lines.append('<span class="bad">run failed</span>')
    if design.ops:
        counts = f"{totals['ok']:,} / {totals['fail']:,} / {totals['unknown']:,}"
        lines.append(f'<span class="ops"><a href="#{_e(link)}">{counts}</a></span>' if link else counts)
    lines += [_metric_html(name, value) for name, value in design.metrics.items() if name not in NOT_HEADLINE]
    return lines


def _designs_in_order(results: Results) -> list[str]:
    """Every design of the run, family by family (Dynamo, DynamoDB, DSQL), then in order of appearance."""
    first_seen: dict[str, tuple[int, int]] = {}
    for scenario in results.scenarios:
        for design in scenario.designs:
            family = FAMILIES.index(design.family) if design.family in FAMILIES else len(FAMILIES)
            first_seen.setdefault(design.design, (family, len(first_seen)))
    return sorted(first_seen, key=first_seen.__getitem__)


def _header(results: Results) -> str:
    mode = "quick" if results.quick else "full"
    parts = [
        "<h1>dsql compare: Dynamo, DynamoDB and DSQL under the same workloads and faults</h1>",
        f'<p class="meta">Run started <b>{_e(results.started_at)}</b> · seed <b>{_e(results.seed)}</b> · '
        f"<b>{mode}</b> run · took <b>{_e(_number(round(results.seconds, 1)))} s</b> · "
        f"{len(results.scenarios)} scenarios · {len(results.claims)} claims</p>",
        _cluster(results.cluster),
        '<nav><a href="#summary">Summary</a><a href="#claims">Claims</a>'
        + "".join(f'<a href="#{_e(slug(s.name))}">{_e(s.name)}</a>' for s in results.scenarios)
        + '<a href="#programming-model">Programming model</a></nav>',
        _verdicts_at_a_glance(results),
    ]
    if results.failed:
        parts.append('<p class="meta"><span class="bad">Scenarios that did not finish</span> (their claims are '
                     "judged without them): " + "; ".join(f"<b>{_e(name)}</b>: {_e(why)}"
                                                          for name, why in results.failed.items()) + "</p>")  # fmt: skip
    return "\n".join(parts)


def _verdicts_at_a_glance(results: Results) -> str:
    """Every claim's verdict in a line near the top, so the first screen already answers the question."""
    if not results.claims:
        return ""
    chips = "".join(
        f'<a class="chip" href="#claim-{_e(slug(c.id))}"><span class="badge {VERDICT_CLASSES.get(c.verdict, "unmeasured")}">'
        f"{_e(c.verdict)}</span> {_e(c.id)}</a>"
        for c in results.claims
    )
    return f'<div class="glance"><span class="dim">Claims:</span> {chips}</div>'


def _cluster(cluster: dict[str, Any]) -> str:
    """The cluster as the run described it: hosts (with AZ and roles when given) and AZs."""
    if not cluster:
        return ""
    hosts = cluster.get("hosts", [])
    described = []
    for host in hosts if isinstance(hosts, list) else [{"name": k, **v} for k, v in hosts.items()]:
        if isinstance(host, dict):
            roles = host.get("roles", [])
            roles_text = ", ".join(roles) if isinstance(roles, list) else str(roles)
            extra = " · ".join(str(x) for x in (host.get("az"), roles_text) if x)
            described.append(
                f"<b>{_e(host.get('name', '?'))}</b>"
                + (f" <span class='dim'>({_e(extra)})</span>" if extra else "")
            )
        else:
            described.append(f"<b>{_e(host)}</b>")
    lines = []
    if described:
        lines.append(f"Cluster: {len(described)} hosts: " + "; ".join(described))
    azs = cluster.get("azs")
    if azs:
        lines.append(f"AZs: {_e(', '.join(map(str, azs)) if isinstance(azs, list) else azs)}")
    others = {k: v for k, v in cluster.items() if k not in ("hosts", "azs")}
    lines += [f"{_e(_label(k))}: {_e(v)}" for k, v in others.items()]
    return '<p class="meta">' + "<br>".join(lines) + "</p>"


def _summary(results: Results) -> str:
    """Scenario by design: every cell the headline figures of that design in that scenario."""
    designs = _designs_in_order(results)
    head = "".join(f"<th>{_e(s.name)}</th>" for s in results.scenarios)
    rows = []
    for name in designs:
        cells = []
        for scenario in results.scenarios:
            design = next((d for d in scenario.designs if d.design == name), None)
            if design is None:
                cells.append('<td class="dim">not run</td>')
                continue
            items = "".join(
                f"<li>{line}</li>" for line in headline(design, design_anchor(scenario.name, name))
            )
            cells.append(f'<td><ul class="cell-lines">{items}</ul></td>')
        rows.append(f'<tr><th class="design">{_swatch(name)}{_e(name)}</th>{"".join(cells)}</tr>')
    return (
        '<h2 id="summary">Summary</h2>\n'
        '<p class="dim">Each cell: the operations that succeeded / failed (certainly not done) / ended unknown '
        "over the whole scenario (a link to that design's rows below), then the figures its checkers measured."
        "</p>\n"
        f'<table class="summary"><thead><tr><th>design</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _swatch(design: str) -> str:
    """The design's plot colour as a small square, so a table row can be matched to its line."""
    return f'<span class="swatch" style="background:{design_colour(design)}"></span>'


def _figures(names: list[str], out: Path, alt_prefix: str) -> str:
    """<figure>s for the plots that exist in `out`; a plain note for one a claim names that was never drawn."""
    figures = []
    for name in names:
        if (out / name).is_file():
            figures.append(f'<figure><a href="{_e(name)}"><img src="{_e(name)}" alt="{_e(alt_prefix)}: {_e(name)}" '
                           f'loading="eager"></a></figure>')  # fmt: skip
        else:
            figures.append(f'<p class="missing">Plot {_e(name)} was not drawn in this run.</p>')
    return f'<div class="plots">{"".join(figures)}</div>' if figures else ""


def _claims(results: Results, out: Path) -> str:
    scenario_names = {s.name for s in results.scenarios}
    parts = ['<h2 id="claims">The claims</h2>']
    if not results.claims:
        parts.append('<p class="dim">No claim was judged in this run.</p>')
    for claim in results.claims:
        css = VERDICT_CLASSES.get(claim.verdict, "unmeasured")
        evidence = []
        for item in claim.evidence:
            scenario, _, design = item.partition("/")
            if scenario in scenario_names and design:
                evidence.append(f'<a href="#{_e(design_anchor(scenario, design))}">{_e(item)}</a>')
            else:
                evidence.append(_e(item))
        parts.append(
            f'<article class="claim {css}" id="claim-{_e(slug(claim.id))}">'
            f'<h3><span class="badge {css}">{_e(claim.verdict)}</span> {_e(claim.id)} '
            f'<span class="topic">· {_e(claim.topic)}</span></h3>'
            f"<blockquote>{_e(claim.quote)}</blockquote>"
            f"<p><b>Measured:</b> {_e(claim.measured)}</p>"
            + (f'<p class="evidence">Rests on: {", ".join(evidence)}</p>' if evidence else "")
            + _figures(claim.plots, out, claim.id)
            + "</article>"
        )
    return "\n".join(parts)


def _phases(scenario: ScenarioResult) -> str:
    spans = [f"{_e(name)} ({start:g}–{end:g} s)" for name, start, end in phase_spans(scenario)]
    return " → ".join(spans) if spans else "—"


def _latency_text(design: DesignResult, phase: str) -> str:
    by_f = design.latency.get(phase, {})
    lines = [f"{_e(f)} {p.p50_ms:g} / {p.p99_ms:g}" for f, p in sorted(by_f.items()) if p.n]
    return "<br>".join(lines) if lines else '<span class="dim">—</span>'


def _scenario_table(scenario: ScenarioResult) -> str:
    """Per design and phase: ok / fail / unknown counts and p50 / p99 latency per operation."""
    phases = [name for name, _ in scenario.phases]
    for design in scenario.designs:
        phases += [p for p in list(design.ops) + list(design.latency) if p not in phases]
    rows = []
    for design in scenario.designs:
        for i, phase in enumerate(phases):
            totals = op_totals(design.ops.get(phase, {}))
            first = (f'<td rowspan="{len(phases)}" class="design-row" id="{_e(design_anchor(scenario.name, design.design))}">'
                     f"{_swatch(design.design)}{_e(design.design)}</td>") if i == 0 else ""  # fmt: skip
            unknown = f'<span class="bad">{totals["unknown"]:,}</span>' if totals["unknown"] else "0"
            rows.append(f"<tr>{first}<td>{_e(phase)}</td><td class='num'>{totals['ok']:,}</td>"
                        f"<td class='num'>{totals['fail']:,}</td><td class='num'>{unknown}</td>"
                        f"<td class='lat'>{_latency_text(design, phase)}</td></tr>")  # fmt: skip
    return (
        "<table><thead><tr><th>design</th><th>phase</th><th>ok</th><th>fail</th><th>unknown</th>"
        "<th>p50 / p99 ms</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _scenario(scenario: ScenarioResult, plots: list[str], out: Path) -> str:
    accounts = []
    for design in scenario.designs:
        if design.error:
            accounts.append(f"<details open><summary><b>{_e(design.design)}</b>: the run failed</summary>"
                            f"<pre>{_e(design.error)}</pre></details>")  # fmt: skip
        if design.failure:
            accounts.append(f"<details><summary><b>{_e(design.design)}</b>: the checker's account of its first anomaly"
                            f"</summary><pre>{_e(design.failure)}</pre></details>")  # fmt: skip
    order = (
        "all designs at once, under the one schedule" if scenario.concurrent else "one design after another"
    )
    return (
        f'<section id="{_e(slug(scenario.name))}"><h2>{_e(scenario.name)}: {_e(scenario.title)}</h2>'
        '<dl class="facts">'
        f"<dt>workload</dt><dd>{_e(scenario.workload)}</dd>"
        f"<dt>fault</dt><dd>{_e(scenario.fault)}</dd>"
        f"<dt>phases</dt><dd>{_phases(scenario)}</dd>"
        f"<dt>ran</dt><dd>{_e(order)}, {scenario.duration_s:g} s each</dd>"
        "</dl>"
        + _scenario_table(scenario)
        + "".join(accounts)
        + _figures(plots, out, scenario.name)
        + "</section>"
    )


def _programming_model(results: Results) -> str:
    """Rows are designs (or families), columns what the workloads could express with them."""
    rows = results.programming_model
    if not rows:
        return '<h2 id="programming-model">Programming model</h2><p class="dim">Not recorded in this run.</p>'
    label_key = next((k for k in ("design", "family") if k in rows[0]), None)
    features: list[str] = []
    for row in rows:
        features += [k for k in row if k != label_key and k not in features]
    head = "".join(f"<th>{_e(f)}</th>" for f in features)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{"dim" if str(row.get(f, "")).lower().startswith("no") else ""}">{_e(row.get(f, "—"))}</td>'
            for f in features
        )
        body.append(f"<tr><th>{_e(row.get(label_key, '')) if label_key else ''}</th>{cells}</tr>")
    return (
        '<h2 id="programming-model">Programming model</h2>'
        '<p class="dim">What each design let the workloads express, as they ran (not typed in).</p>'
        f"<table><thead><tr><th>{_e(label_key or '')}</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def render(results: Results, plots: dict[str, list[str]], out: Path) -> str:
    """The page as a string; `plots` is scenario name -> its PNG file names in `out`."""
    body = [
        _header(results),
        _summary(results),
        _claims(results, out),
        *(_scenario(s, plots.get(s.name, []), out) for s in results.scenarios),
        _programming_model(results),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>dsql compare · {_e(results.started_at)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_report(results: Results, out: Path) -> Path:
    """Draw the plots into `out` and write `out/index.html`; returns the page's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots = plot_all(results, out)
    page = out / "index.html"
    page.write_text(render(results, plots, out), encoding="utf-8")
    return page


def main(argv: list[str] | None = None) -> int:
    """`python -m compare.report DIR`: redraw DIR/index.html and its plots from DIR/results.json."""
    parser = argparse.ArgumentParser(prog="python -m compare.report", description=main.__doc__)
    parser.add_argument("dir", type=Path, help="a `dsql compare --out` directory holding results.json")
    args = parser.parse_args(argv)
    source = args.dir / "results.json"
    if not source.is_file():
        print(f"compare.report: no results.json in {args.dir}", file=sys.stderr)
        return 2
    page = write_report(Results.load(source), args.dir)
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
