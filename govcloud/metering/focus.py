"""The FOCUS 1.2 export: govcloud's usage as the FinOps Open Cost and Usage Specification's rows.

One row per (resource, meter, UTC day) of priced usage, ChargeCategory
"Usage", plus per invoice (agency x billing month) a "Credit" row per
subsidy of kind credit and an "Adjustment" row for the rounding of the
statement to the currency's minor unit, so that the BilledCost of an
InvoiceId adds up to the statement exactly. docs/metering.md ("FOCUS
export") is the column mapping; in short:

    ListUnitPrice     the rate card's price (the card in force that day, SkuPriceId names it)
    PricingQuantity   the stored quantity in the priced unit (GB-months = GB-hours / 730), 10 decimals
    ListCost          ListUnitPrice x PricingQuantity, exact (not rounded: FOCUS requires the product)
    ContractedCost    = ListCost (no negotiated unit prices)
    BilledCost        ListCost less a subsidy of kind discount on the same row; = EffectiveCost
    BillingAccount    the agency (its English name: focus-validator wants ASCII in FOCUS string columns;
                      the Persian name is x_BillingAccountNameFa); SubAccount its Keystone project; Region the site
    InvoiceIssuer, Provider, Publisher   the ministry (`metering.provider` in govcloud.yaml)

Rows are built by `build_focus` from the usage store only (offline); the
statement (metering.statement) is made from the same rows.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Iterable

from govcloud.errors import InputError, Problem, one_of, unknown_name
from govcloud.metering.jalali import JalaliDate, month_length, to_jalali
from govcloud.metering.periods import UTC, Period, day_end, day_start
from govcloud.metering.ratecards import DatedCard, changed_cards, schedules
from govcloud.metering.rating import METERS, MONEY_CONTEXT, discount_on, round_money

FOCUS_VERSION = "1.2"
DEFAULT_PROVIDER = "abar-dowlat government cloud (ministry)"
PRICING_QUANTUM = Decimal("1E-10")
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Offering:
    """What FOCUS calls the service and SKU behind one meter."""

    service_name: str
    service_category: str
    service_subcategory: str
    sku_meter: str
    pricing_unit: str
    consumed_unit: str
    resource_type: str
    price_field_yaml: str


OFFERINGS: dict[str, Offering] = {
    "vcpu_hours": Offering("Compute", "Compute", "Virtual Machines", "vCPU Usage", "vCPU-Hours", "vCPU-Hours",
                           "Virtual Machine", "vcpuHour"),
    "ram_mb_hours": Offering("Compute", "Compute", "Virtual Machines", "Memory Usage", "GiB-Hours", "MiB-Hours",
                             "Virtual Machine", "ramGbHour"),
    "volume_gb_hours": Offering("Block Storage", "Storage", "Block Storage", "Block Volume Usage", "GiB-Months",
                                "GiB-Hours", "Block Volume", "volumeGbMonth"),
    "bucket_gb_hours": Offering("Object Storage", "Storage", "Object Storage", "Object Storage Usage", "GiB-Months",
                                "GiB-Hours", "Object Storage Container", "bucketGbMonth"),
    "floating_ip_hours": Offering("Floating IPs", "Networking", "Network Connectivity", "Floating IP Usage",
                                  "IP-Hours", "IP-Hours", "Floating IP", "floatingIpHour"),
}

COLUMNS = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd",
    "ChargePeriodStart", "CommitmentDiscountStatus", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "EffectiveCost", "InvoiceId", "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit",
    "ProviderName", "PublisherName", "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType",
    "ServiceCategory", "ServiceName", "ServiceSubcategory", "SkuId", "SkuMeter", "SkuPriceDetails", "SkuPriceId",
    "SubAccountId", "SubAccountName", "Tags",
    # custom columns (FOCUS: prefixed x_, after the FOCUS columns)
    "x_Service", "x_Environment", "x_CostCenter", "x_ManifestSha256", "x_Meter", "x_RateCardVersion",
    "x_RateCardSha256", "x_DiscountId", "x_DiscountPercent", "x_UsageSource", "x_BillingAccountNameFa",
]
DECIMAL_COLUMNS = {"BilledCost", "ConsumedQuantity", "ContractedCost", "EffectiveCost", "ListCost", "ListUnitPrice",
                   "PricingQuantity", "x_DiscountPercent"}


def timestamp(dt: datetime) -> str:
    """FOCUS Date/Time: UTC, 'YYYY-MM-DDTHH:mm:ssZ'."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def number(d: Decimal) -> str:
    """FOCUS Numeric: plain decimal notation, no exponent, no '+', no trailing zeros (but one decimal place:
    a CSV reader infers a column of whole numbers as Integer, and these columns are Decimal)."""
    text = format(d.normalize(), "f")
    if text.startswith("-0") and set(text[1:]) <= {"0", "."}:
        text = text[1:]
    return text if "." in text else text + ".0"


def billing_month(d: date, calendar: str = "gregorian") -> tuple[str, date, date]:
    """(label, first day, last day) of the calendar month containing `d` (Jalali months with calendar=jalali)."""
    if calendar == "jalali":
        j = to_jalali(d)
        first = JalaliDate(j.year, j.month, 1).to_gregorian()
        return f"{j.year:04d}-{j.month:02d}", first, first + timedelta(days=month_length(j.year, j.month) - 1)
    first = d.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return f"{d.year:04d}-{d.month:02d}", first, nxt - timedelta(days=1)


@dataclass
class InvoiceLine:
    """A statement line: one (site, meter, service, environment, rate card, discount) of an invoice."""

    site: str
    meter: str
    service: str
    environment: str
    rate_version: str
    discount: str
    quantity: Decimal = Decimal(0)  # stored unit
    pricing_quantity: Decimal = Decimal(0)
    unit_price: Decimal = Decimal(0)
    list_cost: Decimal = Decimal(0)  # exact sums of the rows
    billed_cost: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)  # billed, rounded to the minor unit: what the statement charges


@dataclass
class Invoice:
    id: str
    agency: str
    month: str
    first: date
    last: date
    currency: str
    lines: dict[tuple, InvoiceLine] = field(default_factory=dict)
    credits: list[tuple[object, Decimal]] = field(default_factory=list)  # (subsidy, negative amount)
    rounding: Decimal = Decimal(0)

    @property
    def usage_total(self) -> Decimal:
        return sum((l.amount for l in self.lines.values()), Decimal(0))

    @property
    def list_total(self) -> Decimal:
        """At the rate card's prices, before discounts and credits (rounded line by line, like the charges)."""
        return sum((round_money(l.list_cost, self.currency) for l in self.lines.values()), Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.usage_total + sum((c for _, c in self.credits), Decimal(0))


@dataclass
class FocusExport:
    period: Period
    calendar: str
    currency: str
    rows: list[dict]
    invoices: dict[str, Invoice]
    cards: list[DatedCard]
    notes: list[str]
    provider: str

    def billed_total(self) -> Decimal:
        return sum((r["BilledCost"] for r in self.rows), Decimal(0))


def _agency_check(registry, agency: str | None) -> None:
    ids = [a.id for a in registry.agencies]
    if agency is not None and agency not in ids:
        raise InputError([unknown_name("agency", agency, ids)])


def provider_name(config) -> str:
    """`metering: {provider: ...}` of govcloud.yaml, else the default name."""
    return (config.settings.metering.provider if config is not None else None) or DEFAULT_PROVIDER


def build_focus(store, inventory, period: Period, *, agency: str | None = None, calendar: str = "gregorian",
                config=None) -> FocusExport:
    """The FOCUS rows of a period (all agencies, or one), with the invoices they add up to."""
    _agency_check(inventory.registry, agency)
    build = _FocusBuild(store, inventory, period, calendar, provider_name(config))
    projects = [build.agencies[agency].project] if agency is not None else None
    with localcontext(MONEY_CONTEXT):
        for r in sorted(store.usage(period, projects=projects), key=lambda r: (r.day, r.site, r.resource_id, r.meter)):
            build.usage_row(r)
        for inv in build.invoices.values():
            build.close(inv)
    notes = changed_cards(build.used.values(), store.rate_card_digests())
    return FocusExport(period, calendar, build.currency, build.rows, build.invoices,
                       sorted(build.used.values(), key=lambda c: (c.site, c.valid_from or date.min)), notes,
                       build.provider)


class _FocusBuild:
    """One run of build_focus: what the rows are priced and attributed with (rate cards, agencies, the resources
    and the ledger the store remembers), and the rows and invoices made so far."""

    def __init__(self, store, inventory, period: Period, calendar: str, provider: str):
        registry = inventory.registry
        self.calendar, self.provider, self.period = calendar, provider, period
        self.agencies = {a.id: a for a in registry.agencies}
        self.agency_of = {a.project: a.id for a in registry.agencies}
        site_names = inventory.site_names()
        self.cards = cards = schedules(inventory, site_names)
        self.sites = {n: inventory.site(n) for n in site_names}
        for a in registry.agencies:
            for sub in a.subsidies:
                bad = [m for m in sub.meters if m not in OFFERINGS]
                if bad:
                    raise InputError([Problem(f"subsidy '{sub.id}' of agency '{a.id}' names unknown meter(s) "
                                              f"{', '.join(bad)}", code="inventory", hint=one_of(list(OFFERINGS)))])
        currencies = {s.currency for s in cards.values()}
        if len(currencies) > 1:
            raise InputError([Problem("the sites are priced in different currencies (" + ", ".join(sorted(currencies))
                                      + "): FOCUS has one BillingCurrency per invoice; export one currency at a "
                                      "time", code="usage")])
        self.currency = currencies.pop() if currencies else "IRR"
        self.resources = {(s, k, rid): info for s in site_names for k in ("server", "volume", "floating-ip", "bucket")
                          for rid, info in store.resources(s, k).items()}
        self.ledger = {}
        for lt in store.lifetimes(start=period.start, end=period.end):
            self.ledger[(lt.site, lt.kind, lt.resource_id)] = lt
        self.rows: list[dict] = []
        self.invoices: dict[str, Invoice] = {}
        self.used: dict[tuple[str, str], DatedCard] = {}

    def usage_row(self, r) -> None:
        """The Usage row of one usage record, added to its invoice's line; none for usage that is not priced."""
        currency, provider = self.currency, self.provider
        meter = METERS.get(r.meter)
        offering = OFFERINGS.get(r.meter)
        if meter is None or offering is None or r.site not in self.cards:
            return  # reported, not priced (server_hours, disk_gb_hours), or a site no longer in the inventory
        aid = self.agency_of.get(r.project)
        a = self.agencies.get(aid) if aid else None
        card = self.cards[r.site].on(r.day)
        if card is None:
            raise InputError([Problem(f"usage of {r.day} at site {r.site} is before its first rate card",
                                      code="usage")])
        self.used[(r.site, card.version)] = card
        sub = discount_on(a.subsidies if a else (), r.meter, r.day)
        pct = Decimal(sub.percent) if sub else Decimal(0)
        price = card.price(meter.rate_field)
        pq = (r.quantity / meter.divisor).quantize(PRICING_QUANTUM)
        list_cost = price * pq
        billed = list_cost * (_HUNDRED - pct) / _HUNDRED
        month, first, last = billing_month(r.day, self.calendar)
        account = aid or f"project-{r.project}"
        inv = self.invoices.get(f"{account}-{month}")
        if inv is None:
            inv = self.invoices[f"{account}-{month}"] = Invoice(f"{account}-{month}", account, month, first, last,
                                                                currency)
        key = (r.site, r.meter, r.service, r.environment, card.version, sub.id if sub else "")
        line = inv.lines.get(key) or inv.lines.setdefault(key, InvoiceLine(*key, unit_price=price))
        line.quantity += r.quantity
        line.pricing_quantity += pq
        line.list_cost += list_cost
        line.billed_cost += billed
        info = self.resources.get((r.site, r.kind, r.resource_id))
        lt = self.ledger.get((r.site, r.kind, r.resource_id))
        tags = dict((info.attrs.get("tags") if info else None) or (lt.attrs.get("tags") if lt else None) or {})
        tags.update({"govcloud:agency": aid or "", "govcloud:service": r.service,
                     "govcloud:environment": r.environment})
        tags = {k: v for k, v in sorted(tags.items()) if v != ""}
        site = self.sites[r.site]
        self.rows.append({
            "BilledCost": billed, "BillingAccountId": account,
            "BillingAccountName": a.name.en if a else r.project, "BillingCurrency": currency,
            "BillingPeriodEnd": timestamp(day_end(last)), "BillingPeriodStart": timestamp(day_start(first)),
            "ChargeCategory": "Usage", "ChargeClass": None,
            "ChargeDescription": f"{meter.label} of {r.kind} {r.name or r.resource_id} ({r.service}) at "
                                 f"{r.site}, {number(price)} {currency} per {offering.pricing_unit[:-1]}"
                                 f" (rate card {card.version})"
                                 + (f", {number(pct)}% subsidy {sub.id}" if sub else ""),
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodEnd": timestamp(day_end(r.day)), "ChargePeriodStart": timestamp(day_start(r.day)),
            "ConsumedQuantity": r.quantity, "ConsumedUnit": offering.consumed_unit,
            "ContractedCost": list_cost, "EffectiveCost": billed, "InvoiceId": inv.id,
            "InvoiceIssuerName": provider, "ListCost": list_cost, "ListUnitPrice": price,
            "PricingCategory": "Standard", "PricingQuantity": pq, "PricingUnit": offering.pricing_unit,
            "ProviderName": provider, "PublisherName": provider,
            "RegionId": r.site, "RegionName": site.title.en if site else r.site,
            "ResourceId": r.resource_id, "ResourceName": r.name if r.name and r.name != r.resource_id else None,
            "ResourceType": offering.resource_type,
            "ServiceCategory": offering.service_category, "ServiceName": offering.service_name,
            "ServiceSubcategory": offering.service_subcategory,
            "SkuId": f"{r.site}/{r.meter}", "SkuMeter": offering.sku_meter,
            "SkuPriceDetails": json.dumps({"x_RateCardVersion": card.version,
                                           "x_RateCardField": offering.price_field_yaml}, sort_keys=True),
            "SkuPriceId": f"{r.site}/{r.meter}@{card.version}",
            "SubAccountId": r.project_id or r.project, "SubAccountName": r.project,
            "Tags": json.dumps(tags, sort_keys=True),
            "x_Service": r.service, "x_Environment": r.environment or None,
            "x_CostCenter": tags.get("govcloud:cost-center"),
            "x_ManifestSha256": (lt.manifest_sha256 or None) if lt else None, "x_Meter": r.meter,
            "x_RateCardVersion": card.version, "x_RateCardSha256": card.digest,
            "x_DiscountId": sub.id if sub else None, "x_DiscountPercent": pct if sub else None,
            "x_UsageSource": r.source, "x_BillingAccountNameFa": a.name.fa if a else None,
        })

    def close(self, inv: Invoice) -> None:
        """An invoice's lines rounded, its credits (subsidies of kind credit) and its rounding, as rows."""
        currency, provider, period = self.currency, self.provider, self.period
        for line in inv.lines.values():
            line.amount = round_money(line.billed_cost, currency)
        a = self.agencies.get(inv.agency)
        for sub in (a.subsidies if a else ()):
            if sub.kind != "credit":
                continue
            base = sum((l.amount for l in inv.lines.values() if not sub.meters or l.meter in sub.meters),
                       Decimal(0))
            if (sub.valid_from and sub.valid_from > inv.last) or (sub.valid_until and sub.valid_until < inv.first):
                continue
            credit = -round_money(base * Decimal(sub.percent) / _HUNDRED, currency)
            if credit:
                inv.credits.append((sub, credit))
                self.rows.append(_invoice_row(inv, a, provider, period, "Credit", credit,
                                              f"{sub.description} ({number(Decimal(sub.percent))}% of the month's "
                                              f"charges{' of ' + ', '.join(sub.meters) if sub.meters else ''}; "
                                              f"subsidy {sub.id})", "Subsidy Credits", discount=sub.id))
        exact = sum((l.billed_cost for l in inv.lines.values()), Decimal(0))
        inv.rounding = inv.usage_total - exact
        if inv.rounding:
            self.rows.append(_invoice_row(inv, a, provider, period, "Adjustment", inv.rounding,
                                          f"rounding of statement {inv.id} to whole {currency} minor units "
                                          f"(each line rounded half-up)", "Statement Rounding"))


def _invoice_row(inv: Invoice, agency, provider: str, period: Period, category: str, amount: Decimal,
                 description: str, service_name: str, discount: str | None = None) -> dict:
    """A Credit or Adjustment row of an invoice: no resource, no SKU, ListCost = BilledCost (FOCUS)."""
    lo, hi = max(inv.first, period.first), min(inv.last, period.last)
    row = dict.fromkeys(COLUMNS)
    row.update({
        "BilledCost": amount, "BillingAccountId": inv.agency,
        "BillingAccountName": agency.name.en if agency else inv.agency, "BillingCurrency": inv.currency,
        "BillingPeriodEnd": timestamp(day_end(inv.last)), "BillingPeriodStart": timestamp(day_start(inv.first)),
        "ChargeCategory": category, "ChargeDescription": description, "ChargeFrequency": "One-Time",
        "ChargePeriodEnd": timestamp(day_end(hi)), "ChargePeriodStart": timestamp(day_start(lo)),
        "ContractedCost": amount, "EffectiveCost": amount, "InvoiceId": inv.id, "InvoiceIssuerName": provider,
        "ListCost": amount, "ProviderName": provider, "PublisherName": provider, "ServiceCategory": "Other",
        "ServiceSubcategory": "Other (Other)", "ServiceName": service_name, "x_DiscountId": discount,
        "x_BillingAccountNameFa": agency.name.fa if agency else None,
    })
    return row


# -- writers -----------------------------------------------------------------

def _cell(column: str, value) -> str:
    if value is None:
        return ""  # CSV has no null: an empty field (FOCUS null handling; the validator reads it as null)
    if column in DECIMAL_COLUMNS:
        return number(Decimal(value))
    return str(value)


def render_csv(export: FocusExport) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for row in export.rows:
        w.writerow([_cell(c, row.get(c)) for c in COLUMNS])
    return buf.getvalue().encode("utf-8")


def render_parquet(export: FocusExport) -> bytes:
    """Parquet through pyarrow, when it is installed (an optional dependency: `pip install pyarrow`)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError([Problem("Parquet output needs pyarrow, which is not installed",
                                  hint="pip install pyarrow, or export CSV (--out FILE.csv)", code="usage")]) from None
    data = {}
    for c in COLUMNS:
        values = [row.get(c) for row in export.rows]
        if c in DECIMAL_COLUMNS:
            data[c] = pa.array([None if v is None else float(v) for v in values], pa.float64())
        else:
            data[c] = pa.array([None if v is None else str(v) for v in values], pa.string())
    buf = io.BytesIO()
    pq.write_table(pa.table(data), buf)
    return buf.getvalue()


def write_export(export: FocusExport, out: str | Path | None, fmt: str = "csv") -> tuple[bytes, str]:
    """The file's bytes and their sha256; written to `out` when given."""
    data = render_parquet(export) if fmt == "parquet" else render_csv(export)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_bytes(data)
    return data, hashlib.sha256(data).hexdigest()


def focus_format_of(out: str | None, fmt: str | None) -> str:
    if fmt in ("csv", "parquet"):
        return fmt
    return "parquet" if out and str(out).endswith(".parquet") else "csv"


def issued(store, export: FocusExport, when: datetime | None = None) -> None:
    """Remember the rate cards of an issued document, so a later edit of them is noticed (ratecards)."""
    store.remember_rate_cards(export.cards, when or datetime.now(UTC))


def summary(export: FocusExport) -> Iterable[str]:
    total = round_money(export.billed_total(), export.currency)
    yield (f"{len(export.rows)} FOCUS {FOCUS_VERSION} rows, {len(export.invoices)} invoice(s), "
           f"billed {total} {export.currency}")
