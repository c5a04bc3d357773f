"""SET, RESET, SHOW, and a transaction's characteristics, as PostgreSQL runs them.

The session (qp/frontend/session.py) hands these statements here; what a value may be
is qp/frontend/settings.py's business, and how changes are undone with transactions
and savepoints qp/frontend/setting_stack.py's.

A transaction's characteristics are three settings, each starting from a
session default when the transaction starts (the stack sees to that):

    transaction_isolation    default_transaction_isolation    ISOLATION LEVEL ...
    transaction_read_only    default_transaction_read_only    READ ONLY | READ WRITE
    transaction_deferrable   default_transaction_deferrable   [NOT] DEFERRABLE

`BEGIN`/`START TRANSACTION` options and `SET TRANSACTION` change the first
column for the open transaction, `SET SESSION CHARACTERISTICS AS TRANSACTION`
the second, and both can also be SET by name. PostgreSQL's rules apply as its
check hooks (variable.c) state them, with their SQLSTATE 25001:

- the isolation level cannot change once the transaction has run a query
  (taken its snapshot), nor inside a savepoint;
- DEFERRABLE cannot change after a query nor inside a savepoint;
- a read-only transaction cannot become read-write after a query nor inside
  a savepoint.

dsql runs DSQL's one isolation level, REPEATABLE READ (snapshot isolation),
so it refuses every other level wherever one is asked for (0A000, DSQL's
"Unsupported isolation level: SERIALIZABLE"), after PostgreSQL's own checks.
DEFERRABLE is accepted and shown: PostgreSQL gives it meaning only for
SERIALIZABLE READ ONLY transactions, and a snapshot-isolation read-only
transaction never waits nor fails at commit anyway. READ ONLY is enforced.
"""

from __future__ import annotations

from typing import Any

from qp import api
from qp.api import Column, CommandComplete, DataRows, Notice, RowDescription
from qp.errors import SqlError
from qp.frontend.identity import IDENTITY_SETTINGS, set_identity
from qp.frontend.settings import (
    READ_ONLY,
    TRANSACTION_DEFAULTS,
    canonical_name,
    isolation_level,
    normalize,
    refuse_isolation,
    show_name,
)
from qp.functions.strings import quote_ident
from qp.types.core import INTERVAL, resolve_type_name
from qp.types.datetime import interval_out, make_interval_typmod
from qp.types.dt_interval import parse_interval

# Settings whose list elements SET quotes as identifiers (PostgreSQL's
# GUC_LIST_QUOTE): `SET search_path = 'My Schema', public` shows
# `"My Schema", public`.
_LIST_QUOTE = frozenset({"search_path"})


def run_set(session: Any, body: dict) -> list[api.Event]:
    """SET, SET LOCAL, RESET, SET ... TO DEFAULT, RESET ALL, SET TRANSACTION and
    SET SESSION CHARACTERISTICS for `session` (a qp.frontend.session.Session)."""
    kind = body.get("kind")
    name = body.get("name", "")
    if kind == "VAR_SET_MULTI":
        if name == "TRANSACTION":
            events = _outside_block_warning(session, "SET TRANSACTION")
            set_characteristics(session, transaction_characteristics(body.get("args", ())))
            return [*events, CommandComplete("SET")]
        if name == "SESSION CHARACTERISTICS":
            for setting, value in transaction_characteristics(body.get("args", ())):
                if setting == "transaction_isolation":
                    refuse_isolation(value)
                session.change_setting(TRANSACTION_DEFAULTS[setting], value)
            return [CommandComplete("SET")]
        raise SqlError("0A000", f"SET {name} is not supported")
    if kind == "VAR_RESET_ALL":
        session.reset_all()
        return [CommandComplete("RESET")]
    canonical = canonical_name(name)
    if canonical is None:
        raise SqlError("42704", f'unrecognized configuration parameter "{name}"')
    events: list[api.Event] = []
    if kind in ("VAR_SET_DEFAULT", "VAR_RESET"):
        if canonical in READ_ONLY:
            raise SqlError("55P02", f'parameter "{canonical}" cannot be changed')
        if canonical == "transaction_isolation":
            events += _outside_block_warning(session, "RESET TRANSACTION")
        value = session.reset_values.get(canonical, "")
    else:
        value = set_value(body.get("args", ()), quote=canonical in _LIST_QUOTE)
    if canonical in TRANSACTION_DEFAULTS:
        value = _characteristic(session, canonical, value)
    elif canonical in IDENTITY_SETTINGS:
        value = set_identity(session, canonical, kind, value)
    else:
        value = normalize(canonical, value)
    local = bool(body.get("is_local"))
    if local and not session.block and not session.implicit_block:
        # PostgreSQL warns, then applies it to the statement's own transaction (no effect).
        events.append(Notice("SET LOCAL can only be used in transaction blocks", "25P01", "WARNING"))
    session.change_setting(canonical, value, local=local)
    events.append(CommandComplete("RESET" if kind == "VAR_RESET" else "SET"))
    return events


def run_show(session: Any, name: str) -> list[api.Event]:
    """SHOW name, SHOW ALL."""
    settings = session.settings
    if name.lower() == "all":
        rows = [[k.encode(), v.encode(), b""] for k, v in sorted(settings.items(), key=lambda kv: kv[0].lower())]
        columns = [Column("name", 25, -1), Column("setting", 25, -1), Column("description", 25, -1)]
        return [RowDescription(columns), DataRows(rows), CommandComplete("SHOW")]
    canonical = show_name(name)
    if canonical is None or canonical not in settings:
        raise SqlError("42704", f'unrecognized configuration parameter "{name}"')
    value = settings[canonical]
    if canonical == "transaction_read_only" and session.txn is not None:
        value = "on" if session.txn.read_only else "off"  # what the open transaction enforces
    return [RowDescription([Column(canonical, 25, -1)]), DataRows([[value.encode()]]), CommandComplete("SHOW")]


# -- transaction characteristics ---------------------------------------------------------------


def transaction_characteristics(options: Any) -> list[tuple[str, str]]:
    """The options of BEGIN, SET TRANSACTION or SET SESSION CHARACTERISTICS as
    (setting, value) pairs in the order written, values as SHOW prints them."""
    out = []
    for option in options or ():
        elem = option["DefElem"]
        name = elem.get("defname", "")
        arg = elem.get("arg", {}).get("A_Const", {})
        if name == "transaction_isolation":
            out.append((name, isolation_level(name, arg.get("sval", {}).get("sval", ""))))
        elif name in ("transaction_read_only", "transaction_deferrable"):
            out.append((name, "on" if arg.get("ival", {}).get("ival", 0) else "off"))
        else:
            raise SqlError("42601", f"unrecognized transaction option {name}")
    return out


def refuse_characteristics(pairs: list[tuple[str, str]]) -> None:
    """DSQL's refusals among `pairs` (any isolation level but REPEATABLE READ)."""
    for name, value in pairs:
        if name == "transaction_isolation":
            refuse_isolation(value)


def set_characteristics(session: Any, pairs: list[tuple[str, str]]) -> None:
    """Apply BEGIN's or SET TRANSACTION's options to the open transaction, one by
    one as PostgreSQL does (an error leaves the earlier ones applied)."""
    for name, value in pairs:
        session.change_setting(name, _characteristic(session, name, value))


def _characteristic(session: Any, name: str, value: str) -> str:
    """`value` for transaction characteristic `name`, after PostgreSQL's checks
    (check_transaction_isolation / _read_only / _deferrable) and DSQL's refusal."""
    if name == "transaction_isolation":
        value = isolation_level(name, value)
    else:
        value = normalize(name, value)
    txn = session.txn
    queried = txn is not None and txn.tau_start is not None  # PostgreSQL's FirstSnapshotSet
    in_savepoint = bool(session.savepoints)
    if name == "transaction_isolation":
        if value != session.settings.get(name):
            if queried:
                raise SqlError("25001", "SET TRANSACTION ISOLATION LEVEL must be called before any query")
            if in_savepoint:
                raise SqlError("25001", "SET TRANSACTION ISOLATION LEVEL must not be called in a subtransaction")
        return refuse_isolation(value)
    if name == "transaction_deferrable":
        if in_savepoint:
            raise SqlError("25001", "SET TRANSACTION [NOT] DEFERRABLE cannot be called within a subtransaction")
        if queried:
            raise SqlError("25001", "SET TRANSACTION [NOT] DEFERRABLE must be called before any query")
        return value
    read_only = txn.read_only if txn is not None else session.settings.get(name) == "on"
    if value == "off" and read_only:
        if in_savepoint:
            raise SqlError("25001", "cannot set transaction read-write mode inside a read-only transaction")
        if queried:
            raise SqlError("25001", "transaction read-write mode must be set before any query")
    return value


def _outside_block_warning(session: Any, what: str) -> list[api.Event]:
    """PostgreSQL's WarnNoTransactionBlock: the statement affects only its own
    transaction when run outside a block (an implicit one of several statements counts)."""
    if session.block or session.implicit_block:
        return []
    return [Notice(f"{what} can only be used in transaction blocks", "25P01", "WARNING")]


# -- values ------------------------------------------------------------------------------------------


def set_value(args: Any, *, quote: bool = False) -> str:
    """The text of SET's value list (PostgreSQL's flatten_set_variable_args):
    items joined by ", ", strings quoted as identifiers for list settings that
    ask for it (`quote`), numbers as written."""
    values = []
    for arg in args:
        const = arg.get("A_Const")
        if const is None:
            if "TypeCast" not in arg:
                raise SqlError("42601", "SET value must be a constant")
            values.append(_interval_value(arg["TypeCast"]))
            continue
        if "sval" in const:
            text = const["sval"].get("sval", "")
            values.append(quote_ident(text) if quote else text)
        elif "ival" in const:
            values.append(str(const["ival"].get("ival", 0)))
        elif "fval" in const:
            values.append(const["fval"].get("fval", "0"))
        elif "boolval" in const:
            flag = bool(const["boolval"].get("boolval"))
            values.append(quote_ident("true" if flag else "false") if quote else ("on" if flag else "off"))
        else:
            values.append("")
    return ", ".join(values)


def _interval_value(cast: dict) -> str:
    """`SET TIME ZONE INTERVAL '...' [HOUR [TO MINUTE]]`, the only typed constant
    the grammar lets into SET: the interval is read with its typmod and
    written back as `INTERVAL '<interval_out>'`, as flatten_set_variable_args
    does, so that check_timezone sees an interval (east of Greenwich) and not
    the bare string, which it would read as a POSIX zone (west)."""
    type_name = cast.get("typeName", {})
    names = [n["String"]["sval"] for n in type_name.get("names", [])]
    typmods = [m.get("A_Const", {}).get("ival", {}).get("ival", 0) for m in type_name.get("typmods", [])]
    interval_type = resolve_type_name(names, typmods)
    if interval_type.oid != INTERVAL.oid:
        raise SqlError("42601", "SET value must be a constant")
    text = cast.get("arg", {}).get("A_Const", {}).get("sval", {}).get("sval", "")
    typmod = interval_type.typmod
    value = make_interval_typmod(typmod)(parse_interval(text, typmod))
    return f"INTERVAL '{interval_out(value)}'"
