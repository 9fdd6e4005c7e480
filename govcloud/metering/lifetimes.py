"""The lifetime ledger: when each server, volume and floating IP lived, from govcloud's own engine events.

The cloud's APIs forget: Cinder and Neutron do not list deleted volumes and
floating IPs, and Nova drops a deleted server's metadata. A resource created
and deleted between two collections would be charged to no one, or not at
all. But every deploy and destroy goes through govcloud's engine runner,
which writes the engine's raw events to `<state>/logs/*.events.jsonl`; those
events say, with a timestamp, when the engine finished creating a resource
(its id, flavor, size, metadata) and when it finished deleting it.

`record_operation(...)` turns the steps of one operation into intervals in
the usage store (`lifetimes` table):

    create, create-replacement, import (done)   -> an interval opens at the event time
    delete, delete-replaced (done)              -> the open interval of that id ends
    update (done) that changes flavor or size   -> the interval ends and a new one opens

A replacement is a new id (create-replacement) and an old id ending
(delete-replaced), so it needs nothing special. Preview (planning) steps,
failed steps and resources of other types are ignored. Recording the same
operation twice changes nothing (intervals are keyed by their start).

The interval runs from the *completion* of the create to the *completion* of
the delete: Nova's `launched_at` and `terminated_at` lag the requests in the
same way, so the two sources agree to within the provider's polling interval.
Collection (`collect.Collector`) uses the intervals; `reconcile` says where
the ledger and the cloud disagree by more than a tolerance.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping

from govcloud.engine.events import scrub, urn_parts
from govcloud.metering.periods import UTC
from govcloud.metering.store import Lifetime, UsageStore

KINDS = {
    "openstack:compute/instance:Instance": "server",
    "openstack:blockstorage/volume:Volume": "volume",
    "openstack:networking/floatingIp:FloatingIp": "floating-ip",
}
_OPENS = {"create", "create-replacement", "import", "import-replacement"}
_CLOSES = {"delete", "delete-replaced"}
_TAG_PREFIX = "govcloud:"


@dataclass
class LedgerResult:
    opened: int = 0
    closed: int = 0
    resized: int = 0
    unchanged: int = 0
    skipped: str = ""  # why nothing was recorded (a preview, no events file)
    resources: list[str] = field(default_factory=list)  # "kind id" touched

    def to_json(self) -> dict:
        return {"opened": self.opened, "closed": self.closed, "resized": self.resized, "unchanged": self.unchanged,
                "skipped": self.skipped or None, "resources": self.resources}


def events_file(result: Any) -> Path | None:
    """The raw events file an engine OperationResult wrote next to its log (`<log>.events.jsonl`)."""
    log = getattr(result, "log_file", None)
    return Path(log).with_suffix(".events.jsonl") if log else None


def read_events(source: Any) -> list[dict]:
    """Raw engine events from an OperationResult, a path to an .events.jsonl file, or an iterable of dicts."""
    if hasattr(source, "log_file"):
        source = events_file(source)
        if source is None:
            return []
    if isinstance(source, (str, Path)):
        out = []
        for line in Path(source).read_text(encoding="utf-8").splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # a torn last line of an interrupted operation
            if isinstance(ev, dict):
                out.append(ev)
        return out
    return [e for e in source if isinstance(e, Mapping)]


def _when(event: Mapping, fallback: datetime) -> datetime:
    ts = event.get("timestamp")
    return datetime.fromtimestamp(ts, UTC) if isinstance(ts, int) and ts > 0 else fallback


def _state(md: Mapping, side: str) -> tuple[str, Mapping, Mapping]:
    st = md.get(side) if isinstance(md.get(side), Mapping) else {}
    ins = scrub(st.get("inputs")) if isinstance(st.get("inputs"), Mapping) else {}
    outs = scrub(st.get("outputs")) if isinstance(st.get("outputs"), Mapping) else {}
    return str(st.get("id") or ""), ins, outs


def _metadata(kind: str, ins: Mapping, outs: Mapping) -> dict[str, str]:
    """The govcloud:* tags the compiler wrote (Nova/Cinder metadata, Neutron tags `key=value`)."""
    if kind == "floating-ip":
        md = {}
        for tag in ins.get("tags") or outs.get("tags") or ():
            key, sep, value = str(tag).partition("=")
            if sep:
                md[key] = value
    else:
        md = dict(ins.get("metadata") or outs.get("metadata") or {})
    return {str(k): str(v) for k, v in md.items() if str(k).startswith(_TAG_PREFIX)}


def lifetime_of(site, kind: str, rid: str, ins: Mapping, outs: Mapping, projects: Mapping[str, str],
                when: datetime, stack: str, urn: str, manifest_sha256: str) -> Lifetime:
    """An interval opening at `when` with what the events say about the resource."""
    tags = _metadata(kind, ins, outs)
    agency = tags.get("govcloud:agency", "")
    attrs: dict = {"tags": tags}
    if kind == "server":
        flavor = str(ins.get("flavorName") or outs.get("flavorName") or "")
        attrs["flavor"] = flavor
        size = next((s for s in site.sizes.values() if s.flavor == flavor), None)
        if size is not None:
            attrs.update(vcpus=size.vcpus, ramMb=size.ram_mb, diskGb=size.disk_gb)
    elif kind == "volume":
        attrs.update(sizeGb=int(ins.get("size") or outs.get("size") or 0),
                     type=str(ins.get("volumeType") or outs.get("volumeType") or ""))
    else:
        attrs["address"] = str(outs.get("address") or "")
    name = str(ins.get("name") or outs.get("name") or outs.get("address") or urn_parts(urn)[1])
    project_id = str(outs.get("tenantId") or outs.get("projectId") or "")
    return Lifetime(site.name, kind, rid, when, None, project_id, projects.get(agency, agency),
                    name, tags.get("govcloud:service", "(unmanaged)"), tags.get("govcloud:environment", ""), attrs,
                    stack, urn, manifest_sha256)


def _size_key(lt: Lifetime) -> tuple:
    a = lt.attrs
    return (a.get("flavor"), a.get("vcpus"), a.get("ramMb"), a.get("sizeGb"))


def record_operation(source: Any, store: UsageStore, site, projects: Mapping[str, str], *,
                     when: datetime | None = None, stack: str = "", manifest_sha256: str = "") -> LedgerResult:
    """Record the lifetimes an engine operation created, changed or ended.

    `source`: the engine's OperationResult (its `.events.jsonl` is read), a path to such a file,
    or the raw events. `site`: the inventory Site the stack is deployed to; `projects`: agency id
    -> OpenStack project name (Agency.project). `when`: the time of events without a timestamp.
    """
    result = LedgerResult()
    if getattr(source, "op", None) == "preview":
        result.skipped = "a preview changes nothing"
        return result
    try:
        events = read_events(source)
    except OSError as exc:
        result.skipped = f"no events: {exc}"
        return result
    if any(isinstance(e.get("summaryEvent"), Mapping) and e["summaryEvent"].get("isPreview") for e in events):
        result.skipped = "a preview changes nothing"
        return result
    now = when or datetime.now(UTC)
    stack = stack or str(getattr(source, "stack", "") or "")
    for event in sorted(events, key=lambda e: e.get("sequence") if isinstance(e.get("sequence"), int) else 0):
        payload = event.get("resOutputsEvent")
        if not isinstance(payload, Mapping) or payload.get("planning"):
            continue
        md = payload.get("metadata") if isinstance(payload.get("metadata"), Mapping) else {}
        kind = KINDS.get(str(md.get("type") or urn_parts(str(md.get("urn") or ""))[0]))
        op = str(md.get("op") or "")
        if kind is None:
            continue
        at = _when(event, now)
        urn = str(md.get("urn") or "")
        if op in _OPENS:
            rid, ins, outs = _state(md, "new")
            if not rid:
                continue
            lt = lifetime_of(site, kind, rid, ins, outs, projects, at, stack, urn, manifest_sha256)
            _count(result, store.save_lifetime(lt, now), "opened", kind, rid)
        elif op in _CLOSES:
            rid, ins, outs = _state(md, "old")
            if not rid:
                continue
            lt = store.open_lifetime(site.name, kind, rid)
            if lt is None:  # created before the ledger existed: only the end is known
                lt = lifetime_of(site, kind, rid, ins, outs, projects, at, stack, urn, manifest_sha256)
                lt.started_at = None
                if any(x.ended_at == at for x in store.lifetimes(site.name, kind, resource_id=rid)):
                    result.unchanged += 1
                    continue
            lt.ended_at = at
            _count(result, store.save_lifetime(lt, now), "closed", kind, rid)
        elif op == "update":
            rid, ins, outs = _state(md, "new")
            old = store.open_lifetime(site.name, kind, rid) if rid else None
            new = lifetime_of(site, kind, rid, ins, outs, projects, at, stack, urn, manifest_sha256) if rid else None
            if old is None or new is None or _size_key(old) == _size_key(new) or (
                    old.started_at is not None and old.started_at >= at):
                result.unchanged += 1
                continue
            old.ended_at = at
            store.save_lifetime(old, now)
            _count(result, store.save_lifetime(new, now), "resized", kind, rid)
    return result


def _count(result: LedgerResult, changed: bool, what: str, kind: str, rid: str) -> None:
    if changed:
        setattr(result, what, getattr(result, what) + 1)
        result.resources.append(f"{kind} {rid}")
    else:
        result.unchanged += 1


def record_events_files(paths: Iterable[str | Path], store: UsageStore, site, projects: Mapping[str, str],
                        **kwargs) -> LedgerResult:
    """`record_operation` over several .events.jsonl files in time order (a back-fill from <state>/logs)."""
    total = LedgerResult()
    for p in sorted(paths, key=lambda p: Path(p).stat().st_mtime):
        r = record_operation(Path(p), store, site, projects, **kwargs)
        total.opened += r.opened
        total.closed += r.closed
        total.resized += r.resized
        total.unchanged += r.unchanged
        total.resources += r.resources
    return total
