"""The query processor as a process-level service: sessions and the catalog cache.

One `QueryProcessor` serves every connection of a process. It owns what
sessions share: the storage client, the route to the adjudicators, the clock,
and the catalog cache (immutable snapshots by version, so a session can keep
using the one its transaction started with while others load newer ones).
"""

from __future__ import annotations

import itertools
import logging
import secrets
from typing import Any

from cluster.clock import Clock
from cluster.topology import Topology
from cluster.transport import InProcessTransport
from qp.catalog import NEXT_OID_KEY, RELATION_PREFIX, VERSION_KEY, CatalogSnapshot
from qp.errors import SqlError
from storage import keys
from storage.client import StorageClient

log = logging.getLogger(__name__)

CATALOG_SNAPSHOTS_KEPT = 8
SESSIONS_MAX = 10_000  # DSQL's per-cluster connection limit


class QueryProcessor:
    def __init__(self, clock: Clock, topology: Topology, transport: InProcessTransport) -> None:
        self.clock = clock
        self.topology = topology
        self.transport = transport
        self.storage = StorageClient(topology, transport)
        self._catalogs: dict[int, CatalogSnapshot] = {}
        self.latest_catalog: CatalogSnapshot | None = None
        self.sessions: dict[int, Any] = {}
        self._pids = itertools.count(1000)

    # -- SessionFactory ----------------------------------------------------------

    async def open_session(self, startup: dict[str, str]):
        from qp.session import Session

        if len(self.sessions) >= SESSIONS_MAX:
            raise SqlError("53300", "Unable to accept connection, too many open connections.", severity="FATAL")
        database = startup.get("database") or startup.get("user") or "postgres"
        if database != "postgres":
            raise SqlError("3D000", f'database "{database}" does not exist', severity="FATAL")
        session = Session(self, next(self._pids), secrets.randbits(31), startup)
        self.sessions[session.process_id] = session
        return session

    def cancel(self, process_id: int, secret_key: int) -> None:
        session = self.sessions.get(process_id)
        if session is not None and session.secret_key == secret_key:
            session.cancel()

    def session_closed(self, session) -> None:
        self.sessions.pop(session.process_id, None)

    # -- catalog -------------------------------------------------------------------

    async def load_catalog(self, txn) -> CatalogSnapshot:
        """The catalog as of the transaction's τ_start (cached by version)."""
        version, next_oid = await txn.get([VERSION_KEY, NEXT_OID_KEY], catalog_check=False)
        version = version or 0
        cached = self._catalogs.get(version)
        if cached is not None:
            return cached
        rows: list = []
        async for page in txn.scan(RELATION_PREFIX, keys.prefix_end(RELATION_PREFIX), catalog_check=False):
            rows += page
        snapshot = CatalogSnapshot.from_rows(version, rows, next_oid or 16384)
        self._catalogs[version] = snapshot
        if self.latest_catalog is None or version > self.latest_catalog.version:
            self.latest_catalog = snapshot
        while len(self._catalogs) > CATALOG_SNAPSHOTS_KEPT:
            del self._catalogs[min(self._catalogs)]
        return snapshot

    def catalog_guess(self) -> CatalogSnapshot:
        """The newest catalog this process knows (validated by storage on use)."""
        if self.latest_catalog is None:
            self.latest_catalog = CatalogSnapshot(version=0)
            self._catalogs[0] = self.latest_catalog
        return self.latest_catalog
