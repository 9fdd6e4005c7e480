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
    offline. Dates are UTC days, both ends included; a year below 1700 is Solar Hijri.
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


def register(cli: click.Group) -> None:
    cli.add_command(usage)
