"""Manifest v1: the typed contract agencies write (see docs/manifest.md).

Field names are the users' contract (camelCase in YAML, snake_case here).
`load_manifest` turns a file into a checked `Manifest` or raises an
`InputError` listing every problem with file:line:column, field path and the
allowed values.

Limits come before work: every list and string has a bound that a real
service stays far inside (docs/manifest.md, "Limits"), so that a hostile
file is refused by the schema before it is compiled, priced or policy-checked.
"""
from __future__ import annotations

import copy
import ipaddress
import re
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from govcloud.errors import InputError, Problem, shorten
from govcloud.load.validation import StrictModel as _Model, empty_dict, empty_list, validate_model

API_VERSION = "govcloud/v1"

# Bounds of one manifest (documented in docs/manifest.md); the compiled plan grows with their product.
MAX_SERVER_ENTRIES = 50
MAX_INSTANCES = 500  # sum of the counts: a service larger than this is several services
MAX_VOLUMES_PER_SERVER = 16
MAX_INGRESS_RULES = 100  # Neutron's default quota is 100 rules per security group's project
MAX_BUCKETS = 50
MAX_LABELS = 64
MAX_ENDPOINTS = 50
MAX_OPEN_DATASETS = 200
MAX_REF_LENGTH = 64  # a size, image or volume type name of the site

_DNS_LABEL = re.compile(r"[a-z]([a-z0-9-]*[a-z0-9])?\Z")  # \Z, not $: "$" also matches before a final newline
DNS_LABEL_RULE = "must be a DNS label: lowercase letters, digits and '-', starting with a letter and not ending with '-'"
_IPV4_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def is_dns_label(value: object) -> bool:
    """A name that is safe as a file name, a resource name part and a URL part (1-63 chars)."""
    return isinstance(value, str) and len(value) <= 63 and _DNS_LABEL.match(value) is not None


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(DNS_LABEL_RULE)
    return value


@lru_cache(maxsize=4096)
def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """ip_network(value, strict=True), parsed once per distinct text (manifests repeat their sources, and the
    subnet is parsed by both _cidr and Network._private). ValueError for a bad one (not cached)."""
    return ipaddress.ip_network(value, strict=True)


@lru_cache(maxsize=4096)
def _cidr(value: str) -> str:
    """The network's canonical text (ip_network's str), once per distinct text. ValueError (not cached)."""
    try:
        net = _network(value)
    except ValueError as exc:
        raise ValueError(f"must be a network in CIDR notation such as 10.42.0.0/24 ({exc})") from None
    return str(net)


@lru_cache(maxsize=4096)
def _subnet_problem(value: str) -> str | None:
    """Why a valid CIDR cannot be a service's subnet, or None; once per distinct text."""
    net = _network(value)
    # the subnet is IPv4 (compile and the address-overlap rules are); ingress sources may be IPv6
    if net.version != 4:
        return "must be an IPv4 network such as 10.42.0.0/24 (IPv6 subnets are not offered)"
    # RFC 1918 only: is_private also admits loopback, link-local, 0.0.0.0/8 and 240.0.0.0/4
    if not any(net.subnet_of(r) for r in _IPV4_PRIVATE):
        return "must be a private range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)"
    if not 16 <= net.prefixlen <= 28:
        return "prefix length must be between /16 and /28"
    return None


def _email(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+", value):  # linear: no two ways to split
        raise ValueError("must be an e-mail address such as it-ops@moh.gov.example")
    return value


DnsLabel = Annotated[str, Field(min_length=1, max_length=63), AfterValidator(_dns_label)]
Cidr = Annotated[str, AfterValidator(_cidr)]
Port = Annotated[int, Field(ge=1, le=65535)]
SiteRef = Annotated[str, Field(min_length=1, max_length=MAX_REF_LENGTH)]


def _unique_names(items: list[Any], what: str) -> list[Any]:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.name in seen:
            raise ValueError(f"{what} name '{item.name}' is used twice (items {seen[item.name]} and {i}); "
                             "names must be unique")
        seen[item.name] = i
    return items


class IngressRule(_Model):
    """One allowed inbound flow; becomes a security-group rule."""

    name: DnsLabel
    port: Port | None = Field(None, description="destination port (not for icmp)")
    port_max: Port | None = Field(None, description="last port of a range (optional)")
    protocol: Literal["tcp", "udp", "icmp"] = "tcp"
    from_: Cidr = Field(alias="from", description="source network in CIDR notation")

    @model_validator(mode="after")
    def _ports(self) -> "IngressRule":
        if self.protocol != "icmp" and self.port is None:
            raise ValueError(f"port is required for protocol {self.protocol}")
        if self.port_max is not None and (self.port is None or self.port_max < self.port):
            raise ValueError("portMax must be at least port")
        return self


class Network(_Model):
    cidr: Cidr = Field(description="the service's private IPv4 subnet, e.g. 10.42.0.0/24")
    ingress: list[IngressRule] = Field(default_factory=empty_list, max_length=MAX_INGRESS_RULES)

    @field_validator("cidr")
    @classmethod
    def _private(cls, v: str) -> str:
        problem = _subnet_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    _unique = field_validator("ingress")(classmethod(lambda cls, v: _unique_names(v, "ingress rule")))


class Volume(_Model):
    name: DnsLabel
    size_gb: int = Field(ge=1, le=16384, description="size in GB (1-16384)")
    type: SiteRef = Field("standard", description="a volume type of the site")


class HealthCheck(_Model):
    port: Port | None = None
    command: str | None = Field(None, min_length=1, max_length=500)

    @model_validator(mode="after")
    def _something(self) -> "HealthCheck":
        if self.port is None and self.command is None:
            raise ValueError("a health check needs a port, a command or both")
        return self


class Server(_Model):
    name: Annotated[DnsLabel, Field(max_length=20)]
    size: SiteRef = Field(description="a size of the site (maps to a flavor)")
    image: SiteRef = Field(description="an image alias of the site")
    count: int = Field(1, ge=1, le=50)
    role: DnsLabel = Field("base", description="cloud-init template templates/cloud-init/<role>.yaml.j2")
    public_ip: bool = False
    volumes: list[Volume] = Field(default_factory=empty_list, max_length=MAX_VOLUMES_PER_SERVER)
    health_check: HealthCheck | None = None

    _unique = field_validator("volumes")(classmethod(lambda cls, v: _unique_names(v, "volume")))


class Bucket(_Model):
    name: Annotated[DnsLabel, Field(min_length=3, max_length=40)]
    public: bool = False
    quota_gb: int = Field(ge=1, le=1_000_000, description="quota in GB")


class LocalizedText(_Model):
    fa: str = Field(min_length=1)
    en: str = Field(min_length=1)


Url = Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=2000)]
UPDATE_FREQUENCIES = ("continuous", "daily", "weekly", "monthly", "quarterly", "annual", "irregular", "never")


class LocalizedKeywords(_Model):
    fa: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(default_factory=empty_list)
    en: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(default_factory=empty_list)


class Endpoint(_Model):
    name: DnsLabel
    url: Url
    kind: Literal["rest", "soap", "graphql", "grpc", "web", "sftp"]
    version: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9.+_-]*$")] | None = \
        Field(None, description="the API version offered at this URL, e.g. 2.1")
    openapi: Annotated[str, Field(min_length=1, max_length=300)] | None = Field(
        None, description="an OpenAPI 3 document in the config repo, relative to this manifest "
                          "(published next to the catalog entry)")


class OpenDataset(_Model):
    name: DnsLabel
    format: Literal["csv", "json", "xml", "xlsx", "geojson", "parquet"]
    license: str = Field(min_length=1)
    title: LocalizedText | None = None
    description: LocalizedText | None = None
    update_frequency: Literal["continuous", "daily", "weekly", "monthly", "quarterly", "annual", "irregular",
                              "never"] | None = None
    bucket: DnsLabel | None = Field(None, description="a public bucket of this manifest that holds the file "
                                                      "(its download URL comes from the site's object store)")
    object: Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\s/][^\s]*$")] | None = Field(
        None, description="the file's object name in the bucket (default: <name>.<format>)")
    url: Url | None = Field(None, description="where the file is downloaded, when it is not in a bucket")

    @model_validator(mode="after")
    def _one_place(self) -> "OpenDataset":
        if self.bucket is not None and self.url is not None:
            raise ValueError("give either bucket (a bucket of this manifest) or url, not both")
        if self.object is not None and self.bucket is None:
            raise ValueError("object names a file in a bucket: set bucket too")
        return self


class Publish(_Model):
    title: LocalizedText
    description: LocalizedText | None = None
    audience: list[Literal["citizens", "businesses", "agencies"]] = Field(min_length=1)
    keywords: LocalizedKeywords | None = None
    contact: Annotated[str, AfterValidator(_email)] | None = Field(
        None, description="who answers users of the service (default: metadata.owner)")
    sla: DnsLabel | None = Field(None, description="a service level of inventories/catalog.yaml, e.g. gold")
    endpoints: list[Endpoint] = Field(default_factory=empty_list, max_length=MAX_ENDPOINTS)
    open_data: list[OpenDataset] = Field(default_factory=empty_list, max_length=MAX_OPEN_DATASETS)

    _unique_endpoints = field_validator("endpoints")(classmethod(lambda cls, v: _unique_names(v, "endpoint")))
    _unique_data = field_validator("open_data")(classmethod(lambda cls, v: _unique_names(v, "open dataset")))


class Metadata(_Model):
    name: Annotated[DnsLabel, Field(min_length=3, max_length=40)]
    agency: DnsLabel
    environment: Literal["dev", "test", "staging", "prod"]
    owner: Annotated[str, Field(max_length=254), AfterValidator(_email)] | None = None
    cost_center: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$", max_length=40)] | None = None
    classification: Literal["public", "internal", "restricted", "secret"]
    labels: dict[Annotated[str, Field(min_length=1, max_length=63)], Annotated[str, Field(max_length=255)]] = Field(
        default_factory=empty_dict, max_length=MAX_LABELS)


class Spec(_Model):
    blueprint: DnsLabel | None = None
    site: DnsLabel = Field(description="a site in inventories/sites/")
    ssh_public_key: Annotated[str, Field(pattern=r"^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$")] | None = Field(
        None, description="optional: an SSH public key installed on every server (becomes a keypair)")
    network: Network
    servers: list[Server] = Field(default_factory=empty_list, max_length=MAX_SERVER_ENTRIES)
    buckets: list[Bucket] = Field(default_factory=empty_list, max_length=MAX_BUCKETS)
    publish: Publish | None = None

    _unique_servers = field_validator("servers")(classmethod(lambda cls, v: _unique_names(v, "server")))
    _unique_buckets = field_validator("buckets")(classmethod(lambda cls, v: _unique_names(v, "bucket")))

    @field_validator("servers")
    @classmethod
    def _instances(cls, v: list[Server]) -> list[Server]:
        total = sum(s.count for s in v)
        if total > MAX_INSTANCES:
            raise ValueError(f"the counts add up to {total} servers; a manifest may have at most {MAX_INSTANCES}")
        return v


class Manifest(_Model):
    api_version: Literal["govcloud/v1"]
    kind: Literal["Service"]
    metadata: Metadata
    spec: Spec


def parse_manifest(data: Any, locate) -> Manifest:
    """Validate plain data as a manifest; `locate(path, key=False)` gives locations."""
    if not isinstance(data, dict):
        raise InputError([Problem("a manifest must be a mapping with apiVersion, kind, metadata and spec",
                                  location=locate(()), code="schema")])
    api = data.get("apiVersion")
    if api is not None and api != API_VERSION:
        raise InputError([Problem(f"unsupported apiVersion '{shorten(api)}'; this govcloud reads {API_VERSION}",
                                  "apiVersion", locate(("apiVersion",)), code="schema")])
    return validate_model(Manifest, data, locate)


def manifest_json_schema() -> dict:
    """The JSON Schema of what agencies write (`govcloud schema`, for editors and CI).

    A manifest with `spec.blueprint` is checked before its blueprint is merged in: any field of its spec
    may come from the blueprint (a server's size and image, a volume's sizeGb, ...), so there only the
    names of list items (what merging matches on) are required. The merged manifest is checked by the
    models themselves, with a located error for a field that neither the manifest nor the blueprint gives.
    """
    schema = Manifest.model_json_schema(by_alias=True, mode="validation")
    defs = schema["$defs"]
    parts = _reachable(defs, "Spec")
    for name in parts:
        part = _retarget(copy.deepcopy(defs[name]), parts)
        part["required"] = [r for r in part.get("required", []) if r == "name"]
        if not part["required"]:
            del part["required"]
        defs[name + _OVER_BLUEPRINT] = part
    defs["Spec" + _OVER_BLUEPRINT]["description"] = (
        "spec of a manifest with a blueprint: the blueprint may supply any field but the names of list items")
    schema["properties"]["spec"] = {
        "if": {"properties": {"blueprint": {"type": "string"}}, "required": ["blueprint"]},
        "then": {"$ref": f"#/$defs/Spec{_OVER_BLUEPRINT}"}, "else": {"$ref": "#/$defs/Spec"}}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://govcloud.gov.example/schema/manifest-v1.json"
    schema["title"] = "govcloud manifest v1 (kind: Service)"
    return schema


_OVER_BLUEPRINT = "OverBlueprint"


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        own = {ref.rsplit("/", 1)[-1]} if isinstance(ref, str) else set()
        return own.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _reachable(defs: dict, root: str) -> list[str]:
    """`root` and every definition it refers to, directly or not."""
    seen, todo = [], [root]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.append(name)
            todo += sorted(_refs(defs[name]))
    return seen


def _retarget(node: Any, names: list[str]) -> Any:
    """Point the $refs to `names` at their blueprint variants."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in names:
            node["$ref"] = ref + _OVER_BLUEPRINT
        for v in node.values():
            _retarget(v, names)
    elif isinstance(node, list):
        for v in node:
            _retarget(v, names)
    return node
