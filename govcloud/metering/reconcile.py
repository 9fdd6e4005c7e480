"""Where the cloud's records and govcloud's lifetime ledger disagree, beyond a tolerance.

Two sources describe the same resources: what the cloud's APIs reported to
collections (Nova's hours, Cinder's and Neutron's `created_at` and the
collections that saw a resource) and the ledger of govcloud's own deploy and
destroy events (`lifetimes`). They should agree to within the engine's
polling interval. Disagreements mean someone changed the cloud outside
govcloud, or events were lost, and finance should know before invoicing:

    servers         Nova's hours for the period vs the ledger's, or Nova reports nothing at all
    volumes, IPs    created at another time than the ledger says; still listed by the cloud after
                    the ledger says it was destroyed; gone from the cloud while the ledger says alive

The tolerance is per resource: max(`hours`, `ratio` x the larger figure).
Resources the ledger does not know (created before it existed, or outside
govcloud) are not compared; resources only the ledger knows (destroyed
between two collections) are expected and not reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from govcloud.metering.periods import UTC, Period, hours
from govcloud.metering.store import UsageStore

DEFAULT_HOURS = Decimal("0.05")  # 3 minutes
DEFAULT_RATIO = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Discrepancy:
    site: str
    kind: str
    resource_id: str
    name: str
    service: str
    what: str
    cloud: str
    ledger: str

    def to_json(self) -> dict:
        return {"site": self.site, "kind": self.kind, "resourceId": self.resource_id, "name": self.name,
                "service": self.service, "what": self.what, "cloud": self.cloud, "ledger": self.ledger}

    def text(self) -> str:
        return (f"{self.site} {self.kind} {self.name or self.resource_id} ({self.service}): {self.what} "
                f"- cloud: {self.cloud}; govcloud's events: {self.ledger}")


def _clip_hours(start: datetime | None, end: datetime | None, lo: datetime, hi: datetime) -> Decimal:
    a = max(start or lo, lo)
    b = min(end or hi, hi)
    return hours(b - a) if b > a else Decimal(0)


def reconcile(store: UsageStore, site: str, period: Period, *, now: datetime | None = None,
              tolerance_hours: Decimal = DEFAULT_HOURS, tolerance_ratio: Decimal = DEFAULT_RATIO) -> list[Discrepancy]:
    now = now or datetime.now(UTC)
    lo, hi = period.start, min(period.end, now)
    out: list[Discrepancy] = []

    def beyond(a: Decimal, b: Decimal) -> bool:
        return abs(a - b) > max(tolerance_hours, tolerance_ratio * max(a, b))

    by_resource: dict[tuple[str, str], list] = {}
    for lt in store.lifetimes(site, start=lo, end=hi):
        by_resource.setdefault((lt.kind, lt.resource_id), []).append(lt)
    nova: dict[str, Decimal] = {}
    for r in store.usage(period, [site]):
        if r.meter == "server_hours" and r.source == "cloud":
            nova[r.resource_id] = nova.get(r.resource_id, Decimal(0)) + r.quantity
    seen = {kind: store.resources(site, kind) for kind in ("volume", "floating-ip")}

    for (kind, rid), lts in sorted(by_resource.items()):
        last = lts[-1]
        ident = (site, kind, rid, last.name, last.service)
        if kind == "server":
            ledger_h = sum((_clip_hours(lt.started_at, lt.ended_at, lo, hi) for lt in lts), Decimal(0))
            cloud_h = nova.get(rid)
            if cloud_h is None:
                if ledger_h > tolerance_hours:
                    out.append(Discrepancy(*ident, "Nova reports no usage for it", "0 h", f"{ledger_h} h"))
            elif beyond(cloud_h, ledger_h):
                out.append(Discrepancy(*ident, "hours differ", f"{cloud_h} h", f"{ledger_h} h"))
            continue
        info = seen.get(kind, {}).get(rid)
        if info is None:
            continue  # destroyed between two collections: the reason for the ledger, not a disagreement
        first = lts[0].started_at
        if first is not None and info.created_at is not None and \
                hours(abs(first - info.created_at)) > tolerance_hours:
            out.append(Discrepancy(*ident, "created at another time", info.created_at.isoformat(timespec="seconds"),
                                   first.isoformat(timespec="seconds")))
        if last.ended_at is not None and info.last_seen is not None and \
                info.last_seen > last.ended_at and hours(info.last_seen - last.ended_at) > tolerance_hours:
            out.append(Discrepancy(*ident, "listed by the cloud after govcloud destroyed it",
                                   f"seen {info.last_seen.isoformat(timespec='seconds')}",
                                   f"destroyed {last.ended_at.isoformat(timespec='seconds')}"))
        if last.ended_at is None and info.deleted_at is not None:
            out.append(Discrepancy(*ident, "gone from the cloud, but govcloud never destroyed it",
                                   f"last seen {info.deleted_at.isoformat(timespec='seconds')}", "alive"))
    return out
