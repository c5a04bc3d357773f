"""Dynamo as a design of `dsql compare`: Riak's HTTP API through `kv.dynamo.client`.

Dynamo offers single-key reads and writes and nothing more (SOSP 2007 §4):
no condition on a write, no multi-key atomicity, no isolation. What a
workload needs beyond that it builds the way a Riak application would:

* every write carries the causal context (`X-Riak-Vclock`) of this client's
  last read of the key, so a write supersedes what its client saw and
  concurrent writes become siblings (`allow_mult`);
* a read that returns siblings is resolved by the application: a register
  reports them all (the checker judges them), a bank balance takes the
  sibling written last (by its timestamp: what applications without CRDTs
  do), a list takes the union of its siblings;
* a bank transfer is a read of both accounts then one write per account;
  a list-append transaction runs its micro-operations one by one.

A write refused for want of a quorum (503) is indeterminate: the replicas
that took it keep it.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from compare.designs import (
    CALL_TIMEOUT_S,
    Expressed,
    Indeterminate,
    Mop,
    Refused,
    decode_list,
    encode_list,
    merge_lists,
)
from kv.dynamo.client import AsyncDynamoClient, DynamoHTTPError, Fetched, Sibling

BUCKET_PREFIX = "compare"
_REFUSED_STATUSES = (400, 404, 412, 413, 415)


class DynamoDesign:
    """Dynamo through its Riak HTTP API at (n_val, r, w), dw = w."""

    family = "dynamo"

    def __init__(self, url: str, *, n: int = 3, r: int = 2, w: int = 2, timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.name = f"dynamo ({n},{r},{w})"
        self.n, self.r, self.w = n, r, w
        self.client = AsyncDynamoClient(url, timeout_s=timeout_s)
        self.expressed = Expressed()
        self._contexts: dict[tuple[str, str], str | None] = {}

    def _bucket(self, workload: str) -> str:
        return f"{BUCKET_PREFIX}-{workload}-{self.n}{self.r}{self.w}"

    async def _setup_bucket(self, workload: str) -> None:
        props = {"n_val": self.n, "r": self.r, "w": self.w, "dw": self.w, "allow_mult": True}
        try:
            await self.client.set_bucket_props(self._bucket(workload), props)
        except (DynamoHTTPError, httpx.HTTPError) as exc:
            raise Refused(f"bucket properties not set: {exc}") from None

    async def _get(self, workload: str, key: str, *, r: int | None = None) -> Fetched:
        try:
            fetched = await self.client.get(self._bucket(workload), key, r=r or self.r)
        except DynamoHTTPError as exc:
            raise Refused(f"{exc.status}: {exc}") from None  # a read changes nothing
        except httpx.HTTPError as exc:
            raise Refused(f"{type(exc).__name__}: {exc}") from None
        self._contexts[(workload, key)] = fetched.context
        return fetched

    async def _put(self, workload: str, key: str, value: str) -> None:
        try:
            await self.client.put(self._bucket(workload), key, value.encode(),
                                  context=self._contexts.get((workload, key)), content_type="text/plain",
                                  w=self.w, dw=self.w)  # fmt: skip
        except DynamoHTTPError as exc:
            if exc.status in _REFUSED_STATUSES:
                raise Refused(f"{exc.status}: {exc}") from None
            # 503 (a quorum not met, a timeout): the nodes that took it keep it.
            raise Indeterminate(f"{exc.status}: {exc}") from None
        except httpx.HTTPError as exc:
            raise Indeterminate(f"{type(exc).__name__}: {exc}") from None

    # -- registers ----------------------------------------------------------------------

    async def setup(self) -> None:
        await self._setup_bucket("register")

    async def read(self, key: str, *, r: int | None = None) -> tuple[int, ...]:
        fetched = await self._get("register", key, r=r)
        return tuple(sorted(int(s.value) for s in fetched.siblings)) if fetched.found else ()

    async def write(self, key: str, value: int) -> None:
        await self._put("register", key, str(value))
        self.expressed.note("single-key writes", f"PUT with the vector clock read (W={self.w})")
        self.expressed.note("concurrent writes resolved by", "the reader: siblings returned")

    # -- bank -------------------------------------------------------------------------

    async def setup_bank(self, accounts: Sequence[str], balance: int) -> None:
        await self._setup_bucket("bank")
        for account in accounts:
            await self._put("bank", account, str(balance))

    async def _balance(self, account: str) -> int:
        fetched = await self._get("bank", account)
        if not fetched.found:
            raise Refused(f"account {account} not found")
        return int(_latest(fetched.siblings).value)

    async def transfer(self, source: str, target: str, amount: int) -> None:
        from_balance = await self._balance(source)
        to_balance = await self._balance(target)
        if from_balance < amount:
            raise Refused("insufficient funds")
        await self._put("bank", source, str(from_balance - amount))
        try:
            await self._put("bank", target, str(to_balance + amount))
        except Refused as exc:
            raise Indeterminate(f"the debit was written, the credit refused: {exc}") from None
        self.expressed.note("multi-key atomic writes", "not offered: one PUT per account")
        self.expressed.note("conditional writes", "not offered: a write from a stale read makes a sibling")
        self.expressed.note("interactive transactions", "not offered: read, then write each key")
        self.expressed.note("concurrent writes resolved by", "the reader: the sibling written last wins")

    async def read_accounts(self, accounts: Sequence[str]) -> dict[str, int]:
        balances = {account: await self._balance(account) for account in accounts}
        self.expressed.note("consistent multi-key reads", "not offered: one GET per key")
        return balances

    # -- list-append --------------------------------------------------------------------

    async def setup_lists(self) -> None:
        await self._setup_bucket("lists")

    async def _list(self, key: str) -> tuple[int, ...]:
        fetched = await self._get("lists", str(key))
        return merge_lists([decode_list(s.value.decode()) for s in fetched.siblings]) if fetched.found else ()

    async def txn(self, mops: Sequence[Mop]) -> tuple[Mop, ...]:
        done: list[Mop] = []
        wrote = False
        try:
            for f, key, element in mops:
                current = await self._list(key)
                if f == "append":
                    await self._put("lists", str(key), encode_list((*current, element)))
                    wrote = True
                    done.append((f, key, element))
                else:
                    done.append((f, key, current))
        except Refused as exc:
            if wrote:  # an earlier append of this "transaction" is in
                raise Indeterminate(f"part of the micro-operations took effect: {exc}") from None
            raise
        except Indeterminate:
            raise
        if len(mops) > 1:
            self.expressed.note("interactive transactions", "not offered: each micro-operation alone")
        self.expressed.note("concurrent writes resolved by", "the reader: the union of sibling lists")
        return tuple(done)

    async def close(self) -> None:
        await self.client.http.aclose()


def _latest(siblings: Sequence[Sibling]) -> Sibling:
    """The sibling written last by its own timestamp (ties: the larger value), as an
    application without a merge function resolves a number."""
    return max(siblings, key=lambda s: (s.last_modified.timestamp() if s.last_modified else 0.0, s.value))
