"""A small Python client for the Riak-style Dynamo HTTP API (`kv.dynamo.http`).

    with DynamoClient("http://127.0.0.1:8098") as riak:
        riak.put("carts", "alice", b"[]", content_type="application/json")
        fetched = riak.get("carts", "alice")        # .found, .siblings, .context
        riak.put("carts", "alice", b'["book"]', context=fetched.context)
        riak.update("carts", "alice", add_book, resolve=union)

`AsyncDynamoClient` has the same methods as coroutines (httpx on anyio, so
it runs under trio as under asyncio).

What the client keeps of Riak's contract:

* Reads ask for `multipart/mixed`, so siblings come back together in one
  answer (`Fetched.siblings`, each with its value, content type, vtag,
  last-modified time and user metadata) with the one causal context
  (`Fetched.context`, the X-Riak-Vclock) that covers them all.
* Writing back with that context replaces exactly what was read; a blind
  write (no context) beside an existing value makes a sibling when the
  bucket has allow_mult.
* `update(bucket, key, fn, resolve=...)` is the read-modify-write Dynamo
  expects (§4.4 of the paper): read every sibling, merge them with the
  caller's `resolve` (the application's semantic reconciliation; without
  one, siblings raise `SiblingsError`), apply `fn`, and write the result
  back with the read's context so it supersedes every sibling it saw.
* Any answer other than the expected ones raises `DynamoHTTPError(status,
  message)` with the server's text.

Each operation is written once, as a generator that yields the HTTP
requests it needs and receives their responses; the sync and async clients
only differ in how they send them.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import json
from collections.abc import Callable, Generator
from typing import Any, NamedTuple
from urllib.parse import quote, unquote

import httpx

DEFAULT_TIMEOUT_S = 30.0
OCTET_STREAM = "application/octet-stream"
# Reads prefer siblings as multipart/mixed but accept a single value of any type.
READ_ACCEPT = "multipart/mixed, */*;q=0.5"
META_PREFIX = "x-riak-meta-"

Name = str | bytes
Value = bytes | str


class DynamoHTTPError(Exception):
    """An answer the operation does not expect: Riak's status and its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class SiblingsError(Exception):
    """`update` read siblings and was given no `resolve` function to merge them."""

    def __init__(self, bucket: Name, key: Name, fetched: Fetched) -> None:
        super().__init__(f"{key!r} in {bucket!r} has {len(fetched.siblings)} siblings; pass resolve= to merge them")
        self.fetched = fetched


class Sibling(NamedTuple):
    """One value of an object (Riak's "content"), with the metadata served beside it."""

    value: bytes
    content_type: str
    vtag: str
    last_modified: datetime.datetime | None
    user_meta: dict[str, str]


@dataclasses.dataclass(frozen=True, slots=True)
class Fetched:
    """What a read (or a put with returnbody) answered.

    `found` is False for a key never written or deleted (`deleted` tells
    which the server said); `context` is the X-Riak-Vclock to write back
    (for a deleted key, the tombstone's clock, so a write after it does not
    make a sibling of the tombstone)."""

    found: bool
    siblings: list[Sibling]
    context: str | None
    deleted: bool = False

    @property
    def value(self) -> bytes | None:
        """The one value (None when not found); ValueError when there are siblings."""
        if not self.siblings:
            return None
        if len(self.siblings) > 1:
            raise ValueError(f"{len(self.siblings)} siblings: resolve them (update(..., resolve=...)) or pick one")
        return self.siblings[0].value


Resolver = Callable[[list[Sibling]], Value]


@dataclasses.dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    content: bytes | None = None


Operation = Generator[HttpRequest, httpx.Response, Any]


# -- encoding requests -----------------------------------------------------------------


def _segment(name: Name) -> str:
    raw = name.encode() if isinstance(name, str) else bytes(name)
    if not raw:
        raise ValueError("bucket and key names must not be empty")
    return quote(raw, safe="")


def object_path(bucket: Name, key: Name) -> str:
    return f"/buckets/{_segment(bucket)}/keys/{_segment(key)}"


def _params(**values: Any) -> dict[str, str]:
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        out[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def _bytes(value: Value) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _write_headers(context: str | None, content_type: str, user_meta: dict[str, str] | None) -> dict[str, str]:
    headers = {"Content-Type": content_type, "Accept": READ_ACCEPT}
    if context is not None:
        headers["X-Riak-Vclock"] = context
    for name, value in (user_meta or {}).items():
        headers[f"X-Riak-Meta-{name}"] = value
    return headers


# -- decoding answers ------------------------------------------------------------------


def _fail(response: httpx.Response) -> DynamoHTTPError:
    return DynamoHTTPError(response.status_code, response.text.strip() or response.reason_phrase)


def _date(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None


def _sibling(headers: dict[str, str], value: bytes) -> Sibling:
    """A sibling from its headers (lower-cased names): a whole answer's or one multipart part's."""
    return Sibling(
        value=value,
        content_type=headers.get("content-type", OCTET_STREAM),
        vtag=headers.get("etag", "").strip().strip('"'),
        last_modified=_date(headers.get("last-modified")),
        user_meta={k[len(META_PREFIX) :]: v for k, v in headers.items() if k.startswith(META_PREFIX)},
    )


def _boundary(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary" and value.strip():
            return value.strip().strip('"')
    raise DynamoHTTPError(300, f"multipart answer without a boundary: {content_type!r}")


def parse_multipart(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart/mixed body (RFC 2046): (lower-cased headers, exact bytes) each.

    The CRLF before each delimiter belongs to the delimiter, so a value ends
    exactly where its bytes did; values may hold any bytes, CR and LF included."""
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    if body.startswith(delimiter[2:]):
        body = b"\r\n" + body
    pieces = body.split(delimiter)
    parts = []
    for piece in pieces[1:]:  # pieces[0] is the preamble
        if piece.startswith(b"--"):
            break  # the close delimiter; what follows is the epilogue
        line_end = piece.find(b"\r\n")
        if line_end < 0:
            raise DynamoHTTPError(300, "malformed multipart body (a delimiter without its line end)")
        piece = piece[line_end + 2 :]  # transport padding after the delimiter, then CRLF
        if piece.startswith(b"\r\n"):
            head, value = b"", piece[2:]  # a part without headers
        else:
            head, sep, value = piece.partition(b"\r\n\r\n")
            if not sep:
                raise DynamoHTTPError(300, "malformed multipart body (a part without its blank line)")
        headers: dict[str, str] = {}
        for line in head.split(b"\r\n"):
            if not line:
                continue
            name, colon, field = line.partition(b":")
            if not colon:
                raise DynamoHTTPError(300, f"malformed multipart header {line!r}")
            headers[name.decode("latin-1").strip().lower()] = field.decode("latin-1").strip()
        parts.append((headers, value))
    return parts


def _headers(response: httpx.Response) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        out.setdefault(name.lower(), value)
    return out


def parse_object(response: httpx.Response) -> Fetched:
    """A 200 or 300 answer carrying an object (a read, a returnbody put)."""
    headers = _headers(response)
    context = headers.get("x-riak-vclock")
    content_type = headers.get("content-type", OCTET_STREAM)
    if response.status_code == 300 or (
        response.status_code == 201 and content_type.lower().startswith("multipart/mixed")
    ):
        if not content_type.lower().startswith("multipart/mixed"):
            raise DynamoHTTPError(300, "siblings answered without multipart/mixed (the Accept header was not honoured)")
        parts = parse_multipart(response.content, _boundary(content_type))
        return Fetched(True, [_sibling(h, v) for h, v in parts], context)
    return Fetched(True, [_sibling(headers, response.content)], context)


# -- the operations, once, sans I/O ------------------------------------------------------


def _get(bucket: Name, key: Name, params: dict[str, str]) -> Operation:
    response = yield HttpRequest("GET", object_path(bucket, key), params, {"Accept": READ_ACCEPT})
    if response.status_code == 404:
        deleted = response.headers.get("x-riak-deleted", "").lower() == "true"
        return Fetched(False, [], response.headers.get("x-riak-vclock"), deleted)
    if response.status_code not in (200, 300):
        raise _fail(response)
    return parse_object(response)


def _put(bucket: Name, key: Name, value: Value, context: str | None, content_type: str,
         user_meta: dict[str, str] | None, params: dict[str, str]) -> Operation:  # fmt: skip
    response = yield HttpRequest(
        "PUT", object_path(bucket, key), params, _write_headers(context, content_type, user_meta), _bytes(value)
    )
    if response.status_code == 204:
        return None
    if response.status_code in (200, 300) and params.get("returnbody") == "true":
        return parse_object(response)
    raise _fail(response)


def _create(bucket: Name, value: Value, content_type: str, user_meta: dict[str, str] | None,
            params: dict[str, str]) -> Operation:  # fmt: skip
    response = yield HttpRequest(
        "POST", f"/buckets/{_segment(bucket)}/keys", params, _write_headers(None, content_type, user_meta), _bytes(value)
    )
    if response.status_code != 201:
        raise _fail(response)
    location = response.headers.get("location", "")
    return unquote(location.rsplit("/", 1)[-1])


def _delete(bucket: Name, key: Name, context: str | None, params: dict[str, str]) -> Operation:
    headers = {} if context is None else {"X-Riak-Vclock": context}
    response = yield HttpRequest("DELETE", object_path(bucket, key), params, headers)
    if response.status_code == 204:
        return True
    if response.status_code == 404:
        return False
    raise _fail(response)


def _update(bucket: Name, key: Name, fn: Callable[[bytes | None], Value], resolve: Resolver | None,
            content_type: str | None, read: dict[str, str], write: dict[str, str]) -> Operation:  # fmt: skip
    fetched = yield from _get(bucket, key, read)
    if len(fetched.siblings) > 1 and resolve is None:
        raise SiblingsError(bucket, key, fetched)
    if not fetched.siblings:
        current = None
    elif len(fetched.siblings) == 1:
        current = fetched.siblings[0].value
    else:
        assert resolve is not None
        current = _bytes(resolve(fetched.siblings))
    if content_type is None:
        types = {s.content_type for s in fetched.siblings}
        content_type = types.pop() if len(types) == 1 else OCTET_STREAM
    new = fn(current)
    stored = yield from _put(bucket, key, new, fetched.context, content_type, None, {**write, "returnbody": "true"})
    return stored


def _json_get(path: str, params: dict[str, str]) -> Operation:
    response = yield HttpRequest("GET", path, params, {"Accept": "application/json"})
    if response.status_code != 200:
        raise _fail(response)
    return response.json()


def _expect(method: str, path: str, status: int, content: bytes | None = None,
            headers: dict[str, str] | None = None) -> Operation:  # fmt: skip
    response = yield HttpRequest(method, path, {}, headers or {}, content)
    if response.status_code != status:
        raise _fail(response)
    return response


def _ping() -> Operation:
    response = yield HttpRequest("GET", "/ping", {}, {})
    return response.status_code == 200 and response.content == b"OK"


def _list(path: str, field: str, params: dict[str, str]) -> Operation:
    document = yield from _json_get(path, params)
    return list(document[field])


def _props(bucket: Name) -> Operation:
    document = yield from _json_get(f"/buckets/{_segment(bucket)}/props", {})
    return document["props"]


def _set_props(bucket: Name, props: dict[str, Any]) -> Operation:
    body = json.dumps({"props": props}).encode()
    yield from _expect("PUT", f"/buckets/{_segment(bucket)}/props", 204, body, {"Content-Type": "application/json"})


def _read_params(r: Any, pr: Any, basic_quorum: bool | None, notfound_ok: bool | None,
                 timeout_ms: int | None) -> dict[str, str]:  # fmt: skip
    return _params(r=r, pr=pr, basic_quorum=basic_quorum, notfound_ok=notfound_ok, timeout=timeout_ms)


# -- the two drivers ---------------------------------------------------------------------


class _Base:
    """The public operations; `_run` sends what an operation yields."""

    def _run(self, operation: Operation) -> Any:
        raise NotImplementedError

    def get(self, bucket: Name, key: Name, *, r: int | str | None = None, pr: int | str | None = None,
            basic_quorum: bool | None = None, notfound_ok: bool | None = None,
            timeout_ms: int | None = None) -> Any:  # fmt: skip
        """Read a key: a `Fetched` (`.found` False when absent or deleted)."""
        return self._run(_get(bucket, key, _read_params(r, pr, basic_quorum, notfound_ok, timeout_ms)))

    def put(self, bucket: Name, key: Name, value: Value, *, context: str | None = None,
            content_type: str = OCTET_STREAM, user_meta: dict[str, str] | None = None,
            w: int | str | None = None, dw: int | str | None = None, pw: int | str | None = None,
            returnbody: bool = False, timeout_ms: int | None = None) -> Any:  # fmt: skip
        """Write a value (with the context of the read it follows): None, or
        the stored object (`Fetched`, siblings included) with `returnbody`."""
        params = _params(w=w, dw=dw, pw=pw, timeout=timeout_ms, returnbody=True if returnbody else None)
        return self._run(_put(bucket, key, value, context, content_type, user_meta, params))

    def create(self, bucket: Name, value: Value, *, content_type: str = OCTET_STREAM,
               user_meta: dict[str, str] | None = None, w: int | str | None = None,
               dw: int | str | None = None, pw: int | str | None = None) -> Any:  # fmt: skip
        """POST to the bucket: the server picks the key, which is returned."""
        return self._run(_create(bucket, value, content_type, user_meta, _params(w=w, dw=dw, pw=pw)))

    def delete(self, bucket: Name, key: Name, *, context: str | None = None, rw: int | str | None = None,
               w: int | str | None = None, dw: int | str | None = None, pw: int | str | None = None,
               timeout_ms: int | None = None) -> Any:  # fmt: skip
        """Delete a key: True, or False when there was nothing to delete (404)."""
        return self._run(_delete(bucket, key, context, _params(rw=rw, w=w, dw=dw, pw=pw, timeout=timeout_ms)))

    def update(self, bucket: Name, key: Name, fn: Callable[[bytes | None], Value], *,
               resolve: Resolver | None = None, content_type: str | None = None,
               r: int | str | None = None, w: int | str | None = None, dw: int | str | None = None,
               pw: int | str | None = None) -> Any:  # fmt: skip
        """Read-modify-write: `fn(current value or None)` written back with the
        read's context; siblings are first merged by `resolve(siblings) -> bytes`
        (without it they raise SiblingsError). Returns the stored `Fetched`
        (it can still hold siblings if someone else wrote meanwhile)."""
        return self._run(
            _update(bucket, key, fn, resolve, content_type, _params(r=r), _params(w=w, dw=dw, pw=pw))
        )

    def list_keys(self, bucket: Name) -> Any:
        return self._run(_list(f"/buckets/{_segment(bucket)}/keys", "keys", {"keys": "true"}))

    def list_buckets(self) -> Any:
        return self._run(_list("/buckets", "buckets", {"buckets": "true"}))

    def bucket_props(self, bucket: Name) -> Any:
        return self._run(_props(bucket))

    def set_bucket_props(self, bucket: Name, props: dict[str, Any] | None = None, **changes: Any) -> Any:
        return self._run(_set_props(bucket, {**(props or {}), **changes}))

    def reset_bucket_props(self, bucket: Name) -> Any:
        return self._run(_expect("DELETE", f"/buckets/{_segment(bucket)}/props", 204))

    def ping(self) -> Any:
        return self._run(_ping())

    def stats(self) -> Any:
        return self._run(_json_get("/stats", {}))


class DynamoClient(_Base):
    """The synchronous client (one pooled httpx.Client)."""

    def __init__(self, base_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s)

    def _run(self, operation: Operation) -> Any:
        try:
            request = next(operation)
            while True:
                response = self.http.request(
                    request.method, request.path, params=request.params, headers=request.headers,
                    content=request.content,
                )  # fmt: skip
                request = operation.send(response)
        except StopIteration as done:
            return done.value

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> DynamoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncDynamoClient(_Base):
    """The asynchronous client (httpx.AsyncClient; runs under trio or asyncio).
    Every method returns a coroutine."""

    def __init__(self, base_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s)

    async def _drive(self, operation: Operation) -> Any:
        try:
            request = next(operation)
            while True:
                response = await self.http.request(
                    request.method, request.path, params=request.params, headers=request.headers,
                    content=request.content,
                )  # fmt: skip
                request = operation.send(response)
        except StopIteration as done:
            return done.value

    def _run(self, operation: Operation) -> Any:
        return self._drive(operation)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncDynamoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
