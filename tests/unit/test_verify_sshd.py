"""govcloud verify against real OpenSSH servers (Debian's sshd on loopback ports, started by the tests).

Every test here speaks SSH to a real sshd through paramiko: host keys pinned from a console, changed and
unknown keys, a port that never answers, a server that boots while verify waits, several servers in
parallel, the bastion, key files with passphrases and the SSH agent. The stack outputs and the console
source are given (tests/verify_stack.py); the dev cloud e2e test reads them from Pulumi and Nova.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading

import pytest

from govcloud.ops.audit import audit_path
from govcloud.verify import Failure, last_verify
from govcloud.verify.errors import KeyFileError
from govcloud.verify.hostkey import HostKey
from govcloud.verify.known_hosts import OperatorKnownHosts
from govcloud.verify.source import ConsoleNotReady, ConsoleUnavailable, FakeConsoleSource, ServerState
from govcloud.verify.store import pinned_keys

from tests.sshd import Blackhole, TestSshd, free_port, keygen
from tests.verify_stack import Stack, listen

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def client_key(tmp_path):
    path = tmp_path / "id_ed25519"
    return path, keygen(path, "ed25519", comment="govcloud-test")


@pytest.fixture
def sshds():
    started: list[TestSshd] = []

    def make(root, key_line, **kw) -> TestSshd:
        s = TestSshd(root, [key_line], **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def audit_records(stack: Stack) -> list[dict]:
    return [json.loads(line) for line in audit_path(stack.config).read_text().splitlines()]


def checks_of(host) -> dict[str, tuple[bool, str]]:
    return {c.name: (c.ok, c.detail) for c in host.checks}


def test_a_healthy_server_passes_every_check_its_keys_pinned_from_the_console(tmp_path, client_key, sshds):
    key_file, key_line = client_key
    server = sshds(tmp_path / "web-1", key_line).start()
    service = listen("127.0.0.1")
    port = service.getsockname()[1]
    stack = Stack(tmp_path / "repo", [server], key_file, volumes=True,
                  health={"port": port, "command": "systemctl is-active nginx"})
    vol_id = stack.outputs()["volumes"]["moe-dev-citizen-portal-web-1-data"]["id"]
    server.set("lsblk", f'NAME="vda" SIZE="10737418240" SERIAL="" TYPE="disk"\n'
                        f'NAME="vdb" SIZE="1073741824" SERIAL="{vol_id[:20]}" TYPE="disk"')
    report = stack.verify()
    (host,) = report.hosts
    assert report.ok, report.to_json()
    got = checks_of(host)
    assert list(got) == ["cloud-init", "health-command", "health-port", "health-port-public", "volume:data", "disk",
                         "memory"]
    assert all(ok for ok, _ in got.values())
    assert "exit 0, active" in got["health-command"][1] and "/dev/vdb, 1 GiB" in got["volume:data"][1]
    # pinned: the server's own host keys, under its name, for this server id
    pin = pinned_keys(stack.config, stack.stack).get("moe-dev-citizen-portal-web-1")
    assert {k.line() for k in pin.keys} == {" ".join(k.split()[:2]) for k in server.host_key_lines}
    assert pin.server_id == stack.ids["moe-dev-citizen-portal-web-1"] and pin.source == "console"
    assert host.host_key in {HostKey.parse(k).label() for k in server.host_key_lines}
    assert host.host_key_source == "console (pinned now)"
    # the fingerprint seen went to the audit log, and the report is the stack's last
    rec = audit_records(stack)[-1]
    assert (rec["operation"], rec["stack"], rec["result"]) == ("verify", stack.stack, "ok")
    assert rec["hostKeys"] == [{"who": "server moe-dev-citizen-portal-web-1", "address": server.host + f":{server.port}",
                                "fingerprint": host.host_key, "outcome": "pinned", "source": "console"}]
    assert last_verify(stack.config, stack.stack) == report
    # the second run checks against the pin and does not need the console
    calls = len(stack.console.calls)
    again = stack.verify()
    assert again.ok and again.hosts[0].host_key_source.startswith("the stack's pinned known_hosts")
    assert len(stack.console.calls) == calls
    assert audit_records(stack)[-1]["hostKeys"][0]["outcome"] == "matched"
    service.close()


def test_a_failing_command_and_a_closed_port_fail_their_checks(tmp_path, client_key, sshds):
    key_file, key_line = client_key
    server = sshds(tmp_path / "web-1", key_line).start()
    server.set("service-nginx", "failed")
    closed = free_port()
    stack = Stack(tmp_path / "repo", [server], key_file, health={"port": closed, "command": "systemctl is-active nginx"})
    report = stack.verify()
    (host,) = report.hosts
    assert not report.ok and host.failure is None
    got = checks_of(host)
    assert got["cloud-init"][0] and got["disk"][0] and got["memory"][0]
    assert got["health-command"] == (False, "`systemctl is-active nginx`: exit 1: failed")
    assert not got["health-port"][0] and "Connection refused" in got["health-port"][1]
    assert not got["health-port-public"][0] and "refused" in got["health-port-public"][1].lower()
    assert report.failures() == {"check-failed": 1}
    # cloud-init failing is a failed check too, with its errors
    server.set("cloud-init", "error")
    host = stack.verify().hosts[0]
    assert not checks_of(host)["cloud-init"][0] and "Runparts: 1 failures" in checks_of(host)["cloud-init"][1]
    # a threshold that cannot be met fails the headroom checks
    server.set("cloud-init", "done")
    from govcloud.verify.checks import Thresholds

    host = stack.verify(thresholds=Thresholds(min_free_disk_percent=100, min_free_memory_percent=100)).hosts[0]
    assert not checks_of(host)["disk"][0] and not checks_of(host)["memory"][0]


def test_a_changed_host_key_is_refused_naming_both_fingerprints(tmp_path, client_key, sshds):
    key_file, key_line = client_key
    server = sshds(tmp_path / "web-1", key_line).start()
    stack = Stack(tmp_path / "repo", [server], key_file)
    assert stack.verify().ok
    pinned = pinned_keys(stack.config, stack.stack).get("moe-dev-citizen-portal-web-1").keys
    server.restart_with_new_host_keys()  # someone else answers at the server's address
    report = stack.verify()
    (host,) = report.hosts
    assert host.failure is Failure.HOST_KEY_CHANGED and host.checks == ()
    presented = {HostKey.parse(k).label() for k in server.host_key_lines}
    assert "moe-dev-citizen-portal-web-1" in host.message
    assert any(p in host.message for p in presented)  # what it presented
    assert all(k.label() in host.message for k in pinned)  # what was pinned
    assert "console output does not show the presented key either" in host.message
    assert "Accepted publickey" not in server.log().split("Server listening")[-1]  # never logged in to it
    assert pinned_keys(stack.config, stack.stack).get("moe-dev-citizen-portal-web-1").keys == pinned
    rec = audit_records(stack)[-1]
    assert rec["result"] == "refused" and rec["hostKeys"][0]["outcome"] == "refused-changed"
    # rebuilt on purpose: the console shows the new keys, --repin pins them
    stack.console.consoles[stack.ids["moe-dev-citizen-portal-web-1"]] = server.console_output()
    refused = stack.verify().hosts[0]
    assert refused.failure is Failure.HOST_KEY_CHANGED and "--repin web-1" in refused.message
    repinned = stack.verify(repin=frozenset({"web-1"}))
    assert repinned.ok and audit_records(stack)[-1]["hostKeys"][0]["outcome"] == "repinned"


def test_an_unknown_host_with_no_pinned_key_is_refused(tmp_path, client_key, sshds):
    key_file, key_line = client_key
    server = sshds(tmp_path / "web-1", key_line).start()
    stack = Stack(tmp_path / "repo", [server], key_file)
    sid = stack.ids["moe-dev-citizen-portal-web-1"]
    no_console = FakeConsoleSource({sid: ConsoleUnavailable("Nova: this cloud's hypervisor driver gives no console "
                                                            "output (501)")})
    report = stack.verify(console=no_console)
    (host,) = report.hosts
    assert host.failure is Failure.HOST_KEY_UNKNOWN
    assert "moe-dev-citizen-portal-web-1" in host.message and "(501)" in host.message
    assert any(HostKey.parse(k).label() in host.message for k in server.host_key_lines)
    assert "Accepted publickey" not in server.log()
    assert pinned_keys(stack.config, stack.stack).all() == {}
    assert host.diagnostics is not None and "(501)" in " ".join(host.diagnostics.notes)
    # an operator's known_hosts without the server: unknown; with it: trusted, and nothing is pinned
    other = tmp_path / "known_hosts"
    other.write_text(f"[127.0.0.1]:1 {server.host_key_lines[0]}\n")
    host = stack.verify(console=no_console, known_hosts=other).hosts[0]
    assert host.failure is Failure.HOST_KEY_UNKNOWN and str(other) in host.message
    other.write_text(f"moe-dev-citizen-portal-web-1 {server.host_key_lines[0]}\n")
    report = stack.verify(console=no_console, known_hosts=other)
    assert report.ok and report.hosts[0].host_key_source == f"the known_hosts file {other}"
    assert OperatorKnownHosts(other).lookup(["moe-dev-citizen-portal-web-1"])[0]
    assert pinned_keys(stack.config, stack.stack).all() == {}


def test_an_unreachable_server_times_out_with_a_clear_error_and_novas_diagnostics(tmp_path, client_key, sshds):
    key_file, key_line = client_key
    server = sshds(tmp_path / "web-1", key_line)  # never started: only its console is used
    hole = Blackhole()
    server.host, server.port = hole.host, hole.port
    stack = Stack(tmp_path / "repo", [server], key_file)
    sid = stack.ids["moe-dev-citizen-portal-web-1"]
    stack.console.states[sid] = ServerState("ERROR", "500 NoValidHost: No valid host was found")
    from govcloud.verify.ssh import Timeouts

    report = stack.verify(host_timeout=3, timeouts=Timeouts(connect=1, banner=1, auth=1, channel=1, command=5))
    (host,) = report.hosts
    hole.close()
    assert host.failure is Failure.UNREACHABLE
    assert re.search(rf"{hole.host}:{hole.port}: no answer within [0-9.]+ s", host.message)
    d = host.diagnostics
    assert d.status == "ERROR" and "No valid host was found" in d.fault
    assert "web-1 login:" in d.console_tail
    assert report.to_json()["servers"][0]["failureTitle"] == "unreachable"


def test_a_server_still_booting_becomes_ready(tmp_path, client_key, sshds):
    key_file, key_line = client_key
    server = sshds(tmp_path / "web-1", key_line)  # not started yet
    server.set("cloud-init", "running")
    stack = Stack(tmp_path / "repo", [server], key_file)
    sid = stack.ids["moe-dev-citizen-portal-web-1"]
    console_text = stack.console.consoles[sid]
    stack.console.consoles[sid] = ConsoleNotReady("Nova: the console is not ready yet (409: Instance not ready)")
    waits: list[str] = []

    def boot(event) -> None:  # each retry moves the boot one step on
        if event.state != "waiting":
            return
        waits.append(event.detail)
        if len(waits) == 1:
            stack.console.consoles[sid] = console_text  # the console has the keys now
        elif len(waits) == 2:
            server.start()  # sshd is up
        elif len(waits) == 3:
            server.set("cloud-init", "done")

    report = stack.verify(on_progress=boot)
    assert report.ok, report.to_json()
    assert report.hosts[0].attempts == 4
    assert waits[0].startswith("timed out while booting: no host keys") and "409" in waits[0]
    assert waits[1].startswith("connection refused:")
    assert waits[2].startswith("timed out while booting: cloud-init has not finished yet")


def test_a_server_that_never_finishes_booting_times_out_while_booting(tmp_path, client_key, sshds):
    key_file, key_line = client_key
    server = sshds(tmp_path / "web-1", key_line).start()
    server.set("cloud-init", "running")
    stack = Stack(tmp_path / "repo", [server], key_file)
    host = stack.verify(host_timeout=1.5).hosts[0]
    assert host.failure is Failure.BOOT_TIMEOUT and "not ready after 1.5 s" in host.message
    assert "cloud-init has not finished" in host.message and host.diagnostics.console_tail


def test_several_servers_in_parallel_within_the_bound(tmp_path, client_key, sshds):
    key_file, key_line = client_key
    port = free_port()
    servers = [sshds(tmp_path / f"web-{i}", key_line, host=f"127.0.0.{i + 2}", port=port).start() for i in range(4)]
    stack = Stack(tmp_path / "repo", servers, key_file)
    lock, active, most = threading.Lock(), set(), [0]

    def watch(event) -> None:
        with lock:
            if event.state == "done":
                active.discard(event.server)
            else:
                active.add(event.server)
            most[0] = max(most[0], len(active))

    report = stack.verify(parallel=2, on_progress=watch)
    assert report.ok, report.summary()
    assert [h.label for h in report.hosts] == ["web-1", "web-2", "web-3", "web-4"]
    assert [h.address for h in report.hosts] == [f"127.0.0.{i + 2}:{port}" for i in range(4)]
    assert 1 <= most[0] <= 2
    for h, s in zip(report.hosts, servers):  # each server was checked against its own keys
        assert h.host_key in {HostKey.parse(k).label() for k in s.host_key_lines}


def test_servers_without_public_ip_are_reached_through_the_bastion(tmp_path, client_key, sshds):
    key_file, key_line = client_key
    server = sshds(tmp_path / "web-1", key_line).start()
    bastion = sshds(tmp_path / "bastion", key_line, forwarding=True, fakes=False).start()
    jump = {"host": bastion.host, "port": bastion.port, "user": "root", "hostKeys": bastion.host_key_lines[:2]}
    stack = Stack(tmp_path / "repo", [server], key_file, public=False, ssh={"bastion": jump})
    report = stack.verify()
    (host,) = report.hosts
    assert report.ok, report.to_json()
    assert host.route == f"via bastion root@{bastion.host}:{bastion.port}"
    assert f"target {server.host} port {server.port}" in bastion.log()  # sshd's direct-tcpip log line
    whos = [k["who"] for k in audit_records(stack)[-1]["hostKeys"]]
    assert whos == [f"bastion {bastion.host}", "server moe-dev-citizen-portal-web-1"]
    # a bastion that presents another key than the inventory's is refused before anything goes through it
    bastion.restart_with_new_host_keys()
    host = stack.verify().hosts[0]
    assert host.failure is Failure.HOST_KEY_CHANGED
    assert f"bastion {bastion.host}" in host.message and "ssh.bastion.hostKeys" in host.message
    # no channel was opened through it: sshd logs an open as "... target HOST port PORT" (the same line the
    # passing case checks); a "channel 0: free: direct-tcpip" line the earlier session's child may still write
    # after the restart is a close, not an open
    assert f"target {server.host} port {server.port}" not in bastion.log().split("Server listening")[-1]
    # the bastion cannot reach the server: refused, through the bastion
    jump["hostKeys"] = bastion.host_key_lines
    server.stop()
    stack = Stack(tmp_path / "repo2", [server], key_file, public=False, ssh={"bastion": jump})
    host = stack.verify(host_timeout=1).hosts[0]
    assert host.failure is Failure.REFUSED and "through the bastion" in host.message


def test_a_key_file_with_a_passphrase(tmp_path, sshds):
    key_file = tmp_path / "id_locked"
    line = keygen(key_file, "ed25519", passphrase="correct horse battery staple")
    server = sshds(tmp_path / "web-1", line).start()
    stack = Stack(tmp_path / "repo", [server], key_file)
    started = len(server.log())  # (the start-up probe's connection)
    with pytest.raises(KeyFileError, match="encrypted.*GOVCLOUD_SSH_KEY_PASSPHRASE"):
        stack.verify()
    with pytest.raises(KeyFileError, match="wrong passphrase") as err:
        stack.verify(key_passphrase="wrong")
    assert "wrong" not in str(err.value).replace("wrong passphrase", "")  # the passphrase is never shown
    assert "Connection from" not in server.log()[started:]  # refused before any server
    assert stack.verify(key_passphrase="correct horse battery staple").ok


def test_keys_from_the_ssh_agent_and_a_key_the_server_refuses(tmp_path, client_key, sshds, monkeypatch):
    key_file, key_line = client_key
    server = sshds(tmp_path / "web-1", key_line).start()
    stack = Stack(tmp_path / "repo", [server], None)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(KeyFileError, match="no SSH agent"):
        stack.verify(key_file=None)
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(100):
            if sock.exists():
                break
            threading.Event().wait(0.05)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        subprocess.run(["ssh-add", str(key_file)], check=True, capture_output=True, env=dict(os.environ))
        assert stack.verify(key_file=None).ok
    finally:
        os.killpg(agent.pid, signal.SIGTERM)
        agent.wait(10)
    stranger = tmp_path / "id_stranger"
    keygen(stranger)
    host = stack.verify(key_file=stranger).hosts[0]
    assert host.failure is Failure.AUTH_FAILED and host.attempts == 1  # cloud-init finished: no retry
    assert f"the key file {stranger}" in host.message and "root@" in host.message


def test_ssh_runs_a_command_through_the_same_path(tmp_path, client_key, sshds):
    import io

    from govcloud.verify import run_command

    key_file, key_line = client_key
    server = sshds(tmp_path / "web-1", key_line).start()
    stack = Stack(tmp_path / "repo", [server], key_file)
    out, err = io.BytesIO(), io.BytesIO()
    status = run_command(stack.manifest, "web-1", "echo out; echo err >&2; cat; exit 7", stack.options(),
                         stdin=io.BytesIO(b"from stdin\n"), stdout=out, stderr=err, outputs=stack.outputs(),
                         console=stack.console)
    assert (status, out.getvalue(), err.getvalue()) == (7, b"out\nfrom stdin\n", b"err\n")
    rec = audit_records(stack)[-1]
    assert (rec["operation"], rec["result"], rec["hostKeys"][0]["outcome"]) == ("ssh", "ok", "pinned")
    assert rec["detail"].startswith("ssh web-1: echo out")
