"""The DynamoDB Streams API (`DynamoDBStreams_20120810.*`): ListStreams, DescribeStream,
GetShardIterator, GetRecords, and trimming records past the retention period.

The records are storage rows in commit order (see `streams`); this module
reads them. A reader's position is a sequence number it has read up to
(exclusive start of the next read). GetRecords reads strongly as of
τ_read = now: every record with τ_commit ≤ τ_read is then visible and final
(no commit can still arrive below τ_read), so after a read that returned
everything up to τ_read the position moves to the end of τ_read and no
record that commits later can fall behind it. Reading never touches what
writers touch (the records are written in the writers' own commits;
reading them is a range scan), so a slow or absent reader costs writers
nothing, and a lagging one loses nothing until the retention period trims
its records: then it gets TrimmedDataAccessException, never a silent gap.

Shards: a stream's shard k covers the commits with τ in
[created + k·shard, created + (k+1)·shard); shard k+1 is its child (its
ParentShardId is shard k), as DynamoDB closes a shard and opens a child
every few hours. Disabling the stream (or deleting the table) closes its
last shard at that moment. A closed shard has an EndingSequenceNumber, and
a reader that has read it to the end gets no NextShardIterator. Shard
boundaries are fixed when the stream is created (its description record
keeps the shard length), so every process computes the same shards.

Iterators are self-contained (stream ARN, shard, position, issue time, with
a checksum), so any process of a cluster can continue one, and they expire
after 15 minutes as DynamoDB's do.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import struct
import zlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kv.dynamodb import params, streams
from kv.dynamodb import values as av
from kv.dynamodb.errors import DynamoError, validation
from kv.dynamodb.table_requests import check_table_name
from kv.dynamodb.txn import with_retries
from storage import keys

if TYPE_CHECKING:
    from kv.dynamodb.service import DynamoDBService

TARGET_PREFIX = "DynamoDBStreams_20120810."
SHARD_S_DEFAULT = 4 * 3600  # DynamoDB rolls a stream's shards over every few hours
RETENTION_S_DEFAULT = 24 * 3600  # DynamoDB Streams keeps records for 24 hours
ITERATOR_LIFETIME_NS = 15 * 60 * 10**9  # "A shard iterator expires 15 minutes after it is retrieved"
GET_RECORDS_LIMIT_MAX = 1000  # GetRecords returns at most 1000 records ...
GET_RECORDS_BYTES_MAX = 1024 * 1024  # ... or 1 MB, whichever comes first
LIST_STREAMS_LIMIT_MAX = 100
DESCRIBE_STREAM_LIMIT_MAX = 100
STREAM_ARN_LENGTH = (37, 1024)
SHARD_ID_LENGTH = (28, 65)
ITERATOR_LENGTH = (1, 2048)
TRIM_BATCH_KEYS = 200  # record keys per trimming transaction: bounded commits
# Record keys one trimming pass deletes per stream at most, so a pass holds a bounded list in
# memory; a larger backlog (a retention just shortened) goes over the next passes.
TRIM_PASS_KEYS_MAX = 20_000
SCAN_PAGE_ROWS = 200
ITERATOR_TYPES = ("TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP")
SHARD_FILTER_TYPES = ("CHILD_SHARDS",)
SERVICE_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}

_SHARD_ID = re.compile(r"shardId-(\d{20})-([0-9a-f]{8})")
_ITERATOR = struct.Struct(">I16sQ")  # shard number, position (u128), issue time


def _not_found(message: str = "Requested resource not found") -> DynamoError:
    return DynamoError("ResourceNotFoundException", message)


def _trimmed() -> DynamoError:
    return DynamoError("TrimmedDataAccessException", "The data you are trying to access has been trimmed.")


# -- a stream and its shards ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """A stream's description record, and the shards it implies at a given time."""

    arn: str
    stream_id: bytes
    label: str
    table: str
    view: str
    key_schema: list[dict[str, str]]
    created_ns: int
    shard_ns: int
    disabled_ns: int | None
    ready_ns: int = 0  # ENABLING before this (streams.info_record)

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Stream:
        return cls(
            arn=r["arn"],
            stream_id=bytes.fromhex(r["id"]),
            label=r["label"],
            table=r["table"],
            view=r["view"],
            key_schema=list(r["key_schema"]),
            created_ns=r["created_ns"],
            shard_ns=r["shard_ns"],
            disabled_ns=r["disabled_ns"],
            ready_ns=r.get("ready_ns", 0),
        )

    def status(self, now_ns: int) -> str:
        if self.disabled_ns is not None:
            return "DISABLED"
        return "ENABLING" if now_ns < self.ready_ns else "ENABLED"

    def shard_start(self, k: int) -> int:
        return self.created_ns + k * self.shard_ns

    def shard_end(self, k: int) -> int:
        """The exclusive end τ of shard k (closed once it is past)."""
        end = self.shard_start(k + 1)
        return end if self.disabled_ns is None else min(end, self.disabled_ns)

    def shard_range(self, now_ns: int, retention_ns: int) -> range:
        """The shard numbers that exist at `now_ns`: opened by then, and not wholly past retention."""
        last_tau = now_ns if self.disabled_ns is None else min(now_ns, self.disabled_ns - 1)
        if last_tau < self.created_ns:
            return range(0)
        last = (last_tau - self.created_ns) // self.shard_ns
        first = max(0, (now_ns - retention_ns - self.created_ns) // self.shard_ns)
        while first <= last and self.shard_end(first) <= now_ns - retention_ns:
            first += 1
        return range(first, last + 1)

    def expired(self, now_ns: int, retention_ns: int) -> bool:
        """A disabled stream is gone once its last record is past retention."""
        return self.disabled_ns is not None and self.disabled_ns <= now_ns - retention_ns

    def shard_id(self, k: int) -> str:
        start_ms = self.shard_start(k) // 1_000_000
        check = hashlib.blake2b(self.stream_id + k.to_bytes(4, "big"), digest_size=4).hexdigest()
        return f"shardId-{start_ms:020d}-{check}"

    def shard_number(self, shard_id: str) -> int | None:
        """k of one of this stream's shard ids, or None if it is not one."""
        match = _SHARD_ID.fullmatch(shard_id)
        if match is None:
            return None
        offset = int(match.group(1)) * 1_000_000 - self.created_ns
        if offset < 0 or offset % self.shard_ns:
            return None
        k = offset // self.shard_ns
        return k if self.shard_id(k) == shard_id else None

    def describe_shard(self, k: int, now_ns: int) -> dict[str, Any]:
        numbers = {"StartingSequenceNumber": str(streams.first_sequence_at(self.shard_start(k)))}
        end = self.shard_end(k)
        if end <= now_ns:
            numbers["EndingSequenceNumber"] = str(streams.last_sequence_at(end - 1))
        shard: dict[str, Any] = {"ShardId": self.shard_id(k), "SequenceNumberRange": numbers}
        if k > 0:
            shard["ParentShardId"] = self.shard_id(k - 1)
        return shard


async def _stream_and_trim(service: DynamoDBService, arn: str, tau: int) -> tuple[Stream, int]:
    (info,) = await service.storage.get([streams.info_key(arn)], tau)
    if info is None:
        raise _not_found(f"Requested resource not found: Stream: {arn} not found")
    stream = Stream.from_record(info)
    if stream.expired(tau, service.stream_retention_ns):
        raise _not_found(f"Requested resource not found: Stream: {arn} not found")
    (trimmed,) = await service.storage.get([streams.trim_key(stream.stream_id)], tau)
    if stream.disabled_ns is not None:
        # Where the stream really ends: the disabling commit's τ (streams.end_mark), which
        # every reader agrees on, rather than the time the description record noted.
        low, high = streams.end_range(stream.stream_id)
        async for page in service.storage.scan(low, high, tau, limit=1):
            for key, _ in page:
                stream = replace(stream, disabled_ns=streams.end_of(key))
    return stream, int(trimmed or 0)


def _string(
    request: dict[str, Any], field: str, length: tuple[int, int], *, required: bool = True
) -> str | None:
    value = request.get(field)
    if value is None:
        if required:
            raise validation(
                f"1 validation error detected: Value null at '{params.camel(field)}' failed to satisfy constraint: "
                "Member must not be null"
            )
        return None
    if not isinstance(value, str):
        raise DynamoError("SerializationException", f"Unexpected value type for {field}")
    low, high = length
    if not low <= len(value) <= high:
        raise validation(
            f"1 validation error detected: Value '{value}' at '{params.camel(field)}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {high}"
            if len(value) > high
            else f"1 validation error detected: Value '{value}' at '{params.camel(field)}' failed to satisfy "
            f"constraint: Member must have length greater than or equal to {low}"
        )
    return value


# -- ListStreams ------------------------------------------------------------------------------------------


async def list_streams(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    limit = params.integer(request, "Limit", 1, LIST_STREAMS_LIMIT_MAX) or LIST_STREAMS_LIMIT_MAX
    table_name = request.get("TableName")
    if table_name is not None:
        check_table_name(table_name)
    start_arn = _string(request, "ExclusiveStartStreamArn", STREAM_ARN_LENGTH, required=False)
    tau = service.committer.begin()
    if table_name is not None:
        table_arn = f"arn:aws:dynamodb:{service.region}:{service.account}:table/{table_name}"
        low = streams.table_info_prefix(table_arn)
        high = keys.prefix_end(low)
    else:
        low, high = streams.info_range()
    if start_arn is not None:
        low = max(low, streams.info_key(start_arn) + b"\x00")
    found: list[Stream] = []
    more = False
    pages = service.storage.scan(low, high, tau, page_rows=SCAN_PAGE_ROWS)
    async with contextlib.aclosing(pages):
        async for page in pages:
            for _, record in page:
                stream = Stream.from_record(record)
                if stream.expired(tau, service.stream_retention_ns):
                    continue
                if len(found) == limit:
                    more = True
                    break
                found.append(stream)
            if more:
                break
    response: dict[str, Any] = {
        "Streams": [{"StreamArn": s.arn, "TableName": s.table, "StreamLabel": s.label} for s in found]
    }
    if more:
        response["LastEvaluatedStreamArn"] = found[-1].arn
    return response


# -- DescribeStream -----------------------------------------------------------------------------------------


async def describe_stream(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    arn = _string(request, "StreamArn", STREAM_ARN_LENGTH)
    assert arn is not None
    limit = params.integer(request, "Limit", 1, DESCRIBE_STREAM_LIMIT_MAX) or DESCRIBE_STREAM_LIMIT_MAX
    start_shard = _string(request, "ExclusiveStartShardId", SHARD_ID_LENGTH, required=False)
    tau = service.committer.begin()
    stream, _ = await _stream_and_trim(service, arn, tau)
    shard_numbers = stream.shard_range(tau, service.stream_retention_ns)
    shard_filter = request.get("ShardFilter")
    if shard_filter is not None:
        # ShardFilter {Type: CHILD_SHARDS, ShardId: parent}: the shards whose parent that is.
        if not isinstance(shard_filter, dict):
            raise validation("Invalid ShardFilter")
        params.enum(shard_filter, "Type", SHARD_FILTER_TYPES, "CHILD_SHARDS")
        parent_id = _string(shard_filter, "ShardId", SHARD_ID_LENGTH)
        assert parent_id is not None
        parent = stream.shard_number(parent_id)
        if parent is None:
            raise _not_found(f"Requested resource not found: Shard does not exist: {parent_id}")
        shard_numbers = range(parent + 1, parent + 2) if parent + 1 in shard_numbers else range(0)
    if start_shard is not None:
        after = stream.shard_number(start_shard)
        # An id that is not this stream's (or is already gone) starts from the beginning,
        # as paging from a shard that has since been trimmed should still see the rest.
        if after is not None:
            shard_numbers = range(max(shard_numbers.start, after + 1), shard_numbers.stop)
    listed = shard_numbers[:limit]
    description: dict[str, Any] = {
        "StreamArn": stream.arn,
        "StreamLabel": stream.label,
        "StreamStatus": stream.status(tau),
        "StreamViewType": stream.view,
        "CreationRequestDateTime": stream.created_ns / 1e9,
        "TableName": stream.table,
        "KeySchema": stream.key_schema,
        "Shards": [stream.describe_shard(k, tau) for k in listed],
    }
    if len(shard_numbers) > limit:
        description["LastEvaluatedShardId"] = stream.shard_id(listed[-1])
    return {"StreamDescription": description}


# -- iterators ---------------------------------------------------------------------------------------------


def encode_iterator(arn: str, k: int, after: int, issued_ns: int) -> str:
    body = _ITERATOR.pack(k, after.to_bytes(16, "big"), issued_ns)
    check = zlib.crc32(arn.encode() + body).to_bytes(4, "big")
    return f"{arn}|1|{base64.urlsafe_b64encode(body + check).decode()}"


def decode_iterator(iterator: str) -> tuple[str, int, int, int]:
    """(stream ARN, shard number, position, issue time) of an iterator; ValidationException if malformed."""
    invalid = validation("Invalid ShardIterator")
    parts = iterator.rsplit("|", 2)
    if len(parts) != 3 or parts[1] != "1":
        raise invalid
    arn, _, token = parts
    try:
        raw = base64.urlsafe_b64decode(token.encode())
    except (ValueError, UnicodeEncodeError):
        raise invalid from None
    if len(raw) != _ITERATOR.size + 4:
        raise invalid
    body, check = raw[: _ITERATOR.size], raw[_ITERATOR.size :]
    if zlib.crc32(arn.encode() + body).to_bytes(4, "big") != check:
        raise invalid
    k, after, issued_ns = _ITERATOR.unpack(body)
    return arn, k, int.from_bytes(after, "big"), issued_ns


def _sequence_number(raw: Any) -> int:
    if not isinstance(raw, str) or not raw.isdigit() or not 21 <= len(raw) <= 40:
        raise validation(f"Invalid SequenceNumber: {raw}")
    seq = int(raw)
    if not streams.valid_sequence(seq):
        raise validation(f"Invalid SequenceNumber: {raw}")
    return seq


async def get_shard_iterator(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    arn = _string(request, "StreamArn", STREAM_ARN_LENGTH)
    shard_id = _string(request, "ShardId", SHARD_ID_LENGTH)
    assert arn is not None and shard_id is not None
    if request.get("ShardIteratorType") is None:
        raise validation(
            "1 validation error detected: Value null at 'shardIteratorType' failed to satisfy constraint: "
            "Member must not be null"
        )
    kind = params.enum(request, "ShardIteratorType", ITERATOR_TYPES, "")
    raw_seq = request.get("SequenceNumber")
    if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        if raw_seq is None:
            raise validation(f"Must specify a SequenceNumber when using ShardIteratorType {kind}")
        seq = _sequence_number(raw_seq)
    elif raw_seq is not None:
        raise validation(f"Must not specify a SequenceNumber when using ShardIteratorType {kind}")
    raw_time = request.get("Timestamp")
    if kind == "AT_TIMESTAMP":
        if not isinstance(raw_time, (int, float)) or isinstance(raw_time, bool):
            raise validation("Must specify a Timestamp when using ShardIteratorType AT_TIMESTAMP")
        at_ns = round(raw_time * 1e9)
    elif raw_time is not None:
        raise validation(f"Must not specify a Timestamp when using ShardIteratorType {kind}")
    tau = service.committer.begin()
    stream, trimmed = await _stream_and_trim(service, arn, tau)
    k = stream.shard_number(shard_id)
    if k is None or k not in stream.shard_range(tau, service.stream_retention_ns):
        raise _not_found(f"Requested resource not found: Shard does not exist: {shard_id}")
    first = streams.first_sequence_at(stream.shard_start(k))
    last = streams.last_sequence_at(stream.shard_end(k) - 1)
    if kind == "TRIM_HORIZON":
        after = max(first - 1, trimmed)
    elif kind == "LATEST":
        # After everything committed so far. Waiting until `now` is certainly past
        # (as a commit does) means that any write that starts after this call
        # returns commits later than `now`, so the reader will see it.
        now = service.clock.now().latest
        await service.clock.wait_until_past(now)
        after = max(first - 1, min(streams.last_sequence_at(now), last))
    elif kind == "AT_TIMESTAMP":
        # The first record created at or after the timestamp (by its commit time, which
        # ApproximateCreationDateTime shows rounded down to the second); before the trim
        # horizon this is TRIM_HORIZON; a timestamp in the future is refused.
        if at_ns > service.clock.now().latest:
            raise validation(f"The Timestamp {raw_time} is in the future")
        after = min(max(first - 1, trimmed, streams.first_sequence_at(at_ns) - 1), last)
    else:
        if not first <= seq <= last:
            raise validation(
                f"Invalid SequenceNumber {raw_seq} for shard {shard_id}: not within the shard's range"
            )
        after = seq - 1 if kind == "AT_SEQUENCE_NUMBER" else seq
        if after < trimmed:
            raise _trimmed()
    return {"ShardIterator": encode_iterator(stream.arn, k, after, service.clock.now().latest)}


# -- GetRecords ---------------------------------------------------------------------------------------------


async def get_records(service: DynamoDBService, request: dict[str, Any]) -> dict[str, Any]:
    iterator = _string(request, "ShardIterator", ITERATOR_LENGTH)
    assert iterator is not None
    limit = params.integer(request, "Limit", 1, GET_RECORDS_LIMIT_MAX) or GET_RECORDS_LIMIT_MAX
    arn, k, after, issued_ns = decode_iterator(iterator)
    tau_read = service.committer.begin()
    if tau_read - issued_ns > ITERATOR_LIFETIME_NS:
        raise DynamoError(
            "ExpiredIteratorException", "Iterator expired. The iterator was created more than 15 minutes ago."
        )
    stream, trimmed = await _stream_and_trim(service, arn, tau_read)
    if after < trimmed:
        raise _trimmed()
    end_tau = stream.shard_end(k)
    stop = min(end_tau, tau_read + 1)
    records: list[dict[str, Any]] = []
    size = 0
    full = False
    position = after
    if streams.position(after)[0] < stop:
        low = streams.key_after(stream.stream_id, after)
        high = streams.key_at_tau(stream.stream_id, stop)
        pages = service.storage.scan(low, high, tau_read, page_rows=min(limit, SCAN_PAGE_ROWS))
        async with contextlib.aclosing(pages):
            async for page in pages:
                for key, stored in page:
                    seq = streams.sequence(streams.position_of(key))
                    record = _wire_record(service, stream, seq, stored)
                    size += stored["s"]
                    if records and size > GET_RECORDS_BYTES_MAX:
                        full = True
                        break
                    records.append(record)
                    position = seq
                    if len(records) == limit:
                        full = True
                        break
                if full:
                    break
    if not full:
        # Everything at or before τ_read is here (strong read), so the next read can
        # start after it: nothing can still commit there.
        position = max(position, streams.last_sequence_at(stop - 1))
    response: dict[str, Any] = {"Records": records}
    if full or end_tau > tau_read:
        response["NextShardIterator"] = encode_iterator(stream.arn, k, position, service.clock.now().latest)
    # A closed shard read to its end has no next iterator: its reader moves on to the child shard.
    return response


def _wire_record(
    service: DynamoDBService, stream: Stream, seq: int, stored: dict[str, Any]
) -> dict[str, Any]:
    tau, _, _ = streams.position(seq)
    body: dict[str, Any] = {
        "ApproximateCreationDateTime": float(tau // 10**9),
        "Keys": av.item_to_wire(stored["k"]),
    }
    if "n" in stored:
        body["NewImage"] = av.item_to_wire(stored["n"])
    if "o" in stored:
        body["OldImage"] = av.item_to_wire(stored["o"])
    body["SequenceNumber"] = str(seq)
    body["SizeBytes"] = stored["s"]
    body["StreamViewType"] = stored["v"]
    record: dict[str, Any] = {
        "eventID": hashlib.blake2b(f"{stream.arn}|{seq}".encode(), digest_size=16).hexdigest(),
        "eventName": stored["e"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": service.region,
        "dynamodb": body,
    }
    if stored.get("svc"):
        record["userIdentity"] = dict(SERVICE_IDENTITY)
    return record


# -- retention --------------------------------------------------------------------------------------------


async def trim_once(service: DynamoDBService) -> int:
    """Delete records older than the retention period, and streams wholly past it; returns records deleted."""
    now = service.committer.begin()
    horizon = now - service.stream_retention_ns
    low, high = streams.info_range()
    infos: list[tuple[bytes, Stream]] = []
    pages = service.storage.scan(low, high, now)
    async with contextlib.aclosing(pages):
        async for page in pages:
            infos += [(key, Stream.from_record(record)) for key, record in page]
    deleted = 0
    for info_key, stream in infos:
        gone = stream.expired(now, service.stream_retention_ns)
        start = streams.record_prefix(stream.stream_id)
        end = keys.prefix_end(start) if gone else streams.key_at_tau(stream.stream_id, horizon)
        doomed: list[bytes] = []
        pages = service.storage.scan(start, end, now, limit=TRIM_PASS_KEYS_MAX)
        async with contextlib.aclosing(pages):
            async for page in pages:
                doomed += [key for key, _ in page]
        for i in range(0, len(doomed), TRIM_BATCH_KEYS):
            batch = doomed[i : i + TRIM_BATCH_KEYS]
            # The trim point goes in the same commit as the deletions: a reader that
            # could miss a record because of them sees the point and is told so.
            marker = streams.sequence(streams.position_of(batch[-1]))
            await _delete(service, batch, stream.stream_id, marker)
            deleted += len(batch)
        if gone and len(doomed) < TRIM_PASS_KEYS_MAX:
            low, high = streams.end_range(stream.stream_id)
            ends: list[bytes] = []
            async for page in service.storage.scan(low, high, now):
                ends += [key for key, _ in page]
            await _delete(service, [info_key, streams.trim_key(stream.stream_id), *ends], None, 0)
    return deleted


async def _delete(
    service: DynamoDBService, doomed: list[bytes], stream_id: bytes | None, marker: int
) -> None:
    """Delete `doomed` and raise the stream's trim point to `marker` (never lower it: two
    processes may trim at once, and the later commit must not undo the earlier's point)."""

    async def attempt() -> None:
        tau_start = service.committer.begin()
        writes: list[tuple[bytes, Any]] = [(key, None) for key in doomed]
        if stream_id is not None:
            (current,) = await service.storage.get([streams.trim_key(stream_id)], tau_start)
            # A decimal string: sequence numbers are wider than the codec's 64-bit integers.
            writes.append((streams.trim_key(stream_id), str(max(marker, int(current or 0)))))
        await service.committer.commit(tau_start, writes, [key for key, _ in writes])

    await with_retries(attempt, service.rng)
