"""pg_catalog and information_schema as clients read them, compared with PostgreSQL.

The same objects are created on the reference PostgreSQL and on dsql; the
catalog queries below (oids replaced by names, since the two servers number
objects differently) must give the same rows. Known, legitimate differences
are spelled out where they apply: the reference is PostgreSQL 15 while dsql
reports 16 (a few catalog columns were added or retyped in 16), and dsql has
no aclitem, xid, inet or domain types (those columns use text[], oid, text and
the domains' base types).
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import psycopg
import psycopg2
import psycopg2.extras
import pytest
from psycopg.types import TypeInfo
from support.pgsession import Session, SqlError

from qp.pgcatalog import REGISTRY

pytestmark = pytest.mark.timeout(180)


def short_prefix() -> str:
    return "pc" + uuid.uuid4().hex[:6]


def on_both(pg_server, dsql_server, statements: list[str]) -> None:
    for server in (pg_server, dsql_server):
        with Session(server.dsn) as session:
            for statement in statements:
                session.execute(statement)


def rows_on_both(pg_server, dsql_server, query: str) -> tuple[list, list]:
    with Session(pg_server.dsn) as pg, Session(dsql_server.dsn) as dsql:
        return pg.query(query), dsql.query(query)


def assert_same(pg_server, dsql_server, query: str) -> list:
    expected, actual = rows_on_both(pg_server, dsql_server, query)
    assert actual == expected, query
    return actual


# -- the relations themselves ---------------------------------------------------------------------

# Columns PostgreSQL 16 added to catalogs that also exist in the reference PostgreSQL 15: name -> (column, after).
PG16_NEW_COLUMNS = {
    "pg_database": [("daticurules", "daticulocale")],
    "pg_collation": [("collicurules", "colliculocale")],
    "pg_auth_members": [("oid", None), ("inherit_option", "admin_option"), ("set_option", "inherit_option")],
    "pg_prepared_statements": [("result_types", "parameter_types")],
    "pg_stat_user_tables": [("last_seq_scan", "seq_scan"), ("last_idx_scan", "idx_scan"),
                            ("n_tup_newpage_upd", "n_tup_hot_upd")],
}
PG16_RETYPED = {("pg_attribute", "attinhcount"): "smallint", ("pg_constraint", "coninhcount"): "smallint"}
# Types dsql does not have, and what the columns use instead.
STAND_INS = {"aclitem[]": "text[]", "xid": "oid", "inet": "text", "anyarray": "text[]",
             "information_schema.sql_identifier": "name", "information_schema.cardinal_number": "integer",
             "information_schema.character_data": "character varying",
             "information_schema.yes_or_no": "character varying",
             "information_schema.time_stamp": "timestamp with time zone"}

COLUMNS_QUERY = ("SELECT a.attname, pg_catalog.format_type(a.atttypid, NULL) FROM pg_catalog.pg_attribute a "
                 "WHERE a.attrelid = '{rel}'::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped "
                 "ORDER BY a.attnum")


def pg16_columns(name: str, columns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out = [(c, STAND_INS.get(t, t)) for c, t in columns]
    out = [(c, PG16_RETYPED.get((name, c), t)) for c, t in out]
    for column, after in PG16_NEW_COLUMNS.get(name, ()):
        position = 0 if after is None else [c for c, _ in out].index(after) + 1
        out.insert(position, (column, "?"))
    return out


def test_every_system_relation_scans_with_postgres_columns(pg_server, dsql_server):
    """Each relation answers SELECT *, and its pg_attribute rows give PostgreSQL's
    column names and types (for the relations the reference has)."""
    with Session(pg_server.dsn) as pg, Session(dsql_server.dsn) as dsql:
        compared = 0
        for (schema, name), relation in sorted(REGISTRY.items()):
            qualified = f"{schema}.{name}"
            dsql.query(f"SELECT * FROM {qualified}")
            actual = [tuple(r) for r in dsql.query(COLUMNS_QUERY.format(rel=qualified))]
            assert [c for c, _ in actual] == [c for c, _ in relation.columns], qualified
            if pg.scalar(f"SELECT to_regclass('{qualified}') IS NOT NULL") != "t":
                continue  # not in PostgreSQL 15 (none so far)
            expected = pg16_columns(name, [tuple(r) for r in pg.query(COLUMNS_QUERY.format(rel=qualified))])
            assert len(actual) == len(expected), qualified
            for (column, t), (expected_column, expected_type) in zip(actual, expected, strict=True):
                assert column == expected_column, qualified
                assert expected_type in ("?", t), f"{qualified}.{column}: {t} (PostgreSQL: {expected_type})"
            compared += 1
        assert compared == len(REGISTRY)


def test_relation_oids_and_bare_names(pg_server, dsql_server):
    """Catalogs keep PostgreSQL's oids; a bare name finds pg_catalog before public."""
    assert_same(pg_server, dsql_server, "SELECT 'pg_class'::regclass::oid, 'pg_catalog.pg_type'::regclass::oid, "
                                        "'pg_namespace'::regclass::oid, 'pg_attribute'::regclass::oid")
    p = short_prefix()
    table = "pg_am"  # a user table named like a catalog: only public.pg_am reaches it
    with Session(pg_server.dsn) as pg:
        assert pg.scalar(f"SELECT to_regclass('public.{table}')") is None
    on_both(pg_server, dsql_server, [f"CREATE TABLE public.{table} (marker text)",
                                     f"INSERT INTO public.{table} VALUES ('{p}')"])
    try:
        assert_same(pg_server, dsql_server, f"SELECT amname FROM {table} ORDER BY 1")
        assert assert_same(pg_server, dsql_server, f"SELECT marker FROM public.{table}") == [(p,)]
        assert_same(pg_server, dsql_server,
                    f"SELECT 'public.{table}'::regclass::text, '{table}'::regclass::text, "
                    f"pg_table_is_visible('public.{table}'::regclass)")
    finally:
        on_both(pg_server, dsql_server, [f"DROP TABLE public.{table}"])


# -- a user schema, seen through every catalog ------------------------------------------------------


def user_schema(p: str) -> list[str]:
    return [
        f"CREATE TABLE {p}_items (id integer PRIMARY KEY, name text NOT NULL DEFAULT 'x', "
        f"price numeric(10,2) CONSTRAINT {p}_price_positive CHECK (price > 0), qty int DEFAULT 1, "
        f"note varchar(20), created timestamptz DEFAULT now(), UNIQUE (name, qty))",
        f"CREATE INDEX {p}_items_price_idx ON {p}_items (price)",
        f"CREATE UNIQUE INDEX {p}_items_note_idx ON {p}_items (note, qty)",
        f"CREATE TABLE {p}_child (id bigint PRIMARY KEY, item_id int REFERENCES {p}_items(id) ON DELETE CASCADE, "
        f"label char(3), amount float8)",
        f"CREATE TABLE {p}_ser (id serial PRIMARY KEY, v text)",
        f"CREATE TABLE {p}_ident (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 65536) PRIMARY KEY, v text)",
        f"CREATE VIEW {p}_v AS SELECT id, name FROM {p}_items WHERE qty > 0",
    ]


@pytest.fixture(scope="module")
def objects(pg_server, dsql_server):
    p = short_prefix()
    on_both(pg_server, dsql_server, user_schema(p))
    with Session(pg_server.dsn) as pg:
        pg.execute(f"ALTER SEQUENCE {p}_ser_id_seq CACHE 65536")  # dsql's serial uses DSQL's cache
    yield p
    on_both(pg_server, dsql_server, [f"DROP VIEW {p}_v", f"DROP TABLE {p}_child", f"DROP TABLE {p}_items",
                                     f"DROP TABLE {p}_ser", f"DROP TABLE {p}_ident"])


def test_pg_class(pg_server, dsql_server, objects):
    p = objects
    rows = assert_same(pg_server, dsql_server, f"""
        SELECT c.relname, c.relkind, n.nspname, am.amname, c.relnatts, c.relchecks, c.relhasindex,
               c.relpersistence, c.relreplident, c.relispartition, c.relhastriggers, c.relhasrules,
               c.relrowsecurity, c.reltablespace, c.reloftype, c.relisshared, pg_get_userbyid(c.relowner),
               pg_table_is_visible(c.oid), c.oid::regclass::text = c.relname
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_am am ON am.oid = c.relam
        WHERE c.relname LIKE '{p}%' ORDER BY c.relname""")
    assert {r[0] for r in rows} >= {f"{p}_items", f"{p}_items_pkey", f"{p}_ser_id_seq", f"{p}_v"}


def test_pg_attribute_and_defaults(pg_server, dsql_server, objects):
    p = objects
    assert_same(pg_server, dsql_server, f"""
        SELECT c.relname, a.attnum, a.attname, a.atttypid::regtype, a.atttypmod, a.attlen, a.attbyval,
               a.attalign, a.attstorage, a.attnotnull, a.atthasdef, a.attidentity, a.attgenerated, a.attndims,
               a.attcollation, a.attisdropped, a.attislocal, a.attstattarget,
               pg_get_expr(d.adbin, d.adrelid), pg_get_expr(d.adbin, d.adrelid, true)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relname LIKE '{p}%' AND c.relkind IN ('r', 'i', 'v') AND a.attnum > 0
        ORDER BY c.relname, a.attnum""")


def test_pg_index_and_indexdef(pg_server, dsql_server, objects):
    p = objects
    assert_same(pg_server, dsql_server, f"""
        SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text, i.indnatts, i.indnkeyatts,
               i.indisunique, i.indisprimary, i.indisexclusion, i.indimmediate, i.indisvalid, i.indisready,
               i.indislive, i.indkey::text, i.indcollation::text, i.indoption::text, i.indexprs, i.indpred,
               (SELECT string_agg(o.opcname, ',') FROM pg_opclass o WHERE o.oid = ANY (i.indclass)),
               pg_get_indexdef(i.indexrelid), pg_get_indexdef(i.indexrelid, 0, true),
               pg_get_indexdef(i.indexrelid, 1, false), pg_get_indexdef(i.indexrelid, 2, true),
               pg_get_indexdef(i.indexrelid, 3, true)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname LIKE '{p}%' ORDER BY 1""")
    assert_same(pg_server, dsql_server, f"SELECT tablename, indexname, indexdef FROM pg_indexes "
                                        f"WHERE tablename LIKE '{p}%' ORDER BY indexname")


def test_pg_constraint(pg_server, dsql_server, objects):
    p = objects
    assert_same(pg_server, dsql_server, f"""
        SELECT conname, contype, conrelid::regclass::text, conkey, confkey, confrelid::regclass::text,
               CASE WHEN conindid = 0 THEN '-' ELSE conindid::regclass::text END, convalidated, condeferrable,
               condeferred, confupdtype, confdeltype, confmatchtype, conislocal, coninhcount, connoinherit,
               pg_get_constraintdef(oid), pg_get_constraintdef(oid, true), connamespace::regnamespace
        FROM pg_constraint WHERE conrelid::regclass::text LIKE '{p}%' ORDER BY conname""")


def test_pg_depend_of_indexes_and_sequences(pg_server, dsql_server, objects):
    p = objects
    assert_same(pg_server, dsql_server, f"""
        SELECT d.objid::regclass::text, d.refclassid::regclass::text,
               CASE WHEN d.refclassid = 'pg_constraint'::regclass
                    THEN (SELECT conname FROM pg_constraint WHERE oid = d.refobjid)
                    ELSE d.refobjid::regclass::text END, d.refobjsubid, d.deptype
        FROM pg_depend d JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
        WHERE c.relname LIKE '{p}%' AND c.relkind IN ('i', 'S') ORDER BY 1, 3, 4""")


def test_sequences_serial_and_identity(pg_server, dsql_server, objects):
    p = objects
    assert_same(pg_server, dsql_server, f"""
        SELECT seqrelid::regclass::text, seqtypid::regtype, seqstart, seqincrement, seqmax, seqmin, seqcache, seqcycle
        FROM pg_sequence WHERE seqrelid::regclass::text LIKE '{p}%' ORDER BY 1""")
    assert_same(pg_server, dsql_server, f"SELECT pg_get_serial_sequence('{p}_ser', 'id'), "
                                        f"pg_get_serial_sequence('{p}_ident', 'id'), "
                                        f"pg_get_serial_sequence('{p}_ser', 'v')")
    assert_same(pg_server, dsql_server, f"""
        SELECT sequence_name, data_type, numeric_precision, numeric_precision_radix, numeric_scale, start_value,
               minimum_value, maximum_value, increment, cycle_option
        FROM information_schema.sequences WHERE sequence_name LIKE '{p}%' ORDER BY 1""")


def test_views(pg_server, dsql_server, objects):
    """pg_get_viewdef follows PostgreSQL 16, which no longer qualifies a
    single-table view's columns (the reference, 15, does)."""
    p = objects
    expected, actual = rows_on_both(pg_server, dsql_server,
                                    f"SELECT pg_get_viewdef('{p}_v'::regclass, true), pg_get_viewdef('{p}_v')")
    assert actual == [tuple(v.replace(f"{p}_items.", "") for v in row) for row in expected]
    assert actual == [(f" SELECT id,\n    name\n   FROM {p}_items\n  WHERE qty > 0;",
                       f" SELECT id,\n    name\n   FROM {p}_items\n  WHERE (qty > 0);")]
    # DSQL's views are read-only; PostgreSQL calls a simple view like this one updatable.
    with Session(dsql_server.dsn) as dsql:
        assert dsql.query(f"SELECT table_name, view_definition, check_option, is_updatable, is_insertable_into "
                          f"FROM information_schema.views WHERE table_name LIKE '{p}%'") == \
            [(f"{p}_v", actual[0][1], "NONE", "NO", "NO")]
        assert dsql.query(f"SELECT definition FROM pg_views WHERE viewname = '{p}_v'") == [(actual[0][1],)]


def test_views_over_the_catalogs(pg_server, dsql_server, objects):
    p = objects
    on_both(pg_server, dsql_server, [f"CREATE VIEW {p}_cat AS SELECT c.relname, c.relkind FROM pg_class c "
                                     f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"])
    try:
        rows = assert_same(pg_server, dsql_server, f"SELECT relname, relkind FROM {p}_cat WHERE relname LIKE '{p}%' "
                                                   f"ORDER BY 1")
        assert (f"{p}_items", "r") in rows
    finally:
        on_both(pg_server, dsql_server, [f"DROP VIEW {p}_cat"])


def test_information_schema(pg_server, dsql_server, objects):
    p = objects
    like = f"LIKE '{p}%'"
    # Views are left out of these two: DSQL's views are read-only (see test_views).
    like = f"LIKE '{p}%' AND table_name <> '{p}_v'"
    assert_same(pg_server, dsql_server, f"""
        SELECT table_catalog, table_schema, table_name, table_type, is_insertable_into, is_typed
        FROM information_schema.tables WHERE table_name {like} ORDER BY table_name""")
    assert_same(pg_server, dsql_server, f"""
        SELECT table_name, column_name, ordinal_position, column_default, is_nullable, data_type,
               character_maximum_length, character_octet_length, numeric_precision, numeric_precision_radix,
               numeric_scale, datetime_precision, udt_catalog, udt_schema, udt_name, dtd_identifier, is_identity,
               identity_generation, identity_start, identity_increment, identity_maximum, identity_minimum,
               identity_cycle, is_generated, is_updatable, collation_name
        FROM information_schema.columns WHERE table_name {like} ORDER BY table_name, ordinal_position""")
    like = f"LIKE '{p}%'"
    assert_same(pg_server, dsql_server, "SELECT catalog_name, schema_name, schema_owner FROM "
                                        "information_schema.schemata WHERE schema_name = 'public'")
    # Constraint names of NOT NULL columns embed oids (<nsp>_<rel>_<attnum>_not_null): compare their shape.
    normalize = ("regexp_replace(constraint_name, '^[0-9]+_[0-9]+_([0-9]+)_not_null$', 'nn_\\1')")
    assert_same(pg_server, dsql_server, f"""
        SELECT {normalize}, table_name, constraint_type, is_deferrable, initially_deferred, enforced, nulls_distinct
        FROM information_schema.table_constraints WHERE table_name {like} ORDER BY 2, 3, 1""")
    assert_same(pg_server, dsql_server, f"""
        SELECT {normalize}, check_clause FROM information_schema.check_constraints
        WHERE constraint_name {like} OR check_clause LIKE '% IS NOT NULL' AND constraint_name LIKE '%_not_null'
              AND constraint_name LIKE '%' || (SELECT oid FROM pg_class WHERE relname = '{p}_items')::text || '%'
        ORDER BY 2, 1""")
    assert_same(pg_server, dsql_server, f"""
        SELECT constraint_name, table_name, column_name, ordinal_position, position_in_unique_constraint
        FROM information_schema.key_column_usage WHERE table_name {like} ORDER BY 1, 4""")
    assert_same(pg_server, dsql_server, f"""
        SELECT constraint_name, table_name, column_name FROM information_schema.constraint_column_usage
        WHERE constraint_name {like} ORDER BY 1, 3""")
    assert_same(pg_server, dsql_server, f"""
        SELECT constraint_name, unique_constraint_name, match_option, update_rule, delete_rule
        FROM information_schema.referential_constraints WHERE constraint_name {like} ORDER BY 1""")
    assert_same(pg_server, dsql_server, "SELECT character_set_name, character_repertoire, form_of_use, "
                                        "default_collate_schema, default_collate_name FROM information_schema.character_sets")


def test_catalog_joins_user_tables(pg_server, dsql_server, objects):
    p = objects
    on_both(pg_server, dsql_server, [f"INSERT INTO {p}_items (id, name, price) VALUES (1, '{p}_items', 2), "
                                     f"(2, 'nothing', 3)"])
    try:
        assert_same(pg_server, dsql_server, f"""
            SELECT i.id, c.relkind, n.nspname FROM {p}_items i
            JOIN pg_catalog.pg_class c ON c.relname = i.name JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            ORDER BY i.id""")
    finally:
        on_both(pg_server, dsql_server, [f"DELETE FROM {p}_items"])


# -- expressions as PostgreSQL prints them ----------------------------------------------------------

DEFAULTS = [
    ("int", "1"), ("bigint", "0"), ("numeric", "0"), ("numeric(10,2)", "1.5"), ("text", "'x'"),
    ("varchar(20)", "'abc'"), ("boolean", "true"), ("timestamptz", "now()"), ("timestamptz", "CURRENT_TIMESTAMP"),
    ("date", "CURRENT_DATE"), ("date", "'2020-1-2'"), ("int", "-1"), ("int", "(1 + 2) * 3"), ("text", "'it''s'"),
    ("float8", "1.5"), ("float8", "2"), ("uuid", "gen_random_uuid()"), ("varchar(10)", "'x'::varchar(5)"),
    ("int", "'7'::int"), ("bigint", "1::bigint"), ("text", "lower('ABC')"), ("jsonb", "'{}'"),
    ("interval", "'1 day'"), ("smallint", "3"), ("numeric", "-2.5"), ("timestamp", "LOCALTIMESTAMP"),
    ("text", "CURRENT_USER"), ("char(3)", "'ab'"), ("text", "NULL"), ("numeric", "1e3"), ("bigint", "5000000000"),
    ("text", "'a' || 'b'"), ("int", "abs(-4)"), ("timestamptz", "'2020-01-01 10:00:00+02'"),
]
CHECKS = [
    "a > 0", "f <> ''", "a BETWEEN 1 AND 10", "a NOT BETWEEN 1 AND 10", "e IN ('x', 'y')", "a IN (1, 2, 3)",
    "e LIKE 'x%'", "e NOT ILIKE 'x%'", "e IS NOT NULL AND (a > 1 OR b < 2)", "NOT (a = 5)", "a + b * 2 > c - 1",
    "length(f) < 5", "lower(f) = 'x'", "c > 0.5", "a::bigint > 1", "coalesce(a, 0) >= 0",
    "CASE WHEN a > 1 THEN true ELSE false END", "CASE a WHEN 1 THEN 'one' WHEN 2 THEN 'two' END <> 'three'",
    "a - (b - c) > 0", "(a - b) - c > 0", "d >= 0 AND d <= 100", "e ~ '^x'", "g IS TRUE", "g IS NOT FALSE",
    "-a < 0", "a <> ALL (ARRAY[4, 5])", "a = ANY (ARRAY[1, 2])", "f::text = 'q' OR f IS NULL",
    "h > '2020-01-01'", "x > 1", "ac = 'ab'", "e NOT IN ('z')", "e NOT IN ('z', 'w')", "a IS DISTINCT FROM 3",
    "a IS NOT DISTINCT FROM 3", "nullif(a, 3) > 0", "greatest(a, 1) > 0", "least(a, b) < 10", "a % 2 = 0",
    "a * 2 + 1 > b", "(a + 1) * 2 > b", "e || f <> ''", "extract(year from h) > 2000", "h::date > '2020-01-01'",
]


def test_defaults_and_checks_print_as_postgres(pg_server, dsql_server):
    p = short_prefix()
    columns = ["a int", "b bigint", "c numeric", "d numeric(10,2)", "e text", "f varchar(20)", "g boolean",
               "h timestamptz", "x int2", "ac char(3)"]
    columns += [f"def{i} {t} DEFAULT {expr}" for i, (t, expr) in enumerate(DEFAULTS)]
    checks = [f"CONSTRAINT {p}_c{i:02} CHECK ({expr})" for i, expr in enumerate(CHECKS)]
    on_both(pg_server, dsql_server, [f"CREATE TABLE {p} ({', '.join(columns + checks)})"])
    try:
        assert_same(pg_server, dsql_server, f"""
            SELECT a.attname, a.atthasdef, pg_get_expr(d.adbin, d.adrelid), pg_get_expr(d.adbin, d.adrelid, true)
            FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = '{p}'::regclass AND a.attnum > 0 ORDER BY a.attnum""")
        assert_same(pg_server, dsql_server, f"""
            SELECT conname, conkey, pg_get_constraintdef(oid), pg_get_constraintdef(oid, true)
            FROM pg_constraint WHERE conrelid = '{p}'::regclass ORDER BY conname""")
    finally:
        on_both(pg_server, dsql_server, [f"DROP TABLE {p}"])


# -- reg* types, names and catalog functions -------------------------------------------------------


def test_reg_types(pg_server, dsql_server, objects):
    p = objects
    assert_same(pg_server, dsql_server, f"""
        SELECT '{p}_items'::regclass::text, 'public.{p}_items'::regclass::text, '{p}_items_pkey'::regclass::text,
               '"{p}_items"'::regclass = '{p}_items'::regclass, 'pg_catalog.pg_class'::regclass,
               (SELECT oid FROM pg_class WHERE relname = '{p}_items') = '{p}_items'::regclass,
               to_regclass('{p}_missing'), to_regclass('public.{p}_items')::text, 'int4'::regtype,
               'character varying'::regtype, 'pg_catalog.int8'::regtype::oid, 'public'::regnamespace,
               'pg_catalog'::regnamespace::oid, 'now'::regproc, 'now'::regproc::oid = (SELECT oid FROM pg_proc
               WHERE proname = 'now'), to_regtype('hstore'), to_regtype('integer[]'), to_regnamespace('nope'),
               '0'::regclass, 1259::regclass, '16'::regtype, 11::regnamespace""")
    assert_same(pg_server, dsql_server, "SELECT '1259'::oid, 1259::oid::regclass, '-1'::oid, "
                                        "pg_typeof('pg_class'::regclass), 'pg_class'::regclass::oid::int4")
    for query, sqlstate in ((f"SELECT '{p}_missing'::regclass", "42P01"), ("SELECT 'nosuch.t'::regclass", "3F000"),
                            ("SELECT 'nosuchtype'::regtype", "42704"), ("SELECT 'nosuch'::regnamespace", "3F000"),
                            ("SELECT 'nosuchfn'::regproc", "42883"), ("SELECT 'generate_series'::regproc", "42725")):
        states = []
        for server in (pg_server, dsql_server):
            with Session(server.dsn) as session, pytest.raises(SqlError) as raised:
                session.query(query)
            states.append((raised.value.sqlstate, raised.value.message))
        assert states[1] == states[0] == (sqlstate, states[0][1]), query


def test_catalog_functions(pg_server, dsql_server, objects):
    p = objects
    assert_same(pg_server, dsql_server, """
        SELECT format_type(23, NULL), format_type(1043, 24), format_type(1042, NULL), format_type(1042, -1),
               format_type(1700, 655366), format_type(1184, 3), format_type(1007, NULL), format_type(1015, 14),
               format_type(NULL, 4), format_type(1186, NULL), format_type(16, -1), format_type(18, NULL)""")
    assert_same(pg_server, dsql_server, """
        SELECT pg_size_pretty(v), pg_size_pretty(-v), pg_size_pretty(v::numeric)
        FROM (VALUES (0::int8), (8192), (10239), (10240), (1000000), (20971000), (20971519), (1000000000),
                     (1000000000000), (10000000000000000), (123456789012345678)) AS t(v)""")
    assert_same(pg_server, dsql_server, f"""
        SELECT pg_encoding_to_char(6), pg_encoding_to_char(0), pg_char_to_encoding('UTF8'), current_schemas(true),
               current_schemas(false), pg_get_userbyid(10) = current_user, pg_table_is_visible('{p}_items'::regclass),
               pg_table_is_visible('pg_class'::regclass), pg_type_is_visible(23), pg_is_in_recovery(),
               has_table_privilege('{p}_items', 'SELECT'), has_schema_privilege('public', 'USAGE'),
               has_database_privilege('postgres', 'CONNECT'), has_table_privilege(current_user, '{p}_items', 'INSERT'),
               obj_description(2200, 'pg_namespace'), obj_description('{p}_items'::regclass, 'pg_class'),
               col_description('{p}_items'::regclass, 1), shobj_description(5, 'pg_database'),
               pg_relation_is_publishable('{p}_items'), pg_relation_is_publishable('pg_class'),
               pg_get_statisticsobjdef_columns(0), pg_get_triggerdef(0), pg_get_ruledef(0),
               pg_get_function_result('now'::regproc), getdatabaseencoding(), pg_client_encoding()""")
    assert_same(pg_server, dsql_server, f"SELECT * FROM pg_partition_ancestors('{p}_items')")
    assert_same(pg_server, dsql_server, "SELECT pg_advisory_unlock_all(), pg_advisory_unlock_all() IS NULL")
    assert_same(pg_server, dsql_server, "SELECT word, catcode, catdesc FROM pg_get_keywords() "
                                        "WHERE word IN ('select', 'user', 'name', 'between', 'left') ORDER BY 1")
    with Session(dsql_server.dsn) as dsql:
        assert dsql.scalar("SELECT pg_get_userbyid(10)") == dsql_server.user
        assert dsql.scalar("SELECT pg_get_userbyid(424242)") == "unknown (OID=424242)"


def test_sizes_of_empty_tables(pg_server, dsql_server):
    """dsql estimates sizes as PostgreSQL reports them for tables that never held a
    row (PostgreSQL's grow with use, so only new tables are compared): an empty
    heap, a TOAST index when a row could outgrow its share of a page, a metapage
    per index."""
    p = short_prefix()
    on_both(pg_server, dsql_server, [
        f"CREATE TABLE {p}_wide (id int PRIMARY KEY, body text, n numeric, UNIQUE (n))",
        f"CREATE TABLE {p}_narrow (id bigint PRIMARY KEY, code char(3), price numeric(10,2), v varchar(100))",
        f"CREATE INDEX {p}_narrow_code ON {p}_narrow (code)",
        f"CREATE TABLE {p}_big (a varchar(300), b varchar(300))",
    ])
    try:
        assert_same(pg_server, dsql_server, f"""
            SELECT c.relname, pg_relation_size(c.oid), pg_table_size(c.oid), pg_total_relation_size(c.oid),
                   pg_indexes_size(c.oid), pg_size_pretty(pg_table_size(c.oid))
            FROM pg_class c WHERE c.relname LIKE '{p}%' ORDER BY 1""")
    finally:
        on_both(pg_server, dsql_server, [f"DROP TABLE {p}_wide", f"DROP TABLE {p}_narrow", f"DROP TABLE {p}_big"])


# -- the session: settings, activity, prepared statements, cursors ---------------------------------


def test_settings_and_set_config(dsql_server):
    with psycopg.connect(dsql_server.dsn, autocommit=True) as conn:
        rows = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name IN "
                                 "('server_version', 'server_version_num', 'TimeZone', 'work_mem')").fetchall())
        assert rows == {"server_version": "16.9", "server_version_num": "160009", "TimeZone": "UTC",
                        "work_mem": "4096"}
        assert conn.execute("SELECT set_config('TimeZone', 'Europe/Paris', false)").fetchone() == ("Europe/Paris",)
        assert conn.execute("SHOW TimeZone").fetchone() == ("Europe/Paris",)
        assert conn.execute("SELECT setting, source FROM pg_settings WHERE name = 'TimeZone'").fetchone() == \
            ("Europe/Paris", "session")
        assert conn.execute("SELECT current_setting('jit'), set_config('jit', 'off', false)").fetchone() == \
            ("off", "off")
        with pytest.raises(psycopg.errors.UndefinedObject):
            conn.execute("SELECT set_config('no_such_setting', 'x', false)")


def test_activity_prepared_statements_and_cursors(dsql_server):
    with psycopg.connect(dsql_server.dsn) as conn:
        pid = conn.info.backend_pid
        assert conn.execute("SELECT pg_backend_pid()").fetchone() == (pid,)
        assert conn.execute("SELECT state, usename, datname FROM pg_stat_activity WHERE pid = %s",
                            (pid,)).fetchone() == ("active", dsql_server.user, "postgres")
        conn.execute("SELECT 1 + %s", (1,), prepare=True)
        names = conn.execute("SELECT name, statement, parameter_types::text, from_sql "
                             "FROM pg_prepared_statements").fetchall()
        assert [(n[:4], s, t, f) for n, s, t, f in names] == [("_pg3", "SELECT 1 + $1", "{smallint}", False)]
        conn.execute("DECLARE pc_cursor CURSOR FOR SELECT 1")
        assert conn.execute("SELECT name, statement, is_holdable FROM pg_cursors").fetchall() == \
            [("pc_cursor", "DECLARE pc_cursor CURSOR FOR SELECT 1", False)]
        conn.rollback()


def test_new_tables_show_up_in_other_sessions(dsql_server):
    """The catalog a statement reads is the one as of its snapshot, even in a
    session that learned about the catalog before another one changed it."""
    p = short_prefix()
    with psycopg.connect(dsql_server.dsn, autocommit=True) as watcher, \
            psycopg.connect(dsql_server.dsn, autocommit=True) as creator:
        query = f"SELECT count(*) FROM pg_class WHERE relname LIKE '{p}%'"
        assert watcher.execute(query).fetchone() == (0,)
        creator.execute(f"CREATE TABLE {p}_new (id int PRIMARY KEY)")
        try:
            assert watcher.execute(query).fetchone() == (2,)  # the table and its primary key
            assert watcher.execute(f"SELECT '{p}_new'::regclass::text").fetchone() == (f"{p}_new",)
        finally:
            creator.execute(f"DROP TABLE {p}_new")
        assert watcher.execute(query).fetchone() == (0,)


# -- drivers' own catalog queries -------------------------------------------------------------------


def test_psycopg_type_info(dsql_server):
    with psycopg.connect(dsql_server.dsn) as conn:
        info = TypeInfo.fetch(conn, "int4")
        assert (info.name, info.oid, info.array_oid, info.regtype, info.delimiter) == \
            ("int4", 23, 1007, "integer", ",")
        assert TypeInfo.fetch(conn, "character varying").oid == 1043
        assert TypeInfo.fetch(conn, "hstore") is None


def test_psycopg2_hstore_lookup(dsql_server):
    conn = psycopg2.connect(dsql_server.dsn)
    try:
        assert psycopg2.extras.HstoreAdapter.get_oids(conn) == ((), ())
        with conn.cursor() as cur:
            cur.execute("SELECT t.oid, typarray FROM pg_type t JOIN pg_namespace ns ON typnamespace = ns.oid "
                        "WHERE typname = 'int4'")
            assert cur.fetchall() == [(23, 1007)]
    finally:
        conn.close()


def test_asyncpg_arrays_and_introspection(dsql_server):
    """asyncpg has no codec for int[] or float8[]: it introspects them with its
    WITH RECURSIVE query over pg_type, pg_namespace and pg_range."""

    async def scenario() -> list:
        conn = await asyncpg.connect(dsql_server.dsn, statement_cache_size=0)
        try:
            out = [await conn.fetchval("SELECT $1::int[]", [1, 2, None, 3]),
                   await conn.fetchval("SELECT ARRAY[1.5, 2.5]::float8[]"),
                   await conn.fetchval("SELECT $1::bigint[] || 4::bigint", [5]),
                   await conn.fetchval("SELECT 'pg_class'::regclass"),
                   await conn.fetchval("SELECT array_agg(typname ORDER BY oid) FROM pg_type WHERE oid = ANY($1)",
                                       [23, 25, 1007])]
            await conn.execute("SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;")
            out.append(await conn.fetchval("SELECT 1"))
            return out
        finally:
            await conn.close()

    assert asyncio.run(scenario()) == [[1, 2, None, 3], [1.5, 2.5], [5, 4], "pg_class", ["int4", "text", "_int4"], 1]
