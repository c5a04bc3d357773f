"""ALTER DOMAIN applied: defaults, NOT NULL, CHECK constraints, names and owner
(qp/bind/ddl/domain_alter.py binds them; OWNER TO is qp/ddl/grants.py's).

Changes that only describe the domain (SET/DROP DEFAULT, DROP NOT NULL, DROP
CONSTRAINT, RENAME, OWNER TO, ADD CONSTRAINT ... NOT VALID) are one catalog
write. SET NOT NULL and ADD CONSTRAINT without NOT VALID must also find every
value already stored in a column of the domain valid, and here they run as
online DDL does (qp/ddl/online.py), which is what DSQL asks of data-checking
DDL: the DDL transaction publishes the constraint (writers enforce it from its
commit on, and it rewrites the schema stamp of every table with a column of
the domain, so a writer planned against the old catalog fails with OC001),
then the rows that existed are read in read-only batches, each at a snapshot
of its own (`validate_domain`); a violation takes the constraint back and
fails the statement with PostgreSQL's 23502 / 23514 and its message.
VALIDATE CONSTRAINT runs the same check for a NOT VALID constraint.
"""

from __future__ import annotations

from dataclasses import replace

from cluster.timeslice import checkpoint_if_due
from qp.bind import expr as E
from qp.bind.context import BindContext
from qp.bind.ddl.domain_alter import BoundAlterDomain, domain_users, validated
from qp.bind.domains import domain_in
from qp.bind.expressions import ExprBinder
from qp.catalog.stored import DomainDef, TableDef
from qp.ddl.common import DdlResult, bump_version, catalog_counters
from qp.errors import SqlError
from qp.txn.service import TransactionService
from qp.types.context import EvalContext

VALIDATE_BATCH_ROWS = 100_000  # as qp/ddl/online.py's, for the same reason


async def apply_alter_domain(bound: BoundAlterDomain, txn) -> DdlResult:
    """ALTER DOMAIN in any of its forms, RENAME included: the domain written as binding left it."""
    version, _ = await catalog_counters(txn)
    _write(txn, version, bound.definition, bound.stamped_tables)
    result = DdlResult("ALTER DOMAIN")
    result.followups = list(bound.followups)
    return result


def _write(txn, version: int, domain: DomainDef, stamped_tables: tuple[TableDef, ...] = ()) -> None:
    txn.put(domain.descriptor_key, domain.to_record())
    for table in stamped_tables:  # writers planned against the old domain must not commit after this
        txn.put(table.schema_key, version + 1)
    bump_version(txn, version, None)


async def validate_domain(txns: TransactionService, ctx: EvalContext, step: tuple) -> None:
    """The rows stored before SET NOT NULL / ADD CONSTRAINT, checked; then the change
    published as valid, or taken back and the statement failed."""
    _, domain_oid, name, adding = step
    failure: SqlError | None = None
    try:
        await _check_rows(txns, ctx, domain_oid, name)
    except SqlError as exc:
        failure = exc

    async def publish(txn) -> None:
        catalog = txn.catalog
        domain = catalog.domains_by_oid.get(domain_oid)
        if domain is None:
            return
        if failure is None:
            changed = validated(domain, name)
        elif name is None:
            changed = replace(domain, not_null=False)
        else:
            check = next((c for c in domain.checks if c.name == name), None)
            if check is None or check.validated:
                return
            # ADD CONSTRAINT takes it back; VALIDATE CONSTRAINT leaves it NOT VALID.
            changed = (
                replace(domain, checks=tuple(c for c in domain.checks if c.name != name))
                if adding
                else domain
            )
        if changed == domain:
            return
        version, _ = await catalog_counters(txn)
        _write(txn, version, changed)

    await txns.run(publish, with_catalog=True)
    if failure is not None:
        raise failure


async def _check_rows(txns: TransactionService, ctx: EvalContext, domain_oid: int, name: str | None) -> None:
    async def batch(txn) -> tuple | None:
        catalog = txn.catalog
        domain = catalog.domains_by_oid.get(domain_oid)
        if domain is None:
            return None
        only = replace(
            domain, not_null=name is None, checks=tuple(c for c in domain.checks if c.name == name)
        )
        check = domain_in(ExprBinder, BindContext(catalog, ctx), only, E.Const(None, domain.base_type)).impl
        for table, position in domain_users(catalog, domain_oid)[index:]:
            seen, last = 0, None
            async for page in txn.scan(
                start[0] or table.primary_prefix, table.primary_end, limit=VALIDATE_BATCH_ROWS
            ):
                await checkpoint_if_due()
                seen += len(page)
                last = page[-1][0] if page else last
                for _, stored in page:
                    value = table.pad_row(stored)[position]
                    try:
                        check(ctx, value)
                    except SqlError as exc:
                        raise _violation(exc, table, table.columns[position].name) from None
            if seen >= VALIDATE_BATCH_ROWS and last is not None:
                return (index, last + b"\x00")
            return (index + 1, None)
        return None

    index, start = 0, [None]
    while (progress := await txns.run(batch, read_only=True, with_catalog=True)) is not None:
        index, start[0] = progress


def _violation(exc: SqlError, table, column: str) -> SqlError:
    """PostgreSQL's errors of AlterDomainNotNull and validateDomainConstraint."""
    if exc.sqlstate == "23502":
        return SqlError("23502", f'column "{column}" of table "{table.name}" contains null values',
                        schema_name=table.schema, table_name=table.name, column_name=column)  # fmt: skip
    return SqlError("23514", f'column "{column}" of table "{table.name}" contains values that violate the new '
                             "constraint", schema_name=table.schema, table_name=table.name,
                    column_name=column)  # fmt: skip
