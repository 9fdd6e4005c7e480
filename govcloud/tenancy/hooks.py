"""How the onboarding workflows talk to their caller, beyond govcloud.ops.workflow.Hooks (progress, notes,
confirmation): the preview of each site, what is adopted, each site's outcome.

Light on purpose (only the workflow's Hooks at import time): the CLI subclasses it at start-up.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from govcloud.ops.workflow import Hooks

if TYPE_CHECKING:
    from govcloud.engine.runner import OperationResult
    from govcloud.engine.stack import StateResource
    from govcloud.load.inventory import Agency, Site
    from govcloud.tenancy.ops import SiteOffboarded, SiteOnboarded
    from govcloud.tenancy.plan import Existing


class TenancyHooks(Hooks):
    """The defaults show nothing (and, as Hooks, confirm nothing)."""

    def adopting(self, stack: str, existing: Sequence[Existing]) -> None:
        """These resources are imported into the stack instead of created."""

    def previewed(self, agency: Agency, site: Site, stack: str, preview: OperationResult) -> None:
        """The preview of one site's onboarding, before its guards and the confirmation."""

    def onboarded(self, done: SiteOnboarded) -> None:
        """One site is onboarded (or was up to date)."""

    def offboarding(self, agency: Agency, site: Site, stack: str, resources: Sequence[StateResource]) -> None:
        """What offboarding one site deletes, before its guards and the confirmation."""

    def offboarded(self, done: SiteOffboarded) -> None:
        """One site is offboarded (or was not onboarded)."""
