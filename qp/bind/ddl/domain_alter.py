"""ALTER DOMAIN bound, in each of its forms (defaults, NOT NULL, CHECK constraints, RENAME):
the domain found, the change checked (a new default or CHECK bound, a constraint's name
chosen or found), and the domain as it becomes; qp/ddl/domain_alter.py writes it.

Whether the rows already stored are valid under a new NOT NULL or CHECK is not binding's
to say: binding asks for that check (a "validate_domain" follow-up) when any column uses
the domain, and qp/ddl/domain_alter.py runs it online after the catalog change commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.ddl.names import check_name
from qp.bind.ddl.skip import SkipDdl
from qp.bind.domains import domain_in
from qp.bind.expressions import ExprBinder, coerce
from qp.bind.scope import Scope
from qp.catalog.stored import CatalogSnapshot, CheckDef, DomainDef, TableDef
from qp.errors import SqlError
from qp.parse.parser import string_list
from qp.pgcatalog.search_path import USER_SCHEMA


@dataclass(frozen=True, slots=True)
class BoundAlterDomain:
    """ALTER DOMAIN: the domain as it becomes, the tables whose schema stamp its change
    rewrites (a writer planned against the old domain must not commit after it), and the
    online steps that check stored rows once it commits."""

    definition: DomainDef
    stamped_tables: tuple[TableDef, ...] = ()
    followups: tuple[tuple, ...] = ()


def find_domain(catalog: CatalogSnapshot, names: list[str]) -> DomainDef:
    if len(names) == 2 and names[0] != USER_SCHEMA:
        raise SqlError("3F000", f'schema "{names[0]}" does not exist')
    domain = catalog.domains.get((USER_SCHEMA, names[-1]))
    if domain is None:
        if (USER_SCHEMA, names[-1]) in catalog.tables or names[-1] in ("int4", "integer", "text"):
            raise SqlError("42809", f'"{names[-1]}" is not a domain')
        raise SqlError("42704", f'type "{names[-1]}" does not exist')
    return domain


def domain_users(catalog: CatalogSnapshot, domain_oid: int) -> list[tuple[TableDef, int]]:
    """(table, column position) of every live column of the domain."""
    return [
        (table, i)
        for table in sorted(catalog.tables.values(), key=lambda t: t.oid)
        for i, column in enumerate(table.columns)
        if column.domain_oid == domain_oid and not column.dropped
    ]


def _user_tables(catalog: CatalogSnapshot, domain_oid: int) -> tuple[TableDef, ...]:
    return tuple({t.oid: t for t, _ in domain_users(catalog, domain_oid)}.values())


def validated(domain: DomainDef, name: str | None) -> DomainDef:
    """The domain with its CHECK `name` marked valid (None: NOT NULL, which has no mark)."""
    if name is None:
        return domain
    return replace(
        domain, checks=tuple(replace(c, validated=True) if c.name == name else c for c in domain.checks)
    )


def bind_alter_domain(body: dict, catalog: CatalogSnapshot, bc: BindContext) -> BoundAlterDomain | SkipDdl:
    domain = find_domain(catalog, string_list(body["typeName"]))
    subtype = body.get("subtype")
    if subtype == "T":  # SET DEFAULT / DROP DEFAULT
        default = body.get("def")
        if default is not None:
            binder = ExprBinder(bc, Scope(), QueryLevel(what="DEFAULT expressions"))
            coerce(binder.bind(default), domain.base_type, bc, "assignment")
        return BoundAlterDomain(replace(domain, default_sql=json.dumps(default) if default is not None else None))
    if subtype == "N":  # DROP NOT NULL
        return BoundAlterDomain(replace(domain, not_null=False))
    if subtype == "O":  # SET NOT NULL
        if domain.not_null:
            return BoundAlterDomain(domain)
        followups = (("validate_domain", domain.oid, None, True),) if domain_users(catalog, domain.oid) else ()
        return BoundAlterDomain(replace(domain, not_null=True), _user_tables(catalog, domain.oid), followups)
    if subtype == "C":  # ADD CONSTRAINT
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
        changed = replace(domain, checks=(*domain.checks, check))
        domain_in(ExprBinder, bc, changed, E.Const(None, changed.base_type))  # a bad CHECK fails here
        followups: tuple[tuple, ...] = ()
        if not not_valid and domain_users(catalog, domain.oid):
            check = replace(check, validated=False)  # until the rows are checked
            changed = replace(changed, checks=(*changed.checks[:-1], check))
            followups = (("validate_domain", domain.oid, name, True),)
        return BoundAlterDomain(changed, _user_tables(catalog, domain.oid), followups)
    if subtype == "X":  # DROP CONSTRAINT
        name = body["name"]
        if name not in {c.name for c in domain.checks}:
            if body.get("missing_ok"):
                return SkipDdl("ALTER DOMAIN", (f'constraint "{name}" of domain "{domain.name}" does not exist, skipping',))
            raise SqlError("42704", f'constraint "{name}" of domain "{domain.name}" does not exist')
        return BoundAlterDomain(replace(domain, checks=tuple(c for c in domain.checks if c.name != name)))
    if subtype == "V":  # VALIDATE CONSTRAINT
        name = body["name"]
        check = next((c for c in domain.checks if c.name == name), None)
        if check is None:
            raise SqlError("42704", f'constraint "{name}" of domain "{domain.name}" does not exist')
        if check.validated:
            return SkipDdl("ALTER DOMAIN")
        if domain_users(catalog, domain.oid):
            # Nothing changes until the rows are checked: the unchanged domain's write is
            # the statement's DDL.
            return BoundAlterDomain(domain, followups=(("validate_domain", domain.oid, name, False),))
        return BoundAlterDomain(validated(domain, name))
    raise SqlError("0A000", "this form of ALTER DOMAIN is not supported")


def bind_rename_domain(body: dict, catalog: CatalogSnapshot) -> BoundAlterDomain:
    """ALTER DOMAIN ... RENAME TO / RENAME CONSTRAINT ... TO."""
    domain = find_domain(catalog, string_list(body["object"]["List"]["items"]))
    new = body["newname"]
    check_name(new)
    if body.get("renameType") == "OBJECT_DOMCONSTRAINT":
        old = body["subname"]
        if old not in {c.name for c in domain.checks}:
            raise SqlError("42704", f'constraint "{old}" for domain "{domain.name}" does not exist')
        if new in {c.name for c in domain.checks}:
            raise SqlError("42710", f'constraint "{new}" for domain "{domain.name}" already exists')
        checks = tuple(replace(c, name=new) if c.name == old else c for c in domain.checks)
        return BoundAlterDomain(replace(domain, checks=checks))
    if (
        (domain.schema, new) in catalog.domains
        or (domain.schema, new) in catalog.tables
        or (domain.schema, new) in catalog.views
    ):
        raise SqlError("42710", f'type "{new}" already exists')
    return BoundAlterDomain(replace(domain, name=new))
