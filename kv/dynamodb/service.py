"""The DynamoDB service: one object per process, the operations, and what they share.

Like the SQL side's `QueryProcessor`, the service takes the clock, the
topology and the transport as arguments and reaches every other part only
through them (storage replicas for reads, adjudicators for commits), so it
runs inside `dsql serve` now and can run in a process of its own later.

`handle(operation, request)` is the whole interface: a request dict in
(DynamoDB's JSON), a response dict out, or a `DynamoError`. The HTTP layer
(`http`) is a thin wrapper around it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from cluster.clock import Clock
from cluster.topology import Topology
from cluster.transport import InProcessTransport
from kv.dynamodb import batch, control, items, partiql, query, streams_api, transact
from kv.dynamodb.catalog import Catalog
from kv.dynamodb.errors import DynamoError, internal
from kv.dynamodb.leaders import LeaderFailover
from kv.dynamodb.maintenance import Maintenance
from kv.dynamodb.txn import Committer, KeyLocks
from storage.client import LeaderUnavailable, StorageClient
from storage.interface import StorageUnavailable

log = logging.getLogger(__name__)

# Rows per storage page of a scan: a DynamoDB page is at most 1 MB, usually
# far fewer rows than storage's own page, and a Query often stops early.
SCAN_PAGE_ROWS = 200

Handler = Callable[["DynamoDBService", dict[str, Any]], Awaitable[dict[str, Any] | None]]

OPERATIONS: dict[str, Handler] = {
    # control plane
    "CreateTable": control.create_table,
    "DescribeTable": control.describe_table,
    "ListTables": control.list_tables,
    "UpdateTable": control.update_table,
    "DeleteTable": control.delete_table,
    "UpdateTimeToLive": control.update_time_to_live,
    "DescribeTimeToLive": control.describe_time_to_live,
    "TagResource": control.tag_resource,
    "UntagResource": control.untag_resource,
    "ListTagsOfResource": control.list_tags_of_resource,
    "DescribeLimits": control.describe_limits,
    "DescribeEndpoints": control.describe_endpoints,
    "DescribeContinuousBackups": control.describe_continuous_backups,
    # items
    "PutItem": items.put_item,
    "GetItem": items.get_item,
    "UpdateItem": items.update_item,
    "DeleteItem": items.delete_item,
    "Query": query.query,
    "Scan": query.scan,
    "BatchGetItem": batch.batch_get_item,
    "BatchWriteItem": batch.batch_write_item,
    "TransactWriteItems": transact.transact_write_items,
    "TransactGetItems": transact.transact_get_items,
    # PartiQL
    "ExecuteStatement": partiql.execute_statement,
    "BatchExecuteStatement": partiql.batch_execute_statement,
    "ExecuteTransaction": partiql.execute_transaction,
}

# The DynamoDB Streams API (X-Amz-Target: DynamoDBStreams_20120810.<Operation>) on the same endpoint.
STREAM_OPERATIONS: dict[str, Handler] = {
    "ListStreams": streams_api.list_streams,
    "DescribeStream": streams_api.describe_stream,
    "GetShardIterator": streams_api.get_shard_iterator,
    "GetRecords": streams_api.get_records,
}


class DynamoDBService:
    def __init__(
        self,
        clock: Clock,
        topology: Topology,
        transport: InProcessTransport,
        *,
        region: str = "us-east-1",
        account: str = "000000000000",
        rng: random.Random | None = None,
        ttl_interval_s: float = 1.0,
        reaper_interval_s: float = 2.0,
        stream_shard_s: float = streams_api.SHARD_S_DEFAULT,
        stream_retention_s: float = streams_api.RETENTION_S_DEFAULT,
    ) -> None:
        self.clock = clock
        self.topology = topology
        self.transport = transport
        self.region = region
        self.account = account
        self.rng = rng or random.Random()
        # How long each new stream shard stays open (whole milliseconds: shard ids carry
        # its start in milliseconds), and how long stream records are kept.
        self.stream_shard_ns = max(1, round(stream_shard_s * 1000)) * 1_000_000
        self.stream_retention_ns = round(stream_retention_s * 1e9)
        # Strong reads fail over from a held-back replica; eventual ones do not wait (storage/client.py).
        self.storage = StorageClient(topology, transport, clock=clock, page_rows=SCAN_PAGE_ROWS)
        self.committer = Committer(clock, topology, transport)
        self.catalog = Catalog(self.storage, self.committer)
        self.item_locks = KeyLocks()
        self.maintenance = Maintenance(self, ttl_interval_s=ttl_interval_s, reaper_interval_s=reaper_interval_s)
        # ConsistentRead goes to each shard's leader replica; one that stops answering is replaced.
        self.leaders = LeaderFailover(topology, transport, clock, self.storage)
        self.requests = 0
        self.errors = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Background work (TTL, reaping, backfills, replacing strong-read leaders that stopped
        answering); the service answers requests without it too."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.leaders.run)
            await nursery.start(self.maintenance.run)
            task_status.started()

    async def handle(
        self, operation: str, request: dict[str, Any], *, streams: bool = False
    ) -> dict[str, Any] | None:
        """Run one operation (of the Streams API if `streams`); raises DynamoError with what the client should see."""
        self.requests += 1
        handler = (STREAM_OPERATIONS if streams else OPERATIONS).get(operation)
        if handler is None:
            raise DynamoError("UnknownOperationException", "An unknown operation was requested.")
        try:
            return await handler(self, request)
        except DynamoError:
            self.errors += 1
            raise
        except LeaderUnavailable as exc:
            # DynamoDB answers strong reads only from a replica group's leader: none until a new one leads.
            self.errors += 1
            self.leaders.report(exc.start, exc.node)
            raise internal(f"strongly consistent reads are unavailable until a new leader is chosen: {exc}") from None
        except StorageUnavailable as exc:
            self.errors += 1
            raise internal(f"storage unavailable: {exc}") from None
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
            # A request shape our checks did not anticipate: still the client's
            # input, so a 400 rather than a fault SDKs would retry. Logged as a
            # warning because it may also be a bug worth a closer check.
            self.errors += 1
            log.warning("dynamodb: %s: unexpected request shape", operation, exc_info=True)
            raise DynamoError("ValidationException", f"Invalid request: {type(exc).__name__}: {exc}") from None
