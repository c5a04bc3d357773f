"""SQLAlchemy 2 against dsql with its three PostgreSQL drivers: psycopg2, psycopg 3, asyncpg.

Each scenario creates a small schema with `create_all`, checks `has_table`,
reflects it through the inspector (columns, primary key, indexes, unique,
check and foreign-key constraints, views) and with `autoload_with`, runs a
little CRUD, and drops it with `drop_all`; the same scenario runs on the
reference PostgreSQL and everything reflected must be equal.

DSQL runs one DDL statement per transaction, so DDL goes through an
AUTOCOMMIT engine (create_all otherwise sends every CREATE in one
transaction), as it would for any application.

The engines keep their defaults otherwise: SQLAlchemy's psycopg 3 dialect
looks hstore up with psycopg's TypeInfo.fetch inside a transaction, which
psycopg wraps in a SAVEPOINT (dsql has savepoints though DSQL has not; see
qp/frontend/savepoints.py), and the sync scenarios use `begin_nested()` too.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Session

pytestmark = pytest.mark.timeout(180)

ENGINE_OPTIONS: dict[str, dict[str, Any]] = {"psycopg2": {}, "psycopg": {}}


def model(p: str) -> tuple[MetaData, Table, Table]:
    metadata = MetaData()
    parent = Table(
        f"{p}_parent", metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String(50), nullable=False, server_default="x"),
        Column("score", Numeric(10, 2)),
        Column("active", Boolean, server_default=text("true")),
        UniqueConstraint("name", name=f"{p}_parent_name_key"),
        CheckConstraint("score > 0", name=f"{p}_parent_score_check"),
    )
    child = Table(
        f"{p}_child", metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("parent_id", Integer, ForeignKey(f"{p}_parent.id", ondelete="CASCADE")),
        Column("note", Text),
        Column("created", DateTime(timezone=True), server_default=func.now()),
    )
    Index(f"{p}_child_note_idx", child.c.note)
    return metadata, parent, child


def reflect(connection, p: str) -> dict[str, Any]:
    """Everything the inspector reports about the schema (types as their SQL text)."""
    insp = inspect(connection)
    out: dict[str, Any] = {
        "has_table": (insp.has_table(f"{p}_parent"), insp.has_table(f"{p}_missing")),
        "tables": sorted(t for t in insp.get_table_names() if t.startswith(p)),
        "views": sorted(v for v in insp.get_view_names() if v.startswith(p)),
    }
    for table in (f"{p}_parent", f"{p}_child"):
        out[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], c["default"], c.get("autoincrement"))
                        for c in insp.get_columns(table)],
            "pk": insp.get_pk_constraint(table),
            "indexes": sorted(insp.get_indexes(table), key=lambda i: i["name"]),
            "unique": insp.get_unique_constraints(table),
            "checks": insp.get_check_constraints(table),
            "foreign_keys": insp.get_foreign_keys(table),
        }
    reflected = Table(f"{p}_child", MetaData(), autoload_with=connection)
    out["autoload"] = [(c.name, str(c.type), c.primary_key, c.nullable) for c in reflected.columns]
    return out


def crud(connection, parent: Table, child: Table) -> list:
    connection.execute(insert(parent), [{"id": 1, "name": "one", "score": Decimal("1.50")},
                                        {"id": 2, "name": "two", "score": None}])
    connection.execute(insert(child).values(id=10, parent_id=1, note="n"))
    rows = connection.execute(
        select(parent.c.id, parent.c.name, parent.c.score, parent.c.active, func.count(child.c.id))
        .join(child, child.c.parent_id == parent.c.id, isouter=True)
        .group_by(parent.c.id, parent.c.name, parent.c.score, parent.c.active).order_by(parent.c.id)
    ).all()
    return [tuple(r) for r in rows]


def nested(engine, parent: Table) -> list:
    """Savepoints through begin_nested(): one rolled back, one failing, one released."""
    with engine.begin() as conn:
        conn.execute(insert(parent).values(id=3, name="three", score=Decimal("3")))
        savepoint = conn.begin_nested()
        conn.execute(insert(parent).values(id=4, name="four"))
        savepoint.rollback()
        try:
            with conn.begin_nested():
                conn.execute(insert(parent).values(id=5, name="one"))  # a duplicate name
        except IntegrityError:
            pass  # the savepoint was rolled back; the transaction goes on
        with conn.begin_nested():
            conn.execute(insert(parent).values(id=6, name="six"))
    with Session(engine) as session, session.begin():
        session.execute(insert(parent).values(id=7, name="seven"))
        with session.begin_nested() as orm_savepoint:
            session.execute(insert(parent).values(id=8, name="eight"))
            orm_savepoint.rollback()
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(parent.c.id, parent.c.name).order_by(parent.c.id))]


def sync_scenario(dsn: str, driver: str, p: str) -> dict[str, Any]:
    url = dsn.replace("postgresql://", f"postgresql+{driver}://", 1)
    engine = create_engine(url, **ENGINE_OPTIONS[driver])
    ddl = engine.execution_options(isolation_level="AUTOCOMMIT")
    metadata, parent, child = model(p)
    try:
        metadata.create_all(ddl)
        with ddl.connect() as conn:
            conn.execute(text(f"CREATE VIEW {p}_named AS SELECT id, name FROM {p}_parent"))
        try:
            with engine.connect() as conn:
                out = reflect(conn, p)
            with engine.begin() as conn:
                out["crud"] = crud(conn, parent, child)
            out["nested"] = nested(engine, parent)
        finally:
            with ddl.connect() as conn:
                conn.execute(text(f"DROP VIEW {p}_named"))
            metadata.drop_all(ddl)
        with engine.connect() as conn:
            out["after_drop"] = inspect(conn).has_table(f"{p}_parent")
        return out
    finally:
        engine.dispose()


async def async_scenario(dsn: str, p: str) -> dict[str, Any]:
    # SQLAlchemy hands URL query options to asyncpg.connect, which spells sslmode "ssl".
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1).replace("sslmode=", "ssl=")
    engine = create_async_engine(url)
    ddl = engine.execution_options(isolation_level="AUTOCOMMIT")
    metadata, parent, child = model(p)
    try:
        async with ddl.connect() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(text(f"CREATE VIEW {p}_named AS SELECT id, name FROM {p}_parent"))
        try:
            async with engine.connect() as conn:
                out = await conn.run_sync(reflect, p)
            async with engine.begin() as conn:
                out["crud"] = await conn.run_sync(crud, parent, child)
        finally:
            async with ddl.connect() as conn:
                await conn.execute(text(f"DROP VIEW {p}_named"))
                await conn.run_sync(metadata.drop_all)
        async with engine.connect() as conn:
            out["after_drop"] = await conn.run_sync(lambda c: inspect(c).has_table(f"{p}_parent"))
        return out
    finally:
        await engine.dispose()


def check(out: dict[str, Any], p: str) -> None:
    """The facts themselves, so that a wrong answer on both servers cannot pass."""
    assert out["has_table"] == (True, False)
    assert out["tables"] == [f"{p}_child", f"{p}_parent"] and out["views"] == [f"{p}_named"]
    assert out[f"{p}_parent"]["columns"][:2] == [("id", "INTEGER", False, None, False),
                                                 ("name", "VARCHAR(50)", False, "'x'::character varying", False)]
    assert out[f"{p}_parent"]["checks"] == [{"name": f"{p}_parent_score_check", "sqltext": "score > 0::numeric",
                                             "comment": None}]
    fk = out[f"{p}_child"]["foreign_keys"][0]
    assert (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"], fk["options"]) == \
        (["parent_id"], f"{p}_parent", ["id"], {"ondelete": "CASCADE"})
    assert out["crud"] == [(1, "one", Decimal("1.50"), True, 1), (2, "two", None, True, 0)]
    assert out["after_drop"] is False
    if "nested" in out:
        assert out["nested"] == [(1, "one"), (2, "two"), (3, "three"), (6, "six"), (7, "seven")]


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_sqlalchemy_sync_drivers(pg_server, dsql_server, driver):
    p = "sa" + uuid.uuid4().hex[:6]
    expected = sync_scenario(pg_server.dsn, driver, p)
    actual = sync_scenario(dsql_server.dsn, driver, p)
    check(actual, p)
    assert actual == expected


def test_sqlalchemy_asyncpg(pg_server, dsql_server):
    p = "sa" + uuid.uuid4().hex[:6]
    expected = asyncio.run(async_scenario(pg_server.dsn, p))
    actual = asyncio.run(async_scenario(dsql_server.dsn, p))
    check(actual, p)
    assert actual == expected
