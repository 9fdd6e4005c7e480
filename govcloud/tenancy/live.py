"""What OpenStack itself reports for an agency's project at a site: in use and quota limits.

Asked as the site's admin (govcloud.tenancy.keystone) of Nova, Neutron, Cinder and Swift, in the registry's
terms (vcpus, ramGb, volumeGb, floatingIps, buckets), so `agency list --live` puts them next to the quota
and the manifests' allocation. A site that cannot be read is reported in the status, not raised: the other
sites are still worth showing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Mapping

from govcloud.errors import GovcloudError
from govcloud.load.inventory import Agency, Quotas, Site
from govcloud.tenancy.allocation import number
from govcloud.tenancy.keystone import admin_connection


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
    except Exception as exc:  # noqa: BLE001 - reported per site (list exits 3 after showing the others)
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
    except Exception as exc:  # noqa: BLE001 - reported in the status
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
    except Exception as exc:  # noqa: BLE001 - reported in the status
        errors.append(f"network: {type(exc).__name__}: {exc}")
    try:
        b = conn.block_storage.get_quota_set(project.id, usage=True)
        usage = b.usage or {}
        in_use["volumeGb"] = int(usage.get("gigabytes") or 0)
        in_use["volumes"] = int(usage.get("volumes") or 0)
        limits.update({"volumeGb": b.gigabytes, "volumes": b.volumes})
    except Exception as exc:  # noqa: BLE001 - reported in the status
        errors.append(f"volume: {type(exc).__name__}: {exc}")
    try:
        scoped = conn.connect_as(project_id=project.id)
        in_use["buckets"] = sum(1 for _ in scoped.object_store.containers())
    except Exception as exc:  # noqa: BLE001 - needs a role on the project
        in_use["buckets"] = None
        notes.append(f"buckets: not readable as the site's admin ({type(exc).__name__}); it needs a role on "
                     f"the project (onboarding gives it one)")
    return LiveStatus(site.name, project.id, MappingProxyType(in_use), MappingProxyType(limits), tuple(notes),
                      "; ".join(errors) or None)


def _mb_to_gb(mb: int) -> int | float:
    return number(Decimal(int(mb)) / 1024)
