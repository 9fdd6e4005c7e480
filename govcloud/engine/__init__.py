"""Drive the real Pulumi engine with the Automation API.

Where a stack lives
    project `govcloud-<agency>`, stack `<service>-<environment>` (from the plan);
    backend: `backend:` in the config repo's govcloud.yaml (any Pulumi DIY URL:
    file://, s3://...) or `file://<state_dir>/state`, created on first use;
    the Pulumi project directory (Pulumi.yaml, Pulumi.<stack>.yaml with the
    passphrase salt) is `<state_dir>/workspaces/<project>/<stack>/`, one per
    stack so that parallel runs never rewrite each other's files.
Secrets
    the passphrase secrets provider; the passphrase comes from
    GOVCLOUD_PASSPHRASE or the file named by GOVCLOUD_PASSPHRASE_FILE, goes to
    the engine as PULUMI_CONFIG_PASSPHRASE and is never printed or logged.
Cloud credentials
    read the way the OpenStack CLI reads them (openstacksdk's OpenStackConfig:
    clouds.yaml in ./, ~/.config/openstack/, /etc/openstack/ or
    OS_CLIENT_CONFIG_FILE; the entry named by the site's `cloud`, else OS_CLOUD,
    else the OS_* variables), with the agency's project replacing the entry's
    project and the site's region. They configure the program's explicit
    provider; the password is a secret there, so the state holds it encrypted.
One stack operation per process
    inline Python programs keep global state in the pulumi runtime, so every
    operation that runs the program (preview, up, refresh, destroy) runs in a
    child process, `python -m govcloud.engine --worker`, in its own process
    group. It streams the engine's raw events back as JSON lines; the parent
    parses them with govcloud.events. Ctrl-C (SIGINT/SIGTERM) in the parent is
    forwarded to the child's group: the Pulumi CLI then stops starting new
    resource operations, waits for the ones in flight and exits with the
    state consistent (Ctrl-C twice: the CLI stops at once; three times: the
    child is killed). If the parent dies, the child finishes its operation.
    Work over many manifests (`run_many`) runs such children in parallel.
Concurrent and interrupted runs
    `StackLock`: govcloud's own lock per stack (flock on
    `<state_dir>/locks/<project>--<stack>.lock`, held by the command and
    inherited by its engine child, released by the kernel however they end);
    a second run gets "stack ... is locked by govcloud deploy (pid, user@host,
    since)". Under it the engine's own lock (the DIY backend's lock file) is
    checked: a lock left by a process that no longer runs on this host (a
    SIGKILLed run) is removed; a live one is reported the same way.
    `recover()` then repairs what a killed run left in the state: pending
    operations. A pending *create* may or may not have reached the cloud: the
    resource is looked up by its unique name (or, for unnamed ones, by what
    identifies it: a rule's group and ports, an interface's router and
    subnet, an attachment's server and volume, ...); when found it is adopted
    into the state with its cloud id (so it is neither orphaned nor created a
    second time), otherwise the pending create is dropped. Other pending
    operations are dropped, and a refresh then reads every resource back from
    the cloud.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

from govcloud.engine import events as ev
from govcloud.config import ConfigRepo
from govcloud.errors import GovcloudError
from govcloud.plan.model import Lookup, PlannedResource, Ref, ResourcePlan, ServiceRef

# the resource types are the compiler's: one list of them, not two
from govcloud.plan.compile import CONTAINER, FLOATING_IP, FLOATING_IP_ASSOCIATE, INSTANCE, KEYPAIR, NETWORK, PORT, ROUTER, ROUTER_INTERFACE, SECGROUP, SECGROUP_RULE, SERVER_GROUP, STATEFUL_TYPES, SUBNET, VOLUME, VOLUME_ATTACH

# "refresh-preview" reads the cloud like refresh but records nothing (refresh --check)
PROGRAM_OPS = ("preview", "up", "refresh", "refresh-preview", "destroy")


# ---------------------------------------------------------------- errors


class EngineError(GovcloudError):
    """The engine failed; the message is the provider's / engine's own (exit 3)."""

    exit_code = 3


class StackLockedError(EngineError):
    """Another run holds the stack."""


class InterruptedError_(EngineError):
    """The operation was interrupted (Ctrl-C / SIGTERM) and stopped safely."""


class SetupError(GovcloudError):
    """Something the engine needs is missing (passphrase, credentials, toolchain); the message says how to fix it."""

    exit_code = 1


# ---------------------------------------------------------------- where a stack lives


@dataclass(frozen=True)
class StackLocation:
    project: str
    stack: str
    backend_url: str
    state_dir: str

    @property
    def name(self) -> str:
        return f"{self.project}/{self.stack}"

    @property
    def work_dir(self) -> Path:
        return Path(self.state_dir) / "workspaces" / self.project / self.stack

    def backend_path(self) -> Path | None:
        """The directory of a file:// backend (None for other backends)."""
        if not self.backend_url.startswith("file://"):
            return None
        raw = self.backend_url[len("file://"):].split("?", 1)[0]
        return Path(os.path.expanduser(raw))

    def engine_lock_dir(self) -> Path | None:
        base = self.backend_path()
        return None if base is None else base / ".pulumi" / "locks" / "organization" / self.project / self.stack

    def to_json(self) -> dict:
        return {"project": self.project, "stack": self.stack, "backendUrl": self.backend_url,
                "stateDir": self.state_dir}


def backend_url(config: ConfigRepo) -> str:
    """The configured backend (`backend:` in govcloud.yaml) or file://<state_dir>/state, created on first use."""
    configured = config.settings.get("backend") if isinstance(config.settings, dict) else None
    if configured:
        url = str(configured)
        if url.startswith("file://"):
            raw = os.path.expanduser(url[len("file://"):])
            path = Path(raw)
            if not path.is_absolute():
                path = (config.root or Path.cwd()) / path
            path.mkdir(parents=True, exist_ok=True)
            return "file://" + str(path.resolve())
        return url
    path = Path(config.state_dir) / "state"
    path.mkdir(parents=True, exist_ok=True)
    return "file://" + str(path.resolve())


def locate(plan: ResourcePlan, config: ConfigRepo) -> StackLocation:
    state_dir = Path(config.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    return StackLocation(plan.service.pulumi_project, plan.service.stack, backend_url(config),
                         str(state_dir.resolve()))


def read_passphrase(environ: Mapping[str, str] | None = None) -> str:
    """The stack secrets passphrase: GOVCLOUD_PASSPHRASE, else the file named by GOVCLOUD_PASSPHRASE_FILE."""
    env = os.environ if environ is None else environ
    value = env.get("GOVCLOUD_PASSPHRASE")
    if value:
        return value
    file = env.get("GOVCLOUD_PASSPHRASE_FILE")
    if file:
        try:
            text = Path(file).expanduser().read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SetupError(f"cannot read the passphrase file GOVCLOUD_PASSPHRASE_FILE={file}: "
                             f"{exc.strerror or exc}") from None
        if not text:
            raise SetupError(f"the passphrase file GOVCLOUD_PASSPHRASE_FILE={file} is empty")
        return text
    raise SetupError(
        "no passphrase for the stack's secrets: set GOVCLOUD_PASSPHRASE, or GOVCLOUD_PASSPHRASE_FILE to a file "
        "holding it (e.g. `umask 077; head -c 32 /dev/urandom | base64 > ~/.govcloud-passphrase`). It encrypts "
        "secrets such as the OpenStack password in the stack state: keep it, the state cannot be used without it")


# ---------------------------------------------------------------- OpenStack credentials


def cloud_region(cloud: str | None, project: str | None = None, region: str | None = None,
                 api_timeout: float | None = None):
    """openstacksdk's CloudRegion for a clouds.yaml entry (or OS_CLOUD / OS_* when the entry is absent),
    scoped to `project` when given."""
    try:
        import openstack.config
        from openstack import exceptions as os_exc
    except ImportError as exc:  # pragma: no cover - a dependency
        raise SetupError(f"openstacksdk is not installed: {exc}") from None
    cfg = openstack.config.OpenStackConfig()
    names = [c for c in (cloud, os.environ.get("OS_CLOUD")) if c]
    known = set(cfg.get_cloud_names())
    chosen = next((n for n in names if n in known), None)
    try:
        if chosen is not None:
            cc = cfg.get_one(cloud=chosen)
        elif "envvars" in known or os.environ.get("OS_AUTH_URL"):
            cc = cfg.get_one(cloud="envvars" if "envvars" in known else None)
        else:
            raise SetupError(
                f"no OpenStack credentials for cloud '{cloud}': add an entry '{cloud}' to clouds.yaml "
                f"(~/.config/openstack/clouds.yaml, ./clouds.yaml, /etc/openstack/clouds.yaml or the file in "
                f"OS_CLIENT_CONFIG_FILE), or set OS_CLOUD to an entry, or the OS_* variables (OS_AUTH_URL, "
                f"OS_USERNAME, OS_PASSWORD, ...). Entries found: {', '.join(sorted(known - {'envvars'})) or 'none'}")
    except os_exc.ConfigException as exc:
        raise SetupError(f"OpenStack configuration of cloud '{chosen or cloud}': {exc}") from None
    if not (project or region or api_timeout):
        return cc
    # get_one deep-merges overrides into the entry (a project_id there would stay and win), and the auth
    # plugin is built inside get_one: rebuild the region from the edited config alone (no files, no env)
    import copy

    conf = copy.deepcopy(cc.config)
    conf.pop("name", None)
    auth = conf.setdefault("auth", {})
    if project and conf.get("auth_type", "password") not in ("v3applicationcredential",):
        for k in ("project_id", "tenant_id", "tenant_name"):
            auth.pop(k, None)
        auth["project_name"] = project
    if region:
        conf["region_name"] = region
    if api_timeout:
        conf["api_timeout"] = api_timeout
    try:
        return openstack.config.OpenStackConfig(load_yaml_config=False, load_envvars=False).get_one(**conf)
    except os_exc.ConfigException as exc:
        raise SetupError(f"OpenStack configuration of cloud '{chosen or cloud}': {exc}") from None


def provider_config(plan: ResourcePlan):
    """The program's ProviderConfig for the plan's site cloud and the agency's project."""
    from govcloud.engine.program import ProviderConfig

    cc = cloud_region(plan.service.cloud, plan.service.project, plan.service.region)
    auth = cc.config.get("auth", {})
    auth_url = auth.get("auth_url")
    if not auth_url:
        raise SetupError(f"cloud '{plan.service.cloud}' has no auth_url in clouds.yaml / OS_AUTH_URL")
    verify = cc.config.get("verify", True)
    cacert = cc.config.get("cacert")
    interface = cc.config.get("interface")
    return ProviderConfig(
        auth_url=auth_url, region=plan.service.region, project=plan.service.project,
        user_name=auth.get("username"), password=auth.get("password"),
        user_domain_name=auth.get("user_domain_name") or (None if auth.get("user_domain_id") else
                                                          auth.get("domain_name")),
        project_domain_name=auth.get("project_domain_name") or (None if auth.get("project_domain_id") else
                                                                auth.get("domain_name")),
        user_domain_id=auth.get("user_domain_id"), project_domain_id=auth.get("project_domain_id"),
        application_credential_id=auth.get("application_credential_id"),
        application_credential_secret=auth.get("application_credential_secret"),
        token=auth.get("token"), endpoint_type=interface if interface in ("public", "internal", "admin") else None,
        insecure=True if verify is False else None, cacert_file=cacert or None,
        cert=cc.config.get("cert"), key=cc.config.get("key"),
    )


def connect(cloud: str | None, project: str | None = None, region: str | None = None,
            api_timeout: float | None = None):
    """An openstacksdk Connection to the site's cloud, in the agency's project."""
    import openstack.connection

    return openstack.connection.Connection(config=cloud_region(cloud, project, region, api_timeout))


# ---------------------------------------------------------------- toolchain and CLI


_COMMANDS: dict[str, Any] = {}
_TOOLCHAIN_ENV: dict[str, str] = {}


def _known_pulumi(path: str, version: str):
    """A PulumiCommand for a CLI whose version is already known (the toolchain checked it): creating one
    the usual way runs `pulumi version` again, a sixth of a second per process."""
    from pulumi.automation import PulumiCommand
    from semver import VersionInfo

    class KnownPulumi(PulumiCommand):
        def __init__(self):  # noqa: D107 - deliberately not calling PulumiCommand.__init__
            self.command = path
            self.version = VersionInfo.parse(version.lstrip("v"))

    return KnownPulumi()


def pulumi_command(known: Mapping[str, str] | None = None):
    """PulumiCommand for the toolchain's CLI; SetupError (how to fix) when the CLI or plugin is missing.

    Found once per process. `known` ({"path", "version"}, as the parent process found them) skips the
    search in engine children.
    """
    if "cmd" in _COMMANDS:
        return _COMMANDS["cmd"]
    if known:
        _COMMANDS["cmd"] = _known_pulumi(known["path"], known["version"])
        return _COMMANDS["cmd"]
    from govcloud import toolchain

    try:
        info = toolchain.find_pulumi()
        plugin = toolchain.find_openstack_plugin()
    except toolchain.ToolchainError as exc:
        raise SetupError(str(exc)) from None
    if info is None:
        raise SetupError("the Pulumi CLI is missing: run scripts/install-toolchain (see docs/toolchain.md)")
    if plugin is None or plugin.source == toolchain.SOURCE_BUILD_CACHE:
        raise SetupError("the OpenStack resource plugin is not installed where the engine looks: "
                         "run scripts/install-toolchain")
    _COMMANDS["cmd"] = _known_pulumi(str(info.path), info.version)
    if not _TOOLCHAIN_ENV:
        # toolchain.engine_env() for this CLI (it would search for the CLI once more)
        bin_dir = str(info.path.parent)
        parts = [x for x in os.environ.get("PATH", "").split(os.pathsep) if x and x != bin_dir]
        _TOOLCHAIN_ENV.update({"PATH": os.pathsep.join([bin_dir, *parts]), "PULUMI_SKIP_UPDATE_CHECK": "true",
                               "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"})
    return _COMMANDS["cmd"]




def _engine_env(loc: StackLocation, passphrase: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The engine's environment: the toolchain's (PATH, no update check, no plugin downloads; computed once
    per process, or `base` as the parent computed it) plus the passphrase and the backend."""
    if base is None:
        if not _TOOLCHAIN_ENV:
            pulumi_command()
        base = _TOOLCHAIN_ENV
    env = dict(base)
    env.update({
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
        "PULUMI_BACKEND_URL": loc.backend_url,
        "PULUMI_SKIP_CONFIRMATIONS": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
    })
    return env


def ensure_workdir(loc: StackLocation) -> Path:
    """The Pulumi project directory of the stack (Pulumi.yaml written once, atomically)."""
    wd = loc.work_dir
    wd.mkdir(parents=True, exist_ok=True)
    want = (f"name: {loc.project}\nruntime: python\n"
            f"description: govcloud stacks of agency {loc.project.removeprefix('govcloud-')} (managed by govcloud)\n"
            f"backend:\n  url: {json.dumps(loc.backend_url)}\n")
    path = wd / "Pulumi.yaml"
    if not path.is_file() or path.read_text(encoding="utf-8") != want:
        tmp = wd / f".Pulumi.yaml.{os.getpid()}"
        tmp.write_text(want, encoding="utf-8")
        os.replace(tmp, path)
    return wd


class Cli:
    """The Pulumi CLI for one stack, for operations that do not run the program (state, outputs, history)."""

    def __init__(self, loc: StackLocation, passphrase: str | None = None):
        self.loc = loc
        self.cmd = pulumi_command()
        self.env = _engine_env(loc, passphrase or "")
        if not passphrase:
            self.env.pop("PULUMI_CONFIG_PASSPHRASE", None)
        ensure_workdir(loc)

    def run(self, *args: str, stack: bool = True) -> str:
        from pulumi.automation.errors import CommandError

        argv = list(args) + (["--stack", self.loc.stack] if stack else [])
        try:
            return self.cmd.run(argv, str(self.loc.work_dir), self.env).stdout
        except CommandError as exc:
            raise EngineError(_cli_error(exc)) from None

    def exists(self) -> bool:
        base = self.loc.backend_path()
        if base is not None:
            d = base / ".pulumi" / "stacks" / self.loc.project
            return any(d.glob(f"{self.loc.stack}.json*"))
        out = self.run("stack", "ls", "--json", stack=False)
        return any(s.get("name") in (self.loc.stack, self.loc.name) or
                   str(s.get("name", "")).endswith("/" + self.loc.name) for s in json.loads(out or "[]"))

    def export(self) -> dict | None:
        """The stack's deployment (secrets stay encrypted), or None when the stack does not exist.

        A file:// backend's checkpoint is read directly (what `pulumi stack export` prints, without
        starting the CLI: half a second saved on every deploy); other backends go through the CLI.
        """
        base = self.loc.backend_path()
        if base is not None:
            path = base / ".pulumi" / "stacks" / self.loc.project / f"{self.loc.stack}.json"
            if not path.is_file():
                return None if not self.exists() else json.loads(self.run("stack", "export"))
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                return {"version": data["version"], "deployment": data["checkpoint"]["latest"] or {}}
            except (OSError, ValueError, KeyError, TypeError):
                pass  # another layout (a newer CLI): ask the CLI
        if not self.exists():
            return None
        return json.loads(self.run("stack", "export"))

    def import_(self, deployment: dict) -> None:
        tmp = Path(self.loc.state_dir) / f".import-{self.loc.stack}-{os.getpid()}.json"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(deployment, f)
        try:
            self.run("stack", "import", "--file", str(tmp))
        finally:
            tmp.unlink(missing_ok=True)

    def outputs(self) -> dict:
        return json.loads(self.run("stack", "output", "--json") or "{}")

    def history(self, limit: int | None = None) -> list[dict]:
        args = ["stack", "history", "--json"]
        if limit:
            args += ["--page-size", str(limit), "--page", "1"]
        return json.loads(self.run(*args) or "[]")

    def cancel(self) -> None:
        self.run("cancel", "--yes")


def _cli_error(exc: Any) -> str:
    """The useful lines of a failed CLI command: its `error:` lines, else the tail of its output.

    The Automation API's CommandError carries only its text (" code: N\n stdout: ...\n stderr: ...").
    """
    text = "\n".join(x for x in (getattr(exc, "stderr", "") or "", getattr(exc, "stdout", "") or "") if x)
    text = text or str(exc)
    lines = [re.sub(r"^(?:code: \d+|stdout:|stderr:)\s*", "", ln.strip()) for ln in text.splitlines()]
    errs = [ln[len("error:"):].strip() for ln in lines if ln.startswith("error:")]
    if errs:
        return "\n".join(dict.fromkeys(errs))
    tail = [ln for ln in lines if ln][-8:]
    return "\n".join(tail) or str(exc).strip()


# ---------------------------------------------------------------- locks


@dataclass(frozen=True)
class EngineLock:
    path: str
    pid: int
    username: str
    hostname: str
    timestamp: str

    @property
    def local(self) -> bool:
        return self.hostname == socket.gethostname()

    @property
    def stale(self) -> bool:
        """Held by a process that no longer runs (only decidable for locks taken on this host)."""
        return self.local and not _pid_runs_pulumi(self.pid)

    def describe(self) -> str:
        state = "stale: its process is gone" if self.stale else ("running" if self.local else "on another host")
        return f"{self.username}@{self.hostname} (pid {self.pid}) since {self.timestamp} [{state}]"


def _pid_runs_pulumi(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"pulumi" in cmdline


def engine_locks(loc: StackLocation) -> list[EngineLock]:
    """The DIY backend's lock files of the stack (file:// backends only; [] otherwise)."""
    d = loc.engine_lock_dir()
    if d is None or not d.is_dir():
        return []
    out = []
    for f in sorted(d.glob("*.json")):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        out.append(EngineLock(str(f), int(data.get("pid") or 0), str(data.get("username", "?")),
                              str(data.get("hostname", "?")), str(data.get("timestamp", "?"))))
    return out


class StackLock:
    """govcloud's own lock of a stack: an flock held for a whole command (preview + apply), shared with its engine child."""

    def __init__(self, loc: StackLocation, command: str):
        self.loc = loc
        self.command = command
        self.path = Path(loc.state_dir) / "locks" / f"{loc.project}--{loc.stack}.lock"
        self.fd: int | None = None

    def acquire(self) -> "StackLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                info = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
            except (OSError, ValueError):
                info = {}
            os.close(fd)
            who = (f"{info.get('command', 'another govcloud run')} (pid {info.get('pid', '?')}, "
                   f"{info.get('user', '?')}@{info.get('host', '?')}, since {info.get('since', '?')})")
            raise StackLockedError(f"stack {self.loc.name} is locked by {who}: wait for it to finish "
                                   f"(its engine may still be completing the operations in flight)") from None
        info = {"command": self.command, "pid": os.getpid(), "user": _user(), "host": socket.gethostname(),
                "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "StackLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not an error
        return "?"


def clear_stale_engine_locks(loc: StackLocation) -> list[str]:
    """Remove engine locks of dead processes on this host; StackLockedError for a live (or foreign) one."""
    notes = []
    live = []
    for lk in engine_locks(loc):
        if lk.stale:
            Path(lk.path).unlink(missing_ok=True)
            Path(lk.path + ".attrs").unlink(missing_ok=True)
            notes.append(f"removed the engine lock of a run that no longer runs: {lk.describe()}")
        else:
            live.append(lk)
    if live:
        raise StackLockedError(
            f"stack {loc.name} is locked by " + "; ".join(lk.describe() for lk in live) +
            (": wait for it to finish" if all(lk.local for lk in live) else
             ": if that run is dead, `govcloud unlock FILE --force` removes the lock"))
    return notes


# ---------------------------------------------------------------- plan <-> JSON (for the worker)


def plan_from_json(data: Mapping[str, Any]) -> ResourcePlan:
    """The inverse of ResourcePlan.to_json (Refs and Lookups restored)."""

    def restore(v: Any) -> Any:
        if isinstance(v, Mapping):
            if set(v) == {"$ref", "attr"}:
                return Ref(v["$ref"], v["attr"])
            if set(v) == {"$lookup", "name"}:
                return Lookup(v["$lookup"], v["name"])
            return MappingProxyType({k: restore(x) for k, x in v.items()})
        if isinstance(v, list):
            return [restore(x) for x in v]
        return v

    s = data["service"]
    svc = ServiceRef(agency=s["agency"], environment=s["environment"], service=s["name"], site=s["site"],
                     cloud=s["cloud"], region=s["region"], project=s["project"])
    resources = tuple(
        PlannedResource(key=r["key"], type=r["type"], name=r["name"], inputs=restore(r["inputs"]),
                        source=r.get("source", ""), stateful=bool(r.get("stateful")),
                        depends_on=tuple(r.get("dependsOn", ())),
                        meters=MappingProxyType({k: Decimal(str(v)) for k, v in r.get("meters", {}).items()}),
                        import_id=r.get("importId"))
        for r in data["resources"])
    return ResourcePlan(service=svc, resources=resources, tags=MappingProxyType(dict(data.get("tags", {}))),
                        manifest_file=data.get("manifest", ""), govcloud_version=data.get("govcloudVersion", ""))


def urn_of(loc: StackLocation, entry: PlannedResource) -> str:
    return f"urn:pulumi:{loc.stack}::{loc.project}::{entry.type}::{entry.key}"


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class OperationResult:
    op: str
    stack: str  # project/stack
    ok: bool
    changes: tuple[ev.ResourceChange, ...] = ()
    failed: tuple[ev.ResourceChange, ...] = ()
    diagnostics: tuple[ev.Diagnostic, ...] = ()
    protected: tuple[str, ...] = ()  # keys the engine refused to delete/replace because they are protected
    other_errors: tuple[str, ...] = ()  # errors besides those
    summary: ev.Summary | None = None
    outputs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    error: str | None = None
    error_kind: str | None = None  # engine | locked | interrupted | setup | crash
    duration: float = 0.0
    timing: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # the child's phases
    log_file: str | None = None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.op] = out.get(c.op, 0) + 1
        return out

    @property
    def blocked_only_by_protection(self) -> bool:
        """A preview that computed every change and failed only because protected data would be lost."""
        return not self.ok and self.error_kind == "engine" and bool(self.protected) and not self.other_errors

    def changing(self) -> tuple[ev.ResourceChange, ...]:
        return tuple(c for c in self.changes if c.op in ev.CHANGING_OPS)

    def raise_for_error(self) -> "OperationResult":
        if self.ok:
            return self
        cls = {"locked": StackLockedError, "interrupted": InterruptedError_, "setup": SetupError}.get(
            self.error_kind or "", EngineError)
        raise cls(self.error or f"{self.op} failed")

    def to_json(self) -> dict:
        return {"operation": self.op, "stack": self.stack, "ok": self.ok, "error": self.error,
                "durationSeconds": round(self.duration, 2), "counts": self.counts(),
                "summary": self.summary.to_json() if self.summary else None,
                "changes": [c.to_json() for c in self.changes],
                "failed": [c.key for c in self.failed],
                "diagnostics": [{"severity": d.severity, "resource": d.key, "message": d.message}
                                for d in self.diagnostics if d.severity in ("error", "warning")]}


# ---------------------------------------------------------------- running an operation in a child


_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_INTERRUPTS = {"count": 0}
_NOTICE: list[Callable[[str], None]] = []


def _on_signal(signum, frame) -> None:  # pragma: no cover - exercised by the e2e interrupt test
    _INTERRUPTS["count"] += 1
    n = _INTERRUPTS["count"]
    sig = signal.SIGKILL if n >= 3 else signal.SIGINT
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        try:
            os.killpg(p.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    msg = ("interrupted: the engine stops after the resource operations in flight (Ctrl-C again to stop at once)"
           if n == 1 else "interrupted again: stopping the engine now" if n == 2 else "killing the engine")
    for notice in _NOTICE:
        notice(msg)


class _InterruptGuard:
    """While an operation runs: SIGINT/SIGTERM are forwarded to the engine children instead of killing us."""

    def __enter__(self):
        self.saved = None
        if threading.current_thread() is threading.main_thread():
            _INTERRUPTS["count"] = 0
            self.saved = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        if self.saved:
            for s, h in self.saved.items():
                signal.signal(s, h)

    @staticmethod
    def interrupted() -> bool:
        return _INTERRUPTS["count"] > 0


def add_interrupt_notice(fn: Callable[[str], None]) -> None:
    _NOTICE.clear()
    _NOTICE.append(fn)


def run_operation(op: str, plan: ResourcePlan, config: ConfigRepo, *, allow_data_loss: bool = False,
                  replace: Sequence[str] = (), on_event: Callable[[ev.Event], None] | None = None,
                  message: str | None = None, lock: StackLock | None = None,
                  passphrase: str | None = None, refresh_first: bool = False) -> OperationResult:
    """Run preview | up | refresh | destroy of the plan's stack in a child process; events go to `on_event`."""
    if op not in PROGRAM_OPS:
        raise ValueError(f"unknown engine operation {op!r}")
    loc = locate(plan, config)
    passphrase = passphrase or read_passphrase()
    cmd = pulumi_command()  # fail early, with how to fix it, when the toolchain is missing
    ensure_workdir(loc)
    logs = Path(loc.state_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    _prune_logs(logs, f"{loc.project}--{loc.stack}--")
    log_file = logs / f"{loc.project}--{loc.stack}--{op}--{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    req = {"op": op, "plan": plan.to_json(), "location": loc.to_json(), "allowDataLoss": allow_data_loss,
           "replace": [urn_of(loc, plan.get(k)) if not k.startswith("urn:") else k for k in replace],
           "message": message or f"govcloud {op} {plan.manifest_file}".strip(), "refresh": refresh_first,
           "pulumi": {"path": cmd.command, "version": str(cmd.version)},
           "toolchainEnv": {k: v for k, v in _engine_env(loc, "").items()
                            if k not in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_BACKEND_URL")}}
    env = dict(os.environ)
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
    env["PYTHONUNBUFFERED"] = "1"
    log = ev.EventLog()
    result: dict = {}
    error: dict = {}
    started = time.monotonic()
    events_file = log_file.with_suffix(".events.jsonl")
    with open(log_file, "w", encoding="utf-8") as logf, open(events_file, "w", encoding="utf-8") as evf, \
            _InterruptGuard():
        os.chmod(log_file, 0o600)
        os.chmod(events_file, 0o600)
        proc = subprocess.Popen(
            [sys.executable, "-m", "govcloud.engine", "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=logf, env=env, start_new_session=True, text=True, encoding="utf-8",
            pass_fds=(lock.fd,) if lock is not None and lock.fd is not None else ())
        with _LIVE_LOCK:
            _LIVE.add(proc)
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(req))
            proc.stdin.close()
            for line in proc.stdout:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                kind = msg.get("t")
                if kind == "event":
                    evf.write(json.dumps(msg.get("e"), ensure_ascii=False) + "\n")
                    event = log.add(msg.get("e"))
                    if on_event is not None:
                        try:
                            on_event(event)
                        except Exception:  # noqa: BLE001 - a display problem must not stop reading the engine
                            on_event = None
                elif kind == "result":
                    result = msg
                elif kind == "error":
                    error = msg
            proc.wait()
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(proc)
    duration = time.monotonic() - started
    interrupted = _InterruptGuard.interrupted()
    ok = bool(result) and not error and proc.returncode == 0
    err_text = kind_ = None
    if not ok:
        kind_ = error.get("kind") or ("interrupted" if interrupted else "crash")
        if interrupted and kind_ == "engine":
            kind_ = "interrupted"
        messages = log.error_messages()
        if kind_ in ("locked", "setup"):
            err_text = error.get("message")
        elif kind_ == "interrupted":
            err_text = (f"{op} of {loc.name} was interrupted; the engine stopped after the operations in flight "
                        f"and recorded what it did. Run the same command again to finish")
        elif messages:
            err_text = "\n".join(messages)
        else:
            err_text = error.get("message") or (f"the engine child exited with code {proc.returncode}; "
                                                f"see {log_file}")
    outputs = result.get("outputs") or {}
    return OperationResult(op=op, stack=loc.name, ok=ok, changes=log.changes(), failed=log.failed(),
                           diagnostics=tuple(log.diagnostics), summary=log.summary,
                           protected=log.protection_blocked(), other_errors=tuple(log.other_errors()),
                           outputs=MappingProxyType(outputs), error=err_text, error_kind=kind_,
                           timing=MappingProxyType(result.get("timing") or {}),
                           duration=duration, log_file=str(log_file))


KEEP_LOGS = 40  # engine logs kept per stack (each operation writes a .log and an .events.jsonl)


def _prune_logs(logs: Path, prefix: str) -> None:
    try:
        files = sorted(logs.glob(prefix + "*.log"), key=lambda f: f.stat().st_mtime)
    except OSError:
        return
    for old in files[:-KEEP_LOGS] if len(files) > KEEP_LOGS else []:
        old.unlink(missing_ok=True)
        old.with_suffix(".events.jsonl").unlink(missing_ok=True)


def run_many(jobs: Sequence[tuple], *, parallel: int | None = None,
             on_event: Callable[[str, ev.Event], None] | None = None, **kwargs) -> list[OperationResult]:
    """Run operations of many stacks in parallel, each in its own engine child process; results in job order."""
    from concurrent.futures import ThreadPoolExecutor

    n = max(1, min(parallel or (os.cpu_count() or 2), len(jobs) or 1))
    passphrase = kwargs.pop("passphrase", None) or read_passphrase()

    def one(job):
        op, plan, config, *own = job  # an optional 4th element: this job's own keyword arguments
        cb = (lambda e, s=plan.service.stack: on_event(s, e)) if on_event else None
        try:
            return run_operation(op, plan, config, on_event=cb, passphrase=passphrase, **kwargs,
                                 **(own[0] if own else {}))
        except GovcloudError as exc:
            return OperationResult(op=op, stack=f"{plan.service.pulumi_project}/{plan.service.stack}", ok=False,
                                   error=str(exc), error_kind="setup" if isinstance(exc, SetupError) else "engine")

    with _InterruptGuard(), ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, jobs))


# ---------------------------------------------------------------- the child


def _install_raw_event_hook() -> bool:
    """Make the Automation API hand our callback the engine's raw JSON events.

    The SDK turns each raw event into EngineEvent.from_json(...) before calling
    on_event; that parser has broken on real events (detailedDiff, unknown ops),
    dropping them. We replace the class it calls with one that keeps the raw
    dict (plus the two attributes the SDK itself reads: summary_event for
    preview results, cancel_event to stop watching a log file).
    """
    try:
        from pulumi.automation import _stack
    except ImportError:  # pragma: no cover
        return False
    if not hasattr(_stack, "EngineEvent"):
        return False

    class _Summary:
        def __init__(self, data: Mapping):
            rc = data.get("resourceChanges")
            self.resource_changes = dict(rc) if isinstance(rc, Mapping) else {}
            self.duration_seconds = data.get("durationSeconds")
            self.maybe_corrupt = data.get("maybeCorrupt")

    class RawEngineEvent:
        def __init__(self, data: Any):
            self.raw = data if isinstance(data, Mapping) else {}
            self.cancel_event = True if "cancelEvent" in self.raw else None
            s = self.raw.get("summaryEvent")
            self.summary_event = _Summary(s) if isinstance(s, Mapping) else None

        @classmethod
        def from_json(cls, data: Any) -> "RawEngineEvent":
            return cls(data)

    _stack.EngineEvent = RawEngineEvent
    return True


def _worker_main() -> int:
    """`python -m govcloud.engine --worker`: one engine operation; the request is JSON on stdin."""
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # anything printed by libraries goes to the log, never into the protocol
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, lambda s, f: None)  # the parent forwards Ctrl-C to the CLI; we keep serving
    signal.signal(signal.SIGTERM, lambda s, f: None)
    lock = threading.Lock()
    dead = {"pipe": False}

    def send(obj: dict) -> None:
        if dead["pipe"]:
            return
        with lock:
            try:
                proto.write(json.dumps(obj, default=str) + "\n")
            except (BrokenPipeError, OSError):
                dead["pipe"] = True  # the parent is gone: finish the operation anyway

    try:
        req = json.loads(sys.stdin.read())
        result = _worker_run(req, send)
        send({"t": "result", **result})
        return 0
    except GovcloudError as exc:
        send({"t": "error", "kind": "setup" if isinstance(exc, SetupError) else
              "locked" if isinstance(exc, StackLockedError) else "engine", "message": str(exc)})
        return 1
    except Exception as exc:  # noqa: BLE001 - reported to the parent, traceback in the log
        import traceback

        traceback.print_exc()
        kind, message = "crash", f"{type(exc).__name__}: {exc}"
        try:
            from pulumi.automation import errors as auto_errors

            if isinstance(exc, auto_errors.CommandError):
                message = _cli_error(exc)
                kind = "locked" if ("currently locked" in message or isinstance(
                    exc, auto_errors.ConcurrentUpdateError)) else "engine"
                if "incorrect passphrase" in message:
                    kind = "setup"
                    message = ("the passphrase (GOVCLOUD_PASSPHRASE / GOVCLOUD_PASSPHRASE_FILE) is not the one "
                               "this stack's secrets were encrypted with: " + message)
        except ImportError:  # pragma: no cover
            pass
        send({"t": "error", "kind": kind, "message": message})
        return 1


def _worker_run(req: dict, send: Callable[[dict], None]) -> dict:
    t_start = time.monotonic()
    from pulumi import automation as auto

    from govcloud.engine.program import build_program

    t_imports = time.monotonic()

    op = req["op"]
    loc = StackLocation(req["location"]["project"], req["location"]["stack"], req["location"]["backendUrl"],
                        req["location"]["stateDir"])
    plan = plan_from_json(req["plan"])
    program = build_program(plan, provider_config(plan), allow_data_loss=bool(req.get("allowDataLoss")))
    passphrase = os.environ.get("PULUMI_CONFIG_PASSPHRASE", "")
    env = _engine_env(loc, passphrase, req.get("toolchainEnv"))
    if op == "refresh-preview":
        # the CLI reads PULUMI_SKIP_CONFIRMATIONS as --yes, which it refuses next to --preview-only
        env.pop("PULUMI_SKIP_CONFIRMATIONS", None)
        os.environ.pop("PULUMI_SKIP_CONFIRMATIONS", None)
    os.environ.update(env)
    ensure_workdir(loc)
    ws = auto.LocalWorkspace(work_dir=str(loc.work_dir), program=program, env_vars=env,
                             secrets_provider="passphrase", pulumi_command=pulumi_command(req.get("pulumi")))
    try:
        stack = auto.Stack.select(loc.stack, ws)
    except auto.StackNotFoundError:
        if op in ("refresh", "refresh-preview", "destroy"):
            raise EngineError(f"stack {loc.name} does not exist: nothing was deployed from this manifest yet")
        stack = auto.Stack.create(loc.stack, ws)
    settings = loc.work_dir / f"Pulumi.{loc.stack}.yaml"
    if "pulumi:disable-default-providers" not in (settings.read_text() if settings.is_file() else ""):
        # every resource names the program's provider: one without it fails instead of using OS_* defaults
        stack.set_config("pulumi:disable-default-providers[0]", auto.ConfigValue("openstack"), path=True)

    hooked = _install_raw_event_hook()
    t_ready = time.monotonic()
    timing = {"imports": round(t_imports - t_start, 3), "setup": round(t_ready - t_imports, 3)}

    def on_event(event: Any) -> None:
        raw = getattr(event, "raw", None)
        if raw is None and not hooked:  # pragma: no cover - an SDK without the hook point
            raw = _sdk_event_to_raw(event)
        send({"t": "event", "e": raw})

    def on_output(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    common = {"on_event": on_event, "on_output": on_output, "on_error": on_output, "color": "never"}
    out: dict = {}
    if op == "preview":
        stack.preview(diff=False, refresh=bool(req.get("refresh")) or None, replace=req.get("replace") or None,
                      **common)
    elif op == "up":
        res = stack.up(replace=req.get("replace") or None, message=req.get("message"),
                       refresh=bool(req.get("refresh")) or None, **common)
        out["outputs"] = {k: ("[secret]" if v.secret else v.value) for k, v in res.outputs.items()}
    elif op == "refresh":
        stack.refresh(message=req.get("message"), run_program=True, **common)
    elif op == "refresh-preview":
        stack.preview_refresh(run_program=True, **common)
    elif op == "destroy":
        stack.destroy(message=req.get("message"), run_program=True, **common)
    else:
        raise ValueError(f"unknown operation {op}")
    timing["engine"] = round(time.monotonic() - t_ready, 3)
    out["timing"] = timing
    return out


def _sdk_event_to_raw(event: Any) -> dict:  # pragma: no cover - fallback only
    """Best effort when the SDK offers no raw events: enough for summaries and diagnostics."""
    out: dict = {"sequence": getattr(event, "sequence", 0)}
    s = getattr(event, "summary_event", None)
    if s is not None:
        out["summaryEvent"] = {"resourceChanges": {str(getattr(k, "value", k)): v for k, v in
                                                   (s.resource_changes or {}).items()}}
    d = getattr(event, "diagnostic_event", None)
    if d is not None:
        out["diagnosticEvent"] = {"message": d.message, "severity": d.severity, "urn": d.urn or ""}
    for attr, key in (("resource_pre_event", "resourcePreEvent"), ("res_outputs_event", "resOutputsEvent")):
        e = getattr(event, attr, None)
        if e is not None and e.metadata is not None:
            md = e.metadata
            out[key] = {"metadata": {"op": str(getattr(md.op, "value", md.op)), "urn": md.urn, "type": md.type,
                                     "diffs": md.diffs or []}}
    if getattr(event, "cancel_event", None) is not None:
        out["cancelEvent"] = {}
    return out


# ---------------------------------------------------------------- state edits and recovery


def _resources(deployment: Mapping | None) -> list[dict]:
    if not deployment:
        return []
    return list((deployment.get("deployment") or {}).get("resources") or [])


def deployed_resources(deployment: Mapping | None) -> list[dict]:
    """The cloud resources in a stack's state (not the stack itself, not providers)."""
    return [r for r in _resources(deployment) if not str(r.get("type", "")).startswith("pulumi:")
            and not r.get("delete")]


def unprotect(cli: Cli, urns: Iterable[str] | None = None) -> list[str]:
    """Clear protect and retainOnDelete in the state (all resources when urns is None); the URNs changed."""
    dep = cli.export()
    if dep is None:
        return []
    want = None if urns is None else set(urns)
    changed = []
    for r in _resources(dep):
        if (want is None or r.get("urn") in want) and (r.get("protect") or r.get("retainOnDelete")):
            r["protect"] = False
            r["retainOnDelete"] = False
            changed.append(r["urn"])
    if changed:
        cli.import_(dep)
    return changed


@dataclass(frozen=True)
class Recovery:
    notes: tuple[str, ...] = ()
    needs_refresh: bool = False
    deployment: dict | None = None  # the state as found (before the repair), None when the stack does not exist


def recover(plan: ResourcePlan, config: ConfigRepo, cli: Cli | None = None) -> Recovery:
    """Repair what an interrupted or killed run left: stale engine locks and pending operations.

    Raises StackLockedError when a live run holds the stack. Returns notes for
    the user and whether a refresh must follow (it must after pending
    operations were resolved).
    """
    loc = locate(plan, config)
    notes = list(clear_stale_engine_locks(loc))
    cli = cli or Cli(loc, read_passphrase())
    dep = cli.export()
    pending = list(((dep or {}).get("deployment") or {}).get("pending_operations") or [])
    if not pending:
        return Recovery(tuple(notes), False, dep)
    creates = [op for op in pending if op.get("type") == "creating"]
    conn = connect(plan.service.cloud, plan.service.project, plan.service.region) if creates else None
    resources = dep["deployment"].setdefault("resources", [])
    in_state = {r.get("urn") for r in resources}
    for op in pending:
        res = op.get("resource") or {}
        urn = res.get("urn", "?")
        key = ev.urn_parts(urn)[1]
        if op.get("type") != "creating":
            notes.append(f"{key}: dropped the pending '{op.get('type')}' of the interrupted run "
                         f"(the refresh reads its real state)")
            continue
        if urn in in_state:
            notes.append(f"{key}: dropped a pending create of a resource already in the state")
            continue
        tracked = {r.get("id") for r in resources if r.get("type") == res.get("type") and r.get("id")}
        found = find_in_cloud(conn, res.get("type", ""), res.get("inputs") or {}, exclude=tracked)
        if found:
            # the state a finished create would have left: its inputs as the last known outputs (so the
            # refresh reads the resource as a known one and keeps what the cloud API cannot report back,
            # e.g. a server's port and scheduler hints), plus the cloud id
            adopted = {k: v for k, v in res.items() if k not in ("outputs", "id")}
            adopted.update({"id": found, "custom": True, "outputs": dict(res.get("inputs") or {})})
            resources.append(adopted)
            in_state.add(urn)
            notes.append(f"{key}: the interrupted run had created it ({found}); adopted into the state, "
                         f"not created again")
        else:
            notes.append(f"{key}: the interrupted run had not created it; the pending create was dropped")
    dep["deployment"]["pending_operations"] = []
    cli.import_(dep)
    return Recovery(tuple(notes), True, dep)


def find_in_cloud(conn: Any, rtype: str, inputs: Mapping[str, Any], exclude: Iterable[str] = ()) -> str | None:
    """The id (as the provider records it) of the cloud resource a pending create was making, or None.

    Resources whose id is in `exclude` (already in the state) never match.
    """
    name = inputs.get("name")
    skip = set(exclude)

    def _one(items: Iterable[Any], pred: Callable[[Any], bool] = lambda x: True) -> str | None:
        for item in items:
            if item.id not in skip and pred(item):
                return item.id
        return None

    try:
        if rtype == NETWORK:
            return _one(conn.network.networks(name=name))
        if rtype == SUBNET:
            return _one(conn.network.subnets(name=name))
        if rtype == ROUTER:
            return _one(conn.network.routers(name=name))
        if rtype == SECGROUP:
            return _one(conn.network.security_groups(name=name))
        if rtype == PORT:
            return _one(conn.network.ports(name=name))
        if rtype == SECGROUP_RULE:
            def same(r):
                return (r.direction == inputs.get("direction") and r.ether_type == inputs.get("ethertype")
                        and (r.protocol or "") == (inputs.get("protocol") or "")
                        and (r.port_range_min or 0) == (inputs.get("portRangeMin") or 0)
                        and (r.port_range_max or 0) == (inputs.get("portRangeMax") or 0)
                        and (r.remote_ip_prefix or "") == (inputs.get("remoteIpPrefix") or ""))
            return _one(conn.network.security_group_rules(security_group_id=inputs.get("securityGroupId")), same)
        if rtype == ROUTER_INTERFACE:
            return _one(conn.network.ports(device_id=inputs.get("routerId")),
                        lambda p: any(ip.get("subnet_id") == inputs.get("subnetId") for ip in p.fixed_ips or []))
        if rtype == FLOATING_IP:
            return _one(conn.network.ips(description=inputs.get("description")),
                        lambda ip: ip.description == inputs.get("description"))
        if rtype == FLOATING_IP_ASSOCIATE:
            return _one(conn.network.ips(floating_ip_address=inputs.get("floatingIp")),
                        lambda ip: ip.port_id == inputs.get("portId"))
        if rtype == INSTANCE:
            return _one(conn.compute.servers(name=f"^{re.escape(str(name))}$"), lambda s: s.name == name)
        if rtype == SERVER_GROUP:
            return _one(conn.compute.server_groups(), lambda g: g.name == name)
        if rtype == KEYPAIR:
            kp = conn.compute.find_keypair(name)
            return kp.name if kp and kp.name not in skip else None
        if rtype == VOLUME:
            return _one(conn.block_storage.volumes(name=name), lambda v: v.name == name)
        if rtype == VOLUME_ATTACH:
            server, volume = inputs.get("instanceId"), inputs.get("volumeId")
            for a in conn.compute.volume_attachments(server):
                if a.volume_id == volume and f"{server}/{a.id or volume}" not in skip:
                    return f"{server}/{a.id or volume}"
            return None
        if rtype == CONTAINER:
            try:
                conn.object_store.get_container_metadata(name)
                return name if name not in skip else None
            except Exception:  # noqa: BLE001 - not found
                return None
    except Exception:  # noqa: BLE001 - a failed lookup means "not found": the refresh and next up settle it
        return None
    return None


# ---------------------------------------------------------------- what a change means


@dataclass(frozen=True)
class DataLossRisk:
    key: str
    type: str
    op: str
    reason: str

    def describe(self) -> str:
        return f"{self.key} ({self.type.rsplit(':', 1)[-1]}): {self.reason}"


def data_loss_risks(changes: Iterable[ev.ResourceChange], protected: Iterable[str] = ()) -> list[DataLossRisk]:
    """Changes that lose data: deleting or replacing a volume or bucket (or anything protected: `protected`,
    the keys the engine refused to touch); rebuilding a server on a new image."""
    out = []
    changes = list(changes)
    for c in changes:
        if c.type in STATEFUL_TYPES and c.op in ("delete", "replace"):
            out.append(DataLossRisk(c.key, c.type, c.op, f"would be {'deleted' if c.op == 'delete' else 'replaced'}"
                                    f" with the data it holds"))
        elif c.type == INSTANCE and c.op == "update" and any(
                ev.split_path(p)[0] in ("imageName", "imageId") for p in c.changed):
            out.append(DataLossRisk(c.key, c.type, c.op, "a new image rebuilds the server and empties its root disk"))
    seen = {r.key for r in out}
    by_key = {c.key: c for c in changes}
    for key in protected:
        if key not in seen:
            c = by_key.get(key)
            out.append(DataLossRisk(key, c.type if c else "", c.op if c else "delete",
                                    "is protected (it holds data) and would be deleted or replaced"))
    return out


def _deployed_inputs(plan: ResourcePlan, deployment: Mapping | None, type_: str):
    """(plan entry, its deployed inputs) for the plan's entries of one type that the stack holds."""
    state = {ev.urn_parts(r.get("urn", ""))[1]: r for r in deployed_resources(deployment) if r.get("type") == type_}
    for entry in plan.resources:
        r = state.get(entry.key)
        if entry.type == type_ and r is not None:
            yield entry, r.get("inputs") or {}


def volume_shrinks(plan: ResourcePlan, deployment: Mapping | None) -> dict[str, str]:
    """Deployed volumes the plan makes smaller: key -> why govcloud replaces them.

    Cinder only extends; the provider would try an in-place update that the cloud refuses half way through
    a deploy. govcloud asks the engine to replace these volumes instead, so the review shows a replacement
    (data loss: the guard refuses it without --allow-data-loss) and the deploy does what it showed.
    """
    out = {}
    for entry, inputs in _deployed_inputs(plan, deployment, VOLUME):
        old, new = inputs.get("size"), entry.inputs.get("size")
        if isinstance(old, (int, float)) and isinstance(new, (int, float)) and new < old:
            out[entry.key] = f"size {old:g} -> {new:g} GB: a volume cannot shrink"
    return out


def user_data_drift(plan: ResourcePlan, deployment: Mapping | None) -> list[str]:
    """Keys of deployed servers whose user data differs from the plan's (not applied: ignore_changes)."""
    return [entry.key for entry, inputs in _deployed_inputs(plan, deployment, INSTANCE)
            if isinstance(inputs.get("userData"), str) and inputs["userData"] != entry.inputs.get("user_data")]

if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        sys.exit(_worker_main())
    print("usage: python -m govcloud.engine --worker  (run by govcloud itself)", file=sys.stderr)
    sys.exit(2)
