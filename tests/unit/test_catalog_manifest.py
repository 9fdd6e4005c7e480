"""Manifest v1's catalog fields: publish description/keywords/contact/sla, endpoint openapi/version,
open dataset title/description/updateFrequency/bucket/url; GC017; located errors."""
from __future__ import annotations

import json

import pytest

from govcloud.check import Workspace
from govcloud.config import ConfigRepo
from govcloud.errors import InputError
from govcloud.load.manifest import manifest_json_schema
from govcloud.check import check_paths

from ..conftest import EXAMPLES

PUBLIC = """
apiVersion: govcloud/v1
kind: Service
metadata:
  name: stats
  agency: sci
  environment: prod
  owner: data@sci.gov.example
  costCenter: SCI-OD-009
  classification: {classification}
spec:
  site: thr1
  network:
    cidr: 10.61.0.0/24
  buckets:
    - {{name: files, public: true, quotaGb: 10}}
    - {{name: private, public: false, quotaGb: 10}}
  publish:
    title: {{fa: "آمار", en: Statistics}}
    audience: [businesses]
{extra}
"""


def manifest(write, extra="", classification="public", name="stats.yaml"):
    return write(name, PUBLIC.format(extra=extra, classification=classification))


def problems_of(path):
    with pytest.raises(InputError) as info:
        Workspace(ConfigRepo(None)).check(path)
    return info.value.problems


def test_the_examples_use_the_new_fields_and_validate():
    results, report = check_paths([EXAMPLES], Workspace(ConfigRepo(None)))
    assert all(r.ok for r in results), [p.format() for r in results for p in r.problems]
    svc = Workspace(ConfigRepo(None)).check(EXAMPLES / "sci" / "open-data.yaml")
    publish = svc.manifest.spec.publish
    assert publish.sla == "gold" and publish.keywords.en == ["statistics", "census", "inflation"]
    assert publish.endpoints[0].openapi == "catalog-api.openapi.json" and publish.endpoints[0].version == "3.1"
    census = publish.open_data[0]
    assert (census.bucket, census.object, census.update_frequency) == ("datasets", "census/2026/population.csv",
                                                                        "never")
    assert census.title.en.startswith("General Population")


def test_old_manifests_without_the_new_fields_still_validate(write):
    path = manifest(write, "    openData:\n      - {name: tables, format: csv, license: CC-BY-4.0}")
    svc = Workspace(ConfigRepo(None)).check(path)
    data = svc.manifest.spec.publish.open_data[0]
    assert data.title is None and data.bucket is None and data.url is None


def test_bucket_and_url_together_is_an_error_at_the_dataset(write):
    path = manifest(write, "    openData:\n"
                           "      - {name: t, format: csv, license: CC-BY-4.0, bucket: files,\n"
                           "         url: 'https://x.gov.example/t.csv'}")
    (p,) = problems_of(path)
    assert (p.location.file, p.location.line, p.path) == (str(path), 21, "spec.publish.openData[0]")
    assert "either bucket" in p.message


def test_bad_update_frequency_names_the_allowed_values(write):
    path = manifest(write, "    openData:\n      - {name: t, format: csv, license: CC0-1.0, updateFrequency: hourly}")
    (p,) = problems_of(path)
    assert p.path == "spec.publish.openData[0].updateFrequency" and p.location.line == 21
    assert "'monthly'" in p.message


def test_unknown_service_level_is_located_with_a_suggestion(write):
    path = manifest(write, "    sla: gld")
    (p,) = problems_of(path)
    assert (p.location.line, p.location.column, p.path, p.code) == (20, 10, "spec.publish.sla", "reference")
    assert "did you mean 'gold'?" in p.hint and "bronze" in p.hint


def test_openapi_document_must_exist_inside_the_config_repo(write, tmp_path):
    path = manifest(write, "    endpoints:\n"
                           "      - {name: api, url: 'https://x.gov.example', kind: rest, openapi: nope.json}\n"
                           "      - {name: etc, url: 'https://x.gov.example', kind: rest, openapi: ../../etc/passwd}")
    first, second = problems_of(path)
    assert first.path == "spec.publish.endpoints[0].openapi" and first.location.line == 21
    assert "no such file" in first.message
    assert second.location.line == 22 and "inside the config repo" in second.message


def test_invalid_openapi_is_reported_in_the_document_at_the_wrong_place(write):
    doc = write("api.yaml", """
        openapi: 3.0.3
        info: {title: Stats, version: "1"}
        paths:
          /tables:
            get:
              summary: list
              parameters:
                - {name: q, in: nowhere}
              responses: {"200": {description: ok}}
          /tables/{id}:
            post:
              summary: no responses
        """)
    path = manifest(write, "    endpoints:\n      - {name: api, url: 'https://x.gov.example', kind: rest, "
                           "openapi: api.yaml}")
    problems = problems_of(path)
    assert {p.location.file for p in problems} == {str(doc)}
    assert {p.code for p in problems} == {"openapi"}
    where = {p.path: p.location.line for p in problems}
    assert where["paths./tables/{id}.post"] == 12  # the operation's body
    assert where["paths./tables.get.parameters[0]"] == 8


@pytest.mark.parametrize("text,words", [
    ("swagger: '2.0'\ninfo: {title: x, version: '1'}\npaths: {}\n", "Swagger 2.0"),
    ("openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n"
     "        '200': {$ref: 'http://127.0.0.1:9/x.yaml'}\n", "leaves the document"),
    ("- not\n- a mapping\n", "must be a mapping"),
])
def test_not_openapi_3(write, text, words):
    write("api.yaml", text)
    path = manifest(write, "    endpoints:\n      - {name: api, url: 'https://x.gov.example', kind: rest, "
                           "openapi: api.yaml}")
    (p,) = problems_of(path)
    assert p.location.file.endswith("api.yaml") and words in p.message


def test_a_valid_openapi_document_passes(write):
    write("api.json", json.dumps({"openapi": "3.1.0", "info": {"title": "x", "version": "1"},
                                  "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}}}))
    path = manifest(write, "    endpoints:\n      - {name: api, url: 'https://x.gov.example', kind: rest, "
                           "openapi: api.json, version: '1.0'}")
    assert Workspace(ConfigRepo(None)).check(path).manifest.spec.publish.endpoints[0].openapi == "api.json"


# -- GC017 ------------------------------------------------------------------------------------------

def findings(path):
    (result,), report = check_paths([path], Workspace(ConfigRepo(None)))
    return [(f.rule_id, f.path, f.location.line) for f in report.for_file(str(path)) if f.rule_id == "GC017"]


def test_gc017_restricted_services_publish_nothing(write):
    path = manifest(write, "", classification="restricted")
    assert findings(path) == [("GC017", "spec.publish", 17)]


def test_gc017_open_data_only_from_public_services(write):
    path = manifest(write, "    openData:\n      - {name: t, format: csv, license: CC0-1.0, url: "
                           "'https://x.gov.example/t.csv'}", classification="internal")
    assert findings(path) == [("GC017", "spec.publish.openData[0].name", 21)]


def test_gc017_unknown_or_private_bucket(write):
    path = manifest(write, "    openData:\n"
                           "      - {name: a, format: csv, license: CC0-1.0, bucket: files}\n"
                           "      - {name: b, format: csv, license: CC0-1.0, bucket: private}\n"
                           "      - {name: c, format: csv, license: CC0-1.0, bucket: missing}")
    assert findings(path) == [("GC017", "spec.publish.openData[1].bucket", 22),
                              ("GC017", "spec.publish.openData[2].bucket", 23)]


def test_schema_documents_the_new_fields():
    defs = manifest_json_schema()["$defs"]
    assert {"openapi", "version"} <= set(defs["Endpoint"]["properties"])
    assert {"title", "description", "updateFrequency", "bucket", "object", "url"} <= set(
        defs["OpenDataset"]["properties"])
    assert {"description", "keywords", "contact", "sla"} <= set(defs["Publish"]["properties"])


def test_catalog_settings_are_checked_with_located_errors(tmp_path):
    from govcloud.load.inventory import Inventory

    (tmp_path / "inventories").mkdir()
    shipped = (EXAMPLES.parent / "inventories" / "catalog.yaml").read_text(encoding="utf-8")
    (tmp_path / "inventories" / "catalog.yaml").write_text(
        shipped.replace('retired: "2026-03-01"', 'retired: "2026-02-30"').replace("availability: 99.9\n",
                                                                               "availability: 120\n"))
    with pytest.raises(InputError) as info:
        Inventory(ConfigRepo(tmp_path)).catalog
    found = {p.path: p for p in info.value.problems}
    assert "no such day: 2026-02-30" in found["retired[0].retired"].message
    assert "less than or equal to 100" in found["serviceLevels.silver.availability"].message
    assert all(p.location.file.endswith("catalog.yaml") and p.location.line > 1 for p in found.values())
