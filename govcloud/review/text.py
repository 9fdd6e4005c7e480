"""The review for a terminal (`govcloud diff`, and `deploy` / `destroy` before they ask).

One line per changed resource (op, key, kind, what it is, its cost difference, DATA LOSS), its field
changes old -> new under it, then the data-loss list, cautions, policy findings, engine errors, the
monthly totals and the verdict. Colour (rich) only on a terminal and without NO_COLOR; piped output is
plain text. rich is imported only when a review is rendered.
"""
from __future__ import annotations

import shutil
import sys
from io import StringIO
from typing import TYPE_CHECKING, Any, TextIO

from govcloud.engine.events import MARK, Op
from govcloud.plan.cost import money
from govcloud.review.model import ADDED, REMOVED, ResourceReview, Review, signed

if TYPE_CHECKING:
    from rich.console import Console

_STYLE = {Op.CREATE: "green", Op.UPDATE: "yellow", Op.REPLACE: "magenta", Op.DELETE: "red", Op.IMPORT: "cyan",
          Op.DISCARD: "red", Op.SAME: "dim", Op.READ: "dim", Op.REFRESH: "dim", Op.UNKNOWN: "dim"}
_GONE = "no longer in the manifest"  # a delete says it already


def render_text(review: Review, *, color: bool = False, width: int = 120, show_same: bool = False,
                limit: int = 60) -> str:
    """The review for a terminal: colour only when `color` (print_review decides: tty and no NO_COLOR)."""
    from rich.console import Console
    from rich.text import Text

    buf = StringIO()
    con = Console(file=buf, force_terminal=color, no_color=not color, color_system="standard" if color else None,
                  width=width, highlight=False, soft_wrap=True, emoji=False, markup=False)
    s = review.service
    head = Text(f"Review of {review.stack}", style="bold")
    head.append(f" ({review.operation}: project {s.project} at {s.site}"
                + (f", {review.manifest}" if review.manifest else "") + ")", style="")
    con.print(head)
    rows = [r for r in review.resources if show_same or r.changing]
    if not rows:
        con.print("  no changes")
    key_width = max([len(r.key) for r in rows] + [8])
    kind_width = max([len(r.kind) for r in rows] + [4])
    for r in rows:
        _print_resource(con, r, review.currency, key_width, kind_width, limit)
    hidden = sum(1 for r in review.resources if not r.changing)
    if hidden and not show_same:
        con.print(Text(f"  ({hidden} unchanged, not shown)", style="dim"))
    _print_sections(con, review)
    _print_totals(con, review)
    return buf.getvalue()


def _print_resource(con: Console, r: ResourceReview, currency: str, key_width: int, kind_width: int,
                    limit: int) -> None:
    from rich.text import Text

    style = _STYLE.get(r.op, "")
    line = Text("  ")
    line.append(f"{MARK.get(r.op, '?')} {r.op:<8}", style=style + " bold" if style else "bold")
    line.append(f" {r.key:<{key_width}}  {r.kind:<{kind_width}}  ")
    line.append(r.summary or r.name, style="dim" if not r.summary else "")
    d = r.monthly_delta
    if d is None:
        line.append(f"   {currency} ? (unpriced)", style="yellow")
    elif d != 0:
        line.append(f"   {signed(d)} {currency}/month", style="red" if d > 0 else "green")
    if r.data_loss:
        line.append("   DATA LOSS", style="bold red")
    line.rstrip()
    con.print(line)
    for why in r.replace_reasons:
        con.print(Text(f"        why replaced: {why}", style="magenta"))
    if r.op in (Op.UPDATE, Op.REPLACE):
        path_width = max([len(f.path) for f in r.fields] + [4])
        for f in r.fields:
            t = Text(f"        {f.path:<{path_width}}  ")
            t.append(f.text(f.old, limit) if f.kind not in ADDED else "(not set)", style="red")
            t.append(" -> ")
            t.append(f.text(f.new, limit) if f.kind not in REMOVED else "(removed)", style="green")
            if f.forces_replacement:
                t.append("  (forces replacement)", style="magenta")
            con.print(t)
    if r.data_loss:
        con.print(Text(f"        data loss: {r.data_loss}", style="bold red"))
    for n in r.notes:
        if n != _GONE or r.op != Op.DELETE:
            con.print(Text(f"        note: {n}", style="dim"))


def _print_sections(con: Console, review: Review) -> None:
    """Data loss, cautions, policy findings and engine errors, each under its title when there are any."""
    from rich.text import Text

    def section(title: str, style: str, lines: list[tuple[str, str]]) -> None:
        if lines:
            con.print()
            con.print(Text(title, style=style))
            for text, line_style in lines:
                con.print(Text(f"  {text}", style=line_style))

    section("Data loss (allowed by --allow-data-loss):" if review.allow_data_loss else
            "Data loss (blocked: pass --allow-data-loss to apply, after a backup):", "bold red",
            [(f"✗ {d.describe()}", "red") for d in review.data_loss])
    section("Cautions:", "bold yellow", [(f"! {c}", "yellow") for c in review.cautions])
    section("Policy findings:", "bold",
            [(p.format(), "red" if p.severity == "error" else "yellow") for p in review.findings])
    section("Engine errors:", "bold red", [(e, "red") for e in review.errors])


def _print_totals(con: Console, review: Review) -> None:
    from rich.text import Text

    con.print()
    cost = Text(f"Monthly cost ({review.currency}): {money(review.monthly_before):,} -> "
                f"{money(review.monthly_after):,} (")
    d = review.monthly_delta
    cost.append(signed(d), style="red" if d > 0 else ("green" if d < 0 else ""))
    cost.append(")")
    if review.unpriced:
        cost.append(f"; before leaves out {', '.join(review.unpriced)} (cannot be priced)", style="yellow")
    con.print(cost)
    verdict = Text("Verdict: ", style="bold")
    verdict.append(review.verdict, style="bold red" if review.blocked else "bold")
    con.print(verdict)


def print_review(review: Review, stream: TextIO | None = None, *, show_same: bool = False) -> None:
    """The text review on stdout (or `stream`): colour on a terminal, none when piped or NO_COLOR is set."""
    stream = stream or sys.stdout
    color = _want_color(stream)
    width = shutil.get_terminal_size((120, 40)).columns if color else 120
    stream.write(render_text(review, color=color, width=width, show_same=show_same))
    stream.flush()


def _want_color(stream: Any) -> bool:
    from govcloud.settings import env

    if env("NO_COLOR"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
