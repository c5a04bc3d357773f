"""The journal: an ordered log of committed transactions, replicated with
Multi-Paxos on 2f+1 replicas (see `journal.paxos` for the protocol and its
arguments).

The interface every replica serves (RPC methods; `journal.client.JournalClient`
finds the leader and fails over):

  append(payload, tau_min, tau_max=0) -> (position, τ)
      Returns once the record is chosen by a majority. The leader gives
      τ = max(tau_min, clock.latest, last τ + 1), so τ rises with position,
      and refuses (nothing appended) if τ would exceed tau_max (0: no bound).
  append_batch(((payload, tau_min, tau_max), ...)) -> one result each
      Several appends in one request, each exactly as `append` (its own
      record, position, τ and answer; queued in order): an adjudicator's
      commits that arrived together (adjudicator/batching.py).
  close(tau) -> (closed_tau, position)
      A promise that no record at or below closed_tau will follow position.
      Needs the leader's lease.
  read(subscriber, from_position, max_records, wait_s) -> (records, closed_tau, tail)
      Long poll of the chosen log from any replica; records are
      (position, τ, payload). closed_tau (0 if none) speaks only for a
      subscriber this reply brings up to the end of the log.
  checkpointed(subscriber, position)
      Once every configured subscriber is past a position, replicas compact.
  status() -> dict

Errors (`journal.errors`) say exactly what the caller may conclude about an
append: NotLeader / AppendRefused / AppendVoid / JournalUnavailable (not
appended) or AppendUncertain (maybe, with a bound on its τ).

Modules: `messages` (what replicas say, what a slot holds), `paxos` (the
sans-I/O core: acceptor and learner, and the arguments), `proposer` (its
candidate and leader half), `core_io` (its configuration, inputs and
outputs), `wal` and `segments` (write-ahead records and files), `log`
(the chosen log by position), `replica` (the trio shell), `client`,
`replica_main` (one replica as a process over TCP), `sim` (fault schedules in
the simulator).
"""

from journal.client import JournalClient
from journal.errors import (
    AppendRefused,
    AppendUncertain,
    AppendVoid,
    JournalUnavailable,
    NotLeader,
    PositionCompacted,
)
from journal.paxos import Bug, PaxosConfig
from journal.replica import JournalReplica, ReplicaConfig

__all__ = [
    "AppendRefused",
    "AppendUncertain",
    "AppendVoid",
    "Bug",
    "JournalClient",
    "JournalReplica",
    "JournalUnavailable",
    "NotLeader",
    "PaxosConfig",
    "PositionCompacted",
    "ReplicaConfig",
]
