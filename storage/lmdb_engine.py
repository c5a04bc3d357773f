"""A storage node's replicas and state on disk, in one LMDB environment.

The node (storage/node.py) applies journal records to its shard replicas'
stores. With this engine the stores are databases of one LMDB environment
(storage/lmdb_store.py), and every write of the node goes through one write
transaction that stays open between commits. A commit puts the node's state
beside the data in the same transaction — the journal positions applied, the
τ of the last record, catalog versions, placement, the ranges still to
reclaim and which database serves which shard — so what is on disk is
always the data as of exactly the positions recorded with it. A restart
opens the environment, reads that state and resumes the journals from its
positions: nothing is loaded, whatever the node holds, and there are no
checkpoints.

Why one long transaction: LMDB has one writer per environment, and the
node's apply loop, version GC, range reclaims and shard copies all write
from the one trio thread, interleaved. Reads go through the same
transaction, so they see every applied record at once (a record is
"applied" when it is in the transaction, as it was once in memory; a crash
loses the uncommitted tail, which the journal replays). A commit costs one
fdatasync (`metasync=False`: the meta page is not synced, so a crash may undo
the last commit but never leaves a torn file) — about half a millisecond here —
so the node commits often (storage/node.py: every fraction of a second, and
after every few tens of thousands of versions so a transaction's dirty pages
stay bounded in memory).

Stores are named `s<N>` by a counter kept in the state; the halves of a
split shard share one store, as they do in memory. A store no shard uses any
more is dropped in the transaction that forgets it.
"""

from __future__ import annotations

import os
from typing import Any

import lmdb

from cluster import codec
from storage.lmdb_store import LmdbVersionStore, open_environment

# The environment's directory inside a storage node's directory.
ENGINE_DIR = "versions"
_STATE_DB = b"node"
_STATE_KEY = b"state"


class LmdbEngine:
    """The environment, its open write transaction, and the node's state record."""

    def __init__(self, path: str, *, map_size: int = 1 << 40) -> None:
        os.makedirs(path, exist_ok=True)
        self.path = path
        self.env = open_environment(path, map_size=map_size, sync=True)
        self._txn: lmdb.Transaction | None = None
        self._state_db = self.env.open_db(_STATE_DB, txn=self.txn)
        state = self.read_state()
        self._next_store = 0 if state is None else state["next_store"]
        self.commits = 0

    @property
    def txn(self) -> lmdb.Transaction:
        """The write transaction every read and write of the node goes through."""
        txn = self._txn
        if txn is None:
            txn = self._txn = self.env.begin(write=True)
        return txn

    def read_state(self) -> dict[str, Any] | None:
        """The node's state as of the last commit (None: a new environment)."""
        raw = self.txn.get(_STATE_KEY, db=self._state_db)
        return None if raw is None else codec.decode(raw)

    def new_store(self, *, filling: bool = False, floor: int = 0) -> LmdbVersionStore:
        name = b"s%d" % self._next_store
        self._next_store += 1
        return LmdbVersionStore(self.env, name, filling=filling, floor=floor, engine=self)

    def open_store(
        self, name: bytes, *, filling: bool = False, floor: int = 0, key_count: int | None = None,
        bucket_extra: int | None = None,
    ) -> LmdbVersionStore:
        """A store the state names, with the counts recorded beside it (None: counted now)."""
        return LmdbVersionStore(self.env, name, filling=filling, floor=floor, engine=self, key_count=key_count,
                                bucket_extra=bucket_extra)

    def discard(self, store: LmdbVersionStore) -> None:
        """Drop a store no shard uses any more (in the open transaction)."""
        store.destroy()

    def commit(self, state: dict[str, Any]) -> None:
        """Make everything written so far durable, with `state` beside it."""
        txn = self.txn
        txn.put(_STATE_KEY, codec.encode({**state, "next_store": self._next_store}), db=self._state_db)
        self._txn = None
        txn.commit()
        self.commits += 1

    def disk_bytes(self) -> int:
        info = self.env.info()
        return info["last_pgno"] * self.env.stat()["psize"]

    def close(self) -> None:
        """Abort what was not committed (the journal replays it) and close the files."""
        if self._txn is not None:
            self._txn.abort()
            self._txn = None
        self.env.close()
