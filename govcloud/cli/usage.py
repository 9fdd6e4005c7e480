"""`govcloud usage collect|report`: metered usage from the cloud and chargeback per agency.

Only click and the standard library are imported at module level; the
metering package (and openstacksdk, jinja2, rich) load inside the commands.
"""
from __future__ import annotations

import sys

import click

CALENDAR = click.Choice(["gregorian", "jalali"])


def _period(start: str, end: str):
    from govcloud.metering.periods import Period

    try:
        return Period.parse(start, end)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--from' / '--to'") from None


def _store(config, write: bool = True):
    from govcloud.errors import GovcloudError
    from govcloud.metering.store import StoreError, UsageStore

    try:
        return UsageStore.for_config(config, write=write)
    except StoreError as exc:
        raise GovcloudError(str(exc)) from None


def _workspace():
    from govcloud.check import Workspace

    return Workspace()


def _site(ws, name: str):
    from govcloud.errors import InputError, unknown_name

    site = ws.inventory.site(name)
    if site is None:
        raise InputError([unknown_name("site", name, ws.inventory.site_names())])
    return site


@click.group()
def usage() -> None:
    """Metered usage from the cloud's APIs and charges per agency.

    `collect` reads Nova, Cinder, Neutron and Swift usage for a period into the local
    usage store (.govcloud/usage.sqlite); `report` prices it with the rate cards,
    `export` writes FOCUS 1.2, `statement` an agency's monthly bill, all offline.
    Dates are UTC days, both ends included; a year below 1700 is Solar Hijri.
    """


@usage.command()
@click.option("--site", required=True, help="the site (its clouds.yaml entry is the site's `cloud`)")
@click.option("--from", "start", required=True, metavar="DATE", help="first day (YYYY-MM-DD, 'today', 'yesterday')")
@click.option("--to", "end", required=True, metavar="DATE", help="last day, included")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def collect(site: str, start: str, end: str, fmt: str) -> None:
    """Collect usage of SITE for a period into the usage store (incremental, idempotent)."""
    from govcloud.metering.collect import collect_site
    from govcloud.metering.openstack_source import OpenStackSource

    period = _period(start, end)
    ws = _workspace()
    site_ = _site(ws, site)
    quiet = fmt == "json" or not sys.stderr.isatty()
    click.echo(f"collecting usage of {site} (cloud '{site_.cloud}') {period.first} .. {period.last}", err=True)
    source = OpenStackSource(site_.cloud, site_.region)
    with _store(ws.config) as store:
        result = collect_site(store, ws.inventory, site_, source, period,
                              progress=None if quiet else (lambda m: click.echo(f"  {site}: {m}", err=True)))
    _print_collected(result, store.path, fmt)
    result.raise_if_incomplete()


def _print_collected(result, path, fmt: str) -> None:
    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json({**result.to_json(), "store": str(path)})
        return
    c = result.counts
    click.echo(f"{result.site}: {len(result.days)} day(s), {c.total} records: {c.inserted} new, "
               f"{c.updated} updated, {c.unchanged} unchanged -> {path}")
    for meter, n in sorted(result.by_meter.items()):
        click.echo(f"  {meter:<18} {n:>6} records")
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for d in result.discrepancies:
        click.echo(f"warning: {d.text()}", err=True)


@usage.command()
@click.option("--agency", default=None, help="only this agency (id in the registry)")
@click.option("--from", "start", required=True, metavar="DATE", help="first day (YYYY-MM-DD; year < 1700: Solar Hijri)")
@click.option("--to", "end", required=True, metavar="DATE", help="last day, included")
@click.option("--site", "sites", multiple=True, help="only these sites (repeatable; default: all)")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json", "html"]), default="text",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="write to FILE instead of stdout")
@click.option("--calendar", type=CALENDAR, default="gregorian", show_default=True,
              help="dates and budget months in the Gregorian or the Solar Hijri calendar")
@click.option("--manifests", type=click.Path(exists=True, file_okay=False), default=None,
              help="compare each service's metered charge with the estimate of its manifest in DIR")
@click.option("--exchange", default=None, metavar="CODE=RATE",
              help="also show amounts in a second currency: 1 unit of the rate-card currency = RATE CODE "
                   "(default: metering.exchange in govcloud.yaml)")
def report(agency: str | None, start: str, end: str, sites: tuple[str, ...], fmt: str, out: str | None,
           calendar: str, manifests: str | None, exchange: str | None) -> None:
    """Charges per agency, service, environment and site for a period, from the usage store (offline)."""
    from govcloud.metering.report import build_report

    period = _period(start, end)
    ws = _workspace()
    ex = _exchange(exchange, ws.config)
    with _store(ws.config, write=False) as store:
        rep = build_report(store, ws.inventory, period, agency=agency, sites=sites, calendar=calendar,
                           exchange=ex, manifests=manifests, config=ws.config)
    _emit_report(rep, fmt, out, ws.config)


def _exchange(option: str | None, config):
    """--exchange, else metering.exchange of govcloud.yaml (checked when it was loaded), else None."""
    from govcloud.metering.rating import Exchange

    if not option:
        configured = config.settings.metering.exchange_text
        return Exchange.parse(configured) if configured else None
    try:
        return Exchange.parse(option)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--exchange'") from None


def _emit_report(rep, fmt: str, out: str | None, config) -> None:
    from govcloud.metering.report import render_csv, render_json, render_text, write_output

    if fmt == "text":
        if out:
            from rich.console import Console

            with open(out, "w", encoding="utf-8") as fh:
                render_text(rep, Console(file=fh, width=160, highlight=False, no_color=True))
        else:
            render_text(rep)
        return
    if fmt == "json":
        text = render_json(rep) + "\n"
    elif fmt == "csv":
        text = render_csv(rep)
    else:
        from govcloud.metering.html import render_html

        text = render_html(rep, config)
    if out:
        write_output(text, out)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


@usage.command("export")
@click.option("--format", "fmt", type=click.Choice(["focus"]), default="focus", show_default=True,
              help="FOCUS 1.2 (FinOps Open Cost and Usage Specification)")
@click.option("--from", "start", required=True, metavar="DATE", help="first day (YYYY-MM-DD; year < 1700: Solar Hijri)")
@click.option("--to", "end", required=True, metavar="DATE", help="last day, included")
@click.option("--agency", default=None, help="only this agency (id in the registry)")
@click.option("--calendar", type=CALENDAR, default="gregorian", show_default=True,
              help="billing months (BillingPeriod, InvoiceId) in the Gregorian or the Solar Hijri calendar")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="write to FILE (FILE.parquet: Parquet, needs pyarrow) instead of stdout")
def export(fmt: str, start: str, end: str, agency: str | None, calendar: str, out: str | None) -> None:
    """Usage of a period as a FOCUS 1.2 file (CSV, or Parquet), from the usage store (offline)."""
    from govcloud.metering.focus import build_focus, focus_format_of, issued, summary, write_export

    period = _period(start, end)
    ws = _workspace()
    kind = focus_format_of(out, None)
    with _store(ws.config) as store:
        exp = build_focus(store, ws.inventory, period, agency=agency, calendar=calendar, config=ws.config)
        data, digest = write_export(exp, out, kind)
        issued(store, exp)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        click.echo(f"wrote {out} (sha256 {digest})", err=True)
    for line in summary(exp):
        click.echo(line, err=True)
    for note in exp.notes:
        click.echo(f"warning: {note}", err=True)


@usage.command()
@click.option("--agency", required=True, help="the agency (id in the registry)")
@click.option("--month", required=True, metavar="YYYY-MM", help="the month (a year below 1700: Solar Hijri, 1404-12)")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), required=True,
              help="the statement (FILE.html, or FILE.json); the FOCUS file it matches is written next to it")
@click.option("--focus-out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="where the FOCUS file goes (default: the statement's name with .focus.csv)")
@click.option("--manifests", type=click.Path(exists=True, file_okay=False), default=None,
              help="compare each service's charge with the estimate of its manifest in DIR")
def statement(agency: str, month: str, out: str, focus_out: str | None, manifests: str | None) -> None:
    """The monthly statement of one agency (HTML, Persian, Jalali dates) and the FOCUS file behind it."""
    import json
    from pathlib import Path

    from govcloud.metering.focus import issued
    from govcloud.metering.report import write_output
    from govcloud.metering.statement import build_statement, render_statement_html

    ws = _workspace()
    try:
        from govcloud.metering.statement import parse_month

        parse_month(month)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--month'") from None
    with _store(ws.config) as store:
        st = build_statement(store, ws.inventory, agency, month, manifests=manifests, config=ws.config)
        issued(store, st.export)
    target = Path(out)
    focus_path = Path(focus_out) if focus_out else target.with_name(target.stem + ".focus.csv")
    focus_path.parent.mkdir(parents=True, exist_ok=True)
    focus_path.write_bytes(st.focus_csv)
    text = (json.dumps({**st.to_json(), "focusFile": str(focus_path)}, indent=2, ensure_ascii=False) + "\n"
            if target.suffix == ".json" else render_statement_html(st, ws.config))
    write_output(text, out)
    click.echo(f"wrote {out}: {st.invoice_id}, total {st.total} {st.currency}; FOCUS file {focus_path} "
               f"(sha256 {st.focus_sha256})", err=True)
    for note in st.export.notes:
        click.echo(f"warning: {note}", err=True)


@usage.command()
@click.option("--site", required=True, help="the site")
@click.option("--from", "start", required=True, metavar="DATE", help="first day")
@click.option("--to", "end", required=True, metavar="DATE", help="last day, included")
@click.option("--tolerance", default="0.05", show_default=True, metavar="HOURS",
              help="per resource: differences up to max(HOURS, 1 %) are not reported")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def reconcile(site: str, start: str, end: str, tolerance: str, fmt: str) -> None:
    """Where the cloud's records and govcloud's own deploy/destroy events disagree (offline)."""
    from decimal import Decimal, InvalidOperation

    from govcloud.metering.reconcile import reconcile as find

    period = _period(start, end)
    try:
        tol = Decimal(tolerance)
    except InvalidOperation:
        raise click.BadParameter(f"'{tolerance}' is not a number of hours", param_hint="'--tolerance'") from None
    ws = _workspace()
    with _store(ws.config) as store:
        found = find(store, site, period, tolerance_hours=tol)
    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json({"site": site, "from": period.first.isoformat(), "to": period.last.isoformat(),
                   "toleranceHours": str(tol), "discrepancies": [d.to_json() for d in found]})
        return
    for d in found:
        click.echo(d.text())
    click.echo(f"{len(found)} disagreement(s) beyond {tol} h between the cloud and govcloud's events", err=True)


@usage.command("record-events")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--site", required=True, help="the site the operations deployed to")
def record_events(files: tuple[str, ...], site: str) -> None:
    """Add the lifetimes in engine event logs (<state>/logs/*.events.jsonl) to the ledger (a back-fill)."""
    from govcloud.errors import InputError, unknown_name
    from govcloud.metering.lifetimes import record_events_files

    ws = _workspace()
    site_ = ws.inventory.site(site)
    if site_ is None:
        raise InputError([unknown_name("site", site, ws.inventory.site_names())])
    projects = {a.id: a.project for a in ws.inventory.registry.agencies}
    with _store(ws.config) as store:
        res = record_events_files(files, store, site_, projects)
    click.echo(f"ledger: {res.opened} opened, {res.closed} closed, {res.resized} resized, {res.unchanged} unchanged",
               err=True)


def register(cli: click.Group) -> None:
    cli.add_command(usage)
