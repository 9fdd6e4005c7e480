"""The catalog as DCAT-AP 3 RDF (rdflib), for data portals that harvest it (CKAN ckanext-dcat, data.europa.eu).

    dcat:Catalog  title, description, publisher, language, modified, homepage,
                  dcat:dataset (every open dataset of a live service),
                  dcat:service (every live service with an API), dcat:record (tombstones)
    dcat:DataService  one per live service with an API endpoint (kind other than web):
                  endpointURL, endpointDescription (the OpenAPI document published next
                  to the catalog), servesDataset, publisher, contactPoint, keyword, modified
    dcat:Dataset  title, description, publisher, contactPoint, keyword, language,
                  accrualPeriodicity, modified, landingPage, identifier, distribution
    dcat:Distribution  accessURL, downloadURL, format (EU file type), mediaType, license
    foaf:Agent    the catalog's publisher and each agency: name @fa and @en
    dcat:CatalogRecord  a tombstone for each retired service and its datasets:
                  primaryTopic, adms:status <http://purl.org/adms/changetype/deleted>, modified

Planned services are not in the RDF at all (a harvester would list them as
live). Text is language-tagged (@fa, @en), dates are typed ISO 8601
(xsd:dateTime, xsd:date). rdflib is imported only here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from govcloud.catalog import vocab
from govcloud.catalog.model import CatalogDocument, Source, Text

if TYPE_CHECKING:  # pragma: no cover
    from rdflib import Graph

ADMS = "http://www.w3.org/ns/adms#"
DELETED = "http://purl.org/adms/changetype/deleted"
NATIONAL_AUTHORITY = "http://purl.org/adms/publishertype/NationalAuthority"
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/", "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#", "adms": ADMS, "xsd": "http://www.w3.org/2001/XMLSchema#",
}


def api_endpoints(service):
    """The endpoints that make a service a dcat:DataService (a web site is not an API)."""
    return [e for e in service.endpoints if e.kind != "web"]


def node_sources(doc: CatalogDocument) -> dict[str, Source | None]:
    """Every URI the RDF describes -> where the catalog took it from (to locate SHACL violations)."""
    out: dict[str, Source | None] = {doc.catalog.uri: doc.catalog.source, doc.catalog.publisher.uri:
                                     doc.catalog.source}
    for s in doc.services:
        out[s.uri] = s.source
        out[vocab.contact_uri(s.uri)] = s.source
        out.setdefault(vocab.agency_uri(doc.catalog.base_url, s.agency), s.source)
        for d in s.datasets:
            out[d.uri] = d.source
            out[vocab.distribution_uri(d.uri)] = d.source
    for r in doc.retired:
        for uri in (r.uri, *r.datasets):
            out[vocab.record_uri(uri)] = r.source
    return out


def build_graph(doc: CatalogDocument) -> "Graph":
    """The catalog, each live service's datasets and data service, and the tombstones, as one graph."""
    from rdflib import Graph, URIRef

    g = Graph()
    for prefix, ns in CONTEXT.items():
        g.bind(prefix, ns)
    cat = URIRef(doc.catalog.uri)
    _describe_catalog(g, cat, doc)
    names = {a.id: a for a in doc.agencies}
    for s in doc.services:
        if s.live:
            _describe_service(g, cat, s, names[s.agency].name, doc.catalog.base_url)
    for r in doc.retired:
        _describe_tombstones(g, cat, r)
    return g


def _text(g: "Graph", node, prop, value: Text | None) -> None:
    from rdflib import Literal

    if value is not None:
        g.add((node, prop, Literal(value.fa, lang="fa")))
        g.add((node, prop, Literal(value.en, lang="en")))


def _agent(g: "Graph", uri: str, name: Text):
    from rdflib import URIRef
    from rdflib.namespace import DCTERMS, FOAF, RDF

    node = URIRef(uri)
    g.add((node, RDF.type, FOAF.Agent))
    g.add((node, DCTERMS.type, URIRef(NATIONAL_AUTHORITY)))
    _text(g, node, FOAF.name, name)
    return node


def _describe_catalog(g: "Graph", cat, doc: CatalogDocument) -> None:
    from rdflib import Literal, URIRef
    from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

    g.add((cat, RDF.type, DCAT.Catalog))
    _text(g, cat, DCTERMS.title, doc.catalog.title)
    _text(g, cat, DCTERMS.description, doc.catalog.description)
    g.add((cat, DCTERMS.publisher, _agent(g, doc.catalog.publisher.uri, doc.catalog.publisher.name)))
    g.add((cat, FOAF.homepage, URIRef(f"{doc.catalog.base_url}/index.html")))
    g.add((cat, DCTERMS.modified, Literal(doc.generated.isoformat(), datatype=XSD.dateTime)))
    for lang in vocab.LANGUAGES:
        g.add((cat, DCTERMS.language, URIRef(vocab.language_uri(lang))))


def _describe_service(g: "Graph", cat, s, agency_name: Text, base: str) -> None:
    """A live service: its agency and contact, its datasets, and its DataService when it has an API."""
    from rdflib import Literal, Namespace, URIRef
    from rdflib.namespace import DCAT, DCTERMS, RDF, XSD

    vcard = Namespace(CONTEXT["vcard"])
    publisher = _agent(g, vocab.agency_uri(base, s.agency), agency_name)
    contact = None
    if s.contact:
        contact = URIRef(vocab.contact_uri(s.uri))
        g.add((contact, RDF.type, vcard.Kind))  # typed as both: shapes need no subclass inference
        g.add((contact, RDF.type, vcard.Organization))
        _text(g, contact, vcard.fn, agency_name)
        g.add((contact, vcard.hasEmail, URIRef(f"mailto:{s.contact}")))
    modified = Literal(s.last_deployed.isoformat(), datatype=XSD.dateTime) if s.last_deployed else None

    def common(node) -> None:
        """What a service's datasets and its DataService both say."""
        g.add((node, DCTERMS.publisher, publisher))
        if contact is not None:
            g.add((node, DCAT.contactPoint, contact))
        for lang in ("fa", "en"):
            for k in getattr(s.keywords, lang):
                g.add((node, DCAT.keyword, Literal(k, lang=lang)))
        if modified is not None:
            g.add((node, DCTERMS.modified, modified))
        g.add((node, DCAT.landingPage, URIRef(f"{base}/{s.pages.en}")))

    for d in s.datasets:
        _describe_dataset(g, cat, s, d, common)
    apis = api_endpoints(s)
    if apis:
        svc = URIRef(s.uri)
        g.add((cat, DCAT.service, svc))
        g.add((svc, RDF.type, DCAT.DataService))
        _text(g, svc, DCTERMS.title, s.title)
        _text(g, svc, DCTERMS.description, s.description)
        g.add((svc, DCTERMS.identifier, Literal(s.id)))
        common(svc)
        for e in apis:
            g.add((svc, DCAT.endpointURL, URIRef(e.url)))
            if e.api is not None:
                g.add((svc, DCAT.endpointDescription, URIRef(e.api.url)))
        for d in s.datasets:
            g.add((svc, DCAT.servesDataset, URIRef(d.uri)))


def _describe_dataset(g: "Graph", cat, s, d, common) -> None:
    """An open dataset of service `s` and its one distribution."""
    from rdflib import Literal, URIRef
    from rdflib.namespace import DCAT, DCTERMS, RDF

    ds = URIRef(d.uri)
    g.add((cat, DCAT.dataset, ds))
    g.add((ds, RDF.type, DCAT.Dataset))
    _text(g, ds, DCTERMS.title, d.title)
    _text(g, ds, DCTERMS.description, d.description)
    g.add((ds, DCTERMS.identifier, Literal(f"{s.id}/{d.name}")))
    common(ds)
    for lang in vocab.LANGUAGES:
        g.add((ds, DCTERMS.language, URIRef(vocab.language_uri(lang))))
    if d.update_frequency:
        g.add((ds, DCTERMS.accrualPeriodicity, URIRef(vocab.frequency_uri(d.update_frequency))))
    dist = URIRef(vocab.distribution_uri(d.uri))
    g.add((ds, DCAT.distribution, dist))
    g.add((dist, RDF.type, DCAT.Distribution))
    if d.access_url:
        g.add((dist, DCAT.accessURL, URIRef(d.access_url)))
    if d.download_url:
        g.add((dist, DCAT.downloadURL, URIRef(d.download_url)))
    g.add((dist, DCTERMS.format, URIRef(vocab.file_type_uri(d.format))))
    g.add((dist, DCAT.mediaType, URIRef(vocab.media_type_uri(d.format))))
    g.add((dist, DCTERMS.license, URIRef(d.license_url)))


def _describe_tombstones(g: "Graph", cat, r) -> None:
    """A CatalogRecord of status deleted for a retired service and for each of its datasets."""
    from rdflib import Literal, Namespace, URIRef
    from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

    adms = Namespace(ADMS)
    for uri in (r.uri, *r.datasets):
        rec = URIRef(vocab.record_uri(uri))
        g.add((cat, DCAT.record, rec))
        g.add((rec, RDF.type, DCAT.CatalogRecord))
        g.add((rec, FOAF.primaryTopic, URIRef(uri)))
        g.add((rec, adms.status, URIRef(DELETED)))
        g.add((rec, DCTERMS.modified, Literal(r.retired.isoformat(), datatype=XSD.date)))
        if uri == r.uri:
            _text(g, rec, DCTERMS.title, r.title)


def serialize(g: "Graph") -> dict[str, str]:
    """{file name: text} of the graph as Turtle and as JSON-LD."""
    return {"catalog.ttl": g.serialize(format="turtle"),
            "catalog.jsonld": g.serialize(format="json-ld", context=CONTEXT, indent=2)}
