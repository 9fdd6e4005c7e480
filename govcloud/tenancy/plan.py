"""The ministry's plan for one agency at one site, from the registry alone (pure data, no cloud).

The registry (inventories/agencies.yaml) names the agency, its project and its quotas; the site's admin scope
(govcloud.tenancy.keystone) names the project the provider is scoped to and the deployer user. From those
`onboarding_plan` builds an ordinary ResourcePlan, which the same program and engine as a service stack apply.
Keystone roles and users stay Lookups in the plan until `bind_lookups` replaces them with ids; a project that
exists outside the stack is adopted by `with_imports` (a Pulumi import).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

from govcloud import __version__
from govcloud.config import ConfigRepo
from govcloud.errors import GovcloudError, InputError, Problem, did_you_mean, one_of
from govcloud.load.inventory import Agency, Inventory, Quotas, Site
from govcloud.plan.model import Lookup, PlannedResource, Ref, ResourcePlan, ServiceRef

MINISTRY = "ministry"
PULUMI_PROJECT = f"govcloud-{MINISTRY}"
MEMBER_ROLE = "member"

PROJECT = "openstack:identity/project:Project"
GROUP = "openstack:identity/groupV3:GroupV3"
ROLE_ASSIGNMENT = "openstack:identity/roleAssignment:RoleAssignment"
COMPUTE_QUOTA = "openstack:compute/quotaSetV2:QuotaSetV2"
NETWORK_QUOTA = "openstack:networking/quotaV2:QuotaV2"
VOLUME_QUOTA = "openstack:blockstorage/quoteSetV3:QuoteSetV3"

BUCKETS_NOTE = ("Swift has no quota on the number of containers (account_quotas limits bytes only), so the "
                "buckets quota is enforced by govcloud policy GC015 when manifests are validated and deployed, "
                "not by the cloud")

_freeze = MappingProxyType


class OnboardingError(GovcloudError):
    """Onboarding cannot go on; the message says why and what to do (exit 1)."""


# ---------------------------------------------------------------- the registry's names


def find_agency(inventory: Inventory, agency_id: str) -> Agency:
    """The registry's agency of that id; InputError (with a did-you-mean) for an unknown one."""
    agency = inventory.agency(agency_id)
    if agency is None:
        ids = inventory.agency_ids()
        raise InputError([Problem(f"unknown agency '{agency_id}'", code="reference",
                                  hint="; ".join(filter(None, [did_you_mean(agency_id, ids), one_of(ids)])))])
    return agency


def find_sites(inventory: Inventory, names: Iterable[str], allowed: Sequence[str] | None = None) -> list[Site]:
    """The inventory's sites of these names (none given: `allowed`, else every site), each checked against
    the inventory and `allowed`; InputError naming every unknown or disallowed one."""
    names = list(names) or list(allowed or inventory.site_names())
    problems, sites = [], []
    known = inventory.site_names()
    for name in dict.fromkeys(names):
        site = inventory.site(name)
        if site is None:
            problems.append(Problem(f"unknown site '{name}'", code="reference",
                                    hint="; ".join(filter(None, [did_you_mean(name, known), one_of(known)]))))
        elif allowed is not None and name not in allowed:
            problems.append(Problem(f"site '{name}' is not among the agency's allowed sites", code="reference",
                                    hint="allowed sites: " + ", ".join(allowed) +
                                         " (add it to allowedSites in inventories/agencies.yaml first)"))
        else:
            sites.append(site)
    if problems:
        raise InputError(problems)
    return sites


def registry_file(config: ConfigRepo) -> str:
    """The registry file the plans come from ("" when there is none), recorded in each plan."""
    path = config.find_file("inventories", "agencies.yaml")
    return str(path) if path else ""


# ---------------------------------------------------------------- quotas


def services_ceiling(q: Quotas) -> int:
    """How many services (one network, subnet, router, security group each) an agency may run at a site."""
    return max(10, q.vcpus // 2)


def project_quotas(q: Quotas) -> dict[str, dict[str, int]]:
    """The OpenStack quotas of an agency's project from its registry quotas.

    Straight from the registry: cores = vcpus, ram = ramGb * 1024 (MB),
    floatingip = floatingIps, gigabytes = volumeGb. Derived (every size has at
    least one vCPU, so an agency never runs more servers than vCPUs):
    instances = vcpus; S = max(10, vcpus // 2) services, each one network,
    subnet, router and security group (+1 for the project's `default` group,
    20 rules each); ports = instances + 3 per network (DHCP, router interface,
    spare); server groups = instances (one per server entry), each with at most min(instances, 50) members (the
    largest `count` of a manifest); volumes = snapshots = max(10, 4 * instances).
    """
    instances = q.vcpus
    s = services_ceiling(q)
    volumes = max(10, 4 * instances)
    return {
        "compute": {"cores": q.vcpus, "ram": q.ram_gb * 1024, "instances": instances,
                    # a group per server entry, and every entry has a server
                    "server_groups": instances, "server_group_members": min(instances, 50)},
        "network": {"floatingip": q.floating_ips, "network": s, "subnet": s, "router": s,
                    "port": instances + 3 * s, "security_group": s + 1, "security_group_rule": 20 * (s + 1)},
        "volume": {"gigabytes": q.volume_gb, "volumes": volumes, "snapshots": volumes},
    }


# ---------------------------------------------------------------- the plan


def onboarding_ref(agency: Agency, site: Site, admin_project: str) -> ServiceRef:
    """The ministry's stack of one agency at one site: project govcloud-ministry, stack onboard-<agency>-<site>.

    ServiceRef's stack is `<service>-<environment>` and its Pulumi project
    `govcloud-<agency>`: so the ministry is the "agency", `onboard-<agency>`
    the "service" and the site the "environment". `project` is the project the
    provider is scoped to: the admin's own, from the site's clouds.yaml entry.
    """
    return ServiceRef(agency=MINISTRY, environment=site.name, service=f"onboard-{agency.id}", site=site.name,
                      cloud=site.cloud, region=site.region, project=admin_project)


def onboarding_tags(agency: Agency, site: Site) -> dict[str, str]:
    return {"govcloud:agency": agency.id, "govcloud:managed-by": PULUMI_PROJECT, "govcloud:site": site.name,
            "govcloud:version": __version__}


def project_description(agency: Agency) -> str:
    return f"{agency.name.en} / {agency.name.fa} (govcloud agency '{agency.id}')"


def onboarding_plan(agency: Agency, site: Site, *, admin_project: str, deployer: str | None = None,
                    role: str = MEMBER_ROLE, registry_file: str = "") -> ResourcePlan:
    """The resources that make `agency` a tenant of `site` (pure data; see govcloud.tenancy).

    `deployer`: the user name of the site's clouds.yaml entry; it gets `role`
    on the project so that govcloud's service stacks can scope to it (None:
    no such assignment). `role` is looked up by name when the plan is
    applied (`bind_lookups`).
    """
    if agency.id == MINISTRY:
        raise OnboardingError(f"the agency id '{MINISTRY}' is reserved for the ministry's own stacks")
    if site.name not in agency.allowed_sites:
        raise OnboardingError(f"agency '{agency.id}' may not use site '{site.name}' (allowed sites: "
                              f"{', '.join(agency.allowed_sites)}): add it to allowedSites in the registry first")
    svc = onboarding_ref(agency, site, admin_project)
    tags = onboarding_tags(agency, site)
    src = f"agencies[{agency.id}]"
    quotas = project_quotas(agency.quotas)
    out: list[PlannedResource] = []

    def add(key: str, type_: str, name: str, inputs: dict[str, Any], source: str, *, stateful: bool = False) -> None:
        out.append(PlannedResource(key=key, type=type_, name=name, inputs=_freeze(inputs), source=source,
                                   stateful=stateful))

    # Keystone tags: strings without ',' or '/', at most 255 characters (no version: upgrades must not touch it)
    project_tags = [f"{k}={v}" for k, v in tags.items() if k != "govcloud:version"]
    add("project", PROJECT, agency.project, {
        "name": agency.project, "description": project_description(agency), "enabled": True,
        "tags": project_tags}, f"{src}.project", stateful=True)
    group = f"{agency.id}-team"
    add("team-group", GROUP, group, {
        "name": group, "description": f"team of {agency.name.en} in project {agency.project} (govcloud)"},
        f"{src}.id")
    add("team-member", ROLE_ASSIGNMENT, f"{group}-{role}", {
        "group_id": Ref("team-group"), "project_id": Ref("project"), "role_id": Lookup("role", role)},
        f"{src}.id")
    if deployer:
        add("deployer-member", ROLE_ASSIGNMENT, f"{deployer}-{role}", {
            "user_id": Lookup("user", deployer), "project_id": Ref("project"), "role_id": Lookup("role", role)},
            f"sites[{site.name}].cloud")
    add("compute-quota", COMPUTE_QUOTA, f"{agency.project}-compute", {
        "project_id": Ref("project"), **quotas["compute"]}, f"{src}.quotas")
    add("network-quota", NETWORK_QUOTA, f"{agency.project}-network", {
        "project_id": Ref("project"), **quotas["network"]}, f"{src}.quotas")
    add("volume-quota", VOLUME_QUOTA, f"{agency.project}-volume", {
        "project_id": Ref("project"), **quotas["volume"]}, f"{src}.quotas")
    return ResourcePlan(service=svc, resources=tuple(out), tags=_freeze(tags), manifest_file=registry_file,
                        govcloud_version=__version__)


def bind_lookups(plan: ResourcePlan, resolve: Callable[[str, str], str],
                 kinds: Iterable[str] = ("role", "user")) -> ResourcePlan:
    """The plan with each Lookup of `kinds` replaced by `resolve(kind, name)` (an id).

    govcloud.engine.program resolves only network lookups inside the program;
    Keystone roles and users are looked up here, with the site's admin
    connection, before the plan goes to the engine.
    """
    kinds = frozenset(kinds)
    cache: dict[tuple[str, str], str] = {}

    def sub(v: Any) -> Any:
        if isinstance(v, Lookup) and v.kind in kinds:
            if (v.kind, v.name) not in cache:
                cache[(v.kind, v.name)] = resolve(v.kind, v.name)
            return cache[(v.kind, v.name)]
        if isinstance(v, Mapping):
            return _freeze({k: sub(x) for k, x in v.items()})
        if isinstance(v, list):
            return [sub(x) for x in v]
        if isinstance(v, tuple):
            return tuple(sub(x) for x in v)
        return v

    return replace(plan, resources=tuple(replace(r, inputs=sub(r.inputs)) for r in plan.resources))


@dataclass(frozen=True)
class Existing:
    """A named Keystone resource the plan would create but that exists outside the stack."""

    key: str  # the plan key
    kind: str  # project | group
    name: str
    id: str

    def __str__(self) -> str:
        return f"{self.kind} '{self.name}' ({self.id})"


def with_imports(plan: ResourcePlan, existing: Iterable[Existing]) -> ResourcePlan:
    """The plan, adopting these existing resources (Pulumi import) instead of creating them."""
    ids = {e.key: e.id for e in existing}
    return replace(plan, resources=tuple(replace(r, import_id=ids[r.key]) if r.key in ids else r
                                         for r in plan.resources))
