"""The dev cloud (scripts/devcloud) is up and seeded from the inventories.

Needs a running dev cloud (`sudo scripts/devcloud up`) and its clouds.yaml entry
(written by `up`).  An unreachable cloud is a test FAILURE, never a skip: these
tests are how CI learns that the cloud the other e2e tests use is broken.
Run with the project's Python and the pip openstacksdk:

    .venv/bin/python -m pytest tests/e2e/test_devcloud.py
"""
from __future__ import annotations

import os
import pathlib
import subprocess

import openstack
import pytest
import yaml

pytestmark = pytest.mark.e2e

REPO = pathlib.Path(__file__).resolve().parents[2]
SITE = yaml.safe_load((REPO / "inventories" / "sites" / "devcloud.yaml").read_text())
AGENCIES = yaml.safe_load((REPO / "inventories" / "agencies.yaml").read_text())["agencies"]
CLOUD = SITE.get("cloud", "devcloud")
DEVCLOUD = REPO / "scripts" / "devcloud"

# catalog types the dev cloud must offer, and a path below each endpoint that
# answers 2xx/3xx (cinder's /v3/<project> root itself is a 404)
EXPECTED_TYPES = {"identity", "compute", "network", "image", "volumev3", "block-storage",
                  "placement", "object-store"}
PROBE_SUFFIX = {"volumev3": "/types", "block-storage": "/types"}


@pytest.fixture(scope="module")
def devcloud_conn():
    """A connection as the clouds.yaml admin entry, or the exception that prevented it."""
    try:
        conn = openstack.connect(cloud=CLOUD, api_timeout=60)
        conn.authorize()
        return conn
    except Exception as exc:  # reported by each test as a failure
        return exc


def connected(conn_or_exc):
    if isinstance(conn_or_exc, Exception):
        pytest.fail(f"dev cloud '{CLOUD}' unreachable: {type(conn_or_exc).__name__}: {conn_or_exc}"
                    " - start it with `sudo scripts/devcloud up`", pytrace=False)
    return conn_or_exc


def devcloud_agencies():
    return [a for a in AGENCIES if SITE["name"] in (a.get("allowedSites") or [])]


def test_status_exits_zero():
    r = subprocess.run([str(DEVCLOUD), "status"], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ))
    assert r.returncode == 0, f"scripts/devcloud status exited {r.returncode}:\n{r.stdout}{r.stderr}"


def test_every_catalog_service_answers(devcloud_conn):
    conn = connected(devcloud_conn)
    catalog = conn.session.auth.get_access(conn.session).service_catalog.catalog
    types = {svc["type"] for svc in catalog}
    assert EXPECTED_TYPES <= types, f"missing from the catalog: {EXPECTED_TYPES - types}"
    failures = []
    for svc in catalog:
        for ep in svc["endpoints"]:
            url = ep["url"].rstrip("/") + PROBE_SUFFIX.get(svc["type"], "")
            try:
                r = conn.session.get(url, raise_exc=False, timeout=30)
                if r.status_code >= 400:
                    failures.append(f"{svc['type']} {ep['interface']} {url}: HTTP {r.status_code}")
            except Exception as exc:
                failures.append(f"{svc['type']} {ep['interface']} {url}: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures)


def test_each_service_works_through_the_sdk(devcloud_conn):
    conn = connected(devcloud_conn)
    assert list(conn.identity.projects())
    assert list(conn.compute.flavors())
    assert list(conn.network.networks())
    assert list(conn.image.images())
    assert list(conn.block_storage.types())
    assert [rp.name for rp in conn.placement.resource_providers()], "no compute node in placement"
    conn.object_store.get_account_metadata()
    assert [s for s in conn.compute.services() if s.binary == "nova-compute" and s.state == "up"]
    assert [h for h in conn.compute.hypervisors()], "compute host not mapped to a cell"
    assert [a for a in conn.network.agents() if a.agent_type == "Linux bridge agent" and a.is_alive]
    vol = conn.block_storage.get("/os-services").json()["services"]
    assert [s for s in vol if s["binary"] == "cinder-volume" and s["state"] == "up"], vol


def test_flavors_match_inventory(devcloud_conn):
    conn = connected(devcloud_conn)
    flavors = {f.name: f for f in conn.compute.flavors(is_public=True)}
    for size, spec in SITE["sizes"].items():
        f = flavors.get(spec["flavor"])
        assert f is not None, f"flavor {spec['flavor']} (size {size}) missing"
        assert (f.vcpus, f.ram, f.disk) == (spec["vcpus"], spec["ramMb"], spec["diskGb"]), \
            f"flavor {f.name}: {(f.vcpus, f.ram, f.disk)} != inventory {spec}"


def test_images_match_inventory(devcloud_conn):
    conn = connected(devcloud_conn)
    for alias, spec in SITE["images"].items():
        imgs = [i for i in conn.image.images(name=spec["image"]) if i.status == "active"]
        assert len(imgs) == 1, f"image {spec['image']} (alias {alias}): {len(imgs)} active images"
        img = imgs[0]
        assert img.visibility == "public", img.visibility
        assert img.disk_format == "raw" and 0 < img.size <= 64 * 1024, (img.disk_format, img.size)


def test_volume_types_match_inventory(devcloud_conn):
    conn = connected(devcloud_conn)
    types = {t.name: t for t in conn.block_storage.types()}
    for key, spec in SITE["volumeTypes"].items():
        t = types.get(spec["name"])
        assert t is not None, f"volume type {spec['name']} missing"
        assert t.is_public
        want = "true" if spec.get("encrypted") else "false"
        assert (t.extra_specs or {}).get("govcloud:encrypted") == want, t.extra_specs


def test_external_network_matches_inventory(devcloud_conn):
    conn = connected(devcloud_conn)
    net = next(conn.network.networks(name=SITE["externalNetwork"]), None)
    assert net is not None, f"external network {SITE['externalNetwork']} missing"
    assert net.is_router_external and not net.is_shared
    assert net.provider_network_type == "flat" and net.provider_physical_network == "public"
    subnets = list(conn.network.subnets(network_id=net.id))
    assert subnets, "external network has no subnet"
    sub = subnets[0]
    assert not sub.is_dhcp_enabled
    pool = sub.allocation_pools[0]
    first, last = (int(pool[k].rsplit(".", 1)[1]) for k in ("start", "end"))
    assert last - first >= 100, f"allocation pool too small: {pool}"


def test_agency_projects_exist_with_admin_roles_and_quotas(devcloud_conn):
    conn = connected(devcloud_conn)
    agencies = devcloud_agencies()
    assert agencies, "no agency allows the devcloud site"
    admin = next(conn.identity.users(name="admin"))
    roles = {r.id: r.name for r in conn.identity.roles()}
    for a in agencies:
        proj = next(conn.identity.projects(name=a["project"]), None)
        assert proj is not None, f"project {a['project']} of agency {a['id']} missing"
        have = {roles.get(ra.role["id"]) for ra in conn.identity.role_assignments(
            scope_project_id=proj.id, user_id=admin.id)}
        assert {"admin", "member"} <= have, f"{a['project']}: admin has {have}"
        q = conn.compute.get(f"/os-quota-sets/{proj.id}").json()["quota_set"]
        assert q["instances"] >= 200 and q["cores"] >= 400, q


def test_demo_project_and_user(devcloud_conn):
    conn = connected(devcloud_conn)
    assert next(conn.identity.projects(name="demo"), None) is not None
    assert next(conn.identity.users(name="demo"), None) is not None
