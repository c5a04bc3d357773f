"""The batched index nested-loop join (DSQL's "Nested Loop (Batched Join)").

The outer side's rows are taken `LOOKUP_BATCH_ROWS` at a time; their join
keys are computed, deduplicated and looked up together in the inner table's
primary key or a secondary index, and each outer row is then matched with
the inner rows of its key by a small hash table. So a small outer side costs
one storage round trip per batch instead of a scan of the whole inner table,
and never one round trip per outer row:

- every column of the primary key bound: one batched point read (`txn.get`)
  of all the batch's keys;
- a prefix of the primary key: one key-range scan per distinct key, up to
  `LOOKUP_SCANS_IN_FLIGHT` of them at once;
- a prefix of a secondary index: the same range scans of the index, then one
  batched point read of all the rows they name.

The inner table's own conditions and the join's other conditions are a
residual filter on the joined row. Inner joins only: the planner uses this
operator where the outer side is small (qp/plan/joins.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from operator import itemgetter
from typing import Any

import trio

from cluster.timeslice import checkpoint_if_due
from qp.bind import expr as E
from qp.exec.compile import Layout, compile_predicate, compile_row
from qp.exec.explain import expr_text
from qp.exec.operators import BATCH_ROWS, Operator
from qp.exec.runtime import RunContext
from storage import keys
from storage.mvcc import projector

# Outer rows per storage round trip. DSQL batches outer rows the same way; a
# thousand keys keep a point-read request well under the transport's message
# bound while amortising the round trip.
LOOKUP_BATCH_ROWS = 1000
# Range scans (key prefixes, secondary indexes) in flight at once for one batch:
# enough to overlap the storage round trips, few enough not to crowd out other
# sessions' requests.
LOOKUP_SCANS_IN_FLIGHT = 16


class IndexNestedLoopJoin(Operator):
    """Inner join of `outer` with `table`, found through `index` (None: the primary key)."""

    def __init__(
        self,
        outer: Operator,
        table: Any,
        index: Any,
        key_exprs: list[E.Expr],
        projection: tuple[int, ...],
        inner_cids: list[int],
        residual: E.Expr | None,
        outer_positions: dict[int, int] | None = None,
        key_texts: list[str] | None = None,
    ) -> None:
        self.kind = "inner"
        self.outer = outer
        self.table = table
        self.index = index
        self.key_exprs = key_exprs
        self.projection = projection
        self.inner_cids = inner_cids
        self.cids = outer.cids + inner_cids
        self.residual_expr = residual
        self.key_texts = key_texts or []
        self._key = compile_row(key_exprs, Layout(outer.cids, outer_positions))
        self._residual: Callable | None = (
            compile_predicate(residual, Layout(self.cids, outer_positions)) if residual is not None else None
        )
        if index is None:
            self._prefix = table.primary_prefix
            self._encoders = list(table.pk_encoders)[: len(key_exprs)]
            self._point = table.pk is not None and len(key_exprs) == len(table.pk)
        else:
            self._prefix = table.index_prefix(index)
            self._encoders = list(table.index_encoders(index))[: len(key_exprs)]
            self._point = False
        self._take = projector(projection)
        # One key column taken as is from the outer row (the usual `a.x = b.id`): keys are
        # its values themselves, not 1-tuples, read with a C itemgetter rather than a
        # compiled expression per row.
        only = key_exprs[0] if len(key_exprs) == 1 else None
        self._key_position: int | None = (
            outer.cids.index(only.cid)
            if self._point and isinstance(only, E.ColumnRef) and only.cid in outer.cids
            else None
        )

    def _project(self, row: tuple) -> tuple:
        """A stored row's projected columns; rows from before ADD COLUMN ... DEFAULT
        read its missing value (TableDef.pad_row), which storage does not know."""
        if self.table.missing_values is not None:
            padded = self.table.pad_row(row)
            return tuple(padded[i] for i in self.projection)
        return self._take(row)

    async def _point_lookup(self, rc: RunContext, batch_keys: list, scalar: bool = False) -> dict[Any, tuple]:
        """The inner row (projected) of each key that has one: the whole primary key is bound.
        With `scalar`, each key is the value of the one key column rather than a tuple."""
        prefix, encoders, project = self._prefix, self._encoders, self._project
        if scalar:
            (encode,) = encoders
            encoded = [prefix + encode(key) for key in batch_keys]
        elif len(encoders) == 1:
            (encode,) = encoders
            encoded = [prefix + encode(key[0]) for key in batch_keys]
        else:
            encoded = [prefix + b"".join(enc(v) for enc, v in zip(encoders, key, strict=True)) for key in batch_keys]
        rows = await rc.txn.get(encoded)
        return {key: project(row) for key, row in zip(batch_keys, rows, strict=True) if row is not None}

    async def _lookup(self, rc: RunContext, batch_keys: list[tuple]) -> dict[tuple, list[tuple]]:
        """The inner rows (projected) of each key: a prefix of the key or an index is bound."""
        txn, project = rc.txn, self._project
        found: dict[tuple, list[tuple]] = {}
        encoded = [
            self._prefix + b"".join(enc(v) for enc, v in zip(self._encoders, key, strict=True))
            for key in batch_keys
        ]
        # One range scan per distinct key, LOOKUP_SCANS_IN_FLIGHT at a time; a secondary
        # index's entries name rows, which are then read in one batched point read.
        found_keys: dict[tuple, list] = {}
        work = iter(zip(batch_keys, encoded, strict=True))
        failures: list[Exception] = []

        async with trio.open_nursery() as nursery:

            async def scan_keys() -> None:
                try:
                    for key, start in work:  # shared: each key is taken by one worker
                        async for page in txn.scan(start, keys.prefix_end(start)):
                            found_keys.setdefault(key, []).extend(v for _, v in page)
                        await checkpoint_if_due()
                except Exception as exc:  # noqa: BLE001 - raised below as itself, not in an exception group
                    failures.append(exc)
                    nursery.cancel_scope.cancel()

            for _ in range(min(LOOKUP_SCANS_IN_FLIGHT, len(batch_keys))):
                nursery.start_soon(scan_keys)
        if failures:
            raise failures[0]
        if self.index is None:  # primary-key ranges: the values are the rows
            for key, rows in found_keys.items():
                found[key] = [project(r) for r in rows]
            return found
        row_keys = [k for ks in found_keys.values() for k in ks]
        rows_by_key = dict(zip(row_keys, await txn.get(row_keys), strict=True)) if row_keys else {}
        for key, ks in found_keys.items():
            rows = [rows_by_key[k] for k in ks if rows_by_key.get(k) is not None]
            if rows:
                found[key] = [project(r) for r in rows]
        return found

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        frame = rc.frame
        key_of, residual = self._key, self._residual
        pending: list[tuple] = []

        position = self._key_position

        async def flush_by_column(rows: list[tuple]) -> list[tuple]:
            row_keys = list(map(itemgetter(position), rows))
            distinct = list(dict.fromkeys(row_keys))
            if None in distinct:  # NULL joins nothing
                distinct.remove(None)
            if not distinct:
                return []
            single = await self._point_lookup(rc, distinct, scalar=True)
            joined = [
                row + inner for row, inner in zip(rows, map(single.get, row_keys), strict=True) if inner is not None
            ]
            if residual is None:
                return joined
            return [combined for combined in joined if residual(combined, frame)]

        async def flush(rows: list[tuple]) -> list[tuple]:
            if position is not None:
                return await flush_by_column(rows)
            row_keys = [key_of(row, frame) for row in rows]
            distinct = list(dict.fromkeys(k for k in row_keys if None not in k))
            if not distinct:
                return []
            if self._point:  # at most one inner row per key: no list per key to walk
                single = await self._point_lookup(rc, distinct)
                get = single.get
                joined = [
                    row + inner for row, key in zip(rows, row_keys, strict=True) if (inner := get(key)) is not None
                ]
                if residual is None:
                    return joined
                return [combined for combined in joined if residual(combined, frame)]
            found = await self._lookup(rc, distinct)
            out = []
            for row, key in zip(rows, row_keys, strict=True):
                for inner in found.get(key, ()):
                    combined = row + inner
                    if residual is None or residual(combined, frame):
                        out.append(combined)
            return out

        async for batch in self.outer.run(rc):
            pending += batch
            while len(pending) >= LOOKUP_BATCH_ROWS:
                chunk, pending = pending[:LOOKUP_BATCH_ROWS], pending[LOOKUP_BATCH_ROWS:]
                out = await flush(chunk)
                for i in range(0, len(out), BATCH_ROWS):
                    yield out[i : i + BATCH_ROWS]
        if pending:
            out = await flush(pending)
            for i in range(0, len(out), BATCH_ROWS):
                yield out[i : i + BATCH_ROWS]

    def children(self) -> list[Operator]:
        return [self.outer]

    def title(self) -> str:
        return "Nested Loop (Batched Join)"

    def details(self) -> list[str]:
        names = [c.name for c in self.table.columns]
        via = (
            self.index.name
            if self.index is not None
            else (self.table.primary_index.name if self.table.primary_index is not None else "row id")
        )
        bound = ", ".join(
            f"{names[c]} = {t}" for c, t in zip(self._key_columns(), self.key_texts, strict=False)
        )
        out = [
            f"Inner: {self.table.name} by {via} ({bound}), {LOOKUP_BATCH_ROWS} outer rows per lookup",
            f"Projections: {', '.join(names[i] for i in self.projection) or '(none)'}",
        ]
        if self.residual_expr is not None:
            out.append(f"Join Filter: {expr_text(self.residual_expr)}")
        return out

    def _key_columns(self) -> tuple[int, ...]:
        columns = self.index.columns if self.index is not None else (self.table.pk or ())
        return tuple(columns[: len(self.key_exprs)])
