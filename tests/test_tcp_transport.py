"""The TCP transport: the same calls and errors as in process, across sockets."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from cluster.tcp import TcpTransport
from cluster.transport import RemoteError, ReplyLost, Unreachable, wire_error


@wire_error
class Refused(Exception):
    def __init__(self, why: str, code: int) -> None:
        super().__init__(why, code)
        self.why, self.code = why, code


class Service:
    def __init__(self) -> None:
        self.entered = trio.Event()

    async def rpc_add(self, a, b):
        return a + b

    async def rpc_refuse(self):
        raise Refused("no", 7)

    async def rpc_bug(self):
        raise KeyError("oops")

    async def rpc_wait(self, seconds):
        self.entered.set()
        await trio.sleep(seconds)
        return seconds


async def _pair(nursery, service):
    server = TcpTransport()
    server.serve("svc", service)
    await nursery.start(server.run)
    port = await nursery.start(server.listen, "127.0.0.1", 0)
    client = TcpTransport({"svc": ("127.0.0.1", port), "nowhere": ("127.0.0.1", 1)})
    await nursery.start(client.run)
    return server, client


async def test_calls_results_and_errors_cross(nursery):
    _, client = await _pair(nursery, Service())
    peer = client.connect("svc")
    assert await peer.call("add", [1], [2]) == (1, 2)
    with pytest.raises(Refused) as info:
        await peer.call("refuse")
    assert (info.value.why, info.value.code) == ("no", 7)
    with pytest.raises(RemoteError, match="KeyError"):
        await peer.call("bug")
    with pytest.raises(Unreachable):
        await client.connect("nowhere").call("add", 1, 2)
    with pytest.raises(Unreachable):
        await client.connect("unknown").call("add", 1, 2)


async def test_calls_share_a_connection_and_a_long_call_blocks_no_other(nursery):
    _, client = await _pair(nursery, Service())
    peer = client.connect("svc")
    results = []

    async def slow():
        results.append(await peer.call("wait", 0.5))

    nursery.start_soon(slow)
    with trio.fail_after(0.4):
        for i in range(20):
            assert await peer.call("add", i, 1) == i + 1
    assert results == [], "the long call is still running"
    with trio.fail_after(5):
        while not results:
            await trio.sleep(0.01)
    assert results == [0.5]
    assert len(client._connections) == 1


async def test_a_connection_lost_mid_call_is_reply_lost(nursery):
    service = Service()
    server = TcpTransport()
    server.serve("svc", service)
    await nursery.start(server.run)
    scope = trio.CancelScope()

    async def listen(task_status=trio.TASK_STATUS_IGNORED):
        with scope:
            await server.listen("127.0.0.1", 0, task_status=task_status)

    port = await nursery.start(listen)
    client = TcpTransport({"svc": ("127.0.0.1", port)})
    await nursery.start(client.run)

    async def kill_server():
        await service.entered.wait()
        scope.cancel()

    nursery.start_soon(kill_server)
    with pytest.raises(ReplyLost):
        await client.connect("svc").call("wait", 5)


async def test_local_addresses_are_called_in_process(nursery):
    transport = TcpTransport()
    transport.serve("svc", Service())
    await nursery.start(transport.run)
    assert await transport.connect("svc").call("add", 2, 3) == 5


async def test_a_frame_past_the_bound_ends_the_connection_not_the_server(nursery, monkeypatch):
    import cluster.tcp as tcp

    monkeypatch.setattr(tcp, "FRAME_BYTES_MAX", 1024)
    _, client = await _pair(nursery, Service())
    peer = client.connect("svc")
    assert await peer.call("add", b"x" * 900, b"") == b"x" * 900, "at the bound"
    with pytest.raises((ReplyLost, Unreachable)):
        await peer.call("add", b"x" * 2000, b"")  # one past: the server drops the connection
    assert await peer.call("add", 1, 2) == 3, "a new connection works"


async def test_calls_made_together_share_sends_both_ways(nursery, monkeypatch):
    # One writer per connection sends what was queued since its last send: 200
    # calls started in one scheduler turn must not cost 200 sends either way.
    sends = []
    original = trio.SocketStream.send_all

    async def counting_send_all(self, data):
        sends.append(len(data))
        await original(self, data)

    monkeypatch.setattr(trio.SocketStream, "send_all", counting_send_all)
    _, client = await _pair(nursery, Service())
    peer = client.connect("svc")
    assert await peer.call("add", 0, 0) == 0  # the connection is up
    sends.clear()
    answers = {}

    async def one(i):
        answers[i] = await peer.call("add", i, 1)

    async with trio.open_nursery() as calls:
        for i in range(200):
            calls.start_soon(one, i)
    assert answers == {i: i + 1 for i in range(200)}
    assert len(sends) < 100, f"{len(sends)} sends for 200 requests and 200 replies"


async def test_a_connection_stops_reading_at_its_bound_of_requests_in_flight(nursery, monkeypatch):
    import cluster.tcp as tcp

    monkeypatch.setattr(tcp, "REQUESTS_PER_CONNECTION_MAX", 4)
    service = Service()
    _, client = await _pair(nursery, service)
    peer = client.connect("svc")
    running = []
    release = trio.Event()

    async def rpc_hold(i):
        running.append(i)
        await release.wait()
        return i

    service.rpc_hold = rpc_hold
    answers = []

    async def one(i):
        answers.append(await peer.call("hold", i))

    async with trio.open_nursery() as calls:
        for i in range(10):
            calls.start_soon(one, i)
        with trio.fail_after(5):
            while len(running) < 4:
                await trio.sleep(0.01)
        await trio.sleep(0.2)
        assert len(running) == 4, "the server reads no request past its bound"
        release.set()
    assert sorted(answers) == list(range(10)), "then it reads the rest"


async def test_a_broken_connection_tells_sent_requests_from_unsent_ones(nursery, monkeypatch):
    # A request handed to the socket may have run (ReplyLost); one still queued
    # behind it when the connection broke did not (Unreachable).
    original = trio.SocketStream.send_all
    stall = {"on": False}
    stalled = trio.Event()

    async def stalling_send_all(self, data):
        if stall["on"]:
            stalled.set()
            await trio.sleep_forever()
        await original(self, data)

    monkeypatch.setattr(trio.SocketStream, "send_all", stalling_send_all)
    _, client = await _pair(nursery, Service())
    peer = client.connect("svc")
    assert await peer.call("add", 1, 1) == 2
    (connection,) = client._connections.values()
    outcome = {}

    async def call(name):
        try:
            outcome[name] = await peer.call("add", 2, 2)
        except Exception as exc:  # noqa: BLE001 - what the caller hears is the point
            outcome[name] = type(exc)

    stall["on"] = True
    async with trio.open_nursery() as calls:
        calls.start_soon(call, "sent")
        with trio.fail_after(5):
            await stalled.wait()  # the writer holds the first request in its send
        calls.start_soon(call, "queued")
        await trio.testing.wait_all_tasks_blocked()
        connection.fail_all()
    assert outcome == {"sent": ReplyLost, "queued": Unreachable}
