"""What journal replicas say to each other, and what a slot holds.

A slot's value is a batch of records proposed together:
    (origin_ballot, ((τ, payload), ...))
`origin_ballot` is the ballot of the leader that made the batch (a leader
never makes two batches for one slot, and a value re-proposed by a later
leader keeps its origin), and a batch with no records is a no-op, which is
how a new leader fills holes.

Ballots are ints, `round << 8 | replica`, so they are totally ordered and
each names the replica that owns it. Ballot 0 is "none".

Messages are small frozen dataclasses; on the wire each is a tuple whose
first element is its kind, which keeps the msgpack small and the decoding
a table lookup.

  Prepare(b, from_slot)          phase 1a: promise b; tell me what you accepted
                                 in slots >= from_slot (and not known chosen)
  Promise(b, chosen_upto, entries, leaders, next_slot)
                                 phase 1b, in chunks: next_slot != 0 means
                                 "ask again from next_slot for the rest"
  Nack(promised, leader)         refused: I promised a higher ballot, or I am
                                 bound by a lease; `leader` is a hint (-1: none)
  Accept(b, max_found, stamp, chosen_upto, slots, closed_tau, closed_position)
                                 phase 2a for any number of slots (none: a
                                 heartbeat / commit notice), and the leader's
                                 chosen prefix and closed timestamp; stamp != 0
                                 asks for an acknowledgement that renews the lease
  Accepted(b, stamp, slots)      phase 2b
  LearnRequest(from_slot)        a lagging replica asks for chosen values
  Learn(base, slots, chosen_upto)
                                 chosen values (and, if the asker is behind the
                                 sender's compaction point, the base to jump to)
  PreVote(b)                     would you promise b if I campaigned now? Asked
                                 before raising a ballot; changes nothing
  PreVoteReply(b, granted, promised, leader)
                                 the answer to PreVote(b), with the replier's
                                 promised ballot (a campaign goes above it) and
                                 leader hint
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Records = tuple[tuple[int, bytes], ...]
Value = tuple[int, Records]  # (origin ballot, records); no records: a no-op

BALLOT_REPLICA_BITS = 8
REPLICAS_MAX = 1 << BALLOT_REPLICA_BITS


def make_ballot(round_: int, replica: int) -> int:
    assert 0 <= replica < REPLICAS_MAX
    return (round_ << BALLOT_REPLICA_BITS) | replica


def ballot_owner(ballot: int) -> int:
    return ballot & (REPLICAS_MAX - 1)


def ballot_round(ballot: int) -> int:
    return ballot >> BALLOT_REPLICA_BITS


def noop(ballot: int) -> Value:
    return (ballot, ())


def value_bytes(value: Value) -> int:
    """A cheap size estimate, for batching and message budgets."""
    return 16 + sum(len(p) + 12 for _, p in value[1])


@dataclass(frozen=True, slots=True)
class Prepare:
    ballot: int
    from_slot: int
    KIND = 1

    def wire(self) -> tuple:
        return (1, self.ballot, self.from_slot)


@dataclass(frozen=True, slots=True)
class Promise:
    ballot: int
    chosen_upto: int
    entries: tuple[tuple[int, int, Value], ...]  # (slot, accepted ballot, value), ascending slots
    leaders: tuple[tuple[int, int], ...]  # (ballot, max_found) of leaders this acceptor followed
    next_slot: int  # 0: this is the last chunk
    KIND = 2

    def wire(self) -> tuple:
        return (2, self.ballot, self.chosen_upto, self.entries, self.leaders, self.next_slot)


@dataclass(frozen=True, slots=True)
class Nack:
    promised: int
    leader: int
    KIND = 3

    def wire(self) -> tuple:
        return (3, self.promised, self.leader)


@dataclass(frozen=True, slots=True)
class Accept:
    ballot: int
    max_found: int
    stamp: int
    chosen_upto: int
    slots: tuple[tuple[int, Value], ...]
    closed_tau: int
    closed_position: int
    KIND = 4

    def wire(self) -> tuple:
        return (
            4, self.ballot, self.max_found, self.stamp, self.chosen_upto, self.slots,
            self.closed_tau, self.closed_position,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Accepted:
    ballot: int
    stamp: int
    slots: tuple[int, ...]
    KIND = 5

    def wire(self) -> tuple:
        return (5, self.ballot, self.stamp, self.slots)


@dataclass(frozen=True, slots=True)
class LearnRequest:
    from_slot: int
    KIND = 6

    def wire(self) -> tuple:
        return (6, self.from_slot)


@dataclass(frozen=True, slots=True)
class Learn:
    base: tuple[int, int, int] | None  # (slot, position, τ before it) of the sender's compaction point
    slots: tuple[tuple[int, Value], ...]
    chosen_upto: int
    KIND = 7

    def wire(self) -> tuple:
        return (7, self.base, self.slots, self.chosen_upto)


@dataclass(frozen=True, slots=True)
class PreVote:
    ballot: int  # the ballot the asker would campaign with; names the round of asking
    KIND = 8

    def wire(self) -> tuple:
        return (8, self.ballot)


@dataclass(frozen=True, slots=True)
class PreVoteReply:
    ballot: int  # the PreVote's
    granted: bool
    promised: int
    leader: int
    KIND = 9

    def wire(self) -> tuple:
        return (9, self.ballot, self.granted, self.promised, self.leader)


Message = Prepare | Promise | Nack | Accept | Accepted | LearnRequest | Learn | PreVote | PreVoteReply

_CLASSES: dict[int, Any] = {
    1: Prepare, 2: Promise, 3: Nack, 4: Accept, 5: Accepted, 6: LearnRequest, 7: Learn, 8: PreVote,
    9: PreVoteReply,
}  # fmt: skip


def from_wire(item: tuple) -> Message:
    cls = _CLASSES.get(item[0])
    if cls is None:
        raise ValueError(f"unknown journal message kind {item[0]!r}")
    return cls(*item[1:])


def describe(message: Message) -> str:
    """A short line for traces (no payload bytes)."""
    if isinstance(message, Accept):
        slots = [s for s, _ in message.slots]
        span = f"{slots[0]}..{slots[-1]}" if slots else "-"
        return f"Accept(b={message.ballot} slots={span} chosen={message.chosen_upto} stamp={message.stamp})"
    if isinstance(message, Promise):
        return (
            f"Promise(b={message.ballot} chosen={message.chosen_upto} entries={len(message.entries)} "
            f"next={message.next_slot})"
        )
    if isinstance(message, Learn):
        slots = [s for s, _ in message.slots]
        span = f"{slots[0]}..{slots[-1]}" if slots else "-"
        return f"Learn(base={message.base} slots={span} chosen={message.chosen_upto})"
    if isinstance(message, Accepted):
        return f"Accepted(b={message.ballot} slots={list(message.slots)} stamp={message.stamp})"
    return repr(message)


def effective_records(
    value: Value, first_position: int, last_tau: int
) -> tuple[list[tuple[int, int, bytes]], list[int | None], int]:
    """The records of a chosen slot that take positions, and where.

    A chosen record whose τ is not above the τ of the record before it is
    void: it takes no position and is never applied or acknowledged. Leaders
    never make such records, but a value re-proposed by a later leader can
    land after records with higher τ (see `journal.paxos`), and this rule,
    applied identically by every replica to the same chosen log, keeps τ
    rising with position without trusting that argument.

    Returns ([(position, τ, payload)], position or None per record, last τ).
    """
    out: list[tuple[int, int, bytes]] = []
    where: list[int | None] = []
    position = first_position
    for tau, payload in value[1]:
        if tau > last_tau:
            out.append((position, tau, payload))
            where.append(position)
            position += 1
            last_tau = tau
        else:
            where.append(None)
    return out, where, last_tau
