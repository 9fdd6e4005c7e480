"""`govcloud policy list|check`: the ministry's policy pack on the command line.

Registered by `register(cli)`. Only click and the standard library are
imported here; the policy engine (pydantic, the compiler) is imported when
a policy command runs.
"""
from __future__ import annotations

import click

from govcloud.cli.offline import jobs_option


def register(cli: click.Group) -> None:
    cli.add_command(policy)


@click.group()
def policy() -> None:
    """The ministry's policy pack: list the rules, check manifests against them."""


def _workspace(paths):
    from govcloud.check import Workspace

    return Workspace.for_paths(paths)


@policy.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
def list_rules(fmt: str) -> None:
    """The rules in force (baseline, installed packs, the config repo's own) and the exceptions of policies.yaml."""
    from govcloud.policy import load_policy_config, load_rules

    ws = _workspace([])
    rules = load_rules(ws.config)
    if fmt == "markdown":
        from govcloud.policy.docs import render_markdown

        click.echo(render_markdown(rules), nl=False)
        return
    cfg = load_policy_config(ws.config, [r.id for r in rules], ws.inventory)
    if fmt == "json":
        from govcloud.cli.render import emit_json

        emit_json(_rules_json(rules, cfg))
    else:
        _print_rules(rules, cfg)


def _rules_json(rules, cfg) -> dict:
    return {"rules": [{"id": r.id, "title": r.title, "severity": r.severity, "resource": r.resource,
                       "hint": r.hint, "scope": r.scope, "settings": list(r.settings), "source": r.source,
                       "description": r.description} for r in rules],
            "policyFile": cfg.file,
            "exceptions": [e.to_json() for e in cfg.exceptions]}


def _print_rules(rules, cfg) -> None:
    width = max(len(r.title) for r in rules)
    for r in rules:
        source = "" if r.source == "builtin" else f"  ({r.source})"
        click.echo(f"{r.id:<8} {r.severity:<10} {r.title:<{width}}  {r.resource}{source}")
    if cfg.exceptions:
        click.echo(f"\nexceptions ({cfg.file}):")
        for e in cfg.exceptions:
            loc = f"{e.location.line}" if e.location else "?"
            click.echo(f"  line {loc}: {e.rule} {e.severity} for {e.scope_text()}: {e.justification}")


@policy.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@jobs_option
def check(paths: tuple[str, ...], fmt: str, jobs: int | None) -> None:
    """Check manifests (files or directories) against the policy pack; exit 1 on any mandatory finding."""
    from govcloud.cli.offline import InvalidManifests
    from govcloud.check import validate_paths

    results, report = validate_paths(paths, _workspace(paths), jobs=jobs)
    if not results:
        raise click.UsageError("no manifests (*.yaml, *.yml) found in " + ", ".join(paths))
    bad = [r for r in results if not r.ok]
    if fmt == "json":
        from govcloud.cli.render import emit_json, files_json

        data = report.to_json()
        data["files"] = files_json(results)
        data["summary"].update(checked=len(results), valid=len(results) - len(bad), invalid=len(bad))
        emit_json(data)
    else:
        _print_check(results, bad, report)
    if bad:
        raise InvalidManifests(f"{len(bad)} of {len(results)} manifests failed the policy check")


def _print_check(results, bad, report) -> None:
    from govcloud.cli.render import print_check_results

    print_check_results(results, report)
    for e in report.unused_exceptions():
        click.echo(f"{e.location or report.policy.file}: note: exception for {e.rule} "
                   f"({e.scope_text()}) matched nothing")
    click.echo(report.summary())
    click.echo(f"{len(results)} manifest{'s' if len(results) != 1 else ''} checked: "
               f"{len(results) - len(bad)} passed, {len(bad)} failed")
