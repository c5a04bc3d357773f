"""DSQL as a design of `dsql compare`: asyncpg against a query processor."""

from __future__ import annotations

from typing import Any

import asyncpg

from compare.designs import CALL_TIMEOUT_S, Indeterminate, Refused

REGISTER_SQL_TABLE = "compare_register"


class DsqlDesign:
    """DSQL through asyncpg: each operation one statement, so one transaction."""

    def __init__(self, dsn: str, *, timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.name = "dsql"
        self.dsn = dsn
        self.timeout_s = timeout_s
        self.connection: Any = None

    async def _connect(self) -> Any:
        if self.connection is None or self.connection.is_closed():
            self.connection = await asyncpg.connect(self.dsn, timeout=self.timeout_s)
        return self.connection

    async def setup(self) -> None:
        connection = await self._connect()
        await connection.execute(
            f"CREATE TABLE IF NOT EXISTS {REGISTER_SQL_TABLE} (k text PRIMARY KEY, v bigint)"
        )

    async def read(self, key: str) -> tuple[int, ...]:
        try:
            connection = await self._connect()
            value = await connection.fetchval(f"SELECT v FROM {REGISTER_SQL_TABLE} WHERE k = $1", key,
                                              timeout=self.timeout_s)  # fmt: skip
        except (TimeoutError, asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            await self._drop()
            raise Refused(f"{type(exc).__name__}: {exc}") from None
        return () if value is None else (int(value),)

    async def write(self, key: str, value: int) -> None:
        try:
            connection = await self._connect()
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise Refused(f"cannot connect: {exc}") from None  # nothing was sent
        try:
            await connection.execute(
                f"INSERT INTO {REGISTER_SQL_TABLE} (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                key, value, timeout=self.timeout_s,
            )  # fmt: skip
        except asyncpg.SerializationError as exc:
            raise Refused(str(exc)) from None  # 40001: not committed
        except asyncpg.PostgresError as exc:
            raise Refused(f"{exc.sqlstate}: {exc}") from None
        except (TimeoutError, OSError, asyncpg.InterfaceError) as exc:
            await self._drop()
            raise Indeterminate(f"{type(exc).__name__}: {exc}") from None  # the COMMIT may have happened

    async def _drop(self) -> None:
        if self.connection is not None:
            self.connection.terminate()
            self.connection = None

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
