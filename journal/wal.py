"""A replica's write-ahead records, and rebuilding its state from them.

What an acceptor must never forget, once it has answered, is what it
promised and what it accepted; everything else can be learned again from
its peers. Each of these is one msgpack record in a frame of
`journal.segments`:

  (1, ballot)                     PROMISE   promised `ballot`
  (2, slot, ballot, value)        ACCEPT    accepted `value` in `slot` at `ballot`
  (3, slot, value)                LEARNED   `value` is chosen in `slot` (from a peer)
  (4, slot)                       CHOSEN    every slot up to `slot` is chosen
  (5, slot, position, τ)          BASE      slots below `slot` are compacted away;
                                            `slot` starts at `position`, after τ
  (6, ballot, max_found)          LEADER    the leader of `ballot` finished phase 1
                                            and found nothing beyond `max_found`

The shell syncs a batch of these before it sends any reply that depends on
them. CHOSEN marks are hints (a replica that loses one learns the slot
again); they are written in order after the values they cover, so a mark
that survives a torn write always has its values before it.

`recover` replays the records in order. The value of a chosen slot is the
last value written for it: after a slot is chosen every higher ballot
carries the same value, so later frames can only repeat it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cluster import codec
from journal.messages import Value
from journal.segments import Location

PROMISE = 1
ACCEPT = 2
LEARNED = 3
CHOSEN = 4
BASE = 5
LEADER = 6


def promise_record(ballot: int) -> bytes:
    return codec.encode((PROMISE, ballot))


def accept_record(slot: int, ballot: int, value: Value) -> bytes:
    return codec.encode((ACCEPT, slot, ballot, value))


def learned_record(slot: int, value: Value) -> bytes:
    return codec.encode((LEARNED, slot, value))


def chosen_record(slot: int) -> bytes:
    return codec.encode((CHOSEN, slot))


def base_record(slot: int, position: int, tau: int) -> bytes:
    return codec.encode((BASE, slot, position, tau))


def leader_record(ballot: int, max_found: int) -> bytes:
    return codec.encode((LEADER, ballot, max_found))


def slot_of(body: bytes) -> int | None:
    """The slot a record carries a value for (ACCEPT and LEARNED), else None."""
    record = codec.decode(body)
    if record[0] in (ACCEPT, LEARNED):
        return record[1]
    return None


def value_of(body: bytes) -> tuple[int, Value]:
    """(slot, value) of an ACCEPT or LEARNED record read back from disk."""
    record = codec.decode(body)
    if record[0] == ACCEPT:
        return record[1], record[3]
    if record[0] == LEARNED:
        return record[1], record[2]
    raise ValueError(f"record kind {record[0]} holds no value")


@dataclass
class Recovered:
    """A replica's durable state, as its write-ahead records leave it."""

    promised: int = 0
    leaders: dict[int, int] = field(default_factory=dict)  # ballot -> max_found
    base_slot: int = 1
    base_position: int = 1
    base_tau: int = 0
    # The chosen prefix base_slot..chosen_upto, in order: (slot, value, where its frame is).
    chosen: list[tuple[int, Value, Location]] = field(default_factory=list)
    # Slots after the prefix: what this acceptor accepted, and values it knows are chosen.
    accepted: dict[int, tuple[int, Value]] = field(default_factory=dict)
    learned: dict[int, Value] = field(default_factory=dict)
    locations: dict[int, Location] = field(default_factory=dict)  # slot -> frame of its latest value
    segment_max_slot: dict[int, int] = field(default_factory=dict)
    records: int = 0

    @property
    def chosen_upto(self) -> int:
        return self.chosen[-1][0] if self.chosen else self.base_slot - 1

    @property
    def empty(self) -> bool:
        return self.records == 0


def recover(frames: list[tuple[Location, bytes]]) -> Recovered:
    state = Recovered()
    accepted: dict[int, tuple[int, Value]] = {}
    learned: dict[int, Value] = {}
    latest: dict[int, tuple[Value, Location]] = {}
    chosen_mark = 0
    for location, body in frames:
        state.records += 1
        record = codec.decode(body)
        kind = record[0]
        if kind == PROMISE:
            state.promised = max(state.promised, record[1])
        elif kind == ACCEPT:
            _, slot, ballot, value = record
            accepted[slot] = (ballot, value)
            latest[slot] = (value, location)
            state.promised = max(state.promised, ballot)
            _note_slot(state, location, slot)
        elif kind == LEARNED:
            _, slot, value = record
            learned[slot] = value
            latest[slot] = (value, location)
            _note_slot(state, location, slot)
        elif kind == CHOSEN:
            chosen_mark = max(chosen_mark, record[1])
        elif kind == BASE:
            _, slot, position, tau = record
            if slot > state.base_slot:
                state.base_slot, state.base_position, state.base_tau = slot, position, tau
        elif kind == LEADER:
            state.leaders[record[1]] = record[2]
        else:
            raise ValueError(f"unknown write-ahead record kind {kind}")
    # The chosen prefix: every slot from the base up to the last mark must have
    # a value here (marks follow the values they cover); stop at a gap if not.
    slot = state.base_slot
    while slot <= chosen_mark and slot in latest:
        value, location = latest[slot]
        state.chosen.append((slot, value, location))
        slot += 1
    upto = state.chosen_upto
    state.accepted = {s: a for s, a in accepted.items() if s > upto}
    state.learned = {s: v for s, v in learned.items() if s > upto}
    state.locations = {s: latest[s][1] for s in latest if s > upto}
    return state


def _note_slot(state: Recovered, location: Location, slot: int) -> None:
    previous = state.segment_max_slot.get(location.segment, 0)
    if slot > previous:
        state.segment_max_slot[location.segment] = slot
