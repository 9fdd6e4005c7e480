"""destroy: the guarded teardown of a manifest's stack, as one library call.

    check -> credentials (the agency's own) -> lock -> recover -> state (nothing deployed: done) -> review of the deletes -> data-loss guard
    -> prod needs the stack's name, others a confirmation -> unprotect -> destroy (audited)
"""
from __future__ import annotations

from dataclasses import dataclass

from govcloud.check import check_manifest
from govcloud.engine.runner import EngineOp, OperationResult
from govcloud.ops.deploy import EngineFactory, stack_engine
from govcloud.ops.workflow import (Hooks, ProdDestroyRefused, check_access, confirm, ensure_ok, record_lifetimes,
                                    recover_stack)


@dataclass(frozen=True)
class DestroyResult:
    stack: str
    review: object | None  # govcloud.review.Review; None when nothing was deployed
    result: OperationResult | None  # None: nothing to destroy

    @property
    def deleted(self) -> int:
        return self.result.counts().get("delete", 0) if self.result else 0


def destroy(file: str, *, yes: bool = False, confirm_name: str | None = None, allow_data_loss: bool = False,
            hooks: Hooks | None = None, engine_factory: EngineFactory = stack_engine) -> DestroyResult:
    """Delete every resource of the manifest's stack. A prod stack needs `confirm_name` == its stack name."""
    from govcloud import review
    from govcloud.ops import audit
    from govcloud.ops.auditheads import heads_for

    hooks = hooks or Hooks()
    checked = check_manifest(file)
    hooks.checked(checked)
    plan = checked.plan
    stack = plan.service.stack
    engine = engine_factory(checked, hooks)
    check_access(engine, hooks)
    with engine.lock(f"govcloud destroy {file}"):
        recover_stack(engine, hooks)
        state = engine.state()
        if state is None or not state.resources:
            return DestroyResult(engine.name, None, None)
        rv = review.build_review(plan, checked.site, review.destroy_changes(state), operation="destroy",
                                 allow_data_loss=allow_data_loss)
        hooks.review(rv)
        keep = review.guard_data_loss(rv, allow=allow_data_loss, action=f"destroy {engine.name}")
        if plan.service.environment == "prod":
            if confirm_name != stack:
                raise ProdDestroyRefused(f"refusing to destroy the prod stack {stack}: pass --confirm {stack}")
        elif confirm_name is not None and confirm_name != stack:
            raise ProdDestroyRefused(f"--confirm {confirm_name} does not name this stack ({stack})")
        elif confirm_name is None:
            confirm(hooks, yes, f"Destroy stack {stack} and its {len(state.resources)} resources?",
                    f"destroy {stack}")
        if keep:
            engine.unprotect()
        config = checked.workspace.config
        with audit.recording(config, "destroy", file, engine.name, allow_data_loss=allow_data_loss,
                             heads=heads_for(config, {engine.name: engine}), note=hooks.note) as rec:
            with hooks.phase("destroying", engine.name, total=len(state.resources)) as on_event:
                result = engine.run(EngineOp.DESTROY, allow_data_loss=True, on_event=on_event,
                                    message=f"govcloud destroy {file}")
            rec.result(result)
            record_lifetimes(checked, result, hooks)
            from govcloud.ops.digest import record_operation

            problem = record_operation(checked, "destroy", "ok" if result.ok else "failed", resources=0)
            if problem:
                hooks.note(problem)
            ensure_ok(result)
    return DestroyResult(engine.name, rv, result)
