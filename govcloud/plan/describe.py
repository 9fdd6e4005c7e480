"""A few words on what matters about a resource: `gc.small / ubuntu-22.04`, `tcp:22 from 10.0.0.0/8`.

`govcloud plan` shows them per planned resource, the review per change. The same words describe a
resource from either side of a deploy: from its plan entry (snake_case inputs, references as `Ref`s
and `Lookup`s) or from the inputs the engine's state holds for it (camelCase, references as cloud
ids). One formatter per kind reads the inputs by their plan names; each side only says how to read an
input and how to name a referenced resource.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from govcloud.plan.model import Lookup, PlannedResource, Ref
from govcloud.plan.resources import state_name

Get = Callable[[str], Any]  # plan input name -> value (None when not set)
Named = Callable[[Any], str]  # a reference (a Ref, or a cloud id) -> the resource it names

# kind -> (input, input, joiner): what a connecting resource connects
_LINKS = {
    "VolumeAttach": ("volume_id", "instance_id", " on "),
    "FloatingIpAssociate": ("floating_ip", "port_id", " to "),
    "RouterInterface": ("router_id", "subnet_id", " to "),
}
_GB = 1024 ** 3


def _text(kind: str, get: Get, named: Named, links: bool) -> str:
    link = _LINKS.get(kind) if links else None
    if link is not None:
        return f"{named(get(link[0]))}{link[2]}{named(get(link[1]))}"
    if kind == "Instance":
        return f"{_or(get('flavor_name'), '?')} / {_or(get('image_name'), '?')}"
    if kind == "Volume":
        return f"{_or(get('size'), '?')} GB {_or(get('volume_type'), '')}".strip()
    if kind == "Subnet":
        return str(_or(get("cidr"), ""))
    if kind == "SecGroupRule":
        if get("direction") == "egress":
            return f"egress {_or(get('ethertype'), '')} any".replace("  ", " ")
        lo, hi = get("port_range_min"), get("port_range_max")
        rng = "" if lo is None else (f":{lo}" if lo == hi else f":{lo}-{hi}")
        return f"{_or(get('protocol'), 'any')}{rng} from {_or(get('remote_ip_prefix'), 'any')}"
    if kind == "Container":
        meta = get("metadata")
        q = meta.get("Quota-Bytes") if isinstance(meta, Mapping) else None
        quota = f"{int(q) // _GB} GB quota, " if q not in (None, "") else ""
        return quota + ("public read" if get("container_read") else "private")
    if kind == "Router":
        gateway = get("external_network_id")  # the state holds only the network's id: nothing to say then
        return f"gateway {gateway.name}" if isinstance(gateway, Lookup) else ""
    if kind == "FloatingIp":
        return f"from {_or(get('pool'), '?')}"
    if kind == "ServerGroup":
        policies = get("policies")  # one policy in the plan, a list in the state
        return ", ".join(map(str, policies)) if isinstance(policies, (list, tuple)) else str(policies or "")
    return ""


def _or(value: Any, default: str) -> Any:
    return default if value is None else value


def describe(entry: PlannedResource, *, links: bool = False) -> str:
    """A planned resource in a few words; with `links`, a connecting resource names what it connects by key
    (`volume-web-1-data on server-web-1`)."""
    def named(v: Any) -> str:
        return v.resource if isinstance(v, Ref) else "?"

    link = _LINKS.get(entry.kind)
    # a connection between two planned resources; otherwise say what the entry is
    both_refs = link is not None and all(isinstance(entry.inputs.get(name), Ref) for name in link[:2])
    try:
        return _text(entry.kind, entry.inputs.get, named, links and both_refs)
    except (TypeError, ValueError):
        return ""


def describe_deployed(rtype: str, inputs: Mapping[str, Any] | None, ids: Mapping[str, str] | None = None) -> str:
    """A deployed resource in a few words, from the inputs the engine's state holds (provider names); `ids`
    names the cloud ids of other resources by key."""
    if not inputs:
        return ""

    def named(v: Any) -> str:
        if not isinstance(v, str) or not v:
            return "?"
        return (ids or {}).get(v) or (v[:8] + "…" if len(v) > 12 else v)

    try:
        return _text(rtype.rsplit(":", 1)[-1], lambda name: inputs.get(state_name(name)), named, links=True)
    except (TypeError, ValueError):
        return ""
