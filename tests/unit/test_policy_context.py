"""The policy context of `plan FILE` / `cost FILE`: neighbours that may share a group rule's group are
built and checked, the others are only peeked at (load/peek.py), and no neighbour breaks the command."""
from __future__ import annotations

import os

import pytest

from govcloud import check
from govcloud.check import Workspace, check_manifest
from govcloud.config import ConfigRepo
from govcloud.errors import InputError
from govcloud.load.peek import peek_keys

from ..conftest import REPO

HR_APP = (REPO / "examples/mefa/hr-app.yaml").read_text()


def test_peek_reads_block_flow_and_quoted_strings():
    assert peek_keys(HR_APP.encode()) == {"agency_id": "mefa", "environment": "prod", "site_name": "thr1"}
    flow = b'{kind: Service, metadata: {name: x, "agency": "moe", environment: \'dev\'}, spec: {site: isf1}}'
    assert peek_keys(flow) == {"agency_id": "moe", "environment": "dev", "site_name": "isf1"}


@pytest.mark.parametrize("value", ["*a", "!!int 7", "7", "null", "true", "[mefa]", "{x: 1}", "&a mefa"])
def test_peek_leaves_out_what_is_not_surely_a_string(value):
    data = f"base: &a mefa\nmetadata:\n  agency: {value}\n  environment: dev\n".encode()
    assert peek_keys(data) == {"environment": "dev"}


def test_peek_of_what_is_not_a_manifest():
    assert peek_keys(b"- a\n- b\n") is None
    assert peek_keys(b"metadata: {agency: mefa\n") in ({}, {"agency_id": "mefa"})
    assert peek_keys(b"\x00\xff") == {}


def test_peek_stops_once_enough_is_known():
    # the syntax error after the agency is never reached
    data = b"metadata:\n  agency: moe\n  environment: [unclosed\nspec: {site: thr1}\n"
    assert peek_keys(data) == {}
    assert peek_keys(data, enough=lambda keys: "agency_id" in keys) == {"agency_id": "moe"}


def neighbour(name: str, *, agency: str = "mefa", cidr: str = "10.77.0.0/24", site: str = "thr1",
              flow: bool = False) -> str:
    image = "rocky-9" if site == "thr1" else "debian-12"  # what each site offers
    if flow:  # the same manifest in another YAML style: quoted keys and values, flow mappings
        return (f'{{"apiVersion": govcloud/v1, kind: Service, metadata: {{name: {name}, "agency": "{agency}", '
                f'environment: prod, owner: a@{agency}.gov.example, costCenter: X-1, classification: internal}}, '
                f'spec: {{site: "{site}", network: {{cidr: "{cidr}"}}, servers: [{{name: app, size: small, '
                f'image: {image}, role: app}}]}}}}\n')
    return (HR_APP.replace("name: hr-app", f"name: {name}").replace("image: rocky-9", f"image: {image}")
            .replace("agency: mefa", f"agency: {agency}")
            .replace("owner: hr-systems@mefa", f"owner: hr@{agency}").replace("site: thr1", f"site: {site}")
            .replace("cidr: 10.51.0.0/24", f"cidr: {cidr}"))


@pytest.fixture
def counted(monkeypatch):
    """The files Workspace.check builds."""
    built: list[str] = []
    real = Workspace.check

    def spy(self, path):
        built.append(os.path.basename(path))
        return real(self, path)

    monkeypatch.setattr(Workspace, "check", spy)
    return built


def test_only_neighbours_that_can_share_a_group_are_built(tmp_path, counted):
    (tmp_path / "hr-app.yaml").write_text(HR_APP)
    (tmp_path / "same.yaml").write_text(neighbour("payroll", cidr="10.52.0.0/24"))
    (tmp_path / "same-flow.yaml").write_text(neighbour("leave", cidr="10.53.0.0/24", flow=True))
    (tmp_path / "other-site-dev.yaml").write_text(
        neighbour("staff", cidr="10.54.0.0/24", site="isf1").replace("environment: prod", "environment: dev"))
    for i in range(20):  # other agencies: never built
        (tmp_path / f"moe-{i}.yaml").write_text(neighbour(f"moe-{i}", agency="moe", cidr="10.51.0.0/24"))
    checked = check_manifest(tmp_path / "hr-app.yaml", Workspace(ConfigRepo(None)))
    assert checked.plan.service.service == "hr-app"
    assert sorted(counted) == ["hr-app.yaml", "same-flow.yaml", "same.yaml"]
    assert checked.policy.context == 2


def test_an_overlap_with_a_flow_style_neighbour_is_still_found(tmp_path):
    (tmp_path / "hr-app.yaml").write_text(HR_APP)
    (tmp_path / "leave.yaml").write_text(neighbour("leave", cidr="10.51.0.128/25", flow=True))
    with pytest.raises(InputError) as exc:
        check_manifest(tmp_path / "hr-app.yaml", Workspace(ConfigRepo(None)))
    assert any(p.code == "GC012" and "leave.yaml" in p.message for p in exc.value.problems), exc.value.problems


def test_the_filter_changes_no_finding(tmp_path, monkeypatch):
    """The same check with every neighbour built gives the same findings, over a mixed directory."""
    (tmp_path / "hr-app.yaml").write_text(HR_APP)
    for i in range(12):
        agency = ("mefa", "moe", "moh")[i % 3]
        (tmp_path / f"n{i}.yaml").write_text(neighbour(f"svc-{i}", agency=agency, cidr=f"10.51.{i % 2}.0/24",
                                                      site=("thr1", "isf1")[i % 2], flow=i % 4 == 0))
    (tmp_path / "n-dup.yaml").write_text(neighbour("hr-app", cidr="10.99.0.0/24", site="isf1"))  # GC016

    def findings():
        with pytest.raises(InputError) as exc:
            check_manifest(tmp_path / "hr-app.yaml", Workspace(ConfigRepo(None)))
        return sorted(p.message for p in exc.value.problems)

    filtered = findings()
    monkeypatch.setattr(check, "context_filter", lambda rules, checked: (lambda path: True))
    assert findings() == filtered
    assert any("[GC016]" in m for m in filtered) and any("[GC012]" in m for m in filtered), filtered


def test_a_broken_neighbour_never_breaks_the_command(tmp_path):
    (tmp_path / "hr-app.yaml").write_text(HR_APP)
    (tmp_path / "list-name.yaml").write_text(HR_APP.replace("name: app", "name: [a, b]"))
    (tmp_path / "tags.yaml").write_text(HR_APP.replace("count: 2", "count: !!int abc"))
    (tmp_path / "not-yaml.yaml").write_text("metadata: {agency: mefa\n  : : :\n")
    (tmp_path / "list.yaml").write_text("- mefa\n")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    checked = check_manifest(tmp_path / "hr-app.yaml", Workspace(ConfigRepo(None)))
    assert checked.plan.service.service == "hr-app" and checked.policy.context == 0



def test_peek_reads_the_keys_a_built_manifest_groups_by():
    # what peek reads from a neighbour's first lines is what the built manifest's policy context says
    from govcloud.policy.core import grouping_keys

    svc = Workspace(ConfigRepo(None)).check(REPO / "examples/mefa/hr-app.yaml")
    assert peek_keys(HR_APP.encode()) == grouping_keys(svc) == {
        "agency_id": "mefa", "environment": "prod", "site_name": "thr1"}
