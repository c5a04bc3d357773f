"""ALTER TABLE ... ADD COLUMN ... DEFAULT without a rewrite, as PostgreSQL 11+ does it.

DSQL adds only bare columns. dsql also accepts a DEFAULT (and NOT NULL with a
non-null default) as a deliberate extension: the default is evaluated once,
now, and kept in the catalog as the column's "missing value"
(ColumnDef.missing, PostgreSQL's attmissingval). Rows written before the
column existed are stored shorter than the table and read that value
(TableDef.pad_row); rows written later store their own. No row is rewritten,
so the statement costs the same on an empty table and on a billion rows.

Only defaults that give one value for every existing row can work this way:
a volatile default (random(), nextval) would need a value per row, that is a
rewrite, and is refused.
"""

from __future__ import annotations

import json
from typing import Any

from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.expressions import ExprBinder, coerce
from qp.bind.scope import Scope
from qp.errors import SqlError
from qp.exec.compile import ExecFrame, Layout, compile_scalar
from qp.types import SqlType

_ALLOWED = ("CONSTR_DEFAULT", "CONSTR_NOTNULL", "CONSTR_NULL")


def added_column_default(column_def: dict, column_type: SqlType, column_name: str,
                         bc: BindContext) -> tuple[str | None, Any, bool]:  # fmt: skip
    """(the default's parse tree as JSON, the missing value, NOT NULL) of a column ADD COLUMN adds."""
    constraints = [c["Constraint"] for c in column_def.get("constraints", ())]
    if any(c.get("contype") not in _ALLOWED for c in constraints):
        raise SqlError("0A000", "ALTER TABLE ADD COLUMN with constraint not supported")
    not_null = bool(column_def.get("is_not_null"))
    default = None
    for constraint in constraints:
        if constraint["contype"] == "CONSTR_NOTNULL":
            not_null = True
        elif constraint["contype"] == "CONSTR_NULL":
            not_null = False
        else:
            default = constraint["raw_expr"]
    missing = None
    if default is not None:
        binder = ExprBinder(bc, Scope(), QueryLevel(what="DEFAULT expressions"))
        expr = coerce(binder.bind(default), column_type, bc, "assignment", column_name)
        if any(
            isinstance(n, E.AsyncCall) or (isinstance(n, E.Call) and n.volatility == "v")
            for n in E.walk(expr)
        ):
            raise SqlError(
                "0A000",
                "ALTER TABLE ADD COLUMN with a volatile DEFAULT is not supported",
                detail="Existing rows would each need a value of their own, which means rewriting the table.",
            )
        missing = compile_scalar(expr, Layout([]))((), ExecFrame(ctx=bc.eval_ctx))
    if not_null and missing is None:
        # Existing rows would read NULL; checking that there are none would mean a scan.
        raise SqlError(
            "0A000", "ALTER TABLE ADD COLUMN ... NOT NULL is supported only with a non-null DEFAULT"
        )
    return (json.dumps(default) if default is not None else None), missing, not_null
