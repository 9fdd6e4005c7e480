"""Secrets never appear in clear: one run of the whole CLI on the dev cloud with marker values, then a scan.

Markers (random each run) are put where secrets go: the agency's passphrase (GOVCLOUD_PASSPHRASE), the
ministry's passphrase file, OS_PASSWORD (a Keystone user made for the agency's CI, whose password is the
marker), an application credential secret (OS_APPLICATION_CREDENTIAL_SECRET; made in Keystone by that user),
and a wrong password that starts with the password's marker. Then the CLI runs as an agency's CI would:
every command's --help, validate, plan, cost, doctor, diff (text, markdown, json, a saved plan), deploy of
the saved plan, a no-op deploy, refresh (and --check, json), status, outputs, history (and --audit, json),
audit verify, verify, usage collect and report (text, json, csv, html), the error paths (no confirmation,
the wrong passphrase, no passphrase, a refused password, a broken manifest, a stale saved plan) and the same
with the application credential, then destroy.

Everything written is scanned for each marker (as is, base64, hex): the stdout and stderr of every command,
every file under the config repo (.govcloud/ with its logs, audit log, workspaces and locks; the state
backends; saved plans; reports; verify's files) and the temporary directory the commands used, and the state
as govcloud exports it (PulumiCli.export). The files the test wrote itself to hand over the secrets
(clouds.yaml, the passphrase files) are the only ones left out. A positive control proves the scan can find
them: the state exported with --show-secrets (decrypted with the right passphrase) does hold the password
marker, encrypted in the state the scan passed.

Figures go to tests/results/secrets.json for docs/reliability.md. Fails (never skips) without the dev cloud.
"""
from __future__ import annotations

import base64
import datetime
import json
import os
import secrets
import time
from pathlib import Path

import pytest

from agencies import AUTH_URL, Ministry, admin_connection, results_file, write_clouds

pytestmark = pytest.mark.e2e

HELP = ("", "validate", "schema", "plan", "cost", "blueprints", "init", "diff", "deploy", "destroy", "refresh",
        "status", "outputs", "history", "unlock", "doctor", "audit", "audit verify", "usage", "usage collect",
        "usage report", "agency", "agency onboard", "policy", "verify", "ssh", "catalog")
LEFT_OUT = ("clouds-", "passphrases")  # files the test wrote to hand the secrets over


@pytest.fixture
def ministry(tmp_path):
    m = Ministry(tmp_path / "config", admin_connection())
    yield m
    m.cleanup()


def encodings(marker: str) -> dict[str, bytes]:
    raw = marker.encode()
    return {"plain": raw, "base64": base64.b64encode(raw).rstrip(b"="), "hex": raw.hex().encode()}


def scan(blobs: dict[str, bytes], markers: dict[str, str]) -> list[str]:
    """Where a marker was found: 'what (marker, encoding)'."""
    found = []
    for where, data in blobs.items():
        for name, marker in markers.items():
            for enc, needle in encodings(marker).items():
                if needle in data:
                    found.append(f"{where} ({name}, {enc})")
    return found


def written_files(root: Path, tmp: Path, since: float) -> dict[str, bytes]:
    """Every file under the config repo and the commands' temporary directory, and what the engine wrote in
    Pulumi's home (~/.pulumi, its plugins left out) during the test."""
    out = {}
    for base in (root, tmp):
        for path in base.rglob("*"):
            rel = path.relative_to(base)
            if path.is_file() and not path.is_symlink() and not str(rel).startswith(LEFT_OUT):
                out[str(path)] = path.read_bytes()
    home = Path(os.environ.get("PULUMI_HOME") or Path.home() / ".pulumi")
    for path in home.rglob("*") if home.is_dir() else ():
        if "plugins" not in path.relative_to(home).parts and path.is_file() and path.stat().st_mtime >= since:
            out[str(path)] = path.read_bytes()
    return out


def test_no_secret_in_clear_anywhere(ministry, tmp_path):
    started = time.time()
    tag = secrets.token_hex(6)
    markers = {"passphrase": f"mkpp{tag}", "OS_PASSWORD": f"mkpw{tag}", "application credential": f"mkac{tag}",
               "ministry passphrase": f"mkmp{tag}"}
    ministry._passphrase("ministry", markers["ministry passphrase"])
    agency = ministry.add_agency(93)
    ministry.onboard(agency)
    password_ci = ministry.ci_user(agency, password=markers["OS_PASSWORD"], passphrase=markers["passphrase"])
    app_ci = ministry.application_credential(password_ci, markers["application credential"])
    run_tmp = tmp_path / "tmp"
    run_tmp.mkdir()
    no_clouds = ministry.root / "clouds-none.yaml"
    no_clouds.write_text("clouds: {}\n")
    # credentials the way a CI job passes them: OS_* variables (clouds.yaml left empty)
    os_env = {"OS_AUTH_URL": AUTH_URL, "OS_USERNAME": password_ci.user, "OS_PASSWORD": markers["OS_PASSWORD"],
              "OS_PROJECT_NAME": agency.project, "OS_USER_DOMAIN_NAME": "Default",
              "OS_PROJECT_DOMAIN_NAME": "Default", "OS_REGION_NAME": "RegionOne", "OS_IDENTITY_API_VERSION": "3",
              "TMPDIR": str(run_tmp)}
    password_ci.clouds, password_ci.env_extra = no_clouds, os_env
    app_env = {"OS_AUTH_URL": AUTH_URL, "OS_AUTH_TYPE": "v3applicationcredential", "OS_REGION_NAME": "RegionOne",
               "OS_APPLICATION_CREDENTIAL_ID": yaml_auth(app_ci)["application_credential_id"],
               "OS_APPLICATION_CREDENTIAL_SECRET": markers["application credential"], "TMPDIR": str(run_tmp)}
    app_ci.clouds, app_ci.env_extra = no_clouds, app_env
    wrong = ministry.root / "clouds-wrong.yaml"
    write_clouds(wrong, {"auth_url": AUTH_URL, "username": password_ci.user,
                         "password": markers["OS_PASSWORD"] + "-wrong", "project_name": agency.project,
                         "user_domain_name": "Default", "project_domain_name": "Default"})

    manifest = ministry.write_manifest(agency, "secrets")
    stack = f"secrets-{agency.tag}-dev"
    ministry.deployed_by(password_ci, manifest)
    ci = lambda *args, **kw: ministry.as_ci(password_ci, *args, **kw)  # noqa: E731
    expect = {}

    def run(name, result, code=0):
        expect[name] = (result.returncode, code)
        assert result.returncode == code, str(result)
        return result

    for command in HELP:
        run(f"{command} --help", ci(*command.split(), "--help"))
    run("validate", ci("validate", manifest))
    run("plan", ci("plan", manifest))
    run("cost", ci("cost", manifest))
    run("doctor", ci("doctor", "--site", "devcloud"))
    for fmt in ("text", "markdown", "json"):
        run(f"diff --format {fmt}", ci("diff", manifest, "--format", fmt))
    plan_file = ministry.root / "change.plan"
    run("diff --out", ci("diff", manifest, "--out", plan_file))
    run("deploy without --yes and no terminal", ci("deploy", manifest), 1)
    run("deploy --plan", ci("deploy", manifest, "--plan", plan_file, "--yes"))
    run("deploy of a stale plan", ci("deploy", manifest, "--plan", plan_file, "--yes"), 1)
    run("deploy, nothing to do", ci("deploy", manifest, "--yes"))
    run("refresh", ci("refresh", manifest))
    run("refresh --check", ci("refresh", manifest, "--check"))
    run("refresh --format json", ci("refresh", manifest, "--format", "json"))
    for command in ("status", "outputs", "history"):
        run(command, ci(command, manifest))
        run(f"{command} --format json", ci(command, manifest, "--format", "json"))
    run("history --audit", ci("history", manifest, "--audit"))
    run("audit verify", ci("audit", "verify"))
    run("audit verify --format json", ci("audit", "verify", "--format", "json"))
    verify = ci("verify", manifest, "--timeout", "5", "--format", "json")
    run("verify (no server boots on the dev cloud: fails)", verify, verify.returncode)
    assert verify.returncode in (1, 3), str(verify)

    # -- error paths
    wrong_pass = ministry.run({**ministry.ci_env(password_ci), "GOVCLOUD_PASSPHRASE": markers["passphrase"] + "x"},
                              "outputs", manifest)
    run("outputs with the wrong passphrase", wrong_pass, 1)
    no_pass = {k: v for k, v in ministry.ci_env(password_ci).items() if k != "GOVCLOUD_PASSPHRASE"}
    run("deploy without a passphrase", ministry.run(no_pass, "deploy", manifest, "--yes"), 1)
    refused_pw = {**{k: v for k, v in ministry.ci_env(password_ci).items() if not k.startswith("OS_")},
                  "OS_CLIENT_CONFIG_FILE": str(wrong), "TMPDIR": str(run_tmp)}
    refused = run("diff with a password Keystone refuses", ministry.run(refused_pw, "diff", manifest), 1)
    assert "Keystone refused the credentials" in refused.stderr
    broken = ministry.root / "manifests" / agency.id / "broken.yaml"
    broken.write_text(manifest.read_text().replace("size: small", "size: [small"))
    run("deploy of a broken manifest", ci("deploy", broken, "--yes"), 1)
    broken.unlink()

    # -- the same agency with its application credential
    app = lambda *args, **kw: ministry.as_ci(app_ci, *args, **kw)  # noqa: E731
    app_diff = run("diff --format json (application credential)", app("diff", manifest, "--format", "json"))
    changing = [c for c in json.loads(app_diff.stdout)["changes"] if c["op"] != "same"]
    assert changing == [], changing  # other credentials, same project: nothing to change
    run("deploy (application credential)", app("deploy", manifest, "--yes"))
    run("refresh --check (application credential)", app("refresh", manifest, "--check"))
    run("outputs (application credential)", app("outputs", manifest))

    # -- usage, the ministry's (admin) side, and the report
    today = datetime.date.today().isoformat()
    ministry_env = {**ministry.ministry_env(), "TMPDIR": str(run_tmp)}
    run("usage collect", ministry.run(ministry_env, "usage", "collect", "--site", "devcloud", "--from", today,
                                      "--to", today))
    for fmt in ("text", "json", "csv"):
        run(f"usage report --format {fmt}", ci("usage", "report", "--from", today, "--to", today, "--format", fmt))
    run("usage report --format html", ci("usage", "report", "--from", today, "--to", today, "--format", "html",
                                         "--out", ministry.root / "usage.html"))

    # -- the state: as govcloud exports it (scanned), and decrypted (the positive control)
    from govcloud.config import ConfigRepo
    from govcloud.engine.command import PulumiCli
    from govcloud.engine.stack import locate_stack

    cli = PulumiCli(locate_stack(f"{agency.pulumi_project}/{stack}", ConfigRepo(ministry.root)),
                    markers["passphrase"])
    exported = json.dumps(cli.export()).encode()
    decrypted = cli.run("stack", "export", "--show-secrets").encode()
    control = scan({"state decrypted with the stack's passphrase": decrypted}, markers)
    assert control, "the positive control failed: the password marker is not in the decrypted state"

    run("destroy", ci("destroy", manifest, "--yes", "--allow-data-loss"))

    blobs = {f"stdout of govcloud {' '.join(map(str, r.args))}": r.stdout.encode() for r in ministry.runs}
    blobs.update({f"stderr of govcloud {' '.join(map(str, r.args))}": r.stderr.encode() for r in ministry.runs})
    blobs["the state as govcloud exports it"] = exported
    blobs.update(written_files(ministry.root, run_tmp, started))
    found = scan(blobs, markers)
    results_file("secrets").write_text(json.dumps({
        "date": today, "commands": len(ministry.runs), "markers": sorted(markers),
        "encodings": sorted(encodings("x")), "places": len(blobs),
        "files": sum(1 for k in blobs if not k.startswith(("stdout", "stderr", "the state"))),
        "found": found, "positiveControl": control}, indent=2) + "\n", encoding="utf-8")
    assert found == [], "secret markers found in clear:\n" + "\n".join(found)


def yaml_auth(ci) -> dict:
    import yaml

    return yaml.safe_load(ci.clouds.read_text())["clouds"]["devcloud"]["auth"]
