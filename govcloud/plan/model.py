"""The ResourcePlan: every OpenStack resource a service needs, as plain data.

It is the seam of the flow: the compiler writes it with no cloud and no
engine; the Pulumi program only turns each entry into a pulumi_openstack
resource; cost, policy and review all read it. Inputs use pulumi_openstack's
Python argument names. A value that comes from another resource is a
`Ref` (printed as {"$ref": key, "attr": "id"}); one that must be looked up
on the site by name is a `Lookup` ({"$lookup": "network", "name": "public"}).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Mapping


@dataclass(frozen=True, slots=True)
class Ref:
    resource: str  # key of another PlannedResource
    attr: str = "id"

    def to_json(self) -> dict:
        return {"$ref": self.resource, "attr": self.attr}


@dataclass(frozen=True, slots=True)
class Lookup:
    kind: str  # network | ...
    name: str

    def to_json(self) -> dict:
        return {"$lookup": self.kind, "name": self.name}


@dataclass(frozen=True, slots=True)
class PlannedResource:
    key: str  # unique logical name in the plan, also the Pulumi resource name
    type: str  # Pulumi type token, e.g. openstack:networking/network:Network
    name: str  # the OpenStack name: <agency>-<env>-<service>-<part>
    inputs: Mapping[str, Any]
    source: str  # manifest field that asked for it, e.g. spec.servers[0]
    stateful: bool = False  # holds data: deleting or replacing it loses data
    depends_on: tuple[str, ...] = ()  # ordering beyond the Refs in inputs
    meters: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))  # for cost: vcpu, ramGb, ...
    import_id: str | None = None  # adopt the existing cloud resource with this id instead of creating one

    @property
    def kind(self) -> str:
        """Short kind for people: 'Network', 'Instance', ..."""
        return self.type.rsplit(":", 1)[-1]

    def refs(self) -> set[str]:
        found: set[str] = set()
        _collect_refs(self.inputs, found)
        return found

    def to_json(self) -> dict:
        out = {"key": self.key, "type": self.type, "name": self.name, "source": self.source,
               "stateful": self.stateful, "inputs": to_plain(self.inputs)}
        if self.depends_on:
            out["dependsOn"] = list(self.depends_on)
        if self.meters:
            out["meters"] = {k: _num(v) for k, v in self.meters.items()}
        if self.import_id:
            out["importId"] = self.import_id
        return out


def _slot_setters(cls) -> tuple:
    """The slots' own setters of a frozen slotted dataclass, in field order: they write a field without
    the frozen __setattr__ (which is what makes the generated __init__ slow, one object.__setattr__ call
    per field)."""
    return tuple(cls.__dict__[f.name].__set__ for f in fields(cls))


_new = object.__new__
(_set_key, _set_type, _set_name, _set_inputs, _set_source, _set_stateful, _set_depends_on, _set_meters,
 _set_import_id) = _slot_setters(PlannedResource)


def planned_resource(key: str, type: str, name: str, inputs: Mapping[str, Any], source: str, stateful: bool,
                     depends_on: tuple[str, ...], meters: Mapping[str, Decimal]) -> PlannedResource:
    """PlannedResource(key, type, ...) for the compiler's loop, every field given (import_id None): the
    same frozen object in half the time. A directory of 1,000 manifests compiles 42,372 resources, and
    the generated __init__ took 0.12 s of them (benchmarks/README.md)."""
    r = _new(PlannedResource)
    _set_key(r, key)
    _set_type(r, type)
    _set_name(r, name)
    _set_inputs(r, inputs)
    _set_source(r, source)
    _set_stateful(r, stateful)
    _set_depends_on(r, depends_on)
    _set_meters(r, meters)
    _set_import_id(r, None)
    return r


PULUMI_PROJECT_PREFIX = "govcloud-"  # agency A's stacks are in Pulumi project govcloud-A


@dataclass(frozen=True, slots=True)
class ServiceRef:
    agency: str
    environment: str
    service: str
    site: str
    cloud: str  # clouds.yaml entry of the site
    region: str
    project: str  # the agency's OpenStack project

    @property
    def prefix(self) -> str:
        return f"{self.agency}-{self.environment}-{self.service}"

    @property
    def pulumi_project(self) -> str:
        return f"{PULUMI_PROJECT_PREFIX}{self.agency}"

    @property
    def stack(self) -> str:
        return f"{self.service}-{self.environment}"


@dataclass(frozen=True, slots=True)
class ResourcePlan:
    service: ServiceRef
    resources: tuple[PlannedResource, ...]
    tags: Mapping[str, str]  # what every resource is labelled with
    manifest_file: str = ""
    govcloud_version: str = ""

    def by_key(self) -> dict[str, PlannedResource]:
        return {r.key: r for r in self.resources}

    def get(self, key: str) -> PlannedResource:
        return self.by_key()[key]

    def stateful(self) -> list[PlannedResource]:
        return [r for r in self.resources if r.stateful]

    def to_json(self) -> dict:
        s = self.service
        return {
            "apiVersion": "govcloud/v1",
            "kind": "ResourcePlan",
            "service": {"agency": s.agency, "environment": s.environment, "name": s.service, "site": s.site,
                        "cloud": s.cloud, "region": s.region, "project": s.project,
                        "pulumiProject": s.pulumi_project, "stack": s.stack},
            "manifest": self.manifest_file,
            "govcloudVersion": self.govcloud_version,
            "tags": dict(self.tags),
            "resources": [r.to_json() for r in self.resources],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ResourcePlan":
        """The inverse of to_json (Refs and Lookups restored): how the engine child receives its plan."""
        s = data["service"]
        svc = ServiceRef(agency=s["agency"], environment=s["environment"], service=s["name"], site=s["site"],
                         cloud=s["cloud"], region=s["region"], project=s["project"])
        resources = tuple(
            PlannedResource(key=r["key"], type=r["type"], name=r["name"], inputs=_restore(r["inputs"]),
                            source=r.get("source", ""), stateful=bool(r.get("stateful")),
                            depends_on=tuple(r.get("dependsOn", ())),
                            meters=MappingProxyType({k: Decimal(str(v)) for k, v in r.get("meters", {}).items()}),
                            import_id=r.get("importId"))
            for r in data["resources"])
        return cls(service=svc, resources=resources, tags=MappingProxyType(dict(data.get("tags", {}))),
                   manifest_file=data.get("manifest", ""), govcloud_version=data.get("govcloudVersion", ""))


def to_plain(value: Any) -> Any:
    """Inputs as JSON-ready values (Refs and Lookups become small dicts)."""
    if isinstance(value, (Ref, Lookup)):
        return value.to_json()
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, Decimal):
        return _num(value)
    return value


def _restore(value: Any) -> Any:
    """JSON inputs back to plan values: {"$ref"...} -> Ref, {"$lookup"...} -> Lookup, mappings frozen."""
    if isinstance(value, Mapping):
        if set(value) == {"$ref", "attr"}:
            return Ref(value["$ref"], value["attr"])
        if set(value) == {"$lookup", "name"}:
            return Lookup(value["$lookup"], value["name"])
        return MappingProxyType({k: _restore(x) for k, x in value.items()})
    if isinstance(value, list):
        return [_restore(x) for x in value]
    return value


def _num(v: Decimal) -> int | float:
    return int(v) if v == v.to_integral_value() else float(v)


def _collect_refs(value: Any, found: set[str]) -> None:
    if isinstance(value, Ref):
        found.add(value.resource)
    elif isinstance(value, Mapping):
        for v in value.values():
            _collect_refs(v, found)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _collect_refs(v, found)
