"""pgwire: the PostgreSQL v3 wire protocol in front of the query processor.

- `messages`: one frozen dataclass per protocol message, with its bytes.
- `connection`: `ServerConnection`, the sans-IO state machine (framing, phases,
  PostgreSQL's error rules); no sockets, no clock.
- `server`: `serve(factory, host, port)`, the trio server that drives a
  `ServerConnection` per client and calls the QP through `qp.api`.
- `testing`: a client-side codec and a scripted fake QP, for tests and demos.

Start the server inside a nursery:

    port = await nursery.start(pgwire.serve, factory, "127.0.0.1", 5432)
"""

from . import _native  # noqa: F401 - first: it decides between the compiled modules and their sources
from .connection import (
    NEED_DATA,
    ConnectionClosed,
    LocalProtocolError,
    Phase,
    ProtocolViolation,
    ServerConnection,
)
from .server import ServerLimits, serve, serve_listeners

__all__ = [
    "NEED_DATA",
    "ConnectionClosed",
    "LocalProtocolError",
    "Phase",
    "ProtocolViolation",
    "ServerConnection",
    "ServerLimits",
    "serve",
    "serve_listeners",
]
