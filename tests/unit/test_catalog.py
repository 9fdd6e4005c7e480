"""The services catalog on the example config repo: site, catalog.json, DCAT-AP RDF, SHACL, escaping."""
from __future__ import annotations

import datetime as dt
import http.server
import json
import re
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from govcloud.catalog.build import build
from govcloud.catalog.model import catalog_json_schema
from govcloud.catalog.status import DeployedStatus, NoStatus, VerifyResult, classify, verify_result
from govcloud.catalog.validate import check, check_built
from govcloud.check import Workspace
from govcloud.cli import cli
from govcloud.config import ConfigRepo
from govcloud.errors import InputError

from ..conftest import EXAMPLES, REPO

NOW = dt.datetime(2026, 3, 21, 8, 30, tzinfo=dt.timezone.utc)  # 1 Farvardin 1405
STORE = "https://objects.thr1.gov.example/v1/AUTH_sci"
DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"


class FakeStatus:
    """Deployed status per '<agency>/<stack>' (a fake for unit tests; e2e uses the engine)."""

    def __init__(self, deployed: dict[str, DeployedStatus]):
        self.deployed = deployed
        self.asked: list[str] = []

    def status(self, plan):
        key = f"{plan.service.agency}/{plan.service.stack}"
        self.asked.append(key)
        return self.deployed.get(key)


def live(store=STORE, verify=None):
    return DeployedStatus(resources=12, last_deployed=NOW - dt.timedelta(hours=2), last_result="succeeded",
                          object_store_url=store, last_verify=verify)


def examples_status():
    return FakeStatus({"sci/open-data-prod": live(verify=VerifyResult("passed", NOW)),
                       "moh/patient-portal-prod": live(store=None, verify=VerifyResult("failed", NOW, "web-2 down"))})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("catalog")
    result = build(out, Workspace(ConfigRepo(None)), manifests=[EXAMPLES], status=examples_status(), now=NOW)
    return out, result


def graph_of(out: Path):
    from rdflib import Graph

    return Graph().parse(out / "catalog.ttl", format="turtle")


def test_build_writes_the_site_the_data_and_the_rdf(built):
    out, result = built
    for rel in ("index.html", "fa/index.html", "en/index.html", "fa/sci/open-data.html", "en/moh/patient-portal.html",
                "assets/catalog.css", "catalog.json", "catalog.schema.json", "catalog.ttl", "catalog.jsonld",
                "openapi/sci/open-data/catalog.json"):
        assert (out / rel).is_file(), rel
    services = {s.id: s for s in result.document.services}
    assert set(services) == {"sci/open-data", "moh/patient-portal"}  # only manifests that publish
    assert services["sci/open-data"].status == "available"
    assert services["moh/patient-portal"].status == "degraded"  # its last verify failed


def test_catalog_json_validates_against_the_shipped_schema(built):
    import jsonschema

    out, _ = built
    shipped = json.loads((REPO / "docs" / "catalog.schema.json").read_text(encoding="utf-8"))
    assert shipped == catalog_json_schema(), "docs/catalog.schema.json is stale: python -m govcloud.catalog.schema"
    data = json.loads((out / "catalog.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(shipped).validate(data)
    assert data["schemaVersion"] == "1.0" and data["generated"] == "2026-03-21T08:30:00Z"
    bad = dict(data, services=[dict(data["services"][0], status="live")])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(shipped).validate(bad)


def test_download_url_comes_from_the_sites_object_store(built):
    _, result = built
    svc = next(s for s in result.document.services if s.id == "sci/open-data")
    census, cpi = svc.datasets
    assert census.download_url == f"{STORE}/sci-prod-open-data-datasets/census/2026/population.csv"
    assert census.access_url == f"{STORE}/sci-prod-open-data-datasets/"
    assert cpi.download_url == f"{STORE}/sci-prod-open-data-archive/cpi-monthly.json"
    assert census.license_url == "http://spdx.org/licenses/CC-BY-4.0"


def test_rdf_parses_conforms_and_lists_datasets_and_services(built):
    from rdflib import Literal, URIRef
    from rdflib.namespace import RDF

    out, result = built
    report = check_built(out)
    assert not report.failed, [p.format() for p in report.problems]
    g = graph_of(out)
    base = "https://window.gov.example/catalog"
    cat = URIRef(f"{base}/id/catalog")
    svc = URIRef(f"{base}/id/service/sci/open-data")
    census = URIRef(f"{base}/id/dataset/sci/open-data/census-2026")
    assert (cat, URIRef(DCAT + "service"), svc) in g and (cat, URIRef(DCAT + "dataset"), census) in g
    assert (svc, RDF.type, URIRef(DCAT + "DataService")) in g
    assert (svc, URIRef(DCAT + "endpointURL"), URIRef("https://data.sci.gov.example/api/3")) in g
    described = URIRef(f"{base}/openapi/sci/open-data/catalog.json")
    assert (svc, URIRef(DCAT + "endpointDescription"), described) in g
    assert (svc, URIRef(DCAT + "servesDataset"), census) in g
    assert (census, URIRef(DCT + "title"), Literal("General Population and Housing Census 2026", lang="en")) in g
    assert (census, URIRef(DCT + "accrualPeriodicity"),
            URIRef("http://publications.europa.eu/resource/authority/frequency/NEVER")) in g
    dist = URIRef(f"{census}/distribution")
    assert (dist, URIRef(DCAT + "downloadURL"),
            URIRef(f"{STORE}/sci-prod-open-data-datasets/census/2026/population.csv")) in g
    modified = g.value(census, URIRef(DCT + "modified"))
    assert str(modified) == "2026-03-21T06:30:00+00:00" and str(modified.datatype).endswith("#dateTime")
    # the OpenAPI document is published next to the catalog, as it was written
    source = json.loads((EXAMPLES / "sci" / "catalog-api.openapi.json").read_text(encoding="utf-8"))
    assert json.loads((out / "openapi/sci/open-data/catalog.json").read_text(encoding="utf-8")) == source
    # the patient portal's web endpoint is a site, not an API: only its REST endpoint is an endpointURL
    portal = URIRef(f"{base}/id/service/moh/patient-portal")
    assert set(g.objects(portal, URIRef(DCAT + "endpointURL"))) == {URIRef("https://portal.moh.gov.example/api")}


def test_json_ld_and_turtle_are_the_same_graph(built):
    from rdflib import Graph
    from rdflib.compare import isomorphic

    out, _ = built
    assert isomorphic(graph_of(out), Graph().parse(out / "catalog.jsonld", format="json-ld"))


def test_retired_service_is_a_tombstone(built):
    from rdflib import URIRef

    out, _ = built
    g = graph_of(out)
    rec = URIRef("https://window.gov.example/catalog/id/record/service/moe/school-registration")
    assert (URIRef("https://window.gov.example/catalog/id/catalog"), URIRef(DCAT + "record"), rec) in g
    assert (rec, URIRef("http://www.w3.org/ns/adms#status"), URIRef("http://purl.org/adms/changetype/deleted")) in g
    assert str(g.value(rec, URIRef("http://xmlns.com/foaf/0.1/primaryTopic"))).endswith("/moe/school-registration")
    assert str(g.value(rec, URIRef(DCT + "modified"))) == "2026-03-01"


def test_persian_pages_are_right_to_left_with_persian_digits_and_solar_hijri_dates(built):
    out, _ = built
    fa = (out / "fa/sci/open-data.html").read_text(encoding="utf-8")
    en = (out / "en/sci/open-data.html").read_text(encoding="utf-8")
    assert '<html lang="fa" dir="rtl">' in fa and '<html lang="en" dir="ltr">' in en
    assert "۱ فروردین ۱۴۰۵، ساعت ۰۶:۳۰ به وقت جهانی" in fa  # last deploy, 2026-03-21 06:30 UTC
    assert "2026-03-21 06:30 UTC" in en and "۱۴۰۵" not in en
    assert "۹۹٫۹۵٪" in fa and "99.95%" in en  # the gold service level
    assert "در دسترس" in fa and "Available" in en
    # endpoints with kind and version, the OpenAPI operations, datasets with format, licence and download
    for page in (fa, en):
        assert "listDatasets" in page and "/datasets/{name}" in page and "GET" in page
        assert f'href="{STORE}/sci-prod-open-data-datasets/census/2026/population.csv"' in page
        assert "CC-BY-4.0" in page and "CSV" in page and ">3.1</bdi>" in page
        assert 'href="mailto:open-data@sci.gov.example"' in page
        assert 'href="../../openapi/sci/open-data/catalog.json"' in page
    index = (out / "fa/index.html").read_text(encoding="utf-8")
    assert "به تفکیک دستگاه" in index and "مرکز آمار ایران" in index and "کسب‌وکارها" in index


def test_degraded_service_shows_its_failed_verify(built):
    out, _ = built
    page = (out / "en/moh/patient-portal.html").read_text(encoding="utf-8")
    assert "Degraded" in page and "Last health check: failed" in page


PUBLIC = """
apiVersion: govcloud/v1
kind: Service
metadata:
  name: {name}
  agency: sci
  environment: {env}
  owner: data@sci.gov.example
  costCenter: SCI-OD-009
  classification: public
spec:
  site: thr1
  network:
    cidr: {cidr}
  buckets:
    - {{name: files, public: true, quotaGb: 10}}
    - {{name: private, public: false, quotaGb: 10}}
  publish:
    title: {{fa: {title_fa}, en: {title_en}}}
    description: {{fa: "شرح", en: {desc_en}}}
    audience: [businesses]
    keywords: {{fa: [آمار], en: [{keyword}]}}
    openData:
      - name: tables
        title: {{fa: "جدول‌ها", en: {title_en}}}
{dataset}
        format: csv
        license: CC0-1.0
        bucket: {bucket}
"""


def write_manifest(write, name="stats", env="prod", cidr="10.62.0.0/24", bucket="files",
                   dataset='        description: {fa: "جدول‌ها", en: "The tables"}', title_fa='"آمار"',
                   title_en="Statistics", desc_en='"About"', keyword="stats"):
    return write(f"manifests/{name}.yaml", PUBLIC.format(name=name, env=env, cidr=cidr, bucket=bucket,
                                                         dataset=dataset, title_fa=title_fa, title_en=title_en,
                                                         desc_en=desc_en, keyword=keyword))


def test_a_dataset_without_a_description_fails_check_at_its_manifest_line(write, tmp_path):
    path = write_manifest(write, dataset="        updateFrequency: monthly")
    status = FakeStatus({"sci/stats-prod": live()})
    out = tmp_path / "out"
    build(out, Workspace(ConfigRepo(None)), manifests=[path.parent], status=status, now=NOW)
    report = check_built(out)
    assert report.failed
    (err,) = [p for p in report.problems if p.severity == "error"]
    assert err.location.file == str(path) and err.location.line == 23  # the dataset entry
    assert "has no description (dct:description)" in err.message and err.code == "DCAT-AP"
    assert "mandatory in DCAT-AP 3.0.1" in err.hint


def test_publishing_from_a_private_bucket_fails_the_build_with_file_and_line(write, tmp_path):
    path = write_manifest(write, bucket="private")
    with pytest.raises(InputError) as info:
        build(tmp_path / "out", Workspace(ConfigRepo(None)), manifests=[path.parent], status=NoStatus(), now=NOW)
    (p,) = info.value.problems
    assert (p.code, p.location.file, p.location.line) == ("GC017", str(path), 28)
    assert not (tmp_path / "out").exists()  # nothing was written


def test_staging_and_undeployed_services_are_planned_never_live(write, tmp_path):
    write_manifest(write, name="staged", env="staging", cidr="10.62.1.0/24")
    path = write_manifest(write, name="waiting", cidr="10.62.2.0/24")
    status = FakeStatus({"sci/staged-staging": live()})  # deployed, but not prod
    out = tmp_path / "out"
    result = build(out, Workspace(ConfigRepo(None)), manifests=[path.parent], status=status, now=NOW)
    assert {s.id: s.status for s in result.document.services} == {"sci/staged": "planned", "sci/waiting": "planned"}
    assert status.asked == ["sci/waiting-prod"]  # a staging stack is never asked: it is never live
    assert all(d.download_url is None and d.access_url is None for s in result.document.services
               for d in s.datasets)
    g = graph_of(out)
    assert not any("staged" in str(s) or "waiting" in str(s) for s in g.subjects())  # not harvested
    page = (out / "en/sci/staged.html").read_text(encoding="utf-8")
    assert "Planned" in page and "not offered in production yet" in page and "href=\"https://" not in page


def test_non_prod_services_are_planned_whatever_the_stack_says():
    assert classify("staging", live()) == "planned"
    assert classify("prod", None) == "planned"
    assert classify("prod", live()) == "available"
    assert classify("prod", live(verify=VerifyResult("failed"))) == "degraded"


HOSTILE = "<script>alert(1)</script> \u202egnp.exe {{ 7*7 }} {% raw %}\" ; <http://x> <b>"


def test_hostile_text_is_escaped_in_html_and_rdf(write, tmp_path):
    from rdflib import Literal, URIRef

    q = json.dumps(HOSTILE)
    path = write_manifest(write, title_en=q, desc_en=q, keyword=q, title_fa=q)
    out = tmp_path / "out"
    build(out, Workspace(ConfigRepo(None)), manifests=[path.parent], status=FakeStatus({"sci/stats-prod": live()}),
          now=NOW)
    cleaned = HOSTILE.replace("\u202e", "")
    for f in out.rglob("*"):
        if f.is_file():
            text = f.read_text(encoding="utf-8")
            assert "\u202e" not in text, f  # bidi overrides never reach any output
            if f.suffix == ".html" and f.parent != out:  # markup only as escaped text, and template syntax never evaluated
                assert "<script>" not in text and "{{ 7*7 }}" in text and "49" not in text, f
    page = (out / "en/sci/stats.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "{{ 7*7 }}" in page and "{% raw %}" in page
    assert "&lt;b&gt;" in page and "<b>" not in page
    g = graph_of(out)
    ds = URIRef("https://window.gov.example/catalog/id/dataset/sci/stats/tables")
    assert set(g.objects(ds, URIRef(DCT + "title"))) == {Literal(cleaned, lang="en"), Literal("جدول‌ها", lang="fa")}
    assert Literal(cleaned, lang="en") in set(g.objects(ds, URIRef(DCAT + "keyword")))
    assert not any(str(o) == "http://x" for o in g.objects())  # no triple smuggled in through a title
    assert not check_built(out).failed


def test_a_service_no_longer_live_gets_a_tombstone_in_the_next_build(write, tmp_path):
    from rdflib import URIRef

    path = write_manifest(write)
    out = tmp_path / "out"
    ws = Workspace(ConfigRepo(None))
    build(out, ws, manifests=[path.parent], status=FakeStatus({"sci/stats-prod": live()}), now=NOW)
    later = build(out, ws, manifests=[path.parent], status=NoStatus(), now=NOW + dt.timedelta(days=3))
    gone = {r.id: r for r in later.document.retired}
    assert gone["sci/stats"].retired == dt.date(2026, 3, 24) and "moe/school-registration" in gone
    g = graph_of(out)
    rec = URIRef("https://window.gov.example/catalog/id/record/dataset/sci/stats/tables")
    assert (rec, URIRef("http://www.w3.org/ns/adms#status"), URIRef("http://purl.org/adms/changetype/deleted")) in g
    back = build(out, ws, manifests=[path.parent], status=FakeStatus({"sci/stats-prod": live()}), now=NOW)
    assert "sci/stats" not in {r.id for r in back.document.retired}  # live again: no tombstone


def test_the_catalog_reads_the_report_verify_kept(tmp_path):
    """What `govcloud verify` saved for a stack is what the catalog shows: failed -> degraded, with its summary."""
    from govcloud.verify.model import CheckResult, HostResult, VerifyReport
    from govcloud.verify.store import save_report

    config = ConfigRepo(tmp_path)
    plan = Workspace(ConfigRepo(None)).plan(EXAMPLES / "sci" / "open-data.yaml")
    stack = f"{plan.service.pulumi_project}/{plan.service.stack}"
    assert verify_result(config, plan) is None  # never verified
    save_report(config, VerifyReport(stack, "sci/prod/open-data", started="2026-03-21T08:00:00+00:00",
                                     duration_seconds=30.0,
                                     hosts=(HostResult("sci-prod-open-data-web-1", "web-1",
                                                       checks=(CheckResult("port 443", False, "refused"),)),)))
    got = verify_result(config, plan)
    assert got == VerifyResult("failed", dt.datetime(2026, 3, 21, 8, 0, 30, tzinfo=dt.timezone.utc),
                               "1 server: 0 ok, 1 failed (check failed 1)")
    assert classify("prod", live(verify=got)) == "degraded"


# -- probing and the CLI --------------------------------------------------------------------------

@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "tables.csv").write_text("a,b\n1,2\n")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_probe_downloads_every_live_url_and_reports_failures_located(write, tmp_path, http_server):
    path = write_manifest(write)
    out = tmp_path / "out"
    build(out, Workspace(ConfigRepo(None)), manifests=[path.parent], now=NOW,
          status=FakeStatus({"sci/stats-prod": live(store=http_server)}))
    # the container is served as http_server/sci-prod-stats-files/: put the file there
    (tmp_path / "www" / "sci-prod-stats-files").mkdir()
    (tmp_path / "www" / "sci-prod-stats-files" / "tables.csv").write_text("a,b\n1,2\n")
    report = check_built(out, probe=True, timeout=5, concurrency=2)
    assert not report.failed, [p.format() for p in report.problems]
    (r,) = report.probes
    assert (r.url, r.status, r.bytes_read) == (f"{http_server}/sci-prod-stats-files/tables.csv", 200, 8)
    (tmp_path / "www" / "sci-prod-stats-files" / "tables.csv").unlink()
    report = check_built(out, probe=True, timeout=5)
    (p,) = report.problems
    assert p.code == "probe" and "HTTP 404" in p.message and p.location.line == 23


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_build_and_check(tmp_path):
    out = tmp_path / "site"
    result = run("catalog", "build", str(out), "--manifests", str(EXAMPLES), "--offline")
    assert result.exit_code == 0, result.output
    assert "2 services (0 available, 0 degraded, 2 planned)" in result.stdout
    result = run("catalog", "check", str(out))
    assert result.exit_code == 0 and "0 errors" in result.stdout
    (out / "catalog.ttl").write_text("this is not turtle")
    result = run("catalog", "check", str(out))
    assert result.exit_code == 1 and "catalog.ttl:1:1: error: does not parse as turtle" in result.stderr
    assert run("catalog", "check", str(tmp_path / "nowhere")).exit_code == 2


def test_cli_check_exits_1_on_a_violation_with_the_manifest_line(write, tmp_path):
    path = write_manifest(write, dataset="        updateFrequency: monthly")
    out = tmp_path / "out"
    build(out, Workspace(ConfigRepo(None)), manifests=[path.parent], status=FakeStatus({"sci/stats-prod": live()}),
          now=NOW)
    result = run("catalog", "check", str(out))
    assert result.exit_code == 1
    assert re.search(rf"{re.escape(str(path))}:23:\d+: error: dct:description: dcat:Dataset <\S+/tables> has no "
                     r"description", result.stderr)


def test_check_without_out_builds_first(write):
    path = write_manifest(write)
    report = check(None, Workspace(ConfigRepo(None)), manifests=[path.parent], offline=True)
    assert not report.failed and report.triples > 10


def test_catalog_commands_keep_startup_light():
    import subprocess
    import sys

    code = ("import sys, io, contextlib\n"
            "from govcloud.cli import cli\n"
            "for args in (['--help'], ['catalog', '--help'], ['catalog', 'build', '--help'],\n"
            "             ['catalog', 'check', '--help'], ['validate', %r]):\n"
            "    try:\n"
            "        with contextlib.redirect_stdout(io.StringIO()):\n"
            "            cli(args, standalone_mode=False)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'rdflib', 'pyshacl', 'owlrl'}))\n"
            ) % str(EXAMPLES)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_shapes_ship_with_the_package():
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["govcloud"]
    assert "catalog/shapes.ttl" in data and (REPO / "govcloud" / "catalog" / "shapes.ttl").is_file()
