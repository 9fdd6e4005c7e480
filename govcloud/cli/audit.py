"""`govcloud audit verify`: is the audit log whole?

A thin command over govcloud.ops.auditheads.verify_audit: the log's hash chain recomputed (ops/auditchain.py)
and the heads kept in the stacks' state compared with it. Exit 0 when intact, 1 when a record was changed,
removed or reordered (the first one named by file:line). Only click is imported at module level.
"""
from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    cli.add_command(audit)


@click.group()
def audit() -> None:
    """The audit log of deploys and destroys (.govcloud/audit.log, or the shared database's table): a hash
    chain, its head kept in each stack's state."""


@audit.command()
@click.option("--stack", metavar="STACK", help="compare only this stack's head (project/stack or the stack alone); "
                                                "the whole chain is always checked")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def verify(stack: str | None, fmt: str) -> None:
    """Recompute the audit log's hash chain and compare it with the heads kept in the stacks' state: names the
    first record that was changed, removed or reordered (exit 1)."""
    from govcloud.cli.render import emit_json
    from govcloud.config import find_config_repo
    from govcloud.ops.auditheads import verify_audit

    report = verify_audit(find_config_repo(), stack)
    if fmt == "json":
        emit_json(report.to_json())
    else:
        for line in report.lines():
            click.echo(line)
    report.raise_if_broken()
