"""scripts/postgres on a real PostgreSQL, in a root and on a port of its own (the shared server the scale
tests use is not touched).

A server killed without a shutdown (a lost session, a machine restored from a snapshot) leaves its
postmaster.pid behind. When the PID in it now belongs to another process, `status` must not call that the
server, and `up` must start the server anyway: before this was handled, `up` said "already running",
failed on its first SQL, and CI ran half an hour without a database.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_server():
    if os.geteuid() != 0:
        pytest.fail("scripts/postgres runs the server as the postgres user: run the tests as root", pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="gc-pg-"))
    root.chmod(0o755)  # the postgres user must reach data/ under it
    env = {**os.environ, "GOVCLOUD_PG_ROOT": str(root), "GOVCLOUD_PG_PORT": str(free_port())}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=180)

    try:
        yield root, run
    finally:
        run("down")
        shutil.rmtree(root, ignore_errors=True)


def test_up_starts_the_server_when_its_stale_pid_file_names_another_live_process(own_server):
    root, run = own_server
    first = run("up")
    assert first.returncode == 0, first.stdout + first.stderr
    pid_file = root / "data" / "postmaster.pid"
    postmaster = int(pid_file.read_text().split()[0])

    os.kill(postmaster, signal.SIGKILL)  # no shutdown: the pid file stays
    for _ in range(100):
        if not Path(f"/proc/{postmaster}").exists():
            break
        time.sleep(0.1)
    assert pid_file.exists()
    other = subprocess.Popen(["sleep", "300"])  # the PID now belongs to a process that is not the server
    try:
        lines = pid_file.read_text().split("\n")
        pid_file.write_text("\n".join([str(other.pid), *lines[1:]]))

        status = run("status")
        assert status.returncode == 1 and "DOWN" in status.stdout, status.stdout

        again = run("up")
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"removed a stale {pid_file} (pid {other.pid}: not this server)" in again.stdout
        assert "started on 127.0.0.1" in again.stdout
        assert other.poll() is None, "up must not touch the process the stale file named"

        status = run("status")
        assert status.returncode == 0 and "UP" in status.stdout, status.stdout
        new_pid = int(pid_file.read_text().split()[0])
        assert new_pid not in (postmaster, other.pid)
        # the databases answer as the govcloud role, with the password from the pgpass file
        env = dict(line.removeprefix("export ").split("=", 1) for line in run("env").stdout.splitlines())
        q = subprocess.run(["psql", env["GOVCLOUD_PG_TEST_URL"].strip("'"), "-qAtc", "SELECT current_user"],
                           env={**os.environ, "PGPASSFILE": env["PGPASSFILE"]}, capture_output=True, text=True)
        assert q.stdout.strip() == "govcloud", q.stderr
    finally:
        other.kill()
        other.wait()
