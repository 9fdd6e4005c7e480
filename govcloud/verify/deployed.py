"""What verify reads from the engine and from the cloud: the stack outputs, and Nova for consoles.

The two calls into the engine and the cloud live here and nowhere else in the
package: the outputs are read the way `govcloud outputs` reads them (the stack's
engine, govcloud.engine.seam), and Nova is reached through the one credentials
path with the site's cloud and the agency's project (clouds.yaml / OS_*).
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from govcloud.errors import GovcloudError
from govcloud.plan.model import ResourcePlan
from govcloud.verify.source import ConsoleSource, ConsoleUnavailable, OpenStackConsoleSource, ServerState


def read_stack_outputs(plan: ResourcePlan, config: Any) -> dict:
    """The deployed stack's outputs (servers with ids and IPs, volumes, ...); SetupError when not deployed."""
    from govcloud.engine.seam import StackEngine
    from govcloud.errors import NotDeployed

    engine = StackEngine(plan, config)
    if not engine.exists():
        raise NotDeployed(engine.name, plan.manifest_file)
    return engine.outputs()


def nova_console_source(plan: ResourcePlan) -> OpenStackConsoleSource:
    """Nova of the plan's site, in the agency's project."""
    from govcloud.cloud.credentials import connect

    svc = plan.service
    return OpenStackConsoleSource(connect(svc.cloud, svc.project, svc.region, api_timeout=30))


class LazyConsoleSource:
    """Connects to the cloud on first use: a run whose servers are all pinned and healthy never needs Nova."""

    def __init__(self, factory: Callable[[], ConsoleSource]):
        self._factory = factory
        self._source: ConsoleSource | None = None
        self._lock = threading.Lock()

    def _get(self) -> ConsoleSource:
        with self._lock:
            if self._source is None:
                try:
                    self._source = self._factory()
                except GovcloudError:  # no credentials for the cloud: the run cannot go on
                    raise
                except Exception as exc:  # noqa: BLE001 - an unreachable cloud leaves the consoles unread
                    raise ConsoleUnavailable(f"Nova could not be reached ({type(exc).__name__}: {exc})") from None
            return self._source

    def console_output(self, server_id: str, length: int | None = None) -> str:
        return self._get().console_output(server_id, length)

    def server_state(self, server_id: str) -> ServerState:
        return self._get().server_state(server_id)
