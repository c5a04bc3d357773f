"""Parsing: PostgreSQL's own grammar (libpg_query via pglast), as plain dicts.

pglast can build Python node objects, but reading its JSON output is about
six times faster, and parsing is on the path of every simple-protocol query.
The binder therefore works on the JSON form: every node is a one-key dict
`{"SelectStmt": {...}}`; fields with default values (false, 0, empty) are
omitted, so readers use `.get`.

Parse results are cached by query text (the parse tree is never mutated),
which makes repeated statements (pgbench, drivers without prepared
statements, ORMs) skip the parser.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass

from pglast.parser import ParseError, parse_sql_json

from qp.errors import SqlError

# Queries longer than this are not cached (they are rarely repeated and
# would crowd out the ones that are).
CACHEABLE_QUERY_CHARS_MAX = 4096
CACHE_ENTRIES_MAX = 2048


@dataclass(frozen=True, slots=True)
class Statement:
    node: dict  # {"SelectStmt": {...}} etc.
    text: str  # the statement's own source text
    location: int  # offset of the statement in the query string

    @property
    def kind(self) -> str:
        return next(iter(self.node))

    @property
    def body(self) -> dict:
        return next(iter(self.node.values()))


_cache: OrderedDict[str, list[Statement]] = OrderedDict()


def parse(sql: str) -> list[Statement]:
    """Statements of a query string; an empty list for an empty query."""
    cached = _cache.get(sql)
    if cached is not None:
        _cache.move_to_end(sql)
        return cached
    try:
        tree = json.loads(parse_sql_json(sql))
    except ParseError as exc:
        message, location = (exc.args + (None, None))[:2]
        position = location + 1 if isinstance(location, int) else None
        raise SqlError("42601", str(message), position=position) from None
    statements = []
    encoded = None
    for raw in tree.get("stmts", ()):
        node = raw.get("stmt")
        if node is None:
            continue
        start = raw.get("stmt_location", 0)
        length = raw.get("stmt_len", 0)
        # pglast reports byte offsets; slice the UTF-8 form when the text is not ASCII.
        if sql.isascii():
            text = sql[start : start + length] if length else sql[start:]
        else:
            encoded = encoded or sql.encode()
            piece = encoded[start : start + length] if length else encoded[start:]
            text = piece.decode(errors="replace")
        statements.append(Statement(node, text.strip(), start))
    if len(sql) <= CACHEABLE_QUERY_CHARS_MAX:
        _cache[sql] = statements
        if len(_cache) > CACHE_ENTRIES_MAX:
            _cache.popitem(last=False)
    return statements


def node_kind(node: dict) -> str:
    return next(iter(node))


def node_body(node: dict) -> dict:
    return next(iter(node.values()))


def string_list(nodes: list | None) -> list[str]:
    """The names of a qualified name list such as [{"String": {"sval": "t"}}]."""
    if not nodes:
        return []
    out = []
    for n in nodes:
        if "String" in n:
            out.append(n["String"].get("sval", ""))
        elif "A_Star" in n:
            out.append("*")
    return out
