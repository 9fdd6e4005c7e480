"""Many-stack commands: `deploy|diff DIR` (through cli/stack.py), `worker`, `jobs`, `stacks`.

Thin over govcloud.ops.fleet (plan, run locally), govcloud.ops.queue (the shared queue) and the stack
index; the report is rendered by govcloud.ops.summary. Progress goes to stderr, the report to stdout.
"""
from __future__ import annotations

import os

import click

from govcloud.cli.progress import TerminalHooks, err

FORMAT = click.Choice(["text", "json"])


def register(cli: click.Group) -> None:
    for cmd in (worker, jobs, stacks):
        cli.add_command(cmd)


def is_fleet(files, *flags) -> bool:
    """A directory, several manifests or a fleet option: the many-stack workflow."""
    return len(files) > 1 or any(os.path.isdir(f) for f in files) or any(flags)


def run_fleet(operation: str, files, *, yes: bool = True, allow_data_loss: bool = False, all_: bool = False,
              queue: bool = False, wait: bool = True, parallel: int | None = None, fmt: str = "text") -> None:
    from govcloud.check import Workspace
    from govcloud.cli.render import emit_json
    from govcloud.ops import fleet, summary

    plan = fleet.plan_fleet(files, operation, force_all=all_, allow_data_loss=allow_data_loss)
    err(f"{operation}: {len(plan.tasks)} stacks to run, {len(plan.unchanged)} unchanged, "
        f"{len(plan.invalid)} invalid, {len(plan.orphans)} orphaned")
    if operation == "deploy" and plan.tasks and not yes:
        names = ", ".join(t.stack for t in plan.tasks[:10]) + (" ..." if len(plan.tasks) > 10 else "")
        TerminalHooks().confirm(f"Deploy {len(plan.tasks)} stacks ({names})?", "deploy")

    def progress(o, i, n) -> None:
        err(f"[{i}/{n}] {o.stack}: {summary.STATUS_WORDS.get(o.status, o.status)} ({o.duration:.1f} s)"
            + (f": {o.error.splitlines()[0]}" if o.error else ""))

    if queue:
        from govcloud.ops.queue import run_queued

        result = run_queued(Workspace.for_paths(files).config, plan, wait=wait, on_done=progress)
        if not wait:
            err(f"queued {len(result.queued)} jobs: `govcloud jobs` follows them")
    else:
        result = fleet.run_local(plan, parallel=parallel, on_done=progress)
    if fmt == "json":
        emit_json(summary.summary_json(result))
    elif fmt == "markdown":
        click.echo(summary.render_markdown(result), nl=False)
    else:
        click.echo(summary.render_text(result), nl=False)
    if result.exit_error() is not None:
        raise result.exit_error()


@click.command()
@click.option("--burst", is_flag=True, help="work until the queue is empty, then exit (CI, tests)")
@click.option("--name", help="the worker's name in `govcloud jobs` (default host:pid)")
def worker(burst: bool, name: str | None) -> None:
    """Run stack operations from the shared queue, one at a time (as many workers on as many machines as you like)."""
    from govcloud.config import find_config_repo
    from govcloud.ops.queue import run_worker

    run_worker(find_config_repo(), name=name, wait=not burst)


@click.command()
@click.option("--state", "states", multiple=True,
              type=click.Choice(["queued", "running", "stalled", "failed", "succeeded"]), help="only these; repeatable")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def jobs(states: tuple[str, ...], limit: int, fmt: str) -> None:
    """The queue's jobs, newest first: queued, running, stalled (their worker died), failed, with who queued them."""
    from govcloud.cli.render import emit_json
    from govcloud.config import find_config_repo
    from govcloud.shared.db import require_database
    from govcloud.shared.jobs import list_jobs

    found = list_jobs(require_database(find_config_repo(), "govcloud jobs"), states=states, limit=limit)
    if fmt == "json":
        emit_json([j.to_json() for j in found])
        return
    for j in found:
        result = (j.outcome or {}).get("status", "")
        click.echo(f"{j.id:>6} {j.state:<9} {j.operation:<6} {j.stack:<44} queued by {j.queued_by} at {j.queued_at}"
                   + (f", worker {j.worker}" if j.worker else "") + (f", {result}" if result else ""))
    if not found:
        click.echo("no jobs")


@click.command()
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def stacks(fmt: str) -> None:
    """The stack index: every stack govcloud ran, its inputs digest and last operation (never lists the backend)."""
    from govcloud.cli.render import emit_json
    from govcloud.config import find_config_repo
    from govcloud.shared.index import stack_index

    entries = stack_index(find_config_repo()).all()
    if fmt == "json":
        emit_json([e.to_json() for e in entries])
        return
    for e in entries:
        click.echo(f"{e.stack:<44} {e.agency:<8} {e.site:<9} {e.environment:<8} {e.last_operation:<7} {e.result:<11} "
                   f"{e.at} by {e.by}" + (f"  NEEDS RECOVERY: {e.needs_recovery}" if e.needs_recovery else ""))
    if not entries:
        click.echo("no stacks in the index")
