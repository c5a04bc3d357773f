"""The range-ownership lease as a journal record, and the rule storage applies it by.

Who owns an adjudicator range is decided in the journal's log, next to the
commit records, so that every storage replica, applying the same log in the
same τ order, reaches the same answer (adjudicator/ownership.py argues why
that is enough). A lease record asks to set the lease of one range:

    (range, epoch, owner process, expiry τ, expected epoch)

and storage applies it as a compare-and-set on the range's system key
(`lease_key`), whose value is a `LeaseState`:

  - a *renewal* (epoch == expected == the stored epoch, same owner) extends
    the expiry (never shortens it);
  - a *claim* (epoch == expected + 1, expected == the stored epoch) installs
    a new owner, but only if the record's τ is past the stored expiry (the
    old lease has run out in the log's own time), or if the claimant is the
    stored owner itself (a restarted process: its dead incarnation cannot
    append any more, and the floor covers what it did through `fence`);
  - anything else changes nothing.

`fence` is the highest expiry of every earlier epoch: no record of an earlier
owner's commits can carry a τ above it, so a new owner's conflict floor is
max(τ of its claim, fence).

Pure data and rules: no I/O, no trio. The record is a `CommitRecord` with no
writes and its `lease` set (journal/interface.py defines the record once).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from journal.interface import CommitRecord
from storage import keys

LEASE_PREFIX = keys.NS_SYSTEM + b"adj-lease/"


def lease_key(index: int) -> bytes:
    """The system key holding the lease of adjudicator range `index`."""
    return LEASE_PREFIX + index.to_bytes(2, "big")


class LeaseState(NamedTuple):
    """A range's lease as storage holds it (epoch 0: never claimed)."""

    epoch: int = 0
    owner: int = -1  # adjudicator process
    expiry: int = 0  # τ: the owner's commits all carry a τ at or below it
    fence: int = 0  # the highest expiry of every earlier epoch

    @classmethod
    def from_value(cls, value: Any) -> LeaseState:
        return cls() if value is None else cls(*value)


class LeaseClaim(NamedTuple):
    """What a lease record asks for."""

    index: int
    epoch: int
    owner: int
    expiry: int
    expected: int  # the epoch it must find stored


def encode_lease_payload(claim: LeaseClaim) -> bytes:
    """The journal record of a lease claim or renewal."""
    return CommitRecord((), lease=tuple(claim)).encode()


def next_lease_state(stored: LeaseState, tau: int, claim: LeaseClaim) -> LeaseState | None:
    """The lease after applying `claim` at τ over `stored`, or None if it fails."""
    if stored.epoch != claim.expected:
        return None
    if claim.epoch == stored.epoch:
        if stored.owner != claim.owner or claim.epoch == 0:
            return None
        return stored._replace(expiry=max(stored.expiry, claim.expiry))
    if claim.epoch != stored.epoch + 1:
        return None
    if tau <= stored.expiry and claim.owner != stored.owner:
        return None  # the current lease still runs
    return LeaseState(claim.epoch, claim.owner, claim.expiry, max(stored.fence, stored.expiry))
