"""Lines that tests want shown in pytest's terminal summary.

Pass rates and statement counts are worth seeing on every run, not only with
``-s``; tests append here and ``conftest.pytest_terminal_summary`` prints them.
"""

from __future__ import annotations

SUMMARY_LINES: list[str] = []


def add(line: str) -> None:
    """Record one line for the terminal summary (and echo it for ``-s`` runs)."""
    SUMMARY_LINES.append(line)
    print(line)
