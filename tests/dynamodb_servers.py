"""Fixtures for the DynamoDB API tests: a pytest plugin (`pytest_plugins = ["dynamodb_servers"]`).

``ddb_server`` (module scope) is a real ``dsql serve`` with its DynamoDB
endpoint on a free port and the replica test hooks on; ``moto`` (module
scope) is moto's standalone server on a free port. Both fail the test,
never skip it, when they cannot start. ``ddb`` is a boto3 client on dsql,
``ddb_table_name`` a table name unique to the test (with a capital letter:
DynamoDB table names are case-sensitive) and ``ddb_names`` a factory of more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from dynamodb_support import client, start_dsql
from support.names import unique_name

from bench.dynamodb import MotoServer
from bench.servers import DsqlServer, ServerError


@pytest.fixture(scope="module")
def ddb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DsqlServer]:
    server = start_dsql(tmp_path_factory.mktemp("dsql-ddb"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    base = tmp_path_factory.mktemp("moto")
    server = MotoServer(log_path=base / "moto.log")
    error = None
    try:
        server.start()
    except ServerError as exc:
        error = str(exc)
    if error is not None:
        pytest.fail(error, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ddb(ddb_server: DsqlServer):
    return client(ddb_server.dynamodb_url)


@pytest.fixture
def ddb_table_name(request: pytest.FixtureRequest) -> str:
    return unique_name(request.node.name, prefix="Ddb")[:200]


@pytest.fixture
def ddb_names(request: pytest.FixtureRequest) -> Callable[[str], str]:
    def make(base: str = "t") -> str:
        return unique_name(f"{request.node.name}_{base}", prefix="Ddb")[:200]

    return make
