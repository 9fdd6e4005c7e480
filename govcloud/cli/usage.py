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


def _store(config):
    from govcloud.errors import GovcloudError
    from govcloud.metering.store import StoreError, UsageStore

    try:
        return UsageStore.for_config(config)
    except StoreError as exc:
        raise GovcloudError(str(exc)) from None


def _workspace():
    from govcloud.check import Workspace

    return Workspace()


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
    from govcloud.errors import InputError, unknown_name
    from govcloud.metering.collect import Collector
    from govcloud.metering.openstack_source import OpenStackSource

    period = _period(start, end)
    ws = _workspace()
    site_ = ws.inventory.site(site)
    if site_ is None:
        raise InputError([unknown_name("site", site, ws.inventory.site_names())])
    agencies = [a for a in ws.inventory.registry.agencies if site in a.allowed_sites]
    quiet = fmt == "json" or not sys.stderr.isatty()

    def progress(message: str) -> None:
        if not quiet:
            click.echo(f"  {site}: {message}", err=True)

    click.echo(f"collecting usage of {site} (cloud '{site_.cloud}') {period.first} .. {period.last}", err=True)
    source = OpenStackSource(site_.cloud, site_.region)
    with _store(ws.config) as store:
        result = Collector(store, site, source, bucket_projects=[a.project for a in agencies],
                           progress=progress).collect(period)
        path = store.path
    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json({**result.to_json(), "store": str(path)})
        _fail_if_incomplete(result)
        return
    c = result.counts
    click.echo(f"{site}: {len(result.days)} day(s), {c.total} records: {c.inserted} new, {c.updated} updated, "
               f"{c.unchanged} unchanged -> {path}")
    for meter, n in sorted(result.by_meter.items()):
        click.echo(f"  {meter:<18} {n:>6} records")
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    _fail_if_incomplete(result)


def _fail_if_incomplete(result) -> None:
    """Exit 3 when an API failed: what was collected is kept, the missing meters are named."""
    if result.failures:
        from govcloud.errors import CloudError

        raise CloudError("collection incomplete (what was collected is saved; run it again):\n  "
                         + "\n  ".join(result.failures))


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
    from govcloud.metering.rating import Exchange
    from govcloud.metering.report import build_report, render_csv, render_json, render_text, write_output

    period = _period(start, end)
    ws = _workspace()
    ex_text = exchange or ws.config.settings.metering.exchange_text
    try:
        ex = Exchange.parse(ex_text) if ex_text else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--exchange'") from None
    with _store(ws.config) as store:
        rep = build_report(store, ws.inventory, period, agency=agency, sites=sites, calendar=calendar,
                           exchange=ex, manifests=manifests, config=ws.config)
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

        text = render_html(rep, ws.config)
    if out:
        write_output(text, out)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


def register(cli: click.Group) -> None:
    cli.add_command(usage)
