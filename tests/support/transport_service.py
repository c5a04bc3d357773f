"""A service for the transport conformance suite (tests/test_transport_conformance.py).

It lives here, not in the test module, so that a second process can serve it
(`python -c "from support.transport_service import main; main()"` with tests/
on the path; not `-m`, which would name the module `__main__`): it prints
the port it listens on, then serves until killed. Its error class must have
the same wire name in both processes, hence one module for both.
"""

from __future__ import annotations

import math
import sys

import trio

from cluster.tcp import TcpTransport
from cluster.transport import NOT_NOW, wire_error


@wire_error
class Refused(Exception):
    def __init__(self, why: str, code: int) -> None:
        super().__init__(why, code)
        self.why, self.code = why, code


class Service:
    """Handlers that report what they saw: the deadline, a cancellation, their end."""

    def __init__(self) -> None:
        self.started: dict[str, trio.Event] = {}
        self.finished: list[str] = []
        self.cancelled: list[str] = []
        self.remaining: dict[str, float | None] = {}

    def entered(self, tag: str) -> trio.Event:
        return self.started.setdefault(tag, trio.Event())

    # Replies of these methods are made for each call and kept by nobody here: in process
    # the transport may hand them over uncopied (cluster/transport.py).
    hands_over = frozenset({"fresh"})

    async def rpc_echo(self, *values):
        return values

    async def rpc_fresh(self, *values):
        """A new list of the values (what a storage node's read of LMDB returns, in kind)."""
        self.last_fresh = [*values, [len(values)]]
        return self.last_fresh

    def now_fresh(self, *values):
        self.last_fresh = [*values, [len(values)]]
        return self.last_fresh

    # Immediate answers (`Peer.call_now`), where the transport allows them.

    def now_echo(self, *values):
        return values

    def now_refuse(self, why: str, code: int):
        raise Refused(why, code)

    def now_bug(self):
        raise KeyError("oops")

    def now_later(self):
        return NOT_NOW  # it would have to wait: the caller is to call

    async def rpc_blob(self, size: int) -> bytes:
        return b"x" * size

    async def rpc_refuse(self, why: str, code: int):
        raise Refused(why, code)

    async def rpc_bug(self):
        raise KeyError("oops")

    async def rpc_remaining(self) -> float | None:
        """The time this handler has left (None: no deadline)."""
        remaining = trio.current_effective_deadline() - trio.current_time()
        return None if remaining == math.inf else remaining

    async def rpc_sleep(self, seconds: float, tag: str) -> str:
        remaining = trio.current_effective_deadline() - trio.current_time()
        self.remaining[tag] = None if remaining == math.inf else remaining
        self.entered(tag).set()
        try:
            await trio.sleep(seconds)
        except trio.Cancelled:
            self.cancelled.append(tag)
            raise
        self.finished.append(tag)
        return tag


async def _serve() -> None:
    transport = TcpTransport()
    transport.serve("svc", Service())
    async with trio.open_nursery() as nursery:
        await nursery.start(transport.run)
        port = await nursery.start(transport.listen, "127.0.0.1", 0)
        print(port, flush=True)


def main() -> None:
    try:
        trio.run(_serve)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
