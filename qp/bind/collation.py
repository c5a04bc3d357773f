"""COLLATE clauses: which collations exist, and PostgreSQL's explicit-collation rules.

dsql's database is PostgreSQL's `C` locale with UTF-8: text compares and sorts
by code point, which is what every collation dsql offers does ("default",
"C", "POSIX", "ucs_basic" and "C.utf8", the rows of its pg_collation). So a
COLLATE clause never changes a result; what it can change is whether the
statement is accepted, and that is what this module decides as PostgreSQL
does:

- the name must exist (42704), and a COLLATE applies only to a collatable
  type (text, varchar, char(n), name and arrays of them; 42804 otherwise);
- ICU collations, which the reference server has but dsql cannot sort by,
  are refused with 0A000 rather than silently sorted as C;
- two different explicit collations meeting in one expression (an operator's
  or function's arguments, CASE results, COALESCE, an array, a UNION's
  column) are a conflict (42P21), even where nothing compares strings.

Explicit collations are tracked on the parse tree as the binder walks it
(`note`/`derive`): a COLLATE clause marks its node, and a node whose
arguments carry one passes it up if its own result is collatable, as
PostgreSQL's assign_collations_walker does. Implicit collations (a column's
own COLLATE) are not tracked: dsql's columns all use the default collation.
"""

from __future__ import annotations

from typing import Any

from qp.errors import SqlError
from qp.parse.parser import node_body, node_kind
from qp.types import SqlType, format_type

# pg_collation's rows dsql has (see qp/pgcatalog/oids.py): all sort as C.
COLLATIONS = frozenset({"default", "C", "POSIX", "ucs_basic", "C.utf8"})
_COLLATABLE_OIDS = frozenset({25, 1043, 1042, 19})  # text, varchar, bpchar, name


def is_collatable(t: SqlType) -> bool:
    if t.is_array and t.elem is not None:
        t = t.elem
    return t.oid in _COLLATABLE_OIDS


def resolve_collation(names: list[str]) -> str:
    """The collation a (possibly pg_catalog-qualified) COLLATE name denotes."""
    name = names[-1] if names else ""
    schema = names[-2] if len(names) > 1 else None
    if len(names) > 2:
        raise SqlError("42601", f"improper qualified name (too many dotted names): {'.'.join(names)}")
    if schema in (None, "pg_catalog") and name in COLLATIONS:
        return name
    if schema in (None, "pg_catalog") and name.endswith("-x-icu"):
        raise SqlError("0A000", f'collation "{name}" is not supported: dsql sorts text only by code point (C)')
    shown = ".".join(names)
    raise SqlError("42704", f'collation "{shown}" for encoding "UTF8" does not exist')


def check_collatable(t: SqlType, unknown_ok: bool = True) -> None:
    if is_collatable(t) or (unknown_ok and t.oid == 705):
        return
    raise SqlError("42804", f"collations are not supported by type {format_type(t)}")


class Collations:
    """The explicit collations found so far in one statement, by parse node."""

    def __init__(self) -> None:
        # id(parse body) -> (body, collation name, location of its COLLATE clause);
        # the body is kept so that an id is never mistaken for a later node's.
        self._explicit: dict[int, tuple[dict, str, int | None]] = {}

    def __bool__(self) -> bool:
        return bool(self._explicit)

    def note(self, body: dict, name: str, location: int | None) -> None:
        self._explicit[id(body)] = (body, name, location)

    def of(self, node: Any) -> tuple[str, int | None] | None:
        if not isinstance(node, dict) or len(node) != 1:
            return None
        body = node_body(node)
        found = self._explicit.get(id(body))
        if found is None or found[0] is not body:
            return None
        return found[1], found[2]

    def merge(self, nodes: list) -> tuple[str, int | None] | None:
        """The explicit collation shared by `nodes` (None: none has one); 42P21 if two differ."""
        merged = None
        for node in nodes:
            found = self.of(node)
            if found is None:
                continue
            if merged is None:
                merged = found
            elif found[0] != merged[0]:
                error = SqlError("42P21", f'collation mismatch between explicit collations "{merged[0]}" and '
                                          f'"{found[0]}"')
                error.location = found[1]
                raise error
        return merged

    def derive(self, kind: str, body: dict, result_type: SqlType) -> None:
        """Check the explicit collations meeting at a bound node; pass one up if its result is collatable."""
        groups, result_group = _groups(kind, body)
        passed = None
        for i, group in enumerate(groups):
            merged = self.merge(group)
            if i == result_group:
                passed = merged
        if passed is not None and is_collatable(result_type):
            self._explicit[id(body)] = (body, passed[0], passed[1])


def _items(node: Any) -> list:
    """An operand that may be a list (IN, BETWEEN) as a list of nodes."""
    if isinstance(node, list):
        return node
    if isinstance(node, dict) and node_kind(node) == "List":
        return list(node["List"].get("items", ()))
    return [node] if node is not None else []


def _groups(kind: str, body: dict) -> tuple[list[list], int | None]:
    """The argument groups whose collations PostgreSQL merges at a node, and which
    one gives the node's own collation (None: the node's result carries none)."""
    if kind == "A_Expr":
        return [[*_items(body.get("lexpr")), *_items(body.get("rexpr"))]], 0
    if kind == "FuncCall":
        return [list(body.get("args", ()))], 0  # an aggregate's ORDER BY does not count
    if kind in ("CoalesceExpr", "MinMaxExpr", "BoolExpr"):
        return [list(body.get("args", ()))], 0
    if kind == "A_ArrayExpr":
        return [list(body.get("elements", ()))], 0
    if kind in ("TypeCast", "A_Indirection", "NullTest", "BooleanTest"):
        return [[body.get("arg")]], 0
    if kind == "SubLink":
        return [[body.get("testexpr")]], None
    if kind == "CaseExpr":
        whens = [w["CaseWhen"] for w in body.get("args", ()) if "CaseWhen" in w]
        # The results only: CASE x WHEN y compares through a placeholder for x,
        # whose collation PostgreSQL does not merge with y's.
        results = [w.get("result") for w in whens] + ([body["defresult"]] if "defresult" in body else [])
        return [results], 0
    return [], None


def setop_collations(collations: Collations, body: dict) -> list[tuple[str, int | None] | None]:
    """The explicit collation of each output column of a set operation's parse tree
    (a UNION of two different explicit collations in one column is 42P21)."""
    op = body.get("op", "SETOP_NONE")
    if op == "SETOP_NONE":
        if "valuesLists" in body:
            rows = [_items(row) for row in body["valuesLists"]]
            return [collations.merge([row[i] for row in rows if i < len(row)]) for i in range(len(rows[0]))] \
                if rows else []
        return [collations.of(t["ResTarget"].get("val")) for t in body.get("targetList", ())]
    left = setop_collations(collations, body["larg"])
    right = setop_collations(collations, body["rarg"])
    out = []
    for a, b in zip(left, right, strict=False):
        if a is not None and b is not None and a[0] != b[0]:
            error = SqlError("42P21", f'collation mismatch between explicit collations "{a[0]}" and "{b[0]}"')
            error.location = b[1]
            raise error
        out.append(a or b)
    return out
