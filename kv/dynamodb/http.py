"""DynamoDB's JSON 1.0 protocol over HTTP/1.1, as an ASGI application.

    POST /   X-Amz-Target: DynamoDB_20120810.<Operation>   body: JSON   ->  200 JSON
    POST /   X-Amz-Target: DynamoDBStreams_20120810.<Operation>  (the Streams API)
    GET  /   health check: 200 "healthy: <host>"
    OPTIONS  CORS preflight: 200, empty (see `cors`)

Every answer is `application/x-amz-json-1.0` with an `x-amzn-RequestId`
and an `x-amz-crc32` computed over the exact bytes sent (a wrong CRC would
make botocore retry). Errors are DynamoDB's
`{"__type": ..., "message": ...}` with the status botocore expects: 400
for the client's mistakes, 413 past the 16 MB body limit, 500 for our own
faults (which SDKs retry). Request bodies may be gzip- or
deflate-compressed, and responses are when the client accepts it (see
`codings`). No `Server` header is sent.

DescribeEndpoints is answered here rather than by the service: the address
to give is the one the client reached (its Host header), since a client
doing endpoint discovery sends its next requests there.

Optional pieces: SigV4 verification (`sigv4`) and, only when `dsql serve
--dynamodb-test-hooks` turns them on, the `/_dsql/test/...` paths that hold
back and release a storage replica, which the strong-versus-eventual tests
use, and `/_dsql/test/streams/config?shard_seconds=&retention_seconds=` and
`/_dsql/test/streams/trim`, which let the Streams tests see shards close and
records trimmed in seconds. DynamoDB clients never send anything there.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import trio

from kv.dynamodb import codings, cors
from kv.dynamodb.errors import DynamoError, internal, serialization
from kv.dynamodb.service import DynamoDBService
from kv.dynamodb.sigv4 import SigV4Verifier

log = logging.getLogger(__name__)

TARGET_PREFIX = "DynamoDB_20120810."
STREAMS_TARGET_PREFIX = "DynamoDBStreams_20120810."  # the DynamoDB Streams API, on the same endpoint
CONTENT_TYPE = b"application/x-amz-json-1.0"
BODY_BYTES_MAX = 16 * 1024 * 1024  # DynamoDB's request size limit; 413 above it
# A body over the limit is still read (and dropped) up to this much, so that a
# client that sends the whole body before reading the answer gets the 413
# instead of a broken connection; past it the connection is simply closed.
DRAIN_BYTES_MAX = 64 * 1024 * 1024
TEST_HOOK_PREFIX = "/_dsql/test/"
ENDPOINT_CACHE_MINUTES = 1440  # what DynamoDB's DescribeEndpoints answers

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


PayloadTooLarge = codings.PayloadTooLarge


class ReplicaControl:
    """The test hook: hold back or release one storage replica (a `StorageNode`)."""

    def __init__(self, nodes: list[Any]) -> None:
        self.nodes = nodes

    def handle(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        parts = path[len(TEST_HOOK_PREFIX) :].strip("/").split("/")
        if parts == ["replicas"] and method == "GET":
            return 200, {"replicas": [self._status(n) for n in range(len(self.nodes))]}
        if len(parts) == 3 and parts[0] == "replicas" and method == "POST" and parts[2] in ("pause", "resume"):
            try:
                node = self.nodes[int(parts[1])]
            except (ValueError, IndexError):
                return 404, {"error": f"no replica {parts[1]}"}
            node.pause() if parts[2] == "pause" else node.resume()
            return 200, self._status(int(parts[1]))
        return 404, {"error": "unknown test hook"}

    def _status(self, n: int) -> dict[str, Any]:
        node = self.nodes[n]
        return {"replica": n, "paused": bool(node.paused), "watermark": node.watermark}


def _request_id() -> str:
    # DynamoDB's request ids are 52 upper-case letters and digits.
    return os.urandom(26).hex().upper()


# JSON both ways with msgspec (a few microseconds a request instead of ~15 with `json`); whatever
# msgspec refuses goes through `json`, so that edge cases (a byte-order mark, NaN, a lone
# surrogate) behave exactly as they did: answered, or refused with the same error.
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def _json_body(obj: Any) -> bytes:
    try:
        return _encoder.encode(obj)
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _json_request(body: bytes) -> Any:
    try:
        return _decoder.decode(body)
    except msgspec.MsgspecError:
        return json.loads(body)


def _host(scope: Scope) -> str:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")


class _Responder:
    """The ASGI `send` of one request, with what every answer to it carries:
    extra headers (CORS) and the coding the client accepts."""

    def __init__(self, send: Send, extra: list[tuple[bytes, bytes]], coding: str | None) -> None:
        self._send = send
        self.extra = extra
        self.coding = coding

    async def __call__(self, message: dict[str, Any]) -> None:
        await self._send(message)


class DynamoDBApp:
    def __init__(
        self,
        service: DynamoDBService,
        *,
        verifier: SigV4Verifier | None = None,
        hooks: ReplicaControl | None = None,
        body_bytes_max: int = BODY_BYTES_MAX,
    ) -> None:
        self.service = service
        self.verifier = verifier
        self.hooks = hooks
        self.body_bytes_max = body_bytes_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method = scope["method"]
        path = scope["path"]
        # Headers every answer to this request carries (CORS), and how it may be compressed.
        extra = cors.response_headers(method, scope["headers"])
        accept = next((v.decode("latin-1") for k, v in reversed(scope["headers"]) if k == b"accept-encoding"), None)
        send = _Responder(send, extra, codings.choose_response_coding(accept))
        if method == "OPTIONS":
            await self._drain(receive)
            await self._send(send, 200, b"")
            return
        if method == "GET" and path == "/":
            await self._send(send, 200, f"healthy: {_host(scope)}".encode(), b"text/plain; charset=utf-8")
            return
        if self.hooks is not None and path.startswith(TEST_HOOK_PREFIX):
            await self._drain(receive)
            if path.startswith(TEST_HOOK_PREFIX + "streams/"):
                status, payload = await self._streams_hook(method, path, scope.get("query_string", b""))
            else:
                status, payload = self.hooks.handle(method, path)
            await self._send(send, status, _json_body(payload))
            return
        if method != "POST" or path != "/":
            await self._error(send, DynamoError("UnknownOperationException", "An unknown operation was requested.", status=404 if method == "GET" else 400))
            return
        try:
            raw = await self._read_body(scope, receive)
        except PayloadTooLarge:
            await self._error(send, DynamoError("PayloadTooLarge", "Request size exceeds the maximum allowed size", status=413))
            return
        try:
            response = await self._handle(scope, raw)
        except PayloadTooLarge:
            await self._error(send, DynamoError("PayloadTooLarge", "Request size exceeds the maximum allowed size", status=413))
            return
        except DynamoError as exc:
            await self._error(send, exc)
            return
        except trio.Cancelled:
            raise
        except Exception:
            log.exception("dynamodb: internal error")
            await self._error(send, internal())
            return
        await self._send(send, 200, b"" if response is None else _json_body(response))

    async def _streams_hook(self, method: str, path: str, query: bytes) -> tuple[int, dict[str, Any]]:
        """Test hooks for streams: shorter shards and retention for new streams, and a trim pass now."""
        action = path[len(TEST_HOOK_PREFIX + "streams/") :].strip("/")
        service = self.service
        if method != "POST":
            return 404, {"error": "unknown test hook"}
        if action == "config":
            settings = urllib.parse.parse_qs(query.decode("latin-1"))
            try:
                if "shard_seconds" in settings:
                    service.stream_shard_ns = max(1, round(float(settings["shard_seconds"][0]) * 1000)) * 1_000_000
                if "retention_seconds" in settings:
                    service.stream_retention_ns = round(float(settings["retention_seconds"][0]) * 1e9)
            except ValueError:
                return 400, {"error": "bad number"}
            return 200, {"shard_ns": service.stream_shard_ns, "retention_ns": service.stream_retention_ns}
        if action == "trim":
            return 200, {"trimmed": await service.maintenance.trim_streams()}
        return 404, {"error": "unknown test hook"}

    async def _handle(self, scope: Scope, raw: bytes) -> dict[str, Any] | None:
        encoding = target = None  # the first of each header, as the verifier's table would give
        for name, value in scope["headers"]:  # ASGI header names are lower-case
            if name == b"x-amz-target":
                target = value.decode("latin-1") if target is None else target
            elif name == b"content-encoding":
                encoding = value.decode("latin-1") if encoding is None else encoding
        if self.verifier is not None:
            headers: dict[str, list[str]] = {}
            for name, value in scope["headers"]:
                headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
            self.verifier.verify(
                scope["method"], scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?")[0],
                scope.get("query_string", b"").decode("latin-1"), headers, raw,
            )  # fmt: skip
        body = self._decode(raw, encoding or "")
        target = target or ""
        streams = target.startswith(STREAMS_TARGET_PREFIX)
        if not streams and not target.startswith(TARGET_PREFIX):
            raise DynamoError("UnknownOperationException", "An unknown operation was requested.")
        operation = target[len(STREAMS_TARGET_PREFIX if streams else TARGET_PREFIX) :]
        try:
            request = _json_request(body) if body else {}
        except (ValueError, UnicodeDecodeError):
            raise serialization() from None
        if not isinstance(request, dict):
            raise serialization("Start of structure or map found where not expected")
        if operation == "DescribeEndpoints" and not streams:
            return {"Endpoints": [{"Address": _host(scope), "CachePeriodInMinutes": ENDPOINT_CACHE_MINUTES}]}
        return await self.service.handle(operation, request, streams=streams)

    def _decode(self, raw: bytes, encoding: str) -> bytes:
        return codings.decode_request(raw, encoding, self.body_bytes_max)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = 0
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    pass
        if declared > DRAIN_BYTES_MAX:
            raise PayloadTooLarge()
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > DRAIN_BYTES_MAX:
                raise PayloadTooLarge()
            if size <= self.body_bytes_max:
                chunks.append(chunk)
            if not message.get("more_body"):
                break
        if size > self.body_bytes_max:
            raise PayloadTooLarge()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _drain(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                return

    async def _error(self, send: Send, exc: DynamoError) -> None:
        await self._send(send, exc.status, _json_body(exc.body()))

    async def _send(self, send: Send, status: int, body: bytes, content_type: bytes = CONTENT_TYPE) -> None:
        headers = [(b"content-type", content_type)]
        coding = None
        if isinstance(send, _Responder):
            headers += send.extra
            body, coding = codings.encode_response(body, send.coding)
        if coding is not None:
            headers.append((b"content-encoding", coding.encode()))
        headers += [
            (b"content-length", str(len(body)).encode()),
            (b"x-amzn-requestid", _request_id().encode()),
            (b"x-amz-crc32", str(zlib.crc32(body)).encode()),  # of the bytes sent, compressed or not
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
