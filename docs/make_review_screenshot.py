"""Make docs/review-markdown.png: the markdown review of a multi-resource change as a merge request shows it.

    .venv/bin/python docs/make_review_screenshot.py [--html-only]

The change is the recorded dev-cloud preview tests/fixtures/events/multi.json (bigger servers, a third
server with its volume and public IP, bigger volumes, ssh moved to another port, http opened, the uploads
bucket dropped). The review is rendered by govcloud.review.render_markdown, turned into HTML by a real
CommonMark renderer (markdown-it-py, with GFM tables and raw HTML for <details>, as GitLab and GitHub
render comments), styled like a merge-request comment, and photographed by headless Chromium.
The folded <details> of the field changes are opened for the picture; the list of unchanged resources
stays folded, as a reader would first see it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "events" / "multi.json"
OUT = REPO / "docs" / "review-markdown.png"
HTML_OUT = REPO / "docs" / "review-markdown.html"

CSS = """
body { margin: 0; background: #f6f8fa; font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", "DejaVu Sans",
       Helvetica, Arial, sans-serif; color: #1f2328; }
.comment { max-width: 1100px; margin: 16px auto; background: #fff; border: 1px solid #d0d7de; border-radius: 6px; }
.comment-head { padding: 8px 16px; background: #f6f8fa; border-bottom: 1px solid #d0d7de; border-radius: 6px 6px 0 0;
                color: #59636e; font-size: 13px; }
.comment-head b { color: #1f2328; }
.comment-body { padding: 4px 16px 12px; }
h3 { font-size: 18px; margin: 12px 0 6px; } h4 { font-size: 15px; margin: 18px 0 6px; }
blockquote { margin: 8px 0; padding: 4px 12px; color: #1f2328; border-left: 4px solid #cf222e; background: #fff5f5; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; vertical-align: top; }
th { background: #f6f8fa; } tr:nth-child(2n) td { background: #fbfcfd; }
td:last-child, th:last-child { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td:first-child { white-space: nowrap; }
code { font: 12px "DejaVu Sans Mono", monospace; background: #eff1f3; padding: 1px 4px; border-radius: 4px; }
pre { background: #f6f8fa; padding: 8px 12px; border-radius: 6px; overflow: auto; margin: 6px 0 10px; }
pre code { background: none; padding: 0; display: block; }
pre code .del { color: #82071e; background: #ffebe9; display: inline-block; width: 100%; }
pre code .add { color: #116329; background: #dafbe1; display: inline-block; width: 100%; }
details { margin: 6px 0; } summary { cursor: pointer; color: #0969da; }
ul { margin: 4px 0; padding-left: 22px; } sub { color: #59636e; }
"""


def review_markdown() -> str:
    from govcloud.config import ConfigRepo
    from govcloud.check import Workspace
    from govcloud.engine.runner import OperationResult
    from govcloud.check import check_paths
    from govcloud.review import build_review, render_markdown

    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    work = Path(tempfile.mkdtemp(prefix="govcloud-shot-"))
    here = Path.cwd()
    try:
        os.chdir(work)
        rel = Path("manifests/moe/citizen-portal-review.yaml")
        rel.parent.mkdir(parents=True)
        rel.write_text(yaml.safe_dump(fixture["manifest"], sort_keys=False), encoding="utf-8")
        ws = Workspace(ConfigRepo(None))
        (result,), report = check_paths([str(rel)], ws)
        plan = result.plan
        site = ws.inventory.site(plan.service.site)
        preview = OperationResult.from_events("preview", fixture["events"])  # as the engine reported it
        review = build_review(plan, site, preview, report.problems(str(rel)))
        return render_markdown(review)
    finally:
        os.chdir(here)
        shutil.rmtree(work, ignore_errors=True)


def to_html(markdown: str) -> str:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    body = md.render(markdown)
    # colour the lines of ```diff blocks the way GitLab and GitHub do
    out, in_diff = [], False
    for line in body.split("\n"):
        if line.startswith('<pre><code class="language-diff">'):
            in_diff = True
            first = line[len('<pre><code class="language-diff">'):]
            out.append('<pre><code class="language-diff">' + _diff_line(first))
            continue
        if in_diff and line.startswith("</code></pre>"):
            in_diff = False
            out.append(line)
            continue
        out.append(_diff_line(line) if in_diff else line)
    body = "\n".join(out)
    body = body.replace("<details>", "<details open>")
    # the unchanged resources stay folded, as a reader first sees them
    body = body.replace("<details open><summary>17 unchanged", "<details><summary>17 unchanged")
    return (f"<!doctype html><html><head><meta charset='utf-8'><style>{CSS}</style></head><body>"
            f"<div class='comment'><div class='comment-head'><b>govcloud-ci</b> commented on the merge request "
            f"“Citizen portal: third web server, medium size, ssh on 2222”</div>"
            f"<div class='comment-body'>{body}</div></div></body></html>")


def _diff_line(line: str) -> str:
    if line.startswith("-"):
        return f"<span class='del'>{line}</span>"
    if line.startswith("+"):
        return f"<span class='add'>{line}</span>"
    return line


def main() -> int:
    markdown = review_markdown()
    html = to_html(markdown)
    HTML_OUT.write_text(html, encoding="utf-8")
    if "--html-only" in sys.argv:
        print(HTML_OUT)
        return 0
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("chromium is missing: apt-get install -y chromium", file=sys.stderr)
        return 1
    try:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--screenshot={OUT}", "--window-size=1200,1400", HTML_OUT.as_uri()],
                       check=True, capture_output=True, timeout=120)
    finally:
        HTML_OUT.unlink(missing_ok=True)
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
