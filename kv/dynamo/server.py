"""Serving the Riak-style Dynamo endpoint (`kv.dynamo.http`) inside `dsql serve` and every QP of
a cluster: hypercorn on trio, as `cluster.asgi` serves every KV endpoint (chunked bodies carry
`?keys=stream`)."""

from __future__ import annotations

import trio

from cluster.asgi import serve_asgi
from kv.dynamo.http import DynamoApp

# Riak's HTTP port.
DEFAULT_PORT = 8098
# Largest request head hypercorn buffers: X-Riak-Vclock headers of long
# histories and many X-Riak-Meta-* headers fit well inside it.
HEADER_BYTES_MAX = 256 * 1024


async def serve(
    app: DynamoApp, host: str, port: int, *, fd: int | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:  # fmt: skip
    """Serve `app` on host:port (0: any free port) or on the listening socket `fd`;
    reports the bound port through `task_status`."""
    await serve_asgi(app, host, port, fd=fd, header_bytes_max=HEADER_BYTES_MAX, log_name="kv.dynamo.hypercorn",
                     task_status=task_status)  # fmt: skip
