"""Start and stop the two servers the tests and benchmarks talk to.

``PostgresServer`` is the reference: a throwaway PostgreSQL cluster made with
initdb in a temporary directory, listening on a free port of 127.0.0.1. initdb
refuses to run as root, so under root every PostgreSQL binary runs as the
``postgres`` OS user (created by Debian's package), or ``nobody`` if that user
does not exist.

``DsqlServer`` is the server under test, ``dsql serve`` run as a subprocess
with its own data directory and a log file. It can be stopped (SIGINT, then
SIGKILL after a grace period), killed (SIGKILL, as a crash) and restarted on the
same data directory and port, which is what the durability tests need.

``ExternalServer`` stands for a server someone already runs (``DSQL_EXTERNAL_DSN``),
for debugging the server under a debugger or pointing the tests elsewhere.

Failures raise ``ServerError`` with the server's log attached; the fixtures turn
that into a test failure (never a skip: a missing server is a broken setup).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo

REPO_ROOT = Path(__file__).resolve().parents[1]

DSQL_STARTUP_TIMEOUT_S = 30.0  # the embedded cluster (journal replicas, shards) must be up by then
DSQL_STOP_GRACE_S = 15.0  # time to shut down cleanly after SIGINT before SIGKILL
PG_START_TIMEOUT_S = 60
LOG_TAIL_CHARS = 6000


class ServerError(RuntimeError):
    """A server could not be found, started or stopped."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the usual small race is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_accepts_postgres(
    host: str, port: int, user: str, dbname: str, timeout_s: float = 3.0, password: str | None = None
) -> str | None:
    """None if a PostgreSQL session can be opened on host:port, else why not."""
    conninfo = make_conninfo(
        host=host,
        port=port,
        user=user,
        dbname=dbname,
        sslmode="prefer",  # so that a server that requires TLS is seen as up too
        connect_timeout=max(2, int(timeout_s)),
        **({"password": password} if password is not None else {}),
    )
    pgconn = pq.PGconn.connect(conninfo.encode())
    try:
        if pgconn.status == pq.ConnStatus.OK:
            return None
        return pgconn.get_error_message().strip() or "connection failed"
    finally:
        pgconn.finish()


def port_answers_http(host: str, port: int, timeout_s: float = 3.0, path: str = "/") -> str | None:
    """None if ``GET path`` on host:port answers 200 (``/``: the DynamoDB endpoint's health
    check; ``/ping``: Dynamo's), else why not."""
    import http.client

    connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        status = connection.getresponse().status
        return None if status == 200 else f"GET {path} answered {status}"
    except OSError as exc:
        return str(exc) or type(exc).__name__
    finally:
        connection.close()


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    if len(text) > LOG_TAIL_CHARS:
        text = "...\n" + text[-LOG_TAIL_CHARS:]
    return text


def _dsn(host: str, port: int, user: str, dbname: str, password: str | None = None) -> str:
    from urllib.parse import quote

    who = user if password is None else f"{quote(user, safe='')}:{quote(password, safe='')}"
    return f"postgresql://{who}@{host}:{port}/{dbname}?sslmode=disable"


class _Endpoint:
    host: str
    port: int
    user: str = "postgres"
    dbname: str = "postgres"
    password: str | None = None

    @property
    def dsn(self) -> str:
        """A libpq/asyncpg/psycopg URL (SSL off; ``SSLRequest`` has its own test)."""
        return _dsn(self.host, self.port, self.user, self.dbname, self.password)

    def psql_args(self) -> list[str]:
        return ["-h", self.host, "-p", str(self.port), "-U", self.user, "-d", self.dbname]


# -- PostgreSQL ---------------------------------------------------------------------------------------------


def find_postgres_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<ver>/bin with initdb, else the directory of initdb on PATH."""
    candidates = []
    for bin_dir in Path("/usr/lib/postgresql").glob("*/bin"):
        if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
            try:
                version = float(bin_dir.parent.name)
            except ValueError:
                continue
            candidates.append((version, bin_dir))
    if candidates:
        return max(candidates)[1]
    initdb = shutil.which("initdb")
    if initdb:
        bin_dir = Path(initdb).resolve().parent
        if (bin_dir / "pg_ctl").exists():
            return bin_dir
    raise ServerError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or on PATH. "
        "The reference PostgreSQL is required: install it (Debian: apt-get install postgresql; "
        ".ci/run does this on CI)."
    )


def _os_user_for_postgres() -> str | None:
    """The user to run PostgreSQL as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise ServerError("running as root and neither the 'postgres' nor the 'nobody' OS user exists")


def _as_user(user: str | None, argv: list[str]) -> list[str]:
    if user is None:
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--", *argv]
    return ["su", user, "-s", "/bin/sh", "-c", shlex.join(argv)]


class PostgresServer(_Endpoint):
    """A temporary PostgreSQL cluster; ``start()`` then ``stop()`` (which deletes it).

    ``durable=True`` keeps PostgreSQL's crash-safety settings (fsync, synchronous
    commit), which is what a benchmark against dsql must compare with; the
    tests' reference runs without them.
    """

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.host = "127.0.0.1"
        self.port = 0
        self.bin_dir = find_postgres_bin_dir()
        self.os_user = _os_user_for_postgres()
        self.base_dir: Path | None = None
        self.version = ""

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "postgres.log"

    def _run(self, argv: list[str], timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _as_user(self.os_user, argv),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=self.base_dir,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        )

    def start(self) -> None:
        # /tmp, not pytest's tmp_path: pytest's base directory is private to root and the
        # postgres user must be able to reach its data directory (and the short path keeps
        # the unix socket under its 107-byte limit).
        self.base_dir = Path(tempfile.mkdtemp(prefix="dsql-pgref-"))
        if self.os_user is not None:
            entry = pwd.getpwnam(self.os_user)
            os.chown(self.base_dir, entry.pw_uid, entry.pw_gid)
        initdb = self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D", str(self.data_dir),
                "-E", "UTF8",
                "--locale=C",
                "-A", "trust",
                "-U", "postgres",
                "--no-sync",
            ]
        )  # fmt: skip
        if initdb.returncode != 0:
            raise ServerError(f"initdb failed ({initdb.returncode}):\n{initdb.stdout}\n{initdb.stderr}")
        version = self._run([str(self.bin_dir / "postgres"), "--version"])
        self.version = version.stdout.strip()
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between choosing and binding it
            self.port = free_port(self.host)
            self._write_config()
            started = self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D", str(self.data_dir),
                    "-l", str(self.log_path),
                    "-w", "-t", str(PG_START_TIMEOUT_S),
                    "start",
                ],
                timeout_s=PG_START_TIMEOUT_S + 30,
            )  # fmt: skip
            if started.returncode == 0:
                break
            last_error = f"{started.stdout}\n{started.stderr}\n{_tail(self.log_path)}"
        else:
            raise ServerError(f"PostgreSQL did not start:\n{last_error}")
        deadline = time.monotonic() + PG_START_TIMEOUT_S
        while (why := port_accepts_postgres(self.host, self.port, self.user, self.dbname)) is not None:
            if time.monotonic() > deadline:
                raise ServerError(f"PostgreSQL does not accept connections: {why}\n{_tail(self.log_path)}")
            time.sleep(0.1)

    def _write_config(self) -> None:
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.base_dir}'",
            # The tests' reference is not a database of record: durability buys
            # nothing there. Benchmarks keep it (durable=True).
            "fsync": "on" if self.durable else "off",
            "synchronous_commit": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
            # The same environment as dsql: UTC, ISO dates, English messages.
            "timezone": "'UTC'",
            "log_timezone": "'UTC'",
            "datestyle": "'iso, mdy'",
            "lc_messages": "'C'",
            "max_connections": "200",
        }
        auto_conf = self.data_dir / "postgresql.auto.conf"
        lines = [f"{key} = {value}\n" for key, value in settings.items()]
        # Written through the postgres user so ownership stays right.
        script = "cat > " + shlex.quote(str(auto_conf))
        done = subprocess.run(
            _as_user(self.os_user, ["sh", "-c", script]), input="".join(lines), text=True, capture_output=True
        )
        if done.returncode != 0:
            raise ServerError(f"cannot write {auto_conf}: {done.stderr}")

    def stop(self) -> None:
        if self.base_dir is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                stopped = self._run(
                    [
                        str(self.bin_dir / "pg_ctl"),
                        "-D",
                        str(self.data_dir),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        "60",
                        "stop",
                    ],
                    timeout_s=90,
                )
                if stopped.returncode != 0:
                    self._kill_postmaster()
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def _kill_postmaster(self) -> None:
        """Last resort: SIGKILL the postmaster we started, by the pid it recorded."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)


# -- dsql ---------------------------------------------------------------------------------------------------


def dsql_command() -> list[str]:
    """How to run the dsql CLI: ``python -m assembly.cli`` if importable, else the venv's ``dsql`` script."""
    if importlib.util.find_spec("assembly.cli") is not None:
        return [sys.executable, "-m", "assembly.cli"]
    script = REPO_ROOT / ".venv" / "bin" / "dsql"
    if script.exists():
        return [str(script)]
    # Neither exists yet: run the module anyway so the failure shows Python's own message.
    return [sys.executable, "-m", "assembly.cli"]


class DsqlServer(_Endpoint):
    """``dsql serve`` as a subprocess with its own data directory.

    ``start()`` returns once the port accepts a PostgreSQL session; ``stop()`` sends SIGINT and
    escalates to SIGKILL; ``kill()`` is SIGKILL at once (a crash); ``restart()`` starts again on
    the same data directory and port. Output goes to ``log_path`` (appended across restarts).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        log_path: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra_args: tuple[str, ...] | list[str] = (),
        startup_timeout_s: float = DSQL_STARTUP_TIMEOUT_S,
        dynamodb_port: int | None = None,
        dynamo_port: int | None = None,
        user: str = "postgres",
        password: str | None = None,
    ) -> None:
        """`user`/`password`: whom to connect as (a server started with --auth scram-sha-256
        and a password for `admin` needs both)."""
        self.data_dir = Path(data_dir)
        self.user = user
        self.password = password
        # The DynamoDB endpoint is off unless asked for (its default port, 8000,
        # would collide between servers that tests run side by side); 0 picks a
        # free port at start.
        self.dynamodb_port = dynamodb_port
        self.dynamo_port = dynamo_port  # Dynamo's Riak HTTP endpoint: off unless asked for, likewise
        self.host = host
        self.port = port or 0
        self.extra_args = tuple(extra_args)
        self.startup_timeout_s = startup_timeout_s
        self.log_path = Path(log_path) if log_path else self.data_dir.parent / f"{self.data_dir.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def argv(self) -> list[str]:
        return [
            *dsql_command(),
            "serve",
            "--host", self.host,
            "--port", str(self.port),
            "--data-dir", str(self.data_dir),
            "--dynamodb-port", str(self.dynamodb_port or 0),
            "--dynamo-port", str(self.dynamo_port or 0),
            *self.extra_args,
        ]  # fmt: skip

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def dynamodb_url(self) -> str:
        """``http://host:port`` of the DynamoDB endpoint (started with ``dynamodb_port``)."""
        assert self.dynamodb_port, "started without a DynamoDB endpoint"
        return f"http://{self.host}:{self.dynamodb_port}"

    @property
    def dynamo_url(self) -> str:
        """``http://host:port`` of the Dynamo (Riak HTTP) endpoint (started with ``dynamo_port``)."""
        assert self.dynamo_port, "started without a Dynamo endpoint"
        return f"http://{self.host}:{self.dynamo_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def log_tail(self) -> str:
        return _tail(self.log_path)

    def start(self) -> DsqlServer:
        assert not self.running, "already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port(self.host)
        if self.dynamodb_port == 0:
            self.dynamodb_port = free_port(self.host)
        if self.dynamo_port == 0:
            self.dynamo_port = free_port(self.host)
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start #{self.starts}: {shlex.join(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                # Its own process group: a ^C in the terminal does not reach it, and stop/kill
                # can signal the group it leads (any helper processes it spawns).
                start_new_session=True,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        why = "not tried"
        while True:
            assert self.proc is not None
            code = self.proc.poll()
            if code is not None:
                raise ServerError(
                    f"dsql exited with code {code} during startup.\ncommand: {shlex.join(self.argv)}\n"
                    f"log ({self.log_path}):\n{self.log_tail()}"
                )
            why = port_accepts_postgres(self.host, self.port, self.user, self.dbname, password=self.password) or ""
            if not why and self.dynamodb_port:
                why = port_answers_http(self.host, self.dynamodb_port) or ""
            if not why and self.dynamo_port:
                why = port_answers_http(self.host, self.dynamo_port, path="/ping") or ""
            if not why:
                return
            if time.monotonic() > deadline:
                self.kill()
                raise ServerError(
                    f"dsql did not accept a PostgreSQL connection on {self.host}:{self.port} within "
                    f"{self.startup_timeout_s:.0f} s (last error: {why}).\ncommand: {shlex.join(self.argv)}\n"
                    f"log ({self.log_path}):\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, grace_s: float = DSQL_STOP_GRACE_S) -> int | None:
        """SIGINT, wait up to ``grace_s``, then SIGKILL. Returns the exit code (None if it was not running)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=30)
        return self.proc.returncode

    def kill(self) -> int | None:
        """SIGKILL now, as a crash would."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        return self.proc.returncode

    def restart(self, *, kill: bool = False) -> DsqlServer:
        """Stop (or kill) if running, then start again on the same data directory and port."""
        if self.running:
            self.kill() if kill else self.stop()
        return self.start()


class ExternalServer(_Endpoint):
    """A server started by someone else, named by a DSN; it cannot be stopped or restarted."""

    def __init__(self, dsn: str) -> None:
        params = conninfo_to_dict(dsn)
        self.host = str(params.get("host", "127.0.0.1"))
        self.port = int(params.get("port", 5432))
        self.user = str(params.get("user", "postgres"))
        self.dbname = str(params.get("dbname", "postgres"))
        self.log_path = None
        self.data_dir = None

    def log_tail(self) -> str:
        return "(external server: no log)"

    @property
    def running(self) -> bool:
        return port_accepts_postgres(self.host, self.port, self.user, self.dbname) is None


# -- measuring a running server ------------------------------------------------------------------

_METRIC_SAMPLE = re.compile(r'^(dsql_\w+)\{([^}]*)\} ([0-9.e+-]+)$', re.MULTILINE)


def process_cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process has used (Linux /proc; 0 if it is gone): a server's
    CPU per operation over a run is steadier than its throughput on a shared machine."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are fields 14 and 15 of /proc/pid/stat (12 and 13 after the name).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape_metrics(metrics_url: str) -> dict[tuple[str, str], float]:
    """A dsql server's labelled Prometheus samples: (name, labels) -> value."""
    with urllib.request.urlopen(metrics_url, timeout=10) as reply:
        text = reply.read().decode()
    return {(name, labels): float(value) for name, labels, value in _METRIC_SAMPLE.findall(text)}
