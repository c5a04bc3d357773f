"""Sequences, identity columns and serial, with DSQL's CACHE rules.

A sequence's state is one row (the next value no session has been given),
advanced a block of CACHE values at a time by a transaction of its own
through the adjudicators and journal. Each session hands out the values of
its block in order. So:
- with CACHE 1 every nextval is a committed transaction: values are ordered
  across sessions, as uncached PostgreSQL sequences;
- with a large CACHE (DSQL requires CACHE = 1 or >= 65536), sessions draw
  from disjoint blocks: values are unique but not ordered across sessions,
  and a session's unused block is skipped when it ends (gaps).
nextval is never rolled back (its allocation committed on its own), as in
PostgreSQL. `serial` columns get an implicit sequence with CACHE 65536.
"""

from __future__ import annotations

from qp.catalog.stored import CatalogSnapshot, SequenceDef
from qp.catalog.temp_keys import is_temp_oid
from qp.errors import SqlError
from qp.txn.transaction import Transaction

ALLOCATION_RETRIES_MAX = 50
ALLOCATION_BACKOFF_S = 0.001


class SessionSequences:
    """One session's cached blocks, currval and lastval."""

    def __init__(self) -> None:
        self.blocks: dict[int, list[int]] = {}  # oid -> [next value, last value of the block]
        self.current: dict[int, int] = {}
        self.last: int | None = None

    async def nextval(self, session, catalog: CatalogSnapshot, oid: int) -> int:
        sequence = catalog.sequences_by_oid.get(oid)
        if sequence is None:
            raise SqlError("42P01", f"relation with OID {oid} does not exist")
        block = self.blocks.get(oid)
        if block is None or _past(sequence, block[0], block[1]):
            block = self.blocks[oid] = list(await _allocate(session, sequence))
        value = block[0]
        block[0] += sequence.increment
        self.current[oid] = value
        self.last = value
        return value

    def currval(self, catalog: CatalogSnapshot, oid: int) -> int:
        if oid not in self.current:
            sequence = catalog.sequences_by_oid.get(oid)
            name = sequence.name if sequence else str(oid)
            raise SqlError("55000", f'currval of sequence "{name}" is not yet defined in this session')
        return self.current[oid]

    def lastval(self) -> int:
        if self.last is None:
            raise SqlError("55000", "lastval is not yet defined in this session")
        return self.last

    async def setval(self, session, catalog: CatalogSnapshot, oid: int, value: int, is_called: bool) -> int:
        sequence = catalog.sequences_by_oid.get(oid)
        if sequence is None:
            raise SqlError("42P01", f"relation with OID {oid} does not exist")
        if not sequence.min_value <= value <= sequence.max_value:
            raise SqlError("22003", f'setval: value {value} is out of bounds for sequence "{sequence.name}" '
                                    f"({sequence.min_value}..{sequence.max_value})")
        await _write_state(session, sequence, value + sequence.increment if is_called else value)
        self.blocks.pop(oid, None)
        if is_called:
            self.current[oid] = value
            self.last = value
        return value

    def forget(self, oid: int) -> None:
        self.blocks.pop(oid, None)


def _past(sequence: SequenceDef, value: int, block_end: int) -> bool:
    return value > block_end if sequence.increment > 0 else value < block_end


async def _allocate(session, sequence: SequenceDef) -> tuple[int, int]:
    """Take the next block of the sequence in a transaction of its own. When another
    session took a block first (40001), read again after a little jitter, so that
    sessions which all start at once do not keep colliding."""

    async def take(txn: Transaction) -> tuple[int, int]:
        (state,) = await txn.get([sequence.state_key], catalog_check=False)
        value = sequence.start if state is None else state
        step = sequence.increment
        if (step > 0 and value > sequence.max_value) or (step < 0 and value < sequence.min_value):
            if not sequence.cycle:
                bound = sequence.max_value if step > 0 else sequence.min_value
                raise SqlError("2200H", f'nextval: reached {"maximum" if step > 0 else "minimum"} value of sequence '
                                        f'"{sequence.name}" ({bound})')
            value = sequence.min_value if step > 0 else sequence.max_value
        end = value + step * (sequence.cache - 1)
        end = min(end, sequence.max_value) if step > 0 else max(end, sequence.min_value)
        # put() already fails when the read saw a newer version (another session's block).
        txn.put(sequence.state_key, end + step)
        return value, end

    def contended() -> SqlError:
        return SqlError("40001", "change conflicts with another transaction (OC000)",
                        detail=f'too much contention on sequence "{sequence.name}"')

    if is_temp_oid(sequence.oid):
        return await _in_session(session, take)
    return await session.qp.txns.run(take, attempts=ALLOCATION_RETRIES_MAX, backoff_s=ALLOCATION_BACKOFF_S,
                                     exhausted=contended)  # fmt: skip


async def _in_session(session, body):
    """A temporary sequence's state is the session's (qp/txn/temp_store.py): changed in a
    transaction of the session's own, which commits without leaving it."""
    txn = session.new_txn()
    txn.begin_snapshot()
    result = await body(txn)
    await txn.commit()
    return result


async def _write_state(session, sequence: SequenceDef, next_value: int) -> None:
    async def write(txn: Transaction) -> None:
        txn.put(sequence.state_key, next_value)

    if is_temp_oid(sequence.oid):
        return await _in_session(session, write)
    await session.qp.txns.run(write, attempts=ALLOCATION_RETRIES_MAX, backoff_s=ALLOCATION_BACKOFF_S)
