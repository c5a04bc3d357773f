"""What crosses the adjudicator's seam: its requests, replies and errors.

Every other part reaches an adjudicator through `AdjudicatorClient`
(adjudicator/client.py) or, for adjudicators among themselves, through the
requests below; nothing else of `adjudicator.role` is anyone's business. An
adjudicator serves one RPC per request type (`rpc_commit(Commit) ->
Committed`, ...), each type under a stable number in `cluster.wire_ids`:

  Commit(tau_start, payload, write_keys, check_keys, share_keys) -> Committed
      on the coordinator (the owner of the first written key); raises
      CommitConflict, TransactionTooOld, AdjudicatorStarting, or a journal
      error (journal.errors: JournalUnavailable, nothing was appended;
      AppendUncertain, it may have been).
  Prepare(txn_id, tau_start, tau_max, write_keys, check_keys, share_keys) -> None
      coordinator -> participant: check and hold the participant's keys.
      `tau_max` bounds the τ the journal may give this transaction's append
      (it refuses any higher), which is what lets a hold expire safely.
  Decide(txn_id, tau_commit) -> None
      coordinator -> participant: τ_commit, or 0 if nothing was appended.
  OutcomeQuery(txn_ids) -> OutcomeReply
      participant -> coordinator, when a hold's lease runs out without a
      decide: what the coordinator knows of each transaction.
  status() -> AdjudicatorStatus (one range's adjudicator) or
      AdjudicatorProcessStatus (an adjudicator process of a leased cluster,
      adjudicator/ownership.py): counters, for `dsql cluster status` and
      the sys.cluster_nodes view.

Prepare and Decide answer nothing but their success (an error otherwise).

In a cluster whose ranges are leased (adjudicator/ownership.py), commit and
prepare may also raise NotOwner (this process does not own the range: go to
`owner`) or LeaseExpiring (its lease leaves no room for the commit's τ);
neither did anything, and `AdjudicatorClient` retries both.

A request is checked against its declared field types (`checked`) before
the adjudicator acts on it: a malformed one (a string for a τ, a key that is
not bytes, a commit that writes no key, another request type) is refused
with a ValueError naming the request and the field, which the caller gets as
`RemoteError` (a bug in the caller, not a meaningful answer), and nothing is
held, counted or appended. (The codec builds a message from its fields as
they come; without the check, a commit whose payload was a str reached the
journal, and every storage node then failed to apply it.)

Why msgspec Structs (as storage/interface.py and journal/interface.py; the
measurement there compares them with frozen dataclasses), and what typing
costs, measured on one core of the shared 2-core machine with other agents
running, best of 5: a commit request in its argument tuple and its reply,
each encoded and decoded as the transport does, costs 1.1-1.2 µs positional
(five arguments, an int back) and 4.2-4.6 µs typed (a `Commit`, a
`Committed` back) for one 13-byte key and a 200-byte payload; 1.8-2.0 µs
and 5.1-5.5 µs for 20 keys and a 950-byte payload. `checked` adds 0.7-0.8
µs. Against a commit's journal append (a majority's fsync, milliseconds)
none of it shows: the embedded update benchmark (`python -m bench --only
update_txn --seconds 10`, 8 connections, alternating runs on the loaded
machine) gave 773 / 400 / 418 ops/s before and 428 / 385 / 448 after.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Annotated, NamedTuple, Protocol, TypeVar

import msgspec

from cluster import wire_ids
from cluster.codec import message
from cluster.transport import ReplyLost, Unreachable, wire_error


@wire_error(wire_ids.ADJUDICATOR_COMMIT_CONFLICT)
class CommitConflict(Exception):
    """First committer wins: this transaction lost. `schema` is True when the
    contested key is a catalog key (DSQL's OC001 rather than OC000)."""

    def __init__(self, schema: bool, detail: str = "") -> None:
        super().__init__(schema, detail)
        self.schema = schema
        self.detail = detail


@wire_error(wire_ids.ADJUDICATOR_TRANSACTION_TOO_OLD)
class TransactionTooOld(Exception):
    def __init__(self, age_ns: int) -> None:
        super().__init__(age_ns)
        self.age_ns = age_ns


@wire_error(wire_ids.ADJUDICATOR_STARTING)
class AdjudicatorStarting(Unreachable):
    """The adjudicator has not recovered its incarnation yet; nothing was done."""


@wire_error(wire_ids.ADJUDICATOR_NOT_OWNER)
class NotOwner(Unreachable):
    """This process does not own range `index` (it was deposed, or never owned
    it); `owner` is the process it believes owns it (-1: unknown) under `epoch`.
    Nothing was done."""

    def __init__(self, index: int, owner: int = -1, epoch: int = 0) -> None:
        super().__init__(index, owner, epoch)
        self.index = index
        self.owner = owner
        self.epoch = epoch


@wire_error(wire_ids.ADJUDICATOR_LEASE_EXPIRING)
class LeaseExpiring(Unreachable):
    """The owner's lease on the range ends before a τ the commit could get (a
    renewal is late, or a participant's lease is shorter than the coordinator's
    bound). Nothing was done; a retry after the next renewal succeeds."""


class CommitTimeout(ReplyLost):
    """The client's deadline passed before the coordinator answered: the commit
    may or may not take effect (raised by `AdjudicatorClient`, never sent)."""


class OutcomeState(enum.IntEnum):
    PENDING = 0  # still being decided: ask again later
    COMMITTED = 1  # chosen at `tau`
    ABORTED = 2  # certainly not appended
    UNKNOWN = 3  # not known here (another incarnation, or forgotten): assume tau_max


class Outcome(NamedTuple):
    state: OutcomeState
    tau: int = 0


# msgspec checks these (`checked`); the constructor does not (nor does the codec).
Keys = tuple[bytes, ...]
Natural = Annotated[int, msgspec.Meta(ge=0)]


# -- requests ------------------------------------------------------------------------


@message(wire_ids.ADJUDICATOR_COMMIT)
class Commit(msgspec.Struct, frozen=True):
    """Commit a transaction whose post-images are `payload` (a journal
    `CommitRecord`, opaque here) if none of its keys conflicts.

    `write_keys` are the keys written or locked FOR UPDATE; `check_keys` must
    merely be unchanged since τ_start; `share_keys` are held KEY SHARE
    (adjudicator/conflicts.py). A commit writes, locks or shares at least one
    key (a transaction that only read FOR KEY SHARE has share keys alone)."""

    tau_start: Natural
    payload: bytes
    write_keys: Keys
    check_keys: Keys = ()
    share_keys: Keys = ()


@message(wire_ids.ADJUDICATOR_PREPARE)
class Prepare(msgspec.Struct, frozen=True):
    """Check and hold a participant's keys of coordinator transaction
    `txn_id`, whose append will carry a τ ≤ `tau_max`."""

    txn_id: Natural
    tau_start: Natural
    tau_max: Natural
    write_keys: Keys
    check_keys: Keys = ()
    share_keys: Keys = ()


@message(wire_ids.ADJUDICATOR_DECIDE)
class Decide(msgspec.Struct, frozen=True):
    """τ_commit of a prepared transaction, or 0 if it aborted."""

    txn_id: Natural
    tau_commit: Natural


@message(wire_ids.ADJUDICATOR_OUTCOME_QUERY)
class OutcomeQuery(msgspec.Struct, frozen=True):
    """What the coordinator knows of each of `txn_ids` (holds whose lease ran out)."""

    txn_ids: tuple[Natural, ...]


# -- replies -------------------------------------------------------------------------


@message(wire_ids.ADJUDICATOR_COMMITTED)
class Committed(msgspec.Struct, frozen=True):
    """The transaction is in the journal at τ `tau_commit`."""

    tau_commit: int


@message(wire_ids.ADJUDICATOR_OUTCOMES)
class OutcomeReply(msgspec.Struct, frozen=True):
    """One (state, τ) per transaction asked, in order (`outcomes()` reads them)."""

    answers: Sequence[tuple[int, int]]

    def outcomes(self) -> list[Outcome]:
        return [Outcome(OutcomeState(state), tau) for state, tau in self.answers]


@message(wire_ids.ADJUDICATOR_STATUS)
class AdjudicatorStatus(msgspec.Struct, frozen=True):
    """One range's adjudicator: its incarnation (in a leased cluster, `epoch`
    is its lease's, and `deposed` once another process took the range), its
    conflict floor, and what it has done."""

    index: int
    incarnation: int
    floor: int
    commits: int
    conflicts: int
    uncertain: int  # appends of unknown fate, their keys held at their highest τ
    keys: int  # keys in the conflict table
    held_for_others: int  # transactions prepared here for other coordinators, awaiting a decide
    leases_expired: int  # holds released at tau_max without a decide
    lease_refusals: int  # commits and prepares refused for want of lease
    epoch: int = 0
    deposed: bool = False
    # Journal append requests made for commits (each carried one or more of them: batching.py).
    append_batches: int = 0


@message(wire_ids.ADJUDICATOR_PROCESS_STATUS)
class AdjudicatorProcessStatus(msgspec.Struct, frozen=True):
    """An adjudicator process of a leased cluster: the ranges it holds a lease
    on (`ranges`: index -> (epoch, expiry, deposed)), those it owns now, and
    the commits and conflicts of those."""

    process: int
    claims: int
    takeovers: int  # ranges won from another process
    ranges: dict[int, tuple[int, int, bool]]
    owned: tuple[int, ...]
    commits: int
    conflicts: int


R = TypeVar("R", Commit, Prepare, Decide, OutcomeQuery)


def checked(request: object, cls: type[R]) -> R:
    """`request` (a checked copy) if it is a well-formed `cls`, else ValueError saying what is wrong.

    The codec builds a message from its fields by position without looking at
    them, so a caller's bug (or a foreign client) could hand the adjudicator a
    τ that is a string, or keys that are not bytes; msgspec checks every field
    against its annotation (about a microsecond for a small commit)."""
    if type(request) is not cls:
        raise ValueError(f"expected a {cls.__name__} request, got {type(request).__name__}")
    try:
        # builtin_types: bytes must be bytes (else msgspec takes a str as base64).
        copy = msgspec.convert(msgspec.structs.asdict(request), cls, builtin_types=(bytes, bytearray))  # type: ignore[arg-type]
    except msgspec.ValidationError as exc:
        raise ValueError(f"malformed {cls.__name__} request: {exc}") from None
    if isinstance(copy, Commit) and not copy.write_keys and not copy.share_keys:
        raise ValueError("malformed Commit request: no key to write, lock or share - at `$.write_keys`")
    return copy


class AdjudicatorService(Protocol):
    """The RPC methods an adjudicator serves (`rpc_<name>` on the transport)."""

    async def rpc_commit(self, request: Commit) -> Committed: ...

    async def rpc_prepare(self, request: Prepare) -> None: ...

    async def rpc_decide(self, request: Decide) -> None: ...

    async def rpc_outcome(self, request: OutcomeQuery) -> OutcomeReply: ...

    async def rpc_status(self) -> AdjudicatorStatus: ...


# A transaction id names its coordinator and the coordinator's incarnation, so
# that a participant knows whom to ask about a hold, and a restarted
# coordinator never mistakes an id of its dead incarnation for one of its own.
# It fits in 64 bits (msgpack's integers): incarnation (24 bits, wrapping) |
# counter (32 bits, wrapping: ids repeat only after 2^32 commits, far longer
# than any hold lives) | coordinator index (8 bits).
TXN_INDEX_BITS = 8
TXN_COUNTER_BITS = 32
TXN_INCARNATION_BITS = 24
ADJUDICATORS_MAX = 1 << TXN_INDEX_BITS


def make_txn_id(incarnation: int, counter: int, index: int) -> int:
    assert 0 <= index < ADJUDICATORS_MAX, index
    incarnation &= (1 << TXN_INCARNATION_BITS) - 1
    counter &= (1 << TXN_COUNTER_BITS) - 1
    return (((incarnation << TXN_COUNTER_BITS) | counter) << TXN_INDEX_BITS) | index


def txn_coordinator(txn_id: int) -> int:
    return txn_id & (ADJUDICATORS_MAX - 1)


def txn_incarnation(txn_id: int) -> int:
    return txn_id >> (TXN_INDEX_BITS + TXN_COUNTER_BITS)


def same_incarnation(txn_id: int, incarnation: int) -> bool:
    return txn_incarnation(txn_id) == incarnation & ((1 << TXN_INCARNATION_BITS) - 1)
