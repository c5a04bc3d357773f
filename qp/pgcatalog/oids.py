"""The fixed object ids of the system catalogs, and how derived objects get theirs.

Built-in objects keep PostgreSQL's own oids (from `initdb` of PostgreSQL 15/16),
because clients hard-code many of them: namespaces 11 (pg_catalog) and 2200
(public), role 10 (the bootstrap superuser), database 5 (postgres), access
methods 2 (heap) and 403 (btree), collation 100 (default), tablespace 1663,
the relation oids of the catalogs themselves (`'pg_class'::regclass` is 1259).

User tables and indexes take their oids from dsql's catalog (`TableDef.oid`,
`IndexDef.oid`, allocated from 16384 up as in PostgreSQL). dsql's catalog does
not allocate oids for the objects PostgreSQL keeps in separate catalogs
(constraints, column defaults), so those get an oid derived from what they
belong to: a hash of (table oid, name) placed in a range no allocated oid
reaches (see `derived_oid`), unique within one catalog snapshot and the same
in every snapshot and every process as long as the object exists.
"""

from __future__ import annotations

import zlib

# -- namespaces ------------------------------------------------------------------------------------

PG_CATALOG_NAMESPACE = 11
PG_TOAST_NAMESPACE = 99
PUBLIC_NAMESPACE = 2200
INFORMATION_SCHEMA_NAMESPACE = 13207

NAMESPACE_OIDS = {
    "pg_catalog": PG_CATALOG_NAMESPACE,
    "pg_toast": PG_TOAST_NAMESPACE,
    "public": PUBLIC_NAMESPACE,
    "information_schema": INFORMATION_SCHEMA_NAMESPACE,
}
NAMESPACE_NAMES = {oid: name for name, oid in NAMESPACE_OIDS.items()}

# -- roles, database, tablespaces ------------------------------------------------------------------

# The bootstrap superuser, `admin` (qp/bind/ddl/roles.py), the owner of everything. A
# trust-mode session whose user name is no role acts as it and sees it under
# its own name, so `\du`, `\dt`'s Owner and pg_get_userbyid agree with it.
BOOTSTRAP_SUPERUSER = 10
PG_DATABASE_OWNER = 6171

# PostgreSQL's predefined roles (PG 16), shown by pg_roles as in PostgreSQL.
PREDEFINED_ROLES = (
    (3373, "pg_monitor"),
    (3374, "pg_read_all_settings"),
    (3375, "pg_read_all_stats"),
    (3377, "pg_stat_scan_tables"),
    (4200, "pg_signal_backend"),
    (4544, "pg_checkpoint"),
    (4550, "pg_use_reserved_connections"),
    (4569, "pg_read_server_files"),
    (4570, "pg_write_server_files"),
    (4571, "pg_execute_server_program"),
    (6171, "pg_database_owner"),
    (6181, "pg_read_all_data"),
    (6182, "pg_write_all_data"),
    (6304, "pg_create_subscription"),
)
# pg_monitor's members, as initdb sets them up.
PREDEFINED_MEMBERSHIPS = ((3374, 3373), (3375, 3373), (3377, 3373))

DATABASE_OID = 5
DATABASE_NAME = "postgres"
ENCODING_UTF8 = 6

DEFAULT_TABLESPACE = 1663
GLOBAL_TABLESPACE = 1664

# -- access methods, collations, languages ---------------------------------------------------------

HEAP_AM = 2
BTREE_AM = 403
ACCESS_METHODS = (
    (HEAP_AM, "heap", "t"),
    (BTREE_AM, "btree", "i"),
    (405, "hash", "i"),
    (783, "gist", "i"),
    (2742, "gin", "i"),
    (4000, "spgist", "i"),
    (3580, "brin", "i"),
)

DEFAULT_COLLATION = 100
C_COLLATION = 950
POSIX_COLLATION = 951
# (oid, name, provider, encoding, collate, ctype)
COLLATIONS = (
    (DEFAULT_COLLATION, "default", "d", -1, None, None),
    (C_COLLATION, "C", "c", -1, "C", "C"),
    (POSIX_COLLATION, "POSIX", "c", -1, "POSIX", "POSIX"),
    (12340, "ucs_basic", "c", ENCODING_UTF8, "C", "C"),
    (12341, "C.utf8", "c", ENCODING_UTF8, "C.utf8", "C.utf8"),
)

INTERNAL_LANGUAGE = 12
C_LANGUAGE = 13
SQL_LANGUAGE = 14
PLPGSQL_LANGUAGE = 13563
PLPGSQL_EXTENSION = 13559

# -- derived oids ----------------------------------------------------------------------------------

# Oids for objects dsql's catalog does not number (constraints, defaults):
# [2**30, 2**31) is far above anything the catalog's counter will allocate and
# still a positive int4, so `oid::int4` and comparisons behave.
DERIVED_OID_BASE = 1 << 30
DERIVED_OID_SPAN = 1 << 30


def derived_oid(kind: str, owner_oid: int, name: str, taken: set[int]) -> int:
    """A stable oid for a `kind` object named `name` belonging to `owner_oid`.

    `taken` holds the oids already handed out in this snapshot; a collision
    (rare: a 2**30 range) moves to the next free value, which keeps the
    assignment deterministic for a given catalog.
    """
    key = f"{kind}/{owner_oid}/{name}".encode()
    oid = DERIVED_OID_BASE + zlib.crc32(key) % DERIVED_OID_SPAN
    while oid in taken:
        oid = DERIVED_OID_BASE + (oid - DERIVED_OID_BASE + 1) % DERIVED_OID_SPAN
    taken.add(oid)
    return oid
