"""Authentication and TLS: SCRAM-SHA-256, roles and passwords, TLS with a self-signed certificate.

The server under test runs `--auth scram-sha-256 --tls-self-signed` with a
password for `admin`; clients are the real ones (psql, asyncpg, psycopg). A
verifier made by a real PostgreSQL logs in here, and one made here logs in
there, so passwords move between the two either way.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psycopg
import pytest

from bench.servers import DsqlServer, ServerError
from qp.frontend import scram

PASSWORD = "s3cret pass"
TLS_SERVER_ARGS = ["--auth", "scram-sha-256", "--tls-self-signed"]


# -- SCRAM without a server -------------------------------------------------------------------------------


def test_scram_exchange_replays_rfc7677_vector() -> None:
    """RFC 7677 §3: user "user", password "pencil"; our server half gives the RFC's server signature."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    verifier = scram.parse_verifier(scram.make_verifier("pencil", salt=salt, iterations=4096))
    exchange = scram.ScramExchange("user", verifier, mock_secret=b"x",
                                   server_nonce="%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    first = exchange.client_first("SCRAM-SHA-256", b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    assert first == b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    final = exchange.client_final(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert final == b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_scram_exchange_refuses_a_wrong_proof_and_malformed_messages() -> None:
    verifier = scram.parse_verifier(scram.make_verifier("pencil"))
    exchange = scram.ScramExchange("user", verifier, mock_secret=b"x")
    server_first = exchange.client_first("SCRAM-SHA-256", b"n,,n=,r=abc").decode()
    nonce = server_first.split(",")[0][2:]
    with pytest.raises(scram.ScramError) as wrong:
        exchange.client_final(f"c=biws,r={nonce},p={base64.b64encode(bytes(32)).decode()}".encode())
    assert wrong.value.sqlstate == "28P01"
    for mechanism, message in [("SCRAM-SHA-1", b"n,,n=,r=abc"), ("SCRAM-SHA-256", b"x,,n=,r=abc"),
                               ("SCRAM-SHA-256", b"n,,r=abc"), ("SCRAM-SHA-256", b"\xff\xfe"),
                               ("SCRAM-SHA-256", b"p=tls-server-end-point,,n=,r=a"),
                               ("SCRAM-SHA-256", b"n,a=someone,n=,r=abc")]:
        with pytest.raises(scram.ScramError) as bad:
            scram.ScramExchange("user", verifier, mock_secret=b"x").client_first(mechanism, message)
        assert bad.value.sqlstate in ("08P01", "0A000"), (mechanism, message)
    replay = scram.ScramExchange("user", verifier, mock_secret=b"x")
    replay.client_first("SCRAM-SHA-256", b"n,,n=,r=abc")
    with pytest.raises(scram.ScramError) as replayed:
        replay.client_final(b"c=biws,r=abcWRONG,p=" + base64.b64encode(bytes(32)))
    assert replayed.value.detail == "Nonce does not match."


def test_missing_user_gets_a_stable_salt_and_fails_like_a_wrong_password() -> None:
    first = scram.ScramExchange("ghost", None, mock_secret=b"k").client_first("SCRAM-SHA-256", b"n,,n=,r=a")
    again = scram.ScramExchange("ghost", None, mock_secret=b"k").client_first("SCRAM-SHA-256", b"n,,n=,r=a")
    salt = lambda message: message.split(b",")[1]  # noqa: E731
    assert salt(first) == salt(again)


def test_saslprep_maps_spaces_and_keeps_ascii() -> None:
    assert scram.saslprep("pencil") == "pencil"
    assert scram.saslprep("I\u00adX") == "IX"  # soft hyphen maps to nothing
    assert scram.saslprep("a\u00a0b") == "a b"  # no-break space maps to space
    assert scram.saslprep("\u2168") == "IX"  # NFKC
    assert scram.saslprep("a\u0007") == "a\u0007"  # prohibited: used as given, as PostgreSQL does


# -- a server with SCRAM and TLS --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DsqlServer]:
    base = tmp_path_factory.mktemp("dsql-secure")
    (base / "password").write_text(PASSWORD + "\n")
    server = DsqlServer(base / "data", log_path=base / "dsql.log", user="admin", password=PASSWORD,
                        extra_args=[*TLS_SERVER_ARGS, "--password-file", str(base / "password")])
    try:
        server.start()
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


def _cert(server: DsqlServer) -> Path:
    return server.data_dir / "tls" / "server.crt"


def _conninfo(server: DsqlServer, user: str, password: str | None, **extra: str) -> str:
    parts = {"host": "localhost", "port": str(server.port), "user": user, "dbname": "postgres", **extra}
    if password is not None:
        parts["password"] = password
    return " ".join(f"{k}='{v}'" for k, v in parts.items())


def _psql(conninfo: str, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["psql", "-X", "-A", "-t", "-w", conninfo, "-c", sql],
                          capture_output=True, text=True, timeout=60)


def _admin(server: DsqlServer, sql: str) -> None:
    with psycopg.connect(_conninfo(server, "admin", PASSWORD), autocommit=True) as conn:
        conn.execute(sql)


def _no_verify() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_psql_over_tls_with_scram_and_channel_binding(secure_server: DsqlServer) -> None:
    for mode in ("sslmode=require channel_binding=require", "sslmode=disable", "sslmode=prefer"):
        options = dict(pair.split("=") for pair in mode.split())
        done = _psql(_conninfo(secure_server, "admin", PASSWORD, **options), "select current_user")
        assert done.returncode == 0 and done.stdout.strip() == "admin", (mode, done.stderr)


def test_verify_full_against_the_self_signed_certificate(secure_server: DsqlServer) -> None:
    conninfo = _conninfo(secure_server, "admin", PASSWORD, sslmode="verify-full", sslrootcert=str(_cert(secure_server)))
    done = _psql(conninfo, "select 42")
    assert done.returncode == 0 and done.stdout.strip() == "42", done.stderr
    with psycopg.connect(conninfo) as conn:
        assert conn.pgconn.ssl_in_use
    info = subprocess.run(["psql", "-X", "-w", conninfo, "-c", r"\conninfo"], capture_output=True, text=True,
                          timeout=60)
    assert "SSL connection (protocol: TLSv1.3" in info.stdout, info.stdout + info.stderr


def _asyncpg(port: int, user: str, password: str, ssl_mode: object = False) -> str:
    """'ok <current_user>' or the SQLSTATE asyncpg's connect failed with."""

    async def attempt() -> str:
        try:
            conn = await asyncpg.connect(host="127.0.0.1", port=port, user=user, password=password,
                                         database="postgres", ssl=ssl_mode)
        except asyncpg.PostgresError as exc:
            return exc.sqlstate
        try:
            return "ok " + await conn.fetchval("select current_user")
        finally:
            await conn.close()

    return asyncio.run(attempt())


def test_wrong_password_and_unknown_user_are_refused_with_28p01(secure_server: DsqlServer) -> None:
    for user, password in [("admin", "wrong"), ("nobody", PASSWORD)]:
        done = _psql(_conninfo(secure_server, user, password, sslmode="disable"), "select 1")
        assert done.returncode != 0
        assert f'password authentication failed for user "{user}"' in done.stderr, done.stderr
        assert _asyncpg(secure_server.port, user, password) == "28P01"
        assert _asyncpg(secure_server.port, user, password, _no_verify()) == "28P01"
    assert _asyncpg(secure_server.port, "admin", PASSWORD) == "ok admin"
    assert _asyncpg(secure_server.port, "admin", PASSWORD, _no_verify()) == "ok admin"


def test_roles_created_altered_and_dropped_with_sql(secure_server: DsqlServer) -> None:
    port = secure_server.port
    _admin(secure_server, "CREATE ROLE sec_alice WITH LOGIN PASSWORD 'wonder land'")
    _admin(secure_server, "CREATE ROLE sec_carol NOLOGIN PASSWORD 'x'")
    try:
        assert _asyncpg(port, "sec_alice", "wonder land") == "ok sec_alice"
        with psycopg.connect(_conninfo(secure_server, "sec_alice", "wonder land", sslmode="require")) as conn:
            assert conn.pgconn.ssl_in_use
            assert conn.execute("select current_user, session_user").fetchone() == ("sec_alice", "sec_alice")
        assert _asyncpg(port, "sec_carol", "x") == "28000"  # authenticated, but may not log in
        # A role changes its own password; the old one stops working at once.
        with psycopg.connect(_conninfo(secure_server, "sec_alice", "wonder land"), autocommit=True) as conn:
            conn.execute("ALTER ROLE sec_alice PASSWORD 'looking glass'")
        assert _asyncpg(port, "sec_alice", "wonder land") == "28P01"
        assert _asyncpg(port, "sec_alice", "looking glass") == "ok sec_alice"
        _admin(secure_server, "ALTER ROLE sec_alice RENAME TO sec_alicia")
        assert _asyncpg(port, "sec_alicia", "looking glass") == "ok sec_alicia"
        _admin(secure_server, "ALTER ROLE sec_alicia VALID UNTIL '2001-01-01'")
        assert _asyncpg(port, "sec_alicia", "looking glass") == "28P01"  # the password expired
        _admin(secure_server, "ALTER ROLE sec_alicia VALID UNTIL 'infinity'")
        assert _asyncpg(port, "sec_alicia", "looking glass") == "ok sec_alicia"
        _admin(secure_server, "ALTER ROLE sec_alicia PASSWORD NULL")
        assert _asyncpg(port, "sec_alicia", "looking glass") == "28P01"
    finally:
        _admin(secure_server, "DROP ROLE IF EXISTS sec_alice, sec_alicia, sec_carol")
    assert _asyncpg(port, "sec_alicia", "looking glass") == "28P01"


def test_role_statements_follow_postgresql_rules(secure_server: DsqlServer) -> None:
    _admin(secure_server, "CREATE USER sec_dave PASSWORD 'pw'")
    try:
        with psycopg.connect(_conninfo(secure_server, "sec_dave", "pw"), autocommit=True) as dave:
            for sql, sqlstate in [
                ("CREATE ROLE sec_eve", "42501"),  # no CREATEROLE
                ("ALTER ROLE admin PASSWORD 'mine'", "42501"),
                ("ALTER ROLE sec_dave SUPERUSER", "42501"),
                ("DROP ROLE admin", "42501"),
            ]:
                with pytest.raises(psycopg.Error) as refused:
                    dave.execute(sql)
                assert refused.value.sqlstate == sqlstate, sql
        with psycopg.connect(_conninfo(secure_server, "admin", PASSWORD), autocommit=True) as admin:
            for sql, sqlstate in [
                ("CREATE ROLE sec_dave", "42710"),
                ("CREATE ROLE admin", "42710"),
                ("CREATE ROLE pg_sec", "42939"),
                ("ALTER ROLE sec_nobody PASSWORD 'x'", "42704"),
                ("DROP ROLE sec_nobody", "42704"),
                ("DROP ROLE admin", "55006"),
                ("ALTER ROLE admin RENAME TO boss", "0A000"),
                ("ALTER ROLE admin NOLOGIN", "0A000"),
                ("ALTER ROLE sec_dave PASSWORD 'md5" + "0" * 32 + "'", "0A000"),
                ("ALTER ROLE sec_dave PASSWORD 'SCRAM-SHA-256$broken'", "22023"),
                ("CREATE ROLE sec_frank IN ROLE sec_nobody", "42704"),
                ("ALTER ROLE sec_dave SET search_path = x", "0A000"),
                ("GRANT SELECT ON pg_class TO sec_dave", "0A000"),  # system catalogs keep their ACLs
                ("CREATE ROLE sec_g LOGIN NOLOGIN", "42601"),
            ]:
                with pytest.raises(psycopg.Error) as refused:
                    admin.execute(sql)
                assert refused.value.sqlstate == sqlstate, sql
            rows = admin.execute(
                "select rolname, rolcanlogin, rolsuper, rolcreaterole from pg_roles "
                "where rolname in ('admin', 'sec_dave') order by 1"
            ).fetchall()
            assert rows == [("admin", True, True, True), ("sec_dave", True, False, False)]
            with admin.transaction():  # one DDL per transaction, as for every DDL
                admin.execute("CREATE ROLE sec_h")
                with pytest.raises(psycopg.Error) as second:
                    admin.execute("CREATE ROLE sec_i")
                assert second.value.sqlstate == "0A000"
                raise psycopg.Rollback()
            assert admin.execute("select count(*) from pg_roles where rolname like 'sec_h%'").fetchone() == (0,)
    finally:
        _admin(secure_server, "DROP ROLE IF EXISTS sec_dave")


def test_connection_limit_of_a_role(secure_server: DsqlServer) -> None:
    _admin(secure_server, "CREATE ROLE sec_lim LOGIN PASSWORD 'pw' CONNECTION LIMIT 1")
    try:
        with psycopg.connect(_conninfo(secure_server, "sec_lim", "pw")):
            assert _asyncpg(secure_server.port, "sec_lim", "pw") == "53300"
        assert _asyncpg(secure_server.port, "sec_lim", "pw") == "ok sec_lim"
    finally:
        _admin(secure_server, "DROP ROLE sec_lim")


def test_du_lists_created_roles(secure_server: DsqlServer) -> None:
    _admin(secure_server, "CREATE ROLE sec_listed CREATEDB")
    try:
        done = subprocess.run(["psql", "-X", "-w", _conninfo(secure_server, "admin", PASSWORD), "-c", r"\du"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        lines = {line.split("|")[0].strip(): line for line in done.stdout.splitlines() if "|" in line}
        assert "Superuser" in lines["admin"]
        assert "Create DB" in lines["sec_listed"] and "Cannot login" in lines["sec_listed"]
    finally:
        _admin(secure_server, "DROP ROLE sec_listed")


def test_passwords_move_between_postgresql_and_dsql(secure_server: DsqlServer, pg_server) -> None:
    """A verifier PostgreSQL made logs in here; one made here logs in to PostgreSQL."""
    with psycopg.connect(pg_server.dsn, autocommit=True) as pg:
        pg.execute("SET password_encryption = 'scram-sha-256'")
        pg.execute("DROP ROLE IF EXISTS sec_moved")
        pg.execute("CREATE ROLE sec_moved LOGIN PASSWORD 'from postgres'")
        verifier = pg.execute("select rolpassword from pg_authid where rolname = 'sec_moved'").fetchone()[0]
        assert verifier.startswith("SCRAM-SHA-256$")
        _admin(secure_server, f"CREATE ROLE sec_moved LOGIN PASSWORD '{verifier}'")
        try:
            assert _asyncpg(secure_server.port, "sec_moved", "from postgres") == "ok sec_moved"
            _admin(secure_server, "ALTER ROLE sec_moved PASSWORD 'from dsql'")
            with psycopg.connect(_conninfo(secure_server, "admin", PASSWORD)) as conn:
                ours = conn.execute("select rolpassword from pg_authid where rolname = 'sec_moved'").fetchone()[0]
            assert ours.startswith("SCRAM-SHA-256$4096:")
            pg.execute(f"ALTER ROLE sec_moved PASSWORD '{ours}'")
            stored = pg.execute("select rolpassword from pg_authid where rolname = 'sec_moved'").fetchone()[0]
            assert stored == ours  # PostgreSQL kept our verifier as it is
        finally:
            pg.execute("DROP ROLE IF EXISTS sec_moved")
            _admin(secure_server, "DROP ROLE IF EXISTS sec_moved")


def test_non_superusers_do_not_see_verifiers(secure_server: DsqlServer) -> None:
    _admin(secure_server, "CREATE ROLE sec_peek LOGIN PASSWORD 'pw'")
    try:
        with psycopg.connect(_conninfo(secure_server, "sec_peek", "pw")) as conn:
            rows = conn.execute("select rolname, rolpassword from pg_authid where rolpassword is not null").fetchall()
        assert rows == []
    finally:
        _admin(secure_server, "DROP ROLE sec_peek")


def _startup(user: str) -> bytes:
    body = struct.pack("!i", 196608) + b"user\0" + user.encode() + b"\0database\0postgres\0\0"
    return struct.pack("!i", len(body) + 4) + body


def _read_messages(sock: socket.socket) -> list[tuple[bytes, bytes]]:
    """Every message until the server stops sending (or closes)."""
    data = b""
    sock.settimeout(2)
    try:
        while chunk := sock.recv(65536):
            data += chunk
            if data[:1] == b"R" and len(data) >= 5 and len(data) >= 1 + struct.unpack("!i", data[1:5])[0]:
                break  # an authentication request: the server now waits for us
    except TimeoutError:
        pass
    messages = []
    while len(data) >= 5:
        length = struct.unpack("!i", data[1:5])[0]
        messages.append((data[:1], data[5:1 + length]))
        data = data[1 + length:]
    return messages


@pytest.mark.parametrize("answer", [
    b"p" + struct.pack("!i", 4 + 12 + 4) + b"SCRAM-SHA-1\0" + struct.pack("!i", -1),
    b"p" + struct.pack("!i", 4 + 14 + 4 + 4) + b"SCRAM-SHA-256\0" + struct.pack("!i", 4) + b"junk",
    b"p" + struct.pack("!i", 4 + 3) + b"abc",  # a mechanism name without its terminator
    b"Q" + struct.pack("!i", 4 + 9) + b"select 1\0",  # not a password message at all
])
def test_malformed_sasl_messages_are_refused_and_the_server_carries_on(secure_server: DsqlServer,
                                                                      answer: bytes) -> None:
    with socket.create_connection(("127.0.0.1", secure_server.port)) as sock:
        sock.sendall(_startup("admin"))
        request = _read_messages(sock)
        assert request and request[0][0] == b"R" and struct.unpack("!i", request[0][1][:4])[0] == 10
        sock.sendall(answer)
        reply = _read_messages(sock)
    assert reply and reply[0][0] == b"E", reply
    fields = dict((f[:1], f[1:]) for f in reply[0][1].split(b"\0") if f)
    assert fields[b"S"] == b"FATAL" and fields[b"C"] in (b"08P01", b"28P01", b"28000"), fields
    assert _asyncpg(secure_server.port, "admin", PASSWORD) == "ok admin"


def test_plaintext_after_ssl_request_is_refused(secure_server: DsqlServer) -> None:
    """Bytes sent before the S answer could not have been encrypted: a man in the middle's (CVE-2021-23214)."""
    with socket.create_connection(("127.0.0.1", secure_server.port)) as sock:
        sock.sendall(struct.pack("!ii", 8, 80877103) + _startup("admin"))
        sock.settimeout(5)
        assert sock.recv(1) == b"S"
        rest = sock.recv(4096)
    assert b"received unencrypted data after SSL request" in rest


def test_require_tls_refuses_plaintext_clients(start_dsql, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(PASSWORD)
    server = start_dsql(extra_args=[*TLS_SERVER_ARGS, "--require-tls", "--password-file", str(tmp_path / "pw")],
                        user="admin", password=PASSWORD)
    plain = _psql(_conninfo(server, "admin", PASSWORD, sslmode="disable"), "select 1")
    assert plain.returncode != 0 and "no pg_hba.conf entry" in plain.stderr and "no encryption" in plain.stderr
    assert _asyncpg(server.port, "admin", PASSWORD) == "28000"
    encrypted = _psql(_conninfo(server, "admin", PASSWORD, sslmode="require"), "select 1")
    assert encrypted.returncode == 0, encrypted.stderr


def test_trust_server_with_tls_and_roles_surviving_a_restart(start_dsql) -> None:
    server = start_dsql(extra_args=["--tls-self-signed"])
    cert = _cert(server).read_bytes()
    assert _asyncpg(server.port, "anyone", "ignored", _no_verify()) == "ok anyone"  # trust: any name
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("CREATE ROLE sec_kept LOGIN PASSWORD 'pw'")
        conn.execute("CREATE ROLE sec_locked NOLOGIN")
    assert _asyncpg(server.port, "sec_locked", "") == "28000"  # trust still checks LOGIN
    server.restart()
    assert _cert(server).read_bytes() == cert  # the certificate is reused, so pinned clients keep working
    with psycopg.connect(server.dsn) as conn:
        assert conn.execute("select rolcanlogin from pg_roles where rolname = 'sec_kept'").fetchone() == (True,)


def test_serve_refuses_impossible_security_settings(tmp_path: Path) -> None:
    for args, message in [
        (["--require-tls"], "--require-tls needs a certificate"),
        (["--tls-cert", str(tmp_path / "missing.crt")], "--tls-cert and --tls-key go together"),
        (["--tls-cert", str(tmp_path / "a"), "--tls-key", str(tmp_path / "b")], "cannot load TLS certificate"),
        (["--password-file", str(tmp_path / "absent")], "cannot read --password-file"),
    ]:
        done = subprocess.run([sys.executable, "-m", "assembly.cli", "serve", "--memory", "--port", "0",
                               "--dynamodb-port", "0", "--dynamo-port", "0", *args], capture_output=True, text=True, timeout=60,
                              cwd=Path(__file__).resolve().parent.parent)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
