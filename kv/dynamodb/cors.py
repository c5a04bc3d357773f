"""CORS on the DynamoDB endpoint, so that JavaScript in a browser can call it.

DynamoDB (and DynamoDB Local) answer any origin. What they send, as the
Alternator suite recorded against DynamoDB (scylladb test/alternator/
test_cors.py): a request without an `Origin` header gets no CORS headers at
all; every request with one (GET, POST or OPTIONS) gets
`Access-Control-Allow-Origin: *` and `Access-Control-Expose-Headers`; a
preflight (OPTIONS) also gets `Access-Control-Max-Age`, and echoes what it
asks for in `Access-Control-Request-Method` and `-Headers` as
`Access-Control-Allow-Methods`/`-Headers`. A preflight is answered 200 with
an empty body, whatever the path, since it asks about the request to come.
"""

from __future__ import annotations

from collections.abc import Iterable

# Headers a browser script may read from a response: what the SDKs look at.
EXPOSE_HEADERS = b"x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,x-amz-crc32,Date"
# How long a browser may cache a preflight's answer: DynamoDB's 2 days.
MAX_AGE_S = 172800


def response_headers(method: str, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The CORS headers to add to the answer to a request with these (ASGI) headers."""
    origin = requested_method = requested_headers = None
    for name, value in headers:
        if name == b"origin":
            origin = value
        elif name == b"access-control-request-method":
            requested_method = value
        elif name == b"access-control-request-headers":
            requested_headers = value
    if origin is None:
        return []
    out = [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", EXPOSE_HEADERS)]
    if method == "OPTIONS":
        out.append((b"access-control-max-age", str(MAX_AGE_S).encode()))
        if requested_method is not None:
            out.append((b"access-control-allow-methods", requested_method))
        if requested_headers is not None:
            out.append((b"access-control-allow-headers", requested_headers))
    return out
