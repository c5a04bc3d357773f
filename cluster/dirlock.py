"""One process per directory: an exclusive lock on a lock file inside it.

A data directory, and each journal replica's directory, must have one
writer: two processes appending to the same write-ahead segments each
believe they know where the file ends, and both corrupt it (and then die on
the assertion that checks the offset in `journal.segments`). So whatever
opens such a directory (`dsql serve` for its data dir, `OsDisk` for a
replica's directory) first takes `lock_directory(path)`, which refuses at
once, naming the process that holds it, rather than waiting.

Why `flock` on a file that stays: the kernel drops the lock when its holder
dies, however it dies, so a lock file left by `kill -9` never blocks a
restart and nobody has to decide whether a PID in a file is still alive.
The PID written into the file is only for the message. The file is never
removed: a process that opened it just before the holder removed it would
lock the old file while a newcomer locks a new one under the same name.
Locks are per open file, so a second lock in the same process is refused
too, and the descriptor is not inherited by child processes.
"""

from __future__ import annotations

import fcntl
import os

LOCK_FILE_NAME = ".dsql.lock"  # a dot file: `OsDisk.names()` and directory listings skip it
_PID_BYTES_MAX = 32


class DirectoryInUse(Exception):
    """Another process (or another owner in this one) holds the directory."""

    def __init__(self, directory: str, pid: int | None) -> None:
        self.directory = directory
        self.pid = pid
        # The holder writes its PID just after it locks; in that instant the file is empty.
        holder = f"process {pid}" if pid else "another process"
        super().__init__(f"data directory {directory} is in use by {holder}; stop it or choose another --data-dir")


class DirectoryLock:
    """A held lock; `release()` (idempotent) gives the directory up."""

    def __init__(self, directory: str, fd: int) -> None:
        self.directory = directory
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # a clean stop leaves no PID behind to puzzle anyone
        finally:
            os.close(fd)  # closing the only descriptor of the open file drops the lock

    def __enter__(self) -> DirectoryLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def lock_directory(directory: str) -> DirectoryLock:
    """Make `directory` if needed and lock it for this process; DirectoryInUse if it is held."""
    os.makedirs(directory, exist_ok=True)
    fd = os.open(os.path.join(directory, LOCK_FILE_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _holder_pid(fd)
        os.close(fd)
        raise DirectoryInUse(directory, pid) from None
    except BaseException:
        os.close(fd)
        raise
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return DirectoryLock(directory, fd)


def _holder_pid(fd: int) -> int | None:
    text = os.pread(fd, _PID_BYTES_MAX, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None
