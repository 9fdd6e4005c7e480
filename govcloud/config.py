"""Where govcloud finds its configuration: the user's config repo over the shipped defaults.

A config repo is a directory with a `govcloud.yaml` (made by `govcloud init`).
It may hold its own `inventories/`, `stacks/`, `templates/` and `policies.yaml`;
whatever it does not hold comes from the defaults shipped in the package.
Engine state (the file backend, audit log, usage store) lives in its `.govcloud/`
(govcloud/settings.py names the layout, the checked govcloud.yaml and the environment).
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from stat import S_ISREG

from govcloud.settings import CONFIG_FILE, GovcloudSettings, StateDir, env, load_settings, state_dir_for
from govcloud.templates import Templates

DEFAULTS_DIR = Path(__file__).resolve().parent / "_data"
# what Path.is_file() takes for "not there" (any other error is raised)
_NOT_THERE = frozenset((errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP))


@dataclass(frozen=True)
class ConfigRepo:
    root: Path | None  # None: no config repo, only the shipped defaults
    defaults: Path = DEFAULTS_DIR

    def __post_init__(self) -> None:
        # library callers (scripts, a queue worker, tests) pass a str as often as a Path; every lookup joins
        for name in ("root", "defaults"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    def _layers(self, sub: str) -> tuple[Path, ...]:
        """`sub` in the config repo first (whether or not the repo has it), then in the defaults."""
        default = _resolved(self.defaults, sub)
        return (default,) if self.root is None else (self.root / sub, default)

    def search_dirs(self, sub: str) -> list[Path]:
        """`sub` in the config repo first, then in the defaults: the layers that exist (the defaults always)."""
        *repo_dir, default = self._layers(sub)
        return [d for d in repo_dir if d.is_dir()] + [default]

    def find_file(self, sub: str, name: str) -> Path | None:
        found = self.stat_file(sub, name)
        return found[0] if found else None

    def stat_file(self, sub: str, name: str) -> tuple[Path, os.stat_result] | None:
        """`name` in the first of search_dirs(sub) that holds it as a file, and its stat: one stat call per
        layer tried, without search_dirs' is_dir (a blueprint is looked up once per manifest, and its cache is
        keyed on the mtime)."""
        for d in self._layers(sub):
            path = os.path.join(d, name)
            try:
                st = os.stat(path)
            except OSError as exc:
                if exc.errno in _NOT_THERE:
                    continue
                raise
            if S_ISREG(st.st_mode):
                return Path(path), st
        return None

    @property
    def state_dir(self) -> StateDir:
        """Engine state, audit log and usage store (each created by whatever writes it first)."""
        return state_dir_for(self.root)

    @cached_property
    def templates(self) -> Templates:
        """Its templates/ over the shipped ones, in one sandboxed Jinja2 environment (compiled once)."""
        return Templates(self)

    @cached_property
    def settings(self) -> GovcloudSettings:
        """govcloud.yaml, checked (InputError at file:line:column for an unknown key or a bad value)."""
        if self.root is None or not (self.root / CONFIG_FILE).is_file():
            return GovcloudSettings()
        return load_settings(self.root / CONFIG_FILE)


@lru_cache(maxsize=256)
def _resolved(defaults: Path, sub: str) -> Path:
    """A directory of the shipped defaults, resolved once per process (some are symlinks into the source tree;
    every blueprint, site and template lookup asks)."""
    return (defaults / sub).resolve()


def find_config_repo(start: Path | None = None) -> ConfigRepo:
    """GOVCLOUD_CONFIG, else the nearest directory above `start` (or cwd) with a govcloud.yaml."""
    chosen = env("GOVCLOUD_CONFIG")
    if chosen:
        return ConfigRepo(Path(chosen).resolve())
    here = (start or Path.cwd()).resolve()
    if here.is_file():
        here = here.parent
    for d in (here, *here.parents):
        if (d / CONFIG_FILE).is_file():
            return ConfigRepo(d)
    return ConfigRepo(None)
