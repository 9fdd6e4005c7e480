"""The CI examples (GitLab CI, GitHub Actions) and the pre-commit hook: they parse, their shell is valid,
they never prompt or hang, and the govcloud commands they run exist."""
from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import click
import pytest
import yaml

from govcloud.cli import cli

REPO = Path(__file__).resolve().parents[2]
GITLAB = REPO / "examples" / "ci" / "gitlab-ci.yml.example"
GITHUB = REPO / "examples" / "ci" / "github-actions.yml.example"
HOOKS = REPO / ".pre-commit-hooks.yaml"


def load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _flatten(script) -> list[str]:
    if isinstance(script, str):
        return [script]
    out = []
    for item in script or []:
        out.extend(_flatten(item))
    return out


def gitlab_jobs() -> dict[str, dict]:
    doc = load(GITLAB)
    reserved = {"stages", "default", "variables", "workflow", "include", "image", "services", "cache"}
    return {k: v for k, v in doc.items() if k not in reserved and not k.startswith(".")}


def gitlab_script(job: dict) -> str:
    doc = load(GITLAB)
    parent = doc.get(job.get("extends", ""), {}) if isinstance(job.get("extends"), str) else {}
    lines = _flatten(parent.get("before_script")) + _flatten(job.get("script", parent.get("script")))
    return "\n".join(lines)


def github_runs() -> list[tuple[str, str]]:
    doc = load(GITHUB)
    return [(name, step["run"]) for name, job in doc["jobs"].items() for step in job["steps"] if "run" in step]


def code(script: str) -> str:
    """A script without its comment lines."""
    return "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))


def scripts(path: Path) -> str:
    """Every shell command line a CI file or the hook runs."""
    if path == GITLAB:
        return "\n".join(code(gitlab_script(j)) for j in gitlab_jobs().values())
    if path == GITHUB:
        return "\n".join(code(run) for _, run in github_runs())
    (hook,) = load(HOOKS)
    return " ".join([hook["entry"], *hook["args"]])


def bash_ok(script: str) -> None:
    proc = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr + "\n" + script


def heredoc_python(script: str) -> list[str]:
    return re.findall(r"<<'PY'[^\n]*\n(.*?)\nPY\n", script, re.S)


def govcloud_calls(text: str) -> list[list[str]]:
    """The govcloud command lines of a script (arguments up to a redirection or pipe)."""
    calls = []
    for m in re.finditer(r"\bgovcloud\s+([a-z][^\n|<>;&]*)", text):
        words = shlex.split(m.group(1).replace("\\\n", " "), posix=True)
        calls.append(words)
    return calls


# ---------------------------------------------------------------- GitLab CI


def test_gitlab_ci_parses_and_has_the_three_stages():
    doc = load(GITLAB)
    assert doc["stages"] == ["validate", "review", "deploy"]
    jobs = gitlab_jobs()
    assert {"validate", "review", "deploy", "deploy-allow-data-loss"} <= set(jobs)
    for name, job in jobs.items():
        assert job.get("stage") or jobs.get(job.get("extends", ""), {}).get("stage"), name
        assert "timeout" in job or "timeout" in jobs.get(job.get("extends", ""), {}), f"{name}: no timeout"


def test_gitlab_validates_every_push_as_json():
    v = gitlab_jobs()["validate"]
    assert "rules" not in v and "only" not in v  # every pipeline: every push, every merge request
    assert 'govcloud validate "$GOVCLOUD_MANIFESTS" --format json' in gitlab_script(v)
    assert load(GITLAB)["variables"]["GOVCLOUD_MANIFESTS"] == "manifests"


def test_gitlab_posts_the_markdown_review_on_merge_requests():
    r = gitlab_jobs()["review"]
    assert [x["if"] for x in r["rules"]] == ['$CI_PIPELINE_SOURCE == "merge_request_event"']
    script = gitlab_script(r)
    assert "govcloud diff --format markdown" in script
    assert "merge_requests/{}/notes" in script and "<!-- govcloud-review" in script
    (py,) = heredoc_python(script)
    compile(py, "review-comment", "exec")


def test_gitlab_deploys_the_main_branch_with_yes_and_one_at_a_time():
    d = gitlab_jobs()["deploy"]
    assert d["rules"][0]["if"] == "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
    assert d["resource_group"] and d["environment"] == "production"
    script = gitlab_script(d)
    assert re.search(r"govcloud deploy \"\$f\" --plan \"\$plan\" --yes < /dev/null", script)
    assert "--allow-data-loss" not in code(script)
    manual = gitlab_jobs()["deploy-allow-data-loss"]
    assert manual["rules"][0]["when"] == "manual" and "--allow-data-loss" in gitlab_script(manual)


@pytest.mark.parametrize("job", ["validate", "review", "deploy", "deploy-allow-data-loss"])
def test_gitlab_scripts_are_valid_shell(job):
    bash_ok(gitlab_script(gitlab_jobs()[job]))


# ---------------------------------------------------------------- GitHub Actions


def test_github_workflow_parses_and_triggers():
    doc = load(GITHUB)
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads the key `on` as true
    assert set(on) == {"push", "pull_request", "workflow_dispatch"}
    assert on["push"]["branches"] == ["**"]
    assert doc["permissions"] == {"contents": "read"}
    for name, job in doc["jobs"].items():
        assert job.get("timeout-minutes"), f"{name}: no timeout"
        assert all("uses" in s or "run" in s for s in job["steps"])


def test_github_jobs_validate_review_deploy():
    doc = load(GITHUB)
    jobs = doc["jobs"]
    assert "if" not in jobs["validate"]
    runs = dict((n, "\n".join(r for j, r in github_runs() if j == n)) for n in jobs)
    assert 'govcloud validate "$GOVCLOUD_MANIFESTS" --format json' in runs["validate"]
    assert jobs["review"]["if"] == "github.event_name == 'pull_request'"
    assert jobs["review"]["permissions"]["pull-requests"] == "write"
    assert "govcloud diff --format markdown" in runs["review"]
    post = next(s for s in jobs["review"]["steps"] if s.get("uses", "").startswith("actions/github-script"))
    assert "<!-- govcloud-review" in post["with"]["script"]
    assert jobs["deploy"]["if"].startswith("github.ref == 'refs/heads/main'")
    assert jobs["deploy"]["concurrency"] == {"group": "govcloud-deploy", "cancel-in-progress": False}
    assert 'govcloud deploy "$f" --plan "$plan" --yes $ALLOW_DATA_LOSS < /dev/null' in runs["deploy"]


def test_github_run_steps_are_valid_shell_without_expression_injection():
    for job, run in github_runs():
        assert "${{" not in run, f"{job}: an expression inside a run script (pass it through env)"
        bash_ok(run)


# ---------------------------------------------------------------- non-interactive, existing commands


@pytest.mark.parametrize("path", [GITLAB, GITHUB])
def test_govcloud_never_reads_a_terminal_in_ci(path):
    text = scripts(path)
    for m in re.finditer(r"^.*\bgovcloud (validate|diff|deploy|destroy)\b.*$", text, re.M):
        line = m.group(0)
        assert "< /dev/null" in line or "xargs" in line, line
        if " deploy " in line:
            assert "--yes" in line, line


def _command_options(name: str, sub: str | None = None) -> set[str]:
    cmd = cli.get_command(None, name)
    if isinstance(cmd, click.Group) and sub in cmd.commands:  # govcloud catalog check ...
        cmd = cmd.commands[sub]
    return {o for p in cmd.params if isinstance(p, click.Option) for o in p.opts}


@pytest.mark.parametrize("path", [GITLAB, GITHUB, HOOKS])
def test_the_commands_ci_runs_exist(path):
    calls = govcloud_calls(scripts(path))
    assert calls
    for words in calls:
        if words[0].startswith("-"):  # govcloud --version
            continue
        assert cli.get_command(None, words[0]) is not None, words
    assert "--format" in _command_options("validate")


@pytest.mark.parametrize("path", [GITLAB, GITHUB])
def test_the_options_ci_uses_exist(path):
    for words in govcloud_calls(scripts(path)):
        if cli.get_command(None, words[0]) is None:
            continue
        opts = _command_options(words[0], words[1] if len(words) > 1 else None)
        for w in words[1:]:
            if w.startswith("--"):
                assert w.split("=")[0] in opts, (words[0], w)
        if words[0] == "diff" and "--format" in words:
            fmt = words[words.index("--format") + 1]
            choice = next(p for p in cli.get_command(None, "diff").params if "--format" in getattr(p, "opts", ()))
            assert fmt in choice.type.choices


# ---------------------------------------------------------------- pre-commit


def test_pre_commit_hook():
    (hook,) = load(HOOKS)
    assert hook["id"] == "govcloud-validate"
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["entry"] == "govcloud validate" and hook["language"] == "python"
    assert hook["pass_filenames"] is False and hook["args"] == ["manifests/"]
    files = re.compile(hook["files"])
    assert files.search("manifests/moh/patient-portal.yaml") and files.search("manifests/a.yml")
    assert not files.search("README.md") and not files.search("inventories/sites/thr1.yaml")


def test_pre_commit_hook_command_validates_a_config_repo(tmp_path, monkeypatch):
    """What pre-commit runs in a config repo: `govcloud validate manifests/` (exit 0 on a fresh scaffold)."""
    from click.testing import CliRunner

    repo = tmp_path / "agency"
    r = CliRunner().invoke(cli, ["init", str(repo), "--agency", "moh", "--site", "thr1"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    monkeypatch.chdir(repo)
    (hook,) = load(HOOKS)
    argv = hook["entry"].split()[1:] + hook["args"]
    r = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "valid, 0 invalid" in r.output


def test_examples_directory_still_holds_only_manifests():
    """The CI files are *.example: `govcloud validate examples/` must not read them as manifests."""
    assert not list((REPO / "examples").rglob("*.yml"))
