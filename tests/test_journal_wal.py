"""Write-ahead files: checksummed frames, torn and corrupt tails, rotation, recovery.

Recovery must cut a torn or corrupt tail (bytes after the last sync, never
acknowledged) and never apply it, must refuse damage where no torn write can
be, and must rebuild exactly the state an acceptor promised and accepted.
"""

from __future__ import annotations

import random

import pytest

from cluster.disk import MemoryDisk, OsDisk
from cluster.sim.disk import DiskFaults, SimDisk
from journal import wal
from journal.segments import CorruptJournal, SegmentFiles, encode_frame, parse_frames, segment_name

EPOCH = 1_750_000_000 * 1_000_000_000


def value(ballot: int, *payloads: bytes, tau: int = EPOCH) -> tuple:
    return (ballot, tuple((tau + i, p) for i, p in enumerate(payloads)))


def header() -> list[bytes]:
    return [wal.promise_record(0)]


async def test_frames_round_trip_and_checksums_are_checked_on_read():
    disk = MemoryDisk()
    files = SegmentFiles(disk)
    bodies = [wal.accept_record(s, 256, value(256, b"p%d" % s)) for s in range(1, 4)]
    locations = await files.write(bodies, header)
    assert [await files.read_frame(loc) for loc in locations] == bodies
    # Flip one byte of the second frame's body: reading it back must notice.
    name = segment_name(locations[1].segment)
    disk.files[name][locations[1].offset + 10] ^= 0xFF
    with pytest.raises(CorruptJournal):
        await files.read_frame(locations[1])


async def test_a_torn_tail_is_cut_and_never_applied(tmp_path):
    disk = OsDisk(str(tmp_path))
    files = SegmentFiles(disk)
    await files.write([wal.accept_record(1, 256, value(256, b"kept"))], header)
    name = (await disk.names())[0]
    torn = encode_frame(wal.accept_record(2, 256, value(256, b"torn")))
    with open(tmp_path / name, "ab") as f:
        f.write(torn[: len(torn) // 2])  # a crash in the middle of a write
    disk.close()
    files = SegmentFiles(disk := OsDisk(str(tmp_path)))
    frames = await files.recover()
    state = wal.recover(frames)
    assert 1 in state.accepted and 2 not in state.accepted
    assert files.torn_bytes_cut == len(torn) // 2
    assert (tmp_path / name).stat().st_size == sum(loc.length for loc, _ in frames), "the file is cut"
    # Appending after recovery continues from the cut.
    await files.write([wal.accept_record(2, 256, value(256, b"again"))], header)
    disk.close()  # one disk per directory at a time (cluster.dirlock)
    state = wal.recover(await SegmentFiles(OsDisk(str(tmp_path))).recover())
    assert state.accepted[2][1] == value(256, b"again")


async def test_a_corrupt_record_at_the_tail_is_cut_with_everything_after_it():
    disk = MemoryDisk()
    files = SegmentFiles(disk)
    await files.write([wal.accept_record(s, 256, value(256, b"p%d" % s)) for s in range(1, 6)], header)
    name = (await disk.names())[0]
    frames, _ = parse_frames(bytes(disk.files[name]))
    offset = frames[3][0]  # the header is frame 0; damage slot 3's record
    disk.files[name][offset + 12] ^= 0x55
    recovered = SegmentFiles(disk)
    state = wal.recover(await recovered.recover())
    assert sorted(state.accepted) == [1, 2], "slots 3.. follow the damage and are not applied"
    assert len(disk.files[name]) == offset


async def test_damage_before_a_later_segment_is_refused():
    disk = MemoryDisk()
    files = SegmentFiles(disk, segment_bytes_max=64)
    for s in range(1, 5):
        await files.write([wal.accept_record(s, 256, value(256, b"x" * 40))], header)
    names = await disk.names()
    assert len(names) > 1
    disk.files[names[0]][-3] ^= 0xFF
    with pytest.raises(CorruptJournal):
        await SegmentFiles(disk).recover()


async def test_rotation_restates_durable_state_so_old_segments_can_go():
    disk = MemoryDisk()
    files = SegmentFiles(disk, segment_bytes_max=200)
    promised = 0
    for s in range(1, 30):
        promised = 256 * s
        summary = [wal.promise_record(promised), wal.leader_record(promised, s - 1), wal.base_record(s, s, EPOCH)]
        await files.write([wal.promise_record(promised), wal.accept_record(s, promised, value(promised, b"v"))],
                          lambda summary=summary: summary)  # fmt: skip
    sequences = files.segments
    assert len(sequences) > 3
    for sequence in sequences[:-1]:
        await files.remove(sequence)
    state = wal.recover(await SegmentFiles(disk).recover())
    assert state.promised == promised, "the newest segment's header restates the promise"
    assert state.leaders, "and the leaders followed"


def test_recover_builds_the_chosen_prefix_and_what_lies_beyond():
    from journal.segments import Location

    b1, b2 = 256, 513
    records = [
        wal.promise_record(b1),
        wal.accept_record(1, b1, value(b1, b"a")),
        wal.accept_record(2, b1, value(b1, b"b")),
        wal.accept_record(2, b2, value(b1, b"b")),  # re-proposed at a higher ballot
        wal.chosen_record(2),
        wal.accept_record(3, b2, value(b2, b"c")),
        wal.learned_record(5, value(b2, b"e")),
        wal.chosen_record(6),  # a mark past a gap (slot 4 missing here) stops at the gap
        wal.leader_record(b2, 2),
    ]
    state = wal.recover([(Location(1, i, 0), body) for i, body in enumerate(records)])
    assert [s for s, _, _ in state.chosen] == [1, 2, 3]
    assert state.promised == b2
    assert state.accepted == {}
    assert state.learned == {5: value(b2, b"e")}
    assert state.leaders == {b2: 2}


async def test_sim_disk_loses_unsynced_bytes_and_unsynced_files():
    disk = SimDisk(random.Random(1), DiskFaults(torn_garble=0.0))
    await disk.append("a", b"synced", sync=True)
    await disk.append("a", b"-unsynced", sync=False)
    await disk.append("b", b"never synced", sync=False)
    disk.crash()
    assert bytes(disk.files["a"]).startswith(b"synced")
    assert len(disk.files["a"]) <= len(b"synced-unsynced")
    assert "b" not in disk.files


async def test_sim_disk_torn_tails_are_cut_by_recovery():
    for seed in range(30):
        disk = SimDisk(random.Random(seed), DiskFaults(torn_garble=1.0))
        files = SegmentFiles(disk)
        await files.write([wal.accept_record(1, 256, value(256, b"durable"))], header)
        name = (await disk.names())[0]
        tail = encode_frame(wal.accept_record(2, 256, value(256, b"volatile" * 10)))
        await disk.append(name, tail, sync=False)
        disk.crash()
        state = wal.recover(await SegmentFiles(disk).recover())
        assert 1 in state.accepted
        if 2 in state.accepted:
            assert state.accepted[2][1] == value(256, b"volatile" * 10), "a torn frame is never applied"
