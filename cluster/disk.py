"""Disks: the one way a part keeps bytes across a crash.

A part that persists state (today the journal replicas) takes a `Disk` as an
argument instead of opening files itself, so that the simulator can hand it
a disk that loses whatever was not synced when the simulated machine crashes
(`cluster.sim.disk.SimDisk`), while production hands it `OsDisk`.

The interface is a flat directory of append-only files, which is all a
write-ahead log needs:

  append(name, data, sync)   append bytes (creating the file); with sync=True
                             the bytes, and the file's existence, are durable
                             when it returns. Returns the offset they start at.
  read(name) / read_at(...)  whole file / a byte range
  truncate(name, size)       cut a torn tail; durable when it returns
  remove(name)               durable when it returns
  replace(source, target)    rename `source` over `target` (which may exist),
                             with `source`'s bytes synced first: when it
                             returns, `target` holds all of them, durably; a
                             crash before then leaves `target` as it was.
                             Written and replaced, a file is updated
                             atomically (storage checkpoints).
  names()                    the files, sorted

Every method is async: `OsDisk` runs the system calls in a worker thread so
that an fsync never stalls the event loop (one thread of its own, fed by a
queue, which costs about half of what `trio.to_thread` does per call: this
is on the commit path of every replica), and `SimDisk` sleeps for a
simulated latency. `MemoryDisk` keeps everything in memory and forgets it at
exit (`dsql serve --memory`, and tests of other parts).

An `OsDisk` owns its directory: it locks it (`cluster.dirlock`) when it is
made and gives it up only once `close()` has closed every file, so no two
disks, in one process or two, ever append to the same files.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

import outcome
import trio

from cluster.dirlock import lock_directory

log = logging.getLogger(__name__)

# How long `close()` waits for a call still running in the I/O thread (an
# fsync, at worst a slow one) before it leaves the thread to finish alone.
CLOSE_WAIT_S = 10.0


class Disk(Protocol):
    async def names(self) -> list[str]: ...

    async def read(self, name: str) -> bytes: ...

    async def read_at(self, name: str, offset: int, length: int) -> bytes: ...

    async def append(self, name: str, data: bytes, *, sync: bool = True) -> int: ...

    async def truncate(self, name: str, size: int) -> None: ...

    async def remove(self, name: str) -> None: ...

    async def replace(self, source: str, target: str) -> None: ...

    def close(self) -> None: ...


class _IoThread:
    """One thread that runs blocking calls for one disk, in order."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, token, deliver = item
            result = outcome.capture(fn)
            if token is None:
                continue
            try:
                token.run_sync_soon(deliver, result)
            except trio.RunFinishedError:
                pass  # the caller's trio run is gone; nobody is waiting

    async def call(self, fn: Callable[[], Any]) -> Any:
        task = trio.lowlevel.current_task()
        token = trio.lowlevel.current_trio_token()

        def deliver(result: outcome.Outcome) -> None:
            trio.lowlevel.reschedule(task, outcome.Value(result))

        self._queue.put((fn, token, deliver))

        def abort(_: Any) -> trio.lowlevel.Abort:
            # The call runs to the end in its thread whatever happens; a
            # cancelled caller must still wait for it (like to_thread).
            return trio.lowlevel.Abort.FAILED

        result = await trio.lowlevel.wait_task_rescheduled(abort)
        return result.unwrap()

    def submit(self, fn: Callable[[], Any]) -> None:
        """Run `fn` in the thread after everything queued, without waiting for it."""
        self._queue.put((fn, None, None))

    def stop(self, wait_s: float = 0.0) -> bool:
        """Stop after everything queued; True if the thread has ended within `wait_s`."""
        self._queue.put(None)
        if wait_s > 0:
            self._thread.join(wait_s)
        return not self._thread.is_alive()


class OsDisk:
    """Files in one directory of the local file system, which it holds locked until closed."""

    def __init__(self, directory: str) -> None:
        # Before anything in the directory is read: DirectoryInUse if another disk has it.
        self._lock = lock_directory(directory)
        self.directory = directory
        self._fds: dict[str, int] = {}  # files open for appending, kept open for the disk's life
        self._io: _IoThread | None = None
        self.syncs = 0

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if not self._lock.held:
            # Closed: the directory may belong to another disk by now.
            raise trio.ClosedResourceError(f"{self.directory}: the disk is closed")
        if self._io is None:
            self._io = _IoThread(f"disk {self.directory}")
        return await self._io.call(lambda: fn(*args))

    def _path(self, name: str) -> str:
        assert "/" not in name and name not in ("", ".", ".."), name
        return os.path.join(self.directory, name)

    async def names(self) -> list[str]:
        return sorted(n for n in os.listdir(self.directory) if not n.startswith("."))

    async def read(self, name: str) -> bytes:
        return await self._call(self._read, name)

    def _read(self, name: str) -> bytes:
        with open(self._path(name), "rb") as f:
            return f.read()

    async def read_at(self, name: str, offset: int, length: int) -> bytes:
        return await self._call(self._read_at, name, offset, length)

    def _read_at(self, name: str, offset: int, length: int) -> bytes:
        fd = os.open(self._path(name), os.O_RDONLY)
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    async def append(self, name: str, data: bytes, *, sync: bool = True) -> int:
        return await self._call(self._append, name, data, sync)

    def _append(self, name: str, data: bytes, sync: bool) -> int:
        fd = self._fds.get(name)
        created = False
        if fd is None:
            path = self._path(name)
            created = not os.path.exists(path)
            fd = self._fds[name] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        offset = os.lseek(fd, 0, os.SEEK_END)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if sync:
            os.fdatasync(fd)
            self.syncs += 1
            if created:
                # A new file's name is durable only once its directory is synced.
                self._sync_directory()
        return offset

    async def truncate(self, name: str, size: int) -> None:
        await self._call(self._truncate, name, size)

    def _truncate(self, name: str, size: int) -> None:
        with open(self._path(name), "r+b") as f:
            f.truncate(size)
            f.flush()
            os.fsync(f.fileno())

    async def remove(self, name: str) -> None:
        await self._call(self._remove, name)

    def _remove(self, name: str) -> None:
        fd = self._fds.pop(name, None)
        if fd is not None:
            os.close(fd)
        os.remove(self._path(name))
        self._sync_directory()

    async def replace(self, source: str, target: str) -> None:
        await self._call(self._replace, source, target)

    def _replace(self, source: str, target: str) -> None:
        fd = self._fds.pop(source, None)
        if fd is None:
            fd = os.open(self._path(source), os.O_RDONLY)
        try:
            os.fsync(fd)  # the bytes before the name: a crash must not leave `target` short
        finally:
            os.close(fd)
        old = self._fds.pop(target, None)
        if old is not None:
            os.close(old)
        os.replace(self._path(source), self._path(target))
        self._sync_directory()

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Close every file, then unlock the directory (a no-op once closed)."""
        fds = list(self._fds.values())
        self._fds.clear()
        lock = self._lock

        def close_all() -> None:
            try:
                for fd in fds:
                    os.close(fd)
            finally:
                lock.release()  # only now may another disk open these files

        if self._io is not None:
            # In the I/O thread, after any call still running there: closing
            # under a running write could hand its descriptor to another file.
            # Waiting for it means the directory is free when close() returns
            # (a replica restarted in this process locks it at once).
            self._io.submit(close_all)
            if not self._io.stop(wait_s=CLOSE_WAIT_S):
                log.warning("%s: a disk call still runs after %.0f s; the directory stays locked until it ends",
                            self.directory, CLOSE_WAIT_S)
            self._io = None
        else:
            close_all()


class MemoryDisk:
    """Files as byte arrays in memory; nothing survives the process."""

    def __init__(self) -> None:
        self.files: dict[str, bytearray] = {}
        self.syncs = 0

    async def names(self) -> list[str]:
        return sorted(self.files)

    async def read(self, name: str) -> bytes:
        return bytes(self.files[name])

    async def read_at(self, name: str, offset: int, length: int) -> bytes:
        return bytes(self.files[name][offset : offset + length])

    async def append(self, name: str, data: bytes, *, sync: bool = True) -> int:
        buffer = self.files.setdefault(name, bytearray())
        offset = len(buffer)
        buffer += data
        if sync:
            self.syncs += 1
        return offset

    async def truncate(self, name: str, size: int) -> None:
        del self.files[name][size:]

    async def remove(self, name: str) -> None:
        del self.files[name]

    async def replace(self, source: str, target: str) -> None:
        self.files[target] = self.files.pop(source)

    def close(self) -> None:
        pass
