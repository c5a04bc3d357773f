"""Three journal replica processes over TCP, a client at load, and SIGKILL.

The replicas run as `python -m journal.replica_main`, each with its own data
directory. Appenders keep appending while the test SIGKILLs the leader,
restarts it, then SIGKILLs a follower. Appends must keep completing after
each kill, and at the end every replica must hold the same log, with every
acknowledged append exactly once at the position and τ it was acknowledged
with, no refused append, and no payload twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from bench.servers import free_port
from cluster.clock import Clock
from cluster.tcp import TcpTransport
from journal.client import JournalClient
from journal.errors import AppendUncertain, JournalUnavailable
from journal.interface import Read

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
APPENDERS = 8
PHASE_S = 2.0
# After a kill, appends must be flowing again within this long (the lease,
# an election, and slack for a loaded machine).
RECOVERY_S = 15.0


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = [free_port() for _ in range(3)]
        self.peers = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        self.procs: list[subprocess.Popen | None] = [None, None, None]

    def start(self, i: int) -> None:
        log = open(self.root / f"replica-{i}.log", "a")  # noqa: SIM115 - the process writes it
        proc = subprocess.Popen(
            [sys.executable, "-m", "journal.replica_main", "--index", str(i), "--peers", self.peers,
             "--data-dir", str(self.root / f"r{i}"), "--lease-ms", "300", "--log-level", "WARNING"],
            stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO,
        )  # fmt: skip
        line = proc.stdout.readline()
        assert "listening" in line, f"replica {i} did not start: {line!r}"
        self.procs[i] = proc

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.procs[i] = None

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc is not None:
                proc.kill()
                proc.wait()


async def _leader(client: JournalClient) -> int:
    for status in await client.status():
        if status and status.role == "leader":
            return status.index
    return -1


async def _wait_leader(client: JournalClient, exclude: int = -1) -> int:
    with trio.fail_after(RECOVERY_S):
        while True:
            leader = await _leader(client)
            if leader >= 0 and leader != exclude:
                return leader
            await trio.sleep(0.05)


async def _read_log(transport: TcpTransport, address: str) -> list[tuple[int, int, bytes]]:
    peer = transport.connect(address)
    out: list[tuple[int, int, bytes]] = []
    position = 1
    while True:
        records = (await peer.call("read", Read("checker", position, 10_000, 0))).records
        if not records:
            return out
        out += [tuple(r) for r in records]
        position = records[-1][0] + 1


def test_sigkill_of_leader_then_follower_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    for i in range(3):
        cluster.start(i)
    acked: dict[bytes, tuple[int, int]] = {}
    uncertain: set[bytes] = set()
    refused: set[bytes] = set()
    ack_times: list[float] = []

    async def main() -> None:
        addresses = {f"journal/0/{i}": ("127.0.0.1", p) for i, p in enumerate(cluster.ports)}
        transport = TcpTransport(addresses)
        clock = Clock()
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(transport.run)
            client = JournalClient(transport, list(addresses), append_timeout_s=20.0)

            async def appender(a: int) -> None:
                own = JournalClient(transport, list(addresses), append_timeout_s=20.0)
                i = 0
                while not stop.is_set():
                    payload = f"a{a}-{i}".encode()
                    i += 1
                    try:
                        acked[payload] = await own.append(payload, clock.latest())
                        ack_times.append(trio.current_time())
                    except AppendUncertain:
                        uncertain.add(payload)
                    except JournalUnavailable:
                        refused.add(payload)

            async def appends_continue(after: float) -> None:
                with trio.fail_after(RECOVERY_S):
                    while sum(1 for t in ack_times if t > after) < 20:
                        await trio.sleep(0.05)

            leader = await _wait_leader(client)
            for a in range(APPENDERS):
                nursery.start_soon(appender, a)
            await trio.sleep(PHASE_S)
            assert len(acked) > 50, "appends flow before any kill"

            # SIGKILL the leader: the others elect a new one and appends go on.
            cluster.kill(leader)
            killed_at = trio.current_time()
            await _wait_leader(client, exclude=leader)
            await appends_continue(killed_at)
            cluster.start(leader)
            await trio.sleep(PHASE_S)

            # SIGKILL a follower: the majority that is left keeps going.
            current = await _wait_leader(client)
            follower = next(i for i in range(3) if i != current)
            cluster.kill(follower)
            killed_at = trio.current_time()
            await appends_continue(killed_at)
            await trio.sleep(PHASE_S)
            cluster.start(follower)
            stop.set()
            await trio.sleep(1.0)

            # Every replica converges on one log.
            with trio.fail_after(RECOVERY_S):
                while True:
                    logs = [await _read_log(transport, f"journal/0/{i}") for i in range(3)]
                    if logs[0] and logs[0] == logs[1] == logs[2]:
                        break
                    await trio.sleep(0.2)
            log = logs[0]
            nursery.cancel_scope.cancel()

        positions = [p for p, _, _ in log]
        assert positions == list(range(1, len(log) + 1)), "dense positions"
        taus = [t for _, t, _ in log]
        assert all(b > a for a, b in zip(taus, taus[1:], strict=False)), "τ rises with position"
        where: dict[bytes, tuple[int, int]] = {}
        for position, tau, payload in log:
            assert payload not in where, f"{payload!r} appended twice"
            where[payload] = (position, tau)
        lost = [p for p, at in acked.items() if where.get(p) != at]
        assert not lost, f"acknowledged appends lost or moved: {lost[:5]}"
        assert not (refused & set(where)), "an append reported as not appended is in the log"
        assert set(where) <= set(acked) | uncertain, "the log holds only what was appended"

    try:
        trio.run(main)
    finally:
        cluster.stop_all()
    print(f"acknowledged {len(acked)}, uncertain {len(uncertain)}, refused {len(refused)}")
    assert os.path.isdir(tmp_path / "r0")
