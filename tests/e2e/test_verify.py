"""govcloud verify end to end on the dev cloud: deploy for real, then verify over SSH, then a changed key.

The whole path is the real one: the stack outputs from the Pulumi engine, the console output through
Nova's os-getConsoleOutput API (nova-compute's fake driver, with the dev cloud's test hook: the console
of a server is the file `$DEVCLOUD_CONSOLE_DIR/<server id>.log` when it exists, see docs/devcloud.md),
the pinned known_hosts, paramiko and Debian's sshd. Nova's fake driver boots nothing, so the devcloud
site of the test's config repo points servers at a local sshd (`ssh.addressOverride`, loopback) and the
test writes each server's console as cloud-init would print it, with that sshd's host keys.

One scenario, in order (the tests share one stack):

1. deploy a portal: `web-1` with a public IP, a volume and a health check (reached directly) and `app-1`
   without a public IP (reached through a bastion: a second sshd);
2. verify: every check passes, the keys are pinned from the consoles, the fingerprints are audited;
3. verify again: against the pins, JUnit format; `govcloud ssh` runs a command on `app-1` (bastion);
4. the sshd's host key changes: verify refuses both servers, naming both fingerprints (exit 1);
5. destroy.

In a git worktree, run it with PYTHONPATH=<worktree> so that the `govcloud` the tests run is the worktree's.

These tests FAIL (never skip) when the dev cloud, its console hook, the Pulumi toolchain or sshd is missing.
"""
from __future__ import annotations

import json
import secrets
import subprocess
import xml.etree.ElementTree as ET

import pytest
import yaml
from stackrepo import PROJECT, REPO, Repo, preconditions

from tests.sshd import TestSshd, keygen
from tests.verify_stack import listen

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def console_dir() -> str:
    """Where the dev cloud's fake driver reads console output from (`scripts/devcloud env`)."""
    out = subprocess.run([str(REPO / "scripts" / "devcloud"), "env"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("export DEVCLOUD_CONSOLE_DIR="):
            return line.split("=", 1)[1].split()[0]
    pytest.fail("scripts/devcloud env names no DEVCLOUD_CONSOLE_DIR: this checkout's dev cloud has no console hook",
                pytrace=False)


class Scene:
    """The deployed stack, its two sshds (server and bastion) and the health check port."""

    def __init__(self, root, conn):
        self.conn = conn
        self.key = root / "id_ed25519"
        line = keygen(self.key, comment="govcloud-e2e-verify")
        self.server = TestSshd(root / "server", [line]).start()
        self.bastion = TestSshd(root / "bastion", [line], forwarding=True, fakes=False).start()
        self.service = listen("127.0.0.1")
        self.health_port = self.service.getsockname()[1]
        self.repo = Repo(root / "repo", f"verify-{secrets.token_hex(2)}")
        self.consoles: list = []
        site_file = self.repo.root / "inventories" / "sites" / "devcloud.yaml"
        site = yaml.safe_load(site_file.read_text())
        site["ssh"] = {"user": "root", "keyFile": str(self.key),
                       "addressOverride": {"host": "127.0.0.1", "port": self.server.port},
                       "bastion": {"host": "127.0.0.1", "port": self.bastion.port, "user": "root",
                                   "hostKeys": self.bastion.host_key_lines}}
        site_file.write_text(yaml.safe_dump(site, sort_keys=False, allow_unicode=True))
        self.repo.write(self.portal)

    def portal(self, doc: dict) -> None:
        doc["spec"]["network"]["cidr"] = "10.83.0.0/24"
        doc["spec"]["buckets"] = []
        web = doc["spec"]["servers"][0]
        web.update(count=1, publicIp=True, volumes=[{"name": "data", "sizeGb": 1, "type": "standard"}],
                   healthCheck={"port": self.health_port, "command": "systemctl is-active nginx"})
        doc["spec"]["servers"].append({"name": "app", "size": "small", "image": "debian-12", "count": 1,
                                       "role": "app", "healthCheck": {"command": "systemctl is-active app"}})

    def outputs(self) -> dict:
        r = self.repo.run("outputs", self.repo.manifest, "--format", "json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def write_consoles(self) -> None:
        """Each server's console as cloud-init prints it, with the local sshd's host keys, for Nova to serve."""
        from pathlib import Path

        d = Path(console_dir())
        for name, s in self.outputs()["servers"].items():
            path = d / f"{s['id']}.log"
            path.write_text(self.server.console_output(name))
            self.consoles.append(path)

    def verify(self, *args) -> subprocess.CompletedProcess:
        return self.repo.run("verify", self.repo.manifest, "--min-free-disk", "1", "--min-free-memory", "1",
                             "--timeout", "120", *args, timeout=600)

    def close(self) -> None:
        for p in self.consoles:
            p.unlink(missing_ok=True)
        self.server.stop()
        self.bastion.stop()
        self.service.close()


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    preconditions()
    from govcloud.cloud.credentials import connect

    conn = connect("devcloud", PROJECT, "RegionOne", api_timeout=60)
    s = Scene(tmp_path_factory.mktemp("govcloud-e2e-verify"), conn)
    yield s
    s.repo.destroy_leftovers()
    s.close()


def test_deploy_and_the_console_hook(scene):
    r = scene.repo.run("deploy", scene.repo.manifest, "--yes")
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    out = scene.outputs()
    p = scene.repo.prefix
    assert set(out["servers"]) == {f"{p}-web-1", f"{p}-app-1"}
    assert out["servers"][f"{p}-web-1"]["floatingIp"] and not out["servers"][f"{p}-app-1"]["floatingIp"]
    scene.write_consoles()
    # Nova's own API serves the file: the hook is in place
    web = out["servers"][f"{p}-web-1"]["id"]
    text = scene.conn.compute.get_server_console_output(web)["output"]
    if "FAKE CONSOLE OUTPUT" in text:
        pytest.fail("the dev cloud's nova-compute has no console hook yet: sudo scripts/devcloud restart "
                    "nova-compute", pytrace=False)
    assert "-----BEGIN SSH HOST KEY KEYS-----" in text and scene.server.host_key_lines[0].split()[1] in text
    vol = out["volumes"][f"{p}-web-1-data"]["id"]
    scene.server.set("lsblk", f'NAME="vda" SIZE="10737418240" SERIAL="" TYPE="disk"\n'
                              f'NAME="vdb" SIZE="1073741824" SERIAL="{vol[:20]}" TYPE="disk"')


def test_verify_passes_and_pins_the_keys_from_novas_console(scene):
    r = scene.verify("--format", "json")
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    (stack,) = json.loads(r.stdout)["stacks"]
    p = scene.repo.prefix
    servers = {s["label"]: s for s in stack["servers"]}
    assert set(servers) == {"web-1", "app-1"} and stack["ok"]
    web, app = servers["web-1"], servers["app-1"]
    assert [c["name"] for c in web["checks"]] == ["cloud-init", "health-command", "health-port",
                                                  "health-port-public", "volume:data", "disk", "memory"]
    assert [c["name"] for c in app["checks"]] == ["cloud-init", "health-command", "disk", "memory"]
    assert web["route"] == "direct"
    assert app["route"] == f"via bastion root@127.0.0.1:{scene.bastion.port}"
    assert web["hostKeySource"] == app["hostKeySource"] == "console (pinned now)"
    known_hosts = scene.repo.root / ".govcloud" / "verify" / "govcloud-moe" / scene.repo.stack / "known_hosts"
    text = known_hosts.read_text()
    for name in (f"{p}-web-1", f"{p}-app-1"):
        for line in scene.server.host_key_lines:
            assert f"{name} {' '.join(line.split()[:2])}" in text
    audit = [json.loads(x) for x in (scene.repo.root / ".govcloud" / "audit.log").read_text().splitlines()]
    rec = audit[-1]
    assert rec["operation"] == "verify" and rec["result"] == "ok"
    assert {(k["who"], k["outcome"]) for k in rec["hostKeys"]} == {
        (f"server {p}-web-1", "pinned"), (f"server {p}-app-1", "pinned"), ("bastion 127.0.0.1", "matched")}


def test_verify_again_checks_against_the_pins_in_junit(scene):
    r = scene.verify("--format", "junit")
    assert r.returncode == 0, r.stdout + r.stderr
    suite = ET.fromstring(r.stdout.split("\n", 1)[1]).find("testsuite")
    assert suite.get("name") == f"govcloud-moe/{scene.repo.stack}"
    assert (suite.get("failures"), suite.get("errors"), suite.get("tests")) == ("0", "0", "13")


def test_ssh_runs_a_command_through_the_bastion(scene):
    r = scene.repo.run("ssh", scene.repo.manifest, "app-1", "--", "echo", "via-bastion;", "exit", "4")
    assert (r.returncode, r.stdout) == (4, "via-bastion\n"), r.stderr
    audit = [json.loads(x) for x in (scene.repo.root / ".govcloud" / "audit.log").read_text().splitlines()]
    assert audit[-1]["operation"] == "ssh" and audit[-1]["detail"] == "ssh app-1: echo via-bastion; exit 4"


def test_a_changed_host_key_is_refused(scene):
    old = list(scene.server.host_key_lines)
    scene.server.restart_with_new_host_keys()
    r = scene.verify()
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.count("FAILED host key changed") == 2
    from govcloud.verify.hostkey import HostKey

    new_labels = {HostKey.parse(k).label() for k in scene.server.host_key_lines}
    old_labels = {HostKey.parse(k).label() for k in old}
    assert any(x in r.stdout for x in new_labels) and all(x in r.stdout for x in old_labels)
    assert "Traceback" not in r.stderr
    assert "Accepted publickey" not in scene.server.log().split("Server listening")[-1]


def test_destroy(scene):
    r = scene.repo.run("destroy", scene.repo.manifest, "--yes", "--allow-data-loss")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not [s for s in scene.conn.compute.servers() if s.name.startswith(scene.repo.prefix)]
