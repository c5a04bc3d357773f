"""DDL on temporary objects: which statements are, and how they run (see qp/txn/temp_store.py).

A DDL statement works on temporary objects when it creates one (`CREATE TEMP ...`, a
view over a temporary relation) or names one (ALTER, DROP, CREATE INDEX ON, COMMENT
ON...). Such a statement runs through the same DDL code as any other, with the
transaction in `temp_mode`: the catalog version and oid counter it reads and bumps are
the session's own, so no other session sees a catalog change. It does not count as the
transaction's one DDL statement either: it touches nothing another session can see, so
DSQL's rules (one DDL per transaction, no DDL with DML) have nothing to protect there.

Online steps (an index built over existing rows, a constraint validated) run in the
statement's own transaction (`SameTransaction`): nobody else can write a temporary table
while they run, so there is nothing to wait for.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from qp.bind.ddl.names import relation_name_taken
from qp.catalog.stored import CatalogSnapshot
from qp.catalog.temp_keys import is_temp_oid
from qp.catalog.temp_overlay import hidden_by_temp, hides_permanent
from qp.errors import SqlError
from qp.parse.parser import Statement, string_list

# pg_temp, and the pg_temp_N PostgreSQL names a session's temporary schema.
_TEMP_SCHEMA = re.compile(r"pg_temp(_\d+)?")
# Where a statement names the relation it creates: `pg_temp.x` there makes it temporary.
_CREATED = {"CreateStmt": "relation", "ViewStmt": "view", "CreateSeqStmt": "sequence"}

# ON COMMIT's parse-tree values, and what the session keeps of them.
ON_COMMIT_ACTIONS = {"ONCOMMIT_DELETE_ROWS": "delete", "ONCOMMIT_DROP": "drop"}


def _relation_is_temp(catalog: CatalogSnapshot, names: list[str]) -> bool | None:
    """Whether `[schema.]name` names a temporary relation (or index) of the session
    (None: it names nothing, which the statement itself reports)."""
    if not names:
        return None
    name = names[-1]
    schema = names[-2] if len(names) > 1 else None
    if schema is not None and schema.startswith("pg_temp"):
        return True
    if schema not in (None, "public"):
        return False
    found = next((f for f in (catalog.find_table(name), catalog.find_view(name), catalog.find_sequence(name))
                  if f is not None), None)  # fmt: skip
    if found is None:
        index = catalog.indexes_by_name.get(("public", name))
        found = index[0] if index is not None else None
    if found is None:
        return None
    if schema is not None and is_temp_oid(found.oid) and hides_permanent(catalog, schema, name):
        raise hidden_by_temp(schema, name)
    return is_temp_oid(found.oid)


def name_taken(catalog: CatalogSnapshot, name: str, schema: str, txn: Any) -> bool:
    """Whether CREATE of `name` collides, in the transaction's temp mode (qp/bind/ddl/names.py)."""
    return relation_name_taken(catalog, name, schema, txn.temp_mode)


def _range_var_names(relation: dict | None) -> list[str]:
    if not relation:
        return []
    return [n for n in (relation.get("schemaname"), relation["relname"]) if n]


def targets_temp(statement: Statement, catalog: CatalogSnapshot) -> bool:
    """Whether a DDL statement creates or names temporary objects (and only those)."""
    kind, body = statement.kind, statement.body
    if kind == "CreateStmt":
        return body["relation"].get("relpersistence") == "t"
    if kind == "CreateTableAsStmt":
        return body["into"]["rel"].get("relpersistence") == "t"
    if kind == "SelectStmt":  # SELECT ... INTO
        return body["intoClause"]["rel"].get("relpersistence") == "t"
    if kind == "ViewStmt":
        return body["view"].get("relpersistence") == "t"
    if kind == "CreateSeqStmt":
        return body["sequence"].get("relpersistence") == "t"
    if kind in ("IndexStmt", "AlterTableStmt", "RenameStmt", "TruncateStmt"):
        if kind == "TruncateStmt":
            relations = [_range_var_names(r.get("RangeVar")) for r in body.get("relations", ())]
        else:
            relations = [_range_var_names(body.get("relation"))]
        return _all_temp(catalog, relations)
    if kind == "AlterSeqStmt":
        return bool(_relation_is_temp(catalog, _range_var_names(body.get("sequence"))))
    if kind == "DropStmt" and body.get("removeType") in (
        "OBJECT_TABLE", "OBJECT_INDEX", "OBJECT_VIEW", "OBJECT_SEQUENCE",
    ):  # fmt: skip
        objects = body.get("objects", ())
        return _all_temp(catalog, [string_list(o["List"]["items"]) if "List" in o else string_list([o])
                                   for o in objects])  # fmt: skip
    if kind == "CommentStmt" and body.get("objtype") in ("OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_SEQUENCE",
                                                           "OBJECT_INDEX", "OBJECT_COLUMN"):  # fmt: skip
        names = string_list(body["object"]["List"]["items"]) if "List" in body.get("object", {}) else []
        if body.get("objtype") == "OBJECT_COLUMN":
            names = names[:-1]
        return bool(_relation_is_temp(catalog, names))
    return False


def writes_only_temp(statement: Statement, catalog: CatalogSnapshot) -> bool:
    """Whether an INSERT, UPDATE or DELETE writes a temporary table only: PostgreSQL lets
    a read-only transaction do that (nothing another session can see changes)."""
    body = statement.body
    if statement.kind not in ("InsertStmt", "UpdateStmt", "DeleteStmt") or body.get("withClause"):
        return False
    return bool(_relation_is_temp(catalog, _range_var_names(body.get("relation"))))


def _all_temp(catalog: CatalogSnapshot, relations: list[list[str]]) -> bool:
    found = [_relation_is_temp(catalog, names) for names in relations]
    temp = [t for t in found if t is not None]
    if any(temp) and not all(temp):
        raise SqlError("0A000", "a statement cannot name both temporary and permanent relations")
    return bool(temp) and all(temp)


def without_pg_temp(statements: list[Statement]) -> list[Statement]:
    """The statements with `pg_temp.` (or `pg_temp_N.`) taken off the names they use, and
    what they create in it made temporary, as PostgreSQL does: a session's temporary
    objects are looked up first, so the bare name finds them (parse trees are shared by
    every session through the parser's cache, so this copies what it changes)."""
    return [_unqualified(s) for s in statements]


def _unqualified(statement: Statement) -> Statement:
    if statement.kind == "CreateFunctionStmt":
        return statement  # CREATE FUNCTION pg_temp.f would be temporary: binding refuses it
    node = _strip(statement.node)
    if node is statement.node:
        return statement
    before, after = (
        _created(statement.kind, statement.body),
        _created(statement.kind, next(iter(node.values()))),
    )
    if before is not None and after is not None and before is not after:  # CREATE ... pg_temp.x
        after["relpersistence"] = "t"
    return replace(statement, node=node)


def _created(kind: str, body: dict) -> dict | None:
    """The RangeVar of the relation a statement creates, if it creates one."""
    if kind in _CREATED:
        return body.get(_CREATED[kind])
    if kind == "CreateTableAsStmt":
        return body["into"]["rel"]
    if kind == "SelectStmt" and body.get("intoClause"):
        return body["intoClause"]["rel"]
    return None


def _strip(node: Any) -> Any:
    """`node` with pg_temp qualifiers removed (the same object when it has none)."""
    if isinstance(node, dict):
        schema = node.get("schemaname")
        changed = {key: _strip(value) for key, value in node.items()}
        if "relname" in node and isinstance(schema, str) and _TEMP_SCHEMA.fullmatch(schema):
            del changed["schemaname"]
            return changed
        return changed if any(changed[k] is not node[k] for k in node) else node
    if isinstance(node, list):
        changed_list = [_strip(item) for item in node]
        if (len(node) >= 2 and all(isinstance(i, dict) and "String" in i for i in node)
                and _TEMP_SCHEMA.fullmatch(node[0]["String"].get("sval", ""))):  # fmt: skip
            return changed_list[1:]  # a qualified name as a list: DROP TABLE pg_temp.t
        return changed_list if any(a is not b for a, b in zip(changed_list, node, strict=True)) else node
    return node


def on_commit_action(statement: Statement) -> str | None:
    """ON COMMIT DELETE ROWS / DROP of a CREATE TEMP TABLE (None: PRESERVE ROWS, the default)."""
    body = statement.body
    if statement.kind == "CreateStmt":
        value = body.get("oncommit")
    elif statement.kind == "CreateTableAsStmt":
        value = body["into"].get("onCommit")
    elif statement.kind == "SelectStmt":
        value = body["intoClause"].get("onCommit")
    else:
        return None
    return ON_COMMIT_ACTIONS.get(value or "")


class SameTransaction:
    """Stands for the transaction service while online steps of a temporary table's DDL
    run: every step runs in the statement's own transaction, nothing is committed."""

    def __init__(self, txn: Any, load_catalog: Callable[[Any], Awaitable[CatalogSnapshot]]) -> None:
        self.txn = txn
        self.load_catalog = load_catalog

    async def run(
        self, body: Callable[[Any], Awaitable[Any]], *, with_catalog: bool = False, **_: Any
    ) -> Any:
        txn = self.txn
        if with_catalog:
            txn.catalog = await self.load_catalog(txn)
        txn.temp_mode = True  # a step that publishes bumps the session's catalog version only
        try:
            return await body(txn)
        finally:
            txn.temp_mode = False
