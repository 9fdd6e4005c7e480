"""deploy: preview, review, guard, confirm, apply, audit, as one library call.

    check (offline, policy) -> credentials (the agency's own) -> lock -> recover -> preview -> review
    -> saved-plan check (stale: refused, audited) -> data-loss guard -> nothing to do? -> confirm -> unprotect what may be lost -> up (audited)

`skip_preview` (a first deploy): when the stack holds no resources, nothing can be deleted or replaced, so the
review is every planned resource created (review.create_changes) and the up runs without a preview, in the
child started ahead; a stack that holds anything is refused (PreviewNeeded), its guard needs the preview.

Every refusal is a typed exception (DataLossError, PlanMovedError, NotConfirmed, StackLockedError) and
nothing changes before it; an engine failure after the apply began is EngineFailed with the provider's
messages. The CLI's `govcloud deploy` is this function plus rendering.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from govcloud.check import CheckedPlan, check_manifest
from govcloud.engine.runner import EngineOp, OperationResult
from govcloud.engine.seam import Engine, StackEngine
from govcloud.errors import GovcloudError, RefusedError
from govcloud.ops.workflow import Hooks, Timings, check_access, confirm, ensure_ok, record_lifetimes, recover_stack


class UnknownResource(GovcloudError):
    """--replace names a key the plan does not have (a usage error)."""

    exit_code = 2


class ConflictingOptions(GovcloudError):
    """Options that cannot go together (a usage error)."""

    exit_code = 2


class PreviewNeeded(RefusedError):
    """--skip-preview for a stack that holds resources (or an interrupted run's operations): the data-loss guard
    reads the preview."""


@dataclass(frozen=True)
class DeployResult:
    stack: str
    review: object  # govcloud.review.Review
    result: OperationResult | None  # None: nothing to deploy
    timings: Timings = field(default_factory=Timings)
    verify: object | None = None  # govcloud.verify.VerifyReport when asked for (deploy --verify)

    @property
    def applied(self) -> bool:
        return self.result is not None


EngineFactory = Callable[..., Engine]  # (checked, hooks), or with ahead=EngineOp.UP for --skip-preview


def stack_engine(checked: CheckedPlan, hooks: Hooks, *, ahead: EngineOp = EngineOp.PREVIEW) -> Engine:
    """The real engine of the checked plan's stack; Ctrl-C notices go to the hooks. `ahead`: the first
    operation, whose child starts during the access check."""
    from govcloud.engine.runner import Interrupts

    return StackEngine(checked.plan, checked.workspace.config, keep_preview=True,  # preview and up: one child
                       ahead=ahead, interrupts=Interrupts(notice=lambda msg: hooks.note(f"\n{msg}")))


def _preview(engine: Engine, plan, state, hooks: Hooks, *, skip_preview: bool, allow_data_loss: bool,
             replace: tuple[str, ...], refresh: bool) -> OperationResult:
    """What the deploy would change: the engine's preview, or with skip_preview (a stack that holds nothing,
    else PreviewNeeded) every planned resource created, from the plan."""
    from govcloud import review

    if skip_preview:
        if state is not None and (state.resources or state.pending):
            raise PreviewNeeded(f"--skip-preview: {engine.name} holds resources; its deploys are previewed so "
                                f"that the data-loss guard can read what they change (deploy without "
                                f"--skip-preview)")
        return OperationResult(op=EngineOp.PREVIEW, stack=engine.name, ok=True, changes=review.create_changes(plan))
    with hooks.phase("previewing", engine.name, lines=False) as on_event:
        return engine.run(EngineOp.PREVIEW, allow_data_loss=allow_data_loss, replace=replace,
                          refresh_first=refresh, on_event=on_event)


def deploy(file: str, *, yes: bool = False, allow_data_loss: bool = False, replace: Sequence[str] = (),
           refresh: bool = False, plan_file: str | None = None, verify=None, hooks: Hooks | None = None,
           engine_factory: EngineFactory = stack_engine, skip_preview: bool = False) -> DeployResult:
    """Deploy one manifest. `plan_file`: apply exactly that saved plan or refuse (fail closed). `verify`
    (govcloud.verify.VerifyOptions): check every server over SSH after a successful apply. `skip_preview`:
    a first deploy without the preview (see the module's docstring)."""
    from govcloud import review
    from govcloud.ops import audit
    from govcloud.ops.auditheads import heads_for
    from govcloud.review import savedplan

    if skip_preview and (plan_file or replace or refresh):
        raise ConflictingOptions("--skip-preview cannot go with --plan, --replace or --refresh: "
                                 "each needs the preview")
    hooks = hooks or Hooks()
    timings = Timings()
    saved = savedplan.load_plan(plan_file) if plan_file else None
    checked = check_manifest(file)
    hooks.checked(checked)
    plan = checked.plan
    unknown = [k for k in replace if k not in plan.by_key()]
    if unknown:
        raise UnknownResource(f"--replace: no resource {', '.join(unknown)} in the plan")
    engine = engine_factory(checked, hooks, ahead=EngineOp.UP) if skip_preview else engine_factory(checked, hooks)
    check_access(engine, hooks)
    config = checked.workspace.config
    heads = heads_for(config, {engine.name: engine})  # the audit log's head is kept in the stack's state too
    timings.lap("check")
    with engine.lock(f"govcloud deploy {file}"):
        state = recover_stack(engine, hooks)
        timings.lap("state")
        forced = state.volume_shrinks(plan) if state else {}
        replace = tuple(dict.fromkeys([*replace, *forced]))
        preview = _preview(engine, plan, state, hooks, skip_preview=skip_preview, allow_data_loss=allow_data_loss,
                           replace=replace, refresh=refresh)
        timings.lap("preview", preview)
        if not preview.blocked_only_by_protection:  # protected data: the guard below explains and refuses
            ensure_ok(preview)
        drift = [k for k in (state.user_data_drift(plan) if state else []) if k not in replace]
        rv = review.build_review(plan, checked.site, preview, checked.problems, allow_data_loss=allow_data_loss,
                                 user_data_drift=drift, forced=forced)
        hooks.review(rv)
        if saved is not None:
            try:
                savedplan.verify_plan(saved, savedplan.manifest_hash(file), savedplan.plan_hash(plan),
                                      savedplan.stack_fingerprint(state.raw if state else None), preview,
                                      stack=engine.name)
            except savedplan.PlanMovedError as exc:
                audit.record_operation(config, operation="deploy", stack=engine.name, result="refused",
                                       manifest=file, changes=preview, error="; ".join(exc.moved),
                                       plan_file=plan_file, heads=heads, note=hooks.note)
                raise
        risks = review.guard_data_loss(rv, allow=allow_data_loss)  # DataLossError when not allowed
        if preview.blocked_only_by_protection and not risks:  # protected, but not a kind the guard knows
            ensure_ok(preview)
        result = None
        if not preview.changing() and not replace:
            _index(hooks, checked, "ok", state)
        else:
            result = _apply(engine, checked, preview, risks, yes=yes, allow_data_loss=allow_data_loss,
                            replace=replace, refresh=refresh, plan_file=plan_file, hooks=hooks, timings=timings,
                            heads=heads)
    report = None
    if verify is not None:  # after the lock: verify reads, it changes nothing in the stack
        from govcloud.verify import verify_service

        with hooks.verifying(engine.name) as on_progress:
            report = verify_service(checked.workspace.check(file), plan,
                                    outputs=dict(result.outputs) if result is not None else None,
                                    options=verify, on_progress=on_progress)
        timings.lap("verify")
    return DeployResult(engine.name, rv, result, timings, report)


def _apply(engine: Engine, checked: CheckedPlan, preview: OperationResult, risks, *, yes: bool,
           allow_data_loss: bool, replace: Sequence[str], refresh: bool, plan_file: str | None, hooks: Hooks,
           timings: Timings, heads) -> OperationResult:
    """The apply of a reviewed change, under the stack's lock: confirm, unprotect what may be lost, up, audit."""
    from govcloud.ops import audit

    file, plan = checked.file, checked.plan
    confirm(hooks, yes, f"Deploy these changes to {engine.name}?", "deploy")
    if risks:
        lost = {r.key for r in risks}
        engine.unprotect([c.urn for c in preview.changes if c.key in lost])
    timings.lap("confirm")
    with audit.recording(checked.workspace.config, "deploy", file, engine.name, plan_file=plan_file or "",
                         allow_data_loss=allow_data_loss, heads=heads, note=hooks.note) as rec:
        with hooks.phase("deploying", engine.name, total=len(plan.resources)) as on_event:
            result = engine.run(EngineOp.UP, allow_data_loss=allow_data_loss, replace=replace,
                                refresh_first=refresh, on_event=on_event, message=f"govcloud deploy {file}")
        rec.result(result)
        timings.lap("up", result)
        record_lifetimes(checked, result, hooks)
        _index(hooks, checked, "ok" if result.ok else str(result.error_kind or "failed"))
        ensure_ok(result)
    return result


def _index(hooks: Hooks, checked: CheckedPlan, result: str, state=None) -> None:
    """The stack index learns the outcome (and, when ok, the inputs digest the stack now matches)."""
    from govcloud.ops.digest import record_operation

    problem = record_operation(checked, "deploy", result if result in ("ok", "interrupted") else "failed",
                               resources=len(state.resources) if state is not None else None)
    if problem:
        hooks.note(problem)
