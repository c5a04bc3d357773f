"""Serving an ASGI application over HTTP/1.1 with hypercorn on trio: Dynamo's Riak endpoint.

Dynamo's Riak endpoint (`kv.dynamo.server`) is an ASGI app served here:
hypercorn speaks HTTP/1.1 (keep-alive, chunked bodies, pipelining) and hands
each request to the app; everything runs in the caller's trio nursery, beside
the PostgreSQL endpoint and the cluster's parts. The DynamoDB endpoint's app
is served by `kv.dynamodb.server` instead, whose lighter HTTP path answers in
the connection's own task (hypercorn's per-request machinery was most of a
GetItem's server CPU, bench/README.md). A query processor of a cluster binds each
port itself with SO_REUSEPORT and passes the socket in (`fd`), so that every
QP on a host shares the port.
"""

from __future__ import annotations

import http
import logging
import types
from functools import partial
from typing import Any

import h11
import hypercorn.protocol.h11 as hypercorn_h11
import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve


def _response_with_reason(**fields: Any) -> h11.Response:
    """h11's Response with the status's standard reason phrase when none is given."""
    if not fields.get("reason"):
        try:
            fields["reason"] = http.HTTPStatus(fields["status_code"]).phrase
        except ValueError:
            pass  # a status without a standard phrase keeps an empty one
    return h11.Response(**fields)


# hypercorn writes "HTTP/1.1 400 " with an empty reason phrase (ASGI has no way
# to give one), while DynamoDB, like most servers, sends "400 Bad Request" and
# some clients log or show it. hypercorn's HTTP/1.1 protocol module builds its
# responses through its module-level name `h11`; giving it a copy of h11 whose
# `Response` fills in the phrase changes nothing else (events stay h11's own).
_h11_with_reasons = types.ModuleType("h11")
_h11_with_reasons.__dict__.update(vars(h11))
_h11_with_reasons.Response = _response_with_reason  # type: ignore[attr-defined]
hypercorn_h11.h11 = _h11_with_reasons  # type: ignore[attr-defined]

# Idle keep-alive connections are closed after this long (SDKs and httpx pool and
# reuse their connections, so this only bounds what idle clients hold).
KEEP_ALIVE_S = 75.0


async def serve_asgi(
    app: Any, host: str, port: int, *, fd: int | None = None, header_bytes_max: int, log_name: str,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:  # fmt: skip
    """Serve `app` on host:port (0: any free port), or on the listening socket
    `fd` (hypercorn takes it over); reports the bound port through `task_status`.
    `header_bytes_max` bounds a request head; hypercorn's messages go to the
    logger `log_name`, at WARNING and above."""
    config = Config()
    config.bind = [f"fd://{fd}"] if fd is not None else [f"{host}:{port}"]
    config.include_server_header = False  # DynamoDB-compatible endpoints and Riak's send none
    config.accesslog = None
    config.keep_alive_timeout = KEEP_ALIVE_S
    config.h11_max_incomplete_size = header_bytes_max
    config.graceful_timeout = 2.0
    # hypercorn's own messages go through our logging (its default adds a
    # second stderr handler); its "Running on" line is left to `dsql serve`.
    errors = logging.getLogger(log_name)
    errors.setLevel(logging.WARNING)
    config.errorlog = errors
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(hypercorn_serve, app, config, mode="asgi"))
        task_status.started(int(binds[0].rsplit(":", 1)[1]))
