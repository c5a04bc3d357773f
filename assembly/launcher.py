"""A local cluster: start, supervise, inspect and break every role's process.

`dsql cluster up --dir D` writes `D/cluster.toml` (`assembly.config`) and runs
a supervisor that starts one `dsql node` process per role, logs in
`D/logs/ROLE.log`, and restarts a process that dies on its own. Everything
the other commands need is in files under `D/run/`, so `dsql cluster kill`
(or `status`, `restart`, ...) run from another shell act on the same cluster:

    ROLE.want     what the operator wants: up | down | paused
    ROLE.pid      the PID of the role's current process (written by the supervisor)
    ROLE.ready    the PID of a process that serves (written by the node itself)
    ROLE.restarts how many times the supervisor started it after the first
    supervisor.pid, stop

Only the supervisor starts processes; the other commands change `want` and
signal processes. `kill` writes `down` first and then sends SIGKILL, so the
supervisor never undoes it; `restart` kills the current process if any and
writes `up`, and the supervisor starts a new one; `pause`/`resume` send
SIGSTOP/SIGCONT. `down` asks the supervisor to stop everything (SIGTERM, then
SIGKILL after a grace period) and waits for it.

`add-storage` adds a storage node to a running cluster: it appends the role to
`cluster.toml` (the supervisor reads the file again when it changes and starts
the new process), waits until it serves, and moves replicas onto it; `drain`
moves every replica off a storage node (assembly/placement.py does the moves,
never leaving a shard with fewer serving replicas than before).

With `--hosts N` the roles are spread over N network namespaces joined by a
bridge (`assembly.hosts`), each with its own address, so `partition`, `heal`
and `delay` cut and slow real links. Without hosts those are refused.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import trio
from rich.console import Console

from assembly import hosts as host_network
from assembly import placement, probe
from assembly.config import ClusterSpec, ConfigInvalid, HostSpec, RoleSpec, plan
from assembly.runfiles import (
    alive,
    is_ready,
    pid_of,
    read_int,
    run_path,
    set_want,
    supervisor_pid,
    want_of,
    write,
)
from cluster.dirlock import DirectoryInUse, lock_directory
from cluster.transport import RemoteError, Unreachable
from kv.dynamo.interface import Leave
from storage.placement import SPLIT_CHECK_S, SPLIT_KEYS

POLL_S = 0.1
# A process that dies this soon after it started is restarted only after a pause.
CRASH_LOOP_S = 2.0
RESTART_PAUSE_S = 1.0
STOP_GRACE_S = 15.0
READY_TIMEOUT_S = 90.0
# How long `restart --wipe-dynamo` waits for a killed process to let go of its Dynamo directory.
WIPE_LOCK_WAIT_S = 10.0
# A lost storage node's shards are re-copied this many at a time: each is short of a
# copy until its new replica has caught up, so they are not done one by one; and a
# few only, since each copy reads from a surviving replica that also serves clients
# and every move commits twice on the one placement key (moves at once conflict there).
DRAIN_LOST_MOVES_AT_ONCE = 4


class LauncherError(Exception):
    """A command that cannot be carried out; printed as one line."""


# -- planning ------------------------------------------------------------------


@dataclass
class Shape:
    qps: int = 2
    storage_nodes: int = 3
    replicas: int = 3
    journal_replicas: int = 3
    journals: int = 1
    adjudicators: int = 2
    hosts: int = 0
    port: int = 5432
    dynamodb_port: int = 8000
    dynamo_port: int = 8098
    clock_error_ns: int = 0
    copy_keys_per_s: int = 0
    split_keys: int = SPLIT_KEYS
    split_check_s: float = SPLIT_CHECK_S


def _free_ports(host: str, count: int) -> list[int]:
    """Ports free on `host` now (bound and released; taken soon after by the roles)."""
    sockets, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in sockets:
            sock.close()
    return ports


def make_spec(directory: str, shape: Shape) -> ClusterSpec:
    """A new cluster's spec (hosts made when `shape.hosts`), saved as D/cluster.toml."""
    name = uuid.uuid4().hex[:6]
    os.makedirs(directory, exist_ok=True)
    role_count = shape.qps + shape.storage_nodes + shape.journals * shape.journal_replicas + shape.adjudicators
    if shape.hosts:
        reason = host_network.available()
        if reason is not None:
            raise LauncherError(f"--hosts needs network namespaces: {reason}")
        network = host_network.HostNetwork.create(name, shape.hosts, os.path.join(directory, "run"))
        hosts = [HostSpec(f"h{i}", network.address(i), network.namespace(i)) for i in range(shape.hosts)]
        rpc_ports = [7100 + i for i in range(role_count)]  # every host has its own address
        metrics_ports = [9100 + i for i in range(role_count)]
        port = shape.port or 5432
    else:
        hosts = [HostSpec("h0", "127.0.0.1")]
        free = _free_ports("127.0.0.1", 2 * role_count)
        rpc_ports, metrics_ports = free[:role_count], free[role_count:]
        port = shape.port or _free_ports("127.0.0.1", 1)[0]
    dynamodb_port = shape.dynamodb_port  # 0: off
    spec = plan(
        name=name, directory=directory, hosts=hosts, qps=shape.qps, adjudicators=shape.adjudicators,
        storage_nodes=shape.storage_nodes, replicas=shape.replicas, journals=shape.journals, journal_replicas=shape.journal_replicas,
        port=port, dynamodb_port=dynamodb_port, dynamo_port=shape.dynamo_port, rpc_ports=rpc_ports, metrics_ports=metrics_ports,
        clock_error_ns=shape.clock_error_ns, copy_keys_per_s=shape.copy_keys_per_s,
        split_keys=shape.split_keys, split_check_s=shape.split_check_s,
    )  # fmt: skip
    spec.save()
    return spec


# -- the supervisor --------------------------------------------------------------


def node_command(spec: ClusterSpec, role: RoleSpec) -> list[str]:
    argv = [sys.executable, "-m", "assembly.cli", "node", "--config", os.path.join(spec.dir, "cluster.toml"),
            "--role", role.kind, "--id", str(role.id)]  # fmt: skip
    namespace = spec.host_of(role).namespace
    return ["ip", "netns", "exec", namespace, *argv] if namespace else argv


class Supervisor:
    """Starts every wanted role and restarts the ones that die, until told to stop."""

    def __init__(self, spec: ClusterSpec, *, announce: bool = False) -> None:
        self.spec = spec
        self.announce = announce
        self.processes: dict[str, subprocess.Popen] = {}
        self.started_at: dict[str, float] = {}
        self.restart_after: dict[str, float] = {}

    def run(self) -> None:
        spec = self.spec
        os.makedirs(spec.run_dir(), exist_ok=True)
        os.makedirs(os.path.join(spec.dir, "logs"), exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.remove(run_path(spec, "stop"))
        write(run_path(spec, "supervisor.pid"), str(os.getpid()))
        stopping = False

        def on_signal(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        announced = not self.announce
        config_path = os.path.join(spec.dir, "cluster.toml")
        config_mtime = _mtime(config_path)
        try:
            while not stopping and not os.path.exists(run_path(spec, "stop")):
                if _mtime(config_path) != config_mtime:
                    # `add-storage` added a role: start it too (roles are only ever added).
                    config_mtime = _mtime(config_path)
                    try:
                        spec = self.spec = ClusterSpec.load(config_path)
                    except ConfigInvalid as exc:
                        print(f"dsql cluster: {config_path} changed but cannot be read: {exc}", flush=True)
                self.tick()
                if not announced and all(is_ready(spec, r) for r in spec.roles):
                    print(endpoints_text(spec), flush=True)
                    announced = True
                time.sleep(POLL_S)
        finally:
            self.stop_all()
            with contextlib.suppress(FileNotFoundError):
                os.remove(run_path(spec, "supervisor.pid"))

    def tick(self) -> None:
        now = time.monotonic()
        for role in self.spec.roles:
            process = self.processes.get(role.name)
            running = process is not None and process.poll() is None
            if running or want_of(self.spec, role) == "down":
                continue
            if process is not None and role.name not in self.restart_after:
                lived = now - self.started_at.get(role.name, 0.0)
                self.restart_after[role.name] = now + (RESTART_PAUSE_S if lived < CRASH_LOOP_S else 0.0)
                _log_line(self.spec, role, f"exited with status {process.returncode}")
            if now < self.restart_after.get(role.name, 0.0):
                continue
            self.restart_after.pop(role.name, None)
            if process is not None:
                count = (read_int(run_path(self.spec, f"{role.name}.restarts")) or 0) + 1
                write(run_path(self.spec, f"{role.name}.restarts"), str(count))
            self.start(role)

    def start(self, role: RoleSpec) -> None:
        spec = self.spec
        with open(spec.log_path(role), "ab") as log:
            process = subprocess.Popen(
                node_command(spec, role), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=spec.dir,
            )  # fmt: skip
        self.processes[role.name] = process
        self.started_at[role.name] = time.monotonic()
        write(run_path(spec, f"{role.name}.pid"), str(process.pid))
        if want_of(spec, role) == "paused":
            set_want(spec, role, "up")

    def stop_all(self) -> None:
        live = {name: p for name, p in self.processes.items() if p.poll() is None}
        for process in live.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for process in live.values():
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for role in self.spec.roles:
            with contextlib.suppress(FileNotFoundError):
                os.remove(run_path(self.spec, f"{role.name}.ready"))


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return 0.0


def _log_line(spec: ClusterSpec, role: RoleSpec, text: str) -> None:
    with open(spec.log_path(role), "a") as log:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} supervisor: {role.name} {text}\n")


def endpoints_text(spec: ClusterSpec) -> str:
    qps = spec.of_kind("qp")
    hosts = sorted({spec.host_of(r).address for r in qps})
    lines = [f"dsql cluster {spec.name} ready in {spec.dir}: {len(spec.roles)} processes"]
    for address in hosts:
        lines.append(f"    psql -h {address} -p {spec.port} -U postgres -d postgres")
        if spec.dynamodb_port:
            lines.append(f"    DynamoDB endpoint http://{address}:{spec.dynamodb_port}")
        if spec.dynamo_port:
            lines.append(f"    Dynamo (Riak HTTP) endpoint http://{address}:{spec.dynamo_port}")
    lines.append(f"    dsql cluster status --dir {spec.dir}")
    return "\n".join(lines)


# -- commands --------------------------------------------------------------------


def up(directory: str, shape: Shape, *, detach: bool) -> int:
    directory = os.path.abspath(directory)
    config_path = os.path.join(directory, "cluster.toml")
    if os.path.exists(config_path):
        spec = ClusterSpec.load(config_path)
        if supervisor_pid(spec) is not None:
            raise LauncherError(f"a cluster is already running in {directory} (dsql cluster down --dir {directory})")
        print(f"dsql cluster: starting the cluster described in {config_path} again (its shape flags are ignored)")
        if any(h.namespace for h in spec.hosts):
            # `down` removed its hosts: make them again (their addresses may change; every
            # process reads them from cluster.toml, and the data lives in directories per role).
            network = host_network.HostNetwork.create(spec.name, len(spec.hosts), spec.run_dir())
            spec.hosts = [HostSpec(h.name, network.address(i), network.namespace(i)) for i, h in enumerate(spec.hosts)]
            spec.save()
    else:
        spec = make_spec(directory, shape)
    for role in spec.roles:
        if want_of(spec, role) == "paused":
            set_want(spec, role, "up")
    if not detach:
        Supervisor(spec, announce=True).run()
        print("dsql cluster: stopped", flush=True)
        return 0
    os.makedirs(os.path.join(spec.dir, "logs"), exist_ok=True)
    with open(os.path.join(spec.dir, "logs", "supervisor.log"), "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "assembly.cli", "cluster", "supervise", "--dir", spec.dir],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_ready(spec, spec.roles, READY_TIMEOUT_S)
    except LauncherError:
        down(directory)
        raise
    print(endpoints_text(spec), flush=True)
    return 0


def wait_ready(spec: ClusterSpec, roles: list[RoleSpec], timeout_s: float, *, not_pid: dict[str, int] | None = None) -> None:
    """Return once every role in `roles` serves; shows which it still waits for (on a terminal)."""
    with Console(stderr=True).status("starting") as status:
        _wait_ready(spec, roles, timeout_s, not_pid, status)


def _wait_ready(spec: ClusterSpec, roles: list[RoleSpec], timeout_s: float, not_pid: dict[str, int] | None,
                status: Any) -> None:  # fmt: skip
    started = time.monotonic()
    deadline = started + timeout_s
    while True:
        waiting = [r for r in roles if not is_ready(spec, r) or (not_pid and pid_of(spec, r) == not_pid.get(r.name))]
        if not waiting:
            return
        names = ", ".join(r.name for r in waiting[:6]) + (" ..." if len(waiting) > 6 else "")
        status.update(f"{len(roles) - len(waiting)} of {len(roles)} serving after "
                      f"{time.monotonic() - started:.0f} s; waiting for {names}")  # fmt: skip
        if time.monotonic() > deadline:
            details = []
            for role in waiting:
                tail = _tail(spec.log_path(role), 3)
                details.append(f"{role.name}: " + (" | ".join(tail) if tail else "no output"))
            raise LauncherError(f"not ready after {timeout_s:.0f} s: " + "; ".join(details))
        time.sleep(POLL_S)


def _tail(path: str, count: int) -> list[str]:
    try:
        with open(path, errors="replace") as f:
            return [line.rstrip() for line in f.readlines()[-count:]]
    except FileNotFoundError:
        return []


def supervise(directory: str) -> int:
    Supervisor(ClusterSpec.load(directory)).run()
    return 0


def down(directory: str) -> int:
    spec = ClusterSpec.load(directory)
    pid = supervisor_pid(spec)
    if pid is not None:
        write(run_path(spec, "stop"), "")
        deadline = time.monotonic() + STOP_GRACE_S + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(POLL_S)
    # Whatever is left (the supervisor was killed): stop it directly.
    for role in spec.roles:
        role_pid = pid_of(spec, role)
        if alive(role_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(role_pid, signal.SIGCONT)
                os.kill(role_pid, signal.SIGKILL)
    if any(h.namespace for h in spec.hosts):
        with contextlib.suppress(FileNotFoundError, ValueError):
            host_network.HostNetwork.load(spec.run_dir()).destroy()
    print(f"dsql cluster: {spec.name} in {spec.dir} is down", flush=True)
    return 0


def add_storage(directory: str) -> int:
    """Add a storage node to the running cluster and move its share of replicas onto it."""
    spec = ClusterSpec.load(directory)
    if supervisor_pid(spec) is None:
        raise LauncherError(f"the cluster in {spec.dir} is not running (dsql cluster up --dir {spec.dir})")
    node_id = spec.storage_nodes
    host = node_id % len(spec.hosts)
    if any(h.namespace for h in spec.hosts):
        port, metrics_port = 7100 + len(spec.roles), 9100 + len(spec.roles)  # each host has its own address
    else:
        port, metrics_port = _free_ports(spec.hosts[host].address, 2)
    role = RoleSpec(kind="storage", id=node_id, host=host, port=port, metrics_port=metrics_port)
    spec.initial_storage_nodes = spec.initial_storage_count
    spec.storage_nodes += 1
    spec.roles.append(role)
    spec._by_name[role.name] = role
    spec.validate()
    spec.save()  # the supervisor sees the new role and starts it
    print(f"dsql cluster: added {role.name} on {spec.host_of(role).name} "
          f"({spec.host_of(role).address}:{role.port})", flush=True)  # fmt: skip
    wait_ready(spec, [role], READY_TIMEOUT_S)
    moves = placement.run(spec, lambda driver: driver.add_node(node_id, storage_ids(spec),
                                                               (spec.host_of(role).address, role.port)))
    print(f"dsql cluster: {role.name} holds {len(moves)} shard replicas", flush=True)
    return 0


def drain(directory: str, name: str) -> int:
    """Move every replica off a storage node: a live one keeps running, holding
    nothing; a lost one (killed and never restarted, or cut off: it answers
    nothing) is replaced, each of its shards getting a new replica copied from
    a surviving one before the lost node leaves that shard's hosts."""
    spec = ClusterSpec.load(directory)
    role = resolve_role(spec, name)
    if role.kind != "storage":
        raise LauncherError(f"{role.name} is not a storage node")
    topology = spec.topology()
    lost = False

    async def drain_and_leave(driver: placement.PlacementDriver) -> list:
        nonlocal lost
        lost = not await driver.answering([role.id])
        if lost:
            print(f"dsql cluster: {role.name} does not answer: its shards get new replicas copied from the "
                  f"surviving ones, {DRAIN_LOST_MOVES_AT_ONCE} at a time", flush=True)  # fmt: skip
        moves = await driver.drain(role.id, storage_ids(spec), replicas=spec.replicas,
                                   moves_at_once=DRAIN_LOST_MOVES_AT_ONCE if lost else 1)  # fmt: skip
        # Its Dynamo node leaves the ring too: the nodes that take its partitions get its copies
        # by handoff, and until then those keys have fewer than N copies in place.
        others = [topology.dynamo_address(r.id) for r in spec.of_kind("storage") if r.id != role.id]
        for member in others:
            try:
                with trio.fail_after(10):
                    await driver.transport.connect(member).call("leave", Leave(topology.dynamo_address(role.id)))
                break
            except (Unreachable, RemoteError, trio.TooSlowError) as exc:
                print(f"dsql cluster: {member} did not take the leave ({exc!r}); trying another", flush=True)
        return moves

    started_s = time.monotonic()
    moves = placement.run(spec, drain_and_leave)
    took_s = time.monotonic() - started_s
    if lost:
        print(f"dsql cluster: {role.name} (lost) replaced in {took_s:.1f} s: {len(moves)} shard replicas copied "
              "from surviving replicas to other nodes; it holds none now and left the Dynamo ring",
              flush=True)  # fmt: skip
    else:
        print(f"dsql cluster: {role.name} drained ({len(moves)} replicas moved) and left the Dynamo ring; "
              "it holds none now", flush=True)  # fmt: skip
    return 0


def storage_ids(spec: ClusterSpec) -> list[int]:
    return [r.id for r in spec.of_kind("storage")]


def resolve_role(spec: ClusterSpec, name: str) -> RoleSpec:
    if name == "journal-leader":
        leader = probe.journal_leader(spec)
        if leader is None:
            raise LauncherError("no journal replica says it leads now")
        return leader
    try:
        return spec.role(name)
    except ConfigInvalid as exc:
        raise LauncherError(str(exc)) from None


def kill(directory: str, name: str) -> int:
    spec = ClusterSpec.load(directory)
    role = resolve_role(spec, name)
    set_want(spec, role, "down")
    pid = pid_of(spec, role)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    print(f"dsql cluster: killed {role.name} (pid {pid})", flush=True)
    return 0


def restart(directory: str, name: str, *, wait: bool = True, wipe_dynamo: bool = False) -> int:
    """Start a role again (killing it first). `wipe_dynamo`: a storage node's Dynamo store is
    deleted while the process is down, so its Dynamo node comes back under the same name with
    no copies, ring or settings, as a host whose disk was replaced; its DSQL data stays."""
    spec = ClusterSpec.load(directory)
    role = resolve_role(spec, name)
    if wipe_dynamo and role.kind != "storage":
        raise LauncherError(f"--wipe-dynamo needs a storage node (they hold the Dynamo data), not {role.name}")
    if supervisor_pid(spec) is None:
        raise LauncherError(f"no supervisor runs in {spec.dir}: start the cluster with `dsql cluster up`")
    old = pid_of(spec, role)
    if alive(old):
        set_want(spec, role, "down")
        with contextlib.suppress(ProcessLookupError):
            os.kill(old, signal.SIGCONT)
            os.kill(old, signal.SIGKILL)
        while alive(old):
            time.sleep(0.02)
    if wipe_dynamo:
        set_want(spec, role, "down")  # also when it was not running: the supervisor must not start it mid-wipe
        _wipe(spec.dynamo_data_dir(role))
    set_want(spec, role, "up")
    if wait:
        wait_ready(spec, [role], READY_TIMEOUT_S, not_pid={role.name: old} if old else None)
    print(f"dsql cluster: restarted {role.name} (pid {pid_of(spec, role)})", flush=True)
    return 0


def _wipe(directory: str) -> None:
    """Delete a directory no process holds (its lock proves it), as a disk lost."""
    if not os.path.isdir(directory):
        return
    # A killed process's leader thread is a zombie (not alive) a moment before its other threads
    # are gone and its files closed: the lock stays held for that moment.
    deadline = time.monotonic() + WIPE_LOCK_WAIT_S
    while True:
        try:
            lock = lock_directory(directory)
            break
        except DirectoryInUse:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        shutil.rmtree(directory)
    finally:
        lock.release()
    print(f"dsql cluster: deleted {directory}", flush=True)


def pause(directory: str, name: str) -> int:
    return _signal(directory, name, signal.SIGSTOP, "paused")


def resume(directory: str, name: str) -> int:
    return _signal(directory, name, signal.SIGCONT, "up")


def _signal(directory: str, name: str, signum: int, want: str) -> int:
    spec = ClusterSpec.load(directory)
    role = resolve_role(spec, name)
    pid = pid_of(spec, role)
    if not alive(pid):
        raise LauncherError(f"{role.name} is not running")
    set_want(spec, role, want)
    os.kill(pid, signum)
    print(f"dsql cluster: {want} {role.name} (pid {pid})", flush=True)
    return 0


def _network(spec: ClusterSpec):
    if not any(h.namespace for h in spec.hosts):
        raise LauncherError(
            "this cluster runs on one host; partitions and delays need hosts "
            "(start it with `dsql cluster up --hosts 3`)"
        )
    return host_network.HostNetwork.load(spec.run_dir())


def host_index(spec: ClusterSpec, name: str) -> int:
    """A host named as h1, 1, or by a role on it (qp-0, journal-leader)."""
    for i, host in enumerate(spec.hosts):
        if name in (host.name, str(i), host.address):
            return i
    return resolve_role(spec, name).host


def partition(directory: str, names: list[str], from_names: list[str] | None) -> int:
    spec = ClusterSpec.load(directory)
    network = _network(spec)
    hosts = sorted({host_index(spec, n) for n in names})
    others = sorted({host_index(spec, n) for n in from_names}) if from_names else None
    network.isolate(hosts, others)
    print(f"dsql cluster: partitioned {', '.join(spec.hosts[h].name for h in hosts)}", flush=True)
    return 0


def heal(directory: str) -> int:
    spec = ClusterSpec.load(directory)
    network = _network(spec)
    network.heal()  # cuts, loss and delays
    print("dsql cluster: healed", flush=True)
    return 0


def delay(directory: str, name: str, ms: float) -> int:
    spec = ClusterSpec.load(directory)
    network = _network(spec)
    host = host_index(spec, name)
    if ms <= 0:
        network.clear_delay(host)
    else:
        network.delay(host, ms)
    print(f"dsql cluster: {spec.hosts[host].name} delayed by {ms:g} ms", flush=True)
    return 0
