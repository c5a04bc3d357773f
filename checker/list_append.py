"""Elle's list-append checker, for (strong) snapshot isolation.

Transactions (``f="txn"``) append unique elements to lists named by keys and read whole
lists. Because an append never erases anything, one read of a key reveals the order of every
append before it: ``[1, 2, 3]`` says 1, then 2, then 3. From the longest read of each key we
infer its version order (the others must be prefixes of it, or the key has an
``incompatible-order``), then the dependency graph of Adya's thesis:

- ``ww``: T2 appended the element right after T1's (in the key's version order);
- ``wr``: T2 read a list whose last element T1 appended;
- ``rw``: T1 read a version that T2's append came right after (T1 did not see T2);
- with ``strict=True``, ``realtime``: T1 completed before T2 was invoked. Aurora DSQL (and
  dsql) promise *strong* snapshot isolation: a transaction that begins after another was
  acknowledged sees it, which is what these edges check (Elle's ``strong-snapshot-isolation``);
- with ``process=True``, ``process``: T1 came before T2 in one client's session.

An append never read is placed after the last element read of its key (as Elle does), so it
still gets its ``ww`` and ``rw`` edges. ``fail`` transactions are not in the graph (they did
not commit); ``info`` transactions are, since they may have committed: nothing follows them
in real time and their reads are unknown, so one whose appends nobody read is on no cycle.

Anomalies reported (Adya's names; a cycle that needs a realtime or process edge gets the
suffix ``-realtime`` or ``-process``):

- ``G0``: a cycle of ``ww`` edges (write cycle);
- ``G1a``: a read saw an element appended by a failed transaction (aborted read);
- ``G1b``: a read's last element was not its writer's last append to the key (intermediate read);
- ``G1c``: a cycle of ``ww`` and ``wr`` edges (circular information flow);
- ``G-single``: a cycle with exactly one ``rw`` edge (read skew);
- ``G-nonadjacent``: a cycle with several ``rw`` edges, no two adjacent (e.g. a long fork);
- ``lost-update``: two committed transactions read the same version of a key and both
  appended to it;
- ``internal``: a transaction's read disagrees with its own earlier read or append;
- ``duplicate-elements``, ``incompatible-order``, ``garbage-read`` (an element nobody appended).

All of these are forbidden by snapshot isolation. ``G2-item`` (a cycle with two adjacent
``rw`` edges: write skew) is allowed by it and reported under ``allowed``. Each cycle is
explained edge by edge, Elle-style, and is the shortest the search found (see
``checker.graph``: components first, then breadth-first search, never enumeration).

Speed: 10,000 transactions of 1-4 micro-operations over 20 keys and 10 clients check in
about 0.7 s, 1.2 s with ``strict`` (30,000 real-time edges), on one core of the development
machine; histories from the buggy stores (hundreds of cycles) in under 2 s. Measured by
``tests/test_checker.py::test_ten_thousand_txns_check_quickly``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from checker.graph import (
    EDGE_NAMES,
    EDGE_PREFERENCE,
    PROCESS,
    RT,
    RW,
    WR,
    WW,
    Graph,
    nonadjacent_cycle,
    reach_sets,
    shortest_cycle_through,
    shortest_path,
    strongly_connected,
)
from checker.history import Completed, HistoryError, Op, OpType, pair
from checker.report import Anomaly, Result


class _Initial:
    """The version before a key's first append: the empty list (Elle's ``:init``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "init"


INIT: Any = _Initial()
# How many candidate edges a cycle search turns into example cycles, keeping the shortest;
# existence is decided exactly beforehand, this only bounds the work spent on minimality.
CANDIDATES_MAX = 32
# How many start nodes a search for any shortest cycle in a component tries.
STARTS_MAX = 32

# Explanations show only the last elements of a long list: the end is what orders things.
SHOWN_ELEMENTS_MAX = 6


@dataclass(frozen=True, slots=True)
class _Why:
    """Why an edge a -> b exists: the key and the elements involved."""

    key: Any
    element: Any  # a's element (ww, wr), the version b read (rw: INIT for the empty list)
    later: Any = None  # b's appended element (ww, rw)


def check(history: Iterable[Op] | Iterable[Completed], strict: bool = False,
          process: bool = False) -> Result:
    """Check a list-append history for the anomalies snapshot isolation forbids.

    ``strict`` adds real-time edges (strong snapshot isolation); ``process`` adds
    per-client session order.
    """
    return _Checker(history, strict, process).run()


def _fmt(value: Any) -> str:
    if value is INIT:
        return "the initial empty list"
    if isinstance(value, tuple):
        if len(value) > SHOWN_ELEMENTS_MAX:
            tail = " ".join(_fmt(v) for v in value[-SHOWN_ELEMENTS_MAX:])
            return f"[... ({len(value) - SHOWN_ELEMENTS_MAX} more) {tail}]"
        return "[" + " ".join(_fmt(v) for v in value) + "]"
    return repr(value)


def _txn_text(txn: Completed) -> str:
    mops = " ".join(f"[{m[0]} {m[1]!r} {_fmt(m[2]) if m[2] is not None else 'nil'}]" for m in txn.value)
    return f"{{process {txn.process}, {txn.type}, op {txn.invoke.index}: {mops}}}"


class _Checker:
    """One check of one history: indexes, then non-cycle checks, then the graph and its cycles."""

    def __init__(self, history: Iterable[Op] | Iterable[Completed], strict: bool, process: bool) -> None:
        items = list(history)
        completed = items if items and isinstance(items[0], Completed) else pair(items)  # type: ignore[arg-type]
        self.txns = [c for c in completed if c.f == "txn"]
        self.strict = strict
        self.process = process
        self.result = Result("list-append" + (" (strict)" if strict else ""))
        # Nodes: transactions that may have committed (ok and info), in invocation order.
        self.nodes = [t for t in self.txns if t.type is not OpType.FAIL]
        self.node_of = {id(t): n for n, t in enumerate(self.nodes)}
        self.graph = Graph(len(self.nodes))
        self.why: dict[tuple[int, int, int], _Why] = {}
        # What each committed transaction did, reads as tuples. In an ok completion a read of
        # nil is the empty list (as in Jepsen); an info transaction's reads are unknown.
        self.mops: list[tuple] = [
            tuple((m[0], m[1], tuple(m[2] or ())) if m[0] == "r" else tuple(m) for m in t.value)
            if t.type is OpType.OK else () for t in self.nodes]

    # -- preparation ---------------------------------------------------------------------------

    def _verify(self) -> None:
        seen: dict[Any, set[Any]] = defaultdict(set)
        for txn in self.txns:
            if not isinstance(txn.invoke.value, tuple | list):
                raise HistoryError(f"op {txn.invoke.index}: a txn's value must be a list of micro-ops")
            for mop in txn.invoke.value:
                if len(mop) != 3 or mop[0] not in ("append", "r"):
                    raise HistoryError(f"op {txn.invoke.index}: unexpected micro-op {mop!r}")
                if mop[0] == "append":
                    if mop[2] in seen[mop[1]]:
                        raise HistoryError(f"element {mop[2]!r} appended to key {mop[1]!r} more than "
                                           f"once; list-append needs unique elements per key")
                    seen[mop[1]].add(mop[2])

    def _index(self) -> None:
        self.writer: dict[tuple[Any, Any], int] = {}  # (key, element) -> node
        self.failed_writer: dict[tuple[Any, Any], Completed] = {}
        self.intermediate: dict[tuple[Any, Any], int] = {}
        for txn in self.txns:
            last: dict[Any, Any] = {}
            for mop in txn.invoke.value:
                if mop[0] == "append":
                    if txn.type is OpType.FAIL:
                        self.failed_writer[(mop[1], mop[2])] = txn
                    else:
                        node = self.node_of[id(txn)]
                        self.writer[(mop[1], mop[2])] = node
                        if mop[1] in last:
                            self.intermediate[(mop[1], last[mop[1]])] = node
                    last[mop[1]] = mop[2]
        # Reads of committed transactions: key -> set of distinct values read, and
        # (key, last element or INIT) -> nodes that read exactly that version.
        # (dicts as ordered sets: ties between equally long reads go to the first read)
        self.values_read: dict[Any, dict[tuple, None]] = defaultdict(dict)
        self.readers: dict[tuple[Any, Any], list[int]] = defaultdict(list)
        for node in range(len(self.nodes)):
            for mop in self.mops[node]:
                if mop[0] == "r":
                    value = mop[2]
                    if value:
                        self.values_read[mop[1]][value] = None
                    self.readers[(mop[1], value[-1] if value else INIT)].append(node)
        # Per key, the elements read that no committed-or-unknown transaction appended (a
        # failed one did, or nobody): found once per key so that each read is a set test.
        self.suspect: dict[Any, set[Any]] = {}
        for key, values in self.values_read.items():
            suspect = {e for e in set().union(*values) if (key, e) not in self.writer}
            if suspect:
                self.suspect[key] = suspect

    def _version_orders(self) -> None:
        """Each key's append order from its longest read; reports incompatible orders."""
        self.order: dict[Any, dict[Any, int]] = {}
        self.order_list: dict[Any, list[Any]] = {}
        for key, values in self.values_read.items():
            ordered = sorted(values, key=len)
            for shorter, longer in zip(ordered, ordered[1:], strict=False):
                if longer[:len(shorter)] != shorter:
                    self.result.add(Anomaly("incompatible-order",
                                            f"key {key!r} was read as {_fmt(shorter)} and as {_fmt(longer)}; "
                                            f"neither is a prefix of the other",
                                            {"key": key, "values": [shorter, longer]}))
                    break
            elements = list(dict.fromkeys(ordered[-1]))
            self.order_list[key] = elements
            self.order[key] = {e: i for i, e in enumerate(elements)}

    # -- checks that need no graph -------------------------------------------------------------

    def _single_txn_checks(self) -> None:
        first_reader_of: dict[tuple[Any, Any], list[int]] = defaultdict(list)
        for node, txn in enumerate(self.nodes):
            if txn.type is not OpType.OK:
                continue
            self._internal(txn, self.mops[node])
            ext_read: dict[Any, Any] = {}
            touched: set[Any] = set()
            appended: set[Any] = set()
            for kind, key, value in self.mops[node]:
                if kind == "append":
                    touched.add(key)
                    appended.add(key)
                    continue
                if key not in touched:
                    ext_read[key] = value[-1] if value else INIT
                    touched.add(key)
                self._read_checks(node, txn, key, value)
            for key in appended:
                if key in ext_read:
                    first_reader_of[(key, ext_read[key])].append(node)
        for (key, version), nodes in first_reader_of.items():
            if len(nodes) > 1:
                names = ", ".join(_txn_text(self.nodes[n]) for n in nodes)
                self.result.add(Anomaly("lost-update",
                                        f"{len(nodes)} committed transactions read {_fmt(version)} of key "
                                        f"{key!r} and appended to it: {names}",
                                        {"key": key, "version": version,
                                         "ops": [self.nodes[n].invoke.index for n in nodes]}))

    def _read_checks(self, node: int, txn: Completed, key: Any, value: tuple) -> None:
        def where() -> str:
            return f"{_txn_text(txn)} read key {key!r} = {_fmt(value)}"

        if len(set(value)) != len(value):
            dups = sorted({e for e in value if value.count(e) > 1}, key=repr)
            self.result.add(Anomaly("duplicate-elements", f"{where()}, with {dups} more than once",
                                    {"op": txn.invoke.index, "key": key, "duplicates": dups}))
        suspect = self.suspect.get(key)
        for element in (e for e in value if e in suspect) if suspect and not suspect.isdisjoint(value) else ():
            writer = self.failed_writer.get((key, element))
            if writer is not None:
                self.result.add(Anomaly("G1a", f"{where()}, which has {element!r}, appended by the failed "
                                               f"transaction {_txn_text(writer)}",
                                        {"op": txn.invoke.index, "key": key, "element": element,
                                         "writer": writer.invoke.index}))
            elif (key, element) not in self.writer:
                self.result.add(Anomaly("garbage-read", f"{where()}, which has {element!r}, never appended",
                                        {"op": txn.invoke.index, "key": key, "element": element}))
        if value:
            writer_node = self.intermediate.get((key, value[-1]))
            if writer_node is not None and writer_node != node:
                writer = self.nodes[writer_node]
                self.result.add(Anomaly("G1b", f"{where()}, ending in {value[-1]!r}, an intermediate append "
                                               f"of {_txn_text(writer)}",
                                        {"op": txn.invoke.index, "key": key, "element": value[-1],
                                         "writer": writer.invoke.index}))

    def _internal(self, txn: Completed, mops: tuple) -> None:
        """Cerone, Bernardi and Gotsman's INT: reads agree with the txn's own earlier reads and appends."""
        state: dict[Any, tuple[bool, list]] = {}  # key -> (prefix known, expected elements)
        for kind, key, value in mops:
            if kind == "append":
                known, elements = state.get(key, (False, []))
                state[key] = (known, [*elements, value])
                continue
            value = list(value)
            expected = state.get(key)
            if expected is not None:
                known, elements = expected
                if known:
                    bad = value != elements
                else:
                    bad = len(value) < len(elements) or (elements and value[-len(elements):] != elements)
                if bad:
                    shown = _fmt(tuple(elements)) if known else "[... " + " ".join(map(repr, elements)) + "]"
                    self.result.add(Anomaly("internal", f"{_txn_text(txn)} read key {key!r} = "
                                                        f"{_fmt(tuple(value))}, but its own earlier "
                                                        f"operations imply {shown}",
                                            {"op": txn.invoke.index, "key": key}))
                    return
            state[key] = (True, value)

    # -- the dependency graph ------------------------------------------------------------------

    def _link(self, a: int, b: int, relation: int, why: _Why | None = None) -> None:
        if self.graph.link(a, b, relation) and why is not None:
            self.why[(a, b, relation)] = why

    def _previous(self, key: Any, element: Any) -> Any:
        """The element appended just before ``element`` (INIT if none)."""
        position = self.order.get(key, {}).get(element)
        if position is None:  # never read: after everything that was
            elements = self.order_list.get(key)
            return elements[-1] if elements else INIT
        return self.order_list[key][position - 1] if position > 0 else INIT

    def _build_graph(self) -> None:
        for node, txn in enumerate(self.nodes):
            if txn.type is OpType.OK:
                for kind, key, value in self.mops[node]:
                    if kind == "r" and value:
                        writer = self.writer.get((key, value[-1]))
                        if writer is not None:
                            self._link(writer, node, WR, _Why(key, value[-1]))
            for kind, key, element in txn.invoke.value:
                if kind != "append":
                    continue
                previous = self._previous(key, element)
                if previous is not INIT:
                    writer = self.writer.get((key, previous))
                    if writer is not None:
                        self._link(writer, node, WW, _Why(key, previous, element))
                for reader in self.readers.get((key, previous), ()):
                    self._link(reader, node, RW, _Why(key, previous, element))
        if self.strict:
            self._realtime_edges()
        if self.process:
            last_of: dict[int, int] = {}
            for node, txn in enumerate(self.nodes):
                if txn.process in last_of:
                    self._link(last_of[txn.process], node, PROCESS)
                last_of[txn.process] = node

    def _realtime_edges(self) -> None:
        """T1 -> T2 when T1 completed ok before T2 was invoked, transitively reduced.

        A sweep over the events keeps a frontier: the completed transactions no later
        completion has yet covered. An invocation links from each frontier member; a
        completion replaces, in the frontier, those it was linked from (it now implies them).
        """
        events: list[tuple[int, bool, int]] = []
        for node, txn in enumerate(self.nodes):
            events.append((txn.invoke.index, False, node))
            if txn.type is OpType.OK:
                events.append((txn.completion.index, True, node))
        events.sort()
        frontier: set[int] = set()
        preceded_by: dict[int, tuple[int, ...]] = {}
        for _, is_completion, node in events:
            if is_completion:
                frontier.difference_update(preceded_by.pop(node, ()))
                frontier.add(node)
            else:
                preceded_by[node] = tuple(frontier)
                for earlier in frontier:
                    self._link(earlier, node, RT)

    # -- cycles --------------------------------------------------------------------------------

    def _edge_relation(self, a: int, b: int, allowed: int) -> int:
        mask = self.graph.succ[a][b] & allowed
        for relation in EDGE_PREFERENCE:
            if mask & relation:
                return relation
        raise AssertionError(f"no edge {a} -> {b} in mask {allowed}")

    def _classify(self, relations: list[int]) -> str:
        rw_positions = [i for i, r in enumerate(relations) if r == RW]
        if not rw_positions:
            base = "G1c" if WR in relations else "G0"
        elif len(rw_positions) == 1:
            base = "G-single"
        else:
            count = len(relations)
            adjacent = any((i + 1) % count in rw_positions for i in rw_positions)
            base = "G2-item" if adjacent else "G-nonadjacent"
        if RT in relations:
            return base + "-realtime"
        if PROCESS in relations:
            return base + "-process"
        return base

    def _explain_edge(self, a: int, b: int, relation: int, names: dict[int, str]) -> str:
        why = self.why.get((a, b, relation))
        na, nb = names[a], names[b]
        if relation == WW:
            return (f"{na} < {nb}, because {nb} appended {why.later!r} after {na} appended "
                    f"{why.element!r} to {why.key!r}")
        if relation == WR:
            return f"{na} < {nb}, because {nb} observed {na}'s append of {why.element!r} to {why.key!r}"
        if relation == RW:
            if why.element is INIT:
                return (f"{na} < {nb}, because {na} observed the initial (empty) state of {why.key!r}, "
                        f"which {nb} changed by appending {why.later!r}")
            return (f"{na} < {nb}, because {na} did not observe {nb}'s append of {why.later!r} to "
                    f"{why.key!r}")
        if relation == RT:
            return (f"{na} < {nb}, because {na} completed (op {self.nodes[a].completion.index}) before "
                    f"{nb} began (op {self.nodes[b].invoke.index})")
        return f"{na} < {nb}, because process {self.nodes[a].process} executed {na} before {nb}"

    def _report_cycle(self, cycle: list[int], allowed_mask: int, first_relation: int | None,
                      allowed: bool = False, relations: list[int] | None = None) -> str:
        """Explain ``cycle`` ([n0, n1, ..., n0]); returns its kind.

        Each edge is explained by the strongest relation in ``allowed_mask`` (the first by
        ``first_relation`` if given), unless ``relations`` says which ones the search used.
        """
        if relations is None:
            relations = []
            for i, (a, b) in enumerate(zip(cycle, cycle[1:], strict=False)):
                if i == 0 and first_relation is not None:
                    relations.append(first_relation)
                else:
                    relations.append(self._edge_relation(a, b, allowed_mask))
        kind = self._classify(relations)
        distinct = cycle[:-1]
        names = {node: f"T{i + 1}" for i, node in enumerate(distinct)}
        lines = ["Let:"]
        lines += [f"  {names[node]} = {_txn_text(self.nodes[node])}" for node in distinct]
        lines.append("Then:")
        lines += [f"  - {self._explain_edge(a, b, r, names)}{';' if i < len(relations) - 1 else '.'}"
                  for i, (a, b, r) in enumerate(zip(cycle, cycle[1:], relations, strict=False))]
        lines.append(f"  - However, {names[cycle[0]]} < {names[cycle[0]]}: a cycle.")
        anomaly = Anomaly(kind, "\n".join(lines),
                          {"cycle": [self.nodes[n].invoke.index for n in distinct],
                           "edges": [EDGE_NAMES[r] for r in relations]})
        if allowed:
            self.result.allow(anomaly)
        else:
            self.result.add(anomaly)
        return kind

    def _cycle_with(self, members: set[int], required: int, others: int) -> tuple[list[int], int] | None:
        """The shortest found cycle in ``members`` that uses a ``required`` edge and else ``others``.

        It exists iff some ``required`` edge a -> b has b reaching a by ``required | others``.
        """
        mask = required | others
        successors = self.graph.neighbours(members, mask)
        component_of, reach = reach_sets(members, successors)
        best: list[int] | None = None
        tried = 0
        for a in members:
            for b, edge_mask in self.graph.succ[a].items():
                if not edge_mask & required or b not in members:
                    continue
                if not reach[component_of[b]] >> component_of[a] & 1:
                    continue
                back = shortest_path(b, a, successors)
                if back is not None and (best is None or len(back) + 1 < len(best)):
                    best = [a, *back]
                tried += 1
                if tried >= CANDIDATES_MAX or (best is not None and len(best) <= 3):
                    break
            if tried >= CANDIDATES_MAX or (best is not None and len(best) <= 3):
                break
        if best is None:
            return None
        first = self._edge_relation(best[0], best[1], required)
        return best, first

    def _cycle_with_single_rw(self, members: set[int], plain: int) -> tuple[list[int], int] | None:
        """A shortest found cycle with exactly one RW edge a -> b: b reaches a by ``plain`` edges."""
        successors = self.graph.neighbours(members, plain)
        component_of, reach = reach_sets(members, successors)
        best: list[int] | None = None
        tried = 0
        for a in members:
            for b, edge_mask in self.graph.succ[a].items():
                if not edge_mask & RW or b not in members:
                    continue
                if not reach[component_of[b]] >> component_of[a] & 1:
                    continue
                back = shortest_path(b, a, successors)
                if back is not None and (best is None or len(back) + 1 < len(best)):
                    best = [a, *back]
                tried += 1
                if tried >= CANDIDATES_MAX:
                    break
            if tried >= CANDIDATES_MAX:
                break
        return (best, RW) if best is not None else None

    def _shortest_any(self, members: set[int], mask: int) -> list[int] | None:
        successors = self.graph.neighbours(members, mask)
        best: list[int] | None = None
        for start in list(members)[:STARTS_MAX]:
            cycle = shortest_cycle_through(start, successors)
            if cycle is not None and (best is None or len(cycle) < len(best)):
                best = cycle
        return best

    def _search_component(self, members: set[int]) -> None:
        extra = (RT if self.strict else 0) | (PROCESS if self.process else 0)
        found: set[str] = set()

        def report(hit: tuple[list[int], int] | None, mask: int) -> None:
            if hit is not None:
                found.add(self._report_cycle(hit[0], mask, hit[1]))

        # G0: write cycles.
        for sub in strongly_connected(members, self.graph.neighbours(members, WW)):
            if len(sub) > 1:
                cycle = self._shortest_any(set(sub), WW)
                if cycle is not None:
                    found.add(self._report_cycle(cycle, WW, None))
        # G1c: ww/wr cycles with a wr edge; then, if checking real time or sessions, those
        # cycles that need such an edge.
        report(self._cycle_with(members, WR, WW), WW | WR)
        if extra:
            report(self._cycle_with(members, extra, WW | WR), WW | WR | extra)
        # G-single: exactly one rw edge.
        single = self._cycle_with_single_rw(members, WW | WR)
        if single is None and extra:
            single = self._cycle_with_single_rw(members, WW | WR | extra)
            report(single, WW | WR | extra)
        else:
            report(single, WW | WR)
        # G-nonadjacent: several rw edges, never two in a row. A G-single is one already.
        if single is None:
            walk = nonadjacent_cycle(self.graph, members, WW | WR | extra, CANDIDATES_MAX)
            if walk is not None:
                relations = [RW if by_rw else self._edge_relation(a, b, WW | WR | extra)
                             for (a, _), (b, by_rw) in zip(walk, walk[1:], strict=False)]
                found.add(self._report_cycle([node for node, _ in walk], 0, None, relations=relations))
        # Nothing forbidden: then every cycle here has two adjacent rw edges (G2-item, write
        # skew), which snapshot isolation allows. Show one.
        if not found:
            cycle = self._shortest_any(members, WW | WR | RW | extra)
            if cycle is not None:
                self._report_cycle(cycle, WW | WR | RW | extra, None, allowed=True)

    def _cycles(self) -> None:
        every = WW | WR | RW | RT | PROCESS
        components = strongly_connected(range(len(self.nodes)), self.graph.neighbours(range(len(self.nodes)), every))
        cyclic = [c for c in components if len(c) > 1]
        self.result.counts["cyclic-components"] = len(cyclic)
        for component in cyclic:
            self._search_component(set(component))

    def run(self) -> Result:
        self._verify()
        self._index()
        self._version_orders()
        self._single_txn_checks()
        self._build_graph()
        self._cycles()
        counts = self.result.counts
        counts["txns"] = len(self.txns)
        for op_type in (OpType.OK, OpType.FAIL, OpType.INFO):
            counts[str(op_type)] = sum(1 for t in self.txns if t.type is op_type)
        counts.update(self.graph.edge_counts())
        return self.result
