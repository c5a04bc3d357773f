"""WITH RECURSIVE lists: their processing order and the form of recursive queries.

PostgreSQL (parse_cte.c) looks at a WITH RECURSIVE list before binding any of
it: every item may name every other, so the items are bound in an order with
no forward references (a cycle between two items is 0A000, "mutual
recursion"), and an item that names itself is recursive and must have the
form `non-recursive-term UNION [ALL] recursive-term`, with exactly one
reference to itself in the recursive term, and not inside a subquery
expression, the nullable side of an outer join, INTERSECT ALL or EXCEPT
(42P19). Without these checks a query PostgreSQL refuses would run, and one
may never end.

The walk is over the parse tree (pglast's JSON form) and respects scoping: a
name defined by an inner WITH shadows the list's own names inside it, as a
non-recursive inner WITH does for the items after it and its main query.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qp.errors import SqlError
from qp.parse.parser import node_body, node_kind

# Where a self-reference may not be, and PostgreSQL's message for each.
_OK, _NONRECURSIVE, _SUBLINK, _OUTERJOIN, _INTERSECT, _EXCEPT = range(6)
_MESSAGES = {
    _NONRECURSIVE: 'recursive reference to query "{}" must not appear within its non-recursive term',
    _SUBLINK: 'recursive reference to query "{}" must not appear within a subquery',
    _OUTERJOIN: 'recursive reference to query "{}" must not appear within an outer join',
    _INTERSECT: 'recursive reference to query "{}" must not appear within INTERSECT',
    _EXCEPT: 'recursive reference to query "{}" must not appear within EXCEPT',
}


def order_recursive_list(ctes: list[dict]) -> list[tuple[dict, bool]]:
    """The CommonTableExpr bodies of a WITH RECURSIVE list in a safe binding order,
    each with whether it is recursive; checks each recursive one's form."""
    names = [cte["ctename"] for cte in ctes]
    depends: list[set[int]] = []
    recursive: list[bool] = []
    for i, cte in enumerate(ctes):
        found: set[int] = set()

        def note(name: str, location: Any, found: set[int] = found) -> None:
            if name in names:
                found.add(names.index(name))

        _References(note).walk(cte["ctequery"])
        recursive.append(i in found)
        depends.append(found - {i})
    order: list[int] = []
    remaining = list(range(len(ctes)))
    while remaining:
        ready = next((i for i in remaining if not (depends[i] - set(order))), None)
        if ready is None:
            error = SqlError("0A000", "mutual recursion between WITH items is not implemented")
            error.location = ctes[remaining[0]].get("location")
            raise error
        order.append(ready)
        remaining.remove(ready)
    for i in order:
        if recursive[i]:
            check_recursive_form(ctes[i])
    return [(ctes[i], recursive[i]) for i in order]


def check_recursive_form(cte: dict) -> None:
    """PostgreSQL's checkWellFormedRecursion for one self-referencing WITH query."""
    name = cte["ctename"]
    body = node_body(cte["ctequery"])
    if body.get("op") != "SETOP_UNION":
        error = SqlError("42P19", f'recursive query "{name}" does not have the form non-recursive-term UNION [ALL] '
                                  "recursive-term")
        error.location = cte.get("location")
        raise error
    _Recursion(name, _NONRECURSIVE).walk({"SelectStmt": body["larg"]})
    checker = _Recursion(name, _OK)
    checker.walk({"SelectStmt": body["rarg"]})
    for clause, what in (("sortClause", "ORDER BY"), ("limitOffset", "OFFSET"), ("limitCount", "LIMIT"),
                         ("lockingClause", "FOR UPDATE/SHARE")):
        if body.get(clause):
            raise SqlError("0A000", f"{what} in a recursive query is not implemented")


class _Walker:
    """A walk of a parse tree that knows which names inner WITH clauses define."""

    def __init__(self) -> None:
        self.inner: list[set[str]] = []  # names defined by enclosing inner WITH clauses

    def shadowed(self, name: str) -> bool:
        return any(name in names for names in self.inner)

    def walk(self, node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                self.walk(item)
            return
        if not isinstance(node, dict):
            return
        if len(node) != 1:  # a body reached directly (not a one-key node)
            for value in node.values():
                self.walk(value)
            return
        kind = node_kind(node)
        body = node_body(node)
        if not isinstance(body, dict):
            return
        if kind == "RangeVar":
            if not body.get("schemaname") and not self.shadowed(body.get("relname", "")):
                self.reference(body.get("relname", ""), body.get("location"))
            return
        if kind == "SelectStmt":
            self.select(body)
            return
        self.other(kind, body)

    def select(self, body: dict) -> None:
        with_clause = body.get("withClause")
        if not with_clause:
            self.select_body(body)
            return
        ctes = [c["CommonTableExpr"] for c in with_clause.get("ctes", ())]
        if with_clause.get("recursive"):
            # Every name of a recursive WITH is visible to all its items and its query.
            self.inner.append({c["ctename"] for c in ctes})
            for cte in ctes:
                self.walk(cte["ctequery"])
        else:
            # A name is visible to the items after it and to the query.
            self.inner.append(set())
            for cte in ctes:
                self.walk(cte["ctequery"])
                self.inner[-1].add(cte["ctename"])
        self.select_body(body)
        self.inner.pop()

    def select_body(self, body: dict) -> None:
        for key, value in body.items():
            if key == "withClause":
                continue
            if key in ("larg", "rarg") and isinstance(value, dict):
                self.walk({"SelectStmt": value})
            else:
                self.walk(value)

    def other(self, kind: str, body: dict) -> None:
        self.walk(list(body.values()))

    def reference(self, name: str, location: Any) -> None:
        raise NotImplementedError


class _References(_Walker):
    """Every unshadowed relation name a query mentions."""

    def __init__(self, note: Callable[[str, Any], None]) -> None:
        super().__init__()
        self.note = note

    def reference(self, name: str, location: Any) -> None:
        self.note(name, location)


class _Recursion(_Walker):
    """Self-references of one recursive query: where they are and how many."""

    def __init__(self, name: str, context: int) -> None:
        super().__init__()
        self.name = name
        self.context = context
        self.count = 0

    def reference(self, name: str, location: Any) -> None:
        if name != self.name:
            return
        if self.context != _OK:
            raise self._error(_MESSAGES[self.context].format(self.name), location)
        self.count += 1
        if self.count > 1:
            raise self._error(f'recursive reference to query "{self.name}" must not appear more than once',
                              location)

    def _error(self, message: str, location: Any) -> SqlError:
        error = SqlError("42P19", message)
        error.location = location if isinstance(location, int) else None
        return error

    def _within(self, context: int, node: Any) -> None:
        saved = self.context
        if saved == _OK or context == _SUBLINK:  # a subquery expression overrides any context
            self.context = context
        try:
            self.walk(node)
        finally:
            self.context = saved

    def other(self, kind: str, body: dict) -> None:
        if kind == "JoinExpr":
            join = body.get("jointype", "JOIN_INNER")
            for side, nullable in (("larg", ("JOIN_FULL", "JOIN_RIGHT")), ("rarg", ("JOIN_FULL", "JOIN_LEFT"))):
                if join in nullable:
                    self._within(_OUTERJOIN, body.get(side))
                else:
                    self.walk(body.get(side))
            self.walk(body.get("quals"))
            return
        if kind == "SubLink":
            self._within(_SUBLINK, body.get("subselect"))
            self.walk(body.get("testexpr"))
            return
        super().other(kind, body)

    def select_body(self, body: dict) -> None:
        op = body.get("op", "SETOP_NONE")
        if self.context != _OK or op in ("SETOP_NONE", "SETOP_UNION"):
            super().select_body(body)
            return
        # INTERSECT ALL and EXCEPT ALL forbid both sides; EXCEPT always its right side.
        context = _INTERSECT if op == "SETOP_INTERSECT" else _EXCEPT
        if body.get("all"):
            self._within(context, {"SelectStmt": body["larg"]})
        else:
            self.walk({"SelectStmt": body["larg"]})
        if op == "SETOP_EXCEPT":
            self._within(_EXCEPT, {"SelectStmt": body["rarg"]})
        elif body.get("all"):
            self._within(_INTERSECT, {"SelectStmt": body["rarg"]})
        else:
            self.walk({"SelectStmt": body["rarg"]})
        for key in ("sortClause", "limitOffset", "limitCount", "lockingClause"):
            self.walk(body.get(key))
