"""The ministry's onboarding stack under Pulumi's mocks: offline, no engine, no cloud.

The onboarding plan (govcloud.onboarding) goes through the same program as the
service stacks (govcloud.program.build_program); the mock monitor records each
RegisterResource request as the engine would get it: type, name, inputs,
provider, dependencies and protection.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import pulumi  # a dependency: missing it is an error, not a skip

from govcloud.config import ConfigRepo
from govcloud.load.inventory import Inventory
from govcloud.tenancy import bind_lookups, onboarding_plan
from govcloud.engine.program import ProviderConfig, build_program
from program_mocks import run_under_mocks

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REPO = Path(__file__).resolve().parents[2]
PROVIDER_TYPE = "pulumi:providers:openstack"
PROJECT = "openstack:identity/project:Project"
GROUP = "openstack:identity/groupV3:GroupV3"
ROLE_ASSIGNMENT = "openstack:identity/roleAssignment:RoleAssignment"
COMPUTE_QUOTA = "openstack:compute/quotaSetV2:QuotaSetV2"
NETWORK_QUOTA = "openstack:networking/quotaV2:QuotaV2"
VOLUME_QUOTA = "openstack:blockstorage/quoteSetV3:QuoteSetV3"
IDS = {("role", "member"): "role-member-id", ("user", "govcloud-admin"): "user-admin-id"}

# the registry's quotas (inventories/agencies.yaml) as OpenStack quotas, worked out by hand:
# moh  vcpus 96, ramGb 384, volumeGb 8192, floatingIps 8 -> 48 services (96 // 2)
# sabt vcpus 32, ramGb 128, volumeGb 2048, floatingIps 2 -> 16 services (32 // 2)
EXPECTED = {
    "moh": {
        "compute": {"cores": 96, "ram": 393216, "instances": 96, "serverGroups": 96, "serverGroupMembers": 50},
        "network": {"floatingip": 8, "network": 48, "subnet": 48, "router": 48, "port": 96 + 3 * 48,
                    "securityGroup": 49, "securityGroupRule": 980},
        "volume": {"gigabytes": 8192, "volumes": 384, "snapshots": 384},
    },
    "sabt": {
        "compute": {"cores": 32, "ram": 131072, "instances": 32, "serverGroups": 32, "serverGroupMembers": 32},
        "network": {"floatingip": 2, "network": 16, "subnet": 16, "router": 16, "port": 32 + 3 * 16,
                    "securityGroup": 17, "securityGroupRule": 340},
        "volume": {"gigabytes": 2048, "volumes": 128, "snapshots": 128},
    },
}
NAMES = {"moh": ("gov-moh", "moh-team", "Ministry of Health and Medical Education",
                 "وزارت بهداشت، درمان و آموزش پزشکی"),
         "sabt": ("gov-sabt", "sabt-team", "National Organization for Civil Registration", "سازمان ثبت احوال کشور")}


class Recorder(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        raise AssertionError(f"the onboarding program must not invoke anything, it invoked {args.token}")


def run_program(plan, *, allow_data_loss=False):
    config = ProviderConfig(auth_url="http://127.0.0.1:9/v3", region=plan.service.region,
                            project=plan.service.project, user_name="govcloud-admin", password="s3cret",
                            user_domain_name="Default", project_domain_name="Default")
    return run_under_mocks(Recorder(), plan, build_program(plan, config, allow_data_loss=allow_data_loss))


@pytest.fixture(scope="module")
def inventory():
    return Inventory(ConfigRepo(REPO))


def plan_for(inventory, agency_id):
    plan = onboarding_plan(inventory.agency(agency_id), inventory.site("devcloud"), admin_project="admin",
                           deployer="govcloud-admin")
    return bind_lookups(plan, lambda kind, name: IDS[(kind, name)])


@pytest.fixture(scope="module", params=["moh", "sabt"])
def onboarded(request, inventory):
    plan = plan_for(inventory, request.param)
    return request.param, plan, run_program(plan)


def test_stack_is_the_ministrys(onboarded):
    agency, plan, mon = onboarded
    assert plan.service.pulumi_project == "govcloud-ministry"
    assert plan.service.stack == f"onboard-{agency}-devcloud"
    assert all(u.startswith(f"urn:pulumi:onboard-{agency}-devcloud::govcloud-ministry::") for u in mon.urns.values())


def test_exactly_these_resources(onboarded):
    agency, _plan, mon = onboarded
    got = {name: req.type for name, req in mon.requests.items()}
    assert got == {
        "openstack-devcloud": PROVIDER_TYPE,
        "project": PROJECT,
        "team-group": GROUP,
        "team-member": ROLE_ASSIGNMENT,
        "deployer-member": ROLE_ASSIGNMENT,
        "compute-quota": COMPUTE_QUOTA,
        "network-quota": NETWORK_QUOTA,
        "volume-quota": VOLUME_QUOTA,
    }


def test_quota_values(onboarded):
    agency, _plan, mon = onboarded
    want = EXPECTED[agency]
    for key, part in (("compute-quota", "compute"), ("network-quota", "network"), ("volume-quota", "volume")):
        got = dict(mon.inputs[key])
        assert got.pop("projectId") == "project-id"
        assert got == want[part], f"{key}: {got} != {want[part]}"


def test_quotas_depend_on_the_project(onboarded):
    _agency, _plan, mon = onboarded
    project_urn = mon.urns["project"]
    for key in ("compute-quota", "network-quota", "volume-quota", "team-member", "deployer-member"):
        req = mon.requests[key]
        assert project_urn in req.dependencies, f"{key} does not depend on the project"
        assert project_urn in req.propertyDependencies["projectId"].urns, key
    assert mon.urns["team-group"] in mon.requests["team-member"].propertyDependencies["groupId"].urns


def test_project_group_and_roles(onboarded):
    agency, _plan, mon = onboarded
    project, group, en, fa = NAMES[agency]
    p = mon.inputs["project"]
    assert p["name"] == project and p["enabled"] is True
    assert en in p["description"] and fa in p["description"]
    assert p["tags"] == [f"govcloud:agency={agency}", "govcloud:managed-by=govcloud-ministry",
                         "govcloud:site=devcloud"]
    assert mon.inputs["team-group"]["name"] == group
    assert mon.inputs["team-member"] == {"groupId": "team-group-id", "projectId": "project-id",
                                         "roleId": "role-member-id"}
    assert mon.inputs["deployer-member"] == {"userId": "user-admin-id", "projectId": "project-id",
                                             "roleId": "role-member-id"}


def test_project_is_protected_and_nothing_else(onboarded):
    _agency, _plan, mon = onboarded
    assert mon.requests["project"].protect is True
    assert mon.requests["project"].retainOnDelete is True
    for key in ("team-group", "team-member", "deployer-member", "compute-quota", "network-quota", "volume-quota"):
        assert not mon.requests[key].protect, key


def test_allow_data_loss_unprotects_the_project(inventory):
    mon = run_program(plan_for(inventory, "moh"), allow_data_loss=True)
    assert mon.requests["project"].protect is False
    assert mon.requests["project"].retainOnDelete is False


def test_admin_credentials_not_scoped_to_the_agency(onboarded):
    """Every resource uses the explicit provider, scoped to the ministry's admin project, never the agency's."""
    agency, _plan, mon = onboarded
    provider = mon.inputs["openstack-devcloud"]
    assert provider["tenantName"] == "admin"
    assert provider["tenantName"] != NAMES[agency][0]
    prov_ref = f"{mon.urns['openstack-devcloud']}::openstack-devcloud-id"
    for key, req in mon.requests.items():
        if key != "openstack-devcloud":
            assert req.provider == prov_ref, f"{key} uses {req.provider!r}"


def test_adopting_imports_the_existing_project_and_ignores_its_inputs_once(inventory):
    from govcloud.plan.model import ResourcePlan
    from govcloud.tenancy import Existing, with_imports

    plan = plan_for(inventory, "moh")
    adopted = with_imports(plan, [Existing("project", "project", "gov-moh", "existing-project-id")])
    assert ResourcePlan.from_json(adopted.to_json()) == adopted  # the engine child gets the import id
    mon = run_program(adopted)
    project = mon.requests["project"]
    assert project.importId == "existing-project-id"
    assert set(project.ignoreChanges) == set(adopted.get("project").inputs) and "description" in project.ignoreChanges
    assert all(not mon.requests[k].importId for k in mon.requests if k != "project")
    # without the import (the run after it), nothing is ignored: the registry's settings apply
    plain = run_program(plan)
    assert not plain.requests["project"].importId and not list(plain.requests["project"].ignoreChanges)
