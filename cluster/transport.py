"""RPC between parts: the only way one part reaches another.

A part serves an object at an address; its coroutine methods named `rpc_*`
are the interface. Callers hold a `Peer` and `await peer.call("read", ...)`.
Three transports carry calls: `InProcessTransport` below, `cluster.tcp`
between processes and `cluster.sim.network` in the simulator. A part cannot
tell them apart, and tests/test_transport_conformance.py runs one suite over
all three:

* Arguments and results are encoded with `cluster.codec` and decoded on the
  other side, so no two parts ever share an object that either could
  change, and moving a part to another process changes nothing above this
  module. In process, a small value that nobody can change and that would
  decode as an equal value of the same types (`codec.shareable`: ints,
  strings, bytes, tuples and frozen messages of them) is handed over as it
  is, since nobody can tell it from its copy. (The round trips were ~14 % of
  a point select's CPU; bench/README, "in-process calls without msgpack".)
  A handler may also name methods whose replies it *hands over*
  (`hands_over`: their replies are made for the call alone, and it keeps no
  reference to them, as a storage node on LMDB decodes the rows it returns
  from disk for each read): in process their replies reach the caller as they
  are, uncopied, since no one else can see them change. (The copy was ~35 %
  of a whole-table read's CPU: ANALYZE, index builds.)
* A handler (`rpc_*`) runs in a task of the callee, never in the caller's. A caller
  that is cancelled stops waiting; the handler runs on to its end (nothing
  sent is un-sent, as over TCP) and its reply is dropped.
* Deadlines travel in requests. A call made inside a cancel scope with a
  deadline (`trio.move_on_after`, `fail_after`, ...), or given `deadline=`
  (an absolute `trio.current_time()`), carries the time it has left, and
  the handler runs in a cancel scope with that deadline (over a network,
  counted from when the request arrives: clocks differ between processes),
  so it stops working when its caller stops waiting. The caller sees what
  trio gives it: its own scope's `Cancelled` (which `move_on_after` absorbs
  and `fail_after` turns into `TooSlowError`), or `TooSlowError` when the
  `deadline=` it gave passes. The handler sees `Cancelled` at the deadline;
  a handler cancelled so sends no reply, and a call whose deadline has
  already passed sends nothing.
* A handler may also offer `now_<method>`: a plain function that answers at
  once from what it holds, or returns `NOT_NOW` when it would have to wait.
  `Peer.call_now` runs it in the caller's task when the address is served in
  this process (no scheduler turn, no cancel scope: it can neither block nor be
  cancelled halfway, so where it ran is invisible), with the same codec rule
  and errors as a call; otherwise, or after `IMMEDIATE_MAX` answers in a row
  with no call between (a call is a scheduler turn: a loop of reads still
  yields), or when the caller's deadline has passed, it returns `NOT_NOW` and
  the caller makes the call. A strong read from storage whose τ is already
  applied answers so (most reads of a transaction after its first): two
  scheduler turns, a worker and two cancel scopes less per read.
* When a part stops serving an address (`unserve`: it stopped or crashed),
  calls to the address raise `Unreachable`, and calls in flight there raise
  `ReplyLost` (their handlers are cancelled).

Errors cross as values: an exception class decorated with `@wire_error(N)`
(N its number in `cluster.wire_ids`; the number, not a module path, is what
travels) raised by a handler is re-raised at the caller as the same class
with the same arguments. Anything else becomes `RemoteError`, because a bug in one
part must not masquerade as a meaningful error in another; so does a call
of a method the address does not serve.

In process, handlers run in worker tasks of the transport's own nursery
(`run`, which whoever assembles the parts starts before the first call).
Each served address keeps a few idle workers: a call hands its request to
one (or starts one when all are busy) and parks until the worker wakes it
with the reply. That is two scheduler turns per call, the least a call into
another task can cost: about 18 µs of CPU for a small call here, against
2 µs when the handler ran in the caller's task and 10 µs for a bare
ping-pong between two trio tasks; a task per call, or an Event per call,
costs a third more again. Under load the turns are shared between tasks: a
strong point read from storage (about four calls) went from 41 to 66 µs
of CPU with eight readers at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from cluster import codec, wire_ids

E = TypeVar("E", bound=type)

# Registered error classes by wire key: a stable number from `cluster.wire_ids`
# (`@wire_error(N)`), or, for classes not yet numbered, the module path.
_error_classes: dict[int | str, type[Exception]] = {}


def wire_error(arg: E | int) -> Any:
    """Register an exception class whose instances may cross the transport.

    `@wire_error(N)` sends it as the number N (listed in `cluster.wire_ids`);
    bare `@wire_error` sends it by module path (the older form, kept while
    classes are being numbered). Its constructor must accept `*self.args`.
    """
    if isinstance(arg, int):
        return lambda cls: _register_error(arg, cls)
    return _register_error(f"{arg.__module__}.{arg.__qualname__}", arg)


def _register_error(key: int | str, cls: E) -> E:
    existing = _error_classes.get(key)
    if isinstance(key, int) and existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"wire error id {key} is already {existing.__qualname__}, not {cls.__qualname__}")
    _error_classes[key] = cls
    cls._wire_key = key  # type: ignore[attr-defined]
    return cls


class RemoteError(Exception):
    """A handler failed with an exception that has no meaning on the wire."""


class Unreachable(Exception):
    """The call reached no handler (no handler at that address, a refused
    connection, a dropped request): nothing happened there."""


class ReplyLost(Unreachable):
    """The call may have reached the handler and run, but no reply came back
    (a connection lost mid-call, a dropped reply): the caller cannot know."""


wire_error(wire_ids.UNREACHABLE)(Unreachable)
wire_error(wire_ids.REPLY_LOST)(ReplyLost)


_NO_DEADLINE = math.inf


class _NotNow:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_NOW"


# What `call_now` (and a `now_*` handler) returns when the answer needs a call.
NOT_NOW: Any = _NotNow()

# Idle workers kept per served address; more start when calls overlap, and
# those beyond this many end once they have answered.
IDLE_WORKERS_MAX = 16
# Answers `call_now` gives in a row (~20 µs each) before it leaves one to a call through a
# worker, so that a loop of immediate reads still yields to the scheduler now and then.
IMMEDIATE_MAX = 64

# What a worker hands back: (kind, value).
_RESULT = 0  # value: the handler's result, as it is (shareable, or the transport does not encode)
_ENCODED = 3  # value: the handler's result, encoded
_ERROR = 1  # value: the exception the handler raised
_LOST = 2  # value: the transport's own error (the address stopped serving mid-call)


class _DeadlinePassed(ReplyLost):
    """A handler was cancelled by the deadline its caller sent; the caller
    has stopped waiting, so nobody hears this (a network transport sends no
    reply)."""


class _Job:
    """One call handed to a worker: the parked caller and what to run."""

    __slots__ = ("caller", "fn", "args", "deadline", "encode", "reply", "waiting")

    def __init__(self, fn: Callable[..., Any], args: tuple, deadline: float, encode: bool) -> None:
        self.caller = trio.lowlevel.current_task()
        self.fn = fn
        self.args = args
        self.deadline = deadline
        self.encode = encode
        self.reply: tuple[int, Any] = (_LOST, None)
        self.waiting = True

    def answer(self, kind: int, value: Any) -> None:
        if self.waiting:
            self.waiting = False
            self.reply = (kind, value)
            trio.lowlevel.reschedule(self.caller)

    def abort(self, _raise_cancel: Any) -> trio.lowlevel.Abort:
        # The caller was cancelled: it stops waiting, the handler runs on.
        self.waiting = False
        return trio.lowlevel.Abort.SUCCEEDED


class _ForwardedJob(_Job):
    """A call that came from another process (`InProcessTransport.handle_soon`):
    nobody parks for it; its outcome goes to a callback, in the worker's task."""

    __slots__ = ("done",)

    def __init__(self, fn: Callable[..., Any], args: tuple, deadline: float, done: Callable[[Any], None]) -> None:
        self.fn = fn
        self.args = args
        self.deadline = deadline
        self.encode = False
        self.done = done
        self.waiting = True

    def answer(self, kind: int, value: Any) -> None:
        if not self.waiting:
            return
        self.waiting = False
        if kind == _RESULT:
            self.done((True, value))
        elif isinstance(value, _DeadlinePassed):
            self.done(None)
        else:
            self.done((False, value))


class _Worker:
    """A task that runs one served address's handlers, one call at a time.

    Its cancel scope lives as long as the task: `unserve` cancels it, and
    each call sets the scope's deadline to the caller's (a scope per call
    would cost as much again as the rest of a call).
    """

    __slots__ = ("endpoint", "job", "scope", "task")

    def __init__(self, endpoint: _Endpoint, job: _Job) -> None:
        self.endpoint = endpoint
        self.job: _Job | None = job
        self.scope = trio.CancelScope()
        self.task: trio.lowlevel.Task | None = None

    def abort_idle(self, _raise_cancel: Any) -> trio.lowlevel.Abort:
        self.endpoint.idle.remove(self)
        return trio.lowlevel.Abort.SUCCEEDED


class _Endpoint:
    __slots__ = ("address", "handed_over", "handler", "idle", "now", "workers")

    def __init__(self, address: str, handler: Any) -> None:
        self.address = address
        self.handler = handler
        # Methods whose replies the handler hands over (see the module's docstring).
        self.handed_over: frozenset[str] = frozenset(getattr(handler, "hands_over", ()))
        self.idle: list[_Worker] = []
        self.workers: set[_Worker] = set()
        self.now: dict[str, Callable[..., Any] | None] = {}  # method -> its `now_` function, if any

    def now_function(self, method: str) -> Callable[..., Any] | None:
        fn = self.now.get(method, NOT_NOW)
        if fn is NOT_NOW:
            fn = self.now[method] = getattr(self.handler, "now_" + method, None)
        return fn


class InProcessTransport:
    """Addresses are strings; handlers live in this process, in the tasks of
    `run`'s nursery.

    `encode_messages=False` skips the encode/decode round trip; it exists only
    so a benchmark can measure what the encoding costs. Tests and `dsql serve`
    run with it on.
    """

    def __init__(self, *, encode_messages: bool = True, immediate: bool = True) -> None:
        self._endpoints: dict[str, _Endpoint] = {}
        self._nursery: trio.Nursery | None = None
        self._stopped = False
        self.encode_messages = encode_messages
        # Off, `call_now` always says NOT_NOW, as a transport between processes does.
        self.immediate = immediate
        self.calls = 0
        self._immediate = 0  # `call_now` answers since the last call made through a worker
        self._nested = 0  # `call_now` handlers running (one calling another: a read closing a journal)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold the nursery handlers run in, until cancelled (calls in flight then get `ReplyLost`)."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            self._stopped = True

    def serve(self, address: str, handler: Any) -> None:
        assert address not in self._endpoints, address
        self._endpoints[address] = _Endpoint(address, handler)

    def serves(self, address: str) -> bool:
        return address in self._endpoints

    def unserve(self, address: str) -> None:
        """Stop serving `address`: later calls are `Unreachable`, calls in flight `ReplyLost`."""
        endpoint = self._endpoints.pop(address, None)
        if endpoint is not None:
            for worker in list(endpoint.workers):
                worker.scope.cancel()

    def connect(self, address: str) -> Peer:
        return Peer(self, address)

    def learn_address(self, address: str, endpoint: tuple[str, int]) -> None:
        """Where a part that joined later listens (a storage node added to a running
        cluster): nothing to learn in one process, where parts serve by name."""

    async def call(self, address: str, method: str, args: tuple, deadline: float = _NO_DEADLINE) -> Any:
        self.calls += 1
        endpoint, fn = self._lookup(address, method)
        if self.encode_messages and not codec.shareable(args):
            args = codec.decode(codec.encode(args))
        encode = self.encode_messages and method not in endpoint.handed_over
        if deadline != _NO_DEADLINE:
            with trio.fail_at(deadline):
                return await self._call(endpoint, fn, args, encode)
        return await self._call(endpoint, fn, args, encode)

    def call_now(self, address: str, method: str, args: tuple) -> Any:
        """The handler's answer computed in the caller's task by its `now_<method>`, or
        `NOT_NOW` (see the module's docstring): then `call` it."""
        endpoint = self._endpoints.get(address)
        if endpoint is None or self._nursery is None or not self.immediate:
            return NOT_NOW
        fn = endpoint.now_function(method)
        if fn is None or self._immediate >= IMMEDIATE_MAX:
            return NOT_NOW
        encode = self.encode_messages
        if not self._nested:
            # (Inside another `call_now`'s handler the outer call has just looked: the
            # deadline is the same, and walking the cancel scopes again costs ~2 % of a read.)
            deadline = trio.current_effective_deadline()
            if deadline != _NO_DEADLINE and deadline <= trio.current_time():
                return NOT_NOW  # its time is up: the call sends nothing
        if encode and not codec.shareable(args):
            args = codec.decode(codec.encode(args))
        self._nested += 1
        try:
            value = fn(*args)
        except Exception as exc:  # noqa: BLE001 - crosses to the caller like any error
            raise _cross(exc) from None
        finally:
            self._nested -= 1
        if value is NOT_NOW:
            return value
        self.calls += 1
        self._immediate += 1
        if encode and method not in endpoint.handed_over and not codec.shareable(value):
            return codec.decode(codec.encode(value))
        return value

    async def _call(self, endpoint: _Endpoint, fn: Callable[..., Any], args: tuple, encode: bool) -> Any:
        """`encode`: copy the reply through the codec (not for a reply handed over)."""
        deadline = trio.current_effective_deadline()
        if deadline != _NO_DEADLINE and deadline <= trio.current_time():
            await trio.lowlevel.checkpoint()  # its time is up (or it is cancelled): send nothing
        job = _Job(fn, args, deadline, encode)
        self._submit(endpoint, job)
        self._immediate = 0
        await trio.lowlevel.wait_task_rescheduled(job.abort)
        kind, value = job.reply
        if kind == _RESULT:
            return value
        if kind == _ENCODED:
            return codec.decode(value)
        if kind == _ERROR:
            raise _cross(value) from None
        raise value

    def handle_soon(self, address: str, method: str, args: tuple, deadline: float,
                    done: Callable[[tuple[bool, Any] | None], None]) -> None:  # fmt: skip
        """Run a request that arrived from elsewhere (`cluster.tcp`) as a call here
        would run, and hand its outcome to `done` (called once, from a worker task).

        The outcome is (True, result) or (False, the exception to send back);
        None if the handler was cancelled by `deadline` (a trio time), when the
        caller has stopped waiting and nothing is to be sent. Nobody parks for
        the reply: a server process answers many requests without a task each.
        """
        try:
            endpoint, fn = self._lookup(address, method)
            self._submit(endpoint, _ForwardedJob(fn, args, deadline, done))
        except (Unreachable, RemoteError) as exc:
            done((False, exc))
        except RuntimeError as exc:  # not running yet: as if nothing served the address
            done((False, Unreachable(f"{address}: {exc}")))

    def _lookup(self, address: str, method: str) -> tuple[_Endpoint, Callable[..., Any]]:
        endpoint = self._endpoints.get(address)
        if endpoint is None:
            raise Unreachable(f"{address}: not served here")
        fn = getattr(endpoint.handler, "rpc_" + method, None)
        if fn is None:
            raise RemoteError(f"{address}: no method {method!r}")
        return endpoint, fn

    def _submit(self, endpoint: _Endpoint, job: _Job) -> None:
        """Hand a call to an idle worker of the endpoint, or to a new one (a caller then parks)."""
        nursery = self._nursery
        if nursery is None:
            if self._stopped:
                raise Unreachable(f"{endpoint.address}: the transport has stopped")
            raise RuntimeError("InProcessTransport.run must be started before the first call")
        if endpoint.idle:
            worker = endpoint.idle.pop()
            worker.job = job
            trio.lowlevel.reschedule(worker.task)
        else:
            worker = _Worker(endpoint, job)
            try:
                nursery.start_soon(self._work, worker)
            except RuntimeError:  # the nursery is closing: the transport is stopping
                raise Unreachable(f"{endpoint.address}: the transport has stopped") from None
            endpoint.workers.add(worker)

    async def _work(self, worker: _Worker) -> None:
        endpoint, scope = worker.endpoint, worker.scope
        worker.task = trio.lowlevel.current_task()
        try:
            with scope:
                while True:
                    job = worker.job
                    assert job is not None
                    if job.deadline != _NO_DEADLINE:
                        scope.deadline = job.deadline
                    try:
                        value = await job.fn(*job.args)
                        kind = _ENCODED if job.encode and not codec.shareable(value) else _RESULT
                        if kind == _ENCODED:
                            value = codec.encode(value)
                    except Exception as exc:  # noqa: BLE001 - crosses to the caller like any error
                        kind, value = _ERROR, exc
                    worker.job = None
                    job.answer(kind, value)
                    if job.deadline != _NO_DEADLINE:
                        if scope.cancel_called:
                            return  # a scope whose deadline fired cannot be used again
                        scope.deadline = _NO_DEADLINE
                    if len(endpoint.idle) >= IDLE_WORKERS_MAX:
                        return
                    endpoint.idle.append(worker)
                    await trio.lowlevel.wait_task_rescheduled(worker.abort_idle)
        finally:
            endpoint.workers.discard(worker)
            job = worker.job
            if job is not None:
                worker.job = None
                if job.deadline <= trio.current_time():
                    job.answer(_LOST, _DeadlinePassed(f"{endpoint.address}: deadline passed"))
                else:
                    job.answer(_LOST, ReplyLost(f"{endpoint.address}: stopped during the call"))


def _cross(exc: Exception) -> Exception:
    """The exception as the caller sees it after a trip over the wire."""
    return decode_error(*encode_error(exc))


def encode_error(exc: Exception) -> tuple[int | str, bytes]:
    """(wire key, msgpack of its arguments) of a handler's exception, for the wire.

    The key is the class's number, or its module path if it has none yet; an
    exception class not marked `@wire_error` travels as `RemoteError` (key "").
    """
    key = getattr(type(exc), "_wire_key", None)
    if key is None or _error_classes.get(key) is not type(exc):
        return "", codec.encode((f"{type(exc).__name__}: {exc}",))
    return key, codec.encode(exc.args)


def decode_error(key: int | str, args: bytes) -> Exception:
    """The exception a caller raises for an error that crossed the wire."""
    cls = _error_classes.get(key) if key != "" else None
    if cls is None:
        if key == "":
            return RemoteError(*codec.decode(args))
        if isinstance(key, int):
            return RemoteError(f"error of unknown wire id {key}: {codec.decode(args)}")
        return RemoteError(f"{key}: {codec.decode(args)}")
    return cls(*codec.decode(args))


class Peer:
    """A handle on a remote part."""

    __slots__ = ("_transport", "address")

    def __init__(self, transport: InProcessTransport, address: str) -> None:
        self._transport = transport
        self.address = address

    async def call(self, method: str, *args: Any, deadline: float | None = None) -> Any:
        """The handler's result; `deadline` (a `trio.current_time()`) bounds the call
        beyond the caller's own cancel scopes, raising `trio.TooSlowError` when it passes."""
        if deadline is None:
            return await self._transport.call(self.address, method, args)
        return await self._transport.call(self.address, method, args, deadline)

    def call_now(self, method: str, *args: Any) -> Any:
        """The answer at once, from the handler's `now_<method>` in this task, or `NOT_NOW`:
        then `call`. (Only in process; other transports always say `NOT_NOW`.)"""
        return self._transport.call_now(self.address, method, args)
