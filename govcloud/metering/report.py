"""Chargeback reports from the usage store (offline): charges per agency, service,
environment and site for a period, budgets, estimate vs actual, daily trend.

Budgets: an agency's `monthlyBudget` (registry) applies per calendar month
(Gregorian, or Solar Hijri with `--calendar jalali`); a period gets the sum
over the months it touches of (days of the period in the month / days in the
month) budgets: one whole month is exactly one budget. Agencies at 80 % or
more of that are flagged "warning", at 100 % or more "over".

Estimate vs actual: with manifests, each service's monthly estimate
(govcloud.cost, 730 h/month, buckets on their quota) is scaled to the period
(period hours / 730) and set next to what was metered.
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Iterable

from govcloud.plan.cost import HOURS_PER_MONTH
from govcloud.errors import InputError, Problem, unknown_name
from govcloud.metering.periods import UTC, Period, format_day, month_shares
from govcloud.metering.ratecards import changed_cards, schedules
from govcloud.metering.rating import METERS, Exchange, Rated, Rater, RatingError, format_amount, round_money
from govcloud.metering.store import UsageStore

WARN_AT = Decimal(80)
OVER_AT = Decimal(100)


@dataclass
class AgencyRow:
    id: str
    name_fa: str
    name_en: str
    amount: Decimal
    amount2: Decimal | None = None
    budget: Decimal | None = None  # for the period
    used_pct: Decimal | None = None
    status: str = ""  # "" (no budget) | ok | warning | over

    def to_json(self) -> dict:
        return {"agency": self.id, "name": {"fa": self.name_fa, "en": self.name_en}, "amount": str(self.amount),
                **({"amount2": str(self.amount2)} if self.amount2 is not None else {}),
                "budget": None if self.budget is None else str(self.budget),
                "budgetUsedPercent": None if self.used_pct is None else str(self.used_pct),
                "budgetStatus": self.status or None}


@dataclass
class ServiceRow:
    agency: str
    service: str
    environment: str
    site: str
    amount: Decimal
    amount2: Decimal | None = None
    estimate: Decimal | None = None  # the manifest's estimate for the period
    manifest: str | None = None

    @property
    def delta_pct(self) -> Decimal | None:
        if self.estimate is None or self.estimate == 0:
            return None
        return ((self.amount - self.estimate) * 100 / self.estimate).quantize(Decimal("0.1"))

    def to_json(self) -> dict:
        return {"agency": self.agency, "service": self.service, "environment": self.environment, "site": self.site,
                "amount": str(self.amount), **({"amount2": str(self.amount2)} if self.amount2 is not None else {}),
                "estimate": None if self.estimate is None else str(self.estimate),
                "deltaPercent": None if self.delta_pct is None else str(self.delta_pct),
                "manifest": self.manifest}


@dataclass
class UsageReport:
    period: Period
    calendar: str
    currency: str
    rated: Rated
    agencies: list[AgencyRow]
    services: list[ServiceRow]
    generated_at: datetime
    sites: list[str]
    agency_filter: str | None = None
    collections: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def lines(self):
        return self.rated.lines

    @property
    def exchange(self) -> Exchange | None:
        return self.rated.exchange

    @property
    def total(self) -> Decimal:
        return self.rated.total

    def day(self, d: date) -> str:
        return format_day(d, self.calendar)

    def daily_totals(self) -> list[tuple[date, Decimal]]:
        return [(d, sum(per.values(), Decimal(0))) for d, per in self.rated.daily.items()]

    def by_meter(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for l in self.lines:
            out[l.meter] = out.get(l.meter, Decimal(0)) + l.amount
        return out

    def to_json(self) -> dict:
        ex = self.exchange
        return {
            "apiVersion": "govcloud/v1", "kind": "UsageReport",
            "period": {"from": self.period.first.isoformat(), "to": self.period.last.isoformat(),
                       "days": self.period.ndays, "calendar": self.calendar,
                       "fromLocal": self.day(self.period.first), "toLocal": self.day(self.period.last)},
            "generatedAt": self.generated_at.isoformat(timespec="seconds"),
            "sites": self.sites, "agency": self.agency_filter,
            "currency": self.currency, "hoursPerMonth": int(HOURS_PER_MONTH),
            "exchange": None if ex is None else {"currency": ex.currency, "rate": str(ex.rate)},
            "total": str(self.total), **({"total2": str(self.rated.total2)} if ex else {}),
            "agencies": [a.to_json() for a in self.agencies],
            "services": [s.to_json() for s in self.services],
            "lines": [l.to_json() for l in self.lines],
            "unpriced": [{"agency": k[0], "service": k[1], "environment": k[2], "site": k[3], "meter": k[4],
                          "quantity": str(q), "unit": METERS[k[4]].unit if k[4] in METERS else ""}
                         for k, q in sorted(self.rated.unpriced.items())],
            "daily": [{"day": d.isoformat(), "dayLocal": self.day(d),
                       "amount": str(round_money(t, self.currency))} for d, t in self.daily_totals()],
            "records": self.rated.records,
            "collections": self.collections,
            "notes": self.notes,
        }


def build_report(store: UsageStore, inventory, period: Period, *, agency: str | None = None,
                 sites: Iterable[str] | None = None, calendar: str = "gregorian",
                 exchange: Exchange | None = None, manifests: str | os.PathLike | None = None,
                 config=None, now: datetime | None = None) -> UsageReport:
    registry = inventory.registry
    agencies = {a.id: a for a in registry.agencies}
    if agency is not None and agency not in agencies:
        raise InputError([unknown_name("agency", agency, agencies)])
    site_names = inventory.site_names()
    sites = list(sites or [])
    for s in sites:
        if s not in site_names:
            raise InputError([unknown_name("site", s, site_names)])
    agency_of = {a.project: a.id for a in registry.agencies}
    rows = store.rating_rows(period, sites or None, [agencies[agency].project] if agency is not None else None)
    cards = schedules(inventory, sites or site_names)
    rater = Rater(cards, agency_of, exchange, {a.id: a.subsidies for a in registry.agencies if a.subsidies})
    try:
        rater.add_rows(rows)
        rated = rater.rate()
    except RatingError as exc:
        raise InputError([Problem(str(exc), code="usage")]) from None
    currency = rated.currency
    used = {(l.site, l.rate_version) for l in rated.lines}
    notes: list[str] = changed_cards([c for s in cards.values() for c in s.cards if (s.site, c.version) in used],
                                     store.rate_card_digests())

    # agencies: every agency with charges, and the filtered one even without
    totals: dict[str, Decimal] = {}
    totals2: dict[str, Decimal] = {}
    for l in rated.lines:
        totals[l.agency] = totals.get(l.agency, Decimal(0)) + l.amount
        if l.amount2 is not None:
            totals2[l.agency] = totals2.get(l.agency, Decimal(0)) + l.amount2
    if agency is not None:
        totals.setdefault(agency, Decimal(0))
    months = sum((Decimal(n) / Decimal(size) for _, n, size in month_shares(period, calendar)), Decimal(0))
    rows = []
    for aid, amount in totals.items():
        a = agencies.get(aid)
        row = AgencyRow(aid, a.name.fa if a else aid, a.name.en if a else "project without an agency", amount,
                        totals2.get(aid) if exchange else None)
        if a is not None and a.monthly_budget is not None:
            row.budget = round_money(a.monthly_budget * months, currency)
            if row.budget > 0:
                row.used_pct = (amount * 100 / row.budget).quantize(Decimal("0.1"))
                row.status = "over" if row.used_pct >= OVER_AT else "warning" if row.used_pct >= WARN_AT else "ok"
        rows.append(row)
    rows.sort(key=lambda r: (-r.amount, r.id))

    # services
    svc: dict[tuple[str, str, str, str], ServiceRow] = {}
    for l in rated.lines:
        k = (l.agency, l.service, l.environment, l.site)
        row = svc.get(k) or svc.setdefault(k, ServiceRow(*k, amount=Decimal(0),
                                                         amount2=Decimal(0) if exchange else None))
        row.amount += l.amount
        if exchange and l.amount2 is not None:
            row.amount2 += l.amount2
    if manifests is not None:
        for key, (est, path) in _estimates(manifests, config, notes).items():
            if agency is not None and key[0] != agency:
                continue
            if sites and key[3] not in sites:
                continue
            row = svc.get(key) or svc.setdefault(key, ServiceRow(*key, amount=Decimal(0),
                                                                 amount2=Decimal(0) if exchange else None))
            row.estimate = round_money(est * period.hours / HOURS_PER_MONTH, currency)
            row.manifest = path
    services = sorted(svc.values(), key=lambda r: (r.agency, -r.amount, r.service, r.environment, r.site))

    return UsageReport(period, calendar, currency, rated, rows, services, now or datetime.now(UTC),
                       sites or sorted({l.site for l in rated.lines}), agency, store.collections(period), notes)


def _estimates(manifests, config, notes: list[str]) -> dict[tuple[str, str, str, str], tuple[Decimal, str]]:
    """Monthly estimate per (agency, service, environment, site) from the manifests under a directory."""
    from govcloud.errors import InputError as _InputError
    from govcloud.check import Workspace, manifest_files

    ws = Workspace(config) if config is not None else Workspace.for_paths([manifests])
    out = {}
    for f in manifest_files([manifests]):
        try:
            plan, est = ws.cost(f)
        except _InputError as exc:
            notes.append(f"{f}: not estimated ({exc.problems[0].message})")
            continue
        s = plan.service
        key = (s.agency, s.service, s.environment, s.site)
        prev = out.get(key)
        out[key] = ((prev[0] if prev else Decimal(0)) + est.total, str(f))
    return out


# -- renderers ---------------------------------------------------------------

def render_json(report: UsageReport) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False)


CSV_FIELDS = ["from", "to", "agency", "agency_fa", "agency_en", "service", "environment", "site", "meter",
              "quantity", "unit", "priced_quantity", "priced_unit", "unit_price", "amount", "currency", "rate_card",
              "discount"]


def render_csv(report: UsageReport) -> str:
    """One row per charge line; the last row is the total."""
    agencies = {a.id: a for a in report.agencies}
    buf = io.StringIO()
    ex = report.exchange
    fields = CSV_FIELDS + ([f"amount_{ex.currency.lower()}"] if ex else [])
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(fields)
    first, last = report.day(report.period.first), report.day(report.period.last)
    for l in report.lines:
        a = agencies.get(l.agency)
        m = METERS[l.meter]
        row = [first, last, l.agency, a.name_fa if a else "", a.name_en if a else "", l.service, l.environment,
               l.site, l.meter, l.quantity, m.unit, l.priced_quantity, m.priced_unit, l.unit_price, l.amount,
               l.currency, l.rate_version, l.discount]
        if ex:
            row.append(l.amount2)
        w.writerow(row)
    total = [first, last, "TOTAL", "", "", "", "", "", "", "", "", "", "", "", report.total, report.currency, "", ""]
    if ex:
        total.append(report.rated.total2)
    w.writerow(total)
    return buf.getvalue()


def render_text(report: UsageReport, out=None) -> None:
    """Tables for people (rich; English agency names, terminals do not shape Persian)."""
    from rich.console import Console
    from rich.table import Table

    console = out or Console(highlight=False, soft_wrap=False, width=None if os.isatty(1) else 140)
    cur, ex = report.currency, report.exchange
    p = report.period
    title = (f"Usage {report.day(p.first)} .. {report.day(p.last)} ({p.ndays} days, {report.calendar}, UTC days), "
             f"sites: {', '.join(report.sites) or '-'}")
    console.print(title)

    t = Table(title=f"Charges per agency ({cur})", title_justify="left")
    for col, just in (("agency", "left"), ("name", "left"), ("charge", "right"),
                      *(((f"charge {ex.currency}", "right"),) if ex else ()),
                      ("budget (period)", "right"), ("used", "right"), ("", "left")):
        t.add_column(col, justify=just)
    for a in report.agencies:
        flag = {"over": "OVER BUDGET", "warning": "over 80%", "ok": ""}.get(a.status, "")
        t.add_row(a.id, a.name_en, format_amount(a.amount, cur),
                  *((format_amount(a.amount2, ex.currency),) if ex else ()),
                  format_amount(a.budget, cur) if a.budget is not None else "-",
                  f"{a.used_pct}%" if a.used_pct is not None else "-", flag)
    t.add_section()
    t.add_row("total", "", format_amount(report.total, cur),
              *((format_amount(report.rated.total2, ex.currency),) if ex else ()), "", "", "")
    console.print(t)

    has_est = any(s.estimate is not None for s in report.services)
    t = Table(title=f"Charges per service ({cur})", title_justify="left")
    cols = [("agency", "left"), ("service", "left"), ("env", "left"), ("site", "left"), ("charge", "right")]
    if has_est:
        cols += [("estimate", "right"), ("vs estimate", "right")]
    for col, just in cols:
        t.add_column(col, justify=just)
    for s in report.services:
        row = [s.agency, s.service, s.environment or "-", s.site, format_amount(s.amount, cur)]
        if has_est:
            row += [format_amount(s.estimate, cur) if s.estimate is not None else "-",
                    f"{s.delta_pct:+}%" if s.delta_pct is not None else "-"]
        t.add_row(*row)
    console.print(t)

    t = Table(title="Charge lines", title_justify="left")
    for col, just in (("agency", "left"), ("service", "left"), ("env", "left"), ("site", "left"), ("meter", "left"),
                      ("card", "left"), ("quantity", "right"), ("unit price", "right"), ("charge", "right")):
        t.add_column(col, justify=just)
    for l in report.lines:
        m = METERS[l.meter]
        t.add_row(l.agency, l.service, l.environment or "-", l.site, m.label,
                  l.rate_version + (f" -{l.discount_percent.normalize():f}%" if l.discount else ""),
                  f"{l.priced_quantity.normalize():,f} {m.priced_unit}", format_amount(l.unit_price, cur),
                  format_amount(l.amount, cur))
    t.add_section()
    t.add_row("total", "", "", "", "", "", "", "", f"{format_amount(report.total, cur)} {cur}")
    console.print(t)
    for note in report.notes:
        console.print(f"note: {note}")
    if not report.lines:
        console.print("no usage recorded for this period: run `govcloud usage collect` first")


def write_output(text: str, out: str | None) -> None:
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
