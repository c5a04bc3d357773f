"""What an adjudicator must know when it starts: its incarnation and its floor.

An adjudicator keeps its conflict history in memory only. A new one (a
restart after a crash, `kill -9`, a replaced process) knows nothing of the
commits its dead incarnation decided, so it starts with a *floor*: the τ at
or below which it assumes every key may have been committed, which makes
every transaction with τ_start below the floor lose on every key of its
range (conflicts.py). The floor must be at least the τ of every commit the
dead incarnation took part in, including appends still in flight when it
died, which a journal may choose after the new one has started.

The rule (the cheapest correct one we found; the alternative, closing every
journal at the restart and fencing the old incarnation's appends in the
journal's log, costs a round of journal writes and a replicated fence):

  Every append an adjudicator asks for, as coordinator, carries a bound
  tau_max = max(clock.latest, τ_start) + slack + 2ε, fixed before any
  participant is asked to prepare; the journal refuses a τ above it. So
  every τ a record of the dead incarnation can ever get — as coordinator, or
  for a transaction it held keys for as participant (that prepare reached it
  before it died, and the coordinator fixed tau_max before sending it) — is
  at most latest_old + slack + 2ε, where latest_old is some clock's `latest`
  read before the death, at most true time + 2ε then (a clock's interval
  holds true time and is 2ε wide; τ_start is a QP clock's `latest`).
  The new incarnation starts after the death, so its own `latest` ≥ true time
  > every such moment. Hence

      floor = latest + TAU_MAX_SLACK_NS + 4ε

  is above every τ the dead incarnation could have had a hand in. The price:
  transactions in its range that started less than about that long before
  the restart lose (they retry, as after any conflict). Transactions
  coordinated elsewhere whose keys the dead one held are covered too; the
  other participants' holds of the dead coordinator's transactions expire by
  lease (leases.py).

  This assumes the old incarnation is dead before the new one serves (the
  process was killed or exited: a supervisor restarting it knows that). An
  old incarnation that is merely paused or partitioned could come back and
  commit from its stale table. Replacing one that may be alive (another
  adjudicator taking its ranges when its host is cut off) is ownership.py's
  business: ranges leased in the journal's log, every τ an owner lets a
  commit have bounded by its lease, the taker's floor above the lease.

  The very first start (incarnation 1) had no predecessor, so its floor is
  just `latest`. In the embedded server every part restarts together and
  the journals recover before the adjudicators start, observing every τ
  they recovered on the shared clock, so `latest` is above them all and no
  incarnation count is needed there (no disk: always incarnation 1).

The incarnation count lives on the adjudicator's `Disk`, as a file of 8-byte
big-endian numbers (`incarnation-<index>`, so the adjudicators of one
process may share a disk), one appended and synced per start before the
adjudicator serves; it also keeps transaction ids unique across
incarnations (interface.make_txn_id).
"""

from __future__ import annotations

from cluster.clock import Clock
from cluster.disk import Disk

_RECORD = 8

# A journal may give an append a τ up to this far past the coordinator's
# clock when it reaches the journal (the leader's clock may be ahead by the
# error bound, elections take time, τ never repeats). Past it the leader
# refuses, so an append we lost track of carries a τ at or below it.
APPEND_TAU_SLACK_NS = 2 * 1_000_000_000
# Between fixing tau_max and the append, a cross-range commit waits for its
# participants' prepares: a participant may wait up to READERS_WAIT_MAX_S
# (role.py) for in-flight readers, plus the round trips.
PREPARE_SLACK_NS = 3 * 1_000_000_000
# The most any tau_max can exceed max(coordinator's latest, τ_start) by, before 2ε.
TAU_MAX_SLACK_NS = APPEND_TAU_SLACK_NS + PREPARE_SLACK_NS


def tau_max(clock: Clock, tau_start: int, cross_range: bool) -> int:
    """The highest τ the journal may give this append (fixed before anything is prepared)."""
    slack = TAU_MAX_SLACK_NS if cross_range else APPEND_TAU_SLACK_NS
    return max(clock.latest(), tau_start) + slack + 2 * clock.error_bound_ns


def recovered_floor(clock: Clock, incarnation: int) -> int:
    """The floor of a new incarnation (see the module docstring)."""
    latest = clock.latest()
    if incarnation <= 1:
        return latest
    return latest + TAU_MAX_SLACK_NS + 4 * clock.error_bound_ns


def incarnation_file(index: int) -> str:
    return f"incarnation-{index}"


async def next_incarnation(disk: Disk, index: int) -> int:
    """Count a start of adjudicator `index` on `disk` (durably, before returning);
    returns its number (1 = the first)."""
    name = incarnation_file(index)
    last = 0
    if name in await disk.names():
        data = await disk.read(name)
        whole = len(data) - len(data) % _RECORD
        if whole != len(data):
            # A torn record: that start never finished (it syncs before serving).
            await disk.truncate(name, whole)
        if whole:
            last = int.from_bytes(data[whole - _RECORD : whole], "big")
    incarnation = last + 1
    assert incarnation < 1 << 63
    await disk.append(name, incarnation.to_bytes(_RECORD, "big"), sync=True)
    return incarnation

