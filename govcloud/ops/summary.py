"""The report of a many-stack run: one review per stack that ran, then one summary (changed, unchanged,
failed, orphaned; the total monthly cost delta), as text, markdown (one merge-request comment) or JSON.

Reviews come rendered with their outcomes (they were rendered where the stack ran: a pool process or a
queue worker on another machine), so this module only assembles text.
"""
from __future__ import annotations

from decimal import Decimal

from govcloud.ops.fleet import FleetResult, StackOutcome

SCHEMA = "govcloud.FleetSummary/v1"
STATUS_WORDS = {"applied": "deployed", "changed": "changes", "unchanged": "no changes", "refused": "REFUSED",
                "failed": "FAILED"}


def _money(d: Decimal) -> str:
    sign = "+" if d > 0 else ("-" if d < 0 else "±")
    return f"{sign}{abs(d):,.0f}"


def cost_text(result: FleetResult) -> str:
    deltas = result.cost_delta()
    if not deltas:
        return "cost unchanged"
    return ", ".join(f"{_money(v)} {cur}/month" for cur, v in sorted(deltas.items()))


def headline(result: FleetResult) -> str:
    verb = "deploy" if result.plan.operation == "deploy" else "diff"
    parts = [f"{len(result.changed)} changed", f"{result.unchanged_count} unchanged", f"{len(result.failed)} failed"]
    if result.plan.orphans:
        parts.append(f"{len(result.plan.orphans)} orphaned")
    return f"govcloud {verb}: {len(result.outcomes) + len(result.plan.unchanged)} stacks: " + ", ".join(parts) + \
        f"; {cost_text(result)}"


def _line(o: StackOutcome) -> str:
    what = STATUS_WORDS.get(o.status, o.status)
    counts = ", ".join(f"{n} {op}" for op, n in o.counts.items() if op != "same")
    tail = f" ({counts})" if counts and o.status in ("applied", "changed") else ""
    return f"{what}{tail}"


def render_text(result: FleetResult, *, reviews: bool = True) -> str:
    out: list[str] = []
    if reviews:
        for o in result.outcomes:
            if o.review_text:
                out.append(o.review_text.rstrip("\n"))
            if o.error:
                out.append(f"{o.stack if o.stack != '?' else o.manifest}: {STATUS_WORDS.get(o.status, o.status)}:")
                out += [f"  {ln}" for ln in o.error.splitlines()]
            if o.review_text or o.error:
                out.append("")
    out.append(headline(result))
    for o in result.outcomes:
        out.append(f"  {o.stack:<44} {o.manifest:<40} {_line(o)}  {o.duration:.1f} s")
        out += [f"      {n}" for n in o.notes]
    for u in result.plan.unchanged:
        out.append(f"  {u.stack:<44} {u.manifest:<40} unchanged inputs (not run)")
    for e in result.plan.orphans:
        out.append(f"  {e.stack:<44} {e.manifest:<40} ORPHANED: its manifest is gone; the stack stays until "
                   f"`govcloud destroy` of the old manifest")
    if result.queued:
        out.append(f"queue jobs: {', '.join(str(j) for j in result.queued)}")
    return "\n".join(out) + "\n"


def render_markdown(result: FleetResult) -> str:
    """One merge-request comment: the summary table first, each stack's review folded below it."""
    from govcloud.review import md_escape

    out = [f"### {md_escape(headline(result))}", "", "| stack | manifest | result | time |", "|---|---|---|---|"]
    for o in result.outcomes:
        out.append(f"| `{o.stack}` | `{o.manifest}` | {md_escape(_line(o))} | {o.duration:.0f} s |")
    for u in result.plan.unchanged:
        out.append(f"| `{u.stack}` | `{u.manifest}` | unchanged inputs (not run) | |")
    for e in result.plan.orphans:
        out.append(f"| `{e.stack}` | `{e.manifest}` | **orphaned**: manifest gone, stack kept | |")
    out.append("")
    for o in result.outcomes:
        if not (o.review_markdown or o.error):
            continue
        out += ["<details>", f"<summary>{md_escape(o.stack)}: {md_escape(_line(o))}</summary>", ""]
        if o.review_markdown:
            out.append(o.review_markdown.rstrip("\n"))
        if o.error:
            out += ["", "```", *o.error.splitlines(), "```"]
        out += ["", "</details>", ""]
    return "\n".join(out) + "\n"


def summary_json(result: FleetResult) -> dict:
    return {
        "schema": SCHEMA, "operation": result.plan.operation, "ok": not result.failed,
        "counts": {"changed": len(result.changed), "unchanged": result.unchanged_count,
                   "failed": len(result.failed), "orphaned": len(result.plan.orphans)},
        "monthlyCostDelta": {cur: str(v) for cur, v in sorted(result.cost_delta().items())},
        "stacks": [{k: v for k, v in o.to_json().items() if k not in ("reviewText", "reviewMarkdown")}
                   for o in result.outcomes],
        "unchanged": [{"stack": u.stack, "manifest": u.manifest} for u in result.plan.unchanged],
        "orphans": [{"stack": e.stack, "manifest": e.manifest, "lastOperation": e.last_operation, "at": e.at}
                    for e in result.plan.orphans],
        "queueJobs": list(result.queued),
    }
