"""Dynamo objects: a vector clock and its siblings, and the rules that combine them (sans I/O).

A stored object is what one replica holds for one key: one `VClock` and one
or more `Sibling`s, the causally unrelated values the clock summarises (the
paper's "list of objects with conflicting versions", §4.1, §4.4). As in Riak
before dotted version vectors, siblings have no clocks of their own: the
object's clock covers them all, so a put whose context descends that clock
replaces every sibling, and anything less adds one.

What lives here, each a pure function of its arguments (time comes in as
`now_ns`; nothing here reads a clock, a socket or a random generator):

* `reconcile(objects, allow_mult)`: the syntactic reconciliation (§4.4, §5)
  a coordinator applies to the replies of several replicas and a replica
  applies to an incoming copy beside its own (Riak's `riak_object:reconcile`):
  objects whose clock another strictly descends are dropped, the rest
  contribute their siblings (deduplicated by vtag), and the clocks merge.
  With `allow_mult=False` one sibling survives: the latest `last_modified_ns`,
  ties broken by the larger vtag so every replica picks the same one.
* `apply_put` / `apply_delete`: what the coordinator does with a client's
  write (Riak's coordinating `put_merge`). If the client's context descends
  the stored clock the client saw everything stored, and the new value
  replaces it; otherwise (no context, a stale one, a concurrent one) the new
  value joins the stored siblings. Either way the new clock is the merge of
  context and stored clock, incremented for the coordinating actor, then
  pruned (vclock.py). A delete is a put of a tombstone sibling.
* `plan_read_repair(replies, allow_mult)`: the reconciled object a read
  answers with, and which replicas need it written back: those that said
  not found (missing) and those whose clock does not descend the result
  (stale). A tombstone result is repaired like any other, so deletes spread.
* `encode_object` / `decode_object`: the compact form a storage node keeps
  (msgpack through `cluster.codec`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

from cluster import codec
from kv.dynamo.vclock import RIAK_PRUNE_DEFAULTS, Actor, Entry, PruneRules, VClock, descends, dominates, merge

# Riak's `max_siblings` default: a put that would leave more siblings than
# this fails (basho/riak issue 1120 shows the message at 101). Past that
# point every read ships them all and clients rarely recover; the client
# must resolve what it has before writing more. Replicas reconciling copies
# do not enforce it: refusing a copy would only leave replicas diverged.
SIBLINGS_MAX = 100

DEFAULT_CONTENT_TYPE = "application/octet-stream"

_STORAGE_FORMAT_V1 = 1
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

R = TypeVar("R", bound=Hashable)


class TooManySiblings(Exception):
    """A put would leave more than SIBLINGS_MAX siblings (Riak: `too_many_siblings`)."""

    def __init__(self, count: int) -> None:
        super().__init__(f"too many siblings for object ({count}, at most {SIBLINGS_MAX})")
        self.count = count


@dataclasses.dataclass(frozen=True, slots=True)
class Sibling:
    """One value of an object, with the metadata Riak returns beside it."""

    value: bytes
    content_type: str
    last_modified_ns: int
    vtag: str  # Riak's short identifier of this sibling (`?vtag=` picks one)
    tombstone: bool = False  # a delete (Riak's X-Riak-Deleted)
    user_meta: tuple[tuple[str, str], ...] = ()  # X-Riak-Meta-* headers, name without the prefix


@dataclasses.dataclass(frozen=True, slots=True)
class NewContent:
    """What a client puts: the value and the metadata it chooses (the coordinator adds the rest)."""

    value: bytes
    content_type: str = DEFAULT_CONTENT_TYPE
    user_meta: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class StoredObject:
    """One replica's copy of a key: a clock and at least one sibling, sorted by vtag."""

    clock: VClock
    siblings: tuple[Sibling, ...]

    def __post_init__(self) -> None:
        assert self.siblings, "an object has at least one sibling (a delete is a tombstone sibling)"
        vtags = [s.vtag for s in self.siblings]
        assert vtags == sorted(set(vtags)), f"siblings must be sorted by vtag, one each: {vtags}"

    @property
    def deleted(self) -> bool:
        """Every sibling is a tombstone: a read answers not found."""
        return all(s.tombstone for s in self.siblings)

    @property
    def live_siblings(self) -> tuple[Sibling, ...]:
        return tuple(s for s in self.siblings if not s.tombstone)


def _object(clock: VClock, siblings: Iterable[Sibling]) -> StoredObject:
    by_vtag = {s.vtag: s for s in siblings}
    return StoredObject(clock, tuple(by_vtag[v] for v in sorted(by_vtag)))


def _latest(siblings: Iterable[Sibling]) -> Sibling:
    return max(siblings, key=lambda s: (s.last_modified_ns, s.vtag))


def make_vtag(actor: Actor, counter: int, now_ns: int) -> str:
    """A sibling's vtag: base62 of a 128-bit hash of the event that made it
    (Riak hashes node and time the same way). (actor, counter) names one
    write uniquely, so equal vtags mean the same sibling on any replica."""
    digest = hashlib.blake2b(f"{actor}\x00{counter}\x00{now_ns}".encode(), digest_size=16).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    while number:
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(reversed(chars)) or "0"


def reconcile(objects: Iterable[StoredObject | None], allow_mult: bool) -> StoredObject | None:
    """Syntactic reconciliation of copies of one key (None = a replica without it).

    Drops every copy whose clock another strictly descends, keeps the rest's
    siblings (deduplicated by vtag) under the merge of their clocks; with
    `allow_mult=False`, keeps only the latest sibling (last-write-wins)."""
    present = [o for o in objects if o is not None]
    if not present:
        return None
    survivors = [o for o in present if not any(dominates(other.clock, o.clock) for other in present)]
    clock = merge(*(o.clock for o in survivors))
    siblings = [s for o in survivors for s in o.siblings]
    if not allow_mult:
        siblings = [_latest(siblings)]
    return _object(clock, siblings)


def _apply_write(
    stored: StoredObject | None,
    context: VClock | None,
    sibling_for: Callable[[str], Sibling],
    actor: Actor,
    now_ns: int,
    allow_mult: bool,
    prune_rules: PruneRules,
) -> StoredObject:
    context = context if context is not None else VClock()
    if stored is None:
        base = context
        kept: tuple[Sibling, ...] = ()
    elif descends(context, stored.clock):
        # The client saw everything stored here: its write replaces it.
        base = context
        kept = ()
    else:
        # Blind, stale or concurrent: the stored siblings stay beside the new value.
        base = merge(stored.clock, context)
        kept = stored.siblings
    clock = base.increment(actor, now_ns)
    new = sibling_for(make_vtag(actor, clock.counter(actor), now_ns))
    siblings = [*kept, new]
    if not allow_mult:
        siblings = [_latest(siblings)]
    elif len(siblings) > SIBLINGS_MAX:
        raise TooManySiblings(len(siblings))
    return _object(clock.prune(now_ns, prune_rules), siblings)


def apply_put(
    stored: StoredObject | None,
    context_clock: VClock | None,
    new_value: NewContent,
    actor: Actor,
    now_ns: int,
    allow_mult: bool,
    prune_rules: PruneRules = RIAK_PRUNE_DEFAULTS,
) -> StoredObject:
    """The coordinator's put (Riak's put semantics; see the module docstring).

    `stored` is the coordinator's own copy (None if it has none),
    `context_clock` the client's `X-Riak-Vclock` (None for a blind put),
    `actor` the coordinating node. Raises TooManySiblings past SIBLINGS_MAX."""

    def sibling_for(vtag: str) -> Sibling:
        return Sibling(new_value.value, new_value.content_type, now_ns, vtag, False, new_value.user_meta)

    return _apply_write(stored, context_clock, sibling_for, actor, now_ns, allow_mult, prune_rules)


def apply_delete(
    stored: StoredObject | None,
    context_clock: VClock | None,
    actor: Actor,
    now_ns: int,
    allow_mult: bool,
    prune_rules: PruneRules = RIAK_PRUNE_DEFAULTS,
) -> StoredObject:
    """The coordinator's delete: a put of a tombstone, with the same rules."""

    def sibling_for(vtag: str) -> Sibling:
        return Sibling(b"", DEFAULT_CONTENT_TYPE, now_ns, vtag, True, ())

    return _apply_write(stored, context_clock, sibling_for, actor, now_ns, allow_mult, prune_rules)


@dataclasses.dataclass(frozen=True, slots=True)
class ReadRepairPlan:
    """What a read found and what it must write back (§5's read repair).

    `result` is None only when every replica said not found. `missing` are
    replicas that said not found although some other had the key; `stale`
    are replicas whose clock does not descend the result's. The coordinator
    sends `result` to both."""

    result: StoredObject | None
    missing: frozenset[Any]
    stale: frozenset[Any]

    @property
    def needs_repair(self) -> frozenset[Any]:
        return self.missing | self.stale


def plan_read_repair(replies: Mapping[R, StoredObject | None], allow_mult: bool) -> ReadRepairPlan:
    """Reconcile the replies of several replicas (replica id -> its copy, None
    for not found) and say which of them are missing or stale."""
    result = reconcile(replies.values(), allow_mult)
    if result is None:
        return ReadRepairPlan(None, frozenset(), frozenset())
    missing = frozenset(r for r, o in replies.items() if o is None)
    stale = frozenset(r for r, o in replies.items() if o is not None and not descends(o.clock, result.clock))
    return ReadRepairPlan(result, missing, stale)


def encode_object(obj: StoredObject) -> bytes:
    """The compact form of an object on a storage node."""
    clock = tuple((e.actor, e.counter, e.timestamp_ns) for e in obj.clock.entries)
    siblings = tuple(
        (s.value, s.content_type, s.last_modified_ns, s.vtag, s.tombstone, s.user_meta) for s in obj.siblings
    )
    return codec.encode((_STORAGE_FORMAT_V1, clock, siblings))


def decode_object(data: bytes) -> StoredObject:
    """The object `encode_object` made; ValueError if `data` is not one."""
    try:
        version, clock, siblings = codec.decode(data)
        if version != _STORAGE_FORMAT_V1:
            raise ValueError(f"unknown object format {version!r}")
        return StoredObject(
            VClock(tuple(Entry(a, c, t) for a, c, t in clock)),
            tuple(
                Sibling(value, content_type, modified, vtag, tombstone, tuple((k, v) for k, v in meta))
                for value, content_type, modified, vtag, tombstone, meta in siblings
            ),
        )
    except ValueError:
        raise
    except Exception as exc:  # a wrong shape fails in unpacking or in the constructors' checks
        raise ValueError(f"not a stored Dynamo object ({type(exc).__name__}: {exc})") from None
