"""The HTML chargeback report: templates/reports/usage.html.j2 with inline SVG charts.

One self-contained file (CSS inline, charts inline SVG, no JavaScript, no
external fonts) that opens offline and prints. Persian agency names are set
right-to-left (`dir="rtl"` in <bdi>); the font stack prefers fonts with
Persian glyphs (Vazirmatn, Noto Sans Arabic, ...).
"""
from __future__ import annotations

from decimal import Decimal

from govcloud.metering.charts import PALETTE, STATUS_COLORS, Bar, hbar_chart, stacked_columns
from govcloud.metering.jalali import to_jalali
from govcloud.metering.rating import METERS, format_amount, round_money
from govcloud.metering.report import UsageReport

TEMPLATE = "reports/usage.html.j2"
TOP_SERVICES = 10


def has_persian(text: str) -> bool:
    return any("\u0600" <= ch <= "\u06ff" or "\ufb50" <= ch <= "\ufeff" for ch in text)


def charts(report: UsageReport) -> dict[str, str]:
    cur = report.currency
    colors = {a.id: PALETTE[i % len(PALETTE)] for i, a in enumerate(report.agencies)}
    agency_bars = []
    for a in report.agencies:
        note = f"{a.used_pct}% of the period's budget ({format_amount(a.budget, cur)})" if a.used_pct is not None \
            else ""
        agency_bars.append(Bar(a.name_fa, f"{a.id} · {a.name_en}", a.amount, STATUS_COLORS[a.status],
                               marker=a.budget, note=note, rtl=has_persian(a.name_fa)))
    names = {a.id: a.name_fa for a in report.agencies}
    services = sorted(report.services, key=lambda s: -s.amount)
    top, rest = services[:TOP_SERVICES], services[TOP_SERVICES:]
    service_bars = [Bar(f"{s.service}" + (f" ({s.environment})" if s.environment else ""),
                        f"{s.agency} · {s.site}", s.amount, colors.get(s.agency, PALETTE[-1]),
                        marker=s.estimate, note=(f"estimate {format_amount(s.estimate, cur)}"
                                                 if s.estimate is not None else ""))
                    for s in top if s.amount > 0 or s.estimate]
    more = (f"+ {len(rest)} more services: {format_amount(sum((s.amount for s in rest), Decimal(0)), cur)} {cur}"
            " (all are in the table below)") if rest else ""
    days = list(report.rated.daily)
    series = []
    for a in report.agencies:
        values = [round_money(report.rated.daily[d].get(a.id, Decimal(0)), cur) for d in days]
        label = names.get(a.id, a.id)
        series.append((f"{label} ({a.id})" if label != a.id else label, colors[a.id], values))
    day_labels = [report.day(d)[5:] if report.calendar == "gregorian" else str(to_jalali(d))[5:] for d in days]
    return {
        "agencies": hbar_chart(f"Charges per agency ({cur}) — dashed line: budget for the period", agency_bars,
                               unit=cur),
        "services": hbar_chart(f"Charges per service ({cur}; colour: agency, as below)"
                               + (" — dashed line: estimate for the period" if any(s.estimate for s in top) else ""),
                               service_bars, unit=cur, label_width=300, footnote=more),
        "daily": stacked_columns(f"Daily charges per agency ({cur}, UTC days"
                                 + (", Solar Hijri dates)" if report.calendar == "jalali" else ")"),
                                 day_labels, series),
    }


def render_html(report: UsageReport, config) -> str:
    template = config.templates.get(TEMPLATE)
    cur, ex = report.currency, report.exchange
    p = report.period
    jal = report.calendar == "jalali"
    return template.render(
        report=report, charts=charts(report), meters=METERS, currency=cur, exchange=ex,
        money=lambda v, c=None: format_amount(v, c or cur),
        period_first=report.day(p.first), period_last=report.day(p.last),
        period_fa=(f"{to_jalali(p.first).long_fa()} تا {to_jalali(p.last).long_fa()}" if jal else ""),
        generated=report.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        has_estimates=any(s.estimate is not None for s in report.services),
        agency_names={a.id: a for a in report.agencies},
    )
