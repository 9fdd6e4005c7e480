"""One bad manifest per rule (tests/policy_cases), the generated docs, and `govcloud policy`."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from govcloud.cli import cli
from govcloud.config import ConfigRepo
from govcloud.check import Workspace
from govcloud.policy import ADVISORY, builtin_rules
from govcloud.check import check_paths
from govcloud.policy.docs import render_markdown

from ..conftest import EXAMPLES, REPO

CASES = REPO / "tests" / "policy_cases"
MARKER = re.compile(r"#\s*expect:\s*([A-Z]+[0-9]+)")


def expected(path: Path) -> set[tuple[str, int]]:
    """(rule id, line) of every `# expect: ID` marker in a case file."""
    return {(m.group(1), n) for n, line in enumerate(path.read_text().splitlines(), 1)
            for m in [MARKER.search(line)] if m}


def test_every_rule_has_a_case():
    named = {p.name.split("-", 1)[0] for p in CASES.glob("*.yaml")}
    assert named == {r.id for r in builtin_rules()}


@pytest.mark.parametrize("case", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_case_fails_with_exactly_its_rule_at_the_marked_line(case):
    rule_id = case.name.split("-", 1)[0]
    marks = expected(case)
    assert marks and {r for r, _ in marks} == {rule_id}, "the case marks its own rule"
    # checked together with examples/ so that the cross-manifest rules see the fleet
    results, report = check_paths([case], Workspace(ConfigRepo(None)), context=[EXAMPLES])
    (result,) = results
    assert result.plan is not None, [p.format() for p in result.problems]  # it loads: only policy fails
    found = report.for_file(str(case))
    assert {(f.rule_id, f.location.line) for f in found} == marks
    assert all(f.location.file == str(case) for f in found)
    advisory = next(r for r in builtin_rules() if r.id == rule_id).severity == ADVISORY
    assert result.ok is advisory  # mandatory rules fail the file, advisory ones warn
    assert {p.code for p in result.problems} == {rule_id}
    assert {p.severity for p in result.problems} == {"warning" if advisory else "error"}


def test_validate_examples_does_not_read_the_cases():
    assert not CASES.is_relative_to(EXAMPLES)


def test_docs_are_generated_from_the_registry():
    committed = (REPO / "docs" / "policies.md").read_text(encoding="utf-8")
    assert committed == render_markdown(builtin_rules()), \
        "docs/policies.md is stale: .venv/bin/python -m govcloud.policy.docs > docs/policies.md"
    for r in builtin_rules():
        assert f"### {r.id}" in committed and r.hint in committed


# -- the CLI ---------------------------------------------------------------------------------------

def run(*args, **kw):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kw)


def test_policy_check_examples_passes():
    result = run("policy", "check", str(EXAMPLES))
    assert result.exit_code == 0, result.output
    n = len(list(EXAMPLES.rglob("*.yaml")))
    assert f"{n} manifests checked: {n} passed, 0 failed" in result.stdout
    assert "0 mandatory findings" in result.stdout
    assert "warning:" in result.stderr and "[GC011]" in result.stderr  # hr-app's single database


def test_policy_check_a_bad_manifest_exit_1_located():
    case = CASES / "GC001-ssh-open.yaml"
    proc = subprocess.run([sys.executable, "-m", "govcloud", "policy", "check", str(case)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{case}:17:52: error: spec.network.ingress[1].from: [GC001] ingress 'ssh' opens SSH 22" in proc.stderr
    assert "1 manifest checked: 0 passed, 1 failed" in proc.stdout


def test_policy_check_json_for_ci():
    result = run("policy", "check", "--format", "json", str(CASES / "GC005-public-bucket.yaml"),
                 str(EXAMPLES / "moh"))
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["summary"]["failed"] is True and data["summary"]["invalid"] == 1 and data["summary"]["checked"] == 3
    (finding,) = data["findings"]
    assert (finding["rule"], finding["line"], finding["severity"]) == ("GC005", 17, "mandatory")
    bad = [f for f in data["files"] if not f["ok"]]
    assert bad[0]["problems"][0]["code"] == "GC005"


def test_policy_check_invalid_manifest_is_reported_like_validate(write):
    bad = write("bad.yaml", (CASES / "GC001-ssh-open.yaml").read_text().replace("count: 2", "count: many"))
    result = run("policy", "check", str(bad))
    assert result.exit_code == 1 and "must be a whole number" in result.stderr


def test_policy_list_formats():
    text = run("policy", "list").stdout
    assert re.search(r"^GC001\s+mandatory\s+Administration or database port", text, re.M)
    assert re.search(r"^GC011\s+advisory\s+", text, re.M)
    data = json.loads(run("policy", "list", "--format", "json").stdout)
    assert [r["id"] for r in data["rules"]] == sorted(r.id for r in builtin_rules())
    assert data["rules"][0]["hint"] and data["rules"][0]["source"] == "builtin"
    md = run("policy", "list", "--format", "markdown").stdout
    assert md.startswith("# Policy pack") and "| [GC015](#gc015) |" in md


def test_policy_list_shows_a_config_repos_exceptions_and_rules(tmp_path, monkeypatch):
    (tmp_path / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\n")
    (tmp_path / "policies.yaml").write_text("exceptions:\n  - {rule: GC011, severity: off, justification: why}\n")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "x.py").write_text(
        "from govcloud.policy import rule\n\n@rule('MOH001', title='Mine', hint='h')\ndef f(svc):\n    return []\n")
    monkeypatch.setenv("GOVCLOUD_CONFIG", str(tmp_path))
    out = run("policy", "list").stdout
    assert "MOH001" in out and "x.py" in out and "line 2: GC011 off for everywhere: why" in out


def test_policy_usage_errors_exit_2():
    assert run("policy", "check").exit_code == 2
    assert run("policy", "list", "--format", "yaml").exit_code == 2


def test_policy_commands_keep_startup_light():
    code = ("import sys, io, contextlib\n"
            "from govcloud.cli import cli\n"
            "for args in (['--help'], ['policy', '--help'], ['policy', 'check', '--help']):\n"
            "    try:\n"
            "        with contextlib.redirect_stdout(io.StringIO()):\n"
            "            cli(args, standalone_mode=False)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'yaml', 'jinja2', 'rich')\n"
            "             or m.startswith('govcloud.policy')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
