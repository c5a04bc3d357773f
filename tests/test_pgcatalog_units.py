"""qp.pgcatalog's pure parts, without a server: expression printing, names,
oids, the built-in rows and the catalog model.

The expected texts of the expressions are PostgreSQL 15's own (pg_get_expr
and pg_get_constraintdef on the reference server); test_pgcatalog.py
compares many more against a running PostgreSQL.
"""

from __future__ import annotations

import json

import pytest
from pglast.parser import parse_sql_json

from qp.catalog.stored import CatalogSnapshot, CheckDef, ColumnDef, IndexDef, SchemaDef, TableDef
from qp.errors import SqlError
from qp.functions.registry import FUNCTIONS
from qp.pgcatalog import REGISTRY, builtins, oids, search_path
from qp.pgcatalog.functions import _size_pretty
from qp.pgcatalog.model import model_for, search_path_of
from qp.pgcatalog.names import qualified_name, regclass_name, regclass_oid
from qp.pgcatalog.ruleutils import expression_text
from qp.types import BOOL, INT4, INT8, NUMERIC, TEXT, VARCHAR, numeric_typmod
from qp.types.context import EvalContext


def tree(expression: str) -> str:
    """The parse tree dsql stores for an expression (as DDL does)."""
    statement = json.loads(parse_sql_json(f"SELECT {expression}"))["stmts"][0]["stmt"]["SelectStmt"]
    return json.dumps(statement["targetList"][0]["ResTarget"]["val"])


TABLE = TableDef(
    oid=16384, name="t", pk=(0,),
    columns=(ColumnDef("a", INT4, True), ColumnDef("b", INT8), ColumnDef("c", NUMERIC),
             ColumnDef("d", NUMERIC.with_typmod(numeric_typmod(10, 2))), ColumnDef("e", TEXT),
             ColumnDef("f", VARCHAR.with_typmod(24)), ColumnDef("g", BOOL)),
    indexes=(IndexDef(16385, "t_pkey", 1, (0,), True, True, constraint=True),),
    checks=(CheckDef("t_a_check", json.dumps(json.loads(tree("a > 0")))),),
)
CTX = EvalContext()


@pytest.mark.parametrize("expression, target, plain, pretty", [
    ("'x'", TEXT, "'x'::text", "'x'::text"),
    ("'abc'", VARCHAR.with_typmod(24), "'abc'::character varying", "'abc'::character varying"),
    ("0", NUMERIC, "0", "0"),
    ("1.5", NUMERIC, "1.5", "1.5"),
    ("-1", INT4, "'-1'::integer", "'-1'::integer"),
    ("-2.5", NUMERIC, "'-2.5'::numeric", "'-2.5'::numeric"),
    ("(1 + 2) * 3", INT4, "((1 + 2) * 3)", "(1 + 2) * 3"),
    ("1::bigint", INT8, "(1)::bigint", "1::bigint"),
    ("now()", None, "now()", "now()"),
    ("CURRENT_TIMESTAMP", None, "CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP"),
    ("lower('ABC')", TEXT, "lower('ABC'::text)", "lower('ABC'::text)"),
    ("true", BOOL, "true", "true"),
])
def test_defaults(expression, target, plain, pretty):
    assert expression_text(TABLE, tree(expression), False, CTX, target=target) == plain
    assert expression_text(TABLE, tree(expression), True, CTX, target=target) == pretty


@pytest.mark.parametrize("expression, plain, pretty", [
    ("a > 0", "(a > 0)", "a > 0"),
    ("f <> ''", "((f)::text <> ''::text)", "f::text <> ''::text"),
    ("a BETWEEN 1 AND 10", "((a >= 1) AND (a <= 10))", "a >= 1 AND a <= 10"),
    ("e IN ('x', 'y')", "(e = ANY (ARRAY['x'::text, 'y'::text]))", "e = ANY (ARRAY['x'::text, 'y'::text])"),
    ("e IS NOT NULL AND (a > 1 OR b < 2)", "((e IS NOT NULL) AND ((a > 1) OR (b < 2)))",
     "e IS NOT NULL AND (a > 1 OR b < 2)"),
    ("NOT (a = 5)", "(NOT (a = 5))", "NOT a = 5"),
    ("a + b * 2 > c - 1", "(((a + (b * 2)))::numeric > (c - (1)::numeric))", "(a + b * 2)::numeric > (c - 1::numeric)"),
    ("(a - b) - c > 0", "((((a - b))::numeric - c) > (0)::numeric)", "((a - b)::numeric - c) > 0::numeric"),
    ("-a < 0", "((- a) < 0)", "(- a) < 0"),
    ("CASE WHEN a > 1 THEN true ELSE false END", "\nCASE\n    WHEN (a > 1) THEN true\n    ELSE false\nEND",
     "\nCASE\n    WHEN a > 1 THEN true\n    ELSE false\nEND"),
    ("length(f) < 5", "(length((f)::text) < 5)", "length(f::text) < 5"),
    ("coalesce(a, 0) >= 0", "(COALESCE(a, 0) >= 0)", "COALESCE(a, 0) >= 0"),
])
def test_checks(expression, plain, pretty):
    assert expression_text(TABLE, tree(expression), False, CTX) == plain
    assert expression_text(TABLE, tree(expression), True, CTX) == pretty


def test_unmodelled_expressions_print_as_written():
    # A column that does not exist cannot be typed: the raw text is used, never an error.
    assert expression_text(TABLE, tree("nosuch > 1"), True, CTX) == "(nosuch > 1)"


def test_qualified_names():
    assert qualified_name("public.T") == ["public", "t"]
    assert qualified_name(' "My Schema" . "A""b" ') == ["My Schema", 'A"b']
    for bad in ('"open', "a..b", "a b", ""):
        with pytest.raises(SqlError):
            qualified_name(bad)


def test_derived_oids_are_stable_and_unique():
    first = oids.derived_oid("constraint", 16384, "t_check", set())
    assert first == oids.derived_oid("constraint", 16384, "t_check", set())
    assert oids.DERIVED_OID_BASE <= first < oids.DERIVED_OID_BASE + oids.DERIVED_OID_SPAN
    taken = {first}
    assert oids.derived_oid("constraint", 16384, "t_check", taken) == first + 1 and first + 1 in taken


def test_builtin_rows():
    procs = builtins.procs()
    assert len({p.oid for p in procs}) == len(procs)
    assert all(p.oid < 16384 for p in procs)  # built-in objects, as clients test with oid < FirstNormalObjectId
    numbered = {(p.name, p.arg_types) for p in procs}
    for name, defs in FUNCTIONS.items():
        for fd in defs:
            assert (name, tuple(a.oid for a in fd.args)) in numbered, name
    now = [p for p in procs if p.name == "now"]
    assert [(p.oid, p.ret) for p in now] == [(1299, 1184)]  # PostgreSQL's oid for now()
    assert {r[0] for r in builtins.type_rows()} >= {16, 23, 25, 1007, 1043, 2205}


@pytest.mark.parametrize("setting, user, searched, explicit", [
    ('"$user", public', "postgres", ("pg_catalog", "public"), ("public",)),
    ("public, pg_catalog", "postgres", ("public", "pg_catalog"), ("public", "pg_catalog")),
    ("nosuch", "postgres", ("pg_catalog",), ()),
    ("", "postgres", ("pg_catalog",), ()),
    ('nosuch, "$user", PUBLIC, public', "postgres", ("pg_catalog", "public"), ("public",)),
    ('"$user"', "public", ("pg_catalog", "public"), ("public",)),  # a user named like a schema
    ('"Public", pg_temp, information_schema', "postgres", ("pg_catalog", "information_schema"),
     ("information_schema",)),
    ("a,,b", "postgres", ("pg_catalog",), ()),  # refused by SET; searched as PostgreSQL would
])
def test_search_path_resolution(setting, user, searched, explicit):
    path = search_path.resolve(setting, user)
    assert (path.searched, path.explicit) == (searched, explicit)
    assert path.current_schema == (explicit[0] if explicit else None)
    assert path.namespace_oids() == [oids.NAMESPACE_OIDS[name] for name in searched]


def test_search_path_with_created_schemas():
    """CREATE SCHEMA's schemas exist for the path (a snapshot's), in path order, with their oids."""
    snapshot = CatalogSnapshot(version=1)
    snapshot.schemas["app"] = SchemaDef(16400, "app", "admin")
    path = search_path.resolve('app, nosuch, "$user", public', "postgres", snapshot)
    assert path.searched == ("pg_catalog", "app", "public")
    assert path.namespace_oids() == [oids.PG_CATALOG_NAMESPACE, 16400, oids.PUBLIC_NAMESPACE]
    assert search_path.resolve("app", "postgres").searched == ("pg_catalog",)  # no catalog: no such schema
    assert search_path.first_schema(path, lambda schema: schema == "public") == "public"


def test_creation_schema():
    def ctx(setting: str) -> EvalContext:
        return EvalContext(settings={"search_path": setting})

    assert search_path.creation_schema(None, "t", ctx('"$user", public')) == "public"
    for setting, schema, sqlstate in [("nosuch", None, "3F000"), ("pg_catalog, public", None, "42501"),
                                      ("public", "pg_toast", "42501"), ("public", "nosuch", "3F000"),
                                      ("information_schema", None, "0A000")]:
        with pytest.raises(SqlError) as raised:
            search_path.creation_schema(schema, "t", ctx(setting))
        assert raised.value.sqlstate == sqlstate, (setting, schema)


def test_search_path_and_model():
    ctx = EvalContext(settings={"search_path": '"$user", public'})
    assert search_path_of(ctx).namespace_oids() == [oids.PG_CATALOG_NAMESPACE, oids.PUBLIC_NAMESPACE]
    snapshot = CatalogSnapshot(version=1, tables={("public", "t"): TABLE, ("public", "pg_am"): TableDef(
        oid=16390, name="pg_am", pk=None, columns=(ColumnDef("x", INT4),))})
    model = model_for(snapshot)
    assert model_for(snapshot) is model  # kept with the snapshot
    path = search_path_of(ctx)
    assert regclass_oid(model, "t", path, missing_ok=False) == 16384
    assert regclass_oid(model, "pg_am", path, missing_ok=False) == REGISTRY[("pg_catalog", "pg_am")].oid
    assert regclass_name(model, 16390, path) == "public.pg_am"  # hidden behind pg_catalog.pg_am
    assert regclass_oid(model, "nope", path, missing_ok=True) is None
    with pytest.raises(SqlError) as raised:
        regclass_oid(model, "nope", path, missing_ok=False)
    assert raised.value.sqlstate == "42P01"
    [check] = [c for c in model.constraints if c.contype == "c"]
    assert (check.name, check.attnums) == ("t_a_check", (1,))
    assert [c.name for c in model.constraints if c.contype == "p"] == ["t_pkey"]


@pytest.mark.parametrize("size, text", [
    (0, "0 bytes"), (10239, "10239 bytes"), (10240, "10 kB"), (-10240, "-10 kB"), (1000000, "977 kB"),
    (20971519, "20 MB"), (10**12, "931 GB"), (123456789012345678, "110 PB"),
])
def test_size_pretty(size, text):
    assert _size_pretty(size) == text
