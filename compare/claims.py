"""The claims of the comparison, each judged from what the run measured.

Each claim is quoted as the comparison states it (issue 12, from the
DSQL, DynamoDB and Dynamo papers and talks) and given a verdict by a rule
over the run's results: "holds" when every measurement the claim rests on
points its way, "contradicted" when one points the other way, "partly" when
they disagree, "not measured" when the scenarios it needs did not run (or
produced nothing to judge). The rules are written out below, next to each
claim, so a reader can check a verdict against the figures beside it.

The programming-model table is built the same way: from the mechanisms the
designs recorded as they ran (`DesignResult.expresses`), never typed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from compare.analysis import success_rate, throughput_kept
from compare.designs import FEATURES
from compare.plots import plot_file
from compare.results import Claim, DesignResult, Results, ScenarioResult

STRONG = ("dynamodb strong", "dsql")
# A design counts as available through a fault when at least this share of the operations
# invoked during it succeeded, at no less than this share of its throughput before the fault.
AVAILABLE = 0.95
THROUGHPUT_KEPT = 0.5


def _scenario(results: Results, name: str) -> ScenarioResult | None:
    return next((s for s in results.scenarios if s.name == name), None)


def _design(scenario: ScenarioResult | None, name: str) -> DesignResult | None:
    if scenario is None:
        return None
    return next((d for d in scenario.designs if d.design == name), None)


def _verdict(points: Iterable[bool | None]) -> str:
    known = [p for p in points if p is not None]
    if not known:
        return "not measured"
    if all(known):
        return "holds"
    if not any(known):
        return "contradicted"
    return "partly"


def _plots(scenario: str, *kinds: str) -> list[str]:
    return [plot_file(scenario, kind) for kind in kinds]


def _count(d: DesignResult | None, key: str) -> int | None:
    return None if d is None or d.metrics.get(key) is None else int(d.metrics[key])


# -- durability -------------------------------------------------------------------------


def _scaling(results: Results) -> Claim:
    s = _scenario(results, "scaling")
    dynamo = _design(s, "dynamo (3,2,2)")
    groups = _design(s, "replica groups (dsql, dynamodb)")
    low = _count(dynamo, "min_copies")
    group_low = _count(groups, "min_copies")
    measured = (f"Minimum up-to-date copies of any key while a host was added and another removed under load: "
                f"Dynamo {low if low is not None else 'n/a'} of 3; DSQL/DynamoDB replica groups "
                f"{group_low if group_low is not None else 'n/a'} of 3.")  # fmt: skip
    return Claim(
        "durability-scaling", "durability",
        "Dynamo replicates each key on the N successors in its ring, so scaling up or down changes a key's "
        "replicas and lowers its durability until handoff completes; DynamoDB and DSQL replicate with Paxos in "
        "replica groups (DSQL in a separate journal) and scale by splitting or moving replica groups with no "
        "drop in the number of copies.",
        measured,
        # Holds when Dynamo's minimum fell below N and the replica groups' never did.
        _verdict([None if low is None else low < 3, None if group_low is None else group_low >= 3]),
        ["scaling/dynamo (3,2,2)", "scaling/replica groups (dsql, dynamodb)"], _plots("scaling", "copies_min"),
    )  # fmt: skip


def _unread(results: Results) -> Claim:
    s = _scenario(results, "unread-keys")
    off = _design(s, "dynamo, anti-entropy off")
    on = _design(s, "dynamo, anti-entropy on")
    groups = _design(s, "replica groups (dsql, dynamodb)")
    below_off = _count(off, "keys_below_n_at_end")
    parts = []
    if off is not None:
        parts.append(f"with anti-entropy off, {below_off} of {off.metrics.get('keys')} never-read keys still had "
                     f"fewer than 3 copies after {off.metrics.get('watched_s')} s")  # fmt: skip
    if on is not None:
        parts.append(f"with it on, every key had 3 copies again after {on.metrics.get('seconds_to_full_copies')} s")
    if groups is not None:
        parts.append(f"replica groups re-replicated a lost node's shards in "
                     f"{groups.metrics.get('seconds_to_full_copies')} s")  # fmt: skip
    full_on = on is not None and on.metrics.get("seconds_to_full_copies") is not None
    return Claim(
        "durability-unread", "durability",
        "With Dynamo, finding keys without enough copies is hard, and keys that are rarely read are left "
        "under-replicated unless anti-entropy runs (read repair only fixes what is read).",
        ("; ".join(parts) + ".") if parts else "The unread-keys scenario did not run.",
        # Holds when, with no reads, keys stayed under-replicated without anti-entropy and recovered with it.
        _verdict([None if below_off is None else below_off > 0, None if on is None else full_on]),
        ["unread-keys/dynamo, anti-entropy off", "unread-keys/dynamo, anti-entropy on"],
        _plots("unread-keys", "copies_min"),
    )  # fmt: skip


def _host_loss(results: Results) -> Claim:
    s = _scenario(results, "host-loss")
    lost = {d.design: d.metrics.get("lost_writes") for d in s.designs} if s else {}
    acked = {d.design: d.metrics.get("acked_writes") for d in s.designs} if s else {}
    measured = "; ".join(f"{name}: {lost[name]} of {acked[name]} acknowledged writes lost" for name in lost)
    return Claim(
        "durability-host-loss", "durability",
        "An acknowledged write survives the loss of a host in every design (DSQL: the commit is in a "
        "majority of journal replicas before it is acknowledged).",
        (measured + ".") if measured else "The host-loss scenario did not run.",
        # Holds when no design lost an acknowledged write.
        _verdict([None if v is None else v == 0 for v in lost.values()]),
        [f"host-loss/{name}" for name in lost], _plots("host-loss", "timeline"),
    )  # fmt: skip


# -- consistency ------------------------------------------------------------------------


def _dynamo_consistency(results: Results) -> Claim:
    s = _scenario(results, "register")
    d = _design(s, "dynamo (3,2,2)")
    stale, siblings = _count(d, "stale_reads"), _count(d, "sibling_reads")
    linear = None if d is None else d.metrics.get("linearizable")
    measured = ("Dynamo (3,2,2) (R + W > N): " + (f"{stale} stale reads, {siblings} reads returning siblings, "
                f"linearizable: {linear}." if d is not None else "not run."))  # fmt: skip
    return Claim(
        "consistency-dynamo", "consistency",
        "Dynamo is eventually consistent, even with R+W>N, once sloppy quorum lets writes and reads land on "
        "different nodes.",
        measured,
        # Holds when the (3,2,2) history under the partition is not linearizable or has stale/sibling reads.
        _verdict([None if d is None else (linear is False or (stale or 0) + (siblings or 0) > 0)]),
        ["register/dynamo (3,2,2)"], _plots("register", "timeline"),
    )  # fmt: skip


def _dynamodb_consistency(results: Results) -> Claim:
    s = _scenario(results, "register")
    strong, eventual = _design(s, "dynamodb strong"), _design(s, "dynamodb eventual")
    points: list[bool | None] = []
    parts = []
    if strong is not None:
        points.append(strong.metrics.get("linearizable") is True and strong.metrics.get("stale_reads") == 0)
        rate = success_rate(strong, "partition")
        parts.append(f"strong reads: linearizable {strong.metrics.get('linearizable')}, "
                     f"{strong.metrics.get('stale_reads')} stale, "
                     f"{'n/a' if rate is None else f'{rate:.0%}'} of operations succeeded during the partition "
                     "(a cut-off shard leader makes them wait for failover)")  # fmt: skip
    if eventual is not None:
        points.append((eventual.metrics.get("stale_reads") or 0) > 0)
        parts.append(f"eventual reads: {eventual.metrics.get('stale_reads')} stale "
                     f"(by phase: {eventual.metrics.get('stale_reads_by_phase')})")  # fmt: skip
    return Claim(
        "consistency-dynamodb", "consistency",
        "DynamoDB writes are strongly consistent, strong reads go to the leader only and eventual reads to any "
        "replica (cheaper, possibly stale).",
        ("; ".join(parts) + ".") if parts else "The register scenario did not run.",
        # Holds when strong reads are linearizable with no stale read and eventual reads were stale at least once.
        _verdict(points), ["register/dynamodb strong", "register/dynamodb eventual"], _plots("register", "timeline"),
    )  # fmt: skip


def _dsql_consistency(results: Results) -> Claim:
    register, bank, lists = (_design(_scenario(results, n), "dsql") for n in ("register", "bank", "list-append"))
    points: list[bool | None] = []
    parts = []
    if register is not None:
        points.append(register.metrics.get("linearizable") is True and register.metrics.get("stale_reads") == 0)
        rate = success_rate(register, "partition")
        parts.append(f"registers linearizable {register.metrics.get('linearizable')} with "
                     f"{register.metrics.get('stale_reads')} stale reads; "
                     f"{'n/a' if rate is None else f'{rate:.0%}'} of operations succeeded during the partition")  # fmt: skip
    if lists is not None:
        points.append(not lists.metrics.get("anomalies"))
        parts.append(f"list-append anomalies {lists.metrics.get('anomalies') or 'none'}")
    if bank is not None:
        points.append(bank.metrics.get("wrong_totals") == 0 and bank.metrics.get("final_total") == bank.metrics.get(
            "expected_total"))
        parts.append(f"bank: {bank.metrics.get('wrong_totals')} wrong totals, final total "
                     f"{bank.metrics.get('final_total')} of {bank.metrics.get('expected_total')}")  # fmt: skip
    return Claim(
        "consistency-dsql", "consistency",
        "DSQL gives strong consistency for every read and write, in interactive transactions, and strongly "
        "consistent reads can be served by any storage replica without blocking writers.",
        ("; ".join(parts) + ".") if parts else "No DSQL scenario ran.",
        # Holds when every DSQL history is free of anomalies: linearizable registers, no Elle anomaly, no bad total.
        _verdict(points), ["register/dsql", "list-append/dsql", "bank/dsql"],
        _plots("register", "timeline") + _plots("list-append", "anomalies"),
    )  # fmt: skip


# -- programming model ------------------------------------------------------------------


def _programming_model(results: Results) -> Claim:
    bank, lists = _scenario(results, "bank"), _scenario(results, "list-append")
    points: list[bool | None] = []
    parts = []
    for name in ("dynamo (3,2,2)", "dynamodb single-item", "dynamodb transact", "dsql"):
        d = _design(bank, name)
        if d is None:
            continue
        broken = (d.metrics.get("wrong_totals") or 0) > 0 or d.metrics.get("final_total") != d.metrics.get(
            "expected_total")
        parts.append(f"bank {name}: {d.metrics.get('wrong_totals')} wrong totals, final total "
                     f"{d.metrics.get('final_total')}")  # fmt: skip
        # Transactions (single-shot or interactive) must keep the total; Dynamo and single-item DynamoDB cannot
        # ensure it, which a broken total shows (an unbroken one shows nothing: they may have been lucky).
        if name in ("dynamo (3,2,2)", "dynamodb single-item"):
            points.append(True if broken else None)
        else:
            points.append(not broken)
    for name in ("dynamo (3,2,2)", "dynamodb transact", "dsql"):
        d = _design(lists, name)
        if d is None:
            continue
        anomalies = d.metrics.get("anomalies") or {}
        parts.append(f"list-append {name}: {', '.join(anomalies) or 'no anomaly'}")
        points.append((True if anomalies else None) if name.startswith("dynamo ") else not anomalies)
    return Claim(
        "programming-model", "programming model",
        "Dynamo offers single-key updates and no isolation; DynamoDB single-shot serializable transactions; "
        "DSQL interactive SQL transactions.",
        ("; ".join(parts) + ". The table below shows the mechanisms each design used.") if parts else
        "The bank and list-append scenarios did not run.",
        _verdict(points), [f"bank/{n}" for n in ("dynamo (3,2,2)", "dynamodb transact", "dsql")],
        _plots("bank", "total") + _plots("list-append", "anomalies"),
    )  # fmt: skip


# -- availability and latency -----------------------------------------------------------


def _availability(results: Results) -> Claim:
    az, loss = _scenario(results, "az"), _scenario(results, "host-loss")
    points: list[bool | None] = []
    parts = []
    for scenario, phase, baseline in ((az, "AZ c lost", "latency"), (loss, "host killed", "before")):
        for name in STRONG:
            d = _design(scenario, name)
            rate = None if d is None else success_rate(d, phase)
            kept = None if d is None else throughput_kept(d, phase, baseline)
            if rate is None or kept is None:
                continue
            wait = d.metrics.get("longest_wait_s", {}).get(phase, 0)
            parts.append(f"{name}, {phase}: {rate:.1%} of operations succeeded, at {kept:.0%} of the throughput "
                         f"before, the longest wait {wait} s")  # fmt: skip
            points.append(rate >= AVAILABLE and kept >= THROUGHPUT_KEPT)
    return Claim(
        "availability", "availability and latency",
        "Strongly consistent systems stay available through host and whole-AZ failures.",
        ("; ".join(parts) + ".") if parts else "The az and host-loss scenarios did not run.",
        # Holds when DSQL and DynamoDB strong each kept 95% success and half their throughput while a host or AZ
        # was lost.
        _verdict(points), [f"az/{n}" for n in STRONG] + [f"host-loss/{n}" for n in STRONG],
        _plots("az", "timeline", "latency") + _plots("host-loss", "timeline"),
    )  # fmt: skip


def _latency(results: Results) -> Claim:
    az = _scenario(results, "az")
    p50: dict[str, float] = {}
    for d in az.designs if az else []:
        by_f = d.latency.get("latency", {})
        if by_f:
            p50[d.design] = max(p.p50_ms for p in by_f.values())
    dynamo = p50.get("dynamo (3,2,2)")
    points = [None if dynamo is None or name not in p50 else p50[name] < dynamo for name in STRONG]
    measured = ", ".join(f"{name} {ms:.1f} ms" for name, ms in sorted(p50.items(), key=lambda kv: kv[1]))
    return Claim(
        "latency", "availability and latency",
        "DynamoDB and DSQL answer faster than Dynamo without its trade-offs.",
        (f"Median latency (the slower of read and write) with cross-AZ delays: {measured}. This measures this "
         "implementation on one machine: Python processes sharing two cores, not AWS's services.")
        if p50 else "The az scenario did not run.",
        # Holds when DSQL's and DynamoDB strong's medians are both below Dynamo (3,2,2)'s.
        _verdict(points), [f"az/{n}" for n in p50], _plots("az", "latency"),
    )  # fmt: skip


RULES: tuple[Callable[[Results], Claim], ...] = (
    _scaling, _unread, _host_loss, _dynamo_consistency, _dynamodb_consistency, _dsql_consistency,
    _programming_model, _availability, _latency,
)  # fmt: skip


def judge(results: Results) -> list[Claim]:
    return [rule(results) for rule in RULES]


def programming_model(results: Results) -> list[dict[str, str]]:
    """One row per design family: each feature as the family's designs expressed it in this run."""
    rows = []
    for family in ("dynamo", "dynamodb", "dsql"):
        merged: dict[str, dict[str, int]] = {}
        for scenario in results.scenarios:
            for d in scenario.designs:
                if d.family != family:
                    continue
                for feature, how in d.expresses.items():
                    for part in how.split("; "):
                        mechanism, _, count = part.rpartition(" (")
                        n = int(count.split()[0]) if count[:1].isdigit() else 0
                        merged.setdefault(feature, {})
                        merged[feature][mechanism] = merged[feature].get(mechanism, 0) + n
        if not merged:
            continue
        row = {"design": family}
        for feature in FEATURES:
            by_how = merged.get(feature)
            row[feature] = ("; ".join(f"{how} ({n} ok)" for how, n in sorted(by_how.items(), key=lambda kv: -kv[1]))
                            if by_how else "not exercised")  # fmt: skip
        rows.append(row)
    return rows
