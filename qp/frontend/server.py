"""The query processor as a process-level service: sessions and the catalog cache.

One `QueryProcessor` serves every connection of a process. It owns what
sessions share: the storage client, the route to the adjudicators, the clock,
and the catalog cache (immutable snapshots by version, so a session can keep
using the one its transaction started with while others load newer ones).
"""

from __future__ import annotations

import itertools
import logging
import random
import secrets
from collections.abc import Callable
from typing import Any

import trio

from cluster.clock import Clock
from cluster.topology import Topology
from cluster.transport import InProcessTransport
from qp import api
from qp.bind.ddl import roles
from qp.catalog.cache import CatalogCache
from qp.catalog.stored import CatalogSnapshot
from qp.catalog.temp_overlay import with_temp
from qp.ddl import jobs, role_statements
from qp.errors import SqlError
from qp.exec.dml import set_rowid_qp
from qp.frontend.session import Session
from qp.pgcatalog.cluster_views import Member, embedded_members
from qp.plan.stats import STATS_REFRESH_S, StatsCache
from qp.txn.service import TransactionService
from qp.types.context import EvalContext
from storage.client import StorageClient

log = logging.getLogger(__name__)

SESSIONS_MAX = 10_000  # DSQL's per-cluster connection limit
# A backend PID names its query processor: pid = qp index << PID_QP_SHIFT | n,
# so a CancelRequest that lands on another QP (they share one port with
# SO_REUSEPORT) is forwarded to the one whose session it names. PIDs stay
# positive int32s, as clients expect, for up to 256 QPs.
PID_QP_SHIFT = 22
PID_FIRST = 1000
QP_INDEX_MAX = 255


class QueryProcessor:
    def __init__(
        self, clock: Clock, topology: Topology, transport: InProcessTransport, *, index: int = 0,
        members: list[Member] | None = None, rng: random.Random | None = None,
    ) -> None:
        """`index` names this QP among the cluster's (PIDs and hidden row ids carry it);
        `members` are the cluster's parts (sys.cluster_nodes); `rng` makes the sessions'
        cancel keys (by default from `secrets`): the simulator passes a seeded one, so
        that a run is a function of its seed."""
        assert 0 <= index <= QP_INDEX_MAX, index
        self.index = index
        # The cluster's parts, for sys.cluster_nodes and sys.shards (qp/pgcatalog/cluster_views.py).
        self.address = f"qp/{index}"
        self.members = members if members is not None else [
            *embedded_members(topology), Member(f"qp-{index}", "qp", "local", self.address)
        ]
        set_rowid_qp(index)
        self.clock = clock
        self._rng = rng
        self.topology = topology
        self.transport = transport
        self.storage = StorageClient(topology, transport)
        self.catalogs = CatalogCache()
        self.txns = TransactionService(clock, self.storage, topology, transport, self.catalogs)
        self.table_stats = StatsCache()  # what ANALYZE measured, for the planner (qp/plan/stats.py)
        self.sessions: dict[int, Any] = {}
        self._pids = itertools.count(PID_FIRST)
        # Set by a QP process that has peers: forwards a cancel meant for another QP.
        self.forward_cancel: Callable[[int, int, int], None] | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The QP's own background work: resuming jobs whose QP stopped (qp/ddl/jobs.py),
        and reading what other QPs' ANALYZE wrote (qp/plan/stats.py)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._refresh_stats)
            await jobs.resume_orphans(self, task_status=task_status)

    async def _refresh_stats(self) -> None:
        """Off the statement path, so a slow or unreachable storage never delays a bind."""
        while True:
            try:
                await self.table_stats.refresh(self.txns.begin(read_only=True))
            except Exception:  # noqa: BLE001 - storage unreachable now: the planner keeps what it has
                log.info("reading table statistics failed", exc_info=True)
            await trio.sleep(STATS_REFRESH_S)

    # -- SessionFactory ----------------------------------------------------------

    async def open_session(self, startup: dict[str, str], client: api.ClientAddress | None = None):
        if len(self.sessions) >= SESSIONS_MAX:
            raise SqlError("53300", "Unable to accept connection, too many open connections.", severity="FATAL")
        database = startup.get("database") or startup.get("user") or "postgres"
        if database != "postgres":
            raise SqlError("3D000", f'database "{database}" does not exist', severity="FATAL")
        await self._check_connection_limit(startup.get("user", ""))
        secret_key = self._rng.getrandbits(31) if self._rng is not None else secrets.randbits(31)
        session = Session(self, self._next_pid(), secret_key, startup)
        session.activity.client = client
        self.sessions[session.process_id] = session
        return session

    def job_context(self) -> EvalContext:
        """What a background job's expressions read: a fresh session's context (qp/ddl/jobs.py)."""
        return Session(self, 0, 0, {"user": "dsql_jobs"}).ctx

    async def find_role(self, user: str):
        """The role `user` names, from the newest committed catalog (for authentication)."""
        txn = self.txns.begin(read_only=True)
        txn.begin_snapshot()
        role = roles.find_role(await self.load_catalog(txn), user)
        if role is None:
            return None
        valid_until = None if role.valid_until is None else role.valid_until + 946_684_800_000_000
        return api.LoginRole(role.name, role.login, role.password, valid_until)

    async def set_bootstrap_password(self, password: str) -> None:
        """Give the predefined `admin` role this password (a DDL transaction; a no-op if it has it)."""

        async def set_password(txn) -> None:
            await role_statements.set_bootstrap_password(txn, txn.catalog, password)

        await self.txns.run(set_password, with_catalog=True)

    def _next_pid(self) -> int:
        n = next(self._pids)
        if n >= 1 << PID_QP_SHIFT:  # after four million sessions, start again
            self._pids = itertools.count(PID_FIRST + 1)
            n = PID_FIRST
        return self.index << PID_QP_SHIFT | n

    def cancel(self, process_id: int, secret_key: int) -> None:
        owner = process_id >> PID_QP_SHIFT
        if owner != self.index:
            if self.forward_cancel is not None:
                self.forward_cancel(owner, process_id, secret_key)
            return
        session = self.sessions.get(process_id)
        if session is not None and session.secret_key == secret_key:
            session.cancel()

    def signal_backend(self, process_id: int, terminate: bool, sender: str) -> bool:
        """pg_cancel_backend / pg_terminate_backend, with PostgreSQL's permission rules
        (pg_signal_backend): a superuser may signal anyone; another role only
        sessions of its own role, never a superuser's. False if there is no such session."""
        session = self.sessions.get(process_id)
        if session is None:
            return False
        if not self._is_superuser(sender):
            what = "terminate process" if terminate else "cancel query"
            if self._is_superuser(session.user):
                noun = "terminate processes" if terminate else "cancel queries"
                raise SqlError("42501", f"permission denied to {what}", detail=f"Only roles with the SUPERUSER "
                               f"attribute may {noun} of roles with the SUPERUSER attribute.")
            if session.user != sender:
                detail = ("Only roles with privileges of the role whose process is being terminated or with "
                          'privileges of the "pg_signal_backend" role may terminate this process.') if terminate \
                    else ("Only roles with privileges of the role whose query is being canceled or with "
                          'privileges of the "pg_signal_backend" role may cancel this query.')
                raise SqlError("42501", f"permission denied to {what}", detail=detail)
        if terminate:
            session.terminate()
        else:
            session.cancel()
        return True

    def _is_superuser(self, user: str) -> bool:
        role = roles.find_role(self.catalog_guess(), user)
        return role is None or role.superuser  # no such role: trust auth's bootstrap superuser

    async def _check_connection_limit(self, user: str) -> None:
        """A role's CONNECTION LIMIT, as PostgreSQL applies it (superusers are exempt)."""
        catalog = self.latest_catalog
        if catalog is None:
            txn = self.txns.begin(read_only=True)
            txn.begin_snapshot()
            catalog = await self.load_catalog(txn)
        role = roles.find_role(catalog, user)
        if role is None or role.superuser or role.connection_limit < 0:
            return
        if sum(1 for s in self.sessions.values() if s.user == user) >= role.connection_limit:
            raise SqlError("53300", f'too many connections for role "{user}"', severity="FATAL")

    def session_closed(self, session) -> None:
        self.sessions.pop(session.process_id, None)

    # -- catalog -------------------------------------------------------------------

    async def load_catalog(self, txn) -> CatalogSnapshot:
        """The catalog as of the transaction's τ_start (qp/catalog/cache.py), with the
        temporary objects of the transaction's session (qp/catalog/temp_overlay.py)."""
        return await with_temp(await self.catalogs.load(txn), txn)

    def catalog_guess(self) -> CatalogSnapshot:
        """The newest catalog this process knows (validated by storage on use)."""
        return self.catalogs.guess()

    @property
    def latest_catalog(self) -> CatalogSnapshot | None:
        return self.catalogs.latest
