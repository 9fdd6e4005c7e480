"""The monthly statement of one agency: the bill finance sends, made from the FOCUS rows it matches.

`govcloud usage statement --agency A --month YYYY-MM` (a year below 1700 is a
Solar Hijri month) builds the month's FOCUS export for the agency
(metering.focus), writes it next to the statement, and renders
templates/reports/statement.html.j2: charges per service and meter (each line
rounded to the currency's minor unit, so the lines add up to the total),
credits, estimate vs actual per service (with --manifests), the budget status,
the rate-card versions that priced the month, the reconciliation of the cloud
with govcloud's own events, and the sha256 of the FOCUS file, so the statement
and the data behind it can be checked against each other.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from govcloud.metering.charts import PALETTE, Bar, hbar_chart
from govcloud.metering.focus import FocusExport, Invoice, billing_month, build_focus, render_csv
from govcloud.metering.html import has_persian
from govcloud.metering.jalali import persian_digits, to_jalali
from govcloud.metering.periods import UTC, Period
from govcloud.metering.rating import METERS, format_amount
from govcloud.metering.reconcile import reconcile
from govcloud.metering.report import OVER_AT, WARN_AT, build_report

TEMPLATE = "reports/statement.html.j2"
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


def parse_month(text: str) -> tuple[Period, str]:
    """'2026-03' -> March 2026 (gregorian); '1404-12' -> Esfand 1404 (jalali: a year below 1700)."""
    m = _MONTH.match(text.strip())
    if not m:
        raise ValueError(f"'{text}' is not a month (YYYY-MM; a year below 1700 is read as Solar Hijri)")
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        raise ValueError(f"'{text}': there is no month {month}")
    calendar = "jalali" if year < 1700 else "gregorian"
    first = Period.parse(f"{year:04d}-{month:02d}-01", f"{year:04d}-{month:02d}-01").first
    _, lo, hi = billing_month(first, calendar)
    return Period(lo, hi), calendar


@dataclass
class ServiceSummary:
    service: str
    environment: str
    site: str
    amount: Decimal = Decimal(0)
    list_amount: Decimal = Decimal(0)
    estimate: Decimal | None = None

    @property
    def delta_pct(self) -> Decimal | None:
        if not self.estimate:
            return None
        return ((self.amount - self.estimate) * 100 / self.estimate).quantize(Decimal("0.1"))


@dataclass
class Statement:
    agency: object  # inventory.Agency
    period: Period
    calendar: str
    month: str
    export: FocusExport
    invoice: Invoice | None
    focus_csv: bytes
    focus_sha256: str
    services: list[ServiceSummary]
    budget: Decimal | None
    used_pct: Decimal | None
    status: str
    discrepancies: list = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def currency(self) -> str:
        return self.export.currency

    @property
    def total(self) -> Decimal:
        return self.invoice.total if self.invoice else Decimal(0)

    @property
    def invoice_id(self) -> str:
        return self.invoice.id if self.invoice else f"{self.agency.id}-{self.month}"

    def lines(self):
        return sorted(self.invoice.lines.values(), key=lambda l: (l.service, l.environment, l.site, l.meter,
                                                                  l.rate_version)) if self.invoice else []

    def to_json(self) -> dict:
        return {"apiVersion": "govcloud/v1", "kind": "UsageStatement", "agency": self.agency.id,
                "invoiceId": self.invoice_id, "month": self.month, "calendar": self.calendar,
                "from": self.period.first.isoformat(), "to": self.period.last.isoformat(), "currency": self.currency,
                "total": str(self.total), "budget": None if self.budget is None else str(self.budget),
                "budgetUsedPercent": None if self.used_pct is None else str(self.used_pct),
                "budgetStatus": self.status or None, "focusSha256": self.focus_sha256,
                "rateCards": [c.to_json() for c in self.export.cards],
                "lines": [{"service": l.service, "environment": l.environment, "site": l.site, "meter": l.meter,
                           "rateCard": l.rate_version, "discount": l.discount or None, "quantity": str(l.quantity),
                           "pricingQuantity": str(l.pricing_quantity), "unitPrice": str(l.unit_price),
                           "amount": str(l.amount)} for l in self.lines()],
                "credits": [{"subsidy": s.id, "amount": str(a)} for s, a in (self.invoice.credits
                                                                             if self.invoice else [])],
                "discrepancies": [d.to_json() for d in self.discrepancies], "notes": self.export.notes}


def build_statement(store, inventory, agency_id: str, month: str, *, manifests=None, config=None,
                    now: datetime | None = None) -> Statement:
    period, calendar = parse_month(month)
    export = build_focus(store, inventory, period, agency=agency_id, calendar=calendar, config=config)
    agency = inventory.agency(agency_id)
    data = render_csv(export)
    import hashlib

    label = billing_month(period.first, calendar)[0]
    invoice = export.invoices.get(f"{agency_id}-{label}")
    services: dict[tuple[str, str, str], ServiceSummary] = {}
    for line in (invoice.lines.values() if invoice else ()):
        key = (line.service, line.environment, line.site)
        s = services.get(key) or services.setdefault(key, ServiceSummary(*key))
        s.amount += line.amount
        s.list_amount += line.list_cost
    if manifests is not None:  # the estimates, as `usage report --manifests` makes them
        rep = build_report(store, inventory, period, agency=agency_id, calendar=calendar, manifests=manifests,
                           config=config, now=now)
        for row in rep.services:
            if row.estimate is None:
                continue
            key = (row.service, row.environment, row.site)
            s = services.get(key) or services.setdefault(key, ServiceSummary(*key))
            s.estimate = row.estimate
    budget = agency.monthly_budget
    used = status = None
    total = invoice.total if invoice else Decimal(0)
    if budget:
        used = (total * 100 / budget).quantize(Decimal("0.1"))
        status = "over" if used >= OVER_AT else "warning" if used >= WARN_AT else "ok"
    sites = sorted({l.site for l in (invoice.lines.values() if invoice else ())})
    found = []
    for site in sites:
        found += [d for d in reconcile(store, site, period, now=now)
                  if d.resource_id in {r["ResourceId"] for r in export.rows if r.get("ResourceId")}]
    return Statement(agency, period, calendar, label, export, invoice, data, hashlib.sha256(data).hexdigest(),
                     sorted(services.values(), key=lambda s: (-s.amount, s.service)), budget, used, status or "",
                     found, now or datetime.now(UTC))


def _day(d: date, calendar: str) -> str:
    return to_jalali(d).isoformat() if calendar == "jalali" else d.isoformat()


def render_statement_html(st: Statement, config) -> str:
    cur = st.currency
    bars = [Bar(f"{s.service}" + (f" ({s.environment})" if s.environment else ""), s.site, s.amount,
                PALETTE[i % len(PALETTE)], marker=s.estimate,
                note=f"estimate {format_amount(s.estimate, cur)}" if s.estimate is not None else "",
                rtl=has_persian(s.service)) for i, s in enumerate(st.services)]
    chart = hbar_chart(f"Charges per service ({cur})" + (" — dashed line: estimate" if any(
        s.estimate for s in st.services) else ""), bars, unit=cur, label_width=300) if bars else ""
    jal = (to_jalali(st.period.first), to_jalali(st.period.last))
    return config.templates.get(TEMPLATE).render(
        st=st, meters=METERS, currency=cur, chart=chart, money=lambda v, c=None: format_amount(v, c or cur),
        fa=persian_digits, period_fa=f"{jal[0].long_fa()} تا {jal[1].long_fa()}",
        period_first=_day(st.period.first, st.calendar), period_last=_day(st.period.last, st.calendar),
        generated=st.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        generated_fa=to_jalali(st.generated_at.date()).long_fa(),
        has_estimates=any(s.estimate is not None for s in st.services))
