"""Sessions that take sequence blocks at the same moment all get one (retried, not 40001)."""

from __future__ import annotations

import asyncio

import asyncpg


def test_sixteen_sessions_taking_their_first_block_at_once_all_succeed(dsql_server) -> None:
    async def run() -> list[int]:
        conns = [await asyncpg.connect(dsql_server.dsn) for _ in range(16)]
        try:
            await conns[0].execute("CREATE SEQUENCE contended_seq CACHE 65536")
            values = await asyncio.gather(*(c.fetchval("SELECT nextval('contended_seq')") for c in conns))
            await conns[0].execute("DROP SEQUENCE contended_seq")
            return values
        finally:
            for c in conns:
                await c.close()

    values = asyncio.run(run())
    # Each session took a block of its own: 16 distinct block starts, 65,536 apart.
    assert sorted(values) == [1 + 65536 * i for i in range(16)]
