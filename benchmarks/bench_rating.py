"""Benchmark: rate 1,000,000 usage records for 100 agencies, time and peak memory.

    .venv/bin/python benchmarks/bench_rating.py [--records 1000000] [--agencies 100] [--repeat 3]

Three measurements, each in the same process on freshly generated records
(benchmarks' synthetic generator: 30 days, 2 sites, servers with 4 meters,
volumes, floating IPs, buckets; quantities are micro-unit Decimals like the
store's):

1. rating in memory: Rater.add over a prepared list + Rater.rate (the pricing
   engine alone); time is the median CPU time of --repeat runs (wall time in
   parentheses), peak is tracemalloc's peak of the rating itself (the records
   list excluded);
2. the report path: a SQLite usage store holding the records -> rows read back
   -> rated -> the agency/service/budget report (what `govcloud usage report`
   does), time and tracemalloc peak;
3. the store load (bulk insert of the records), for reference.

Peak RSS of the whole process (resource.getrusage) is printed at the end.
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from govcloud.config import ConfigRepo  # noqa: E402
from govcloud.load.inventory import Agency, AgencyRegistry, Inventory  # noqa: E402
from govcloud.metering.periods import Period  # noqa: E402
from govcloud.metering.rating import Rater  # noqa: E402
from govcloud.metering.report import build_report  # noqa: E402
from govcloud.metering.store import UsageStore  # noqa: E402
from govcloud.metering.synthetic import bulk_records  # noqa: E402

FIRST = date(2026, 3, 1)


class BenchInventory(Inventory):
    """The shipped sites, and a registry of N synthetic agencies (projects gov-a000 ...)."""

    def __init__(self, agencies: int):
        super().__init__(ConfigRepo(None))
        self._registry = AgencyRegistry(agencies=[Agency(
            id=f"a{i:03d}", name={"fa": f"دستگاه {i}", "en": f"Agency {i}"}, project=f"gov-a{i:03d}",
            quotas={"vcpus": 1, "ramGb": 1, "volumeGb": 1, "floatingIps": 1, "buckets": 1},
            allowed_sites=["thr1", "isf1"], monthly_budget=5_000_000_000) for i in range(agencies)])


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--agencies", type=int, default=100)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    inv = BenchInventory(args.agencies)
    cards = {s: inv.site(s).rate_card for s in ("thr1", "isf1")}
    agency_of = {a.project: a.id for a in inv.registry.agencies}
    period = Period(FIRST, date.fromordinal(FIRST.toordinal() + args.days - 1))

    t = time.perf_counter()
    records = list(bulk_records(args.records, args.agencies, args.days, first=FIRST))
    gen_s = time.perf_counter() - t
    assert len(records) == args.records

    # 1. the rating engine on records in memory
    times, walls = [], []
    for _ in range(args.repeat):
        gc.collect()
        t, w = time.process_time(), time.perf_counter()
        rated = Rater(cards, agency_of).add(records).rate()
        times.append(time.process_time() - t)
        walls.append(time.perf_counter() - w)
    gc.collect()
    tracemalloc.start()
    Rater(cards, agency_of).add(records).rate()
    _, rate_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rate_s, rate_wall = statistics.median(times), statistics.median(walls)

    # 2. the store and the report
    with tempfile.TemporaryDirectory() as tmp:
        store = UsageStore(Path(tmp) / "usage.sqlite")
        t = time.perf_counter()
        store.bulk_insert(records, datetime.now(timezone.utc))
        load_s = time.perf_counter() - t
        size = (Path(tmp) / "usage.sqlite").stat().st_size
        n_lines, total = len(rated.lines), rated.total
        del records, rated
        gc.collect()
        times, walls = [], []
        for _ in range(args.repeat):
            t, w = time.process_time(), time.perf_counter()
            rep = build_report(store, inv, period)
            times.append(time.process_time() - t)
            walls.append(time.perf_counter() - w)
        gc.collect()
        tracemalloc.start()
        rep = build_report(store, inv, period)
        _, report_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        report_s, report_wall = statistics.median(times), statistics.median(walls)
        assert rep.total == total and len(rep.agencies) == args.agencies
        store.close()

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    n = args.records
    print(f"records: {n:,} for {args.agencies} agencies, {args.days} days, 2 sites -> {n_lines:,} charge lines, "
          f"total {total:,} IRR")
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}; median of {args.repeat}; CPU s (wall s)")
    print(f"generate records        {gen_s:7.2f} s wall")
    print(f"rate (in memory)        {rate_s:7.2f} s ({rate_wall:.2f})  {n / rate_s:12,.0f} records/s  "
          f"peak {mib(rate_peak)}")
    print(f"store load (bulk)       {load_s:7.2f} s wall     {n / load_s:12,.0f} records/s  file {mib(size)}")
    print(f"report from the store   {report_s:7.2f} s ({report_wall:.2f})  {n / report_s:12,.0f} records/s  "
          f"peak {mib(report_peak)}")
    print(f"peak RSS of the process {mib(rss)} (includes the records held in memory for step 1)")


if __name__ == "__main__":
    main()
