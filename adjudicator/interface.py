"""What crosses the adjudicator's seam: its RPC methods, their replies and errors.

Every other part reaches an adjudicator through `AdjudicatorClient`
(adjudicator/client.py) or, for adjudicators among themselves, through the
methods below; nothing else of `adjudicator.role` is anyone's business.

  commit(tau_start, payload, write_keys, check_keys, share_keys) -> τ_commit
      on the coordinator (the owner of the first written key); raises
      CommitConflict, TransactionTooOld, AdjudicatorStarting, or a journal
      error (journal.errors: JournalUnavailable, nothing was appended;
      AppendUncertain, it may have been).
  prepare(txn_id, tau_start, tau_max, write_keys, check_keys, share_keys)
      coordinator -> participant: check and hold the participant's keys.
      `tau_max` bounds the τ the journal may give this transaction's append
      (it refuses any higher), which is what lets a hold expire safely.
  decide(txn_id, tau_commit)
      coordinator -> participant: τ_commit, or 0 if nothing was appended.
  outcome(txn_id) -> Outcome
      participant -> coordinator, when a hold's lease runs out without a
      decide: what the coordinator knows of the transaction.
  status() -> dict
      counters, for tests and `dsql cluster status`.

In a cluster whose ranges are leased (adjudicator/ownership.py), commit and
prepare may also raise NotOwner (this process does not own the range: go to
`owner`) or LeaseExpiring (its lease leaves no room for the commit's τ);
neither did anything, and `AdjudicatorClient` retries both.

Replies are tuples on the wire; `Outcome` is a NamedTuple so that it travels
as one and reads by name on both sides.
"""

from __future__ import annotations

import enum
from typing import NamedTuple, Protocol

from cluster import wire_ids
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


class AdjudicatorService(Protocol):
    """The RPC methods an adjudicator serves (`rpc_<name>` on the transport)."""

    async def rpc_commit(self, tau_start: int, payload: bytes, write_keys: tuple[bytes, ...],
                         check_keys: tuple[bytes, ...], share_keys: tuple[bytes, ...] = ()) -> int: ...

    async def rpc_prepare(self, txn_id: int, tau_start: int, tau_max: int, write_keys: tuple[bytes, ...],
                          check_keys: tuple[bytes, ...], share_keys: tuple[bytes, ...] = ()) -> None: ...

    async def rpc_decide(self, txn_id: int, tau_commit: int) -> None: ...

    async def rpc_outcome(self, txn_id: int) -> Outcome: ...

    async def rpc_status(self) -> dict: ...


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
