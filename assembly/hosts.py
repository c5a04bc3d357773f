"""Hosts as Linux network namespaces on one bridge, and the network faults between them.

`dsql cluster up --hosts N` places roles on N "hosts" so that partitions and delays are
real kernel behaviour rather than a simulation: each host is a network namespace
`dsql-<name>-h<i>` with one veth (`eth0` inside) plugged into a bridge in the root
namespace. The bridge has an address of its own (`gateway_address`), so tests, clients and
the launcher, which stay in the root namespace, reach every host directly.

Addresses. Network number `index` gets the bridge `dsqlbr<index>` and the subnet
10.213.<index>.0/24 (gateway .1, host i at .10+i). The index is claimed by creating the
bridge: `ip link add` of an existing name fails, so two runs creating networks at the same
time can never pick the same subnet, and a subnet already used by any interface or route of
the machine is skipped. The bridge's alias (ifalias, kept by the kernel) records who made
it, which is how `cleanup_stale` finds the leftovers of killed runs without any file.

State. Names, addresses and the current faults are saved as JSON in `state_dir`, so a later
command in another process (`dsql cluster partition --dir D ...`) can `HostNetwork.load` the
network, and every change of faults happens under an flock on that directory and re-reads
the saved faults first: two processes injecting faults at once do not lose each other's.

Faults, applied inside each host's namespace so the root namespace is never affected:
- partitions and cuts drop packets (nftables table `inet dsql_faults`, rules on the peers'
  addresses in the input and output hooks): silence, as a real partition gives, not a
  refusal. The root namespace can always reach every host, by choice: the clients, the
  launcher's health checks and the tests live there, and a partition of the hosts among
  themselves is what the journal, adjudicators and storage must survive;
- loss drops that share of the packets a host sends (nftables `numgen random`);
- delay holds every packet a host sends for `ms` (± `jitter_ms`): with `tc qdisc netem`
  on `eth0` when the kernel has sch_netem, and otherwise (some VM kernels, this project's
  CI among them, are built without it) with an NFQUEUE delayer (`assembly/netdelay.py`): a
  small process in the namespace that receives each outgoing packet over netlink and accepts
  it once its delay has passed. Either way no packet leaves before `ms`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import ipaddress
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator

from assembly import netdelay

STATE_FILE_NAME = "hosts.json"
_LOCK_FILE_NAME = "hosts.lock"
_STATE_VERSION = 1

NAMESPACE_PREFIX = "dsql-"
_BRIDGE_PREFIX = "dsqlbr"
_VETH_PREFIX = "dsqv"  # host side of host i's veth: dsqv<index>h<i>, within 15 characters
_HOST_INTERFACE = "eth0"  # the veth's name inside each namespace
_NFT_TABLE = "dsql_faults"
_SUBNET_PREFIX = "10.213"  # network <index> is 10.213.<index>.0/24
_INDEX_COUNT = 256
_FIRST_HOST_OCTET = 10  # .1 is the gateway; hosts start at .10 so addresses read as host numbers
HOSTS_MAX = 240  # .10 to .249 within one /24
_ALIAS_BYTES_MAX = 255  # IFALIASZ - 1
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")

DELAY_MS_MAX = 60_000  # longer than any timeout worth testing; a larger value is a typo
_NFQUEUE_NUMBER = 0  # each namespace has its own queues, so one number serves every host
_DELAYER_READY_TIMEOUT_S = 10.0
_DELAYER_STOP_TIMEOUT_S = 5.0
_COMMAND_TIMEOUT_S = 30.0


class HostNetworkError(RuntimeError):
    """A command that builds or changes the network failed (the message has its stderr)."""


def _run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_S)
    if check and result.returncode != 0:
        raise HostNetworkError(f"{' '.join(argv)}: {result.stderr.strip() or f'exit {result.returncode}'}")
    return result


def _netns_names() -> set[str]:
    out = _run(["ip", "-j", "netns", "list"]).stdout.strip()
    return {entry["name"] for entry in json.loads(out)} if out else set()


def _netns_pids(namespace: str) -> list[int]:
    result = _run(["ip", "netns", "pids", namespace], check=False)
    return [int(word) for word in result.stdout.split()] if result.returncode == 0 else []


def _links() -> list[dict]:
    return json.loads(_run(["ip", "-j", "link", "show"]).stdout or "[]")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_start_time(pid: int) -> int | None:
    """The start time (clock ticks since boot) of `pid`: with the pid it names one process."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is an exited child of this process
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if fields[0] in ("Z", "X"):  # exited; only its parent's wait is missing
        return None
    return int(fields[19])  # field 22 of stat(5); fields[0] here is field 3


def available() -> str | None:
    """None when this machine can make host networks, else a one-line reason why not."""
    if os.geteuid() != 0:
        return "network namespaces need root (run as root, or without --hosts)"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (Debian package {package})"
    probe = f"{NAMESPACE_PREFIX}probe-{os.getpid()}"
    made = _run(["ip", "netns", "add", probe], check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    try:
        netem = _run(["ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                      "delay", "1ms"], check=False)
        if netem.returncode != 0 and shutil.which("iptables") is None:
            return ("delays need tc netem (the kernel has no sch_netem) or iptables for an NFQUEUE "
                    "delayer (Debian package iptables)")
    finally:
        _run(["ip", "netns", "del", probe], check=False)
    return None


@dataclasses.dataclass(frozen=True)
class HostFaults:
    """One host's row of `describe()`: where it is and what is done to its traffic."""

    host: int
    namespace: str
    address: str
    cut_from: tuple[int, ...]  # hosts it exchanges no packets with
    delay_ms: float
    jitter_ms: float
    delay_mechanism: str | None  # "netem" or "nfqueue" while delayed
    loss_percent: float


@dataclasses.dataclass
class _Faults:
    cuts: set[tuple[int, int]] = dataclasses.field(default_factory=set)  # (a, b) with a < b
    loss_percent: dict[int, float] = dataclasses.field(default_factory=dict)
    delays: dict[int, dict] = dataclasses.field(default_factory=dict)  # ms, jitter_ms, mechanism, pid, start

    def to_json(self) -> dict:
        return {
            "cuts": sorted([a, b] for a, b in self.cuts),
            "loss_percent": {str(h): p for h, p in sorted(self.loss_percent.items())},
            "delays": {str(h): d for h, d in sorted(self.delays.items())},
        }

    @classmethod
    def from_json(cls, data: dict) -> _Faults:
        return cls(
            cuts={(a, b) for a, b in data.get("cuts", [])},
            loss_percent={int(h): p for h, p in data.get("loss_percent", {}).items()},
            delays={int(h): d for h, d in data.get("delays", {}).items()},
        )


class HostNetwork:
    """N namespaces on one bridge; `create` builds it, `load` finds it again, `destroy` removes it."""

    def __init__(self, name: str, index: int, count: int, state_dir: str | None) -> None:
        self.name = name
        self.index = index
        self.count = count
        self.state_dir = state_dir
        self._faults = _Faults()
        self._children: dict[int, subprocess.Popen] = {}  # delayers this process started, to reap
        # While `create` builds, the namespaces it made: a failed build removes only those, never a
        # namespace of the same name that another run made in the meantime. None: all of them.
        self._built_namespaces: set[str] | None = None

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def create(cls, name: str, count: int, state_dir: str) -> HostNetwork:
        """Build `count` hosts named `dsql-<name>-h<i>` and save their state in `state_dir`."""
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(f"network name {name!r} must be 1 to 32 of a-z, 0-9, '_' and '-', "
                             "starting with a letter or digit")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= HOSTS_MAX:
            raise ValueError(f"host count must be an integer from 1 to {HOSTS_MAX}, not {count!r}")
        os.makedirs(state_dir, exist_ok=True)
        state_path = os.path.join(state_dir, STATE_FILE_NAME)
        if os.path.exists(state_path):
            raise HostNetworkError(f"{state_path} already describes a host network; destroy it first "
                                   "(HostNetwork.load(state_dir).destroy())")
        taken = [ns for ns in _netns_names() if ns.startswith(f"{NAMESPACE_PREFIX}{name}-h")]
        if taken:
            raise HostNetworkError(f"network namespace {sorted(taken)[0]} already exists: another network "
                                   f"is named {name!r} (cleanup_stale({name!r}) removes a dead one)")
        index = _claim_index(name, count, state_dir)
        network = cls(name, index, count, os.path.abspath(state_dir))
        network._built_namespaces = set()
        try:
            network._build()
            network._save()
        except BaseException:
            network.destroy()
            raise
        network._built_namespaces = None
        return network

    @classmethod
    def load(cls, state_dir: str) -> HostNetwork:
        """The network whose state `create` saved in `state_dir`."""
        path = os.path.join(state_dir, STATE_FILE_NAME)
        try:
            with open(path) as file:
                state = json.load(file)
        except FileNotFoundError:
            raise HostNetworkError(f"no host network in {state_dir} ({STATE_FILE_NAME} is missing)") from None
        if state.get("version") != _STATE_VERSION:
            raise HostNetworkError(f"{path} has state version {state.get('version')}, expected {_STATE_VERSION}")
        network = cls(state["name"], state["index"], state["count"], os.path.abspath(state_dir))
        network._faults = _Faults.from_json(state["faults"])
        return network

    def _build(self) -> None:
        bridge = self.bridge
        _run(["ip", "addr", "add", f"{self.gateway_address}/24", "dev", bridge])
        _run(["ip", "link", "set", bridge, "type", "bridge", "forward_delay", "0"])
        _run(["ip", "link", "set", bridge, "up"])
        for i in range(self.count):
            namespace, veth = self.namespace(i), self._veth(i)
            _run(["ip", "netns", "add", namespace])
            self._built_namespaces.add(namespace)
            _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", _HOST_INTERFACE,
                  "netns", namespace])
            _run(["ip", "link", "set", veth, "master", bridge, "up"])
            _run(["ip", "-n", namespace, "addr", "add", f"{self.address(i)}/24", "dev", _HOST_INTERFACE])
            _run(["ip", "-n", namespace, "link", "set", _HOST_INTERFACE, "up"])
            _run(["ip", "-n", namespace, "link", "set", "lo", "up"])

    # ---- names and addresses ------------------------------------------------------------

    @property
    def bridge(self) -> str:
        return f"{_BRIDGE_PREFIX}{self.index}"

    @property
    def subnet(self) -> str:
        return f"{_SUBNET_PREFIX}.{self.index}.0/24"

    @property
    def gateway_address(self) -> str:
        """The bridge's address in the root namespace: what a host sees a root process come from."""
        return f"{_SUBNET_PREFIX}.{self.index}.1"

    def _check_host(self, host: int) -> int:
        if not isinstance(host, int) or isinstance(host, bool) or not 0 <= host < self.count:
            raise ValueError(f"host {host!r} is out of range: network {self.name!r} has hosts 0 to {self.count - 1}")
        return host

    def address(self, host: int) -> str:
        return f"{_SUBNET_PREFIX}.{self.index}.{_FIRST_HOST_OCTET + self._check_host(host)}"

    def namespace(self, host: int) -> str:
        return f"{NAMESPACE_PREFIX}{self.name}-h{self._check_host(host)}"

    def _veth(self, host: int) -> str:
        return f"{_VETH_PREFIX}{self.index}h{host}"

    def command(self, host: int, argv: list[str]) -> list[str]:
        """The argv that runs `argv` inside host `host`."""
        return ["ip", "netns", "exec", self.namespace(host), *argv]

    # ---- state --------------------------------------------------------------------------

    def _save(self) -> None:
        if self.state_dir is None:
            return
        state = {"version": _STATE_VERSION, "name": self.name, "index": self.index, "count": self.count,
                 "bridge": self.bridge, "subnet": self.subnet, "gateway": self.gateway_address,
                 "hosts": [{"namespace": self.namespace(i), "address": self.address(i), "veth": self._veth(i)}
                           for i in range(self.count)],
                 "faults": self._faults.to_json()}
        path = os.path.join(self.state_dir, STATE_FILE_NAME)
        with open(path + ".tmp", "w") as file:
            json.dump(state, file, indent=2)
        os.replace(path + ".tmp", path)

    @contextlib.contextmanager
    def _changing_faults(self) -> Iterator[_Faults]:
        """The saved faults, locked against other processes, applied and saved on exit."""
        if self.state_dir is None:
            yield self._faults
            self._apply_rules()
            return
        with open(os.path.join(self.state_dir, _LOCK_FILE_NAME), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = os.path.join(self.state_dir, STATE_FILE_NAME)
            if not os.path.exists(path):
                raise HostNetworkError(f"host network {self.name!r} has been destroyed")
            with open(path) as file:
                self._faults = _Faults.from_json(json.load(file)["faults"])
            try:
                yield self._faults
            finally:
                self._apply_rules()
                self._save()

    # ---- faults -------------------------------------------------------------------------

    def partition(self, groups: list[list[int]]) -> None:
        """Hosts in different groups exchange no packets; hosts not named form one more group.

        Replaces any earlier partition or cut (it is idempotent); delays and loss stay.
        """
        group_of: dict[int, int] = {}
        for number, group in enumerate(groups):
            if not isinstance(group, list | tuple | set | frozenset):
                raise ValueError(f"a partition is a list of groups of hosts, like [[0], [1, 2]], not {groups!r}")
            for host in group:
                if self._check_host(host) in group_of:
                    raise ValueError(f"host {host} is in more than one group of the partition")
                group_of[host] = number
        rest = len(groups)
        cuts = {(a, b) for a in range(self.count) for b in range(a + 1, self.count)
                if group_of.get(a, rest) != group_of.get(b, rest)}
        with self._changing_faults() as faults:
            faults.cuts = cuts

    def isolate(self, hosts: Iterable[int], from_hosts: Iterable[int] | None = None) -> None:
        """Cut `hosts` off from `from_hosts` (default: every other host), adding to earlier cuts."""
        cut = {self._check_host(h) for h in hosts}
        others = set(range(self.count)) - cut if from_hosts is None else {self._check_host(h) for h in from_hosts}
        if cut & others:
            raise ValueError(f"hosts {sorted(cut & others)} cannot be cut off from themselves")
        with self._changing_faults() as faults:
            faults.cuts |= {(min(a, b), max(a, b)) for a in cut for b in others}

    def heal(self) -> None:
        """Remove every fault: cuts, loss and delays. The network is as `create` left it."""
        with self._changing_faults() as faults:
            for host in list(faults.delays):
                self._stop_delay(host, faults.delays.pop(host))
            faults.cuts.clear()
            faults.loss_percent.clear()

    def loss(self, host: int, percent: float) -> None:
        """Drop `percent` % of the packets host `host` sends (0 stops it)."""
        self._check_host(host)
        if not isinstance(percent, int | float) or not 0 <= percent <= 100:
            raise ValueError(f"loss must be a percentage from 0 to 100, not {percent!r}")
        with self._changing_faults() as faults:
            if percent:
                faults.loss_percent[host] = float(percent)
            else:
                faults.loss_percent.pop(host, None)

    def delay(self, host: int, ms: float, jitter_ms: float = 0) -> None:
        """Hold every packet host `host` sends for `ms` ± `jitter_ms` milliseconds."""
        self._check_host(host)
        for label, value in (("delay", ms), ("jitter", jitter_ms)):
            if not isinstance(value, int | float) or not 0 <= value <= DELAY_MS_MAX:
                raise ValueError(f"{label} must be from 0 to {DELAY_MS_MAX} ms, not {value!r}")
        with self._changing_faults() as faults:
            if host in faults.delays:
                self._stop_delay(host, faults.delays.pop(host))
            if ms or jitter_ms:
                faults.delays[host] = self._start_delay(host, float(ms), float(jitter_ms))

    def clear_delay(self, host: int) -> None:
        self._check_host(host)
        with self._changing_faults() as faults:
            if host in faults.delays:
                self._stop_delay(host, faults.delays.pop(host))

    def describe(self) -> list[HostFaults]:
        """One row per host with its current faults, as saved by whichever process made them."""
        if self.state_dir is not None and os.path.exists(os.path.join(self.state_dir, STATE_FILE_NAME)):
            self._faults = HostNetwork.load(self.state_dir)._faults
        return self._rows()

    def _rows(self) -> list[HostFaults]:
        rows = []
        for i in range(self.count):
            delay = self._faults.delays.get(i, {})
            rows.append(HostFaults(
                host=i, namespace=self.namespace(i), address=self.address(i),
                cut_from=tuple(sorted({b for a, b in self._faults.cuts if a == i}
                                      | {a for a, b in self._faults.cuts if b == i})),
                delay_ms=delay.get("ms", 0.0), jitter_ms=delay.get("jitter_ms", 0.0),
                delay_mechanism=delay.get("mechanism"), loss_percent=self._faults.loss_percent.get(i, 0.0)))
        return rows

    def _apply_rules(self) -> None:
        """Replace each host's nftables table by one made from the faults (one atomic `nft -f`)."""
        for row in self._rows():
            lines = [f"table inet {_NFT_TABLE}", f"delete table inet {_NFT_TABLE}"]
            input_rules, output_rules = [], []
            if row.cut_from:
                peers = ", ".join(self.address(j) for j in row.cut_from)
                input_rules.append(f"ip saddr {{ {peers} }} drop")
                output_rules.append(f"ip daddr {{ {peers} }} drop")
            if row.loss_percent:
                basis_points = round(row.loss_percent * 100)  # numgen draws integers: 0.01 % steps
                chance = f"numgen random mod 10000 < {basis_points} " if basis_points < 10000 else ""
                output_rules.append(f'oifname "{_HOST_INTERFACE}" {chance}drop')
            if input_rules or output_rules:
                lines.append(f"table inet {_NFT_TABLE} {{")
                for chain, rules in (("input", input_rules), ("output", output_rules)):
                    lines.append(f"  chain {chain} {{ type filter hook {chain} priority 0; policy accept;")
                    lines.extend(f"    {rule}" for rule in rules)
                    lines.append("  }")
                lines.append("}")
            ruleset = "\n".join(lines) + "\n"
            result = subprocess.run(["ip", "netns", "exec", row.namespace, "nft", "-f", "-"], input=ruleset,
                                    capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_S)
            if result.returncode != 0:
                raise HostNetworkError(f"nft in {row.namespace}: {result.stderr.strip()}\n{ruleset}")

    # ---- delays -------------------------------------------------------------------------

    def _start_delay(self, host: int, ms: float, jitter_ms: float) -> dict:
        namespace = self.namespace(host)
        netem = ["tc", "qdisc", "replace", "dev", _HOST_INTERFACE, "root", "netem", "delay", f"{ms}ms"]
        if jitter_ms:
            netem.append(f"{jitter_ms}ms")
        result = _run(self.command(host, netem), check=False)
        if result.returncode == 0:
            return {"ms": ms, "jitter_ms": jitter_ms, "mechanism": "netem"}
        if "unknown" not in result.stderr.lower():  # not "Specified qdisc kind is unknown": a real error
            raise HostNetworkError(f"tc netem in {namespace}: {result.stderr.strip()}")
        if shutil.which("iptables") is None:
            raise HostNetworkError("the kernel has no netem and iptables is not installed for an NFQUEUE delayer")
        log = subprocess.DEVNULL
        if self.state_dir is not None:
            log = open(os.path.join(self.state_dir, f"delayer-h{host}.log"), "ab")  # noqa: SIM115
        try:
            delayer = subprocess.Popen(
                self.command(host, [sys.executable, os.path.abspath(netdelay.__file__),
                                    str(_NFQUEUE_NUMBER), str(ms), str(jitter_ms)]),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        ready, _, _ = select.select([delayer.stdout], [], [], _DELAYER_READY_TIMEOUT_S)
        line = delayer.stdout.readline() if ready else b""
        delayer.stdout.close()
        if line.strip() != b"ready":
            delayer.kill()
            delayer.wait()
            raise HostNetworkError(f"the NFQUEUE delayer in {namespace} did not start (see its log in "
                                   f"{self.state_dir})")
        self._children[delayer.pid] = delayer
        spec = {"ms": ms, "jitter_ms": jitter_ms, "mechanism": "nfqueue", "pid": delayer.pid,
                "start": _process_start_time(delayer.pid)}
        try:
            _run(self.command(host, ["iptables", "-w", "-I", "OUTPUT", *self._nfqueue_rule()]))
        except HostNetworkError:
            self._stop_delay(host, spec)
            raise
        return spec

    @staticmethod
    def _nfqueue_rule() -> list[str]:
        # --queue-bypass: should the delayer die, packets pass undelayed rather than vanish.
        return ["-o", _HOST_INTERFACE, "-j", "NFQUEUE", "--queue-num", str(_NFQUEUE_NUMBER), "--queue-bypass"]

    def _stop_delay(self, host: int, spec: dict) -> None:
        if spec["mechanism"] == "netem":
            _run(self.command(host, ["tc", "qdisc", "del", "dev", _HOST_INTERFACE, "root"]), check=False)
            return
        _run(self.command(host, ["iptables", "-w", "-D", "OUTPUT", *self._nfqueue_rule()]), check=False)
        _stop_process(spec["pid"], spec.get("start"), self._children.pop(spec["pid"], None))

    # ---- teardown -----------------------------------------------------------------------

    def destroy(self) -> None:
        """Remove hosts, veths, bridge and rules, killing what still runs in the hosts. Idempotent."""
        self.describe()  # the delayers another process may have started since this one loaded
        for spec in self._faults.delays.values():
            if spec["mechanism"] == "nfqueue":
                _stop_process(spec["pid"], spec.get("start"), self._children.pop(spec["pid"], None))
        namespaces = _netns_names()
        if self._built_namespaces is not None:
            namespaces &= self._built_namespaces
        for i in range(self.count):
            namespace = self.namespace(i)
            if namespace in namespaces:
                # A process left in a namespace keeps it (and its rules) alive after `ip netns del`.
                for pid in _netns_pids(namespace):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        for i in range(self.count):
            _run(["ip", "link", "del", self._veth(i)], check=False)
            if self.namespace(i) in namespaces:
                _run(["ip", "netns", "del", self.namespace(i)], check=False)
        _run(["ip", "link", "del", self.bridge], check=False)
        if self.state_dir is not None:
            for file_name in (STATE_FILE_NAME, STATE_FILE_NAME + ".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(self.state_dir, file_name))
        self._faults = _Faults()


def _stop_process(pid: int, start: int | None, child: subprocess.Popen | None) -> None:
    """SIGTERM `pid` if it is still the process started at `start`, then SIGKILL after a grace period."""
    if child is None and (start is None or _process_start_time(pid) != start):
        return  # gone, or the pid now names another process
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _DELAYER_STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if child is not None and child.poll() is not None:
            return
        if child is None and _process_start_time(pid) != start:
            return
        time.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if child is not None:
        child.wait()


def _claim_index(name: str, count: int, state_dir: str) -> int:
    """Create the bridge of the first free network index; its creation is the claim."""
    in_use = []
    for family_listing in (["ip", "-j", "-4", "addr", "show"], ["ip", "-j", "-4", "route", "show", "table", "all"]):
        for entry in json.loads(_run(family_listing).stdout or "[]"):
            for info in entry.get("addr_info", [entry]):
                prefix = info.get("local") or info.get("dst")
                if prefix and prefix != "default":
                    length = info.get("prefixlen")
                    text = f"{prefix}/{length}" if length is not None and "/" not in prefix else prefix
                    with contextlib.suppress(ValueError):
                        in_use.append(ipaddress.ip_network(text, strict=False))
    owner = {"dsql_hosts": name, "count": count, "pid": os.getpid(), "dir": os.path.abspath(state_dir)}
    alias = json.dumps(owner, separators=(",", ":"))
    if len(alias) > _ALIAS_BYTES_MAX:  # a very long directory: the alias still names the network
        alias = json.dumps({**owner, "dir": None}, separators=(",", ":"))
    for index in range(_INDEX_COUNT):
        subnet = ipaddress.ip_network(f"{_SUBNET_PREFIX}.{index}.0/24")
        if any(subnet.overlaps(net) for net in in_use):
            continue
        bridge = f"{_BRIDGE_PREFIX}{index}"
        made = _run(["ip", "link", "add", "name", bridge, "type", "bridge"], check=False)
        if made.returncode != 0:
            if "exists" in made.stderr:
                continue
            raise HostNetworkError(f"ip link add {bridge}: {made.stderr.strip()}")
        _run(["ip", "link", "set", bridge, "alias", alias])
        return index
    raise HostNetworkError(f"no free subnet among {_SUBNET_PREFIX}.0.0/16's {_INDEX_COUNT} networks")


def cleanup_stale(prefix: str = "") -> list[str]:
    """Remove networks named `prefix...` left by dead runs; return their names.

    A network is stale when the process that created it is gone and nothing runs in any of
    its namespaces (a detached cluster keeps its processes there, so it is never removed).
    Namespaces and veths whose bridge is already gone are removed the same way.
    """
    removed: list[str] = []
    namespaces = _netns_names()
    links = _links()
    owned_namespaces: set[str] = set()
    bridges: set[int] = set()
    for link in links:
        match = re.fullmatch(rf"{_BRIDGE_PREFIX}(\d+)", link.get("ifname", ""))
        if not match:
            continue
        index = int(match.group(1))
        bridges.add(index)
        try:
            owner = json.loads(link.get("ifalias", ""))
            name, count, pid = owner["dsql_hosts"], int(owner["count"]), int(owner["pid"])
        except (ValueError, KeyError, TypeError):
            continue  # not ours, or an alias we cannot read: leave it
        network = HostNetwork(name, index, count, None)
        mine = {network.namespace(i) for i in range(count)}
        owned_namespaces |= mine
        if not name.startswith(prefix) or _pid_alive(pid):
            continue
        if any(_netns_pids(ns) for ns in mine & namespaces):
            continue
        state_dir = owner.get("dir")
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            with open(os.path.join(state_dir, STATE_FILE_NAME)) as file:
                saved = json.load(file)
            if (saved["name"], saved["index"]) == (name, index):
                network.state_dir = state_dir  # so its destroy removes the saved state as well
        network.destroy()
        bridges.discard(index)
        removed.append(name)
    orphan_re = re.compile(rf"{re.escape(NAMESPACE_PREFIX + prefix)}.*-h\d+")
    for namespace in sorted(namespaces - owned_namespaces):
        if orphan_re.fullmatch(namespace) and not _netns_pids(namespace):
            _run(["ip", "netns", "del", namespace], check=False)
            removed.append(namespace)
    for link in links:
        match = re.fullmatch(rf"{_VETH_PREFIX}(\d+)h\d+", link.get("ifname", "").split("@")[0])
        if match and int(match.group(1)) not in bridges:
            _run(["ip", "link", "del", match.group(0)], check=False)
    return removed
