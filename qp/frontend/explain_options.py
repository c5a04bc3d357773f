"""EXPLAIN's options, read as PostgreSQL reads them (explain.c, ExplainQuery).

ANALYZE runs the statement; COSTS (on by default) shows estimates; TIMING
(on by default, only with ANALYZE) the time per operator; SUMMARY (on by
default with ANALYZE) the Planning and Execution Time lines. VERBOSE,
BUFFERS, SETTINGS, WAL and FORMAT TEXT are accepted and change nothing here;
other formats are refused rather than answered in the wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass

from qp.errors import SqlError

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
