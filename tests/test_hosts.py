"""assembly/hosts.py: hosts as network namespaces, and partitions, loss and delay between them.

Real namespaces, a real bridge and real packets: a TCP echo server runs inside a host and
clients connect from other hosts and from the root namespace (this process's). A cut is
checked by a connection that times out (dropped packets, not a refusal), a delay by the
round trip it adds, which the kernel guarantees as a lower bound.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from assembly import hosts

ECHO_SERVER = textwrap.dedent("""
    import socket, sys, threading
    server = socket.create_server((sys.argv[1], int(sys.argv[2])))
    print(server.getsockname()[1], flush=True)
    def echo(conn):
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=echo, args=(conn,), daemon=True).start()
""")

# Prints the shortest of N round trips in seconds, or the error's class name and exits 1.
ECHO_CLIENT = textwrap.dedent("""
    import socket, sys, time
    address, port, timeout_s, trips = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    try:
        with socket.create_connection((address, port), timeout=timeout_s) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            best = None
            for _ in range(trips):
                start = time.monotonic()
                conn.sendall(b"x")
                assert conn.recv(1) == b"x"
                elapsed = time.monotonic() - start
                best = elapsed if best is None else min(best, elapsed)
        print(best)
    except OSError as error:
        print(type(error).__name__)
        sys.exit(1)
""")

# Counts the UDP datagrams that arrive until none has for a second, then prints the count.
UDP_COUNTER = textwrap.dedent("""
    import socket, sys
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((sys.argv[1], int(sys.argv[2])))
    print("ready", flush=True)
    received = 0
    sock.settimeout(10.0)  # the first datagram: the sender has yet to start
    try:
        while True:
            sock.recv(64)
            received += 1
            sock.settimeout(1.0)
    except TimeoutError:
        pass
    print(received, flush=True)
""")

UDP_SENDER = textwrap.dedent("""
    import socket, sys, time
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(int(sys.argv[3])):
        try:
            sock.sendto(b"x", (sys.argv[1], int(sys.argv[2])))
        except PermissionError:  # dropped on the way out, which the kernel reports as EPERM
            pass
        time.sleep(0.001)
""")

PORT = 7070  # each namespace has its own ports, so every test's server can use this one
REACH_TIMEOUT_S = 10.0  # a reachable host answers at once; this only bounds a stalled machine
CUT_TIMEOUT_S = 0.5  # a cut host never answers: how long to wait before calling it unreachable
_names = itertools.count()


@pytest.fixture(autouse=True)
def _namespaces_possible() -> None:
    reason = hosts.available()
    if reason is None:
        return
    if os.geteuid() == 0 or os.environ.get("CI"):
        pytest.fail(f"host networks unavailable: {reason}")  # CI runs as root with .ci/run's packages
    pytest.skip(f"host networks unavailable: {reason}")


def unique_name() -> str:
    return f"t{os.getpid()}x{next(_names)}"


@pytest.fixture
def make_network(tmp_path):
    made: list[hosts.HostNetwork] = []

    def make(count: int = 3) -> hosts.HostNetwork:
        # Each network's state in a directory of its own name: two made at once from
        # threads must not share one (a count of those made so far would).
        name = unique_name()
        network = hosts.HostNetwork.create(name, count, str(tmp_path / name))
        made.append(network)
        return network

    yield make
    for network in made:
        network.destroy()


@pytest.fixture
def servers():
    started: list[subprocess.Popen] = []

    def start(argv_prefix: list[str], address: str, port: int = PORT) -> int:
        process = subprocess.Popen([*argv_prefix, sys.executable, "-c", ECHO_SERVER, address, str(port)],
                                   stdout=subprocess.PIPE, text=True)
        started.append(process)
        line = process.stdout.readline()
        assert line.strip().isdigit(), f"echo server did not start: {line!r}"
        return int(line)

    yield start
    for process in started:
        process.kill()
        process.wait()


def round_trip(network: hosts.HostNetwork, from_host: int | None, address: str, *, port: int = PORT,
               timeout_s: float = REACH_TIMEOUT_S, trips: int = 1) -> float | str:
    """The shortest round trip in seconds from host `from_host` (None: this namespace), or the error."""
    argv = [sys.executable, "-c", ECHO_CLIENT, address, str(port), str(timeout_s), str(trips)]
    if from_host is not None:
        argv = network.command(from_host, argv)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s * (trips + 2) + 30)
    out = result.stdout.strip()
    return float(out) if result.returncode == 0 else out or result.stderr.strip()


def reachable(network: hosts.HostNetwork, from_host: int | None, to_host: int) -> bool:
    return isinstance(round_trip(network, from_host, network.address(to_host)), float)


def cut(network: hosts.HostNetwork, from_host: int | None, to_host: int) -> bool:
    """True when a connection times out: packets dropped, as in a real partition."""
    outcome = round_trip(network, from_host, network.address(to_host), timeout_s=CUT_TIMEOUT_S)
    assert not isinstance(outcome, float) and outcome in ("TimeoutError", "timeout"), outcome
    return True


def namespace_rules(network: hosts.HostNetwork, host: int) -> str:
    return subprocess.run(network.command(host, ["nft", "list", "ruleset"]), capture_output=True,
                          text=True, check=True).stdout


def test_hosts_reach_each_other_and_the_root_namespace(make_network, servers):
    network = make_network(3)
    addresses = [network.address(i) for i in range(3)]
    assert len(set(addresses)) == 3 and network.gateway_address not in addresses
    assert all(a.rsplit(".", 1)[0] == network.subnet.rsplit(".", 1)[0] for a in addresses)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert all(network.namespace(i) in listed for i in range(3))
    servers(network.command(0, []), network.address(0))
    assert reachable(network, 1, 0) and reachable(network, 2, 0) and reachable(network, None, 0)
    # and the other way: a host reaches a server of the root namespace on the gateway address
    port = servers([], network.gateway_address, 0)
    assert isinstance(round_trip(network, 2, network.gateway_address, port=port), float)


def test_partition_cuts_between_groups_only_and_heal_restores(make_network, servers):
    network = make_network(3)
    for host in range(3):
        servers(network.command(host, []), network.address(host))
    network.partition([[0], [1, 2]])
    network.partition([[0], [1, 2]])  # idempotent
    assert cut(network, 1, 0) and cut(network, 0, 2)
    assert reachable(network, 1, 2) and reachable(network, 2, 1)
    assert reachable(network, None, 0) and reachable(network, None, 1)  # the root namespace reaches all
    assert [row.cut_from for row in network.describe()] == [(1, 2), (0,), (0,)]
    network.heal()
    assert reachable(network, 1, 0) and reachable(network, 0, 2)
    assert [row.cut_from for row in network.describe()] == [(), (), ()]
    assert all(hosts._NFT_TABLE not in namespace_rules(network, i) for i in range(3))


def test_unlisted_hosts_form_a_group_and_isolate_adds_cuts(make_network, servers):
    network = make_network(3)
    for host in range(3):
        servers(network.command(host, []), network.address(host))
    network.partition([[0]])  # 1 and 2 are the other group
    assert [row.cut_from for row in network.describe()] == [(1, 2), (0,), (0,)]
    network.heal()
    network.isolate([0], from_hosts=[1])
    network.isolate([2], from_hosts=[1])
    assert cut(network, 1, 0) and cut(network, 2, 1)
    assert reachable(network, 0, 2) and reachable(network, 2, 0)
    assert [row.cut_from for row in network.describe()] == [(1,), (0, 2), (1,)]
    network.isolate([1])  # from everyone else, again: nothing changes
    assert [row.cut_from for row in network.describe()] == [(1,), (0, 2), (1,)]


def test_faults_made_by_another_process_are_seen_and_healed(make_network, servers):
    network = make_network(3)
    servers(network.command(0, []), network.address(0))
    program = ("import sys; from assembly.hosts import HostNetwork; "
               "getattr(HostNetwork.load(sys.argv[1]), sys.argv[2])(*map(eval, sys.argv[3:]))")
    subprocess.run([sys.executable, "-c", program, network.state_dir, "partition", "[[0], [1, 2]]"], check=True)
    assert [row.cut_from for row in network.describe()] == [(1, 2), (0,), (0,)]
    assert cut(network, 1, 0)
    network.loss(2, 50)  # this process adds to what the other made, not over it
    assert network.describe()[0].cut_from == (1, 2) and network.describe()[2].loss_percent == 50
    subprocess.run([sys.executable, "-c", program, network.state_dir, "heal"], check=True)
    assert reachable(network, 1, 0)
    assert all(row.cut_from == () and row.loss_percent == 0 for row in network.describe())


def test_delay_holds_a_hosts_packets_for_at_least_the_delay(make_network, servers):
    network = make_network(3)
    servers(network.command(0, []), network.address(0))
    network.delay(0, 200)
    row = network.describe()[0]
    assert (row.delay_ms, row.delay_mechanism in ("netem", "nfqueue")) == (200, True)
    # host 0's replies wait 200 ms; netem (or the delayer) never releases a packet earlier
    assert round_trip(network, 1, network.address(0), trips=3) >= 0.2
    assert round_trip(network, None, network.address(0), trips=1) >= 0.2
    assert round_trip(network, 0, network.address(0), trips=1) < 0.2  # its loopback is not delayed
    network.clear_delay(0)
    assert round_trip(network, 1, network.address(0), trips=5) < 0.2
    assert network.describe()[0].delay_mechanism is None
    assert len(hosts._netns_pids(network.namespace(0))) == 1  # the echo server; no delayer left behind


def test_loss_of_every_packet_cuts_a_host_until_cleared(make_network, servers):
    network = make_network(3)
    servers(network.command(0, []), network.address(0))
    network.loss(1, 100)
    assert cut(network, 1, 0) and reachable(network, 2, 0)
    assert network.describe()[1].loss_percent == 100
    network.loss(1, 50)
    counter = subprocess.Popen(network.command(0, [sys.executable, "-c", UDP_COUNTER, network.address(0),
                                                   str(PORT)]), stdout=subprocess.PIPE, text=True)
    assert counter.stdout.readline().strip() == "ready"
    subprocess.run(network.command(1, [sys.executable, "-c", UDP_SENDER, network.address(0), str(PORT), "400"]),
                   check=True)
    received = int(counter.stdout.readline())
    counter.wait()
    assert 80 <= received <= 320, received  # binomial(400, 0.5): outside this, odds below 1e-30
    network.loss(1, 0)
    assert reachable(network, 1, 0)
    assert hosts._NFT_TABLE not in namespace_rules(network, 1)


def test_destroy_leaves_no_namespace_bridge_veth_rule_or_process(make_network, servers):
    network = make_network(2)
    server = subprocess.Popen(network.command(0, [sys.executable, "-c", ECHO_SERVER, network.address(0),
                                                  str(PORT)]), stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip().isdigit()
    network.partition([[0], [1]])
    network.delay(1, 50)
    names = [network.namespace(i) for i in range(2)]
    bridge, veths, state_dir = network.bridge, [network._veth(i) for i in range(2)], network.state_dir
    hosts.HostNetwork.load(state_dir).destroy()  # from the saved state, as `dsql cluster down` does
    assert server.wait(timeout=10) is not None  # what ran inside was killed
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not any(name in listed for name in names)
    assert not {bridge, *veths} & {link["ifname"] for link in hosts._links()}
    assert not os.path.exists(os.path.join(state_dir, hosts.STATE_FILE_NAME))
    network.destroy()  # idempotent
    with pytest.raises(hosts.HostNetworkError, match="no host network"):
        hosts.HostNetwork.load(state_dir)


def test_two_networks_made_at_once_do_not_collide(make_network, servers):
    made: list[hosts.HostNetwork] = []
    threads = [threading.Thread(target=lambda: made.append(make_network(2))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = made
    assert first.subnet != second.subnet and first.bridge != second.bridge
    assert first.namespace(0) != second.namespace(0)
    for network in made:
        servers(network.command(0, []), network.address(0))
    first.partition([[0], [1]])
    assert cut(first, 1, 0) and reachable(second, 1, 0) and reachable(second, None, 0)
    # hosts of one network do not reach the other's: distinct subnets, distinct bridges
    assert not isinstance(round_trip(second, 1, first.address(0), timeout_s=CUT_TIMEOUT_S), float)


def test_bad_input_raises_value_error(make_network, tmp_path):
    for count in (0, -1, hosts.HOSTS_MAX + 1, "3", 2.0, True):
        with pytest.raises(ValueError, match="host count must be an integer from 1"):
            hosts.HostNetwork.create(unique_name(), count, str(tmp_path / "bad"))
    for name in ("", "Upper", "a b", "x" * 33, "-lead"):
        with pytest.raises(ValueError, match="network name"):
            hosts.HostNetwork.create(name, 1, str(tmp_path / "bad"))
    network = make_network(2)
    for call in (lambda: network.address(2), lambda: network.namespace(-1), lambda: network.command(5, ["true"]),
                 lambda: network.partition([[0], [3]]), lambda: network.isolate([2]),
                 lambda: network.delay(2, 10), lambda: network.loss(7, 1), lambda: network.clear_delay(2)):
        with pytest.raises(ValueError, match=r"host \S+ is out of range: network .* has hosts 0 to 1"):
            call()
    with pytest.raises(ValueError, match="more than one group"):
        network.partition([[0], [0, 1]])
    with pytest.raises(ValueError, match=r"a partition is a list of groups of hosts, like \[\[0\], \[1, 2\]\]"):
        network.partition([0, 1])
    with pytest.raises(ValueError, match="cut off from themselves"):
        network.isolate([0], from_hosts=[0, 1])
    with pytest.raises(ValueError, match="delay must be from 0"):
        network.delay(0, -5)
    with pytest.raises(ValueError, match="jitter must be from 0"):
        network.delay(0, 5, jitter_ms=hosts.DELAY_MS_MAX + 1)
    with pytest.raises(ValueError, match="loss must be a percentage"):
        network.loss(0, 101)
    assert all(row.cut_from == () for row in network.describe())  # nothing half-applied
    # and names or directories already in use are refused, not shared
    with pytest.raises(hosts.HostNetworkError, match="already exists"):
        hosts.HostNetwork.create(network.name, 1, str(tmp_path / "other"))
    with pytest.raises(hosts.HostNetworkError, match="already describes a host network"):
        hosts.HostNetwork.create(unique_name(), 1, network.state_dir)
    assert {network.namespace(0), network.namespace(1)} <= hosts._netns_names()  # the refusal removed nothing


def test_cleanup_stale_removes_networks_of_dead_runs_only(make_network, tmp_path):
    live = make_network(1)
    prefix = f"t{os.getpid()}"
    dead_name = f"{prefix}dead"
    program = ("import os, sys; from assembly.hosts import HostNetwork; "
               "HostNetwork.create(sys.argv[1], 2, sys.argv[2]); os._exit(0)")  # killed before destroy
    subprocess.run([sys.executable, "-c", program, dead_name, str(tmp_path / "dead")], check=True)
    dead = hosts.HostNetwork.load(str(tmp_path / "dead"))
    assert dead.namespace(1) in hosts._netns_names()
    alias = next(link for link in hosts._links() if link["ifname"] == dead.bridge)["ifalias"]
    assert json.loads(alias)["dsql_hosts"] == dead_name
    assert hosts.cleanup_stale(prefix) == [dead_name]
    assert not {dead.namespace(0), dead.namespace(1)} & hosts._netns_names()
    assert dead.bridge not in {link["ifname"] for link in hosts._links()}
    assert not (tmp_path / "dead" / hosts.STATE_FILE_NAME).exists()
    assert live.namespace(0) in hosts._netns_names()  # its creator (this process) lives
    assert hosts.cleanup_stale(prefix) == []
