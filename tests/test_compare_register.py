"""The register workload through the three designs on one real `dsql serve`, with no faults.

Every design runs the same clients on the same keys; the history must be complete (no
operation without its completion), every read must return only values written to that key,
and with no fault every operation must succeed (but DSQL's writes that lose a conflict, which
are refused with 40001 and recorded as failed). (Which designs stay linearizable under
faults is `dsql compare`'s business; this checks the drivers and the recording.)
"""

from __future__ import annotations

import asyncio

import pytest

from bench.servers import DsqlServer
from checker.history import OpType, pair
from compare.dsql_design import DsqlDesign
from compare.dynamo_design import DynamoDesign
from compare.dynamodb_design import DynamoDBDesign
from compare.register import run_register

DESIGNS = {
    "dynamo-322": lambda s: DynamoDesign(s.dynamo_url, n=3, r=2, w=2),
    "dynamo-311": lambda s: DynamoDesign(s.dynamo_url, n=3, r=1, w=1),
    "dynamodb-strong": lambda s: DynamoDBDesign(s.dynamodb_url, consistent=True),
    "dynamodb-eventual": lambda s: DynamoDBDesign(s.dynamodb_url, consistent=False),
    "dsql": lambda s: DsqlDesign(s.dsn),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("compare")
    server = DsqlServer(base / "data", log_path=base / "dsql.log", dynamodb_port=0, dynamo_port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_the_register_workload_runs_the_same_on_every_design(server, name):
    designs = [DESIGNS[name](server) for _ in range(3)]

    async def main():
        try:
            return await run_register(designs, keys=3, ops_per_client=15, seed=7, key_prefix=f"{name}-r")
        finally:
            for design in designs:
                await design.close()

    history = asyncio.run(main())
    done = pair(history.ops)
    assert len(done) == 45 and all(op.completion is not None for op in done)
    failed = [(op.invoke.f, op.completion.error) for op in done if op.type is not OpType.OK]
    # DSQL's optimistic concurrency refuses one of two concurrent writes of a key (40001, OC000),
    # recorded as a failed write; nothing else may fail without a fault.
    unexpected = [
        (f, error) for f, error in failed if not (name == "dsql" and f == "write" and "OC000" in error)
    ]
    assert unexpected == [], f"{designs[0].name}: operations failed with no fault: {unexpected}"
    written: dict[str, set[int]] = {}
    for op in done:
        if op.f == "write":
            written.setdefault(op.invoke.value[0], set()).add(op.invoke.value[1])
    reads = [op for op in done if op.f == "read"]
    assert reads and any(op.completion.value[1] for op in reads), "some read saw a value"
    for op in reads:
        key, seen = op.completion.value
        assert set(seen) <= written.get(key, set()), (
            f"{designs[0].name}: read {seen} of {key}, never written there"
        )
