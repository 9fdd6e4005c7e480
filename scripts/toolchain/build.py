"""Build the Pulumi toolchain govcloud drives from Go modules: the `pulumi` CLI and the OpenStack resource plugin.

    python scripts/toolchain/build.py install [--force]   build what is missing (idempotent), install the plugin
    python scripts/toolchain/build.py status              what govcloud finds (python -m govcloud.engine.toolchain status)

scripts/install-toolchain runs `install` (docs/toolchain.md). Nothing here downloads a prebuilt
binary: the Go module proxy is the one place both tools come from. They are built once into
govcloud's versioned build cache, and the plugin is then installed into Pulumi's own plugin cache
so the engine never tries to acquire it:

    <toolchain_dir>/pulumi-v<cli>/bin/pulumi
    <toolchain_dir>/openstack-v<plugin>/bin/pulumi-resource-openstack
    <toolchain_dir>/logs/<what>-<time>.log
    $PULUMI_HOME/plugins/resource-openstack-v<plugin>/   (via `pulumi plugin install --file`)

Finding the tools is the package's (govcloud.engine.toolchain): this script builds what it does not find.
The plugin is a small Go module, plugin/main.go and plugin/go.mod.tmpl beside this file.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Callable, Iterable

HERE = Path(__file__).resolve().parent
PLUGIN_SOURCE = HERE / "plugin"
CHECKOUT = HERE.parent.parent
if str(CHECKOUT) not in sys.path:
    sys.path.insert(0, str(CHECKOUT))  # this checkout's govcloud, not another one installed in the same Python

from govcloud.engine import toolchain as tc  # noqa: E402
from govcloud.engine.toolchain import (  # noqa: E402
    PROVENANCE, SOURCE_BUILD_CACHE, SOURCE_PATH, SOURCE_PLUGIN_CACHE, ToolchainError, ToolchainVersions, ToolInfo,
)

PULUMI_PKG_MODULE = "github.com/pulumi/pulumi/pkg/v3"
PULUMI_VERSION_VAR = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"

# The OpenStack plugin is the upstream Terraform OpenStack provider served
# through pulumi-terraform-bridge, with the resource and function tokens of the
# installed pulumi_openstack SDK. (pulumi-openstack's own provider module is not
# served by the Go module proxy these machines reach; see docs/toolchain.md.)
# These are build inputs of the plugin, filled into plugin/go.mod.tmpl.
TF_OPENSTACK_MODULE = "github.com/terraform-provider-openstack/terraform-provider-openstack/v3"
TF_OPENSTACK_VERSION = "v3.4.0"
BRIDGE_MODULE = "github.com/pulumi/pulumi-terraform-bridge/v3"
BRIDGE_VERSION = "v3.120.0"
# Bump when the plugin recipe (plugin/main.go, go.mod.tmpl, mapping rules) changes: a plugin
# built by another recipe is rebuilt. It is recorded in each plugin's govcloud-build.json.
PLUGIN_RECIPE = f"bridge-{BRIDGE_VERSION}+tf-openstack-{TF_OPENSTACK_VERSION}+r1"


@dataclass(frozen=True)
class Toolchain:
    pulumi: ToolInfo
    openstack: ToolInfo


def cli_candidates(sdk_version: str, available: Iterable[str]) -> list[str]:
    """CLI versions to try for an SDK version, best first.

    The exact SDK version first (always: a version list can be incomplete); then
    (when the module proxy does not serve it) newer releases of the same major
    version, oldest minor first and within a minor its last patch. A newer CLI
    serves an older SDK (the Automation API only requires a minimum version); an
    older one is never picked, nor a pre-release.
    """
    want = tc.version_key(sdk_version)
    releases = set()
    for a in available:
        try:
            v = tc.version_key(a)
        except ValueError:
            continue
        if not v.prerelease and not v.build:
            releases.add(v)
    newer = sorted((v for v in releases if v.major == want.major and v > want), key=lambda v: (v.minor, -v.patch))
    exact = f"v{want}"
    return [exact, *(f"v{v}" for v in newer if f"v{v}" != exact)]


# ---------------------------------------------------------------- running the build


class _Build:
    """One logged build step sequence: every command's output goes to one log file."""

    def __init__(self, name: str, base: Path, log: Callable[[str], object]):
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
    try:
        os.chmod(os.path.dirname(path), 0o755)
        os.chmod(path, stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
        func(path)
    except OSError:
        pass


def _rmtree(p: Path) -> None:
    if p.exists():
        shutil.rmtree(p, onerror=_force_remove)


def _write_provenance(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _same_version(reported: str | None, want: str) -> bool:
    try:
        return reported is not None and tc.version_key(reported) == tc.version_key(want)
    except ValueError:
        return False


# ---------------------------------------------------------------- the CLI


def _build_pulumi(versions: ToolchainVersions, base: Path, log: Callable[[str], object]) -> ToolInfo:
    """Build the `pulumi` CLI from github.com/pulumi/pulumi/pkg/v3 at the SDK's version."""
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
        out = tc.pulumi_build_path(cli, base)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name("pulumi.tmp")
        log(f"pulumi: compiling {PULUMI_PKG_MODULE}/cmd/pulumi {cli} (several minutes on a cold cache); "
            f"log: {b.log_path}")
        b.run("go build cmd/pulumi", [
            go, "build", "-trimpath", "-buildvcs=false",
            "-ldflags", f"-s -w -X {PULUMI_VERSION_VAR}={cli}",
            "-o", str(tmp), "./cmd/pulumi",
        ], cwd=src, env=_go_env())
        v = tc.run_version([str(tmp), "version"])
        if not _same_version(v, cli):
            raise ToolchainError(f"pulumi: the built CLI reports version {v!r}, expected {cli}; log: {b.log_path}")
        tmp.replace(out)
        took = time.monotonic() - t0
        _write_provenance(out.parent.parent / PROVENANCE, {
            "tool": "pulumi", "module": PULUMI_PKG_MODULE, "version": cli,
            "for_sdk": versions.pulumi, "built_seconds": round(took, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "log": str(b.log_path),
        })
        _rmtree(work)
        log(f"pulumi: built {out} ({cli}) in {took:.0f}s")
        return ToolInfo(out, v, SOURCE_BUILD_CACHE)
    finally:
        b.close()


# ---------------------------------------------------------------- the OpenStack plugin

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
# published SDK). Everything else is matched by rule in derive_mapping.
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


def plugin_go_mod() -> str:
    """plugin/go.mod.tmpl with the bridge and Terraform provider versions filled in."""
    return Template((PLUGIN_SOURCE / "go.mod.tmpl").read_text(encoding="utf-8")).substitute(
        bridge=BRIDGE_MODULE, bridge_version=BRIDGE_VERSION, tf=TF_OPENSTACK_MODULE, tf_version=TF_OPENSTACK_VERSION)


def write_plugin_module(src: Path) -> None:
    """The wrapper module's go.mod and main.go into `src`, with empty embedded files for the first build."""
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text(plugin_go_mod(), encoding="utf-8")
    shutil.copyfile(PLUGIN_SOURCE / "main.go", src / "main.go")
    (src / "mapping.json").write_text('{"resources":{},"dataSources":{},"configEnv":{}}\n', encoding="utf-8")
    (src / "schema-embed.json").write_text("{}\n", encoding="utf-8")
    (src / "bridge-metadata.json").write_text("{}\n", encoding="utf-8")


def _sdk_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pulumi_openstack")
    if spec is None or not spec.submodule_search_locations:
        raise ToolchainError(
            "the OpenStack plugin is built against the installed pulumi_openstack SDK, which is not "
            f"installed in {sys.executable}; install the project's dependencies first (scripts/setup-python)"
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
    go = _go()
    sdk_dir = _sdk_dir()
    b = _Build("openstack", base, log)
    t0 = time.monotonic()
    want = versions.pulumi_openstack
    try:
        work = base / "work" / f"openstack-v{want}"
        src = work / "src"
        _rmtree(work)
        write_plugin_module(src)
        b.note(f"wrapper module from {PLUGIN_SOURCE}: go.mod.tmpl, main.go")
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
        shutil.copy(work / "mapping.json", src / "mapping.json")
        shutil.copy(gen / "schema.json", src / "schema-embed.json")
        shutil.copy(gen / "bridge-metadata.json", src / "bridge-metadata.json")
        out = tc.openstack_plugin_path(want, base)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name("pulumi-resource-openstack.tmp")
        b.run("go build (plugin)", [
            go, "build", "-trimpath", "-buildvcs=false", "-ldflags", f"-s -w -X main.Version={want}", "-o", str(tmp), ".",
        ], cwd=src, env=_go_env())
        v = tc.run_version([str(tmp), "-version"])
        if not _same_version(v, want):
            raise ToolchainError(f"openstack: the built plugin reports version {v!r}, expected {want}; log: {b.log_path}")
        tmp.replace(out)
        shutil.copy(gen / "schema.json", out.parent.parent / "schema.json")
        (out.parent.parent / "mapping-report.json").write_text(
            json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        took = time.monotonic() - t0
        _write_provenance(out.parent.parent / PROVENANCE, dict(
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
    b = _Build("plugin-install", base, log)
    try:
        env = dict(os.environ, PULUMI_SKIP_UPDATE_CHECK="true")
        b.run("pulumi plugin install", [
            str(pulumi.path), "plugin", "install", "resource", "openstack", version,
            "--file", str(binary), "--reinstall",
        ], cwd=base, env=env)
        prov = binary.parent.parent / PROVENANCE
        dest = tc.plugin_cache_dir() / f"resource-openstack-v{version}"
        if prov.is_file() and dest.is_dir():
            shutil.copy(prov, dest / PROVENANCE)
        log(f"openstack: installed {version} into {dest}")
    finally:
        b.close()


# ---------------------------------------------------------------- install


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


def _plugin_is_current(info: ToolInfo) -> bool:
    """A plugin govcloud built by another recipe is rebuilt; any other (e.g. the official one) is kept."""
    if info.source == SOURCE_PATH:
        return True
    prov = tc.build_provenance(info.path)
    if not prov:
        return info.source == SOURCE_PLUGIN_CACHE  # installed by someone else: theirs to manage
    return prov.get("recipe") == PLUGIN_RECIPE


def install(log: Callable[[str], object] = print, force: bool = False) -> Toolchain:
    """Make sure the CLI and the OpenStack plugin are there; build only what is missing.

    Idempotent: with everything present it only looks (well under a second) and
    says what it reuses. `force=True` rebuilds both. Raises ToolchainError.
    """
    t0 = time.monotonic()
    versions = tc.pinned_versions()
    base = tc.toolchain_dir()
    with _Lock(base):
        pulumi = None if force else tc.find_pulumi(versions)
        if pulumi is not None:
            log(f"pulumi {pulumi.version}: reusing {pulumi.path} ({pulumi.source})")
        else:
            pulumi = _build_pulumi(versions, base, log)

        plugin = None if force else tc.find_openstack_plugin(versions)
        if plugin is not None and not _plugin_is_current(plugin):
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
            plugin = tc.find_openstack_plugin(versions)
            if plugin is None or plugin.source not in (SOURCE_PATH, SOURCE_PLUGIN_CACHE):
                raise ToolchainError(
                    f"openstack: `pulumi plugin install` ran but no plugin is in {tc.plugin_cache_dir()}; "
                    f"logs: {base / 'logs'}")
    log(f"toolchain ready in {time.monotonic() - t0:.2f}s")
    return Toolchain(pulumi=pulumi, openstack=plugin)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: scripts/toolchain/build.py install [--force] | status"
    if not argv or argv[0] not in ("install", "status") or any(a not in ("--force",) for a in argv[1:]):
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == "install":
            install(force="--force" in argv[1:])
            return 0
        return 0 if tc.status() else 1
    except ToolchainError as e:
        print(f"govcloud toolchain: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("govcloud toolchain: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
