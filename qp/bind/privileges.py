"""Privilege checks of a statement, made once when it is bound (PostgreSQL's ExecCheckPermissions).

While binding, every table and view a statement names is noted with the
privilege it needs (SELECT, unless it is the statement's target) and the role
that needs it: the current user, or inside a view the view's owner (a view
reads its tables with its owner's rights, as in PostgreSQL). After binding,
`check_statement` adds what the statement does to its target (INSERT, UPDATE,
DELETE, TRUNCATE; SELECT too when it reads the target's rows: a WHERE,
RETURNING, ON CONFLICT) and raises PostgreSQL's 42501 for the first privilege
missing.

A prepared statement keeps its plan only for the catalog version and the role
it was checked for (qp/frontend/prepare.py), so a GRANT, a REVOKE (both bump the
catalog version) or a SET ROLE makes it bound and checked again. The checks
themselves are cached per snapshot and role (qp/catalog/privcheck.py).
Sequence functions check at run time, since their argument may be computed.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from qp.catalog.privcheck import (
    has_privilege,
    is_superuser,
    object_privs,
    require,
    require_schema_usage,
    role_oid,
    schema_oid,
)
from qp.catalog.stored import CatalogSnapshot
from qp.errors import SqlError

_NEEDS = "privilege_needs"
_SCHEMAS = "privilege_schemas"
_ACTING = "privilege_role"


def note_read(
    bc: Any, oid: int, kind: str, name: str, schema: str = "public", qualified: bool = False
) -> None:
    """A relation the statement reads (SELECT), as whoever reads it now, and the schema
    it was found in (USAGE)."""
    acting = getattr(bc, _ACTING, None)
    bc.__dict__.setdefault(_NEEDS, []).append((oid, kind, name, "r", acting))
    bc.__dict__.setdefault(_SCHEMAS, []).append((schema, name, qualified, acting))


def note_execute(bc: Any, oid: int, name: str) -> None:
    """A user function the statement calls: EXECUTE on it (PUBLIC has it by default)."""
    bc.__dict__.setdefault(_NEEDS, []).append((oid, "function", name, "X", getattr(bc, _ACTING, None)))


def note_schema_usage(bc: Any, schema: str, name: str) -> None:
    """A schema a qualified name names (a function's): USAGE on it, 42501 without."""
    bc.__dict__.setdefault(_SCHEMAS, []).append((schema, name, True, getattr(bc, _ACTING, None)))


def schema_usable(bc: Any, schema: str) -> bool:
    """Whether whoever binds now (the current user, or a view's owner) has USAGE on `schema`:
    an unqualified name is not looked for in a schema without it (PostgreSQL leaves such
    schemas out of the effective search path)."""
    if schema in ("pg_catalog", "information_schema"):
        return True
    catalog = bc.catalog
    acting = getattr(bc, _ACTING, None)
    role = role_oid(catalog, bc.eval_ctx.user) if acting is None else acting
    if is_superuser(catalog, role):
        return True
    return has_privilege(catalog, role, object_privs(catalog, schema_oid(catalog, schema), "schema"), "U")


def forget_target_read(bc: Any, table: Any) -> None:
    """A DML target was noted as read when its name was bound; what it needs is decided
    by `check_statement` from what the statement does (its schema's USAGE stays)."""
    needs = bc.__dict__.get(_NEEDS, [])
    if table is not None and needs and needs[-1][0] == table.oid:
        needs.pop()


@contextmanager
def as_owner_of_view(bc: Any, view_oid: int):
    """While a view's query is bound, its relations are read with its owner's rights."""
    saved = getattr(bc, _ACTING, None)
    setattr(bc, _ACTING, object_privs(bc.catalog, view_oid, "view").owner)
    try:
        yield
    finally:
        setattr(bc, _ACTING, saved)


_TARGET_LETTER = {"insert": "a", "update": "w", "delete": "d"}


def check_statement(bc: Any, kind: str, body: dict, target: Any = None) -> None:
    """42501 unless the current user (and each view's owner) holds what the statement needs."""
    catalog: CatalogSnapshot = bc.catalog
    role = role_oid(catalog, bc.eval_ctx.user)
    needs = list(bc.__dict__.get(_NEEDS, ()))
    if target is not None:
        letter = _TARGET_LETTER[kind]
        needs.insert(0, (target.oid, "table", target.name, letter, None))
        if _reads_target(kind, body):
            needs.append((target.oid, "table", target.name, "r", None))
        conflict = body.get("onConflictClause")
        if conflict is not None and conflict.get("action") == "ONCONFLICT_UPDATE":
            needs.append((target.oid, "table", target.name, "w", None))
    if kind == "query" and body.get("lockingClause"):
        needs += _locked(catalog, body)
    for schema, name, qualified, acting in bc.__dict__.get(_SCHEMAS, ()):
        require_schema_usage(catalog, role if acting is None else acting, schema, name, qualified)
    for oid, obj_kind, name, letters, acting in needs:
        who = role if acting is None else acting
        if is_superuser(catalog, who):
            continue
        require(catalog, who, object_privs(catalog, oid, obj_kind), letters, name)


def _locked(catalog: CatalogSnapshot, body: dict) -> list[tuple]:
    """SELECT ... FOR UPDATE/SHARE needs UPDATE on each table of its FROM that it locks
    (all, or those FOR ... OF names), not on those of its subqueries."""
    named: set[str] = set()
    every = False
    for clause in body.get("lockingClause", ()):
        rels = clause.get("LockingClause", {}).get("lockedRels") or []
        if not rels:
            every = True
        named |= {r.get("RangeVar", {}).get("relname", "") for r in rels}
    out = []
    for rv in _from_tables(body.get("fromClause") or []):
        alias = (rv.get("alias") or {}).get("aliasname") or rv["relname"]
        if not every and alias not in named:
            continue
        table = catalog.find_table(rv["relname"], rv.get("schemaname"))
        if table is not None:
            out.append((table.oid, "table", table.name, "w", None))
    return out


def _from_tables(items: list) -> list[dict]:
    out = []
    for item in items:
        if "RangeVar" in item:
            out.append(item["RangeVar"])
        elif "JoinExpr" in item:
            out += _from_tables([item["JoinExpr"].get("larg", {}), item["JoinExpr"].get("rarg", {})])
    return out


def _reads_target(kind: str, body: dict) -> bool:
    """Whether the statement reads a column of its target, which needs SELECT (PostgreSQL
    checks per column: `UPDATE t SET b = 'x' WHERE true` needs none, `SET b = b` does).
    Any column reference counts, a conservative reading when FROM names other tables."""
    if _references_columns(body.get("returningList")):
        return True
    if kind == "insert":
        conflict = body.get("onConflictClause")
        if conflict is None:
            return False
        return bool(conflict.get("infer")) or _references_columns(
            [conflict.get("targetList"), conflict.get("whereClause")], skip="excluded"
        )
    targets = body.get("targetList") if kind == "update" else None
    return _references_columns([body.get("whereClause"), targets])


def _references_columns(node: Any, skip: str | None = None) -> bool:
    """Whether a parse tree holds a column reference (other than `skip.column`)."""
    if isinstance(node, dict):
        ref = node.get("ColumnRef")
        if ref is not None:
            fields = ref.get("fields", ())
            first = fields[0].get("String", {}).get("sval") if fields else None
            if not (skip is not None and len(fields) == 2 and first == skip):
                return True
        return any(_references_columns(v, skip) for v in node.values())
    if isinstance(node, list):
        return any(_references_columns(v, skip) for v in node)
    return False


def check_truncate(catalog: CatalogSnapshot, user: str, tables: list, cascade: bool = False) -> None:
    """TRUNCATE needs its privilege on every table it empties (with CASCADE, those that
    reference them too)."""
    role = role_oid(catalog, user)
    if is_superuser(catalog, role):
        return
    todo, seen = list(tables), set()
    while todo:
        table = todo.pop(0)
        if table.oid in seen:
            continue
        seen.add(table.oid)
        require(catalog, role, object_privs(catalog, table.oid, "table"), "D", table.name)
        if cascade:
            todo += [child for child, _ in catalog.referencing.get(table.oid, ())]


# What each sequence function needs: nextval USAGE or UPDATE, currval SELECT or
# USAGE, setval UPDATE (PostgreSQL's).
_SEQUENCE_LETTERS = {"nextval": "Uw", "currval": "rU", "lastval": "rU", "setval": "w"}


def check_sequence(catalog: CatalogSnapshot, user: str, oid: int, function: str) -> None:
    role = role_oid(catalog, user)
    if is_superuser(catalog, role):
        return
    sequence = catalog.sequences_by_oid.get(oid)
    if sequence is None:
        raise SqlError("42P01", f"could not open relation with OID {oid}")
    require(catalog, role, object_privs(catalog, oid, "sequence"), _SEQUENCE_LETTERS[function], sequence.name)
