"""One role of a cluster as its own process: `dsql node --config FILE --role KIND --id N`.

The process reads the cluster's TOML (`assembly.config`), builds the same
objects the embedded server builds (a `JournalReplica`, a `StorageNode`, the
`Adjudicator`s of its key ranges, or a `QueryProcessor` with its PostgreSQL
and DynamoDB endpoints), and serves them on a TCP transport whose address book
names every other role's process. Nothing else differs from `dsql serve`.

Query processors share the client ports: each binds them with SO_REUSEPORT,
and the kernel spreads new connections over the processes on a host. A
CancelRequest may therefore land on a QP that does not hold the session; the
PID names its QP (`qp.frontend.server.PID_QP_SHIFT`), and the request is forwarded.

Once it serves, a node prints one line (`dsql node NAME ready ...`) and
writes `run/NAME.ready` (its PID) under the cluster's directory, which is
how `dsql cluster up` knows it is up. SIGINT/SIGTERM stop it cleanly (a
storage node writes a checkpoint first); SIGKILL loses nothing acknowledged
(the journal replicas sync before they answer).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from functools import partial
from typing import Any

import trio

from adjudicator.ownership import AdjudicatorProcess
from adjudicator.routing import OwnerMap, install
from assembly.config import ClusterSpec, RoleSpec, adjudicator_process_address, qp_address
from assembly.embedded import ClusterConfig, journal_replica_config
from assembly.placement import PlacementDriver, split_loop
from cluster import heap, metrics
from cluster.clock import Clock
from cluster.disk import OsDisk
from cluster.tcp import TcpTransport
from journal.replica import JournalReplica
from kv.dynamo.http import DynamoApp
from kv.dynamo.node import DynamoNode, NodeConfig
from kv.dynamo.server import serve as serve_riak
from kv.dynamo.service import DynamoService
from kv.dynamo.store import DynamoStore
from kv.dynamodb import DynamoDBApp, DynamoDBService
from kv.dynamodb.server import serve as serve_http
from pgwire.server import serve_listeners
from qp.frontend.server import QueryProcessor
from qp.interface import QpStatus
from qp.pgcatalog.cluster_views import Member
from storage.lmdb_engine import ENGINE_DIR as STORAGE_ENGINE_DIR
from storage.lmdb_engine import LmdbEngine
from storage.node import StorageNode

log = logging.getLogger(__name__)

SHUTDOWN_CHECKPOINT_S = 10.0


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket that other processes may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class QpService:
    """What a query processor serves to its peers: forwarded cancels and its status."""

    def __init__(self, qp: Any, name: str) -> None:
        self.qp = qp
        self.name = name

    async def rpc_cancel(self, process_id: int, secret_key: int) -> None:
        self.qp.cancel(process_id, secret_key)

    async def rpc_status(self) -> QpStatus:
        return QpStatus(self.name, self.qp.index, len(self.qp.sessions))


class Node:
    """One role's process: its transport, its objects, its endpoints."""

    def __init__(self, spec: ClusterSpec, role: RoleSpec) -> None:
        self.spec = spec
        self.role = role
        self.host = spec.host_of(role)
        self.topology = spec.topology()
        self.clock = Clock(spec.clock_error_ns)
        self.transport = TcpTransport(spec.address_book())
        self._storage: StorageNode | None = None
        self._close: list[Any] = []
        self.endpoints: dict[str, int] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.transport.run)
                await getattr(self, "_start_" + self.role.kind)(nursery)
                self.endpoints["rpc"] = await nursery.start(
                    self.transport.listen, self.host.address, self.role.port
                )
                if self.role.metrics_port:
                    self.endpoints["metrics"] = metrics.serve(self.host.address, self.role.metrics_port)
                self._announce()
                task_status.started()
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for signum in signals:
                        log.info("%s: received %s, stopping", self.role.name, signal.Signals(signum).name)
                        break
                await self._before_stop()
                nursery.cancel_scope.cancel()
        finally:
            for close in reversed(self._close):
                close()

    # -- roles -------------------------------------------------------------------

    async def _start_journal(self, nursery: trio.Nursery) -> None:
        journal_id, index = self.spec.journal_of(self.role)
        disk = OsDisk(self.spec.data_dir(self.role))  # locks the directory first
        self._close.append(disk.close)
        config = ClusterConfig(
            data_dir=self.spec.data_dir(self.role), clock_error_ns=self.spec.clock_error_ns,
            journal_lease_s=self.spec.lease_ms / 1000,
        )  # fmt: skip
        replica = JournalReplica(
            journal_id, index, self.topology.journal_addresses(journal_id), self.transport, self.clock, disk,
            config=journal_replica_config(config, self.spec.journal_replicas),
            subscribers=self.topology.storage_subscribers(),
        )  # fmt: skip
        self._close.append(replica.close_files)
        self.transport.serve(replica.name, replica)
        await nursery.start(replica.run)

    async def _start_storage(self, nursery: trio.Nursery) -> None:
        disk = OsDisk(self.spec.data_dir(self.role))  # locks the directory first
        self._close.append(disk.close)
        # Its replicas and journal positions, in LMDB inside the locked directory.
        engine = LmdbEngine(os.path.join(self.spec.data_dir(self.role), STORAGE_ENGINE_DIR))
        self._close.append(engine.close)
        # A node added to the running cluster starts from a peer's positions, not the journals' beginning.
        joined = self.role.id >= self.spec.initial_storage_count
        node = StorageNode(self.role.id, self.topology, self.transport, self.clock, disk, join=joined,
                           copy_keys_per_s=self.spec.copy_keys_per_s, engine=engine)  # fmt: skip
        self._storage = node
        metrics.watch_replica_lag(self.role.name, lambda: node.watermark)
        self.transport.serve(self.topology.storage_address(self.role.id), node)
        with heap.loading():  # a checkpoint of millions of rows (cluster/heap.py)
            await nursery.start(node.run)
        # Dynamo's copies on this storage node: their own store, beside the checkpoints.
        dynamo_disk = OsDisk(self.spec.dynamo_data_dir(self.role))
        self._close.append(dynamo_disk.close)
        # The ring starts with the cluster's first storage nodes (the same on every node, so
        # every node starts from the same ring); one added later joins it (§4.8: an explicit join).
        members = tuple(self.topology.dynamo_address(i) for i in range(self.spec.initial_storage_count))
        dynamo = DynamoNode(
            self.topology.dynamo_address(self.role.id), self.transport, self.clock, DynamoStore(dynamo_disk),
            NodeConfig(members=members, endpoint=(self.host.address, self.role.port)),
        )  # fmt: skip
        await nursery.start(dynamo.run)  # its store loaded before it serves a request
        self.transport.serve(dynamo.name, dynamo)
        if dynamo.name not in dynamo.ring.members:
            nursery.start_soon(dynamo.join_through, members)

    async def _start_adjudicator(self, nursery: trio.Nursery) -> None:
        # The process claims its default key ranges (and takes over those whose owner's lease
        # runs out) by leases in the journal (adjudicator/ownership.py). The directory lock
        # proves its predecessor is dead, which is what lets it claim its ranges back at once.
        directory = self.spec.data_dir(self.role)
        os.makedirs(directory, exist_ok=True)
        disk = OsDisk(directory)  # locks the directory
        self._close.append(disk.close)
        processes = len(self.spec.of_kind("adjudicator"))
        routes = OwnerMap(self.topology, self.transport, self.clock, processes)
        install(self.transport, routes)
        process = AdjudicatorProcess(
            self.role.id, processes, self.topology, self.transport, self.clock, routes=routes,
            lease_s=self.spec.adjudicator_lease_ms / 1000,
        )  # fmt: skip
        self.transport.serve(adjudicator_process_address(self.role.id), process)
        await nursery.start(process.run)

    async def _start_qp(self, nursery: trio.Nursery) -> None:
        members = [
            Member(role.name, role.kind, self.spec.host_of(role).name, self.spec.status_address(role))
            for role in self.spec.roles
        ]
        # Commits (SQL and DynamoDB) find each key range's current owner through this map.
        routes = OwnerMap(self.topology, self.transport, self.clock, len(self.spec.of_kind("adjudicator")))
        install(self.transport, routes)
        nursery.start_soon(routes.run)
        qp = QueryProcessor(self.clock, self.topology, self.transport, index=self.role.id, members=members)
        self.transport.serve(qp_address(self.role.id), QpService(qp, self.role.name))
        await nursery.start(qp.run)
        # Shards that grow past the cluster's split_keys split in two (assembly/placement.py).
        driver = PlacementDriver(self.topology, self.transport, self.clock, storage=qp.storage)
        nursery.start_soon(split_loop, driver, self.spec.split_keys, self.spec.split_check_s)

        def forward_cancel(owner: int, process_id: int, secret_key: int) -> None:
            peer = self.transport.connect(qp_address(owner))
            nursery.start_soon(_quietly, peer.call("cancel", process_id, secret_key))

        qp.forward_cancel = forward_cancel
        client_host = self.host.address
        sock = reuseport_socket(client_host, self.spec.port)
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        self.endpoints["postgres"] = await nursery.start(partial(serve_listeners, qp, [listener]))
        if self.spec.dynamodb_port:
            service = DynamoDBService(self.clock, self.topology, self.transport)
            await nursery.start(service.run)
            ddb_fd = reuseport_socket(client_host, self.spec.dynamodb_port).detach()  # the server owns it now
            self.endpoints["dynamodb"] = await nursery.start(
                partial(serve_http, DynamoDBApp(service), client_host, self.spec.dynamodb_port, fd=ddb_fd)
            )
        if self.spec.dynamo_port:
            # Dynamo's coordinator: this QP's own view of the ring and of which nodes answer.
            seeds = [self.topology.dynamo_address(i) for i in range(self.spec.initial_storage_count)]
            dynamo = DynamoService(self.transport, seeds, name=f"dynamo-{self.role.name}")
            await nursery.start(dynamo.run)
            dynamo_fd = reuseport_socket(client_host, self.spec.dynamo_port).detach()
            self.endpoints["dynamo"] = await nursery.start(
                partial(serve_riak, DynamoApp(dynamo), client_host, self.spec.dynamo_port, fd=dynamo_fd)
            )

    # -- lifecycle ---------------------------------------------------------------

    def _announce(self) -> None:
        where = ", ".join(f"{name} {self.host.address}:{port}" for name, port in self.endpoints.items())
        print(f"dsql node {self.role.name} ready: {where} (pid {os.getpid()})", flush=True)
        run_dir = self.spec.run_dir()
        os.makedirs(run_dir, exist_ok=True)
        path = os.path.join(run_dir, f"{self.role.name}.ready")
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(str(os.getpid()))
        os.replace(tmp, path)

    async def _before_stop(self) -> None:
        if self._storage is not None:
            # Only makes the next start faster: the journal has every commit.
            with trio.move_on_after(SHUTDOWN_CHECKPOINT_S):
                try:
                    await self._storage.checkpoint()
                except Exception:
                    log.exception("checkpoint at shutdown failed; the next start replays the journal")


async def _quietly(call: Any) -> None:
    try:
        await call
    except Exception as exc:  # noqa: BLE001 - a cancel that cannot be forwarded is dropped, as PostgreSQL drops it
        log.info("forwarding a cancel failed: %s", exc)


def run(config_path: str, kind: str, role_id: int) -> None:
    spec = ClusterSpec.load(config_path)
    role = spec.role(f"{kind}-{role_id}")
    trio.run(Node(spec, role).run)
