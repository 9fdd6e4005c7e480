"""The ministry side of tenancy: an agency's OpenStack project, its quotas and its team.

Onboarding an agency at a site is a Pulumi stack of the ministry's own:

    Pulumi project `govcloud-ministry`, stack `onboard-<agency>-<site>`
    (same backend, passphrase and lock handling as the service stacks:
    govcloud.engine does the work)

Its plan is an ordinary ResourcePlan (pure data, built offline by
`onboarding_plan`), so the same program (govcloud.program) turns it into
pulumi_openstack resources and the same review reads it:

    project          identity.Project       `Agency.project`, its names in English and Persian,
                                            tags; protected: it holds the agency's data
    team-group       identity.GroupV3       `<agency>-team`, for the agency's people
    team-member      identity.RoleAssignment  the group has `member` on the project
    deployer-member  identity.RoleAssignment  the site's govcloud user (clouds.yaml) has `member`
                                            on the project, so `govcloud deploy` can scope to it
    compute-quota    compute.QuotaSetV2     cores, ram, instances, server groups
    network-quota    networking.QuotaV2     floating IPs, networks, subnets, routers, ports,
                                            security groups and rules
    volume-quota     blockstorage.QuoteSetV3  gigabytes, volumes, snapshots
                                            (pulumi_openstack 5.x spells it "Quote")

The stack's provider is the site's clouds.yaml entry *as it is*: the
ministry's admin, scoped to its own (admin) project, never to the agency's
project. govcloud.engine scopes a stack's provider to `ServiceRef.project`,
so the ministry plan names the admin project there (`admin_scope`).

Object storage: the registry's `buckets` quota is a number of buckets. Swift
has no quota on the number of containers (its account_quotas middleware
limits bytes, `Quota-Bytes`), so no cloud resource can enforce it: govcloud's
policy GC015 enforces it when manifests are validated and deployed.

Allocation (`allocations`) is what the manifests of the config repo ask for,
summed per agency and site from their compiled ResourcePlans with the same
computation as policy GC015 (govcloud.policy.quotas). `live_status` is what
OpenStack itself reports for the project (openstacksdk, imported lazily).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType, SimpleNamespace
from typing import Any, Callable, Iterable, Mapping

from govcloud import __version__
from govcloud.errors import GovcloudError
from govcloud.load.inventory import Agency, Quotas, Site
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
QUOTA_TYPES = frozenset({COMPUTE_QUOTA, NETWORK_QUOTA, VOLUME_QUOTA})

BUCKETS_NOTE = ("Swift has no quota on the number of containers (account_quotas limits bytes only), so the "
                "buckets quota is enforced by govcloud policy GC015 when manifests are validated and deployed, "
                "not by the cloud")

_freeze = MappingProxyType


class OnboardingError(GovcloudError):
    """Onboarding cannot go on; the message says why and what to do (exit 1)."""


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
    """The resources that make `agency` a tenant of `site` (pure data; see the module docstring).

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


def lookups(plan: ResourcePlan) -> set[tuple[str, str]]:
    """(kind, name) of every Lookup in the plan."""
    found: set[tuple[str, str]] = set()

    def walk(v: Any) -> None:
        if isinstance(v, Lookup):
            found.add((v.kind, v.name))
        elif isinstance(v, Mapping):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)

    for r in plan.resources:
        walk(r.inputs)
    return found


def bind_lookups(plan: ResourcePlan, resolve: Callable[[str, str], str],
                 kinds: Iterable[str] = ("role", "user")) -> ResourcePlan:
    """The plan with each Lookup of `kinds` replaced by `resolve(kind, name)` (an id).

    govcloud.program resolves only network lookups inside the program; Keystone
    roles and users are looked up here, with the site's admin connection,
    before the plan goes to the engine.
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

    resources = tuple(PlannedResource(key=r.key, type=r.type, name=r.name, inputs=sub(r.inputs), source=r.source,
                                      stateful=r.stateful, depends_on=r.depends_on, meters=r.meters,
                                      import_id=r.import_id)
                      for r in plan.resources)
    return ResourcePlan(service=plan.service, resources=resources, tags=plan.tags, manifest_file=plan.manifest_file,
                        govcloud_version=plan.govcloud_version)


# ---------------------------------------------------------------- the site's admin


@dataclass(frozen=True)
class AdminScope:
    """Who the ministry is at a site: its clouds.yaml entry as it is."""

    cloud: str
    project: str  # the project the admin is scoped to (not the agency's)
    user: str | None  # user name (None for application credentials / tokens)


def admin_scope(site: Site) -> AdminScope:
    """The site cloud's admin project and user, read from clouds.yaml / OS_* (no network)."""
    from govcloud.cloud.credentials import cloud_region
    from govcloud.errors import SetupError

    cc = cloud_region(site.cloud, None, site.region)
    auth = cc.config.get("auth") or {}
    project = auth.get("project_name") or auth.get("tenant_name")
    if not project:
        if auth.get("project_id") or auth.get("tenant_id"):
            raise SetupError(f"cloud '{site.cloud}' names its project by id only: add `project_name` (and "
                             f"`project_domain_name`) to its clouds.yaml entry; govcloud scopes the ministry's "
                             f"stacks by project name")
        raise SetupError(f"cloud '{site.cloud}' has no project in clouds.yaml: the ministry's stacks need the "
                         f"admin scoped to its own project (project_name)")
    return AdminScope(site.cloud, project, auth.get("username"))


def admin_connection(site: Site, api_timeout: float | None = 60):
    """openstacksdk Connection as the site's clouds.yaml entry, unchanged (the ministry's admin)."""
    from govcloud.cloud.credentials import connect
    from govcloud.errors import SetupError

    try:
        conn = connect(site.cloud, None, site.region, api_timeout)
        conn.authorize()
        return conn
    except SetupError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure here means "cannot reach the cloud"
        raise CloudUnreachable(f"cannot connect to cloud '{site.cloud}' of site {site.name}: "
                               f"{type(exc).__name__}: {exc}") from None


class CloudUnreachable(GovcloudError):
    exit_code = 3


def keystone_resolver(conn) -> Callable[[str, str], str]:
    """resolve(kind, name) -> id for roles and users, with an admin connection."""

    def resolve(kind: str, name: str) -> str:
        if kind == "role":
            found = conn.identity.find_role(name, ignore_missing=True)
            if found is None:
                roles = sorted(r.name for r in conn.identity.roles())
                raise OnboardingError(f"no Keystone role '{name}' at cloud '{conn.config.name}' "
                                      f"(roles: {', '.join(roles)})")
            return found.id
        if kind == "user":
            if conn.current_user_id:
                me = conn.identity.get_user(conn.current_user_id)
                if me.name == name:
                    return me.id
            found = conn.identity.find_user(name, ignore_missing=True)
            if found is None:
                raise OnboardingError(f"no Keystone user '{name}' at cloud '{conn.config.name}'")
            return found.id
        raise ValueError(f"cannot look up a {kind!r}")

    return resolve


@dataclass(frozen=True)
class Existing:
    """A named Keystone resource the plan would create but that exists outside the stack."""

    key: str  # the plan key
    kind: str  # project | group
    name: str
    id: str

    def __str__(self) -> str:
        return f"{self.kind} '{self.name}' ({self.id})"


def existing_outside(conn, plan: ResourcePlan, in_state: Iterable[str]) -> list[Existing]:
    """The plan's projects and groups that already exist at the cloud but not in the stack's state."""
    have = set(in_state)
    out = []
    for r in plan.resources:
        if r.key in have:
            continue
        if r.type == PROJECT:
            found = conn.identity.find_project(r.name, ignore_missing=True)
            if found is not None:
                out.append(Existing(r.key, "project", r.name, found.id))
        elif r.type == GROUP:
            found = conn.identity.find_group(r.name, ignore_missing=True)
            if found is not None:
                out.append(Existing(r.key, "group", r.name, found.id))
    return out


def with_imports(plan: ResourcePlan, existing: Iterable[Existing]) -> ResourcePlan:
    """The plan, adopting these existing resources (Pulumi import) instead of creating them."""
    ids = {e.key: e.id for e in existing}
    return replace(plan, resources=tuple(replace(r, import_id=ids[r.key]) if r.key in ids else r
                                         for r in plan.resources))


# ---------------------------------------------------------------- allocation (offline)


def default_manifest_dirs(config) -> list[Path]:
    """The config repo's manifests/, else (the govcloud checkout) its examples/; [] when neither exists."""
    if config.root is None:
        return []
    for sub in ("manifests", "examples"):
        if (config.root / sub).is_dir():
            return [config.root / sub]
    return []


@dataclass(frozen=True)
class Allocation:
    """What the manifests of one agency at one site take from its quota."""

    agency: str
    site: str
    vcpus: Decimal = Decimal(0)
    ram_gb: Decimal = Decimal(0)
    volume_gb: Decimal = Decimal(0)
    floating_ips: Decimal = Decimal(0)
    buckets: Decimal = Decimal(0)
    services: tuple[str, ...] = ()  # manifest files

    def to_json(self) -> dict:
        return {"vcpus": _num(self.vcpus), "ramGb": _num(self.ram_gb), "volumeGb": _num(self.volume_gb),
                "floatingIps": _num(self.floating_ips), "buckets": _num(self.buckets),
                "services": list(self.services)}


QUOTA_FIELDS = (("vcpus", "vcpus", "vCPUs"), ("ram_gb", "ramGb", "RAM GB"), ("volume_gb", "volumeGb", "volume GB"),
                ("floating_ips", "floatingIps", "floating IPs"), ("buckets", "buckets", "buckets"))


@dataclass(frozen=True)
class AllocationReport:
    allocations: Mapping[tuple[str, str], Allocation]  # (agency, site) -> sum
    skipped: tuple[tuple[str, str], ...] = ()  # (file, first problem) of manifests that do not compile
    dirs: tuple[str, ...] = ()

    def get(self, agency: str, site: str) -> Allocation:
        return self.allocations.get((agency, site)) or Allocation(agency, site)


def allocations(workspace, paths: Iterable[str | os.PathLike[str]]) -> AllocationReport:
    """Sum the compiled ResourcePlans of every manifest under `paths` per (agency, site).

    The per-plan figures come from govcloud.policy.quotas.usage_of (what GC015
    compares with the quotas): vCPUs and RAM of the servers' sizes at the site,
    GB of volumes, floating IPs, buckets. Manifests that do not compile are
    skipped and reported (they deploy nothing).
    """
    from govcloud.errors import InputError
    from govcloud.check import manifest_files
    from govcloud.policy.quotas import usage_of

    paths = [Path(p) for p in paths]
    sums: dict[tuple[str, str], dict[str, Any]] = {}
    skipped: list[tuple[str, str]] = []
    for f in manifest_files(paths):
        try:
            plan = workspace.plan(f)
        except InputError as exc:
            skipped.append((str(f), exc.problems[0].format() if exc.problems else "invalid"))
            continue
        # usage_of reads only `.plan` (and caches in the object's __dict__)
        u = usage_of(SimpleNamespace(plan=plan))  # type: ignore[arg-type]
        key = (plan.service.agency, plan.service.site)
        acc = sums.setdefault(key, {"files": []})
        for attr, _, _ in QUOTA_FIELDS:
            acc[attr] = acc.get(attr, Decimal(0)) + getattr(u, attr)
        acc["files"].append(str(f))
    out = {k: Allocation(k[0], k[1], **{a: v.get(a, Decimal(0)) for a, _, _ in QUOTA_FIELDS},
                         services=tuple(v["files"])) for k, v in sums.items()}
    return AllocationReport(_freeze(out), tuple(skipped), tuple(str(p) for p in paths))


# ---------------------------------------------------------------- what the cloud reports


@dataclass(frozen=True)
class LiveStatus:
    """The agency's project at a site as OpenStack reports it."""

    site: str
    project_id: str | None = None  # None: no such project at the site (not onboarded)
    in_use: Mapping[str, int | None] = field(default_factory=dict)  # registry quota keys (vcpus, ramGb, ...)
    limits: Mapping[str, int | None] = field(default_factory=dict)  # the quotas set on the cloud
    notes: tuple[str, ...] = ()
    error: str | None = None

    def drift(self, quotas: Quotas) -> dict[str, tuple[int, int | None]]:
        """Registry quotas the cloud does not have: key -> (registry, cloud)."""
        want = {"vcpus": quotas.vcpus, "ramGb": quotas.ram_gb, "volumeGb": quotas.volume_gb,
                "floatingIps": quotas.floating_ips}
        return {k: (v, self.limits.get(k)) for k, v in want.items()
                if k in self.limits and self.limits.get(k) != v}

    def to_json(self) -> dict:
        return {"site": self.site, "projectId": self.project_id, "inUse": dict(self.in_use),
                "limits": dict(self.limits), "notes": list(self.notes), "error": self.error}


def live_status(agency: Agency, site: Site, conn=None) -> LiveStatus:
    """In use and quota limits of the agency's project at the site (Nova, Neutron, Cinder, Swift)."""
    try:
        conn = conn or admin_connection(site)
        project = conn.identity.find_project(agency.project, ignore_missing=True)
    except GovcloudError as exc:
        return LiveStatus(site.name, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - reported per site
        return LiveStatus(site.name, error=f"{type(exc).__name__}: {exc}")
    if project is None:
        return LiveStatus(site.name, notes=(f"no project '{agency.project}' at {site.name}: not onboarded",))
    in_use: dict[str, int | None] = {}
    limits: dict[str, int | None] = {}
    notes: list[str] = []
    errors: list[str] = []
    try:
        q = conn.compute.get_quota_set(project.id, usage=True)
        usage = q.usage or {}
        in_use["vcpus"] = int(usage.get("cores") or 0)
        in_use["ramGb"] = _mb_to_gb(usage.get("ram") or 0)
        in_use["instances"] = int(usage.get("instances") or 0)
        limits.update({"vcpus": q.cores, "ramGb": _mb_to_gb(q.ram) if q.ram is not None and q.ram >= 0 else q.ram,
                       "instances": q.instances})
    except Exception as exc:  # noqa: BLE001
        errors.append(f"compute: {type(exc).__name__}: {exc}")
    try:
        n = conn.network.get_quota(project.id, details=True)
        fip = n.floating_ips or {}
        in_use["floatingIps"] = int(fip.get("used") or 0)
        limits["floatingIps"] = fip.get("limit")
        for key, attr in (("networks", "networks"), ("routers", "routers"), ("ports", "ports")):
            d = getattr(n, attr) or {}
            in_use[key] = int(d.get("used") or 0)
            limits[key] = d.get("limit")
    except Exception as exc:  # noqa: BLE001
        errors.append(f"network: {type(exc).__name__}: {exc}")
    try:
        b = conn.block_storage.get_quota_set(project.id, usage=True)
        usage = b.usage or {}
        in_use["volumeGb"] = int(usage.get("gigabytes") or 0)
        in_use["volumes"] = int(usage.get("volumes") or 0)
        limits.update({"volumeGb": b.gigabytes, "volumes": b.volumes})
    except Exception as exc:  # noqa: BLE001
        errors.append(f"volume: {type(exc).__name__}: {exc}")
    try:
        scoped = conn.connect_as(project_id=project.id)
        in_use["buckets"] = sum(1 for _ in scoped.object_store.containers())
    except Exception as exc:  # noqa: BLE001 - needs a role on the project
        in_use["buckets"] = None
        notes.append(f"buckets: not readable as the site's admin ({type(exc).__name__}); it needs a role on "
                     f"the project (onboarding gives it one)")
    return LiveStatus(site.name, project.id, _freeze(in_use), _freeze(limits), tuple(notes),
                      "; ".join(errors) or None)


def _mb_to_gb(mb: int) -> int | float:
    return _num(Decimal(int(mb)) / 1024)


def _num(v) -> int | float:
    v = Decimal(v)
    return int(v) if v == v.to_integral_value() else float(round(v, 2))
