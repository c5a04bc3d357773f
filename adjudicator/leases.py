"""Prepare holds that expire, and what a coordinator remembers so they can.

A participant (an adjudicator asked to `prepare` its keys for a transaction
another adjudicator coordinates) holds them until it hears `decide`. If the
coordinator dies, or the decide is lost, the hold must still end, and end
safely. The rule:

  The coordinator fixes `tau_max` before it asks anyone to prepare and sends
  it in `prepare`; the journal refuses to give the append a τ above it
  (journal/paxos.py: AppendRefused past tau_max), and refusal, like the
  bound itself, is decided when the append is sequenced, so a record of the
  transaction, if one is ever chosen, carries τ_commit ≤ tau_max. Each hold
  has a lease. When it runs out without a decide, the participant asks the
  coordinator (`outcome`): an exact answer (committed at τ, or certainly
  aborted) is applied as a decide would be; "still in flight" renews the
  lease a bounded number of times; anything else (no answer, a coordinator
  that restarted and does not know the id, too many renewals) records the
  keys as committed at tau_max and releases them.

Why recording a commit at tau_max is safe whatever happened: if nothing was
appended, it only makes some transactions lose that could have won (first
committer wins is a rule about which may commit, and refusing more is always
allowed). If the append is chosen, at τ ≤ tau_max, the keys' last commit is
recorded as tau_max ≥ τ, so every transaction with τ_start < τ that writes,
checks or shares them — every one that overlapped it and did not see it —
finds a commit after its τ_start and loses, exactly as if the decide had
arrived. A transaction with τ_start ≥ tau_max ≥ τ sees the commit in its
snapshot (storage answers as of τ_start only once every record at or below
it is applied), so it may commit. A decide that arrives after the lease
ended finds no hold and changes nothing; the recorded tau_max is at least as
strict as any τ it could carry.

The lease length therefore matters only for how soon keys are released, never
for correctness: it is a little longer than the longest a live coordinator
takes between prepare and decide (a participant's wait for in-flight
readers, the journal client's append timeout), so that a live coordinator is
normally heard from first, and asked only when a decide is lost.

The coordinator's side (`Outcomes`): ids of its cross-range transactions in
flight, and the decisions it could not deliver to every participant (a failed
decide, or a prepare whose reply was lost, so the participant may hold keys
it was never told about), kept for a while (`retention_s`) so a participant
asking after its lease gets the exact τ. A decision delivered to everyone is
forgotten at once: nobody will ask.

Pure bookkeeping: no trio, no I/O; times are the caller's monotonic seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from adjudicator.interface import Outcome, OutcomeState, txn_coordinator


@dataclass(slots=True)
class Lease:
    coordinator: int
    tau_max: int
    deadline: float  # monotonic seconds
    renewals: int = 0


class Leases:
    """A participant's holds for other coordinators, by transaction id."""

    def __init__(self, lease_s: float, renewals_max: int) -> None:
        assert lease_s > 0 and renewals_max >= 0
        self.lease_s = lease_s
        self.renewals_max = renewals_max
        self._leases: dict[int, Lease] = {}

    def __len__(self) -> int:
        return len(self._leases)

    def __iter__(self) -> Iterator[int]:
        return iter(self._leases)

    def get(self, txn_id: int) -> Lease | None:
        return self._leases.get(txn_id)

    def grant(self, txn_id: int, tau_max: int, now: float) -> None:
        assert txn_id not in self._leases, txn_id
        self._leases[txn_id] = Lease(txn_coordinator(txn_id), tau_max, now + self.lease_s)

    def drop(self, txn_id: int) -> Lease | None:
        return self._leases.pop(txn_id, None)

    def expired(self, now: float) -> dict[int, list[int]]:
        """Transactions whose lease has run out, grouped by coordinator (one question each)."""
        out: dict[int, list[int]] = {}
        for txn_id, lease in self._leases.items():
            if lease.deadline <= now:
                out.setdefault(lease.coordinator, []).append(txn_id)
        return out

    def renew(self, txn_id: int, now: float) -> bool:
        """Another lease for a transaction its coordinator says is in flight; False once
        it has had `renewals_max` (the caller then releases the keys at tau_max)."""
        lease = self._leases[txn_id]
        if lease.renewals >= self.renewals_max:
            return False
        lease.renewals += 1
        lease.deadline = now + self.lease_s
        return True


class Outcomes:
    """A coordinator's answers to `outcome`: in flight, or decided but perhaps unheard."""

    def __init__(self, retention_s: float) -> None:
        self.retention_s = retention_s
        self._in_flight: set[int] = set()
        self._decided: dict[int, int] = {}  # txn id -> τ it is held at (0: aborted)
        self._expiry: deque[tuple[float, int]] = deque()  # (forget after, txn id), in order

    def begin(self, txn_id: int) -> None:
        self._in_flight.add(txn_id)

    def decide(self, txn_id: int, tau: int) -> None:
        """The decision is made; it stays known until `delivered` or `keep`."""
        self._decided[txn_id] = tau
        self._in_flight.discard(txn_id)

    def delivered(self, txn_id: int) -> None:
        """Every participant heard the decision: nobody will ask."""
        self._decided.pop(txn_id, None)

    def keep(self, txn_id: int, now: float) -> None:
        """Some participant may not have heard: answer for it for `retention_s`."""
        self._expiry.append((now + self.retention_s, txn_id))
        self._forget(now)

    def outcome(self, txn_id: int, now: float) -> Outcome:
        self._forget(now)
        if txn_id in self._in_flight:
            return Outcome(OutcomeState.PENDING)
        tau = self._decided.get(txn_id)
        if tau is None:
            return Outcome(OutcomeState.UNKNOWN)
        return Outcome(OutcomeState.COMMITTED, tau) if tau else Outcome(OutcomeState.ABORTED)

    def __len__(self) -> int:
        return len(self._in_flight) + len(self._decided)

    def _forget(self, now: float) -> None:
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            _, txn_id = expiry.popleft()
            self._decided.pop(txn_id, None)
