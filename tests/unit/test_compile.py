"""The compiler: one plan entry per OpenStack resource, deterministic, labelled, safe user data."""
import json

import pytest
import yaml

from govcloud import __version__
from govcloud.config import ConfigRepo
from govcloud.check import Workspace
from govcloud.plan.model import Lookup, Ref

from ..conftest import EXAMPLES, VALID


def plan_of(write, text):
    return Workspace(ConfigRepo(None)).plan(write("m.yaml", text))


def test_resources_names_and_dependencies(write):
    plan = plan_of(write, VALID)
    res = plan.by_key()
    assert list(res) == [
        "network", "subnet", "router", "router-interface", "secgroup", "secgroup-egress-ipv4",
        "secgroup-egress-ipv6", "secgroup-ingress-https", "server-group-web",
        "port-web-1", "server-web-1", "volume-web-1-data", "attach-web-1-data", "floating-ip-web-1",
        "floating-ip-assoc-web-1",
        "port-web-2", "server-web-2", "volume-web-2-data", "attach-web-2-data", "floating-ip-web-2",
        "floating-ip-assoc-web-2", "bucket-documents"]
    assert res["server-web-2"].name == "moh-prod-patient-portal-web-2"
    assert res["subnet"].inputs["cidr"] == "10.42.0.0/24" and res["subnet"].inputs["network_id"] == Ref("network")
    assert res["router"].inputs["external_network_id"] == Lookup("network", "ext-gov")
    assert res["router-interface"].refs() == {"router", "subnet"}
    assert res["attach-web-2-data"].inputs == {"instance_id": Ref("server-web-2"),
                                               "volume_id": Ref("volume-web-2-data")}
    assert res["floating-ip-assoc-web-1"].inputs["port_id"] == Ref("port-web-1")
    assert res["floating-ip-assoc-web-1"].inputs["floating_ip"] == Ref("floating-ip-web-1", "address")
    assert res["server-web-1"].inputs["scheduler_hints"] == [{"group": Ref("server-group-web")}]
    assert res["server-group-web"].inputs["policies"] == "anti-affinity"
    assert res["server-web-1"].inputs["flavor_name"] == "g1.medium"
    assert res["server-web-1"].inputs["image_name"] == "Ubuntu 22.04 LTS (gov-hardened)"
    rule = res["secgroup-ingress-https"].inputs
    assert (rule["port_range_min"], rule["port_range_max"], rule["remote_ip_prefix"]) == (443, 443, "0.0.0.0/0")
    # every ref points at a resource of the plan
    for r in plan.resources:
        assert r.refs() <= set(res), r.key


def test_stateful_resources_are_exactly_volumes_and_buckets(write):
    plan = plan_of(write, VALID)
    assert {r.key for r in plan.stateful()} == {"volume-web-1-data", "volume-web-2-data", "bucket-documents"}


def test_tags_and_metadata_carry_the_service_labels(write):
    plan = plan_of(write, VALID)
    res = plan.by_key()
    expected = {"govcloud:agency": "moh", "govcloud:service": "patient-portal", "govcloud:environment": "prod",
                "govcloud:cost-center": "MOH-IT-042", "govcloud:classification": "internal",
                "govcloud:version": __version__}
    assert expected.items() <= dict(res["server-web-1"].inputs["metadata"]).items()
    assert expected.items() <= dict(res["volume-web-1-data"].inputs["metadata"]).items()
    assert "govcloud:agency=moh" in res["network"].inputs["tags"]
    assert res["bucket-documents"].inputs["metadata"]["govcloud-cost-center"] == "MOH-IT-042"
    assert res["bucket-documents"].inputs["metadata"]["Quota-Bytes"] == str(100 * 1024 ** 3)
    assert "container_read" not in res["bucket-documents"].inputs


def test_count_growth_keeps_existing_names(write):
    one = plan_of(write, VALID.replace("count: 2", "count: 1"))
    two = plan_of(write, VALID)
    names_one = {r.key: r.name for r in one.resources}
    names_two = {r.key: r.name for r in two.resources}
    assert names_one.items() <= names_two.items()  # growing adds, never renames
    assert set(names_two) - set(names_one) == {
        "port-web-2", "server-web-2", "volume-web-2-data", "attach-web-2-data",
        "floating-ip-web-2", "floating-ip-assoc-web-2"}
    # web-1 is the same server in both plans: its group (a scheduler hint, fixed at boot) exists with count 1
    assert one.get("server-web-1").inputs == two.get("server-web-1").inputs
    assert one.get("server-group-web").inputs == two.get("server-group-web").inputs


def test_volumes_grow_online(write):
    vol = plan_of(write, VALID).get("volume-web-1-data")
    assert vol.inputs["enable_online_resize"] is True and vol.stateful


def test_plan_is_deterministic_and_json(write):
    a = plan_of(write, VALID).dumps()
    b = plan_of(write, VALID).dumps()
    assert a == b
    data = json.loads(a)
    assert data["kind"] == "ResourcePlan" and data["service"]["stack"] == "patient-portal-prod"
    assert data["service"]["pulumiProject"] == "govcloud-moh"
    subnet = next(r for r in data["resources"] if r["key"] == "subnet")
    assert subnet["inputs"]["network_id"] == {"$ref": "network", "attr": "id"}


def test_user_data_is_rendered_per_server(write):
    plan = plan_of(write, VALID)
    ud = yaml.safe_load(plan.get("server-web-2").inputs["user_data"])
    assert plan.get("server-web-1").inputs["user_data"] == plan.get("server-web-2").inputs["user_data"]
    assert plan.get("server-web-2").inputs["metadata"]["govcloud:index"] == "2"
    info = json.loads(next(f for f in ud["write_files"] if f["path"] == "/etc/govcloud/service.json")["content"])
    assert info == {"agency": "moh", "service": "patient-portal", "environment": "prod",
                    "classification": "internal", "server": "web", "role": "web"}
    assert ["apt-get", "install", "-y", "nginx"] in ud["runcmd"]


def test_manifest_values_cannot_inject_template_code_or_yaml(write):
    hostile = '{{ 7*7 }}\\nruncmd: [[rm, -rf, /]]'
    text = VALID.replace("      role: web\n", "      role: database\n").replace(
        "      publicIp: true\n", "      publicIp: true\n      healthCheck: {command: \"" + hostile + "\"}\n")
    plan = plan_of(write, text)
    raw = plan.get("server-web-1").inputs["user_data"]
    assert "49" not in raw
    ud = yaml.safe_load(raw)
    assert ud["runcmd"] == [["systemctl", "enable", "--now", "chrony"], ["apt-get", "install", "-y", "postgresql"],
                            ["systemctl", "enable", "--now", "postgresql"]]


def test_templates_run_sandboxed_with_strict_undefined(tmp_path, write):
    from govcloud.errors import InputError

    def repo_with_web_template(name: str, text: str) -> ConfigRepo:
        root = tmp_path / name
        tpl = root / "templates" / "cloud-init"
        tpl.mkdir(parents=True)
        (root / "govcloud.yaml").write_text("kind: Config\n")
        (tpl / "web.yaml.j2").write_text(text)
        return ConfigRepo(root)

    typo = repo_with_web_template("typo", "#cloud-config\nhostname: {{ hostnme }}\n")
    with pytest.raises(InputError) as exc:
        Workspace(typo).plan(write("m.yaml", VALID))
    assert "'hostnme' is undefined" in exc.value.problems[0].message
    escape = repo_with_web_template("escape", "{{ ''.__class__.__mro__[1].__subclasses__() }}\n")
    with pytest.raises(InputError) as exc:
        Workspace(escape).plan(write("m.yaml", VALID))
    assert "unsafe" in exc.value.problems[0].message or "__class__" in exc.value.problems[0].message


def test_an_unknown_role_is_located_at_its_own_server_entry(write):
    """Every server entry renders its user data; a role with no template points at that entry's role line."""
    from govcloud.errors import InputError

    hr = (EXAMPLES / "mefa" / "hr-app.yaml").read_text()
    assert hr.count("role: ") == 2 and "role: database" in hr  # the second entry is the database
    with pytest.raises(InputError) as exc:
        plan_of(write, hr.replace("role: database", "role: databse"))
    (problem,) = exc.value.problems
    assert problem.path == "spec.servers[1].role"
    assert "no cloud-init template for role 'databse'" in problem.message and "'database'" in problem.hint
    lines = hr.splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "role: database" in text)
    assert (problem.location.line, problem.location.column) == (line, lines[line - 1].index("database") + 1)


def test_every_example_compiles():
    ws = Workspace(ConfigRepo(None))
    files = sorted(EXAMPLES.rglob("*.yaml"))
    assert len(files) >= 6
    agencies = set()
    for f in files:
        plan = ws.plan(f)
        agencies.add(plan.service.agency)
        assert len({r.key for r in plan.resources}) == len(plan.resources)
        assert all(r.name.startswith(plan.service.prefix + "-") for r in plan.resources)
    assert len(agencies) >= 5


def test_the_compilers_fast_factory_makes_the_same_frozen_resource():
    import dataclasses
    from decimal import Decimal
    from types import MappingProxyType

    from govcloud.plan.model import PlannedResource, planned_resource

    args = ("vol-db-1", "openstack:blockstorage/volume:Volume", "moh-pp-db-1-vol",
            MappingProxyType({"size": 20}), "spec.servers[1].volumes[0]", True, ("instance-db-1",),
            MappingProxyType({"volume_gb": Decimal(20)}))
    fast, slow = planned_resource(*args), PlannedResource(*args)
    assert fast == slow and fast.to_json() == slow.to_json()
    # every field is set, in the dataclass's order (a field added to PlannedResource must be added here)
    assert [getattr(fast, f.name) for f in dataclasses.fields(PlannedResource)] == [*args, None]
    assert fast.import_id is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.name = "renamed"
