"""Who may change an object: the owner checks run before every DDL statement, and how a
statement's names find the relation (and the ACL) it is about.

`check_ownership` runs before a DDL statement is bound (qp/ddl/dispatch.py): ALTER,
DROP, COMMENT ON, CREATE INDEX and the like need the object's owner (42501 `must be
owner of table t`), TRUNCATE its privilege, DROP ROLE a role nothing depends on
(2BP01). It looks at what the statement names, not at which statement it is. Who owns
a new object is decided after the statement (qp/ddl/ownership.py's `after_ddl`). The
records and the ACL algebra are qp/catalog/acl.py's; who may do what is
qp/catalog/privcheck.py's.
"""

from __future__ import annotations

from qp.bind.context import BindContext
from qp.bind.ddl.functions import find_function
from qp.bind.ddl.names import search_schema
from qp.bind.privileges import check_truncate
from qp.catalog.acl import KIND_WORD, ObjectPrivs
from qp.catalog.privcheck import (
    PUBLIC_NAMESPACE,
    is_superuser,
    object_privs,
    require_owner,
    role_name_of,
    role_named,
    role_oid,
)
from qp.catalog.stored import CatalogSnapshot
from qp.errors import SqlError
from qp.parse.parser import string_list

# -- naming objects ------------------------------------------------------------------------------------


def find_relation(catalog: CatalogSnapshot, names: list[str], bc: BindContext | None):
    """(oid, kind, name, ACL oid) of the relation `[schema.]name`, or None. An index
    answers with its table's oid for the ACL: an index belongs to its table's owner."""
    name = names[-1]
    schema = search_schema(names[-2] if len(names) > 1 else None, bc)
    if schema is None:
        return None
    key = (schema, name)
    if key in catalog.tables:
        table = catalog.tables[key]
        return table.oid, "table", name, table.oid
    if key in catalog.views:
        return catalog.views[key].oid, "view", name, catalog.views[key].oid
    if key in catalog.sequences:
        return catalog.sequences[key].oid, "sequence", name, catalog.sequences[key].oid
    if key in catalog.indexes_by_name:
        table, index = catalog.indexes_by_name[key]
        return index.oid, "index", name, table.oid
    return None


def relation_privs(catalog: CatalogSnapshot, found) -> ObjectPrivs:
    oid, kind, _, acl_oid = found
    if kind == "index":
        return object_privs(catalog, acl_oid, "table")
    return object_privs(catalog, oid, kind)


def rangevar_names(node: dict) -> list[str]:
    rv = node.get("RangeVar", node)
    return [n for n in (rv.get("schemaname"), rv["relname"]) if n]


# -- ownership checks before a DDL statement -----------------------------------------------------------


_DROP_KINDS = {"OBJECT_TABLE": "table", "OBJECT_VIEW": "view", "OBJECT_SEQUENCE": "sequence",
               "OBJECT_INDEX": "index"}  # fmt: skip


def check_ownership(statement, catalog: CatalogSnapshot, bc: BindContext, user: str) -> None:
    """42501 unless the current user owns what the statement alters, drops or comments on."""
    role = role_oid(catalog, user)
    actor = role_named(catalog, user)
    if statement.kind == "DropRoleStmt" and (actor is None or actor.superuser or actor.createrole):
        check_role_dependents(statement.body, catalog)  # (who may drop roles at all: qp/bind/ddl/roles.py)
    if is_superuser(catalog, role):
        return
    kind, body = statement.kind, statement.body
    targets: list[tuple[list[str], str | None]] = []  # (names, the word of the message if not the object's)
    if kind == "DropStmt" and body.get("removeType") in _DROP_KINDS:
        for item in body.get("objects", ()):
            targets.append((string_list(item["List"]["items"]) if "List" in item else [], None))
    elif kind == "DropStmt" and body.get("removeType") == "OBJECT_DOMAIN":
        for item in body.get("objects", ()):
            names = string_list(item["TypeName"]["names"]) if "TypeName" in item else []
            _check_domain_owner(catalog, role, names, bc)
    elif kind in ("AlterTableStmt", "RenameStmt", "IndexStmt", "AlterSeqStmt") and body.get("relation"):
        word = "table" if kind == "IndexStmt" else None
        targets.append((rangevar_names(body["relation"]), word))
    elif kind == "AlterSeqStmt":
        targets.append((rangevar_names(body["sequence"]), None))
    elif kind == "CommentStmt" and "List" in body.get("object", {}):
        names = string_list(body["object"]["List"]["items"])
        if body.get("objtype") == "OBJECT_COLUMN":
            names = names[:-1]
        targets.append((names, None))
    elif kind == "DropRoleStmt":
        pass  # qp/bind/ddl/roles.py decides who may drop a role; `check_role_dependents` what depends on it
    elif kind == "TruncateStmt":  # TRUNCATE needs its privilege, not ownership
        tables = []
        for relation in body.get("relations", ()):
            found = find_relation(catalog, rangevar_names(relation), bc)
            if found is not None and found[1] == "table":
                tables.append(catalog.by_oid[found[0]])
        check_truncate(catalog, user, tables, body.get("behavior") == "DROP_CASCADE")
    elif _names_function(kind, body):
        for owa in _functions_named(kind, body):
            function = find_function(catalog, owa, "function", missing_ok=True, bc=bc)
            if function is not None:
                require_owner(catalog, role, object_privs(catalog, function.oid, "function"), function.name)
    elif kind == "CreateStatsStmt":
        for relation in body.get("relations", ()):
            if "RangeVar" in relation:
                targets.append((rangevar_names(relation), "table"))
    for names, word in targets:
        if not names:
            continue
        found = find_relation(catalog, names, bc)
        if found is None:
            continue  # the statement itself says it does not exist
        if word is None and found[1] == "index":
            word = "index"
        require_owner(catalog, role, relation_privs(catalog, found), names[-1], word)


_FUNCTION_OBJECTS = ("OBJECT_FUNCTION", "OBJECT_ROUTINE")


def _names_function(kind: str, body: dict) -> bool:
    """DROP / ALTER / COMMENT ON FUNCTION (or ROUTINE), which need the function's owner."""
    if kind == "AlterFunctionStmt":
        return True
    objtype = body.get("removeType") or body.get("renameType") or body.get("objectType") or body.get("objtype")
    return kind in ("DropStmt", "RenameStmt", "AlterObjectSchemaStmt", "CommentStmt") and objtype in _FUNCTION_OBJECTS


def _functions_named(kind: str, body: dict) -> list[dict]:
    if kind == "AlterFunctionStmt":
        return [body["func"]]
    if kind == "DropStmt":
        return [item["ObjectWithArgs"] for item in body.get("objects", ()) if "ObjectWithArgs" in item]
    node = body.get("object", {})
    return [node["ObjectWithArgs"]] if "ObjectWithArgs" in node else []


def _check_domain_owner(catalog: CatalogSnapshot, role: int, names: list[str], bc) -> None:
    if not names:
        return
    domain = catalog.domains.get((search_schema(names[-2] if len(names) > 1 else None, bc), names[-1]))
    if domain is not None:
        require_owner(catalog, role, object_privs(catalog, domain.oid, "domain"), names[-1])


def check_role_dependents(body: dict, catalog: CatalogSnapshot) -> None:
    """2BP01 when a role to drop owns objects or holds privileges (PostgreSQL's shared dependencies)."""
    for node in body.get("roles", ()):
        spec = node["RoleSpec"]
        role = role_named(catalog, spec.get("rolename") or "")
        if role is None:
            continue
        details = []
        for oid, kind, name in _named_objects(catalog):
            privs = object_privs(catalog, oid, kind)
            word = KIND_WORD[kind]
            if privs.owner == role.oid:
                details.append(f"owner of {word} {name}")
            elif any(role.oid in (item.grantee, item.grantor) for item in privs.acl or ()):
                details.append(f"privileges for {word} {name}")
        for entry in catalog.privileges.default_acls:
            if entry.role == role.oid or any(item.grantee == role.oid for item in entry.acl):
                details.append(f"default privileges for role {role_name_of(catalog, entry.role)}")
        if details:
            raise SqlError("2BP01", f'role "{role.name}" cannot be dropped because some objects depend on it',
                           detail="\n".join(details))  # fmt: skip


def _named_objects(catalog: CatalogSnapshot) -> list[tuple[int, str, str]]:
    out = [(t.oid, "table", t.name) for t in catalog.tables.values()]
    out += [(v.oid, "view", v.name) for v in catalog.views.values()]
    out += [(s.oid, "sequence", s.name) for s in catalog.sequences.values()]
    out += [(d.oid, "domain", d.name) for d in catalog.domains.values()]
    out += [(f.oid, "function", f.name) for fs in catalog.functions_by_name.values() for f in fs]
    out.append((PUBLIC_NAMESPACE, "schema", "public"))
    return out
