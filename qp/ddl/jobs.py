"""Background jobs: CREATE INDEX ASYNC, ALTER TABLE ASYNC ... VALIDATE, sys.jobs.

DSQL builds indexes asynchronously: `CREATE INDEX ASYNC` returns a job id at
once, the build runs in the background, `sys.jobs` shows its progress and
`CALL sys.wait_for_job(id)` waits for it (shared/research/dsql.md §3.5).

A job's record lives in storage under the system key space, written by small
transactions of its own as it moves through submitted → processing →
completed | failed, so every session (and a later QP process) sees it.
Finished jobs disappear from sys.jobs after 30 minutes, as in DSQL. The work
itself is the same online build the synchronous statements run (qp/ddl/online.py),
run by a system task of this QP process, its transactions through the
transaction service (qp/txn/service.py).

A job outlives the QP that started it. Its record holds the work to do (the
follow-up steps, plain data) and a lease: the owning QP's index and a
heartbeat it renews every `HEARTBEAT_S` while the job runs. Every QP looks
for jobs whose heartbeat is older than `STALE_S` (their QP died, or the
server restarted) and claims one by rewriting its lease; writes of one key
conflict, so of several claimants exactly one commits, and a renewal or a
final status write made by a QP that lost its lease fails the same way
(each of them re-reads the record and stops when another QP owns it). The
winner runs the steps from the start: building an index and validating a
constraint are idempotent, so a build cut off half-way costs only its time.
"""

from __future__ import annotations

import base64
import logging
import uuid
from typing import Any

import trio

from qp.ddl import online
from qp.errors import SqlError
from qp.txn.transaction import Transaction
from qp.types import OID, TEXT, TIMESTAMPTZ
from storage import keys

log = logging.getLogger(__name__)

JOB_PREFIX = keys.NS_SYSTEM + b"job/"
PG_CLASS_OID = 1259
FINISHED_JOB_TTL_US = 30 * 60 * 1_000_000
WAIT_POLL_S = 0.05
STATUS_RETRIES_MAX = 50
# A running job's lease (see the module docstring).
HEARTBEAT_S = 2.0
STALE_S = 10.0
ORPHAN_CHECK_S = 3.0
_PG_EPOCH_NS = 946_684_800_000_000_000


def new_job_id() -> str:
    """A job id in DSQL's shape: 26 lower-case base32 characters."""
    return base64.b32encode(uuid.uuid4().bytes).decode().rstrip("=").lower()


def _job_key(job_id: str) -> bytes:
    return JOB_PREFIX + job_id.encode()


def _now_us(qp) -> int:
    return (qp.clock.now().latest - _PG_EPOCH_NS) // 1000


async def _write(qp, job_id: str, record: dict) -> None:
    async def put(txn: Transaction) -> None:
        txn.put(_job_key(job_id), record)

    await qp.txns.run(put, attempts=STATUS_RETRIES_MAX)


async def submit(qp, job_type: str, object_id: int, object_name: str, followups: list[tuple]) -> str:
    """Record a job and start it in the background on query processor `qp`; returns its id."""
    job_id = new_job_id()
    now = _now_us(qp)
    record = {"job_id": job_id, "status": "submitted", "details": None, "job_type": job_type,
              "class_id": PG_CLASS_OID, "object_id": object_id, "object_name": object_name,
              "start_time": now, "update_time": now, "followups": [list(step) for step in followups],
              "owner": qp.index, "heartbeat_us": now}
    await _write(qp, job_id, record)
    trio.lowlevel.spawn_system_task(_run, qp, job_id, name=f"job {job_id}")
    return job_id


class LeaseLost(Exception):
    """Another QP owns the job now (this one was taken for dead)."""


async def _update_owned(qp, job_id: str, **changes) -> dict:
    """Read the job's record and rewrite it with `changes`, if this QP still owns it."""

    async def update(txn: Transaction) -> dict:
        (record,) = await txn.get([_job_key(job_id)], catalog_check=False)
        if record is None or record.get("owner", qp.index) != qp.index:
            raise LeaseLost(job_id)
        record = {**record, **changes, "heartbeat_us": _now_us(qp)}
        txn.put(_job_key(job_id), record)
        return record

    return await qp.txns.run(update, attempts=STATUS_RETRIES_MAX)


async def _heartbeat(qp, job_id: str) -> None:
    while True:
        await trio.sleep(HEARTBEAT_S)
        await _update_owned(qp, job_id)


async def _run(qp, job_id: str) -> None:
    try:
        record = await _update_owned(qp, job_id, status="processing", update_time=_now_us(qp))
        followups = [tuple(step) for step in record.get("followups", ())]
        failure: SqlError | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_heartbeat, qp, job_id)
            try:
                await online.run_followups(qp.txns, qp.job_context(), followups)
            except SqlError as exc:
                failure = exc
            nursery.cancel_scope.cancel()
        if failure is not None:
            details = failure.message if not failure.detail else f"{failure.message}: {failure.detail}"
            if failure.sqlstate == "40001":
                details = "the object was dropped or changed while the job ran"
            await _update_owned(qp, job_id, status="failed", details=details, update_time=_now_us(qp))
            return
        await _update_owned(qp, job_id, status="completed", update_time=_now_us(qp))
    except* LeaseLost:
        log.info("background job %s: another query processor took it over", job_id)
    except* Exception:
        # A system task must never raise (it would end the server): log it.
        log.exception("background job %s failed", job_id)


async def resume_orphans(qp, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Run by every QP: claim and run jobs whose QP stopped renewing their lease."""
    task_status.started()
    while True:
        try:
            await _claim_orphans(qp)
        except Exception:  # noqa: BLE001 - storage unreachable now: try again next round
            log.info("looking for orphaned jobs failed", exc_info=True)
        await trio.sleep(ORPHAN_CHECK_S)


async def _claim_orphans(qp) -> None:
    records = await read_jobs(qp, qp.txns.begin(read_only=True))
    stale_before = _now_us(qp) - int(STALE_S * 1_000_000)
    for record in records:
        if record["status"] not in ("submitted", "processing") or record.get("heartbeat_us", 0) > stale_before:
            continue
        job_id = record["job_id"]

        async def claim(txn: Transaction, job_id: str = job_id) -> dict | None:
            (current,) = await txn.get([_job_key(job_id)], catalog_check=False)
            if current is None or current.get("heartbeat_us", 0) > stale_before or current["status"] not in (
                "submitted", "processing"
            ):
                return None
            if "followups" not in current:  # written by an older dsql: nothing to resume from
                txn.put(_job_key(job_id), {**current, "status": "failed", "update_time": _now_us(qp),
                                           "details": "the query processor running the job stopped"})  # fmt: skip
            else:
                txn.put(_job_key(job_id), {**current, "owner": qp.index, "heartbeat_us": _now_us(qp)})
            return current

        try:
            current = await qp.txns.run(claim, attempts=1)
        except SqlError as exc:
            if exc.sqlstate == "40001":
                continue  # another QP claimed it first
            raise
        if current is not None and "followups" in current:
            log.info("resuming background job %s, abandoned by query processor %s", job_id, current.get("owner"))
            trio.lowlevel.spawn_system_task(_run, qp, job_id, name=f"job {job_id}")


async def read_jobs(qp, txn) -> list[dict]:
    txn.begin_snapshot()
    records = []
    async for page in txn.scan(JOB_PREFIX, keys.prefix_end(JOB_PREFIX), catalog_check=False):
        records += [value for _, value in page]
    now = _now_us(qp)
    return [
        r for r in records
        if r["status"] in ("submitted", "processing") or now - r["update_time"] < FINISHED_JOB_TTL_US
    ]


async def wait_for_job(qp, job_id: str) -> bool:
    """Block until the job ends; True if it completed, False if it failed."""
    while True:
        txn = qp.txns.begin(read_only=True)
        txn.begin_snapshot()
        (record,) = await txn.get([_job_key(job_id)], catalog_check=False)
        if record is None:
            raise SqlError("42704", f'job "{job_id}" does not exist')
        if record["status"] == "completed":
            return True
        if record["status"] == "failed":
            return False
        await trio.sleep(WAIT_POLL_S)


class JobsRelation:
    """sys.jobs, as DSQL names its columns."""

    name = "jobs"
    columns = [("job_id", TEXT), ("status", TEXT), ("details", TEXT), ("job_type", TEXT), ("class_id", OID),
               ("object_id", OID), ("object_name", TEXT), ("start_time", TIMESTAMPTZ), ("update_time", TIMESTAMPTZ)]

    async def rows(self, rc: Any) -> list[tuple]:
        records = await read_jobs(rc.session.qp, rc.txn)
        records.sort(key=lambda r: r["start_time"])
        return [tuple(r[c] for c, _ in self.columns) for r in records]
