"""govcloud.yaml is checked like a manifest; the environment and the state dir are named in one module."""
import ast
import re
import subprocess
import sys

import pytest

from govcloud import settings
from govcloud.config import ConfigRepo
from govcloud.errors import InputError, SetupError
from govcloud.scaffold import init_config_repo
from govcloud.settings import GovcloudSettings, StateDir, env, load_settings, read_passphrase, secret_values

from ..conftest import REPO

PACKAGE = REPO / "govcloud"


def repo_with(tmp_path, text: str) -> ConfigRepo:
    (tmp_path / "govcloud.yaml").write_text(text, encoding="utf-8")
    return ConfigRepo(tmp_path)


def test_a_misspelt_key_is_an_error_at_its_line_naming_the_allowed_keys(tmp_path):
    config = repo_with(tmp_path, "apiVersion: govcloud/v1\nkind: Config\n# the state\nbacknd: s3://state\n")
    with pytest.raises(InputError) as exc:
        config.settings
    (p,) = exc.value.problems
    assert str(p.location) == f"{tmp_path / 'govcloud.yaml'}:4:1" and p.message == "unknown field 'backnd'"
    assert p.hint == "did you mean 'backend'? allowed: apiVersion, kind, backend, database, metering"


def test_nested_keys_and_values_are_checked(tmp_path):
    with pytest.raises(InputError) as exc:
        repo_with(tmp_path, "kind: Config\nmetering:\n  exchnage: EUR=2\n").settings
    assert exc.value.problems[0].path == "metering.exchnage"
    with pytest.raises(InputError) as exc:
        repo_with(tmp_path, "kind: Config\nmetering: {exchange: {currency: EURO, rate: x}}\n").settings
    (p,) = exc.value.problems
    assert (p.path, p.location.line) == ("metering.exchange", 2) and "is not CODE=RATE" in p.message
    with pytest.raises(InputError, match="backend: must be a string, got a number"):
        repo_with(tmp_path, "kind: Config\nbackend: 42\n").settings
    with pytest.raises(InputError, match="kind: must be 'Config'"):
        repo_with(tmp_path, "kind: Manifest\n").settings
    with pytest.raises(InputError, match="must be a mapping"):
        repo_with(tmp_path, "- backend\n").settings


def test_typed_settings(tmp_path):
    s = repo_with(tmp_path, "apiVersion: govcloud/v1\nkind: Config\nbackend: s3://st\n"
                            "metering: {exchange: {currency: EUR, rate: \"0.0000175\"}}\n").settings
    assert isinstance(s, GovcloudSettings) and s.backend == "s3://st"
    assert s.metering.exchange_text == "EUR=0.0000175"
    assert repo_with(tmp_path, "metering: {exchange: USD=0.5}\n").settings.metering.exchange_text == "USD=0.5"
    least = repo_with(tmp_path, "kind: Config\n").settings
    assert least.backend is None and least.metering.exchange_text is None
    assert ConfigRepo(None).settings == GovcloudSettings()


def test_the_init_sample_and_this_checkout_are_valid(tmp_path):
    init_config_repo(tmp_path / "ministry")
    assert load_settings(tmp_path / "ministry" / "govcloud.yaml").backend is None
    assert load_settings(REPO / "govcloud.yaml").kind == "Config"


def test_cli_reports_a_bad_govcloud_yaml_located_exit_1(tmp_path):
    (tmp_path / "govcloud.yaml").write_text("kind: Config\nbacknd: file://x\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "govcloud", "usage", "report", "--from", "2026-01-01",
                           "--to", "2026-01-31"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{tmp_path / 'govcloud.yaml'}:2:1: error: backnd: unknown field 'backnd'" in proc.stderr
    assert not (tmp_path / ".govcloud").exists()  # nothing was written


# ---------------------------------------------------------------- the environment


def test_env_reads_only_listed_variables():
    assert env("GOVCLOUD_CONFIG", {"GOVCLOUD_CONFIG": "/srv/ministry"}) == "/srv/ministry"
    assert env("GOVCLOUD_CONFIG", {"GOVCLOUD_CONFIG": ""}) is None
    assert env("CI_JOB_URL", {"CI_JOB_URL": "https://ci/j/1"}) == "https://ci/j/1"  # read with GITLAB_CI
    with pytest.raises(KeyError, match="GOVCLOUD_NOT_A_SETTING is not listed"):
        env("GOVCLOUD_NOT_A_SETTING", {})


def test_passphrase_and_the_secrets_to_mask(tmp_path):
    f = tmp_path / "pass"
    f.write_text("from-a-file\n")
    assert read_passphrase({"GOVCLOUD_PASSPHRASE": "pw-1", "GOVCLOUD_PASSPHRASE_FILE": str(f)}) == "pw-1"
    assert settings.passphrase_source({"GOVCLOUD_PASSPHRASE_FILE": str(f)}) == f"GOVCLOUD_PASSPHRASE_FILE ({f})"
    assert sorted(secret_values({"OS_PASSWORD": "os-pw", "GOVCLOUD_PASSPHRASE_FILE": str(f), "OS_CLOUD": "c"})) \
        == ["from-a-file", "os-pw"]
    assert secret_values({"GOVCLOUD_PASSPHRASE_FILE": str(tmp_path / "missing")}) == []
    with pytest.raises(SetupError):
        read_passphrase({})


def test_a_passphrase_file_per_agency(tmp_path):
    """`{agency}` in GOVCLOUD_PASSPHRASE_FILE: each agency's stacks are read with that agency's passphrase, and
    every one of them is masked."""
    (tmp_path / "pp-moh").write_text("moh-secret\n")
    (tmp_path / "pp-moe").write_text("moe-secret\n")
    environ = {"GOVCLOUD_PASSPHRASE_FILE": str(tmp_path / "pp-{agency}")}
    assert read_passphrase(environ, agency="moh") == "moh-secret"
    assert read_passphrase(environ, agency="moe") == "moe-secret"
    with pytest.raises(SetupError, match="cannot read the passphrase file .*pp-sabt"):
        read_passphrase(environ, agency="sabt")
    with pytest.raises(SetupError, match="names one file per agency"):
        read_passphrase(environ)
    assert sorted(secret_values(environ)) == ["moe-secret", "moh-secret"]
    # GOVCLOUD_PASSPHRASE (an agency's CI holds its own) still comes first
    assert read_passphrase({**environ, "GOVCLOUD_PASSPHRASE": "ci"}, agency="moh") == "ci"


def test_a_backend_per_agency(tmp_path, monkeypatch):
    from govcloud.engine.stack import backend_url, locate, locate_stack

    monkeypatch.delenv("GOVCLOUD_STATE_DIR", raising=False)
    config = repo_with(tmp_path, "apiVersion: govcloud/v1\nkind: Config\nbackend: file://state/{agency}\n")
    assert backend_url(config, "moh") == f"file://{(tmp_path / 'state' / 'moh').resolve()}"
    assert locate_stack("govcloud-moe/portal-dev", config).backend_url == f"file://{(tmp_path / 'state' / 'moe').resolve()}"
    from govcloud.check import Workspace

    plan = Workspace(config).plan(REPO / "examples" / "moh" / "patient-portal.yaml")
    assert locate(plan, config).backend_url == backend_url(config, "moh")
    s3 = repo_with(tmp_path, "apiVersion: govcloud/v1\nkind: Config\nbackend: s3://state-{agency}?region=thr1\n")
    assert backend_url(s3, "sabt") == "s3://state-sabt?region=thr1"
    with pytest.raises(ValueError, match="not a govcloud stack name"):
        locate_stack("portal-dev", config)


def test_a_postgres_backend_per_agency_is_one_shared_database_only_by_its_table(tmp_path):
    from govcloud.errors import SetupError
    from govcloud.shared.db import shared_database

    url = "postgres://govcloud@db.example:5432/govcloud"
    by_table = repo_with(tmp_path, f"apiVersion: govcloud/v1\nkind: Config\nbackend: {url}?table=state_{{agency}}\n")
    assert shared_database(by_table).dsn == url  # the table parameter (and its placeholder) is the backend's
    by_db = repo_with(tmp_path, "apiVersion: govcloud/v1\nkind: Config\nbackend: postgres://g@db:5432/state_{agency}\n")
    with pytest.raises(SetupError, match="set `database:`"):
        shared_database(by_db)
    named = repo_with(tmp_path, f"apiVersion: govcloud/v1\nkind: Config\nbackend: postgres://g@db:5432/s_{{agency}}\n"
                                f"database: {url}\n")
    assert shared_database(named).url == url


def _environment_reads(tree: ast.AST):
    """(line, name) of every os.environ.get("X") / os.getenv("X") / os.environ["X"] with a literal name."""
    for node in ast.walk(tree):
        target = name = None
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "get" and ast.unparse(f.value) == "os.environ":
                target, name = node, node.args[0].value
            elif ast.unparse(f) == "os.getenv":
                target, name = node, node.args[0].value
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ" \
                and isinstance(node.slice, ast.Constant) and isinstance(node.ctx, ast.Load):
            target, name = node, node.slice.value
        if target is not None and isinstance(name, str):
            yield target.lineno, name


# Direct reads that remain outside settings.py, each with its reason. The test fails when one of them is
# gone, so that this list only shrinks.
KNOWN_DIRECT_READS = {
    # the engine child reads what its parent govcloud set for it (not user configuration)
    ("engine/worker.py", "PULUMI_CONFIG_PASSPHRASE"),
    # the engine's PATH is the toolchain's bin dir in front of the user's PATH
    ("engine/command.py", "PATH"), ("engine/toolchain.py", "PATH"),
}


def test_environment_variables_are_read_in_one_module():
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "settings.py":
            continue
        for line, name in _environment_reads(ast.parse(path.read_text(encoding="utf-8"))):
            folder = next((d for d, n in KNOWN_DIRECT_READS if d.endswith("/") and rel.startswith(d) and n == name),
                          None)
            found.add((folder or rel, name))
    unexpected = sorted(found - KNOWN_DIRECT_READS)
    assert not unexpected, f"read these through govcloud.settings.env (and list them in ENVIRONMENT): {unexpected}"
    gone = sorted(KNOWN_DIRECT_READS - found)
    assert not gone, f"no longer read directly: remove them from KNOWN_DIRECT_READS: {gone}"


def test_every_govcloud_variable_named_in_the_package_is_listed():
    listed = {v.name for v in settings.ENVIRONMENT}
    named = set()
    for path in PACKAGE.rglob("*.py"):
        named |= set(re.findall(r"\bGOVCLOUD_[A-Z][A-Z_]*\b", path.read_text(encoding="utf-8")))
    assert named - listed == set()
    assert {"GOVCLOUD_TOOLCHAIN_DIR", "GOVCLOUD_TIMINGS", "NO_COLOR"} <= listed


def test_docs_configuration_is_current():
    committed = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert settings.render_docs() in committed, \
        "docs/configuration.md is stale: .venv/bin/python -m govcloud.settings docs/configuration.md"
    assert settings.update_docs(committed) == committed


# ---------------------------------------------------------------- the state directory


def test_state_dir_location(tmp_path):
    assert settings.state_dir_for(tmp_path, {}).root == tmp_path / ".govcloud"
    assert settings.state_dir_for(tmp_path, {"GOVCLOUD_STATE_DIR": "/srv/st"}).root.as_posix() == "/srv/st"
    assert settings.state_dir_for(None, {"XDG_STATE_HOME": "/x"}).root.as_posix() == "/x/govcloud"


def test_state_dir_names_paths_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("GOVCLOUD_STATE_DIR", raising=False)
    config = repo_with(tmp_path, "kind: Config\n")
    state = config.state_dir
    assert isinstance(state, StateDir) and state.root == tmp_path / ".govcloud"
    assert state.stack_lock("govcloud-moh", "portal-prod") == state.root / "locks" / "govcloud-moh--portal-prod.lock"
    assert state.workspace("govcloud-moh", "portal-prod") == state.root / "workspaces" / "govcloud-moh" / "portal-prod"
    assert (state.file_backend, state.logs, state.audit_log, state.usage_store) == (
        state.root / "state", state.root / "logs", state.root / "audit.log", state.root / "usage.sqlite")
    assert state.unsure_creates("govcloud-moh", "portal-prod") == state.root / "pending" / "govcloud-moh--portal-prod.json"
    assert [p for p, _ in settings.STATE_LAYOUT] == ["state/", "workspaces/<project>/<stack>/",
                                                     "locks/<project>--<stack>.lock",
                                                     "pending/<project>--<stack>.json", "logs/",
                                                     "index/<project>--<stack>.json", "audit.log", "usage.sqlite"]
    assert state.stack_index == state.root / "index"
    from govcloud.engine.stack import backend_url

    assert backend_url(config) == f"file://{(tmp_path / '.govcloud' / 'state').resolve()}"
    assert not state.root.exists()


def test_a_config_repo_file_is_found_over_the_default_and_only_as_a_regular_file(tmp_path):
    from govcloud.config import DEFAULTS_DIR

    shipped = (DEFAULTS_DIR / "stacks" / "vm.yaml").resolve()
    config = ConfigRepo(tmp_path)
    assert config.find_file("stacks", "vm.yaml") == shipped  # no stacks/ in the repo: the default
    (tmp_path / "stacks").write_text("not a directory")
    assert config.find_file("stacks", "vm.yaml") == shipped
    (tmp_path / "stacks").unlink()
    (tmp_path / "stacks" / "vm.yaml").mkdir(parents=True)  # a directory of that name is not the file
    assert config.find_file("stacks", "vm.yaml") == shipped
    (tmp_path / "stacks" / "vm.yaml").rmdir()
    (tmp_path / "stacks" / "vm.yaml").symlink_to(tmp_path / "missing.yaml")  # a broken symlink is not either
    assert config.find_file("stacks", "vm.yaml") == shipped
    (tmp_path / "missing.yaml").write_text("name: vm\n")  # now it points at a file: the repo's wins
    path, st = config.stat_file("stacks", "vm.yaml")
    assert path == tmp_path / "stacks" / "vm.yaml" and st.st_size == len("name: vm\n")
    assert config.find_file("stacks", "nope.yaml") is None
    assert ConfigRepo(None).find_file("stacks", "vm.yaml") == shipped
