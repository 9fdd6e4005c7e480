"""policies.yaml's schema and parser: the pydantic models of the file, turned into a PolicyConfig.

Apart from policyfile.py (finding and loading the file) and core.py (the
resolved PolicyConfig and its defaults) because only a run with a
policies.yaml needs it: building these models is a measurable part of a
one-file `govcloud validate`, which most often has none (benchmarks/README.md).
"""
from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Annotated, Any, Collection, Literal

from pydantic import BeforeValidator, Field, field_validator

from govcloud.errors import InputError, Problem, format_path, unknown_name
from govcloud.load.manifest import Cidr, Port
from govcloud.load.validation import StrictModel, empty_dict, empty_list, validate_model
from govcloud.policy.core import ADVISORY, MANDATORY, OFF, Ceiling, PolicyConfig, PolicyException, default_settings

if TYPE_CHECKING:  # pragma: no cover
    from govcloud.load.inventory import Inventory

Environment = Literal["dev", "test", "staging", "prod"]


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
        default_factory=empty_dict, description="GC009: largest server per environment (null: no ceiling)")
    max_servers: dict[Environment, Annotated[int, Field(ge=1)] | None] = Field(
        default_factory=empty_dict, description="GC010: most servers (instances) per manifest per environment")
    trusted_networks: list[Cidr] | None = Field(
        None, description="sources that are not 'the internet' (default: RFC 1918 and fc00::/7)")
    admin_ports: list[Port] | None = Field(None, description="GC001: ports never open to the whole internet")
    manifest_dirs: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=empty_list, description="manifests (relative to the config repo) always counted by "
                                          "cross-manifest rules (quotas, overlaps, duplicate names)")
    rules: dict[str, dict[str, Any]] = Field(default_factory=empty_dict,
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
    exceptions: list[ExceptionModel] = Field(default_factory=empty_list)


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
