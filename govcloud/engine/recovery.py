"""Repair what an interrupted or killed run left in the state: pending operations.

A pending *create* may or may not have reached the cloud: the resource is looked up by its unique name
(or, for unnamed ones, by what identifies it: a rule's group and ports, an interface's router and
subnet, an attachment's server and volume, ...); when found it is adopted into the state with its cloud
id (so it is neither orphaned nor created a second time), otherwise the pending create is dropped. A
pending create of a resource the state already holds is a replacement's new half (create before
delete): when found, it becomes the resource and the old one is marked for deletion, as a finished
create-replacement leaves them. Other pending operations are dropped, and a refresh then reads every
resource back from the cloud. When the cloud cannot answer a lookup, nothing is changed (LookupFailed):
the next run tries again. A resource a failed run created without finishing (`initErrors`: its create
succeeded, reading it back failed) is refreshed too: the engine would retry it with an update, which a
volume attachment does not support ("doesn't support update", at every later run).

A create the engine reports as *failed* is as unsure as an interrupted one (the answer was lost, the
client timed out after the cloud acted), but the engine forgets it, and `pulumi stack import` drops
pending operations: `remember_unsure_creates` records it in govcloud's state directory
(pending/<project>--<stack>.json), and the next run's recovery settles it like a pending create.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from govcloud.engine import events as ev
from govcloud.config import ConfigRepo
from govcloud.plan.model import ResourcePlan

from govcloud.cloud.credentials import connect
from govcloud.cloud.lookup import LookupFailed, find_in_cloud
from govcloud.engine.locks import clear_stale_engine_locks
from govcloud.engine.command import PulumiCli
from govcloud.engine.stack import StackLocation, locate
from govcloud.errors import SetupError
from govcloud.settings import read_passphrase

LOOKUP_TIMEOUT = 60.0  # seconds per API call of the lookups, when the clouds.yaml entry sets no api_timeout
@dataclass(frozen=True)
class Recovery:
    notes: tuple[str, ...] = ()
    needs_refresh: bool = False
    deployment: dict | None = None  # the state as found (before the repair), None when the stack does not exist


def recover(plan: ResourcePlan, config: ConfigRepo, cli: PulumiCli | None = None) -> Recovery:
    """Repair what an interrupted, killed or failed run left: stale engine locks, pending operations (the
    state's and the failed creates remember_unsure_creates kept), resources created without finishing.

    Raises StackLockedError when a live run holds the stack, LookupFailed (nothing changed) when the cloud
    cannot answer a lookup. Returns notes for the user and whether a refresh must follow (it must after
    pending operations were resolved or when a resource was left unfinished).
    """
    loc = locate(plan, config)
    notes = list(clear_stale_engine_locks(loc))
    cli = cli or PulumiCli(loc, read_passphrase(agency=plan.service.agency))
    dep = cli.export()
    pending = list(((dep or {}).get("deployment") or {}).get("pending_operations") or [])
    urns = {(op.get("resource") or {}).get("urn") for op in pending}
    remembered = remembered_creates(loc)
    pending += [op for op in remembered if op["resource"]["urn"] not in urns]
    if dep is None:
        return Recovery(tuple(notes), False, dep)
    # created by a failed run without finishing (the answer read back after the create failed): the engine
    # would retry with an update, which types such as a volume attachment do not support; a refresh reads
    # them back and clears the errors
    unfinished = [ev.urn_parts(r.get("urn", ""))[1] for r in dep["deployment"].get("resources") or []
                  if r.get("initErrors") and not r.get("delete")]
    notes += [f"{key}: a failed run created it without finishing; the refresh reads it back" for key in unfinished]
    if not pending:
        return Recovery(tuple(notes), bool(unfinished), dep)
    creates = [op for op in pending if op.get("type") == "creating"]
    conn = (connect(plan.service.cloud, plan.service.project, plan.service.region, api_timeout=LOOKUP_TIMEOUT)
            if creates else None)
    resources = dep["deployment"].setdefault("resources", [])
    live = {r.get("urn"): r for r in resources if not r.get("delete")}
    for op in pending:
        res = op.get("resource") or {}
        urn = res.get("urn", "?")
        key = ev.urn_parts(urn)[1]
        if op.get("type") != "creating":
            notes.append(f"{key}: dropped the pending '{op.get('type')}' of the interrupted run "
                         f"(the refresh reads its real state)")
            continue
        tracked = {r.get("id") for r in resources if r.get("type") == res.get("type") and r.get("id")}
        try:
            found = find_in_cloud(conn, res.get("type", ""), res.get("inputs") or {}, exclude=tracked)
        except LookupFailed as exc:
            raise LookupFailed(f"recovery of {loc.name}: {exc}. Nothing was changed: the pending create of "
                               f"{key} stays until a run can look it up; run the same command again") from None
        old = live.get(urn)
        if not found:
            notes.append(f"{key}: the interrupted run had not created it; the pending create was dropped"
                         if old is None else f"{key}: the interrupted run had not created its replacement; the "
                                             f"pending create was dropped (the resource in the state stays)")
            continue
        # the state a finished create would have left: its inputs as the last known outputs (so the
        # refresh reads the resource as a known one and keeps what the cloud API cannot report back,
        # e.g. a server's port and scheduler hints), plus the cloud id
        adopted = {k: v for k, v in res.items() if k not in ("outputs", "id")}
        adopted.update({"id": found, "custom": True, "outputs": dict(res.get("inputs") or {})})
        if old is not None:  # a replacement's new half: the old one goes at the next run
            old["delete"] = True
            notes.append(f"{key}: the interrupted run had created its replacement ({found}); adopted, "
                         f"the old one ({old.get('id')}) is deleted by the next run")
        else:
            notes.append(f"{key}: the interrupted run had created it ({found}); adopted into the state, "
                         f"not created again")
        resources.append(adopted)
        live[urn] = adopted
    dep["deployment"]["pending_operations"] = []
    cli.import_(dep)
    if remembered:
        loc.state.unsure_creates(loc.project, loc.stack).unlink(missing_ok=True)
    return Recovery(tuple(notes), True, dep)


UNSURE_OPS = ("create", "create-replacement")
_STATE_KEYS = ("urn", "type", "custom", "parent", "provider", "inputs", "protect", "retainOnDelete",
               "dependencies", "propertyDependencies")


def unsure_create(raw_event: Any) -> dict | None:
    """The resource a create reported as failed was making (a resOpFailedEvent of op create or
    create-replacement, without a cloud id), as a state resource; None for every other event. Inputs
    holding a secret are left out: the lookup needs names and shapes, the refresh reads the rest."""
    failed = raw_event.get("resOpFailedEvent") if isinstance(raw_event, Mapping) else None
    md = failed.get("metadata") if isinstance(failed, Mapping) else None
    new = md.get("new") if isinstance(md, Mapping) else None
    if not isinstance(new, Mapping) or md.get("op") not in UNSURE_OPS or new.get("id") or not new.get("urn"):
        return None
    res = {k: new[k] for k in _STATE_KEYS if k in new}
    res["inputs"] = {k: v for k, v in (new.get("inputs") or {}).items() if not _holds_secret(v)}
    return res


def _holds_secret(value: Any) -> bool:
    if isinstance(value, Mapping):
        return value.get(ev.SECRET_SIG_KEY) == ev.SECRET_SIG or any(_holds_secret(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_secret(v) for v in value)
    return value == ev.SECRET


def remembered_creates(loc: StackLocation) -> list[dict]:
    """The failed creates remember_unsure_creates recorded for this stack, as pending create operations."""
    path = loc.state.unsure_creates(loc.project, loc.stack)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise SetupError(f"{path}: unreadable ({exc}); it lists creates a failed run may have made in the "
                         f"cloud: look for them, then remove the file") from None
    return [op for op in data if isinstance(op, dict) and isinstance(op.get("resource"), dict)
            and isinstance(op["resource"].get("urn"), str)] if isinstance(data, list) else []


def remember_unsure_creates(loc: StackLocation, resources: Iterable[Mapping[str, Any]]) -> list[str]:
    """Record failed creates (unsure_create) for the next run's recovery; the notes say so. Call it with
    the stack lock held."""
    known = remembered_creates(loc)
    urns = {op["resource"]["urn"] for op in known}
    added = []
    for res in resources:
        if res["urn"] not in urns:
            known.append({"resource": dict(res), "type": "creating"})
            urns.add(res["urn"])
            added.append(ev.urn_parts(res["urn"])[1])
    if not added:
        return []
    path = loc.state.unsure_creates(loc.project, loc.stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # inputs: user data, names
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(known, f)
    os.replace(tmp, path)
    return [f"{key}: the failed create may have reached the cloud; the next run looks it up and adopts it "
            f"(or drops it when it is not there)" for key in added]
