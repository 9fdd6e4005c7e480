"""`govcloud catalog build OUT`: the catalog of a config repo, written as a static site and as data.

    OUT/index.html, OUT/fa/..., OUT/en/...   the site (Persian and English)
    OUT/catalog.json, OUT/catalog.schema.json the catalog as data and its JSON Schema
    OUT/catalog.ttl, OUT/catalog.jsonld       the catalog as DCAT-AP 3 RDF
    OUT/openapi/<agency>/<service>/<endpoint>.json   the endpoints' OpenAPI documents

What a build owns in OUT (those files and directories) is replaced on every
build; anything else in OUT is left alone. The catalog.json of the previous
build is read first, so that a service it listed as live and that is live no
more gets a tombstone.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from govcloud.catalog.model import CatalogDocument, catalog_json_schema
from govcloud.errors import InputError, Problem

if TYPE_CHECKING:  # pragma: no cover
    from govcloud.catalog.status import StatusSource
    from govcloud.check import Workspace

OWNED_DIRS = ("fa", "en", "openapi", "assets")


@dataclass(frozen=True)
class BuildResult:
    out: Path
    document: CatalogDocument
    files: list[Path]

    def summary(self) -> str:
        s = self.document.services
        n = {state: sum(1 for x in s if x.status == state) for state in ("available", "degraded", "planned")}
        return (f"catalog: {len(s)} services ({n['available']} available, {n['degraded']} degraded, "
                f"{n['planned']} planned), {sum(len(x.datasets) for x in s)} datasets, "
                f"{len(self.document.retired)} retired; {len(self.files)} files in {self.out}")


def default_manifest_dirs(ws: "Workspace") -> list[Path]:
    """The config repo's manifests/ (made by `govcloud init`)."""
    root = ws.config.root
    if root is None or not (root / "manifests").is_dir():
        raise InputError([Problem("no manifests to build the catalog from: give --manifests DIR (the config "
                                  "repo has no manifests/ directory)", code="usage")])
    return [root / "manifests"]


def build(out_dir: str | os.PathLike[str], workspace: "Workspace | None" = None, *,
          manifests: Iterable[str | os.PathLike[str]] | None = None, status: "StatusSource | None" = None,
          offline: bool = False, now: _dt.datetime | None = None) -> BuildResult:
    from govcloud.catalog.collect import collect, read_previous
    from govcloud.catalog.dcat import build_graph, serialize
    from govcloud.catalog.site import render_site
    from govcloud.catalog.status import EngineStatusSource, NoStatus
    from govcloud.check import Workspace

    ws = workspace or Workspace()
    paths = list(manifests) if manifests else default_manifest_dirs(ws)
    if status is None:
        status = NoStatus() if offline else EngineStatusSource(ws.config)
    out = Path(out_dir)
    now = now or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    collected = collect(ws, paths, status, now=now, previous=read_previous(out))
    doc = collected.document
    out.mkdir(parents=True, exist_ok=True)
    for d in OWNED_DIRS:
        shutil.rmtree(out / d, ignore_errors=True)
    files = render_site(doc, ws.config, out)

    def write(rel: str, text: str) -> None:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        files.append(path)

    for rel, api in sorted(collected.documents.items()):
        write(rel, json.dumps(api.data, ensure_ascii=False, indent=2) + "\n")
    write("catalog.json", json.dumps(doc.to_json(), ensure_ascii=False, indent=2) + "\n")
    write("catalog.schema.json", json.dumps(catalog_json_schema(), ensure_ascii=False, indent=2) + "\n")  # as docs/
    for name, text in serialize(build_graph(doc)).items():
        write(name, text)
    return BuildResult(out, doc, files)
