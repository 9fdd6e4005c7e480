"""govcloud.review.savedplan: a reviewed change saved to a file, applied exactly or refused (fail closed)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from govcloud.engine.runner import OperationResult
from govcloud import review as rv
from govcloud.review import savedplan as sp
from govcloud.config import ConfigRepo
from govcloud.errors import InputError
from govcloud.check import Workspace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
STACK = "govcloud-moe/citizen-portal-review-dev"
EXPORT = {"version": 3, "deployment": {"manifest": {"time": "2026-11-28T13:00:00Z", "version": "v3.274.1"},
                                       "resources": [{"urn": "urn:pulumi:x::y::pulumi:pulumi:Stack::y-x"}]}}


def fixture(name):
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def change(tmp_path):
    """A reviewed change: (manifest path, plan, review, fresh change records)."""
    fx = fixture("multi")
    manifest = tmp_path / "portal.yaml"
    manifest.write_text(yaml.safe_dump(fx["manifest"], sort_keys=False), encoding="utf-8")
    ws = Workspace(ConfigRepo(None))
    plan = ws.plan(manifest)
    preview = OperationResult.from_events("preview", fx["events"])
    review = rv.build_review(plan, ws.inventory.site(plan.service.site), preview)
    return manifest, plan, review, preview.changes


def save(tmp_path, change, **kw):
    manifest, plan, review, _ = change
    args = dict(manifest_path=manifest, plan=plan, stack=STACK, stack_fingerprint=sp.stack_fingerprint(EXPORT, 7),
                changes=review)
    args.update(kw)
    return sp.save_plan(tmp_path / "change.plan", **args)


def test_save_and_load_round_trip(tmp_path, change):
    manifest, plan, review, _ = change
    saved = save(tmp_path, change)
    data = json.loads((tmp_path / "change.plan").read_text())
    assert data["kind"] == "govcloud.SavedPlan" and data["planVersion"] == 1
    assert data["manifest"] == {"path": str(manifest), "sha256": sp.manifest_hash(manifest)}
    assert data["resourcePlan"]["sha256"] == sp.plan_hash(plan)
    assert data["stack"]["name"] == STACK and data["stack"]["fingerprint"].startswith("v7:")
    assert data["verdict"] == review.verdict
    assert data["created"].endswith("Z") and data["govcloudVersion"]
    assert {"urn": "urn:pulumi:citizen-portal-review-dev::govcloud-moe::openstack:compute/instance:Instance::"
                   "server-web-1", "op": "update", "changed": ["flavorName", 'metadata["govcloud:size"]']} \
        in data["changes"]
    assert [c["op"] for c in data["changes"]].count("create") == 7
    assert len(data["changes"]) == 13  # no unchanged resources, no stack, no provider
    loaded = sp.load_plan(tmp_path / "change.plan")
    assert loaded.changes == saved.changes and loaded.stack_fingerprint == saved.stack_fingerprint
    assert loaded.file == str(tmp_path / "change.plan")


def test_plan_file_holds_names_not_values(tmp_path, change):
    save(tmp_path, change)
    text = (tmp_path / "change.plan").read_text()
    for value in ("gc.medium", "gc.small", "2222", "fixture-secret-not-real", "[secret]", "#cloud-config"):
        assert value not in text


def test_verify_passes_when_nothing_moved(tmp_path, change):
    manifest, plan, review, fresh = change
    saved = sp.load_plan(save(tmp_path, change).file)
    sp.verify_plan(saved, sp.manifest_hash(manifest), sp.plan_hash(plan), sp.stack_fingerprint(EXPORT, 7), fresh,
                   stack=STACK)
    sp.verify_plan(saved, sp.manifest_hash(manifest), sp.plan_hash(plan), sp.stack_fingerprint(EXPORT, 7), review)


def _moved(saved, manifest, plan, fresh, **over):
    args = dict(current_manifest_hash=sp.manifest_hash(manifest), current_plan_hash=sp.plan_hash(plan),
                current_stack_fingerprint=sp.stack_fingerprint(EXPORT, 7), fresh_changes=fresh)
    args.update(over)
    with pytest.raises(sp.PlanMovedError) as exc:
        sp.verify_plan(saved, **args)
    assert exc.value.exit_code == 1
    return exc.value


def test_refuses_when_the_manifest_moved(tmp_path, change):
    manifest, plan, _, fresh = change
    saved = save(tmp_path, change)
    manifest.write_text(manifest.read_text() + "# edited after the review\n")
    err = _moved(saved, manifest, plan, fresh)
    assert len(err.moved) == 1
    assert err.moved[0].startswith(f"the manifest {manifest} changed since the plan was made (sha256 ")
    assert str(err).startswith(f"refusing to deploy the saved plan {tmp_path / 'change.plan'}: it no longer matches")


def test_refuses_when_the_compiled_plan_moved(tmp_path, change):
    """Same manifest, different plan: e.g. the inventory or a blueprint changed what it compiles to."""
    manifest, plan, _, fresh = change
    saved = save(tmp_path, change)
    doc = plan.to_json()
    doc["resources"][0]["inputs"]["admin_state_up"] = False
    err = _moved(saved, manifest, plan, fresh, current_plan_hash=sp.plan_hash(doc))
    assert err.moved == (f"the compiled resource plan changed (a blueprint, the inventory, a template or the "
                         f"govcloud version; sha256 {saved.plan_sha256[:12]} -> {sp.plan_hash(doc)[:12]})",)


def test_refuses_when_the_stack_moved(tmp_path, change):
    manifest, plan, _, fresh = change
    saved = save(tmp_path, change)
    later = json.loads(json.dumps(EXPORT))
    later["deployment"]["manifest"]["time"] = "2026-11-28T14:00:00Z"
    now = sp.stack_fingerprint(later, 8)
    err = _moved(saved, manifest, plan, fresh, current_stack_fingerprint=now)
    assert err.moved == (f"the stack {STACK} changed since the plan was made (another deploy, refresh or state "
                         f"edit: v7:{saved.stack_fingerprint[3:15]} -> v8:{now[3:15]})",)
    err = _moved(saved, manifest, plan, fresh, current_stack_fingerprint=sp.NO_STACK)
    assert err.moved[0].endswith("-> not deployed)")


def test_refuses_when_the_fresh_preview_differs(tmp_path, change):
    manifest, plan, _, fresh = change
    saved = save(tmp_path, change)
    other = OperationResult.from_events("preview", fixture("delete")["events"]).changes
    err = _moved(saved, manifest, plan, other)
    text = "\n".join(err.moved)
    assert "server-web-3: the plan says create, the preview now leaves it unchanged" in text
    assert "server-web-2: the plan says update, the preview now says delete" in text
    assert "attach-web-1-data: the preview now says replace, not in the plan" in text
    # the same op on other fields is a difference too
    import dataclasses

    tweaked = tuple(dataclasses.replace(c, changed=("flavorName", "imageName")) if c.key == "server-web-1" else c
                    for c in fresh)
    err = _moved(saved, manifest, plan, tweaked)
    assert err.moved == ('server-web-1: the plan changes flavorName, metadata["govcloud:size"], the preview now '
                         'changes flavorName, imageName',)


def test_refuses_another_stack_and_says_everything_that_moved(tmp_path, change):
    manifest, plan, _, fresh = change
    saved = save(tmp_path, change)
    manifest.write_text("# moved\n" + manifest.read_text())
    with pytest.raises(sp.PlanMovedError) as exc:
        sp.verify_plan(saved, sp.manifest_hash(manifest), "0" * 64, sp.NO_STACK, (), stack="govcloud-moe/other-dev")
    assert len(exc.value.moved) == 4 + 13
    assert exc.value.moved[0] == f"the plan is for stack {STACK}, this manifest deploys govcloud-moe/other-dev"


def test_plan_hash_ignores_the_manifest_path_only(change):
    _, plan, _, _ = change
    import dataclasses

    assert sp.plan_hash(plan) == sp.plan_hash(dataclasses.replace(plan, manifest_file="elsewhere/portal.yaml"))
    assert sp.plan_hash(plan) != sp.plan_hash(dataclasses.replace(plan, resources=plan.resources[:-1]))
    assert len(sp.plan_hash(plan)) == 64


def test_stack_fingerprint():
    assert sp.stack_fingerprint(None) == "none"
    reordered = {"deployment": {"resources": EXPORT["deployment"]["resources"],
                                "manifest": EXPORT["deployment"]["manifest"]}, "version": 3}
    assert sp.stack_fingerprint(EXPORT) == sp.stack_fingerprint(reordered)
    assert sp.stack_fingerprint(EXPORT, 12).startswith("v12:")
    assert sp.stack_fingerprint(EXPORT) != sp.stack_fingerprint({**EXPORT, "version": 4})
    # the empty stack a first preview creates (or a destroy leaves) is no stack, as far as a plan goes
    empty = {"version": 3, "deployment": {"manifest": {"time": "2026-11-28T13:05:00Z"},
                                          "secrets_providers": {"type": "passphrase"}}}
    assert sp.stack_fingerprint(empty) == sp.stack_fingerprint({"version": 3, "deployment": {"resources": []}})
    assert sp.stack_fingerprint(empty) == sp.NO_STACK


def test_expected_changes_from_review_and_records_agree(change):
    _, _, review, fresh = change
    assert sp.expected_changes(review) == sp.expected_changes(fresh)
    assert sp.expected_changes(OperationResult.from_events("preview", fixture("multi")["events"])) == \
        sp.expected_changes(fresh)
    assert all(c.op != "same" for c in sp.expected_changes(fresh))


# ---------------------------------------------------------------- a damaged plan file


def _problems(path) -> list[str]:
    with pytest.raises(InputError) as exc:
        sp.load_plan(path)
    return [p.format() for p in exc.value.problems]


def test_load_invalid_json_is_located(tmp_path, change):
    saved = save(tmp_path, change)
    path = Path(saved.file)
    lines = path.read_text().splitlines()
    lines[4] = lines[4].rstrip(",")  # drop the comma after the manifest path
    path.write_text("\n".join(lines) + "\n")
    (p,) = _problems(path)
    assert p.startswith(f"{path}:6:5:") and "error: not a govcloud plan file: invalid JSON: Expecting ',' delimiter" in p
    assert "make it again with `govcloud diff FILE --out PLAN`" in p


def test_load_wrong_fields_are_located(tmp_path, change):
    saved = save(tmp_path, change)
    path = Path(saved.file)
    data = json.loads(path.read_text())
    data["manifest"]["sha256"] = "abc"
    del data["stack"]["fingerprint"]
    data["changes"][0]["changed"] = [7]
    data["changes"][1]["op"] = "explode"
    data["changes"][2]["changed"] = "flavorName"
    data["reviewedBy"] = "someone"
    path.write_text(json.dumps(data, indent=2))
    text = path.read_text().splitlines()
    probs = _problems(path)
    stack_line, sha_line, op_line, changed_line, extra_line = (
        next(i for i, line in enumerate(text, 1) if needle in line)
        for needle in ('"stack": {', '"abc"', '"explode"', '"changed": "flavorName"', '"reviewedBy"'))
    seven_line = next(i for i, line in enumerate(text, 1) if line.strip() == "7")
    expected = [
        (sha_line, "manifest.sha256: must be a sha256 (64 lowercase hex digits)"),
        (stack_line, "stack.fingerprint: required field 'fingerprint' is missing"),  # where it belongs
        (seven_line, "changes[0].changed[0]: must be a string, got a number"),
        (op_line, "changes[1].op: must be 'create', 'update', 'replace', 'delete', 'same', 'read', 'refresh', "
                  "'import', 'discard' or 'unknown'"),
        (changed_line, "changes[2].changed: must be a list, got a string"),
        (extra_line, "reviewedBy: unknown field 'reviewedBy' (allowed: kind, planVersion, manifest, resourcePlan, "
                     "stack, changes, verdict, created, govcloudVersion)"),
    ]
    assert len(probs) == len(expected), probs
    for line, message in expected:
        assert any(p.startswith(f"{path}:{line}:") and p.endswith(f"error: {message}") for p in probs), (message, probs)


def test_load_not_a_plan(tmp_path):
    other = tmp_path / "x.plan"
    other.write_text('{"kind": "ResourcePlan"}')
    (p,) = _problems(other)
    assert "not a govcloud plan file: kind is 'ResourcePlan', expected 'govcloud.SavedPlan'" in p
    other.write_text('{"kind": "govcloud.SavedPlan", "planVersion": 99}')
    assert "plan version 99 is not supported" in _problems(other)[0]
    other.write_bytes(b"\xff\xfe")
    assert "not UTF-8" in _problems(other)[0]
    assert "cannot read the plan file" in _problems(tmp_path / "missing.plan")[0]


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path, change):
    save(tmp_path, change)
    save(tmp_path, change)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["change.plan", "portal.yaml"]
