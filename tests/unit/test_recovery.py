"""Recovery after a killed run (govcloud.engine.recovery + cloud.lookup), with a fake state CLI and cloud.

A pending create that reached the cloud is adopted with its cloud id (neither orphaned nor created twice);
one that did not is dropped; other pending operations are dropped; a refresh must follow either way. A
lookup the cloud fails to answer changes nothing; a replacement's new half is adopted and the old one
marked for deletion; a create the engine reports as failed is remembered as pending (the fault-injection
e2e test found each of these on the dev cloud: tests/e2e/test_faults.py).
"""
from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest

from govcloud.cloud import lookup
from govcloud.config import ConfigRepo
from govcloud.engine import recovery
from govcloud.plan.resources import CONTAINER, INSTANCE, NETWORK, SECGROUP_RULE, VOLUME
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


class FakeVolumeApi:
    def __init__(self, volumes=()):
        self._volumes = list(volumes)

    def volumes(self, name=None):
        return [v for v in self._volumes if v.name == name]


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
    conn = SimpleNamespace(network=FakeNetworkApi(networks=[net]), block_storage=FakeVolumeApi())
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


def test_a_resource_created_without_finishing_is_refreshed_not_updated(plan, monkeypatch):
    # found under the fault proxy: a 429 on the read-back after Nova attached a volume left the attachment
    # with initErrors, and every later deploy failed with "doesn't support update"
    monkeypatch.setattr(recovery, "connect", lambda *a, **k: pytest.fail("nothing to look up"))
    attach = {"urn": URN.format("openstack:compute/volumeAttach:VolumeAttach", "attach-web-2-data"),
              "type": "openstack:compute/volumeAttach:VolumeAttach", "id": "srv/vol",
              "initErrors": ["Error retrieving openstack_compute_volume_attach_v2 srv/vol: 429"]}
    cli = FakeCli({"version": 3, "deployment": {"resources": [attach]}})
    rec = recovery.recover(plan, ConfigRepo(None), cli)
    assert rec.needs_refresh and cli.imported is None
    assert rec.notes == ("attach-web-2-data: a failed run created it without finishing; the refresh reads it back",)


def test_a_rule_is_found_by_its_shape_and_tracked_ids_never_match():
    rule = SimpleNamespace(id="r-1", security_group_id="sg-1", direction="ingress", ether_type="IPv4",
                           protocol="tcp", port_range_min=443, port_range_max=443, remote_ip_prefix="0.0.0.0/0")
    conn = SimpleNamespace(network=FakeNetworkApi(rules=[rule]))
    inputs = {"securityGroupId": "sg-1", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
              "portRangeMin": 443, "portRangeMax": 443, "remoteIpPrefix": "0.0.0.0/0"}
    assert lookup.find_in_cloud(conn, SECGROUP_RULE, inputs) == "r-1"
    assert lookup.find_in_cloud(conn, SECGROUP_RULE, {**inputs, "portRangeMin": 22, "portRangeMax": 22}) is None
    assert lookup.find_in_cloud(conn, SECGROUP_RULE, inputs, exclude=["r-1"]) is None


def test_every_planned_type_has_a_finder_and_a_failing_api_is_never_taken_for_not_found():
    from govcloud.plan.resources import RESOURCE_TYPES

    assert set(lookup.FINDERS) == set(RESOURCE_TYPES)
    broken = SimpleNamespace(network=SimpleNamespace(networks=lambda **k: 1 / 0))
    with pytest.raises(lookup.LookupFailed, match=r"could not look up x \(Network\).*ZeroDivisionError"):
        lookup.find_in_cloud(broken, NETWORK, {"name": "x"})
    assert lookup.find_in_cloud(broken, "openstack:dns/zone:Zone", {"name": "x"}) is None  # no finder


def test_a_container_is_not_found_only_when_swift_says_so():
    from openstack import exceptions

    def metadata(error):
        def get(name):
            raise error
        return SimpleNamespace(object_store=SimpleNamespace(get_container_metadata=get))

    assert lookup.find_in_cloud(metadata(exceptions.NotFoundException("404")), CONTAINER, {"name": "b"}) is None
    with pytest.raises(lookup.LookupFailed, match="HttpException"):
        lookup.find_in_cloud(metadata(exceptions.HttpException("503 Service Unavailable")), CONTAINER, {"name": "b"})


def test_a_lookup_the_cloud_cannot_answer_changes_nothing(plan, monkeypatch):
    # before: a failed lookup meant "not created", the pending create was dropped, and the next deploy
    # created a second server beside the one the killed run had made
    failing = SimpleNamespace(compute=SimpleNamespace(servers=lambda **k: (_ for _ in ()).throw(
        ConnectionResetError(104, "Connection reset by peer"))))
    monkeypatch.setattr(recovery, "connect", lambda *a, **k: failing)
    cli = FakeCli({"version": 3, "deployment": {"resources": [], "pending_operations": [
        _pending(INSTANCE, "server-web-1", {"name": "moe-dev-citizen-portal-web-1"})]}})
    with pytest.raises(lookup.LookupFailed) as err:
        recovery.recover(plan, ConfigRepo(None), cli)
    assert cli.imported is None
    assert "moe-dev-citizen-portal-web-1 (Instance)" in str(err.value) and "ConnectionResetError" in str(err.value)
    assert "run the same command again" in str(err.value) and err.value.exit_code == 3


def test_the_new_half_of_a_replacement_is_adopted_and_the_old_one_marked_for_deletion(plan, monkeypatch):
    name = "moe-dev-citizen-portal-web-1-data"
    old = {"urn": URN.format(VOLUME, "volume-web-1-data"), "type": VOLUME, "custom": True, "id": "vol-old",
           "inputs": {"name": name, "size": 2}}
    conn = SimpleNamespace(block_storage=FakeVolumeApi([SimpleNamespace(id="vol-old", name=name),
                                                        SimpleNamespace(id="vol-new", name=name)]))
    monkeypatch.setattr(recovery, "connect", lambda *a, **k: conn)
    cli = FakeCli({"version": 3, "deployment": {"resources": [old], "pending_operations": [
        _pending(VOLUME, "volume-web-1-data", {"name": name, "size": 1})]}})
    rec = recovery.recover(plan, ConfigRepo(None), cli)
    res = cli.imported["deployment"]["resources"]
    assert [(r["id"], bool(r.get("delete"))) for r in res] == [("vol-old", True), ("vol-new", False)]
    assert res[1]["outputs"] == {"name": name, "size": 1}
    assert any("created its replacement (vol-new)" in n and "(vol-old) is deleted by the next run" in n
               for n in rec.notes)

    conn.block_storage = FakeVolumeApi([SimpleNamespace(id="vol-old", name=name)])  # the new half never came
    cli = FakeCli({"version": 3, "deployment": {"resources": [dict(old)], "pending_operations": [
        _pending(VOLUME, "volume-web-1-data", {"name": name, "size": 1})]}})
    rec = recovery.recover(plan, ConfigRepo(None), cli)
    assert [(r["id"], bool(r.get("delete"))) for r in cli.imported["deployment"]["resources"]] == [("vol-old", False)]
    assert rec.notes == ("volume-web-1-data: the interrupted run had not created its replacement; the pending "
                         "create was dropped (the resource in the state stays)",)


def _failed_event(op="create", id_="", inputs=None):
    """A resOpFailedEvent as the engine streams it (cut from a real one: a reset after Nova's POST)."""
    urn = URN.format(INSTANCE, "server-web-2")
    return {"sequence": 178, "resOpFailedEvent": {"status": 0, "steps": 18, "metadata": {
        "op": op, "urn": urn, "type": INSTANCE, "old": None, "detailedDiff": None, "logical": True,
        "provider": "urn:pulumi:citizen-portal-dev::govcloud-moe::pulumi:providers:openstack::os::p-1",
        "new": {"type": INSTANCE, "urn": urn, "custom": True, "id": id_, "parent": "urn:stack",
                "inputs": inputs if inputs is not None else {"name": "moe-dev-citizen-portal-web-2",
                                                             "networks": [{"port": "port-2"}]},
                "outputs": {}, "provider": "urn:pulumi:citizen-portal-dev::govcloud-moe::p::os::p-1"}}}}


def test_a_failed_create_is_unsure_and_nothing_else_is():
    res = recovery.unsure_create(_failed_event())
    assert res["urn"].endswith("::server-web-2") and res["type"] == INSTANCE and res["parent"] == "urn:stack"
    assert res["inputs"] == {"name": "moe-dev-citizen-portal-web-2", "networks": [{"port": "port-2"}]}
    assert "outputs" not in res and "id" not in res
    assert recovery.unsure_create(_failed_event(op="create-replacement")) is not None
    assert recovery.unsure_create(_failed_event(op="update")) is None
    assert recovery.unsure_create(_failed_event(id_="srv-1")) is None  # the engine recorded it
    assert recovery.unsure_create({"resOutputsEvent": _failed_event()["resOpFailedEvent"]}) is None
    assert recovery.unsure_create("not an event") is None
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "plaintext": "pw"}
    res = recovery.unsure_create(_failed_event(inputs={"name": "n", "adminPass": secret, "tags": ["[secret]"]}))
    assert res["inputs"] == {"name": "n"}


def test_a_remembered_failed_create_is_adopted_by_the_next_recovery(plan, monkeypatch):
    # `pulumi stack import` drops pending operations: the failed create is kept beside the state
    from govcloud.engine.stack import locate

    loc = locate(plan, ConfigRepo(None))
    unsure = recovery.unsure_create(_failed_event())
    notes = recovery.remember_unsure_creates(loc, [unsure])
    assert notes == ["server-web-2: the failed create may have reached the cloud; the next run looks it up and "
                     "adopts it (or drops it when it is not there)"]
    path = loc.state.unsure_creates(loc.project, loc.stack)
    assert path.stat().st_mode & 0o777 == 0o600
    assert recovery.remember_unsure_creates(loc, [unsure]) == []  # already remembered
    assert [op["type"] for op in recovery.remembered_creates(loc)] == ["creating"]

    srv = SimpleNamespace(id="srv-2", name="moe-dev-citizen-portal-web-2")
    conn = SimpleNamespace(compute=SimpleNamespace(servers=lambda name=None: [srv]))
    monkeypatch.setattr(recovery, "connect", lambda *a, **k: conn)
    cli = FakeCli({"version": 3, "deployment": {"resources": []}})
    rec = recovery.recover(plan, ConfigRepo(None), cli)
    (res,) = cli.imported["deployment"]["resources"]
    assert res["id"] == "srv-2" and res["inputs"]["networks"] == [{"port": "port-2"}]
    assert any("server-web-2: the interrupted run had created it (srv-2)" in n for n in rec.notes)
    assert rec.needs_refresh and not path.exists()  # settled: the next run has nothing to do


def test_a_remembered_create_stays_while_the_cloud_cannot_answer(plan, monkeypatch):
    from govcloud.engine.stack import locate

    loc = locate(plan, ConfigRepo(None))
    recovery.remember_unsure_creates(loc, [recovery.unsure_create(_failed_event())])
    failing = SimpleNamespace(compute=SimpleNamespace(servers=lambda **k: 1 / 0))
    monkeypatch.setattr(recovery, "connect", lambda *a, **k: failing)
    cli = FakeCli({"version": 3, "deployment": {"resources": []}})
    with pytest.raises(lookup.LookupFailed):
        recovery.recover(plan, ConfigRepo(None), cli)
    assert cli.imported is None and len(recovery.remembered_creates(loc)) == 1


def test_the_real_engine_remembers_failed_creates_and_says_so(plan):
    from govcloud.engine.runner import ErrorKind, OperationResult
    from govcloud.engine.seam import StackEngine

    engine = StackEngine(plan, ConfigRepo(None), passphrase="unit")
    failed = OperationResult("up", engine.name, ok=False, error="server-web-2: connection reset by peer",
                             error_kind=ErrorKind.ENGINE, unsure_creates=(recovery.unsure_create(_failed_event()),))
    out = engine._remember_unsure_creates(failed)
    assert out.error.splitlines()[0] == "server-web-2: connection reset by peer"
    assert "server-web-2: the failed create may have reached the cloud" in out.error.splitlines()[1]
    assert recovery.remembered_creates(engine.location)[0]["resource"]["urn"].endswith("::server-web-2")


def test_an_empty_metadata_sidecar_a_killed_engine_left_is_removed_and_reported(plan, monkeypatch):
    # found by the 21-trial SIGKILL run: the kill landed while fileblob created <stack>.json.attrs, and every
    # later command failed with "failed to load checkpoint: EOF"
    from govcloud.engine.command import ensure_workdir
    from govcloud.engine.seam import StackEngine
    from govcloud.engine.stack import locate, repair_sidecars

    loc = locate(plan, ConfigRepo(None))
    stacks = loc.backend_path() / ".pulumi" / "stacks" / loc.project
    history = loc.backend_path() / ".pulumi" / "history" / loc.project / loc.stack
    stacks.mkdir(parents=True)
    history.mkdir(parents=True)
    (stacks / f"{loc.stack}.json").write_text("{}")
    (stacks / f"{loc.stack}.json.attrs").write_text("")
    (stacks / f"{loc.stack}.json.bak.attrs").write_text('{"md5": "x"}')
    (stacks / "other-dev.json.attrs").write_text("")  # another stack's: not ours to touch
    (history / f"{loc.stack}-1.history.json.attrs").write_text("")
    assert sorted(repair_sidecars(loc)) == sorted(
        f"removed {n}: an empty metadata file a killed engine left beside the state (every read of the state "
        f"failed on it)" for n in (f"{loc.stack}.json.attrs", f"{loc.stack}-1.history.json.attrs"))
    assert sorted(p.name for p in stacks.iterdir()) == sorted([f"{loc.stack}.json", f"{loc.stack}.json.bak.attrs",
                                                              "other-dev.json.attrs"])
    assert repair_sidecars(loc) == []

    (stacks / f"{loc.stack}.json.attrs").write_text("")
    ensure_workdir(loc)  # every command's way to the engine repairs it, silently
    assert not (stacks / f"{loc.stack}.json.attrs").exists()

    (stacks / f"{loc.stack}.json.attrs").write_text("")
    monkeypatch.setattr(recovery, "recover", lambda plan, config, cli: recovery.Recovery(("x",), False, None))
    engine = StackEngine(plan, ConfigRepo(None), passphrase="unit")
    engine._cli = FakeCli(None)
    assert engine.recover().notes == (f"removed {loc.stack}.json.attrs: an empty metadata file a killed engine left "
                                      f"beside the state (every read of the state failed on it)", "x")
