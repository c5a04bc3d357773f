"""Serving the DynamoDB endpoint (`kv.dynamodb.http`) inside `dsql serve` and every QP of a
cluster: hypercorn on trio, as `cluster.asgi` serves every KV endpoint."""

from __future__ import annotations

import trio

from cluster.asgi import serve_asgi
from kv.dynamodb.http import DynamoDBApp

# Largest request head hypercorn buffers (DynamoDB caps headers at 16 KB).
HEADER_BYTES_MAX = 64 * 1024


async def serve(
    app: DynamoDBApp, host: str, port: int, *, fd: int | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:  # fmt: skip
    """Serve `app` on host:port (0: any free port) or on the listening socket `fd`
    (a QP's SO_REUSEPORT port); reports the bound port through `task_status`."""
    await serve_asgi(app, host, port, fd=fd, header_bytes_max=HEADER_BYTES_MAX, log_name="kv.dynamodb.hypercorn",
                     task_status=task_status)  # fmt: skip
