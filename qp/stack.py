"""How deep a statement or a value may nest, and the Python recursion that allows.

PostgreSQL bounds its recursion by stack bytes (`check_stack_depth` against
`max_stack_depth`) and reports 54001 "stack depth limit exceeded"; a deeper
statement fails cleanly and the session goes on. dsql's stages recurse in
Python over the statement's tree (parse-tree decoding, binder, planner,
compiler, the compiled closures that evaluate expressions) and over nested
values (jsonb input and output), so the same promise needs two bounds:

- The Python recursion limit, set by `install()` when the server starts.
  CPython's default of 1000 frames leaves a few hundred for a statement under
  trio's and the session's own frames, far less than the nesting PostgreSQL
  accepts. Raising it is safe only as far as the C stack goes, because a C
  stack overflow kills the process (every session) instead of raising
  RecursionError: in CPython 3.11 a Python call made from C takes C stack, from
  about 300 bytes (a generator resumed by `str.join`) to about 5 KB (a key
  function called back by `sorted`, whose merge state lives on the C stack),
  measured. 1000 frames is all an 8 MiB stack carries at the worst of these,
  so `install()` first lets the main thread's stack grow to `STACK_BYTES`
  (Linux checks RLIMIT_STACK when the stack grows, not when the process
  starts, and keeps at least 128 MiB free below it for that), gives threads
  started afterwards a stack that size, and sets the limit to what that stack
  carries at `STACK_BYTES_PER_FRAME`. Where the hard limit forbids a larger
  stack, the limit stays CPython's.
- A cheap check before the deep work: the nesting depth of pglast's JSON
  parse tree (`check_parse_tree`, at most half the recursion limit) and of
  jsonb input text (`check_json_text`), counted on the text in C-speed passes,
  so that no stage starts a recursion it cannot finish.

What slips past both (a recursion the checks do not foresee) raises
RecursionError, which the server reports as this same 54001 at the statement
boundary (pgwire/server.py); the session stays usable.
"""

from __future__ import annotations

import itertools
import resource
import sys
import threading

from qp.errors import SqlError

# The stack the main thread may grow to once install() has run. 64 MiB is
# half of what Linux keeps free below the stack in any case.
STACK_BYTES = 64 * 1024 * 1024
# C stack budgeted per Python frame: the worst measured (5 KB, see the module
# docstring) with room to spare.
STACK_BYTES_PER_FRAME = 8 * 1024
# Kept free for the C frames around the Python ones (the interpreter's start,
# trio's run loop, a C extension's own frames).
STACK_RESERVE_BYTES = 1024 * 1024
# Linux's default RLIMIT_STACK, assumed where there are no rlimits.
STACK_BYTES_DEFAULT = 8 * 1024 * 1024
# CPython's default, and what an 8 MiB stack carries at STACK_BYTES_PER_FRAME.
RECURSION_LIMIT_MIN = 1000
# jsonb and json values nested deeper than this are refused at input. Below
# PostgreSQL's (about 10,000 with its default 2 MB stack) because values are
# stored as msgpack, whose decoder stops at 1024 levels.
JSON_DEPTH_MAX = 1000


def recursion_limit_for(stack_bytes: int) -> int:
    """The recursion limit that `stack_bytes` of C stack carries (never below CPython's default)."""
    return max(RECURSION_LIMIT_MIN, (stack_bytes - STACK_RESERVE_BYTES) // STACK_BYTES_PER_FRAME)


def install() -> int:
    """Let the main thread's stack grow to STACK_BYTES, give later threads as much, and
    raise the recursion limit to what that carries; returns the limit in force.

    Called once when the server starts, from the main thread (where trio runs).
    Never lowers anything, so a program that chose a larger stack or limit keeps it.
    """
    stack_bytes = STACK_BYTES_DEFAULT
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
        if soft == resource.RLIM_INFINITY:
            stack_bytes = STACK_BYTES
        elif soft >= STACK_BYTES:
            stack_bytes = soft
        else:
            wanted = STACK_BYTES if hard == resource.RLIM_INFINITY else min(STACK_BYTES, hard)
            if wanted > soft:
                resource.setrlimit(resource.RLIMIT_STACK, (wanted, hard))
            stack_bytes = max(soft, wanted)
    except (OSError, ValueError):  # no rlimits here: assume Linux's default stack
        pass
    # A thread's stack is fixed when it starts; the recursion limit is the same for every
    # thread. (threading.stack_size() without an argument also sets the size, to 0.)
    threading.stack_size(max(threading.stack_size(), stack_bytes))
    limit = recursion_limit_for(stack_bytes)
    if sys.getrecursionlimit() < limit:
        sys.setrecursionlimit(limit)
    return sys.getrecursionlimit()


# -- nesting depth of JSON text, without recursing ----------------------------------------------

# Every byte but the brackets and the quote, for bytes.translate to delete.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth_exceeds(text: str, depth_max: int) -> bool:
    """Whether JSON `text` nests arrays and objects more than `depth_max` deep.

    Most texts have fewer brackets than the bound, which settles it with two
    `str.count`s. Otherwise the text is reduced, in C loops, to its brackets
    outside strings: escaped backslashes and quotes go first (escapes pair from
    the left, so `\\\\` then `\\"` is how a decoder reads them), then every byte
    but brackets and quotes, then what lies between each pair of quotes. The
    depth is the largest running sum of +1/-1 over what is left: linear in the
    text, with no recursion to overflow.
    """
    if text.count("[") + text.count("{") <= depth_max:
        return False
    data = text.encode("utf-8", "surrogatepass").replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = data.translate(None, _NOT_STRUCTURE).replace(b'""', b"")  # strings without brackets go at once
    outside_strings = b"".join(structure.split(b'"')[::2])
    return max(itertools.accumulate(map(_STEP.__getitem__, outside_strings)), default=0) > depth_max


def stack_depth_exceeded() -> SqlError:
    """PostgreSQL's 54001, with its HINT (its default max_stack_depth, which dsql does not have as a setting)."""
    return SqlError(
        "54001", "stack depth limit exceeded",
        hint='Increase the configuration parameter "max_stack_depth" (currently 2048kB), '
        "after ensuring the platform's stack depth limit is adequate.",
        routine="check_stack_depth",
    )


def parse_tree_depth_max() -> int:
    """The nesting depth of pglast's JSON tree that the stages follow within the recursion limit.

    Decoding the JSON takes one frame per level, and the binder and planner
    were measured at one or less (a level of a statement is two to seven levels
    of JSON: `{"A_Expr": {"lexpr": ...}}`, a subquery's SubLink and SelectStmt),
    so half the limit leaves the other half for the frames below the statement
    and for trio's, whose own code must never be the one to overflow. With
    install()'s limit: some 2000 UNIONs, 500 nested subqueries (PostgreSQL
    accepts a few thousand; its parser's stack stops at 10,000 levels).
    """
    return sys.getrecursionlimit() // 2


def check_parse_tree(tree_json: str) -> None:
    """Refuse (54001) a statement whose parse tree nests deeper than every stage can follow."""
    if json_depth_exceeds(tree_json, parse_tree_depth_max()):
        raise stack_depth_exceeded()


def check_json_text(text: str) -> None:
    """Refuse (54001) json or jsonb input that nests deeper than JSON_DEPTH_MAX."""
    if json_depth_exceeds(text, JSON_DEPTH_MAX):
        raise stack_depth_exceeded()
