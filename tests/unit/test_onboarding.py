"""Onboarding, offline: the ministry's plan for an agency, its quotas, and what manifests allocate."""
from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from govcloud.cli import cli
from govcloud.config import ConfigRepo
from govcloud.plan.model import ResourcePlan
from govcloud.load.inventory import Inventory, Quotas
from govcloud.tenancy import BUCKETS_NOTE, Allocation, LiveStatus, OnboardingError, allocations, bind_lookups, default_manifest_dirs, live_status, lookups, onboarding_plan, project_quotas
from govcloud.check import Workspace
from govcloud.plan.model import Lookup, Ref

from ..conftest import EXAMPLES, REPO, VALID

CHECKOUT = ConfigRepo(REPO)


@pytest.fixture(scope="module")
def inventory():
    return Inventory(CHECKOUT)


def plan_of(inventory, agency="moh", site="devcloud", **kw):
    kw.setdefault("admin_project", "admin")
    kw.setdefault("deployer", "admin")
    return onboarding_plan(inventory.agency(agency), inventory.site(site), **kw)


# ---------------------------------------------------------------- quotas


def test_quotas_from_the_registry_by_hand():
    q = Quotas(vcpus=40, ram_gb=160, volume_gb=3000, floating_ips=5, buckets=7)
    # 40 vCPUs -> 40 instances, max(10, 40 // 2) = 20 services
    assert project_quotas(q) == {
        "compute": {"cores": 40, "ram": 160 * 1024, "instances": 40, "server_groups": 40,
                    "server_group_members": 40},
        "network": {"floatingip": 5, "network": 20, "subnet": 20, "router": 20, "port": 40 + 60,
                    "security_group": 21, "security_group_rule": 420},
        "volume": {"gigabytes": 3000, "volumes": 160, "snapshots": 160},
    }


def test_small_and_empty_quotas_keep_floors():
    q = Quotas(vcpus=0, ram_gb=0, volume_gb=0, floating_ips=0, buckets=0)
    got = project_quotas(q)
    assert got["compute"] == {"cores": 0, "ram": 0, "instances": 0, "server_groups": 0, "server_group_members": 0}
    assert got["network"]["floatingip"] == 0 and got["network"]["network"] == 10
    assert got["network"]["port"] == 30
    assert got["volume"] == {"gigabytes": 0, "volumes": 10, "snapshots": 10}
    big = project_quotas(Quotas(vcpus=200, ram_gb=1, volume_gb=1, floating_ips=1, buckets=0))
    assert big["compute"]["server_group_members"] == 50  # the largest count a manifest may ask for


# ---------------------------------------------------------------- the plan


def test_plan_resources_and_stack(inventory):
    plan = plan_of(inventory, "moh")
    s = plan.service
    assert (s.pulumi_project, s.stack) == ("govcloud-ministry", "onboard-moh-devcloud")
    assert (s.cloud, s.region, s.site) == ("devcloud", "RegionOne", "devcloud")
    assert s.project == "admin"  # the provider's scope: the admin's project, never gov-moh
    assert [(r.key, r.kind, r.name) for r in plan.resources] == [
        ("project", "Project", "gov-moh"),
        ("team-group", "GroupV3", "moh-team"),
        ("team-member", "RoleAssignment", "moh-team-member"),
        ("deployer-member", "RoleAssignment", "admin-member"),
        ("compute-quota", "QuotaSetV2", "gov-moh-compute"),
        ("network-quota", "QuotaV2", "gov-moh-network"),
        ("volume-quota", "QuoteSetV3", "gov-moh-volume"),
    ]
    assert [r.key for r in plan.stateful()] == ["project"]
    by = plan.by_key()
    for key in ("compute-quota", "network-quota", "volume-quota"):
        assert by[key].inputs["project_id"] == Ref("project")
        assert by[key].refs() == {"project"}
    assert by["compute-quota"].inputs["cores"] == 96 and by["compute-quota"].inputs["ram"] == 384 * 1024
    assert by["network-quota"].inputs["floatingip"] == 8
    assert by["volume-quota"].inputs["gigabytes"] == 8192
    assert by["team-member"].inputs == {"group_id": Ref("team-group"), "project_id": Ref("project"),
                                        "role_id": Lookup("role", "member")}
    assert by["deployer-member"].inputs["user_id"] == Lookup("user", "admin")
    p = by["project"].inputs
    assert "Ministry of Health and Medical Education" in p["description"]
    assert "وزارت بهداشت، درمان و آموزش پزشکی" in p["description"]
    assert p["tags"] == ["govcloud:agency=moh", "govcloud:managed-by=govcloud-ministry", "govcloud:site=devcloud"]
    assert all("," not in t and "/" not in t and len(t) <= 255 for t in p["tags"])  # Keystone's tag rules
    assert lookups(plan) == {("role", "member"), ("user", "admin")}


def test_plan_is_plain_data_and_round_trips(inventory):
    """What the engine's worker receives: JSON, back to the same plan."""
    plan = plan_of(inventory, "sci", "ist1")
    text = plan.dumps()
    back = ResourcePlan.from_json(json.loads(text))
    assert back.service == plan.service
    assert [(r.key, r.type, r.name, dict(r.inputs), r.stateful) for r in back.resources] == \
           [(r.key, r.type, r.name, dict(r.inputs), r.stateful) for r in plan.resources]


def test_plan_without_deployer(inventory):
    plan = plan_of(inventory, deployer=None)
    assert "deployer-member" not in plan.by_key()


def test_plan_refuses_sites_not_allowed_and_the_reserved_id(inventory):
    with pytest.raises(OnboardingError, match="may not use site 'ist1'"):
        plan_of(inventory, "moh", "ist1")
    ministry = inventory.agency("moh").model_copy(update={"id": "ministry"})
    with pytest.raises(OnboardingError, match="reserved"):
        onboarding_plan(ministry, inventory.site("devcloud"), admin_project="admin")


def test_quota_change_touches_only_the_quota_entry(inventory):
    a = inventory.agency("mefa")
    b = a.model_copy(update={"quotas": a.quotas.model_copy(update={"vcpus": 70})})
    site = inventory.site("devcloud")
    p1 = onboarding_plan(a, site, admin_project="admin").by_key()
    p2 = onboarding_plan(b, site, admin_project="admin").by_key()
    changed = {k for k in p1 if dict(p1[k].inputs) != dict(p2[k].inputs)}
    # vcpus drive cores and instances, and the derived service ceiling (network, volume counts)
    assert "project" not in changed and "team-group" not in changed
    assert changed <= {"compute-quota", "network-quota", "volume-quota"}
    assert p2["compute-quota"].inputs["cores"] == 70


def test_bind_lookups_resolves_keystone_names_once(inventory):
    calls = []

    def resolve(kind, name):
        calls.append((kind, name))
        return f"{kind}-{name}-id"

    plan = plan_of(inventory)
    bound = bind_lookups(plan, resolve)
    assert sorted(calls) == [("role", "member"), ("user", "admin")]  # the role twice in the plan, asked once
    assert lookups(bound) == set()
    assert bound.get("team-member").inputs["role_id"] == "role-member-id"
    assert bound.get("deployer-member").inputs["user_id"] == "user-admin-id"
    assert bound.get("team-member").inputs["group_id"] == Ref("team-group")
    assert bound.service == plan.service


# ---------------------------------------------------------------- allocation


# examples/, summed by hand from the sites' sizes (vCPUs, RAM MB) and the blueprints the manifests extend:
#   moh  thr1: health-records-db 2 x xlarge (8, 32768) + 2 x (500 + 100) GB
#              patient-portal (web-app) 2 x medium (2, 4096) + 2 x 50 GB, 2 public IPs, 1 bucket
#   mefa thr1: hr-app 2 x medium (2, 4096) + 2 x 40 GB, 1 x large (4, 8192) + 200 GB
#   sci  thr1: open-data 2 x medium (2, 4096), public IPs (blueprint), 2 buckets
#   intax isf1: assessment-batch (batch) 6 x large at isf1 (4, 16384) + 6 x 80 GB, 1 bucket
#   moe  devcloud: citizen-portal 2 x small at devcloud (1, 1024) + 2 x 1 GB, 2 public IPs, 1 bucket
BY_HAND = {
    ("moh", "thr1"): (16 + 4, 64 + 8, 1200 + 100, 2, 1, 2),
    ("mefa", "thr1"): (4 + 4, 8 + 8, 80 + 200, 0, 0, 1),
    ("sci", "thr1"): (4, 8, 0, 2, 2, 1),
    ("intax", "isf1"): (24, 96, 480, 0, 1, 1),
    ("moe", "devcloud"): (2, 2, 2, 2, 1, 1),
}


def test_allocations_of_the_examples_by_hand():
    report = allocations(Workspace(CHECKOUT), [EXAMPLES])
    assert report.skipped == ()
    got = {k: (a.vcpus, a.ram_gb, a.volume_gb, a.floating_ips, a.buckets, len(a.services))
           for k, a in report.allocations.items()}
    assert got == {k: tuple(Decimal(x) for x in v[:5]) + (v[5],) for k, v in BY_HAND.items()}
    assert report.get("moh", "isf1") == Allocation("moh", "isf1")
    assert report.get("moh", "thr1").to_json() == {
        "vcpus": 20, "ramGb": 72, "volumeGb": 1300, "floatingIps": 2, "buckets": 1,
        "services": [str(EXAMPLES / "moh" / "health-records-db.yaml"), str(EXAMPLES / "moh" / "patient-portal.yaml")]}


def test_allocations_skip_manifests_that_do_not_compile(write, tmp_path):
    write("m/good.yaml", VALID)
    write("m/bad.yaml", VALID.replace("agency: moh", "agency: nobody"))
    report = allocations(Workspace(CHECKOUT), [tmp_path / "m"])
    assert [f.rsplit("/", 1)[-1] for f, _ in report.skipped] == ["bad.yaml"]
    assert "unknown agency 'nobody'" in report.skipped[0][1]
    a = report.get("moh", "thr1")  # VALID: 2 x medium at thr1, 2 x 50 GB, 2 public IPs, 1 bucket
    assert (a.vcpus, a.ram_gb, a.volume_gb, a.floating_ips, a.buckets) == (4, 8, 100, 2, 1)


def test_default_manifest_dirs(tmp_path):
    assert default_manifest_dirs(CHECKOUT) == [REPO / "examples"]
    (tmp_path / "manifests").mkdir()
    (tmp_path / "examples").mkdir()
    assert default_manifest_dirs(ConfigRepo(tmp_path)) == [tmp_path / "manifests"]
    assert default_manifest_dirs(ConfigRepo(None)) == []


# ---------------------------------------------------------------- live (fake openstacksdk connection)


class _Proxy(SimpleNamespace):
    pass


def fake_conn(project_id="p-1", fail_swift=False):
    def containers():
        if fail_swift:
            raise PermissionError("403")
        return iter([object(), object()])

    scoped = SimpleNamespace(object_store=_Proxy(containers=containers))
    return SimpleNamespace(
        identity=_Proxy(find_project=lambda name, ignore_missing=True:
                        SimpleNamespace(id=project_id) if project_id else None),
        compute=_Proxy(get_quota_set=lambda pid, usage=False: SimpleNamespace(
            cores=6, ram=12288, instances=6, usage={"cores": 3, "ram": 3072, "instances": 2})),
        network=_Proxy(get_quota=lambda pid, details=False: SimpleNamespace(
            floating_ips={"limit": 2, "used": 1}, networks={"limit": 10, "used": 1},
            routers={"limit": 10, "used": 1}, ports={"limit": 36, "used": 4})),
        block_storage=_Proxy(get_quota_set=lambda pid, usage=False: SimpleNamespace(
            gigabytes=100, volumes=24, usage={"gigabytes": 20, "volumes": 2})),
        connect_as=lambda project_id: scoped,
    )


def test_live_status_maps_the_apis_to_registry_terms(inventory):
    moh, site = inventory.agency("moh"), inventory.site("devcloud")
    st = live_status(moh, site, fake_conn())
    assert st.error is None and st.project_id == "p-1"
    assert {k: st.in_use[k] for k in ("vcpus", "ramGb", "volumeGb", "floatingIps", "buckets")} == \
           {"vcpus": 3, "ramGb": 3, "volumeGb": 20, "floatingIps": 1, "buckets": 2}
    assert {k: st.limits[k] for k in ("vcpus", "ramGb", "volumeGb", "floatingIps")} == \
           {"vcpus": 6, "ramGb": 12, "volumeGb": 100, "floatingIps": 2}
    # moh's registry quotas are 96 / 384 / 8192 / 8: everything differs
    assert st.drift(moh.quotas) == {"vcpus": (96, 6), "ramGb": (384, 12), "volumeGb": (8192, 100),
                                    "floatingIps": (8, 2)}
    assert live_status(moh, site, fake_conn(project_id=None)).project_id is None
    nobuckets = live_status(moh, site, fake_conn(fail_swift=True))
    assert nobuckets.in_use["buckets"] is None and "buckets" in nobuckets.notes[0]
    assert LiveStatus("devcloud", "p", limits={"vcpus": 96, "ramGb": 384, "volumeGb": 8192,
                                               "floatingIps": 8}).drift(moh.quotas) == {}


# ---------------------------------------------------------------- CLI (offline parts)


def run(*args, **kw):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kw)


@pytest.fixture
def checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("GOVCLOUD_CONFIG", raising=False)
    monkeypatch.chdir(REPO)
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  devcloud:\n    auth: {auth_url: 'http://127.0.0.1:9/v3', username: ministry-ops,"
                      " password: x, project_name: ops, user_domain_name: Default, project_domain_name: Default}\n"
                      "    region_name: RegionOne\n", encoding="utf-8")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    for var in ("OS_CLOUD", "OS_AUTH_URL"):
        monkeypatch.delenv(var, raising=False)


def test_cli_list_json(checkout):
    result = run("agency", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by = {a["id"]: a for a in data["agencies"]}
    assert set(by) == {"moh", "mefa", "moe", "sci", "intax", "sabt", "mcth"}
    moh = by["moh"]
    assert moh["name"] == {"fa": "وزارت بهداشت، درمان و آموزش پزشکی", "en": "Ministry of Health and Medical Education"}
    assert moh["project"] == "gov-moh" and moh["allowedSites"] == ["thr1", "isf1", "devcloud"]
    assert moh["quotas"] == {"vcpus": 96, "ramGb": 384, "volumeGb": 8192, "floatingIps": 8, "buckets": 20}
    sites = {s["site"]: s["allocated"] for s in moh["sites"]}
    assert {k: sites["thr1"][k] for k in ("vcpus", "ramGb", "volumeGb", "floatingIps", "buckets")} == \
           {"vcpus": 20, "ramGb": 72, "volumeGb": 1300, "floatingIps": 2, "buckets": 1}
    assert sites["isf1"]["vcpus"] == 0
    assert data["notes"] == [BUCKETS_NOTE]


def test_cli_list_one_site_text(checkout):
    result = run("agency", "list", "--site", "isf1")
    assert result.exit_code == 0, result.output
    assert "intax  Iranian National Tax Administration" in result.stdout
    assert "moe " not in result.stdout  # not allowed at isf1
    line = next(ln for ln in result.stdout.splitlines() if ln.strip().startswith("isf1") and "24/128" in ln)
    assert "96/512" in line and "480/8192" in line and "1 service" in line


def test_cli_onboard_plan_offline(checkout):
    result = run("agency", "onboard", "sabt", "--site", "devcloud", "--plan", "--format", "json")
    assert result.exit_code == 0, result.output
    (plan,) = json.loads(result.stdout)["plans"]
    assert plan["service"]["pulumiProject"] == "govcloud-ministry"
    assert plan["service"]["stack"] == "onboard-sabt-devcloud"
    assert plan["service"]["project"] == "ops"  # the clouds.yaml entry's own project
    by = {r["key"]: r for r in plan["resources"]}
    assert by["deployer-member"]["inputs"]["user_id"] == {"$lookup": "user", "name": "ministry-ops"}
    assert by["compute-quota"]["inputs"]["cores"] == 32
    assert by["project"]["stateful"] is True
    text = run("agency", "onboard", "sabt", "--plan")
    assert text.exit_code == 0 and "govcloud-ministry/onboard-sabt-devcloud" in text.stdout
    assert "govcloud-ministry/onboard-sabt-thr1" in text.stdout  # every allowed site by default


def test_cli_refuses_unknown_agency_and_site(checkout):
    bad = run("agency", "onboard", "mho", "--plan")
    assert bad.exit_code == 1 and "unknown agency 'mho'" in bad.stderr and "did you mean 'moh'" in bad.stderr
    bad = run("agency", "onboard", "moh", "--site", "ist1", "--plan")
    assert bad.exit_code == 1 and "not among the agency's allowed sites" in bad.stderr
    bad = run("agency", "list", "--site", "thr9")
    assert bad.exit_code == 1 and "unknown site 'thr9'" in bad.stderr


def test_cli_offboard_needs_a_site(checkout):
    result = run("agency", "offboard", "moh")
    assert result.exit_code == 2


def test_cli_agency_module_stays_light():
    code = ("import sys, govcloud.cli.agency; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pulumi', 'pulumi_openstack', 'openstack', 'pydantic', 'rich', 'yaml', 'grpc')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
