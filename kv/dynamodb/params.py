"""Request parameters every operation shares: enums, booleans, capacity and collection metrics.

botocore checks parameters against the API model before sending, but other
clients (and botocore with `parameter_validation=False`) do not, so the
server checks them again, with DynamoDB's "1 validation error detected"
wording.
"""

from __future__ import annotations

import math
from typing import Any

from kv.dynamodb import values as av
from kv.dynamodb.errors import validation
from kv.dynamodb.schema import TableSchema

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024


def camel(field: str) -> str:
    return field[:1].lower() + field[1:]


def enum(request: dict[str, Any], field: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.get(field)
    if value is None:
        return default
    if value not in allowed:
        raise validation(
            f"1 validation error detected: Value '{value}' at '{camel(field)}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(allowed)}]"
        )
    return value


def boolean(request: dict[str, Any], field: str, default: bool = False) -> bool:
    value = request.get(field)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise validation(f"1 validation error detected: Value '{value}' at '{camel(field)}' failed to satisfy constraint: Member must be a boolean")
    return value


def integer(request: dict[str, Any], field: str, low: int, high: int | None = None) -> int | None:
    value = request.get(field)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise validation(f"1 validation error detected: Value '{value}' at '{camel(field)}' failed to satisfy constraint: Member must be an integer")
    if value < low:
        raise validation(
            f"1 validation error detected: Value '{value}' at '{camel(field)}' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {low}"
        )
    if high is not None and value > high:
        raise validation(
            f"1 validation error detected: Value '{value}' at '{camel(field)}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {high}"
        )
    return value


RETURN_CONSUMED = ("INDEXES", "TOTAL", "NONE")
RETURN_METRICS = ("SIZE", "NONE")
RETURN_VALUES = ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")


def return_values(request: dict[str, Any], allowed: tuple[str, ...]) -> str:
    value = request.get("ReturnValues")
    if value is None:
        return "NONE"
    if value not in RETURN_VALUES:
        raise validation(
            f"1 validation error detected: Value '{value}' at 'returnValues' failed to satisfy constraint: "
            "Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]"
        )
    if value not in allowed:
        raise validation("Return values set to invalid value")
    return value


def on_condition_failure(request: dict[str, Any]) -> str:
    return enum(request, "ReturnValuesOnConditionCheckFailure", ("ALL_OLD", "NONE"), "NONE")


# -- consumed capacity ---------------------------------------------------------------------------------


def read_units(size_bytes: int, consistent: bool) -> float:
    units = max(1, math.ceil(size_bytes / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def write_units(size_bytes: int) -> float:
    return float(max(1, math.ceil(size_bytes / WRITE_UNIT_BYTES)))


class Capacity:
    """Consumed capacity of one request on one table, reported as DynamoDB reports it."""

    def __init__(self, table: TableSchema, mode: str) -> None:
        self.table = table
        self.mode = mode
        self.table_units = 0.0
        self.read = 0.0
        self.write = 0.0
        self.index_units: dict[str, float] = {}

    def add_read(self, units: float, index: str | None = None) -> None:
        self.read += units
        self._add(units, index)

    def add_write(self, units: float, index: str | None = None) -> None:
        self.write += units
        self._add(units, index)

    def _add(self, units: float, index: str | None) -> None:
        if index is None:
            self.table_units += units
        else:
            self.index_units[index] = self.index_units.get(index, 0.0) + units

    def report(self) -> dict[str, Any] | None:
        if self.mode == "NONE":
            return None
        total = self.table_units + sum(self.index_units.values())
        out: dict[str, Any] = {"TableName": self.table.name, "CapacityUnits": total}
        if self.read:
            out["ReadCapacityUnits"] = self.read
        if self.write:
            out["WriteCapacityUnits"] = self.write
        if self.mode == "INDEXES":
            out["Table"] = {"CapacityUnits": self.table_units}
            gsis = {}
            lsis = {}
            for name, units in self.index_units.items():
                index = self.table.index(name)
                target = lsis if index is not None and index.kind == "LSI" else gsis
                target[name] = {"CapacityUnits": units}
            if gsis:
                out["GlobalSecondaryIndexes"] = gsis
            if lsis:
                out["LocalSecondaryIndexes"] = lsis
        return out

    def attach(self, response: dict[str, Any]) -> dict[str, Any]:
        report = self.report()
        if report is not None:
            response["ConsumedCapacity"] = report
        return response


def item_collection_metrics(table: TableSchema, key: dict[str, Any], mode: str) -> dict[str, Any] | None:
    """ReturnItemCollectionMetrics=SIZE: only tables with local secondary indexes have item collections."""
    if mode != "SIZE" or not any(i.kind == "LSI" for i in table.indexes):
        return None
    return {
        "ItemCollectionKey": {table.hash_key: av.to_wire(key[table.hash_key])},
        "SizeEstimateRangeGB": [0.0, 1.0],
    }
