"""What a query processor answers its peers over the transport (not its clients:
they speak the PostgreSQL protocol, qp/api.py is that seam).

A QP process serves `QpService` (assembly/node.py): `cancel(process_id,
secret_key)`, a CancelRequest forwarded by the QP that received it, and
`status() -> QpStatus`, read by `dsql cluster status` (assembly/probe.py) and
sys.cluster_nodes (qp/pgcatalog/cluster_views.py). The reply's number is in
`cluster.wire_ids`.
"""

from __future__ import annotations

import msgspec

from cluster import wire_ids
from cluster.codec import message


@message(wire_ids.QP_STATUS)
class QpStatus(msgspec.Struct, frozen=True):
    name: str  # qp-0, ...
    index: int
    sessions: int  # client sessions open now
