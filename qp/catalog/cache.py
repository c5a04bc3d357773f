"""One query processor's catalog cache: immutable snapshots by version.

Every transaction reads the catalog as of its τ_start; most of them find that
version here. Snapshots never change once built, so a session keeps using the
one its transaction started with while others load newer ones, and the few
kept (`SNAPSHOTS_KEPT`) bound the memory old versions cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qp.catalog.stored import NEXT_OID_KEY, RELATION_PREFIX, VERSION_KEY, CatalogSnapshot
from qp.catalog.temp_keys import TEMP_RELATIONS_START

if TYPE_CHECKING:  # the catalog sits below transactions: it only reads through one
    from qp.txn.transaction import Transaction

SNAPSHOTS_KEPT = 8
FIRST_USER_OID = 16384  # PostgreSQL's FirstNormalObjectId


class CatalogCache:
    def __init__(self, kept: int = SNAPSHOTS_KEPT) -> None:
        self.kept = kept
        self._snapshots: dict[int, CatalogSnapshot] = {}
        self.latest: CatalogSnapshot | None = None

    async def load(self, txn: Transaction) -> CatalogSnapshot:
        """The catalog as of the transaction's τ_start (cached by version)."""
        version, next_oid = await txn.get([VERSION_KEY, NEXT_OID_KEY], catalog_check=False)
        version = version or 0
        cached = self._snapshots.get(version)
        if cached is not None:
            return cached
        rows: list = []
        # Up to the temporary descriptors: those are the session's (qp/catalog/temp_overlay.py).
        async for page in txn.scan(RELATION_PREFIX, TEMP_RELATIONS_START, catalog_check=False):
            rows += page
        snapshot = CatalogSnapshot.from_rows(version, rows, next_oid or FIRST_USER_OID)
        self._snapshots[version] = snapshot
        if self.latest is None or version > self.latest.version:
            self.latest = snapshot
        while len(self._snapshots) > self.kept:
            del self._snapshots[min(self._snapshots)]
        return snapshot

    def guess(self) -> CatalogSnapshot:
        """The newest catalog this process knows (validated by storage on use)."""
        if self.latest is None:
            self.latest = CatalogSnapshot(version=0)
            self._snapshots[0] = self.latest
        return self.latest
