"""`govcloud history`: the engine's update history joined with govcloud's audit log, newest first.

Pulumi's history says what the engine did to a stack (kind, result, resource counts); the audit log
(ops/audit.py) says which govcloud run did it, who ran it, from which git commit and manifest, and which
runs were refused before the engine. An update belongs to the audit record of the same kind whose run it
started within; an update with no record was made outside govcloud (a hand-run `pulumi up`), and says so.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from govcloud.ops.audit import AuditRecord


def format_history(records: Sequence[AuditRecord]) -> list[str]:
    """One line per audit record, newest first, for `govcloud history --audit`."""
    lines = []
    for r in reversed(records):
        by = r.who() + (f" ({r.ci['user']})" if r.ci.get("system") and r.ci.get("user") else "")
        git = f" {r.git_text()}" if r.git_commit else ""
        line = (f"  {r.started:<20} {r.operation:<8} {r.result:<11} {r.duration_seconds:7.1f}s  {by}  "
                f"{r.summary()}{git}")
        if r.error:
            line += f"\n{'':<24}error: {r.error}"
        lines.append(line)
    return lines


_ENGINE_KIND = {"deploy": "update", "destroy": "destroy"}


def _parse_time(text: str) -> _dt.datetime | None:
    try:
        t = _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


@dataclass(frozen=True)
class HistoryEntry:
    """One line of `govcloud history`: an engine update (Pulumi's history), the audit record of the govcloud
    run that made it, or both. A run refused before the engine (data loss, a stale plan) has no update; an
    update made outside govcloud (a hand-run `pulumi up`) has no audit record, and says so."""

    time: str
    kind: str  # the engine's: update | destroy | refresh | preview ...; the audit's operation without one
    result: str
    changes: Mapping[str, int]
    message: str = ""
    audit: AuditRecord | None = None
    engine: bool = True  # the engine's history has it

    def to_json(self) -> dict:
        return {"time": self.time, "kind": self.kind, "result": self.result, "resourceChanges": dict(self.changes),
                "message": self.message, "engine": self.engine,
                "audit": self.audit.to_json() if self.audit is not None else None}


def merge_history(updates: Sequence[Mapping[str, Any]], records: Sequence[AuditRecord],
                  slack_seconds: float = 2.0) -> list[HistoryEntry]:
    """Pulumi's update history joined with the audit records, newest first.

    An update belongs to the record of the same kind whose run it started within (the record's start time
    to start + duration, give or take `slack_seconds`: the two clocks round differently).
    """
    spans = []
    for r in records:
        start = _parse_time(r.started)
        if start is not None:
            spans.append((r, start, start + _dt.timedelta(seconds=r.duration_seconds)))
    used: set[int] = set()
    out: list[tuple[_dt.datetime, HistoryEntry]] = []
    slack = _dt.timedelta(seconds=slack_seconds)
    for u in updates:
        t = _parse_time(str(u.get("startTime", "")))
        kind = str(u.get("kind", ""))
        match = None
        if t is not None:
            for i, (r, start, end) in enumerate(spans):
                if i not in used and _ENGINE_KIND.get(r.operation) == kind and start - slack <= t <= end + slack:
                    match = i
                    break
        if match is not None:
            used.add(match)
        changes = {str(k): int(v) for k, v in (u.get("resourceChanges") or {}).items() if isinstance(v, int)}
        entry = HistoryEntry(time=str(u.get("startTime", "")), kind=kind, result=str(u.get("result", "")),
                             changes=changes, message=str(u.get("message", "")),
                             audit=spans[match][0] if match is not None else None)
        out.append((t or _dt.datetime.min.replace(tzinfo=_dt.timezone.utc), entry))
    for i, (r, start, _end) in enumerate(spans):
        if i not in used:
            out.append((start, HistoryEntry(time=r.started, kind=r.operation, result=r.result,
                                            changes=dict(r.counts), audit=r, engine=False)))
    out.sort(key=lambda te: te[0], reverse=True)
    return [e for _t, e in out]


def format_merged_history(entries: Sequence[HistoryEntry]) -> list[str]:
    """`govcloud history` lines: when, what, result, changes, who and from which commit."""
    lines = []
    for e in entries:
        r = e.audit
        # govcloud's counts (cloud resources) when it ran it; the engine's also count the stack and provider
        counts = r.counts if r is not None and r.counts else e.changes
        changes = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "same") or "no changes"
        if r is None:
            by = "(no govcloud audit record: run outside govcloud)"
        else:
            by = r.who() + (f" {r.git_text()}" if r.git_commit else "")
            if r.manifest_sha256:
                by += f" manifest {r.manifest_sha256[:12]}"
            if not e.engine:
                by += "  (stopped before the engine)"
        line = f"  {e.time[:19]:<20} {e.kind:<8} {e.result:<11} {changes:<30} {by}"
        if r is not None and r.error and e.result not in ("succeeded", "ok"):
            line += f"\n{'':<24}{r.error.splitlines()[0]}"
        lines.append(line)
    return lines
