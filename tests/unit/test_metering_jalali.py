"""Solar Hijri <-> Gregorian, against dates known from the official calendar."""
from datetime import date, timedelta

import pytest

from govcloud.metering.jalali import JalaliDate, from_jalali, is_leap, month_length, persian_digits, to_jalali
from govcloud.metering.periods import Period, format_day, month_shares, parse_day

KNOWN = [
    (date(2026, 3, 21), (1405, 1, 1)),   # Nowruz 1405 (equinox 2026-03-20 14:46 UTC = 18:16 Tehran, after noon)
    (date(2026, 3, 20), (1404, 12, 29)),  # 1404 is not leap: Esfand has 29 days
    (date(2025, 3, 21), (1404, 1, 1)),
    (date(2025, 3, 20), (1403, 12, 30)),  # 1403 is leap
    (date(2024, 3, 20), (1403, 1, 1)),
    (date(2023, 3, 21), (1402, 1, 1)),
    (date(2021, 3, 20), (1399, 12, 30)),  # 1399 leap
    (date(2021, 3, 21), (1400, 1, 1)),
    (date(1979, 2, 11), (1357, 11, 22)),  # 22 Bahman 1357
    (date(2000, 1, 1), (1378, 10, 11)),
    (date(1989, 6, 4), (1368, 3, 14)),
    (date(2026, 9, 22), (1405, 6, 31)),   # last day of the 31-day months
    (date(2026, 9, 23), (1405, 7, 1)),
    (date(2027, 3, 20), (1405, 12, 29)),
    (date(2027, 3, 21), (1406, 1, 1)),
]


@pytest.mark.parametrize("g, j", KNOWN)
def test_known_dates_both_ways(g, j):
    assert to_jalali(g) == JalaliDate(*j)
    assert from_jalali(*j) == g


def test_round_trip_and_continuity_over_three_centuries():
    d, prev = date(1850, 1, 1), None
    while d < date(2150, 1, 1):
        j = to_jalali(d)
        assert j.to_gregorian() == d
        if prev is not None:
            assert (j.year, j.month, j.day) == (prev.year, prev.month, prev.day + 1) or (
                j.day == 1 and prev.day == month_length(prev.year, prev.month))
        prev = j
        d += timedelta(days=1)


def test_leap_years_and_month_lengths():
    assert [y for y in range(1395, 1412) if is_leap(y)] == [1395, 1399, 1403, 1408]
    assert [month_length(1403, m) for m in range(1, 13)] == [31] * 6 + [30] * 6
    assert month_length(1404, 12) == 29
    with pytest.raises(ValueError):
        JalaliDate(1404, 12, 30)
    with pytest.raises(ValueError):
        JalaliDate(1404, 13, 1)


def test_formatting():
    assert to_jalali(date(2026, 3, 21)).isoformat() == "1405-01-01"
    assert to_jalali(date(2026, 3, 21)).long_fa() == "۱ فروردین ۱۴۰۵"
    assert persian_digits("2026") == "۲۰۲۶"
    assert format_day(date(2026, 3, 21), "jalali") == "1405-01-01"
    assert format_day(date(2026, 3, 21), "gregorian") == "2026-03-21"


def test_parse_day_reads_solar_hijri_years():
    assert parse_day("1405-01-01") == date(2026, 3, 21)
    assert parse_day("2026-03-21") == date(2026, 3, 21)
    assert parse_day("today", today=date(2026, 5, 1)) == date(2026, 5, 1)
    assert parse_day("yesterday", today=date(2026, 5, 1)) == date(2026, 4, 30)
    for bad in ("1404-12-30", "2026-02-30", "21/03/2026", "soon"):
        with pytest.raises(ValueError):
            parse_day(bad)


def test_jalali_budget_months():
    # Esfand 1404 (29 days) as a period is exactly one month
    p = Period(parse_day("1404-12-01"), parse_day("1404-12-29"))
    assert month_shares(p, "jalali") == [("1404-12", 29, 29)]
    # the same days in the Gregorian calendar straddle February and March
    assert month_shares(p, "gregorian") == [("2026-02", 9, 28), ("2026-03", 20, 31)]
