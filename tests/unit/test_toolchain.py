"""govcloud.engine.toolchain: version reading, cache layout, discovery, status (the build: test_toolchain_build.py).

Discovery is tested with small fake executables (shell scripts that print a
version) in temporary directories; nothing here builds or runs real Pulumi.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from govcloud.engine import toolchain as tc
from govcloud.engine.toolchain import ToolchainError, ToolchainVersions

REPO = Path(__file__).resolve().parents[2]
V = ToolchainVersions(pulumi="3.272.0", pulumi_openstack="5.5.3")


def fake_exe(path: Path, output: str, code: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{output}'\nexit {code}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An isolated world: empty PATH (but /bin for sh), own toolchain dir and PULUMI_HOME."""
    bin_dir = tmp_path / "userbin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("GOVCLOUD_TOOLCHAIN_DIR", str(tmp_path / "tc"))
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))
    return tmp_path


# ---------------------------------------------------------------- versions


def test_pinned_versions_come_from_installed_metadata(monkeypatch):
    fake = {"pulumi": "3.999.1", "pulumi_openstack": "9.8.7"}
    monkeypatch.setattr(metadata, "version", lambda dist: fake[dist])
    assert tc.pinned_versions() == ToolchainVersions(pulumi="3.999.1", pulumi_openstack="9.8.7")


def test_pinned_versions_fall_back_to_pyproject_pins(monkeypatch, tmp_path):
    def missing(dist):
        raise metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(metadata, "version", missing)
    pp = tmp_path / "pyproject.toml"
    pp.write_text('[project]\ndependencies = [\n  "pulumi-policy==1.21.0",\n  "pulumi_openstack == 5.1.2",\n'
                  '  "pulumi==3.100.0",\n  "click>=8.1",\n]\n')
    assert tc.pinned_versions(pp) == ToolchainVersions(pulumi="3.100.0", pulumi_openstack="5.1.2")


def test_missing_pin_and_package_is_a_toolchain_error(monkeypatch, tmp_path):
    def missing(dist):
        raise metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(metadata, "version", missing)
    pp = tmp_path / "pyproject.toml"
    pp.write_text('dependencies = ["pulumi-openstack==5.5.3"]\n')  # "pulumi" itself not pinned
    with pytest.raises(ToolchainError, match="pulumi"):
        tc.pinned_versions(pp)


def test_the_real_pyproject_pins_both_and_installed_packages_agree():
    pins = {d: tc._pin_from_pyproject(d) for d in ("pulumi", "pulumi_openstack")}
    assert all(pins.values()), pins
    for dist, pin in pins.items():
        try:
            installed = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue  # metadata absent: pinned_versions() uses the pin itself
        assert installed == pin, f"{dist} {installed} installed but pyproject pins {pin}: reinstall the deps"


def test_version_key_orders_semantic_versions():
    assert tc.version_key("v3.274.1") == tc.version_key("3.274.1")
    assert tc.version_key("3.274.1") > tc.version_key("3.272.0") > tc.version_key("3.100.9")
    assert tc.version_key("3.274.1-alpha.1") < tc.version_key("3.274.1")
    assert tc.version_key("3.274.1")[0] == tc.version_key("3.274.1").major == 3  # doctor indexes it
    with pytest.raises(ValueError):
        tc.version_key("segfault")


# ---------------------------------------------------------------- paths


def test_toolchain_dir_env_override_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("GOVCLOUD_TOOLCHAIN_DIR", str(tmp_path / "x"))
    assert tc.toolchain_dir() == tmp_path / "x"
    monkeypatch.delenv("GOVCLOUD_TOOLCHAIN_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert tc.toolchain_dir() == tmp_path / "home" / ".cache" / "govcloud" / "toolchain"


def test_build_paths_are_versioned(tmp_path):
    assert tc.pulumi_build_path("3.272.0", tmp_path) == tmp_path / "pulumi-v3.272.0" / "bin" / "pulumi"
    assert tc.pulumi_build_path("v3.272.0", tmp_path) == tc.pulumi_build_path("3.272.0", tmp_path)
    assert tc.openstack_plugin_path("5.5.3", tmp_path) == (
        tmp_path / "openstack-v5.5.3" / "bin" / "pulumi-resource-openstack")


def test_plugin_cache_dir_follows_pulumi_home(monkeypatch, tmp_path):
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "ph"))
    assert tc.plugin_cache_dir() == tmp_path / "ph" / "plugins"
    monkeypatch.delenv("PULUMI_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert tc.plugin_cache_dir() == tmp_path / "home" / ".pulumi" / "plugins"


# ---------------------------------------------------------------- find_pulumi


def test_find_pulumi_prefers_users_path(env):
    fake_exe(env / "userbin" / "pulumi", "v3.280.0")
    fake_exe(tc.pulumi_build_path("3.272.0"), "v3.272.0")
    info = tc.find_pulumi(V)
    assert info == tc.ToolInfo(env / "userbin" / "pulumi", "3.280.0", tc.SOURCE_PATH)


def test_find_pulumi_ignores_other_major_on_path_and_uses_build(env):
    fake_exe(env / "userbin" / "pulumi", "v2.25.2")
    built = fake_exe(tc.pulumi_build_path("3.272.0"), "v3.272.0")
    assert tc.find_pulumi(V) == tc.ToolInfo(built, "3.272.0", tc.SOURCE_BUILD_CACHE)


def test_find_pulumi_ignores_a_broken_pulumi_on_path(env):
    fake_exe(env / "userbin" / "pulumi", "segfault", code=1)
    assert tc.find_pulumi(V) is None


def test_find_pulumi_build_cache_prefers_exact_then_oldest_newer(env):
    fake_exe(tc.pulumi_build_path("3.260.0"), "v3.260.0")  # older than the SDK: never
    fake_exe(tc.pulumi_build_path("3.276.0"), "v3.276.0")
    newer = fake_exe(tc.pulumi_build_path("3.274.1"), "v3.274.1")
    assert tc.find_pulumi(V).path == newer
    exact = fake_exe(tc.pulumi_build_path("3.272.0"), "v3.272.0")
    assert tc.find_pulumi(V).path == exact


def test_build_dir_on_path_counts_as_build_cache(env, monkeypatch):
    built = fake_exe(tc.pulumi_build_path("3.272.0"), "v3.272.0")
    monkeypatch.setenv("PATH", f"{built.parent}{os.pathsep}{os.environ['PATH']}")
    assert tc.find_pulumi(V).source == tc.SOURCE_BUILD_CACHE


def test_find_pulumi_none_when_nothing(env):
    assert tc.find_pulumi(V) is None


# ---------------------------------------------------------------- find_openstack_plugin


def _cached_plugin(version="5.5.3") -> Path:
    return fake_exe(tc.plugin_cache_dir() / f"resource-openstack-v{version}" / "pulumi-resource-openstack", version)


def test_find_plugin_in_plugin_cache(env):
    exe = _cached_plugin()
    assert tc.find_openstack_plugin(V) == tc.ToolInfo(exe, "5.5.3", tc.SOURCE_PLUGIN_CACHE)


def test_find_plugin_ignores_partial_install(env):
    exe = _cached_plugin()
    (exe.parent.parent / "resource-openstack-v5.5.3.partial").write_text("")
    assert tc.find_openstack_plugin(V) is None


def test_find_plugin_only_for_the_pinned_version(env):
    _cached_plugin("5.4.0")
    assert tc.find_openstack_plugin(V) is None


def test_find_plugin_built_but_not_installed(env):
    built = fake_exe(tc.openstack_plugin_path("5.5.3"), "5.5.3")
    assert tc.find_openstack_plugin(V) == tc.ToolInfo(built, "5.5.3", tc.SOURCE_BUILD_CACHE)


def test_find_plugin_ambient_on_path_wins_when_version_matches(env):
    _cached_plugin()
    mine = fake_exe(env / "userbin" / "pulumi-resource-openstack", "5.5.3")
    assert tc.find_openstack_plugin(V) == tc.ToolInfo(mine, "5.5.3", tc.SOURCE_PATH)
    fake_exe(mine, "5.0.0")
    assert tc.find_openstack_plugin(V).source == tc.SOURCE_PLUGIN_CACHE


# ---------------------------------------------------------------- engine_env


def test_engine_env_puts_the_found_pulumi_first(env):
    built = fake_exe(tc.pulumi_build_path("3.272.0"), "v3.272.0")
    e = tc.engine_env(V)
    parts = e["PATH"].split(os.pathsep)
    assert parts[0] == str(built.parent)
    assert parts.count(str(built.parent)) == 1
    assert str(env / "userbin") in parts
    assert e["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert e["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK" not in e


def test_engine_env_uses_users_pulumi_dir(env):
    fake_exe(env / "userbin" / "pulumi", "v3.280.0")
    assert tc.engine_env(V)["PATH"].split(os.pathsep)[0] == str(env / "userbin")


# ---------------------------------------------------------------- status, telling the user


def test_status_prints_each_tool_version_and_source(env, monkeypatch):
    fake_exe(env / "userbin" / "pulumi", "v3.272.0")
    _cached_plugin()
    monkeypatch.setattr(tc, "pinned_versions", lambda: V)
    lines: list[str] = []
    assert tc.status(log=lines.append) is True
    text = "\n".join(lines)
    assert f"pulumi: 3.272.0 at {env / 'userbin' / 'pulumi'} (user's PATH)" in text
    assert "openstack plugin: 5.5.3 at" in text and "(pulumi plugin cache" in text


def test_status_says_missing(env, monkeypatch):
    monkeypatch.setattr(tc, "pinned_versions", lambda: V)
    lines: list[str] = []
    assert tc.status(log=lines.append) is False
    assert any(l.startswith("pulumi: missing") for l in lines)
    assert any(l.startswith("openstack plugin: missing") for l in lines)


def test_status_says_how_to_install_a_built_but_uninstalled_plugin(env, monkeypatch):
    fake_exe(env / "userbin" / "pulumi", "v3.272.0")
    built = fake_exe(tc.openstack_plugin_path("5.5.3"), "5.5.3")
    (built.parent.parent / tc.PROVENANCE).write_text(json.dumps({"terraform_provider": "tf@v3.4.0"}))
    monkeypatch.setattr(tc, "pinned_versions", lambda: V)
    lines: list[str] = []
    assert tc.status(log=lines.append) is False
    text = "\n".join(lines)
    assert "built by govcloud from tf@v3.4.0" in text
    assert f"pulumi plugin install resource openstack 5.5.3 --file {built}" in text


def test_install_hint_speaks_to_a_user_of_the_installed_package():
    hint = tc.install_hint(V)
    assert "Pulumi CLI 3.x (>= 3.272.0)" in hint and "PATH" in hint
    assert "`pulumi plugin install resource openstack 5.5.3`" in hint
    assert "govcloud doctor" in hint
    assert "in a govcloud checkout, scripts/install-toolchain" in hint  # only as the checkout's way


def test_build_provenance_beside_or_above_the_binary(tmp_path):
    exe = fake_exe(tmp_path / "openstack-v5.5.3" / "bin" / "pulumi-resource-openstack", "5.5.3")
    assert tc.build_provenance(exe) == {}
    (exe.parent.parent / tc.PROVENANCE).write_text('{"recipe": "above"}')
    assert tc.build_provenance(exe) == {"recipe": "above"}
    (exe.parent / tc.PROVENANCE).write_text('{"recipe": "beside"}')  # as copied into the plugin cache
    assert tc.build_provenance(exe) == {"recipe": "beside"}


def test_module_main_install_points_to_the_script_without_traceback(capsys):
    assert tc.main(["install"]) == 2
    err = capsys.readouterr().err
    assert "scripts/install-toolchain" in err and "pulumi plugin install resource openstack" in err
    assert "Traceback" not in err
    assert tc.main(["frobnicate"]) == 2
    out = subprocess.run([sys.executable, "-m", "govcloud.engine.toolchain", "install", "--force"], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "scripts/install-toolchain" in out.stderr and "Traceback" not in out.stderr


# ---------------------------------------------------------------- import cost


def test_importing_toolchain_pulls_in_no_heavy_module():
    code = (
        "import sys, json; before = set(sys.modules); import govcloud.engine.toolchain; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    added = json.loads(out.stdout)
    heavy = {"pulumi", "pulumi_openstack", "grpc", "google", "yaml", "pydantic", "jinja2", "click", "rich",
             "openstack", "paramiko", "semver", "asyncio", "subprocess", "json", "shutil", "tempfile"}
    assert not {m.split(".")[0] for m in added} & heavy, added
    third_party = [m for m in added if m.split(".")[0] not in sys.stdlib_module_names
                   and m.split(".")[0] != "govcloud"]
    assert not third_party, third_party


def test_cli_version_is_asked_once_per_binary(env):
    calls = env / "calls"
    exe = env / "userbin" / "pulumi"
    exe.write_text(f"#!/bin/sh\necho x >> {calls}\necho 'v3.272.0'\n")
    exe.chmod(0o755)
    assert tc.cli_version(exe) == "3.272.0"
    assert tc.cli_version(exe) == "3.272.0"
    assert calls.read_text().count("x") == 1  # the second answer came from the cache
    cache = json.loads((env / "tc" / tc.VERSION_CACHE).read_text())
    assert list(cache.values()) == ["3.272.0"]

    # a rebuilt binary (another size and mtime) is asked again, and replaces its old entry
    exe.write_text(f"#!/bin/sh\necho x >> {calls}\necho 'v3.274.1'   \n")
    assert tc.cli_version(exe) == "3.274.1"
    assert calls.read_text().count("x") == 2
    assert list(json.loads((env / "tc" / tc.VERSION_CACHE).read_text()).values()) == ["3.274.1"]
    assert tc.cli_version(env / "userbin" / "missing") is None
