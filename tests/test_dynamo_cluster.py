"""Dynamo's Riak HTTP API on a cluster of three network-namespace hosts, with curl.

Every storage node runs a Dynamo node beside it (storage-i and dynamo/i on host i); every query
processor (on h0 and h1) serves the Riak endpoint on port 8098 of its host with its own
coordinator. A host is cut off for real (packets dropped), so its Dynamo node times out rather
than refusing, and the coordinators must notice it themselves.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
from test_cluster import LocalCluster

from assembly import hosts as host_network
from assembly.config import ClusterSpec

pytestmark = pytest.mark.slow

if host_network.available() is not None:  # CI runs as root with the packages .ci/run installs
    pytest.fail(f"network namespaces are needed: {host_network.available()}", pytrace=False)

PORT = 8098


@pytest.fixture
def three_hosts(tmp_path: Path):
    cluster = LocalCluster(tmp_path / "cluster")
    try:
        cluster.up("--hosts", "3", "--dynamo-port", str(PORT))
        spec = cluster.spec
        assert spec is not None
        for qp in [role.name for role in spec.roles if role.name.startswith("qp-")]:
            # Each QP's coordinator may have started before the storage nodes' Dynamo nodes and
            # believe one down until its next probe (a second): the tests start with the ring whole.
            def whole(qp: str = qp) -> bool:
                stats = json.loads(curl(_url(spec, qp, "/stats"))[2])
                return int(stats["ring_members"]) == 3 and int(stats["nodes_down"]) == 0

            _eventually(whole, f"{qp}'s coordinator sees the three Dynamo nodes up")
        yield cluster
    finally:
        if Path(cluster.dir, "cluster.toml").exists():
            cluster.cli("down", check=False)


def _url(spec: ClusterSpec, qp: str, path: str) -> str:
    return f"http://{spec.host_of(spec.role(qp)).address}:{PORT}{path}"


def curl(url: str, *args: str, data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    command = ["curl", "-sS", "-D", "-", "-o", "/dev/stdout", "--max-time", "30", *args]
    if data is not None:
        command += ["--data-binary", "@-"]
    done = subprocess.run([*command, url], input=data, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ", 2)[1]), headers, body


def put(url: str, value: bytes, *args: str) -> tuple[int, dict[str, str], bytes]:
    return curl(url, "-X", "PUT", "-H", "Content-Type: text/plain", *args, data=value)


def test_riak_http_on_three_hosts_through_either_qp_and_a_host_cut_off(three_hosts: LocalCluster) -> None:
    spec = three_hosts.spec
    assert spec is not None
    key = "/buckets/carts/keys/alice"
    # Written through the QP on h0, read through the one on h1: one ring, one set of nodes.
    status, _, _ = put(_url(spec, "qp-0", key), b"milk")
    assert status == 204
    status, headers, body = curl(_url(spec, "qp-1", key))
    assert (status, body, headers["content-type"]) == (200, b"milk", "text/plain")
    context = headers["x-riak-vclock"]
    # Two writers with the same causal context, one through each QP: siblings.
    assert put(_url(spec, "qp-0", key), b"milk,eggs", "-H", f"X-Riak-Vclock: {context}")[0] == 204
    assert put(_url(spec, "qp-1", key), b"milk,bread", "-H", f"X-Riak-Vclock: {context}")[0] == 204
    status, headers, body = curl(_url(spec, "qp-0", key), "-H", "Accept: multipart/mixed")
    assert status == 300 and headers["content-type"].startswith("multipart/mixed"), (status, headers)
    assert b"milk,eggs" in body and b"milk,bread" in body
    # Writing back with the context of the 300 resolves them.
    assert put(_url(spec, "qp-0", key), b"milk,eggs,bread", "-H", f"X-Riak-Vclock: {headers['x-riak-vclock']}")[0] == 204
    assert curl(_url(spec, "qp-1", key))[2] == b"milk,eggs,bread"
    # Bad requests: Riak's statuses, and nothing stored.
    assert curl(_url(spec, "qp-0", key + "?r=4"))[0] == 400
    assert put(_url(spec, "qp-0", key), b"junk", "-H", "X-Riak-Vclock: not-a-clock")[0] == 400
    assert curl(_url(spec, "qp-1", key))[2] == b"milk,eggs,bread"

    # h2 (storage-2, so dynamo/2) cut off: writes and reads at quorum 2 go on, pr/pw=3 cannot.
    three_hosts.cli("partition", "h2")
    try:
        cut_key = "/buckets/carts/keys/bob"
        assert put(_url(spec, "qp-0", cut_key), b"during")[0] == 204
        status, _, body = curl(_url(spec, "qp-1", cut_key + "?r=2"))
        assert (status, body) == (200, b"during")
        status, _, body = put(_url(spec, "qp-0", cut_key + "?pw=3"), b"all-primaries")
        assert status == 503 and b"PW-value unsatisfied" in body, (status, body)
        status, _, body = curl(_url(spec, "qp-1", cut_key + "?pr=3"))
        assert status == 503 and b"PR-value unsatisfied" in body, (status, body)
    finally:
        three_hosts.cli("heal")
    # After healing, all three primaries answer again and hold the write made without one of them
    # (beside, as a sibling, whatever the refused pw=3 write left on the nodes it reached: a
    # write Dynamo refuses is not undone where it landed). Siblings come as multipart/mixed; a
    # lone value (the refused write landed nowhere) as its own type, which Accept must allow,
    # or the answer is 406.
    deadline = time.monotonic() + 60
    while True:
        status, _, body = curl(_url(spec, "qp-0", cut_key + "?pr=3&r=3"), "-H",
                               "Accept: multipart/mixed, */*;q=0.5")
        if status in (200, 300) and b"during" in body:
            break
        assert time.monotonic() < deadline, f"after the heal: {status} {body!r}"
        time.sleep(1)


def test_a_storage_node_added_joins_the_ring_and_one_drained_leaves_it_with_every_key_kept(tmp_path: Path) -> None:
    """`add-storage` starts a Dynamo node that joins the ring (and takes partitions by handoff);
    `drain` makes one leave (its copies handed to the new owners). Every key stays readable with
    all three primaries of its new preference list answering."""
    cluster = LocalCluster(tmp_path / "cluster")
    try:
        cluster.cli("up", "--port", "0", "--dynamodb-port", "0", "--dynamo-port", str(_free_port()), "--detach",
                    timeout=300)
        spec = ClusterSpec.load(cluster.dir)
        base = f"http://127.0.0.1:{spec.dynamo_port}"
        keys = [f"/buckets/moves/keys/k{i}" for i in range(60)]

        def ring_members() -> int:
            return int(json.loads(curl(base + "/stats")[2])["ring_members"])

        def every_node_answers() -> bool:
            # The QP's coordinator may have started before the storage nodes' Dynamo nodes and
            # believe one down until its next probe (a second): writes wait for the whole ring.
            stats = json.loads(curl(base + "/stats")[2])
            return int(stats["ring_members"]) == 3 and int(stats["nodes_down"]) == 0

        _eventually(every_node_answers, "the coordinator sees the three Dynamo nodes up")
        for key in keys:
            # A loaded machine can miss the coordinator's 2 s call deadline on a node that has
            # just started (503 "W-value unsatisfied"); a Riak client tries again, and so does this.
            answers: list[tuple[int, bytes]] = []
            deadline = time.monotonic() + 30
            while not answers or answers[-1][0] != 204:
                assert time.monotonic() < deadline, f"PUT {key}: {answers}"
                if answers:
                    time.sleep(1)
                status, _, body = put(base + key, key.encode())
                answers.append((status, body))
            assert all(status in (204, 503) for status, _ in answers), answers

        def every_key_in_place() -> bool:
            for key in keys:
                status, _, body = curl(base + key + "?pr=3&r=3")
                if (status, body) != (200, key.encode()):
                    return False
            return True

        cluster.cli("add-storage", timeout=300)
        _eventually(lambda: ring_members() == 4, "the new storage node's Dynamo node joins the ring")
        _eventually(every_key_in_place, "every key has its three primaries after the join")
        cluster.cli("drain", "storage-0", timeout=300)
        _eventually(lambda: ring_members() == 3, "the drained node leaves the ring")
        _eventually(every_key_in_place, "every key has its three primaries after the leave")
    finally:
        if Path(cluster.dir, "cluster.toml").exists():
            cluster.cli("down", check=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _eventually(check, what: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s:g} s: {what}"
        time.sleep(1)
