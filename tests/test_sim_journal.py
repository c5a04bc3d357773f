"""The journal under the deterministic simulator: hundreds of seeded fault schedules.

Each schedule crashes and restarts replicas (losing unsynced writes, with
torn tails), partitions and heals the network, drops, duplicates and
reorders messages, and then checks agreement, validity, durability, order,
closed timestamps and liveness (see `journal/sim.py`). CI runs
`DSQL_SIM_SCHEDULES` schedules (default 500) from seed `DSQL_SIM_FIRST_SEED`
(default 0); set them to explore more, e.g. `DSQL_SIM_SCHEDULES=10000`.
A failure prints its seed, its violations and its trace; replay it with
`python -m journal.sim --seed N`.

The checks are proven able to fail: deliberately broken variants of the
protocol (a leader that skips phase 1, one that counts a single
acknowledgement as a majority, acceptors that answer before syncing, a
leader that closes timestamps without its lease) must each be caught within
a few schedules.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from journal.paxos import Bug
from journal.sim import HARSH, LEADER_ISOLATION, ScheduleOptions, options_for, run_schedule

SCHEDULES = int(os.environ.get("DSQL_SIM_SCHEDULES", "500"))
FIRST_SEED = int(os.environ.get("DSQL_SIM_FIRST_SEED", "0"))
CHUNK = 25  # schedules per test case, so progress shows and a failure names a small range
# How many schedules a broken variant gets to show itself.
BUG_SEEDS = 60


@pytest.mark.parametrize("first", range(FIRST_SEED, FIRST_SEED + SCHEDULES, CHUNK))
def test_seeded_fault_schedules(first: int) -> None:
    last = min(first + CHUNK, FIRST_SEED + SCHEDULES)
    failed = []
    for seed in range(first, last):
        outcome = run_schedule(seed)
        if not outcome.ok:
            failed.append(outcome)
    assert not failed, "\n\n".join(o.report() for o in failed[:2])


@pytest.mark.parametrize(
    ("bug", "profile"),
    [
        # Losing an acknowledged record needs crashes that land mid-sync: the harsh profile.
        (Bug.SKIP_PHASE1, HARSH),
        (Bug.ACK_WITHOUT_MAJORITY, HARSH),
        (Bug.REPLY_BEFORE_SYNC, HARSH),
        # A stale leader answering a close needs it cut off, idle, beside its successor.
        (Bug.CLOSE_WITHOUT_LEASE, LEADER_ISOLATION),
    ],
    ids=lambda value: value.value if isinstance(value, Bug) else ("harsh" if value is HARSH else "isolation"),
)
def test_a_broken_protocol_is_caught(bug: Bug, profile: dict) -> None:
    for seed in range(BUG_SEEDS):
        outcome = run_schedule(seed, ScheduleOptions(bug=bug, **profile))
        if not outcome.ok:
            return
    pytest.fail(f"the simulator did not catch {bug.value} in {BUG_SEEDS} schedules")


def test_a_seed_replays_exactly() -> None:
    options = options_for(4242, keep_trace=True, trace_lines=10**9)
    first = run_schedule(4242, options)
    second = run_schedule(4242, options)
    assert first.trace == second.trace and first.stats == second.stats
    assert len(first.trace.splitlines()) > 100
    other = run_schedule(4243, options_for(4243, keep_trace=True, trace_lines=10**9))
    assert other.trace != first.trace


def test_a_seed_replays_in_another_process() -> None:
    """Same seed, fresh interpreter, different hash seed: the same schedule."""
    code = "from journal.sim import run_schedule; print(run_schedule(77).stats)"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == str(run_schedule(77).stats)


def test_replay_command_reports_the_failure() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "journal.sim", "--seed", "1", "--bug", "skip_phase1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 1
    assert "FAILED" in out.stdout and "replay: python -m journal.sim --seed 1 --bug skip_phase1" in out.stdout
    assert "trace (tail):" in out.stdout
