"""The real toolchain: the built (or user's) `pulumi` and the OpenStack plugin in Pulumi's plugin cache.

These FAIL (never skip) when the toolchain is missing: run scripts/install-toolchain.
They need no cloud: the Automation API check points the provider at a closed
port on 127.0.0.1 and expects a connection error, not a plugin download.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from govcloud.engine import toolchain as tc

pytestmark = pytest.mark.e2e

HINT = "the Pulumi toolchain is missing: run scripts/install-toolchain"


@pytest.fixture(scope="module")
def versions():
    return tc.pinned_versions()


@pytest.fixture(scope="module")
def pulumi(versions):
    return tc.find_pulumi(versions)  # None fails each test below (not an error of the fixture)


@pytest.fixture(scope="module")
def engine_env():
    return dict(os.environ, **tc.engine_env())


def test_pulumi_version_matches_the_sdk(pulumi, versions, engine_env):
    assert pulumi is not None, HINT
    out = subprocess.run([str(pulumi.path), "version"], env=engine_env, capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip()
    assert out == f"v{pulumi.version}"
    # The CLI is built at the SDK's version; where the Go module proxy does not serve that
    # release, at the oldest newer release of the same major (docs/toolchain.md).
    assert tc.version_key(out).major == tc.version_key(versions.pulumi).major
    assert tc.version_key(out) >= tc.version_key(versions.pulumi), f"CLI {out} is older than the SDK {versions.pulumi}"
    if pulumi.source == tc.SOURCE_BUILD_CACHE:
        prov = json.loads((pulumi.path.parent.parent / "govcloud-build.json").read_text())
        assert prov["for_sdk"] == versions.pulumi and prov["version"] == out


def test_plugin_ls_lists_openstack_at_the_pinned_version(pulumi, versions, engine_env):
    assert pulumi is not None, HINT
    out = subprocess.run([str(pulumi.path), "plugin", "ls", "--json"], env=engine_env, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    plugins = {(p["name"], p["kind"], p["version"]) for p in json.loads(out or "[]")}
    assert ("openstack", "resource", versions.pulumi_openstack) in plugins, (plugins, HINT)
    plain = subprocess.run([str(pulumi.path), "plugin", "ls"], env=engine_env, capture_output=True,
                           text=True, timeout=60, check=True).stdout
    assert any(line.split()[:3] == ["openstack", "resource", versions.pulumi_openstack]
               for line in plain.splitlines()), plain


def test_openstack_plugin_reports_its_version(versions):
    info = tc.find_openstack_plugin(versions)
    assert info is not None and info.source in (tc.SOURCE_PLUGIN_CACHE, tc.SOURCE_PATH), HINT
    out = subprocess.run([str(info.path), "-version"], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip().lstrip("v") == versions.pulumi_openstack


PROOF = textwrap.dedent('''
    import json, os, sys
    import pulumi
    import pulumi_openstack as openstack
    from pulumi import automation as auto

    state, pulumi_root = sys.argv[1], sys.argv[2]
    ws = auto.LocalWorkspaceOptions(
        env_vars={"PULUMI_CONFIG_PASSPHRASE": "e2e-only"},
        pulumi_command=auto.PulumiCommand(root=pulumi_root),
        project_settings=auto.ProjectSettings(name="tcproof", runtime="python",
                                              backend=auto.ProjectBackend(url="file://" + state)))
    result = {}

    def empty():
        pulumi.export("hello", "world")

    s = auto.create_or_select_stack(stack_name="empty", project_name="tcproof", program=empty, opts=ws)
    up = s.up()
    result["empty_up"] = [up.summary.result, up.outputs["hello"].value]

    def net():
        prov = openstack.Provider("os", auth_url="http://127.0.0.1:9/v3", user_name="nobody",
                                  password="x", tenant_name="nowhere", region="RegionOne")
        openstack.networking.Network("n1", name="n1", opts=pulumi.ResourceOptions(provider=prov))

    s2 = auto.create_or_select_stack(stack_name="net", project_name="tcproof", program=net, opts=ws)
    pv = s2.preview()
    result["preview"] = pv.change_summary
    try:
        s2.up()
        result["up_error"] = None
    except auto.errors.CommandError as e:
        result["up_error"] = str(e)
    print("RESULT " + json.dumps(result, default=str))
''')


def test_automation_api_runs_the_cli_and_loads_the_plugin_without_download(pulumi, tmp_path, engine_env):
    assert pulumi is not None, HINT
    state = tmp_path / "state"
    state.mkdir()
    env = dict(engine_env, PULUMI_HOME=engine_env.get("PULUMI_HOME", str(Path.home() / ".pulumi")))
    cp = subprocess.run([sys.executable, "-c", PROOF, str(state), str(pulumi.path.parent.parent)],
                        env=env, capture_output=True, text=True, timeout=600)
    line = next((l for l in cp.stdout.splitlines() if l.startswith("RESULT ")), None)
    assert line, f"exit {cp.returncode}\n{cp.stdout[-3000:]}\n{cp.stderr[-3000:]}"
    result = json.loads(line[len("RESULT "):])
    assert result["empty_up"] == ["succeeded", "world"]
    assert result["preview"] == {"create": 3}  # stack, provider, network: the plugin answered Check/Diff
    err = result["up_error"]
    assert err, "up against a closed port cannot succeed"
    assert "127.0.0.1:9" in err and "connection refused" in err, err[-2000:]
    for word in ("plugin acquisition", "could not find plugin", "no resource plugin", "downloading",
                 "failed to download"):
        assert word not in err.lower(), err[-2000:]


def test_a_tag_govcloud_writes_beside_the_checkpoint_is_the_one_the_cli_reads(pulumi, tmp_path):
    # set_tag rewrites a file:// backend's tags file itself (no CLI run); the CLI must read and keep it
    assert pulumi is not None, HINT
    from govcloud.engine.command import PulumiCli
    from govcloud.engine.stack import StackLocation

    (tmp_path / "state").mkdir()
    loc = StackLocation("govcloud-tags", "portal-dev", f"file://{tmp_path / 'state'}", str(tmp_path))
    cli = PulumiCli(loc, "a passphrase of this test")
    cli.run("stack", "init")
    runs = []
    cli_run = cli.run
    cli.run = lambda *args, **kw: runs.append(args) or cli_run(*args, **kw)
    if not cli._tags_file().exists():
        cli.set_tag("govcloud:first", "1")  # no tags file yet: the CLI makes it
        assert runs == [("stack", "tag", "set", "govcloud:first", "1")]
    else:
        cli_run("stack", "tag", "set", "govcloud:first", "1")
    runs.clear()
    head = "7:" + "ab" * 32
    cli.set_tag("govcloud:audit-head", head)
    assert runs == []  # written directly
    listed = json.loads(cli_run("stack", "tag", "ls", "--json"))
    assert listed["govcloud:audit-head"] == head and listed["govcloud:first"] == "1"
    cli_run("stack", "tag", "set", "govcloud:second", "2")  # the CLI rewrites the file govcloud wrote
    assert {k: cli.tags()[k] for k in ("govcloud:first", "govcloud:second", "govcloud:audit-head")} == {
        "govcloud:first": "1", "govcloud:second": "2", "govcloud:audit-head": head}
