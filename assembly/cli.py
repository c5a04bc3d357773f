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

Refusals are one line on stderr and exit status 2, never a traceback: a bad
setting, a data directory another process holds (it is locked before
anything in it is opened, `cluster.dirlock`), a port in use. Whatever had
started by then is stopped first: the journal's files closed, the data
directory unlocked. Once both endpoints listen, it prints how to reach them.
"""

from __future__ import annotations

import argparse
import errno
import importlib.metadata
import ipaddress
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import trio

from assembly import launcher, node, probe
from assembly.config import ROLE_KINDS, ClusterSpec, ConfigInvalid
from assembly.embedded import ClusterConfig, EmbeddedCluster, LayoutMismatch
from assembly.placement import PlacementDriver, split_loop
from cluster import heap, metrics, stallwatch
from cluster.dirlock import DirectoryInUse
from cluster.topology import RangeMap, Topology, default_splits
from compare import options as compare_options
from compare.cluster import ClusterFailed
from kv.dynamo.http import DynamoApp
from kv.dynamo.server import serve as serve_riak
from kv.dynamo.service import DynamoService
from storage.placement import SPLIT_CHECK_S, SPLIT_KEYS, PlacementInvalid

log = logging.getLogger("dsql")


class _HelpWithDefaults(argparse.HelpFormatter):
    """Every option's help ends with its default (argparse's own formatter would
    print `None` and `False`, and repeat a default the help already explains)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or action.default is argparse.SUPPRESS or "(default" in text:
            return text
        if action.default in (None, "", []):
            shown = "none"
        elif action.default is False:
            shown = "off"
        else:
            shown = "%(default)s"
        return f"{text} (default: {shown})"


def _version() -> str:
    try:
        return importlib.metadata.version("dsql")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dsql", description="A distributed SQL database in the shape of Aurora DSQL")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run every part in one process", formatter_class=_HelpWithDefaults,
                           description="Run every part of dsql in one process: the PostgreSQL endpoint, "
                           "the DynamoDB endpoint, the journals, adjudicators and storage.")
    serve.add_argument("--host", default="127.0.0.1", help="address of the PostgreSQL endpoint")
    serve.add_argument("--port", type=int, default=5432, help="port of the PostgreSQL endpoint (0: any free port)")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--data-dir", default="./data", help="where the journals and the storage nodes' data live")
    where.add_argument("--memory", action="store_true", help="keep nothing on disk (data is lost on exit)")
    serve.add_argument("--storage-engine", choices=("lmdb", "checkpoints"), default="lmdb",
                       help="with --data-dir, where storage nodes keep their replicas: lmdb (on disk, resumed "
                            "at a start without loading anything) or checkpoints (in memory, loaded whole "
                            "from a checkpoint at a start; what the simulator runs)")
    serve.add_argument("--journals", type=int, default=1,
                       help="number of Multi-Paxos journals; adjudicators spread commits over them")
    serve.add_argument("--journal-replicas", type=int, default=3,
                       help="replicas of each journal (2f+1: odd; a commit needs a majority)")
    serve.add_argument("--clock-error-ns", type=int, default=0, help="clock error bound (ClockBound-style)")
    serve.add_argument("--split-keys", type=int, default=SPLIT_KEYS,
                       help="a shard splits in two once a replica of it holds more keys than this")
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
        "(default: 1073741822, PostgreSQL's limit and the most allowed; lower it to bound a client's memory)",
    )  # fmt: skip
    serve.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    serve.add_argument("--log-stalls-ms", type=float, default=None, metavar="MS",
                       help="log a warning, with the code responsible, whenever one task holds the server's "
                       "thread longer than MS (default: off, or $DSQL_LOG_STALLS_MS)")
    serve.add_argument("--dynamodb-port", type=int, default=8000, help="port of the DynamoDB endpoint (0: off)")
    serve.add_argument("--dynamo-port", type=int, default=8098,
                       help="port of the Dynamo endpoint, Riak KV's HTTP API (0: off)")
    serve.add_argument("--dynamo-nodes", type=int, default=5,
                       help="Dynamo nodes in this process (at least n_val + 2 = 5, so sloppy quorum has fallbacks)")
    serve.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                       help="serve Prometheus metrics at http://HOST:PORT/metrics (0: any free port; default: off)")
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
    _add_cluster_commands(sub)
    return parser


def _add_cluster_commands(sub: argparse._SubParsersAction) -> None:
    node = sub.add_parser("node", help="run one role of a cluster (as `dsql cluster up` does)",
                          formatter_class=_HelpWithDefaults,
                          description="Run one role of a cluster described by a cluster.toml in this process.")
    node.add_argument("--config", required=True, help="the cluster's cluster.toml (or its directory)")
    node.add_argument("--role", required=True, choices=ROLE_KINDS, help="which role")
    node.add_argument("--id", type=int, required=True, help="which one of that role (0-based)")
    node.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")

    compare = sub.add_parser("compare", help="Dynamo, DynamoDB and DSQL: the same workloads under the same faults",
                             formatter_class=_HelpWithDefaults,
                             description="Run the same workloads through Dynamo, DynamoDB and DSQL on a cluster "
                             "of network-namespace hosts, inject the same faults, check every history.")
    compare_options.add_arguments(compare)
    compare.add_argument("--log-level", default="WARNING", help=argparse.SUPPRESS)

    cluster = sub.add_parser("cluster", help="a local cluster: every role its own process",
                             description="Start, inspect and break a cluster of dsql processes on this "
                             "machine (on network-namespace hosts with --hosts).")
    commands = cluster.add_subparsers(dest="cluster_command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text, description=help_text, formatter_class=_HelpWithDefaults)
        parser.add_argument("--dir", required=True, help="the cluster's directory (cluster.toml, logs/, run/, data/)")
        parser.add_argument("--log-level", default="WARNING", help=argparse.SUPPRESS)
        return parser

    up = command("up", "start a cluster (a new one, or the one described in DIR again) and supervise it")
    up.add_argument("--qps", type=int, default=2, help="query processor processes (they share the ports)")
    up.add_argument("--storage-nodes", type=int, default=3, help="storage node processes")
    up.add_argument("--replicas", type=int, default=None,
                    help="replicas of each shard, on distinct storage nodes (default: 3, or --storage-nodes if fewer)")
    up.add_argument("--journal-replicas", type=int, default=3, help="replicas of each journal (odd)")
    up.add_argument("--journals", type=int, default=1, help="Multi-Paxos journals")
    up.add_argument("--adjudicators", type=int, default=2, help="adjudicator processes (key ranges spread over them)")
    up.add_argument("--hosts", type=int, default=0, help="network-namespace hosts to spread the roles over (0: this machine)")
    up.add_argument("--port", type=int, default=5432, help="PostgreSQL port of every QP (0: a free one)")
    up.add_argument("--dynamodb-port", type=int, default=8000, help="DynamoDB port of every QP (0: off)")
    up.add_argument("--dynamo-port", type=int, default=8098, help="Dynamo (Riak HTTP) port of every QP (0: off)")
    up.add_argument("--clock-error-ns", type=int, default=0, help="clock error bound (ClockBound-style)")
    up.add_argument("--copy-keys-per-s", type=int, default=0,
                    help="how fast a storage node copies a shard replica it is given (0: no bound)")
    up.add_argument("--split-keys", type=int, default=SPLIT_KEYS,
                    help="a shard splits in two once a replica of it holds more keys than this")
    up.add_argument("--split-check-s", type=float, default=SPLIT_CHECK_S,
                    help="how often the query processors look for shards to split")
    up.add_argument("--detach", action="store_true", help="return once every endpoint answers; the cluster runs on")
    command("down", "stop every process of the cluster (its data stays in DIR)")
    command("status", "every role: host, pid, state, journal leader, replica lag").add_argument(
        "--json", action="store_true", help="print JSON instead of a table")
    command("supervise", argparse.SUPPRESS)
    for name, text in (("kill", "kill -9 a role's process (it stays down until restart)"),
                       ("pause", "stop a role's process (SIGSTOP): it holds its sockets but answers nothing"),
                       ("resume", "continue a paused role (SIGCONT)"),
                       ("restart", "start a role again (killing it first if it runs) and wait until it serves")):
        command(name, text).add_argument("role", help="qp-0, adjudicator-1, journal-2, storage-0, journal-leader ...")
    commands.choices["restart"].add_argument(
        "--wipe-dynamo", action="store_true",
        help="storage-N only: delete its Dynamo data (not its DSQL data) before it starts, as a lost disk")
    part = command("partition", "cut HOSTS off from the others (or from --from HOSTS): needs --hosts")
    part.add_argument("hosts", nargs="+", help="hosts as h0/h1/..., or a role on the host (qp-0, journal-leader)")
    part.add_argument("--from", dest="from_hosts", nargs="+", default=None, help="cut off only from these")
    command("heal", "remove every partition and delay")
    command("add-storage", "add a storage node to the running cluster and move its share of shard replicas onto it")
    drain = command("drain", "move every shard replica off a storage node, or replace a lost one "
                    "(never fewer serving replicas than before)")
    drain.description = ("Move every shard replica off a storage node: each shard first gets a replica on "
                         "another live node, and the drained node leaves its hosts only once that one has copied "
                         "the shard and caught up. A lost node (killed and never restarted, or answering nothing) "
                         "is replaced the same way, its shards' new replicas copied from the surviving ones, 4 at a "
                         "time. Run again after being cut short, it finishes the moves it began. Refused (exit 2) "
                         "when no live node lacks a shard (add-storage first) or no replica of a shard survives.")
    drain.add_argument("role", help="storage-N")
    delay = command("delay", "delay every packet a host sends by MS milliseconds (tc netem; 0 removes it)")
    delay.add_argument("host", help="h0/h1/... or a role on the host")
    delay.add_argument("ms", type=float)


async def serve(args: argparse.Namespace) -> None:
    stallwatch.install_from(args.log_stalls_ms)
    _configure_settings(args.settings)
    topology = _topology(args)
    if args.dynamo_nodes < 0 or (args.dynamo_port and args.dynamo_nodes < 1):
        raise ConfigError(f"--dynamo-nodes {args.dynamo_nodes}: at least 1 while --dynamo-port serves Dynamo")
    config = ClusterConfig(
        data_dir=None if args.memory else args.data_dir, clock_error_ns=args.clock_error_ns, topology=topology,
        dynamo_nodes=args.dynamo_nodes, storage_engine=args.storage_engine,
    )  # fmt: skip
    try:
        # The first thing to touch the data dir: it is locked before anything in it is opened.
        cluster = EmbeddedCluster(config)
    except (DirectoryInUse, LayoutMismatch) as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:  # a data dir that cannot be made, locked or read
        raise ConfigError(f"cannot use --data-dir {args.data_dir}: {exc.strerror or exc}") from None
    try:
        await _serve_cluster(cluster, args)
    except BaseExceptionGroup as group:
        # A refusal raised inside the nursery comes out wrapped in a group,
        # after trio has stopped everything else; unwrap it for main().
        refusals, others = group.split(ConfigError)
        if refusals is None or others is not None:
            raise
        raise _first_leaf(refusals) from None
    finally:
        cluster.close()  # run() has closed it already, unless it never started


async def _serve_cluster(cluster: EmbeddedCluster, args: argparse.Namespace) -> None:
    from pgwire.server import serve as serve_pgwire
    from qp.frontend.server import QueryProcessor

    security = _security(args)
    limits = _server_limits(args)
    password = _admin_password(args)
    async with trio.open_nursery() as nursery:
        with heap.loading():  # checkpoints of millions of rows (cluster/heap.py)
            await nursery.start(cluster.run)
        for n, node in enumerate(cluster.storage_nodes):
            metrics.watch_replica_lag(f"storage-{n}", partial(getattr, node, "watermark"))
        for replicas in cluster.journal_replicas:
            for replica in replicas:
                metrics.watch_journal_replica(replica.name, partial(getattr, replica, "fsyncs"), replica.leads)
        for adjudicator in cluster.adjudicators:
            metrics.watch_adjudicator(str(adjudicator.index), adjudicator.append_batches)
        if args.metrics_port is not None:
            try:
                metrics_port = metrics.serve(args.host, args.metrics_port)
            except OSError as exc:
                raise ConfigError(f"cannot serve metrics on {args.host} port {args.metrics_port} "
                                  f"(--metrics-port): {exc.strerror or exc}") from None
            print(f"dsql: Prometheus metrics on {_http_url(args.host, metrics_port)}/metrics")
        qp = QueryProcessor(cluster.clock, cluster.topology, cluster.transport)
        await nursery.start(qp.run)
        # Shards that grow past --split-keys split in two (assembly/placement.py).
        driver = PlacementDriver(cluster.topology, cluster.transport, cluster.clock, storage=qp.storage)
        nursery.start_soon(split_loop, driver, args.split_keys)
        if password is not None:
            await qp.set_bootstrap_password(password)
        pgwire = partial(serve_pgwire, qp, args.host, args.port, security=security, limits=limits)
        port = await _start_listening(nursery, pgwire, args.host, args.port, "--port")
        ddb_port = None
        if args.dynamodb_port:
            dynamodb = partial(_serve_dynamodb, cluster, args)
            ddb_port = await _start_listening(nursery, dynamodb, args.host, args.dynamodb_port, "--dynamodb-port")
        dynamo_port = None
        if args.dynamo_port:
            dynamo = partial(_serve_dynamo, cluster, args)
            dynamo_port = await _start_listening(nursery, dynamo, args.host, args.dynamo_port, "--dynamo-port")
        where = "memory only" if args.memory else f"data in {args.data_dir}"
        tls = f", TLS certificate {security.tls.cert_path}" if security.tls else ""
        print(f"dsql: PostgreSQL endpoint on {args.host}:{port} ({where}; auth {args.auth}{tls})")
        if ddb_port is not None:
            print(f"dsql: DynamoDB endpoint on {_http_url(args.host, ddb_port)}")
        if dynamo_port is not None:
            print(f"dsql: Dynamo endpoint (Riak KV HTTP API) on {_http_url(args.host, dynamo_port)}, "
                  f"{len(cluster.dynamo_nodes)} Dynamo nodes")
        print(_connect_banner(args, port, ddb_port, dynamo_port), flush=True)
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


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _bind_error(exc: BaseException) -> OSError | None:
    """The OSError of a failed bind, however deep in exception groups a server put it."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _bind_error(inner)
            if found is not None:
                return found
    return None


async def _start_listening(nursery: trio.Nursery, server: Callable[..., Awaitable[None]], host: str, port: int,
                           flag: str) -> int:
    """Start `server` (it binds host:port and reports the port it got); a bind
    that fails becomes a ConfigError naming the flag that chooses the port."""
    try:
        return await nursery.start(server)
    except (OSError, BaseExceptionGroup) as exc:
        error = _bind_error(exc)
        if error is None:
            raise
        if error.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is in use; choose another with {flag}") from None
        raise ConfigError(f"cannot listen on {host} port {port} ({flag}): {error.strerror or error}") from None


def _client_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host` (not to a wildcard)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _http_url(host: str, port: int) -> str:
    host = _client_host(host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _connect_banner(args: argparse.Namespace, port: int, ddb_port: int | None, dynamo_port: int | None = None) -> str:
    """How to connect, for the actual endpoints: a psql command line, and boto3 when DynamoDB is on."""
    # dsql has one database, `postgres`; psql would default it to the user name.
    user = "admin" if args.auth == "scram-sha-256" else "postgres"
    psql = f"psql -h {_client_host(args.host)} -p {port} -U {user} -d postgres"
    if args.require_tls:
        psql = "PGSSLMODE=require " + psql
    if args.auth == "scram-sha-256":
        psql += "    # admin's password: --password-file or DSQL_PASSWORD"
    lines = ["dsql: ready (Ctrl-C stops it); connect with", f"    {psql}"]
    if ddb_port is not None:
        key, secret = "x", "x"  # any credentials do while signatures are not checked
        comment = ""
        if args.dynamodb_auth == "enforce":
            key, secret = args.dynamodb_credentials.split(",")[0].partition(":")[0], "..."
            comment = "    # the secret of that key in --dynamodb-credentials"
        lines.append(
            f'    import boto3; ddb = boto3.client("dynamodb", endpoint_url="{_http_url(args.host, ddb_port)}", region_name="us-east-1", '
            f'aws_access_key_id="{key}", aws_secret_access_key="{secret}"){comment}'
        )
    if dynamo_port is not None:
        url = _http_url(args.host, dynamo_port)
        lines.append(f"    curl -XPUT {url}/buckets/b/keys/k -H 'Content-Type: text/plain' -d hello; curl {url}/buckets/b/keys/k")
    return "\n".join(lines)


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
    from qp.frontend.settings import configure_defaults

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


async def _serve_dynamo(cluster: EmbeddedCluster, args: argparse.Namespace, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Dynamo's coordinator and its Riak HTTP endpoint, over the embedded server's Dynamo nodes."""
    service = DynamoService(cluster.transport, [node.name for node in cluster.dynamo_nodes.values()])
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        port = await nursery.start(serve_riak, DynamoApp(service), args.host, args.dynamo_port)
        task_status.started(port)


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


def _cluster_command(args: argparse.Namespace) -> int:
    what = args.cluster_command
    try:
        if what == "up":
            replicas = args.replicas if args.replicas is not None else min(3, args.storage_nodes)
            shape = launcher.Shape(
                qps=args.qps, storage_nodes=args.storage_nodes, replicas=replicas, journal_replicas=args.journal_replicas,
                journals=args.journals, adjudicators=args.adjudicators, hosts=args.hosts, port=args.port,
                dynamodb_port=args.dynamodb_port, dynamo_port=args.dynamo_port, clock_error_ns=args.clock_error_ns,
                copy_keys_per_s=args.copy_keys_per_s, split_keys=args.split_keys,
                split_check_s=args.split_check_s,
            )  # fmt: skip
            return launcher.up(args.dir, shape, detach=args.detach)
        if what == "status":
            spec = ClusterSpec.load(args.dir)
            rows = probe.status(spec)
            print(json.dumps(rows, indent=2) if args.json else probe.render(spec, rows), end="" if not args.json else "\n")
            return 0
        if what == "restart":
            return launcher.restart(args.dir, args.role, wipe_dynamo=args.wipe_dynamo)
        if what in ("kill", "pause", "resume"):
            return getattr(launcher, what)(args.dir, args.role)
        if what == "partition":
            return launcher.partition(args.dir, args.hosts, args.from_hosts)
        if what == "delay":
            return launcher.delay(args.dir, args.host, args.ms)
        if what == "add-storage":
            return launcher.add_storage(args.dir)
        if what == "drain":
            return launcher.drain(args.dir, args.role)
        return getattr(launcher, what)(args.dir)
    except (launcher.LauncherError, ConfigInvalid, DirectoryInUse, PlacementInvalid) as exc:
        print(f"dsql cluster: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "node":
        try:
            node.run(args.config, args.role, args.id)
        except (ConfigInvalid, DirectoryInUse) as exc:
            print(f"dsql node: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "cluster":
        try:
            return _cluster_command(args)
        except BrokenPipeError:  # `dsql cluster status | head`: the reader left; nothing is wrong
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    if args.command == "compare":
        # Imported here: the clients a comparison drives (asyncpg, boto3) are heavy, and no
        # other command needs them.
        from compare import run as compare_run

        try:
            return compare_run.main(args)
        except ClusterFailed as exc:
            print(f"dsql compare: {exc}", file=sys.stderr)
            return 1
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
