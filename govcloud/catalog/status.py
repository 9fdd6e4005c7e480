"""Whether a published service runs: its stack's state and its last verification.

A `StatusSource` answers `status(plan) -> DeployedStatus | None` (None: the
stack was never deployed, or holds no resources any more). The catalog
lists a service as available only when it is `prod` and its source says it
is deployed; degraded when its last verification failed; planned otherwise.

`EngineStatusSource` reads the engine's state through one function,
`read_stack` (the only call into govcloud.engine here), the public URL of
the site's object store from the Keystone catalog (`object_store_url`), and
the last report `govcloud verify` kept for the stack (govcloud.verify.last_verify;
none: "not verified").
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from govcloud.errors import GovcloudError

if TYPE_CHECKING:  # pragma: no cover
    from govcloud.config import ConfigRepo
    from govcloud.plan.model import ResourcePlan

AVAILABLE, DEGRADED, PLANNED = "available", "degraded", "planned"
HISTORY_ROWS = 10


@dataclass(frozen=True)
class VerifyResult:
    result: Literal["passed", "failed"]
    finished_at: _dt.datetime | None = None
    summary: str | None = None


@dataclass(frozen=True)
class DeployedStatus:
    resources: int  # cloud resources in the stack's state
    last_deployed: _dt.datetime | None  # end of the last successful update
    last_result: str | None  # of the last update: succeeded | failed | ...
    object_store_url: str | None = None  # public base URL of the account holding its buckets
    last_verify: VerifyResult | None = None  # None: never verified


class StatusSource(Protocol):
    def status(self, plan: "ResourcePlan") -> DeployedStatus | None: ...


def classify(environment: str, deployed: DeployedStatus | None) -> str:
    """available | degraded | planned: only deployed prod services are ever live."""
    if environment != "prod" or deployed is None:
        return PLANNED
    if deployed.last_verify is not None and deployed.last_verify.result == "failed":
        return DEGRADED
    return AVAILABLE


class NoStatus:
    """Nothing is deployed (`catalog build --offline`): every service is planned."""

    def status(self, plan: "ResourcePlan") -> DeployedStatus | None:
        return None


# -- the engine and the cloud -------------------------------------------------------------------------

@dataclass(frozen=True)
class StackSnapshot:
    resources: int
    history: list[dict]  # the engine's update history, newest first (pulumi stack history --json)


def read_stack(plan: "ResourcePlan", config: "ConfigRepo") -> StackSnapshot | None:
    """What the engine knows of the plan's stack, or None when it does not exist.

    The one place the catalog calls into govcloud.engine.
    """
    from govcloud.engine.command import PulumiCli
    from govcloud.engine.stack import StackState, locate

    cli = PulumiCli(locate(plan, config))
    state = StackState.from_export(cli.export())
    if state is None:
        return None
    return StackSnapshot(len(state.resources), cli.history(HISTORY_ROWS))


def object_store_url(plan: "ResourcePlan") -> str:
    """The public object-store endpoint of the agency's project at the site (Keystone catalog)."""
    from govcloud.cloud.credentials import connect

    svc = plan.service
    try:
        return str(connect(svc.cloud, svc.project, svc.region, api_timeout=30).object_store.get_endpoint())
    except Exception as exc:  # noqa: BLE001 - openstacksdk raises many kinds; the message says what failed
        raise CatalogCloudError(f"cannot read the object-store endpoint of project {svc.project} at site "
                                f"{svc.site}: {type(exc).__name__}: {exc}") from None


class CatalogCloudError(GovcloudError):
    exit_code = 3


def verify_result(config: "ConfigRepo", plan: "ResourcePlan") -> VerifyResult | None:
    """The stack's last `govcloud verify` report as the catalog shows it (None: never verified)."""
    from govcloud.verify import last_verify

    report = last_verify(config, f"{plan.service.pulumi_project}/{plan.service.stack}")
    if report is None:
        return None
    finished = _time(report.started)
    if finished is not None:
        finished += _dt.timedelta(seconds=report.duration_seconds)
    return VerifyResult("passed" if report.ok else "failed", finished, report.summary())


def _time(text) -> _dt.datetime | None:
    if not text:
        return None
    t = _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def from_history(resources: int, history: list[dict]) -> DeployedStatus | None:
    """The deployed status a stack's history tells (None when nothing is deployed)."""
    if resources == 0:
        return None
    updates = [h for h in history if h.get("kind") == "update"]
    succeeded = next((h for h in updates if h.get("result") == "succeeded"), None)
    last = updates[0] if updates else None
    when = _time((succeeded or {}).get("endTime") or (succeeded or {}).get("startTime"))
    return DeployedStatus(resources, when, last.get("result") if last else None)


class EngineStatusSource:
    """Deployed status from the engine's stack state, the site's object store and the verify results."""

    def __init__(self, config: "ConfigRepo"):
        self.config = config

    def status(self, plan: "ResourcePlan") -> DeployedStatus | None:
        from dataclasses import replace

        from govcloud.plan.resources import CONTAINER

        snapshot = read_stack(plan, self.config)
        found = from_history(snapshot.resources, snapshot.history) if snapshot is not None else None
        if found is None:
            return None
        store = object_store_url(plan) if any(r.type == CONTAINER for r in plan.resources) else None
        return replace(found, object_store_url=store,
                       last_verify=verify_result(self.config, plan))
