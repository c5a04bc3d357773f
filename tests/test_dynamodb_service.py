"""The DynamoDB service in one trio process with an embedded cluster: what HTTP tests cannot reach.

Concurrent metadata changes, reaping a dropped table's keys, TTL expiry
racing an update, a GSI backfill racing writers, and where a table's keys
land in the range shards. The background loops are slowed right down and
driven by hand, so each test decides when they run.
"""

from __future__ import annotations

import time

import pytest
import trio

from assembly.embedded import ClusterConfig, EmbeddedCluster
from kv.dynamodb import DynamoDBService, DynamoError, catalog, keycodec
from kv.dynamodb import values as av


@pytest.fixture
async def service(nursery):
    cluster = EmbeddedCluster(ClusterConfig(data_dir=None))
    await nursery.start(cluster.run)
    svc = DynamoDBService(cluster.clock, cluster.topology, cluster.transport, ttl_interval_s=3600, reaper_interval_s=3600)
    await nursery.start(svc.run)
    svc.cluster = cluster  # for the tests that look at storage
    return svc


def table_request(name: str, **extra) -> dict:
    request = {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    request.update(extra)
    return request


async def all_keys_of(svc: DynamoDBService, table_id: int) -> list[bytes]:
    found = []
    async for page in svc.storage.scan(keycodec.NS, keycodec.NS_END, svc.committer.begin(), filter_tree=("cmp", "=", 0, table_id)):
        found += [key for key, _ in page]
    return found


async def test_concurrent_create_table_of_one_name(service):
    outcomes: list[str] = []

    async def create() -> None:
        try:
            await service.handle("CreateTable", table_request("Contested"))
            outcomes.append("created")
        except DynamoError as exc:
            outcomes.append(exc.type_name)

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(create)
    assert sorted(outcomes) == ["ResourceInUseException"] * 4 + ["created"]
    listed = await service.handle("ListTables", {})
    assert listed["TableNames"].count("Contested") == 1


async def test_table_ids_are_never_reused_and_dropped_keys_are_reaped(service, monkeypatch):
    monkeypatch.setattr(catalog, "DROP_GRACE_S", 0.0)
    gsi = [{"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}]
    definitions = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
                   {"AttributeName": "g", "AttributeType": "S"}]  # fmt: skip
    await service.handle("CreateTable", table_request("Doomed", GlobalSecondaryIndexes=gsi, AttributeDefinitions=definitions))
    first_id = (await service.catalog.get("Doomed")).table_id
    for i in range(30):
        await service.handle("PutItem", {"TableName": "Doomed", "Item": {"pk": {"S": f"p{i}"}, "sk": {"N": "1"}, "g": {"S": "x"}}})
    assert len(await all_keys_of(service, first_id)) == 60  # items and their GSI entries
    await service.handle("DeleteTable", {"TableName": "Doomed"})
    await service.handle("CreateTable", table_request("Doomed"))
    second_id = (await service.catalog.get("Doomed")).table_id
    assert second_id != first_id
    scanned = await service.handle("Scan", {"TableName": "Doomed", "ConsistentRead": True})
    assert scanned["Count"] == 0
    assert await service.maintenance.reap_once() == 60
    assert await all_keys_of(service, first_id) == []
    assert await service.catalog.dropped() == []


async def test_ttl_expiry_deletes_only_what_is_still_expired(service):
    await service.handle("CreateTable", table_request("Expiring"))
    await service.handle("UpdateTimeToLive", {"TableName": "Expiring", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "exp"}})
    past = str(int(time.time()) - 5)
    for i in range(10):
        await service.handle("PutItem", {"TableName": "Expiring", "Item": {"pk": {"S": f"p{i}"}, "sk": {"N": "1"}, "exp": {"N": past}}})
    future = str(int(time.time()) + 3600)
    # Extended before the expiry pass reads it: it must survive.
    await service.handle("UpdateItem", {"TableName": "Expiring", "Key": {"pk": {"S": "p0"}, "sk": {"N": "1"}},
                                        "UpdateExpression": "SET exp = :f", "ExpressionAttributeValues": {":f": {"N": future}}})  # fmt: skip
    assert await service.maintenance.expire_once() == 9
    left = await service.handle("Scan", {"TableName": "Expiring", "ConsistentRead": True})
    assert [i["pk"]["S"] for i in left["Items"]] == ["p0"]


async def test_backfill_races_writers_and_ends_consistent(service, monkeypatch):
    monkeypatch.setattr(catalog, "DROP_GRACE_S", 0.05)
    await service.handle("CreateTable", table_request("Backfilled"))
    for i in range(150):
        await service.handle("PutItem", {"TableName": "Backfilled", "Item": {"pk": {"S": f"p{i}"}, "sk": {"N": "1"}, "g": {"S": f"v{i % 7}"}}})
    await service.handle("UpdateTable", {
        "TableName": "Backfilled",
        "AttributeDefinitions": [{"AttributeName": "g", "AttributeType": "S"}],
        "GlobalSecondaryIndexUpdates": [{"Create": {"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["n"]}}}],
    })  # fmt: skip
    stop = trio.current_time() + 1.5

    async def writer(seed: int) -> None:
        i = seed
        while trio.current_time() < stop:
            i = (i * 31 + 7) % 150
            await service.handle("UpdateItem", {"TableName": "Backfilled", "Key": {"pk": {"S": f"p{i}"}, "sk": {"N": "1"}},
                                                "UpdateExpression": "SET g = :g ADD n :one",
                                                "ExpressionAttributeValues": {":g": {"S": f"v{seed}"}, ":one": {"N": "1"}}})  # fmt: skip
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        for seed in range(3):
            nursery.start_soon(writer, seed)
    with trio.fail_after(30):
        while (await service.catalog.get("Backfilled")).index("byG").status != "ACTIVE":
            await trio.sleep(0.05)
    # Every item is in the index exactly once, under its current g, with its current projection
    # (read eventually, as GSIs are: retried until the replicas have caught up).
    items = (await service.handle("Scan", {"TableName": "Backfilled", "ConsistentRead": True}))["Items"]
    expected = {(i["pk"]["S"], i["g"]["S"], i.get("n", {}).get("N")) for i in items}

    async def indexed() -> set:
        found = set()
        for g in {i["g"]["S"] for i in items}:
            pages = await service.handle("Query", {"TableName": "Backfilled", "IndexName": "byG", "KeyConditionExpression": "g = :g",
                                                   "ExpressionAttributeValues": {":g": {"S": g}}})  # fmt: skip
            found |= {(e["pk"]["S"], e["g"]["S"], e.get("n", {}).get("N")) for e in pages["Items"]}
        return found

    found = await indexed()
    with trio.move_on_after(10):
        while found != expected:
            await trio.sleep(0.05)
            found = await indexed()
    assert found == expected


async def test_a_table_spreads_over_the_range_shards(service):
    await service.handle("CreateTable", table_request("Spread"))
    table = await service.catalog.get("Spread")
    for i in range(64):
        await service.handle("PutItem", {"TableName": "Spread", "Item": {"pk": {"S": f"user{i}"}, "sk": {"N": "0"}}})
    ranges = service.topology.shard_ranges
    shards = {ranges.owner(key) for key in await all_keys_of(service, table.table_id)}
    dynamodb_shards = {ranges.owner(keycodec.NS + bytes([b, 0, 0, 0])) for b in range(256)}
    assert shards == dynamodb_shards and len(shards) >= 2
    # One partition's items stay together: a Query is one prefix scan on one shard.
    key = keycodec.item_key(table.table_id, {"S": "user1"}, {"N": "0"})
    assert keycodec.owner_ids(key) == (table.table_id, 0)
    assert av.kind_of({"S": "x"}) == "S"


async def test_client_request_tokens_are_forgotten_after_their_window(service, monkeypatch):
    from kv.dynamodb import maintenance

    await service.handle("CreateTable", table_request("Tokens"))
    request = {"TransactItems": [{"Update": {"TableName": "Tokens", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
                                             "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}}],
               "ClientRequestToken": "tok"}  # fmt: skip
    await service.handle("TransactWriteItems", request)
    await service.handle("TransactWriteItems", request)  # within the window: a replay
    assert len(await service.catalog.tokens()) == 1
    await service.maintenance.reap_once()
    assert len(await service.catalog.tokens()) == 1  # still within ten minutes
    monkeypatch.setattr(maintenance, "TOKEN_WINDOW_S", -1.0)
    await service.maintenance.reap_once()
    assert await service.catalog.tokens() == []
    item = await service.handle("GetItem", {"TableName": "Tokens", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "ConsistentRead": True})
    assert item["Item"]["n"] == {"N": "1"}


async def test_writes_to_one_item_take_turns(service):
    await service.handle("CreateTable", table_request("Hot"))
    key = {"pk": {"S": "hot"}, "sk": {"N": "1"}}

    async def add() -> None:
        for _ in range(10):
            await service.handle("UpdateItem", {"TableName": "Hot", "Key": key, "UpdateExpression": "ADD n :one",
                                                "ExpressionAttributeValues": {":one": {"N": "1"}}})  # fmt: skip

    conflicts_before = service.committer.conflicts
    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(add)
    item = await service.handle("GetItem", {"TableName": "Hot", "Key": key, "ConsistentRead": True})
    assert item["Item"]["n"] == {"N": "200"}
    assert service.committer.conflicts == conflicts_before  # queued, not raced
    assert len(service.item_locks) == 0
