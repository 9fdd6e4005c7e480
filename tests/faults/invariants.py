"""The invariants every fault scenario and kill trial must end with, checked against the real cloud.

After the next plain `govcloud deploy` (or `destroy`), whatever happened before:

- no orphan: every resource in the project that carries the service's name prefix (its name, its
  description for floating IPs; rules of its security groups, interfaces of its router, attachments of
  its volumes) is in the stack's state;
- no duplicate: no two resources of a kind share a name (or a rule its shape);
- nothing dangling: every cloud resource the state records exists (a lost volume shows up here);
- no pending operation: `govcloud status` reports none and no engine lock, and the checkpoint holds none;
- an empty follow-up preview: `govcloud diff --format json` lists no change;
- no volume or bucket lost: each volume and bucket that existed before keeps its id, unless the change
  deleted or replaced it on purpose.

The cloud is read through openstacksdk against the real APIs (never through the fault proxy), as the
admin of the dev cloud scoped to the agency project.
"""
from __future__ import annotations

import collections
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from govcloud.plan.resources import (CONTAINER, FLOATING_IP, INSTANCE, NETWORK, PORT, ROUTER, ROUTER_INTERFACE,
                                     SECGROUP, SECGROUP_RULE, SERVER_GROUP, SUBNET, VOLUME, VOLUME_ATTACH)

# inventory kind -> the state's resource type whose ids it must match
KIND_TYPES = {"server": INSTANCE, "volume": VOLUME, "port": PORT, "network": NETWORK, "subnet": SUBNET,
              "router": ROUTER, "router-interface": ROUTER_INTERFACE, "secgroup": SECGROUP, "rule": SECGROUP_RULE,
              "floating-ip": FLOATING_IP, "server-group": SERVER_GROUP, "container": CONTAINER,
              "attachment": VOLUME_ATTACH}


def cloud_inventory(conn, prefix: str) -> dict[str, list[tuple[str, str]]]:
    """Every resource of the project that belongs to the service with this name prefix: kind -> [(name, id)].
    Rules are named by their shape, attachments by server/volume (the provider's id), router interfaces by
    their router."""
    pid = conn.current_project_id
    mine = lambda name: (name or "").startswith(prefix)  # noqa: E731
    sgs = [g for g in conn.network.security_groups(project_id=pid) if mine(g.name)]
    routers = [r for r in conn.network.routers(project_id=pid) if mine(r.name)]
    volumes = [v for v in conn.block_storage.volumes() if mine(v.name)]
    return {
        "server": [(s.name, s.id) for s in conn.compute.servers() if mine(s.name)],
        "volume": [(v.name, v.id) for v in volumes],
        "port": [(p.name, p.id) for p in conn.network.ports(project_id=pid) if mine(p.name)],
        "network": [(n.name, n.id) for n in conn.network.networks(project_id=pid) if mine(n.name)],
        "subnet": [(n.name, n.id) for n in conn.network.subnets(project_id=pid) if mine(n.name)],
        "router": [(r.name, r.id) for r in routers],
        "router-interface": [(f"{r.name}/{ip.get('subnet_id')}", p.id) for r in routers
                             for p in conn.network.ports(device_id=r.id, device_owner="network:router_interface")
                             for ip in p.fixed_ips or []],
        "secgroup": [(g.name, g.id) for g in sgs],
        "rule": [(f"{g.name}/{r.direction}/{r.ether_type}/{r.protocol}/{r.port_range_min}/{r.remote_ip_prefix}",
                  r.id) for g in sgs for r in conn.network.security_group_rules(security_group_id=g.id)],
        "floating-ip": [(f.description, f.id) for f in conn.network.ips(project_id=pid)
                        if f"{prefix}-" in (f.description or "")],
        "server-group": [(g.name, g.id) for g in conn.compute.server_groups() if mine(g.name)],
        "container": [(c.name, c.name) for c in conn.object_store.containers() if mine(c.name)],
        "attachment": [(f"{v.name}@{a['server_id']}", f"{a['server_id']}/{v.id}") for v in volumes
                       for a in v.attachments or []],
    }


def state_ids(resources: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """type -> {id: key} of the (live) state resources."""
    out: dict[str, dict[str, str]] = collections.defaultdict(dict)
    for r in resources:
        if r.get("id") and not r.get("delete"):
            out[r["type"]][r["id"]] = r["urn"].rsplit("::", 1)[-1]
    return out


@dataclass
class Findings:
    """What one invariant check found (all empty: every invariant holds)."""

    orphans: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    dangling: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    preview_changes: list[str] = field(default_factory=list)
    volumes_lost: list[str] = field(default_factory=list)
    buckets_lost: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(vars(self).values())

    def __str__(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in vars(self).items() if v) or "every invariant holds"


def data_ids(inventory: Mapping[str, list[tuple[str, str]]]) -> dict[str, str]:
    """name -> id of the volumes and buckets (what 'nothing lost' compares)."""
    return {name: id_ for kind in ("volume", "container") for name, id_ in inventory[kind]}


def check(conn, repo, *, data_before: Mapping[str, str] | None = None, may_lose: Iterable[str] = (),
          diff: bool = True) -> tuple[Findings, dict]:
    """Check every invariant for the stack of `repo` (a stackrepo.Repo: its CLI runs in its config repo);
    `data_before`: data_ids() of an earlier inventory; `may_lose`: names of volumes and buckets the change
    deletes or replaces on purpose. Returns the findings and the cloud inventory."""
    found = Findings()
    inv = cloud_inventory(conn, repo.prefix)
    state = state_ids(repo.checkpoint().get("resources") or []) if repo.state_file().exists() else {}
    for kind, items in inv.items():
        dups = {n: c for n, c in collections.Counter(n for n, _ in items).items() if c > 1}
        found.duplicates += [f"{kind} {n} x{c}" for n, c in dups.items()]
        known = state.get(KIND_TYPES[kind], {})
        found.orphans += [f"{kind} {n} ({i})" for n, i in items if i not in known]
        in_cloud = {i for _, i in items}
        found.dangling += [f"{kind} {key} ({i})" for i, key in known.items() if i not in in_cloud]

    status = repo.run("status", repo.manifest, "--format", "json")
    if status.returncode != 0 or "Traceback" in status.stderr:
        found.pending.append(f"status exited {status.returncode}: {status.stderr.strip()[-300:]}")
    else:
        st = json.loads(status.stdout)
        if st["pendingOperations"]:
            found.pending.append(f"{st['pendingOperations']} pending operations")
        found.pending += [f"engine lock {lk}" for lk in st["locks"]]
    if repo.state_file().exists() and repo.checkpoint().get("pending_operations"):
        found.pending.append("pending operations in the checkpoint")

    if diff and repo.state_file().exists():
        r = repo.run("diff", repo.manifest, "--format", "json")
        if r.returncode != 0 or "Traceback" in r.stderr:
            found.preview_changes.append(f"diff exited {r.returncode}: {r.stderr.strip()[-300:]}")
        else:
            found.preview_changes += [f"{c['op']} {c['key']}" for c in json.loads(r.stdout)["changes"]
                                      if c["op"] != "same"]

    allowed = set(may_lose)
    now = data_ids(inv)
    for name, id_ in (data_before or {}).items():
        if name in allowed or now.get(name) == id_:
            continue
        lost = found.buckets_lost if name == id_ else found.volumes_lost  # a container's id is its name
        lost.append(f"{name} ({id_} -> {now.get(name, 'gone')})")
    return found, inv
