"""Find a cloud resource by what identifies it (its unique name, or its shape for unnamed ones).

Used by recovery to decide whether a create that a killed run left pending reached the cloud.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Mapping


from govcloud.plan.resources import CONTAINER, FLOATING_IP, FLOATING_IP_ASSOCIATE, INSTANCE, KEYPAIR, NETWORK, PORT, ROUTER, ROUTER_INTERFACE, SECGROUP, SECGROUP_RULE, SERVER_GROUP, SUBNET, VOLUME, VOLUME_ATTACH






def find_in_cloud(conn: Any, rtype: str, inputs: Mapping[str, Any], exclude: Iterable[str] = ()) -> str | None:
    """The id (as the provider records it) of the cloud resource a pending create was making, or None.

    Resources whose id is in `exclude` (already in the state) never match.
    """
    name = inputs.get("name")
    skip = set(exclude)

    def _one(items: Iterable[Any], pred: Callable[[Any], bool] = lambda x: True) -> str | None:
        for item in items:
            if item.id not in skip and pred(item):
                return item.id
        return None

    try:
        if rtype == NETWORK:
            return _one(conn.network.networks(name=name))
        if rtype == SUBNET:
            return _one(conn.network.subnets(name=name))
        if rtype == ROUTER:
            return _one(conn.network.routers(name=name))
        if rtype == SECGROUP:
            return _one(conn.network.security_groups(name=name))
        if rtype == PORT:
            return _one(conn.network.ports(name=name))
        if rtype == SECGROUP_RULE:
            def same(r):
                return (r.direction == inputs.get("direction") and r.ether_type == inputs.get("ethertype")
                        and (r.protocol or "") == (inputs.get("protocol") or "")
                        and (r.port_range_min or 0) == (inputs.get("portRangeMin") or 0)
                        and (r.port_range_max or 0) == (inputs.get("portRangeMax") or 0)
                        and (r.remote_ip_prefix or "") == (inputs.get("remoteIpPrefix") or ""))
            return _one(conn.network.security_group_rules(security_group_id=inputs.get("securityGroupId")), same)
        if rtype == ROUTER_INTERFACE:
            return _one(conn.network.ports(device_id=inputs.get("routerId")),
                        lambda p: any(ip.get("subnet_id") == inputs.get("subnetId") for ip in p.fixed_ips or []))
        if rtype == FLOATING_IP:
            return _one(conn.network.ips(description=inputs.get("description")),
                        lambda ip: ip.description == inputs.get("description"))
        if rtype == FLOATING_IP_ASSOCIATE:
            return _one(conn.network.ips(floating_ip_address=inputs.get("floatingIp")),
                        lambda ip: ip.port_id == inputs.get("portId"))
        if rtype == INSTANCE:
            return _one(conn.compute.servers(name=f"^{re.escape(str(name))}$"), lambda s: s.name == name)
        if rtype == SERVER_GROUP:
            return _one(conn.compute.server_groups(), lambda g: g.name == name)
        if rtype == KEYPAIR:
            kp = conn.compute.find_keypair(name)
            return kp.name if kp and kp.name not in skip else None
        if rtype == VOLUME:
            return _one(conn.block_storage.volumes(name=name), lambda v: v.name == name)
        if rtype == VOLUME_ATTACH:
            server, volume = inputs.get("instanceId"), inputs.get("volumeId")
            for a in conn.compute.volume_attachments(server):
                if a.volume_id == volume and f"{server}/{a.id or volume}" not in skip:
                    return f"{server}/{a.id or volume}"
            return None
        if rtype == CONTAINER:
            try:
                conn.object_store.get_container_metadata(name)
                return name if name not in skip else None
            except Exception:  # noqa: BLE001 - not found
                return None
    except Exception:  # noqa: BLE001 - a failed lookup means "not found": the refresh and next up settle it
        return None
    return None
