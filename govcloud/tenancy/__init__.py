"""The ministry side of tenancy: an agency's OpenStack project, its quotas and its team.

Onboarding an agency at a site is a Pulumi stack of the ministry's own:

    Pulumi project `govcloud-ministry`, stack `onboard-<agency>-<site>`
    (same backend, passphrase and lock handling as the service stacks:
    govcloud.engine does the work)

Its plan is an ordinary ResourcePlan (pure data, built offline by
`onboarding_plan`), so the same program (govcloud.engine.program) turns it
into pulumi_openstack resources and the same engine applies it:

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
so the ministry plan names the admin project there (keystone.admin_scope).

Object storage: the registry's `buckets` quota is a number of buckets. Swift
has no quota on the number of containers (its account_quotas middleware
limits bytes, `Quota-Bytes`), so no cloud resource can enforce it: govcloud's
policy GC015 enforces it when manifests are validated and deployed.

Allocation (`allocations`) is what the manifests of the config repo ask for,
summed per agency and site from their compiled ResourcePlans with the same
computation as policy GC015 (govcloud.policy.quotas). `live_status` is what
OpenStack itself reports for the project (openstacksdk, imported lazily).

The modules, by concern:

    plan.py        the registry's agencies and sites by name, the quotas, the plan (pure)
    keystone.py    the site's admin: scope (clouds.yaml), connection, role/user ids, what exists outside
    allocation.py  what the manifests allocate per agency and site (offline)
    live.py        what the cloud reports per project
    listing.py     `agency list`: the registry with allocations and live status
    hooks.py       what those workflows tell their caller (TenancyHooks)
    ops.py         the `onboard` and `offboard` workflows (hooks, an engine factory, typed results and refusals)

The package itself stays light: its names load from their modules on first use (the CLI imports
tenancy.hooks at start-up, and `govcloud --help` must not pay for pydantic or the engine).
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "govcloud.tenancy.plan": ("BUCKETS_NOTE", "MINISTRY", "PULUMI_PROJECT", "Existing", "OnboardingError",
                              "bind_lookups", "onboarding_plan", "project_quotas", "with_imports"),
    "govcloud.tenancy.keystone": ("AdminScope", "SiteAdmin", "admin_scope"),
    "govcloud.tenancy.allocation": ("QUOTA_FIELDS", "Allocation", "AllocationReport", "allocations",
                                    "default_manifest_dirs"),
    "govcloud.tenancy.live": ("LiveStatus", "live_status"),
    "govcloud.tenancy.listing": ("AgencyListing", "list_agencies"),
    "govcloud.tenancy.hooks": ("TenancyHooks",),
    "govcloud.tenancy.ops": ("ExistsOutsideStack", "ProjectAtRisk", "OnboardResult", "OffboardResult",
                             "onboard", "offboard", "onboarding_plans"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
