"""The scenarios of `dsql compare`: a workload and a fault schedule, the same for every design.

The cluster (`compare.cluster`): five hosts h0..h4; journal replicas on
h0, h1, h2 (h0 leads); a storage node and a Dynamo node on every host; query
processors (and so the clients' endpoints) on h0 and h1. The AZs are
a = {h0, h3}, b = {h1, h4}, c = {h2}.

* `register`: clients read and write a few keys. A replica host (h4) is
  slowed, then h1 and h2 are cut off from h0, h3, h4 (each side keeps a QP
  and Dynamo nodes), then the cut heals. Every history is checked for
  linearizability; stale reads and reads returning siblings are counted.
* `bank`: transfers among accounts as each design can express them, reads
  of every account checked against the total, the same partition.
* `list-append`: Elle's transactions, the same partition; every anomaly
  snapshot isolation forbids is named.
* `host-loss`: every write a new key; h2's processes (its storage node,
  Dynamo node and journal replica) are killed with SIGKILL mid-write and
  restarted; afterwards every acknowledged write is read back.
* `az`: every host's packets are delayed (a cross-AZ round trip), then AZ c
  (h2) is cut off, then comes back: latency and success per phase.

The scaling and re-replication scenarios are in `compare.copies`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from checker import bank as bank_checker
from checker import linearizable
from checker import list_append as list_append_checker
from checker.history import History, OpType, pair
from compare.analysis import fill
from compare.appends import run_list_append
from compare.bank import run_bank
from compare.cluster import CompareCluster
from compare.designs import Design, Expressed, Indeterminate, Refused, perform
from compare.dsql_design import DsqlDesign
from compare.dynamo_design import DynamoDesign
from compare.dynamodb_design import DynamoDBDesign
from compare.phases import Context, DesignFactory, Fleet, Phase, Schedule
from compare.register import run_register
from compare.results import DesignResult, ScenarioResult

CUT = ("h1", "h2")
AZS = {"a": ("h0", "h3"), "b": ("h1", "h4"), "c": ("h2",)}
LAGGING_HOST = "h4"
LAG_MS = 150
CROSS_AZ_MS = 1.0  # one way, on every host: a ~2 ms round trip between hosts
LOST_HOST_ROLES = ("storage-2", "journal-2")
CHECK_TIME_LIMIT_S = 20.0  # per key: past it the linearizability verdict is "unknown"

DYNAMO_322: DesignFactory = lambda e: DynamoDesign(e.dynamo_url, n=3, r=2, w=2)  # noqa: E731
DYNAMO_311: DesignFactory = lambda e: DynamoDesign(e.dynamo_url, n=3, r=1, w=1)  # noqa: E731
DYNAMODB_EVENTUAL: DesignFactory = lambda e: DynamoDBDesign(e.dynamodb_url, consistent=False)  # noqa: E731
DYNAMODB_STRONG: DesignFactory = lambda e: DynamoDBDesign(e.dynamodb_url, consistent=True)  # noqa: E731
DYNAMODB_TRANSACT: DesignFactory = lambda e: DynamoDBDesign(e.dynamodb_url, consistent=True, transactions=True)  # noqa: E731
DSQL: DesignFactory = lambda e: DsqlDesign(e.dsn)  # noqa: E731


def _partition(cluster: CompareCluster) -> None:
    cluster.heal()
    cluster.partition(list(CUT))


def _phases_partition(ctx: Context) -> list[Phase]:
    s = 1.0 if ctx.quick else 2.5
    return [
        Phase("before", 3 * s, ""),
        Phase("partition", 6 * s, f"{', '.join(CUT)} cut off from the other hosts", _partition),
        Phase("after", 4 * s, "the partition healed", CompareCluster.heal),
    ]


def scenario_result(name: str, title: str, workload: str, phases: Sequence[Phase], schedule: Schedule) -> ScenarioResult:
    """A scenario's result with its faults and phases as they happened (its designs to be added)."""
    return ScenarioResult(name, title, workload, "; then ".join(p.fault for p in phases if p.fault),
                          schedule.phase_starts_s(), (schedule.end_ns - schedule.start_ns) / 1e9)  # fmt: skip


def design_result(name: str, designs: Sequence[Design], history: History, schedule: Schedule) -> DesignResult:
    result = DesignResult(name, designs[0].family)
    fill(result, pair(history.ops), schedule.marks, schedule.start_ns, schedule.end_ns)
    expressed = Expressed()
    for design in designs:
        expressed.merge(design.expressed)
    result.expresses = expressed.summary()
    return result


async def _setup(fleet: Fleet, method: str, *args: object) -> None:
    for clients in fleet.designs.values():
        await getattr(clients[0], method)(*args)


# -- register ---------------------------------------------------------------------------


async def _registers(ctx: Context, scenario: str, phases: Sequence[Phase], factories: dict[str, DesignFactory], *,
                     per_qp: int, keys: int, pause_s: float) -> tuple[Fleet, Schedule]:  # fmt: skip
    """The register workload on every design through `phases`."""
    fleet = Fleet.of(ctx, factories, per_qp=per_qp)
    await _setup(fleet, "setup")

    async def work(name: str, clients: list[Design], history: History, stop: Callable[[], bool]) -> None:
        await run_register(clients, keys=keys, ops_per_client=10**9, seed=ctx.seed, history=history,
                           pause_s=pause_s, stop=stop, key_prefix=ctx.key_prefix(scenario, name))  # fmt: skip

    return fleet, await fleet.run(ctx, scenario, phases, work)


async def register(ctx: Context) -> ScenarioResult:
    s = 1.0 if ctx.quick else 2.5
    phases = [
        Phase("before", 3 * s, ""),
        Phase("replica lag", 4 * s, f"{LAGGING_HOST}'s packets delayed {LAG_MS} ms",
              lambda c: c.cli("delay", LAGGING_HOST, str(LAG_MS))),
        Phase("partition", 6 * s, f"{', '.join(CUT)} cut off from the other hosts", _partition),
        Phase("after", 4 * s, "the partition healed", CompareCluster.heal),
    ]  # fmt: skip
    factories = {"dynamo (3,2,2)": DYNAMO_322, "dynamo (3,1,1)": DYNAMO_311, "dynamodb eventual": DYNAMODB_EVENTUAL,
                 "dynamodb strong": DYNAMODB_STRONG, "dsql": DSQL}  # fmt: skip
    fleet, schedule = await _registers(ctx, "register", phases, factories, per_qp=2, keys=3, pause_s=0.05)
    scenario = scenario_result("register", "Registers under a lagging replica and a partition",
                               "4 clients per design read and write 3 keys (a new value on each write)", phases, schedule)
    histories = fleet.histories
    for name, clients_ in fleet.designs.items():
        with ctx.console.status(f"register: checking {name}'s history for linearizability"):
            result = await asyncio.to_thread(_check_register, name, clients_, histories[name], schedule)
        history_file = ctx.out / f"register-{_slug(name)}.jsonl"
        histories[name].dump(history_file)
        result.metrics["history"] = history_file.name
        scenario.designs.append(result)
    return scenario


def _check_register(name: str, designs: Sequence[Design], history: History, schedule: Schedule) -> DesignResult:
    result = design_result(name, designs, history, schedule)
    done = pair(history.ops)
    result.metrics["sibling_reads"] = sum(1 for op in done if op.f == "read" and op.type is OpType.OK
                                          and len(op.completion.value[1]) > 1)  # fmt: skip
    checked = linearizable.check(done, linearizable.sibling_register(()), keyed=True,
                                 time_limit_s=CHECK_TIME_LIMIT_S)  # fmt: skip
    result.metrics["linearizable"] = checked.valid
    result.metrics["stale_reads"] = len(checked.stale_reads)
    by_phase: dict[str, int] = {}
    for stale in checked.stale_reads:
        phase = _phase_at(stale.read.invoke.time_ns, schedule)
        by_phase[phase] = by_phase.get(phase, 0) + 1
    result.metrics["stale_reads_by_phase"] = by_phase
    result.metrics["reads_ok"] = sum(1 for op in done if op.f == "read" and op.type is OpType.OK)
    if checked.failures or checked.stale_reads:
        result.failure = checked.render(cases_max=1)
    return result


def _phase_at(at_ns: int, schedule: Schedule) -> str:
    current = schedule.marks[0][0] if schedule.marks else "before"
    for name, start in schedule.marks:
        if at_ns >= start:
            current = name
    return current


# -- bank -------------------------------------------------------------------------------

ACCOUNTS = 5
BALANCE = 100


async def bank(ctx: Context) -> ScenarioResult:
    phases = _phases_partition(ctx)
    factories = {"dynamo (3,2,2)": DYNAMO_322,
                 "dynamodb single-item": lambda e: DynamoDBDesign(e.dynamodb_url, consistent=True),
                 "dynamodb transact": DYNAMODB_TRANSACT, "dsql": DSQL}  # fmt: skip
    fleet = Fleet.of(ctx, factories, per_qp=2)
    accounts = {name: [f"{ctx.key_prefix('bank', name)}{i}" for i in range(ACCOUNTS)] for name in fleet.designs}
    for name, clients_ in fleet.designs.items():
        await clients_[0].setup_bank(accounts[name], BALANCE)
    finals: dict[str, dict[str, int] | None] = {}

    async def work(name: str, clients: list[Design], history: History, stop: Callable[[], bool]) -> None:
        await run_bank(clients, accounts=accounts[name], seed=ctx.seed, history=history, stop=stop)

    async def final_reads() -> None:
        await asyncio.sleep(1.0)  # let the last writes settle before the final read
        for name, clients_ in fleet.designs.items():
            finals[name] = await _final_accounts(clients_[0], accounts[name])

    schedule = await fleet.run(ctx, "bank", phases, work, then=final_reads)
    total = ACCOUNTS * BALANCE
    scenario = scenario_result("bank", "Bank transfers under a partition",
                               f"4 clients per design move money among {ACCOUNTS} accounts of {BALANCE} and read "
                               "every account (70% transfers)", phases, schedule)  # fmt: skip
    histories = fleet.histories
    for name, clients_ in fleet.designs.items():
        result = design_result(name, clients_, histories[name], schedule)
        done = pair(histories[name].ops)
        checked = bank_checker.check(histories[name].ops, total, accounts[name])
        reads = [op for op in done if op.f == "read" and op.type is OpType.OK]
        result.metrics.update({
            "expected_total": total, "reads": len(reads),
            "wrong_totals": len(checked.anomalies.get("wrong-total", [])),
            "anomalies": {kind: len(found) for kind, found in checked.anomalies.items()},
            "final_total": None if finals[name] is None else sum(finals[name].values()),
            "transfers_ok": sum(1 for op in done if op.f == "transfer" and op.type is OpType.OK),
        })  # fmt: skip
        result.series["total"] = [[round((op.completion.time_ns - schedule.start_ns) / 1e9, 2),
                                   sum(op.completion.value.values())] for op in reads]  # fmt: skip
        if not checked.valid:
            result.failure = checked.render(cases_max=2)
        histories[name].dump(ctx.out / f"bank-{_slug(name)}.jsonl")
        scenario.designs.append(result)
    return scenario


async def _final_accounts(design: Design, accounts: Sequence[str]) -> dict[str, int] | None:
    for _ in range(5):
        try:
            return await design.read_accounts(accounts)
        except (Refused, Indeterminate):
            await asyncio.sleep(1.0)
    return None


# -- list-append ------------------------------------------------------------------------

LIST_KEYS = 6


async def list_append(ctx: Context) -> ScenarioResult:
    phases = _phases_partition(ctx)
    factories = {"dynamo (3,2,2)": DYNAMO_322, "dynamodb transact": DYNAMODB_TRANSACT, "dsql": DSQL}
    fleet = Fleet.of(ctx, factories, per_qp=2)
    keys = {name: [f"{ctx.key_prefix('lists', name)}{i}" for i in range(LIST_KEYS)] for name in fleet.designs}
    await _setup(fleet, "setup_lists")

    async def work(name: str, clients: list[Design], history: History, stop: Callable[[], bool]) -> None:
        await run_list_append(clients, keys=keys[name], seed=ctx.seed, history=history, stop=stop)

    schedule = await fleet.run(ctx, "list-append", phases, work)
    scenario = scenario_result("list-append", "Elle's list-append transactions under a partition",
                               f"4 clients per design run transactions of 1-4 reads and appends on {LIST_KEYS} keys",
                               phases, schedule)  # fmt: skip
    histories = fleet.histories
    for name, clients_ in fleet.designs.items():
        result = design_result(name, clients_, histories[name], schedule)
        with ctx.console.status(f"list-append: checking {name}'s history (Elle's graph)"):
            checked = await asyncio.to_thread(list_append_checker.check, histories[name].ops, True)
        result.metrics["anomalies"] = {kind: len(found) for kind, found in sorted(checked.anomalies.items())}
        result.metrics["allowed"] = {kind: len(found) for kind, found in sorted(checked.allowed.items())}
        result.metrics["valid"] = checked.valid
        if not checked.valid:
            result.failure = checked.render(cases_max=1)
        histories[name].dump(ctx.out / f"list-append-{_slug(name)}.jsonl")
        scenario.designs.append(result)
    return scenario


# -- host loss --------------------------------------------------------------------------


def _kill_host(cluster: CompareCluster) -> None:
    _each(cluster.kill, LOST_HOST_ROLES)


def _restart_host(cluster: CompareCluster) -> None:
    _each(cluster.restart, LOST_HOST_ROLES)


async def host_loss(ctx: Context) -> ScenarioResult:
    s = 1.0 if ctx.quick else 2.0
    phases = [
        Phase("before", 3 * s, ""),
        Phase("host killed", 6 * s, f"kill -9 of h2's {' and '.join(LOST_HOST_ROLES)} (and its Dynamo node)", _kill_host),
        Phase("restarted", 5 * s, "h2's processes restarted", _restart_host),
    ]  # fmt: skip
    factories = {"dynamo (3,2,2)": DYNAMO_322, "dynamo (3,1,1)": DYNAMO_311, "dynamodb strong": DYNAMODB_STRONG,
                 "dsql": DSQL}  # fmt: skip
    fleet = Fleet.of(ctx, factories, per_qp=2)
    await _setup(fleet, "setup")
    finals: dict[str, dict[str, object]] = {}

    async def writer(name: str, index: int, design: Design, history: History, stop: Callable[[], bool]) -> None:
        prefix = ctx.key_prefix("host-loss", name)
        rng = random.Random(ctx.seed * 31 + index)
        process, n = index * 1000, 0
        while not stop():
            n += 1
            key = f"{prefix}{index}-{n}"
            process = await perform(history, process, "write", (key, n), design.write(key, n), writes=True)
            await asyncio.sleep(rng.uniform(0, 0.03))

    async def work(name: str, clients: list[Design], history: History, stop: Callable[[], bool]) -> None:
        await asyncio.gather(*(writer(name, i, d, history, stop) for i, d in enumerate(clients)))

    async def read_back() -> None:
        for name, clients_ in fleet.designs.items():
            with ctx.console.status(f"host-loss: reading back every write {name} acknowledged"):
                finals[name] = await _read_back(clients_, fleet.histories[name])

    schedule = await fleet.run(ctx, "host-loss", phases, work, then=read_back)
    scenario = scenario_result("host-loss", "A host killed mid-write (kill -9), then restarted",
                               "4 clients per design write new keys as fast as they can; afterwards every "
                               "acknowledged write is read back (Dynamo with R = 3)", phases, schedule)  # fmt: skip
    histories = fleet.histories
    for name, clients_ in fleet.designs.items():
        result = design_result(name, clients_, histories[name], schedule)
        result.metrics.update(finals[name])
        histories[name].dump(ctx.out / f"host-loss-{_slug(name)}.jsonl")
        scenario.designs.append(result)
    return scenario


async def _read_back(designs: Sequence[Design], history: History) -> dict[str, object]:
    """Every acknowledged write read back; lost = not there (or unreadable after retries)."""
    acked = [op.invoke.value for op in pair(history.ops) if op.f == "write" and op.type is OpType.OK]
    lost: list[str] = []
    unreadable = 0
    semaphore = asyncio.Semaphore(len(designs))
    pool = list(designs)

    async def check(key: str, value: int) -> None:
        nonlocal unreadable
        async with semaphore:
            design = pool.pop()
            try:
                for _attempt in range(3):
                    try:
                        seen = await (design.read(key, r=3) if isinstance(design, DynamoDesign) else design.read(key))
                    except (Refused, Indeterminate):
                        await asyncio.sleep(0.5)
                        continue
                    if value not in seen:
                        lost.append(key)
                    return
                unreadable += 1
            finally:
                pool.append(design)

    await asyncio.gather(*(check(key, value) for key, value in acked))
    return {"acked_writes": len(acked), "lost_writes": len(lost), "unreadable": unreadable,
            "lost_examples": sorted(lost)[:5]}  # fmt: skip


# -- AZ latency and loss ----------------------------------------------------------------


def _each(action: Callable[[str], object], items: Sequence[str]) -> None:
    """`action` on every item at once (each is a `dsql cluster` command of its own)."""
    with ThreadPoolExecutor(len(items)) as pool:
        for done in [pool.submit(action, item) for item in items]:
            done.result()


def _delay_all(cluster: CompareCluster) -> None:
    _each(lambda host: cluster.cli("delay", host, f"{CROSS_AZ_MS:g}"), cluster.hosts())


def _lose_az(cluster: CompareCluster) -> None:
    cluster.partition(list(AZS["c"]))


async def az(ctx: Context) -> ScenarioResult:
    s = 1.0 if ctx.quick else 2.5
    phases = [
        Phase("latency", 4 * s, f"every host's packets delayed {CROSS_AZ_MS:g} ms (AZs a={{h0,h3}} "
                                "b={h1,h4} c={h2})", _delay_all),
        Phase("AZ c lost", 6 * s, "AZ c (h2) cut off from the others", _lose_az),
        Phase("healed", 4 * s, "AZ c back, the delays removed", CompareCluster.heal),
    ]  # fmt: skip
    factories = {"dynamo (3,2,2)": DYNAMO_322, "dynamo (3,1,1)": DYNAMO_311, "dynamodb eventual": DYNAMODB_EVENTUAL,
                 "dynamodb strong": DYNAMODB_STRONG, "dsql": DSQL}  # fmt: skip
    fleet, schedule = await _registers(ctx, "az", phases, factories, per_qp=1, keys=20, pause_s=0.02)
    scenario = scenario_result("az", "Latency across AZs, and the loss of one AZ",
                               "1 client per design and QP reads and writes 20 keys", phases, schedule)
    histories = fleet.histories
    for name, clients_ in fleet.designs.items():
        result = design_result(name, clients_, histories[name], schedule)
        histories[name].dump(ctx.out / f"az-{_slug(name)}.jsonl")
        scenario.designs.append(result)
    return scenario


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


SCENARIOS = {"register": register, "bank": bank, "list-append": list_append, "host-loss": host_loss, "az": az}
