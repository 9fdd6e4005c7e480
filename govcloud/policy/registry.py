"""The one place rules are registered: the baseline pack, installed packs, the config repo's own.

- built-in: `BUILTIN_RULES` below (ids GC001-GC999 are reserved for them);
- installed packages: entry points in the group `govcloud.policies`; an entry
  point may name a module, a rule, a Rule subclass, a list of rules, or a
  function returning rules;
- the config repo: every `policies/*.py` at its root. Such a file defines
  rules exactly as govcloud's own are defined (a `Rule` subclass, or a
  function under `@rule`); every rule object or Rule subclass defined in the
  file is registered.

Ids are unique: a custom rule may not reuse an id (nor take a `GC` id).
Problems in custom rule files are reported with their file and line.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import re
import sys
import traceback
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Iterable

from govcloud.errors import InputError, Problem, SourceLocation
from govcloud.policy.core import SEVERITIES, GroupRule, Rule
from govcloud.policy.quotas import AgencyQuota
from govcloud.policy.rules import AdminPortsFromInternet, DataResidency, DuplicateServiceName, HealthCheckInProd, InternetIngressSensitive, NamingScheme, OverlappingNetworks, OwnerAndCostCenter, PublicBucket, PublicIpInternalService, PublishedDataPublic, SingleServerInProd, SizeCeiling, TooManyServers, UnapprovedImage, UnencryptedVolume

if TYPE_CHECKING:  # pragma: no cover
    from govcloud.config import ConfigRepo

ENTRY_POINT_GROUP = "govcloud.policies"
CUSTOM_DIR = "policies"
RULE_ID = re.compile(r"[A-Z][A-Z0-9]{0,9}[0-9]{3,4}\Z")  # \Z: "$" would admit a final newline
RESERVED = re.compile(r"GC[0-9]+\Z")

BUILTIN_RULES: tuple[type[Rule], ...] = (
    AdminPortsFromInternet,     # GC001
    InternetIngressSensitive,   # GC002
    DataResidency,              # GC003
    UnencryptedVolume,          # GC004
    PublicBucket,               # GC005
    PublicIpInternalService,    # GC006
    OwnerAndCostCenter,         # GC007
    UnapprovedImage,            # GC008
    SizeCeiling,                # GC009
    TooManyServers,             # GC010
    SingleServerInProd,         # GC011
    OverlappingNetworks,        # GC012
    NamingScheme,               # GC013
    HealthCheckInProd,          # GC014
    AgencyQuota,                # GC015
    DuplicateServiceName,       # GC016
    PublishedDataPublic,        # GC017
)


def builtin_rules() -> list[Rule]:
    return [cls() for cls in BUILTIN_RULES]


def load_rules(config: "ConfigRepo | None" = None, *, installed: bool = True) -> list[Rule]:
    """Built-in rules, then installed packs, then the config repo's `policies/*.py`, checked and sorted by id."""
    rules = builtin_rules()
    found: list[tuple[Rule, SourceLocation | None, bool]] = [(r, None, False) for r in rules]
    if installed:
        found += [(r, where, True) for r, where in _installed_rules()]
    if config is not None and config.root is not None:
        found += [(r, where, True) for r, where in _config_repo_rules(config.root / CUSTOM_DIR)]
    problems: list[Problem] = []
    by_id: dict[str, Rule] = {}
    for r, where, custom in found:
        bad = _invalid(r, custom)
        if bad:
            problems.append(Problem(f"policy rule {r.id or type(r).__name__!r}: {bad}", location=where,
                                    code="policy-rule"))
            continue
        if r.id in by_id:
            problems.append(Problem(f"policy rule id {r.id} is defined twice: here and in {by_id[r.id].source}",
                                    location=where, code="policy-rule", hint="give each rule its own id"))
            continue
        by_id[r.id] = r
    if problems:
        raise InputError(problems)
    return sorted(by_id.values(), key=lambda r: r.id)


def _invalid(r: Rule, custom: bool) -> str | None:
    if not isinstance(r.id, str) or not RULE_ID.match(r.id):
        return "id must be upper-case letters followed by 3 or 4 digits, e.g. MOH001"
    if custom and RESERVED.match(r.id):
        return "ids GC... are reserved for govcloud's baseline pack; use your own prefix, e.g. MOH001"
    if not (isinstance(r.title, str) and r.title.strip()):
        return "a title is required"
    if r.severity not in SEVERITIES:
        return f"severity must be one of: {', '.join(SEVERITIES)} (got {r.severity!r})"
    if not (isinstance(r.hint, str) and r.hint.strip()):
        return "a remediation hint is required"
    if r.scope not in ("service", "group"):
        return "scope must be service or group"
    if r.scope == "group" and not isinstance(r, GroupRule):
        return "group rules must subclass GroupRule (or use @group_rule)"
    if not callable(getattr(r, "check", None)):  # pragma: no cover - Rule always has one
        return "a check method is required"
    return None


def rules_in(obj: Any, source: str) -> list[Rule]:
    """The rules an object stands for: a rule, a Rule subclass, a module, a list, or a function returning them."""
    if isinstance(obj, Rule):
        out = [obj]
    elif isinstance(obj, type) and issubclass(obj, Rule):
        out = [obj()]
    elif isinstance(obj, ModuleType):
        out = _module_rules(obj)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        out = [r for item in obj for r in rules_in(item, source)]
    elif callable(obj):
        out = rules_in(list(obj()), source)
    else:
        raise TypeError(f"{source} is not a rule, a Rule subclass, a module or a list of rules")
    for r in out:
        r.source = source
    return out


def _module_rules(module: ModuleType) -> list[Rule]:
    instances = [v for v in vars(module).values() if isinstance(v, Rule)]
    have = {type(v) for v in instances}
    classes = [v for v in vars(module).values()
               if isinstance(v, type) and issubclass(v, Rule) and v.__module__ == module.__name__
               and getattr(v, "id", "") and v not in have and not inspect.isabstract(v)]
    return instances + [c() for c in classes]


def _where(r: Rule) -> SourceLocation | None:
    target = getattr(r, "fn", None) or type(r)
    try:
        file = inspect.getsourcefile(target)
        line = inspect.getsourcelines(target)[1]
    except (OSError, TypeError):
        return None
    return SourceLocation(file or "<unknown>", max(line, 1), 1)


@lru_cache(maxsize=1)
def _installed_rules() -> list[tuple[Rule, SourceLocation | None]]:
    """Rules of installed packages (entry points are read once per process)."""
    return _entry_point_rules(tuple(entry_points(group=ENTRY_POINT_GROUP)))


def _entry_point_rules(eps: Iterable) -> list[tuple[Rule, SourceLocation | None]]:
    out: list[tuple[Rule, SourceLocation | None]] = []
    problems: list[Problem] = []
    for ep in sorted(eps, key=lambda e: e.name):
        source = f"entry point {ep.name} = {ep.value}"
        try:
            rules = rules_in(ep.load(), source)
        except Exception as exc:  # noqa: BLE001 - a broken pack is reported, not a traceback
            problems.append(Problem(f"cannot load policy rules from {source}: {type(exc).__name__}: {exc}",
                                    code="policy-rule"))
            continue
        out += [(r, _where(r)) for r in rules]
    if problems:
        raise InputError(problems)
    return out


_file_cache: dict[tuple[str, int], list[Rule]] = {}


def _config_repo_rules(directory: Path) -> list[tuple[Rule, SourceLocation | None]]:
    if not directory.is_dir():
        return []
    out: list[tuple[Rule, SourceLocation | None]] = []
    problems: list[Problem] = []
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            rules = _load_file(path)
        except InputError as exc:
            problems += exc.problems
            continue
        out += [(r, _where(r) or SourceLocation(str(path), 1, 1)) for r in rules]
    if problems:
        raise InputError(problems)
    return out


def _load_file(path: Path) -> list[Rule]:
    stamp = (str(path.resolve()), path.stat().st_mtime_ns)
    if stamp in _file_cache:
        return _file_cache[stamp]
    digest = hashlib.sha1(stamp[0].encode()).hexdigest()[:10]
    name = f"govcloud_custom_policies_{digest}.{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise InputError([Problem(f"invalid Python in custom policy file: {exc.msg}",
                                  location=SourceLocation(str(path), exc.lineno or 1, exc.offset or 1),
                                  code="policy-rule")]) from None
    except Exception as exc:  # noqa: BLE001 - the file is the ministry's code: say where it failed
        sys.modules.pop(name, None)
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
        line = frames[-1].lineno if frames else 1
        raise InputError([Problem(f"custom policy file failed to load: {type(exc).__name__}: {exc}",
                                  location=SourceLocation(str(path), line or 1, 1), code="policy-rule")]) from None
    rules = rules_in(module, str(path))
    _file_cache[stamp] = rules
    return rules
