"""inventories/catalog.yaml: the settings of the national services catalog (base URL, publisher, service levels,
retired services).

Apart from inventory.py (sites and agencies, which every command reads) because only the catalog
commands and manifests with `spec.publish` read it: its models are built on first use
(`Inventory.catalog`), not by every `govcloud validate`.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from govcloud.load.manifest import LocalizedText
from govcloud.load.validation import StrictModel, empty_dict, empty_list

CatalogUrl = Annotated[str, Field(pattern=r"^https?://[^\s]+[^\s/]$", max_length=500)]


def _iso_date(value: str) -> str:
    import datetime

    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"must be a date such as 2026-03-01 (no such day: {value})") from None
    return value


IsoDate = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), AfterValidator(_iso_date)]


class ServiceLevel(StrictModel):
    """A service level class the ministry offers (publish.sla of a manifest names one)."""

    title: LocalizedText
    availability: float = Field(gt=0, le=100, description="monthly availability target in percent, e.g. 99.9")
    support: LocalizedText | None = Field(None, description="support hours, e.g. 24/7")


class CatalogPublisher(StrictModel):
    name: LocalizedText
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    homepage: CatalogUrl | None = None


class RetiredService(StrictModel):
    """A service taken out of the catalog: harvesters get a tombstone so that they delete it."""

    agency: str = Field(min_length=1)
    name: str = Field(min_length=1)
    retired: IsoDate
    title: LocalizedText | None = None
    reason: LocalizedText | None = None
    datasets: list[str] = Field(default_factory=empty_list, description="names of the open datasets it published")


class CatalogSettings(StrictModel):
    base_url: CatalogUrl = Field(description="where the catalog is published; every URI is made under it")
    title: LocalizedText
    description: LocalizedText
    publisher: CatalogPublisher
    service_levels: dict[str, ServiceLevel] = Field(default_factory=empty_dict)
    retired: list[RetiredService] = Field(default_factory=empty_list)
