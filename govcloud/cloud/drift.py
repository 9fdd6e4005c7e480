"""Drift the engine cannot see: security group rules added outside govcloud.

A Pulumi refresh reads back the resources in the state; a rule someone adds to a managed security group in
the dashboard is not one of them, so it would never show. govcloud creates its groups with the default
rules deleted and manages every rule itself, so any rule in a managed group that the state does not hold
was added by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from govcloud.plan.compile import SECGROUP, SECGROUP_RULE
from govcloud.engine.events import urn_parts


@dataclass(frozen=True, slots=True)
class UnmanagedRule:
    """A rule in a govcloud security group that no govcloud resource created."""

    secgroup_key: str  # the plan key of the group ("secgroup")
    rule_id: str
    direction: str
    ethertype: str
    protocol: str | None
    port_min: int | None
    port_max: int | None
    remote: str | None  # an address prefix, "group <id>", or None (any)

    def describe(self) -> str:
        ports = ("" if self.port_min is None else
                 f" {self.port_min}" if self.port_min == self.port_max else f" {self.port_min}-{self.port_max}")
        where = "from" if self.direction == "ingress" else "to"
        return (f"{self.direction} {self.protocol or 'any'}{ports} {where} {self.remote or 'anywhere'} "
                f"({self.ethertype}, rule {self.rule_id})")

    def to_json(self) -> dict:
        return {"secgroup": self.secgroup_key, "ruleId": self.rule_id, "direction": self.direction,
                "ethertype": self.ethertype, "protocol": self.protocol, "portMin": self.port_min,
                "portMax": self.port_max, "remote": self.remote, "text": self.describe()}


def managed_groups(resources: Iterable[Mapping[str, Any]]) -> tuple[dict[str, str], set[str]]:
    """({security group id: plan key}, {managed rule ids}) from a stack's state resources."""
    groups: dict[str, str] = {}
    rules: set[str] = set()
    for r in resources:
        rid = str(r.get("id") or "")
        if not rid:
            continue
        if r.get("type") == SECGROUP:
            groups[rid] = urn_parts(str(r.get("urn", "")))[1]
        elif r.get("type") == SECGROUP_RULE:
            rules.add(rid)
    return groups, rules


def unmanaged_rules(resources: Iterable[Mapping[str, Any]], list_rules) -> list[UnmanagedRule]:
    """Rules of the state's security groups that the state does not hold.

    `list_rules(group_id)` returns the group's rules as Neutron gives them (openstacksdk objects or dicts).
    """
    groups, managed = managed_groups(list(resources))
    out = []
    for group_id, key in sorted(groups.items(), key=lambda kv: kv[1]):
        for rule in list_rules(group_id):
            get = rule.get if isinstance(rule, Mapping) else (lambda name, r=rule: getattr(r, name, None))
            rid = str(get("id"))
            if rid in managed:
                continue
            remote = get("remote_ip_prefix") or (f"group {get('remote_group_id')}" if get("remote_group_id")
                                                 else None)
            out.append(UnmanagedRule(key, rid, str(get("direction")), str(get("ether_type") or get("ethertype")),
                                     get("protocol"), get("port_range_min"), get("port_range_max"), remote))
    return out


def unmanaged_rules_in_cloud(plan, deployment) -> list[UnmanagedRule]:
    """unmanaged_rules() against the plan's cloud, through openstacksdk."""
    from govcloud.cloud.credentials import connect
    from govcloud.engine.stack import deployed_resources

    resources = deployed_resources(deployment)
    if not any(r.get("type") == SECGROUP for r in resources):
        return []
    conn = connect(plan.service.cloud, plan.service.project, plan.service.region)
    try:
        return unmanaged_rules(resources, lambda gid: list(conn.network.security_group_rules(
            security_group_id=gid)))
    finally:
        conn.close()
