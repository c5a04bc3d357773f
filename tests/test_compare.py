"""`dsql compare --quick` end to end on five network-namespace hosts: the directions, never timings.

Every scenario runs once (in a few minutes); the test then asserts what the designs' guarantees
say must be seen, whatever the timing:

- register (a lagging replica, then h1 and h2 cut off): DSQL's and DynamoDB's strongly
  consistent reads linearizable with no stale read and no siblings; Dynamo (3,2,2), whose
  sloppy quorums let each side of the cut accept writes, shows stale reads or siblings;
  DynamoDB's eventual reads are stale at least once;
- bank and list-append: the designs with transactions (DynamoDB's TransactWriteItems, DSQL's
  interactive ones) show no anomaly and conserve money; Dynamo's read-modify-write may break
  the total (not asserted: it may also get lucky);
- host-loss: no acknowledged DSQL or DynamoDB write is lost;
- unread-keys: with anti-entropy off and nobody reading, a Dynamo node that lost its disk stays
  short of copies; with it on, every key gets its N copies back; the replica groups of a lost
  storage node are re-replicated;
- scaling: the replica groups never have fewer than N caught-up copies of any shard;
- the report: every claim has a verdict, the programming-model table comes from what ran, and
  headless Chromium loads every plot of the page.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.chromium import ChromiumMissing, headless_chromium, not_loaded, open_and_list_images

from assembly import hosts as host_network

pytestmark = pytest.mark.slow

if host_network.available() is not None:  # CI runs as root with the packages .ci/run installs
    pytest.fail(f"network namespaces are needed: {host_network.available()}", pytrace=False)

STRONG = ("dsql", "dynamodb strong")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    out = tmp_path_factory.mktemp("compare") / "out"
    done = subprocess.run([sys.executable, "-m", "assembly.cli", "compare", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    return out, json.loads((out / "results.json").read_text()), done.stdout


def _designs(results: dict, scenario: str) -> dict[str, dict]:
    found = [s for s in results["scenarios"] if s["name"] == scenario]
    assert found, f"scenario {scenario} did not run"
    return {d["design"]: d for d in found[0]["designs"]}


def _ok(design: dict) -> int:
    return sum(n for phase in design["ops"].values() for name, n in phase.items() if name.endswith(" ok"))


def test_every_scenario_ran_every_design(run) -> None:
    out, results, stdout = run
    assert [s["name"] for s in results["scenarios"]] == [
        "register", "bank", "list-append", "host-loss", "az", "scaling", "unread-keys"]  # fmt: skip
    for scenario in results["scenarios"]:
        assert scenario["phases"], scenario["name"]
        for design in scenario["designs"]:
            assert design["error"] is None, (scenario["name"], design["design"], design["error"])
            if design["ops"]:
                assert _ok(design) > 0, f"{scenario['name']}: {design['design']} did nothing"
    assert (out / "register-dsql.jsonl").exists(), "histories are saved"
    assert "the claims and what was measured" in stdout


def test_register_strong_reads_are_linearizable_and_dynamo_is_not(run) -> None:
    designs = _designs(run[1], "register")
    for name in STRONG:
        metrics = designs[name]["metrics"]
        assert metrics["linearizable"] is True, designs[name]["failure"]
        assert metrics["stale_reads"] == 0 and metrics["sibling_reads"] == 0, metrics
    dynamo = designs["dynamo (3,2,2)"]["metrics"]
    assert dynamo["stale_reads"] + dynamo["sibling_reads"] > 0, dynamo
    assert designs["dynamodb eventual"]["metrics"]["stale_reads"] > 0, "eventual reads were never stale"


def test_transactions_keep_the_bank_and_show_no_anomaly(run) -> None:
    bank = _designs(run[1], "bank")
    for name in ("dsql", "dynamodb transact"):
        metrics = bank[name]["metrics"]
        assert metrics["wrong_totals"] == 0, bank[name]["failure"]
        assert metrics["final_total"] == metrics["expected_total"], metrics
    lists = _designs(run[1], "list-append")
    for name in ("dsql", "dynamodb transact"):
        assert lists[name]["metrics"]["anomalies"] == {}, lists[name]["failure"]


def test_no_acknowledged_strong_write_is_lost_with_a_host(run) -> None:
    designs = _designs(run[1], "host-loss")
    for name in STRONG:
        metrics = designs[name]["metrics"]
        assert metrics["acked_writes"] > 0 and metrics["lost_writes"] == 0, metrics


def test_unread_keys_stay_short_of_copies_without_anti_entropy(run) -> None:
    designs = _designs(run[1], "unread-keys")
    assert designs["dynamo, anti-entropy off"]["metrics"]["keys_below_n_at_end"] > 0
    assert designs["dynamo, anti-entropy on"]["metrics"]["seconds_to_full_copies"] is not None
    assert designs["replica groups (dsql, dynamodb)"]["metrics"]["seconds_to_full_copies"] is not None


def test_replica_groups_keep_their_copies_while_scaling(run) -> None:
    designs = _designs(run[1], "scaling")
    groups = designs["replica groups (dsql, dynamodb)"]
    assert groups["series"]["copies_min"], "the replica groups were sampled"
    assert groups["metrics"]["min_copies"] >= 3, groups["series"]["copies_min"]
    assert designs["dynamo (3,2,2)"]["series"]["copies_min"], "Dynamo's copies were sampled"


def test_the_report_judges_every_claim_and_chromium_loads_every_plot(run) -> None:
    out, results, _ = run
    verdicts = {c["id"]: c["verdict"] for c in results["claims"]}
    assert len(verdicts) >= 9 and all(v in ("holds", "contradicted", "partly") for v in verdicts.values()), verdicts
    families = {row["design"]: row for row in results["programming_model"]}
    assert set(families) == {"dynamo", "dynamodb", "dsql"}
    assert "TransactWriteItems" in families["dynamodb"]["multi-key atomic writes"]
    assert families["dynamo"]["interactive transactions"].startswith("not offered")
    assert "BEGIN" in families["dsql"]["interactive transactions"]
    try:
        with headless_chromium() as chromium:
            images = open_and_list_images(chromium, out / "index.html")
            chromium.save_screenshot(str(out / "report-first-screen.png"))
    except ChromiumMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    assert len(images) >= len(results["scenarios"]), "a plot per scenario at least"
    assert not_loaded(images) == []
