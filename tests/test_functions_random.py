"""Randomised differential tests: many generated expressions (numeric
arithmetic and its result scales, float output, integer division and
modulo, timestamp/interval arithmetic and output, to_char templates) are
evaluated by the library and by a live PostgreSQL in one SELECT per batch.
The generator is seeded, so a failure reproduces.
"""

from __future__ import annotations

import random
import struct

import pytest
from test_functions_harness import PG, evaluate, make_ctx, pg_fixture  # noqa: F401  (pg_fixture provides "pg")


def _compare(pg: PG, exprs: list[str], timezone: str = "UTC") -> list[str]:
    pg.query(f"SET TimeZone = '{timezone}'")
    ctx = make_ctx(timezone)
    bad = []
    for i in range(0, len(exprs), 100):
        batch = exprs[i:i + 100]
        rows = pg.query("SELECT " + ", ".join(batch))
        assert rows and rows[0][0] != "ERROR" or len(rows[0]) != 3, rows
        for e, want in zip(batch, rows[0], strict=True):
            got = evaluate(e, ctx)
            if got != want:
                bad.append(f"{e}: PG {want!r} != ours {got!r}")
    return bad


def _num(rng: random.Random) -> str:
    digits = rng.randint(1, 25)
    scale = rng.randint(0, min(digits, 12))
    n = rng.randint(1, 10**digits - 1)
    s = str(n).rjust(scale + 1, "0")
    text = s[:len(s) - scale] + ("." + s[len(s) - scale:] if scale else "")
    return ("-" if rng.random() < 0.3 else "") + text


@pytest.mark.parametrize("seed", range(4))
def test_numeric_arithmetic_scales(pg: PG, seed: int) -> None:
    rng = random.Random(seed)
    exprs = []
    for _ in range(150):
        a, b = _num(rng), _num(rng)
        op = rng.choice(["+", "-", "*", "/", "%"])
        exprs.append(f"({a}::numeric {op} {b}::numeric)")
    for _ in range(50):
        a = _num(rng).lstrip("-")
        f = rng.choice(["sqrt", "ln", "exp", "log10", "round", "trunc", "ceil", "floor", "abs", "sign"])
        if f == "exp":
            a = str(rng.randint(-200, 200)) + "." + str(rng.randint(0, 99))
        exprs.append(f"{f}({a}::numeric)")
        exprs.append(f"round({_num(rng)}::numeric, {rng.randint(-3, 8)})")
        exprs.append(f"log({rng.randint(2, 50)}::numeric, {_num(rng).lstrip('-')}::numeric)")
        exprs.append(f"({rng.randint(1, 30)}.{rng.randint(1, 9)}::numeric ^ {rng.randint(1, 40)}.5)")
    assert _compare(pg, exprs) == []


@pytest.mark.parametrize("seed", range(3))
def test_integer_arithmetic(pg: PG, seed: int) -> None:
    rng = random.Random(100 + seed)
    exprs = []
    for _ in range(300):
        a = rng.randint(-(2**40), 2**40)
        b = rng.choice([rng.randint(-(2**20), 2**20), rng.randint(-9, 9)]) or 7
        op = rng.choice(["+", "-", "*", "/", "%", "&", "|", "#"])
        exprs.append(f"({a}::int8 {op} {b}::int8)")
        exprs.append(f"mod({a % 100000}, {b % 1000 or 3})")
        exprs.append(f"({a}::float8 / {b}::float8)")
    assert _compare(pg, exprs) == []


@pytest.mark.parametrize("seed", range(6))
def test_float_output(pg: PG, seed: int) -> None:
    rng = random.Random(200 + seed)
    exprs = []
    for _ in range(300):
        bits = rng.getrandbits(64)
        x = struct.unpack("<d", struct.pack("<Q", bits))[0]
        if x != x or x in (float("inf"), float("-inf")):
            continue
        exprs.append(f"'{x!r}'::float8")
        exprs.append(f"'{x * 1e-300 if abs(x) > 1e-8 else x!r}'::float8")
        f = struct.unpack("<f", struct.pack("<I", rng.getrandbits(32)))[0]
        if f == f and f not in (float("inf"), float("-inf")):
            exprs.append(f"'{f!r}'::float4")
        exprs.append(f"{rng.uniform(-1e6, 1e6)!r}::float8 * {rng.uniform(-10, 10)!r}::float8")
        big = rng.randint(2**53, 2**80)
        exprs.append(f"'{big // 10**rng.randint(0, 8) * 10**rng.randint(0, 8)}'::float8")
        exprs.append(f"'{rng.randint(1, 2**26) * 10**rng.randint(0, 4)}'::float4")
    assert _compare(pg, exprs) == []


def _ts(rng: random.Random) -> str:
    return (f"'{rng.randint(1900, 2100):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
            f".{rng.randint(0, 999999):06d}'")


def _iv(rng: random.Random) -> str:
    parts = []
    if rng.random() < 0.5:
        parts.append(f"{rng.randint(-30, 30)} mons")
    if rng.random() < 0.5:
        parts.append(f"{rng.randint(-40, 40)} days")
    parts.append(f"{rng.randint(-100, 100)}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999)}")
    return "'" + " ".join(parts) + "'"


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York", "Europe/London", "Asia/Kathmandu"])
def test_datetime_arithmetic_and_output(pg: PG, timezone: str) -> None:
    rng = random.Random(hash(timezone) % 1000)
    exprs = []
    for _ in range(80):
        ts, iv = _ts(rng), _iv(rng)
        exprs.append(f"{ts}::timestamp + {iv}::interval")
        exprs.append(f"{ts}::timestamptz - {iv}::interval")
        exprs.append(f"{ts}::timestamptz - {_ts(rng)}::timestamptz")
        exprs.append(f"{iv}::interval * {rng.uniform(-5, 5):.3f}")
        exprs.append(f"{iv}::interval / {rng.uniform(0.5, 5):.3f}")
        exprs.append(f"age({ts}::timestamp, {_ts(rng)}::timestamp)")
        exprs.append(f"date_trunc('{rng.choice(['week', 'month', 'day', 'hour', 'quarter', 'year'])}', {ts}::timestamptz)")
        exprs.append(f"extract({rng.choice(['epoch', 'dow', 'doy', 'week', 'isoyear', 'julian', 'second'])} from {ts}::timestamptz)")
        exprs.append(f"to_char({ts}::timestamptz, 'YYYY-MM-DD HH24:MI:SS.US TZ IYYY-IW-ID DDD W Mon Dy')")
        exprs.append(f"justify_interval({iv}::interval)")
    assert _compare(pg, exprs, timezone) == []


@pytest.mark.parametrize("seed", range(2))
def test_to_char_numbers(pg: PG, seed: int) -> None:
    rng = random.Random(300 + seed)
    templates = ["9999", "FM9999", "0000", "9,999.99", "FM9,999.90", "S9999.9", "9999MI", "9999PR", "999.999",
                 "FM999.999", "99999999.99", "9.99EEEE", "L9999", "9999th", "FMRN", "SG9999", "0.00"]
    exprs = []
    for _ in range(200):
        v = _num(rng)
        if len(v.replace("-", "").split(".")[0]) > 8:
            v = v[:6]
        t = rng.choice(templates)
        exprs.append(f"to_char({v}::numeric, '{t}')")
        exprs.append(f"to_char({rng.randint(-99999, 99999)}, '{t}')")
    assert _compare(pg, exprs) == []
