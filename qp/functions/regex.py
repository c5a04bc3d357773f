"""Pattern matching: LIKE/ILIKE (with escape characters), SIMILAR TO, and
PostgreSQL's POSIX regular expressions (ARE) translated to Python `re`.

The translation covers what applications use: PG's `$` means end of string
(Python's also matches before a final newline), `.` matches newlines, the
bracket classes [[:alpha:]] etc., \\m \\M \\y \\Y word boundaries, embedded
options (?i), and the flags of regexp_* functions ('g', 'i', 'c', 'n', 's',
'x', ...). Compiled patterns are cached because patterns are nearly always
constants of a query.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from qp.errors import SqlError

_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v", "blank": " \\t", "xdigit": "0-9A-Fa-f", "word": "\\w",
    "cntrl": "\\x00-\\x1f\\x7f", "print": "\\x20-\\x7e", "graph": "\\x21-\\x7e",
    "punct": "!-/:-@\\[-`{-~",
}


def _regex_error(msg: str) -> SqlError:
    return SqlError("2201B", f"invalid regular expression: {msg}")


def translate_regex(pat: str) -> str:
    """PG ARE syntax -> Python re syntax."""
    out: list[str] = []
    i, n = 0, len(pat)
    depth = 0
    while i < n:
        c = pat[i]
        if c == "\\":
            if i + 1 >= n:
                raise _regex_error("invalid escape \\ sequence")
            d = pat[i + 1]
            if d == "m":
                out.append(r"\b(?=\w)")
            elif d == "M":
                out.append(r"\b(?<=\w)")
            elif d == "y":
                out.append(r"\b")
            elif d == "Y":
                out.append(r"\B")
            elif d == "Z":
                out.append(r"\Z")
            elif d == "A":
                out.append(r"\A")
            else:
                out.append("\\" + d)
            i += 2
        elif c == "$":
            out.append(r"\Z")
            i += 1
        elif c == "[":
            j, cls = _bracket(pat, i)
            out.append(cls)
            i = j
        elif c == "(":
            if pat.startswith("(?", i) and i + 2 < n and pat[i + 2] not in ":=!<#":
                # embedded options like (?i) at the start
                m = re.match(r"\(\?([bceimnpqstwx]+)\)", pat[i:])
                if m is None:
                    raise _regex_error("quantifier operand invalid")
                flags = "".join(f for f in m.group(1) if f in "ix")
                if "n" in m.group(1) or "m" in m.group(1):
                    flags += "m"
                if "s" not in m.group(1) and "n" not in m.group(1):
                    flags += "s"
                out.append(f"(?{flags})" if flags else "")
                i += m.end()
                continue
            depth += 1
            out.append(c)
            i += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise _regex_error("parentheses () not balanced")
            out.append(c)
            i += 1
        else:
            out.append(c)
            i += 1
    if depth:
        raise _regex_error("parentheses () not balanced")
    return "".join(out)


def _bracket(pat: str, i: int) -> tuple[int, str]:
    """Translate a bracket expression starting at pat[i] == '['."""
    n = len(pat)
    if pat.startswith("[[:<:]]", i):
        return i + 7, r"\b(?=\w)"
    if pat.startswith("[[:>:]]", i):
        return i + 7, r"\b(?<=\w)"
    out = ["["]
    j = i + 1
    if j < n and pat[j] == "^":
        out.append("^")
        j += 1
    if j < n and pat[j] == "]":
        out.append("\\]")
        j += 1
    while j < n and pat[j] != "]":
        if pat.startswith("[:", j):
            k = pat.find(":]", j + 2)
            if k < 0:
                raise _regex_error("brackets [] not balanced")
            name = pat[j + 2:k]
            if name not in _CLASSES:
                raise _regex_error("invalid character class")
            out.append(_CLASSES[name])
            j = k + 2
        elif pat.startswith("[.", j) or pat.startswith("[=", j):
            end = pat[j + 1] + "]"
            k = pat.find(end, j + 2)
            if k < 0:
                raise _regex_error("brackets [] not balanced")
            out.append(re.escape(pat[j + 2:k]))
            j = k + 2
        elif pat[j] == "[":
            out.append("\\[")
            j += 1
        elif pat[j] == "\\":
            out.append(pat[j:j + 2])
            j += 2
        else:
            out.append(pat[j])
            j += 1
    if j >= n:
        raise _regex_error("brackets [] not balanced")
    out.append("]")
    return j + 1, "".join(out)


def parse_flags(flags: str, fname: str = "") -> tuple[int, bool]:
    """regexp_* flags -> (re flags, global?)."""
    f = re.DOTALL
    glob = False
    for ch in flags:
        if ch == "g":
            glob = True
        elif ch == "i":
            f |= re.IGNORECASE
        elif ch == "c":
            f &= ~re.IGNORECASE
        elif ch in "nm":
            f = (f | re.MULTILINE) & ~re.DOTALL
        elif ch == "s":
            f = (f | re.DOTALL) & ~re.MULTILINE
        elif ch == "p":
            f &= ~re.DOTALL
        elif ch == "w":
            f |= re.MULTILINE
        elif ch == "x":
            f |= re.VERBOSE
        elif ch in "tbeq":
            pass
        else:
            raise SqlError("22023", f'invalid regular expression option: "{ch}"')
    return f, glob


@lru_cache(maxsize=1024)
def compile_regex(pat: str, flags: int = re.DOTALL, literal: bool = False) -> re.Pattern:
    try:
        if literal:
            return re.compile(re.escape(pat), flags)
        src = translate_regex(pat)
        if flags & re.MULTILINE:
            src = src.replace(r"\Z", "$")
        return re.compile(src, flags)
    except re.error as e:
        msg = str(e)
        if "unterminated subpattern" in msg or "unbalanced parenthesis" in msg:
            raise _regex_error("parentheses () not balanced") from None
        if "unterminated character set" in msg:
            raise _regex_error("brackets [] not balanced") from None
        if "nothing to repeat" in msg or "multiple repeat" in msg:
            raise _regex_error("quantifier operand invalid") from None
        if "invalid group reference" in msg:
            raise _regex_error("invalid backreference number") from None
        raise _regex_error(msg) from None


def regex_match(s: str, pat: str, icase: bool = False) -> bool:
    return compile_regex(pat, re.DOTALL | (re.IGNORECASE if icase else 0)).search(s) is not None


# --- LIKE ---------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def like_matcher(pat: str, icase: bool = False, escape: str = "\\") -> Callable[[str], bool]:
    """A predicate for `x LIKE pat` (ILIKE when icase)."""
    parts: list[str] = []
    chars: list[str] = []  # the pattern as a plain string, while it has no wildcard
    literal = True
    i, n = 0, len(pat)
    trailing_escape = False
    while i < n:
        c = pat[i]
        if escape and c == escape:
            if i + 1 >= n:
                trailing_escape = True
                break
            parts.append(re.escape(pat[i + 1]))
            chars.append(pat[i + 1])
            i += 2
            continue
        if c == "%":
            parts.append(".*")
            literal = False
        elif c == "_":
            parts.append(".")
            literal = False
        else:
            parts.append(re.escape(c))
            chars.append(c)
        i += 1
    flags = re.DOTALL | (re.IGNORECASE if icase else 0)
    if trailing_escape:
        prefix = re.compile("".join(parts), flags)

        def with_error(s: str) -> bool:
            m = prefix.match(s)
            if m is not None and m.end() < len(s):
                raise SqlError("22025", "LIKE pattern must not end with escape character")
            return False
        return with_error
    if literal and not icase:
        return "".join(chars).__eq__
    rx = re.compile("".join(parts), flags)
    fm = rx.fullmatch
    return lambda s: fm(s) is not None


def like(s: str, pat: str) -> bool:
    return like_matcher(pat)(s)


def ilike(s: str, pat: str) -> bool:
    return like_matcher(pat, True)(s)


def like_bytes(s: bytes, pat: bytes) -> bool:
    return like_matcher(pat.decode("latin-1"))(s.decode("latin-1"))


def like_escape(pat: str, esc: str) -> str:
    """like_escape(): rewrite a pattern with escape character `esc` to use backslash."""
    if esc == "\\":
        return pat
    if len(esc) > 1:
        raise SqlError("22025", "invalid escape string", hint="Escape string must be empty or one character.")
    out = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if esc and c == esc:
            if i + 1 >= n:
                raise SqlError("22025", "LIKE pattern must not end with escape character")
            nxt = pat[i + 1]
            out.append("\\" + nxt)
            i += 2
        elif c == "\\":
            out.append("\\\\")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def similar_to_escape(pat: str, esc: str | None = "\\") -> str:
    """SIMILAR TO pattern -> POSIX regex, as PostgreSQL's similar_to_escape()
    writes it (the text is visible: `SELECT similar_to_escape(...)`, EXPLAIN)."""
    return "".join(similar_parts(pat, esc))


_SIMILAR_SEPARATORS = ("){1,1}?(", "){1,1}(?:")


def similar_parts(pat: str, esc: str | None = "\\") -> list[str]:
    """similar_escape_internal, split where it writes its pieces: the prefix
    `^(?:`, the pattern (one piece per escape-double-quote part, separated by
    `){1,1}?(` and `){1,1}(?:`) and the suffix `)$`.

    `esc` None is the default escape (backslash); '' means none. Inside a
    bracket expression `%`, `_`, `.`, `(`... are literal, a backslash is
    doubled, `]` right after `[` or `[^` is a member (not the end), and a
    nested `[` (as in `[[:alpha:]]`) needs its own `]`.
    """
    if esc is None:
        esc = "\\"
    if len(esc) > 1:
        raise SqlError("22025", "invalid escape string", hint="Escape string must be empty or one character.")
    out: list[str] = ["^(?:"]
    piece: list[str] = []
    after_escape = False
    bracket_depth = 0
    charclass_pos = 0  # 1 right after '[', 2 after '[^', 3 further in
    nquotes = 0
    for c in pat:
        if after_escape:
            if c == '"' and bracket_depth < 1:
                if nquotes >= 2:
                    raise SqlError("2200C", "SQL regular expression may not contain more than two "
                                            "escape-double-quote separators")
                out.append("".join(piece))
                out.append(_SIMILAR_SEPARATORS[nquotes])
                piece = []
                nquotes += 1
            else:
                # any character may be escaped (\d and friends pass through)
                piece.append("\\" + c)
                charclass_pos = 3
            after_escape = False
        elif esc and c == esc:
            after_escape = True
        elif bracket_depth > 0:
            if c == "\\":
                piece.append("\\")
            piece.append(c)
            if c == "]" and charclass_pos > 2:
                bracket_depth -= 1
            elif c == "[":
                bracket_depth += 1
                charclass_pos = 3
            elif c == "^" and charclass_pos == 1:
                charclass_pos = 2
            else:
                charclass_pos = 3
        elif c == "[":
            piece.append(c)
            bracket_depth = 1
            charclass_pos = 1
        elif c == "%":
            piece.append(".*")
        elif c == "_":
            piece.append(".")
        elif c == "(":
            piece.append("(?:")  # non-capturing: substring() takes only the "-delimited part
        elif c in "\\.^$":
            piece.append("\\" + c)
        else:
            piece.append(c)
    out.append("".join(piece))
    out.append(")$")
    return out


def similar_substring(s: str, pat: str, esc: str | None) -> str | None:
    """substring(s similar pat escape esc): the part of `s` matched by the
    pattern's middle part (between the two escape-double-quotes).

    PostgreSQL's regex engine gives the first part the shortest match and
    the middle part the longest one (the `{1,1}?` and `{1,1}` quantifiers it
    writes); Python's backtracking engine does not order whole
    subexpressions that way, so the split points are searched for here,
    with each part compiled on its own."""
    parts = similar_parts(pat, esc)
    whole = compile_regex("".join(parts))
    if whole.search(s) is None:
        return None
    pieces = parts[1:-1:2]  # the pattern pieces, without prefix, separators and suffix
    if len(pieces) == 1:
        return s
    try:
        rxs = [compile_regex(p) for p in pieces]
    except SqlError:
        # a part with unbalanced parentheses (balanced only across the
        # separators): Python's own choice of the capture is the best we have
        m = whole.search(s)
        return m.group(1) if m is not None else None
    n = len(s)
    first, middle = rxs[0], rxs[1]
    last = rxs[2] if len(rxs) > 2 else None
    tail_ok = [last is None and j == n or last is not None and last.fullmatch(s, j) is not None
               for j in range(n + 1)]
    for i in range(n + 1):
        if first.fullmatch(s, 0, i) is None:
            continue
        for j in range(n, i - 1, -1):
            if tail_ok[j] and middle.fullmatch(s, i, j) is not None:
                return s[i:j]
    return None
