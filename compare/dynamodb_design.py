"""DynamoDB as a design of `dsql compare`: boto3 against dsql's DynamoDB endpoint, in worker threads."""

from __future__ import annotations

import asyncio

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from compare.designs import CALL_TIMEOUT_S, Indeterminate, Refused

REGISTER_TABLE = "CompareRegister"
_CREDENTIALS = {
    "region_name": "us-east-1",
    "aws_access_key_id": "compare",
    "aws_secret_access_key": "compare",
}


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
                self.client.get_item,
                TableName=REGISTER_TABLE,
                Key={"k": {"S": key}},
                ConsistentRead=self.consistent,
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
