"""What a manifest names (agency, environment, site), read from its YAML events without building it.

`plan FILE` and `cost FILE` check the file with its neighbours as the policy context (quotas,
overlapping networks, duplicate names are rules over groups of manifests). A config repo of
20,000 manifests made that a full load and compile of every neighbour: 15-27 s and over 2 GiB
for one file. The group rules group by these keys, so a neighbour that cannot share a group
with the checked files need not be built at all; telling it costs the parse of its first few
lines (libyaml's event stream, stopped as soon as the answer is known).

A key is only reported when the events say it for sure: a plain or quoted string scalar,
without an alias, an anchor's merge key or a tag. Anything else is left out, and a key left out
matches every group (the neighbour is then built and checked, as before). A file that cannot
be read, or is not a mapping, is left out of the context, as the full check would leave it; one
libyaml cannot parse is built and checked (the loader decides).
"""
from __future__ import annotations

import os
from typing import Callable, Mapping

import yaml

from govcloud.errors import InputError
from govcloud.load.yamlsource import MAX_FILE_BYTES, read_regular_file

# (top-level key, key under it) -> the ServiceContext attribute the policy rules group by
KEYS: Mapping[tuple[str, str], str] = {
    ("metadata", "agency"): "agency_id",
    ("metadata", "environment"): "environment",
    ("spec", "site"): "site_name",
}
_SECTIONS = {section for section, _ in KEYS}
_STR = "tag:yaml.org,2002:str"
_resolve = yaml.resolver.Resolver().resolve
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Keys = dict[str, str]


def _string(event) -> str | None:
    """The scalar's text when YAML would build a string from it, else None."""
    if not isinstance(event, yaml.ScalarEvent) or event.anchor is not None:
        return None
    if event.tag is not None and event.tag not in ("!", _STR):
        return None
    if event.implicit[0] and _resolve(yaml.ScalarNode, event.value, (True, False)) != _STR:
        return None  # a plain 123, true or null is not a string
    return event.value


def _skip(event, events) -> None:
    """Consume the rest of the node that starts with `event`."""
    if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
        depth = 1
        for e in events:
            if isinstance(e, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
            elif isinstance(e, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
                if depth == 0:
                    return


def peek_keys(data: bytes, *, enough: Callable[[Keys], bool] = lambda keys: False) -> Keys | None:
    """The keys of KEYS the manifest in `data` names for sure; None when it is not a YAML mapping, {} when
    libyaml cannot parse it.

    Stops reading as soon as `enough(keys)` is true or every key is known."""
    keys: Keys = {}
    events = iter(yaml.parse(data, Loader=_Loader))
    try:
        for expected in (yaml.StreamStartEvent, yaml.DocumentStartEvent, yaml.MappingStartEvent):
            if not isinstance(next(events), expected):
                return None
        for key in events:
            if isinstance(key, yaml.MappingEndEvent):
                break
            value = next(events)
            section = _string(key)
            if section not in _SECTIONS or not isinstance(value, yaml.MappingStartEvent):
                _skip(value, events)
                continue
            for sub in events:
                if isinstance(sub, yaml.MappingEndEvent):
                    break
                v = next(events)
                name = KEYS.get((section, _string(sub) or ""))
                text = _string(v) if name is not None else None
                if text is not None and name not in keys:
                    keys[name] = text
                    if len(keys) == len(KEYS) or enough(keys):
                        return keys
                _skip(v, events)
    except (yaml.YAMLError, StopIteration, RecursionError):
        return {}  # the loader's own parse decides (and reports it when the file is itself checked)
    return keys


def peek_file(path: str | os.PathLike[str], *, enough: Callable[[Keys], bool] = lambda keys: False) -> Keys | None:
    """peek_keys of a manifest file (a regular file under the loader's size limit), None when unreadable."""
    try:
        data = read_regular_file(path, MAX_FILE_BYTES)
    except InputError:
        return None
    return peek_keys(data, enough=enough)
