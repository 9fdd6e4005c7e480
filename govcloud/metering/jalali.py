"""Solar Hijri (Jalali) <-> Gregorian dates, the calendar Iranian agencies budget in.

The arithmetic is the 33-year-cycle "breaks" algorithm of jalaali-js (Borkowski's
method, the one used by the Iranian calendar libraries): it reproduces the
official calendar (Nowruz on the day of the March equinox, Tehran time) for
Jalali years -61 .. 3177. Python's proleptic Gregorian `date` does the Julian
day arithmetic. Known dates are checked in tests/unit/test_metering_jalali.py
(e.g. 2026-03-21 = 1405-01-01).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# Jalali years that start a new 33-year leap pattern
_BREAKS = (-61, 9, 38, 199, 426, 686, 756, 818, 1111, 1181, 1210, 1635, 2060, 2097, 2192, 2262, 2324,
           2394, 2456, 3178)

MONTHS_FA = ("فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان", "آذر", "دی", "بهمن",
             "اسفند")
_FA_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def _div(a: int, b: int) -> int:  # integer division truncating toward zero (as in C / JS)
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _mod(a: int, b: int) -> int:
    return a - _div(a, b) * b


def _jal_cal(jy: int) -> tuple[int, int, int]:
    """(leap, gy, march): years since the last leap year (0 = jy is leap), the Gregorian year
    in which jy begins, and the March day of that year on which Farvardin 1 falls."""
    if not _BREAKS[0] <= jy < _BREAKS[-1]:
        raise ValueError(f"Jalali year {jy} is out of range {_BREAKS[0]}..{_BREAKS[-1] - 1}")
    gy = jy + 621
    leap_j = -14
    jp = _BREAKS[0]
    jump = 0
    for jm in _BREAKS[1:]:
        jump = jm - jp
        if jy < jm:
            break
        leap_j += _div(jump, 33) * 8 + _div(_mod(jump, 33), 4)
        jp = jm
    n = jy - jp
    leap_j += _div(n, 33) * 8 + _div(_mod(n, 33) + 3, 4)
    if _mod(jump, 33) == 4 and jump - n == 4:
        leap_j += 1
    leap_g = _div(gy, 4) - _div((_div(gy, 100) + 1) * 3, 4) - 150
    march = 20 + leap_j - leap_g
    if jump - n < 6:
        n = n - jump + _div(jump + 4, 33) * 33
    leap = _mod(_mod(n + 1, 33) - 1, 4)
    if leap == -1:
        leap = 4
    return leap, gy, march


def is_leap(jy: int) -> bool:
    return _jal_cal(jy)[0] == 0


def month_length(jy: int, jm: int) -> int:
    if not 1 <= jm <= 12:
        raise ValueError(f"Jalali month {jm} is out of range 1..12")
    if jm <= 6:
        return 31
    if jm <= 11:
        return 30
    return 30 if is_leap(jy) else 29


@dataclass(frozen=True, slots=True, order=True)
class JalaliDate:
    year: int
    month: int
    day: int

    def __post_init__(self) -> None:
        if not 1 <= self.day <= month_length(self.year, self.month):
            raise ValueError(f"{self.year}-{self.month:02d} has no day {self.day}")

    @classmethod
    def from_gregorian(cls, d: date) -> "JalaliDate":
        jy = d.year - 621
        leap, gy, march = _jal_cal(jy)
        k = d.toordinal() - date(gy, 3, march).toordinal()
        if k >= 0:
            if k <= 185:
                return cls(jy, 1 + k // 31, k % 31 + 1)
            k -= 186
        else:
            jy -= 1
            k += 179
            if leap == 1:
                k += 1
        return cls(jy, 7 + k // 30, k % 30 + 1)

    def to_gregorian(self) -> date:
        _, gy, march = _jal_cal(self.year)
        jm = self.month
        return date.fromordinal(date(gy, 3, march).toordinal() + (jm - 1) * 31 - (jm // 7) * (jm - 7)
                                + self.day - 1)

    def isoformat(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    __str__ = isoformat

    def long_fa(self) -> str:
        """'۱ فروردین ۱۴۰۵' (Persian digits and month name)."""
        return f"{self.day} {MONTHS_FA[self.month - 1]} {self.year}".translate(_FA_DIGITS)


def to_jalali(d: date) -> JalaliDate:
    return JalaliDate.from_gregorian(d)


def from_jalali(year: int, month: int, day: int) -> date:
    return JalaliDate(year, month, day).to_gregorian()


def persian_digits(text: str) -> str:
    return text.translate(_FA_DIGITS)
