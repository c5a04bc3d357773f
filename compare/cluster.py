"""The cluster a comparison runs on, and the faults it injects: `dsql cluster` driven as a user would.

`CompareCluster` starts (or adopts) a cluster of network-namespace hosts
with `dsql cluster up --hosts N` and injects faults with the same commands
a person would type (`partition`, `heal`, `kill`, `restart`), so what the
comparison measures is what anyone can reproduce by hand. Every design is
served by the same processes: each QP serves SQL, DynamoDB and Dynamo's Riak
API on its host's address, and each storage process holds DSQL's and
DynamoDB's shard replicas and a Dynamo node.

The default shape, 5 hosts: journal replicas on h0-h2, a storage node (and
Dynamo node) on each of h0-h4 (so Dynamo has N + 2 nodes for sloppy
quorum), adjudicators and QPs on h0 and h1. Cutting {h1, h2} off from
{h0, h3, h4} then leaves the journal's majority with h1 (so DSQL and
DynamoDB write only there) while both sides keep three Dynamo nodes.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

PORT, DYNAMODB_PORT, DYNAMO_PORT = 5432, 8000, 8098
UP_TIMEOUT_S = 300.0
FAULT_TIMEOUT_S = 120.0


class ClusterFailed(RuntimeError):
    """A `dsql cluster` command failed; the message has its output."""


@dataclass(frozen=True)
class Endpoint:
    """One QP's client endpoints."""

    qp: str
    host: str
    address: str

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@{self.address}:{PORT}/postgres"

    @property
    def dynamodb_url(self) -> str:
        return f"http://{self.address}:{DYNAMODB_PORT}"

    @property
    def dynamo_url(self) -> str:
        return f"http://{self.address}:{DYNAMO_PORT}"


class CompareCluster:
    """A cluster in `directory`, read from its cluster.toml (this package runs no part itself)."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = str(Path(directory).resolve())
        self.spec: dict | None = None

    def cli(self, *args: str, timeout_s: float = FAULT_TIMEOUT_S) -> str:
        command = [sys.executable, "-m", "assembly.cli", "cluster", *args, "--dir", self.dir]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise ClusterFailed(
                f"dsql cluster {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def up(self, *, hosts: int = 5, storage_nodes: int = 5) -> None:
        self.cli(
            "up", "--hosts", str(hosts), "--storage-nodes", str(storage_nodes), "--replicas", "3",
            "--port", str(PORT), "--dynamodb-port", str(DYNAMODB_PORT), "--dynamo-port", str(DYNAMO_PORT),
            "--detach", timeout_s=UP_TIMEOUT_S,
        )  # fmt: skip
        self.adopt()

    def adopt(self) -> None:
        """Use a cluster already running in the directory."""
        with open(Path(self.dir, "cluster.toml"), "rb") as f:
            self.spec = tomllib.load(f)

    def down(self) -> None:
        if Path(self.dir, "cluster.toml").exists():
            self.cli("down")

    def endpoints(self) -> list[Endpoint]:
        assert self.spec is not None, "up() or adopt() first"
        hosts = self.spec["hosts"]
        qps = sorted((r for r in self.spec["roles"] if r["kind"] == "qp"), key=lambda r: r["id"])
        return [Endpoint(f"qp-{r['id']}", hosts[r["host"]]["name"], hosts[r["host"]]["address"]) for r in qps]

    def describe(self, azs: dict[str, tuple[str, ...]]) -> dict[str, object]:
        """Hosts with their AZ and roles, and the AZs, for the report."""
        assert self.spec is not None
        hosts = self.spec["hosts"]
        az_of = {host: name for name, members in azs.items() for host in members}
        roles: dict[str, list[str]] = {host["name"]: [] for host in hosts}
        for role in self.spec["roles"]:
            roles[hosts[role["host"]]["name"]].append(f"{role['kind']}-{role['id']}")
        return {"hosts": [{"name": name, "az": f"az-{az_of.get(name, '?')}", "roles": held}
                          for name, held in roles.items()],
                "azs": [f"az-{name}: {', '.join(members)}" for name, members in azs.items()]}  # fmt: skip

    def hosts(self) -> list[str]:
        assert self.spec is not None
        return [host["name"] for host in self.spec["hosts"]]

    # -- faults -----------------------------------------------------------------------

    def partition(self, hosts: list[str], from_hosts: list[str] | None = None) -> None:
        self.cli("partition", *hosts, *(["--from", *from_hosts] if from_hosts else []))

    def heal(self) -> None:
        self.cli("heal")

    def kill(self, role: str) -> None:
        self.cli("kill", role)

    def restart(self, role: str) -> None:
        self.cli("restart", role, timeout_s=UP_TIMEOUT_S)
