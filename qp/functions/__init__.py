"""PostgreSQL's functions, operators and aggregates.

`registry` holds the catalog and the overload resolution; the other modules
register implementations by theme when imported (below, so that importing
`qp.functions` gives the full catalog; the functions that read the system
catalogs register with `qp.pgcatalog`, in qp/pgcatalog/functions.py). The engine uses only the names in
__all__ (see qp/types/CONTRACT.md).
"""

from qp.functions import (  # noqa: F401  (imported for their registrations)
    aggregates,
    arrays,
    datetime,
    dt_extract,
    dt_ops,
    formatting,
    formatting_num,
    json,
    json_records,
    json_text,
    jsonpath,
    math,
    operators,
    patterns,
    strings,
    to_number,
)
from qp.functions.registry import (
    AGGREGATES,
    FUNCTIONS,
    OPERATORS,
    Resolved,
    ResolvedAggregate,
    is_aggregate,
    resolve_aggregate,
    resolve_function,
    resolve_operator,
)

__all__ = ["AGGREGATES", "FUNCTIONS", "OPERATORS", "Resolved", "ResolvedAggregate", "is_aggregate",
           "resolve_aggregate", "resolve_function", "resolve_operator"]
