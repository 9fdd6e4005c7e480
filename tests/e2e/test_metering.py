"""Metering end to end on the dev cloud: real servers, real usage APIs, the real CLI.

Servers (with the metadata the compiler writes), a volume, a floating IP and a
bucket are created with openstacksdk in two agency projects (gov-moh and
gov-mefa), run for a little while, and `govcloud usage collect` / `report`
must show both agencies with the vCPU-hours Nova's usage API reports for those
servers, priced per inventories/sites/devcloud.yaml. Everything created is
deleted again. An unreachable dev cloud is a FAILURE, not a skip.

    .venv/bin/python -m pytest tests/e2e/test_metering.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openstack
import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
SITE = yaml.safe_load((REPO / "inventories" / "sites" / "devcloud.yaml").read_text())
AGENCIES = {a["id"]: a for a in yaml.safe_load((REPO / "inventories" / "agencies.yaml").read_text())["agencies"]}
CLOUD = SITE["cloud"]
UTC = timezone.utc
RUN_SECONDS = 25


def connect():
    try:
        conn = openstack.connect(cloud=CLOUD, api_timeout=60)
        conn.authorize()
        return conn
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"dev cloud '{CLOUD}' unreachable: {type(exc).__name__}: {exc}"
                    " - start it with `sudo scripts/devcloud up`", pytrace=False)


def govcloud(state: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GOVCLOUD_STATE_DIR": str(state)}
    env.pop("GOVCLOUD_CONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "govcloud", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=600)
    assert proc.returncode == 0, f"govcloud {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


class Created:
    """What the test made, deleted in reverse order whatever happens."""

    def __init__(self):
        self.undo: list = []

    def add(self, what: str, fn) -> None:
        self.undo.append((what, fn))

    def cleanup(self) -> list[str]:
        errors = []
        for what, fn in reversed(self.undo):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{what}: {type(exc).__name__}: {exc}")
        self.undo.clear()
        return errors


@pytest.fixture
def created():
    c = Created()
    yield c
    errors = c.cleanup()
    assert not errors, "cleanup failed: " + "; ".join(errors)


def nova_vcpu_hours(conn, project_id: str, instance_ids: set[str], start: datetime, end: datetime) -> Decimal:
    """vCPU-hours of these servers according to Nova's os-simple-tenant-usage, one query for the whole period."""
    total = Decimal(0)
    for usage in conn.compute.usages(start=start.replace(tzinfo=None), end=end.replace(tzinfo=None), detailed="1"):
        if usage.project_id != project_id:
            continue
        for s in usage.server_usages or ():
            su = s if isinstance(s, dict) else s.to_dict()
            if su["instance_id"] in instance_ids:
                total += Decimal(repr(su["hours"])) * su["vcpus"]
    return total


def test_usage_of_two_agencies_matches_nova_and_the_rate_card(tmp_path, created):
    conn = connect()
    suffix = uuid.uuid4().hex[:6]
    service = f"metering-e2e-{suffix}"
    state = tmp_path / "state"
    first_day = datetime.now(UTC).date()
    t0 = time.time()
    flavor = conn.compute.find_flavor(SITE["sizes"]["small"]["flavor"], ignore_missing=False)
    image = conn.image.find_image(SITE["images"]["ubuntu-22.04"]["image"], ignore_missing=False)
    public = conn.network.find_network(SITE["externalNetwork"], ignore_missing=False)

    servers: dict[str, list] = {}
    projects = {}
    for agency_id in ("moh", "mefa"):
        agency = AGENCIES[agency_id]
        project = conn.identity.find_project(agency["project"], domain_id="default", ignore_missing=False)
        projects[agency_id] = project
        pc = conn.connect_as(project_id=project.id)
        tags = {"govcloud:agency": agency_id, "govcloud:service": service, "govcloud:environment": "test"}
        servers[agency_id] = []
        for n in (1, 2) if agency_id == "moh" else (1,):
            srv = pc.compute.create_server(
                name=f"{agency_id}-test-{service}-vm-{n}", flavor_id=flavor.id, image_id=image.id, networks="none",
                metadata={**tags, "govcloud:server": "vm", "govcloud:index": str(n)})
            created.add(f"server {srv.id}", lambda pc=pc, srv=srv: (pc.compute.delete_server(srv, ignore_missing=True),
                                                                    pc.compute.wait_for_delete(srv, wait=180)))
            servers[agency_id].append(srv)
        if agency_id == "moh":
            vol = pc.block_storage.create_volume(size=2, name=f"{agency_id}-test-{service}-vm-1-data",
                                                 volume_type=SITE["volumeTypes"]["standard"]["name"],
                                                 metadata={**tags, "govcloud:server": "vm-1"})
            created.add(f"volume {vol.id}", lambda pc=pc, vol=vol: (
                pc.block_storage.delete_volume(vol, ignore_missing=True),
                pc.block_storage.wait_for_delete(vol, wait=180)))
            container = f"{service}-docs"
            pc.object_store.create_container(name=container, metadata={
                k.replace(":", "-"): v for k, v in tags.items()})
            created.add(f"container {container}", lambda pc=pc, c=container: pc.object_store.delete_container(c))
            pc.object_store.upload_object(container=container, name="report.csv", data=b"x" * 100_000)
            created.add(f"object {container}/report.csv",
                        lambda pc=pc, c=container: pc.object_store.delete_object("report.csv", container=c))
        else:
            fip = pc.network.create_ip(floating_network_id=public.id, description=f"public IP of {service}")
            created.add(f"floating IP {fip.id}", lambda pc=pc, fip=fip: pc.network.delete_ip(fip, ignore_missing=True))
            conn.network.set_tags(fip, [f"{k}={v}" for k, v in tags.items()])
    for srvs in servers.values():
        for i, srv in enumerate(srvs):
            srvs[i] = conn.compute.wait_for_server(srv, wait=180)
    conn.block_storage.wait_for_status(vol, "available", wait=180)
    time.sleep(RUN_SECONDS)

    # collect while they run (metadata is read from the live servers), then after deleting them
    last_day = datetime.now(UTC).date()
    window = ("--from", first_day.isoformat(), "--to", last_day.isoformat())
    first = json.loads(govcloud(state, "usage", "collect", "--site", "devcloud", *window, "--format", "json").stdout)
    assert first["inserted"] > 0 and not first["notes"] and not first["failures"], first
    # delete everything: deleted servers keep their service (from the store), the volume, IP and bucket are
    # charged until the collection that last saw them
    errors = created.cleanup()
    assert not errors, errors
    last_day = datetime.now(UTC).date()
    window = ("--from", first_day.isoformat(), "--to", last_day.isoformat())
    govcloud(state, "usage", "collect", "--site", "devcloud", *window)

    report = json.loads(govcloud(state, "usage", "report", *window, "--site", "devcloud", "--format", "json").stdout)
    mine = [l for l in report["lines"] if l["service"] == service]
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    end = datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC) + timedelta(days=1)
    for agency_id in ("moh", "mefa"):
        vcpu = [l for l in mine if l["agency"] == agency_id and l["meter"] == "vcpu_hours"]
        assert len(vcpu) == 1, (agency_id, mine)
        ours = Decimal(vcpu[0]["quantity"])
        nova = nova_vcpu_hours(conn, projects[agency_id].id, {s.id for s in servers[agency_id]}, start, end)
        assert ours > 0 and nova > 0
        # each stored daily figure is quantized to a micro-hour
        assert abs(ours - nova) <= Decimal("0.00001") * len(servers[agency_id]) * 2, (agency_id, ours, nova)
        # at least the time we let them run, at most the whole test so far
        n = len(servers[agency_id])
        assert Decimal(RUN_SECONDS) / 3600 * n * Decimal("0.9") <= ours <= Decimal(time.time() - t0) / 3600 * n
        assert vcpu[0]["environment"] == "test" and vcpu[0]["site"] == "devcloud"
        assert any(a["agency"] == agency_id and Decimal(a["amount"]) >= 0 for a in report["agencies"])

    # one charge by hand from the rate card
    rate = SITE["rateCard"]
    moh_vcpu = next(l for l in mine if l["agency"] == "moh" and l["meter"] == "vcpu_hours")
    by_hand = (Decimal(moh_vcpu["quantity"]) * Decimal(rate["vcpuHour"])).quantize(Decimal(1), ROUND_HALF_UP)
    assert Decimal(moh_vcpu["amount"]) == by_hand and Decimal(moh_vcpu["unitPrice"]) == rate["vcpuHour"]
    moh_ram = next(l for l in mine if l["agency"] == "moh" and l["meter"] == "ram_mb_hours")
    assert Decimal(moh_ram["quantity"]) == Decimal(moh_vcpu["quantity"]) * SITE["sizes"]["small"]["ramMb"]
    # the other meters reached the right agency and service
    meters = {(l["agency"], l["meter"]) for l in mine}
    assert {("moh", "volume_gb_hours"), ("moh", "bucket_gb_hours"), ("mefa", "floating_ip_hours")} <= meters, meters
    vol_line = next(l for l in mine if l["meter"] == "volume_gb_hours")
    assert Decimal(vol_line["quantity"]) > 0
    # totals add up exactly
    assert Decimal(report["total"]) == sum(Decimal(l["amount"]) for l in report["lines"])

    # collecting again changes nothing for what this test made (all deleted, so nothing grows)
    govcloud(state, "usage", "collect", "--site", "devcloud", *window)
    again = json.loads(govcloud(state, "usage", "report", *window, "--site", "devcloud", "--format", "json").stdout)
    assert [l for l in again["lines"] if l["service"] == service] == mine

    # the HTML report renders from the store
    html = tmp_path / "usage.html"
    govcloud(state, "usage", "report", *window, "--format", "html", "--out", str(html), "--calendar", "jalali")
    text = html.read_text(encoding="utf-8")
    assert "وزارت بهداشت" in text and "وزارت امور اقتصادی" in text and service in text
