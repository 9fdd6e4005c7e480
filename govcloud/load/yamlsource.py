"""A safe YAML loader that remembers where every value came from.

PyYAML's own loaders silently keep the last of two duplicate keys, expand
aliases without bound and construct arbitrary tagged objects on request.
This loader composes the node graph with libyaml (when available), then
builds plain Python values itself so that it can refuse:

- files over `MAX_FILE_BYTES` (before reading them),
- any tag other than the standard scalar/map/seq ones,
- duplicate mapping keys and non-string keys,
- alias expansion past `MAX_NODES` values or `MAX_DEPTH` nesting
  (billion-laughs and recursive anchors),
- more than one document in a file.

Locations are not recorded for every value up front (that would double the
cost of loading): `YamlDocument.locate(path)` walks the node graph only when
a problem needs a file:line:column.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import yaml

from govcloud.errors import InputError, Problem, SourceLocation, format_path

try:  # libyaml's composer is several times faster than the pure-Python one
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_FILE_BYTES = 1 * 1024 * 1024
MAX_NODES = 50_000
MAX_DEPTH = 64

_T = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_T + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE, _TIMESTAMP = _T + "map", _T + "seq", _T + "merge", _T + "timestamp"
_constructor = yaml.constructor.SafeConstructor()

Path_ = tuple  # a field path: ('spec', 'servers', 0, 'name')


class Locator(Protocol):
    def locate(self, path: Sequence[str | int], *, key: bool = False) -> SourceLocation: ...


@dataclass(frozen=True)
class YamlDocument:
    """Plain data loaded from one file, and the node graph to locate its parts."""

    file: str
    data: Any
    root: yaml.Node

    def locate(self, path: Sequence[str | int], *, key: bool = False) -> SourceLocation:
        """Where `path` is written. With key=True, the key of the last step.

        A path that does not exist (a missing field) resolves to the deepest
        part that does, which is where the missing field belongs.
        """
        node = self.root
        mark = node.start_mark
        for i, step in enumerate(path):
            child_key, child = _child(node, step)
            if child is None:
                break
            last = i == len(path) - 1
            mark = child_key.start_mark if (last and key and child_key is not None) else child.start_mark
            node = child
        return SourceLocation(self.file, mark.line + 1, mark.column + 1)


def _child(node: yaml.Node, step: str | int) -> tuple[yaml.Node | None, yaml.Node | None]:
    if isinstance(node, yaml.MappingNode) and isinstance(step, str):
        found: tuple[Any, Any] = (None, None)
        for k, v in node.value:
            if k.tag == _MERGE:
                for merged in (v.value if isinstance(v, yaml.SequenceNode) else [v]):
                    mk, mv = _child(merged, step)
                    if mv is not None and found[1] is None:
                        found = (mk, mv)
            elif isinstance(k, yaml.ScalarNode) and k.value == step:
                return k, v  # explicit keys win over merged ones
        return found
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        return None, node.value[step]
    return None, None


class _Builder:
    """Turns a node graph into plain values, collecting every problem.

    Paths are not tracked while building (that would cost more than the
    build itself); a problem remembers its node and its path is found by
    searching the graph afterwards, only when there is a problem.
    """

    def __init__(self, file: str):
        self.file = file
        self.count = 0
        self.problems: list[tuple[yaml.Node, str, str | None]] = []

    def problem(self, node: yaml.Node, message: str, hint: str | None = None) -> None:
        self.problems.append((node, message, hint))

    def build(self, node: yaml.Node, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(node, f"document expands to more than {MAX_NODES} values (alias bomb?)")
        if depth > MAX_DEPTH:
            raise _TooBig(node, f"document nests deeper than {MAX_DEPTH} levels (recursive alias?)")
        tag = node.tag
        cls = node.__class__
        if cls is yaml.ScalarNode:
            if tag == _STR:
                return node.value
            if tag == _INT:
                return _constructor.construct_yaml_int(node)
            if tag == _BOOL:
                return _constructor.construct_yaml_bool(node)
            if tag == _NULL:
                return None
            if tag == _FLOAT:
                return _constructor.construct_yaml_float(node)
            if tag == _TIMESTAMP:  # dates stay text: no manifest field is a date object
                return node.value
        elif cls is yaml.MappingNode and tag == _MAP:
            return self.mapping(node, depth)
        elif cls is yaml.SequenceNode and tag == _SEQ:
            return [self.build(item, depth + 1) for item in node.value]
        self.problem(node, f"tag '{tag}' is not allowed",
                     "only plain YAML is accepted: strings, numbers, booleans, null, lists and mappings")
        return None

    def mapping(self, node: yaml.MappingNode, depth: int) -> dict:
        out: dict[str, Any] = {}
        merged: dict[str, Any] | None = None
        for key_node, value_node in node.value:
            key_tag = key_node.tag
            if key_tag == _STR and key_node.__class__ is yaml.ScalarNode:
                key = key_node.value
                if key in out:
                    first = _first_key(node, key)
                    self.problem(key_node, f"duplicate key '{key}'",
                                 f"first defined at line {first.start_mark.line + 1}" if first else None)
                    continue
                out[key] = self.build(value_node, depth + 1)
            elif key_tag == _MERGE:
                merged = {} if merged is None else merged
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for src in sources:
                    value = self.build(src, depth + 1)
                    if isinstance(value, dict):
                        for k, v in value.items():
                            merged.setdefault(k, v)
                    else:
                        self.problem(src, "a merge key (<<) must refer to a mapping")
            else:
                self.problem(key_node, f"keys must be plain strings, got {key_tag.rsplit(':', 1)[-1]}")
        if merged:
            for k, v in merged.items():
                out.setdefault(k, v)
        return out


def _path_to(root: yaml.Node, target: yaml.Node) -> tuple:
    """The field path of `target` in the graph (for a key node: the path of its entry)."""
    stack: list[tuple[yaml.Node, tuple, int]] = [(root, (), 0)]
    seen: set[int] = set()
    while stack:
        node, path, depth = stack.pop()
        if node is target:
            return path
        if id(node) in seen or depth > MAX_DEPTH:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                step = k.value if isinstance(k, yaml.ScalarNode) and k.tag == _STR else str(getattr(k, "value", "?"))
                if k is target:
                    return path + (step,) if k.tag == _STR else path
                stack.append((v, path if k.tag == _MERGE else path + (step,), depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                stack.append((item, path + (i,), depth + 1))
    return ()


def _first_key(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for k, _ in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k
    return None


class _TooBig(Exception):
    def __init__(self, node: yaml.Node, message: str):
        self.node, self.message = node, message


def load_yaml_text(text: str, file: str) -> YamlDocument:
    """Load one YAML document from text; raise InputError listing every problem."""
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else SourceLocation(file, 1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            reason = f"{reason} ({exc.context})"
        raise InputError([Problem(f"invalid YAML: {reason}", location=loc, code="yaml")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(f"invalid YAML: {exc}", location=SourceLocation(file, 1, 1), code="yaml")]) from None
    if root is None:
        raise InputError([Problem("the file is empty", location=SourceLocation(file, 1, 1), code="yaml")])
    builder = _Builder(file)
    try:
        data = builder.build(root, 0)
    except _TooBig as exc:
        mark = exc.node.start_mark
        raise InputError([Problem(exc.message, location=SourceLocation(file, mark.line + 1, mark.column + 1),
                                  code="yaml")]) from None
    except RecursionError:
        raise InputError([Problem("document nests too deeply", location=SourceLocation(file, 1, 1),
                                  code="yaml")]) from None
    if builder.problems:
        raise InputError([
            Problem(message, format_path(_path_to(root, node)),
                    SourceLocation(file, node.start_mark.line + 1, node.start_mark.column + 1), code="yaml", hint=hint)
            for node, message, hint in builder.problems])
    return YamlDocument(file, data, root)


def load_yaml_file(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES) -> YamlDocument:
    """Load a YAML file safely (size-checked before it is read)."""
    p = Path(path)
    name = str(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise InputError([Problem(
                f"file is {size:,} bytes; the limit is {max_bytes:,} bytes",
                location=SourceLocation(name, 1, 1), code="yaml",
                hint="a manifest describes one service; split it up")])
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError([Problem(f"cannot read file: {exc.strerror or exc}",
                                  location=SourceLocation(name, 1, 1), code="io")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError([Problem("file is not valid UTF-8 text",
                                  location=SourceLocation(name, line, 1), code="yaml")]) from None
    return load_yaml_text(text, name)
