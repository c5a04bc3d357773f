"""Parsing DynamoDB's expressions: condition, key condition, update and projection.

One tokenizer and a recursive-descent parser per expression kind, with the
precedence DynamoDB documents (highest first): comparisons, IN, BETWEEN,
functions, parentheses, NOT, AND, OR. Keywords (AND, OR, NOT, BETWEEN, IN,
SET, REMOVE, ADD, DELETE) are case-insensitive; function names are not.

Placeholders are resolved here, against the request's
ExpressionAttributeNames and ExpressionAttributeValues, and every one used is
recorded in a `Placeholders` object shared by all the expressions of one
request, so that unused names and values can be refused afterwards, as
DynamoDB refuses them. Bare attribute names that are reserved words are
refused too.

Error messages follow DynamoDB's wording (`Invalid UpdateExpression: Syntax
error; token: "<EOF>", near: "SET a"`), since clients and tests match them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kv.dynamodb import values as av
from kv.dynamodb.errors import DynamoError, invalid_expression, validation
from kv.dynamodb.expr_ast import (
    AddAction,
    And,
    Arithmetic,
    Between,
    Compare,
    Condition,
    DeleteAction,
    Function,
    IfNotExists,
    In,
    ListAppend,
    Not,
    Operand,
    Or,
    Path,
    PathRef,
    RemoveAction,
    SetAction,
    Size,
    Update,
    Value,
    render_path,
)
from kv.dynamodb.reserved import is_reserved

EXPRESSION_BYTES_MAX = 4096  # each expression string (Developer Guide quotas)
IN_OPERANDS_MAX = 100
PLACEHOLDER_BYTES_MAX = 255
SUBSTITUTIONS_BYTES_MAX = 2 * 1024 * 1024  # all ExpressionAttributeNames and -Values of a request together


def _check_token(token: Any, parameter: str) -> None:
    """A #name or :value token is at most 255 bytes, the # or : included (Developer Guide quotas)."""
    if isinstance(token, str) and len(token.encode()) > PLACEHOLDER_BYTES_MAX:
        raise validation(
            f"{parameter} contains invalid key: the key exceeds the maximum length of {PLACEHOLDER_BYTES_MAX} bytes; "
            f"key: {token[:32]}..."
        )


# At most 300 operators in an expression (Developer Guide quotas; DynamoDB applies it to
# condition expressions too: "The expression contains too many operators; operator count: 301").
OPERATORS_MAX = 300
_OPERATOR_WORDS = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN"})
# Parentheses and nested function calls deeper than this are refused before Python's
# recursion limit is anywhere near: the parser recurses a few frames per level, and a
# 4 KB expression could otherwise nest 2000 deep. DynamoDB accepts 149 levels of
# "a<b or (...)" (the Alternator suite's test_limits.py), which fits.
NESTING_MAX = 160

CONDITION_FUNCTIONS = frozenset({"attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"})
UPDATE_FUNCTIONS = frozenset({"if_not_exists", "list_append"})
ALL_FUNCTIONS = CONDITION_FUNCTIONS | UPDATE_FUNCTIONS | {"size"}
COMPARATORS = frozenset({"=", "<>", "<", "<=", ">", ">="})
CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")

_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<hash>#[A-Za-z0-9_]*)|(?P<colon>:[A-Za-z0-9_]*)"
    r"|(?P<number>[0-9]+)|(?P<op><>|<=|>=|[=<>(),.\[\]+\-]))"
)
_SPACE = re.compile(r"\s*")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # name, hash, colon, number, op, eof
    text: str
    start: int
    end: int


@dataclass
class Placeholders:
    """The request's ExpressionAttributeNames/Values and which of them were used."""

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    used_names: set[str] = field(default_factory=set)
    used_values: set[str] = field(default_factory=set)

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> Placeholders:
        names = request.get("ExpressionAttributeNames")
        raw_values = request.get("ExpressionAttributeValues")
        if names is not None:
            if not isinstance(names, dict):
                raise validation("ExpressionAttributeNames must be a map")
            if not names:
                raise validation("ExpressionAttributeNames must not be empty")
        if raw_values is not None:
            if not isinstance(raw_values, dict):
                raise validation("ExpressionAttributeValues must be a map")
            if not raw_values:
                raise validation("ExpressionAttributeValues must not be empty")
        total = 0  # bytes of all substitutions, tokens included
        for token, name in (names or {}).items():
            _check_token(token, "ExpressionAttributeNames")
            if not isinstance(name, str):
                raise validation("ExpressionAttributeNames must map names to strings")
            av.check_attribute_name(name)
            total += len(token.encode()) + len(name.encode())
        for token in raw_values or {}:
            _check_token(token, "ExpressionAttributeValues")
        converted = {}
        for token, wire in (raw_values or {}).items():
            try:
                converted[token] = av.from_wire(wire)
            except DynamoError as exc:
                if exc.type_name != "ValidationException":
                    raise
                raise validation(f"ExpressionAttributeValues contains invalid value: {exc.message} for key {token}") from None
        total += sum(len(token.encode()) + av.size(value) for token, value in converted.items())
        if total > SUBSTITUTIONS_BYTES_MAX:
            raise validation(
                "ExpressionAttributeNames and ExpressionAttributeValues together exceed the maximum size of 2 MB; "
                f"size: {total}"
            )
        return cls(names=dict(names or {}), values=converted)

    def check_all_used(self) -> None:
        unused_names = [n for n in self.names if n not in self.used_names]
        if unused_names:
            raise validation(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {" + ", ".join(unused_names) + "}"
            )
        unused_values = [v for v in self.values if v not in self.used_values]
        if unused_values:
            raise validation(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {"
                + ", ".join(unused_values)
                + "}"
            )


def tokenize(text: str, kind: str) -> list[Token]:
    tokens = []
    pos = 0
    length = len(text)
    while True:
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == match.start() or match.lastgroup is None:
            rest = _SPACE.match(text, pos)
            pos = rest.end() if rest else pos
            if pos >= length:
                break
            bad = text[pos]
            raise invalid_expression(kind, f'Syntax error; token: "{bad}", near: "{text[max(0, pos - 10):pos + 10].strip()}"')
        group = match.lastgroup
        tokens.append(Token(group, match.group(group), match.start(group), match.end(group)))
        pos = match.end()
    tokens.append(Token("eof", "<EOF>", length, length))
    return tokens


class _Parser:
    def __init__(self, text: Any, kind: str, placeholders: Placeholders) -> None:
        if not isinstance(text, str):
            raise validation(f"{kind} must be a string")
        if not text.strip():
            raise invalid_expression(kind, "The expression can not be empty;")
        if len(text.encode()) > EXPRESSION_BYTES_MAX:
            raise invalid_expression(
                kind, f"Expression size has exceeded the maximum allowed size; expression size: {len(text.encode())}"
            )
        self.text = text
        self.kind = kind
        self.placeholders = placeholders
        self.tokens = tokenize(text, kind)
        self._check_operator_count()
        self.pos = 0
        self.depth = 0
        self._last_paren: Any = None

    def _check_operator_count(self) -> None:
        """Refuse more than OPERATORS_MAX operators, counted on the tokens before any
        parsing, so a long chain of them is refused without being parsed."""
        count = 0
        for tok in self.tokens:
            if tok.kind == "op" and tok.text in COMPARATORS | {"+", "-"}:
                count += 1
            elif tok.kind == "name" and tok.text.upper() in _OPERATOR_WORDS:
                count += 1
        # The AND of "x BETWEEN a AND b" belongs to the BETWEEN.
        count -= sum(1 for tok in self.tokens if tok.kind == "name" and tok.text.upper() == "BETWEEN")
        if count > OPERATORS_MAX:
            raise invalid_expression(self.kind, f"The expression contains too many operators; operator count: {count}")

    def _nest(self) -> None:
        self.depth += 1
        if self.depth > NESTING_MAX:
            raise self.error(f"The expression is nested too deeply; nesting levels exceed {NESTING_MAX}")

    # -- token helpers -----------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        if tok.kind != "eof":
            self.pos += 1
        return tok

    def is_op(self, text: str) -> bool:
        tok = self.tok
        return tok.kind == "op" and tok.text == text

    def is_keyword(self, word: str) -> bool:
        tok = self.tok
        return tok.kind == "name" and tok.text.upper() == word

    def expect_op(self, text: str) -> Token:
        if not self.is_op(text):
            raise self.syntax_error()
        return self.advance()

    def syntax_error(self, tok: Token | None = None) -> DynamoError:
        tok = tok or self.tok
        index = self.tokens.index(tok) if tok in self.tokens else self.pos
        prev = self.tokens[index - 1] if index > 0 else None
        if tok.kind == "eof":
            near = prev.text if prev else ""
        else:
            start = prev.start if prev else tok.start
            near = self.text[start : tok.end]
        return invalid_expression(self.kind, f'Syntax error; token: "{tok.text}", near: "{near}"')

    def error(self, message: str) -> DynamoError:
        return invalid_expression(self.kind, message)

    def expect_end(self) -> None:
        if self.tok.kind != "eof":
            raise self.syntax_error()

    # -- placeholders and paths -----------------------------------------------------------------

    def name_of(self, tok: Token) -> str:
        if tok.kind == "hash":
            names = self.placeholders.names
            if tok.text not in names:
                raise self.error(
                    f"An expression attribute name used in the document path is not defined; attribute name: {tok.text}"
                )
            self.placeholders.used_names.add(tok.text)
            return names[tok.text]
        if is_reserved(tok.text):
            raise self.error(f"Attribute name is a reserved keyword; reserved keyword: {tok.text}")
        return tok.text

    def value_of(self, tok: Token) -> Value:
        values = self.placeholders.values
        if tok.text not in values:
            raise self.error(f"An expression attribute value used in expression is not defined; attribute value: {tok.text}")
        self.placeholders.used_values.add(tok.text)
        return Value(values[tok.text], tok.text)

    def path(self) -> Path:
        tok = self.tok
        if tok.kind not in ("name", "hash"):
            raise self.syntax_error()
        self.advance()
        elements: list[str | int] = [self.name_of(tok)]
        while True:
            if self.is_op("."):
                self.advance()
                tok = self.tok
                if tok.kind not in ("name", "hash"):
                    raise self.syntax_error()
                self.advance()
                elements.append(self.name_of(tok))
            elif self.is_op("["):
                self.advance()
                tok = self.tok
                if tok.kind != "number":
                    raise self.syntax_error()
                self.advance()
                self.expect_op("]")
                elements.append(int(tok.text))
            else:
                return tuple(elements)

    # -- operands -----------------------------------------------------------------------------

    def function_name(self) -> str | None:
        """The function name if the next tokens are `name (`, else None."""
        tok = self.tok
        if tok.kind == "name" and self.peek().kind == "op" and self.peek().text == "(":
            if tok.text not in ALL_FUNCTIONS:
                raise self.error(f"Invalid function name; function: {tok.text}")
            return tok.text
        return None

    def condition_operand(self) -> Operand:
        self._nest()
        try:
            return self._condition_operand()
        finally:
            self.depth -= 1

    def _condition_operand(self) -> Operand:
        tok = self.tok
        if tok.kind == "colon":
            self.advance()
            return self.value_of(tok)
        function = self.function_name()
        if function is not None:
            if function != "size":
                if function in UPDATE_FUNCTIONS:
                    raise self.error(f"The function is not allowed in a condition expression; function: {function}")
                raise self.error(f"The function is not allowed to be used this way in an expression; function: {function}")
            self.advance()
            self.expect_op("(")
            operand = self.condition_operand()
            self.expect_op(")")
            if not isinstance(operand, PathRef):
                raise self.error("Operator or function requires a document path; operator or function: size")
            return Size(operand.path)
        if tok.kind in ("name", "hash"):
            return PathRef(self.path())
        raise self.syntax_error()

    # -- conditions -----------------------------------------------------------------------------

    def condition(self) -> Condition:
        self._nest()
        try:
            left = self.and_condition()
            while self.is_keyword("OR"):
                self.advance()
                left = Or(left, self.and_condition())
            return left
        finally:
            self.depth -= 1

    def and_condition(self) -> Condition:
        left = self.not_condition()
        while self.is_keyword("AND"):
            self.advance()
            left = And(left, self.not_condition())
        return left

    def not_condition(self) -> Condition:
        if self.is_keyword("NOT"):
            self.advance()
            return Not(self.not_condition())
        return self.primary_condition()

    def primary_condition(self) -> Condition:
        if self.is_op("("):
            self.advance()
            inner = self.condition()
            self.expect_op(")")
            if inner is self._last_paren:
                raise self.error("The expression has redundant parentheses;")
            self._last_paren = inner
            return inner
        function = self.function_name()
        if function is not None and function != "size":
            if function in UPDATE_FUNCTIONS:
                raise self.error(f"The function is not allowed in a condition expression; function: {function}")
            return self.condition_function(function)
        left = self.condition_operand()
        tok = self.tok
        if tok.kind == "op" and tok.text in COMPARATORS:
            self.advance()
            right = self.condition_operand()
            return self.checked_compare(Compare(tok.text, left, right))
        if self.is_keyword("BETWEEN"):
            self.advance()
            low = self.condition_operand()
            if not self.is_keyword("AND"):
                raise self.syntax_error()
            self.advance()
            high = self.condition_operand()
            return self.checked_between(Between(left, low, high))
        if self.is_keyword("IN"):
            self.advance()
            self.expect_op("(")
            choices = [self.condition_operand()]
            while self.is_op(","):
                self.advance()
                choices.append(self.condition_operand())
            self.expect_op(")")
            if len(choices) > IN_OPERANDS_MAX:
                raise self.error(
                    f"The IN operator is provided with too many operands; number of operands: {len(choices)}"
                )
            return In(left, tuple(choices))
        raise self.syntax_error()

    def condition_function(self, name: str) -> Condition:
        self.advance()
        self.expect_op("(")
        args = [self.condition_operand()]
        while self.is_op(","):
            self.advance()
            args.append(self.condition_operand())
        self.expect_op(")")
        arity = {"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2, "begins_with": 2, "contains": 2}
        if len(args) != arity[name]:
            raise self.error(
                f"Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {len(args)}"
            )
        if not isinstance(args[0], PathRef) and name in ("attribute_exists", "attribute_not_exists", "attribute_type"):
            raise self.error(f"Operator or function requires a document path; operator or function: {name}")
        if name == "attribute_type":
            type_arg = args[1]
            if not isinstance(type_arg, Value):
                raise self.error("Incorrect operand type for operator or function; operator or function: attribute_type")
            kind = av.kind_of(type_arg.value)
            if kind != "S":
                raise self.error(
                    f"Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {type_name(kind)}"
                )
            if type_arg.value["S"] not in av.ALL_TYPES:
                raise self.error(
                    f"Invalid attribute type name found; type: {type_arg.value['S']}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}"
                )
        if name == "begins_with":
            for arg in args:
                if isinstance(arg, Value) and av.kind_of(arg.value) not in ("S", "B"):
                    raise self.error(
                        f"Incorrect operand type for operator or function; operator or function: begins_with, operand type: {type_name(av.kind_of(arg.value))}"
                    )
        return Function(name, tuple(args))

    def checked_compare(self, node: Compare) -> Compare:
        if node.op not in ("=", "<>"):
            for operand in (node.left, node.right):
                if isinstance(operand, Value) and av.kind_of(operand.value) not in av.SCALAR_TYPES:
                    raise self.error(
                        f"Incorrect operand type for operator or function; operator: {node.op}, operand type: {type_name(av.kind_of(operand.value))}"
                    )
        return node

    def checked_between(self, node: Between) -> Between:
        for operand in (node.operand, node.low, node.high):
            if isinstance(operand, Value) and av.kind_of(operand.value) not in av.SCALAR_TYPES:
                raise self.error(
                    f"Incorrect operand type for operator or function; operator: BETWEEN, operand type: {type_name(av.kind_of(operand.value))}"
                )
        if isinstance(node.low, Value) and isinstance(node.high, Value):
            order = av.compare(node.low.value, node.high.value)
            if order is None:
                raise self.error(
                    "The BETWEEN operator requires same data type for lower and upper bounds; "
                    f"lower bound operand: AttributeValue: {av.describe(node.low.value)}, "
                    f"upper bound operand: AttributeValue: {av.describe(node.high.value)}"
                )
            if order > 0:
                raise self.error(
                    "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
                    f"lower bound operand: AttributeValue: {av.describe(node.low.value)}, "
                    f"upper bound operand: AttributeValue: {av.describe(node.high.value)}"
                )
        return node

    # -- update ----------------------------------------------------------------------------------

    def update(self) -> Update:
        result = Update()
        seen: set[str] = set()
        while self.tok.kind != "eof":
            tok = self.tok
            clause = tok.text.upper() if tok.kind == "name" else ""
            if clause not in CLAUSES:
                raise self.syntax_error()
            if clause in seen:
                raise self.error(f'The "{clause}" section can only be used once in an update expression;')
            seen.add(clause)
            self.advance()
            while True:
                if clause == "SET":
                    path = self.path()
                    self.expect_op("=")
                    result.sets.append(SetAction(path, self.set_value()))
                elif clause == "REMOVE":
                    result.removes.append(RemoveAction(self.path()))
                else:
                    path = self.path()
                    tok = self.tok
                    if tok.kind != "colon":
                        raise self.syntax_error()
                    self.advance()
                    value = self.value_of(tok)
                    kind = av.kind_of(value.value)
                    if clause == "ADD":
                        if kind not in ("N",) + av.SET_TYPES:
                            raise self.error(
                                f"Incorrect operand type for operator or function; operator: ADD, operand type: {type_name(kind)}"
                            )
                        result.adds.append(AddAction(path, value))
                    else:
                        if kind not in av.SET_TYPES:
                            raise self.error(
                                f"Incorrect operand type for operator or function; operator: DELETE, operand type: {type_name(kind)}"
                            )
                        result.deletes.append(DeleteAction(path, value))
                if not self.is_op(","):
                    break
                self.advance()
        if not seen:
            raise self.syntax_error()
        return result

    def set_value(self) -> Operand:
        left = self.set_operand()
        tok = self.tok
        if tok.kind == "op" and tok.text in ("+", "-"):
            self.advance()
            right = self.set_operand()
            return Arithmetic(tok.text, left, right)
        return left

    def set_operand(self) -> Operand:
        self._nest()
        try:
            return self._set_operand()
        finally:
            self.depth -= 1

    def _set_operand(self) -> Operand:
        tok = self.tok
        if tok.kind == "colon":
            self.advance()
            return self.value_of(tok)
        function = self.function_name()
        if function is None:
            return PathRef(self.path())
        if function not in UPDATE_FUNCTIONS:
            raise self.error(f"The function is not allowed in an update expression; function: {function}")
        self.advance()
        self.expect_op("(")
        first = self.set_operand()
        self.expect_op(",")
        second = self.set_operand()
        self.expect_op(")")
        if function == "if_not_exists":
            if not isinstance(first, PathRef):
                raise self.error("Operator or function requires a document path; operator or function: if_not_exists")
            return IfNotExists(first.path, second)
        for operand in (first, second):
            if isinstance(operand, Value) and av.kind_of(operand.value) != "L":
                raise self.error(
                    "Incorrect operand type for operator or function; operator or function: list_append, "
                    f"operand type: {type_name(av.kind_of(operand.value))}"
                )
        return ListAppend(first, second)

    # -- projection ------------------------------------------------------------------------------

    def projection(self) -> list[Path]:
        paths = [self.path()]
        while self.is_op(","):
            self.advance()
            paths.append(self.path())
        self.expect_end()
        return paths


_TYPE_NAMES = {
    "S": "STRING",
    "N": "NUMBER",
    "B": "BINARY",
    "BOOL": "BOOLEAN",
    "NULL": "NULL",
    "M": "MAP",
    "L": "LIST",
    "SS": "STRING_SET",
    "NS": "NUMBER_SET",
    "BS": "BINARY_SET",
}


def type_name(kind: str) -> str:
    return _TYPE_NAMES.get(kind, kind)


def _too_deep(kind: str) -> DynamoError:
    # A backstop behind NESTING_MAX: a nesting the guards did not foresee is still a
    # client's bad expression, not a server fault.
    return invalid_expression(kind, "The expression is nested too deeply")


def parse_condition(text: Any, placeholders: Placeholders, kind: str = "ConditionExpression") -> Condition:
    parser = _Parser(text, kind, placeholders)
    try:
        condition = parser.condition()
    except RecursionError:
        raise _too_deep(kind) from None
    parser.expect_end()
    return condition


def parse_update(text: Any, placeholders: Placeholders) -> Update:
    parser = _Parser(text, "UpdateExpression", placeholders)
    try:
        update = parser.update()
    except RecursionError:
        raise _too_deep("UpdateExpression") from None
    check_overlaps(update.paths(), "UpdateExpression")
    return update


def parse_projection(text: Any, placeholders: Placeholders) -> list[Path]:
    parser = _Parser(text, "ProjectionExpression", placeholders)
    paths = parser.projection()
    check_overlaps(paths, "ProjectionExpression")
    return paths


def check_overlaps(paths: list[Path], kind: str) -> None:
    """Refuse two paths of which one is a prefix of the other (or equal)."""
    for i, first in enumerate(paths):
        for second in paths[i + 1 :]:
            n = min(len(first), len(second))
            if first[:n] == second[:n]:
                raise invalid_expression(
                    kind,
                    "Two document paths overlap with each other; must remove or rewrite one of these paths; "
                    f"path one: {render_path(first)}, path two: {render_path(second)}",
                )
