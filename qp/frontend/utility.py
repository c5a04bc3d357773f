"""Utility statements: transaction control, SET/SHOW/RESET, DISCARD, DEALLOCATE,
cursors, savepoints, EXPLAIN and CALL — what changes the session rather than data.

Transaction control follows PostgreSQL, with DSQL's semantics: BEGIN opens a
block (its options applied even to a block already open, as PostgreSQL does),
COMMIT of a failed block reports ROLLBACK, COMMIT and ROLLBACK outside a block
warn (25P01), and the AND CHAIN forms and two-phase commit are refused (0A000).
"""

from __future__ import annotations

from qp import api
from qp.api import Column, CommandComplete, DataRows, Notice, RowDescription
from qp.catalog.temp_keys import is_temp_key
from qp.ddl import jobs
from qp.ddl.analyze import analyze as analyze_tables
from qp.errors import SqlError, in_failed_transaction
from qp.frontend.cursors import run_cursor_statement
from qp.frontend.explain import run_explain
from qp.frontend.savepoints import run_savepoint_statement
from qp.frontend.session_settings import (
    refuse_characteristics,
    run_set,
    run_show,
    set_characteristics,
    transaction_characteristics,
)
from qp.parse.parser import Statement, string_list
from qp.parse.unsupported import unsupported_statement


async def run_utility(session, statement: Statement, portal=None, params: tuple = ()) -> list[api.Event]:
    """Run a statement that is neither a query, DML nor DDL, in `session`."""
    kind = statement.kind
    body = statement.body
    if kind == "TransactionStmt":
        return await _transaction_statement(session, body)
    if session.failed:
        raise in_failed_transaction()
    if kind == "VariableSetStmt":
        return run_set(session, body)
    if kind == "VariableShowStmt":
        return run_show(session, body.get("name", ""))
    if kind == "DiscardStmt" and body.get("target") == "DISCARD_TEMP":
        discard_temp(session)
        return [CommandComplete("DISCARD TEMP")]
    if kind == "DiscardStmt":
        if session.block:
            raise SqlError("25001", "DISCARD ALL cannot run inside a transaction block")
        session.statements.clear()
        session.portals.clear()
        session.cursors.clear()
        session.reset_all()
        discard_temp(session)
        session.change_setting("session_authorization", session.user)  # SET SESSION AUTHORIZATION DEFAULT
        session.change_setting("role", "none")
        return [CommandComplete("DISCARD ALL")]
    if kind == "DeallocateStmt":
        name = body.get("name")
        if name is None or body.get("isall"):
            session.statements = {k: v for k, v in session.statements.items() if k == ""}
            return [CommandComplete("DEALLOCATE ALL")]
        if name not in session.statements:
            raise SqlError("26000", f'prepared statement "{name}" does not exist')
        del session.statements[name]
        return [CommandComplete("DEALLOCATE")]
    if kind == "UnlistenStmt":
        return [CommandComplete("UNLISTEN")]
    if kind == "VacuumStmt":
        # VACUUM has nothing to do: old versions are collected continuously (DSQL has
        # no VACUUM either); accepted so that tools such as pgbench run.
        if not body.get("is_vacuumcmd") or any(
            o["DefElem"].get("defname") == "analyze" for o in body.get("options", ())
        ):
            await analyze_tables(session, body)
        return [CommandComplete("VACUUM" if body.get("is_vacuumcmd") else "ANALYZE")]
    if kind == "CheckPointStmt":
        return [CommandComplete("CHECKPOINT")]
    if kind in ("DeclareCursorStmt", "FetchStmt", "ClosePortalStmt"):
        return await run_cursor_statement(session, statement, portal)
    if kind == "ExplainStmt":
        return await _explain(session, body)
    if kind == "CallStmt":
        return await _call(session, body, params)
    raise unsupported_statement(kind)


async def _transaction_statement(session, body: dict) -> list[api.Event]:
    kind = body.get("kind")
    if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
        tag = "BEGIN" if kind == "TRANS_STMT_BEGIN" else "START TRANSACTION"
        if session.failed:
            raise in_failed_transaction()
        options = transaction_characteristics(body.get("options", ()))
        events: list[api.Event] = []
        if session.block:
            events.append(Notice("there is already a transaction in progress", "25001", "WARNING"))
        else:
            refuse_characteristics(options)  # before the block exists: a refused BEGIN starts none
            session.block = True
            if session.txn is None:
                read_only = (
                    session.settings.get("transaction_read_only") == "on"
                )  # default_transaction_read_only
                session.txn = session.new_txn(read_only=read_only, explicit=True, hot=True)
            session.txn.explicit = True
        set_characteristics(session, options)  # PostgreSQL applies them even to a block already open
        return [*events, CommandComplete(tag)]
    if kind == "TRANS_STMT_COMMIT":
        if body.get("chain"):
            raise SqlError("0A000", "COMMIT AND CHAIN is not supported")
        txn, failed, was_block = session.txn, session.failed, session.block
        session.txn, session.block, session.failed = None, False, False
        session.drop_portals()
        if failed or txn is None:
            session.transaction_ended(commit=not failed)
            events = [] if was_block else [Notice("there is no transaction in progress", "25P01", "WARNING")]
            return [*events, CommandComplete("ROLLBACK" if failed else "COMMIT")]
        # Outside a block this commits the implicit transaction (what came
        # before it in the same query string), as PostgreSQL does.
        try:
            await session.commit(txn)
        except BaseException:
            session.transaction_ended(commit=False)
            raise
        session.transaction_ended(commit=True)
        if not was_block:
            return [
                Notice("there is no transaction in progress", "25P01", "WARNING"),
                CommandComplete("COMMIT"),
            ]
        return [CommandComplete("COMMIT")]
    if kind == "TRANS_STMT_ROLLBACK":
        if body.get("chain"):
            raise SqlError("0A000", "ROLLBACK AND CHAIN is not supported")
        was_block = session.block
        session.txn, session.block, session.failed = None, False, False
        session.drop_portals()
        session.transaction_ended(commit=False)
        if not was_block:
            return [
                Notice("there is no transaction in progress", "25P01", "WARNING"),
                CommandComplete("ROLLBACK"),
            ]
        return [CommandComplete("ROLLBACK")]
    if kind in ("TRANS_STMT_SAVEPOINT", "TRANS_STMT_RELEASE", "TRANS_STMT_ROLLBACK_TO"):
        return run_savepoint_statement(session, kind, body.get("savepoint_name", ""))
    raise SqlError("0A000", "two-phase commit is not supported")


async def _call(session, body: dict, params: tuple) -> list[api.Event]:
    call = body["funccall"]
    names = string_list(call.get("funcname"))
    if names != ["sys", "wait_for_job"]:
        raise SqlError("42883", f"procedure {'.'.join(names)} does not exist")
    args = call.get("args", ())
    arg = args[0] if len(args) == 1 else {}
    if "A_Const" in arg and "sval" in arg["A_Const"]:
        job_id = arg["A_Const"]["sval"].get("sval", "")
    elif "ParamRef" in arg and 0 < arg["ParamRef"].get("number", 0) <= len(params):
        job_id = params[arg["ParamRef"]["number"] - 1]
    else:
        raise SqlError("42883", "procedure sys.wait_for_job takes one job id (text)")
    done = await jobs.wait_for_job(session.qp, str(job_id))
    return [
        RowDescription([Column("wait_for_job", 16, 1)]),
        DataRows([[b"t" if done else b"f"]]),
        CommandComplete("CALL"),
    ]


async def _explain(session, body: dict) -> list[api.Event]:
    return await run_explain(session, body)  # qp/frontend/explain.py


def discard_temp(session) -> None:
    """DISCARD TEMP: drop every temporary object of the session, its transaction's new
    ones included (qp/txn/temp_store.py)."""
    session.temp_store.clear()
    txn = session.txn
    if txn is not None:
        for key in [k for k in txn.buffer.values if is_temp_key(k)]:
            txn.buffer.put(key, None)
        txn.catalog, txn.catalog_validated = None, False
