"""How many up-to-date copies each key of a bucket has, and where: an observation of our own.

The paper's durability claim about Dynamo is that a key's replicas are "the
N nodes of its preference list" only in the steady state: after a node is
lost, a membership change or writes taken by fallbacks, some keys have
fewer copies in place until handoff, read repair or anti-entropy catch up,
and nothing in Dynamo (or Riak) tells an operator which. `dsql compare`
plots exactly that over time, so this module counts it, from every node's
own copies (`interface.Holdings`). Riak has no such API; this is a dsql
extension (`GET /dsql/copies/<bucket>`, kv/dynamo/http.py).

Definitions, per key, over the copies the reachable nodes hold:

* The newest state of the key is the merge of every copy's vector clock
  (with concurrent copies, no single copy is the newest: their merge is).
* An *up-to-date copy* is one whose clock descends that merge: it has seen
  every write any copy has seen. A copy that has not is *stale*.
* Its *primaries* are its preference list under the current ring (the first
  n_val nodes); a copy held anywhere else is *hinted* (a fallback's, or left
  by a membership change until handoff moves it).
* `versions` counts the distinct newest clocks among the copies (those no
  other copy's clock strictly descends): 1 once replicas agree, more while
  concurrent writes sit on different nodes unreconciled.

A key that no reachable node holds is not in the report: the report cannot
know it existed (a caller that knows what it wrote counts those itself).
A node that did not answer is listed as unreachable and counted as holding
nothing. This module is pure: the gathering is `DynamoService.copies`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kv.dynamo.objects import StoredObject, decode_object
from kv.dynamo.ring import Ring, hash_key
from kv.dynamo.vclock import VClock, descends, dominates, merge


@dataclass(frozen=True, slots=True)
class KeyCopies:
    """Where one key's copies are and which of them are up to date (nodes in ring order)."""

    key: bytes
    primaries: tuple[str, ...]
    up_to_date: tuple[str, ...]  # every node holding an up-to-date copy, primary or not
    stale: tuple[str, ...]  # nodes holding a copy that misses some write another copy has
    hinted: tuple[str, ...]  # nodes outside the preference list holding a copy (up to date or not)
    versions: int
    deleted: bool  # the newest state is a tombstone

    @property
    def up_to_date_primaries(self) -> int:
        return sum(1 for node in self.up_to_date if node in self.primaries)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": _text(self.key), "primaries": list(self.primaries), "up_to_date": list(self.up_to_date),
            "up_to_date_primaries": self.up_to_date_primaries, "stale": list(self.stale),
            "hinted": list(self.hinted), "versions": self.versions, "deleted": self.deleted,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class CopiesReport:
    """Every key of a bucket some reachable node holds, with its copies, and the totals."""

    bucket: bytes
    n_val: int  # the bucket's n_val, capped at the ring's size (what a key can have)
    ring_version: int
    nodes: tuple[str, ...]  # the ring's members, all asked
    unreachable: tuple[str, ...]
    truncated: bool  # some node held more than the report takes: the counts cover part of the bucket
    held: Mapping[str, int]  # copies per node (of this bucket, any version)
    undecodable: int  # copies whose bytes did not decode (counted nowhere else)
    keys: tuple[KeyCopies, ...]

    @property
    def min_up_to_date(self) -> int:
        return min((len(k.up_to_date) for k in self.keys), default=0)

    @property
    def mean_up_to_date(self) -> float:
        return sum(len(k.up_to_date) for k in self.keys) / len(self.keys) if self.keys else 0.0

    @property
    def below_n_val(self) -> int:
        """Keys with fewer than n_val up-to-date copies anywhere."""
        return sum(1 for k in self.keys if len(k.up_to_date) < self.n_val)

    @property
    def min_up_to_date_primaries(self) -> int:
        return min((k.up_to_date_primaries for k in self.keys), default=0)

    @property
    def below_n_val_primaries(self) -> int:
        """Keys whose preference list holds fewer than n_val up-to-date copies."""
        return sum(1 for k in self.keys if k.up_to_date_primaries < self.n_val)

    def totals(self) -> dict[str, Any]:
        return {
            "keys": len(self.keys), "min_up_to_date": self.min_up_to_date,
            "mean_up_to_date": round(self.mean_up_to_date, 4), "below_n_val": self.below_n_val,
            "min_up_to_date_primaries": self.min_up_to_date_primaries,
            "below_n_val_primaries": self.below_n_val_primaries,
            "stale_copies": sum(len(k.stale) for k in self.keys),
            "hinted_copies": sum(len(k.hinted) for k in self.keys),
            "multiple_versions": sum(1 for k in self.keys if k.versions > 1),
        }  # fmt: skip

    def to_json(self, *, with_keys: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "bucket": _text(self.bucket), "n_val": self.n_val, "ring_version": self.ring_version,
            "nodes": list(self.nodes), "unreachable": list(self.unreachable), "truncated": self.truncated,
            "held": dict(self.held), "undecodable": self.undecodable, "totals": self.totals(),
        }  # fmt: skip
        if with_keys:
            out["keys"] = [k.to_json() for k in self.keys]
        return out


def key_copies(
    key: bytes, primaries: tuple[str, ...], copies: Mapping[str, StoredObject], order: Iterable[str]
) -> KeyCopies:
    """One key's copies (node -> object, at least one), judged against each other."""
    assert copies, "a key in the report has at least one copy"
    newest = merge(*(obj.clock for obj in copies.values()))
    holders = [node for node in order if node in copies]
    up_to_date = tuple(node for node in holders if descends(copies[node].clock, newest))
    clocks: list[VClock] = []
    for obj in copies.values():
        if obj.clock not in clocks:
            clocks.append(obj.clock)
    versions = sum(1 for c in clocks if not any(dominates(other, c) for other in clocks))
    deleted = bool(up_to_date) and all(copies[node].deleted for node in up_to_date)
    return KeyCopies(
        key=key, primaries=primaries, up_to_date=up_to_date,
        stale=tuple(node for node in holders if node not in up_to_date),
        hinted=tuple(node for node in holders if node not in primaries),
        versions=versions, deleted=deleted,
    )  # fmt: skip


def build_report(
    bucket: bytes, n_val: int, ring: Ring, holdings: Mapping[str, Iterable[tuple[bytes, bytes]]],
    unreachable: Iterable[str] = (), truncated: bool = False,
) -> CopiesReport:  # fmt: skip
    """The report from each reachable node's copies of `bucket` as (key, encoded object)."""
    nodes = tuple(ring.members)
    n = min(n_val, len(nodes))
    by_key: dict[bytes, dict[str, StoredObject]] = {}
    held: dict[str, int] = {}
    undecodable = 0
    for node, items in holdings.items():
        count = 0
        for key, data in items:
            try:
                obj = decode_object(data)
            except ValueError:
                undecodable += 1
                continue
            by_key.setdefault(key, {})[node] = obj
            count += 1
        held[node] = count
    keys = []
    for key in sorted(by_key):
        primaries = tuple(node for _index, node in ring.preference_list(hash_key(bucket, key), n))
        keys.append(key_copies(key, primaries, by_key[key], (*nodes, *sorted(set(by_key[key]) - set(nodes)))))
    return CopiesReport(
        bucket=bucket, n_val=n, ring_version=ring.version, nodes=nodes, unreachable=tuple(sorted(unreachable)),
        truncated=truncated, held={node: held.get(node, 0) for node in sorted(held)}, undecodable=undecodable,
        keys=tuple(keys),
    )  # fmt: skip


def _text(name: bytes) -> str:
    return name.decode("utf-8", "replace")
