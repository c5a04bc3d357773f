"""A cluster's description: which role runs where, as one TOML file.

`dsql cluster up` writes `<dir>/cluster.toml`; every `dsql node` process
reads it, so all processes agree on the topology (key ranges, journals,
storage nodes) and on the address book (the host and port of every role's
RPC endpoint). Nothing else is shared between processes.

    [cluster]
    name = "c1a2"                # names the network namespaces, if any
    dir = "/abs/path"            # logs/, run/, data/ live under it
    journals = 1                 # Multi-Paxos journals ...
    journal_replicas = 3         # ... of 2f+1 replicas each
    sql_parts = 2                # adjudicator key ranges (topology.default_splits)
    shard_parts = 4              # storage shard ranges
    storage_nodes = 3
    replicas = 3                 # of each shard, on distinct storage nodes
    clock_error_ns = 0
    lease_ms = 500               # journal leader lease
    adjudicator_lease_ms = 3000  # a range owner's lease: another takes the range this long after it goes silent

    [endpoints]                  # where query processors take clients
    port = 5432                  # PostgreSQL, shared by every QP (SO_REUSEPORT)
    dynamodb_port = 8000         # 0: off
    dynamo_port = 8098           # Dynamo's Riak HTTP API (0: off)

    [[hosts]]                    # one per host: a network namespace, or this machine
    name = "h0"
    address = "127.0.0.1"
    namespace = ""

    [[roles]]
    kind = "journal"             # qp | adjudicator | journal | storage
    id = 0
    host = 0                     # index into hosts
    port = 7100                  # its RPC endpoint
    metrics_port = 9100          # its Prometheus /metrics (0: none)

Role names are `<kind>-<id>` (`qp-0`, `adjudicator-1`, `journal-2`,
`storage-0`), as `dsql cluster status` prints them. Journal replica ids run
over every journal: id = journal × journal_replicas + replica. The key
ranges have more adjudicators (one per range) than there are adjudicator
processes: process p claims every range i with i mod processes = p, by a
lease, and any process takes over a range whose owner's lease runs out
(adjudicator/ownership.py); range i at process p is `adjudicator/i@p`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field

import tomli_w

from adjudicator.routing import owned_address
from cluster.topology import RangeMap, Topology, default_splits, spread_replicas
from storage.placement import SPLIT_CHECK_S, SPLIT_KEYS

ROLE_KINDS = ("journal", "storage", "adjudicator", "qp")
CONFIG_NAME = "cluster.toml"


class ConfigInvalid(ValueError):
    """A cluster.toml (or the flags that would write one) that cannot work."""


@dataclass(frozen=True)
class HostSpec:
    name: str
    address: str
    namespace: str = ""  # "" for this machine's own network


@dataclass(frozen=True)
class RoleSpec:
    kind: str
    id: int
    host: int
    port: int
    metrics_port: int = 0  # Prometheus /metrics (0: not served)

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.id}"


@dataclass
class ClusterSpec:
    name: str
    dir: str
    hosts: list[HostSpec]
    roles: list[RoleSpec]
    journals: int = 1
    journal_replicas: int = 3
    sql_parts: int = 2
    shard_parts: int = 4
    storage_nodes: int = 3
    replicas: int = 3
    # Storage nodes the cluster started with: the first placement spreads the
    # shards over them. Nodes added later (`dsql cluster add-storage`) join from
    # a peer and get their replicas by moves (storage/placement.py). 0: all.
    initial_storage_nodes: int = 0
    # Keys a second a storage node copies when it is given a shard (0: no bound).
    copy_keys_per_s: int = 0
    # A shard splits once a replica of it holds more keys than this.
    split_keys: int = SPLIT_KEYS
    split_check_s: float = SPLIT_CHECK_S  # how often a QP looks for shards to split
    clock_error_ns: int = 0
    lease_ms: int = 500
    adjudicator_lease_ms: int = 3000
    port: int = 5432
    dynamodb_port: int = 8000
    dynamo_port: int = 8098
    _by_name: dict[str, RoleSpec] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name = {role.name: role for role in self.roles}
        self.validate()

    # -- checks ----------------------------------------------------------------

    def validate(self) -> None:
        if self.journals < 1:
            raise ConfigInvalid(f"journals = {self.journals}: at least 1")
        if self.journal_replicas < 1 or self.journal_replicas % 2 == 0:
            raise ConfigInvalid(f"journal_replicas = {self.journal_replicas}: must be odd (2f+1), at least 1")
        if self.storage_nodes < 1:
            raise ConfigInvalid(f"storage_nodes = {self.storage_nodes}: at least 1")
        if not 0 <= self.initial_storage_nodes <= self.storage_nodes:
            raise ConfigInvalid(f"initial_storage_nodes = {self.initial_storage_nodes}: at most storage_nodes")
        if not 1 <= self.replicas <= self.initial_storage_count:
            raise ConfigInvalid(
                f"replicas = {self.replicas}: between 1 and the storage nodes ({self.initial_storage_count})"
            )
        if not self.hosts:
            raise ConfigInvalid("no [[hosts]]")
        if len(self._by_name) != len(self.roles):
            raise ConfigInvalid("two roles share a name")
        for role in self.roles:
            if role.kind not in ROLE_KINDS:
                raise ConfigInvalid(f"role {role.name}: kind must be one of {', '.join(ROLE_KINDS)}")
            if not 0 <= role.host < len(self.hosts):
                raise ConfigInvalid(f"role {role.name}: host {role.host} is not in [[hosts]]")
        counts = {kind: len(self.of_kind(kind)) for kind in ROLE_KINDS}
        expected = {
            "journal": self.journals * self.journal_replicas,
            "storage": self.storage_nodes,
        }
        for kind, want in expected.items():
            if counts[kind] != want:
                raise ConfigInvalid(f"{counts[kind]} {kind} roles; the layout needs {want}")
        if counts["adjudicator"] < 1 or counts["qp"] < 1:
            raise ConfigInvalid("a cluster needs at least one adjudicator and one qp role")
        for kind in ROLE_KINDS:
            ids = sorted(role.id for role in self.of_kind(kind))
            if ids != list(range(len(ids))):
                raise ConfigInvalid(f"{kind} role ids must be 0..{len(ids) - 1}")
        endpoints = [(self.hosts[role.host].address, role.port) for role in self.roles]
        endpoints += [(self.hosts[role.host].address, role.metrics_port) for role in self.roles if role.metrics_port]
        if len(set(endpoints)) != len(endpoints):
            raise ConfigInvalid("two roles share one host:port")

    # -- lookups ---------------------------------------------------------------

    @property
    def initial_storage_count(self) -> int:
        return self.initial_storage_nodes or self.storage_nodes

    def of_kind(self, kind: str) -> list[RoleSpec]:
        return sorted((r for r in self.roles if r.kind == kind), key=lambda r: r.id)

    def role(self, name: str) -> RoleSpec:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(r.name for r in self.roles)
            raise ConfigInvalid(f"no role {name!r} (roles: {known})") from None

    def host_of(self, role: RoleSpec) -> HostSpec:
        return self.hosts[role.host]

    def topology(self) -> Topology:
        shards = RangeMap(default_splits(self.shard_parts))
        return Topology(
            journal_count=self.journals,
            journal_replica_count=self.journal_replicas,
            adjudicator_ranges=RangeMap(default_splits(self.sql_parts)),
            shard_ranges=shards,
            storage_node_count=self.storage_nodes,
            shard_hosts=spread_replicas(len(shards), self.initial_storage_count, self.replicas),
        )

    def journal_of(self, role: RoleSpec) -> tuple[int, int]:
        """(journal id, replica index) of a journal role."""
        return divmod(role.id, self.journal_replicas)

    def logical_addresses(self, role: RoleSpec) -> list[str]:
        """The transport addresses a role's process serves."""
        topo = self.topology()
        if role.kind == "journal":
            return [topo.journal_address(*self.journal_of(role))]
        if role.kind == "storage":
            return [topo.storage_address(role.id), topo.dynamo_address(role.id)]
        if role.kind == "adjudicator":
            # The process itself (its status), then every range as it would serve it: any
            # process may take any range over (adjudicator/ownership.py).
            return [adjudicator_process_address(role.id)] + [
                owned_address(i, role.id) for i in range(topo.adjudicator_count)
            ]
        return [qp_address(role.id)]

    def status_address(self, role: RoleSpec) -> str:
        """The address a role answers `status` at (an adjudicator process: for all its ranges)."""
        return self.logical_addresses(role)[0]

    def address_book(self) -> dict[str, tuple[str, int]]:
        """Every logical address of the cluster -> (host address, port) of the process serving it."""
        book: dict[str, tuple[str, int]] = {}
        for role in self.roles:
            endpoint = (self.hosts[role.host].address, role.port)
            for address in self.logical_addresses(role):
                book[address] = endpoint
        return book

    # -- places ----------------------------------------------------------------

    def data_dir(self, role: RoleSpec) -> str:
        return os.path.join(self.dir, "data", role.name)

    def dynamo_data_dir(self, role: RoleSpec) -> str:
        """A storage node's Dynamo copies, beside (not inside) its DSQL data: either can be lost alone."""
        return self.data_dir(role) + "-dynamo"

    def log_path(self, role: RoleSpec) -> str:
        return os.path.join(self.dir, "logs", f"{role.name}.log")

    def run_dir(self) -> str:
        return os.path.join(self.dir, "run")

    # -- files -----------------------------------------------------------------

    def to_toml(self) -> str:
        cluster = {
            "name": self.name, "dir": self.dir, "journals": self.journals,
            "journal_replicas": self.journal_replicas, "sql_parts": self.sql_parts,
            "shard_parts": self.shard_parts, "storage_nodes": self.storage_nodes, "replicas": self.replicas,
            "initial_storage_nodes": self.initial_storage_nodes, "copy_keys_per_s": self.copy_keys_per_s,
            "split_keys": self.split_keys, "split_check_s": self.split_check_s,
            "clock_error_ns": self.clock_error_ns, "lease_ms": self.lease_ms,
            "adjudicator_lease_ms": self.adjudicator_lease_ms,
        }  # fmt: skip
        return tomli_w.dumps({
            "cluster": cluster,
            "endpoints": {"port": self.port, "dynamodb_port": self.dynamodb_port, "dynamo_port": self.dynamo_port},
            "hosts": [asdict(h) for h in self.hosts],
            "roles": [asdict(r) for r in self.roles],
        })  # fmt: skip

    def save(self) -> str:
        path = os.path.join(self.dir, CONFIG_NAME)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.to_toml())
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str) -> ClusterSpec:
        if os.path.isdir(path):
            path = os.path.join(path, CONFIG_NAME)
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigInvalid(f"{path}: no such file (start a cluster with `dsql cluster up --dir DIR`)") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigInvalid(f"{path}: {exc}") from None
        try:
            cluster = dict(doc["cluster"])
            endpoints = doc.get("endpoints", {})
            hosts = [HostSpec(**h) for h in doc["hosts"]]
            roles = [RoleSpec(**r) for r in doc["roles"]]
            return cls(hosts=hosts, roles=roles, **cluster, **endpoints)
        except (KeyError, TypeError) as exc:
            raise ConfigInvalid(f"{path}: {exc}") from None


def qp_address(index: int) -> str:
    return f"qp/{index}"


def adjudicator_process_address(index: int) -> str:
    return f"adjudicators/{index}"


def plan(
    *,
    name: str,
    directory: str,
    hosts: list[HostSpec],
    qps: int = 2,
    adjudicators: int = 2,
    storage_nodes: int = 3,
    replicas: int = 3,
    journals: int = 1,
    journal_replicas: int = 3,
    port: int = 5432,
    dynamodb_port: int = 8000,
    dynamo_port: int = 8098,
    rpc_ports: list[int] | None = None,
    metrics_ports: list[int] | None = None,
    clock_error_ns: int = 0,
    copy_keys_per_s: int = 0,
    split_keys: int = SPLIT_KEYS,
    split_check_s: float = SPLIT_CHECK_S,
) -> ClusterSpec:
    """A cluster of the given shape, its roles spread over the hosts.

    Replicas of one journal go to distinct hosts where there are enough (each
    its own AZ, as DSQL places them), and so do storage nodes; every role
    gets its own RPC port (from `rpc_ports` in order, else 7100 upwards).
    """
    if qps < 1 or adjudicators < 1:
        raise ConfigInvalid("at least one qp and one adjudicator")
    kinds = (
        [("journal", i) for i in range(journals * journal_replicas)]
        + [("storage", i) for i in range(storage_nodes)]
        + [("adjudicator", i) for i in range(adjudicators)]
        + [("qp", i) for i in range(qps)]
    )
    ports = list(rpc_ports) if rpc_ports is not None else [7100 + i for i in range(len(kinds))]
    if len(ports) < len(kinds):
        raise ConfigInvalid(f"{len(kinds)} roles need {len(kinds)} RPC ports")
    metrics = list(metrics_ports) if metrics_ports is not None else [9100 + i for i in range(len(kinds))]
    if len(metrics) < len(kinds):
        raise ConfigInvalid(f"{len(kinds)} roles need {len(kinds)} metrics ports")
    roles = []
    for n, (kind, role_id) in enumerate(kinds):
        roles.append(RoleSpec(kind=kind, id=role_id, host=role_id % len(hosts), port=ports[n],
                              metrics_port=metrics[n]))  # fmt: skip
    return ClusterSpec(
        name=name, dir=os.path.abspath(directory), hosts=hosts, roles=roles, journals=journals,
        journal_replicas=journal_replicas, storage_nodes=storage_nodes, replicas=replicas, port=port,
        dynamodb_port=dynamodb_port, dynamo_port=dynamo_port, clock_error_ns=clock_error_ns,
        copy_keys_per_s=copy_keys_per_s, split_keys=split_keys, split_check_s=split_check_s,
    )  # fmt: skip
