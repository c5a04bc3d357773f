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
