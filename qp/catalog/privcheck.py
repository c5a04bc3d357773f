"""Who may do what to an object, read from one catalog snapshot (PostgreSQL's aclchk.c).

The rules, as PostgreSQL 16 has them:

- a superuser may do everything;
- a role holds the privileges its object ACLs give it, PUBLIC, and every role
  it inherits from (memberships with INHERIT);
- ownership (ALTER, DROP, COMMENT ON, GRANT as the owner) belongs to the owner
  and to the roles that hold its privileges.

Objects are named by (oid, kind) through `object_privs`, so a new kind of
object (functions) needs only its ObjectPrivs records. Results are cached per
snapshot and role, because every statement asks (the snapshot never changes,
so the cache can never be stale; a GRANT makes a new snapshot).
"""

from __future__ import annotations

from qp.catalog.acl import KIND_ALL, KIND_WORD, PUBLIC_OID, AclItem, ObjectPrivs, privileges_held
from qp.catalog.stored import BOOTSTRAP_SUPERUSER, BOOTSTRAP_SUPERUSER_OID, CatalogSnapshot, RoleDef
from qp.errors import SqlError

# PostgreSQL's fixed oids (as qp/pgcatalog/oids.py has them; not imported, since
# qp/pgcatalog reads this module): the public schema and its owner since 15.
PUBLIC_NAMESPACE = 2200
PG_DATABASE_OWNER = 6171
SCHEMA_OIDS = {"public": PUBLIC_NAMESPACE, "pg_catalog": 11, "information_schema": 13000}
_CACHE_KEY = "privileges"


def role_named(catalog: CatalogSnapshot, name: str) -> RoleDef | None:
    if name == BOOTSTRAP_SUPERUSER:
        for role in catalog.roles.values():
            if role.oid == BOOTSTRAP_SUPERUSER_OID:
                return role
        return RoleDef(BOOTSTRAP_SUPERUSER_OID, BOOTSTRAP_SUPERUSER, login=True, superuser=True)
    if name == "pg_database_owner":  # the predefined role that owns public (whoever owns the database)
        return RoleDef(PG_DATABASE_OWNER, name)
    return catalog.roles.get(name)


def role_oid(catalog: CatalogSnapshot, name: str) -> int:
    """The oid a session user acts as: its role's, or under trust authentication
    (a user name that is no role) the bootstrap superuser's."""
    role = role_named(catalog, name)
    return role.oid if role is not None else BOOTSTRAP_SUPERUSER_OID


def role_name_of(catalog: CatalogSnapshot, oid: int) -> str:
    if oid == BOOTSTRAP_SUPERUSER_OID:
        return BOOTSTRAP_SUPERUSER
    for role in catalog.roles.values():
        if role.oid == oid:
            return role.name
    if oid == PG_DATABASE_OWNER:
        return "pg_database_owner"
    return str(oid)


def _cache(catalog: CatalogSnapshot) -> dict:
    return catalog.derived.setdefault(_CACHE_KEY, {})


def is_superuser(catalog: CatalogSnapshot, role: int) -> bool:
    if role == BOOTSTRAP_SUPERUSER_OID:
        return True
    key = ("super", role)
    cache = _cache(catalog)
    if key not in cache:
        cache[key] = any(r.oid == role and r.superuser for r in catalog.roles.values())
    return cache[key]


def roles_of(catalog: CatalogSnapshot, role: int) -> frozenset[int]:
    """The roles whose privileges `role` holds: itself, its inherited roles, and
    pg_database_owner for the bootstrap role (the database's owner)."""
    key = ("roles", role)
    cache = _cache(catalog)
    if key not in cache:
        held = set(catalog.privileges.inherited_roles(role))
        if BOOTSTRAP_SUPERUSER_OID in held:
            held.add(PG_DATABASE_OWNER)
        cache[key] = frozenset(held)
    return cache[key]


def object_privs(catalog: CatalogSnapshot, oid: int, kind: str) -> ObjectPrivs:
    """An object's owner and ACL; objects without a record belong to admin
    (and the public schema to pg_database_owner, with PostgreSQL 15's ACL)."""
    found = catalog.privileges.objects.get(oid)
    if found is not None:
        return found
    if kind == "schema" and oid == PUBLIC_NAMESPACE:
        return PUBLIC_SCHEMA_DEFAULT
    return catalog.privileges.of(oid, kind, BOOTSTRAP_SUPERUSER_OID)


PUBLIC_SCHEMA_DEFAULT = ObjectPrivs(
    PUBLIC_NAMESPACE, "schema", PG_DATABASE_OWNER,
    (AclItem(PG_DATABASE_OWNER, PG_DATABASE_OWNER, "UC"), AclItem(PUBLIC_OID, PG_DATABASE_OWNER, "U")),
)  # fmt: skip


def held(catalog: CatalogSnapshot, role: int, privs: ObjectPrivs) -> tuple[set[str], set[str]]:
    """The privileges and grant options `role` holds on the object (all of them for a
    superuser; the owner always holds every grant option, as in PostgreSQL)."""
    if is_superuser(catalog, role):
        every = set(KIND_ALL[privs.kind])
        return every, every
    roles = roles_of(catalog, role)
    have, options = privileges_held(privs.effective_acl, roles)
    if privs.owner in roles:
        options |= set(KIND_ALL[privs.kind])
    return have, options


def has_privilege(catalog: CatalogSnapshot, role: int, privs: ObjectPrivs, letters: str) -> bool:
    """Whether `role` holds any of `letters` on the object."""
    if is_superuser(catalog, role):
        return True
    key = ("has", role, privs.oid, letters)
    cache = _cache(catalog)
    if key not in cache:
        have, _ = held(catalog, role, privs)
        cache[key] = bool(have & set(letters))
    return cache[key]


def require(catalog: CatalogSnapshot, role: int, privs: ObjectPrivs, letters: str, name: str) -> None:
    """42501 `permission denied for table t` unless `role` holds one of `letters`."""
    if not has_privilege(catalog, role, privs, letters):
        raise SqlError("42501", f"permission denied for {KIND_WORD[privs.kind]} {name}")


def is_owner(catalog: CatalogSnapshot, role: int, privs: ObjectPrivs) -> bool:
    return is_superuser(catalog, role) or privs.owner in roles_of(catalog, role)


def require_owner(
    catalog: CatalogSnapshot, role: int, privs: ObjectPrivs, name: str, word: str | None = None
) -> None:
    if not is_owner(catalog, role, privs):
        raise SqlError("42501", f"must be owner of {word or KIND_WORD[privs.kind]} {name}")


def schema_oid(catalog: CatalogSnapshot, name: str) -> int:
    """A schema's oid (3F000 if there is none): a fixed one, or one CREATE SCHEMA made
    (a catalog with `schemas`, name -> descriptor with an `oid`)."""
    if name in SCHEMA_OIDS:
        return SCHEMA_OIDS[name]
    made = getattr(catalog, "schemas", {}).get(name)
    if made is not None:
        return made.oid
    raise SqlError("3F000", f'schema "{name}" does not exist')


def require_schema_usage(
    catalog: CatalogSnapshot, role: int, schema: str, relation: str, qualified: bool
) -> None:
    """USAGE on the schema of a relation a statement names: without it, a qualified name is
    42501 and an unqualified one is not found at all (the search path skips the schema)."""
    if schema in ("pg_catalog", "information_schema") or is_superuser(catalog, role):
        return
    if has_privilege(catalog, role, object_privs(catalog, schema_oid(catalog, schema), "schema"), "U"):
        return
    if qualified:
        raise SqlError("42501", f"permission denied for schema {schema}")
    raise SqlError("42P01", f'relation "{relation}" does not exist')
