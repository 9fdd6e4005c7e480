"""What a manifest's stack holds, without changing it: status, outputs, history; and unlock.

These read the state through the same StackEngine the workflows use; none of them runs the program.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from govcloud.check import CheckedPlan, check_manifest
from govcloud.engine.seam import StackEngine
from govcloud.errors import NotDeployed, StackLockedError


def _engine(file: str, need_passphrase: bool) -> tuple[CheckedPlan, StackEngine]:
    checked = check_manifest(file)
    return checked, StackEngine(checked.plan, checked.workspace.config, need_passphrase=need_passphrase)


@dataclass(frozen=True)
class StackStatus:
    stack: str
    backend: str
    exists: bool
    resources: int
    planned: int
    missing: tuple[str, ...]  # in the plan, not deployed
    extra: tuple[str, ...]  # deployed, no longer in the plan
    last_operation: dict | None
    pending_operations: int
    locks: tuple[str, ...]

    @property
    def deployed(self) -> bool:
        return self.exists and self.resources > 0

    def to_json(self) -> dict:
        return {"stack": self.stack, "backend": self.backend, "deployed": self.deployed,
                "resources": self.resources, "planned": self.planned, "missing": list(self.missing),
                "extra": list(self.extra), "lastOperation": self.last_operation,
                "pendingOperations": self.pending_operations, "locks": list(self.locks)}


def status(file: str) -> StackStatus:
    """Deployed or not, resources against the plan, the last operation, pending operations (the state's and the
    failed creates recovery will look up), engine locks."""
    from govcloud.engine.recovery import remembered_creates

    checked, engine = _engine(file, need_passphrase=False)
    state = engine.state()
    last = engine.history(1)[:1] if state is not None else []
    in_plan = {r.key for r in checked.plan.resources}
    deployed = state.keys() if state else set()
    lo = ({"kind": last[0].get("kind"), "result": last[0].get("result"), "start": last[0].get("startTime"),
           "end": last[0].get("endTime"), "changes": last[0].get("resourceChanges")} if last else None)
    return StackStatus(engine.name, engine.location.backend_url, state is not None,
                       len(state.resources) if state else 0, len(checked.plan.resources),
                       tuple(sorted(in_plan - deployed)), tuple(sorted(deployed - in_plan)), lo,
                       (len(state.pending) if state else 0) + len(remembered_creates(engine.location)),
                       tuple(lk.describe() for lk in engine.engine_locks()))


def outputs(file: str) -> dict[str, Any]:
    """The stack outputs (servers with their IPs, network id, volumes, buckets); NotDeployed when not deployed."""
    _checked, engine = _engine(file, need_passphrase=True)
    if not engine.exists():
        raise NotDeployed(engine.name, file)
    return engine.outputs()


@dataclass(frozen=True)
class History:
    stack: str
    entries: list
    audit_file: str
    chain: object = None  # govcloud.ops.auditchain.ChainReport: is the audit log whole (the stack's head too)?


def history(file: str, limit: int = 20, *, audit_only: bool = False) -> History:
    """The engine's update history joined with govcloud's audit log (HistoryEntry, newest
    first); with `audit_only`, the audit log's records alone (AuditRecord, oldest first; also the runs
    refused before the engine). `chain` says whether the log's hash chain holds, with this stack's head."""
    from govcloud.ops import audit
    from govcloud.ops.auditheads import heads_for, verify_audit
    from govcloud.ops.history import merge_history

    checked, engine = _engine(file, need_passphrase=False)
    config = checked.workspace.config
    where = audit.audit_where(config)
    chain = verify_audit(config, engine.name, heads_for(config, {engine.name: engine}))
    if audit_only:
        return History(engine.name, audit.read_audit(config, engine.name, limit=limit), where, chain)
    rows = engine.history(limit) if engine.exists() else []
    return History(engine.name, merge_history(rows, audit.read_audit(config, engine.name))[:limit], where, chain)


class NotUnlocked(StackLockedError):
    """A live run holds the stack: it is never unlocked without --force."""

    exit_code = 1


def unlock(file: str, *, force: bool = False) -> tuple[str, list[str]]:
    """(stack, notes): remove engine locks left by killed runs (every lock with `force`)."""
    _checked, engine = _engine(file, need_passphrase=False)
    with engine.lock(f"govcloud unlock {file}"):
        if force:
            engine.cancel()
            return engine.name, [f"{engine.name}: every engine lock removed"]
        try:
            notes = engine.clear_stale_locks()
        except StackLockedError as exc:
            raise NotUnlocked(f"not unlocked: {exc}") from None
    return engine.name, notes or [f"{engine.name}: not locked"]
