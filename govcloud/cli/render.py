"""Rendering data for people (tables) and machines (JSON) on stdout.

rich is imported only when a table is drawn. Colour follows rich's own
rules: none when stdout is not a terminal or when NO_COLOR is set.
"""
from __future__ import annotations

import json
import sys
from typing import Any, Iterable

import click

from govcloud.plan.cost import CostEstimate, format_money, money
from govcloud.errors import Problem, printable
from govcloud.plan.describe import describe
from govcloud.plan.model import ResourcePlan


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False,
                   width=None if (sys.stderr if stderr else sys.stdout).isatty() else 140)


def print_problems(problems: Iterable[Problem]) -> None:
    lines = [p.format() for p in problems]
    if lines:  # one write: a directory's thousands of findings cost one echo, not one each
        click.echo("\n".join(lines), err=True)


def files_json(results) -> list[dict]:
    """The per-file part of `validate` / `policy check` JSON."""
    return [{"file": printable(r.file), "ok": r.ok, "problems": [p.to_dict() for p in r.problems]} for r in results]


def print_check_results(results, report) -> None:
    """What `validate` and `policy check` print per file: problems, waived findings, the exceptions used."""
    lines = [p.format() for r in results for p in r.problems] + [f.format_waiver() for f in report.waived]
    if lines:  # one write to stderr (the same lines in the same order as one echo each)
        click.echo("\n".join(lines), err=True)
    for line in report.exception_lines():
        click.echo(line)


def print_plan(plan: ResourcePlan, cost: CostEstimate) -> None:
    from rich.table import Table

    per = cost.by_resource()
    s = plan.service
    table = Table(title=f"{s.pulumi_project}/{s.stack} at {s.site} (project {s.project}): "
                        f"{len(plan.resources)} resources", title_justify="left")
    for col in ("resource", "kind", "OpenStack name", "details", "data", f"monthly {cost.currency}"):
        table.add_column(col, justify="right" if col.startswith("monthly") else "left")
    for r in plan.resources:
        table.add_row(r.key, r.kind, r.name, describe(r), "stateful" if r.stateful else "",
                      f"{money(per[r.key]):,}" if r.key in per else "")
    table.add_section()
    table.add_row("total", "", "", "", "", f"{money(cost.total):,}")
    console().print(table)


def print_cost(plan: ResourcePlan, cost: CostEstimate) -> None:
    from rich.table import Table

    s = plan.service
    table = Table(title=f"Monthly estimate of {s.prefix} at {s.site} (730 h/month, {cost.currency})",
                  title_justify="left")
    for col, just in (("resource", "left"), ("meter", "left"), ("quantity", "right"),
                      ("unit price", "right"), ("monthly", "right")):
        table.add_column(col, justify=just)
    for line in cost.lines:
        table.add_row(line.key, line.meter, f"{line.quantity.normalize():,f}", f"{line.unit_price:,}",
                      f"{money(line.monthly):,}")
    table.add_section()
    table.add_row("total", "", "", "", format_money(cost.total, cost.currency))
    console().print(table)
