"""Offline commands: validate, schema, plan, cost, blueprints, init. No cloud, no engine.

Each is a thin Click function over one library call (govcloud.check, govcloud.policy, govcloud.scaffold)
plus rendering (govcloud.cli.render). They import nothing heavy: `validate one.yaml` must stay fast.
"""
from __future__ import annotations

from pathlib import Path

import click

from govcloud.errors import GovcloudError

FORMAT = click.Choice(["text", "json"])


def jobs_option(fn):
    """--jobs for the commands that check many manifests (validate, policy check)."""
    return click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
                        help="check a large batch in up to this many processes (default: one per CPU; "
                             "1: in this process only); the output is the same")(fn)


class InvalidManifests(GovcloudError):
    """Some manifests did not pass `validate` (their problems were printed above): exit 1."""


def register(cli: click.Group) -> None:
    for cmd in (validate, schema, plan, cost, blueprints, init):
        cli.add_command(cmd)


_exit_registered: list[bool] = []


def exit_without_collecting() -> None:
    """Skip the interpreter's last cycle collections when this process exits.

    At exit they walk every object the imports made (pydantic's schemas and
    validators, typing's caches, openstacksdk): about a fifth of a one-file
    `validate` and 0.3 s of every `deploy` (benchmarks/README.md), to free
    memory the OS takes back anyway. Objects frozen by gc.freeze() at exit
    are not walked, and cyclic garbage left then is not finalized. For the
    one-shot commands (the offline ones; deploy, destroy, refresh, diff):
    what they must keep is written explicitly before they return (files
    closed by `with`, the audit log flushed and committed, the state by the
    engine child), and the OS closes their sockets, locks and pipes at exit.
    Not for long-running processes (the queue worker).
    """
    if not _exit_registered:
        import atexit
        import gc

        atexit.register(gc.freeze)
        _exit_registered.append(True)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
@jobs_option
def validate(paths: tuple[str, ...], fmt: str, jobs: int | None) -> None:
    """Check manifests (files or directories): schema, cross-checks and the policy pack; exit 1 on any error."""
    exit_without_collecting()
    from govcloud.check import Workspace, validate_paths

    results, report = validate_paths(paths, Workspace.for_paths(paths), jobs=jobs)
    bad = [r for r in results if not r.ok]
    if fmt == "json":
        from govcloud.cli.render import emit_json, files_json

        emit_json({"files": files_json(results),
                   "policy": report.to_json(),
                   "summary": {"checked": len(results), "valid": len(results) - len(bad), "invalid": len(bad)}})
    else:
        from govcloud.cli.render import print_check_results

        print_check_results(results, report)
        click.echo(f"{len(results)} manifest{'s' if len(results) != 1 else ''} checked: "
                   f"{len(results) - len(bad)} valid, {len(bad)} invalid")
    if not results:
        raise click.UsageError("no manifests (*.yaml, *.yml) found in " + ", ".join(paths))
    if bad:
        raise InvalidManifests(f"{len(bad)} of {len(results)} manifests invalid")


@click.command()
def schema() -> None:
    """Print the JSON Schema of manifests (for editors and CI)."""
    from govcloud.load.manifest import manifest_json_schema
    from govcloud.cli.render import emit_json

    emit_json(manifest_json_schema())


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def plan(file: str, fmt: str) -> None:
    """The ResourcePlan of a manifest and its monthly cost, offline (policy-checked)."""
    exit_without_collecting()
    from govcloud.cli.render import emit_json, print_plan, print_problems
    from govcloud.check import check_manifest

    checked = check_manifest(file)
    print_problems(checked.problems)
    if fmt == "json":
        emit_json({**checked.plan.to_json(), "cost": checked.cost.to_json(), "policy": checked.policy.to_json()})
    else:
        print_plan(checked.plan, checked.cost)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def cost(file: str, fmt: str) -> None:
    """Monthly estimate from the site's rate card, per resource and in total."""
    exit_without_collecting()
    from govcloud.cli.render import emit_json, print_cost, print_problems
    from govcloud.check import check_manifest

    checked = check_manifest(file)
    print_problems(checked.problems)
    if fmt == "json":
        emit_json({"service": checked.plan.to_json()["service"], **checked.cost.to_json()})
    else:
        print_cost(checked.plan, checked.cost)


@click.command()
@click.option("--site", default=None, help="price the blueprints at this site (default: the first site)")
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def blueprints(site: str | None, fmt: str) -> None:
    """The service blueprints the ministry offers, what they create and their monthly price."""
    from govcloud.check import price_blueprints

    from govcloud.check import Workspace

    rows = price_blueprints(Workspace.for_paths([]), site)
    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json([r.to_json() for r in rows])
        return
    from rich.table import Table

    from govcloud.cli.render import console

    table = Table(title=f"Service blueprints (priced at {rows[0].site if rows else site})", title_justify="left")
    for col in ("blueprint", "description", "creates", "monthly"):
        table.add_column(col, justify="right" if col == "monthly" else "left")
    for r in rows:
        table.add_row(r.name, r.description, r.creates_text(), r.monthly_text())
    console().print(table)


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--agency", default="moh", show_default=True, help="agency of the sample manifest")
@click.option("--site", default="thr1", show_default=True, help="site of the sample manifest")
@click.option("--force", is_flag=True, help="write into a directory that is not empty")
def init(directory: str, agency: str, site: str, force: bool) -> None:
    """Scaffold a config repo: govcloud.yaml, inventories/, manifests/ with a sample that validates."""
    from govcloud.scaffold import init_config_repo

    written = init_config_repo(Path(directory), agency=agency, site=site, force=force)
    for path in written:
        click.echo(f"created {path}")
    click.echo(f"next: govcloud validate {Path(directory) / 'manifests'}")
