"""Test support for pgwire: a client-side codec and raw client, and a scripted fake QP.

- `client`: `encode_frontend`, `BackendParser`, `decode_backend`, `startup_bytes`, `RawClient`.
- `fake`: `FakeSessionFactory` / `FakeSession`, a tiny QP with PostgreSQL's
  transaction and portal rules, used by the tests and handy for demos:

      await nursery.start(pgwire.serve, FakeSessionFactory(), "127.0.0.1", 5432)
"""

from .client import BackendParser, RawClient, decode_backend, encode_frontend, startup_bytes
from .fake import STARTUP_PARAMETERS, FakeSession, FakeSessionFactory

__all__ = [
    "STARTUP_PARAMETERS",
    "BackendParser",
    "FakeSession",
    "FakeSessionFactory",
    "RawClient",
    "decode_backend",
    "encode_frontend",
    "startup_bytes",
]
