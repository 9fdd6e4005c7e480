"""From a config repo's manifests and the state of their stacks to the catalog model.

Manifests are loaded and policy-checked exactly as `govcloud validate` does
(govcloud.policy.check_paths): a catalog is never built over a manifest
that fails. Each published service is listed once, by agency and name: its
`prod` manifest when it has one (else the one nearest to prod); its status
comes from the `StatusSource`. Retired services (tombstones) are those of
`retired:` in inventories/catalog.yaml, those an earlier build in the same
output directory listed as retired, and those it listed as live that are
live no more.
"""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable
from urllib.parse import quote

from govcloud.catalog import model as m
from govcloud.catalog import vocab
from govcloud.catalog.status import DeployedStatus, StatusSource, classify
from govcloud.errors import InputError, SourceLocation

if TYPE_CHECKING:  # pragma: no cover
    from govcloud.catalog.openapi import OpenApiDocument
    from govcloud.check import CheckedService, Workspace
    from govcloud.plan.model import ResourcePlan

ENV_RANK = {"prod": 0, "staging": 1, "test": 2, "dev": 3}


@dataclass(frozen=True)
class Collected:
    document: m.CatalogDocument
    documents: dict[str, "OpenApiDocument"]  # ApiDocument.file -> the loaded OpenAPI document


def collect(ws: "Workspace", paths: Iterable[str | os.PathLike[str]], status: StatusSource, *,
            now: _dt.datetime, previous: m.CatalogDocument | None = None) -> Collected:
    from govcloud.check import check_paths

    paths = list(paths)
    results, _report = check_paths(paths, ws)
    bad = [p for r in results if not r.ok for p in r.problems if p.severity == "error"]
    if bad:
        raise InputError(bad)
    chosen: dict[tuple[str, str], tuple["CheckedService", "ResourcePlan"]] = {}
    for r in results:
        svc = ws.check(r.file)
        if svc.manifest.spec.publish is None:
            continue
        md = svc.manifest.metadata
        key = (md.agency, md.name)
        have = chosen.get(key)
        if have is None or ENV_RANK[md.environment] < ENV_RANK[have[0].manifest.metadata.environment]:
            chosen[key] = (svc, r.plan)
    settings = ws.inventory.catalog
    base = settings.base_url
    root = ws.config.root
    services: list[m.Service] = []
    documents: dict[str, OpenApiDocument] = {}
    for (agency, name), (svc, plan) in sorted(chosen.items()):
        deployed = status.status(plan) if svc.manifest.metadata.environment == "prod" else None
        entry, docs = _service(svc, plan, deployed, settings, root)
        services.append(entry)
        documents.update(docs)
    agencies = [_agency(ws, a, base) for a in sorted({s.agency for s in services})]
    info = m.CatalogInfo(
        uri=vocab.catalog_uri(base), base_url=base, title=m.Text.of(settings.title),
        description=m.Text.of(settings.description),
        publisher=m.Publisher(uri=vocab.publisher_uri(base), name=m.Text.of(settings.publisher.name),
                              email=settings.publisher.email, homepage=settings.publisher.homepage),
        source=_inventory_source(ws, ()))
    retired = _retired(ws, services, previous, now.date())
    return Collected(m.CatalogDocument(generated=now, catalog=info, agencies=agencies, services=services,
                                       retired=retired), documents)


def _rel(file: str, root: Path | None) -> str:
    p = Path(file).resolve()
    if root is not None and p.is_relative_to(root.resolve()):
        return str(p.relative_to(root.resolve()))
    return str(file)


def _source(loc: SourceLocation, root: Path | None) -> m.Source:
    return m.Source(file=_rel(loc.file, root), line=loc.line, column=loc.column)


def _service(svc: "CheckedService", plan: "ResourcePlan", deployed: DeployedStatus | None, settings,
             root: Path | None) -> tuple[m.Service, dict]:
    from govcloud.catalog.openapi import check_endpoint_documents

    md, publish = svc.manifest.metadata, svc.manifest.spec.publish
    base = settings.base_url
    locate = svc.locator.locate
    state = classify(md.environment, deployed)
    live = state != "planned"
    uri = vocab.service_uri(base, md.agency, md.name)
    loaded = check_endpoint_documents(publish.endpoints, svc.file, svc.config.root, locate)
    endpoints, documents = [], {}
    for i, ep in enumerate(publish.endpoints):
        api = None
        doc = loaded.get(ep.name)
        if doc is not None:
            file = f"openapi/{quote(md.agency)}/{quote(md.name)}/{quote(ep.name)}.json"
            documents[file] = doc
            api = m.ApiDocument(file=file, url=f"{base}/{file}", openapi=doc.openapi, title=m.clean(doc.title),
                                version=m.clean(doc.version),
                                operations=[m.Operation(method=o.method, path=m.clean(o.path),
                                                        summary=m.clean(o.summary),
                                                        operation_id=m.clean(o.operation_id))
                                            for o in doc.operations])
        endpoints.append(m.Endpoint(name=ep.name, kind=ep.kind, url=ep.url, version=ep.version, api=api,
                                    source=_source(locate(("spec", "publish", "endpoints", i)), root)))
    containers = {r.key: r.name for r in plan.resources}  # bucket-<name> -> its container's name
    datasets = []
    for i, data in enumerate(publish.open_data):
        access = download = None
        if live and data.url is not None:
            access = download = data.url
        elif live and data.bucket is not None and deployed.object_store_url:
            container = containers.get(f"bucket-{data.bucket}")
            if container is not None:
                access = f"{deployed.object_store_url.rstrip('/')}/{quote(container)}/"
                download = access + quote(data.object or f"{data.name}.{data.format}")
        datasets.append(m.Dataset(
            name=data.name, uri=vocab.dataset_uri(base, md.agency, md.name, data.name),
            title=m.Text.of(data.title), description=m.Text.of(data.description), format=data.format,
            media_type=vocab.FORMATS[data.format][0], license=data.license,
            license_url=vocab.license_url(data.license), update_frequency=data.update_frequency,
            bucket=data.bucket, access_url=access, download_url=download,
            source=_source(locate(("spec", "publish", "openData", i)), root)))
    sla = None
    if publish.sla is not None:
        level = settings.service_levels[publish.sla]
        sla = m.ServiceLevel(name=publish.sla, title=m.Text.of(level.title), availability=level.availability,
                             support=m.Text.of(level.support))
    verify = deployed.last_verify if deployed is not None else None
    keywords = publish.keywords
    page = f"{quote(md.agency)}/{quote(md.name)}.html"
    return m.Service(
        id=f"{md.agency}/{md.name}", uri=uri, agency=md.agency, name=md.name, environment=md.environment,
        site=svc.site.name, title=m.Text.of(publish.title), description=m.Text.of(publish.description),
        audience=list(publish.audience),
        keywords=m.Keywords(fa=[m.clean(k) for k in keywords.fa], en=[m.clean(k) for k in keywords.en])
        if keywords else m.Keywords(),
        contact=publish.contact or md.owner, sla=sla, status=state,
        last_deployed=deployed.last_deployed if live else None,
        last_deploy_result=deployed.last_result if live else None,
        last_verify=m.Verification(result=verify.result, finished_at=verify.finished_at,
                                   summary=m.clean(verify.summary) if verify.summary else None) if verify else None,
        endpoints=endpoints, datasets=datasets, pages=m.Pages(fa=f"fa/{page}", en=f"en/{page}"),
        source=_source(locate(("spec", "publish"), key=True), root)), documents


def _agency(ws: "Workspace", agency_id: str, base: str) -> m.Agency:
    a = ws.inventory.agency(agency_id)
    return m.Agency(id=agency_id, uri=vocab.agency_uri(base, agency_id), name=m.Text.of(a.name), contact=a.contact)


def _inventory_source(ws: "Workspace", path: tuple) -> m.Source | None:
    from govcloud.load.yamlsource import load_yaml_file

    file = ws.inventory.catalog_path()
    if file is None:
        return None
    return _source(load_yaml_file(file).locate(path), ws.config.root)


def _retired(ws: "Workspace", services: list[m.Service], previous: m.CatalogDocument | None,
             today: _dt.date) -> list[m.Retired]:
    base = ws.inventory.catalog.base_url
    live = {s.id for s in services if s.live}
    out: dict[str, m.Retired] = {}
    for i, r in enumerate(ws.inventory.catalog.retired):
        sid = f"{r.agency}/{r.name}"
        out[sid] = m.Retired(id=sid, uri=vocab.service_uri(base, r.agency, r.name), agency=r.agency, name=r.name,
                             retired=_dt.date.fromisoformat(r.retired), title=m.Text.of(r.title),
                             reason=m.Text.of(r.reason),
                             datasets=[vocab.dataset_uri(base, r.agency, r.name, d) for d in r.datasets],
                             source=_inventory_source(ws, ("retired", i)))
    if previous is not None:
        for r in previous.retired:
            out.setdefault(r.id, r)
        for s in previous.services:
            if s.live and s.id not in out:
                out[s.id] = m.Retired(id=s.id, uri=s.uri, agency=s.agency, name=s.name, retired=today,
                                      title=s.title, datasets=[d.uri for d in s.datasets])
    return [r for sid, r in sorted(out.items()) if sid not in live]


def read_previous(out_dir: Path) -> m.CatalogDocument | None:
    """The catalog.json an earlier build left in `out_dir` (None when there is none or it is not ours)."""
    from pydantic import ValidationError

    path = out_dir / "catalog.json"
    if not path.is_file():
        return None
    try:
        return m.CatalogDocument.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError):
        return None

