"""Domains where values meet them: a cast to a domain, and a column of a domain type.

A domain's value is a value of its base type, so binding a cast to a domain
casts to the base type and then checks the domain's constraints (NOT NULL and
its CHECKs, each VALUE being the value) in a call of its own, `domain_in`.
Writers check the columns of a domain type the same way (qp/exec/dml.py), so a
value is refused with PostgreSQL's errors wherever it would become the domain's.
"""

from __future__ import annotations

import json
from typing import Any

from qp.bind import expr as E
from qp.bind.context import BindContext, QueryLevel
from qp.bind.scope import RangeItem, Scope, ScopeColumn
from qp.catalog.stored import DomainDef
from qp.errors import SqlError
from qp.exec.compile import ExecFrame, Layout, compile_scalar
from qp.parse.parser import string_list
from qp.pgcatalog.search_path import binding_path, first_schema


def domain_named(bc: BindContext, type_name: dict) -> DomainDef | None:
    """The domain a type name names, if it names one."""
    if type_name.get("arrayBounds") or not bc.catalog.domains:
        return None
    names = string_list(type_name.get("names"))
    if len(names) == 1:
        domains = bc.catalog.domains
        schema = first_schema(binding_path(bc), lambda s: (s, names[0]) in domains)
        return domains.get((schema, names[0])) if schema is not None else None
    if len(names) == 2 and names[0] != "pg_catalog":
        return bc.catalog.domains.get((names[0], names[1]))
    return None


def domain_in(binder_type: Any, bc: BindContext, domain: DomainDef, value: E.Expr) -> E.Expr:
    """`value` (of the domain's base type) checked against the domain's constraints.

    `binder_type` is the ExprBinder class (passed in: the binder imports this module)."""
    cid = bc.new_cid("value")
    scope = Scope(
        items=[RangeItem(domain.name, [ScopeColumn("value", E.ColumnRef(cid, domain.base_type, "value"))])]
    )
    layout = Layout([cid])
    checks = []
    for check in domain.checks:
        binder = binder_type(bc, scope, QueryLevel(what="check constraints"))
        checks.append((check.name, compile_scalar(binder.bind_bool(json.loads(check.sql), "CHECK"), layout)))

    def check_value(ctx: Any, v: Any) -> Any:
        if v is None:
            if domain.not_null:
                raise SqlError("23502", f"domain {domain.name} does not allow null values",
                               schema_name=domain.schema, datatype_name=domain.name)  # fmt: skip
            return None
        if checks:
            frame = ExecFrame(ctx=ctx)
            for name, fn in checks:
                if fn((v,), frame) is False:
                    raise SqlError("23514", f'value for domain {domain.name} violates check constraint "{name}"',
                                   schema_name=domain.schema, datatype_name=domain.name,
                                   constraint_name=name)  # fmt: skip
        return v

    return E.Call("domain_in", check_value, (value,), domain.base_type, strict=False, needs_context=True)
