"""The shape of a policy rule, and what a rule is given to look at.

A rule is one small class (or a function under the `@rule` decorator) with
an `id` (`GC001`), a `title`, a `severity` (`mandatory` blocks validate, plan
and deploy; `advisory` warns), the manifest field it points at (`resource`)
and a remediation `hint`. Its docstring is its documentation.

A service rule's `check(svc)` is called once per manifest with a
`ServiceContext` (the checked manifest, its site, agency and ResourcePlan,
precomputed site facts and the policy settings) and yields `Violation`s or
`(path, message)` pairs, where `path` is a manifest field path tuple such as
('spec', 'servers', 0, 'publicIp'); the engine turns each into a located
`Finding`. A group rule (`GroupRule`, `@group_rule`) sees every manifest of
one group at once (by default: one agency on one site) for cross-manifest
checks such as quotas and overlapping networks.
"""
from __future__ import annotations

import ipaddress
import inspect
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Mapping

from govcloud.errors import SourceLocation

if TYPE_CHECKING:  # pragma: no cover
    from govcloud.load.inventory import Agency, Site
    from govcloud.load.manifest import IngressRule, Manifest
    from govcloud.check import CheckedService
    from govcloud.plan.model import ResourcePlan

MANDATORY = "mandatory"
ADVISORY = "advisory"
SEVERITIES = (MANDATORY, ADVISORY)
SENSITIVE = frozenset({"restricted", "secret"})

FieldPath = tuple  # ('spec', 'servers', 0, 'publicIp')


@dataclass(frozen=True, slots=True)
class Violation:
    """One thing a rule found wrong.

    `path` is the manifest field it is about (shown to users, and located);
    `at` locates another path instead (e.g. the parent of a missing field),
    with `key=True` the key of that path's last step. Group rules set
    `service` to the manifest the violation belongs to. `data` is extra,
    machine-readable detail for JSON output.
    """

    path: FieldPath
    message: str
    hint: str | None = None
    at: FieldPath | None = None
    key: bool = False
    service: "ServiceContext | None" = None
    data: Mapping[str, Any] | None = None


class Rule:
    """Base of every policy rule. Subclass it and set the class attributes, or use `@rule`."""

    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    severity: ClassVar[str] = MANDATORY
    resource: ClassVar[str] = ""  # the field it points at, e.g. spec.network.ingress[].from
    hint: ClassVar[str] = ""  # how to fix it
    settings: ClassVar[tuple[str, ...]] = ()  # policies.yaml settings it reads (for the docs)
    scope: ClassVar[str] = "service"
    source: str = "builtin"  # set by the registry: builtin, a file, or an entry point

    @property
    def description(self) -> str:
        return inspect.cleandoc(type(self).__doc__ or "")

    def check(self, svc: "ServiceContext") -> Iterable[Violation | tuple]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<rule {self.id} {self.title!r} ({self.severity}, {self.source})>"


class GroupRule(Rule):
    """A rule over every manifest of a group (by default one agency on one site)."""

    scope: ClassVar[str] = "group"
    group_by: ClassVar[tuple[str, ...]] = ("agency_id", "site_name")  # ServiceContext attributes

    def check(self, group: "GroupContext") -> Iterable[Violation]:  # type: ignore[override]  # pragma: no cover
        raise NotImplementedError


class _FunctionRule:
    """Shared by the rules made from functions: the function is the check, its docstring the description."""

    fn: Callable

    @property
    def description(self) -> str:
        return inspect.cleandoc(self.fn.__doc__ or "")

    def check(self, ctx):  # type: ignore[override]
        return self.fn(ctx)


def _make(base: type, fn: Callable, attrs: dict) -> Rule:
    cls = type(f"Rule_{attrs['id']}", (_FunctionRule, base), {**attrs, "__module__": fn.__module__})
    obj = cls()
    obj.fn = fn  # type: ignore[attr-defined]
    return obj


def rule(id: str, *, title: str, severity: str = MANDATORY, resource: str = "", hint: str = "",
         settings: tuple[str, ...] = ()) -> Callable[[Callable], Rule]:
    """Make a service rule of a function `fn(svc) -> iterable of Violation or (path, message)`."""

    def wrap(fn: Callable) -> Rule:
        return _make(Rule, fn, dict(id=id, title=title, severity=severity, resource=resource, hint=hint,
                                    settings=tuple(settings)))

    return wrap


def group_rule(id: str, *, title: str, severity: str = MANDATORY, resource: str = "", hint: str = "",
               settings: tuple[str, ...] = (), group_by: tuple[str, ...] = ("agency_id", "site_name")
               ) -> Callable[[Callable], Rule]:
    """Make a group rule of a function `fn(group) -> iterable of Violation` (each with `service=`)."""

    def wrap(fn: Callable) -> Rule:
        return _make(GroupRule, fn, dict(id=id, title=title, severity=severity, resource=resource, hint=hint,
                                         settings=tuple(settings), group_by=tuple(group_by)))

    return wrap


# -- what rules look at ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SourceNet:
    """What the policy knows about one ingress source network."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    world: bool  # 0.0.0.0/0 or ::/0
    trusted: bool  # inside one of the trusted (private) networks


@dataclass(frozen=True)
class SiteFacts:
    """Per-site facts every rule needs, computed once per site per evaluation."""

    name: str
    residency: str
    encrypted_types: frozenset[str]  # volume type aliases that encrypt
    approved_images: frozenset[str]  # image aliases approved at the site
    sizes: Mapping[str, tuple[int, float]]  # size alias -> (vCPUs, RAM GB)

    @classmethod
    def of(cls, site: "Site") -> "SiteFacts":
        return cls(site.name, site.residency,
                   frozenset(a for a, v in site.volume_types.items() if v.encrypted),
                   frozenset(a for a, i in site.images.items() if i.approved),
                   {a: (s.vcpus, s.ram_mb / 1024) for a, s in site.sizes.items()})


@dataclass(frozen=True)
class Ceiling:
    vcpus: int
    ram_gb: float

    def __str__(self) -> str:
        return f"{self.vcpus} vCPU / {self.ram_gb:g} GB RAM"


@dataclass
class PolicySettings:
    """The resolved `settings:` of policies.yaml (defaults filled in)."""

    size_ceiling: dict[str, Ceiling | None]
    max_servers: dict[str, int | None]
    trusted_networks: tuple
    admin_ports: frozenset[int]
    manifest_dirs: tuple[str, ...] = ()
    rules: dict[str, dict] = field(default_factory=dict)  # free-form settings of (custom) rules
    _nets: dict[str, SourceNet] = field(default_factory=dict, repr=False)

    def source(self, cidr: str) -> SourceNet:
        """Classify an ingress source (cached: most manifests share a handful of sources)."""
        found = self._nets.get(cidr)
        if found is None:
            net = ipaddress.ip_network(cidr, strict=False)
            trusted = any(net.version == t.version and net.subnet_of(t) for t in self.trusted_networks)
            found = self._nets[cidr] = SourceNet(net, net.prefixlen == 0, trusted)
        return found


# -- policies.yaml, resolved (the file itself: policyfile.py, its schema: policyschema.py) ---------------------

OFF = "off"  # the severity of an exception that waives its rule
# defaults (documented in docs/policies.md)
DEFAULT_SIZE_CEILING = {"dev": Ceiling(4, 16), "test": Ceiling(4, 16)}  # "large": no xlarge or bigger
DEFAULT_MAX_SERVERS = {"dev": 6, "test": 6}
DEFAULT_TRUSTED_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
DEFAULT_ADMIN_PORTS = (22, 3389, 5432, 3306, 1433, 1521, 27017, 6379)
ADMIN_PORT_NAMES = {22: "SSH", 3389: "RDP", 5432: "PostgreSQL", 3306: "MySQL", 1433: "SQL Server",
                    1521: "Oracle", 27017: "MongoDB", 6379: "Redis"}


@dataclass(frozen=True)
class PolicyException:
    """One entry of `exceptions:`; matches a finding by rule id and the optional scopes."""

    index: int
    rule: str
    severity: str  # off | advisory | mandatory
    environments: frozenset[str] | None
    agencies: frozenset[str] | None
    sites: frozenset[str] | None
    services: frozenset[str] | None
    justification: str
    location: SourceLocation | None

    def matches(self, svc) -> bool:
        return ((self.environments is None or svc.environment in self.environments)
                and (self.agencies is None or svc.agency_id in self.agencies)
                and (self.sites is None or svc.site_name in self.sites)
                and (self.services is None or svc.name in self.services))

    def scope_text(self) -> str:
        parts = [f"{k} {', '.join(sorted(v))}" for k, v in (
            ("environments", self.environments), ("agencies", self.agencies), ("sites", self.sites),
            ("services", self.services)) if v is not None]
        return "; ".join(parts) or "everywhere"

    def to_json(self) -> dict:
        loc = self.location
        return {"rule": self.rule, "severity": self.severity,
                "environments": sorted(self.environments) if self.environments is not None else None,
                "agencies": sorted(self.agencies) if self.agencies is not None else None,
                "sites": sorted(self.sites) if self.sites is not None else None,
                "services": sorted(self.services) if self.services is not None else None,
                "justification": self.justification,
                "file": loc.file if loc else None, "line": loc.line if loc else None}


@dataclass
class PolicyConfig:
    """policies.yaml, resolved: settings with defaults, and the exceptions in file order."""

    file: str | None
    settings: PolicySettings
    exceptions: tuple[PolicyException, ...]

    def exceptions_for(self, rule_id: str) -> tuple[PolicyException, ...]:
        return tuple(e for e in self.exceptions if e.rule == rule_id)


def default_settings() -> PolicySettings:
    return PolicySettings(size_ceiling=dict(DEFAULT_SIZE_CEILING), max_servers=dict(DEFAULT_MAX_SERVERS),
                          trusted_networks=tuple(ipaddress.ip_network(n) for n in DEFAULT_TRUSTED_NETWORKS),
                          admin_ports=frozenset(DEFAULT_ADMIN_PORTS))


def default_policy() -> PolicyConfig:
    return PolicyConfig(None, default_settings(), ())


def grouping_keys(checked: "CheckedService") -> dict[str, str]:
    """The ServiceContext attributes a group rule may group by that come from the manifest alone (what
    load.peek reads from a neighbour's first lines without building it: check.context_filter)."""
    md = checked.manifest.metadata
    return {"agency_id": md.agency, "environment": md.environment, "site_name": checked.site.name}


class ServiceContext:
    """One checked manifest as rules see it."""

    def __init__(self, checked: "CheckedService", plan: "ResourcePlan", facts: SiteFacts,
                 settings: PolicySettings, reported: bool = True):
        self.checked = checked
        self.plan = plan
        self.facts = facts
        self.settings = settings
        self.reported = reported  # False: only there for group rules (quotas, overlaps), not checked itself
        self.file: str = checked.file
        self.manifest: "Manifest" = checked.manifest
        self.metadata = checked.manifest.metadata
        self.spec = checked.manifest.spec
        self.site: "Site" = checked.site
        self.agency: "Agency" = checked.agency
        self.locator = checked.locator
        md = self.metadata
        keys = grouping_keys(checked)
        self.agency_id: str = keys["agency_id"]
        self.site_name: str = keys["site_name"]
        self.environment: str = keys["environment"]
        self.classification: str = md.classification
        self.name: str = md.name

    @property
    def sensitive(self) -> bool:
        """Classification restricted or secret."""
        return self.classification in SENSITIVE

    @property
    def label(self) -> str:
        return f"{self.agency_id}/{self.environment}/{self.name}"

    @cached_property
    def ingress_sources(self) -> list[tuple[int, "IngressRule", SourceNet]]:
        src = self.settings.source
        return [(i, r, src(r.from_)) for i, r in enumerate(self.spec.network.ingress)]

    @cached_property
    def internet_ingress(self) -> list[tuple[int, "IngressRule", SourceNet]]:
        """Ingress rules whose source is not inside a trusted network."""
        return [t for t in self.ingress_sources if not t[2].trusted]

    @cached_property
    def instances(self) -> int:
        return sum(s.count for s in self.spec.servers)

    def rule_settings(self, rule_id: str) -> dict:
        """`settings.rules.<id>` of policies.yaml (for custom rules), or {}."""
        return self.settings.rules.get(rule_id, {})

    def __repr__(self) -> str:
        return f"<service {self.label} at {self.site_name} ({self.file})>"


@dataclass
class GroupContext:
    """The manifests of one group (e.g. one agency on one site), reported or context-only."""

    key: tuple
    services: list[ServiceContext]
    settings: PolicySettings

    @property
    def agency(self) -> "Agency":
        return self.services[0].agency

    @property
    def site(self) -> "Site":
        return self.services[0].site
