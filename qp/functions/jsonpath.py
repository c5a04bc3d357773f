"""SQL/JSON path: jsonb_path_exists/match/query/query_array/query_first, @? and @@.

A subset of PostgreSQL's jsonpath language (jsonpath_gram.y, jsonpath_exec.c):
`lax` and `strict` modes; `$`, `@`, `$name` variables (from `vars`) and
literals; member (`.key`, `."key"`, `.*`) and array (`[i]`, `[i to j]`, `[*]`,
`last`) accessors; filters `? (...)` with comparisons, `&&`, `||`, `!`,
`exists (...)` and `is unknown`; `starts with`; arithmetic (`+ - * / %`,
unary minus); the item methods `size()`, `type()`, `abs()`, `floor()`,
`ceiling()`, `double()`. Everything else (`.**`, `like_regex`, datetime
methods, ...) fails with 0A000 rather than answering differently.

A path is parsed once into a small tree (cached by its text) and evaluated
over Python JSON values (dict, list, str, Decimal, bool, None) as sequences.
In lax mode arrays are unwrapped where an object or a scalar is expected and
structural errors (a missing key, an index out of range) give an empty
sequence; in strict mode they are errors. Predicates are three-valued (True,
False, None for unknown): an error inside one makes it unknown. The path
argument is a jsonpath value (qp/types/jsonpath.py: its normalized text).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from qp.errors import SqlError
from qp.functions.numeric_math import num_add, num_div, num_mod, num_mul, num_sub
from qp.functions.registry import register_function, register_operator
from qp.types.core import BOOL, JSONB, JSONPATH
from qp.types.json import Jsonb
from qp.types.jsonpath import parse_path

_PREDICATES = frozenset({"or", "and", "not", "exists", "cmp", "starts", "is_unknown"})


class _Context:
    def __init__(self, root: Any, variables: dict, strict: bool) -> None:
        self.root = root
        self.variables = variables
        self.strict = strict


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _evaluate(node: tuple, ctx: _Context, current: Any, last: int | None = None) -> list:
    """The sequence of items a path expression yields (predicates yield one boolean or null)."""
    kind = node[0]
    if kind in _PREDICATES:
        return [_predicate(node, ctx, current, last)]
    if kind == "root":
        return [ctx.root]
    if kind == "current":
        return [current]
    if kind == "literal":
        return [node[1]]
    if kind == "last":
        if last is None:
            raise SqlError("42601", "LAST is allowed only in array subscripts")
        return [Decimal(last)]
    if kind == "var":
        if node[1] not in ctx.variables:
            raise SqlError("42704", f'could not find jsonpath variable "{node[1]}"')
        return [ctx.variables[node[1]]]
    if kind == "member":
        out = []
        for item in _unwrapped(_evaluate(node[1], ctx, current, last), ctx):
            if isinstance(item, dict):
                if node[2] in item:
                    out.append(item[node[2]])
                elif ctx.strict:
                    raise SqlError("2203A", f'JSON object does not contain key "{node[2]}"')
            elif ctx.strict:
                raise SqlError("2203A", "jsonpath member accessor can only be applied to an object")
        return out
    if kind == "any_member":
        out = []
        for item in _unwrapped(_evaluate(node[1], ctx, current, last), ctx):
            if isinstance(item, dict):
                out.extend(item.values())
            elif ctx.strict:
                raise SqlError("2203C", "jsonpath wildcard member accessor can only be applied to an object")
        return out
    if kind == "any_element":
        out = []
        for item in _evaluate(node[1], ctx, current, last):
            if isinstance(item, list):
                out.extend(item)
            elif ctx.strict:
                raise SqlError("22039", "jsonpath wildcard array accessor can only be applied to an array")
            else:
                out.append(item)
        return out
    if kind == "elements":
        return _elements(node, ctx, current, last)
    if kind == "filter":
        out = []
        for item in _unwrapped(_evaluate(node[1], ctx, current, last), ctx):
            if _predicate(node[2], ctx, item, last) is True:
                out.append(item)
        return out
    if kind == "arith":
        return [_arithmetic(node, ctx, current, last)]
    if kind == "unary":
        out = []
        for item in _unwrapped(_evaluate(node[2], ctx, current, last), ctx):
            if not isinstance(item, Decimal) or isinstance(item, bool):
                raise SqlError(
                    "22038", f"operand of unary jsonpath operator {node[1]} is not a numeric value"
                )
            out.append(-item if node[1] == "-" else item)
        return out
    if kind == "method":
        return _method(node, ctx, current, last)
    raise SqlError("0A000", f"jsonpath {kind} is not supported")


def _unwrapped(items: list, ctx: _Context) -> Iterator[Any]:
    """Lax mode reads an array where one item is expected as its elements."""
    for item in items:
        if isinstance(item, list) and not ctx.strict:
            yield from item
        else:
            yield item


def _elements(node: tuple, ctx: _Context, current: Any, last: int | None) -> list:
    out = []
    for item in _evaluate(node[1], ctx, current, last):
        if not isinstance(item, list):
            if ctx.strict:
                raise SqlError("22039", "jsonpath array accessor can only be applied to an array")
            item = [item]  # lax: a non-array is a one-element array
        size = len(item)
        for low_node, high_node in node[2]:
            low = _subscript(low_node, ctx, current, size - 1)
            high = _subscript(high_node, ctx, current, size - 1) if high_node is not None else low
            if ctx.strict and (low < 0 or high >= size or low > high):
                raise SqlError("22033", "jsonpath array subscript is out of bounds")
            out.extend(item[max(low, 0) : min(high, size - 1) + 1])
    return out


def _subscript(node: tuple, ctx: _Context, current: Any, last: int) -> int:
    values = _evaluate(node, ctx, current, last)
    if len(values) != 1 or not isinstance(values[0], Decimal) or isinstance(values[0], bool):
        raise SqlError("22033", "jsonpath array subscript is not a single numeric value")
    return int(values[0])


def _arithmetic(node: tuple, ctx: _Context, current: Any, last: int | None) -> Decimal:
    _, op, left_node, right_node = node
    operands = []
    for side, operand in (("left", left_node), ("right", right_node)):
        items = list(_unwrapped(_evaluate(operand, ctx, current, last), ctx))
        if len(items) != 1 or not isinstance(items[0], Decimal) or isinstance(items[0], bool):
            raise SqlError("22038", f"{side} operand of jsonpath operator {op} is not a single numeric value")
        operands.append(items[0])
    left, right = operands
    # numeric's own operators: PostgreSQL computes jsonpath arithmetic in numeric.
    return {"+": num_add, "-": num_sub, "*": num_mul, "/": num_div, "%": num_mod}[op](left, right)


def _method(node: tuple, ctx: _Context, current: Any, last: int | None) -> list:
    name = node[1]
    items = _evaluate(node[2], ctx, current, last)
    if name == "size":
        return (
            [Decimal(len(i)) if isinstance(i, list) else Decimal(1) for i in items]
            if not ctx.strict
            else [_strict_size(i) for i in items]
        )
    if name == "type":
        return [_type_name(i) for i in items]
    out = []
    for item in _unwrapped(items, ctx):
        if name == "double" and isinstance(item, str):
            try:
                item = Decimal(item)
            except InvalidOperation as exc:
                raise SqlError(
                    "22038",
                    "string argument of jsonpath item method .double() is not a valid "
                    "representation of a double precision number",
                ) from exc
        if not isinstance(item, Decimal) or isinstance(item, bool):
            raise SqlError("22038", f"jsonpath item method .{name}() can only be applied to a numeric value")
        if name == "abs":
            out.append(abs(item))
        elif name == "floor":
            out.append(item.to_integral_value(rounding="ROUND_FLOOR"))
        elif name == "ceiling":
            out.append(item.to_integral_value(rounding="ROUND_CEILING"))
        else:
            out.append(item)
    return out


def _strict_size(item: Any) -> Decimal:
    if not isinstance(item, list):
        raise SqlError("22039", "jsonpath item method .size() can only be applied to an array")
    return Decimal(len(item))


def _predicate(node: tuple, ctx: _Context, current: Any, last: int | None) -> bool | None:
    """Three-valued: an error while evaluating makes the predicate unknown (None)."""
    kind = node[0]
    if kind == "and":
        left = _predicate(node[1], ctx, current, last)
        if left is False:
            return False
        right = _predicate(node[2], ctx, current, last)
        return False if right is False else (None if None in (left, right) else True)
    if kind == "or":
        left = _predicate(node[1], ctx, current, last)
        if left is True:
            return True
        right = _predicate(node[2], ctx, current, last)
        return True if right is True else (None if None in (left, right) else False)
    if kind == "not":
        inner = _predicate(node[1], ctx, current, last)
        return None if inner is None else not inner
    if kind == "is_unknown":
        return _predicate(node[1], ctx, current, last) is None
    try:
        if kind == "exists":
            return bool(_evaluate(node[1], ctx, current, last))
        if kind in ("cmp", "starts"):
            return _compare(node, ctx, current, last)
        items = _evaluate(node, ctx, current, last)
    except SqlError as exc:
        if exc.sqlstate in ("42704", "0A000", "42601"):
            raise
        return None
    # A path used as a predicate: its one boolean item.
    if len(items) == 1 and (items[0] is None or isinstance(items[0], bool)):
        return items[0]
    return None


def _compare(node: tuple, ctx: _Context, current: Any, last: int | None) -> bool | None:
    if node[0] == "starts":
        lefts = list(_unwrapped(_evaluate(node[1], ctx, current, last), ctx))
        rights = _evaluate(node[2], ctx, current, last)
        if len(rights) != 1 or not isinstance(rights[0], str):
            return None
        found, error = False, False
        for item in lefts:
            if not isinstance(item, str):
                error = True
            elif item.startswith(rights[0]):
                found = True
            if ctx.strict and error:
                return None
        return True if found else (None if error else False)
    _, op, left_node, right_node = node
    lefts = list(_unwrapped(_evaluate(left_node, ctx, current, last), ctx))
    rights = list(_unwrapped(_evaluate(right_node, ctx, current, last), ctx))
    found, error = False, False
    for a in lefts:
        for b in rights:
            result = _compare_items(op, a, b)
            if result is None:
                error = True
                if ctx.strict:
                    return None
            elif result:
                found = True
                if not ctx.strict:
                    return True
    return True if found else (None if error else False)


def _compare_items(op: str, a: Any, b: Any) -> bool | None:
    kind_a, kind_b = _type_name(a), _type_name(b)
    if kind_a != kind_b:
        if "null" in (kind_a, kind_b):
            return op == "!="
        return None
    if kind_a in ("array", "object"):
        return None
    if kind_a == "null":
        order = 0
    else:
        order = (a > b) - (a < b)
    return {
        "==": order == 0,
        "!=": order != 0,
        "<": order < 0,
        "<=": order <= 0,
        ">": order > 0,
        ">=": order >= 0,
    }[op]


# -- the SQL functions ---------------------------------------------------------------------


def _run(target: Jsonb, path: str, variables: Jsonb | None, silent: bool) -> list | None:
    """The items of `path` over `target`; None when `silent` swallowed an error."""
    strict, tree = parse_path(path)
    bound = variables.value if variables is not None else {}
    if not isinstance(bound, dict):
        raise SqlError(
            "22023",
            '"vars" argument is not an object',
            detail='Jsonpath parameters should be encoded as key-value pairs of "vars" object.',
        )
    try:
        return _evaluate(tree, _Context(target.value, bound, strict), target.value)
    except SqlError as exc:
        if silent and exc.sqlstate.startswith("22"):
            return None
        raise


def jsonb_path_exists(
    target: Jsonb, path: str, variables: Jsonb | None = None, silent: bool = False
) -> bool | None:
    items = _run(target, path, variables, silent)
    return None if items is None else bool(items)


def jsonb_path_match(
    target: Jsonb, path: str, variables: Jsonb | None = None, silent: bool = False
) -> bool | None:
    items = _run(target, path, variables, silent)
    if items is None:
        return None
    if len(items) == 1 and (items[0] is None or isinstance(items[0], bool)):
        return items[0]
    if silent:
        return None
    raise SqlError("22038", "single boolean result is expected")


def jsonb_path_query(
    target: Jsonb, path: str, variables: Jsonb | None = None, silent: bool = False
) -> Iterator[Jsonb]:
    return (Jsonb(item) for item in _run(target, path, variables, silent) or [])


def jsonb_path_query_array(
    target: Jsonb, path: str, variables: Jsonb | None = None, silent: bool = False
) -> Jsonb:
    return Jsonb(list(_run(target, path, variables, silent) or []))


def jsonb_path_query_first(
    target: Jsonb, path: str, variables: Jsonb | None = None, silent: bool = False
) -> Jsonb | None:
    items = _run(target, path, variables, silent) or []
    return Jsonb(items[0]) if items else None


for _name, _impl, _ret, _srf in (
    ("jsonb_path_exists", jsonb_path_exists, BOOL, False),
    ("jsonb_path_match", jsonb_path_match, BOOL, False),
    ("jsonb_path_query", jsonb_path_query, JSONB, True),
    ("jsonb_path_query_array", jsonb_path_query_array, JSONB, False),
    ("jsonb_path_query_first", jsonb_path_query_first, JSONB, False),
):
    register_function(_name, [JSONB, JSONPATH], _ret, _impl, srf=_srf)
    register_function(_name, [JSONB, JSONPATH, JSONB], _ret, _impl, srf=_srf)
    register_function(_name, [JSONB, JSONPATH, JSONB, BOOL], _ret, _impl, srf=_srf)

register_operator(
    "@?", JSONB, JSONPATH, BOOL, lambda target, path: jsonb_path_exists(target, path, None, True)
)
register_operator(
    "@@", JSONB, JSONPATH, BOOL, lambda target, path: jsonb_path_match(target, path, None, True)
)
