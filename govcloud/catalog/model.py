"""catalog.json: the catalog as data, a versioned and documented schema.

These pydantic models are the one description of the catalog: the builder
fills them, catalog.json is their JSON (camelCase keys), its JSON Schema
(docs/catalog.schema.json, also written into every build) is generated
from them, and the HTML pages and the DCAT-AP RDF are rendered from them.
`SCHEMA_VERSION` changes with every change of shape; additions that old
readers can ignore bump the minor number.

Text from manifests is cleaned once, here (`clean`): control characters and
Unicode bidi embeddings, overrides and isolates (which could make a title
display as something else) are removed; every output format escapes the rest.
"""
from __future__ import annotations

import datetime as _dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from govcloud.load.validation import empty_list

SCHEMA_VERSION = "1.0"
SCHEMA_ID = "https://govcloud.gov.example/schema/catalog-1.json"

_UNSAFE = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """Text from a manifest or an OpenAPI document, without control or bidi-override characters."""
    return _UNSAFE.sub("", text)


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")


class Text(_Model):
    """The same text in Persian and in English."""

    fa: str
    en: str

    @classmethod
    def of(cls, value) -> "Text | None":
        return None if value is None else cls(fa=clean(value.fa), en=clean(value.en))


class Keywords(_Model):
    fa: list[str] = Field(default_factory=empty_list)
    en: list[str] = Field(default_factory=empty_list)


class Source(_Model):
    """Where an entry was written (the manifest, or inventories/ for catalog and agencies)."""

    file: str
    line: int
    column: int


class Operation(_Model):
    method: str
    path: str
    summary: str
    operation_id: str


class ApiDocument(_Model):
    """An endpoint's OpenAPI document, published next to the catalog entry."""

    file: str = Field(description="path in the build, e.g. openapi/sci/open-data/catalog.json")
    url: str = Field(description="the same under the catalog's baseUrl")
    openapi: str
    title: str
    version: str
    operations: list[Operation]


class Endpoint(_Model):
    name: str
    kind: Literal["rest", "soap", "graphql", "grpc", "web", "sftp"]
    url: str = Field(description="as declared in the manifest (live only when the service is available)")
    version: str | None = None
    api: ApiDocument | None = None
    source: Source


class Dataset(_Model):
    name: str
    uri: str
    title: Text | None = None
    description: Text | None = None
    format: str
    media_type: str
    license: str
    license_url: str
    update_frequency: str | None = None
    bucket: str | None = None
    access_url: str | None = Field(None, description="only while the service is live")
    download_url: str | None = Field(None, description="only while the service is live")
    source: Source


class ServiceLevel(_Model):
    name: str
    title: Text
    availability: float = Field(description="availability target in percent")
    support: Text | None = None


class Verification(_Model):
    result: Literal["passed", "failed"]
    finished_at: _dt.datetime | None = None
    summary: str | None = None


class Pages(_Model):
    fa: str
    en: str


class Service(_Model):
    id: str = Field(description="<agency>/<service>")
    uri: str
    agency: str
    name: str
    environment: Literal["dev", "test", "staging", "prod"]
    site: str
    title: Text
    description: Text | None = None
    audience: list[Literal["citizens", "businesses", "agencies"]]
    keywords: Keywords
    contact: str | None = None
    sla: ServiceLevel | None = None
    status: Literal["available", "degraded", "planned"]
    last_deployed: _dt.datetime | None = None
    last_deploy_result: str | None = None
    last_verify: Verification | None = Field(None, description="null: not verified")
    endpoints: list[Endpoint]
    datasets: list[Dataset]
    pages: Pages
    source: Source

    @property
    def live(self) -> bool:
        return self.status != "planned"


class Agency(_Model):
    id: str
    uri: str
    name: Text
    contact: str | None = None
    source: Source | None = None


class Retired(_Model):
    """A service no longer in the catalog: a tombstone in the DCAT export."""

    id: str
    uri: str
    agency: str
    name: str
    retired: _dt.date
    title: Text | None = None
    reason: Text | None = None
    datasets: list[str] = Field(default_factory=empty_list, description="URIs of its datasets")
    source: Source | None = Field(None, description="its entry in inventories/catalog.yaml, when listed there")


class Publisher(_Model):
    uri: str
    name: Text
    email: str | None = None
    homepage: str | None = None


class CatalogInfo(_Model):
    uri: str
    base_url: str
    title: Text
    description: Text
    publisher: Publisher
    source: Source | None = None


class CatalogDocument(_Model):
    """The whole catalog, as written to catalog.json."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid",
                              title="govcloud services catalog")
    schema_: str = Field(SCHEMA_ID, alias="$schema")
    schema_version: Literal["1.0"] = SCHEMA_VERSION
    generated: _dt.datetime
    catalog: CatalogInfo
    agencies: list[Agency]
    services: list[Service]
    retired: list[Retired]

    def to_json(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)

    def agency(self, agency_id: str) -> Agency | None:
        return next((a for a in self.agencies if a.id == agency_id), None)


def catalog_json_schema() -> dict:
    schema = CatalogDocument.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["description"] = (f"catalog.json of `govcloud catalog build`, schema version {SCHEMA_VERSION} "
                             "(docs/catalog.md)")
    return schema
