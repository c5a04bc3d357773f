"""A session's catalog: the shared snapshot with its temporary objects laid over it.

Shared snapshots (qp/catalog/cache.py) never hold temporary descriptors: those live in
the session's store and its transaction's buffer (qp/txn/temp_store.py). A session binds
against the shared snapshot with its own temporary tables, views and sequences added
under the names it uses for them, so that they hide permanent objects of the same name,
as PostgreSQL's pg_temp does by coming first in the search path.

The overlay keeps the shared snapshot's `version` (storage checks reads against it) and
takes a serial number of its own (`overlay`), so that plans made against one overlay are
made again against another (qp/frontend/prepare.py's planned_for). Overlays are cached
per session: one is built again only when the shared snapshot, the committed temporary
descriptors or the transaction's buffered ones change.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import count
from typing import TYPE_CHECKING, Any

from qp.catalog.acl import PrivilegeState
from qp.catalog.stored import CatalogSnapshot
from qp.catalog.temp_keys import TEMP_RELATIONS_END, TEMP_RELATIONS_START
from qp.errors import SqlError

if TYPE_CHECKING:  # the catalog sits below transactions: it only reads through one
    from qp.txn.temp_store import TempStore
    from qp.txn.transaction import Transaction

_overlay_serials = count(1)
_HIDDEN = "temporary objects hide these (schema, name)"


def hidden_by_temp(schema: str, name: str) -> SqlError:
    """`schema.name` while a temporary object of the session is called `name`: the overlay
    keeps the temporary one under public's key, so a permanent public.name it hides cannot
    be reached by qualifying it; refused rather than answered with the temporary one."""
    return SqlError(
        "0A000",
        f'"{schema}.{name}" cannot be used while a temporary relation "{name}" exists in this session',
        hint=f'Drop the temporary relation, or use "{name}" for it.',
    )


def overlay(base: CatalogSnapshot, rows: list[tuple[bytes, Any]]) -> CatalogSnapshot:
    """`base` with the temporary descriptors `rows` (key, record) laid over it."""
    if not rows:
        return base
    temp = CatalogSnapshot.from_rows(base.version, rows, base.next_oid)
    hidden = {*temp.tables, *temp.views, *temp.sequences}
    # Everything else (roles, domains, functions, ...) is the shared snapshot's; the
    # temporary objects' owners and ACLs are kept in the session's store beside them.
    privileges = base.privileges
    snapshot = replace(
        base,
        tables={**{k: v for k, v in base.tables.items() if k not in hidden}, **temp.tables},
        sequences={**{k: v for k, v in base.sequences.items() if k not in hidden}, **temp.sequences},
        views={**{k: v for k, v in base.views.items() if k not in hidden}, **temp.views},
        comments={**base.comments, **temp.comments},
        statistics={**base.statistics, **temp.statistics},
        privileges=PrivilegeState({**privileges.objects, **temp.privileges.objects}, privileges.memberships,
                                  privileges.default_acls),  # fmt: skip
        derived={},
    )
    snapshot.overlay = next(_overlay_serials)
    # Permanent objects the temporary ones hide (see hidden_by_temp).
    snapshot.derived[_HIDDEN] = frozenset(
        key for key in hidden if key in base.tables or key in base.views or key in base.sequences
    )
    return snapshot


def hides_permanent(catalog: CatalogSnapshot, schema: str, name: str) -> bool:
    """Whether a temporary object of the session hides a permanent `schema.name`."""
    return (schema, name) in catalog.derived.get(_HIDDEN, ())


def committed_overlay(base: CatalogSnapshot, store: TempStore | None) -> CatalogSnapshot:
    """`base` with the session's committed temporary objects (outside a transaction)."""
    if not store:
        return base
    cached = store.overlay_cache
    if cached is not None and cached[0] is base and cached[1] == store.generation and cached[2] == ():
        return cached[3]
    snapshot = overlay(base, store.items_in(TEMP_RELATIONS_START, TEMP_RELATIONS_END))
    store.overlay_cache = (base, store.generation, (), snapshot)
    return snapshot


async def with_temp(base: CatalogSnapshot, txn: Transaction) -> CatalogSnapshot:
    """`base` with the temporary objects the transaction sees (committed and its own)."""
    store = txn.temp
    if store is None:
        return base
    buffered = txn.buffer.keys_in(TEMP_RELATIONS_START, TEMP_RELATIONS_END) if txn.buffer.values else []
    if not buffered:
        return committed_overlay(base, store)
    # The buffered records themselves (kept alive by the cache entry) tell whether
    # the transaction changed a temporary descriptor since the overlay was built.
    pending = tuple((key, txn.buffer.values[key]) for key in buffered)
    cached = store.overlay_cache
    if (
        cached is not None
        and cached[0] is base
        and cached[1] == store.generation
        and len(cached[2]) == len(pending)
        and all(a[0] == b[0] and a[1] is b[1] for a, b in zip(cached[2], pending, strict=True))
    ):
        return cached[3]
    rows: list[tuple[bytes, Any]] = []
    async for page in txn.scan(TEMP_RELATIONS_START, TEMP_RELATIONS_END, catalog_check=False):
        rows += page
    snapshot = overlay(base, rows)
    store.overlay_cache = (base, store.generation, pending, snapshot)
    return snapshot
