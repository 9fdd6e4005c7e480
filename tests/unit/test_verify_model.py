"""What verify expects of a stack (targets from plan, manifest, outputs and site), the site's ssh settings,
and the report in its three formats."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from govcloud.check import Workspace
from govcloud.config import ConfigRepo
from govcloud.errors import InputError
from govcloud.load.inventory import Site
from govcloud.load.validation import validate_model
from govcloud.verify.model import CheckResult, Diagnostics, Failure, HostResult, VerifyReport
from govcloud.verify.render import report_json, report_junit, report_text
from govcloud.verify.store import last_verify, save_report, stack_dir
from govcloud.verify.targets import server_targets

from tests.conftest import EXAMPLES

BASTION_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHtOReNwl7HPAz5EUR/6mRdACoNszPBcSS9tCUeot7CE"


def portal():
    ws = Workspace(ConfigRepo(None))
    checked = ws.check(EXAMPLES / "devcloud" / "citizen-portal.yaml")
    return checked, checked.compile()


def outputs_for(plan, public: bool = True, skip: str = "") -> dict:
    servers, volumes = {}, {}
    for i, r in enumerate(r for r in plan.resources if r.kind == "Instance"):
        if r.name.endswith(skip) and skip:
            continue
        servers[r.name] = {"key": r.key, "id": f"id-{i}", "fixedIp": f"10.80.0.{10 + i}",
                           "floatingIp": f"172.24.4.{20 + i}" if public else None}
    for i, r in enumerate(r for r in plan.resources if r.kind == "Volume"):
        volumes[r.name] = {"key": r.key, "id": f"vol-{i}", "server": r.inputs["metadata"]["govcloud:server"]}
    return {"servers": servers, "volumes": volumes}


def site_with(checked, **ssh) -> Site:
    data = checked.site.model_dump(by_alias=True)
    data["ssh"] = ssh
    return validate_model(Site, data, lambda *_a, **_k: None)


def test_targets_direct_for_public_servers_with_health_checks_and_volume_ids():
    checked, plan = portal()
    t = server_targets(checked.manifest, plan, outputs_for(plan), checked.site)
    assert [s.label for s in t.servers] == ["web-1", "web-2"] and t.missing == ()
    web1 = t.servers[0]
    assert web1.name == "moe-dev-citizen-portal-web-1" and web1.server_id == "id-0"
    assert (web1.host, web1.port, web1.route, web1.user) == ("172.24.4.20", 22, "direct", "ubuntu")
    assert web1.health.port == 443 and web1.health.command == "systemctl is-active nginx"
    assert [(v.name, v.size_gb, v.volume_id) for v in web1.volumes] == [("data", 1, "vol-0")]
    assert web1.known_as() == ["moe-dev-citizen-portal-web-1", "172.24.4.20", "10.80.0.10"]


def test_targets_without_public_ip_go_through_the_bastion_or_have_no_route():
    checked, plan = portal()
    out = outputs_for(plan, public=False, skip="web-2")
    t = server_targets(checked.manifest, plan, out, checked.site)
    assert t.missing == ("moe-dev-citizen-portal-web-2",)
    assert "no public IP" in t.servers[0].no_route and "ssh.bastion" in t.servers[0].no_route
    site = site_with(checked, user="ops", port=2222,
                     bastion={"host": "127.0.0.1", "port": 2200, "user": "jump", "hostKeys": [BASTION_KEY]})
    (web1,) = server_targets(checked.manifest, plan, out, site).servers
    assert (web1.host, web1.port, web1.user, web1.no_route) == ("10.80.0.10", 2222, "ops", "")
    assert web1.route == "via bastion jump@127.0.0.1:2200"
    override = site_with(checked, addressOverride={"host": "127.0.0.1", "port": 2022})
    (web1,) = server_targets(checked.manifest, plan, out, override, user="root").servers
    assert (web1.host, web1.port, web1.user, web1.route) == ("127.0.0.1", 2022, "root", "direct")


def test_site_ssh_settings_are_optional_and_checked():
    checked, _ = portal()
    assert checked.site.ssh.bastion is None and checked.site.ssh.port == 22
    with pytest.raises(InputError, match="loopback"):
        site_with(checked, addressOverride={"host": "10.0.0.5", "port": 22})
    with pytest.raises(InputError, match="hostKeys"):
        site_with(checked, bastion={"host": "b", "user": "u", "hostKeys": []})
    with pytest.raises(InputError, match="hostKeys"):
        site_with(checked, bastion={"host": "b", "user": "u", "hostKeys": ["not a key"]})


def report() -> VerifyReport:
    ok = HostResult("moe-dev-p-web-1", "web-1", "id-1", "127.0.0.1:2222", "direct",
                    (CheckResult("cloud-init", True, "done"), CheckResult("health-port", False, "port 443: refused")),
                    host_key="SHA256:abc (ED25519)", host_key_source="pinned")
    bad = HostResult("moe-dev-p-web-2", "web-2", "id-2", "127.0.0.1:2223", "direct",
                     failure=Failure.HOST_KEY_CHANGED, message="host key of server moe-dev-p-web-2 does not match",
                     diagnostics=Diagnostics("ACTIVE", "", "login: \x07bell <&>", ("n1",)))
    return VerifyReport("govcloud-moe/p-dev", "moe-dev-p", "p.yaml", "2026-11-28T10:00:00Z", 1.5, (ok, bad),
                        ("moe-dev-p-web-3 is in the plan but not in the stack outputs (deploy it first)",))


def test_report_json_round_trip_and_last_verify(tmp_path):
    r = report()
    assert not r.ok and r.failures() == {"check-failed": 1, "host-key-changed": 1}
    again = VerifyReport.from_json(json.loads(json.dumps(report_json([r])))["stacks"][0])
    assert again == r
    config = ConfigRepo(tmp_path)
    assert last_verify(config, r.stack) is None
    path = save_report(config, r)
    assert path == tmp_path / ".govcloud" / "verify" / "govcloud-moe" / "p-dev" / "last.json"
    assert last_verify(config, "govcloud-moe/p-dev") == r
    with pytest.raises(ValueError):
        stack_dir(config, "../etc")


def test_report_junit_counts_and_failure_classes():
    root = ET.fromstring(report_junit([report()]).split("\n", 1)[1])
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("5", "1", "2")
    cases = {(c.get("classname"), c.get("name")): c for c in suite.findall("testcase")}
    assert cases[("govcloud-moe/p-dev.moe-dev-p-web-1", "health-port")].find("failure").get("type") == "check-failed"
    err = cases[("govcloud-moe/p-dev.moe-dev-p-web-2", "ssh")].find("error")
    assert err.get("type") == "host-key-changed" and "bell <&>" in err.text and "\x07" not in err.text
    assert cases[("govcloud-moe/p-dev", "deployed")].find("error").get("type") == "not-deployed"


def test_report_text_names_every_failure_and_the_diagnostics():
    text = report_text([report()])
    assert "2 servers: 0 ok, 2 failed (check failed 1, host key changed 1)" in text
    assert "FAIL  health-port" in text and "FAILED host key changed" in text
    assert "Nova: status ACTIVE, no fault recorded" in text and "| login:" in text
    assert "note: moe-dev-p-web-3 is in the plan" in text
