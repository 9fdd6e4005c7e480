"""The `govcloud` command: thin Click functions over the library.

Start-up stays fast: this module imports only click and govcloud's light
modules at load time; each command imports what it needs (pydantic, jinja2,
rich, and the heavy pulumi / openstacksdk / paramiko only in the commands
that talk to a cloud or a server).

Exit codes: 0 ok, 1 invalid input or policy failure, 2 usage error,
3 deploy failed. Errors go to stderr, data to stdout.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from govcloud import __version__
from govcloud.errors import GovcloudError, InputError

FORMAT = click.Choice(["text", "json"])


class GovcloudGroup(click.Group):
    """Turns every GovcloudError into a clear message and its exit code, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as exc:
            from govcloud.cli.render import print_problems

            print_problems(exc.problems)
            n = len(exc.problems)
            click.echo(f"{n} problem{'s' if n != 1 else ''}; nothing was changed", err=True)
            ctx.exit(exc.exit_code)
        except GovcloudError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=GovcloudGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="govcloud")
def cli() -> None:
    """Infrastructure as code for the abar-dowlat government cloud.

    Agencies describe services in YAML manifests; govcloud checks them against
    ministry policy, compiles them into Pulumi stacks on OpenStack, deploys
    them, reviews changes with their cost, and meters usage.
    """


def _workspace(paths):
    from govcloud.check import Workspace

    return Workspace.for_paths(paths)


def _policy_context(ws, file: str) -> list[Path]:
    """Manifests that share quotas and address space with `file`: the config
    repo's manifests/ when it has one, else the file's own directory."""
    if ws.config.root is not None and (ws.config.root / "manifests").is_dir():
        return [ws.config.root / "manifests"]
    return [Path(file).parent]


def checked_plan(file: str):
    """Load, compile and policy-check one manifest: (workspace, plan, cost, report).

    Mandatory policy findings raise InputError (exit 1); advisory ones are
    printed as warnings on stderr.
    """
    from govcloud.plan.cost import estimate
    from govcloud.cli.render import print_problems
    from govcloud.policy import check_paths

    ws = _workspace([file])
    (result,), report = check_paths([file], ws, context=_policy_context(ws, file))
    if not result.ok:
        raise InputError(result.problems)
    print_problems(result.problems)
    plan_ = result.plan
    return ws, plan_, estimate(plan_, ws.inventory.site(plan_.service.site).rate_card), report


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def validate(paths: tuple[str, ...], fmt: str) -> None:
    """Check manifests (files or directories): schema, cross-checks and the policy pack; exit 1 on any error."""
    from govcloud.policy import check_paths

    results, report = check_paths(paths, _workspace(paths))
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
        sys.exit(1)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of manifests (for editors and CI)."""
    from govcloud.load.manifest import manifest_json_schema
    from govcloud.cli.render import emit_json

    emit_json(manifest_json_schema())


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def plan(file: str, fmt: str) -> None:
    """The ResourcePlan of a manifest and its monthly cost, offline (policy-checked)."""
    _, plan_, cost, report = checked_plan(file)
    if fmt == "json":
        from govcloud.cli.render import emit_json

        data = plan_.to_json()
        data["cost"] = cost.to_json()
        data["policy"] = report.to_json()
        emit_json(data)
    else:
        from govcloud.cli.render import print_plan

        print_plan(plan_, cost)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def cost(file: str, fmt: str) -> None:
    """Monthly estimate from the site's rate card, per resource and in total."""
    _, plan_, estimate, _report = checked_plan(file)
    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json({"service": plan_.to_json()["service"], **estimate.to_json()})
    else:
        from govcloud.cli.render import print_cost

        print_cost(plan_, estimate)


@cli.command()
@click.option("--site", default=None, help="price the blueprints at this site (default: the first site)")
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
def blueprints(site: str | None, fmt: str) -> None:
    """The service blueprints the ministry offers, what they create and their monthly price."""
    from govcloud.check import price_blueprints

    rows = price_blueprints(_workspace([]), site)
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


@cli.command()
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


from govcloud.cli.usage import register as _register_usage; _register_usage(cli)
from govcloud.cli.policy import register as _register_policy; _register_policy(cli)
from govcloud.cli.stack import register as _register_stack; _register_stack(cli)
from govcloud.cli.agency import register as _register_agency; _register_agency(cli)
from govcloud.cli.verify import register as _register_verify; _register_verify(cli)


def main() -> None:
    cli(prog_name="govcloud")


if __name__ == "__main__":  # pragma: no cover
    main()
