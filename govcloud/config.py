"""Where govcloud finds its configuration: the user's config repo over the shipped defaults.

A config repo is a directory with a `govcloud.yaml` (made by `govcloud init`).
It may hold its own `inventories/`, `stacks/`, `templates/` and `policies.yaml`;
whatever it does not hold comes from the defaults shipped in the package.
Engine state (the file backend, audit log, usage store) lives in its `.govcloud/`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

DEFAULTS_DIR = Path(__file__).resolve().parent / "_data"
CONFIG_FILE = "govcloud.yaml"


@dataclass(frozen=True)
class ConfigRepo:
    root: Path | None  # None: no config repo, only the shipped defaults
    defaults: Path = DEFAULTS_DIR

    def search_dirs(self, sub: str) -> list[Path]:
        """`sub` in the config repo first, then in the defaults."""
        dirs = []
        if self.root is not None and (self.root / sub).is_dir():
            dirs.append(self.root / sub)
        dirs.append((self.defaults / sub).resolve())
        return dirs

    def find_file(self, sub: str, name: str) -> Path | None:
        for d in self.search_dirs(sub):
            candidate = d / name
            if candidate.is_file():
                return candidate
        return None

    @property
    def state_dir(self) -> Path:
        """Engine state, audit log and usage store (created on first use)."""
        env = os.environ.get("GOVCLOUD_STATE_DIR")
        if env:
            return Path(env)
        if self.root is not None:
            return self.root / ".govcloud"
        return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "govcloud"

    @cached_property
    def settings(self) -> dict:
        if self.root is None or not (self.root / CONFIG_FILE).is_file():
            return {}
        from govcloud.load.yamlsource import load_yaml_file

        data = load_yaml_file(self.root / CONFIG_FILE).data
        return data if isinstance(data, dict) else {}


def find_config_repo(start: Path | None = None) -> ConfigRepo:
    """GOVCLOUD_CONFIG, else the nearest directory above `start` (or cwd) with a govcloud.yaml."""
    env = os.environ.get("GOVCLOUD_CONFIG")
    if env:
        return ConfigRepo(Path(env).resolve())
    here = (start or Path.cwd()).resolve()
    if here.is_file():
        here = here.parent
    for d in (here, *here.parents):
        if (d / CONFIG_FILE).is_file():
            return ConfigRepo(d)
    return ConfigRepo(None)
