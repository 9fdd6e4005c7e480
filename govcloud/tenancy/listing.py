"""`agency list` as one library call: every agency's quota next to what its manifests allocate per site, and
(live) what OpenStack reports for its project there."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

from govcloud.check import Workspace
from govcloud.load.inventory import Agency, Site
from govcloud.tenancy.allocation import QUOTA_FIELDS, Allocation, AllocationReport, allocations, \
    default_manifest_dirs
from govcloud.tenancy.live import LiveStatus, live_status
from govcloud.tenancy.plan import BUCKETS_NOTE, find_sites, project_quotas


@dataclass(frozen=True)
class SiteEntry:
    site: str
    allocated: Allocation
    live: LiveStatus | None = None  # None: not asked (no --live)
    live_error: str | None = None  # the site is not in the inventory, so nobody could be asked

    def to_json(self, agency: Agency) -> dict:
        out: dict = {"site": self.site, "allocated": self.allocated.to_json()}
        if self.live_error is not None:
            out["live"] = {"site": self.site, "error": self.live_error}
        elif self.live is not None:
            drift = self.live.drift(agency.quotas) if self.live.project_id else {}
            out["live"] = {**self.live.to_json(),
                           "quotaDrift": {k: {"registry": r, "cloud": c} for k, (r, c) in drift.items()}}
        return out

    @property
    def error(self) -> str | None:
        return self.live_error or (self.live.error if self.live is not None else None)


@dataclass(frozen=True)
class AgencyEntry:
    agency: Agency
    sites: tuple[SiteEntry, ...]

    def to_json(self) -> dict:
        a = self.agency
        return {"id": a.id, "name": {"fa": a.name.fa, "en": a.name.en}, "project": a.project,
                "contact": a.contact, "allowedSites": list(a.allowed_sites),
                "quotas": {key: getattr(a.quotas, attr) for attr, key, _ in QUOTA_FIELDS},
                "openstackQuotas": project_quotas(a.quotas), "sites": [s.to_json(a) for s in self.sites]}


@dataclass(frozen=True)
class AgencyListing:
    agencies: tuple[AgencyEntry, ...]
    report: AllocationReport
    live: bool

    @property
    def warnings(self) -> list[str]:
        """What the allocations leave out: manifests that do not compile, or no manifests at all."""
        out = [f"warning: not counted (does not compile): {problem}" for _file, problem in self.report.skipped]
        if not self.report.dirs:
            out.append("note: no manifests/ in the config repo (and no --manifests): allocations are 0")
        return out

    @property
    def unreadable(self) -> list[str]:
        """'<agency> at <site>: <error>' for every site whose cloud could not be read (live)."""
        return [f"{a.agency.id} at {s.site}: {s.error}" for a in self.agencies for s in a.sites if s.error]

    def to_json(self) -> dict:
        return {"agencies": [a.to_json() for a in self.agencies], "manifests": list(self.report.dirs),
                "skipped": [{"file": f, "problem": p} for f, p in self.report.skipped], "notes": [BUCKETS_NOTE]}


def list_agencies(sites: Sequence[str] = (), manifest_dirs: Sequence[str] = (), *, live: bool = False,
                  workspace: Workspace | None = None,
                  status: Callable[[Agency, Site], LiveStatus] = live_status) -> AgencyListing:
    """Every agency (or those allowed at one of `sites`) with its allocation per allowed site; with `live`,
    what `status` (the site's admin asking OpenStack) reports there. InputError for an unknown site."""
    ws = workspace or Workspace()
    site_filter = [s.name for s in find_sites(ws.inventory, sites)] if sites else None
    dirs = list(manifest_dirs) or [str(p) for p in default_manifest_dirs(ws.config)]
    report = allocations(ws, dirs)
    entries = []
    for a in ws.inventory.registry.agencies:
        names = [s for s in a.allowed_sites if site_filter is None or s in site_filter]
        if site_filter is not None and not names:
            continue
        entries.append(AgencyEntry(a, tuple(_site_entry(ws, a, name, report, status if live else None)
                                            for name in names)))
    return AgencyListing(tuple(entries), report, live)


def _site_entry(ws: Workspace, agency: Agency, name: str, report: AllocationReport,
                status: Callable[[Agency, Site], LiveStatus] | None) -> SiteEntry:
    entry = SiteEntry(name, report.get(agency.id, name))
    if status is None:
        return entry
    site = ws.inventory.site(name)
    if site is None:  # an allowed site the inventory does not have
        return replace(entry, live_error=f"site '{name}' is not in the inventory")
    return replace(entry, live=status(agency, site))
