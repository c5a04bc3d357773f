"""Lines that tests want shown in pytest's terminal summary.

Pass rates and statement counts are worth seeing on every run, not only with
``-s``; tests append here and ``conftest.pytest_terminal_summary`` prints them.
Under pytest-xdist a test runs in a worker process, whose summary nobody sees: the
lines travel to the controller inside the test's reports (``user_properties``,
which xdist carries), and the controller prints them (tests/conftest.py).
"""

from __future__ import annotations

SUMMARY_LINES: list[str] = []  # added in this process and not yet put into a report
PROPERTY = "dsql_summary_line"


def add(line: str) -> None:
    """Record one line for the terminal summary (and echo it for ``-s`` runs)."""
    SUMMARY_LINES.append(line)
    print(line)
