"""The review as a merge-request comment (GitLab / GitHub flavoured markdown).

The layout is the Jinja template templates/review/review.md.j2 (a config repo may override it); this
module hands it values that are already escaped (`md_escape`, `md_code`, `md_fence`), so nothing a
cloud resource holds (a description, a name) can add markup or HTML or break the table. A comment
has a size limit: field diffs fold into <details> when long and are left out when the whole comment
would be too long.
"""
from __future__ import annotations

import html
import re
from typing import Any

from govcloud.config import ConfigRepo
from govcloud.engine.events import MARK, TO_DO, Op
from govcloud.plan.cost import money
from govcloud.review.model import ADDED, REMOVED, VERDICT_ORDER, ResourceReview, Review, signed

MARKDOWN_LIMIT = 60000  # GitHub refuses comments over 65,536 characters
_GONE = "no longer in the manifest"  # a delete says it already


def md_escape(text: Any) -> str:
    """Text safe in a markdown table cell or paragraph: no markup, no HTML, no cell breaks."""
    s = str(text)
    s = s.replace("\\", "\\\\")
    for ch in "`*_[]#~|":
        s = s.replace(ch, "\\" + ch)
    s = s.replace("<", "&lt;")
    if s.startswith(">"):
        s = "\\" + s
    return s.replace("\r", " ").replace("\n", " ")


def md_code(text: Any) -> str:
    """An inline code span (table-safe: pipes escaped, backticks fenced)."""
    s = str(text).replace("\r", " ").replace("\n", "\\n")
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (run + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return f"{fence}{pad}{s.replace('|', chr(92) + '|')}{pad}{fence}"


def md_fence(text: str, lang: str = "") -> str:
    """A fenced code block that its content cannot close."""
    run = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (run + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def render_markdown(review: Review, *, config: ConfigRepo | None = None, show_same: bool = False,
                    max_chars: int = MARKDOWN_LIMIT, fold_over: int = 8) -> str:
    """The review as a merge-request comment (GitLab / GitHub flavoured markdown).

    Rendered from templates/review/review.md.j2 (a config repo may override it). Field diffs longer
    than `fold_over` lines fold into <details>; when the whole comment would exceed `max_chars`, the
    field diffs are left out (the summary table, data loss and verdict always stay).
    """
    config = config if config is not None else ConfigRepo(None)
    text = _render(review, config, show_same, fold_over, with_fields=True)
    if len(text) > max_chars:
        text = _render(review, config, show_same, fold_over, with_fields=False)
    if len(text) > max_chars:
        cut = text[: max_chars - 200].rsplit("\n", 1)[0]
        text = cut + "\n\n*(review truncated: see the JSON review for every resource)*\n"
    return text


def _render(review: Review, config: ConfigRepo, show_same: bool, fold_over: int, with_fields: bool,
            fold_total: int = 40) -> str:
    shown = [r for r in review.resources if show_same or r.changing]
    details = [d for d in (_details(r, fold_over) for r in shown) if d is not None] if with_fields else []
    hidden = [r for r in review.resources if not r.changing]
    counts = review.counts()
    context = {
        "r": review, "rows": [_row(r) for r in shown], "details": details, "with_fields": with_fields,
        "marker": re.sub(r"[^A-Za-z0-9_./:@-]", "_", review.stack).replace("--", "-"),
        "fold_all": sum(d["lines"] + len(d["extra"]) for d in details) > fold_total,
        "stack": md_code(review.stack), "manifest": md_code(review.manifest) if review.manifest else "",
        "project": md_escape(review.service.project), "site": md_escape(review.service.site),
        "verdict": md_escape(review.verdict), "blocked": review.blocked,
        "counts": [(n, TO_DO[op]) for op, n in counts.items() if op in VERDICT_ORDER],
        "unchanged": counts.get(Op.SAME, 0),
        "hidden": [md_code(r.key) for r in hidden] if not show_same else [],
        "data_loss": [{"key": md_code(d.key), "kind": md_escape(d.kind), "name": md_escape(d.name),
                       "reason": md_escape(d.reason)} for d in review.data_loss],
        "cautions": [md_escape(c) for c in review.cautions],
        "findings": [{"severity": p.severity, "code": md_escape(p.code), "message": md_escape(p.message),
                      "where": md_escape(str(p.location) if p.location else p.path or ""),
                      "hint": md_escape(p.hint) if p.hint else ""} for p in review.findings],
        "errors": [md_escape(e) for e in review.errors],
        "currency": review.currency,
        "before": f"{money(review.monthly_before):,}", "after": f"{money(review.monthly_after):,}",
        "delta": signed(review.monthly_delta),
        "unpriced": [md_code(k) for k in review.unpriced],
        "allow": review.allow_data_loss,
        "md": md_escape, "code": md_code, "fence": md_fence, "h": html.escape,
    }
    out = config.templates.render("review/review.md.j2", **context)
    return re.sub(r"\n{3,}", "\n\n", out).strip() + "\n"


def _row(r: ResourceReview) -> dict:
    """A line of the summary table: what changes, in a few words."""
    if r.op in (Op.UPDATE, Op.REPLACE) and r.fields:
        firsts = [f"{md_code(f.path)} {md_code(f.old_text)} → {md_code(f.new_text)}"
                  for f in sorted(r.fields, key=lambda f: not f.forces_replacement)[:2]]
        more = f" and {len(r.fields) - 2} more" if len(r.fields) > 2 else ""
        what = "<br>".join(firsts) + more
        if r.op == Op.REPLACE:
            what = "**replaced:** " + what
    elif r.op == Op.REPLACE:
        what = "**replaced** " + md_escape("; ".join(r.replace_reasons))
    else:
        what = md_escape(r.summary or r.name)
    if r.data_loss:
        what = (what + "<br>" if what else "") + "**data loss:** " + md_escape(r.data_loss)
    d = r.monthly_delta
    return {"op": r.op, "mark": MARK.get(r.op, "?"), "key": md_code(r.key), "kind": md_escape(r.kind),
            "name": md_escape(r.name), "what": what, "delta": "?" if d is None else ("" if d == 0 else signed(d)),
            "loss": bool(r.data_loss)}


def _details(r: ResourceReview, fold_over: int) -> dict | None:
    """A resource's field changes as a `diff` block, with why it is replaced and its notes (None: nothing)."""
    lines = _diff_lines(r)
    extra = [f"why replaced: {w}" for w in r.replace_reasons] + [
        f"note: {n}" for n in r.notes if not (r.op == Op.DELETE and n == _GONE)]
    if not lines and not extra:
        return None
    return {"title": f"{r.key} ({r.kind}{' ' + r.name if r.name else ''}): {r.op}",
            "title_md": f"{md_code(r.key)} ({md_escape(r.kind)}): **{r.op}**",
            "diff": md_fence("\n".join(lines), "diff") if lines else "",
            "extra": [md_escape(x) for x in extra], "lines": len(lines),
            "fold": len(lines) > fold_over, "source": md_code(r.source) if r.source else ""}


def _diff_lines(r: ResourceReview, limit: int = 200) -> list[str]:
    lines = []
    for f in r.fields:
        mark = "  (forces replacement)" if f.forces_replacement else ""
        if f.kind not in ADDED:
            lines.append(f"- {f.path}: {f.text(f.old, limit)}")
        if f.kind not in REMOVED:
            lines.append(f"+ {f.path}: {f.text(f.new, limit)}{mark}")
        elif mark:
            lines[-1] += mark
    return lines
