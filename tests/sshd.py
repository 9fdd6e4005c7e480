"""Real OpenSSH servers for the tests: Debian's sshd on 127.0.0.x ports, each in its own temporary directory.

`scripts/sshd install` installs openssh-server when it is missing (the tests call it: none of them skips
because sshd is not there). Each `TestSshd` has its own host keys (made here by ssh-keygen), an authorized
key made for the test, its config, log and pid file in its directory, and runs as
`/usr/sbin/sshd -D -e -f <config>` in its own process group, stopped by its PID; no systemd, no system sshd.

Test scaffolding, not part of the SSH path: the commands the checks run on a cloud server
(`cloud-init`, `systemctl`, `lsblk`) do not exist on this machine, so each server sshd sets, through
its config's SetEnv, HOME to an empty directory (no dotfile of the machine's root user runs) and PATH to a
`bin/` directory of small fake scripts first. The fakes answer from files in `state/` that the test
writes (`state/cloud-init`: done | running | error; `state/service-<name>`: active | failed;
`state/lsblk`: the disks to list). Everything else (bash, /dev/tcp, df, /proc/meminfo, timeout) is real.
"""
from __future__ import annotations

import atexit
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SSHD = Path("/usr/sbin/sshd")
KEY_TYPES = ("ed25519", "ecdsa", "rsa")


def ensure_sshd() -> None:
    """openssh-server installed (scripts/sshd install, idempotent) or the test fails, never skips."""
    if not SSHD.exists():
        proc = subprocess.run([str(REPO / "scripts" / "sshd"), "install"], capture_output=True, text=True)
        if proc.returncode != 0 or not SSHD.exists():
            pytest.fail(f"openssh-server is missing and `scripts/sshd install` failed:\n{proc.stdout}{proc.stderr}",
                        pytrace=False)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory


def keygen(path: Path, kind: str = "ed25519", passphrase: str = "", comment: str = "") -> str:
    """A new key pair at `path` (+ .pub); the public key line."""
    path.unlink(missing_ok=True)
    Path(f"{path}.pub").unlink(missing_ok=True)
    args = ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", comment or path.name, "-f", str(path)]
    if kind == "rsa":
        args[4:4] = ["-b", "2048"]
    subprocess.run(args, check=True, capture_output=True)
    return Path(f"{path}.pub").read_text().strip()


class _HostKeyPool:
    """Host key sets made once per test process and handed out in turn (RSA keys take a second each to
    make on a busy machine): servers started one after the other always get different keys."""

    SIZE = 8

    def __init__(self) -> None:
        self.dir: Path | None = None
        self.made = 0
        self.turn = itertools.count()

    def next_set(self) -> Path:
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="govcloud-test-hostkeys-"))
            atexit.register(shutil.rmtree, self.dir, True)
        i = next(self.turn) % self.SIZE
        d = self.dir / str(i)
        if i >= self.made:
            d.mkdir()
            for t in KEY_TYPES:
                keygen(d / f"ssh_host_{t}_key", t, comment="root@test")
            self.made = i + 1
        return d


_POOL = _HostKeyPool()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


FAKE_CLOUD_INIT = """#!/bin/sh
# test scaffolding: cloud-init's `status --long` answered from {state}/cloud-init
[ "$1 $2" = "status --help" ] && exit 0
s=$(cat {state}/cloud-init 2>/dev/null || echo done)
echo "calls" >> {state}/cloud-init.calls
case "$s" in
  done) printf 'status: done\\nextended_status: done\\ndetail:\\nDataSourceOpenStackLocal [net,ver=2]\\nerrors: []\\nrecoverable_errors: {{}}\\n'; exit 0 ;;
  running) printf 'status: running\\nextended_status: running\\ndetail:\\nRunning in stage: modules-final\\n'; exit 0 ;;
  *) printf "status: error\\nextended_status: error - done\\ndetail:\\nDataSourceOpenStackLocal\\nerrors:\\n\\t- ('scripts_user', RuntimeError('Runparts: 1 failures'))\\n"; exit 1 ;;
esac
"""
FAKE_SYSTEMCTL = """#!/bin/sh
# test scaffolding: `systemctl is-active NAME` answered from {state}/service-NAME
[ "$1" = is-active ] || exit 1
s=$(cat {state}/service-$2 2>/dev/null || echo active)
echo "$s"
[ "$s" = active ]
"""
FAKE_LSBLK = """#!/bin/sh
# test scaffolding: the disks of {state}/lsblk, else the real lsblk
[ -f {state}/lsblk ] && exec cat {state}/lsblk
exec /usr/bin/lsblk "$@"
"""


class TestSshd:
    """One sshd on host:port in `root`, with its own host keys and one authorized key (or more)."""

    __test__ = False  # not a pytest test class

    def __init__(self, root: Path, authorized: list[str], *, host: str = "127.0.0.1", port: int | None = None,
                 forwarding: bool = False, fakes: bool = True):
        ensure_sshd()
        self.root = root
        self.host = host
        self.port = port or free_port(host)
        self.forwarding = forwarding
        self.state = root / "state"
        self.bin = root / "bin"
        for d in (root, self.state, self.bin, root / "home", root / "keys"):
            d.mkdir(parents=True, exist_ok=True)
        (root / "authorized_keys").write_text("".join(k + "\n" for k in authorized))
        if fakes:
            for name, text in (("cloud-init", FAKE_CLOUD_INIT), ("systemctl", FAKE_SYSTEMCTL), ("lsblk", FAKE_LSBLK)):
                (self.bin / name).write_text(text.format(state=self.state))
                (self.bin / name).chmod(0o755)
        self.new_host_keys()
        self.proc: subprocess.Popen | None = None

    # ------------------------------------------------------------ keys and config

    def new_host_keys(self) -> None:
        """Other host keys than the last sshd started got (what a rebuilt or an impostor server has)."""
        src = _POOL.next_set()
        for t in KEY_TYPES:
            for suffix in ("", ".pub"):
                dst = self.root / "keys" / f"ssh_host_{t}_key{suffix}"
                shutil.copyfile(src / dst.name, dst)
                dst.chmod(0o600 if not suffix else 0o644)
        self.host_key_lines = [(self.root / "keys" / f"ssh_host_{t}_key.pub").read_text().strip() for t in KEY_TYPES]

    def config(self) -> Path:
        lines = [
            f"Port {self.port}", f"ListenAddress {self.host}",
            *(f"HostKey {self.root / 'keys' / f'ssh_host_{t}_key'}" for t in KEY_TYPES),
            f"PidFile {self.root / 'sshd.pid'}", f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
            "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes", "PermitRootLogin prohibit-password", "AllowAgentForwarding no",
            "X11Forwarding no", "PermitUserEnvironment no", "MaxStartups 100",
            f"AllowTcpForwarding {'yes' if self.forwarding else 'no'}",
            "LogLevel DEBUG1" if self.forwarding else "LogLevel VERBOSE",
            f"SetEnv HOME={self.root / 'home'} PATH={self.bin}:/usr/local/bin:/usr/bin:/bin",
        ]
        path = self.root / "sshd_config"
        path.write_text("\n".join(lines) + "\n")
        return path

    # ------------------------------------------------------------ process

    def start(self) -> "TestSshd":
        config = self.config()
        check = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            pytest.fail(f"sshd config: {check.stderr}", pytrace=False)
        log = open(self.root / "sshd.log", "ab")
        self.proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                pytest.fail(f"sshd exited {self.proc.returncode}: {self.log()}", pytrace=False)
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(64).startswith(b"SSH-2.0-"):
                        return self
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"sshd on {self.host}:{self.port} did not answer: {self.log()}", pytrace=False)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its group: the listener and its session children
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def restart_with_new_host_keys(self) -> None:
        self.stop()
        self.new_host_keys()
        self.start()

    def log(self) -> str:
        try:
            return (self.root / "sshd.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def set(self, name: str, value: str) -> None:
        """A fake command's answer (test scaffolding): set('cloud-init', 'running'), set('service-nginx', ...)."""
        (self.state / name).write_text(value + "\n")

    # ------------------------------------------------------------ what cloud-init would print

    def console_output(self, name: str = "web-1") -> str:
        """A console as Ubuntu's cloud-init prints it at the end of the first boot, with this sshd's host keys."""
        fps = []
        for line in self.host_key_lines:
            f = self.root / "fp.pub"
            f.write_text(line + "\n")
            fps.append(subprocess.run(["ssh-keygen", "-lf", str(f)], capture_output=True, text=True,
                                      check=True).stdout.strip())
        return "\n".join([
            "[    0.000000] Linux version 5.15.0-91-generic (buildd@lcy02-amd64-045)",
            "[   16.200000] cloud-init[799]: Cloud-init v. 23.1.2 running 'modules:final' at Mon, 02 Nov 2026 "
            "10:11:02 +0000. Up 16.11 seconds.",
            "<14>Nov  2 10:11:03 cloud-init: #############################################################",
            "<14>Nov  2 10:11:03 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----",
            *(f"<14>Nov  2 10:11:03 cloud-init: {fp}" for fp in fps),
            "<14>Nov  2 10:11:03 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----",
            "<14>Nov  2 10:11:03 cloud-init: #############################################################",
            "-----BEGIN SSH HOST KEY KEYS-----",
            *(" ".join(line.split()[:2]) + f" root@{name}" for line in self.host_key_lines),
            "-----END SSH HOST KEY KEYS-----",
            "[   16.400000] cloud-init[799]: Cloud-init v. 23.1.2 finished at Mon, 02 Nov 2026 10:11:03 +0000. "
            "Datasource DataSourceOpenStackLocal [net,ver=2].  Up 16.38 seconds",
            "", f"Ubuntu 22.04.5 LTS {name} ttyS0", "", f"{name} login: ",
        ]) + "\n"


class Blackhole:
    """A loopback port that never answers: its one-slot accept queue is full, so new SYNs are dropped
    (connecting times out, as to a server whose network is not up)."""

    def __init__(self, host: str = "127.0.0.1"):
        self.listener = socket.socket()
        self.listener.bind((host, 0))
        self.listener.listen(0)
        self.host, self.port = host, self.listener.getsockname()[1]
        self.filler = socket.create_connection((host, self.port), timeout=2)

    def close(self) -> None:
        self.filler.close()
        self.listener.close()
