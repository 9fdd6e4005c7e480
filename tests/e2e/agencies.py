"""Agencies on the dev cloud made the way the ministry makes them, for the isolation and secrets e2e tests.

A temporary config repo plays the ministry's: its registry gains new agencies `lab<random>` (project
gov-lab-<random>: random, so that runs never collide on the shared dev cloud), `govcloud agency onboard`
makes their projects and team groups with the ministry's admin credentials (the dev cloud's clouds.yaml entry
`devcloud`), and then, as the ministry's identity team would, a Keystone user is made for an agency's CI and
added to the agency's team group `<agency>-team`: its only role is `member` in the agency's project. An
agency's CI runs the govcloud CLI with a clouds.yaml of its own (OS_CLIENT_CONFIG_FILE) and its own
passphrase; the ministry runs it with the admin's clouds.yaml and one passphrase file per agency
(GOVCLOUD_PASSPHRASE_FILE=passphrases/{agency}). The state backend is one per agency
(`backend: file://state/{agency}`).

`Ministry.cleanup` destroys what a failed test left, offboards the agencies and deletes the users, so the
shared dev cloud stays clean. A missing dev cloud or toolchain fails the test (never a skip).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CLOUD = "devcloud"
AUTH_URL = "http://127.0.0.1:5000/v3"
REGISTRY_ENTRY = """
  - id: {agency}
    name: {{fa: "آزمایشگاه ابر دولت {tag}", en: "Government Cloud Lab {tag}"}}
    project: {project}
    contact: lab@gov.example
    quotas: {{vcpus: 6, ramGb: 12, volumeGb: 100, floatingIps: 2, buckets: 3}}
    allowedSites: [devcloud]
"""
# a small service: network, subnet, router, security group, one server with a volume and a floating IP, a bucket
MANIFEST = """
apiVersion: govcloud/v1
kind: Service
metadata:
  name: {name}
  agency: {agency}
  environment: dev
  owner: lab@gov.example
  costCenter: LAB-1
  classification: internal
spec:
  site: devcloud
  network:
    cidr: {cidr}
    ingress:
      - {{name: https, port: 443, protocol: tcp, from: 0.0.0.0/0}}
  servers:
    - name: web
      size: small
      image: ubuntu-22.04
      role: web
      publicIp: true
      volumes:
        - {{name: data, sizeGb: 1, type: standard}}
  buckets:
    - {{name: files, quotaGb: 1}}
"""


def admin_connection():
    """The dev cloud's admin (the ministry), or pytest.fail with how to start the cloud and the toolchain."""
    from govcloud.engine import toolchain

    try:
        import openstack

        conn = openstack.connect(cloud=CLOUD, api_timeout=60)
        conn.authorize()
    except Exception as exc:  # noqa: BLE001 - reported as a failure, never a skip
        pytest.fail(f"dev cloud '{CLOUD}' unreachable: {type(exc).__name__}: {exc} - start it with "
                    f"`sudo scripts/devcloud up`", pytrace=False)
    plugin = toolchain.find_openstack_plugin()
    if toolchain.find_pulumi() is None or plugin is None or plugin.source == toolchain.SOURCE_BUILD_CACHE:
        pytest.fail("the Pulumi toolchain is missing: run scripts/install-toolchain", pytrace=False)
    return conn


@dataclass
class Agency:
    id: str
    project: str
    tag: str
    cidr: str  # its services' network (distinct per agency: policy checks address overlaps)
    project_id: str = ""
    group_id: str = ""

    @property
    def pulumi_project(self) -> str:
        return f"govcloud-{self.id}"


@dataclass
class CI:
    """An agency's CI: its Keystone user (or application credential), clouds.yaml and passphrase."""

    agency: Agency
    user: str
    user_id: str
    password: str
    passphrase: str
    clouds: Path
    env_extra: dict = field(default_factory=dict)


@dataclass
class Run:
    args: tuple
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"govcloud {' '.join(map(str, self.args))} exited {self.returncode}:\n{self.stdout}\n{self.stderr}"


class Ministry:
    """The ministry's config repo in a temporary directory, and its admin connection to the dev cloud."""

    def __init__(self, root: Path, conn):
        self.root = root
        self.conn = conn
        self.agencies: list[Agency] = []
        self.users: list[str] = []
        self.services: list[tuple[CI, Path]] = []  # manifests an agency may have deployed (cleaned up after)
        self.runs: list[Run] = []  # every command run, for the secrets scan
        shutil.copytree(REPO / "inventories", root / "inventories")
        (root / "manifests").mkdir()
        (root / "passphrases").mkdir(mode=0o700)
        (root / "govcloud.yaml").write_text("apiVersion: govcloud/v1\nkind: Config\nbackend: file://state/{agency}\n",
                                            encoding="utf-8")
        self._passphrase("ministry")

    def _passphrase(self, agency: str, value: str | None = None) -> str:
        value = value or f"pp-{agency}-" + secrets.token_hex(8)
        path = self.root / "passphrases" / agency
        path.write_text(value + "\n", encoding="utf-8")
        path.chmod(0o600)
        return value

    # ---------------------------------------------------------------- the ministry's side

    def add_agency(self, cidr_octet: int) -> Agency:
        tag = secrets.token_hex(3)
        agency = Agency(f"lab{tag}", f"gov-lab-{tag}", tag, f"10.{cidr_octet}.0.0/24")
        registry = self.root / "inventories" / "agencies.yaml"
        registry.write_text(registry.read_text(encoding="utf-8").rstrip("\n") + "\n"
                            + REGISTRY_ENTRY.format(agency=agency.id, project=agency.project, tag=tag).lstrip("\n"),
                            encoding="utf-8")
        self.agencies.append(agency)
        return agency

    def ministry_env(self) -> dict:
        env = base_env()
        env.update(GOVCLOUD_CONFIG=str(self.root), GOVCLOUD_PASSPHRASE_FILE=str(self.root / "passphrases" / "{agency}"))
        return env

    def onboard(self, agency: Agency) -> None:
        out = self.run(self.ministry_env(), "agency", "onboard", agency.id, "--site", CLOUD, "--yes",
                       "--format", "json")
        assert out.returncode == 0, str(out)
        (site,) = json.loads(out.stdout)["sites"]
        agency.project_id = site["projectId"]
        group = self.conn.identity.find_group(f"{agency.id}-team")
        assert group is not None and group.description.endswith(f"in project {agency.project} (govcloud)")
        agency.group_id = group.id

    def ci_user(self, agency: Agency, password: str | None = None, passphrase: str | None = None) -> CI:
        """A Keystone user for the agency's CI, made by the ministry's admin and added to the team group: its
        one role is the group's `member` on the agency's project."""
        name = f"{agency.id}-ci-{secrets.token_hex(2)}"
        password = password or "pw-" + secrets.token_hex(12)
        user = self.conn.identity.create_user(name=name, password=password, domain_id="default",
                                              description=f"CI of agency {agency.id} (govcloud e2e test)")
        self.users.append(user.id)
        self.conn.identity.add_user_to_group(user, self.conn.identity.get_group(agency.group_id))
        clouds = self.root / f"clouds-{name}.yaml"
        write_clouds(clouds, {"auth_url": AUTH_URL, "username": name, "password": password,
                              "project_name": agency.project, "user_domain_name": "Default",
                              "project_domain_name": "Default"})
        return CI(agency, name, user.id, password, passphrase or "pp-ci-" + secrets.token_hex(8), clouds)

    def application_credential(self, ci: CI, secret: str) -> CI:
        """An application credential the CI's user makes for itself in its project (its secret: `secret`), and
        the CI as it runs with it: clouds.yaml of type v3applicationcredential."""
        import openstack

        as_user = openstack.connect(auth_url=AUTH_URL, username=ci.user, password=ci.password,
                                    project_name=ci.agency.project, user_domain_name="Default",
                                    project_domain_name="Default", region_name="RegionOne", api_timeout=60)
        cred = as_user.identity.create_application_credential(user=ci.user_id, name=f"{ci.user}-app",
                                                              secret=secret,
                                                              description="govcloud e2e: the CI's credential")
        clouds = self.root / f"clouds-{ci.user}-app.yaml"
        write_clouds(clouds, {"auth_url": AUTH_URL, "application_credential_id": cred.id,
                              "application_credential_secret": secret}, auth_type="v3applicationcredential")
        return CI(ci.agency, ci.user, ci.user_id, ci.password, ci.passphrase, clouds)

    # ---------------------------------------------------------------- an agency's side

    def write_manifest(self, agency: Agency, name: str = "portal") -> Path:
        path = self.root / "manifests" / agency.id / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(MANIFEST.format(name=f"{name}-{agency.tag}", agency=agency.id, cidr=agency.cidr).lstrip(),
                        encoding="utf-8")
        return path

    def ci_env(self, ci: CI) -> dict:
        env = base_env()
        env.update(GOVCLOUD_CONFIG=str(self.root), OS_CLIENT_CONFIG_FILE=str(ci.clouds),
                   GOVCLOUD_PASSPHRASE=ci.passphrase, **ci.env_extra)
        return env

    def run(self, env: dict, *args, timeout: float = 900, stdin: str | None = None) -> Run:
        proc = subprocess.run([sys.executable, "-m", "govcloud", *map(str, args)], capture_output=True, text=True,
                              env=env, cwd=self.root, timeout=timeout,
                              input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)
        run = Run(args, proc.returncode, proc.stdout, proc.stderr)
        self.runs.append(run)
        assert "Traceback" not in proc.stderr, str(run)
        return run

    def as_ci(self, ci: CI, *args, **kw) -> Run:
        return self.run(self.ci_env(ci), *args, **kw)

    def deployed_by(self, ci: CI, manifest: Path) -> None:
        self.services.append((ci, manifest))

    def backend(self, agency: Agency) -> Path:
        return self.root / "state" / agency.id

    def checkpoint_file(self, agency: Agency, stack: str) -> Path:
        return self.backend(agency) / ".pulumi" / "stacks" / agency.pulumi_project / f"{stack}.json"

    # ---------------------------------------------------------------- after the test

    def cleanup(self) -> None:
        from openstack import exceptions as os_exc

        for ci, manifest in self.services:  # what a failed test left deployed
            try:
                self.as_ci(ci, "destroy", manifest, "--yes", "--allow-data-loss", timeout=900)
            except (AssertionError, subprocess.TimeoutExpired, OSError):
                pass
        for agency in self.agencies:
            try:
                self.run(self.ministry_env(), "agency", "offboard", agency.id, "--site", CLOUD, "--yes",
                         "--allow-data-loss", timeout=600)
            except (AssertionError, subprocess.TimeoutExpired, OSError):
                pass
            for find, delete, name in ((self.conn.identity.find_project, self.conn.identity.delete_project,
                                        agency.project),
                                       (self.conn.identity.find_group, self.conn.identity.delete_group,
                                        f"{agency.id}-team")):
                try:
                    found = find(name, ignore_missing=True)
                    if found is not None:
                        delete(found)
                except os_exc.SDKException:
                    pass
        for user in self.users:
            try:
                self.conn.identity.delete_user(user, ignore_missing=True)
            except os_exc.SDKException:
                pass


def base_env() -> dict:
    """The environment of a govcloud run: no OpenStack or govcloud variables of the caller's, no colour, and this
    checkout's package first (the commands run in the config repo, where `python -m govcloud` would otherwise
    find the installed one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "GOVCLOUD_", "PULUMI_"))}
    env.update(NO_COLOR="1", PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])]))
    return env


def write_clouds(path: Path, auth: dict, auth_type: str | None = None) -> None:
    entry = {"auth": auth, "region_name": "RegionOne", "identity_api_version": 3, "interface": "public"}
    if auth_type:
        entry["auth_type"] = auth_type
    path.write_text(yaml.safe_dump({"clouds": {CLOUD: entry}}), encoding="utf-8")
    path.chmod(0o600)


def project_resources(conn, project_id: str) -> dict[str, list[str]]:
    """What lives in a project, as the admin sees it: servers, volumes, networks, routers (names)."""
    return {
        "servers": [s.name for s in conn.compute.servers(all_projects=True, project_id=project_id)],
        "volumes": [v.name for v in conn.block_storage.volumes(all_projects=True, project_id=project_id)],
        "networks": [n.name for n in conn.network.networks(project_id=project_id)],
        "routers": [r.name for r in conn.network.routers(project_id=project_id)],
    }


def results_file(name: str) -> Path:
    """Where an e2e test writes its figures for docs/reliability.md (benchmarks/reliability.py reads them)."""
    out = REPO / "tests" / "results"
    out.mkdir(exist_ok=True)
    return out / f"{name}.json"
