"""A deployed stack for the verify tests whose servers are real sshds on loopback (tests/sshd.py).

The config repo is temporary (copied inventories; the devcloud site gets the `ssh:` settings the test
gives), the manifest is the dev cloud's citizen portal example with the servers, health check and
public IP the test asks for, and the stack outputs name each server's sshd as its address (floating IP
for public servers, fixed IP for the others). Only the outputs and the console source are made here
instead of read from the engine and Nova: the SSH path (paramiko to sshd) is the real one. The e2e test
(tests/e2e/test_verify.py) runs the whole path on the dev cloud.
"""
from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Sequence

import yaml

from govcloud.check import Workspace
from govcloud.verify import VerifyOptions, verify_service
from govcloud.verify.checks import Thresholds
from govcloud.verify.source import FakeConsoleSource
from govcloud.verify.ssh import Timeouts

from tests.sshd import TestSshd

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "devcloud" / "citizen-portal.yaml"
FAST = Timeouts(connect=2, banner=3, auth=3, channel=3, command=10)


def listen(host: str, port: int = 0) -> socket.socket:
    """A port that accepts connections (a service answering its health check port)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(16)
    return s


class Stack:
    def __init__(self, root: Path, sshds: Sequence[TestSshd], key_file: Path | None, *, public: bool = True,
                 health: dict | None = None, ssh: dict | None = None, volumes: bool = False):
        self.root, self.sshds, self.key_file = root, list(sshds), key_file
        root.mkdir(parents=True, exist_ok=True)
        shutil.copytree(REPO / "inventories", root / "inventories", dirs_exist_ok=True)
        (root / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\nbackend: null\n")
        site_file = root / "inventories" / "sites" / "devcloud.yaml"
        site = yaml.safe_load(site_file.read_text())
        site["ssh"] = {"user": "root", "port": sshds[0].port, **(ssh or {})}
        site_file.write_text(yaml.safe_dump(site, sort_keys=False, allow_unicode=True))
        doc = yaml.safe_load(EXAMPLE.read_text())
        server = doc["spec"]["servers"][0]
        server.update(count=len(sshds), publicIp=public)
        if health is not None:
            server["healthCheck"] = health
        else:
            server.pop("healthCheck", None)
        if not volumes:
            server.pop("volumes", None)
        self.manifest = root / "manifests" / "portal.yaml"
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        self.manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.checked = Workspace.for_paths([self.manifest]).check(self.manifest)
        self.config = self.checked.config
        self.plan = self.checked.compile()
        self.instances = [r for r in self.plan.resources if r.kind == "Instance"]
        self.ids = {r.name: f"00000000-0000-4000-8000-{i:012d}" for i, r in enumerate(self.instances)}
        self.console = FakeConsoleSource({self.ids[r.name]: s.console_output(r.key.removeprefix("server-"))
                                          for r, s in zip(self.instances, sshds)})
        self.stack = f"{self.plan.service.pulumi_project}/{self.plan.service.stack}"

    def outputs(self) -> dict:
        servers = {}
        for r, s in zip(self.instances, self.sshds):
            servers[r.name] = {"key": r.key, "id": self.ids[r.name], "fixedIp": s.host,
                               "floatingIp": s.host if self.checked.manifest.spec.servers[0].public_ip else None}
        volumes = {r.name: {"key": r.key, "id": f"a1b2c3d4-0000-4000-8000-{i:012d}",
                            "server": r.inputs["metadata"]["govcloud:server"]}
                   for i, r in enumerate(r for r in self.plan.resources if r.kind == "Volume")}
        return {"servers": servers, "volumes": volumes}

    def options(self, **kw) -> VerifyOptions:
        base = dict(key_file=self.key_file, host_timeout=20, retry_first=0.05, retry_max=0.5, timeouts=FAST,
                    thresholds=Thresholds(min_free_disk_percent=1, min_free_memory_percent=1))
        base.update(kw)
        return VerifyOptions(**base)

    def verify(self, console=None, on_progress=None, **kw):
        return verify_service(self.checked, self.plan, outputs=self.outputs(), console=console or self.console,
                              options=self.options(**kw), on_progress=on_progress)
