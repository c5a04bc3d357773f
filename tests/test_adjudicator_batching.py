"""The adjudicator's commit batches (adjudicator/batching.py) against a scripted journal.

A fake journal client answers each `append_batch` after a set time (trio's
MockClock), records what it was sent, and can be told to answer some appends
with errors; the batcher must keep at most `depth` requests in flight, put
everything queued meanwhile into the next one, oldest first, answer every
commit with its own outcome, and survive callers that are cancelled.
"""

from __future__ import annotations

import pytest
import trio

from adjudicator.batching import CommitBatcher
from journal.errors import AppendRefused, AppendUncertain, JournalUnavailable

REQUEST_S = 0.01


class FakeJournal:
    append_timeout_s = 12.0

    def __init__(self) -> None:
        self.requests: list[list[bytes]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.position = 0
        self.refuse: set[bytes] = set()
        self.fail_whole = False

    async def append_batch(self, appends, *, deadline=None):
        assert deadline is not None and deadline > trio.current_time()
        self.requests.append([payload for payload, _, _ in appends])
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await trio.sleep(REQUEST_S)
        finally:
            self.in_flight -= 1
        if self.fail_whole:
            raise RuntimeError("a bug in the journal client")
        out = []
        for payload, tau_min, _ in appends:
            if payload in self.refuse:
                out.append(AppendRefused("τ would exceed tau_max"))
            else:
                self.position += 1
                out.append((self.position, tau_min + self.position))
        return out


async def _commit_all(batcher: CommitBatcher, payloads: list[bytes], results: dict,
                      arrivals: list[bytes] | None = None) -> None:  # fmt: skip
    """Every payload committed at once (trio starts the tasks in any order: `arrivals` gets theirs)."""
    async def one(payload: bytes) -> None:
        try:
            if arrivals is not None:
                arrivals.append(payload)
            results[payload] = await batcher.append(payload, 100, 10_000)
        except JournalUnavailable as exc:
            results[payload] = exc

    async with trio.open_nursery() as nursery:
        for payload in payloads:
            nursery.start_soon(one, payload)


@pytest.mark.parametrize("depth", [1, 2, 3])
async def test_commits_that_arrive_together_share_requests(depth: int, autojump_clock) -> None:
    journal = FakeJournal()
    batcher = CommitBatcher(journal, depth=depth)
    payloads = [b"c%03d" % i for i in range(60)]
    results: dict = {}
    arrivals: list[bytes] = []
    await _commit_all(batcher, payloads, results, arrivals)
    assert journal.most_in_flight == depth
    sent = [p for request in journal.requests for p in request]
    assert sorted(sent) == payloads, "every commit sent exactly once"
    # The first `depth` go alone, at once; everything after waited and went together.
    assert [len(r) for r in journal.requests[:depth]] == [1] * depth
    assert len(journal.requests) == depth + 1 and len(journal.requests[-1]) == 60 - depth
    assert sent == arrivals, "oldest first"
    assert sorted(results[p][0] for p in payloads) == list(range(1, 61)), "each its own position"
    assert batcher.batches == depth + 1 and batcher.appends == 60
    # Idle again: the next commit goes at once, alone.
    await _commit_all(batcher, [b"late"], results)
    assert journal.requests[-1] == [b"late"] and results[b"late"][0] == 61


async def test_a_batch_is_bounded(autojump_clock) -> None:
    journal = FakeJournal()
    batcher = CommitBatcher(journal, depth=1, records_max=7, bytes_max=40)
    payloads = [b"%05d" % i for i in range(30)]  # 5 bytes each: 8 fit in 40, 7 records do
    arrivals: list[bytes] = []
    await _commit_all(batcher, payloads, {}, arrivals)
    assert max(len(r) for r in journal.requests) == 7
    assert [p for r in journal.requests for p in r] == arrivals
    big = CommitBatcher(FakeJournal(), depth=1, bytes_max=12)
    await _commit_all(big, [b"x" * 20, b"y" * 20, b"z" * 5, b"w" * 5], {})
    assert max(len(r) for r in big.journal.requests if len(r[0]) == 20) == 1, "a record over the limit goes alone"
    assert sorted(p for r in big.journal.requests for p in r) == sorted([b"x" * 20, b"y" * 20, b"z" * 5, b"w" * 5])


async def test_each_commit_gets_its_own_outcome(autojump_clock) -> None:
    journal = FakeJournal()
    journal.refuse = {b"c3", b"c7"}
    batcher = CommitBatcher(journal, depth=1)
    results: dict = {}
    await _commit_all(batcher, [b"c%d" % i for i in range(10)], results)
    assert isinstance(results[b"c3"], AppendRefused) and isinstance(results[b"c7"], AppendRefused)
    assert all(isinstance(results[b"c%d" % i], tuple) for i in (0, 1, 2, 4, 5, 6, 8, 9))


async def test_a_failed_request_is_uncertain_for_each_commit_at_its_own_bound(autojump_clock) -> None:
    journal = FakeJournal()
    journal.fail_whole = True
    batcher = CommitBatcher(journal, depth=1)
    results: dict = {}

    async def one(i: int) -> None:
        try:
            await batcher.append(b"c%d" % i, 100, 1000 + i)
        except AppendUncertain as exc:
            results[i] = exc.tau_bound

    async with trio.open_nursery() as nursery:
        for i in range(5):
            nursery.start_soon(one, i)
    assert results == {i: 1000 + i for i in range(5)}


async def test_cancelled_callers_leave_the_queue_and_the_rest_go_on(autojump_clock) -> None:
    journal = FakeJournal()
    batcher = CommitBatcher(journal, depth=1)
    results: dict = {}
    scopes: dict[bytes, trio.CancelScope] = {}

    async def one(payload: bytes) -> None:
        with trio.CancelScope() as scope:
            scopes[payload] = scope
            results[payload] = await batcher.append(payload, 100, 10_000)
        if scope.cancelled_caught:
            results[payload] = "cancelled"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(one, b"first")  # sends at once, alone
        await trio.sleep(REQUEST_S / 10)
        for payload in (b"a", b"b", b"c"):
            nursery.start_soon(one, payload)  # queue behind it
        await trio.sleep(REQUEST_S / 10)
        scopes[b"first"].cancel()  # in flight: it still completes, for the others' sake
        scopes[b"b"].cancel()  # queued: it leaves the queue, never sent
    assert journal.requests[0] == [b"first"] and sorted(journal.requests[1]) == [b"a", b"c"]
    assert len(journal.requests) == 2
    assert isinstance(results[b"first"], tuple) and results[b"b"] == "cancelled"
    assert isinstance(results[b"a"], tuple) and isinstance(results[b"c"], tuple)
    assert batcher._sending == 0 and not batcher._queue


async def test_a_turn_handed_to_a_cancelled_caller_passes_on(autojump_clock) -> None:
    journal = FakeJournal()
    batcher = CommitBatcher(journal, depth=1)
    results: dict = {}
    scopes: dict[bytes, trio.CancelScope] = {}

    async def one(payload: bytes) -> None:
        with trio.CancelScope() as scope:
            scopes[payload] = scope
            results[payload] = await batcher.append(payload, 100, 10_000)
        if scope.cancelled_caught:
            results[payload] = "cancelled"

    answer = journal.append_batch

    async def answer_then_cancel_a(appends, *, deadline=None):
        out = await answer(appends, deadline=deadline)
        if appends[0][0] == b"first":
            # "a" is cancelled just before the first request's sender hands it the turn.
            scopes[b"a"].cancel()
        return out

    journal.append_batch = answer_then_cancel_a
    async with trio.open_nursery() as nursery:
        nursery.start_soon(one, b"first")
        await trio.sleep(REQUEST_S / 10)
        nursery.start_soon(one, b"a")
        await trio.sleep(REQUEST_S / 10)
        nursery.start_soon(one, b"b")
    assert results[b"a"] == "cancelled"
    assert journal.requests == [[b"first"], [b"b"]]
    assert isinstance(results[b"b"], tuple), results
    assert batcher._sending == 0 and not batcher._queue
