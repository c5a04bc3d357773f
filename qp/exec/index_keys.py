"""Index entries of rows: which indexes a row has an entry in, and the entry's key values.

For most indexes the key is a few columns of the row, and every row has an
entry. A partial index (CREATE INDEX ... WHERE p) has entries only for the rows
where `p` is true, so it is maintained only for them and is unique only among
them; an expression index (CREATE INDEX ... (lower(name))) keys on values
computed from the row. Both are compiled here once per table and statement,
from the parse trees the catalog keeps (qp/catalog/stored.py, IndexDef), and
used by every writer (qp/exec/dml.py) and by the online build
(qp/ddl/indexes.py), so that the two can never disagree.
"""

from __future__ import annotations

import json
from typing import Any

from qp.bind.context import BindContext, QueryLevel
from qp.bind.expressions import ExprBinder, coerce
from qp.bind.scope import table_scope
from qp.catalog.stored import IndexDef, TableDef, key_text
from qp.exec.compile import ExecFrame, Layout, compile_scalar
from qp.types import type_by_oid


class IndexKeys:
    """The compiled predicates and key expressions of one table's indexes."""

    def __init__(self, table: TableDef, bc: BindContext) -> None:
        self.table = table
        self.live = table.live_columns
        self.frame = ExecFrame(ctx=bc.eval_ctx)
        self._compiled: dict[int, tuple[Any, list[Any]]] = {}
        not_plain = [ix for ix in table.secondary_indexes if not ix.plain]
        if not not_plain:
            return
        scope = table_scope(table, bc)
        layout = Layout([c.expr.cid for c in scope.items[0].columns])
        for index in not_plain:
            binder = ExprBinder(bc, scope, QueryLevel(what="index expressions"))
            predicate = None
            if index.predicate is not None:
                predicate = compile_scalar(binder.bind_bool(json.loads(index.predicate), "WHERE"), layout)
            functions: list[Any] = []
            for k in range(len(index.columns)):
                expression = index.expressions[k] if k < len(index.expressions) else None
                if expression is None:
                    functions.append(None)
                    continue
                tree, type_oid, typmod = expression[0], expression[1], expression[2]
                expr = coerce(binder.bind(json.loads(tree)), type_by_oid(type_oid).with_typmod(typmod), bc,
                              "implicit", "")  # fmt: skip
                functions.append(compile_scalar(expr, layout))
            self._compiled[index.oid] = (predicate, functions)

    def values(self, index: IndexDef, row: tuple) -> list | None:
        """The key values of `row` in `index`; None when a partial index leaves the row out."""
        compiled = self._compiled.get(index.oid)
        if compiled is None:
            return [row[i] for i in index.columns]
        predicate, functions = compiled
        live = tuple(row[i] for i in self.live)
        if predicate is not None and predicate(live, self.frame) is not True:
            return None
        return [
            fn(live, self.frame) if fn is not None else row[column]
            for fn, column in zip(functions, index.columns, strict=True)
        ]

    def key_names(self, index: IndexDef) -> str:
        """The key as PostgreSQL's "Key (...)=(...)" messages name it."""
        names = []
        for k, column in enumerate(index.columns):
            expression = index.expressions[k] if k < len(index.expressions) else None
            names.append(key_text(expression[0], expression[3]) if expression is not None
                         else self.table.columns[column].name)  # fmt: skip
        return ", ".join(names)
