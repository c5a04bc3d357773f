"""Adjudicators that fail: prepare holds that expire, and a restarted adjudicator's floor.

The cluster is the embedded one (real journal replicas, storage nodes and
adjudicators on the in-process transport). A "killed" adjudicator stops
being served at its address and `crash()`es: nothing more leaves it (no
decide, no answer), as with a process killed by `kill -9`. A journal made
unreachable (its replicas' addresses unserved) holds a coordinator between
prepare and decide, as a slow or partitioned journal would.
"""

from __future__ import annotations

import time

import pytest
import trio

from adjudicator import role
from adjudicator.client import AdjudicatorClient
from adjudicator.interface import (
    AdjudicatorStarting,
    Commit,
    CommitConflict,
    OutcomeQuery,
    OutcomeState,
    make_txn_id,
)
from adjudicator.leases import Leases, Outcomes
from adjudicator.recovery import TAU_MAX_SLACK_NS, incarnation_file, next_incarnation
from adjudicator.role import Adjudicator, encode_commit_payload
from assembly.embedded import ClusterConfig, EmbeddedCluster
from cluster.clock import Clock
from cluster.disk import MemoryDisk, OsDisk
from cluster.topology import Topology
from cluster.transport import InProcessTransport
from storage import keys

SECOND_NS = 1_000_000_000


def sql_key(oid: int, pk: int) -> bytes:
    return keys.table_prefix(keys.table_key_id_for(oid), keys.PRIMARY_INDEX_ID) + keys.encode_int(pk)


def payload(*writes: tuple[bytes, object]) -> bytes:
    return encode_commit_payload(list(writes), None)


def owner(cluster: EmbeddedCluster, key: bytes) -> int:
    return cluster.topology.adjudicator_ranges.owner(key)


def kill_adjudicator(cluster: EmbeddedCluster, index: int) -> None:
    cluster.transport.unserve(cluster.topology.adjudicator_address(index))
    cluster.adjudicators[index].crash()


async def replace_adjudicator(cluster: EmbeddedCluster, nursery: trio.Nursery, index: int, *,
                              disk: MemoryDisk, clock: Clock | None = None) -> Adjudicator:
    """Kill adjudicator `index` and start another on its disk (its next incarnation)."""
    kill_adjudicator(cluster, index)
    successor = Adjudicator(index, cluster.topology, cluster.transport, clock or cluster.clock, disk=disk)
    await nursery.start(successor.run)
    cluster.transport.serve(cluster.topology.adjudicator_address(index), successor)
    cluster.adjudicators[index] = successor
    return successor


def cut_off_journal(cluster: EmbeddedCluster) -> None:
    for replica in cluster.journal_replicas[0]:
        cluster.transport.unserve(replica.name)


def restore_journal(cluster: EmbeddedCluster) -> None:
    for replica in cluster.journal_replicas[0]:
        cluster.transport.serve(replica.name, replica)


async def commit_held_between_prepare_and_decide(
    cluster: EmbeddedCluster, nursery: trio.Nursery, writes: list[tuple[bytes, object]], results: list
) -> tuple[Adjudicator, int]:
    """Start a cross-range commit with the journal unreachable and return once its
    participant holds the keys: (participant, transaction id)."""
    participant = cluster.adjudicators[owner(cluster, writes[1][0])]
    assert not len(participant.leases)
    client = AdjudicatorClient(cluster.topology, cluster.transport)
    cut_off_journal(cluster)

    async def commit() -> None:
        try:
            results.append(await client.commit(cluster.clock.latest(), payload(*writes), [k for k, _ in writes]))
        except Exception as exc:  # noqa: BLE001 - the test looks at what it was
            results.append(exc)

    nursery.start_soon(commit)
    with trio.fail_after(5):
        while not len(participant.leases):
            await trio.sleep(0.002)
    (txn_id,) = participant.leases
    return participant, txn_id


async def test_a_coordinator_killed_between_prepare_and_decide_leaves_the_keys_held_only_for_a_lease(
    nursery, monkeypatch
):
    monkeypatch.setattr(role, "PREPARE_LEASE_S", 0.3)
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    mine, theirs = sql_key(16385, 1), sql_key(16386, 1)
    coordinator = owner(cluster, mine)
    assert coordinator != owner(cluster, theirs)
    client = AdjudicatorClient(cluster.topology, cluster.transport)
    results: list = []
    participant, txn_id = await commit_held_between_prepare_and_decide(
        cluster, nursery, [(mine, ("t1",)), (theirs, ("t1",))], results
    )
    tau_max = participant.leases.get(txn_id).tau_max
    assert tau_max > cluster.clock.latest()
    # While it is held, an overlapping writer of the participant's key loses.
    with pytest.raises(CommitConflict, match="pending"):
        await client.commit(cluster.clock.latest(), payload((theirs, ("early",))), [theirs])

    # The journal comes back and the append is chosen, but the decide cannot reach
    # the participant (cut off meanwhile); then the coordinator dies, and with it
    # its memory of the decision it still owed.
    address = cluster.topology.adjudicator_address(participant.index)
    cluster.transport.unserve(address)
    restore_journal(cluster)
    with trio.fail_after(20):
        while not results:
            await trio.sleep(0.01)
    assert isinstance(results[0], int), results
    kill_adjudicator(cluster, coordinator)
    cluster.transport.serve(address, participant)

    # After its lease the participant asks the dead coordinator, hears nothing,
    # and records the keys as committed at tau_max.
    with trio.fail_after(10):
        while participant.table.is_held(txn_id):
            await trio.sleep(0.01)
    assert participant.leases_expired == 1
    assert participant.table.last_commit(theirs) == tau_max
    # Every transaction that started before tau_max overlaps the commit (or
    # might): it loses. One that starts at tau_max has it in its snapshot.
    with pytest.raises(CommitConflict, match="committed"):
        await client.commit(tau_max - 1, payload((theirs, ("late",))), [theirs])
    tau_after = await client.commit(tau_max, payload((theirs, ("after",))), [theirs])
    assert tau_after > tau_max
    await cluster.clock.wait_until_past(tau_after)
    storage = cluster.storage_client()
    # The dead coordinator's commit was chosen at a τ ≤ tau_max, as promised.
    assert await storage.get([mine, theirs], tau_max, None) == [("t1",), ("t1",)]
    assert await storage.get([theirs], tau_after, None) == [("after",)]


async def test_a_lost_decide_is_learned_exactly_from_a_live_coordinator(nursery, monkeypatch):
    monkeypatch.setattr(role, "PREPARE_LEASE_S", 0.3)
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    mine, theirs = sql_key(16385, 2), sql_key(16386, 2)
    client = AdjudicatorClient(cluster.topology, cluster.transport)
    results: list = []
    participant, txn_id = await commit_held_between_prepare_and_decide(
        cluster, nursery, [(mine, (1,)), (theirs, (1,))], results
    )
    # The participant is cut off while the coordinator decides: the decide is lost.
    address = cluster.topology.adjudicator_address(participant.index)
    cluster.transport.unserve(address)
    restore_journal(cluster)
    with trio.fail_after(20):
        while not results:
            await trio.sleep(0.01)
    tau_commit = results[0]
    assert isinstance(tau_commit, int), results
    assert participant.table.is_held(txn_id), "the decide did not arrive"
    cluster.transport.serve(address, participant)
    with trio.fail_after(10):
        while participant.table.is_held(txn_id):
            await trio.sleep(0.01)
    # The coordinator kept the decision for it: the exact τ, not tau_max.
    assert participant.leases_expired == 0
    assert participant.table.last_commit(theirs) == tau_commit
    assert await client.commit(tau_commit, payload((theirs, (2,))), [theirs]) > tau_commit


async def test_a_restarted_adjudicator_lets_no_update_of_its_predecessor_be_lost(nursery):
    """T2 starts; T1 commits the same key through adjudicator A; A is killed and
    restarted; T2 commits through the new A. T2 overlapped T1, so it must lose.

    Every clock is within its error bound ε, but the new A's clock reads at the
    low end (its `latest` is true time) while the journal's reads at the high
    end, so T1's τ and T2's τ_start lie above the new A's `latest`: a floor of
    `latest` knows nothing of T1 and lets T2 through (a lost update)."""
    # Large, so that the few steps between T2's start and the restart surely
    # fit in ε even on a loaded machine (the assertion below checks they did).
    error_ns = 5 * SECOND_NS
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig(clock_error_ns=error_ns)).run)
    key = sql_key(16385, 3)
    index = owner(cluster, key)
    disk = MemoryDisk()
    first = await replace_adjudicator(cluster, nursery, index, disk=disk)
    assert first.incarnation == 1
    client = AdjudicatorClient(cluster.topology, cluster.transport)
    t2_start = cluster.clock.latest()
    tau1 = await client.commit(cluster.clock.latest(), payload((key, ("t1",))), [key])
    assert tau1 > t2_start
    low_clock = Clock(error_ns, source_ns=lambda: time.time_ns() - error_ns + 1_000_000)
    floor_of_latest = low_clock.latest()
    second = await replace_adjudicator(cluster, nursery, index, disk=disk, clock=low_clock)
    assert second.incarnation == 2
    assert t2_start > floor_of_latest and tau1 > floor_of_latest, "a floor of `latest` would not cover T1"
    with pytest.raises(CommitConflict, match="committed"):
        await client.commit(t2_start, payload((key, ("t2",))), [key])
    # The range is not closed for good: a transaction that starts at the floor commits.
    assert tau1 < second.table.floor
    assert await client.commit(second.table.floor, payload((key, ("t3",))), [key]) > second.table.floor


async def test_outcome_never_confuses_transactions_of_two_incarnations():
    adjudicator = Adjudicator(0, Topology(), InProcessTransport(), Clock(), incarnation=2)
    own, predecessors = make_txn_id(2, 1, 0), make_txn_id(1, 1, 0)
    adjudicator.outcomes.begin(own)
    reply = await adjudicator.rpc_outcome(OutcomeQuery((predecessors, own)))
    assert [a.state for a in reply.outcomes()] == [OutcomeState.UNKNOWN, OutcomeState.PENDING]


async def test_incarnations_count_on_disk_and_a_torn_record_is_cut():
    disk = MemoryDisk()  # shared by two adjudicators of one process
    assert [await next_incarnation(disk, 3) for _ in range(3)] == [1, 2, 3]
    assert await next_incarnation(disk, 4) == 1
    await disk.append(incarnation_file(3), b"\x00\x00\x00", sync=False)  # a start that died mid-write
    assert await next_incarnation(disk, 3) == 4
    assert len(await disk.read(incarnation_file(3))) == 4 * 8


async def test_an_adjudicator_on_a_disk_serves_once_it_has_counted_its_start(tmp_path):
    key = sql_key(16385, 4)
    for expected in (1, 2):
        disk = OsDisk(str(tmp_path))
        clock = Clock()
        adjudicator = Adjudicator(0, Topology(), InProcessTransport(), clock, disk=disk)
        with pytest.raises(AdjudicatorStarting):
            await adjudicator.rpc_commit(Commit(clock.latest(), payload((key, (1,))), (key,)))
        async with trio.open_nursery() as nursery:
            await nursery.start(adjudicator.run)
            nursery.cancel_scope.cancel()
        disk.close()
        assert adjudicator.incarnation == expected
    assert adjudicator.table.floor > clock.latest() + TAU_MAX_SLACK_NS - SECOND_NS


def test_leases_renew_a_bounded_number_of_times():
    leases = Leases(lease_s=1.0, renewals_max=2)
    txn = make_txn_id(1, 7, 3)
    leases.grant(txn, tau_max=100, now=0.0)
    assert leases.expired(0.5) == {}
    assert leases.expired(1.0) == {3: [txn]}
    assert leases.renew(txn, 1.0) and leases.renew(txn, 2.0)
    assert leases.expired(2.5) == {}
    assert not leases.renew(txn, 3.0)


def test_outcomes_are_kept_only_while_some_participant_may_ask():
    outcomes = Outcomes(retention_s=10.0)
    heard, unheard, aborted = make_txn_id(1, 1, 0), make_txn_id(1, 2, 0), make_txn_id(1, 3, 0)
    for txn in (heard, unheard, aborted):
        outcomes.begin(txn)
    assert outcomes.outcome(heard, 0.0).state is OutcomeState.PENDING
    outcomes.decide(heard, 50)
    outcomes.delivered(heard)
    outcomes.decide(unheard, 60)
    outcomes.keep(unheard, 0.0)
    outcomes.decide(aborted, 0)
    outcomes.keep(aborted, 0.0)
    assert outcomes.outcome(heard, 1.0).state is OutcomeState.UNKNOWN
    assert tuple(outcomes.outcome(unheard, 1.0)) == (OutcomeState.COMMITTED, 60)
    assert outcomes.outcome(aborted, 1.0).state is OutcomeState.ABORTED
    assert outcomes.outcome(unheard, 10.0).state is OutcomeState.UNKNOWN
    assert len(outcomes) == 0
