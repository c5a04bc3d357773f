"""How `dsql compare` turns histories into figures and figures into verdicts (no cluster needed).

`compare.analysis.fill` on a history recorded with a hand-driven clock: operations land in the
phase in which they were invoked, latencies are of the successful ones, time spent on failed
ones is "blocked", throughput and the longest wait are per phase. `compare.claims.judge` on
hand-made results: each rule gives "holds" when the figures point its way, "contradicted" when
they point the other way, "not measured" when its scenario did not run; the programming-model
table merges what each design family recorded.
"""

from __future__ import annotations

from checker.history import History, pair
from compare import claims
from compare.analysis import fill, success_rate, throughput_kept
from compare.results import DesignResult, Results, ScenarioResult

S = 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def test_fill_puts_each_operation_in_the_phase_it_was_invoked_in() -> None:
    clock = Clock()
    history = History(clock)
    # before (0-10 s): two reads ok, 10 ms each
    for start in (1, 2):
        clock.now = start * S
        handle = history.invoke(0, "read", ("k", None))
        clock.now += 10_000_000
        handle.ok(("k", (1,)))
    # partition (10-20 s): a write waits 4 s and ends unknown, a read ok in 100 ms
    clock.now = 11 * S
    write = history.invoke(1, "write", ("k", 2))
    clock.now = 15 * S
    write.info("timed out")
    clock.now = 16 * S
    read = history.invoke(0, "read", ("k", None))
    clock.now += 100_000_000
    read.ok(("k", (2,)))
    result = DesignResult("d", "dsql")
    fill(result, pair(history.ops), [("before", 0), ("partition", 10 * S)], 0, 20 * S)
    assert result.ops == {"before": {"read ok": 2}, "partition": {"write info": 1, "read ok": 1}}
    assert result.latency["before"]["read"].p50_ms == 10.0
    assert result.latency["partition"]["read"].p99_ms == 100.0
    assert "write" not in result.latency["partition"], "only successful operations have a latency"
    assert result.metrics["blocked_s"] == {"partition": 4.0}
    assert result.metrics["ok_per_s"] == {"before": 0.2, "partition": 0.1}
    assert result.metrics["longest_wait_s"] == {"before": 0.01, "partition": 4.0}
    assert success_rate(result, "partition") == 0.5
    assert throughput_kept(result, "partition", "before") == 0.5
    ok = dict((t, v) for t, v in result.series["ok_per_s"])
    assert ok[1.0] == 2.0 and ok[2.0] == 2.0 and ok[16.0] == 2.0, "one ok per half-second bucket"


def _register(dynamo_stale: int, strong_stale: int, eventual_stale: int) -> ScenarioResult:
    def design(name: str, family: str, stale: int, siblings: int = 0) -> DesignResult:
        return DesignResult(name, family, ops={"partition": {"read ok": 10}},
                            metrics={"linearizable": stale == 0 and siblings == 0, "stale_reads": stale,
                                     "sibling_reads": siblings, "stale_reads_by_phase": {}})  # fmt: skip

    return ScenarioResult("register", "", "", "", [("before", 0.0), ("partition", 5.0)], 10.0, [
        design("dynamo (3,2,2)", "dynamo", dynamo_stale, siblings=dynamo_stale),
        design("dynamodb eventual", "dynamodb", eventual_stale),
        design("dynamodb strong", "dynamodb", strong_stale),
        design("dsql", "dsql", 0),
    ])  # fmt: skip


def _verdicts(results: Results) -> dict[str, str]:
    return {claim.id: claim.verdict for claim in claims.judge(results)}


def test_consistency_claims_follow_the_register_figures() -> None:
    holds = _verdicts(Results(1, True, "now", scenarios=[_register(5, 0, 3)]))
    assert holds["consistency-dynamo"] == "holds"
    assert holds["consistency-dynamodb"] == "holds"
    assert holds["consistency-dsql"] == "holds"
    against = _verdicts(Results(1, True, "now", scenarios=[_register(0, 2, 0)]))
    assert against["consistency-dynamo"] == "contradicted", "Dynamo looked linearizable"
    assert against["consistency-dynamodb"] == "contradicted", "strong reads were stale, eventual never"
    assert holds["durability-scaling"] == "not measured", "no scaling scenario ran"


def test_scaling_holds_only_when_dynamo_dips_and_replica_groups_do_not() -> None:
    def run(dynamo_min: int, groups_min: int) -> str:
        scenario = ScenarioResult("scaling", "", "", "", [("before", 0.0)], 10.0, [
            DesignResult("dynamo (3,2,2)", "dynamo", metrics={"min_copies": dynamo_min}),
            DesignResult("replica groups (dsql, dynamodb)", "dsql", metrics={"min_copies": groups_min}),
        ])  # fmt: skip
        return _verdicts(Results(1, True, "now", scenarios=[scenario]))["durability-scaling"]

    assert run(2, 3) == "holds"
    assert run(2, 2) == "partly"
    assert run(3, 2) == "contradicted"


def test_bank_transactions_must_conserve_money_and_dynamo_may_not() -> None:
    def bank(dsql_total: int, dynamo_total: int) -> ScenarioResult:
        def design(name: str, family: str, total: int) -> DesignResult:
            return DesignResult(name, family, metrics={"wrong_totals": 0 if total == 500 else 3,
                                                       "final_total": total, "expected_total": 500})  # fmt: skip

        return ScenarioResult("bank", "", "", "", [("before", 0.0)], 10.0, [
            design("dynamo (3,2,2)", "dynamo", dynamo_total), design("dsql", "dsql", dsql_total)])  # fmt: skip

    assert _verdicts(Results(1, True, "now", scenarios=[bank(500, 531)]))["programming-model"] == "holds"
    assert _verdicts(Results(1, True, "now", scenarios=[bank(499, 531)]))["programming-model"] == "partly"
    # Dynamo keeping the total shows nothing either way (it may have been lucky): not counted against.
    assert _verdicts(Results(1, True, "now", scenarios=[bank(500, 500)]))["programming-model"] == "holds"


def test_the_programming_model_table_merges_what_each_family_recorded() -> None:
    scenario = ScenarioResult("bank", "", "", "", [("before", 0.0)], 10.0, [
        DesignResult("dynamodb transact", "dynamodb", expresses={"multi-key atomic writes": "TransactWriteItems (7 ok)"}),
        DesignResult("dynamodb single-item", "dynamodb",
                     expresses={"multi-key atomic writes": "not used: two UpdateItem calls (2 ok)"}),
        DesignResult("dsql", "dsql", expresses={"interactive transactions": "BEGIN … COMMIT (4 ok)"}),
    ])  # fmt: skip
    other = ScenarioResult("list-append", "", "", "", [("before", 0.0)], 10.0, [
        DesignResult("dynamodb transact", "dynamodb", expresses={"multi-key atomic writes": "TransactWriteItems (3 ok)"}),
    ])  # fmt: skip
    rows = {row["design"]: row for row in claims.programming_model(Results(1, True, "now", scenarios=[scenario, other]))}
    assert set(rows) == {"dynamodb", "dsql"}, "a family that did not run has no row"
    assert rows["dynamodb"]["multi-key atomic writes"] == (
        "TransactWriteItems (10 ok); not used: two UpdateItem calls (2 ok)")
    assert rows["dsql"]["interactive transactions"] == "BEGIN … COMMIT (4 ok)"
    assert rows["dsql"]["multi-key atomic writes"] == "not exercised"
