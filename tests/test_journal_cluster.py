"""The replicated journal inside the commit path: several journals, failover, uncertainty.

The embedded cluster runs 2f+1 replicas per journal. These tests drive the
parts through their RPC interfaces as the QP does: commits spread over two
journals and merged by τ on every storage node, a journal leader killed in
the middle of a workload, and the adjudicator's handling of an append whose
fate the journal cannot tell.
"""

from __future__ import annotations

import trio

from adjudicator.batching import CommitBatcher
from adjudicator.client import AdjudicatorClient
from adjudicator.interface import Commit, CommitConflict
from adjudicator.role import Adjudicator, encode_commit_payload
from assembly.embedded import ClusterConfig, EmbeddedCluster
from cluster.clock import Clock
from cluster.topology import Topology
from cluster.transport import InProcessTransport
from journal.errors import AppendUncertain, JournalUnavailable
from storage import keys


def sql_key(oid: int, pk: int) -> bytes:
    return keys.table_prefix(keys.table_key_id_for(oid), keys.PRIMARY_INDEX_ID) + keys.encode_int(pk)


async def commit(cluster: EmbeddedCluster, tau_start: int, writes) -> int:
    write_keys = tuple(k for k, _ in writes)
    adjudicators = AdjudicatorClient(cluster.topology, cluster.transport)
    tau = await adjudicators.commit(tau_start, encode_commit_payload(list(writes), None), write_keys)
    await cluster.clock.wait_until_past(tau)
    return tau


async def test_commits_spread_over_two_journals_and_merge_by_tau(nursery, tmp_path):
    config = ClusterConfig(data_dir=str(tmp_path), topology=Topology(journal_count=2))
    cluster = await nursery.start(EmbeddedCluster(config).run)
    key = sql_key(16385, 1)
    others = [sql_key(16386, i) for i in range(10)]
    taus = []
    for i in range(40):
        taus.append(await commit(cluster, cluster.clock.latest(), [(key, (i,)), (others[i % 10], (i,))]))
    ends = [replicas[0].log.end for replicas in cluster.journal_replicas]
    assert all(end >= 15 for end in ends), f"both journals carry commits: {ends}"
    client = cluster.storage_client()
    assert await client.get([key], cluster.clock.latest(), None) == [(39,)]
    # Every snapshot sees exactly the commits at or below it, whichever journal carried them.
    for i in (5, 17, 33):
        assert await client.get([key], taus[i], None) == [(i,)]
        assert await client.get([key], taus[i] - 1, None) == [(i - 1,)]
    for node in cluster.storage_nodes:
        # A record above every τ read so far (an adjudicator's lease renewal) is applied once
        # the other journal's heartbeats close its τ.
        with trio.fail_after(5):
            while sum(node.applied) < sum(ends):
                await trio.sleep(0.01)


async def test_a_journal_leader_dies_mid_workload_and_commits_go_on(nursery):
    cluster = await nursery.start(EmbeddedCluster(ClusterConfig()).run)
    key = sql_key(16385, 7)
    acknowledged = []
    for i in range(10):
        acknowledged.append(await commit(cluster, cluster.clock.latest(), [(key, (i,))]))
    leader = next(r for r in cluster.journal_replicas[0] if r.core.role.value == "leader")
    cluster.kill_journal_replica(0, leader.index)
    with trio.fail_after(15):
        while True:
            try:
                acknowledged.append(await commit(cluster, cluster.clock.latest(), [(key, (10,))]))
                break
            except JournalUnavailable:
                await trio.sleep(0.05)  # the client sees "server unavailable" and retries
    for i in range(11, 20):
        acknowledged.append(await commit(cluster, cluster.clock.latest(), [(key, (i,))]))
    client = cluster.storage_client()
    assert await client.get([key], cluster.clock.latest(), None) == [(19,)]
    assert all(b > a for a, b in zip(acknowledged, acknowledged[1:], strict=False))


class _Journal:
    """Stands in for a JournalClient: fails as told, else appends."""

    append_timeout_s = 12.0

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.tau = 0

    async def append(self, payload, tau_min, tau_max=0):
        if self.error is not None:
            raise self.error
        self.tau = max(tau_min, self.tau + 1)
        return 1, self.tau

    async def append_batch(self, appends, *, deadline=None):
        """As `JournalClient.append_batch`: one answer per append, errors returned, not raised."""
        out = []
        for payload, tau_min, tau_max in appends:
            try:
                out.append(await self.append(payload, tau_min, tau_max))
            except Exception as exc:  # noqa: BLE001 - handed back as the client does
                out.append(exc)
        return out


def _use(adjudicator: Adjudicator, journal: _Journal) -> None:
    """The adjudicator's commits go to `journal` (through its batcher, as they go to a real one)."""
    adjudicator._journals = [journal]
    adjudicator._batchers = [CommitBatcher(journal)]


def _owner_of(key: bytes, clock: Clock) -> Adjudicator:
    topology = Topology()
    return Adjudicator(topology.adjudicator_ranges.owner(key), topology, InProcessTransport(), clock)


async def test_an_uncertain_append_holds_its_keys_at_the_highest_tau_it_could_have():
    clock = Clock()
    key = sql_key(16385, 1)
    adjudicator = _owner_of(key, clock)
    journal = _Journal()
    _use(adjudicator, journal)
    payload = encode_commit_payload([(key, (1,))], None)
    bound = clock.latest() + 5_000_000_000
    journal.error = AppendUncertain(bound, "timed out")
    start = clock.latest()
    try:
        await adjudicator.rpc_commit(Commit(start, payload, (key,)))
    except AppendUncertain:
        pass
    else:
        raise AssertionError("an uncertain append must not be acknowledged")
    assert adjudicator.table.last_commit(key) == bound, "held as if committed at its highest possible τ"
    journal.error = None
    try:
        await adjudicator.rpc_commit(Commit(clock.latest(), payload, (key,)))
    except CommitConflict:
        pass
    else:
        raise AssertionError("a transaction that overlaps the uncertain one must lose")
    assert (await adjudicator.rpc_commit(Commit(bound, payload, (key,)))).tau_commit > bound


async def test_a_definite_failure_releases_the_keys():
    clock = Clock()
    key = sql_key(16385, 2)
    adjudicator = _owner_of(key, clock)
    journal = _Journal()
    _use(adjudicator, journal)
    payload = encode_commit_payload([(key, (1,))], None)
    start = clock.latest()
    journal.error = JournalUnavailable("no leader")
    try:
        await adjudicator.rpc_commit(Commit(start, payload, (key,)))
    except JournalUnavailable:
        pass
    journal.error = None
    assert (await adjudicator.rpc_commit(Commit(start, payload, (key,)))).tau_commit > start, "nothing was appended: no conflict"
