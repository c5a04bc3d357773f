"""Leaves: table and index scans (with their pushed-down filters and row locks), system
relations, VALUES lists, functions in FROM, and the one-row and empty inputs.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

from cluster.timeslice import checkpoint_if_due
from qp.bind import expr as E
from qp.catalog.stored import key_stamp
from qp.exec.compile import (
    ExecFrame,
    Layout,
    compile_batch,
    compile_predicate,
    compile_row,
)
from qp.exec.explain import expr_text, filter_text
from qp.exec.operators import BATCH_ROWS, Operator, SublinkSlots, rows_until_error
from qp.exec.runtime import SCAN_CACHE_ROWS_MAX, RunContext
from storage.mvcc import keep_where_true, project


class OneRow(Operator):
    def __init__(self) -> None:
        self.cids = []

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        yield [()]


class Empty(Operator):
    def __init__(self, cids: list[int]) -> None:
        self.cids = cids

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        return
        yield  # pragma: no cover


class ValuesOp(Operator):
    def __init__(
        self,
        rows: list[list[E.Expr]],
        cids: list[int],
        sublinks: SublinkSlots,
        outer_positions: dict[int, int] | None = None,
    ) -> None:
        self.cids = cids
        self.sublinks = sublinks
        layout = Layout([], outer_positions)
        self._rows = [compile_row(r, layout) for r in rows]

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        frame = rc.frame
        out = []
        for fn in self._rows:
            try:
                if self.sublinks:
                    frame.subs = await self.sublinks.evaluate((), rc)
                out.append(fn((), frame))
            except Exception:
                if out:  # the rows before the failing one first (see the module docstring)
                    yield out
                raise
            if len(out) >= BATCH_ROWS:
                yield out
                out = []
                await checkpoint_if_due()
        if out:
            yield out

    def title(self) -> str:
        return "Values Scan"

    def details(self) -> list[str]:
        return [f"Rows: {len(self._rows)}"]


class FunctionScan(Operator):
    def __init__(
        self,
        call: E.Call,
        cids: list[int],
        ordinality: bool,
        record: bool,
        outer_positions: dict[int, int] | None = None,
    ) -> None:
        self.cids = cids
        self.call = call
        self.ordinality = ordinality
        self.record = record
        self._args = compile_row(list(call.args), Layout([], outer_positions))

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        args = self._args((), rc.frame)
        if self.call.strict and any(a is None for a in args):
            return
        if self.call.needs_context:
            args = (rc.ctx, *args)
        if getattr(self.call.impl, "wants_run_context", False):  # a user function's body (qp/bind/routines.py)
            results = iter(await self.call.impl(rc, *args))
        else:
            results = iter(self.call.impl(*args))
        record, ordinality = self.record, self.ordinality
        n = 0
        # Unlike a projection, a function in FROM fails as soon as any of its first
        # rows does: PostgreSQL computes its whole result before the first row
        # goes up, so an error later in the result surfaces even under a LIMIT.
        # (dsql streams it in batches instead, so that a series of millions of
        # rows needs no memory; the batch is the unit that fails.)
        while True:
            await checkpoint_if_due()
            values = list(itertools.islice(results, BATCH_ROWS))
            if not values:
                return
            batch = [tuple(v) for v in values] if record else [(v,) for v in values]
            if ordinality:
                batch = [(*row, n + i) for i, row in enumerate(batch, start=1)]
                n += len(batch)
            yield batch

    def title(self) -> str:
        return f"Function Scan on {self.call.name}"


class ScanSpec:
    """How to read a table: key ranges (fixed or computed per execution) and pushdown."""

    def __init__(self, *, ranges=None, range_fn=None, keys_fn=None, filter_template=None, reverse=False):
        self.ranges = ranges  # [(start, end)] known at plan time
        self.range_fn = range_fn  # (frame) -> [(start, end)] from parameters
        self.keys_fn = keys_fn  # (frame) -> [key] for point reads
        self.filter_template = filter_template  # pushed-down filter tree, ("param", i) placeholders
        self.reverse = reverse


def _instantiate(tree: Any, frame: ExecFrame) -> Any:
    if isinstance(tree, tuple):
        if tree and tree[0] == "$param":
            return frame.params[tree[1]]
        if tree and tree[0] == "$outer":
            return frame.outer[tree[1]]
        return tuple(_instantiate(t, frame) for t in tree)
    return tree


class TableScan(Operator):
    """Rows of a table: point reads, primary-key ranges, or a full scan.

    Output: the projected columns, then the row key if `with_key`.
    """

    def __init__(
        self,
        table,
        projection: tuple[int, ...],
        cids: list[int],
        spec: ScanSpec,
        residual: E.Expr | None,
        *,
        with_key: bool = False,
        lock: bool = False,
        sublinks: SublinkSlots | None = None,
        outer_positions=None,
        access: str = "Seq Scan",
        dependent: bool = False,
    ) -> None:
        self.table = table
        self.projection = projection
        self.cids = cids
        self.spec = spec
        self.with_key = with_key
        self.lock = lock
        self.access = access
        self.residual_expr = residual
        self.sublinks = sublinks or SublinkSlots([])
        self.dependent = dependent  # reads parameters or outer values: not cacheable
        self._layout = layout = Layout(cids, outer_positions)
        if residual is not None:
            self._residual = (
                compile_predicate(residual, layout)
                if self.sublinks
                else compile_batch(None, residual, layout)
            )
        else:
            self._residual = None

    async def _pages(self, rc: RunContext) -> AsyncIterator[list[tuple[bytes, Any]]]:
        if self.table.missing_values is None:
            async for page in self._stored_pages(rc):
                yield page
            return
        # Rows stored before ADD COLUMN ... DEFAULT read its missing value, which
        # storage does not know: it sends whole rows, projected here.
        projection = self.projection
        async for page in self._stored_pages(rc, whole_rows=True):
            yield [(k, tuple(self.table.pad_row(v)[i] for i in projection)) for k, v in page]

    async def _stored_pages(
        self, rc: RunContext, whole_rows: bool = False
    ) -> AsyncIterator[list[tuple[bytes, Any]]]:
        txn = rc.txn
        spec = self.spec
        projection = self.projection if not whole_rows else None
        if spec.keys_fn is not None:
            keys = spec.keys_fn(rc.frame)
            if not keys:
                return
            if txn.intents is not None and rc.write_target is self:  # an UPDATE's or DELETE's rows
                values = await _read_claimed(txn, keys)
            else:
                values = await txn.get(keys)
            pairs = [(k, v) for k, v in zip(keys, values, strict=True) if v is not None]
            if spec.filter_template is not None:
                keep = keep_where_true(_instantiate(spec.filter_template, rc.frame))
                pairs = [(k, v) for k, v in pairs if keep(v)]
            if pairs and projection is None:
                yield pairs
            elif pairs:
                width = max(projection) + 1 if projection else 0
                yield [(k, project(v, projection, width)) for k, v in pairs]
            return
        ranges = spec.ranges if spec.ranges is not None else spec.range_fn(rc.frame)
        filter_tree = (
            _instantiate(spec.filter_template, rc.frame) if spec.filter_template is not None else None
        )
        for start, end in ranges:
            async for page in txn.scan(
                start, end, filter_tree=filter_tree, projection=projection, reverse=spec.reverse
            ):
                yield page

    async def _cached_pages(self, rc: RunContext) -> AsyncIterator[list[tuple[bytes, Any]]]:
        """The scan's pages, from the statement's scan cache (a correlated subquery
        runs the same scan once per outer row). A scan too large for the cache
        streams as an uncached one would, past what it had gathered."""
        caches = rc.caches
        key = (
            self.table.oid,
            self.projection,
            repr(self.spec.ranges),
            repr(self.spec.filter_template),
            self.spec.reverse,
        )
        cached = caches.scans.get(key)
        if cached is None:
            room = SCAN_CACHE_ROWS_MAX - caches.scan_rows
            gathered: list = []
            pages = self._pages(rc)
            async for page in pages:
                gathered += page
                if len(gathered) > room:  # too big to keep: hand over what there is, then stream
                    for i in range(0, len(gathered), BATCH_ROWS):
                        yield gathered[i : i + BATCH_ROWS]
                    async for rest in pages:
                        yield rest
                    return
            cached = caches.scans[key] = gathered
            caches.scan_rows += len(gathered)
        for i in range(0, len(cached), BATCH_ROWS):
            await checkpoint_if_due()
            yield cached[i : i + BATCH_ROWS]

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        frame = rc.frame
        use_cache = rc.in_subquery and not self.dependent and not self.lock
        pages = self._cached_pages(rc) if use_cache else self._pages(rc)
        residual, with_key, lock = self._residual, self.with_key, self.lock
        async for page in pages:
            await checkpoint_if_due()
            if lock:
                _hold_rows(rc.txn, lock, [key for key, _ in page])
            rows = [v + (k,) for k, v in page] if with_key else [v for _, v in page]
            if residual is not None:
                if self.sublinks:
                    kept = []
                    for row in rows:
                        await checkpoint_if_due()
                        try:
                            frame.subs = await self.sublinks.evaluate(row, rc)
                            if residual(row, frame):
                                kept.append(row)
                        except Exception:
                            if kept:  # the rows before the failing one first (see the module docstring)
                                yield kept
                            raise
                    rows = kept
                else:
                    try:
                        rows = residual(rows, frame)
                    except Exception as batch_error:
                        keep = compile_predicate(self.residual_expr, self._layout)
                        kept, error = rows_until_error(rows, keep, None, frame)
                        if kept:
                            yield kept
                        raise (error or batch_error) from None
            if rows:
                yield rows

    def title(self) -> str:
        return f"{self.access} on {self.table.name}"

    def details(self) -> list[str]:
        names = [c.name for c in self.table.columns]
        out = []
        if self.access != "Full Scan":
            out.append(f"Key: {self.table.primary_index.name if self.table.primary_index else 'row id'}")
        if self.spec.filter_template is not None:
            out.append(f"Storage Filter: {filter_text(self.spec.filter_template, names)}")
        out.append(f"Projections: {', '.join(names[i] for i in self.projection) or '(none)'}")
        if self.residual_expr is not None:
            out.append(f"Filter: {expr_text(self.residual_expr)}")
        if self.lock == "share":
            out.append("Lock: FOR KEY SHARE (read keys are shared until commit)")
        elif self.lock:
            out.append("Lock: FOR UPDATE (read keys join the write set)")
        return out


def _hold_rows(txn, lock: bool | str, keys: list[bytes]) -> None:
    """FOR KEY SHARE shares each row's key stamp; FOR UPDATE locks the row and its
    stamp, so it conflicts with writes and with key shares (qp/catalog/stored.py)."""
    if lock == "share":
        for key in keys:
            txn.share(key_stamp(key))
        return
    for key in keys:
        txn.lock(key)
        txn.lock(key_stamp(key))


# An UPDATE or DELETE through an index claims its rows before reading them (hot rows,
# qp/txn/intents.py) when the index finds at most this many: a point write (a unique
# key). More rows are read and written optimistically, as with hot rows off.
CLAIM_ROWS_MAX = 4


class _Entries(list):
    """A page of index entries, and whether its rows are claimed before they are read."""

    claimable = False


async def _claimed_pages(pages: AsyncIterator) -> AsyncIterator[_Entries]:
    """The index entries of a write target, read to their end before any row is claimed
    (so that a refresh finds the index scan complete and can run it again): one claimable
    page, or, past CLAIM_ROWS_MAX entries, the pages as they come, none claimed."""
    collected = _Entries()
    async for page in pages:
        collected += page
        if len(collected) > CLAIM_ROWS_MAX:
            yield collected
            async for more in pages:
                yield _Entries(more)
            return
    if collected:
        collected.claimable = True
        yield collected


async def _read_claimed(txn, row_keys: list[bytes]) -> list:
    """Read rows an UPDATE or DELETE will write: claimed first (waiting for an older
    writer of this QP, refreshing past its commit), read again after a refresh if
    storage reports a commit after the snapshot (qp/txn/transaction.py)."""
    if len(row_keys) > CLAIM_ROWS_MAX:  # a point get of an IN list, say
        return await txn.get(row_keys)
    return await txn.get_to_write(row_keys)


class IndexScan(Operator):
    """Rows found through a secondary index: index range scan, then row reads."""

    def __init__(
        self,
        table,
        index,
        projection: tuple[int, ...],
        cids: list[int],
        range_fn,
        residual: E.Expr | None,
        *,
        with_key: bool = False,
        lock: bool = False,
        outer_positions=None,
        reverse: bool = False,
    ) -> None:
        self.table = table
        self.index = index
        self.projection = projection
        self.cids = cids
        self.range_fn = range_fn
        self.with_key = with_key
        self.lock = lock
        self.reverse = reverse
        self.residual_expr = residual
        layout = Layout(cids, outer_positions)
        self._residual = compile_batch(None, residual, layout) if residual is not None else None

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        txn = rc.txn
        projection = self.projection
        width = max(projection) + 1 if projection else 0
        claim = txn.intents is not None and rc.write_target is self
        for start, end in self.range_fn(rc.frame):
            pages = txn.scan(start, end, reverse=self.reverse)
            if claim:
                pages = _claimed_pages(pages)
            async for page in pages:
                await checkpoint_if_due()
                row_keys = [v for _, v in page]
                if claim and page.claimable:
                    rows = await _read_claimed(txn, row_keys)
                else:
                    rows = await txn.get(row_keys)
                out = []
                for key, row in zip(row_keys, rows, strict=True):
                    if row is None:
                        continue
                    if self.lock:
                        _hold_rows(txn, self.lock, [key])
                    if self.table.missing_values is not None:  # rows from before ADD COLUMN ... DEFAULT
                        row = self.table.pad_row(row)
                    projected = project(row, projection, width)
                    out.append(projected + (key,) if self.with_key else projected)
                if self._residual is not None:
                    out = self._residual(out, rc.frame)
                if out:
                    yield out

    def title(self) -> str:
        return f"Index Scan using {self.index.name} on {self.table.name}"

    def details(self) -> list[str]:
        names = [c.name for c in self.table.columns]
        expressions = self.index.expressions
        keys = [expressions[k][3] if k < len(expressions) and expressions[k] else names[i]
                for k, i in enumerate(self.index.columns)]  # fmt: skip
        out = [
            f"Index Cond on: {', '.join(keys)}",
            f"Projections: {', '.join(names[i] for i in self.projection) or '(none)'}",
        ]
        if self.residual_expr is not None:
            out.append(f"Filter: {expr_text(self.residual_expr)}")
        return out


class VirtualScan(Operator):
    """Rows of a relation the QP computes (catalog views)."""

    def __init__(self, relation, cids: list[int]) -> None:
        self.relation = relation
        self.cids = cids

    async def run(self, rc: RunContext) -> AsyncIterator[list[tuple]]:
        rows = await self.relation.rows(rc)
        for i in range(0, len(rows), BATCH_ROWS):
            await checkpoint_if_due()
            yield rows[i : i + BATCH_ROWS]

    def title(self) -> str:
        return f"Function Scan on {self.relation.name}"
