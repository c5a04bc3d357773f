"""The journal under the deterministic simulator: hundreds of seeded fault schedules.

Each schedule crashes and restarts replicas (losing unsynced writes, with
torn tails), partitions and heals the network, drops, duplicates and
reorders messages, and then checks agreement, validity, durability, order,
closed timestamps and liveness (see `journal/sim.py`). CI runs
`DSQL_SIM_SCHEDULES` schedules (default 500) from seed `DSQL_SIM_FIRST_SEED`
(default 0); set them to explore more, e.g. `DSQL_SIM_SCHEDULES=10000`.
A failure prints its seed, its violations and its trace; replay it with
`python -m journal.sim --seed N`.

Availability is measured apart, on a clean network: a replica cut off for
many election timeouts and then healed must not cost the majority its leader
(pre-vote), and a leader cut off from its followers must step down within
about an election timeout (check quorum).

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
from journal.sim import (
    HARSH,
    LEADER_ISOLATION,
    ScheduleOptions,
    options_for,
    replica_config,
    run_availability,
    run_schedule,
)

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


TIMING = replica_config(3, Bug.NONE).paxos
ELECTION_S = TIMING.election_timeout_ns / 1e9
JITTER_S = TIMING.election_jitter_ns / 1e9
CUT_S = 20 * ELECTION_S


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_replica_back_from_a_partition_leaves_the_leader_alone(seed: int) -> None:
    seen = run_availability(seed, "follower", cut_s=CUT_S)
    assert not seen.violations, seen.report()
    assert seen.cut_off_ballot == seen.leader_before[1], "cut off, it never raised its ballot: " + seen.report()
    assert seen.leaders_after_heal == [seen.leader_before], "the leader kept its ballot: " + seen.report()
    assert seen.leaderless_after_heal_s == 0, seen.report()
    # The appender appends every 20 ms; without a leader change nothing waits longer.
    assert seen.commit_gap_after_heal_s < ELECTION_S / 2, seen.report()
    assert seen.caught_up, seen.report()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_isolated_leader_steps_down_and_the_majority_goes_on(seed: int) -> None:
    seen = run_availability(seed, "leader", cut_s=CUT_S)
    assert not seen.violations, seen.report()
    assert seen.stepped_down_after_s is not None and seen.stepped_down_after_s <= ELECTION_S + 0.03, seen.report()
    assert seen.successor_after_s is not None and seen.successor_after_s <= ELECTION_S + JITTER_S + 0.05, seen.report()
    assert seen.cut_off_ballot == seen.leader_before[1], "the old leader never raised its ballot: " + seen.report()
    assert seen.leader_after is not None and seen.leader_after[0] != seen.leader_before[0], seen.report()
    assert seen.leaders_after_heal == [seen.leader_after], "the heal did not depose the successor: " + seen.report()
    assert seen.leaderless_after_heal_s == 0 and seen.commit_gap_after_heal_s < ELECTION_S / 2, seen.report()
    assert seen.caught_up, seen.report()
