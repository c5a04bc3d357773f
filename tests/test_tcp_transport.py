"""The TCP transport: the same calls and errors as in process, across sockets."""

from __future__ import annotations

import pytest
import trio

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
