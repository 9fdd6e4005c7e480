"""Many stacks at once: a config repo's manifests, only those whose inputs changed, each through ops.deploy
or ops.diff, locally in a process pool or as jobs of the shared queue.

    plan_fleet   check every manifest once (one policy run over all), compute each input digest, compare
                 it with the stack index: the stacks to run (changed, or all with `force_all`), those
                 unchanged, the manifests that fail the check, and orphaned stacks (in the index, their
                 manifest gone: reported, never destroyed here)
    run_stack    one stack's operation anywhere (this process, a pool process, a queue worker):
                 ops.deploy / ops.diff with an engine that first checks the inputs are the planned ones;
                 every failure becomes a StackOutcome, never an exception, so one stack never stops others
    run_local    the plan's stacks in a local process pool (one stack per process at a time; each
                 operation spawns its engine child as always)

A manifest named as a file always runs; a directory runs only its changed manifests. The summary
(ops/summary.py) counts changed, unchanged and failed stacks and adds up the cost deltas.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from govcloud.errors import EngineError, GovcloudError, RefusedError
from govcloud.ops.digest import FileHashes, input_digest

if TYPE_CHECKING:
    from govcloud.shared.index import IndexEntry

OPERATIONS = ("deploy", "diff")


class InputsMoved(RefusedError):
    """The manifest's inputs on this machine are not those the stack was planned with (another checkout)."""


class FleetFailed(GovcloudError):
    """Some stacks of a many-stack run failed; exit 3 when an engine failed, else 1."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class StackTask:
    """One stack operation, as a pool process or a queue worker receives it (plain data)."""

    file: str  # the manifest on this machine
    manifest: str  # its name in the index (relative to the config repo)
    stack: str
    operation: str  # deploy | diff
    digest: str  # the inputs it was planned with ("" = do not check)
    changed: tuple[str, ...] = ()  # the digest parts that differ from the recorded ones
    allow_data_loss: bool = False

    def to_json(self) -> dict:
        return {"file": self.file, "manifest": self.manifest, "stack": self.stack, "operation": self.operation,
                "digest": self.digest, "changed": list(self.changed), "allowDataLoss": self.allow_data_loss}

    @classmethod
    def from_json(cls, data: Mapping) -> "StackTask":
        return cls(file=data["file"], manifest=data["manifest"], stack=data["stack"], operation=data["operation"],
                   digest=data.get("digest", ""), changed=tuple(data.get("changed") or ()),
                   allow_data_loss=bool(data.get("allowDataLoss")))


@dataclass(frozen=True)
class StackOutcome:
    """What one stack's operation did: plain data (it crosses processes and is stored with a queue job)."""

    stack: str
    manifest: str
    operation: str
    status: str  # applied | changed (diff: a change previewed) | unchanged | refused | failed
    error: str = ""
    exit_code: int = 0
    review: Mapping | None = None  # the JSON review
    review_text: str = ""
    review_markdown: str = ""
    monthly_delta: str = "0"
    currency: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)
    duration: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "refused")

    def to_json(self) -> dict:
        return {"stack": self.stack, "manifest": self.manifest, "operation": self.operation, "status": self.status,
                "error": self.error, "exitCode": self.exit_code, "review": self.review,
                "reviewText": self.review_text, "reviewMarkdown": self.review_markdown,
                "monthlyDelta": self.monthly_delta, "currency": self.currency, "counts": dict(self.counts),
                "durationSeconds": round(self.duration, 2), "notes": list(self.notes)}

    @classmethod
    def from_json(cls, d: Mapping) -> "StackOutcome":
        return cls(stack=d["stack"], manifest=d["manifest"], operation=d["operation"], status=d["status"],
                   error=d.get("error", ""), exit_code=int(d.get("exitCode", 0)), review=d.get("review"),
                   review_text=d.get("reviewText", ""), review_markdown=d.get("reviewMarkdown", ""),
                   monthly_delta=str(d.get("monthlyDelta", "0")), currency=d.get("currency", ""),
                   counts=d.get("counts") or {}, duration=float(d.get("durationSeconds", 0.0)),
                   notes=tuple(d.get("notes") or ()))


@dataclass(frozen=True)
class Unchanged:
    stack: str
    manifest: str


@dataclass(frozen=True)
class FleetPlan:
    operation: str
    tasks: tuple[StackTask, ...]  # to run
    unchanged: tuple[Unchanged, ...]  # digest as recorded: nothing runs
    invalid: tuple[StackOutcome, ...]  # the manifests that failed the check (failed outcomes)
    orphans: tuple[IndexEntry, ...]  # stacks in the index whose manifest is gone


@dataclass(frozen=True)
class FleetResult:
    plan: FleetPlan
    outcomes: tuple[StackOutcome, ...]  # of the tasks run (and the invalid manifests)
    queued: tuple[int, ...] = ()  # queue job ids (--queue)

    @property
    def failed(self) -> tuple[StackOutcome, ...]:
        return tuple(o for o in self.outcomes if o.failed)

    @property
    def changed(self) -> tuple[StackOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status in ("applied", "changed"))

    @property
    def unchanged_count(self) -> int:
        return len(self.plan.unchanged) + sum(1 for o in self.outcomes if o.status == "unchanged")

    def cost_delta(self) -> dict[str, Decimal]:
        """Total monthly cost delta of the stacks that ran, per currency."""
        out: dict[str, Decimal] = {}
        for o in self.outcomes:
            if o.currency and not o.failed:
                out[o.currency] = out.get(o.currency, Decimal(0)) + Decimal(o.monthly_delta)
        return out

    def exit_error(self) -> FleetFailed | None:
        bad = self.failed
        if not bad:
            return None
        code = 3 if any(o.exit_code == 3 for o in bad) else 1
        return FleetFailed(f"{len(bad)} of {len(self.outcomes)} stacks failed: " +
                           ", ".join(o.stack for o in bad), code)


# ---------------------------------------------------------------- planning


def plan_fleet(paths: Sequence[str | os.PathLike[str]], operation: str = "deploy", *, force_all: bool = False,
               allow_data_loss: bool = False) -> FleetPlan:
    """Check every manifest under `paths` once and decide which stacks run (see the module docstring)."""
    from govcloud.check import Workspace, check_paths, manifest_files, policy_context
    from govcloud.shared.index import manifest_key, stack_index

    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {OPERATIONS}")
    paths = [str(p) for p in paths]
    ws = Workspace.for_paths(paths)
    config = ws.config
    named = {Path(p).resolve() for p in paths if not Path(p).is_dir()}
    files = list(manifest_files(paths))
    results, _report = check_paths(files, ws, context=policy_context(ws, files[0]) if files else ())
    index = stack_index(config)
    recorded = {e.stack: e for e in index.all()}
    hashes = FileHashes()
    tasks, unchanged, invalid, current = [], [], [], set()
    for r in results:
        key = manifest_key(config, r.file)
        if not r.ok or r.plan is None:
            text = "\n".join(p.format() for p in r.problems if p.severity == "error") or "the check failed"
            invalid.append(StackOutcome(stack="?", manifest=key, operation=operation, status="failed", error=text,
                                        exit_code=1))
            continue
        s = r.plan.service
        name = f"{s.pulumi_project}/{s.stack}"
        current.add(name)
        digest = input_digest(r.file, r.plan, config, hashes)
        entry = recorded.get(name)
        stale = entry is None or entry.digest != digest.value or entry.needs_recovery
        if force_all or stale or Path(r.file).resolve() in named:
            changed = tuple(digest.changed_parts(entry.digest_parts if entry and entry.digest else None))
            if entry is not None and entry.needs_recovery:
                changed = ("(needs recovery)", *changed)
            tasks.append(StackTask(str(r.file), key, name, operation, digest.value, changed, allow_data_loss))
        else:
            unchanged.append(Unchanged(name, key))
    scopes = [manifest_key(config, p) for p in paths]
    orphans = tuple(e for e in recorded.values() if e.stack not in current and e.result != "destroyed"
                    and any(_within(e.manifest, s) for s in scopes) and not _exists(config, e.manifest))
    return FleetPlan(operation, tuple(tasks), tuple(unchanged), tuple(invalid), orphans)


def _within(manifest: str, scope: str) -> bool:
    scope = scope.rstrip("/")
    return scope in (".", "") or manifest == scope or manifest.startswith(scope + "/")


def _exists(config, manifest: str) -> bool:
    path = Path(manifest)
    if not path.is_absolute() and config.root is not None:
        path = config.root / path
    return path.is_file()


# ---------------------------------------------------------------- one stack, anywhere


class _Collecting:
    """Hooks for an unattended run: notes kept for the outcome, the last review kept for a refusal."""

    def __init__(self) -> None:
        from govcloud.ops.workflow import Hooks

        class Collect(Hooks):
            def __init__(self, outer):
                self.outer = outer

            def note(self, text):
                self.outer.notes.append(text.strip())

            def review(self, review):
                self.outer.review = review

        self.notes: list[str] = []
        self.review = None
        self.hooks = Collect(self)


def engine_factory(expected_digest: str, lock_wait: float = 0.0, interrupts=None) -> Callable:
    """The real engine, after checking that the manifest's inputs here are the planned ones."""
    def make(checked, hooks):
        from govcloud.engine.runner import Interrupts
        from govcloud.engine.seam import StackEngine

        if expected_digest:
            here = input_digest(checked.file, checked.plan, checked.workspace.config)
            if here.value != expected_digest:
                raise InputsMoved(f"{checked.file}: its inputs here (digest {here.value[:12]}) are not those it was "
                                  f"planned with ({expected_digest[:12]}): is this checkout at another commit?")
        return StackEngine(checked.plan, checked.workspace.config, lock_wait=lock_wait, keep_preview=True,
                           interrupts=interrupts or Interrupts(notice=hooks.note))
    return make


def run_stack(task: StackTask, *, lock_wait: float = 0.0) -> StackOutcome:
    """Run one stack's deploy or diff; whatever happens is in the outcome (never raised)."""
    from govcloud import review as rv_mod
    from govcloud.ops.deploy import deploy
    from govcloud.ops.diff import diff

    t0 = time.monotonic()
    collect = _Collecting()
    factory = engine_factory(task.digest, lock_wait)
    status, error, code, config = "failed", "", 0, None
    try:
        if task.operation == "deploy":
            res = deploy(task.file, yes=True, allow_data_loss=task.allow_data_loss, hooks=collect.hooks,
                         engine_factory=factory)
            status, review = ("applied" if res.applied else "unchanged"), res.review
        else:
            (one,) = diff([task.file], hooks=collect.hooks, engine_factory=factory).stacks
            review, config = one.review, one.config
            if one.ok:
                status = "changed" if review.changes else "unchanged"
            else:
                error, code = one.result.error or "the preview failed", 3
    except GovcloudError as exc:
        review = collect.review
        status = "refused" if isinstance(exc, RefusedError) and not isinstance(exc, EngineError) else "failed"
        error, code = str(exc), exc.exit_code
    except Exception as exc:  # noqa: BLE001 - one stack's bug must not stop the others; it is reported
        review, error, code = collect.review, f"{type(exc).__name__}: {exc}", 3
    text = markdown = ""
    if review is not None:
        text = rv_mod.render_text(review)
        markdown = rv_mod.render_markdown(review, config=config)
    return StackOutcome(
        stack=task.stack, manifest=task.manifest, operation=task.operation, status=status, error=error,
        exit_code=code, review=review.to_json() if review is not None else None, review_text=text,
        review_markdown=markdown, monthly_delta=str(review.monthly_delta) if review is not None else "0",
        currency=review.currency if review is not None else "", counts=review.counts() if review is not None else {},
        duration=time.monotonic() - t0,
        notes=(*([f"inputs changed: {', '.join(task.changed)}"] if task.changed else []), *collect.notes))


# ---------------------------------------------------------------- locally


def run_local(plan: FleetPlan, *, parallel: int | None = None,
              on_done: Callable[[StackOutcome, int, int], None] | None = None) -> FleetResult:
    """The plan's stacks in a local process pool of `parallel` processes (default: CPU count)."""
    outcomes: list[StackOutcome] = list(plan.invalid)
    n = len(plan.tasks)
    workers = max(1, min(parallel or (os.cpu_count() or 2), n or 1))

    def done(o: StackOutcome) -> None:
        outcomes.append(o)
        if on_done is not None:
            on_done(o, len(outcomes) - len(plan.invalid), n)

    if workers == 1 or n <= 1:
        for t in plan.tasks:
            done(run_stack(t))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(run_stack, t): t for t in plan.tasks}
            for f in as_completed(futures):
                try:
                    done(f.result())
                except Exception as exc:  # noqa: BLE001 - a pool process died (killed): the stack failed
                    t = futures[f]
                    done(StackOutcome(t.stack, t.manifest, t.operation, "failed",
                                      f"its process died: {type(exc).__name__}: {exc}", 3))
    order = {t.stack: i for i, t in enumerate(plan.tasks)}
    outcomes.sort(key=lambda o: (o.stack not in order, order.get(o.stack, 0), o.manifest))
    return FleetResult(plan, tuple(outcomes))
