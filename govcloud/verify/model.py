"""The result of a verify run, typed: per server its checks or its one failure, per stack a report.

Every failure is put in exactly one class (`Failure`), named in every output format,
so that a CI job, the catalog and a person reading the table see the same thing.
A report round-trips through JSON (`to_json` / `from_json`): the last one of each
stack is kept for the catalog (govcloud.verify.store).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping


class Failure(str, Enum):
    UNREACHABLE = "unreachable"
    REFUSED = "connection-refused"
    HOST_KEY_UNKNOWN = "host-key-unknown"
    HOST_KEY_CHANGED = "host-key-changed"
    AUTH_FAILED = "auth-failed"
    BOOT_TIMEOUT = "boot-timeout"
    CHECK_FAILED = "check-failed"

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    Failure.UNREACHABLE: "unreachable",
    Failure.REFUSED: "connection refused",
    Failure.HOST_KEY_UNKNOWN: "host key unknown",
    Failure.HOST_KEY_CHANGED: "host key changed",
    Failure.AUTH_FAILED: "authentication failed",
    Failure.BOOT_TIMEOUT: "timed out while booting",
    Failure.CHECK_FAILED: "check failed",
}


@dataclass(frozen=True)
class CheckResult:
    name: str  # cloud-init | health-command | health-port | health-port-public | volume:<name> | disk | memory
    ok: bool
    detail: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Diagnostics:
    """What Nova says about a server that could not be checked (as Tempest attaches it)."""

    status: str = ""  # ACTIVE | BUILD | ERROR | SHUTOFF ...
    fault: str = ""  # the server's fault: code and message
    console_tail: str = ""
    notes: tuple[str, ...] = ()  # what could not be read, and why

    def to_json(self) -> dict:
        return {"status": self.status, "fault": self.fault, "consoleTail": self.console_tail,
                "notes": list(self.notes)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Diagnostics":
        return cls(str(d.get("status", "")), str(d.get("fault", "")), str(d.get("consoleTail", "")),
                   tuple(str(n) for n in d.get("notes") or ()))


@dataclass(frozen=True)
class HostResult:
    server: str  # the OpenStack name
    label: str  # the instance in the manifest's terms: web-1
    server_id: str = ""
    address: str = ""  # where verify connected: host:port
    route: str = "direct"  # direct | via bastion user@host:port
    checks: tuple[CheckResult, ...] = ()
    failure: Failure | None = None
    message: str = ""  # what the failure was, in words
    host_key: str = ""  # the key the server presented (fingerprint and type)
    host_key_source: str = ""  # pinned | console (pinned now) | known_hosts FILE
    attempts: int = 1
    diagnostics: Diagnostics | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None and all(c.ok for c in self.checks)

    def to_json(self) -> dict:
        return {"server": self.server, "label": self.label, "serverId": self.server_id, "address": self.address,
                "route": self.route, "ok": self.ok, "failure": self.failure.value if self.failure else None,
                "failureTitle": self.failure.title if self.failure else None, "message": self.message,
                "hostKey": self.host_key, "hostKeySource": self.host_key_source, "attempts": self.attempts,
                "checks": [c.to_json() for c in self.checks],
                "diagnostics": self.diagnostics.to_json() if self.diagnostics else None}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "HostResult":
        diag = d.get("diagnostics")
        return cls(server=str(d.get("server", "")), label=str(d.get("label", "")),
                   server_id=str(d.get("serverId", "")), address=str(d.get("address", "")),
                   route=str(d.get("route", "direct")),
                   checks=tuple(CheckResult(str(c.get("name", "")), bool(c.get("ok")), str(c.get("detail", "")))
                                for c in d.get("checks") or ()),
                   failure=Failure(d["failure"]) if d.get("failure") else None, message=str(d.get("message", "")),
                   host_key=str(d.get("hostKey", "")), host_key_source=str(d.get("hostKeySource", "")),
                   attempts=int(d.get("attempts") or 1),
                   diagnostics=Diagnostics.from_json(diag) if isinstance(diag, Mapping) else None)


@dataclass(frozen=True)
class VerifyReport:
    stack: str  # pulumi project/stack, e.g. govcloud-moe/citizen-portal-dev
    service: str  # agency/environment/name
    manifest: str = ""
    started: str = ""  # UTC ISO 8601
    duration_seconds: float = 0.0
    hosts: tuple[HostResult, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)  # planned servers the stack does not have, ...

    @property
    def ok(self) -> bool:
        return all(h.ok for h in self.hosts) and not self.notes

    def failures(self) -> dict[str, int]:
        """Failure class -> number of servers."""
        out: dict[str, int] = {}
        for h in self.hosts:
            if not h.ok:
                key = (h.failure or Failure.CHECK_FAILED).value
                out[key] = out.get(key, 0) + 1
        return out

    def summary(self) -> str:
        bad = sum(1 for h in self.hosts if not h.ok)
        n = len(self.hosts)
        text = f"{n} server{'s' if n != 1 else ''}: {n - bad} ok, {bad} failed"
        if self.failures():
            text += " (" + ", ".join(f"{Failure(k).title} {v}" for k, v in sorted(self.failures().items())) + ")"
        return text

    def to_json(self) -> dict:
        return {"stack": self.stack, "service": self.service, "manifest": self.manifest, "started": self.started,
                "durationSeconds": round(self.duration_seconds, 3), "ok": self.ok, "summary": self.summary(),
                "failures": self.failures(), "notes": list(self.notes), "servers": [h.to_json() for h in self.hosts]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "VerifyReport":
        return cls(stack=str(d.get("stack", "")), service=str(d.get("service", "")),
                   manifest=str(d.get("manifest", "")), started=str(d.get("started", "")),
                   duration_seconds=float(d.get("durationSeconds") or 0),
                   hosts=tuple(HostResult.from_json(h) for h in d.get("servers") or ()),
                   notes=tuple(str(n) for n in d.get("notes") or ()))
