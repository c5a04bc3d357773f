"""Serving the Riak-style Dynamo endpoint: hypercorn on trio, inside `dsql serve`.

The same arrangement as `kv.dynamodb.server`: hypercorn speaks HTTP/1.1
(keep-alive, chunked bodies for `?keys=stream`, pipelining) and hands each
request to the ASGI app in `kv.dynamo.http`; everything runs in the
caller's trio nursery, beside the PostgreSQL and DynamoDB endpoints.
"""

from __future__ import annotations

import logging
from functools import partial

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from kv.dynamo.http import DynamoApp

log = logging.getLogger(__name__)
_HYPERCORN_LOG = logging.getLogger("kv.dynamo.hypercorn")
_HYPERCORN_LOG.setLevel(logging.WARNING)

# Riak's HTTP port.
DEFAULT_PORT = 8098
# Idle keep-alive connections are closed after this long (clients pool them).
KEEP_ALIVE_S = 75.0
# Largest request head hypercorn buffers: X-Riak-Vclock headers of long
# histories and many X-Riak-Meta-* headers fit well inside it.
HEADER_BYTES_MAX = 256 * 1024


async def serve(
    app: DynamoApp, host: str, port: int, *, fd: int | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` on host:port (0: any free port); reports the bound port through `task_status`.

    With `fd`, serve on that listening socket instead (hypercorn takes it
    over), as a query processor of a cluster does with its SO_REUSEPORT port."""
    config = Config()
    config.bind = [f"fd://{fd}"] if fd is not None else [f"{host}:{port}"]
    config.include_server_header = False
    config.accesslog = None
    config.keep_alive_timeout = KEEP_ALIVE_S
    config.h11_max_incomplete_size = HEADER_BYTES_MAX
    config.graceful_timeout = 2.0
    # hypercorn's own messages go through our logging (its default adds a
    # second stderr handler); its "Running on" line is left to `dsql serve`.
    config.errorlog = _HYPERCORN_LOG
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(hypercorn_serve, app, config, mode="asgi"))
        bound = int(binds[0].rsplit(":", 1)[1])
        task_status.started(bound)
