"""The Pulumi CLI the engine runs: found once per process through govcloud.engine.toolchain, and the
environment every engine process gets (PATH, no update check, no plugin downloads, the passphrase
and the backend).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from govcloud.engine.stack import StackLocation, repair_sidecars
from govcloud.shared.db import SharedDatabase, is_postgres_url
from govcloud.errors import EngineError, SetupError


@dataclass(frozen=True)
class PulumiTool:
    """The toolchain's Pulumi CLI: its path and version (as `pulumi version` printed them)."""

    command: str
    version: str


_FOUND: dict[str, Any] = {}  # this process's PulumiTool ("tool") and PulumiCommand ("cmd"), found once


_TOOLCHAIN_ENV: dict[str, str] = {}


def pulumi_tool(known: Mapping[str, str] | None = None) -> PulumiTool:
    """The toolchain's CLI; SetupError (how to fix) when the CLI or plugin is missing.

    Found once per process, without importing the Pulumi SDK (0.2 s: a parent that only starts engine
    children never needs it). `known` ({"path", "version"}, as the parent found them) skips the search in
    engine children.
    """
    if "tool" in _FOUND:
        return _FOUND["tool"]
    if known:
        _FOUND["tool"] = PulumiTool(known["path"], known["version"])
        return _FOUND["tool"]
    from govcloud.engine import toolchain

    try:
        info = toolchain.find_pulumi()
        plugin = toolchain.find_openstack_plugin()
    except toolchain.ToolchainError as exc:
        raise SetupError(str(exc)) from None
    if info is None:
        raise SetupError(f"the Pulumi CLI is missing: {toolchain.install_hint()}")
    if plugin is None or plugin.source == toolchain.SOURCE_BUILD_CACHE:
        raise SetupError("the OpenStack resource plugin is not installed where the engine looks: "
                         + toolchain.install_hint())
    _FOUND["tool"] = PulumiTool(str(info.path), info.version)
    if not _TOOLCHAIN_ENV:
        # toolchain.engine_env() for this CLI (it would search for the CLI once more)
        bin_dir = str(info.path.parent)
        parts = [x for x in os.environ.get("PATH", "").split(os.pathsep) if x and x != bin_dir]
        _TOOLCHAIN_ENV.update({"PATH": os.pathsep.join([bin_dir, *parts]), "PULUMI_SKIP_UPDATE_CHECK": "true",
                               "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"})
    return _FOUND["tool"]


def pulumi_command(known: Mapping[str, str] | None = None):
    """The Automation API's PulumiCommand for the toolchain's CLI (pulumi_tool), made once per process.

    Made with the version already known: the usual constructor runs `pulumi version` again, a sixth of a
    second per process."""
    if "cmd" in _FOUND:
        return _FOUND["cmd"]
    tool = pulumi_tool(known)
    from pulumi.automation import PulumiCommand
    from semver import VersionInfo

    class KnownPulumi(PulumiCommand):
        def __init__(self):  # noqa: D107 - deliberately not calling PulumiCommand.__init__
            self.command = tool.command
            self.version = VersionInfo.parse(tool.version.lstrip("v"))

    _FOUND["cmd"] = KnownPulumi()
    return _FOUND["cmd"]


def engine_env(loc: StackLocation, passphrase: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The engine's environment: the toolchain's (PATH, no update check, no plugin downloads; computed once
    per process, or `base` as the parent computed it) plus the passphrase and the backend."""
    if base is None:
        if not _TOOLCHAIN_ENV:
            pulumi_tool()
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
    """The Pulumi project directory of the stack (Pulumi.yaml written once, atomically), and the directory of
    a file:// backend (the engine does not create it), without the empty sidecars a killed engine leaves
    (stack.repair_sidecars; recovery reports them), or the table of a postgres:// backend."""
    wd = loc.work_dir
    wd.mkdir(parents=True, exist_ok=True)
    backend = loc.backend_path()
    if backend is not None:  # readable by its owner only: it holds the state of every stack in it
        backend.mkdir(parents=True, exist_ok=True, mode=0o700)
        repair_sidecars(loc)
    elif is_postgres_url(loc.backend_url):  # its table, made once (the CLI's own create races: shared/db.py)
        SharedDatabase(loc.backend_url).ensure_state_table()
    # every resource names the program's provider: with the default providers off, one that did not would fail
    # instead of using the OS_* defaults (project config: every stack has it from its creation on, no CLI run)
    want = (f"name: {loc.project}\nruntime: python\n"
            f"description: govcloud stacks of agency {loc.project.removeprefix('govcloud-')} (managed by govcloud)\n"
            f"backend:\n  url: {json.dumps(loc.backend_url)}\n"
            f"config:\n  pulumi:disable-default-providers:\n    value:\n      - openstack\n")
    path = wd / "Pulumi.yaml"
    if not path.is_file() or path.read_text(encoding="utf-8") != want:
        tmp = wd / f".Pulumi.yaml.{os.getpid()}"
        tmp.write_text(want, encoding="utf-8")
        os.replace(tmp, path)
    return wd


class WrongPassphrase(SetupError):
    """The passphrase is not the one the stack's secrets were encrypted with (another agency's, or a typo)."""


def is_wrong_passphrase(message: str) -> bool:
    return "incorrect passphrase" in message


def wrong_passphrase(stack: str, message: str) -> WrongPassphrase:
    return WrongPassphrase(
        f"the passphrase (GOVCLOUD_PASSPHRASE / GOVCLOUD_PASSPHRASE_FILE) is not the one the secrets of {stack} "
        f"were encrypted with, so they cannot be read: use this stack's own passphrase ({message.strip()})")


class PulumiCli:
    """The Pulumi CLI for one stack, for operations that do not run the program (state, outputs, history)."""

    def __init__(self, loc: StackLocation, passphrase: str | None = None):
        self.loc = loc
        pulumi_tool()  # fail early, with how to fix it, when the toolchain is missing
        self.env = engine_env(loc, passphrase or "")
        if not passphrase:
            self.env.pop("PULUMI_CONFIG_PASSPHRASE", None)
        ensure_workdir(loc)

    @property
    def cmd(self):
        """The PulumiCommand that runs the CLI (the SDK is imported on the first run, not before)."""
        return pulumi_command()

    def run(self, *args: str, stack: bool = True) -> str:
        from pulumi.automation.errors import CommandError

        argv = list(args) + (["--stack", self.loc.stack] if stack else [])
        try:
            return self.cmd.run(argv, str(self.loc.work_dir), self.env).stdout
        except CommandError as exc:
            text = cli_error_text(exc)
            if is_wrong_passphrase(text):
                raise wrong_passphrase(self.loc.name, text) from None
            raise EngineError(text) from None

    def exists(self) -> bool:
        if self.loc.backend_path() is not None:
            return self.loc.has_checkpoint()
        return self.export() is not None  # never `stack ls`: listing a shared backend takes minutes at scale

    def export(self) -> dict | None:
        """The stack's deployment (secrets stay encrypted), or None when the stack does not exist.

        A file:// backend's checkpoint is read directly (what `pulumi stack export` prints, without
        starting the CLI: half a second saved on every deploy); other backends go through the CLI.
        """
        path = self.loc.checkpoint_path()
        if path is not None:
            if not path.is_file():
                return None if not self.exists() else json.loads(self.run("stack", "export"))
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                return {"version": data["version"], "deployment": data["checkpoint"]["latest"] or {}}
            except (OSError, ValueError, KeyError, TypeError):
                pass  # another layout (a newer CLI): ask the CLI
        try:
            return json.loads(self.run("stack", "export"))
        except EngineError as exc:
            if "no stack named" in str(exc):
                return None
            raise

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
        """The stack outputs, decrypted: the program stores them as secrets (only this stack's passphrase reads
        them; WrongPassphrase otherwise)."""
        return json.loads(self.run("stack", "output", "--json", "--show-secrets") or "{}")

    def _tags_file(self) -> Path | None:
        """A file:// backend's tags file of the stack: `{"version": 1, "tags": {...}}` beside the checkpoint."""
        checkpoint = self.loc.checkpoint_path()
        return None if checkpoint is None else checkpoint.with_name(f"{self.loc.stack}.pulumi-tags")

    def _read_tags_file(self, path: Path) -> dict | None:
        """The tags file's document when it has the layout this code knows (else None: ask the CLI)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("tags"), dict):
            return None
        return data

    def tags(self) -> dict[str, str]:
        """The stack's tags in its backend (a file:// backend's tags file is read directly)."""
        path = self._tags_file()
        if path is not None:
            if not path.exists():
                return {}
            data = self._read_tags_file(path)
            if data is not None:
                return {str(k): str(v) for k, v in data["tags"].items()}
        return {str(k): str(v) for k, v in json.loads(self.run("stack", "tag", "ls", "--json") or "{}").items()}

    def set_tag(self, name: str, value: str) -> None:
        """Set one tag. A file:// backend's tags file is rewritten directly (atomically, under the stack lock the
        caller holds) when it has the known layout: the CLI run it replaces costs 0.2-0.3 s of every deploy."""
        path = self._tags_file()
        data = self._read_tags_file(path) if path is not None else None
        if path is None or data is None:
            self.run("stack", "tag", "set", name, value)  # no tags file yet, another layout, another backend
            return
        data["tags"][name] = value
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, path.stat().st_mode & 0o777)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=4)
        os.replace(tmp, path)
        # its fileblob sidecar holds the old content's MD5; a missing sidecar is read as none (stack.repair_sidecars)
        path.with_name(path.name + ".attrs").unlink(missing_ok=True)

    def history(self, limit: int | None = None) -> list[dict]:
        args = ["stack", "history", "--json"]
        if limit:
            args += ["--page-size", str(limit), "--page", "1"]
        return json.loads(self.run(*args) or "[]")

    def cancel(self) -> None:
        self.run("cancel", "--yes")


def cli_error_text(exc: Any) -> str:
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
