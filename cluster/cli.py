"""The `dsql` command: `dsql serve` runs every part in one process.

    dsql serve [--host 127.0.0.1] [--port 5432] [--data-dir ./data | --memory]
               [--auth trust|scram-sha-256] [--password-file FILE]
               [--tls-self-signed | --tls-cert FILE --tls-key FILE] [--require-tls]
               [-c NAME=VALUE ...]
               [--dynamodb-port 8000] [--dynamodb-auth off|enforce --dynamodb-credentials AKID:SECRET]

Security: `--auth trust` (the default, for local development) lets any user
name in; `--auth scram-sha-256` checks passwords. The predefined superuser
`admin` gets its password from `--password-file` or the DSQL_PASSWORD
environment variable; other roles from CREATE ROLE ... PASSWORD. With a
certificate (`--tls-cert/--tls-key`, or `--tls-self-signed`, which writes one
into <data-dir>/tls on first start) clients that ask for TLS get it, and
`--require-tls` refuses the ones that do not.

Settings: `-c NAME=VALUE` sets the server-wide default of any setting a
session can SET, as `postgres -c` does; DSQL's limits among them
(`dsql.transaction_rows_max`, `dsql.transaction_bytes_max`, `dsql.copy_batch_rows`).

SIGINT and SIGTERM stop it cleanly: client connections are told the server
is shutting down, storage nodes write a checkpoint (so the next start
replays little), and the journal's files are closed. Acknowledged commits are
durable in the journal at every moment, so `kill -9` loses nothing either.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
import tempfile
from functools import partial
from pathlib import Path

import trio

from cluster.embedded import ClusterConfig, EmbeddedCluster, LayoutMismatch
from cluster.topology import RangeMap, Topology, default_splits

log = logging.getLogger("dsql")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dsql", description="A distributed SQL database in the shape of Aurora DSQL")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run every part in one process")
    serve.add_argument("--host", default="127.0.0.1", help="address of the PostgreSQL endpoint")
    serve.add_argument("--port", type=int, default=5432, help="port of the PostgreSQL endpoint (0: any free port)")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--data-dir", default="./data", help="where the journal and checkpoints live")
    where.add_argument("--memory", action="store_true", help="keep nothing on disk (data is lost on exit)")
    serve.add_argument("--journals", type=int, default=1,
                       help="number of Multi-Paxos journals; adjudicators spread commits over them")
    serve.add_argument("--journal-replicas", type=int, default=3,
                       help="replicas of each journal (2f+1: odd; a commit needs a majority)")
    serve.add_argument("--clock-error-ns", type=int, default=0, help="clock error bound (ClockBound-style)")
    serve.add_argument("--auth", choices=("trust", "scram-sha-256"), default="trust",
                       help="how PostgreSQL clients authenticate (trust: any user name, for local development)")
    serve.add_argument("--password-file", help="a file whose first line is the password of the role admin "
                       "(default: the DSQL_PASSWORD environment variable, if set)")
    tls = serve.add_mutually_exclusive_group()
    tls.add_argument("--tls-self-signed", action="store_true",
                     help="serve TLS with a self-signed certificate kept in <data-dir>/tls (made on first start)")
    tls.add_argument("--tls-cert", help="PEM certificate (chain) for TLS; needs --tls-key")
    serve.add_argument("--tls-key", help="PEM private key of --tls-cert")
    serve.add_argument("--require-tls", action="store_true", help="refuse clients that do not use TLS")
    serve.add_argument("-c", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                       help="a setting's server-wide default, as `postgres -c` (e.g. -c dsql.transaction_rows_max=10000)")
    serve.add_argument(
        "--max-message-bytes", type=int, default=None, metavar="BYTES",
        help="largest protocol message a client may send, a query text or bind parameter with it "
        "(default and most: PostgreSQL's limit, 1073741822; lower it to bound a client's memory)",
    )  # fmt: skip
    serve.add_argument("--log-level", default="INFO")
    serve.add_argument("--dynamodb-port", type=int, default=8000, help="port of the DynamoDB endpoint (0: off)")
    serve.add_argument(
        "--dynamodb-auth", choices=("off", "enforce"), default="off",
        help="SigV4 signature verification on the DynamoDB endpoint (off, as in DynamoDB Local)",
    )  # fmt: skip
    serve.add_argument(
        "--dynamodb-credentials", default="",
        help="AKID:SECRET[,AKID:SECRET...] accepted when --dynamodb-auth enforce",
    )  # fmt: skip
    serve.add_argument(
        "--dynamodb-test-hooks", action="store_true",
        help="TESTS ONLY: serve /_dsql/test/replicas/<n>/pause|resume on the DynamoDB port",
    )  # fmt: skip
    return parser


async def serve(args: argparse.Namespace) -> None:
    from pgwire.server import serve as serve_pgwire
    from qp.server import QueryProcessor

    _configure_settings(args.settings)
    security = _security(args)
    limits = _server_limits(args)
    password = _admin_password(args)
    config = ClusterConfig(
        data_dir=None if args.memory else args.data_dir, clock_error_ns=args.clock_error_ns,
        topology=_topology(args),
    )  # fmt: skip
    try:
        cluster = EmbeddedCluster(config)
    except LayoutMismatch as exc:
        raise ConfigError(str(exc)) from None
    async with trio.open_nursery() as nursery:
        await nursery.start(cluster.run)
        qp = QueryProcessor(cluster.clock, cluster.topology, cluster.transport)
        if password is not None:
            await qp.set_bootstrap_password(password)
        port = await nursery.start(partial(serve_pgwire, qp, args.host, args.port, security=security, limits=limits))
        where = "memory only" if args.memory else f"data in {args.data_dir}"
        tls = f", TLS certificate {security.tls.cert_path}" if security.tls else ""
        print(f"dsql: PostgreSQL endpoint on {args.host}:{port} ({where}; auth {args.auth}{tls})", flush=True)
        if args.dynamodb_port:
            ddb_port = await nursery.start(_serve_dynamodb, cluster, args)
            print(f"dsql: DynamoDB endpoint on http://{args.host}:{ddb_port}", flush=True)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("received %s, stopping", signal.Signals(signum).name)
                break
        # A checkpoint only makes the next start faster (the journal has every
        # acknowledged commit), so failing to write one is logged, not fatal.
        with trio.move_on_after(10):
            try:
                await cluster.checkpoint()
            except Exception:
                log.exception("checkpoint at shutdown failed; the next start replays the journal")
        nursery.cancel_scope.cancel()
    print("dsql: stopped", flush=True)


class ConfigError(Exception):
    """A command-line setting that cannot work; printed without a traceback."""


def _topology(args: argparse.Namespace) -> Topology:
    if args.journal_replicas < 1 or args.journal_replicas % 2 == 0:
        raise ConfigError(f"--journal-replicas {args.journal_replicas}: must be odd (2f+1), at least 1")
    if args.journals < 1:
        raise ConfigError(f"--journals {args.journals}: at least 1")
    topology = Topology(journal_count=args.journals, journal_replica_count=args.journal_replicas)
    # Each adjudicator appends to one journal (adjudicator i to journal
    # i mod n), so there must be at least as many adjudicators as journals.
    sql_parts = 2
    while topology.adjudicator_count < args.journals:
        sql_parts += 1
        topology.adjudicator_ranges = RangeMap(default_splits(sql_parts))
    return topology


def _security(args: argparse.Namespace):
    from pgwire import tls
    from pgwire.server import Security

    config = None
    if args.tls_self_signed:
        directory = Path(tempfile.mkdtemp(prefix="dsql-tls-")) if args.memory else Path(args.data_dir) / "tls"
        cert, key = tls.ensure_self_signed(directory, [args.host])
        config = tls.load(cert, key)
    elif args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            raise ConfigError("--tls-cert and --tls-key go together")
        try:
            config = tls.load(args.tls_cert, args.tls_key)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if args.require_tls and config is None:
        raise ConfigError("--require-tls needs a certificate: --tls-self-signed or --tls-cert/--tls-key")
    if args.auth == "trust" and not _is_loopback(args.host):
        log.warning("--auth trust on %s: anyone who can reach this address connects as a superuser", args.host)
    return Security(auth=args.auth, tls=config, require_tls=args.require_tls)


def _server_limits(args: argparse.Namespace):
    from pgwire.connection import MESSAGE_BYTES_MAX_DEFAULT, SMALL_MESSAGE_BYTES_MAX
    from pgwire.server import ServerLimits

    if args.max_message_bytes is None:
        return ServerLimits()
    if not SMALL_MESSAGE_BYTES_MAX <= args.max_message_bytes <= MESSAGE_BYTES_MAX_DEFAULT:
        raise ConfigError(
            f"--max-message-bytes {args.max_message_bytes}: "
            f"between {SMALL_MESSAGE_BYTES_MAX} and {MESSAGE_BYTES_MAX_DEFAULT} (PostgreSQL's limit)"
        )
    return ServerLimits(message_bytes_max=args.max_message_bytes)


def _configure_settings(pairs: list[str]) -> None:
    from qp.errors import SqlError
    from qp.settings import configure_defaults

    overrides = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise ConfigError(f"-c {pair}: expected NAME=VALUE")
        overrides[name.strip()] = value
    try:
        configure_defaults(overrides)
    except SqlError as exc:
        raise ConfigError(f"-c: {exc.message}") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _admin_password(args: argparse.Namespace) -> str | None:
    if args.password_file:
        try:
            lines = Path(args.password_file).read_text().splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read --password-file: {exc}") from None
        if not lines or not lines[0]:
            raise ConfigError(f"--password-file {args.password_file} is empty")
        return lines[0]
    return os.environ.get("DSQL_PASSWORD") or None


async def _serve_dynamodb(cluster: EmbeddedCluster, args: argparse.Namespace, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    from kv.dynamodb import DynamoDBApp, DynamoDBService, ReplicaControl
    from kv.dynamodb.server import serve as serve_http
    from kv.dynamodb.sigv4 import SigV4Verifier, parse_credentials

    service = DynamoDBService(cluster.clock, cluster.topology, cluster.transport)
    verifier = None
    if args.dynamodb_auth == "enforce":
        verifier = SigV4Verifier(parse_credentials(args.dynamodb_credentials))
    hooks = ReplicaControl(cluster.storage_nodes) if args.dynamodb_test_hooks else None
    app = DynamoDBApp(service, verifier=verifier, hooks=hooks)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        port = await nursery.start(serve_http, app, args.host, args.dynamodb_port)
        task_status.started(port)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        try:
            trio.run(serve, args)
        except ConfigError as exc:
            print(f"dsql: {exc}", file=sys.stderr)
            return 2
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
