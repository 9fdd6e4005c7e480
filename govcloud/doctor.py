"""`govcloud doctor`: is this machine ready to deploy?

Checks, in order: the Pulumi CLI (found, version, whether it is the user's
own or govcloud's build, compatible with the pinned SDK), the OpenStack
resource plugin (installed where the engine looks, version), the state
backend (reachable and writable), the secrets passphrase (set, readable; never
shown), and for every site in the inventory its clouds.yaml entry and whether
Keystone answers (short timeout). A failing check says how to fix it. Checks
of the tools, backend and passphrase are required; a site is required when it
is named with --site (otherwise a site without credentials on this machine is
a warning: a machine usually deploys to some sites only).
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    def to_json(self) -> dict:
        return {"name": self.name, "ok": self.ok, "required": self.required, "detail": self.detail,
                "fix": self.fix or None}


INSTALL = ("install the Pulumi CLI so that PATH finds it, and the OpenStack resource plugin with `pulumi plugin install "
           "resource openstack <pulumi-openstack version>`; in a govcloud checkout, scripts/install-toolchain builds both")


def check_pulumi() -> list[Check]:
    from govcloud.engine import toolchain as tc

    try:
        versions = tc.pinned_versions()
        info = tc.find_pulumi(versions)
    except tc.ToolchainError as exc:
        return [Check("pulumi CLI", False, str(exc), INSTALL)]
    if info is None:
        return [Check("pulumi CLI", False, f"not found (neither on PATH nor in {tc.toolchain_dir()})", INSTALL)]
    whose = "your own, on PATH" if info.source == tc.SOURCE_PATH else "govcloud's build"
    vk, sk = tc.version_key(info.version), tc.version_key(versions.pulumi)
    if vk[0] != sk[0] or vk < sk:
        return [Check("pulumi CLI", False, f"{info.version} at {info.path} ({whose}) does not serve SDK "
                      f"{versions.pulumi} (needs {sk[0]}.x >= {versions.pulumi})",
                      "remove it from PATH or upgrade it, or " + INSTALL)]
    note = "" if vk == sk else f"; newer than the SDK {versions.pulumi}, which it serves"
    return [Check("pulumi CLI", True, f"{info.version} at {info.path} ({whose}{note})")]


def check_plugin() -> list[Check]:
    from govcloud.engine import toolchain as tc

    try:
        versions = tc.pinned_versions()
        info = tc.find_openstack_plugin(versions)
    except tc.ToolchainError as exc:
        return [Check("openstack plugin", False, str(exc), INSTALL)]
    if info is None:
        return [Check("openstack plugin", False, f"resource plugin openstack {versions.pulumi_openstack} not found",
                      INSTALL)]
    if info.source == tc.SOURCE_BUILD_CACHE:
        return [Check("openstack plugin", False, f"{info.version} built at {info.path} but not installed in the "
                      f"plugin cache {tc.plugin_cache_dir()}", INSTALL)]
    return [Check("openstack plugin", True, f"{info.version} at {info.path} ({info.source})")]


def check_backend(config) -> list[Check]:
    from govcloud.engine.command import pulumi_command
    from govcloud.engine.stack import backend_url
    from govcloud.engine.command import cli_error_text
    from govcloud.errors import SetupError

    from govcloud.settings import AGENCY_PLACEHOLDER
    from govcloud.tenancy.plan import MINISTRY

    url = backend_url(config)
    if AGENCY_PLACEHOLDER in url:  # a backend per agency: the ministry's own stands for them all
        url = backend_url(config, MINISTRY)
    if url.startswith("file://"):
        path = Path(url[len("file://"):])
        try:
            path.mkdir(parents=True, exist_ok=True)  # what the first deploy would do
        except OSError as exc:
            return [Check("state backend", False, f"cannot create the backend directory {path}: "
                          f"{exc.strerror or exc}", "fix the permissions of the state directory, or set "
                          "GOVCLOUD_STATE_DIR / `backend:` in govcloud.yaml")]
        probe = path / f".govcloud-doctor-{os.getpid()}"
        try:
            probe.write_text("ok", encoding="utf-8")
            probe.unlink()
        except OSError as exc:
            return [Check("state backend", False, f"{url} is not writable: {exc.strerror or exc}",
                          f"make {path} writable for this user, or point `backend:` in govcloud.yaml elsewhere")]
        return [Check("state backend", True, f"{url} (writable)")]
    from govcloud.shared.db import SharedDatabase, is_postgres_url

    if is_postgres_url(url):
        return check_database(SharedDatabase(url), "state backend", state=True)
    # another DIY backend: ask the CLI to list its stacks (reachable and authorised)
    try:
        from pulumi.automation import errors as auto_errors

        cmd = pulumi_command()
        wd = config.state_dir.workspaces / ".doctor"
        wd.mkdir(parents=True, exist_ok=True)
        (wd / "Pulumi.yaml").write_text(f"name: govcloud-doctor\nruntime: python\nbackend:\n  url: {url}\n",
                                        encoding="utf-8")
        cmd.run(["stack", "ls", "--all", "--json"], str(wd), {"PULUMI_BACKEND_URL": url,
                                                              "PULUMI_SKIP_UPDATE_CHECK": "true"})
        return [Check("state backend", True, f"{url} (reachable; write access is checked by the first deploy)")]
    except SetupError as exc:
        return [Check("state backend", False, f"{url}: cannot check without the Pulumi CLI ({exc})", INSTALL)]
    except auto_errors.CommandError as exc:
        return [Check("state backend", False, f"{url}: {cli_error_text(exc)}",
                      "check the URL and the credentials the backend needs (e.g. AWS_ACCESS_KEY_ID / "
                      "AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT for S3-compatible object storage)")]


def check_database(db, name: str = "shared database", state: bool = False) -> list[Check]:
    """Connects (the password from PGPASSFILE / PGPASSWORD), creates govcloud's tables when missing, checks
    that this role may write the Pulumi state table (`state`)."""
    from govcloud.errors import SetupError

    fix = ("check the URL, that the server answers, and PGPASSFILE (a libpq password file, mode 600) or "
           "PGPASSWORD; dev: scripts/postgres up && eval \"$(scripts/postgres env)\"")
    try:
        db.ensure_schema()
        with db.connect() as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            table = conn.execute("SELECT to_regclass(%s)::text", (db.state_table,)).fetchone()[0]
            writable = conn.execute("SELECT has_database_privilege(current_database(), 'CREATE')").fetchone()[0] \
                if table is None else conn.execute("SELECT has_table_privilege(%s, 'INSERT,UPDATE,DELETE')",
                                                   (table,)).fetchone()[0]
    except SetupError as exc:
        return [Check(name, False, str(exc).split(" (the password")[0], fix)]
    except Exception as exc:  # noqa: BLE001 - any database error is this check's finding
        return [Check(name, False, f"{db.describe()}: {type(exc).__name__}: {str(exc).strip()[:200]}", fix)]
    what = f"PostgreSQL {version} at {db.describe()}; govcloud's tables ready"
    if state:
        if not writable:
            return [Check(name, False, f"{what}; this role may not write the state table {db.state_table}",
                          f"GRANT SELECT, INSERT, UPDATE, DELETE ON {db.state_table} TO <govcloud's role>")]
        what += f"; state table {db.state_table} " + ("writable" if table else "created by the first deploy")
    return [Check(name, True, what)]


def check_passphrase() -> list[Check]:
    from govcloud.errors import SetupError
    from govcloud.settings import passphrase_source, read_passphrase

    from govcloud.settings import AGENCY_PLACEHOLDER, env, passphrase_files

    template = env("GOVCLOUD_PASSPHRASE_FILE")
    if template and AGENCY_PLACEHOLDER in template and not env("GOVCLOUD_PASSPHRASE"):
        found = passphrase_files()
        return [Check("passphrase", bool(found), f"one file per agency, {template}: {len(found)} found (not shown)",
                      "write each agency's passphrase to its file (umask 077; head -c 32 /dev/urandom | base64 > "
                      f"{template.replace(AGENCY_PLACEHOLDER, '<agency>')})")]
    try:
        read_passphrase()
    except SetupError as exc:
        return [Check("passphrase", False, str(exc).split(":")[0],
                      "set GOVCLOUD_PASSPHRASE, or GOVCLOUD_PASSPHRASE_FILE to a file holding it "
                      "(umask 077; head -c 32 /dev/urandom | base64 > ~/.govcloud-passphrase)")]
    return [Check("passphrase", True, f"set through {passphrase_source()} (not shown)")]


def _with_timeout(fn: Callable[[], Any], timeout: float) -> tuple[bool, Any]:
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        return False, TimeoutError(f"no answer within {timeout:g} s")
    if "error" in box:
        return False, box["error"]
    return True, box.get("value")


def check_site(site, timeout: float, required: bool, authenticate=None) -> list[Check]:
    """The site's clouds.yaml entry, a token from its Keystone (`authenticate`: cloud.access.token_access),
    and a warning when the token carries the admin role: a deploy with it would run as the cloud's
    administrator, in every agency's project."""
    from govcloud.cloud.access import token_access
    from govcloud.cloud.credentials import cloud_region
    from govcloud.errors import SetupError

    name = f"site {site.name} (cloud '{site.cloud}')"
    try:
        cc = cloud_region(site.cloud, None, site.region, api_timeout=timeout)
    except SetupError as exc:
        text = str(exc)
        if "no OpenStack credentials" in text:
            found = text.rsplit("Entries found: ", 1)[-1] if "Entries found: " in text else "none"
            return [Check(name, False, f"no clouds.yaml entry '{site.cloud}' and no OS_* credentials "
                          f"(entries found: {found})",
                          f"add an entry '{site.cloud}' to ~/.config/openstack/clouds.yaml (or ./clouds.yaml, "
                          f"/etc/openstack/clouds.yaml, the file named by OS_CLIENT_CONFIG_FILE), or set OS_CLOUD "
                          f"or the OS_* variables", required)]
        return [Check(name, False, text, "fix the clouds.yaml entry", required)]
    auth_url = (cc.config.get("auth") or {}).get("auth_url", "?")
    t0 = time.monotonic()
    ok, value = _with_timeout(lambda: (authenticate or token_access)(cc, site.cloud), timeout)
    took = time.monotonic() - t0
    if not ok:
        msg = str(value).splitlines()[0][:200] if str(value) else type(value).__name__
        return [Check(name, False, f"Keystone at {auth_url} did not issue a token: {msg}",
                      "check that the cloud is up (dev cloud: scripts/devcloud status) and the credentials in "
                      "clouds.yaml", required)]
    checks = [Check(name, True, f"clouds.yaml entry found; Keystone at {auth_url} answered in {took:.2f} s as "
                    f"{value.who()}", required=required)]
    if value.admin:
        checks.append(Check(f"{name} credentials", False,
                            f"{value.who()} has the admin role: a deploy with these credentials would run as the "
                            f"cloud's administrator, able to change every agency's project",
                            "keep the ministry's admin credentials for `govcloud agency onboard` and `govcloud usage "
                            "collect`; an agency's deploys use its own: a user in its team group <agency>-team, or "
                            "an application credential made in its project (docs/isolation.md)", required=False))
    return checks


def run_checks(ws, timeout: float = 5.0, sites: list[str] | None = None) -> list[Check]:
    out: list[Check] = []
    out += check_pulumi()
    out += check_plugin()
    out += check_backend(ws.config)
    from govcloud.errors import SetupError
    from govcloud.shared.db import is_postgres_url, shared_database

    try:
        db = shared_database(ws.config)
    except SetupError as exc:  # a postgres backend per agency by database: which one is shared is not said
        db = None
        out.append(Check("shared database", False, str(exc), "database: postgres://... in govcloud.yaml"))
    if db is not None and not is_postgres_url(ws.config.settings.backend):
        out += check_database(db)
    out += check_passphrase()
    wanted = set(sites or [])
    for name in ws.inventory.site_names():
        site = ws.inventory.site(name)
        if site is not None:
            out += check_site(site, timeout, required=name in wanted)
    unknown = wanted - set(ws.inventory.site_names())
    for name in sorted(unknown):
        out.append(Check(f"site {name}", False, "not in the inventory",
                         "one of: " + ", ".join(ws.inventory.site_names())))
    return out
