"""Inventories: the sites (OpenStack regions) and the agency registry.

`inventories/sites/<name>.yaml` describes what a site offers (sizes -> flavors,
image aliases, volume types, external network, rate card, residency);
`inventories/agencies.yaml` says who may deploy where, into which project,
within which quotas; `inventories/catalog.yaml` describes the national
services catalog (its title, publisher, service levels, retired services).
All are checked with the same located errors as manifests. Files are read on
first use and cached per Inventory. A site is looked up only by a name (a DNS
label): anything else is an unknown site and never becomes a file path.
"""
from __future__ import annotations

from datetime import date
import ipaddress
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from govcloud.config import ConfigRepo
from govcloud.errors import InputError, Problem, format_path, unknown_name
from govcloud.load.manifest import LocalizedText, Manifest, is_dns_label
from govcloud.load.validation import StrictModel, empty_list, validate_model
from govcloud.load.yamlsource import load_yaml_file

if TYPE_CHECKING:  # pragma: no cover
    from govcloud.load.catalogsettings import CatalogSettings


def _to_decimal(value):
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, (int, float, str)):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise ValueError("must be a number") from None
    return value


Money = Annotated[Decimal, BeforeValidator(_to_decimal), Field(ge=0)]


class SizeSpec(StrictModel):
    flavor: str = Field(min_length=1)
    vcpus: int = Field(ge=1, le=512)
    ram_mb: int = Field(ge=128)
    disk_gb: int = Field(ge=0)


class ImageSpec(StrictModel):
    image: str = Field(min_length=1, description="the image name in Glance")
    os: str = Field(min_length=1)
    approved: bool = True


class VolumeTypeSpec(StrictModel):
    name: str = Field(min_length=1, description="the Cinder volume type")
    encrypted: bool = False


class RateCard(StrictModel):
    """Prices in `currency` (IRR by default) per unit of each meter.

    `version` names the card on every charge it prices; `validFrom` is the first UTC
    day it prices (none: since always). A price change is a new card in `rateCard`
    with the old one moved to `rateCardHistory`, so the past keeps its prices.
    """

    model_config = ConfigDict(strict=False)
    version: str = Field("1", min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    valid_from: date | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "IRR"
    vcpu_hour: Money
    ram_gb_hour: Money
    volume_gb_month: Money
    bucket_gb_month: Money
    floating_ip_hour: Money


# `type base64 [comment]`, as in known_hosts (the key data itself is checked by govcloud.verify)
_PUBLIC_KEY = r"^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,2}( .*)?$"
SshPort = Annotated[int, Field(ge=1, le=65535)]


class Bastion(StrictModel):
    """The jump host through which verify and ssh reach servers that have no public IP."""

    host: str = Field(min_length=1, description="the bastion's address")
    port: SshPort = 22
    user: str = Field(min_length=1, description="the login user on the bastion")
    host_keys: list[Annotated[str, Field(pattern=_PUBLIC_KEY)]] = Field(
        min_length=1, description='its public host keys, "type base64" as in known_hosts: never trusted on first use')


class LoopbackAddress(StrictModel):
    host: str
    port: SshPort

    @field_validator("host")
    @classmethod
    def _loopback(cls, v: str) -> str:
        try:
            if ipaddress.ip_address(v).is_loopback:
                return v
        except ValueError:
            pass
        raise ValueError("must be a loopback address such as 127.0.0.1 (this is for development clouds only)")


class ServerAccess(StrictModel):
    """How govcloud logs in to the site's servers (govcloud verify, govcloud ssh); all optional."""

    user: str | None = Field(None, min_length=1,
                             description="login user (default: the image's usual cloud user, e.g. ubuntu)")
    key_file: str | None = Field(None, min_length=1, description="private key file (default: the SSH agent)")
    port: SshPort = 22
    bastion: Bastion | None = None
    address_override: LoopbackAddress | None = Field(
        None, description="development clouds only: every server is reached at this loopback address instead of "
                          "its own (Nova's fake driver boots nothing; a local sshd stands in)")


class Site(StrictModel):
    name: str
    title: LocalizedText
    cloud: str = Field(min_length=1, description="the clouds.yaml entry for this site")
    region: str = Field(min_length=1)
    residency: Literal["domestic", "foreign"]
    external_network: str = Field(min_length=1)
    server_group_policy: Literal["anti-affinity", "soft-anti-affinity"] = "anti-affinity"
    sizes: dict[str, SizeSpec] = Field(min_length=1)
    images: dict[str, ImageSpec] = Field(min_length=1)
    volume_types: dict[str, VolumeTypeSpec] = Field(min_length=1)
    rate_card: RateCard  # the latest card (estimates use it); metering prices each day with the card in force
    rate_card_history: list[RateCard] = Field(default_factory=empty_list, description="earlier cards, any order")
    ssh: ServerAccess = Field(default_factory=ServerAccess)

    @model_validator(mode="after")
    def _rate_card_periods(self) -> "Site":
        cards = [*self.rate_card_history, self.rate_card]
        versions = [c.version for c in cards]
        dup = next((v for v in versions if versions.count(v) > 1), None)
        if dup is not None:
            raise ValueError(f"rate card version '{dup}' is given twice")
        if len({c.currency for c in cards}) > 1:
            raise ValueError("every rate card of a site must be in the same currency")
        if self.rate_card_history and self.rate_card.valid_from is None:
            raise ValueError("rateCard needs validFrom when there is a rateCardHistory (the day its prices start)")
        starts = [c.valid_from for c in cards]
        if starts.count(None) > 1:
            raise ValueError("only the first rate card may omit validFrom")
        dated = [d for d in starts if d is not None]
        if len(set(dated)) != len(dated):
            raise ValueError("two rate cards start on the same day")
        if any(c.valid_from is not None and c.valid_from >= self.rate_card.valid_from
               for c in self.rate_card_history):
            raise ValueError("rateCard must be the latest card: every rateCardHistory card starts before it")
        return self


class Quotas(StrictModel):
    vcpus: int = Field(ge=0)
    ram_gb: int = Field(ge=0)
    volume_gb: int = Field(ge=0)
    floating_ips: int = Field(ge=0)
    buckets: int = Field(ge=0)


class Subsidy(StrictModel):
    """A price reduction the ministry grants an agency (docs/metering.md, "Subsidies and discounts").

    `discount`: the percentage comes off each charge of the listed meters as it is priced
    (FOCUS: EffectiveCost and BilledCost below ListCost on the same row). `credit`: after
    the month, the percentage of the month's billed charges of those meters is credited
    (FOCUS: a separate row with ChargeCategory "Credit").
    """

    model_config = ConfigDict(strict=False)
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")]
    kind: Literal["discount", "credit"]
    percent: Annotated[Decimal, BeforeValidator(_to_decimal), Field(gt=0, le=100)]
    description: str = Field(min_length=1)
    meters: list[str] = Field(default_factory=empty_list, description="priced meters it applies to; empty: all")
    valid_from: date | None = None
    valid_until: date | None = Field(None, description="last UTC day it applies to, included")


class Agency(StrictModel):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,15}$")]
    name: LocalizedText
    project: str = Field(min_length=1, description="the agency's OpenStack project")
    contact: str | None = None
    quotas: Quotas
    allowed_sites: list[str] = Field(min_length=1)
    monthly_budget: Annotated[Decimal | None, BeforeValidator(lambda v: None if v is None else _to_decimal(v))] = Field(
        None, strict=False)
    subsidies: list[Subsidy] = Field(default_factory=empty_list)


class AgencyRegistry(StrictModel):
    agencies: list[Agency]

    @field_validator("agencies")
    @classmethod
    def _unique(cls, v: list[Agency]) -> list[Agency]:
        seen: set[str] = set()
        for a in v:
            if a.id in seen:
                raise ValueError(f"agency id '{a.id}' is listed twice")
            seen.add(a.id)
        return v


class Inventory:
    """The sites and agencies visible from a config repo (read lazily, cached)."""

    def __init__(self, config: ConfigRepo):
        self.config = config
        self._sites: dict[str, Site] = {}
        self._registry: AgencyRegistry | None = None

    def site_names(self) -> list[str]:
        names: set[str] = set()
        for d in self.config.search_dirs("inventories/sites"):
            names.update(p.stem for p in d.glob("*.yaml"))
        return sorted(names)

    def site_path(self, name: str) -> Path | None:
        if not is_dns_label(name):  # '../agencies', '/etc/x' or 300 characters are no site's name
            return None
        return self.config.find_file("inventories/sites", f"{name}.yaml")

    def site(self, name: str) -> Site | None:
        if name not in self._sites:
            path = self.site_path(name)
            if path is None:
                return None
            doc = load_yaml_file(path)
            site = validate_model(Site, doc.data, doc.locate)
            if site.name != name:
                raise InputError([Problem(f"site file {path.name} names the site '{site.name}'",
                                          "name", doc.locate(("name",)), code="inventory",
                                          hint=f"the name must match the file name: '{name}'")])
            self._sites[name] = site
        return self._sites[name]

    def sites(self) -> list[Site]:
        return [s for s in (self.site(n) for n in self.site_names()) if s is not None]

    @property
    def registry(self) -> AgencyRegistry:
        if self._registry is None:
            path = self.config.find_file("inventories", "agencies.yaml")
            if path is None:
                raise InputError([Problem("no agency registry found (inventories/agencies.yaml)", code="inventory")])
            doc = load_yaml_file(path)
            self._registry = validate_model(AgencyRegistry, doc.data, doc.locate)
        return self._registry

    def agency(self, agency_id: str) -> Agency | None:
        return next((a for a in self.registry.agencies if a.id == agency_id), None)

    def agency_ids(self) -> list[str]:
        return [a.id for a in self.registry.agencies]

    def catalog_path(self) -> Path | None:
        return self.config.find_file("inventories", "catalog.yaml")

    @cached_property
    def catalog(self) -> "CatalogSettings":
        from govcloud.load.catalogsettings import CatalogSettings  # its models are built only when it is read

        path = self.catalog_path()
        if path is None:
            raise InputError([Problem("no catalog settings found (inventories/catalog.yaml)", code="inventory")])
        doc = load_yaml_file(path)
        return validate_model(CatalogSettings, doc.data, doc.locate)


def check_references(manifest: Manifest, inventory: Inventory, locate) -> tuple[Site, Agency]:
    """Cross-check a manifest's names against the inventory; every miss is reported."""
    problems: list[Problem] = []

    def miss(path: tuple, what: str, name: str, choices: list[str], where: str = "") -> None:
        problems.append(unknown_name(what, name, choices, format_path(path), locate(path), where=where))

    agency = inventory.agency(manifest.metadata.agency)
    if agency is None:
        miss(("metadata", "agency"), "agency", manifest.metadata.agency, inventory.agency_ids())
    site = inventory.site(manifest.spec.site)
    if site is None:
        miss(("spec", "site"), "site", manifest.spec.site, inventory.site_names())
    elif agency is not None and site.name not in agency.allowed_sites:
        problems.append(Problem(f"agency '{agency.id}' may not deploy to site '{site.name}'",
                                "spec.site", locate(("spec", "site")), code="reference",
                                hint="allowed sites: " + ", ".join(agency.allowed_sites)))
    if site is not None:
        for i, server in enumerate(manifest.spec.servers):
            base = ("spec", "servers", i)
            if server.size not in site.sizes:
                miss(base + ("size",), "size", server.size, list(site.sizes), f" at site {site.name}")
            if server.image not in site.images:
                miss(base + ("image",), "image", server.image, list(site.images), f" at site {site.name}")
            for j, vol in enumerate(server.volumes):
                if vol.type not in site.volume_types:
                    miss(base + ("volumes", j, "type"), "volume type", vol.type, list(site.volume_types),
                         f" at site {site.name}")
    if problems:
        raise InputError(problems)
    assert site is not None and agency is not None
    return site, agency

