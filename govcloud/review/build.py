"""Building a review: the plan, the site, the engine's change records and the policy findings -> Review.

The inputs are typed and come from the caller, never from disk:

- the compiled ResourcePlan (what the manifest asks for: names, manifest fields, the monthly cost
  *after* the change via govcloud.plan.cost.estimate),
- the site (its sizes, to price the *old* flavor of a server, and its rate card),
- the change: the engine's OperationResult of a preview, whose change records (govcloud.engine.events:
  one ResourceChange per resource; secrets already `[secret]`, computed values "(known after deploy)")
  carry the OLD inputs the engine reported for each resource, or, for a destroy, `destroy_changes()` of
  the stack's state. The *before* cost comes from those old inputs (flavor, volume size, floating IP,
  bucket quota), so it is right even when the manifest changed,
- the policy findings (govcloud.errors.Problem; may be empty).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

from govcloud.engine.events import LIST_ORDER, UNKNOWN_VALUE, Op, ResourceChange, make_urn, scrub, split_path
from govcloud.engine.runner import OperationResult
from govcloud.engine.stack import StackState
from govcloud.errors import Problem
from govcloud.load.inventory import Site
from govcloud.plan.cost import estimate, price_deployed
from govcloud.plan.describe import describe, describe_deployed
from govcloud.plan.model import Lookup, PlannedResource, Ref, ResourcePlan
from govcloud.plan.resources import INSTANCE, plan_name, state_name
from govcloud.review.dataloss import loss_reason, lost_size
from govcloud.review.model import DataLoss, FieldChange, ResourceReview, Review

_NOISE_FIELDS = ("__defaults", "__meta")  # the engine's bookkeeping, not properties of the resource


@dataclass(frozen=True)
class _Change:
    """What the review of one resource reads besides its change record."""

    plan: Mapping[str, PlannedResource]  # the plan's entries by key
    site: Site
    after: Mapping[str, Decimal]  # the plan's monthly price per key
    ids: Mapping[str, str]  # cloud id -> key, of the resources in the change
    replaced_or_new: frozenset[str]  # keys that get a new id
    protected: tuple[str, ...]  # keys the engine refused to touch: protected in the state
    forced: Mapping[str, str]  # key -> why govcloud forces its replacement
    drift: frozenset[str]  # servers whose user data changed but is not applied
    notes: Mapping[str, Sequence[str]]


def build_review(plan: ResourcePlan, site: Site, changes: OperationResult | Sequence[ResourceChange],
                 findings: Iterable[Problem] = (), *, allow_data_loss: bool = False,
                 user_data_drift: Iterable[str] = (), operation: str = "preview", stack: str | None = None,
                 notes: Mapping[str, Sequence[str]] | None = None, errors: Sequence[str] | None = None,
                 forced: Mapping[str, str] | None = None) -> Review:
    """The review of a change.

    plan      the compiled ResourcePlan (after the change)
    site      the plan's Site: sizes and rate card
    changes   the preview's OperationResult (OperationResult.from_events for recorded events), or the
              change records of a destroy (destroy_changes of the stack's state)
    findings  policy findings (Problems) to show; errors among them block the change
    user_data_drift  keys of servers whose user data changed but is not applied (StackState.user_data_drift)
    errors    engine errors to show (default: those of a failed preview given as `changes`)
    forced    key -> why govcloud asked the engine to replace it (StackState.volume_shrinks)
    """
    if isinstance(changes, OperationResult):
        records, protected = changes.changes, changes.protected
        failed = () if changes.ok or changes.blocked_only_by_protection else tuple(
            (changes.error or "").splitlines())
    else:
        records, protected, failed = tuple(changes), (), ()
    after_cost = estimate(plan, site.rate_card)
    ctx = _Change(plan=plan.by_key(), site=site, after=after_cost.by_resource(),
                  ids=MappingProxyType({c.id: c.key for c in records if c.id and not c.internal and len(c.id) >= 8}),
                  replaced_or_new=frozenset(c.key for c in records if c.op in (Op.REPLACE, Op.CREATE)),
                  protected=tuple(protected), forced=forced or {}, drift=frozenset(user_data_drift),
                  notes={k: tuple(v) for k, v in (notes or {}).items()})

    reviewed: list[ResourceReview] = []
    seen: set[str] = set()
    for c in records:
        if not (c.internal or c.key in seen):
            seen.add(c.key)
            reviewed.append(_review(c, ctx))
    losses = [DataLoss(r.key, r.type, r.op, r.data_loss, r.name) for r in reviewed if r.data_loss]
    cautions = [f"{r.key} is recreated: the new server boots from a fresh root disk (its volumes are attached "
                f"again)" for r in reviewed if r.type == INSTANCE and r.op == Op.REPLACE and not r.data_loss]
    unpriced = [r.key for r in reviewed if r.monthly_before is None]  # in the engine's order

    # plan entries the engine did not report (a partial log): unchanged as far as the review can tell;
    # a destroy reviews what the state holds, whatever the manifest says now
    missing_before = Decimal(0) if operation == "destroy" else sum(
        (ctx.after.get(k, Decimal(0)) for k in ctx.plan if k not in seen), Decimal(0))
    rank = {op: i for i, op in enumerate(LIST_ORDER)}
    order = {r.key: i for i, r in enumerate(plan.resources)}
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
        errors=tuple(errors) if errors is not None else failed)


def _review(c: ResourceChange, ctx: _Change) -> ResourceReview:
    """One resource: what it is, what changes and why, what it costs before and after, what it loses."""
    entry = ctx.plan.get(c.key) if c.op != Op.DELETE else None
    old_inputs = c.old_inputs if c.old_inputs is not None else (
        _fallback_old_inputs(c, ctx.plan.get(c.key)) if c.op != Op.CREATE else None)

    if c.op == Op.CREATE:
        before: Decimal | None = Decimal(0)
    else:
        before = price_deployed(c.type, old_inputs, ctx.site)
        if before is None and c.op == Op.SAME and entry is not None:
            before = ctx.after.get(c.key, Decimal(0))  # unchanged: as the plan prices it
    after = Decimal(0) if c.op == Op.DELETE or entry is None else ctx.after.get(c.key, Decimal(0))

    if entry is not None:
        name = entry.name if "name" in entry.inputs else ""
        source, summary = entry.source, describe(entry, links=True)
    else:
        old_name = (old_inputs or {}).get("name")
        name = old_name if isinstance(old_name, str) else ""
        source, summary = "", describe_deployed(c.type, old_inputs, ctx.ids)

    fields = tuple(FieldChange(p.path, p.kind, _clean(p.old), _clean(p.new),
                               p.replaces or p.path in c.replace_keys, ctx.ids)
                   for p in c.properties if split_path(p.path)[0] not in _NOISE_FIELDS)
    delete_first = c.op == Op.REPLACE and c.raw_op == "delete-replaced"
    reason = loss_reason(c, entry or ctx.plan.get(c.key), size=lost_size(c.type, old_inputs),
                         protected=ctx.protected, forced_by=ctx.forced.get(c.key, ""))
    return ResourceReview(
        key=c.key, urn=c.urn, type=c.type, op=c.op, engine_op=c.raw_op, name=name, source=source,
        summary=summary, fields=fields, replace_reasons=tuple(_replace_reasons(c, fields, entry, ctx)),
        delete_before_replace=delete_first, monthly_before=before, monthly_after=after, data_loss=reason,
        notes=tuple(_notes(c, delete_first, ctx)), protect=c.protect)


def _replace_reasons(c: ResourceChange, fields: Sequence[FieldChange], entry: PlannedResource | None,
                     ctx: _Change) -> list[str]:
    if c.op != Op.REPLACE:
        return []
    if c.key in ctx.forced:
        return [ctx.forced[c.key]]
    forcing = [f for f in fields if f.forces_replacement] or [
        FieldChange(k, "update-replace", forces_replacement=True) for k in c.replace_keys]
    return _why(forcing, entry, ctx.replaced_or_new) or ["the provider replaces it (it gave no field)"]


def _notes(c: ResourceChange, delete_first: bool, ctx: _Change) -> list[str]:
    out = []
    if c.op == Op.DELETE:
        out.append("no longer in the manifest")
    if delete_first:
        out.append("deleted before its replacement is created: briefly absent")
    if c.key in ctx.drift:
        out.append(f"user data changed in the manifest: not applied to this existing server "
                   f"(deploy --replace {c.key} rebuilds it)")
    out.extend(ctx.notes.get(c.key, ()))
    return out


def destroy_changes(state: StackState | None) -> tuple[ResourceChange, ...]:
    """What a destroy does to a stack's state: a delete per cloud resource, with the inputs the state holds as
    its old inputs (scrubbed), so that a destroy is reviewed (and guarded) like any other change."""
    return tuple(ResourceChange(urn=r.urn, key=r.key, type=r.type, op=Op.DELETE, raw_op="delete", id=str(r.id or ""),
                                protect=r.protect, retain_on_delete=r.retain_on_delete, old_inputs=scrub(r.inputs))
                 for r in (state.resources if state is not None else ()))


def create_changes(plan: ResourcePlan) -> tuple[ResourceChange, ...]:
    """What an up does to a stack that holds no resources: a create per planned resource, in the plan's order
    (deploy --skip-preview reviews these instead of a preview's)."""
    s = plan.service
    return tuple(ResourceChange(urn=make_urn(s.stack, s.pulumi_project, r.type, r.key), key=r.key, type=r.type,
                                op=Op.CREATE, raw_op="create") for r in plan.resources)


def _fallback_old_inputs(change: ResourceChange, entry: PlannedResource | None) -> Mapping[str, Any] | None:
    """Old inputs when the engine reported none: the plan's inputs (what did not change is as deployed) with
    the old values of the changed fields laid over them. None for a resource the plan no longer has."""
    if entry is None:
        return None
    old: dict[str, Any] = {state_name(k): _plainish(v) for k, v in entry.inputs.items()}
    for p in change.properties:
        parts = split_path(p.path)
        if not parts or not isinstance(parts[0], str):
            continue
        if len(parts) == 1:
            old[parts[0]] = p.old
        elif len(parts) == 2 and isinstance(parts[1], str) and isinstance(old.get(parts[0]), Mapping):
            old[parts[0]] = {**old[parts[0]], parts[1]: p.old}
    return old


def _plainish(v: Any) -> Any:
    if isinstance(v, (Ref, Lookup)):
        return UNKNOWN_VALUE
    if isinstance(v, Mapping):
        return {k: _plainish(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return tuple(_plainish(x) for x in v)
    return v


def _clean(value: Any) -> Any:
    """A scrubbed value without the engine's bookkeeping keys (`__defaults`, `__meta`)."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _clean(v) for k, v in value.items() if k not in _NOISE_FIELDS})
    if isinstance(value, tuple):
        return tuple(_clean(v) for v in value)
    return value


def _why(forcing: Sequence[FieldChange], entry: PlannedResource | None, replaced_or_new: frozenset[str]) -> list[str]:
    """Why a resource is replaced: the fields that force it, and which replaced resource a computed id follows."""
    plain: list[str] = []
    out: list[str] = []
    for f in forcing:
        top = split_path(f.path)[0]
        ref = entry.inputs.get(plan_name(top)) if entry is not None and isinstance(top, str) else None
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
