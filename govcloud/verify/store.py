"""What verify keeps per stack, and what it writes to the audit log.

One directory per stack, `<state dir>/verify/<pulumi project>/<stack>/` (`stack_dir`,
the one place that names it; the state dir is ConfigRepo.state_dir, `.govcloud/` of
the config repo):

    known_hosts   the pinned host keys (govcloud.verify.known_hosts.PinnedKeys)
    last.json     the last verify report of the stack (`last_verify`), for the catalog

Every verify and ssh run appends one record to the audit log through
govcloud.ops.audit (operation `verify` or `ssh`) with the host keys seen: for each
server and bastion the fingerprint presented and what became of it (matched a pin,
pinned now from the console, re-pinned, refused).
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Sequence

from govcloud.ops import audit
from govcloud.plan.model import ServiceRef
from govcloud.verify.known_hosts import PinnedKeys
from govcloud.verify.model import VerifyReport

LAST_REPORT = "last.json"
KNOWN_HOSTS = "known_hosts"


def stack_dir(config: Any, stack: str) -> Path:
    """`<state dir>/verify/<project>/<stack>` for a stack named `project/stack`."""
    project, _, name = stack.partition("/")
    if not project or not name or ".." in (project, name):
        raise ValueError(f"a stack is named project/stack, not {stack!r}")
    return config.state_dir.verify_stack(project, name)


def stack_name(service: ServiceRef) -> str:
    return f"{service.pulumi_project}/{service.stack}"


def pinned_keys(config: Any, stack: str) -> PinnedKeys:
    return PinnedKeys(stack_dir(config, stack) / KNOWN_HOSTS)


def save_report(config: Any, report: VerifyReport) -> Path:
    """Keep `report` as the stack's last (atomically: a reader never sees half a file)."""
    path = stack_dir(config, report.stack) / LAST_REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".last.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(report.to_json(), f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def last_verify(config: Any, stack: str) -> VerifyReport | None:
    """The last verify report of `stack` (project/stack), or None when it was never verified."""
    try:
        data = json.loads((stack_dir(config, stack) / LAST_REPORT).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return VerifyReport.from_json(data) if isinstance(data, dict) else None


# ---------------------------------------------------------------- audit


@dataclass(frozen=True)
class KeySeen:
    """One host key seen during a run, for the audit log."""

    who: str  # server <name> | bastion <host>
    address: str
    fingerprint: str  # SHA256:... (TYPE), or "" when none was seen
    outcome: str  # matched | pinned | repinned | refused-unknown | refused-changed
    source: str = ""  # pinned | console | known_hosts FILE | inventory

    def to_json(self) -> dict:
        return {"who": self.who, "address": self.address, "fingerprint": self.fingerprint,
                "outcome": self.outcome, "source": self.source}


@dataclass(frozen=True)
class HostKeyAuditRecord(audit.AuditRecord):
    """An audit record with the host keys a verify or ssh run saw."""

    host_keys: tuple[KeySeen, ...] = ()
    detail: str = ""  # what ran: "ssh web-1 (shell)", "ssh web-1: uptime"

    def to_json(self) -> dict:
        out = super().to_json()
        out["hostKeys"] = [k.to_json() for k in self.host_keys]
        if self.detail:
            out["detail"] = self.detail
        return out


def record_run(config: Any, *, operation: str, stack: str, manifest: str, ok: bool, seen: Sequence[KeySeen],
               started: str, duration_seconds: float, error: str = "", detail: str = "") -> None:
    """One audit record for a verify or ssh run: `refused` when a host key was refused, else ok / failed."""
    refused = any(k.outcome.startswith("refused") for k in seen)
    result = "ok" if ok else ("refused" if refused else "failed")
    base = audit.make_record(config, operation=operation, stack=stack, result=result, manifest=manifest,
                             started=started, duration_seconds=duration_seconds, error=error)
    record = HostKeyAuditRecord(**{f.name: getattr(base, f.name) for f in fields(base)}, host_keys=tuple(seen),
                                detail=audit.redact(detail)[:300])
    audit.append_audit(config, record)
