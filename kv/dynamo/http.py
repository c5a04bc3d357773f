"""Riak KV 2.x's HTTP API for Dynamo, as an ASGI application over `DynamoService`.

What it serves (Riak's `riak_kv_web` routes, its `riak_kv_wm_*` resources):

    GET|HEAD /buckets/B/keys/K     ?r ?pr ?basic_quorum ?notfound_ok ?vtag ?timeout
                                   200 one value | 300 siblings | 304 (If-None-Match)
                                   | 404 | 400 | 406 | 503
    PUT|POST /buckets/B/keys/K     ?w ?dw ?pw ?returnbody ?timeout   X-Riak-Vclock,
                                   Content-Type (required), X-Riak-Meta-*, If-Match,
                                   If-None-Match     204 | 200/300 (returnbody) | 400 | 412 | 413 | 503
    POST     /buckets/B/keys       a server-chosen key: 201 + Location
    DELETE   /buckets/B/keys/K     ?rw ?w ?dw ?pw ?timeout  X-Riak-Vclock   204 | 404 | 503
    GET      /buckets/B/keys       ?keys=true {"keys":[...]}; ?keys=stream: chunked
                                   {"keys":[...]} objects ending with {"keys":[]}; else {}
    GET|PUT|DELETE /buckets/B/props   {"props":{...}}; PUT/DELETE answer 204
    GET      /buckets              ?buckets=true|stream {"buckets":[...]}
    GET      /ping                 "OK"          GET /stats   JSON counters

and each bucket path again under /types/default/... (Riak 2's bucket types;
only "default" exists here, any other type is 404 "Unknown bucket type: T").

dsql's own extensions, not Riak's (kv/dynamo/dsql_routes.py documents them):

    GET      /dsql/copies/B        each key's up-to-date copies, per node (JSON)
    GET|PUT  /dsql/aae             active anti-entropy on every node; PUT
                                   {"enabled": false} switches it off (400 for a bad body)

Riak's rules kept here (from riak_kv_wm_object.erl and friends):

* Every answer carrying an object (200, 300, a returnbody) has its
  `X-Riak-Vclock`, the causal context the client writes back. A read of a
  deleted key is 404 "not found" with `X-Riak-Deleted: true` and the
  tombstone's clock (Riak's HTTP resource always asks for `deletedvclock`;
  `?deletedvclock=false` leaves the clock out).
* Several live siblings and no `?vtag`: 300 Multiple Choices, content
  negotiated between `text/plain` ("Siblings:\\n" and one vtag a line, the
  default, as webmachine picks the first type on `*/*`) and
  `multipart/mixed` (one part per sibling with its Content-Type, Link,
  Etag, Last-Modified and X-Riak-Meta-* headers). `?vtag=V` answers that
  one sibling (200), or 404 when no sibling has it.
* A single value is served with the Content-Type it was stored with; an
  Accept header that excludes it is 406, as webmachine does.
* Query parameters are checked before anything else, with Riak's texts
  ("r query parameter must be an integer or one of the following words:
  'one', 'quorum' or 'all'"); a quorum above the bucket's n_val is Riak's
  400 "Specified w/dw/pw/node_confirms values invalid for bucket n value of
  N". Bucket and key are percent-decoded bytes of 1..BUCKET_BYTES_MAX and
  1..KEY_BYTES_MAX bytes; a body above VALUE_BYTES_MAX is 413; a bad
  `X-Riak-Vclock` is 400. None of these reaches the coordinator, so no
  bad request touches stored data (reading the bucket's n_val is the only
  call made before the check).
* Errors of the coordinator map by class: `InvalidRequest` 400,
  `DynamoRequestError.status` otherwise (503 "R-value unsatisfied: 1/2"
  for a missed quorum, 503 on a timeout), each a text/plain line.

Deliberate differences: Link headers and secondary indexes (Riak's
X-Riak-Index-*) are not stored (only the bucket's `rel="up"` link is
sent); `asis`, `sync_on_write` and `node_confirms` are refused with 400
rather than ignored; keys and bucket names that are not UTF-8 are listed
with U+FFFD in their place (JSON carries text, not bytes; Riak's mochijson2
would fail on them).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_to_bytes

import msgspec
import trio

from kv.dynamo import dsql_routes
from kv.dynamo.interface import (
    BUCKET_BYTES_MAX,
    KEY_BYTES_MAX,
    VALUE_BYTES_MAX,
    DeleteOptions,
    DynamoRequestError,
    GetOptions,
    InvalidRequest,
    PutOptions,
    Quorum,
)
from kv.dynamo.objects import NewContent, Sibling, StoredObject
from kv.dynamo.service import DynamoService
from kv.dynamo.vclock import VClock

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

DEFAULT_TYPE = "default"  # Riak 2's bucket type of /buckets/... paths
META_PREFIX = "x-riak-meta-"
# Bodies other than an object's value (bucket properties) are small JSON.
PROPS_BYTES_MAX = 64 * 1024
# A body over its limit is still read (and dropped) up to this much, so a
# client that sends it all before reading the answer gets the 413 rather
# than a reset connection; past it the connection is closed.
DRAIN_BYTES_MAX = VALUE_BYTES_MAX + 16 * 1024 * 1024
# Keys per JSON object of a ?keys=stream answer (Riak sends one object per
# vnode's batch; the client concatenates them).
STREAM_KEYS_PER_CHUNK = 1000
QUORUM_WORDS = ("one", "quorum", "all", "default")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class HttpError(Exception):
    """An answer other than success, decided before or after the service call."""

    def __init__(self, status: int, message: str = "", headers: Headers | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Route:
    """A request's target: which resource, and the bucket and key it names (bytes, decoded)."""

    resource: str  # "object", "keys", "props", "buckets", "ping", "stats"
    bucket_type: str | None  # set when the path began /types/T
    bucket: bytes | None = None
    key: bytes | None = None

    def object_path(self, key: bytes) -> str:
        """Riak's format_uri: the path of an object of this route's bucket."""
        assert self.bucket is not None
        tail = f"buckets/{quote(self.bucket, safe='')}/keys/{quote(key, safe='')}"
        return f"/types/{quote(self.bucket_type, safe='')}/{tail}" if self.bucket_type else f"/{tail}"


ALLOWED = {
    "object": ("HEAD", "GET", "POST", "PUT", "DELETE"),
    "keys": ("HEAD", "GET", "POST"),
    "props": ("HEAD", "GET", "PUT", "DELETE"),
    "buckets": ("HEAD", "GET"),
    "ping": ("HEAD", "GET"),
    "stats": ("HEAD", "GET"),
    "dsql_copies": ("HEAD", "GET"),
    "dsql_aae": ("HEAD", "GET", "PUT"),
}


def route(raw_path: bytes) -> Route | None:
    """The resource a path names (None: no such resource). Segments are
    percent-decoded one by one, so %2F is a slash inside a key."""
    segments = raw_path.split(b"/")
    if not segments or segments[0] != b"":
        return None
    parts = [unquote_to_bytes(s) for s in segments[1:]]
    if parts == [b"ping"]:
        return Route("ping", None)
    if parts == [b"stats"]:
        return Route("stats", None)
    if parts == [b"dsql", b"aae"]:
        return Route("dsql_aae", None)
    if len(parts) == 3 and parts[:2] == [b"dsql", b"copies"]:
        return Route("dsql_copies", None, parts[2])
    bucket_type = None
    if len(parts) >= 3 and parts[0] == b"types" and parts[2] == b"buckets":
        bucket_type = parts[1].decode("utf-8", "replace")
        parts = parts[2:]
    if not parts or parts[0] != b"buckets":
        return None
    if len(parts) == 1:
        return Route("buckets", bucket_type)
    bucket = parts[1]
    if len(parts) == 3 and parts[2] == b"props":
        return Route("props", bucket_type, bucket)
    if len(parts) == 3 and parts[2] == b"keys":
        return Route("keys", bucket_type, bucket)
    if len(parts) == 4 and parts[2] == b"keys":
        return Route("object", bucket_type, bucket, parts[3])
    return None


# -- request parsing -------------------------------------------------------------------


class Request:
    """The parts of an ASGI request the resources read: method, query, headers."""

    def __init__(self, scope: Scope) -> None:
        self.method: str = scope["method"]
        self.query: dict[str, str] = {}
        for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
            self.query.setdefault(name, value)  # Riak (mochiweb) reads the first of a repeated parameter
        self.headers: list[tuple[str, bytes]] = [(k.decode("latin-1").lower(), v) for k, v in scope["headers"]]

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None


def _quorum_param(request: Request, name: str, n_val: int | None) -> Quorum | None:
    """A quorum query parameter as Riak's malformed_rw_param reads it (None: absent or "default")."""
    raw = request.query.get(name)
    if raw is None or raw == "default":
        return None
    if raw in QUORUM_WORDS:
        return raw
    if raw.isdigit():
        value = int(raw)
        if n_val is not None and value > n_val:
            raise HttpError(400, f"Specified w/dw/pw/node_confirms values invalid for bucket n value of {n_val}\n")
        return value
    raise HttpError(
        400,
        f"{name} query parameter must be an integer or one of the following words: 'one', 'quorum' or 'all'\n",
    )


def _bool_param(request: Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered == "default":
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    raise HttpError(400, f"{name} query parameter must be true or false\n")


def _timeout_param(request: Request) -> float | None:
    raw = request.query.get("timeout")
    if raw is None:
        return None
    if not raw.isdigit():
        raise HttpError(400, f"Bad timeout value {json.dumps(raw)}\n")
    return int(raw) / 1000.0


def _refuse_unsupported(request: Request) -> None:
    for name in ("asis", "sync_on_write", "node_confirms"):
        if name in request.query and request.query[name] not in ("default", "false"):
            raise HttpError(400, f"{name} query parameter is not supported by this server\n")


def _check_names(route_: Route) -> None:
    if route_.bucket_type is not None and route_.bucket_type != DEFAULT_TYPE:
        raise HttpError(404, f"Unknown bucket type: {route_.bucket_type}")
    if route_.bucket is not None and not 1 <= len(route_.bucket) <= BUCKET_BYTES_MAX:
        raise HttpError(400, f"bucket name must be 1 to {BUCKET_BYTES_MAX} bytes, got {len(route_.bucket)}\n")
    if route_.key is not None and not 1 <= len(route_.key) <= KEY_BYTES_MAX:
        raise HttpError(400, f"key must be 1 to {KEY_BYTES_MAX} bytes, got {len(route_.key)}\n")


def _context(request: Request) -> VClock | None:
    header = request.header("x-riak-vclock")
    if header is None:
        return None
    try:
        return VClock.decode(header.strip())
    except ValueError as exc:
        raise HttpError(400, f"Invalid X-Riak-Vclock header: {exc}\n") from None


def _content_type(request: Request) -> str:
    """Riak's extract_content_type: the media type and its charset parameter, the rest dropped."""
    raw = request.header("content-type")
    if raw is None:
        raise HttpError(400, "Missing Content-Type request header")
    media, _, params = raw.partition(";")
    media = media.strip()
    kind, slash, subtype = media.partition("/")
    if not (slash and kind and subtype) or "/" in subtype:
        raise HttpError(415, f'"{media}" is not a valid media type for the Content-type header.\n')
    charset = None
    for param in params.split(";"):
        name, eq, value = param.strip().partition("=")
        if eq and name.strip().lower() == "charset":
            charset = value.strip().strip('"')
    return f"{media}; charset={charset}" if charset else media


def _user_meta(request: Request) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name[len(META_PREFIX) :], value.decode("latin-1"))
        for name, value in request.headers
        if name.startswith(META_PREFIX) and len(name) > len(META_PREFIX)
    )


# -- content negotiation ---------------------------------------------------------------


def _accepted(accept: str | None) -> list[tuple[str, float]]:
    if accept is None or not accept.strip():
        return [("*/*", 1.0)]
    ranges = []
    for item in accept.split(","):
        media, *params = item.split(";")
        q = 1.0
        for param in params:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((media.strip().lower(), q))
    return ranges


def choose_media_type(provided: Iterable[str], accept: str | None) -> str | None:
    """Webmachine's choose_media_type: the provided type the Accept header
    ranks highest (ties: the first provided), None when it accepts none."""
    ranges = _accepted(accept)
    best: tuple[float, str] | None = None
    for media in provided:
        base = media.split(";")[0].strip().lower()
        kind = base.split("/")[0]
        q = 0.0
        specificity = -1
        for pattern, pq in ranges:
            if pattern == base:
                level = 2
            elif pattern == f"{kind}/*":
                level = 1
            elif pattern == "*/*":
                level = 0
            else:
                continue
            if level > specificity:
                specificity, q = level, pq
        if q > 0 and (best is None or q > best[0]):
            best = (q, media)
    return None if best is None else best[1]


# -- answers ---------------------------------------------------------------------------


def http_date(ns: int) -> str:
    return email.utils.formatdate(ns / 1e9, usegmt=True)


def _base62(number: int) -> str:
    chars = []
    while number:
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(reversed(chars)) or "0"


def unique_id_62() -> str:
    """A fresh key or boundary, as riak_core_util:unique_id_62 (base62 of 160 random bits)."""
    return _base62(int.from_bytes(secrets.token_bytes(20), "big"))


def _link(bucket: bytes) -> str:
    return f'</buckets/{quote(bucket, safe="")}>; rel="up"'


def _sibling_headers(bucket: bytes, sibling: Sibling) -> list[tuple[str, str]]:
    headers = [
        ("Content-Type", sibling.content_type),
        ("Link", _link(bucket)),
        ("Etag", sibling.vtag),
        ("Last-Modified", http_date(sibling.last_modified_ns)),
    ]
    headers += [(f"X-Riak-Meta-{name}", value) for name, value in sibling.user_meta]
    return headers


def multipart_body(bucket: bytes, siblings: Iterable[Sibling], boundary: str) -> bytes:
    """Riak's produce_multipart_body: one part per sibling, CRLF framing."""
    out = bytearray()
    for sibling in siblings:
        out += f"\r\n--{boundary}\r\n".encode()
        for name, value in _sibling_headers(bucket, sibling):
            out += f"{name}: {value}\r\n".encode("latin-1", "replace")
        out += b"\r\n"
        out += sibling.value
    out += f"\r\n--{boundary}--\r\n".encode()
    return bytes(out)


def _encode_header(value: str) -> bytes:
    return value.encode("latin-1", "replace")


def _object_etag(obj: StoredObject) -> str:
    """The ETag of an object with siblings: a hash of its clock (Riak: md5 of the vclock, base62)."""
    return _base62(int.from_bytes(hashlib.md5(obj.clock.encode().encode()).digest(), "big"))


def _etag_matches(header: str, etag: str | None) -> bool:
    if etag is None:
        return False
    for item in header.split(","):
        item = item.strip()
        if item == "*" or item.removeprefix("W/").strip('"') == etag:
            return True
    return False


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes = b""
    headers: Headers | None = None


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _text(name: bytes) -> str:
    return name.decode("utf-8", "replace")


class _BodyTracker:
    """`receive`, remembering whether the request body has been read to its end
    (after that, receive() waits for the client to disconnect)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.done = False

    async def __call__(self) -> dict[str, Any]:
        message = await self._receive()
        if message["type"] == "http.disconnect" or not message.get("more_body"):
            self.done = True
        return message


class DynamoApp:
    """The ASGI application: one coroutine per request, all state in `service`."""

    def __init__(self, service: DynamoService, *, value_bytes_max: int = VALUE_BYTES_MAX) -> None:
        self.service = service
        self.value_bytes_max = value_bytes_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope)
        receive = _BodyTracker(receive)
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
        target = route(raw_path.split(b"?", 1)[0])
        try:
            if target is None:
                raise HttpError(404, "not found\n")
            allowed = ALLOWED[target.resource]
            if request.method not in allowed:
                raise HttpError(405, "", [(b"allow", ", ".join(allowed).encode())])
            _check_names(target)
            if target.resource == "keys" and request.method == "GET" and request.query.get("keys") == "stream":
                await self._drain(receive)
                await self._stream_keys(send, target)
                return
            if target.resource == "buckets" and request.query.get("buckets") == "stream":
                await self._drain(receive)
                await self._stream_buckets(send)
                return
            answer = await self._dispatch(request, target, receive)
        except HttpError as exc:
            await self._drain(receive)
            headers = [(b"content-type", b"text/plain"), *exc.headers] if exc.message else exc.headers
            answer = Answer(exc.status, exc.message.encode(), headers)
        except InvalidRequest as exc:
            answer = Answer(400, f"{exc}\n".encode(), [(b"content-type", b"text/plain")])
        except DynamoRequestError as exc:
            answer = Answer(exc.status, f"{exc}\n".encode(), [(b"content-type", b"text/plain")])
        except trio.Cancelled:
            raise
        except Exception as exc:
            log.exception("dynamo http: internal error")
            answer = Answer(500, f"Error:\n{type(exc).__name__}: {exc}\n".encode(), [(b"content-type", b"text/plain")])
        await self._send(send, answer, head=request.method == "HEAD")

    async def _dispatch(self, request: Request, target: Route, receive: Receive) -> Answer:
        if target.resource == "ping":
            ok = await self.service.ping()
            return Answer(200 if ok else 503, b"OK" if ok else b"unavailable\n", [(b"content-type", b"text/html")])
        if target.resource == "stats":
            return Answer(200, _json(await self.service.stats()), [(b"content-type", b"application/json")])
        if target.resource == "buckets":
            if request.query.get("buckets") != "true":
                raise HttpError(400, "buckets query parameter must be true or stream\n")
            buckets = await self.service.list_buckets()
            return Answer(200, _json({"buckets": [_text(b) for b in buckets]}), [(b"content-type", b"application/json")])
        if target.resource == "props":
            return await self._props(request, target, receive)
        if target.resource == "dsql_copies":
            assert target.bucket is not None
            body = await dsql_routes.copies_json(self.service, target.bucket, request.query)
            return Answer(200, body, [(b"content-type", b"application/json")])
        if target.resource == "dsql_aae":
            return await self._aae(request, receive)
        if target.resource == "keys" and request.method != "POST":
            if request.query.get("keys") != "true":
                return Answer(200, b"{}", [(b"content-type", b"application/json")])
            keys = await self.service.list_keys(target.bucket)
            return Answer(200, _json({"keys": [_text(k) for k in keys]}), [(b"content-type", b"application/json")])
        if request.method in ("GET", "HEAD"):
            return await self._get(request, target)
        if request.method == "DELETE":
            return await self._delete(request, target)
        return await self._put(request, target, receive)

    # -- objects -------------------------------------------------------------------------

    async def _n_val(self, bucket: bytes) -> int:
        return (await self.service.bucket_props(bucket)).n_val

    async def _get(self, request: Request, target: Route) -> Answer:
        assert target.bucket is not None and target.key is not None
        _refuse_unsupported(request)
        timeout_s = _timeout_param(request)
        basic_quorum = _bool_param(request, "basic_quorum")
        notfound_ok = _bool_param(request, "notfound_ok")
        deleted_vclock = _bool_param(request, "deletedvclock")
        for name in ("r", "pr"):
            _quorum_param(request, name, None)  # syntax first, as Riak's malformed_request
        n_val = await self._n_val(target.bucket)
        options = GetOptions(
            r=_quorum_param(request, "r", n_val), pr=_quorum_param(request, "pr", n_val),
            notfound_ok=notfound_ok, basic_quorum=basic_quorum, timeout_s=timeout_s,
        )  # fmt: skip
        obj = await self.service.get(target.bucket, target.key, options)
        if obj is None:
            raise HttpError(404, "not found\n")
        if obj.deleted:
            headers = [(b"x-riak-deleted", b"true")]
            if deleted_vclock is not False:
                headers.append((b"x-riak-vclock", obj.clock.encode().encode()))
            raise HttpError(404, "not found\n", headers)
        answer = self._object_answer(request, target.bucket, obj, request.query.get("vtag"), 200)
        if_none_match = request.header("if-none-match")
        etag = next((v.decode() for k, v in answer.headers or [] if k == b"etag"), None)
        if if_none_match is not None and _etag_matches(if_none_match, etag and etag.strip('"')):
            # Webmachine's conditional GET: the client's copy is current.
            kept = (b"etag", b"x-riak-vclock", b"last-modified")
            return Answer(304, b"", [(k, v) for k, v in answer.headers or [] if k in kept])
        return answer

    def _object_answer(
        self, request: Request, bucket: bytes, obj: StoredObject, vtag: str | None, status: int,
        extra: Headers | None = None,
    ) -> Answer:  # fmt: skip
        """An object as Riak serves it: its one value, the sibling `vtag` names, or 300."""
        live = obj.live_siblings
        clock = (b"x-riak-vclock", obj.clock.encode().encode())
        if vtag is not None:
            chosen = [s for s in live if s.vtag == vtag]
            if not chosen:
                raise HttpError(404, "not found\n")
            live = tuple(chosen)
        accept = request.header("accept")
        if len(live) == 1:
            sibling = live[0]
            if choose_media_type([sibling.content_type], accept) is None:
                raise HttpError(406, f"Not Acceptable: the object is {sibling.content_type}\n")
            headers = [(k.lower().encode(), _encode_header(v)) for k, v in _sibling_headers(bucket, sibling)]
            headers = [(b"etag", f'"{sibling.vtag}"'.encode()) if k == b"etag" else (k, v) for k, v in headers]
            return Answer(status, sibling.value, [clock, *headers, *(extra or [])])
        chosen_type = choose_media_type(["text/plain", "multipart/mixed"], accept)
        if chosen_type is None:
            raise HttpError(406, "Not Acceptable: siblings are served as text/plain or multipart/mixed\n")
        common = [
            clock,
            (b"etag", f'"{_object_etag(obj)}"'.encode()),
            (b"last-modified", http_date(max(s.last_modified_ns for s in live)).encode()),
            *(extra or []),
        ]
        status = 300 if status == 200 else status  # 201 (a POST that created) stays 201
        if chosen_type == "multipart/mixed":
            boundary = unique_id_62()
            body = multipart_body(bucket, live, boundary)
            return Answer(status, body, [(b"content-type", f"multipart/mixed; boundary={boundary}".encode()), *common])
        body = b"Siblings:\n" + b"".join(s.vtag.encode() + b"\n" for s in live)
        return Answer(status, body, [(b"content-type", b"text/plain"), *common])

    async def _check_conditions(self, request: Request, target: Route) -> None:
        """If-Match / If-None-Match on a write, as webmachine decides them: 412
        when the stored object (fetched for the purpose) does not meet them.
        Like Riak's, the check and the write are not atomic."""
        if_match = request.header("if-match")
        if_none_match = request.header("if-none-match")
        if if_match is None and if_none_match is None:
            return
        assert target.bucket is not None and target.key is not None
        obj = await self.service.get(target.bucket, target.key, GetOptions())
        exists = obj is not None and not obj.deleted
        etag = None
        if obj is not None and exists:
            live = obj.live_siblings
            etag = live[0].vtag if len(live) == 1 else _object_etag(obj)
        if if_match is not None and (not exists or (if_match.strip() != "*" and not _etag_matches(if_match, etag))):
            raise HttpError(412, "")
        if if_none_match is not None and exists and (if_none_match.strip() == "*" or _etag_matches(if_none_match, etag)):
            raise HttpError(412, "")

    async def _put(self, request: Request, target: Route, receive: Receive) -> Answer:
        assert target.bucket is not None
        _refuse_unsupported(request)
        content_type = _content_type(request)
        timeout_s = _timeout_param(request)
        for name in ("w", "dw", "pw"):
            _quorum_param(request, name, None)
        context = _context(request)
        user_meta = _user_meta(request)
        try:
            value = await self._read_body(request, receive, self.value_bytes_max)
        except BodyTooLarge:
            raise HttpError(413, f"Object too large: the limit is {self.value_bytes_max} bytes\n") from None
        n_val = await self._n_val(target.bucket)
        options = PutOptions(
            w=_quorum_param(request, "w", n_val), dw=_quorum_param(request, "dw", n_val),
            pw=_quorum_param(request, "pw", n_val), timeout_s=timeout_s,
        )  # fmt: skip
        created = target.key is None
        key = target.key if target.key is not None else unique_id_62().encode()
        if not created:
            await self._check_conditions(request, target)
        stored = await self.service.put(target.bucket, key, NewContent(value, content_type, user_meta), context, options)
        extra = [(b"location", target.object_path(key).encode())] if created else []
        if request.query.get("returnbody") == "true":
            return self._object_answer(request, target.bucket, stored, None, 201 if created else 200, extra)
        return Answer(201 if created else 204, b"", extra)

    async def _delete(self, request: Request, target: Route) -> Answer:
        assert target.bucket is not None and target.key is not None
        _refuse_unsupported(request)
        timeout_s = _timeout_param(request)
        for name in ("rw", "w", "dw", "pw"):
            _quorum_param(request, name, None)
        context = _context(request)
        n_val = await self._n_val(target.bucket)
        options = DeleteOptions(
            rw=_quorum_param(request, "rw", n_val), w=_quorum_param(request, "w", n_val),
            dw=_quorum_param(request, "dw", n_val), pw=_quorum_param(request, "pw", n_val),
            timeout_s=timeout_s,
        )  # fmt: skip
        await self._check_conditions(request, target)
        if not await self.service.delete(target.bucket, target.key, context, options):
            raise HttpError(404, "not found\n")
        return Answer(204)

    # -- bucket properties -----------------------------------------------------------------

    async def _props(self, request: Request, target: Route, receive: Receive) -> Answer:
        assert target.bucket is not None
        if request.method in ("GET", "HEAD"):
            props = await self.service.bucket_props(target.bucket)
            body = {"props": {"name": _text(target.bucket), **msgspec.structs.asdict(props)}}
            return Answer(200, _json(body), [(b"content-type", b"application/json")])
        if request.method == "DELETE":
            await self.service.reset_bucket_props(target.bucket)
            return Answer(204)
        try:
            raw = await self._read_body(request, receive, PROPS_BYTES_MAX)
        except BodyTooLarge:
            raise HttpError(413, f"bucket properties are limited to {PROPS_BYTES_MAX} bytes\n") from None
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            document = None
        if not isinstance(document, dict) or not isinstance(document.get("props"), dict):
            raise HttpError(400, 'bucket PUT must be a JSON object of the form:\n{"props":{...bucket properties...}}')
        # Webmachine checks the media type after the body (malformed_request comes first).
        content_type = (request.header("content-type") or "application/octet-stream").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise HttpError(415, "bucket properties must be sent as application/json\n")
        await self.service.set_bucket_props(target.bucket, document["props"])
        return Answer(204)

    async def _aae(self, request: Request, receive: Receive) -> Answer:
        if request.method == "PUT":
            try:
                raw = await self._read_body(request, receive, PROPS_BYTES_MAX)
            except BodyTooLarge:
                raise HttpError(413, f"the body is limited to {PROPS_BYTES_MAX} bytes\n") from None
            enabled, interval_s = dsql_routes.parse_aae_body(raw)
            settings, unreachable = await self.service.set_aae(enabled, interval_s)
        else:
            settings, unreachable = await self.service.aae_settings()
        body = dsql_routes.aae_json(settings, unreachable)
        return Answer(200, body, [(b"content-type", b"application/json")])

    # -- streams ---------------------------------------------------------------------------

    async def _stream(self, send: Send, chunks: Iterable[bytes]) -> None:
        await send({
            "type": "http.response.start", "status": 200,
            "headers": [(b"content-type", b"application/json")],
        })  # fmt: skip
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _stream_keys(self, send: Send, target: Route) -> None:
        """?keys=stream: Riak's chunked answer, one {"keys":[...]} object per
        batch and a last {"keys":[]}. The listing is gathered before the
        first byte so an error can still be a status."""
        assert target.bucket is not None
        try:
            keys = await self.service.list_keys(target.bucket)
        except DynamoRequestError as exc:
            await self._send(send, Answer(exc.status, f"{exc}\n".encode(), [(b"content-type", b"text/plain")]))
            return
        batches = [keys[i : i + STREAM_KEYS_PER_CHUNK] for i in range(0, len(keys), STREAM_KEYS_PER_CHUNK)]
        await self._stream(send, [*(_json({"keys": [_text(k) for k in b]}) for b in batches), _json({"keys": []})])

    async def _stream_buckets(self, send: Send) -> None:
        try:
            buckets = await self.service.list_buckets()
        except DynamoRequestError as exc:
            await self._send(send, Answer(exc.status, f"{exc}\n".encode(), [(b"content-type", b"text/plain")]))
            return
        chunks = [_json({"buckets": [_text(b) for b in buckets]})] if buckets else []
        await self._stream(send, [*chunks, _json({"buckets": []})])

    # -- I/O -------------------------------------------------------------------------------

    async def _read_body(self, request: Request, receive: Receive, limit: int) -> bytes:
        declared = request.header("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > DRAIN_BYTES_MAX:
            raise BodyTooLarge()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > DRAIN_BYTES_MAX:
                raise BodyTooLarge()
            if size <= limit:
                chunks.append(chunk)
            if not message.get("more_body"):
                break
        if size > limit:
            raise BodyTooLarge()
        return b"".join(chunks)

    async def _drain(self, receive: Receive) -> None:
        """Read what is left of a request body (bounded), so an early answer
        leaves the connection usable; nothing when it was read already."""
        size = 0
        while isinstance(receive, _BodyTracker) and not receive.done and size <= DRAIN_BYTES_MAX:
            message = await receive()
            size += len(message.get("body", b""))

    async def _send(self, send: Send, answer: Answer, *, head: bool = False) -> None:
        headers = list(answer.headers or [])
        if answer.status not in (204, 304):
            headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head or answer.status in (204, 304) else answer.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
