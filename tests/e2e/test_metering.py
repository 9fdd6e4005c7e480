"""Metering end to end on the dev cloud: real servers, real usage APIs, the real CLI.

Servers (with the metadata the compiler writes), a volume, a floating IP and a
bucket are created with openstacksdk in two agency projects (gov-moh and
gov-mefa), run for a little while, and `govcloud usage collect` / `report`
must show both agencies with the vCPU-hours Nova's usage API reports for those
servers, priced per inventories/sites/devcloud.yaml. Everything created is
deleted again. An unreachable dev cloud is a FAILURE, not a skip.

A price change in the middle of a period needs usage on both sides of a UTC day
boundary, and the dev cloud's servers only exist from now on: so one server's
start is planted at 20:00 UTC yesterday in the dev cloud's own Nova cell
database (ours; Nova's usage API then reports it like any other), and a
config repo whose devcloud site has a rate-card history prices yesterday with
the old card and today with the new one. Once the server is deleted its real
start is written back, so the planted hours do not outlive the test.

    .venv/bin/python -m pytest tests/e2e/test_metering.py
"""
from __future__ import annotations

import configparser
import csv
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import unquote, urlsplit

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
DEVCLOUD_ROOT = Path(os.environ.get("GOVCLOUD_DEVCLOUD_ROOT", "/var/lib/govcloud-devcloud"))  # as scripts/devcloud


def connect():
    try:
        conn = openstack.connect(cloud=CLOUD, api_timeout=60)
        conn.authorize()
        return conn
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"dev cloud '{CLOUD}' unreachable: {type(exc).__name__}: {exc}"
                    " - start it with `sudo scripts/devcloud up`", pytrace=False)


def govcloud(state: Path, *args: str, config: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI of this checkout (cwd first on sys.path), with its own store; `config`: another config repo."""
    env = {**os.environ, "GOVCLOUD_STATE_DIR": str(state)}
    env.pop("GOVCLOUD_CONFIG", None)
    if config is not None:
        env["GOVCLOUD_CONFIG"] = str(config)
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


def nova_server_usages(conn, project_id: str, instance_ids: set[str], start: datetime, end: datetime) -> list[dict]:
    """The os-simple-tenant-usage entries of these servers for one window (hours as Nova's float)."""
    out = []
    for usage in conn.compute.usages(start=start.replace(tzinfo=None), end=end.replace(tzinfo=None), detailed="1"):
        if usage.project_id != project_id:
            continue
        for s in usage.server_usages or ():
            su = s if isinstance(s, dict) else s.to_dict()
            if su["instance_id"] in instance_ids:
                out.append(su)
    return out


def nova_vcpu_hours(conn, project_id: str, instance_ids: set[str], start: datetime, end: datetime) -> Decimal:
    """vCPU-hours of these servers according to Nova's os-simple-tenant-usage, one query for the whole period."""
    return sum((Decimal(repr(su["hours"])) * su["vcpus"]
                for su in nova_server_usages(conn, project_id, instance_ids, start, end)), Decimal(0))


def nova_cell_sql(sql: str) -> str:
    """Run SQL in the dev cloud's Nova cell database (the [database] connection of its nova.conf)."""
    conf = configparser.ConfigParser(strict=False, interpolation=None)
    conf.read(DEVCLOUD_ROOT / "etc" / "nova" / "nova.conf")
    if not conf.has_option("database", "connection"):
        pytest.fail(f"no [database] connection in {DEVCLOUD_ROOT}/etc/nova/nova.conf: is the dev cloud set up?",
                    pytrace=False)
    url = urlsplit(conf.get("database", "connection"))
    client = shutil.which("mariadb") or shutil.which("mysql")
    assert client, "no mariadb client (scripts/devcloud installs mariadb-server, which brings it)"
    proc = subprocess.run([client, "-h", url.hostname, "-P", str(url.port or 3306), "-u", unquote(url.username),
                           "-N", "-B", url.path.lstrip("/"), "-e", sql], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "MYSQL_PWD": unquote(url.password or "")})
    assert proc.returncode == 0, f"{client} exited {proc.returncode}: {proc.stderr}"
    return proc.stdout


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


def day_start(d) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def test_a_price_change_in_the_middle_of_a_period_prices_each_part_at_its_own_rate(tmp_path, created):
    conn = connect()
    service, state = f"pricechange-e2e-{uuid.uuid4().hex[:6]}", tmp_path / "state"
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    planted = day_start(yesterday) + timedelta(hours=20)  # 4 h of yesterday, then all of today until deleted
    flavor = conn.compute.find_flavor(SITE["sizes"]["small"]["flavor"], ignore_missing=False)
    vcpus = SITE["sizes"]["small"]["vcpus"]
    image = conn.image.find_image(SITE["images"]["ubuntu-22.04"]["image"], ignore_missing=False)
    project = conn.identity.find_project(AGENCIES["moh"]["project"], domain_id="default", ignore_missing=False)
    pc = conn.connect_as(project_id=project.id)
    srv = pc.compute.create_server(
        name=f"moh-test-{service}-vm-1", flavor_id=flavor.id, image_id=image.id, networks="none",
        metadata={"govcloud:agency": "moh", "govcloud:service": service, "govcloud:environment": "test",
                  "govcloud:server": "vm", "govcloud:index": "1"})
    created.add(f"server {srv.id}", lambda: (pc.compute.delete_server(srv, ignore_missing=True),
                                             pc.compute.wait_for_delete(srv, wait=180)))
    srv = conn.compute.wait_for_server(srv, wait=180)

    # the server started yesterday at 20:00 UTC, as far as Nova knows; at the end (deleted) it gets its real
    # times back, so that other collections on the shared dev cloud see no planted usage
    this_row = f"uuid = '{uuid.UUID(srv.id)}'"
    real = nova_cell_sql(f"SELECT created_at, launched_at FROM instances WHERE {this_row} AND deleted = 0")
    real = [t.strip() for t in real.split("\t")]
    assert len(real) == 2, real
    when = planted.strftime("%Y-%m-%d %H:%M:%S")
    changed = nova_cell_sql(f"UPDATE instances SET launched_at = '{when}', created_at = '{when}' "
                            f"WHERE {this_row} AND deleted = 0; SELECT ROW_COUNT();")
    assert changed.split() == ["1"], changed

    def delete_and_unplant():
        pc.compute.delete_server(srv, ignore_missing=True)
        pc.compute.wait_for_delete(srv, wait=180)
        nova_cell_sql(f"UPDATE instances SET created_at = '{real[0]}', launched_at = '{real[1]}' WHERE {this_row}")
    created.add(f"planted start of server {srv.id}", delete_and_unplant)
    planted_usage = nova_server_usages(conn, project.id, {srv.id}, day_start(yesterday), day_start(today))
    assert [Decimal(repr(su["hours"])) for su in planted_usage] == [4], planted_usage

    # a config repo whose devcloud site changed its vCPU price from today on
    config = tmp_path / "config"
    shutil.copytree(REPO / "inventories", config / "inventories")
    (config / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\nbackend: null\n")
    site_file = config / "inventories" / "sites" / "devcloud.yaml"
    doc = yaml.safe_load(site_file.read_text())
    old_price = Decimal(doc["rateCard"]["vcpuHour"])
    new_price = Decimal(int(old_price * 3 / 2))
    old = {**doc["rateCard"], "version": "1", "validFrom": yesterday - timedelta(days=7)}
    doc["rateCardHistory"] = [old]
    doc["rateCard"] = {**old, "version": "2", "validFrom": today, "vcpuHour": int(new_price)}
    site_file.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    cards = {"1": (yesterday, old_price), "2": (today, new_price)}

    window = ("--from", yesterday.isoformat(), "--to", today.isoformat())
    first = json.loads(govcloud(state, "usage", "collect", "--site", "devcloud", *window, "--format", "json",
                                config=config).stdout)
    assert first["days"] == 2 and not first["failures"], first
    pc.compute.delete_server(srv)  # today's hours stop growing, the next collection sees the end
    pc.compute.wait_for_delete(srv, wait=180)
    govcloud(state, "usage", "collect", "--site", "devcloud", *window, config=config)

    # Nova's hours per day, quantized to a micro-hour as the store keeps them (docs/metering.md, Rating)
    nova, ram_gb_hours = {}, {}
    for day, _ in cards.values():
        (su,) = nova_server_usages(conn, project.id, {srv.id}, day_start(day), day_start(day + timedelta(days=1)))
        assert su["vcpus"] == vcpus
        h = Decimal(repr(su["hours"])).quantize(Decimal("0.000001"))
        nova[day] = h * vcpus
        ram_gb_hours[day] = h * su["memory_mb"] / 1024
    assert nova[yesterday] == 4 * vcpus
    assert 0 < nova[today] <= Decimal((datetime.now(UTC) - day_start(today)).total_seconds()) / 3600 * vcpus

    report = json.loads(govcloud(state, "usage", "report", *window, "--site", "devcloud", "--format", "json",
                                 config=config).stdout)
    mine = [l for l in report["lines"] if l["service"] == service]
    vcpu = {l["rateCard"]: l for l in mine if l["meter"] == "vcpu_hours"}
    assert set(vcpu) == set(cards), mine
    for version, (day, price) in cards.items():
        line = vcpu[version]
        assert Decimal(line["quantity"]) == nova[day], (version, line, nova)
        assert Decimal(line["unitPrice"]) == price, (version, line)
        # IRR: each line rounded once to whole rials, half up
        assert Decimal(line["amount"]) == (nova[day] * price).quantize(Decimal(1), ROUND_HALF_UP), (version, line)
        print(f"card {version} (validFrom {day}, vcpuHour {price}): {nova[day]} vCPU-h on {day} "
              f"-> {line['amount']} {line['currency']}")
    # RAM's price did not change, yet each day is still priced by (and named with) its own card
    ram = {l["rateCard"]: l for l in mine if l["meter"] == "ram_mb_hours"}
    assert set(ram) == set(cards), mine
    ram_price = Decimal(doc["rateCard"]["ramGbHour"])
    ram_amounts = {v: (ram_gb_hours[day] * ram_price).quantize(Decimal(1), ROUND_HALF_UP)
                   for v, (day, _) in cards.items()}
    assert {v: Decimal(l["amount"]) for v, l in ram.items()} == ram_amounts, (ram, ram_amounts)
    # the service: those four lines and nothing else priced (server_hours, disk_gb_hours are not)
    assert {l["meter"] for l in mine} == {"vcpu_hours", "ram_mb_hours"}, mine
    (row,) = [s for s in report["services"] if s["service"] == service]
    assert Decimal(row["amount"]) == sum(Decimal(vcpu[v]["amount"]) + ram_amounts[v] for v in cards)
    assert Decimal(report["total"]) == sum(Decimal(l["amount"]) for l in report["lines"])
    print(f"RAM ({ram_price}/GB-h both days): {ram_amounts['1']} + {ram_amounts['2']}; "
          f"service {service}: {row['amount']} {report['currency']}")

    # the FOCUS rows (one per resource, meter and day) name the card of their day and price exactly
    focus = tmp_path / "focus.csv"
    govcloud(state, "usage", "export", "--format", "focus", *window, "--agency", "moh", "--out", str(focus),
             config=config)
    rows = {r["ChargePeriodStart"]: r for r in csv.DictReader(focus.open(encoding="utf-8"))
            if r["ResourceId"] == srv.id and r["x_Meter"] == "vcpu_hours"}
    assert set(rows) == {f"{d.isoformat()}T00:00:00Z" for d, _ in cards.values()}, rows
    for version, (day, price) in cards.items():
        r = rows[f"{day.isoformat()}T00:00:00Z"]
        assert r["x_RateCardVersion"] == version and r["SkuPriceId"] == f"devcloud/vcpu_hours@{version}", r
        assert Decimal(r["ListUnitPrice"]) == price and Decimal(r["ConsumedQuantity"]) == nova[day], r
        assert Decimal(r["ListCost"]) == nova[day] * price, r
