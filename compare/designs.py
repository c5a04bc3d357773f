"""The three designs behind one interface, each outcome classified, each mechanism recorded.

A scenario drives a `Design` per client and never knows which design it
drives. Every design answers in the vocabulary of Jepsen's histories:

* a read returns the values it saw: one, none (the key was never written),
  or several (Dynamo's siblings: concurrent writes it kept side by side);
* an operation that certainly did not happen raises `Refused` (a 4xx, a
  serialization failure, a condition that did not hold: the history
  records `fail`);
* one whose outcome is unknown raises `Indeterminate` (a timeout, a lost
  connection, a 5xx after which the write may have landed: `info`). A
  Dynamo write refused for want of a quorum is indeterminate too: the
  replicas that took it keep it, and it may surface later.

The operations, one family per workload:

* registers: `read(key)`, `write(key, value)`;
* bank: `setup_bank(accounts, balance)`, `transfer(a, b, amount)`,
  `read_accounts(accounts)`;
* list-append: `setup_lists()`, `txn(mops)` with micro-operations
  `("r", key, None)` and `("append", key, element)`, answering the mops
  completed with what each read saw.

Each design does these the way its programming model allows (a Dynamo
transfer is two single-key writes; DynamoDB's is TransactWriteItems
conditioned on what it read; DSQL's an interactive transaction), and notes
in `expressed` the mechanism each successful operation used, so the
report's programming-model table is what ran, not what was typed in.

The designs: `compare.dynamo_design`, `compare.dynamodb_design`,
`compare.dsql_design`. Values are integers (registers hold numbers the
workload makes unique per write, so a read names the write it saw).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from checker.history import History

T = TypeVar("T")

# Every call of a design is bounded: a partition must show as an indeterminate
# operation, not as a client that hangs.
CALL_TIMEOUT_S = 5.0
# A workload gives up on any operation after this long, whatever the design's library does
# (a client's deadline): a read is then failed, a write or transaction unknown.
DEADLINE_S = CALL_TIMEOUT_S + 1.0

# The programming-model features the report tabulates, in its column order.
FEATURES = (
    "single-key writes",
    "conditional writes",
    "multi-key atomic writes",
    "consistent multi-key reads",
    "interactive transactions",
    "concurrent writes resolved by",
)

Mop = tuple[str, Any, Any]


class Refused(Exception):
    """The design refused the operation: it did not take effect."""


class Indeterminate(Exception):
    """The operation's outcome is unknown: it may or may not have taken effect."""


class Expressed:
    """feature -> mechanism -> how many successful operations used it."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = {}

    def note(self, feature: str, how: str) -> None:
        assert feature in FEATURES, feature
        by_how = self.counts.setdefault(feature, {})
        by_how[how] = by_how.get(how, 0) + 1

    def merge(self, other: Expressed) -> None:
        for feature, by_how in other.counts.items():
            for how, count in by_how.items():
                mine = self.counts.setdefault(feature, {})
                mine[how] = mine.get(how, 0) + count

    def summary(self) -> dict[str, str]:
        """feature -> "mechanism (n ok)", the most used mechanism first."""
        return {
            feature: "; ".join(f"{how} ({n} ok)" for how, n in sorted(by_how.items(), key=lambda kv: -kv[1]))
            for feature, by_how in self.counts.items()
        }


class Design(Protocol):
    name: str
    family: str
    expressed: Expressed

    async def setup(self) -> None: ...

    async def read(self, key: str) -> tuple[int, ...]: ...

    async def write(self, key: str, value: int) -> None: ...

    async def setup_bank(self, accounts: Sequence[str], balance: int) -> None: ...

    async def transfer(self, source: str, target: str, amount: int) -> None: ...

    async def read_accounts(self, accounts: Sequence[str]) -> dict[str, int]: ...

    async def setup_lists(self) -> None: ...

    async def txn(self, mops: Sequence[Mop]) -> tuple[Mop, ...]: ...

    async def close(self) -> None: ...


async def bounded(operation: Awaitable[T], *, writes: bool) -> T:
    """`operation` within `DEADLINE_S`; past it, `Refused` for a read, `Indeterminate` for a write."""
    try:
        return await asyncio.wait_for(operation, DEADLINE_S)
    except TimeoutError:
        if writes:
            raise Indeterminate(f"no answer within the client's deadline of {DEADLINE_S:g} s") from None
        raise Refused(f"no answer within the client's deadline of {DEADLINE_S:g} s") from None


async def perform(history: History, process: int, f: str, value: Any, operation: Awaitable[Any], *,
                  writes: bool, completed: Callable[[Any], Any] | None = None) -> int:
    """Run `operation` as `process`'s next operation in `history`, within the client's deadline:
    `ok` (its value `completed(result)`, or the invocation's), `fail` when refused (or a read
    that did not answer), `info` when a write's outcome is unknown. Returns the process to use
    next: a new one after `info` (Jepsen's rule: the old one may still be running)."""
    handle = history.invoke(process, f, value)
    try:
        result = await bounded(operation, writes=writes)
    except Refused as exc:
        handle.fail(str(exc))
    except Indeterminate as exc:
        if not writes:  # a read changes nothing: it certainly did not happen
            handle.fail(str(exc))
            return process
        handle.info(str(exc))
        return process + 1
    else:
        if completed is None:
            handle.ok()
        else:
            handle.ok(completed(result))
    return process


def merge_lists(lists: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """Siblings of a list merged as a Riak application would: the longest, then every element
    the others have that it lacks, in their order (nothing acknowledged is dropped)."""
    ordered = sorted(lists, key=len, reverse=True)
    merged = list(ordered[0]) if ordered else []
    seen = set(merged)
    for other in ordered[1:]:
        for element in other:
            if element not in seen:
                merged.append(element)
                seen.add(element)
    return tuple(merged)


def encode_list(elements: Sequence[int]) -> str:
    return ",".join(str(e) for e in elements)


def decode_list(text: str | None) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x) if text else ()
