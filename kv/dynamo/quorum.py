"""The quorum logic of one Dynamo request, sans I/O: when a read or a write is done, and how.

A coordinator (`kv.dynamo.service`) sends a request to the key's N targets
(its sloppy preference list: healthy primaries, then fallbacks holding
hinted copies, `ring.Ring.sloppy_preference_list`), feeds every reply or
failure into one of these state machines, and stops waiting once it has an
`outcome`. Nothing here sends, sleeps or reads a clock, so the simulator,
the unit tests and the service drive exactly the same decisions.

Reads (`ReadQuorum`) follow Riak's get FSM (riak_kv_get_core), which is
the paper's R [DYN §4.5] with two refinements:

* a reply counts toward `r` when it found the key, or when it did not and
  `notfound_ok` (Riak's default) says a "not found" is an answer too;
* `pr` replies must come from primaries (nodes of the key's own preference
  list, not fallbacks), so a read can refuse to be served by stand-ins;
* `basic_quorum`: once a majority of the N replies are failures or (with
  notfound_ok false) "not found"s, answer at once instead of waiting for
  the rest (Riak's fail threshold min(N div 2 + 1, N - R + 1); its example:
  r=1 with two errors fails without waiting for the third reply).

When `r` (and `pr`) replies are in, the outcome is the syntactic
reconciliation of the copies received so far (`objects.reconcile`): the
newest, or siblings. Replies keep arriving after that; once all are in,
`repairs()` says which replicas answered with a stale or missing copy and
must be sent the reconciled object (read repair, §5). A read whose quorum
cannot be met fails with Riak's error: PR first, then "not found" when
every answer was a not found or a tombstone and none failed (a replica that
did not answer may hold the only live copy), else R.

Writes (`WriteQuorum`) follow Riak's put FSM (riak_kv_put_core). The first
target coordinates: it applies the client's write to its own copy and is
the actor that increments the vector clock (§4.4; Riak's coordinating
vnode), and its stored object is then sent to the other targets, which
merge it; when the write wants durability the coordinator syncs while they
store (`synced`), so a `dw` write waits for one sync's time, not two. If the coordinator fails, the next target not yet tried takes its
place (a write is applied at most once per target). A write is done when
`w` targets stored it, `dw` of them durably (fsynced: the node replies
with `durable`) and `pw` of them are primaries. As in Riak, `w` is raised
to `dw` when smaller (a durable reply is a reply). A write whose quorum
cannot be met fails with PW, W or DW unsatisfied, whichever is short first.

Why failures are decided early: a request must not wait out its timeout
when the replies that are left cannot make a quorum; and a quorum that is
impossible from the start (fewer targets than `w`, fewer primaries than
`pr`) fails before anything is sent, as Riak's insufficient_vnodes does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from kv.dynamo.interface import QuorumUnsatisfied
from kv.dynamo.objects import StoredObject, plan_read_repair, reconcile
from kv.dynamo.ring import Target


@dataclasses.dataclass(frozen=True)
class ReadDone:
    """A read's answer: the reconciled object, or None when nobody had the key."""

    object: StoredObject | None


@dataclasses.dataclass(frozen=True)
class WriteDone:
    """A write's answer: the object the coordinator stored (what returnbody shows)."""

    object: StoredObject


def _check_targets(targets: Sequence[Target]) -> None:
    nodes = [t.node for t in targets]
    if len(set(nodes)) != len(nodes):
        raise ValueError(f"a request's targets must be distinct nodes: {nodes}")


class ReadQuorum:
    """One read's replies, and when they answer it."""

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        r: int,
        pr: int = 0,
        notfound_ok: bool = True,
        basic_quorum: bool = False,
        allow_mult: bool = True,
        n_val: int | None = None,
    ) -> None:
        _check_targets(targets)
        self.targets = tuple(targets)
        self.n_val = len(self.targets) if n_val is None else n_val
        if not 1 <= r <= self.n_val or not 0 <= pr <= self.n_val:
            raise ValueError(f"r={r}, pr={pr} must lie within n_val={self.n_val} (r at least 1)")
        self.r, self.pr = r, pr
        self.notfound_ok, self.basic_quorum, self.allow_mult = notfound_ok, basic_quorum, allow_mult
        self._primary = {t.node: t.hint is None for t in self.targets}
        self.replies: dict[str, StoredObject | None] = {}
        self.failures: set[str] = set()
        self.ok = 0  # replies that count toward r
        self.primary_ok = 0  # of which from primaries
        self.notfound = 0  # not-found replies that do not count (notfound_ok false)
        self.outcome: ReadDone | QuorumUnsatisfied | None = None
        primaries = sum(self._primary.values())
        if primaries < pr:
            self.outcome = QuorumUnsatisfied("PR", primaries, pr)
        elif len(self.targets) < r:
            self.outcome = QuorumUnsatisfied("R", len(self.targets), r)

    @property
    def complete(self) -> bool:
        """Every target has answered or failed: nothing more will come."""
        return len(self.replies) + len(self.failures) == len(self.targets)

    def reply(self, node: str, obj: StoredObject | None) -> None:
        """`node`'s copy (None: it has none)."""
        self._check_new(node)
        self.replies[node] = obj
        if obj is not None or self.notfound_ok:
            self.ok += 1
            self.primary_ok += self._primary[node]
        else:
            self.notfound += 1
        self._decide()

    def failed(self, node: str) -> None:
        """`node` did not answer (unreachable, timed out, or refused)."""
        self._check_new(node)
        self.failures.add(node)
        self._decide()

    def _check_new(self, node: str) -> None:
        if node not in self._primary:
            raise ValueError(f"{node!r} is not a target of this read")
        if node in self.replies or node in self.failures:
            raise ValueError(f"{node!r} already answered this read")

    def _decide(self) -> None:
        if self.outcome is not None:
            return
        if self.ok >= self.r and self.primary_ok >= self.pr:
            self.outcome = ReadDone(reconcile(self.replies.values(), self.allow_mult))
            return
        answered = len(self.replies) + len(self.failures)
        left = len(self.targets) - answered
        primaries_left = sum(
            1 for node, primary in self._primary.items()
            if primary and node not in self.replies and node not in self.failures
        )  # fmt: skip
        if self.primary_ok + primaries_left < self.pr:
            self.outcome = QuorumUnsatisfied("PR", self.primary_ok, self.pr)
        elif self.ok + left < self.r:
            self.outcome = self._short()
        elif self.basic_quorum and self.notfound + len(self.failures) >= self.n_val // 2 + 1:
            self.outcome = self._short()

    def _short(self) -> ReadDone | QuorumUnsatisfied:
        """The answer of a read that cannot reach r (Riak's get core): not
        found (None, or the reconciled tombstones) when every reply was a not
        found or a tombstone and nothing failed, else R unsatisfied."""
        present = [o for o in self.replies.values() if o is not None]
        if not self.failures and (self.notfound or present) and all(o.deleted for o in present):
            return ReadDone(reconcile(present, self.allow_mult))
        return QuorumUnsatisfied("R", self.ok, self.r)

    def repairs(self) -> dict[str, StoredObject]:
        """The replicas that answered with a stale or missing copy, each with
        the object to write back (every reply's reconciliation). Empty when
        nobody had the key; meaningful once `complete` (or when the caller
        stops waiting for stragglers)."""
        plan = plan_read_repair(self.replies, self.allow_mult)
        if plan.result is None:
            return {}
        return {node: plan.result for node in sorted(plan.needs_repair)}


class WriteQuorum:
    """One write: who coordinates, who gets the coordinated object, and when it is done."""

    def __init__(self, targets: Sequence[Target], *, w: int, dw: int = 0, pw: int = 0, n_val: int | None = None) -> None:
        _check_targets(targets)
        self.targets = tuple(targets)
        self.n_val = len(self.targets) if n_val is None else n_val
        if not 1 <= w <= self.n_val or not 0 <= dw <= self.n_val or not 0 <= pw <= self.n_val:
            raise ValueError(f"w={w}, dw={dw}, pw={pw} must lie within n_val={self.n_val} (w at least 1)")
        self.w, self.dw, self.pw = max(w, dw), dw, pw
        self._primary = {t.node: t.hint is None for t in self.targets}
        self._untried = [t.node for t in self.targets]
        self.coordinator: str | None = None
        self.object: StoredObject | None = None
        self.stored: set[str] = set()
        self.durable: set[str] = set()
        self.syncing: set[str] = set()  # stored, and asked to sync (the coordinator)
        self.failures: set[str] = set()
        self.outcome: WriteDone | QuorumUnsatisfied | None = None
        primaries = sum(self._primary.values())
        if primaries < pw:
            self.outcome = QuorumUnsatisfied("PW", primaries, pw)
        elif len(self.targets) < self.w:
            self.outcome = QuorumUnsatisfied("W", len(self.targets), self.w)

    @property
    def durable_wanted(self) -> bool:
        """Whether targets should fsync before replying."""
        return self.dw > 0

    def next_coordinator(self) -> Target | None:
        """The target to coordinate at (None: the outcome is decided, or no target is left)."""
        if self.outcome is not None or self.object is not None:
            return None
        while self._untried:
            node = self._untried.pop(0)
            if node not in self.failures:
                self.coordinator = node
                return next(t for t in self.targets if t.node == node)
        return None

    def coordinated(self, node: str, obj: StoredObject, durable: bool) -> list[Target]:
        """The coordinator stored `obj`; returns the targets to send it to. A
        coordinator that stored it without syncing (so that its sync runs in
        parallel with the replicas') counts toward dw once `synced`."""
        if node != self.coordinator or self.object is not None:
            raise ValueError(f"{node!r} is not this write's pending coordinator")
        self.object = obj
        self._untried = []
        if not durable and self.dw > 0:
            self.syncing.add(node)
        self._count(node, durable)
        return [t for t in self.targets if t.node != node and t.node not in self.failures]

    def synced(self, node: str) -> None:
        """The coordinator's sync is done: its copy counts toward dw."""
        if node not in self.syncing:
            raise ValueError(f"{node!r} was not asked to sync")
        self.syncing.discard(node)
        self.durable.add(node)
        self._decide()

    def sync_failed(self, node: str) -> None:
        """The coordinator's sync did not answer: its copy may not be durable."""
        if node not in self.syncing:
            raise ValueError(f"{node!r} was not asked to sync")
        self.syncing.discard(node)
        self._decide()

    def coordinate_failed(self, node: str) -> Target | None:
        """The coordinator failed before storing anything; the next one to try, if any."""
        if node != self.coordinator or self.object is not None:
            raise ValueError(f"{node!r} is not this write's pending coordinator")
        self.failures.add(node)
        self._decide()
        return self.next_coordinator()

    def reply(self, node: str, durable: bool) -> None:
        """A replica stored the coordinated object (durably or not)."""
        if self.object is None or node not in self._primary or node == self.coordinator:
            raise ValueError(f"{node!r} is not a replica of this coordinated write")
        if node in self.stored or node in self.failures:
            raise ValueError(f"{node!r} already answered this write")
        self._count(node, durable)

    def failed(self, node: str) -> None:
        """A replica did not store it (unreachable, timed out, refused)."""
        if node not in self._primary or node in self.stored or node in self.failures:
            raise ValueError(f"{node!r} cannot fail this write now")
        self.failures.add(node)
        self._decide()

    @property
    def complete(self) -> bool:
        """Every target answered, and the coordinator's sync (if asked) too."""
        return len(self.stored) + len(self.failures) == len(self.targets) and not self.syncing

    def _count(self, node: str, durable: bool) -> None:
        self.stored.add(node)
        if durable:
            self.durable.add(node)
        self._decide()

    def _decide(self) -> None:
        if self.outcome is not None:
            return
        primary_stored = sum(1 for node in self.stored if self._primary[node])
        if self.object is not None and (
            len(self.stored) >= self.w and len(self.durable) >= self.dw and primary_stored >= self.pw
        ):
            self.outcome = WriteDone(self.object)
            return
        pending = [t.node for t in self.targets if t.node not in self.stored and t.node not in self.failures]
        primaries_pending = sum(1 for node in pending if self._primary[node])
        if primary_stored + primaries_pending < self.pw:
            self.outcome = QuorumUnsatisfied("PW", primary_stored, self.pw)
        elif len(self.stored) + len(pending) < self.w:
            self.outcome = QuorumUnsatisfied("W", len(self.stored), self.w)
        elif len(self.durable) + len(pending) + len(self.syncing) < self.dw:
            self.outcome = QuorumUnsatisfied("DW", len(self.durable), self.dw)
