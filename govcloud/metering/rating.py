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

Each day is priced with the rate card in force that day (ratecards.RateSchedule),
and a subsidy of kind `discount` (inventory `Agency.subsidies`) takes its
percentage off the days and meters it covers, so a charge line is (agency,
service, environment, site, meter, rate-card version, discount).

Quantities are summed first, per charge line, then priced once and rounded to the currency's minor unit
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
from govcloud.metering.ratecards import RateSchedule
from govcloud.settings import parse_exchange
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
_UNPRICED = Meter("", "", "", None)

# ISO 4217 minor units where they differ from 2 (the rial is used in whole units)
_MINOR_UNITS = {"IRR": 0, "IRT": 0, "JPY": 0, "KRW": 0, "ISK": 0, "KWD": 3, "BHD": 3, "OMR": 3, "IQD": 0}
MONEY_CONTEXT = Context(prec=60, rounding=ROUND_HALF_UP)  # exact enough for any sum of prices


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
        """CODE=RATE, as `--exchange` and govcloud.yaml's metering.exchange give it; ValueError if not."""
        return cls(*parse_exchange(text))

    def convert(self, amount: Decimal) -> Decimal:
        with localcontext(MONEY_CONTEXT):
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
    unit_price: Decimal  # the rate card's (list) price
    amount: Decimal  # what is charged, after a discount; rounded to the currency's minor unit
    currency: str
    amount2: Decimal | None = None  # in the second currency
    rate_version: str = ""  # the rate card that priced it
    discount: str = ""  # the subsidy (kind discount) applied, if any
    discount_percent: Decimal = Decimal(0)
    list_amount: Decimal | None = None  # before the discount (None: same as amount)

    def to_json(self) -> dict:
        m = METERS[self.meter]
        out = {"agency": self.agency, "service": self.service, "environment": self.environment, "site": self.site,
               "meter": self.meter, "quantity": str(self.quantity), "unit": m.unit,
               "pricedQuantity": str(self.priced_quantity), "pricedUnit": m.priced_unit,
               "unitPrice": str(self.unit_price), "amount": str(self.amount), "currency": self.currency,
               "rateCard": self.rate_version}
        if self.discount:
            out.update(discount=self.discount, discountPercent=str(self.discount_percent),
                       listAmount=str(self.list_amount))
        if self.amount2 is not None:
            out["amount2"] = str(self.amount2)
        return out


LineKey = tuple[str, str, str, str, str]  # agency, service, environment, site, meter
# a charge line: LineKey + rate-card version + discount id
_PricedKey = tuple[str, str, str, str, str, str, str]


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


def discount_on(subsidies, meter: str, day: date):
    """The subsidy of kind `discount` covering `meter` on `day` (the first listed wins), or None."""
    for sub in subsidies or ():
        if sub.kind != "discount" or (sub.meters and meter not in sub.meters):
            continue
        if (sub.valid_from is None or sub.valid_from <= day) and (sub.valid_until is None or day <= sub.valid_until):
            return sub
    return None


@dataclass
class Rater:
    """Accumulate usage records, then price them. `agency_of`: project name -> agency id.

    `rate_cards`: site -> ratecards.RateSchedule (or a single inventory.RateCard, priced every day);
    `discounts`: agency id -> its subsidies (only those of kind `discount` are applied here).
    """

    rate_cards: Mapping[str, object]
    agency_of: Mapping[str, str]
    exchange: Exchange | None = None
    discounts: Mapping[str, list] = field(default_factory=dict)
    _qty: dict[_PricedKey, Decimal] = field(default_factory=dict)
    # day, agency, site, meter, 'version\0discount'
    _daily: dict[tuple[date, str, str, str, str], Decimal] = field(default_factory=dict)
    _records: int = 0
    _terms: dict[tuple[str, str, str, object], tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rate_cards = {site: RateSchedule.coerce(site, c) for site, c in self.rate_cards.items()}

    def agency_for(self, project: str) -> str:
        agency = self.agency_of.get(project)
        return agency if agency is not None else f"(project {project})"

    def _terms_of(self, agency: str, site: str, meter: str, day) -> tuple[str, str]:
        """(rate-card version, discount id) for a record; cached, this is the hot path."""
        key = (agency, site, meter, day)
        got = self._terms.get(key)
        if got is None:
            d = date.fromisoformat(day) if isinstance(day, str) else day
            schedule = self.rate_cards.get(site)
            card = schedule.on(d) if schedule is not None else None
            if schedule is not None and card is None:
                raise RatingError(f"usage of {d} at site '{site}' is before its first rate card "
                                  f"(validFrom {schedule.cards[0].valid_from})")
            sub = discount_on(self.discounts.get(agency), meter, d) if METERS.get(meter, _UNPRICED).rate_field \
                else None
            got = self._terms[key] = (card.version if card else "", sub.id if sub else "")
        return got

    def _add(self, agency: str, service: str, env: str, site: str, meter: str, day, q: Decimal) -> None:
        version, disc = self._terms_of(agency, site, meter, day)
        key = (agency, service, env, site, meter, version, disc)
        self._qty[key] = self._qty.get(key, 0) + q
        dkey = (day, agency, site, meter, version + "\0" + disc)
        self._daily[dkey] = self._daily.get(dkey, 0) + q

    def add(self, records: Iterable[UsageRecord]) -> "Rater":
        agency_of = self.agency_of
        n = 0
        for r in records:
            n += 1
            agency = agency_of.get(r.project)
            if agency is None:
                agency = f"(project {r.project})"
            self._add(agency, r.service, r.environment, r.site, r.meter, r.day, r.quantity)
        self._records += n
        return self

    def add_rows(self, rows: Iterable[tuple]) -> "Rater":
        """Rows of UsageStore.rating_rows: (project, service, environment, site, meter, day text, quantity text)."""
        agency_of = self.agency_of
        n = 0
        for project, service, env, site, meter, day, quantity in rows:
            n += 1
            agency = agency_of.get(project)
            if agency is None:
                agency = f"(project {project})"
            self._add(agency, service, env, site, meter, day, Decimal(quantity))  # day as text until rate()
        self._records += n
        return self

    def rate(self) -> Rated:
        currencies = {sched.currency for site, sched in self.rate_cards.items()
                      if any(k[3] == site for k in self._qty)}
        if len(currencies) > 1:
            raise RatingError("the usage spans sites priced in different currencies ("
                              + ", ".join(sorted(currencies)) + "): report one site at a time")
        currency = currencies.pop() if currencies else next(
            (c.currency for c in self.rate_cards.values()), "IRR")
        lines: list[ChargeLine] = []
        unpriced: dict[LineKey, Decimal] = {}
        with localcontext(MONEY_CONTEXT):
            for key in sorted(self._qty):
                q = Decimal(self._qty[key])
                meter = METERS.get(key[4])
                if meter is None or meter.rate_field is None:
                    unpriced[key[:5]] = unpriced.get(key[:5], Decimal(0)) + q
                    continue
                price = self._price(key[3], meter, key[5])
                pct = self._discount_percent(key[0], key[6])
                priced_q = q / meter.divisor
                list_amount = round_money(priced_q * price, currency)
                amount = round_money(priced_q * price * (100 - pct) / 100, currency) if pct else list_amount
                lines.append(ChargeLine(*key[:5], quantity=q, priced_quantity=priced_q.quantize(Decimal("0.000001")),
                                        unit_price=price, amount=amount, currency=currency,
                                        amount2=self.exchange.convert(amount) if self.exchange else None,
                                        rate_version=key[5], discount=key[6], discount_percent=pct,
                                        list_amount=list_amount if pct else None))
            daily: dict[date, dict[str, Decimal]] = {}
            for (day, agency, site, meter_name, terms), q in self._daily.items():
                meter = METERS.get(meter_name)
                if meter is None or meter.rate_field is None:
                    continue
                if isinstance(day, str):
                    day = date.fromisoformat(day)
                version, disc = terms.split("\0")
                pct = self._discount_percent(agency, disc)
                per = daily.setdefault(day, {})
                per[agency] = per.get(agency, Decimal(0)) + (
                    q / meter.divisor * self._price(site, meter, version) * (100 - pct) / 100)
        return Rated(currency, lines, unpriced, dict(sorted(daily.items())), self._records, self.exchange)

    def _discount_percent(self, agency: str, discount_id: str) -> Decimal:
        if not discount_id:
            return Decimal(0)
        return next(Decimal(s.percent) for s in self.discounts.get(agency, ()) if s.id == discount_id)

    def _price(self, site: str, meter: Meter, version: str = "") -> Decimal:
        schedule = self.rate_cards.get(site)
        if schedule is None:
            raise RatingError(f"usage recorded for site '{site}', which is not in the inventory: no rate card")
        card = next((c for c in schedule.cards if c.version == version), schedule.cards[-1])
        return card.price(meter.rate_field)
