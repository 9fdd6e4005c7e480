"""Where a field is written in a JSON text: the locations of problems in the JSON files govcloud reads back.

govcloud writes two JSON formats that users may hand to it again: saved plans (`diff --out`) and the audit
log (one JSON object per line). Their problems are reported like a manifest's, at file:line:column. JSON is
YAML, so the located YAML loader finds each path's node; a text the YAML loader cannot read locates at
its first column (the problem is still reported, only less precisely).
"""
from __future__ import annotations

from typing import Callable, Sequence

from govcloud.errors import SourceLocation

Locate = Callable[..., SourceLocation]  # (path, *, key=False) -> SourceLocation, as validate_model calls it


def json_locator(text: str, file: str, *, line: int = 1) -> Locate:
    """path -> where it is written in `text`, a JSON document starting at `line` of `file`."""
    from govcloud.load.yamlsource import load_yaml_text

    try:
        doc = load_yaml_text(text, file)
    except Exception:  # noqa: BLE001 - a location is a courtesy; the problem is still reported
        doc = None

    def locate(path: Sequence[str | int], *, key: bool = False) -> SourceLocation:
        if doc is not None:
            try:
                found = doc.locate(path, key=key)
                return SourceLocation(file, found.line + line - 1, found.column)
            except Exception:  # noqa: BLE001
                pass
        return SourceLocation(file, line, 1)

    return locate
