"""The fault runs' config repo and manifests: the real CLI against the dev cloud through the fault proxy.

`FaultRepo` is the e2e tests' temporary config repo (tests/e2e/stackrepo.py) with a clouds.yaml of its own
whose `devcloud` entry authenticates at the proxy (OS_CLIENT_CONFIG_FILE), so the provider, recovery's
lookups and the program's data sources all pass through it; the invariant checks read the real APIs.
The CLI runs this checkout's package (PYTHONPATH), engine children included.

The manifests are the citizen portal example made small, in three shapes a run moves between:
  A  one server with a data volume, a bucket (15 resources);
  B  two servers, each with data and logs volumes (2 GB), one more ingress rule (24);
  C  B with the logs volumes shrunk to 1 GB: both replaced (create before delete) with their attachments.
A -> B creates, B -> C replaces, C -> A deletes; web-1's data volume and the bucket live through it all.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Callable

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from stackrepo import PROJECT, PULUMI_PROJECT, Repo, process_tree  # noqa: E402

KEYSTONE = "http://127.0.0.1:5000/v3"
STEP_EVENTS = ("resourcePreEvent", "resOutputsEvent", "resOpFailedEvent")


def shape(name: str) -> Callable[[dict], None]:
    """The mutation of the citizen portal example into shape A, B or C."""
    def mutate(doc: dict) -> None:
        spec = doc["spec"]
        web = spec["servers"][0]
        web.update(count=1, publicIp=False, volumes=[{"name": "data", "sizeGb": 1, "type": "standard"}])
        if name in ("B", "C"):
            web["count"] = 2
            web["volumes"].append({"name": "logs", "sizeGb": 2 if name == "B" else 1, "type": "standard"})
            spec["network"]["ingress"].append({"name": "http", "port": 80, "protocol": "tcp", "from": "0.0.0.0/0"})
    return mutate


def data_names(prefix: str, name: str) -> set[str]:
    """The volumes and buckets of a shape (their OpenStack names)."""
    servers = 1 if name == "A" else 2
    vols = {f"{prefix}-web-{n}-data" for n in range(1, servers + 1)}
    if name != "A":
        vols |= {f"{prefix}-web-{n}-logs" for n in (1, 2)}
    return vols | {f"{prefix}-uploads"}


def may_lose(prefix: str, old: str | None, new: str) -> set[str]:
    """What a move from shape `old` to `new` deletes or replaces on purpose (allowed to change id)."""
    if old is None:
        return set()
    lost = data_names(prefix, old) - data_names(prefix, new)
    if {old, new} == {"B", "C"} or (old == "A" and new == "C"):
        lost |= {f"{prefix}-web-{n}-logs" for n in (1, 2)}
    return lost


def clouds_yaml(auth_url: str, api_timeout: float) -> dict:
    """A clouds.yaml whose `devcloud` entry is the real one with its auth_url at the proxy."""
    import openstack.config

    real = openstack.config.OpenStackConfig(load_envvars=False).get_one(cloud="devcloud").config
    auth = {k: v for k, v in real["auth"].items() if v is not None}
    auth["auth_url"] = auth_url
    return {"clouds": {"devcloud": {"auth": auth, "region_name": real.get("region_name") or "RegionOne",
                                    "identity_api_version": 3, "interface": real.get("interface") or "public",
                                    "api_timeout": api_timeout}}}


class FaultRepo(Repo):
    """A temporary config repo whose `devcloud` cloud is reached through the fault proxy."""

    def __init__(self, root: Path, service: str, auth_url: str, api_timeout: float = 5):
        super().__init__(root, service)
        self.clouds = root / "clouds.yaml"
        fd = os.open(self.clouds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(clouds_yaml(auth_url, api_timeout), f)
        self.shape: str | None = None

    def env(self) -> dict:
        env = super().env()
        env["OS_CLIENT_CONFIG_FILE"] = str(self.clouds)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
        return env

    def write_shape(self, name: str) -> None:
        """Write the manifest in shape `name` (`shape` says what is deployed: the runs set it)."""
        self.write(shape(name))

    def state_file(self) -> Path:
        return self.root / ".govcloud" / "state" / ".pulumi" / "stacks" / PULUMI_PROJECT / f"{self.stack}.json"

    def logs(self) -> Path:
        return self.root / ".govcloud" / "logs"

    def deploy_args(self, *extra: str) -> list:
        return ["deploy", self.manifest, "--yes", "--allow-data-loss", *extra]


def kill_tree(pid: int) -> int:
    """Freeze, then SIGKILL, a process and all its descendants (govcloud, its engine child, the Pulumi CLI,
    the provider): what a lost machine or the OOM killer does. Returns how many processes were killed."""
    seen: set[int] = set()
    for _ in range(3):  # freeze until no new child appears
        tree = [p for p in process_tree(pid) if p not in seen]
        if not tree:
            break
        for p in tree:
            try:
                os.kill(p, signal.SIGSTOP)
                seen.add(p)
            except ProcessLookupError:
                pass
    for p in seen:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(seen)


def up_events(repo: FaultRepo, pid: int) -> list[dict]:
    """The step events of the `up` that govcloud process `pid` runs, as far as they were written."""
    files = list(repo.logs().glob(f"*--up--*-{pid}.events.jsonl"))
    out = []
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue  # the line being written
            if any(k in e for k in STEP_EVENTS):
                out.append(e)
    return out


def describe_step(e: dict) -> str:
    kind = next(k for k in STEP_EVENTS if k in e)
    md = e[kind].get("metadata") or {}
    phase = {"resourcePreEvent": "start", "resOutputsEvent": "done", "resOpFailedEvent": "failed"}[kind]
    return f"{phase} {md.get('op')} {str(md.get('urn', '')).rsplit('::', 1)[-1]}"


CHANGING = ("create", "update", "delete", "replace", "create-replacement", "delete-replaced")


def changing_steps(steps: list[dict]) -> list[dict]:
    """The step events of resources that change (not `same`, not the stack or its provider)."""
    out = []
    for e in steps:
        md = e[next(k for k in STEP_EVENTS if k in e)].get("metadata") or {}
        if md.get("op") in CHANGING and not str(md.get("type", "")).startswith("pulumi:"):
            out.append(e)
    return out


def kill_after(repo: FaultRepo, until: Callable[[list[dict]], bool], timeout: float = 300) -> dict:
    """Start a deploy and SIGKILL its whole process tree as soon as `until(step events of its apply)` holds.
    Returns what happened: the steps seen, the last change, whether the kill came before the deploy ended."""
    run = repo.start(*repo.deploy_args())
    end = time.monotonic() + timeout
    steps: list[dict] = []
    hit = False
    while time.monotonic() < end and run.proc.poll() is None:
        steps = up_events(repo, run.proc.pid)
        if until(steps):
            hit = True
            break
        time.sleep(0.02)
    killed = hit and run.proc.poll() is None
    procs = kill_tree(run.proc.pid) if killed else 0
    rc = run.wait(60)
    changes = changing_steps(steps)
    return {"steps": len(steps), "changes": len(changes), "last": describe_step(changes[-1]) if changes else None,
            "killed": killed, "processes": procs, "exit": rc, "stderr": run.stderr}


def after_changes(k: int) -> Callable[[list[dict]], bool]:
    """Kill point: the k-th step event of a changing resource (its operation started, done or failed)."""
    return lambda steps: len(changing_steps(steps)) >= k


def at_step(text: str) -> Callable[[list[dict]], bool]:
    """Kill point: a given step ("start create server-web-2")."""
    return lambda steps: any(describe_step(e) == text for e in steps)


def sweep(conn, prefix: str) -> list[str]:
    """Delete every resource of the project whose name carries `prefix` (what a broken run leaked), in the
    order the cloud accepts; what was deleted. The last resort of a fault run's clean-up, after destroy."""
    pid = conn.current_project_id
    mine = lambda name: (name or "").startswith(prefix)  # noqa: E731
    gone = []
    for s in [s for s in conn.compute.servers() if mine(s.name)]:
        conn.compute.delete_server(s)
        conn.compute.wait_for_delete(s, wait=120)
        gone.append(f"server {s.name}")
    ports = {p.id: p.name for p in conn.network.ports(project_id=pid)}
    for ip in [ip for ip in conn.network.ips(project_id=pid)  # they hold the router interface
               if mine(ports.get(ip.port_id)) or f"of {prefix}" in (ip.description or "")]:
        conn.network.delete_ip(ip)
        gone.append(f"floating IP {ip.floating_ip_address}")
    for r in [r for r in conn.network.routers(project_id=pid) if mine(r.name)]:
        for p in conn.network.ports(device_id=r.id, device_owner="network:router_interface"):
            for ip in p.fixed_ips or []:
                conn.network.remove_interface_from_router(r, subnet_id=ip["subnet_id"])
        conn.network.delete_router(r)
        gone.append(f"router {r.name}")
    for p in [p for p in conn.network.ports(project_id=pid) if mine(p.name)]:
        conn.network.delete_port(p)
        gone.append(f"port {p.name}")
    for v in [v for v in conn.block_storage.volumes() if mine(v.name)]:
        conn.block_storage.wait_for_status(v, "available", failures=["error"], wait=120)
        conn.block_storage.delete_volume(v)
        gone.append(f"volume {v.name}")
    for kind, listing, delete in (("subnet", conn.network.subnets, conn.network.delete_subnet),
                                  ("network", conn.network.networks, conn.network.delete_network),
                                  ("security group", conn.network.security_groups,
                                   conn.network.delete_security_group)):
        for x in [x for x in listing(project_id=pid) if mine(x.name)]:
            delete(x)
            gone.append(f"{kind} {x.name}")
    for g in [g for g in conn.compute.server_groups() if mine(g.name)]:
        conn.compute.delete_server_group(g)
        gone.append(f"server group {g.name}")
    for c in [c for c in conn.object_store.containers() if mine(c.name)]:
        for o in conn.object_store.objects(c.name):
            conn.object_store.delete_object(o, container=c.name)
        conn.object_store.delete_container(c)
        gone.append(f"container {c.name}")
    return gone


__all__ = ["PROJECT", "FaultRepo", "after_changes", "at_step", "kill_after", "kill_tree", "may_lose", "shape",
           "sweep"]
