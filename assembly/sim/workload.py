"""Clients of the simulated cluster: a bank and a list-append workload in SQL, and their histories.

Both workloads run SQL through real QP sessions (`qp.frontend.server.QueryProcessor`
and its `Session`, the interface pgwire drives) opened on a simulated QP
host, one transaction at a time per client process, as a Jepsen client
would over a connection:

  bank         `accounts` rows of `bank(id, balance)`; a transfer moves an
               amount between two accounts in one transaction of two
               UPDATEs (retried on 40001 as a new operation), a read takes
               every balance in one SELECT. The total never changes.
  list-append  `lists(k, v)` rows whose text `v` is a list of integers; a
               transaction is a few micro-ops, each `("append", k, x)`
               (`UPDATE lists SET v = v || 'x '`) or `("r", k, None)`
               (`SELECT v ...`, completed to the list read), in one block.

Each operation is recorded as Jepsen records it: an `invoke`, then `ok`
(committed, and for reads what was read), `fail` (certainly not committed)
or `info` (may or may not have committed: the QP host crashed under it, or
COMMIT answered something other than success or 40001). An op is a dict
`{process, type, f, value, time_ns}`, with list-append values as tuples of
micro-ops, which is what a history checker (Elle's shape) takes.

`check_bank` and `check_lists` are the checks this module does itself
(totals, acknowledged commits present at the end, every read a prefix of
the final list); the full anomaly search belongs to a history checker.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from qp.api import DataRows
from qp.errors import SqlError

SERIALIZATION_FAILURE = "40001"
# How many times a transfer that lost a conflict is tried again (each a new op).
TRANSFER_RETRIES = 3
# The final balances are checked against the acknowledged transfers plus any
# subset of the in-doubt ones; past this many partial sums the check gives up.
IN_DOUBT_STATES_MAX = 200_000


class HostDown(Exception):
    """The QP host crashed while the operation ran on it: the connection broke,
    and whatever the operation had sent may have taken effect."""


class HostRefused(Exception):
    """The QP host was down when the operation began: nothing was sent."""


# Runs `await fn(session)` on the client's session on its QP host (see cluster.py).
OnHost = Callable[[Callable[[Any], Awaitable[Any]]], Awaitable[Any]]


@dataclass
class History:
    trace: Callable[[str], None] | None = None
    ops: list[dict] = field(default_factory=list)
    last_error: str = ""  # why the last operation that failed did

    def add(self, process: int, type_: str, f: str, value: Any, why: object = None) -> None:
        self.ops.append({"process": process, "type": type_, "f": f, "value": value,
                         "time_ns": int(trio.current_time() * 1e9)})  # fmt: skip
        if why is not None:
            self.last_error = _why(why)
        if self.trace is not None:
            self.trace(f"client {process}: {type_} {f} {value}" + (f" ({_why(why)})" if why is not None else ""))


def _why(error: object) -> str:
    if isinstance(error, SqlError):
        return f"{error.sqlstate} {error}" + (f": {error.detail}" if error.detail else "")
    return f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)


async def query(session: Any, sql: str) -> list[tuple]:
    """Run one statement; its rows as tuples of text (None for NULL)."""
    rows: list[tuple] = []
    async for event in session.simple_query(sql):
        if isinstance(event, DataRows):
            rows += [tuple(None if v is None else v.decode() for v in row) for row in event.rows]
    return rows


async def run_block(session: Any, statements: list[str]) -> tuple[list[list[tuple]], SqlError | None]:
    """BEGIN; statements; COMMIT. Returns (rows of each statement, None) once
    committed; raises SqlError for a failure before COMMIT (after a ROLLBACK),
    and returns (rows, error) when COMMIT itself failed."""
    await query(session, "BEGIN")
    results = []
    try:
        for sql in statements:
            results.append(await query(session, sql))
    except SqlError:
        try:
            await query(session, "ROLLBACK")
        except SqlError:
            pass
        raise
    try:
        await query(session, "COMMIT")
    except SqlError as exc:
        return results, exc
    return results, None


@dataclass(frozen=True)
class WorkloadOptions:
    accounts: int = 6
    initial_balance: int = 100
    bank_processes: int = 3
    list_keys: int = 6
    list_processes: int = 3
    micro_ops_max: int = 4
    op_gap_max_s: float = 0.05


class Workloads:
    """The clients' shared state: histories, and the next unique values to append."""

    def __init__(self, options: WorkloadOptions, trace: Callable[[str], None]) -> None:
        self.options = options
        self.trace = trace
        self.bank = History(trace)
        self.lists = History(trace)
        self._values = itertools.count(1)
        self._processes = itertools.count()
        self.stop = False

    def new_process(self) -> int:
        """A fresh process id: a client takes one at the start and after every
        `info` operation (which may still be running somewhere, so its process
        is never used again, as in Jepsen)."""
        return next(self._processes)

    # -- setup ----------------------------------------------------------------------------

    def setup_statements(self) -> list[str]:
        o = self.options
        accounts = ", ".join(f"({i}, {o.initial_balance})" for i in range(o.accounts))
        keys = ", ".join(f"({k}, '')" for k in range(o.list_keys))
        return [
            "CREATE TABLE bank (id int PRIMARY KEY, balance bigint NOT NULL)",
            "CREATE TABLE lists (k int PRIMARY KEY, v text NOT NULL)",
            f"INSERT INTO bank VALUES {accounts}",
            f"INSERT INTO lists VALUES {keys}",
        ]

    # -- bank -----------------------------------------------------------------------------

    async def bank_client(self, on_host: OnHost, rng: random.Random) -> None:
        o = self.options
        process = self.new_process()
        while not self.stop:
            await trio.sleep(rng.uniform(0, o.op_gap_max_s))
            if rng.random() < 0.3:
                await self.bank_read(process, on_host)
                continue
            a, b = rng.sample(range(o.accounts), 2)
            amount = rng.randint(1, 20)
            for _ in range(TRANSFER_RETRIES + 1):
                outcome = await self.transfer(process, on_host, a, b, amount)
                if outcome == "info":
                    process = self.new_process()
                if outcome != "conflict" or self.stop:
                    break

    async def transfer(self, process: int, on_host: OnHost, a: int, b: int, amount: int) -> str:
        value = {"from": a, "to": b, "amount": amount}
        self.bank.add(process, "invoke", "transfer", value)
        statements = [f"UPDATE bank SET balance = balance - {amount} WHERE id = {a}",
                      f"UPDATE bank SET balance = balance + {amount} WHERE id = {b}"]  # fmt: skip
        try:
            _, commit_error = await on_host(lambda session: run_block(session, statements))
        except SqlError as exc:
            self.bank.add(process, "fail", "transfer", value, exc)
            return "conflict" if exc.sqlstate == SERIALIZATION_FAILURE else "fail"
        except HostRefused as exc:
            self.bank.add(process, "fail", "transfer", value, exc)
            return "fail"
        except HostDown as exc:
            self.bank.add(process, "info", "transfer", value, exc)
            return "info"
        if commit_error is None:
            self.bank.add(process, "ok", "transfer", value)
            return "ok"
        if commit_error.sqlstate == SERIALIZATION_FAILURE:
            self.bank.add(process, "fail", "transfer", value, commit_error)
            return "conflict"
        self.bank.add(process, "info", "transfer", value, commit_error)
        return "info"

    async def bank_read(self, process: int, on_host: OnHost) -> dict[int, int] | None:
        self.bank.add(process, "invoke", "read", None)
        try:
            rows = await on_host(lambda session: query(session, "SELECT id, balance FROM bank ORDER BY id"))
        except (SqlError, HostDown, HostRefused) as exc:
            self.bank.add(process, "fail", "read", None, exc)
            return None
        balances = {int(account): int(balance) for account, balance in rows}
        self.bank.add(process, "ok", "read", balances)
        return balances

    # -- list-append ----------------------------------------------------------------------

    async def list_client(self, on_host: OnHost, rng: random.Random) -> None:
        o = self.options
        process = self.new_process()
        while not self.stop:
            await trio.sleep(rng.uniform(0, o.op_gap_max_s))
            micro_ops = []
            for _ in range(rng.randint(1, o.micro_ops_max)):
                key = rng.randrange(o.list_keys)
                if rng.random() < 0.5:
                    micro_ops.append(("r", key, None))
                else:
                    micro_ops.append(("append", key, next(self._values)))
            if await self.list_txn(process, on_host, tuple(micro_ops)) == "info":
                process = self.new_process()

    async def list_txn(self, process: int, on_host: OnHost, micro_ops: tuple) -> str:
        self.lists.add(process, "invoke", "txn", micro_ops)
        statements = [
            f"SELECT v FROM lists WHERE k = {key}" if f == "r" else f"UPDATE lists SET v = v || '{x} ' WHERE k = {key}"
            for f, key, x in micro_ops
        ]
        try:
            results, commit_error = await on_host(lambda session: run_block(session, statements))
        except (SqlError, HostRefused) as exc:
            self.lists.add(process, "fail", "txn", micro_ops, exc)
            return "fail"
        except HostDown as exc:
            self.lists.add(process, "info", "txn", micro_ops, exc)
            return "info"
        if commit_error is not None:
            certain = commit_error.sqlstate == SERIALIZATION_FAILURE
            self.lists.add(process, "fail" if certain else "info", "txn", micro_ops, commit_error)
            return "fail" if certain else "info"
        completed = tuple(
            (f, key, _parse_list(rows) if f == "r" else x) for (f, key, x), rows in zip(micro_ops, results, strict=True)
        )
        self.lists.add(process, "ok", "txn", completed)
        return "ok"

    async def read_all_lists(self, process: int, on_host: OnHost) -> dict[int, tuple[int, ...]] | None:
        """Every key's list in one transaction (the final read)."""
        micro_ops = tuple(("r", k, None) for k in range(self.options.list_keys))
        self.lists.add(process, "invoke", "txn", micro_ops)
        try:
            rows = await on_host(lambda session: query(session, "SELECT k, v FROM lists ORDER BY k"))
        except (SqlError, HostDown, HostRefused) as exc:
            self.lists.add(process, "fail", "txn", micro_ops, exc)
            return None
        final = {int(k): tuple(int(x) for x in v.split()) for k, v in rows}
        self.lists.add(process, "ok", "txn", tuple(("r", k, final.get(k)) for k in range(self.options.list_keys)))
        return final


def _parse_list(rows: list[tuple]) -> tuple[int, ...] | None:
    if not rows:
        return None
    return tuple(int(x) for x in rows[0][0].split())


# -- checks -------------------------------------------------------------------------------


def _completions(history: History) -> list[tuple[dict, dict]]:
    """(invoke, completion) pairs; an invoke never completed counts as info."""
    open_ops: dict[int, dict] = {}
    pairs = []
    for op in history.ops:
        if op["type"] == "invoke":
            open_ops[op["process"]] = op
        else:
            pairs.append((open_ops.pop(op["process"]), op))
    for invoke in open_ops.values():
        pairs.append((invoke, {**invoke, "type": "info"}))
    return pairs


def check_bank(history: History, options: WorkloadOptions, final: dict[int, int] | None) -> list[str]:
    """Every read sees the total; the final balances are the acknowledged
    transfers applied to the initial ones, plus some of the in-doubt ones."""
    violations = []
    total = options.accounts * options.initial_balance
    for _, done in _completions(history):
        if done["f"] == "read" and done["type"] == "ok":
            balances = done["value"]
            if sorted(balances) != list(range(options.accounts)) or sum(balances.values()) != total:
                violations.append(f"bank: read at {done['time_ns']} ns by process {done['process']} "
                                  f"sees {balances} (sum {sum(balances.values())}, expected {total} over "
                                  f"{options.accounts} accounts)")  # fmt: skip
    if final is None:
        return violations
    expected = [options.initial_balance] * options.accounts
    in_doubt = []
    for invoke, done in _completions(history):
        if invoke["f"] != "transfer":
            continue
        move = invoke["value"]
        if done["type"] == "ok":
            expected[move["from"]] -= move["amount"]
            expected[move["to"]] += move["amount"]
        elif done["type"] == "info":
            in_doubt.append(move)
    if sorted(final) != list(range(options.accounts)):
        violations.append(f"bank: the final read sees accounts {sorted(final)}, not 0..{options.accounts - 1}")
        return violations
    difference = [final[account] - e for account, e in enumerate(expected)]
    if _explained(difference, in_doubt) is False:
        violations.append(f"bank: final balances {tuple(final.values())} are not the acknowledged transfers {tuple(expected)} "
                          f"plus some of the {len(in_doubt)} in doubt: an acknowledged transfer is lost, "
                          "or a failed one took effect")  # fmt: skip
    return violations


def _explained(difference: list[int], in_doubt: list[dict]) -> bool | None:
    """Whether some subset of the in-doubt transfers adds up to `difference`
    (None: too many combinations to tell). Breadth over the reachable residues."""
    residues = {tuple(difference)}
    for move in in_doubt:
        step = []
        for residue in residues:
            taken = list(residue)
            taken[move["from"]] += move["amount"]
            taken[move["to"]] -= move["amount"]
            step.append(tuple(taken))
        residues.update(step)
        if len(residues) > IN_DOUBT_STATES_MAX:
            return None
    return tuple([0] * len(difference)) in residues


def check_lists(history: History, final: dict[int, tuple[int, ...]] | None) -> list[str]:
    """Acknowledged appends are in the final lists, failed ones are not, no
    value twice, every committed read is a prefix of the key's final list,
    and sees every append acknowledged before its transaction began."""
    violations: list[str] = []
    if final is None:
        return ["lists: no final read"]
    where: dict[int, int] = {}
    for key, values in final.items():
        for value in values:
            if value in where:
                violations.append(f"lists: value {value} appears twice (keys {where[value]} and {key})")
            where[value] = key
    for invoke, done in _completions(history):
        if done["f"] != "txn":
            continue
        appends = [(key, x) for f, key, x in invoke["value"] if f == "append"]
        if done["type"] == "ok":
            for key, x in appends:
                if where.get(x) != key:
                    violations.append(f"lists: acknowledged append of {x} to key {key} "
                                      f"(process {done['process']}, {done['time_ns']} ns) is not in {final.get(key)}")
            for f, key, read in done["value"]:
                if f == "r" and read is not None and final.get(key, ())[: len(read)] != read:
                    violations.append(f"lists: read of key {key} by process {done['process']} at "
                                      f"{done['time_ns']} ns saw {read}, not a prefix of the final {final.get(key)}")
        elif done["type"] == "fail":
            for key, x in appends:
                if x in where:
                    violations.append(f"lists: failed append of {x} to key {key} is in the final list")
    return violations + _check_real_time(history)


def _check_real_time(history: History) -> list[str]:
    """Strong consistency: a transaction that began after an append was
    acknowledged (in simulated real time) reads it."""
    committed = [(invoke, done) for invoke, done in _completions(history)
                 if done["f"] == "txn" and done["type"] == "ok"]  # fmt: skip
    acknowledged = sorted((done["time_ns"], key, x) for invoke, done in committed
                          for f, key, x in invoke["value"] if f == "append")  # fmt: skip
    violations = []
    for invoke, done in committed:
        for f, key, read in done["value"]:
            if f != "r" or read is None:
                continue
            seen = set(read)
            for acked_ns, acked_key, x in acknowledged:
                if acked_ns >= invoke["time_ns"]:
                    break
                if acked_key == key and x not in seen:
                    violations.append(f"lists: a transaction of process {done['process']} begun at "
                                      f"{invoke['time_ns']} ns read key {key} as {read}, without {x}, "
                                      f"acknowledged at {acked_ns} ns")  # fmt: skip
                    break
    return violations
