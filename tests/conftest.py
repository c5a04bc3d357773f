"""Fixtures shared by dsql's integration tests.

Servers
    ``pg_server`` (session): a real PostgreSQL, initdb'd into a temporary directory and
    started on a free port; the reference for differential tests. Fails (never skips)
    when PostgreSQL is not installed.
    ``dsql_server`` (session): ``dsql serve`` on a free port with a temporary data
    directory; its log is kept beside the data directory (``dsql_server.log_path``).
    Set ``DSQL_EXTERNAL_DSN`` to test a server you started yourself instead.
    ``start_dsql`` (function): a factory ``start_dsql(data_dir=None, extra_args=())`` for
    tests that stop, kill or restart the server; every server it starts is stopped at the
    end of the test.

    Both server handles have ``host``, ``port``, ``user``, ``dbname`` and ``dsn`` (a
    ``postgresql://`` URL usable by psycopg, asyncpg and psql).

Sessions and names
    ``pg_session`` / ``dsql_session``: a ``support.pgsession.Session`` on each server.
    ``table_name``: a table name unique to the test; ``names``: a factory for more.
    dsql has one database and one schema, so tests share them and must name their tables
    uniquely and drop them at the end.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The helpers live in tests/support; make them importable however pytest imports this file.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from support import report  # noqa: E402
from support import report as _summary  # noqa: E402 (hooks below name their argument `report`)
from support.names import unique_name  # noqa: E402
from support.pgsession import Session  # noqa: E402
from support.schedule import (  # noqa: E402
    LongestFirstScheduling,
    check_units,
    fail_if_misplaced,
    load_durations,
    order_for_workers,
)

from bench.servers import DsqlServer, ExternalServer, PostgresServer, ServerError  # noqa: E402


def _start(server: DsqlServer) -> str | None:
    """Start a dsql server; the error text if it fails (raised outside ``except`` to keep it short)."""
    try:
        server.start()
    except ServerError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """The reference PostgreSQL (UTC, ISO dates, C locale, UTF-8, trust auth, user/db ``postgres``)."""
    error = None
    server: PostgresServer | None = None
    try:
        server = PostgresServer()
        server.start()
    except ServerError as exc:
        error = str(exc)
    if error is not None or server is None:
        if server is not None:
            server.stop()
        pytest.fail(error or "PostgreSQL did not start", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dsql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DsqlServer | ExternalServer]:
    """The server under test, shared by the whole session."""
    external = os.environ.get("DSQL_EXTERNAL_DSN")
    if external:
        yield ExternalServer(external)
        return
    base = tmp_path_factory.mktemp("dsql-session")
    server = DsqlServer(base / "data", log_path=base / "dsql.log")
    error = _start(server)
    if error is not None:
        pytest.fail(error, pytrace=False)
    try:
        yield server
    finally:
        died = not server.running
        code = server.stop()
        if died:
            report.add(
                f"dsql_server had exited (code {code}) before the session ended; log: {server.log_path}"
            )


@pytest.fixture
def start_dsql(tmp_path: Path) -> Iterator[Callable[..., DsqlServer]]:
    """Factory for private dsql servers: ``server = start_dsql(data_dir=None, extra_args=(), **options)``
    (options go to ``DsqlServer``: ``user``, ``password``, ``dynamodb_port``...).

    The handle has ``port``, ``dsn``, ``stop()`` (SIGINT, then SIGKILL), ``kill()`` (SIGKILL),
    ``restart()`` (same data directory and port) and ``log_path``.
    """
    started: list[DsqlServer] = []

    def start(
        data_dir: Path | str | None = None, extra_args: tuple[str, ...] | list[str] = (), **options: Any
    ) -> DsqlServer:
        serial = len(started)
        directory = Path(data_dir) if data_dir is not None else tmp_path / f"dsql-data-{serial}"
        server = DsqlServer(directory, log_path=tmp_path / f"dsql-{serial}.log", extra_args=extra_args, **options)
        started.append(server)
        error = _start(server)
        if error is not None:
            pytest.fail(error, pytrace=False)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def pg_session(pg_server: PostgresServer) -> Iterator[Session]:
    with Session(pg_server.dsn) as session:
        yield session


@pytest.fixture
def dsql_session(dsql_server: DsqlServer) -> Iterator[Session]:
    with Session(dsql_server.dsn) as session:
        yield session


@pytest.fixture
def names(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``names("accounts")`` gives a table name unique to this test (and this call)."""

    def make(base: str = "t") -> str:
        return unique_name(f"{request.node.name}_{base}")

    return make


@pytest.fixture
def table_name(names: Callable[[str], str]) -> str:
    return names("t")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--longest-first", action="store_true",
        help="with -n: hand workers whole modules where a fixture is shared, single tests elsewhere, "
        "the longest first (tests/support/schedule.py)",
    )  # fmt: skip


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """The controller's scheduler under `--longest-first` (else xdist's own)."""
    return LongestFirstScheduling(config, log) if config.getoption("longest_first") else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker under `--longest-first`: the units, the longest first."""
    if config.getoption("longest_first") and hasattr(config, "workerinput"):
        check_units(items)
        order_for_workers(items, load_durations())


def pytest_runtest_setup(item: pytest.Item) -> None:
    fail_if_misplaced(item)


_SUMMARY_SEEN: list[str] = []  # summary lines of every report this process saw, in order


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Each phase's report carries the summary lines its phase added (support/report.py)."""
    outcome = yield
    if _summary.SUMMARY_LINES:
        made = outcome.get_result()
        made.user_properties.extend((_summary.PROPERTY, line) for line in _summary.SUMMARY_LINES)
        _summary.SUMMARY_LINES.clear()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Every report reaches this hook once in the process that prints the summary: the only
    one without xdist, the controller with it (a report comes back from its worker)."""
    _SUMMARY_SEEN.extend(value for name, value in report.user_properties if name == _summary.PROPERTY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = _SUMMARY_SEEN + _summary.SUMMARY_LINES  # (and what was added outside any test)
    if lines:
        terminalreporter.section("dsql test summary")
        for line in lines:
            terminalreporter.write_line(line)
