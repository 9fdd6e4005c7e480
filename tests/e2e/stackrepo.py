"""The e2e tests' config repo on the dev cloud: a temporary repo with one manifest, the govcloud CLI run in it.

Shared by test_deploy.py, test_review.py and the fault runs (tests/faults/harness.py; a helper module, not a
test module).
"""
from __future__ import annotations

import collections
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "devcloud" / "citizen-portal.yaml"
GOVCLOUD = Path(sys.executable).with_name("govcloud")
PASSPHRASE = "e2e-" + secrets.token_hex(8)
PROJECT = "gov-moe"
PULUMI_PROJECT = "govcloud-moe"


# ---------------------------------------------------------------- preconditions (fail, never skip)


def preconditions() -> None:
    from govcloud.engine import toolchain
    from govcloud.cloud.credentials import connect

    if toolchain.find_pulumi() is None:
        pytest.fail("the Pulumi CLI is missing: run scripts/install-toolchain", pytrace=False)
    plugin = toolchain.find_openstack_plugin()
    if plugin is None or plugin.source == toolchain.SOURCE_BUILD_CACHE:
        pytest.fail("the OpenStack plugin is not installed: run scripts/install-toolchain", pytrace=False)
    try:
        conn = connect("devcloud", PROJECT, "RegionOne", api_timeout=30)
        conn.authorize()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"dev cloud unreachable ({type(exc).__name__}: {exc}): run `sudo scripts/devcloud up`",
                    pytrace=False)


# ---------------------------------------------------------------- helpers


class Repo:
    """A temporary config repo with one manifest (always the same file, so always the same stack)."""

    def __init__(self, root: Path, service: str):
        self.root = root
        self.service = service
        self.prefix = f"moe-dev-{service}"
        self.stack = f"{service}-dev"
        self.manifest = root / "services" / "portal.yaml"
        shutil.copytree(REPO / "inventories", root / "inventories")
        (root / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\nbackend: null\n")
        self.manifest.parent.mkdir(parents=True)

    def write(self, mutate=None) -> dict:
        doc = yaml.safe_load(EXAMPLE.read_text())
        doc["metadata"]["name"] = self.service
        if mutate:
            mutate(doc)
        self.manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
        return doc

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items()
               if k not in ("GOVCLOUD_STATE_DIR", "GOVCLOUD_CONFIG", "GOVCLOUD_PASSPHRASE_FILE")}
        env["GOVCLOUD_PASSPHRASE"] = PASSPHRASE
        env["NO_COLOR"] = "1"
        return env

    def argv(self, *args) -> list[str]:
        return [str(GOVCLOUD), *[str(a) for a in args]]

    def run(self, *args, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), cwd=self.root, env=self.env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def start(self, *args) -> "Running":
        return Running(subprocess.Popen(self.argv(*args), cwd=self.root, env=self.env(), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True))

    def destroy_leftovers(self) -> None:
        """Whatever a failed test left behind goes, so that the shared dev cloud stays clean."""
        try:
            if self.state_resources():
                self.run("destroy", self.manifest, "--yes", "--allow-data-loss", timeout=900)
        except (OSError, KeyError, ValueError, subprocess.TimeoutExpired):
            pass

    def stack_file(self) -> Path:
        """The file backend's file of the stack: there once the stack exists."""
        return self.root / ".govcloud" / "state" / ".pulumi" / "stacks" / PULUMI_PROJECT / f"{self.stack}.json"

    def checkpoint(self) -> dict:
        return json.loads(self.stack_file().read_text())["checkpoint"]["latest"]

    def state_resources(self) -> dict[str, dict]:
        return {r["urn"].rsplit("::", 1)[-1]: r for r in self.checkpoint().get("resources", [])
                if not r["type"].startswith("pulumi:") and not r.get("delete")}

    def diff(self) -> dict:
        r = self.run("diff", self.manifest, "--format", "json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (the engine child runs in its own session: walk parents, not groups)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            children[int(stat.rsplit(")", 1)[1].split()[1])].append(int(d))
    out, i = [pid], 0
    while i < len(out):
        out += children.get(out[i], [])
        i += 1
    return out


def cmdline(pid: int) -> bytes:
    """The process's command line, or b"" once it has exited (it may between listing and reading)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


def ops(diff_doc: dict) -> dict[str, str]:
    """key -> op of every change that is not 'same'."""
    return {c["key"]: c["op"] for c in diff_doc["changes"] if c["op"] != "same"}


class Running:
    """A govcloud command running in the background; its stderr lines are collected as they come."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.lines: list[str] = []
        self.out = ""
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        self._o = threading.Thread(target=self._read_out, daemon=True)
        self._o.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def _read_out(self):
        self.out = self.proc.stdout.read()

    def wait_for(self, pattern: str, timeout: float = 300) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(re.search(pattern, ln) for ln in list(self.lines)):
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        return any(re.search(pattern, ln) for ln in list(self.lines))

    def wait(self, timeout: float = 900) -> int:
        rc = self.proc.wait(timeout)
        self._t.join(10)
        self._o.join(10)
        return rc

    @property
    def stderr(self) -> str:
        return "".join(self.lines)
