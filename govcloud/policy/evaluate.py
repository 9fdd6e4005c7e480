"""The policy engine: rules over checked manifests and their ResourcePlans -> a PolicyReport.

    evaluate(services, config) -> PolicyReport
    check_paths(paths, workspace) -> (results, report)

`evaluate` takes CheckedServices (or (CheckedService, ResourcePlan) pairs),
runs every service rule on each and every group rule on each group, locates
each violation in the manifest (or blueprint) line that wrote the field,
and applies the exceptions of policies.yaml. `check_paths` is the whole
offline check of files and directories that validate, plan and deploy use:
load, compile, policy, one result per file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from govcloud.errors import printable, GovcloudError, Problem, SourceLocation, format_path
from govcloud.policy.core import (ADVISORY, MANDATORY, OFF, GroupContext, PolicyConfig, PolicyException, Rule,
                                  ServiceContext, SiteFacts, Violation)
from govcloud.policy.policyfile import load_policy_config
from govcloud.policy.registry import load_rules

if TYPE_CHECKING:  # pragma: no cover
    from govcloud.config import ConfigRepo
    from govcloud.load.inventory import Inventory
    from govcloud.check import CheckedService
    from govcloud.plan.model import ResourcePlan


@dataclass(frozen=True)
class Finding:
    rule_id: str
    title: str
    severity: str  # effective: mandatory | advisory (after exceptions)
    message: str
    path: str  # spec.network.ingress[1].from
    location: SourceLocation | None
    hint: str | None
    file: str  # the manifest checked
    service: str  # agency/environment/name
    rule_severity: str  # the rule's own severity
    waived: bool = False  # an exception turned it off
    justification: str | None = None  # of the exception that applied, if any
    exception: PolicyException | None = None
    data: Mapping[str, Any] | None = None

    @property
    def blocking(self) -> bool:
        return self.severity == MANDATORY and not self.waived

    def to_problem(self) -> Problem:
        """As a Problem the CLI prints like every other: code = rule id, error or warning."""
        hint = self.hint
        if self.exception is not None and not self.waived:
            note = (f"severity set to {self.severity} by {_where(self.exception)}: {self.justification}")
            hint = f"{hint}; {note}" if hint else note
        return Problem(f"[{self.rule_id}] {self.message}", self.path, self.location,
                       severity="error" if self.severity == MANDATORY else "warning", code=self.rule_id, hint=hint)

    def format_waiver(self) -> str:
        where = str(self.location) if self.location else self.file
        return printable(f"{where}: waived: {self.path}: [{self.rule_id}] {self.message} "
                         f"(by {_where(self.exception)}: {self.justification})")

    def to_dict(self) -> dict:
        loc = self.location
        return {"rule": self.rule_id, "title": self.title, "severity": self.severity,
                "ruleSeverity": self.rule_severity, "message": printable(self.message), "path": printable(self.path),
                "hint": printable(self.hint) if self.hint else self.hint, "manifest": printable(self.file),
                "service": self.service, "file": printable(loc.file) if loc else None, "line": loc.line if loc else None,
                "column": loc.column if loc else None, "waived": self.waived,
                "justification": printable(self.justification) if self.justification else self.justification,
                "exception": self.exception.to_json() if self.exception else None,
                **({"data": dict(self.data)} if self.data else {})}


def _where(e: PolicyException | None) -> str:
    if e is None:
        return "policies.yaml"
    return str(e.location) if e.location else f"policies.yaml exceptions[{e.index}]"


@dataclass
class PolicyReport:
    findings: list[Finding]
    rules: list[Rule]
    policy: PolicyConfig
    services: int  # manifests checked (not counting context-only ones)
    context: int = 0  # manifests that only took part in cross-manifest rules
    _by_file: dict[str, list[Finding]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for f in self.findings:
            self._by_file.setdefault(f.file, []).append(f)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.waived and f.severity == ADVISORY]

    @property
    def waived(self) -> list[Finding]:
        return [f for f in self.findings if f.waived]

    @property
    def failed(self) -> bool:
        return any(f.blocking for f in self.findings)

    def for_file(self, file: str) -> list[Finding]:
        return self._by_file.get(str(file), [])

    def problems(self, file: str | None = None) -> list[Problem]:
        """Findings that are not waived, as Problems (errors for mandatory, warnings for advisory)."""
        found = self.findings if file is None else self.for_file(file)
        return [f.to_problem() for f in found if not f.waived]

    def exceptions_applied(self) -> list[tuple[PolicyException, int]]:
        counts: dict[int, int] = {}
        for f in self.findings:
            if f.exception is not None:
                counts[f.exception.index] = counts.get(f.exception.index, 0) + 1
        return [(e, counts[e.index]) for e in self.policy.exceptions if e.index in counts]

    def unused_exceptions(self) -> list[PolicyException]:
        used = {e.index for e, _ in self.exceptions_applied()}
        return [e for e in self.policy.exceptions if e.index not in used]

    def exception_lines(self) -> list[str]:
        """Human lines on the exceptions that applied (print them with every report)."""
        out = []
        for e, n in self.exceptions_applied():
            what = "waived" if e.severity == OFF else f"set to {e.severity}"
            out.append(printable(f"{_where(e)}: exception: {e.rule} {what} for {e.scope_text()} "
                                 f"({n} finding{'s' if n != 1 else ''}): {e.justification}"))
        return out

    def summary(self) -> str:
        b, w, x = len(self.blocking), len(self.warnings), len(self.waived)
        return (f"policy: {self.services} manifest{'s' if self.services != 1 else ''}, {len(self.rules)} rules: "
                f"{b} mandatory finding{'s' if b != 1 else ''}, {w} advisory, {x} waived by exceptions")

    def to_json(self) -> dict:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "exceptionsApplied": [{**e.to_json(), "findings": n} for e, n in self.exceptions_applied()],
            "unusedExceptions": [e.to_json() for e in self.unused_exceptions()],
            "policyFile": self.policy.file,
            "summary": {"manifests": self.services, "contextManifests": self.context, "rules": len(self.rules),
                        "mandatory": len(self.blocking), "advisory": len(self.warnings),
                        "waived": len(self.waived), "failed": self.failed},
        }


def _pairs(services: Iterable[Any]) -> list[tuple["CheckedService", "ResourcePlan"]]:
    out = []
    for s in services:
        if isinstance(s, tuple):
            out.append((s[0], s[1]))
        else:
            out.append((s, s.compile()))
    return out


def evaluate(services: Iterable[Any], config: "ConfigRepo | None" = None, *,
             rules: Sequence[Rule] | None = None, policy: PolicyConfig | None = None,
             context: Iterable[Any] = (), inventory: "Inventory | None" = None) -> PolicyReport:
    """Run the policy pack over checked services.

    `services`: CheckedService objects or (CheckedService, ResourcePlan) pairs.
    `config`: the config repo (its policies.yaml and policies/*.py); by default
    the first service's. `context`: more services that only take part in
    cross-manifest rules (quotas, overlapping networks, duplicate names):
    nothing is reported about them.
    """
    reported = _pairs(services)
    extra = _pairs(context)
    if config is None:
        first = reported[0][0] if reported else (extra[0][0] if extra else None)
        config = first.config if first is not None else None
    if rules is None:
        rules = load_rules(config)
    if policy is None:
        from govcloud.config import ConfigRepo

        policy = load_policy_config(config or ConfigRepo(None), [r.id for r in rules], inventory)
    settings = policy.settings
    facts: dict[int, tuple[Any, SiteFacts]] = {}

    def site_facts(site) -> SiteFacts:
        got = facts.get(id(site))
        if got is None:
            got = facts[id(site)] = (site, SiteFacts.of(site))
        return got[1]

    ctxs = [ServiceContext(c, p, site_facts(c.site), settings, True) for c, p in reported]
    ctxs += [ServiceContext(c, p, site_facts(c.site), settings, False) for c, p in extra]
    exceptions = {r.id: policy.exceptions_for(r.id) for r in rules}
    findings: list[Finding] = []

    def record(r: Rule, svc: ServiceContext, v: Violation | tuple) -> None:
        if not isinstance(v, Violation):
            v = Violation(tuple(v[0]), str(v[1]))
        path = tuple(v.path)
        loc = svc.locator.locate(v.at if v.at is not None else path, key=v.key)
        severity, waived, exc = r.severity, False, None
        for e in exceptions.get(r.id, ()):
            if e.matches(svc):
                exc = e
                if e.severity == OFF:
                    waived = True
                else:
                    severity = e.severity
                break
        findings.append(Finding(r.id, r.title, severity, v.message, format_path(path), loc, v.hint or r.hint,
                                svc.file, svc.label, r.severity, waived, exc.justification if exc else None, exc,
                                v.data))

    service_rules = [r for r in rules if r.scope == "service"]
    group_rules = [r for r in rules if r.scope == "group"]
    for svc in ctxs[:len(reported)]:
        for r in service_rules:
            for v in _run(r, svc):
                record(r, svc, v)
    for r in group_rules:
        groups: dict[tuple, list[ServiceContext]] = {}
        for svc in ctxs:
            groups.setdefault(tuple(getattr(svc, a) for a in r.group_by), []).append(svc)  # type: ignore[attr-defined]
        for key, members in groups.items():
            if not any(s.reported for s in members):
                continue
            for v in _run(r, GroupContext(key, members, settings)):
                svc = v.service if isinstance(v, Violation) else None
                if svc is None:
                    raise GovcloudError(f"policy rule {r.id} ({r.source}) must set service= on its violations")
                if svc.reported:
                    record(r, svc, v)
    findings.sort(key=_order)
    return PolicyReport(findings, list(rules), policy, len(reported), len(extra))


def merge_findings(parts: Iterable[Sequence[Finding]]) -> list[Finding]:
    """The findings of reports over disjoint sets of manifests, in the order one report over all of them has:
    every report sorts by file first, and the sort is stable (govcloud.check.validate_paths)."""
    return sorted((f for part in parts for f in part), key=_order)


def _order(f: Finding) -> tuple:
    loc = f.location
    if loc is None:
        return (f.file, 2, 0, 0, f.rule_id)
    return (f.file, 0 if loc.file == f.file else 1, loc.line, loc.column, f.rule_id)


def _run(r: Rule, target) -> list:
    if r.source == "builtin":
        return list(r.check(target) or ())
    try:  # a ministry's own rule that breaks is reported with its file, not a traceback
        return list(r.check(target) or ())
    except Exception as exc:  # noqa: BLE001
        raise GovcloudError(f"policy rule {r.id} ({r.source}) failed on {target!r}: "
                            f"{type(exc).__name__}: {exc}") from exc
