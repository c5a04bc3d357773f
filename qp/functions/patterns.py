"""The text operators and pattern matching: || on text/bytea (and text
with any non-array, via its cast to text), LIKE/ILIKE (~~ ~~*), POSIX
regex (~ ~*), ^@ and the ~<~ family, like_escape/similar_to_escape, the
regexp_* functions and substring(... from pattern). The regex translation
itself is in regex.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from qp.errors import SqlError
from qp.functions import regex as RX
from qp.functions.registry import register_function, register_operator
from qp.functions.strings import _to_text_cast
from qp.types.core import ANYNONARRAY, BOOL, BPCHAR, BYTEA, INT4, NAME, TEXT, SqlType, array_of

TEXT_ARRAY = array_of(TEXT)


def _reg(name: str, args: list[SqlType], ret: SqlType, impl: Callable[..., Any], **kw: Any) -> None:
    register_function(name, args, ret, impl, **kw)


# --- operators --------------------------------------------------------------------------

register_operator("||", TEXT, TEXT, TEXT, str.__add__)
register_operator("||", BYTEA, BYTEA, BYTEA, bytes.__add__)


def _textanycat(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    out = _to_text_cast(args[1])
    return lambda ctx, a, b: a + out(ctx, b)


def _anytextcat(args: list[SqlType], ret: SqlType) -> Callable[..., Any]:
    out = _to_text_cast(args[0])
    return lambda ctx, a, b: out(ctx, a) + b


register_operator("||", TEXT, ANYNONARRAY, TEXT, factory=_textanycat, ctx=True, volatility="s")
register_operator("||", ANYNONARRAY, TEXT, TEXT, factory=_anytextcat, ctx=True, volatility="s")

for _t in (TEXT, NAME, BPCHAR):
    register_operator("~~", _t, TEXT, BOOL, RX.like)
    register_operator("!~~", _t, TEXT, BOOL, lambda s, p: not RX.like(s, p))
    register_operator("~~*", _t, TEXT, BOOL, RX.ilike)
    register_operator("!~~*", _t, TEXT, BOOL, lambda s, p: not RX.ilike(s, p))
    register_operator("~", _t, TEXT, BOOL, lambda s, p: RX.regex_match(s, p))
    register_operator("!~", _t, TEXT, BOOL, lambda s, p: not RX.regex_match(s, p))
    register_operator("~*", _t, TEXT, BOOL, lambda s, p: RX.regex_match(s, p, True))
    register_operator("!~*", _t, TEXT, BOOL, lambda s, p: not RX.regex_match(s, p, True))
register_operator("~~", BYTEA, BYTEA, BOOL, RX.like_bytes)
register_operator("!~~", BYTEA, BYTEA, BOOL, lambda s, p: not RX.like_bytes(s, p))
register_operator("^@", TEXT, TEXT, BOOL, str.startswith)
for _n, _f in (("~<~", str.__lt__), ("~<=~", str.__le__), ("~>~", str.__gt__), ("~>=~", str.__ge__)):
    register_operator(_n, TEXT, TEXT, BOOL, _f)
    register_operator(_n, BPCHAR, BPCHAR, BOOL, (lambda g: lambda a, b: g(a.rstrip(" "), b.rstrip(" ")))(_f))
_reg("like_escape", [TEXT, TEXT], TEXT, RX.like_escape)
_reg("similar_to_escape", [TEXT], TEXT, RX.similar_to_escape)
_reg("similar_to_escape", [TEXT, TEXT], TEXT, RX.similar_to_escape)
_reg("similar_escape", [TEXT, TEXT], TEXT,  # the pre-13 spelling; not strict: a NULL escape is the default
     lambda p, e: None if p is None else RX.similar_to_escape(p, e), strict=False)

# --- regular expressions -----------------------------------------------------------------


def _rx(pat: str, flags: str = "") -> tuple[re.Pattern, bool]:
    f, glob = RX.parse_flags(flags)
    return RX.compile_regex(pat, f, "q" in flags), glob


_REPL_RE = re.compile(r"\\(\d|&|\\)?")


def _expand_repl(repl: str) -> Callable[[re.Match], str]:
    if "\\" not in repl:
        return lambda m: repl
    pieces: list[Any] = []
    pos = 0
    for m in _REPL_RE.finditer(repl):
        pieces.append(repl[pos:m.start()])
        g = m.group(1)
        if g is None:
            pieces.append("\\")
        elif g == "\\":
            pieces.append("\\")
        elif g == "&":
            pieces.append(0)
        else:
            pieces.append(int(g))
        pos = m.end()
    pieces.append(repl[pos:])

    def sub(m: re.Match) -> str:
        out = []
        for p in pieces:
            if isinstance(p, int):
                if p <= (m.re.groups if p else 0) or p == 0:
                    out.append(m.group(p) or "")
            else:
                out.append(p)
        return "".join(out)
    return sub


def regexp_replace(s: str, pat: str, repl: str, *rest: Any) -> str:
    start, n, flags = 1, None, ""
    if len(rest) == 1 and isinstance(rest[0], str):
        flags = rest[0]
    else:
        if len(rest) >= 1:
            start = rest[0]
        if len(rest) >= 2:
            n = rest[1]
        if len(rest) >= 3:
            flags = rest[2]
    if start < 1:
        raise SqlError("22023", f'invalid value for parameter "start": {start}')
    if n is not None and n < 0:
        raise SqlError("22023", f'invalid value for parameter "n": {n}')
    rx, glob = _rx(pat, flags or "")
    sub = _expand_repl(repl)
    if n is None:
        n = 0 if glob else 1
    count = 0
    out = [s[:start - 1]]
    pos = start - 1
    for m in rx.finditer(s, start - 1):
        count += 1
        if n and count < n:
            continue
        out.append(s[pos:m.start()])
        out.append(sub(m))
        pos = m.end()
        if n:
            break
    out.append(s[pos:])
    return "".join(out)


for _sig in ([TEXT, TEXT, TEXT], [TEXT, TEXT, TEXT, TEXT], [TEXT, TEXT, TEXT, INT4],
             [TEXT, TEXT, TEXT, INT4, INT4], [TEXT, TEXT, TEXT, INT4, INT4, TEXT]):
    _reg("regexp_replace", _sig, TEXT, regexp_replace)


def _match_groups(m: re.Match) -> list[str | None]:
    if m.re.groups == 0:
        return [m.group(0)]
    return list(m.groups())


def regexp_match(s: str, pat: str, flags: str = "") -> list | None:
    rx, glob = _rx(pat, flags)
    if glob:
        raise SqlError("22023", 'regexp_match() does not support the "global" option',
                       hint="Use the regexp_matches function instead.")
    m = rx.search(s)
    return _match_groups(m) if m else None


def regexp_matches(s: str, pat: str, flags: str = "") -> Iterator[list]:
    rx, glob = _rx(pat, flags)
    if not glob:
        m = rx.search(s)
        if m:
            yield _match_groups(m)
        return
    for m in rx.finditer(s):
        yield _match_groups(m)


_reg("regexp_match", [TEXT, TEXT], TEXT_ARRAY, regexp_match)
_reg("regexp_match", [TEXT, TEXT, TEXT], TEXT_ARRAY, regexp_match)
_reg("regexp_matches", [TEXT, TEXT], TEXT_ARRAY, regexp_matches, srf=True)
_reg("regexp_matches", [TEXT, TEXT, TEXT], TEXT_ARRAY, regexp_matches, srf=True)


def regexp_split(s: str, pat: str, flags: str = "") -> list[str]:
    """regexp_split_to_array: zero-length matches at the start, at the end or
    right after a previous match are ignored (PG's ignore_degenerate)."""
    rx, glob = _rx(pat, flags)
    if glob:
        raise SqlError("22023", 'regexp_split_to_array() does not support the "global" option')
    out = []
    n = len(s)
    prev_end = 0
    search = 0
    while True:
        m = rx.search(s, search)
        if m is None:
            break
        so, eo = m.span()
        if so < n and eo > prev_end:
            out.append(s[prev_end:so])
            prev_end = eo
        search = eo + 1 if so == eo else eo
        if search > n:
            break
    out.append(s[prev_end:])
    return out


_reg("regexp_split_to_array", [TEXT, TEXT], TEXT_ARRAY, regexp_split)
_reg("regexp_split_to_array", [TEXT, TEXT, TEXT], TEXT_ARRAY, regexp_split)
_reg("regexp_split_to_table", [TEXT, TEXT], TEXT, lambda *a: iter(regexp_split(*a)), srf=True)
_reg("regexp_split_to_table", [TEXT, TEXT, TEXT], TEXT, lambda *a: iter(regexp_split(*a)), srf=True)


def regexp_count(s: str, pat: str, start: int = 1, flags: str = "") -> int:
    if start < 1:
        raise SqlError("22023", f'invalid value for parameter "start": {start}')
    rx, _ = _rx(pat, flags)
    return sum(1 for _ in rx.finditer(s, start - 1))


_reg("regexp_count", [TEXT, TEXT], INT4, regexp_count)
_reg("regexp_count", [TEXT, TEXT, INT4], INT4, regexp_count)
_reg("regexp_count", [TEXT, TEXT, INT4, TEXT], INT4, regexp_count)


def regexp_like(s: str, pat: str, flags: str = "") -> bool:
    rx, glob = _rx(pat, flags)
    if glob:
        raise SqlError("22023", 'regexp_like() does not support the "global" option')
    return rx.search(s) is not None


_reg("regexp_like", [TEXT, TEXT], BOOL, regexp_like)
_reg("regexp_like", [TEXT, TEXT, TEXT], BOOL, regexp_like)


def _positive(name: str, value: int, minimum: int = 1) -> int:
    if value < minimum:
        raise SqlError("22023", f'invalid value for parameter "{name}": {value}')
    return value


def _match_spans(s: str, pat: str, flags: str, fname: str, start: int,
                 subexpr: int) -> tuple[list[list[tuple[int, int]]], int]:
    """setup_regexp_matches for regexp_instr/regexp_substr: every match from
    character `start - 1` on, each search starting where the previous match
    ended (one character further after an empty match). Returns the spans
    of each match (its groups' when `subexpr` asks for them and the pattern
    has groups, else the whole match; (-1, -1) for a group that took no part)
    and how many spans a match has."""
    rx, glob = _rx(pat, flags)
    if glob:
        raise SqlError("22023", f'{fname}() does not support the "global" option')
    groups = rx.groups if subexpr > 0 and rx.groups > 0 else 0
    matches: list[list[tuple[int, int]]] = []
    pos, n = start - 1, len(s)
    while pos <= n:
        m = rx.search(s, pos)
        if m is None:
            break
        matches.append([m.span(i) for i in range(1, groups + 1)] if groups else [m.span()])
        pos = m.end() + (1 if m.start() == m.end() else 0)
    return matches, max(groups, 1)


def _pick_span(matches: list[list[tuple[int, int]]], npatterns: int, n: int, subexpr: int) -> tuple[int, int] | None:
    """The span regexp_instr/regexp_substr report: match `n`, group `subexpr`
    (0: the whole match, which is also what group 1 of a pattern without
    groups means); None past the matches or the groups."""
    if n > len(matches) or subexpr > npatterns:
        return None
    return matches[n - 1][subexpr - 1 if subexpr > 0 else 0]


def regexp_instr(s: str, pat: str, start: int = 1, n: int = 1, endoption: int = 0, flags: str = "",
                 subexpr: int = 0) -> int:
    """Where the n-th match (or its subexpression) begins, or ends with
    endoption 1: a 1-based character position, 0 when there is none."""
    _positive("start", start)
    _positive("n", n)
    if endoption not in (0, 1):
        raise SqlError("22023", f'invalid value for parameter "endoption": {endoption}')
    _positive("subexpr", subexpr, 0)
    span = _pick_span(*_match_spans(s, pat, flags, "regexp_instr", start, subexpr), n, subexpr)
    if span is None or span[endoption] < 0:
        return 0
    return span[endoption] + 1


def regexp_substr(s: str, pat: str, start: int = 1, n: int = 1, flags: str = "", subexpr: int = 0) -> str | None:
    """The text of the n-th match (or of its subexpression), NULL if none."""
    _positive("start", start)
    _positive("n", n)
    _positive("subexpr", subexpr, 0)
    span = _pick_span(*_match_spans(s, pat, flags, "regexp_substr", start, subexpr), n, subexpr)
    if span is None or span[0] < 0 or span[1] < 0:
        return None
    return s[span[0]:span[1]]


for _sig in ([TEXT, TEXT], [TEXT, TEXT, INT4], [TEXT, TEXT, INT4, INT4], [TEXT, TEXT, INT4, INT4, INT4],
             [TEXT, TEXT, INT4, INT4, INT4, TEXT], [TEXT, TEXT, INT4, INT4, INT4, TEXT, INT4]):
    _reg("regexp_instr", _sig, INT4, regexp_instr)
for _sig in ([TEXT, TEXT], [TEXT, TEXT, INT4], [TEXT, TEXT, INT4, INT4], [TEXT, TEXT, INT4, INT4, TEXT],
             [TEXT, TEXT, INT4, INT4, TEXT, INT4]):
    _reg("regexp_substr", _sig, TEXT, regexp_substr)


def substring_regex(s: str, pat: str) -> str | None:
    """substring(s from pattern): the first group if any, else the match."""
    m = RX.compile_regex(pat).search(s)
    if m is None:
        return None
    if m.re.groups:
        return m.group(1)
    return m.group(0)


def substring_similar(s: str, pat: str, esc: str) -> str | None:
    """substring(s similar pattern escape esc): the part between the #" markers."""
    return RX.similar_substring(s, pat, esc)


_reg("substring", [TEXT, TEXT], TEXT, substring_regex)
_reg("substring", [TEXT, TEXT, TEXT], TEXT, substring_similar)

