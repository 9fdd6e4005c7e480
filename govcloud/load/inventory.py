"""Inventories: the sites (OpenStack regions) and the agency registry.

`inventories/sites/<name>.yaml` describes what a site offers (sizes -> flavors,
image aliases, volume types, external network, rate card, residency);
`inventories/agencies.yaml` says who may deploy where, into which project,
within which quotas. Both are checked with the same located errors as
manifests. Files are read on first use and cached per Inventory.
"""
from __future__ import annotations

import ipaddress
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator

from govcloud.config import ConfigRepo
from govcloud.errors import InputError, Problem, did_you_mean, format_path, one_of
from govcloud.load.manifest import LocalizedText, Manifest
from govcloud.load.validation import StrictModel, validate_model
from govcloud.load.yamlsource import load_yaml_file


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
    """Prices in `currency` (IRR by default) per unit of each meter."""

    model_config = ConfigDict(strict=False)
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
    rate_card: RateCard
    ssh: ServerAccess = Field(default_factory=ServerAccess)


class Quotas(StrictModel):
    vcpus: int = Field(ge=0)
    ram_gb: int = Field(ge=0)
    volume_gb: int = Field(ge=0)
    floating_ips: int = Field(ge=0)
    buckets: int = Field(ge=0)


class Agency(StrictModel):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,15}$")]
    name: LocalizedText
    project: str = Field(min_length=1, description="the agency's OpenStack project")
    contact: str | None = None
    quotas: Quotas
    allowed_sites: list[str] = Field(min_length=1)
    monthly_budget: Annotated[Decimal | None, BeforeValidator(lambda v: None if v is None else _to_decimal(v))] = Field(
        None, strict=False)


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


def check_references(manifest: Manifest, inventory: Inventory, locate) -> tuple[Site, Agency]:
    """Cross-check a manifest's names against the inventory; every miss is reported."""
    problems: list[Problem] = []

    def miss(path: tuple, what: str, name: str, choices: list[str], where: str = "") -> None:
        problems.append(Problem(f"unknown {what} '{name}'{where}", format_path(path), locate(path), code="reference",
                                hint="; ".join(filter(None, [did_you_mean(name, choices), one_of(choices)]))))

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

