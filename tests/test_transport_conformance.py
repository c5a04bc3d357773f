"""One suite, three transports: in process, simulated and TCP behave alike.

Every scenario runs over `InProcessTransport`, the simulator's network (in
a seeded `cluster.sim` world, on simulated time) and two `TcpTransport`s on
loopback in one process; a last case calls a second OS process. What they
must agree on is `cluster.transport`'s docstring: values round-trip through
the codec, errors cross as values, a handler runs in the callee's task (a
cancelled caller leaves it running; a caller's deadline reaches it), a
callee that stops mid-call is `ReplyLost`, and calls are independent; an
immediate answer (`call_now`, in process only) is the answer a call gives. The
TCP-only cases are the frame's: oversize frames refused cleanly, a garbled
frame closes only its connection.

The tests are synchronous and run their own `trio.run` (the simulator needs
its own clock).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
from support.transport_service import Refused, Service

import cluster.tcp as tcp
from cluster import sim
from cluster.sim import NodeEnv, Simulation
from cluster.tcp import FrameTooLarge, TcpTransport
from cluster.transport import NOT_NOW, InProcessTransport, Peer, RemoteError, ReplyLost, Unreachable

TRANSPORTS = ["in-process", "sim", "tcp"]


class Harness:
    """A caller and a callee serving a `Service` at "svc", over one transport."""

    def __init__(self, caller: Any, callee: Any, service: Service, nursery: trio.Nursery) -> None:
        self.caller = caller
        self.callee = callee
        self.service = service
        self.nursery = nursery

    def peer(self, address: str = "svc") -> Peer:
        return self.caller.connect(address)

    def stop(self, address: str = "svc") -> None:
        """The callee stops serving the address (its part stopped or crashed)."""
        self.callee.unserve(address)

    def crash(self) -> None:
        """The callee's whole process (or simulated host) stops."""
        self.crash_callee()


Scenario = Callable[[Harness], Awaitable[Any]]


def run(kind: str, scenario: Scenario) -> Any:
    service = Service()
    if kind == "sim":

        async def body(s: Simulation) -> Any:
            async def server(env: NodeEnv) -> None:
                env.serve("svc", service)
                await trio.sleep_forever()

            async def client(env: NodeEnv) -> None:
                await trio.sleep_forever()

            s.add_node("server", server)
            c = s.add_node("client", client)
            await s.nodes["server"].start()
            await c.start()
            harness = Harness(c.env.transport, s.network, service, s.nursery)
            harness.crash_callee = s.nodes["server"].crash  # type: ignore[attr-defined]
            return await scenario(harness)

        return sim.run(7, body)

    async def main() -> Any:
        async with trio.open_nursery() as nursery:
            callee_scopes: list[trio.CancelScope] = []  # cancelled: the callee's process is gone

            async def callee_task(fn, *args, task_status=trio.TASK_STATUS_IGNORED) -> None:
                with trio.CancelScope() as scope:
                    callee_scopes.append(scope)
                    await fn(*args, task_status=task_status)

            def crash_callee() -> None:
                for scope in callee_scopes:
                    scope.cancel()

            if kind == "in-process":
                transport = InProcessTransport()
                transport.serve("svc", service)
                await nursery.start(callee_task, transport.run)
                harness = Harness(transport, transport, service, nursery)
            else:
                server = TcpTransport()
                server.serve("svc", service)
                await nursery.start(callee_task, server.run)
                port = await nursery.start(callee_task, server.listen, "127.0.0.1", 0)
                client = TcpTransport({"svc": ("127.0.0.1", port), "elsewhere": ("127.0.0.1", port)})
                await nursery.start(client.run)
                harness = Harness(client, server, service, nursery)
                harness.port = port  # type: ignore[attr-defined]
            harness.crash_callee = crash_callee  # type: ignore[attr-defined]
            # No trio.fail_after here: a deadline would travel with every call
            # (pytest-timeout bounds a hung test instead).
            result = await scenario(harness)
            nursery.cancel_scope.cancel()
            return result

    return trio.run(main)


each_transport = pytest.mark.parametrize("kind", TRANSPORTS)


# -- values and errors ------------------------------------------------------------------------------


@each_transport
def test_arguments_and_results_round_trip(kind):
    an_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    values = (
        None, True, 0, -(2**63), 2**64 - 1, 1.5, "text ✓", b"\x00\xff", Decimal("1.50"), Decimal("-1E+3"),
        an_id, (1, (2, (3,))), [1, [2]], {"a": [1, {"b": b"c"}], "n": None}, (),
    )  # fmt: skip

    async def scenario(h: Harness):
        return await h.peer().call("echo", *values)

    result = run(kind, scenario)
    assert result == (
        None, True, 0, -(2**63), 2**64 - 1, 1.5, "text ✓", b"\x00\xff", Decimal("1.50"), Decimal("-1E+3"),
        an_id, (1, (2, (3,))), (1, (2,)), {"a": (1, {"b": b"c"}), "n": None}, (),
    ), "sequences arrive as tuples"  # fmt: skip
    assert [type(v) for v in result[6:11]] == [str, bytes, Decimal, Decimal, uuid.UUID]
    assert str(result[8]) == "1.50", "a Decimal keeps its exponent"


@each_transport
def test_wire_errors_keep_their_class_and_arguments_and_others_are_remote_errors(kind):
    async def scenario(h: Harness):
        peer = h.peer()
        with pytest.raises(Refused) as refused:
            await peer.call("refuse", "no", 7)
        with pytest.raises(RemoteError) as bug:
            await peer.call("bug")
        return refused.value, bug.value

    refused, bug = run(kind, scenario)
    assert type(refused) is Refused and refused.args == ("no", 7) and (refused.why, refused.code) == ("no", 7)
    assert type(bug) is RemoteError and "KeyError" in str(bug) and "oops" in str(bug)


@each_transport
def test_an_immediate_answer_is_the_answer_a_call_gives(kind):
    """`call_now` answers in the caller's task only in process, and then exactly as a call
    would (the codec's rule, errors as values); elsewhere, and whenever the handler has
    no `now_` function or would have to wait, it says NOT_NOW and nothing ran."""
    values = (1, "text ✓", b"\x00", (1, (2,)), [1, [2]], {"a": [1]})

    async def scenario(h: Harness):
        peer = h.peer()
        now = peer.call_now("echo", *values)
        called = await peer.call("echo", *values)
        errors = []
        for method, args in (("refuse", ("no", 7)), ("bug", ())):
            try:
                errors.append(peer.call_now(method, *args))
            except Exception as exc:  # noqa: BLE001 - what crossed is the point
                errors.append(exc)
        others = (peer.call_now("later"), peer.call_now("remaining"), h.peer("nowhere").call_now("echo", 1))
        return now, called, errors, others

    now, called, errors, others = run(kind, scenario)
    assert others == (NOT_NOW,) * 3
    if kind == "in-process":
        assert now == called == (1, "text ✓", b"\x00", (1, (2,)), (1, (2,)), {"a": (1,)})
        assert type(errors[0]) is Refused and errors[0].args == ("no", 7)
        assert type(errors[1]) is RemoteError and "KeyError" in str(errors[1])
    else:
        assert now is NOT_NOW and errors == [NOT_NOW, NOT_NOW]


@each_transport
def test_a_reply_handed_over_is_the_handlers_own_object_in_process_and_a_copy_elsewhere(kind):
    """A handler's `hands_over` methods make each reply for that call alone: in process the
    caller gets that very object (a list stays a list, by call and by `call_now`); between
    processes, and for any other method, it gets the codec's copy (sequences as tuples)."""

    async def scenario(h: Harness):
        peer = h.peer()
        called = await peer.call("fresh", 1, "a")
        made = h.service.last_fresh
        now = peer.call_now("fresh", 2)
        echoed = await peer.call("echo", [1])
        return called, made, now, h.service.last_fresh, echoed

    called, made, now, made_now, echoed = run(kind, scenario)
    assert echoed == ((1,),), "an echo is copied: its list arrives as a tuple"
    if kind == "in-process":
        assert called is made and called == [1, "a", [2]]
        assert now is made_now and now == [2, [1]]
    else:
        assert called is not made and called == (1, "a", (2,))
        assert now is NOT_NOW


def test_immediate_answers_leave_the_scheduler_a_turn_and_respect_a_passed_deadline():
    """In process: after IMMEDIATE_MAX answers in a row, `call_now` says NOT_NOW until a call
    has gone through a worker (a scheduler turn); a caller whose deadline has passed gets
    NOT_NOW, as a call in its place would send nothing; so does every caller of a transport
    made with `immediate=False`."""
    from cluster import transport as transport_module

    async def scenario(h: Harness):
        peer = h.peer()
        answers = [peer.call_now("echo", i) for i in range(transport_module.IMMEDIATE_MAX + 1)]
        assert await peer.call("echo", 0) == (0,)
        after_a_call = peer.call_now("echo", 1)
        with pytest.raises(Refused):  # a handler that raised leaves the deadline looked at
            peer.call_now("refuse", "no", 7)
        with trio.CancelScope(deadline=trio.current_time() - 1):
            late = peer.call_now("echo", 2)
        h.caller.immediate = False  # as between processes: every call through a worker
        turned_off = peer.call_now("echo", 3)
        return answers, after_a_call, late, turned_off

    answers, after_a_call, late, turned_off = run("in-process", scenario)
    assert answers[:-1] == [(i,) for i in range(transport_module.IMMEDIATE_MAX)] and answers[-1] is NOT_NOW
    assert after_a_call == (1,) and late is NOT_NOW and turned_off is NOT_NOW


@each_transport
def test_an_unknown_address_is_unreachable_and_an_unknown_method_a_remote_error(kind):
    async def scenario(h: Harness):
        outcomes = []
        with pytest.raises(Unreachable) as unknown:
            await h.peer("nobody").call("echo", 1)
        outcomes.append(type(unknown.value))
        if kind == "tcp":  # in the address book, but that process does not serve it
            with pytest.raises(Unreachable) as elsewhere:
                await h.peer("elsewhere").call("echo", 1)
            outcomes.append(type(elsewhere.value))
        with pytest.raises(RemoteError) as method:
            await h.peer().call("no_such_method", 1)
        assert "no_such_method" in str(method.value)
        assert await h.peer().call("echo", 2) == (2,), "the callee is unharmed"
        return outcomes

    assert set(run(kind, scenario)) == {Unreachable}, "nothing happened there: not ReplyLost"


# -- the handler runs in the callee's task ----------------------------------------------------------


@each_transport
def test_a_cancelled_caller_stops_waiting_and_the_handler_runs_to_its_end(kind):
    async def scenario(h: Harness):
        outcome = []

        async def caller(scope: trio.CancelScope) -> None:
            with scope:
                outcome.append(await h.peer().call("sleep", 0.3, "a"))
            outcome.append("cancelled" if scope.cancelled_caught else "not cancelled")

        scope = trio.CancelScope()
        h.nursery.start_soon(caller, scope)
        await h.service.entered("a").wait()
        started = trio.current_time()
        scope.cancel()  # a cancel, not a deadline: nothing tells the handler
        while not outcome:
            await trio.sleep(0.001)
        stopped_waiting = trio.current_time() - started
        await trio.sleep(0.6)
        return outcome, stopped_waiting, h.service.finished, h.service.cancelled

    outcome, stopped_waiting, finished, cancelled = run(kind, scenario)
    assert outcome == ["cancelled"] and stopped_waiting < 0.2, "the caller stops waiting at once"
    assert finished == ["a"] and cancelled == [], "the handler ran on to its end"


@each_transport
def test_the_callers_deadline_reaches_the_handler(kind):
    async def scenario(h: Harness):
        peer = h.peer()
        seen = {"none": await peer.call("remaining")}
        with trio.move_on_after(10):
            seen["10 s"] = await peer.call("remaining")
        with trio.move_on_after(0.2) as scope:
            await peer.call("sleep", 5, "timed out")
        seen["move_on_after"] = scope.cancelled_caught
        with pytest.raises(trio.TooSlowError):
            await peer.call("sleep", 5, "explicit", deadline=trio.current_time() + 0.2)
        with pytest.raises(trio.TooSlowError):
            with trio.fail_after(0.2):
                await peer.call("sleep", 5, "fail_after")
        with trio.CancelScope(shield=True):  # a shield hides outer deadlines, as anywhere in trio
            with trio.move_on_after(10):
                with trio.CancelScope(shield=True):
                    seen["shielded"] = await peer.call("remaining")
        await trio.sleep(0.5)  # the handlers' cancellations land
        return seen, h.service.remaining, h.service.cancelled, h.service.finished

    seen, remaining, cancelled, finished = run(kind, scenario)
    assert seen["none"] is None, "no deadline, none sent"
    assert 9.0 < seen["10 s"] <= 10.0
    assert seen["move_on_after"] is True
    assert seen["shielded"] is None
    for tag in ("timed out", "explicit", "fail_after"):
        assert 0 < remaining[tag] <= 0.2, (tag, remaining)
    assert sorted(cancelled) == ["explicit", "fail_after", "timed out"], "each handler was cancelled at its deadline"
    assert finished == []


@each_transport
def test_a_call_whose_deadline_has_passed_sends_nothing(kind):
    async def scenario(h: Harness):
        with trio.CancelScope(deadline=trio.current_time() - 1) as scope:
            await h.peer().call("sleep", 0, "late")
        await trio.sleep(0.1)
        return scope.cancelled_caught, "late" in h.service.started

    cancelled, ran = run(kind, scenario)
    assert cancelled and not ran


@each_transport
def test_a_callee_that_stops_mid_call_is_reply_lost_and_then_unreachable(kind):
    async def scenario(h: Harness):
        async def stop_soon() -> None:
            await h.service.entered("long").wait()
            h.stop()

        h.nursery.start_soon(stop_soon)
        with pytest.raises(ReplyLost) as lost:
            await h.peer().call("sleep", 5, "long")
        await trio.sleep(0.01)
        with pytest.raises(Unreachable) as after:
            await h.peer().call("echo", 1)
        return lost.value, after.value, h.service.cancelled

    lost, after, cancelled = run(kind, scenario)
    assert type(lost) is ReplyLost, "the handler may have run: the caller cannot know"
    assert type(after) is Unreachable, "nothing serves the address any more"
    assert cancelled == ["long"], "the handler stopped with its part"


@each_transport
def test_a_callee_that_crashes_mid_call_is_reply_lost_and_then_unreachable(kind):
    async def scenario(h: Harness):
        async def crash_soon() -> None:
            await h.service.entered("long").wait()
            h.crash()

        h.nursery.start_soon(crash_soon)
        with pytest.raises(ReplyLost) as lost:
            await h.peer().call("sleep", 5, "long")
        await trio.sleep(0.01)
        with pytest.raises(Unreachable) as after:
            await h.peer().call("echo", 1)
        return lost.value, after.value, h.service.cancelled

    lost, after, cancelled = run(kind, scenario)
    assert type(lost) is ReplyLost
    assert type(after) is Unreachable, "nothing answers any more (and nothing ran)"
    assert cancelled == ["long"]


# -- calls are independent --------------------------------------------------------------------------


@each_transport
def test_a_slow_call_blocks_no_other(kind):
    async def scenario(h: Harness):
        peer = h.peer()
        slow = []

        async def slow_call() -> None:
            slow.append(await peer.call("sleep", 1.0, "slow"))

        h.nursery.start_soon(slow_call)
        await h.service.entered("slow").wait()
        started = trio.current_time()
        fast = [await peer.call("echo", i) for i in range(20)]
        fast_s = trio.current_time() - started
        pending = list(slow)
        while not slow:
            await trio.sleep(0.01)
        return fast, fast_s, pending, slow

    fast, fast_s, pending, slow = run(kind, scenario)
    assert fast == [(i,) for i in range(20)]
    assert fast_s < 0.5 and pending == [], "twenty calls answered while the slow one ran"
    assert slow == ["slow"]


@each_transport
def test_concurrent_calls_each_get_their_own_answer(kind):
    async def scenario(h: Harness):
        peer = h.peer()
        answers: dict[int, Any] = {}

        async def one(i: int) -> None:
            if i % 3 == 0:
                answers[i] = await peer.call("sleep", (i % 7) / 100, f"c{i}")
            elif i % 3 == 1:
                answers[i] = await peer.call("echo", i, str(i).encode())
            else:
                try:
                    await peer.call("refuse", f"r{i}", i)
                except Refused as exc:
                    answers[i] = exc.args

        async with trio.open_nursery() as calls:
            for i in range(60):
                calls.start_soon(one, i)
        return answers

    answers = run(kind, scenario)
    for i in range(60):
        expected = f"c{i}" if i % 3 == 0 else (i, str(i).encode()) if i % 3 == 1 else (f"r{i}", i)
        assert answers[i] == expected, i


# -- TCP's frames -----------------------------------------------------------------------------------


def test_tcp_frames_past_the_bound_are_refused_and_the_connection_stays(monkeypatch):
    monkeypatch.setattr(tcp, "FRAME_BYTES_MAX", 1024)

    async def scenario(h: Harness):
        peer = h.peer()
        assert await peer.call("echo", b"x" * 900) == (b"x" * 900,), "within the bound"
        connection = next(iter(h.caller._connections.values()))
        with pytest.raises(FrameTooLarge):
            await peer.call("echo", b"x" * 2000)
        with pytest.raises(RemoteError, match="reply"):
            await peer.call("blob", 2000)  # a small request whose reply is too large
        assert await peer.call("echo", 1) == (1,)
        return list(h.caller._connections.values()) == [connection] and not connection.broken

    assert run("tcp", scenario), "both refusals left the connection up"


async def _raw_connection(port: int) -> trio.SocketStream:
    return await trio.open_tcp_stream("127.0.0.1", port)


async def _closed_by_peer(stream: trio.SocketStream) -> bool:
    with trio.move_on_after(2):
        try:
            return await stream.receive_some(1024) == b""
        except trio.BrokenResourceError:
            return True
    return False


@pytest.mark.parametrize(
    "frame",
    [
        struct.pack(">I", 5) + b"\xc1\xc1\xc1\xc1\xc1",  # 0xc1 is no msgpack
        struct.pack(">I", 6) + b"\xa5hello",  # msgpack, but not a request
        struct.pack(">I", 2**31),  # a length past the bound
    ],
    ids=["undecodable", "not-a-request", "oversize-length"],
)
def test_tcp_a_bad_frame_closes_only_its_connection(frame):
    async def scenario(h: Harness):
        peer = h.peer()
        slow = []

        async def slow_call() -> None:
            slow.append(await peer.call("sleep", 0.3, "slow"))

        h.nursery.start_soon(slow_call)
        await h.service.entered("slow").wait()
        bad = await _raw_connection(h.port)  # type: ignore[attr-defined]
        await bad.send_all(frame)
        closed = await _closed_by_peer(bad)
        assert await peer.call("echo", 1) == (1,), "other connections go on"
        while not slow:
            await trio.sleep(0.01)
        return closed, slow

    closed, slow = run("tcp", scenario)
    assert closed, "the server closed the connection that sent the bad frame"
    assert slow == ["slow"], "a call in flight on another connection was answered"


# -- a second process -------------------------------------------------------------------------------


def test_tcp_to_a_second_process():
    tests_dir = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tests_dir), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from support.transport_service import main; main()"], stdout=subprocess.PIPE, env=env, cwd=tests_dir, text=True
    )
    try:
        port = int(proc.stdout.readline())

        async def main():
            client = TcpTransport({"svc": ("127.0.0.1", port)})
            async with trio.open_nursery() as nursery:
                await nursery.start(client.run)
                peer = client.connect("svc")
                echoed = await peer.call("echo", Decimal("2.50"), b"\x01", (1, [2]))
                with pytest.raises(Refused) as refused:
                    await peer.call("refuse", "far", 3)
                with trio.move_on_after(5):
                    remaining = await peer.call("remaining")

                async def kill_soon() -> None:
                    await trio.sleep(0.3)
                    proc.kill()

                nursery.start_soon(kill_soon)
                with pytest.raises(ReplyLost):
                    await peer.call("sleep", 10, "killed")
                nursery.cancel_scope.cancel()
            return echoed, refused.value.args, remaining

        echoed, refused_args, remaining = trio.run(main)
    finally:
        proc.kill()
        proc.wait()
    assert echoed == (Decimal("2.50"), b"\x01", (1, (2,)))
    assert refused_args == ("far", 3)
    assert 4.0 < remaining <= 5.0, "the deadline crossed to the other process"


@each_transport
def test_what_the_wire_cannot_carry_fails_alike(kind):
    # In process, small immutable values are handed over without a copy
    # (cluster.codec.shareable); what msgpack cannot carry must still fail
    # there as it does between processes.
    async def scenario(h: Harness):
        outcomes = []
        for value in (2**64, -(2**63) - 1, "\ud800"):
            try:
                await h.peer().call("echo", value)
                outcomes.append("sent")
            except (TypeError, ValueError, OverflowError) as exc:
                outcomes.append(type(exc).__name__)
        return outcomes

    assert run(kind, scenario) == ["TypeError", "TypeError", "UnicodeEncodeError"]
