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
  names()                    the files, sorted

Every method is async: `OsDisk` runs the system calls in a worker thread so
that an fsync never stalls the event loop, and `SimDisk` sleeps for a
simulated latency. `MemoryDisk` keeps everything in memory and forgets it at
exit (`dsql serve --memory`, and tests of other parts).
"""

from __future__ import annotations

import os
from typing import Protocol

import trio


class Disk(Protocol):
    async def names(self) -> list[str]: ...

    async def read(self, name: str) -> bytes: ...

    async def read_at(self, name: str, offset: int, length: int) -> bytes: ...

    async def append(self, name: str, data: bytes, *, sync: bool = True) -> int: ...

    async def truncate(self, name: str, size: int) -> None: ...

    async def remove(self, name: str) -> None: ...

    def close(self) -> None: ...


class OsDisk:
    """Files in one directory of the local file system."""

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self._fds: dict[str, int] = {}  # files open for appending, kept open for the disk's life
        self.syncs = 0

    def _path(self, name: str) -> str:
        assert "/" not in name and name not in ("", ".", ".."), name
        return os.path.join(self.directory, name)

    async def names(self) -> list[str]:
        return sorted(n for n in os.listdir(self.directory) if not n.startswith("."))

    async def read(self, name: str) -> bytes:
        return await trio.to_thread.run_sync(self._read, name)

    def _read(self, name: str) -> bytes:
        with open(self._path(name), "rb") as f:
            return f.read()

    async def read_at(self, name: str, offset: int, length: int) -> bytes:
        return await trio.to_thread.run_sync(self._read_at, name, offset, length)

    def _read_at(self, name: str, offset: int, length: int) -> bytes:
        fd = os.open(self._path(name), os.O_RDONLY)
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    async def append(self, name: str, data: bytes, *, sync: bool = True) -> int:
        return await trio.to_thread.run_sync(self._append, name, data, sync)

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
        await trio.to_thread.run_sync(self._truncate, name, size)

    def _truncate(self, name: str, size: int) -> None:
        with open(self._path(name), "r+b") as f:
            f.truncate(size)
            f.flush()
            os.fsync(f.fileno())

    async def remove(self, name: str) -> None:
        await trio.to_thread.run_sync(self._remove, name)

    def _remove(self, name: str) -> None:
        fd = self._fds.pop(name, None)
        if fd is not None:
            os.close(fd)
        os.remove(self._path(name))
        self._sync_directory()

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


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

    def close(self) -> None:
        pass
