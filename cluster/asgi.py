"""Serving an ASGI application over HTTP/1.1 with hypercorn on trio: the KV endpoints' server.

The DynamoDB endpoint (`kv.dynamodb.server`) and Dynamo's Riak endpoint
(`kv.dynamo.server`) are ASGI apps served the same way: hypercorn speaks
HTTP/1.1 (keep-alive, chunked bodies, pipelining) and hands each request to
the app; everything runs in the caller's trio nursery, beside the PostgreSQL
endpoint and the cluster's parts. A query processor of a cluster binds each
port itself with SO_REUSEPORT and passes the socket in (`fd`), so that every
QP on a host shares the port.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

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
