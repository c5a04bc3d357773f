"""EXPLAIN and EXPLAIN ANALYZE, run for a session.

Options are read as PostgreSQL reads them (explain.c, ExplainQuery): ANALYZE
runs the statement; COSTS (on by default) shows each operator's estimated
rows; TIMING (on by default, only with ANALYZE) the time per operator;
SUMMARY (on by default with ANALYZE) the Planning and Execution Time lines.
VERBOSE, BUFFERS, SETTINGS, WAL and FORMAT TEXT are accepted and change
nothing here; other formats are refused rather than answered in the wrong one.

EXPLAIN ANALYZE binds and plans the statement (Planning Time), wraps every
operator of the plan in counters (qp/exec/instrument.py) and runs it in the
session's transaction, so a write stays there as PostgreSQL's does: kept by
COMMIT (or autocommit), undone by ROLLBACK. Its result rows are dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from qp import api
from qp.api import Column, CommandComplete, DataRows, RowDescription
from qp.errors import SqlError
from qp.exec.instrument import instrument
from qp.frontend.prepare import explain_lines, explained_operators
from qp.parse.parser import Statement
from qp.parse.unsupported import command_words

EXPLAINABLE = ("SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt")

_TRUE = {"true", "on", "1", "yes"}
_FALSE = {"false", "off", "0", "no"}
_ACCEPTED = {"verbose", "buffers", "settings", "wal", "generic_plan", "memory", "serialize"}


@dataclass
class ExplainOptions:
    analyze: bool = False
    costs: bool = True
    timing: bool = True
    summary: bool = True


def _boolean(name: str, arg: dict | None) -> bool:
    if arg is None:
        return True
    value = next(iter(arg.values()))
    text = str(
        value.get("sval", value.get("ival", value.get("boolval", ""))) if isinstance(value, dict) else value
    )
    text = text.lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SqlError("22023", f"{name} requires a Boolean value")


def explain_options(items) -> ExplainOptions:
    options = ExplainOptions()
    seen: dict[str, bool] = {}
    for item in items:
        element = item["DefElem"]
        name = element.get("defname", "")
        arg = element.get("arg")
        if name in ("analyze", "costs", "timing", "summary"):
            seen[name] = _boolean(name.upper(), arg)
        elif name == "format":
            value = next(iter(arg.values())).get("sval", "").lower() if arg else ""
            if value != "text":
                raise SqlError("0A000", f"EXPLAIN (FORMAT {value.upper()}) is not supported")
        elif name not in _ACCEPTED:
            raise SqlError("42601", f'unrecognized EXPLAIN option "{name}"')
    options.analyze = seen.get("analyze", False)
    options.costs = seen.get("costs", True)
    if seen.get("timing") and not options.analyze:
        raise SqlError("22023", "EXPLAIN option TIMING requires ANALYZE")
    options.timing = seen.get("timing", options.analyze)
    options.summary = seen.get("summary", options.analyze)
    return options


async def run_explain(session: Any, body: dict) -> list[api.Event]:
    """The QUERY PLAN rows of an ExplainStmt `body` in `session`."""
    options = explain_options(body.get("options", ()))
    query_node = body["query"]
    kind = next(iter(query_node))
    if kind not in EXPLAINABLE:
        raise SqlError("0A000", f"EXPLAIN of {command_words(kind)} is not supported")
    txn = session.current_txn()
    txn.begin_snapshot()
    planning_started = time.perf_counter()
    prepared = await session.runner.bind_checked(Statement(query_node, "", 0), [], txn)
    if not options.analyze:
        lines = explain_lines(prepared, costs=options.costs)
    else:
        planning_s = time.perf_counter() - planning_started
        counters = instrument(explained_operators(prepared), options.timing)
        if txn.read_only and prepared.kind != "query":
            raise SqlError("25006", f"cannot execute {prepared.kind.upper()} in a read-only transaction")
        executing_started = time.perf_counter()
        await session.runner.execute_bound(prepared, (), None, txn)
        execution_s = time.perf_counter() - executing_started
        lines = explain_lines(
            prepared, costs=options.costs, actual=counters, timing=options.timing, execution_s=execution_s
        )
        if options.summary:
            lines += [
                f"Planning Time: {planning_s * 1000:.3f} ms",
                f"Execution Time: {execution_s * 1000:.3f} ms",
            ]
    return [
        RowDescription([Column("QUERY PLAN", 25, -1)]),
        DataRows([[line.encode()] for line in lines]),
        CommandComplete("EXPLAIN"),
    ]
