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
import re
from collections import OrderedDict
from dataclasses import dataclass

from pglast.parser import ParseError, parse_sql_json, scan

from qp.errors import SqlError
from qp.stack import check_parse_tree, stack_depth_exceeded

# Queries longer than this are not cached (they are rarely repeated and
# would crowd out the ones that are).
CACHEABLE_QUERY_CHARS_MAX = 4096
CACHE_ENTRIES_MAX = 2048


@dataclass(frozen=True, slots=True)
class Statement:
    node: dict  # {"SelectStmt": {...}} etc.
    text: str  # the statement's own source text
    location: int  # offset of the statement in the query string
    asynchronous: bool = False  # DSQL's CREATE INDEX ASYNC / ALTER TABLE ASYNC
    source: str = ""  # the whole query string parsed: node locations are byte offsets into it

    @property
    def kind(self) -> str:
        return next(iter(self.node))

    @property
    def body(self) -> dict:
        return next(iter(self.node.values()))


_cache: OrderedDict[str, list[Statement]] = OrderedDict()


# The grammar's errors that PostgreSQL reports as feature_not_supported (gram.y), not as syntax errors.
_UNSUPPORTED_ATTRIBUTE = re.compile(r"constraints cannot be marked (DEFERRABLE|INITIALLY DEFERRED|NOT VALID|NO INHERIT)"
                                    r"|CREATE SCHEMA IF NOT EXISTS cannot include schema elements")


def parse(sql: str) -> list[Statement]:
    """Statements of a query string; an empty list for an empty query."""
    cached = _cache.get(sql)
    if cached is not None:
        _cache.move_to_end(sql)
        return cached
    original = sql
    sql, async_at = _strip_async(sql)
    try:
        tree_json = parse_sql_json(sql)
    except ParseError as exc:
        message, location = (exc.args + (None, None))[:2]
        if message == "stack depth limit exceeded":  # the parser's own check_stack_depth
            raise stack_depth_exceeded() from None
        position = location + 1 if isinstance(location, int) else None
        # gram.y's processCASbits refuses constraint attributes as not supported, not as syntax.
        code = "0A000" if _UNSUPPORTED_ATTRIBUTE.search(str(message)) else "42601"
        raise SqlError(code, str(message), position=position) from None
    check_parse_tree(tree_json)  # before anything recurses over the tree (qp/stack.py)
    tree = json.loads(tree_json)
    if "\\v" in sql:
        _unescape_v_as_postgres(sql, tree)
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
        end = start + length if length else len(sql)
        statements.append(Statement(node, text.strip(), start, any(start <= p < end for p in async_at), sql))
    if len(original) <= CACHEABLE_QUERY_CHARS_MAX:
        _cache[original] = statements
        if len(_cache) > CACHE_ENTRIES_MAX:
            _cache.popitem(last=False)
    return statements


# DSQL's ASYNC keyword is not PostgreSQL grammar: `CREATE [UNIQUE] INDEX ASYNC`
# is parsed as CREATE INDEX CONCURRENTLY and `ALTER TABLE ASYNC` as ALTER TABLE,
# with the statement marked asynchronous. (The rewrite keeps offsets simple by
# noting where it happened in the rewritten text.)
_ASYNC_INDEX = re.compile(r"\b(CREATE\s+(?:UNIQUE\s+)?INDEX\s+)ASYNC\b", re.IGNORECASE)
_ASYNC_ALTER = re.compile(r"\b(ALTER\s+TABLE\s+)ASYNC\s+", re.IGNORECASE)


def _strip_async(sql: str) -> tuple[str, list[int]]:
    if "async" not in sql.lower():
        return sql, []
    positions: list[int] = []
    out = []
    last = 0
    for match in sorted([*_ASYNC_INDEX.finditer(sql), *_ASYNC_ALTER.finditer(sql)], key=lambda m: m.start()):
        out.append(sql[last : match.start()])
        head = match.group(1)
        positions.append(sum(len(p) for p in out))
        out.append(head + ("CONCURRENTLY" if "INDEX" in head.upper() else ""))
        last = match.end()
    out.append(sql[last:])
    rewritten = "".join(out)
    # Byte offsets: pglast reports statement locations in UTF-8 bytes.
    if not rewritten.isascii():
        positions = [len(rewritten[:p].encode()) for p in positions]
    return rewritten, positions


# pglast's parser (PostgreSQL 18's scanner) reads \v in an E'' string as a
# vertical tab; PostgreSQL 16 (and 15) read it as a plain "v", as any
# backslash before a character without an escape meaning. The few literals
# that contain one are read again with \v spelled \x76.
def _unescape_v_as_postgres(sql: str, tree: dict) -> None:
    fixed: dict[int, str] = {}
    data = sql.encode()
    for token in scan(sql):
        if token.name != "SCONST":
            continue
        text = data[token.start : token.end + 1].decode()
        if text[:1] not in "eE" or "\\v" not in text:
            continue
        out, i = [], 0
        while i < len(text):
            if text[i] == "\\" and i + 1 < len(text):
                out.append("\\x76" if text[i + 1] == "v" else text[i : i + 2])
                i += 2
            else:
                out.append(text[i])
                i += 1
        again = json.loads(parse_sql_json("SELECT " + "".join(out)))
        fixed[token.start] = again["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"][
            "A_Const"]["sval"]["sval"]
    if fixed:
        _patch_literals(tree, fixed)


def _patch_literals(node: object, fixed: dict[int, str]) -> None:
    if isinstance(node, dict):
        const = node.get("A_Const")
        if isinstance(const, dict) and "sval" in const and const.get("location") in fixed:
            const["sval"]["sval"] = fixed[const["location"]]
        for value in node.values():
            _patch_literals(value, fixed)
    elif isinstance(node, list):
        for value in node:
            _patch_literals(value, fixed)


def node_kind(node: dict) -> str:
    return next(iter(node))


def node_body(node: dict) -> dict:
    return next(iter(node.values()))


def node_location(node: dict) -> int | None:
    """Where an expression starts (byte offset), as PostgreSQL's exprLocation says:
    a cast, operator or call starts at its leftmost part, not at its `::`,
    operator symbol or name."""
    kind = node_kind(node)
    body = node_body(node)
    location = body.get("location")
    own = location if isinstance(location, int) and location >= 0 else None
    if kind in ("TypeCast", "CollateClause", "A_Indirection"):
        inner = node_location(body["arg"]) if isinstance(body.get("arg"), dict) else None
    elif kind == "A_Expr":
        inner = node_location(body["lexpr"]) if isinstance(body.get("lexpr"), dict) else None
    elif kind in ("FuncCall", "BoolExpr"):
        args = body.get("args") or ()
        inner = node_location(args[0]) if args and isinstance(args[0], dict) else None
    elif kind == "SubLink":
        inner = node_location(body["testexpr"]) if isinstance(body.get("testexpr"), dict) else None
    else:
        inner = None
    if own is None or (inner is not None and inner < own):
        return inner
    return own


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
