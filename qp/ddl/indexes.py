"""Indexes: CREATE INDEX, an online build in three steps, each its own transaction, so
writers are never blocked:
  1. the index is added in state write_only: every writer from now on maintains it, but
     no reader uses it;
  2. backfill (`backfill_batch`, run by qp/ddl/online.py): batches of rows are read at a
     snapshot and their entries written, each batch depending on its rows (a row changed
     concurrently makes the batch conflict and retry at a new snapshot);
  3. the index becomes public (readers may use it).
A unique build that finds a duplicate drops the index and fails with 23505.
"""

from __future__ import annotations

from dataclasses import replace

from cluster.timeslice import checkpoint_if_due
from qp.bind.collation import check_collatable, resolve_collation
from qp.bind.context import BindContext
from qp.bind.ddl.names import check_name, relation_display, schema_of, search_schema
from qp.bind.ddl.naming import choose_name, name_addition
from qp.bind.query import figure_colname
from qp.catalog.stored import (
    CatalogSnapshot,
    IndexDef,
    IndexState,
    TableDef,
    require_key_type,
)
from qp.ddl.common import (
    COLUMNS_PER_KEY_MAX,
    INDEXES_PER_TABLE_MAX,
    DdlResult,
    catalog_counters,
    write_catalog,
)
from qp.ddl.index_exprs import index_expression, index_predicate
from qp.errors import SqlError
from qp.exec.index_keys import IndexKeys
from qp.parse.parser import string_list
from qp.types import text_encoder


async def create_index(
    body: dict, txn, catalog: CatalogSnapshot, bc: BindContext | None = None, *, asynchronous: bool = False
) -> DdlResult:
    relation = body["relation"]
    where = search_schema(schema_of(relation), bc, relation["relname"])
    table = catalog.find_table(relation["relname"], where) if where else None
    if table is None:
        raise SqlError("42P01", f'relation "{relation_display(relation)}" does not exist')
    if body.get("accessMethod", "btree") not in ("btree", "btree_index"):
        raise SqlError("0A000", "USING not supported for CREATE INDEX")
    columns: list[int] = []
    expressions: list[tuple | None] = []
    key_names: list[str] = []  # for the index's default name
    for elem_node in body.get("indexParams", ()):
        elem = elem_node["IndexElem"]
        if elem.get("ordering", "SORTBY_DEFAULT") not in ("SORTBY_DEFAULT", "SORTBY_ASC") or elem.get(
            "nulls_ordering", "SORTBY_NULLS_DEFAULT"
        ) not in ("SORTBY_NULLS_DEFAULT", "SORTBY_NULLS_LAST"):
            raise SqlError("0A000", "specifying sort order not supported for index keys")
        if "expr" in elem:
            expression = index_expression(table, elem["expr"], bc)
            if isinstance(expression, int):  # a parenthesized column is that column
                position = expression
            else:
                columns.append(-1)
                expressions.append(expression)
                key_names.append(figure_colname(elem["expr"]).replace("?column?", "expr"))
                continue
        else:
            name = elem["name"]
            position = table.column_index(name)
            if position is None:
                raise SqlError("42703", f'column "{name}" does not exist')
        if elem.get("collation"):  # every collation sorts as C: only checked
            check_collatable(table.columns[position].type, unknown_ok=False)
            resolve_collation(string_list(elem["collation"]))
        require_key_type(table.columns[position], "an index")
        columns.append(position)
        expressions.append(None)
        key_names.append(table.columns[position].name)
    include: list[int] = []
    for elem_node in body.get("indexIncludingParams", ()):
        elem = elem_node["IndexElem"]
        if "expr" in elem:
            raise SqlError("0A000", "expressions are not supported in included columns")
        position = table.column_index(elem["name"])
        if position is None:
            raise SqlError("42703", f'column "{elem["name"]}" does not exist')
        include.append(position)
        key_names.append(table.columns[position].name)  # PostgreSQL names an index after all its columns
    predicate = None
    if "whereClause" in body:
        predicate = index_predicate(table, body["whereClause"], bc)
    if len(columns) > COLUMNS_PER_KEY_MAX:
        raise SqlError("54011", f"more than {COLUMNS_PER_KEY_MAX} column keys in an index are not supported")
    if len(table.secondary_indexes) >= INDEXES_PER_TABLE_MAX:
        raise SqlError("54000", f"more than {INDEXES_PER_TABLE_MAX} indexes per table are not allowed")
    index_name = body.get("idxname")
    if index_name:
        check_name(index_name)
        if catalog.relation_name_taken(index_name, table.schema):
            if body.get("if_not_exists"):
                return DdlResult("CREATE INDEX", [f'relation "{index_name}" already exists, skipping'])
            raise SqlError("42P07", f'relation "{index_name}" already exists')
    else:
        index_name = choose_name(
            table.name,
            name_addition(key_names),
            "idx",
            lambda c: catalog.relation_name_taken(c, table.schema),
        )
    version, next_oid = await catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    index = IndexDef(
        oid,
        index_name,
        table.next_index_id,
        tuple(columns),
        bool(body.get("unique")),
        False,
        IndexState.WRITE_ONLY,
        include=tuple(include),
        nulls_not_distinct=bool(body.get("nulls_not_distinct")),
        predicate=predicate,
        expressions=tuple(expressions) if any(expressions) else (),
    )
    updated = replace(table, indexes=table.indexes + (index,), next_index_id=table.next_index_id + 1)
    write_catalog(txn, version, oid + 1, [(updated, updated.to_record())], catalog)
    result = DdlResult("CREATE INDEX", build_index=(table.oid, index_name))
    result.object_id = oid
    return result


async def backfill_batch(
    txn, table: TableDef, index: IndexDef, start: bytes, batch_rows: int, frame_ctx
) -> bytes | None:
    """Write the index entries of up to `batch_rows` rows from `start`; returns where to resume."""

    resume = None
    count = 0
    index_keys = IndexKeys(table, BindContext(txn.catalog, frame_ctx))

    def duplicated(values: list) -> SqlError:
        text = ", ".join(
            "null" if v is None else text_encoder(index.key_type(table, k), frame_ctx)(v).decode()
            for k, v in enumerate(values)
        )
        return SqlError(
            "23505",
            f'could not create unique index "{index.name}"',
            detail=f"Key ({index_keys.key_names(index)})=({text}) is duplicated.",
        )

    async for page in txn.scan(start, table.primary_end, limit=batch_rows):
        await checkpoint_if_due()  # (cluster/timeslice.py) a batch is many rows of work
        entries: list[tuple[bytes, bytes, list]] = []
        for row_key, row in page:
            txn.depend_on(row_key)  # a row changed concurrently makes the batch retry
            row = table.pad_row(row)  # rows from before ADD COLUMN are shorter
            values = index_keys.values(index, row)
            if values is not None:  # else a partial index leaves the row out
                entries.append((table.index_entry_key(index, row, row_key, values), row_key, values))
            resume = row_key
        if index.unique:
            # One read for the whole page: entries already there (written by
            # concurrent writers while the index is write-only, or by an
            # earlier batch) that point at another live row are duplicates.
            checked = [(e, k, v) for e, k, v in entries if index.nulls_not_distinct or None not in v]
            seen: dict[bytes, bytes] = {}
            for entry, row_key, values in checked:
                if seen.setdefault(entry, row_key) != row_key:
                    raise duplicated(values)
            await checkpoint_if_due()
            existing = await txn.get([e for e, _, _ in checked]) if checked else []
            clashes = [
                (other, row)
                for (_, row_key, row), other in zip(checked, existing, strict=True)
                if other is not None and other != row_key
            ]
            if clashes:
                others = await txn.get([other for other, _ in clashes])
                for (_, row), other_row in zip(clashes, others, strict=True):
                    if other_row is not None:
                        raise duplicated(row)
        for entry, row_key, _ in entries:
            txn.put(entry, row_key)
        count += len(page)
    txn.depend_on(table.schema_key)
    if count < batch_rows or resume is None:
        return None
    return resume + b"\x00"
