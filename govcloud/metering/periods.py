"""Days, periods and instants for metering. Everything is UTC.

A usage record belongs to one UTC day. A report period is a range of whole
days, both ends included (`--from 2026-03-01 --to 2026-03-31` is March).
Dates whose year is below 1700 are read as Solar Hijri (`1405-01-01`), so
people can ask for Jalali months directly. Hour quantities are Decimal,
quantized to a micro-hour (3.6 ms) so that sums are exact and independent of
the order in which records are added.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterator

from govcloud.metering.jalali import JalaliDate, month_length, to_jalali

UTC = timezone.utc
QUANTUM = Decimal("0.000001")  # every stored quantity is a multiple of this
_DAY = timedelta(days=1)
_DATE_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def parse_day(text: str, today: date | None = None) -> date:
    """'2026-03-21' (Gregorian), '1405-01-01' (Solar Hijri: year < 1700), 'today', 'yesterday'."""
    text = text.strip()
    today = today or datetime.now(UTC).date()
    if text == "today":
        return today
    if text == "yesterday":
        return today - _DAY
    m = _DATE_RE.match(text)
    if not m:
        raise ValueError(f"'{text}' is not a date (YYYY-MM-DD; a year below 1700 is read as Solar Hijri)")
    y, mo, d = (int(g) for g in m.groups())
    try:
        return JalaliDate(y, mo, d).to_gregorian() if y < 1700 else date(y, mo, d)
    except ValueError as exc:
        raise ValueError(f"'{text}' is not a valid date: {exc}") from None


def parse_instant(value) -> datetime | None:
    """An OpenStack timestamp ('2026-11-28T12:33:30Z', '...30.000000', '+00:00', epoch float) as aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value).strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except ValueError:
            return None
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def day_end(d: date) -> datetime:
    return day_start(d) + _DAY


def hours(td: timedelta) -> Decimal:
    """A duration in hours, quantized (exact for whole microseconds)."""
    micro = (td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds
    return (Decimal(micro) / Decimal(3_600_000_000)).quantize(QUANTUM)


def overlap_hours(start: datetime | None, end: datetime | None, d: date) -> Decimal:
    """Hours of day `d` within [start, end) (None: open on that side)."""
    lo, hi = day_start(d), day_end(d)
    if start is not None and start > lo:
        lo = start
    if end is not None and end < hi:
        hi = end
    return hours(hi - lo) if hi > lo else Decimal(0)


def quantize(value) -> Decimal:
    """A float or str quantity from an API as an exact, quantized Decimal."""
    return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(QUANTUM)


@dataclass(frozen=True, slots=True)
class Period:
    """Whole UTC days from `first` to `last`, both included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"the period ends ({self.last}) before it starts ({self.first})")

    @classmethod
    def parse(cls, start: str, end: str, today: date | None = None) -> "Period":
        return cls(parse_day(start, today), parse_day(end, today))

    @property
    def start(self) -> datetime:
        return day_start(self.first)

    @property
    def end(self) -> datetime:  # exclusive
        return day_end(self.last)

    @property
    def ndays(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def hours(self) -> Decimal:
        return Decimal(24 * self.ndays)

    def days(self) -> Iterator[date]:
        d = self.first
        while d <= self.last:
            yield d
            d += _DAY

    def __contains__(self, d: date) -> bool:
        return self.first <= d <= self.last


def month_shares(period: Period, calendar: str = "gregorian") -> list[tuple[str, int, int]]:
    """The calendar months the period touches: (label, days of the period in it, days in the month).

    Budgets are monthly; a period gets sum(days_in / month_days) monthly budgets, so a whole
    calendar month gets exactly one budget and part of a month its share.
    """
    out: dict[str, list[int]] = {}
    for d in period.days():
        if calendar == "jalali":
            j = to_jalali(d)
            label, size = f"{j.year:04d}-{j.month:02d}", month_length(j.year, j.month)
        else:
            nxt = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
            label, size = f"{d.year:04d}-{d.month:02d}", (nxt - timedelta(days=1)).day
        out.setdefault(label, [0, size])[0] += 1
    return [(label, n, size) for label, (n, size) in out.items()]


def format_day(d: date, calendar: str = "gregorian") -> str:
    return to_jalali(d).isoformat() if calendar == "jalali" else d.isoformat()
