"""The Pulumi toolchain govcloud drives: finding and checking the `pulumi` CLI and the OpenStack resource plugin.

The CLI is the user's own `pulumi` on PATH (the SDK's major version), else govcloud's build in
<toolchain_dir>/pulumi-v<cli>/bin/pulumi. The plugin is the one the engine will load: a
`pulumi-resource-openstack` of the pinned version on PATH, else $PULUMI_HOME/plugins/resource-openstack-v<plugin>/
(else <toolchain_dir>/openstack-v<plugin>/bin/, built but not installed). The versions are the pins of
`pulumi` and `pulumi-openstack` in pyproject.toml, read back from the installed packages' metadata.

Building the tools from Go modules is not the package's: scripts/toolchain/build.py in a govcloud checkout
(docs/toolchain.md). Only the standard library is imported at import time (every CLI command imports this).

    python -m govcloud.engine.toolchain status     what is found, its version and where from
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = [
    "PROVENANCE", "SOURCE_BUILD_CACHE", "SOURCE_PATH", "SOURCE_PLUGIN_CACHE", "ToolInfo", "ToolchainError",
    "ToolchainVersions", "build_provenance", "cli_version", "engine_env", "find_openstack_plugin", "find_pulumi",
    "install_hint", "openstack_plugin_path", "pinned_versions", "plugin_cache_dir", "pulumi_build_path",
    "run_version", "status", "toolchain_dir", "version_key",
]

SOURCE_PATH = "user's PATH"
SOURCE_BUILD_CACHE = "govcloud build cache"
SOURCE_PLUGIN_CACHE = "pulumi plugin cache"

VERSION_CACHE = "cli-versions.json"
PROVENANCE = "govcloud-build.json"  # what a govcloud build was made from, beside (or above) its bin/

_PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


class ToolchainError(Exception):
    """A tool could not be found, built or installed; the message says what and where the log is."""


@dataclass(frozen=True)
class ToolchainVersions:
    pulumi: str  # the pulumi Python SDK, e.g. "3.272.0"
    pulumi_openstack: str  # the pulumi_openstack SDK = the plugin version, e.g. "5.5.3"


@dataclass(frozen=True)
class ToolInfo:
    path: Path
    version: str  # as the tool reports it, without a leading "v"
    source: str  # SOURCE_PATH | SOURCE_BUILD_CACHE | SOURCE_PLUGIN_CACHE


# ---------------------------------------------------------------- versions


def _pin_from_pyproject(dist: str, pyproject: Path = _PYPROJECT) -> str | None:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    sep = re.compile(r"[-_.]+")
    for m in re.finditer(r"""["']\s*([A-Za-z0-9_.\-]+)\s*==\s*([^"';,\s]+)\s*["']""", text):
        if sep.sub("-", m.group(1)).lower() == sep.sub("-", dist).lower():
            return m.group(2)
    return None


def pinned_versions(pyproject: Path | None = None) -> ToolchainVersions:
    """The pulumi and pulumi-openstack versions: installed metadata first, else the pins."""
    from importlib import metadata

    found = {}
    for dist in ("pulumi", "pulumi_openstack"):
        try:
            v = metadata.version(dist)
        except metadata.PackageNotFoundError:
            v = _pin_from_pyproject(dist, pyproject or _PYPROJECT)
        if not v:
            raise ToolchainError(f"cannot tell which {dist} version to use: it is not installed and "
                                 f"{pyproject or _PYPROJECT} has no '{dist.replace('_', '-')}==X.Y.Z' pin")
        found[dist] = v
    return ToolchainVersions(pulumi=found["pulumi"], pulumi_openstack=found["pulumi_openstack"])


def version_key(v: str):
    """`v` ("3.274.1", "v3.274.1") as a `semver.Version`, which orders versions as Pulumi's own CLI check does.

    Raises ValueError for what is not a semantic version.
    """
    from semver import Version

    return Version.parse(v.strip().lstrip("v"))


def _version_or_none(v: str):
    try:
        return version_key(v)
    except ValueError:
        return None


# ---------------------------------------------------------------- where things go


def toolchain_dir() -> Path:
    from govcloud.settings import env as settings_env  # pydantic loads only when a path is asked for

    env = settings_env("GOVCLOUD_TOOLCHAIN_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "govcloud" / "toolchain"


def pulumi_build_path(cli_version: str, base: Path | None = None) -> Path:
    return (base or toolchain_dir()) / f"pulumi-v{cli_version.lstrip('v')}" / "bin" / "pulumi"


def openstack_plugin_path(plugin_version: str, base: Path | None = None) -> Path:
    return (base or toolchain_dir()) / f"openstack-v{plugin_version.lstrip('v')}" / "bin" / "pulumi-resource-openstack"


def plugin_cache_dir() -> Path:
    from govcloud.settings import env as settings_env

    home = settings_env("PULUMI_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".pulumi") / "plugins"


def build_provenance(exe: Path) -> dict:
    """What govcloud built `exe` from (PROVENANCE beside it, as in the plugin cache, or above its bin/); {} else."""
    import json

    for p in (exe.parent / PROVENANCE, exe.parent.parent / PROVENANCE):
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data:
            return data
    return {}


# ---------------------------------------------------------------- discovery


def run_version(cmd: list[str], timeout: float = 20) -> str | None:
    """Run a tool's version command (`pulumi version`, `pulumi-resource-openstack -version`): the version it prints."""
    import subprocess

    env = dict(os.environ, PULUMI_SKIP_UPDATE_CHECK="true")
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    if cp.returncode != 0:
        return None
    m = re.search(r"v?(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.\-+]*)?)", cp.stdout.strip())
    return m.group(1) if m else None


def cli_version(exe: str | os.PathLike[str]) -> str | None:
    """`<exe> version`, remembered per binary (path, size, mtime) in the toolchain dir.

    Running `pulumi version` costs a sixth of a second on every command that uses the engine; a binary
    that is replaced or rebuilt has another size or mtime, so it is asked again.
    """
    import json

    try:
        st = Path(exe).resolve().stat()
    except OSError:
        return None
    key = f"{Path(exe).resolve()}|{st.st_size}|{st.st_mtime_ns}"
    cache_file = toolchain_dir() / VERSION_CACHE
    try:
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    cache = cache if isinstance(cache, dict) else {}
    if isinstance(cache.get(key), str):
        return cache[key]
    v = run_version([str(exe), "version"])
    if v:
        cache = {k: x for k, x in cache.items() if not k.startswith(f"{Path(exe).resolve()}|")}
        cache[key] = v
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_name(f".{VERSION_CACHE}.{os.getpid()}")
            tmp.write_text(json.dumps(cache, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, cache_file)
        except OSError:
            pass  # a read-only cache dir: asked again next time
    return v


def _inside(path: Path, base: Path) -> bool:
    return path.resolve().is_relative_to(base.resolve())


def find_pulumi(versions: ToolchainVersions | None = None) -> ToolInfo | None:
    """The `pulumi` CLI to use: the user's own on PATH (same major version), else govcloud's build."""
    import shutil

    versions = versions or pinned_versions()
    base = toolchain_dir()
    on_path = shutil.which("pulumi")
    sdk = version_key(versions.pulumi)
    if on_path and not _inside(Path(on_path), base):
        v = cli_version(on_path)
        if v and (found := _version_or_none(v)) and found.major == sdk.major:
            return ToolInfo(Path(on_path), v, SOURCE_PATH)
    built = [(key, exe) for exe in base.glob("pulumi-v*/bin/pulumi") if exe.is_file() and os.access(exe, os.X_OK)
             and (key := _version_or_none(exe.parent.parent.name[len("pulumi-v"):]))]
    # the exact SDK version, else the oldest newer build of the same major (minor ascending, its last patch)
    ranked = sorted((b for b in built if b[0].major == sdk.major and b[0] >= sdk),
                    key=lambda b: (b[0] != sdk, b[0].minor, -b[0].patch))
    for _, exe in ranked:
        v = cli_version(exe)
        if v:
            return ToolInfo(exe, v, SOURCE_BUILD_CACHE)
    return None


def find_openstack_plugin(versions: ToolchainVersions | None = None) -> ToolInfo | None:
    """The OpenStack plugin the engine will load for the pinned SDK version, or None.

    Order as the engine looks: a `pulumi-resource-openstack` of that version on PATH (an ambient plugin),
    then Pulumi's plugin cache, then govcloud's build cache (built but not installed yet).
    """
    import shutil

    versions = versions or pinned_versions()
    want = versions.pulumi_openstack
    on_path = shutil.which("pulumi-resource-openstack")
    if on_path and not _inside(Path(on_path), toolchain_dir()):
        v = run_version([on_path, "-version"])
        if v and _version_or_none(v) == version_key(want):
            return ToolInfo(Path(on_path), v, SOURCE_PATH)
    d = plugin_cache_dir() / f"resource-openstack-v{want}"
    cached = d / "pulumi-resource-openstack"
    if cached.is_file() and not (d.parent / f"resource-openstack-v{want}.partial").exists():
        return ToolInfo(cached, want, SOURCE_PLUGIN_CACHE)
    built = openstack_plugin_path(want)
    if built.is_file() and os.access(built, os.X_OK):
        return ToolInfo(built, want, SOURCE_BUILD_CACHE)
    return None


def engine_env(versions: ToolchainVersions | None = None) -> dict[str, str]:
    """Environment additions for running the Pulumi engine (Automation API, `pulumi` itself).

    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK is deliberately not set: the CLI is the SDK's version (or a
    newer one of the same major), so the check passes. PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION exists in
    this Pulumi (sdk/go/common/env): a missing plugin is an error, never a download.
    """
    info = find_pulumi(versions)
    bin_dir = str(info.path.parent if info else pulumi_build_path((versions or pinned_versions()).pulumi).parent)
    parts = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != bin_dir]
    return {"PATH": os.pathsep.join([bin_dir, *parts]), "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"}


# ---------------------------------------------------------------- telling the user


def install_hint(versions: ToolchainVersions | None = None) -> str:
    """How to get the CLI and the plugin: what a user of the installed package can do, then the checkout's way."""
    try:
        versions = versions or pinned_versions()
        cli, plugin = f"{version_key(versions.pulumi).major}.x (>= {versions.pulumi})", versions.pulumi_openstack
    except (ToolchainError, ValueError):
        cli, plugin = "3.x", "<the pulumi-openstack version>"
    return (f"install the Pulumi CLI {cli} so that PATH finds it, and the OpenStack resource plugin with "
            f"`pulumi plugin install resource openstack {plugin}`; in a govcloud checkout, "
            f"scripts/install-toolchain builds both from Go modules; `govcloud doctor` shows what is found")


def status(log: Callable[[str], object] = print) -> bool:
    """Print each tool, its version and where it comes from; True when both are usable."""
    versions = pinned_versions()
    log(f"pinned: pulumi {versions.pulumi}, pulumi-openstack {versions.pulumi_openstack}")
    log(f"build cache: {toolchain_dir()}")
    log(f"plugin cache: {plugin_cache_dir()}")
    ok = True
    p = find_pulumi(versions)
    if p:
        older = version_key(p.version) < version_key(versions.pulumi)
        note = f" (older than the SDK {versions.pulumi})" if older else ""
        log(f"pulumi: {p.version} at {p.path} ({p.source}){note}")
    else:
        ok = False
        log("pulumi: missing")
    o = find_openstack_plugin(versions)
    if o:
        prov = build_provenance(o.path)
        built = f"; built by govcloud from {prov['terraform_provider']}" if prov.get("terraform_provider") else ""
        log(f"openstack plugin: {o.version} at {o.path} ({o.source}{built})")
        if o.source == SOURCE_BUILD_CACHE:
            ok = False
            log("openstack plugin: built but not installed into the plugin cache: "
                f"pulumi plugin install resource openstack {o.version} --file {o.path}")
    else:
        ok = False
        log("openstack plugin: missing")
    if not ok:
        log(f"to fix: {install_hint(versions)}")
    return ok


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["install"]:
        print("govcloud toolchain: `install` is not part of the package; to get the Pulumi CLI and the OpenStack "
              f"plugin, {install_hint()}", file=sys.stderr)
        return 2
    if argv != ["status"]:
        print("usage: python -m govcloud.engine.toolchain status", file=sys.stderr)
        return 2
    try:
        return 0 if status() else 1
    except ToolchainError as e:
        print(f"govcloud toolchain: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
