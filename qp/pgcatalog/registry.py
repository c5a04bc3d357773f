"""The registry of system relations: (schema, name) -> SystemRelation.

Filled as the catalog modules are imported (`relation.system_relation`), read by
the binder (`qp.pgcatalog.resolve_relation`) and by the catalog model, which
lists the system relations beside the user's (qp/pgcatalog/model.py).
"""

from __future__ import annotations

from typing import Any

REGISTRY: dict[tuple[str, str], Any] = {}  # values: qp.pgcatalog.relation.SystemRelation
