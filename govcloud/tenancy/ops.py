"""onboard and offboard: the ministry's stack of an agency at each of its sites, as library calls.

    onboard, per site: admin scope -> plan (registry, Keystone ids bound) -> lock -> recover -> state
      -> a project or group of the plan exists outside the stack? refused (ExistsOutsideStack) unless adopting:
         then imported -> preview -> the project replaced or deleted? refused (ProjectAtRisk) unless
         allow_data_loss -> nothing to do: next site -> confirm -> unprotect what may go -> up
         -> adopted: a second up with the registry's plan (the import ignored its settings)
    offboard, per site: plan -> lock -> recover -> nothing deployed: next site -> what still lives in the project
      (a warning) -> refused without allow_data_loss (ProjectAtRisk) -> confirm -> unprotect -> destroy

Sites run one after another, and a refusal or failure at one stops the rest (the sites done are done, and
were told to the hooks). Nothing here prints: the caller's TenancyHooks show the preview and each site's
outcome. `engine_factory` and `site_admin` are the seams a test replaces (FakeEngine, a fake Keystone).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from govcloud.check import Workspace
from govcloud.config import ConfigRepo
from govcloud.engine.events import Op
from govcloud.engine.runner import EngineOp, OperationResult
from govcloud.engine.seam import Engine
from govcloud.engine.stack import StackState
from govcloud.errors import NoCredentials, RefusedError
from govcloud.load.inventory import Agency, Site
from govcloud.ops.workflow import Hooks, confirm, ensure_ok, recover_stack
from govcloud.plan.model import ResourcePlan
from govcloud.tenancy.hooks import TenancyHooks
from govcloud.tenancy.keystone import SiteAdmin
from govcloud.tenancy.plan import Existing, find_agency, find_sites, onboarding_plan, registry_file, with_imports

EngineFactory = Callable[[ResourcePlan, Hooks], Engine]
AdminFactory = Callable[[Site], SiteAdmin]


class ExistsOutsideStack(RefusedError):
    """The agency's project or team group exists at the cloud but not in the ministry's stack (adopt it)."""

    def __init__(self, agency: Agency, site: Site, existing: Sequence[Existing]):
        self.existing = tuple(existing)
        super().__init__(
            f"refusing to onboard {agency.id} at {site.name}: {', '.join(map(str, existing))} already exist(s) "
            f"at cloud '{site.cloud}' outside govcloud; creating it again would fail. Pass --adopt to take it "
            f"over (its id stays, the registry's settings are applied), choose another project name in the "
            f"registry, or delete/rename the existing one first")


class ProjectAtRisk(RefusedError):
    """The run would replace or delete the agency's project, and with it everything the agency runs there."""


@dataclass(frozen=True)
class SiteOnboarded:
    agency: Agency
    site: str
    stack: str
    result: OperationResult | None  # None: up to date, nothing ran
    project_id: str | None
    adopted: tuple[Existing, ...] = ()
    settled: OperationResult | None = None  # the registry's plan applied to what was adopted

    def to_json(self) -> dict:
        changes = self.result.changes if self.result else ()
        return {"site": self.site, "stack": self.stack, "ok": True,
                "changes": [{"key": c.key, "type": c.type, "op": c.op, "changed": list(c.changed), "id": c.id}
                            for c in changes], "projectId": self.project_id}


@dataclass(frozen=True)
class OnboardResult:
    agency: Agency
    sites: tuple[SiteOnboarded, ...]

    def to_json(self) -> dict:
        return {"agency": self.agency.id, "project": self.agency.project, "sites": [s.to_json() for s in self.sites]}


@dataclass(frozen=True)
class SiteOffboarded:
    agency: Agency
    site: str
    stack: str
    result: OperationResult | None  # None: nothing was deployed there
    leftovers: tuple[str, ...] = ()  # what still lived in the project ("2 servers")

    @property
    def deleted(self) -> int:
        return self.result.counts().get(Op.DELETE, 0) if self.result else 0


@dataclass(frozen=True)
class OffboardResult:
    agency: Agency
    sites: tuple[SiteOffboarded, ...]


@dataclass(frozen=True)
class OnboardingPlans:
    agency: Agency
    plans: tuple[ResourcePlan, ...]


def ministry_engines(config: ConfigRepo) -> EngineFactory:
    """The real engines of the ministry's stacks. The passphrase is read now, so that a missing one stops the
    workflow before it asks any cloud anything."""
    from govcloud.engine.runner import Interrupts
    from govcloud.engine.seam import StackEngine
    from govcloud.settings import read_passphrase
    from govcloud.tenancy.plan import MINISTRY

    passphrase = read_passphrase(agency=MINISTRY)  # the ministry's stacks: its own passphrase

    def engine(plan: ResourcePlan, hooks: Hooks) -> Engine:
        return StackEngine(plan, config, passphrase=passphrase,
                           interrupts=Interrupts(notice=lambda msg: hooks.note(f"\n{msg}")))

    return engine


def site_plan(agency: Agency, site: Site, admin: SiteAdmin, config: ConfigRepo) -> ResourcePlan:
    """The onboarding plan at one site, scoped as the site's admin, with Keystone's role and user ids."""
    scope = admin.scope
    plan = onboarding_plan(agency, site, admin_project=scope.project, deployer=scope.user,
                           registry_file=registry_file(config))
    return admin.bind(plan)


def project_id(state: StackState | None) -> str | None:
    return next((r.id for r in state.resources if r.key == "project"), None) if state else None


def onboarding_plans(agency_id: str, sites: Sequence[str] = (), *, workspace: Workspace | None = None,
                     hooks: Hooks | None = None, site_admin: AdminFactory = SiteAdmin) -> OnboardingPlans:
    """The onboarding plans at the agency's sites (default: every allowed one), offline: no connection.

    A site whose cloud has no credentials here still gets its plan, with a placeholder for the admin project
    and a note; every other error (a broken clouds.yaml entry, a missing openstacksdk) is raised."""
    hooks = hooks or Hooks()
    ws = workspace or Workspace()
    agency = find_agency(ws.inventory, agency_id)
    plans = []
    for site in find_sites(ws.inventory, sites, agency.allowed_sites):
        try:
            scope = site_admin(site).scope
            admin_project, user = scope.project, scope.user
        except NoCredentials as exc:  # the plan is still worth showing
            hooks.note(f"note: {site.name}: {exc}")
            admin_project, user = f"<admin project of cloud {site.cloud}>", None
        plans.append(onboarding_plan(agency, site, admin_project=admin_project, deployer=user,
                                     registry_file=registry_file(ws.config)))
    return OnboardingPlans(agency, tuple(plans))


def onboard(agency_id: str, sites: Sequence[str] = (), *, yes: bool = False, refresh: bool = False,
            allow_data_loss: bool = False, adopt: bool = False, workspace: Workspace | None = None,
            hooks: TenancyHooks | None = None, engine_factory: EngineFactory | None = None,
            site_admin: AdminFactory = SiteAdmin) -> OnboardResult:
    """Create or update the agency's project, quotas and team at its sites (default: every allowed one).

    `adopt`: take over a project or group of the same name that exists outside the stack (Pulumi import,
    then the registry's settings); without it that is ExistsOutsideStack. `allow_data_loss`: let a run
    replace or delete the project (never needed for quota changes); without it that is ProjectAtRisk."""
    hooks = hooks or TenancyHooks()
    ws = workspace or Workspace()
    agency = find_agency(ws.inventory, agency_id)
    targets = find_sites(ws.inventory, sites, agency.allowed_sites)
    engines = engine_factory or ministry_engines(ws.config)
    done = []
    for site in targets:
        admin = site_admin(site)
        plan = site_plan(agency, site, admin, ws.config)
        outcome = _onboard_site(agency, site, plan, admin, engines(plan, hooks), hooks, yes=yes, refresh=refresh,
                                allow_data_loss=allow_data_loss, adopt=adopt)
        hooks.onboarded(outcome)
        done.append(outcome)
    return OnboardResult(agency, tuple(done))


def _onboard_site(agency: Agency, site: Site, plan: ResourcePlan, admin: SiteAdmin, engine: Engine,
                  hooks: TenancyHooks, *, yes: bool, refresh: bool, allow_data_loss: bool,
                  adopt: bool) -> SiteOnboarded:
    with engine.lock(f"govcloud agency onboard {agency.id}"):
        recover_stack(engine, hooks)
        state = engine.state()
        existing = admin.existing_outside(plan, state.keys() if state else ())
        if existing and not adopt:
            raise ExistsOutsideStack(agency, site, existing)
        run_plan = plan
        if existing:
            hooks.adopting(engine.name, existing)
            run_plan = with_imports(plan, existing)
        with hooks.phase("previewing", engine.name, lines=False) as on_event:
            preview = engine.run(EngineOp.PREVIEW, plan=run_plan, refresh_first=refresh,
                                 allow_data_loss=allow_data_loss, on_event=on_event)
        risky = [c for c in preview.changes if c.key == "project" and c.op in (Op.DELETE, Op.REPLACE)]
        if not (risky and preview.blocked_only_by_protection):  # the protected project: refused below
            ensure_ok(preview)
        hooks.previewed(agency, site, engine.name, preview)
        if risky and not allow_data_loss:
            what = "replaced" if risky[0].op == Op.REPLACE else "deleted"
            raise ProjectAtRisk(f"refusing to onboard: the project {agency.project} would be {what} ("
                                + ", ".join(risky[0].changed) + "), and with it everything the agency runs "
                                "there; pass --allow-data-loss to do it anyway")
        ensure_ok(preview)
        if not preview.changing():
            return SiteOnboarded(agency, site.name, engine.name, None, project_id(state))
        confirm(hooks, yes, f"Apply these changes to {engine.name}?", "onboard")
        if risky:
            engine.unprotect([c.urn for c in risky])
        message = f"govcloud agency onboard {agency.id} --site {site.name}"
        with hooks.phase("onboarding", engine.name, total=len(run_plan.resources)) as on_event:
            result = ensure_ok(engine.run(EngineOp.UP, plan=run_plan, allow_data_loss=allow_data_loss,
                                          on_event=on_event, message=message))
        settled = None
        if existing:  # the import ignored the registry's settings of what it adopted: apply them now
            with hooks.phase("applying the registry to", engine.name, total=len(plan.resources)) as on_event:
                settled = ensure_ok(engine.run(EngineOp.UP, plan=plan, on_event=on_event,
                                               message=f"{message} (after adopting)"))
        created = next((c.id for c in result.changes if c.key == "project" and c.id), None)
        return SiteOnboarded(agency, site.name, engine.name, result, created or project_id(engine.state()),
                             tuple(existing), settled)


def offboard(agency_id: str, sites: Sequence[str], *, yes: bool = False, allow_data_loss: bool = False,
             workspace: Workspace | None = None, hooks: TenancyHooks | None = None,
             engine_factory: EngineFactory | None = None, site_admin: AdminFactory = SiteAdmin) -> OffboardResult:
    """Destroy the agency's onboarding stack at these sites: quotas, roles, group and the (protected) project.

    Deleting the project deletes the agency's tenancy, so it needs `allow_data_loss` (else ProjectAtRisk);
    what still lives in the project (servers, volumes, networks) is a warning: it is orphaned, not deleted."""
    hooks = hooks or TenancyHooks()
    ws = workspace or Workspace()
    agency = find_agency(ws.inventory, agency_id)
    targets = find_sites(ws.inventory, sites)
    engines = engine_factory or ministry_engines(ws.config)
    done = []
    for site in targets:
        admin = site_admin(site)
        plan = site_plan(agency, site, admin, ws.config)
        outcome = _offboard_site(agency, site, admin, engines(plan, hooks), hooks, yes=yes,
                                 allow_data_loss=allow_data_loss)
        hooks.offboarded(outcome)
        done.append(outcome)
    return OffboardResult(agency, tuple(done))


def _offboard_site(agency: Agency, site: Site, admin: SiteAdmin, engine: Engine, hooks: TenancyHooks, *,
                   yes: bool, allow_data_loss: bool) -> SiteOffboarded:
    with engine.lock(f"govcloud agency offboard {agency.id}"):
        recover_stack(engine, hooks)
        state = engine.state()
        if state is None or not state.resources:
            return SiteOffboarded(agency, site.name, engine.name, None)
        hooks.offboarding(agency, site, engine.name, state.resources)
        project = project_id(state)
        left = tuple(admin.leftovers(project)) if project else ()
        if left:
            hooks.note(f"warning: project {agency.project} still holds {', '.join(left)}: deleting the project "
                       f"leaves them orphaned (destroy the agency's service stacks first)")
        if not allow_data_loss:
            raise ProjectAtRisk(f"refusing to offboard {agency.id} at {site.name}: the project {agency.project} "
                                f"is protected (it holds the agency's data); pass --allow-data-loss to delete it")
        confirm(hooks, yes, f"Delete project {agency.project} at {site.name} and its quotas, group and roles?",
                f"offboard {agency.id}")
        engine.unprotect()
        with hooks.phase("offboarding", engine.name, total=len(state.resources)) as on_event:
            result = ensure_ok(engine.run(EngineOp.DESTROY, allow_data_loss=True, on_event=on_event,
                                          message=f"govcloud agency offboard {agency.id} --site {site.name}"))
    return SiteOffboarded(agency, site.name, engine.name, result, left)
