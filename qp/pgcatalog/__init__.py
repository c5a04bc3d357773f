"""PostgreSQL's system catalogs as dsql computes them (pg_catalog, information_schema).

`resolve_relation(schema, name)` is called by the binder for every relation
name that is not a user table; it returns an object with `name`, `columns`
(a list of (column name, SqlType)) and `async rows(rc) -> list[tuple]`, or
None. Rows are computed from the transaction's catalog snapshot
(`await rc.session.catalog_for(rc.txn)`), so they agree with what the
statement's own reads see.
"""

from __future__ import annotations


def resolve_relation(schema: str | None, name: str):
    return None
