"""A dependency graph with typed edges, and the cycle searches the transactional checkers need.

Nodes are small integers (transactions); each edge ``a -> b`` carries a bit mask of the
relations that order ``a`` before ``b``: ``WW`` (b overwrote a's write), ``WR`` (b read a's
write), ``RW`` (b overwrote what a read: an anti-dependency), ``RT`` (a committed before b
began, in real time) and ``PROCESS`` (a came before b in one client's session).

Cycle searches never enumerate cycles, which is exponential. They use Tarjan's strongly
connected components (linear), then answer "is there a cycle made of these edges that uses
at least one of those?" exactly from components, and only then look for a *short* example
with breadth-first search, so that a reported cycle is as small as the search can make it:

- a cycle through edge ``a -> b`` using edges of mask M exists iff ``b`` reaches ``a`` by M;
  ``reach_sets`` answers that for every node of a component at once, with one Python
  integer per condensed node used as a bit set;
- a cycle whose ``RW`` edges are never adjacent (Adya's G-nonadjacent, whose absence is
  exactly snapshot isolation in Cerone and Gotsman's characterisation) is a cycle of the
  product graph whose states remember whether the last edge was ``RW``; ``nonadjacent_cycle``
  searches that graph.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable

WW = 1
WR = 2
RW = 4
RT = 8
PROCESS = 16

EDGE_NAMES = {WW: "ww", WR: "wr", RW: "rw", RT: "realtime", PROCESS: "process"}
# When an edge carries several relations, a cycle is explained by the strongest one: a
# dependency before real-time or session order, and an anti-dependency only if nothing else.
EDGE_PREFERENCE = (WW, WR, PROCESS, RT, RW)

Adjacency = dict[int, dict[int, int]]


class Graph:
    """Typed edges between integer nodes: ``succ[a][b]`` is the mask of relations a -> b."""

    def __init__(self, node_count: int) -> None:
        self.node_count = node_count
        self.succ: Adjacency = {node: {} for node in range(node_count)}

    def link(self, a: int, b: int, relation: int) -> bool:
        """Add relation ``a -> b``; false if it was already there. Self-edges are ignored."""
        if a == b:
            return False
        edges = self.succ[a]
        mask = edges.get(b, 0)
        if mask & relation:
            return False
        edges[b] = mask | relation
        return True

    def edge_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(EDGE_NAMES.values(), 0)
        for edges in self.succ.values():
            for mask in edges.values():
                for bit, name in EDGE_NAMES.items():
                    if mask & bit:
                        counts[name] += 1
        return counts

    def neighbours(self, members: Collection[int], mask: int) -> Callable[[int], Iterable[int]]:
        """The successor function of the subgraph on ``members`` keeping edges in ``mask``."""
        succ = self.succ

        def successors(node: int) -> Iterable[int]:
            return [b for b, m in succ[node].items() if m & mask and b in members]

        return successors


def strongly_connected(nodes: Iterable[int], successors: Callable[[int], Iterable[int]]) -> list[list[int]]:
    """Tarjan's algorithm, iterative; components come out in reverse topological order."""
    index_of: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    components: list[list[int]] = []
    counter = 0
    for root in nodes:
        if root in index_of:
            continue
        index_of[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(successors(root)))]
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index_of:
                    index_of[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(successors(child))))
                    advanced = True
                    break
                if child in on_stack and index_of[child] < low[node]:
                    low[node] = index_of[child]
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                if low[node] < low[parent]:
                    low[parent] = low[node]
            if low[node] == index_of[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def reach_sets(nodes: Collection[int], successors: Callable[[int], Iterable[int]]
               ) -> tuple[dict[int, int], list[int]]:
    """For each node its component number, and for each component the bit set it reaches.

    ``reach[component_of[b]] >> component_of[a] & 1`` says whether ``b`` reaches ``a``.
    Tarjan emits sinks first, so each component's successors are finished before it.
    """
    components = strongly_connected(nodes, successors)
    component_of = {node: number for number, members in enumerate(components) for node in members}
    reach: list[int] = []
    for number, members in enumerate(components):
        bits = 1 << number
        for node in members:
            for child in successors(node):
                child_component = component_of[child]
                if child_component != number:
                    bits |= reach[child_component]
        reach.append(bits)
    return component_of, reach


def shortest_path(source: int, target: int, successors: Callable[[int], Iterable[int]]) -> list[int] | None:
    """The nodes of a shortest path from ``source`` to ``target`` (both included), by BFS."""
    if source == target:
        return [source]
    parent = {source: source}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for child in successors(node):
            if child in parent:
                continue
            parent[child] = node
            if child == target:
                path = [child]
                while path[-1] != source:
                    path.append(parent[path[-1]])
                path.reverse()
                return path
            queue.append(child)
    return None


def shortest_cycle_through(start: int, successors: Callable[[int], Iterable[int]]) -> list[int] | None:
    """A shortest cycle through ``start`` as its node list ``[start, ..., start]``, or None."""
    parent = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in successors(node):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                path.reverse()
                return [*path, start]
            if child not in parent:
                parent[child] = node
                queue.append(child)
    return None


def nonadjacent_cycle(graph: Graph, members: Collection[int], plain_mask: int,
                      candidates_max: int = 32) -> list[tuple[int, bool]] | None:
    """A shortest cycle (closed walk) on ``members`` with RW edges, no two of them adjacent.

    Returned as ``[(n0, _), (n1, rw1), ..., (n0, rw0)]``: each node with whether the walk
    entered it by an RW edge.

    Other edges may be any of ``plain_mask``. States are ``2 * node + r``, with ``r`` = 1 when
    the state was entered by an RW edge; from such a state only plain edges leave. A closed
    walk of this product graph that takes an RW edge is what we want. Existence is exact
    (an RW edge inside one component of the product graph); at most ``candidates_max`` such
    edges are turned into example cycles, keeping the shortest.
    """
    succ = graph.succ

    def successors(state: int) -> list[int]:
        node, after_rw = divmod(state, 2)
        out = []
        for b, mask in succ[node].items():
            if b not in members:
                continue
            if mask & plain_mask:
                out.append(2 * b)
            if mask & RW and not after_rw:
                out.append(2 * b + 1)
        return out

    states = [2 * node + r for node in members for r in (0, 1)]
    components = strongly_connected(states, successors)
    component_of = {state: number for number, states_ in enumerate(components) for state in states_}
    best: list[int] | None = None
    tried = 0
    for a in members:
        for b, mask in succ[a].items():
            if not mask & RW or b not in members:
                continue
            if component_of[2 * a] != component_of[2 * b + 1]:
                continue
            back = shortest_path(2 * b + 1, 2 * a, successors)
            if back is not None and (best is None or len(back) + 1 < len(best)):
                best = [2 * a, *back]
            tried += 1
            if tried >= candidates_max:
                break
        if tried >= candidates_max:
            break
    if best is None:
        return None
    return [(state // 2, bool(state % 2)) for state in best]
