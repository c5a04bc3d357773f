"""The three designs behind one interface: read a key, write a key, each outcome classified.

A scenario drives a `Design` per client and never knows which design it
drives. Every design answers in the vocabulary of Jepsen's histories:

* a read returns the values it saw: one, none (the key was never written),
  or several (Dynamo's siblings: concurrent writes it kept side by side);
* an operation that certainly did not happen raises `Refused` (a 4xx, a
  serialization failure: the history records `fail`);
* one whose outcome is unknown raises `Indeterminate` (a timeout, a lost
  connection, a 5xx after which the write may have landed: `info`). A
  Dynamo write refused for want of a quorum is indeterminate too: the
  replicas that took it keep it, and it may surface later.

Designs:

* `DynamoDesign`: Riak's HTTP API through `kv.dynamo.client`, at a chosen
  (N, R, W) with `dw` = W; each write carries the causal context of this
  client's last read of the key, as a Riak client would (so a client that
  read siblings resolves them by writing);
* `DynamoDBDesign`: boto3 GetItem (eventual, or `ConsistentRead`) and
  PutItem, in a worker thread (boto3 blocks);
* `DsqlDesign`: asyncpg, one statement per operation (each its own
  transaction): `SELECT` and an upsert.

Values are integers (registers hold numbers the workload makes unique per
write, so a read names the write it saw).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import asyncpg
import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from kv.dynamo.client import AsyncDynamoClient, DynamoHTTPError

REGISTER_BUCKET = "compare-register"
REGISTER_TABLE = "CompareRegister"
REGISTER_SQL_TABLE = "compare_register"
# Every call of a design is bounded: a partition must show as an indeterminate
# operation, not as a client that hangs.
CALL_TIMEOUT_S = 5.0
_CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "compare", "aws_secret_access_key": "compare"}


class Refused(Exception):
    """The design refused the operation: it did not take effect."""


class Indeterminate(Exception):
    """The operation's outcome is unknown: it may or may not have taken effect."""


class Design(Protocol):
    name: str

    async def setup(self) -> None: ...

    async def read(self, key: str) -> tuple[int, ...]: ...

    async def write(self, key: str, value: int) -> None: ...

    async def close(self) -> None: ...


class DynamoDesign:
    """Dynamo through its Riak HTTP API at (n_val, r, w), dw = w."""

    def __init__(self, url: str, *, n: int = 3, r: int = 2, w: int = 2, timeout_s: float = CALL_TIMEOUT_S) -> None:
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


class DynamoDBDesign:
    """DynamoDB through boto3: GetItem (eventual or ConsistentRead) and PutItem."""

    def __init__(self, url: str, *, consistent: bool, timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.name = "dynamodb strong" if consistent else "dynamodb eventual"
        self.consistent = consistent
        config = Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=timeout_s,
                        connect_timeout=timeout_s)  # fmt: skip
        self.client = boto3.client("dynamodb", endpoint_url=url, config=config, **_CREDENTIALS)

    async def setup(self) -> None:
        await asyncio.to_thread(self._create_table)

    def _create_table(self) -> None:
        try:
            self.client.create_table(
                TableName=REGISTER_TABLE, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            )  # fmt: skip
        except self.client.exceptions.ResourceInUseException:
            pass  # made by another client of the scenario

    async def read(self, key: str) -> tuple[int, ...]:
        try:
            reply = await asyncio.to_thread(
                self.client.get_item, TableName=REGISTER_TABLE, Key={"k": {"S": key}}, ConsistentRead=self.consistent
            )
        except (ClientError, BotoCoreError) as exc:
            raise Refused(str(exc)) from None
        item = reply.get("Item")
        return () if item is None else (int(item["v"]["N"]),)

    async def write(self, key: str, value: int) -> None:
        try:
            await asyncio.to_thread(
                self.client.put_item, TableName=REGISTER_TABLE, Item={"k": {"S": key}, "v": {"N": str(value)}}
            )
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
            if 400 <= status < 500:
                raise Refused(str(exc)) from None
            raise Indeterminate(str(exc)) from None
        except BotoCoreError as exc:
            raise Indeterminate(str(exc)) from None

    async def close(self) -> None:
        self.client.close()


class DsqlDesign:
    """DSQL through asyncpg: each operation one statement, so one transaction."""

    def __init__(self, dsn: str, *, timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.name = "dsql"
        self.dsn = dsn
        self.timeout_s = timeout_s
        self.connection: Any = None

    async def _connect(self) -> Any:
        if self.connection is None or self.connection.is_closed():
            self.connection = await asyncpg.connect(self.dsn, timeout=self.timeout_s)
        return self.connection

    async def setup(self) -> None:
        connection = await self._connect()
        await connection.execute(f"CREATE TABLE IF NOT EXISTS {REGISTER_SQL_TABLE} (k text PRIMARY KEY, v bigint)")

    async def read(self, key: str) -> tuple[int, ...]:
        try:
            connection = await self._connect()
            value = await connection.fetchval(f"SELECT v FROM {REGISTER_SQL_TABLE} WHERE k = $1", key,
                                              timeout=self.timeout_s)  # fmt: skip
        except (TimeoutError, asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            await self._drop()
            raise Refused(f"{type(exc).__name__}: {exc}") from None
        return () if value is None else (int(value),)

    async def write(self, key: str, value: int) -> None:
        try:
            connection = await self._connect()
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise Refused(f"cannot connect: {exc}") from None  # nothing was sent
        try:
            await connection.execute(
                f"INSERT INTO {REGISTER_SQL_TABLE} (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                key, value, timeout=self.timeout_s,
            )  # fmt: skip
        except asyncpg.SerializationError as exc:
            raise Refused(str(exc)) from None  # 40001: not committed
        except asyncpg.PostgresError as exc:
            raise Refused(f"{exc.sqlstate}: {exc}") from None
        except (TimeoutError, OSError, asyncpg.InterfaceError) as exc:
            await self._drop()
            raise Indeterminate(f"{type(exc).__name__}: {exc}") from None  # the COMMIT may have happened

    async def _drop(self) -> None:
        if self.connection is not None:
            self.connection.terminate()
            self.connection = None

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
