"""A simulated network: every call can be delayed, reordered, duplicated,
dropped or cut off by a partition, as the simulation's seeded generator says.

It offers the transport interface of `cluster.transport` (serve an object's
`rpc_*` methods at an address, `connect(address).call(method, *args)`), with
arguments and results encoded by `cluster.codec` as on a real wire, so a part
cannot tell it from the in-process or TCP transports, except by the faults:

* a dropped request, or one sent across a partition, raises `Unreachable` at
  the caller after `loss_timeout_s` (nothing happened at the other end);
* a dropped reply, or a handler whose host crashes mid-call, raises
  `ReplyLost` after `loss_timeout_s` (the handler may have run);
* a duplicated request runs the handler twice (the caller sees the first
  answer); only methods listed in `duplicate_methods` are duplicated, since a
  call over a connection runs at most once;
* each message takes a random delay, and some take a much longer one, so
  messages overtake each other.

Handlers run in their host's nursery, so crashing a host cancels them, and
its callers hear `ReplyLost`; `unserve` does the same for one address. As
on every transport (`cluster.transport`), a caller that is cancelled stops
waiting while the handler runs on, and the caller's deadline travels as the
time it has left: the handler runs in a cancel scope with that much time
from when the request arrives, and sends no reply if it is cancelled by it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from cluster import codec
from cluster.transport import NOT_NOW, Peer, RemoteError, ReplyLost, Unreachable, decode_error, encode_error

if TYPE_CHECKING:
    from cluster.sim.simulation import Simulation


@dataclass
class NetworkFaults:
    drop: float = 0.0  # probability that a request, or a reply, is lost
    duplicate: float = 0.0  # probability that a request is delivered twice
    # Which methods may be duplicated: one-way messages between replicas are
    # datagrams that a retransmitting layer may repeat, while a request/reply
    # call rides one connection and runs at most once (as over TCP).
    duplicate_methods: tuple[str, ...] = ("deliver",)
    delay_min_s: float = 0.0001
    delay_max_s: float = 0.001
    reorder: float = 0.0  # probability that a message is held back much longer
    reorder_max_s: float = 0.05
    loss_timeout_s: float = 0.3  # how long a caller waits before it hears of a loss


class _Call:
    __slots__ = ("done", "result", "error")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: Any = None
        self.error: Exception | None = None

    def finish(self, result: Any, error: Exception | None) -> None:
        if not self.done.is_set():
            self.result, self.error = result, error
            self.done.set()


class SimNetwork:
    def __init__(self, sim: Simulation, faults: NetworkFaults | None = None) -> None:
        self.sim = sim
        self.faults = faults or NetworkFaults()
        self._handlers: dict[str, tuple[str, Any]] = {}  # address -> (host, handler)
        # The cancel scopes of the handlers running at each address, for unserve.
        # (Dicts, not sets: cancelled in a deterministic order.)
        self._running: dict[str, dict[trio.CancelScope, None]] = {}
        self._blocked: set[tuple[str, str]] = set()  # (from host, to host); only ever tested, never iterated
        self.messages = 0
        self.dropped = 0
        self.duplicated = 0

    # -- topology ----------------------------------------------------------

    def serve(self, host: str, address: str, handler: Any) -> None:
        assert address not in self._handlers, address
        self._handlers[address] = (host, handler)
        self._running[address] = {}

    def unserve(self, address: str) -> None:
        """Stop serving `address`: later calls are `Unreachable`, calls in flight `ReplyLost`."""
        if self._handlers.pop(address, None) is not None:
            for scope in self._running.pop(address, {}):
                scope.cancel()

    def host_down(self, host: str) -> None:
        for address in [a for a, (h, _) in self._handlers.items() if h == host]:
            del self._handlers[address]
            self._running.pop(address, None)  # the host's scope cancels them

    def transport(self, host: str) -> SimTransport:
        return SimTransport(self, host)

    def reachable(self, source: str, target: str) -> bool:
        return (source, target) not in self._blocked

    def partition(self, *groups: list[str]) -> None:
        """Cut every link between hosts of different groups (both ways)."""
        self.heal()
        for i, group in enumerate(groups):
            for other in groups[i + 1 :]:
                for a in group:
                    for b in other:
                        self._blocked.add((a, b))
                        self._blocked.add((b, a))
        self.sim.trace(f"net: partition {' | '.join(','.join(g) for g in groups)}")

    def cut(self, source: str, target: str) -> None:
        """Lose everything from `source` to `target` (one way)."""
        self._blocked.add((source, target))
        self.sim.trace(f"net: cut {source} -> {target}")

    def heal(self) -> None:
        if self._blocked:
            self._blocked.clear()
            self.sim.trace("net: healed")

    # -- calls -------------------------------------------------------------

    def _delay(self) -> float:
        faults, rng = self.faults, self.sim.rng
        delay = rng.uniform(faults.delay_min_s, faults.delay_max_s)
        if faults.reorder and rng.random() < faults.reorder:
            delay += rng.uniform(0, faults.reorder_max_s)
        return delay

    async def call(self, source: str, address: str, method: str, args: tuple, deadline: float = math.inf) -> Any:
        if deadline != math.inf:
            with trio.fail_at(deadline):
                return await self._call(source, address, method, args)
        return await self._call(source, address, method, args)

    async def _call(self, source: str, address: str, method: str, args: tuple) -> Any:
        sim, faults = self.sim, self.faults
        self.messages += 1
        data = codec.encode(args)
        timeout = trio.current_effective_deadline() - trio.current_time()  # inf: no deadline
        if timeout <= 0:
            await trio.lowlevel.checkpoint()  # its time is up: send nothing
        entry = self._handlers.get(address)
        if entry is None:
            await trio.sleep(self._delay())
            raise Unreachable(address)
        host, handler = entry
        node = sim.nodes[host]
        if not self.reachable(source, host) or sim.rng.random() < faults.drop:
            self.dropped += 1
            sim.trace(f"net: drop {source}->{address} {method}")
            await trio.sleep(faults.loss_timeout_s)
            raise Unreachable(f"{address}: request lost")
        call = _Call()
        copies = 1
        if faults.duplicate and method in faults.duplicate_methods and sim.rng.random() < faults.duplicate:
            copies = 2
            self.duplicated += 1
            sim.trace(f"net: duplicate {source}->{address} {method}")
        for copy in range(copies):
            node.spawn(
                self._handle, call, source, host, address, handler, method, data, self._delay(), timeout, copy == 0
            )
        await call.done.wait()
        if call.error is not None:
            raise call.error
        return codec.decode(call.result)

    async def _handle(
        self, call: _Call, source: str, host: str, address: str, handler: Any,
        method: str, data: bytes, delay: float, timeout: float, primary: bool,
    ) -> None:  # fmt: skip
        faults, sim = self.faults, self.sim
        answered = False
        try:
            await trio.sleep(delay)
            if not self.reachable(source, host):
                if primary:
                    self.dropped += 1
                    answered = True
                    sim.spawn(self._fail_later, call, Unreachable(f"{address}: request lost"))
                return
            running = self._running.get(address)
            if running is None or self._handlers.get(address, (None, None))[1] is not handler:
                return  # unserved while the request travelled: as a crash (the finally answers)
            fn = getattr(handler, "rpc_" + method, None)
            deadline = trio.current_time() + timeout
            result, error = None, None
            with trio.CancelScope(deadline=deadline) as scope:
                running[scope] = None
                try:
                    if fn is None:
                        error = RemoteError(f"{address}: no method {method!r}")
                    else:
                        result = codec.encode(await fn(*codec.decode(data)))
                except Exception as exc:  # noqa: BLE001 - crosses the wire like any error
                    error = decode_error(*encode_error(exc))
                finally:
                    running.pop(scope, None)
            if scope.cancelled_caught:
                if trio.current_time() >= deadline:
                    answered = True  # cancelled by its deadline: the caller has stopped waiting
                return  # else unserved mid-call: the finally answers ReplyLost
            if not primary:
                return
            answered = True
            if not self.reachable(host, source) or sim.rng.random() < faults.drop:
                self.dropped += 1
                sim.trace(f"net: drop reply {address}->{source} {method}")
                sim.spawn(self._fail_later, call, ReplyLost(f"{address}: reply lost"))
                return
            # The delay of the round trip was taken on the way in.
            call.finish(result, error)
        finally:
            if primary and not answered:
                # The host crashed under the call (or stopped serving the
                # address): the caller's connection breaks.
                sim.spawn(self._fail_later, call, ReplyLost(f"{address}: host crashed during {method}"))

    async def _fail_later(self, call: _Call, error: Exception) -> None:
        await trio.sleep(self.faults.loss_timeout_s)
        call.finish(None, error)


class SimTransport:
    """The network as seen from one host."""

    def __init__(self, network: SimNetwork, host: str) -> None:
        self.network = network
        self.host = host

    def serve(self, address: str, handler: Any) -> None:
        self.network.serve(self.host, address, handler)

    def unserve(self, address: str) -> None:
        self.network.unserve(address)

    def connect(self, address: str) -> Peer:
        return Peer(self, address)  # type: ignore[arg-type]

    def learn_address(self, address: str, endpoint: tuple[str, int]) -> None:
        """Simulated hosts serve by name: nothing to learn."""

    def call_now(self, address: str, method: str, args: tuple) -> Any:
        """Never at once: every call crosses the simulated network, with its faults."""
        return NOT_NOW

    async def call(self, address: str, method: str, args: tuple, deadline: float = math.inf) -> Any:
        return await self.network.call(self.host, address, method, args, deadline)
