"""PostgreSQL's system catalogs as dsql computes them (pg_catalog, information_schema).

`resolve_relation(schema, name)` is called by the binder for every relation
name that is not a user table; it returns an object with `name`, `columns`
(a list of (column name, SqlType)) and `async rows(rc) -> list[tuple]`, or
None. Rows are computed from the transaction's catalog snapshot
(`await rc.session.catalog_for(rc.txn)`), so they agree with what the
statement's own reads see.

Layout:
  relation.py           SystemRelation, the registry, column declarations
  model.py              a catalog snapshot seen as PostgreSQL's catalogs (oids, lookups)
  oids.py               fixed oids of built-in objects, derived oids of constraints
  objects.py            pg_class, pg_attribute, pg_index, pg_constraint, ...
  builtin_tables.py     pg_type, pg_proc, pg_operator, pg_am, ... (from qp.types/qp.functions)
  cluster_tables.py     namespaces, database, roles, settings, activity, prepared statements
  views.py              pg_tables, pg_indexes, ...
  information_schema.py the SQL standard's views
  functions.py          the functions that read the catalogs (pg_get_indexdef, to_regclass, ...)
  definitions.py        pg_get_indexdef / pg_get_constraintdef / pg_get_expr text
  analyze.py            stored expressions typed as PostgreSQL's parser types them
  ruleutils.py          expressions and view queries printed as PostgreSQL's ruleutils prints them
  names.py              reg* input and output (relation, function, schema names <-> oids)
  search_path.py        the search path: where unqualified names are found and created
"""

from __future__ import annotations

from qp.pgcatalog import (  # noqa: F401  (imported for their registrations)
    builtin_tables,
    cluster_tables,
    functiondef,
    functions,
    information_schema,
    objects,
    privileges,
    routine_views,
    statistics,
    views,
)
from qp.pgcatalog.relation import REGISTRY, SystemRelation

__all__ = ["resolve_relation", "SystemRelation", "REGISTRY"]


def resolve_relation(schema: str | None, name: str) -> SystemRelation | None:
    """The system relation `schema.name`; a bare name finds only pg_catalog's
    (information_schema is not on the search path)."""
    return REGISTRY.get((schema or "pg_catalog", name))
