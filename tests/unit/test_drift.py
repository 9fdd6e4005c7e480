"""Security group rules added outside govcloud: found from the state and Neutron's rule list."""
from __future__ import annotations

from types import SimpleNamespace

import click

from govcloud.cli import cli
from govcloud.plan.compile import SECGROUP, SECGROUP_RULE, VOLUME
from govcloud.cloud.drift import managed_groups, unmanaged_rules

URN = "urn:pulumi:portal-dev::govcloud-moe::{}::{}"
STATE = [
    {"type": SECGROUP, "id": "sg-1", "urn": URN.format(SECGROUP, "secgroup")},
    {"type": SECGROUP_RULE, "id": "r-ssh", "urn": URN.format(SECGROUP_RULE, "secgroup-ingress-ssh")},
    {"type": SECGROUP_RULE, "id": "r-egress", "urn": URN.format(SECGROUP_RULE, "secgroup-egress-ipv4")},
    {"type": VOLUME, "id": "vol-1", "urn": URN.format(VOLUME, "volume-web-1-data")},
]


def neutron(rules_by_group):
    seen = []

    def list_rules(group_id):
        seen.append(group_id)
        return rules_by_group.get(group_id, [])

    return list_rules, seen


def test_managed_groups_and_rules_come_from_the_state():
    groups, rules = managed_groups(STATE)
    assert groups == {"sg-1": "secgroup"}
    assert rules == {"r-ssh", "r-egress"}


def test_a_rule_added_by_hand_is_reported_and_managed_ones_are_not():
    added = {"id": "r-rdp", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
             "port_range_min": 3389, "port_range_max": 3389, "remote_ip_prefix": "0.0.0.0/0"}
    list_rules, seen = neutron({"sg-1": [{"id": "r-ssh"}, {"id": "r-egress"}, added]})
    (rule,) = unmanaged_rules(STATE, list_rules)
    assert seen == ["sg-1"]  # only the stack's own groups are read
    assert (rule.secgroup_key, rule.rule_id, rule.port_min, rule.remote) == ("secgroup", "r-rdp", 3389, "0.0.0.0/0")
    assert rule.describe() == "ingress tcp 3389 from 0.0.0.0/0 (IPv4, rule r-rdp)"
    assert rule.to_json()["text"] == rule.describe()


def test_openstacksdk_objects_port_ranges_and_any_protocol():
    objs = [SimpleNamespace(id="r-ssh"),
            SimpleNamespace(id="r-web", direction="ingress", ether_type="IPv6", protocol="tcp",
                            port_range_min=8000, port_range_max=8099, remote_ip_prefix=None, remote_group_id="sg-9"),
            SimpleNamespace(id="r-all", direction="egress", ether_type="IPv4", protocol=None,
                            port_range_min=None, port_range_max=None, remote_ip_prefix=None, remote_group_id=None)]
    list_rules, _ = neutron({"sg-1": objs})
    texts = [r.describe() for r in unmanaged_rules(STATE, list_rules)]
    assert texts == ["ingress tcp 8000-8099 from group sg-9 (IPv6, rule r-web)",
                     "egress any to anywhere (IPv4, rule r-all)"]


def test_no_drift_when_neutron_holds_only_managed_rules():
    list_rules, _ = neutron({"sg-1": [{"id": "r-ssh"}, {"id": "r-egress"}]})
    assert unmanaged_rules(STATE, list_rules) == []


def test_refresh_has_a_check_mode():
    opts = {o for p in cli.get_command(None, "refresh").params if isinstance(p, click.Option) for o in p.opts}
    assert "--check" in opts
