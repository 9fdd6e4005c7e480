"""The onboard and offboard workflows of govcloud.tenancy.ops, every branch, against a FakeEngine and a fake
Keystone: no Pulumi CLI, no cloud.

What is asserted is the choreography per site (lock -> recover -> what exists outside the stack -> preview
-> guards -> confirm -> apply), what each refusal raises, and that nothing after a refusal runs. The engine
results are built here from the onboarding plan's own keys (the resource types are the plan's); the same
paths run for real in tests/e2e/test_onboarding.py.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from govcloud.check import Workspace
from govcloud.config import ConfigRepo
from govcloud.engine.events import ResourceChange
from govcloud.engine.recovery import Recovery
from govcloud.engine.runner import ErrorKind, OperationResult
from govcloud.errors import InputError, NoCredentials, SetupError, StackLockedError
from govcloud.ops.workflow import EngineFailed, NotConfirmed
from govcloud.tenancy.hooks import TenancyHooks
from govcloud.tenancy.keystone import AdminScope, SiteAdmin
from govcloud.tenancy.ops import ExistsOutsideStack, ProjectAtRisk, offboard, onboard, onboarding_plans
from govcloud.tenancy.plan import GROUP, PROJECT

from ..conftest import REPO
from .fake_engine import FakeEngine, export, failed, nothing

WS = Workspace(ConfigRepo(REPO))
KEYS = {"project": PROJECT, "team-group": GROUP,
        "team-member": "openstack:identity/roleAssignment:RoleAssignment",
        "deployer-member": "openstack:identity/roleAssignment:RoleAssignment",
        "compute-quota": "openstack:compute/quotaSetV2:QuotaSetV2",
        "network-quota": "openstack:networking/quotaV2:QuotaV2",
        "volume-quota": "openstack:blockstorage/quoteSetV3:QuoteSetV3"}


def change(key: str, op: str, *changed: str, id: str = "") -> ResourceChange:
    return ResourceChange(urn=f"urn:pulumi:onboard-moh-devcloud::govcloud-ministry::{KEYS[key]}::{key}", key=key,
                          type=KEYS[key], op=op, raw_op=op, changed=changed, id=id)


def result(op: str, *changes: ResourceChange, **fields) -> OperationResult:
    return OperationResult(op=op, stack="govcloud-ministry/onboard-moh-devcloud", ok=fields.pop("ok", True),
                           changes=changes, **fields)


def every(op: str, **ids) -> tuple[ResourceChange, ...]:
    return tuple(change(k, op, id=ids.get(k, "")) for k in KEYS)


CREATE_PREVIEW = result("preview", *every("create"))
CREATED = result("up", *every("create", project="p-new"), duration=4.2)
SAME = result("preview", *every("same"))
ONBOARDED = export(*((k, t, {}) for k, t in KEYS.items()))  # the stack's state after onboarding (project id-project)


class FakeKeystone:
    """The admin connection as the workflows use it: roles, users, projects and groups by name, and what lives
    in a project (servers)."""

    def __init__(self, projects: dict | None = None, groups: dict | None = None, servers: int = 0):
        found = lambda table: lambda name, ignore_missing=True: (  # noqa: E731
            SimpleNamespace(id=table[name]) if name in table else None)
        self.config = SimpleNamespace(name="devcloud")
        self.current_user_id = "u-admin"
        self.identity = SimpleNamespace(
            find_role=lambda name, ignore_missing=True: SimpleNamespace(id=f"role-{name}"),
            get_user=lambda uid: SimpleNamespace(id=uid, name="admin"),
            find_user=lambda name, ignore_missing=True: None,
            find_project=found(projects or {}), find_group=found(groups or {}))
        self.compute = SimpleNamespace(servers=lambda **kw: [object()] * servers)
        self.block_storage = SimpleNamespace(volumes=lambda **kw: [])
        self.network = SimpleNamespace(networks=lambda **kw: [])


def admins(keystone: FakeKeystone | None = None):
    keystone = keystone or FakeKeystone()
    return lambda site: SiteAdmin(site, scope=AdminScope(site.cloud, "admin", "admin"), conn=keystone)


class Recorder(TenancyHooks):
    def __init__(self, answer: bool = False):
        self.answer = answer
        self.events: list[tuple] = []

    def note(self, text):
        self.events.append(("note", text))

    def confirm(self, question, what):
        self.events.append(("confirm", question))
        return self.answer

    def adopting(self, stack, existing):
        self.events.append(("adopting", tuple(str(e) for e in existing)))

    def previewed(self, agency, site, stack, preview):
        self.events.append(("previewed", site.name))

    def onboarded(self, done):
        self.events.append(("onboarded", done))

    def offboarding(self, agency, site, stack, resources):
        self.events.append(("offboarding", tuple(r.key for r in resources)))

    def offboarded(self, done):
        self.events.append(("offboarded", done))

    def kinds(self) -> list[str]:
        return [e[0] for e in self.events]


def run_onboard(eng: FakeEngine, hooks=None, keystone=None, **kw):
    kw.setdefault("sites", ("devcloud",))
    return onboard("moh", kw.pop("sites"), workspace=WS, hooks=hooks, engine_factory=eng.factory(),
                   site_admin=admins(keystone), **kw)


def run_offboard(eng: FakeEngine, hooks=None, keystone=None, **kw):
    return offboard("moh", ("devcloud",), workspace=WS, hooks=hooks, engine_factory=eng.factory(),
                    site_admin=admins(keystone), **kw)


def plan_of(options: dict):
    return options["plan"]


# ---------------------------------------------------------------- onboard


def test_onboard_previews_asks_and_applies():
    eng = FakeEngine(results={"preview": CREATE_PREVIEW, "up": CREATED})
    hooks = Recorder(answer=True)
    res = run_onboard(eng, hooks)
    assert eng.calls == ["lock", "recover", "preview", "up"] and eng.unprotected == []
    assert hooks.kinds() == ["previewed", "confirm", "onboarded"]
    assert hooks.events[1] == ("confirm", "Apply these changes to govcloud-moe/citizen-portal-review-dev?")
    (site,) = res.sites
    assert site.result is CREATED and site.project_id == "p-new" and site.settled is None
    assert hooks.events[2][1] is site
    # the Keystone ids are bound before the plan reaches the engine; nothing is imported
    plan = plan_of(eng.options["up"])
    assert plan.get("team-member").inputs["role_id"] == "role-member"
    assert plan.get("deployer-member").inputs["user_id"] == "u-admin"
    assert not any(r.import_id for r in plan.resources)
    assert eng.options["up"]["message"] == "govcloud agency onboard moh --site devcloud"
    assert res.to_json()["sites"][0]["changes"][0] == {"key": "project", "type": PROJECT, "op": "create",
                                                       "changed": [], "id": "p-new"}


def test_onboard_not_confirmed_changes_nothing():
    eng = FakeEngine(results={"preview": CREATE_PREVIEW})
    hooks = Recorder(answer=False)
    with pytest.raises(NotConfirmed) as exc:
        run_onboard(eng, hooks)
    assert exc.value.exit_code == 1
    assert eng.calls == ["lock", "recover", "preview"] and eng.unprotected == []
    assert "onboarded" not in hooks.kinds()


def test_onboard_without_hooks_applies_only_with_yes():
    with pytest.raises(NotConfirmed):
        run_onboard(FakeEngine(results={"preview": CREATE_PREVIEW}))
    eng = FakeEngine(results={"preview": CREATE_PREVIEW, "up": CREATED})
    assert run_onboard(eng, yes=True).sites[0].result is CREATED


def test_onboard_up_to_date_runs_no_apply():
    eng = FakeEngine(results={"preview": SAME}, state=ONBOARDED)
    hooks = Recorder()
    (site,) = run_onboard(eng, hooks).sites
    assert eng.calls == ["lock", "recover", "preview"]
    assert site.result is None and site.project_id == "id-project"  # from the stack's state
    assert hooks.kinds() == ["previewed", "onboarded"] and site.to_json()["changes"] == []


def test_onboard_refuses_a_project_that_exists_outside_the_stack():
    eng = FakeEngine(results={"preview": CREATE_PREVIEW})
    keystone = FakeKeystone(projects={"gov-moh": "p-old"})
    with pytest.raises(ExistsOutsideStack) as exc:
        run_onboard(eng, Recorder(answer=True), keystone, yes=True)
    assert exc.value.exit_code == 1
    assert "project 'gov-moh' (p-old) already exist(s) at cloud 'devcloud' outside govcloud" in str(exc.value)
    assert "--adopt" in str(exc.value) and [str(e) for e in exc.value.existing] == ["project 'gov-moh' (p-old)"]
    assert eng.calls == ["lock", "recover"]  # refused before the preview


def test_onboard_does_not_count_what_the_stack_already_holds_as_outside():
    """The project is in the stack's state: it exists at the cloud because onboarding made it."""
    eng = FakeEngine(results={"preview": SAME}, state=ONBOARDED)
    keystone = FakeKeystone(projects={"gov-moh": "id-project"}, groups={"moh-team": "g-1"})
    assert run_onboard(eng, keystone=keystone).sites[0].result is None


def test_onboard_adopts_then_applies_the_registry():
    imported = result("up", change("project", "import", id="p-old"), change("team-group", "import", id="g-old"),
                      *(change(k, "create") for k in list(KEYS)[2:]))
    settled = result("up", change("project", "update", "description", "tags"),
                     *(change(k, "same") for k in list(KEYS)[1:]))
    eng = FakeEngine(results={"preview": CREATE_PREVIEW, "up": [imported, settled]})
    hooks = Recorder()
    keystone = FakeKeystone(projects={"gov-moh": "p-old"}, groups={"moh-team": "g-old"})
    (site,) = run_onboard(eng, hooks, keystone, adopt=True, yes=True).sites
    assert eng.calls == ["lock", "recover", "preview", "up", "up"]
    assert hooks.events[0] == ("adopting", ("project 'gov-moh' (p-old)", "group 'moh-team' (g-old)"))
    (_, preview), (_, first), (_, second) = eng.runs
    # the preview and the first up import the existing ones; the second applies the registry's plan as it is
    for options in (preview, first):
        ids = {r.key: r.import_id for r in plan_of(options).resources if r.import_id}
        assert ids == {"project": "p-old", "team-group": "g-old"}
    assert not any(r.import_id for r in plan_of(second).resources)
    assert second["message"] == "govcloud agency onboard moh --site devcloud (after adopting)"
    assert site.result is imported and site.settled is settled and site.project_id == "p-old"
    assert [str(e) for e in site.adopted] == ["project 'gov-moh' (p-old)", "group 'moh-team' (g-old)"]


def test_onboard_refuses_replacing_the_protected_project():
    """The engine refused the preview because the project is protected: that is a refusal (exit 1) with the
    preview shown, not an engine failure."""
    blocked = result("preview", change("project", "replace", "domainId"), *every("same")[1:], ok=False,
                     error="project: cannot be deleted because it is protected", error_kind=ErrorKind.ENGINE,
                     protected=("project",))
    assert blocked.blocked_only_by_protection
    eng = FakeEngine(results={"preview": blocked}, state=ONBOARDED)
    hooks = Recorder(answer=True)
    with pytest.raises(ProjectAtRisk) as exc:
        run_onboard(eng, hooks, yes=True)
    assert exc.value.exit_code == 1
    assert str(exc.value) == ("refusing to onboard: the project gov-moh would be replaced (domainId), and with it "
                              "everything the agency runs there; pass --allow-data-loss to do it anyway")
    assert eng.calls == ["lock", "recover", "preview"] and eng.unprotected == []
    assert hooks.kinds() == ["previewed"]


def test_onboard_replaces_the_project_only_when_allowed_and_unprotects_only_it():
    preview = result("preview", change("project", "replace", "domainId"), *every("update")[1:])
    eng = FakeEngine(results={"preview": preview, "up": result("up", *every("update"))}, state=ONBOARDED)
    run_onboard(eng, allow_data_loss=True, yes=True)
    assert eng.calls == ["lock", "recover", "preview", "unprotect", "up"]
    assert eng.unprotected == [[preview.changes[0].urn]]
    assert eng.options["preview"]["allow_data_loss"] and eng.options["up"]["allow_data_loss"]


def test_onboard_engine_failures():
    eng = FakeEngine(results={"preview": failed("preview", "Keystone said no")})
    with pytest.raises(EngineFailed) as exc:
        run_onboard(eng, yes=True)
    assert exc.value.exit_code == 3 and "Keystone said no" in str(exc.value)
    assert eng.calls == ["lock", "recover", "preview"]
    eng = FakeEngine(results={"preview": CREATE_PREVIEW, "up": failed("up", "quota set failed")})
    hooks = Recorder()
    with pytest.raises(EngineFailed, match="quota set failed"):
        run_onboard(eng, hooks, yes=True)
    assert "onboarded" not in hooks.kinds()


def test_onboard_locked_stack_runs_nothing():
    eng = FakeEngine(locked=True)
    with pytest.raises(StackLockedError):
        run_onboard(eng, yes=True)
    assert eng.calls == []


def test_onboard_recovers_and_refreshes_before_the_preview():
    eng = FakeEngine(results={"refresh": nothing("refresh"), "preview": SAME}, state=ONBOARDED,
                     recovery=Recovery(("compute-quota: dropped the pending 'updating'",), True, ONBOARDED))
    hooks = Recorder()
    run_onboard(eng, hooks)
    assert eng.calls == ["lock", "recover", "refresh", "preview"]
    assert hooks.events[:2] == [("note", "recovery: compute-quota: dropped the pending 'updating'"),
                                ("note", "recovery: refreshing the state from the cloud ...")]


def test_onboard_stops_at_the_first_site_that_fails():
    eng = FakeEngine(results={"preview": [SAME, failed("preview", "thr1 is down")]}, state=ONBOARDED)
    hooks = Recorder()
    with pytest.raises(EngineFailed, match="thr1 is down"):
        run_onboard(eng, hooks, sites=("devcloud", "thr1"))
    (done,) = [e[1] for e in hooks.events if e[0] == "onboarded"]
    assert done.site == "devcloud"  # reported before the next site began


def test_onboard_refuses_unknown_names_before_any_engine_or_cloud():
    def nobody(*_args):
        raise AssertionError("no engine or cloud for unknown names")

    with pytest.raises(InputError, match="unknown agency 'mho'"):
        onboard("mho", workspace=WS, engine_factory=nobody, site_admin=nobody)
    with pytest.raises(InputError, match="not among the agency's allowed sites"):
        onboard("moh", ("ist1",), workspace=WS, engine_factory=nobody, site_admin=nobody)


def test_onboard_needs_the_passphrase_before_asking_any_cloud(monkeypatch):
    monkeypatch.delenv("GOVCLOUD_PASSPHRASE", raising=False)
    monkeypatch.delenv("GOVCLOUD_PASSPHRASE_FILE", raising=False)

    def nobody(_site):
        raise AssertionError("asked the cloud before the passphrase was known")

    with pytest.raises(SetupError, match="no passphrase"):
        onboard("moh", ("devcloud",), workspace=WS, site_admin=nobody)


# ---------------------------------------------------------------- the plan (offline)


def test_plans_use_a_placeholder_only_where_no_credentials_are_configured():
    def scope_of(site):
        if site.name == "thr1":
            raise NoCredentials("no OpenStack credentials for cloud 'thr1'")
        return AdminScope(site.cloud, "admin", "ops")

    hooks = Recorder()
    res = onboarding_plans("moh", ("thr1", "devcloud"), workspace=WS, hooks=hooks,
                           site_admin=lambda site: SimpleNamespace(scope=scope_of(site)))
    thr1, devcloud = res.plans
    assert thr1.service.project == "<admin project of cloud thr1>" and "deployer-member" not in thr1.by_key()
    assert devcloud.service.project == "admin" and devcloud.get("deployer-member").inputs["user_id"].name == "ops"
    assert hooks.events == [("note", "note: thr1: no OpenStack credentials for cloud 'thr1'")]


@pytest.mark.parametrize("error", [SetupError("cloud 'devcloud' names its project by id only"),
                                   ImportError("No module named 'openstack'"), RuntimeError("a bug")])
def test_plans_surface_every_other_error(error):
    """Only missing credentials make a placeholder: a broken entry, a missing dependency or a bug is raised,
    never shown as a plan."""

    class Broken:
        def __init__(self, site):
            self.site = site

        @property
        def scope(self):
            raise error

    with pytest.raises(type(error)) as exc:
        onboarding_plans("moh", ("devcloud",), workspace=WS, site_admin=Broken)
    assert exc.value is error


# ---------------------------------------------------------------- offboard


def test_offboard_of_a_site_never_onboarded_deletes_nothing():
    eng = FakeEngine()
    hooks = Recorder()
    (site,) = run_offboard(eng, hooks, allow_data_loss=True, yes=True).sites
    assert eng.calls == ["lock", "recover"] and site.result is None and site.deleted == 0
    assert hooks.kinds() == ["offboarded"]


def test_offboard_refuses_without_allow_data_loss_and_warns_of_leftovers():
    eng = FakeEngine(state=ONBOARDED)
    hooks = Recorder(answer=True)
    with pytest.raises(ProjectAtRisk) as exc:
        run_offboard(eng, hooks, FakeKeystone(servers=2), yes=True)
    assert exc.value.exit_code == 1 and "pass --allow-data-loss to delete it" in str(exc.value)
    assert eng.calls == ["lock", "recover"] and eng.unprotected == []
    assert hooks.events == [
        ("offboarding", tuple(KEYS)),
        ("note", "warning: project gov-moh still holds 2 servers: deleting the project leaves them orphaned "
                 "(destroy the agency's service stacks first)")]


def test_offboard_with_allow_data_loss_goes_on_despite_leftovers():
    deleted = result("destroy", *every("delete"), duration=3.0)
    eng = FakeEngine(state=ONBOARDED, results={"destroy": deleted})
    hooks = Recorder(answer=True)
    (site,) = run_offboard(eng, hooks, FakeKeystone(servers=2), allow_data_loss=True).sites
    assert eng.calls == ["lock", "recover", "unprotect", "destroy"]
    assert eng.unprotected == [None]  # everything: the project is protected in the state
    assert eng.options["destroy"]["allow_data_loss"] is True
    assert site.result is deleted and site.deleted == 7 and site.leftovers == ("2 servers",)
    assert hooks.kinds() == ["offboarding", "note", "confirm", "offboarded"]
    assert hooks.events[2] == ("confirm", "Delete project gov-moh at devcloud and its quotas, group and roles?")


def test_offboard_not_confirmed_or_failed():
    eng = FakeEngine(state=ONBOARDED)
    with pytest.raises(NotConfirmed):
        run_offboard(eng, Recorder(answer=False), allow_data_loss=True)
    assert "destroy" not in eng.calls and eng.unprotected == []
    eng = FakeEngine(state=ONBOARDED, results={"destroy": failed("destroy", "project in use")})
    with pytest.raises(EngineFailed, match="project in use"):
        run_offboard(eng, allow_data_loss=True, yes=True)
