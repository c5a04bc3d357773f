"""GROUP BY with grouping sets: ROLLUP, CUBE, GROUPING SETS and GROUPING().

A GROUP BY clause is a list of items, each of which stands for a list of
grouping sets: a plain expression for the one set holding it, `ROLLUP (a, b)`
for (a, b), (a), (), `CUBE (a, b)` for every subset, `GROUPING SETS (...)`
for the union of what its elements stand for, and `()` for the empty set.
The clause as a whole is the cartesian product of its items (PostgreSQL's
expand_grouping_sets), so `GROUP BY a, ROLLUP (b)` is (a, b), (a).

`flatten` turns the parse tree into that list of sets over the grouping
expressions' parse nodes, leaving binding to the caller, which knows GROUP
BY's name rules. The sets are kept as PostgreSQL keeps them: duplicates stay
(each set gives its own rows) unless `GROUP BY DISTINCT` removes them
(`distinct_sets`, once the expressions are bound and so comparable).
"""

from __future__ import annotations

import itertools

from qp.errors import SqlError
from qp.parse.parser import node_body, node_kind

# PostgreSQL's limits (parse_agg.c and gram.y): CUBE's element count, and the
# number of sets a clause may expand to, bound the work a query can ask for.
CUBE_ELEMENTS_MAX = 12
GROUPING_SETS_MAX = 4096
# GROUPING()'s result is an int4 bit mask: one bit per argument.
GROUPING_ARGS_MAX = 31


def flatten(group_clause: list[dict]) -> tuple[list[dict], list[tuple[int, ...]] | None]:
    """The grouping expressions' parse nodes and the grouping sets over them
    (tuples of indexes into the nodes), or None for the sets when the clause is
    a plain list of expressions (one set holding them all)."""
    nodes: list[dict] = []
    per_item: list[list[tuple[int, ...]]] = []
    has_sets = False
    for item in group_clause:
        if node_kind(item) == "GroupingSet" or _is_parenthesized_list(item):
            has_sets = has_sets or node_kind(item) == "GroupingSet"
            per_item.append(_item_sets(item, nodes))
        else:
            nodes.append(item)
            per_item.append([(len(nodes) - 1,)])
    if not has_sets:
        return nodes, None
    count = 1
    for sets in per_item:
        count *= len(sets)
        if count > GROUPING_SETS_MAX:
            raise SqlError("54001", f"too many grouping sets present (maximum {GROUPING_SETS_MAX})")
    return nodes, [
        tuple(i for part in combination for i in part) for combination in itertools.product(*per_item)
    ]


def distinct_sets(grouping_sets: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """GROUP BY DISTINCT: each set once (sets compare as sets of expressions)."""
    seen: set[frozenset[int]] = set()
    unique = []
    for grouping_set in grouping_sets:
        if frozenset(grouping_set) not in seen:
            seen.add(frozenset(grouping_set))
            unique.append(grouping_set)
    return unique


def _is_parenthesized_list(node: dict) -> bool:
    """`(a, b)` in GROUP BY: a list of expressions, not a row value (ROW(a, b) is one)."""
    return node_kind(node) == "RowExpr" and node_body(node).get("row_format") == "COERCE_IMPLICIT_CAST"


def _element(node: dict, nodes: list[dict]) -> tuple[int, ...]:
    """One element of ROLLUP, CUBE or GROUPING SETS that is not itself a set
    construct: an expression or a parenthesized list of them."""
    if _is_parenthesized_list(node):
        return tuple(index for arg in node_body(node).get("args", ()) for index in _element(arg, nodes))
    nodes.append(node)
    return (len(nodes) - 1,)


def _item_sets(item: dict, nodes: list[dict]) -> list[tuple[int, ...]]:
    if node_kind(item) != "GroupingSet":
        return [_element(item, nodes)]
    body = node_body(item)
    kind = body.get("kind")
    content = body.get("content", ())
    if kind == "GROUPING_SET_EMPTY":
        return [()]
    if kind == "GROUPING_SET_SETS":
        return [grouping_set for element in content for grouping_set in _item_sets(element, nodes)]
    elements = [_element(element, nodes) for element in content]
    if kind == "GROUPING_SET_ROLLUP":
        return [tuple(i for part in elements[:n] for i in part) for n in range(len(elements), -1, -1)]
    if kind == "GROUPING_SET_CUBE":
        if len(elements) > CUBE_ELEMENTS_MAX:
            raise SqlError("54011", f"CUBE is limited to {CUBE_ELEMENTS_MAX} elements")
        # Largest sets first, as PostgreSQL lists them.
        subsets = []
        for size in range(len(elements), -1, -1):
            for chosen in itertools.combinations(range(len(elements)), size):
                subsets.append(tuple(i for n in chosen for i in elements[n]))
        return subsets
    raise SqlError("0A000", f"grouping set kind {kind} is not supported")


def grouping_mask(argument_positions: tuple[int, ...], grouping_set: frozenset[int]) -> int:
    """GROUPING(args) for a row of `grouping_set`: bit n (counting from the
    last argument) is set when that argument is not grouped in the set."""
    mask = 0
    for position in argument_positions:
        mask = (mask << 1) | (position not in grouping_set)
    return mask
