"""The journal's errors, as they cross the transport.

Each says exactly what the caller may conclude about its append, because an
adjudicator must never acknowledge a commit that was not chosen, nor forget
one that may have been:

  NotLeader         this replica does not sequence appends (or lacks the
                    lease a close needs); nothing was appended. Try `leader`.
  AppendRefused     the append was refused before it was sequenced (the queue
                    is full, or τ would exceed the caller's tau_max); nothing
                    was appended.
  AppendVoid        the append was sequenced but is certainly not in the log
                    (its slot was chosen with another value).
  AppendUncertain   it may or may not be in the log; if it is, its τ is at
                    most `tau_bound`.
  PositionCompacted a read asked for records compacted away.

They derive from `Unreachable`, so a part that only knows "the service is
unavailable" (the QP) maps every one of them to that, while the adjudicator
tells them apart.
"""

from __future__ import annotations

from cluster import wire_ids
from cluster.transport import Unreachable, wire_error
from journal.interface import APPENDED, NOT_LEADER, REFUSED, UNAVAILABLE, UNCERTAIN, VOID


@wire_error(wire_ids.JOURNAL_UNAVAILABLE)
class JournalUnavailable(Unreachable):
    """No replica could take the request; nothing was appended."""


@wire_error(wire_ids.JOURNAL_NOT_LEADER)
class NotLeader(JournalUnavailable):
    def __init__(self, leader: int = -1, detail: str = "") -> None:
        super().__init__(leader, detail)
        self.leader = leader
        self.detail = detail


@wire_error(wire_ids.JOURNAL_APPEND_REFUSED)
class AppendRefused(JournalUnavailable):
    pass


@wire_error(wire_ids.JOURNAL_APPEND_VOID)
class AppendVoid(JournalUnavailable):
    pass


@wire_error(wire_ids.JOURNAL_APPEND_UNCERTAIN)
class AppendUncertain(JournalUnavailable):
    def __init__(self, tau_bound: int, detail: str = "") -> None:
        super().__init__(tau_bound, detail)
        self.tau_bound = tau_bound
        self.detail = detail


@wire_error(wire_ids.JOURNAL_POSITION_COMPACTED)
class PositionCompacted(Exception):
    def __init__(self, first_position: int) -> None:
        super().__init__(first_position)
        self.first_position = first_position


def batch_result(result: tuple[int, int] | None, error: Exception | None, tau_max: int) -> tuple[int, int, int, str]:
    """One append's answer as an `AppendedBatch` result: (outcome, a, b, detail)."""
    if error is None:
        assert result is not None
        return (APPENDED, result[0], result[1], "")
    detail = getattr(error, "detail", None) or str(error)
    if isinstance(error, NotLeader):
        return (NOT_LEADER, error.leader, 0, detail)
    if isinstance(error, AppendUncertain):
        return (UNCERTAIN, 0, error.tau_bound or tau_max, detail)
    if isinstance(error, AppendRefused):
        return (REFUSED, 0, 0, detail)
    if isinstance(error, AppendVoid):
        return (VOID, 0, 0, detail)
    if isinstance(error, JournalUnavailable):
        return (UNAVAILABLE, 0, 0, detail)
    # Nothing else is given to an append's waiter; were it, nothing proves it was not appended.
    return (UNCERTAIN, 0, tau_max, f"{type(error).__name__}: {detail}")


def batch_outcome(result: tuple[int, int, int, str], tau_max: int) -> tuple[int, int] | JournalUnavailable:
    """What an `AppendedBatch` result says: (position, τ), or the error a lone append would have raised."""
    outcome, a, b, detail = result
    if outcome == APPENDED:
        return (a, b)
    if outcome == NOT_LEADER:
        return NotLeader(a, detail)
    if outcome == REFUSED:
        return AppendRefused(detail)
    if outcome == VOID:
        return AppendVoid(detail)
    if outcome == UNAVAILABLE:
        return JournalUnavailable(detail)
    # UNCERTAIN, or a code this process does not know: it may be in the log.
    return AppendUncertain(b or tau_max, detail)
