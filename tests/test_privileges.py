"""Owners, GRANT/REVOKE, role membership and their enforcement, beside tests/sql/50_privileges.sql.

The differential script switches identity with SET ROLE inside one connection; what
it cannot show is here: sessions that log in as a created role, prepared statements
checked again after a GRANT, a REVOKE or a SET ROLE (the catalog version or the
role changed under the same plan), psql's `\\dp`, `\\z`, `\\ddp` and `\\dt` output
compared byte for byte with PostgreSQL, and the ACL algebra of qp/catalog/acl.py on
its own. Both servers run with trust authentication, so connecting under a
created role's name is logging in as it.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from test_psql_meta import psql

from qp.catalog.acl import (
    PUBLIC_OID,
    AclItem,
    DependentPrivileges,
    change_owner,
    default_acl,
    grant,
    revoke,
    revoke_cascade,
)
from qp.catalog.privcheck import has_privilege, is_owner, object_privs
from qp.catalog.stored import CatalogSnapshot, RoleDef, TableDef, relation_key

pytestmark = pytest.mark.timeout(180)


def _admin(server, *statements: str) -> None:
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def _sqlstate(conn, sql: str, prepare: bool | None = None) -> str:
    """'ok' or the statement's SQLSTATE."""
    try:
        conn.execute(sql, prepare=prepare)
    except psycopg.Error as exc:
        return exc.sqlstate or "?"
    return "ok"


@pytest.fixture
def names():
    return "pq" + uuid.uuid4().hex[:6]


def _both(pg_server, dsql_server):
    return [("postgres", pg_server), ("dsql", dsql_server)]


def _setup(server, p: str) -> None:
    _admin(server, f"CREATE ROLE {p}_login LOGIN", f"CREATE TABLE {p}_t (a int PRIMARY KEY)",
           f"INSERT INTO {p}_t VALUES (1), (2)")  # fmt: skip


def _teardown(server, p: str) -> None:
    _admin(server, f"DROP TABLE IF EXISTS {p}_t", f"DROP ROLE IF EXISTS {p}_login")


def test_a_prepared_statement_is_checked_again_after_grant_and_revoke(pg_server, dsql_server, names) -> None:
    """GRANT and REVOKE bump the catalog version, so the same prepared statement of a
    logged-in role is bound and checked again: allowed, refused, allowed."""
    p = names
    outcomes = {}
    for label, server in _both(pg_server, dsql_server):
        _setup(server, p)
        try:
            seen = []
            with psycopg.connect(server.dsn, user=f"{p}_login", autocommit=True) as conn:
                seen.append(_sqlstate(conn, f"SELECT count(*) FROM {p}_t", prepare=True))
                _admin(server, f"GRANT SELECT ON {p}_t TO {p}_login")
                seen.append(_sqlstate(conn, f"SELECT count(*) FROM {p}_t", prepare=True))
                seen.append(_sqlstate(conn, f"INSERT INTO {p}_t VALUES (3)", prepare=True))
                _admin(server, f"REVOKE SELECT ON {p}_t FROM {p}_login")
                seen.append(_sqlstate(conn, f"SELECT count(*) FROM {p}_t", prepare=True))
                _admin(server, f"GRANT SELECT, INSERT ON {p}_t TO {p}_login")
                seen.append(_sqlstate(conn, f"SELECT count(*) FROM {p}_t", prepare=True))
                seen.append(_sqlstate(conn, f"INSERT INTO {p}_t VALUES (3)", prepare=True))
                seen.append(conn.execute("SELECT current_user, session_user").fetchone())
            outcomes[label] = seen
        finally:
            _teardown(server, p)
    login = f"{p}_login"
    expected = ["42501", "ok", "42501", "42501", "ok", "ok", (login, login)]
    assert outcomes["postgres"] == expected
    assert outcomes["dsql"] == expected


def test_set_role_checks_a_prepared_plan_again(pg_server, dsql_server, names) -> None:
    """A plan checked for the superuser is not reused after SET ROLE (nor the refusal after RESET ROLE)."""
    p = names
    outcomes = {}
    for label, server in _both(pg_server, dsql_server):
        _setup(server, p)
        try:
            with psycopg.connect(server.dsn, autocommit=True) as conn:
                query = f"SELECT count(*) FROM {p}_t"
                seen = [_sqlstate(conn, query, prepare=True)]
                conn.execute(f"SET ROLE {p}_login")
                seen.append(_sqlstate(conn, query, prepare=True))
                conn.execute("RESET ROLE")
                seen.append(_sqlstate(conn, query, prepare=True))
            outcomes[label] = seen
        finally:
            _teardown(server, p)
    assert outcomes["postgres"] == ["ok", "42501", "ok"]
    assert outcomes["dsql"] == outcomes["postgres"]


def test_a_logged_in_role_creates_owns_and_grants(pg_server, dsql_server, names) -> None:
    """A role that logs in owns what it creates; another login reads it only once granted."""
    p = names
    results = {}
    for label, server in _both(pg_server, dsql_server):
        _admin(server, f"CREATE ROLE {p}_own LOGIN", f"CREATE ROLE {p}_other LOGIN",
               f"GRANT CREATE ON SCHEMA public TO {p}_own")  # fmt: skip
        try:
            seen = []
            with psycopg.connect(server.dsn, user=f"{p}_own", autocommit=True) as own, \
                    psycopg.connect(server.dsn, user=f"{p}_other", autocommit=True) as other:  # fmt: skip
                own.execute(f"CREATE TABLE {p}_o (a int PRIMARY KEY)")
                own.execute(f"INSERT INTO {p}_o VALUES (7)")
                seen.append(
                    own.execute(
                        f"SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = '{p}_o'"
                    ).fetchone()[0]
                )
                seen.append(_sqlstate(other, f"SELECT a FROM {p}_o"))
                seen.append(_sqlstate(other, f"DROP TABLE {p}_o"))
                own.execute(f"GRANT SELECT ON {p}_o TO {p}_other")
                seen.append(other.execute(f"SELECT a FROM {p}_o").fetchall())
                seen.append(_sqlstate(other, f"DELETE FROM {p}_o"))
                own.execute(f"DROP TABLE {p}_o")
            results[label] = seen
        finally:
            _admin(server, f"REVOKE CREATE ON SCHEMA public FROM {p}_own", f"DROP ROLE IF EXISTS {p}_own",
                   f"DROP ROLE IF EXISTS {p}_other")  # fmt: skip
    assert results["postgres"] == [f"{p}_own", "42501", "42501", [(7,)], "42501"]
    assert results["dsql"] == results["postgres"]


def test_psql_privilege_commands_match_postgres(pg_server, dsql_server, names) -> None:
    """`\\dp`, `\\z`, `\\ddp` and `\\dt`'s Owner column, byte for byte."""
    p = names
    script = f"""
CREATE ROLE {p}_a;
CREATE ROLE {p}_b;
GRANT CREATE ON SCHEMA public TO {p}_a;
SET ROLE {p}_a;
CREATE TABLE {p}_t (a int PRIMARY KEY);
CREATE VIEW {p}_v AS SELECT a FROM {p}_t;
CREATE SEQUENCE {p}_s CACHE 1;
GRANT SELECT, UPDATE ON {p}_t TO {p}_b WITH GRANT OPTION;
GRANT SELECT ON {p}_v TO PUBLIC;
GRANT USAGE ON SEQUENCE {p}_s TO {p}_b;
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {p}_b;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO {p}_b;
\\dp {p}_*
\\z {p}_t
\\ddp
\\dt {p}_*
ALTER DEFAULT PRIVILEGES REVOKE SELECT ON TABLES FROM {p}_b;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE ON SEQUENCES FROM {p}_b;
DROP SEQUENCE {p}_s;
DROP VIEW {p}_v;
DROP TABLE {p}_t;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM {p}_a;
DROP ROLE {p}_a;
DROP ROLE {p}_b;
"""
    outputs = []
    for _, server in _both(pg_server, dsql_server):
        proc = psql(server, extra=("-q", "-v", "ON_ERROR_STOP=1"), stdin=script)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert f"{p}_a=arwdDxt/{p}_a" in outputs[0]
    assert outputs[1] == outputs[0]


# -- the ACL algebra, without a server ------------------------------------------------------------------


ALICE, BOB, CAROL = 16500, 16501, 16502
NAMES = {ALICE: "alice", BOB: "bob", CAROL: "carol", 10: "admin"}


def _text(acl) -> list[str]:
    return [item.text(NAMES.get) for item in acl]


def test_aclitem_text_follows_postgresql() -> None:
    acl = default_acl("table", ALICE)
    acl = grant(acl, BOB, ALICE, "rw", with_option=False)
    acl = grant(acl, BOB, ALICE, "r", with_option=True)
    acl = grant(acl, PUBLIC_OID, ALICE, "r", with_option=False)
    assert _text(acl) == ["alice=arwdDxt/alice", "bob=r*w/alice", "=r/alice"]
    assert _text(default_acl("domain", ALICE)) == ["=U/alice", "alice=U/alice"]
    assert AclItem(CAROL, ALICE, "r").text(lambda oid: "Mixed Case") == '"Mixed Case"=r/"Mixed Case"'


def test_revoking_a_grant_option_cascades_only_when_asked() -> None:
    acl = grant(default_acl("table", ALICE), BOB, ALICE, "r", with_option=True)
    acl = grant(acl, CAROL, BOB, "r", with_option=False)
    after, lost = revoke(acl, BOB, ALICE, "r", options_only=True)
    assert lost == "r"
    with pytest.raises(DependentPrivileges):
        revoke_cascade(after, BOB, lost, ALICE, cascade=False)
    cascaded = revoke_cascade(after, BOB, lost, ALICE, cascade=True)
    assert _text(cascaded) == ["alice=arwdDxt/alice", "bob=r/alice"]


def test_a_new_owner_takes_the_old_owners_items() -> None:
    acl = grant(default_acl("table", ALICE), BOB, ALICE, "r", with_option=False)
    assert _text(change_owner(acl, ALICE, CAROL)) == ["carol=arwdDxt/carol", "bob=r/carol"]
    assert change_owner(None, ALICE, CAROL) is None


def _catalog(records: list[dict]) -> CatalogSnapshot:
    return CatalogSnapshot.from_rows(1, [(relation_key(r["oid"]), r) for r in records], 20000)


def test_a_catalog_written_before_owners_reads_as_owned_by_admin() -> None:
    """Descriptors without a privileges record (every catalog written before owners
    existed) belong to the bootstrap superuser, with the default ACL."""
    table = TableDef(oid=17000, name="old", columns=(), pk=None)
    role = RoleDef(ALICE, "alice", login=True)
    catalog = _catalog([table.to_record(), role.to_record()])
    privs = object_privs(catalog, table.oid, "table")
    assert privs.owner == 10 and privs.acl is None
    assert not has_privilege(catalog, ALICE, privs, "r")
    assert not is_owner(catalog, ALICE, privs)
    assert has_privilege(catalog, 10, privs, "r")
    granted = _catalog([table.to_record(), role.to_record(),
                        {"kind": "privs", "oid": table.oid, "objkind": "table", "owner": 10,
                         "acl": [[ALICE, 10, "r", ""]]}])  # fmt: skip
    assert has_privilege(granted, ALICE, object_privs(granted, table.oid, "table"), "r")
    assert not has_privilege(granted, ALICE, object_privs(granted, table.oid, "table"), "a")


def test_createrole_follows_postgresql_16(dsql_server, names) -> None:
    """PostgreSQL 16 (which dsql reports; the reference server is 15): a CREATEROLE role
    gets ADMIN OPTION on the roles it creates, and needs it to put them in other roles."""
    p = names
    _admin(dsql_server, f"CREATE ROLE {p}_mgr CREATEROLE LOGIN", f"CREATE ROLE {p}_other")
    try:
        with psycopg.connect(dsql_server.dsn, user=f"{p}_mgr", autocommit=True) as mgr:
            mgr.execute(f"CREATE ROLE {p}_made")
            assert _sqlstate(mgr, f"CREATE ROLE {p}_in IN ROLE {p}_other") == "42501"
            assert _sqlstate(mgr, f"GRANT {p}_made TO {p}_other") == "ok"
            assert _sqlstate(mgr, f"GRANT {p}_other TO {p}_made") == "42501"
            rows = mgr.execute(
                "SELECT pg_get_userbyid(roleid), pg_get_userbyid(member), admin_option, inherit_option, set_option "
                f"FROM pg_auth_members WHERE pg_get_userbyid(roleid) = '{p}_made' ORDER BY 2"
            ).fetchall()
        assert rows == [
            (f"{p}_made", f"{p}_mgr", True, False, False),
            (f"{p}_made", f"{p}_other", False, True, True),
        ]
    finally:
        _admin(dsql_server, f"DROP ROLE IF EXISTS {p}_made", f"DROP ROLE IF EXISTS {p}_other",
               f"DROP ROLE IF EXISTS {p}_mgr")  # fmt: skip


def test_no_way_around_set_role_rules(pg_server, dsql_server, names) -> None:
    """A login role cannot become a superuser role by SET ROLE, set_config('role'),
    SET SESSION AUTHORIZATION or a startup option; DISCARD ALL resets the identity."""
    p = names
    results = {}
    for label, server in _both(pg_server, dsql_server):
        _admin(server, f"CREATE ROLE {p}_low LOGIN", f"CREATE ROLE {p}_boss SUPERUSER")
        try:
            with psycopg.connect(server.dsn, user=f"{p}_low", autocommit=True) as conn:
                seen = [
                    _sqlstate(conn, f"SELECT set_config('role', '{p}_boss', false)"),
                    _sqlstate(conn, f"SET ROLE {p}_boss"),
                    _sqlstate(conn, f"SET SESSION AUTHORIZATION {p}_boss"),
                    _sqlstate(conn, f"SET ROLE {p}_low"),
                    _sqlstate(conn, "DISCARD ALL"),
                    conn.execute("SELECT current_user, session_user").fetchone(),
                ]
            with pytest.raises(psycopg.OperationalError) as refused:
                psycopg.connect(server.dsn, user=f"{p}_low", options=f"-c role={p}_boss").close()
            seen.append("permission denied to set role" in str(refused.value))
            results[label] = seen
        finally:
            _admin(server, f"DROP ROLE IF EXISTS {p}_low", f"DROP ROLE IF EXISTS {p}_boss")
    low = f"{p}_low"
    assert results["postgres"] == ["42501", "42501", "42501", "ok", "ok", (low, low), True]
    assert results["dsql"] == results["postgres"]


def test_is_superuser_follows_the_current_user(pg_server, dsql_server, names) -> None:
    """`is_superuser` (a reported setting) says whether the current role is a superuser."""
    p = names
    results = {}
    for label, server in _both(pg_server, dsql_server):
        _admin(server, f"CREATE ROLE {p}_plain LOGIN")
        try:
            with psycopg.connect(server.dsn, autocommit=True) as conn:
                seen = [conn.execute("SHOW is_superuser").fetchone()[0]]
                conn.execute(f"SET ROLE {p}_plain")
                seen += [
                    conn.execute("SHOW is_superuser").fetchone()[0],
                    conn.info.parameter_status("is_superuser"),
                ]
                conn.execute("RESET ROLE")
                seen.append(conn.execute("SHOW is_superuser").fetchone()[0])
            with psycopg.connect(server.dsn, user=f"{p}_plain") as conn:
                seen.append(conn.info.parameter_status("is_superuser"))
            results[label] = seen
        finally:
            _admin(server, f"DROP ROLE IF EXISTS {p}_plain")
    assert results["postgres"] == ["on", "off", "off", "on", "off"]
    assert results["dsql"] == results["postgres"]
