"""scripts/toolchain/build.py: idempotent install, logged build steps, token mapping, the plugin's Go sources.

The script is imported by path (it is not part of the package). Nothing here
builds real Pulumi: builds are replaced by fakes, and the Go checks (gofmt,
`go mod edit -json` of the rendered go.mod) need no network.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from govcloud.engine import toolchain as tc
from govcloud.engine.toolchain import ToolchainError
from tests.unit.test_toolchain import V, _cached_plugin, env, fake_exe

__all__ = ["env"]  # a fixture, used by name

REPO = Path(__file__).resolve().parents[2]
BUILD_PY = REPO / "scripts" / "toolchain" / "build.py"
PLUGIN = REPO / "scripts" / "toolchain" / "plugin"


def _load_build():
    spec = importlib.util.spec_from_file_location("govcloud_toolchain_build", BUILD_PY)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


build = _load_build()


def _go_tool(name: str) -> str:
    """`go`/`gofmt`: on PATH, else /usr/local/go/bin. Go is installed on every machine here: missing fails."""
    found = shutil.which(name) or (f"/usr/local/go/bin/{name}" if os.access(f"/usr/local/go/bin/{name}", os.X_OK)
                                   else None)
    if not found:
        pytest.fail(f"{name} not found on PATH or in /usr/local/go/bin (Go is needed to build the toolchain)")
    return found


def test_the_script_uses_this_checkouts_package():
    assert build.tc is tc
    assert Path(tc.__file__).resolve().parent == REPO / "govcloud" / "engine"


# ---------------------------------------------------------------- versions


def test_cli_candidates_prefer_exact_then_oldest_newer_minor_last_patch():
    listed = ["v3.260.0", "v3.272.0", "v3.274.0", "v3.274.1", "v3.276.0", "v2.99.0", "v4.0.0"]
    assert build.cli_candidates("3.272.0", listed)[0] == "v3.272.0"
    served = [v for v in listed if v != "v3.272.0"]
    assert build.cli_candidates("3.272.0", served) == ["v3.272.0", "v3.274.1", "v3.274.0", "v3.276.0"]
    assert build.cli_candidates("3.272.0", []) == ["v3.272.0"]
    assert build.cli_candidates("3.272.0", ["v3.280.0-alpha.1", "junk", "v3.280.0"]) == ["v3.272.0", "v3.280.0"]


# ---------------------------------------------------------------- install


def test_install_with_everything_present_only_reuses_and_is_fast(env, monkeypatch):
    fake_exe(env / "userbin" / "pulumi", "v3.272.0")
    _cached_plugin()
    monkeypatch.setattr(tc, "pinned_versions", lambda: V)

    def no_build(*a, **k):
        raise AssertionError("install() built something although everything was present")

    monkeypatch.setattr(build, "_build_pulumi", no_build)
    monkeypatch.setattr(build, "_build_openstack", no_build)
    monkeypatch.setattr(build, "_install_plugin", no_build)
    said: list[str] = []
    t0 = time.monotonic()
    got = build.install(log=said.append)
    assert time.monotonic() - t0 < 1.0
    assert got.pulumi.source == tc.SOURCE_PATH and got.openstack.source == tc.SOURCE_PLUGIN_CACHE
    assert any("reusing" in s and "pulumi" in s for s in said)
    assert any("reusing" in s and "openstack" in s for s in said)


def test_install_installs_a_built_plugin_without_rebuilding(env, monkeypatch):
    fake_exe(env / "userbin" / "pulumi", "v3.272.0")
    built = fake_exe(tc.openstack_plugin_path("5.5.3"), "5.5.3")
    (built.parent.parent / tc.PROVENANCE).write_text(json.dumps({"recipe": build.PLUGIN_RECIPE}))
    monkeypatch.setattr(tc, "pinned_versions", lambda: V)
    monkeypatch.setattr(build, "_build_openstack", lambda *a, **k: pytest.fail("rebuilt"))
    installed = []

    def fake_install(pulumi, binary, version, base, log):
        installed.append((binary, version))
        _cached_plugin(version)

    monkeypatch.setattr(build, "_install_plugin", fake_install)
    got = build.install(log=lambda s: None)
    assert installed == [(built, "5.5.3")]
    assert got.openstack.source == tc.SOURCE_PLUGIN_CACHE


def test_install_rebuilds_a_plugin_of_an_older_recipe(env, monkeypatch):
    fake_exe(env / "userbin" / "pulumi", "v3.272.0")
    exe = _cached_plugin()
    (exe.parent / tc.PROVENANCE).write_text(json.dumps({"recipe": "something-older"}))
    monkeypatch.setattr(tc, "pinned_versions", lambda: V)
    calls = []
    monkeypatch.setattr(build, "_build_openstack", lambda v, base, log: calls.append("built") or tc.ToolInfo(
        tc.openstack_plugin_path("5.5.3"), "5.5.3", tc.SOURCE_BUILD_CACHE))

    def fake_install(pulumi, binary, version, base, log):
        (exe.parent / tc.PROVENANCE).write_text(json.dumps({"recipe": build.PLUGIN_RECIPE}))

    monkeypatch.setattr(build, "_install_plugin", fake_install)
    build.install(log=lambda s: None)
    assert calls == ["built"]


def test_the_recipe_of_existing_builds_is_unchanged():
    # plugins already built and installed on the machines record this recipe: another one rebuilds them
    assert build.PLUGIN_RECIPE == "bridge-v3.120.0+tf-openstack-v3.4.0+r1"


def test_failed_step_raises_toolchain_error_naming_the_log(env):
    b = build._Build("demo", env / "tc", log=lambda s: None)
    with pytest.raises(ToolchainError) as ei:
        b.run("the demo step", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"])
    b.close()
    msg = str(ei.value)
    assert "the demo step failed (exit 3)" in msg
    assert str(b.log_path) in msg and b.log_path.parent == env / "tc" / "logs"
    assert "boom" in b.log_path.read_text()


def test_main_reports_errors_without_traceback(monkeypatch, capsys):
    def broken(**k):
        raise ToolchainError("pulumi: go build failed (exit 1); log: /x/logs/pulumi.log")

    monkeypatch.setattr(build, "install", broken)
    assert build.main(["install"]) == 1
    err = capsys.readouterr().err
    assert "error: pulumi: go build failed" in err and "Traceback" not in err
    assert build.main(["frobnicate"]) == 2


def test_install_toolchain_script_reuses_what_is_there(env):
    """scripts/install-toolchain -> build.py install, in a world where both tools are present: nothing built."""
    versions = tc.pinned_versions()
    fake_exe(env / "userbin" / "pulumi", f"v{versions.pulumi}")
    _cached_plugin(versions.pulumi_openstack)
    cp = subprocess.run([str(REPO / "scripts" / "install-toolchain")], capture_output=True, text=True,
                        env=dict(os.environ, PYTHON=sys.executable), timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert f"pulumi {versions.pulumi}: reusing {env / 'userbin' / 'pulumi'} (user's PATH)" in cp.stdout
    assert f"openstack {versions.pulumi_openstack}: reusing" in cp.stdout and "toolchain ready in" in cp.stdout
    assert not (env / "tc" / "logs").exists()  # no build step ran


# ---------------------------------------------------------------- plugin token mapping


def test_derive_mapping_rules_aliases_and_overrides():
    tf = {
        "resources": {n: {"fields": []} for n in [
            "openstack_networking_network_v2", "openstack_db_instance_v1", "openstack_fw_policy_v2",
            "openstack_fw_policy_v1", "openstack_objectstorage_object_v1", "openstack_bgpvpn_v2",
            "openstack_brandnew_thing_v9",
        ]},
        "dataSources": {n: {"fields": []} for n in [
            "openstack_networking_network_v2", "openstack_fw_group_v2", "openstack_workflow_workflow_v2",
        ]},
    }
    sdk = {
        "resources": {t: {} for t in [
            "openstack:networking/network:Network", "openstack:database/instance:Instance",
            "openstack:firewall/policyV2:PolicyV2", "openstack:firewall/policy:Policy",
            "openstack:objectstorage/containerObject:ContainerObject", "openstack:bgpvpn/v2:V2",
            "openstack:index/bgpvpnV2:BgpvpnV2", "openstack:gone/old:Old",
        ]},
        "functions": [
            "openstack:networking/getNetwork:getNetwork", "openstack:firewall/getGroupV2:getGroupV2",
            "openstack:index/getFwGroupV2:getFwGroupV2", "openstack:index/workflowWorkflowV2:WorkflowWorkflowV2",
        ],
    }
    m, report = build.derive_mapping(tf, sdk)
    r = m["resources"]
    assert r["openstack_networking_network_v2"] == {"token": "openstack:networking/network:Network"}
    assert r["openstack_db_instance_v1"]["token"] == "openstack:database/instance:Instance"
    assert r["openstack_fw_policy_v2"]["token"] == "openstack:firewall/policyV2:PolicyV2"
    assert r["openstack_fw_policy_v1"]["token"] == "openstack:firewall/policy:Policy"
    assert r["openstack_objectstorage_object_v1"]["token"] == "openstack:objectstorage/containerObject:ContainerObject"
    assert r["openstack_bgpvpn_v2"] == {"token": "openstack:bgpvpn/v2:V2", "aliases": ["openstack:index/bgpvpnV2:BgpvpnV2"]}
    assert report["resources"]["terraform_without_sdk_token"] == ["openstack_brandnew_thing_v9"]
    assert report["resources"]["sdk_tokens_without_terraform"] == ["openstack:gone/old:Old"]
    d = m["dataSources"]
    assert d["openstack_networking_network_v2"]["token"] == "openstack:networking/getNetwork:getNetwork"
    assert d["openstack_fw_group_v2"] == {"token": "openstack:firewall/getGroupV2:getGroupV2",
                                          "aliases": ["openstack:index/getFwGroupV2:getFwGroupV2"]}
    assert d["openstack_workflow_workflow_v2"]["token"] == "openstack:index/workflowWorkflowV2:WorkflowWorkflowV2"
    assert m["configEnv"]["region"] == ["OS_REGION_NAME"]


def test_sdk_tokens_reads_resources_properties_and_functions(tmp_path):
    pkg = tmp_path / "pulumi_openstack" / "networking"
    pkg.mkdir(parents=True)
    (pkg / "network.py").write_text('''
import pulumi
from typing import Optional, Sequence, Mapping

class Network(pulumi.CustomResource):
    def __init__(__self__, resource_name, opts=None):
        super(Network, __self__).__init__('openstack:networking/network:Network', resource_name, {}, opts)

    @property
    @pulumi.getter(name="adminStateUp")
    def admin_state_up(self) -> pulumi.Output[Optional[bool]]: ...

    @property
    @pulumi.getter
    def segments(self) -> pulumi.Output[Sequence['outputs.NetworkSegment']]: ...

    @property
    @pulumi.getter(name="valueSpecs")
    def value_specs(self) -> pulumi.Output[Optional[Mapping[str, str]]]: ...

def get_network(name=None, opts=None):
    return pulumi.runtime.invoke('openstack:networking/getNetwork:getNetwork', {}, opts=opts)
''')
    got = build.sdk_tokens(tmp_path / "pulumi_openstack")
    assert got == {
        "resources": {"openstack:networking/network:Network":
                      {"adminStateUp": "one", "segments": "list", "valueSpecs": "map"}},
        "functions": ["openstack:networking/getNetwork:getNetwork"],
    }


def test_compare_schema_reports_names_and_shapes():
    sdk = {"resources": {"openstack:a/b:B": {"x": "one", "ys": "list", "onlySdk": "one"},
                         "openstack:a/c:C": {}}}
    schema = {"resources": {"openstack:a/b:B": {"properties": {
        "x": {"type": "string"}, "ys": {"$ref": "#/types/openstack:a/B:Y"}, "onlyPlugin": {"type": "string"}}}}}
    got = build.compare_schema(schema, sdk)
    assert got["openstack:a/c:C"] == {"missing_resource": True}
    assert got["openstack:a/b:B"] == {"sdk_only": ["onlySdk"], "plugin_only": ["onlyPlugin"],
                                      "shape": ["ys: SDK list, plugin one"]}


# ---------------------------------------------------------------- the plugin's Go sources


def test_plugin_main_go_is_gofmt_clean():
    cp = subprocess.run([_go_tool("gofmt"), "-l", str(PLUGIN / "main.go")], capture_output=True, text=True,
                        timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == "", f"not gofmt-clean (run gofmt -w): {cp.stdout}"


def test_plugin_module_is_written_from_the_files(tmp_path):
    src = tmp_path / "src"
    build.write_plugin_module(src)
    assert (src / "main.go").read_bytes() == (PLUGIN / "main.go").read_bytes()
    assert "//go:embed schema-embed.json" in (src / "main.go").read_text()
    for embedded in ("mapping.json", "schema-embed.json", "bridge-metadata.json"):
        json.loads((src / embedded).read_text())  # the first build embeds valid, empty files
    # the rendered go.mod as Go reads it: the module, both requirements, the replace the bridge needs
    cp = subprocess.run([_go_tool("go"), "mod", "edit", "-json"], cwd=src, capture_output=True, text=True,
                        timeout=60, env=dict(os.environ, GOFLAGS="", GOTOOLCHAIN="local"))
    assert cp.returncode == 0, cp.stderr
    mod = json.loads(cp.stdout)
    assert mod["Module"]["Path"] == "govcloud.local/pulumi-resource-openstack"
    assert {(r["Path"], r["Version"]) for r in mod["Require"]} == {
        (build.BRIDGE_MODULE, build.BRIDGE_VERSION), (build.TF_OPENSTACK_MODULE, build.TF_OPENSTACK_VERSION)}
    assert [(r["Old"]["Path"], r["New"]["Path"], r["New"]["Version"]) for r in mod["Replace"]] == [
        ("github.com/hashicorp/terraform-plugin-sdk/v2", "github.com/pulumi/terraform-plugin-sdk/v2",
         "v2.0.0-20250923233607-7f1981c8674a")]
