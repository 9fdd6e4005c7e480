"""`govcloud catalog check [OUT]`: is a built catalog what DCAT-AP harvesters accept, and does it answer?

- the Turtle and JSON-LD files parse (rdflib) and hold the same graph;
- the graph conforms to shapes.ttl (pyshacl): DCAT-AP 3.0.1's mandatory
  properties are errors, the recommended ones warnings; every result is
  located at the manifest (or inventory) line of the entry it is about,
  through catalog.json;
- every published URL is well formed (http or https, a host, no spaces);
- with `probe`, every live endpoint and download URL is requested
  (govcloud.catalog.probe) and a failure is an error.

Without OUT the catalog is built into a temporary directory first (the
same build as `catalog build`), so CI can check what it would publish.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator
from urllib.parse import urlsplit

from govcloud.catalog.model import CatalogDocument, Source
from govcloud.catalog.probe import ProbeResult, probe_all
from govcloud.errors import InputError, Problem, SourceLocation

if TYPE_CHECKING:  # pragma: no cover
    from govcloud.catalog.status import StatusSource
    from govcloud.check import Workspace

SHAPES = Path(__file__).with_name("shapes.ttl")
SHORT = {"http://www.w3.org/ns/dcat#": "dcat:", "http://purl.org/dc/terms/": "dct:",
         "http://xmlns.com/foaf/0.1/": "foaf:", "http://www.w3.org/2006/vcard/ns#": "vcard:",
         "http://www.w3.org/ns/adms#": "adms:"}


@dataclass
class CheckReport:
    out: Path
    problems: list[Problem] = field(default_factory=list)
    probes: list[ProbeResult] = field(default_factory=list)
    triples: int = 0

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for p in self.problems)

    def summary(self) -> str:
        e = sum(1 for p in self.problems if p.severity == "error")
        w = len(self.problems) - e
        probed = f", {sum(1 for r in self.probes if r.ok)}/{len(self.probes)} URLs answered" if self.probes else ""
        return (f"catalog check: {self.triples} triples, {e} error{'s' if e != 1 else ''}, "
                f"{w} warning{'s' if w != 1 else ''}{probed}")


def _short(uri: str) -> str:
    for long, short in SHORT.items():
        if uri.startswith(long):
            return short + uri[len(long):]
    return f"<{uri}>"


def _location(source: Source | None) -> SourceLocation | None:
    return SourceLocation(source.file, source.line, source.column) if source is not None else None


def read_built(out: Path) -> CatalogDocument:
    from pydantic import ValidationError

    path = out / "catalog.json"
    try:
        return CatalogDocument.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError([Problem(f"no catalog here: {exc.strerror or exc} (run govcloud catalog build {out})",
                                  location=SourceLocation(str(path), 1, 1), code="io")]) from None
    except (ValidationError, ValueError) as exc:
        raise InputError([Problem(f"not a catalog.json of this govcloud: {str(exc).splitlines()[0]}",
                                  location=SourceLocation(str(path), 1, 1), code="catalog")]) from None


def shacl_problems(graph, doc: CatalogDocument) -> list[Problem]:
    """The graph against shapes.ttl: one Problem per SHACL result, at the line its entry came from."""
    import pyshacl
    from rdflib import Graph, URIRef
    from rdflib.namespace import SH

    from govcloud.catalog.dcat import node_sources

    shapes = Graph().parse(SHAPES, format="turtle")
    conforms, results, _text = pyshacl.validate(graph, shacl_graph=shapes, inference="none", advanced=False,
                                                allow_warnings=True)
    sources = node_sources(doc)
    out = []
    for result in results.subjects(SH.resultSeverity, None):
        focus = str(results.value(result, SH.focusNode))
        path = results.value(result, SH.resultPath)
        severity = results.value(result, SH.resultSeverity)
        component = str(results.value(result, SH.sourceConstraintComponent) or "")
        shape = results.value(result, SH.sourceShape)
        name = str(shapes.value(shape, SH.name) or (_short(str(path)) if path is not None else "value"))
        kind = next((_short(str(t)) for t in graph.objects(URIRef(focus), URIRef(
            "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"))), "resource")
        prop = _short(str(path)) if path is not None else ""
        if component.endswith("MinCountConstraintComponent"):
            message = f"{kind} {_short(focus)} has no {name} ({prop})"
        else:
            message = f"{kind} {_short(focus)}: {name} ({prop}): {results.value(result, SH.resultMessage)}"
        warning = severity == SH.Warning or severity == SH.Info
        rule = "recommended" if warning else "mandatory"
        out.append(Problem(message, prop, _location(sources.get(focus)), "warning" if warning else "error",
                           code="DCAT-AP", hint=f"{rule} in DCAT-AP 3.0.1"))
    out.sort(key=lambda p: (p.severity != "error", str(p.location or ""), p.message))
    return out


def published_urls(doc: CatalogDocument) -> Iterator[tuple[str, str, Source | None, bool]]:
    """(what, url, where, probe it) for every URL the catalog publishes."""
    yield "baseUrl", doc.catalog.base_url, doc.catalog.source, False
    for s in doc.services:
        for e in s.endpoints:
            yield f"endpoint {s.id} {e.name}", e.url, e.source, s.live and e.kind in ("rest", "soap", "graphql",
                                                                                          "web")
        for d in s.datasets:
            yield f"licence of {s.id} {d.name}", d.license_url, d.source, False
            if d.access_url:
                yield f"access URL of {s.id} {d.name}", d.access_url, d.source, False
            if d.download_url:
                yield f"download URL of {s.id} {d.name}", d.download_url, d.source, s.live


def url_problem(url: str) -> str | None:
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a bad port
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https"):
        return f"scheme must be http or https, not {parts.scheme or 'none'}"
    if not parts.hostname:
        return "has no host"
    return None


def check_built(out: Path, *, probe: bool = False, timeout: float = 10.0, concurrency: int = 8) -> CheckReport:
    from rdflib import Graph
    from rdflib.compare import isomorphic

    doc = read_built(out)
    report = CheckReport(out)
    graphs = {}
    for name, fmt in (("catalog.ttl", "turtle"), ("catalog.jsonld", "json-ld")):
        try:
            graphs[name] = Graph().parse(out / name, format=fmt)
        except Exception as exc:  # noqa: BLE001 - rdflib's parsers raise many kinds
            raise InputError([Problem(f"does not parse as {fmt}: {type(exc).__name__}: {exc}",
                                      location=SourceLocation(str(out / name), 1, 1), code="rdf")]) from None
    graph = graphs["catalog.ttl"]
    report.triples = len(graph)
    if not isomorphic(graph, graphs["catalog.jsonld"]):
        report.problems.append(Problem("catalog.ttl and catalog.jsonld describe different graphs",
                                       location=SourceLocation(str(out / "catalog.jsonld"), 1, 1), code="rdf",
                                       hint="rebuild with govcloud catalog build"))
    report.problems += shacl_problems(graph, doc)
    urls = list(published_urls(doc))
    for what, url, where, _ in urls:
        bad = url_problem(url)
        if bad:
            report.problems.append(Problem(f"{what} {url!r} {bad}", location=_location(where), code="url"))
    if probe:
        targets = [(what, url, where) for what, url, where, live in urls if live and not url_problem(url)]
        report.probes = probe_all([u for _, u, _ in targets], timeout=timeout, concurrency=concurrency)
        by_url = {r.url: r for r in report.probes}
        for what, url, where in targets:
            r = by_url[url]
            if not r.ok:
                report.problems.append(Problem(f"{what}: {r.describe()}", location=_location(where), code="probe"))
    return report


def check(out_dir: str | os.PathLike[str] | None = None, workspace: "Workspace | None" = None, *,
          manifests: Iterable[str | os.PathLike[str]] | None = None, status: "StatusSource | None" = None,
          offline: bool = False, probe: bool = False, timeout: float = 10.0, concurrency: int = 8) -> CheckReport:
    """Check a built catalog (OUT), or build one into a temporary directory and check it."""
    if out_dir is not None:
        return check_built(Path(out_dir), probe=probe, timeout=timeout, concurrency=concurrency)
    from govcloud.catalog.build import build

    with tempfile.TemporaryDirectory(prefix="govcloud-catalog-") as tmp:
        build(tmp, workspace, manifests=manifests, status=status, offline=offline)
        return check_built(Path(tmp), probe=probe, timeout=timeout, concurrency=concurrency)
