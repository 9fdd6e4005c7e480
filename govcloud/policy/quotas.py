"""GC015: the agencies' quotas, summed over every manifest of an agency on a site."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from govcloud.plan.compile import CONTAINER
from govcloud.plan.model import ResourcePlan
from govcloud.policy.core import MANDATORY, GroupContext, GroupRule, ServiceContext, Violation

# quota field (Agency.quotas) -> (what people read, ResourcePlan meter or None for a count, manifest field)
METERS = (
    ("vcpus", "vCPUs", "vcpu", ("spec", "servers")),
    ("ram_gb", "GB RAM", "ramGb", ("spec", "servers")),
    ("volume_gb", "GB of volumes", "volumeGb", ("spec", "servers")),
    ("floating_ips", "floating IPs", "floatingIp", ("spec", "servers")),
    ("buckets", "buckets", None, ("spec", "buckets")),
)
QUOTA_KEYS = {"vcpus": "vcpus", "ram_gb": "ramGb", "volume_gb": "volumeGb", "floating_ips": "floatingIps",
              "buckets": "buckets"}
SHOWN = 5  # contributors named in a message; the JSON has all


@dataclass(frozen=True)
class Usage:
    vcpus: Decimal = Decimal(0)
    ram_gb: Decimal = Decimal(0)
    volume_gb: Decimal = Decimal(0)
    floating_ips: Decimal = Decimal(0)
    buckets: Decimal = Decimal(0)


def plan_usage(plan: ResourcePlan) -> Usage:
    """What one manifest's ResourcePlan takes from the agency's quota at its site (its meters and buckets)."""
    totals: dict[str, Decimal] = {}
    buckets = 0
    for r in plan.resources:
        m = r.meters
        if m:
            for k, v in m.items():
                totals[k] = totals.get(k, 0) + v
            if r.type == CONTAINER:
                buckets += 1
    zero = Decimal(0)
    return Usage(totals.get("vcpu", zero), totals.get("ramGb", zero), totals.get("volumeGb", zero),
                 totals.get("floatingIp", zero), Decimal(buckets))


def usage_of(svc: ServiceContext) -> Usage:
    """plan_usage of a checked service, computed once per service (every group rule run reads it)."""
    cached = svc.__dict__.get("_usage")
    if cached is None:
        cached = svc.__dict__["_usage"] = plan_usage(svc.plan)
    return cached


def _num(v: Decimal) -> int | float:
    return int(v) if v == v.to_integral_value() else float(round(v, 2))


class AgencyQuota(GroupRule):
    """The manifests of an agency on a site fit the agency's quota there.

    Sums what the ResourcePlans of every manifest of one agency on one site
    take (vCPUs and RAM of the servers' sizes at the site, GB of volumes,
    floating IPs, buckets) among all manifests checked together (give the
    whole directory of the agency's manifests, or list it in
    `settings.manifestDirs` so that checking one file still counts the
    others) and compares each with the agency's `quotas` in
    inventories/agencies.yaml. The finding is reported on the manifest
    (among those checked) that takes the most, and names which manifests use
    how much.
    """

    id = "GC015"
    title = "Agency quota exceeded at the site"
    severity = MANDATORY
    resource = "spec.servers, spec.buckets"
    hint = "shrink or remove services, or ask the ministry to raise the agency's quota (inventories/agencies.yaml)"
    settings = ("manifestDirs",)
    group_by = ("agency_id", "site_name")

    def check(self, group: GroupContext) -> Iterable[Violation]:  # type: ignore[override]
        quotas = group.agency.quotas
        usages = [(svc, usage_of(svc)) for svc in group.services]
        for attr, words, _meter, path in METERS:
            limit = getattr(quotas, attr)
            total = sum((getattr(u, attr) for _, u in usages), Decimal(0))
            if total <= limit:
                continue
            users = sorted(((getattr(u, attr), svc) for svc, u in usages if getattr(u, attr)),
                           key=lambda t: (-t[0], t[1].file))
            blame = next((svc for _, svc in users if svc.reported), None)
            if blame is None:
                continue
            listed = ", ".join(f"{svc.file} {_num(v)}" for v, svc in users[:SHOWN])
            if len(users) > SHOWN:
                listed += f" and {len(users) - SHOWN} more manifests"
            yield Violation(
                path, f"agency '{group.agency.id}' at site '{group.site.name}' needs {_num(total)} {words}, "
                      f"its quota is {limit} (over by {_num(total - limit)}): {listed}",
                service=blame,
                data={"agency": group.agency.id, "site": group.site.name, "quota": QUOTA_KEYS[attr],
                      "limit": limit, "total": _num(total),
                      "usage": {svc.file: _num(v) for v, svc in users}})
