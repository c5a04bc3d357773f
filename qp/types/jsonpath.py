"""The jsonpath type: its text form, parsed into a tree and printed back as PostgreSQL does.

A jsonpath value is kept as its normalized text (what jsonpath_out prints:
keys quoted, `lax` left out, operators spaced, brackets only where priority
needs them), so values compare and print as PostgreSQL's do; the functions
that evaluate a path (qp/functions/jsonpath.py) parse that text once into
the tree here (cached). The language is the subset the evaluator supports;
what is outside it fails with 0A000 at input, never later.
"""

from __future__ import annotations

import json as _json
import re
from decimal import Decimal
from functools import lru_cache

from qp.errors import SqlError
from qp.types.json import encode_json_string
from qp.types.numeric import numeric_out

PATH_CACHE_ENTRIES_MAX = 512  # distinct path texts kept parsed (a statement usually has one)

_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<var>\$(?:[A-Za-z_][A-Za-z_0-9]*|"(?:[^"\\]|\\.)*")?)
    | (?P<ident>[A-Za-z_][A-Za-z_0-9]*)
    | (?P<op>\*\*|==|!=|<>|<=|>=|&&|\|\||[@.\[\](),?*<>!+\-/%])
    )""",
    re.VERBOSE,
)

_UNSUPPORTED_METHODS = {
    "datetime",
    "keyvalue",
    "bigint",
    "boolean",
    "date",
    "decimal",
    "integer",
    "number",
    "string",
    "time",
    "time_tz",
    "timestamp",
    "timestamp_tz",
}
_METHODS = {"size", "type", "abs", "floor", "ceiling", "double"}


def _syntax_error(near: str | None) -> SqlError:
    if near is None:
        return SqlError("42601", "syntax error at end of jsonpath input")
    return SqlError("42601", f'syntax error at or near "{near}" of jsonpath input')


def _unsupported(what: str) -> SqlError:
    return SqlError("0A000", f"jsonpath {what} is not supported")


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return out
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _syntax_error(text[position])
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        position = match.end()


class _Parser:
    """Recursive descent over jsonpath_gram.y's precedence: || < && < ! < comparison < + - < * / % < unary < accessors."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0
        self.in_filter = 0
        self.in_subscript = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _syntax_error(None)
        self.position += 1
        return token

    def accept(self, value: str) -> bool:
        token = self.peek()
        if token is not None and token[1] == value and token[0] in ("op", "ident"):
            self.position += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.accept(value):
            token = self.peek()
            raise _syntax_error(token[1] if token else None)

    def parse(self) -> tuple[bool, tuple]:
        strict = False
        if self.peek() in (("ident", "strict"), ("ident", "lax")):
            strict = self.take()[1] == "strict"
        tree = self.or_expr()
        if self.peek() is not None:
            raise _syntax_error(self.peek()[1])  # type: ignore[index]
        return strict, tree

    def or_expr(self) -> tuple:
        left = self.and_expr()
        while self.accept("||"):
            left = ("or", left, self.and_expr())
        return left

    def and_expr(self) -> tuple:
        left = self.not_expr()
        while self.accept("&&"):
            left = ("and", left, self.not_expr())
        return left

    def not_expr(self) -> tuple:
        if self.accept("!"):
            self.expect("(")
            inner = self.or_expr()
            self.expect(")")
            return ("not", inner)
        return self.comparison()

    def comparison(self) -> tuple:
        if self.peek() == ("ident", "exists") and self.peek(1) == ("op", "("):
            self.take()
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return ("exists", inner)
        left = self.additive()
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in ("==", "!=", "<>", "<", "<=", ">", ">="):
            self.take()
            op = "!=" if token[1] == "<>" else token[1]
            return ("cmp", op, left, self.additive())
        if token == ("ident", "starts"):
            self.take()
            self.expect("with")
            right = self.additive()
            return ("starts", left, right)
        if token == ("ident", "like_regex"):
            raise _unsupported("like_regex")
        if token == ("ident", "is"):
            self.take()
            self.expect("unknown")
            return ("is_unknown", left)
        return left

    def additive(self) -> tuple:
        left = self.multiplicative()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            left = ("arith", op, left, self.multiplicative())
        return left

    def multiplicative(self) -> tuple:
        left = self.unary()
        while self.peek() in (("op", "*"), ("op", "/"), ("op", "%")):
            op = self.take()[1]
            left = ("arith", op, left, self.unary())
        return left

    def unary(self) -> tuple:
        if self.peek() in (("op", "-"), ("op", "+")):
            op = self.take()[1]
            operand = self.unary()
            if (
                operand[0] == "literal"
                and isinstance(operand[1], Decimal)
                and not isinstance(operand[1], bool)
            ):
                # makeItemUnary folds a sign into a number literal.
                return ("literal", -operand[1] if op == "-" else operand[1])
            return ("unary", op, operand)
        return self.accessors(self.primary())

    def primary(self) -> tuple:
        kind, value = self.take()
        if kind == "var":
            if value == "$":
                return ("root",)
            name = value[1:]
            return ("var", _json.loads(name) if name.startswith('"') else name)
        if kind == "op" and value == "@":
            if not self.in_filter:
                raise SqlError("42601", "@ is not allowed in root expressions")
            return ("current",)
        if kind == "op" and value == "(":
            inner = self.or_expr()
            self.expect(")")
            return inner
        if kind == "number":
            return ("literal", Decimal(value))
        if kind == "string":
            return ("literal", _json.loads(value))
        if kind == "ident" and value in ("true", "false", "null"):
            return ("literal", {"true": True, "false": False, "null": None}[value])
        if kind == "ident" and value == "last":
            if not self.in_subscript:
                raise SqlError("42601", "LAST is allowed only in array subscripts")
            return ("last",)
        raise _syntax_error(value)

    def accessors(self, node: tuple) -> tuple:
        while True:
            token = self.peek()
            if token == ("op", "."):
                self.take()
                kind, value = self.take()
                if kind == "op" and value == "*":
                    node = ("any_member", node)
                elif kind == "op" and value == "**":
                    raise _unsupported("recursive wildcard accessor .**")
                elif kind == "string":
                    node = ("member", node, _json.loads(value))
                elif kind == "ident" and self.peek() == ("op", "("):
                    self.take()
                    self.expect(")")
                    if value in _METHODS:
                        node = ("method", value, node)
                    elif value in _UNSUPPORTED_METHODS:
                        raise _unsupported(f"item method .{value}()")
                    else:
                        raise _syntax_error("(")
                elif kind in ("ident", "number"):
                    node = ("member", node, value)
                else:
                    raise _syntax_error(value)
            elif token == ("op", "["):
                self.take()
                if self.accept("*"):
                    self.expect("]")
                    node = ("any_element", node)
                    continue
                self.in_subscript += 1
                subscripts = []
                while True:
                    low = self.or_expr()
                    high = self.or_expr() if self.accept("to") else None
                    subscripts.append((low, high))
                    if not self.accept(","):
                        break
                self.in_subscript -= 1
                self.expect("]")
                node = ("elements", node, tuple(subscripts))
            elif token == ("op", "?"):
                self.take()
                self.expect("(")
                self.in_filter += 1
                predicate = self.or_expr()
                self.in_filter -= 1
                self.expect(")")
                node = ("filter", node, predicate)
            else:
                return node


@lru_cache(maxsize=PATH_CACHE_ENTRIES_MAX)
def parse_path(text: str) -> tuple[bool, tuple]:
    """(strict, tree) for a jsonpath text; 42601 for a syntax error."""
    return _Parser(text).parse()


# jsonpath.c's operationPriority: what needs brackets when printed inside another operation.
_PRIORITY = {"or": 0, "and": 1, "cmp": 2, "starts": 2, "+": 3, "-": 3, "*": 4, "/": 4, "%": 4, "unary": 5}


def _priority(node: tuple) -> int:
    if node[0] == "arith":
        return _PRIORITY[node[1]]
    return _PRIORITY.get(node[0], 6)


def _print(node: tuple, brackets: bool = False) -> str:
    kind = node[0]
    if kind in ("or", "and", "cmp", "arith", "starts"):
        if kind == "cmp" or kind == "arith":
            op, left, right = node[1], node[2], node[3]
        else:
            op, left, right = {"or": "||", "and": "&&", "starts": "starts with"}[kind], node[1], node[2]
        mine = _priority(node)
        text = f"{_print(left, _priority(left) <= mine)} {op} {_print(right, _priority(right) <= mine)}"
        return f"({text})" if brackets else text
    if kind == "not":
        return f"!({_print(node[1])})"
    if kind == "exists":
        return f"exists ({_print(node[1])})"
    if kind == "is_unknown":
        return f"({_print(node[1])}) is unknown"
    if kind == "unary":
        operand = node[2]
        text = node[1] + _print(operand, _priority(operand) <= _PRIORITY["unary"])
        return f"({text})" if brackets else text
    if kind == "root":
        return "$"
    if kind == "current":
        return "@"
    if kind == "last":
        return "last"
    if kind == "var":
        return "$" + encode_json_string(node[1])
    if kind == "literal":
        value = node[1]
        if value is None:
            return "null"
        if value is True or value is False:
            return "true" if value else "false"
        if isinstance(value, Decimal):
            return numeric_out(value)
        return encode_json_string(value)
    if kind == "member":
        return _print(node[1]) + "." + encode_json_string(node[2])
    if kind == "any_member":
        return _print(node[1]) + ".*"
    if kind == "any_element":
        return _print(node[1]) + "[*]"
    if kind == "elements":
        parts = [_print(low) + ("" if high is None else " to " + _print(high)) for low, high in node[2]]
        return _print(node[1]) + "[" + ",".join(parts) + "]"
    if kind == "filter":
        return _print(node[1]) + "?(" + _print(node[2]) + ")"
    if kind == "method":
        return _print(node[2]) + "." + node[1] + "()"
    raise SqlError("0A000", f"jsonpath {kind} is not supported")


def jsonpath_in(text: str) -> str:
    """jsonpath's input function: the normalized text of a valid path."""
    strict, tree = parse_path(text)
    return ("strict " if strict else "") + _print(tree, True)  # jsonpath_out brackets a top-level operation
