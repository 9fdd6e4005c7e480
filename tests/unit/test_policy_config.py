"""policies.yaml: exceptions with justifications, severities per scope, settings, located errors."""
from __future__ import annotations

import textwrap

import pytest

from govcloud.config import ConfigRepo
from govcloud.errors import InputError
from govcloud.load.inventory import Inventory
from govcloud.check import Workspace
from govcloud.policy import ADVISORY, MANDATORY, load_rules, parse_policy_text
from govcloud.check import check_paths
from govcloud.policy.docs import EXAMPLE_POLICIES

from .test_policy import BASE, edit

# BASE in prod with a single server and no health check: GC011 and GC014 (advisory); with
# ssh from anywhere: GC001 (mandatory)
PROD = edit(BASE, "environment: staging", "environment: prod", "count: 2", "count: 1",
            "      healthCheck: {port: 443}\n", "", "port: 22, protocol: tcp, from: 10.0.0.0/8",
            "port: 22, protocol: tcp, from: 0.0.0.0/0")
IDS = [r.id for r in load_rules(None)]


@pytest.fixture
def repo(tmp_path):
    """repo(policies_text, *manifests) -> (results, report) of checking the manifests in a config repo."""
    (tmp_path / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")

    def _check(policies: str | None, *manifests: str):
        if policies is not None:
            (tmp_path / "policies.yaml").write_text(textwrap.dedent(policies).lstrip("\n"))
        paths = []
        for i, text in enumerate(manifests):
            p = tmp_path / "manifests" / f"m{i}.yaml"
            p.parent.mkdir(exist_ok=True)
            p.write_text(text)
            paths.append(p)
        return check_paths(paths, Workspace(ConfigRepo(tmp_path)))

    _check.root = tmp_path
    return _check


def errors_of(policies: str) -> list:
    with pytest.raises(InputError) as exc:
        parse_policy_text(textwrap.dedent(policies).lstrip("\n"), "policies.yaml", IDS, Inventory(ConfigRepo(None)))
    return list(exc.value.problems)


def test_without_policies_yaml_the_baseline_applies(repo):
    results, report = repo(None, PROD)
    assert sorted(f.rule_id for f in report.findings) == ["GC001", "GC011", "GC014"]
    assert not results[0].ok and report.policy.file is None


def test_off_waives_but_keeps_the_finding_visible(repo):
    results, report = repo("""
        exceptions:
          - rule: GC001
            severity: off
            agencies: [moe]
            justification: "bastion migration until 2026-12-31, approved by the CISO (SEC-77)"
        """, PROD)
    (g,) = [f for f in report.findings if f.rule_id == "GC001"]
    assert g.waived and g.justification.startswith("bastion migration") and g.exception.location.line == 2
    assert results[0].ok and not report.failed and report.waived == [g]
    assert all(p.code != "GC001" for p in results[0].problems)  # not printed as a problem ...
    (line,) = report.exception_lines()  # ... but listed with its justification
    assert "policies.yaml:2:5: exception: GC001 waived for agencies moe (1 finding): bastion migration" in line
    assert "waived: spec.network.ingress[1].from: [GC001]" in g.format_waiver() and "SEC-77" in g.format_waiver()
    data = report.to_json()
    assert data["summary"]["waived"] == 1 and data["exceptionsApplied"][0]["findings"] == 1
    assert [f for f in data["findings"] if f["rule"] == "GC001"][0]["justification"].endswith("(SEC-77)")


def test_change_severity_both_ways(repo):
    results, report = repo("""
        exceptions:
          - rule: GC001
            severity: advisory
            justification: "lab network; see RISK-12"
          - rule: GC014
            severity: mandatory
            environments: [prod]
            justification: "MoE requires health checks in prod"
        """, PROD)
    by_id = {f.rule_id: f for f in report.findings}
    assert by_id["GC001"].severity == ADVISORY and by_id["GC001"].rule_severity == MANDATORY
    assert by_id["GC014"].severity == MANDATORY and by_id["GC014"].blocking
    problem = by_id["GC001"].to_problem()
    assert problem.severity == "warning" and "severity set to advisory by" in problem.hint and "RISK-12" in problem.hint
    assert not results[0].ok and [f.rule_id for f in report.blocking] == ["GC014"]


def test_scopes_narrow_and_first_match_wins(repo):
    results, report = repo("""
        exceptions:
          - rule: GC011
            severity: mandatory
            services: [library-portal]
            sites: [thr1]
            justification: "the library portal must be redundant"
          - rule: GC011
            severity: off
            justification: "single servers are fine for this ministry"
          - rule: GC001
            severity: off
            environments: [dev, test]
            agencies: [moh]
            justification: "never matches: PROD is moe's prod"
        """, PROD, edit(PROD, "name: library-portal", "name: archive", "cidr: 10.90.0.0/24", "cidr: 10.90.1.0/24"))
    f0 = {f.rule_id: f for f in report.for_file(results[0].file)}
    f1 = {f.rule_id: f for f in report.for_file(results[1].file)}
    assert f0["GC011"].severity == MANDATORY and not f0["GC011"].waived
    assert f1["GC011"].waived
    assert not f0["GC001"].waived and not f1["GC001"].waived
    (unused,) = report.unused_exceptions()
    assert unused.rule == "GC001" and unused.location.line == 10


@pytest.mark.parametrize("entry,line,path,text", [
    ("  - {rule: GC001, severity: off}", 2, "exceptions[0].justification", "required field 'justification'"),
    ("  - {rule: GC001, severity: off, justification: '   '}", 2, "exceptions[0].justification", "may not be blank"),
    ("  - {rule: GC001, severity: off, justification: ''}", 2, "exceptions[0].justification", "at least 1 character"),
])
def test_justification_is_required(entry, line, path, text):
    (p,) = errors_of("exceptions:\n" + entry + "\n")
    assert (p.path, p.location.line, p.code) == (path, line, "policy-config")
    assert text in p.message and "why it is granted" in p.hint


def test_located_errors_for_unknown_rules_agencies_sites_and_keys():
    problems = errors_of("""
        settings:
          maxServers: {dev: 0}
        exceptions:
          - rule: GC00l
            severity: off
            justification: x
          - rule: GC010
            severity: low
            justification: x
          - rule: GC011
            severity: off
            agencies: [mho]
            sites: [thr9]
            justification: x
            expires: 2026-01-01
        """)
    got = sorted((p.location.line, p.path) for p in problems)
    assert got == [(2, "settings.maxServers.dev"), (4, "exceptions[0].rule"), (8, "exceptions[1].severity"),
                   (15, "exceptions[2].expires")]
    severity = [p for p in problems if p.path == "exceptions[1].severity"][0]
    assert "off waives the rule" in severity.hint
    problems = errors_of("""
        exceptions:
          - rule: GC099
            severity: off
            agencies: [moh, mho]
            sites: [thr9]
            justification: x
        settings:
          rules: {GC0011: {}}
        """)
    assert [(p.location.line, p.path, p.message) for p in problems] == [
        (2, "exceptions[0].rule", "unknown rule 'GC099'"),
        (4, "exceptions[0].agencies[1]", "unknown agency 'mho'"),
        (5, "exceptions[0].sites[0]", "unknown site 'thr9'"),
        (8, "settings.rules.GC0011", "unknown rule 'GC0011'")]
    assert "did you mean 'moh'?" in problems[1].hint and "did you mean 'thr1'?" in problems[2].hint


def test_bad_policies_yaml_stops_the_check_with_located_errors(repo):
    with pytest.raises(InputError) as exc:
        repo("exceptions:\n  - rule: GC001\n    severity: off\n    severity: advisory\n    justification: x\n", BASE)
    (p,) = exc.value.problems
    assert p.code == "yaml" and "duplicate key 'severity'" in p.message and p.location.line == 4
    assert p.location.file == str(repo.root / "policies.yaml")


def test_severity_off_unquoted_and_quoted():
    for value in ("off", "'off'", "false"):
        cfg = parse_policy_text(f"exceptions:\n  - {{rule: GC001, severity: {value}, justification: x}}\n")
        assert cfg.exceptions[0].severity == "off"
    (p,) = errors_of("exceptions:\n  - {rule: GC001, severity: true, justification: x}\n")
    assert p.path == "exceptions[0].severity"


def test_settings_defaults_and_overrides():
    cfg = parse_policy_text("settings:\n  sizeCeiling: {test: null, staging: {vcpus: 8, ramGb: 32}}\n"
                            "  maxServers: {dev: 3}\n  adminPorts: [22, 8443]\n")
    s = cfg.settings
    assert s.size_ceiling["dev"].vcpus == 4 and s.size_ceiling["test"] is None and s.size_ceiling["staging"].vcpus == 8
    assert s.max_servers == {"dev": 3, "test": 6} and s.admin_ports == {22, 8443}
    assert [str(n) for n in s.trusted_networks] == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]


def test_admin_ports_setting(repo):
    text = edit(BASE, "port: 443, protocol: tcp, from: 0.0.0.0/0", "port: 8443, protocol: tcp, from: 0.0.0.0/0")
    _, report = repo("settings: {adminPorts: [8443]}\n", text)
    assert [f.rule_id for f in report.findings] == ["GC001"]


def test_manifest_dirs_count_for_quotas_when_one_file_is_checked(repo):
    big = edit(BASE, "count: 2", "count: 3")  # 3 floating IPs of moe's 4
    other = edit(big, "name: library-portal", "name: archive", "cidr: 10.90.0.0/24", "cidr: 10.90.1.0/24")
    root = repo.root
    (root / "fleet").mkdir()
    (root / "fleet" / "archive.yaml").write_text(other)
    (root / "fleet" / "broken.yaml").write_text("not: [a manifest\n")  # skipped: reported when checked itself
    results, report = repo("settings: {manifestDirs: [fleet]}\n", big)
    (f,) = report.findings
    assert f.rule_id == "GC015" and "needs 6 floating IPs, its quota is 4" in f.message
    assert "archive.yaml 3" in f.message
    assert report.context == 1 and [r.file for r in results] == [str(root / "manifests" / "m0.yaml")]


def test_the_documented_example_is_valid():
    cfg = parse_policy_text(EXAMPLE_POLICIES, "policies.yaml", IDS + ["MOH001", "MOH002"], Inventory(ConfigRepo(None)))
    assert [e.rule for e in cfg.exceptions] == ["GC011", "GC014"]
    assert cfg.settings.max_servers == {"dev": 6, "test": 8} and cfg.settings.rules["MOH001"]["teams"]
