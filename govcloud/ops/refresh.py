"""refresh: drift, what changed in the cloud outside govcloud, as one library call.

Without `check` the state records what was found (like `pulumi refresh`); with it nothing is written, not
even a recovery. Security group rules added by hand are found too (a Pulumi refresh cannot see them).
"""
from __future__ import annotations

from dataclasses import dataclass

from govcloud.check import check_manifest
from govcloud.engine.runner import EngineOp, OperationResult
from govcloud.errors import CloudError, GovcloudError, NotDeployed
from govcloud.ops.deploy import EngineFactory, stack_engine
from govcloud.ops.workflow import Hooks, check_access, ensure_ok, recover_stack


@dataclass(frozen=True)
class RefreshResult:
    stack: str
    recorded: bool  # the state now holds what was found
    drift: tuple  # ResourceChanges changed or gone in the cloud
    unmanaged_rules: tuple  # govcloud.cloud.drift.UnmanagedRule
    result: OperationResult

    @property
    def drifted(self) -> bool:
        return bool(self.drift or self.unmanaged_rules)


def drift_of(result: OperationResult) -> tuple:
    """The resources a refresh (or its preview) found changed or gone in the cloud."""
    return tuple(c for c in result.changes if c.op not in ("same", "refresh", "read") or c.changed)


def refresh(file: str, *, check: bool = False, hooks: Hooks | None = None,
            engine_factory: EngineFactory = stack_engine) -> RefreshResult:
    """Refresh (or, with `check`, only compare) the manifest's stack; NotDeployed when it holds no deployment."""
    from govcloud.cloud import drift

    hooks = hooks or Hooks()
    checked = check_manifest(file)
    hooks.checked(checked)
    engine = engine_factory(checked, hooks)
    check_access(engine, hooks)
    with engine.lock(f"govcloud refresh {file}"):
        if not engine.exists():  # a clear refusal, not the engine's failure: nothing to compare the cloud with
            raise NotDeployed(engine.name, file)
        if not check:  # a check writes nothing, not even a recovery
            recover_stack(engine, hooks)
        op = EngineOp.REFRESH_PREVIEW if check else EngineOp.REFRESH
        with hooks.phase("checking" if check else "refreshing", engine.name, lines=False) as on_event:
            result = ensure_ok(engine.run(op, on_event=on_event, message=f"govcloud refresh {file}"))
    state = engine.state()
    try:
        rules = drift.unmanaged_rules_in_cloud(checked.plan, state.raw if state else None)
    except GovcloudError:
        raise
    except Exception as exc:  # noqa: BLE001 - the cloud's errors: fail closed, say which
        raise CloudError(f"could not list the security group rules of {engine.name}: {exc}") from None
    return RefreshResult(engine.name, not check, drift_of(result), tuple(rules), result)
