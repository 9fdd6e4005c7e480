"""The ministry's admin at a site: who it is (clouds.yaml), its Keystone connection, and what it looks up.

Every credential goes through govcloud.cloud.credentials (the one path to clouds.yaml / OS_*); openstacksdk is
imported only when a connection is made. `SiteAdmin` is what the onboarding workflows talk to: the scope and a
connection opened on first use, role and user ids for the plan's Lookups, the projects and groups that exist
outside the ministry's stack, and what still lives in a project before it is deleted. A test passes a SiteAdmin
with its own scope and connection.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from govcloud.errors import CloudError, SetupError
from govcloud.load.inventory import Site
from govcloud.plan.model import ResourcePlan
from govcloud.tenancy.plan import GROUP, PROJECT, Existing, OnboardingError, bind_lookups


@dataclass(frozen=True)
class AdminScope:
    """Who the ministry is at a site: its clouds.yaml entry as it is."""

    cloud: str
    project: str  # the project the admin is scoped to (not the agency's)
    user: str | None  # user name (None for application credentials / tokens)


def admin_scope(site: Site) -> AdminScope:
    """The site cloud's admin project and user, read from clouds.yaml / OS_* (no network).

    NoCredentials when nothing is configured for the site's cloud; SetupError when the entry cannot serve."""
    from govcloud.cloud.credentials import cloud_region

    cc = cloud_region(site.cloud, None, site.region)
    auth = cc.config.get("auth") or {}
    project = auth.get("project_name") or auth.get("tenant_name")
    if not project:
        if auth.get("project_id") or auth.get("tenant_id"):
            raise SetupError(f"cloud '{site.cloud}' names its project by id only: add `project_name` (and "
                             f"`project_domain_name`) to its clouds.yaml entry; govcloud scopes the ministry's "
                             f"stacks by project name")
        raise SetupError(f"cloud '{site.cloud}' has no project in clouds.yaml: the ministry's stacks need the "
                         f"admin scoped to its own project (project_name)")
    return AdminScope(site.cloud, project, auth.get("username"))


def admin_connection(site: Site, api_timeout: float | None = 60):
    """openstacksdk Connection as the site's clouds.yaml entry, unchanged (the ministry's admin), authorized.

    CloudError (exit 3) when Keystone cannot be reached or refuses the credentials."""
    import keystoneauth1.exceptions
    from openstack import exceptions as os_exc

    from govcloud.cloud.credentials import connect

    try:
        conn = connect(site.cloud, None, site.region, api_timeout)
        conn.authorize()
        return conn
    except (os_exc.SDKException, keystoneauth1.exceptions.ClientException) as exc:
        raise CloudError(f"cannot connect to cloud '{site.cloud}' of site {site.name}: "
                         f"{type(exc).__name__}: {exc}") from None


def keystone_resolver(conn) -> Callable[[str, str], str]:
    """resolve(kind, name) -> id for roles and users, with an admin connection."""

    def resolve(kind: str, name: str) -> str:
        if kind == "role":
            found = conn.identity.find_role(name, ignore_missing=True)
            if found is None:
                roles = sorted(r.name for r in conn.identity.roles())
                raise OnboardingError(f"no Keystone role '{name}' at cloud '{conn.config.name}' "
                                      f"(roles: {', '.join(roles)})")
            return found.id
        if kind == "user":
            if conn.current_user_id:
                me = conn.identity.get_user(conn.current_user_id)
                if me.name == name:
                    return me.id
            found = conn.identity.find_user(name, ignore_missing=True)
            if found is None:
                raise OnboardingError(f"no Keystone user '{name}' at cloud '{conn.config.name}'")
            return found.id
        raise ValueError(f"cannot look up a {kind!r}")

    return resolve


def existing_outside(conn, plan: ResourcePlan, in_state: Iterable[str]) -> list[Existing]:
    """The plan's projects and groups that already exist at the cloud but not in the stack's state."""
    have = set(in_state)
    out = []
    for r in plan.resources:
        if r.key in have:
            continue
        if r.type == PROJECT:
            found = conn.identity.find_project(r.name, ignore_missing=True)
            if found is not None:
                out.append(Existing(r.key, "project", r.name, found.id))
        elif r.type == GROUP:
            found = conn.identity.find_group(r.name, ignore_missing=True)
            if found is not None:
                out.append(Existing(r.key, "group", r.name, found.id))
    return out


def leftovers(conn, project_id: str) -> list[str]:
    """What still lives in the project ("2 servers", "1 networks"), as far as the admin can list it."""
    import keystoneauth1.exceptions
    from openstack import exceptions as os_exc

    out = []
    checks = (("servers", lambda: conn.compute.servers(all_projects=True, project_id=project_id)),
              ("volumes", lambda: conn.block_storage.volumes(all_projects=True, project_id=project_id)),
              ("networks", lambda: conn.network.networks(project_id=project_id)))
    for what, listing in checks:
        try:
            n = sum(1 for _ in listing())
        except (os_exc.SDKException, keystoneauth1.exceptions.ClientException):
            continue  # only a warning depends on it: a service the admin cannot list is left out
        if n:
            out.append(f"{n} {what}")
    return out


class SiteAdmin:
    """The ministry's admin at one site, for the onboarding workflows: scope, connection (opened on first use),
    Keystone lookups. `scope` and `conn` are given by tests (a fake connection), else read and opened."""

    def __init__(self, site: Site, *, scope: AdminScope | None = None, conn: Any = None):
        self.site = site
        self._scope = scope
        self._conn = conn

    @property
    def scope(self) -> AdminScope:
        if self._scope is None:
            self._scope = admin_scope(self.site)
        return self._scope

    @property
    def conn(self):
        if self._conn is None:
            self._conn = admin_connection(self.site)
        return self._conn

    def bind(self, plan: ResourcePlan) -> ResourcePlan:
        """The plan with its Keystone roles and users replaced by their ids at this site."""
        return bind_lookups(plan, keystone_resolver(self.conn))

    def existing_outside(self, plan: ResourcePlan, in_state: Iterable[str]) -> list[Existing]:
        return existing_outside(self.conn, plan, in_state)

    def leftovers(self, project_id: str) -> list[str]:
        return leftovers(self.conn, project_id)
