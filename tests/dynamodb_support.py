"""Helpers for the DynamoDB API tests: boto3 clients, tables, test hooks.

The fixtures that start servers are in tests/dynamodb_servers.py (a pytest
plugin the test modules name in `pytest_plugins`).
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from bench.servers import DsqlServer, ServerError

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def client(url: str, **config: Any):
    """A boto3 DynamoDB client on `url` (standard retries, short timeouts so a hang fails fast)."""
    settings = {"retries": {"mode": "standard", "max_attempts": 3}, "read_timeout": 30, "connect_timeout": 5}
    settings.update(config)
    return boto3.client("dynamodb", endpoint_url=url, config=Config(**settings), **CREDENTIALS)


def resource(url: str):
    return boto3.resource(
        "dynamodb", endpoint_url=url, config=Config(retries={"mode": "standard", "max_attempts": 3}), **CREDENTIALS
    )


def start_dsql(base: Path, extra_args: tuple[str, ...] = ("--dynamodb-test-hooks",)) -> DsqlServer:
    server = DsqlServer(base / "data", log_path=base / "dsql.log", dynamodb_port=0, extra_args=extra_args)
    error = None
    try:
        server.start()
    except ServerError as exc:
        error = str(exc)
    if error is not None:
        pytest.fail(error, pytrace=False)
    return server


def create_table(
    c: Any,
    name: str,
    *,
    hash_key: tuple[str, str] = ("pk", "S"),
    range_key: tuple[str, str] | None = ("sk", "S"),
    extra_attributes: tuple[tuple[str, str], ...] = (),
    **kwargs: Any,
) -> dict[str, Any]:
    """CreateTable (on-demand) with a HASH [+ RANGE] key; extra attribute definitions for index keys."""
    schema = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
    definitions = [{"AttributeName": hash_key[0], "AttributeType": hash_key[1]}]
    if range_key is not None:
        schema.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
        definitions.append({"AttributeName": range_key[0], "AttributeType": range_key[1]})
    for attr, kind in extra_attributes:
        definitions.append({"AttributeName": attr, "AttributeType": kind})
    kwargs.setdefault("BillingMode", "PAY_PER_REQUEST")
    return c.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=definitions, **kwargs)


def hook(server: DsqlServer, path: str, method: str = "POST") -> dict[str, Any]:
    """Call one of `dsql serve --dynamodb-test-hooks`' /_dsql/test/ paths."""
    request = urllib.request.Request(
        server.dynamodb_url + "/_dsql/test/" + path, method=method, data=b"" if method == "POST" else None
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def eventually(read: Any, check: Any, timeout_s: float = 10.0) -> Any:
    """GSIs and default reads are eventually consistent: repeat `read()` until `check(result)` holds.

    Returns the last result either way, so the caller's own assertion shows what was seen.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = read()
        if check(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def error_code(exc: Any) -> str:
    return exc.response["Error"]["Code"]
