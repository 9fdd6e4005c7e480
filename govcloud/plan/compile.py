"""Compile a checked Manifest for a site into a ResourcePlan (pure, offline).

One PlannedResource per OpenStack resource deploy will create, named
`<agency>-<env>-<service>-<part>` and labelled with agency, service,
environment, cost center, classification and the govcloud version.
Servers are numbered from 1 (`web-1`, `web-2`) so that growing a count
adds servers without renaming the existing ones.
"""
from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType
from typing import Any, Callable

from govcloud import __version__
from govcloud.config import ConfigRepo
from govcloud.errors import SourceLocation
from govcloud.load.inventory import Agency, Site
from govcloud.load.manifest import Bucket, Manifest, Network, Server
from govcloud.plan.model import Lookup, PlannedResource, Ref, ResourcePlan, ServiceRef, planned_resource
from govcloud.plan.resources import (CONTAINER, FLOATING_IP, FLOATING_IP_ASSOCIATE, INSTANCE, KEYPAIR, NETWORK, PORT,
                                     RESOURCE_TYPES, ROUTER, ROUTER_INTERFACE, SECGROUP, SECGROUP_RULE, SERVER_GROUP,
                                     SUBNET, VOLUME, VOLUME_ATTACH, resource_type)
from govcloud.plan.userdata import render_user_data


_freeze = MappingProxyType
_NO_METERS: MappingProxyType = MappingProxyType({})  # shared by the resources that meter nothing (most of them)
_STATEFUL = {t: rt.stateful for t, rt in RESOURCE_TYPES.items()}
# Refs are immutable: every plan shares these
_NETWORK, _SUBNET, _ROUTER, _SECGROUP, _KEYPAIR_NAME = (Ref("network"), Ref("subnet"), Ref("router"),
                                                       Ref("secgroup"), Ref("keypair", "name"))


def service_tags(manifest: Manifest) -> dict[str, str]:
    md = manifest.metadata
    tags = {
        "govcloud:agency": md.agency,
        "govcloud:service": md.name,
        "govcloud:environment": md.environment,
        "govcloud:classification": md.classification,
        "govcloud:version": __version__,
    }
    if md.cost_center:
        tags["govcloud:cost-center"] = md.cost_center
    if md.owner:
        tags["govcloud:owner"] = md.owner
    return tags


Add = Callable[..., str]  # compile_plan's `add`: records one planned resource, returns its key


def compile_plan(manifest: Manifest, site: Site, agency: Agency, config: ConfigRepo,
                 locate: Callable[..., SourceLocation] | None = None, manifest_file: str = "") -> ResourcePlan:
    md, spec = manifest.metadata, manifest.spec
    svc = ServiceRef(agency=md.agency, environment=md.environment, service=md.name, site=site.name,
                     cloud=site.cloud, region=site.region, project=agency.project)
    prefix = svc.prefix
    tags = service_tags(manifest)
    tag_list = [f"{k}={v}" for k, v in tags.items()]  # Neutron tags are plain strings
    out: list[PlannedResource] = []

    def add(key: str, type_: str, part: str, inputs: dict[str, Any], source: str, *,
            meters: dict[str, Decimal] | None = None, depends_on: tuple[str, ...] = (), named: bool = True) -> str:
        """Record one resource; `named` ones carry their OpenStack name as the `name` input (first)."""
        name = f"{prefix}-{part}"
        if named:
            inputs = {"name": name, **inputs}
        stateful = _STATEFUL.get(type_)
        out.append(planned_resource(key, type_, name, _freeze(inputs), source,
                                    resource_type(type_).stateful if stateful is None else stateful, depends_on,
                                    _freeze(meters) if meters else _NO_METERS))
        return key

    _networking(add, spec.network, site, prefix, tag_list)
    if spec.ssh_public_key:
        add("keypair", KEYPAIR, "key", {"public_key": spec.ssh_public_key}, "spec.sshPublicKey")
    for si, server in enumerate(spec.servers):  # compute and block storage
        _server(add, si, server, manifest, site, config, locate, prefix, tags, tag_list)
    for bi, bucket in enumerate(spec.buckets):  # object storage
        _bucket(add, bi, bucket, tags)

    return ResourcePlan(service=svc, resources=tuple(out), tags=_freeze(tags), manifest_file=manifest_file,
                        govcloud_version=__version__)


def _networking(add: Add, network: Network, site: Site, prefix: str, tag_list: list[str]) -> None:
    """The network, its subnet, the router to the site's external network and its interface, the security
    group with its egress and ingress rules."""
    add("network", NETWORK, "net", {"admin_state_up": True, "tags": tag_list}, "spec.network")
    # the version follows the CIDR (the manifest model admits IPv4 subnets only, today)
    ip_version = 6 if ":" in network.cidr else 4
    add("subnet", SUBNET, "subnet", {"network_id": _NETWORK, "cidr": network.cidr,
                                     "ip_version": ip_version, "enable_dhcp": True, "tags": tag_list},
        "spec.network.cidr")
    add("router", ROUTER, "router", {"admin_state_up": True, "tags": tag_list,
                                     "external_network_id": Lookup("network", site.external_network)},
        "spec.network")
    add("router-interface", ROUTER_INTERFACE, "router-if", {"router_id": _ROUTER, "subnet_id": _SUBNET},
        "spec.network", named=False)
    add("secgroup", SECGROUP, "sg", {"description": f"ingress of {prefix} (managed by govcloud)",
                                     "delete_default_rules": True, "tags": tag_list}, "spec.network.ingress")
    for ethertype in ("IPv4", "IPv6"):
        add(f"secgroup-egress-{ethertype.lower()}", SECGROUP_RULE, f"sg-egress-{ethertype.lower()}",
            {"security_group_id": _SECGROUP, "direction": "egress", "ethertype": ethertype,
             "description": "default egress (govcloud)"}, "spec.network", named=False)
    for i, rule in enumerate(network.ingress):
        inputs: dict[str, Any] = {
            "security_group_id": _SECGROUP, "direction": "ingress",
            "ethertype": "IPv6" if ":" in rule.from_ else "IPv4", "protocol": rule.protocol,
            "remote_ip_prefix": rule.from_, "description": f"{rule.name} (govcloud)",
        }
        if rule.protocol != "icmp":
            inputs["port_range_min"] = rule.port
            inputs["port_range_max"] = rule.port_max or rule.port
        add(f"secgroup-ingress-{rule.name}", SECGROUP_RULE, f"sg-{rule.name}", inputs,
            f"spec.network.ingress[{i}]", named=False)


def _server(add: Add, si: int, server: Server, manifest: Manifest, site: Site, config: ConfigRepo,
            locate: Callable[..., SourceLocation] | None, prefix: str, tags: dict[str, str],
            tag_list: list[str]) -> None:
    """One server entry: its server group and user data, and per instance a port, the server, its volumes
    and their attachments, and its floating IP."""
    md, spec = manifest.metadata, manifest.spec
    src = f"spec.servers[{si}]"
    size = site.sizes[server.size]
    image = site.images[server.image]
    # every server entry gets its group, even with one server: the group is a
    # scheduler hint fixed at boot, so adding it when the count grows from 1
    # to 2 would replace the server that exists
    group_key = add(f"server-group-{server.name}", SERVER_GROUP, f"{server.name}-group",
                    {"policies": site.server_group_policy}, src)
    # one user data per server entry, shared by its instances: growing the
    # count never changes the servers that exist (cloud-init takes the
    # hostname from the instance name; the index is in the metadata)
    user_data = render_user_data(config, server.role, {
        "server": server.name, "role": server.role, "agency": md.agency,
        "service": md.name, "environment": md.environment, "classification": md.classification,
        "os": image.os, "health_check": server.health_check.model_dump() if server.health_check else None,
        "volumes": [v.name for v in server.volumes],
    }, (lambda: locate(("spec", "servers", si, "role"))) if locate else (lambda: None), f"{src}.role")
    for n in range(1, server.count + 1):
        inst = f"{server.name}-{n}"
        port_key = add(f"port-{inst}", PORT, f"{inst}-port", {
            "network_id": _NETWORK, "admin_state_up": True,
            "fixed_ips": [{"subnet_id": _SUBNET}],
            "security_group_ids": [_SECGROUP], "tags": tag_list,
        }, src, depends_on=("router-interface",))
        metadata = {**tags, "govcloud:server": server.name, "govcloud:index": str(n),
                    "govcloud:role": server.role, "govcloud:size": server.size, "govcloud:image": server.image}
        inputs = {
            "flavor_name": size.flavor, "image_name": image.image,
            "networks": [{"port": Ref(port_key)}], "metadata": metadata, "user_data": user_data,
        }
        if spec.ssh_public_key:
            inputs["key_pair"] = _KEYPAIR_NAME
        inputs["scheduler_hints"] = [{"group": Ref(group_key)}]
        # the port waits for the router interface, and the server for its port: booted before its subnet
        # is on the router, a server may find no metadata service (Neutron serves it from the router's
        # namespace unless the DHCP agent's isolated metadata is on). Not the server itself, with the port
        # made early: side by side on the dev cloud that was no faster, and 5 of its 14 first deploys
        # were 5-8 s slower, against 1 of 14 this way (benchmarks/README.md, 2026-12-04)
        server_key = add(f"server-{inst}", INSTANCE, inst, inputs, src, meters={
            "vcpu": Decimal(size.vcpus), "ramGb": Decimal(size.ram_mb) / 1024})
        for vi, vol in enumerate(server.volumes):
            vsrc = f"{src}.volumes[{vi}]"
            vtype = site.volume_types[vol.type]
            vol_key = add(f"volume-{inst}-{vol.name}", VOLUME, f"{inst}-{vol.name}", {
                "size": vol.size_gb, "volume_type": vtype.name, "metadata": {**tags, "govcloud:server": inst},
                "description": f"{vol.name} of {prefix}-{inst} (govcloud)",
                # growing a volume extends it in place, attached (a shrink replaces it: the guard's case)
                "enable_online_resize": True,
            }, vsrc, meters={"volumeGb": Decimal(vol.size_gb)})
            add(f"attach-{inst}-{vol.name}", VOLUME_ATTACH, f"{inst}-{vol.name}-attach",
                {"instance_id": Ref(server_key), "volume_id": Ref(vol_key)}, vsrc, named=False)
        if server.public_ip:
            fip_key = add(f"floating-ip-{inst}", FLOATING_IP, f"{inst}-fip", {
                "pool": site.external_network, "description": f"public IP of {prefix}-{inst} (govcloud)",
                "tags": tag_list}, f"{src}.publicIp", meters={"floatingIp": Decimal(1)}, named=False)
            add(f"floating-ip-assoc-{inst}", FLOATING_IP_ASSOCIATE, f"{inst}-fip-assoc", {
                "floating_ip": Ref(fip_key, "address"), "port_id": Ref(port_key)},
                f"{src}.publicIp", depends_on=("router-interface",), named=False)


def _bucket(add: Add, bi: int, bucket: Bucket, tags: dict[str, str]) -> None:
    """One Swift container, its quota and public read in its metadata."""
    inputs = {"metadata": {**{k.replace(":", "-"): v for k, v in tags.items()},
                           "Quota-Bytes": str(bucket.quota_gb * 1024 ** 3)}}
    if bucket.public:
        inputs["container_read"] = ".r:*,.rlistings"
    add(f"bucket-{bucket.name}", CONTAINER, bucket.name, inputs, f"spec.buckets[{bi}]",
        meters={"bucketGb": Decimal(bucket.quota_gb)})

