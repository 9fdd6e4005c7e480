"""`govcloud agency list|onboard|offboard`: the ministry side of tenancy.

Only click and the standard library are imported at module level; the
inventory, the engine (pulumi) and openstacksdk load inside the commands.

Exit codes: 0 ok; 1 invalid input or a refusal (unknown agency or site, no
confirmation without a terminal, deleting the project without
--allow-data-loss, a project that exists outside govcloud); 3 the engine or
the cloud failed.
"""
from __future__ import annotations

import sys

import click

# the stack commands' helpers: one way to confirm, recover and report an engine failure
from govcloud.cli.progress import TerminalHooks
from govcloud.cli.progress import err as _err
from govcloud.engine.events import done_text
from govcloud.ops.workflow import confirm, ensure_ok


def _confirm(question: str, yes: bool, what: str) -> None:
    confirm(TerminalHooks(), yes, question, what)


def _engine_failed(result) -> None:
    ensure_ok(result)


def _recover(plan, config, lock):
    """Clear what an interrupted run left and refresh when needed; the deployment as found."""
    from govcloud.engine.recovery import recover
    from govcloud.engine.runner import run_operation

    rec = recover(plan, config)
    for note in rec.notes:
        _err(f"recovery: {note}")
    if rec.needs_refresh:
        _err("recovery: refreshing the state from the cloud ...")
        ensure_ok(run_operation("refresh", plan, config, lock=lock,
                                message="govcloud: recovery after an interrupted run"))
    return rec.deployment

FORMAT = click.Choice(["text", "json"])


def _workspace():
    from govcloud.check import Workspace

    return Workspace()


def _agency(ws, agency_id: str):
    from govcloud.errors import InputError, unknown_name

    agency = ws.inventory.agency(agency_id)
    if agency is None:
        raise InputError([unknown_name("agency", agency_id, ws.inventory.agency_ids())])
    return agency


def _sites(ws, names, allowed=None):
    """Site objects for names (default: `allowed`), each checked against the inventory and `allowed`."""
    from govcloud.errors import InputError, Problem, unknown_name

    names = list(names) or list(allowed or ws.inventory.site_names())
    problems, sites = [], []
    known = ws.inventory.site_names()
    for name in dict.fromkeys(names):
        site = ws.inventory.site(name)
        if site is None:
            problems.append(unknown_name("site", name, known))
        elif allowed is not None and name not in allowed:
            problems.append(Problem(f"site '{name}' is not among the agency's allowed sites", code="reference",
                                    hint="allowed sites: " + ", ".join(allowed) +
                                         " (add it to allowedSites in inventories/agencies.yaml first)"))
        else:
            sites.append(site)
    if problems:
        raise InputError(problems)
    return sites


def _registry_file(ws) -> str:
    path = ws.config.find_file("inventories", "agencies.yaml")
    return str(path) if path else ""


@click.group()
def agency() -> None:
    """The agency registry and the ministry's side of tenancy.

    `onboard` creates an agency's OpenStack project at a site with the quotas
    of inventories/agencies.yaml, a group for its team and their roles, as the
    ministry's own Pulumi stack (govcloud-ministry/onboard-<agency>-<site>);
    `list` shows quotas against what the manifests allocate (and, with --live,
    what OpenStack reports in use); `offboard` deletes the project again.
    """


# ---------------------------------------------------------------- list


@agency.command("list")
@click.option("--site", "sites", multiple=True, metavar="SITE", help="only this site (repeatable)")
@click.option("--manifests", "manifest_dirs", multiple=True, type=click.Path(exists=True),
              help="sum the manifests here (default: the config repo's manifests/, or examples/ in the govcloud "
                   "checkout); repeatable")
@click.option("--live", is_flag=True, help="also ask OpenStack what each project uses (needs the site's admin)")
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def list_(sites: tuple[str, ...], manifest_dirs: tuple[str, ...], live: bool, fmt: str) -> None:
    """Agencies: names, project, allowed sites, quotas and what is allocated per site."""
    from govcloud.tenancy import BUCKETS_NOTE, QUOTA_FIELDS, allocations, default_manifest_dirs, live_status, project_quotas

    ws = _workspace()
    site_filter = [s.name for s in _sites(ws, sites)] if sites else None
    dirs = list(manifest_dirs) or [str(p) for p in default_manifest_dirs(ws.config)]
    report = allocations(ws, dirs)
    for file, problem in report.skipped:
        _err(f"warning: not counted (does not compile): {problem}")
    if not dirs:
        _err("note: no manifests/ in the config repo (and no --manifests): allocations are 0")
    rows = []
    live_failed = []
    for a in ws.inventory.registry.agencies:
        a_sites = [s for s in a.allowed_sites if site_filter is None or s in site_filter]
        if site_filter is not None and not a_sites:
            continue
        quota = {key: getattr(a.quotas, attr) for attr, key, _ in QUOTA_FIELDS}
        per_site = []
        for s in a_sites:
            entry = {"site": s, "allocated": report.get(a.id, s).to_json()}
            if live:
                site = ws.inventory.site(s)
                if site is None:
                    status = None
                    entry["live"] = {"site": s, "error": f"site '{s}' is not in the inventory"}
                else:
                    status = live_status(a, site)
                    entry["live"] = status.to_json()
                    entry["live"]["quotaDrift"] = {k: {"registry": r, "cloud": c}
                                                   for k, (r, c) in status.drift(a.quotas).items()} \
                        if status.project_id else {}
                if status is None or status.error:
                    live_failed.append(f"{a.id} at {s}: {entry['live']['error']}")
            per_site.append(entry)
        rows.append({"id": a.id, "name": {"fa": a.name.fa, "en": a.name.en}, "project": a.project,
                     "contact": a.contact, "allowedSites": list(a.allowed_sites), "quotas": quota,
                     "openstackQuotas": project_quotas(a.quotas), "sites": per_site})
    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json({"agencies": rows, "manifests": list(report.dirs),
                   "skipped": [{"file": f, "problem": p} for f, p in report.skipped],
                   "notes": [BUCKETS_NOTE]})
    else:
        _print_list(rows, live)
    if live_failed:
        _err("error: could not read the cloud for: " + "; ".join(live_failed))
        sys.exit(3)


def _print_list(rows: list[dict], live: bool) -> None:
    from govcloud.tenancy import QUOTA_FIELDS

    keys = [(key, words) for _, key, words in QUOTA_FIELDS]
    for r in rows:
        click.echo(f"{r['id']}  {r['name']['en']}  ({r['name']['fa']})")
        click.echo(f"  project {r['project']}   allowed sites: {', '.join(r['allowedSites'])}"
                   + (f"   contact: {r['contact']}" if r.get("contact") else ""))
        head = f"  {'site':<10}" + "".join(f"{w:>16}" for _, w in keys) + "   (allocated by manifests / quota)"
        click.echo(head)
        for s in r["sites"]:
            alloc = s["allocated"]
            cells = "".join(f"{_fmt(alloc[k])}/{r['quotas'][k]:<}".rjust(16) for k, _ in keys)
            click.echo(f"  {s['site']:<10}{cells}" + (f"   {len(alloc['services'])} service{'s' if len(alloc['services']) != 1 else ''}"
                                                      if alloc["services"] else ""))
            if live:
                lv = s.get("live") or {}
                if lv.get("error"):
                    click.echo(f"  {'':<10}live: error: {lv['error']}")
                elif not lv.get("projectId"):
                    click.echo(f"  {'':<10}live: " + "; ".join(lv.get("notes") or ["not onboarded"]))
                else:
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
        click.echo("")


def _fmt(v) -> str:
    if v is None:
        return "?"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


# ---------------------------------------------------------------- onboard


def _site_plan(ws, agency_, site, conn=None):
    """(plan with Keystone lookups bound, connection) of the agency at a site."""
    from govcloud.tenancy import admin_connection, admin_scope, bind_lookups, keystone_resolver, onboarding_plan

    scope = admin_scope(site)
    plan = onboarding_plan(agency_, site, admin_project=scope.project, deployer=scope.user,
                           registry_file=_registry_file(ws))
    if conn is None:
        conn = admin_connection(site)
    return bind_lookups(plan, keystone_resolver(conn)), conn


def _changes_json(result) -> list[dict]:
    return [{"key": c.key, "type": c.type, "op": c.op, "changed": list(c.changed), "id": c.id}
            for c in result.changes]


def _echo(fmt: str):
    """Human text goes to stdout in text mode, to stderr when stdout carries JSON."""
    return (lambda m: click.echo(m)) if fmt == "text" else (lambda m: click.echo(m, err=True))


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
    from govcloud.tenancy import BUCKETS_NOTE, admin_scope, onboarding_plan

    ws = _workspace()
    agency_ = _agency(ws, agency_id)
    targets = _sites(ws, sites, agency_.allowed_sites)
    say = _echo(fmt)
    if plan_only:
        plans = []
        for site in targets:
            try:
                scope = admin_scope(site)
                admin_project, user = scope.project, scope.user
            except Exception as exc:  # noqa: BLE001 - the plan is still worth showing
                _err(f"note: {site.name}: {exc}")
                admin_project, user = f"<admin project of cloud {site.cloud}>", None
            plans.append(onboarding_plan(agency_, site, admin_project=admin_project, deployer=user,
                                         registry_file=_registry_file(ws)))
        if fmt == "json":
            from govcloud.cli.render import emit_json

            emit_json({"plans": [p.to_json() for p in plans], "notes": [BUCKETS_NOTE]})
        else:
            for p in plans:
                _print_plan(p)
        return

    from govcloud.engine.locks import StackLock
    from govcloud.engine.runner import run_operation
    from govcloud.engine.command import PulumiCli
    from govcloud.engine.stack import deployed_resources, locate, unprotect
    from govcloud.settings import read_passphrase
    from govcloud.engine import events as ev
    from govcloud.cli.progress import Progress
    from govcloud.cli.views import print_changes

    read_passphrase()
    results = []
    for site in targets:
        plan, conn = _site_plan(ws, agency_, site)
        loc = locate(plan, ws.config)
        with StackLock(loc, f"govcloud agency onboard {agency_.id}") as lock:
            _recover(plan, ws.config, lock)
            cli = PulumiCli(loc, read_passphrase())
            in_state = {ev.urn_parts(r.get("urn", ""))[1] for r in deployed_resources(cli.export())}
            from govcloud.tenancy import existing_outside, with_imports

            existing = existing_outside(conn, plan, in_state)
            if existing and not adopt:
                _err(f"refusing to onboard {agency_.id} at {site.name}: {', '.join(map(str, existing))} already "
                     f"exist(s) at cloud '{site.cloud}' outside govcloud; creating it again would fail. Pass "
                     f"--adopt to take it over (its id stays, the registry's settings are applied), choose "
                     f"another project name in the registry, or delete/rename the existing one first")
                sys.exit(1)
            final_plan = plan
            if existing:
                say(f"adopting {', '.join(map(str, existing))} into {loc.name}")
                plan = with_imports(plan, existing)
            with Progress(loc.name, verb="previewing", lines=False) as p:
                preview = run_operation("preview", plan, ws.config, on_event=p.event, lock=lock,
                                               refresh_first=refresh, allow_data_loss=allow_data_loss)
            _engine_failed(preview)
            if fmt == "text":
                print_changes(preview, title=f"Onboarding {agency_.id} at {site.name}: project {agency_.project} "
                                             f"({loc.name}, as the admin of cloud '{site.cloud}'):")
            risky = [c for c in preview.changes if c.key == "project" and c.op in ("delete", "replace")]
            if risky and not allow_data_loss:
                _err(f"refusing to onboard: the project {agency_.project} would be "
                     f"{'replaced' if risky[0].op == 'replace' else 'deleted'} ("
                     + ", ".join(risky[0].changed) + "), and with it everything the agency runs there; "
                     "pass --allow-data-loss to do it anyway")
                sys.exit(1)
            if not preview.changing():
                say(f"{loc.name} is up to date: {agency_.id} is onboarded at {site.name}")
                results.append({"site": site.name, "stack": loc.name, "ok": True, "changes": [],
                                "projectId": _project_id(cli)})
                continue
            _confirm(f"Apply these changes to {loc.name}?", yes, "onboard")
            if risky:
                unprotect(cli, [c.urn for c in risky])
            with Progress(loc.name, total=len(plan.resources), verb="onboarding") as progress:
                result = run_operation("up", plan, ws.config, on_event=progress.event, lock=lock,
                                              allow_data_loss=allow_data_loss,
                                              message=f"govcloud agency onboard {agency_.id} --site {site.name}")
            _engine_failed(result)
            if existing:  # the import ignored the registry's settings of what it adopted: apply them now
                with Progress(loc.name, total=len(final_plan.resources), verb="applying the registry to") as pr:
                    settle = run_operation("up", final_plan, ws.config, on_event=pr.event, lock=lock,
                                                  message=f"govcloud agency onboard {agency_.id} --site "
                                                          f"{site.name} (after adopting)")
                _engine_failed(settle)
                say(f"applied the registry to what was adopted: {done_text(settle.counts())}")
        done = done_text(result.counts())
        project_id = next((c.id for c in result.changes if c.key == "project"), None) or _project_id(cli)
        say(f"onboarded {agency_.id} at {site.name} in {result.duration:.1f} s: {done}; project "
            f"{agency_.project} ({project_id})")
        results.append({"site": site.name, "stack": loc.name, "ok": True, "changes": _changes_json(result),
                        "projectId": project_id})
    if agency_.quotas.buckets:
        _err(f"note: buckets quota {agency_.quotas.buckets}: {BUCKETS_NOTE}")
    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json({"agency": agency_.id, "project": agency_.project, "sites": results})


def _project_id(cli) -> str | None:
    from govcloud.engine.stack import deployed_resources
    from govcloud.engine import events as ev

    for r in deployed_resources(cli.export()):
        if ev.urn_parts(r.get("urn", ""))[1] == "project":
            return r.get("id")
    return None


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


# ---------------------------------------------------------------- offboard


@agency.command()
@click.argument("agency_id", metavar="AGENCY")
@click.option("--site", "sites", multiple=True, metavar="SITE", required=True,
              help="offboard at this site (repeatable)")
@click.option("--allow-data-loss", is_flag=True,
              help="required: deleting the project deletes the agency's tenancy (its data must be gone first)")
@click.option("--yes", "-y", is_flag=True, help="do not ask")
def offboard(agency_id: str, sites: tuple[str, ...], allow_data_loss: bool, yes: bool) -> None:
    """Destroy AGENCY's onboarding stack at SITE: its quotas, roles, group and (protected) project."""
    from govcloud.engine.locks import StackLock
    from govcloud.engine.runner import run_operation
    from govcloud.engine.command import PulumiCli
    from govcloud.engine.stack import deployed_resources, locate, unprotect
    from govcloud.settings import read_passphrase
    from govcloud.engine import events as ev

    ws = _workspace()
    agency_ = _agency(ws, agency_id)
    targets = _sites(ws, sites)
    read_passphrase()
    for site in targets:
        plan, conn = _site_plan(ws, agency_, site)
        loc = locate(plan, ws.config)
        with StackLock(loc, f"govcloud agency offboard {agency_.id}") as lock:
            _recover(plan, ws.config, lock)
            cli = PulumiCli(loc, read_passphrase())
            resources = deployed_resources(cli.export())
            if not resources:
                click.echo(f"{loc.name} has no resources: {agency_.id} is not onboarded at {site.name}")
                continue
            click.echo(f"Offboard {agency_.id} at {site.name} ({loc.name}): {len(resources)} resources")
            for r in resources:
                key = ev.urn_parts(r.get("urn", ""))[1]
                flag = "  holds the agency's data" if key == "project" else ""
                click.echo(f"  - delete   {key:<18} {r.get('type', '').rsplit(':', 1)[-1]:<16}{flag}")
            project_id = next((r.get("id") for r in resources
                               if ev.urn_parts(r.get("urn", ""))[1] == "project"), None)
            leftovers = _leftovers(conn, project_id) if project_id else []
            if leftovers:
                _err(f"warning: project {agency_.project} still holds {', '.join(leftovers)}: deleting the "
                     f"project leaves them orphaned (destroy the agency's service stacks first)")
            if not allow_data_loss:
                _err(f"refusing to offboard {agency_.id} at {site.name}: the project {agency_.project} is "
                     f"protected (it holds the agency's data); pass --allow-data-loss to delete it")
                sys.exit(1)
            _confirm(f"Delete project {agency_.project} at {site.name} and its quotas, group and roles?", yes,
                     f"offboard {agency_.id}")
            unprotect(cli)
            from govcloud.cli.progress import Progress

            with Progress(loc.name, total=len(resources), verb="offboarding") as progress:
                result = run_operation("destroy", plan, ws.config, allow_data_loss=True,
                                              on_event=progress.event, lock=lock,
                                              message=f"govcloud agency offboard {agency_.id} --site {site.name}")
            _engine_failed(result)
        click.echo(f"offboarded {agency_.id} at {site.name} in {result.duration:.1f} s: deleted "
                   f"{result.counts().get('delete', 0)} resources")


def _leftovers(conn, project_id: str) -> list[str]:
    """What still lives in the project (servers, volumes, networks), best effort."""
    out = []
    checks = (("servers", lambda: conn.compute.servers(all_projects=True, project_id=project_id)),
              ("volumes", lambda: conn.block_storage.volumes(all_projects=True, project_id=project_id)),
              ("networks", lambda: conn.network.networks(project_id=project_id)))
    for what, fn in checks:
        try:
            n = sum(1 for _ in fn())
        except Exception:  # noqa: BLE001 - only a warning
            continue
        if n:
            out.append(f"{n} {what}")
    return out


def register(cli: click.Group) -> None:
    cli.add_command(agency)
