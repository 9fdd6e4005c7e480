"""Agencies kept apart, on the dev cloud's real Keystone, with the real engine and the govcloud CLI.

The ministry onboards two new agencies A and B (tests/e2e/agencies.py) and makes each agency's CI a Keystone
user in the agency's team group (role `member` in its project, nothing else). Then:

- A's CI deploys A's service with its own credentials and passphrase, into A's own backend (state/<A>);
- A's credentials with B's manifest: deploy, diff, refresh and destroy are refused (exit 1) before anything
  changes, naming the project and the agency; so is an application credential A's user made in A's project;
  B's project and backend stay empty;
- B's CI (its credentials, its passphrase) with A's manifest: the same refusals, and A's stack outputs
  cannot be read: not through govcloud, not with the Pulumi CLI on A's backend directly (B's passphrase does
  not decrypt them), not through Keystone (B's user gets no token of A's project);
- `doctor` warns of the ministry's admin credentials, not of an agency's; A's audit chain verifies, its head
  is in A's stack state; A's CI destroys its service.

The figures (checks passed, commands refused) go to tests/results/isolation.json for docs/reliability.md.
A missing dev cloud or toolchain is a failure, never a skip. Run alone: the dev cloud is shared.
"""
from __future__ import annotations

import datetime
import json
import os
import secrets
import subprocess

import pytest

from agencies import AUTH_URL, Ministry, admin_connection, project_resources, results_file

pytestmark = pytest.mark.e2e

REFUSED_COMMANDS = (("deploy", "--yes"), ("diff",), ("refresh",), ("destroy", "--yes", "--allow-data-loss"))


@pytest.fixture
def ministry(tmp_path):
    m = Ministry(tmp_path / "config", admin_connection())
    yield m
    m.cleanup()


class Checks:
    """Each check is asserted and counted, for the reliability report."""

    def __init__(self):
        self.done: list[dict] = []

    def __call__(self, name: str, ok: bool, detail: object = "") -> None:
        assert ok, f"{name}: {detail}"
        self.done.append({"check": name, "ok": True})


def refused(run, agency, project) -> bool:
    return (run.returncode == 1 and "refused: these credentials" in run.stderr
            and f"no role in project {project} of agency {agency}" in run.stderr
            and "nothing was changed" in run.stderr)


def test_agencies_kept_apart(ministry):
    check = Checks()
    conn = ministry.conn
    a, b = ministry.add_agency(91), ministry.add_agency(92)
    ministry.onboard(a)
    ministry.onboard(b)
    ci_a, ci_b = ministry.ci_user(a), ministry.ci_user(b)
    check("the CI users have a role only through their team group",
          [x.role["name"] for x in conn.identity.role_assignments(user_id=ci_a.user_id, include_names=True)] == [],
          "a direct role assignment")
    manifest_a, manifest_b = ministry.write_manifest(a), ministry.write_manifest(b)
    stack_a, stack_b = f"portal-{a.tag}-dev", f"portal-{b.tag}-dev"

    # -- A's CI deploys A's service with A's own credentials
    ministry.deployed_by(ci_a, manifest_a)
    up = ministry.as_ci(ci_a, "deploy", manifest_a, "--yes")
    check("an agency's member credentials deploy its service", up.returncode == 0, up)
    check("no admin warning for an agency's credentials", "admin role" not in up.stderr, up.stderr)
    in_a = project_resources(conn, a.project_id)
    check("A's resources are in A's project", in_a["servers"] == [f"{a.id}-dev-portal-{a.tag}-web-1"]
          and len(in_a["volumes"]) == 1 and len(in_a["networks"]) == 1, in_a)
    check("A's state is in A's own backend", ministry.checkpoint_file(a, stack_a).is_file()
          and not (ministry.backend(b) / ".pulumi" / "stacks" / a.pulumi_project).exists())
    check("a backend directory is readable by its owner only",
          oct(ministry.backend(a).stat().st_mode & 0o777) == "0o700", oct(ministry.backend(a).stat().st_mode))

    # -- A's credentials with B's manifest: refused before anything changes
    for cmd in REFUSED_COMMANDS:
        run = ministry.as_ci(ci_a, cmd[0], manifest_b, *cmd[1:])
        check(f"A's credentials with B's manifest: {cmd[0]} refused", refused(run, b.id, b.project), run)
    example = run.stderr.strip().splitlines()[-1]
    app_a = ministry.application_credential(ci_a, "app-" + secrets.token_hex(8))
    own_app = ministry.as_ci(app_a, "diff", manifest_a)
    check("A's application credential previews A's service", own_app.returncode == 0, own_app)
    wrong_app = ministry.as_ci(app_a, "diff", manifest_b)
    check("A's application credential with B's manifest: diff refused", wrong_app.returncode == 1 and
          f"act on project {a.project}, but the manifest is agency {b.id}'s, whose project is {b.project}"
          in wrong_app.stderr, wrong_app)
    check("nothing reached B's project", project_resources(conn, b.project_id) ==
          {"servers": [], "volumes": [], "networks": [], "routers": []}, project_resources(conn, b.project_id))
    check("no stack of B was made", not ministry.checkpoint_file(b, stack_b).exists())
    audit_log = ministry.root / ".govcloud" / "audit.log"
    stacks_logged = {json.loads(line)["stack"] for line in audit_log.read_text().splitlines()}
    check("a refusal before the engine records nothing", stacks_logged == {f"{a.pulumi_project}/{stack_a}"},
          stacks_logged)

    # -- B's CI with A's manifest: refused, and A's outputs stay unreadable
    for cmd in REFUSED_COMMANDS:
        run = ministry.as_ci(ci_b, cmd[0], manifest_a, *cmd[1:])
        check(f"B's credentials with A's manifest: {cmd[0]} refused", refused(run, a.id, a.project), run)
    out = ministry.as_ci(ci_b, "outputs", manifest_a)
    check("B's passphrase cannot read A's outputs through govcloud", out.returncode == 1 and
          f"is not the one the secrets of {a.pulumi_project}/{stack_a} were encrypted with" in out.stderr
          and "10.91." not in out.stdout + out.stderr, out)
    direct = pulumi_stack_output(ministry, a, stack_a, ci_b.passphrase)
    check("B's passphrase cannot read A's outputs with the Pulumi CLI on A's backend",
          direct.returncode != 0 and "incorrect passphrase" in direct.stderr, direct.stderr)
    raw = ministry.checkpoint_file(a, stack_a).read_text()
    stack_outputs = next(r for r in json.loads(raw)["checkpoint"]["latest"]["resources"]
                         if r["type"] == "pulumi:pulumi:Stack")["outputs"]
    check("A's stack outputs are ciphertext in A's state", stack_outputs and all(
        set(v) == {"4dabf18193072939515e22adb298388d", "ciphertext"} for v in stack_outputs.values()), stack_outputs)
    check("A's CI password is not in A's state", ci_a.password not in raw)
    check("B's user gets no token of A's project", keystone_refuses(ci_b, a.project))
    check("B's user sees none of A's servers", [s.name for s in user_connection(ci_b, b.project).compute.servers()]
          == [])

    # -- A's own CI reads its outputs; its audit chain verifies with the head kept in A's state
    own = ministry.as_ci(ci_a, "outputs", manifest_a, "--format", "json")
    server = conn.compute.find_server(f"{a.id}-dev-portal-{a.tag}-web-1", all_projects=True)
    check("A's CI reads its own outputs", own.returncode == 0 and
          json.loads(own.stdout)["servers"][server.name]["id"] == server.id, own)
    verify = ministry.as_ci(ci_a, "audit", "verify", "--stack", stack_a)
    tags = json.loads((ministry.checkpoint_file(a, stack_a).with_suffix(".pulumi-tags")).read_text())["tags"]
    check("the audit chain verifies against the head in A's state", verify.returncode == 0 and
          "chain intact, 1 records" in verify.stdout and "matches" in verify.stdout
          and tags["govcloud:audit-head"].startswith("1:"), (verify, tags))

    # -- doctor: the ministry's admin credentials are warned of, an agency's are not
    admin_doctor = ministry.run(ministry.ministry_env(), "doctor", "--site", "devcloud")
    check("doctor warns of admin credentials", "[warn] site devcloud (cloud 'devcloud') credentials: user admin"
          in admin_doctor.stdout, admin_doctor.stdout)
    agency_doctor = ministry.as_ci(ci_a, "doctor", "--site", "devcloud")
    check("doctor does not warn of an agency's credentials",
          f"as user {ci_a.user} (project {a.project}, roles member, reader)" in agency_doctor.stdout
          and "credentials: " not in agency_doctor.stdout, agency_doctor.stdout)

    # -- A's CI destroys its service
    down = ministry.as_ci(ci_a, "destroy", manifest_a, "--yes", "--allow-data-loss")
    check("an agency's member credentials destroy its service", down.returncode == 0, down)
    left = project_resources(conn, a.project_id)
    check("A's project is empty again", left == {"servers": [], "volumes": [], "networks": [], "routers": []}, left)

    results_file("isolation").write_text(json.dumps({
        "date": datetime.date.today().isoformat(), "checks": len(check.done),
        "passed": sum(c["ok"] for c in check.done),
        "refusedCommands": 2 * len(REFUSED_COMMANDS) + 2, "exampleRefusal": example,
        "list": [c["check"] for c in check.done]}, indent=2) + "\n", encoding="utf-8")


def pulumi_stack_output(ministry, agency, stack, passphrase) -> subprocess.CompletedProcess:
    """`pulumi stack output --show-secrets` on the agency's backend directly, with `passphrase`."""
    from govcloud.engine import toolchain

    workdir = ministry.root / ".govcloud" / "workspaces" / agency.pulumi_project / stack
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("OS_", "PULUMI_"))},
           "PULUMI_BACKEND_URL": f"file://{ministry.backend(agency)}", "PULUMI_CONFIG_PASSPHRASE": passphrase,
           "PULUMI_SKIP_UPDATE_CHECK": "true"}
    return subprocess.run([str(toolchain.find_pulumi().path), "stack", "output", "--json", "--show-secrets",
                           "--stack", stack], cwd=workdir, env=env, capture_output=True, text=True, timeout=120)


def user_connection(ci, project: str):
    import openstack

    return openstack.connect(auth_url=AUTH_URL, username=ci.user, password=ci.password, project_name=project,
                             user_domain_name="Default", project_domain_name="Default", region_name="RegionOne",
                             api_timeout=30)


def keystone_refuses(ci, project: str) -> bool:
    import keystoneauth1.exceptions

    try:
        user_connection(ci, project).authorize()
    except keystoneauth1.exceptions.Unauthorized:
        return True
    except Exception as exc:  # noqa: BLE001 - openstacksdk may wrap it
        return "401" in str(exc)
    return False
