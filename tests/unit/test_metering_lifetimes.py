"""The lifetime ledger from engine events, collection that uses it, reconciliation, bucket integration."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from govcloud.config import ConfigRepo
from govcloud.load.inventory import Inventory
from govcloud.metering.collect import Collector, integrate_gib_hours
from govcloud.metering.lifetimes import record_operation
from govcloud.metering.periods import Period
from govcloud.metering.reconcile import reconcile
from govcloud.metering.store import UsageStore
from tests.unit.test_metering_collect import T0, FakeCloud, Srv

UTC = timezone.utc
REPO = Path(__file__).resolve().parents[2]
DEPLOY = json.loads((REPO / "tests" / "fixtures" / "events" / "deploy-up.json").read_text())["events"]
INVENTORY = Inventory(ConfigRepo(REPO))
SITE = INVENTORY.site("devcloud")
PROJECTS = {a.id: a.project for a in INVENTORY.registry.agencies}
SERVER = "openstack:compute/instance:Instance"
VOLUME = "openstack:blockstorage/volume:Volume"
FIP = "openstack:networking/floatingIp:FloatingIp"


@pytest.fixture
def store(tmp_path):
    with UsageStore(tmp_path / "usage.sqlite") as s:
        yield s


def at(t: datetime) -> int:
    return int(t.timestamp())


def step(seq: int, when: datetime, op: str, rtype: str, name: str, *, new: dict | None = None,
         old: dict | None = None, planning: bool = False) -> dict:
    """One resOutputsEvent in the engine's shape (apitype.ResOutputsEvent / StepEventMetadata)."""
    md = {"op": op, "urn": f"urn:pulumi:s-dev::govcloud-moh::{rtype}::{name}", "type": rtype, "provider": ""}
    if new is not None:
        md["new"] = new
    if old is not None:
        md["old"] = old
    payload = {"metadata": md, **({"planning": True} if planning else {})}
    return {"sequence": seq, "timestamp": at(when), "resOutputsEvent": payload}


def server_state(rid: str, flavor: str = "gc.medium", service: str = "portal") -> dict:
    md = {"govcloud:agency": "moh", "govcloud:service": service, "govcloud:environment": "prod",
          "govcloud:cost-center": "MOH-1"}
    return {"id": rid, "type": SERVER, "inputs": {"name": f"moh-prod-{service}-{rid}", "flavorName": flavor,
                                                  "metadata": md}, "outputs": {"id": rid}}


def volume_state(rid: str, size: int) -> dict:
    md = {"govcloud:agency": "moh", "govcloud:service": "portal", "govcloud:environment": "prod"}
    return {"id": rid, "type": VOLUME, "inputs": {"name": f"vol-{rid}", "size": size, "metadata": md},
            "outputs": {"id": rid, "size": size}}


def test_a_real_deploys_events_open_intervals_with_what_the_engine_said(store):
    res = record_operation(DEPLOY, store, SITE, PROJECTS)
    assert (res.opened, res.closed) == (6, 0), res  # 2 servers, 2 volumes, 2 floating IPs; networks etc. ignored
    lts = {(lt.kind, lt.name): lt for lt in store.lifetimes("devcloud")}
    web1 = lts[("server", "moe-dev-citizen-portal-review-web-1")]
    # the resOutputsEvent of server-web-1's create: sequence 670, timestamp 1795872557
    assert web1.resource_id == "996fa060-a07c-4561-b80c-e55c64636506"
    assert web1.started_at == datetime.fromtimestamp(1795872557, UTC) and web1.ended_at is None
    assert (web1.project, web1.service, web1.environment) == ("gov-moe", "citizen-portal-review", "dev")
    assert web1.attrs["flavor"] == "gc.small" and web1.attrs["vcpus"] == 1 and web1.attrs["ramMb"] == 1024
    assert web1.attrs["tags"]["govcloud:cost-center"] == "MOE-WEB-001"
    vol = lts[("volume", "moe-dev-citizen-portal-review-web-1-data")]
    assert vol.attrs["sizeGb"] == 1 and vol.started_at == datetime.fromtimestamp(1795872551, UTC)
    fip = next(lt for lt in lts.values() if lt.kind == "floating-ip")
    assert fip.project_id == "9ffc71412c1c4a4bb15046f564ebf070" and fip.service == "citizen-portal-review"
    again = record_operation(DEPLOY, store, SITE, PROJECTS)  # the same operation again changes nothing
    assert (again.opened, again.unchanged) == (0, 6)


def test_destroy_replace_resize_and_previews(store):
    t = T0 + timedelta(hours=1)
    record_operation([step(1, t, "create", SERVER, "server-a", new=server_state("a")),
                      step(2, t, "create", VOLUME, "vol-v", new=volume_state("v", 10))], store, SITE, PROJECTS)
    # a preview of a destroy is not a destroy
    res = record_operation([step(3, t + timedelta(hours=1), "delete", SERVER, "server-a", old=server_state("a"),
                                 planning=True)], store, SITE, PROJECTS)
    assert res.closed == 0 and store.open_lifetime("devcloud", "server", "a") is not None
    # replace: a new id opens, the old one ends; resize: the volume's interval splits
    t2 = t + timedelta(hours=2)
    record_operation([step(4, t2, "create-replacement", SERVER, "server-a", new=server_state("b")),
                      step(5, t2 + timedelta(seconds=30), "delete-replaced", SERVER, "server-a",
                           old=server_state("a")),
                      step(6, t2, "update", VOLUME, "vol-v", new=volume_state("v", 20), old=volume_state("v", 10))],
                     store, SITE, PROJECTS)
    a = store.lifetimes("devcloud", "server", resource_id="a")
    assert len(a) == 1 and a[0].ended_at == t2 + timedelta(seconds=30)
    assert store.open_lifetime("devcloud", "server", "b").started_at == t2
    v = store.lifetimes("devcloud", "volume", resource_id="v")
    assert [(x.attrs["sizeGb"], x.started_at, x.ended_at) for x in v] == [(10, t, t2), (20, t2, None)]
    # a destroy of something created before the ledger existed records the end only
    record_operation([step(7, t2, "delete", SERVER, "server-old", old=server_state("old"))], store, SITE, PROJECTS)
    old = store.lifetimes("devcloud", "server", resource_id="old")
    assert len(old) == 1 and old[0].started_at is None and old[0].ended_at == t2


def test_a_server_and_a_volume_that_lived_between_two_collections_are_charged(store):
    """Nova still reports the server's hours but nothing names its service; Cinder forgets the volume."""
    cloud = FakeCloud()
    cloud.clock = T0 + timedelta(hours=1)
    period = Period(date(2026, 3, 30), date(2026, 3, 30))
    Collector(store, "devcloud", cloud).collect(period)
    born, died = T0 + timedelta(hours=2), T0 + timedelta(hours=5, minutes=30)
    cloud.servers_.append(Srv("x", "p-moh", 2, 4096, 20, born, died))  # gc.medium: 2 vCPUs
    record_operation([step(1, born, "create", SERVER, "server-x", new=server_state("x")),
                      step(2, born, "create", VOLUME, "vol-y", new=volume_state("y", 50))], store, SITE, PROJECTS)
    record_operation([step(3, died, "delete", SERVER, "server-x", old=server_state("x")),
                      step(4, died, "delete", VOLUME, "vol-y", old=volume_state("y", 50))], store, SITE, PROJECTS)
    cloud.clock = T0 + timedelta(hours=8)
    res = Collector(store, "devcloud", cloud).collect(period)
    rows = {(r.meter, r.resource_id): r for r in store.usage(period)}
    vcpu = rows[("vcpu_hours", "x")]
    assert vcpu.service == "portal" and vcpu.environment == "prod" and vcpu.project == "gov-moh"
    assert vcpu.quantity == Decimal("7")  # 3.5 h x 2 vCPUs, Nova's hours, attributed by the ledger
    vol = rows[("volume_gb_hours", "y")]
    assert vol.quantity == Decimal(175) and vol.source == "ledger" and vol.service == "portal"  # 50 GB x 3.5 h
    assert res.discrepancies == []  # the two sources agree


def test_reconcile_reports_what_the_two_sources_disagree_on(store):
    cloud = FakeCloud()
    born = T0 + timedelta(hours=1)
    cloud.servers_.append(Srv("x", "p-moh", 2, 4096, 20, born, T0 + timedelta(hours=3)))
    # the ledger says it lived 1 h longer than Nova does (e.g. deleted in Horizon, destroy recorded later)
    record_operation([step(1, born, "create", SERVER, "server-x", new=server_state("x")),
                      step(2, T0 + timedelta(hours=4), "delete", SERVER, "server-x", old=server_state("x")),
                      step(3, born, "create", SERVER, "server-z", new=server_state("z"))], store, SITE, PROJECTS)
    cloud.clock = T0 + timedelta(hours=6)
    period = Period(date(2026, 3, 30), date(2026, 3, 30))
    res = Collector(store, "devcloud", cloud).collect(period)
    got = {(d.resource_id, d.what): d for d in res.discrepancies}
    assert got[("x", "hours differ")].cloud == "2.000000 h" and got[("x", "hours differ")].ledger == "3.000000 h"
    assert ("z", "Nova reports no usage for it") in got  # the ledger's hours were charged instead
    z = [r for r in store.usage(period) if r.resource_id == "z" and r.meter == "vcpu_hours"]
    assert z[0].quantity == Decimal(10) and z[0].source == "ledger"  # 5 h x 2 vCPUs
    # within the tolerance nothing is reported
    assert not [d for d in reconcile(store, "devcloud", period, now=cloud.clock, tolerance_hours=Decimal(6))
                if d.resource_id == "x"]


def test_bucket_gib_hours_are_the_trapezoid_integral_of_the_samples():
    gib = 1024 ** 3
    t = T0
    samples = [(t + timedelta(hours=2), 2 * gib), (t + timedelta(hours=6), 6 * gib)]
    # 0-2 h: 2 GiB held back (4); 2-6 h: 2 -> 6 GiB (16); 6-10 h: 6 GiB held (24)
    assert integrate_gib_hours(samples, t, t + timedelta(hours=10)) == 44
    # part of a span: 3-5 h is 3 -> 5 GiB, 8 GiB-hours
    assert integrate_gib_hours(samples, t + timedelta(hours=3), t + timedelta(hours=5)) == 8
    assert integrate_gib_hours([], t, t + timedelta(hours=1)) == 0
    assert integrate_gib_hours(samples, t + timedelta(hours=5), t + timedelta(hours=5)) == 0
