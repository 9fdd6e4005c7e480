"""Collection: what the cloud's own APIs say was used, turned into daily usage records.

Per UTC day of the period (up to now) and per resource:

- servers (Nova os-simple-tenant-usage, detailed): `server_hours`, `vcpu_hours`
  (hours x vCPUs), `ram_mb_hours` (hours x RAM MB) and `disk_gb_hours`
  (hours x root disk GB), exactly as Nova accounts them, deleted servers included;
- volumes (Cinder, all projects): `volume_gb_hours` = size x hours the volume
  existed that day (from `created_at` to its deletion, or now);
- floating IPs (Neutron): `floating_ip_hours` from `created_at` likewise;
- buckets (Swift containers of each agency project): `bucket_gb_hours` =
  bytes used at collection (GiB) x hours of the day since the container was
  created. Swift keeps no history, so this is a *sample*: a day's value is
  final once sampled after the day ended and is never replaced afterwards.

The service and environment of each resource come from the metadata the
compiler writes (servers and volumes: `govcloud:service` / `govcloud:environment`
metadata; floating IPs: Neutron tags `govcloud:service=...`; containers:
`govcloud-service` metadata). Anything without them is "(unmanaged)".

Deleted servers lose their metadata in Nova, and Cinder and Neutron do not
list deleted volumes or IPs at all, so every resource seen is remembered in the
store (`resources`): a deleted server keeps the service it had when it was last
seen, and a volume or IP that disappeared is charged up to the last time a
collection saw it. Collect at least daily (and more often than the shortest
life of a resource) for complete figures.

The cloud is reached through a `Source`; `openstack_source.OpenStackSource`
is the real one (openstacksdk), tests use a fake.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Iterable, Protocol

from govcloud.metering.periods import Period, day_end, day_start, overlap_hours, quantize
from govcloud.metering.store import ResourceInfo, UpsertCounts, UsageRecord, UsageStore

UNMANAGED = "(unmanaged)"
GIB = Decimal(1024 ** 3)


@dataclass(frozen=True, slots=True)
class ServerUsage:
    """One server's entry in Nova's detailed simple-tenant-usage for a window."""

    instance_id: str
    name: str
    project_id: str
    hours: Decimal
    vcpus: int
    memory_mb: int
    local_gb: int
    flavor: str = ""
    state: str = ""


@dataclass(frozen=True, slots=True)
class ServerSeen:
    id: str
    name: str
    project_id: str
    metadata: dict
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VolumeSeen:
    id: str
    name: str
    project_id: str
    size_gb: int
    volume_type: str
    status: str
    created_at: datetime | None
    metadata: dict
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FloatingIpSeen:
    id: str
    address: str
    project_id: str
    created_at: datetime | None
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ContainerSeen:
    project_id: str
    name: str
    bytes_used: int
    created_at: datetime | None
    metadata: dict


class Source(Protocol):
    """What collection needs from a cloud (see openstack_source.OpenStackSource)."""

    def now(self) -> datetime: ...
    def projects(self) -> dict[str, str]: ...  # id -> name
    def server_usage(self, start: datetime, end: datetime) -> list[ServerUsage]: ...
    def servers(self) -> list[ServerSeen]: ...
    def volumes(self) -> list[VolumeSeen]: ...
    def floating_ips(self) -> list[FloatingIpSeen]: ...
    def containers(self, project_id: str) -> list[ContainerSeen]: ...


@dataclass
class CollectResult:
    site: str
    period: Period
    days: list[date]
    counts: UpsertCounts
    by_meter: dict[str, int] = field(default_factory=dict)  # records per meter
    projects: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # an API that failed: its meters are missing

    def to_json(self) -> dict:
        return {"site": self.site, "from": self.period.first.isoformat(), "to": self.period.last.isoformat(),
                "days": len(self.days), "records": self.counts.total, "inserted": self.counts.inserted,
                "updated": self.counts.updated, "unchanged": self.counts.unchanged,
                "byMeter": dict(sorted(self.by_meter.items())), "projects": sorted(self.projects),
                "notes": self.notes, "failures": self.failures}

    def raise_if_incomplete(self) -> None:
        """CloudError (exit 3) when an API failed: what was collected is kept, the missing meters are named."""
        if self.failures:
            from govcloud.errors import CloudError

            raise CloudError("collection incomplete (what was collected is saved; run it again):\n  "
                             + "\n  ".join(self.failures))


def service_of_metadata(md: dict | None) -> tuple[str, str]:
    """(service, environment) from Nova / Cinder metadata or Swift container metadata."""
    md = {str(k).lower(): v for k, v in (md or {}).items()}
    service = md.get("govcloud:service") or md.get("govcloud-service")
    env = md.get("govcloud:environment") or md.get("govcloud-environment") or ""
    return (str(service), str(env)) if service else (UNMANAGED, str(env))


def service_of_tags(tags: Iterable[str] | None) -> tuple[str, str]:
    """(service, environment) from Neutron tags such as 'govcloud:service=portal'."""
    md = {}
    for tag in tags or ():
        key, sep, value = str(tag).partition("=")
        if sep:
            md[key] = value
    return service_of_metadata(md)


class Collector:
    def __init__(self, store: UsageStore, site: str, source: Source,
                 bucket_projects: Iterable[str] | None = None, progress=None):
        """`bucket_projects`: project names whose Swift accounts are read (default: every project)."""
        self.store = store
        self.site = site
        self.source = source
        self.bucket_projects = None if bucket_projects is None else set(bucket_projects)
        self.progress = progress or (lambda message: None)

    def collect(self, period: Period) -> CollectResult:
        src = self.source
        now = src.now()
        days = [d for d in period.days() if day_start(d) < now]
        result = CollectResult(self.site, period, days, UpsertCounts())
        if not days:
            result.notes.append("the whole period is in the future: nothing to collect")
            return result
        projects = src.projects()
        records: list[UsageRecord] = []
        seen: list[ResourceInfo] = []

        def project_name(pid: str) -> str:
            return projects.get(pid, pid)

        def record(info: ResourceInfo, meter: str, day: date, qty: Decimal, *, sampled: bool = False) -> None:
            if qty <= 0:
                return
            records.append(UsageRecord(self.site, meter, info.resource_id, day, info.project_id, info.project,
                                       info.service, info.environment, info.kind, info.name, quantize(qty),
                                       sampled=sampled, final=now >= day_end(day)))
            result.by_meter[meter] = result.by_meter.get(meter, 0) + 1
            result.projects.add(info.project)

        def info_for(kind: str, rid: str, name: str, pid: str, service_env: tuple[str, str], created, attrs):
            return ResourceInfo(self.site, kind, rid, pid, project_name(pid), name, service_env[0], service_env[1],
                                attrs, created, None, now, now)

        def failed(what: str, exc: Exception) -> None:
            result.failures.append(f"{what} not collected: {type(exc).__name__}: {exc}")

        # -- servers: attribution from the live servers, else from what the store remembers
        self.progress("servers")
        known = self.store.resources(self.site, "server")
        try:
            live_servers = src.servers()
            for s in live_servers:
                info = info_for("server", s.id, s.name, s.project_id, service_of_metadata(s.metadata), s.created_at,
                                {})
                known[s.id] = info
            usages = []
            for i, d in enumerate(days, 1):
                self.progress(f"server usage {d} ({i}/{len(days)})")
                usages.append((d, src.server_usage(day_start(d), min(day_end(d), now))))
        except Exception as exc:  # noqa: BLE001 - without the server list the attribution would be wrong
            failed("servers", exc)
        else:
            seen.extend(known[s.id] for s in live_servers)
            for d, day_usage in usages:
                for u in day_usage:
                    if u.hours <= 0:
                        continue
                    info = known.get(u.instance_id)
                    if info is None:  # deleted before any collection saw it: no metadata left anywhere
                        info = info_for("server", u.instance_id, u.name, u.project_id, (UNMANAGED, ""), None, {})
                        known[u.instance_id] = info
                        seen.append(info)
                    info.attrs = {"flavor": u.flavor, "vcpus": u.vcpus, "ramMb": u.memory_mb, "diskGb": u.local_gb}
                    record(info, "server_hours", d, u.hours)
                    record(info, "vcpu_hours", d, u.hours * u.vcpus)
                    record(info, "ram_mb_hours", d, u.hours * u.memory_mb)
                    record(info, "disk_gb_hours", d, u.hours * u.local_gb)

        # -- volumes and floating IPs: lifetimes from created_at, deletions from the store
        self.progress("volumes")
        try:
            volumes = [v for v in src.volumes() if v.status not in ("error", "creating")]
        except Exception as exc:  # noqa: BLE001 - one API failing leaves the others' figures usable
            failed("volumes", exc)
        else:
            live = [info_for("volume", v.id, v.name, v.project_id, service_of_metadata(v.metadata), v.created_at,
                             {"sizeGb": v.size_gb, "type": v.volume_type}) for v in volumes]
            for info, v in zip(live, volumes):
                info.deleted_at = v.deleted_at
            for info in self._with_gone(live, "volume", now):
                size = Decimal(info.attrs.get("sizeGb", 0))
                for d in days:
                    record(info, "volume_gb_hours", d,
                           size * overlap_hours(info.created_at, info.deleted_at or now, d))
                seen.append(info)

        self.progress("floating IPs")
        try:
            fips = src.floating_ips()
        except Exception as exc:  # noqa: BLE001
            failed("floating IPs", exc)
        else:
            live = [info_for("floating-ip", f.id, f.address, f.project_id, service_of_tags(f.tags), f.created_at,
                             {"address": f.address}) for f in fips]
            for info in self._with_gone(live, "floating-ip", now):
                for d in days:
                    record(info, "floating_ip_hours", d, overlap_hours(info.created_at, info.deleted_at or now, d))
                seen.append(info)

        # -- buckets: a sample of bytes used now, spread over the days since creation
        known_buckets = self.store.resources(self.site, "bucket")
        live_buckets: list[ResourceInfo] = []
        scanned: set[str] = set()
        for pid, pname in sorted(projects.items(), key=lambda kv: kv[1]):
            if self.bucket_projects is not None and pname not in self.bucket_projects:
                continue
            self.progress(f"buckets of {pname}")
            try:
                containers = src.containers(pid)
            except Exception as exc:  # noqa: BLE001
                failed(f"buckets of project {pname}", exc)
                continue
            scanned.add(pid)
            for c in containers:
                rid = f"{pid}/{c.name}"
                info = info_for("bucket", rid, c.name, pid, service_of_metadata(c.metadata), c.created_at,
                                {"bytes": c.bytes_used})
                live_buckets.append(info)
                gib = Decimal(c.bytes_used) / GIB
                for d in days:
                    record(info, "bucket_gb_hours", d, gib * overlap_hours(c.created_at, now, d), sampled=True)
                seen.append(info)
        live_ids = {b.resource_id for b in live_buckets}
        for rid, old in known_buckets.items():  # gone: keep its past samples, stop sampling it
            if rid not in live_ids and old.project_id in scanned and old.deleted_at is None:
                old.deleted_at = old.last_seen
                seen.append(old)

        self.progress("saving")
        result.counts = self.store.upsert_usage(records, now)
        self.store.save_resources(seen)
        self.store.log_collection(self.site, period, now, src.now(), result.counts, result.failures + result.notes)
        return result

    def _with_gone(self, live: list[ResourceInfo], kind: str, now: datetime) -> list[ResourceInfo]:
        """The live resources, and those the store saw before that are gone now (charged up to when last seen)."""
        ids = {i.resource_id for i in live}
        out = list(live)
        for rid, old in self.store.resources(self.site, kind).items():
            if rid in ids:
                continue
            if old.deleted_at is None:
                old.deleted_at = old.last_seen
            out.append(old)
        return out


def collect_site(store: UsageStore, inventory, site, source: Source, period: Period,
                 progress=None) -> CollectResult:
    """Collect usage of one inventory site into `store`: every project's servers, volumes and floating IPs,
    and the Swift accounts of the agencies allowed at the site."""
    projects = [a.project for a in inventory.registry.agencies if site.name in a.allowed_sites]
    return Collector(store, site.name, source, bucket_projects=projects, progress=progress).collect(period)
