"""Onboarding an agency for real: the real Pulumi engine against the dev cloud, checked through openstacksdk.

A new agency `lab<random>` (project gov-lab-<random>: random, so that runs
never collide) in a temporary config repo is onboarded at devcloud; its
project and quotas are read back from Keystone, Nova, Neutron and Cinder; a
quota change in the registry then updates only that quota; offboarding
refuses without --allow-data-loss and deletes the project with it.

A missing dev cloud or toolchain is a FAILURE, never a skip
(`sudo scripts/devcloud up`, `scripts/install-toolchain`).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CLOUD = "devcloud"
AGENCY = """
  - id: {agency}
    name: {{fa: "آزمایشگاه ابر دولت", en: "Government Cloud Lab"}}
    project: {project}
    contact: lab@gov.example
    quotas: {{vcpus: 6, ramGb: 12, volumeGb: 100, floatingIps: 2, buckets: 3}}
    allowedSites: [devcloud]
"""
MANIFEST = """
apiVersion: govcloud/v1
kind: Service
metadata:
  name: lab-portal
  agency: {agency}
  environment: dev
  owner: lab@gov.example
  costCenter: LAB-1
  classification: internal
spec:
  site: devcloud
  network:
    cidr: 10.90.0.0/24
    ingress:
      - {{name: https, port: 443, protocol: tcp, from: 0.0.0.0/0}}
  servers:
    - name: web
      size: small
      image: ubuntu-22.04
      role: web
      publicIp: true
      volumes:
        - {{name: data, sizeGb: 3, type: standard}}
  buckets:
    - {{name: files, quotaGb: 1}}
"""


@pytest.fixture(scope="module")
def conn():
    """The dev cloud's admin connection, or the exception that prevented it (each test then fails, never skips)."""
    try:
        import openstack

        c = openstack.connect(cloud=CLOUD, api_timeout=60)
        c.authorize()
        return c
    except Exception as exc:  # noqa: BLE001 - reported by the test as a failure
        return exc


def ready(conn_or_exc):
    """The connection, after checking the toolchain too; pytest.fail (not skip) when either is missing."""
    from govcloud.engine import toolchain

    if isinstance(conn_or_exc, Exception):
        pytest.fail(f"dev cloud '{CLOUD}' unreachable: {type(conn_or_exc).__name__}: {conn_or_exc} - start it "
                    f"with `sudo scripts/devcloud up`", pytrace=False)
    try:
        pulumi, plugin = toolchain.find_pulumi(), toolchain.find_openstack_plugin()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"toolchain: {type(exc).__name__}: {exc}", pytrace=False)
    if pulumi is None or plugin is None:
        pytest.fail("the Pulumi toolchain is missing: run scripts/install-toolchain", pytrace=False)
    return conn_or_exc


@pytest.fixture
def lab(tmp_path, conn):
    """A config repo with a new agency lab<random> and one manifest of it; cleans the cloud after."""
    root = tmp_path / "config"
    shutil.copytree(REPO / "inventories", root / "inventories")
    (root / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n", encoding="utf-8")
    tag = secrets.token_hex(3)
    agency, project = f"lab{tag}", f"gov-lab-{tag}"
    registry = root / "inventories" / "agencies.yaml"
    registry.write_text(registry.read_text(encoding="utf-8").rstrip("\n") + "\n"
                        + AGENCY.format(agency=agency, project=project).lstrip("\n"), encoding="utf-8")
    (root / "manifests").mkdir()
    (root / "manifests" / "lab-portal.yaml").write_text(MANIFEST.format(agency=agency).lstrip(),
                                                                encoding="utf-8")
    env = dict(os.environ, GOVCLOUD_CONFIG=str(root), GOVCLOUD_PASSPHRASE="e2e-onboarding-" + secrets.token_hex(8),
               NO_COLOR="1")
    env.pop("GOVCLOUD_STATE_DIR", None)
    yield agency, root, project, env
    if isinstance(conn, Exception):
        return
    # whatever the test left (it failed half way): delete it directly
    p = conn.identity.find_project(project, ignore_missing=True)
    if p is not None:
        conn.identity.delete_project(p)
    g = conn.identity.find_group(f"{agency}-team", ignore_missing=True)
    if g is not None and project in (g.description or ""):
        conn.identity.delete_group(g)


def govcloud(env, *args, ok=True):
    proc = subprocess.run([sys.executable, "-m", "govcloud", *args], capture_output=True, text=True, env=env,
                          cwd=env["GOVCLOUD_CONFIG"], stdin=subprocess.DEVNULL, timeout=600)
    if ok:
        assert proc.returncode == 0, f"govcloud {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def quotas_of(conn, project_id):
    c = conn.compute.get_quota_set(project_id)
    n = conn.network.get_quota(project_id)
    v = conn.block_storage.get_quota_set(project_id)
    return {
        "compute": {"cores": c.cores, "ram": c.ram, "instances": c.instances, "server_groups": c.server_groups,
                    "server_group_members": c.server_group_members},
        "network": {"floatingip": n.floating_ips, "network": n.networks, "subnet": n.subnets, "router": n.routers,
                    "port": n.ports, "security_group": n.security_groups,
                    "security_group_rule": n.security_group_rules},
        "volume": {"gigabytes": v.gigabytes, "volumes": v.volumes, "snapshots": v.snapshots},
    }


def test_onboard_update_offboard(conn, lab):
    from govcloud.config import ConfigRepo
    from govcloud.engine.command import PulumiCli
    from govcloud.engine.stack import deployed_resources, locate
    from govcloud.load.inventory import Quotas
    from govcloud.tenancy import onboarding_plan, project_quotas
    from govcloud.check import Workspace

    conn = ready(conn)
    agency, root, project, env = lab
    assert conn.identity.find_project(project, ignore_missing=True) is None

    # -- onboard
    out = json.loads(govcloud(env, "agency", "onboard", agency, "--site", "devcloud", "--yes", "--format",
                              "json").stdout)
    (site,) = out["sites"]
    assert site["stack"] == f"govcloud-ministry/onboard-{agency}-devcloud"
    assert sorted((c["key"], c["op"]) for c in site["changes"]) == sorted(
        (k, "create") for k in ("project", "team-group", "team-member", "deployer-member", "compute-quota",
                                "network-quota", "volume-quota"))
    p = conn.identity.find_project(project)
    assert p.id == site["projectId"] and p.is_enabled
    assert "Government Cloud Lab" in p.description and "آزمایشگاه ابر دولت" in p.description
    assert sorted(p.tags) == [f"govcloud:agency={agency}", "govcloud:managed-by=govcloud-ministry",
                              "govcloud:site=devcloud"]

    # the registry's quotas, exactly: vcpus 6, ramGb 12, volumeGb 100, floatingIps 2 (+ the derived counts)
    registry = Quotas(vcpus=6, ram_gb=12, volume_gb=100, floating_ips=2, buckets=3)
    got = quotas_of(conn, p.id)
    assert got == project_quotas(registry)
    assert (got["compute"]["cores"], got["compute"]["ram"], got["network"]["floatingip"],
            got["volume"]["gigabytes"]) == (6, 12 * 1024, 2, 100)

    # the team group has `member` on the project, and so has the site's govcloud user (deploys scope to it)
    group = conn.identity.find_group(f"{agency}-team")
    member = conn.identity.find_role("member")
    assignments = list(conn.identity.role_assignments(scope_project_id=p.id))
    assert any((a.group or {}).get("id") == group.id and a.role["id"] == member.id for a in assignments)
    assert any((a.user or {}).get("id") == conn.current_user_id and a.role["id"] == member.id
               for a in assignments)
    scoped = conn.connect_as(project_id=p.id)
    assert scoped.current_project_id == p.id
    assert list(scoped.object_store.containers()) == []

    # the project is protected in the stack's state
    ws = Workspace(ConfigRepo(root))
    plan = onboarding_plan(ws.inventory.agency(agency), ws.inventory.site("devcloud"), admin_project="admin")
    cli = PulumiCli(locate(plan, ws.config), env["GOVCLOUD_PASSPHRASE"])
    state = {r["urn"].rsplit("::", 1)[-1]: r for r in deployed_resources(cli.export())}
    assert state["project"]["id"] == p.id and state["project"].get("protect") is True
    assert not any(r.get("protect") for k, r in state.items() if k != "project")

    # -- again, unchanged: nothing to do
    again = json.loads(govcloud(env, "agency", "onboard", agency, "--site", "devcloud", "--yes", "--format",
                                "json").stdout)
    assert again["sites"][0]["changes"] == [] and again["sites"][0]["projectId"] == p.id

    # -- a quota changes in the registry: only that quota changes, the project stays
    registry_file = root / "inventories" / "agencies.yaml"
    text = registry_file.read_text(encoding="utf-8")
    assert text.count("ramGb: 12,") == 1
    registry_file.write_text(text.replace("ramGb: 12,", "ramGb: 20,"), encoding="utf-8")
    upd = json.loads(govcloud(env, "agency", "onboard", agency, "--site", "devcloud", "--yes", "--format",
                              "json").stdout)
    changing = [(c["key"], c["op"], c["changed"]) for c in upd["sites"][0]["changes"] if c["op"] != "same"]
    assert changing == [("compute-quota", "update", ["ram"])]
    assert conn.identity.find_project(project).id == p.id  # not replaced
    want = project_quotas(Quotas(vcpus=6, ram_gb=20, volume_gb=100, floating_ips=2, buckets=3))
    assert quotas_of(conn, p.id) == want
    assert want["compute"]["ram"] == 20 * 1024 and want["network"] == got["network"] \
        and want["volume"] == got["volume"]

    # -- list: quota, what the manifests allocate, what the cloud reports
    listed = json.loads(govcloud(env, "agency", "list", "--site", "devcloud", "--live", "--format", "json").stdout)
    row = next(a for a in listed["agencies"] if a["id"] == agency)
    assert row["project"] == project and row["quotas"]["ramGb"] == 20
    (entry,) = row["sites"]
    alloc = {k: entry["allocated"][k] for k in ("vcpus", "ramGb", "volumeGb", "floatingIps", "buckets")}
    assert alloc == {"vcpus": 1, "ramGb": 1, "volumeGb": 3, "floatingIps": 1, "buckets": 1}  # 1 small, 3 GB, 1 IP
    live = entry["live"]
    assert live["projectId"] == p.id and live["error"] is None
    assert {k: live["inUse"][k] for k in ("vcpus", "ramGb", "volumeGb", "floatingIps", "buckets")} == \
           {"vcpus": 0, "ramGb": 0, "volumeGb": 0, "floatingIps": 0, "buckets": 0}
    assert {k: live["limits"][k] for k in ("vcpus", "ramGb", "volumeGb", "floatingIps")} == \
           {"vcpus": 6, "ramGb": 20, "volumeGb": 100, "floatingIps": 2}
    assert live["quotaDrift"] == {}

    # -- offboard: refused without --allow-data-loss, the project stays
    refused = govcloud(env, "agency", "offboard", agency, "--site", "devcloud", "--yes", ok=False)
    assert refused.returncode == 1 and "--allow-data-loss" in refused.stderr
    assert conn.identity.find_project(project, ignore_missing=True) is not None

    # -- offboard with it: project, group and assignments are gone
    done = govcloud(env, "agency", "offboard", agency, "--site", "devcloud", "--yes", "--allow-data-loss")
    assert "deleted 7 resources" in done.stdout
    assert conn.identity.find_project(project, ignore_missing=True) is None
    assert conn.identity.find_group(f"{agency}-team", ignore_missing=True) is None
    assert deployed_resources(cli.export()) == []


def test_adopt_a_project_that_exists_outside_govcloud(conn, lab):
    """The agency's project (and team group) were made by hand before govcloud: onboarding refuses to make a
    second one, and --adopt takes them over: same ids, the registry's description, tags and quotas."""
    conn = ready(conn)
    agency, _root, project, env = lab
    made = conn.identity.create_project(name=project, domain_id="default", description="made by hand")
    group = conn.identity.create_group(name=f"{agency}-team", domain_id="default",
                                       description=f"team of {project}, made by hand")

    refused = govcloud(env, "agency", "onboard", agency, "--site", "devcloud", "--yes", ok=False)
    assert refused.returncode == 1
    assert f"project '{project}' ({made.id})" in refused.stderr and "--adopt" in refused.stderr
    assert conn.identity.get_project(made.id).description == "made by hand"  # nothing changed

    out = govcloud(env, "agency", "onboard", agency, "--site", "devcloud", "--yes", "--adopt")
    assert f"adopting project '{project}' ({made.id})" in out.stdout
    p = conn.identity.find_project(project)
    assert p.id == made.id  # adopted, not replaced
    assert "Government Cloud Lab" in p.description
    assert f"govcloud:agency={agency}" in p.tags
    assert conn.identity.find_group(f"{agency}-team").id == group.id
    from govcloud.load.inventory import Quotas
    from govcloud.tenancy import project_quotas

    assert quotas_of(conn, p.id) == project_quotas(Quotas(vcpus=6, ram_gb=12, volume_gb=100, floating_ips=2,
                                                          buckets=3))
    again = json.loads(govcloud(env, "agency", "onboard", agency, "--site", "devcloud", "--yes", "--format",
                                "json").stdout)
    assert again["sites"][0]["changes"] == [] and again["sites"][0]["projectId"] == made.id

    done = govcloud(env, "agency", "offboard", agency, "--site", "devcloud", "--yes", "--allow-data-loss")
    assert "deleted 7 resources" in done.stdout
    assert conn.identity.find_project(project, ignore_missing=True) is None
