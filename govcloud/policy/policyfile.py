"""policies.yaml: the ministry's exceptions to its policy pack, and the rules' settings.

The file sits at the root of the config repo (found with
`ConfigRepo.find_file('.', 'policies.yaml')`). It is read with the same safe
loader and located schema errors as manifests. Every exception needs a
non-empty `justification`; exceptions that were applied are listed in every
report, so that no waiver is silent.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Collection, Literal

from pydantic import BeforeValidator, Field, field_validator

from govcloud.errors import InputError, Problem, SourceLocation, format_path, unknown_name
from govcloud.load.manifest import Cidr, Port
from govcloud.load.validation import StrictModel, validate_model
from govcloud.load.yamlsource import load_yaml_file, load_yaml_text
from govcloud.policy.core import ADVISORY, MANDATORY, Ceiling, PolicySettings

if TYPE_CHECKING:  # pragma: no cover
    from govcloud.config import ConfigRepo
    from govcloud.load.inventory import Inventory

POLICY_FILE = "policies.yaml"
OFF = "off"

Environment = Literal["dev", "test", "staging", "prod"]

# -- defaults (documented in docs/policies.md) --------------------------------------------------------
DEFAULT_SIZE_CEILING = {"dev": Ceiling(4, 16), "test": Ceiling(4, 16)}  # "large": no xlarge or bigger
DEFAULT_MAX_SERVERS = {"dev": 6, "test": 6}
DEFAULT_TRUSTED_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
DEFAULT_ADMIN_PORTS = (22, 3389, 5432, 3306, 1433, 1521, 27017, 6379)
ADMIN_PORT_NAMES = {22: "SSH", 3389: "RDP", 5432: "PostgreSQL", 3306: "MySQL", 1433: "SQL Server",
                    1521: "Oracle", 27017: "MongoDB", 6379: "Redis"}


def _off(value: Any) -> Any:
    # YAML 1.1 reads a bare `off` as false: `severity: off` must still mean "off"
    return OFF if value is False else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must say why the exception is granted (it may not be blank)")
    return value.strip()


class CeilingModel(StrictModel):
    vcpus: int = Field(ge=1, description="most vCPUs of one server")
    ram_gb: int | float = Field(gt=0, description="most RAM (GB) of one server")


class SettingsModel(StrictModel):
    size_ceiling: dict[Environment, CeilingModel | None] = Field(
        default_factory=dict, description="GC009: largest server per environment (null: no ceiling)")
    max_servers: dict[Environment, Annotated[int, Field(ge=1)] | None] = Field(
        default_factory=dict, description="GC010: most servers (instances) per manifest per environment")
    trusted_networks: list[Cidr] | None = Field(
        None, description="sources that are not 'the internet' (default: RFC 1918 and fc00::/7)")
    admin_ports: list[Port] | None = Field(None, description="GC001: ports never open to the whole internet")
    manifest_dirs: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="manifests (relative to the config repo) always counted by "
                                          "cross-manifest rules (quotas, overlaps, duplicate names)")
    rules: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                             description="free-form settings of custom rules, by rule id")


class ExceptionModel(StrictModel):
    rule: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]*[0-9]{3,4}$")]
    severity: Annotated[Literal["off", "advisory", "mandatory"], BeforeValidator(_off)]
    environments: list[Environment] | None = None
    agencies: list[Annotated[str, Field(min_length=1)]] | None = None
    sites: list[Annotated[str, Field(min_length=1)]] | None = None
    services: list[Annotated[str, Field(min_length=1)]] | None = None
    justification: Annotated[str, Field(min_length=1, max_length=2000)]

    _just = field_validator("justification")(classmethod(lambda cls, v: _not_blank(v)))


class PolicyFileModel(StrictModel):
    api_version: Literal["govcloud/v1"] = "govcloud/v1"
    kind: Literal["PolicyConfig"] = "PolicyConfig"
    settings: SettingsModel = Field(default_factory=SettingsModel)
    exceptions: list[ExceptionModel] = Field(default_factory=list)


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


def find_policy_file(config: "ConfigRepo") -> Path | None:
    """policies.yaml at the root of the config repo (else one shipped with the defaults, if any)."""
    return config.find_file(".", POLICY_FILE)


def load_policy_config(config: "ConfigRepo", rule_ids: Collection[str] = (),
                       inventory: "Inventory | None" = None) -> PolicyConfig:
    """The config repo's policies.yaml, or the defaults when there is none."""
    path = find_policy_file(config)
    if path is None:
        return default_policy()
    doc = load_yaml_file(path)
    return parse_policy_config(doc, rule_ids, inventory)


def parse_policy_text(text: str, file: str = "<policies.yaml>", rule_ids: Collection[str] = (),
                      inventory: "Inventory | None" = None) -> PolicyConfig:
    return parse_policy_config(load_yaml_text(text, file), rule_ids, inventory)


_JUSTIFY_HINT = "every exception must say why it is granted: who approved it, and until when"


def parse_policy_config(doc, rule_ids: Collection[str] = (), inventory: "Inventory | None" = None
                        ) -> PolicyConfig:
    locate = doc.locate
    if not isinstance(doc.data, dict):
        raise InputError([Problem("policies.yaml must be a mapping with settings and exceptions", "",
                                  locate(()), code="policy-config")])
    try:
        model: PolicyFileModel = validate_model(PolicyFileModel, doc.data, locate)
    except InputError as exc:
        raise InputError([_explain(p) for p in exc.problems]) from None

    problems: list[Problem] = []
    known_rules = set(rule_ids)
    agency_ids = site_names = None
    if inventory is not None:
        try:
            agency_ids, site_names = set(inventory.agency_ids()), set(inventory.site_names())
        except InputError:  # a broken registry is reported by the manifests' own checks
            agency_ids = site_names = None

    def unknown(path: tuple, what: str, name: str, choices: Collection[str]) -> None:
        problems.append(unknown_name(what, name, choices, format_path(path), locate(path), code="policy-config"))

    exceptions = []
    for i, e in enumerate(model.exceptions):
        base = ("exceptions", i)
        if known_rules and e.rule not in known_rules:
            unknown(base + ("rule",), "rule", e.rule, known_rules)
        for attr, choices, what in (("agencies", agency_ids, "agency"), ("sites", site_names, "site")):
            values = getattr(e, attr)
            if values is not None and choices is not None:
                for j, v in enumerate(values):
                    if v not in choices:
                        unknown(base + (attr, j), what, v, choices)
        exceptions.append(PolicyException(
            i, e.rule, e.severity,
            *(frozenset(v) if v is not None else None for v in (e.environments, e.agencies, e.sites, e.services)),
            e.justification, locate(base)))
    s = model.settings
    for key in s.rules:
        if known_rules and key not in known_rules:
            unknown(("settings", "rules", key), "rule", key, known_rules)
    if problems:
        raise InputError(problems)

    settings = default_settings()
    for env, c in s.size_ceiling.items():
        settings.size_ceiling[env] = None if c is None else Ceiling(c.vcpus, c.ram_gb)
    settings.max_servers.update(s.max_servers)
    if s.trusted_networks is not None:
        settings.trusted_networks = tuple(ipaddress.ip_network(n) for n in s.trusted_networks)
    if s.admin_ports is not None:
        settings.admin_ports = frozenset(s.admin_ports)
    settings.manifest_dirs = tuple(s.manifest_dirs)
    settings.rules = {k: dict(v) for k, v in s.rules.items()}
    return PolicyConfig(doc.file, settings, tuple(exceptions))


def _explain(p: Problem) -> Problem:
    """Schema problems of policies.yaml, with the hints a ministry needs."""
    code = "policy-config"
    if p.path.endswith(".justification"):
        return Problem(p.message, p.path, p.location, code=code, hint=_JUSTIFY_HINT)
    if p.path.endswith(".severity"):
        return Problem(p.message, p.path, p.location, code=code,
                       hint=f"off waives the rule; {ADVISORY} only warns; {MANDATORY} blocks")
    return Problem(p.message, p.path, p.location, code=code, hint=p.hint)
