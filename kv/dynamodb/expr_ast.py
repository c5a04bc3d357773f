"""The parsed forms of DynamoDB's expressions: small frozen dataclasses.

The parser (`expr_parser`) resolves `#name` and `:value` placeholders while
it parses, so a tree here holds real attribute names and values; the
evaluator (`expr_eval`) never sees a placeholder. Legacy parameters
(`Expected`, `KeyConditions`, `QueryFilter`, ...) translate into the same
trees (`legacy`).

A document path is a tuple of elements: `str` for a map key or top-level
attribute name, `int` for a list index. `a.b[2]` is `("a", "b", 2)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Path = tuple[str | int, ...]


def render_path(path: Path) -> str:
    """`[a, b, [2]]`: how DynamoDB prints a path in its messages."""
    return "[" + ", ".join(f"[{e}]" if isinstance(e, int) else e for e in path) + "]"


# -- operands --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PathRef:
    path: Path


@dataclass(frozen=True, slots=True)
class Value:
    value: dict[str, Any]  # dsql's form of an attribute value
    token: str = ""  # ":v", for messages


@dataclass(frozen=True, slots=True)
class Size:
    path: Path


@dataclass(frozen=True, slots=True)
class IfNotExists:
    path: Path
    default: Operand


@dataclass(frozen=True, slots=True)
class ListAppend:
    first: Operand
    second: Operand


@dataclass(frozen=True, slots=True)
class Arithmetic:
    op: str  # "+" or "-"
    left: Operand
    right: Operand


Operand = PathRef | Value | Size | IfNotExists | ListAppend | Arithmetic


# -- conditions --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # = <> < <= > >=
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True, slots=True)
class In:
    operand: Operand
    choices: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Function:
    name: str  # attribute_exists, attribute_not_exists, attribute_type, begins_with, contains
    args: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Not:
    inner: Condition


@dataclass(frozen=True, slots=True)
class And:
    left: Condition
    right: Condition


@dataclass(frozen=True, slots=True)
class Or:
    left: Condition
    right: Condition


@dataclass(frozen=True, slots=True)
class Always:
    """A condition that holds (an empty legacy `Expected`)."""


Condition = Compare | Between | In | Function | Not | And | Or | Always


# -- update ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetAction:
    path: Path
    value: Operand


@dataclass(frozen=True, slots=True)
class RemoveAction:
    path: Path


@dataclass(frozen=True, slots=True)
class AddAction:
    path: Path
    value: Value


@dataclass(frozen=True, slots=True)
class DeleteAction:
    path: Path
    value: Value


@dataclass(frozen=True)
class Update:
    sets: list[SetAction] = field(default_factory=list)
    removes: list[RemoveAction] = field(default_factory=list)
    adds: list[AddAction] = field(default_factory=list)
    deletes: list[DeleteAction] = field(default_factory=list)

    def paths(self) -> list[Path]:
        return [a.path for group in (self.sets, self.removes, self.adds, self.deletes) for a in group]
