"""The bank workload's check (Jepsen's ``jepsen.tests.bank``).

Clients move money between accounts with ``f="transfer"`` transactions and read every
account at once with ``f="read"``, whose ``ok`` value is a map ``account -> balance``.
Under snapshot isolation each read sees one consistent snapshot, and transfers conserve
money, so every read sums to the total. A read that does not exposes read skew (balances
from two snapshots) or a lost update (a transfer computed from stale balances overwrote
another). Each bad read is reported:

- ``wrong-total``: the balances do not sum to the total;
- ``negative-balance``: a balance below zero, when the workload forbids overdrafts;
- ``missing-account`` / ``unexpected-account``: the read does not name exactly the accounts
  (when they are given), e.g. a row lost or invented;
- ``nil-balance``: an account read without a balance.

Only ``ok`` reads count: a failed or unknown read observed nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from checker.history import Op, OpType
from checker.report import Anomaly, Result


def check(ops: Iterable[Op], total: int, accounts: Iterable[Any] | None = None,
          negative_allowed: bool = False) -> Result:
    """Check every ``ok`` read of the history against ``total`` (and ``accounts`` if given)."""
    expected_accounts = set(accounts) if accounts is not None else None
    result = Result("bank")
    reads = transfers_ok = 0
    for op in ops:
        if op.type is not OpType.OK:
            continue
        if op.f == "transfer":
            transfers_ok += 1
            continue
        if op.f != "read":
            continue
        reads += 1
        balances: dict[Any, Any] = dict(op.value)
        where = f"read {op.index} (process {op.process})"
        nils = sorted((a for a, b in balances.items() if b is None), key=repr)
        for account in nils:
            result.add(Anomaly("nil-balance", f"{where} has no balance for account {account!r}",
                               {"op": op.index, "account": account}))
        if expected_accounts is not None:
            for account in sorted(expected_accounts - balances.keys(), key=repr):
                result.add(Anomaly("missing-account", f"{where} lacks account {account!r}",
                                   {"op": op.index, "account": account}))
            for account in sorted(balances.keys() - expected_accounts, key=repr):
                result.add(Anomaly("unexpected-account", f"{where} has unknown account {account!r}",
                                   {"op": op.index, "account": account}))
        if not negative_allowed:
            for account, balance in sorted(balances.items(), key=lambda item: repr(item[0])):
                if balance is not None and balance < 0:
                    result.add(Anomaly("negative-balance",
                                       f"{where}: account {account!r} has balance {balance}",
                                       {"op": op.index, "account": account, "balance": balance}))
        if not nils:
            found = sum(balances.values())
            if found != total:
                shown = ", ".join(f"{a!r}: {b}" for a, b in sorted(balances.items(), key=lambda i: repr(i[0])))
                result.add(Anomaly("wrong-total", f"{where} sums to {found}, not {total}: {{{shown}}}",
                                   {"op": op.index, "total": found, "expected": total,
                                    "balances": balances}))
    result.counts.update({"reads": reads, "transfers-ok": transfers_ok})
    return result
