"""CREATE DOMAIN and DROP DOMAIN bound: the domain's schema and name, its base type, its
constraints named and its CHECKs and default bound once (so that a bad one fails CREATE
DOMAIN, as in PostgreSQL), and for DROP the domains found and their users refused;
qp/ddl/domains.py writes what binding decided.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.ddl.names import check_name, resolve_column_type, search_schema
from qp.bind.domains import domain_in
from qp.bind.expressions import ExprBinder, coerce
from qp.bind.scope import Scope
from qp.catalog.stored import CatalogSnapshot, CheckDef, DomainDef
from qp.errors import SqlError
from qp.parse.parser import string_list
from qp.pgcatalog.search_path import USER_SCHEMA, creation_schema


@dataclass(frozen=True, slots=True)
class BoundCreateDomain:
    """CREATE DOMAIN: the domain to store; its oid is allocated when it is applied."""

    definition: DomainDef  # oid 0 until applied


@dataclass(frozen=True, slots=True)
class BoundDropDomains:
    """DROP DOMAIN: the domains found (none in use), and a notice for each IF EXISTS that
    found none."""

    domains: tuple[DomainDef, ...]
    notices: tuple[str, ...]


def _schema_and_name(names: list[str], catalog: CatalogSnapshot, bc: BindContext | None,
                     creating: bool = False) -> tuple[str, str]:
    """(schema, name) of a domain: the schema named, else where CREATE puts it or
    the first schema along the search path that has a domain of that name."""
    name = names[-1]
    if creating:
        if bc is None:
            return names[0] if len(names) == 2 else USER_SCHEMA, name
        return creation_schema(names[0] if len(names) == 2 else None, name, bc.eval_ctx, catalog), name
    schema = search_schema(names[0] if len(names) == 2 else None, bc, name,
                           lambda s: (s, name) in catalog.domains)  # fmt: skip
    return schema or USER_SCHEMA, name


def bind_create_domain(body: dict, catalog: CatalogSnapshot, bc: BindContext) -> BoundCreateDomain:
    schema, name = _schema_and_name(string_list(body["domainname"]), catalog, bc, creating=True)
    check_name(name)
    if (
        (schema, name) in catalog.domains
        or (schema, name) in catalog.tables
        or (schema, name) in catalog.views
    ):
        raise SqlError("42710", f'type "{name}" already exists')
    base, serial = resolve_column_type(body["typeName"])
    if serial:
        raise SqlError("42704", f'type "{string_list(body["typeName"]["names"])[-1]}" does not exist')
    not_null = False
    default = None
    raw_checks: list[tuple[str | None, dict]] = []
    for node in body.get("constraints", ()):
        con = node["Constraint"]
        contype = con.get("contype")
        if contype == "CONSTR_NOTNULL":
            not_null = True
        elif contype == "CONSTR_NULL":
            not_null = False
        elif contype == "CONSTR_DEFAULT":
            if default is not None:
                raise SqlError("42601", "multiple default expressions")
            default = con["raw_expr"]
        elif contype == "CONSTR_CHECK":
            raw_checks.append((con.get("conname"), con["raw_expr"]))
        else:
            raise SqlError(
                "0A000", f"{contype.removeprefix('CONSTR_').lower()} constraints on domains are not supported"
            )
    checks: list[CheckDef] = []
    taken: set[str] = set()
    for con_name, raw in raw_checks:
        if con_name is None:
            # PostgreSQL's ChooseConstraintName: <domain>_check, then _check1, ...
            con_name, n = f"{name}_check", 0
            while con_name in taken:
                n += 1
                con_name = f"{name}_check{n}"
        elif con_name in taken:
            raise SqlError("42710", f'constraint "{con_name}" for domain "{name}" already exists')
        taken.add(con_name)
        checks.append(CheckDef(con_name, json.dumps(raw)))
    domain = DomainDef(0, name, base.oid, base.typmod, not_null, None, tuple(checks), schema)
    # Bind the checks (each a boolean over VALUE) and the default now, so bad ones fail here.
    domain_in(ExprBinder, bc, domain, E.Const(None, base))
    if default is not None:
        binder = ExprBinder(bc, Scope(), QueryLevel(what="DEFAULT expressions"))
        coerce(binder.bind(default), base, bc, "assignment")
        domain = replace(domain, default_sql=json.dumps(default))
    return BoundCreateDomain(domain)


def bind_drop_domains(body: dict, catalog: CatalogSnapshot, bc: BindContext | None) -> BoundDropDomains:
    notices = []
    dropped = []
    for node in body.get("objects", ()):
        names = string_list(node["TypeName"]["names"])
        schema, name = _schema_and_name(names, catalog, bc)
        domain = catalog.domains.get((schema, name))
        if domain is None:
            if body.get("missing_ok"):
                notices.append(f'type "{name}" does not exist, skipping')
                continue
            raise SqlError("42704", f'type "{name}" does not exist')
        users = [
            (t, c)
            for t in catalog.tables.values()
            for c in t.columns
            if c.domain_oid == domain.oid and not c.dropped
        ]
        if users:
            if body.get("behavior") == "DROP_CASCADE":
                raise SqlError(
                    "0A000", "DROP DOMAIN ... CASCADE of a domain that columns use is not supported"
                )
            table, column = users[0]
            raise SqlError(
                "2BP01",
                f"cannot drop type {name} because other objects depend on it",
                detail=f"column {column.name} of table {table.name} depends on type {name}",
                hint="Use DROP ... CASCADE to drop the dependent objects too.",
            )
        dropped.append(domain)
    return BoundDropDomains(tuple(dropped), tuple(notices))
