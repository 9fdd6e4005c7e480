"""What a review is: immutable data about one change, and the words and numbers derived from it.

`Review` holds per resource a `ResourceReview` (its op, the changed fields as `FieldChange`s, why it is
replaced, its monthly cost before and after, whether it loses data) and for the whole change the
`DataLoss` list, cautions, policy findings and engine errors. Everything a renderer shows that is not
a stored field (counts, totals, blockers, the one-line verdict) is derived here, once, so that the
text, markdown and JSON reviews can never disagree. Values are already scrubbed (secrets are
`[secret]`) by the engine's event parser.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from govcloud.engine.events import CHANGING_OPS, COUNT_ORDER, HIDDEN_OPS, TO_DO, UNKNOWN, UNKNOWN_VALUE, display
from govcloud.errors import Problem
from govcloud.plan.cost import money
from govcloud.plan.model import ServiceRef
from govcloud.review.schema import (ChangeDocument, CostDocument, DataLossDocument, FieldChangeDocument,
                                     FindingDocument, ResourceCostDocument, ReviewDocument, ServiceDocument,
                                     document, dump)

# the ops a verdict counts (in this order): those that change something
VERDICT_ORDER = tuple(op for op in COUNT_ORDER if op in CHANGING_OPS)
ADDED = ("add", "add-replace")  # field diff kinds without an old value
REMOVED = ("delete", "delete-replace")  # and without a new one


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
        return self.text(self.old) if self.kind not in ADDED else "(not set)"

    @property
    def new_text(self) -> str:
        return self.text(self.new) if self.kind not in REMOVED else "(removed)"

    def text(self, value: Any, limit: int = 120) -> str:
        """A value for people, the cloud ids of resources in the change named (`224b54af… (server-group-web)`)."""
        return show(_label_ids(value, self.ids), limit)

    @property
    def computed(self) -> bool:
        """The new value is only known once deployed."""
        return _has_unknown(self.new)

    def to_json(self) -> dict:
        return dump(self.document())

    def document(self) -> FieldChangeDocument:
        return document(
            FieldChangeDocument, path=self.path, kind=self.kind, old=_json_value(self.old),
            new=_json_value(self.new), old_text=self.old_text, new_text=self.new_text, computed=self.computed,
            forces_replacement=self.forces_replacement)


@dataclass(frozen=True, slots=True)
class DataLoss:
    """A change that loses data: which resource, how (its op) and why."""

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

    def document(self) -> DataLossDocument:
        return document(DataLossDocument, key=self.key, type=self.type, kind=self.kind,
                               name=self.name, op=self.op, reason=self.reason)


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

    def document(self) -> ChangeDocument:
        d = self.monthly_delta
        return document(
            ChangeDocument, key=self.key, urn=self.urn, type=self.type, kind=self.kind, name=self.name,
            op=self.op, engine_op=self.engine_op, source=self.source, summary=self.summary,
            fields=[f.document() for f in self.fields], replace_reasons=list(self.replace_reasons),
            delete_before_replace=self.delete_before_replace,
            cost=document(ResourceCostDocument, monthly_before=_int_money(self.monthly_before),
                          monthly_after=_int_money(self.monthly_after), monthly_delta=None if d is None else int(d)),
            data_loss=self.data_loss or None, notes=list(self.notes), protected=self.protect)


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
        return {op: out[op] for op in COUNT_ORDER if op in out}

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
                text = f"{counts[op]} {TO_DO[op]}"
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
        """The JSON review (schema: govcloud.review.schema); unchanged resources only with `show_same`."""
        s = self.service
        return dump(document(
            ReviewDocument, operation=self.operation, stack=self.stack, manifest=self.manifest,
            service=document(ServiceDocument, agency=s.agency, environment=s.environment, name=s.service,
                             site=s.site, project=s.project),
            ok=not self.errors, verdict=self.verdict, blocked=self.blocked, blockers=list(self.blockers),
            counts=self.counts(),
            cost=document(CostDocument, currency=self.currency, monthly_before=int(money(self.monthly_before)),
                          monthly_after=int(money(self.monthly_after)), monthly_delta=int(self.monthly_delta),
                          complete=not self.unpriced, unpriced=list(self.unpriced)),
            data_loss=[d.document() for d in self.data_loss], allow_data_loss=self.allow_data_loss,
            cautions=list(self.cautions),
            policy=[document(FindingDocument, **p.to_dict()) for p in self.findings],
            errors=list(self.errors),
            changes=[r.document() for r in self.resources if show_same or r.changing]))


# ---------------------------------------------------------------- values


def show(value: Any, limit: int = 120) -> str:
    """A value for people: `(not set)`, `[secret]`, `(known after deploy)`, or compact JSON."""
    if value is None:
        return "(not set)"
    return display(value, limit)


def signed(d: Decimal) -> str:
    """An amount with its sign: `+12,045,000`, `-40,000`, `0`."""
    d = money(d)
    return f"+{d:,}" if d > 0 else (f"-{-d:,}" if d < 0 else "0")


def _has_unknown(value: Any) -> bool:
    if value == UNKNOWN_VALUE:
        return True
    if isinstance(value, Mapping):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, tuple):
        return any(_has_unknown(v) for v in value)
    return False


def _json_value(value: Any) -> Any:
    """Scrubbed value as JSON; computed values become the string "(known after deploy)"."""
    if value == UNKNOWN_VALUE:
        return UNKNOWN
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


def _int_money(v: Decimal | None) -> int | None:
    return None if v is None else int(money(v))


def _few(keys: Sequence[str], n: int = 3) -> str:
    return ", ".join(keys) if len(keys) <= n else ", ".join(keys[:n]) + f" and {len(keys) - n} more"
