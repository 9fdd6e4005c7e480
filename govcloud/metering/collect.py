"""Collection: what the cloud's own APIs say was used, turned into daily usage records.

Per UTC day of the period (up to now) and per resource:

- servers (Nova os-simple-tenant-usage, detailed): `server_hours`, `vcpu_hours`
  (hours x vCPUs), `ram_mb_hours` (hours x RAM MB) and `disk_gb_hours`
  (hours x root disk GB), exactly as Nova accounts them, deleted servers included;
- volumes (Cinder, all projects): `volume_gb_hours` = size x hours the volume
  existed that day (from `created_at` to its deletion, or now);
- floating IPs (Neutron): `floating_ip_hours` from `created_at` likewise;
- buckets (Swift containers of each agency project): `bucket_gb_hours` =
  the bytes used (GiB) integrated over the hours of the day since the
  container was created. Swift keeps no history, so every collection stores a
  sample (time, bytes) and the day's GiB-hours are the trapezoid integral
  through the samples (`integrate_gib_hours`); a day is final once a sample
  after its end exists, and is never replaced afterwards.

The service and environment of each resource come from the metadata the
compiler writes (servers and volumes: `govcloud:service` / `govcloud:environment`
metadata; floating IPs: Neutron tags `govcloud:service=...`; containers:
`govcloud-service` metadata). Anything without them is "(unmanaged)".

Deleted servers lose their metadata in Nova, and Cinder and Neutron do not
list deleted volumes or IPs at all, so every resource seen is remembered in the
store (`resources`), and govcloud's own deploy and destroy events give the
lifetimes of what it manages (the ledger, `lifetimes.record_operation`):

- servers: Nova's hours are charged (the cloud's own accounting); a server no
  collection saw alive is attributed from the ledger, and one Nova does not
  report at all is charged the ledger's hours (source `ledger`);
- volumes and floating IPs the ledger knows are charged over its intervals
  (start and end of each, the size of each), also when the cloud never listed
  them; others from `created_at` to their deletion, or to the last collection
  that saw them.

`reconcile.reconcile` reports where the two sources disagree.

The cloud is reached through a `Source`; `openstack_source.OpenStackSource`
is the real one (openstacksdk), tests use a fake.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Callable, Iterable, Protocol

from govcloud.metering.periods import Period, day_end, day_start, hours, overlap_hours, quantize
from govcloud.metering.store import Lifetime, ResourceInfo, UpsertCounts, UsageRecord, UsageStore

UNMANAGED = "(unmanaged)"
GIB = Decimal(1024 ** 3)
TAG_PREFIX = "govcloud:"


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
    discrepancies: list = field(default_factory=list)  # reconcile.Discrepancy: cloud vs govcloud's events

    def to_json(self) -> dict:
        return {"site": self.site, "from": self.period.first.isoformat(), "to": self.period.last.isoformat(),
                "days": len(self.days), "records": self.counts.total, "inserted": self.counts.inserted,
                "updated": self.counts.updated, "unchanged": self.counts.unchanged,
                "byMeter": dict(sorted(self.by_meter.items())), "projects": sorted(self.projects),
                "notes": self.notes, "failures": self.failures,
                "discrepancies": [d.to_json() for d in self.discrepancies]}

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


def tags_as_metadata(tags: Iterable[str] | None) -> dict[str, str]:
    """Neutron tags such as 'govcloud:service=portal' as a mapping."""
    md = {}
    for tag in tags or ():
        key, sep, value = str(tag).partition("=")
        if sep:
            md[key] = value
    return md


def service_of_tags(tags: Iterable[str] | None) -> tuple[str, str]:
    """(service, environment) from Neutron tags such as 'govcloud:service=portal'."""
    return service_of_metadata(tags_as_metadata(tags))


def govcloud_tags(md: dict | None) -> dict[str, str]:
    """The govcloud:* metadata the compiler wrote (Swift's govcloud-* spelling normalized), for FOCUS Tags."""
    out = {}
    for k, v in (md or {}).items():
        key = str(k).lower()
        if key.startswith("govcloud-"):
            key = TAG_PREFIX + key[len("govcloud-"):]
        if key.startswith(TAG_PREFIX):
            out[key] = str(v)
    return dict(sorted(out.items()))


def integrate_gib_hours(samples: list[tuple[datetime, int]], start: datetime, end: datetime) -> Decimal:
    """GiB-hours over [start, end) from (time, bytes) samples, sorted by time.

    Between two samples the size is taken to change linearly (trapezoid rule); before the
    first sample it is the first sample's size, after the last one the last one's (a bucket
    is charged from its creation at the size first seen, up to now at the size last seen).
    """
    if end <= start or not samples:
        return Decimal(0)
    total = Decimal(0)  # byte-hours

    def size_at(t: datetime) -> Decimal:
        if t <= samples[0][0]:
            return Decimal(samples[0][1])
        for (t0, b0), (t1, b1) in zip(samples, samples[1:]):
            if t0 <= t <= t1:
                span = (t1 - t0).total_seconds()
                return Decimal(b1) if span == 0 else Decimal(b0) + (Decimal(b1) - Decimal(b0)) * (
                    hours(t - t0) / hours(t1 - t0))
        return Decimal(samples[-1][1])

    points = [start] + [t for t, _ in samples if start < t < end] + [end]
    for a, b in zip(points, points[1:]):
        total += (size_at(a) + size_at(b)) / 2 * hours(b - a)
    return total / GIB


def _info_of_lifetime(lt: Lifetime, projects: dict[str, str]) -> ResourceInfo:
    """What the ledger knows of a resource the cloud does not list (or no longer attributes)."""
    pid = lt.project_id or next((i for i, n in projects.items() if n == lt.project), "")
    attrs = {k: v for k, v in lt.attrs.items()}
    return ResourceInfo(lt.site, lt.kind, lt.resource_id, pid, lt.project or projects.get(pid, pid), lt.name,
                        lt.service, lt.environment, attrs, lt.started_at, lt.ended_at)


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
        """Read each API in turn (one failing leaves the others' figures usable), then save the records."""
        run = _Collection(self, period)
        if not run.days:
            run.result.notes.append("the whole period is in the future: nothing to collect")
            return run.result
        run.start()
        run.servers()
        run.volumes()
        run.floating_ips()
        run.buckets()
        return run.save()


class _Collection:
    """One collection run of a Collector: the records it makes (one per meter, resource and day) and the resources
    it saw, filled kind by kind, then saved together."""

    def __init__(self, collector: Collector, period: Period):
        self.store, self.site, self.src = collector.store, collector.site, collector.source
        self.progress, self.bucket_projects = collector.progress, collector.bucket_projects
        self.now = now = self.src.now()
        self.days = [d for d in period.days() if day_start(d) < now]
        self.period = period
        self.result = CollectResult(self.site, period, self.days, UpsertCounts())
        self.records: list[UsageRecord] = []
        self.by_key: dict[tuple[str, str, date], int] = {}
        self.seen: list[ResourceInfo] = []
        self.samples: list[tuple[str, datetime, int]] = []  # buckets: (id, now, bytes used)
        self.projects: dict[str, str] = {}  # id -> name
        self.ledger: dict[tuple[str, str], list[Lifetime]] = {}  # (kind, id) -> lifetimes

    def start(self) -> None:
        """The projects, and the ledger: lifetimes from govcloud's own deploy/destroy events, per kind and id."""
        self.projects = self.src.projects()
        for lt in self.store.lifetimes(self.site, start=self.period.start, end=min(self.period.end, self.now)):
            self.ledger.setdefault((lt.kind, lt.resource_id), []).append(lt)

    def ledger_of(self, kind: str) -> dict[str, list[Lifetime]]:
        return {rid: lts for (k, rid), lts in self.ledger.items() if k == kind}

    def record(self, info: ResourceInfo, meter: str, day: date, qty: Decimal, *, sampled: bool = False,
               source: str = "cloud") -> None:
        if qty <= 0:
            return
        key = (meter, info.resource_id, day)
        if key in self.by_key:  # a second interval of the same resource that day (a resize): one row
            i = self.by_key[key]
            prev = self.records[i]
            self.records[i] = UsageRecord(prev.site, meter, prev.resource_id, day, prev.project_id, prev.project,
                                          prev.service, prev.environment, prev.kind, prev.name,
                                          quantize(prev.quantity + qty), prev.sampled, prev.final, prev.source)
            return
        self.by_key[key] = len(self.records)
        self.records.append(UsageRecord(self.site, meter, info.resource_id, day, info.project_id, info.project,
                                        info.service, info.environment, info.kind, info.name, quantize(qty),
                                        sampled=sampled, final=self.now >= day_end(day), source=source))
        self.result.by_meter[meter] = self.result.by_meter.get(meter, 0) + 1
        self.result.projects.add(info.project)

    def info_for(self, kind: str, rid: str, name: str, pid: str, service_env: tuple[str, str], created,
                 attrs) -> ResourceInfo:
        return ResourceInfo(self.site, kind, rid, pid, self.projects.get(pid, pid), name, service_env[0],
                            service_env[1], attrs, created, None, self.now, self.now)

    def failed(self, what: str, exc: Exception) -> None:
        self.result.failures.append(f"{what} not collected: {type(exc).__name__}: {exc}")

    def servers(self) -> None:
        """Attribution from the live servers, else from what the store remembers, else the ledger."""
        src, days, now, record = self.src, self.days, self.now, self.record
        self.progress("servers")
        known = self.store.resources(self.site, "server")
        try:
            live_servers = src.servers()
            for s in live_servers:
                known[s.id] = self.info_for("server", s.id, s.name, s.project_id, service_of_metadata(s.metadata),
                                            s.created_at, {"tags": govcloud_tags(s.metadata)})
            usages = []
            for i, d in enumerate(days, 1):
                self.progress(f"server usage {d} ({i}/{len(days)})")
                usages.append((d, src.server_usage(day_start(d), min(day_end(d), now))))
        except Exception as exc:  # noqa: BLE001 - without the server list the attribution would be wrong
            self.failed("servers", exc)
            return
        self.seen.extend(known[s.id] for s in live_servers)
        server_ledger = self.ledger_of("server")
        reported: set[str] = set()
        for d, day_usage in usages:
            for u in day_usage:
                if u.hours <= 0:
                    continue
                reported.add(u.instance_id)
                info = known.get(u.instance_id)
                if info is None and u.instance_id in server_ledger:  # no collection saw it: the ledger did
                    lt = server_ledger[u.instance_id][-1]
                    info = self.info_for("server", u.instance_id, lt.name or u.name, u.project_id,
                                         (lt.service, lt.environment), lt.started_at,
                                         {"tags": lt.attrs.get("tags", {})})
                    known[u.instance_id] = info
                    self.seen.append(info)
                if info is None:  # deleted before any collection saw it: no metadata left anywhere
                    info = self.info_for("server", u.instance_id, u.name, u.project_id, (UNMANAGED, ""), None, {})
                    known[u.instance_id] = info
                    self.seen.append(info)
                info.attrs = {**info.attrs, "flavor": u.flavor, "vcpus": u.vcpus, "ramMb": u.memory_mb,
                              "diskGb": u.local_gb}
                record(info, "server_hours", d, u.hours)
                record(info, "vcpu_hours", d, u.hours * u.vcpus)
                record(info, "ram_mb_hours", d, u.hours * u.memory_mb)
                record(info, "disk_gb_hours", d, u.hours * u.local_gb)
        for rid, lts in sorted(server_ledger.items()):  # the ledger says it lived, Nova reports nothing
            if rid in reported:
                continue
            info = _info_of_lifetime(lts[-1], self.projects)
            for d in days:
                for lt in lts:
                    h = overlap_hours(lt.started_at, lt.ended_at or now, d)
                    a = lt.attrs
                    record(info, "server_hours", d, h, source="ledger")
                    record(info, "vcpu_hours", d, h * a.get("vcpus", 0), source="ledger")
                    record(info, "ram_mb_hours", d, h * a.get("ramMb", 0), source="ledger")
                    record(info, "disk_gb_hours", d, h * a.get("diskGb", 0), source="ledger")

    def volumes(self) -> None:
        """Lifetimes from created_at (or the ledger's intervals), deletions from the store."""
        self.progress("volumes")
        try:
            volumes = [v for v in self.src.volumes() if v.status not in ("error", "creating")]
        except Exception as exc:  # noqa: BLE001 - one API failing leaves the others' figures usable
            self.failed("volumes", exc)
            return
        live = [self.info_for("volume", v.id, v.name, v.project_id, service_of_metadata(v.metadata), v.created_at,
                              {"sizeGb": v.size_gb, "type": v.volume_type, "tags": govcloud_tags(v.metadata)})
                for v in volumes]
        for info, v in zip(live, volumes):
            info.deleted_at = v.deleted_at
        self.charge_lived(live, "volume", "volume_gb_hours", rate=lambda attrs: Decimal(attrs.get("sizeGb", 0)))

    def floating_ips(self) -> None:
        """Like volumes; the service comes from Neutron tags."""
        self.progress("floating IPs")
        try:
            fips = self.src.floating_ips()
        except Exception as exc:  # noqa: BLE001
            self.failed("floating IPs", exc)
            return
        live = [self.info_for("floating-ip", f.id, f.address, f.project_id, service_of_tags(f.tags), f.created_at,
                              {"address": f.address, "tags": govcloud_tags(tags_as_metadata(f.tags))})
                for f in fips]
        self.charge_lived(live, "floating-ip", "floating_ip_hours")

    def buckets(self) -> None:
        """A sample of bytes used now, integrated with the earlier samples over each day."""
        now, bucket_projects = self.now, self.bucket_projects
        known_buckets = self.store.resources(self.site, "bucket")
        live_ids: set[str] = set()
        scanned: set[str] = set()
        for pid, pname in sorted(self.projects.items(), key=lambda kv: kv[1]):
            if bucket_projects is not None and pname not in bucket_projects:
                continue
            self.progress(f"buckets of {pname}")
            try:
                containers = self.src.containers(pid)
            except Exception as exc:  # noqa: BLE001
                self.failed(f"buckets of project {pname}", exc)
                continue
            scanned.add(pid)
            for c in containers:
                rid = f"{pid}/{c.name}"
                info = self.info_for("bucket", rid, c.name, pid, service_of_metadata(c.metadata), c.created_at,
                                     {"bytes": c.bytes_used, "tags": govcloud_tags(c.metadata)})
                live_ids.add(rid)
                self.samples.append((rid, now, c.bytes_used))
                history = [s for s in self.store.bucket_samples(self.site, rid) if s[0] < now] + [(now, c.bytes_used)]
                for d in self.days:
                    lo = max(day_start(d), c.created_at) if c.created_at else day_start(d)
                    self.record(info, "bucket_gb_hours", d, integrate_gib_hours(history, lo, min(day_end(d), now)),
                                sampled=True)
                self.seen.append(info)
        for rid, old in known_buckets.items():  # gone: keep its past samples, stop sampling it
            if rid not in live_ids and old.project_id in scanned and old.deleted_at is None:
                old.deleted_at = old.last_seen
                self.seen.append(old)

    def charge_lived(self, live: list[ResourceInfo], kind: str, meter: str,
                     rate: Callable[[dict], Decimal] | None = None) -> None:
        """`meter` for each resource of `kind` (`lived`): per day, the hours of its spans, times `rate` of the
        span's attributes when given (a volume's size); the resources the cloud listed are seen."""
        for info, spans in self.lived(live, kind):
            for d in self.days:
                for start, end, attrs, source in spans:
                    span_hours = overlap_hours(start, end, d)
                    self.record(info, meter, d, span_hours if rate is None else rate(attrs) * span_hours,
                                source=source)
            if info.first_seen is not None:  # `resources` is what the cloud listed; the ledger keeps the rest
                self.seen.append(info)

    def lived(self, live: list[ResourceInfo], kind: str) -> list[tuple[ResourceInfo, list[tuple]]]:
        """Each resource with the spans it is charged for: [(start, end, attrs, source)].

        The live resources and those the store saw before that are gone now, plus those only
        the ledger knows. Where the ledger has intervals they give the times and sizes (a
        gone resource ends when its destroy did, not at the last collection); elsewhere the
        cloud's `created_at` to the deletion, or to the last collection that saw it.
        """
        ledger, projects, now = self.ledger_of(kind), self.projects, self.now
        infos = {i.resource_id: i for i in live}
        for rid, old in self.store.resources(self.site, kind).items():
            if rid in infos:
                continue
            if old.deleted_at is None:
                old.deleted_at = old.last_seen
            infos[rid] = old
        out = []
        for rid, lts in ledger.items():
            if rid not in infos:  # created and destroyed between two collections, or not listed: the ledger's
                infos[rid] = _info_of_lifetime(lts[-1], projects)
                infos[rid].deleted_at = lts[-1].ended_at
        for rid, info in infos.items():
            lts = ledger.get(rid)
            if not lts:
                out.append((info, [(info.created_at, info.deleted_at or now, info.attrs, "cloud")]))
                continue
            is_live = any(i.resource_id == rid for i in live)
            spans = []
            for lt in lts:
                start = lt.started_at or info.created_at
                end = lt.ended_at or (now if is_live else info.deleted_at or now)
                spans.append((start, end, {**info.attrs, **{k: v for k, v in lt.attrs.items() if k != "tags"}},
                              "ledger"))
            if lts[-1].ended_at is not None and not is_live:
                info.deleted_at = lts[-1].ended_at
            out.append((info, spans))
        return out

    def save(self) -> CollectResult:
        """The records, the resources seen and the bucket samples, then the reconciliation and the run's log entry."""
        from govcloud.metering.reconcile import reconcile

        result, store = self.result, self.store
        self.progress("saving")
        store.add_bucket_samples(self.site, self.samples)
        result.counts = store.upsert_usage(self.records, self.now)
        store.save_resources(self.seen)
        result.discrepancies = reconcile(store, self.site, self.period, now=self.now)
        store.log_collection(self.site, self.period, self.now, self.src.now(), result.counts,
                             result.failures + result.notes + [d.text() for d in result.discrepancies])
        return result


def collect_site(store: UsageStore, inventory, site, source: Source, period: Period,
                 progress=None) -> CollectResult:
    """Collect usage of one inventory site into `store`: every project's servers, volumes and floating IPs,
    and the Swift accounts of the agencies allowed at the site."""
    projects = [a.project for a in inventory.registry.agencies if site.name in a.allowed_sites]
    return Collector(store, site.name, source, bucket_projects=projects, progress=progress).collect(period)
