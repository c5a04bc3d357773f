"""SQL errors as PostgreSQL clients see them: a SQLSTATE, a severity and text.

Every error that reaches a PostgreSQL client is a `SqlError`. Parts below the
QP raise their own typed exceptions (a commit conflict, a storage timeout);
the QP maps those to `SqlError` at its edge, so the SQLSTATE and wording are
decided in one place. Functions and operators raise `SqlError` directly with
the SQLSTATE PostgreSQL uses for the same failure (22012 for division by zero,
22003 for an out-of-range integer, and so on), because clients key on it.

Beyond the text, an ErrorResponse carries fields that clients read as data:
the names of the objects involved (schema, table, column, data type,
constraint: `e.diag.constraint_name` in psycopg, `e.constraint_name` in
asyncpg), filled exactly where PostgreSQL fills them (its errtablecol and
errtableconstraint calls), and the routine that raised the error (`R`).
Clients act on the routine: asyncpg and pgjdbc re-prepare a cached statement
after a schema change only when a 0A000 comes from `RevalidateCachedQuery`.
PostgreSQL also sends its source file and line (`F`, `L`); dsql has no C
file to name, so it sends neither, and `R` only where it means what it
means in PostgreSQL (the constructors below).
"""

from __future__ import annotations


class SqlError(Exception):
    """An error with PostgreSQL's SQLSTATE, ready for an ErrorResponse.

    `severity` is ERROR for statement errors and FATAL for those that end the
    connection (framing errors, failed authentication).
    """

    def __init__(
        self,
        sqlstate: str,
        message: str,
        *,
        detail: str | None = None,
        hint: str | None = None,
        position: int | None = None,
        severity: str = "ERROR",
        context: str | None = None,
        schema_name: str | None = None,
        table_name: str | None = None,
        column_name: str | None = None,
        datatype_name: str | None = None,
        constraint_name: str | None = None,
        routine: str | None = None,
    ) -> None:
        assert len(sqlstate) == 5, sqlstate
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        self.detail = detail
        self.hint = hint
        self.position = position  # 1-based character offset into the query, as PG reports it
        # Where the binder found the problem: a byte offset into the parsed query
        # string (pglast's `location`), turned into `position` by the session, which
        # has the text (-1: never give this error a position).
        self.location: int | None = None
        self.severity = severity
        # PostgreSQL's CONTEXT line ('W'), e.g. `COPY t, line 3, column a: "x"`.
        self.context = context
        # The objects the error is about ('s', 't', 'c', 'd', 'n'), and the
        # PostgreSQL routine that reports it ('R'); see the module docstring.
        self.schema_name = schema_name
        self.table_name = table_name
        self.column_name = column_name
        self.datatype_name = datatype_name
        self.constraint_name = constraint_name
        self.routine = routine

    def __repr__(self) -> str:
        return f"SqlError({self.sqlstate!r}, {self.message!r})"


# Constructors for the SQLSTATEs used across the QP, named as PostgreSQL's
# errcodes.txt names them. Keep this list short: a SQLSTATE used in one place
# can be written there directly.

# Errors PostgreSQL points at the offending part of the statement (psql's
# LINE n / caret): names that do not resolve, mistyped expressions.
LOCATED_SQLSTATES = frozenset({"42703", "42P01", "42883", "42702", "42804", "42725", "42P10"})


def locate(error: SqlError, location: int | None) -> SqlError:
    """Note where `error` happened, unless something closer already did."""
    if error.location is None and location is not None and location >= 0 and error.sqlstate in LOCATED_SQLSTATES:
        error.location = location
    return error


def position_in(source: str, location: int) -> int:
    """PostgreSQL's cursor position: 1-based, in characters, for a byte offset into `source`."""
    if source.isascii():
        return location + 1
    return len(source.encode()[:location].decode("utf-8", "ignore")) + 1


def feature_not_supported(message: str) -> SqlError:
    return SqlError("0A000", message)


def syntax_error(message: str, position: int | None = None) -> SqlError:
    return SqlError("42601", message, position=position)


def undefined_table(name: str) -> SqlError:
    return SqlError("42P01", f'relation "{name}" does not exist')


def undefined_column(name: str) -> SqlError:
    return SqlError("42703", f'column "{name}" does not exist')


def undefined_function(message: str) -> SqlError:
    return SqlError("42883", message, hint=None)


def datatype_mismatch(message: str) -> SqlError:
    return SqlError("42804", message)


def invalid_text_representation(message: str) -> SqlError:
    return SqlError("22P02", message)


def numeric_value_out_of_range(message: str) -> SqlError:
    return SqlError("22003", message)


def division_by_zero() -> SqlError:
    return SqlError("22012", "division by zero")


def in_failed_transaction() -> SqlError:
    return SqlError(
        "25P02", "current transaction is aborted, commands ignored until end of transaction block"
    )


# DSQL's optimistic-concurrency errors. The texts are DSQL's own (see
# shared/research/dsql.md §2.4); drivers match on 40001 and on the OC codes.
def change_conflict() -> SqlError:
    return SqlError("40001", "change conflicts with another transaction (OC000)")


def schema_conflict() -> SqlError:
    return SqlError("40001", "schema has been updated by another transaction (OC001)")


# -- errors about a table's rows, with the object names PostgreSQL attaches -----------------
# (ExecConstraints, _bt_check_unique and ri_ReportViolation in PostgreSQL 15; the
# schema and table are always the table the constraint belongs to, which for a
# foreign key is the referencing table, whichever side's change broke it).


def not_null_violation(schema: str, table: str, column: str, detail: str) -> SqlError:
    return SqlError(
        "23502", f'null value in column "{column}" of relation "{table}" violates not-null constraint',
        detail=detail, schema_name=schema, table_name=table, column_name=column, routine="ExecConstraints",
    )


def check_violation(schema: str, table: str, constraint: str, detail: str) -> SqlError:
    return SqlError(
        "23514", f'new row for relation "{table}" violates check constraint "{constraint}"',
        detail=detail, schema_name=schema, table_name=table, constraint_name=constraint,
        routine="ExecConstraints",
    )


def unique_violation(schema: str, table: str, constraint: str, key_text: str) -> SqlError:
    """A duplicate in a unique index; `key_text` is `Key (a)=(1)`."""
    return SqlError(
        "23505", f'duplicate key value violates unique constraint "{constraint}"',
        detail=f"{key_text} already exists.", schema_name=schema, table_name=table,
        constraint_name=constraint, routine="_bt_check_unique",
    )


def foreign_key_violation(
    message: str, detail: str | None, schema: str, table: str, constraint: str, routine: str = "ri_ReportViolation"
) -> SqlError:
    """23503; `table` is the referencing table, as in PostgreSQL's ri_ReportViolation."""
    return SqlError(
        "23503", message, detail=detail, schema_name=schema, table_name=table, constraint_name=constraint,
        routine=routine,
    )


def cached_plan_changed() -> SqlError:
    """A prepared statement whose result columns changed under it (a concurrent ALTER TABLE).

    The routine is what drivers test: asyncpg turns this error into
    InvalidCachedStatementError and, outside a transaction, prepares the
    statement again and retries it, as it does with PostgreSQL.
    """
    return SqlError("0A000", "cached plan must not change result type", routine="RevalidateCachedQuery")


# -- DSQL's transaction limits, with the setting that moves each ---------------------------


TRANSACTION_ROWS_EXCEEDED = "transaction row limit exceeded"


def transaction_rows_exceeded(rows_max: int) -> SqlError:
    return SqlError(
        "54000", TRANSACTION_ROWS_EXCEEDED,
        hint=f"Modify fewer rows in one transaction, or raise dsql.transaction_rows_max (currently {rows_max}).",
    )


def transaction_bytes_exceeded(limit: str, detail: str, bytes_max: int) -> SqlError:
    return SqlError(
        "54000", f"transaction size limit {limit} exceeded", detail=detail,
        hint="Modify less data in one transaction, or raise dsql.transaction_bytes_max "
        f"(currently {bytes_max} bytes).",
    )


def copy_rows_hint(rows_max: int, batch_rows: int) -> str:
    """How to load more rows with COPY than one transaction may modify."""
    if batch_rows:
        return (
            f"Each batch of dsql.copy_batch_rows ({batch_rows}) rows is one transaction, limited to "
            f"dsql.transaction_rows_max ({rows_max}) rows: set dsql.copy_batch_rows to at most {rows_max}."
        )
    return (
        f"A COPY is one transaction, limited to dsql.transaction_rows_max ({rows_max}) rows. To load more, "
        f"set dsql.copy_batch_rows (to at most {rows_max}) so that COPY commits every that many rows "
        "as a transaction of its own."
    )
