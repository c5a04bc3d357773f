"""The DynamoDB API over dsql's storage, adjudicators and journal.

boto3, the AWS CLI and PynamoDB talk to it unchanged (DynamoDB's JSON 1.0
protocol over HTTP). Module map:

    http, server      the ASGI app (protocol, errors, CRC, health, limits) and its server on trio
    sigv4             AWS Signature Version 4 verification (off unless enforced)
    service           the operation table and what requests share
    control           CreateTable, DescribeTable, UpdateTable, DeleteTable, TTL, tags
    items             PutItem, GetItem, UpdateItem, DeleteItem
    query             Query and Scan (paging, filters, parallel scan)
    batch             BatchGetItem, BatchWriteItem
    transact          TransactWriteItems, TransactGetItems, ClientRequestToken
    partiql(_parse)   ExecuteStatement, BatchExecuteStatement, ExecuteTransaction; statements parsed with sqlglot
    expr_*            expression trees, parser and evaluator; legacy parameters in `legacy`
    values, numbers   attribute values and DynamoDB's 38-digit numbers
    schema, catalog   table metadata and where it is stored; table_requests checks CreateTable/UpdateTable
    keycodec, itemkeys  storage keys of items and index entries
    txn               one-shot transactions (reads: storage.client.StorageClient, by read policy)
    maintenance       TTL expiry, reaping dropped tables, GSI backfill, item counts
"""

from kv.dynamodb.errors import DynamoError
from kv.dynamodb.http import DynamoDBApp, ReplicaControl
from kv.dynamodb.service import DynamoDBService

__all__ = ["DynamoDBApp", "DynamoDBService", "DynamoError", "ReplicaControl"]
