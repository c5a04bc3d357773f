"""`dsql compare`: run the scenarios against every design, check the histories, report.

    dsql compare [--quick] [--scenario NAME ...] [--seed N] [--out DIR] [--cluster DIR]

Starts a 5-host cluster (`compare.cluster`; or adopts the one running in
`--cluster DIR`), runs each scenario (`compare.scenarios`, `compare.copies`)
with every design's clients at once under the scenario's fault schedule,
checks every history, judges each claim of the comparison from what was
measured (`compare.claims`), prints a summary table and writes
`DIR/results.json` (`compare.results`), every history
(`DIR/<scenario>-<design>.jsonl`, re-checkable with `python -m checker`),
the plots and `DIR/index.html` (`compare.report`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console

from compare import claims, report
from compare.cluster import CompareCluster
from compare.copies import SCENARIOS as COPY_SCENARIOS
from compare.options import SCENARIOS as SCENARIO_NAMES
from compare.phases import Context
from compare.results import Results, ScenarioResult
from compare.scenarios import AZS
from compare.scenarios import SCENARIOS as WORKLOAD_SCENARIOS
from compare.tables import claims_table, scenario_table

SCENARIOS = {**WORKLOAD_SCENARIOS, **COPY_SCENARIOS}
assert tuple(SCENARIOS) == SCENARIO_NAMES, "compare.options names the scenarios compare.run runs"
# boto3 blocks, so DynamoDB clients run in threads: enough of them that no client waits for a thread.
THREADS = 64


async def run_scenarios(ctx: Context, names: list[str]) -> tuple[list[ScenarioResult], dict[str, str]]:
    """Each scenario in turn; one that fails is reported and the next one runs (the cluster is
    healed after every scenario, whatever happened)."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(THREADS, thread_name_prefix="compare"))
    found, failed = [], {}
    for name in names:
        started = time.monotonic()
        try:
            scenario = await SCENARIOS[name](ctx)
        except Exception as exc:  # noqa: BLE001 -- a scenario's failure is a finding to report, not the end
            failed[name] = f"{type(exc).__name__}: {exc}"
            ctx.console.print(f"[bold red]{name} failed[/bold red] after {time.monotonic() - started:.0f} s: "
                              f"{failed[name]}")  # fmt: skip
            continue
        ctx.console.print(f"[bold]{name}[/bold] done in {time.monotonic() - started:.0f} s")
        ctx.console.print(scenario_table(scenario))
        found.append(scenario)
    return found, failed


def main(args: argparse.Namespace) -> int:
    console = Console(width=max(Console().width, 140))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        if not (out / "results.json").exists():
            console.print(f"dsql compare: no {out / 'results.json'} to draw a report from")
            return 2
        results = Results.load(out / "results.json")
        console.print(f"dsql compare: report in {report.write_report(results, out)}")
        return 0
    names = args.scenario or list(SCENARIOS)
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown:
        console.print(f"dsql compare: unknown scenario(s) {', '.join(unknown)}; there are: {', '.join(SCENARIOS)}")
        return 2
    cluster = CompareCluster(args.cluster or out / "cluster")
    started = time.monotonic()
    results = Results(seed=args.seed, quick=args.quick,
                      started_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))  # fmt: skip
    if args.cluster:
        cluster.adopt()
    else:
        with console.status("starting a 5-host cluster (dsql cluster up --hosts 5)"):
            cluster.up()
    try:
        results.cluster = cluster.describe(AZS)
        ctx = Context(cluster, args.seed, args.quick, out, console)
        results.scenarios, results.failed = asyncio.run(run_scenarios(ctx, names))
    finally:
        if not args.cluster:
            with console.status("stopping the cluster"):
                cluster.down()
    results.seconds = round(time.monotonic() - started, 1)
    results.claims = claims.judge(results)
    results.programming_model = claims.programming_model(results)
    results.save(out / "results.json")
    console.print(claims_table(results.claims))
    page = report.write_report(results, out)
    console.print(f"dsql compare: {len(results.scenarios)} scenarios in {results.seconds:.0f} s; "
                  f"results in {out / 'results.json'}, report in {page}")  # fmt: skip
    if results.failed:
        console.print(f"dsql compare: {len(results.failed)} scenario(s) failed: {', '.join(results.failed)}")
        return 1
    return 0
