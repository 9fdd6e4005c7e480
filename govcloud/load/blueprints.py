"""Service blueprints (stacks/<name>.yaml): defaults a manifest extends.

A manifest with `spec.blueprint: web-app` starts from the blueprint's `spec`
and overrides it: mappings merge key by key, lists of named items merge by
`name` (an item the manifest names again is merged into the blueprint's,
new names are appended), anything else the manifest sets wins. A name the
manifest uses twice stays twice, so that the schema refuses it exactly as
it does without a blueprint (nothing is silently collapsed).

A blueprint name is checked to be a name (a DNS label) before it becomes a
file name: `../agencies` or an absolute path never reaches the file system.

Every merged value remembers which file wrote it, so an error in a merged
manifest points at the agency's line, or at the blueprint's line when the
blueprint is at fault.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from govcloud.config import ConfigRepo
from govcloud.errors import InputError, Problem, SourceLocation, unknown_name
from govcloud.load.manifest import DNS_LABEL_RULE, is_dns_label
from govcloud.load.yamlsource import Locator, YamlDocument, load_yaml_file

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path


@dataclass(frozen=True)
class Blueprint:
    name: str
    description: str
    spec: dict
    document: YamlDocument

    @property
    def file(self) -> str:
        return self.document.file


class Blueprints:
    """The blueprints of one config repo (stacks/<name>.yaml over the shipped defaults), owned by the
    Workspace that checks manifests against them: each file is read and checked once while it is unchanged
    (its path and mtime), so a directory of manifests that extend one blueprint reads it once."""

    def __init__(self, config: ConfigRepo):
        self.config = config
        self._loaded: dict[tuple[str, int], Blueprint] = {}

    def names(self) -> list[str]:
        names: set[str] = set()
        for d in self.config.search_dirs("stacks"):
            names.update(p.stem for p in d.glob("*.yaml"))
        return sorted(names)

    def load(self, name: str, where: SourceLocation | None = None) -> Blueprint:
        """The blueprint `name`; InputError located at `where` (the manifest's spec.blueprint) when the name is
        not a name or no such blueprint exists, and at the blueprint's own lines when its file is wrong."""
        if not is_dns_label(name):
            raise InputError([Problem(f"blueprint {DNS_LABEL_RULE} (1-63 characters)", "spec.blueprint", where,
                                      code="schema")])
        found = self.config.stat_file("stacks", f"{name}.yaml")
        if found is None:
            raise InputError([unknown_name("blueprint", name, self.names(), "spec.blueprint", where)])
        path, st = found
        stamp = (str(path), st.st_mtime_ns)
        bp = self._loaded.get(stamp)
        if bp is None:
            bp = self._loaded[stamp] = _read(path, name)
        return bp

    def apply(self, doc: YamlDocument) -> tuple[Any, Locator]:
        """The manifest data with its blueprint's defaults merged in, and a locator for it."""
        data = doc.data
        spec = data.get("spec") if isinstance(data, dict) else None
        name = spec.get("blueprint") if isinstance(spec, dict) else None
        if not isinstance(name, str):
            return data, doc
        bp = self.load(name, doc.locate(("spec", "blueprint")))
        loc = MergedLocator()
        loc.origins[()] = (doc, ())
        merged = dict(data)
        merged["spec"] = merge(bp.spec, spec, bp.document, doc, ("spec",), ("spec",), ("spec",), loc)
        return merged, loc


def _read(path: Path, name: str) -> Blueprint:
    """The blueprint file at `path`, checked: a mapping of name (which must be `name`), description, spec."""
    doc = load_yaml_file(path)
    data = doc.data
    problems = []
    if not isinstance(data, dict):
        problems.append(Problem("a blueprint must be a mapping with name, description and spec", "",
                                doc.locate(()), code="blueprint"))
    else:
        for key in data:
            if key not in ("name", "description", "spec"):
                problems.append(Problem(f"unknown field '{key}'", key, doc.locate((key,), key=True),
                                        code="blueprint", hint="allowed: name, description, spec"))
        if data.get("name") != name:
            problems.append(Problem(f"blueprint file {path.name} must have name: {name}", "name",
                                    doc.locate(("name",)), code="blueprint"))
        if not isinstance(data.get("spec"), dict):
            problems.append(Problem("spec must be a mapping of manifest spec defaults", "spec",
                                    doc.locate(("spec",)), code="blueprint"))
    if problems:
        raise InputError(problems)
    return Blueprint(name, str(data.get("description", "")).strip(), data["spec"], doc)


class MergedLocator:
    """Locates paths of merged data in whichever document wrote them."""

    def __init__(self) -> None:
        self.origins: dict[tuple, tuple[Locator, tuple]] = {}

    def locate(self, path: Sequence[str | int], *, key: bool = False) -> SourceLocation:
        path = tuple(path)
        for i in range(len(path), -1, -1):
            origin = self.origins.get(path[:i])
            if origin is not None:
                doc, src_path = origin
                return doc.locate(src_path + path[i:], key=key)
        raise LookupError(path)  # pragma: no cover - the root is always recorded


def _named_list(value: Any) -> bool:
    """A list merged by name: every item a mapping with a string name (others are replaced whole,
    and the schema reports what is wrong with them)."""
    return isinstance(value, list) and all(isinstance(v, dict) and isinstance(v.get("name"), str) for v in value)


def merge(base: Any, over: Any, base_doc: Locator, over_doc: Locator, base_path: tuple, over_path: tuple,
          out_path: tuple, loc: MergedLocator) -> Any:
    """`over` merged onto `base`; records in `loc` where each part of the result came from."""
    if isinstance(base, dict) and isinstance(over, dict):
        loc.origins[out_path] = (over_doc, over_path)
        out: dict[str, Any] = {}
        for k, v in base.items():
            if k in over:
                out[k] = merge(v, over[k], base_doc, over_doc, base_path + (k,), over_path + (k,),
                               out_path + (k,), loc)
            else:
                out[k] = v
                loc.origins[out_path + (k,)] = (base_doc, base_path + (k,))
        for k, v in over.items():
            if k not in base:
                out[k] = v
                loc.origins[out_path + (k,)] = (over_doc, over_path + (k,))
        return out
    if _named_list(base) and _named_list(over):
        loc.origins[out_path] = (over_doc, over_path)
        over_index: dict[str, int] = {}
        for i, item in enumerate(over):
            over_index.setdefault(item["name"], i)  # the first of a repeated name merges, the others are appended
        merged_into_base: set[int] = set()
        result: list[Any] = []
        for i, item in enumerate(base):
            j = over_index.pop(item["name"], None)
            n = len(result)
            if j is None:
                result.append(item)
                loc.origins[out_path + (n,)] = (base_doc, base_path + (i,))
            else:
                merged_into_base.add(j)
                result.append(merge(item, over[j], base_doc, over_doc, base_path + (i,), over_path + (j,),
                                    out_path + (n,), loc))
        for j, item in enumerate(over):
            if j not in merged_into_base:
                loc.origins[out_path + (len(result),)] = (over_doc, over_path + (j,))
                result.append(item)
        return result
    loc.origins[out_path] = (over_doc, over_path)
    return over
