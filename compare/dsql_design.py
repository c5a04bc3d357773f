"""DSQL as a design of `dsql compare`: asyncpg against a query processor.

Registers are one statement each (a `SELECT`, an upsert: each its own
transaction); a bank transfer and a list-append transaction are interactive
transactions (`BEGIN`, reads, writes computed from them, `COMMIT`), which
DSQL runs under strong snapshot isolation with optimistic concurrency: a
transaction that loses a conflict is refused with 40001 at COMMIT (or
earlier) and certainly did not commit. A connection lost before COMMIT was
sent means no commit either; one lost during COMMIT leaves the outcome
unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from compare.designs import CALL_TIMEOUT_S, Expressed, Indeterminate, Mop, Refused, decode_list

TABLES = {"register": "compare_register", "bank": "compare_bank", "lists": "compare_lists"}
_LOST = (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.exceptions.ConnectionDoesNotExistError)


class DsqlDesign:
    """DSQL through asyncpg: statements and interactive transactions."""

    family = "dsql"

    def __init__(self, dsn: str, *, timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.name = "dsql"
        self.dsn = dsn
        self.timeout_s = timeout_s
        self.connection: Any = None
        self.expressed = Expressed()

    async def _connect(self) -> Any:
        if self.connection is None or self.connection.is_closed():
            try:
                self.connection = await asyncpg.connect(self.dsn, timeout=self.timeout_s)
            except (*_LOST, asyncpg.PostgresError) as exc:
                raise Refused(f"cannot connect: {exc}") from None  # nothing was sent
        return self.connection

    async def _drop(self) -> None:
        if self.connection is not None:
            self.connection.terminate()
            self.connection = None

    async def _rollback(self) -> None:
        try:
            await self.connection.execute("ROLLBACK", timeout=self.timeout_s)
        except (*_LOST, asyncpg.PostgresError):
            await self._drop()

    async def _ddl(self, sql: str) -> None:
        connection = await self._connect()
        for attempt in range(5):
            try:
                await connection.execute(sql, timeout=30.0)
                return
            except asyncpg.PostgresError as exc:  # another client created it at the same time
                if attempt == 4 or exc.sqlstate not in ("40001", "OC000", "OC001", "42P07", "23505"):
                    raise

    async def _transaction(self, body: Any) -> Any:
        """Run `body(connection)` between BEGIN and COMMIT, failures classified."""
        connection = await self._connect()
        committing = False
        try:
            await connection.execute("BEGIN", timeout=self.timeout_s)
            result = await body(connection)
            committing = True
            await connection.execute("COMMIT", timeout=self.timeout_s)
            return result
        except Refused:
            await self._rollback()
            raise
        except asyncpg.PostgresError as exc:
            if committing and exc.sqlstate == "08007":
                await self._drop()
                raise Indeterminate(f"{exc.sqlstate}: {exc}") from None
            await self._rollback()
            raise Refused(f"{exc.sqlstate}: {exc}") from None  # 40001 and the like: not committed
        except _LOST as exc:
            await self._drop()
            if committing:
                raise Indeterminate(f"{type(exc).__name__}: {exc}") from None
            raise Refused(f"{type(exc).__name__} before COMMIT: {exc}") from None

    # -- registers ----------------------------------------------------------------------

    async def setup(self) -> None:
        await self._ddl(f"CREATE TABLE IF NOT EXISTS {TABLES['register']} (k text PRIMARY KEY, v bigint)")

    async def read(self, key: str) -> tuple[int, ...]:
        connection = await self._connect()
        try:
            value = await connection.fetchval(f"SELECT v FROM {TABLES['register']} WHERE k = $1", key,
                                              timeout=self.timeout_s)  # fmt: skip
        except (*_LOST, asyncpg.PostgresError) as exc:
            await self._drop()
            raise Refused(f"{type(exc).__name__}: {exc}") from None
        return () if value is None else (int(value),)

    async def write(self, key: str, value: int) -> None:
        connection = await self._connect()
        try:
            await connection.execute(
                f"INSERT INTO {TABLES['register']} (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                key, value, timeout=self.timeout_s,
            )  # fmt: skip
        except asyncpg.PostgresError as exc:
            raise Refused(f"{exc.sqlstate}: {exc}") from None  # 40001: not committed
        except _LOST as exc:
            await self._drop()
            raise Indeterminate(f"{type(exc).__name__}: {exc}") from None  # the COMMIT may have happened
        self.expressed.note("single-key writes", "INSERT … ON CONFLICT DO UPDATE")
        self.expressed.note("concurrent writes resolved by", "the service: the first committer wins (40001)")

    # -- bank -------------------------------------------------------------------------

    async def setup_bank(self, accounts: Sequence[str], balance: int) -> None:
        await self._ddl(f"CREATE TABLE IF NOT EXISTS {TABLES['bank']} (k text PRIMARY KEY, balance bigint NOT NULL)")

        async def insert(connection: Any) -> None:
            await connection.executemany(f"INSERT INTO {TABLES['bank']} (k, balance) VALUES ($1, $2)",
                                         [(account, balance) for account in accounts])  # fmt: skip

        await self._transaction(insert)

    async def read_accounts(self, accounts: Sequence[str]) -> dict[str, int]:
        connection = await self._connect()
        try:
            rows = await connection.fetch(f"SELECT k, balance FROM {TABLES['bank']} WHERE k = ANY($1::text[])",
                                          list(accounts), timeout=self.timeout_s)  # fmt: skip
        except (*_LOST, asyncpg.PostgresError) as exc:
            await self._drop()
            raise Refused(f"{type(exc).__name__}: {exc}") from None
        self.expressed.note("consistent multi-key reads", "one SELECT (one snapshot)")
        return {row["k"]: int(row["balance"]) for row in rows}

    async def transfer(self, source: str, target: str, amount: int) -> None:
        table = TABLES["bank"]

        async def body(connection: Any) -> None:
            rows = await connection.fetch(f"SELECT k, balance FROM {table} WHERE k = $1 OR k = $2", source, target,
                                          timeout=self.timeout_s)  # fmt: skip
            balances = {row["k"]: int(row["balance"]) for row in rows}
            if balances.get(source, 0) < amount:
                raise Refused("insufficient funds")
            await connection.execute(f"UPDATE {table} SET balance = $2 WHERE k = $1", source,
                                     balances[source] - amount, timeout=self.timeout_s)  # fmt: skip
            await connection.execute(f"UPDATE {table} SET balance = $2 WHERE k = $1", target,
                                     balances[target] + amount, timeout=self.timeout_s)  # fmt: skip

        await self._transaction(body)
        self.expressed.note("multi-key atomic writes", "one transaction")
        self.expressed.note("interactive transactions", "BEGIN, SELECT, UPDATEs computed from it, COMMIT")
        self.expressed.note("conditional writes", "UPDATE … WHERE in a transaction")

    # -- list-append --------------------------------------------------------------------

    async def setup_lists(self) -> None:
        await self._ddl(f"CREATE TABLE IF NOT EXISTS {TABLES['lists']} (k text PRIMARY KEY, v text NOT NULL)")

    async def txn(self, mops: Sequence[Mop]) -> tuple[Mop, ...]:
        table = TABLES["lists"]

        async def body(connection: Any) -> tuple[Mop, ...]:
            done: list[Mop] = []
            for f, key, element in mops:
                if f == "append":
                    await connection.execute(
                        f"INSERT INTO {table} (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = {table}.v || EXCLUDED.v",
                        str(key), f",{element}", timeout=self.timeout_s,
                    )  # fmt: skip
                    done.append((f, key, element))
                else:
                    value = await connection.fetchval(f"SELECT v FROM {table} WHERE k = $1", str(key),
                                                      timeout=self.timeout_s)  # fmt: skip
                    done.append((f, key, decode_list(value)))
            return tuple(done)

        done = await self._transaction(body)
        if any(f == "append" for f, _, _ in mops):
            self.expressed.note("multi-key atomic writes", "one transaction")
        if len(mops) > 1:
            self.expressed.note("interactive transactions", "BEGIN, reads and appends, COMMIT")
        return done

    async def close(self) -> None:
        if self.connection is not None:
            try:
                await self.connection.close(timeout=2.0)
            except (*_LOST, asyncpg.PostgresError):
                self.connection.terminate()
