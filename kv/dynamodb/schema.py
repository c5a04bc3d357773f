"""Table metadata: what a DynamoDB table is and how DescribeTable shows it.

A `TableSchema` is stored as a plain dict (`to_record`) under the system key
space by `catalog`. Each table gets a numeric `table_id` that is never
reused, so the items of a deleted table can never reappear in a new table of
the same name (they are reaped in the background). Each index gets a number
(1..255) that is never reused within its table, for the same reason: index
number 0 is the table's items themselves.

CreateTable's and UpdateTable's checks are in `table_requests`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

INDEX_NUMBER_MAX = 255  # index numbers are one byte of the storage key


@dataclass(frozen=True)
class IndexSchema:
    """One LSI or GSI. A GSI's partition and sort keys may each be made of up to
    four attributes (DynamoDB's multi-attribute keys): `hash_keys` and
    `range_keys` list them in KeySchema order, and `hash_key`/`range_key` are
    their first attributes (all an LSI or a single-attribute GSI has)."""

    name: str
    number: int
    kind: str  # "GSI" or "LSI"
    hash_key: str
    range_key: str | None
    projection_type: str = "ALL"
    non_key_attributes: tuple[str, ...] = ()
    status: str = "ACTIVE"  # GSIs: CREATING while backfilling, then ACTIVE
    provisioned: tuple[int, int] | None = None
    hash_keys: tuple[str, ...] = ()  # () means (hash_key,)
    range_keys: tuple[str, ...] = ()  # () means (range_key,) or no sort key

    def __post_init__(self) -> None:
        if not self.hash_keys:
            object.__setattr__(self, "hash_keys", (self.hash_key,))
        if not self.range_keys and self.range_key is not None:
            object.__setattr__(self, "range_keys", (self.range_key,))
        assert self.hash_keys[0] == self.hash_key
        assert self.range_keys[:1] == (() if self.range_key is None else (self.range_key,))

    @property
    def key_names(self) -> tuple[str, ...]:
        return self.hash_keys + self.range_keys

    @property
    def composite(self) -> bool:
        return len(self.hash_keys) > 1 or len(self.range_keys) > 1

    def key_schema(self) -> list[dict[str, str]]:
        return [{"AttributeName": n, "KeyType": "HASH"} for n in self.hash_keys] + [
            {"AttributeName": n, "KeyType": "RANGE"} for n in self.range_keys
        ]

    def projection(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ProjectionType": self.projection_type}
        if self.projection_type == "INCLUDE":
            out["NonKeyAttributes"] = list(self.non_key_attributes)
        return out

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "number": self.number,
            "kind": self.kind,
            "hash": self.hash_key,
            "range": self.range_key,
            "projection": self.projection_type,
            "non_key": list(self.non_key_attributes),
            "status": self.status,
            "provisioned": list(self.provisioned) if self.provisioned else None,
            # Only multi-attribute keys add these, so records of other indexes keep their old shape.
            **({"hash_keys": list(self.hash_keys), "range_keys": list(self.range_keys)} if self.composite else {}),
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> IndexSchema:
        return cls(
            name=r["name"],
            number=r["number"],
            kind=r["kind"],
            hash_key=r["hash"],
            range_key=r["range"],
            projection_type=r["projection"],
            non_key_attributes=tuple(r["non_key"]),
            status=r["status"],
            provisioned=tuple(r["provisioned"]) if r["provisioned"] else None,
            hash_keys=tuple(r.get("hash_keys", ())),
            range_keys=tuple(r.get("range_keys", ())),
        )


@dataclass(frozen=True)
class TableSchema:
    name: str
    table_id: int
    uuid: str
    hash_key: str
    range_key: str | None
    attribute_types: dict[str, str]
    billing_mode: str
    provisioned: tuple[int, int]
    created: float
    indexes: tuple[IndexSchema, ...] = ()
    next_index_number: int = 1
    ttl_attribute: str | None = None
    ttl_updated: float = 0.0
    stream: dict[str, Any] | None = None
    tags: tuple[tuple[str, str], ...] = ()
    table_class: str = "STANDARD"
    deletion_protection: bool = False
    billing_updated: float = 0.0
    region: str = "us-east-1"
    account: str = "000000000000"
    version: int = 1  # bumped by every change, so a cache can tell records apart

    # -- keys -----------------------------------------------------------------------------

    @property
    def key_names(self) -> tuple[str, ...]:
        return (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)

    def key_schema(self) -> list[dict[str, str]]:
        out = [{"AttributeName": self.hash_key, "KeyType": "HASH"}]
        if self.range_key is not None:
            out.append({"AttributeName": self.range_key, "KeyType": "RANGE"})
        return out

    def index(self, name: str) -> IndexSchema | None:
        for index in self.indexes:
            if index.name == name:
                return index
        return None

    @property
    def arn(self) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{self.name}"

    # -- storage ----------------------------------------------------------------------------

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "table_id": self.table_id,
            "uuid": self.uuid,
            "hash": self.hash_key,
            "range": self.range_key,
            "types": dict(self.attribute_types),
            "billing": self.billing_mode,
            "provisioned": list(self.provisioned),
            "created": self.created,
            "indexes": [i.to_record() for i in self.indexes],
            "next_index": self.next_index_number,
            "ttl": self.ttl_attribute,
            "ttl_updated": self.ttl_updated,
            "stream": self.stream,
            "tags": [list(t) for t in self.tags],
            "class": self.table_class,
            "protect": self.deletion_protection,
            "billing_updated": self.billing_updated,
            "region": self.region,
            "account": self.account,
            "version": self.version,
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> TableSchema:
        return cls(
            name=r["name"],
            table_id=r["table_id"],
            uuid=r["uuid"],
            hash_key=r["hash"],
            range_key=r["range"],
            attribute_types=dict(r["types"]),
            billing_mode=r["billing"],
            provisioned=tuple(r["provisioned"]),
            created=r["created"],
            indexes=tuple(IndexSchema.from_record(i) for i in r["indexes"]),
            next_index_number=r["next_index"],
            ttl_attribute=r["ttl"],
            ttl_updated=r["ttl_updated"],
            stream=dict(r["stream"]) if r["stream"] else None,
            tags=tuple((k, v) for k, v in r["tags"]),
            table_class=r["class"],
            deletion_protection=r["protect"],
            billing_updated=r["billing_updated"],
            region=r["region"],
            account=r["account"],
            version=r["version"],
        )

    def changed(self, **changes: Any) -> TableSchema:
        return replace(self, version=self.version + 1, **changes)

    # -- DescribeTable ------------------------------------------------------------------------

    def describe(
        self, status: str = "ACTIVE", counts: dict[int, tuple[int, int]] | None = None
    ) -> dict[str, Any]:
        """The `TableDescription` shape; `counts` maps index number (0: table) to (items, bytes)."""
        counts = counts or {}
        items, size = counts.get(0, (0, 0))
        used = set(self.key_names)
        for index in self.indexes:
            used.update(index.key_names)
        out: dict[str, Any] = {
            "AttributeDefinitions": [
                {"AttributeName": name, "AttributeType": kind}
                for name, kind in self.attribute_types.items()
                if name in used
            ],
            "TableName": self.name,
            "KeySchema": self.key_schema(),
            "TableStatus": status,
            "CreationDateTime": self.created,
            "ProvisionedThroughput": self._throughput(self.provisioned),
            "TableSizeBytes": size,
            "ItemCount": items,
            "TableArn": self.arn,
            "TableId": self.uuid,
        }
        if self.billing_mode == "PAY_PER_REQUEST" or self.billing_updated:
            out["BillingModeSummary"] = {"BillingMode": self.billing_mode}
            if self.billing_mode == "PAY_PER_REQUEST":
                out["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"] = self.billing_updated or self.created
        lsis = [i for i in self.indexes if i.kind == "LSI"]
        gsis = [i for i in self.indexes if i.kind == "GSI"]
        if lsis:
            out["LocalSecondaryIndexes"] = [
                {
                    "IndexName": i.name,
                    "KeySchema": i.key_schema(),
                    "Projection": i.projection(),
                    "IndexSizeBytes": counts.get(i.number, (0, 0))[1],
                    "ItemCount": counts.get(i.number, (0, 0))[0],
                    "IndexArn": f"{self.arn}/index/{i.name}",
                }
                for i in lsis
            ]
        if gsis:
            described = []
            for i in gsis:
                entry = {
                    "IndexName": i.name,
                    "KeySchema": i.key_schema(),
                    "Projection": i.projection(),
                    "IndexStatus": i.status,
                    "ProvisionedThroughput": self._throughput(
                        i.provisioned if i.provisioned and self.billing_mode == "PROVISIONED" else (0, 0)
                    ),
                    "IndexSizeBytes": counts.get(i.number, (0, 0))[1],
                    "ItemCount": counts.get(i.number, (0, 0))[0],
                    "IndexArn": f"{self.arn}/index/{i.name}",
                }
                if i.status == "CREATING":
                    entry["Backfilling"] = True
                described.append(entry)
            out["GlobalSecondaryIndexes"] = described
        if self.stream:
            # `stream` also keeps the stream's id, label and shard timing (see
            # kv/dynamodb/streams.py); after a disable it keeps the label, and
            # DescribeTable still names the latest stream, which stays readable.
            if self.stream.get("StreamEnabled"):
                out["StreamSpecification"] = {
                    "StreamEnabled": True,
                    "StreamViewType": self.stream["StreamViewType"],
                }
            label = self.stream.get("label") or _stream_label(self.created)
            out["LatestStreamLabel"] = label
            out["LatestStreamArn"] = f"{self.arn}/stream/{label}"
        if self.table_class != "STANDARD":
            out["TableClassSummary"] = {"TableClass": self.table_class}
        out["DeletionProtectionEnabled"] = self.deletion_protection
        return out

    @staticmethod
    def _throughput(provisioned: tuple[int, int]) -> dict[str, Any]:
        return {
            "NumberOfDecreasesToday": 0,
            "ReadCapacityUnits": provisioned[0],
            "WriteCapacityUnits": provisioned[1],
        }


def _stream_label(created: float) -> str:
    return dt.datetime.fromtimestamp(created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
