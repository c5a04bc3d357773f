"""Consistency and transactions through the DynamoDB endpoint of a real `dsql serve`.

- With one storage replica held back (the `--dynamodb-test-hooks` pause), an
  eventually consistent read can return the old item, and a strongly
  consistent one never does: strong reads go to each shard's leader replica
  (storage node 0 of the embedded server until a failover), eventual ones
  to any replica.
- With the leader held back, strong reads fail (500) until a new leader is
  chosen, a few seconds later, while eventual reads go on; then they answer
  with the newest item again.
- Writes to one item from many clients are atomic: no lost updates, and a
  conditional put is won exactly once.
- Concurrent TransactWriteItems on overlapping items never both commit (each
  success below is a compare-and-set on one counter, so two committing from
  the same old value would show as a counter lower than the successes).
- A transfer workload over TransactWriteItems keeps its total, checked with
  TransactGetItems snapshots while it runs.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from botocore.exceptions import ClientError
from dynamodb_support import client, create_table, error_code, hook, start_dsql

pytest_plugins = ["dynamodb_servers"]


def run_threads(count: int, target) -> list[BaseException]:
    errors: list[BaseException] = []

    def wrapped(n: int) -> None:
        try:
            target(n)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return errors


def test_eventual_reads_can_be_stale_strong_reads_never(ddb_server, ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    key = {"pk": {"S": "item"}, "sk": {"S": "1"}}
    ddb.put_item(TableName=ddb_table_name, Item={**key, "version": {"N": "1"}})
    # Both replicas have applied version 1 before one of them is held back.
    deadline = time.monotonic() + 10
    while not all(ddb.get_item(TableName=ddb_table_name, Key=key).get("Item", {}).get("version") == {"N": "1"} for _ in range(4)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert hook(ddb_server, "replicas/1/pause")["paused"] is True  # a follower: the leader is node 0
    try:
        ddb.put_item(TableName=ddb_table_name, Item={**key, "version": {"N": "2"}})
        eventual = [ddb.get_item(TableName=ddb_table_name, Key=key)["Item"]["version"]["N"] for _ in range(20)]
        strong = [ddb.get_item(TableName=ddb_table_name, Key=key, ConsistentRead=True)["Item"]["version"]["N"] for _ in range(20)]
        queried = {
            ddb.query(TableName=ddb_table_name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "item"}},
                      ConsistentRead=True)["Items"][0]["version"]["N"]
            for _ in range(6)
        }  # fmt: skip
        batch = ddb.batch_get_item(RequestItems={ddb_table_name: {"Keys": [key], "ConsistentRead": True}})
        transact = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": ddb_table_name, "Key": key}}])
    finally:
        hook(ddb_server, "replicas/1/resume")
    assert "1" in eventual, "a held-back replica should have answered an eventual read with the old item"
    assert "2" in eventual, "the other replica has the new item"
    assert set(strong) == {"2"}
    assert queried == {"2"}
    assert batch["Responses"][ddb_table_name][0]["version"] == {"N": "2"}
    assert transact["Responses"][0]["Item"]["version"] == {"N": "2"}
    # Released, the replica catches up and eventual reads converge.
    deadline = time.monotonic() + 10
    while {ddb.get_item(TableName=ddb_table_name, Key=key)["Item"]["version"]["N"] for _ in range(6)} != {"2"}:
        assert time.monotonic() < deadline, "the released replica did not catch up"
        time.sleep(0.05)


def test_single_item_writes_are_atomic(ddb_server, ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    url = ddb_server.dynamodb_url
    key = {"pk": {"S": "counter"}, "sk": {"S": "1"}}
    per_thread = 25

    def add(_: int) -> None:
        c = client(url)
        for _ in range(per_thread):
            c.update_item(TableName=ddb_table_name, Key=key, UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}})

    assert run_threads(8, add) == []
    assert ddb.get_item(TableName=ddb_table_name, Key=key, ConsistentRead=True)["Item"]["n"] == {"N": str(8 * per_thread)}

    winners: list[int] = []

    def claim(n: int) -> None:
        c = client(url)
        try:
            c.put_item(TableName=ddb_table_name, Item={"pk": {"S": "lock"}, "sk": {"S": "1"}, "owner": {"N": str(n)}},
                       ConditionExpression="attribute_not_exists(pk)")  # fmt: skip
            winners.append(n)
        except ClientError as exc:
            assert error_code(exc) == "ConditionalCheckFailedException"

    assert run_threads(10, claim) == []
    assert len(winners) == 1
    owner = ddb.get_item(TableName=ddb_table_name, Key={"pk": {"S": "lock"}, "sk": {"S": "1"}}, ConsistentRead=True)["Item"]["owner"]
    assert owner == {"N": str(winners[0])}


def test_overlapping_transactions_never_both_commit(ddb_server, ddb, ddb_table_name):
    create_table(ddb, ddb_table_name)
    url = ddb_server.dynamodb_url
    counter = {"pk": {"S": "cas"}, "sk": {"S": "1"}}
    ddb.put_item(TableName=ddb_table_name, Item={**counter, "v": {"N": "0"}})
    successes: list[int] = []
    cancelled: list[str] = []

    def worker(n: int) -> None:
        c = client(url)
        for i in range(20):
            old = int(c.get_item(TableName=ddb_table_name, Key=counter, ConsistentRead=True)["Item"]["v"]["N"])
            try:
                c.transact_write_items(TransactItems=[
                    {"Update": {"TableName": ddb_table_name, "Key": counter, "UpdateExpression": "SET v = :new",
                                "ConditionExpression": "v = :old",
                                "ExpressionAttributeValues": {":old": {"N": str(old)}, ":new": {"N": str(old + 1)}}}},
                    {"Put": {"TableName": ddb_table_name, "Item": {"pk": {"S": f"w{n}"}, "sk": {"S": str(i)}}}},
                ])  # fmt: skip
                successes.append(old)
            except ClientError as exc:
                assert error_code(exc) == "TransactionCanceledException", exc.response
                codes = [r["Code"] for r in exc.response["CancellationReasons"]]
                assert codes[0] in ("ConditionalCheckFailed", "TransactionConflict") and codes[1] == "None", codes
                cancelled.append(codes[0])

    assert run_threads(6, worker) == []
    final = int(ddb.get_item(TableName=ddb_table_name, Key=counter, ConsistentRead=True)["Item"]["v"]["N"])
    assert final == len(successes)
    assert sorted(successes) == list(range(final))  # each old value was won by exactly one transaction
    assert cancelled, "six clients on one item should have collided at least once"
    # The cancelled transactions' Puts were not applied either (all or nothing).
    markers = ddb.scan(TableName=ddb_table_name, ConsistentRead=True, Select="COUNT")["Count"] - 1
    assert markers == len(successes)


@pytest.mark.slow
def test_transfers_keep_the_total(ddb_server, ddb, ddb_table_name):
    create_table(ddb, ddb_table_name, range_key=None)
    url = ddb_server.dynamodb_url
    accounts = 20
    initial = 1000
    ddb.batch_write_item(RequestItems={ddb_table_name: [
        {"PutRequest": {"Item": {"pk": {"S": f"acct{i}"}, "balance": {"N": str(initial)}}}} for i in range(accounts)]})  # fmt: skip
    stop = time.monotonic() + 20
    committed: list[int] = []
    totals: list[int] = []

    def transfer(n: int) -> None:
        c = client(url)
        rng = random.Random(n)
        while time.monotonic() < stop:
            a, b = rng.sample(range(accounts), 2)
            amount = rng.randint(1, 50)
            try:
                c.transact_write_items(TransactItems=[
                    {"Update": {"TableName": ddb_table_name, "Key": {"pk": {"S": f"acct{a}"}}, "UpdateExpression": "SET balance = balance - :x",
                                "ConditionExpression": "balance >= :x", "ExpressionAttributeValues": {":x": {"N": str(amount)}}}},
                    {"Update": {"TableName": ddb_table_name, "Key": {"pk": {"S": f"acct{b}"}}, "UpdateExpression": "SET balance = balance + :x",
                                "ExpressionAttributeValues": {":x": {"N": str(amount)}}}},
                ], ClientRequestToken=f"t{n}-{len(committed)}-{rng.random()}"[:36])  # fmt: skip
                committed.append(amount)
            except ClientError as exc:
                assert error_code(exc) in ("TransactionCanceledException", "TransactionInProgressException"), exc.response

    def audit(_: int) -> None:
        c = client(url)
        while time.monotonic() < stop:
            got = c.transact_get_items(TransactItems=[
                {"Get": {"TableName": ddb_table_name, "Key": {"pk": {"S": f"acct{i}"}}}} for i in range(accounts)])  # fmt: skip
            totals.append(sum(int(r["Item"]["balance"]["N"]) for r in got["Responses"]))
            time.sleep(0.05)

    errors = run_threads(6, lambda n: audit(n) if n == 0 else transfer(n))
    assert errors == []
    assert len(committed) > 50
    assert totals and set(totals) == {accounts * initial}, "a snapshot saw a transfer half done"
    final = ddb.scan(TableName=ddb_table_name, ConsistentRead=True)["Items"]
    assert sum(int(i["balance"]["N"]) for i in final) == accounts * initial
    assert all(int(i["balance"]["N"]) >= 0 for i in final)


def test_strong_reads_wait_for_a_new_leader_when_theirs_stops_and_eventual_reads_go_on(tmp_path):
    server = start_dsql(tmp_path / "leader")
    try:
        ddb = client(server.dynamodb_url, retries={"mode": "standard", "total_max_attempts": 1})
        create_table(ddb, "LeaderLoss")
        key = {"pk": {"S": "item"}, "sk": {"S": "1"}}
        ddb.put_item(TableName="LeaderLoss", Item={**key, "version": {"N": "1"}})
        assert ddb.get_item(TableName="LeaderLoss", Key=key, ConsistentRead=True)["Item"]["version"] == {"N": "1"}
        assert hook(server, "replicas/0/pause")["paused"] is True  # the embedded server's leader
        ddb.put_item(TableName="LeaderLoss", Item={**key, "version": {"N": "2"}})
        lost_at = time.monotonic()
        refused = 0
        while True:
            try:
                item = ddb.get_item(TableName="LeaderLoss", Key=key, ConsistentRead=True)["Item"]
            except ClientError as exc:
                assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 500, exc.response
                assert "leader" in exc.response["Error"]["Message"]
                refused += 1
                # Eventual reads are answered meanwhile (by the follower, or the paused leader's old state).
                assert ddb.get_item(TableName="LeaderLoss", Key=key)["Item"]["version"]["N"] in ("1", "2")
                assert time.monotonic() - lost_at < 60, "no new leader within a minute"
                continue
            break
        assert refused >= 1, "strong reads were refused while the shard had no leader"
        assert item["version"] == {"N": "2"}, "the new leader serves the newest item"
        assert time.monotonic() - lost_at >= 2.0, "a leader is replaced only after it stayed silent for a while"
        # The old leader, released, follows: strong reads stay on the new one and stay fresh.
        hook(server, "replicas/0/resume")
        ddb.put_item(TableName="LeaderLoss", Item={**key, "version": {"N": "3"}})
        assert ddb.get_item(TableName="LeaderLoss", Key=key, ConsistentRead=True)["Item"]["version"] == {"N": "3"}
    finally:
        server.stop()
