"""govcloud.review: the review of a change, from engine event logs recorded on the dev cloud.

The event logs in tests/fixtures/events/ are real: docs/record_review_events.py deployed the citizen
portal example (as `citizen-portal-review`) on the dev cloud with the real Pulumi engine and recorded
the raw events of a preview of each edit of the manifest, as govcloud.engine writes them. Each fixture
holds the manifest previewed; the tests compile it with the shipped inventory, so the plan, the site's
rate card and the events are exactly what `govcloud diff` would combine.

Costs are checked against numbers worked out by hand from inventories/sites/devcloud.yaml
(730 hours a month): vcpuHour 9000, ramGbHour 2500, volumeGbMonth 40000, bucketGbMonth 15000,
floatingIpHour 2000, and the sizes small = 1 vCPU / 1 GB, medium = 2 vCPU / 4 GB.
"""
from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from govcloud.engine import events as ev
from govcloud.engine.runner import OperationResult
from govcloud.engine.stack import StackState
from govcloud import review as rv
from govcloud.config import ConfigRepo
from govcloud.errors import GovcloudError, Problem, SourceLocation
from govcloud.check import Workspace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"

# ---- worked out by hand from inventories/sites/devcloud.yaml
SMALL = 1 * 9000 * 730 + 1 * 2500 * 730  # 6,570,000 + 1,825,000 = 8,395,000
MEDIUM = 2 * 9000 * 730 + 4 * 2500 * 730  # 13,140,000 + 7,300,000 = 20,440,000
FIP = 2000 * 730  # 1,460,000
VOLUME_GB = 40000
BUCKET_GB = 15000
BASELINE = 2 * SMALL + 2 * 1 * VOLUME_GB + 2 * FIP + 5 * BUCKET_GB  # the deployed citizen portal: 19,865,000


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def preview_of(events: list) -> OperationResult:
    """What the engine's run_operation returns for these raw events (as it received them from the engine)."""
    return OperationResult.from_events("preview", events)


@pytest.fixture
def build(tmp_path):
    """build(name, **kw) -> (review, plan, site) for a recorded preview: of its events, of other raw `events`,
    or of typed `changes` (an OperationResult or change records)."""

    def _build(name: str, events=None, manifest=None, changes=None, **kw):
        fx = fixture(name)
        path = tmp_path / "manifests" / "portal.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(manifest or fx["manifest"], sort_keys=False), encoding="utf-8")
        ws = Workspace(ConfigRepo(None))
        plan = ws.plan(path)
        site = ws.inventory.site(plan.service.site)
        if changes is None:
            changes = preview_of(fx["events"] if events is None else events)
        return rv.build_review(plan, site, changes, **kw), plan, site

    return _build


def by_key(review):
    return {r.key: r for r in review.resources}


def test_hand_computed_baseline_matches_the_rate_card():
    assert (SMALL, MEDIUM, FIP, BASELINE) == (8_395_000, 20_440_000, 1_460_000, 19_865_000)


# ---------------------------------------------------------------- create


def test_create_everything(build):
    review, plan, _ = build("create")
    assert review.counts() == {"create": 23}
    assert {r.key for r in review.resources} == {p.key for p in plan.resources}
    assert review.monthly_before == 0 and review.monthly_after == BASELINE
    assert review.verdict == "23 to create, cost +19,865,000 IRR/month"
    assert not review.blocked and review.data_loss == ()
    r = by_key(review)
    assert r["server-web-1"].summary == "gc.small / ubuntu-22.04"
    assert r["server-web-1"].monthly_delta == SMALL
    assert r["attach-web-1-data"].summary == "volume-web-1-data on server-web-1"

    text = rv.render_text(review)
    assert "  + create   server-web-1             Instance             gc.small / ubuntu-22.04   " \
           "+8,395,000 IRR/month" in text
    assert "Monthly cost (IRR): 0 -> 19,865,000 (+19,865,000)" in text
    assert text.rstrip().endswith("Verdict: 23 to create, cost +19,865,000 IRR/month")

    md = rv.render_markdown(review)
    assert "| + **create** | `server-web-1` | Instance | gc.small / ubuntu-22.04 | +8,395,000 |" in md
    assert "| | **total per month** | | 0 → 19,865,000 | **+19,865,000** |" in md

    doc = review.to_json()
    assert doc["counts"] == {"create": 23}
    assert doc["cost"] == {"currency": "IRR", "monthlyBefore": 0, "monthlyAfter": BASELINE,
                           "monthlyDelta": BASELINE, "complete": True, "unpriced": []}


# ---------------------------------------------------------------- update in place


def test_update_size_cost_delta_by_hand(build):
    review, _, _ = build("update-size")
    assert review.counts() == {"update": 2, "same": 21}
    r = by_key(review)
    for key in ("server-web-1", "server-web-2"):
        s = r[key]
        assert s.op == "update" and s.engine_op == "update"
        assert (s.monthly_before, s.monthly_after, s.monthly_delta) == (SMALL, MEDIUM, MEDIUM - SMALL)
        assert [(f.path, f.old, f.new, f.forces_replacement) for f in s.fields] == [
            ("flavorName", "gc.small", "gc.medium", False),
            ('metadata["govcloud:size"]', "small", "medium", False)]
        assert s.data_loss == "" and s.source == "spec.servers[0]"
    delta = 2 * (MEDIUM - SMALL)  # 24,090,000
    assert review.monthly_before == BASELINE and review.monthly_after == BASELINE + delta
    assert review.verdict == "2 to update, cost +24,090,000 IRR/month"

    text = rv.render_text(review)
    assert "  ~ update   server-web-1  Instance  gc.medium / ubuntu-22.04   +12,045,000 IRR/month" in text
    assert '        flavorName                 gc.small -> gc.medium' in text
    assert '        metadata["govcloud:size"]  small -> medium' in text
    assert "(21 unchanged, not shown)" in text
    assert "Monthly cost (IRR): 19,865,000 -> 43,955,000 (+24,090,000)" in text

    md = rv.render_markdown(review)
    assert ("| ~ **update** | `server-web-1` | Instance | `flavorName` `gc.small` → `gc.medium`<br>"
            "`metadata[\"govcloud:size\"]` `small` → `medium` | +12,045,000 |") in md
    assert "```diff\n- flavorName: gc.small\n+ flavorName: gc.medium\n" in md
    assert "| | **total per month** | | 19,865,000 → 43,955,000 | **+24,090,000** |" in md

    doc = review.to_json()
    server = next(x for x in doc["changes"] if x["key"] == "server-web-1")
    assert server["cost"] == {"monthlyBefore": SMALL, "monthlyAfter": MEDIUM, "monthlyDelta": MEDIUM - SMALL}
    assert server["fields"][0] == {"path": "flavorName", "kind": "update", "old": "gc.small", "new": "gc.medium",
                                   "oldText": "gc.small", "newText": "gc.medium", "computed": False,
                                   "forcesReplacement": False}
    assert doc["cost"]["monthlyDelta"] == delta
    assert [x["key"] for x in doc["changes"]] == ["server-web-1", "server-web-2"]  # same: hidden
    assert len(review.to_json(show_same=True)["changes"]) == 23


def test_before_comes_from_the_old_inputs_not_the_manifest(build):
    """The plan says medium; the cost before is the small flavor the engine reports as deployed."""
    review, plan, site = build("update-size")
    assert plan.get("server-web-1").inputs["flavor_name"] == "gc.medium"
    assert by_key(review)["server-web-1"].monthly_before == SMALL
    # even a manifest that says something else entirely (no servers priced as small anywhere)
    # prices the deployed servers as the engine reports them
    fx = fixture("update-size")
    doc = copy.deepcopy(fx["manifest"])
    doc["spec"]["servers"][0]["size"] = "xlarge"
    other, _, _ = build("update-size", manifest=doc)
    assert by_key(other)["server-web-1"].monthly_before == SMALL
    assert other.monthly_before == BASELINE


def test_without_the_engines_old_inputs_the_old_values_come_from_the_changed_fields(build):
    """Change records without old inputs (an engine that reported none): the plan's inputs, with the old values
    of the changed fields laid over them, still price the deployed servers as small."""
    import dataclasses

    fx = fixture("update-size")
    changes = [dataclasses.replace(c, old_inputs=None) for c in preview_of(fx["events"]).changes]
    review, _, _ = build("update-size", changes=changes)
    r = by_key(review)["server-web-1"]
    assert (r.monthly_before, r.monthly_after) == (SMALL, MEDIUM)
    assert review.monthly_before == BASELINE


def test_bucket_quota_priced_from_old_quota_bytes(build):
    review, _, _ = build("bucket-quota")
    b = by_key(review)["bucket-uploads"]
    assert b.op == "update"
    assert [f.path for f in b.fields] == ['metadata["Quota-Bytes"]']
    assert (b.fields[0].old, b.fields[0].new) == ("5368709120", "21474836480")
    assert (b.monthly_before, b.monthly_after) == (5 * BUCKET_GB, 20 * BUCKET_GB)
    assert review.verdict == "1 to update, cost +225,000 IRR/month"


def test_volume_retype_and_grow_are_updates_without_data_loss(build):
    review, _, _ = build("retype-volume")
    assert review.counts() == {"update": 2, "same": 21} and review.data_loss == ()
    v = by_key(review)["volume-web-1-data"]
    assert [(f.path, f.old, f.new) for f in v.fields] == [("volumeType", "standard", "encrypted")]
    assert review.verdict == "2 to update, cost unchanged"


# ---------------------------------------------------------------- replace


def test_replace_names_the_field_that_forces_it(build):
    review, _, _ = build("replace-rule")
    assert review.counts() == {"replace": 1, "same": 22}
    r = by_key(review)["secgroup-ingress-ssh"]
    assert r.op == "replace" and r.engine_op == "delete-replaced" and r.delete_before_replace
    assert r.replace_paths == ("portRangeMax", "portRangeMin")
    assert r.replace_reasons == ("portRangeMax 22 -> 2222 and portRangeMin 22 -> 2222: cannot change in place",)
    assert r.summary == "tcp:2222 from 10.0.0.0/8" and r.data_loss == ""
    assert review.verdict == "1 to replace, cost unchanged"

    text = rv.render_text(review)
    assert "  ± replace  secgroup-ingress-ssh  SecGroupRule  tcp:2222 from 10.0.0.0/8" in text
    assert "        why replaced: portRangeMax 22 -> 2222 and portRangeMin 22 -> 2222: cannot change in place" \
        in text
    assert "        portRangeMin  22 -> 2222  (forces replacement)" in text
    assert "        note: deleted before its replacement is created: briefly absent" in text

    md = rv.render_markdown(review)
    assert ("| ± **replace** | `secgroup-ingress-ssh` | SecGroupRule | **replaced:** `portRangeMax` `22` → `2222`"
            "<br>`portRangeMin` `22` → `2222` |  |") in md
    assert "+ portRangeMin: 2222  (forces replacement)" in md

    doc = review.to_json()["changes"][0]
    assert doc["replaceReasons"] == list(r.replace_reasons) and doc["deleteBeforeReplace"] is True
    assert all(f["forcesReplacement"] for f in doc["fields"])


def test_replace_that_follows_another_replacement(build):
    review, _, _ = build("delete")
    r = by_key(review)
    attach = r["attach-web-1-data"]
    assert attach.op == "replace"
    assert attach.replace_reasons == ("instanceId follows server-web-1, which is replaced",)
    server = r["server-web-1"]
    assert server.replace_paths == ("schedulerHints",)
    # the old value names the server group by its key, next to its cloud id; __defaults is gone
    assert re.fullmatch(r'\[\{"group": "[0-9a-f]{8}… \(server-group-web\)"\}\]', server.fields[0].old_text)
    assert server.fields[0].new_text == "(removed)"
    # a recreated server is a caution, not data loss: its volumes survive, its root disk does not
    assert review.cautions == ("server-web-1 is recreated: the new server boots from a fresh root disk "
                               "(its volumes are attached again)",)


# ---------------------------------------------------------------- delete and data loss


def test_delete_with_data_loss(build):
    review, _, _ = build("delete")
    assert review.counts() == {"replace": 2, "delete": 8, "same": 13}
    r = by_key(review)
    assert (r["server-web-2"].monthly_before, r["server-web-2"].monthly_after) == (SMALL, 0)
    assert r["server-web-2"].summary == "gc.small / ubuntu-22.04"
    assert r["floating-ip-web-2"].monthly_delta == -FIP
    assert r["volume-web-2-data"].monthly_delta == -VOLUME_GB
    assert r["bucket-uploads"].monthly_delta == -5 * BUCKET_GB
    # connecting resources name what they connect, by key (their cloud ids are in the change)
    assert r["attach-web-2-data"].summary == "volume-web-2-data on server-web-2"
    assert re.fullmatch(r"172\.24\.4\.\d+ to port-web-2", r["floating-ip-assoc-web-2"].summary)
    assert review.monthly_before == BASELINE
    assert review.monthly_after == BASELINE - SMALL - FIP - VOLUME_GB - 5 * BUCKET_GB  # 9,895,000
    assert [d.describe() for d in review.data_loss] == [
        "bucket-uploads (Container moe-dev-citizen-portal-review-uploads): deleted with the objects in it "
        "(quota 5 GB)",
        "volume-web-2-data (Volume moe-dev-citizen-portal-review-web-2-data): deleted with the data on it (1 GB)"]
    assert review.blockers == ("data-loss",)
    assert review.verdict == ("2 to replace, 8 to delete (DATA LOSS: bucket-uploads, volume-web-2-data), "
                              "cost -9,970,000 IRR/month; blocked: needs --allow-data-loss")

    text = rv.render_text(review)
    assert all(line == line.rstrip() for line in text.splitlines())
    assert ("  - delete   volume-web-2-data        Volume               1 GB standard   -40,000 IRR/month   "
            "DATA LOSS") in text
    assert "Data loss (blocked: pass --allow-data-loss to apply, after a backup):" in text
    assert "  ✗ volume-web-2-data (Volume moe-dev-citizen-portal-review-web-2-data): deleted with the data" in text

    md = rv.render_markdown(review)
    assert "#### Data loss: blocked until deployed with `--allow-data-loss`" in md
    assert ("- `volume-web-2-data` (Volume moe-dev-citizen-portal-review-web-2-data): deleted with the data on "
            "it (1 GB)") in md
    assert "**data loss:** deleted with the objects in it (quota 5 GB)" in md

    doc = review.to_json()
    assert doc["blocked"] is True and doc["blockers"] == ["data-loss"]
    assert {"key": "volume-web-2-data", "type": "openstack:blockstorage/volume:Volume", "kind": "Volume",
            "name": "moe-dev-citizen-portal-review-web-2-data", "op": "delete",
            "reason": "deleted with the data on it (1 GB)"} in doc["dataLoss"]

    allowed, _, _ = build("delete", allow_data_loss=True)
    assert not allowed.blocked
    assert allowed.verdict.endswith("; data loss allowed (--allow-data-loss)")


def test_image_change_rebuilds_the_root_disk(build):
    review, _, _ = build("image")
    assert [(d.key, d.op, d.reason) for d in review.data_loss] == [
        ("server-web-1", "update", "rebuilt on image debian-12: its root disk is erased"),
        ("server-web-2", "update", "rebuilt on image debian-12: its root disk is erased")]
    assert review.verdict == ("2 to update (DATA LOSS: server-web-1, server-web-2), cost unchanged; "
                              "blocked: needs --allow-data-loss")


def test_failed_preview_of_protected_deletes_still_reviews(build):
    """The engine refuses to preview deleting protected volumes/buckets, yet its events hold the change."""
    fx = fixture("delete-protected")
    assert fx["recorded"]["ok"] is False
    result = preview_of(fx["events"])
    assert not result.ok and result.protected == ("volume-web-2-data", "bucket-uploads")
    assert result.blocked_only_by_protection
    review, _, _ = build("delete-protected")
    assert review.errors == ()  # the data-loss list says it better than the engine's error
    assert {d.key for d in review.data_loss} == {"volume-web-2-data", "bucket-uploads"}
    assert all(r.protect for r in review.resources if r.key in ("volume-web-2-data", "bucket-uploads"))


def test_other_engine_errors_block_and_show(build):
    fx = fixture("update-size")
    events = fx["events"] + [{"sequence": 9999, "diagnosticEvent": {
        "urn": "urn:pulumi:citizen-portal-review-dev::govcloud-moe::openstack:compute/instance:Instance::server-web-1",
        "severity": "error", "message": "flavor gc.medium not found"}}]
    review, _, _ = build("update-size", events=events)
    assert review.errors == ("server-web-1: flavor gc.medium not found",)
    assert review.blockers == ("engine",)
    assert "preview failed" in review.verdict
    assert "Engine errors:\n  server-web-1: flavor gc.medium not found" in rv.render_text(review)


# ---------------------------------------------------------------- the guard


def test_data_loss_is_a_pure_function_of_changes_and_plan(build):
    fx = fixture("delete")
    changes = ev.EventLog().extend(fx["events"]).changes()
    review, plan, _ = build("delete")
    from_changes = rv.data_loss(changes, plan)
    assert [(d.key, d.op) for d in from_changes] == [("bucket-uploads", "delete"), ("volume-web-2-data", "delete")]
    assert {d.key for d in review.data_loss} == {d.key for d in from_changes}
    assert [(d.key, d.name) for d in rv.data_loss(changes)] == [("bucket-uploads", ""), ("volume-web-2-data", "")]
    assert rv.data_loss(preview_of(fixture("update-size")["events"]).changes, plan) == []


def test_data_loss_of_a_stateful_plan_entry_and_of_a_replaced_volume(build):
    _, plan, _ = build("update-size")
    stack = "urn:pulumi:s::p::"
    vol = ev.ResourceChange(urn=stack + "openstack:blockstorage/volume:Volume::volume-web-1-data",
                            key="volume-web-1-data", type="openstack:blockstorage/volume:Volume", op="replace",
                            raw_op="create-replacement", changed=("availabilityZone",),
                            properties=(ev.PropertyChange("availabilityZone", "update-replace", "nova", "az2"),))
    odd = ev.ResourceChange(urn=stack + "openstack:networking/port:Port::port-web-1", key="port-web-1",
                            type="openstack:networking/port:Port", op="replace", raw_op="replace")
    import dataclasses

    stateful_port = dataclasses.replace(plan, resources=tuple(
        dataclasses.replace(r, stateful=True) if r.key == "port-web-1" else r for r in plan.resources))
    got = rv.data_loss([vol, odd], stateful_port)
    assert [(d.key, d.reason) for d in got] == [
        ("volume-web-1-data", "replaced by a new, empty one (forced by availabilityZone): its data is lost"),
        ("port-web-1", "replaced by a new, empty one: its data is lost")]
    assert rv.data_loss([odd], plan) == []


def test_guard_raises_data_loss_error_exit_1(build):
    review, _, _ = build("delete")
    with pytest.raises(rv.DataLossError) as exc:
        rv.guard_data_loss(review, action="deploy")
    err = exc.value
    assert isinstance(err, GovcloudError) and err.exit_code == 1
    assert str(err).splitlines() == [
        "refusing to deploy: these changes lose data:",
        "  bucket-uploads (Container moe-dev-citizen-portal-review-uploads): deleted with the objects in it "
        "(quota 5 GB)",
        "  volume-web-2-data (Volume moe-dev-citizen-portal-review-web-2-data): deleted with the data on it (1 GB)",
        "pass --allow-data-loss to apply them anyway (take a backup first)"]
    assert [d.key for d in err.losses] == ["bucket-uploads", "volume-web-2-data"]
    assert len(rv.guard_data_loss(review, allow=True)) == 2
    ok, _, _ = build("update-size")
    assert rv.guard_data_loss(ok) == []


def test_destroy_review_from_the_stack_export(build):
    """A destroy is reviewed and guarded like any change: deletes from the stack's state, cost to zero."""
    fx = fixture("deploy-up")
    # the state the deploy left: what `pulumi stack export` holds for each resource
    resources = [e["resOutputsEvent"]["metadata"]["new"] for e in fx["events"] if "resOutputsEvent" in e]
    stateful = {"openstack:blockstorage/volume:Volume", "openstack:objectstorage/container:Container"}
    for r in resources:
        if r["type"] in stateful:
            r["protect"] = True
    export = {"version": 3, "deployment": {"manifest": {}, "resources": resources}}
    state = StackState.from_export(export)
    review, _, _ = build("create", changes=rv.destroy_changes(state), operation="destroy")
    assert review.counts() == {"delete": 23}
    assert review.monthly_before == BASELINE and review.monthly_after == 0
    # the state decides, not the manifest: a third server in the manifest was never deployed
    bigger = copy.deepcopy(fx["manifest"])
    bigger["spec"]["servers"][0]["count"] = 3
    other, _, _ = build("create", changes=rv.destroy_changes(state), operation="destroy", manifest=bigger)
    assert other.monthly_before == BASELINE and other.counts() == {"delete": 23}
    assert {d.key for d in review.data_loss} == {"volume-web-1-data", "volume-web-2-data", "bucket-uploads"}
    assert review.verdict.startswith("23 to delete (DATA LOSS: bucket-uploads, volume-web-1-data, "
                                     "volume-web-2-data), cost -19,865,000 IRR/month; blocked")


def test_unpriced_old_flavor(build):
    fx = copy.deepcopy(fixture("update-size"))
    for e in fx["events"]:
        for k in ("resourcePreEvent", "resOutputsEvent"):
            md = (e.get(k) or {}).get("metadata") or {}
            old = md.get("old") or {}
            if (old.get("inputs") or {}).get("flavorName") == "gc.small":
                old["inputs"]["flavorName"] = "m1.retired"
    review, _, _ = build("update-size", events=fx["events"])
    assert review.unpriced == ("server-web-1", "server-web-2")
    assert by_key(review)["server-web-1"].monthly_delta is None
    assert review.to_json()["cost"]["complete"] is False
    assert "before leaves out server-web-1, server-web-2 (cannot be priced)" in rv.render_text(review)


# ---------------------------------------------------------------- policy, notes


def test_policy_findings_show_and_errors_block(build):
    warn = Problem("server 'web' has no health check", "spec.servers[0].healthCheck",
                   SourceLocation("manifests/portal.yaml", 19, 7), "warning", "GC014", "add healthCheck")
    err = Problem("volume is not encrypted", "spec.servers[0].volumes[0].type",
                  SourceLocation("manifests/portal.yaml", 27, 11), "error", "GC004")
    review, _, _ = build("update-size", findings=[warn])
    assert not review.blocked
    assert ("  manifests/portal.yaml:19:7: warning: spec.servers[0].healthCheck: server 'web' has no health "
            "check (add healthCheck)") in rv.render_text(review)
    assert "- **warning** GC014 at manifests/portal.yaml:19:7: server 'web' has no health check (add healthCheck)" \
        in rv.render_markdown(review)
    blocked, _, _ = build("update-size", findings=[warn, err])
    assert blocked.blockers == ("policy",)
    assert blocked.verdict == "2 to update, cost +24,090,000 IRR/month; blocked: policy GC004"
    assert blocked.to_json()["policy"][1]["code"] == "GC004"


def test_user_data_drift_note(build):
    review, _, _ = build("update-size", user_data_drift=["server-web-1"])
    assert ("note: user data changed in the manifest: not applied to this existing server "
            "(deploy --replace server-web-1 rebuilds it)") in rv.render_text(review)


# ---------------------------------------------------------------- secrets


SECRET_VALUE = "hunter2-do-not-print"


def _with_secret_fields(events: list) -> list:
    """Give server-web-1 a secret input that changes (adminPass), as the engine sends secrets."""
    out = copy.deepcopy(events)
    sig = {ev.SECRET_SIG_KEY: ev.SECRET_SIG}
    for e in out:
        for k in ("resourcePreEvent", "resOutputsEvent"):
            md = (e.get(k) or {}).get("metadata")
            if not md or not md["urn"].endswith("::server-web-1"):
                continue
            md["old"]["inputs"]["adminPass"] = {**sig, "plaintext": json.dumps(SECRET_VALUE + "-old")}
            md["new"]["inputs"]["adminPass"] = {**sig, "plaintext": json.dumps(SECRET_VALUE)}
            md["old"]["outputs"]["adminPass"] = {**sig, "ciphertext": "v1:" + SECRET_VALUE}
            if md.get("detailedDiff") is not None:
                md["detailedDiff"]["adminPass"] = {"diffKind": "update", "inputDiff": True}
            md.setdefault("diffs", []).append("adminPass")
    return out


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_secrets_never_appear(build, fmt):
    fx = fixture("update-size")
    # the recorded provider events carry the (fake) provider password as a plaintext secret, like the
    # real ones carry the real password
    raw = json.dumps(fx["events"])
    assert "fixture-secret-not-real" in raw
    events = _with_secret_fields(fx["events"])
    assert SECRET_VALUE in json.dumps(events)
    review, _, _ = build("update-size", events=events)
    server = by_key(review)["server-web-1"]
    admin = next(f for f in server.fields if f.path == "adminPass")
    assert (admin.old, admin.new) == ("[secret]", "[secret]")
    render = {"text": rv.render_text, "markdown": rv.render_markdown,
              "json": lambda r, show_same: json.dumps(r.to_json(show_same=show_same))}[fmt]
    for show_same in (False, True):
        out = render(review, show_same=show_same)
        assert SECRET_VALUE not in out and "fixture-secret-not-real" not in out
        assert "v1:" not in out
        assert "[secret]" in out
    assert SECRET_VALUE not in repr(review)


def test_secrets_never_appear_with_colour(build):
    review, _, _ = build("update-size", events=_with_secret_fields(fixture("update-size")["events"]))
    out = rv.render_text(review, color=True)
    assert SECRET_VALUE not in out and "[secret]" in out


# ---------------------------------------------------------------- text rendering: colour


def test_colour_only_on_a_terminal_without_no_color(build, monkeypatch):
    review, _, _ = build("delete")
    assert "\x1b[" in rv.render_text(review, color=True)
    assert "\x1b[" not in rv.render_text(review, color=False)

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    piped = io.StringIO()
    rv.print_review(review, piped)
    assert "\x1b[" not in piped.getvalue() and "Verdict:" in piped.getvalue()
    tty = Tty()
    rv.print_review(review, tty)
    assert "\x1b[" in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    tty = Tty()
    rv.print_review(review, tty)
    assert "\x1b[" not in tty.getvalue()


# ---------------------------------------------------------------- markdown


def _html(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


def test_markdown_renders_to_a_table_and_collapsible_sections(build):
    review, _, _ = build("multi")
    md = rv.render_markdown(review)
    assert md.startswith("<!-- govcloud-review govcloud-moe/citizen-portal-review-dev -->\n")
    html = _html(md)
    assert html.count("<table>") == 1
    rows = re.findall(r"<tr>", html)
    assert len(rows) == 1 + 13 + 1  # header, 13 changes, total
    assert "<details><summary>17 unchanged resources</summary>" in html
    assert '<code class="language-diff">' in html
    assert "<strong>Verdict:</strong> 7 to create, 4 to update, 1 to replace, 1 to delete (DATA LOSS: " \
           "bucket-uploads), cost +46,075,000 IRR/month; blocked: needs --allow-data-loss" in html
    # every table row has the five cells: nothing in a value broke a row apart
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        assert len(re.findall(r"<t[dh][ >]", row)) == 5, row


def test_markdown_long_diffs_fold(build):
    review, _, _ = build("multi")
    md = rv.render_markdown(review, fold_over=1)
    assert "<details><summary>server-web-1 (Instance moe-dev-citizen-portal-review-web-1): update</summary>" in md
    md = rv.render_markdown(review)
    assert "<details><summary>server-web-1" not in md  # four lines: shown open


def test_markdown_is_cut_to_fit_a_comment(build):
    review, _, _ = build("multi")
    full = rv.render_markdown(review)
    short = rv.render_markdown(review, max_chars=len(full) - 10)
    assert len(short) < len(full)
    assert "```diff" not in short and "Field changes left out to keep this comment short" in short
    assert "| - **delete** | `bucket-uploads` |" in short and "**Verdict:**" in short


def test_markdown_escapes_values_from_the_cloud(build):
    """A value with markdown or HTML in it stays text: no injected markup, no broken table."""
    fx = copy.deepcopy(fixture("update-size"))
    evil = "x | <script>alert(1)</script> **bold** `tick` ```fence"
    for e in fx["events"]:
        for k in ("resourcePreEvent", "resOutputsEvent"):
            md = (e.get(k) or {}).get("metadata")
            if md and md["urn"].endswith("::server-web-1") and md.get("new"):
                md["new"]["inputs"]["flavorName"] = evil
    review, _, _ = build("update-size", events=fx["events"])
    md = rv.render_markdown(review)
    html = _html(md)
    assert "<script>" not in html
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        assert len(re.findall(r"<t[dh][ >]", row)) == 5, row
    assert "alert(1)" in html  # shown, as text


def test_markdown_helpers():
    assert rv.md_escape("a|b <i> *c* [d](e)") == "a\\|b &lt;i> \\*c\\* \\[d\\](e)"
    assert rv.md_code("a`b|c") == "``a`b\\|c``"
    assert rv.md_fence("x\n```\ny", "diff") == "````diff\nx\n```\ny\n````"


# ---------------------------------------------------------------- json


@pytest.mark.parametrize("name", ["create", "update-size", "replace-rule", "retype-volume", "bucket-quota",
                                  "delete", "delete-protected", "image", "multi"])
def test_json_follows_the_documented_schema(build, name):
    review, _, _ = build(name)
    for show_same in (False, True):
        doc = json.loads(json.dumps(review.to_json(show_same=show_same)))
        jsonschema.Draft202012Validator(rv.REVIEW_JSON_SCHEMA).validate(doc)
        assert doc["schemaVersion"] == 1 and doc["kind"] == "govcloud.Review"


def test_json_schema_is_documented():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "review.md").read_text(encoding="utf-8")
    defs = rv.REVIEW_JSON_SCHEMA["$defs"]
    assert defs["ReviewDocument"]["properties"]["changes"]["items"] == {"$ref": "#/$defs/ChangeDocument"}
    for key in [*defs["ReviewDocument"]["required"], *defs["ChangeDocument"]["required"]]:
        assert f"`{key}`" in doc, key


def test_the_schema_is_generated_from_the_documents_that_write_the_json(build):
    """The schema is the models': a field the output gains is in the schema, and the schema refuses what the
    output never holds (an unknown key, an op outside the engine's vocabulary, a failed preview with a verdict)."""
    schema = rv.REVIEW_JSON_SCHEMA
    assert schema == rv.review_json_schema() and schema["$schema"].endswith("/2020-12/schema")
    validator = jsonschema.Draft202012Validator(schema)
    review, _, _ = build("multi")
    doc = review.to_json()
    assert set(doc) == set(schema["$defs"]["ReviewDocument"]["properties"])
    assert set(doc["changes"][0]) == set(schema["$defs"]["ChangeDocument"]["properties"])
    assert validator.is_valid(doc)
    assert not validator.is_valid({**doc, "extra": 1})
    bad_op = copy.deepcopy(doc)
    bad_op["changes"][0]["op"] = "explode"
    assert not validator.is_valid(bad_op)
    failed = rv.failed_preview_json("govcloud-moe/x-dev", "portal.yaml", ["server-web-1: No valid host was found"])
    assert list(failed) == ["schemaVersion", "kind", "stack", "manifest", "ok", "errors"] and failed["ok"] is False
    assert validator.is_valid(failed)
    assert not validator.is_valid({**failed, "verdict": "2 to update"})
    assert not validator.is_valid({**failed, "ok": True})


def test_json_is_stable(build):
    a, _, _ = build("multi")
    b, _, _ = build("multi")
    assert json.dumps(a.to_json()) == json.dumps(b.to_json())
    doc = a.to_json()
    assert list(doc) == ["schemaVersion", "kind", "operation", "stack", "manifest", "service", "ok", "verdict",
                         "blocked", "blockers", "counts", "cost", "dataLoss", "allowDataLoss", "cautions",
                         "policy", "errors", "changes"]
    assert [r["op"] for r in doc["changes"]] == ["delete", "replace"] + ["update"] * 4 + ["create"] * 7


def test_computed_values_are_known_after_deploy(build):
    review, _, _ = build("delete")
    doc = review.to_json()
    attach = next(r for r in doc["changes"] if r["key"] == "attach-web-1-data")
    assert attach["replaceReasons"] == ["instanceId follows server-web-1, which is replaced"]
    f = rv.FieldChange("instanceId", "update-replace", "e3c1", ev.UNKNOWN_VALUE, True)
    assert f.new_text == "(known after deploy)" and f.computed
    assert f.to_json()["new"] == "(known after deploy)"


# ---------------------------------------------------------------- inputs the builder accepts


def test_the_old_inputs_ride_on_the_result_and_nothing_is_read_from_disk(build, tmp_path):
    """The engine's OperationResult carries each resource's old inputs (scrubbed, from the step events): the
    review prices what is deployed from them, and never reads the raw events the engine saved next to its log."""
    import dataclasses

    fx = fixture("update-size")
    result = preview_of(fx["events"])
    server = next(c for c in result.changes if c.key == "server-web-1")
    assert server.old_inputs["flavorName"] == "gc.small" and server.old_inputs["name"].endswith("-web-1")
    assert all(c.old_inputs is None for c in preview_of(fixture("create")["events"]).changes if c.op == "create")
    # the saved events of this "run" say something else entirely: the review does not look
    log_file = tmp_path / "govcloud-moe--x--preview--1.log"
    log_file.write_text("")
    retired = json.dumps(fx["events"]).replace('"gc.small"', '"m1.retired"')
    log_file.with_suffix(".events.jsonl").write_text("\n".join(json.dumps(e) for e in json.loads(retired)) + "\n")
    review, _, _ = build("update-size", changes=dataclasses.replace(result, log_file=str(log_file)))
    assert review.monthly_before == BASELINE and review.unpriced == ()


def test_old_inputs_are_scrubbed_of_secrets():
    events = _with_secret_fields(fixture("update-size")["events"])
    server = next(c for c in preview_of(events).changes if c.key == "server-web-1")
    assert server.old_inputs["adminPass"] == "[secret]"
    assert SECRET_VALUE not in repr(server)


def test_fixtures_are_real_engine_event_logs():
    """What the recorder wrote: the engine's own event shapes, with no credential left in them."""
    for path in sorted(FIXTURES.glob("*.json")):
        fx = json.loads(path.read_text(encoding="utf-8"))
        kinds = {next(k for k in e if k not in ("sequence", "timestamp")) for e in fx["events"]}
        assert {"preludeEvent", "resourcePreEvent", "summaryEvent"} <= kinds, path.name
        assert fx["recorded"]["engine"].startswith("pulumi 3."), path.name
        for e in fx["events"]:
            md = (e.get("resourcePreEvent") or {}).get("metadata")
            if md and md["type"].startswith("pulumi:providers:"):
                for side in ("old", "new"):
                    pw = ((md.get(side) or {}).get("inputs") or {}).get("password")
                    if pw is not None:
                        assert pw["plaintext"] == json.dumps("fixture-secret-not-real"), path.name


# ---------------------------------------------------------------- a volume that shrinks: replaced, on purpose


def _deployment_with_volume(plan, key: str, size: int) -> dict:
    entry = plan.get(key)
    urn = f"urn:pulumi:{plan.service.stack}::{plan.service.pulumi_project}::{entry.type}::{key}"
    return {"deployment": {"resources": [{"urn": urn, "type": entry.type, "id": "vol-1",
                                          "inputs": {"size": size, "name": entry.name}}]}}


def test_a_shrinking_volume_is_forced_to_replace_and_says_why(build):
    from govcloud.engine.stack import volume_shrinks
    from govcloud.engine.events import ResourceChange

    _, plan, site = build("create")
    assert plan.get("volume-web-1-data").inputs["size"] == 1
    forced = volume_shrinks(plan, _deployment_with_volume(plan, "volume-web-1-data", 3))
    assert forced == {"volume-web-1-data": "size 3 -> 1 GB: a volume cannot shrink"}
    assert volume_shrinks(plan, _deployment_with_volume(plan, "volume-web-1-data", 1)) == {}  # same size
    assert volume_shrinks(plan, None) == {}  # nothing deployed

    urn = "urn:pulumi:x::y::openstack:blockstorage/volume:Volume::volume-web-1-data"
    # a targeted replace (pulumi up --replace): the engine names no field, only "id"
    change = ResourceChange(urn=urn, key="volume-web-1-data", type="openstack:blockstorage/volume:Volume",
                            op="replace", raw_op="replace", replace_keys=("id",), id="vol-1", protect=True)
    review = rv.build_review(plan, site, [change], forced=forced)
    (vol,) = review.resources
    assert vol.replace_reasons == ("size 3 -> 1 GB: a volume cannot shrink",)
    (loss,) = review.data_loss
    # (the size lost comes from the engine's old inputs, which this bare change does not carry)
    assert loss.reason.startswith(
        "replaced by a new, empty one (size 3 -> 1 GB: a volume cannot shrink): its data is lost")
    assert review.blocked


# ---------------------------------------------------------------- what a resource is, in a few words


def test_a_server_group_policy_is_one_word_in_the_plan_and_the_review(build, tmp_path):
    """The plan holds a server group's one policy as text, the state as a list: both read as the policy (the
    plan table and the review used to spell it out letter by letter: `s, o, f, t, -, ...`)."""
    from click.testing import CliRunner

    from govcloud.cli import cli
    from govcloud.plan.describe import describe, describe_deployed

    review, plan, _ = build("update-size")
    entry = plan.get("server-group-web")
    assert entry.inputs["policies"] == "soft-anti-affinity"
    assert describe(entry) == "soft-anti-affinity"
    assert by_key(review)["server-group-web"].summary == "soft-anti-affinity"
    assert describe_deployed(entry.type, {"policies": ("anti-affinity",)}) == "anti-affinity"
    out = CliRunner().invoke(cli, ["plan", str(tmp_path / "manifests" / "portal.yaml")], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "soft-anti-affinity" in out.output and "s, o, f, t" not in out.output


def test_deployed_resources_are_described_from_the_state_s_inputs():
    from govcloud.plan import resources as rt
    from govcloud.plan.describe import describe_deployed

    ids = {"0f3c5e9a-7d1b-4c2e-9f00-1234567890ab": "server-web-1"}
    assert describe_deployed(rt.VOLUME_ATTACH, {"volumeId": "vol-9", "instanceId": next(iter(ids))}, ids) == \
        "vol-9 on server-web-1"
    assert describe_deployed(rt.SECGROUP_RULE, {"direction": "ingress", "protocol": "tcp", "portRangeMin": 80,
                                                "portRangeMax": 81, "remoteIpPrefix": "0.0.0.0/0"}) == \
        "tcp:80-81 from 0.0.0.0/0"
    assert describe_deployed(rt.CONTAINER, {"metadata": {"Quota-Bytes": str(5 * 1024 ** 3)},
                                            "containerRead": ".r:*"}) == "5 GB quota, public read"
    assert describe_deployed(rt.ROUTER, {"externalNetworkId": "3f2a"}) == ""  # the state holds only an id
    assert describe_deployed(rt.INSTANCE, None) == ""


def test_destroy_changes_scrub_the_state_s_secrets():
    """The state holds secrets as the engine's secret objects: the destroy's old inputs hold the marker only."""
    urn = "urn:pulumi:citizen-portal-review-dev::govcloud-moe::openstack:compute/instance:Instance::server-web-1"
    secret = {ev.SECRET_SIG_KEY: ev.SECRET_SIG, "ciphertext": "v1:" + SECRET_VALUE}
    state = StackState.from_export({"deployment": {"resources": [
        {"urn": urn, "type": "openstack:compute/instance:Instance", "id": "0f3c5e9a-7d1b", "protect": False,
         "inputs": {"flavorName": "gc.small", "adminPass": secret}},
        {"urn": "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s", "type": "pulumi:pulumi:Stack"}]}})
    (change,) = rv.destroy_changes(state)
    assert (change.key, change.op, change.id) == ("server-web-1", "delete", "0f3c5e9a-7d1b")
    assert change.old_inputs == {"flavorName": "gc.small", "adminPass": "[secret]"}
    assert SECRET_VALUE not in repr(change)
    assert rv.destroy_changes(None) == ()
