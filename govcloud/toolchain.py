"""The Pulumi toolchain govcloud drives: the `pulumi` CLI and the OpenStack resource plugin.

Nothing here downloads a prebuilt binary. Both tools are Go programs built
from Go modules (the Go module proxy is the one place they come from), once,
into a versioned build cache, and the plugin is then installed into Pulumi's
own plugin cache so the engine never tries to acquire it:

    <toolchain_dir>/pulumi-v<cli>/bin/pulumi
    <toolchain_dir>/openstack-v<plugin>/bin/pulumi-resource-openstack
    <toolchain_dir>/logs/<what>-<time>.log
    $PULUMI_HOME/plugins/resource-openstack-v<plugin>/   (via `pulumi plugin install --file`)

Versions are written in one place only, the pins of `pulumi` and
`pulumi-openstack` in pyproject.toml; they are read back from the installed
packages' metadata (or, without them, from the pins themselves).

A user's own `pulumi` on PATH with the same major version wins over a build.

This module imports only the standard library, and little of it at import time:
`import govcloud.toolchain` must stay cheap for every CLI command.

    python -m govcloud.toolchain status     what is found, its version and where from
    python -m govcloud.toolchain install    build what is missing (idempotent)
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

__all__ = [
    "SOURCE_BUILD_CACHE",
    "SOURCE_PATH",
    "SOURCE_PLUGIN_CACHE",
    "ToolInfo",
    "Toolchain",
    "ToolchainError",
    "ToolchainVersions",
    "engine_env",
    "find_openstack_plugin",
    "find_pulumi",
    "install",
    "openstack_plugin_path",
    "pinned_versions",
    "plugin_cache_dir",
    "pulumi_build_path",
    "status",
    "toolchain_dir",
]

SOURCE_PATH = "user's PATH"
SOURCE_BUILD_CACHE = "govcloud build cache"
SOURCE_PLUGIN_CACHE = "pulumi plugin cache"

PULUMI_PKG_MODULE = "github.com/pulumi/pulumi/pkg/v3"
PULUMI_SDK_MODULE = "github.com/pulumi/pulumi/sdk/v3"
PULUMI_VERSION_VAR = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"

# The OpenStack plugin is the upstream Terraform OpenStack provider served
# through pulumi-terraform-bridge, with the resource and function tokens of the
# installed pulumi_openstack SDK. (pulumi-openstack's own provider module is not
# served by the Go module proxy these machines reach; see docs/toolchain.md.)
# These three are build inputs of the plugin, like the lines of a go.mod.
TF_OPENSTACK_MODULE = "github.com/terraform-provider-openstack/terraform-provider-openstack/v3"
TF_OPENSTACK_VERSION = "v3.4.0"
BRIDGE_MODULE = "github.com/pulumi/pulumi-terraform-bridge/v3"
BRIDGE_VERSION = "v3.120.0"
# replace directives the wrapper module must repeat (replaces of dependencies
# are ignored by Go): the bridge needs Pulumi's fork of the plugin SDK.
PLUGIN_REPLACES = {
    "github.com/hashicorp/terraform-plugin-sdk/v2": (
        "github.com/pulumi/terraform-plugin-sdk/v2",
        "v2.0.0-20250923233607-7f1981c8674a",
    ),
}
# Bump when the plugin recipe (wrapper source, mapping rules) changes: a
# plugin built by another recipe is rebuilt.
PLUGIN_RECIPE = f"bridge-{BRIDGE_VERSION}+tf-openstack-{TF_OPENSTACK_VERSION}+r1"

_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


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


@dataclass(frozen=True)
class Toolchain:
    pulumi: ToolInfo
    openstack: ToolInfo


# ---------------------------------------------------------------- versions


def _pin_from_pyproject(dist: str, pyproject: Path = _PYPROJECT) -> str | None:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    want = _normalize_dist(dist)
    for m in re.finditer(r"""["']\s*([A-Za-z0-9_.\-]+)\s*==\s*([^"';,\s]+)\s*["']""", text):
        if _normalize_dist(m.group(1)) == want:
            return m.group(2)
    return None


def _normalize_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed_version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def pinned_versions(pyproject: Path | None = None) -> ToolchainVersions:
    """The pulumi and pulumi-openstack versions: installed metadata first, else the pins."""
    found = {}
    for dist in ("pulumi", "pulumi_openstack"):
        v = _installed_version(dist) or _pin_from_pyproject(dist, pyproject or _PYPROJECT)
        if not v:
            raise ToolchainError(
                f"cannot tell which {dist} version to use: it is not installed and "
                f"{pyproject or _PYPROJECT} has no '{dist.replace('_', '-')}==X.Y.Z' pin"
            )
        found[dist] = v
    return ToolchainVersions(pulumi=found["pulumi"], pulumi_openstack=found["pulumi_openstack"])


def _vkey(v: str) -> tuple[int, ...]:
    nums = re.findall(r"\d+", v.lstrip("v").split("-")[0].split("+")[0])
    return tuple(int(n) for n in nums[:3]) + (0,) * (3 - len(nums[:3]))


def _major(v: str) -> int:
    return _vkey(v)[0]


def cli_candidates(sdk_version: str, available: Iterable[str]) -> list[str]:
    """CLI versions to try for an SDK version, best first.

    The exact SDK version first; then (when the module proxy does not serve it)
    newer releases of the same major version, oldest minor first and within a
    minor its last patch. A newer CLI serves an older SDK (the Automation API
    only requires a minimum version); an older one is never picked.
    """
    want = _vkey(sdk_version)
    vs = {("v" + a.lstrip("v")) for a in available if re.fullmatch(r"v?\d+\.\d+\.\d+", a.strip())}
    out = []
    exact = "v" + sdk_version.lstrip("v")
    if exact in vs:
        out.append(exact)
    newer = [v for v in vs if _vkey(v)[0] == want[0] and _vkey(v) > want]
    newer.sort(key=lambda v: (_vkey(v)[1], -_vkey(v)[2]))
    out += [v for v in newer if v not in out]
    if exact not in out:
        out.insert(0, exact)  # always try the exact one: a version list can be incomplete
    return out


# ---------------------------------------------------------------- where things go


def toolchain_dir() -> Path:
    env = os.environ.get("GOVCLOUD_TOOLCHAIN_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "govcloud" / "toolchain"


def pulumi_build_path(cli_version: str, base: Path | None = None) -> Path:
    return (base or toolchain_dir()) / f"pulumi-v{cli_version.lstrip('v')}" / "bin" / "pulumi"


def openstack_plugin_path(plugin_version: str, base: Path | None = None) -> Path:
    return (base or toolchain_dir()) / f"openstack-v{plugin_version.lstrip('v')}" / "bin" / "pulumi-resource-openstack"


def plugin_cache_dir() -> Path:
    home = os.environ.get("PULUMI_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".pulumi") / "plugins"


def _built_pulumis(base: Path) -> list[tuple[str, Path]]:
    out = []
    for d in base.glob("pulumi-v*"):
        exe = d / "bin" / "pulumi"
        if exe.is_file() and os.access(exe, os.X_OK):
            out.append((d.name[len("pulumi-v"):], exe))
    return out


# ---------------------------------------------------------------- discovery


def _run_version(cmd: list[str], timeout: float = 20) -> str | None:
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


VERSION_CACHE = "cli-versions.json"


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
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, ValueError):
        cache = {}
    if isinstance(cache.get(key), str):
        return cache[key]
    v = _run_version([str(exe), "version"])
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
    try:
        path.resolve().relative_to(base.resolve())
        return True
    except (ValueError, OSError):
        return False


def find_pulumi(versions: ToolchainVersions | None = None) -> ToolInfo | None:
    """The `pulumi` CLI to use: the user's own on PATH (same major version), else govcloud's build."""
    import shutil

    versions = versions or pinned_versions()
    base = toolchain_dir()
    on_path = shutil.which("pulumi")
    if on_path and not _inside(Path(on_path), base):
        v = cli_version(on_path)
        if v and _major(v) == _major(versions.pulumi):
            return ToolInfo(Path(on_path), v, SOURCE_PATH)
    built = _built_pulumis(base)
    # the exact SDK version, else the oldest newer build of the same major
    ranked = sorted(
        (b for b in built if _major(b[0]) == _major(versions.pulumi) and _vkey(b[0]) >= _vkey(versions.pulumi)),
        key=lambda b: (_vkey(b[0]) != _vkey(versions.pulumi), _vkey(b[0])[1], -_vkey(b[0])[2]),
    )
    for _, exe in ranked:
        v = cli_version(exe)
        if v:
            return ToolInfo(exe, v, SOURCE_BUILD_CACHE)
    return None


def _plugin_in_cache(version: str) -> Path | None:
    d = plugin_cache_dir() / f"resource-openstack-v{version}"
    exe = d / "pulumi-resource-openstack"
    if exe.is_file() and not (d.parent / f"resource-openstack-v{version}.partial").exists():
        return exe
    return None


def find_openstack_plugin(versions: ToolchainVersions | None = None) -> ToolInfo | None:
    """The OpenStack plugin the engine will load for the pinned SDK version, or None.

    Order as the engine looks: a `pulumi-resource-openstack` of that version on
    PATH (an ambient plugin), then Pulumi's plugin cache, then govcloud's build
    cache (built but not installed yet).
    """
    import shutil

    versions = versions or pinned_versions()
    want = versions.pulumi_openstack
    on_path = shutil.which("pulumi-resource-openstack")
    if on_path and not _inside(Path(on_path), toolchain_dir()):
        v = _run_version([on_path, "-version"])
        if v and _vkey(v) == _vkey(want):
            return ToolInfo(Path(on_path), v, SOURCE_PATH)
    cached = _plugin_in_cache(want)
    if cached:
        return ToolInfo(cached, want, SOURCE_PLUGIN_CACHE)
    built = openstack_plugin_path(want)
    if built.is_file() and os.access(built, os.X_OK):
        return ToolInfo(built, want, SOURCE_BUILD_CACHE)
    return None


def engine_env(versions: ToolchainVersions | None = None) -> dict[str, str]:
    """Environment additions for running the Pulumi engine (Automation API, `pulumi` itself).

    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK is deliberately not set: the CLI is
    built at the SDK's version (or a newer one of the same major), so the check passes.
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION exists in this Pulumi (sdk/go/common/env,
    DisableAutomaticPluginAcquisition): a missing plugin is an error, never a download.
    """
    info = find_pulumi(versions)
    if info is not None:
        bin_dir = str(info.path.parent)
    else:
        v = (versions or pinned_versions()).pulumi
        bin_dir = str(pulumi_build_path(v).parent)
    path = os.environ.get("PATH", "")
    parts = [p for p in path.split(os.pathsep) if p and p != bin_dir]
    return {
        "PATH": os.pathsep.join([bin_dir, *parts]),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }


# ---------------------------------------------------------------- building


class _Build:
    """One logged build step sequence: every command's output goes to one log file."""

    def __init__(self, name: str, base: Path, log: Callable[[str], object]):
        import time

        self.name = name
        self.log = log
        logs = base / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.log_path = logs / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
        self._fh = open(self.log_path, "a", encoding="utf-8")

    def note(self, msg: str) -> None:
        self._fh.write(f"## {msg}\n")
        self._fh.flush()

    def run(self, what: str, cmd: list[str], cwd: Path | None = None, env: dict | None = None,
            stdout_path: Path | None = None) -> None:
        import subprocess
        import time

        self.note(f"{what}: {' '.join(cmd)} (in {cwd or os.getcwd()})")
        t0 = time.monotonic()
        out = open(stdout_path, "w", encoding="utf-8") if stdout_path else self._fh
        try:
            cp = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=self._fh, stdin=subprocess.DEVNULL)
        except OSError as e:
            raise ToolchainError(f"{self.name}: {what} could not start ({e}); log: {self.log_path}") from None
        finally:
            if stdout_path:
                out.close()
        self.note(f"{what}: exit {cp.returncode} after {time.monotonic() - t0:.1f}s")
        if cp.returncode != 0:
            raise ToolchainError(
                f"{self.name}: {what} failed (exit {cp.returncode}); log: {self.log_path}\n" + self.tail()
            )

    def tail(self, n: int = 12) -> str:
        self._fh.flush()
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join("    " + line for line in lines[-n:])

    def close(self) -> None:
        self._fh.close()


def _go() -> str:
    import shutil

    for cand in (os.environ.get("GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    raise ToolchainError(
        "building the Pulumi toolchain needs Go (>= 1.24; the CLI's go.mod may ask for newer, "
        "which `go` fetches from the module proxy): none found on PATH or at /usr/local/go/bin/go"
    )


def _go_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env["GOFLAGS"] = (env.get("GOFLAGS", "") + " -mod=mod").strip()
    env["PATH"] = os.pathsep.join([str(Path(_go()).parent), env.get("PATH", "")])
    env.update(extra or {})
    return env


def _go_json(go: str, args: list[str], b: _Build, what: str, cwd: Path | None = None) -> list[dict]:
    """Run a go command that prints JSON objects (one or several) and parse them."""
    import json
    import tempfile

    with tempfile.NamedTemporaryFile("w+", suffix=".json", delete=False) as tf:
        out = Path(tf.name)
    try:
        try:
            b.run(what, [go, *args], cwd=cwd, env=_go_env(), stdout_path=out)
            failed = None
        except ToolchainError as e:
            failed = e
        text = out.read_text(encoding="utf-8")
    finally:
        out.unlink(missing_ok=True)
    b.note(f"{what} printed: {text.strip()[:2000]}")
    objs, dec, i = [], json.JSONDecoder(), 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        try:
            obj, i = dec.raw_decode(text, i)
        except ValueError:
            raise ToolchainError(f"{b.name}: {what} printed something that is not JSON; log: {b.log_path}") from None
        objs.append(obj)
    if failed and not objs:
        raise failed
    return objs


def _writable_copy(src: Path, dst: Path) -> None:
    import shutil
    import stat

    if dst.exists():
        shutil.rmtree(dst, onerror=_force_remove)
    shutil.copytree(src, dst, symlinks=True)
    for root, dirs, files in os.walk(dst):
        for name in dirs + files:
            p = Path(root) / name
            if not p.is_symlink():
                p.chmod(p.stat().st_mode | stat.S_IWUSR)
    Path(dst).chmod(Path(dst).stat().st_mode | stat.S_IWUSR)


def _force_remove(func, path, _exc):
    import stat

    try:
        os.chmod(os.path.dirname(path), 0o755)
        os.chmod(path, stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
        func(path)
    except OSError:
        pass


def _rmtree(p: Path) -> None:
    import shutil

    if p.exists():
        shutil.rmtree(p, onerror=_force_remove)


def _write_provenance(path: Path, data: dict) -> None:
    import json

    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _read_provenance(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _build_pulumi(versions: ToolchainVersions, base: Path, log: Callable[[str], object]) -> ToolInfo:
    """Build the `pulumi` CLI from github.com/pulumi/pulumi/pkg/v3 at the SDK's version."""
    import time

    go = _go()
    b = _Build("pulumi", base, log)
    t0 = time.monotonic()
    try:
        override = os.environ.get("GOVCLOUD_PULUMI_CLI_VERSION")
        if override:
            candidates = ["v" + override.lstrip("v")]
        else:
            listed = _go_json(go, ["list", "-m", "-json", "-versions", PULUMI_PKG_MODULE], b,
                              "listing pulumi/pkg versions", cwd=base)
            candidates = cli_candidates(versions.pulumi, (listed[0].get("Versions") or []) if listed else [])
        module = None
        for cand in candidates[:6]:
            log(f"pulumi: fetching {PULUMI_PKG_MODULE}@{cand} from the Go module proxy ...")
            got = _go_json(go, ["mod", "download", "-json", f"{PULUMI_PKG_MODULE}@{cand}"], b,
                           f"go mod download pkg@{cand}", cwd=base)
            if got and got[0].get("Dir") and not got[0].get("Error"):
                module = got[0]
                break
            err = (got[0].get("Error") if got else "") or "no module directory"
            log(f"pulumi: {cand} is not available ({err.splitlines()[0]})")
        if module is None:
            raise ToolchainError(
                f"pulumi: no CLI release for SDK {versions.pulumi} could be fetched from the Go module "
                f"proxy (tried {', '.join(candidates[:6])}); log: {b.log_path}"
            )
        cli = module["Version"]
        if cli.lstrip("v") != versions.pulumi:
            log(f"pulumi: building CLI {cli} for SDK {versions.pulumi} "
                f"(the proxy does not serve {PULUMI_PKG_MODULE}@v{versions.pulumi})")
        work = base / "work" / f"pulumi-{cli}"
        src = work / "src"
        _writable_copy(Path(module["Dir"]), src)
        # go.mod's local replaces (sdk/v3 => ../sdk) point outside the module: require the
        # released modules at the same version instead; other replaces stay as they are.
        mod = _go_json(go, ["mod", "edit", "-json"], b, "reading go.mod", cwd=src)[0]
        edits = []
        for r in mod.get("Replace") or []:
            new = r.get("New", {})
            if new.get("Path", "").startswith((".", "/")):
                old = r["Old"]["Path"]
                edits += [f"-dropreplace={old}", f"-require={old}@{cli}"]
                b.note(f"replace {old} => {new['Path']} becomes require {old} {cli}")
        if edits:
            b.run("editing go.mod", [go, "mod", "edit", *edits], cwd=src, env=_go_env())
        out = pulumi_build_path(cli, base)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name("pulumi.tmp")
        log(f"pulumi: compiling {PULUMI_PKG_MODULE}/cmd/pulumi {cli} (several minutes on a cold cache); "
            f"log: {b.log_path}")
        b.run("go build cmd/pulumi", [
            go, "build", "-trimpath", "-buildvcs=false",
            "-ldflags", f"-s -w -X {PULUMI_VERSION_VAR}={cli}",
            "-o", str(tmp), "./cmd/pulumi",
        ], cwd=src, env=_go_env())
        v = _run_version([str(tmp), "version"])
        if v is None or _vkey(v) != _vkey(cli):
            raise ToolchainError(f"pulumi: the built CLI reports version {v!r}, expected {cli}; log: {b.log_path}")
        tmp.replace(out)
        took = time.monotonic() - t0
        _write_provenance(out.parent.parent / "govcloud-build.json", {
            "tool": "pulumi", "module": PULUMI_PKG_MODULE, "version": cli,
            "for_sdk": versions.pulumi, "built_seconds": round(took, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "log": str(b.log_path),
        })
        _rmtree(work)
        log(f"pulumi: built {out} ({cli}) in {took:.0f}s")
        return ToolInfo(out, v, SOURCE_BUILD_CACHE)
    finally:
        b.close()


# -- the OpenStack plugin ---------------------------------------------------

_PLUGIN_GO_MOD = """module govcloud.local/pulumi-resource-openstack

go 1.24.7

require (
\t{bridge} {bridge_version}
\t{tf} {tf_version}
)
"""

_PLUGIN_MAIN_GO = r'''// pulumi-resource-openstack, as built by govcloud.toolchain.
//
// The upstream Terraform OpenStack provider served through
// pulumi-terraform-bridge. Resource and function tokens (and aliases) come
// from mapping.json, which govcloud derives from the installed pulumi_openstack
// Python SDK, so the tokens the SDK sends are the tokens this plugin serves.
//
//	pulumi-resource-openstack              serve the plugin (what the engine runs)
//	pulumi-resource-openstack -version     print the version
//	pulumi-resource-openstack dump-tf      Terraform resource/data source names and fields, as JSON
//	pulumi-resource-openstack tfgen ARGS   the bridge's schema generator (tfgen schema --out DIR ...)
package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"
	shim "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	ptokens "github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/terraform-provider-openstack/terraform-provider-openstack/v3/openstack"
)

// Version is set with -ldflags "-X main.Version=...".
var Version = "0.0.0-dev"

//go:embed mapping.json
var mappingJSON []byte

//go:embed schema-embed.json
var schemaJSON []byte

//go:embed bridge-metadata.json
var metadataJSON []byte

type entry struct {
	Token   string            `json:"token"`
	Aliases []string          `json:"aliases,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
}

type mapping struct {
	Resources   map[string]entry    `json:"resources"`
	DataSources map[string]entry    `json:"dataSources"`
	ConfigEnv   map[string][]string `json:"configEnv"`
}

func loadMapping() mapping {
	data := mappingJSON
	if path := os.Getenv("GOVCLOUD_OPENSTACK_MAPPING"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "reading %s: %v\n", path, err)
			os.Exit(2)
		}
		data = b
	}
	var m mapping
	if err := json.Unmarshal(data, &m); err != nil {
		fmt.Fprintf(os.Stderr, "parsing the token mapping: %v\n", err)
		os.Exit(2)
	}
	return m
}

func fields(f map[string]string) map[string]*tfbridge.SchemaInfo {
	if len(f) == 0 {
		return nil
	}
	out := map[string]*tfbridge.SchemaInfo{}
	for tf, name := range f {
		out[tf] = &tfbridge.SchemaInfo{Name: name}
	}
	return out
}

func aliasName(name string, i int) string {
	if i == 0 {
		return name + tfbridge.RenamedEntitySuffix
	}
	return fmt.Sprintf("%s%s%d", name, tfbridge.RenamedEntitySuffix, i+1)
}

func providerInfo() tfbridge.ProviderInfo {
	m := loadMapping()
	p := shimv2.NewProvider(openstack.Provider())
	info := tfbridge.ProviderInfo{
		P:            p,
		Name:         "openstack",
		Version:      Version,
		Description:  "OpenStack resources: the Terraform OpenStack provider bridged to Pulumi (built by govcloud).",
		Keywords:     []string{"pulumi", "openstack"},
		License:      "Apache-2.0",
		GitHubOrg:    "terraform-provider-openstack",
		Repository:   "https://github.com/terraform-provider-openstack/terraform-provider-openstack",
		MetadataInfo: tfbridge.NewProviderMetadata(metadataJSON),
		Config:       map[string]*tfbridge.SchemaInfo{},
		Resources:    map[string]*tfbridge.ResourceInfo{},
		DataSources:  map[string]*tfbridge.DataSourceInfo{},
	}
	for key, envs := range m.ConfigEnv {
		info.Config[key] = &tfbridge.SchemaInfo{Default: &tfbridge.DefaultInfo{EnvVars: envs}}
	}
	var names []string
	p.ResourcesMap().Range(func(name string, _ shim.Resource) bool { names = append(names, name); return true })
	for _, name := range names {
		e, ok := m.Resources[name]
		if !ok {
			continue
		}
		info.Resources[name] = &tfbridge.ResourceInfo{Tok: ptokens.Type(e.Token), Fields: fields(e.Fields)}
		for i, alias := range e.Aliases {
			an := aliasName(name, i)
			if err := shim.CloneResource(p.ResourcesMap(), name, an); err != nil {
				panic(err)
			}
			info.Resources[an] = &tfbridge.ResourceInfo{Tok: ptokens.Type(alias), Fields: fields(e.Fields)}
		}
	}
	names = nil
	p.DataSourcesMap().Range(func(name string, _ shim.Resource) bool { names = append(names, name); return true })
	for _, name := range names {
		e, ok := m.DataSources[name]
		if !ok {
			continue
		}
		info.DataSources[name] = &tfbridge.DataSourceInfo{Tok: ptokens.ModuleMember(e.Token), Fields: fields(e.Fields)}
		for i, alias := range e.Aliases {
			an := aliasName(name, i)
			if err := shim.CloneResource(p.DataSourcesMap(), name, an); err != nil {
				panic(err)
			}
			info.DataSources[an] = &tfbridge.DataSourceInfo{Tok: ptokens.ModuleMember(alias), Fields: fields(e.Fields)}
		}
	}
	// Whatever the SDK does not name gets the bridge's standard token in the index module.
	info.MustComputeTokens(tokens.SingleModule("openstack_", "index", tokens.MakeStandard("openstack")))
	return info
}

func dumpTF() {
	p := shimv2.NewProvider(openstack.Provider())
	type item struct {
		Fields []string `json:"fields"`
	}
	out := map[string]map[string]item{"resources": {}, "dataSources": {}}
	collect := func(kind string) func(string, shim.Resource) bool {
		return func(name string, r shim.Resource) bool {
			var fs []string
			r.Schema().Range(func(k string, _ shim.Schema) bool { fs = append(fs, k); return true })
			sort.Strings(fs)
			out[kind][name] = item{Fields: fs}
			return true
		}
	}
	p.ResourcesMap().Range(collect("resources"))
	p.DataSourcesMap().Range(collect("dataSources"))
	var cfg []string
	p.Schema().Range(func(k string, _ shim.Schema) bool { cfg = append(cfg, k); return true })
	sort.Strings(cfg)
	out["config"] = map[string]item{"provider": {Fields: cfg}}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "dump-tf":
			dumpTF()
			return
		case "tfgen":
			os.Args = os.Args[1:]
			tfgen.Main("openstack", Version, providerInfo())
			return
		}
	}
	tfbridge.Main("openstack", Version, providerInfo(), schemaJSON)
}
'''

# Provider configuration keys that also read an environment variable (besides
# the ones the Terraform provider reads itself, e.g. OS_AUTH_URL).
_CONFIG_ENV = {
    "region": ["OS_REGION_NAME"],
    "insecure": ["OS_INSECURE"],
    "endpoint_type": ["OS_ENDPOINT_TYPE"],
    "swauth": ["OS_SWAUTH"],
    "cloud": ["OS_CLOUD"],
    "delayed_auth": ["OS_DELAYED_AUTH"],
    "allow_reauth": ["OS_ALLOW_REAUTH"],
}

# Terraform names whose SDK token no naming rule derives (spelling kept from the
# published SDK). Everything else is matched by rule in _derive_mapping.
_TOKEN_OVERRIDES = {
    "resources": {
        "openstack_blockstorage_quotaset_v3": "openstack:blockstorage/quoteSetV3:QuoteSetV3",
        "openstack_objectstorage_object_v1": "openstack:objectstorage/containerObject:ContainerObject",
    },
    "dataSources": {
        "openstack_dns_zone_v2": "openstack:dns/getDnsZone:getDnsZone",
        "openstack_sharedfilesystem_availability_zones_v2":
            "openstack:sharedfilesystem/getAvailbilityZones:getAvailbilityZones",
        "openstack_lb_flavor_v2": "openstack:loadbalancer/getLbFlavorDeprecated:getLbFlavorDeprecated",
    },
}
# Terraform module prefixes whose SDK module has another name.
_MODULE_NAMES = {"db": "database", "lb": "loadbalancer", "fw": "firewall"}


def _sdk_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pulumi_openstack")
    if spec is None or not spec.submodule_search_locations:
        raise ToolchainError(
            "the OpenStack plugin is built against the installed pulumi_openstack SDK, which is not "
            f"installed in {sys.executable}; install the project's dependencies first"
        )
    return Path(list(spec.submodule_search_locations)[0])


def _shape(annotation: str) -> str:
    """'list', 'map' or 'one' for a property's Python annotation, e.g. pulumi.Output[Optional[Sequence[...]]]."""
    a = annotation.replace(" ", "")
    for wrapper in ("pulumi.Output[", "Output[", "Optional[", "typing.Optional["):
        while a.startswith(wrapper):
            a = a[len(wrapper):]
    if a.startswith(("Sequence[", "typing.Sequence[", "List[", "list[")):
        return "list"
    if a.startswith(("Mapping[", "typing.Mapping[", "Dict[", "dict[")):
        return "map"
    return "one"


def _schema_shape(prop: dict) -> str:
    if prop.get("type") == "array":
        return "list"
    if prop.get("type") == "object" and "additionalProperties" in prop:
        return "map"
    return "one"


def sdk_tokens(sdk_dir: Path) -> dict:
    """Resource tokens and function tokens of a pulumi_openstack SDK tree.

    {"resources": {token: {property: "list"|"map"|"one"}}, "functions": [token, ...]}
    """
    import ast

    resources: dict[str, list[str]] = {}
    functions: set[str] = set()
    for f in sorted(sdk_dir.rglob("*.py")):
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(b) == "pulumi.CustomResource" for b in node.bases
            ):
                token = None
                for sub in ast.walk(node):
                    if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)
                            and sub.func.attr == "__init__" and sub.args
                            and isinstance(sub.args[0], ast.Constant)
                            and str(sub.args[0].value).startswith("openstack:")):
                        token = sub.args[0].value
                props: dict[str, str] = {}
                for st in node.body:
                    if isinstance(st, ast.FunctionDef):
                        for d in st.decorator_list:
                            s = ast.unparse(d)
                            name = None
                            if s == "pulumi.getter":
                                name = st.name
                            elif s.startswith("pulumi.getter("):
                                name = next((kw.value.value for kw in d.keywords
                                             if kw.arg == "name" and isinstance(kw.value, ast.Constant)), st.name)
                            if name is not None:
                                props[name] = _shape(ast.unparse(st.returns) if st.returns else "")
                if token:
                    resources[token] = dict(sorted(props.items()))
            elif (isinstance(node, ast.Call) and ast.unparse(node.func).startswith("pulumi.runtime.invoke")
                  and node.args and isinstance(node.args[0], ast.Constant)
                  and str(node.args[0].value).startswith("openstack:")):
                functions.add(node.args[0].value)
    return {"resources": resources, "functions": sorted(functions)}


def _norm(s: str) -> str:
    return s.replace("_", "").lower()


def _split_token(tok: str) -> tuple[str, str]:
    _pkg, modfile, name = tok.split(":")
    return modfile.split("/")[0], name


def derive_mapping(tf: dict, sdk: dict) -> tuple[dict, dict]:
    """Match Terraform resource/data source names to the SDK's tokens.

    Returns (mapping, report): mapping = {"resources": {tf: {"token", "aliases"}},
    "dataSources": {...}, "configEnv": {...}}; report lists what stayed unmatched.
    """
    mapping: dict = {"resources": {}, "dataSources": {}, "configEnv": _CONFIG_ENV}
    report: dict = {}
    for kind, sdk_key, prefix in (("resources", "resources", ""), ("dataSources", "functions", "get")):
        tf_names = sorted(tf.get(kind, {}))
        toks = sorted(sdk[sdk_key])
        index: dict[tuple[str, str], list[str]] = {}
        for t in toks:
            mod, name = _split_token(t)
            index.setdefault((mod, _norm(name)), []).append(t)
        used: set[str] = set()
        out: dict[str, dict] = {}
        for name, tok in _TOKEN_OVERRIDES[kind].items():
            if name in tf_names and tok in toks:
                out[name] = {"token": tok}
                used.add(tok)
        # primary tokens: <module>/<name> with and without the _vN suffix
        for name in tf_names:
            if name in out:
                continue
            parts = name[len("openstack_"):].split("_")
            mod = _MODULE_NAMES.get(parts[0], parts[0])
            rest = parts[1:]
            bare = rest[:-1] if rest and re.fullmatch(r"v\d+", rest[-1]) else rest
            for key in ((mod, prefix + "".join(rest)), (mod, prefix + "".join(bare)),
                        ("index", prefix + "".join(parts))):
                free = [t for t in index.get(key, []) if t not in used]
                if free:
                    out[name] = {"token": free[0]}
                    used.add(free[0])
                    break
        # aliases: SDK tokens left over that spell the whole Terraform name in the index module
        for t in toks:
            if t in used:
                continue
            mod, tname = _split_token(t)
            for name in tf_names:
                full = _norm(name[len("openstack_"):])
                if _norm(tname) in (prefix + full, full):
                    if name in out:
                        out[name].setdefault("aliases", []).append(t)
                    else:
                        out[name] = {"token": t}
                    used.add(t)
                    break
        mapping[kind] = out
        report[kind] = {
            "terraform_without_sdk_token": [n for n in tf_names if n not in out],
            "sdk_tokens_without_terraform": [t for t in toks if t not in used],
        }
    return mapping, report


def compare_schema(schema: dict, sdk: dict) -> dict:
    """Per SDK resource type: properties the plugin's schema lacks, has extra, or shapes otherwise (list/map/one)."""
    problems = {}
    res = schema.get("resources", {})
    for tok, props in sdk["resources"].items():
        spec = res.get(tok)
        if spec is None:
            problems[tok] = {"missing_resource": True}
            continue
        have = spec.get("properties", {})
        missing = sorted(set(props) - set(have))
        extra = sorted(set(have) - set(props))
        shapes = sorted(f"{name}: SDK {props[name]}, plugin {_schema_shape(have[name])}"
                        for name in set(props) & set(have) if props[name] != _schema_shape(have[name]))
        if missing or extra or shapes:
            problems[tok] = {"sdk_only": missing, "plugin_only": extra, "shape": shapes}
    return problems


def _field_renames(problems: dict, mapping: dict, tf: dict) -> int:
    """Add Fields renames where an SDK property and a plugin property are one Terraform field."""
    by_token = {t: name for name, e in mapping["resources"].items() for t in [e["token"], *e.get("aliases", [])]}
    added = 0
    for tok, p in problems.items():
        name = by_token.get(tok)
        if not name or not p.get("sdk_only") or not p.get("plugin_only"):
            continue
        tf_fields = tf["resources"].get(name, {}).get("fields", [])
        for gen in p["plugin_only"]:
            field = next((f for f in tf_fields if _norm(f) in (_norm(gen), _norm(gen).rstrip("s"))), None)
            cands = [s for s in p["sdk_only"] if field and (_norm(field) in _norm(s) or _norm(s) in _norm(field))]
            if field and len(cands) == 1 and field not in mapping["resources"][name].get("fields", {}):
                mapping["resources"][name].setdefault("fields", {})[field] = cands[0]
                added += 1
    return added


def _plugin_provenance(versions: ToolchainVersions) -> dict:
    return {
        "tool": "pulumi-resource-openstack",
        "version": versions.pulumi_openstack,
        "recipe": PLUGIN_RECIPE,
        "terraform_provider": f"{TF_OPENSTACK_MODULE}@{TF_OPENSTACK_VERSION}",
        "bridge": f"{BRIDGE_MODULE}@{BRIDGE_VERSION}",
    }


def _build_openstack(versions: ToolchainVersions, base: Path, log: Callable[[str], object]) -> ToolInfo:
    import json
    import shutil
    import time

    go = _go()
    sdk_dir = _sdk_dir()
    b = _Build("openstack", base, log)
    t0 = time.monotonic()
    want = versions.pulumi_openstack
    try:
        work = base / "work" / f"openstack-v{want}"
        src = work / "src"
        _rmtree(work)
        src.mkdir(parents=True)
        (src / "go.mod").write_text(_PLUGIN_GO_MOD.format(
            bridge=BRIDGE_MODULE, bridge_version=BRIDGE_VERSION, tf=TF_OPENSTACK_MODULE, tf_version=TF_OPENSTACK_VERSION,
        ), encoding="utf-8")
        (src / "main.go").write_text(_PLUGIN_MAIN_GO, encoding="utf-8")
        (src / "mapping.json").write_text('{"resources":{},"dataSources":{},"configEnv":{}}\n', encoding="utf-8")
        (src / "schema-embed.json").write_text("{}\n", encoding="utf-8")
        (src / "bridge-metadata.json").write_text("{}\n", encoding="utf-8")
        edits = [f"-replace={old}={new}@{ver}" for old, (new, ver) in PLUGIN_REPLACES.items()]
        b.run("go mod edit (replaces)", [go, "mod", "edit", *edits], cwd=src, env=_go_env())
        log(f"openstack: resolving {TF_OPENSTACK_MODULE}@{TF_OPENSTACK_VERSION} + {BRIDGE_MODULE}@{BRIDGE_VERSION} ...")
        b.run("go mod tidy", [go, "mod", "tidy"], cwd=src, env=_go_env())
        stage1 = work / "stage1" / "pulumi-resource-openstack"
        log(f"openstack: compiling the bridge (several minutes on a cold cache); log: {b.log_path}")
        b.run("go build (stage 1: schema generator)", [
            go, "build", "-trimpath", "-buildvcs=false", "-ldflags", f"-X main.Version={want}", "-o", str(stage1), ".",
        ], cwd=src, env=_go_env())
        tf_json = work / "tf.json"
        b.run("listing Terraform resources", [str(stage1), "dump-tf"], cwd=work, stdout_path=tf_json)
        tf = json.loads(tf_json.read_text(encoding="utf-8"))
        sdk = sdk_tokens(sdk_dir)
        mapping, report = derive_mapping(tf, sdk)
        mapping_path = work / "mapping.json"
        gen = work / "gen"
        env = dict(os.environ, GOVCLOUD_OPENSTACK_MAPPING=str(mapping_path))
        for attempt in (1, 2):
            mapping_path.write_text(json.dumps(mapping, indent=1, sort_keys=True), encoding="utf-8")
            _rmtree(gen)
            b.run(f"tfgen schema (pass {attempt})", [
                str(stage1), "tfgen", "schema", "--out", str(gen), "--skip-docs", "--skip-examples",
            ], cwd=work, env=env)
            schema = json.loads((gen / "schema.json").read_text(encoding="utf-8"))
            problems = compare_schema(schema, sdk)
            if attempt == 1 and _field_renames(problems, mapping, tf) == 0:
                break
        report["property_mismatches"] = problems
        report["field_renames"] = {n: e["fields"] for n, e in mapping["resources"].items() if e.get("fields")}
        n_sdk = len(sdk["resources"])
        n_ok = n_sdk - len(problems)
        b.note("mapping report: " + json.dumps(report, indent=1, sort_keys=True))
        log(f"openstack: {n_ok}/{n_sdk} SDK resource types match the plugin's schema property for property"
            + (f"; differences in {base / 'logs'}" if problems else ""))
        for name in ("mapping.json",):
            shutil.copy(work / name, src / name)
        shutil.copy(gen / "schema.json", src / "schema-embed.json")
        shutil.copy(gen / "bridge-metadata.json", src / "bridge-metadata.json")
        out = openstack_plugin_path(want, base)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name("pulumi-resource-openstack.tmp")
        b.run("go build (plugin)", [
            go, "build", "-trimpath", "-buildvcs=false", "-ldflags", f"-s -w -X main.Version={want}", "-o", str(tmp), ".",
        ], cwd=src, env=_go_env())
        v = _run_version([str(tmp), "-version"])
        if v is None or _vkey(v) != _vkey(want):
            raise ToolchainError(f"openstack: the built plugin reports version {v!r}, expected {want}; log: {b.log_path}")
        tmp.replace(out)
        shutil.copy(gen / "schema.json", out.parent.parent / "schema.json")
        (out.parent.parent / "mapping-report.json").write_text(
            json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        took = time.monotonic() - t0
        _write_provenance(out.parent.parent / "govcloud-build.json", dict(
            _plugin_provenance(versions), built_seconds=round(took, 1),
            built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), log=str(b.log_path),
            sdk_resources=n_sdk, sdk_resources_matching=n_ok,
        ))
        _rmtree(work)
        log(f"openstack: built {out} ({want}) in {took:.0f}s")
        return ToolInfo(out, want, SOURCE_BUILD_CACHE)
    finally:
        b.close()


def _install_plugin(pulumi: ToolInfo, binary: Path, version: str, base: Path, log: Callable[[str], object]) -> None:
    import shutil

    b = _Build("plugin-install", base, log)
    try:
        env = dict(os.environ, PULUMI_SKIP_UPDATE_CHECK="true")
        b.run("pulumi plugin install", [
            str(pulumi.path), "plugin", "install", "resource", "openstack", version,
            "--file", str(binary), "--reinstall",
        ], cwd=base, env=env)
        prov = binary.parent.parent / "govcloud-build.json"
        dest = plugin_cache_dir() / f"resource-openstack-v{version}"
        if prov.is_file() and dest.is_dir():
            shutil.copy(prov, dest / "govcloud-build.json")
        log(f"openstack: installed {version} into {dest}")
    finally:
        b.close()


# ---------------------------------------------------------------- install / status


class _Lock:
    """An exclusive lock on the toolchain dir, so two installs never build at once."""

    def __init__(self, base: Path):
        base.mkdir(parents=True, exist_ok=True)
        self.path = base / ".lock"

    def __enter__(self):
        import fcntl

        self.fh = open(self.path, "w")
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        import fcntl

        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def _plugin_is_current(info: ToolInfo, versions: ToolchainVersions) -> bool:
    """A plugin govcloud built by another recipe is rebuilt; any other (e.g. the official one) is kept."""
    if info.source == SOURCE_PATH:
        return True
    prov = _read_provenance(info.path.parent / "govcloud-build.json") or _read_provenance(
        info.path.parent.parent / "govcloud-build.json")
    if not prov:
        return info.source == SOURCE_PLUGIN_CACHE  # installed by someone else: theirs to manage
    return prov.get("recipe") == PLUGIN_RECIPE


def install(log: Callable[[str], object] = print, force: bool = False) -> Toolchain:
    """Make sure the CLI and the OpenStack plugin are there; build only what is missing.

    Idempotent: with everything present it only looks (well under a second) and
    says what it reuses. `force=True` rebuilds both. Raises ToolchainError.
    """
    import time

    t0 = time.monotonic()
    versions = pinned_versions()
    base = toolchain_dir()
    with _Lock(base):
        pulumi = None if force else find_pulumi(versions)
        if pulumi is not None:
            log(f"pulumi {pulumi.version}: reusing {pulumi.path} ({pulumi.source})")
        else:
            pulumi = _build_pulumi(versions, base, log)

        plugin = None if force else find_openstack_plugin(versions)
        if plugin is not None and not _plugin_is_current(plugin, versions):
            log(f"openstack {plugin.version}: {plugin.path} was built by an older recipe; rebuilding")
            plugin = None
        if plugin is not None and plugin.source in (SOURCE_PATH, SOURCE_PLUGIN_CACHE):
            log(f"openstack {plugin.version}: reusing {plugin.path} ({plugin.source})")
        else:
            if plugin is None:
                plugin = _build_openstack(versions, base, log)
            else:
                log(f"openstack {plugin.version}: reusing {plugin.path} ({plugin.source})")
            _install_plugin(pulumi, plugin.path, versions.pulumi_openstack, base, log)
            plugin = find_openstack_plugin(versions)
            if plugin is None or plugin.source not in (SOURCE_PATH, SOURCE_PLUGIN_CACHE):
                raise ToolchainError(
                    f"openstack: `pulumi plugin install` ran but no plugin is in {plugin_cache_dir()}; "
                    f"logs: {base / 'logs'}")
    log(f"toolchain ready in {time.monotonic() - t0:.2f}s")
    return Toolchain(pulumi=pulumi, openstack=plugin)


def status(log: Callable[[str], object] = print) -> bool:
    """Print each tool, its version and where it comes from; True when both are usable."""
    versions = pinned_versions()
    log(f"pinned: pulumi {versions.pulumi}, pulumi-openstack {versions.pulumi_openstack}")
    log(f"build cache: {toolchain_dir()}")
    log(f"plugin cache: {plugin_cache_dir()}")
    ok = True
    p = find_pulumi(versions)
    if p:
        note = "" if _vkey(p.version) >= _vkey(versions.pulumi) else f" (older than the SDK {versions.pulumi})"
        log(f"pulumi: {p.version} at {p.path} ({p.source}){note}")
    else:
        ok = False
        log("pulumi: missing (run scripts/install-toolchain)")
    o = find_openstack_plugin(versions)
    if o:
        prov = _read_provenance(o.path.parent / "govcloud-build.json") or _read_provenance(
            o.path.parent.parent / "govcloud-build.json")
        built = f"; built by govcloud from {prov['terraform_provider']}" if prov.get("terraform_provider") else ""
        log(f"openstack plugin: {o.version} at {o.path} ({o.source}{built})")
        if o.source == SOURCE_BUILD_CACHE:
            ok = False
            log("openstack plugin: built but not installed into the plugin cache (run scripts/install-toolchain)")
    else:
        ok = False
        log("openstack plugin: missing (run scripts/install-toolchain)")
    return ok


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m govcloud.toolchain install [--force] | status"
    if not argv or argv[0] not in ("install", "status") or any(a not in ("--force",) for a in argv[1:]):
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == "install":
            install(force="--force" in argv[1:])
            return 0
        return 0 if status() else 1
    except ToolchainError as e:
        print(f"govcloud toolchain: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("govcloud toolchain: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
