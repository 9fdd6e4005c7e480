"""The catalog's static site: templates/catalog/*.html.j2 in Persian and in English.

Pages are rendered in the project's sandboxed Jinja2 environment with
autoescaping on: manifest text reaches templates only as variables, never
as template code, and is HTML-escaped wherever it is written. Persian pages
are `dir="rtl"` with Persian digits and Solar Hijri dates; URLs, codes and
versions are isolated left-to-right runs. The site is self-contained (one
stylesheet, no scripts, no web fonts) and opens offline.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Callable

from govcloud.catalog.model import CatalogDocument, Service, Text
from govcloud.metering.jalali import persian_digits, to_jalali

TEMPLATES = "catalog"
AUDIENCES = ("citizens", "businesses", "agencies")

LABELS = {
    "fa": {
        "sep": "، ", "machine": "داده‌های ماشین‌خوان", "publisher": "ناشر", "generated": "به‌روزرسانی", "home": "فهرست خدمات",
        "by_agency": "به تفکیک دستگاه", "by_audience": "به تفکیک مخاطب", "retired": "خدمات بازنشسته",
        "retired_on": "بازنشسته از", "nothing": "هنوز خدمتی منتشر نشده است.",
        "status_available": "در دسترس", "status_degraded": "دارای اختلال", "status_planned": "برنامه‌ریزی‌شده",
        "audience_citizens": "شهروندان", "audience_businesses": "کسب‌وکارها", "audience_agencies": "دستگاه‌ها",
        "datasets_n": "{} مجموعه‌داده", "endpoints_n": "{} نقطهٔ دسترسی",
        "planned_note": "این خدمت هنوز در محیط عملیاتی ارائه نمی‌شود.",
        "last_deployed": "آخرین استقرار", "last_verify": "آخرین بررسی سلامت", "unknown": "نامعلوم",
        "verify_passed": "موفق", "verify_failed": "ناموفق", "not_verified": "بررسی نشده",
        "about": "مشخصات", "agency": "دستگاه", "audience": "مخاطبان", "keywords": "کلیدواژه‌ها", "contact": "تماس",
        "sla": "سطح خدمت", "availability": "دسترس‌پذیری", "support": "پشتیبانی", "no_sla": "تعریف نشده",
        "environment": "محیط و مرکز داده", "endpoints": "نقاط دسترسی و واسط‌های برنامه‌نویسی", "version": "نسخه",
        "not_live": "هنوز فعال نیست", "openapi": "مستند واسط", "method": "روش", "path": "مسیر", "summary": "شرح",
        "datasets": "داده‌های باز", "format": "قالب", "license": "پروانه", "frequency": "دورهٔ به‌روزرسانی",
        "download": "دریافت",
        "kind_rest": "REST", "kind_soap": "SOAP", "kind_graphql": "GraphQL", "kind_grpc": "gRPC", "kind_web": "وب",
        "kind_sftp": "SFTP",
        "freq_continuous": "پیوسته", "freq_daily": "روزانه", "freq_weekly": "هفتگی", "freq_monthly": "ماهانه",
        "freq_quarterly": "فصلی", "freq_annual": "سالانه", "freq_irregular": "نامنظم", "freq_never": "بدون به‌روزرسانی",
    },
    "en": {
        "sep": ", ", "machine": "Machine-readable", "publisher": "Publisher", "generated": "updated", "home": "Services",
        "by_agency": "By agency", "by_audience": "By audience", "retired": "Retired services",
        "retired_on": "retired on", "nothing": "No service is published yet.",
        "status_available": "Available", "status_degraded": "Degraded", "status_planned": "Planned",
        "audience_citizens": "Citizens", "audience_businesses": "Businesses", "audience_agencies": "Agencies",
        "datasets_n": "{} datasets", "endpoints_n": "{} endpoints",
        "planned_note": "This service is not offered in production yet.",
        "last_deployed": "Last deployed", "last_verify": "Last health check", "unknown": "unknown",
        "verify_passed": "passed", "verify_failed": "failed", "not_verified": "not verified",
        "about": "About", "agency": "Agency", "audience": "Audience", "keywords": "Keywords", "contact": "Contact",
        "sla": "Service level", "availability": "availability", "support": "support", "no_sla": "none defined",
        "environment": "Environment and site", "endpoints": "Endpoints and APIs", "version": "version",
        "not_live": "not live yet", "openapi": "API description", "method": "Method", "path": "Path",
        "summary": "Summary", "datasets": "Open data", "format": "Format", "license": "Licence",
        "frequency": "Updated", "download": "Download",
        "kind_rest": "REST", "kind_soap": "SOAP", "kind_graphql": "GraphQL", "kind_grpc": "gRPC", "kind_web": "Web",
        "kind_sftp": "SFTP",
        "freq_continuous": "continuously", "freq_daily": "daily", "freq_weekly": "weekly", "freq_monthly": "monthly",
        "freq_quarterly": "quarterly", "freq_annual": "yearly", "freq_irregular": "irregularly",
        "freq_never": "never (final)",
    },
}


def environment(config):
    """The config repo's sandboxed template environment (govcloud.templates), overlaid with HTML autoescaping
    for every catalog page."""
    from jinja2.utils import htmlsafe_json_dumps

    base = config.templates.environment
    env = base.overlay(autoescape=True, trim_blocks=True, lstrip_blocks=True, cache_size=50)
    env.filters = {**base.filters, "tojson": htmlsafe_json_dumps}  # the base's filters are shared: copy
    return env


def formatters(lang: str) -> dict[str, Callable]:
    fa = lang == "fa"

    def num(value) -> str:
        return persian_digits(str(value)) if fa else str(value)

    def percent(value: float) -> str:
        text = f"{value:g}"
        return persian_digits(text).replace(".", "\u066b") + "\u066a" if fa else text + "%"

    def day(d: _dt.date) -> str:
        return to_jalali(d).long_fa() if fa else d.isoformat()

    def when(t: _dt.datetime) -> str:
        t = t.astimezone(_dt.timezone.utc)
        if fa:
            return f"{to_jalali(t.date()).long_fa()}، ساعت {persian_digits(t.strftime('%H:%M'))} به وقت جهانی"
        return t.strftime("%Y-%m-%d %H:%M UTC")

    def t(text: Text) -> str:
        return text.fa if fa else text.en

    return {"num": num, "percent": percent, "day": day, "when": when, "t": t}


def render_site(doc: CatalogDocument, config, out: Path) -> list[Path]:
    """Write the landing page, both languages' index and one page per service; the files written."""
    env = environment(config)
    written: list[Path] = []

    def write(rel: str, html: str) -> None:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
        written.append(path)

    names = {a.id: a.name for a in doc.agencies}
    counts = {state: sum(1 for s in doc.services if s.status == state) for state in ("available", "degraded",
                                                                                      "planned")}
    order = {"available": 0, "degraded": 1, "planned": 2}

    def ranked(items: list[Service]) -> list[Service]:
        return sorted(items, key=lambda s: (order[s.status], s.id))

    by_agency = [(a, ranked([s for s in doc.services if s.agency == a.id])) for a in doc.agencies]
    by_audience = [(aud, ranked([s for s in doc.services if aud in s.audience])) for aud in AUDIENCES]
    by_audience = [(aud, items) for aud, items in by_audience if items]
    (out / "assets").mkdir(parents=True, exist_ok=True)
    css = Path(env.loader.get_source(env, f"{TEMPLATES}/catalog.css")[1])
    write("assets/catalog.css", css.read_text(encoding="utf-8"))
    write("index.html", env.get_template(f"{TEMPLATES}/landing.html.j2").render(catalog=doc.catalog))
    for lang in ("fa", "en"):
        other = "en" if lang == "fa" else "fa"
        fmt = formatters(lang)
        common = dict(
            lang=lang, dir="rtl" if lang == "fa" else "ltr", L=LABELS[lang], catalog=doc.catalog,
            generated=doc.generated, other_lang=other, other_name="English" if lang == "fa" else "فارسی",
            agency_name=lambda a, _t=fmt["t"]: _t(names[a]) if a in names else a,
            page=lambda s, _l=lang: getattr(s.pages, _l), **fmt)
        write(f"{lang}/index.html", env.get_template(f"{TEMPLATES}/index.html.j2").render(
            root="../", other_href=f"../{other}/index.html", counts=counts, by_agency=by_agency,
            by_audience=by_audience, retired=doc.retired, **common))
        for s in doc.services:
            rel = getattr(s.pages, lang)
            depth = rel.count("/")
            root = "../" * depth
            write(rel, env.get_template(f"{TEMPLATES}/service.html.j2").render(
                root=root, other_href=root + getattr(s.pages, other), s=s, **common))
    return written
