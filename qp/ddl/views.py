"""Views: CREATE [OR REPLACE] VIEW and DROP VIEW applied (qp/bind/ddl/views.py binds them, with
the dependencies that keep a view's tables and the views built on it from disappearing under it).
"""

from __future__ import annotations

from dataclasses import replace

from qp.bind.ddl.views import BoundCreateView, BoundDropViews
from qp.catalog.stored import CatalogSnapshot
from qp.ddl.common import DdlResult, bump_version, catalog_counters


async def apply_create_view(bound: BoundCreateView, txn, catalog: CatalogSnapshot) -> DdlResult:
    if bound.made_temporary:  # a view over a temporary relation: the session's counters, its objects
        txn.temp_mode = True
    version, next_oid = await catalog_counters(txn)
    view = bound.view
    if not bound.replaces:
        view = replace(view, oid=max(next_oid, catalog.next_oid))
    txn.put(view.descriptor_key, view.to_record())
    bump_version(txn, version, None if bound.replaces else view.oid + 1)
    return DdlResult("CREATE VIEW", list(bound.notices))


async def apply_drop_views(bound: BoundDropViews, txn) -> DdlResult:
    if bound.views:
        version, _ = await catalog_counters(txn)
        for view in bound.views:
            txn.put(view.descriptor_key, None)
        bump_version(txn, version, None)
    return DdlResult("DROP VIEW", list(bound.notices))
