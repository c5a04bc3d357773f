"""The PNG plots of a `dsql compare` report, drawn from a `Results` alone.

Each kind of plot has one function that takes the results and an output
directory and returns the names of the files it wrote there; `plot_all`
runs them all and groups the names by scenario for the report. File names
are fixed by `plot_file` (`<scenario>-<kind>.png`) so that a claim
(`Claim.plots`) can name a plot before it is drawn.

Every plot is read beside the others, so the things a reader matches by eye
are kept the same everywhere: a design has one colour in every plot
(`design_colour`: Dynamo warm, DynamoDB blue, DSQL green), time runs along
x in seconds since the scenario's start, and the phases of the fault
schedule are shaded and named the same way on every time axis.

matplotlib runs on its Agg backend (files only, no display): the report is
written on servers and in CI.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on a server or in CI

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from compare.results import FAMILIES, DesignResult, Results, ScenarioResult  # noqa: E402

DPI = 110
# 900 x 420 px at DPI: wide enough for a minute of seconds, low enough for two plots a screen.
SIZE_IN = (900 / DPI, 420 / DPI)
# The timeline has one panel per design family; each needs its own height to stay legible.
TIMELINE_PANEL_IN = 190 / DPI

# Series drawn by the timeline plot; every other series gets a plot of its own.
THROUGHPUT_SERIES = ("ok_per_s", "fail_per_s")
# Phases in which nothing is being done to the cluster: left unshaded so the faults stand out.
CALM_PHASES = frozenset({"before", "after", "calm", "warm-up", "warmup", "healed", "recovered", "steady"})
FAULT_SHADE = "#f4a582"
FAULT_ALPHA = 0.22

# One colour per design, the same in every plot: families by hue (Dynamo warm,
# DynamoDB blue/purple, DSQL green), settings within a family by shade.
DESIGN_COLOURS = {
    "dynamo (3,2,2)": "#d95f02",
    "dynamo (3,1,1)": "#e7298a",
    "dynamo (3,3,3)": "#a6761d",
    "dynamodb eventual": "#6baed6",
    "dynamodb strong": "#2166ac",
    "dynamodb transact": "#7570b3",
    "dsql": "#1b9e77",
}
# For a design not in the map: a stable pick (by a checksum of its name, not
# Python's salted hash) from colours unused above, so reruns keep colours.
_SPARE_COLOURS = ("#66a61e", "#e6ab02", "#666666", "#8c510a", "#01665e", "#c51b7d", "#4d4d4d", "#b2182b")

SERIES_TITLES = {
    "copies_min": "Fewest up-to-date copies of a key",
    "copies_min_anywhere": "Fewest up-to-date copies of a key, any node",
    "keys_below_n": "Keys short of N = 3 up-to-date copies",
    "total": "Bank total (sum of all balances read)",
    "stale_per_s": "Stale reads per second",
    "siblings_per_s": "Reads that returned siblings, per second",
    "lag_ms": "Replica lag (ms)",
}
SERIES_YLABELS = {"copies_min": "copies", "copies_min_anywhere": "copies", "keys_below_n": "keys", "total": "total",
                  "lag_ms": "ms"}  # fmt: skip

_PLAIN = FuncFormatter(lambda value, _: f"{value:g}")
# Minor ticks of a log axis: label 2, 3 and 5 of each decade only, so labels never collide.
_PLAIN_MINOR = FuncFormatter(lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "235" else "")


def design_colour(design: str) -> str:
    """The colour `design` has in every plot."""
    if design in DESIGN_COLOURS:
        return DESIGN_COLOURS[design]
    return _SPARE_COLOURS[zlib.crc32(design.encode()) % len(_SPARE_COLOURS)]


def slug(text: str) -> str:
    """A file-name-safe form of a scenario or series name."""
    kept = "".join(c if c.isalnum() else "-" for c in text.lower())
    while "--" in kept:
        kept = kept.replace("--", "-")
    return kept.strip("-") or "x"


def plot_file(scenario: str, kind: str) -> str:
    """The file name of a plot: kind is "timeline", "latency", "anomalies" or a series name."""
    return f"{slug(scenario)}-{slug(kind)}.png"


def phase_spans(scenario: ScenarioResult) -> list[tuple[str, float, float]]:
    """(phase, start s, end s) for each phase; the last ends at the scenario's duration."""
    spans = []
    for i, (name, start) in enumerate(scenario.phases):
        end = scenario.phases[i + 1][1] if i + 1 < len(scenario.phases) else scenario.duration_s
        spans.append((name, float(start), float(max(end, start))))
    return spans


def _shade_phases(ax: Axes, scenario: ScenarioResult) -> None:
    """Shade the fault phases and name every phase along the top of the panel."""
    for name, start, end in phase_spans(scenario):
        if name not in CALM_PHASES:
            ax.axvspan(start, end, color=FAULT_SHADE, alpha=FAULT_ALPHA, lw=0, zorder=0)
        if start > 0:
            ax.axvline(start, color="#888888", lw=0.8, ls=":", zorder=1)
        if end > start:
            ax.text((start + end) / 2, 0.98, name, transform=ax.get_xaxis_transform(), ha="center", va="top",
                    fontsize=8, color="#444444", clip_on=True)  # fmt: skip


def _plain(text: str) -> str:
    """`text` as matplotlib shows it literally: a "$" in a design name would otherwise start mathtext."""
    return text.replace("$", r"\$")


def _save(fig: Figure, out: Path, name: str) -> str:
    fig.savefig(out / name, dpi=DPI)
    plt.close(fig)
    return name


def _designs_with(scenario: ScenarioResult, series: str) -> list[DesignResult]:
    return [d for d in scenario.designs if d.series.get(series)]


def _xy(points: Iterable[list[float]]) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for point in points:
        xs.append(float(point[0]))
        ys.append(float(point[1]))
    return xs, ys


def _finish_time_axis(ax: Axes, scenario: ScenarioResult) -> None:
    if scenario.duration_s > 0:
        ax.set_xlim(0, scenario.duration_s)
    ax.grid(True, color="#e5e5e5", lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)


def timeline_plots(scenario: ScenarioResult, out: Path) -> list[str]:
    """Operations per second of each design over time, one panel per design family.

    Successes are solid lines, failures (`fail_per_s`) the same colour dashed
    and faint: a fault shows as the solid line dropping and the faint one
    rising in the shaded phase.
    """
    designs = _designs_with(scenario, "ok_per_s")
    if not designs:
        return []
    families = [f for f in FAMILIES if any(d.family == f for d in designs)]
    families += sorted({d.family for d in designs} - set(families))
    fig, axes = plt.subplots(len(families), 1, sharex=True, squeeze=False,
                             figsize=(SIZE_IN[0], 0.9 + TIMELINE_PANEL_IN * len(families)))  # fmt: skip
    for ax, family in zip(axes[:, 0], families, strict=True):
        _shade_phases(ax, scenario)
        for design in (d for d in designs if d.family == family):
            colour = design_colour(design.design)
            ax.plot(
                *_xy(design.series["ok_per_s"]), color=colour, lw=1.6, label=_plain(f"{design.design} ok")
            )
            if design.series.get("fail_per_s"):
                ax.plot(*_xy(design.series["fail_per_s"]), color=colour, lw=1.0, ls="--", alpha=0.45,
                        label=_plain(f"{design.design} failed"))  # fmt: skip
        ax.set_ylabel(f"{family}\nops/s", fontsize=9)
        ax.set_ylim(bottom=0, top=max(1.0, ax.get_ylim()[1]) * 1.15)  # headroom for the phase names
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
        _finish_time_axis(ax, scenario)
    axes[-1, 0].set_xlabel("seconds since the scenario started")
    fig.suptitle(f"{_plain(scenario.name)}: operations per second per design (faint dashed: failed; shaded: fault)",
                 fontsize=11)  # fmt: skip
    fig.tight_layout()
    return [_save(fig, out, plot_file(scenario.name, "timeline"))]


def plot_timeline(results: Results, out: Path) -> list[str]:
    """`timeline_plots` for every scenario."""
    return [name for scenario in results.scenarios for name in timeline_plots(scenario, out)]


def latency_plots(scenario: ScenarioResult, out: Path) -> list[str]:
    """If the designs measured latency: p50 (solid) and p99 (pale, behind) per design per phase, log scale.

    One panel per operation ("read", "write", "transfer"...): their latencies
    differ by design, and mixing them in one bar would hide that.
    """
    designs = [d for d in scenario.designs if any(p.n for by_f in d.latency.values() for p in by_f.values())]
    if not designs:
        return []
    phases = [name for name, _ in scenario.phases]
    for d in designs:
        phases += [p for p in d.latency if p not in phases]
    ops = sorted({f for d in designs for by_f in d.latency.values() for f in by_f})
    fig, axes = plt.subplots(1, len(ops), figsize=SIZE_IN, squeeze=False, sharey=True)
    width = 0.8 / len(designs)
    for ax, f in zip(axes[0], ops, strict=True):
        for i, design in enumerate(designs):
            xs, p50, p99 = [], [], []
            for j, phase in enumerate(phases):
                got = design.latency.get(phase, {}).get(f)
                if got is None or got.n == 0:
                    continue
                xs.append(j - 0.4 + width * (i + 0.5))
                p50.append(max(got.p50_ms, 1e-3))  # log scale: a zero would vanish
                p99.append(max(got.p99_ms, 1e-3))
            colour = design_colour(design.design)
            ax.bar(xs, p99, width * 0.92, color=colour, alpha=0.35, zorder=2)
            ax.bar(xs, p50, width * 0.92, color=colour, zorder=3, label=_plain(design.design))
        ax.set_yscale("log")
        # Plain milliseconds ("2", "10", "60"), not matplotlib's "2 x 10^0": read at a glance.
        ax.yaxis.set_major_formatter(_PLAIN)
        ax.yaxis.set_minor_formatter(_PLAIN_MINOR)
        ax.set_xticks(range(len(phases)), phases, fontsize=9)
        ax.set_title(f"{f}", fontsize=10)
        ax.grid(True, axis="y", which="major", color="#e5e5e5", lw=0.6, zorder=0)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0, 0].set_ylabel("latency of successful ops (ms, log)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes[0, 1:]:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    fig.legend(handles, labels, loc="center right", fontsize=8, frameon=False)
    fig.suptitle(f"{_plain(scenario.name)}: latency per phase, p50 (solid) and p99 (pale)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    return [_save(fig, out, plot_file(scenario.name, "latency"))]


def plot_latency(results: Results, out: Path) -> list[str]:
    """`latency_plots` for every scenario."""
    return [name for scenario in results.scenarios for name in latency_plots(scenario, out)]


def series_plots(scenario: ScenarioResult, out: Path) -> list[str]:
    """One plot per other series name (`copies_min`, `total`, ...), one line per design.

    `total` gets the expected total (`metrics["expected_total"]`) as a dashed
    line: a bank whose line leaves it has created or destroyed money.
    """
    written = []
    names: list[str] = []
    for d in scenario.designs:
        names += [n for n in d.series if n not in THROUGHPUT_SERIES and n not in names]
    for name in names:
        fig, ax = plt.subplots(figsize=SIZE_IN)
        _shade_phases(ax, scenario)
        # Lines that coincide (every Paxos design at 3 copies) would hide each other:
        # each design is drawn thinner than the one before, so the ones beneath still show.
        designs = _designs_with(scenario, name)
        for i, design in enumerate(designs):
            ax.plot(*_xy(design.series[name]), color=design_colour(design.design), zorder=2 + i,
                    lw=max(1.2, 5.0 - 1.3 * i), label=_plain(design.design), drawstyle="steps-post")  # fmt: skip
        if all(float(v).is_integer() for d in designs for _, v in d.series[name]):
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # copies, counts: no "2.5 copies"
        expected = next((d.metrics["expected_total"] for d in scenario.designs
                         if "expected_total" in d.metrics), None)  # fmt: skip
        if name == "total" and expected is not None:  # on top, with gaps the lines beneath show through
            ax.axhline(float(expected), color="#222222", lw=1.0, ls=(0, (4, 4)), zorder=3 + len(designs),
                       label=f"expected ({expected:g})")  # fmt: skip
        low, high = ax.get_ylim()
        ax.set_ylim(low, high + (high - low) * 0.12)  # headroom for the phase names
        ax.set_xlabel("seconds since the scenario started")
        ax.set_ylabel(SERIES_YLABELS.get(name, name.replace("_", " ")))
        ax.set_title(f"{_plain(scenario.name)}: {SERIES_TITLES.get(name, name.replace('_', ' '))} over time, per design",
                     fontsize=11)  # fmt: skip
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
        _finish_time_axis(ax, scenario)
        fig.tight_layout()
        written.append(_save(fig, out, plot_file(scenario.name, name)))
    return written


def plot_series(results: Results, out: Path) -> list[str]:
    """`series_plots` for every scenario."""
    return [name for scenario in results.scenarios for name in series_plots(scenario, out)]


def anomalies_plots(scenario: ScenarioResult, out: Path) -> list[str]:
    """If designs counted `metrics["anomalies"]`: the count of each anomaly, one bar per design.

    Every design of the scenario gets its place, and a 0 written where it saw
    none, so that "no anomalies" reads as measured rather than as missing.
    """
    designs = [d for d in scenario.designs if isinstance(d.metrics.get("anomalies"), dict)]
    if not designs:
        return []
    names: list[str] = []
    for d in designs:
        names += [n for n in d.metrics["anomalies"] if n not in names]
    if not names:
        names = ["(none found)"]
    fig, ax = plt.subplots(figsize=SIZE_IN)
    width = 0.8 / len(designs)
    top = max([int(c) for d in designs for c in d.metrics["anomalies"].values()] + [1])
    for i, design in enumerate(designs):
        xs = [j - 0.4 + width * (i + 0.5) for j in range(len(names))]
        counts = [int(design.metrics["anomalies"].get(n, 0)) for n in names]
        ax.bar(
            xs,
            counts,
            width * 0.92,
            color=design_colour(design.design),
            label=_plain(design.design),
            zorder=2,
        )
        for x, count in zip(xs, counts, strict=True):
            ax.text(x, count + top * 0.01, str(count), ha="center", va="bottom", fontsize=7, color="#333333")
    ax.set_xticks(range(len(names)), names, fontsize=9)
    ax.set_ylim(0, top * 1.12)
    ax.set_ylabel("anomalies found")
    ax.set_title(
        f"{_plain(scenario.name)}: anomalies the checker found in each design's history", fontsize=11
    )
    ax.grid(True, axis="y", color="#e5e5e5", lw=0.6, zorder=0)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    return [_save(fig, out, plot_file(scenario.name, "anomalies"))]


def plot_anomalies(results: Results, out: Path) -> list[str]:
    """`anomalies_plots` for every scenario."""
    return [name for scenario in results.scenarios for name in anomalies_plots(scenario, out)]


def plot_all(results: Results, out: Path) -> dict[str, list[str]]:
    """Draw every plot into `out`; scenario name -> the files drawn for it, in reading order."""
    out.mkdir(parents=True, exist_ok=True)
    return {
        scenario.name: timeline_plots(scenario, out) + series_plots(scenario, out)
        + latency_plots(scenario, out) + anomalies_plots(scenario, out)
        for scenario in results.scenarios
    }  # fmt: skip
