"""Whose credentials these are, checked before a stack is touched: an agency acts on its own project only.

Keystone scopes every token to one project. govcloud scopes a stack's provider to the agency's project of
the manifest (ServiceRef.project), so the credentials of one agency given another agency's manifest would be
refused by Keystone half way into the engine (exit 3, a provider's message) or, with an application
credential (bound to the project it was made in), act on their own project for the other agency's manifest.

`check_access(plan)` asks Keystone first, as the engine would, for a token scoped to the manifest's project,
and compares the token's project with it. The credentials of another agency are `WrongAgency` (a refusal,
exit 1) before anything is locked, recovered or previewed; credentials Keystone refuses outright are a
SetupError; an unreachable Keystone is a CloudError (exit 3). The deploy, destroy, refresh and diff workflows
all call it through the engine seam (ops/workflow.py `check_access`).

`Access.admin` says the token carries the `admin` role: OpenStack's default policies treat it as the cloud's
administrator in every project, so the ministry's admin credentials belong to onboarding and usage
collection only; `govcloud doctor` warns when a site's credentials have it, and a deploy with them says so.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from govcloud.errors import CloudError, RefusedError, SetupError
from govcloud.plan.model import ResourcePlan

ADMIN_ROLE = "admin"
API_TIMEOUT = 30.0
RETRIES = 3  # tries of a token request that failed for a transient reason (5xx, 429, a dropped connection)


class WrongAgency(RefusedError):
    """The credentials cannot act on the manifest's agency project: refused before any change (exit 1)."""


@dataclass(frozen=True)
class Access:
    """What Keystone says a token of these credentials is."""

    cloud: str
    user: str  # the user's name (its id when Keystone gives no name)
    project: str  # the project the token is scoped to
    project_id: str
    roles: tuple[str, ...]
    application_credential: bool = False

    @property
    def admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    def who(self) -> str:
        kind = "application credential of user" if self.application_credential else "user"
        return f"{kind} {self.user} (project {self.project}, roles {', '.join(sorted(self.roles)) or 'none'})"


Authenticate = Callable[[Any, str], Access]  # (openstacksdk CloudRegion, cloud name) -> Access


def token_access(region, cloud: str) -> Access:
    """Authenticate as `region` (an openstacksdk CloudRegion) and read the token: keystoneauth's exceptions."""
    session = region.get_session()
    token = session.auth.get_access(session)
    return Access(cloud=cloud, user=token.username or token.user_id or "?", project=token.project_name or "",
                  project_id=token.project_id or "", roles=tuple(sorted(token.role_names or ())),  # Keystone's order varies
                  application_credential=region.config.get("auth_type") == "v3applicationcredential")


def _ask(authenticate: Authenticate, cloud: str, project: str | None, region: str, *,
         sleep: Callable[[float], None] = time.sleep):
    """(Access, None), or (None, the keystoneauth HTTP error that refused it); CloudError when Keystone is
    unreachable or fails (after RETRIES tries: a 5xx, a 429 or a dropped connection may pass)."""
    import keystoneauth1.exceptions as ks

    from govcloud.cloud.credentials import cloud_region

    cc = cloud_region(cloud, project, region, api_timeout=API_TIMEOUT)
    for attempt in range(1, RETRIES + 1):
        try:
            return authenticate(cc, cloud), None
        except (ks.Unauthorized, ks.Forbidden, ks.NotFound) as exc:
            return None, exc
        except ks.ClientException as exc:
            status = getattr(exc, "http_status", None)
            transient = isinstance(exc, ks.ConnectionError) or status == 429 or (status or 0) >= 500
            if transient and attempt < RETRIES:
                sleep(attempt)
                continue
            auth_url = (cc.config.get("auth") or {}).get("auth_url", "?")
            raise CloudError(f"Keystone of cloud '{cloud}' ({auth_url}) did not issue a token: "
                             f"{type(exc).__name__}: {exc}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def expect_scope(plan: ResourcePlan, access: Access) -> Access:
    """The token must be scoped to the manifest's agency project; WrongAgency otherwise."""
    svc = plan.service
    if access.project != svc.project:
        raise WrongAgency(
            f"refused: these credentials ({access.who()}) act on project {access.project}, but the manifest is "
            f"agency {svc.agency}'s, whose project is {svc.project}. Use agency {svc.agency}'s own credentials "
            f"(a user of its team group {svc.agency}-team, or an application credential made in "
            f"{svc.project}); nothing was changed")
    return access


def check_access(plan: ResourcePlan, authenticate: Authenticate = token_access,
                 sleep: Callable[[float], None] = time.sleep) -> Access:
    """Who the plan's stack would run as, if its credentials may act on the agency's project (see module doc)."""
    svc = plan.service
    access, refused = _ask(authenticate, svc.cloud, svc.project, svc.region, sleep=sleep)
    if access is not None:
        return expect_scope(plan, access)
    # as configured: do they work at all?
    own, refused_too = _ask(authenticate, svc.cloud, None, svc.region, sleep=sleep)
    if own is None:
        raise SetupError(f"Keystone refused the credentials of cloud '{svc.cloud}' ({refused_too}): check the "
                         f"user, password or application credential in clouds.yaml / OS_*")
    status = getattr(refused, "http_status", None) or "refused"
    raise WrongAgency(
        f"refused: these credentials ({own.who()}) have no role in project {svc.project} of agency "
        f"{svc.agency}, whose manifest this is (Keystone answered {status} for a token of that project). Use "
        f"agency {svc.agency}'s own credentials (a user of its team group {svc.agency}-team); nothing was changed")
