"""Default names of indexes, constraints and sequences, as PostgreSQL chooses them.

Clients see these names (in errors such as `duplicate key value violates
unique constraint "t_pkey"`, in \\d, in pg_constraint, in ORMs' reflection),
so they follow PostgreSQL's rules exactly (src/backend/commands/indexcmds.c
and catalog/pg_constraint.c):

- `make_object_name(name1, name2, label)` is makeObjectName: `name1_name2_label`,
  cut to fit NAMEDATALEN - 1 (63) bytes by shortening the longer of name1 and
  name2 one byte at a time (never the label), without splitting a character.
- `choose_name(...)` is ChooseRelationName / ChooseConstraintName: on a clash
  the *label* gets a number (`t_pkey1`, `t_a_check2`), and the names are cut
  again to make room for it.
- `name_addition(columns)` is ChooseIndexNameAddition (and the foreign-key
  variant): the column names joined by `_`, stopped once past 63 bytes.
- A CHECK is named `<table>_<column>_check` only when its expression reads
  exactly one distinct column, else `<table>_check` (heap.c).

What counts as a clash differs by object, and callers pass it as `taken`:
index-backed constraints (PRIMARY KEY, UNIQUE) must differ from every
relation and every constraint name of the schema; CHECK and FOREIGN KEY
names from every constraint name of the schema; sequences and plain indexes
from every relation name. The module is pure: callers bring the catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from qp.catalog.stored import CatalogSnapshot

NAME_BYTES_MAX = 63  # NAMEDATALEN - 1
NAME_CHOICES_MAX = 100_000  # numbered labels tried before giving up (a catalog cannot be that crowded)


def _clip(data: bytes, limit: int) -> bytes:
    """pg_mbcliplen: at most `limit` bytes, never half a UTF-8 character."""
    return data[:limit].decode("utf-8", "ignore").encode()


def make_object_name(name1: str, name2: str | None, label: str | None) -> str:
    first = name1.encode()
    second = name2.encode() if name2 is not None else b""
    overhead = (1 if name2 is not None else 0) + (len(label.encode()) + 1 if label else 0)
    available = NAME_BYTES_MAX - overhead
    assert available > 0, label
    first_len, second_len = len(first), len(second)
    while first_len + second_len > available:  # shorten the longer one first
        if first_len > second_len:
            first_len -= 1
        else:
            second_len -= 1
    parts = [_clip(first, first_len)]
    if name2 is not None:
        parts.append(_clip(second, second_len))
    if label:
        parts.append(label.encode())
    return b"_".join(parts).decode()


def choose_name(name1: str, name2: str | None, label: str, taken: Callable[[str], bool]) -> str:
    """The first of name1_name2_label, name1_name2_label1, ... that is not `taken`."""
    candidate = make_object_name(name1, name2, label)
    for number in range(1, NAME_CHOICES_MAX):
        if not taken(candidate):
            return candidate
        candidate = make_object_name(name1, name2, f"{label}{number}")
    raise AssertionError(f"no free name for {name1}_{name2}_{label}")


def name_addition(column_names: Iterable[str]) -> str:
    """ChooseIndexNameAddition: column names joined by `_`, stopping once past 63 bytes."""
    out = b""
    for name in column_names:
        if out:
            out += b"_"
        out += name.encode()[:NAME_BYTES_MAX]
        if len(out) > NAME_BYTES_MAX:
            break
    return out.decode("utf-8", "ignore")


def check_column(column_names: Iterable[str]) -> str | None:
    """The column a CHECK's default name mentions: its only distinct column, if it has one."""
    distinct = set(column_names)
    return next(iter(distinct)) if len(distinct) == 1 else None


def constraint_names(catalog: CatalogSnapshot, schema: str) -> set[str]:
    """Every constraint name of `schema` (pg_constraint's per-namespace names)."""
    out: set[str] = set()
    for table in catalog.tables.values():
        if table.schema != schema:
            continue
        out.update(index.name for index in table.indexes if index.constraint)
        out.update(check.name for check in table.checks)
        out.update(fk.name for fk in table.foreign_keys)
    return out
