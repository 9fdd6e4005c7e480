"""Find a cloud resource by what identifies it (its unique name, or its shape for unnamed ones).

Used by recovery to decide whether a create that a killed run left pending reached the cloud. One
finder per resource type, in one table (FINDERS); a type without a finder is never adopted (its
pending create is dropped and the refresh and next deploy settle it). Inputs are the engine's
(camelCase) names, as a pending operation records them.

A lookup that fails (the API errs, times out, cannot be reached) is not "not found": dropping the pending
create then would let the next deploy create the resource a second time beside the orphan. It raises
LookupFailed, and recovery keeps the pending create for the next run.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Mapping

from govcloud.errors import CloudError
from govcloud.plan.resources import (CONTAINER, FLOATING_IP, FLOATING_IP_ASSOCIATE, INSTANCE, KEYPAIR, NETWORK, PORT,
                                     ROUTER, ROUTER_INTERFACE, SECGROUP, SECGROUP_RULE, SERVER_GROUP, SUBNET, VOLUME,
                                     VOLUME_ATTACH)

class LookupFailed(CloudError):
    """The cloud could not say whether a resource exists (exit 3)."""


# finder(conn, inputs, skip) -> the id as the provider records it, or None
Finder = Callable[[Any, Mapping[str, Any], set], "str | None"]


def _first(items: Iterable[Any], skip: set, pred: Callable[[Any], bool] = lambda x: True) -> str | None:
    for item in items:
        if item.id not in skip and pred(item):
            return item.id
    return None


def _by_name(listing: Callable[[Any], Callable[..., Iterable[Any]]]) -> Finder:
    """A Neutron resource found by its unique name."""
    return lambda conn, inputs, skip: _first(listing(conn)(name=inputs.get("name")), skip)


def _same_rule(inputs: Mapping[str, Any]) -> Callable[[Any], bool]:
    def same(r) -> bool:
        return (r.direction == inputs.get("direction") and r.ether_type == inputs.get("ethertype")
                and (r.protocol or "") == (inputs.get("protocol") or "")
                and (r.port_range_min or 0) == (inputs.get("portRangeMin") or 0)
                and (r.port_range_max or 0) == (inputs.get("portRangeMax") or 0)
                and (r.remote_ip_prefix or "") == (inputs.get("remoteIpPrefix") or ""))
    return same


def _secgroup_rule(conn, inputs, skip):
    return _first(conn.network.security_group_rules(security_group_id=inputs.get("securityGroupId")), skip,
                  _same_rule(inputs))


def _router_interface(conn, inputs, skip):
    return _first(conn.network.ports(device_id=inputs.get("routerId")), skip,
                  lambda p: any(ip.get("subnet_id") == inputs.get("subnetId") for ip in p.fixed_ips or []))


def _floating_ip(conn, inputs, skip):
    desc = inputs.get("description")
    return _first(conn.network.ips(description=desc), skip, lambda ip: ip.description == desc)


def _floating_ip_associate(conn, inputs, skip):
    return _first(conn.network.ips(floating_ip_address=inputs.get("floatingIp")), skip,
                  lambda ip: ip.port_id == inputs.get("portId"))


def _instance(conn, inputs, skip):
    name = inputs.get("name")
    return _first(conn.compute.servers(name=f"^{re.escape(str(name))}$"), skip, lambda s: s.name == name)


def _server_group(conn, inputs, skip):
    return _first(conn.compute.server_groups(), skip, lambda g: g.name == inputs.get("name"))


def _keypair(conn, inputs, skip):
    kp = conn.compute.find_keypair(inputs.get("name"))
    return kp.name if kp and kp.name not in skip else None


def _volume(conn, inputs, skip):
    name = inputs.get("name")
    return _first(conn.block_storage.volumes(name=name), skip, lambda v: v.name == name)


def _volume_attach(conn, inputs, skip):
    server, volume = inputs.get("instanceId"), inputs.get("volumeId")
    for a in conn.compute.volume_attachments(server):
        if a.volume_id == volume and f"{server}/{a.id or volume}" not in skip:
            return f"{server}/{a.id or volume}"
    return None


def _container(conn, inputs, skip):
    from openstack import exceptions

    name = inputs.get("name")
    try:
        conn.object_store.get_container_metadata(name)
    except exceptions.NotFoundException:
        return None
    return name if name not in skip else None


FINDERS: Mapping[str, Finder] = {
    NETWORK: _by_name(lambda c: c.network.networks),
    SUBNET: _by_name(lambda c: c.network.subnets),
    ROUTER: _by_name(lambda c: c.network.routers),
    SECGROUP: _by_name(lambda c: c.network.security_groups),
    PORT: _by_name(lambda c: c.network.ports),
    SECGROUP_RULE: _secgroup_rule,
    ROUTER_INTERFACE: _router_interface,
    FLOATING_IP: _floating_ip,
    FLOATING_IP_ASSOCIATE: _floating_ip_associate,
    INSTANCE: _instance,
    SERVER_GROUP: _server_group,
    KEYPAIR: _keypair,
    VOLUME: _volume,
    VOLUME_ATTACH: _volume_attach,
    CONTAINER: _container,
}


def find_in_cloud(conn: Any, rtype: str, inputs: Mapping[str, Any], exclude: Iterable[str] = ()) -> str | None:
    """The id (as the provider records it) of the cloud resource a pending create was making, or None.

    Resources whose id is in `exclude` (already in the state) never match. LookupFailed when the cloud's
    API fails to answer (never taken for "not found").
    """
    finder = FINDERS.get(rtype)
    if finder is None:
        return None
    try:
        return finder(conn, inputs, set(exclude))
    except Exception as exc:  # noqa: BLE001 - openstacksdk, keystoneauth and requests errors alike
        what = inputs.get("name") or rtype.rsplit(":", 1)[-1]
        raise LookupFailed(f"could not look up {what} ({rtype.rsplit(':', 1)[-1]}) in the cloud: "
                           f"{type(exc).__name__}: {' '.join(str(exc).split())}") from None
