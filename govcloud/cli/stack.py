"""Stack commands: deploy, destroy, refresh, diff, status, outputs, history, unlock, doctor.

Each is a thin Click function over one library call in govcloud.ops (the
workflows) or govcloud.doctor, plus rendering. Only click is imported at
module level: pulumi, openstacksdk and rich load inside the commands that need
them, so `govcloud --help` and `govcloud validate` stay fast.

Exit codes come from the library's typed exceptions, mapped once in
govcloud.cli.GovcloudGroup: 0 ok; 1 invalid input, policy failure, a refusal
(no confirmation, data loss without --allow-data-loss, a stale saved plan,
prod destroy without --confirm), drift found by `refresh --check`, or a missing
prerequisite; 2 usage; 3 the engine failed (the provider's message is printed,
never a traceback). Data goes to stdout, progress and messages to stderr.
"""
from __future__ import annotations

import os

import click

from govcloud.cli.offline import exit_without_collecting
from govcloud.cli.progress import TerminalHooks, err
from govcloud.cli.verify import access_options
from govcloud.errors import RefusedError

FORMAT = click.Choice(["text", "json"])
REVIEW_FORMAT = click.Choice(["text", "markdown", "json"])
MANIFEST = click.Path(exists=True, dir_okay=False)


def register(cli: click.Group) -> None:
    for cmd in (deploy, destroy, refresh, status, outputs, history, diff, unlock, doctor):
        cli.add_command(cmd)


class DriftFound(RefusedError):
    """`refresh --check` found changes made outside govcloud (exit 1, like a failed check)."""


def _timings(timings) -> None:
    from govcloud.settings import env

    if env("GOVCLOUD_TIMINGS"):  # benchmarks read the phases of a command
        err(timings.text())


MANIFESTS = click.Path(exists=True)


def fleet_options(fn):
    """--all, --queue, --no-wait, --parallel for DIR (many stacks: govcloud/cli/fleet.py)."""
    for opt in reversed([
            click.option("--all", "all_", is_flag=True, help="DIR: every stack, not only those whose inputs changed"),
            click.option("--queue", is_flag=True, help="run the stacks as jobs of the shared queue (govcloud worker)"),
            click.option("--no-wait", is_flag=True, help="with --queue: return once the jobs are queued")]):
        fn = opt(fn)
    return fn


@click.command()
@click.argument("files", nargs=-1, required=True, type=MANIFESTS)
@click.option("--yes", "-y", is_flag=True, help="apply without asking (CI); required when stdin is not a terminal")
@click.option("--allow-data-loss", is_flag=True,
              help="allow deleting or replacing volumes and buckets (they are protected otherwise)")
@click.option("--replace", "replace", multiple=True, metavar="KEY",
              help="replace this resource even if unchanged (e.g. a server whose user data changed); repeatable")
@click.option("--refresh", is_flag=True, help="refresh the state from the cloud before the preview")
@click.option("--skip-preview", is_flag=True,
              help="a first deploy: apply without the preview (the review lists every resource created); "
                   "refused for a stack that holds resources")
@click.option("--plan", "plan_file", type=MANIFEST, metavar="PLAN",
              help="apply exactly this saved plan (govcloud diff FILE --out PLAN); refused if the manifest, "
                   "the compiled plan, the stack or the preview moved since")
@click.option("--verify", "then_verify", is_flag=True,
              help="after the apply, check every server over SSH (govcloud verify); exit 1 if a check fails")
@access_options
@fleet_options
@click.option("--parallel", type=int, default=None, help="DIR: stacks at once in the local pool (default: CPU count)")
@click.option("--format", "fmt", type=REVIEW_FORMAT, default="text", show_default=True, help="DIR: the report")
def deploy(files: tuple[str, ...], yes: bool, allow_data_loss: bool, replace: tuple[str, ...], refresh: bool,
           skip_preview: bool, plan_file: str | None, then_verify: bool, known_hosts, key, user, all_: bool,
           queue: bool, no_wait: bool, parallel: int | None, fmt: str) -> None:
    """Preview, guard and apply a manifest: exit 3 when the engine fails.

    DIR (or several manifests): every stack whose inputs changed, locally in parallel or through the queue;
    one review per stack and a summary."""
    exit_without_collecting()
    from govcloud.cli.fleet import is_fleet, run_fleet
    from govcloud.cli.views import print_deployed
    from govcloud.cli.verify import emit_reports, fail_unless_ok, verify_options
    from govcloud.ops.deploy import deploy as run

    if is_fleet(files, all_, queue):
        if then_verify or plan_file or replace or skip_preview:
            raise click.UsageError("--verify, --plan, --replace and --skip-preview take one manifest, not DIR")
        return run_fleet("deploy", files, yes=yes, allow_data_loss=allow_data_loss, all_=all_, queue=queue,
                         wait=not no_wait, parallel=parallel, fmt=fmt)
    file = files[0]
    res = run(file, yes=yes, allow_data_loss=allow_data_loss, replace=replace, refresh=refresh,
              skip_preview=skip_preview, plan_file=plan_file,
              verify=verify_options(known_hosts, key, user) if then_verify else None, hooks=TerminalHooks())
    print_deployed(res)
    _timings(res.timings)
    if res.verify is not None:
        emit_reports([res.verify], "text")
        fail_unless_ok([res.verify])


@click.command()
@click.argument("file", type=MANIFEST)
@click.option("--yes", "-y", is_flag=True, help="do not ask (not enough for prod: see --confirm)")
@click.option("--confirm", "confirm_name", metavar="STACK", help="the stack name, required to destroy a prod stack")
@click.option("--allow-data-loss", is_flag=True, help="also delete volumes and buckets (protected otherwise)")
def destroy(file: str, yes: bool, confirm_name: str | None, allow_data_loss: bool) -> None:
    """Delete every resource of a manifest's stack (guarded)."""
    exit_without_collecting()
    from govcloud.ops.destroy import destroy as run

    res = run(file, yes=yes, confirm_name=confirm_name, allow_data_loss=allow_data_loss, hooks=TerminalHooks())
    if res.result is None:
        click.echo(f"{res.stack} has no resources: nothing to destroy")
    else:
        click.echo(f"destroyed {res.stack} in {res.result.duration:.1f} s: deleted {res.deleted} resources")


@click.command()
@click.argument("file", type=MANIFEST)
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
@click.option("--check", is_flag=True,
              help="only report drift, record nothing; exit 1 when anything changed outside govcloud")
def refresh(file: str, fmt: str, check: bool) -> None:
    """Drift: read every resource back from the cloud and show what changed outside govcloud.

    Without --check the state records what was found (like `pulumi refresh`); with it nothing is written
    and the exit code says whether there is drift (CI).
    """
    exit_without_collecting()
    from govcloud.cli.render import emit_json
    from govcloud.cli.views import print_drift
    from govcloud.ops.refresh import refresh as run

    res = run(file, check=check, hooks=TerminalHooks())
    if fmt == "json":
        emit_json({"stack": res.stack, "recorded": res.recorded, "drift": [c.to_json() for c in res.drift],
                   "unmanagedRules": [r.to_json() for r in res.unmanaged_rules], "ok": True})
    else:
        print_drift(res, file)
    if check and res.drifted:
        raise DriftFound(f"{res.stack} drifted: {len(res.drift) + len(res.unmanaged_rules)} changes outside govcloud")


@click.command()
@click.argument("files", nargs=-1, required=True, type=MANIFESTS)
@click.option("--format", "fmt", type=REVIEW_FORMAT, default="text", show_default=True)
@fleet_options
@click.option("--parallel", type=int, default=None, help="previews run at once (default: CPU count)")
@click.option("--out", type=click.Path(dir_okay=False), metavar="PLAN",
              help="save the reviewed change as a plan file for `deploy --plan PLAN` (one manifest)")
@click.option("--show-same", is_flag=True, help="list unchanged resources too")
def diff(files: tuple[str, ...], fmt: str, all_: bool, queue: bool, no_wait: bool, parallel: int | None,
         out: str | None, show_same: bool) -> None:
    """The review of what deploy would change (a real preview): per resource its op, changed fields, why a
    replacement, cost before/after, data loss; as text, markdown (merge requests) or json (tools).

    A DIR previews only the stacks whose inputs changed, with a summary; named files are always previewed."""
    exit_without_collecting()
    from govcloud.cli.fleet import run_fleet
    from govcloud.cli.views import print_diff
    from govcloud.ops.diff import diff as run

    if any(os.path.isdir(f) for f in files) or all_ or queue:
        return run_fleet("diff", files, all_=all_, queue=queue, wait=not no_wait, parallel=parallel, fmt=fmt)
    res = run(files, parallel=parallel, out=out, hooks=TerminalHooks(show_review=False))
    print_diff(res, fmt, show_same=show_same)
    if res.exit_error() is not None:
        raise res.exit_error()


@click.command()
@click.argument("file", type=MANIFEST)
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def status(file: str, fmt: str) -> None:
    """The stack of a manifest: deployed or not, resources, last operation, locks."""
    from govcloud.cli.render import emit_json
    from govcloud.cli.views import print_status
    from govcloud.ops.inspect import status as run

    st = run(file)
    emit_json(st.to_json()) if fmt == "json" else print_status(st)


@click.command()
@click.argument("file", type=MANIFEST)
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def outputs(file: str, fmt: str) -> None:
    """The stack outputs: servers with their IPs, network id, volumes, buckets."""
    from govcloud.cli.render import emit_json
    from govcloud.cli.views import print_outputs
    from govcloud.ops.inspect import outputs as run

    data = run(file)
    emit_json(data) if fmt == "json" else print_outputs(data)


@click.command()
@click.argument("file", type=MANIFEST)
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
@click.option("--audit", "from_audit", is_flag=True,
              help="only govcloud's audit log (also the runs refused before the engine), without the engine's")
def history(file: str, limit: int, fmt: str, from_audit: bool) -> None:
    """The stack's operations, newest first: the engine's update history joined with govcloud's audit log
    (who, from which git commit and manifest, with what result); runs refused before the engine too. A warning
    when the audit log's hash chain is broken (see `govcloud audit verify`)."""
    from govcloud.cli.render import emit_json
    from govcloud.ops.history import format_history, format_merged_history
    from govcloud.ops.inspect import history as run

    h = run(file, limit, audit_only=from_audit)
    if h.chain is not None and not h.chain.ok:  # the records below may not be what was written
        err(f"warning: {h.chain.summary()} (govcloud audit verify)")
    if fmt == "json":
        emit_json([e.to_json() for e in (reversed(h.entries) if from_audit else h.entries)])
    elif not h.entries:
        click.echo(f"{h.stack}: no deploys or destroys in the audit log ({h.audit_file})" if from_audit else
                   f"{h.stack}: no history (never deployed)")
    else:
        for line in (format_history(h.entries) if from_audit else format_merged_history(h.entries)):
            click.echo(line)


@click.command()
@click.argument("file", type=MANIFEST)
@click.option("--force", is_flag=True, help="remove every engine lock, even one this host cannot prove dead")
def unlock(file: str, force: bool) -> None:
    """Remove a stack's engine lock left by a killed run (live runs are never unlocked without --force)."""
    from govcloud.ops.inspect import unlock as run

    _stack, notes = run(file, force=force)
    for n in notes:
        click.echo(n)


@click.command()
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
@click.option("--timeout", type=float, default=5.0, show_default=True, help="seconds to wait for each Keystone")
@click.option("--site", "sites", multiple=True, metavar="SITE",
              help="a site this machine must reach (its check becomes required); repeatable")
def doctor(fmt: str, timeout: float, sites: tuple[str, ...]) -> None:
    """Check what deploys need: Pulumi CLI, OpenStack plugin, backend, passphrase, cloud credentials per site."""
    from govcloud.check import Workspace
    from govcloud.cli.render import emit_json
    from govcloud.doctor import run_checks

    checks = run_checks(Workspace(), timeout=timeout, sites=list(sites))
    if fmt == "json":
        emit_json({"ok": all(c.ok or not c.required for c in checks), "checks": [c.to_json() for c in checks]})
        return
    for c in checks:
        click.echo(f"[{'ok  ' if c.ok else ('FAIL' if c.required else 'warn')}] {c.name}: {c.detail}")
        if not c.ok and c.fix:
            click.echo(f"       fix: {c.fix}")
