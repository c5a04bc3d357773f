"""pgwire's protocol modules compiled by mypyc (build_native.py) or run as their sources.

`make` compiles `pgwire/messages.py` and `pgwire/connection.py` to C extensions beside
them and records the sources' hashes in `pgwire/_native.json`; `pgwire/_native.py`
runs the sources when they no longer match (edited since) or DSQL_PURE_PYTHON=1.
The rest of the suite runs whichever `make` left (the compiled ones on CI); here the
sans-IO suites run again on the sources, and the choice itself is checked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pgwire
from pgwire import connection, messages

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "pgwire" / "_native.json"
WHICH = "import pgwire.messages as m, pgwire.connection as c; print(m.__file__.endswith('.py'), c.__file__.endswith('.py'))"


def _record() -> dict:
    if not RECORD.exists():
        pytest.fail("pgwire/_native.json is missing: `make` runs build_native.py before the tests")
    return json.loads(RECORD.read_text())


def _which(env: dict[str, str], path: Path = ROOT) -> str:
    done = subprocess.run([sys.executable, "-c", WHICH], cwd=path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": f"{path}{os.pathsep}{ROOT}", **env})  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_build_compiled_both_modules_and_they_are_the_ones_running() -> None:
    # CI installs a C compiler (.ci/run); a machine without one runs the sources, slower, and fails here.
    record = _record()
    assert record["compiled"], "build_native.py did not compile the protocol modules (see its message in make's output)"
    assert set(record["sources"]) == {"pgwire/messages.py", "pgwire/connection.py"}
    assert not messages.__file__.endswith(".py") and not connection.__file__.endswith(".py")
    assert pgwire.ServerConnection is connection.ServerConnection
    assert _which({}) == "False False"


def test_pure_python_on_request_runs_the_sources() -> None:
    assert _which({"DSQL_PURE_PYTHON": "1"}) == "True True"


def test_a_source_edited_after_the_build_runs_as_source_with_its_partner(tmp_path: Path) -> None:
    _record()
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "pgwire", copy / "pgwire", ignore=shutil.ignore_patterns("__pycache__"))
    assert _which({}, copy) == "False False"  # the copy as built: compiled
    edited = copy / "pgwire" / "connection.py"
    edited.write_text(edited.read_text() + "\n# edited after the build\n")
    assert _which({}, copy) == "True True"  # both from source: one compiled half would not fit the other


def test_the_sans_io_suites_pass_on_the_sources() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_pgwire_connection.py", "tests/test_pgwire_messages.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "DSQL_PURE_PYTHON": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
