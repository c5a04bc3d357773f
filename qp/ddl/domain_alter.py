"""ALTER DOMAIN: defaults, NOT NULL, CHECK constraints, names and owner.

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

import json
from dataclasses import replace

from cluster.timeslice import checkpoint_if_due
from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.ddl.names import check_name
from qp.bind.domains import domain_in
from qp.bind.expressions import ExprBinder, coerce
from qp.bind.scope import Scope
from qp.catalog.stored import CatalogSnapshot, CheckDef, DomainDef
from qp.ddl.common import DdlResult, bump_version, catalog_counters
from qp.errors import SqlError
from qp.parse.parser import string_list
from qp.pgcatalog.search_path import USER_SCHEMA
from qp.txn.service import TransactionService
from qp.types.context import EvalContext

VALIDATE_BATCH_ROWS = 100_000  # as qp/ddl/online.py's, for the same reason


def _domain(catalog: CatalogSnapshot, names: list[str]) -> DomainDef:
    if len(names) == 2 and names[0] != USER_SCHEMA:
        raise SqlError("3F000", f'schema "{names[0]}" does not exist')
    domain = catalog.domains.get((USER_SCHEMA, names[-1]))
    if domain is None:
        if (USER_SCHEMA, names[-1]) in catalog.tables or names[-1] in ("int4", "integer", "text"):
            raise SqlError("42809", f'"{names[-1]}" is not a domain')
        raise SqlError("42704", f'type "{names[-1]}" does not exist')
    return domain


def users(catalog: CatalogSnapshot, domain_oid: int) -> list[tuple]:
    """(table, column position) of every live column of the domain."""
    return [
        (table, i)
        for table in sorted(catalog.tables.values(), key=lambda t: t.oid)
        for i, column in enumerate(table.columns)
        if column.domain_oid == domain_oid and not column.dropped
    ]


def _write(txn, version: int, catalog: CatalogSnapshot, domain: DomainDef, stamp_tables: bool) -> None:
    txn.put(domain.descriptor_key, domain.to_record())
    if stamp_tables:  # writers planned against the old domain must not commit after this
        for table in {t.oid: t for t, _ in users(catalog, domain.oid)}.values():
            txn.put(table.schema_key, version + 1)
    bump_version(txn, version, None)


async def alter_domain(body: dict, txn, catalog: CatalogSnapshot, bc: BindContext) -> DdlResult:
    domain = _domain(catalog, string_list(body["typeName"]))
    subtype = body.get("subtype")
    version, _ = await catalog_counters(txn)
    followups: list[tuple] = []
    if subtype == "T":  # SET DEFAULT / DROP DEFAULT
        default = body.get("def")
        if default is not None:
            binder = ExprBinder(bc, Scope(), QueryLevel(what="DEFAULT expressions"))
            coerce(binder.bind(default), domain.base_type, bc, "assignment")
        domain = replace(domain, default_sql=json.dumps(default) if default is not None else None)
        _write(txn, version, catalog, domain, False)
    elif subtype == "N":  # DROP NOT NULL
        _write(txn, version, catalog, replace(domain, not_null=False), False)
    elif subtype == "O":  # SET NOT NULL
        if not domain.not_null:
            _write(txn, version, catalog, replace(domain, not_null=True), True)
            if users(catalog, domain.oid):
                followups.append(("validate_domain", domain.oid, None, True))
        else:
            _write(txn, version, catalog, domain, False)
    elif subtype == "C":  # ADD CONSTRAINT
        con = body["def"]["Constraint"]
        if con.get("contype") != "CONSTR_CHECK":
            what = con.get("contype", "").removeprefix("CONSTR_").lower()
            raise SqlError("0A000", f"{what} constraints on domains are not supported")
        name = con.get("conname")
        taken = {c.name for c in domain.checks}
        if name is None:
            name, n = f"{domain.name}_check", 0
            while name in taken:
                n += 1
                name = f"{domain.name}_check{n}"
        elif name in taken:
            raise SqlError("42710", f'constraint "{name}" for domain "{domain.name}" already exists')
        check_name(name)
        not_valid = bool(con.get("skip_validation"))
        check = CheckDef(name, json.dumps(con["raw_expr"]), validated=not_valid is False)
        domain = replace(domain, checks=(*domain.checks, check))
        domain_in(ExprBinder, bc, domain, E.Const(None, domain.base_type))  # a bad CHECK fails here
        if not not_valid and users(catalog, domain.oid):
            check = replace(check, validated=False)  # until the rows are checked
            domain = replace(domain, checks=(*domain.checks[:-1], check))
            followups.append(("validate_domain", domain.oid, name, True))
        _write(txn, version, catalog, domain, True)
    elif subtype == "X":  # DROP CONSTRAINT
        name = body["name"]
        if name not in {c.name for c in domain.checks}:
            if body.get("missing_ok"):
                return DdlResult("ALTER DOMAIN",
                                 [f'constraint "{name}" of domain "{domain.name}" does not exist, skipping'])  # fmt: skip
            raise SqlError("42704", f'constraint "{name}" of domain "{domain.name}" does not exist')
        _write(txn, version, catalog, replace(domain, checks=tuple(c for c in domain.checks if c.name != name)),
               False)  # fmt: skip
    elif subtype == "V":  # VALIDATE CONSTRAINT
        name = body["name"]
        check = next((c for c in domain.checks if c.name == name), None)
        if check is None:
            raise SqlError("42704", f'constraint "{name}" of domain "{domain.name}" does not exist')
        if not check.validated and users(catalog, domain.oid):
            followups.append(("validate_domain", domain.oid, name, False))
        elif not check.validated:
            _write(txn, version, catalog, _validated(domain, name), False)
        if not followups and check.validated:
            return DdlResult("ALTER DOMAIN")
        if (
            followups
        ):  # nothing changes until the rows are checked: a catalog write starts the statement's DDL
            _write(txn, version, catalog, domain, False)
    else:
        raise SqlError("0A000", "this form of ALTER DOMAIN is not supported")
    result = DdlResult("ALTER DOMAIN")
    result.followups = followups
    return result


async def rename_domain(body: dict, txn, catalog: CatalogSnapshot) -> DdlResult:
    """ALTER DOMAIN ... RENAME TO / RENAME CONSTRAINT ... TO."""
    domain = _domain(catalog, string_list(body["object"]["List"]["items"]))
    new = body["newname"]
    check_name(new)
    version, _ = await catalog_counters(txn)
    if body.get("renameType") == "OBJECT_DOMCONSTRAINT":
        old = body["subname"]
        if old not in {c.name for c in domain.checks}:
            raise SqlError("42704", f'constraint "{old}" for domain "{domain.name}" does not exist')
        if new in {c.name for c in domain.checks}:
            raise SqlError("42710", f'constraint "{new}" for domain "{domain.name}" already exists')
        checks = tuple(replace(c, name=new) if c.name == old else c for c in domain.checks)
        _write(txn, version, catalog, replace(domain, checks=checks), False)
        return DdlResult("ALTER DOMAIN")
    if (
        (domain.schema, new) in catalog.domains
        or (domain.schema, new) in catalog.tables
        or (
            domain.schema,
            new,
        )
        in catalog.views
    ):
        raise SqlError("42710", f'type "{new}" already exists')
    _write(txn, version, catalog, replace(domain, name=new), False)
    return DdlResult("ALTER DOMAIN")


def _validated(domain: DomainDef, name: str | None) -> DomainDef:
    if name is None:
        return domain
    return replace(
        domain, checks=tuple(replace(c, validated=True) if c.name == name else c for c in domain.checks)
    )


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
            changed = _validated(domain, name)
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
        _write(txn, version, catalog, changed, False)

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
        for table, position in users(catalog, domain_oid)[index:]:
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
