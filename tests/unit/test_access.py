"""govcloud.cloud.access: the credentials' token scope against the manifest's agency project, and doctor's
warning for admin credentials. Keystone is faked here (the answer a token request gets); the real one is
asked in tests/e2e/test_isolation.py."""
from __future__ import annotations

import keystoneauth1.exceptions as ks
import pytest

from govcloud.check import Workspace
from govcloud.cloud.access import Access, WrongAgency, check_access
from govcloud.config import ConfigRepo
from govcloud.errors import CloudError, SetupError

from ..conftest import REPO

MOE = "gov-moe"


@pytest.fixture
def plan(monkeypatch, tmp_path):
    """The dev cloud example (agency moe, project gov-moe), with a clouds.yaml of agency moh's CI user."""
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  devcloud:\n    auth: {auth_url: 'http://127.0.0.1:9/v3', username: moh-ci,"
                      " password: x, project_name: gov-moh, user_domain_name: Default, project_domain_name: Default}\n"
                      "    region_name: RegionOne\n", encoding="utf-8")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    for var in ("OS_CLOUD", "OS_AUTH_URL", "GOVCLOUD_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return Workspace(ConfigRepo(None)).plan(REPO / "examples" / "devcloud" / "citizen-portal.yaml")


class Keystone:
    """Answers token requests like Keystone: a token of a project where the user has a role, 401 elsewhere."""

    def __init__(self, user="moh-ci", roles_in=None, fixed_project=None, down=False):
        self.user = user
        self.roles_in = roles_in if roles_in is not None else {"gov-moh": ("member", "reader")}
        self.fixed_project = fixed_project  # an application credential: always its own project
        self.down = down
        self.asked: list[str | None] = []

    def __call__(self, region, cloud):
        project = region.config["auth"].get("project_name")
        self.asked.append(project)
        if self.down:
            raise ks.ConnectFailure("Unable to establish connection to http://127.0.0.1:9/v3/auth/tokens")
        project = self.fixed_project or project
        if project not in self.roles_in:
            raise ks.Unauthorized("The request you have made requires authentication.", http_status=401)
        return Access(cloud, self.user, project, f"id-{project}", self.roles_in[project],
                      application_credential=self.fixed_project is not None)


def test_the_agencys_own_credentials_pass(plan):
    keystone = Keystone(roles_in={MOE: ("member", "reader")})
    access = check_access(plan, keystone)
    assert keystone.asked == [MOE]  # the token the engine would get: scoped to the manifest's project
    assert (access.project, access.admin) == (MOE, False)


def test_another_agencys_user_is_refused_naming_both(plan):
    keystone = Keystone()  # moh-ci has a role in gov-moh only
    with pytest.raises(WrongAgency) as exc:
        check_access(plan, keystone)
    assert keystone.asked == [MOE, "gov-moh"]  # then as configured: "no role there", not "a wrong password"
    msg = str(exc.value)
    assert exc.value.exit_code == 1
    assert "(user moh-ci (project gov-moh, roles member, reader)) have no role in project gov-moe of agency moe" \
        in msg
    assert "Keystone answered 401" in msg and msg.endswith("nothing was changed")


def test_an_application_credential_of_another_project_is_refused(plan):
    """An application credential is bound to its project: without the check the engine would act on gov-moh for
    agency moe's manifest."""
    keystone = Keystone(fixed_project="gov-moh")
    with pytest.raises(WrongAgency) as exc:
        check_access(plan, keystone)
    assert ("application credential of user moh-ci (project gov-moh, roles member, reader)) act on project "
            "gov-moh, but the manifest is agency moe's, whose project is gov-moe") in str(exc.value)


def test_credentials_keystone_refuses_outright_are_a_setup_error(plan):
    with pytest.raises(SetupError) as exc:
        check_access(plan, Keystone(roles_in={}))
    assert not isinstance(exc.value, WrongAgency) and exc.value.exit_code == 1
    assert "Keystone refused the credentials of cloud 'devcloud'" in str(exc.value)


def test_an_unreachable_keystone_is_a_cloud_error_after_three_tries(plan):
    keystone, slept = Keystone(down=True), []
    with pytest.raises(CloudError) as exc:
        check_access(plan, keystone, sleep=slept.append)
    assert exc.value.exit_code == 3 and "http://127.0.0.1:9/v3" in str(exc.value)
    assert keystone.asked == [MOE] * 3 and slept == [1, 2]


def test_a_transient_keystone_failure_is_tried_again(plan):
    class Flaky(Keystone):
        def __call__(self, region, cloud):
            if len(self.asked) < 2:
                self.asked.append("failed")
                raise ks.ServiceUnavailable("Keystone is restarting", http_status=503)
            return super().__call__(region, cloud)

    keystone = Flaky(roles_in={MOE: ("member",)})
    assert check_access(plan, keystone, sleep=lambda s: None).project == MOE
    assert keystone.asked == ["failed", "failed", MOE]
    with pytest.raises(CloudError, match="InternalServerError"):  # not transient forever: 3 tries, then exit 3
        check_access(plan, AlwaysFailing(), sleep=lambda s: None)


class AlwaysFailing(Keystone):
    def __call__(self, region, cloud):
        raise ks.InternalServerError("boom", http_status=500)


def test_admin_role_is_seen(plan):
    access = check_access(plan, Keystone(user="admin", roles_in={MOE: ("member", "admin", "reader")}))
    assert access.admin and "roles admin, member, reader" in access.who()


# ---------------------------------------------------------------- doctor


def test_doctor_warns_of_admin_credentials(plan):
    from govcloud.doctor import check_site

    site = Workspace(ConfigRepo(None)).inventory.site("devcloud")
    admin = Keystone(user="admin", roles_in={"gov-moh": ("member", "admin")})
    checks = check_site(site, timeout=5, required=True, authenticate=admin)
    assert [(c.name, c.ok, c.required) for c in checks] == [
        ("site devcloud (cloud 'devcloud')", True, True),
        ("site devcloud (cloud 'devcloud') credentials", False, False)]
    warning = checks[1]
    assert "user admin (project gov-moh, roles admin, member) has the admin role" in warning.detail
    assert "agency onboard" in warning.fix and "usage collect" in warning.fix and "-team" in warning.fix
    member = check_site(site, timeout=5, required=True, authenticate=Keystone())
    assert [(c.ok, c.required) for c in member] == [(True, True)]
    assert "user moh-ci (project gov-moh, roles member, reader)" in member[0].detail


def test_who_names_roles_in_one_order_whatever_order_keystone_gave():
    # Keystone lists implied roles (member implies reader) in no fixed order; doctor's line must not flap
    one = Access("devcloud", "moh-ci", "gov-moh", "id", ("reader", "member"))
    other = Access("devcloud", "moh-ci", "gov-moh", "id", ("member", "reader"))
    assert one.who() == other.who() == "user moh-ci (project gov-moh, roles member, reader)"
