"""Evaluating expressions against items: conditions, updates and projections.

Pure functions over dsql's form of items (see `values`); no I/O. Semantics,
as DynamoDB defines them:

- A path that does not resolve is *missing*. Comparisons with a missing
  operand are false, except `<>`, which is true (missing differs from every
  value). `<`, `<=`, `>`, `>=` and BETWEEN compare only two values of one
  scalar type (N numerically, S and B bytewise); otherwise they are false.
- `size` of a string is its length, of binary its bytes, of a set, list or
  map its element count; of anything else it is an error.
- An update evaluates every right-hand side against the item as it was
  before the update, then applies SET, REMOVE, ADD and DELETE. Arithmetic
  and `list_append` need operands of the right type and refuse a missing
  one; SET into a missing parent is "invalid for update"; SET past the end
  of a list appends; DELETE that empties a set removes the attribute.
"""

from __future__ import annotations

from typing import Any

from kv.dynamodb import numbers
from kv.dynamodb import values as av
from kv.dynamodb.errors import invalid_params, validation
from kv.dynamodb.expr_ast import (
    AddAction,
    Always,
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
    Size,
    Update,
    Value,
)
from kv.dynamodb.expr_parser import type_name

Item = dict[str, Any]


# -- paths -------------------------------------------------------------------------------------------------


def resolve(item: Item | None, path: Path) -> dict[str, Any] | None:
    """The value at `path` in `item`, or None if it does not resolve."""
    if not item:
        return None
    value = item.get(path[0])  # type: ignore[arg-type]
    for element in path[1:]:
        if value is None:
            return None
        if isinstance(element, int):
            body = value.get("L")
            if body is None or element >= len(body):
                return None
            value = body[element]
        else:
            body = value.get("M")
            if body is None:
                return None
            value = body.get(element)
    return value


# -- conditions ----------------------------------------------------------------------------------------------


def operand_value(operand: Operand, item: Item | None) -> dict[str, Any] | None:
    if isinstance(operand, Value):
        return operand.value
    if isinstance(operand, PathRef):
        return resolve(item, operand.path)
    if isinstance(operand, Size):
        value = resolve(item, operand.path)
        if value is None:
            return None
        ((kind, body),) = value.items()
        if kind in ("S", "B", "M", "L") or kind in av.SET_TYPES:
            return {"N": str(len(body))}
        raise validation(
            f"Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, operand type: {type_name(kind)}"
        )
    raise AssertionError(f"not a condition operand: {operand!r}")


def evaluate(condition: Condition | None, item: Item | None) -> bool:
    """Whether `condition` holds for `item` (None: the item does not exist)."""
    if condition is None or isinstance(condition, Always):
        return True
    if isinstance(condition, Compare):
        left = operand_value(condition.left, item)
        right = operand_value(condition.right, item)
        op = condition.op
        if op == "=":
            return av.equal(left, right)
        if op == "<>":
            return not av.equal(left, right)
        if left is None or right is None:
            return False
        order = av.compare(left, right)
        if order is None:
            return False
        if op == "<":
            return order < 0
        if op == "<=":
            return order <= 0
        if op == ">":
            return order > 0
        return order >= 0
    if isinstance(condition, And):
        return evaluate(condition.left, item) and evaluate(condition.right, item)
    if isinstance(condition, Or):
        return evaluate(condition.left, item) or evaluate(condition.right, item)
    if isinstance(condition, Not):
        return not evaluate(condition.inner, item)
    if isinstance(condition, Between):
        value = operand_value(condition.operand, item)
        low = operand_value(condition.low, item)
        high = operand_value(condition.high, item)
        if value is None or low is None or high is None:
            return False
        above = av.compare(value, low)
        below = av.compare(value, high)
        return above is not None and below is not None and above >= 0 and below <= 0
    if isinstance(condition, In):
        value = operand_value(condition.operand, item)
        if value is None:
            return False
        return any(av.equal(value, operand_value(choice, item)) for choice in condition.choices)
    if isinstance(condition, Function):
        return _function(condition, item)
    raise AssertionError(f"not a condition: {condition!r}")


def _function(node: Function, item: Item | None) -> bool:
    name = node.name
    if name == "attribute_exists":
        return operand_value(node.args[0], item) is not None
    if name == "attribute_not_exists":
        return operand_value(node.args[0], item) is None
    if name == "attribute_type":
        value = operand_value(node.args[0], item)
        wanted = operand_value(node.args[1], item)
        return value is not None and wanted is not None and av.kind_of(value) == wanted.get("S")
    target = operand_value(node.args[0], item)
    probe = operand_value(node.args[1], item)
    if target is None or probe is None:
        return False
    ((kind, body),) = target.items()
    ((probe_kind, probe_body),) = probe.items()
    if name == "begins_with":
        return kind == probe_kind and kind in ("S", "B") and body.startswith(probe_body)
    # contains
    if kind == "S":
        return probe_kind == "S" and probe_body in body
    if kind in av.SET_TYPES:
        return probe_kind == kind[0] and probe_body in body
    if kind == "L":
        return any(av.equal(element, probe) for element in body)
    return False


# -- updates ----------------------------------------------------------------------------------------------


def clone(value: Any) -> Any:
    """A mutable deep copy (msgpack hands back tuples; updates need lists)."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clone(v) for v in value]
    return value


def _missing_operand() -> Exception:
    return validation("The provided expression refers to an attribute that does not exist in the item")


def _wrong_type() -> Exception:
    return validation("An operand in the update expression has an incorrect data type")


def _invalid_path() -> Exception:
    return validation("The document path provided in the update expression is invalid for update")


def update_value(operand: Operand, item: Item | None) -> dict[str, Any]:
    """The value a SET right-hand side computes (against the pre-update item)."""
    if isinstance(operand, Value):
        return operand.value
    if isinstance(operand, PathRef):
        value = resolve(item, operand.path)
        if value is None:
            raise _missing_operand()
        return value
    if isinstance(operand, IfNotExists):
        value = resolve(item, operand.path)
        return value if value is not None else update_value(operand.default, item)
    if isinstance(operand, ListAppend):
        first = update_value(operand.first, item)
        second = update_value(operand.second, item)
        if av.kind_of(first) != "L" or av.kind_of(second) != "L":
            raise _wrong_type()
        return {"L": list(first["L"]) + list(second["L"])}
    if isinstance(operand, Arithmetic):
        left = update_value(operand.left, item)
        right = update_value(operand.right, item)
        if av.kind_of(left) != "N" or av.kind_of(right) != "N":
            raise _wrong_type()
        if operand.op == "+":
            return {"N": numbers.add(left["N"], right["N"])}
        return {"N": numbers.subtract(left["N"], right["N"])}
    raise AssertionError(f"not an update operand: {operand!r}")


def _container(item: Item, path: Path) -> tuple[Any, str | int]:
    """The mutable dict or list that holds the last element of `path`, and that element."""
    if len(path) == 1:
        return item, path[0]
    parent = resolve(item, path[:-1])
    last = path[-1]
    if parent is None:
        raise _invalid_path()
    if isinstance(last, int):
        if "L" not in parent:
            raise _invalid_path()
        return parent["L"], last
    if "M" not in parent:
        raise _invalid_path()
    return parent["M"], last


def _put(item: Item, path: Path, value: dict[str, Any]) -> None:
    container, key = _container(item, path)
    if isinstance(key, int):
        if key >= len(container):
            container.append(value)
        else:
            container[key] = value
    else:
        container[key] = value


def apply_update(update: Update, item: Item | None, key_names: tuple[str, ...]) -> Item:
    """The item after `update`; `item` (None if absent) is left untouched."""
    for path in update.paths():
        if path[0] in key_names:
            raise invalid_params(f"Cannot update attribute {path[0]}. This attribute is part of the key")
    new: Item = clone(item) if item else {}
    # Right-hand sides see the item as it was, so compute them all first.
    computed = [(action.path, update_value(action.value, item)) for action in update.sets]
    for path, value in computed:
        _put(new, path, clone(value))
    if update.removes:
        _remove_all(new, [action.path for action in update.removes])
    for action in update.adds:
        _add(new, action)
    for action in update.deletes:
        _delete(new, action)
    return new


def _remove_all(item: Item, paths: list[Path]) -> None:
    # Resolve every target first, then delete list elements from the highest
    # index down, so that removing a[1] does not shift a[3] under our feet.
    targets: list[tuple[Any, str | int]] = []
    for path in paths:
        if len(path) > 1 and resolve(item, path[:-1]) is None:
            continue  # nothing there to remove
        container, key = _container(item, path)
        targets.append((container, key))
    list_targets = sorted(
        ((c, k) for c, k in targets if isinstance(k, int)), key=lambda t: (id(t[0]), t[1]), reverse=True
    )
    for container, key in targets:
        if isinstance(key, str):
            container.pop(key, None)
    for container, key in list_targets:
        if key < len(container):
            del container[key]


def _add(item: Item, action: AddAction) -> None:
    value = action.value.value
    kind = av.kind_of(value)
    container, key = _container(item, action.path)
    current = container[key] if (isinstance(key, str) and key in container) or (
        isinstance(key, int) and key < len(container)
    ) else None
    if current is None:
        result = clone(value)
    else:
        current_kind = av.kind_of(current)
        if current_kind != kind:
            raise _wrong_type()
        if kind == "N":
            result = {"N": numbers.add(current["N"], value["N"])}
        elif kind == "L":  # only the legacy AttributeUpdates ADD appends to lists
            result = {"L": list(current["L"]) + clone(value["L"])}
        else:
            merged = list(current[kind])
            present = set(merged)
            merged += [v for v in value[kind] if v not in present]
            result = {kind: merged}
    if isinstance(key, int) and key >= len(container):
        container.append(result)
    else:
        container[key] = result


def _delete(item: Item, action: DeleteAction) -> None:
    value = action.value.value
    kind = av.kind_of(value)
    container, key = _container(item, action.path)
    present = (isinstance(key, str) and key in container) or (isinstance(key, int) and key < len(container))
    if not present:
        return
    current = container[key]
    if av.kind_of(current) != kind:
        raise _wrong_type()
    removing = set(value[kind])
    remaining = [v for v in current[kind] if v not in removing]
    if remaining:
        container[key] = {kind: remaining}
    else:
        del container[key]


# -- projection -------------------------------------------------------------------------------------------


def project(item: Item | None, paths: list[Path]) -> Item:
    """Only the attributes (and nested elements) named by `paths`.

    List elements keep their order and are packed together, as DynamoDB
    returns them (`a[1], a[3]` gives a two-element list).
    """
    if not item:
        return {}
    tree: dict[Any, Any] = {}
    for path in paths:
        value = resolve(item, path)
        if value is None:
            continue
        node = tree
        for element, following in zip(path, path[1:], strict=False):
            kind = "L" if isinstance(following, int) else "M"
            child = node.get(element)
            if child is None or not isinstance(child, _Branch):
                child = node[element] = _Branch(kind)
            node = child.children
        node[path[-1]] = _Leaf(value)
    return {name: _build(node) for name, node in tree.items()}


class _Branch:
    __slots__ = ("kind", "children")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.children: dict[Any, Any] = {}


class _Leaf:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _build(node: Any) -> dict[str, Any]:
    if isinstance(node, _Leaf):
        return node.value
    if node.kind == "L":
        return {"L": [_build(node.children[i]) for i in sorted(node.children)]}
    return {"M": {name: _build(child) for name, child in node.children.items()}}

