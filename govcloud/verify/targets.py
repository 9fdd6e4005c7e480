"""Which servers to verify, where to reach them and what to expect on them (pure data).

The plan says which instances the manifest asks for (and their volumes with sizes),
the manifest their health checks, the stack outputs what was really deployed (ids,
fixed and floating IPs, volume ids), and the site how to log in (user, key file,
port, bastion). A server with a floating IP is reached directly; one without goes
through the site's bastion. A development site may name an `addressOverride` (a
loopback sshd standing in for servers Nova's fake driver never boots): the route is
the same, only the address differs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from govcloud.load.inventory import Bastion, Site
from govcloud.load.manifest import HealthCheck, Manifest
from govcloud.plan.compile import INSTANCE, VOLUME
from govcloud.plan.model import ResourcePlan
from govcloud.verify.checks import VolumeExpectation
from govcloud.verify.known_hosts import address_name

# the login user of the usual cloud images, by the site's `os:` of the image
DEFAULT_USERS = {"ubuntu": "ubuntu", "debian": "debian", "rocky": "rocky", "almalinux": "almalinux",
                 "centos": "centos", "fedora": "fedora", "cirros": "cirros"}
FALLBACK_USER = "cloud-user"


@dataclass(frozen=True)
class ServerTarget:
    name: str  # the OpenStack name: moe-dev-portal-web-1
    label: str  # web-1
    server_id: str
    host: str  # where to connect (after the site's addressOverride)
    port: int
    user: str
    fixed_ip: str | None = None
    floating_ip: str | None = None
    bastion: Bastion | None = None  # None: direct
    health: HealthCheck | None = None
    volumes: tuple[VolumeExpectation, ...] = ()
    no_route: str = ""  # why the server cannot be reached at all (no public IP and no bastion)

    @property
    def public(self) -> bool:
        return bool(self.floating_ip)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def route(self) -> str:
        b = self.bastion
        return "direct" if b is None else f"via bastion {b.user}@{b.host}:{b.port}"

    def known_as(self) -> list[str]:
        """The names an operator's known_hosts may list the server under."""
        names = [self.name, address_name(self.host, self.port)]
        for ip in (self.floating_ip, self.fixed_ip):
            if ip:
                names.append(address_name(ip, self.port))
        return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Targets:
    servers: tuple[ServerTarget, ...]
    missing: tuple[str, ...]  # planned servers the stack outputs do not have


def server_targets(manifest: Manifest, plan: ResourcePlan, outputs: Mapping[str, Any], site: Site,
                   user: str | None = None) -> Targets:
    """Every planned server that the stack has, in plan order; `user` overrides the site's."""
    deployed: Mapping[str, Any] = outputs.get("servers") or {}
    out_volumes: Mapping[str, Any] = outputs.get("volumes") or {}
    health = {s.name: s.health_check for s in manifest.spec.servers}
    by_instance: dict[str, list[VolumeExpectation]] = {}
    for r in plan.resources:
        if r.type == VOLUME:
            inst = str(r.inputs.get("metadata", {}).get("govcloud:server", ""))
            vol_id = str((out_volumes.get(r.name) or {}).get("id") or "")
            part = r.key.removeprefix(f"volume-{inst}-")
            by_instance.setdefault(inst, []).append(VolumeExpectation(part, int(r.inputs["size"]), vol_id))
    access = site.ssh
    found, missing = [], []
    for r in plan.resources:
        if r.type != INSTANCE:
            continue
        label = r.key.removeprefix("server-")
        out = deployed.get(r.name)
        if not out:
            missing.append(r.name)
            continue
        meta = r.inputs.get("metadata", {})
        image = site.images.get(str(meta.get("govcloud:image", "")))
        login = user or access.user or DEFAULT_USERS.get(image.os if image else "", FALLBACK_USER)
        floating, fixed = out.get("floatingIp") or None, out.get("fixedIp") or None
        bastion = None if floating else access.bastion
        no_route = "" if floating or bastion or access.address_override else \
            f"{r.name} has no public IP and site {site.name} has no bastion (inventory: ssh.bastion)"
        host = floating or fixed or ""
        port = access.port
        if access.address_override is not None:
            host, port = access.address_override.host, access.address_override.port
        found.append(ServerTarget(name=r.name, label=label, server_id=str(out.get("id") or ""), host=host,
                                  port=port, user=login, fixed_ip=fixed, floating_ip=floating, bastion=bastion,
                                  health=health.get(str(meta.get("govcloud:server", ""))),
                                  volumes=tuple(by_instance.get(label, ())), no_route=no_route))
    return Targets(tuple(found), tuple(missing))
