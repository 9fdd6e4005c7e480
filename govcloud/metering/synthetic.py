"""Synthetic usage, for the benchmark and for the sample report in docs/.

Nothing here is used by collection or reporting. `fleet_records` makes a
plausible month for the agencies of the registry (the example manifests'
services, compiled and run with some drift, plus other services sized so that
agencies land at different shares of their budgets); `bulk_records` makes any
number of records for any number of agencies, fast.

    python -m govcloud.metering.synthetic --from 2026-02-20 --to 2026-03-21
        # fills the usage store of the config repo (or GOVCLOUD_STATE_DIR) with a sample month
"""
from __future__ import annotations

import argparse
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Iterator

from govcloud.metering.periods import UTC, Period, QUANTUM
from govcloud.metering.store import UsageRecord

SIZES = ((1, 2048), (2, 4096), (4, 8192), (4, 16384), (8, 32768), (16, 65536))
ENVS = ("prod", "prod", "staging", "test", "dev")
SERVICE_WORDS = ("portal", "api", "records", "payments", "registry", "search", "gis", "mail", "hr", "archive",
                 "analytics", "identity", "sso", "billing", "forms", "reports", "tax-filing", "licensing", "backup",
                 "etl")
# share of the monthly budget each registry agency uses in the sample (two warnings, one over)
TARGETS = {"moh": 0.64, "mefa": 0.87, "intax": 1.08, "sci": 0.52, "moe": 0.38, "sabt": 0.93, "mcth": 0.22}


def _q(x) -> Decimal:
    return Decimal(x).quantize(QUANTUM)


def bulk_records(n: int, agencies: int = 100, days: int = 30, sites=("thr1", "isf1"), first: date = date(2026, 3, 1),
                 seed: int = 1) -> Iterator[UsageRecord]:
    """Exactly `n` records: `agencies` projects (gov-a000 ...), each with servers, volumes, IPs, buckets."""
    rng = random.Random(seed)
    per_agency_day = max(1, n // (agencies * days))
    # resources per agency: ~70 % of records from servers (4 meters each), the rest volumes, IPs, buckets
    n_servers = max(1, int(per_agency_day * 0.7) // 4)
    kinds = ["server"] * n_servers
    rest = per_agency_day - 4 * n_servers
    kinds += ["volume"] * (rest // 2) + ["floating-ip"] * (rest // 4)
    kinds += ["bucket"] * (per_agency_day - 4 * n_servers - rest // 2 - rest // 4)
    fleets = []
    for a in range(agencies):
        project = f"gov-a{a:03d}"
        fleet = []
        for i, kind in enumerate(kinds):
            vcpus, ram = rng.choice(SIZES)
            fleet.append((kind, f"{project}-{kind}-{i}", rng.choice(sites), f"svc-{i % 7}", rng.choice(ENVS),
                          vcpus, ram, rng.choice((20, 50, 100, 500)),
                          Decimal(rng.randrange(1, 24 * 10 ** 6)) / 10 ** 6))
        fleets.append((project, fleet))
    count = 0
    for day in range(days):
        d = first + timedelta(days=day)
        for project, fleet in fleets:
            for kind, rid, site, service, env, vcpus, ram, gb, hours in fleet:
                if kind == "server":
                    for meter, k in (("server_hours", 1), ("vcpu_hours", vcpus), ("ram_mb_hours", ram),
                                     ("disk_gb_hours", 20)):
                        yield UsageRecord(site, meter, rid, d, "p-" + project, project, service, env, kind, rid,
                                          hours * k)
                        count += 1
                        if count >= n:
                            return
                    continue
                meter = {"volume": "volume_gb_hours", "floating-ip": "floating_ip_hours",
                         "bucket": "bucket_gb_hours"}[kind]
                qty = hours if kind == "floating-ip" else hours * gb
                yield UsageRecord(site, meter, rid, d, "p-" + project, project, service, env, kind, rid, qty)
                count += 1
                if count >= n:
                    return
    while count < n:  # rounding of the per-day share: top up on the last day
        project, fleet = fleets[count % agencies]
        kind, rid, site, service, env, *_ = fleet[0]
        yield UsageRecord(site, "floating_ip_hours", f"{rid}-extra-{count}", first, "p-" + project, project,
                          service, env, "floating-ip", rid, Decimal(1))
        count += 1


def fleet_records(inventory, period: Period, manifests=None, seed: int = 7, now: datetime | None = None
                  ) -> list[UsageRecord]:
    """A plausible period of usage for the registry's agencies (see TARGETS)."""
    from govcloud.metering.rating import METERS

    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    days = [d for d in period.days() if datetime(d.year, d.month, d.day, tzinfo=UTC) < now]
    out: list[UsageRecord] = []
    plans = []
    if manifests is not None:
        from govcloud.check import Workspace, manifest_files

        ws = Workspace(inventory.config)
        for f in manifest_files([manifests]):
            try:
                plans.append(ws.plan(f))
            except Exception:  # noqa: BLE001 - a sample: skip what does not compile
                continue
    for agency in inventory.registry.agencies:
        sites = [s for s in agency.allowed_sites if s != "devcloud"] or agency.allowed_sites
        cards = {s: inventory.site(s).rate_card for s in sites}
        daily_budget = float(agency.monthly_budget or 0) / 30.4
        target = daily_budget * TARGETS.get(agency.id, 0.5)
        spent = 0.0
        n = 0

        def add(kind, site, service, env, name, per_hour: dict, start_day=0, end_day=None, drift=0.0):
            nonlocal spent, n
            n += 1
            rid = f"{agency.id}-{kind}-{n}"
            card = cards.get(site) or inventory.site(site).rate_card
            for i, d in enumerate(days):
                if i < start_day or (end_day is not None and i > end_day):
                    continue
                hours = 24.0 if (i != start_day or start_day == 0) else rng.choice((6.5, 12.25, 17.75))
                wiggle = 1 + drift * rng.uniform(-1, 1)
                for meter, per in per_hour.items():
                    qty = _q(per * hours * wiggle)
                    out.append(UsageRecord(site, meter, rid, d, "p-" + agency.project, agency.project, service, env,
                                           kind, name, qty, sampled=meter == "bucket_gb_hours"))
                    m = METERS[meter]
                    if m.rate_field:
                        spent += float(qty) / float(m.divisor) * float(getattr(card, m.rate_field))

        # the agency's manifests, as compiled (buckets 35-80 % full, one server more in a few)
        for plan in plans:
            s = plan.service
            if s.agency != agency.id:
                continue
            for r in plan.resources:
                m = r.meters
                if "vcpu" in m:
                    add("server", s.site, s.service, s.environment, r.name,
                        {"server_hours": 1, "vcpu_hours": float(m["vcpu"]), "ram_mb_hours": float(m["ramGb"]) * 1024,
                         "disk_gb_hours": 20})
                if "volumeGb" in m:
                    add("volume", s.site, s.service, s.environment, r.name, {"volume_gb_hours": float(m["volumeGb"])})
                if "floatingIp" in m:
                    add("floating-ip", s.site, s.service, s.environment, r.name, {"floating_ip_hours": 1})
                if "bucketGb" in m:
                    add("bucket", s.site, s.service, s.environment, r.name,
                        {"bucket_gb_hours": float(m["bucketGb"]) * rng.uniform(0.35, 0.8)}, drift=0.02)
            if rng.random() < 0.5:
                add("server", s.site, s.service, s.environment, f"{s.prefix}-extra",
                    {"server_hours": 1, "vcpu_hours": 4, "ram_mb_hours": 8192, "disk_gb_hours": 40},
                    start_day=len(days) // 2)
        # other services until the agency reaches its target share of the budget
        words = rng.sample(SERVICE_WORDS, k=len(SERVICE_WORDS))
        k = 0
        while spent < target * len(days) and k < 400:
            service = words[k % 6]
            env = ENVS[k % len(ENVS)]
            site = rng.choice(sites)
            vcpus, ram = rng.choice(SIZES[1:])
            add("server", site, service, env, f"{agency.id}-{env}-{service}-{k}",
                {"server_hours": 1, "vcpu_hours": vcpus, "ram_mb_hours": ram, "disk_gb_hours": 40},
                start_day=rng.choice((0, 0, 0, len(days) // 3)),
                end_day=rng.choice((None, None, None, 2 * len(days) // 3)))
            if k % 2 == 0:
                add("volume", site, service, env, f"{agency.id}-{env}-{service}-{k}-data",
                    {"volume_gb_hours": rng.choice((100, 250, 500, 1000))})
            if k % 5 == 0:
                add("floating-ip", site, service, env, f"{agency.id}-{env}-{service}-{k}-fip", {"floating_ip_hours": 1})
            if k % 4 == 0:
                add("bucket", site, service, env, f"{service}-{k}", {"bucket_gb_hours": rng.choice((50, 200, 800))})
            k += 1
        if agency.id == "moh":  # something nobody declared
            add("server", sites[0], "(unmanaged)", "", "legacy-vm", {"server_hours": 1, "vcpu_hours": 2,
                                                                      "ram_mb_hours": 4096, "disk_gb_hours": 40})
    return out


def main(argv=None) -> None:
    from govcloud.config import find_config_repo
    from govcloud.load.inventory import Inventory
    from govcloud.metering.periods import parse_day
    from govcloud.metering.store import UsageStore

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="start", required=True)
    ap.add_argument("--to", dest="end", required=True)
    ap.add_argument("--manifests", default=None)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    config = find_config_repo()
    inv = Inventory(config)
    period = Period(parse_day(args.start), parse_day(args.end))
    records = fleet_records(inv, period, args.manifests, args.seed, now=datetime.now(UTC) + timedelta(days=3650))
    with UsageStore.for_config(config) as store:
        store.bulk_insert(records, datetime.now(UTC))
        print(f"{len(records)} synthetic records -> {store.path}")


if __name__ == "__main__":  # pragma: no cover
    main()
