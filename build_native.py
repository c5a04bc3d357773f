"""Compile the sans-IO PostgreSQL protocol modules to C with mypyc, beside their sources.

`make` runs this after installing (Makefile, target `pgwire/_native.json`). Every
statement a client sends is framed, decoded and answered by `pgwire/connection.py`
and `pgwire/messages.py`: pure Python with no I/O, typed throughout, which mypyc
compiles as they are (about 2.5× faster there; bench/README.md, "pgwire compiled").
The extension modules land next to the sources, which Python's import prefers, and
`pgwire/_native.json` records the sources' hashes they were built from:
`pgwire/__init__.py` runs the sources instead when they differ (edited since), or
when DSQL_PURE_PYTHON=1 (for profilers, which do not see into compiled code).

Without a C compiler, or if mypyc fails, this says so and the sources run: the same
behaviour, slower. `python build_native.py --remove` takes the compiled modules away.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SOURCES = ("pgwire/messages.py", "pgwire/connection.py")
GROUP = "pgwire._native"  # the shared library of the group: pgwire/_native__mypyc.*.so
RECORD = ROOT / "pgwire" / "_native.json"


def _compiled_files() -> list[Path]:
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    names = [source.removesuffix(".py") for source in SOURCES] + [GROUP.replace(".", "/") + "__mypyc"]
    return [ROOT / (name + suffix) for name in names]


def remove() -> None:
    for path in [*_compiled_files(), RECORD]:
        path.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    remove()
    if "--remove" in argv:
        return 0
    os.chdir(ROOT)  # mypyc names the modules by their paths from here
    hashes = {source: hashlib.sha256((ROOT / source).read_bytes()).hexdigest() for source in SOURCES}
    error = None
    try:
        import warnings

        from mypyc.build import mypycify
        from setuptools import setup

        warnings.simplefilter("ignore")  # setuptools reads pyproject.toml's [tool.setuptools] ("beta")

        extensions = mypycify(["--follow-imports=silent", *SOURCES], group_name=GROUP, opt_level="3",
                              target_dir=str(ROOT / "build" / "native"))  # fmt: skip
        setup(name="dsql-native", packages=[], ext_modules=extensions,
              script_args=["-q", "build_ext", "--inplace", "--build-temp", str(ROOT / "build" / "native")])  # fmt: skip
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure leaves the sources running
        error = f"{type(exc).__name__}: {exc}"
    compiled = error is None and all(path.exists() for path in _compiled_files())
    if not compiled:
        remove()
        print(f"build_native.py: the protocol modules were not compiled ({error or 'no extension modules'}); "
              "the Python sources run instead, slower", file=sys.stderr)  # fmt: skip
    RECORD.write_text(json.dumps({"compiled": compiled, "sources": hashes}, indent=1) + "\n")
    shutil.rmtree(ROOT / "build" / "native", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
