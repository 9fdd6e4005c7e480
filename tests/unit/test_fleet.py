"""Many stacks: input digests, change and orphan detection, the summary, job lock names, and that one failing
stack does not stop the others (a FakeEngine; the real path runs in tests/e2e/test_scale.py)."""
from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from govcloud.config import DEFAULTS_DIR, ConfigRepo
from govcloud.engine.runner import ErrorKind
from govcloud.ops import fleet, summary
from govcloud.ops.digest import input_digest
from govcloud.ops.fleet import FleetPlan, FleetResult, StackOutcome, StackTask, plan_fleet, run_local
from govcloud.shared.index import FileStackIndex, IndexEntry, operation_entry
from govcloud.shared.jobs import job_lock, stack_of_lock

from .fake_engine import FakeEngine, failed, replayed

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "devcloud" / "citizen-portal.yaml"


@pytest.fixture()
def repo(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("GOVCLOUD_CONFIG", raising=False)
    (tmp_path / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")
    (tmp_path / "manifests").mkdir()
    return tmp_path


def network(repo: Path, name: str, n: int, agency: str = "moe") -> Path:
    path = repo / "manifests" / agency / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({
        "apiVersion": "govcloud/v1", "kind": "Service",
        "metadata": {"name": name, "agency": agency, "environment": "dev", "owner": f"a@{agency}.gov.example",
                     "costCenter": "X-1", "classification": "internal"},
        "spec": {"site": "devcloud", "network": {"cidr": f"10.77.{n}.0/24"}}}, sort_keys=False))
    return path


def index(repo: Path) -> FileStackIndex:
    return FileStackIndex(repo / "state" / "index")


def record_all(repo: Path, plan: FleetPlan) -> None:
    """What a successful deploy of every planned stack leaves in the index."""
    for t in plan.tasks:
        checked = fleet_check(t.file)
        d = input_digest(t.file, checked.plan, checked.workspace.config)
        index(repo).put(operation_entry(None, stack=t.stack, agency="moe", site="devcloud", environment="dev",
                                        manifest=t.manifest, operation="deploy", result="ok", digest=d.value,
                                        digest_parts=d.parts))


def fleet_check(file):
    from govcloud.check import check_manifest

    return check_manifest(file)


# ---------------------------------------------------------------- digests


def test_digest_is_stable_and_names_the_part_that_changed(repo):
    web = repo / "manifests" / "moe" / "portal.yaml"
    web.parent.mkdir(parents=True)
    shutil.copy(EXAMPLE, web)
    checked = fleet_check(web)
    config = checked.workspace.config
    first = input_digest(web, checked.plan, config)
    assert first == input_digest(web, checked.plan, config)
    assert {"manifest", "site devcloud", "template cloud-init/web", "policy", "plan", "version govcloud",
            "version pulumi", "version pulumi-openstack"} <= set(first.parts)

    # a template the servers render changes: that part moves (a comment does not reach the rendered user data,
    # so the plan stays the same: the template's own part is what catches it)
    tpl = repo / "templates" / "cloud-init" / "web.yaml.j2"
    tpl.parent.mkdir(parents=True)
    tpl.write_text((DEFAULTS_DIR / "templates" / "cloud-init" / "web.yaml.j2").read_text() + "\n# changed\n")
    again = fleet_check(web)
    second = input_digest(web, again.plan, ConfigRepo(repo))
    assert second.value != first.value
    assert second.changed_parts(first.parts) == ["template cloud-init/web"]

    # the rate card only changes what it costs, not the plan: the site part says so
    site = repo / "inventories" / "sites" / "devcloud.yaml"
    site.parent.mkdir(parents=True)
    site.write_text((DEFAULTS_DIR / "inventories" / "sites" / "devcloud.yaml").read_text() + "\n# new prices\n")
    third = input_digest(web, fleet_check(web).plan, ConfigRepo(repo))
    assert third.changed_parts(second.parts) == ["site devcloud"]
    assert first.changed_parts(None) == ["(never deployed)"]


# ---------------------------------------------------------------- change detection and orphans


def test_only_changed_stacks_run_and_all_forces(repo):
    files = [network(repo, f"svc{i}", i, agency) for i, agency in enumerate(["moe", "moh", "mefa"] * 2)]
    plan = plan_fleet([repo / "manifests"])
    assert len(plan.tasks) == 6 and all(t.changed == ("(never deployed)",) for t in plan.tasks)
    assert {t.manifest for t in plan.tasks} == {str(f.relative_to(repo)) for f in files}
    record_all(repo, plan)

    again = plan_fleet([repo / "manifests"])
    assert again.tasks == () and len(again.unchanged) == 6

    files[1].write_text(files[1].read_text().replace("10.77.1.0/24", "10.77.101.0/24"))
    files[4].write_text(files[4].read_text() + "# a comment changes the file, not the plan\n")
    changed = plan_fleet([repo / "manifests"])
    assert sorted(t.manifest for t in changed.tasks) == sorted(str(f.relative_to(repo)) for f in (files[1], files[4]))
    by = {t.manifest: t.changed for t in changed.tasks}
    assert by[str(files[1].relative_to(repo))] == ("manifest", "plan")
    assert by[str(files[4].relative_to(repo))] == ("manifest",)

    assert len(plan_fleet([repo / "manifests"], force_all=True).tasks) == 6
    # a manifest named as a file always runs
    assert [t.manifest for t in plan_fleet([files[0]]).tasks] == [str(files[0].relative_to(repo))]


def test_a_stack_marked_for_recovery_runs_whatever_its_digest(repo):
    f = network(repo, "svc", 1)
    plan = plan_fleet([repo / "manifests"])
    record_all(repo, plan)
    index(repo).mark_recovery(plan.tasks[0].stack, "queue job 7 stalled")
    (task,) = plan_fleet([repo / "manifests"]).tasks
    assert task.changed[0] == "(needs recovery)" and task.file == str(f)
    # a stack whose first deploy stalled gets an entry that says so
    index(repo).mark_recovery("govcloud-moh/new-dev", "queue job 8 stalled", "manifests/moh/new.yaml")
    e = index(repo).get("govcloud-moh/new-dev")
    assert (e.agency, e.environment, e.digest, e.needs_recovery) == ("moh", "dev", None, "queue job 8 stalled")


def test_orphans_are_reported_never_run(repo):
    keep, gone = network(repo, "keep", 1), network(repo, "gone", 2)
    plan = plan_fleet([repo / "manifests"])
    record_all(repo, plan)
    gone.unlink()
    after = plan_fleet([repo / "manifests"])
    assert [e.stack for e in after.orphans] == ["govcloud-moe/gone-dev"]
    assert after.tasks == () and [u.stack for u in after.unchanged] == ["govcloud-moe/keep-dev"]
    # outside the directory asked about, a missing manifest is not this run's orphan
    other = repo / "elsewhere"
    other.mkdir()
    assert plan_fleet([other]).orphans == ()
    # a destroyed stack is no orphan
    e = index(repo).get("govcloud-moe/gone-dev")
    index(repo).put(operation_entry(e, stack=e.stack, agency="moe", site="devcloud", environment="dev",
                                    manifest=e.manifest, operation="destroy", result="ok", digest=None))
    assert plan_fleet([repo / "manifests"]).orphans == ()
    assert keep.is_file()


def test_invalid_manifests_fail_alone(repo):
    network(repo, "good", 1)
    bad = network(repo, "bad", 2)
    bad.write_text(bad.read_text().replace("site: devcloud", "site: nowhere"))
    plan = plan_fleet([repo / "manifests"])
    assert [t.stack for t in plan.tasks] == ["govcloud-moe/good-dev"]
    (inv,) = plan.invalid
    assert inv.failed and inv.exit_code == 1 and "nowhere" in inv.error and inv.manifest == "manifests/moe/bad.yaml"


# ---------------------------------------------------------------- the index entry


def test_the_digest_moves_only_when_the_stack_matches_it():
    kw = dict(stack="govcloud-moe/a-dev", agency="moe", site="devcloud", environment="dev", manifest="m.yaml")
    ok = operation_entry(None, **kw, operation="deploy", result="ok", digest="d1", digest_parts={"manifest": "1"})
    assert ok.digest == "d1" and ok.result == "ok" and ok.by.count("@") == 1
    marked = IndexEntry.from_json({**ok.to_json(), "needs_recovery": "job 3 stalled"})
    failed_run = operation_entry(marked, **kw, operation="deploy", result="failed", digest="d2")
    assert failed_run.digest == "d1" and failed_run.needs_recovery == "job 3 stalled"
    recovered = operation_entry(failed_run, **kw, operation="deploy", result="ok", digest="d2")
    assert recovered.digest == "d2" and recovered.needs_recovery is None
    gone = operation_entry(recovered, **kw, operation="destroy", result="ok", digest="d2")
    assert gone.digest is None and gone.result == "destroyed"


# ---------------------------------------------------------------- running: one failure does not stop the others


def test_one_failing_stack_does_not_stop_the_others(repo, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_PASSPHRASE", "unit")
    network(repo, "aaa", 1)
    network(repo, "bbb", 2, "moh")
    plan = plan_fleet([repo / "manifests"])
    engines = {"govcloud-moe/aaa-dev": FakeEngine(results={"preview": replayed("create"),
                                                           "up": failed("up", "quota exceeded")}),
               "govcloud-moh/bbb-dev": FakeEngine(results={"preview": replayed("create"),
                                                           "up": replayed("deploy-up", "up")})}

    original = fleet.engine_factory

    def factory(expected, lock_wait=0.0, interrupts=None):
        real = original(expected)

        def make(checked, hooks):
            real_engine = real(checked, hooks)  # the digest check runs as in real use
            return engines[real_engine.name]
        return make

    monkeypatch.setattr(fleet, "engine_factory", factory)
    res = run_local(plan, parallel=1)
    by = {o.stack: o for o in res.outcomes}
    assert by["govcloud-moe/aaa-dev"].status == "failed" and "quota exceeded" in by["govcloud-moe/aaa-dev"].error
    assert by["govcloud-moh/bbb-dev"].status == "applied" and by["govcloud-moh/bbb-dev"].review_markdown
    assert res.exit_error().exit_code == 3 and "aaa-dev" in str(res.exit_error())
    idx = index(repo)
    assert idx.get("govcloud-moh/bbb-dev").digest and idx.get("govcloud-moh/bbb-dev").result == "ok"
    assert idx.get("govcloud-moe/aaa-dev").digest is None and idx.get("govcloud-moe/aaa-dev").result == "failed"
    assert [t.stack for t in plan_fleet([repo / "manifests"]).tasks] == ["govcloud-moe/aaa-dev"]


def test_a_worker_refuses_inputs_that_moved(repo):
    f = network(repo, "svc", 1)
    (task,) = plan_fleet([repo / "manifests"]).tasks
    f.write_text(f.read_text().replace("10.77.1.0/24", "10.77.9.0/24"))
    out = fleet.run_stack(task)
    assert out.status == "refused" and out.exit_code == 1 and "another commit" in out.error


# ---------------------------------------------------------------- the summary


def outcome(stack, status, delta="0", code=0, error=""):
    return StackOutcome(stack=stack, manifest=f"manifests/{stack.split('/')[1]}.yaml", operation="deploy",
                        status=status, error=error, exit_code=code, monthly_delta=delta, currency="IRR",
                        counts={"create": 3} if status == "applied" else {}, review_text=f"Review of {stack}\n",
                        review_markdown=f"### review `{stack}`\n")


def test_summary_counts_costs_and_exit_codes():
    plan = FleetPlan("deploy", (), (fleet.Unchanged("govcloud-sci/c-dev", "manifests/c.yaml"),), (), (
        IndexEntry("govcloud-sci/old-dev", "sci", "devcloud", "dev", "manifests/old.yaml", "d", "deploy", "ok"),))
    res = FleetResult(plan, (outcome("govcloud-moe/a-dev", "applied", "1500000"),
                             outcome("govcloud-moh/b-dev", "applied", "-250000"),
                             outcome("govcloud-mefa/x-dev", "refused", "999", 1, "data loss")))
    assert res.cost_delta() == {"IRR": Decimal("1250000")}  # a refused stack changed nothing
    assert res.unchanged_count == 1 and len(res.changed) == 2
    assert res.exit_error().exit_code == 1  # only a refusal: not an engine failure
    text = summary.render_text(res)
    assert "3 stacks" not in text and "govcloud deploy: 4 stacks: 2 changed, 1 unchanged, 1 failed, 1 orphaned; " \
           "+1,250,000 IRR/month" in text
    assert "Review of govcloud-moe/a-dev" in text and "ORPHANED" in text and "data loss" in text
    md = summary.render_markdown(res)
    assert md.startswith("### govcloud deploy: 4 stacks") and md.count("<details>") == 3
    assert "| `govcloud-sci/old-dev` | `manifests/old.yaml` | **orphaned**" in md
    doc = summary.summary_json(res)
    assert doc["counts"] == {"changed": 2, "unchanged": 1, "failed": 1, "orphaned": 1} and doc["ok"] is False
    assert doc["monthlyCostDelta"] == {"IRR": "1250000"}
    json.dumps(doc)
    assert FleetResult(plan, (outcome("govcloud-moe/a-dev", "failed", code=3),)).exit_error().exit_code == 3
    assert FleetResult(plan, (outcome("govcloud-moe/a-dev", "unchanged"),)).exit_error() is None


def test_outcomes_and_tasks_survive_json():
    o = outcome("govcloud-moe/a-dev", "applied", "12")
    assert StackOutcome.from_json(json.loads(json.dumps(o.to_json()))) == StackOutcome(
        **{**o.__dict__, "duration": round(o.duration, 2)})
    t = StackTask("/x/m.yaml", "m.yaml", "govcloud-moe/a-dev", "deploy", "abc", ("manifest",), True)
    assert StackTask.from_json(json.loads(json.dumps(t.to_json()))) == t


# ---------------------------------------------------------------- job locks


def test_job_lock_names_one_lock_per_stack():
    assert job_lock("govcloud-moe/portal-dev") == "govcloud-stack:govcloud-moe/portal-dev"
    assert stack_of_lock(job_lock("govcloud-moe/portal-dev")) == "govcloud-moe/portal-dev"
    assert job_lock("govcloud-moe/portal-dev") != job_lock("govcloud-moh/portal-dev")
    assert stack_of_lock("something-else") is None
    with pytest.raises(ValueError):
        job_lock("portal-dev")


def test_settings_refuse_a_password_in_a_url(tmp_path):
    from govcloud.errors import InputError
    from govcloud.settings import load_settings

    f = tmp_path / "govcloud.yaml"
    f.write_text("apiVersion: govcloud/v1\nkind: Config\nbackend: postgres://gc:hunter2@127.0.0.1:5544/gc\n")
    with pytest.raises(InputError) as exc:
        load_settings(f)
    assert "PGPASSFILE" in exc.value.problems[0].message and "hunter2" not in str(exc.value)
    f.write_text("apiVersion: govcloud/v1\nkind: Config\nbackend: postgres://gc@127.0.0.1:5544/gc\n")
    assert load_settings(f).backend.endswith("/gc")
    _ = ErrorKind  # the fake's failures carry engine error kinds


@pytest.mark.parametrize("option", [["--verify"], ["--replace", "network"], ["--plan", "PLAN"]])
def test_one_manifest_options_are_a_usage_error_with_a_directory(repo, monkeypatch, option):
    from click.testing import CliRunner

    from govcloud.cli import cli

    network(repo, "a", 1)
    (repo / "PLAN").write_text("{}")
    monkeypatch.chdir(repo)
    monkeypatch.setattr(fleet, "plan_fleet", lambda *a, **k: pytest.fail("a directory was planned"))
    r = CliRunner().invoke(cli, ["deploy", "manifests", "--yes", *option])
    assert r.exit_code == 2 and "take one manifest, not DIR" in r.output, r.output


@pytest.mark.parametrize("table", ["Pulumi_State", "state; DROP TABLE x", "1state", "a" * 64])
def test_a_postgres_backend_table_must_be_a_plain_name(table):
    from govcloud.errors import SetupError
    from govcloud.shared.db import SharedDatabase

    # refused before any connection: the name goes into the DDL that precedes the engine's first use
    with pytest.raises(SetupError, match="not a plain lower-case SQL name"):
        SharedDatabase(f"postgres://gc@127.0.0.1:1/db?table={table}").ensure_state_table()
