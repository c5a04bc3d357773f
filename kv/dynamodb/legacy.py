"""The legacy (pre-expression) parameters, translated into expression trees.

`AttributesToGet`, `Expected`, `KeyConditions`, `QueryFilter`, `ScanFilter`,
`ConditionalOperator` and `AttributeUpdates` still work in DynamoDB and some
clients still send them. Each becomes the tree its expression counterpart
would parse to, so one evaluator serves both. A request may not mix the two
styles; DynamoDB's message for that names both sides.
"""

from __future__ import annotations

from typing import Any

from kv.dynamodb import values as av
from kv.dynamodb.errors import invalid_params, validation
from kv.dynamodb.expr_ast import (
    AddAction,
    Always,
    And,
    Between,
    Compare,
    Condition,
    DeleteAction,
    Function,
    In,
    Not,
    Or,
    Path,
    PathRef,
    RemoveAction,
    SetAction,
    Update,
    Value,
)

_COMPARE = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}
_ARITY = {
    "EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1, "NOT_NULL": 0, "NULL": 0,
    "CONTAINS": 1, "NOT_CONTAINS": 1, "BEGINS_WITH": 1, "BETWEEN": 2,
}  # fmt: skip


def check_not_mixed(request: dict[str, Any], legacy: tuple[str, ...], modern: tuple[str, ...]) -> None:
    old = [p for p in legacy if request.get(p) is not None]
    new = [p for p in modern if request.get(p) is not None]
    if old and new:
        raise validation(
            "Can not use both expression and non-expression parameters in the same request: "
            f"Non-expression parameters: {{{', '.join(old)}}} Expression parameters: {{{', '.join(new)}}}"
        )


def attributes_to_get(raw: Any) -> list[Path]:
    if not isinstance(raw, list) or not raw:
        raise validation("1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1")
    seen = set()
    for name in raw:
        if name in seen:
            raise invalid_params(f"Duplicate value in attribute name: {name}")
        seen.add(name)
    return [(name,) for name in raw]


def _values(raw: Any) -> list[dict[str, Any]]:
    return [av.from_wire(v) for v in (raw or [])]


def comparison(name: str, spec: dict[str, Any]) -> Condition:
    """One `{ComparisonOperator, AttributeValueList}` entry as a condition on attribute `name`."""
    op = spec.get("ComparisonOperator")
    operands = _values(spec.get("AttributeValueList"))
    path = PathRef((name,))
    if op == "IN":
        if not operands:
            raise validation("One or more parameter values were invalid: Invalid number of argument(s) for the IN ComparisonOperator")
        return In(path, tuple(Value(v) for v in operands))
    if op not in _ARITY:
        raise validation(
            f"1 validation error detected: Value '{op}' at 'comparisonOperator' failed to satisfy constraint: "
            "Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
        )
    if len(operands) != _ARITY[op]:
        raise validation(f"One or more parameter values were invalid: Invalid number of argument(s) for the {op} ComparisonOperator")
    if op in _COMPARE:
        if op not in ("EQ", "NE") and av.kind_of(operands[0]) not in av.SCALAR_TYPES:
            raise validation(
                f"One or more parameter values were invalid: ComparisonOperator {op} is not valid for {av.kind_of(operands[0])} AttributeValue type"
            )
        return Compare(_COMPARE[op], path, Value(operands[0]))
    if op == "NOT_NULL":
        return Function("attribute_exists", (path,))
    if op == "NULL":
        return Function("attribute_not_exists", (path,))
    if op == "CONTAINS":
        return Function("contains", (path, Value(operands[0])))
    if op == "NOT_CONTAINS":
        return Not(Function("contains", (path, Value(operands[0]))))
    if op == "BEGINS_WITH":
        return Function("begins_with", (path, Value(operands[0])))
    return Between(path, Value(operands[0]), Value(operands[1]))


def _combine(conditions: list[Condition], operator: Any) -> Condition:
    if operator not in (None, "AND", "OR"):
        raise validation(
            f"1 validation error detected: Value '{operator}' at 'conditionalOperator' failed to satisfy constraint: "
            "Member must satisfy enum value set: [OR, AND]"
        )
    if not conditions:
        return Always()
    result = conditions[0]
    for condition in conditions[1:]:
        result = Or(result, condition) if operator == "OR" else And(result, condition)
    return result


def filter_condition(raw: Any, operator: Any) -> Condition:
    """QueryFilter / ScanFilter."""
    if not isinstance(raw, dict):
        raise validation("Invalid filter")
    return _combine([comparison(name, spec) for name, spec in raw.items()], operator)


def key_conditions(raw: Any) -> Condition:
    if not isinstance(raw, dict) or not raw:
        raise validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
    return _combine([comparison(name, spec) for name, spec in raw.items()], "AND")


def expected(raw: Any, operator: Any) -> Condition:
    if not isinstance(raw, dict):
        raise validation("Invalid Expected")
    conditions: list[Condition] = []
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            raise validation("Invalid Expected")
        path = PathRef((name,))
        if "ComparisonOperator" in spec:
            if "Value" in spec or "Exists" in spec:
                raise validation(
                    "One or more parameter values were invalid: Value or Exists cannot be used with ComparisonOperator"
                )
            conditions.append(comparison(name, spec))
            continue
        exists = spec.get("Exists", True)
        if "Value" in spec:
            if exists is False:
                raise validation(
                    "One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: "
                    + name
                )
            conditions.append(Compare("=", path, Value(av.from_wire(spec["Value"]))))
        elif exists is False:
            conditions.append(Function("attribute_not_exists", (path,)))
        else:
            raise validation(
                f"One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: {name}"
            )
    return _combine(conditions, operator)


def attribute_updates(raw: Any, key_names: tuple[str, ...]) -> Update:
    if not isinstance(raw, dict):
        raise validation("Invalid AttributeUpdates")
    update = Update()
    for name, spec in raw.items():
        if name in key_names:
            raise invalid_params(f"Cannot update attribute {name}. This attribute is part of the key")
        action = spec.get("Action", "PUT")
        value = av.from_wire(spec["Value"]) if spec.get("Value") is not None else None
        if action == "PUT":
            if value is None:
                raise invalid_params(f"Only DELETE action is allowed when no attribute value is specified: {name}")
            update.sets.append(SetAction((name,), Value(value)))
        elif action == "DELETE":
            if value is None:
                update.removes.append(RemoveAction((name,)))
            elif av.kind_of(value) in av.SET_TYPES:
                update.deletes.append(DeleteAction((name,), Value(value)))
            else:
                raise invalid_params(f"DELETE action with value is not supported for the type {av.kind_of(value)}")
        elif action == "ADD":
            if value is None:
                raise invalid_params(f"ADD action requires a value: {name}")
            if av.kind_of(value) not in ("N", "L") + av.SET_TYPES:
                raise invalid_params(f"ADD action is not supported for the type {av.kind_of(value)}")
            update.adds.append(AddAction((name,), Value(value)))
        else:
            raise validation(
                f"1 validation error detected: Value '{action}' at 'attributeUpdates.{name}.member.action' failed to "
                "satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
            )
    return update
