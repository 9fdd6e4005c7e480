"""Which changes lose data, and the guard that refuses them: the one data-loss rule set.

A change loses data when it deletes or replaces a stateful resource (a type the resource table marks
stateful: a Volume, a Container; a plan entry marked stateful; or a deleted or replaced resource the
state protects), or rebuilds a server on a new image (its root disk is erased). `data_loss()` is a
pure function of the engine's change records and the plan; `build_review` puts the same reasons on
each resource of a review, and `guard_data_loss()` raises `DataLossError` (exit 1) unless the user
allowed it with --allow-data-loss.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from govcloud.engine.events import Op, ResourceChange, split_path
from govcloud.errors import GovcloudError
from govcloud.plan.model import PlannedResource, ResourcePlan
from govcloud.plan.resources import CONTAINER, IMAGE_FIELDS, INSTANCE, STATEFUL_TYPES, VOLUME
from govcloud.review.model import DataLoss, Review, show

_GB = 1024 ** 3


def loss_reason(change: ResourceChange, entry: PlannedResource | None, *, size: str = "",
                protected: Iterable[str] = (), forced_by: str = "") -> str:
    """Why a change loses data ("" when it does not). `size` says how much (`1 GB`), `protected` are keys the
    engine refused to touch because the state protects them, `forced_by` why govcloud forces a replacement."""
    stateful = change.type in STATEFUL_TYPES or (entry is not None and entry.stateful) or (
        change.op in (Op.DELETE, Op.REPLACE) and (change.protect or change.key in protected))
    size = f" ({size})" if size else ""
    if stateful and change.op == Op.DELETE:
        if change.type == CONTAINER:
            return f"deleted with the objects in it{size}"
        return f"deleted with the data on it{size}"
    if stateful and change.op == Op.REPLACE:
        forced = [p.path for p in change.properties if p.replaces] or list(change.replace_keys)
        by = f" ({forced_by})" if forced_by else f" (forced by {', '.join(forced)})" if forced else ""
        empty = "an empty container" if change.type == CONTAINER else "a new, empty one"
        return f"replaced by {empty}{by}: its data is lost{size}"
    if change.type == INSTANCE and change.op in (Op.UPDATE, Op.REPLACE) and (
            any(_is_image(p.path) for p in change.properties) or any(_is_image(p) for p in change.changed)):
        new = next((p.new for p in change.properties if _is_image(p.path)), None)
        to = f" on image {show(new)}" if new is not None else " on a new image"
        return f"rebuilt{to}: its root disk is erased"
    return ""


def _is_image(path: str) -> bool:
    return split_path(path)[0] in IMAGE_FIELDS


def lost_size(rtype: str, old_inputs: Mapping[str, Any] | None) -> str:
    """How much a stateful resource holds, from its deployed inputs: `1 GB`, `quota 5 GB` ("" when unknown)."""
    if not old_inputs:
        return ""
    if rtype == VOLUME and old_inputs.get("size") is not None:
        return f"{old_inputs.get('size')} GB"
    if rtype == CONTAINER:
        meta = old_inputs.get("metadata")
        q = meta.get("Quota-Bytes") if isinstance(meta, Mapping) else None
        if q not in (None, ""):
            try:
                return f"quota {int(q) // _GB} GB"
            except (TypeError, ValueError):
                return ""
    return ""


def data_loss(changes: Iterable[ResourceChange], plan: ResourcePlan | None = None, *,
              protected: Iterable[str] = ()) -> list[DataLoss]:
    """The changes that lose data (pure; no I/O), from the engine's change records (an OperationResult's
    `changes`, with its `protected`) and, when given, the plan (its stateful entries and OpenStack names).
    A built Review has the same list as `review.data_loss`."""
    by_key = plan.by_key() if plan is not None else {}
    protected = tuple(protected)
    out = []
    for c in changes:
        if c.internal:
            continue
        entry = by_key.get(c.key)
        reason = loss_reason(c, entry, protected=protected)
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


def guard_data_loss(review: Review, *, allow: bool = False, action: str = "deploy") -> list[DataLoss]:
    """The review's data-loss list; raises DataLossError when it is not empty and not allowed."""
    losses = list(review.data_loss)
    if losses and not allow:
        raise DataLossError(losses, action)
    return losses
