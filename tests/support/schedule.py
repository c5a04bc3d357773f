"""Which tests go together to pytest-xdist's workers, and in what order: the longest first.

`make test` runs two workers with `--longest-first` (an option of tests/conftest.py), which
puts this module's scheduler in place of xdist's `load`. xdist's `load` hands out the
collection in consecutive chunks, in file order: the simulations, which sort last, kept one
worker busy for the last ten minutes of a run while the other sat idle. Here:

- A *unit* is what one worker runs: a whole module when the module is in `WHOLE_MODULES`
  (a fixture of module, class or package scope: a server started for the module, the
  compare run's six minutes; split over two workers, each would set it up), else a single
  test, so that a module of long independent tests (the simulations' seeds, the cluster's
  kill -9 runs) is shared by both workers.
- A worker gets the next unit whenever it has two tests or fewer left (xdist's `loadscope`
  rule), units in the order they first appear in the collection; each worker sorts its
  collection into units, longest first (the longest-processing-time rule), estimated from
  `tests/durations.json`: the seconds each test of a second or more took in a whole run
  (setup, call and teardown) and the mean of the others, which every test it does not name
  counts as; `python -m support.schedule JUNIT_XML` (from `tests/`) writes it from a run with
  `--junitxml`.
- In a module with a wide fixture that is missing from `WHOLE_MODULES`, each test that takes
  the fixture fails with a message saying so (`check_units`): the list cannot go stale unseen.

The order changes nothing a test sees but which worker runs it and when; without xdist
(`TEST_WORKERS=0`) or without `--longest-first` pytest's own order stands.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

DURATIONS = Path(__file__).resolve().parent.parent / "durations.json"
UNKNOWN_S = 0.1  # a test not named, when the durations file gives no mean
NAMED_FROM_S = 1.0  # the durations file names the tests that took this long or longer
WIDE_SCOPES = frozenset({"module", "class", "package"})
MISPLACED = pytest.StashKey[str]()

# Modules that share a fixture wider than a function among their tests (checked: `check_units`).
WHOLE_MODULES = frozenset({
    "tests/test_bad_input.py",
    "tests/test_compare.py",
    "tests/test_compare_designs.py",
    "tests/test_compare_report.py",
    "tests/test_dynamo_merkle.py",
    "tests/test_dynamodb_boto3.py",
    "tests/test_dynamodb_clients.py",
    "tests/test_dynamodb_consistency.py",
    "tests/test_dynamodb_differential.py",
    "tests/test_dynamodb_gsi_composite.py",
    "tests/test_dynamodb_limits.py",
    "tests/test_dynamodb_protocol.py",
    "tests/test_dynamodb_streams.py",
    "tests/test_pgbench.py",
    "tests/test_pgcatalog.py",
    "tests/test_psql_meta.py",
    "tests/test_schemas.py",
    "tests/test_security.py",
    "tests/test_storage_engines.py",
})  # fmt: skip


def unit_of(nodeid: str) -> str:
    """The unit a test belongs to: its module's path, or its own node id."""
    module = nodeid.split("::", 1)[0]
    return module if module in WHOLE_MODULES else nodeid


class LongestFirstScheduling(LoadScopeScheduling):
    """xdist's `loadscope` with this module's units, in the collection's order (which the
    workers sorted, `order_for_workers`), never reordered by size."""

    def __init__(self, config: pytest.Config, log=None) -> None:
        config.option.loadscopereorder = False
        super().__init__(config, log)

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)

    def schedule(self) -> None:
        super().schedule()
        if self.collection == []:  # nothing selected: `loadscope` would leave the workers waiting
            for node in self.nodes:
                node.shutdown()


def load_durations(path: Path = DURATIONS) -> tuple[dict[str, float], float]:
    """(nodeid -> seconds, the seconds of a test not named); nothing named if the file is
    missing or unreadable (every unit then counts by its number of tests)."""
    try:
        data = json.loads(path.read_text())
        tests = {str(k): float(v) for k, v in data["tests"].items()}
        return tests, float(data.get("others_s", UNKNOWN_S))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}, UNKNOWN_S


def wide_fixture(item: pytest.Item) -> str | None:
    """The name of a fixture of `item` wider than a function, if it has one."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    for name in info.names_closure:
        for fixturedef in info.name2fixturedefs.get(name, ()):
            if fixturedef.scope in WIDE_SCOPES:
                return name
    return None


def check_units(items: list[pytest.Item]) -> None:
    """Mark each test that takes a wide fixture in a module split into single-test units, to
    fail at its setup naming the fixture and the fix (`fail_if_misplaced`)."""
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        name = wide_fixture(item)
        if name is not None and module not in WHOLE_MODULES:
            item.stash[MISPLACED] = (
                f"{item.nodeid} uses the {name!r} fixture, which is wider than a function, so "
                f"its module must go to one worker whole: add {module!r} to WHOLE_MODULES in "
                "tests/support/schedule.py"
            )


def fail_if_misplaced(item: pytest.Item) -> None:
    """At a test's setup: fail it if `check_units` found its module misplaced."""
    message = item.stash.get(MISPLACED, None)
    if message is not None:
        pytest.fail(message, pytrace=False)


def order_for_workers(items: list[pytest.Item], durations: tuple[dict[str, float], float]) -> None:
    """Sort `items` into units, the longest first (ties: collection order)."""
    named, others_s = durations
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(unit_of(item.nodeid), []).append(item)
    estimated = [
        (-sum(named.get(item.nodeid, others_s) for item in unit_items), position, unit_items)
        for position, unit_items in enumerate(units.values())
    ]
    estimated.sort(key=lambda unit: unit[:2])
    items[:] = [item for _, _, unit_items in estimated for item in unit_items]


def durations_from_junit(path: Path) -> dict[str, float]:
    """nodeid -> seconds of each test case in a JUnit XML report (pytest's `--junitxml`)."""
    root = DURATIONS.parent.parent
    found: dict[str, float] = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        parts = case.get("classname", "").split(".")
        # "tests.test_x" or "tests.test_x.TestClass": the module is the longest prefix that is a file.
        for cut in range(len(parts), 0, -1):
            module = "/".join(parts[:cut]) + ".py"
            if (root / module).exists():
                nodeid = "::".join([module, *parts[cut:], case.get("name", "")])
                found[nodeid] = round(found.get(nodeid, 0.0) + float(case.get("time") or 0), 3)
                break
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m support.schedule JUNIT_XML  (from tests/)", file=sys.stderr)
        return 2
    tests = durations_from_junit(Path(argv[0]))
    if not tests:
        print(f"no test cases found in {argv[0]}", file=sys.stderr)
        return 1
    named = {k: round(v, 1) for k, v in sorted(tests.items()) if v >= NAMED_FROM_S}
    others = [v for v in tests.values() if v < NAMED_FROM_S]
    others_s = round(sum(others) / len(others), 3) if others else UNKNOWN_S
    DURATIONS.write_text(json.dumps({"others_s": others_s, "tests": named}, indent=0) + "\n")
    print(f"{DURATIONS}: {len(tests)} tests, {sum(tests.values()) / 60:.1f} minutes in all; "
          f"{len(named)} named, the others {others_s} s each")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
