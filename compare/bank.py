"""The bank workload: transfers between accounts and reads of every account, as a history.

Jepsen's bank test for three designs: each client either moves a random
amount between two random accounts (`f="transfer"`, value `(from, to,
amount)`; refused when the source lacks the money) or reads every account
(`f="read"`, completed with `{account: balance}`). Money is conserved by
every transfer, so every read should sum to the total the accounts started
with (`checker.bank`); a design without multi-key atomicity or isolation
shows reads that do not, and may end with a different total (a lost
update, a half-done transfer). Accounts are new for each run (`prefix`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence

from checker.history import History
from compare.designs import Design, perform

PROCESSES_PER_CLIENT = 1_000


async def run_bank(
    designs: Sequence[Design], *, accounts: Sequence[str], seed: int, history: History,
    stop: Callable[[], bool], read_ratio: float = 0.3, max_amount: int = 5, pause_s: float = 0.05,
) -> None:  # fmt: skip
    """Each design (one per client) transfers and reads until `stop()`."""

    async def client(index: int, design: Design) -> None:
        rng = random.Random(seed * 7919 + index)
        process = index * PROCESSES_PER_CLIENT
        while not stop():
            if rng.random() < read_ratio:
                process = await perform(history, process, "read", None, design.read_accounts(accounts), writes=False,
                                        completed=lambda balances: balances)  # fmt: skip
            else:
                source, target = rng.sample(list(accounts), 2)
                amount = rng.randint(1, max_amount)
                process = await perform(history, process, "transfer", (source, target, amount),
                                        design.transfer(source, target, amount), writes=True)  # fmt: skip
            await asyncio.sleep(rng.uniform(0, pause_s))

    await asyncio.gather(*(client(i, d) for i, d in enumerate(designs)))
