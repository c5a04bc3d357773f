"""Owners around every DDL statement: who may change an object, and who owns a new one.

Two hooks run around each DDL statement (qp/ddl/dispatch.py):

- `check_ownership` before it: ALTER, DROP, COMMENT ON, CREATE INDEX and the
  like need the object's owner (42501 `must be owner of table t`), TRUNCATE its
  privilege, DROP ROLE a role nothing depends on (2BP01);
- `after_ddl` after it: each object the statement created gets its owner (the
  current user) and the ACL default privileges give it, creating in a schema
  needs CREATE on it, a new foreign key needs REFERENCES on the table it
  references, a new column of a domain type USAGE on the domain, and a dropped
  object's record goes with it.

Both look at what the statement names or wrote, not at which statement it is
(`after_ddl` reads the descriptors in the transaction's write buffer), so new
kinds of objects (schemas, functions) are covered once their descriptor kind is
in `_OWNED_KINDS`. The records and the ACL algebra are qp/catalog/acl.py's; who
may do what is qp/catalog/privcheck.py's.
"""

from __future__ import annotations

from qp.bind.context import BindContext
from qp.bind.ddl.functions import find_function
from qp.bind.ddl.names import search_schema
from qp.bind.privileges import check_truncate
from qp.catalog.acl import (
    DEFAULT_ACL_LETTER_OF_KIND,
    KIND_WORD,
    ObjectPrivs,
    default_acl,
    grant,
    membership_key,
    privs_key,
    sorted_acl,
)
from qp.catalog.privcheck import (
    PUBLIC_NAMESPACE,
    is_superuser,
    object_privs,
    require,
    require_owner,
    role_name_of,
    role_named,
    role_oid,
    schema_oid,
)
from qp.catalog.stored import RELATION_PREFIX, CatalogSnapshot, relation_key
from qp.errors import SqlError
from qp.parse.parser import string_list

_DESCRIPTOR_KEY_BYTES = len(RELATION_PREFIX) + 4
# Descriptor kinds that are owned objects (a record's "kind" -> ACL kind).
_OWNED_KINDS = {"table": "table", "view": "view", "sequence": "sequence", "domain": "domain", "schema": "schema",
                "function": "function"}  # fmt: skip


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
            function = find_function(catalog, owa, "function", missing_ok=True)
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


# -- owners of new objects, after a DDL statement ------------------------------------------------------


def _known_oids(catalog: CatalogSnapshot) -> set[int]:
    known = {t.oid for t in catalog.tables.values()}
    known |= {v.oid for v in catalog.views.values()}
    known |= {s.oid for s in catalog.sequences.values()}
    known |= {d.oid for d in catalog.domains.values()}
    known |= {f.oid for fs in catalog.functions_by_name.values() for f in fs}
    known |= {s.oid for s in getattr(catalog, "schemas", {}).values()}
    return known


def after_ddl(txn, catalog: CatalogSnapshot, user: str) -> None:
    """Give the objects the statement created their owner and ACL; forget dropped ones'."""
    role = role_oid(catalog, user)
    superuser = is_superuser(catalog, role)
    known = _known_oids(catalog)
    for key, record in list(txn.buffer.values.items()):
        if not key.startswith(RELATION_PREFIX) or len(key) != _DESCRIPTOR_KEY_BYTES:
            continue
        oid = int.from_bytes(key[len(RELATION_PREFIX) :], "big")
        if record is None:
            if oid in catalog.privileges.objects:
                txn.put(privs_key(key), None)
            _forget_role(txn, catalog, oid)
            continue
        kind = _OWNED_KINDS.get(record.get("kind"))
        if kind is None:
            continue
        if not superuser and kind == "table":
            _check_references(catalog, role, record)
            _check_domains(catalog, role, record)
        if oid in known:
            continue
        namespace = PUBLIC_NAMESPACE
        if kind != "schema":
            schema = record.get("schema", "public")
            namespace = schema_oid(catalog, schema)
            if not superuser:
                require(catalog, role, object_privs(catalog, namespace, "schema"), "C", schema)
        acl = created_acl(catalog, role, namespace, kind)
        if role != 10 or acl is not None:
            txn.put(privs_key(key), ObjectPrivs(oid, kind, role, acl).to_record())


def _check_domains(catalog: CatalogSnapshot, role: int, record: dict) -> None:
    """A new column of a domain type needs USAGE on the domain ("permission denied for type d")."""
    old = catalog.by_oid.get(record.get("oid"))
    had = {c.name for c in old.columns} if old is not None else set()
    for column in record.get("columns", ()) or ():
        extra = column[-1] if isinstance(column[-1], dict) else {}
        domain = catalog.domains_by_oid.get(extra.get("domain_oid"))
        if domain is not None and column[0] not in had:
            require(catalog, role, object_privs(catalog, domain.oid, "domain"), "U", domain.name)


def _check_references(catalog: CatalogSnapshot, role: int, record: dict) -> None:
    """A foreign key needs REFERENCES on the table it references (new ones only)."""
    old = catalog.by_oid.get(record.get("oid"))
    had = {fk.name for fk in old.foreign_keys} if old is not None else set()
    for fk in record.get("foreign_keys", ()) or ():
        name, ref_oid = fk[0], fk[2]
        if name in had or ref_oid == record.get("oid"):
            continue
        ref = catalog.by_oid.get(ref_oid)
        if ref is not None:
            require(catalog, role, object_privs(catalog, ref.oid, "table"), "x", ref.name)


def _forget_role(txn, catalog: CatalogSnapshot, oid: int) -> None:
    """A dropped role's memberships go with it."""
    for m in catalog.privileges.memberships:
        if oid in (m.role, m.member):
            txn.put(membership_key(relation_key(m.role), m.member), None)


def created_acl(catalog: CatalogSnapshot, owner: int, namespace: int, kind: str):
    """The ACL a new object starts with (PostgreSQL's get_user_default_acl): the
    owner's global default privileges merged with its schema's; None when that is
    just the kind's default."""
    letter = DEFAULT_ACL_LETTER_OF_KIND.get(kind)
    entries = catalog.privileges.default_acls
    glob = next((d for d in entries if d.role == owner and d.namespace == 0 and d.objtype == letter), None)
    in_schema = next((d for d in entries if d.role == owner and d.namespace == namespace and d.objtype == letter
                      and kind != "schema"), None)  # fmt: skip
    if glob is None and in_schema is None:
        return None
    acl = glob.acl if glob is not None else default_acl(kind, owner)
    for item in in_schema.acl if in_schema is not None else ():
        acl = grant(acl, item.grantee, item.grantor, item.privileges, False)
        if item.grant_options:
            acl = grant(acl, item.grantee, item.grantor, item.grant_options, True)
    defaults = default_acl("table" if kind == "view" else kind, owner)
    return None if sorted_acl(acl) == sorted_acl(defaults) else acl
