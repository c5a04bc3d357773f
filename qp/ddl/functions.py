"""CREATE [OR REPLACE] FUNCTION, DROP FUNCTION / ROUTINE and ALTER FUNCTION / ROUTINE applied.

A function is a catalog record (qp/catalog/stored.py, FunctionDef), written
by a DDL transaction that bumps the catalog version like any other;
qp/bind/ddl/functions.py binds the statements (the body checked as
PostgreSQL's check_function_bodies checks it). SECURITY DEFINER is kept and
shown; with no privileges enforced on what a body reads, it runs as SECURITY
INVOKER would.
"""

from __future__ import annotations

from dataclasses import replace

from qp.bind.ddl.functions import BoundAlterFunction, BoundCreateFunction, BoundDropFunctions
from qp.catalog.stored import CatalogSnapshot
from qp.ddl.common import DdlResult, bump_version, catalog_counters


async def apply_create_function(bound: BoundCreateFunction, txn, catalog: CatalogSnapshot) -> DdlResult:
    version, next_oid = await catalog_counters(txn)
    function = bound.definition
    if not bound.replacing:
        function = replace(function, oid=max(next_oid, catalog.next_oid))
    txn.put(function.descriptor_key, function.to_record())
    bump_version(txn, version, None if bound.replacing else function.oid + 1)
    return DdlResult("CREATE FUNCTION")


async def apply_drop_functions(bound: BoundDropFunctions, txn) -> DdlResult:
    if bound.functions:
        version, _ = await catalog_counters(txn)
        for function in bound.functions:
            txn.put(function.descriptor_key, None)
        for view in bound.views:
            txn.put(view.descriptor_key, None)
        bump_version(txn, version, None)
    return DdlResult(bound.tag, list(bound.notices))


async def apply_alter_function(bound: BoundAlterFunction, txn) -> DdlResult:
    version, _ = await catalog_counters(txn)
    txn.put(bound.definition.descriptor_key, bound.definition.to_record())
    bump_version(txn, version, None)
    return DdlResult(bound.tag)
