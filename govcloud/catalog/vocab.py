"""Names the catalog publishes: stable URIs and the controlled vocabularies DCAT-AP asks for.

Every URI is made under the catalog's `baseUrl` from agency, service and
dataset names (never from a database id), so the same service has the same
URI in every build and harvesters update it instead of adding a twin.
"""
from __future__ import annotations

from urllib.parse import quote

EU = "http://publications.europa.eu/resource/authority/"

# manifest format -> (IANA media type, EU file type)
FORMATS = {
    "csv": ("text/csv", "CSV"),
    "json": ("application/json", "JSON"),
    "xml": ("application/xml", "XML"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "XLSX"),
    "geojson": ("application/geo+json", "GEOJSON"),
    "parquet": ("application/vnd.apache.parquet", "PARQUET"),
}

# manifest updateFrequency -> EU frequency
FREQUENCIES = {
    "continuous": "CONT", "daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY", "quarterly": "QUARTERLY",
    "annual": "ANNUAL", "irregular": "IRREG", "never": "NEVER",
}

LANGUAGES = {"fa": "FAS", "en": "ENG"}  # EU language authority codes of the catalog's two languages


def media_type_uri(fmt: str) -> str:
    return "https://www.iana.org/assignments/media-types/" + FORMATS[fmt][0]


def file_type_uri(fmt: str) -> str:
    return EU + "file-type/" + FORMATS[fmt][1]


def frequency_uri(freq: str) -> str:
    return EU + "frequency/" + FREQUENCIES[freq]


def language_uri(lang: str) -> str:
    return EU + "language/" + LANGUAGES[lang]


def license_url(license: str) -> str:
    """An SPDX licence id as its SPDX URI; a licence given as a URL stays as it is."""
    if license.startswith(("http://", "https://")):
        return license
    return "http://spdx.org/licenses/" + quote(license, safe="")


def _seg(name: str) -> str:
    return quote(name, safe="")


def catalog_uri(base: str) -> str:
    return f"{base}/id/catalog"


def publisher_uri(base: str) -> str:
    return f"{base}/id/publisher"


def agency_uri(base: str, agency: str) -> str:
    return f"{base}/id/agency/{_seg(agency)}"


def service_uri(base: str, agency: str, service: str) -> str:
    return f"{base}/id/service/{_seg(agency)}/{_seg(service)}"


def dataset_uri(base: str, agency: str, service: str, dataset: str) -> str:
    return f"{base}/id/dataset/{_seg(agency)}/{_seg(service)}/{_seg(dataset)}"


def distribution_uri(dataset: str) -> str:
    return f"{dataset}/distribution"


def contact_uri(service: str) -> str:
    return f"{service}/contact"


def record_uri(resource: str) -> str:
    """The catalog record of a resource (tombstones are records with change type 'deleted')."""
    return resource.replace("/id/", "/id/record/", 1)
