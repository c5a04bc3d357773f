"""The simulator's own parts: network faults, crashes, disks, determinism."""

from __future__ import annotations

import trio

from cluster import sim
from cluster.sim import NetworkFaults, NodeEnv, Simulation
from cluster.transport import ReplyLost, Unreachable


class Echo:
    def __init__(self) -> None:
        self.calls = 0

    async def rpc_echo(self, value):
        self.calls += 1
        return value

    async def rpc_slow(self, seconds):
        await trio.sleep(seconds)
        return "done"


async def _two_hosts(s: Simulation) -> tuple[Echo, NodeEnv]:
    echo = Echo()

    async def server(env: NodeEnv) -> None:
        env.serve("echo", echo)
        await trio.sleep_forever()

    async def client(env: NodeEnv) -> None:
        await trio.sleep_forever()

    s.add_node("server", server)
    c = s.add_node("client", client)
    await s.nodes["server"].start()
    await c.start()
    return echo, c.env


def test_calls_cross_with_encoding_and_delay():
    async def body(s: Simulation):
        echo, env = await _two_hosts(s)
        started = s.now
        result = await env.transport.connect("echo").call("echo", {"a": [1, 2]})
        return result, s.now - started, echo.calls

    result, elapsed, calls = sim.run(1, body)
    assert result == {"a": (1, 2)}, "arguments and results cross as msgpack"
    assert 0 < elapsed < 0.01 and calls == 1


def test_drops_partitions_and_crashes_raise_the_right_errors():
    async def body(s: Simulation):
        echo, env = await _two_hosts(s)
        peer = env.transport.connect("echo")
        outcomes = []
        s.network.partition(["server"], ["client"])
        try:
            await peer.call("echo", 1)
        except Unreachable as exc:
            outcomes.append(type(exc).__name__)
        s.network.heal()
        s.network.faults = NetworkFaults(drop=1.0)
        try:
            await peer.call("echo", 2)
        except Unreachable as exc:
            outcomes.append(type(exc).__name__)
        s.network.faults = NetworkFaults()

        async def crash_soon():
            await trio.sleep(0.05)
            s.nodes["server"].crash()

        s.spawn(crash_soon)
        try:
            await peer.call("slow", 1.0)
        except ReplyLost as exc:
            outcomes.append(type(exc).__name__)
        try:
            await peer.call("echo", 3)
        except Unreachable as exc:
            outcomes.append(type(exc).__name__)
        return outcomes, echo.calls

    outcomes, calls = sim.run(2, body)
    assert outcomes == ["Unreachable", "Unreachable", "ReplyLost", "Unreachable"]
    assert calls == 0


def test_only_datagram_methods_are_duplicated():
    class Counter:
        def __init__(self):
            self.delivered = 0
            self.appended = 0

        async def rpc_deliver(self):
            self.delivered += 1

        async def rpc_append(self):
            self.appended += 1

    async def body(s: Simulation):
        counter = Counter()

        async def server(env):
            env.serve("c", counter)
            await trio.sleep_forever()

        s.add_node("server", server)
        client = s.add_node("client", lambda env: trio.sleep_forever())
        await s.nodes["server"].start()
        await client.start()
        s.network.faults = NetworkFaults(duplicate=1.0)
        peer = client.env.transport.connect("c")
        for _ in range(10):
            await peer.call("deliver")
            await peer.call("append")
        await trio.sleep(1)
        return counter.delivered, counter.appended

    delivered, appended = sim.run(3, body)
    assert delivered == 20 and appended == 10


def test_a_crash_stops_every_task_and_a_restart_runs_main_again():
    async def body(s: Simulation):
        runs = []

        async def main(env: NodeEnv) -> None:
            runs.append(env.incarnation)
            await env.disk.append("f", b"synced", sync=True)
            await env.disk.append("f", b"-not", sync=False)
            await trio.sleep_forever()

        node = s.add_node("n", main)
        await node.start()
        await trio.sleep(0.1)
        node.crash()
        await node.restart()
        await trio.sleep(0.1)
        return runs, bytes(node.disk.files["f"])

    runs, data = sim.run(4, body)
    assert runs == [1, 2]
    assert data.startswith(b"synced") and len(data) <= len(b"synced-not-not") + 10


def test_the_same_seed_gives_the_same_world():
    async def body(s: Simulation):
        echo, env = await _two_hosts(s)
        s.network.faults = NetworkFaults(drop=0.3, reorder=0.5)
        results = []

        async def caller(i):
            try:
                results.append((i, await env.transport.connect("echo").call("echo", i), s.now))
            except Unreachable:
                results.append((i, None, s.now))

        async with trio.open_nursery() as nursery:
            for i in range(30):
                nursery.start_soon(caller, i)
        return results, list(s.lines)

    assert sim.run(5, body) == sim.run(5, body)
    assert sim.run(5, body) != sim.run(6, body)
