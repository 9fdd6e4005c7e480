"""Repair what an interrupted or killed run left in the state: pending operations.

A pending *create* may or may not have reached the cloud: the resource is looked up by its unique name
(or, for unnamed ones, by what identifies it: a rule's group and ports, an interface's router and
subnet, an attachment's server and volume, ...); when found it is adopted into the state with its cloud
id (so it is neither orphaned nor created a second time), otherwise the pending create is dropped.
Other pending operations are dropped, and a refresh then reads every resource back from the cloud.
"""
from __future__ import annotations

from dataclasses import dataclass

from govcloud.engine import events as ev
from govcloud.config import ConfigRepo
from govcloud.plan.model import ResourcePlan

from govcloud.cloud.credentials import connect
from govcloud.cloud.lookup import find_in_cloud
from govcloud.engine.locks import clear_stale_engine_locks
from govcloud.engine.command import PulumiCli
from govcloud.engine.stack import locate
from govcloud.settings import read_passphrase






@dataclass(frozen=True)
class Recovery:
    notes: tuple[str, ...] = ()
    needs_refresh: bool = False
    deployment: dict | None = None  # the state as found (before the repair), None when the stack does not exist


def recover(plan: ResourcePlan, config: ConfigRepo, cli: PulumiCli | None = None) -> Recovery:
    """Repair what an interrupted or killed run left: stale engine locks and pending operations.

    Raises StackLockedError when a live run holds the stack. Returns notes for
    the user and whether a refresh must follow (it must after pending
    operations were resolved).
    """
    loc = locate(plan, config)
    notes = list(clear_stale_engine_locks(loc))
    cli = cli or PulumiCli(loc, read_passphrase(agency=plan.service.agency))
    dep = cli.export()
    pending = list(((dep or {}).get("deployment") or {}).get("pending_operations") or [])
    if not pending:
        return Recovery(tuple(notes), False, dep)
    creates = [op for op in pending if op.get("type") == "creating"]
    conn = connect(plan.service.cloud, plan.service.project, plan.service.region) if creates else None
    resources = dep["deployment"].setdefault("resources", [])
    in_state = {r.get("urn") for r in resources}
    for op in pending:
        res = op.get("resource") or {}
        urn = res.get("urn", "?")
        key = ev.urn_parts(urn)[1]
        if op.get("type") != "creating":
            notes.append(f"{key}: dropped the pending '{op.get('type')}' of the interrupted run "
                         f"(the refresh reads its real state)")
            continue
        if urn in in_state:
            notes.append(f"{key}: dropped a pending create of a resource already in the state")
            continue
        tracked = {r.get("id") for r in resources if r.get("type") == res.get("type") and r.get("id")}
        found = find_in_cloud(conn, res.get("type", ""), res.get("inputs") or {}, exclude=tracked)
        if found:
            # the state a finished create would have left: its inputs as the last known outputs (so the
            # refresh reads the resource as a known one and keeps what the cloud API cannot report back,
            # e.g. a server's port and scheduler hints), plus the cloud id
            adopted = {k: v for k, v in res.items() if k not in ("outputs", "id")}
            adopted.update({"id": found, "custom": True, "outputs": dict(res.get("inputs") or {})})
            resources.append(adopted)
            in_state.add(urn)
            notes.append(f"{key}: the interrupted run had created it ({found}); adopted into the state, "
                         f"not created again")
        else:
            notes.append(f"{key}: the interrupted run had not created it; the pending create was dropped")
    dep["deployment"]["pending_operations"] = []
    cli.import_(dep)
    return Recovery(tuple(notes), True, dep)
