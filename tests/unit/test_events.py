"""govcloud.engine.events: the raw engine event parser, on events shaped exactly as the engine writes them.

Shapes follow sdk/go/common/apitype/events.go (EngineEvent, ResourcePreEvent,
StepEventMetadata{op, urn, type, old, new, keys, diffs, detailedDiff, logical,
provider}, StepEventStateMetadata, DiagnosticEvent, SummaryEvent) and were
checked against an event log of a real preview (pulumi v3.274.1, openstack
plugin 5.5.3) on the dev cloud.
"""
from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from govcloud.engine import events as ev

STACK = "urn:pulumi:citizen-portal-dev::govcloud-moe::pulumi:pulumi:Stack::govcloud-moe-citizen-portal-dev"
PROVIDER_URN = "urn:pulumi:citizen-portal-dev::govcloud-moe::pulumi:providers:openstack::openstack-devcloud"
SERVER_URN = "urn:pulumi:citizen-portal-dev::govcloud-moe::openstack:compute/instance:Instance::server-web-1"
RULE_URN = "urn:pulumi:citizen-portal-dev::govcloud-moe::openstack:networking/secGroupRule:SecGroupRule::secgroup-ingress-ssh"
SECRET_CT = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "[secret]"}
SECRET_PT = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
             "plaintext": "\"hunter2-plaintext\""}


def state(urn, type_, inputs, outputs=None, id_="", protect=None):
    s = {"type": type_, "urn": urn, "custom": True, "id": id_, "parent": STACK, "inputs": inputs,
         "outputs": outputs if outputs is not None else {}, "provider": PROVIDER_URN + "::a7515247"}
    if protect is not None:
        s["protect"] = protect
    return s


def pre(op, urn, type_, old=None, new=None, diffs=None, keys=None, detailed="absent", seq=10):
    md = {"op": op, "urn": urn, "type": type_, "old": old, "new": new, "provider": PROVIDER_URN + "::a7515247"}
    if diffs is not None:
        md["diffs"] = diffs
    if keys is not None:
        md["keys"] = keys
    if detailed != "absent":
        md["detailedDiff"] = detailed
    return {"sequence": seq, "timestamp": 1795871157, "resourcePreEvent": {"metadata": md}}


SERVER_OLD = state(SERVER_URN, "openstack:compute/instance:Instance",
                   {"__defaults": ["forceDelete"], "flavorName": "gc.small", "imageName": "ubuntu-22.04",
                    "metadata": {"govcloud:image": "ubuntu-22.04", "govcloud:size": "small"},
                    "userData": "#cloud-config\n"},
                   {"accessIpV4": "10.80.0.248", "flavorName": "gc.small"}, id_="33dd63a0")
SERVER_NEW = state(SERVER_URN, "openstack:compute/instance:Instance",
                   {"__defaults": ["forceDelete"], "flavorName": "gc.medium", "imageName": "debian-12",
                    "metadata": {"govcloud:image": "debian-12", "govcloud:size": "medium"},
                    "userData": "#cloud-config\n"})
SERVER_UPDATE = pre("update", SERVER_URN, "openstack:compute/instance:Instance", SERVER_OLD, SERVER_NEW,
                    diffs=["flavorName", "imageName", "metadata"],
                    detailed={"flavorName": {"diffKind": "update", "inputDiff": False},
                              "imageName": {"diffKind": "update", "inputDiff": False},
                              'metadata["govcloud:image"]': {"diffKind": "update", "inputDiff": False},
                              'metadata["govcloud:size"]': {"diffKind": "update", "inputDiff": False}})


def test_update_with_detailed_diff():
    e = ev.parse_event(SERVER_UPDATE)
    assert isinstance(e, ev.Step) and e.phase == "pre" and e.sequence == 10
    c = e.change
    assert (c.urn, c.key, c.type, c.op, c.raw_op) == (SERVER_URN, "server-web-1",
                                                      "openstack:compute/instance:Instance", "update", "update")
    assert c.kind == "Instance" and not c.internal and c.detailed
    assert c.changed == ("flavorName", "imageName", 'metadata["govcloud:image"]', 'metadata["govcloud:size"]')
    by = {p.path: p for p in c.properties}
    assert (by["flavorName"].old, by["flavorName"].new) == ("gc.small", "gc.medium")
    assert (by['metadata["govcloud:image"]'].old, by['metadata["govcloud:image"]'].new) == ("ubuntu-22.04",
                                                                                          "debian-12")
    assert c.id == "33dd63a0"


@pytest.mark.parametrize("detailed", [None, {}, "absent"], ids=["null", "empty", "absent"])
def test_null_or_missing_detailed_diff_falls_back_to_diffs(detailed):
    raw = copy.deepcopy(SERVER_UPDATE)
    md = raw["resourcePreEvent"]["metadata"]
    if detailed == "absent":
        md.pop("detailedDiff")
    else:
        md["detailedDiff"] = detailed
    c = ev.parse_event(raw).change
    assert c.op == "update" and not c.detailed
    assert c.changed == ("flavorName", "imageName", "metadata")
    by = {p.path: p for p in c.properties}
    assert by["imageName"].kind == "update" and by["imageName"].new == "debian-12"
    assert by["metadata"].old == {"govcloud:image": "ubuntu-22.04", "govcloud:size": "small"}


def test_replacement_steps_fold_into_one_replace_with_the_forcing_keys():
    old = state(RULE_URN, "openstack:networking/secGroupRule:SecGroupRule", {"remoteIpPrefix": "10.0.0.0/8"},
                id_="r1")
    new = state(RULE_URN, "openstack:networking/secGroupRule:SecGroupRule", {"remoteIpPrefix": "10.0.0.0/16"})
    dd = {"remoteIpPrefix": {"diffKind": "update-replace", "inputDiff": False}}
    log = ev.EventLog().extend([
        pre("create-replacement", RULE_URN, "openstack:networking/secGroupRule:SecGroupRule", old, new,
            diffs=["remoteIpPrefix"], keys=["remoteIpPrefix"], detailed=dd, seq=1),
        pre("replace", RULE_URN, "openstack:networking/secGroupRule:SecGroupRule", old, new,
            diffs=["remoteIpPrefix"], keys=["remoteIpPrefix"], detailed=dd, seq=2),
        pre("delete-replaced", RULE_URN, "openstack:networking/secGroupRule:SecGroupRule", old, None, seq=3),
    ])
    (c,) = log.changes()
    assert c.op == "replace" and c.changed == ("remoteIpPrefix",) and c.replace_keys == ("remoteIpPrefix",)
    assert c.properties[0].replaces and c.properties[0].kind == "update-replace"
    assert (c.properties[0].old, c.properties[0].new) == ("10.0.0.0/8", "10.0.0.0/16")
    assert log.counts() == {"replace": 1}


@pytest.mark.parametrize("raw_op, op", [
    ("same", "same"), ("create", "create"), ("update", "update"), ("delete", "delete"), ("replace", "replace"),
    ("create-replacement", "replace"), ("delete-replaced", "replace"), ("read", "read"),
    ("read-replacement", "read"), ("refresh", "refresh"), ("discard", "discard"), ("import", "import"),
    ("remove-pending-replace", "delete"), ("frobnicate", "unknown"), ("", "unknown"),
])
def test_ops_including_unknown_ones(raw_op, op):
    c = ev.parse_event(pre(raw_op, SERVER_URN, "openstack:compute/instance:Instance", SERVER_OLD, SERVER_NEW)).change
    assert c.op == op and c.raw_op == raw_op


def test_secrets_are_never_kept_in_clear():
    prov_old = state(PROVIDER_URN, "pulumi:providers:openstack",
                     {"authUrl": "http://127.0.0.1:5000/v3", "password": SECRET_PT, "userName": "admin"},
                     {"password": SECRET_PT})
    prov_new = state(PROVIDER_URN, "pulumi:providers:openstack",
                     {"authUrl": "http://127.0.0.1:5000/v3", "password": SECRET_CT, "userName": "admin"})
    raw = pre("update", PROVIDER_URN, "pulumi:providers:openstack", prov_old, prov_new, diffs=["password"],
              detailed={"password": {"diffKind": "update", "inputDiff": True}})
    e = ev.parse_event(json.dumps(raw))  # a raw JSON line works too
    c = e.change
    assert c.internal and c.key == "openstack-devcloud"
    (p,) = c.properties
    assert p.old == ev.SECRET and p.new == ev.SECRET
    assert c.old_inputs["password"] == ev.SECRET  # the old inputs the review prices by: scrubbed too
    text = repr(e) + json.dumps(c.to_json()) + ev.display(p.old) + json.dumps(ev.plain(c.old_inputs))
    assert "hunter2" not in text
    assert "[secret]" in text


def test_nested_secret_inside_a_list_and_an_object():
    inputs = {"tags": ["a", SECRET_PT], "nested": {"token": SECRET_PT, "ok": 1}}
    c = ev.parse_event(pre("create", SERVER_URN, "openstack:compute/instance:Instance", None,
                           state(SERVER_URN, "openstack:compute/instance:Instance", inputs))).change
    assert c.op == "create"
    scrubbed = ev.scrub(inputs)
    assert ev.plain(scrubbed) == {"tags": ["a", "[secret]"], "nested": {"token": "[secret]", "ok": 1}}
    assert "hunter2" not in json.dumps(ev.plain(scrubbed))


def test_records_are_immutable():
    c = ev.parse_event(SERVER_UPDATE).change
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.op = "delete"  # type: ignore[misc]
    with pytest.raises(TypeError):
        c.properties[0].old["x"] = 1  # scrubbed values are read-only mappings / tuples


def test_outputs_and_failed_events():
    done = {"sequence": 20, "timestamp": 1, "resOutputsEvent": copy.deepcopy(SERVER_UPDATE["resourcePreEvent"])}
    failed = {"sequence": 21, "timestamp": 1,
              "resOpFailedEvent": {"metadata": SERVER_UPDATE["resourcePreEvent"]["metadata"], "status": 1,
                                   "steps": 3}}
    assert ev.parse_event(done).phase == "done"
    log = ev.EventLog().extend([SERVER_UPDATE, failed])
    assert [c.key for c in log.failed()] == ["server-web-1"]


def test_diagnostics_and_error_messages():
    bridge = ("  sdk-v2/provider2.go:572: sdk.helper_schema: Error extending openstack_blockstorage_volume_v3 fd14,\n"
              "\t\t\t\t\tvolume is attached to the instance and\n\t\t\t\t\tresizing online is disabled,\n"
              "\t\t\t\t\tsee enable_online_resize option: provider=openstack@5.5.3")
    wrapped = ("1 error occurred:\n\t* updating urn:pulumi:s::p::openstack:blockstorage/volume:Volume::vol-1: "
               "1 error occurred:\n\t* Error extending openstack_blockstorage_volume_v3 fd14,\n"
               "\t\t\t\t\tvolume is attached to the instance and\n\t\t\t\t\tresizing online is disabled,\n"
               "\t\t\t\t\tsee enable_online_resize option")
    vol = "urn:pulumi:s::p::openstack:blockstorage/volume:Volume::vol-1"
    log = ev.EventLog().extend([
        {"sequence": 1, "diagnosticEvent": {"prefix": "debug: ", "message": "registering resource", "color": "never",
                                            "severity": "debug"}},
        {"sequence": 2, "diagnosticEvent": {"urn": vol, "message": bridge, "color": "never", "severity": "error"}},
        {"sequence": 3, "diagnosticEvent": {"urn": vol, "message": wrapped, "color": "never", "severity": "error"}},
        {"sequence": 4, "diagnosticEvent": {"urn": STACK, "message": "update failed", "color": "never",
                                            "severity": "error"}},
        {"sequence": 5, "diagnosticEvent": {"message": "exception when preparing or executing rpc for ty=x",
                                            "severity": "error"}},
        {"sequence": 6, "diagnosticEvent": {"urn": vol, "message": "warning text", "severity": "warning"}},
    ])
    assert [d.severity for d in log.diagnostics] == ["debug", "error", "error", "error", "error", "warning"]
    assert log.diagnostics[1].key == "vol-1"
    assert log.error_messages() == [
        "vol-1: Error extending openstack_blockstorage_volume_v3 fd14, volume is attached to the instance and "
        "resizing online is disabled, see enable_online_resize option"]
    only_generic = ev.EventLog().extend([{"diagnosticEvent": {"message": "update failed", "severity": "error"}}])
    assert only_generic.error_messages() == ["update failed"]


def test_summary_prelude_cancel_and_unknown_payloads():
    s = ev.parse_event({"sequence": 181, "timestamp": 1, "summaryEvent": {
        "maybeCorrupt": False, "durationSeconds": 1, "resourceChanges": {"create": 1, "replace": 1, "same": 19,
                                                                         "update": 5, "frobnicate": 2},
        "PolicyPacks": {}, "isPreview": True, "result": "succeeded"}})
    assert isinstance(s, ev.Summary) and s.is_preview and s.result == "succeeded"
    assert s.count("update") == 5 and s.count("unknown") == 2 and s.count("replace") == 1
    assert isinstance(ev.parse_event({"sequence": 182, "timestamp": 1, "cancelEvent": {}}), ev.Cancel)
    assert ev.parse_event({"sequence": 0, "preludeEvent": {"config": {}}}) == ev.Other("preludeEvent", 0)
    assert ev.parse_event({"sequence": 3, "someFutureEvent": {"x": 1}}).kind == "someFutureEvent"


@pytest.mark.parametrize("garbage", [None, 3, "not json", "[1, 2]", {}, {"resourcePreEvent": None},
                                     {"resourcePreEvent": {"metadata": None}},
                                     {"resourcePreEvent": {"metadata": {"op": 7, "urn": None, "diffs": "x",
                                                                        "detailedDiff": [1], "old": "?"}}},
                                     {"diagnosticEvent": {"message": None, "severity": 3}},
                                     {"summaryEvent": {"resourceChanges": None}}])
def test_never_raises_on_odd_json(garbage):
    e = ev.parse_event(garbage)
    assert e is not None
    ev.EventLog().add(garbage)


def test_display_and_paths():
    assert ev.split_path('metadata["govcloud:image"]') == ("metadata", "govcloud:image")
    assert ev.split_path("networks[0].port") == ("networks", 0, "port")
    assert ev.split_path("a..b[") == ("a..b[",)
    assert ev.display(ev.UNKNOWN_VALUE) == ev.UNKNOWN
    assert ev.display("x" * 200).endswith("…") and len(ev.display("x" * 200)) == 80
    assert ev.display({"a": ev.UNKNOWN_VALUE}) == '{"a": (known after deploy)}'
    assert ev.urn_parts(SERVER_URN) == ("openstack:compute/instance:Instance", "server-web-1")
    assert ev.urn_parts("nonsense") == ("", "nonsense")


def test_changes_skip_internal_resources_unless_asked():
    prov = state(PROVIDER_URN, "pulumi:providers:openstack", {})
    log = ev.EventLog().extend([pre("same", PROVIDER_URN, "pulumi:providers:openstack", prov, prov),
                                SERVER_UPDATE])
    assert [c.key for c in log.changes()] == ["server-web-1"]
    assert len(log.changes(include_internal=True)) == 2
