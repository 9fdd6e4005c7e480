"""A safe YAML loader that remembers where every value came from.

PyYAML's own loaders silently keep the last of two duplicate keys, expand
aliases without bound and construct arbitrary tagged objects on request.
This loader composes the node graph with libyaml (when available), then
builds plain Python values itself so that it can refuse:

- anything but a regular file (a device, a FIFO, a directory: opened
  without blocking and checked on the open descriptor), and files over
  `MAX_FILE_BYTES` (never more than the limit is read),
- control characters (reported at their own line and column),
- any tag other than the standard scalar/map/seq ones, and a standard tag
  on a value it cannot build (`!!int abc`, `!!bool maybe`),
- integers outside 64 bits (Python's int/str conversion is quadratic and
  refuses over 4,300 digits; no field needs more),
- duplicate mapping keys and non-string keys,
- more than `MAX_COMPOSED` keys and values written (checked while composing),
- alias expansion past `MAX_NODES` values or `MAX_DEPTH` nesting
  (billion-laughs and recursive anchors),
- more than one document in a file.

Every refusal takes time linear in the file: at most `MAX_REPORTED`
problems are located and reported (with how many more there are).

Locations are not recorded for every value up front (that would double the
cost of loading): `YamlDocument.locate(path)` walks the node graph only when
a problem needs a file:line:column.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import yaml

from govcloud.errors import MAX_REPORTED, InputError, Problem, SourceLocation, format_path, more_problems, shorten

try:  # libyaml's composer is several times faster than the pure-Python one
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

MAX_FILE_BYTES = 1 * 1024 * 1024
MAX_NODES = 50_000
MAX_COMPOSED = 2 * MAX_NODES  # nodes written in the file (keys count too), before aliases are expanded
MAX_DEPTH = 64
MAX_INT = 2 ** 63 - 1  # what OpenStack's APIs and every manifest field fit in
_MAX_NUMBER_CHARS = 100  # a longer int/float literal is refused before it is converted

_T = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_T + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE, _TIMESTAMP = _T + "map", _T + "seq", _T + "merge", _T + "timestamp"
_constructor = yaml.constructor.SafeConstructor()
# the forms each standard scalar tag accepts, as YAML's own resolver knows them:
# an explicit tag on a value outside its form (`!!int abc`) is refused, not built
_FORMS: dict[str, list[re.Pattern]] = {}
for _resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.values():
    for _tag, _regexp in _resolvers:
        if _regexp not in _FORMS.setdefault(_tag, []):
            _FORMS[_tag].append(_regexp)
_FORMS[_FLOAT].append(re.compile(r"^[-+]?[0-9][0-9_]*$"))  # `!!float 1` is 1.0, as in YAML 1.2
# characters YAML does not allow in a stream (the same set PyYAML's reader refuses)
_NOT_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")

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


class _TooManyNodes(Exception):
    pass


class _Loader(_BaseLoader):
    """The composer, stopped as soon as the file holds more than MAX_COMPOSED nodes.

    Composing is most of the cost of a big file (a node object and a tag
    resolution per key and value), so a 1 MiB file of 200,000 duplicate keys
    is refused a quarter of the way in instead of composed whole. The tag of
    a plain scalar depends only on its text (the class has implicit resolvers
    and no path resolvers): resolved once per distinct text, and remembered
    across files, as a directory of manifests repeats most of its keys.
    """

    plain_tags: dict[str, str] = {}  # shared by every loader; cleared when full (hostile files fill it)
    PLAIN_TAGS_MAX = 8192

    def __init__(self, stream: str):
        super().__init__(stream)
        self.nodes = 0

    def resolve(self, kind, value, implicit):
        self.nodes += 1
        if self.nodes > MAX_COMPOSED:
            raise _TooManyNodes()
        if kind is yaml.ScalarNode:
            if not implicit[0]:
                return _STR  # quoted: what the base class gives without path resolvers
            tags = self.plain_tags
            tag = tags.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(tags) >= self.PLAIN_TAGS_MAX:
                    tags.clear()
                tags[value] = tag
            return tag
        return _MAP if kind is yaml.MappingNode else _SEQ  # an untagged collection, likewise


assert not _Loader.yaml_path_resolvers  # resolve's shortcuts hold only without them


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
        self.more = 0  # problems found past MAX_REPORTED, counted only

    def problem(self, node: yaml.Node, message: str, hint: str | None = None) -> None:
        if not self.full():
            self.problems.append((node, message, hint))

    def full(self) -> bool:
        """True (and one more problem counted) once MAX_REPORTED problems are held.

        The duplicate-key path asks first, so that the 200,000th duplicate costs no message.
        """
        if len(self.problems) < MAX_REPORTED:
            return False
        self.more += 1
        return True

    def scalar(self, node: yaml.ScalarNode, tag: str) -> Any:
        """A standard scalar, or None with a problem when its value is not of the tag's form."""
        value = node.value
        if tag == _INT and value.isdigit() and value.isascii() and (value[0] != "0" or len(value) == 1) \
                and len(value) <= _MAX_NUMBER_CHARS:
            # the common case, a plain decimal (no sign, _, 0x, 0o, 0b, octal 0..., or 1:30 sexagesimal):
            # what construct_yaml_int gives, without the form scan and the general constructor
            number = int(value)
            if number <= MAX_INT:
                return number
        if tag in (_INT, _FLOAT) and len(value) > _MAX_NUMBER_CHARS:
            self.problem(node, f"number is too long ({len(value):,} characters)",
                         f"integers must be between {-MAX_INT - 1} and {MAX_INT}")
            return None
        if not any(form.match(value) for form in _FORMS[tag]):
            self.problem(node, f"{shorten(value)!r} is not a valid {tag.rsplit(':', 1)[-1]}",
                         "remove the explicit tag or write a value of its type")
            return None
        if tag == _INT:
            number = _constructor.construct_yaml_int(node)
            if not -MAX_INT - 1 <= number <= MAX_INT:
                self.problem(node, "integer is out of range",
                             f"integers must be between {-MAX_INT - 1} and {MAX_INT}")
                return None
            return number
        if tag == _FLOAT:
            return _constructor.construct_yaml_float(node)
        if tag == _BOOL:
            return _constructor.construct_yaml_bool(node)
        return None  # null

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
            if tag in (_INT, _BOOL, _NULL, _FLOAT):
                return self.scalar(node, tag)
            if tag == _TIMESTAMP:  # dates stay text: no manifest field is a date object
                return node.value
        elif cls is yaml.MappingNode and tag == _MAP:
            return self.mapping(node, depth)
        elif cls is yaml.SequenceNode and tag == _SEQ:
            return [self.build(item, depth + 1) for item in node.value]
        self.problem(node, f"tag '{shorten(tag)}' is not allowed",
                     "only plain YAML is accepted: strings, numbers, booleans, null, lists and mappings")
        return None

    def mapping(self, node: yaml.MappingNode, depth: int) -> dict:
        out: dict[str, Any] = {}
        merged: dict[str, Any] | None = None
        first_keys: dict[str, yaml.Node] | None = None  # built on the first duplicate: linear, not quadratic
        for key_node, value_node in node.value:
            key_tag = key_node.tag
            if key_tag == _STR and key_node.__class__ is yaml.ScalarNode:
                key = key_node.value
                if key in out:
                    if self.full():
                        continue
                    if first_keys is None:
                        first_keys = {}
                        for k, _ in node.value:
                            if k.__class__ is yaml.ScalarNode:
                                first_keys.setdefault(k.value, k)
                    first = first_keys.get(key)
                    self.problem(key_node, f"duplicate key '{shorten(key)}'",
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
                self.problem(key_node, f"keys must be plain strings, got {shorten(key_tag.rsplit(':', 1)[-1])}")
        if merged:
            for k, v in merged.items():
                out.setdefault(k, v)
        return out


def _paths_to(root: yaml.Node, targets: Sequence[yaml.Node]) -> dict[int, tuple]:
    """The field path of each target node (a key node: the path of its entry), in one walk of the graph."""
    wanted = {id(t) for t in targets}
    found: dict[int, tuple] = {}
    stack: list[tuple[yaml.Node, tuple, int]] = [(root, (), 0)]
    seen: set[int] = set()
    while stack and len(found) < len(wanted):
        node, path, depth = stack.pop()
        if id(node) in wanted:
            found.setdefault(id(node), path)
        if id(node) in seen or depth > MAX_DEPTH:
            continue
        seen.add(id(node))
        # children pushed last-first, so that the walk goes in document order and
        # stops soon after the last reported problem (they are the file's first ones)
        if isinstance(node, yaml.MappingNode):
            for k, v in reversed(node.value):
                # a non-scalar key is never printed: its repr can be as large as the document
                step = k.value if isinstance(k, yaml.ScalarNode) else "?"
                stack.append((v, path if k.tag == _MERGE else path + (step,), depth + 1))
                if id(k) in wanted:
                    stack.append((k, path + (step,) if k.tag == _STR else path, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            for i in range(len(node.value) - 1, -1, -1):
                stack.append((node.value[i], path + (i,), depth + 1))
    return found


class _TooBig(Exception):
    def __init__(self, node: yaml.Node, message: str):
        self.node, self.message = node, message


def _position(text: str, index: int, file: str) -> SourceLocation:
    """The line:column of the character at `index` (both 1-based, columns in characters)."""
    line_start = text.rfind("\n", 0, index) + 1
    return SourceLocation(file, text.count("\n", 0, index) + 1, index - line_start + 1)


def load_yaml_text(text: str, file: str) -> YamlDocument:
    """Load one YAML document from text; raise InputError listing every problem."""
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:  # found here, not by the reader: it reports only "position N" of the whole stream
        raise InputError([Problem(f"control character U+{ord(bad.group()):04X} is not allowed in YAML",
                                  location=_position(text, bad.start(), file), code="yaml",
                                  hint='write it as an escape in a double-quoted string ("\\x01") if it is meant')])
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
    except _TooManyNodes:
        raise InputError([Problem(f"the file holds more than {MAX_COMPOSED:,} keys and values", code="yaml",
                                  location=SourceLocation(file, 1, 1),
                                  hint="a manifest has a few hundred; split it up")]) from None
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
        paths = _paths_to(root, [node for node, _, _ in builder.problems])
        problems = [
            Problem(message, format_path(paths.get(id(node), ())),
                    SourceLocation(file, node.start_mark.line + 1, node.start_mark.column + 1), code="yaml", hint=hint)
            for node, message, hint in builder.problems]
        if builder.more:
            problems.append(more_problems(builder.more, SourceLocation(file, 1, 1)))
        raise InputError(problems)
    return YamlDocument(file, data, root)


def read_regular_file(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, or InputError.

    Checked on the open descriptor, not the name (no race with a swapped
    file): a device (/dev/zero, /dev/urandom, a symlink to one), a FIFO or a
    directory is refused, and never more than `max_bytes` + 1 bytes are read
    (a file that grows after the check is still refused). O_NONBLOCK keeps
    opening a FIFO from waiting for a writer.
    """
    name = str(path)
    where = SourceLocation(name, 1, 1)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError([Problem(f"cannot read file: {exc.strerror or exc}", location=where, code="io")]) from None
    too_big = Problem(f"file is over the limit of {max_bytes:,} bytes", location=where, code="yaml",
                      hint="a manifest describes one service; split it up")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode)
                    else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a socket")
            raise InputError([Problem(f"not a regular file: it is {kind}", location=where, code="io",
                                      hint="give the path of a YAML file")])
        if info.st_size > max_bytes:
            raise InputError([Problem(f"file is {info.st_size:,} bytes; the limit is {max_bytes:,} bytes",
                                      location=where, code="yaml", hint=too_big.hint)])
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise InputError([too_big])
        return b"".join(chunks)
    except OSError as exc:
        raise InputError([Problem(f"cannot read file: {exc.strerror or exc}", location=where, code="io")]) from None
    finally:
        os.close(fd)


def load_yaml_file(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES) -> YamlDocument:
    """Load a YAML file safely (a regular file, size-checked before it is read)."""
    name = str(path)
    raw = read_regular_file(path, max_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError([Problem("file is not valid UTF-8 text",
                                  location=SourceLocation(name, line, 1), code="yaml")]) from None
    return load_yaml_text(text, name)
