"""cluster.dirlock: one owner per directory, refused at once, never blocked by a dead holder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from cluster.dirlock import LOCK_FILE_NAME, DirectoryInUse, lock_directory
from cluster.disk import OsDisk


def test_a_held_directory_is_refused_naming_the_holder_and_free_once_released(tmp_path: Path) -> None:
    lock = lock_directory(str(tmp_path / "d"))
    assert (tmp_path / "d" / LOCK_FILE_NAME).read_text() == f"{os.getpid()}\n"
    with pytest.raises(DirectoryInUse) as refused:
        lock_directory(str(tmp_path / "d"))  # a second owner in the same process too
    assert refused.value.pid == os.getpid()
    assert str(refused.value) == (f"data directory {tmp_path / 'd'} is in use by process {os.getpid()}; "
                                  "stop it or choose another --data-dir")
    lock.release()
    lock.release()  # idempotent
    assert (tmp_path / "d" / LOCK_FILE_NAME).read_text() == "", "a clean release leaves no PID behind"
    with lock_directory(str(tmp_path / "d")):
        pass


def test_a_lock_file_left_by_a_dead_process_does_not_block(tmp_path: Path) -> None:
    # A child takes the lock and dies without releasing it (as kill -9 would leave it).
    code = f"import os; from cluster.dirlock import lock_directory; lock_directory({str(tmp_path)!r}); os._exit(9)"
    child = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent)
    assert child.returncode == 9
    assert (tmp_path / LOCK_FILE_NAME).read_text().strip().isdigit()
    with lock_directory(str(tmp_path)):
        assert (tmp_path / LOCK_FILE_NAME).read_text() == f"{os.getpid()}\n"


async def test_an_os_disk_holds_its_directory_until_closed(tmp_path: Path) -> None:
    disk = OsDisk(str(tmp_path))
    await disk.append("wal-0000000001.log", b"x")
    with pytest.raises(DirectoryInUse):
        OsDisk(str(tmp_path))
    assert await disk.names() == ["wal-0000000001.log"], "the lock file is not one of the disk's files"
    disk.close()
    with pytest.raises(trio.ClosedResourceError):
        await disk.append("wal-0000000001.log", b"y")  # the directory may be another disk's now
    again = OsDisk(str(tmp_path))  # free as soon as close() returns
    assert await again.read("wal-0000000001.log") == b"x"
    again.close()
