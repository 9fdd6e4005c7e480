"""`govcloud verify` and `govcloud ssh` against a real sshd: formats, exit codes, a shell on a PTY.

The stack outputs and Nova's console come from tests/verify_stack.py (the CLI's two reads of the engine
and the cloud are pointed at them); the SSH path is real. The dev cloud e2e test runs it all for real.
"""
from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from govcloud.cli import cli

from tests.sshd import TestSshd, keygen
from tests.verify_stack import REPO, Stack, listen

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def stack(tmp_path, monkeypatch):
    key = tmp_path / "id_ed25519"
    server = TestSshd(tmp_path / "web-1", [keygen(key)]).start()
    service = listen("127.0.0.1")
    s = Stack(tmp_path / "repo", [server], key, health={"port": service.getsockname()[1],
                                                        "command": "systemctl is-active nginx"})
    monkeypatch.setattr("govcloud.verify.service.read_stack_outputs", lambda plan, config: s.outputs())
    monkeypatch.setattr("govcloud.verify.service.nova_console_source", lambda plan: s.console)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    s.server = server
    yield s
    server.stop()
    service.close()


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_verify_text_json_and_junit(stack):
    args = ["verify", stack.manifest, "--key", stack.key_file, "--min-free-disk", "1", "--min-free-memory", "1"]
    text = run(*args)
    assert text.exit_code == 0, text.output
    assert "1 server: 1 ok, 0 failed" in text.stdout and "ok    health-command" in text.stdout
    doc = json.loads(run(*args, "--format", "json").stdout)
    assert doc["ok"] is True and doc["stacks"][0]["servers"][0]["hostKeySource"].startswith("the stack's pinned")
    stack.server.set("service-nginx", "inactive")
    junit = run(*args, "--format", "junit")
    assert junit.exit_code == 1
    suite = ET.fromstring(junit.stdout.split("\n", 1)[1]).find("testsuite")
    assert suite.get("failures") == "1" and suite.get("errors") == "0"
    failed = [c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None]
    assert failed == ["health-command"]


def test_verify_refuses_a_changed_host_key_with_exit_1(stack):
    args = ["verify", stack.manifest, "--key", stack.key_file, "--min-free-disk", "1", "--min-free-memory", "1"]
    assert run(*args).exit_code == 0
    stack.server.restart_with_new_host_keys()
    r = run(*args)
    assert r.exit_code == 1
    assert "FAILED host key changed: host key of server moe-dev-citizen-portal-web-1 does not match" in r.stdout
    assert "Traceback" not in r.output


def test_ssh_command_exit_status_and_errors(stack):
    r = run("ssh", stack.manifest, "web-1", "--key", stack.key_file, "--", "echo", "hi;", "exit", "3")
    assert (r.exit_code, r.stdout) == (3, "hi\n")
    r = run("ssh", stack.manifest, "web-9", "--key", stack.key_file, "--", "true")
    assert r.exit_code == 1 and "no server 'web-9'" in r.stderr and "servers: web-1" in r.stderr
    r = run("ssh", stack.manifest, "web-1", "--key", stack.key_file)  # no terminal, no command
    assert r.exit_code == 2 and "give a command" in r.stderr
    r = run("ssh", stack.manifest, "web-1", "--", "true")  # no key file, no agent
    assert r.exit_code == 1 and "no SSH agent" in r.stderr


def test_ssh_shell_on_a_pty(stack, tmp_path):
    """An interactive session: the CLI on a pseudo terminal, a shell on the server's PTY, its exit status."""
    script = tmp_path / "run_cli.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(REPO)!r})
        import govcloud.verify.service as service
        from govcloud.verify.source import FakeConsoleSource
        outputs = json.loads({json.dumps(json.dumps(stack.outputs()))})
        console = FakeConsoleSource(json.loads({json.dumps(json.dumps(stack.console.consoles))}))
        service.read_stack_outputs = lambda plan, config: outputs
        service.nova_console_source = lambda plan: console
        from govcloud.cli import main
        sys.argv = ["govcloud", "ssh", {str(stack.manifest)!r}, "web-1", "--key", {str(stack.key_file)!r}]
        main()
    """))
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    proc = subprocess.Popen([sys.executable, str(script)], stdin=slave, stdout=slave, stderr=slave, cwd=REPO,
                            env=env, start_new_session=True)
    os.close(slave)
    os.write(master, b"echo shell-$((6*7)); exit 5\n")
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the CLI exited and closed the terminal
            break
        if not data:
            break
        out += data
    os.close(master)
    assert proc.wait(30) == 5, out.decode(errors="replace")
    assert b"shell-42" in out

