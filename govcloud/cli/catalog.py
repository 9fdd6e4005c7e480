"""`govcloud catalog build|check`: the national services catalog (govcloud.catalog).

Only click is imported here; the catalog's modules (and rdflib, pyshacl)
load inside the commands.
"""
from __future__ import annotations

import sys

import click


@click.group()
def catalog() -> None:
    """The national services catalog: a static site, catalog.json and DCAT-AP RDF of what is deployed."""


@catalog.command()
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--manifests", "manifests", multiple=True, type=click.Path(exists=True),
              help="manifest files or directories (default: the config repo's manifests/)")
@click.option("--offline", is_flag=True, help="read no stack state: list every service as planned")
def build(out: str, manifests: tuple[str, ...], offline: bool) -> None:
    """Build the catalog into OUT: site (Persian, English), catalog.json, DCAT-AP Turtle and JSON-LD."""
    from govcloud.catalog.build import build as build_catalog

    result = build_catalog(out, manifests=manifests or None, offline=offline)
    click.echo(result.summary())


@catalog.command()
@click.argument("out", required=False, type=click.Path(file_okay=False, exists=True))
@click.option("--manifests", "manifests", multiple=True, type=click.Path(exists=True),
              help="without OUT: build from these manifests first (default: the config repo's manifests/)")
@click.option("--offline", is_flag=True, help="without OUT: build reading no stack state")
@click.option("--probe", is_flag=True, help="request every live endpoint and download URL")
@click.option("--timeout", type=click.FloatRange(0.1, 300), default=10.0, show_default=True,
              help="seconds per request of --probe")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
              help="requests of --probe at once")
def check(out: str | None, manifests: tuple[str, ...], offline: bool, probe: bool, timeout: float,
          concurrency: int) -> None:
    """Check a built catalog (or build one and check it): DCAT-AP 3.0.1 shapes, URLs; exit 1 on a violation."""
    from govcloud.catalog.validate import check as check_catalog
    from govcloud.cli.render import print_problems

    report = check_catalog(out, manifests=manifests or None, offline=offline, probe=probe, timeout=timeout,
                           concurrency=concurrency)
    print_problems(report.problems)
    for r in report.probes:
        click.echo(f"{'ok  ' if r.ok else 'FAIL'} {r.describe()}")
    click.echo(report.summary())
    if report.failed:
        sys.exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(catalog)
