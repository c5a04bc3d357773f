"""CREATE, ALTER and DROP SEQUENCE applied: what qp/bind/ddl/sequences.py bound, written to the
transaction (the values themselves are qp/ddl/sequences.py's)."""

from __future__ import annotations

from dataclasses import replace

from qp.bind.ddl.sequences import BoundAlterSequence, BoundCreateSequence, BoundDropSequences
from qp.catalog.stored import NEXT_OID_KEY, VERSION_KEY, CatalogSnapshot
from qp.ddl.common import DdlResult, catalog_counters


async def apply_create_sequence(bound: BoundCreateSequence, txn, catalog: CatalogSnapshot) -> DdlResult:
    version, next_oid = await catalog_counters(txn)
    oid = max(next_oid, catalog.next_oid)
    definition = replace(bound.definition, oid=oid)
    txn.put(definition.descriptor_key, definition.to_record())
    txn.put(VERSION_KEY, version + 1)
    txn.put(NEXT_OID_KEY, oid + 1)
    txn.catalog_version_written = version + 1
    txn.ddl_count += 1
    return DdlResult("CREATE SEQUENCE")


async def apply_alter_sequence(bound: BoundAlterSequence, txn) -> DdlResult:
    definition = bound.definition
    version, _ = await catalog_counters(txn)
    txn.put(definition.descriptor_key, definition.to_record())
    if bound.restart is not None:
        txn.put(definition.state_key, definition.start if bound.restart == -1 else bound.restart)
    txn.put(VERSION_KEY, version + 1)
    txn.catalog_version_written = version + 1
    txn.ddl_count += 1
    result = DdlResult("ALTER SEQUENCE")
    result.sequence_oid = bound.sequence.oid
    return result


async def apply_drop_sequences(bound: BoundDropSequences, txn) -> DdlResult:
    if bound.sequences:
        version, _ = await catalog_counters(txn)
        for sequence in bound.sequences:
            txn.put(sequence.descriptor_key, None)
            txn.put(sequence.state_key, None)
        txn.put(VERSION_KEY, version + 1)
        txn.catalog_version_written = version + 1
        txn.ddl_count += 1
    return DdlResult("DROP SEQUENCE", list(bound.notices))
