"""The bank test: money is neither created nor lost, through conflicts and crashes.

16 asyncpg connections move random amounts among 100 accounts for
``DSQL_BANK_SECONDS`` (default 20) seconds, each transfer a read-then-write
transaction retried on 40001, while a reader checks in its own snapshots that
the total never changes. That exercises snapshot isolation, first-committer-
wins conflict detection and atomic commits under real contention.

Then durability: in the first variant the server is stopped cleanly (SIGINT)
and restarted on the same data directory, and the balances must equal exactly
what the acknowledged transfers imply. In the second the server is killed
(SIGKILL) in the middle of the workload: every acknowledged transfer must
survive, a transfer whose COMMIT got no answer may or may not have happened,
and nothing else may have.

Each variant runs its own server (``start_dsql``), so killing it harms no
other test.
"""

from __future__ import annotations

import asyncio
import os
import random

import pytest
from support import report
from support.bank import (
    ACCOUNTS,
    INITIAL_BALANCE,
    create_accounts,
    expected_balances,
    explain_final_state,
    read_balances,
    run_workload,
)

WORKERS = 16
SECONDS = float(os.environ.get("DSQL_BANK_SECONDS", "20"))
TABLE = "bank_accounts"

pytestmark = pytest.mark.slow


def _seed() -> int:
    seed = int(os.environ.get("DSQL_BANK_SEED", random.randrange(1 << 30)))
    print(f"bank seed {seed} (set DSQL_BANK_SEED to repeat the workload's choices)")
    return seed


def test_bank_transfers_survive_a_clean_restart(start_dsql) -> None:
    server = start_dsql()
    asyncio.run(create_accounts(server.dsn, TABLE))
    run = asyncio.run(run_workload(server.dsn, TABLE, workers=WORKERS, seconds=SECONDS, seed=_seed()))
    report.add(f"bank (clean restart), {SECONDS:.0f} s, {WORKERS} workers: {run.summary()}")
    assert not run.violations, "\n".join(run.violations[:10])
    assert run.commits > 0, "no transfer committed"
    assert run.reads > 0, "the reader never completed a read"
    expected = expected_balances(run.acknowledged)
    assert asyncio.run(read_balances(server.dsn, TABLE)) == expected, "balances differ from the ledger"

    code = server.stop()
    report.add(f"bank: dsql exited with code {code} after SIGINT")
    server.restart()
    final = asyncio.run(read_balances(server.dsn, TABLE))
    assert sum(final.values()) == ACCOUNTS * INITIAL_BALANCE, f"total changed: {sum(final.values())}"
    assert final == expected, "after the restart the balances differ from the acknowledged ledger"


def test_bank_acknowledged_transfers_survive_sigkill(start_dsql) -> None:
    server = start_dsql()
    asyncio.run(create_accounts(server.dsn, TABLE))
    seed = _seed()
    crash_after_s = SECONDS * random.Random(seed).uniform(0.4, 0.6)
    run = asyncio.run(
        run_workload(
            server.dsn, TABLE, workers=WORKERS, seconds=SECONDS, seed=seed,
            crash_after_s=crash_after_s, crash=server.kill,
        )
    )  # fmt: skip
    report.add(f"bank (SIGKILL after {crash_after_s:.1f} s): {run.summary()}")
    assert not run.violations, "\n".join(run.violations[:10])
    assert run.commits > 0, "no transfer committed before the crash"

    server.restart()
    final = asyncio.run(read_balances(server.dsn, TABLE))
    assert sum(final.values()) == ACCOUNTS * INITIAL_BALANCE, f"total changed: {sum(final.values())}"
    explained, how = explain_final_state(final, run)
    report.add(f"bank after SIGKILL and restart: {how}")
    assert explained, how
