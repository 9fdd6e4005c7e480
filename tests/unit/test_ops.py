"""The workflows of govcloud.ops, every branch, against a FakeEngine replaying recorded real event logs.

No Pulumi CLI, no cloud: what is asserted is the choreography (lock -> recover -> preview -> review ->
guards -> confirm -> apply -> audit), what each refusal raises, and that nothing after a refusal runs.
The same paths run for real in tests/e2e/test_deploy.py and test_review.py.
"""
from __future__ import annotations

import json

import pytest

from govcloud.cloud.access import Access, WrongAgency
from govcloud.engine.recovery import Recovery
from govcloud.engine.runner import EngineOp, ErrorKind
from govcloud.errors import EngineError, EngineInterrupted, GovcloudError, NotDeployed, StackLockedError
from govcloud.ops.auditchain import record_hash
from govcloud.ops.deploy import ConflictingOptions, PreviewNeeded, UnknownResource, deploy
from govcloud.ops.destroy import destroy
from govcloud.ops.diff import diff
from govcloud.ops.refresh import refresh
from govcloud.ops.workflow import EngineFailed, Hooks, NotConfirmed, ProdDestroyRefused
from govcloud.review import DataLossError
from govcloud.review.savedplan import PlanMovedError

from .fake_engine import STACK, FakeEngine, export, failed, nothing, replayed, write_manifest

VOLUME = "openstack:blockstorage/volume:Volume"
NETWORK = "openstack:networking/network:Network"
CONTAINER = "openstack:objectstorage/container:Container"
HEAD_TAG_SET = "tag govcloud:audit-head"  # FakeEngine's record of the audit head kept in the stack's state


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("GOVCLOUD_CONFIG", raising=False)
    return tmp_path / "state"


def audit_records(state_dir):
    files = [f for f in state_dir.rglob("audit*") if f.is_file()]
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]


class Recorder(Hooks):
    def __init__(self, answer: bool = False):
        self.answer = answer
        self.notes: list[str] = []
        self.reviews: list = []
        self.asked: list[str] = []

    def note(self, text):
        self.notes.append(text)

    def review(self, review):
        self.reviews.append(review)

    def confirm(self, question, what):
        self.asked.append(question)
        return self.answer


# ---------------------------------------------------------------- deploy


def test_deploy_applies_after_preview_and_review(tmp_path, state_dir):
    eng = FakeEngine(results={"preview": replayed("create"), "up": replayed("deploy-up", "up")})
    hooks = Recorder()
    res = deploy(write_manifest(tmp_path), yes=True, hooks=hooks, engine_factory=eng.factory())
    assert eng.calls == ["access", "lock", "recover", "preview", "up", HEAD_TAG_SET]
    assert res.applied and res.result.ok and res.result.counts()["create"] > 20
    assert len(hooks.reviews) == 1 and hooks.asked == []  # --yes: nobody is asked
    rec = audit_records(state_dir)
    assert [(r["operation"], r["result"]) for r in rec] == [("deploy", "ok")]
    # the audit log's head (this record's seq and hash) is kept in the stack's state, after the record
    assert eng.stack_tags == {"govcloud:audit-head": f"1:{record_hash(rec[0])}"}


def test_deploy_asks_and_a_no_changes_nothing(tmp_path, state_dir):
    eng = FakeEngine(results={"preview": replayed("create")})
    hooks = Recorder(answer=False)
    with pytest.raises(NotConfirmed) as exc:
        deploy(write_manifest(tmp_path), hooks=hooks, engine_factory=eng.factory())
    assert exc.value.exit_code == 1
    assert eng.calls == ["access", "lock", "recover", "preview"] and eng.unprotected == []
    assert hooks.asked == ["Deploy these changes to govcloud-moe/citizen-portal-review-dev?"]
    assert audit_records(state_dir) == []  # nothing ran: nothing to audit


def test_deploy_without_hooks_never_applies_without_yes(tmp_path):
    eng = FakeEngine(results={"preview": replayed("create")})
    with pytest.raises(NotConfirmed):
        deploy(write_manifest(tmp_path), engine_factory=eng.factory())
    assert "up" not in eng.calls


def test_deploy_with_nothing_to_do_starts_no_apply(tmp_path, state_dir):
    eng = FakeEngine(results={"preview": nothing()})
    res = deploy(write_manifest(tmp_path), yes=True, engine_factory=eng.factory())
    assert not res.applied and eng.calls == ["access", "lock", "recover", "preview"]
    assert audit_records(state_dir) == []


def test_deploy_refuses_data_loss_before_anything_changes(tmp_path, state_dir):
    eng = FakeEngine(results={"preview": replayed("delete")})
    with pytest.raises(DataLossError) as exc:
        deploy(write_manifest(tmp_path, "delete"), yes=True, engine_factory=eng.factory())
    assert exc.value.exit_code == 1 and "volume" in str(exc.value)
    assert eng.calls == ["access", "lock", "recover", "preview"] and eng.unprotected == []


def test_deploy_refuses_protected_deletes_the_engine_blocked(tmp_path):
    """A preview that failed only because protected data would be deleted is a refusal, not an engine failure."""
    blocked = replayed("delete-protected")
    assert not blocked.ok and blocked.blocked_only_by_protection
    eng = FakeEngine(results={"preview": blocked})
    with pytest.raises(DataLossError):
        deploy(write_manifest(tmp_path, "delete-protected"), yes=True, engine_factory=eng.factory())
    assert "up" not in eng.calls


def test_deploy_with_allowed_data_loss_unprotects_exactly_what_is_lost(tmp_path):
    preview = replayed("delete")
    eng = FakeEngine(results={"preview": preview, "up": nothing("up")})
    deploy(write_manifest(tmp_path, "delete"), yes=True, allow_data_loss=True, engine_factory=eng.factory())
    assert eng.calls == ["access", "lock", "recover", "preview", "unprotect", "up", HEAD_TAG_SET]
    lost = {c.urn for c in preview.changes if c.type in (VOLUME, CONTAINER) and c.op == "delete"}
    assert lost and set(eng.unprotected[0]) == lost
    assert eng.options["up"]["allow_data_loss"] is True


@pytest.mark.parametrize("workflow", ["deploy", "destroy", "refresh", "diff"])
def test_another_agencys_credentials_are_refused_before_anything(tmp_path, state_dir, workflow):
    """The one credential check (ops.workflow.check_access) is the first thing every workflow asks the engine:
    after a WrongAgency nothing was locked, recovered, previewed or recorded."""
    refusal = WrongAgency("refused: these credentials (user moh-ci (project gov-moh, ...)) act on project gov-moh")
    eng = FakeEngine(state=STATE, access=refusal, results={"preview": replayed("create")})
    run = {"deploy": lambda f: deploy(f, yes=True, engine_factory=eng.factory()),
           "destroy": lambda f: destroy(f, yes=True, allow_data_loss=True, engine_factory=eng.factory()),
           "refresh": lambda f: refresh(f, engine_factory=eng.factory()),
           "diff": lambda f: diff([f], engine_factory=eng.factory())}[workflow]
    with pytest.raises(WrongAgency) as exc:
        run(write_manifest(tmp_path))
    assert exc.value.exit_code == 1
    assert eng.calls == ["access"] and eng.stack_tags == {} and audit_records(state_dir) == []


def test_admin_credentials_are_warned_of(tmp_path):
    admin = Access("devcloud", "admin", "gov-moe", "p-moe", ("member", "admin", "reader"))
    eng = FakeEngine(access=admin, results={"preview": replayed("create"), "up": nothing("up")})
    hooks = Recorder()
    deploy(write_manifest(tmp_path), yes=True, hooks=hooks, engine_factory=eng.factory())
    (warning,) = [n for n in hooks.notes if "admin role" in n]
    assert warning.startswith(f"warning: {STACK} runs with the admin role (user admin (project gov-moe, roles "
                              f"admin, member, reader))")
    member = Recorder()
    deploy(write_manifest(tmp_path), yes=True, hooks=member,
           engine_factory=FakeEngine(results={"preview": replayed("create"), "up": nothing("up")}).factory())
    assert not [n for n in member.notes if "admin" in n]


def test_deploy_when_the_stack_is_locked_does_nothing(tmp_path, state_dir):
    eng = FakeEngine(locked=True)
    with pytest.raises(StackLockedError, match="locked by govcloud deploy"):
        deploy(write_manifest(tmp_path), yes=True, engine_factory=eng.factory())
    assert eng.calls == ["access"] and audit_records(state_dir) == []


def test_deploy_preview_failure_is_exit_3_with_the_engines_words(tmp_path, state_dir):
    eng = FakeEngine(results={"preview": failed("preview", "Quota exceeded for instances")})
    with pytest.raises(EngineFailed) as exc:
        deploy(write_manifest(tmp_path), yes=True, engine_factory=eng.factory())
    assert exc.value.exit_code == 3
    assert "preview of govcloud-moe/citizen-portal-review-dev failed" in str(exc.value)
    assert "Quota exceeded for instances" in str(exc.value)
    assert "up" not in eng.calls and audit_records(state_dir) == []


def test_deploy_apply_failure_is_audited_as_failed(tmp_path, state_dir):
    eng = FakeEngine(results={"preview": replayed("create"), "up": failed("up", "Port is still in use")})
    with pytest.raises(EngineFailed, match="Port is still in use"):
        deploy(write_manifest(tmp_path), yes=True, engine_factory=eng.factory())
    assert [r["result"] for r in audit_records(state_dir)] == ["failed"]


def test_deploy_interrupted_apply_is_audited_as_interrupted(tmp_path, state_dir):
    eng = FakeEngine(results={"preview": replayed("create"),
                              "up": failed("up", "up was interrupted; run it again", ErrorKind.INTERRUPTED)})
    with pytest.raises(EngineInterrupted) as exc:
        deploy(write_manifest(tmp_path), yes=True, engine_factory=eng.factory())
    assert exc.value.exit_code == 3
    assert [r["result"] for r in audit_records(state_dir)] == ["interrupted"]


def test_deploy_recovers_pending_operations_then_refreshes_before_the_preview(tmp_path):
    rec = Recovery(("web-1: the interrupted run had created it (i-1); adopted into the state",), True, None)
    eng = FakeEngine(results={"refresh": nothing("refresh"), "preview": nothing()}, recovery=rec)
    hooks = Recorder()
    deploy(write_manifest(tmp_path), yes=True, hooks=hooks, engine_factory=eng.factory())
    assert eng.calls == ["access", "lock", "recover", "refresh", "preview"]
    assert hooks.notes[0] == "recovery: web-1: the interrupted run had created it (i-1); adopted into the state"


def test_deploy_stops_when_the_recovery_refresh_fails(tmp_path):
    rec = Recovery(("x",), True, None)
    eng = FakeEngine(results={"refresh": failed("refresh", "Keystone unreachable")}, recovery=rec)
    with pytest.raises(EngineFailed, match="Keystone unreachable"):
        deploy(write_manifest(tmp_path), yes=True, engine_factory=eng.factory())
    assert "preview" not in eng.calls


def test_deploy_replace_of_an_unknown_key_is_a_usage_error(tmp_path):
    eng = FakeEngine()
    with pytest.raises(UnknownResource) as exc:
        deploy(write_manifest(tmp_path), replace=["server-nope"], yes=True, engine_factory=eng.factory())
    assert exc.value.exit_code == 2 and eng.calls == []


def test_a_first_deploy_with_skip_preview_applies_in_the_child_started_ahead_without_a_preview(tmp_path, state_dir):
    eng = FakeEngine(results={"up": replayed("deploy-up", "up")})  # a preview would fail the fake: none given
    hooks = Recorder()
    res = deploy(write_manifest(tmp_path), yes=True, skip_preview=True, hooks=hooks, engine_factory=eng.factory())
    assert eng.ahead == EngineOp.UP  # the up's child, not a preview's, started during the access check
    assert eng.calls == ["access", "lock", "recover", "up", HEAD_TAG_SET]
    assert res.applied and res.result.ok
    (rv,) = hooks.reviews
    assert {r.op for r in rv.resources} == {"create"} and rv.data_loss == ()
    assert [(r["operation"], r["result"]) for r in audit_records(state_dir)] == [("deploy", "ok")]


def test_the_review_without_a_preview_is_the_one_the_engines_preview_of_a_first_deploy_gives(tmp_path):
    """create_changes against the recorded real preview of the same manifest's first deploy: the same resources,
    URNs, order, costs and summaries."""
    from govcloud.check import check_manifest
    from govcloud.review import build_review, create_changes, render_text

    checked = check_manifest(write_manifest(tmp_path))
    fields = ("key", "urn", "type", "op", "name", "summary", "monthly_before", "monthly_after", "data_loss")
    engine = build_review(checked.plan, checked.site, replayed("create"))
    planned = build_review(checked.plan, checked.site, create_changes(checked.plan))
    assert len(planned.resources) == len(checked.plan.resources) > 20
    assert [[getattr(r, f) for f in fields] for r in planned.resources] == \
        [[getattr(r, f) for f in fields] for r in engine.resources]
    assert (planned.monthly_before, planned.monthly_after) == (engine.monthly_before, engine.monthly_after)
    assert render_text(planned) == render_text(engine)  # what ops read before they confirm


def test_skip_preview_is_refused_for_a_stack_that_holds_resources(tmp_path, state_dir):
    state = export(("volume-web-1-data", VOLUME, {"name": "moe-dev-citizen-portal-review-web-1-data", "size": 1}))
    eng = FakeEngine(results={"up": nothing("up")}, state=state)
    with pytest.raises(PreviewNeeded) as exc:
        deploy(write_manifest(tmp_path), yes=True, skip_preview=True, engine_factory=eng.factory())
    assert exc.value.exit_code == 1 and STACK in str(exc.value) and "holds resources" in str(exc.value)
    assert eng.calls == ["access", "lock", "recover"] and audit_records(state_dir) == []


@pytest.mark.parametrize("option", [{"replace": ["server-web-1"]}, {"refresh": True}, {"plan_file": "x.plan"}])
def test_skip_preview_with_an_option_that_needs_the_preview_is_a_usage_error(tmp_path, option):
    eng = FakeEngine()
    with pytest.raises(ConflictingOptions) as exc:
        deploy(write_manifest(tmp_path), yes=True, skip_preview=True, engine_factory=eng.factory(), **option)
    assert exc.value.exit_code == 2 and eng.calls == []


def test_skip_preview_without_yes_asks_over_the_review_of_creates(tmp_path):
    eng = FakeEngine(results={"up": nothing("up")})
    hooks = Recorder(answer=False)
    with pytest.raises(NotConfirmed):
        deploy(write_manifest(tmp_path), skip_preview=True, hooks=hooks, engine_factory=eng.factory())
    assert eng.calls == ["access", "lock", "recover"] and len(hooks.asked) == 1
    assert {r.op for r in hooks.reviews[0].resources} == {"create"}


def test_deploy_shrinking_volume_is_forced_to_a_replacement(tmp_path):
    """Cinder cannot shrink: a deployed 5 GB volume planned at 1 GB is replaced (so the guard sees it)."""
    state = export(("volume-web-1-data", VOLUME, {"name": "moe-dev-citizen-portal-review-web-1-data", "size": 5}))
    eng = FakeEngine(results={"preview": nothing(), "up": nothing("up")}, state=state)
    deploy(write_manifest(tmp_path), yes=True, engine_factory=eng.factory())
    assert list(eng.options["preview"]["replace"]) == ["volume-web-1-data"]
    assert list(eng.options["up"]["replace"]) == ["volume-web-1-data"]  # the apply does what the preview showed


# ---------------------------------------------------------------- saved plans


def test_saved_plan_applies_only_the_reviewed_change(tmp_path, state_dir):
    manifest = write_manifest(tmp_path)
    plan_file = str(tmp_path / "change.plan")
    diff([manifest], out=plan_file, engine_factory=FakeEngine(results={"preview": replayed("create")}).factory())
    eng = FakeEngine(results={"preview": replayed("create"), "up": nothing("up")})
    res = deploy(manifest, yes=True, plan_file=plan_file, engine_factory=eng.factory())
    assert res.applied and eng.calls[-2:] == ["up", HEAD_TAG_SET]


def test_stale_saved_plan_is_refused_and_audited(tmp_path, state_dir):
    manifest = write_manifest(tmp_path)
    plan_file = str(tmp_path / "change.plan")
    diff([manifest], out=plan_file, engine_factory=FakeEngine(results={"preview": replayed("create")}).factory())
    eng = FakeEngine(results={"preview": replayed("update-size")})  # the preview moved since the review
    with pytest.raises(PlanMovedError):
        deploy(manifest, yes=True, plan_file=plan_file, engine_factory=eng.factory())
    assert "up" not in eng.calls and HEAD_TAG_SET not in eng.calls  # no stack yet: no state to keep a head in
    assert [(r["operation"], r["result"]) for r in audit_records(state_dir)] == [("deploy", "refused")]


# ---------------------------------------------------------------- destroy


def test_destroy_with_nothing_deployed_does_nothing(tmp_path):
    eng = FakeEngine()
    res = destroy(write_manifest(tmp_path), yes=True, engine_factory=eng.factory())
    assert res.result is None and eng.calls == ["access", "lock", "recover"]


STATE = export(("network", NETWORK, {"name": "moe-dev-citizen-portal-review-net"}),
               ("volume-web-1-data", VOLUME, {"name": "moe-dev-citizen-portal-review-web-1-data", "size": 1}))


def test_destroy_refuses_to_lose_volumes_without_the_flag(tmp_path):
    eng = FakeEngine(state=STATE)
    with pytest.raises(DataLossError):
        destroy(write_manifest(tmp_path), yes=True, engine_factory=eng.factory())
    assert "destroy" not in eng.calls and eng.unprotected == []


def test_destroy_with_the_flag_unprotects_then_destroys(tmp_path, state_dir):
    eng = FakeEngine(state=STATE, results={"destroy": nothing("destroy")})
    destroy(write_manifest(tmp_path), yes=True, allow_data_loss=True, engine_factory=eng.factory())
    assert eng.calls == ["access", "lock", "recover", "unprotect", "destroy", HEAD_TAG_SET] and eng.unprotected == [None]
    assert [(r["operation"], r["result"]) for r in audit_records(state_dir)] == [("destroy", "ok")]


def test_destroy_of_prod_needs_the_stack_name(tmp_path):
    manifest = write_manifest(tmp_path, environment="prod")
    eng = FakeEngine(state=STATE)
    with pytest.raises(ProdDestroyRefused, match="pass --confirm citizen-portal-review-prod"):
        destroy(manifest, yes=True, allow_data_loss=True, engine_factory=eng.factory())
    with pytest.raises(ProdDestroyRefused, match="does not name this stack"):
        destroy(write_manifest(tmp_path), confirm_name="other-dev", allow_data_loss=True,
                engine_factory=eng.factory())
    assert "destroy" not in eng.calls


def test_destroy_asks_unless_yes(tmp_path):
    eng = FakeEngine(state=STATE)
    hooks = Recorder(answer=False)
    with pytest.raises(NotConfirmed):
        destroy(write_manifest(tmp_path), allow_data_loss=True, hooks=hooks, engine_factory=eng.factory())
    assert hooks.asked == ["Destroy stack citizen-portal-review-dev and its 2 resources?"]
    assert "destroy" not in eng.calls and eng.unprotected == []


# ---------------------------------------------------------------- refresh


def test_refresh_check_records_nothing_and_reports_drift(tmp_path):
    eng = FakeEngine(state=STATE, results={"refresh-preview": replayed("update-size")})
    res = refresh(write_manifest(tmp_path), check=True, engine_factory=eng.factory())
    assert eng.calls == ["access", "lock", "refresh-preview"]  # no recovery: a check writes nothing
    assert not res.recorded and res.drifted
    assert {c.key for c in res.drift} >= {"server-web-1"}


def test_refresh_recovers_then_records(tmp_path):
    eng = FakeEngine(state=STATE, results={"refresh": nothing("refresh")})
    res = refresh(write_manifest(tmp_path), engine_factory=eng.factory())
    assert eng.calls == ["access", "lock", "recover", "refresh"] and res.recorded and not res.drifted


def test_refresh_failure_is_exit_3(tmp_path):
    eng = FakeEngine(state=STATE, results={"refresh": failed("refresh", "Nova API 503")})
    with pytest.raises(EngineFailed, match="Nova API 503"):
        refresh(write_manifest(tmp_path), engine_factory=eng.factory())


@pytest.mark.parametrize("check", [False, True])
def test_refresh_of_a_stack_never_deployed_is_refused_before_the_engine(tmp_path, check):
    eng = FakeEngine(results={"refresh": nothing("refresh"), "refresh-preview": nothing("refresh-preview")})
    with pytest.raises(NotDeployed, match="citizen-portal-review-dev is not deployed: run govcloud deploy") as e:
        refresh(write_manifest(tmp_path), check=check, engine_factory=eng.factory())
    assert e.value.exit_code == 1
    assert eng.calls == ["access", "lock"]  # no recovery, no engine operation


# ---------------------------------------------------------------- diff


def test_diff_reviews_each_stack_and_one_failure_does_not_stop_the_others(tmp_path):
    a = write_manifest(tmp_path / "a")
    b = write_manifest(tmp_path / "b", "update-size")
    engines = iter([FakeEngine(results={"preview": failed("preview", "boom")}),
                    FakeEngine(results={"preview": replayed("update-size")})])
    res = diff([a, b], engine_factory=lambda c, h: next(engines))
    assert [s.ok for s in res.stacks] == [False, True]
    err = res.exit_error()
    assert isinstance(err, EngineError) and err.exit_code == 3 and "1 of 2 previews failed" in str(err)


def test_diff_exits_1_when_only_setup_is_missing(tmp_path):
    eng = FakeEngine(results={"preview": failed("preview", "no passphrase", ErrorKind.SETUP)})
    res = diff([write_manifest(tmp_path)], engine_factory=eng.factory())
    err = res.exit_error()
    assert type(err) is GovcloudError and err.exit_code == 1


def test_diff_out_needs_one_manifest(tmp_path):
    with pytest.raises(GovcloudError) as exc:
        diff([write_manifest(tmp_path / "a"), write_manifest(tmp_path / "b")], out=str(tmp_path / "p"),
             engine_factory=FakeEngine().factory())
    assert exc.value.exit_code == 2


# ---------------------------------------------------------------- deploy --verify and the metering ledger


def test_deploy_verify_runs_after_the_apply_with_its_outputs(tmp_path, monkeypatch):
    import govcloud.verify

    up = replayed("deploy-up", "up")
    eng = FakeEngine(results={"preview": replayed("create"), "up": up})
    seen = {}

    def fake_verify(checked, plan, *, outputs, options, on_progress):
        seen.update(calls=list(eng.calls), outputs=outputs, options=options, held=eng.held)
        return "the report"

    monkeypatch.setattr(govcloud.verify, "verify_service", fake_verify)
    options = object()
    res = deploy(write_manifest(tmp_path), yes=True, verify=options, engine_factory=eng.factory())
    assert res.verify == "the report"
    assert seen["calls"][-2:] == ["up", HEAD_TAG_SET] and not seen["held"]  # after the apply, the lock released
    assert seen["outputs"] == dict(up.outputs) and seen["options"] is options


def test_deploy_verify_with_nothing_to_deploy_still_verifies_the_running_stack(tmp_path, monkeypatch):
    import govcloud.verify

    eng = FakeEngine(results={"preview": nothing()})
    monkeypatch.setattr(govcloud.verify, "verify_service",
                        lambda checked, plan, *, outputs, options, on_progress: ("read them", outputs))
    res = deploy(write_manifest(tmp_path), yes=True, verify=object(), engine_factory=eng.factory())
    assert not res.applied and res.verify == ("read them", None)  # verify reads the outputs itself


def test_a_failed_apply_still_records_lifetimes_and_a_metering_failure_is_a_warning(tmp_path, monkeypatch):
    import govcloud.metering.lifetimes as lifetimes

    calls = []
    monkeypatch.setattr(lifetimes, "record_operation", lambda result, *a, **k: calls.append(result.op))
    eng = FakeEngine(results={"preview": replayed("create"), "up": failed("up", "Port is still in use")})
    with pytest.raises(EngineFailed):
        deploy(write_manifest(tmp_path), yes=True, engine_factory=eng.factory())
    assert calls == ["up"]  # a failed up may have created resources: metering must know

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(lifetimes, "record_operation", broken)
    hooks = Recorder()
    eng = FakeEngine(results={"preview": replayed("create"), "up": nothing("up")})
    res = deploy(write_manifest(tmp_path), yes=True, hooks=hooks, engine_factory=eng.factory())
    assert res.applied
    assert any("not recorded for metering (OSError: disk full)" in n for n in hooks.notes)
