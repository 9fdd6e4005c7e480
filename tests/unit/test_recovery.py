"""Recovery after a killed run (govcloud.engine.recovery + cloud.lookup), with a fake state CLI and cloud.

A pending create that reached the cloud is adopted with its cloud id (neither orphaned nor created twice);
one that did not is dropped; other pending operations are dropped; a refresh must follow either way.
"""
from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest

from govcloud.cloud import lookup
from govcloud.config import ConfigRepo
from govcloud.engine import recovery
from govcloud.plan.resources import NETWORK, SECGROUP_RULE, VOLUME
from govcloud.check import Workspace

from ..conftest import EXAMPLES

URN = "urn:pulumi:citizen-portal-dev::govcloud-moe::{}::{}"


class FakeCli:
    def __init__(self, deployment):
        self.deployment = deployment
        self.imported = None

    def export(self):
        return copy.deepcopy(self.deployment)

    def import_(self, dep):
        self.imported = dep


class FakeNetworkApi:
    def __init__(self, networks=(), rules=()):
        self._networks, self._rules = list(networks), list(rules)

    def networks(self, name=None):
        return [n for n in self._networks if n.name == name]

    def security_group_rules(self, security_group_id=None):
        return [r for r in self._rules if r.security_group_id == security_group_id]


def _pending(type_, key, inputs, kind="creating"):
    return {"type": kind, "resource": {"urn": URN.format(type_, key), "type": type_, "custom": True,
                                       "inputs": inputs}}


@pytest.fixture
def plan(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE_DIR", str(tmp_path / "state"))
    path = EXAMPLES / "devcloud" / "citizen-portal.yaml"
    return Workspace(ConfigRepo(None)).plan(path)


def test_a_create_that_reached_the_cloud_is_adopted_with_its_id(plan, monkeypatch):
    net = SimpleNamespace(id="net-123", name="moe-dev-citizen-portal-net")
    conn = SimpleNamespace(network=FakeNetworkApi(networks=[net]))
    monkeypatch.setattr(recovery, "connect", lambda *a, **k: conn)
    cli = FakeCli({"version": 3, "deployment": {"resources": [], "pending_operations": [
        _pending(NETWORK, "network", {"name": net.name}),
        _pending(VOLUME, "volume-web-1-data", {"name": "moe-dev-citizen-portal-web-1-data"}),
        _pending(NETWORK, "network-old", {"name": "x"}, kind="deleting")]}})
    rec = recovery.recover(plan, ConfigRepo(None), cli)
    assert rec.needs_refresh
    dep = cli.imported["deployment"]
    assert dep["pending_operations"] == []
    assert [(r["urn"].rsplit("::", 1)[1], r["id"]) for r in dep["resources"]] == [("network", "net-123")]
    assert any("adopted into the state, not created again" in n for n in rec.notes)
    assert any("volume-web-1-data: the interrupted run had not created it" in n for n in rec.notes)
    assert any("dropped the pending 'deleting'" in n for n in rec.notes)


def test_nothing_pending_changes_nothing(plan, monkeypatch):
    monkeypatch.setattr(recovery, "connect", lambda *a, **k: pytest.fail("no cloud call without pending creates"))
    cli = FakeCli({"version": 3, "deployment": {"resources": []}})
    rec = recovery.recover(plan, ConfigRepo(None), cli)
    assert not rec.needs_refresh and cli.imported is None


def test_a_rule_is_found_by_its_shape_and_tracked_ids_never_match():
    rule = SimpleNamespace(id="r-1", security_group_id="sg-1", direction="ingress", ether_type="IPv4",
                           protocol="tcp", port_range_min=443, port_range_max=443, remote_ip_prefix="0.0.0.0/0")
    conn = SimpleNamespace(network=FakeNetworkApi(rules=[rule]))
    inputs = {"securityGroupId": "sg-1", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
              "portRangeMin": 443, "portRangeMax": 443, "remoteIpPrefix": "0.0.0.0/0"}
    assert lookup.find_in_cloud(conn, SECGROUP_RULE, inputs) == "r-1"
    assert lookup.find_in_cloud(conn, SECGROUP_RULE, {**inputs, "portRangeMin": 22, "portRangeMax": 22}) is None
    assert lookup.find_in_cloud(conn, SECGROUP_RULE, inputs, exclude=["r-1"]) is None


def test_every_planned_type_has_a_finder_and_a_failing_api_means_not_found():
    from govcloud.plan.resources import RESOURCE_TYPES

    assert set(lookup.FINDERS) == set(RESOURCE_TYPES)
    broken = SimpleNamespace(network=SimpleNamespace(networks=lambda **k: 1 / 0))
    assert lookup.find_in_cloud(broken, NETWORK, {"name": "x"}) is None
