"""What the manifests of the config repo ask of each agency's quota, per site: offline, from compiled plans.

The per-plan figures are govcloud.policy.quotas.plan_usage, the computation GC015 compares with the quotas
(vCPUs and RAM of the servers' sizes at the site, GB of volumes, floating IPs, buckets), so `agency list`
shows the same numbers the policy check refuses a deploy by.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

from govcloud.config import ConfigRepo

# (Quotas / Allocation attribute, registry and JSON key, column heading)
QUOTA_FIELDS = (("vcpus", "vcpus", "vCPUs"), ("ram_gb", "ramGb", "RAM GB"), ("volume_gb", "volumeGb", "volume GB"),
                ("floating_ips", "floatingIps", "floating IPs"), ("buckets", "buckets", "buckets"))


def number(v) -> int | float:
    """A quantity for JSON and text: 3 rather than 3.0 or Decimal('3'), two decimals otherwise."""
    v = Decimal(v)
    return int(v) if v == v.to_integral_value() else float(round(v, 2))


def default_manifest_dirs(config: ConfigRepo) -> list[Path]:
    """The config repo's manifests/, else (the govcloud checkout) its examples/; [] when neither exists."""
    if config.root is None:
        return []
    for sub in ("manifests", "examples"):
        if (config.root / sub).is_dir():
            return [config.root / sub]
    return []


@dataclass(frozen=True)
class Allocation:
    """What the manifests of one agency at one site take from its quota."""

    agency: str
    site: str
    vcpus: Decimal = Decimal(0)
    ram_gb: Decimal = Decimal(0)
    volume_gb: Decimal = Decimal(0)
    floating_ips: Decimal = Decimal(0)
    buckets: Decimal = Decimal(0)
    services: tuple[str, ...] = ()  # manifest files

    def to_json(self) -> dict:
        return {**{key: number(getattr(self, attr)) for attr, key, _ in QUOTA_FIELDS},
                "services": list(self.services)}


@dataclass(frozen=True)
class AllocationReport:
    allocations: Mapping[tuple[str, str], Allocation]  # (agency, site) -> sum
    skipped: tuple[tuple[str, str], ...] = ()  # (file, first problem) of manifests that do not compile
    dirs: tuple[str, ...] = ()

    def get(self, agency: str, site: str) -> Allocation:
        return self.allocations.get((agency, site)) or Allocation(agency, site)


def allocations(workspace, paths: Iterable[str | os.PathLike[str]]) -> AllocationReport:
    """Sum the compiled ResourcePlans of every manifest under `paths` per (agency, site).

    `workspace`: a govcloud.check.Workspace. Manifests that do not compile are
    skipped and reported (they deploy nothing).
    """
    from govcloud.check import manifest_files
    from govcloud.errors import InputError
    from govcloud.policy.quotas import plan_usage

    paths = [Path(p) for p in paths]
    sums: dict[tuple[str, str], dict[str, Decimal]] = {}
    files: dict[tuple[str, str], list[str]] = {}
    skipped: list[tuple[str, str]] = []
    for f in manifest_files(paths):
        try:
            plan = workspace.plan(f)
        except InputError as exc:
            skipped.append((str(f), exc.problems[0].format() if exc.problems else "invalid"))
            continue
        usage = plan_usage(plan)
        key = (plan.service.agency, plan.service.site)
        acc = sums.setdefault(key, {})
        for attr, _, _ in QUOTA_FIELDS:
            acc[attr] = acc.get(attr, Decimal(0)) + getattr(usage, attr)
        files.setdefault(key, []).append(str(f))
    out = {k: Allocation(k[0], k[1], **v, services=tuple(files[k])) for k, v in sums.items()}
    return AllocationReport(MappingProxyType(out), tuple(skipped), tuple(str(p) for p in paths))
