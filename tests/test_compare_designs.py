"""The workloads through the three designs on one real `dsql serve`, with no faults.

Every design runs the same clients on the same keys; the history must be complete (no
operation without its completion), every read must return only values written to that key,
and with no fault every operation must succeed (but DSQL's writes that lose a conflict, which
are refused with 40001 and recorded as failed). (Which designs stay linearizable under
faults is `dsql compare`'s business; this checks the drivers and the recording.)

The bank and list-append workloads: with no fault, the designs with transactions (DynamoDB's
single-shot ones, DSQL's interactive ones) conserve money and show no anomaly Elle can find;
every design records the mechanisms it used (the report's programming-model table).
"""

from __future__ import annotations

import asyncio

import pytest

from bench.servers import DsqlServer
from checker import bank as bank_checker
from checker import list_append
from checker.history import History, OpType, pair
from compare.appends import run_list_append
from compare.bank import run_bank
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


BANK_DESIGNS = {
    "dynamo-322": lambda s: DynamoDesign(s.dynamo_url, n=3, r=2, w=2),
    "dynamodb-single": lambda s: DynamoDBDesign(s.dynamodb_url, consistent=True),
    "dynamodb-transact": lambda s: DynamoDBDesign(s.dynamodb_url, consistent=True, transactions=True),
    "dsql": lambda s: DsqlDesign(s.dsn),
}
TRANSACTIONAL = ("dynamodb-transact", "dsql")


def _run_clients(designs, work):
    async def main():
        try:
            await work()
        finally:
            for design in designs:
                await design.close()

    asyncio.run(main())


@pytest.mark.parametrize("name", sorted(BANK_DESIGNS))
def test_the_bank_workload_conserves_money_where_the_design_has_transactions(server, name):
    designs = [BANK_DESIGNS[name](server) for _ in range(4)]
    accounts = [f"bank-{name}-{i}" for i in range(4)]
    history = History()
    deadline = [0]

    def stop() -> bool:
        deadline[0] += 1
        return deadline[0] > 160  # about 40 operations per client

    async def work():
        await designs[0].setup_bank(accounts, 50)
        await run_bank(designs, accounts=accounts, seed=3, history=history, stop=stop, pause_s=0.0)
        final = await designs[0].read_accounts(accounts)
        checked = bank_checker.check(history.ops, 200, accounts)
        done = pair(history.ops)
        assert all(op.completion is not None for op in done)
        assert sum(1 for op in done if op.f == "transfer" and op.type is OpType.OK) > 0
        unknown = [op.completion.error for op in done if op.type is OpType.INFO]
        assert unknown == [], f"no fault, yet outcomes unknown: {unknown[:3]}"
        if name in TRANSACTIONAL:
            assert checked.valid, checked.render()
            assert sum(final.values()) == 200, final
        if name == "dynamodb-single":
            assert sum(final.values()) == 200, "every transfer finished both halves"
        expressed = designs[0].expressed.counts
        for design in designs[1:]:
            for feature, by_how in design.expressed.counts.items():
                for how, n in by_how.items():
                    expressed.setdefault(feature, {}).setdefault(how, 0)
                    expressed[feature][how] += n
        assert "multi-key atomic writes" in expressed, expressed
        atomic = " ".join(expressed["multi-key atomic writes"])
        if name in TRANSACTIONAL:
            assert "not" not in atomic, atomic
        else:
            assert atomic.startswith("not"), atomic

    _run_clients(designs, work)


@pytest.mark.parametrize("name", ["dynamo-322", "dynamodb-transact", "dsql"])
def test_the_list_append_workload_runs_and_transactions_show_no_anomaly(server, name):
    factory = BANK_DESIGNS[name]
    designs = [factory(server) for _ in range(3)]
    keys = [f"lists-{name}-{i}" for i in range(3)]
    history = History()
    count = [0]

    def stop() -> bool:
        count[0] += 1
        return count[0] > 90

    async def work():
        await designs[0].setup_lists()
        await run_list_append(designs, keys=keys, seed=5, history=history, stop=stop, pause_s=0.0)

    _run_clients(designs, work)
    done = pair(history.ops)
    assert all(op.completion is not None for op in done)
    ok = [op for op in done if op.type is OpType.OK]
    assert ok, "some transaction committed"
    appended = {(mop[1], mop[2]) for op in done for mop in op.invoke.value if mop[0] == "append"}
    for op in ok:
        for f, key, value in op.completion.value:
            if f == "r":
                assert all((key, element) in appended for element in value), f"read {value} of {key}: never appended"
    if name != "dynamo-322":
        checked = list_append.check(history.ops, strict=True)
        assert checked.valid, checked.render()
