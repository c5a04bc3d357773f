"""`dsql compare`: run the scenarios against every design, check the histories, report.

    dsql compare [--quick] [--scenario register] [--seed N] [--out DIR] [--cluster DIR]

Starts a 5-host cluster (`compare.cluster`; or adopts the one running in
`--cluster DIR`), runs each scenario once per design with the same clients,
seed and fault schedule, checks every history (`checker.linearizable` with
the sibling-register model, so Dynamo's siblings are judged as leniently as
a check allows and counted beside it), prints a summary table and writes
`DIR/results.json` and each run's history (`DIR/<scenario>-<design>.jsonl`,
re-checkable with `python -m checker linearizable FILE --keyed`).

Built so far (issue 12 goes on): the register scenario under a partition,
for Dynamo (3,2,2) and (3,1,1), DynamoDB with eventual and strong reads, and
DSQL. Per design: operations that succeeded, failed (certainly not done) or
were indeterminate, before, during and after the fault; reads that returned
siblings; stale reads; and the linearizability verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from checker import linearizable
from checker.history import OpType, pair
from compare.cluster import CompareCluster
from compare.dsql_design import DsqlDesign
from compare.dynamo_design import DynamoDesign
from compare.dynamodb_design import DynamoDBDesign
from compare.options import SCENARIOS
from compare.scenarios import DesignFactory, Run, Schedule, register_partition

DESIGNS: dict[str, DesignFactory] = {
    "dynamo (3,2,2)": lambda e: DynamoDesign(e.dynamo_url, n=3, r=2, w=2),
    "dynamo (3,1,1)": lambda e: DynamoDesign(e.dynamo_url, n=3, r=1, w=1),
    "dynamodb eventual": lambda e: DynamoDBDesign(e.dynamodb_url, consistent=False),
    "dynamodb strong": lambda e: DynamoDBDesign(e.dynamodb_url, consistent=True),
    "dsql": lambda e: DsqlDesign(e.dsn),
}
QUICK = Schedule(before_s=3.0, during_s=6.0, after_s=4.0)
FULL = Schedule(before_s=5.0, during_s=15.0, after_s=10.0)
CHECK_TIME_LIMIT_S = 20.0  # per key: past it the verdict is "unknown"


@dataclass
class Outcome:
    """What one design did in one scenario."""

    scenario: str
    design: str
    ops: dict[str, dict[str, int]] = field(default_factory=dict)  # phase -> "f type" -> count
    sibling_reads: int = 0
    stale_reads: int = 0
    linearizable: Any = None  # True, False or "unknown"
    failure: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def analyse(run: Run, scenario: str) -> Outcome:
    """Check one run's history and count what it shows."""
    done = pair(run.history.ops)
    outcome = Outcome(scenario, run.design)
    cut, healed = run.marks.get("partition"), run.marks.get("heal")
    for op in done:
        at = op.invoke.time_ns
        phase = (
            "before" if cut is None or at < cut else "during" if healed is None or at < healed else "after"
        )
        counts = outcome.ops.setdefault(phase, {})
        name = f"{op.f} {op.type.value}"
        counts[name] = counts.get(name, 0) + 1
    outcome.sibling_reads = sum(1 for op in done if op.f == "read" and op.type is OpType.OK
                                and len(op.completion.value[1]) > 1)  # fmt: skip
    result = linearizable.check(done, linearizable.sibling_register(()), keyed=True,
                                time_limit_s=CHECK_TIME_LIMIT_S)  # fmt: skip
    outcome.stale_reads = len(result.stale_reads)
    outcome.linearizable = result.valid
    if result.failures:
        outcome.failure = result.render(cases_max=1)
    return outcome


async def run_scenarios(cluster: CompareCluster, scenarios: list[str], designs: dict[str, DesignFactory], *,
                        schedule: Schedule, seed: int, out: Path, console: Console) -> list[Outcome]:  # fmt: skip
    outcomes = []
    for scenario in scenarios:
        for name, factory in designs.items():
            with console.status(f"{scenario}: {name} ({schedule.before_s + schedule.during_s + schedule.after_s:g} s, "
                                f"partition after {schedule.before_s:g} s)"):  # fmt: skip
                run = await register_partition(cluster, name, factory, schedule=schedule, seed=seed)
            run.history.dump(out / f"{scenario}-{_slug(name)}.jsonl")
            with console.status(f"{scenario}: checking {name}'s history ({len(run.history.ops)} events)"):
                outcome = await asyncio.to_thread(analyse, run, scenario)
            outcomes.append(outcome)
            console.print(f"{scenario}: {name}: linearizable {outcome.linearizable}, "
                          f"{outcome.stale_reads} stale reads, {outcome.sibling_reads} sibling reads")  # fmt: skip
    return outcomes


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def summary_table(outcomes: list[Outcome]) -> Table:
    table = Table(title="dsql compare: the same register workload and partition on every design")
    for column in ("scenario", "design", "ok / fail / unknown", "during the partition", "sibling reads",
                   "stale reads", "linearizable"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("scenario", "design") else "right")
    for o in outcomes:
        totals: Counter[str] = Counter()
        for counts in o.ops.values():
            for name, count in counts.items():
                totals[name.split()[1]] += count
        during = Counter()
        for name, count in o.ops.get("during", {}).items():
            during[name.split()[1]] += count
        table.add_row(
            o.scenario, o.design, f"{totals['ok']} / {totals['fail']} / {totals['info']}",
            f"{during['ok']} ok of {sum(during.values())}", str(o.sibling_reads), str(o.stale_reads),
            {True: "yes", False: "NO"}.get(o.linearizable, str(o.linearizable)),
        )  # fmt: skip
    return table


def main(args: argparse.Namespace) -> int:
    console = Console(width=max(Console().width, 130))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scenarios = args.scenario or list(SCENARIOS)
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        console.print(
            f"dsql compare: unknown scenario(s) {', '.join(unknown)}; built so far: {', '.join(SCENARIOS)}"
        )
        return 2
    cluster = CompareCluster(args.cluster or out / "cluster")
    started = time.monotonic()
    if args.cluster:
        cluster.adopt()
    else:
        with console.status("starting a 5-host cluster (dsql cluster up --hosts 5)"):
            cluster.up()
    try:
        outcomes = asyncio.run(run_scenarios(cluster, scenarios, DESIGNS, schedule=QUICK if args.quick else FULL,
                                             seed=args.seed, out=out, console=console))  # fmt: skip
    finally:
        if not args.cluster:
            cluster.down()
    console.print(summary_table(outcomes))
    results = {"seed": args.seed, "quick": args.quick, "seconds": round(time.monotonic() - started, 1),
               "outcomes": [o.as_dict() for o in outcomes]}  # fmt: skip
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    console.print(f"dsql compare: results in {out / 'results.json'}")
    return 0
