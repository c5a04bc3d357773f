"""PartiQL statements: parsed with sqlglot, translated into dsql's expression trees.

sqlglot's generic dialect reads PartiQL's SELECT, `INSERT ... VALUE {...}`,
DELETE and the expressions of UPDATE closely enough. What it does not know
is rewritten or split first: bag literals (`<<'a', 'b'>>`, DynamoDB's sets)
become a function call, and UPDATE's repeated SET/REMOVE clauses are cut
apart (outside quoted text) so that each clause's expressions are parsed on
their own. `?` parameters are taken in order. The result is a `Statement`
holding the table, the WHERE condition and, per kind, the projection, the
new item or the update, as the same trees the JSON API's expressions parse to.
"""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from kv.dynamodb import numbers
from kv.dynamodb import values as av
from kv.dynamodb.errors import DynamoError, validation
from kv.dynamodb.expr_ast import (
    AddAction,
    And,
    Arithmetic,
    Between,
    Compare,
    Condition,
    DeleteAction,
    Function,
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
)
from kv.dynamodb.expr_parser import check_overlaps
from kv.dynamodb.schema import TableSchema

STATEMENT_CHARS_MAX = 8192
_BAG_FUNCTION = "__dsql_bag"
_CLAUSE = re.compile(r"\b(SET|REMOVE|WHERE|RETURNING)\b", re.IGNORECASE)

Item = dict[str, Any]


def _malformed(detail: str) -> DynamoError:
    return validation(f"Statement wasn't well formed, can't be processed: {detail}")


def _outside_quotes(text: str):
    """Yield (start, end) spans of `text` that are not inside '...' or "..." literals."""
    pos = 0
    quote = None
    start = 0
    while pos < len(text):
        ch = text[pos]
        if quote is None and ch in "'\"":
            yield start, pos
            quote = ch
        elif quote is not None and ch == quote:
            if pos + 1 < len(text) and text[pos + 1] == quote:
                pos += 1  # a doubled quote is an escaped quote
            else:
                quote = None
                start = pos + 1
        pos += 1
    if quote is None:
        yield start, len(text)


def _rewrite_bags(text: str) -> str:
    out = []
    last = 0
    for start, end in _outside_quotes(text):
        out.append(text[last:start])
        out.append(text[start:end].replace("<<", f"{_BAG_FUNCTION}(").replace(">>", ")"))
        last = end
    out.append(text[last:])
    return "".join(out)


def _split_clauses(text: str) -> list[tuple[str, str]]:
    """('HEAD', ...), ('SET', ...), ('REMOVE', ...), ('WHERE', ...), ('RETURNING', ...) in order."""
    cuts: list[tuple[int, int, str]] = []
    for start, end in _outside_quotes(text):
        for match in _CLAUSE.finditer(text, start, end):
            cuts.append((match.start(), match.end(), match.group(1).upper()))
    parts = []
    previous_end, previous_name = 0, "HEAD"
    for start, end, name in cuts:
        parts.append((previous_name, text[previous_end:start].strip()))
        previous_end, previous_name = end, name
    parts.append((previous_name, text[previous_end:].strip()))
    return parts


def _parse(sql: str) -> exp.Expression:
    try:
        tree = sqlglot.parse_one(sql)
    except SqlglotError as exc:
        raise _malformed(str(exc).splitlines()[0]) from None
    if tree is None:
        raise _malformed("empty statement")
    return tree


# -- from sqlglot to expression trees ------------------------------------------------------------------


class _Translator:
    def __init__(self, parameters: list[dict[str, Any]]) -> None:
        self.parameters = parameters
        self.used = 0

    def parameter(self) -> dict[str, Any]:
        if self.used >= len(self.parameters):
            raise validation("Number of parameters in request and statement don't match.")
        value = self.parameters[self.used]
        self.used += 1
        return value

    def path(self, node: exp.Expression) -> Path:
        if isinstance(node, exp.Column):
            parts = [p for p in (node.args.get("catalog"), node.args.get("db"), node.args.get("table")) if p]
            names = [p.name for p in parts] + [node.name]
            return tuple(names)
        if isinstance(node, exp.Identifier):
            return (node.name,)
        if isinstance(node, exp.Dot):
            return self.path(node.this) + (node.expression.name,)
        if isinstance(node, exp.Bracket):
            (index,) = node.expressions
            if not isinstance(index, exp.Literal) or index.is_string:
                raise _malformed("a list index must be a number")
            return self.path(node.this) + (int(index.this),)
        raise _malformed(f"unexpected path {node.sql()}")

    def value(self, node: exp.Expression) -> dict[str, Any]:
        if isinstance(node, exp.Literal):
            if node.is_string:
                return {"S": node.this}
            return {"N": numbers.normalize(node.this)}
        if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
            return {"N": numbers.normalize("-" + node.this.this)}
        if isinstance(node, exp.Boolean):
            return {"BOOL": bool(node.this)}
        if isinstance(node, exp.Null):
            return {"NULL": True}
        if isinstance(node, exp.Placeholder):
            return self.parameter()
        if isinstance(node, exp.Struct):
            body = {}
            for entry in node.expressions:
                if not isinstance(entry, (exp.PropertyEQ, exp.EQ, exp.Slice)):
                    raise _malformed(f"unexpected map entry {entry.sql()}")
                key = entry.this
                name = key.this if isinstance(key, exp.Literal) else key.name
                body[name] = self.value(entry.expression)
            return {"M": body}
        if isinstance(node, (exp.Array, exp.Tuple)):
            return {"L": [self.value(e) for e in node.expressions]}
        if isinstance(node, exp.Anonymous) and node.name.lower() == _BAG_FUNCTION:
            members = [self.value(e) for e in node.expressions]
            kinds = {av.kind_of(m) for m in members}
            if len(kinds) != 1 or next(iter(kinds)) not in av.SCALAR_TYPES:
                raise validation("Unsupported type passed as set member. Set members must be all strings, numbers or binaries")
            kind = next(iter(kinds))
            return av.from_wire({kind + "S": [av.to_wire(m)[kind] for m in members]})
        raise _malformed(f"unexpected value {node.sql()}")

    def is_path(self, node: exp.Expression) -> bool:
        return isinstance(node, (exp.Column, exp.Dot, exp.Bracket, exp.Identifier))

    def operand(self, node: exp.Expression) -> Operand:
        if isinstance(node, exp.Paren):
            return self.operand(node.this)
        if self.is_path(node):
            return PathRef(self.path(node))
        if isinstance(node, exp.Anonymous) and node.name.lower() == "size":
            return Size(self.path(node.expressions[0]))
        return Value(self.value(node))

    def condition(self, node: exp.Expression) -> Condition:
        if isinstance(node, exp.Paren):
            return self.condition(node.this)
        if isinstance(node, exp.And):
            return And(self.condition(node.this), self.condition(node.expression))
        if isinstance(node, exp.Or):
            return Or(self.condition(node.this), self.condition(node.expression))
        if isinstance(node, exp.Not):
            inner = node.this
            if isinstance(inner, exp.Is) and _is_missing(inner.expression):
                return Function("attribute_exists", (PathRef(self.path(inner.this)),))
            return Not(self.condition(inner))
        comparisons = {exp.EQ: "=", exp.NEQ: "<>", exp.LT: "<", exp.LTE: "<=", exp.GT: ">", exp.GTE: ">="}
        for cls, op in comparisons.items():
            if type(node) is cls:
                return Compare(op, self.operand(node.this), self.operand(node.expression))
        if isinstance(node, exp.Between):
            return Between(self.operand(node.this), self.operand(node.args["low"]), self.operand(node.args["high"]))
        if isinstance(node, exp.In):
            choices = node.expressions
            if len(choices) == 1 and isinstance(choices[0], (exp.Array, exp.Tuple)):
                choices = choices[0].expressions
            return In(self.operand(node.this), tuple(self.operand(c) for c in choices))
        if isinstance(node, exp.Is):
            if _is_missing(node.expression):
                return Function("attribute_not_exists", (PathRef(self.path(node.this)),))
            if isinstance(node.expression, exp.Null):
                return Function("attribute_type", (PathRef(self.path(node.this)), Value({"S": "NULL"})))
        if isinstance(node, exp.Contains):
            return Function("contains", (self.operand(node.this), self.operand(node.expression)))
        if isinstance(node, exp.Anonymous):
            name = node.name.lower()
            if name in ("begins_with", "contains", "attribute_type", "attribute_exists", "attribute_not_exists"):
                return Function(name, tuple(self.operand(a) for a in node.expressions))
        raise _malformed(f"unsupported condition {node.sql()}")


def _is_missing(node: exp.Expression) -> bool:
    return isinstance(node, exp.Column) and node.name.upper() == "MISSING"


def conjuncts(condition: Condition | None) -> list[Condition]:
    if condition is None:
        return []
    if isinstance(condition, And):
        return conjuncts(condition.left) + conjuncts(condition.right)
    return [condition]


def _join(conditions: list[Condition]) -> Condition | None:
    if not conditions:
        return None
    result = conditions[0]
    for c in conditions[1:]:
        result = And(result, c)
    return result


def key_and_rest(table: TableSchema, condition: Condition | None) -> tuple[Item, Condition | None]:
    """The full primary key a write's WHERE names, and what else it requires."""
    key: Item = {}
    rest: list[Condition] = []
    for part in conjuncts(condition):
        if (
            isinstance(part, Compare)
            and part.op == "="
            and isinstance(part.left, PathRef)
            and len(part.left.path) == 1
            and part.left.path[0] in table.key_names
            and isinstance(part.right, Value)
            and part.left.path[0] not in key
        ):
            key[part.left.path[0]] = part.right.value  # type: ignore[index]
        else:
            rest.append(part)
    if set(key) != set(table.key_names):
        raise validation("Where clause does not contain a mandatory equality on all key attributes")
    for name, value in key.items():
        if av.kind_of(value) != table.attribute_types[name]:
            raise validation("The provided key element does not match the schema")
    return key, _join(rest)


def _table_name(node: exp.Expression) -> tuple[str, str | None]:
    table = node if isinstance(node, exp.Table) else node.find(exp.Table)
    if table is None:
        raise _malformed("no table")
    if table.args.get("db"):
        return table.args["db"].name, table.name
    return table.name, None


# -- statements ---------------------------------------------------------------------------------------


class Statement:
    """One parsed statement, ready to run."""

    def __init__(self, text: Any, parameters: Any) -> None:
        if not isinstance(text, str) or not text.strip():
            raise validation("1 validation error detected: Value at 'statement' failed to satisfy constraint: Member must have length greater than or equal to 1")
        if len(text) > STATEMENT_CHARS_MAX:
            raise validation(
                f"1 validation error detected: Value at 'statement' failed to satisfy constraint: Member must have length less than or equal to {STATEMENT_CHARS_MAX}"
            )
        if parameters is not None and (not isinstance(parameters, list) or not parameters):
            raise validation("1 validation error detected: Value '[]' at 'parameters' failed to satisfy constraint: Member must have length greater than or equal to 1")
        self.translator = _Translator([av.from_wire(p) for p in parameters or []])
        text = _rewrite_bags(text.strip().rstrip(";"))
        head = text.split(None, 1)[0].upper()
        self.kind = head
        self.returning = "NONE"
        if head == "SELECT":
            self._parse_select(text)
        elif head == "INSERT":
            self._parse_insert(text)
        elif head == "UPDATE":
            self._parse_update(text)
        elif head == "DELETE":
            self._parse_delete(text)
        else:
            raise _malformed(f"unsupported statement type {head}")
        if self.translator.used != len(self.translator.parameters):
            raise validation("Number of parameters in request and statement don't match.")

    @property
    def is_read(self) -> bool:
        return self.kind == "SELECT"

    def _parse_select(self, text: str) -> None:
        tree = _parse(text)
        if not isinstance(tree, exp.Select):
            raise _malformed("expected SELECT")
        self.table_name, self.index_name = _table_name(tree.args["from_"] if "from_" in tree.args else tree.args["from"])
        projection: list[Path] | None = []
        for e in tree.expressions:
            if isinstance(e, exp.Star):
                projection = None
                break
            assert projection is not None
            projection.append(self.translator.path(e))
        if projection is not None:
            check_overlaps(projection, "ProjectionExpression")
        self.projection = projection
        where = tree.args.get("where")
        self.condition = self.translator.condition(where.this) if where is not None else None
        order = tree.args.get("order")
        self.descending = bool(order and order.expressions and order.expressions[0].args.get("desc"))

    def _parse_insert(self, text: str) -> None:
        match = re.match(r"INSERT\s+INTO\s+(.+?)\s+VALUE\s+(.*)$", text, re.IGNORECASE | re.DOTALL)
        if match is None:
            raise _malformed("expected INSERT INTO <table> VALUE {...}")
        self.table_name, self.index_name = _table_name(_parse(f"SELECT * FROM {match.group(1)}"))
        value = self.translator.value(_parse(f"SELECT {match.group(2)}").expressions[0])
        if av.kind_of(value) != "M":
            raise _malformed("INSERT needs a tuple value {...}")
        self.item = value["M"]

    def _parse_update(self, text: str) -> None:
        clauses = _split_clauses(text)
        head = clauses[0][1]
        if not head.upper().startswith("UPDATE"):
            raise _malformed("expected UPDATE")
        self.table_name, self.index_name = _table_name(_parse(f"SELECT * FROM {head[6:].strip()}"))
        update = Update()
        where = None
        for name, body in clauses[1:]:
            if name == "SET":
                for assignment in _split_top_level(body):
                    node = _parse(f"SELECT {assignment}").expressions[0]
                    if not isinstance(node, exp.EQ):
                        raise _malformed(f"expected path = value in SET, got {assignment}")
                    self._set_action(update, self.translator.path(node.this), node.expression)
            elif name == "REMOVE":
                for path_text in _split_top_level(body):
                    update.removes.append(RemoveAction(self.translator.path(_parse(f"SELECT {path_text}").expressions[0])))
            elif name == "WHERE":
                where = self.translator.condition(_parse(f"SELECT * FROM t WHERE {body}").args["where"].this)
            elif name == "RETURNING":
                self.returning = _returning(body, ("ALL OLD", "MODIFIED OLD", "ALL NEW", "MODIFIED NEW"))
        if where is None:
            raise _malformed("UPDATE needs a WHERE clause")
        check_overlaps(update.paths(), "UpdateExpression")
        self.update = update
        self.condition = where

    def _set_action(self, update: Update, path: Path, node: exp.Expression) -> None:
        if isinstance(node, exp.Anonymous) and node.name.lower() in ("set_add", "set_delete"):
            target, operand = node.expressions
            value = Value(self.translator.value(operand))
            if self.translator.path(target) != path:
                raise _malformed(f"{node.name} must update its own path")
            action = AddAction(path, value) if node.name.lower() == "set_add" else DeleteAction(path, value)
            (update.adds if isinstance(action, AddAction) else update.deletes).append(action)  # type: ignore[arg-type]
            return
        update.sets.append(SetAction(path, self._set_value(node)))

    def _set_value(self, node: exp.Expression) -> Operand:
        if isinstance(node, exp.Paren):
            return self._set_value(node.this)
        if isinstance(node, (exp.Add, exp.Sub)):
            return Arithmetic("+" if isinstance(node, exp.Add) else "-", self._set_value(node.this), self._set_value(node.expression))
        if isinstance(node, exp.Anonymous) and node.name.lower() == "list_append":
            first, second = node.expressions
            return ListAppend(self._set_value(first), self._set_value(second))
        return self.translator.operand(node)

    def _parse_delete(self, text: str) -> None:
        clauses = _split_clauses(text)
        head = clauses[0][1]
        match = re.match(r"DELETE\s+FROM\s+(.+)$", head, re.IGNORECASE | re.DOTALL)
        if match is None:
            raise _malformed("expected DELETE FROM <table>")
        self.table_name, self.index_name = _table_name(_parse(f"SELECT * FROM {match.group(1)}"))
        where = None
        for name, body in clauses[1:]:
            if name == "WHERE":
                where = self.translator.condition(_parse(f"SELECT * FROM t WHERE {body}").args["where"].this)
            elif name == "RETURNING":
                self.returning = _returning(body, ("ALL OLD",))
            else:
                raise _malformed(f"unexpected {name} in DELETE")
        if where is None:
            raise _malformed("DELETE needs a WHERE clause")
        self.condition = where


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets, braces, parentheses and quotes."""
    parts, depth, current = [], 0, []
    quote = None
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def _returning(body: str, allowed: tuple[str, ...]) -> str:
    words = " ".join(body.replace("*", " ").split()).upper()
    if words not in allowed:
        raise _malformed(f"unsupported RETURNING {body}")
    return {"ALL OLD": "ALL_OLD", "MODIFIED OLD": "UPDATED_OLD", "ALL NEW": "ALL_NEW", "MODIFIED NEW": "UPDATED_NEW"}[words]


