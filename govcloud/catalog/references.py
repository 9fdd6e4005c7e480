"""The checks of a manifest's `publish` section that need more than the manifest.

Run by every offline check (`govcloud validate`, plan, deploy, catalog) for
manifests that publish something: `publish.sla` must be a service level of
inventories/catalog.yaml, and each endpoint's `openapi` document must exist
inside the config repo and be valid OpenAPI 3. Problems are located like
every other: in the manifest, or in the OpenAPI document at the place that
is wrong.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from govcloud.errors import InputError, Problem, SourceLocation, did_you_mean, one_of

if TYPE_CHECKING:  # pragma: no cover
    from govcloud.config import ConfigRepo
    from govcloud.load.inventory import Inventory
    from govcloud.load.manifest import Manifest


def check_publish(manifest: "Manifest", inventory: "Inventory", config: "ConfigRepo",
                  locate: Callable[..., SourceLocation], manifest_file: str) -> None:
    from govcloud.catalog.openapi import check_endpoint_documents

    publish = manifest.spec.publish
    if publish is None:
        return
    problems: list[Problem] = []
    if publish.sla is not None:
        levels = list(inventory.catalog.service_levels)
        if publish.sla not in levels:
            problems.append(Problem(f"unknown service level '{publish.sla}'", "spec.publish.sla",
                                    locate(("spec", "publish", "sla")), code="reference",
                                    hint="; ".join(filter(None, [did_you_mean(publish.sla, levels), one_of(levels)]))
                                    + " (serviceLevels of inventories/catalog.yaml)"))
    try:
        check_endpoint_documents(publish.endpoints, manifest_file, config.root, locate)
    except InputError as exc:
        problems += exc.problems
    if problems:
        raise InputError(problems)
