"""Refusals name what is refused in PostgreSQL's words (qp/parse/unsupported.py), never
by a parse node: `CREATE TRIGGER is not supported`, not `unsupported statement: CreateTrig`.
DSQL's own form stays in the DETAIL. Without a server: the statement is parsed and
classified (or bound) as the runner does."""

from __future__ import annotations

import re

import pytest

from qp.bind.context import BindContext
from qp.bind.query import QueryBinder
from qp.catalog.stored import CatalogSnapshot, ColumnDef, TableDef
from qp.errors import SqlError
from qp.frontend.prepare import classify
from qp.parse.parser import parse
from qp.types import INT4
from qp.types.context import EvalContext

STATEMENTS = {
    "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()": "CREATE TRIGGER",
    "CREATE TYPE mood AS ENUM ('sad', 'ok')": "CREATE TYPE",
    "CREATE EXTENSION pgcrypto": "CREATE EXTENSION",
    "CREATE DATABASE other": "CREATE DATABASE",
    "DO $$ BEGIN END $$": "DO",
    "LOCK TABLE t": "LOCK TABLE",
    "REFRESH MATERIALIZED VIEW mv": "REFRESH MATERIALIZED VIEW",
    "ALTER SYSTEM SET work_mem = '1MB'": "ALTER SYSTEM",
    "CREATE POLICY p ON t USING (true)": "CREATE POLICY",
    "CREATE TABLESPACE ts LOCATION '/tmp'": "CREATE TABLESPACE",
    "REINDEX TABLE t": "REINDEX",
}
NODE_NAME = re.compile(r"[a-z][A-Z]|Stmt\b")  # a CamelCase parse node name in a message


@pytest.mark.parametrize("sql", sorted(STATEMENTS))
def test_unsupported_statements_are_named_as_postgresql_names_them(sql: str) -> None:
    with pytest.raises(SqlError) as err:
        classify(parse(sql)[0])
    assert err.value.sqlstate == "0A000"
    assert str(err.value.message) == f"{STATEMENTS[sql]} is not supported"
    assert "unsupported statement: " in (err.value.detail or "")  # DSQL's form, for those who grep for it


CATALOG = CatalogSnapshot(version=1, tables={("public", "t"): TableDef(
    oid=16400, name="t", columns=(ColumnDef("a", INT4),), pk=(0,), key_id=16400)})  # fmt: skip


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("SELECT * FROM t TABLESAMPLE SYSTEM (10)", "TABLESAMPLE in FROM"),
        ("SELECT xmlelement(name x)", "XML functions"),
    ],
)
def test_unsupported_syntax_inside_a_statement_is_named_in_sql_words(sql: str, words: str) -> None:
    ctx = EvalContext()
    ctx.catalog = CATALOG
    with pytest.raises(SqlError) as err:
        QueryBinder(BindContext(CATALOG, ctx, [])).bind_query(parse(sql)[0].node)
    assert err.value.sqlstate == "0A000"
    assert err.value.message.startswith(words)
    assert not NODE_NAME.search(err.value.message), err.value.message
