"""GRANT, REVOKE, ALTER ... OWNER TO, GRANT role TO role and ALTER DEFAULT PRIVILEGES applied:
the records qp/bind/ddl/grants.py bound, written to the transaction.

Each is a catalog change like any DDL (DSQL: "catalog changes, including
GRANT and REVOKE, bump the catalog version"), so privileges are transactional,
versioned, and a prepared statement bound before a GRANT is bound and checked
again after it. The records and the ACL algebra are qp/catalog/acl.py's; who
may do what is qp/catalog/privcheck.py's; the ownership hooks around every DDL
statement are qp/bind/ddl/ownership.py's and qp/ddl/ownership.py's.
"""

from __future__ import annotations

from dataclasses import replace

from qp.bind.ddl.grants import (
    NEW_DEFAULT_ACL,
    BoundAlterDefaultPrivileges,
    BoundChangeOwner,
    BoundGrantRevoke,
    BoundGrantRole,
)
from qp.catalog.acl import membership_key, privs_key
from qp.catalog.stored import CatalogSnapshot, relation_key
from qp.ddl.common import DdlResult, bump_version, catalog_counters


async def apply_grant_revoke(bound: BoundGrantRevoke, txn) -> DdlResult:
    version, _ = await catalog_counters(txn)
    for privs in bound.privileges:
        txn.put(privs_key(relation_key(privs.oid)), privs.to_record())
    bump_version(txn, version, None)
    return DdlResult(bound.tag, list(bound.notices))


async def apply_change_owner(bound: BoundChangeOwner, txn) -> DdlResult:
    version, _ = await catalog_counters(txn)
    for privs in bound.privileges:
        txn.put(privs_key(relation_key(privs.oid)), privs.to_record())
    if bound.function is not None:
        txn.put(bound.function.descriptor_key, bound.function.to_record())
    bump_version(txn, version, None)
    return DdlResult(bound.tag)


async def apply_grant_role(bound: BoundGrantRole, txn) -> DdlResult:
    version, _ = await catalog_counters(txn)
    for role, member, membership in bound.memberships:
        key = membership_key(relation_key(role), member)
        txn.put(key, None if membership is None else membership.to_record())
    bump_version(txn, version, None)
    return DdlResult(bound.tag, list(bound.notices))


async def apply_alter_default_privileges(bound: BoundAlterDefaultPrivileges, txn,
                                         catalog: CatalogSnapshot) -> DdlResult:  # fmt: skip
    version, next_oid = await catalog_counters(txn)
    next_oid = max(next_oid, catalog.next_oid)
    allocated = False
    for entry, removed in bound.changes:
        if entry.oid == NEW_DEFAULT_ACL:
            entry = replace(entry, oid=next_oid)
            next_oid += 1
            allocated = True
        key = relation_key(entry.oid)
        txn.put(key, None if removed else entry.to_record())
    bump_version(txn, version, next_oid if allocated else None)
    return DdlResult("ALTER DEFAULT PRIVILEGES")
