"""to_number(text, text): PostgreSQL's NUM template parser and NUM_processor
in number-parsing mode (formatting.c), ported step by step.

to_number is not "take the digits out of the string": the template is walked
node by node over the input, and each node consumes (or does not consume)
input in its own way. A digit position reads at most one digit; a group
separator consumes a ',' only when one is there; a literal character of the
template skips one input character whatever it is; MI/PL/SG read a sign at
their place; S, PR and a bare '-' are read as a sign just before the first
digit or just after the last one. So `to_number('123,000', '999G')` is 123:
the template ends before the last three digits. The digits read, with their
sign and decimal point, then go through numeric input with the typmod
(digit positions, digits read after the point), which is where a number with
more integer digits than the template allows fails with 22003.

The input is walked as UTF-8 bytes, as PostgreSQL walks it: digit and sign
positions step one byte, literal characters and L/TH one whole character.
Locale-dependent symbols (D, G, L, S) are those of the C locale, which is
the only lc_numeric dsql has: '.', ',', ' ' and '-'/'+'.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from qp.errors import SqlError
from qp.functions.numeric_math import num_mul, num_power
from qp.functions.registry import register_function
from qp.types.core import NUMERIC, TEXT
from qp.types.numeric import make_numeric_typmod_applier, parse_numeric
from qp.types.text_io import utf8_char_length

__all__ = ["NumTemplate", "parse_num_template", "to_number"]


class NumFlag(enum.IntFlag):
    """NUMDesc.flag: what the template asked for (formatting.c's NUM_F_*)."""

    DECIMAL = 1 << 1
    LDECIMAL = 1 << 2
    ZERO = 1 << 3
    BLANK = 1 << 4
    FILLMODE = 1 << 5
    LSIGN = 1 << 6
    BRACKET = 1 << 7
    MINUS = 1 << 8
    PLUS = 1 << 9
    ROMAN = 1 << 10
    MULTI = 1 << 11
    PLUS_POST = 1 << 12
    MINUS_POST = 1 << 13
    EEEE = 1 << 14


class LSign(enum.IntEnum):
    """Where an S template puts the locale sign."""

    PRE = -1
    NONE = 0
    POST = 1


# NUM_keywords in formatting.c's order: the spelling, then the keyword's id.
# index_seq_search tries the keywords that share the text's first character
# in this order, so "SG" and "SP" are found before "S".
_NUM_KEYWORDS: tuple[tuple[str, str], ...] = (
    (",", ","), (".", "."), ("0", "0"), ("9", "9"), ("B", "B"), ("C", "C"), ("D", "D"), ("EEEE", "E"),
    ("FM", "FM"), ("G", "G"), ("L", "L"), ("MI", "MI"), ("PL", "PL"), ("PR", "PR"), ("RN", "RN"),
    ("SG", "SG"), ("SP", "SP"), ("S", "S"), ("TH", "TH"), ("V", "V"), ("b", "B"), ("c", "C"),
    ("d", "D"), ("eeee", "E"), ("fm", "FM"), ("g", "G"), ("l", "L"), ("mi", "MI"), ("pl", "PL"),
    ("pr", "PR"), ("rn", "rn"), ("sg", "SG"), ("sp", "SP"), ("s", "S"), ("th", "th"), ("v", "V"),
)  # fmt: skip
_KEYWORDS_BY_FIRST: dict[str, list[tuple[str, str]]] = {}
for _spelling, _key in _NUM_KEYWORDS:
    _KEYWORDS_BY_FIRST.setdefault(_spelling[0], []).append((_spelling, _key))


@dataclass(frozen=True, slots=True)
class NumNode:
    """One template node: a keyword (`key`) or one literal character (`char`)."""

    key: str | None
    char: str = ""


@dataclass(slots=True)
class NumTemplate:
    """A parsed NUM template: its nodes and NUMDesc's summary of them."""

    nodes: list[NumNode]
    flag: NumFlag = NumFlag(0)
    pre: int = 0  # digit positions before the decimal point
    post: int = 0  # digit positions after it
    multi: int = 0  # digit positions after V
    lsign: LSign = LSign.NONE
    pre_lsign_num: int = 0
    zero_start: int = 0
    zero_end: int = 0


def _syntax(message: str, detail: str | None = None) -> SqlError:
    return SqlError("42601", message, detail=detail)


def _prepare(t: NumTemplate, key: str) -> None:
    """NUMDesc_prepare: fold one keyword into the summary, with PostgreSQL's
    checks on combinations that make no sense."""
    f = t.flag
    if f & NumFlag.EEEE and key != "E":
        raise _syntax('"EEEE" must be the last pattern used')
    if key == "9":
        if f & NumFlag.BRACKET:
            raise _syntax('"9" must be ahead of "PR"')
        if f & NumFlag.MULTI:
            t.multi += 1
        elif f & NumFlag.DECIMAL:
            t.post += 1
        else:
            t.pre += 1
    elif key == "0":
        if f & NumFlag.BRACKET:
            raise _syntax('"0" must be ahead of "PR"')
        if not f & (NumFlag.ZERO | NumFlag.DECIMAL):
            t.flag |= NumFlag.ZERO
            t.zero_start = t.pre + 1
        if f & NumFlag.DECIMAL:
            t.post += 1
        else:
            t.pre += 1
        t.zero_end = t.pre + t.post
    elif key == "B":
        if t.pre == 0 and t.post == 0 and not f & NumFlag.ZERO:
            t.flag |= NumFlag.BLANK
    elif key in ("D", "."):
        if key == "D":
            t.flag |= NumFlag.LDECIMAL
        if f & NumFlag.DECIMAL:
            raise _syntax("multiple decimal points")
        if f & NumFlag.MULTI:
            raise _syntax('cannot use "V" and decimal point together')
        t.flag |= NumFlag.DECIMAL
    elif key == "FM":
        t.flag |= NumFlag.FILLMODE
    elif key == "S":
        if f & NumFlag.LSIGN:
            raise _syntax('cannot use "S" twice')
        if f & (NumFlag.PLUS | NumFlag.MINUS | NumFlag.BRACKET):
            raise _syntax('cannot use "S" and "PL"/"MI"/"SG"/"PR" together')
        if not f & NumFlag.DECIMAL:
            t.lsign = LSign.PRE
            t.pre_lsign_num = t.pre
            t.flag |= NumFlag.LSIGN
        elif t.lsign == LSign.NONE:
            t.lsign = LSign.POST
            t.flag |= NumFlag.LSIGN
    elif key == "MI":
        if f & NumFlag.LSIGN:
            raise _syntax('cannot use "S" and "MI" together')
        t.flag |= NumFlag.MINUS | (NumFlag.MINUS_POST if f & NumFlag.DECIMAL else 0)
    elif key == "PL":
        if f & NumFlag.LSIGN:
            raise _syntax('cannot use "S" and "PL" together')
        t.flag |= NumFlag.PLUS | (NumFlag.PLUS_POST if f & NumFlag.DECIMAL else 0)
    elif key == "SG":
        if f & NumFlag.LSIGN:
            raise _syntax('cannot use "S" and "SG" together')
        t.flag |= NumFlag.MINUS | NumFlag.PLUS
    elif key == "PR":
        if f & (NumFlag.LSIGN | NumFlag.PLUS | NumFlag.MINUS):
            raise _syntax('cannot use "PR" and "S"/"PL"/"MI"/"SG" together')
        t.flag |= NumFlag.BRACKET
    elif key in ("RN", "rn"):
        t.flag |= NumFlag.ROMAN
    elif key == "V":
        if f & NumFlag.DECIMAL:
            raise _syntax('cannot use "V" and decimal point together')
        t.flag |= NumFlag.MULTI
    elif key == "E":
        if f & NumFlag.EEEE:
            raise _syntax('cannot use "EEEE" twice')
        if f & (NumFlag.BLANK | NumFlag.FILLMODE | NumFlag.LSIGN | NumFlag.BRACKET | NumFlag.MINUS
                | NumFlag.PLUS | NumFlag.ROMAN | NumFlag.MULTI):
            raise _syntax('"EEEE" is incompatible with other formats',
                          '"EEEE" may only be used together with digit and decimal point patterns.')
        t.flag |= NumFlag.EEEE


def parse_num_template(fmt: str) -> NumTemplate:
    """parse_format for NUM templates: keywords, double-quoted literals (a
    backslash takes the next character as is), a backslash before a double
    quote outside them, and every other character as a literal node."""
    t = NumTemplate(nodes=[])
    i, n = 0, len(fmt)
    while i < n:
        c = fmt[i]
        # KeyWord_INDEX_FILTER: only printable ASCII starts a keyword
        spellings = _KEYWORDS_BY_FIRST.get(c) if " " < c < "~" else None
        found = next((kw for kw in spellings if fmt.startswith(kw[0], i)), None) if spellings else None
        if found is not None:
            t.nodes.append(NumNode(found[1]))
            _prepare(t, found[1])
            i += len(found[0])
        elif c == '"':
            i += 1
            while i < n:
                if fmt[i] == '"':
                    i += 1
                    break
                if fmt[i] == "\\" and i + 1 < n:
                    i += 1
                t.nodes.append(NumNode(None, fmt[i]))
                i += 1
        else:
            if c == "\\" and i + 1 < n and fmt[i + 1] == '"':
                i += 1
            t.nodes.append(NumNode(None, fmt[i]))
            i += 1
    return t


# --- number-parsing mode ------------------------------------------------------------

_DIGITS = frozenset(b"0123456789")
_DATA_CHARS = frozenset(b"0123456789.,+-")  # NUM_eat_non_data_chars stops at these
_DECIMAL, _THOUSANDS, _NEGATIVE, _POSITIVE = ord("."), ord(","), ord("-"), ord("+")


class _Reader:
    """NUMProc for to_number: the input, where the scan is, and the number
    read so far (`number[0]` is its sign: ' ', '-' or '+')."""

    __slots__ = ("t", "inp", "end", "pos", "number", "read_pre", "read_post", "read_dec")

    def __init__(self, t: NumTemplate, inp: bytes) -> None:
        self.t = t
        self.inp = inp
        self.end = len(inp)
        self.pos = 0
        self.number = bytearray(b" ")
        self.read_pre = 0
        self.read_post = 0
        self.read_dec = False

    def at_end(self) -> bool:  # OVERLOAD_TEST
        return self.pos >= self.end

    def eat_non_data(self, count: int) -> None:
        """NUM_eat_non_data_chars: skip up to `count` characters that are not
        digits, '.', ',' or a sign."""
        for _ in range(count):
            if self.at_end() or self.inp[self.pos] in _DATA_CHARS:
                break
            self.pos += utf8_char_length(self.inp[self.pos])

    def numpart(self, key: str) -> None:
        """NUM_numpart_from_char: at a digit or decimal-point position, read a
        sign before the first digit, one digit or the point, and a sign
        right after the last digit."""
        t, inp = self.t, self.inp
        if self.at_end():
            return
        if inp[self.pos] == ord(" "):
            self.pos += 1
        if self.at_end():
            return
        if self.number[0] == ord(" ") and key in ("0", "9") and self.read_pre + self.read_post == 0:
            c = inp[self.pos]
            if t.flag & NumFlag.LSIGN and t.lsign == LSign.PRE:
                if c in (_NEGATIVE, _POSITIVE):
                    self.pos += 1
                    self.number[0] = c
            elif c == _NEGATIVE or (t.flag & NumFlag.BRACKET and c == ord("<")):
                self.number[0] = _NEGATIVE
                self.pos += 1
            elif c == _POSITIVE:
                self.number[0] = _POSITIVE
                self.pos += 1
        if self.at_end():
            return
        isread = False
        c = inp[self.pos]
        if c in _DIGITS:
            if self.read_dec and self.read_post == t.post:
                return
            self.number.append(c)
            if self.read_dec:
                self.read_post += 1
            else:
                self.read_pre += 1
            isread = True
        elif t.flag & NumFlag.DECIMAL and not self.read_dec and c == _DECIMAL:
            self.number.append(_DECIMAL)
            self.read_dec = True
            isread = True
        if self.at_end():
            return
        # a sign right behind the last digit read ("5.01-" with FM9.99S or MI)
        if self.number[0] == ord(" ") and self.read_pre + self.read_post > 0:
            if t.flag & NumFlag.LSIGN and isread and self.pos + 1 < self.end and inp[self.pos + 1] not in _DIGITS:
                # the S sign is anchored to the digits: look one past them
                nxt = inp[self.pos + 1]
                if nxt in (_NEGATIVE, _POSITIVE):
                    self.pos += 1  # the processor's step then moves past the sign
                    self.number[0] = nxt
            elif not isread and not t.flag & NumFlag.LSIGN and t.flag & (NumFlag.PLUS | NumFlag.MINUS):
                if c in (_NEGATIVE, _POSITIVE):
                    self.number[0] = c

    def run(self) -> None:
        """NUM_processor's loop in number-parsing mode. A keyword's action
        ends either by stepping one byte on (PostgreSQL's `break`) or not
        (`continue`)."""
        t, inp = self.t, self.inp
        fillmode = bool(t.flag & NumFlag.FILLMODE)
        for node in t.nodes:
            if self.at_end():
                break
            key = node.key
            if key is None:
                # a literal template character skips one input character, matching or not
                self.pos += utf8_char_length(inp[self.pos])
                continue
            if key in ("9", "0", ".", "D"):
                self.numpart(key)
            elif key in (",", "G"):
                # in to_number nothing ever marks the scan as inside the number,
                # so FM makes group separators consume nothing
                if fillmode or inp[self.pos] != _THOUSANDS:
                    continue
            elif key == "L":
                self.eat_non_data(1)  # the C locale's currency symbol is one character
                continue
            elif key in ("TH", "th"):
                if not t.flag & NumFlag.DECIMAL:
                    self.eat_non_data(2)
                continue
            elif key == "MI":
                if inp[self.pos] != _NEGATIVE:
                    self.eat_non_data(1)
                    continue
                self.number[0] = _NEGATIVE
            elif key == "PL":
                if inp[self.pos] != _POSITIVE:
                    self.eat_non_data(1)
                    continue
                self.number[0] = _POSITIVE
            elif key == "SG":
                if inp[self.pos] not in (_NEGATIVE, _POSITIVE):
                    self.eat_non_data(1)
                    continue
                self.number[0] = inp[self.pos]
            else:
                continue  # S, PR, FM, V, B, C, SP read nothing at their own place
            self.pos += 1


def to_number(value: str, fmt: str) -> Decimal | None:
    """numeric_to_number: read `value` through template `fmt`."""
    if not fmt:
        return None
    t = parse_num_template(fmt)
    if t.flag & NumFlag.EEEE:
        raise SqlError("0A000", '"EEEE" not supported for input')
    if t.flag & NumFlag.ROMAN:
        raise SqlError("0A000", '"RN" not supported for input')
    reader = _Reader(t, value.encode())
    reader.run()
    number = reader.number
    if number[-1] == _DECIMAL:
        number.pop()  # "12." reads as 12
    scale = reader.read_post
    precision = t.pre + t.multi + scale
    typmod = (((precision << 16) | scale) + 4) & 0xFFFFFFFF
    result = make_numeric_typmod_applier(typmod)(parse_numeric(number.decode("ascii")))
    if t.flag & NumFlag.MULTI:
        result = num_mul(result, num_power(Decimal(10), Decimal(-t.multi)))
    return result


register_function("to_number", [TEXT, TEXT], NUMERIC, to_number, volatility="s")
