"""Collection into the usage store, with a fake cloud: attribution, deletions, idempotence."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from govcloud.config import ConfigRepo
from govcloud.errors import CloudError
from govcloud.load.inventory import Inventory
from govcloud.metering.collect import (UNMANAGED, Collector, ContainerSeen, FloatingIpSeen, ServerSeen, ServerUsage,
                                       VolumeSeen, collect_site, service_of_metadata, service_of_tags)
from govcloud.metering.periods import Period, day_start, overlap_hours
from govcloud.metering.report import build_report
from govcloud.metering.store import SCHEMA_VERSION, StoreError, UsageStore

UTC = timezone.utc
T0 = datetime(2026, 3, 30, 0, 0, tzinfo=UTC)
GIB = 1024 ** 3
PROJECTS = {"p-moh": "gov-moh", "p-mefa": "gov-mefa", "p-demo": "demo"}


@dataclass
class Srv:
    id: str
    project_id: str
    vcpus: int
    ram: int
    disk: int
    created: datetime
    deleted: datetime | None = None
    metadata: dict = field(default_factory=dict)


class FakeCloud:
    """Nova usage computed from server lifetimes like Nova does; everything else as listed."""

    def __init__(self):
        self.clock = T0
        self.servers_: list[Srv] = []
        self.volumes_: list[VolumeSeen] = []
        self.fips: list[FloatingIpSeen] = []
        self.buckets: dict[str, list[ContainerSeen]] = {}
        self.usage_calls = 0

    def now(self):
        return self.clock

    def projects(self):
        return dict(PROJECTS)

    def server_usage(self, start, end):
        self.usage_calls += 1
        end = min(end, self.clock)
        out = []
        for s in self.servers_:
            lo, hi = max(start, s.created), min(end, s.deleted or end)
            if hi <= lo:
                continue
            h = Decimal((hi - lo).total_seconds()) / 3600
            out.append(ServerUsage(s.id, s.id, s.project_id, h.quantize(Decimal("0.000001")), s.vcpus, s.ram,
                                   s.disk, "gc.small", "terminated" if s.deleted else "active"))
        return out

    def servers(self):  # live only; Nova drops the metadata of deleted servers
        return [ServerSeen(s.id, s.id, s.project_id, dict(s.metadata), s.created)
                for s in self.servers_ if s.deleted is None or s.deleted > self.clock]

    def volumes(self):
        return list(self.volumes_)

    def floating_ips(self):
        return list(self.fips)

    def containers(self, project_id):
        return list(self.buckets.get(project_id, []))


@pytest.fixture
def store(tmp_path):
    s = UsageStore(tmp_path / "usage.sqlite")
    yield s
    s.close()


@pytest.fixture
def inventory():
    return Inventory(ConfigRepo(None))


def md(service, env="prod"):
    return {"govcloud:agency": "moh", "govcloud:service": service, "govcloud:environment": env}


def total(store, meter, **where):
    return sum((r.quantity for r in store.usage() if r.meter == meter
                and all(getattr(r, k) == v for k, v in where.items())), Decimal(0))


def test_attribution_from_metadata_and_tags():
    assert service_of_metadata(md("portal")) == ("portal", "prod")
    assert service_of_metadata({"govcloud-service": "docs", "govcloud-environment": "dev"}) == ("docs", "dev")
    assert service_of_metadata({"Govcloud-Service": "docs"}) == ("docs", "")
    assert service_of_metadata({}) == (UNMANAGED, "")
    assert service_of_tags(["govcloud:service=portal", "govcloud:environment=test", "other"]) == ("portal", "test")
    assert service_of_tags(None) == (UNMANAGED, "")


def test_collect_servers_volumes_ips_buckets(store, inventory):
    cloud = FakeCloud()
    cloud.servers_ = [Srv("web-1", "p-moh", 2, 4096, 20, T0 - timedelta(days=3), metadata=md("portal")),
                      Srv("legacy", "p-mefa", 1, 1024, 10, T0 - timedelta(days=1))]
    cloud.volumes_ = [VolumeSeen("v1", "data", "p-moh", 50, "standard", "in-use", T0 - timedelta(days=2), md("portal"))]
    cloud.fips = [FloatingIpSeen("f1", "172.24.4.10", "p-mefa", T0 - timedelta(hours=30),
                                 ("govcloud:service=hr-app", "govcloud:environment=prod"))]
    cloud.buckets = {"p-moh": [ContainerSeen("p-moh", "docs", 2 * GIB, T0 - timedelta(days=10),
                                             {"govcloud-service": "portal", "govcloud-environment": "prod"})]}
    cloud.clock = T0 + timedelta(days=1, hours=12)  # 2026-03-31 12:00
    period = Period(date(2026, 3, 30), date(2026, 4, 2))  # crosses the month end, partly in the future
    res = Collector(store, "devcloud", cloud).collect(period)
    assert res.days == [date(2026, 3, 30), date(2026, 3, 31)]  # no future days
    assert cloud.usage_calls == 2
    assert res.counts.inserted == res.counts.total > 0
    # 36 h of each server in the period
    assert total(store, "vcpu_hours", resource_id="web-1") == 72
    assert total(store, "ram_mb_hours", resource_id="web-1") == 36 * 4096
    assert total(store, "vcpu_hours", resource_id="legacy", service=UNMANAGED) == 36
    assert total(store, "volume_gb_hours", service="portal") == 50 * 36
    assert total(store, "floating_ip_hours", service="hr-app", environment="prod") == 36
    assert total(store, "bucket_gb_hours", service="portal") == 2 * 36
    # only the closed day is final
    rows = {(r.meter, r.day): r for r in store.usage()}
    assert rows[("vcpu_hours", date(2026, 3, 30))].final and not rows[("vcpu_hours", date(2026, 3, 31))].final

    rep = build_report(store, inventory, period)
    by_agency = {a.id: a.amount for a in rep.agencies}
    card = inventory.site("devcloud").rate_card
    moh = 72 * card.vcpu_hour + 36 * 4 * card.ram_gb_hour + Decimal(50 * 36) / 730 * card.volume_gb_month \
        + Decimal(2 * 36) / 730 * card.bucket_gb_month
    assert abs(by_agency["moh"] - moh) <= len([l for l in rep.lines if l.agency == "moh"])
    assert {s.service for s in rep.services if s.agency == "mefa"} == {UNMANAGED, "hr-app"}


def test_collecting_the_same_period_twice_changes_nothing(store, inventory):
    cloud = FakeCloud()
    cloud.servers_ = [Srv("a", "p-moh", 4, 8192, 40, T0 - timedelta(days=5), metadata=md("api"))]
    cloud.volumes_ = [VolumeSeen("v", "v", "p-moh", 10, "standard", "available", T0 - timedelta(days=5), {})]
    cloud.buckets = {"p-moh": [ContainerSeen("p-moh", "b", GIB, T0 - timedelta(days=5), {})]}
    cloud.clock = T0 + timedelta(days=3)
    period = Period(date(2026, 3, 28), date(2026, 4, 1))
    first = Collector(store, "devcloud", cloud).collect(period)
    snapshot = sorted(store.usage(), key=lambda r: (r.meter, r.resource_id, r.day))
    report1 = build_report(store, inventory, period).to_json()
    again = Collector(store, "devcloud", cloud).collect(period)
    assert first.counts.inserted > 0
    assert (again.counts.inserted, again.counts.updated, again.counts.unchanged) == (0, 0, first.counts.total)
    assert sorted(store.usage(), key=lambda r: (r.meter, r.resource_id, r.day)) == snapshot
    report2 = build_report(store, inventory, period).to_json()
    assert report1["total"] == report2["total"] and report1["lines"] == report2["lines"]
    # an overlapping period re-collects the shared days without double counting
    Collector(store, "devcloud", cloud).collect(Period(date(2026, 3, 30), date(2026, 4, 2)))
    assert total(store, "vcpu_hours") == 4 * (24 * 4 + 24 * 1)  # 28..31 whole days + 2026-04-01 (until 00:00+24h)
    assert store.db.execute("SELECT COUNT(*) FROM collections").fetchone()[0] == 3


def test_open_day_grows_then_is_final(store):
    cloud = FakeCloud()
    cloud.servers_ = [Srv("a", "p-moh", 1, 1024, 10, T0, metadata=md("api"))]
    period = Period(date(2026, 3, 30), date(2026, 3, 30))
    cloud.clock = T0 + timedelta(hours=6)
    Collector(store, "devcloud", cloud).collect(period)
    assert total(store, "vcpu_hours") == 6
    cloud.clock = T0 + timedelta(hours=30)
    res = Collector(store, "devcloud", cloud).collect(period)
    assert res.counts.updated == 4 and res.counts.inserted == 0  # the 4 server meters of that day
    assert total(store, "vcpu_hours") == 24
    assert all(r.final for r in store.usage())


def test_deleted_server_keeps_the_service_it_had_when_last_seen(store, inventory):
    cloud = FakeCloud()
    s = Srv("gone", "p-moh", 2, 2048, 20, T0, metadata=md("portal", "staging"))
    cloud.servers_ = [s]
    cloud.clock = T0 + timedelta(hours=5)
    Collector(store, "devcloud", cloud).collect(Period(date(2026, 3, 30), date(2026, 3, 30)))
    s.deleted = T0 + timedelta(hours=10)  # alive 10 of the day's 24 hours
    cloud.clock = T0 + timedelta(days=2)
    Collector(store, "devcloud", cloud).collect(Period(date(2026, 3, 30), date(2026, 3, 31)))
    assert total(store, "vcpu_hours", service="portal", environment="staging") == 20
    assert total(store, "vcpu_hours", service=UNMANAGED) == 0
    rep = build_report(store, inventory, Period(date(2026, 3, 1), date(2026, 3, 31)))
    assert [(s.service, s.environment) for s in rep.services] == [("portal", "staging")]


def test_server_deleted_before_any_collection_is_unmanaged(store):
    cloud = FakeCloud()
    cloud.servers_ = [Srv("brief", "p-moh", 1, 1024, 10, T0, T0 + timedelta(hours=2), md("portal"))]
    cloud.clock = T0 + timedelta(days=1)
    Collector(store, "devcloud", cloud).collect(Period(date(2026, 3, 30), date(2026, 3, 30)))
    assert total(store, "vcpu_hours", service=UNMANAGED) == 2


def test_volume_deleted_between_collections_is_charged_until_last_seen(store):
    cloud = FakeCloud()
    cloud.volumes_ = [VolumeSeen("v", "data", "p-moh", 100, "standard", "available", T0 + timedelta(hours=12),
                                 md("db"))]
    cloud.clock = T0 + timedelta(hours=18)
    Collector(store, "devcloud", cloud).collect(Period(date(2026, 3, 30), date(2026, 3, 30)))
    assert total(store, "volume_gb_hours") == 600  # 100 GB x 6 h so far
    cloud.volumes_ = []  # deleted; Cinder no longer lists it
    cloud.clock = T0 + timedelta(days=3)
    period = Period(date(2026, 3, 29), date(2026, 4, 1))
    Collector(store, "devcloud", cloud).collect(period)
    assert total(store, "volume_gb_hours") == 600  # last seen at 18:00: nothing after
    info = store.resources("devcloud", "volume")["v"]
    assert info.deleted_at == T0 + timedelta(hours=18) and info.service == "db"
    again = Collector(store, "devcloud", cloud).collect(period)
    assert again.counts.updated == 0 and again.counts.inserted == 0


def test_bucket_samples_are_final_once_the_day_is_over(store):
    cloud = FakeCloud()
    bucket = ContainerSeen("p-moh", "docs", GIB, T0 - timedelta(days=30), {"govcloud-service": "portal"})
    cloud.buckets = {"p-moh": [bucket]}
    cloud.clock = T0 + timedelta(hours=12)
    day = Period(date(2026, 3, 30), date(2026, 3, 30))
    Collector(store, "devcloud", cloud).collect(day)
    assert total(store, "bucket_gb_hours") == 12  # 1 GiB for the 12 hours so far
    cloud.buckets = {"p-moh": [ContainerSeen("p-moh", "docs", 3 * GIB, bucket.created_at, bucket.metadata)]}
    cloud.clock = T0 + timedelta(hours=25)
    Collector(store, "devcloud", cloud).collect(day)
    # integrated: 1 GiB until the first sample (12 h), then linear to 3 GiB at 25 h, so 1 + 2 x 12/13 GiB at the
    # day's end: 12 + 12 x (1 + 1 + 24/13) / 2 = 12 + 300/13 GiB-hours, and final (a sample after the day exists)
    assert total(store, "bucket_gb_hours") == (12 + Decimal(300) / 13).quantize(Decimal("0.000001"))
    closed = total(store, "bucket_gb_hours")
    cloud.buckets = {"p-moh": [ContainerSeen("p-moh", "docs", 9 * GIB, bucket.created_at, bucket.metadata)]}
    cloud.clock = T0 + timedelta(days=5)
    res = Collector(store, "devcloud", cloud).collect(day)
    assert total(store, "bucket_gb_hours") == closed and res.counts.updated == 0  # a final day stays
    cloud.buckets = {"p-moh": []}
    Collector(store, "devcloud", cloud).collect(Period(date(2026, 4, 1), date(2026, 4, 2)))
    assert store.resources("devcloud", "bucket")["p-moh/docs"].deleted_at is not None


def test_only_the_agency_projects_swift_accounts_are_read(store):
    cloud = FakeCloud()
    cloud.buckets = {"p-demo": [ContainerSeen("p-demo", "x", GIB, T0, {})]}
    cloud.clock = T0 + timedelta(days=1)
    Collector(store, "devcloud", cloud, bucket_projects=["gov-moh", "gov-mefa"]).collect(
        Period(date(2026, 3, 30), date(2026, 3, 30)))
    assert total(store, "bucket_gb_hours") == 0


def test_a_failing_api_leaves_the_others_usable(store):
    cloud = FakeCloud()
    cloud.servers_ = [Srv("a", "p-moh", 1, 1024, 10, T0, metadata=md("api"))]

    def broken():
        raise ConnectionError("cinder is down")

    cloud.volumes = broken
    cloud.clock = T0 + timedelta(days=1)
    res = Collector(store, "devcloud", cloud).collect(Period(date(2026, 3, 30), date(2026, 3, 30)))
    assert res.failures == ["volumes not collected: ConnectionError: cinder is down"]
    assert total(store, "vcpu_hours") == 24
    assert store.collections()[-1]["notes"] == res.failures


def test_collect_site_reads_the_swift_accounts_of_the_agencies_allowed_there_and_reports_failures(store, inventory):
    cloud = FakeCloud()
    cloud.buckets = {p: [ContainerSeen(p, "docs", GIB, T0, {})] for p in PROJECTS}
    cloud.clock = T0 + timedelta(days=1)
    day = Period(date(2026, 3, 30), date(2026, 3, 30))
    res = collect_site(store, inventory, inventory.site("devcloud"), cloud, day)
    res.raise_if_incomplete()  # nothing failed
    assert {r.project for r in store.usage() if r.meter == "bucket_gb_hours"} == {"gov-moh", "gov-mefa"}  # not demo

    def broken():
        raise ConnectionError("neutron is down")

    cloud.floating_ips = broken
    res = collect_site(store, inventory, inventory.site("devcloud"), cloud, day)
    with pytest.raises(CloudError, match="collection incomplete .*\n  floating IPs not collected: .*neutron is down"):
        res.raise_if_incomplete()
    assert CloudError.exit_code == 3


def test_without_the_server_list_no_server_usage_is_recorded(store):
    cloud = FakeCloud()
    cloud.servers_ = [Srv("a", "p-moh", 1, 1024, 10, T0, metadata=md("api"))]

    def broken():
        raise ConnectionError("nova is down")

    cloud.servers = broken
    cloud.clock = T0 + timedelta(days=1)
    res = Collector(store, "devcloud", cloud).collect(Period(date(2026, 3, 30), date(2026, 3, 30)))
    assert res.failures and "nova is down" in res.failures[0]
    assert total(store, "vcpu_hours") == 0  # rather nothing than usage charged to the wrong service


def test_future_period_collects_nothing(store):
    cloud = FakeCloud()
    cloud.clock = T0
    res = Collector(store, "devcloud", cloud).collect(Period(date(2026, 4, 5), date(2026, 4, 6)))
    assert res.days == [] and res.counts.total == 0 and res.notes


# -- the store itself

def test_store_migrates_in_order_and_keeps_data(tmp_path):
    path = tmp_path / "usage.sqlite"
    s = UsageStore.__new__(UsageStore)  # open at version 1 only, as an older govcloud left it
    s.path = path
    s.db = sqlite3.connect(str(path), isolation_level=None)
    assert s.migrate(target=1) == [1]
    s.db.execute("INSERT INTO usage VALUES ('devcloud','vcpu_hours','r','2026-03-01','p','gov-moh','x','prod',"
                 "'server','r','1.000000',0,1,'2026-03-02T00:00:00+00:00')")
    s.close()
    s2 = UsageStore(path)
    assert s2.version() == SCHEMA_VERSION == 3
    assert [r[0] for r in s2.db.execute("SELECT version FROM schema_version ORDER BY version")] == [1, 2, 3]
    assert s2.count() == 1 and s2.collections() == []
    old = next(s2.usage())  # a row from before the ledger came from the cloud's API
    assert old.source == "cloud" and old.quantity == Decimal(1) and old.project == "gov-moh"
    assert s2.migrate() == []  # nothing left to do
    s2.db.execute("INSERT INTO schema_version VALUES (99, 'from the future', 'x')")
    s2.close()
    with pytest.raises(StoreError, match="newer"):
        UsageStore(path)


def test_store_for_config_lives_in_the_state_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("GOVCLOUD_STATE_DIR", raising=False)
    (tmp_path / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")
    with UsageStore.for_config(ConfigRepo(tmp_path), write=False) as s:  # reading a store never collected into
        assert s.path == tmp_path / ".govcloud" / "usage.sqlite" and s.version() > 0
    assert not (tmp_path / ".govcloud").exists()
    with UsageStore.for_config(ConfigRepo(tmp_path)) as s:
        assert s.path == tmp_path / ".govcloud" / "usage.sqlite"
    assert (tmp_path / ".govcloud" / "usage.sqlite").is_file()


def test_overlap_hours_for_deleted_resources():
    created, deleted = T0 + timedelta(hours=20), T0 + timedelta(days=1, hours=3)
    assert overlap_hours(created, deleted, date(2026, 3, 30)) == 4
    assert overlap_hours(created, deleted, date(2026, 3, 31)) == 3
    assert overlap_hours(created, deleted, date(2026, 4, 1)) == 0
    assert day_start(date(2026, 3, 30)) == T0
