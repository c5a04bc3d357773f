"""Dynamo as a design of `dsql compare`: Riak's HTTP API through `kv.dynamo.client`."""

from __future__ import annotations

import httpx

from compare.designs import CALL_TIMEOUT_S, Indeterminate, Refused
from kv.dynamo.client import AsyncDynamoClient, DynamoHTTPError

REGISTER_BUCKET = "compare-register"


class DynamoDesign:
    """Dynamo through its Riak HTTP API at (n_val, r, w), dw = w."""

    def __init__(
        self, url: str, *, n: int = 3, r: int = 2, w: int = 2, timeout_s: float = CALL_TIMEOUT_S
    ) -> None:
        self.name = f"dynamo ({n},{r},{w})"
        self.n, self.r, self.w = n, r, w
        self.bucket = f"{REGISTER_BUCKET}-{n}{r}{w}"
        self.client = AsyncDynamoClient(url, timeout_s=timeout_s)
        self._contexts: dict[str, str | None] = {}

    async def setup(self) -> None:
        await self.client.set_bucket_props(self.bucket, {"n_val": self.n, "r": self.r, "w": self.w, "dw": self.w,
                                                         "allow_mult": True})  # fmt: skip

    async def read(self, key: str) -> tuple[int, ...]:
        try:
            fetched = await self.client.get(self.bucket, key, r=self.r)
        except DynamoHTTPError as exc:
            raise Refused(f"{exc.status}: {exc}") from None  # a read changes nothing
        except httpx.HTTPError as exc:
            raise Refused(f"{type(exc).__name__}: {exc}") from None
        self._contexts[key] = fetched.context
        return tuple(sorted(int(s.value) for s in fetched.siblings)) if fetched.found else ()

    async def write(self, key: str, value: int) -> None:
        try:
            await self.client.put(self.bucket, key, str(value).encode(), context=self._contexts.get(key),
                                  content_type="text/plain", w=self.w, dw=self.w)  # fmt: skip
        except DynamoHTTPError as exc:
            if exc.status in (400, 404, 412, 413, 415):
                raise Refused(f"{exc.status}: {exc}") from None
            # 503 (a quorum not met, a timeout): the nodes that took it keep it.
            raise Indeterminate(f"{exc.status}: {exc}") from None
        except httpx.HTTPError as exc:
            raise Indeterminate(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        await self.client.http.aclose()
