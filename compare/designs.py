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

from typing import Protocol

# Every call of a design is bounded: a partition must show as an indeterminate
# operation, not as a client that hangs.
CALL_TIMEOUT_S = 5.0


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
