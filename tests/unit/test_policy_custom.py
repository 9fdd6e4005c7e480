"""A ministry's own rules: policies/*.py in the config repo, or installed packs (entry points)."""
from __future__ import annotations

import shutil
import textwrap
from importlib.metadata import EntryPoint

import pytest

from govcloud.config import ConfigRepo
from govcloud.errors import GovcloudError, InputError
from govcloud.check import Workspace
from govcloud.policy import load_rules, registry
from govcloud.check import check_paths
from govcloud.policy.docs import CUSTOM_RULE_EXAMPLE, EXAMPLE_POLICIES

from ..conftest import EXAMPLES
from .test_policy import BASE


@pytest.fixture
def config_repo(tmp_path):
    (tmp_path / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")
    (tmp_path / "policies").mkdir()

    def add(name: str, code: str):
        path = tmp_path / "policies" / name
        path.write_text(textwrap.dedent(code).lstrip("\n"))
        return path

    add.root = tmp_path
    return add


def test_custom_rules_in_the_config_repo_are_picked_up(config_repo):
    """The documented example, as a ministry would write it, with the documented policies.yaml."""
    config_repo("team_label.py", CUSTOM_RULE_EXAMPLE)
    root = config_repo.root
    (root / "policies.yaml").write_text(EXAMPLE_POLICIES.replace("manifestDirs: [manifests]", "manifestDirs: []"))
    shutil.copytree(EXAMPLES, root / "manifests")
    ws = Workspace(ConfigRepo(root))
    rules = {r.id: r for r in load_rules(ws.config)}
    assert {"MOH001", "MOH002", "GC001"} <= set(rules)
    assert rules["MOH001"].source.endswith("policies/team_label.py") and rules["MOH002"].severity == "advisory"
    assert rules["MOH001"].description.startswith("Every service has a `team` label")

    results, report = check_paths([root / "manifests"], ws)
    failed = sorted(r.file.rsplit("/", 1)[-1] for r in results if not r.ok)
    # the examples without a team label: citizen-portal (purpose: demo), batch-cluster, open-data
    assert failed == ["batch-cluster.yaml", "citizen-portal.yaml", "open-data.yaml"]
    team = [f for f in report.findings if f.rule_id == "MOH001"]
    assert len(team) == 3 and all(f.location.line == 5 and f.path == "metadata.labels.team" for f in team)
    # the documented exception waives hr-app's single database server, and says so
    (waived,) = report.waived
    assert waived.rule_id == "GC011" and waived.file.endswith("hr-app.yaml") and "RTO approved" in waived.justification


def test_custom_rule_settings_and_exceptions_apply(config_repo):
    config_repo("team_label.py", CUSTOM_RULE_EXAMPLE)
    root = config_repo.root
    (root / "policies.yaml").write_text(textwrap.dedent("""
        settings:
          rules: {MOH001: {teams: [web]}}
        exceptions:
          - {rule: MOH002, severity: mandatory, justification: "no Windows licences this year"}
        """))
    m = root / "m.yaml"
    m.write_text(BASE.lstrip("\n")
                 .replace("  classification: internal\n", "  classification: internal\n  labels: {team: data}\n")
                 .replace("image: ubuntu-22.04", "image: windows-2022"))
    results, report = check_paths([m], Workspace(ConfigRepo(root)))
    got = {f.rule_id: f for f in report.findings}
    assert set(got) == {"MOH001", "MOH002", "GC008"}
    assert got["MOH001"].message == "unknown team 'data'" and got["MOH002"].severity == "mandatory"


def test_class_rules_group_rules_and_plain_tuples(config_repo):
    config_repo("fleet.py", """
        from govcloud.policy import GroupRule, Rule, Violation, group_rule


        class NoBuckets(Rule):
            '''Buckets are ordered from the storage team.'''
            id = "EDU010"
            title = "No buckets"
            severity = "advisory"
            resource = "spec.buckets"
            hint = "ask the storage team"

            def check(self, svc):
                for i, b in enumerate(svc.spec.buckets):
                    yield ("spec", "buckets", i, "name"), f"bucket {b.name}"


        @group_rule("EDU011", title="At most one service per agency and site", hint="merge them",
                    resource="metadata.name")
        def one_service(group):
            for svc in group.services[1:]:
                yield Violation(("metadata", "name"), f"{len(group.services)} services", service=svc)
        """)
    root = config_repo.root
    for i in range(2):
        (root / f"m{i}.yaml").write_text(BASE.lstrip("\n").replace("library-portal", f"portal{i}")
                                         .replace("10.90.0.0/24", f"10.90.{i}.0/24"))
    results, report = check_paths([root / "m0.yaml", root / "m1.yaml"], Workspace(ConfigRepo(root)))
    assert [(f.rule_id, f.file.rsplit("/", 1)[-1], f.location.line) for f in report.findings] == [
        ("EDU010", "m0.yaml", 27), ("EDU011", "m1.yaml", 4), ("EDU010", "m1.yaml", 27)]


@pytest.mark.parametrize("code,message,line", [
    ("from govcloud.policy import rule\n\n@rule('GC001', title='t', hint='h')\ndef f(svc):\n    return []\n",
     "ids GC... are reserved", 3),
    ("from govcloud.policy import rule\n\n@rule('moh1', title='t', hint='h')\ndef f(svc):\n    return []\n",
     "id must be upper-case letters", 3),
    ("from govcloud.policy import rule\n\n\n@rule('MOH001', title='t', hint='h', severity='high')\ndef f(svc):\n"
     "    return []\n", "severity must be one of: mandatory, advisory", 4),
    ("from govcloud.policy import rule\n\n@rule('MOH001', title='t')\ndef f(svc):\n    return []\n",
     "a remediation hint is required", 3),
    ("def broken(:\n    pass\n", "invalid Python in custom policy file", 1),
    ("import os\n\nraise RuntimeError('no config')\n", "custom policy file failed to load: RuntimeError: no config", 3),
])
def test_broken_custom_rules_are_located_errors(config_repo, code, message, line):
    path = config_repo("bad.py", code)
    with pytest.raises(InputError) as exc:
        load_rules(ConfigRepo(config_repo.root))
    (p,) = exc.value.problems
    assert message in p.message and p.code == "policy-rule"
    assert (p.location.file, p.location.line) == (str(path), line)


def test_duplicate_custom_ids_are_refused(config_repo):
    rule = "from govcloud.policy import rule\n\n@rule('MOH001', title='t', hint='h')\ndef f(svc):\n    return []\n"
    config_repo("a.py", rule)
    config_repo("b.py", rule)
    with pytest.raises(InputError) as exc:
        load_rules(ConfigRepo(config_repo.root))
    (p,) = exc.value.problems
    assert "MOH001 is defined twice" in p.message and p.location.file.endswith("b.py")


def test_a_custom_rule_that_crashes_names_itself(config_repo):
    config_repo("crash.py", """
        from govcloud.policy import rule

        @rule("MOH009", title="crashes", hint="h")
        def crash(svc):
            return [svc.no_such_thing]
        """)
    (config_repo.root / "m.yaml").write_text(BASE.lstrip("\n"))
    with pytest.raises(GovcloudError) as exc:
        check_paths([config_repo.root / "m.yaml"], Workspace(ConfigRepo(config_repo.root)))
    text = str(exc.value)
    assert "policy rule MOH009" in text and "crash.py" in text and "AttributeError" in text


@pytest.fixture
def installed_pack(tmp_path, monkeypatch):
    """A package 'edu_policies' with an entry point in govcloud.policies, as pip would install it."""
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "edu_policies.py").write_text(textwrap.dedent("""
        from govcloud.policy import Rule


        class Owners(Rule):
            '''Owners are ministry addresses.'''
            id = "EDU001"
            title = "Owner outside gov.example"
            hint = "use the team's ministry address"
            resource = "metadata.owner"

            def check(self, svc):
                if svc.metadata.owner and not svc.metadata.owner.endswith(".gov.example"):
                    yield ("metadata", "owner"), f"owner {svc.metadata.owner}"
        """))
    monkeypatch.syspath_prepend(str(pkg))
    eps = [EntryPoint("edu", "edu_policies", registry.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps if group == registry.ENTRY_POINT_GROUP else [])
    registry._installed_rules.cache_clear()
    yield eps
    registry._installed_rules.cache_clear()


def test_installed_packs_are_picked_up_by_entry_point(installed_pack, tmp_path):
    rules = {r.id: r for r in load_rules(ConfigRepo(None))}
    assert rules["EDU001"].source == "entry point edu = edu_policies"
    m = tmp_path / "m.yaml"
    m.write_text(BASE.lstrip("\n").replace("infra@moe.gov.example", "someone@mail.example"))
    results, report = check_paths([m], Workspace(ConfigRepo(None)))
    (f,) = report.findings
    assert (f.rule_id, f.location.line, f.message) == ("EDU001", 7, "owner someone@mail.example")


def test_a_broken_entry_point_is_an_error_not_a_traceback(monkeypatch):
    eps = [EntryPoint("gone", "no_such_module_xyz", registry.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps)
    registry._installed_rules.cache_clear()
    try:
        with pytest.raises(InputError) as exc:
            load_rules(ConfigRepo(None))
        assert "cannot load policy rules from entry point gone = no_such_module_xyz" in exc.value.problems[0].message
    finally:
        registry._installed_rules.cache_clear()
