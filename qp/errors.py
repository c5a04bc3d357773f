"""SQL errors as PostgreSQL clients see them: a SQLSTATE, a severity and text.

Every error that reaches a PostgreSQL client is a `SqlError`. Parts below the
QP raise their own typed exceptions (a commit conflict, a storage timeout);
the QP maps those to `SqlError` at its edge, so the SQLSTATE and wording are
decided in one place. Functions and operators raise `SqlError` directly with
the SQLSTATE PostgreSQL uses for the same failure (22012 for division by zero,
22003 for an out-of-range integer, and so on), because clients key on it.
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
