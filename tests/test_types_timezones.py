"""Time zones as PostgreSQL reads tzdata (qp/types/timezones.py): the reader on its
own, then expressions in several session zones compared with a live
PostgreSQL (the harness's `pg`).
"""

from __future__ import annotations

import pytest
from test_functions_harness import PG, assert_same, pg_fixture  # noqa: F401  (pg_fixture provides the "pg" fixture)

from qp.frontend.settings import normalize
from qp.types.timezones import _days_from_civil, pg_tzset, pg_tzset_offset


def _utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    return _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60


def test_names_are_found_in_any_case_and_shown_canonically() -> None:
    ny = pg_tzset("america/NEW_york")
    assert ny is not None and ny.name == "America/New_York"
    assert pg_tzset("foo8bar").name == "FOO8BAR"  # a POSIX spec, upper-cased as PostgreSQL shows it
    assert pg_tzset("gmt").name == "GMT"
    assert pg_tzset_offset(-5 * 3600).name == "<+05>-05"
    assert pg_tzset_offset(int(3.5 * 3600)).name == "<-03:30>+03:30"


def test_posix_offsets_count_west_and_may_have_no_abbreviation() -> None:
    plus_two = pg_tzset("+02:00")
    assert plus_two.fixed is not None and plus_two.fixed.utoff == -7200 and plus_two.fixed.abbr == ""
    assert pg_tzset("UTC+3").utc_offset(0) == -3 * 3600
    # a daylight-saving zone without rules takes M3.2.0,M11.1.0 in every year
    foo = pg_tzset("FOO8BAR")
    assert foo.type_at(_utc(1800, 7, 1)).abbr == "BAR"
    assert foo.type_at(_utc(1990, 3, 20, 12)).utoff == -7 * 3600
    assert foo.type_at(_utc(2014, 12, 10)).utoff == -8 * 3600


def test_invalid_names_and_paths_are_not_zones() -> None:
    for name in ("PST", "Z", "<+0530>-0530", "nonsense/zone", "../etc/passwd", "/etc/passwd", "America", "zone.tab",
                 "x" * 300):
        assert pg_tzset(name) is None, name


def test_local_mean_time_before_the_first_transition_and_rules_after_the_last() -> None:
    ny = pg_tzset("America/New_York")
    assert ny.type_at(_utc(1800, 7, 1, 12)).utoff == -(4 * 3600 + 56 * 60 + 2)
    assert ny.type_at(_utc(1800, 7, 1, 12)).abbr == "LMT"
    assert ny.type_at(_utc(200000, 7, 1, 12)).abbr == "EDT"  # Python's zoneinfo stops at 9999
    assert ny.type_at(_utc(200000, 1, 1, 12)).abbr == "EST"
    assert pg_tzset("Europe/Helsinki").type_at(_utc(205000, 7, 10, 14)).utoff == 3 * 3600


def test_a_gap_takes_the_offset_before_and_an_overlap_the_one_after() -> None:
    ny = pg_tzset("America/New_York")
    assert ny.local_offset(_utc(2020, 3, 8, 2, 30)) == -5 * 3600
    assert ny.local_offset(_utc(2020, 11, 1, 1, 30)) == -5 * 3600
    assert ny.local_offset(_utc(2020, 7, 1)) == -4 * 3600


def test_a_dynamic_abbreviation_means_what_it_meant_then() -> None:
    moscow = pg_tzset("Europe/Moscow")
    assert moscow.abbrev_type("MSK", _utc(2010, 7, 1)).utoff == 4 * 3600 - 3600  # +03 (MSD was summer)
    assert moscow.abbrev_type("MSK", _utc(2012, 7, 1)).utoff == 4 * 3600
    assert moscow.abbrev_type("MSK", _utc(2020, 7, 1)).utoff == 3 * 3600
    assert moscow.abbrev_type("XYZ", _utc(2020, 7, 1)) is None


def test_set_timezone_values() -> None:
    assert normalize("TimeZone", "5") == "<+05>-05"
    assert normalize("TimeZone", "-3.5") == "<-03:30>+03:30"
    assert normalize("TimeZone", "interval '+02:00'") == "<+02>-02"
    assert normalize("TimeZone", "+02:00") == "+02:00"
    assert normalize("TimeZone", "zulu") == "Zulu"
    for bad in ("Z", "PST", "nonsense/zone", "interval '1 day'"):
        with pytest.raises(Exception) as info:
            normalize("TimeZone", bad)
        assert getattr(info.value, "sqlstate", "") == "22023", bad


ANYWHERE = [
    "make_timestamptz(2020, 1, 1, 0, 0, 0, '+2')",
    "make_timestamptz(2020, 1, 1, 0, 0, 0, '-2:30')",
    "make_timestamptz(2020, 1, 1, 0, 0, 0, 'UTC+2')",
    "make_timestamptz(2010, 7, 1, 0, 0, 0, 'MSK')",
    "make_timestamptz(2020, 7, 1, 0, 0, 0, '2')",
    "make_timestamptz(2020, 7, 1, 0, 0, 0, '+16')",
    "make_timestamptz(2020, 7, 1, 0, 0, 0, '+2x')",
    "make_timestamptz(2014, 12, 10, 10, 10, 10, 'PST8PDT,M3.2.0,M11.1.0')",
    "'2011-03-27 02:00:00 MSK'::timestamptz",
    "'2014-10-26 01:00:00 MSK'::timestamptz",
    "'2001-12-27 04:05:06.789 MET DST'::timestamptz",
    "'2020-01-01 12:00 EDT DST'::timestamptz",
    "'2000-03-15 02:14:05 MST+7:00'::timestamptz",
    "'Wed Jul 11 10:51:14 GMT+4 2001'::timestamptz",
    "'205000-07-10 17:32:01 Europe/Helsinki'::timestamptz",
    "'1800-07-10 17:32:01 America/New_York'::timestamptz",
    "'1995-08-06 12:00 epoch'::timestamptz",
    "'epoch 1995-08-06'::timestamptz",
    "timezone('+05', '2020-07-01 00:00+00'::timestamptz)",
    "timezone('MSK', '2010-07-01 00:00+00'::timestamptz)",
    "timezone('FOO8BAR', '2020-07-01 00:00+00'::timestamptz)",
    "timezone('foo', '2020-07-01 00:00'::timestamp)",
    "to_char('1800-07-01 12:00+00'::timestamptz, 'TZ OF')",
    "to_char('2040-07-01 12:00+00'::timestamptz, 'TZ OF TZH:TZM')",
    "'2020-03-08 02:30'::timestamptz",
    "'2020-11-01 01:30'::timestamptz",
]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "FOO8BAR", "+02:00", "Europe/Moscow"])
@pytest.mark.parametrize("expr", ANYWHERE)
def test_zone_expressions_match_postgres(pg: PG, zone: str, expr: str) -> None:
    assert_same(pg, expr, timezone=zone)
