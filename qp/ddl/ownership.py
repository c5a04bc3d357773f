"""Owners after every DDL statement: who owns a new object.

Two hooks run around each DDL statement (qp/ddl/dispatch.py):

- `check_ownership` before it (qp/bind/ddl/ownership.py): who may change an object;
- `after_ddl` after it: each object the statement created gets its owner (the
  current user) and the ACL default privileges give it, creating in a schema
  needs CREATE on it, a new foreign key needs REFERENCES on the table it
  references, a new column of a domain type USAGE on the domain, and a dropped
  object's record goes with it.

`after_ddl` looks at what the statement wrote, not at which statement it is
(it reads the descriptors in the transaction's write buffer), so new
kinds of objects (schemas, functions) are covered once their descriptor kind is
in `_OWNED_KINDS`. The records and the ACL algebra are qp/catalog/acl.py's; who
may do what is qp/catalog/privcheck.py's.
"""

from __future__ import annotations

from qp.catalog.acl import (
    DEFAULT_ACL_LETTER_OF_KIND,
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
    role_oid,
    schema_oid,
)
from qp.catalog.stored import RELATION_PREFIX, CatalogSnapshot, relation_key

_DESCRIPTOR_KEY_BYTES = len(RELATION_PREFIX) + 4
# Descriptor kinds that are owned objects (a record's "kind" -> ACL kind).
_OWNED_KINDS = {"table": "table", "view": "view", "sequence": "sequence", "domain": "domain", "schema": "schema",
                "function": "function"}  # fmt: skip


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
