"""`govcloud agency list|onboard|offboard`: the ministry side of tenancy, thin over govcloud.tenancy.

Each command parses its options, calls one library function (tenancy.list_agencies, onboarding_plans,
onboard, offboard) and renders the result; `AgencyHooks` shows the workflows' progress, previews and
per-site outcomes on a terminal. Only click and govcloud's light modules load at start-up: the inventory,
the engine (pulumi) and openstacksdk load inside the commands.

Exit codes come from the library's typed errors, mapped once in govcloud.cli.GovcloudGroup: 0 ok; 1 invalid
input or a refusal (unknown agency or site, no confirmation without a terminal, replacing or deleting the
project without --allow-data-loss, a project that exists outside govcloud without --adopt); 3 the engine or
the cloud failed (`list --live`: after showing what it could read).
"""
from __future__ import annotations

import click

from govcloud.cli.progress import TerminalHooks, err
from govcloud.tenancy.hooks import TenancyHooks

FORMAT = click.Choice(["text", "json"])


class AgencyHooks(TerminalHooks, TenancyHooks):
    """The terminal's hooks for the tenancy workflows. Per-site messages go to stdout in text mode and to
    stderr when stdout carries JSON."""

    def __init__(self, fmt: str = "text"):
        super().__init__()
        self.text = fmt == "text"

    def say(self, message: str) -> None:
        click.echo(message, err=not self.text)

    def adopting(self, stack, existing) -> None:
        self.say(f"adopting {', '.join(map(str, existing))} into {stack}")

    def previewed(self, agency, site, stack, preview) -> None:
        from govcloud.cli.views import print_changes

        if self.text:
            print_changes(preview, title=f"Onboarding {agency.id} at {site.name}: project {agency.project} "
                                         f"({stack}, as the admin of cloud '{site.cloud}'):")

    def onboarded(self, done) -> None:
        from govcloud.engine.events import done_text

        if done.result is None:
            self.say(f"{done.stack} is up to date: {done.agency.id} is onboarded at {done.site}")
            return
        if done.settled is not None:
            self.say(f"applied the registry to what was adopted: {done_text(done.settled.counts())}")
        self.say(f"onboarded {done.agency.id} at {done.site} in {done.result.duration:.1f} s: "
                 f"{done_text(done.result.counts())}; project {done.agency.project} ({done.project_id})")

    def offboarding(self, agency, site, stack, resources) -> None:
        click.echo(f"Offboard {agency.id} at {site.name} ({stack}): {len(resources)} resources")
        for r in resources:
            flag = "  holds the agency's data" if r.key == "project" else ""
            click.echo(f"  - delete   {r.key:<18} {r.type.rsplit(':', 1)[-1]:<16}{flag}")

    def offboarded(self, done) -> None:
        if done.result is None:
            click.echo(f"{done.stack} has no resources: {done.agency.id} is not onboarded at {done.site}")
        else:
            click.echo(f"offboarded {done.agency.id} at {done.site} in {done.result.duration:.1f} s: deleted "
                       f"{done.deleted} resources")


@click.group()
def agency() -> None:
    """The agency registry and the ministry's side of tenancy.

    `onboard` creates an agency's OpenStack project at a site with the quotas
    of inventories/agencies.yaml, a group for its team and their roles, as the
    ministry's own Pulumi stack (govcloud-ministry/onboard-<agency>-<site>);
    `list` shows quotas against what the manifests allocate (and, with --live,
    what OpenStack reports in use); `offboard` deletes the project again.
    """


@agency.command("list")
@click.option("--site", "sites", multiple=True, metavar="SITE", help="only this site (repeatable)")
@click.option("--manifests", "manifest_dirs", multiple=True, type=click.Path(exists=True),
              help="sum the manifests here (default: the config repo's manifests/, or examples/ in the govcloud "
                   "checkout); repeatable")
@click.option("--live", is_flag=True, help="also ask OpenStack what each project uses (needs the site's admin)")
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def list_(sites: tuple[str, ...], manifest_dirs: tuple[str, ...], live: bool, fmt: str) -> None:
    """Agencies: names, project, allowed sites, quotas and what is allocated per site."""
    from govcloud.cli.render import emit_json
    from govcloud.errors import CloudError
    from govcloud.tenancy import list_agencies

    listing = list_agencies(sites, manifest_dirs, live=live)
    for warning in listing.warnings:
        err(warning)
    data = listing.to_json()
    emit_json(data) if fmt == "json" else _print_list(data["agencies"], live)
    if listing.unreadable:
        raise CloudError("could not read the cloud for: " + "; ".join(listing.unreadable))


@agency.command()
@click.argument("agency_id", metavar="AGENCY")
@click.option("--site", "sites", multiple=True, metavar="SITE",
              help="onboard at this site (repeatable; default: every allowed site of the agency)")
@click.option("--yes", "-y", is_flag=True, help="apply without asking (CI); required when stdin is not a terminal")
@click.option("--plan", "plan_only", is_flag=True, help="print the onboarding plan (offline) and stop")
@click.option("--refresh", is_flag=True, help="refresh the state from the cloud before the preview")
@click.option("--allow-data-loss", is_flag=True, help="allow replacing or deleting the project (never needed "
              "for quota changes)")
@click.option("--adopt", is_flag=True, help="take over the agency's project (and team group) where it already "
              "exists outside govcloud: imported into the ministry's stack, then set to the registry")
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def onboard(agency_id: str, sites: tuple[str, ...], yes: bool, plan_only: bool, refresh: bool,
            allow_data_loss: bool, adopt: bool, fmt: str) -> None:
    """Create or update AGENCY's OpenStack project, quotas and team at its sites (the ministry's stack)."""
    from govcloud.cli.render import emit_json
    from govcloud.tenancy import BUCKETS_NOTE, onboard as run, onboarding_plans

    if plan_only:
        plans = onboarding_plans(agency_id, sites, hooks=AgencyHooks(fmt)).plans
        if fmt == "json":
            emit_json({"plans": [p.to_json() for p in plans], "notes": [BUCKETS_NOTE]})
        else:
            for p in plans:
                _print_plan(p)
        return
    res = run(agency_id, sites, yes=yes, refresh=refresh, allow_data_loss=allow_data_loss, adopt=adopt,
              hooks=AgencyHooks(fmt))
    if res.agency.quotas.buckets:
        err(f"note: buckets quota {res.agency.quotas.buckets}: {BUCKETS_NOTE}")
    if fmt == "json":
        emit_json(res.to_json())


@agency.command()
@click.argument("agency_id", metavar="AGENCY")
@click.option("--site", "sites", multiple=True, metavar="SITE", required=True,
              help="offboard at this site (repeatable)")
@click.option("--allow-data-loss", is_flag=True,
              help="required: deleting the project deletes the agency's tenancy (its data must be gone first)")
@click.option("--yes", "-y", is_flag=True, help="do not ask")
def offboard(agency_id: str, sites: tuple[str, ...], allow_data_loss: bool, yes: bool) -> None:
    """Destroy AGENCY's onboarding stack at SITE: its quotas, roles, group and (protected) project."""
    from govcloud.tenancy import offboard as run

    run(agency_id, sites, yes=yes, allow_data_loss=allow_data_loss, hooks=AgencyHooks())


# ---------------------------------------------------------------- rendering


def _print_list(rows: list[dict], live: bool) -> None:
    from govcloud.tenancy import QUOTA_FIELDS

    keys = [(key, words) for _, key, words in QUOTA_FIELDS]
    for r in rows:
        click.echo(f"{r['id']}  {r['name']['en']}  ({r['name']['fa']})")
        click.echo(f"  project {r['project']}   allowed sites: {', '.join(r['allowedSites'])}"
                   + (f"   contact: {r['contact']}" if r.get("contact") else ""))
        click.echo(f"  {'site':<10}" + "".join(f"{w:>16}" for _, w in keys) + "   (allocated by manifests / quota)")
        for s in r["sites"]:
            alloc = s["allocated"]
            cells = "".join(f"{_fmt(alloc[k])}/{r['quotas'][k]:<}".rjust(16) for k, _ in keys)
            n = len(alloc["services"])
            click.echo(f"  {s['site']:<10}{cells}" + (f"   {n} service{'s' if n != 1 else ''}" if n else ""))
            if live:
                _print_live(s.get("live") or {}, keys)
        click.echo("")


def _print_live(lv: dict, keys: list[tuple[str, str]]) -> None:
    if lv.get("error"):
        click.echo(f"  {'':<10}live: error: {lv['error']}")
        return
    if not lv.get("projectId"):
        click.echo(f"  {'':<10}live: " + "; ".join(lv.get("notes") or ["not onboarded"]))
        return
    use, lim = lv.get("inUse") or {}, lv.get("limits") or {}
    cells = "".join(f"{_fmt(use.get(k))}/{_fmt(lim.get(k, '-'))}".rjust(16) for k, _ in keys)
    click.echo(f"  {'live':<10}{cells}   (in use / cloud quota)")
    drift = lv.get("quotaDrift") or {}
    if drift:
        click.echo(f"  {'':<10}drift from the registry: " + ", ".join(
            f"{k} {_fmt(d['cloud'])} on the cloud, {d['registry']} in the registry"
            for k, d in drift.items()) + " (onboarding sets the registry's quotas)")
    for note in lv.get("notes") or ():
        click.echo(f"  {'':<10}note: {note}")


def _fmt(v) -> str:
    if v is None:
        return "?"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _print_plan(plan) -> None:
    from govcloud.plan.model import Lookup, Ref

    s = plan.service
    click.echo(f"{s.pulumi_project}/{s.stack}: at site {s.site} (cloud '{s.cloud}', region {s.region}), "
               f"provider scoped to project {s.project}")
    for r in plan.resources:
        shown = []
        for k, v in r.inputs.items():
            if k in ("name", "description", "tags"):
                continue
            if isinstance(v, Ref):
                v = f"<{v.resource}.{v.attr}>"
            elif isinstance(v, Lookup):
                v = f"<{v.kind} {v.name}>"
            shown.append(f"{k}={v}")
        flag = "  (protected)" if r.stateful else ""
        click.echo(f"  + {r.key:<16} {r.kind:<15} {r.name:<28} {', '.join(shown)}{flag}")


def register(cli: click.Group) -> None:
    cli.add_command(agency)
