"""qp/stack.py: the nesting depth of JSON text, and the recursion limit against the C stack."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from qp.stack import (
    RECURSION_LIMIT_MIN,
    STACK_BYTES,
    STACK_BYTES_PER_FRAME,
    STACK_RESERVE_BYTES,
    json_depth_exceeds,
    recursion_limit_for,
)

REPO = Path(__file__).resolve().parent.parent

# Strings full of what could confuse a bracket counter: brackets, quotes, backslashes, escapes.
_TRICKY_TEXT = st.text(alphabet='[]{}"\\\n\tab✓\x00', max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | _TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY_TEXT, inner, max_size=3),
    max_leaves=30,
)


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@given(JSON_VALUES, st.booleans())
def test_json_depth_is_counted_on_the_text_as_a_decoder_reads_it(value, ascii_only) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    actual = depth(value)
    for bound in range(actual + 2):
        assert json_depth_exceeds(text, bound) == (actual > bound), (text, bound)


def test_json_depth_of_deep_and_wide_texts() -> None:
    assert json_depth_exceeds("[" * 5000 + "]" * 5000, 4999)
    assert not json_depth_exceeds("[" * 5000 + "]" * 5000, 5000)
    wide = json.dumps([[i, {"k": [i]}] for i in range(10_000)])  # 40,000 brackets, 4 deep
    assert not json_depth_exceeds(wide, 4) and json_depth_exceeds(wide, 3)
    in_strings = json.dumps(["[" * 10_000, "{" * 10_000, '\\"[' * 10_000])  # brackets in strings do not nest
    assert not json_depth_exceeds(in_strings, 1)


def test_recursion_limit_follows_the_stack() -> None:
    assert recursion_limit_for(8 * 1024 * 1024) == RECURSION_LIMIT_MIN  # CPython's default is all 8 MiB carries
    limit = recursion_limit_for(STACK_BYTES)
    assert limit > 4 * RECURSION_LIMIT_MIN
    assert limit * STACK_BYTES_PER_FRAME + STACK_RESERVE_BYTES <= STACK_BYTES
    assert recursion_limit_for(0) == RECURSION_LIMIT_MIN


_C_STACK_PROBE = textwrap.dedent("""
    import sys, threading
    sys.path.insert(0, {repo!r})
    from qp import stack
    from qp.types.json import jsonb_out

    limit = stack.install()
    assert limit > 1000, limit
    if {small_thread_stack!r}:
        threading.stack_size(8 * 1024 * 1024)  # Linux's default thread stack, too small for the limit

    def via_sort(n):  # each level is a key function called back by sorted(): about 5 KB of C stack
        return 0 if n == 0 else sorted([n], key=lambda k: via_sort(k - 1))[0]

    def deep_list(n):
        value = []
        for _ in range(n):
            value = [value]
        return value

    def probe(where):
        for name, work in (("sort", lambda: via_sort(10**6)), ("jsonb_out", lambda: jsonb_out(deep_list(10**5)))):
            try:
                work()
                print(where, name, "finished", flush=True)
            except RecursionError:
                print(where, name, "RecursionError", flush=True)

    probe("main")
    thread = threading.Thread(target=probe, args=("thread",))
    thread.start()
    thread.join()
""")


def _c_stack_probe(small_thread_stack: bool) -> subprocess.CompletedProcess:
    script = _C_STACK_PROBE.format(repo=str(REPO), small_thread_stack=small_thread_stack)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)


def test_the_raised_recursion_limit_fits_the_c_stack_in_every_thread() -> None:
    """The worst recursion measured (through sorted()'s key function) reaches the limit and gets
    RecursionError, in the main thread and in a thread started later, instead of a segfault."""
    done = _c_stack_probe(small_thread_stack=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:-1] == [
        f"{where} {name} RecursionError" for where in ("main", "thread") for name in ("sort", "jsonb_out")
    ]
    # The control: the same limit in a thread with Linux's default stack overflows the C stack.
    control = _c_stack_probe(small_thread_stack=True)
    assert control.returncode == -signal.SIGSEGV, (control.returncode, control.stdout)
    assert control.stdout == "main sort RecursionError\nmain jsonb_out RecursionError\n"
