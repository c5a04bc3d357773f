"""Elle's list-append workload through SQL on the embedded server, checked for strong SI anomalies."""

from __future__ import annotations

import asyncio
import random

from support import report
from support.list_append import create_table, run_workload

from checker import list_append


def test_list_append_history_has_no_snapshot_isolation_anomaly(dsql_server) -> None:
    table = "la_embedded"
    asyncio.run(create_table(dsql_server.dsn, table))
    seed = random.randrange(1 << 30)
    run = asyncio.run(run_workload(dsql_server.dsn, table, clients=8, seconds=6, seed=seed))
    assert not run.errors, run.errors[:5]
    result = list_append.check(run.history.ops, strict=True)
    report.add(f"list-append (embedded, seed {seed}): {run.summary()}; {len(result.allowed)} allowed kinds")
    assert run.ok > 50, run.summary()
    assert run.failed > 0, "no conflict: the workload did not contend"
    assert result.valid, result.render()
