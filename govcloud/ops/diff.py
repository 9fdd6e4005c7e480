"""diff: the review of what deploy would change (a real preview), for one manifest or many, as one call.

Several manifests preview in parallel, each in its own engine child. A failed preview does not stop the
others: its entry carries the error. `out` saves the reviewed change of one manifest as a plan file that
`deploy --plan` applies exactly.
"""
from __future__ import annotations

import os

from dataclasses import dataclass
from typing import Sequence

from govcloud.check import CheckedPlan, check_manifest
from govcloud.engine.runner import EngineOp, ErrorKind, OperationResult
from govcloud.engine.seam import Engine
from govcloud.engine.stack import StackState
from govcloud.ops.deploy import EngineFactory
from govcloud.errors import EngineError, GovcloudError
from govcloud.ops.workflow import Hooks, check_access


@dataclass(frozen=True)
class StackDiff:
    file: str
    stack: str
    result: OperationResult
    review: object | None  # govcloud.review.Review; None when the preview failed
    config: object = None  # the ConfigRepo (its templates render the markdown review)

    @property
    def ok(self) -> bool:
        return self.review is not None


@dataclass(frozen=True)
class DiffResult:
    stacks: tuple[StackDiff, ...]

    @property
    def failed(self) -> tuple[StackDiff, ...]:
        return tuple(s for s in self.stacks if not s.ok)

    def exit_error(self) -> GovcloudError | None:
        """The error the whole diff ends with: setup problems exit 1, engine failures 3, none when all ran."""
        bad = self.failed
        if not bad:
            return None
        err = GovcloudError if all(s.result.error_kind == ErrorKind.SETUP for s in bad) else EngineError
        return err(f"{len(bad)} of {len(self.stacks)} previews failed")


def diff(files: Sequence[str], *, parallel: int | None = None, out: str | None = None,
         hooks: Hooks | None = None, engine_factory: EngineFactory | None = None) -> DiffResult:
    from concurrent.futures import ThreadPoolExecutor

    from govcloud import review
    from govcloud.engine.runner import Interrupts
    from govcloud.engine.seam import StackEngine
    from govcloud.settings import read_passphrase
    from govcloud.review import savedplan

    hooks = hooks or Hooks()
    if out and len(files) != 1:
        raise UsageProblem("--out saves the plan of one manifest: give one FILE")
    checked: list[CheckedPlan] = [check_manifest(f) for f in files]
    for c in checked:
        hooks.checked(c)
    interrupts = Interrupts(notice=lambda msg: hooks.note(f"\n{msg}"))  # one for all: Ctrl-C reaches every child
    if engine_factory is None:
        passphrases = {a: read_passphrase(agency=a) for a in {c.plan.service.agency for c in checked}}
        engine_factory = (lambda c, _hooks: StackEngine(c.plan, c.workspace.config,
                                                        passphrase=passphrases[c.plan.service.agency],
                                                        interrupts=interrupts))
    engines = [engine_factory(c, hooks) for c in checked]
    asked = set()
    for c, engine in zip(checked, engines):  # another agency's manifest is refused before any preview
        scope = (c.plan.service.cloud, c.plan.service.project, c.plan.service.region)
        if scope not in asked:  # one token per project is enough
            asked.add(scope)
            check_access(engine, hooks)
    states = [_state_or_none(e) for e in engines]
    forced = [s.volume_shrinks(c.plan) if s else {} for c, s in zip(checked, states)]

    def preview(i: int, on_event=None) -> OperationResult:
        return engines[i].run(EngineOp.PREVIEW, replace=tuple(forced[i]), on_event=on_event)

    if len(checked) == 1:
        with hooks.phase("previewing", engines[0].name, lines=False) as on_event:
            results = [preview(0, on_event)]
    else:
        n = max(1, min(parallel or (os.cpu_count() or 2), len(checked)))
        with interrupts, ThreadPoolExecutor(max_workers=n) as pool:
            results = list(pool.map(preview, range(len(checked))))
    stacks = []
    for c, engine, res, state, shrinks in zip(checked, engines, results, states, forced):
        if not (res.ok or res.blocked_only_by_protection):
            stacks.append(StackDiff(c.file, engine.name, res, None, c.workspace.config))
            continue
        rv = review.build_review(c.plan, c.site, res, c.problems,
                                 user_data_drift=state.user_data_drift(c.plan) if state else [], forced=shrinks)
        if out:
            savedplan.save_plan(out, manifest_path=c.file, plan=c.plan, stack=engine.name,
                                stack_fingerprint=savedplan.stack_fingerprint(state.raw if state else None),
                                changes=rv)
            hooks.note(f"saved the plan to {out}: `govcloud deploy {c.file} --plan {out}` applies exactly this "
                       f"change")
        stacks.append(StackDiff(c.file, engine.name, res, rv, c.workspace.config))
    return DiffResult(tuple(stacks))


def _state_or_none(engine: Engine) -> StackState | None:
    """The stack's state for the review; a stack the engine cannot read is previewed as new (its preview
    then says what is wrong)."""
    try:
        return engine.state()
    except EngineError:
        return None


class UsageProblem(GovcloudError):
    """Options that do not fit together (a usage error)."""

    exit_code = 2
