"""Compiled or source: which `pgwire.connection` and `pgwire.messages` run.

Imported first by `pgwire/__init__.py`. build_native.py (run by `make`) may have
compiled both with mypyc, next to their sources, and recorded the sources' hashes in
`_native.json`; this runs the sources instead when they changed since.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys


def run_sources_if_stale() -> None:
    """`connection` and `messages` may be compiled by mypyc (build_native.py), next to their
    sources; Python's import prefers the compiled ones. When a source differs from what they
    were compiled from (edited since; `make` compiles them again), or DSQL_PURE_PYTHON=1,
    the sources are loaded here instead, both together (compiled code of one calls the
    other's compiled classes directly)."""
    here = os.path.dirname(__file__)
    try:
        with open(os.path.join(here, "_native.json")) as record_file:
            record = json.load(record_file)
    except (OSError, ValueError):
        return  # never compiled here: the sources are what import finds
    if not record.get("compiled"):
        return
    stale = os.environ.get("DSQL_PURE_PYTHON") == "1"
    for source, digest in record.get("sources", {}).items():
        try:
            with open(os.path.join(here, "..", source), "rb") as source_file:
                stale = stale or hashlib.sha256(source_file.read()).hexdigest() != digest
        except OSError:
            stale = True
    if not stale:
        return
    for name in ("messages", "connection"):  # messages first: connection imports it
        spec = importlib.util.spec_from_file_location(f"pgwire.{name}", os.path.join(here, f"{name}.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        setattr(sys.modules["pgwire"], name, module)


run_sources_if_stale()
