"""DynamoDB as a design of `dsql compare`: boto3 against dsql's DynamoDB endpoint, in worker threads.

DynamoDB offers single-item writes with conditions, strongly consistent or
eventually consistent reads, and single-shot transactions
(TransactWriteItems, TransactGetItems): every read and write of a
transaction is given in one request, so a transaction cannot read, think
and then write. A workload that needs that does what DynamoDB's own
guidance says: read, then write with conditions that what it read is
unchanged (optimistic concurrency in the client).

Variants (`transactions`):

* without: GetItem (eventual or `ConsistentRead`) and PutItem; a bank
  transfer is two UpdateItem calls (a conditional debit, then a credit);
* with: a transfer is TransactGetItems of both accounts, then one
  TransactWriteItems setting both balances conditioned on the ones read; a
  list-append transaction is TransactGetItems of its keys, then one
  TransactWriteItems of its appends (`list_append`) conditioned on the size
  of every list it read (lists only grow, so an unchanged size is an
  unchanged list). Reads of several accounts are TransactGetItems either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from compare.designs import CALL_TIMEOUT_S, Expressed, Indeterminate, Mop, Refused

TABLES = {"register": "CompareRegister", "bank": "CompareBank", "lists": "CompareLists"}
_CREDENTIALS = {
    "region_name": "us-east-1",
    "aws_access_key_id": "compare",
    "aws_secret_access_key": "compare",
}
_REFUSALS = ("ConditionalCheckFailedException", "TransactionCanceledException", "ValidationException",
             "ResourceNotFoundException", "TransactionConflictException")  # fmt: skip


class DynamoDBDesign:
    """DynamoDB through boto3, eventual or strong reads, with or without transactions."""

    family = "dynamodb"

    def __init__(self, url: str, *, consistent: bool, transactions: bool = False,
                 timeout_s: float = CALL_TIMEOUT_S) -> None:  # fmt: skip
        self.name = "dynamodb transact" if transactions else "dynamodb strong" if consistent else "dynamodb eventual"
        self.consistent = consistent
        self.transactions = transactions
        config = Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=timeout_s,
                        connect_timeout=timeout_s)  # fmt: skip
        self.client = boto3.client("dynamodb", endpoint_url=url, config=config, **_CREDENTIALS)
        self.expressed = Expressed()

    async def _call(self, method: Callable[..., Any], *, writes: bool, **kwargs: Any) -> Any:
        """One call in a worker thread, its failure classified (a read that fails changed nothing)."""
        try:
            return await asyncio.to_thread(method, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
            if not writes or code in _REFUSALS or (400 <= status < 500 and code != "RequestTimeout"):
                raise Refused(f"{code}: {exc}") from None
            raise Indeterminate(f"{code} ({status}): {exc}") from None
        except BotoCoreError as exc:
            if not writes:
                raise Refused(str(exc)) from None
            raise Indeterminate(str(exc)) from None

    async def _create_table(self, workload: str) -> None:
        def create() -> None:
            try:
                self.client.create_table(
                    TableName=TABLES[workload], BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                )  # fmt: skip
            except self.client.exceptions.ResourceInUseException:
                pass  # made by another client of the scenario

        await asyncio.to_thread(create)

    # -- registers ----------------------------------------------------------------------

    async def setup(self) -> None:
        await self._create_table("register")

    async def read(self, key: str) -> tuple[int, ...]:
        reply = await self._call(self.client.get_item, writes=False, TableName=TABLES["register"],
                                 Key={"k": {"S": key}}, ConsistentRead=self.consistent)  # fmt: skip
        item = reply.get("Item")
        return () if item is None else (int(item["v"]["N"]),)

    async def write(self, key: str, value: int) -> None:
        await self._call(self.client.put_item, writes=True, TableName=TABLES["register"],
                         Item={"k": {"S": key}, "v": {"N": str(value)}})  # fmt: skip
        self.expressed.note("single-key writes", "PutItem")
        self.expressed.note("concurrent writes resolved by", "the service: the last write in its order")

    # -- bank -------------------------------------------------------------------------

    async def setup_bank(self, accounts: Sequence[str], balance: int) -> None:
        await self._create_table("bank")
        for account in accounts:
            await self._call(self.client.put_item, writes=True, TableName=TABLES["bank"],
                             Item={"k": {"S": account}, "balance": {"N": str(balance)}})  # fmt: skip

    async def _get_many(self, table: str, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        reply = await self._call(self.client.transact_get_items, writes=False, TransactItems=[
            {"Get": {"TableName": table, "Key": {"k": {"S": key}}}} for key in keys])  # fmt: skip
        return [response.get("Item") for response in reply["Responses"]]

    async def read_accounts(self, accounts: Sequence[str]) -> dict[str, int]:
        items = await self._get_many(TABLES["bank"], accounts)
        if any(item is None for item in items):
            raise Refused("an account is missing")
        self.expressed.note("consistent multi-key reads", "TransactGetItems")
        return {account: int(item["balance"]["N"]) for account, item in zip(accounts, items, strict=True)}

    async def transfer(self, source: str, target: str, amount: int) -> None:
        if self.transactions:
            await self._transfer_transaction(source, target, amount)
        else:
            await self._transfer_items(source, target, amount)

    async def _transfer_items(self, source: str, target: str, amount: int) -> None:
        table = TABLES["bank"]
        await self._call(self.client.update_item, writes=True, TableName=table, Key={"k": {"S": source}},
                         UpdateExpression="SET balance = balance - :a", ConditionExpression="balance >= :a",
                         ExpressionAttributeValues={":a": {"N": str(amount)}})  # fmt: skip
        try:
            await self._call(self.client.update_item, writes=True, TableName=table, Key={"k": {"S": target}},
                             UpdateExpression="SET balance = balance + :a",
                             ExpressionAttributeValues={":a": {"N": str(amount)}})  # fmt: skip
        except Refused as exc:
            raise Indeterminate(f"the debit was written, the credit refused: {exc}") from None
        self.expressed.note("conditional writes", "UpdateItem with a ConditionExpression")
        self.expressed.note("multi-key atomic writes", "not used: two UpdateItem calls")

    async def _transfer_transaction(self, source: str, target: str, amount: int) -> None:
        table = TABLES["bank"]
        balances = await self.read_accounts([source, target])
        if balances[source] < amount:
            raise Refused("insufficient funds")

        def update(account: str, new: int) -> dict[str, Any]:
            return {"Update": {
                "TableName": table, "Key": {"k": {"S": account}}, "UpdateExpression": "SET balance = :new",
                "ConditionExpression": "balance = :old",
                "ExpressionAttributeValues": {":new": {"N": str(new)}, ":old": {"N": str(balances[account])}},
            }}  # fmt: skip

        await self._call(self.client.transact_write_items, writes=True, TransactItems=[
            update(source, balances[source] - amount), update(target, balances[target] + amount)])  # fmt: skip
        self.expressed.note("multi-key atomic writes", "TransactWriteItems")
        self.expressed.note("conditional writes", "TransactWriteItems conditioned on the balances read")
        self.expressed.note("interactive transactions",
                            "not offered: TransactGetItems, then TransactWriteItems conditioned on it")

    # -- list-append --------------------------------------------------------------------

    async def setup_lists(self) -> None:
        await self._create_table("lists")

    async def txn(self, mops: Sequence[Mop]) -> tuple[Mop, ...]:
        if not self.transactions:
            raise Refused("list-append transactions need the transact variant")
        table = TABLES["lists"]
        keys = list(dict.fromkeys(str(key) for _, key, _ in mops))
        items = await self._get_many(table, keys)
        seen = {key: tuple(int(e["N"]) for e in item["v"]["L"]) if item else () for key, item in zip(keys, items, strict=True)}
        lists = dict(seen)
        done: list[Mop] = []
        appends: dict[str, list[int]] = {}
        read_keys: set[str] = set()
        for f, key, element in mops:
            k = str(key)
            if f == "append":
                lists[k] = (*lists[k], element)
                appends.setdefault(k, []).append(element)
                done.append((f, key, element))
            else:
                read_keys.add(k)
                done.append((f, key, lists[k]))
        if not appends:
            self.expressed.note("consistent multi-key reads", "TransactGetItems")
            return tuple(done)

        def unchanged(k: str) -> dict[str, Any]:
            if seen[k]:
                return {"ConditionExpression": "size(v) = :n", "ExpressionAttributeValues": {":n": {"N": str(len(seen[k]))}}}
            return {"ConditionExpression": "attribute_not_exists(v)"}

        items_out: list[dict[str, Any]] = []
        for k, elements in appends.items():
            condition = unchanged(k) if k in read_keys else {}
            values = {":add": {"L": [{"N": str(e)} for e in elements]}, ":empty": {"L": []},
                      **condition.get("ExpressionAttributeValues", {})}  # fmt: skip
            update = {"TableName": table, "Key": {"k": {"S": k}},
                      "UpdateExpression": "SET v = list_append(if_not_exists(v, :empty), :add)",
                      "ExpressionAttributeValues": values}  # fmt: skip
            if "ConditionExpression" in condition:
                update["ConditionExpression"] = condition["ConditionExpression"]
            items_out.append({"Update": update})
        for k in sorted(read_keys - set(appends)):
            items_out.append({"ConditionCheck": {"TableName": table, "Key": {"k": {"S": k}}, **unchanged(k)}})
        await self._call(self.client.transact_write_items, writes=True, TransactItems=items_out)
        self.expressed.note("multi-key atomic writes", "TransactWriteItems")
        if read_keys:
            self.expressed.note("interactive transactions",
                                "not offered: TransactGetItems, then TransactWriteItems conditioned on it")
        return tuple(done)

    async def close(self) -> None:
        self.client.close()
