"""What crosses the seam into a journal: its requests and replies, and the
commit record it carries, defined once.

The requests other parts make of a journal replica (journal/client.py is the
caller; the replicas' Paxos messages among themselves are their own):

    Append        a record, to be given a τ in [tau_min, tau_max]   -> Appended
    AppendBatch   several records, each as its own Append, in one    -> AppendedBatch
                  request (an adjudicator's commits that arrived together)
    Close         promise no later record at or below τ             -> Closed
    Read          a subscriber's poll of the chosen log             -> Records
    Checkpointed  a subscriber has everything up to a position      -> None
    status()      the replica's role, ballot and log                -> JournalStatus

Their errors are in journal/errors.py. A typed reply costs one more copy of
its body (a message travels as an extension whose body is packed first): for
the largest read reply, 2,000 records of 2 kB (4 MB), encoding takes about
9 ms instead of 4 and decoding the same 4 ms; against the work of applying
4 MB of rows that is a few per cent, and small replies do not notice.

The journal itself treats a record's payload as opaque bytes (it orders and
replicates them; journal/replica.py). What those bytes mean is agreed between
the writers of commits (the QP and the DynamoDB front end, through an
adjudicator) and the readers (storage nodes applying the log), and this is
the one place that says it.

The encoding is a msgpack map, `{"w": writes, "cv": catalog_version}` plus
`"rd": dropped_ranges` when there are any, because records of that shape are
already in journals on disk: a data directory written before this module
replays unchanged. A record may instead carry `"lz"`, an adjudicator range's
lease claim or renewal (storage/lease_record.py), which storage applies
as a compare-and-set on the range's lease key, or `"pl"`, a new placement of
shard replicas on storage nodes (storage/placement.py).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import msgspec

from cluster import codec, wire_ids
from cluster.codec import message

# Every wait for an append to be chosen (the replica's, the journal client's, an
# adjudicator's, a query processor's for its commit) is a fixed bound for a lost
# majority or a hung peer plus this much per byte of payload: the followers copy and
# sync what they accept, and a 100,000-row transaction (11 MB) could run past a bound
# sized for commits of a few kilobytes on a loaded disk while nothing was wrong.
APPEND_BYTES_PER_S = 1 << 20


def size_allowance_s(payload_bytes: int) -> float:
    """The extra time an append of `payload_bytes` is given to be chosen (see above)."""
    return payload_bytes / APPEND_BYTES_PER_S


@message(wire_ids.JOURNAL_APPEND)
class Append(msgspec.Struct, frozen=True):
    """Append `payload`; the leader gives it a τ above `tau_min` (and every
    earlier record) and, if `tau_max` is not 0, refuses to give it one above."""

    payload: bytes
    tau_min: int
    tau_max: int = 0


@message(wire_ids.JOURNAL_APPENDED)
class Appended(msgspec.Struct, frozen=True):
    """The record is chosen (on a majority's disks) at this position and τ."""

    position: int
    tau: int


@message(wire_ids.JOURNAL_APPEND_BATCH)
class AppendBatch(msgspec.Struct, frozen=True):
    """Several appends in one request: (payload, tau_min, tau_max) each, exactly
    as if each were its own `Append` (its own record, position and τ, its own
    tau_max; one can be refused while the others are chosen), queued in this
    order, so that their τ rise in it. Answered once every one is settled."""

    appends: Sequence[tuple[bytes, int, int]]


# What became of one append of a batch: AppendedBatch.results holds
# (outcome, a, b, detail) per append, in order:
APPENDED = 0  # chosen at position a, τ b
REFUSED = 1  # AppendRefused: certainly not in the log
VOID = 2  # AppendVoid: certainly not in the log
UNCERTAIN = 3  # AppendUncertain: may be in the log, at a τ at most b
UNAVAILABLE = 4  # JournalUnavailable (not sequenced in time): certainly not in the log
NOT_LEADER = 5  # NotLeader: this replica does not sequence appends; a is the leader it knows (or -1)


@message(wire_ids.JOURNAL_APPENDED_BATCH)
class AppendedBatch(msgspec.Struct, frozen=True):
    """One (outcome, a, b, detail) per append of an `AppendBatch`, in its order
    (outcome codes above; `journal.errors.batch_outcome` reads one)."""

    results: Sequence[tuple[int, int, int, str]]


@message(wire_ids.JOURNAL_CLOSE)
class Close(msgspec.Struct, frozen=True):
    tau: int


@message(wire_ids.JOURNAL_CLOSED)
class Closed(msgspec.Struct, frozen=True):
    """No record after `position` will have a τ at or below `tau`."""

    tau: int
    position: int


@message(wire_ids.JOURNAL_READ)
class Read(msgspec.Struct, frozen=True):
    """Up to `max_records` chosen records from `from_position`, waiting up to
    `wait_s` for one if there are none yet (a long poll)."""

    subscriber: str
    from_position: int
    max_records: int
    wait_s: float


@message(wire_ids.JOURNAL_RECORDS)
class Records(msgspec.Struct, frozen=True):
    """(position, τ, payload) in order; `tail` is the last position this reply
    covers, and `closed` (when not 0) the closed timestamp up to the log's end."""

    records: Sequence[tuple[int, int, bytes]]
    closed: int
    tail: int


@message(wire_ids.JOURNAL_CHECKPOINTED)
class Checkpointed(msgspec.Struct, frozen=True):
    """`subscriber` keeps everything up to `position` elsewhere: older records may go."""

    subscriber: str
    position: int


@message(wire_ids.JOURNAL_STATUS)
class JournalStatus(msgspec.Struct, frozen=True):
    """A replica's view of its journal, for `dsql cluster status` and
    sys.cluster_nodes. `role` is "follower", "candidate" or "leader", with
    `ballot` the one it leads or last promised and `leader` the replica it
    believes leads (-1: none); a replica still reading its files answers
    "recovering" and None for the rest."""

    name: str
    journal_id: int
    index: int
    role: str
    ballot: int | None = None
    leader: int | None = None
    chosen_upto: int | None = None
    end_position: int | None = None
    closed_tau: int | None = None
    voids: int | None = None
    fsyncs: int | None = None
    records_written: int | None = None
    segments: int | None = None


class CommitRecord(msgspec.Struct, frozen=True):
    """One committed transaction.

    `writes`: its post-images, (key, value) with value None for a delete.
    `catalog_version`: the catalog version it installs (DDL), else None.
    `dropped_ranges`: key ranges [start, end) it abandons (a dropped table's or
    index's), for storage to reclaim once no snapshot can read them."""

    writes: list[tuple[bytes, Any]] | tuple[tuple[bytes, Any], ...]
    catalog_version: int | None = None
    dropped_ranges: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...] = ()
    # An adjudicator range's lease record (storage.lease_record.LeaseClaim's
    # fields) instead of a transaction; None for every commit.
    lease: list[int] | tuple[int, ...] | None = None
    # A new shard placement (a storage.interface.Placement, encoded), which
    # every storage node applies whether or not it holds the key it is
    # written under; None for every other commit.
    placement: bytes | None = None
    # Writes whose key holds the commit's own timestamp, which nobody knows
    # until the adjudicators have chosen it (FoundationDB's versionstamped
    # keys): (prefix, suffix, value) is written by storage under
    # `stamped_key(prefix, τ_commit, suffix)`. DynamoDB Streams records use
    # them, so that their key order is the commit order.
    stamped: list[tuple[bytes, bytes, Any]] | tuple[tuple[bytes, bytes, Any], ...] = ()

    def encode(self) -> bytes:
        record: dict[str, Any] = {"w": self.writes, "cv": self.catalog_version}
        if self.dropped_ranges:
            record["rd"] = list(self.dropped_ranges)
        if self.lease is not None:
            record["lz"] = list(self.lease)
        if self.placement is not None:
            record["pl"] = self.placement
        if self.stamped:
            record["st"] = list(self.stamped)
        return codec.encode(record)

    @classmethod
    def decode(cls, payload: bytes) -> CommitRecord:
        record = codec.decode(payload)
        return cls(
            record["w"], record.get("cv"), record.get("rd", ()), record.get("lz"), record.get("pl"), record.get("st", ())
        )


def encode_commit(
    writes: list[tuple[bytes, Any]],
    encoded: dict[bytes, bytes],
    catalog_version: int | None = None,
    dropped_ranges: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...] = (),
) -> bytes:
    """`CommitRecord(writes, catalog_version, dropped_ranges).encode()`, the same bytes, with
    the values `encoded` holds by key (their `codec.encode`, made once already, when the
    query processor measured the row) spliced in instead of encoded again.

    msgpack is context-free: a value encodes to the same bytes alone as inside the record,
    so the record is its map header and "w", the writes' array (a pair's array header, the
    key as bin, the value), then whatever follows "w" in a record without writes."""
    if not encoded:
        return CommitRecord(writes, catalog_version, dropped_ranges).encode()
    rest = CommitRecord((), catalog_version, dropped_ranges).encode()
    assert rest[1:4] == b"\xa1w\x90", rest[:4]  # a fixmap's header, "w", an empty array
    parts = [rest[:3], _array_header(len(writes))]
    encode = codec.encode
    get = encoded.get
    for key, value in writes:
        raw = get(key)
        if raw is None:
            parts.append(encode((key, value)))
        else:
            size = len(key)
            if size < 0x100:
                parts.append(b"\x92\xc4" + size.to_bytes(1, "big") + key)
            elif size < 0x10000:
                parts.append(b"\x92\xc5" + size.to_bytes(2, "big") + key)
            else:
                parts.append(b"\x92\xc6" + size.to_bytes(4, "big") + key)
            parts.append(raw)
    parts.append(rest[4:])
    return b"".join(parts)


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 0x10000:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


class EncodedRecord(msgspec.Struct):
    """A `CommitRecord` as storage reads it: each value left in its wire
    encoding (`msgspec.Raw`), to be stored as it is. A row is encoded once,
    by the query processor, and decoded only when it is read."""

    w: list[tuple[bytes, msgspec.Raw]]
    cv: int | None = None
    rd: list[tuple[bytes, bytes]] = []
    lz: list[int] | None = None
    pl: bytes | None = None
    st: list[tuple[bytes, bytes, msgspec.Raw]] = []


_encoded_records = msgspec.msgpack.Decoder(EncodedRecord)


def decode_encoded(payload: bytes) -> EncodedRecord:
    """The record `CommitRecord.encode` wrote, its values left encoded."""
    return _encoded_records.decode(payload)


_TAU = struct.Struct(">Q")


def stamped_key(prefix: bytes, tau_commit: int, suffix: bytes) -> bytes:
    """The key a stamped write lands under: the commit's τ, big-endian, between prefix and suffix."""
    return prefix + _TAU.pack(tau_commit) + suffix
