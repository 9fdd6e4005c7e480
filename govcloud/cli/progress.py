"""What the terminal shows while a workflow runs: live progress of each engine phase, notes, the review,
and the confirmation prompt (govcloud.ops.workflow.Hooks for a terminal, or for CI logs).

On a terminal, progress is a rich status line; otherwise one quiet line per resource. Nothing here
decides anything: the workflows in govcloud.ops do.
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator

import click

from govcloud.ops.workflow import Hooks, NotConfirmed


def err(msg: str) -> None:
    click.echo(msg, err=True)


def is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Live progress of an engine operation: a rich status line on a terminal, one quiet line per resource otherwise."""

    def __init__(self, title: str, total: int | None = None, verb: str = "deploying", lines: bool = True):
        self.lines = lines
        self.title = title
        self.total = total
        self.verb = verb
        self.tty = is_tty(sys.stderr)
        self.start = time.monotonic()
        self.running: dict[str, tuple[str, float]] = {}
        self.finished: dict[str, str] = {}  # urn -> op (a replacement's several steps count once)
        self.failed: list[str] = []
        self.live = None

    def __enter__(self) -> "Progress":
        if self.tty:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(self._render(), console=Console(stderr=True), refresh_per_second=4, transient=True)
            self.live.__enter__()
        else:
            err(f"{self.verb} {self.title} ...")
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
            self.live = None

    def event(self, e) -> None:
        from govcloud.engine import events as ev

        if isinstance(e, ev.Step) and not e.change.internal:
            c = e.change
            if e.phase == "pre":
                if c.op not in ("same", "read", "refresh"):
                    self.running[c.urn] = (c.op, time.monotonic())
            elif e.phase == "done":
                op, t0 = self.running.pop(c.urn, (c.op, None))
                if self.finished.get(c.urn) != "replace":
                    self.finished[c.urn] = c.op
                if self.lines and not self.tty and c.op in ev.CHANGING_OPS:
                    took = f"{time.monotonic() - t0:5.1f}s" if t0 else ""
                    label = "deleted" if c.raw_op == "delete-replaced" else ev.DONE.get(c.op, c.op)
                    err(f"  {label:<9} {c.key:<34} {c.kind:<20} {took}".rstrip())
            elif e.phase == "failed":
                self.running.pop(c.urn, None)
                self.failed.append(c.key)
                if self.lines and not self.tty:
                    err(f"  failed    {c.key:<34} {c.kind}")
        if self.live is not None:
            self.live.update(self._render())

    def _render(self):
        from rich.text import Text

        from govcloud.engine import events as ev

        elapsed = time.monotonic() - self.start
        done: dict[str, int] = {}
        for op in self.finished.values():
            done[op] = done.get(op, 0) + 1
        n = len(self.finished)
        head = Text(f"{self.verb} {self.title}  ", style="bold")
        head.append(f"{n}/{self.total} done" if self.total else f"{n} done")
        parts = [f"{ev.DONE[op]} {done[op]}" for op in ev.COUNT_ORDER if done.get(op) and op != "same"]
        if self.failed:
            parts.append(f"failed {len(self.failed)}")
        if parts:
            head.append("  (" + ", ".join(parts) + ")")
        head.append(f"  {int(elapsed) // 60}:{int(elapsed) % 60:02d}")
        if self.running:
            now = time.monotonic()
            items = sorted(self.running.items(), key=lambda kv: kv[1][1])[:6]
            names = ", ".join(f"{u.rsplit('::', 1)[-1]} ({op} {now - t0:.0f}s)" for u, (op, t0) in items)
            more = len(self.running) - len(items)
            head.append(f"\n  working on: {names}" + (f" and {more} more" if more > 0 else ""), style="dim")
        return head


class TerminalHooks(Hooks):
    """The CLI's hooks: progress and notes on stderr, the review on stdout, a prompt on a terminal.

    Without a terminal there is nobody to ask, so a change needs --yes: confirm() says so (NotConfirmed).
    """

    def __init__(self, show_review: bool = True):
        self.show_review = show_review

    @contextmanager
    def phase(self, verb: str, stack: str, total: int | None = None, lines: bool = True) -> Iterator:
        with Progress(stack, total=total, verb=verb, lines=lines) as p:
            yield p.event

    @contextmanager
    def verifying(self, stack: str) -> Iterator:
        from govcloud.cli.verify import VerifyProgress

        err(f"verifying the servers of {stack} over SSH ...")
        with VerifyProgress() as progress:
            yield progress.event

    def checked(self, checked) -> None:
        from govcloud.cli.render import print_problems

        print_problems(checked.problems)

    def note(self, text: str) -> None:
        err(text)

    def review(self, review) -> None:
        if self.show_review:
            from govcloud.review import print_review

            print_review(review)

    def confirm(self, question: str, what: str) -> bool:
        if not is_tty(sys.stdin):
            raise NotConfirmed(f"refusing to {what}: stdin is not a terminal, so nobody can confirm; pass --yes "
                               f"to {what} without asking (CI)")
        if not click.confirm(question, default=False, err=True):
            raise NotConfirmed("nothing was changed")
        return True
