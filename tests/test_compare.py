"""`dsql compare --quick` end to end on five network-namespace hosts: the directions, never timings.

The register scenario cuts hosts h1 and h2 off mid-run. Whatever the timing, the designs must
differ the way their guarantees say: DSQL's and DynamoDB's strongly consistent reads stay
linearizable with no stale read; Dynamo (3,2,2), whose sloppy quorums let each side of the cut
accept writes, returns stale reads or siblings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assembly import hosts as host_network

pytestmark = pytest.mark.slow

if host_network.available() is not None:  # CI runs as root with the packages .ci/run installs
    pytest.fail(f"network namespaces are needed: {host_network.available()}", pytrace=False)


def test_dsql_compare_quick_shows_each_design_as_its_guarantees_say(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "assembly.cli", "compare", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dsql compare: the same register workload" in done.stdout
    results = json.loads((out / "results.json").read_text())
    by_design = {o["design"]: o for o in results["outcomes"]}
    assert set(by_design) == {"dynamo (3,2,2)", "dynamo (3,1,1)", "dynamodb eventual", "dynamodb strong", "dsql"}
    for outcome in by_design.values():
        ok = sum(count for phase in outcome["ops"].values() for name, count in phase.items() if name.endswith(" ok"))
        assert ok > 0, f"{outcome['design']} did nothing"
        assert (out / f"register-{_slug(outcome['design'])}.jsonl").exists(), "the history is saved"
    for strong in ("dsql", "dynamodb strong"):
        assert by_design[strong]["linearizable"] is True, by_design[strong]
        assert by_design[strong]["stale_reads"] == 0, by_design[strong]
        assert by_design[strong]["sibling_reads"] == 0
    dynamo = by_design["dynamo (3,2,2)"]
    assert dynamo["stale_reads"] + dynamo["sibling_reads"] > 0, dynamo


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")
