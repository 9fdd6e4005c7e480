"""The review of an infrastructure change: what a preview will do, why, what it costs and what it loses.

A `Review` is immutable data built by `build_review()` from four things:

- the compiled ResourcePlan (what the manifest asks for: names, manifest
  fields, the monthly cost *after* the change via govcloud.cost.estimate),
- the site (its sizes, to price the *old* flavor of a server, and its rate card),
- the engine's change records (govcloud.events: one ResourceChange per
  resource; secrets already `[secret]`, computed values "(known after
  deploy)"). Given the raw events too (an OperationResult whose event log is
  on disk, an events file, or the raw event dicts), the *before* cost comes
  from each resource's OLD inputs as the engine reports them (flavor, volume
  size, floating IP, bucket quota), so it is right even when the manifest
  changed,
- the policy findings (govcloud.errors.Problem; may be empty).

Per resource it says the operation (create / update / replace / delete;
`same` is kept but hidden by default), the changed fields old -> new, which
fields force a replacement, the monthly cost before, after and the
difference, and whether the change loses data. The whole review has a data
loss list, the policy findings, cautions and a one-line verdict.

Renderers: `render_text` (rich; colour only on a terminal and without
NO_COLOR), `render_markdown` (a merge-request comment: templates/review/
review.md.j2) and `to_json` (a stable schema, `schemaVersion` 1, documented
in docs/review.md and checked by REVIEW_JSON_SCHEMA).

The data-loss guard is a pure function, `data_loss(review_or_changes,
plan)`, and `guard_data_loss(...)` raises `DataLossError` (exit 1) unless
the user allowed it.
"""
from __future__ import annotations

import html
import json
import os
import re
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

from govcloud.engine import events as ev
from govcloud.plan.cost import HOURS_PER_MONTH, estimate, money
from govcloud.errors import GovcloudError, Problem
from govcloud.plan.model import Lookup, PlannedResource, Ref, ResourcePlan, ServiceRef

SCHEMA_VERSION = 1

INSTANCE = "openstack:compute/instance:Instance"
VOLUME = "openstack:blockstorage/volume:Volume"
CONTAINER = "openstack:objectstorage/container:Container"
FLOATING_IP = "openstack:networking/floatingIp:FloatingIp"
STATEFUL_TYPES = frozenset({VOLUME, CONTAINER})
IMAGE_FIELDS = ("imageName", "imageId")

# how the ops are counted in a verdict, and how resources are listed (most dangerous first)
VERDICT_ORDER = ("create", "update", "replace", "delete", "import", "discard")
LIST_ORDER = ("delete", "replace", "update", "create", "import", "discard", "read", "refresh", "unknown", "same")
HIDDEN_OPS = frozenset({"same", "read", "refresh"})
_VERB = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete",
         "import": "to import", "discard": "to forget", "read": "to read", "refresh": "to refresh",
         "unknown": "other", "same": "unchanged"}
_MARK = {"create": "+", "update": "~", "replace": "±", "delete": "-", "import": "=", "discard": "-",
         "same": " ", "read": ">", "refresh": "~", "unknown": "?"}
_NOISE_FIELDS = ("__defaults", "__meta")


# ---------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed property of a resource; values are scrubbed (secrets are `[secret]`)."""

    path: str  # the engine's property path (Pulumi names: flavorName, metadata["govcloud:size"])
    kind: str  # add | delete | update | add-replace | delete-replace | update-replace | changed
    old: Any = None
    new: Any = None
    forces_replacement: bool = False
    ids: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # cloud id -> resource key

    @property
    def old_text(self) -> str:
        return self.text(self.old) if self.kind not in ("add", "add-replace") else "(not set)"

    @property
    def new_text(self) -> str:
        return self.text(self.new) if self.kind not in ("delete", "delete-replace") else "(removed)"

    def text(self, value: Any, limit: int = 120) -> str:
        """A value for people, the cloud ids of resources in the change named (`224b54af… (server-group-web)`)."""
        return show(_label_ids(value, self.ids), limit)

    @property
    def computed(self) -> bool:
        """The new value is only known once deployed."""
        return _has_unknown(self.new)

    def to_json(self) -> dict:
        return {"path": self.path, "kind": self.kind, "old": _json_value(self.old), "new": _json_value(self.new),
                "oldText": self.old_text, "newText": self.new_text, "computed": self.computed,
                "forcesReplacement": self.forces_replacement}


@dataclass(frozen=True, slots=True)
class DataLoss:
    """A change that loses data: same fields as govcloud.engine.DataLossRisk (key, type, op, reason, describe)."""

    key: str
    type: str
    op: str
    reason: str
    name: str = ""  # the OpenStack name

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    def describe(self) -> str:
        what = f"{self.kind} {self.name}" if self.name else self.kind
        return f"{self.key} ({what}): {self.reason}"

    def to_json(self) -> dict:
        return {"key": self.key, "type": self.type, "kind": self.kind, "name": self.name, "op": self.op,
                "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ResourceReview:
    key: str
    urn: str
    type: str
    op: str  # create | update | replace | delete | same | import | discard | read | refresh | unknown
    engine_op: str = ""
    name: str = ""  # the OpenStack name
    source: str = ""  # manifest field that asks for it ("" when it is no longer in the manifest)
    summary: str = ""  # what it is, in a few words (after the change; before it for a delete)
    fields: tuple[FieldChange, ...] = ()
    replace_reasons: tuple[str, ...] = ()  # why a replacement happens, one line per forcing field
    delete_before_replace: bool = False
    monthly_before: Decimal | None = Decimal(0)  # None: cannot be priced (e.g. a flavor the site no longer has)
    monthly_after: Decimal | None = Decimal(0)
    data_loss: str = ""  # the reason, when the change loses data
    notes: tuple[str, ...] = ()
    protect: bool = False

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    @property
    def changing(self) -> bool:
        return self.op not in HIDDEN_OPS

    @property
    def replace_paths(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.fields if f.forces_replacement)

    @property
    def monthly_delta(self) -> Decimal | None:
        if self.monthly_before is None or self.monthly_after is None:
            return None
        return money(self.monthly_after) - money(self.monthly_before)

    def to_json(self) -> dict:
        return {
            "key": self.key, "urn": self.urn, "type": self.type, "kind": self.kind, "name": self.name,
            "op": self.op, "engineOp": self.engine_op, "source": self.source, "summary": self.summary,
            "fields": [f.to_json() for f in self.fields],
            "replaceReasons": list(self.replace_reasons), "deleteBeforeReplace": self.delete_before_replace,
            "cost": {"monthlyBefore": _int_money(self.monthly_before), "monthlyAfter": _int_money(self.monthly_after),
                     "monthlyDelta": None if self.monthly_delta is None else int(self.monthly_delta)},
            "dataLoss": self.data_loss or None, "notes": list(self.notes), "protected": self.protect,
        }


@dataclass(frozen=True)
class Review:
    stack: str  # project/stack
    service: ServiceRef
    manifest: str
    operation: str  # preview | destroy | up
    currency: str
    resources: tuple[ResourceReview, ...]
    data_loss: tuple[DataLoss, ...]
    cautions: tuple[str, ...] = ()
    findings: tuple[Problem, ...] = ()
    monthly_before: Decimal = Decimal(0)
    monthly_after: Decimal = Decimal(0)
    unpriced: tuple[str, ...] = ()  # keys whose old cost is unknown (the before total is then a lower bound)
    allow_data_loss: bool = False
    errors: tuple[str, ...] = ()  # engine errors of a failed preview the review was still built from

    # ---- derived

    @property
    def changes(self) -> tuple[ResourceReview, ...]:
        return tuple(r for r in self.resources if r.changing)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.resources:
            out[r.op] = out.get(r.op, 0) + 1
        return {op: out[op] for op in (*VERDICT_ORDER, "same", "read", "refresh", "unknown") if op in out}

    @property
    def monthly_delta(self) -> Decimal:
        return money(self.monthly_after) - money(self.monthly_before)

    @property
    def policy_errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.findings if p.severity == "error")

    @property
    def blockers(self) -> tuple[str, ...]:
        out = []
        if self.data_loss and not self.allow_data_loss:
            out.append("data-loss")
        if self.policy_errors:
            out.append("policy")
        if self.errors:
            out.append("engine")
        return tuple(out)

    @property
    def blocked(self) -> bool:
        return bool(self.blockers)

    def cost_text(self) -> str:
        d = self.monthly_delta
        approx = "at least " if self.unpriced and d < 0 else ""
        if d == 0 and not self.unpriced:
            return "cost unchanged"
        return f"cost {approx}{signed(d)} {self.currency}/month"

    @property
    def verdict(self) -> str:
        """One line: what changes, what it loses, what it costs, whether it may go ahead."""
        counts = self.counts()
        lost: dict[str, list[str]] = {}
        for d in self.data_loss:
            lost.setdefault(d.op, []).append(d.key)
        parts = []
        for op in VERDICT_ORDER:
            if counts.get(op):
                text = f"{counts[op]} {_VERB[op]}"
                if lost.get(op):
                    text += f" (DATA LOSS: {_few(lost[op])})"
                parts.append(text)
        head = ", ".join(parts) if parts else "no changes"
        tail = []
        if parts or self.monthly_delta:
            tail.append(self.cost_text())
        if self.errors:
            tail.append("preview failed")
        blocked = []
        if "data-loss" in self.blockers:
            blocked.append("needs --allow-data-loss")
        if "policy" in self.blockers:
            blocked.append("policy " + ", ".join(dict.fromkeys(p.code for p in self.policy_errors)))
        text = ", ".join([head, *tail])
        if blocked:
            text += "; blocked: " + ", ".join(blocked)
        elif self.data_loss:
            text += "; data loss allowed (--allow-data-loss)"
        return text

    def to_json(self, show_same: bool = False) -> dict:
        shown = [r for r in self.resources if show_same or r.changing]
        s = self.service
        return {
            "schemaVersion": SCHEMA_VERSION,
            "kind": "govcloud.Review",
            "operation": self.operation,
            "stack": self.stack,
            "manifest": self.manifest,
            "service": {"agency": s.agency, "environment": s.environment, "name": s.service, "site": s.site,
                        "project": s.project},
            "ok": not self.errors,
            "verdict": self.verdict,
            "blocked": self.blocked,
            "blockers": list(self.blockers),
            "counts": self.counts(),
            "cost": {"currency": self.currency, "monthlyBefore": int(money(self.monthly_before)),
                     "monthlyAfter": int(money(self.monthly_after)), "monthlyDelta": int(self.monthly_delta),
                     "complete": not self.unpriced, "unpriced": list(self.unpriced)},
            "dataLoss": [d.to_json() for d in self.data_loss],
            "allowDataLoss": self.allow_data_loss,
            "cautions": list(self.cautions),
            "policy": [p.to_dict() for p in self.findings],
            "errors": list(self.errors),
            "changes": [r.to_json() for r in shown],
        }


# ---------------------------------------------------------------- values


def show(value: Any, limit: int = 120) -> str:
    """A value for people: `(not set)`, `[secret]`, `(known after deploy)`, or compact JSON."""
    if value is None:
        return "(not set)"
    return ev.display(value, limit)


def _has_unknown(value: Any) -> bool:
    if value == ev.UNKNOWN_VALUE:
        return True
    if isinstance(value, Mapping):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, tuple):
        return any(_has_unknown(v) for v in value)
    return False


def _json_value(value: Any) -> Any:
    """Scrubbed value as JSON; computed values become the string "(known after deploy)"."""
    if value == ev.UNKNOWN_VALUE:
        return ev.UNKNOWN
    if isinstance(value, Mapping):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    return value


def _label_ids(value: Any, ids: Mapping[str, str]) -> Any:
    if not ids:
        return value
    if isinstance(value, str):
        key = ids.get(value)
        return f"{value[:8]}… ({key})" if key and len(value) > 12 else (f"{value} ({key})" if key else value)
    if isinstance(value, Mapping):
        return {k: _label_ids(v, ids) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_label_ids(v, ids) for v in value)
    return value


def _clean(value: Any) -> Any:
    """A scrubbed value without the engine's bookkeeping keys (`__defaults`, `__meta`)."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _clean(v) for k, v in value.items() if k not in _NOISE_FIELDS})
    if isinstance(value, tuple):
        return tuple(_clean(v) for v in value)
    return value


def _int_money(v: Decimal | None) -> int | None:
    return None if v is None else int(money(v))


def signed(d: Decimal) -> str:
    d = money(d)
    return f"+{d:,}" if d > 0 else (f"-{-d:,}" if d < 0 else "0")


def _few(keys: Sequence[str], n: int = 3) -> str:
    return ", ".join(keys) if len(keys) <= n else ", ".join(keys[:n]) + f" and {len(keys) - n} more"


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


# ---------------------------------------------------------------- reading the engine's changes


def load_events(source: str | os.PathLike[str]) -> list[Any]:
    """Raw engine events from a file: JSON lines (govcloud.engine's `*.events.jsonl`), a JSON list, or a
    fixture document {"events": [...]}. Unreadable lines are skipped (the parser never raises on them)."""
    text = Path(source).read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("[") or stripped.startswith("{\n") or (stripped.startswith("{") and "\n" not in
                                                                  stripped.strip()):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, list):
            return doc
        if isinstance(doc, dict):
            return list(doc["events"]) if isinstance(doc.get("events"), list) else [doc]
    return [line for line in text.splitlines() if line.strip()]


def events_file_of(result: Any) -> Path | None:
    """The raw events govcloud.engine.run_operation saved next to its log (`<log>.events.jsonl`), if any."""
    log_file = getattr(result, "log_file", None)
    if not log_file:
        return None
    path = Path(log_file).with_suffix(".events.jsonl")
    return path if path.is_file() else None


@dataclass(frozen=True)
class _Changes:
    changes: tuple[ev.ResourceChange, ...]
    old_inputs: Mapping[str, Mapping[str, Any]] | None  # urn -> scrubbed old inputs (None: raw events unknown)
    errors: tuple[str, ...] = ()
    protected: tuple[str, ...] = ()  # keys the engine refused to delete or replace: protected in the state


def _old_inputs(raw_events: Iterable[Any]) -> dict[str, Mapping[str, Any]]:
    """urn -> the OLD inputs the engine reported for it (scrubbed), from the first step event that has them."""
    out: dict[str, Mapping[str, Any]] = {}
    for raw in raw_events:
        if isinstance(raw, (str, bytes)):
            try:
                raw = json.loads(raw)
            except ValueError:
                continue
        if not isinstance(raw, Mapping):
            continue
        for name in ("resourcePreEvent", "resOutputsEvent"):
            payload = raw.get(name)
            md = payload.get("metadata") if isinstance(payload, Mapping) else None
            if not isinstance(md, Mapping):
                continue
            urn = md.get("urn")
            old = md.get("old")
            if isinstance(urn, str) and urn not in out and isinstance(old, Mapping) and isinstance(
                    old.get("inputs"), Mapping):
                out[urn] = ev.scrub(old["inputs"])
    return out


def _collect(source: Any) -> _Changes:
    """Accepts an OperationResult (its saved raw events when on disk), an EventLog, an events file path,
    raw events, or ResourceChanges."""
    if isinstance(source, (str, os.PathLike)):
        return _collect(load_events(source))
    if isinstance(source, ev.EventLog):
        return _Changes(source.changes(), None, _errors_of(source, source.error_messages()),
                        tuple(protected_deletes(source)))
    if hasattr(source, "changes") and not isinstance(source, (list, tuple)):
        path = events_file_of(source)
        if path is not None:
            got = _collect(load_events(path))
            return _Changes(got.changes, got.old_inputs, got.errors,
                            tuple(dict.fromkeys((*got.protected, *protected_deletes(source)))))
        errors = () if getattr(source, "ok", True) else tuple((getattr(source, "error", "") or "").splitlines())
        return _Changes(tuple(source.changes), None, _errors_of(source, errors), tuple(protected_deletes(source)))
    items = list(source)
    if all(isinstance(i, ev.ResourceChange) for i in items):
        return _Changes(tuple(items), None)
    log = ev.EventLog().extend(items)
    return _Changes(log.changes(), _old_inputs(items), _errors_of(log, log.error_messages()),
                    tuple(protected_deletes(log)))


def _errors_of(source: Any, messages: Iterable[str]) -> tuple[str, ...]:
    """Engine errors worth showing: none when the only ones refuse to delete protected resources (the
    review's data-loss list names those)."""
    return () if only_protection_errors(source) else tuple(messages)


def destroy_changes(deployment: Mapping[str, Any] | None) -> list[dict]:
    """A stack export (`pulumi stack export`, engine.PulumiCli.export()) as the raw delete events a destroy
    would emit, so that a destroy is reviewed (and guarded) like any other change."""
    resources = ((deployment or {}).get("deployment") or {}).get("resources") or []
    out = []
    for i, r in enumerate(resources):
        if not isinstance(r, Mapping) or str(r.get("type", "")).startswith("pulumi:") or r.get("delete"):
            continue
        out.append({"sequence": i + 1, "resourcePreEvent": {"metadata": {
            "op": "delete", "urn": r.get("urn", ""), "type": r.get("type", ""), "old": dict(r), "new": None,
            "detailedDiff": None}, "planning": True}})
    return out


# ---------------------------------------------------------------- pricing the old state


def _find_size(site: Any, flavor: Any):
    for size in (getattr(site, "sizes", None) or {}).values():
        if size.flavor == flavor:
            return size
    return None


def price_old(rtype: str, inputs: Mapping[str, Any] | None, site: Any) -> Decimal | None:
    """Monthly price of a deployed resource from its OLD inputs (Pulumi names), at the site's rate card.

    Same meters as govcloud.cost.estimate: a server's flavor (via the site's sizes), a volume's size, a
    floating IP, a bucket's quota (`Quota-Bytes`). None when it cannot be priced (a flavor the site does
    not list, missing inputs).
    """
    rates = site.rate_card
    if rtype == INSTANCE:
        if inputs is None:
            return None
        size = _find_size(site, inputs.get("flavorName"))
        if size is None:
            return None
        return (Decimal(size.vcpus) * rates.vcpu_hour + Decimal(size.ram_mb) / 1024 * rates.ram_gb_hour) \
            * HOURS_PER_MONTH
    if rtype == VOLUME:
        if inputs is None:
            return None
        sz = inputs.get("size")
        if isinstance(sz, bool) or not isinstance(sz, (int, float)):
            return None
        return Decimal(str(sz)) * rates.volume_gb_month
    if rtype == FLOATING_IP:
        return HOURS_PER_MONTH * rates.floating_ip_hour
    if rtype == CONTAINER:
        if inputs is None:
            return None
        meta = inputs.get("metadata")
        quota = meta.get("Quota-Bytes") if isinstance(meta, Mapping) else None
        if quota in (None, ""):
            return Decimal(0)
        try:
            return Decimal(str(quota)) / 1024 ** 3 * rates.bucket_gb_month
        except ArithmeticError:
            return None
    return Decimal(0)


def _fallback_old_inputs(change: ev.ResourceChange, entry: PlannedResource | None) -> Mapping[str, Any] | None:
    """Old inputs without the raw events: the plan's inputs (what did not change is as deployed) with the
    old values of the changed fields laid over them. None for a resource the plan no longer has."""
    if entry is None:
        return None
    old: dict[str, Any] = {_camel(k): _plainish(v) for k, v in entry.inputs.items()}
    for p in change.properties:
        parts = ev.split_path(p.path)
        if not parts or not isinstance(parts[0], str):
            continue
        if len(parts) == 1:
            old[parts[0]] = p.old
        elif len(parts) == 2 and isinstance(parts[1], str) and isinstance(old.get(parts[0]), Mapping):
            old[parts[0]] = {**old[parts[0]], parts[1]: p.old}
    return old


def _plainish(v: Any) -> Any:
    if isinstance(v, (Ref, Lookup)):
        return ev.UNKNOWN_VALUE
    if isinstance(v, Mapping):
        return {k: _plainish(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return tuple(_plainish(x) for x in v)
    return v


# ---------------------------------------------------------------- describing resources


def _describe_old(rtype: str, i: Mapping[str, Any] | None, ids: Mapping[str, str] | None = None) -> str:
    """A few words on a deployed resource from its (Pulumi-named) inputs; `ids` names cloud ids by key."""
    if not i:
        return ""
    kind = rtype.rsplit(":", 1)[-1]

    def named(v: Any) -> str:
        if not isinstance(v, str) or not v:
            return "?"
        return (ids or {}).get(v) or (v[:8] + "…" if len(v) > 12 else v)

    try:
        if kind == "VolumeAttach":
            return f"{named(i.get('volumeId'))} on {named(i.get('instanceId'))}"
        if kind == "FloatingIpAssociate":
            return f"{named(i.get('floatingIp'))} to {named(i.get('portId'))}"
        if kind == "RouterInterface":
            return f"{named(i.get('routerId'))} to {named(i.get('subnetId'))}"
        if kind == "Instance":
            return f"{i.get('flavorName', '?')} / {i.get('imageName', '?')}"
        if kind == "Volume":
            return f"{i.get('size', '?')} GB {i.get('volumeType', '')}".strip()
        if kind == "Subnet":
            return str(i.get("cidr", ""))
        if kind == "SecGroupRule":
            if i.get("direction") == "egress":
                return f"egress {i.get('ethertype', '')} any".replace("  ", " ")
            lo, hi = i.get("portRangeMin"), i.get("portRangeMax")
            rng = "" if lo is None else (f":{lo}" if lo == hi else f":{lo}-{hi}")
            return f"{i.get('protocol', 'any')}{rng} from {i.get('remoteIpPrefix', 'any')}"
        if kind == "Container":
            meta = i.get("metadata") or {}
            q = meta.get("Quota-Bytes") if isinstance(meta, Mapping) else None
            quota = f"{int(q) // 1024 ** 3} GB quota, " if q not in (None, "") else ""
            return quota + ("public read" if i.get("containerRead") else "private")
        if kind == "FloatingIp":
            return f"from {i.get('pool', '?')}"
        if kind == "ServerGroup":
            pol = i.get("policies")
            return ", ".join(pol) if isinstance(pol, tuple) else str(pol or "")
    except (TypeError, ValueError):
        return ""
    return ""


_LINKS = {  # kind -> (input, input, joiner): what a connecting resource connects
    "VolumeAttach": ("volume_id", "instance_id", " on "),
    "FloatingIpAssociate": ("floating_ip", "port_id", " to "),
    "RouterInterface": ("router_id", "subnet_id", " to "),
}


def _describe_entry(entry: PlannedResource) -> str:
    from govcloud.cli.render import describe

    link = _LINKS.get(entry.kind)
    if link is not None:
        a, b = entry.inputs.get(link[0]), entry.inputs.get(link[1])
        if isinstance(a, Ref) and isinstance(b, Ref):
            return f"{a.resource}{link[2]}{b.resource}"
    try:
        return describe(entry)
    except (KeyError, TypeError, AttributeError, ValueError):
        return ""


# ---------------------------------------------------------------- data loss


def _image_change(fields: Iterable[Any]) -> Any:
    for f in fields:
        path = getattr(f, "path", f)
        if ev.split_path(path)[0] in IMAGE_FIELDS:
            return f
    return None


def _loss_reason(change: ev.ResourceChange, entry: PlannedResource | None, name: str = "",
                 summary: str = "", protected: Iterable[str] = (), forced_by: str = "") -> str:
    """Why a change loses data ("" when it does not)."""
    stateful = change.type in STATEFUL_TYPES or (entry is not None and entry.stateful) or (
        change.op in ("delete", "replace") and (change.protect or change.key in protected))
    size = f" ({summary})" if summary else ""
    if stateful and change.op == "delete":
        if change.type == CONTAINER:
            return f"deleted with the objects in it{size}"
        return f"deleted with the data on it{size}"
    if stateful and change.op == "replace":
        forced = [p.path for p in change.properties if p.replaces] or list(change.replace_keys)
        by = f" ({forced_by})" if forced_by else f" (forced by {', '.join(forced)})" if forced else ""
        empty = "an empty container" if change.type == CONTAINER else "a new, empty one"
        return f"replaced by {empty}{by}: its data is lost{size}"
    if change.type == INSTANCE and change.op in ("update", "replace"):
        img = _image_change(change.properties) or _image_change(change.changed)
        if img is not None:
            new = getattr(img, "new", None)
            to = f" on image {show(new)}" if new is not None else " on a new image"
            return f"rebuilt{to}: its root disk is erased"
    return ""


def data_loss(review_or_changes: Any, plan: ResourcePlan | None = None) -> list[DataLoss]:
    """The changes that lose data (pure; no I/O).

    Deleting or replacing a stateful resource (a Volume, a Container, a plan entry with stateful=True, or a
    deleted resource the state protects), and rebuilding a server on a new image (its root disk). Accepts a
    Review (its data-loss list) or change records (anything build_review accepts but a result on disk:
    ResourceChanges, an EventLog, raw events).
    """
    if isinstance(review_or_changes, Review):
        return list(review_or_changes.data_loss)
    if isinstance(review_or_changes, ev.EventLog):
        changes = review_or_changes.changes()
        protected = tuple(protected_deletes(review_or_changes))
    elif hasattr(review_or_changes, "changes") and not isinstance(review_or_changes, (list, tuple)):
        changes = tuple(review_or_changes.changes)  # an OperationResult: its records, no file read
        protected = tuple(protected_deletes(review_or_changes))
    else:
        got = _collect(review_or_changes)
        changes, protected = got.changes, got.protected
    by_key = plan.by_key() if plan is not None else {}
    out = []
    for c in changes:
        if c.internal:
            continue
        entry = by_key.get(c.key)
        reason = _loss_reason(c, entry, protected=protected)
        if reason:
            out.append(DataLoss(c.key, c.type, c.op, reason,
                                entry.name if entry is not None and "name" in entry.inputs else ""))
    return out


class DataLossError(GovcloudError):
    """The change loses data and --allow-data-loss was not given (exit 1)."""

    exit_code = 1

    def __init__(self, losses: Sequence[DataLoss], action: str = "deploy"):
        self.losses = tuple(losses)
        self.action = action
        lines = [f"refusing to {action}: these changes lose data:"]
        lines += [f"  {d.describe()}" for d in self.losses]
        lines.append("pass --allow-data-loss to apply them anyway (take a backup first)")
        super().__init__("\n".join(lines))


def guard_data_loss(review_or_changes: Any, plan: ResourcePlan | None = None, *, allow: bool = False,
                    action: str = "deploy") -> list[DataLoss]:
    """The data-loss list; raises DataLossError when it is not empty and not allowed."""
    losses = data_loss(review_or_changes, plan)
    if losses and not allow:
        raise DataLossError(losses, action)
    return losses


_PROTECTED = re.compile(r"cannot be deleted\s+because it is protected|because it is protected|"
                        r"currently marked for protection")
_GENERIC_FAILED = re.compile(r"\s*(preview|update|destroy) failed\s*", re.I)


def protected_deletes(result_or_log: Any) -> list[str]:
    """Keys of the resources a failed preview refused to delete or replace because the state protects them.

    The engine fails a preview that would delete a protected resource (a volume or bucket no longer in
    the manifest), yet its events hold the whole change. Uses the engine's own answer when it has one
    (OperationResult.protected, EventLog.protection_blocked()), else reads the error diagnostics.
    """
    if isinstance(getattr(result_or_log, "protected", None), (tuple, list)):
        return list(result_or_log.protected)
    if callable(getattr(result_or_log, "protection_blocked", None)):
        return list(result_or_log.protection_blocked())
    keys: list[str] = []
    for d in getattr(result_or_log, "diagnostics", ()) or ():
        if getattr(d, "severity", "") == "error" and _PROTECTED.search(getattr(d, "message", "") or ""):
            if d.key and d.key not in keys:
                keys.append(d.key)
    return keys


def only_protection_errors(result_or_log: Any) -> bool:
    """A failed preview whose only errors refuse to touch protected resources: a review can still be built
    from it (its data-loss list names them). Uses OperationResult.blocked_only_by_protection when given."""
    flag = getattr(result_or_log, "blocked_only_by_protection", None)
    if isinstance(flag, bool):
        return flag
    if callable(getattr(result_or_log, "other_errors", None)) and callable(
            getattr(result_or_log, "protection_blocked", None)):
        return bool(result_or_log.protection_blocked()) and not result_or_log.other_errors()
    diags = [d for d in getattr(result_or_log, "diagnostics", ()) or () if getattr(d, "severity", "") == "error"]
    if not diags:
        return False
    msgs = [d.message or "" for d in diags]
    return any(_PROTECTED.search(m) for m in msgs) and all(
        _PROTECTED.search(m) or _GENERIC_FAILED.fullmatch(m) for m in msgs)


# ---------------------------------------------------------------- building a review


def build_review(plan: ResourcePlan, site: Any, changes: Any, findings: Iterable[Problem] = (), *,
                 allow_data_loss: bool = False, user_data_drift: Iterable[str] = (), operation: str = "preview",
                 stack: str | None = None, notes: Mapping[str, Sequence[str]] | None = None,
                 errors: Sequence[str] | None = None, forced: Mapping[str, str] | None = None) -> Review:
    """The review of a change.

    plan      the compiled ResourcePlan (after the change)
    site      the plan's Site (govcloud.inventory): sizes and rate card
    changes   the preview: an engine OperationResult (its raw events are read from its saved event log
              when present, for the old inputs), an EventLog, an events file, raw events, or ResourceChanges
    findings  policy findings (Problems) to show; errors among them block the change
    user_data_drift  keys of servers whose user data changed but is not applied (engine.user_data_drift)
    errors    engine errors to show (default: those of a failed preview given as `changes`)
    forced    key -> why govcloud asked the engine to replace it (engine.volume_shrinks)
    """
    got = _collect(changes)
    by_key = plan.by_key()
    order = {r.key: i for i, r in enumerate(plan.resources)}
    after_cost = estimate(plan, site.rate_card)
    after_by_key = after_cost.by_resource()
    drift = set(user_data_drift)
    extra_notes = {k: tuple(v) for k, v in (notes or {}).items()}
    replaced_or_new = {c.key for c in got.changes if c.op in ("replace", "create")}
    ids = MappingProxyType({c.id: c.key for c in got.changes if c.id and not c.internal and len(c.id) >= 8})

    reviewed: list[ResourceReview] = []
    losses: list[DataLoss] = []
    cautions: list[str] = []
    unpriced: list[str] = []
    seen: set[str] = set()
    for c in got.changes:
        if c.internal or c.key in seen:
            continue
        seen.add(c.key)
        entry = by_key.get(c.key) if c.op != "delete" else None
        raw_old = got.old_inputs.get(c.urn) if got.old_inputs is not None else None
        old_inputs = raw_old if raw_old is not None else (
            _fallback_old_inputs(c, by_key.get(c.key)) if c.op != "create" else None)

        # cost
        if c.op == "create":
            before: Decimal | None = Decimal(0)
        else:
            before = price_old(c.type, old_inputs, site)
            if before is None and c.op == "same" and entry is not None:
                before = after_by_key.get(c.key, Decimal(0))  # unchanged: as the plan prices it
            if before is None:
                unpriced.append(c.key)
        after = Decimal(0) if c.op == "delete" or entry is None else after_by_key.get(c.key, Decimal(0))

        # what it is
        if entry is not None:
            name = entry.name if "name" in entry.inputs else ""
            source, summary = entry.source, _describe_entry(entry)
        else:
            name = str((old_inputs or {}).get("name") or "") if isinstance((old_inputs or {}).get("name"), str) \
                else ""
            source, summary = "", _describe_old(c.type, old_inputs, ids)

        fields = tuple(FieldChange(p.path, p.kind, _clean(p.old), _clean(p.new),
                                   p.replaces or p.path in c.replace_keys, ids)
                       for p in c.properties if ev.split_path(p.path)[0] not in _NOISE_FIELDS)
        reasons: list[str] = []
        if c.op == "replace" and c.key in (forced or {}):
            reasons.append(forced[c.key])
        elif c.op == "replace":
            forcing = [f for f in fields if f.forces_replacement] or [
                FieldChange(k, "update-replace", forces_replacement=True) for k in c.replace_keys]
            reasons.extend(_why(forcing, entry, replaced_or_new))
            if not reasons:
                reasons.append("the provider replaces it (it gave no field)")
        dbr = c.op == "replace" and c.raw_op == "delete-replaced"

        rnotes: list[str] = []
        if c.op == "delete":
            rnotes.append("no longer in the manifest")
        if dbr:
            rnotes.append("deleted before its replacement is created: briefly absent")
        if c.key in drift:
            rnotes.append(f"user data changed in the manifest: not applied to this existing server "
                          f"(deploy --replace {c.key} rebuilds it)")
        rnotes.extend(extra_notes.get(c.key, ()))

        reason = _loss_reason(c, entry or by_key.get(c.key), name, _loss_size(c.type, old_inputs), got.protected,
                              (forced or {}).get(c.key, ""))
        if reason:
            losses.append(DataLoss(c.key, c.type, c.op, reason, name))
        elif c.type == INSTANCE and c.op == "replace":
            cautions.append(f"{c.key} is recreated: the new server boots from a fresh root disk (its volumes "
                            f"are attached again)")
        reviewed.append(ResourceReview(
            key=c.key, urn=c.urn, type=c.type, op=c.op, engine_op=c.raw_op, name=name, source=source,
            summary=summary, fields=fields, replace_reasons=tuple(reasons), delete_before_replace=dbr,
            monthly_before=before, monthly_after=after, data_loss=reason, notes=tuple(rnotes),
            protect=c.protect))

    # plan entries the engine did not report (a partial log): unchanged as far as the review can tell;
    # a destroy reviews what the state holds, whatever the manifest says now
    missing_before = Decimal(0) if operation == "destroy" else sum(
        (after_by_key.get(k, Decimal(0)) for k in by_key if k not in seen), Decimal(0))
    rank = {op: i for i, op in enumerate(LIST_ORDER)}
    reviewed.sort(key=lambda r: (rank.get(r.op, len(rank)), order.get(r.key, len(order)), r.key))
    before_total = sum((r.monthly_before for r in reviewed if r.monthly_before is not None), Decimal(0)) \
        + missing_before
    s = plan.service
    return Review(
        stack=stack or f"{s.pulumi_project}/{s.stack}", service=s, manifest=plan.manifest_file,
        operation=operation, currency=after_cost.currency, resources=tuple(reviewed),
        data_loss=tuple(sorted(losses, key=lambda d: (rank.get(d.op, 99), d.key))), cautions=tuple(cautions),
        findings=tuple(findings), monthly_before=before_total,
        monthly_after=Decimal(0) if operation == "destroy" else after_cost.total,
        unpriced=tuple(unpriced), allow_data_loss=allow_data_loss,
        errors=tuple(errors) if errors is not None else got.errors)


def _loss_size(rtype: str, old_inputs: Mapping[str, Any] | None) -> str:
    if not old_inputs:
        return ""
    if rtype == VOLUME and old_inputs.get("size") is not None:
        return f"{old_inputs.get('size')} GB"
    if rtype == CONTAINER:
        meta = old_inputs.get("metadata")
        q = meta.get("Quota-Bytes") if isinstance(meta, Mapping) else None
        if q not in (None, ""):
            try:
                return f"quota {int(q) // 1024 ** 3} GB"
            except (TypeError, ValueError):
                return ""
    return ""


def _why(forcing: Sequence[FieldChange], entry: PlannedResource | None, replaced_or_new: set[str]) -> list[str]:
    """Why a resource is replaced: the fields that force it, and which replaced resource a computed id follows."""
    plain: list[str] = []
    out: list[str] = []
    for f in forcing:
        top = ev.split_path(f.path)[0]
        ref = entry.inputs.get(_snake(top)) if entry is not None and isinstance(top, str) else None
        if isinstance(ref, Ref) and (f.computed or f.new is None):
            how = "is replaced" if ref.resource in replaced_or_new else "gets a new id"
            out.append(f"{f.path} follows {ref.resource}, which {how}")
        elif f.kind.startswith("delete"):
            plain.append(f"{f.path} removed (was {f.old_text})")
        elif f.kind.startswith("add"):
            plain.append(f"{f.path} added ({f.new_text})")
        elif f.old is None and f.new is None:
            plain.append(f.path)
        else:
            plain.append(f"{f.path} {f.old_text} -> {f.new_text}")
    if plain:
        joined = plain[0] if len(plain) == 1 else ", ".join(plain[:-1]) + " and " + plain[-1]
        out.insert(0, f"{joined}: cannot change in place")
    return out


# ---------------------------------------------------------------- text


_STYLE = {"create": "green", "update": "yellow", "replace": "magenta", "delete": "red", "import": "cyan",
          "discard": "red", "same": "dim", "read": "dim", "refresh": "dim", "unknown": "dim"}


def _want_color(stream: Any) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def render_text(review: Review, *, color: bool = False, width: int = 120, show_same: bool = False,
                limit: int = 60) -> str:
    """The review for a terminal: colour only when `color` (print_review decides: tty and no NO_COLOR)."""
    from io import StringIO

    from rich.console import Console
    from rich.text import Text

    buf = StringIO()
    con = Console(file=buf, force_terminal=color, no_color=not color, color_system="standard" if color else None,
                  width=width, highlight=False, soft_wrap=True, emoji=False, markup=False)
    s = review.service
    head = Text(f"Review of {review.stack}", style="bold")
    head.append(f" ({review.operation}: project {s.project} at {s.site}"
                + (f", {review.manifest}" if review.manifest else "") + ")", style="")
    con.print(head)
    rows = [r for r in review.resources if show_same or r.changing]
    if not rows:
        con.print("  no changes")
    kw = max([len(r.key) for r in rows] + [8])
    kk = max([len(r.kind) for r in rows] + [4])
    cur = review.currency
    for r in rows:
        st = _STYLE.get(r.op, "")
        line = Text("  ")
        line.append(f"{_MARK.get(r.op, '?')} {r.op:<8}", style=st + " bold" if st else "bold")
        line.append(f" {r.key:<{kw}}  {r.kind:<{kk}}  ")
        line.append(r.summary or r.name, style="dim" if not r.summary else "")
        d = r.monthly_delta
        if d is None:
            line.append(f"   {cur} ? (unpriced)", style="yellow")
        elif d != 0:
            line.append(f"   {signed(d)} {cur}/month", style="red" if d > 0 else "green")
        if r.data_loss:
            line.append("   DATA LOSS", style="bold red")
        line.rstrip()
        con.print(line)
        for why in r.replace_reasons:
            con.print(Text(f"        why replaced: {why}", style="magenta"))
        if r.op in ("update", "replace"):
            pw = max([len(f.path) for f in r.fields] + [4])
            for f in r.fields:
                t = Text(f"        {f.path:<{pw}}  ")
                t.append(f.text(f.old, limit) if f.kind not in ("add", "add-replace") else "(not set)",
                         style="red")
                t.append(" -> ")
                t.append(f.text(f.new, limit) if f.kind not in ("delete", "delete-replace") else "(removed)",
                         style="green")
                if f.forces_replacement:
                    t.append("  (forces replacement)", style="magenta")
                con.print(t)
        if r.data_loss:
            con.print(Text(f"        data loss: {r.data_loss}", style="bold red"))
        for n in r.notes:
            if n != "no longer in the manifest" or r.op != "delete":
                con.print(Text(f"        note: {n}", style="dim"))
    hidden = sum(1 for r in review.resources if not r.changing)
    if hidden and not show_same:
        con.print(Text(f"  ({hidden} unchanged, not shown)", style="dim"))
    if review.data_loss:
        con.print()
        title = "Data loss (allowed by --allow-data-loss):" if review.allow_data_loss else \
            "Data loss (blocked: pass --allow-data-loss to apply, after a backup):"
        con.print(Text(title, style="bold red"))
        for d in review.data_loss:
            con.print(Text(f"  ✗ {d.describe()}", style="red"))
    if review.cautions:
        con.print()
        con.print(Text("Cautions:", style="bold yellow"))
        for c in review.cautions:
            con.print(Text(f"  ! {c}", style="yellow"))
    if review.findings:
        con.print()
        con.print(Text("Policy findings:", style="bold"))
        for p in review.findings:
            con.print(Text(f"  {p.format()}", style="red" if p.severity == "error" else "yellow"))
    if review.errors:
        con.print()
        con.print(Text("Engine errors:", style="bold red"))
        for e in review.errors:
            con.print(Text(f"  {e}", style="red"))
    con.print()
    cost = Text(f"Monthly cost ({cur}): {money(review.monthly_before):,} -> {money(review.monthly_after):,} (")
    d = review.monthly_delta
    cost.append(signed(d), style="red" if d > 0 else ("green" if d < 0 else ""))
    cost.append(")")
    if review.unpriced:
        cost.append(f"; before leaves out {', '.join(review.unpriced)} (cannot be priced)", style="yellow")
    con.print(cost)
    v = Text("Verdict: ", style="bold")
    v.append(review.verdict, style="bold red" if review.blocked else "bold")
    con.print(v)
    return buf.getvalue()


def print_review(review: Review, stream: Any = None, *, show_same: bool = False) -> None:
    """The text review on stdout (or `stream`): colour on a terminal, none when piped or NO_COLOR is set."""
    stream = stream or sys.stdout
    color = _want_color(stream)
    width = 120
    if color:
        import shutil

        width = shutil.get_terminal_size((120, 40)).columns
    stream.write(render_text(review, color=color, width=width, show_same=show_same))
    stream.flush()


# ---------------------------------------------------------------- markdown


MARKDOWN_LIMIT = 60000  # GitHub refuses comments over 65,536 characters


def md_escape(text: Any) -> str:
    """Text safe in a markdown table cell or paragraph: no markup, no HTML, no cell breaks."""
    s = str(text)
    s = s.replace("\\", "\\\\")
    for ch in "`*_[]#~|":
        s = s.replace(ch, "\\" + ch)
    s = s.replace("<", "&lt;")
    if s.startswith(">"):
        s = "\\" + s
    return s.replace("\r", " ").replace("\n", " ")


def md_code(text: Any) -> str:
    """An inline code span (table-safe: pipes escaped, backticks fenced)."""
    s = str(text).replace("\r", " ").replace("\n", "\\n")
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (run + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return f"{fence}{pad}{s.replace('|', chr(92) + '|')}{pad}{fence}"


def md_fence(text: str, lang: str = "") -> str:
    """A fenced code block that its content cannot close."""
    run = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (run + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def _diff_lines(r: ResourceReview, limit: int = 200) -> list[str]:
    lines = []
    for f in r.fields:
        mark = "  (forces replacement)" if f.forces_replacement else ""
        if f.kind not in ("add", "add-replace"):
            lines.append(f"- {f.path}: {f.text(f.old, limit)}")
        if f.kind not in ("delete", "delete-replace"):
            lines.append(f"+ {f.path}: {f.text(f.new, limit)}{mark}")
        elif mark:
            lines[-1] += mark
    return lines


def render_markdown(review: Review, *, config: Any = None, show_same: bool = False,
                    max_chars: int = MARKDOWN_LIMIT, fold_over: int = 8) -> str:
    """The review as a merge-request comment (GitLab / GitHub flavoured markdown).

    Rendered from templates/review/review.md.j2 (a config repo may override it). Field diffs longer
    than `fold_over` lines fold into <details>; when the whole comment would exceed `max_chars`, the
    field diffs are left out (the summary table, data loss and verdict always stay).
    """
    from govcloud.config import ConfigRepo

    config = config if config is not None else ConfigRepo(None)
    text = _render_md(review, config, show_same, fold_over, with_fields=True)
    if len(text) > max_chars:
        text = _render_md(review, config, show_same, fold_over, with_fields=False)
    if len(text) > max_chars:
        cut = text[: max_chars - 200].rsplit("\n", 1)[0]
        text = cut + "\n\n*(review truncated: see the JSON review for every resource)*\n"
    return text


def _render_md(review: Review, config: Any, show_same: bool, fold_over: int, with_fields: bool,
               fold_total: int = 40) -> str:
    from govcloud.plan.userdata import template_environment

    env = template_environment(config)
    env_filters = {"md": md_escape, "code": md_code, "fence": md_fence, "h": html.escape}
    template = env.get_template("review/review.md.j2")
    cur = review.currency
    rows = []
    for r in review.resources:
        if not (show_same or r.changing):
            continue
        d = r.monthly_delta
        if r.op in ("update", "replace") and r.fields:
            shown = sorted(r.fields, key=lambda f: not f.forces_replacement)[:2]
            firsts = [f"{md_code(f.path)} {md_code(f.old_text)} → {md_code(f.new_text)}" for f in shown]
            more = f" and {len(r.fields) - 2} more" if len(r.fields) > 2 else ""
            what = "<br>".join(firsts) + more
            if r.op == "replace":
                what = "**replaced:** " + what
        elif r.op == "replace":
            what = "**replaced** " + md_escape("; ".join(r.replace_reasons))
        else:
            what = md_escape(r.summary or r.name)
        if r.data_loss:
            what = (what + "<br>" if what else "") + "**data loss:** " + md_escape(r.data_loss)
        rows.append({
            "op": r.op, "mark": _MARK.get(r.op, "?"), "key": md_code(r.key), "kind": md_escape(r.kind),
            "name": md_escape(r.name), "what": what,
            "delta": "?" if d is None else ("" if d == 0 else signed(d)),
            "loss": bool(r.data_loss),
        })
    details = []
    if with_fields:
        for r in review.resources:
            if not (show_same or r.changing):
                continue
            lines = _diff_lines(r)
            extra = [f"why replaced: {w}" for w in r.replace_reasons] + [
                f"note: {n}" for n in r.notes if not (r.op == "delete" and n == "no longer in the manifest")]
            if not lines and not extra:
                continue
            title = f"{r.key} ({r.kind}{' ' + r.name if r.name else ''}): {r.op}"
            details.append({"title": title, "title_md": f"{md_code(r.key)} ({md_escape(r.kind)}): **{r.op}**",
                            "diff": md_fence("\n".join(lines), "diff") if lines else "",
                            "extra": [md_escape(x) for x in extra], "lines": len(lines),
                            "fold": len(lines) > fold_over, "source": md_code(r.source) if r.source else ""})
    hidden = [r for r in review.resources if not r.changing]
    counts = review.counts()
    ctx = {
        "r": review, "rows": rows, "details": details, "with_fields": with_fields,
        "marker": re.sub(r"[^A-Za-z0-9_./:@-]", "_", review.stack).replace("--", "-"),
        "fold_all": sum(d["lines"] + len(d["extra"]) for d in details) > fold_total,
        "stack": md_code(review.stack), "manifest": md_code(review.manifest) if review.manifest else "",
        "project": md_escape(review.service.project), "site": md_escape(review.service.site),
        "verdict": md_escape(review.verdict), "blocked": review.blocked,
        "counts": [(n, _VERB[op]) for op, n in counts.items() if op in VERDICT_ORDER],
        "unchanged": counts.get("same", 0),
        "hidden": [md_code(r.key) for r in hidden] if not show_same else [],
        "data_loss": [{"key": md_code(d.key), "kind": md_escape(d.kind), "name": md_escape(d.name),
                       "reason": md_escape(d.reason)} for d in review.data_loss],
        "cautions": [md_escape(c) for c in review.cautions],
        "findings": [{"severity": p.severity, "code": md_escape(p.code), "message": md_escape(p.message),
                      "where": md_escape(str(p.location) if p.location else p.path or ""),
                      "hint": md_escape(p.hint) if p.hint else ""} for p in review.findings],
        "errors": [md_escape(e) for e in review.errors],
        "currency": cur,
        "before": f"{money(review.monthly_before):,}", "after": f"{money(review.monthly_after):,}",
        "delta": signed(review.monthly_delta),
        "unpriced": [md_code(k) for k in review.unpriced],
        "allow": review.allow_data_loss,
    }
    ctx.update(env_filters)
    out = template.render(**ctx)
    return re.sub(r"\n{3,}", "\n\n", out).strip() + "\n"


# ---------------------------------------------------------------- json


def to_json(review: Review, *, show_same: bool = False) -> dict:
    return review.to_json(show_same=show_same)


def dumps(review: Review, *, show_same: bool = False) -> str:
    return json.dumps(review.to_json(show_same=show_same), indent=2, ensure_ascii=False, sort_keys=False)


def render(review: Review, fmt: str, *, show_same: bool = False, config: Any = None, color: bool = False) -> str:
    """text | markdown | json."""
    if fmt == "json":
        return dumps(review, show_same=show_same) + "\n"
    if fmt == "markdown":
        return render_markdown(review, config=config, show_same=show_same)
    if fmt == "text":
        return render_text(review, color=color, show_same=show_same)
    raise ValueError(f"unknown review format {fmt!r} (text, markdown, json)")


_MONEY = {"type": "integer"}
_MONEY_OR_NULL = {"type": ["integer", "null"]}
_FIELD = {
    "type": "object",
    "required": ["path", "kind", "old", "new", "oldText", "newText", "computed", "forcesReplacement"],
    "additionalProperties": False,
    "properties": {
        "path": {"type": "string"},
        "kind": {"enum": ["add", "delete", "update", "add-replace", "delete-replace", "update-replace",
                          "changed"]},
        "old": {}, "new": {}, "oldText": {"type": "string"}, "newText": {"type": "string"},
        "computed": {"type": "boolean"}, "forcesReplacement": {"type": "boolean"},
    },
}
_OPS = ["create", "update", "replace", "delete", "same", "read", "refresh", "import", "discard", "unknown"]
REVIEW_JSON_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://govcloud.gov.example/schemas/review-v1.json",
    "title": "govcloud review (schemaVersion 1)",
    "type": "object",
    "required": ["schemaVersion", "kind", "operation", "stack", "manifest", "service", "ok", "verdict",
                 "blocked", "blockers", "counts", "cost", "dataLoss", "allowDataLoss", "cautions", "policy", "errors",
                 "changes"],
    "additionalProperties": False,
    "properties": {
        "schemaVersion": {"const": SCHEMA_VERSION},
        "kind": {"const": "govcloud.Review"},
        "operation": {"enum": ["preview", "up", "destroy", "refresh"]},
        "stack": {"type": "string"},
        "manifest": {"type": "string"},
        "service": {"type": "object", "required": ["agency", "environment", "name", "site", "project"],
                    "properties": {k: {"type": "string"} for k in
                                   ("agency", "environment", "name", "site", "project")}},
        "ok": {"type": "boolean"},
        "verdict": {"type": "string"},
        "blocked": {"type": "boolean"},
        "blockers": {"type": "array", "items": {"enum": ["data-loss", "policy", "engine"]}},
        "counts": {"type": "object", "propertyNames": {"enum": _OPS},
                   "additionalProperties": {"type": "integer", "minimum": 1}},
        "cost": {"type": "object", "additionalProperties": False,
                 "required": ["currency", "monthlyBefore", "monthlyAfter", "monthlyDelta", "complete", "unpriced"],
                 "properties": {"currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                                "monthlyBefore": _MONEY, "monthlyAfter": _MONEY, "monthlyDelta": _MONEY,
                                "complete": {"type": "boolean"},
                                "unpriced": {"type": "array", "items": {"type": "string"}}}},
        "dataLoss": {"type": "array", "items": {
            "type": "object", "required": ["key", "type", "kind", "name", "op", "reason"],
            "additionalProperties": False,
            "properties": {k: {"type": "string"} for k in ("key", "type", "kind", "name", "op", "reason")}}},
        "allowDataLoss": {"type": "boolean"},
        "cautions": {"type": "array", "items": {"type": "string"}},
        "policy": {"type": "array", "items": {"type": "object", "required": ["severity", "code", "message"]}},
        "errors": {"type": "array", "items": {"type": "string"}},
        "changes": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["key", "urn", "type", "kind", "name", "op", "engineOp", "source", "summary", "fields",
                         "replaceReasons", "deleteBeforeReplace", "cost", "dataLoss", "notes", "protected"],
            "properties": {
                "key": {"type": "string"}, "urn": {"type": "string"}, "type": {"type": "string"},
                "kind": {"type": "string"}, "name": {"type": "string"}, "op": {"enum": _OPS},
                "engineOp": {"type": "string"}, "source": {"type": "string"}, "summary": {"type": "string"},
                "fields": {"type": "array", "items": _FIELD},
                "replaceReasons": {"type": "array", "items": {"type": "string"}},
                "deleteBeforeReplace": {"type": "boolean"},
                "cost": {"type": "object", "required": ["monthlyBefore", "monthlyAfter", "monthlyDelta"],
                         "additionalProperties": False,
                         "properties": {"monthlyBefore": _MONEY_OR_NULL, "monthlyAfter": _MONEY_OR_NULL,
                                        "monthlyDelta": _MONEY_OR_NULL}},
                "dataLoss": {"type": ["string", "null"]},
                "notes": {"type": "array", "items": {"type": "string"}},
                "protected": {"type": "boolean"},
            }}},
    },
}
