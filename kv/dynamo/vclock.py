"""Vector clocks for Dynamo objects (DeCandia et al., SOSP 2007, §4.4), sans I/O.

A clock is a set of (actor, counter, timestamp) entries: the actor is the
node (Riak: the vnode) that coordinated a write, the counter how many writes
it has coordinated in this object's history, and the timestamp when it last
did (nanoseconds, from the caller: this module reads no clock). Version A
*descends* B when every counter in B is at most A's counter for the same
actor; neither descending the other means the versions are concurrent and
both must be kept (siblings). Timestamps play no part in causality: they
only decide which entries truncation drops.

`VClock` is immutable and canonical: entries sorted by actor, one per actor,
counters >= 1 (an absent actor is counter 0). Equal histories therefore
compare equal and encode to the same bytes.

Truncation. The paper drops the oldest pair once a clock holds more than a
threshold ("say 10") of them. Riak, our reference, refines this with four
bucket properties (riak_core `vclock:prune/3`): a clock of at most
`small_vclock` entries is left alone; otherwise, while its oldest entry is
not younger than `young_vclock` and either the clock has more than
`big_vclock` entries or the oldest entry is older than `old_vclock`, the
oldest entry is dropped. `PruneRules()` holds Riak's defaults (50, 50, 20 s,
86400 s); `PruneRules.paper(n)` is the paper's plain rule. Oldest means the
smallest (timestamp, actor): the actor breaks ties so every replica prunes
the same clock the same way. The paper's consequence ("can lead to
inefficiencies in reconciliation") is false concurrency: a truncated clock
may no longer descend an ancestor's clock, so the two look concurrent and
become siblings. Truncation loses no write as long as every coordinator's
counter only grows: pruning keeps at least the `small_vclock` newest
entries, the entry of the increment being made carries `now` and so is the
newest (unless clock skew put a later timestamp on another entry), and its
counter is above any that actor issued before, so no older clock descends
the new one. What breaks that is an actor whose entry was pruned away
coordinating again: it restarts at counter 1, and an older version that
still holds its larger counter can then descend, even dominate, the new
one, which a reconcile drops (a lost write; with the paper's rule at a
threshold of 2, writes by a, a, b, b, c, a, b suffice). Under Riak's
defaults that takes more than 50 distinct coordinators of one key with
entries older than 20 s, which the paper expects only after long failures.
tests/test_dynamo_versions.py shows all three: the false concurrency, the
lost write after a restart, and that there is none without one.

The `X-Riak-Vclock` header is opaque to clients. Ours is base64 of a format
byte, the msgpack array of [actor, counter, timestamp] triples, and a
CRC-32C of those bytes: a client's typo or another system's clock is
rejected with `ValueError` (the checksum makes an accidental parse that
yields some other clock vanishingly unlikely), never decoded into a wrong
clock. Riak's own encoding (zlib'd Erlang terms) carries a checksum for the
same reason.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

import crc32c
import msgpack

Actor = str

NS_PER_S = 1_000_000_000

# Bounds on what `decode` accepts from a client. Riak prunes past 50 entries
# (big_vclock) once they are old, so a live clock is rarely above a few
# dozen entries; 1024 leaves room for bursts of young entries while keeping
# a hostile header from costing more than a few hundred KiB of work.
ENTRIES_MAX = 1024
# Actors are node or vnode names; 255 bytes is far above any we make.
ACTOR_BYTES_MAX = 255
# Counters and timestamps are stored as msgpack integers; int64 covers both
# (ns since 1970 overflows int64 in 2262).
INT_MAX = 2**63 - 1
# The whole header, base64 text: ENTRIES_MAX entries of the largest size.
HEADER_CHARS_MAX = 4 * ((1 + 5 + ENTRIES_MAX * (1 + 2 + ACTOR_BYTES_MAX + 9 + 9) + 4) // 3 + 1)

_FORMAT_V1 = 1
_CRC_BYTES = 4


@dataclasses.dataclass(frozen=True, slots=True)
class PruneRules:
    """When a clock is truncated: Riak's bucket properties, with its defaults.

    Ages are in nanoseconds here (Riak's are seconds)."""

    small_vclock: int = 50
    big_vclock: int = 50
    young_vclock_ns: int = 20 * NS_PER_S
    old_vclock_ns: int = 86_400 * NS_PER_S

    def __post_init__(self) -> None:
        # A clock pruned to nothing would descend nothing and be descended by
        # everything: the newest write could be dropped. Keep at least one.
        assert self.small_vclock >= 1 and self.big_vclock >= 1, self

    @classmethod
    def paper(cls, threshold: int = 10) -> PruneRules:
        """The paper's rule (§4.4): drop the oldest pairs beyond `threshold`, whatever their age."""
        return cls(small_vclock=threshold, big_vclock=threshold, young_vclock_ns=0, old_vclock_ns=INT_MAX)


RIAK_PRUNE_DEFAULTS = PruneRules()


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    actor: Actor
    counter: int
    timestamp_ns: int


@dataclasses.dataclass(frozen=True, slots=True)
class VClock:
    """An immutable vector clock; build with `VClock()`, `increment`, `merge`, `decode`."""

    entries: tuple[Entry, ...] = ()

    def __post_init__(self) -> None:
        actors = [e.actor for e in self.entries]
        assert actors == sorted(set(actors)), f"entries must be sorted by actor, one each: {actors}"
        assert all(e.counter >= 1 for e in self.entries), self.entries

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[Actor, int, int]]) -> VClock:
        """A clock from (actor, counter, timestamp_ns) triples in any order, one per actor."""
        return cls(tuple(Entry(a, c, t) for a, c, t in sorted(entries)))

    def counter(self, actor: Actor) -> int:
        for entry in self.entries:
            if entry.actor == actor:
                return entry.counter
        return 0

    def counters(self) -> dict[Actor, int]:
        return {e.actor: e.counter for e in self.entries}

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def increment(self, actor: Actor, now_ns: int) -> VClock:
        """This clock with one more event by `actor`, stamped `now_ns`."""
        entries = [e for e in self.entries if e.actor != actor]
        entries.append(Entry(actor, self.counter(actor) + 1, now_ns))
        entries.sort(key=lambda e: e.actor)
        return VClock(tuple(entries))

    def prune(self, now_ns: int, rules: PruneRules = RIAK_PRUNE_DEFAULTS) -> VClock:
        """Truncate as Riak's `vclock:prune/3` does (see the module docstring)."""
        if len(self.entries) <= rules.small_vclock:
            return self
        oldest_first = sorted(self.entries, key=lambda e: (e.timestamp_ns, e.actor))
        drop = 0
        while len(oldest_first) - drop > rules.small_vclock:
            age_ns = now_ns - oldest_first[drop].timestamp_ns
            if age_ns < rules.young_vclock_ns:
                break
            if len(oldest_first) - drop > rules.big_vclock or age_ns > rules.old_vclock_ns:
                drop += 1
            else:
                break
        if drop == 0:
            return self
        return VClock(tuple(sorted(oldest_first[drop:], key=lambda e: e.actor)))

    def encode(self) -> str:
        """The opaque `X-Riak-Vclock` header value for this clock."""
        body = msgpack.packb([[e.actor, e.counter, e.timestamp_ns] for e in self.entries], use_bin_type=True)
        raw = bytes([_FORMAT_V1]) + body
        return base64.b64encode(raw + crc32c.crc32c(raw).to_bytes(_CRC_BYTES, "big")).decode("ascii")

    @classmethod
    def decode(cls, header: str | bytes) -> VClock:
        """The clock of an `X-Riak-Vclock` header; ValueError says what is wrong with a bad one."""
        if isinstance(header, str):
            if len(header) > HEADER_CHARS_MAX:
                raise ValueError(
                    f"vclock header is {len(header)} characters, above the {HEADER_CHARS_MAX} allowed"
                )
            try:
                text = header.encode("ascii")
            except UnicodeEncodeError:
                raise ValueError("vclock header is not base64 (non-ASCII characters)") from None
        elif isinstance(header, (bytes, bytearray)):
            text = bytes(header)
            if len(text) > HEADER_CHARS_MAX:
                raise ValueError(f"vclock header is {len(text)} bytes, above the {HEADER_CHARS_MAX} allowed")
        else:
            raise ValueError(f"vclock header must be str or bytes, not {type(header).__name__}")
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("vclock header is not valid base64") from None
        if len(raw) < 1 + 1 + _CRC_BYTES:
            raise ValueError("vclock header is too short to be a vector clock")
        if raw[0] != _FORMAT_V1:
            raise ValueError(f"vclock header has unknown format {raw[0]} (not a clock this server issued)")
        payload, crc = raw[:-_CRC_BYTES], raw[-_CRC_BYTES:]
        if crc32c.crc32c(payload).to_bytes(_CRC_BYTES, "big") != crc:
            raise ValueError("vclock header checksum does not match (corrupted or not issued by this server)")
        try:
            items = msgpack.unpackb(
                payload[1:],
                raw=False,
                use_list=True,
                strict_map_key=True,
                ext_hook=_refuse_ext,
                max_array_len=ENTRIES_MAX,
                max_map_len=0,
                max_ext_len=0,
            )
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
            raise ValueError(f"vclock header does not hold a vector clock ({exc})") from None
        return cls(tuple(_checked_entries(items)))


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"unexpected msgpack extension type {code}")


def _checked_entries(items: Any) -> Iterator[Entry]:
    if not isinstance(items, list):
        raise ValueError("vclock header does not hold a list of entries")
    if len(items) > ENTRIES_MAX:
        raise ValueError(f"vclock has {len(items)} entries, above the {ENTRIES_MAX} allowed")
    previous: Actor | None = None
    for item in items:
        if not (isinstance(item, list) and len(item) == 3):
            raise ValueError("vclock entry is not an (actor, counter, timestamp) triple")
        actor, counter, timestamp_ns = item
        if not isinstance(actor, str) or len(actor.encode()) > ACTOR_BYTES_MAX:
            raise ValueError("vclock entry has a bad actor")
        if type(counter) is not int or not 1 <= counter <= INT_MAX:
            raise ValueError("vclock entry has a bad counter")
        if type(timestamp_ns) is not int or not 0 <= timestamp_ns <= INT_MAX:
            raise ValueError("vclock entry has a bad timestamp")
        # Canonical order, one entry per actor: anything else is not a clock we issued.
        if previous is not None and actor <= previous:
            raise ValueError("vclock entries are not in canonical order")
        previous = actor
        yield Entry(actor, counter, timestamp_ns)


def descends(a: VClock, b: VClock) -> bool:
    """Whether `a` has seen every event `b` has (a ≥ b); a clock descends itself."""
    counters = a.counters()
    return all(counters.get(e.actor, 0) >= e.counter for e in b.entries)


def dominates(a: VClock, b: VClock) -> bool:
    """Whether `a` strictly descends `b`: it has seen all of `b` and more."""
    return descends(a, b) and not descends(b, a)


def concurrent(a: VClock, b: VClock) -> bool:
    """Whether neither clock descends the other: the versions conflict."""
    return not descends(a, b) and not descends(b, a)


def merge(*clocks: VClock) -> VClock:
    """The least clock descending all of `clocks`: per actor, the highest counter
    (for equal counters the later timestamp, as Riak's `vclock:merge/1`)."""
    best: dict[Actor, Entry] = {}
    for clock in clocks:
        for entry in clock.entries:
            held = best.get(entry.actor)
            if held is None or (entry.counter, entry.timestamp_ns) > (held.counter, held.timestamp_ns):
                best[entry.actor] = entry
    return VClock(tuple(best[actor] for actor in sorted(best)))
