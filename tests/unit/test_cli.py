"""The CLI: exit codes, formats, no tracebacks, fast start-up."""
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from govcloud.cli import cli

from ..conftest import EXAMPLES, REPO, VALID

HEAVY = ("pulumi", "pulumi_openstack", "paramiko", "openstack", "grpc")


def run(*args, **kw):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kw)


def test_validate_examples_passes():
    result = run("validate", str(EXAMPLES))
    assert result.exit_code == 0, result.output
    n = len(list(EXAMPLES.rglob("*.yaml")))
    assert f"{n} manifests checked: {n} valid, 0 invalid" in result.output


def test_validate_bad_file_exit_1_located_no_traceback(write):
    bad = write("bad.yaml", VALID.replace("sizeGb: 50", "sizeGb: lots").replace("site: thr1", "site: thr9"))
    good = write("good.yaml", VALID)
    proc = subprocess.run([sys.executable, "-m", "govcloud", "validate", str(bad), str(good)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert f"{bad}:24:32: error: spec.servers[0].volumes[0].sizeGb: must be a whole number, got a string" \
        in proc.stderr
    assert "2 manifests checked: 1 valid, 1 invalid" in proc.stdout


def test_validate_json_for_ci(write):
    bad = write("bad.yaml", VALID.replace("agency: moh", "agency: mho"))
    result = run("validate", "--format", "json", str(bad))
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    (problem,) = data["files"][0]["problems"]
    assert problem["path"] == "metadata.agency" and problem["line"] == 5 and problem["code"] == "reference"
    assert data["summary"] == {"checked": 1, "valid": 0, "invalid": 1}


def test_plan_and_cost_json_agree():
    f = str(EXAMPLES / "moh" / "patient-portal.yaml")
    plan = json.loads(run("plan", f, "--format", "json").stdout)
    cost = json.loads(run("cost", f, "--format", "json").stdout)
    assert plan["cost"]["total"] == cost["total"] == "62710000"
    assert len(plan["resources"]) == 23  # 22 of VALID plus the ssh rule of the web-app blueprint


def test_plan_text_table_shows_resources_and_total():
    out = run("plan", str(EXAMPLES / "devcloud" / "citizen-portal.yaml")).stdout
    assert "moe-dev-citizen-portal-web-2" in out and "stateful" in out and "total" in out


def test_schema_is_json_schema_of_the_contract():
    schema = json.loads(run("schema").stdout)
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["required"]) == {"apiVersion", "kind", "metadata", "spec"}
    vol = schema["$defs"]["Volume"]
    assert vol["properties"]["sizeGb"]["minimum"] == 1 and vol["additionalProperties"] is False
    assert schema["$defs"]["IngressRule"]["properties"]["from"]


def _schema_validator():
    import jsonschema

    schema = json.loads(run("schema").stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _schema_errors(validator, data) -> list[str]:
    return sorted(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data))


def test_schema_accepts_every_example_init_sample_and_policy_case(tmp_path):
    import yaml

    from govcloud.check import Workspace
    from govcloud.scaffold import init_config_repo

    validator = _schema_validator()
    files = sorted(EXAMPLES.rglob("*.yaml")) + sorted((REPO / "tests" / "policy_cases").glob("GC*.yaml"))
    registry = Workspace.for_paths([]).inventory.registry
    for agency in registry.agencies:  # the sample `govcloud init` writes, for every agency and site it allows
        for site in agency.allowed_sites:
            target = tmp_path / f"{agency.id}-{site}"
            files += [p for p in init_config_repo(target, agency.id, site) if "manifests" in p.parts]
    assert len(files) > 30 and sum("blueprint" in f.read_text() for f in files) >= 4
    for f in files:
        assert _schema_errors(validator, yaml.safe_load(f.read_text())) == [], f


def test_schema_requires_without_a_blueprint_what_only_a_blueprint_may_supply():
    import yaml

    validator = _schema_validator()
    data = yaml.safe_load(VALID)
    del data["spec"]["servers"][0]["size"]
    assert _schema_errors(validator, data) == ["spec.servers.0: 'size' is a required property"]
    data["spec"]["blueprint"] = "web-app"
    assert _schema_errors(validator, data) == []
    del data["spec"]["servers"][0]["name"]  # what merging matches on stays required
    data["spec"]["servers"][0]["sise"] = "large"  # and unknown keys stay errors
    assert _schema_errors(validator, data) == [
        "spec.servers.0: 'name' is a required property",
        "spec.servers.0: Additional properties are not allowed ('sise' was unexpected)"]


def test_a_field_neither_manifest_nor_blueprint_gives_is_a_located_error(write):
    # web-app gives its server `web` a size; a server of the manifest's own, `app`, has none
    bad = write("portal.yaml", VALID.replace("spec:\n  site: thr1", "spec:\n  blueprint: web-app\n  site: thr1")
                .replace("    - name: web\n      size: medium\n", "    - name: app\n"))
    result = run("validate", str(bad))
    assert result.exit_code == 1
    # line 18 is `- name: app` in the agency's file; the path counts the merged list (the blueprint's web first)
    assert f"{bad}:18:7: error: spec.servers[1].size: required field 'size' is missing" in result.stderr


def test_init_scaffold_validates(tmp_path):
    target = tmp_path / "ministry"
    result = run("init", str(target), "--agency", "sci", "--site", "isf1")
    assert result.exit_code == 0
    assert (target / "govcloud.yaml").is_file() and (target / "inventories" / "agencies.yaml").is_file()
    result = run("validate", str(target / "manifests"))
    assert result.exit_code == 0, result.output
    again = run("init", str(target))
    assert again.exit_code == 1 and "not empty" in again.stderr


def test_blueprints_lists_prices():
    out = run("blueprints", "--site", "isf1").stdout
    for name in ("web-app", "database", "open-data", "batch"):
        assert name in out
    assert "IRR" in out


def test_unknown_command_is_usage_error():
    assert run("deployy").exit_code == 2


def test_python_dash_m_govcloud_is_the_cli():
    proc = subprocess.run([sys.executable, "-m", "govcloud", "--help"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: govcloud ") and "validate" in proc.stdout and "deploy" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "govcloud", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip().endswith(__import__("govcloud").__version__)
    assert subprocess.run([sys.executable, "-m", "govcloud", "deployy"], capture_output=True).returncode == 2


def test_startup_does_not_import_heavy_modules():
    code = ("import sys, io, contextlib\n"
            "from govcloud.cli import cli\n"
            "for args in (['--help'], ['validate', %r], ['verify', '--help'], ['ssh', '--help']):\n"
            "    try:\n"
            "        with contextlib.redirect_stdout(io.StringIO()):\n"
            "            cli(args, standalone_mode=False)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in %r))\n") % (
        str(EXAMPLES / "moh" / "patient-portal.yaml"), HEAVY)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_command_table_names_what_each_module_registers():
    """The group loads a command's module from COMMAND_MODULES: a command a module registers but the
    table misses would not exist for users, and a name the table maps to the wrong module would fail."""
    import importlib

    import click

    from govcloud.cli import COMMAND_MODULES

    registered = {}
    for module in sorted(set(COMMAND_MODULES.values())):
        group = click.Group()
        importlib.import_module(f"govcloud.cli.{module}").register(group)
        registered.update(dict.fromkeys(group.commands, module))
    assert registered == COMMAND_MODULES
    assert cli.list_commands(None) == sorted(COMMAND_MODULES)
    assert cli.get_command(None, "deployy") is None


PLUGINS_SCANNED = ("import sys\nsys.argv = ['govcloud', 'validate', %r]\nfrom govcloud.cli import main\n"
                   "try:\n    main()\nexcept SystemExit:\n    pass\n"
                   "from pydantic.plugin import _loader\nprint(_loader._plugins is not None)\n")


@pytest.mark.parametrize("preset, scanned", [(None, "False"), ("", "True")])
def test_the_cli_skips_pydantics_plugin_scan_unless_the_user_asks_for_it(preset, scanned):
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if preset is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = preset
    proc = subprocess.run([sys.executable, "-c", PLUGINS_SCANNED % str(EXAMPLES / "moh" / "patient-portal.yaml")],
                          capture_output=True, text=True, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == scanned, proc.stdout


def test_validate_imports_only_the_offline_commands():
    """`validate one.yaml` loads govcloud.cli.offline and none of the other command modules (nor the
    workflow and hooks they import): their import was a fifth of govcloud's own start-up."""
    code = ("import sys, io, contextlib\n"
            "from govcloud.cli import cli\n"
            "try:\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        cli(['validate', %r], standalone_mode=False)\n"
            "except SystemExit:\n"
            "    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('govcloud.cli.', 'govcloud.ops',"
            " 'govcloud.tenancy'))))\n") % str(EXAMPLES / "moh" / "patient-portal.yaml")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['govcloud.cli.offline', 'govcloud.cli.render']"


def test_the_wheel_ships_every_default_file():
    """pyproject's package-data globs cover every file of inventories/, stacks/ and templates/ (which the
    package reaches through govcloud/_data): an installed govcloud needs them outside a checkout."""
    import glob
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["govcloud"]
    shipped = {Path(p).resolve() for pat in patterns
               for p in glob.glob(str(root / "govcloud" / pat), recursive=True) if Path(p).is_file()}
    defaults = {p.resolve() for d in ("inventories", "stacks", "templates") for p in (root / d).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    assert defaults and defaults <= shipped, sorted(defaults - shipped)


@pytest.mark.parametrize("command", ["validate", "plan", "deploy", "destroy", "refresh", "diff"])
def test_one_shot_commands_skip_the_last_cycle_collections_at_exit(command, write, monkeypatch):
    """gc.freeze at exit (cli.offline.exit_without_collecting): 0.3 s of a deploy's teardown, a fifth of a
    one-file validate; registered by each one-shot command, whatever its outcome (here: a refused manifest)."""
    import atexit
    import gc

    from govcloud.cli import offline

    registered = []
    monkeypatch.setattr(offline, "_exit_registered", [])
    monkeypatch.setattr(atexit, "register", lambda fn, *a, **kw: registered.append(fn))
    bad = write("bad.yaml", VALID.replace("sizeGb: 50", "sizeGb: lots"))
    result = CliRunner().invoke(cli, [command, str(bad)])
    assert result.exit_code == 1, result.output
    assert registered == [gc.freeze]
