"""Rating: usage quantities x the site's rate card = charges, in exact decimals.

Meters and how they are priced (`Site.rate_card`):

    meter               unit            priced per          price field
    vcpu_hours          vCPU-hour       vCPU-hour           vcpu_hour
    ram_mb_hours        MB-hour         GB-hour (/1024)     ram_gb_hour
    volume_gb_hours     GB-hour         GB-month (/730)     volume_gb_month
    bucket_gb_hours     GB-hour         GB-month (/730)     bucket_gb_month
    floating_ip_hours   IP-hour         IP-hour             floating_ip_hour
    server_hours, disk_gb_hours         (reported, not priced: the rate card has no price for them)

A GB-month is 730 GB-hours (govcloud.cost.HOURS_PER_MONTH: 8760 h / 12), so a
volume that exists for a whole 31-day month costs 744/730 of the monthly
price, exactly as the estimate of a service extrapolates to a 730-hour month.

Quantities are summed first, per charge line (agency, service, environment,
site, meter), then priced once and rounded to the currency's minor unit
(whole rials for IRR) with ROUND_HALF_UP. Every subtotal and total is the sum
of those rounded lines, so the figures in a report add up exactly. A second
currency, when configured, is converted line by line and rounded the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Iterable, Mapping

from govcloud.plan.cost import HOURS_PER_MONTH
from govcloud.metering.store import UsageRecord

MB_PER_GB = Decimal(1024)
_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Meter:
    name: str
    label: str  # for people
    unit: str  # what the stored quantity counts
    rate_field: str | None  # RateCard field, None: not priced
    divisor: Decimal = _ONE  # stored units per priced unit
    priced_unit: str = ""


METERS: dict[str, Meter] = {m.name: m for m in (
    Meter("vcpu_hours", "vCPU-hours", "vCPU-h", "vcpu_hour", _ONE, "vCPU-h"),
    Meter("ram_mb_hours", "RAM GB-hours", "MB-h", "ram_gb_hour", MB_PER_GB, "GB-h"),
    Meter("volume_gb_hours", "volume GB-months", "GB-h", "volume_gb_month", HOURS_PER_MONTH, "GB-month"),
    Meter("bucket_gb_hours", "bucket GB-months", "GB-h", "bucket_gb_month", HOURS_PER_MONTH, "GB-month"),
    Meter("floating_ip_hours", "floating-IP-hours", "IP-h", "floating_ip_hour", _ONE, "IP-h"),
    Meter("server_hours", "server-hours", "h", None),
    Meter("disk_gb_hours", "root disk GB-hours", "GB-h", None),
)}

# ISO 4217 minor units where they differ from 2 (the rial is used in whole units)
_MINOR_UNITS = {"IRR": 0, "IRT": 0, "JPY": 0, "KRW": 0, "ISK": 0, "KWD": 3, "BHD": 3, "OMR": 3, "IQD": 0}
_CTX = Context(prec=60, rounding=ROUND_HALF_UP)


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def round_money(value: Decimal, currency: str) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def format_amount(value: Decimal, currency: str | None = None) -> str:
    """Thousands separators, the currency's decimals: '1,234,567' or '1,234.50'."""
    places = minor_units(currency) if currency else 0
    return f"{value:,.{places}f}"


@dataclass(frozen=True, slots=True)
class Exchange:
    """A second currency: 1 unit of the rate-card currency = `rate` units of `currency`."""

    currency: str
    rate: Decimal

    @classmethod
    def parse(cls, text: str) -> "Exchange":
        code, sep, rate = text.partition("=")
        code = code.strip().upper()
        if not sep or len(code) != 3 or not code.isalpha():
            raise ValueError(f"'{text}' is not CODE=RATE (e.g. EUR=0.0000021)")
        try:
            value = Decimal(rate.strip())
        except Exception:  # noqa: BLE001
            raise ValueError(f"'{rate}' is not a number") from None
        if not value.is_finite() or value <= 0:
            raise ValueError(f"the exchange rate must be a positive number, got {rate}")
        return cls(code, value)

    def convert(self, amount: Decimal) -> Decimal:
        with localcontext(_CTX):
            return round_money(amount * self.rate, self.currency)


@dataclass(frozen=True, slots=True)
class ChargeLine:
    agency: str
    service: str
    environment: str
    site: str
    meter: str
    quantity: Decimal  # in the meter's stored unit
    priced_quantity: Decimal  # in the priced unit (quantity / divisor), exact to 6 places
    unit_price: Decimal
    amount: Decimal  # rounded to the currency's minor unit
    currency: str
    amount2: Decimal | None = None  # in the second currency

    def to_json(self) -> dict:
        m = METERS[self.meter]
        out = {"agency": self.agency, "service": self.service, "environment": self.environment, "site": self.site,
               "meter": self.meter, "quantity": str(self.quantity), "unit": m.unit,
               "pricedQuantity": str(self.priced_quantity), "pricedUnit": m.priced_unit,
               "unitPrice": str(self.unit_price), "amount": str(self.amount), "currency": self.currency}
        if self.amount2 is not None:
            out["amount2"] = str(self.amount2)
        return out


LineKey = tuple[str, str, str, str, str]  # agency, service, environment, site, meter


@dataclass
class Rated:
    """The result of rating: charge lines, unpriced quantities, and a daily trend per agency."""

    currency: str
    lines: list[ChargeLine]
    unpriced: dict[LineKey, Decimal]  # server_hours, disk_gb_hours
    daily: dict[date, dict[str, Decimal]]  # day -> agency -> amount (not rounded: for charts)
    records: int = 0
    exchange: Exchange | None = None

    @property
    def total(self) -> Decimal:
        return sum((l.amount for l in self.lines), Decimal(0))

    @property
    def total2(self) -> Decimal | None:
        if self.exchange is None:
            return None
        return sum((l.amount2 for l in self.lines if l.amount2 is not None), Decimal(0))


class RatingError(ValueError):
    pass


@dataclass
class Rater:
    """Accumulate usage records, then price them. `agency_of`: project name -> agency id."""

    rate_cards: Mapping[str, object]  # site -> inventory.RateCard
    agency_of: Mapping[str, str]
    exchange: Exchange | None = None
    _qty: dict[LineKey, Decimal] = field(default_factory=dict)
    _daily: dict[tuple[date, str, str, str], Decimal] = field(default_factory=dict)  # day, agency, site, meter
    _records: int = 0

    def agency_for(self, project: str) -> str:
        agency = self.agency_of.get(project)
        return agency if agency is not None else f"(project {project})"

    def add(self, records: Iterable[UsageRecord]) -> "Rater":
        qty, daily = self._qty, self._daily
        agency_of = self.agency_of
        n = 0
        for r in records:
            n += 1
            agency = agency_of.get(r.project)
            if agency is None:
                agency = f"(project {r.project})"
            key = (agency, r.service, r.environment, r.site, r.meter)
            qty[key] = qty.get(key, 0) + r.quantity
            dkey = (r.day, agency, r.site, r.meter)
            daily[dkey] = daily.get(dkey, 0) + r.quantity
        self._records += n
        return self

    def add_rows(self, rows: Iterable[tuple]) -> "Rater":
        """Rows of UsageStore.rating_rows: (project, service, environment, site, meter, day text, quantity text)."""
        qty, daily = self._qty, self._daily
        agency_of = self.agency_of
        n = 0
        for project, service, env, site, meter, day, quantity in rows:
            n += 1
            q = Decimal(quantity)
            agency = agency_of.get(project)
            if agency is None:
                agency = f"(project {project})"
            key = (agency, service, env, site, meter)
            qty[key] = qty.get(key, 0) + q
            dkey = (day, agency, site, meter)  # day as text until rate()
            daily[dkey] = daily.get(dkey, 0) + q
        self._records += n
        return self

    def rate(self) -> Rated:
        currencies = {card.currency for site, card in self.rate_cards.items()
                      if any(k[3] == site for k in self._qty)}
        if len(currencies) > 1:
            raise RatingError("the usage spans sites priced in different currencies ("
                              + ", ".join(sorted(currencies)) + "): report one site at a time")
        currency = currencies.pop() if currencies else next(
            (c.currency for c in self.rate_cards.values()), "IRR")
        lines: list[ChargeLine] = []
        unpriced: dict[LineKey, Decimal] = {}
        with localcontext(_CTX):
            for key in sorted(self._qty):
                q = Decimal(self._qty[key])
                meter = METERS.get(key[4])
                if meter is None or meter.rate_field is None:
                    unpriced[key] = q
                    continue
                price = self._price(key[3], meter)
                priced_q = q / meter.divisor
                amount = round_money(priced_q * price, currency)
                lines.append(ChargeLine(*key, quantity=q, priced_quantity=priced_q.quantize(Decimal("0.000001")),
                                        unit_price=price, amount=amount, currency=currency,
                                        amount2=self.exchange.convert(amount) if self.exchange else None))
            daily: dict[date, dict[str, Decimal]] = {}
            for (day, agency, site, meter_name), q in self._daily.items():
                meter = METERS.get(meter_name)
                if meter is None or meter.rate_field is None:
                    continue
                if isinstance(day, str):
                    day = date.fromisoformat(day)
                per = daily.setdefault(day, {})
                per[agency] = per.get(agency, Decimal(0)) + q / meter.divisor * self._price(site, meter)
        return Rated(currency, lines, unpriced, dict(sorted(daily.items())), self._records, self.exchange)

    def _price(self, site: str, meter: Meter) -> Decimal:
        card = self.rate_cards.get(site)
        if card is None:
            raise RatingError(f"usage recorded for site '{site}', which is not in the inventory: no rate card")
        return Decimal(getattr(card, meter.rate_field))
