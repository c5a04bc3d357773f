"""Domains: CREATE DOMAIN and DROP DOMAIN applied.

A domain is a catalog record of its own (qp/catalog/stored.py, DomainDef); its
constraints are checked where values meet it (qp/bind/domains.py). Binding
(qp/bind/ddl/domains.py) checks its CHECKs and default once, so that a bad one
fails CREATE DOMAIN as in PostgreSQL. A domain in use by a column cannot be
dropped: DROP DOMAIN ... CASCADE, which would drop those columns, is refused
instead (0A000).
"""

from __future__ import annotations

from dataclasses import replace

from qp.bind.ddl.domains import BoundCreateDomain, BoundDropDomains
from qp.catalog.stored import CatalogSnapshot
from qp.ddl.common import DdlResult, bump_version, catalog_counters


async def apply_create_domain(bound: BoundCreateDomain, txn, catalog: CatalogSnapshot) -> DdlResult:
    version, next_oid = await catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    domain = replace(bound.definition, oid=oid)
    txn.put(domain.descriptor_key, domain.to_record())
    bump_version(txn, version, oid + 1)
    return DdlResult("CREATE DOMAIN")


async def apply_drop_domains(bound: BoundDropDomains, txn) -> DdlResult:
    if bound.domains:
        version, _ = await catalog_counters(txn)
        for domain in bound.domains:
            txn.put(domain.descriptor_key, None)
        bump_version(txn, version, None)
    return DdlResult("DROP DOMAIN", list(bound.notices))
