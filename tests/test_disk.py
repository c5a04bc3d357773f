"""`Disk.replace`: a file written and then renamed over another is updated atomically.

Storage checkpoints rely on it: the new checkpoint is streamed into a
temporary file without syncs, and `replace` syncs it and swaps it in, so a
crash leaves the old checkpoint or all of the new one, on every disk.
"""

from __future__ import annotations

import os
import random

import pytest

from cluster.disk import MemoryDisk, OsDisk
from cluster.sim.disk import DiskFaults, SimDisk


def _disks(tmp_path) -> list:
    return [OsDisk(str(tmp_path)), MemoryDisk(), SimDisk(random.Random(1), DiskFaults(torn_garble=0.0))]


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["os", "memory", "sim"])
async def test_replace_swaps_a_new_file_in_over_an_old_one(tmp_path, kind: int) -> None:
    disk = _disks(tmp_path)[kind]
    try:
        await disk.append("target", b"old", sync=True)
        await disk.append("target.tmp", b"new ", sync=False)
        await disk.append("target.tmp", b"bytes", sync=False)
        await disk.replace("target.tmp", "target")
        assert await disk.names() == ["target"]
        assert await disk.read("target") == b"new bytes"
        # A file replaced twice, while the disk still has the first one open for appending.
        await disk.append("target.tmp", b"newer", sync=False)
        await disk.replace("target.tmp", "target")
        assert await disk.read("target") == b"newer"
    finally:
        disk.close()


async def test_os_disk_replace_leaves_the_bytes_on_the_file_system(tmp_path) -> None:
    disk = OsDisk(str(tmp_path))
    try:
        await disk.append("c.tmp", b"checkpoint", sync=False)
        await disk.replace("c.tmp", "c")
    finally:
        disk.close()
    with open(os.path.join(tmp_path, "c"), "rb") as f:
        assert f.read() == b"checkpoint"
    assert not os.path.exists(os.path.join(tmp_path, "c.tmp"))


async def test_sim_disk_crash_keeps_the_old_file_or_all_of_the_new() -> None:
    disk = SimDisk(random.Random(2), DiskFaults(torn_garble=1.0))
    await disk.append("c", b"old checkpoint", sync=True)
    await disk.append("c.tmp", b"new checkpoint, never synced", sync=False)
    disk.crash()  # before the replace: the new file is gone, the old one whole
    assert await disk.names() == ["c"] and await disk.read("c") == b"old checkpoint"
    await disk.append("c.tmp", b"new checkpoint, never synced", sync=False)
    await disk.replace("c.tmp", "c")
    disk.crash()  # after: all of the new one, although its appends were never synced
    assert await disk.names() == ["c"] and await disk.read("c") == b"new checkpoint, never synced"
